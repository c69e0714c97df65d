//! An embedded, in-memory simulator of one Auth0 tenant — **never production**.
//!
//! It serves, over plain HTTP on a loopback port, the parts of Auth0 this project uses
//! (see `contract/auth0-management-api.md`):
//!
//! - `POST /oauth/token` (client-credentials grant, JSON or form body, `client_secret_basic`);
//! - `GET|POST /api/v2/clients`, `GET|PATCH|DELETE /api/v2/clients/{id}`,
//!   `POST /api/v2/clients/{id}/rotate-secret`, with Auth0's validation, defaults, error bodies,
//!   scope checks and a tenant-wide token-bucket rate limit;
//! - resource servers (`/api/v2/resource-servers`, the Management API as a system resource
//!   server), client grants (`/api/v2/client-grants`) and connections with their enabled clients
//!   (`/api/v2/connections`, `/api/v2/connections/{id}/clients` with checkpoint pagination),
//!   with Auth0's cascades (see [`tenant`]);
//! - client credentials for `private_key_jwt` (`/api/v2/clients/{id}/credentials`, see
//!   [`credentials`]) and `client_authentication_methods` on clients;
//! - client-credentials tokens for the tenant's applications, for an API they hold a client
//!   grant for, with the granted scopes (see `apps.rs`), authenticated with their secret or with
//!   a `private_key_jwt` client assertion (see [`assertion`]);
//! - an OIDC-like side for the facade: `GET /.well-known/jwks.json`,
//!   `GET /.well-known/openid-configuration`, and [`SimHandle::mint_jwt`] for RS256 tokens;
//! - fault injection (latency, 5xx share, dropped connections, "fail the next N requests") and
//!   request counters;
//! - back doors for tests: the in-process [`SimHandle`] API and, unless disabled, the same under
//!   the HTTP prefix `/__sim/` (see [`admin`]);
//! - tokio's clock for everything timed, so tests can run on paused time (see [`clock`] for the
//!   pattern that works).
//!
//! One simulator instance is one tenant (one domain). Every answer carries
//! `x-auth0-simulator: true`, and starting one logs a warning.
//!
//! Not simulated: other Management API resources (users, roles, organizations, ...), checkpoint
//! pagination of the offset-paged lists, `q` searches, the global "All Applications" client,
//! organization-bound grants and `default_for` grants, rate limits on `/oauth/token`,
//! per-endpoint limits, token revocation lists, HTTPS. The configured M2M credentials are not
//! clients of the store (they do not appear in `GET /api/v2/clients` or in client grants).

pub mod admin;
mod apps;
pub mod assertion;
mod cli;
pub mod clock;
pub mod connections;
pub mod counters;
pub mod credentials;
pub mod error;
pub mod faults;
pub mod grants;
pub mod jwt;
mod net;
pub mod ratelimit;
pub mod recordings;
pub mod resource_servers;
mod server;
pub mod store;
pub mod tenant;
pub mod validation;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::{Duration, SystemTime};

use serde_json::Value;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use cli::{SimArgs, run};
pub use clock::SimClock;
pub use counters::RequestCounts;
pub use error::{ApiError, SimError};
pub use faults::{FailAction, FailNext, FaultScope, Faults, Latency};
pub use ratelimit::RateLimit;
pub use server::SIMULATOR_HEADER;

use counters::Counters;
use faults::FaultEngine;
use jwt::{KeyRing, SigningKey};
use ratelimit::TokenBucket;
use server::{Shared, TokenStore};
use tenant::{Restored, Snapshot, TenantStore};

/// Default domain of a simulated tenant.
pub const DEFAULT_DOMAIN: &str = "sim.auth0.local";
/// Default M2M client id (32 alphanumeric characters, like Auth0's).
pub const DEFAULT_M2M_CLIENT_ID: &str = "NexusSimulatorM2mClient000000001";
/// Default M2M client secret. Public knowledge: the simulator is never production.
pub const DEFAULT_M2M_CLIENT_SECRET: &str =
    "nexus-simulator-secret-NOT-FOR-PRODUCTION-0123456789abcdef";
