//! The HTTP handlers: `POST /v1/tenants/{tenantId}/clients`,
//! `GET /v1/tenants/{tenantId}/clients/{clientId}`, health, readiness and the OpenAPI document,
//! plus the middleware that times, counts and bounds every request.

// `Problem` (~200 bytes) is the error of every step; it is built at most once per request, so
// boxing it would only add noise.
#![allow(clippy::result_large_err)]

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::Extension;
use axum::body::{Body, Bytes};
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::runtime::wait::await_condition;
use kube::{Api, ResourceExt};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::auth::{self, Authenticator, Principal};
use crate::config::FacadeConfig;
use crate::mapping::{self, ClientFacts, ClientResponse};
use crate::metrics::FacadeMetrics;
use crate::problem::Problem;
use crate::server::PeerAddr;
use crate::validate;
use auth0_mgmt::{Auth0Registry, Priority, TenantClient};
use nexus_controller::tenant_access::{self, TenantError};
use nexus_crd::conditions::{self, ConditionStatus, READY};
use nexus_crd::validation::{self as rules, shown};
use nexus_crd::{AuthClient, AuthClientSpec, AuthTenant, NexusClient, ReadyReason};

/// Field manager of the facade's writes (distinct from the controller's).
pub const FACADE_FIELD_MANAGER: &str = "nexus-facade";
/// Label marking AuthClients created by the facade.
pub const CREATED_BY_LABEL: &str = "auth.nexus.dev/created-by";
/// Label with the tenant of a facade-created AuthClient.
pub const TENANT_LABEL: &str = "auth.nexus.dev/tenant";
/// Annotation: what the object name was derived from (`key:<sha256>` or `name:<sha256>`).
pub const IDEMPOTENCY_ANNOTATION: &str = "auth.nexus.dev/facade-idempotency";
/// Label with the Auth0 client id of a Ready facade-created AuthClient (see
/// [`client_id_label`]): `GET /v1/tenants/{t}/clients/{id}` finds the object by it.
pub const CLIENT_ID_LABEL: &str = "auth.nexus.dev/client-id";
/// Annotation: SHA-256 of the canonical request body.
pub const REQUEST_HASH_ANNOTATION: &str = "auth.nexus.dev/facade-request-hash";
/// Annotation: caller that created the object (`jwt:<sub>` / `basic:<user>`), written once, at
/// creation.
pub const CALLER_ANNOTATION: &str = "auth.nexus.dev/facade-caller";

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

async fn create(
    state: &AppState,
    id: &RequestId,
    peer: Option<IpAddr>,
    tenant: &str,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, Problem> {
    // 1. Who is calling? (No Kubernetes write, no body read before this succeeds.)
    let principal = authenticate(state, id, peer, headers).await?;
    // 2. May they act on this tenant?
    authorize(state, id, &principal, tenant).map_err(|f| Problem::forbidden(f.detail()))?;
    if !is_object_name(tenant) {
        return Err(Problem::tenant_not_found(format!(
            "No tenant named '{}'.",
            shorten(tenant)
        )));
    }
    // 3. Is the request valid? (The contract and Auth0's rules: the shared validation.)
    check_content_type(headers)?;
    let bytes = read_body(body, state.config.max_body_bytes, state.config.body_timeout).await?;
    let client = validate::parse_request(&bytes).map_err(Problem::invalid_request)?;
    let key = idempotency_key(headers)?;
    // 4. Does the tenant exist, is it served here, does the body pass its URL policy, and can
    //    it be used at all? Everything that can be refused is refused before an object exists.
    let tenant_obj = load_tenant(state, tenant).await?;
    let namespace = facade_namespace(state, &tenant_obj, tenant)?;
    let policy = rules::validate_url_policy(&client, &tenant_obj.spec.url_policy);
    if !policy.is_empty() {
        return Err(Problem::invalid_request(validate::field_errors(policy)));
    }
    let tenant_client = usable_tenant(state, &tenant_obj, &namespace).await?;
    // 5. Create (or find) the AuthClient and wait for the operator.
    let identity = Identity::new(tenant, &principal, key.as_deref(), &client);
    let api: Api<AuthClient> = Api::namespaced(state.kube.clone(), &namespace);
    ensure_auth_client(
        &api,
        &identity,
        &tenant_obj,
        &namespace,
        &principal,
        &client,
        id,
    )
    .await?;
    let (outcome, last) =
        wait_ready(state, &api, &identity.object_name, &identity.request_hash).await;
    let reference = json!({"namespace": namespace, "name": identity.object_name});
    match outcome {
        WaitState::Ready { client_id, .. } => {
            let object = last.ok_or_else(|| read_later(&reference))?;
            // The label GET finds the client by: without it the Location would not lead to it.
            label_client_id(&api, &object, &client_id)
                .await
                .map_err(|error| {
                    tracing::warn!(%error, "cannot label the AuthClient with its client id");
                    read_later(&reference)
                })?;
            let body = client_body(state, &tenant_client, &namespace, &object, &client_id)
                .await
                .map_err(|_| read_later(&reference))?;
            tracing::info!(
                request_id = %id.0, tenant, caller = %principal.id, authclient = %identity.object_name,
                client_id = %client_id, "client ready"
            );
            Ok(client_answer(StatusCode::CREATED, tenant, &client_id, body))
        }
        WaitState::Rejected { reason, message } => {
            tracing::info!(request_id = %id.0, tenant, authclient = %identity.object_name, %reason, "operator rejected the client");
            let mut errors = BTreeMap::new();
            errors.insert("$".to_owned(), vec![message.clone()]);
            let mut p = Problem::new(
                StatusCode::BAD_REQUEST,
                "rejected",
                "The client was rejected",
                format!("{reason}: {message}"),
            );
            p.errors = Some(errors);
            Err(p.with_extension("authClient", reference))
        }
        WaitState::TenantGone => Err(Problem::tenant_not_found(format!(
            "No tenant named '{tenant}'."
        ))),
        WaitState::Failed { reason, message } => {
            tracing::warn!(request_id = %id.0, tenant, authclient = %identity.object_name, %reason, %message, "operator cannot create the client");
            Err(Problem::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "operator-failed",
                "The operator cannot create this client",
                format!("{reason}: {message}"),
            )
            .with_extension("authClient", reference))
        }
        WaitState::Superseded => Err(conflict(
            "Another request with the same idempotency basis but a different body replaced this one; retry to get the current client.",
        )),
        WaitState::Gone => Err(conflict(
            "The AuthClient was deleted while waiting for it; retry the request.",
        )),
        WaitState::WatchFailed => Err(Problem::unavailable(
            "Cannot watch the AuthClient right now; retry the same request (no duplicate will be created).",
            2,
        )),
        WaitState::Pending => {
            let condition = last
                .as_ref()
                .and_then(|o| o.status.as_ref())
                .and_then(|s| conditions::find(&s.conditions, READY))
                .map(|c| json!({"reason": c.reason, "message": c.message}));
            tracing::info!(request_id = %id.0, tenant, authclient = %identity.object_name, "timed out waiting for Ready");
            let mut reference = reference;
            if let Some(condition) = condition {
                reference["ready"] = condition;
            }
            Err(Problem::new(
                StatusCode::GATEWAY_TIMEOUT,
                "creation-in-progress",
                "The client is still being created",
                format!(
                    "The operator has not finished creating the client yet. It is AuthClient {namespace}/{} \
                     (kubectl -n {namespace} get authclient {}). Retry the same request (same Idempotency-Key, \
                     or the same client name) to receive it; no duplicate will be created.",
                    identity.object_name, identity.object_name
                ),
            )
            .with_header(header::RETRY_AFTER, "5")
            .with_extension("authClient", reference))
        }
    }
}

