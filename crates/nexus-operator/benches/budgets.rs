//! Failure budgets (issue 9): what a failure costs over minutes of operation, through the real
//! controller (`controller::run`: watches, queue, caches, backoff), against the in-process fake
//! Kubernetes API with its cost model (`kube_fake::CostModel::default()`) and the Auth0
//! simulator, on tokio's paused clock: the minutes are virtual, so the bench takes seconds. Every
//! timer involved (the controller's requeues and backoffs, the watches' timeouts, the token
//! cache's retries, the API server's and the simulator's latency) runs on that clock, and only
//! counts are measured, so pausing it changes no number.
//!
//! 1. **One AuthClient Auth0 rejects** (the simulator answers its create with a 400 once; the
//!    operator's validation passes): POSTs in total, and the API writes after its `Auth0Rejected`
//!    condition is set, over 10 minutes with a resync every minute and a drift scan every two,
//!    then over 5 more minutes after an operator restart. Budget: <= 2 POSTs, 0 writes.
//! 2. **1,000 AuthClients of a tenant whose credentials Auth0 refuses**: API-server requests
//!    per minute over 10 minutes (production defaults), and the distinct messages of their
//!    `Ready` conditions. Budget: < 1 request per second after the first minute, one message.
//!
//! ```text
//! cargo bench --bench budgets
//! cargo bench --bench budgets -- --clients 1000 --minutes 10
//! ```

mod support;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use auth0_sim::{FailAction, RateLimit, SimConfig, SimHandle};
use kube_fake::{CostModel, FakeKube, RequestCounts};
use nexus_controller::metrics::ControllerMetrics;
use nexus_controller::{self as controller, Context, ControllerConfig};
use nexus_testing::ready_condition;
use nexus_testing::world;
use tokio::time::Instant;

const NS: &str = "team-a";

fn context(kube: &FakeKube, config: ControllerConfig) -> Arc<Context> {
    let registry = world::auth0_registry(Duration::from_secs(15));
    Arc::new(Context::new(
        kube.client(),
        registry,
        config,
        ControllerMetrics::default(),
    ))
}