/// The scopes the default M2M credential holds: exactly what the operator needs.
pub const DEFAULT_SCOPES: &[&str] = &[
    "create:clients",
    "read:clients",
    "update:clients",
    "delete:clients",
    "read:client_keys",
    "update:client_keys",
    "read:resource_servers",
    "create:resource_servers",
    "update:resource_servers",
    "delete:resource_servers",
    "read:client_grants",
    "create:client_grants",
    "update:client_grants",
    "delete:client_grants",
    "read:connections",
    "update:connections",
    "read:client_credentials",
    "create:client_credentials",
    "delete:client_credentials",
];
/// The scopes the simulated Management API (its system resource server) defines: what a client
/// grant to it may hold.
pub const MANAGEMENT_SCOPES: &[&str] = &[
    "create:clients",
    "read:clients",
    "update:clients",
    "delete:clients",
    "read:client_keys",
    "update:client_keys",
    "read:resource_servers",
    "create:resource_servers",
    "update:resource_servers",
    "delete:resource_servers",
    "read:client_grants",
    "create:client_grants",
    "update:client_grants",
    "delete:client_grants",
    "read:connections",
    "create:connections",
    "update:connections",
    "delete:connections",
    "read:client_credentials",
    "create:client_credentials",
    "update:client_credentials",
    "delete:client_credentials",
];
/// Default management-token lifetime (Auth0's default).
pub const DEFAULT_TOKEN_TTL: Duration = Duration::from_secs(86400);

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Machine-to-machine credentials allowed to obtain Management API tokens, with their scopes.
/// `Debug` redacts the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct M2mCredential {
    /// The M2M application's client id.
    pub client_id: String,
    /// Its client secret.
    pub client_secret: String,
    /// Management API scopes granted to it (an empty list means no client grant: `403`).
    pub scopes: Vec<String>,
}

impl std::fmt::Debug for M2mCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("M2mCredential")
            .field("client_id", &self.client_id)
            .field("client_secret", &"[redacted]")
            .field("scopes", &self.scopes)
            .finish()
    }
}

impl Default for M2mCredential {
    /// [`DEFAULT_M2M_CLIENT_ID`] / [`DEFAULT_M2M_CLIENT_SECRET`] with [`DEFAULT_SCOPES`].
    fn default() -> Self {
        Self {
            client_id: DEFAULT_M2M_CLIENT_ID.into(),
            client_secret: DEFAULT_M2M_CLIENT_SECRET.into(),
            scopes: DEFAULT_SCOPES.iter().map(|s| (*s).to_owned()).collect(),
        }
    }
}

/// Configuration of one simulated tenant.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// The tenant's domain, e.g. `sim.auth0.local`; the token audience is `https://{domain}/api/v2/`.
    pub domain: String,
    /// Credentials that may obtain management tokens (at least one).
    pub m2m_clients: Vec<M2mCredential>,
    /// Lifetime of issued management tokens.
    pub token_ttl: Duration,
    /// The tenant-wide Management API rate limit.
    pub rate_limit: RateLimit,
    /// Faults injected from the start.
    pub faults: Faults,
    /// Seed of the fault-injection random source (reproducible faults); entropy when `None`.
    pub seed: Option<u64>,
    /// Largest number of clients; further creates get Auth0's `403` entity-limit answer.
    pub max_clients: Option<usize>,
    /// Serve the HTTP back door under `/__sim/`.
    pub admin_api: bool,
    /// A convenience for development: the identifier of an API (resource server, RS256, no
    /// scopes) created at start, made the tenant's default audience (used when a token request
    /// names none), and granted (with a real client grant, without scopes) to every application
    /// the tenant gets afterwards. `None`: no such API, no default audience.
    pub app_audience: Option<String>,
    /// Enable every new application on every existing connection, like Auth0's tenant flag
    /// `enable_client_connections`. Off by default.
    pub enable_client_connections: bool,
}

impl Default for SimConfig {
    /// One default M2M credential with all client scopes, 86400 s tokens, Auth0's free-plan
    /// rate limit (2 burst, 2 per second), no faults, the `/__sim/` back door on.
    fn default() -> Self {
        Self {
            domain: DEFAULT_DOMAIN.into(),
            m2m_clients: vec![M2mCredential::default()],
            token_ttl: DEFAULT_TOKEN_TTL,
            rate_limit: RateLimit::default(),
            faults: Faults::default(),
            seed: None,
            max_clients: None,
            admin_api: true,
            app_audience: None,
            enable_client_connections: false,
        }
    }
}

