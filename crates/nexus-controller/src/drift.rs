//! The drift scan: per tenant, one paged list of all clients (100 per page, only the fields the
//! spec manages) instead of one GET per AuthClient; only clients that differ are reconciled.

use std::collections::HashMap;
use std::sync::Arc;

use futures::channel::mpsc;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Api, ResourceExt};
use serde_json::Value;

use crate::context::{Context, ScanFinding};
use crate::mapping::{self, OwnershipTag};
use crate::tenant_access as tenant;
use auth0_mgmt::Priority;
use nexus_crd::conditions::{self, READY};
use nexus_crd::{AuthClient, AuthTenant};

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

/// Scans every tenant once; drifted or missing clients are recorded in the context and sent to
/// `trigger` so the controller reconciles them.
pub async fn scan_all(
    ctx: &Context,
    store: &Store<AuthClient>,
    trigger: &mpsc::UnboundedSender<ObjectRef<AuthClient>>,
) -> HashMap<String, ScanReport> {
    let mut reports = HashMap::new();
    let tenants = match Api::<AuthTenant>::all(ctx.kube.clone())
        .list(&Default::default())
        .await
    {
        Ok(list) => list.items,
        Err(error) => {
            tracing::warn!(%error, "drift scan: could not list AuthTenants");
            return reports;
        }
    };
    for tenant in tenants {
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
    Tenant(#[from] tenant::TenantError),
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
    let auth0 = tenant::tenant_client(&ctx.kube, &ctx.auth0, tenant).await?;
    let listed: HashMap<String, Value> = auth0
        .list_all_clients(mapping::SCAN_FIELDS, Priority::Background)
        .await?
        .iter()
        .filter_map(|c| serde_json::to_value(c).ok())
        .filter_map(|c| c["client_id"].as_str().map(|id| (id.to_owned(), c.clone())))
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
                let drift =
                    mapping::diff(&mapping::desired_state(&client.spec.client, &tag), actual);
                if drift.is_empty() {
                    continue;
                }
                let reported = conditions::find(&status.conditions, conditions::DRIFTED)
                    .is_some_and(|c| {
                        c.status == "True"
                            && drift.fields.iter().all(|f| c.message.contains(f.as_str()))
                    });
                if reported && client.spec.drift_policy == nexus_crd::DriftPolicy::Report {
                    continue;
                }
                ScanFinding::Drifted(actual.clone())
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
