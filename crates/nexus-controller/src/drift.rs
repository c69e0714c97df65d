//! The drift scan: per tenant, one paged list of all clients (100 per page, only the fields the
//! spec manages) instead of one GET per AuthClient; only clients that differ are reconciled.
//! When a client of the tenant declares or holds grants, also one paged list of the tenant's
//! client grants; for the connections clients are recorded on, one list of each connection's
//! enabled clients.
//! The same for the tenant's APIs ([`scan_resource_servers`]: one paged list of resource
//! servers).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use futures::channel::mpsc;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Resource, ResourceExt};

use crate::cached::CachedAuthClient;
use crate::caches::SecretKey;
use crate::context::{AccessFinding, Context, ScanFinding, ServerFinding};
use crate::desired::{DesiredClient, SCAN_FIELDS, diff};
use crate::ownership::OwnershipTag;
use crate::tenant_access::{TenantError, client_from_cache};
use auth0_mgmt::{Auth0Client, ClientGrant, Priority};
use nexus_crd::conditions::{self, READY};
use nexus_crd::{AuthClient, AuthResourceServer, AuthTenant, DriftPolicy};

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
    store: &Store<CachedAuthClient>,
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
    store: &Store<CachedAuthClient>,
    tenant: &AuthTenant,
    trigger: &mpsc::UnboundedSender<ObjectRef<AuthClient>>,
) -> Result<ScanReport, ScanError> {
    let tenant_name = tenant.name_any();
    let candidates: Vec<Arc<AuthClient>> = store
        .state()
        .into_iter()
        .filter(|c| c.tenant() == tenant_name && c.meta().deletion_timestamp.is_none())
        .filter_map(|c| match c.decode() {
            Ok(client) => Some(Arc::new(client)),
            Err(error) => {
                tracing::warn!(%error, "skipped by the drift scan");
                None
            }
        })
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
    let grants = list_grants_if_needed(&auth0, &candidates).await?;
    let connections = list_connections_if_needed(&auth0, &candidates).await?;
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
        let reported_client: Vec<&String> = status
            .reported_drift
            .iter()
            .filter(|f| !is_access_field(f))
            .collect();
        let finding = match listed.get(client_id) {
            None => Some(ScanFinding::Missing),
            Some(actual) => {
                let desired = DesiredClient::from_spec(&client.spec.client, &tag)
                    .with_settings(client.spec.settings.as_ref());
                let drift = diff(&desired, actual);
                // Already reported (driftPolicy Report): decided by the recorded fields.
                let reported = client.spec.drift_policy == DriftPolicy::Report
                    && drift.fields.iter().collect::<Vec<_>>() == reported_client;
                (!drift.is_empty() && !reported)
                    .then(|| ScanFinding::Drifted(Box::new(actual.clone())))
            }
        };
        let mut access = match &finding {
            // A missing client is created again, with its grants.
            Some(ScanFinding::Missing) => AccessFinding::default(),
            _ => access_finding(&client, client_id, grants.as_ref(), connections.as_ref()),
        };
        if let (Some(ScanFinding::Drifted(_)), None, Some(grants)) =
            (&finding, &access.grants, &grants)
        {
            // The pass compares the grants too: with the listed copy, not another read.
            access.grants = Some(grants.get(client_id).cloned().unwrap_or_default());
        }
        if finding.is_none() && access.is_empty() {
            continue;
        }
        if matches!(finding, Some(ScanFinding::Missing)) {
            report.missing += 1;
        }
        report.drifted += 1;
        let reference = ObjectRef::from_obj(&*client);
        if let Some(finding) = finding {
            ctx.record_finding(reference.clone(), finding);
        }
        if !access.is_empty() {
            ctx.record_access_finding(reference.clone(), access);
        }
        if trigger.unbounded_send(reference).is_err() {
            tracing::debug!("drift scan: controller stopped");
        }
    }
    Ok(report)
}

/// Whether a drift field is about grants or connections (not the client's own fields).
fn is_access_field(field: &str) -> bool {
    field.starts_with("grants[") || field.starts_with("connections[")
}

/// Every grant of the tenant, by client id: one paged list, only when a candidate declares or
/// holds grants (a tenant without grants costs nothing more).
async fn list_grants_if_needed(
    auth0: &auth0_mgmt::TenantClient,
    candidates: &[Arc<AuthClient>],
) -> Result<Option<HashMap<String, Vec<ClientGrant>>>, auth0_mgmt::Auth0Error> {
    let involved = candidates.iter().any(|c| {
        !c.spec.grants.is_empty() || c.status.as_ref().is_some_and(|s| !s.grants.is_empty())
    });
    if !involved {
        return Ok(None);
    }
    let mut by_client: HashMap<String, Vec<ClientGrant>> = HashMap::new();
    for grant in auth0
        .list_client_grants(None, None, Priority::Background)
        .await?
    {
        by_client
            .entry(grant.client_id.clone())
            .or_default()
            .push(grant);
    }
    Ok(Some(by_client))
}

/// The enabled clients of every connection a candidate is recorded on (one checkpoint-paged
/// list per connection).
async fn list_connections_if_needed(
    auth0: &auth0_mgmt::TenantClient,
    candidates: &[Arc<AuthClient>],
) -> Result<Option<HashMap<String, HashSet<String>>>, auth0_mgmt::Auth0Error> {
    let ids: BTreeSet<String> = candidates
        .iter()
        .filter_map(|c| c.status.as_ref())
        .flat_map(|s| s.connections.iter().map(|c| c.connection_id.clone()))
        .collect();
    if ids.is_empty() {
        return Ok(None);
    }
    let mut enabled = HashMap::new();
    for id in ids {
        match auth0
            .list_connection_clients(&id, Priority::Background)
            .await
        {
            Ok(clients) => {
                enabled.insert(id, clients.into_iter().collect());
            }
            // The connection was deleted: nobody is enabled on it.
            Err(e) if e.is_not_found() => {
                enabled.insert(id, HashSet::new());
            }
            Err(e) => return Err(e),
        }
    }
    Ok(Some(enabled))
}