impl SimConfig {
    fn validate(&self) -> Result<(), SimError> {
        if self.domain.is_empty() || self.domain.contains(['/', ' ']) {
            return Err(SimError::Config(format!(
                "domain must be a host name, got {:?}",
                self.domain
            )));
        }
        if self.m2m_clients.is_empty() {
            return Err(SimError::Config(
                "at least one M2M credential is required".into(),
            ));
        }
        if self
            .m2m_clients
            .iter()
            .any(|c| c.client_id.is_empty() || c.client_secret.is_empty())
        {
            return Err(SimError::Config(
                "M2M client ids and secrets must not be empty".into(),
            ));
        }
        if let Some(audience) = &self.app_audience
            && (audience.is_empty()
                || audience.chars().count() > resource_servers::IDENTIFIER_MAX_LEN
                || *audience == format!("https://{}/api/v2/", self.domain))
        {
            return Err(SimError::Config(format!(
                "app_audience must be a new API identifier of 1 to {} characters, got {audience:?}",
                resource_servers::IDENTIFIER_MAX_LEN
            )));
        }
        self.faults.validate().map_err(SimError::Config)
    }
}

fn base_url_for(addr: SocketAddr) -> String {
    let ip = match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    format!("http://{}", SocketAddr::new(ip, addr.port()))
}

/// Starts a simulator on `listen` (use `127.0.0.1:0` for an ephemeral port) and returns once it
/// accepts connections. It runs on the current Tokio runtime until [`SimHandle::shutdown`] or
/// until the handle is dropped.
pub async fn start(config: SimConfig, listen: SocketAddr) -> Result<SimHandle, SimError> {
    config.validate()?;
    let keys = tokio::task::spawn_blocking(KeyRing::generate)
        .await
        .map_err(|e| SimError::KeyGeneration(e.to_string()))??;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|source| SimError::Bind {
            addr: listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| SimError::Bind {
        addr: listen,
        source,
    })?;
    let base_url = base_url_for(addr);
    let clock = SimClock::start();
    let mut tenant = TenantStore::new(&config.domain, config.token_ttl.as_secs());
    tenant.enable_new_clients_on_connections = config.enable_client_connections;
    if let Some(audience) = &config.app_audience {
        let api = resource_servers::build_created(&serde_json::json!({
            "identifier": audience,
            "name": "Development API",
            "signing_alg": "RS256",
        }))
        .map_err(|e| SimError::Config(format!("app_audience: {}", e.message)))?;
        tenant.resource_servers.upsert(api);
        tenant.auto_grant_audience = Some(audience.clone());
    }
    let shared = Arc::new(Shared {
        clock,
        domain: config.domain.clone(),
        addr,
        base_url: base_url.clone(),
        m2m: config.m2m_clients,
        token_ttl: Mutex::new(config.token_ttl),
        max_clients: config.max_clients,
        default_audience: config.app_audience,
        store: Mutex::new(tenant),
        tokens: Mutex::new(TokenStore::default()),
        bucket: Mutex::new(TokenBucket::new(config.rate_limit, clock.now())),
        faults: Mutex::new(FaultEngine::new(config.faults, config.seed)),
        counters: Counters::default(),
        keys: RwLock::new(keys),
        unknown_key: Mutex::new(None),
        jtis: Mutex::new(assertion::JtiCache::default()),
        next_kid: Mutex::new(None),
    });
    let app = server::router(Arc::clone(&shared), config.admin_api)
        .into_make_service_with_connect_info::<net::ConnHandle>();
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        axum::serve(net::SimListener::new(listener), app)
            .with_graceful_shutdown(async {
                // A dropped sender also means "stop".
                let _ = stop_rx.await;
            })
            .await
    });
    tracing::warn!(
        %base_url,
        domain = %config.domain,
        "THIS IS THE AUTH0 SIMULATOR, NOT AUTH0: in-memory state, well-known credentials, \
         never use it for anything real"
    );
    Ok(SimHandle {
        shared,
        addr,
        stop: Some(stop_tx),
        task: Some(task),
    })
}

