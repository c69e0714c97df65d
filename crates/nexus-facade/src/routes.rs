//! The HTTP surface: the route table, the shared state, the middleware that times, counts and
//! bounds every request, the small endpoints (health, readiness, OpenAPI, 404, 405) and the two
//! client endpoints, which extract their path and hand over to [`crate::flow`].

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};

use crate::auth::Authenticator;
use crate::config::FacadeConfig;
use crate::flow::{create, fetch};
use crate::metrics::FacadeMetrics;
use crate::problem::Problem;
use crate::server::PeerAddr;
use auth0_mgmt::Auth0Registry;
use nexus_crd::validation::shown;
use tower_http::catch_panic::CatchPanicLayer;

/// The route table, wrapped in the panic catcher and the [`observe`] middleware.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route(
            "/v1/tenants/{tenant_id}/clients",
            post(create_client).fallback(collection_method_not_allowed),
        )
        .route(
            "/v1/tenants/{tenant_id}/clients/{client_id}",
            get(get_client).fallback(client_method_not_allowed),
        )
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/openapi.json", get(openapi))
        .fallback(not_found)
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(axum::middleware::from_fn_with_state(state.clone(), observe))
        .with_state(state)
}

/// Shared state of the handlers.
pub struct AppState {
    pub(crate) config: FacadeConfig,
    pub(crate) kube: kube::Client,
    pub(crate) auth0: Auth0Registry,
    pub(crate) auth: Authenticator,
    pub(crate) metrics: FacadeMetrics,
    pub(crate) ready: AtomicBool,
    pub(crate) openapi: Bytes,
}

/// Per-request id, used as the problem `instance` and in logs.
#[derive(Clone, Debug)]
pub struct RequestId(pub String);

impl RequestId {
    fn new() -> Self {
        let bytes: [u8; 8] = rand::random();
        Self(bytes.iter().map(|b| format!("{b:02x}")).collect())
    }

    fn urn(&self) -> String {
        format!("urn:nexus-operator:request:{}", self.0)
    }
}

/// Times, counts, logs and bounds every request; adds `Cache-Control: no-store`.
pub async fn observe(
    State(state): State<Arc<AppState>>,
    mut request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let id = RequestId::new();
    request.extensions_mut().insert(id.clone());
    let method = request.method().clone();
    // Only the path is logged: never headers, query or body.
    let path = request.uri().path().to_owned();
    let mut response = match tokio::time::timeout(state.config.request_timeout, next.run(request))
        .await
    {
        Ok(response) => response,
        Err(_) => Problem::unavailable("The request took too long and was abandoned; retry it.", 5)
            .with_instance(id.urn())
            .into_response(),
    };
    let headers = response.headers_mut();
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    let status = response.status().as_u16();
    let elapsed = started.elapsed();
    state.metrics.observe_status(status);
    state
        .metrics
        .request_duration
        .observe(elapsed.as_secs_f64());
    tracing::info!(
        request_id = %id.0,
        %method,
        path = %shown(&path.chars().take(256).collect::<String>()),
        status,
        duration_ms = elapsed.as_millis() as u64,
        "facade request"
    );
    response
}

/// Answers a caught panic: 500 problem, payload not echoed (nor logged: it could hold data).
pub fn panic_response(_payload: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("facade handler panicked; answered 500");
    Problem::internal().into_response()
}

/// `GET /healthz`.
pub async fn healthz() -> &'static str {
    "ok"
}

/// `GET /readyz`: 200 while serving, 503 once shutdown started.
pub async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    if state.ready.load(Ordering::SeqCst) {
        (StatusCode::OK, "ready").into_response()
    } else {
        Problem::unavailable("shutting down", 1).into_response()
    }
}

/// `GET /openapi.json`.
pub async fn openapi(State(state): State<Arc<AppState>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        state.openapi.clone(),
    )
        .into_response()
}

/// Any other path.
pub async fn not_found(Extension(id): Extension<RequestId>) -> Response {
    Problem::not_found().with_instance(id.urn()).into_response()
}

fn method_not_allowed(id: &RequestId, allow: &'static str) -> Response {
    Problem::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method-not-allowed",
        "Method not allowed",
        format!("Only {allow} is served on this path."),
    )
    .with_header(header::ALLOW, allow)
    .with_instance(id.urn())
    .into_response()
}

/// The clients collection, other method than POST.
pub async fn collection_method_not_allowed(Extension(id): Extension<RequestId>) -> Response {
    method_not_allowed(&id, "POST")
}

/// One client, other method than GET.
pub async fn client_method_not_allowed(Extension(id): Extension<RequestId>) -> Response {
    method_not_allowed(&id, "GET")
}

/// `POST /v1/tenants/{tenantId}/clients`.
pub async fn create_client(
    State(state): State<Arc<AppState>>,
    Extension(id): Extension<RequestId>,
    peer: Option<Extension<PeerAddr>>,
    tenant: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let tenant = match tenant {
        Ok(Path(tenant)) => tenant,
        Err(_) => {
            return Problem::tenant_not_found("No such tenant.")
                .with_instance(id.urn())
                .into_response();
        }
    };
    let peer = peer.map(|Extension(PeerAddr(addr))| addr.ip());
    match create(&state, &id, peer, &tenant, &headers, body).await {
        Ok(response) => response,
        Err(problem) => problem.with_instance(id.urn()).into_response(),
    }
}

/// `GET /v1/tenants/{tenantId}/clients/{clientId}`.
pub async fn get_client(
    State(state): State<Arc<AppState>>,
    Extension(id): Extension<RequestId>,
    peer: Option<Extension<PeerAddr>>,
    path: Result<Path<(String, String)>, PathRejection>,
    headers: HeaderMap,
) -> Response {
    let (tenant, client_id) = match path {
        Ok(Path(parts)) => parts,
        Err(_) => return Problem::not_found().with_instance(id.urn()).into_response(),
    };
    let peer = peer.map(|Extension(PeerAddr(addr))| addr.ip());
    match fetch(&state, &id, peer, &tenant, &client_id, &headers).await {
        Ok(response) => response,
        Err(problem) => problem.with_instance(id.urn()).into_response(),
    }
}
