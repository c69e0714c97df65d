//! Throughput and latency of the facade for requests it answers without the operator: refused
//! (403) and validated (400, and 404 for an unknown tenant) requests, with JWT and with Basic
//! authentication. The load generator (32 concurrent keep-alive clients, full HTTP POSTs), the
//! facade, FakeKube (the Kubernetes API, in-process) and the Auth0 simulator (the JWT issuer and
//! its JWKS) share the process.
//!
//! ```text
//! cargo bench -p nexus-facade --bench throughput
//! ```
//!
//! Not a test: it asserts only what makes the numbers meaningless when it fails (every answer
//! has the expected status, no AuthClient is written), and exits non-zero then.

use std::time::{Duration, Instant};

use kube_fake::FakeKube;
use nexus_facade::{self as facade, FacadeConfig, FacadeMetrics, JwtConfig, ObjectRef};
use nexus_testing::facade::{self as callers, AUDIENCE};
use nexus_testing::world;
use serde_json::json;

const FACADE_NS: &str = "nexus-clients";
const CREDS_NS: &str = "nexus-system";
const APP_TOKEN: &str = "app-token-0123456789-abcdef";
const PASSWORD: &str = "alice-password-Zq8";
const CONCURRENCY: usize = 32;

/// One kind of request: where it goes, how it authenticates, what it sends and must get.
struct Scenario {
    label: &'static str,
    tenant: &'static str,
    /// A Bearer token (with the ApplicationToken), or Basic `alice` when `None`.
    token: Option<String>,
    body: &'static str,
    expected: u16,
    requests: usize,
}

#[tokio::main]
async fn main() {
    let sim = world::start_sim(world::sim_config(1000)).await;
    let kube = FakeKube::new();
    kube.insert(world::namespace(FACADE_NS));
    kube.insert(world::sim_m2m_secret(&sim, CREDS_NS, "m2m"));
    for tenant in ["acme", "globex"] {
        let mut tenant = world::tenant(tenant, &sim, (CREDS_NS, "m2m"), (1000, 1000), &[FACADE_NS]);
        tenant["spec"]["facadeNamespace"] = json!(FACADE_NS);
        kube.insert(tenant);
    }
    let users = json!([callers::user(
        "alice",
        PASSWORD,
        &["client.write"],
        &["acme"]
    )]);
    kube.insert(callers::credentials_secret(
        CREDS_NS,
        "facade-creds",
        &[APP_TOKEN],
        Some(&users),
    ));

    let mut config = FacadeConfig::new(
        Some(JwtConfig::new(
            sim.issuer(),
            AUDIENCE.to_owned(),
            sim.jwks_url(),
        )),
        Some(ObjectRef {
            namespace: CREDS_NS.into(),
            name: "facade-creds".into(),
        }),
    );
    // The Basic scenario measures how fast verifications run, so every client gets a slot; with
    // the default (2) the others would be answered 503 at once (docs/facade.md).
    config.max_concurrent_password_checks = CONCURRENCY;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let (_stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(facade::serve(
        config,
        kube.client(),
        world::auth0_registry(Duration::from_secs(5)),
        FacadeMetrics::default(),
        listener,
        async move {
            let _ = stopped.await;
        },
    ));

    let token = |permissions: &[&str], tenants: &[&str]| {
        sim.mint_jwt(callers::claims(
            &sim,
            "svc-bench@clients",
            permissions,
            tenants,
            Duration::from_secs(3600),
        ))
    };
    let write = token(&["client.write"], &["acme"]);
    let write_all = token(&["client.write.all"], &[]);
    let invalid = r#"{"name": "", "app_type": "webapp", "callbacks": "x"}"#;
    let valid = r#"{"name": "Bench app", "app_type": "spa", "callbacks": ["https://bench.example/cb"], "client_metadata": {"owners": "a, b"}}"#;
    let scenarios = [
        Scenario {
            label: "403 refused (JWT client.write, other tenant)",
            tenant: "globex",
            token: Some(write.clone()),
            body: valid,
            expected: 403,
            requests: 20_000,
        },
        Scenario {
            label: "400 validated (JWT, invalid body)",
            tenant: "acme",
            token: Some(write),
            body: invalid,
            expected: 400,
            requests: 20_000,
        },
        Scenario {
            label: "404 validated (JWT client.write.all, valid body, unknown tenant)",
            tenant: "nope",
            token: Some(write_all),
            body: valid,
            expected: 404,
            requests: 20_000,
        },
        Scenario {
            label: "403 refused (Basic, argon2id verify)",
            tenant: "globex",
            token: None,
            body: valid,
            expected: 403,
            requests: 384,
        },
    ];

    let http = reqwest::Client::new();
    let post = |scenario: &Scenario| {
        let request = http
            .post(format!("{base}/v1/tenants/{}/clients", scenario.tenant))
            .header("content-type", "application/json")
            .body(scenario.body);
        let request = match &scenario.token {
            Some(token) => request
                .bearer_auth(token)
                .header("ApplicationToken", APP_TOKEN),
            None => request.basic_auth("alice", Some(PASSWORD)),
        };
        async move {
            let response = request.send().await.expect("request");
            let status = response.status().as_u16();
            let _ = response.bytes().await;
            status
        }
    };
    let mut failed = false;
    for scenario in &scenarios {
        // Warm-up: the JWKS fetch, the credentials cache, the connection pool.
        for _ in 0..20 {
            let status = post(scenario).await;
            if status != scenario.expected {
                eprintln!(
                    "{}: {status}, expected {}",
                    scenario.label, scenario.expected
                );
                std::process::exit(1);
            }
        }
        let per_worker = scenario.requests / CONCURRENCY;
        let started = Instant::now();
        let workers = (0..CONCURRENCY).map(|_| async {
            let mut latencies = Vec::with_capacity(per_worker);
            let mut unexpected = 0usize;
            for _ in 0..per_worker {
                let t = Instant::now();
                let status = post(scenario).await;
                latencies.push(t.elapsed());
                unexpected += usize::from(status != scenario.expected);
            }
            (latencies, unexpected)
        });
        let results = futures::future::join_all(workers).await;
        let elapsed = started.elapsed();
        let unexpected: usize = results.iter().map(|(_, u)| u).sum();
        let mut latencies: Vec<Duration> = results.into_iter().flat_map(|(l, _)| l).collect();
        latencies.sort();
        let pct =
            |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
        println!(
            "{}: {} requests, concurrency {CONCURRENCY}: {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms",
            scenario.label,
            latencies.len(),
            latencies.len() as f64 / elapsed.as_secs_f64(),
            pct(0.50).as_secs_f64() * 1e3,
            pct(0.99).as_secs_f64() * 1e3,
        );
        if unexpected > 0 {
            eprintln!(
                "{}: {unexpected} answers were not {}",
                scenario.label, scenario.expected
            );
            failed = true;
        }
    }
    let writes = kube
        .requests()
        .iter()
        .filter(|r| r.method != "GET" && r.path.contains("/authclients"))
        .count();
    if writes > 0 {
        eprintln!("{writes} AuthClient writes: none expected");
        failed = true;
    }
    if failed {
        std::process::exit(1);
    }
}
