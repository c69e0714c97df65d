//! Connections and the applications enabled on them: the store, validation, and the
//! `/api/v2/connections` routes, including the checkpoint-paginated
//! `GET /api/v2/connections/{id}/clients` and `PATCH /api/v2/connections/{id}/clients`.
//!
//! The deprecated `enabled_clients` property is not served: enablement is only read and changed
//! through the `/clients` sub-resource, as Auth0 now recommends.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use rand::Rng;
use rand::distributions::Alphanumeric;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::error::ApiError;
use super::lock;
use super::server::{
    DEFAULT_PER_PAGE, MAX_PER_PAGE, Shared, authorize, field_filter, paged, parse_json,
    parse_query, query_bool, query_uint,
};
use super::validation::{
    boolean, check_enum, expect_object, payload_error, reject_unknown, require, string_array,
    string_in, type_error,
};

/// Largest connection name.
pub const NAME_MAX_LEN: usize = 128;
/// Largest number of clients in one `PATCH /connections/{id}/clients` (Auth0's limit).
pub const MAX_CLIENTS_PER_PATCH: usize = 50;
/// Largest `take` of `GET /connections/{id}/clients`.
pub const MAX_TAKE: u64 = 1000;
/// `take` when absent.
pub const DEFAULT_TAKE: u64 = 50;

/// Strategies the simulator accepts on create (the common subset of Auth0's list).
pub const STRATEGIES: &[&str] = &[
    "auth0",
    "google-oauth2",
    "github",
    "facebook",
    "apple",
    "linkedin",
    "windowslive",
    "twitter",
    "samlp",
    "oidc",
    "okta",
    "waad",
    "adfs",
    "ad",
    "pingfederate",
    "email",
    "sms",
    "oauth2",
];

/// A stored connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Connection {
    /// `con_` and 16 alphanumeric characters.
    pub id: String,
    /// Unique name.
    pub name: String,
    /// Identity provider kind.
    pub strategy: String,
    /// Name on the login page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Realms (the name, for most strategies).
    #[serde(default)]
    pub realms: Vec<String>,
    /// Home-realm discovery by domain.
    #[serde(default)]
    pub is_domain_connection: bool,
    /// Strategy options (opaque here).
    #[serde(default)]
    pub options: Map<String, Value>,
    /// The applications enabled on it (kept in the simulator's state, served through `/clients`).
    #[serde(default)]
    pub enabled_clients: BTreeSet<String>,
}

impl Connection {
    /// A connection with Auth0's defaults and a fresh id.
    pub fn new(name: &str, strategy: &str) -> Self {
        Self {
            id: generate_id(),
            name: name.to_owned(),
            strategy: strategy.to_owned(),
            display_name: None,
            realms: vec![name.to_owned()],
            is_domain_connection: false,
            options: Map::new(),
            enabled_clients: BTreeSet::new(),
        }
    }

    /// The JSON the Management API answers with: with the deprecated `enabled_clients` (Auth0
    /// still answers it, recorded: TestAccConnectionClients) and Auth0's `authentication` and
    /// `connected_accounts` defaults.
    pub fn to_api_json(&self) -> Map<String, Value> {
        let mut m = match serde_json::to_value(self) {
            Ok(Value::Object(m)) => m,
            _ => Map::new(),
        };
        m.insert("authentication".into(), json!({"active": true}));
        m.insert("connected_accounts".into(), json!({"active": false}));
        m
    }
}

/// A random connection id like Auth0's: `con_` and 16 alphanumeric characters.
pub fn generate_id() -> String {
    let suffix: String = rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(16)
        .map(char::from)
        .collect();
    format!("con_{suffix}")
}

/// Whether `name` is a valid connection name: starts and ends with an alphanumeric character,
/// only alphanumerics and `-` in between, at most 128 characters.
pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= NAME_MAX_LEN
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

/// The connections of one tenant, in creation order.
#[derive(Debug, Default, Clone)]
pub struct Connections {
    items: Vec<Connection>,
}

