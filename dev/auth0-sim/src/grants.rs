//! Client grants: the store, validation, and the `/api/v2/client-grants` routes. One grant per
//! (client, audience); the audience must be a resource server of the tenant and every scope one
//! it defines.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use rand::Rng;
use rand::distributions::Alphanumeric;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::error::ApiError;
use super::lock;
use super::server::{
    DEFAULT_PER_PAGE, MAX_PER_PAGE, Shared, authorize, paged, parse_json, parse_query, query_bool,
    query_uint,
};
use super::tenant::TenantStore;
use super::validation::{
    boolean, check_enum, expect_object, payload_error, reject_unknown, require, string_array,
    string_in,
};

/// Largest scope string in a grant (Auth0's schema: `maxLength: 280`).
pub const SCOPE_MAX_LEN: usize = 280;
const ORGANIZATION_USAGE: &[&str] = &["deny", "allow", "require"];

/// A stored client grant, as Auth0 answers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientGrant {
    /// `cgr_` and 16 alphanumeric characters.
    pub id: String,
    /// The application.
    pub client_id: String,
    /// The API's identifier.
    pub audience: String,
    /// Granted scopes.
    #[serde(default)]
    pub scope: Vec<String>,
    /// `deny`, `allow` or `require` (organizations).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization_usage: Option<String>,
    /// Whether any organization may be used with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_any_organization: Option<bool>,
    /// Properties stored and answered as sent ([`EXTRA_FIELDS`]: `subject_type`,
    /// `authorization_details_types`, `allow_all_scopes`); the simulator gives them no meaning.
    #[serde(default, flatten)]
    pub extra: Map<String, Value>,
}

/// Grant properties the simulator stores and answers without giving them a meaning (recorded:
/// TestAccClientGrant).
pub const EXTRA_FIELDS: &[&str] = &[
    "subject_type",
    "authorization_details_types",
    "allow_all_scopes",
];

impl ClientGrant {
    /// The JSON Auth0 answers with: without `scope` while `allow_all_scopes` is `true`
    /// (recorded).
    pub fn to_json(&self) -> Value {
        let mut v = serde_json::to_value(self).unwrap_or(Value::Null);
        if self.extra.get("allow_all_scopes") == Some(&Value::Bool(true))
            && let Some(m) = v.as_object_mut()
        {
            m.remove("scope");
        }
        v
    }
}

/// Checks the types of the [`EXTRA_FIELDS`] of a body and copies them into `extra` (`null`
/// removes one).
fn extra_fields(obj: &Map<String, Value>, extra: &mut Map<String, Value>) -> Result<(), ApiError> {
    for (key, v) in obj {
        match key.as_str() {
            "subject_type" if !v.is_null() => {
                let s = string_in(v, key, 1, usize::MAX)?;
                check_enum(s, &["client", "user"], key)?;
            }
            "authorization_details_types" if !v.is_null() => {
                string_array(v, key, 1, usize::MAX)?;
            }
            "allow_all_scopes" if !v.is_null() => {
                boolean(v, key)?;
            }
            _ => {}
        }
        if EXTRA_FIELDS.contains(&key.as_str()) {
            if v.is_null() {
                extra.remove(key);
            } else {
                extra.insert(key.clone(), v.clone());
            }
        }
    }
    Ok(())
}

/// A random grant id like Auth0's: `cgr_` and 16 alphanumeric characters.
pub fn generate_id() -> String {
    let suffix: String = rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(16)
        .map(char::from)
        .collect();
    format!("cgr_{suffix}")
}

/// The grants of one tenant, in creation order.
#[derive(Debug, Default, Clone)]
pub struct ClientGrants {
    next_seq: u64,
    by_seq: BTreeMap<u64, ClientGrant>,
    seq_of: HashMap<String, u64>,
}

impl ClientGrants {
    /// Adds a grant (or replaces the one with the same id, in place).
    pub fn insert(&mut self, grant: ClientGrant) {
        let seq = match self.seq_of.get(&grant.id) {
            Some(seq) => *seq,
            None => {
                let seq = self.next_seq;
                self.next_seq += 1;
                self.seq_of.insert(grant.id.clone(), seq);
                seq
            }
        };
        self.by_seq.insert(seq, grant);
    }

