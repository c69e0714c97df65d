//! Resource servers (APIs): the store, Auth0's validation of create and update bodies, and the
//! `/api/v2/resource-servers` routes.
//!
//! The Management API itself is a system resource server (identifier `https://{domain}/api/v2/`,
//! `is_system: true`), present from the start; it cannot be changed or deleted.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use rand::Rng;
use rand::distributions::Alphanumeric;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::error::ApiError;
use super::server::{
    DEFAULT_PER_PAGE, MAX_PER_PAGE, Shared, authorize, parse_json, parse_query, query_bool,
    query_uint,
};
use super::validation::{
    boolean, check_enum, expect_object, integer_in, payload_error, reject_unknown, require,
    string_in,
};
use super::{MANAGEMENT_SCOPES, lock};

/// Largest `identifier` (Auth0's schema: `maxLength: 600`).
pub const IDENTIFIER_MAX_LEN: usize = 600;
/// Largest `name` (Auth0's schema: `maxLength: 200`).
pub const NAME_MAX_LEN: usize = 200;
/// Largest scope `value` (Auth0's schema: `maxLength: 280`).
pub const SCOPE_VALUE_MAX_LEN: usize = 280;
/// Largest scope `description` (Auth0's schema: `maxLength: 500`).
pub const SCOPE_DESCRIPTION_MAX_LEN: usize = 500;
/// Largest `token_lifetime` / `token_lifetime_for_web` (30 days).
pub const TOKEN_LIFETIME_MAX: i64 = 2_592_000;
/// `token_lifetime` when absent.
pub const DEFAULT_TOKEN_LIFETIME: u64 = 86_400;
/// `token_lifetime_for_web` when absent (capped by `token_lifetime`).
pub const DEFAULT_TOKEN_LIFETIME_FOR_WEB: u64 = 7_200;

const SIGNING_ALGS: &[&str] = &["HS256", "RS256", "RS512", "PS256"];
const TOKEN_DIALECTS: &[&str] = &[
    "access_token",
    "access_token_authz",
    "rfc9068_profile",
    "rfc9068_profile_authz",
];
const CREATE_FIELDS: &[&str] = &[
    "subject_type_authorization",
    "authorization_details",
    "consent_policy",
    "token_encryption",
    "proof_of_possession",
    "identifier",
    "name",
    "scopes",
    "signing_alg",
    "signing_secret",
    "token_lifetime",
    "token_lifetime_for_web",
    "allow_offline_access",
    "skip_consent_for_verifiable_first_party_clients",
    "enforce_policies",
    "token_dialect",
];

/// One permission of an API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scope {
    /// The scope string.
    pub value: String,
    /// What it allows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// A stored resource server, as Auth0 answers it: fields that were never set are absent
/// (recorded: a create with only `identifier` is answered without `name`, `scopes`,
/// `enforce_policies`, `token_dialect` and `is_system`). `Debug` redacts `signing_secret`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceServer {
    /// Auth0's id (24 hexadecimal characters).
    pub id: String,
    /// Display name (absent when none was given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `true` for the Management API (absent otherwise).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub is_system: bool,
    /// The audience.
    pub identifier: String,
    /// The permissions it defines (absent until set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Vec<Scope>>,
    /// `HS256`, `RS256`, `RS512` or `PS256`.
    pub signing_alg: String,
    /// The HS256 secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signing_secret: Option<String>,
    /// Whether refresh tokens may be issued for it.
    #[serde(default)]
    pub allow_offline_access: bool,
    /// Whether first-party applications skip consent.
    #[serde(default)]
    pub skip_consent_for_verifiable_first_party_clients: bool,
    /// Access token lifetime at the token endpoint, in seconds.
    pub token_lifetime: u64,
    /// Access token lifetime for browser flows, in seconds.
    pub token_lifetime_for_web: u64,
    /// Whether RBAC policies are enforced (absent until set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enforce_policies: Option<bool>,
    /// Access token dialect (absent until set; `access_token` applies).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_dialect: Option<String>,
    /// Properties stored and answered without a meaning in the simulator: [`EXTRA_FIELDS`],
    /// `subject_type_authorization` (with Auth0's default) and `client_id` (the application of
    /// a `resource_server` client that names this API).
    #[serde(default, flatten)]
    pub extra: Map<String, Value>,
}

