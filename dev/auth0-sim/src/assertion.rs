//! `private_key_jwt` client authentication at `/oauth/token` (RFC 7523 section 2.2): the
//! application sends `client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer`
//! and `client_assertion=<JWT>` instead of a secret.
//!
//! What Auth0 documents ("Authenticate with Private Key JWT") and the simulator checks, in order:
//! 1. no `client_secret` beside the assertion; the assertion at most 2048 bytes;
//! 2. the header `alg` is one a `public_key` credential can have (RS256, RS384, PS256) and at most
//!    16 characters; `kid` is optional;
//! 3. `iss` and `sub` are present, equal, at most 64 characters, and name a client of the tenant
//!    (a `client_id` parameter, when sent, must be the same);
//! 4. the client lists credentials under `client_authentication_methods.private_key_jwt`, and the
//!    signature verifies against one of them whose `alg` is the header's (the one with the
//!    header's `kid` when there is one), not past its `expires_at`;
//! 5. `aud` is the tenant's URL `https://{domain}/` (Auth0's issuer identifier) or its token
//!    endpoint `https://{domain}/oauth/token` (accepted, deprecated by Auth0 in October 2025);
//!    the simulator also accepts its own issuer `{base_url}/` and `{base_url}/oauth/token`;
//! 6. `exp` is present and not past, and at most 5 minutes (plus 10 s of skew) ahead; `iat` and
//!    `nbf`, when present, not more than 10 s in the future;
//! 7. `jti` is present, at most 64 characters, and was not used before by this client (replay).
//!
//! Every refusal is a 401 `{"error":"access_denied","error_description":"..."}` — the OAuth body
//! Auth0 uses for failed client authentication (the exact descriptions are the simulator's; the
//! real service's wording for each case is not recorded).
//!
//! Used `jti`s are remembered until their `exp` passes (an assertion lives at most 5 minutes, so
//! the memory is bounded by the request rate); beyond [`MAX_REMEMBERED_JTIS`] live entries new
//! assertions are refused rather than forgetting one that could be replayed.

use std::collections::{BTreeSet, HashSet};

use axum::http::StatusCode;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::Value;

use crate::credentials::Credential;
use crate::error::OAuthError;
use crate::lock;
use crate::server::{Shared, access_denied};

/// The `client_assertion_type` of RFC 7523.
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// Longest assertion Auth0 accepts, in bytes.
pub const MAX_ASSERTION_BYTES: usize = 2048;
/// Longest `iss`, `sub` and `jti`.
pub const MAX_CLAIM_CHARS: usize = 64;
/// Longest `alg`.
pub const MAX_ALG_CHARS: usize = 16;
/// Longest assertion lifetime Auth0 supports, in seconds.
pub const MAX_LIFETIME_SECS: u64 = 300;
/// Clock skew Auth0 allows for `iat` and `nbf`, in seconds.
pub const SKEW_SECS: u64 = 10;
/// Live `jti`s remembered at most.
pub const MAX_REMEMBERED_JTIS: usize = 100_000;

/// Used assertion ids, by (client, jti), until their `exp`.
#[derive(Default)]
pub(crate) struct JtiCache {
    seen: HashSet<(String, String)>,
    by_expiry: BTreeSet<(u64, String, String)>,
}

impl std::fmt::Debug for JtiCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JtiCache")
            .field("remembered", &self.len())
            .finish()
    }
}

/// Why a `jti` was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JtiRefusal {
    /// Used before.
    Replayed,
    /// The cache is full of live entries.
    Full,
}

impl JtiCache {
    /// Records `jti` of `client` until `exp` (epoch seconds), forgetting entries expired at
    /// `now`; refuses a replay.
    pub(crate) fn use_once(
        &mut self,
        client: &str,
        jti: &str,
        exp: u64,
        now: u64,
    ) -> Result<(), JtiRefusal> {
        while let Some(first) = self.by_expiry.first() {
            if first.0 >= now {
                break;
            }
            if let Some((_, c, j)) = self.by_expiry.pop_first() {
                self.seen.remove(&(c, j));
            }
        }
        let key = (client.to_owned(), jti.to_owned());
        if self.seen.contains(&key) {
            return Err(JtiRefusal::Replayed);
        }
        if self.seen.len() >= MAX_REMEMBERED_JTIS {
            return Err(JtiRefusal::Full);
        }
        self.by_expiry.insert((exp, key.0.clone(), key.1.clone()));
        self.seen.insert(key);
        Ok(())
    }