impl Connections {
    /// By id.
    pub fn get(&self, id: &str) -> Option<&Connection> {
        self.items.iter().find(|c| c.id == id)
    }

    /// By id, mutable.
    pub fn get_mut(&mut self, id: &str) -> Option<&mut Connection> {
        self.items.iter_mut().find(|c| c.id == id)
    }

    /// By name.
    pub fn by_name(&self, name: &str) -> Option<&Connection> {
        self.items.iter().find(|c| c.name == name)
    }

    /// Adds one, or replaces the one with the same id or name in place.
    pub fn upsert(&mut self, c: Connection) {
        match self
            .items
            .iter_mut()
            .find(|x| x.id == c.id || x.name == c.name)
        {
            Some(existing) => *existing = c,
            None => self.items.push(c),
        }
    }

    /// Removes one by id.
    pub fn remove(&mut self, id: &str) -> Option<Connection> {
        let i = self.items.iter().position(|c| c.id == id)?;
        Some(self.items.remove(i))
    }

    /// Disables `client_id` everywhere (the client was deleted).
    pub fn forget_client(&mut self, client_id: &str) {
        for c in &mut self.items {
            c.enabled_clients.remove(client_id);
        }
    }

    /// All, in creation order.
    pub fn iter(&self) -> impl Iterator<Item = &Connection> {
        self.items.iter()
    }

    /// All, mutable.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut Connection> {
        self.items.iter_mut()
    }

    /// Number of connections.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

// ---------------------------------------------------------------------------------------------
// Checkpoint pagination of enabled clients
// ---------------------------------------------------------------------------------------------

fn encode_checkpoint(last_client_id: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("after:{last_client_id}"))
}

fn decode_checkpoint(from: &str) -> Option<String> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(from)
        .ok()?;
    String::from_utf8(bytes)
        .ok()?
        .strip_prefix("after:")
        .map(str::to_owned)
}

/// One checkpoint page of `enabled`: the clients after the checkpoint `from`, at most `take`,
/// and the checkpoint of the next page when more remain.
pub fn checkpoint_page(
    enabled: &BTreeSet<String>,
    from: Option<&str>,
    take: usize,
) -> Result<(Vec<String>, Option<String>), ApiError> {
    let after = match from {
        None => None,
        Some(f) => Some(decode_checkpoint(f).ok_or_else(|| {
            ApiError::invalid_query(
                "Query validation error: 'Invalid checkpoint' on property from.".to_owned(),
            )
        })?),
    };
    let mut rest = enabled
        .iter()
        .filter(|c| after.as_ref().is_none_or(|a| c.as_str() > a.as_str()));
    let page: Vec<String> = rest.by_ref().take(take).cloned().collect();
    let next = match (rest.next(), page.last()) {
        (Some(_), Some(last)) => Some(encode_checkpoint(last)),
        _ => None,
    };
    Ok((page, next))
}

// ---------------------------------------------------------------------------------------------
// Routes
// ---------------------------------------------------------------------------------------------

type PathResult = Result<Path<String>, axum::extract::rejection::PathRejection>;

fn id_from(path: PathResult) -> Result<String, ApiError> {
    path.map(|Path(id)| id)
        .map_err(|_| ApiError::inexistent_connection())
}

