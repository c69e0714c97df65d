//! Fault tests (issue 22): the control plane or Auth0 goes away mid-convergence and comes back;
//! each test asserts the outcome (every AuthClient Ready, exactly one Auth0 application per
//! AuthClient, the requests spent bounded) and prints its figures on a `FAULT-BENCH` line,
//! which `docs/benchmarks.md` gathers:
//!
//! ```sh
//! cargo test -p nexus-operator --test faults -- --nocapture 2>/dev/null | grep FAULT-BENCH
//! ```
//!
//! Everything runs in the test process on tokio's paused clock (`nexus_testing::paused`): the
//! in-memory API server (`kube_fake::FakeKube`) served over real HTTP on loopback through a
//! listener the test stops and starts ([`kube_fake::ServedApi`]), the Auth0 simulator, and the
//! operator's own run functions ([`app::reconcile`] without leader election, [`app::lead`] with
//! it). Outages and recoveries are virtual time: a 60 s outage costs no real minute.

use nexus_testing as support;
use nexus_testing::world;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use auth0_sim::{FaultScope, Faults, SimHandle};
use kube::Api;
use kube::api::{DeleteParams, PostParams};
use kube_fake::{FakeKube, ServedApi, Verb};
use nexus_controller::metrics::ControllerMetrics;
use nexus_controller::{Context, ControllerConfig, Liveness, LivenessLimits, WatchScope};
use nexus_leader::{LeaderElector, LeaseConfig};
use nexus_operator::app::{self, AppError, Shutdown};
use nexus_operator::health::Health;
use serde_json::{Value, json};
use tokio::task::JoinHandle;
use tokio::time::Instant;

const TENANT: &str = "acme";
const NS: &str = "team-a";
const CREDS_NS: &str = "nexus-system";
/// AuthClients per test: enough that a fault lands mid-convergence at the tenant's rate limit.
const CLIENTS: usize = 24;
/// The tenant's Auth0 rate limit (requests per second): convergence takes a few virtual
/// seconds, so the fault lands in the middle of it.
const TENANT_RPS: u32 = 4;
/// Ready AuthClients when the fault starts.
const READY_AT_FAULT: usize = 4;
/// The operator's stop grace (`--stop-grace-seconds`' default).
const GRACE: Duration = Duration::from_secs(5);
/// The delay a restarted container waits (the kubelet's first CrashLoopBackOff step).
const RESTART_DELAY: Duration = Duration::from_secs(10);
/// Upper bound (virtual) of every wait for convergence.
const CONVERGE: Duration = Duration::from_secs(900);

/// The tests of this file run one at a time: each stops and restarts a listener on a port the
/// kernel could hand to another test's server meanwhile (and they are many loopback requests
/// on a paused clock each). Taken before anything starts; held until the test ends.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The API server, the simulator and the objects of one test.
struct World {
    kube: FakeKube,
    api: ServedApi,
    sim: SimHandle,
    kubeconfig: PathBuf,
    dir: PathBuf,
    _watchdog: support::paused::Watchdog,
    _serial: tokio::sync::MutexGuard<'static, ()>,
}

impl World {
    async fn new() -> Self {
        let serial = SERIAL.lock().await;
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
        let watchdog = support::paused::Watchdog::arm(Duration::from_secs(120));
        let sim = world::start_sim(world::sim_config(1000)).await;
        let kube = FakeKube::new();
        world::serve_resource_servers(&kube);
        kube.insert(world::namespace(NS));
        kube.insert(credentials(&sim));
        kube.insert(world::tenant(
            TENANT,
            &sim,
            (CREDS_NS, "acme-m2m"),
            (TENANT_RPS, TENANT_RPS),
            &[NS],
        ));
        for i in 0..CLIENTS {
            kube.insert(world::authclient(
                NS,
                &format!("app-{i:02}"),
                TENANT,
                &format!("App {i:02}"),
            ));
        }
        let api = kube
            .serve_stoppable("127.0.0.1:0".parse().expect("addr"))
            .await
            .expect("serve the fake API");
        let dir = support::scratch_dir("faults");
        let kubeconfig = support::write_kubeconfig(&dir, api.addr());
        Self {
            kube,
            api,
            sim,
            kubeconfig,
            dir,
            _watchdog: watchdog,
            _serial: serial,
        }
    }

