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

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, SaltString};
use auth0_mgmt::{self as auth0, Auth0Metrics, Auth0Registry};
use auth0_sim::{self as sim, RateLimit, SimConfig};
use base64::Engine;
use kube_fake::FakeKube;
use nexus_facade::{self as facade, FacadeConfig, FacadeMetrics, JwtConfig, ObjectRef};
use serde_json::json;
use sha2::{Digest, Sha256};

const FACADE_NS: &str = "nexus-clients";
const CREDS_NS: &str = "nexus-system";
const AUDIENCE: &str = "https://nexus.example/api";
const APP_TOKEN: &str = "app-token-0123456789-abcdef";
const PASSWORD: &str = "alice-password-Zq8";
const CONCURRENCY: usize = 32;

fn b64(value: impl AsRef<[u8]>) -> String {
    base64::engine::general_purpose::STANDARD.encode(value)
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64
}

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
    let sim = sim::start(
        SimConfig {
            rate_limit: RateLimit {
                burst: 1000,
                per_second: 1000,
            },
            ..SimConfig::default()
        },
        "127.0.0.1:0".parse().expect("addr"),
    )
    .await
    .expect("simulator");
    let kube = FakeKube::new();
    kube.insert(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": FACADE_NS}}));
    kube.insert(json!({
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "m2m", "namespace": CREDS_NS},
        "data": {"client_id": b64(&sim.m2m().client_id), "client_secret": b64(&sim.m2m().client_secret)}
    }));
    for tenant in ["acme", "globex"] {
        kube.insert(json!({
            "apiVersion": "auth.nexus.dev/v1alpha1", "kind": "AuthTenant", "metadata": {"name": tenant},
            "spec": {
                "domain": sim.domain(), "endpoint": sim.base_url(),
                "credentialsSecretRef": {"namespace": CREDS_NS, "name": "m2m"},
                "rateLimit": {"requestsPerSecond": 1000, "burst": 1000},
                "allowedNamespaces": {"names": [FACADE_NS]},
                "facadeNamespace": FACADE_NS,
            }
        }));
    }
    let token_hash: String = Sha256::digest(APP_TOKEN.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    let hash = Argon2::default()
        .hash_password(PASSWORD.as_bytes(), &salt)
        .expect("hash")
        .to_string();
    let users = json!([{"username": "alice", "passwordHash": hash, "permissions": ["client.write"], "tenants": ["acme"]}]);
    kube.insert(json!({
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "facade-creds", "namespace": CREDS_NS},
        "data": {"application-tokens": b64(format!("{token_hash}\n")), "users.json": b64(users.to_string())}
    }));

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
        Auth0Registry::new(
            auth0::default_http_client(Duration::from_secs(5)).expect("http client"),
            Auth0Metrics::new(),
        ),
        FacadeMetrics::default(),
        listener,
        async move {
            let _ = stopped.await;
        },
    ));

    let token = |permissions: &[&str], tenants: &[&str]| {
        let now = now();
        sim.mint_jwt(json!({
            "iss": sim.issuer(), "aud": AUDIENCE, "sub": "svc-bench@clients",
            "iat": now, "nbf": now - 5, "exp": now + 3600,
            "permissions": permissions, "tenants": tenants,
        }))
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