/// Validates a `POST /api/v2/connections` body and builds the connection.
pub fn build_created(body: &Value) -> Result<Connection, ApiError> {
    let obj = expect_object(body)?;
    reject_unknown(
        obj,
        &[
            "name",
            "strategy",
            "display_name",
            "options",
            "realms",
            "is_domain_connection",
            "enabled_clients",
        ],
        None,
    )?;
    require(obj, &["name", "strategy"], None)?;
    let name = string_in(&obj["name"], "name", 1, NAME_MAX_LEN)?;
    if !is_valid_name(name) {
        return Err(payload_error(
            format!(
                "String does not match pattern ^[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?$: {name}"
            ),
            Some("name"),
        ));
    }
    let strategy = string_in(&obj["strategy"], "strategy", 1, usize::MAX)?;
    check_enum(strategy, STRATEGIES, "strategy")?;
    let mut c = Connection::new(name, strategy);
    if let Some(v) = obj.get("display_name") {
        c.display_name = Some(string_in(v, "display_name", 1, 128)?.to_owned());
    }
    if let Some(v) = obj.get("options") {
        c.options = v
            .as_object()
            .cloned()
            .ok_or_else(|| type_error("object", v, "options"))?;
    }
    if let Some(v) = obj.get("realms") {
        c.realms = string_array(v, "realms", 1, 255)?;
    }
    if let Some(v) = obj.get("is_domain_connection") {
        c.is_domain_connection = boolean(v, "is_domain_connection")?;
    }
    if let Some(v) = obj.get("enabled_clients") {
        c.enabled_clients = string_array(v, "enabled_clients", 1, 255)?
            .into_iter()
            .collect();
    }
    Ok(c)
}

/// `GET /api/v2/connections?name&strategy&fields&include_fields&page&per_page&include_totals`.
pub(crate) async fn list(
    State(sh): State<Arc<Shared>>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    authorize(&sh, &headers, &["read:connections"])?;
    let params = parse_query(
        raw.as_deref(),
        &[
            "name",
            "strategy",
            "fields",
            "include_fields",
            "page",
            "per_page",
            "include_totals",
        ],
    )?;
    let page = query_uint(&params, "page", None)?.unwrap_or(0);
    let per_page = query_uint(&params, "per_page", Some(MAX_PER_PAGE))?.unwrap_or(DEFAULT_PER_PAGE);
    let include_totals = query_bool(&params, "include_totals")?.unwrap_or(false);
    let filter = field_filter(&params)?;
    let strategies: Option<Vec<&str>> = params.get("strategy").map(|s| {
        s.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect()
    });
    let name = params.get("name");
    let matching: Vec<Value> = lock(&sh.store)
        .connections
        .iter()
        .filter(|c| name.is_none_or(|n| &c.name == n))
        .filter(|c| {
            strategies
                .as_ref()
                .is_none_or(|s| s.contains(&c.strategy.as_str()))
        })
        .map(|c| Value::Object(filter.apply(c.to_api_json())))
        .collect();
    Ok(axum::Json(paged(
        matching,
        "connections",
        page,
        per_page,
        include_totals,
    )?)
    .into_response())
}

/// `POST /api/v2/connections` (needs `create:connections`).
pub(crate) async fn create(
    State(sh): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    authorize(&sh, &headers, &["create:connections"])?;
    let body = parse_json(&body)?;
    let c = build_created(&body)?;
    {
        let mut store = lock(&sh.store);
        if store.connections.by_name(&c.name).is_some() {
            return Err(ApiError {
                status: StatusCode::CONFLICT,
                message: "A connection with the same name already exists".into(),
                error_code: None,
                attributes: None,
            });
        }
        if let Some(unknown) = c
            .enabled_clients
            .iter()
            .find(|id| store.clients.get(id).is_none())
        {
            return Err(ApiError::invalid_body(format!(
                "The client {unknown} does not exist"
            )));
        }
        store.connections.upsert(c.clone());
    }
    Ok((
        StatusCode::CREATED,
        axum::Json(Value::Object(c.to_api_json())),
    )
        .into_response())
}

/// `GET /api/v2/connections/{id}`.
pub(crate) async fn get_one(
    State(sh): State<Arc<Shared>>,
    headers: HeaderMap,
    path: PathResult,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    authorize(&sh, &headers, &["read:connections"])?;
    let params = parse_query(raw.as_deref(), &["fields", "include_fields"])?;
    let filter = field_filter(&params)?;
    let id = id_from(path)?;
    let c = lock(&sh.store)
        .connections
        .get(&id)
        .map(Connection::to_api_json)
        .ok_or_else(ApiError::inexistent_connection)?;
    let mut answer = filter.apply(c.clone());
    if filter.fields.is_some() && filter.include {
        // Recorded: Auth0 answers these with any `fields` selection.
        for key in [
            "id",
            "is_domain_connection",
            "authentication",
            "connected_accounts",
        ] {
            if let Some(v) = c.get(key) {
                answer.insert(key.into(), v.clone());
            }
        }
    }
    Ok(axum::Json(Value::Object(answer)).into_response())
}

