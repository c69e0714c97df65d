//! Auth0 Management API client.
//!
//! One [`Auth0Registry`] per process hands out one [`TenantClient`] per `AuthTenant`; every caller
//! of a tenant (reconciler, drift scanner, deletes, rotation, HTTP facade) shares that tenant's
//! token cache and rate limiter, because Auth0's rate limit is tenant-wide and shared with the
//! tenant's own logins.
//!
//! - Tokens: client-credentials grant, cached until shortly before expiry (10% of the lifetime, at
//!   most 60 s early), fetched single-flight; a Management API 401 drops the token and retries once;
//!   repeated token failures are spaced (1 s doubling to 60 s).
//! - Rate limiting: a token bucket (`requests_per_second`, `burst`) in front of every `/api/v2`
//!   call, serving waiters by [`Priority`]; `x-ratelimit-*` headers and 429s pause the whole tenant.
//! - Retries: see [`TenantClient`].
//! - Time: tokio's clock for every wait and timeout, and a wall clock derived from it for Auth0's
//!   epoch headers, so tests can run on tokio's paused clock.
//! - Secrets never appear in `Debug`/`Display`, errors or logs.
//!
//! Resources: clients (`client.rs`), resource servers (`resource_servers.rs`), client grants
//! (`client_grants.rs`) and connections with their enabled clients (`connections.rs`); every
//! family is an `impl TenantClient` block next to its models. `docs/auth0-api.md` lists them.

mod checkpoint;
mod client;
mod client_grants;
mod clock;
mod connections;
mod credentials;
mod error;
mod metrics;
mod model;
mod ratelimit;
mod resource_servers;
mod token;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use checkpoint::{CheckpointPage, MAX_CHECKPOINT_TAKE, Pager};
pub use client::{DEFAULT_WAIT_BUDGET, TenantClient};
pub use client_grants::ClientGrant;
pub use connections::{Connection, EnabledClient, EnabledClientsPage, MAX_CLIENTS_PER_PATCH};
pub use credentials::{
    AuthenticationMethods, ClientCredential, CredentialRef, ListedCredentials, NewPublicKey,
};
pub use error::Auth0Error;
pub use metrics::Auth0Metrics;
pub use model::{
    Auth0Client, Auth0Mobile, Auth0MobileAndroid, Auth0MobileIos, ClientPage, JwtConfiguration,
    Page, RefreshTokenExpiration, RefreshTokenRotation, RefreshTokenSettings, SecretString,
};
pub use ratelimit::Priority;
pub use resource_servers::{
    NewResourceServer, ResourceServer, ResourceServerPatch, ResourceServerScope, SigningAlg,
    TokenDialect,
};

use ratelimit::RateLimiter;

/// Everything needed to talk to one Auth0 tenant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TenantConfig {
    /// `AuthTenant` name (label for metrics and logs; key of the registry).
    pub tenant: String,
    /// Auth0 domain, e.g. `acme.eu.auth0.com` (the token audience is `https://{domain}/api/v2/`).
    pub domain: String,
    /// `https://{domain}`, or an endpoint override such as `http://127.0.0.1:PORT`
    /// (plain http is refused unless the host is loopback).
    pub base_url: String,
    /// M2M application client id.
    pub client_id: String,
    /// M2M application client secret.
    pub client_secret: SecretString,
    /// Sustained Management API requests per second the operator allows itself (at least 1).
    pub requests_per_second: u32,
    /// Burst size of the bucket (at least 1).
    pub burst: u32,
}

/// Installs rustls' `ring` crypto provider as the process default (needed once before any TLS
/// client is built). Safe to call repeatedly.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The HTTP client for Auth0: rustls, `timeout` per request (connect timeout at most 10 s),
/// no redirects (a redirected token request could carry the client secret elsewhere), user agent
/// `nexus-operator/<version>`.
pub fn default_http_client(timeout: Duration) -> Result<reqwest::Client, Auth0Error> {
    install_crypto_provider();
    reqwest::Client::builder()
        .tls_backend_rustls()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(10)))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("nexus-operator/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| Auth0Error::Config {
            message: format!("cannot build the HTTP client: {e}"),
        })
}

/// Process-wide set of tenant clients (cheap to clone; clones share the tenants).
#[derive(Clone)]
pub struct Auth0Registry {
    http: reqwest::Client,
    metrics: Auth0Metrics,
    wait_budget: Duration,
    tenants: Arc<Mutex<HashMap<String, Arc<TenantClient>>>>,
}

impl std::fmt::Debug for Auth0Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<String> = self.lock().keys().cloned().collect();
        f.debug_struct("Auth0Registry")
            .field("tenants", &names)
            .field("wait_budget", &self.wait_budget)
            .finish_non_exhaustive()
    }
}

impl Auth0Registry {
    /// A registry using `http` for every call and recording into `metrics`.
    pub fn new(http: reqwest::Client, metrics: Auth0Metrics) -> Self {
        Auth0Registry {
            http,
            metrics,
            wait_budget: DEFAULT_WAIT_BUDGET,
            tenants: Arc::default(),
        }
    }

    /// Sets how long one call may wait for the rate limiter, 429 pauses and retries before it
    /// fails with [`Auth0Error::RateLimited`] (default 30 s). Applies to clients created after.
    pub fn with_wait_budget(mut self, budget: Duration) -> Self {
        self.wait_budget = budget;
        self
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<TenantClient>>> {
        self.tenants.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The client of `config.tenant`. Returns the existing client when the configuration is
    /// unchanged; otherwise replaces it with a new client (fresh token cache) that keeps the
    /// tenant's rate limiter and its pause, reconfigured to the new rate. Holders of the old
    /// client keep a working client with the old configuration.
    pub fn tenant(&self, config: TenantConfig) -> Arc<TenantClient> {
        let mut map = self.lock();
        let limiter = match map.get(&config.tenant) {
            Some(existing) if existing.config == config => return Arc::clone(existing),
            Some(existing) => {
                let l = Arc::clone(&existing.limiter);
                l.reconfigure(config.requests_per_second, config.burst);
                tracing::info!(tenant = %config.tenant, "Auth0 tenant configuration changed; dropping its cached token");
                l
            }
            None => RateLimiter::new(
                &config.tenant,
                config.requests_per_second,
                config.burst,
                self.metrics.clone(),
            ),
        };
        let client = Arc::new(TenantClient::new(
            config,
            self.http.clone(),
            limiter,
            self.metrics.clone(),
            self.wait_budget,
        ));
        map.insert(client.tenant().to_owned(), Arc::clone(&client));
        client
    }

    /// Forgets a tenant (its next [`Auth0Registry::tenant`] starts with a new limiter).
    pub fn remove(&self, tenant: &str) {
        self.lock().remove(tenant);
    }
}
