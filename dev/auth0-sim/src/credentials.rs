//! Client credentials (public keys for `private_key_jwt`): `POST|GET /api/v2/clients/{id}/credentials`,
//! `GET|PATCH|DELETE /api/v2/clients/{id}/credentials/{cred_id}`, with the shapes the real
//! service was recorded answering (`shared/recordings/auth0/TestAccClientCredentials*`,
//! `TestAccClientAuthenticationMethodsPrivateKeyJWT`):
//!
//! - `id` is `cred_` and 22 alphanumeric characters;
//! - `kid` is the RFC 7638 JWK thumbprint (SHA-256, base64url) of the RSA public key, whether
//!   the `pem` is a certificate or a public key;
//! - `expires_at` is the certificate's `notAfter` with `parse_expiry_from_cert: true`, else the
//!   `expires_at` sent, else absent; times are RFC 3339 with milliseconds (`...:13.000Z`);
//! - the list is a bare array, even with `include_totals=true`.
//!
//! A client uses a credential once `client_authentication_methods.private_key_jwt.credentials`
//! lists it (`PATCH /api/v2/clients/{id}`, with `token_endpoint_auth_method: null`).

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use rand::Rng;
use rand::distributions::Alphanumeric;
use rsa::RsaPublicKey;
use rsa::pkcs1::DecodeRsaPublicKey;
use rsa::pkcs8::DecodePublicKey;
use rsa::traits::PublicKeyParts;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::error::ApiError;
use super::lock;
use super::server::{Shared, authorize, parse_json, parse_query};
use super::validation::{
    boolean, expect_object, payload_error, reject_unknown, require, string_in,
};

/// Credential types Auth0 knows (`public_key` for `private_key_jwt`; the others are for mTLS).
const CREDENTIAL_TYPES: &[&str] = &["public_key", "x509_cert", "cert_subject_dn"];
/// Signing algorithms of a `public_key` credential.
const ALGS: &[&str] = &["RS256", "RS384", "PS256"];
const CREATE_FIELDS: &[&str] = &[
    "credential_type",
    "name",
    "pem",
    "alg",
    "parse_expiry_from_cert",
    "expires_at",
    "subject_dn",
];
/// Longest `name`.
pub const NAME_MAX_LEN: usize = 128;

/// One stored credential of a client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credential {
    /// `cred_...`.
    pub id: String,
    /// `public_key`, `x509_cert` or `cert_subject_dn`.
    pub credential_type: String,
    /// RFC 7638 thumbprint of the public key (absent for `cert_subject_dn`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    /// Signing algorithm (`public_key` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alg: Option<String>,
    /// Display name, when one was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Subject DN (`cert_subject_dn` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject_dn: Option<String>,
    /// Creation time (RFC 3339, milliseconds).
    pub created_at: String,
    /// Last change (RFC 3339, milliseconds).
    pub updated_at: String,
    /// Expiry (RFC 3339, milliseconds), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    /// The RSA public key as a JWK (`kty`, `n`, `e`): never answered, kept to verify client
    /// assertions.
    #[serde(default, skip_serializing)]
    pub public_jwk: Option<Value>,
}

/// A credential as a [`super::tenant::Snapshot`] keeps it: what the Management API answers,
/// and the public key it never answers (to verify assertions after a restart).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredCredential {
    /// The credential.
    pub credential: Credential,
    /// Its public JWK.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_jwk: Option<Value>,
}

impl From<Credential> for StoredCredential {
    fn from(mut credential: Credential) -> Self {
        let public_jwk = credential.public_jwk.take();
        Self {
            credential,
            public_jwk,
        }
    }
}

impl From<StoredCredential> for Credential {
    fn from(stored: StoredCredential) -> Self {
        Self {
            public_jwk: stored.public_jwk,
            ..stored.credential
        }
    }
}

