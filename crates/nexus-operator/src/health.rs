//! The `/metrics`, `/healthz` and `/readyz` server.
//!
//! What the probes mean (the chart's liveness probe is `/healthz`, its readiness probe
//! `/readyz`):
//!
//! * `/healthz` (liveness): the process can still do its job by itself. It fails (503, naming
//!   the check) when a registered check fails: the controller has stopped while the process
//!   lives on, its loop has not run for a minute, or reconciles are in flight and none has
//!   finished for `--liveness-stall-seconds` ([`nexus_controller::liveness`]). It does not
//!   fail while the API server or Auth0 is unreachable: the watches and reconciles retry by
//!   themselves and resume when it returns, and a restart would not help. A standby replica
//!   (campaigning for the lease, controller not started) is alive.
//! * `/readyz` (readiness): the HTTP servers are up and the process is not stopping. A
//!   standby replica is ready (it serves the facade and its metrics); readiness says nothing
//!   about leadership.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use axum::{
    Router, extract::State, http::StatusCode, http::header, response::IntoResponse, routing::get,
};
use nexus_facade::server::ServerLimits;
use prometheus_client::registry::Registry;
use tokio::sync::RwLock;

/// One liveness check: `Err(reason)` when the process can no longer do its job.
type Check = Arc<dyn Fn() -> Result<(), String> + Send + Sync>;

/// Readiness and liveness shared between the subsystems and the health endpoints.
#[derive(Clone, Default)]
pub struct Health {
    ready: Arc<AtomicBool>,
    checks: Arc<Mutex<Vec<(&'static str, Check)>>>,
}

impl Health {
    /// Marks the process ready (servers bound, not stopping) or not.
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::SeqCst);
    }
    /// Whether `/readyz` answers 200.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }

    /// Adds a check `/healthz` runs on every probe, named `name` in its answer.
    pub fn add_liveness_check(
        &self,
        name: &'static str,
        check: impl Fn() -> Result<(), String> + Send + Sync + 'static,
    ) {
        self.checks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push((name, Arc::new(check)));
    }

    /// Makes `/healthz` fail when the controller reporting to `liveness` stalls or stops
    /// (see [`nexus_controller::liveness`]).
    pub fn watch_controller(
        &self,
        liveness: nexus_controller::Liveness,
        limits: nexus_controller::LivenessLimits,
    ) {
        self.add_liveness_check("controller", move || {
            liveness.check(limits).map_err(|error| error.to_string())
        });
    }

    /// `Ok` when every liveness check passes; otherwise the failures, `name: reason` each.
    pub fn liveness(&self) -> Result<(), String> {
        let checks = self
            .checks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        let failures: Vec<String> = checks
            .iter()
            .filter_map(|(name, check)| check().err().map(|reason| format!("{name}: {reason}")))
            .collect();
        if failures.is_empty() {
            Ok(())
        } else {
            Err(failures.join("; "))
        }
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
        .route("/healthz", get(healthz))
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

async fn healthz(State(state): State<ServerState>) -> impl IntoResponse {
    match state.health.liveness() {
        Ok(()) => (StatusCode::OK, "ok".to_owned()),
        Err(failures) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("unhealthy: {failures}"),
        ),
    }
}

async fn readyz(State(state): State<ServerState>) -> impl IntoResponse {
    if state.health.is_ready() {
        (StatusCode::OK, "ready")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready")
    }
}

/// Serves [`router`] on `addr` within `limits` (connection cap, header-read and idle
/// timeouts: the facade's server loop, `nexus_facade::server`) until `shutdown` completes.
pub async fn serve(
    addr: SocketAddr,
    registry: Arc<RwLock<Registry>>,
    health: Health,
    limits: ServerLimits,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    serve_on(listener, registry, health, limits, shutdown).await
}

/// The router of the probe listener: `/healthz` and `/readyz` only.
pub fn probe_router(health: Health) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(ServerState {
            registry: Arc::new(RwLock::new(Registry::default())),
            health,
        })
}

/// Serves [`probe_router`] on a bound listener within `limits` until `shutdown` completes: a
/// listener of its own, so that connections held open on the metrics port cannot starve the
/// kubelet's probes.
pub async fn serve_probes_on(
    listener: tokio::net::TcpListener,
    health: Health,
    limits: ServerLimits,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let addr = listener.local_addr()?;
    tracing::info!(%addr, "serving /healthz and /readyz for the probes");
    nexus_facade::server::serve(listener, probe_router(health), limits, shutdown).await
}

