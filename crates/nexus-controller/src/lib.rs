//! The reconcilers of nexus-operator: `AuthClient`s ([`authclient`]) and
//! `AuthResourceServer`s ([`resourceserver`]), both run by one [`driver`] (resolve -> lookup ->
//! observe -> plan -> execute -> finish, over the shared vocabulary of [`pass`]), `AuthTenant`s
//! ([`authtenant`]), and the periodic drift scan ([`drift`]), over the caches of [`caches`];
//! [`governance`] decides which grants and connections a namespace may hold. [`run_with`] is
//! the list of what runs; each controller's wiring is a function beside it.

pub mod authclient;
pub mod authtenant;
pub mod caches;
pub mod compact;
pub mod context;
pub mod drift;
pub mod driver;
pub mod eager;
pub mod events;
pub mod feed;
pub mod governance;
pub mod keypair;
pub mod liveness;
mod locking;
pub mod marker;
pub mod metrics;
pub mod owned_secrets;
pub mod ownership;
pub mod pass;
pub mod resourceserver;
pub mod resync;
pub mod scope;
pub mod spec_warnings;
pub mod tenant_access;
#[cfg(test)]
mod testing;
pub mod wakeups;
pub mod watch_backoff;

use std::future::Future;
use std::sync::Arc;

use futures::{FutureExt as _, StreamExt, channel::mpsc, future};
use kube::runtime::reflector::{self, ObjectRef};
use kube::runtime::{Controller, WatchStreamExt, watcher};

pub use context::{Context, ControllerConfig};
pub use liveness::{Liveness, LivenessLimits};
pub use scope::WatchScope;

use wakeups::{drive_resource_servers, drive_tenants, wake_unready_after_outage};

use caches::{owned_secret_selector, strip};
use compact::{CachedAuthClient, cached_ref};
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
/// returns or is dropped. What runs: the AuthClient, AuthResourceServer and AuthTenant
/// controllers with their caches (`auth_clients`, `auth_resource_servers`,
/// `auth_tenants`), the Namespace and owned-Secret caches (`namespaces_and_secrets`), the
/// resync sweep, the drift scan and the heartbeat, until `shutdown`.
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
    let (client_store, drift_tx, clients_loop) =
        auth_clients(&ctx, &scope, &kube, triggers.clients, &liveness, &signal);
    let (servers_cache, server_drift_tx, servers_loop) = auth_resource_servers(
        &ctx,
        &scope,
        &kube,
        &client_store,
        triggers.servers,
        &liveness,
        &signal,
    );
    let (tenants_cache, tenants_loop) =
        auth_tenants(&ctx, &client_store, triggers.tenants, &liveness, &signal);
    let (namespaces_cache, secrets_cache) =
        namespaces_and_secrets(&ctx, &scope, &kube, &client_store, &signal);
    let resync = resync::sweep(ctx.clone(), client_store.clone(), signal());
    let scan_loop = drift::scan_every(
        ctx.clone(),
        client_store.clone(),
        drift_tx,
        server_drift_tx,
        signal(),
    );
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