/// The problem of `GET` for a client the caller may not see, and for one that does not exist:
/// one and the same answer, so that a 404 does not reveal whether the id exists.
pub fn client_not_found() -> Problem {
    Problem::new(
        StatusCode::NOT_FOUND,
        "client-not-found",
        "Client not found",
        "No client with this id was created through this API in this tenant.",
    )
}

/// Whether `principal` may read the client (and its secret) that `caller` created: only the
/// creator, or a `client.write.all` caller.
pub fn may_read(principal: &Principal, creator: Option<&str>) -> bool {
    principal.permissions.contains(auth::CLIENT_WRITE_ALL) || creator == Some(principal.id.as_str())
}

/// Value of [`CLIENT_ID_LABEL`] for `client_id`: the id itself when it is a valid label value
/// (Auth0's ids are), else `h-` and 40 hex digits of its SHA-256.
pub fn client_id_label(client_id: &str) -> String {
    if is_label_value(client_id) {
        client_id.to_owned()
    } else {
        format!("h-{}", &hex(&Sha256::digest(client_id.as_bytes()))[..40])
    }
}

/// `GET`: the 200 body of a client the facade created in this tenant, to the caller recorded at
/// its creation or a `client.write.all` caller; 404 (the same body as a missing client) to
/// everyone else. The object is found by its client-id label, never by listing the namespace.
async fn fetch(
    state: &AppState,
    id: &RequestId,
    peer: Option<IpAddr>,
    tenant: &str,
    client_id: &str,
    headers: &HeaderMap,
) -> Result<Response, Problem> {
    let principal = authenticate(state, id, peer, headers).await?;
    authorize(state, id, &principal, tenant).map_err(|_| client_not_found())?;
    if !is_object_name(tenant)
        || client_id.is_empty()
        || client_id.len() > rules::MAX_ID
        || !client_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(client_not_found());
    }
    let tenant_obj = load_tenant(state, tenant).await?;
    let namespace = facade_namespace(state, &tenant_obj, tenant)?;
    let api: Api<AuthClient> = Api::namespaced(state.kube.clone(), &namespace);
    let selector = format!(
        "{CREATED_BY_LABEL}=facade,{CLIENT_ID_LABEL}={}",
        client_id_label(client_id)
    );
    let objects = api
        .list(&ListParams::default().labels(&selector))
        .await
        .map_err(|error| {
            tracing::warn!(%error, "cannot look up the AuthClient");
            Problem::unavailable("The Kubernetes API is unavailable; retry later.", 2)
        })?;
    let object = objects
        .items
        .into_iter()
        .find(|o| {
            o.spec.tenant == tenant
                && o.status.as_ref().and_then(|s| s.client_id.as_deref()) == Some(client_id)
                && o.status
                    .as_ref()
                    .and_then(|s| conditions::find(&s.conditions, READY))
                    .is_some_and(|c| c.status == ConditionStatus::True.as_str())
        })
        .ok_or_else(client_not_found)?;
    if !may_read(
        &principal,
        object
            .annotations()
            .get(CALLER_ANNOTATION)
            .map(String::as_str),
    ) {
        // Not counted in a metric: the metrics port would then tell a caller who can scrape it
        // whether another caller's client id exists. The log (operators only) keeps the decision.
        tracing::info!(request_id = %id.0, decision = "forbidden", reason = "not_the_creator", caller = %principal.id, "auth decision");
        return Err(client_not_found());
    }
    let tenant_client = usable_tenant(state, &tenant_obj, &namespace).await?;
    let reference = json!({"namespace": namespace, "name": object.name_any()});
    let body = client_body(state, &tenant_client, &namespace, &object, client_id)
        .await
        .map_err(|_| read_later(&reference))?;
    Ok(client_answer(StatusCode::OK, tenant, client_id, body))
}

