//! The HTTP back door under `/__sim/`, for the standalone `auth0-sim` subcommand and for tools
//! outside the process. In-process tests use [`SimHandle`](super::SimHandle) instead.
//!
//! | method + path | effect |
//! |---|---|
//! | `GET /__sim/clients` | every client with its secret |
//! | `POST /__sim/clients` | insert a client as is -> `{"client_id"}` |
//! | `GET /__sim/clients/{id}` | one client |
//! | `PATCH /__sim/clients/{id}` | out-of-band change (PATCH semantics, no validation) |
//! | `DELETE /__sim/clients/{id}` | out-of-band delete (with its grants and connection enablement) |
//! | `GET`, `POST /__sim/resource-servers` | every resource server / insert one as is -> `{"id"}` |
//! | `GET`, `PATCH`, `DELETE /__sim/resource-servers/{id}` | one (by id or URL-encoded identifier) / out-of-band change / delete (with its grants) |
//! | `GET`, `POST /__sim/client-grants` | every grant / insert `{"client_id", "audience", "scope"}` -> `{"id"}` |
//! | `PATCH`, `DELETE /__sim/client-grants/{id}` | replace the scopes (`{"scope": [...]}`) / delete |
//! | `GET`, `POST /__sim/connections` | every connection / create `{"name", "strategy"}` -> `{"id"}` |
//! | `DELETE /__sim/connections/{id}` | delete a connection |
//! | `GET`, `PATCH /__sim/connections/{id}/clients` | enabled client ids / `[{"client_id", "status"}]` without checks |
//! | `GET`, `PUT /__sim/state` | the tenant's objects as one JSON snapshot / replace them with one |
//! | `GET`, `DELETE /__sim/counters` | read / reset the request counters |
//! | `GET`, `PUT /__sim/faults` | read / replace the faults ([`FaultsSpec`]) |
//! | `GET`, `PUT /__sim/rate-limit` | read / replace the rate limit (`{"burst", "per_second"}`) |
//! | `POST /__sim/expire-tokens` | every issued management token expires |
//! | `POST /__sim/jwt` | mint a token: `{"claims": {...}, "key": "current" \| "unknown" \| "forged"}` |
//! | `POST /__sim/keys` | rotate the JWKS key -> `{"kid"}` |
//!
//! These requests are not counted, not rate limited and never faulted.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::faults::{FailAction, FailNext, FaultScope, Faults, Latency};
use super::jwt::SigningKey;
use super::ratelimit::RateLimit;
use super::server::Shared;
use super::tenant::Snapshot;
use super::{SimHandle, connections, lock, resource_servers, store};

/// The JSON form of [`Faults`] used by `/__sim/faults` and the CLI flags.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FaultsSpec {
    /// Fixed latency, or the lower bound when `latency_max_ms` is set.
    pub latency_ms: u64,
    /// Upper bound of a uniform random latency.
    pub latency_max_ms: Option<u64>,
    /// Share of `503` answers.
    pub error_rate: f64,
    /// Share of dropped connections.
    pub drop_rate: f64,
    /// Apply faults to every route, not only `/api/v2`.
    pub all_paths: bool,
    /// One-shot rules.
    pub fail_next: Vec<FailNextSpec>,
}

/// The JSON form of [`FailNext`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FailNextSpec {
    /// HTTP method.
    pub method: String,
    /// Route template or concrete path.
    pub path: String,
    /// How many requests.
    pub count: u32,
    /// `"drop"`, `"drop_after_processing"` or a status code such as `"503"`.
    pub action: String,
}

impl FaultsSpec {
    /// Converts to [`Faults`], checking every value.
    pub fn to_faults(&self) -> Result<Faults, String> {
        let min = Duration::from_millis(self.latency_ms);
        let latency = match self.latency_max_ms {
            Some(max) => Latency::Uniform {
                min,
                max: Duration::from_millis(max),
            },
            None if self.latency_ms == 0 => Latency::None,
            None => Latency::Fixed(min),
        };
        let fail_next = self
            .fail_next
            .iter()
            .map(|r| {
                let action = match r.action.as_str() {
                    "drop" => FailAction::Drop,
                    "drop_after_processing" => FailAction::DropAfterProcessing,
                    status => match status.parse::<u16>() {
                        Ok(code) if (400..=599).contains(&code) => FailAction::Status(code),
                        _ => return Err(format!("invalid fail_next action {status:?}")),
                    },
                };
                Ok(FailNext::new(&r.method, &r.path, r.count, action))
            })
            .collect::<Result<Vec<_>, String>>()?;
        let faults = Faults {
            latency,
            error_rate: self.error_rate,
            drop_rate: self.drop_rate,
            fail_next,
            scope: if self.all_paths {
                FaultScope::All
            } else {
                FaultScope::ManagementApi
            },
        };
        faults.validate()?;
        Ok(faults)
    }

