//! Authentication (Bearer JWT + `ApplicationToken`, or Basic) and authorization
//! (`client.write` / `client.write.all`) of facade callers.
//!
//! Nothing in here logs or returns a credential: failures carry a fixed, machine-readable
//! reason and a short human text.
//!
//! The cache ages (credentials TTL, JWKS TTL, the JWKS refresh limit) are measured on tokio's
//! clock, so tests on a paused clock can let them pass in virtual time.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use base64::Engine;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use thiserror::Error;
use tokio::sync::{Mutex, RwLock, Semaphore};
use tokio::time::Instant;

use crate::config::{FacadeConfig, JwtConfig, ObjectRef};
use crate::throttle::{FailureTable, address_key};
use prometheus_client::metrics::counter::Counter;

/// Permission to create clients in the tenants the caller is bound to.
pub const CLIENT_WRITE: &str = "client.write";
/// Permission to create clients in any tenant.
pub const CLIENT_WRITE_ALL: &str = "client.write.all";
/// Header carrying the application token that must accompany a Bearer JWT.
pub const APPLICATION_TOKEN_HEADER: &str = "applicationtoken";
/// Key of the credentials Secret with the SHA-256 hex hashes of valid application tokens.
pub const APPLICATION_TOKENS_KEY: &str = "application-tokens";
/// Key of the credentials Secret with the Basic users.
pub const USERS_KEY: &str = "users.json";

const MAX_CREDENTIAL_LEN: usize = 8 * 1024;

/// How the caller authenticated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    /// JWT plus application token.
    Bearer,
    /// Username and password.
    Basic,
}

/// An authenticated caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    /// Stable caller id: `jwt:<sub>` or `basic:<username>`. Not a secret.
    pub id: String,
    /// Scheme used.
    pub scheme: Scheme,
    /// Permissions granted.
    pub permissions: BTreeSet<String>,
    /// Tenants a `client.write` caller may act on.
    pub tenants: BTreeSet<String>,
}

/// Why a request was not authenticated (401) or could not be checked (503).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthFailure {
    /// No `Authorization` header.
    MissingCredentials,
    /// A scheme other than Bearer/Basic, or an unparsable header.
    MalformedCredentials,
    /// Bearer without `ApplicationToken`.
    MissingApplicationToken,
    /// `ApplicationToken` not among the valid ones.
    InvalidApplicationToken,
    /// Bearer authentication is not configured.
    BearerDisabled,
    /// The JWT is not well formed.
    MalformedToken,
    /// Algorithm other than RS256/ES256, or not matching the key.
    UnsupportedAlgorithm,
    /// No `kid` in the JWT header.
    MissingKid,
    /// `kid` not in the issuer's JWKS (even after a refresh).
    UnknownKid,
    /// Signature does not verify.
    BadSignature,
    /// `exp` passed.
    Expired,
    /// `nbf` in the future.
    NotYetValid,
    /// `iss` is not the configured issuer.
    WrongIssuer,
    /// `aud` does not contain the configured audience.
    WrongAudience,
    /// `exp`, `iss`, `aud` or `sub` missing (or `sub` not a non-empty string).
    MissingClaim,
    /// Unknown user or wrong password (not distinguished).
    InvalidUserOrPassword,
    /// The JWKS could not be fetched and no key is cached.
    JwksUnavailable,
    /// The credentials Secret could not be read.
    CredentialsUnavailable,
    /// Every password-verification slot is taken (503 at once, no queue).
    PasswordChecksBusy,
    /// The username or the source address used up its failed logins for the window (429).
    TooManyFailures {
        /// Seconds until the window ends.
        retry_after_secs: u64,
    },
}

