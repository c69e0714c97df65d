//! The tenant's clients, in memory, in creation order, plus the pure helpers that shape them:
//! Auth0's create defaults, PATCH merge semantics and `fields` filtering.

use std::collections::{BTreeMap, HashMap};

use rand::Rng;
use rand::distributions::Alphanumeric;
use serde_json::{Map, Value, json};

/// Length of a generated `client_id` (Auth0: 32 alphanumeric characters).
pub const CLIENT_ID_LEN: usize = 32;
/// Length of a generated `client_secret` (Auth0: 64 URL-safe characters).
pub const CLIENT_SECRET_LEN: usize = 64;

/// A random `client_id` like Auth0's: 32 characters of `[A-Za-z0-9]`.
pub fn generate_client_id() -> String {
    rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(CLIENT_ID_LEN)
        .map(char::from)
        .collect()
}

/// A random `client_secret` like Auth0's: 64 characters of `[A-Za-z0-9_-]`.
pub fn generate_client_secret() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut rng = rand::thread_rng();
    (0..CLIENT_SECRET_LEN)
        .map(|_| char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())]))
        .collect()
}

/// Whether Auth0 registers a client of this application type as public (no secret at the
/// token endpoint): native and single-page apps.
pub fn is_public_app_type(app_type: Option<&str>) -> bool {
    matches!(app_type, Some("native" | "spa"))
}

/// Refresh-token lifetimes (absolute, idle) Auth0 gives a new client: a year and 30 days when
/// the create body names a confidential `token_endpoint_auth_method`, 30 and 15 days otherwise
/// (recorded: TestAccClientCanSetDefaultAuthMethodOnCreate, TestAccClientJWTConfiguration and
/// TestAccClientConfig of `shared/recordings/auth0/`).
fn refresh_token_lifetimes(auth_method: Option<&str>) -> (u64, u64) {
    match auth_method {
        Some(m) if m != "none" => (31_557_600, 2_592_000),
        _ => (2_592_000, 1_296_000),
    }
}

/// The defaults Auth0 adds to a new client, as the recordings of the real service show them
/// (see `contract/auth0-management-api.md` and `shared/recordings/auth0/`). They depend on the
/// create body: public application types (`native`, `spa`) get the grants
/// `authorization_code`, `implicit`, `refresh_token`, `resource_server` clients none, every
/// other type (or none) `client_credentials` too. `token_endpoint_auth_method`: Auth0 answers
/// without it when the body has no `app_type` or `resource_server` (recorded); public types get
/// `none` and other types `client_secret_post` (documented defaults; every recorded create of
/// such a type sent one, so these are not contradicted by the recordings). `jwt_configuration` is
/// `{"secret_encoded": false}` plus `lifetime_in_seconds: 36000` when the body sends none
/// (`alg: RS256` for `resource_server` clients).
pub fn create_defaults(body: &Map<String, Value>) -> Map<String, Value> {
    let app_type = body.get("app_type").and_then(Value::as_str);
    let grant_types = if is_public_app_type(app_type) {
        json!(["authorization_code", "implicit", "refresh_token"])
    } else if app_type == Some("resource_server") {
        json!([])
    } else {
        json!([
            "authorization_code",
            "implicit",
            "refresh_token",
            "client_credentials"
        ])
    };
    let jwt_configuration = if body.contains_key("jwt_configuration") {
        json!({"secret_encoded": false})
    } else if app_type == Some("resource_server") {
        json!({"secret_encoded": false, "alg": "RS256"})
    } else {
        json!({"secret_encoded": false, "lifetime_in_seconds": 36000})
    };
    let (token_lifetime, idle_token_lifetime) = refresh_token_lifetimes(
        body.get("token_endpoint_auth_method")
            .and_then(Value::as_str),
    );
    let auth_method = match app_type {
        None | Some("resource_server") => None,
        Some(t) if is_public_app_type(Some(t)) => Some("none"),
        Some(_) => Some("client_secret_post"),
    };
    let Value::Object(mut m) = json!({
        "grant_types": grant_types,
        "jwt_configuration": jwt_configuration,
        "refresh_token": {
            "rotation_type": "non-rotating",
            "expiration_type": "non-expiring",
            "leeway": 0,
            "token_lifetime": token_lifetime,
            "infinite_token_lifetime": true,
            "infinite_idle_token_lifetime": true,
            "idle_token_lifetime": idle_token_lifetime
        },
        "cross_origin_authentication": false,
        "is_first_party": true,
        "is_token_endpoint_ip_header_trusted": false,
        "oidc_conformant": app_type == Some("resource_server"),
        "sso_disabled": false,
        "custom_login_page_on": true
    }) else {
        unreachable!("a json! object literal is an object")
    };
    if let Some(method) = auth_method {
        m.insert("token_endpoint_auth_method".into(), json!(method));
    }
    m
}

