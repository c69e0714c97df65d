//! Shared state, the HTTP routes and the request pipeline (counters, faults, rate limit).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, MatchedPath, Path, RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Map, Value, json};
use subtle::ConstantTimeEq;
use tokio::time::Instant;

use super::counters::{Counters, Outcome};
use super::error::{ApiError, OAuthError};
use super::faults::{FaultEngine, FaultScope, Injected};
use super::jwt::{KeyRing, SigningKey};
use super::net::ConnHandle;
use super::ratelimit::{Decision, TokenBucket};
use super::store::{self, FieldFilter};
use super::tenant::TenantStore;
use super::validation::{self, Mode};
use super::{M2mCredential, SimClock, connections, grants, lock, resource_servers};

/// Header carried by every answer.
pub const SIMULATOR_HEADER: &str = "x-auth0-simulator";

/// Scope that reveals `client_secret` in answers.
const READ_KEYS: &str = "read:client_keys";
/// Scope that allows setting or rotating `client_secret`.
const UPDATE_KEYS: &str = "update:client_keys";

/// An issued management token.
#[derive(Debug, Clone)]
struct IssuedToken {
    scopes: Vec<String>,
    expires_at: Instant,
}

/// Management tokens issued by `/oauth/token`. `Debug` prints the count only.
#[derive(Default)]
pub(crate) struct TokenStore {
    tokens: HashMap<String, IssuedToken>,
}

impl std::fmt::Debug for TokenStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenStore")
            .field("tokens", &self.tokens.len())
            .finish()
    }
}

/// How long an expired token is still recognised (answered "Expired token", not "Invalid token").
const EXPIRED_TOKEN_MEMORY: Duration = Duration::from_secs(3600);

impl TokenStore {
    fn insert(&mut self, token: String, issued: IssuedToken, now: Instant) {
        self.tokens
            .retain(|_, t| t.expires_at + EXPIRED_TOKEN_MEMORY > now);
        self.tokens.insert(token, issued);
    }

    /// Marks every issued token as expired.
    pub(crate) fn expire_all(&mut self, now: Instant) {
        for t in self.tokens.values_mut() {
            t.expires_at = t.expires_at.min(now);
        }
    }
}

/// Everything one simulated tenant holds.
#[derive(Debug)]
pub(crate) struct Shared {
    /// Tokio's clock (token expiry, rate limit, latency) and the wall clock derived from it.
    pub clock: SimClock,
    pub domain: String,
    pub addr: std::net::SocketAddr,
    pub base_url: String,
    pub m2m: Vec<M2mCredential>,
    pub token_ttl: Mutex<Duration>,
    pub max_clients: Option<usize>,
    /// The tenant's default audience (`SimConfig::app_audience`).
    pub default_audience: Option<String>,
    pub store: Mutex<TenantStore>,
    pub tokens: Mutex<TokenStore>,
    pub bucket: Mutex<TokenBucket>,
    pub faults: Mutex<FaultEngine>,
    pub counters: Counters,
    pub keys: RwLock<KeyRing>,
    pub unknown_key: Mutex<Option<Arc<SigningKey>>>,
    /// `jti`s of accepted client assertions (replay protection).
    pub jtis: Mutex<super::assertion::JtiCache>,
    /// The `kid` the next created credential is answered with instead of its thumbprint
    /// ([`super::Auth0Sim::misname_next_credential`]).
    pub next_kid: Mutex<Option<String>>,
}

impl Shared {
    /// `https://{domain}/api/v2/`.
    pub fn audience(&self) -> String {
        format!("https://{}/api/v2/", self.domain)
    }

    /// `{base_url}/`.
    pub fn issuer(&self) -> String {
        format!("{}/", self.base_url)
    }

    pub fn current_key(&self) -> Arc<SigningKey> {
        self.keys
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .current()
    }
}

