//! The Nexus REST facade: serves `POST /v1/tenants/{tenantId}/clients` (see
//! `contract/nexus-api.md`) by creating `AuthClient`s, waiting for the operator to make them
//! Ready and answering with the client and its secret.
//!
//! Entry points: [`FacadeArgs`] (CLI flags) -> [`FacadeConfig::from_args`] -> [`serve`].
//! Routes: the POST above, `GET /v1/tenants/{tenantId}/clients/{clientId}` (the `Location` of a
//! 201), `/healthz`, `/readyz`, `/openapi.json`. Details and decisions:
//! `docs/facade.md`.

pub mod auth;
pub mod body;
pub mod caller;
pub mod claim;
pub mod config;
#[cfg(test)]
mod fixtures;
pub mod flow;
pub mod idempotency;
pub mod mapping;
pub mod metrics;
pub mod names;
pub mod openapi;
pub mod problem;
pub mod responses;
pub mod routes;
pub mod server;
pub mod tenant;
pub mod throttle;
pub mod validate;
pub mod wait;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use thiserror::Error;

pub use config::{ConfigError, FacadeArgs, FacadeConfig, FacadeHttpArgs, JwtConfig, ObjectRef};
pub use metrics::FacadeMetrics;

use auth0_mgmt::Auth0Registry;

/// Why the facade could not start or stopped.
#[derive(Debug, Error)]
pub enum FacadeError {
    /// The configuration is invalid.
    #[error("invalid facade configuration: {0}")]
    Config(#[from] ConfigError),
    /// Authentication could not be set up.
    #[error("facade authentication setup: {0}")]
    Auth(#[from] auth::AuthSetupError),
    /// The server failed.
    #[error("facade server: {0}")]
    Io(#[from] std::io::Error),
}

/// Builds the router (exposed for tests and embedding); [`serve`] is the usual entry point.
pub fn router(
    config: FacadeConfig,
    kube: kube::Client,
    auth0: Auth0Registry,
    metrics: FacadeMetrics,
) -> Result<(Router, Arc<routes::AppState>), FacadeError> {
    let auth = auth::Authenticator::new(
        &config,
        kube.clone(),
        metrics.password_verifications.clone(),
    )?;
    let openapi = serde_json::to_vec(&openapi::document()).unwrap_or_default();
    let state = Arc::new(routes::AppState {
        config,
        kube,
        auth0,
        auth,
        metrics,
        ready: AtomicBool::new(false),
        openapi: openapi.into(),
    });
    let router = routes::router(state.clone());
    Ok((router, state))
}

/// Serves the facade on `listener` until `shutdown` completes, then drains in-flight requests
/// (each bounded by the request timeout). Connections are capped and timed out as
/// `config.server` says ([`server::serve`]).
pub async fn serve(
    config: FacadeConfig,
    kube: kube::Client,
    auth0: Auth0Registry,
    metrics: FacadeMetrics,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), FacadeError> {
    let (router, state) = router(config, kube, auth0, metrics)?;
    let local = listener.local_addr()?;
    state.ready.store(true, Ordering::SeqCst);
    tracing::info!(addr = %local, "facade listening");
    let ready_state = state.clone();
    let limits = state.config.server;
    server::serve(listener, router, limits, async move {
        shutdown.await;
        ready_state.ready.store(false, Ordering::SeqCst);
        tracing::info!("facade shutting down");
    })
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;
    use std::time::Duration;

    use argon2::password_hash::{PasswordHasher, SaltString};
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use axum::routing::get;
    use base64::Engine;
    use tower::ServiceExt;
    use tower_http::catch_panic::CatchPanicLayer;

    use super::*;

    /// A Kubernetes API that answers every request with the facade credentials Secret holding
    /// `users`.
    fn kube_with_users(users: serde_json::Value) -> kube::Client {
        let b64 = |v: &[u8]| base64::engine::general_purpose::STANDARD.encode(v);
        let secret = serde_json::json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "creds", "namespace": "ops"},
            "data": {"users.json": b64(users.to_string().as_bytes())}
        });
        let body = serde_json::to_vec(&secret).unwrap();
        let service = tower::service_fn(move |_: http::Request<kube::client::Body>| {
            let body = body.clone();
            async move {
                Ok::<_, std::convert::Infallible>(http::Response::new(kube::client::Body::from(
                    body,
                )))
            }
        });
        kube::Client::new(service, "default")
    }