/// A running simulator: its address, and the back doors tests use. Dropping it stops the server.
#[derive(Debug)]
pub struct SimHandle {
    shared: Arc<Shared>,
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

fn object_or_panic(v: Value, what: &str) -> serde_json::Map<String, Value> {
    match v {
        Value::Object(m) => m,
        other => panic!("{what} must be a JSON object, got {other}"),
    }
}

impl SimHandle {
    /// A handle over the state of a running simulator that neither stops nor waits for it (for
    /// the `/__sim/` back door, which serves the same operations).
    pub(crate) fn view(shared: Arc<Shared>) -> Self {
        Self {
            addr: shared.addr,
            shared,
            stop: None,
            task: None,
        }
    }

    /// `http://IP:PORT` (an unspecified listen IP is reported as loopback).
    pub fn base_url(&self) -> String {
        self.shared.base_url.clone()
    }

    /// The bound socket address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The tenant's domain.
    pub fn domain(&self) -> &str {
        &self.shared.domain
    }

    /// The Management API audience, `https://{domain}/api/v2/`.
    pub fn audience(&self) -> String {
        self.shared.audience()
    }

    /// `{base_url}/oauth/token`.
    pub fn token_url(&self) -> String {
        format!("{}/oauth/token", self.shared.base_url)
    }

    /// The first configured M2M credential.
    pub fn m2m(&self) -> &M2mCredential {
        // `start` rejects a configuration without credentials.
        &self.shared.m2m[0]
    }

    /// Every configured M2M credential.
    pub fn m2m_clients(&self) -> &[M2mCredential] {
        &self.shared.m2m
    }

    // --- clients -------------------------------------------------------------------------------

    /// All clients in creation order, complete (including `client_secret`).
    pub fn clients(&self) -> Vec<Value> {
        lock(&self.shared.store)
            .clients
            .iter()
            .map(|c| Value::Object(c.clone()))
            .collect()
    }

    /// One client, complete.
    pub fn client(&self, id: &str) -> Option<Value> {
        lock(&self.shared.store)
            .clients
            .get(id)
            .map(|c| Value::Object(c.clone()))
    }

    /// Inserts a client as is (no validation, no defaults, not counted), as if created in the
    /// Auth0 dashboard. `client_id` and `client_secret` are generated when absent; an existing
    /// `client_id` is replaced in place. A new client gets the automatic grant of
    /// [`SimConfig::app_audience`] and, with [`SimConfig::enable_client_connections`], every
    /// connection. Returns the `client_id`.
    ///
    /// # Panics
    /// If `client` is not a JSON object (a bug in the calling test).
    pub fn insert_client(&self, client: Value) -> String {
        let client = object_or_panic(client, "insert_client: the client");
        lock(&self.shared.store).insert_client(client)
    }

    /// Changes a client out of band (dashboard drift) with PATCH semantics (arrays replaced,
    /// `client_metadata` merged, `null` deletes), without validation or counters.
    /// Returns `false` when the client does not exist or `patch` is not an object.
    pub fn modify_client(&self, id: &str, patch: Value) -> bool {
        let Value::Object(patch) = patch else {
            return false;
        };
        match lock(&self.shared.store).clients.get_mut(id) {
            Some(client) => {
                store::apply_patch(client, &patch);
                true
            }
            None => false,
        }
    }

    /// Deletes a client out of band, with its grants and its connection enablement (as a delete
    /// in the Auth0 dashboard does). Returns whether it existed.
    pub fn remove_client(&self, id: &str) -> bool {
        lock(&self.shared.store).remove_client(id)
    }

    // --- resource servers ----------------------------------------------------------------------

    /// Every resource server in creation order (the system Management API first), complete
    /// (including HS256 `signing_secret`s).
    pub fn resource_servers(&self) -> Vec<Value> {
        lock(&self.shared.store)
            .resource_servers
            .iter()
            .map(resource_servers::public_json)
            .collect()
    }

    /// One resource server, by id or identifier.
    pub fn resource_server(&self, id_or_identifier: &str) -> Option<Value> {
        lock(&self.shared.store)
            .resource_servers
            .get(id_or_identifier)
            .map(resource_servers::public_json)
    }