/// The router of one simulated tenant.
pub(crate) fn router(shared: Arc<Shared>, admin_api: bool) -> Router {
    let mut router = Router::new()
        .route("/oauth/token", post(token))
        .route("/.well-known/jwks.json", get(jwks))
        .route(
            "/.well-known/openid-configuration",
            get(openid_configuration),
        )
        .route("/api/v2/clients", get(list_clients).post(create_client))
        .route(
            "/api/v2/clients/{id}",
            get(get_client).patch(patch_client).delete(delete_client),
        )
        .route("/api/v2/clients/{id}/rotate-secret", post(rotate_secret))
        .route(
            "/api/v2/clients/{id}/credentials",
            get(super::credentials::list).post(super::credentials::create),
        )
        .route(
            "/api/v2/clients/{id}/credentials/{cred_id}",
            get(super::credentials::get_one)
                .patch(super::credentials::patch)
                .delete(super::credentials::delete),
        )
        .route(
            "/api/v2/resource-servers",
            get(resource_servers::list).post(resource_servers::create),
        )
        .route(
            "/api/v2/resource-servers/{id}",
            get(resource_servers::get_one)
                .patch(resource_servers::patch)
                .delete(resource_servers::delete),
        )
        .route(
            "/api/v2/client-grants",
            get(grants::list).post(grants::create),
        )
        .route(
            "/api/v2/client-grants/{id}",
            get(grants::get_one)
                .patch(grants::patch)
                .delete(grants::delete),
        )
        .route(
            "/api/v2/connections",
            get(connections::list).post(connections::create),
        )
        .route(
            "/api/v2/connections/{id}",
            get(connections::get_one).delete(connections::delete),
        )
        .route(
            "/api/v2/connections/{id}/clients",
            get(connections::list_clients).patch(connections::patch_clients),
        );
    if admin_api {
        router = router.merge(super::admin::router());
    }
    router
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(
            Arc::clone(&shared),
            pipeline,
        ))
        .with_state(shared)
}

async fn not_found() -> ApiError {
    ApiError {
        status: StatusCode::NOT_FOUND,
        message: "Not Found".into(),
        error_code: None,
        attributes: None,
    }
}

// ---------------------------------------------------------------------------------------------
// Pipeline
// ---------------------------------------------------------------------------------------------

fn is_management_api(path: &str) -> bool {
    path == "/api/v2" || path.starts_with("/api/v2/")
}

fn is_admin(path: &str) -> bool {
    path == "/__sim" || path.starts_with("/__sim/")
}

/// Counts, delays, injects faults, applies the rate limit, and marks every answer.
async fn pipeline(State(sh): State<Arc<Shared>>, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_owned();
    let mut response = if is_admin(&path) {
        next.run(req).await
    } else {
        let method = req.method().as_str().to_owned();
        let template = req
            .extensions()
            .get::<MatchedPath>()
            .map_or_else(|| path.clone(), |m| m.as_str().to_owned());
        let api = is_management_api(&path);
        sh.counters.record(&method, &template, api);
        tracing::trace!(%method, %path, "auth0 simulator request");
        with_faults(&sh, req, next, (&method, &template, &path), api).await
    };
    response
        .headers_mut()
        .insert(SIMULATOR_HEADER, HeaderValue::from_static("true"));
    response
}

fn kill(conn: Option<&ConnHandle>) {
    match conn {
        Some(c) => {
            tracing::debug!(remote = %c.remote, "auth0 simulator: dropping connection (fault injection)");
            c.kill();
        }
        None => tracing::warn!(
            "auth0 simulator: cannot drop a connection that was not accepted by the simulator's listener"
        ),
    }
}

