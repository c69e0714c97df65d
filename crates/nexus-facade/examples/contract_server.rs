//! Test-only: the facade on loopback, in front of the in-memory Kubernetes API (served over
//! HTTP), the Auth0 simulator and the real controller, for contract testing with Schemathesis
//! (`hack/schemathesis.sh`). An example of the nexus-facade crate: built from its
//! dev-dependencies, never part of the production binary.
//!
//! ```text
//! cargo run -p nexus-facade --example contract_server -- <ready-file> [max-seconds]
//! ```
//!
//! Once everything listens it writes `<ready-file>` (JSON: `base`, `bearer`,
//! `application_token`, `tenant`) and serves until SIGINT/SIGTERM or `max-seconds` (default
//! 900), whichever comes first.

use std::time::Duration;

use auth0_mgmt::{Auth0Metrics, Auth0Registry};
use auth0_sim::{RateLimit, SimConfig};
use kube_fake::FakeKube;
use nexus_controller::metrics::ControllerMetrics;
use nexus_controller::{Context, ControllerConfig};
use nexus_facade::{FacadeConfig, FacadeMetrics, JwtConfig, ObjectRef};
use serde_json::json;
use sha2::{Digest, Sha256};

const TENANT: &str = "acme";
const FACADE_NS: &str = "nexus-clients";
const CREDS_NS: &str = "nexus-system";
const AUDIENCE: &str = "https://nexus.example/api";
const APPLICATION_TOKEN: &str = "contract-test-application-token";

fn b64(value: impl AsRef<[u8]>) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(value)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let ready_file = args
        .next()
        .ok_or("usage: contract_server <ready-file> [max-seconds]")?;
    let max_seconds: u64 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(900);
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(
            std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()),
        ))
        .with_writer(std::io::stderr)
        .init();

    let sim = auth0_sim::start(
        SimConfig {
            rate_limit: RateLimit {
                burst: 10_000,
                per_second: 10_000,
            },
            ..SimConfig::default()
        },
        "127.0.0.1:0".parse()?,
    )
    .await?;

    let kube = FakeKube::new();
    kube.require_namespaces();
    kube.insert(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": FACADE_NS}}));
    kube.insert(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": CREDS_NS}}));
    kube.insert(json!({
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "m2m", "namespace": CREDS_NS},
        "data": {"client_id": b64(&sim.m2m().client_id), "client_secret": b64(&sim.m2m().client_secret)}
    }));
    kube.insert(json!({
        "apiVersion": "auth.nexus.dev/v1alpha1", "kind": "AuthTenant", "metadata": {"name": TENANT},
        "spec": {
            "domain": sim.domain(), "endpoint": sim.base_url(),
            "credentialsSecretRef": {"namespace": CREDS_NS, "name": "m2m"},
            "rateLimit": {"requestsPerSecond": 10000, "burst": 10000},
            "allowedNamespaces": {"names": [FACADE_NS]},
            "facadeNamespace": FACADE_NS,
        }
    }));
    let token_hash: String = Sha256::digest(APPLICATION_TOKEN.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    kube.insert(json!({
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "facade-creds", "namespace": CREDS_NS},
        "data": {"application-tokens": b64(format!("{token_hash}\n"))}
    }));
    let api_addr = kube.serve("127.0.0.1:0".parse()?).await?;
    let client = || -> Result<kube::Client, Box<dyn std::error::Error>> {
        let config = kube::Config::new(format!("http://{api_addr}").parse()?);
        Ok(kube::Client::try_from(config)?)
    };

    let http = || auth0_mgmt::default_http_client(Duration::from_secs(10));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };

    let ctx = std::sync::Arc::new(Context::new(
        client()?,
        Auth0Registry::new(http()?, Auth0Metrics::new()),
        ControllerConfig {
            cluster_id: "contract-test".into(),
            ..ControllerConfig::default()
        },
        ControllerMetrics::default(),
    ));
    let controller = tokio::spawn(nexus_controller::run(ctx, None, stopped(stop_rx.clone())));

    let mut jwt = JwtConfig::new(sim.issuer(), AUDIENCE.to_owned(), sim.jwks_url());
    jwt.leeway = Duration::from_secs(5);
    let mut config = FacadeConfig::new(
        Some(jwt),
        Some(ObjectRef {
            namespace: CREDS_NS.into(),
            name: "facade-creds".into(),
        }),
    );
    config.ready_timeout = Duration::from_secs(30);
    config.request_timeout = Duration::from_secs(40);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let facade = tokio::spawn(nexus_facade::serve(
        config,
        client()?,
        Auth0Registry::new(http()?, Auth0Metrics::new()),
        FacadeMetrics::default(),
        listener,
        stopped(stop_rx.clone()),
    ));

    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs();
    let bearer = sim.mint_jwt(json!({
        "iss": sim.issuer(), "aud": AUDIENCE, "sub": "schemathesis@contract-test",
        "iat": now, "nbf": now, "exp": now + max_seconds + 300,
        "permissions": ["client.write.all"], "tenants": [],
    }));
    let ready = json!({
        "base": base, "bearer": bearer, "application_token": APPLICATION_TOKEN, "tenant": TENANT,
    });
    // Written whole, then renamed: a reader never sees half a file.
    let partial = format!("{ready_file}.partial");
    std::fs::write(&partial, serde_json::to_vec(&ready)?)?;
    std::fs::rename(&partial, &ready_file)?;
    eprintln!("contract server ready at {base}");

    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
        _ = tokio::time::sleep(Duration::from_secs(max_seconds)) => {
            eprintln!("contract server: {max_seconds} s are over");
        }
    }
    let _ = stop_tx.send(true);
    let _ = tokio::time::timeout(Duration::from_secs(10), async {
        let _ = facade.await;
        let _ = controller.await;
    })
    .await;
    eprintln!(
        "contract server: {} AuthClients, {} Auth0 clients",
        kube.list(&format!(
            "/apis/auth.nexus.dev/v1alpha1/namespaces/{FACADE_NS}/authclients"
        ))
        .len(),
        sim.clients().len()
    );
    Ok(())
}