impl AuthFailure {
    /// Machine-readable reason (metric label, log field).
    pub fn reason(self) -> &'static str {
        match self {
            Self::MissingCredentials => "missing_credentials",
            Self::MalformedCredentials => "malformed_credentials",
            Self::MissingApplicationToken => "missing_application_token",
            Self::InvalidApplicationToken => "invalid_application_token",
            Self::BearerDisabled => "bearer_disabled",
            Self::MalformedToken => "malformed_token",
            Self::UnsupportedAlgorithm => "unsupported_algorithm",
            Self::MissingKid => "missing_kid",
            Self::UnknownKid => "unknown_kid",
            Self::BadSignature => "bad_signature",
            Self::Expired => "expired",
            Self::NotYetValid => "not_yet_valid",
            Self::WrongIssuer => "wrong_issuer",
            Self::WrongAudience => "wrong_audience",
            Self::MissingClaim => "missing_claim",
            Self::InvalidUserOrPassword => "invalid_user_or_password",
            Self::JwksUnavailable => "jwks_unavailable",
            Self::CredentialsUnavailable => "credentials_unavailable",
            Self::PasswordChecksBusy => "password_checks_busy",
            Self::TooManyFailures { .. } => "too_many_failures",
        }
    }

    /// True when the failure is ours (503), not the caller's (401).
    pub fn is_unavailable(self) -> bool {
        matches!(
            self,
            Self::JwksUnavailable | Self::CredentialsUnavailable | Self::PasswordChecksBusy
        )
    }

    /// Seconds the caller should wait before retrying (`Retry-After`).
    pub fn retry_after_secs(self) -> u64 {
        match self {
            Self::PasswordChecksBusy => 1,
            Self::TooManyFailures { retry_after_secs } => retry_after_secs.max(1),
            _ => 5,
        }
    }

    /// Text for the problem `detail`.
    pub fn detail(self) -> &'static str {
        match self {
            Self::MissingCredentials => {
                "Send Authorization: Bearer <JWT> with an ApplicationToken header, or Authorization: Basic."
            }
            Self::MalformedCredentials => {
                "The Authorization header is malformed or uses an unsupported scheme."
            }
            Self::MissingApplicationToken => {
                "Bearer authentication requires an ApplicationToken header."
            }
            Self::InvalidApplicationToken => "The ApplicationToken is not valid.",
            Self::BearerDisabled => "Bearer authentication is not enabled on this server.",
            Self::MalformedToken => "The bearer token is not a well-formed JWT.",
            Self::UnsupportedAlgorithm => {
                "The bearer token's algorithm is not accepted (RS256 or ES256)."
            }
            Self::MissingKid => "The bearer token has no key id (kid).",
            Self::UnknownKid => "The bearer token was signed with an unknown key.",
            Self::BadSignature => "The bearer token's signature is invalid.",
            Self::Expired => "The bearer token has expired.",
            Self::NotYetValid => "The bearer token is not valid yet.",
            Self::WrongIssuer => {
                "The bearer token was issued by an issuer this server does not trust."
            }
            Self::WrongAudience => "The bearer token is not meant for this API (audience).",
            Self::MissingClaim => "The bearer token lacks a required claim (exp, iss, aud, sub).",
            Self::InvalidUserOrPassword => "Invalid username or password.",
            Self::JwksUnavailable => {
                "The token issuer's keys cannot be fetched right now; retry later."
            }
            Self::CredentialsUnavailable => {
                "The credential store cannot be read right now; retry later."
            }
            Self::PasswordChecksBusy => {
                "Too many password checks are in progress; retry after the Retry-After delay."
            }
            Self::TooManyFailures { .. } => {
                "Too many failed logins for this user or from this address; retry after the Retry-After delay."
            }
        }
    }

    /// RFC 6750 error code for the Bearer challenge, when the failure concerns the token.
    pub fn bearer_error(self) -> Option<&'static str> {
        match self {
            Self::MissingCredentials
            | Self::MalformedCredentials
            | Self::InvalidUserOrPassword
            | Self::PasswordChecksBusy
            | Self::TooManyFailures { .. } => None,
            Self::MissingApplicationToken | Self::BearerDisabled => Some("invalid_request"),
            _ => Some("invalid_token"),
        }
    }
}

/// Why an authenticated caller may not act on a tenant (403).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Forbidden {
    /// Neither `client.write` nor `client.write.all`.
    MissingPermission,
    /// `client.write`, but not bound to this tenant.
    TenantNotBound,
}