async fn with_faults(
    sh: &Shared,
    req: Request,
    next: Next,
    (method, template, path): (&str, &str, &str),
    api: bool,
) -> Response {
    let applies = {
        let f = lock(&sh.faults);
        api || f.scope() == FaultScope::All
    };
    if !applies {
        return with_rate_limit(sh, req, next, api).await;
    }
    let (latency, injected) = {
        let mut f = lock(&sh.faults);
        (f.latency(), f.decide(method, template, path))
    };
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let conn = req
        .extensions()
        .get::<ConnectInfo<ConnHandle>>()
        .map(|c| c.0.clone());
    match injected {
        None => with_rate_limit(sh, req, next, api).await,
        Some(Injected::Drop) => {
            sh.counters.outcome(Outcome::Dropped);
            kill(conn.as_ref());
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
        Some(Injected::DropAfterProcessing) => {
            let _lost = with_rate_limit(sh, req, next, api).await;
            sh.counters.outcome(Outcome::Dropped);
            kill(conn.as_ref());
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
        Some(Injected::Status(code)) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
            let mut response = if status == StatusCode::TOO_MANY_REQUESTS {
                sh.counters.outcome(Outcome::RateLimited);
                let mut r = ApiError::too_many_requests().into_response();
                r.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
                r
            } else {
                sh.counters.outcome(Outcome::InjectedError);
                ApiError {
                    status,
                    message: format!(
                        "{} (simulated fault)",
                        status.canonical_reason().unwrap_or("Error")
                    ),
                    error_code: None,
                    attributes: None,
                }
                .into_response()
            };
            if api {
                let d = lock(&sh.bucket).peek(sh.clock.now());
                set_rate_limit_headers(&mut response, &d, &sh.clock);
            }
            response
        }
    }
}

/// The UNIX epoch second (rounded up) `d` from now on the simulator's wall clock.
fn epoch_seconds_after(clock: &SimClock, d: Duration) -> u64 {
    (clock.since_epoch() + d).as_secs_f64().ceil() as u64
}

fn set_rate_limit_headers(response: &mut Response, d: &Decision, clock: &SimClock) {
    let h = response.headers_mut();
    h.insert("x-ratelimit-limit", HeaderValue::from(d.limit));
    h.insert("x-ratelimit-remaining", HeaderValue::from(d.remaining));
    h.insert(
        "x-ratelimit-reset",
        HeaderValue::from(epoch_seconds_after(clock, d.until_full)),
    );
    if let Some(retry) = d.retry_after {
        let secs = retry.as_secs_f64().ceil().max(1.0) as u64;
        h.insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
}

async fn with_rate_limit(sh: &Shared, req: Request, next: Next, api: bool) -> Response {
    if !api {
        return next.run(req).await;
    }
    let decision = lock(&sh.bucket).try_acquire(sh.clock.now());
    let mut response = if decision.allowed {
        next.run(req).await
    } else {
        sh.counters.outcome(Outcome::RateLimited);
        ApiError::too_many_requests().into_response()
    };
    set_rate_limit_headers(&mut response, &decision, &sh.clock);
    response
}

// ---------------------------------------------------------------------------------------------
// Authentication API
// ---------------------------------------------------------------------------------------------

/// How the caller authenticated at the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClientAuth {
    /// `client_id` and `client_secret` in the body (`client_secret_post`).
    Post,
    /// HTTP Basic (`client_secret_basic`).
    Basic,
}

/// The parameters of a token request; the client credentials are taken from the body, else
/// from an HTTP Basic header.
fn token_params(
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(HashMap<String, String>, Option<ClientAuth>), OAuthError> {
    let form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| {
            ct.trim_start()
                .to_ascii_lowercase()
                .starts_with("application/x-www-form-urlencoded")
        });
    let mut params: HashMap<String, String> = if form {
        form_urlencoded::parse(body).into_owned().collect()
    } else {
        match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(m)) => m
                .into_iter()
                .filter_map(|(k, v)| v.as_str().map(|s| (k, s.to_owned())))
                .collect(),
            _ => {
                return Err(OAuthError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "Invalid request body: expected JSON or application/x-www-form-urlencoded",
                ));
            }
        }
    };
    let in_body = params.get("client_secret").is_some_and(|s| !s.is_empty());
    let auth = if in_body {
        Some(ClientAuth::Post)
    } else if let Some((id, secret)) = basic_credentials(headers) {
        params.insert("client_id".into(), id);
        params.insert("client_secret".into(), secret);
        Some(ClientAuth::Basic)
    } else {
        None
    };
    Ok((params, auth))
}

fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    use base64::Engine;
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    Some((id.to_owned(), secret.to_owned()))
}

pub(crate) fn access_denied(status: StatusCode, description: impl Into<String>) -> OAuthError {
    OAuthError::new(status, "access_denied", description)
}

/// The scopes of a token: all of `granted`, or the requested ones when `requested` is given
/// (403 naming any requested scope that is not granted).
pub(crate) fn token_scopes(
    granted: &[String],
    requested: Option<&str>,
) -> Result<Vec<String>, OAuthError> {
    let Some(requested) = requested else {
        return Ok(granted.to_vec());
    };
    let mut wanted: Vec<&str> = Vec::new();
    for s in requested.split_whitespace() {
        if !wanted.contains(&s) {
            wanted.push(s);
        }
    }
    let missing: Vec<&str> = wanted
        .iter()
        .copied()
        .filter(|s| !granted.iter().any(|g| g == s))
        .collect();
    if !missing.is_empty() {
        return Err(access_denied(
            StatusCode::FORBIDDEN,
            format!("Client has not been granted scopes: {}", missing.join(", ")),
        ));
    }
    Ok(wanted.into_iter().map(str::to_owned).collect())
}

/// 403 for a client without a grant for `audience`, in Auth0's words.
pub(crate) fn not_authorized_for(audience: &str) -> OAuthError {
    access_denied(
        StatusCode::FORBIDDEN,
        format!(
            "Client is not authorized to access \"{audience}\". You need to create a \
             \"client-grant\" associated to this API."
        ),
    )
}

/// `POST /oauth/token`, client-credentials grant only.
async fn token(State(sh): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    match issue_token(&sh, &headers, &body) {
        Ok(v) => (
            StatusCode::OK,
            [(header::CACHE_CONTROL, "no-store")],
            axum::Json(v),
        )
            .into_response(),
        Err(e) => e.into_response(),
    }
}