/// Builds the stored client of a (validated) create body: the defaults of its `app_type`, then
/// the body on top (objects that have a default, such as `jwt_configuration`, are merged key by
/// key), then a fresh `client_id` and `client_secret`.
pub fn build_created(body: Map<String, Value>) -> Map<String, Value> {
    let mut client = Map::new();
    client.insert("client_id".into(), Value::String(generate_client_id()));
    client.insert(
        "client_secret".into(),
        Value::String(generate_client_secret()),
    );
    client.extend(create_defaults(&body));
    for (key, value) in body {
        if key == "initiate_login_uri" && value.as_str() == Some("") {
            continue;
        }
        match (client.get_mut(&key), value) {
            (Some(Value::Object(default)), Value::Object(sent)) => default.extend(sent),
            (_, value) => {
                client.insert(key, value);
            }
        }
    }
    client
}

/// Applies a PATCH body: top-level properties are replaced (arrays too, `[]` clears),
/// `client_metadata` is merged key by key with `null` deleting a key, `jwt_configuration` is
/// merged key by key, and so are `mobile` and `native_social_login` (recorded: a PATCH of
/// `{"alg": "RS256"}` kept `lifetime_in_seconds` and `secret_encoded`; one of `mobile` without
/// `ios` kept `ios`), and a top-level `null` removes the property.
pub fn apply_patch(client: &mut Map<String, Value>, patch: &Map<String, Value>) {
    for (key, value) in patch {
        match (key.as_str(), value) {
            ("client_id", _) => {}
            // Recorded (TestAccClientConfig): an empty `initiate_login_uri` is not kept.
            ("initiate_login_uri", Value::String(s)) if s.is_empty() => {
                client.remove(key);
            }
            ("client_metadata", Value::Object(changes)) => {
                let entry = client
                    .entry("client_metadata")
                    .or_insert_with(|| Value::Object(Map::new()));
                if !entry.is_object() {
                    *entry = Value::Object(Map::new());
                }
                if let Value::Object(metadata) = entry {
                    for (k, v) in changes {
                        if v.is_null() {
                            metadata.remove(k);
                        } else {
                            metadata.insert(k.clone(), v.clone());
                        }
                    }
                }
            }
            ("jwt_configuration" | "mobile" | "native_social_login", Value::Object(changes)) => {
                match client.get_mut(key.as_str()) {
                    Some(Value::Object(current)) => {
                        for (k, v) in changes {
                            current.insert(k.clone(), v.clone());
                        }
                    }
                    _ => {
                        client.insert(key.clone(), value.clone());
                    }
                }
            }
            (_, Value::Null) => {
                client.remove(key);
            }
            (_, value) => {
                client.insert(key.clone(), value.clone());
            }
        }
    }
}

/// `fields` / `include_fields` projection of one client.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldFilter {
    /// The listed fields; `None` when `fields` was absent or empty.
    pub fields: Option<Vec<String>>,
    /// `true` (default): keep only the listed fields; `false`: drop them.
    pub include: bool,
}

impl FieldFilter {
    /// Parses `fields` (comma separated) and `include_fields`.
    pub fn new(fields: Option<&str>, include: bool) -> Self {
        let fields = fields
            .map(|f| {
                f.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            })
            .filter(|f| !f.is_empty());
        Self { fields, include }
    }

    /// Projects one client.
    pub fn apply(&self, mut client: Map<String, Value>) -> Map<String, Value> {
        if let Some(fields) = &self.fields {
            client.retain(|k, _| fields.iter().any(|f| f == k) == self.include);
        }
        client
    }
}

/// The clients of one tenant in creation order.
#[derive(Debug, Default)]
pub struct ClientStore {
    next_seq: u64,
    by_seq: BTreeMap<u64, Map<String, Value>>,
    seq_of: HashMap<String, u64>,
}