/// What differs in one client's grants and connections from its status (nothing when the
/// difference is already reported under `driftPolicy: Report`).
fn access_finding(
    client: &AuthClient,
    client_id: &str,
    grants: Option<&HashMap<String, Vec<ClientGrant>>>,
    connections: Option<&HashMap<String, HashSet<String>>>,
) -> AccessFinding {
    let Some(status) = client.status.as_ref() else {
        return AccessFinding::default();
    };
    let mut finding = AccessFinding::default();
    let mut fields = Vec::new();
    if let Some(grants) = grants {
        let listed = grants.get(client_id).cloned().unwrap_or_default();
        let have: BTreeMap<&str, BTreeSet<&str>> = listed
            .iter()
            .map(|g| {
                (
                    g.audience.as_str(),
                    g.scope.iter().map(String::as_str).collect(),
                )
            })
            .collect();
        let recorded: BTreeMap<&str, BTreeSet<&str>> = status
            .grants
            .iter()
            .map(|g| {
                (
                    g.audience.as_str(),
                    g.scopes.iter().map(String::as_str).collect(),
                )
            })
            .collect();
        if have != recorded {
            let audiences: BTreeSet<&str> = have.keys().chain(recorded.keys()).copied().collect();
            fields.extend(
                audiences
                    .into_iter()
                    .filter(|a| have.get(a) != recorded.get(a))
                    .map(|a| format!("grants[{a}]")),
            );
            finding.grants = Some(listed);
        }
    }
    if let Some(connections) = connections {
        for recorded in &status.connections {
            let enabled = connections
                .get(&recorded.connection_id)
                .is_some_and(|clients| clients.contains(client_id));
            if !enabled {
                fields.push(format!("connections[{}]", recorded.name));
                finding.disabled_connections.push(recorded.name.clone());
            }
        }
    }
    let already_reported = client.spec.drift_policy == DriftPolicy::Report
        && fields.iter().all(|f| status.reported_drift.contains(f));
    if fields.is_empty() || already_reported {
        return AccessFinding::default();
    }
    finding
}

/// Scans the APIs of every cached tenant once; drifted or missing ones are recorded in the
/// context and sent to `trigger`.
pub async fn scan_all_resource_servers(
    ctx: &Context,
    trigger: &mpsc::UnboundedSender<ObjectRef<AuthResourceServer>>,
) -> HashMap<String, ScanReport> {
    let mut reports = HashMap::new();
    for tenant in ctx.caches.tenants.reader().state() {
        let name = tenant.name_any();
        match scan_resource_servers(ctx, &tenant, trigger).await {
            Ok(report) => {
                reports.insert(name, report);
            }
            Err(error) => {
                tracing::warn!(tenant = %name, %error, "API drift scan failed; next scan retries")
            }
        }
    }
    reports
}

/// Scans one tenant's APIs: compares every Ready AuthResourceServer of the tenant with the
/// listed API (one paged list, 100 per page; nothing when the tenant has none).
pub async fn scan_resource_servers(
    ctx: &Context,
    tenant: &AuthTenant,
    trigger: &mpsc::UnboundedSender<ObjectRef<AuthResourceServer>>,
) -> Result<ScanReport, ScanError> {
    let tenant_name = tenant.name_any();
    let candidates: Vec<Arc<AuthResourceServer>> = ctx
        .caches
        .servers()
        .into_iter()
        .filter(|s| s.spec.tenant == tenant_name && s.metadata.deletion_timestamp.is_none())
        .filter(|s| {
            s.status.as_ref().is_some_and(|st| {
                st.resource_server_id.is_some()
                    && conditions::find(&st.conditions, READY).is_some_and(|r| r.status == "True")
            })
        })
        .collect();
    let mut report = ScanReport::default();
    if candidates.is_empty() {
        return Ok(report);
    }
    let credentials = ctx.caches.credentials.get(&SecretKey::of(tenant));
    let auth0 = client_from_cache(&ctx.auth0, tenant, credentials.as_ref())?;
    let listed: HashMap<String, auth0_mgmt::ResourceServer> = auth0
        .list_all_resource_servers(Priority::Background)
        .await?
        .into_iter()
        .map(|s| (s.id.clone(), s))
        .collect();
    for server in candidates {
        let Some(status) = server.status.as_ref() else {
            continue;
        };
        let Some(id) = status.resource_server_id.as_deref() else {
            continue;
        };
        report.compared += 1;
        let finding = match listed.get(id) {
            None => ServerFinding::Missing,
            Some(actual) => {
                let drift = crate::resourceserver::desired::diff(&server.spec, actual);
                if drift.is_empty()
                    || (server.spec.drift_policy == DriftPolicy::Report
                        && drift.fields == status.reported_drift)
                {
                    continue;
                }
                ServerFinding::Drifted(Box::new(actual.clone()))
            }
        };
        if finding == ServerFinding::Missing {
            report.missing += 1;
        }
        report.drifted += 1;
        let reference = ObjectRef::from_obj(&*server);
        ctx.record_server_finding(reference.clone(), finding);
        if trigger.unbounded_send(reference).is_err() {
            tracing::debug!("API drift scan: controller stopped");
        }
    }
    Ok(report)
}
