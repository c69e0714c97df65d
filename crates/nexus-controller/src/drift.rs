//! The drift scan: per tenant, one checkpoint-paged list of all clients (100 per page, only the
//! fields the spec manages) instead of one GET per AuthClient, compared page by page with the
//! cache (memory: one page, not the tenant); only clients that differ are reconciled.
//! When a client of the tenant declares or holds grants, also one checkpoint-paged list of the
//! tenant's client grants; for the connections clients are recorded on, one list of each
//! connection's enabled clients (both keep only what concerns the scanned AuthClients).
//! The same for the tenant's APIs ([`scan_resource_servers`]: one paged list of resource
//! servers).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use futures::channel::mpsc;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Resource, ResourceExt};

use crate::authclient::desired::{DesiredClient, SCAN_FIELDS, diff};
use crate::caches::SecretKey;
use crate::compact::CachedAuthClient;
use crate::context::{AccessFinding, Context, ScanFinding, ServerFinding};
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
    /// Auth0 clients listed (every client of the tenant, managed or not).
    pub listed: usize,
    /// List pages requested.
    pub pages: usize,
    /// Most listed clients the scan held at once: one page (the scan compares each page
    /// with the cache and drops it before the next; only differences are kept, as findings).
    pub peak_held: usize,
}

/// Scans every tenant's clients, then its APIs, every `drift_scan_interval` (the first tick
/// after one interval: the first reconciles compare anyway) until `stop`. A scan in flight is
/// abandoned at shutdown (it only reads; the next start scans again), so a scan of a large
/// tenant never holds the process past its grace period.
pub async fn scan_every(
    ctx: Arc<Context>,
    clients: Store<CachedAuthClient>,
    drift_tx: mpsc::UnboundedSender<ObjectRef<AuthClient>>,
    server_drift_tx: mpsc::UnboundedSender<ObjectRef<AuthResourceServer>>,
    stop: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(stop);
    let mut interval = tokio::time::interval(ctx.config.drift_scan_interval);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    interval.tick().await; // the first tick is immediate: reconciles run first anyway
    loop {
        tokio::select! {
            _ = interval.tick() => {}
            _ = &mut stop => break,
        }
        let scan = async {
            scan_all(&ctx, &clients, &drift_tx).await;
            scan_all_resource_servers(&ctx, &server_drift_tx).await;
        };
        tokio::select! {
            _ = scan => {}
            _ = &mut stop => break,
        }
    }
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

/// What the scan needs to know about the grants and connections of the tenant's candidates,
/// read before the clients are listed.
struct Access {
    grants: Option<HashMap<String, Vec<ClientGrant>>>,
    connections: Option<HashMap<String, HashSet<String>>>,
}

/// The tenant's Ready AuthClients by client id, each matched at most once with a listed
/// client: a vector sorted by client id (a binary search finds a listed client's claims) and
/// one flag each, 25 bytes per AuthClient. The hash map of vectors it replaces took about 41
/// bytes per bucket (a power of two at most 7/8 full) plus a 32-byte vector per id, and both
/// tables while it doubled: by those sizes about 9 MiB at 60,000 Ready AuthClients, against
/// 1.4 MiB now (estimates from the layouts, not measured).
struct Claims<'a> {
    by_id: Vec<(&'a str, &'a CachedAuthClient)>,
    matched: Vec<bool>,
}

impl<'a> Claims<'a> {
    /// The claims of `clients` (those with a Ready client id), in their order for each id.
    fn new(clients: &'a [Arc<CachedAuthClient>]) -> Self {
        let mut by_id: Vec<(&str, &CachedAuthClient)> = clients
            .iter()
            .filter_map(|c| c.ready_client_id().map(|id| (id, &**c)))
            .collect();
        // Stable: several AuthClients claiming one client keep their order.
        by_id.sort_by(|a, b| a.0.cmp(b.0));
        let matched = vec![false; by_id.len()];
        Self { by_id, matched }
    }

    fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// Where the claims of `id` are.
    fn range(&self, id: &str) -> std::ops::Range<usize> {
        let start = self.by_id.partition_point(|(claimed, _)| *claimed < id);
        let len = self.by_id[start..].partition_point(|(claimed, _)| *claimed == id);
        start..start + len
    }

    /// Whether an AuthClient claims `id`.
    fn contains(&self, id: &str) -> bool {
        !self.range(id).is_empty()
    }

    /// Every claiming AuthClient.
    fn clients(&self) -> impl Iterator<Item = &'a CachedAuthClient> + '_ {
        self.by_id.iter().map(|(_, cached)| *cached)
    }