    /// One grant.
    pub fn get(&self, id: &str) -> Option<&ClientGrant> {
        self.seq_of.get(id).and_then(|s| self.by_seq.get(s))
    }

    /// One grant, mutable.
    pub fn get_mut(&mut self, id: &str) -> Option<&mut ClientGrant> {
        match self.seq_of.get(id) {
            Some(s) => self.by_seq.get_mut(s),
            None => None,
        }
    }

    /// The grant of (client, audience).
    pub fn find(&self, client_id: &str, audience: &str) -> Option<&ClientGrant> {
        self.by_seq
            .values()
            .find(|g| g.client_id == client_id && g.audience == audience)
    }

    /// Removes one grant.
    pub fn remove(&mut self, id: &str) -> Option<ClientGrant> {
        let seq = self.seq_of.remove(id)?;
        self.by_seq.remove(&seq)
    }

    /// Removes every grant `pred` selects; returns how many.
    pub fn remove_where(&mut self, pred: impl Fn(&ClientGrant) -> bool) -> usize {
        let ids: Vec<String> = self
            .by_seq
            .values()
            .filter(|g| pred(g))
            .map(|g| g.id.clone())
            .collect();
        for id in &ids {
            self.remove(id);
        }
        ids.len()
    }

    /// All grants, mutable (for cascades).
    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut ClientGrant> {
        self.by_seq.values_mut()
    }

    /// All grants in creation order.
    pub fn iter(&self) -> impl Iterator<Item = &ClientGrant> {
        self.by_seq.values()
    }

    /// Number of grants.
    pub fn len(&self) -> usize {
        self.by_seq.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.by_seq.is_empty()
    }
}

// ---------------------------------------------------------------------------------------------
// Validation against the tenant
// ---------------------------------------------------------------------------------------------

/// Scopes of `scope` the API `audience` does not define: 400.
fn check_scopes(store: &TenantStore, audience: &str, scope: &[String]) -> Result<(), ApiError> {
    let Some(rs) = store.resource_servers.by_identifier(audience) else {
        return Err(no_such_audience(audience));
    };
    let undefined: Vec<&str> = scope
        .iter()
        .map(String::as_str)
        .filter(|s| !rs.defines(s))
        .collect();
    if undefined.is_empty() {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!(
                "The following scopes are not defined by the resource server {audience}: {}",
                undefined.join(", ")
            ),
            "invalid_scope",
        ))
    }
}

fn no_such_audience(audience: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        format!("No resource with identifier {audience}"),
        "inexistent_resource_server",
    )
}

fn dedup(scope: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(scope.len());
    for s in scope {
        if !out.contains(&s) {
            out.push(s);
        }
    }
    out
}

/// Validates a `POST /api/v2/client-grants` body against the tenant and builds the grant.
pub fn build_created(store: &TenantStore, body: &Value) -> Result<ClientGrant, ApiError> {
    let obj = expect_object(body)?;
    reject_unknown(
        obj,
        &[
            "client_id",
            "audience",
            "scope",
            "organization_usage",
            "allow_any_organization",
            "subject_type",
            "authorization_details_types",
            "allow_all_scopes",
        ],
        None,
    )?;
    require(obj, &["client_id", "audience", "scope"], None)?;
    let mut extra = Map::new();
    extra_fields(obj, &mut extra)?;
    let client_id = string_in(&obj["client_id"], "client_id", 1, usize::MAX)?.to_owned();
    let audience = string_in(&obj["audience"], "audience", 1, usize::MAX)?.to_owned();
    let scope = dedup(string_array(&obj["scope"], "scope", 1, SCOPE_MAX_LEN)?);
    let (organization_usage, allow_any_organization) = organization_fields(obj)?;
    if store.clients.get(&client_id).is_none() {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "Client not found",
            "inexistent_client",
        ));
    }
    check_scopes(store, &audience, &scope)?;
    if store.grants.find(&client_id, &audience).is_some() {
        return Err(ApiError {
            status: StatusCode::CONFLICT,
            message: format!("A client grant already exists between {client_id} and {audience}"),
            error_code: None,
            attributes: None,
        });
    }
    Ok(ClientGrant {
        id: generate_id(),
        client_id,
        audience,
        scope,
        organization_usage,
        allow_any_organization,
        extra,
    })
}

