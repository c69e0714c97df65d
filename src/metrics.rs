//! Prometheus metrics of the controller, and the `/metrics`, `/healthz`, `/readyz` server.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::{
    Router, extract::State, http::StatusCode, http::header, response::IntoResponse, routing::get,
};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::{
    counter::Counter, family::Family, gauge::Gauge, histogram::Histogram,
};
use prometheus_client::registry::Registry;
use tokio::sync::RwLock;

/// Labels of `nexus_reconciles_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabels {
    /// `ok`, `requeue` (transient error), `failed` (permanent error).
    pub result: String,
}

/// Labels of `nexus_authclients`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ConditionLabels {
    /// `True`, `False` or `Unknown`.
    pub ready: String,
    /// Reason of the Ready condition.
    pub reason: String,
}

/// Metrics of the reconciler.
#[derive(Clone)]
pub struct ControllerMetrics {
    /// Reconciles by result.
    pub reconciles: Family<ResultLabels, Counter>,
    /// Reconcile duration in seconds.
    pub reconcile_duration: Histogram,
    /// AuthClients by Ready status and reason (as last reconciled by this replica).
    pub authclients: Family<ConditionLabels, Gauge>,
}

impl Default for ControllerMetrics {
    fn default() -> Self {
        Self {
            reconciles: Family::default(),
            reconcile_duration: Histogram::new([
                0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
            ]),
            authclients: Family::default(),
        }
    }
}

impl ControllerMetrics {
    /// Adds the families to `registry`.
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "nexus_reconciles",
            "AuthClient reconciles by result",
            self.reconciles.clone(),
        );
        registry.register(
            "nexus_reconcile_duration_seconds",
            "Duration of one AuthClient reconcile",
            self.reconcile_duration.clone(),
        );
        registry.register(
            "nexus_authclients",
            "AuthClients by Ready status and reason",
            self.authclients.clone(),
        );
    }
}

/// Readiness shared between the subsystems and the health endpoints.
#[derive(Clone, Default)]
pub struct Health {
    ready: Arc<AtomicBool>,
}

impl Health {
    /// Marks the process ready (caches synced, servers bound) or not.
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::SeqCst);
    }
    /// Whether `/readyz` answers 200.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }
}

#[derive(Clone)]
struct ServerState {
    registry: Arc<RwLock<Registry>>,
    health: Health,
}

/// The router serving `/metrics` (OpenMetrics text), `/healthz` and `/readyz`.
pub fn router(registry: Arc<RwLock<Registry>>, health: Health) -> Router {
    Router::new()
        .route("/metrics", get(metrics_handler))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .with_state(ServerState { registry, health })
}

async fn metrics_handler(State(state): State<ServerState>) -> impl IntoResponse {
    let mut body = String::new();
    let registry = state.registry.read().await;
    match prometheus_client::encoding::text::encode(&mut body, &registry) {
        Ok(()) => (
            StatusCode::OK,
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            body,
        )
            .into_response(),
        Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, "metrics encoding failed").into_response(),
    }
}

async fn readyz(State(state): State<ServerState>) -> impl IntoResponse {
    if state.health.is_ready() {
        (StatusCode::OK, "ready")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready")
    }
}

/// Serves [`router`] on `addr` until `shutdown` completes.
pub async fn serve(
    addr: SocketAddr,
    registry: Arc<RwLock<Registry>>,
    health: Health,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, "serving /metrics, /healthz and /readyz");
    axum::serve(listener, router(registry, health))
        .with_graceful_shutdown(shutdown)
        .await
}
