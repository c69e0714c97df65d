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
use kube_fake::FakeKube;
use nexus_controller::metrics::ControllerMetrics;
use nexus_controller::{Context, ControllerConfig};
use nexus_facade::{FacadeConfig, FacadeMetrics, JwtConfig, ObjectRef};
use nexus_testing::facade::{self as callers, AUDIENCE};
use nexus_testing::world;
use serde_json::json;

const TENANT: &str = "acme";
const FACADE_NS: &str = "nexus-clients";
const CREDS_NS: &str = "nexus-system";
const APPLICATION_TOKEN: &str = "contract-test-application-token";

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

    let sim = world::start_sim(world::sim_config(10_000)).await;

    let kube = FakeKube::new();
    kube.require_namespaces();
    kube.insert(world::namespace(FACADE_NS));
    kube.insert(world::namespace(CREDS_NS));
    kube.insert(world::sim_m2m_secret(&sim, CREDS_NS, "m2m"));
    let mut tenant = world::tenant(
        TENANT,
        &sim,
        (CREDS_NS, "m2m"),
        (10_000, 10_000),
        &[FACADE_NS],
    );
    tenant["spec"]["facadeNamespace"] = json!(FACADE_NS);
    kube.insert(tenant);
    kube.insert(callers::credentials_secret(
        CREDS_NS,
        "facade-creds",
        &[APPLICATION_TOKEN],
        None,
    ));
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

    let bearer = sim.mint_jwt(callers::claims(
        &sim,
        "schemathesis@contract-test",
        &["client.write.all"],
        &[],
        Duration::from_secs(max_seconds + 300),
    ));
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
        kube.list(&world::authclients_path(FACADE_NS)).len(),
        sim.clients().len()
    );
    Ok(())
}