    fn hash(password: &str) -> String {
        let salt = SaltString::generate(&mut rand::rngs::OsRng);
        argon2::Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .unwrap()
            .to_string()
    }

    fn facade(config: FacadeConfig) -> (Router, Arc<routes::AppState>, FacadeMetrics) {
        let users = serde_json::json!([{
            "username": "alice", "passwordHash": hash("right-password"),
            "permissions": ["client.write"], "tenants": ["acme"]
        }]);
        let metrics = FacadeMetrics::default();
        let auth0 = Auth0Registry::new(
            auth0_mgmt::default_http_client(Duration::from_secs(5)).unwrap(),
            auth0_mgmt::Auth0Metrics::new(),
        );
        let (router, state) =
            router(config, kube_with_users(users), auth0, metrics.clone()).unwrap();
        (router, state, metrics)
    }

    fn config() -> FacadeConfig {
        FacadeConfig::new(
            None,
            Some(ObjectRef {
                namespace: "ops".into(),
                name: "creds".into(),
            }),
        )
    }

    /// A Basic GET from `peer`: (status, Retry-After, problem body).
    async fn basic(
        router: &Router,
        peer: &str,
        user: &str,
        password: &str,
    ) -> (StatusCode, Option<String>, serde_json::Value) {
        let credentials =
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        let peer: SocketAddr = peer.parse().unwrap();
        let request = Request::get("/v1/tenants/acme/clients/abc")
            .header("authorization", format!("Basic {credentials}"))
            .extension(server::PeerAddr(peer))
            .body(Body::empty())
            .unwrap();
        let response =
            tokio::time::timeout(Duration::from_secs(60), router.clone().oneshot(request))
                .await
                .expect("answered without waiting")
                .unwrap();
        let status = response.status();
        let retry_after = response
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_owned());
        let body = axum::body::to_bytes(response.into_body(), 8192)
            .await
            .unwrap();
        (
            status,
            retry_after,
            serde_json::from_slice(&body).unwrap_or_default(),
        )
    }

    /// Item 8: with every verification slot taken, the next Basic request is answered 503 with
    /// Retry-After at once, and costs no verification.
    #[tokio::test(start_paused = true)]
    async fn a_basic_request_beyond_the_verification_slots_is_503_at_once() {
        let (router, state, metrics) = facade(config());
        let held = state.auth.hold_password_checks(2);
        let (status, retry_after, body) =
            basic(&router, "192.0.2.1:4000", "alice", "wrong-password").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        assert_eq!(retry_after.as_deref(), Some("1"));
        assert_eq!(body["status"], 503);
        assert_eq!(metrics.password_verifications.get(), 0);
        drop(held);
        let (status, _, _) = basic(&router, "192.0.2.1:4000", "alice", "wrong-password").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(metrics.password_verifications.get(), 1);
    }

    /// Item 8: a Basic request that is cancelled while argon2 runs (client gone, request
    /// timeout) keeps its verification slot until argon2 has finished: cancelled requests
    /// cannot pile up verifications on the blocking pool.
    #[tokio::test(start_paused = true)]
    async fn a_cancelled_request_keeps_its_slot_until_argon2_finishes() {
        let (router, state, metrics) = facade(config());
        // Credentials cached first, so that the request below reaches argon2 at once.
        let (status, _, _) = basic(&router, "192.0.2.1:4000", "alice", "wrong").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(state.auth.free_password_checks(), 2);
        let credentials = base64::engine::general_purpose::STANDARD.encode("alice:wrong-again");
        let request = Request::get("/v1/tenants/acme/clients/abc")
            .header("authorization", format!("Basic {credentials}"))
            .body(Body::empty())
            .unwrap();
        let mut call = Box::pin(router.clone().oneshot(request));
        // Poll until the verification started, then cancel the request.
        while metrics.password_verifications.get() < 2 {
            assert!(futures::poll!(call.as_mut()).is_pending());
        }
        drop(call);
        assert_eq!(
            state.auth.free_password_checks(),
            1,
            "the slot is held while argon2 runs"
        );
        tokio::time::timeout(Duration::from_secs(60), async {
            while state.auth.free_password_checks() < 2 {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await
        .expect("the slot is freed once argon2 finished");
    }

    /// Item 8: failed logins are limited per user and per source address (429 with
    /// Retry-After, no verification), until the window passes.
    #[tokio::test(start_paused = true)]
    async fn failed_logins_are_429_per_user_and_per_address() {
        let mut config = config();
        config.failed_logins = throttle::FailureLimits {
            per_user: 3,
            per_address: 5,
            window: Duration::from_secs(60),
            capacity: 64,
        };
        let (router, _state, metrics) = facade(config);
        // Per user, from several addresses.
        for i in 0..3 {
            let peer = format!("192.0.2.{}:4000", 10 + i);
            let (status, _, _) = basic(&router, &peer, "alice", "guess").await;
            assert_eq!(status, StatusCode::UNAUTHORIZED);
        }
        let (status, retry_after, body) = basic(&router, "192.0.2.99:4000", "alice", "guess").await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
        assert_eq!(retry_after.as_deref(), Some("60"));
        assert_eq!(body["status"], 429);
        assert_eq!(metrics.password_verifications.get(), 3, "no verification");
        // Even the right password waits for the window.
        let (status, _, _) = basic(&router, "192.0.2.99:4000", "alice", "right-password").await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        // Per address, spraying usernames.
        for i in 0..5 {
            let (status, _, _) =
                basic(&router, "198.51.100.7:4000", &format!("user-{i}"), "guess").await;
            assert_eq!(status, StatusCode::UNAUTHORIZED);
        }
        let (status, _, _) = basic(&router, "198.51.100.7:5000", "user-new", "guess").await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(metrics.password_verifications.get(), 8);
        // The window passes: alice may log in again.
        tokio::time::advance(Duration::from_secs(60)).await;
        let (status, _, body) = basic(&router, "192.0.2.99:4000", "alice", "right-password").await;
        assert_ne!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
        assert_ne!(status, StatusCode::UNAUTHORIZED, "{body}");
    }

    /// Item 8: an unknown user costs a verification like a known one (observed through the
    /// counter, not timing) and gets the same answer as a wrong password.
    #[tokio::test(start_paused = true)]
    async fn unknown_users_are_verified_like_known_ones() {
        let (router, _state, metrics) = facade(config());
        let (status, _, unknown) = basic(&router, "192.0.2.1:4000", "nobody", "guess").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(metrics.password_verifications.get(), 1);
        let (status, _, known) = basic(&router, "192.0.2.2:4000", "alice", "guess").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(metrics.password_verifications.get(), 2);
        assert_eq!(unknown["detail"], known["detail"]);
    }

    #[tokio::test]
    async fn panics_become_problem_500_without_the_payload() {
        let app: Router = Router::new()
            .route(
                "/boom",
                get(|| async {
                    if true {
                        panic!("secret-value-in-panic");
                    }
                    "unreachable"
                }),
            )
            .layer(CatchPanicLayer::custom(routes::panic_response));
        let response = app
            .oneshot(Request::get("/boom").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(response.headers()["content-type"], problem::PROBLEM_JSON);
        let body = axum::body::to_bytes(response.into_body(), 4096)
            .await
            .unwrap();
        assert!(!String::from_utf8_lossy(&body).contains("secret-value"));
    }
}
