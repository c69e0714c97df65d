//! Fleet benchmark: the operator binary (`nexus-operator run`, release build) as a child
//! process, against the fake Kubernetes API served over HTTP on loopback with its cost model
//! calibrated to a real API server on 2 cores (`kube_fake::CostModel::real_two_cores()`: its
//! latencies, and a write lane that bounds the write throughput as issue 23 measured it) and
//! the Auth0 simulator at 1,000 requests/s with 20-80 ms of latency per call (so Auth0 is not
//! the bound).
//!
//! Four runs:
//! 1. **baseline**: no AuthClient; the operator's idle memory.
//! 2. **creation**: N AuthClients (default 10,000; `kubectl apply`'d, with the field managers
//!    and last-applied annotation a real object carries) exist when the operator starts; it
//!    creates N Auth0 clients and N Secrets. Measured: the time until all are Ready (clients per
//!    second), the API-server requests by verb and resource per client, the Auth0 calls, the
//!    peak RSS (`VmHWM`) and the RSS once everything is Ready and quiet.
//! 3. **restart**: a new operator process over the same, converged cluster: the Auth0 calls
//!    and API writes it makes (0 expected), the time until it is idle (every AuthClient
//!    reconciled and no API request for 5 s), its peak and final RSS.
//! 4. **restart and drift scan**: the same with a drift scan every 5 s, until one whole scan
//!    of the tenant was listed (checkpoint pages of 100): the scan's memory on top of the fleet.
//!
//! Every run with AuthClients also reports when the first AuthClient was Ready (the operator's
//! own count, `nexus_authclients{ready="True"}`).
//!
//! ```text
//! cargo bench --bench fleet                              # N = 10,000
//! cargo bench --bench fleet -- --clients 2000            # or NEXUS_BENCH_CLIENTS=2000
//! ```
//!
//! `cargo bench` builds the operator binary (release settings) before running this; set
//! `NEXUS_BENCH_BINARY` to measure another build, `NEXUS_BENCH_WRAP` (e.g. `heaptrack -o
//! /tmp/op-{run}`; `{run}` becomes the run's name) to run it under a profiler. Linux only
//! (`/proc`).

mod support;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use auth0_sim::{self as sim, SimConfig, SimHandle};
use kube_fake::{CostModel, FakeKube, RequestCounts};
use nexus_testing::world;
use support::{client_name, management_calls};

const CLUSTER_ID: &str = "bench";
const NAMESPACES: usize = 10;
/// Longest wait for one run, at least (more for large fleets: see [`budget`]).
const BUDGET: Duration = Duration::from_secs(900);

/// The longest wait for one run with `clients` AuthClients (`--budget` overrides it): 900 s,
/// or twice the calibrated API server's creation time (about 81 AuthClients/s at 100,000).
fn budget(clients: usize) -> Duration {
    let default = BUDGET.as_secs().max(clients as u64 / 40);
    Duration::from_secs(support::arg("budget", "NEXUS_BENCH_BUDGET", default))
}

/// The fake API's cost model in every run.
fn cost() -> CostModel {
    CostModel::real_two_cores()
}
/// The fake API must see no request for this long for the operator to count as idle.
const QUIET: Duration = Duration::from_secs(5);
/// How often the child's metrics, memory and the AuthClients are sampled.
const SAMPLE: Duration = Duration::from_millis(250);

fn namespace(i: usize) -> String {
    format!("team-{:02}", i % NAMESPACES)
}

/// The operator binary: `NEXUS_BENCH_BINARY`, else the one cargo built for this bench run.
fn operator_binary() -> PathBuf {
    std::env::var_os("NEXUS_BENCH_BINARY")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_nexus-operator")))
}

/// `(VmHWM, VmRSS)` in KiB.
fn memory_kib(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|v| v.parse::<u64>().ok())
    };
    Some((field("VmHWM:")?, field("VmRSS:")?))
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

/// The sum of the samples of the child's `/metrics` (its text format) on the lines `wanted`
/// keeps.
async fn metric_sum(
    http: &reqwest::Client,
    metrics: SocketAddr,
    wanted: impl Fn(&str) -> bool,
) -> Option<u64> {
    let body = http
        .get(format!("http://{metrics}/metrics"))
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    Some(
        body.lines()
            .filter(|l| wanted(l))
            .filter_map(|l| l.rsplit(' ').next())
            .filter_map(|v| v.parse::<f64>().ok())
            .sum::<f64>() as u64,
    )
}

