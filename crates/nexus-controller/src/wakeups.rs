//! What wakes what: the rules that turn a change in the cluster into a pass of another object,
//! in one place (the controllers' own triggers are each kind's `trigger`/`trigger_hash`).
//!
//! - an AuthTenant's spec or Ready condition ([`tenant_state_hash`]) -> its AuthClients and
//!   AuthResourceServers, and the objects waiting for its credentials ([`drive_tenants`]);
//! - a tenant's credentials Secret (watched by name, [`watch_credentials`]) -> its tenants;
//! - an owned Secret deleted or tampered with -> its AuthClient ([`wake_owner`]);
//! - an AuthResourceServer's spec, readiness, id or deletion ([`GrantState`]) -> the
//!   AuthClients that request or hold a grant to its identifier, and the other
//!   AuthResourceServers claiming the same identifier ([`wake_dependents`],
//!   [`drive_resource_servers`]);
//! - the API server answering again after an outage -> every AuthClient not Ready
//!   ([`wake_unready_after_outage`]);
//! - the drift scan's findings -> the objects found drifted or missing (`crate::drift`, through
//!   `PerKind::wake`).

use std::collections::hash_map::DefaultHasher;
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use futures::{StreamExt, channel::mpsc};
use k8s_openapi::api::core::v1::Secret;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, ResourceExt};

use crate::context::Context;
use crate::{authclient, governance, pass, resourceserver, scope, watch_backoff};
use k8s_openapi::api::core::v1::Namespace;
use kube::core::PartialObjectMeta;

use crate::authclient::secret::ObservedSecret;
use crate::caches::{Credentials, SecretKey, strip};
use crate::compact::CachedAuthClient;
use crate::context::AccessFinding;
use nexus_crd::conditions::{self, READY};
use nexus_crd::{AuthClient, AuthResourceServer, AuthTenant};

/// Watches the AuthClient watch's events for the end of an outage: the first event after
/// errors that says the API server answers again wakes every AuthClient that is not Ready.
/// Their reconciles failed during the outage and wait on their backoff (5 s doubling to
/// 5 min), which would otherwise delay convergence by minutes after a long outage.
pub(crate) fn wake_unready_after_outage(
    ctx: Arc<Context>,
    clients: Store<CachedAuthClient>,
) -> impl FnMut(&watcher::Result<watcher::Event<CachedAuthClient>>) + Send + 'static {
    let mut failing = false;
    move |event| match event {
        Err(_) => failing = true,
        // The start of a relist says nothing about whether it works.
        Ok(watcher::Event::Init) => {}
        Ok(_) if failing => {
            failing = false;
            let mut woken = 0;
            for client in clients.state() {
                let ready = client.decode().is_ok_and(|client| {
                    client
                        .status
                        .as_ref()
                        .is_some_and(|s| conditions::is_true(&s.conditions, READY))
                });
                if !ready {
                    ctx.clients.wake(client.reference());
                    woken += 1;
                }
            }
            tracing::info!(
                woken,
                "the API server answers again; retrying the AuthClients that are not Ready"
            );
        }
        Ok(_) => {}
    }
}

/// Whether a watch failed because the API server does not serve the kind (its CRD is not
/// installed).
pub(crate) fn kind_not_served(error: &watcher::Error) -> bool {
    matches!(
        error,
        watcher::Error::InitialListFailed(kube::Error::Api(status))
            | watcher::Error::WatchStartFailed(kube::Error::Api(status))
            if status.code == 404
    )
}

/// What, of an AuthResourceServer, the AuthClients granting to it depend on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct GrantState {
    generation: Option<i64>,
    ready: bool,
    holds: bool,
    resource_server_id: Option<String>,
    deleting: bool,
}

impl GrantState {
    fn of(server: &AuthResourceServer) -> Self {
        Self {
            generation: server.metadata.generation,
            ready: governance::server_ready(server),
            holds: server.holds_identifier(),
            resource_server_id: server
                .status
                .as_ref()
                .and_then(|s| s.resource_server_id.clone()),
            deleting: server.metadata.deletion_timestamp.is_some(),
        }
    }
}

