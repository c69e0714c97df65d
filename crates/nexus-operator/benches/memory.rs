//! Memory benchmark: peak resident memory of the operator process with N Ready AuthClients and
//! their N Secrets in its caches (default N = 10,000).
//!
//! The bench process serves the fake Kubernetes API over HTTP on loopback, seeded with N Ready
//! AuthClients (status.clientId, Ready=True, observedGeneration == generation, finalizer), their
//! owned Secrets and an AuthTenant pointing at an Auth0 simulator in the bench process (holding
//! the N clients). It then runs the release binary `nexus-operator run` as a child process with a
//! kubeconfig pointing at the fake API, waits until the child has listed and watched everything
//! and reconciled every AuthClient once (its `/metrics`), and until the fake API sees no more
//! requests, and reads `VmHWM` (peak RSS) and `VmRSS` from `/proc/<pid>/status`. A first run with
//! no AuthClient gives the baseline.
//!
//! ```text
//! cargo bench --bench memory
//! cargo bench --bench memory -- --clients 2000        # or NEXUS_BENCH_CLIENTS=2000
//! ```
//!
//! `cargo bench` builds the operator binary itself (release settings) before running this; set
//! `NEXUS_BENCH_BINARY` to measure another build. Linux only (`/proc`).

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use auth0_sim::{self as sim, RateLimit, SimConfig, SimHandle};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube_fake::FakeKube;
use nexus_controller::desired::DesiredClient;
use nexus_controller::ownership::OwnershipTag;
use nexus_controller::secret::{self, Credentials};
use nexus_crd::conditions::{self, ConditionStatus, READY, ReadyReason};
use nexus_crd::{AuthClient, AuthClientStatus, FINALIZER};
use serde_json::json;

const TENANT: &str = "acme";
const CREDS_NS: &str = "nexus-system";
const NAMESPACES: usize = 10;
const CLUSTER_ID: &str = "bench";
/// Longest wait for the child to reconcile everything and go quiet.
const BUDGET: Duration = Duration::from_secs(300);
/// The fake API must see no request for this long before memory is read.
const QUIET: Duration = Duration::from_secs(5);
/// How often the child's metrics and memory are sampled.
const SAMPLE: Duration = Duration::from_millis(500);

fn clients_param() -> usize {
    let mut n: usize = std::env::var("NEXUS_BENCH_CLIENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--clients")
        && let Some(v) = args.get(i + 1).and_then(|v| v.parse().ok())
    {
        n = v;
    }
    n
}

/// The operator binary: `NEXUS_BENCH_BINARY`, else the one cargo built for this bench run
/// (`cargo bench` builds the package's binaries with the bench profile, i.e. release).
fn operator_binary() -> PathBuf {
    std::env::var_os("NEXUS_BENCH_BINARY")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_nexus-operator")))
}

fn b64(value: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(value)
}

fn namespace(i: usize) -> String {
    format!("team-{:02}", i % NAMESPACES)
}

/// Seeds the fake API and the simulator with `n` Ready AuthClients, their Secrets and the tenant.
fn seed(kube: &FakeKube, sim: &SimHandle, n: usize) {
    for ns in 0..NAMESPACES {
        kube.insert(
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace(ns)}}),
        );
    }
    kube.insert(json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "acme-m2m", "namespace": CREDS_NS},
        "data": {
            "client_id": b64(&sim.m2m().client_id),
            "client_secret": b64(&sim.m2m().client_secret),
        }
    }));
    kube.insert(json!({
        "apiVersion": "auth.nexus.dev/v1alpha1",
        "kind": "AuthTenant",
        "metadata": {"name": TENANT},
        "spec": {
            "domain": sim.domain(),
            "endpoint": sim.base_url(),
            "credentialsSecretRef": {"namespace": CREDS_NS, "name": "acme-m2m"},
            "rateLimit": {"requestsPerSecond": 16, "burst": 50},
            "allowedNamespaces": {"names": ["*"]},
        }
    }));
    let now = Timestamp::now();
    for i in 0..n {
        let name = format!("app-{i:05}");
        let ns = namespace(i);
        let uid = format!("00000000-0000-4000-8000-{i:012}");
        let mut object = json!({
            "apiVersion": "auth.nexus.dev/v1alpha1",
            "kind": "AuthClient",
            "metadata": {
                "name": name, "namespace": ns, "uid": uid, "generation": 1,
                "finalizers": [FINALIZER],
            },
            "spec": {
                "tenant": TENANT,
                "client": {
                    "name": format!("App {i}"),
                    "app_type": "regular_web",
                    "callbacks": [format!("https://app-{i}.example.com/callback")],
                    "allowed_logout_urls": [format!("https://app-{i}.example.com/")],
                    "client_metadata": {"owners": "alice,bob"}
                }
            }
        });
        let typed: AuthClient = serde_json::from_value(object.clone()).expect("valid AuthClient");
        let tag = OwnershipTag {
            cluster: CLUSTER_ID.into(),
            owner_uid: uid.clone(),
            owner_ref: format!("{ns}/{name}"),
        };
        let desired = DesiredClient::from_spec(&typed.spec.client, &tag);
        let client_id =
            sim.insert_client(serde_json::to_value(&desired).expect("desired state as JSON"));
        let client_secret = sim
            .client(&client_id)
            .and_then(|c| c["client_secret"].as_str().map(str::to_owned))
            .expect("the simulator generated a secret");
        let status = AuthClientStatus {
            observed_generation: Some(1),
            conditions: vec![conditions::new_condition(
                READY,
                ConditionStatus::True,
                ReadyReason::Synced.as_str(),
                format!(
                    "Auth0 client {client_id} matches the spec; credentials are in Secret {}",
                    typed.secret_name()
                ),
                Some(1),
                now,
            )],
            client_id: Some(client_id.clone()),
            tenant: Some(TENANT.into()),
            secret_name: Some(typed.secret_name()),
            last_sync_time: Some(Time(now)),
            last_rotation_time: Some(Time(now)),
            ..Default::default()
        };
        object["status"] = serde_json::to_value(&status).expect("status");
        kube.insert(object);
        let secret = secret::build_secret(
            &typed,
            &Credentials {
                client_id,
                client_secret,
                domain: sim.domain().to_owned(),
                issuer_base_url: format!("https://{}/", sim.domain()),
            },
        )
        .expect("secret");
        let mut secret = serde_json::to_value(&secret).expect("secret json");
        secret["apiVersion"] = json!("v1");
        secret["kind"] = json!("Secret");
        kube.insert(secret);
    }
}