/// Puts [`CLIENT_ID_LABEL`] on a Ready AuthClient (once), so that `GET` finds it by label.
async fn label_client_id(
    api: &Api<AuthClient>,
    object: &AuthClient,
    client_id: &str,
) -> Result<(), kube::Error> {
    let value = client_id_label(client_id);
    if object.labels().get(CLIENT_ID_LABEL) == Some(&value) {
        return Ok(());
    }
    let patch = json!({"metadata": {"labels": {CLIENT_ID_LABEL: value}}});
    let params = PatchParams {
        field_manager: Some(FACADE_FIELD_MANAGER.to_owned()),
        ..PatchParams::default()
    };
    api.patch(&object.name_any(), &params, &Patch::Merge(&patch))
        .await
        .map(|_| ())
}

async fn authenticate(
    state: &AppState,
    id: &RequestId,
    peer: Option<IpAddr>,
    headers: &HeaderMap,
) -> Result<Principal, Problem> {
    match state.auth.authenticate(headers, peer).await {
        Ok(principal) => Ok(principal),
        Err(failure) => {
            let decision = if failure.is_unavailable() {
                "unavailable"
            } else if matches!(failure, auth::AuthFailure::TooManyFailures { .. }) {
                "throttled"
            } else {
                "unauthenticated"
            };
            state.metrics.observe_decision(decision, failure.reason());
            tracing::info!(request_id = %id.0, decision, reason = failure.reason(), "auth decision");
            Err(auth_problem(failure))
        }
    }
}

/// The answer to a failed authentication: 503 (ours, retry after `Retry-After`), 429 (too many
/// failed logins, retry after `Retry-After`) or 401.
pub fn auth_problem(failure: auth::AuthFailure) -> Problem {
    if failure.is_unavailable() {
        Problem::unavailable(failure.detail(), failure.retry_after_secs())
    } else if matches!(failure, auth::AuthFailure::TooManyFailures { .. }) {
        Problem::too_many_requests(failure.detail(), failure.retry_after_secs())
    } else {
        Problem::unauthorized(failure.detail(), failure.bearer_error())
    }
}

fn authorize(
    state: &AppState,
    id: &RequestId,
    principal: &Principal,
    tenant: &str,
) -> Result<(), auth::Forbidden> {
    let tenant_shown = shorten(tenant);
    match auth::authorize(principal, tenant) {
        Ok(permission) => {
            state.metrics.observe_decision("allow", permission);
            tracing::info!(request_id = %id.0, decision = "allow", reason = permission, caller = %principal.id, tenant = %tenant_shown, "auth decision");
            Ok(())
        }
        Err(forbidden) => {
            state
                .metrics
                .observe_decision("forbidden", forbidden.reason());
            tracing::info!(request_id = %id.0, decision = "forbidden", reason = forbidden.reason(), caller = %principal.id, tenant = %tenant_shown, "auth decision");
            Err(forbidden)
        }
    }
}

fn check_content_type(headers: &HeaderMap) -> Result<(), Problem> {
    let ok = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|mime| mime.trim().eq_ignore_ascii_case("application/json"))
        .unwrap_or(false);
    if ok {
        Ok(())
    } else {
        Err(Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "Unsupported media type",
            "The body must be application/json.",
        ))
    }
}

/// Reads at most `limit` bytes of body, all of it within `timeout` (408 otherwise: a body that
/// stalls is the client's problem, not a dependency's).
pub async fn read_body(body: Body, limit: usize, timeout: Duration) -> Result<Vec<u8>, Problem> {
    match tokio::time::timeout(timeout, read_all(body, limit)).await {
        Ok(result) => result,
        Err(_) => Err(Problem::request_timeout(timeout.as_secs().max(1))),
    }
}

async fn read_all(body: Body, limit: usize) -> Result<Vec<u8>, Problem> {
    let too_large = || {
        Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body-too-large",
            "Request body too large",
            format!("The body must be at most {limit} bytes."),
        )
    };
    let mut stream = body.into_data_stream();
    let mut bytes = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|_| Problem::invalid_field("$", "the body could not be read"))?;
        if bytes.len() + chunk.len() > limit {
            return Err(too_large());
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, Problem> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let bad = || {
        Problem::invalid_field(
            "Idempotency-Key",
            "must be 1 to 255 visible ASCII characters",
        )
    };
    let text = value.to_str().map_err(|_| bad())?;
    if text.is_empty() || text.len() > 255 || !text.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
        return Err(bad());
    }
    Ok(Some(text.to_owned()))
}

async fn load_tenant(state: &AppState, tenant: &str) -> Result<AuthTenant, Problem> {
    let api: Api<AuthTenant> = Api::all(state.kube.clone());
    match api.get_opt(tenant).await {
        Ok(Some(t)) => Ok(t),
        Ok(None) => Err(Problem::tenant_not_found(format!(
            "No tenant named '{tenant}'."
        ))),
        Err(error) => {
            tracing::warn!(%error, "cannot read AuthTenant");
            Err(Problem::unavailable(
                "The Kubernetes API is unavailable; retry later.",
                2,
            ))
        }
    }
}