/// Wakes what depends on `server`: the AuthClients of its tenant that request or hold a grant
/// to its identifier (told to re-read their grants when the API was created again: Auth0
/// dropped the grants with the old one), and the other AuthResourceServers claiming the same
/// identifier.
pub(crate) fn wake_dependents(
    ctx: &Context,
    clients: &Store<CachedAuthClient>,
    server: &AuthResourceServer,
    recreated: bool,
) {
    let (tenant, identifier) = (&server.spec.tenant, &server.spec.identifier);
    let grants_to = |c: &AuthClient| {
        c.spec.grants.iter().any(|g| g.audience == *identifier)
            || c.status
                .as_ref()
                .is_some_and(|s| s.grants.iter().any(|g| g.audience == *identifier))
    };
    for client in clients.state().iter().filter(|c| {
        c.tenant() == tenant.as_str() && c.decode().is_ok_and(|decoded| grants_to(&decoded))
    }) {
        let reference = client.reference();
        if recreated {
            ctx.record_access_finding(
                reference.clone(),
                AccessFinding {
                    recheck_grants: true,
                    ..AccessFinding::default()
                },
            );
        }
        ctx.clients.wake(reference);
    }
    for rival in ctx.caches.servers().iter().filter(|s| {
        s.spec.tenant == *tenant && s.spec.identifier == *identifier && s.uid() != server.uid()
    }) {
        ctx.servers.wake(ObjectRef::from_obj(&**rival));
    }
}

/// Watches AuthResourceServers into the cache; sends the controller the objects whose spec or
/// deletion changed (not its own writes); wakes the dependents of an API
/// whose state changed ([`wake_dependents`]). When the CRD is not installed, the cache is empty
/// (there can be no AuthResourceServer) and the watch keeps retrying.
pub(crate) async fn drive_resource_servers(
    ctx: Arc<Context>,
    clients: Store<CachedAuthClient>,
    events: impl futures::Stream<Item = watcher::Result<watcher::Event<AuthResourceServer>>>
    + Send
    + 'static,
    tx: mpsc::UnboundedSender<Result<AuthResourceServer, watcher::Error>>,
    stop: impl Future<Output = ()> + Send + 'static,
) {
    let mut triggers: HashMap<ObjectRef<AuthResourceServer>, u64> = HashMap::new();
    let mut states: HashMap<ObjectRef<AuthResourceServer>, (GrantState, AuthResourceServer)> =
        HashMap::new();
    let mut warned = false;
    let mut listed = false;
    let events = events.take_until(stop);
    tokio::pin!(events);
    while let Some(event) = events.next().await {
        let event = match event {
            Ok(event) => event,
            Err(error) => {
                if kind_not_served(&error) && !listed {
                    if !warned {
                        tracing::warn!(
                            "the AuthResourceServer CRD is not installed (apply charts/nexus-operator/crds/); AuthClients can be granted only the tenant's grantableAudiences until it is"
                        );
                        warned = true;
                    }
                    ctx.caches.resource_servers.replace(Vec::new());
                    listed = true;
                }
                continue;
            }
        };
        ctx.caches.resource_servers.apply(&event);
        // A change seen by the watch, not the (re)list.
        let live = matches!(event, watcher::Event::Apply(_));
        match event {
            watcher::Event::Apply(server) | watcher::Event::InitApply(server) => {
                observe_server(
                    &ctx,
                    &clients,
                    &tx,
                    &mut triggers,
                    &mut states,
                    server,
                    live,
                );
            }
            watcher::Event::Delete(server) => {
                let reference = ObjectRef::from_obj(&server);
                triggers.remove(&reference);
                states.remove(&reference);
                // Gone (an object that never held an API has no finalizer and no cleanup pass).
                ctx.servers.set_ready_state(&pass::key(&server), None);
                wake_dependents(&ctx, &clients, &server, false);
            }
            watcher::Event::Init => {}
            watcher::Event::InitDone => {
                listed = true;
                let present: HashSet<ObjectRef<AuthResourceServer>> = ctx
                    .caches
                    .servers()
                    .iter()
                    .map(|s| ObjectRef::from_obj(&**s))
                    .collect();
                triggers.retain(|r, _| present.contains(r));
                let gone: Vec<ObjectRef<AuthResourceServer>> = states
                    .keys()
                    .filter(|r| !present.contains(*r))
                    .cloned()
                    .collect();
                for reference in gone {
                    if let Some((_, server)) = states.remove(&reference) {
                        wake_dependents(&ctx, &clients, &server, false);
                        ctx.servers.set_ready_state(&pass::key(&server), None);
                    }
                }
            }
        }
    }
}

