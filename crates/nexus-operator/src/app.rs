//! Wiring of the subcommands: builds clients, metrics, servers and the controller, and shuts
//! them down gracefully on SIGTERM / Ctrl-C.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Api;
use kube::api::{Patch, PatchParams};
use kube::runtime::wait::{await_condition, conditions};
use prometheus_client::registry::Registry;
use tokio::sync::{RwLock, watch};

use auth0_mgmt::{self as auth0, Auth0Metrics, Auth0Registry};
use nexus_controller::metrics::ControllerMetrics;
use nexus_controller::{self as controller, Context, ControllerConfig};
use nexus_crd::FIELD_MANAGER;
use nexus_facade as facade;
use nexus_leader as leader;

use crate::cli::{Cli, Command, FacadeOnlyArgs, RunArgs};
use crate::health::Health;

/// Errors that stop the process.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// No usable kubeconfig or in-cluster configuration.
    #[error("cannot connect to Kubernetes: {0}")]
    KubeConfig(#[source] kube::Error),
    /// A Kubernetes API call failed.
    #[error("Kubernetes API error: {0}")]
    Kube(#[from] kube::Error),
    /// The HTTP client for Auth0 could not be built.
    #[error("Auth0 client: {0}")]
    Auth0(#[from] auth0::Auth0Error),
    /// A listener could not be bound or a server failed.
    #[error("server: {0}")]
    Io(#[from] std::io::Error),
    /// The facade failed.
    #[error("facade: {0}")]
    Facade(#[from] facade::FacadeError),
    /// The simulator failed.
    #[cfg(feature = "dev")]
    #[error("simulator: {0}")]
    Sim(#[from] auth0_sim::SimError),
    /// Leader election failed.
    #[error("leader election: {0}")]
    Leader(#[from] leader::LeaderError),
    /// Leadership was lost; the process exits so that it restarts cleanly.
    #[error("lost leadership of the Lease; exiting so a fresh process can compete again")]
    LeadershipLost,
    /// The CRDs could not be printed.
    #[error("CRD serialization: {0}")]
    Yaml(#[from] serde_saphyr::SerializeError),
    /// The namespace flags are invalid.
    #[error("{0}")]
    WatchArgs(#[from] crate::cli::WatchArgsError),
    /// Waiting for the CRDs to be established failed.
    #[error("waiting for CRDs: {0}")]
    Wait(#[from] kube::runtime::wait::Error),
    /// `plan` or `import` could not run.
    #[error("{0}")]
    Review(#[from] crate::review::ReviewError),
}

/// Runs the parsed command line; returns the process exit code (`plan` says 2 for changes).
pub async fn run(cli: Cli) -> Result<u8, AppError> {
    match cli.command {
        Command::Crd => {
            print!("{}", nexus_crd::crds_yaml()?);
            Ok(0)
        }
        #[cfg(feature = "dev")]
        Command::Auth0Sim(args) => Ok(auth0_sim::run(args).await.map(|()| 0)?),
        Command::Run(args) => run_operator(args).await.map(|()| 0),
        Command::Facade(args) => run_facade_only(args).await.map(|()| 0),
        #[cfg(feature = "dev")]
        Command::Dev(args) => crate::dev::run(args).await.map(|()| 0),
        Command::Plan(args) => Ok(crate::review::plan(args).await?),
        Command::Import(args) => Ok(crate::review::import(args).await?),
    }
}

/// A future that completes on SIGTERM or Ctrl-C (or [`Shutdown::trigger`]), shared by every
/// task.
#[derive(Clone)]
pub struct Shutdown {
    rx: watch::Receiver<bool>,
    tx: Arc<watch::Sender<bool>>,
}

impl Shutdown {
    /// Starts listening for the signals.
    pub fn on_signals() -> Self {
        let shutdown = Self::manual();
        let trigger = shutdown.clone();
        tokio::spawn(async move {
            wait_for_signal().await;
            tracing::info!("shutdown requested");
            trigger.trigger();
        });
        shutdown
    }

    /// A shutdown that only [`trigger`](Self::trigger) requests.
    pub fn manual() -> Self {
        let (tx, rx) = watch::channel(false);
        Self {
            rx,
            tx: Arc::new(tx),
        }
    }

    /// Requests shutdown (the process is stopping for a reason of its own, such as a lost
    /// lease).
    pub fn trigger(&self) {
        self.tx.send_replace(true);
    }

    /// Completes when shutdown was requested.
    pub async fn wait(mut self) {
        let _ = self.rx.wait_for(|stop| *stop).await;
    }
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// What every subcommand that talks to Kubernetes shares.
pub(crate) struct Common {
    pub(crate) kube: kube::Client,
    pub(crate) auth0: Auth0Registry,
    pub(crate) registry: Arc<RwLock<Registry>>,
    pub(crate) controller_metrics: ControllerMetrics,
    pub(crate) facade_metrics: facade::FacadeMetrics,
    pub(crate) health: Health,
}

impl Common {
    /// Binds and spawns the `/metrics`, `/healthz` and `/readyz` server on `--metrics-addr`,
    /// and the probe listener on `--probe-addr` when it is set, until `shutdown`. The task ends
    /// when both servers have stopped. A bind failure is returned at once.
    pub(crate) async fn spawn_metrics_server(
        &self,
        addr: std::net::SocketAddr,
        args: &crate::cli::MetricsServerArgs,
        shutdown: &Shutdown,
    ) -> std::io::Result<tokio::task::JoinHandle<std::io::Result<()>>> {
        let metrics_listener = listen(addr, "--metrics-addr").await?;
        let probe_listener = match args.probe_addr {
            Some(probe_addr) => Some(listen(probe_addr, "--probe-addr").await?),
            None => None,
        };
        let metrics = crate::health::serve_on(
            metrics_listener,
            self.registry.clone(),
            self.health.clone(),
            args.limits(),
            shutdown.clone().wait(),
        );
        let probes = probe_listener.map(|listener| {
            crate::health::serve_probes_on(
                listener,
                self.health.clone(),
                args.probe_limits(),
                shutdown.clone().wait(),
            )
        });
        Ok(tokio::spawn(async move {
            match probes {
                Some(probes) => {
                    let (metrics, probes) = tokio::join!(metrics, probes);
                    metrics.and(probes)
                }
                None => metrics.await,
            }
        }))
    }

    /// The controller's context on these clients and metrics.
    pub(crate) fn controller_context(&self, config: ControllerConfig) -> Arc<Context> {
        Arc::new(Context::new(
            self.kube.clone(),
            self.auth0.clone(),
            config,
            self.controller_metrics.clone(),
        ))
    }
}

pub(crate) async fn common(auth0_timeout: Duration) -> Result<Common, AppError> {
    auth0::install_crypto_provider();
    let kube = kube::Client::try_default()
        .await
        .map_err(AppError::KubeConfig)?;
    common_with(kube, auth0_timeout)
}

/// [`common`] with a given Kubernetes client (dev mode's embedded API).
pub(crate) fn common_with(kube: kube::Client, auth0_timeout: Duration) -> Result<Common, AppError> {
    auth0::install_crypto_provider();
    let http = auth0::default_http_client(auth0_timeout)?;
    let mut registry = Registry::default();
    let auth0_metrics = Auth0Metrics::new();
    auth0_metrics.register(&mut registry);
    let controller_metrics = ControllerMetrics::default();
    controller_metrics.register(&mut registry);
    let facade_metrics = facade::FacadeMetrics::default();
    facade_metrics.register(&mut registry);
    Ok(Common {
        kube,
        auth0: Auth0Registry::new(http, auth0_metrics),
        registry: Arc::new(RwLock::new(registry)),
        controller_metrics,
        facade_metrics,
        health: Health::default(),
    })
}

async fn run_operator(args: RunArgs) -> Result<(), AppError> {
    let scope = args.controller.watch.scope()?;
    let shutdown = Shutdown::on_signals();
    let common = common(Duration::from_secs(args.controller.auth0_timeout_seconds)).await?;
    let metrics_server = common
        .spawn_metrics_server(args.metrics_addr, &args.metrics_server, &shutdown)
        .await?;
    let facade_server = if args.facade {
        let mut config = facade::FacadeConfig::from_args(&args.facade_args)?;
        config.served = scope.clone();
        let listener = tokio::net::TcpListener::bind(args.facade_args.facade_addr).await?;
        Some(tokio::spawn(facade::serve(
            config,
            common.kube.clone(),
            common.auth0.clone(),
            common.facade_metrics.clone(),
            listener,
            shutdown.clone().wait(),
        )))
    } else {
        None
    };
    common.health.set_ready(true);
    let liveness = controller::Liveness::default();
    common
        .health
        .watch_controller(liveness.clone(), args.liveness_limits());

    let config = ControllerConfig {
        cluster_id: args.controller.cluster_id.clone(),
        resync_interval: Duration::from_secs(args.controller.resync_interval_seconds.max(1)),
        drift_scan_interval: Duration::from_secs(
            args.controller.drift_scan_interval_seconds.max(1),
        ),
        instance: args.leader.pod_name.clone(),
        concurrency: args.controller.concurrency.max(1),
        ..ControllerConfig::default()
    };
    let ctx = common.controller_context(config);
    let grace = args.stop_grace();
    // When shutdown was requested: every step of the stop (controller, Lease, servers) ends
    // within `grace` of it, so the process exits within its grace whatever is in flight.
    let requested = {
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            shutdown.wait().await;
            tokio::time::Instant::now()
        })
    };
    let result = if args.leader.leader_election {
        let elector = elector(&ctx, &args);
        lead(
            ctx,
            scope,
            elector,
            shutdown.clone().wait(),
            grace,
            liveness,
        )
        .await
    } else {
        reconcile(ctx, scope, shutdown.clone().wait(), grace, liveness).await;
        Ok(())
    };
    // The servers stop too, also when the process stops for a reason of its own (a lost
    // lease): a process that neither leads nor campaigns must not linger.
    shutdown.trigger();
    common.health.set_ready(false);
    let deadline = requested
        .await
        .unwrap_or_else(|_| tokio::time::Instant::now())
        + grace;
    if let Some(server) = facade_server {
        match tokio::time::timeout_at(deadline, server).await {
            Ok(Ok(Err(error))) => tracing::error!(%error, "facade stopped with an error"),
            Err(_) => tracing::warn!(?grace, "the facade did not stop in time; leaving it"),
            _ => {}
        }
    }
    match tokio::time::timeout_at(deadline, metrics_server).await {
        Ok(Ok(Err(error))) => tracing::error!(%error, "metrics server stopped with an error"),
        Err(_) => tracing::warn!(
            ?grace,
            "the metrics server did not stop in time; leaving it"
        ),
        _ => {}
    }
    result
}

/// Runs the controller (without leader election) until `shutdown` completes, then gives it
/// `grace` to stop before abandoning its reconciles (see [`lead`]).
pub async fn reconcile(
    ctx: Arc<Context>,
    scope: controller::WatchScope,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    grace: Duration,
    liveness: controller::Liveness,
) {
    run_controller(ctx, scope, shutdown, grace, liveness).await;
}

/// Campaigns for the Lease of `elector` and, once it holds it, runs the controller until
/// `shutdown` completes (then releases the Lease: `Ok`) or the Lease is lost
/// ([`AppError::LeadershipLost`], so that the process exits and restarts to campaign again).
///
/// Either way the controller gets `grace` to stop; reconciles still running after it (blocked
/// on an API server or an Auth0 tenant that does not answer) are dropped, which is safe (every
/// Auth0 write is crash-safe) and keeps the process from lingering as one that neither leads
/// nor campaigns: it returns within `renew_deadline + grace` of the last successful renewal.
pub async fn lead(
    ctx: Arc<Context>,
    scope: controller::WatchScope,
    elector: leader::LeaderElector,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    grace: Duration,
    liveness: controller::Liveness,
) -> Result<(), AppError> {
    tokio::pin!(shutdown);
    let leadership = tokio::select! {
        leadership = elector.acquire() => leadership?,
        () = &mut shutdown => return Ok(()),
    };
    let lost = leadership.clone();
    let stop = async move {
        tokio::select! {
            () = shutdown => false,
            () = lost.lost() => true,
        }
    };
    let deadline = match run_controller(ctx, scope, stop, grace, liveness).await {
        Some((true, _)) => return Err(AppError::LeadershipLost),
        Some((false, deadline)) => deadline,
        None => tokio::time::Instant::now() + grace,
    };
    // The release shares the controller's grace (one deadline from the shutdown request): a
    // stalled API server cannot hold the process for a second grace.
    match tokio::time::timeout_at(deadline, leadership.release()).await {
        Ok(released) => released?,
        Err(_) => tracing::warn!(
            ?grace,
            "could not release the lease in time; it expires after its duration"
        ),
    }
    Ok(())
}

/// Runs the controller until `stop` completes (its output is returned, with the deadline of
/// the stop: `grace` after `stop` completed), then signals it to stop and waits until that
/// deadline at most before dropping it, in-flight reconciles and all. `None`: the controller
/// returned by itself.
async fn run_controller<R>(
    ctx: Arc<Context>,
    scope: controller::WatchScope,
    stop: impl std::future::Future<Output = R>,
    grace: Duration,
    liveness: controller::Liveness,
) -> Option<(R, tokio::time::Instant)> {
    let (stop_tx, mut stop_rx) = watch::channel(false);
    let controller = controller::run_with(
        ctx,
        scope,
        async move {
            let _ = stop_rx.wait_for(|stop| *stop).await;
        },
        liveness,
    );
    tokio::pin!(controller);
    tokio::pin!(stop);
    let reason = tokio::select! {
        () = &mut controller => return None,
        reason = &mut stop => reason,
    };
    let deadline = tokio::time::Instant::now() + grace;
    let _ = stop_tx.send(true);
    if tokio::time::timeout_at(deadline, &mut controller)
        .await
        .is_err()
    {
        tracing::warn!(
            ?grace,
            "the controller did not stop in time; abandoning its in-flight reconciles (every Auth0 write is crash-safe)"
        );
    }
    Some((reason, deadline))
}

/// The elector of `run --leader-election`.
fn elector(ctx: &Context, args: &RunArgs) -> leader::LeaderElector {
    let identity = args
        .leader
        .pod_name
        .clone()
        .unwrap_or_else(|| format!("nexus-operator-{}", std::process::id()));
    let namespace = args
        .leader
        .lease_namespace
        .clone()
        .or_else(|| args.leader.pod_namespace.clone())
        .unwrap_or_else(|| "default".into());
    leader::LeaderElector::new(
        ctx.kube.clone(),
        leader::LeaseConfig::new(args.leader.lease_name.clone(), namespace, identity),
    )
}

async fn run_facade_only(args: FacadeOnlyArgs) -> Result<(), AppError> {
    let scope = args.watch.scope()?;
    let shutdown = Shutdown::on_signals();
    let common = common(Duration::from_secs(args.auth0_timeout_seconds)).await?;
    let metrics_server = common
        .spawn_metrics_server(args.metrics_addr, &args.metrics_server, &shutdown)
        .await?;
    let mut config = facade::FacadeConfig::from_args(&args.facade_args)?;
    config.served = scope;
    let listener = tokio::net::TcpListener::bind(args.facade_args.facade_addr).await?;
    common.health.set_ready(true);
    let result = facade::serve(
        config,
        common.kube,
        common.auth0,
        common.facade_metrics,
        listener,
        shutdown.wait(),
    )
    .await;
    if let Ok(Err(error)) = metrics_server.await {
        tracing::error!(%error, "metrics server stopped with an error");
    }
    Ok(result?)
}

/// Installs (server-side applies) the CRDs and waits until the API server serves them.
pub async fn install_crds(kube: &kube::Client) -> Result<(), AppError> {
    let api = Api::<CustomResourceDefinition>::all(kube.clone());
    let params = PatchParams::apply(FIELD_MANAGER).force();
    for crd in nexus_crd::crds() {
        let name = crd.metadata.name.clone().unwrap_or_default();
        api.patch(&name, &params, &Patch::Apply(&crd)).await?;
        tokio::time::timeout(
            Duration::from_secs(30),
            await_condition(api.clone(), &name, conditions::is_crd_established()),
        )
        .await
        .map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("CRD {name} not established after 30s"),
            )
        })??;
    }
    Ok(())
}

/// A listener bound on `addr`, the flag that names it in the error.
async fn listen(
    addr: std::net::SocketAddr,
    flag: &str,
) -> std::io::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr).await.map_err(|error| {
        std::io::Error::new(
            error.kind(),
            format!("cannot listen on {addr} ({flag}): {error}"),
        )
    })
}