    /// The claims of `id` not matched yet, now matched.
    fn take(&mut self, id: &str) -> Vec<&'a CachedAuthClient> {
        let range = self.range(id);
        let mut taken = Vec::new();
        for i in range {
            if !self.matched[i] {
                self.matched[i] = true;
                taken.push(self.by_id[i].1);
            }
        }
        taken
    }

    /// The claims never matched: their client was not listed.
    fn unmatched(self) -> impl Iterator<Item = &'a CachedAuthClient> {
        self.by_id
            .into_iter()
            .zip(self.matched)
            .filter(|(_, matched)| !matched)
            .map(|((_, cached), _)| cached)
    }
}

/// Scans one tenant: compares every Ready AuthClient that uses it with the listed client.
///
/// The clients are listed with checkpoint paging (100 per page, only the fields the spec
/// manages), and each page is compared with the cache as it arrives and then dropped: the scan
/// holds one page, the index of the tenant's Ready AuthClients by client id (references into
/// the cache, taken once: only the Ready ones, so that no other entry the store replaces
/// during the scan is held twice) and the findings, never the whole tenant. AuthClients whose client was not
/// listed at all are missing.
pub async fn scan_tenant(
    ctx: &Context,
    store: &Store<CachedAuthClient>,
    tenant: &AuthTenant,
    trigger: &mpsc::UnboundedSender<ObjectRef<AuthClient>>,
) -> Result<ScanReport, ScanError> {
    let tenant_name = tenant.name_any();
    // Only the tenant's Ready AuthClients are held (their `Arc`s, shared with the store) while
    // the scan runs: an entry the store replaces meanwhile (a creation in progress, a status
    // write) would otherwise be held twice until the scan ends.
    let state: Vec<_> = store
        .state()
        .into_iter()
        .filter(|c| {
            c.tenant() == tenant_name
                && c.meta().deletion_timestamp.is_none()
                && c.ready_client_id().is_some()
        })
        .collect();
    // Ready AuthClients of the tenant by client id (several only if they claim the same
    // client); matched as their client is listed.
    let mut pending = Claims::new(&state);
    let mut report = ScanReport::default();
    if pending.is_empty() {
        return Ok(report);
    }
    let credentials = ctx.caches.credentials.get(&SecretKey::of(tenant));
    let auth0 = client_from_cache(&ctx.auth0, tenant, credentials.as_ref())?;
    let access = read_access(&auth0, &pending).await?;
    let mut pages = auth0.client_pages(SCAN_FIELDS, Priority::Background);
    while let Some(page) = pages.next_page().await? {
        report.pages += 1;
        report.listed += page.len();
        report.peak_held = report.peak_held.max(page.len());
        for actual in page {
            let claims = pending.take(actual.client_id.as_str());
            if claims.is_empty() {
                continue;
            }
            // Moved into the last claim's finding (cloned only when several claim it).
            let last = claims.len().saturating_sub(1);
            let mut actual = Some(actual);
            for (i, cached) in claims.into_iter().enumerate() {
                let listed = if i == last {
                    actual.take()
                } else {
                    actual.clone()
                };
                if let Some(client) = decode(cached) {
                    judge(ctx, &client, listed, &access, trigger, &mut report);
                }
            }
        }
    }
    for cached in pending.unmatched() {
        if let Some(client) = decode(cached) {
            judge(ctx, &client, None, &access, trigger, &mut report);
        }
    }
    Ok(report)
}

/// The AuthClient of a cache entry; `None` (logged) when it cannot be decoded.
fn decode(cached: &CachedAuthClient) -> Option<AuthClient> {
    match cached.decode() {
        Ok(client) => Some(client),
        Err(error) => {
            tracing::warn!(%error, "skipped by the drift scan");
            None
        }
    }
}