/// The tenant's facadeNamespace; a 500 naming the misconfiguration when the operator does not
/// serve that namespace (`--watch-namespaces`): an AuthClient there would never be reconciled,
/// and the operator may not write there.
fn facade_namespace(
    state: &AppState,
    tenant_obj: &AuthTenant,
    tenant: &str,
) -> Result<String, Problem> {
    let namespace = tenant_obj
        .spec
        .facade_namespace
        .clone()
        .filter(|ns| !ns.is_empty())
        .ok_or_else(|| {
            Problem::tenant_not_found(format!(
                "Tenant '{tenant}' is not served by this API (its AuthTenant has no facadeNamespace)."
            ))
        })?;
    if !state.config.served.serves(&namespace) {
        tracing::warn!(tenant, namespace, served = %state.config.served, "facadeNamespace is not served");
        return Err(Problem::misconfigured(
            "The tenant is misconfigured",
            format!(
                "AuthTenant '{}' names facadeNamespace '{namespace}', which this operator does not serve \
                 (it serves {}); an administrator must add '{namespace}' to the served namespaces \
                 (--watch-namespaces; Helm: watchNamespaces) or change the AuthTenant.",
                tenant_obj.name_any(),
                state.config.served
            ),
        ));
    }
    Ok(namespace)
}

/// The tenant's Management API client, or a 500 naming what an administrator must fix: the
/// credentials Secret (missing, without its keys), the endpoint, or a facade namespace the
/// tenant does not allow. Refused at once, before anything is created, instead of an
/// AuthClient that waits forever.
async fn usable_tenant(
    state: &AppState,
    tenant: &AuthTenant,
    namespace: &str,
) -> Result<Arc<TenantClient>, Problem> {
    let name = tenant.name_any();
    let allowed = &tenant.spec.allowed_namespaces;
    // A selector needs the Namespace's labels: the operator evaluates it (and reports
    // NamespaceNotAllowed, answered 500 as soon as it does).
    if allowed.selector.is_none() && !allowed.names.iter().any(|n| n == namespace || n == "*") {
        return Err(Problem::misconfigured(
            "The tenant is misconfigured",
            format!(
                "AuthTenant '{name}' does not allow its own facadeNamespace '{namespace}' \
                 (spec.allowedNamespaces); an administrator must add it."
            ),
        ));
    }
    tenant_access::tenant_client(&state.kube, &state.auth0, tenant)
        .await
        .map_err(|error| match error {
            TenantError::Kube(error) => {
                tracing::warn!(%error, "cannot read the tenant's credentials Secret");
                Problem::unavailable("The Kubernetes API is unavailable; retry later.", 2)
            }
            other => {
                tracing::warn!(tenant = %name, error = %other, "tenant misconfigured");
                Problem::misconfigured(
                    "The tenant is misconfigured",
                    format!("{other}; an administrator must fix the AuthTenant or its Secret."),
                )
            }
        })
}

/// How a request maps onto one AuthClient.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// Name of the AuthClient.
    pub object_name: String,
    /// `key:<sha256>` or `name:<sha256>`.
    pub basis: String,
    /// Whether an Idempotency-Key was given.
    pub keyed: bool,
    /// SHA-256 hex of the canonical client body.
    pub request_hash: String,
    /// Tenant.
    pub tenant: String,
}

impl Identity {
    /// With an Idempotency-Key: `req-<16 hex of sha256(tenant, caller, key)>` (keys are scoped
    /// to the caller). Without: `<slug of name>-<10 hex of sha256(tenant, name)>`, so the same
    /// name in the same tenant is always the same object.
    pub fn new(
        tenant: &str,
        principal: &Principal,
        key: Option<&str>,
        client: &NexusClient,
    ) -> Self {
        let request_hash = hex(&Sha256::digest(canonical(client)));
        match key {
            Some(key) => {
                let digest = hex(&Sha256::digest(format!(
                    "key\0{tenant}\0{}\0{key}",
                    principal.id
                )));
                Self {
                    object_name: format!("req-{}", &digest[..16]),
                    basis: format!("key:{digest}"),
                    keyed: true,
                    request_hash,
                    tenant: tenant.to_owned(),
                }
            }
            None => {
                let digest = hex(&Sha256::digest(format!("name\0{tenant}\0{}", client.name)));
                Self {
                    object_name: format!("{}-{}", slug(&client.name, 40), &digest[..10]),
                    basis: format!("name:{digest}"),
                    keyed: false,
                    request_hash,
                    tenant: tenant.to_owned(),
                }
            }
        }
    }
}

fn canonical(client: &NexusClient) -> Vec<u8> {
    serde_json::to_vec(client).unwrap_or_default()
}

