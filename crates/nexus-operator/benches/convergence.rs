//! Convergence benchmark: N AuthClients created at once against the Auth0 simulator limited to
//! R requests/s (burst 50, Auth0 enterprise production) with 20-80 ms of latency per call,
//! reconciled by the real controller (`controller::run`) over the in-process fake Kubernetes API
//! charging what a real API server charges (`kube_fake::CostModel::default()`: 2 ms per request,
//! 5 ms per write, per object and KiB of lists and watch events).
//!
//! Reports the time until every AuthClient is Ready relative to the ideal (N - burst)/R seconds,
//! the Auth0 calls per client for creation, the 429s received, the API-server requests by verb
//! and resource per client, the calls of one drift scan (the periodic resync of Auth0 state)
//! and of a second, no-change reconcile of every client.
//!
//! ```text
//! cargo bench --bench convergence                       # N=1000, R=16
//! cargo bench --bench convergence -- --clients 200 --rps 16
//! NEXUS_BENCH_CLIENTS=200 NEXUS_BENCH_RPS=16 cargo bench --bench convergence
//! cargo bench --bench convergence -- --free-api          # the fake API without its cost model
//! ```
//!
//! Not a test: it asserts only what makes the numbers meaningless when it fails (every client
//! Ready, exactly N clients created), and exits non-zero then.

mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use auth0_sim::{self as sim, RateLimit, SimConfig};
use futures::channel::mpsc;
use kube::Api;
use kube_fake::{CostModel, FakeKube};
use nexus_controller::compact::CachedAuthClient;
use nexus_controller::metrics::ControllerMetrics;
use nexus_controller::{self as controller, Context, ControllerConfig, authclient, drift};
use nexus_crd::{AuthClient, AuthTenant};
use nexus_testing::world;
use support::{TENANT, client_name, is_ready, management_calls};

const NS: &str = "team-a";
/// Auth0 enterprise production burst.
const BURST: u32 = 50;

fn diff(
    after: &sim::RequestCounts,
    before: &sim::RequestCounts,
) -> std::collections::BTreeMap<String, u64> {
    after
        .iter()
        .map(|(k, v)| (k.to_owned(), v - before.get(k)))
        .filter(|(_, v)| *v > 0)
        .collect()
}

fn per_client(calls: u64, n: usize) -> f64 {
    calls as f64 / n as f64
}