fn issue_token(sh: &Shared, headers: &HeaderMap, body: &[u8]) -> Result<Value, OAuthError> {
    let (params, auth) = token_params(headers, body)?;
    let param = |name: &str| {
        params
            .get(name)
            .map(String::as_str)
            .filter(|s| !s.is_empty())
    };
    match param("grant_type") {
        None => {
            return Err(OAuthError::new(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "Missing required parameter: grant_type",
            ));
        }
        Some("client_credentials") => {}
        Some(other) => {
            return Err(OAuthError::new(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                format!("Unsupported grant type: {other}"),
            ));
        }
    }
    if param("client_assertion").is_some() || param("client_assertion_type").is_some() {
        let client_id = super::assertion::authenticate(
            sh,
            param("client_assertion_type"),
            param("client_assertion"),
            param("client_id"),
            param("client_secret").is_some(),
        )?;
        return super::apps::authorized_app_token(
            sh,
            &client_id,
            param("audience"),
            param("scope"),
        );
    }
    let (Some(client_id), Some(secret), Some(auth)) =
        (param("client_id"), param("client_secret"), auth)
    else {
        return Err(access_denied(StatusCode::UNAUTHORIZED, "Unauthorized"));
    };
    let Some(credential) = sh.m2m.iter().find(|c| {
        c.client_id == client_id && bool::from(c.client_secret.as_bytes().ct_eq(secret.as_bytes()))
    }) else {
        // Not a configured Management API credential: one of the tenant's applications.
        return super::apps::app_token(
            sh,
            super::apps::AppTokenRequest {
                client_id,
                secret,
                auth,
                audience: param("audience"),
                scope: param("scope"),
            },
        );
    };
    let audience = sh.audience();
    match param("audience") {
        None => {
            return Err(access_denied(
                StatusCode::FORBIDDEN,
                "No audience parameter was provided, and no default audience has been configured",
            ));
        }
        Some(a) if a == audience => {}
        Some(a) => {
            return Err(access_denied(
                StatusCode::FORBIDDEN,
                format!("Service not enabled within domain: {a}"),
            ));
        }
    }
    if credential.scopes.is_empty() {
        return Err(not_authorized_for(&audience));
    }
    let scopes = token_scopes(&credential.scopes, param("scope"))?;
    let ttl = *lock(&sh.token_ttl);
    issue_management_token(sh, &credential.client_id, scopes, ttl)
}

/// Signs and records a Management API token for `client_id` with `scopes`.
pub(crate) fn issue_management_token(
    sh: &Shared,
    client_id: &str,
    scopes: Vec<String>,
    ttl: Duration,
) -> Result<Value, OAuthError> {
    let audience = sh.audience();
    let now_epoch = sh.clock.since_epoch().as_secs();
    let scope = scopes.join(" ");
    let claims = json!({
        "iss": format!("https://{}/", sh.domain),
        "sub": format!("{client_id}@clients"),
        "aud": audience,
        "iat": now_epoch,
        "exp": now_epoch + ttl.as_secs(),
        "scope": scope,
        "gty": "client-credentials",
        "azp": client_id,
        "jti": store::generate_client_id(),
    });
    let access_token = sh.current_key().sign(&claims, None).map_err(|e| {
        tracing::error!(error = %e, "auth0 simulator: cannot sign a management token");
        OAuthError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "cannot sign token",
        )
    })?;
    let now = sh.clock.now();
    lock(&sh.tokens).insert(
        access_token.clone(),
        IssuedToken {
            scopes,
            expires_at: now + ttl,
        },
        now,
    );
    Ok(json!({
        "access_token": access_token,
        "expires_in": ttl.as_secs(),
        "scope": scope,
        "token_type": "Bearer",
    }))
}

async fn jwks(State(sh): State<Arc<Shared>>) -> Response {
    let body = sh
        .keys
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .jwks();
    axum::Json(body).into_response()
}

async fn openid_configuration(State(sh): State<Arc<Shared>>) -> Response {
    axum::Json(json!({
        "issuer": sh.issuer(),
        "jwks_uri": format!("{}/.well-known/jwks.json", sh.base_url),
        "token_endpoint": format!("{}/oauth/token", sh.base_url),
        "grant_types_supported": ["client_credentials"],
        "response_types_supported": ["token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic", "private_key_jwt"],
    }))
    .into_response()
}

// ---------------------------------------------------------------------------------------------
// Management API
// ---------------------------------------------------------------------------------------------

/// The scopes of the caller's token.
pub(crate) struct Grant {
    scopes: Vec<String>,
}

impl Grant {
    fn has(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }

    fn require_any(&self, any_of: &[&str]) -> Result<(), ApiError> {
        if any_of.iter().any(|s| self.has(s)) {
            Ok(())
        } else {
            Err(ApiError::insufficient_scope(any_of))
        }
    }