/// Compares one Ready AuthClient with its listed client (`None`: not listed, so missing),
/// records what differs and wakes the AuthClient.
fn judge(
    ctx: &Context,
    client: &AuthClient,
    listed: Option<Auth0Client>,
    access: &Access,
    trigger: &mpsc::UnboundedSender<ObjectRef<AuthClient>>,
    report: &mut ScanReport,
) {
    let (Some(tag), Some(status)) = (
        OwnershipTag::for_client(client, &ctx.config.cluster_id),
        client.status.as_ref(),
    ) else {
        return;
    };
    let Some(client_id) = status.client_id.as_deref() else {
        return;
    };
    report.compared += 1;
    let reported_client: Vec<&String> = status
        .reported_drift
        .iter()
        .filter(|f| !is_access_field(f))
        .collect();
    let finding = match listed {
        None => Some(ScanFinding::Missing),
        Some(actual) => {
            let desired = DesiredClient::from_spec(&client.spec.client, &tag)
                .with_settings(client.spec.settings.as_ref());
            let drift = diff(&desired, &actual);
            // Already reported (driftPolicy Report): decided by the recorded fields.
            let reported = client.spec.drift_policy == DriftPolicy::Report
                && drift.fields.iter().collect::<Vec<_>>() == reported_client;
            let keys = credential_drift(client, &actual);
            let keys_reported = client.spec.drift_policy == DriftPolicy::Report
                && keys.iter().all(|f| status.reported_drift.contains(f));
            ((!drift.is_empty() && !reported) || (!keys.is_empty() && !keys_reported))
                .then(|| ScanFinding::Drifted(Box::new(actual)))
        }
    };
    let grants = access.grants.as_ref();
    let mut found_access = match &finding {
        // A missing client is created again, with its grants.
        Some(ScanFinding::Missing) => AccessFinding::default(),
        _ => access_finding(client, client_id, grants, access.connections.as_ref()),
    };
    if let (Some(ScanFinding::Drifted(_)), None, Some(grants)) =
        (&finding, &found_access.grants, grants)
    {
        // The pass compares the grants too: with the listed copy, not another read.
        found_access.grants = Some(grants.get(client_id).cloned().unwrap_or_default());
    }
    if finding.is_none() && found_access.is_empty() {
        return;
    }
    if matches!(finding, Some(ScanFinding::Missing)) {
        report.missing += 1;
    }
    report.drifted += 1;
    let reference = ObjectRef::from_obj(client);
    if let Some(finding) = finding {
        ctx.clients.record_finding(reference.clone(), finding);
    }
    if !found_access.is_empty() {
        ctx.record_access_finding(reference.clone(), found_access);
    }
    if trigger.unbounded_send(reference).is_err() {
        tracing::debug!("drift scan: controller stopped");
    }
}

/// Reads the candidates' grants and connections (one pass over the cache, decoding one
/// AuthClient at a time), keeping only what concerns the candidates.
async fn read_access(
    auth0: &auth0_mgmt::TenantClient,
    pending: &Claims<'_>,
) -> Result<Access, auth0_mgmt::Auth0Error> {
    let mut grants_involved = false;
    let mut connection_ids = BTreeSet::new();
    for cached in pending.clients() {
        let Ok(client) = cached.decode() else {
            continue;
        };
        grants_involved |= !client.spec.grants.is_empty()
            || client.status.as_ref().is_some_and(|s| !s.grants.is_empty());
        if let Some(status) = &client.status {
            connection_ids.extend(status.connections.iter().map(|c| c.connection_id.clone()));
        }
    }
    let grants = if grants_involved {
        Some(list_grants(auth0, pending).await?)
    } else {
        None
    };
    let connections = if connection_ids.is_empty() {
        None
    } else {
        Some(list_connections(auth0, connection_ids, pending).await?)
    };
    Ok(Access {
        grants,
        connections,
    })
}

/// Whether a drift field is about grants, connections or key credentials (not the client's
/// own fields).
fn is_access_field(field: &str) -> bool {
    field.starts_with("grants[")
        || field.starts_with("connections[")
        || crate::authclient::keys::is_credential_field(field)
}

/// The key credentials a `privateKeyJwt` client lists in Auth0 that differ from its status
/// (`credentials[id]` for each listed id not recorded as active or retiring, and each recorded
/// one not listed). The key pass then compares the registered credentials too.
fn credential_drift(client: &AuthClient, actual: &Auth0Client) -> Vec<String> {
    let Some(recorded) = client.status.as_ref().and_then(|s| s.credentials.as_ref()) else {
        return Vec::new();
    };
    if !client.spec.credentials.is_private_key_jwt() || recorded.active.is_none() {
        return Vec::new();
    }
    let listed = actual.private_key_jwt_ids().unwrap_or_default();
    let expected: Vec<&str> = recorded
        .active
        .iter()
        .chain(recorded.retiring.iter())
        .map(|k| k.id.as_str())
        .collect();
    listed
        .iter()
        .map(String::as_str)
        .filter(|id| !expected.contains(id))
        .chain(
            expected
                .iter()
                .copied()
                .filter(|id| !listed.iter().any(|l| l == id)),
        )
        .map(crate::authclient::keys::drift_field)
        .collect()
}

/// The grants of the candidates, by client id: one checkpoint-paged list of the tenant's
/// grants, keeping only the candidates' (the others are dropped page by page).
async fn list_grants(
    auth0: &auth0_mgmt::TenantClient,
    pending: &Claims<'_>,
) -> Result<HashMap<String, Vec<ClientGrant>>, auth0_mgmt::Auth0Error> {
    let mut by_client: HashMap<String, Vec<ClientGrant>> = HashMap::new();
    let mut pages = auth0.client_grant_pages(None, None, Priority::Background);
    while let Some(page) = pages.next_page().await? {
        for grant in page {
            if pending.contains(grant.client_id.as_str()) {
                by_client
                    .entry(grant.client_id.clone())
                    .or_default()
                    .push(grant);
            }
        }
    }
    Ok(by_client)
}

