//! The reconcilers of nexus-operator: `AuthClient`s ([`authclient`], a resolve -> plan -> act
//! -> status pipeline), `AuthResourceServer`s ([`resourceserver`], the same pipeline),
//! `AuthTenant`s ([`authtenant`]), and the periodic drift scan ([`drift`]), over the caches of
//! [`caches`]; [`governance`] decides which grants and connections a namespace may hold.

pub mod authclient;
pub mod authtenant;
pub mod caches;
pub mod compact;
pub mod context;
pub mod drift;
pub mod eager;
pub mod events;
pub mod governance;
pub mod keypair;
pub mod liveness;
pub mod metrics;
pub mod ownership;
pub mod pass;
pub mod resourceserver;
pub mod resync;
pub mod scope;
pub mod spec_warnings;
pub mod tenant_access;
pub mod watch_backoff;

use std::collections::hash_map::DefaultHasher;
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use futures::{FutureExt as _, StreamExt, channel::mpsc, future};
use k8s_openapi::api::core::v1::Secret;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{Controller, WatchStreamExt, predicates, watcher};
use kube::{Api, ResourceExt};

pub use context::{Context, ControllerConfig};
pub use liveness::{Liveness, LivenessLimits};
pub use scope::WatchScope;

use authclient::secret::ObservedSecret;
use caches::{Credentials, SecretKey, owned_secret_selector, strip};
use compact::{CachedAuthClient, cached_ref};
use context::AccessFinding;
use nexus_crd::conditions::{self, READY};
use nexus_crd::{AuthClient, AuthResourceServer, AuthTenant};

/// Runs the AuthClient, AuthResourceServer and AuthTenant controllers, the caches and the
/// drift scan until `shutdown` completes. `scope` is what is served: the AuthClients,
/// AuthResourceServers, owned Secrets and Namespace metadata watched (a [`WatchScope`], or the
/// old `Option<String>`: None for all namespaces). AuthTenants are cluster-scoped and always
/// watched; each credentials Secret is watched by name wherever it is.
pub async fn run(
    ctx: Arc<Context>,
    scope: impl Into<WatchScope>,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) {
    run_with(ctx, scope, shutdown, Liveness::default()).await;
}