    /// A fresh operator context talking to the API over HTTP (what a new process builds).
    async fn context(&self) -> Arc<Context> {
        let client = support::client_from_kubeconfig(&self.kubeconfig).await;
        Arc::new(Context::new(
            client,
            world::auth0_registry(Duration::from_secs(15)),
            ControllerConfig {
                cluster_id: "faults".into(),
                instance: Some("nexus-operator-0".into()),
                ..ControllerConfig::default()
            },
            ControllerMetrics::default(),
        ))
    }

    /// How many AuthClients are Ready=True (read from the fake directly: no request).
    fn ready(&self) -> usize {
        ready_clients(&self.kube)
    }

    async fn wait_ready(&self, at_least: usize, within: Duration) -> bool {
        self.kube
            .wait_until(within, |k| ready_clients(k) >= at_least)
            .await
    }

    /// A world with the operator started (with or without `leader_election`) and its
    /// convergence under way (see [`World::mid_convergence`]); returns them and how many
    /// AuthClients were Ready.
    async fn mid_convergence_with(leader_election: bool) -> (Self, Operator, usize) {
        let world = Self::new().await;
        let operator = Operator::start(&world, leader_election).await;
        let ready = world.mid_convergence().await;
        (world, operator, ready)
    }

    /// Stops `operator` (cleanly, within its grace), then the world.
    async fn stop(self, operator: Operator) {
        operator.stop().await;
        self.shutdown().await;
    }

    /// Waits for the convergence to be under way, then returns how many were Ready.
    async fn mid_convergence(&self) -> usize {
        assert!(
            self.wait_ready(READY_AT_FAULT, CONVERGE).await,
            "convergence starts"
        );
        let ready = self.ready();
        assert!(
            ready < CLIENTS,
            "the fault must land mid-convergence ({ready} of {CLIENTS} already Ready)"
        );
        ready
    }

    /// Exactly one Auth0 application per AuthClient, and no other.
    /// Waits until every AuthClient is Ready `when` (what came back), asserts one Auth0
    /// application each, and returns the (virtual) time since `back`.
    async fn recovered(&self, back: Instant, when: &str) -> Duration {
        assert!(
            self.wait_ready(CLIENTS, CONVERGE).await,
            "every AuthClient Ready {when} ({} of {CLIENTS})",
            self.ready()
        );
        let recovery = back.elapsed();
        self.assert_one_application_each();
        recovery
    }

    fn assert_one_application_each(&self) {
        let mut names: Vec<String> = self
            .sim
            .clients()
            .iter()
            .filter_map(|c| c["name"].as_str().map(str::to_owned))
            .collect();
        names.sort();
        let expected: Vec<String> = (0..CLIENTS).map(|i| format!("App {i:02}")).collect();
        assert_eq!(names, expected, "one Auth0 application per AuthClient");
    }

