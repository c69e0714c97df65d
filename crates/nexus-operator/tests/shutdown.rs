//! Shutdown within the grace period whatever is in flight (issue 23): a creation, the initial
//! list of a large fleet, a drift scan, and with leader election an API server that stops
//! answering (the Lease release then shares the controller's grace instead of adding its own).
//!
//! On tokio's paused clock: the operator's run functions ([`app::reconcile`], [`app::lead`])
//! against the in-memory API server and the Auth0 simulator; the stop is measured in virtual
//! time from the shutdown request.

use nexus_testing as support;
use nexus_testing::world;

use std::sync::Arc;
use std::time::Duration;

use auth0_sim::{FaultScope, Faults, Latency, SimHandle};
use kube_fake::{CostModel, FakeKube, Verb};
use nexus_controller::metrics::ControllerMetrics;
use nexus_controller::{Context, ControllerConfig, Liveness, WatchScope};
use nexus_leader::{LeaderElector, LeaseConfig};
use nexus_operator::app::{self, Shutdown};
use serde_json::{Value, json};
use tokio::time::Instant;

const TENANT: &str = "acme";
const NS: &str = "team-a";
const CREDS_NS: &str = "nexus-system";
/// The operator's stop grace (`--stop-grace-seconds`' default).
const GRACE: Duration = Duration::from_secs(5);
/// Longer than any stop may take: what a hung request waits.
const HUNG: Duration = Duration::from_secs(3600);

struct World {
    kube: FakeKube,
    sim: SimHandle,
    _watchdog: support::paused::Watchdog,
}

impl World {
    async fn new(clients: usize) -> Self {
        let watchdog = support::paused::Watchdog::arm(Duration::from_secs(120));
        let sim = world::start_sim(world::sim_config(1000)).await;
        let kube = FakeKube::new();
        world::seed_tenant(
            &kube,
            &sim,
            TENANT,
            (CREDS_NS, "acme-m2m"),
            (1000, 1000),
            &[NS],
            true,
        );
        for i in 0..clients {
            kube.insert(json!({
                "apiVersion": "auth.nexus.dev/v1alpha1",
                "kind": "AuthClient",
                "metadata": {"name": format!("app-{i:03}"), "namespace": NS},
                "spec": {
                    "tenant": TENANT,
                    "client": {"name": format!("App {i:03}"), "app_type": "regular_web"}
                }
            }));
        }
        Self {
            kube,
            sim,
            _watchdog: watchdog,
        }
    }

    fn context(&self, drift_scan_interval: Duration) -> Arc<Context> {
        Arc::new(Context::new(
            self.kube.client(),
            world::auth0_registry(Duration::from_secs(15)),
            ControllerConfig {
                cluster_id: "shutdown".into(),
                drift_scan_interval,
                ..ControllerConfig::default()
            },
            ControllerMetrics::default(),
        ))
    }

    fn ready(&self) -> usize {
        self.kube
            .list(&format!(
                "/apis/auth.nexus.dev/v1alpha1/namespaces/{NS}/authclients"
            ))
            .iter()
            .filter(|c| {
                c.pointer("/status/conditions")
                    .and_then(Value::as_array)
                    .is_some_and(|cs| {
                        cs.iter()
                            .any(|c| c["type"] == "Ready" && c["status"] == "True")
                    })
            })
            .count()
    }

    /// Every Auth0 request from now on takes an hour.
    fn stall_auth0(&self) {
        self.sim.set_faults(Faults {
            latency: Latency::Fixed(HUNG),
            scope: FaultScope::All,
            ..Faults::default()
        });
    }
}

/// Starts `app::reconcile` (no leader election).
fn start(ctx: Arc<Context>) -> (Shutdown, tokio::task::JoinHandle<()>) {
    let shutdown = Shutdown::manual();
    let task = tokio::spawn(app::reconcile(
        ctx,
        WatchScope::All,
        shutdown.clone().wait(),
        GRACE,
        Liveness::default(),
    ));
    (shutdown, task)
}