#[tokio::main]
async fn main() {
    let n: usize = support::arg("clients", "NEXUS_BENCH_CLIENTS", 1000usize).max(1);
    let rps: u32 = support::arg("rps", "NEXUS_BENCH_RPS", 16u32).max(1);
    let free_api = std::env::args().any(|a| a == "--free-api");
    let cost = if free_api {
        CostModel::FREE
    } else {
        CostModel::default()
    };
    let ideal = n as f64 / f64::from(rps);
    println!(
        "convergence: {n} AuthClients, simulator and AuthTenant at {rps} req/s (burst {BURST}), Auth0 latency 20-80 ms; fake API cost model {cost:?}"
    );

    let sim = world::start_sim(SimConfig {
        rate_limit: RateLimit {
            burst: BURST,
            per_second: rps,
        },
        faults: world::auth0_latency(),
        ..SimConfig::default()
    })
    .await;
    let kube = FakeKube::new();
    support::seed_tenant(&kube, &sim, rps, BURST, &[NS], true);
    {
        // Created by a user with `kubectl apply` (free: seeding is not measured).
        let client = kube.client();
        for i in 0..n {
            support::kubectl_apply(&client, &support::authclient(i, NS)).await;
        }
    }
    kube.set_cost(cost);
    let registry = world::auth0_registry(Duration::from_secs(15));
    let config = ControllerConfig {
        cluster_id: "bench".into(),
        // No drift scan while the clients are created: the bench runs one by hand afterwards.
        drift_scan_interval: Duration::from_secs(24 * 3600),
        ..ControllerConfig::default()
    };
    let concurrency = config.concurrency;
    let ctx = Arc::new(Context::new(
        kube.client(),
        registry,
        config,
        ControllerMetrics::default(),
    ));
    sim.reset_counters();
    kube.clear_requests();

    // --- Creation: the real controller, all N at once.
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let started = Instant::now();
    let controller = tokio::spawn(controller::run(ctx.clone(), None, async move {
        let _ = stop_rx.await;
    }));
    let budget = Duration::from_secs_f64((ideal * 5.0).max(120.0));
    let posts_done = async {
        let target = n as u64;
        let done = tokio::time::timeout(
            budget,
            sim.wait_for_counters(|c| c.get("POST /api/v2/clients") >= target),
        )
        .await;
        done.is_ok().then(|| started.elapsed())
    };
    // Paths not yet seen Ready, checked from the front: each evaluation (after every request
    // the fake API serves) costs one lookup until the front one is Ready.
    let pending = Mutex::new(
        (0..n)
            .rev()
            .map(|i| {
                format!(
                    "/apis/auth.nexus.dev/v1alpha1/namespaces/{NS}/authclients/{}",
                    client_name(i)
                )
            })
            .collect::<Vec<_>>(),
    );
    let all_ready = async {
        let ok = kube
            .wait_until(budget, |kube| {
                support::pop_ready(kube, &mut pending.lock().expect("pending"))
            })
            .await;
        ok.then(|| started.elapsed())
    };
    let (posts_at, ready_at) = tokio::join!(posts_done, all_ready);
    let creation = sim.counters();
    let creation_kube = kube.request_counts();
    let creation_kube_total = creation_kube.excluding_watches();
    let Some(ready_at) = ready_at else {
        let left = kube
            .list(&format!(
                "/apis/auth.nexus.dev/v1alpha1/namespaces/{NS}/authclients"
            ))
            .iter()
            .filter(|o| !is_ready(o))
            .count();
        eprintln!(
            "FAILED: {left} of {n} AuthClients not Ready after {budget:?}; counters: {creation:?}"
        );
        std::process::exit(1);
    };
    let auth0_clients = sim.clients();
    let posts = creation.get("POST /api/v2/clients");

    // Let the controller finish what the last status writes triggered, then stop it, so the
    // scan and the second pass below are the only callers of Auth0.
    let settle_from = kube.request_counts();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after_ready = kube.request_counts().since(&settle_from);
    let after_ready_requests = after_ready.excluding_watches();
    let _ = stop_tx.send(());
    let _ = controller.await;

    // --- Resync: one drift scan of the tenant.
    let store = nexus_testing::reflector_store(&Api::<CachedAuthClient>::all(kube.client())).await;
    let tenant = Api::<AuthTenant>::all(kube.client())
        .get(TENANT)
        .await
        .expect("tenant");
    let (trigger, mut triggered) = mpsc::unbounded();
    let before_scan = sim.counters();
    let scan_started = Instant::now();
    let report = drift::scan_tenant(&ctx, &store, &tenant, &trigger)
        .await
        .expect("drift scan");
    let scan_time = scan_started.elapsed();
    drop(trigger);
    let mut scan_triggers = 0;
    while triggered.try_recv().is_ok() {
        scan_triggers += 1;
    }
    let after_scan = sim.counters();
    let scan_calls = management_calls(&after_scan) - management_calls(&before_scan);

    // --- A second reconcile of every client, nothing changed.
    let objects = Api::<AuthClient>::namespaced(kube.client(), NS)
        .list(&Default::default())
        .await
        .expect("list")
        .items;
    ctx.caches
        .prime(&kube.client(), None)
        .await
        .expect("caches primed");
    let kube_before = kube.request_count();
    let pass_started = Instant::now();
    let mut pass_errors = 0;
    for obj in objects {
        if authclient::reconcile(Arc::new(obj), ctx.clone())
            .await
            .is_err()
        {
            pass_errors += 1;
        }
    }
    let pass_time = pass_started.elapsed();
    let after_pass = sim.counters();
    let pass_calls = management_calls(&after_pass) - management_calls(&after_scan);
    let pass_kube = kube.request_count() - kube_before;

    // --- Report.
    let wall = ready_at.as_secs_f64();
    let creation_calls = management_calls(&creation);
    let expected_scan = n.div_ceil(100);
    let duplicates_ok = posts == n as u64 && auth0_clients.len() == n;
    println!();
    println!("| metric | value |");
    println!("| --- | --- |");
    println!("| AuthClients | {n} |");
    println!("| rate limit (simulator and AuthTenant) | {rps} req/s, burst {BURST} |");
    println!("| controller concurrency | {concurrency} |");
    println!(
        "| time until all Ready | {wall:.1} s (ideal {n}/{rps} = {ideal:.1} s; ratio {:.3}) |",
        wall / ideal
    );
    let ideal_burst = n.saturating_sub(BURST as usize) as f64 / f64::from(rps);
    println!(
        "| same, against the ideal counting the burst | ({n} - {BURST})/{rps} = {ideal_burst:.1} s; ratio {:.3} |",
        wall / ideal_burst.max(f64::MIN_POSITIVE)
    );
    if let Some(posts_at) = posts_at {
        println!(
            "| time until the last POST /api/v2/clients | {:.1} s |",
            posts_at.as_secs_f64()
        );
    }
    println!(
        "| Auth0 Management API calls, creation | {creation_calls} = {:.3} per client |",
        per_client(creation_calls, n)
    );
    println!("| POST /api/v2/clients | {posts} (expected {n}) |");
    println!(
        "| clients in the simulator | {} (expected {n}; no duplicates: {}) |",
        auth0_clients.len(),
        if duplicates_ok { "yes" } else { "NO" }
    );
    println!(
        "| token requests (POST /oauth/token) | {} |",
        creation.get("POST /oauth/token")
    );
    println!("| 429s received | {} |", creation.rate_limited());
    println!(
        "| achieved Auth0 rate | {:.2} req/s |",
        creation_calls as f64 / wall
    );
    println!(
        "| GET /api/v2/clients/{{id}} during creation | {} |",
        creation.get("GET /api/v2/clients/{id}")
    );
    println!(
        "| API-server requests, creation (watches excluded) | {creation_kube_total} = {:.2} per client |",
        creation_kube_total as f64 / n as f64
    );
    println!(
        "| API-server writes, creation | {} = {:.2} per client |",
        creation_kube.writes(),
        creation_kube.writes() as f64 / n as f64
    );
    println!(
        "| API-server requests in the 2 s after all Ready (watches excluded) | {after_ready_requests} |"
    );
    println!(
        "| drift scan (resync) | {scan_calls} calls (expected ceil({n}/100) = {expected_scan}) = {:.4} per client; {} compared, {} drifted, {scan_triggers} triggered; {:.2} s |",
        per_client(scan_calls, n),
        report.compared,
        report.drifted,
        scan_time.as_secs_f64()
    );
    println!(
        "| second reconcile of every client, no change | {pass_calls} Auth0 calls (expected 0); {pass_kube} API-server requests = {:.1} per client; {pass_errors} errors; {:.2} s |",
        pass_kube as f64 / n as f64,
        pass_time.as_secs_f64()
    );
    println!();
    println!("Auth0 calls during creation, by route:");
    for (key, count) in creation.iter() {
        println!("  {key:<40} {count}");
    }
    println!("Auth0 calls of the drift scan and the second pass, by route:");
    for (key, count) in diff(&after_pass, &creation) {
        println!("  {key:<40} {count}");
    }
    support::print_requests(
        "API-server requests during creation, by verb and resource",
        &creation_kube,
        n,
    );
    if !duplicates_ok {
        eprintln!(
            "FAILED: {posts} POSTs and {} clients for {n} AuthClients",
            auth0_clients.len()
        );
        std::process::exit(1);
    }
}