    async fn shutdown(self) {
        self.api.stop();
        self.sim.shutdown().await;
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn credentials(sim: &SimHandle) -> Value {
    world::sim_m2m_secret(sim, CREDS_NS, "acme-m2m")
}

fn ready_clients(kube: &FakeKube) -> usize {
    kube.list(&world::authclients_path(NS))
        .iter()
        .filter(|c| support::is_ready(c))
        .count()
}

/// The operator, running as `run --leader-election=false` or `run` (with leader election)
/// does, restarted the way the kubelet restarts a container that exited with an error.
struct Operator {
    shutdown: Shutdown,
    liveness: Liveness,
    restarts: Arc<AtomicUsize>,
    task: JoinHandle<Result<(), AppError>>,
}

impl Operator {
    async fn start(world: &World, leader_election: bool) -> Self {
        let shutdown = Shutdown::manual();
        let liveness = Liveness::default();
        let restarts = Arc::new(AtomicUsize::new(0));
        let kubeconfig = world.kubeconfig.clone();
        let first = world.context().await;
        let task = tokio::spawn({
            let (shutdown, liveness, restarts) =
                (shutdown.clone(), liveness.clone(), restarts.clone());
            async move {
                if !leader_election {
                    app::reconcile(first, WatchScope::All, shutdown.wait(), GRACE, liveness).await;
                    return Ok(());
                }
                let config = first.config.clone();
                let mut ctx = first;
                loop {
                    let elector = LeaderElector::new(
                        ctx.kube.clone(),
                        LeaseConfig::new("nexus-operator", CREDS_NS, "nexus-operator-0"),
                    );
                    let outcome = app::lead(
                        ctx,
                        WatchScope::All,
                        elector,
                        shutdown.clone().wait(),
                        GRACE,
                        liveness.clone(),
                    )
                    .await;
                    match outcome {
                        Err(AppError::LeadershipLost) => {
                            // The process exits non-zero; the kubelet starts a new one.
                            restarts.fetch_add(1, Ordering::SeqCst);
                            tokio::time::sleep(RESTART_DELAY).await;
                            let client = support::client_from_kubeconfig(&kubeconfig).await;
                            ctx = Arc::new(Context::new(
                                client,
                                world::auth0_registry(Duration::from_secs(15)),
                                config.clone(),
                                ControllerMetrics::default(),
                            ));
                        }
                        other => return other,
                    }
                }
            }
        });
        Self {
            shutdown,
            liveness,
            restarts,
            task,
        }
    }

    fn restarts(&self) -> usize {
        self.restarts.load(Ordering::SeqCst)
    }

    async fn stop(self) {
        self.shutdown.trigger();
        let outcome = tokio::time::timeout(Duration::from_secs(60), self.task)
            .await
            .expect("the operator stops within its grace")
            .expect("the operator task did not panic");
        assert!(outcome.is_ok(), "stopped cleanly: {outcome:?}");
    }
}

/// One `FAULT-BENCH` line (gathered into docs/benchmarks.md).
fn report(fault: &str, recovery: Duration, during: &str, after: usize, restarts: usize) {
    println!(
        "FAULT-BENCH | {fault} | {:.1} s virtual | {during} | {after} | {restarts} |",
        recovery.as_secs_f64()
    );
}

/// The API server unreachable (listener closed, open watches dropped) for `outage`, then back
/// with its state; the operator must converge every AuthClient without a manual restart.
async fn api_server_unreachable(outage: Duration, leader_election: bool) {
    let (world, operator, _) = World::mid_convergence_with(leader_election).await;
    let health = Health::default();
    health.watch_controller(operator.liveness.clone(), LivenessLimits::default());

    world.api.stop();
    let auth0_before = world.sim.counters().total();
    tokio::time::sleep(outage).await;
    if !leader_election {
        // A normal outage: the process can still do its job once the API returns, so the
        // liveness probe must not fail (a restart would not bring the API server back).
        assert_eq!(health.liveness(), Ok(()), "alive through the outage");
    }
    let auth0_during = world.sim.counters().total() - auth0_before;

    world.kube.clear_requests();
    world.api.start().await.expect("the API server is back");
    let back = Instant::now();
    let recovery = world.recovered(back, "after the outage").await;
    let counts = world.kube.request_counts();
    // Recovering costs a bounded number of API requests: the watches resume (no relist storm:
    // the event log still holds their resourceVersions) and each remaining client is
    // reconciled, a handful of requests each.
    let lists = counts.get(Verb::List, "authclients");
    assert!(lists <= 2, "AuthClients listed {lists} times:\n{counts}");
    assert!(
        counts.total() <= 20 * CLIENTS,
        "{} requests to recover:\n{counts}",
        counts.total()
    );
    let restarts = operator.restarts();
    if leader_election && outage > Duration::from_secs(10) {
        assert!(
            restarts >= 1,
            "the lease was lost and the process restarted"
        );
    }
    report(
        &format!(
            "API server unreachable {} s, leader election {}",
            outage.as_secs(),
            if leader_election { "on" } else { "off" }
        ),
        recovery,
        &format!("0 (connections refused); {auth0_during} Auth0"),
        counts.total(),
        restarts,
    );
    world.stop(operator).await;
}

#[tokio::test(start_paused = true)]
async fn api_server_unreachable_10s_without_leader_election() {
    api_server_unreachable(Duration::from_secs(10), false).await;
}

#[tokio::test(start_paused = true)]
async fn api_server_unreachable_60s_without_leader_election() {
    api_server_unreachable(Duration::from_secs(60), false).await;
}

#[tokio::test(start_paused = true)]
async fn api_server_unreachable_10s_with_leader_election() {
    api_server_unreachable(Duration::from_secs(10), true).await;
}

#[tokio::test(start_paused = true)]
async fn api_server_unreachable_60s_with_leader_election() {
    api_server_unreachable(Duration::from_secs(60), true).await;
}

/// The API server up but answering `status` to everything for a minute.
async fn api_server_failing(status: u16) {
    let (world, operator, _) = World::mid_convergence_with(false).await;
    let health = Health::default();
    health.watch_controller(operator.liveness.clone(), LivenessLimits::default());

    world.kube.clear_requests();
    world.kube.set_outage(Some(status));
    // The open watches end too (a restarted API server behind its load balancer), so they
    // meet the failures when they resume.
    world.api.start().await.expect("connections dropped");
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(health.liveness(), Ok(()), "alive through the outage");
    let during = world.kube.request_counts();
    world.kube.set_outage(None);
    world.kube.clear_requests();
    let back = Instant::now();
    let recovery = world.recovered(back, "after the outage").await;
    let after = world.kube.request_counts();
    // Bounded during the outage, no retry storm: each of the 6 watches retries after 0.8, 1.6,
    // 3.2, 6.4, then every 8 to 10 s (at most 14 attempts in a minute); each failing client
    // after 5, 10, 20, 40 s (its reconcile backoff: at most 5 attempts of at most 3 requests).
    let bound = 6 * 14 + CLIENTS * 5 * 3;
    assert!(
        during.total() <= bound,
        "{} requests during the outage:\n{during}",
        during.total()
    );
    let lists = after.get(Verb::List, "authclients");
    assert!(lists <= 2, "AuthClients listed {lists} times:\n{after}");
    report(
        &format!("API server answering {status} for 60 s"),
        recovery,
        &format!("{} refused", during.total()),
        after.total(),
        0,
    );
    world.stop(operator).await;
}

#[tokio::test(start_paused = true)]
async fn api_server_answering_503_for_a_minute() {
    api_server_failing(503).await;
}

#[tokio::test(start_paused = true)]
async fn api_server_answering_429_for_a_minute() {
    api_server_failing(429).await;
}

/// Every watch dropped while the event log was compacted: each resumes with a resourceVersion
/// that is gone, gets `410 Gone` and relists once (not a storm), and convergence continues.
#[tokio::test(start_paused = true)]
async fn watches_dropped_and_410_gone_on_resume() {
    let (world, operator, _) = World::mid_convergence_with(false).await;
    world.kube.clear_requests();
    world.kube.compact();
    world.api.start().await.expect("connections dropped");
    let back = Instant::now();
    let recovery = world.recovered(back, "after the resume").await;
    let counts = world.kube.request_counts();
    // Every watch resumed from a resourceVersion the compaction dropped, got 410 and relisted
    // once: a list per kind (the AuthClients by a streaming watch list), not a storm.
    for kind in ["authtenants", "authresourceservers", "namespaces"] {
        let lists = counts.get(Verb::List, kind);
        assert!(
            (1..=2).contains(&lists),
            "{kind} relisted {lists} times:\n{counts}"
        );
    }
    assert!(
        counts.get(Verb::List, "secrets") <= 4,
        "Secrets relisted too often:\n{counts}"
    );
    assert!(
        counts.get(Verb::List, "authclients") + counts.get(Verb::Watch, "authclients") <= 3,
        "AuthClients relisted too often:\n{counts}"
    );
    report(
        "watches dropped, 410 Gone on resume",
        recovery,
        "0",
        counts.total(),
        0,
    );
    world.stop(operator).await;
}

/// Auth0 unreachable (every connection closed unanswered) for a minute mid-convergence.
#[tokio::test(start_paused = true)]
async fn auth0_unreachable_for_a_minute() {
    let (world, operator, ready_at_fault) = World::mid_convergence_with(false).await;
    let health = Health::default();
    health.watch_controller(operator.liveness.clone(), LivenessLimits::default());

    world.sim.reset_counters();
    world.kube.clear_requests();
    world.sim.set_faults(Faults {
        drop_rate: 1.0,
        scope: FaultScope::All,
        ..Faults::default()
    });
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(health.liveness(), Ok(()), "alive through the outage");
    let during = world.sim.counters();
    let auth0_during = during.total();
    let kube_during = world.kube.request_count();
    world.sim.set_faults(Faults::none());
    world.kube.clear_requests();
    let back = Instant::now();
    let recovery = world.recovered(back, "after Auth0 returned").await;
    // Each client not yet Ready retries on its backoff (5, 10, 20, 40 s, jittered): within the
    // minute, one create whose answer is lost, then three or four look-ups by its ownership tag
    // (the create may have reached Auth0), each a GET the Auth0 client sends at most 3 times (2
    // transport retries): at most 1 + 4 x 3 = 13 requests each (measured: 200 to 203 for 20
    // clients, 20 POSTs and the rest look-ups). A retry without backoff would be hundreds.
    let failing = (CLIENTS - ready_at_fault) as u64;
    assert!(
        auth0_during <= 13 * failing,
        "{auth0_during} Auth0 requests during the outage ({failing} clients not Ready): {during:?}"
    );
    report(
        "Auth0 unreachable for 60 s",
        recovery,
        &format!("{auth0_during} Auth0, {kube_during} API"),
        world.kube.request_count(),
        0,
    );
    world.stop(operator).await;
}

/// The tenant's credentials Secret deleted mid-convergence, restored a minute later.
#[tokio::test(start_paused = true)]
async fn credentials_secret_deleted_and_restored() {
    let (world, operator, _) = World::mid_convergence_with(false).await;
    let admin = support::client_from_kubeconfig(&world.kubeconfig).await;
    let secrets = Api::<k8s_openapi::api::core::v1::Secret>::namespaced(admin, CREDS_NS);
    secrets
        .delete("acme-m2m", &DeleteParams::default())
        .await
        .expect("credentials deleted");
    let tenant_path = world::authtenant_path(TENANT);
    let tenant_not_ready = |k: &FakeKube| {
        k.get(&tenant_path)
            .and_then(|t| t.pointer("/status/conditions").cloned())
            .and_then(|c| c.as_array().cloned())
            .is_some_and(|c| {
                c.iter()
                    .any(|c| c["type"] == "Ready" && c["status"] == "False")
            })
    };
    assert!(
        world
            .kube
            .wait_until(Duration::from_secs(60), tenant_not_ready)
            .await,
        "the tenant reports its missing credentials"
    );
    tokio::time::sleep(Duration::from_secs(60)).await;
    let stalled = world.ready();
    world.kube.clear_requests();
    let restored: k8s_openapi::api::core::v1::Secret =
        serde_json::from_value(credentials(&world.sim)).expect("secret");
    secrets
        .create(&PostParams::default(), &restored)
        .await
        .expect("credentials restored");
    let back = Instant::now();
    let recovery = world
        .recovered(back, "after the credentials returned")
        .await;
    assert!(stalled < CLIENTS);
    report(
        "credentials Secret deleted for 60 s",
        recovery,
        "-",
        world.kube.request_count(),
        0,
    );
    world.stop(operator).await;
}

/// A TCP server that accepts connections and never answers: an Auth0 tenant (or API server)
/// that hangs every request. Returns its address and how many connections it accepted.
async fn black_hole() -> (std::net::SocketAddr, Arc<AtomicUsize>, JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let accepted = Arc::new(AtomicUsize::new(0));
    let task = tokio::spawn({
        let accepted = accepted.clone();
        async move {
            let mut held = Vec::new();
            while let Ok((stream, _)) = listener.accept().await {
                accepted.fetch_add(1, Ordering::SeqCst);
                held.push(stream);
            }
        }
    });
    (addr, accepted, task)
}

/// A fake API (in-process client) whose tenant points at a black hole: the tenant's reconcile
/// hangs on its token request (the Auth0 client's timeout is an hour here).
fn stuck_world(hole: std::net::SocketAddr) -> (FakeKube, Arc<Context>) {
    let kube = FakeKube::new();
    kube.insert(world::m2m_secret(CREDS_NS, "acme-m2m", "id", "secret"));
    kube.insert(json!({
        "apiVersion": world::api_version(),
        "kind": "AuthTenant",
        "metadata": {"name": TENANT},
        "spec": {
            "domain": "hole.example.com",
            "endpoint": format!("http://{hole}"),
            "credentialsSecretRef": {"namespace": CREDS_NS, "name": "acme-m2m"},
            "allowedNamespaces": {"names": [NS]},
        }
    }));
    let ctx = Arc::new(Context::new(
        kube.client(),
        world::auth0_registry(Duration::from_secs(3600)),
        ControllerConfig {
            cluster_id: "faults".into(),
            ..ControllerConfig::default()
        },
        ControllerMetrics::default(),
    ));
    (kube, ctx)
}

/// The lease cannot be renewed while a reconcile hangs on an Auth0 tenant that never answers:
/// `lead` still returns `LeadershipLost` within `renew_deadline + retry_period + grace` (the
/// process exits and the kubelet restarts it), instead of waiting for the hung reconcile as
/// the controller's graceful shutdown does.
#[tokio::test(start_paused = true)]
async fn lost_lease_returns_within_the_grace_despite_a_hung_reconcile() {
    let _serial = SERIAL.lock().await;
    let _watchdog = support::paused::Watchdog::arm(Duration::from_secs(300));
    let (hole, accepted, _hole_task) = black_hole().await;
    let (kube, ctx) = stuck_world(hole);
    let config = LeaseConfig::new("nexus-operator", CREDS_NS, "nexus-operator-0");
    let (renew_deadline, retry_period) = (config.renew_deadline, config.retry_period);
    let elector = LeaderElector::new(kube.client(), config);
    let liveness = Liveness::default();
    let leading = tokio::spawn(app::lead(
        ctx,
        WatchScope::All,
        elector,
        std::future::pending(),
        GRACE,
        liveness.clone(),
    ));
    // The tenant's reconcile is hanging on the black hole.
    while accepted.load(Ordering::SeqCst) == 0 {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    support::paused::settle().await;
    assert_eq!(liveness.in_flight(), 1, "a reconcile is hanging");
    let lease = kube
        .get(&format!(
            "/apis/coordination.k8s.io/v1/namespaces/{CREDS_NS}/leases/nexus-operator"
        ))
        .expect("the lease exists");
    assert_eq!(lease["spec"]["holderIdentity"], "nexus-operator-0");

    // The API server stops accepting the renewals.
    kube.fail_next("*", "/leases/", 503, usize::MAX);
    let failing = Instant::now();
    let outcome = tokio::time::timeout(Duration::from_secs(600), leading)
        .await
        .expect("lead returns after losing the lease (it used to wait for the hung reconcile)")
        .expect("no panic");
    assert!(
        matches!(outcome, Err(AppError::LeadershipLost)),
        "{outcome:?}"
    );
    let took = failing.elapsed();
    assert!(
        took <= renew_deadline + retry_period + GRACE,
        "returned {took:?} after the renewals started failing"
    );
    // Whatever keeps the process alive now, /healthz says it can no longer do its job.
    let health = Health::default();
    health.watch_controller(liveness, LivenessLimits::default());
    let failure = health
        .liveness()
        .expect_err("a stopped controller is not alive");
    assert!(failure.contains("stopped"), "{failure}");
}

/// A controller whose reconciles stop finishing makes `/healthz` fail, while an idle one (or
/// one that keeps finishing reconciles) is healthy for as long as it runs.
#[tokio::test(start_paused = true)]
async fn a_stalled_controller_fails_healthz() {
    use tower::ServiceExt as _;
    let _serial = SERIAL.lock().await;
    let _watchdog = support::paused::Watchdog::arm(Duration::from_secs(300));
    let (hole, accepted, _hole_task) = black_hole().await;
    let (_kube, ctx) = stuck_world(hole);
    let liveness = Liveness::default();
    let health = Health::default();
    let limits = LivenessLimits {
        stall: Duration::from_secs(600),
        ..LivenessLimits::default()
    };
    health.watch_controller(liveness.clone(), limits);
    let registry = Arc::new(tokio::sync::RwLock::new(
        prometheus_client::registry::Registry::default(),
    ));
    let probe = |health: Health| {
        let router = nexus_operator::health::router(registry.clone(), health);
        async move {
            let response = router
                .oneshot(
                    http::Request::get("/healthz")
                        .body(axum::body::Body::empty())
                        .expect("request"),
                )
                .await
                .expect("response");
            let status = response.status().as_u16();
            let body = axum::body::to_bytes(response.into_body(), 1 << 16)
                .await
                .expect("body");
            (status, String::from_utf8_lossy(&body).into_owned())
        }
    };
    assert_eq!(probe(health.clone()).await.0, 200, "healthy before it runs");
    let shutdown = Shutdown::manual();
    let running = tokio::spawn(app::reconcile(
        ctx,
        WatchScope::All,
        shutdown.clone().wait(),
        GRACE,
        liveness.clone(),
    ));
    while accepted.load(Ordering::SeqCst) == 0 {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let hung = Instant::now();
    tokio::time::sleep(Duration::from_secs(590)).await;
    assert_eq!(
        probe(health.clone()).await.0,
        200,
        "a reconcile may take long"
    );
    tokio::time::sleep(Duration::from_secs(20)).await;
    let (status, body) = probe(health.clone()).await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("controller"), "{body}");
    assert!(body.contains("in flight"), "{body}");
    assert!(hung.elapsed() > limits.stall);
    // Stopping it (the hung reconcile abandoned after the grace) keeps it failed: stopped.
    shutdown.trigger();
    tokio::time::timeout(Duration::from_secs(60), running)
        .await
        .expect("the controller stops within its grace")
        .expect("no panic");
    let (status, body) = probe(health).await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("stopped"), "{body}");
}