impl Forbidden {
    /// Machine-readable reason.
    pub fn reason(self) -> &'static str {
        match self {
            Self::MissingPermission => "missing_permission",
            Self::TenantNotBound => "tenant_not_bound",
        }
    }

    /// Text for the problem `detail`.
    pub fn detail(self) -> &'static str {
        match self {
            Self::MissingPermission => {
                "The caller lacks the client.write or client.write.all permission."
            }
            Self::TenantNotBound => "The caller has client.write but is not bound to this tenant.",
        }
    }
}

/// `client.write.all` allows any tenant, `client.write` only the caller's tenants.
/// Returns the permission that granted access.
pub fn authorize(principal: &Principal, tenant: &str) -> Result<&'static str, Forbidden> {
    if principal.permissions.contains(CLIENT_WRITE_ALL) {
        Ok(CLIENT_WRITE_ALL)
    } else if principal.permissions.contains(CLIENT_WRITE) {
        if principal.tenants.contains(tenant) {
            Ok(CLIENT_WRITE)
        } else {
            Err(Forbidden::TenantNotBound)
        }
    } else {
        Err(Forbidden::MissingPermission)
    }
}

/// The facade could not set up authentication.
#[derive(Debug, Error)]
pub enum AuthSetupError {
    /// The HTTP client for the JWKS could not be built.
    #[error("cannot build the JWKS HTTP client")]
    Http(#[source] reqwest::Error),
    /// The dummy password hash could not be computed.
    #[error("cannot prepare password verification: {0}")]
    PasswordHash(String),
}

/// Verifies credentials. Cheap to share (`Arc`).
///
/// Basic authentication is the expensive path (one argon2 verification: ~19 MiB and tens of
/// milliseconds), so it is bounded three ways: at most `max_concurrent_password_checks`
/// verifications at once (the rest answered 503 at once, no queue), failed logins limited per
/// username and per source address (429, bounded-memory tables, checked before any
/// verification), and unknown users verified at the same cost as known ones.
pub struct Authenticator {
    jwt: Option<JwtVerifier>,
    credentials: CredentialStore,
    tenant_claim: String,
    permissions_claim: String,
    password_permits: Arc<Semaphore>,
    dummy_hash: String,
    failures_by_user: FailureTable,
    failures_by_address: FailureTable,
    verifications: Counter,
}

impl Authenticator {
    /// Builds the authenticator; the credentials Secret is read through `kube`; every argon2
    /// verification is counted in `verifications`.
    pub fn new(
        config: &FacadeConfig,
        kube: kube::Client,
        verifications: Counter,
    ) -> Result<Self, AuthSetupError> {
        let jwt = config.jwt.clone().map(JwtVerifier::new).transpose()?;
        let salt = SaltString::generate(&mut rand::rngs::OsRng);
        let dummy_hash = Argon2::default()
            .hash_password(b"no such user: equalise timing", &salt)
            .map_err(|e| AuthSetupError::PasswordHash(e.to_string()))?
            .to_string();
        Ok(Self {
            jwt,
            credentials: CredentialStore::new(
                config.credentials_secret.clone(),
                kube,
                config.credentials_cache_ttl,
            ),
            tenant_claim: config.tenant_claim.clone(),
            permissions_claim: config.permissions_claim.clone(),
            password_permits: Arc::new(Semaphore::new(
                config.max_concurrent_password_checks.max(1),
            )),
            dummy_hash,
            failures_by_user: FailureTable::new(
                config.failed_logins.per_user,
                config.failed_logins.window,
                config.failed_logins.capacity,
            ),
            failures_by_address: FailureTable::new(
                config.failed_logins.per_address,
                config.failed_logins.window,
                config.failed_logins.capacity,
            ),
            verifications,
        })
    }

    /// Free password-verification slots.
    #[cfg(test)]
    pub(crate) fn free_password_checks(&self) -> usize {
        self.password_permits.available_permits()
    }

    /// Takes `n` password-verification slots (tests: verifications in flight).
    #[cfg(test)]
    pub(crate) fn hold_password_checks(&self, n: u32) -> tokio::sync::SemaphorePermit<'_> {
        self.password_permits
            .try_acquire_many(n)
            .expect("free verification slots")
    }