impl ClientStore {
    /// Inserts (or replaces, keeping its position) a client. Returns its `client_id`; one is
    /// generated when absent, and so is a `client_secret`.
    pub fn insert(&mut self, mut client: Map<String, Value>) -> String {
        let id = match client.get("client_id").and_then(Value::as_str) {
            Some(id) => id.to_owned(),
            None => {
                let id = generate_client_id();
                client.insert("client_id".into(), Value::String(id.clone()));
                id
            }
        };
        if !client.contains_key("client_secret") {
            client.insert(
                "client_secret".into(),
                Value::String(generate_client_secret()),
            );
        }
        let seq = match self.seq_of.get(&id) {
            Some(seq) => *seq,
            None => {
                let seq = self.next_seq;
                self.next_seq += 1;
                self.seq_of.insert(id.clone(), seq);
                seq
            }
        };
        self.by_seq.insert(seq, client);
        id
    }

    /// One client.
    pub fn get(&self, id: &str) -> Option<&Map<String, Value>> {
        self.seq_of.get(id).and_then(|seq| self.by_seq.get(seq))
    }

    /// One client, mutable.
    pub fn get_mut(&mut self, id: &str) -> Option<&mut Map<String, Value>> {
        match self.seq_of.get(id) {
            Some(seq) => self.by_seq.get_mut(seq),
            None => None,
        }
    }

    /// Removes a client; `false` when there was none.
    pub fn remove(&mut self, id: &str) -> bool {
        match self.seq_of.remove(id) {
            Some(seq) => self.by_seq.remove(&seq).is_some(),
            None => false,
        }
    }

    /// All clients in creation order.
    pub fn iter(&self) -> impl Iterator<Item = &Map<String, Value>> {
        self.by_seq.values()
    }

    /// The clients created after position `after` (every client when `None`), in creation
    /// order, each with its position (the checkpoint of `GET /clients?from=`).
    pub fn iter_after(
        &self,
        after: Option<u64>,
    ) -> impl Iterator<Item = (u64, &Map<String, Value>)> {
        use std::ops::Bound;
        let start = match after {
            Some(a) => Bound::Excluded(a),
            None => Bound::Unbounded,
        };
        self.by_seq
            .range((start, Bound::Unbounded))
            .map(|(seq, c)| (*seq, c))
    }

    /// Number of clients.
    pub fn len(&self) -> usize {
        self.by_seq.len()
    }