/// The AuthClient of this request, created with the name only if no object has it: the API
/// server's create is atomic, so of two callers racing for one name exactly one creates it
/// and is recorded as its caller; the other gets 409 and never the secret.
async fn ensure_auth_client(
    api: &Api<AuthClient>,
    identity: &Identity,
    tenant: &AuthTenant,
    namespace: &str,
    principal: &Principal,
    client: &NexusClient,
    id: &RequestId,
) -> Result<(), Problem> {
    let mut object = AuthClient::new(
        &identity.object_name,
        AuthClientSpec {
            tenant: identity.tenant.clone(),
            client: client.clone(),
            secret: Default::default(),
            deletion_policy: Default::default(),
            drift_policy: Default::default(),
            adoption_policy: Default::default(),
            settings: None,
            grants: Vec::new(),
            connections: Vec::new(),
            credentials: Default::default(),
        },
    );
    let mut labels = BTreeMap::from([(CREATED_BY_LABEL.to_owned(), "facade".to_owned())]);
    if is_label_value(&identity.tenant) {
        labels.insert(TENANT_LABEL.into(), identity.tenant.clone());
    }
    object.metadata.namespace = Some(namespace.to_owned());
    object.metadata.labels = Some(labels);
    object.metadata.annotations = Some(BTreeMap::from([
        (IDEMPOTENCY_ANNOTATION.to_owned(), identity.basis.clone()),
        (
            REQUEST_HASH_ANNOTATION.to_owned(),
            identity.request_hash.clone(),
        ),
        (CALLER_ANNOTATION.to_owned(), principal.id.clone()),
    ]));
    let params = PostParams {
        field_manager: Some(FACADE_FIELD_MANAGER.to_owned()),
        ..PostParams::default()
    };
    match api.create(&params, &object).await {
        Ok(_) => {
            tracing::info!(request_id = %id.0, authclient = %identity.object_name, namespace, "created AuthClient");
            Ok(())
        }
        Err(kube::Error::Api(status)) if status.code == 409 => {
            existing_auth_client(api, identity, namespace, principal, client, id).await
        }
        Err(error) => Err(kube_write_problem(&error, tenant, namespace)),
    }
}

/// The object of this request's name exists: it is this caller's earlier attempt (a retry),
/// a refused attempt this request corrects, or someone else's (409 / 422).
async fn existing_auth_client(
    api: &Api<AuthClient>,
    identity: &Identity,
    namespace: &str,
    principal: &Principal,
    client: &NexusClient,
    id: &RequestId,
) -> Result<(), Problem> {
    let existing = api
        .get_opt(&identity.object_name)
        .await
        .map_err(|error| {
            tracing::warn!(%error, "cannot read AuthClient");
            Problem::unavailable("The Kubernetes API is unavailable; retry later.", 2)
        })?
        .ok_or_else(|| {
            conflict("A client for this request was deleted at this moment; retry the request.")
        })?;
    let annotations = existing.annotations();
    if annotations.get(IDEMPOTENCY_ANNOTATION) != Some(&identity.basis)
        || existing.spec.tenant != identity.tenant
    {
        return Err(conflict(&format!(
            "AuthClient {namespace}/{} exists and was not created for this request.",
            identity.object_name
        )));
    }
    if existing.metadata.deletion_timestamp.is_some() {
        return Err(conflict(
            "A client for this request is being deleted; retry later.",
        ));
    }
    if annotations.get(CALLER_ANNOTATION) != Some(&principal.id) {
        return Err(conflict(&format!(
            "A client named '{}' already exists in this tenant (created by another caller).",
            shown(&client.name)
        )));
    }
    if annotations.get(REQUEST_HASH_ANNOTATION) == Some(&identity.request_hash) {
        tracing::info!(request_id = %id.0, authclient = %identity.object_name, "retry of an earlier request");
        return Ok(());
    }
    if !correctable(&existing) {
        return Err(if identity.keyed {
            Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency-key-reused",
                "Idempotency-Key reused with a different body",
                "This Idempotency-Key was already used for a different request body.",
            )
        } else {
            conflict(&format!(
                "A client named '{}' already exists in this tenant with different settings.",
                shown(&client.name)
            ))
        });
    }
    // The earlier attempt of this caller was refused (invalid spec / Auth0 rejection) and created
    // nothing: this request replaces its spec, guarded by the resourceVersion we saw (a
    // concurrent change makes the API answer 409).
    let Some(resource_version) = existing.metadata.resource_version.clone() else {
        return Err(conflict(
            "The existing AuthClient has no resourceVersion; retry.",
        ));
    };
    let patch: json_patch::Patch = serde_json::from_value(json!([
        {"op": "replace", "path": "/metadata/resourceVersion", "value": resource_version},
        {"op": "replace", "path": "/spec/client", "value": client},
        {"op": "replace", "path": format!("/metadata/annotations/{}", REQUEST_HASH_ANNOTATION.replace('/', "~1")), "value": identity.request_hash},
    ]))
    .map_err(|_| Problem::internal())?;
    let params = PatchParams {
        field_manager: Some(FACADE_FIELD_MANAGER.to_owned()),
        ..PatchParams::default()
    };
    match api
        .patch(&identity.object_name, &params, &Patch::<()>::Json(patch))
        .await
    {
        Ok(_) => {
            tracing::info!(request_id = %id.0, authclient = %identity.object_name, namespace, "replaced the refused AuthClient spec");
            Ok(())
        }
        Err(kube::Error::Api(status)) if status.code == 409 => Err(conflict(
            "A concurrent request changed this client; retry the request.",
        )),
        Err(error) => {
            tracing::warn!(%error, "cannot update AuthClient");
            Err(Problem::unavailable(
                "The Kubernetes API is unavailable; retry later.",
                2,
            ))
        }
    }
}