/// Which candidates are enabled on each connection a candidate is recorded on (one
/// checkpoint-paged list per connection; clients that are not candidates are dropped).
async fn list_connections(
    auth0: &auth0_mgmt::TenantClient,
    ids: BTreeSet<String>,
    pending: &Claims<'_>,
) -> Result<HashMap<String, HashSet<String>>, auth0_mgmt::Auth0Error> {
    let mut enabled = HashMap::new();
    for id in ids {
        match auth0
            .list_connection_clients(&id, Priority::Background)
            .await
        {
            Ok(clients) => {
                let candidates = clients
                    .into_iter()
                    .filter(|c| pending.contains(c.as_str()))
                    .collect();
                enabled.insert(id, candidates);
            }
            // The connection was deleted: nobody is enabled on it.
            Err(e) if e.is_not_found() => {
                enabled.insert(id, HashSet::new());
            }
            Err(e) => return Err(e),
        }
    }
    Ok(enabled)
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
/// API Auth0 lists for its identifier (10 identifiers per request; nothing when the tenant has
/// no Ready AuthResourceServer).
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
                st.resource_server_id.is_some() && conditions::is_true(&st.conditions, READY)
            })
        })
        .collect();
    let mut report = ScanReport::default();
    if candidates.is_empty() {
        return Ok(report);
    }
    let credentials = ctx.caches.credentials.get(&SecretKey::of(tenant));
    let auth0 = client_from_cache(&ctx.auth0, tenant, credentials.as_ref())?;
    // Listed by identifier, 10 per request: however many APIs the tenant holds, no request
    // comes near Auth0's 1,000-record offset ceiling (this endpoint has no checkpoint paging).
    let identifiers: Vec<&str> = candidates
        .iter()
        .map(|s| s.spec.identifier.as_str())
        .collect();
    let listed: HashMap<String, auth0_mgmt::ResourceServer> = auth0
        .list_resource_servers_by_identifier(&identifiers, Priority::Background)
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
        ctx.servers.record_finding(reference.clone(), finding);
        if trigger.unbounded_send(reference).is_err() {
            tracing::debug!("API drift scan: controller stopped");
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A Ready AuthClient `name` of client `id` (`None`: not Ready).
    fn cached(name: &str, id: Option<&str>) -> Arc<CachedAuthClient> {
        let ready = if id.is_some() { "True" } else { "False" };
        let client: AuthClient = serde_json::from_value(json!({
            "apiVersion": "auth.nexus.dev/v1alpha1", "kind": "AuthClient",
            "metadata": {"name": name, "namespace": "team-a", "uid": format!("uid-{name}"),
                         "generation": 1},
            "spec": {"tenant": "acme", "client": {"name": name, "app_type": "spa"}},
            "status": {"observedGeneration": 1, "clientId": id.unwrap_or("pending"),
                "conditions": [{"type": "Ready", "status": ready, "reason": "Synced",
                    "message": "m", "lastTransitionTime": "2026-12-01T00:00:00Z",
                    "observedGeneration": 1}]}
        }))
        .expect("a valid AuthClient");
        Arc::new(CachedAuthClient::new(client))
    }

    fn names<'a>(clients: impl IntoIterator<Item = &'a CachedAuthClient>) -> Vec<String> {
        clients
            .into_iter()
            .map(|c| c.meta().name.clone().unwrap_or_default())
            .collect()
    }

    /// Each Ready AuthClient is matched once, by its client id; AuthClients claiming the same
    /// client are all matched, in their order; what was never listed is left unmatched.
    #[test]
    fn claims_match_each_ready_authclient_once_by_client_id() {
        let state = [
            cached("z", Some("id-3")),
            cached("a", Some("id-1")),
            cached("twin-1", Some("id-2")),
            cached("not-ready", None),
            cached("twin-2", Some("id-2")),
            cached("missing", Some("id-9")),
        ];
        let mut claims = Claims::new(&state);
        assert_eq!(
            claims.by_id.len(),
            5,
            "the AuthClient not Ready is no claim"
        );
        assert!(claims.contains("id-2") && claims.contains("id-9"));
        assert!(!claims.contains("id-0") && !claims.contains("pending"));
        assert_eq!(names(claims.take("id-2")), ["twin-1", "twin-2"]);
        assert!(
            claims.take("id-2").is_empty(),
            "a client listed twice is matched once"
        );
        assert!(
            claims.contains("id-2"),
            "matched claims still count for grants"
        );
        assert!(claims.take("id-0").is_empty());
        assert_eq!(names(claims.take("id-3")), ["z"]);
        assert_eq!(names(claims.take("id-1")), ["a"]);
        assert_eq!(names(claims.unmatched()), ["missing"]);
    }
}