    /// Authenticates the request from its headers; `peer` is the connection's source address
    /// (failed Basic logins are limited per address).
    pub async fn authenticate(
        &self,
        headers: &HeaderMap,
        peer: Option<IpAddr>,
    ) -> Result<Principal, AuthFailure> {
        let Some(value) = headers.get(AUTHORIZATION) else {
            return Err(AuthFailure::MissingCredentials);
        };
        let value = value
            .to_str()
            .map_err(|_| AuthFailure::MalformedCredentials)?;
        if value.len() > MAX_CREDENTIAL_LEN {
            return Err(AuthFailure::MalformedCredentials);
        }
        let (scheme, rest) = value
            .split_once(' ')
            .ok_or(AuthFailure::MalformedCredentials)?;
        let rest = rest.trim();
        if scheme.eq_ignore_ascii_case("bearer") {
            self.bearer(rest, headers).await
        } else if scheme.eq_ignore_ascii_case("basic") {
            self.basic(rest, peer).await
        } else {
            Err(AuthFailure::MalformedCredentials)
        }
    }

    async fn bearer(&self, token: &str, headers: &HeaderMap) -> Result<Principal, AuthFailure> {
        let Some(verifier) = &self.jwt else {
            return Err(AuthFailure::BearerDisabled);
        };
        // The application token is checked first: it is cheap and keeps callers without one
        // from making the facade fetch keys.
        let app_token = headers
            .get(APPLICATION_TOKEN_HEADER)
            .ok_or(AuthFailure::MissingApplicationToken)?
            .as_bytes();
        if app_token.is_empty() {
            return Err(AuthFailure::MissingApplicationToken);
        }
        if app_token.len() > MAX_CREDENTIAL_LEN {
            return Err(AuthFailure::InvalidApplicationToken);
        }
        let credentials = self.credentials.get().await?;
        if !credentials.application_token_is_valid(app_token) {
            return Err(AuthFailure::InvalidApplicationToken);
        }
        let claims = verifier.verify(token).await?;
        // The subject is the caller's identity (idempotency keys and name claims are scoped to
        // it): without one, every such caller would be the same caller.
        let subject = claims
            .get("sub")
            .and_then(Value::as_str)
            .filter(|sub| !sub.trim().is_empty())
            .ok_or(AuthFailure::MissingClaim)?
            .to_owned();
        Ok(Principal {
            id: format!("jwt:{subject}"),
            scheme: Scheme::Bearer,
            permissions: string_set(claims.get(&self.permissions_claim)),
            tenants: string_set(claims.get(&self.tenant_claim)),
        })
    }

    async fn basic(&self, encoded: &str, peer: Option<IpAddr>) -> Result<Principal, AuthFailure> {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .map_err(|_| AuthFailure::MalformedCredentials)?;
        let decoded = String::from_utf8(decoded).map_err(|_| AuthFailure::MalformedCredentials)?;
        let (username, password) = decoded
            .split_once(':')
            .ok_or(AuthFailure::MalformedCredentials)?;
        let address = peer.map(address_key);
        // 1. A username or address that used up its failures is refused before any work.
        let blocked = [
            self.failures_by_user.blocked(&username),
            address.and_then(|a| self.failures_by_address.blocked(&a)),
        ]
        .into_iter()
        .flatten()
        .max();
        if let Some(wait) = blocked {
            return Err(AuthFailure::TooManyFailures {
                retry_after_secs: wait.as_secs_f64().ceil() as u64,
            });
        }
        // 2. A verification slot, or 503 at once: waiting callers would hold their requests
        //    (and the memory they bring) for as long as the attack lasts. The slot moves into
        //    the verification itself: a request that is cancelled (client gone, request
        //    timeout) cannot stop argon2 on the blocking pool, so it must not free the slot
        //    before argon2 has finished.
        let permit = self
            .password_permits
            .clone()
            .try_acquire_owned()
            .map_err(|_| AuthFailure::PasswordChecksBusy)?;
        let credentials = self.credentials.get().await?;
        let user = credentials.users.get(username).cloned();
        // Unknown users cost the same argon2 work as known ones: they are verified against a
        // stored user's hash (same parameters), and refused whatever the outcome.
        let hash = user
            .as_ref()
            .map(|u| u.password_hash.clone())
            .or_else(|| credentials.decoy_hash.clone())
            .unwrap_or_else(|| self.dummy_hash.clone());
        let password = password.as_bytes().to_vec();
        self.verifications.inc();
        let verified = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            PasswordHash::new(&hash)
                .map(|parsed| {
                    Argon2::default()
                        .verify_password(&password, &parsed)
                        .is_ok()
                })
                .unwrap_or(false)
        })
        .await
        .unwrap_or(false);
        match user {
            Some(user) if verified => {
                self.failures_by_user.forget(&username);
                Ok(Principal {
                    id: format!("basic:{}", user.username),
                    scheme: Scheme::Basic,
                    permissions: user.permissions.iter().cloned().collect(),
                    tenants: user.tenants.iter().cloned().collect(),
                })
            }
            _ => {
                self.failures_by_user.record_failure(&username);
                if let Some(address) = address {
                    self.failures_by_address.record_failure(&address);
                }
                Err(AuthFailure::InvalidUserOrPassword)
            }
        }
    }
}