/// What a failed write of the AuthClient means for the caller.
fn kube_write_problem(error: &kube::Error, tenant: &AuthTenant, namespace: &str) -> Problem {
    let tenant_name = tenant.name_any();
    match error {
        // A create in a namespace that does not exist: the API names the namespace.
        kube::Error::Api(status) if status.code == 404 => {
            tracing::warn!(tenant = %tenant_name, namespace, "the facade namespace does not exist");
            Problem::misconfigured(
                "The tenant is misconfigured",
                format!(
                    "AuthTenant '{tenant_name}' names facadeNamespace '{namespace}', which does not exist; \
                     an administrator must create the namespace or correct the AuthTenant."
                ),
            )
        }
        kube::Error::Api(status) if status.code == 403 => {
            tracing::warn!(namespace, "the facade may not create AuthClients here");
            Problem::misconfigured(
                "The facade is misconfigured",
                format!(
                    "The facade is not allowed to create AuthClients in namespace '{namespace}' \
                     (facadeNamespace of AuthTenant '{tenant_name}'); an administrator must grant it."
                ),
            )
        }
        // The API server refuses the body itself: a permanent input error, not a retryable one.
        kube::Error::Api(status) if matches!(status.code, 400 | 422) => {
            tracing::info!(
                code = status.code,
                "the Kubernetes API refused the AuthClient"
            );
            let mut errors = BTreeMap::new();
            errors.insert("$".to_owned(), vec![shown_long(&status.message)]);
            let mut p = Problem::new(
                StatusCode::BAD_REQUEST,
                "invalid-request",
                "The request is invalid",
                "The Kubernetes API refused the client built from this body; see errors.",
            );
            p.errors = Some(errors);
            p
        }
        error => {
            tracing::warn!(%error, "cannot create AuthClient");
            Problem::unavailable("The Kubernetes API is unavailable; retry later.", 2)
        }
    }
}

/// A message of the API server, shown at most 512 characters long and without control
/// characters.
fn shown_long(message: &str) -> String {
    let mut out: String = message
        .chars()
        .take(512)
        .map(|c| if rules::is_forbidden_char(c) { ' ' } else { c })
        .collect();
    if message.chars().count() > 512 {
        out.push('…');
    }
    out
}

/// An earlier attempt that the operator refused without creating anything in Auth0.
fn correctable(existing: &AuthClient) -> bool {
    let status = existing.status.as_ref();
    let no_client = status.and_then(|s| s.client_id.as_ref()).is_none();
    let refused = status
        .and_then(|s| conditions::find(&s.conditions, READY))
        .is_some_and(|c| {
            c.status == ConditionStatus::False.as_str()
                && matches!(
                    ReadyReason::parse(&c.reason),
                    Some(ReadyReason::InvalidSpec | ReadyReason::Auth0Rejected)
                )
        });
    no_client && refused
}

fn conflict(detail: &str) -> Problem {
    Problem::new(StatusCode::CONFLICT, "conflict", "Conflict", detail)
}

fn read_later(reference: &serde_json::Value) -> Problem {
    Problem::unavailable(
        "The client exists but its details cannot be read right now; retry the same request to receive it.",
        2,
    )
    .with_extension("authClient", reference.clone())
}

/// What the operator made of the AuthClient.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WaitState {
    /// Not decided yet (or timed out).
    Pending,
    /// Ready for this generation.
    Ready {
        /// Auth0 client id.
        client_id: String,
        /// Secret holding the credentials.
        secret_name: String,
    },
    /// Refused for a reason the caller can fix (400).
    Rejected {
        /// Condition reason.
        reason: String,
        /// Condition message (Auth0's message for `Auth0Rejected`).
        message: String,
    },
    /// The tenant disappeared.
    TenantGone,
    /// Refused for a reason the caller cannot fix.
    Failed {
        /// Condition reason.
        reason: String,
        /// Condition message.
        message: String,
    },
    /// Another request replaced the spec.
    Superseded,
    /// Deleted.
    Gone,
    /// The watch failed.
    WatchFailed,
}

/// Pure classification of the observed object.
pub fn classify(object: Option<&AuthClient>, request_hash: &str) -> WaitState {
    let Some(object) = object else {
        return WaitState::Gone;
    };
    if object
        .annotations()
        .get(REQUEST_HASH_ANNOTATION)
        .map(String::as_str)
        != Some(request_hash)
    {
        return WaitState::Superseded;
    }
    let Some(status) = object.status.as_ref() else {
        return WaitState::Pending;
    };
    let Some(ready) = conditions::find(&status.conditions, READY) else {
        return WaitState::Pending;
    };
    let observed = ready.observed_generation.or(status.observed_generation);
    if let Some(generation) = object.metadata.generation
        && observed.is_none_or(|o| o < generation)
    {
        return WaitState::Pending;
    }
    let reason = ReadyReason::parse(&ready.reason);
    if ready.status == ConditionStatus::True.as_str() {
        return match &status.client_id {
            Some(client_id) => WaitState::Ready {
                client_id: client_id.clone(),
                secret_name: status
                    .secret_name
                    .clone()
                    .unwrap_or_else(|| object.secret_name()),
            },
            None => WaitState::Pending,
        };
    }
    if ready.status != ConditionStatus::False.as_str() {
        return WaitState::Pending;
    }
    match reason {
        Some(
            reason @ (ReadyReason::InvalidSpec
            | ReadyReason::Auth0Rejected
            | ReadyReason::ClientNotFound
            | ReadyReason::AdoptionRefused
            | ReadyReason::AdoptionNotAllowed),
        ) => WaitState::Rejected {
            reason: reason.as_str().to_owned(),
            message: ready.message.clone(),
        },
        Some(ReadyReason::TenantNotFound) => WaitState::TenantGone,
        Some(reason @ (ReadyReason::NamespaceNotAllowed | ReadyReason::SecretConflict)) => {
            WaitState::Failed {
                reason: reason.as_str().to_owned(),
                message: ready.message.clone(),
            }
        }
        _ => WaitState::Pending,
    }
}