    /// Hides `client_secret` unless the token may read client keys, and for a client that
    /// authenticates with `private_key_jwt` (recorded: Auth0 answers such a client without
    /// its secret, and with it again once `client_authentication_methods` is cleared).
    fn visible(&self, mut client: Map<String, Value>) -> Map<String, Value> {
        if !self.has(READ_KEYS) || uses_private_key_jwt(&client) {
            client.remove("client_secret");
        }
        client
    }
}

/// Whether the client lists credentials under `client_authentication_methods.private_key_jwt`.
pub(crate) fn uses_private_key_jwt(client: &Map<String, Value>) -> bool {
    client
        .get("client_authentication_methods")
        .and_then(|m| m.get("private_key_jwt"))
        .is_some_and(Value::is_object)
}

/// Checks `client_authentication_methods` of a PATCH: every listed credential must be one of
/// the client's (the check and its message are the simulator's choice; Auth0's answer to an
/// unknown id is not recorded).
fn check_authentication_methods(
    store: &super::tenant::TenantStore,
    client_id: &str,
    patch: &Map<String, Value>,
) -> Result<(), ApiError> {
    let Some(methods) = patch.get("client_authentication_methods") else {
        return Ok(());
    };
    let Some(pkj) = methods.get("private_key_jwt") else {
        return Ok(());
    };
    let Some(list) = pkj.get("credentials").and_then(Value::as_array) else {
        return Err(validation::payload_error(
            "Missing required property: credentials",
            Some("client_authentication_methods.private_key_jwt"),
        ));
    };
    for (i, item) in list.iter().enumerate() {
        let id = item.get("id").and_then(Value::as_str).ok_or_else(|| {
            validation::payload_error(
                "Missing required property: id",
                Some(&format!(
                    "client_authentication_methods.private_key_jwt.credentials[{i}]"
                )),
            )
        })?;
        if store.credential(client_id, id).is_none() {
            return Err(ApiError::invalid_body(format!(
                "The credential {id} does not exist for this client"
            )));
        }
    }
    Ok(())
}

pub(crate) fn authorize(
    sh: &Shared,
    headers: &HeaderMap,
    any_of: &[&str],
) -> Result<Grant, ApiError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Err(ApiError::unauthorized("Missing authentication"));
    };
    let token = value
        .to_str()
        .ok()
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim())
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ApiError::unauthorized("Bad HTTP authentication header format"))?;
    let issued = lock(&sh.tokens)
        .tokens
        .get(token)
        .cloned()
        .ok_or_else(|| ApiError::unauthorized("Invalid token"))?;
    if sh.clock.now() >= issued.expires_at {
        return Err(ApiError::unauthorized(
            "Expired token received for JSON Web Token validation",
        ));
    }
    let grant = Grant {
        scopes: issued.scopes,
    };
    grant.require_any(any_of)?;
    Ok(grant)
}

pub(crate) fn parse_json(body: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice(body).map_err(|_| ApiError {
        status: StatusCode::BAD_REQUEST,
        message: "Invalid request payload JSON format".into(),
        error_code: None,
        attributes: None,
    })
}

fn json_response(status: StatusCode, body: Map<String, Value>) -> Response {
    (status, axum::Json(Value::Object(body))).into_response()
}

/// Parsed query string: every parameter once, in a map; repeated parameters are rejected.
pub(crate) fn parse_query(
    raw: Option<&str>,
    allowed: &[&str],
) -> Result<HashMap<String, String>, ApiError> {
    let mut params = HashMap::new();
    let mut unknown = Vec::new();
    for (k, v) in form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
        if !allowed.contains(&k.as_ref()) {
            unknown.push(k.into_owned());
            continue;
        }
        if params.insert(k.to_string(), v.into_owned()).is_some() {
            return Err(ApiError::invalid_query(format!(
                "Query validation error: 'Expected type string but found type array' on property {k}."
            )));
        }
    }
    if !unknown.is_empty() {
        return Err(ApiError::invalid_query(format!(
            "Query validation error: 'Additional properties not allowed: {}'.",
            unknown.join(",")
        )));
    }
    Ok(params)
}

pub(crate) fn query_bool(
    params: &HashMap<String, String>,
    name: &str,
) -> Result<Option<bool>, ApiError> {
    match params.get(name).map(String::as_str) {
        None => Ok(None),
        Some("true") => Ok(Some(true)),
        Some("false") => Ok(Some(false)),
        Some(_) => Err(ApiError::invalid_query(format!(
            "Query validation error: 'Expected type boolean but found type string' on property {name}."
        ))),
    }
}