fn organization_fields(
    obj: &Map<String, Value>,
) -> Result<(Option<String>, Option<bool>), ApiError> {
    let usage = match obj.get("organization_usage") {
        None | Some(Value::Null) => None,
        Some(v) => {
            let s = string_in(v, "organization_usage", 0, usize::MAX)?;
            check_enum(s, ORGANIZATION_USAGE, "organization_usage")?;
            Some(s.to_owned())
        }
    };
    let any = match obj.get("allow_any_organization") {
        None | Some(Value::Null) => None,
        Some(v) => Some(boolean(v, "allow_any_organization")?),
    };
    Ok((usage, any))
}

/// Validates a `PATCH /api/v2/client-grants/{id}` body and applies it to a copy of `current`.
pub fn build_updated(
    store: &TenantStore,
    current: &ClientGrant,
    body: &Value,
) -> Result<ClientGrant, ApiError> {
    let obj = expect_object(body)?;
    reject_unknown(
        obj,
        &[
            "scope",
            "organization_usage",
            "allow_any_organization",
            "subject_type",
            "authorization_details_types",
            "allow_all_scopes",
        ],
        None,
    )?;
    if obj.is_empty() {
        return Err(payload_error(
            "Too few properties defined (0), minimum 1",
            None,
        ));
    }
    let mut grant = current.clone();
    match obj.get("scope") {
        None => {}
        Some(Value::Null) => grant.scope = Vec::new(),
        Some(v) => grant.scope = dedup(string_array(v, "scope", 1, SCOPE_MAX_LEN)?),
    }
    extra_fields(obj, &mut grant.extra)?;
    let (usage, any) = organization_fields(obj)?;
    if obj.contains_key("organization_usage") {
        grant.organization_usage = usage;
    }
    if obj.contains_key("allow_any_organization") {
        grant.allow_any_organization = any;
    }
    check_scopes(store, &grant.audience, &grant.scope)?;
    Ok(grant)
}

// ---------------------------------------------------------------------------------------------
// Routes
// ---------------------------------------------------------------------------------------------

type PathResult = Result<Path<String>, axum::extract::rejection::PathRejection>;

fn inexistent_grant() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "The client grant does not exist",
        "inexistent_client_grant",
    )
}

/// `GET /api/v2/client-grants?client_id&audience&page&per_page&include_totals`, or with
/// `take` checkpoint paging (`from`, `take`; answer `{"client_grants": [...], "next"}`).
pub(crate) async fn list(
    State(sh): State<Arc<Shared>>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    authorize(&sh, &headers, &["read:client_grants"])?;
    let params = parse_query(
        raw.as_deref(),
        &[
            "client_id",
            "audience",
            "page",
            "per_page",
            "include_totals",
            "from",
            "take",
        ],
    )?;
    let page = query_uint(&params, "page", None)?.unwrap_or(0);
    let per_page = query_uint(&params, "per_page", Some(MAX_PER_PAGE))?.unwrap_or(DEFAULT_PER_PAGE);
    let include_totals = query_bool(&params, "include_totals")?.unwrap_or(false);
    let take = super::server::checkpoint_take(&params)?;
    let client_id = params.get("client_id");
    let audience = params.get("audience");
    let matching: Vec<Value> = lock(&sh.store)
        .grants
        .iter()
        .filter(|g| client_id.is_none_or(|c| &g.client_id == c))
        .filter(|g| audience.is_none_or(|a| &g.audience == a))
        .map(ClientGrant::to_json)
        .collect();
    if let Some(take) = take {
        let from = params.get("from").map(String::as_str);
        let body = super::server::checkpoint_by_id(matching, "client_grants", from, take)?;
        return Ok(axum::Json(body).into_response());
    }
    Ok(axum::Json(paged(
        matching,
        "client_grants",
        page,
        per_page,
        include_totals,
    )?)
    .into_response())
}