/// [`run`], reporting its progress to `liveness` (see [`liveness`]): running from the start,
/// a heartbeat while the loop is polled, each reconcile's start and end, stopped when it
/// returns or is dropped.
pub async fn run_with(
    ctx: Arc<Context>,
    scope: impl Into<WatchScope>,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
    liveness: Liveness,
) {
    let _running = liveness.running();
    let scope: WatchScope = scope.into();
    tracing::info!(%scope, "controller serves");
    let kube = ctx.kube.clone();
    let Some(triggers) = ctx.take_triggers() else {
        tracing::error!("the controller of this context is already running");
        return;
    };
    let (shutdown_tx, shutdown_rx) = tokio::sync::watch::channel(false);
    let signal = move || {
        let mut rx = shutdown_rx.clone();
        async move {
            let _ = rx.wait_for(|stop| *stop).await;
        }
    };
    // AuthClients: a reflector whose trigger stream passes only changes that matter (spec,
    // deletion, finalizers, rotation request), never the operator's own status writes.
    // Kept compact (`compact::CachedAuthClient`): stripped, the rest of the object as JSON.
    let (client_store, client_writer) = reflector::store::<CachedAuthClient>();
    let client_stream = scope
        .watch_partitions_as(
            &kube,
            caches::fleet_watch().any_semantic(),
            compact::cache_event,
        )
        .inspect({
            let mut after_outage = wake_unready_after_outage(ctx.clone(), client_store.clone());
            move |(_, event)| after_outage(event)
        });
    // Stored and reconciled as the initial lists page in (each served namespace's as it
    // arrives), not after them, and the operator's own finalizer writes without waiting for
    // the watch (`eager`). Whether an event starts a pass is decided against the stored
    // version it replaces (`compact::mark_wake`), not a cache of its own.
    let own_writes = ctx.caches.own_clients.subscribe().map(|client| {
        (
            Arc::<str>::from(eager::ALL),
            Ok(watcher::Event::Apply(CachedAuthClient::new(client))),
        )
    });
    let client_stream = compact::cache_and_trigger(
        futures::stream::select(client_stream, own_writes),
        client_store.clone(),
        client_writer,
    );

    let (drift_tx, drift_rx) = mpsc::unbounded::<ObjectRef<AuthClient>>();
    // AuthClients are reconciled only once the caches they read hold the cluster's state, so a
    // (re)start never reports a tenant as missing that is merely not listed yet (nor revokes a
    // grant whose AuthResourceServer is merely not listed yet).
    let clients_ready = caches_ready(&ctx);
    let clients_controller = Controller::for_stream(client_stream, client_store.clone())
        .with_config(
            kube::runtime::controller::Config::default().concurrency(ctx.config.concurrency),
        )
        .reconcile_on(triggers.clients.map(cached_ref))
        .reconcile_on(drift_rx.map(cached_ref))
        .graceful_shutdown_on(signal())
        .run(
            observed(liveness.clone(), authclient::reconcile_cached),
            authclient::error_policy,
            ctx.clone(),
        )
        .for_each(|result| async move {
            if let Err(error) = result {
                tracing::debug!(%error, "AuthClient controller event");
            }
        });
    let clients_stop = signal();
    let clients_loop = async move {
        tokio::select! {
            _ = clients_ready => clients_controller.await,
            _ = clients_stop => {}
        }
    };

    // AuthResourceServers: the cache (which grant decisions read), the controller's triggers,
    // and the AuthClients woken when an API they grant to changes.
    let (server_tx, server_rx) = mpsc::unbounded::<Result<AuthResourceServer, watcher::Error>>();
    let servers_events = scope
        .watch(
            &kube,
            watcher::Config::default(),
            ctx.caches.resource_servers.reader(),
        )
        .modify(strip);
    let servers_cache = drive_resource_servers(
        ctx.clone(),
        client_store.clone(),
        servers_events,
        server_tx,
        signal(),
    );
    let (server_drift_tx, server_drift_rx) = mpsc::unbounded::<ObjectRef<AuthResourceServer>>();
    let servers_controller =
        Controller::for_stream(server_rx, ctx.caches.resource_servers.reader())
            .with_config(
                kube::runtime::controller::Config::default().concurrency(ctx.config.concurrency),
            )
            .reconcile_on(triggers.servers)
            .reconcile_on(server_drift_rx)
            .graceful_shutdown_on(signal())
            .run(
                observed(liveness.clone(), resourceserver::reconcile),
                resourceserver::error_policy,
                ctx.clone(),
            )
            .for_each(|result| async move {
                if let Err(error) = result {
                    tracing::debug!(%error, "AuthResourceServer controller event");
                }
            });
    let servers_ready = caches_ready(&ctx);
    let servers_stop = signal();
    let servers_loop = async move {
        tokio::select! {
            _ = servers_ready => servers_controller.await,
            _ = servers_stop => {}
        }
    };

    // AuthTenants: the cache, the credentials watches, and the tenant controller's triggers.
    let (tenant_tx, tenant_rx) = mpsc::unbounded::<Result<AuthTenant, watcher::Error>>();
    let tenants_cache = drive_tenants(ctx.clone(), client_store.clone(), tenant_tx, signal());
    let tenants_loop = Controller::for_stream(tenant_rx, ctx.caches.tenants.reader())
        .reconcile_on(triggers.tenants)
        .graceful_shutdown_on(signal())
        .run(
            observed(liveness.clone(), authtenant::reconcile),
            authtenant::error_policy,
            ctx.clone(),
        )
        .for_each(|result| async move {
            if let Err(error) = result {
                tracing::debug!(%error, "AuthTenant controller event");
            }
        });

    // Namespace metadata (labels for allowedNamespaces.selector): every Namespace, or each
    // served one by name.
    let namespaces_cache = {
        let ctx = ctx.clone();
        let store = client_store.clone();
        let mut labels_seen: HashMap<String, u64> = HashMap::new();
        scope
            .watch_namespaces(&kube, ctx.caches.namespaces.reader())
            .modify(strip)
            .take_until(signal())
            .for_each(move |event| {
                if let Ok(event) = &event {
                    ctx.caches.namespaces.apply(event);
                    if let watcher::Event::Apply(ns) = event {
                        let hash = predicates::labels(ns).unwrap_or(0);
                        let name = ns.name_any();
                        if labels_seen
                            .insert(name.clone(), hash)
                            .is_some_and(|h| h != hash)
                        {
                            for client in store
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
                future::ready(())
            })
    };

    // Owned Secrets: cached; a deleted or tampered Secret wakes its owner (the operator's own
    // writes do not: their content hash matches their data).
    let secrets_cache = {
        let ctx = ctx.clone();
        scope
            .watch_as(
                &kube,
                caches::fleet_watch().labels(&owned_secret_selector()),
                ctx.caches.owned_secrets.reader(),
                caches::observe_secrets,
            )
            .take_until(signal())
            .for_each(move |event| {
                if let Ok(event) = &event {
                    ctx.caches.owned_secrets.apply(event);
                    match event {
                        watcher::Event::Delete(secret) => wake_owner(&ctx, secret),
                        watcher::Event::Apply(secret) if !secret.intact => wake_owner(&ctx, secret),
                        _ => {}
                    }
                }
                future::ready(())
            })
    };

    let resync = resync::sweep(ctx.clone(), client_store.clone(), signal());
    let scan_ctx = ctx.clone();
    let scan_stop = signal();
    let scan_loop = async move {
        tokio::pin!(scan_stop);
        let mut interval = tokio::time::interval(scan_ctx.config.drift_scan_interval);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        interval.tick().await; // the first tick is immediate: reconciles run first anyway
        loop {
            tokio::select! {
                _ = interval.tick() => {}
                _ = &mut scan_stop => break,
            }
            // A scan in flight is abandoned at shutdown (it only reads; the next start scans
            // again), so a scan of a large tenant never holds the process past its grace period.
            let scan = async {
                drift::scan_all(&scan_ctx, &client_store, &drift_tx).await;
                drift::scan_all_resource_servers(&scan_ctx, &server_drift_tx).await;
            };
            tokio::select! {
                _ = scan => {}
                _ = &mut scan_stop => break,
            }
        }
    };
    let stop = async move {
        shutdown.await;
        let _ = shutdown_tx.send(true);
    };
    let heartbeat_stop = signal();
    let heartbeat = async move {
        tokio::select! {
            () = liveness.heartbeat() => {}
            () = heartbeat_stop => {}
        }
    };
    tokio::join!(
        clients_loop,
        servers_loop,
        tenants_loop,
        tenants_cache,
        servers_cache,
        namespaces_cache,
        secrets_cache,
        scan_loop,
        resync,
        heartbeat,
        stop
    );
}

/// Watches the AuthClient watch's events for the end of an outage: the first event after
/// errors that says the API server answers again wakes every AuthClient that is not Ready.
/// Their reconciles failed during the outage and wait on their backoff (5 s doubling to
/// 5 min), which would otherwise delay convergence by minutes after a long outage.
fn wake_unready_after_outage(
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

/// `reconcile`, counted by `liveness` (in flight from its start until it finishes or is
/// dropped).
fn observed<K, C, F, Fut>(
    liveness: Liveness,
    mut reconcile: F,
) -> impl FnMut(Arc<K>, Arc<C>) -> future::BoxFuture<'static, Fut::Output>
where
    F: FnMut(Arc<K>, Arc<C>) -> Fut,
    Fut: Future + Send + 'static,
    Fut::Output: Send,
{
    move |object, ctx| {
        let guard = liveness.reconcile();
        let reconciling = reconcile(object, ctx);
        async move {
            let outcome = reconciling.await;
            drop(guard);
            outcome
        }
        .boxed()
    }
}

/// Completes once the caches a reconcile reads hold the cluster's state.
fn caches_ready(ctx: &Context) -> impl Future<Output = ()> + Send + 'static {
    let stores = (
        ctx.caches.tenants.reader(),
        ctx.caches.namespaces.reader(),
        ctx.caches.owned_secrets.reader(),
        ctx.caches.resource_servers.reader(),
    );
    async move {
        let _ = stores.0.wait_until_ready().await;
        let _ = stores.1.wait_until_ready().await;
        let _ = stores.2.wait_until_ready().await;
        let _ = stores.3.wait_until_ready().await;
    }
}

/// Whether a watch failed because the API server does not serve the kind (its CRD is not
/// installed).
fn kind_not_served(error: &watcher::Error) -> bool {
    matches!(
        error,
        watcher::Error::InitialListFailed(kube::Error::Api(status))
            | watcher::Error::WatchStartFailed(kube::Error::Api(status))
            if status.code == 404
    )
}

/// What, of an AuthResourceServer, the AuthClients granting to it depend on.
#[derive(Clone, Debug, PartialEq, Eq)]
struct GrantState {
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
fn wake_dependents(
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

/// Watches AuthResourceServers into the cache; sends the controller the objects whose spec,
/// deletion or finalizers changed (not its own status writes); wakes the dependents of an API
/// whose state changed ([`wake_dependents`]). When the CRD is not installed, the cache is empty
/// (there can be no AuthResourceServer) and the watch keeps retrying.
async fn drive_resource_servers(
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
        match event {
            watcher::Event::Apply(server) => {
                observe_server(
                    &ctx,
                    &clients,
                    &tx,
                    &mut triggers,
                    &mut states,
                    server,
                    true,
                );
            }
            watcher::Event::InitApply(server) => {
                observe_server(
                    &ctx,
                    &clients,
                    &tx,
                    &mut triggers,
                    &mut states,
                    server,
                    false,
                );
            }
            watcher::Event::Delete(server) => {
                let reference = ObjectRef::from_obj(&server);
                triggers.remove(&reference);
                states.remove(&reference);
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
                    }
                }
            }
        }
    }
}

/// One listed or changed AuthResourceServer (see [`drive_resource_servers`]). `live`: a change
/// seen by the watch, not the (re)list.
fn observe_server(
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

fn wake_owner(ctx: &Context, secret: &ObservedSecret) {
    if let (Some(namespace), Some(owner)) =
        (reflector::Lookup::namespace(secret), &secret.controller)
    {
        ctx.clients
            .wake(ObjectRef::new(&owner.name).within(&namespace));
    }
}

/// What, of a tenant, its clients depend on: the spec and the Ready condition.
fn tenant_state_hash(tenant: &AuthTenant) -> u64 {
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
async fn drive_tenants(
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
struct CredentialWatches(HashMap<SecretKey, tokio::task::JoinHandle<()>>);

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
fn prune_watches(ctx: &Context, watches: &mut HashMap<SecretKey, tokio::task::JoinHandle<()>>) {
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
fn watch_credentials(ctx: Arc<Context>, key: SecretKey) -> tokio::task::JoinHandle<()> {
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