pub(crate) fn query_uint(
    params: &HashMap<String, String>,
    name: &str,
    max: Option<u64>,
) -> Result<Option<u64>, ApiError> {
    let Some(raw) = params.get(name) else {
        return Ok(None);
    };
    let n: u64 = raw.parse().map_err(|_| {
        let found = if raw.parse::<i64>().is_ok() {
            "Value is less than minimum 0"
        } else {
            "Expected type integer but found type string"
        };
        ApiError::invalid_query(format!(
            "Query validation error: '{found}' on property {name}."
        ))
    })?;
    if let Some(max) = max
        && n > max
    {
        return Err(ApiError::invalid_query(format!(
            "Query validation error: 'Value {n} is greater than maximum {max}' on property {name}."
        )));
    }
    Ok(Some(n))
}

pub(crate) fn field_filter(params: &HashMap<String, String>) -> Result<FieldFilter, ApiError> {
    let include = query_bool(params, "include_fields")?.unwrap_or(true);
    Ok(FieldFilter::new(
        params.get("fields").map(String::as_str),
        include,
    ))
}

/// Largest `per_page` Auth0 accepts.
pub const MAX_PER_PAGE: u64 = 100;
/// `per_page` when absent.
pub const DEFAULT_PER_PAGE: u64 = 50;

/// Most records Auth0 serves through offset paging (`page`/`per_page`); past them only
/// checkpoint paging (`from`/`take`) lists.
pub const MAX_OFFSET_RECORDS: u64 = 1000;
/// Largest `take` of the checkpoint-paged lists of clients and client grants.
pub const MAX_CHECKPOINT_TAKE: u64 = 100;

/// Auth0's refusal of an offset page that reaches past the first 1,000 records:
/// `400 invalid_paging`, `Requesting page {page} exceeds the allowed maximum of 1000 records.
/// To fetch results beyond 1000, use the checkpoint pagination method.` The simulator refuses
/// every page whose last record would lie past record 1,000 (`(page + 1) * per_page > 1000`),
/// whatever the list holds, as Auth0 did for `page=10&per_page=100`.
pub(crate) fn check_offset_ceiling(page: u64, per_page: u64) -> Result<(), ApiError> {
    if page.saturating_add(1).saturating_mul(per_page) > MAX_OFFSET_RECORDS {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!(
                "Requesting page {page} exceeds the allowed maximum of {MAX_OFFSET_RECORDS} records. \
                 To fetch results beyond {MAX_OFFSET_RECORDS}, use the checkpoint pagination method."
            ),
            "invalid_paging",
        ));
    }
    Ok(())
}

/// One page of `items` as Auth0 answers a list: a bare array, or with `include_totals`
/// `{"total", "start", "limit", "<key>": [...]}`; refused past the first 1,000 records
/// ([`check_offset_ceiling`]).
pub(crate) fn paged(
    items: Vec<Value>,
    key: &str,
    page: u64,
    per_page: u64,
    include_totals: bool,
) -> Result<Value, ApiError> {
    check_offset_ceiling(page, per_page)?;
    let total = items.len();
    let start = page.saturating_mul(per_page);
    let page_items: Vec<Value> = items
        .into_iter()
        .skip(usize::try_from(start).unwrap_or(usize::MAX))
        .take(usize::try_from(per_page).unwrap_or(usize::MAX))
        .collect();
    if include_totals {
        let mut body = json!({ "total": total, "start": start, "limit": per_page });
        body[key] = Value::Array(page_items);
        Ok(body)
    } else {
        Ok(Value::Array(page_items))
    }
}

/// `take` of a checkpoint-paged list (1..=100), or `None` for an offset-paged request.
pub(crate) fn checkpoint_take(params: &HashMap<String, String>) -> Result<Option<usize>, ApiError> {
    match query_uint(params, "take", Some(MAX_CHECKPOINT_TAKE))? {
        None => Ok(None),
        Some(0) => Err(ApiError::invalid_query(
            "Query validation error: 'Value 0 is less than minimum 1' on property take.",
        )),
        Some(n) => Ok(Some(usize::try_from(n).unwrap_or(usize::MAX))),
    }
}

/// An opaque checkpoint: the position after which the next page starts.
pub(crate) fn encode_checkpoint(position: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("after:{position}"))
}

/// The position a `from` checkpoint names; 400 when it is not one of ours.
pub(crate) fn decode_checkpoint(from: &str) -> Result<String, ApiError> {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(from)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.strip_prefix("after:").map(str::to_owned))
        .ok_or_else(|| {
            ApiError::invalid_query(
                "Query validation error: 'Invalid checkpoint' on property from.",
            )
        })
}

/// A checkpoint-paged answer: `{"<key>": [...], "next": "..."}`, `next` only when more remain.
pub(crate) fn checkpoint_body(key: &str, items: Vec<Value>, next: Option<String>) -> Value {
    let mut body = Map::new();
    body.insert(key.to_owned(), Value::Array(items));
    if let Some(next) = next {
        body.insert("next".to_owned(), Value::String(next));
    }
    Value::Object(body)
}