/// [`serve`] on a bound listener.
pub async fn serve_on(
    listener: tokio::net::TcpListener,
    registry: Arc<RwLock<Registry>>,
    health: Health,
    limits: ServerLimits,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let addr = listener.local_addr()?;
    tracing::info!(%addr, "serving /metrics, /healthz and /readyz");
    nexus_facade::server::serve(listener, router(registry, health), limits, shutdown).await
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    use super::*;

    /// The metrics/health server closes a connection that sends its headers one byte a second
    /// once the header-read timeout passed, and holds the connection beyond its cap.
    #[tokio::test(start_paused = true)]
    async fn slow_headers_are_cut_and_connections_capped() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let limits = ServerLimits {
            max_connections: 1,
            header_read_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(30),
        };
        let health = Health::default();
        health.set_ready(true);
        tokio::spawn(serve_on(
            listener,
            Arc::new(RwLock::new(Registry::default())),
            health,
            limits,
            std::future::pending(),
        ));
        let slow = TcpStream::connect(addr).await.unwrap();
        let (mut read, mut write) = slow.into_split();
        write
            .write_all(b"GET /healthz HTTP/1.1\r\nX-Slow: ")
            .await
            .unwrap();
        let dribble = tokio::spawn(async move {
            while write.write_all(b"a").await.is_ok() {
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
        // The cap is 1: a second connection waits while the slow one is open.
        let mut second = TcpStream::connect(addr).await.unwrap();
        second
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let started = tokio::time::Instant::now();
        let mut buf = [0u8; 256];
        let closed = tokio::time::timeout(Duration::from_secs(3600), async {
            while let Ok(n) = read.read(&mut buf).await {
                if n == 0 {
                    break;
                }
            }
        })
        .await;
        dribble.abort();
        assert!(
            closed.is_ok(),
            "the slow connection is still open after an hour"
        );
        assert!(
            started.elapsed() < Duration::from_secs(6),
            "{:?}",
            started.elapsed()
        );
        // Its slot is free: the waiting connection is served.
        let n = tokio::time::timeout(Duration::from_secs(1), second.read(&mut buf))
            .await
            .expect("served")
            .unwrap();
        assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    }

    /// Attack: a client that can reach the metrics port holds every connection the metrics
    /// server allows (here its cap of 1, held open forever by a request that never ends). The
    /// probe listener still answers `/healthz` and `/readyz`, so the liveness probe does not
    /// fail and the pod is not restarted; the metrics port itself is starved, as its cap says.
    #[tokio::test(start_paused = true)]
    async fn probes_answer_while_the_metrics_port_is_held() {
        let limits = ServerLimits {
            max_connections: 1,
            header_read_timeout: Duration::from_secs(3600),
            idle_timeout: Duration::from_secs(3600),
        };
        let health = Health::default();
        health.set_ready(true);
        let metrics = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let metrics_addr = metrics.local_addr().unwrap();
        tokio::spawn(serve_on(
            metrics,
            Arc::new(RwLock::new(Registry::default())),
            health.clone(),
            limits,
            std::future::pending(),
        ));
        let probes = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let probes_addr = probes.local_addr().unwrap();
        tokio::spawn(serve_probes_on(
            probes,
            health,
            limits,
            std::future::pending(),
        ));

        // The attacker's connection: a request head that never ends.
        let mut held = TcpStream::connect(metrics_addr).await.unwrap();
        held.write_all(b"GET /healthz HTTP/1.1\r\nX-Slow: ")
            .await
            .unwrap();
        // Wait until the server has taken it (its one slot): a probe on the metrics port waits.
        let mut starved = TcpStream::connect(metrics_addr).await.unwrap();
        starved
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut buf = [0u8; 256];
        assert!(
            tokio::time::timeout(Duration::from_secs(60), starved.read(&mut buf))
                .await
                .is_err(),
            "the metrics port answered past its cap"
        );

        for path in ["/healthz", "/readyz"] {
            let mut probe = TcpStream::connect(probes_addr).await.unwrap();
            probe
                .write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
                .await
                .unwrap();
            let n = tokio::time::timeout(Duration::from_secs(1), probe.read(&mut buf))
                .await
                .expect("the probe listener answers while the metrics port is held")
                .unwrap();
            assert!(buf[..n].starts_with(b"HTTP/1.1 200"), "{path}");
        }
        // The probe listener serves no metrics.
        let mut probe = TcpStream::connect(probes_addr).await.unwrap();
        probe
            .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let n = probe.read(&mut buf).await.unwrap();
        assert!(buf[..n].starts_with(b"HTTP/1.1 404"));
        drop(held);
    }
}