    /// The JSON form of a [`Faults`].
    pub fn from_faults(f: &Faults) -> Self {
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        let (latency_ms, latency_max_ms) = match f.latency {
            Latency::None => (0, None),
            Latency::Fixed(d) => (ms(d), None),
            Latency::Uniform { min, max } => (ms(min), Some(ms(max))),
        };
        Self {
            latency_ms,
            latency_max_ms,
            error_rate: f.error_rate,
            drop_rate: f.drop_rate,
            all_paths: f.scope == FaultScope::All,
            fail_next: f
                .fail_next
                .iter()
                .map(|r| FailNextSpec {
                    method: r.method.clone(),
                    path: r.path.clone(),
                    count: r.count,
                    action: match r.action {
                        FailAction::Drop => "drop".into(),
                        FailAction::DropAfterProcessing => "drop_after_processing".into(),
                        FailAction::Status(code) => code.to_string(),
                    },
                })
                .collect(),
        }
    }
}

fn bad_request(message: impl Into<String>) -> Response {
    (
        StatusCode::BAD_REQUEST,
        axum::Json(json!({ "error": message.into() })),
    )
        .into_response()
}

fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        axum::Json(json!({ "error": "no such client" })),
    )
        .into_response()
}

pub(crate) fn router() -> Router<Arc<Shared>> {
    Router::new()
        .route("/__sim/clients", get(list).post(insert))
        .route(
            "/__sim/clients/{id}",
            get(get_one).patch(modify).delete(remove),
        )
        .route(
            "/__sim/resource-servers",
            get(list_resource_servers).post(insert_resource_server),
        )
        .route(
            "/__sim/resource-servers/{id}",
            get(get_resource_server)
                .patch(modify_resource_server)
                .delete(remove_resource_server),
        )
        .route("/__sim/client-grants", get(list_grants).post(insert_grant))
        .route(
            "/__sim/client-grants/{id}",
            axum::routing::patch(modify_grant).delete(remove_grant),
        )
        .route(
            "/__sim/connections",
            get(list_connections).post(insert_connection),
        )
        .route(
            "/__sim/connections/{id}",
            axum::routing::delete(remove_connection),
        )
        .route(
            "/__sim/connections/{id}/clients",
            get(connection_clients).patch(set_connection_clients),
        )
        .route("/__sim/state", get(get_state).put(put_state))
        .route("/__sim/counters", get(counters).delete(reset_counters))
        .route("/__sim/faults", get(get_faults).put(put_faults))
        .route("/__sim/rate-limit", get(get_rate_limit).put(put_rate_limit))
        .route("/__sim/expire-tokens", post(expire_tokens))
        .route("/__sim/jwt", post(mint))
        .route("/__sim/keys", post(rotate_key))
}

async fn list(State(sh): State<Arc<Shared>>) -> Response {
    let clients: Vec<Value> = lock(&sh.store)
        .clients
        .iter()
        .map(|c| Value::Object(c.clone()))
        .collect();
    axum::Json(clients).into_response()
}

async fn insert(State(sh): State<Arc<Shared>>, body: axum::body::Bytes) -> Response {
    match serde_json::from_slice::<Value>(&body) {
        Ok(Value::Object(client)) => {
            let id = lock(&sh.store).insert_client(client);
            (StatusCode::CREATED, axum::Json(json!({ "client_id": id }))).into_response()
        }
        _ => bad_request("body must be a JSON object"),
    }
}

async fn get_one(State(sh): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
    match lock(&sh.store).clients.get(&id) {
        Some(c) => axum::Json(Value::Object(c.clone())).into_response(),
        None => not_found(),
    }
}

async fn modify(
    State(sh): State<Arc<Shared>>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let Ok(Value::Object(patch)) = serde_json::from_slice::<Value>(&body) else {
        return bad_request("body must be a JSON object");
    };
    let mut store = lock(&sh.store);
    match store.clients.get_mut(&id) {
        Some(client) => {
            store::apply_patch(client, &patch);
            axum::Json(Value::Object(client.clone())).into_response()
        }
        None => not_found(),
    }
}

async fn remove(State(sh): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
    if lock(&sh.store).remove_client(&id) {
        StatusCode::NO_CONTENT.into_response()
    } else {
        not_found()
    }
}

fn missing(what: &str) -> Response {
    (
        StatusCode::NOT_FOUND,
        axum::Json(json!({ "error": format!("no such {what}") })),
    )
        .into_response()
}

/// The back door shares the in-process API: a handle view over the same state, never started or
/// stopped from here.
fn handle(sh: &Arc<Shared>) -> SimHandle {
    SimHandle::view(Arc::clone(sh))
}