/// One checkpoint page of `items` (in list order) identified by their `id` field: the items
/// after the one `from` names, at most `take`.
pub(crate) fn checkpoint_by_id(
    items: Vec<Value>,
    key: &str,
    from: Option<&str>,
    take: usize,
) -> Result<Value, ApiError> {
    let id_of = |v: &Value| v.get("id").and_then(Value::as_str).map(str::to_owned);
    let skip = match from {
        None => 0,
        Some(f) => {
            let after = decode_checkpoint(f)?;
            items
                .iter()
                .position(|v| id_of(v).as_deref() == Some(after.as_str()))
                .map(|i| i + 1)
                .ok_or_else(|| {
                    ApiError::invalid_query(
                        "Query validation error: 'Invalid checkpoint' on property from.",
                    )
                })?
        }
    };
    let mut rest = items.into_iter().skip(skip);
    let page: Vec<Value> = rest.by_ref().take(take).collect();
    let next = match (rest.next(), page.last().and_then(id_of)) {
        (Some(_), Some(last)) => Some(encode_checkpoint(&last)),
        _ => None,
    };
    Ok(checkpoint_body(key, page, next))
}

/// `GET /api/v2/clients`: offset paging (`page`, `per_page`, `include_totals`; refused past
/// 1,000 records) or, with `take`, checkpoint paging (`from`, `take`; answer
/// `{"clients": [...], "next"}`).
async fn list_clients(
    State(sh): State<Arc<Shared>>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let grant = authorize(&sh, &headers, &["read:clients"])?;
    let params = parse_query(
        raw.as_deref(),
        &[
            "page",
            "per_page",
            "include_totals",
            "fields",
            "include_fields",
            "app_type",
            "is_first_party",
            "is_global",
            "from",
            "take",
        ],
    )?;
    let page = query_uint(&params, "page", None)?.unwrap_or(0);
    let per_page = query_uint(&params, "per_page", Some(MAX_PER_PAGE))?.unwrap_or(DEFAULT_PER_PAGE);
    let include_totals = query_bool(&params, "include_totals")?.unwrap_or(false);
    let take = checkpoint_take(&params)?;
    let is_first_party = query_bool(&params, "is_first_party")?;
    let is_global = query_bool(&params, "is_global")?;
    let filter = field_filter(&params)?;
    let app_types: Option<Vec<&str>> = params.get("app_type").map(|s| {
        s.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect()
    });
    let keep = |c: &Map<String, Value>| {
        let app_type_ok = match &app_types {
            None => true,
            Some(types) => c
                .get("app_type")
                .and_then(Value::as_str)
                .is_some_and(|t| types.contains(&t)),
        };
        let first_party_ok = match is_first_party {
            None => true,
            Some(want) => c.get("is_first_party").and_then(Value::as_bool) == Some(want),
        };
        let global_ok = match is_global {
            None => true,
            Some(want) => c.get("global").and_then(Value::as_bool).unwrap_or(false) == want,
        };
        app_type_ok && first_party_ok && global_ok
    };
    let shape = |c: Map<String, Value>| Value::Object(filter.apply(grant.visible(c)));

    if let Some(take) = take {
        let after = match params.get("from") {
            None => None,
            Some(f) => Some(decode_checkpoint(f)?.parse::<u64>().map_err(|_| {
                ApiError::invalid_query(
                    "Query validation error: 'Invalid checkpoint' on property from.",
                )
            })?),
        };
        let (page, more) = {
            let store = lock(&sh.store);
            let mut rest = store.clients.iter_after(after).filter(|(_, c)| keep(c));
            let page: Vec<(u64, Map<String, Value>)> = rest
                .by_ref()
                .take(take)
                .map(|(seq, c)| (seq, c.clone()))
                .collect();
            let more = rest.next().is_some();
            (page, more)
        };
        let next = match (more, page.last()) {
            (true, Some((seq, _))) => Some(encode_checkpoint(&seq.to_string())),
            _ => None,
        };
        let clients: Vec<Value> = page.into_iter().map(|(_, c)| shape(c)).collect();
        return Ok(axum::Json(checkpoint_body("clients", clients, next)).into_response());
    }

    // Refused before the clients are copied.
    check_offset_ceiling(page, per_page)?;
    let matching: Vec<Map<String, Value>> = {
        let store = lock(&sh.store);
        store.clients.iter().filter(|c| keep(c)).cloned().collect()
    };
    let clients: Vec<Value> = matching.into_iter().map(shape).collect();
    Ok(axum::Json(paged(clients, "clients", page, per_page, include_totals)?).into_response())
}