/// Array of strings, or one string of space/comma separated values.
fn string_set(value: Option<&Value>) -> BTreeSet<String> {
    match value {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        Some(Value::String(s)) => s
            .split([' ', ','])
            .filter(|p| !p.is_empty())
            .map(str::to_owned)
            .collect(),
        _ => BTreeSet::new(),
    }
}

// ---------------------------------------------------------------------------------------------
// Credentials Secret

/// One Basic user, as stored in `users.json`.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BasicUser {
    /// Login name.
    pub username: String,
    /// Argon2 PHC string (`$argon2id$v=19$...`).
    pub password_hash: String,
    /// Granted permissions.
    #[serde(default)]
    pub permissions: Vec<String>,
    /// Tenants for `client.write`.
    #[serde(default)]
    pub tenants: Vec<String>,
}

/// Parsed content of the credentials Secret.
#[derive(Clone, Debug, Default)]
pub struct Credentials {
    application_token_hashes: Vec<[u8; 32]>,
    users: HashMap<String, BasicUser>,
    /// The hash unknown users are verified against: the first user's (by name), so that its
    /// cost is a real user's.
    decoy_hash: Option<String>,
}

impl Credentials {
    /// Parses the Secret's data. Bad entries are skipped (and counted in the log, never shown).
    pub fn from_data(data: &BTreeMap<String, ByteString>) -> Self {
        let mut credentials = Self::default();
        if let Some(tokens) = data.get(APPLICATION_TOKENS_KEY) {
            let text = String::from_utf8_lossy(&tokens.0);
            let mut skipped = 0usize;
            for line in text.lines().map(str::trim) {
                if line.is_empty() || line.starts_with('#') {
                    continue;
                }
                match decode_hex32(line) {
                    Some(hash) => credentials.application_token_hashes.push(hash),
                    None => skipped += 1,
                }
            }
            if skipped > 0 {
                tracing::warn!(
                    skipped,
                    "ignored application-tokens lines that are not SHA-256 hex"
                );
            }
        }
        if let Some(users) = data.get(USERS_KEY) {
            match serde_json::from_slice::<Vec<BasicUser>>(&users.0) {
                Ok(users) => {
                    for user in users {
                        if PasswordHash::new(&user.password_hash).is_err() {
                            tracing::warn!(user = %user.username, "ignored Basic user whose passwordHash is not a PHC string");
                            continue;
                        }
                        credentials.users.insert(user.username.clone(), user);
                    }
                    credentials.decoy_hash = credentials
                        .users
                        .values()
                        .min_by(|a, b| a.username.cmp(&b.username))
                        .map(|u| u.password_hash.clone());
                }
                // serde_json's message names a position, not the content.
                Err(e) => tracing::warn!(error = %e, "ignored users.json: not a list of users"),
            }
        }
        credentials
    }

    /// Constant-time check of a presented application token against every stored hash.
    pub fn application_token_is_valid(&self, token: &[u8]) -> bool {
        let presented: [u8; 32] = Sha256::digest(token).into();
        let mut found = subtle::Choice::from(0u8);
        for stored in &self.application_token_hashes {
            found |= stored.ct_eq(&presented);
        }
        bool::from(found)
    }