/// The AuthClient controller: its compact cache (returned, the other parts wake AuthClients
/// from it), the sender of the drift scan's wake-ups, and the controller's loop, which starts
/// once the caches it reads are ready.
fn auth_clients<F, Fut>(
    ctx: &Arc<Context>,
    scope: &WatchScope,
    kube: &kube::Client,
    triggers: mpsc::UnboundedReceiver<ObjectRef<AuthClient>>,
    liveness: &Liveness,
    signal: &F,
) -> (
    reflector::Store<CachedAuthClient>,
    mpsc::UnboundedSender<ObjectRef<AuthClient>>,
    impl Future<Output = ()> + Send + use<F, Fut>,
)
where
    F: Fn() -> Fut,
    Fut: Future<Output = ()> + Send + Sync + 'static,
{
    // AuthClients: a reflector whose trigger stream passes only changes that matter (spec,
    // deletion, finalizers, rotation request), never the operator's own status writes.
    // Kept compact (`compact::CachedAuthClient`): stripped, the rest of the object as JSON.
    let (client_store, client_writer) = reflector::store::<CachedAuthClient>();
    let client_stream = scope
        .watch_partitions_as(
            kube,
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
    // AuthClients are reconciled only once the small caches they read hold the cluster's
    // state, so a (re)start never reports a tenant as missing that is merely not listed yet
    // (nor revokes a grant whose AuthResourceServer is merely not listed yet). The owned
    // Secrets (one per AuthClient) are not waited for: until their list completes, a pass reads
    // its own Secret by name (`Caches::owned_secret`).
    let clients_ready = caches_ready(ctx);
    // Its triggers, wake-ups and drift findings reach kube's scheduler only as passes start
    // (`feed`): kube keeps about 630 bytes per object waiting there.
    let wakes = futures::stream::select(triggers, drift_rx).map(cached_ref);
    let capacity = feed::capacity(ctx.config.concurrency);
    let (handed, passes) = feed::feed(client_stream, wakes, client_store.clone(), capacity);
    let clients_controller =
        Controller::for_stream(futures::stream::pending(), client_store.clone())
            .with_config(
                kube::runtime::controller::Config::default().concurrency(ctx.config.concurrency),
            )
            .reconcile_on(handed)
            .graceful_shutdown_on(signal())
            .run(
                observed(
                    liveness.clone(),
                    passes.starting(authclient::reconcile_cached),
                ),
                authclient::error_policy,
                ctx.clone(),
            )
            .inspect(move |result| passes.ended(result));
    let clients_loop = once_ready(
        clients_ready,
        logged("AuthClient", clients_controller),
        signal(),
    );
    (client_store, drift_tx, clients_loop)
}

/// The AuthResourceServer controller: its cache's loop (which wakes the AuthClients granting
/// to an API that changed), the sender of the drift scan's wake-ups, and the controller's
/// loop.
fn auth_resource_servers<F, Fut>(
    ctx: &Arc<Context>,
    scope: &WatchScope,
    kube: &kube::Client,
    client_store: &reflector::Store<CachedAuthClient>,
    triggers: mpsc::UnboundedReceiver<ObjectRef<AuthResourceServer>>,
    liveness: &Liveness,
    signal: &F,
) -> (
    impl Future<Output = ()> + Send + use<F, Fut>,
    mpsc::UnboundedSender<ObjectRef<AuthResourceServer>>,
    impl Future<Output = ()> + Send + use<F, Fut>,
)
where
    F: Fn() -> Fut,
    Fut: Future<Output = ()> + Send + Sync + 'static,
{
    // AuthResourceServers: the cache (which grant decisions read), the controller's triggers,
    // and the AuthClients woken when an API they grant to changes.
    let (server_tx, server_rx) = mpsc::unbounded::<Result<AuthResourceServer, watcher::Error>>();
    let servers_events = scope
        .watch(
            kube,
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
            .reconcile_on(triggers)
            .reconcile_on(server_drift_rx)
            .graceful_shutdown_on(signal())
            .run(
                observed(liveness.clone(), resourceserver::reconcile),
                resourceserver::error_policy,
                ctx.clone(),
            );
    let servers_loop = once_ready(
        caches_ready(ctx),
        logged("AuthResourceServer", servers_controller),
        signal(),
    );
    (servers_cache, server_drift_tx, servers_loop)
}

/// The AuthTenant controller: its cache's loop (with the credentials watches) and the
/// controller's loop.
fn auth_tenants<F, Fut>(
    ctx: &Arc<Context>,
    client_store: &reflector::Store<CachedAuthClient>,
    triggers: mpsc::UnboundedReceiver<ObjectRef<AuthTenant>>,
    liveness: &Liveness,
    signal: &F,
) -> (
    impl Future<Output = ()> + Send + use<F, Fut>,
    impl Future<Output = ()> + Send + use<F, Fut>,
)
where
    F: Fn() -> Fut,
    Fut: Future<Output = ()> + Send + Sync + 'static,
{
    // AuthTenants: the cache, the credentials watches, and the tenant controller's triggers.
    let (tenant_tx, tenant_rx) = mpsc::unbounded::<Result<AuthTenant, watcher::Error>>();
    let tenants_cache = drive_tenants(ctx.clone(), client_store.clone(), tenant_tx, signal());
    let tenants_controller = Controller::for_stream(tenant_rx, ctx.caches.tenants.reader())
        .reconcile_on(triggers)
        .graceful_shutdown_on(signal())
        .run(
            observed(liveness.clone(), authtenant::reconcile),
            authtenant::error_policy,
            ctx.clone(),
        );
    (tenants_cache, logged("AuthTenant", tenants_controller))
}

/// The caches of Namespace metadata and of the owned Secrets, with the wake-ups they send.
fn namespaces_and_secrets<F, Fut>(
    ctx: &Arc<Context>,
    scope: &WatchScope,
    kube: &kube::Client,
    client_store: &reflector::Store<CachedAuthClient>,
    signal: &F,
) -> (
    impl Future<Output = ()> + Send + use<F, Fut>,
    impl Future<Output = ()> + Send + use<F, Fut>,
)
where
    F: Fn() -> Fut,
    Fut: Future<Output = ()> + Send + Sync + 'static,
{
    // Namespace metadata (labels for allowedNamespaces.selector): every Namespace, or each
    // served one by name.
    let namespaces_cache = wakeups::drive_namespaces(
        ctx.clone(),
        client_store.clone(),
        scope
            .watch_namespaces(kube, ctx.caches.namespaces.reader())
            .modify(strip),
        signal(),
    );
    // Owned Secrets: cached; a deleted or tampered Secret wakes its owner.
    let secrets_cache = wakeups::drive_owned_secrets(
        ctx.clone(),
        scope.watch_partitions_as(
            kube,
            caches::fleet_watch().labels(&owned_secret_selector()),
            caches::observe_secrets,
        ),
        signal(),
    );
    (namespaces_cache, secrets_cache)
}

/// A controller's results, run to the end; its errors are logged at debug level (`kind` names
/// the controller).
fn logged<T, E: std::fmt::Display>(
    kind: &'static str,
    results: impl futures::Stream<Item = Result<T, E>>,
) -> impl Future<Output = ()> {
    results.for_each(move |result| async move {
        if let Err(error) = result {
            tracing::debug!(%error, "{kind} controller event");
        }
    })
}

/// `controller`, started once the caches it reads are `ready`, unless `stop` comes first.
async fn once_ready(ready: impl Future, controller: impl Future<Output = ()>, stop: impl Future) {
    tokio::select! {
        _ = ready => controller.await,
        _ = stop => {}
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

/// Completes once the caches a reconcile must see complete hold the cluster's state: the
/// tenants, the namespaces and the AuthResourceServers (a few objects each). Not the owned
/// Secrets, which grow with the fleet: an AuthClient pass reads its own Secret by name until
/// their list completes (`Caches::owned_secret`), and an AuthResourceServer pass reads none.
fn caches_ready(ctx: &Context) -> impl Future<Output = ()> + Send + 'static + use<> {
    let stores = (
        ctx.caches.tenants.reader(),
        ctx.caches.namespaces.reader(),
        ctx.caches.resource_servers.reader(),
    );
    async move {
        let _ = stores.0.wait_until_ready().await;
        let _ = stores.1.wait_until_ready().await;
        let _ = stores.2.wait_until_ready().await;
    }
}