/// Resource-server properties the simulator accepts, stores and answers (recorded:
/// TestAccResourceServer, TestAccClientGrant); `token_encryption.encryption_key.pem` is answered
/// as its `thumbprint_sha256`.
pub const EXTRA_FIELDS: &[&str] = &[
    "subject_type_authorization",
    "authorization_details",
    "consent_policy",
    "token_encryption",
    "proof_of_possession",
];

/// `subject_type_authorization` of a new API (recorded).
fn default_subject_type_authorization() -> Value {
    json!({"client": {"policy": "require_client_grant"}, "user": {"policy": "allow_all"}})
}

impl std::fmt::Debug for ResourceServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResourceServer")
            .field("id", &self.id)
            .field("identifier", &self.identifier)
            .field("name", &self.name)
            .field("is_system", &self.is_system)
            .field("scopes", &self.scopes)
            .field("signing_alg", &self.signing_alg)
            .field(
                "signing_secret",
                &self.signing_secret.as_ref().map(|_| "[redacted]"),
            )
            .field("token_lifetime", &self.token_lifetime)
            .finish_non_exhaustive()
    }
}

impl ResourceServer {
    /// Whether the API defines `scope`.
    pub fn defines(&self, scope: &str) -> bool {
        self.scopes.iter().flatten().any(|s| s.value == scope)
    }

    /// The JSON Auth0 answers with.
    pub fn to_json(&self) -> Map<String, Value> {
        match serde_json::to_value(self) {
            Ok(Value::Object(m)) => m,
            _ => Map::new(),
        }
    }
}

/// A random resource-server id like Auth0's: 24 lowercase hexadecimal characters.
pub fn generate_id() -> String {
    let mut rng = rand::thread_rng();
    (0..24)
        .map(|_| char::from(b"0123456789abcdef"[rng.gen_range(0..16)]))
        .collect()
}

/// A random HS256 signing secret (32 alphanumeric characters).
pub fn generate_signing_secret() -> String {
    rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(32)
        .map(char::from)
        .collect()
}

/// The system resource server of the Management API of `domain`.
pub fn management_api(domain: &str, token_lifetime: u64) -> ResourceServer {
    ResourceServer {
        id: generate_id(),
        name: Some("Auth0 Management API".into()),
        is_system: true,
        identifier: format!("https://{domain}/api/v2/"),
        scopes: Some(
            MANAGEMENT_SCOPES
                .iter()
                .map(|s| Scope {
                    value: (*s).to_owned(),
                    description: None,
                })
                .collect(),
        ),
        signing_alg: "RS256".into(),
        signing_secret: None,
        allow_offline_access: false,
        skip_consent_for_verifiable_first_party_clients: false,
        token_lifetime,
        token_lifetime_for_web: DEFAULT_TOKEN_LIFETIME_FOR_WEB.min(token_lifetime),
        enforce_policies: Some(false),
        token_dialect: Some("access_token".into()),
        extra: Map::new(),
    }
}

/// The resource servers of one tenant, in creation order (the system one first).
#[derive(Debug, Default, Clone)]
pub struct ResourceServers {
    items: Vec<ResourceServer>,
}

impl ResourceServers {
    /// By id or identifier.
    pub fn get(&self, id_or_identifier: &str) -> Option<&ResourceServer> {
        self.items
            .iter()
            .find(|r| r.id == id_or_identifier || r.identifier == id_or_identifier)
    }

    /// By id or identifier, mutable.
    pub fn get_mut(&mut self, id_or_identifier: &str) -> Option<&mut ResourceServer> {
        self.items
            .iter_mut()
            .find(|r| r.id == id_or_identifier || r.identifier == id_or_identifier)
    }

    /// By identifier only (the audience of a token request or a grant).
    pub fn by_identifier(&self, identifier: &str) -> Option<&ResourceServer> {
        self.items.iter().find(|r| r.identifier == identifier)
    }

    /// Adds one, or replaces the one with the same id or identifier in place.
    pub fn upsert(&mut self, rs: ResourceServer) {
        match self
            .items
            .iter_mut()
            .find(|r| r.id == rs.id || r.identifier == rs.identifier)
        {
            Some(existing) => *existing = rs,
            None => self.items.push(rs),
        }
    }