    /// Inserts a resource server as if created in the dashboard (no validation; missing fields
    /// get Auth0's create defaults, except `signing_alg` which defaults to RS256 here). An existing
    /// id or identifier is replaced in place. Returns the id.
    ///
    /// # Panics
    /// If `rs` has no string `identifier` or does not fit the resource-server shape.
    pub fn insert_resource_server(&self, rs: Value) -> String {
        let rs = resource_servers::from_loose_json(rs).unwrap_or_else(|| {
            panic!("insert_resource_server: needs an identifier and valid field types")
        });
        let id = rs.id.clone();
        lock(&self.shared.store).replace_resource_server(rs);
        id
    }

    /// Changes a resource server out of band (dashboard drift): top-level fields of `patch`
    /// replace the stored ones (`scopes` replaces the list and, as in Auth0, scopes no longer
    /// defined leave its grants). No validation. Returns `false` when there is no such resource
    /// server, `patch` does not fit, or it is the system API.
    pub fn modify_resource_server(&self, id_or_identifier: &str, patch: Value) -> bool {
        let Value::Object(patch) = patch else {
            return false;
        };
        let mut store = lock(&self.shared.store);
        let Some(current) = store.resource_servers.get(id_or_identifier) else {
            return false;
        };
        if current.is_system {
            return false;
        }
        let mut merged = current.to_json();
        for (k, v) in patch {
            if k != "id" && k != "identifier" {
                merged.insert(k, v);
            }
        }
        match serde_json::from_value(Value::Object(merged)) {
            Ok(updated) => {
                store.replace_resource_server(updated);
                true
            }
            Err(_) => false,
        }
    }

    /// Deletes a resource server out of band, with its grants. Returns whether it existed
    /// (the system API is never removed).
    pub fn remove_resource_server(&self, id_or_identifier: &str) -> bool {
        let mut store = lock(&self.shared.store);
        if store
            .resource_servers
            .get(id_or_identifier)
            .is_none_or(|r| r.is_system)
        {
            return false;
        }
        store.remove_resource_server(id_or_identifier).is_some()
    }

    // --- client credentials ------------------------------------------------------------------

    /// The credentials of a client, as the Management API answers them.
    pub fn client_credentials(&self, client_id: &str) -> Vec<Value> {
        lock(&self.shared.store)
            .credentials
            .get(client_id)
            .map(|l| l.iter().map(credentials::Credential::to_json).collect())
            .unwrap_or_default()
    }

    /// Adds a credential to a client out of band, from its Management API JSON (`id`,
    /// `credential_type`, `kid`, `alg`, `name`, `created_at`, `updated_at`, `expires_at`).
    /// Returns whether the client exists and the JSON is a credential.
    pub fn insert_client_credential(&self, client_id: &str, credential: Value) -> bool {
        let Ok(credential) = serde_json::from_value::<credentials::Credential>(credential) else {
            return false;
        };
        let mut store = lock(&self.shared.store);
        if store.clients.get(client_id).is_none() {
            return false;
        }
        store
            .credentials
            .entry(client_id.to_owned())
            .or_default()
            .push(credential);
        true
    }

    /// Deletes a client credential out of band (as the dashboard would). Returns whether it
    /// existed.
    pub fn remove_client_credential(&self, client_id: &str, id: &str) -> bool {
        let mut store = lock(&self.shared.store);
        let Some(list) = store.credentials.get_mut(client_id) else {
            return false;
        };
        let before = list.len();
        list.retain(|c| c.id != id);
        list.len() != before
    }

    // --- client grants -------------------------------------------------------------------------

    /// Every client grant in creation order.
    pub fn client_grants(&self) -> Vec<Value> {
        lock(&self.shared.store)
            .grants
            .iter()
            .map(grants::ClientGrant::to_json)
            .collect()
    }

    /// The grant of (client, audience).
    pub fn client_grant(&self, client_id: &str, audience: &str) -> Option<Value> {
        lock(&self.shared.store)
            .grants
            .find(client_id, audience)
            .map(grants::ClientGrant::to_json)
    }