impl Credential {
    /// The JSON the Management API answers with.
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// A random credential id like Auth0's: `cred_` and 22 alphanumeric characters.
pub fn generate_id() -> String {
    let suffix: String = rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(22)
        .map(char::from)
        .collect();
    format!("cred_{suffix}")
}

// ---------------------------------------------------------------------------------------------
// Times
// ---------------------------------------------------------------------------------------------

/// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Civil date of a day count since 1970-01-01.
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (
        if m <= 2 {
            yoe + era * 400 + 1
        } else {
            yoe + era * 400
        },
        m,
        d,
    )
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` of milliseconds since the epoch.
fn format_millis(ms: i64) -> String {
    let (days, rem) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
    let (y, mo, d) = civil_from_days(days);
    let (h, mi, s, milli) = (
        rem / 3_600_000,
        rem / 60_000 % 60,
        rem / 1000 % 60,
        rem % 1000,
    );
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{milli:03}Z")
}

/// RFC 3339 (UTC, milliseconds) of a wall-clock time.
pub fn rfc3339(t: SystemTime) -> String {
    let ms = match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_millis()).unwrap_or(i64::MAX),
    };
    format_millis(ms)
}

fn digits(s: &str) -> Option<i64> {
    (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

fn millis_of(y: i64, mo: i64, d: i64, h: i64, mi: i64, s: i64, milli: i64) -> Option<i64> {
    let valid = (1..=12).contains(&mo)
        && (1..=31).contains(&d)
        && (0..24).contains(&h)
        && (0..60).contains(&mi)
        && (0..61).contains(&s);
    valid.then(|| days_from_civil(y, mo, d) * 86_400_000 + ((h * 60 + mi) * 60 + s) * 1000 + milli)
}

/// Parses `YYYY-MM-DDTHH:MM:SS[.fff]Z` (UTC) and answers it with milliseconds.
pub fn normalize_date_time(s: &str) -> Option<String> {
    let s = s.strip_suffix('Z').or_else(|| s.strip_suffix('z'))?;
    let (date, time) = s.split_once(['T', 't'])?;
    let mut date = date.split('-');
    let (y, mo, d) = (
        digits(date.next()?)?,
        digits(date.next()?)?,
        digits(date.next()?)?,
    );
    let (time, fraction) = time.split_once('.').unwrap_or((time, ""));
    let mut time = time.split(':');
    let (h, mi, sec) = (
        digits(time.next()?)?,
        digits(time.next()?)?,
        digits(time.next()?)?,
    );
    if date.next().is_some() || time.next().is_some() {
        return None;
    }
    let milli = if fraction.is_empty() {
        0
    } else {
        let f: String = fraction.chars().chain("000".chars()).take(3).collect();
        digits(&f)?
    };
    millis_of(y, mo, d, h, mi, sec, milli).map(format_millis)
}

/// A certificate's `UTCTime` (`YYMMDDHHMMSSZ`) or `GeneralizedTime` (`YYYYMMDDHHMMSSZ`).
fn asn1_time(tag: u8, content: &[u8]) -> Option<String> {
    let s = std::str::from_utf8(content).ok()?.strip_suffix('Z')?;
    let (y, rest) = match tag {
        0x17 if s.len() == 12 => {
            let yy = digits(&s[..2])?;
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, &s[2..])
        }
        0x18 if s.len() >= 14 => (digits(&s[..4])?, &s[4..14]),
        _ => return None,
    };
    let n = |i: usize| digits(rest.get(i..i + 2)?);
    millis_of(y, n(0)?, n(2)?, n(4)?, n(6)?, n(8)?, 0).map(format_millis)
}

// ---------------------------------------------------------------------------------------------
// PEM, DER, thumbprint
// ---------------------------------------------------------------------------------------------

/// One DER element: (tag, content, the whole element, what follows).
type Element<'a> = (u8, &'a [u8], &'a [u8], &'a [u8]);

/// Reads the first DER element of `input`.
fn der(input: &[u8]) -> Option<Element<'_>> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, &rest[n..])
    };
    if rest.len() < len {
        return None;
    }
    let header = input.len() - rest.len();
    Some((tag, &rest[..len], &input[..header + len], &rest[len..]))
}

/// The `SubjectPublicKeyInfo` and `notAfter` of an X.509 certificate.
fn certificate_parts(cert: &[u8]) -> Option<(&[u8], String)> {
    let (0x30, cert, _, _) = der(cert)? else {
        return None;
    };
    let (0x30, tbs, _, _) = der(cert)? else {
        return None;
    };
    let mut rest = tbs;
    let (tag, _, _, after) = der(rest)?;
    if tag == 0xa0 {
        rest = after; // version
    }
    let (_, _, _, rest) = der(rest)?; // serialNumber
    let (_, _, _, rest) = der(rest)?; // signature
    let (_, _, _, rest) = der(rest)?; // issuer
    let (0x30, validity, _, rest) = der(rest)? else {
        return None;
    };
    let (_, _, _, after_not_before) = der(validity)?;
    let (time_tag, not_after, _, _) = der(after_not_before)?;
    let (_, _, _, rest) = der(rest)?; // subject
    let (0x30, _, spki, _) = der(rest)? else {
        return None;
    };
    Some((spki, asn1_time(time_tag, not_after)?))
}

/// The blocks of a PEM text: (label, DER).
fn pem_blocks(pem: &str) -> Vec<(String, Vec<u8>)> {
    let mut blocks = Vec::new();
    let mut lines = pem.lines().map(str::trim);
    while let Some(line) = lines.next() {
        let Some(label) = line
            .strip_prefix("-----BEGIN ")
            .and_then(|l| l.strip_suffix("-----"))
        else {
            continue;
        };
        let end = format!("-----END {label}-----");
        let body: String = lines.by_ref().take_while(|l| *l != end).collect();
        if let Ok(der) = STANDARD.decode(body.as_bytes()) {
            blocks.push((label.to_owned(), der));
        }
    }
    blocks
}

/// What a `pem` holds: the RSA public key and, for a certificate, its `notAfter`.
#[derive(Debug)]
pub struct ParsedPem {
    /// The public key.
    pub key: RsaPublicKey,
    /// `notAfter` of a certificate (RFC 3339, milliseconds).
    pub not_after: Option<String>,
}

/// Parses a certificate, a `PUBLIC KEY` (SPKI) or an `RSA PUBLIC KEY` (PKCS #1) PEM.
pub fn parse_pem(pem: &str) -> Option<ParsedPem> {
    let (label, der) = pem_blocks(pem).into_iter().next()?;
    match label.as_str() {
        "CERTIFICATE" => {
            let (spki, not_after) = certificate_parts(&der)?;
            Some(ParsedPem {
                key: RsaPublicKey::from_public_key_der(spki).ok()?,
                not_after: Some(not_after),
            })
        }
        "PUBLIC KEY" => Some(ParsedPem {
            key: RsaPublicKey::from_public_key_der(&der).ok()?,
            not_after: None,
        }),
        "RSA PUBLIC KEY" => Some(ParsedPem {
            key: RsaPublicKey::from_pkcs1_der(&der).ok()?,
            not_after: None,
        }),
        _ => None,
    }
}

/// The public JWK (`e`, `kty`, `n`) of an RSA key.
pub fn public_jwk(key: &RsaPublicKey) -> Value {
    serde_json::json!({
        "e": URL_SAFE_NO_PAD.encode(key.e().to_bytes_be()),
        "kty": "RSA",
        "n": URL_SAFE_NO_PAD.encode(key.n().to_bytes_be()),
    })
}

/// RFC 7638 JWK thumbprint (SHA-256, base64url without padding) of an RSA key: Auth0's `kid`.
pub fn jwk_thumbprint(key: &RsaPublicKey) -> String {
    let canonical = format!(
        r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#,
        URL_SAFE_NO_PAD.encode(key.e().to_bytes_be()),
        URL_SAFE_NO_PAD.encode(key.n().to_bytes_be())
    );
    URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
}

// ---------------------------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------------------------

fn expires_at(v: &Value) -> Result<String, ApiError> {
    let s = string_in(v, "expires_at", 1, 64)?;
    normalize_date_time(s).ok_or_else(|| {
        payload_error(
            format!("Object didn't pass validation for format date-time: {s}"),
            Some("expires_at"),
        )
    })
}

/// Validates a create body and builds the credential (times from `now`).
pub fn build_created(body: &Value, now: &str) -> Result<Credential, ApiError> {
    let obj = expect_object(body)?;
    reject_unknown(obj, CREATE_FIELDS, None)?;
    require(obj, &["credential_type"], None)?;
    let credential_type = string_in(&obj["credential_type"], "credential_type", 1, 64)?;
    super::validation::check_enum(credential_type, CREDENTIAL_TYPES, "credential_type")?;
    let name = match obj.get("name") {
        Some(v) => Some(string_in(v, "name", 0, NAME_MAX_LEN)?.to_owned()),
        None => None,
    };
    let parse_expiry = match obj.get("parse_expiry_from_cert") {
        Some(v) => boolean(v, "parse_expiry_from_cert")?,
        None => false,
    };
    let sent_expiry = obj.get("expires_at").map(expires_at).transpose()?;
    let mut credential = Credential {
        id: generate_id(),
        credential_type: credential_type.to_owned(),
        kid: None,
        alg: None,
        name,
        subject_dn: None,
        created_at: now.to_owned(),
        updated_at: now.to_owned(),
        expires_at: sent_expiry,
        public_jwk: None,
    };
    if credential_type == "cert_subject_dn" {
        require(obj, &["subject_dn"], None)?;
        credential.subject_dn =
            Some(string_in(&obj["subject_dn"], "subject_dn", 1, 256)?.to_owned());
        return Ok(credential);
    }
    require(obj, &["pem"], None)?;
    let pem = string_in(&obj["pem"], "pem", 1, 4096 * 4)?;
    let parsed = parse_pem(pem).ok_or_else(|| {
        ApiError::invalid_body(
            "The pem must be an X.509 certificate or an RSA public key in PEM format",
        )
    })?;
    if credential_type == "public_key" {
        let alg = match obj.get("alg") {
            Some(v) => string_in(v, "alg", 1, 16)?,
            None => "RS256",
        };
        super::validation::check_enum(alg, ALGS, "alg")?;
        credential.alg = Some(alg.to_owned());
    }
    if parse_expiry {
        credential.expires_at = Some(parsed.not_after.clone().ok_or_else(|| {
            ApiError::invalid_body("parse_expiry_from_cert needs a certificate in pem")
        })?);
    }
    credential.kid = Some(jwk_thumbprint(&parsed.key));
    credential.public_jwk = Some(public_jwk(&parsed.key));
    Ok(credential)
}

// ---------------------------------------------------------------------------------------------
// Routes
// ---------------------------------------------------------------------------------------------

type PathResult<T> = Result<Path<T>, axum::extract::rejection::PathRejection>;

/// 404 for a credential that does not exist (message and code chosen by the simulator).
pub fn inexistent_credential() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "The credential does not exist",
        "inexistent_credential",
    )
}

fn client_must_exist(sh: &Shared, client_id: &str) -> Result<(), ApiError> {
    if lock(&sh.store).clients.get(client_id).is_some() {
        Ok(())
    } else {
        Err(ApiError::inexistent_client())
    }
}

/// `POST /api/v2/clients/{id}/credentials`.
pub(crate) async fn create(
    State(sh): State<Arc<Shared>>,
    headers: HeaderMap,
    path: PathResult<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    authorize(&sh, &headers, &["create:client_credentials"])?;
    let client_id = path
        .map(|Path(id)| id)
        .map_err(|_| ApiError::inexistent_client())?;
    let body = parse_json(&body)?;
    let mut credential = build_created(&body, &rfc3339(sh.clock.wall()))?;
    if let Some(kid) = lock(&sh.next_kid).take() {
        credential.kid = Some(kid);
    }
    {
        let mut store = lock(&sh.store);
        if store.clients.get(&client_id).is_none() {
            return Err(ApiError::inexistent_client());
        }
        store
            .credentials
            .entry(client_id)
            .or_default()
            .push(credential.clone());
    }
    Ok((StatusCode::CREATED, axum::Json(credential.to_json())).into_response())
}

/// `GET /api/v2/clients/{id}/credentials`: a bare array (Auth0 answers one even with
/// `include_totals=true`).
pub(crate) async fn list(
    State(sh): State<Arc<Shared>>,
    headers: HeaderMap,
    path: PathResult<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    authorize(&sh, &headers, &["read:client_credentials"])?;
    parse_query(raw.as_deref(), &["include_totals", "per_page", "page"])?;
    let client_id = path
        .map(|Path(id)| id)
        .map_err(|_| ApiError::inexistent_client())?;
    client_must_exist(&sh, &client_id)?;
    let items: Vec<Value> = lock(&sh.store)
        .credentials
        .get(&client_id)
        .map(|list| list.iter().map(Credential::to_json).collect())
        .unwrap_or_default();
    Ok(axum::Json(Value::Array(items)).into_response())
}

/// `GET /api/v2/clients/{id}/credentials/{cred_id}`.
pub(crate) async fn get_one(
    State(sh): State<Arc<Shared>>,
    headers: HeaderMap,
    path: PathResult<(String, String)>,
) -> Result<Response, ApiError> {
    authorize(&sh, &headers, &["read:client_credentials"])?;
    let (client_id, id) = path.map(|Path(p)| p).map_err(|_| inexistent_credential())?;
    client_must_exist(&sh, &client_id)?;
    let credential = lock(&sh.store)
        .credential(&client_id, &id)
        .cloned()
        .ok_or_else(inexistent_credential)?;
    Ok(axum::Json(credential.to_json()).into_response())
}

/// `PATCH /api/v2/clients/{id}/credentials/{cred_id}`: only `expires_at` can change.
pub(crate) async fn patch(
    State(sh): State<Arc<Shared>>,
    headers: HeaderMap,
    path: PathResult<(String, String)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    authorize(&sh, &headers, &["update:client_credentials"])?;
    let (client_id, id) = path.map(|Path(p)| p).map_err(|_| inexistent_credential())?;
    let body = parse_json(&body)?;
    let obj: &Map<String, Value> = expect_object(&body)?;
    reject_unknown(obj, &["expires_at"], None)?;
    let new_expiry = match obj.get("expires_at") {
        Some(Value::Null) => None,
        Some(v) => Some(expires_at(v)?),
        None => {
            return Err(payload_error(
                "Too few properties defined (0), minimum 1",
                None,
            ));
        }
    };
    client_must_exist(&sh, &client_id)?;
    let now = rfc3339(sh.clock.wall());
    let mut store = lock(&sh.store);
    let credential = store
        .credential_mut(&client_id, &id)
        .ok_or_else(inexistent_credential)?;
    credential.expires_at = new_expiry;
    credential.updated_at = now;
    Ok(axum::Json(credential.to_json()).into_response())
}

/// `DELETE /api/v2/clients/{id}/credentials/{cred_id}`: 204.
pub(crate) async fn delete(
    State(sh): State<Arc<Shared>>,
    headers: HeaderMap,
    path: PathResult<(String, String)>,
) -> Result<Response, ApiError> {
    authorize(&sh, &headers, &["delete:client_credentials"])?;
    let (client_id, id) = path.map(|Path(p)| p).map_err(|_| inexistent_credential())?;
    client_must_exist(&sh, &client_id)?;
    let mut store = lock(&sh.store);
    let list = store
        .credentials
        .get_mut(&client_id)
        .ok_or_else(inexistent_credential)?;
    let before = list.len();
    list.retain(|c| c.id != id);
    if list.len() == before {
        return Err(inexistent_credential());
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(format_millis(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            normalize_date_time("2096-05-13T09:33:13Z").as_deref(),
            Some("2096-05-13T09:33:13.000Z")
        );
        assert_eq!(
            normalize_date_time("2026-05-08T16:00:56.685Z").as_deref(),
            Some("2026-05-08T16:00:56.685Z")
        );
        assert_eq!(normalize_date_time("2096-13-13T09:33:13Z"), None);
        assert_eq!(normalize_date_time("tomorrow"), None);
        assert_eq!(
            asn1_time(0x17, b"330513093313Z").as_deref(),
            Some("2033-05-13T09:33:13.000Z")
        );
        assert_eq!(
            asn1_time(0x18, b"20960513093313Z").as_deref(),
            Some("2096-05-13T09:33:13.000Z")
        );
    }

    #[test]
    fn refuses_what_is_not_a_key() {
        let now = "2026-01-01T00:00:00.000Z";
        for body in [
            serde_json::json!({"credential_type": "public_key", "pem": "nope"}),
            serde_json::json!({"credential_type": "public_key"}),
            serde_json::json!({"credential_type": "carrier_pigeon", "pem": "x"}),
            serde_json::json!({"credential_type": "public_key", "pem": "x", "bogus": 1}),
        ] {
            assert!(build_created(&body, now).is_err(), "{body}");
        }
    }
}