    /// Removes one by id or identifier.
    pub fn remove(&mut self, id_or_identifier: &str) -> Option<ResourceServer> {
        let i = self
            .items
            .iter()
            .position(|r| r.id == id_or_identifier || r.identifier == id_or_identifier)?;
        Some(self.items.remove(i))
    }

    /// All, in creation order.
    pub fn iter(&self) -> impl Iterator<Item = &ResourceServer> {
        self.items.iter()
    }

    /// Number of resource servers (the system one included).
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

// ---------------------------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------------------------

fn validate_scopes(v: &Value) -> Result<Vec<Scope>, ApiError> {
    let Value::Array(items) = v else {
        return Err(super::validation::type_error("array", v, "scopes"));
    };
    let mut scopes: Vec<Scope> = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let property = format!("scopes[{i}]");
        let Value::Object(obj) = item else {
            return Err(super::validation::type_error("object", item, &property));
        };
        reject_unknown(obj, &["value", "description"], Some(&property))?;
        require(obj, &["value"], Some(&property))?;
        let value_property = format!("{property}.value");
        let value = string_in(&obj["value"], &value_property, 1, SCOPE_VALUE_MAX_LEN)?;
        if value.chars().any(char::is_whitespace) {
            return Err(payload_error(
                format!("String does not match pattern ^\\S+$: {value}"),
                Some(&value_property),
            ));
        }
        let description = match obj.get("description") {
            Some(d) => Some(
                string_in(
                    d,
                    &format!("{property}.description"),
                    0,
                    SCOPE_DESCRIPTION_MAX_LEN,
                )?
                .to_owned(),
            ),
            None => None,
        };
        if scopes.iter().any(|s| s.value == value) {
            return Err(ApiError::invalid_body(format!(
                "Scopes must be unique: {value} is defined more than once"
            )));
        }
        scopes.push(Scope {
            value: value.to_owned(),
            description,
        });
    }
    Ok(scopes)
}

fn validate_name(v: &Value) -> Result<String, ApiError> {
    let name = string_in(v, "name", 1, NAME_MAX_LEN)?;
    if name.contains(['<', '>']) {
        return Err(payload_error(
            format!("String does not match pattern ^[^<>]+$: {name}"),
            Some("name"),
        ));
    }
    Ok(name.to_owned())
}

/// `token_encryption` as Auth0 answers it: the `encryption_key`'s `pem` becomes its
/// `thumbprint_sha256` (the RFC 7638 thumbprint of the key, recorded).
fn token_encryption(v: &Value) -> Result<Value, ApiError> {
    let mut v = v.clone();
    if let Some(key) = v.get_mut("encryption_key").and_then(Value::as_object_mut)
        && let Some(Value::String(pem)) = key.remove("pem")
    {
        let parsed = super::credentials::parse_pem(&pem).ok_or_else(|| {
            payload_error(
                "The pem must be an X.509 certificate or an RSA public key",
                Some("token_encryption.encryption_key.pem"),
            )
        })?;
        key.insert(
            "thumbprint_sha256".into(),
            Value::String(super::credentials::jwk_thumbprint(&parsed.key)),
        );
    }
    Ok(v)
}