    /// Whether there are no clients.
    pub fn is_empty(&self) -> bool {
        self.by_seq.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            other => panic!("not an object: {other}"),
        }
    }

    #[test]
    fn ids_and_secrets_look_like_auth0() {
        let id = generate_client_id();
        assert_eq!(id.len(), 32);
        assert!(id.chars().all(|c| c.is_ascii_alphanumeric()));
        let secret = generate_client_secret();
        assert_eq!(secret.len(), 64);
        assert!(
            secret
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
        assert_ne!(generate_client_id(), id);
    }

    #[test]
    fn created_client_has_defaults_and_body() {
        let c = build_created(obj(json!({
            "name": "a",
            "grant_types": ["client_credentials"],
            "jwt_configuration": {"lifetime_in_seconds": 60}
        })));
        assert_eq!(c["name"], "a");
        assert_eq!(c["grant_types"], json!(["client_credentials"]));
        // Recorded: a sent jwt_configuration gets only `secret_encoded: false` added.
        assert_eq!(
            c["jwt_configuration"],
            json!({"lifetime_in_seconds": 60, "secret_encoded": false})
        );
        assert_eq!(c["is_first_party"], true);
        assert_eq!(c["is_token_endpoint_ip_header_trusted"], false);
        assert_eq!(c["custom_login_page_on"], true);
        assert_eq!(c["refresh_token"]["token_lifetime"], 2592000);
        // Recorded: no token_endpoint_auth_method unless the body sets one.
        assert!(!c.contains_key("token_endpoint_auth_method"));
        assert_eq!(c["cross_origin_authentication"], false);
        assert!(!c.contains_key("app_type"));
        assert_eq!(c["client_id"].as_str().map(str::len), Some(32));
        assert_eq!(c["client_secret"].as_str().map(str::len), Some(64));
    }

    /// The defaults the recordings of real Auth0 show for each application type
    /// (`shared/recordings/auth0/`: TestAccClientCanSetDefaultAuthMethodOnCreate,
    /// TestAccClientMobile, TestAccClientRefreshToken, TestAccClientResourceServer).
    #[test]
    fn defaults_depend_on_the_application_type() {
        let confidential = json!([
            "authorization_code",
            "implicit",
            "refresh_token",
            "client_credentials"
        ]);
        let public = json!(["authorization_code", "implicit", "refresh_token"]);
        for (app_type, method, grants) in [
            ("spa", Some("none"), public.clone()),
            ("native", Some("none"), public),
            (
                "regular_web",
                Some("client_secret_post"),
                confidential.clone(),
            ),
            ("non_interactive", Some("client_secret_post"), confidential),
            ("resource_server", None, json!([])),
        ] {
            let c = build_created(obj(json!({"name": "a", "app_type": app_type})));
            assert_eq!(
                c.get("token_endpoint_auth_method").and_then(Value::as_str),
                method,
                "{app_type}"
            );
            assert_eq!(c["grant_types"], grants, "{app_type}");
            assert_eq!(c["cross_origin_authentication"], false);
            assert_eq!(c["oidc_conformant"], app_type == "resource_server");
            assert!(c["refresh_token"].is_object() && c["jwt_configuration"].is_object());
        }
        let explicit = build_created(obj(
            json!({"name": "a", "app_type": "spa", "token_endpoint_auth_method": "client_secret_basic"}),
        ));
        assert_eq!(
            explicit["token_endpoint_auth_method"],
            "client_secret_basic"
        );
        // A confidential method on create: a year of refresh-token lifetime, 30 days idle.
        assert_eq!(explicit["refresh_token"]["token_lifetime"], 31_557_600);
        assert_eq!(explicit["refresh_token"]["idle_token_lifetime"], 2_592_000);
    }

    #[test]
    fn patch_replaces_arrays_merges_metadata_and_deletes_with_null() {
        let mut c = obj(json!({
            "client_id": "id1",
            "name": "a",
            "callbacks": ["https://a", "https://b"],
            "web_origins": ["https://a"],
            "description": "d",
            "client_metadata": {"owners": "x", "productName": "p", "keep": "k"}
        }));
        apply_patch(
            &mut c,
            &obj(json!({
                "client_id": "changed",
                "callbacks": ["https://c"],
                "web_origins": [],
                "description": null,
                "client_metadata": {"owners": "y", "productName": null, "new": "n"}
            })),
        );
        assert_eq!(c["client_id"], "id1");
        assert_eq!(c["callbacks"], json!(["https://c"]));
        assert_eq!(c["web_origins"], json!([]));
        assert!(!c.contains_key("description"));
        assert_eq!(
            c["client_metadata"],
            json!({"owners": "y", "keep": "k", "new": "n"})
        );
    }

    #[test]
    fn patch_metadata_on_client_without_metadata() {
        let mut c = obj(json!({"client_id": "id1"}));
        apply_patch(
            &mut c,
            &obj(json!({"client_metadata": {"a": "1", "b": null}})),
        );
        assert_eq!(c["client_metadata"], json!({"a": "1"}));
    }

    #[test]
    fn field_filter() {
        let c = obj(json!({"client_id": "i", "name": "n", "client_metadata": {}}));
        let keep = FieldFilter::new(Some("client_id, client_metadata"), true);
        assert_eq!(
            Value::Object(keep.apply(c.clone())),
            json!({"client_id": "i", "client_metadata": {}})
        );
        let drop = FieldFilter::new(Some("client_metadata"), false);
        assert_eq!(
            Value::Object(drop.apply(c.clone())),
            json!({"client_id": "i", "name": "n"})
        );
        let none = FieldFilter::new(Some(""), true);
        assert_eq!(none.apply(c.clone()), c);
    }

    #[test]
    fn store_keeps_creation_order_and_position_on_replace() {
        let mut s = ClientStore::default();
        let a = s.insert(obj(json!({"name": "a"})));
        let b = s.insert(obj(json!({"client_id": "b", "name": "b"})));
        assert_eq!(b, "b");
        let c = s.insert(obj(json!({"name": "c"})));
        s.insert(obj(json!({"client_id": a.clone(), "name": "a2"})));
        let names: Vec<_> = s.iter().map(|c| c["name"].clone()).collect();
        assert_eq!(names, vec![json!("a2"), json!("b"), json!("c")]);
        assert!(s.get(&a).is_some_and(|c| c.contains_key("client_secret")));
        assert!(s.remove(&c));
        assert!(!s.remove(&c));
        assert_eq!(s.len(), 2);
        assert!(!s.is_empty());
        assert!(s.get_mut("b").is_some());
    }
}
