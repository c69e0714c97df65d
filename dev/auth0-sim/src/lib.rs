//! An embedded, in-memory simulator of one Auth0 tenant — **never production**.
//!
//! It serves, over plain HTTP on a loopback port, the parts of Auth0 this project uses
//! (see `contract/auth0-management-api.md`):
//!
//! - `POST /oauth/token` (client-credentials grant, JSON or form body, `client_secret_basic`);
//! - `GET|POST /api/v2/clients`, `GET|PATCH|DELETE /api/v2/clients/{id}`,
//!   `POST /api/v2/clients/{id}/rotate-secret`, with Auth0's validation, defaults, error bodies,
//!   scope checks and a tenant-wide token-bucket rate limit;
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
//! Not simulated: other Management API resources (client grants, connections, users, ...),
//! checkpoint pagination, `q` searches, the global "All Applications" client, Auth0's 409 answers,
//! rate limits on `/oauth/token`, per-endpoint limits, token revocation lists, HTTPS.

pub mod admin;
mod apps;
mod cli;
pub mod clock;
pub mod counters;
pub mod error;
pub mod faults;
pub mod jwt;
mod net;
pub mod ratelimit;
mod server;
pub mod store;
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
use store::ClientStore;

/// Default domain of a simulated tenant.
pub const DEFAULT_DOMAIN: &str = "sim.auth0.local";
/// Default M2M client id (32 alphanumeric characters, like Auth0's).
pub const DEFAULT_M2M_CLIENT_ID: &str = "NexusSimulatorM2mClient000000001";
/// Default M2M client secret. Public knowledge: the simulator is never production.
pub const DEFAULT_M2M_CLIENT_SECRET: &str =
    "nexus-simulator-secret-NOT-FOR-PRODUCTION-0123456789abcdef";
/// The scopes the default M2M credential holds.
pub const DEFAULT_SCOPES: &[&str] = &[
    "create:clients",
    "read:clients",
    "update:clients",
    "delete:clients",
    "read:client_keys",
    "update:client_keys",
];
/// Default management-token lifetime (Auth0's default).
pub const DEFAULT_TOKEN_TTL: Duration = Duration::from_secs(86400);

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Machine-to-machine credentials allowed to obtain Management API tokens, with their scopes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct M2mCredential {
    /// The M2M application's client id.
    pub client_id: String,
    /// Its client secret.
    pub client_secret: String,
    /// Management API scopes granted to it (an empty list means no client grant: `403`).
    pub scopes: Vec<String>,
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
    /// An API every application of the tenant may obtain a client-credentials token for, and
    /// the tenant's default audience (a stand-in for client grants, which are not simulated).
    /// `None`: applications obtain no token.
    pub app_audience: Option<String>,
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
    let shared = Arc::new(Shared {
        clock,
        domain: config.domain.clone(),
        base_url: base_url.clone(),
        m2m: config.m2m_clients,
        token_ttl: Mutex::new(config.token_ttl),
        max_clients: config.max_clients,
        app_audience: config.app_audience,
        store: Mutex::new(ClientStore::default()),
        tokens: Mutex::new(TokenStore::default()),
        bucket: Mutex::new(TokenBucket::new(config.rate_limit, clock.now())),
        faults: Mutex::new(FaultEngine::new(config.faults, config.seed)),
        counters: Counters::default(),
        keys: RwLock::new(keys),
        unknown_key: Mutex::new(None),
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
            .iter()
            .map(|c| Value::Object(c.clone()))
            .collect()
    }

    /// One client, complete.
    pub fn client(&self, id: &str) -> Option<Value> {
        lock(&self.shared.store)
            .get(id)
            .map(|c| Value::Object(c.clone()))
    }

    /// Inserts a client as is (no validation, no defaults, not counted), as if created in the
    /// Auth0 dashboard. `client_id` and `client_secret` are generated when absent; an existing
    /// `client_id` is replaced in place. Returns the `client_id`.
    ///
    /// # Panics
    /// If `client` is not a JSON object (a bug in the calling test).
    pub fn insert_client(&self, client: Value) -> String {
        let client = object_or_panic(client, "insert_client: the client");
        lock(&self.shared.store).insert(client)
    }

    /// Changes a client out of band (dashboard drift) with PATCH semantics (arrays replaced,
    /// `client_metadata` merged, `null` deletes), without validation or counters.
    /// Returns `false` when the client does not exist or `patch` is not an object.
    pub fn modify_client(&self, id: &str, patch: Value) -> bool {
        let Value::Object(patch) = patch else {
            return false;
        };
        match lock(&self.shared.store).get_mut(id) {
            Some(client) => {
                store::apply_patch(client, &patch);
                true
            }
            None => false,
        }
    }

    /// Deletes a client out of band. Returns whether it existed.
    pub fn remove_client(&self, id: &str) -> bool {
        lock(&self.shared.store).remove(id)
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

    /// Adds a "fail the next N requests matching method + path" rule to the current faults.
    pub fn fail_next(&self, rule: FailNext) {
        lock(&self.shared.faults).push_fail_next(rule);
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
