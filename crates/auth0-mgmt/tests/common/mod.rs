//! Shared by the suites that run `TenantClient` against the embedded Auth0 simulator: the
//! simulator on a loopback port and a client of it.

#![allow(dead_code)] // each suite uses its own part

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use auth0_mgmt::{
    Auth0Error, Auth0Metrics, Auth0Registry, SecretString, TenantClient, TenantConfig,
    default_http_client,
};
use auth0_sim::{self as sim, FailAction, M2mCredential, RateLimit, SimConfig, SimHandle};

/// A simulator of `config` on a loopback port.
pub async fn simulator(config: SimConfig) -> SimHandle {
    sim::start(config, "127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("simulator")
}

/// A simulator without a rate limit.
pub async fn unlimited() -> SimHandle {
    simulator(SimConfig {
        rate_limit: RateLimit::unlimited(),
        ..SimConfig::default()
    })
    .await
}

/// A registry whose HTTP client times out after 10 s.
pub fn registry() -> Auth0Registry {
    Auth0Registry::new(
        default_http_client(Duration::from_secs(10)).expect("http"),
        Auth0Metrics::new(),
    )
}

/// The tenant `sim` as the operator configures it: the simulator, `cred`, and a rate limit of
/// `rps` per second after a `burst`.
pub fn tenant_config(sim: &SimHandle, cred: &M2mCredential, rps: u32, burst: u32) -> TenantConfig {
    TenantConfig {
        tenant: "sim".into(),
        domain: sim.domain().to_owned(),
        base_url: sim.base_url(),
        client_id: cred.client_id.clone(),
        client_secret: SecretString::new(cred.client_secret.clone()),
        requests_per_second: rps,
        burst,
    }
}

/// A client of the simulator with `cred` (1,000 requests a second).
pub fn client_for(sim: &SimHandle, cred: &M2mCredential) -> Arc<TenantClient> {
    registry().tenant(tenant_config(sim, cred, 1000, 1000))
}

/// A client of the simulator with its default M2M credential.
pub fn client(sim: &SimHandle) -> Arc<TenantClient> {
    client_for(sim, &sim.m2m().clone())
}

/// The POST to `route` (the simulator's first) answered 503: `call` (which sends it) returns
/// the transient error without a retry (the caller owns crash-safe creation).
pub async fn assert_post_not_retried<T: std::fmt::Debug>(
    sim: &SimHandle,
    route: &str,
    call: impl Future<Output = Result<T, Auth0Error>>,
) {
    sim.fail_once("POST", route, FailAction::Status(503));
    let err = call.await.expect_err("the 503 is returned");
    assert!(err.is_transient(), "{err:?}");
    assert_eq!(
        sim.counters().get(&format!("POST {route}")),
        1,
        "not retried"
    );
}

/// Serves `app` on a loopback port (for the life of the test's runtime); returns its address.
pub async fn serve(app: axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
    addr
}

/// `err` is Auth0's 404 with the error code `code`.
pub fn assert_not_found(err: &Auth0Error, code: &str) {
    assert!(err.is_not_found(), "{err:?}");
    assert_eq!(err.error_code(), Some(code), "{err:?}");
}