async fn list_resource_servers(State(sh): State<Arc<Shared>>) -> Response {
    axum::Json(handle(&sh).resource_servers()).into_response()
}

async fn insert_resource_server(
    State(sh): State<Arc<Shared>>,
    body: axum::body::Bytes,
) -> Response {
    let Ok(value) = serde_json::from_slice::<Value>(&body) else {
        return bad_request("body must be a JSON object");
    };
    match resource_servers::from_loose_json(value) {
        Some(rs) => {
            let id = rs.id.clone();
            lock(&sh.store).replace_resource_server(rs);
            (StatusCode::CREATED, axum::Json(json!({ "id": id }))).into_response()
        }
        None => bad_request("a resource server needs a string identifier and valid field types"),
    }
}

async fn get_resource_server(State(sh): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
    match handle(&sh).resource_server(&id) {
        Some(rs) => axum::Json(rs).into_response(),
        None => missing("resource server"),
    }
}

async fn modify_resource_server(
    State(sh): State<Arc<Shared>>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let Ok(patch @ Value::Object(_)) = serde_json::from_slice::<Value>(&body) else {
        return bad_request("body must be a JSON object");
    };
    let h = handle(&sh);
    if h.modify_resource_server(&id, patch) {
        h.resource_server(&id).map_or_else(
            || missing("resource server"),
            |rs| axum::Json(rs).into_response(),
        )
    } else {
        bad_request("no such (non-system) resource server, or the change does not fit")
    }
}

async fn remove_resource_server(State(sh): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
    if handle(&sh).remove_resource_server(&id) {
        StatusCode::NO_CONTENT.into_response()
    } else {
        missing("resource server")
    }
}