/// Waits (bounded by the ready timeout) until the operator decided; returns the decision and
/// the last object seen.
async fn wait_ready(
    state: &AppState,
    api: &Api<AuthClient>,
    name: &str,
    request_hash: &str,
) -> (WaitState, Option<AuthClient>) {
    let hash = request_hash.to_owned();
    let condition =
        move |object: Option<&AuthClient>| classify(object, &hash) != WaitState::Pending;
    match tokio::time::timeout(
        state.config.ready_timeout,
        await_condition(api.clone(), name, condition),
    )
    .await
    {
        Err(_) => (WaitState::Pending, api.get_opt(name).await.ok().flatten()),
        Ok(Ok(object)) => (classify(object.as_ref(), request_hash), object),
        Ok(Err(error)) => {
            tracing::warn!(%error, "watching the AuthClient failed");
            (WaitState::WatchFailed, None)
        }
    }
}

/// The 201 body of a Ready AuthClient: its Secret (cross-checked against the client id) and
/// the client as Auth0 has it. Failures are logged here; the caller answers 503.
async fn client_body(
    state: &AppState,
    tenant_client: &TenantClient,
    namespace: &str,
    object: &AuthClient,
    client_id: &str,
) -> Result<ClientResponse, ()> {
    let secret_name = object
        .status
        .as_ref()
        .and_then(|s| s.secret_name.clone())
        .unwrap_or_else(|| object.secret_name());
    let secrets: Api<Secret> = Api::namespaced(state.kube.clone(), namespace);
    let secret = secrets.get_opt(&secret_name).await.map_err(|error| {
        tracing::warn!(%error, "cannot read the client's Secret");
    })?;
    let keys = &object.spec.secret.keys;
    let data = secret.and_then(|s| s.data).unwrap_or_default();
    let read = |key: &str| {
        data.get(key)
            .and_then(|v| String::from_utf8(v.0.clone()).ok())
    };
    if read(&keys.client_id).is_some_and(|id| id != client_id) {
        tracing::warn!(
            secret = %secret_name,
            "the Secret holds another client id; not answering with it"
        );
        return Err(());
    }
    let Some(client_secret) = read(&keys.client_secret) else {
        tracing::warn!(secret = %secret_name, "the Secret has no client secret yet");
        return Err(());
    };
    let auth0_client = tenant_client
        .get_client(client_id, Priority::Normal)
        .await
        .map_err(|error| {
            tracing::warn!(%error, "cannot read the client from Auth0");
        })?;
    Ok(mapping::to_response(
        &ClientFacts::from(&auth0_client),
        Some(client_secret),
    ))
}

fn client_answer(
    status: StatusCode,
    tenant: &str,
    client_id: &str,
    body: ClientResponse,
) -> Response {
    let location = format!(
        "/v1/tenants/{tenant}/clients/{}",
        url::form_urlencoded::byte_serialize(client_id.as_bytes()).collect::<String>()
    );
    let mut response = (status, axum::Json(body)).into_response();
    let headers = response.headers_mut();
    if let Ok(location) = HeaderValue::from_str(&location) {
        headers.insert(
            if status == StatusCode::CREATED {
                header::LOCATION
            } else {
                header::CONTENT_LOCATION
            },
            location,
        );
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

/// Lowercase alphanumerics and single dashes, at most `max` characters, never empty.
pub fn slug(text: &str, max: usize) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
        if out.len() >= max {
            break;
        }
    }
    let out = out.trim_end_matches('-').to_owned();
    if out.is_empty() {
        "client".to_owned()
    } else {
        out
    }
}

/// A Kubernetes object name (DNS subdomain: lowercase alphanumerics, `-` and `.`).
pub fn is_object_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && name
            .as_bytes()
            .first()
            .is_some_and(u8::is_ascii_alphanumeric)
        && name
            .as_bytes()
            .last()
            .is_some_and(u8::is_ascii_alphanumeric)
}

fn is_label_value(value: &str) -> bool {
    value.len() <= 63
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_')
        && value
            .as_bytes()
            .first()
            .is_some_and(u8::is_ascii_alphanumeric)
        && value
            .as_bytes()
            .last()
            .is_some_and(u8::is_ascii_alphanumeric)
}

