//! The drift scan: per tenant, one paged list of all clients (100 per page, only the fields the
//! spec manages) instead of one GET per AuthClient; only clients that differ are reconciled.

use std::collections::HashMap;
use std::sync::Arc;

use futures::channel::mpsc;
use kube::ResourceExt;
use kube::runtime::reflector::{ObjectRef, Store};

use crate::caches::SecretKey;
use crate::context::{Context, ScanFinding};
use crate::desired::{DesiredClient, SCAN_FIELDS, diff};
use crate::ownership::OwnershipTag;
use crate::tenant_access::{TenantError, client_from_cache};
use auth0_mgmt::{Auth0Client, Priority};
use nexus_crd::conditions::{self, READY};
use nexus_crd::{AuthClient, AuthTenant, DriftPolicy};

/// What one scan of one tenant did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScanReport {
    /// AuthClients of the tenant that were compared.
    pub compared: usize,
    /// Of those, how many differ from their spec.
    pub drifted: usize,
    /// Of those, how many are missing from Auth0.
    pub missing: usize,
}

/// Scans every cached tenant once; drifted or missing clients are recorded in the context and
/// sent to `trigger` so the controller reconciles them.
pub async fn scan_all(
    ctx: &Context,
    store: &Store<AuthClient>,
    trigger: &mpsc::UnboundedSender<ObjectRef<AuthClient>>,
) -> HashMap<String, ScanReport> {
    let mut reports = HashMap::new();
    for tenant in ctx.caches.tenants.reader().state() {
        let name = tenant.name_any();
        match scan_tenant(ctx, store, &tenant, trigger).await {
            Ok(report) => {
                tracing::debug!(tenant = %name, ?report, "drift scan done");
                reports.insert(name, report);
            }
            Err(error) => {
                tracing::warn!(tenant = %name, %error, "drift scan failed; next scan retries")
            }
        }
    }
    reports
}

/// Why a tenant scan failed.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    /// The tenant cannot be used.
    #[error(transparent)]
    Tenant(#[from] TenantError),
    /// Listing the clients failed.
    #[error(transparent)]
    Auth0(#[from] auth0_mgmt::Auth0Error),
}

/// Scans one tenant: compares every Ready AuthClient that uses it with the listed client.
pub async fn scan_tenant(
    ctx: &Context,
    store: &Store<AuthClient>,
    tenant: &AuthTenant,
    trigger: &mpsc::UnboundedSender<ObjectRef<AuthClient>>,
) -> Result<ScanReport, ScanError> {
    let tenant_name = tenant.name_any();
    let candidates: Vec<Arc<AuthClient>> = store
        .state()
        .into_iter()
        .filter(|c| c.spec.tenant == tenant_name && c.metadata.deletion_timestamp.is_none())
        .filter(|c| {
            c.status.as_ref().is_some_and(|s| {
                s.client_id.is_some()
                    && conditions::find(&s.conditions, READY).is_some_and(|r| r.status == "True")
            })
        })
        .collect();
    let mut report = ScanReport::default();
    if candidates.is_empty() {
        return Ok(report);
    }
    let credentials = ctx.caches.credentials.get(&SecretKey::of(tenant));
    let auth0 = client_from_cache(&ctx.auth0, tenant, credentials.as_ref())?;
    let listed: HashMap<String, Auth0Client> = auth0
        .list_all_clients(SCAN_FIELDS, Priority::Background)
        .await?
        .into_iter()
        .map(|c| (c.client_id.clone(), c))
        .collect();
    for client in candidates {
        let (Some(tag), Some(status)) = (
            OwnershipTag::for_client(&client, &ctx.config.cluster_id),
            client.status.as_ref(),
        ) else {
            continue;
        };
        let Some(client_id) = status.client_id.as_deref() else {
            continue;
        };
        report.compared += 1;
        let finding = match listed.get(client_id) {
            None => ScanFinding::Missing,
            Some(actual) => {
                let drift = diff(&DesiredClient::from_spec(&client.spec.client, &tag), actual);
                if drift.is_empty() {
                    continue;
                }
                // Already reported (driftPolicy Report): decided by the recorded fields.
                if client.spec.drift_policy == DriftPolicy::Report
                    && drift.fields == status.reported_drift
                {
                    continue;
                }
                ScanFinding::Drifted(Box::new(actual.clone()))
            }
        };
        if matches!(finding, ScanFinding::Missing) {
            report.missing += 1;
        }
        report.drifted += 1;
        let reference = ObjectRef::from_obj(&*client);
        ctx.record_finding(reference.clone(), finding);
        if trigger.unbounded_send(reference).is_err() {
            tracing::debug!("drift scan: controller stopped");
        }
    }
    Ok(report)
}