/// `GET /api/v2/client-grants/{id}`.
pub(crate) async fn get_one(
    State(sh): State<Arc<Shared>>,
    headers: HeaderMap,
    path: PathResult,
) -> Result<Response, ApiError> {
    authorize(&sh, &headers, &["read:client_grants"])?;
    let Ok(Path(id)) = path else {
        return Err(inexistent_grant());
    };
    let grant = lock(&sh.store)
        .grants
        .get(&id)
        .map(ClientGrant::to_json)
        .ok_or_else(inexistent_grant)?;
    Ok(axum::Json(grant).into_response())
}

/// `POST /api/v2/client-grants`.
pub(crate) async fn create(
    State(sh): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    authorize(&sh, &headers, &["create:client_grants"])?;
    let body = parse_json(&body)?;
    let grant = {
        let mut store = lock(&sh.store);
        let grant = build_created(&store, &body)?;
        store.grants.insert(grant.clone());
        grant
    };
    Ok((StatusCode::CREATED, axum::Json(grant.to_json())).into_response())
}

/// `PATCH /api/v2/client-grants/{id}`.
pub(crate) async fn patch(
    State(sh): State<Arc<Shared>>,
    headers: HeaderMap,
    path: PathResult,
    body: Bytes,
) -> Result<Response, ApiError> {
    authorize(&sh, &headers, &["update:client_grants"])?;
    let body = parse_json(&body)?;
    let Ok(Path(id)) = path else {
        return Err(inexistent_grant());
    };
    let mut store = lock(&sh.store);
    let current = store
        .grants
        .get(&id)
        .cloned()
        .ok_or_else(inexistent_grant)?;
    let updated = build_updated(&store, &current, &body)?;
    if let Some(g) = store.grants.get_mut(&id) {
        *g = updated.clone();
    }
    Ok(axum::Json(updated.to_json()).into_response())
}

/// `DELETE /api/v2/client-grants/{id}`: 204, also for a grant that does not exist (recorded:
/// TestAccClientGrant deletes the same grant twice, both answered 204).
pub(crate) async fn delete(
    State(sh): State<Arc<Shared>>,
    headers: HeaderMap,
    path: PathResult,
) -> Result<Response, ApiError> {
    authorize(&sh, &headers, &["delete:client_grants"])?;
    if let Ok(Path(id)) = path {
        lock(&sh.store).grants.remove(&id);
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(id: &str, client: &str, audience: &str) -> ClientGrant {
        ClientGrant {
            id: id.into(),
            client_id: client.into(),
            audience: audience.into(),
            scope: vec![],
            organization_usage: None,
            allow_any_organization: None,
            extra: serde_json::Map::new(),
        }
    }

    #[test]
    fn store_keeps_order_and_finds_pairs() {
        let mut g = ClientGrants::default();
        g.insert(grant("cgr_b", "c1", "a1"));
        g.insert(grant("cgr_a", "c1", "a2"));
        g.insert(grant("cgr_c", "c2", "a1"));
        let ids: Vec<&str> = g.iter().map(|x| x.id.as_str()).collect();
        assert_eq!(ids, ["cgr_b", "cgr_a", "cgr_c"]);
        assert_eq!(g.find("c1", "a2").map(|x| x.id.as_str()), Some("cgr_a"));
        assert!(g.find("c2", "a2").is_none());
        assert_eq!(g.remove_where(|x| x.client_id == "c1"), 2);
        assert_eq!(g.len(), 1);
        assert!(g.remove("cgr_c").is_some() && g.is_empty());
        let id = generate_id();
        assert!(id.starts_with("cgr_") && id.len() == 20);
    }

    #[test]
    fn scope_lists_lose_duplicates_in_order() {
        assert_eq!(
            dedup(vec!["b".into(), "a".into(), "b".into()]),
            vec!["b".to_owned(), "a".to_owned()]
        );
    }
}