    /// Creates a grant out of band (dashboard), without checking the client, the API or the
    /// scopes; replaces the scopes of an existing grant of the same pair. Returns its id.
    pub fn insert_client_grant(&self, client_id: &str, audience: &str, scope: &[&str]) -> String {
        let mut store = lock(&self.shared.store);
        let scope: Vec<String> = scope.iter().map(|s| (*s).to_owned()).collect();
        let existing = store.grants.find(client_id, audience).map(|g| g.id.clone());
        if let Some(id) = existing {
            if let Some(g) = store.grants.get_mut(&id) {
                g.scope = scope;
            }
            return id;
        }
        let grant = grants::ClientGrant {
            id: grants::generate_id(),
            client_id: client_id.to_owned(),
            audience: audience.to_owned(),
            scope,
            organization_usage: None,
            allow_any_organization: None,
            extra: serde_json::Map::new(),
        };
        let id = grant.id.clone();
        store.grants.insert(grant);
        id
    }

    /// Replaces a grant's scopes out of band. Returns whether the grant exists.
    pub fn modify_client_grant(&self, id: &str, scope: &[&str]) -> bool {
        match lock(&self.shared.store).grants.get_mut(id) {
            Some(g) => {
                g.scope = scope.iter().map(|s| (*s).to_owned()).collect();
                true
            }
            None => false,
        }
    }

    /// Deletes a grant out of band. Returns whether it existed.
    pub fn remove_client_grant(&self, id: &str) -> bool {
        lock(&self.shared.store).grants.remove(id).is_some()
    }

    // --- connections ---------------------------------------------------------------------------

    /// Every connection in creation order, as the Management API shows it.
    pub fn connections(&self) -> Vec<Value> {
        lock(&self.shared.store)
            .connections
            .iter()
            .map(|c| Value::Object(c.to_api_json()))
            .collect()
    }

    /// Creates a connection (as the dashboard would), or returns the id of the one with that
    /// name. No client is enabled on it.
    ///
    /// # Panics
    /// If `name` is not a valid connection name (a bug in the calling test).
    pub fn insert_connection(&self, name: &str, strategy: &str) -> String {
        assert!(
            connections::is_valid_name(name),
            "insert_connection: invalid connection name {name:?}"
        );
        let mut store = lock(&self.shared.store);
        if let Some(c) = store.connections.by_name(name) {
            return c.id.clone();
        }
        let c = connections::Connection::new(name, strategy);
        let id = c.id.clone();
        store.connections.upsert(c);
        id
    }

    /// The id of the connection named `name`.
    pub fn connection_id(&self, name: &str) -> Option<String> {
        lock(&self.shared.store)
            .connections
            .by_name(name)
            .map(|c| c.id.clone())
    }

    /// The client ids enabled on connection `id` (sorted).
    pub fn connection_clients(&self, id: &str) -> Option<Vec<String>> {
        lock(&self.shared.store)
            .connections
            .get(id)
            .map(|c| c.enabled_clients.iter().cloned().collect())
    }

    /// Enables or disables one client on a connection out of band (no check that the client
    /// exists). Returns whether the connection exists.
    pub fn set_connection_client(&self, id: &str, client_id: &str, enabled: bool) -> bool {
        match lock(&self.shared.store).connections.get_mut(id) {
            Some(c) => {
                if enabled {
                    c.enabled_clients.insert(client_id.to_owned());
                } else {
                    c.enabled_clients.remove(client_id);
                }
                true
            }
            None => false,
        }
    }

    /// Deletes a connection out of band. Returns whether it existed.
    pub fn remove_connection(&self, id: &str) -> bool {
        lock(&self.shared.store).connections.remove(id).is_some()
    }

    // --- persistence ---------------------------------------------------------------------------

    /// Everything the tenant stores but its system Management API: clients (with secrets),
    /// resource servers, client grants and connections with their enabled clients. The JSON
    /// form ([`Snapshot`] serialises with serde) is what `nexus-operator dev --state-dir` keeps.
    pub fn snapshot(&self) -> Snapshot {
        lock(&self.shared.store).snapshot()
    }

    /// Replaces the tenant's objects with `snapshot`'s (the system Management API and the
    /// counters, faults, keys and tokens stay). Grants and enablement that refer to missing
    /// clients or APIs are dropped.
    pub fn restore(&self, snapshot: Snapshot) -> Restored {
        lock(&self.shared.store).restore(snapshot)
    }