/// Applies the validated properties of a create or update body to `rs`.
fn apply_fields(rs: &mut ResourceServer, obj: &Map<String, Value>) -> Result<(), ApiError> {
    for (key, v) in obj {
        match key.as_str() {
            "identifier" => {}
            "name" => rs.name = Some(validate_name(v)?),
            "scopes" => rs.scopes = Some(validate_scopes(v)?),
            "signing_alg" => {
                let alg = string_in(v, "signing_alg", 0, usize::MAX)?;
                check_enum(alg, SIGNING_ALGS, "signing_alg")?;
                rs.signing_alg = alg.to_owned();
            }
            "signing_secret" => {
                rs.signing_secret =
                    Some(string_in(v, "signing_secret", 16, usize::MAX)?.to_owned());
            }
            "token_lifetime" => {
                rs.token_lifetime =
                    integer_in(v, "token_lifetime", 0, TOKEN_LIFETIME_MAX)?.unsigned_abs();
            }
            "token_lifetime_for_web" => {
                rs.token_lifetime_for_web =
                    integer_in(v, "token_lifetime_for_web", 0, TOKEN_LIFETIME_MAX)?.unsigned_abs();
            }
            "allow_offline_access" => rs.allow_offline_access = boolean(v, key)?,
            "skip_consent_for_verifiable_first_party_clients" => {
                rs.skip_consent_for_verifiable_first_party_clients = boolean(v, key)?;
            }
            "enforce_policies" => rs.enforce_policies = Some(boolean(v, key)?),
            "token_dialect" => {
                let dialect = string_in(v, "token_dialect", 0, usize::MAX)?;
                check_enum(dialect, TOKEN_DIALECTS, "token_dialect")?;
                rs.token_dialect = Some(dialect.to_owned());
            }
            "token_encryption" => {
                rs.extra.insert(key.clone(), token_encryption(v)?);
            }
            extra if EXTRA_FIELDS.contains(&extra) => {
                if v.is_null() {
                    rs.extra.remove(extra);
                } else {
                    rs.extra.insert(key.clone(), v.clone());
                }
            }
            _ => {}
        }
    }
    // Checked when the body sets it (a lower `token_lifetime` alone leaves the stored value).
    if obj.contains_key("token_lifetime_for_web") && rs.token_lifetime_for_web > rs.token_lifetime {
        return Err(ApiError::invalid_body(format!(
            "token_lifetime_for_web ({}) cannot be larger than token_lifetime ({})",
            rs.token_lifetime_for_web, rs.token_lifetime
        )));
    }
    if rs.signing_alg == "HS256" && rs.signing_secret.is_none() {
        rs.signing_secret = Some(generate_signing_secret());
    }
    Ok(())
}

/// Validates a `POST /api/v2/resource-servers` body and builds the resource server Auth0
/// would store (with its defaults and a fresh id).
pub fn build_created(body: &Value) -> Result<ResourceServer, ApiError> {
    let obj = expect_object(body)?;
    reject_unknown(obj, CREATE_FIELDS, None)?;
    require(obj, &["identifier"], None)?;
    let identifier = string_in(&obj["identifier"], "identifier", 1, IDENTIFIER_MAX_LEN)?;
    let token_lifetime = match obj.get("token_lifetime") {
        Some(v) => integer_in(v, "token_lifetime", 0, TOKEN_LIFETIME_MAX)?.unsigned_abs(),
        None => DEFAULT_TOKEN_LIFETIME,
    };
    let mut rs = ResourceServer {
        id: generate_id(),
        name: None,
        is_system: false,
        identifier: identifier.to_owned(),
        scopes: None,
        signing_alg: "RS256".into(),
        signing_secret: None,
        allow_offline_access: false,
        skip_consent_for_verifiable_first_party_clients: false,
        token_lifetime,
        token_lifetime_for_web: DEFAULT_TOKEN_LIFETIME_FOR_WEB.min(token_lifetime),
        enforce_policies: None,
        token_dialect: None,
        extra: Map::new(),
    };
    rs.extra.insert(
        "subject_type_authorization".into(),
        default_subject_type_authorization(),
    );
    apply_fields(&mut rs, obj)?;
    Ok(rs)
}

/// Validates a `PATCH /api/v2/resource-servers/{id}` body and applies it to a copy of `current`.
pub fn build_updated(current: &ResourceServer, body: &Value) -> Result<ResourceServer, ApiError> {
    let obj = expect_object(body)?;
    let known: Vec<&str> = CREATE_FIELDS
        .iter()
        .copied()
        .filter(|f| *f != "identifier")
        .collect();
    reject_unknown(obj, &known, None)?;
    if obj.is_empty() {
        return Err(payload_error(
            "Too few properties defined (0), minimum 1",
            None,
        ));
    }
    let mut rs = current.clone();
    apply_fields(&mut rs, obj)?;
    Ok(rs)
}

// ---------------------------------------------------------------------------------------------
// Routes
// ---------------------------------------------------------------------------------------------

type PathResult = Result<Path<String>, axum::extract::rejection::PathRejection>;

fn id_from(path: PathResult) -> Result<String, ApiError> {
    path.map(|Path(id)| id)
        .map_err(|_| ApiError::inexistent_resource_server())
}

fn system_refusal(action: &str) -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        format!("You cannot {action} a system resource server"),
        "operation_not_supported",
    )
}