async fn create_client(
    State(sh): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    authorize(&sh, &headers, &["create:clients"])?;
    let body = parse_json(&body)?;
    validation::validate_client_body(&body, Mode::Create)?;
    let Value::Object(body) = body else {
        // validate_client_body rejects non-objects.
        return Err(ApiError::invalid_body(
            "Payload validation error: 'Expected type object'.",
        ));
    };
    let client = store::build_created(body);
    {
        let mut store = lock(&sh.store);
        if let Some(max) = sh.max_clients
            && store.clients.len() >= max
        {
            return Err(ApiError {
                status: StatusCode::FORBIDDEN,
                message: "You reached the limit of entities of this type for this tenant".into(),
                error_code: None,
                attributes: None,
            });
        }
        store.insert_client(client.clone());
        // Recorded (TestAccClientResourceServer): the API a `resource_server` client names
        // answers with that client's id.
        if let (Some(Value::String(identifier)), Some(Value::String(id))) = (
            client.get("resource_server_identifier"),
            client.get("client_id"),
        ) && let Some(rs) = store.resource_servers.get_mut(identifier)
        {
            rs.extra
                .insert("client_id".into(), Value::String(id.clone()));
        }
    }
    // The create answer always carries the new secret.
    Ok(json_response(StatusCode::CREATED, client))
}

fn client_id_from(
    path: Result<Path<String>, axum::extract::rejection::PathRejection>,
) -> Result<String, ApiError> {
    path.map(|Path(id)| id)
        .map_err(|_| ApiError::inexistent_client())
}

async fn get_client(
    State(sh): State<Arc<Shared>>,
    headers: HeaderMap,
    path: Result<Path<String>, axum::extract::rejection::PathRejection>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let grant = authorize(&sh, &headers, &["read:clients"])?;
    let params = parse_query(raw.as_deref(), &["fields", "include_fields"])?;
    let filter = field_filter(&params)?;
    let id = client_id_from(path)?;
    let client = lock(&sh.store)
        .clients
        .get(&id)
        .cloned()
        .ok_or_else(ApiError::inexistent_client)?;
    Ok(json_response(
        StatusCode::OK,
        filter.apply(grant.visible(client)),
    ))
}

async fn patch_client(
    State(sh): State<Arc<Shared>>,
    headers: HeaderMap,
    path: Result<Path<String>, axum::extract::rejection::PathRejection>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let grant = authorize(&sh, &headers, &["update:clients"])?;
    let body = parse_json(&body)?;
    validation::validate_client_body(&body, Mode::Update)?;
    let Value::Object(patch) = body else {
        return Err(ApiError::invalid_body(
            "Payload validation error: 'Expected type object'.",
        ));
    };
    if patch.contains_key("client_secret") {
        grant.require_any(&[UPDATE_KEYS])?;
    }
    let id = client_id_from(path)?;
    let updated = {
        let mut store = lock(&sh.store);
        if store.clients.get(&id).is_none() {
            return Err(ApiError::inexistent_client());
        }
        check_authentication_methods(&store, &id, &patch)?;
        let client = store
            .clients
            .get_mut(&id)
            .ok_or_else(ApiError::inexistent_client)?;
        let mut updated = client.clone();
        store::apply_patch(&mut updated, &patch);
        if let Some(Value::Object(m)) = updated.get("client_metadata") {
            validation::check_metadata_count(m.len())?;
        }
        *client = updated.clone();
        updated
    };
    Ok(json_response(StatusCode::OK, grant.visible(updated)))
}

async fn delete_client(
    State(sh): State<Arc<Shared>>,
    headers: HeaderMap,
    path: Result<Path<String>, axum::extract::rejection::PathRejection>,
) -> Result<Response, ApiError> {
    authorize(&sh, &headers, &["delete:clients"])?;
    if let Ok(Path(id)) = path {
        // Its grants and its enablement on every connection go with it.
        lock(&sh.store).remove_client(&id);
    }
    // Auth0 answers 204 whether or not the client (still) existed.
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn rotate_secret(
    State(sh): State<Arc<Shared>>,
    headers: HeaderMap,
    path: Result<Path<String>, axum::extract::rejection::PathRejection>,
) -> Result<Response, ApiError> {
    authorize(&sh, &headers, &[UPDATE_KEYS])?;
    let id = client_id_from(path)?;
    let client = {
        let mut store = lock(&sh.store);
        let client = store
            .clients
            .get_mut(&id)
            .ok_or_else(ApiError::inexistent_client)?;
        client.insert(
            "client_secret".into(),
            Value::String(store::generate_client_secret()),
        );
        client.clone()
    };
    Ok(json_response(StatusCode::OK, client))
}