fn shorten(text: &str) -> String {
    shown(&text.chars().take(64).collect::<String>())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
    use nexus_crd::AuthClientSpec;

    fn principal(id: &str) -> Principal {
        Principal {
            id: id.into(),
            scheme: auth::Scheme::Basic,
            permissions: Default::default(),
            tenants: Default::default(),
        }
    }

    fn client(name: &str) -> NexusClient {
        NexusClient {
            name: name.into(),
            app_type: "spa".into(),
            ..Default::default()
        }
    }

    /// Finding 9: a body that stalls is answered 408 (the caller's problem, not a dependency's).
    #[tokio::test(start_paused = true)]
    async fn a_stalled_body_is_408() {
        let first = futures::stream::once(async {
            Ok::<_, std::io::Error>(Bytes::from_static(br#"{"name": "#))
        });
        let body = Body::from_stream(first.chain(futures::stream::pending()));
        let problem = read_body(body, 1024, Duration::from_secs(10))
            .await
            .expect_err("stalled");
        assert_eq!(problem.status, 408);
        assert!(
            problem
                .headers
                .iter()
                .any(|(name, value)| name == header::CONNECTION && value == "close")
        );
        let complete = read_body(Body::from("{}"), 1024, Duration::from_secs(10)).await;
        assert_eq!(complete.expect("complete body"), b"{}");
    }

    #[test]
    fn slugs_and_names() {
        assert_eq!(slug("My Billing App!", 40), "my-billing-app");
        assert_eq!(slug("<<>>", 40), "client");
        assert_eq!(slug(&"a".repeat(80), 40).len(), 40);
        assert_eq!(slug("ab--cd__", 40), "ab-cd");
        assert!(is_object_name("t1.example"));
        assert!(!is_object_name("T1"));
        assert!(!is_object_name("a/b"));
        assert!(!is_object_name("-a"));
    }

    #[test]
    fn identity_is_deterministic_and_scoped() {
        let a = Identity::new("t1", &principal("basic:a"), None, &client("Billing App"));
        let b = Identity::new("t1", &principal("basic:b"), None, &client("Billing App"));
        assert_eq!(
            a.object_name, b.object_name,
            "same tenant + name = same object"
        );
        assert!(a.object_name.starts_with("billing-app-"));
        assert_eq!(a.object_name.len(), "billing-app-".len() + 10);
        let other_tenant = Identity::new("t2", &principal("basic:a"), None, &client("Billing App"));
        assert_ne!(a.object_name, other_tenant.object_name);
        let k1 = Identity::new("t1", &principal("basic:a"), Some("k"), &client("x"));
        let k2 = Identity::new("t1", &principal("basic:a"), Some("k"), &client("y"));
        assert_eq!(k1.object_name, k2.object_name, "key decides, not the body");
        assert_ne!(k1.request_hash, k2.request_hash);
        let k3 = Identity::new("t1", &principal("basic:b"), Some("k"), &client("x"));
        assert_ne!(k1.object_name, k3.object_name, "keys are per caller");
    }

    fn object(
        hash: &str,
        generation: i64,
        cond: Option<(&str, &str, i64)>,
        client_id: Option<&str>,
    ) -> AuthClient {
        let mut o = AuthClient::new(
            "n",
            AuthClientSpec {
                tenant: "t1".into(),
                client: client("x"),
                secret: Default::default(),
                deletion_policy: Default::default(),
                drift_policy: Default::default(),
                adoption_policy: Default::default(),
                settings: None,
                grants: Vec::new(),
                connections: Vec::new(),
                credentials: Default::default(),
            },
        );
        o.metadata.generation = Some(generation);
        o.metadata.annotations =
            Some([(REQUEST_HASH_ANNOTATION.to_owned(), hash.to_owned())].into());
        let mut status = nexus_crd::AuthClientStatus {
            client_id: client_id.map(str::to_owned),
            ..Default::default()
        };
        if let Some((s, reason, observed)) = cond {
            status.conditions.push(Condition {
                type_: READY.into(),
                status: s.into(),
                reason: reason.into(),
                message: "Auth0 says no".into(),
                observed_generation: Some(observed),
                last_transition_time: Time(k8s_openapi::jiff::Timestamp::UNIX_EPOCH),
            });
        }
        o.status = Some(status);
        o
    }

    #[test]
    fn classification() {
        assert_eq!(classify(None, "h"), WaitState::Gone);
        assert_eq!(
            classify(Some(&object("other", 1, None, None)), "h"),
            WaitState::Superseded
        );
        assert_eq!(
            classify(Some(&object("h", 1, None, None)), "h"),
            WaitState::Pending
        );
        assert_eq!(
            classify(
                Some(&object("h", 2, Some(("True", "Synced", 1)), Some("id"))),
                "h"
            ),
            WaitState::Pending,
            "stale generation"
        );
        assert_eq!(
            classify(
                Some(&object("h", 2, Some(("True", "Synced", 2)), Some("id"))),
                "h"
            ),
            WaitState::Ready {
                client_id: "id".into(),
                secret_name: "n-auth0".into()
            }
        );
        assert_eq!(
            classify(
                Some(&object("h", 1, Some(("False", "Auth0Rejected", 1)), None)),
                "h"
            ),
            WaitState::Rejected {
                reason: "Auth0Rejected".into(),
                message: "Auth0 says no".into()
            }
        );
        assert_eq!(
            classify(
                Some(&object(
                    "h",
                    1,
                    Some(("False", "AdoptionNotAllowed", 1)),
                    None
                )),
                "h"
            ),
            WaitState::Rejected {
                reason: "AdoptionNotAllowed".into(),
                message: "Auth0 says no".into()
            },
            "a refused adoption answers at once instead of after the ready timeout"
        );
        assert_eq!(
            classify(
                Some(&object("h", 1, Some(("False", "RateLimited", 1)), None)),
                "h"
            ),
            WaitState::Pending
        );
        assert!(correctable(&object(
            "h",
            1,
            Some(("False", "InvalidSpec", 1)),
            None
        )));
        assert!(!correctable(&object(
            "h",
            1,
            Some(("False", "InvalidSpec", 1)),
            Some("id")
        )));
        assert!(!correctable(&object(
            "h",
            1,
            Some(("True", "Synced", 1)),
            Some("id")
        )));
    }
}