    /// Number of valid application tokens and users (for logs).
    pub fn counts(&self) -> (usize, usize) {
        (self.application_token_hashes.len(), self.users.len())
    }
}

fn decode_hex32(text: &str) -> Option<[u8; 32]> {
    let bytes = text.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in bytes.chunks(2).enumerate() {
        let hi = (pair[0] as char).to_digit(16)?;
        let lo = (pair[1] as char).to_digit(16)?;
        out[i] = (hi * 16 + lo) as u8;
    }
    Some(out)
}

struct CredentialStore {
    api: Option<(kube::Api<Secret>, String)>,
    ttl: Duration,
    cache: RwLock<Option<(Instant, Arc<Credentials>)>>,
    refresh: Mutex<()>,
}

impl CredentialStore {
    fn new(secret: Option<ObjectRef>, kube: kube::Client, ttl: Duration) -> Self {
        Self {
            api: secret.map(|r| (kube::Api::namespaced(kube, &r.namespace), r.name)),
            ttl,
            cache: RwLock::new(None),
            refresh: Mutex::new(()),
        }
    }

    async fn get(&self) -> Result<Arc<Credentials>, AuthFailure> {
        let Some((api, name)) = &self.api else {
            return Ok(Arc::new(Credentials::default()));
        };
        if let Some((at, creds)) = self.cache.read().await.as_ref()
            && at.elapsed() < self.ttl
        {
            return Ok(creds.clone());
        }
        let _guard = self.refresh.lock().await;
        if let Some((at, creds)) = self.cache.read().await.as_ref()
            && at.elapsed() < self.ttl
        {
            return Ok(creds.clone());
        }
        match api.get_opt(name).await {
            Ok(secret) => {
                let data = secret.and_then(|s| s.data).unwrap_or_default();
                let creds = Arc::new(Credentials::from_data(&data));
                *self.cache.write().await = Some((Instant::now(), creds.clone()));
                Ok(creds)
            }
            Err(error) => {
                let stale = self.cache.read().await.as_ref().map(|(_, c)| c.clone());
                tracing::warn!(%error, stale = stale.is_some(), "cannot read the facade credentials Secret");
                stale.ok_or(AuthFailure::CredentialsUnavailable)
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// JWT / JWKS

struct CachedKey {
    key: DecodingKey,
    algorithm: Option<String>,
}

#[derive(Default)]
struct JwksState {
    keys: HashMap<String, Arc<CachedKey>>,
    fetched_at: Option<Instant>,
    attempted_at: Option<Instant>,
}

struct JwtVerifier {
    config: JwtConfig,
    http: reqwest::Client,
    state: RwLock<JwksState>,
    refresh: Mutex<()>,
}

impl JwtVerifier {
    fn new(config: JwtConfig) -> Result<Self, AuthSetupError> {
        auth0_mgmt::install_crypto_provider();
        let http = reqwest::Client::builder()
            .tls_backend_rustls()
            .timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(AuthSetupError::Http)?;
        Ok(Self {
            config,
            http,
            state: RwLock::new(JwksState::default()),
            refresh: Mutex::new(()),
        })
    }

    async fn verify(&self, token: &str) -> Result<Value, AuthFailure> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| AuthFailure::MalformedToken)?;
        if !matches!(header.alg, Algorithm::RS256 | Algorithm::ES256) {
            return Err(AuthFailure::UnsupportedAlgorithm);
        }
        let kid = header.kid.as_deref().ok_or(AuthFailure::MissingKid)?;
        let key = self.key(kid).await?.ok_or(AuthFailure::UnknownKid)?;
        if let Some(alg) = &key.algorithm
            && *alg != format!("{:?}", header.alg)
        {
            return Err(AuthFailure::UnsupportedAlgorithm);
        }
        let mut validation = Validation::new(header.alg);
        validation.leeway = self.config.leeway.as_secs();
        validation.validate_nbf = true;
        validation.set_issuer(&[&self.config.issuer]);
        validation.set_audience(&[&self.config.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        match jsonwebtoken::decode::<Value>(token, &key.key, &validation) {
            Ok(data) => Ok(data.claims),
            Err(e) => Err(match e.kind() {
                ErrorKind::InvalidSignature => AuthFailure::BadSignature,
                ErrorKind::ExpiredSignature => AuthFailure::Expired,
                ErrorKind::ImmatureSignature => AuthFailure::NotYetValid,
                ErrorKind::InvalidIssuer => AuthFailure::WrongIssuer,
                ErrorKind::InvalidAudience => AuthFailure::WrongAudience,
                ErrorKind::MissingRequiredClaim(_) => AuthFailure::MissingClaim,
                ErrorKind::InvalidAlgorithm
                | ErrorKind::InvalidEcdsaKey
                | ErrorKind::InvalidRsaKey(_)
                | ErrorKind::InvalidKeyFormat => AuthFailure::UnsupportedAlgorithm,
                _ => AuthFailure::MalformedToken,
            }),
        }
    }

    /// The key for `kid`: from the cache while fresh, else after a (rate-limited) refresh.
    async fn key(&self, kid: &str) -> Result<Option<Arc<CachedKey>>, AuthFailure> {
        {
            let state = self.state.read().await;
            let fresh = state
                .fetched_at
                .is_some_and(|at| at.elapsed() < self.config.jwks_ttl);
            if fresh && let Some(key) = state.keys.get(kid) {
                return Ok(Some(key.clone()));
            }
        }
        let _guard = self.refresh.lock().await;
        {
            let state = self.state.read().await;
            let fresh = state
                .fetched_at
                .is_some_and(|at| at.elapsed() < self.config.jwks_ttl);
            if let Some(key) = state.keys.get(kid)
                && fresh
            {
                return Ok(Some(key.clone()));
            }
            let recently_tried = state
                .attempted_at
                .is_some_and(|at| at.elapsed() < self.config.jwks_min_refresh_interval);
            if recently_tried {
                // Unknown kid shortly after a fetch: do not let callers drive fetches.
                return Ok(if fresh {
                    None
                } else {
                    state.keys.get(kid).cloned()
                });
            }
        }
        let fetched = self.fetch().await;
        let mut state = self.state.write().await;
        state.attempted_at = Some(Instant::now());
        match fetched {
            Ok(keys) => {
                tracing::debug!(keys = keys.len(), "fetched JWKS");
                state.keys = keys;
                state.fetched_at = Some(Instant::now());
                Ok(state.keys.get(kid).cloned())
            }
            Err(error) => {
                tracing::warn!(%error, url = %self.config.jwks_url, "cannot fetch JWKS");
                if state.keys.is_empty() {
                    Err(AuthFailure::JwksUnavailable)
                } else {
                    // Keep trusting the last good keys while the issuer is unreachable.
                    Ok(state.keys.get(kid).cloned())
                }
            }
        }
    }

    async fn fetch(&self) -> Result<HashMap<String, Arc<CachedKey>>, JwksError> {
        let response = self
            .http
            .get(&self.config.jwks_url)
            .send()
            .await
            .map_err(JwksError::Request)?;
        if !response.status().is_success() {
            return Err(JwksError::Status(response.status().as_u16()));
        }
        let body: Value = response.json().await.map_err(JwksError::Request)?;
        Ok(parse_jwks(&body))
    }
}

#[derive(Debug, Error)]
enum JwksError {
    #[error("JWKS request failed")]
    Request(#[source] reqwest::Error),
    #[error("JWKS endpoint answered {0}")]
    Status(u16),
}

/// Keys of a JWKS document usable for signatures, by `kid`. Keys that cannot be used (no `kid`,
/// `use` other than `sig`, unsupported type) are skipped one by one.
fn parse_jwks(body: &Value) -> HashMap<String, Arc<CachedKey>> {
    let mut keys = HashMap::new();
    for raw in body
        .get("keys")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if raw
            .get("use")
            .and_then(Value::as_str)
            .is_some_and(|u| u != "sig")
        {
            continue;
        }
        let Some(kid) = raw.get("kid").and_then(Value::as_str) else {
            continue;
        };
        let Ok(jwk) = serde_json::from_value::<Jwk>(raw.clone()) else {
            continue;
        };
        let Ok(key) = DecodingKey::from_jwk(&jwk) else {
            continue;
        };
        let algorithm = raw.get("alg").and_then(Value::as_str).map(str::to_owned);
        keys.insert(kid.to_owned(), Arc::new(CachedKey { key, algorithm }));
    }
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(perms: &[&str], tenants: &[&str]) -> Principal {
        Principal {
            id: "jwt:x".into(),
            scheme: Scheme::Bearer,
            permissions: perms.iter().map(|s| s.to_string()).collect(),
            tenants: tenants.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn authorization_matrix() {
        assert_eq!(
            authorize(&principal(&["client.write.all"], &[]), "t1"),
            Ok(CLIENT_WRITE_ALL)
        );
        assert_eq!(
            authorize(&principal(&["client.write"], &["t1"]), "t1"),
            Ok(CLIENT_WRITE)
        );
        assert_eq!(
            authorize(&principal(&["client.write"], &["t1"]), "t2"),
            Err(Forbidden::TenantNotBound)
        );
        assert_eq!(
            authorize(&principal(&["client.read"], &["t1"]), "t1"),
            Err(Forbidden::MissingPermission)
        );
    }

    #[test]
    fn claims_as_arrays_or_strings() {
        let set = string_set(Some(&serde_json::json!("client.write a,b")));
        assert_eq!(set.len(), 3);
        assert_eq!(string_set(Some(&serde_json::json!(["t1", 3]))).len(), 1);
        assert!(string_set(Some(&serde_json::json!(5))).is_empty());
    }

    #[test]
    fn application_tokens_are_matched_by_hash() {
        let hash = hex(&Sha256::digest(b"tok-123"));
        let data = BTreeMap::from([(
            APPLICATION_TOKENS_KEY.to_owned(),
            ByteString(format!("# comment\n\n{hash}\nnot-hex\n").into_bytes()),
        )]);
        let creds = Credentials::from_data(&data);
        assert_eq!(creds.counts(), (1, 0));
        assert!(creds.application_token_is_valid(b"tok-123"));
        assert!(!creds.application_token_is_valid(b"tok-124"));
        assert!(!Credentials::default().application_token_is_valid(b""));
    }

    #[test]
    fn users_with_bad_hashes_are_skipped() {
        let salt = SaltString::generate(&mut rand::rngs::OsRng);
        let good = Argon2::default()
            .hash_password(b"pw", &salt)
            .unwrap()
            .to_string();
        let users = serde_json::json!([
            {"username": "a", "passwordHash": good, "permissions": ["client.write"], "tenants": ["t1"]},
            {"username": "b", "passwordHash": "plain"}
        ]);
        let data = BTreeMap::from([(
            USERS_KEY.to_owned(),
            ByteString(users.to_string().into_bytes()),
        )]);
        let creds = Credentials::from_data(&data);
        assert_eq!(creds.counts(), (0, 1));
    }

    /// Unknown users are verified against a stored user's hash (same argon2 parameters, so the
    /// same cost), the first by name.
    #[test]
    fn the_decoy_hash_is_a_stored_users() {
        let params = argon2::Params::new(8 * 1024, 3, 1, None).unwrap();
        let argon = Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
        let salt = SaltString::generate(&mut rand::rngs::OsRng);
        let strong = argon.hash_password(b"pw", &salt).unwrap().to_string();
        let weak = Argon2::default()
            .hash_password(b"pw", &salt)
            .unwrap()
            .to_string();
        let users = serde_json::json!([
            {"username": "zed", "passwordHash": weak},
            {"username": "amy", "passwordHash": strong}
        ]);
        let data = BTreeMap::from([(
            USERS_KEY.to_owned(),
            ByteString(users.to_string().into_bytes()),
        )]);
        let creds = Credentials::from_data(&data);
        assert_eq!(creds.decoy_hash.as_deref(), Some(strong.as_str()));
        assert_eq!(Credentials::default().decoy_hash, None);
    }

    #[test]
    fn hex_decoding() {
        assert!(decode_hex32(&"ab".repeat(32)).is_some());
        assert!(decode_hex32(&"zz".repeat(32)).is_none());
        assert!(decode_hex32("ab").is_none());
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }
}