/// `DELETE /api/v2/connections/{id}` (needs `delete:connections`).
pub(crate) async fn delete(
    State(sh): State<Arc<Shared>>,
    headers: HeaderMap,
    path: PathResult,
) -> Result<Response, ApiError> {
    authorize(&sh, &headers, &["delete:connections"])?;
    let id = id_from(path)?;
    lock(&sh.store)
        .connections
        .remove(&id)
        .ok_or_else(ApiError::inexistent_connection)?;
    // Recorded (TestAccConnectionClient): 202 with the time of the deletion.
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(json!({ "deleted_at": super::credentials::rfc3339(sh.clock.wall()) })),
    )
        .into_response())
}

/// `GET /api/v2/connections/{id}/clients?take&from`.
pub(crate) async fn list_clients(
    State(sh): State<Arc<Shared>>,
    headers: HeaderMap,
    path: PathResult,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    authorize(&sh, &headers, &["read:connections"])?;
    let params = parse_query(raw.as_deref(), &["take", "from"])?;
    let take = query_uint(&params, "take", Some(MAX_TAKE))?.unwrap_or(DEFAULT_TAKE);
    if take == 0 {
        return Err(ApiError::invalid_query(
            "Query validation error: 'Value 0 is less than minimum 1' on property take.".to_owned(),
        ));
    }
    let id = id_from(path)?;
    let (page, next) = {
        let store = lock(&sh.store);
        let c = store
            .connections
            .get(&id)
            .ok_or_else(ApiError::inexistent_connection)?;
        checkpoint_page(
            &c.enabled_clients,
            params.get("from").map(String::as_str),
            usize::try_from(take).unwrap_or(usize::MAX),
        )?
    };
    let clients: Vec<Value> = page
        .into_iter()
        .map(|client_id| json!({ "client_id": client_id }))
        .collect();
    let mut body = json!({ "clients": clients });
    if let Some(next) = next {
        body["next"] = Value::String(next);
    }
    Ok(axum::Json(body).into_response())
}

/// Validates a `PATCH /api/v2/connections/{id}/clients` body: `[{client_id, status}]`, 1..=50.
pub fn parse_enablement(body: &Value) -> Result<Vec<(String, bool)>, ApiError> {
    let Value::Array(items) = body else {
        return Err(payload_error(
            format!(
                "Expected type array but found type {}",
                super::validation::type_name(body)
            ),
            None,
        ));
    };
    if items.is_empty() {
        return Err(payload_error("Array is too short (0), minimum 1", None));
    }
    if items.len() > MAX_CLIENTS_PER_PATCH {
        return Err(payload_error(
            format!(
                "Array is too long ({}), maximum {MAX_CLIENTS_PER_PATCH}",
                items.len()
            ),
            None,
        ));
    }
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let property = format!("[{i}]");
            let obj = item
                .as_object()
                .ok_or_else(|| type_error("object", item, &property))?;
            reject_unknown(obj, &["client_id", "status"], Some(&property))?;
            require(obj, &["client_id", "status"], Some(&property))?;
            let client_id = string_in(&obj["client_id"], &format!("{property}.client_id"), 1, 255)?;
            let status = boolean(&obj["status"], &format!("{property}.status"))?;
            Ok((client_id.to_owned(), status))
        })
        .collect()
}