/// One listed or changed AuthResourceServer (see [`drive_resource_servers`]). `live`: a change
/// seen by the watch, not the (re)list.
pub(crate) fn observe_server(
    ctx: &Context,
    clients: &Store<CachedAuthClient>,
    tx: &mpsc::UnboundedSender<Result<AuthResourceServer, watcher::Error>>,
    triggers: &mut HashMap<ObjectRef<AuthResourceServer>, u64>,
    states: &mut HashMap<ObjectRef<AuthResourceServer>, (GrantState, AuthResourceServer)>,
    server: AuthResourceServer,
    live: bool,
) {
    let reference = ObjectRef::from_obj(&server);
    let hash = resourceserver::trigger_hash(&server);
    if triggers.insert(reference.clone(), hash) != Some(hash) {
        let _ = tx.unbounded_send(Ok(server.clone()));
    }
    let state = GrantState::of(&server);
    let previous = states.insert(reference, (state.clone(), server.clone()));
    let changed = match &previous {
        Some((old, _)) => *old != state,
        None => live,
    };
    if changed {
        let recreated = previous.as_ref().is_some_and(|(old, _)| {
            old.resource_server_id.is_some() && old.resource_server_id != state.resource_server_id
        });
        wake_dependents(ctx, clients, &server, recreated);
    }
}

pub(crate) fn wake_owner(ctx: &Context, secret: &ObservedSecret) {
    if let Some(owner) = &secret.controller {
        ctx.clients
            .wake(ObjectRef::new(&owner.name).within(secret.namespace()));
    }
}

/// What, of a tenant, its clients depend on: the spec and the Ready condition.
pub(crate) fn tenant_state_hash(tenant: &AuthTenant) -> u64 {
    let mut hasher = DefaultHasher::new();
    tenant.metadata.generation.hash(&mut hasher);
    if let Some(ready) = tenant
        .status
        .as_ref()
        .and_then(|s| conditions::find(&s.conditions, READY))
    {
        (
            &ready.status,
            &ready.reason,
            &ready.message,
            ready.observed_generation,
        )
            .hash(&mut hasher);
    }
    hasher.finish()
}

/// Watches AuthTenants into the cache; starts and stops the watch of each referenced
/// credentials Secret; sends the tenant controller the tenants whose spec changed (not its own
/// status writes); wakes the clients of a tenant whose spec or Ready condition changed; and
/// forgets the Auth0 client and rate limiter of a deleted tenant.
pub(crate) async fn drive_tenants(
    ctx: Arc<Context>,
    clients: Store<CachedAuthClient>,
    tenant_tx: mpsc::UnboundedSender<Result<AuthTenant, watcher::Error>>,
    stop: impl Future<Output = ()> + Send + 'static,
) {
    let mut generations: HashMap<String, Option<i64>> = HashMap::new();
    let mut states: HashMap<String, u64> = HashMap::new();
    let mut watches = CredentialWatches::default();
    let events = watch_backoff::backoff(watcher(
        Api::<AuthTenant>::all(ctx.kube.clone()),
        watcher::Config::default(),
    ))
    .modify(strip)
    .take_until(stop);
    tokio::pin!(events);
    while let Some(event) = events.next().await {
        let Ok(event) = event else {
            continue;
        };
        ctx.caches.tenants.apply(&event);
        let event_is_live = matches!(event, watcher::Event::Apply(_));
        match event {
            watcher::Event::Apply(tenant) | watcher::Event::InitApply(tenant) => {
                let name = tenant.name_any();
                let key = SecretKey::of(&tenant);
                if !watches.contains_key(&key) {
                    ctx.caches.credentials.set(&key, Credentials::Syncing);
                    watches.insert(key.clone(), watch_credentials(ctx.clone(), key));
                }
                // During the initial list the store is not committed yet: prune after it.
                if event_is_live {
                    prune_watches(&ctx, &mut watches);
                }
                if generations.insert(name.clone(), tenant.metadata.generation)
                    != Some(tenant.metadata.generation)
                {
                    let _ = tenant_tx.unbounded_send(Ok(tenant.clone()));
                }
                let state = tenant_state_hash(&tenant);
                if states
                    .insert(name.clone(), state)
                    .is_some_and(|s| s != state)
                {
                    for client in authclient::clients_of(&clients, &name) {
                        ctx.clients.wake(client);
                    }
                    for server in resourceserver::servers_of(&ctx, &name) {
                        ctx.servers.wake(server);
                    }
                }
            }
            watcher::Event::Delete(tenant) => {
                let name = tenant.name_any();
                generations.remove(&name);
                states.remove(&name);
                ctx.auth0.remove(&name);
                prune_watches(&ctx, &mut watches);
                for client in authclient::clients_of(&clients, &name) {
                    ctx.clients.wake(client);
                }
                for server in resourceserver::servers_of(&ctx, &name) {
                    ctx.servers.wake(server);
                }
            }
            watcher::Event::Init => {}
            watcher::Event::InitDone => {
                let present: HashSet<String> = ctx
                    .caches
                    .tenants
                    .reader()
                    .state()
                    .iter()
                    .map(|t| t.name_any())
                    .collect();
                for gone in generations
                    .keys()
                    .filter(|n| !present.contains(*n))
                    .cloned()
                    .collect::<Vec<_>>()
                {
                    generations.remove(&gone);
                    states.remove(&gone);
                    ctx.auth0.remove(&gone);
                    for client in authclient::clients_of(&clients, &gone) {
                        ctx.clients.wake(client);
                    }
                    for server in resourceserver::servers_of(&ctx, &gone) {
                        ctx.servers.wake(server);
                    }
                }
                prune_watches(&ctx, &mut watches);
            }
        }
    }
    drop(watches);
}