/// Requests shutdown and returns how long (virtual) the operator took to return.
async fn stop<T>(shutdown: Shutdown, task: tokio::task::JoinHandle<T>) -> Duration {
    let asked = Instant::now();
    shutdown.trigger();
    tokio::time::timeout(HUNG, task)
        .await
        .expect("the operator returns")
        .expect("no panic");
    asked.elapsed()
}

/// [`stop`] returns within [`GRACE`].
async fn assert_stops_within_the_grace<T>(shutdown: Shutdown, task: tokio::task::JoinHandle<T>) {
    let took = stop(shutdown, task).await;
    assert!(took <= GRACE, "stopped after {took:?}");
}

#[tokio::test(start_paused = true)]
async fn a_creation_in_flight_does_not_hold_the_stop_past_the_grace() {
    let world = World::new(3).await;
    world.stall_auth0();
    let (shutdown, task) = start(world.context(Duration::from_secs(600)));
    // A creation is in flight: its POST reached Auth0 and will not be answered for an hour.
    world
        .sim
        .wait_for_counters(|c| c.get("POST /api/v2/clients") > 0 || c.get("POST /oauth/token") > 0)
        .await;
    assert_stops_within_the_grace(shutdown, task).await;
}

#[tokio::test(start_paused = true)]
async fn the_initial_list_of_a_large_fleet_does_not_hold_the_stop_past_the_grace() {
    let world = World::new(500).await;
    // Each object a response carries costs a second: a page of 100 takes 100 s, the list of
    // 500 AuthClients more than 8 minutes.
    world.kube.set_cost(CostModel {
        per_object: Duration::from_secs(1),
        ..CostModel::FREE
    });
    let (shutdown, task) = start(world.context(Duration::from_secs(600)));
    assert!(
        world
            .kube
            .wait_until(HUNG, |k| k.request_counts().get(Verb::List, "authclients")
                >= 2)
            .await,
        "the list pages in"
    );
    assert_stops_within_the_grace(shutdown, task).await;
}

#[tokio::test(start_paused = true)]
async fn a_drift_scan_in_flight_does_not_hold_the_stop_past_the_grace() {
    let world = World::new(3).await;
    let (shutdown, task) = start(world.context(Duration::from_secs(30)));
    assert!(
        world.kube.wait_until(HUNG, |_| world.ready() == 3).await,
        "the fleet converges"
    );
    world.sim.reset_counters();
    world.stall_auth0();
    // The next scan lists the tenant's clients; Auth0 holds the answer for an hour.
    world
        .sim
        .wait_for_counters(|c| c.get("GET /api/v2/clients") > 0)
        .await;
    assert_stops_within_the_grace(shutdown, task).await;
}

#[tokio::test(start_paused = true)]
async fn with_leader_election_a_stalled_api_server_holds_the_stop_one_grace_at_most() {
    let world = World::new(20).await;
    let ctx = world.context(Duration::from_secs(600));
    let elector = LeaderElector::new(
        ctx.kube.clone(),
        LeaseConfig::new("nexus-operator", CREDS_NS, "nexus-operator-0"),
    );
    let shutdown = Shutdown::manual();
    let task = tokio::spawn(app::lead(
        ctx,
        WatchScope::All,
        elector,
        shutdown.clone().wait(),
        GRACE,
        Liveness::default(),
    ));
    assert!(
        world.kube.wait_until(HUNG, |_| world.ready() >= 1).await,
        "the leader creates"
    );
    // The API server stops answering: the reconciles in flight hang on their next request,
    // and so would the Lease release.
    world.kube.set_cost(CostModel {
        request_latency: HUNG,
        ..CostModel::FREE
    });
    let asked = Instant::now();
    shutdown.trigger();
    let outcome = tokio::time::timeout(HUNG, task)
        .await
        .expect("lead returns")
        .expect("no panic");
    let took = asked.elapsed();
    assert!(outcome.is_ok(), "{outcome:?}");
    assert!(
        took <= GRACE,
        "stopped after {took:?}: the release added its own grace"
    );
}