/// `PATCH /api/v2/connections/{id}/clients`: changes only the listed clients.
pub(crate) async fn patch_clients(
    State(sh): State<Arc<Shared>>,
    headers: HeaderMap,
    path: PathResult,
    body: Bytes,
) -> Result<Response, ApiError> {
    authorize(&sh, &headers, &["update:connections"])?;
    let body = parse_json(&body)?;
    let changes = parse_enablement(&body)?;
    let id = id_from(path)?;
    let mut store = lock(&sh.store);
    if store.connections.get(&id).is_none() {
        return Err(ApiError::inexistent_connection());
    }
    if let Some((unknown, _)) = changes
        .iter()
        .find(|(client_id, _)| store.clients.get(client_id).is_none())
    {
        return Err(ApiError::invalid_body(format!(
            "The client {unknown} does not exist"
        )));
    }
    if let Some(c) = store.connections.get_mut(&id) {
        for (client_id, enabled) in changes {
            if enabled {
                c.enabled_clients.insert(client_id);
            } else {
                c.enabled_clients.remove(&client_id);
            }
        }
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_auth0s_pattern() {
        assert!(is_valid_name("Username-Password-Authentication"));
        assert!(is_valid_name("google-oauth2"));
        assert!(!is_valid_name("-lead"));
        assert!(!is_valid_name("trail-"));
        assert!(!is_valid_name("with space"));
        assert!(!is_valid_name(&"a".repeat(129)));
        assert!(!is_valid_name(""));
    }

    #[test]
    fn checkpoints_walk_every_client_once_and_survive_changes() {
        let mut enabled: BTreeSet<String> = (0..5).map(|i| format!("c{i}")).collect();
        let (p1, next) = checkpoint_page(&enabled, None, 2).expect("page");
        assert_eq!(p1, ["c0", "c1"]);
        let next = next.expect("more");
        // A client after the checkpoint that disappears, and one that appears, between pages.
        enabled.remove("c2");
        enabled.insert("c25".into());
        let (p2, next) = checkpoint_page(&enabled, Some(&next), 2).expect("page");
        assert_eq!(p2, ["c25", "c3"]);
        let (p3, next) = checkpoint_page(&enabled, next.as_deref(), 2).expect("page");
        assert_eq!(p3, ["c4"]);
        assert_eq!(next, None);
        let (exact, next) = checkpoint_page(&enabled, None, 5).expect("page");
        assert_eq!(exact.len(), 5);
        assert_eq!(next, None, "no checkpoint when nothing remains");
        assert!(checkpoint_page(&enabled, Some("!!"), 2).is_err());
        assert!(
            checkpoint_page(&enabled, Some("Zm9v"), 2).is_err(),
            "not a checkpoint"
        );
    }

    #[test]
    fn enablement_bodies() {
        assert_eq!(
            parse_enablement(
                &json!([{"client_id": "a", "status": true}, {"client_id": "b", "status": false}])
            )
            .expect("valid"),
            vec![("a".to_owned(), true), ("b".to_owned(), false)]
        );
        assert!(parse_enablement(&json!([])).is_err());
        assert!(parse_enablement(&json!({"client_id": "a"})).is_err());
        let too_many: Vec<Value> = (0..51)
            .map(|i| json!({"client_id": format!("c{i}"), "status": true}))
            .collect();
        let e = parse_enablement(&Value::Array(too_many)).expect_err("51");
        assert!(e.message.contains("maximum 50"), "{}", e.message);
        assert!(parse_enablement(&json!([{"client_id": "a"}])).is_err());
        assert!(parse_enablement(&json!([{"client_id": "a", "status": "yes"}])).is_err());
        assert!(parse_enablement(&json!([{"client_id": "a", "status": true, "x": 1}])).is_err());
    }

    #[test]
    fn create_validation() {
        let c = build_created(&json!({"name": "corp-saml", "strategy": "samlp"})).expect("valid");
        assert!(c.id.starts_with("con_"));
        assert_eq!(c.realms, ["corp-saml"]);
        assert!(build_created(&json!({"name": "x"})).is_err());
        assert!(build_created(&json!({"name": "bad name", "strategy": "auth0"})).is_err());
        assert!(build_created(&json!({"name": "x", "strategy": "carrier-pigeon"})).is_err());
        assert!(build_created(&json!({"name": "x", "strategy": "auth0", "bogus": 1})).is_err());
        let json = c.to_api_json();
        assert_eq!(json["enabled_clients"], json!([]));
        assert_eq!(json["strategy"], "samlp");
    }
}