/// `GET /api/v2/resource-servers`.
pub(crate) async fn list(
    State(sh): State<Arc<Shared>>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    authorize(&sh, &headers, &["read:resource_servers"])?;
    let (identifiers, rest) = split_identifiers(raw.as_deref())?;
    let params = parse_query(Some(&rest), &["page", "per_page", "include_totals"])?;
    let page = query_uint(&params, "page", None)?.unwrap_or(0);
    let per_page = query_uint(&params, "per_page", Some(MAX_PER_PAGE))?.unwrap_or(DEFAULT_PER_PAGE);
    let include_totals = query_bool(&params, "include_totals")?.unwrap_or(false);
    let all: Vec<Value> = lock(&sh.store)
        .resource_servers
        .iter()
        .filter(|r| identifiers.is_empty() || identifiers.contains(&r.identifier))
        .map(|r| Value::Object(r.to_json()))
        .collect();
    Ok(axum::Json(super::server::paged(
        all,
        "resource_servers",
        page,
        per_page,
        include_totals,
    )?)
    .into_response())
}

/// Most `identifiers` of one list request (Auth0's reference: "may be specified multiple times
/// (max 10)").
pub const MAX_IDENTIFIERS: usize = 10;

/// The `identifiers` filter of `GET /resource-servers` (repeated, at most [`MAX_IDENTIFIERS`])
/// and the rest of the query. More than 10 is refused in Auth0's query-validation wording (the
/// exact message of that refusal is not recorded).
fn split_identifiers(raw: Option<&str>) -> Result<(Vec<String>, String), ApiError> {
    let mut identifiers = Vec::new();
    let mut rest = form_urlencoded::Serializer::new(String::new());
    for (k, v) in form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
        if k == "identifiers" {
            identifiers.push(v.into_owned());
        } else {
            rest.append_pair(&k, &v);
        }
    }
    if identifiers.len() > MAX_IDENTIFIERS {
        return Err(ApiError::invalid_query(format!(
            "Query validation error: 'Array is too long ({}), maximum {MAX_IDENTIFIERS}' on property identifiers.",
            identifiers.len()
        )));
    }
    Ok((identifiers, rest.finish()))
}

/// `POST /api/v2/resource-servers`.
pub(crate) async fn create(
    State(sh): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    authorize(&sh, &headers, &["create:resource_servers"])?;
    let body = parse_json(&body)?;
    let rs = build_created(&body)?;
    {
        let mut store = lock(&sh.store);
        if store
            .resource_servers
            .by_identifier(&rs.identifier)
            .is_some()
        {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "A resource server with the same identifier already exists",
                "resource_server_conflict",
            ));
        }
        store.resource_servers.upsert(rs.clone());
    }
    Ok((StatusCode::CREATED, axum::Json(Value::Object(rs.to_json()))).into_response())
}

/// `GET /api/v2/resource-servers/{id}` (id or identifier).
pub(crate) async fn get_one(
    State(sh): State<Arc<Shared>>,
    headers: HeaderMap,
    path: PathResult,
) -> Result<Response, ApiError> {
    authorize(&sh, &headers, &["read:resource_servers"])?;
    let id = id_from(path)?;
    let rs = lock(&sh.store)
        .resource_servers
        .get(&id)
        .cloned()
        .ok_or_else(ApiError::inexistent_resource_server)?;
    Ok(axum::Json(Value::Object(rs.to_json())).into_response())
}

/// `PATCH /api/v2/resource-servers/{id}` (id or identifier).
pub(crate) async fn patch(
    State(sh): State<Arc<Shared>>,
    headers: HeaderMap,
    path: PathResult,
    body: Bytes,
) -> Result<Response, ApiError> {
    authorize(&sh, &headers, &["update:resource_servers"])?;
    let body = parse_json(&body)?;
    let id = id_from(path)?;
    let mut store = lock(&sh.store);
    let current = store
        .resource_servers
        .get(&id)
        .cloned()
        .ok_or_else(ApiError::inexistent_resource_server)?;
    if current.is_system {
        return Err(system_refusal("update"));
    }
    let updated = build_updated(&current, &body)?;
    store.replace_resource_server(updated.clone());
    Ok(axum::Json(Value::Object(updated.to_json())).into_response())
}