    /// Entries remembered.
    pub(crate) fn len(&self) -> usize {
        self.seen.len()
    }
}

#[derive(Deserialize)]
struct Header {
    alg: String,
    #[serde(default)]
    kid: Option<String>,
}

#[derive(Deserialize)]
struct Claims {
    #[serde(default)]
    iss: Option<String>,
    #[serde(default)]
    sub: Option<String>,
    #[serde(default)]
    aud: Option<Audience>,
    #[serde(default)]
    exp: Option<u64>,
    #[serde(default)]
    iat: Option<u64>,
    #[serde(default)]
    nbf: Option<u64>,
    #[serde(default)]
    jti: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

fn refuse(description: impl Into<String>) -> OAuthError {
    access_denied(StatusCode::UNAUTHORIZED, description)
}

fn algorithm(alg: &str) -> Option<Algorithm> {
    match alg {
        "RS256" => Some(Algorithm::RS256),
        "RS384" => Some(Algorithm::RS384),
        "PS256" => Some(Algorithm::PS256),
        _ => None,
    }
}

fn decode_part<T: serde::de::DeserializeOwned>(
    part: Option<&str>,
    what: &str,
) -> Result<T, OAuthError> {
    part.and_then(|p| URL_SAFE_NO_PAD.decode(p).ok())
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or_else(|| refuse(format!("Invalid client_assertion: malformed JWT {what}")))
}

fn decoding_key(credential: &Credential) -> Option<DecodingKey> {
    #[derive(Deserialize)]
    struct Rsa {
        n: String,
        e: String,
    }
    let jwk: Rsa = serde_json::from_value(credential.public_jwk.clone()?).ok()?;
    DecodingKey::from_rsa_components(&jwk.n, &jwk.e).ok()
}

/// Whether `expires_at` (RFC 3339 with milliseconds, as stored) is before `now_rfc3339`.
fn expired(credential: &Credential, now_rfc3339: &str) -> bool {
    // Both strings have the same fixed-width format, so they compare as times.
    credential
        .expires_at
        .as_deref()
        .is_some_and(|e| e < now_rfc3339)
}

/// Authenticates a `client_assertion`; answers the client id it proves.
pub(crate) fn authenticate(
    sh: &Shared,
    assertion_type: Option<&str>,
    assertion: Option<&str>,
    client_id_param: Option<&str>,
    has_secret: bool,
) -> Result<String, OAuthError> {
    if assertion_type != Some(JWT_BEARER) {
        return Err(OAuthError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            format!("client_assertion_type must be {JWT_BEARER}"),
        ));
    }
    let Some(assertion) = assertion else {
        return Err(OAuthError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Missing required parameter: client_assertion",
        ));
    };
    if has_secret {
        return Err(OAuthError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "client_secret must not be sent with client_assertion",
        ));
    }
    if assertion.len() > MAX_ASSERTION_BYTES {
        return Err(refuse(format!(
            "Invalid client_assertion: longer than {MAX_ASSERTION_BYTES} bytes"
        )));
    }
    let mut parts = assertion.split('.');
    let header: Header = decode_part(parts.next(), "header")?;
    let claims: Claims = decode_part(parts.next(), "payload")?;
    if header.alg.chars().count() > MAX_ALG_CHARS {
        return Err(refuse("Invalid client_assertion: alg is too long"));
    }
    let alg = algorithm(&header.alg).ok_or_else(|| {
        refuse(format!(
            "Invalid client_assertion: unsupported alg {}; use RS256, RS384 or PS256",
            header.alg
        ))
    })?;
    let (Some(iss), Some(sub)) = (claims.iss.as_deref(), claims.sub.as_deref()) else {
        return Err(refuse("Invalid client_assertion: iss and sub are required"));
    };
    if iss != sub {
        return Err(refuse(
            "Invalid client_assertion: iss and sub must both be the client id",
        ));
    }
    if iss.chars().count() > MAX_CLAIM_CHARS {
        return Err(refuse("Invalid client_assertion: iss is too long"));
    }
    if client_id_param.is_some_and(|c| c != iss) {
        return Err(refuse(
            "Invalid client_assertion: client_id does not match iss",
        ));
    }
    let now_rfc3339 = crate::credentials::rfc3339(sh.clock.wall());
    let candidates: Vec<Credential> = {
        let store = lock(&sh.store);
        let client = store
            .clients
            .get(iss)
            .ok_or_else(|| refuse("Unauthorized"))?;
        let listed = client
            .get("client_authentication_methods")
            .and_then(|m| m.get("private_key_jwt"))
            .and_then(|p| p.get("credentials"))
            .and_then(Value::as_array)
            .ok_or_else(|| {
                refuse("Unauthorized: the client does not authenticate with private_key_jwt")
            })?;
        listed
            .iter()
            .filter_map(|item| item.get("id").and_then(Value::as_str))
            .filter_map(|id| store.credential(iss, id))
            .filter(|c| c.alg.as_deref() == Some(header.alg.as_str()))
            .filter(|c| header.kid.is_none() || c.kid == header.kid)
            .cloned()
            .collect()
    };
    let usable: Vec<&Credential> = candidates
        .iter()
        .filter(|c| !expired(c, &now_rfc3339))
        .collect();
    if usable.is_empty() {
        return Err(refuse(if candidates.is_empty() {
            "Invalid client_assertion: no credential of the client matches its alg and kid"
        } else {
            "Invalid client_assertion: the matching credential has expired"
        }));
    }
    // Signature only here: the claims are checked below with Auth0's own rules.
    let mut validation = Validation::new(alg);
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    let verified = usable.iter().any(|c| {
        decoding_key(c).is_some_and(|key| {
            jsonwebtoken::decode::<serde::de::IgnoredAny>(assertion, &key, &validation).is_ok()
        })
    });
    if !verified {
        return Err(refuse("Invalid client_assertion: invalid signature"));
    }
    let accepted = [
        format!("https://{}/", sh.domain),
        format!("https://{}/oauth/token", sh.domain),
        sh.issuer(),
        format!("{}/oauth/token", sh.base_url),
    ];
    let aud_ok = match &claims.aud {
        Some(Audience::One(a)) => accepted.contains(a),
        Some(Audience::Many(list)) => list.iter().any(|a| accepted.contains(a)),
        None => false,
    };
    if !aud_ok {
        return Err(refuse(format!(
            "Invalid client_assertion: aud must be https://{}/",
            sh.domain
        )));
    }
    let now = sh.clock.since_epoch().as_secs();
    let Some(exp) = claims.exp else {
        return Err(refuse("Invalid client_assertion: exp is required"));
    };
    if exp <= now {
        return Err(refuse("Invalid client_assertion: expired"));
    }
    if exp > now + MAX_LIFETIME_SECS + SKEW_SECS {
        return Err(refuse(
            "Invalid client_assertion: exp is more than 5 minutes in the future",
        ));
    }
    if claims
        .iat
        .into_iter()
        .chain(claims.nbf)
        .any(|t| t > now + SKEW_SECS)
    {
        return Err(refuse(
            "Invalid client_assertion: iat or nbf is in the future",
        ));
    }
    let Some(jti) = claims.jti.as_deref().filter(|j| !j.is_empty()) else {
        return Err(refuse("Invalid client_assertion: jti is required"));
    };
    if jti.chars().count() > MAX_CLAIM_CHARS {
        return Err(refuse("Invalid client_assertion: jti is too long"));
    }
    match lock(&sh.jtis).use_once(iss, jti, exp, now) {
        Ok(()) => Ok(iss.to_owned()),
        Err(JtiRefusal::Replayed) => Err(refuse(
            "Invalid client_assertion: jti has already been used",
        )),
        Err(JtiRefusal::Full) => Err(OAuthError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_requests",
            "Too many client assertions in flight",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jti_cache_refuses_replays_and_forgets_expired_entries() {
        let mut c = JtiCache::default();
        assert_eq!(c.use_once("a", "1", 100, 50), Ok(()));
        assert_eq!(c.use_once("a", "1", 100, 60), Err(JtiRefusal::Replayed));
        // Another client may use the same jti.
        assert_eq!(c.use_once("b", "1", 100, 60), Ok(()));
        assert_eq!(c.len(), 2);
        // Once expired, entries are forgotten (an expired assertion is refused by exp anyway).
        assert_eq!(c.use_once("a", "2", 300, 101), Ok(()));
        assert_eq!(c.len(), 1);
    }
}