    // --- counters ------------------------------------------------------------------------------

    /// A snapshot of the request counters.
    pub fn counters(&self) -> RequestCounts {
        self.shared.counters.snapshot()
    }

    /// Zeroes the request counters.
    pub fn reset_counters(&self) {
        self.shared.counters.reset();
    }

    /// Waits until `pred` holds for the counters (checked now and after each change). Wrap it in
    /// `tokio::time::timeout` in tests.
    pub async fn wait_for_counters(&self, pred: impl FnMut(&RequestCounts) -> bool) {
        self.shared.counters.wait_until(pred).await;
    }

    // --- faults and limits ---------------------------------------------------------------------

    /// Replaces the fault configuration.
    ///
    /// # Panics
    /// If the configuration is invalid (a share outside `0.0..=1.0`, an empty latency range).
    pub fn set_faults(&self, faults: Faults) {
        if let Err(e) = faults.validate() {
            panic!("set_faults: {e}");
        }
        lock(&self.shared.faults).set(faults);
    }

    /// The current fault configuration (one-shot rules with their remaining counts).
    pub fn faults(&self) -> Faults {
        lock(&self.shared.faults).faults().clone()
    }

    /// The next credential created through the Management API gets (and is answered with)
    /// `kid` instead of its RFC 7638 thumbprint: an Auth0 that names keys differently, for
    /// tests of clients that compute the kid themselves.
    pub fn misname_next_credential(&self, kid: &str) {
        *lock(&self.shared.next_kid) = Some(kid.to_owned());
    }

    /// Adds a "fail the next N requests matching method + path" rule to the current faults.
    pub fn fail_next(&self, rule: FailNext) {
        lock(&self.shared.faults).push_fail_next(rule);
    }

    /// Fails the next request matching `method` and `path` (a route template such as
    /// `/api/v2/clients/{id}`, or a concrete path) with `action`: [`Self::fail_next`] for one.
    pub fn fail_once(&self, method: &str, path: &str, action: FailAction) {
        self.fail_next(FailNext::new(method, path, 1, action));
    }

    /// Replaces the rate limit; the bucket starts full.
    pub fn set_rate_limit(&self, rl: RateLimit) {
        lock(&self.shared.bucket).reset(rl, self.shared.clock.now());
    }

    /// The current rate limit.
    pub fn rate_limit(&self) -> RateLimit {
        lock(&self.shared.bucket).limit()
    }

    // --- management tokens ---------------------------------------------------------------------

    /// Every management token issued so far now answers `401` "Expired token ...".
    pub fn expire_tokens(&self) {
        lock(&self.shared.tokens).expire_all(self.shared.clock.now());
    }

    /// Changes the lifetime of management tokens issued from now on.
    pub fn set_token_ttl(&self, ttl: Duration) {
        *lock(&self.shared.token_ttl) = ttl;
    }

    // --- clock ---------------------------------------------------------------------------------

    /// The simulator's wall-clock time: the system time, moved along with tokio's clock (on a
    /// paused runtime it advances with the virtual time; see [`clock`]). `x-ratelimit-reset` and
    /// the `iat`/`exp` of management tokens are computed from it, so tests on paused time compare
    /// against this, not `SystemTime::now()`.
    pub fn wall_time(&self) -> SystemTime {
        self.shared.clock.wall()
    }

    // --- OIDC side -----------------------------------------------------------------------------

    /// `{base_url}/`: the issuer tests should put in minted tokens (and in the OIDC discovery).
    pub fn issuer(&self) -> String {
        self.shared.issuer()
    }

    /// `{base_url}/.well-known/jwks.json`.
    pub fn jwks_url(&self) -> String {
        format!("{}/.well-known/jwks.json", self.shared.base_url)
    }

    /// The JWKS as served.
    pub fn jwks(&self) -> Value {
        self.keys().jwks()
    }

    /// The `kid` of the key that signs [`mint_jwt`](Self::mint_jwt) tokens.
    pub fn current_kid(&self) -> String {
        self.shared.current_key().kid().to_owned()
    }