fn write_kubeconfig(dir: &Path, api: SocketAddr) -> PathBuf {
    let path = dir.join("kubeconfig");
    let text = format!(
        "apiVersion: v1
kind: Config
clusters:
- name: fake
  cluster:
    server: http://{api}
users:
- name: bench
  user: {{}}
contexts:
- name: fake
  context:
    cluster: fake
    user: bench
    namespace: default
current-context: fake
"
    );
    std::fs::write(&path, text).expect("write kubeconfig");
    path
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
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

/// Sum of `nexus_reconciles_total` over its labels, from the child's `/metrics`.
async fn reconciles(http: &reqwest::Client, metrics: SocketAddr) -> Option<u64> {
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
            .filter(|l| l.starts_with("nexus_reconciles_total"))
            .filter_map(|l| l.rsplit(' ').next())
            .filter_map(|v| v.parse::<f64>().ok())
            .sum::<f64>() as u64,
    )
}

struct Run {
    clients: usize,
    hwm_kib: u64,
    rss_kib: u64,
    synced_after: Option<Duration>,
    quiet_after: Option<Duration>,
    reconciles: u64,
    log_problems: usize,
    kube_requests: usize,
    by_kind: std::collections::BTreeMap<String, usize>,
    watches: Vec<String>,
    auth0_management_calls: u64,
    token_requests: u64,
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn measure(binary: &Path, dir: &Path, n: usize) -> Run {
    let sim = sim::start(
        SimConfig {
            rate_limit: RateLimit::ENTERPRISE,
            ..SimConfig::default()
        },
        "127.0.0.1:0".parse().expect("addr"),
    )
    .await
    .expect("simulator starts");
    let kube = FakeKube::new();
    let seeding = Instant::now();
    seed(&kube, &sim, n);
    println!(
        "  seeded {n} AuthClients, {n} Secrets and {n} Auth0 clients in {:.1} s",
        seeding.elapsed().as_secs_f64()
    );
    sim.reset_counters();
    let api = kube
        .serve("127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("fake API serves");
    let kubeconfig = write_kubeconfig(dir, api);
    let metrics: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("addr");
    let log_path = dir.join(format!("operator-{n}.log"));
    let log = std::fs::File::create(&log_path).expect("log file");
    let started = Instant::now();
    let child = Command::new(binary)
        .args([
            "run",
            "--leader-election=false",
            "--cluster-id",
            CLUSTER_ID,
            "--metrics-addr",
            &metrics.to_string(),
        ])
        .env("KUBECONFIG", &kubeconfig)
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

    let mut synced_after = None;
    let mut quiet_after = None;
    let mut last_count = 0;
    let mut last_change = Instant::now();
    let mut reconciled = 0;
    while started.elapsed() < BUDGET {
        tokio::time::sleep(SAMPLE).await;
        if memory_kib(pid).is_none() {
            eprintln!(
                "the operator exited; its log is {}:\n{}",
                log_path.display(),
                std::fs::read_to_string(&log_path).unwrap_or_default()
            );
            std::process::exit(1);
        }
        reconciled = reconciles(&http, metrics).await.unwrap_or(reconciled);
        if synced_after.is_none() && reconciled >= n as u64 {
            synced_after = Some(started.elapsed());
        }
        let count = kube.requests().len();
        if count != last_count {
            last_count = count;
            last_change = Instant::now();
        } else if count > 0 && synced_after.is_some() && last_change.elapsed() >= QUIET {
            quiet_after = Some(last_change - started);
            break;
        }
    }
    let (hwm_kib, rss_kib) = memory_kib(pid).expect("the operator runs");
    drop(child);
    let log_text = std::fs::read_to_string(&log_path).unwrap_or_default();
    let log_problems = log_text
        .lines()
        .filter(|l| l.contains(" WARN ") || l.contains(" ERROR "))
        .count();
    if log_problems > 0 {
        println!("  {log_problems} warnings/errors in the operator log, e.g.:");
        for line in log_text
            .lines()
            .filter(|l| l.contains(" WARN ") || l.contains(" ERROR "))
            .take(3)
        {
            println!("    {line}");
        }
    }

    let requests = kube.requests();
    let mut by_kind = std::collections::BTreeMap::<String, usize>::new();
    for r in &requests {
        let segments: Vec<&str> = r.path.trim_matches('/').split('/').collect();
        let kind = match segments
            .iter()
            .rposition(|s| matches!(*s, "authclients" | "authtenants" | "secrets" | "events"))
        {
            Some(i) => format!(
                "{}{}",
                segments[i],
                segments
                    .get(i + 2)
                    .map(|s| format!("/{s}"))
                    .unwrap_or_default()
            ),
            None => r.path.clone(),
        };
        let watch = r
            .query
            .get("watch")
            .is_some_and(|w| w == "true" || w == "1");
        let method = if watch { "WATCH" } else { r.method.as_str() };
        *by_kind.entry(format!("{method} {kind}")).or_insert(0) += 1;
    }
    let mut watches: Vec<String> = requests
        .iter()
        .filter(|r| {
            r.query
                .get("watch")
                .is_some_and(|w| w == "true" || w == "1")
        })
        .map(|r| r.path.clone())
        .collect();
    watches.sort();
    watches.dedup();
    let counters = sim.counters();
    let auth0_management_calls = counters
        .iter()
        .filter(|(key, _)| key.contains(" /api/v2"))
        .map(|(_, v)| v)
        .sum();
    sim.shutdown().await;
    Run {
        clients: n,
        hwm_kib,
        rss_kib,
        synced_after,
        quiet_after,
        reconciles: reconciled,
        log_problems,
        kube_requests: requests.len(),
        by_kind,
        watches,
        auth0_management_calls,
        token_requests: counters.get("POST /oauth/token"),
    }
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn secs(d: Option<Duration>) -> String {
    d.map_or("not reached".into(), |d| {
        format!("{:.1} s", d.as_secs_f64())
    })
}

#[tokio::main]
async fn main() {
    let n = clients_param();
    let binary = operator_binary();
    if !binary.exists() {
        eprintln!(
            "{} does not exist: run this through `cargo bench --bench memory`, which builds it, or build it with `cargo build --release --bin nexus-operator` and set NEXUS_BENCH_BINARY",
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
        "memory: operator {} (built {built}); baseline with 0 AuthClients, then {n}",
        binary.display()
    );
    let dir = std::env::temp_dir().join(format!("nexus-bench-memory-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");

    let mut runs = Vec::new();
    for clients in [0, n] {
        println!("run with {clients} AuthClients:");
        runs.push(measure(&binary, &dir, clients).await);
    }
    let _ = std::fs::remove_dir_all(&dir);

    println!();
    println!(
        "| AuthClients + Secrets | peak RSS (VmHWM) | RSS at the end | all reconciled | quiet | reconciles | Kubernetes requests | Auth0 Management API calls | log warnings |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    for r in &runs {
        println!(
            "| {} + {} | {:.1} MiB | {:.1} MiB | {} | {} | {} | {} | {} (+{} token) | {} |",
            r.clients,
            r.clients,
            mib(r.hwm_kib),
            mib(r.rss_kib),
            secs(r.synced_after),
            secs(r.quiet_after),
            r.reconciles,
            r.kube_requests,
            r.auth0_management_calls,
            r.token_requests,
            r.log_problems,
        );
    }
    if let [base, full] = runs.as_slice()
        && full.clients > 0
    {
        let per_object =
            (full.hwm_kib.saturating_sub(base.hwm_kib)) as f64 * 1024.0 / (2 * full.clients) as f64;
        println!();
        println!(
            "peak RSS above the baseline: {:.1} MiB, {:.0} bytes per cached object ({} AuthClients + {} Secrets)",
            mib(full.hwm_kib.saturating_sub(base.hwm_kib)),
            per_object,
            full.clients,
            full.clients
        );
        println!("watches opened: {}", full.watches.join(", "));
        println!(
            "Kubernetes requests of the operator with {} AuthClients:",
            full.clients
        );
        for (key, count) in &full.by_kind {
            println!("  {key:<40} {count}");
        }
        if full.quiet_after.is_none() {
            println!(
                "WARNING: the fake API never went quiet for {QUIET:?} within {BUDGET:?}: the operator kept sending requests"
            );
        }
    }
}
