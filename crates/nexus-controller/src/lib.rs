//! The reconcile loop of `AuthClient`s and `AuthTenant`s, and the periodic drift scan.

pub mod authtenant;
pub mod context;
pub mod drift;
pub mod mapping;
pub mod metrics;
pub mod reconcile;
pub mod secret;
pub mod tenant_access;

use std::future::Future;
use std::sync::Arc;

use futures::{StreamExt, channel::mpsc};
use k8s_openapi::api::core::v1::Secret;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::{Controller, watcher};
use kube::{Api, ResourceExt};

pub use context::{Context, ControllerConfig};

use nexus_crd::{AuthClient, AuthTenant, MANAGED_BY_LABEL, MANAGED_BY_VALUE};

/// Runs the AuthClient controller, the AuthTenant controller and the drift scan until
/// `shutdown` completes. `namespace` limits the AuthClients watched (None: all namespaces).
pub async fn run(
    ctx: Arc<Context>,
    namespace: Option<String>,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) {
    let kube = ctx.kube.clone();
    let clients: Api<AuthClient> = match &namespace {
        Some(ns) => Api::namespaced(kube.clone(), ns),
        None => Api::all(kube.clone()),
    };
    let secrets: Api<Secret> = match &namespace {
        Some(ns) => Api::namespaced(kube.clone(), ns),
        None => Api::all(kube.clone()),
    };
    let tenants: Api<AuthTenant> = Api::all(kube.clone());
    let (shutdown_tx, shutdown_rx) = tokio::sync::watch::channel(false);
    let signal = move || {
        let mut rx = shutdown_rx.clone();
        async move {
            let _ = rx.wait_for(|stop| *stop).await;
        }
    };

    let (drift_tx, drift_rx) = mpsc::unbounded::<ObjectRef<AuthClient>>();
    let controller = Controller::new(clients, watcher::Config::default().any_semantic())
        .with_config(
            kube::runtime::controller::Config::default().concurrency(ctx.config.concurrency),
        );
    let store = controller.store();
    let tenant_store = store.clone();
    let clients_loop = controller
        .owns(
            secrets,
            watcher::Config::default().labels(&format!("{MANAGED_BY_LABEL}={MANAGED_BY_VALUE}")),
        )
        // A tenant change (spec, or its Ready status: the tenant controller writes status only
        // when it changes) requeues every AuthClient that uses the tenant.
        .watches(
            tenants.clone(),
            watcher::Config::default(),
            move |tenant: AuthTenant| {
                let name = tenant.name_any();
                tenant_store
                    .state()
                    .into_iter()
                    .filter(|c| c.spec.tenant == name)
                    .map(|c| ObjectRef::from_obj(&*c))
                    .collect::<Vec<_>>()
            },
        )
        .reconcile_on(drift_rx)
        .graceful_shutdown_on(signal())
        .run(reconcile::reconcile, reconcile::error_policy, ctx.clone())
        .for_each(|result| async move {
            if let Err(error) = result {
                tracing::debug!(%error, "AuthClient controller event");
            }
        });

    let tenants_loop = Controller::new(tenants, watcher::Config::default().any_semantic())
        .graceful_shutdown_on(signal())
        .run(
            authtenant::reconcile_tenant,
            authtenant::tenant_error_policy,
            ctx.clone(),
        )
        .for_each(|result| async move {
            if let Err(error) = result {
                tracing::debug!(%error, "AuthTenant controller event");
            }
        });

    let scan_ctx = ctx.clone();
    let scan_stop = signal();
    let scan_loop = async move {
        tokio::pin!(scan_stop);
        let mut interval = tokio::time::interval(scan_ctx.config.drift_scan_interval);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        interval.tick().await; // the first tick is immediate: reconciles run first anyway
        loop {
            tokio::select! {
                _ = interval.tick() => {
                    drift::scan_all(&scan_ctx, &store, &drift_tx).await;
                }
                _ = &mut scan_stop => break,
            }
        }
    };
    let stop = async move {
        shutdown.await;
        let _ = shutdown_tx.send(true);
    };
    tokio::join!(clients_loop, tenants_loop, scan_loop, stop);
}
