//! The Nexus REST facade: serves `POST /v1/tenants/{tenantId}/clients` (see
//! `contract/nexus-api.md`) by creating `AuthClient`s, waiting for the operator to make them
//! Ready and answering with the client and its secret.
//!
//! Entry points: [`FacadeArgs`] (CLI flags) -> [`FacadeConfig::from_args`] -> [`serve`].
//! Routes: the POST above, `GET /v1/tenants/{tenantId}/clients/{clientId}` (the `Location` of a
//! 201), `/healthz`, `/readyz`, `/openapi.json`. Details and decisions:
//! `docs/facade.md`.

pub mod auth;
pub mod config;
pub mod handlers;
pub mod mapping;
pub mod metrics;
pub mod openapi;
pub mod problem;
pub mod validate;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::routing::{get, post};
use thiserror::Error;
use tower_http::catch_panic::CatchPanicLayer;

pub use config::{ConfigError, FacadeArgs, FacadeConfig, JwtConfig, ObjectRef};
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
) -> Result<(Router, Arc<handlers::AppState>), FacadeError> {
    let auth = auth::Authenticator::new(&config, kube.clone())?;
    let openapi = serde_json::to_vec(&openapi::document()).unwrap_or_default();
    let state = Arc::new(handlers::AppState {
        config,
        kube,
        auth0,
        auth,
        metrics,
        ready: AtomicBool::new(false),
        openapi: openapi.into(),
    });
    let router = Router::new()
        .route(
            "/v1/tenants/{tenant_id}/clients",
            post(handlers::create_client).fallback(handlers::collection_method_not_allowed),
        )
        .route(
            "/v1/tenants/{tenant_id}/clients/{client_id}",
            get(handlers::get_client).fallback(handlers::client_method_not_allowed),
        )
        .route("/healthz", get(handlers::healthz))
        .route("/readyz", get(handlers::readyz))
        .route("/openapi.json", get(handlers::openapi))
        .fallback(handlers::not_found)
        .layer(CatchPanicLayer::custom(handlers::panic_response))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            handlers::observe,
        ))
        .with_state(state.clone());
    Ok((router, state))
}

/// Serves the facade on `listener` until `shutdown` completes, then drains in-flight requests
/// (each bounded by the request timeout).
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
    axum::serve(listener, router)
        .with_graceful_shutdown(async move {
            shutdown.await;
            ready_state.ready.store(false, Ordering::SeqCst);
            tracing::info!("facade shutting down");
        })
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use tower::ServiceExt;

    use super::*;

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
            .layer(CatchPanicLayer::custom(handlers::panic_response));
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