/// A running controller and the way to stop it.
struct Running {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

fn start(ctx: Arc<Context>) -> Running {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(controller::run(ctx, None, async move {
        let _ = stopped.await;
    }));
    Running { stop, task }
}

impl Running {
    async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}

async fn simulator() -> SimHandle {
    world::start_sim(SimConfig {
        rate_limit: RateLimit::ENTERPRISE,
        ..SimConfig::default()
    })
    .await
}

/// Requests per minute over `minutes`, sampled on the (paused) clock.
async fn per_minute(kube: &FakeKube, sim: &SimHandle, minutes: u64) -> Vec<(RequestCounts, u64)> {
    let mut buckets = Vec::new();
    let mut previous = kube.request_counts();
    let mut previous_tokens = sim.counters().get("POST /oauth/token");
    for _ in 0..minutes {
        tokio::time::sleep(Duration::from_secs(60)).await;
        let now = kube.request_counts();
        let tokens = sim.counters().get("POST /oauth/token");
        buckets.push((now.since(&previous), tokens - previous_tokens));
        previous = now;
        previous_tokens = tokens;
    }
    buckets
}

fn print_minutes(buckets: &[(RequestCounts, u64)]) {
    println!("| minute | API requests | of which writes | per second | token requests |");
    println!("| --- | --- | --- | --- | --- |");
    for (i, (counts, tokens)) in buckets.iter().enumerate() {
        println!(
            "| {} | {} | {} | {:.3} | {tokens} |",
            i + 1,
            counts.total(),
            counts.writes(),
            counts.total() as f64 / 60.0
        );
    }
}

async fn rejected_client(minutes: u64) -> bool {
    println!("## 1. One AuthClient Auth0 rejects");
    let sim = simulator().await;
    let kube = FakeKube::new();
    support::seed_tenant(&kube, &sim, 16, 50, &[NS], true);
    kube.set_cost(CostModel::default());
    let config = ControllerConfig {
        cluster_id: "bench".into(),
        resync_interval: Duration::from_secs(60),
        drift_scan_interval: Duration::from_secs(120),
        ..ControllerConfig::default()
    };
    let running = start(context(&kube, config.clone()));
    sim.fail_once("POST", "/api/v2/clients", FailAction::Status(400));
    let started = Instant::now();
    support::kubectl_apply(&kube.client(), &support::authclient(0, NS)).await;
    let path = format!(
        "/apis/auth.nexus.dev/v1alpha1/namespaces/{NS}/authclients/{}",
        support::client_name(0)
    );
    let rejected = kube
        .wait_until(Duration::from_secs(120), |k| {
            k.get(&path)
                .and_then(|o| ready_condition(&o))
                .is_some_and(|(_, reason, _)| reason == "Auth0Rejected")
        })
        .await;
    let set_after = started.elapsed();
    let condition = kube.get(&path).and_then(|o| ready_condition(&o));
    let before = kube.request_counts();
    let buckets = per_minute(&kube, &sim, minutes).await;
    running.stop().await;
    let restart = start(context(&kube, config));
    let restarted = per_minute(&kube, &sim, minutes / 2).await;
    restart.stop().await;
    let after = kube.request_counts().since(&before);
    let posts = sim.counters().get("POST /api/v2/clients");
    let management = support::management_calls(&sim.counters());
    println!(
        "condition: {condition:?} set after {:.2} s (virtual)",
        set_after.as_secs_f64()
    );
    println!(
        "first operator, {minutes} minutes after the condition (resync 60 s, drift scan 120 s):"
    );
    print_minutes(&buckets);
    println!("after a restart, {} minutes:", minutes / 2);
    print_minutes(&restarted);
    println!();
    println!("| metric | value | budget |");
    println!("| --- | --- | --- |");
    println!("| POST /api/v2/clients in total | {posts} | <= 2 |");
    println!("| Auth0 Management API calls in total | {management} | |");
    println!(
        "| API writes after the condition was set (both operators) | {} | 0 |",
        after.writes()
    );
    println!(
        "| API requests after the condition (watches included) | {} over {} min |",
        after.total(),
        minutes + minutes / 2
    );
    support::print_requests("API-server requests after the condition", &after, 1);
    let ok = rejected && posts <= 2 && after.writes() == 0;
    println!("budget held: {}", if ok { "yes" } else { "NO" });
    sim.shutdown().await;
    ok
}

async fn refused_tenant(clients: usize, minutes: u64) -> bool {
    println!();
    println!("## 2. {clients} AuthClients of a tenant whose credentials are refused");
    let sim = simulator().await;
    let kube = FakeKube::new();
    support::seed_tenant(&kube, &sim, 16, 50, &[NS], false);
    {
        let client = kube.client();
        for i in 0..clients {
            support::kubectl_apply(&client, &support::authclient(i, NS)).await;
        }
    }
    kube.set_cost(CostModel::default());
    let before = kube.request_counts();
    let config = ControllerConfig {
        cluster_id: "bench".into(),
        ..ControllerConfig::default()
    };
    let running = start(context(&kube, config));
    let buckets = per_minute(&kube, &sim, minutes).await;
    running.stop().await;
    let all = kube.request_counts().since(&before);
    let collection = format!("/apis/auth.nexus.dev/v1alpha1/namespaces/{NS}/authclients");
    let objects = kube.list(&collection);
    let conditions: Vec<_> = objects.iter().filter_map(ready_condition).collect();
    let messages: BTreeSet<&str> = conditions.iter().map(|(_, _, m)| m.as_str()).collect();
    let reasons: BTreeSet<&str> = conditions.iter().map(|(_, r, _)| r.as_str()).collect();
    println!("production defaults (backoff 5 s doubling to 5 min, resync 1 h, drift scan 10 min):");
    print_minutes(&buckets);
    let after_first: usize = buckets.iter().skip(1).map(|(c, _)| c.total()).sum();
    let rate = after_first as f64 / (60.0 * (minutes.saturating_sub(1)).max(1) as f64);
    println!();
    println!("| metric | value | budget |");
    println!("| --- | --- | --- |");
    println!(
        "| API requests per second after the first minute | {rate:.4} ({after_first} in {} min) | < 1 |",
        minutes.saturating_sub(1)
    );
    println!(
        "| API requests in the first minute | {} | |",
        buckets.first().map_or(0, |(c, _)| c.total())
    );
    println!(
        "| AuthClients with a Ready condition | {} of {clients} |",
        conditions.len()
    );
    println!("| reasons | {reasons:?} | TenantNotReady |");
    println!("| distinct messages | {} | 1 |", messages.len());
    for message in &messages {
        println!("|   message | {message} | |");
    }
    println!(
        "| POST /api/v2/clients | {} | 0 |",
        sim.counters().get("POST /api/v2/clients")
    );
    support::print_requests("API-server requests, whole run", &all, clients);
    let ok = rate < 1.0 && messages.len() == 1 && conditions.len() == clients;
    println!("budget held: {}", if ok { "yes" } else { "NO" });
    sim.shutdown().await;
    ok
}

#[tokio::main(flavor = "current_thread", start_paused = true)]
async fn main() {
    let clients: usize = support::arg("clients", "NEXUS_BENCH_CLIENTS", 1000usize).max(1);
    let minutes: u64 = support::arg("minutes", "NEXUS_BENCH_MINUTES", 10u64).max(2);
    let wall = std::time::Instant::now();
    println!(
        "budgets: fake API cost model {:?}; simulator at Auth0's enterprise limit; paused clock",
        CostModel::default()
    );
    let first = rejected_client(minutes).await;
    let second = refused_tenant(clients, minutes).await;
    println!();
    println!(
        "bench took {:.1} s of real time",
        wall.elapsed().as_secs_f64()
    );
    if !(first && second) {
        eprintln!("FAILED: a budget did not hold");
        std::process::exit(1);
    }
}