/// The credentials watches of [`drive_tenants`], stopped when it ends or is dropped (a
/// controller abandoned after its stop grace leaves no watch behind).
#[derive(Default)]
pub(crate) struct CredentialWatches(HashMap<SecretKey, tokio::task::JoinHandle<()>>);

impl std::ops::Deref for CredentialWatches {
    type Target = HashMap<SecretKey, tokio::task::JoinHandle<()>>;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl std::ops::DerefMut for CredentialWatches {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

impl Drop for CredentialWatches {
    fn drop(&mut self) {
        for task in self.0.values() {
            task.abort();
        }
    }
}

/// Stops the credentials watches no cached tenant references any more.
pub(crate) fn prune_watches(
    ctx: &Context,
    watches: &mut HashMap<SecretKey, tokio::task::JoinHandle<()>>,
) {
    let referenced: HashSet<SecretKey> = ctx
        .caches
        .tenants
        .reader()
        .state()
        .iter()
        .map(|t| SecretKey::of(t))
        .collect();
    watches.retain(|key, task| {
        let keep = referenced.contains(key);
        if !keep {
            task.abort();
            ctx.caches.credentials.remove(key);
        }
        keep
    });
}

/// Watches exactly one credentials Secret (by name: `fieldSelector=metadata.name=<name>`,
/// which RBAC authorizes with `resourceNames`) into the cache; a change wakes the tenants that
/// use it. A 403 (the operator may not read that Secret) is recorded as
/// [`Credentials::Forbidden`], which the tenant reports; the watch retries with its backoff
/// (capped at about 30 s between attempts), so a grant added later is picked up.
pub(crate) fn watch_credentials(ctx: Arc<Context>, key: SecretKey) -> tokio::task::JoinHandle<()> {
    let api = Api::<Secret>::namespaced(ctx.kube.clone(), &key.namespace);
    let config = scope::by_name(&key.name);
    tokio::spawn(async move {
        let events = watch_backoff::backoff(watcher(api, config)).modify(strip);
        tokio::pin!(events);
        let mut seen = false;
        while let Some(event) = events.next().await {
            let event = match event {
                Ok(event) => event,
                Err(error) if scope::is_forbidden(&error) => {
                    if ctx.caches.credentials.set(&key, Credentials::Forbidden) {
                        tracing::warn!(
                            namespace = %key.namespace,
                            name = %key.name,
                            "the operator may not read this credentials Secret (403); its AuthTenants report CredentialsForbidden"
                        );
                        for tenant in ctx.caches.tenants_using(&key) {
                            ctx.wake_tenant(&tenant.name);
                        }
                    }
                    continue;
                }
                Err(_) => continue,
            };
            let changed = match event {
                watcher::Event::Init => {
                    seen = false;
                    false
                }
                watcher::Event::InitApply(secret) | watcher::Event::Apply(secret) => {
                    seen = true;
                    ctx.caches
                        .credentials
                        .set(&key, Credentials::Present(Arc::new(secret)))
                }
                watcher::Event::InitDone if !seen => {
                    ctx.caches.credentials.set(&key, Credentials::Absent)
                }
                watcher::Event::InitDone => false,
                watcher::Event::Delete(_) => ctx.caches.credentials.set(&key, Credentials::Absent),
            };
            if changed {
                for tenant in ctx.caches.tenants_using(&key) {
                    ctx.wake_tenant(&tenant.name);
                }
            }
        }
    })
}

/// Watches Namespace metadata into the cache; a Namespace whose labels changed wakes its
/// AuthClients (`allowedNamespaces.selector` may now select it or not), and any change wakes
/// its AuthResourceServers.
pub(crate) async fn drive_namespaces(
    ctx: Arc<Context>,
    clients: Store<CachedAuthClient>,
    events: impl futures::Stream<Item = watcher::Result<watcher::Event<PartialObjectMeta<Namespace>>>>
    + Send,
    stop: impl Future<Output = ()> + Send,
) {
    let mut labels_seen: HashMap<String, u64> = HashMap::new();
    events
        .take_until(stop)
        .for_each(move |event| {
            if let Ok(event) = &event {
                ctx.caches.namespaces.apply(event);
                if let watcher::Event::Apply(ns) = event {
                    let hash = kube::runtime::predicates::labels(ns).unwrap_or(0);
                    let name = ns.name_any();
                    if labels_seen
                        .insert(name.clone(), hash)
                        .is_some_and(|h| h != hash)
                    {
                        for client in clients
                            .state()
                            .iter()
                            .filter(|c| c.namespace().as_deref() == Some(name.as_str()))
                        {
                            ctx.clients.wake(client.reference());
                        }
                    }
                    for server in ctx
                        .caches
                        .servers()
                        .iter()
                        .filter(|s| s.namespace().as_deref() == Some(name.as_str()))
                    {
                        ctx.servers.wake(ObjectRef::from_obj(&**server));
                    }
                }
            }
            futures::future::ready(())
        })
        .await;
}

/// Watches the owned Secrets into the cache (each partition on its own:
/// [`crate::owned_secrets`]); a deleted or tampered Secret wakes its owner (the operator's own
/// writes do not: their content hash matches their data), also one a list delivers tampered
/// (its owner's pass may have run before the list, with a GET that saw it intact:
/// `Caches::owned_secret`), and one a relist no longer delivers (deleted while the watch was
/// down). A Secret whose controller owner reference was removed or moved to another
/// AuthClient wakes the previous controller and the new one (the operator never changes an
/// existing Secret's controller: its own writes wake nobody).
pub(crate) async fn drive_owned_secrets(
    ctx: Arc<Context>,
    events: impl futures::Stream<Item = (Arc<str>, watcher::Result<watcher::Event<ObservedSecret>>)>
    + Send,
    stop: impl Future<Output = ()> + Send,
) {
    events
        .take_until(stop)
        .for_each(move |(partition, event)| {
            if let Ok(event) = &event {
                for gone in ctx.caches.owned_secrets.apply(&partition, event) {
                    wake_owner(&ctx, &gone);
                }
                match event {
                    watcher::Event::Delete(secret) => wake_owner(&ctx, secret),
                    watcher::Event::Apply(secret) | watcher::Event::InitApply(secret)
                        if !secret.intact =>
                    {
                        wake_owner(&ctx, secret)
                    }
                    _ => {}
                }
            }
            futures::future::ready(())
        })
        .await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    use k8s_openapi::jiff::Timestamp;
    use nexus_crd::conditions::{ConditionStatus, new_condition};
    use nexus_crd::{AuthResourceServerStatus, AuthTenantStatus};
    use serde_json::json;

    fn server() -> AuthResourceServer {
        crate::testing::server("orders-api", "https://orders/api", 1)
    }

    fn ready(generation: i64, status: ConditionStatus) -> AuthResourceServerStatus {
        let identifier = "https://orders/api";
        crate::testing::server_status(identifier, generation, status, Timestamp::UNIX_EPOCH)
    }

    /// The Secret the operator writes for `owner` (uid `uid-<owner>`) with `client_secret`.
    fn written(owner: &str, client_secret: &str) -> Secret {
        crate::testing::written_secret(&crate::testing::owner("team-a", owner), client_secret)
    }

    fn test_context() -> Arc<Context> {
        Arc::new(Context::new(
            kube_fake::FakeKube::new().client(),
            auth0_mgmt::Auth0Registry::new(
                auth0_mgmt::default_http_client(std::time::Duration::from_secs(5))
                    .expect("http client"),
                auth0_mgmt::Auth0Metrics::new(),
            ),
            crate::ControllerConfig::default(),
            crate::metrics::ControllerMetrics::default(),
        ))
    }

    /// Drives the owned-Secret cache with `events` of the watch of all namespaces.
    async fn drive(ctx: &Arc<Context>, events: Vec<watcher::Event<ObservedSecret>>) {
        drive_in(ctx, crate::owned_secrets::ALL, events).await;
    }

    /// Drives the owned-Secret cache with `events` of the watch of `partition`.
    async fn drive_in(
        ctx: &Arc<Context>,
        partition: &str,
        events: Vec<watcher::Event<ObservedSecret>>,
    ) {
        let partition = Arc::<str>::from(partition);
        let events = futures::stream::iter(events).map(move |event| (partition.clone(), Ok(event)));
        drive_owned_secrets(ctx.clone(), events, futures::future::pending()).await;
    }

    #[tokio::test]
    async fn a_secret_whose_controller_changed_wakes_its_controllers_the_operators_writes_nobody() {
        let ctx = test_context();
        let mut triggers = ctx.take_triggers().expect("triggers");
        let mut woken = move || {
            let mut woken = Vec::new();
            while let Ok(client) = triggers.clients.try_recv() {
                woken.push(client);
            }
            woken
        };
        let original = written("a", "value");
        let observe = |secret: &Secret| ObservedSecret::observe(secret);
        drive(
            &ctx,
            vec![
                watcher::Event::Init,
                watcher::Event::InitApply(observe(&original)),
                watcher::Event::InitDone,
            ],
        )
        .await;
        assert!(woken().is_empty());
        // The operator's own write: new data (and content hash), another label; same owner.
        let mut rewritten = written("a", "rotated");
        rewritten
            .metadata
            .labels
            .get_or_insert_with(Default::default)
            .insert("extra".into(), "1".into());
        drive(&ctx, vec![watcher::Event::Apply(observe(&rewritten))]).await;
        assert!(woken().is_empty(), "the operator's own write wakes nobody");
        // A team removes the owner reference; data and hash untouched.
        let mut released = rewritten.clone();
        released.metadata.owner_references = None;
        drive(&ctx, vec![watcher::Event::Apply(observe(&released))]).await;
        assert_eq!(
            woken(),
            [ObjectRef::new("a").within("team-a")],
            "its previous controller is woken"
        );
        // Given back (no controller before: nobody to tell), then moved to b.
        drive(&ctx, vec![watcher::Event::Apply(observe(&rewritten))]).await;
        assert!(woken().is_empty());
        let mut moved = rewritten.clone();
        if let Some(reference) = moved
            .metadata
            .owner_references
            .as_mut()
            .and_then(|r| r.first_mut())
        {
            reference.name = "b".into();
            reference.uid = "uid-b".into();
        }
        drive(&ctx, vec![watcher::Event::Apply(observe(&moved))]).await;
        assert_eq!(
            woken(),
            [
                ObjectRef::new("a").within("team-a"),
                ObjectRef::new("b").within("team-a")
            ],
            "the previous controller and the new one are woken"
        );
    }

    /// An owned Secret of `owner`, as the operator wrote it (`intact`) or altered since.
    fn owned_secret(name: &str, owner: &str, intact: bool) -> ObservedSecret {
        let mut secret = written(owner, "value");
        secret.metadata.name = Some(name.into());
        if !intact && let Some(data) = secret.data.as_mut() {
            data.insert(
                "AUTH0_CLIENT_SECRET".into(),
                k8s_openapi::ByteString(b"altered".to_vec()),
            );
        }
        ObservedSecret::observe(&secret)
    }

    #[tokio::test]
    async fn a_secret_a_list_delivers_tampered_wakes_its_owner() {
        let ctx = test_context();
        let mut triggers = ctx.take_triggers().expect("triggers");
        // The owner's pass may have run before the list (a GET that saw the Secret intact):
        // a list that delivers it tampered wakes that owner, not the others.
        drive(
            &ctx,
            vec![
                watcher::Event::Init,
                watcher::Event::InitApply(owned_secret("a-auth0", "a", false)),
                watcher::Event::InitApply(owned_secret("b-auth0", "b", true)),
                watcher::Event::InitDone,
            ],
        )
        .await;
        assert!(ctx.caches.owned_secrets.is_listed("team-a"));
        let woken = triggers.clients.try_recv().ok();
        assert_eq!(
            woken,
            Some(ObjectRef::new("a").within("team-a")),
            "the owner of the tampered Secret is woken"
        );
        assert!(
            triggers.clients.try_recv().is_err(),
            "no other wake-up (an intact Secret wakes nobody)"
        );
    }

    #[tokio::test]
    async fn a_secret_a_relist_no_longer_delivers_wakes_its_owner() {
        let ctx = test_context();
        let mut triggers = ctx.take_triggers().expect("triggers");
        // a's Secret was deleted while the watch was down: the relist after it no longer
        // delivers it, and a is woken (its pass recreates it); b's is listed again.
        drive_in(
            &ctx,
            "team-a",
            vec![
                watcher::Event::Init,
                watcher::Event::InitApply(owned_secret("a-auth0", "a", true)),
                watcher::Event::InitApply(owned_secret("b-auth0", "b", true)),
                watcher::Event::InitDone,
                watcher::Event::Init,
                watcher::Event::InitApply(owned_secret("b-auth0", "b", true)),
                watcher::Event::InitDone,
            ],
        )
        .await;
        assert!(ctx.caches.owned_secrets.get("team-a", "a-auth0").is_none());
        assert_eq!(
            triggers.clients.try_recv().ok(),
            Some(ObjectRef::new("a").within("team-a")),
            "the owner of the Secret gone is woken"
        );
        assert!(triggers.clients.try_recv().is_err(), "no other wake-up");
    }

    #[test]
    fn clients_granting_to_an_api_wake_on_its_readiness_id_and_deletion_not_on_a_sync() {
        let mut api = server();
        let new = GrantState::of(&api);
        api.status = Some(ready(1, ConditionStatus::True));
        let synced = GrantState::of(&api);
        assert!(synced.ready && synced.holds);
        assert_ne!(synced, new, "Ready: its clients may be granted now");
        let mut later = ready(1, ConditionStatus::True);
        later.last_sync_time = Some(Time(Timestamp::UNIX_EPOCH));
        api.status = Some(later);
        assert_eq!(GrantState::of(&api), synced, "a later sync changes nothing");
        let mut recreated = ready(1, ConditionStatus::True);
        recreated.resource_server_id = Some("rs2".into());
        api.status = Some(recreated);
        assert_ne!(GrantState::of(&api), synced, "created again: a new id");
        api.status = Some(ready(1, ConditionStatus::True));
        api.metadata.deletion_timestamp = Some(Time(Timestamp::UNIX_EPOCH));
        assert_ne!(GrantState::of(&api), synced, "deleting");
    }

    #[test]
    fn a_tenants_clients_wake_on_its_spec_and_ready_condition_only() {
        let mut tenant = AuthTenant::new(
            "acme",
            serde_json::from_value(json!({
                "domain": "acme.eu.auth0.com",
                "credentialsSecretRef": {"name": "auth0", "namespace": "nexus-system"},
            }))
            .expect("spec"),
        );
        tenant.metadata.generation = Some(1);
        let unchecked = tenant_state_hash(&tenant);
        tenant.status = Some(AuthTenantStatus {
            conditions: vec![new_condition(
                READY,
                ConditionStatus::True,
                "CredentialsValid",
                "",
                Some(1),
                Timestamp::UNIX_EPOCH,
            )],
            ..Default::default()
        });
        let checked = tenant_state_hash(&tenant);
        assert_ne!(checked, unchecked, "its Ready condition");
        tenant.metadata.resource_version = Some("9".into());
        assert_eq!(tenant_state_hash(&tenant), checked, "its own status write");
        tenant.metadata.generation = Some(2);
        assert_ne!(tenant_state_hash(&tenant), checked, "its spec");
    }
}