async fn list_grants(State(sh): State<Arc<Shared>>) -> Response {
    axum::Json(handle(&sh).client_grants()).into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GrantSpec {
    client_id: String,
    audience: String,
    #[serde(default)]
    scope: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScopeSpec {
    scope: Vec<String>,
}

async fn insert_grant(State(sh): State<Arc<Shared>>, body: axum::body::Bytes) -> Response {
    match serde_json::from_slice::<GrantSpec>(&body) {
        Ok(g) => {
            let scope: Vec<&str> = g.scope.iter().map(String::as_str).collect();
            let id = handle(&sh).insert_client_grant(&g.client_id, &g.audience, &scope);
            (StatusCode::CREATED, axum::Json(json!({ "id": id }))).into_response()
        }
        Err(e) => bad_request(e.to_string()),
    }
}

async fn modify_grant(
    State(sh): State<Arc<Shared>>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    match serde_json::from_slice::<ScopeSpec>(&body) {
        Ok(spec) => {
            let scope: Vec<&str> = spec.scope.iter().map(String::as_str).collect();
            if handle(&sh).modify_client_grant(&id, &scope) {
                StatusCode::NO_CONTENT.into_response()
            } else {
                missing("client grant")
            }
        }
        Err(e) => bad_request(e.to_string()),
    }
}

async fn remove_grant(State(sh): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
    if handle(&sh).remove_client_grant(&id) {
        StatusCode::NO_CONTENT.into_response()
    } else {
        missing("client grant")
    }
}

async fn list_connections(State(sh): State<Arc<Shared>>) -> Response {
    axum::Json(handle(&sh).connections()).into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConnectionSpec {
    name: String,
    strategy: String,
}

async fn insert_connection(State(sh): State<Arc<Shared>>, body: axum::body::Bytes) -> Response {
    match serde_json::from_slice::<ConnectionSpec>(&body) {
        Ok(c) if connections::is_valid_name(&c.name) => {
            let id = handle(&sh).insert_connection(&c.name, &c.strategy);
            (StatusCode::CREATED, axum::Json(json!({ "id": id }))).into_response()
        }
        Ok(c) => bad_request(format!("invalid connection name {:?}", c.name)),
        Err(e) => bad_request(e.to_string()),
    }
}

async fn remove_connection(State(sh): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
    if handle(&sh).remove_connection(&id) {
        StatusCode::NO_CONTENT.into_response()
    } else {
        missing("connection")
    }
}

async fn connection_clients(State(sh): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
    match handle(&sh).connection_clients(&id) {
        Some(ids) => axum::Json(ids).into_response(),
        None => missing("connection"),
    }
}

async fn set_connection_clients(
    State(sh): State<Arc<Shared>>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let Ok(value) = serde_json::from_slice::<Value>(&body) else {
        return bad_request("body must be a JSON array");
    };
    let changes = match connections::parse_enablement(&value) {
        Ok(c) => c,
        Err(e) => return bad_request(e.message),
    };
    let h = handle(&sh);
    if h.connection_clients(&id).is_none() {
        return missing("connection");
    }
    for (client_id, enabled) in changes {
        h.set_connection_client(&id, &client_id, enabled);
    }
    StatusCode::NO_CONTENT.into_response()
}

async fn get_state(State(sh): State<Arc<Shared>>) -> Response {
    axum::Json(handle(&sh).snapshot()).into_response()
}

async fn put_state(State(sh): State<Arc<Shared>>, body: axum::body::Bytes) -> Response {
    match serde_json::from_slice::<Snapshot>(&body) {
        Ok(snapshot) => {
            let r = handle(&sh).restore(snapshot);
            axum::Json(json!({
                "clients": r.clients,
                "resource_servers": r.resource_servers,
                "client_grants": r.client_grants,
                "connections": r.connections,
            }))
            .into_response()
        }
        Err(e) => bad_request(e.to_string()),
    }
}

async fn counters(State(sh): State<Arc<Shared>>) -> Response {
    let c = sh.counters.snapshot();
    let by_request: serde_json::Map<String, Value> = c
        .iter()
        .map(|(k, v)| (k.to_owned(), Value::from(v)))
        .collect();
    axum::Json(json!({
        "total": c.total(),
        "writes": c.writes(),
        "rate_limited": c.rate_limited(),
        "injected_errors": c.injected_errors(),
        "dropped": c.dropped(),
        "by_request": by_request,
    }))
    .into_response()
}

async fn reset_counters(State(sh): State<Arc<Shared>>) -> Response {
    sh.counters.reset();
    StatusCode::NO_CONTENT.into_response()
}

async fn get_faults(State(sh): State<Arc<Shared>>) -> Response {
    let spec = FaultsSpec::from_faults(lock(&sh.faults).faults());
    axum::Json(spec).into_response()
}

async fn put_faults(State(sh): State<Arc<Shared>>, body: axum::body::Bytes) -> Response {
    let spec: FaultsSpec = match serde_json::from_slice(&body) {
        Ok(s) => s,
        Err(e) => return bad_request(e.to_string()),
    };
    match spec.to_faults() {
        Ok(faults) => {
            lock(&sh.faults).set(faults);
            axum::Json(spec).into_response()
        }
        Err(e) => bad_request(e),
    }
}

async fn get_rate_limit(State(sh): State<Arc<Shared>>) -> Response {
    axum::Json(lock(&sh.bucket).limit()).into_response()
}

async fn put_rate_limit(State(sh): State<Arc<Shared>>, body: axum::body::Bytes) -> Response {
    match serde_json::from_slice::<RateLimit>(&body) {
        Ok(rl) => {
            lock(&sh.bucket).reset(rl, sh.clock.now());
            axum::Json(rl).into_response()
        }
        Err(e) => bad_request(e.to_string()),
    }
}

async fn expire_tokens(State(sh): State<Arc<Shared>>) -> Response {
    lock(&sh.tokens).expire_all(sh.clock.now());
    StatusCode::NO_CONTENT.into_response()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MintRequest {
    claims: Value,
    #[serde(default)]
    key: Option<String>,
}

async fn mint(State(sh): State<Arc<Shared>>, body: axum::body::Bytes) -> Response {
    let req: MintRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return bad_request(e.to_string()),
    };
    if !req.claims.is_object() {
        return bad_request("claims must be a JSON object");
    }
    let current = sh.current_key();
    let signed = match req.key.as_deref().unwrap_or("current") {
        "current" => current.sign(&req.claims, None),
        which @ ("unknown" | "forged") => {
            let key = match unknown_key(&sh).await {
                Ok(k) => k,
                Err(e) => {
                    return (StatusCode::INTERNAL_SERVER_ERROR, e).into_response();
                }
            };
            let kid = (which == "forged").then(|| current.kid().to_owned());
            key.sign(&req.claims, kid.as_deref())
        }
        other => return bad_request(format!("unknown key {other:?}")),
    };
    match signed {
        Ok(token) => axum::Json(json!({ "token": token })).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

async fn unknown_key(sh: &Shared) -> Result<Arc<SigningKey>, String> {
    if let Some(k) = lock(&sh.unknown_key).as_ref() {
        return Ok(Arc::clone(k));
    }
    let key = tokio::task::spawn_blocking(SigningKey::generate)
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    let mut slot = lock(&sh.unknown_key);
    // Another request may have generated one meanwhile; keep the first.
    Ok(Arc::clone(slot.get_or_insert_with(|| Arc::new(key))))
}

async fn rotate_key(State(sh): State<Arc<Shared>>) -> Response {
    let key = match tokio::task::spawn_blocking(SigningKey::generate).await {
        Ok(Ok(k)) => k,
        Ok(Err(e)) => return (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
        Err(e) => return (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    };
    let kid = sh
        .keys
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .add(key, true);
    axum::Json(json!({ "kid": kid })).into_response()
}