    fn keys(&self) -> std::sync::RwLockReadGuard<'_, KeyRing> {
        self.shared
            .keys
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn keys_mut(&self) -> std::sync::RwLockWriteGuard<'_, KeyRing> {
        self.shared
            .keys
            .write()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Signs exactly `claims` (no claim is added) with RS256 and the current JWKS key; the header
    /// carries its `kid`.
    ///
    /// # Panics
    /// If signing fails, which cannot happen with a generated RSA key and JSON claims.
    pub fn mint_jwt(&self, claims: Value) -> String {
        sign_or_panic(&self.shared.current_key(), &claims, None)
    }

    /// Signs `claims` with the published key `kid`; `None` if no such key is published.
    pub fn mint_jwt_with_kid(&self, kid: &str, claims: Value) -> Option<String> {
        let key = self.keys().get(kid)?;
        Some(sign_or_panic(&key, &claims, None))
    }

    fn unknown_key(&self) -> Arc<SigningKey> {
        let mut slot = lock(&self.shared.unknown_key);
        if let Some(key) = slot.as_ref() {
            return Arc::clone(key);
        }
        let key = Arc::new(
            SigningKey::generate()
                .unwrap_or_else(|e| panic!("generating the unknown test key: {e}")),
        );
        *slot = Some(Arc::clone(&key));
        key
    }

    /// Signs `claims` with a key that is not in the JWKS, under its own unknown `kid`
    /// (verifiers fail to find the key). The key is generated on first use.
    ///
    /// # Panics
    /// If key generation or signing fails (not expected).
    pub fn mint_jwt_with_unknown_key(&self, claims: Value) -> String {
        sign_or_panic(&self.unknown_key(), &claims, None)
    }

    /// Signs `claims` with a key that is not in the JWKS but puts the current key's `kid` in the
    /// header (verifiers find a key and the signature check fails).
    ///
    /// # Panics
    /// If key generation or signing fails (not expected).
    pub fn mint_jwt_with_forged_kid(&self, claims: Value) -> String {
        let kid = self.current_kid();
        sign_or_panic(&self.unknown_key(), &claims, Some(&kid))
    }

    /// Generates a new key, publishes it and makes it sign new tokens; older keys stay in the
    /// JWKS until [`remove_key`](Self::remove_key). Returns the new `kid`. Blocks for the key
    /// generation (a fraction of a second).
    ///
    /// # Panics
    /// If RSA key generation fails (not expected).
    pub fn rotate_key(&self) -> String {
        let key = SigningKey::generate().unwrap_or_else(|e| panic!("rotate_key: {e}"));
        self.keys_mut().add(key, true)
    }

    /// Generates and publishes a new key without making it current. Returns its `kid`.
    ///
    /// # Panics
    /// If RSA key generation fails (not expected).
    pub fn add_key(&self) -> String {
        let key = SigningKey::generate().unwrap_or_else(|e| panic!("add_key: {e}"));
        self.keys_mut().add(key, false)
    }

    /// Withdraws a key from the JWKS (not the last one). Returns whether it was removed.
    pub fn remove_key(&self, kid: &str) -> bool {
        self.keys_mut().remove(kid)
    }

    // --- lifecycle -----------------------------------------------------------------------------

    /// Stops accepting connections, lets in-flight requests finish and waits for the server.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            match task.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "auth0 simulator stopped with an error"),
                Err(e) => tracing::warn!(error = %e, "auth0 simulator task failed"),
            }
        }
    }

    /// Waits until the server task ends (it only ends on its own if serving failed).
    /// Cancel-safe: when dropped early, [`shutdown`](Self::shutdown) still waits for the task.
    pub(crate) async fn wait(&mut self) -> Result<(), SimError> {
        let Some(task) = self.task.as_mut() else {
            return Ok(());
        };
        let result = task.await;
        self.task = None;
        match result {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(SimError::Serve(e)),
            Err(e) => Err(SimError::Task(e.to_string())),
        }
    }
}

fn sign_or_panic(key: &SigningKey, claims: &Value, kid: Option<&str>) -> String {
    key.sign(claims, kid)
        .unwrap_or_else(|e| panic!("signing a test JWT failed: {e}"))
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