/// The AuthClients the child counts Ready (`nexus_authclients{ready="True"}`), from its
/// `/metrics`: what tells the first Ready without reading every object of the fake.
async fn ready_gauge(http: &reqwest::Client, metrics: SocketAddr) -> Option<u64> {
    metric_sum(http, metrics, |l| {
        l.starts_with("nexus_authclients{") && l.contains("ready=\"True\"")
    })
    .await
}

/// Sum of `nexus_reconciles_total` over its labels, from the child's `/metrics`.
async fn reconciles(http: &reqwest::Client, metrics: SocketAddr) -> Option<u64> {
    metric_sum(http, metrics, |l| l.starts_with("nexus_reconciles_total")).await
}

struct Killed(Child);

impl Drop for Killed {
    /// SIGTERM to the child's process group (the operator shuts down cleanly, and a profiler
    /// wrapping it ends with it and writes its data), then SIGKILL to the group after 10 s.
    fn drop(&mut self) {
        let group = format!("-{}", self.0.id());
        let signal = |name: &str| {
            let _ = Command::new("kill")
                .args([name, "--", group.as_str()])
                .stderr(Stdio::null())
                .status();
        };
        signal("-TERM");
        for _ in 0..100 {
            if matches!(self.0.try_wait(), Ok(Some(_))) {
                signal("-KILL");
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        signal("-KILL");
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The world every run shares: the fake API (served over HTTP), the simulator, a kubeconfig.
struct World {
    budget: Duration,
    kube: FakeKube,
    sim: SimHandle,
    kubeconfig: PathBuf,
    dir: PathBuf,
}

async fn world(dir: &Path, name: &str, budget: Duration) -> World {
    let sim = world::start_sim(SimConfig {
        faults: world::auth0_latency(),
        ..world::sim_config(1000)
    })
    .await;
    let kube = FakeKube::new();
    let namespaces: Vec<String> = (0..NAMESPACES).map(namespace).collect();
    let refs: Vec<&str> = namespaces.iter().map(String::as_str).collect();
    support::seed_tenant(&kube, &sim, 1000, 1000, &refs, true);
    let api = kube
        .serve("127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("fake API serves");
    let dir = dir.join(name);
    std::fs::create_dir_all(&dir).expect("dir");
    let kubeconfig = nexus_testing::write_kubeconfig(&dir, api);
    World {
        budget,
        kube,
        sim,
        kubeconfig,
        dir,
    }
}

/// What one run of the operator did.
struct Run {
    name: &'static str,
    /// When every AuthClient was Ready (creation) or reconciled (restart).
    done_after: Option<Duration>,
    /// When the first AuthClient was Ready (creation only).
    first_ready_after: Option<Duration>,
    /// When the API server saw its last request before the quiet period.
    idle_after: Option<Duration>,
    hwm_kib: u64,
    rss_at_done_kib: u64,
    rss_end_kib: u64,
    requests: RequestCounts,
    auth0: sim::RequestCounts,
    reconciles: u64,
    log_problems: Vec<String>,
}

/// Runs the operator (with `extra` arguments) until `done` holds and the API server has been
/// quiet for `QUIET`; `first` (given the child's count of Ready AuthClients) tells when the
/// first AuthClient is Ready (always false: not measured).
async fn run_operator(
    name: &'static str,
    binary: &Path,
    world: &World,
    extra: &[&str],
    mut first: impl FnMut(u64) -> bool,
    mut done: impl FnMut(&FakeKube, u64) -> bool,
) -> Run {
    world.sim.reset_counters();
    let before = world.kube.request_counts();
    let metrics = nexus_testing::free_port();
    let log_path = world.dir.join(format!("operator-{name}.log"));
    let log = std::fs::File::create(&log_path).expect("log file");
    let started = Instant::now();
    // `NEXUS_BENCH_WRAP="heaptrack -o /tmp/op-{run}"` runs the operator under a profiler (the
    // memory numbers are then the wrapper's).
    let tag = name.split(':').next().unwrap_or(name);
    let wrap: Vec<String> = std::env::var("NEXUS_BENCH_WRAP")
        .map(|w| {
            w.split_whitespace()
                .map(|part| part.replace("{run}", tag))
                .collect()
        })
        .unwrap_or_default();
    let mut command = match wrap.split_first() {
        Some((program, args)) => {
            let mut command = Command::new(program);
            command.args(args).arg(binary);
            command
        }
        None => Command::new(binary),
    };
    // Its own process group, so that ending it ends a wrapper's children too.
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    let child = command
        .args([
            "run",
            "--leader-election=false",
            "--cluster-id",
            CLUSTER_ID,
            "--metrics-addr",
            &metrics.to_string(),
        ])
        .args(extra)
        .env("KUBECONFIG", &world.kubeconfig)
        .env_remove("NEXUS_WATCH_NAMESPACE")
        .env_remove("NEXUS_WATCH_NAMESPACES")
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("log"))
        .stderr(log)
        .spawn()
        .expect("spawn the operator");
    let child = Killed(child);
    let pid = child.0.id();
    let http = auth0_mgmt::default_http_client(Duration::from_secs(5)).expect("http client");
    let mut done_after = None;
    let mut first_ready_after = None;
    let mut idle_after = None;
    let mut rss_at_done_kib = 0;
    let mut last_count = world.kube.request_count();
    let mut last_change = Instant::now();
    let mut reconciled = 0;
    let budget = world.budget;
    while started.elapsed() < budget {
        tokio::time::sleep(SAMPLE).await;
        let Some((_, rss)) = memory_kib(pid) else {
            eprintln!(
                "the operator exited; its log is {}:\n{}",
                log_path.display(),
                std::fs::read_to_string(&log_path).unwrap_or_default()
            );
            std::process::exit(1);
        };
        reconciled = reconciles(&http, metrics).await.unwrap_or(reconciled);
        if first_ready_after.is_none() && first(ready_gauge(&http, metrics).await.unwrap_or(0)) {
            first_ready_after = Some(started.elapsed());
        }
        if done_after.is_none() && done(&world.kube, reconciled) {
            done_after = Some(started.elapsed());
            rss_at_done_kib = rss;
        }
        let count = world.kube.request_count();
        if count != last_count {
            last_count = count;
            last_change = Instant::now();
        } else if let Some(done) = done_after
            && last_change.elapsed() >= QUIET
        {
            // Idle: everything done, and the last API request sent.
            idle_after = Some(done.max(last_change - started));
            break;
        }
    }
    let (hwm_kib, rss_end_kib) = memory_kib(pid).expect("the operator runs");
    drop(child);
    let log_text = std::fs::read_to_string(&log_path).unwrap_or_default();
    let log_problems = log_text
        .lines()
        .filter(|l| l.contains(" WARN ") || l.contains(" ERROR "))
        .map(str::to_owned)
        .collect();
    Run {
        name,
        done_after,
        first_ready_after,
        idle_after,
        hwm_kib,
        rss_at_done_kib,
        rss_end_kib,
        requests: world.kube.request_counts().since(&before),
        auth0: world.sim.counters(),
        reconciles: reconciled,
        log_problems,
    }
}

fn report(run: &Run, clients: usize) {
    println!();
    println!("## {}", run.name);
    let opt = |d: Option<Duration>| d.map_or("not reached".into(), support::secs);
    println!("| metric | value |");
    println!("| --- | --- |");
    println!(
        "| done (all Ready / all reconciled) | {} |",
        opt(run.done_after)
    );
    if run.first_ready_after.is_some() {
        println!(
            "| first AuthClient Ready (the operator's gauge, sampled every {} ms) | {} |",
            SAMPLE.as_millis(),
            opt(run.first_ready_after)
        );
    }
    if let Some(done) = run.done_after
        && clients > 0
    {
        println!(
            "| throughput | {:.1} AuthClients/s |",
            clients as f64 / done.as_secs_f64()
        );
    }
    println!(
        "| idle (all done and the last API request sent) | {} |",
        opt(run.idle_after)
    );
    println!("| peak RSS (VmHWM) | {} |", mib(run.hwm_kib));
    println!("| RSS when done | {} |", mib(run.rss_at_done_kib));
    println!("| RSS at the end (idle) | {} |", mib(run.rss_end_kib));
    println!("| reconciles | {} |", run.reconciles);
    println!(
        "| API-server requests (watches excluded) | {} = {:.2} per AuthClient |",
        run.requests.excluding_watches(),
        run.requests.excluding_watches() as f64 / clients.max(1) as f64
    );
    println!(
        "| API-server writes | {} = {:.2} per AuthClient |",
        run.requests.writes(),
        run.requests.writes() as f64 / clients.max(1) as f64
    );
    println!(
        "| Auth0 Management API calls | {} (+{} token) |",
        management_calls(&run.auth0),
        run.auth0.get("POST /oauth/token")
    );
    println!(
        "| GET /api/v2/clients/{{id}} | {} |",
        run.auth0.get("GET /api/v2/clients/{id}")
    );
    println!("| 429s | {} |", run.auth0.rate_limited());
    println!("| log warnings/errors | {} |", run.log_problems.len());
    for line in run.log_problems.iter().take(3) {
        println!("    {line}");
    }
    println!();
    support::print_requests(
        "API-server requests by verb and resource",
        &run.requests,
        clients,
    );
    support::print_auth0("Auth0 calls by route", &run.auth0);
}

#[tokio::main]
async fn main() {
    let n: usize = support::arg("clients", "NEXUS_BENCH_CLIENTS", 10_000usize);
    let binary = operator_binary();
    if !binary.exists() {
        eprintln!(
            "{} does not exist: run this through `cargo bench --bench fleet`, which builds it, or build it with `cargo build --release --bin nexus-operator` and set NEXUS_BENCH_BINARY",
            binary.display()
        );
        std::process::exit(2);
    }
    let built = std::fs::metadata(&binary)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.elapsed().ok())
        .map_or("?".into(), |age| format!("{} s ago", age.as_secs()));
    println!(
        "fleet: operator {} (built {built}); {n} AuthClients in {NAMESPACES} namespaces; fake API cost model {:?}; simulator 1000 req/s, 20-80 ms",
        binary.display(),
        cost()
    );
    let dir = nexus_testing::scratch_dir("nexus-bench-fleet");
    let bench_started = Instant::now();

    // 1. Baseline.
    let empty = world(&dir, "baseline", budget(n)).await;
    empty.kube.set_cost(cost());
    let baseline = run_operator(
        "baseline: no AuthClient",
        &binary,
        &empty,
        &[],
        |_: u64| false,
        |_, _| true,
    )
    .await;
    // Each run is reported as soon as it ends (a run at 100,000 takes half an hour).
    report(&baseline, 0);
    empty.sim.shutdown().await;

    // 2. Creation.
    let world = world(&dir, "fleet", budget(n)).await;
    let seeding = Instant::now();
    {
        let client = world.kube.client();
        for i in 0..n {
            support::kubectl_apply(&client, &support::authclient(i, &namespace(i))).await;
        }
    }
    println!(
        "seeded {n} AuthClients in {:.1} s",
        seeding.elapsed().as_secs_f64()
    );
    world.kube.set_cost(cost());
    let mut pending: Vec<String> = (0..n)
        .rev()
        .map(|i| {
            format!(
                "/apis/auth.nexus.dev/v1alpha1/namespaces/{}/authclients/{}",
                namespace(i),
                client_name(i)
            )
        })
        .collect();
    // The operator's own count (reading 100,000 objects of the fake every sample would take
    // the bench's CPU from the operator).
    let first_ready = |ready: u64| ready > 0;
    let creation = run_operator("creation", &binary, &world, &[], first_ready, |kube, _| {
        support::pop_ready(kube, &mut pending)
    })
    .await;
    report(&creation, n);
    let created = world.sim.clients().len();
    println!("Auth0 clients in the simulator after creation: {created} (expected {n})");

    // 3. Restart over the converged cluster.
    // First Ready after a restart: the first AuthClient the new process counts Ready (its
    // first pass, after the caches a pass reads are listed).
    let restart = run_operator(
        "restart",
        &binary,
        &world,
        &[],
        first_ready,
        |_, reconciled| reconciled >= n as u64,
    )
    .await;
    report(&restart, n);

    // 4. Restart with a drift scan every 5 s: done when one whole scan of the tenant (one
    // checkpoint page per 100 clients) was listed.
    let pages = n.div_ceil(100) as u64;
    let scan = run_operator(
        "restart and drift scan",
        &binary,
        &world,
        &["--drift-scan-interval-seconds", "5"],
        first_ready,
        |_, reconciled| {
            reconciled >= n as u64 && world.sim.counters().get("GET /api/v2/clients") >= pages
        },
    )
    .await;
    report(&scan, n);
    world.sim.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
    println!();
    println!("bench took {:.0} s", bench_started.elapsed().as_secs_f64());
    if creation.done_after.is_none() || created != n {
        eprintln!(
            "FAILED: the fleet did not converge to {n} Ready AuthClients and {n} Auth0 clients"
        );
        std::process::exit(1);
    }
}