/// `DELETE /api/v2/resource-servers/{id}` (id or identifier); its grants go with it.
pub(crate) async fn delete(
    State(sh): State<Arc<Shared>>,
    headers: HeaderMap,
    path: PathResult,
) -> Result<Response, ApiError> {
    authorize(&sh, &headers, &["delete:resource_servers"])?;
    let id = id_from(path)?;
    let mut store = lock(&sh.store);
    match store.resource_servers.get(&id) {
        None => return Err(ApiError::inexistent_resource_server()),
        Some(rs) if rs.is_system => return Err(system_refusal("delete")),
        Some(_) => {}
    }
    store.remove_resource_server(&id);
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The JSON of a resource server as `SimHandle` hands it out (complete).
pub(crate) fn public_json(rs: &ResourceServer) -> Value {
    Value::Object(rs.to_json())
}

/// An out-of-band resource server built from arbitrary JSON (no validation): missing fields
/// get the create defaults. `None` when the JSON has no usable `identifier`.
pub(crate) fn from_loose_json(v: Value) -> Option<ResourceServer> {
    let Value::Object(mut obj) = v else {
        return None;
    };
    let identifier = obj.get("identifier")?.as_str()?.to_owned();
    let mut defaults = match serde_json::to_value(
        build_created(&json!({ "identifier": identifier, "signing_alg": "RS256" })).ok()?,
    ) {
        Ok(Value::Object(m)) => m,
        _ => return None,
    };
    if obj.get("id").and_then(Value::as_str).is_none() {
        obj.remove("id");
    }
    defaults.extend(obj);
    serde_json::from_value(Value::Object(defaults)).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn created(v: Value) -> Result<ResourceServer, ApiError> {
        build_created(&v)
    }

    fn message(r: Result<ResourceServer, ApiError>) -> String {
        let e = r.expect_err("expected a validation error");
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        e.message
    }

    #[test]
    fn create_applies_auth0_defaults() {
        let rs = created(json!({"identifier": "https://orders/"})).expect("valid");
        // Recorded (TestAccResourceServer#0): no name, RS256 without a secret, no scopes,
        // dialect or enforce_policies until set, Auth0's subject_type_authorization.
        assert_eq!(rs.name, None);
        assert_eq!(rs.id.len(), 24);
        assert!(rs.id.chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(rs.signing_alg, "RS256");
        assert_eq!(rs.signing_secret, None);
        assert_eq!(
            (rs.token_lifetime, rs.token_lifetime_for_web),
            (86400, 7200)
        );
        assert_eq!(rs.token_dialect, None);
        assert!(rs.scopes.is_none() && !rs.is_system && rs.enforce_policies.is_none());
        assert_eq!(
            rs.extra["subject_type_authorization"],
            json!({"client": {"policy": "require_client_grant"}, "user": {"policy": "allow_all"}})
        );
        let hs = created(json!({"identifier": "h", "signing_alg": "HS256"})).expect("valid");
        assert_eq!(hs.signing_secret.as_ref().map(String::len), Some(32));
        let short =
            created(json!({"identifier": "a", "token_lifetime": 600, "signing_alg": "RS256"}))
                .expect("valid");
        assert_eq!(short.token_lifetime_for_web, 600);
        assert_eq!(short.signing_secret, None);
        assert!(!format!("{rs:?}").contains(rs.signing_secret.as_deref().unwrap_or("-")));
    }

    #[test]
    fn create_validation() {
        assert!(
            message(created(json!({"name": "x"})))
                .contains("Missing required property: identifier")
        );
        assert!(message(created(json!({"identifier": ""}))).contains("too short"));
        assert!(message(created(json!({"identifier": "a".repeat(601)}))).contains("maximum 600"));
        assert!(created(json!({"identifier": "a".repeat(600)})).is_ok());
        assert!(message(created(json!({"identifier": "a", "name": "<b>"}))).contains("^[^<>]+$"));
        assert!(
            message(created(json!({"identifier": "a", "name": "n".repeat(201)})))
                .contains("maximum 200")
        );
        assert!(
            message(created(json!({"identifier": "a", "signing_alg": "none"})))
                .contains("No enum match")
        );
        assert!(
            message(created(
                json!({"identifier": "a", "token_lifetime": 2592001})
            ))
            .contains("maximum 2592000")
        );
        assert!(
            message(created(
                json!({"identifier": "a", "token_lifetime": 60, "token_lifetime_for_web": 61})
            ))
            .contains("token_lifetime_for_web")
        );
        assert!(
            message(created(json!({"identifier": "a", "token_dialect": "jwt"})))
                .contains("No enum match")
        );
        assert!(
            message(created(json!({"identifier": "a", "bogus": 1})))
                .contains("Additional properties not allowed: bogus")
        );
        assert!(
            message(created(
                json!({"identifier": "a", "scopes": [{"value": ""}]})
            ))
            .contains("scopes[0].value")
        );
        assert!(
            message(created(
                json!({"identifier": "a", "scopes": [{"value": "a b"}]})
            ))
            .contains("pattern")
        );
        assert!(
            message(created(
                json!({"identifier": "a", "scopes": [{"description": "d"}]})
            ))
            .contains("Missing required property: value")
        );
        assert!(
            message(created(
                json!({"identifier": "a", "scopes": [{"value": "x", "extra": 1}]})
            ))
            .contains("Additional properties")
        );
        assert!(
            message(created(
                json!({"identifier": "a", "scopes": [{"value": "x"}, {"value": "x"}]})
            ))
            .contains("unique")
        );
        assert!(
            message(created(
                json!({"identifier": "a", "signing_secret": "short"})
            ))
            .contains("minimum 16")
        );
        assert!(message(created(json!([1]))).contains("Expected type object"));
    }

    #[test]
    fn update_rules() {
        let rs = created(
            json!({"identifier": "https://a/", "name": "A", "signing_alg": "RS256",
            "scopes": [{"value": "read:a", "description": "Read"}, {"value": "write:a"}]}),
        )
        .expect("valid");
        let e = build_updated(&rs, &json!({"identifier": "https://b/"})).expect_err("immutable");
        assert!(
            e.message
                .contains("Additional properties not allowed: identifier"),
            "{}",
            e.message
        );
        assert!(build_updated(&rs, &json!({})).is_err());
        let up = build_updated(&rs, &json!({"scopes": [{"value": "read:a"}], "name": "B"}))
            .expect("valid");
        assert_eq!(up.scopes.as_ref().map(Vec::len), Some(1));
        assert_eq!(up.name.as_deref(), Some("B"));
        assert_eq!(up.id, rs.id);
        assert_eq!(up.identifier, rs.identifier);
        assert!(build_updated(&rs, &json!({"token_lifetime_for_web": 90000})).is_err());
        let shorter = build_updated(&rs, &json!({"token_lifetime": 600})).expect("valid");
        assert_eq!(
            (shorter.token_lifetime, shorter.token_lifetime_for_web),
            (600, 7200)
        );
        let hs = build_updated(&rs, &json!({"signing_alg": "HS256"})).expect("valid");
        assert!(hs.signing_secret.is_some());
    }

    #[test]
    fn store_finds_by_id_or_identifier() {
        let mut store = ResourceServers::default();
        let system = management_api("t.local", 86400);
        assert!(system.is_system && system.defines("read:clients"));
        store.upsert(system.clone());
        let rs = created(json!({"identifier": "https://a/"})).expect("valid");
        store.upsert(rs.clone());
        assert_eq!(
            store.get(&rs.id).map(|r| &r.identifier),
            Some(&rs.identifier)
        );
        assert_eq!(store.get("https://a/").map(|r| &r.id), Some(&rs.id));
        assert!(store.by_identifier(&rs.id).is_none());
        assert_eq!(store.len(), 2);
        assert!(store.remove("https://a/").is_some());
        assert!(store.remove("https://a/").is_none());
        assert_eq!(store.iter().next().map(|r| r.is_system), Some(true));
    }

    #[test]
    fn loose_json_gets_defaults() {
        let rs = from_loose_json(json!({"identifier": "https://x/", "scopes": [{"value": "a"}]}))
            .expect("usable");
        assert_eq!(rs.scopes.as_ref().map(Vec::len), Some(1));
        assert_eq!(rs.signing_alg, "RS256");
        assert_eq!(rs.id.len(), 24);
        assert!(from_loose_json(json!({"name": "no identifier"})).is_none());
    }
}
