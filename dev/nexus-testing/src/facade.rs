//! The facade's callers in tests: its credentials Secret (digests of application tokens, Basic
//! users with argon2 hashes) and JWT claims for the simulator's issuer. Plain JSON, so that the
//! facade's own tests can use it without a second copy of the facade crate.

use std::time::Duration;

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, SaltString};
use auth0_sim::SimHandle;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::b64;

/// The audience (`aud`) the facade of the tests accepts.
pub const AUDIENCE: &str = "https://nexus.example/api";

/// Lowercase hex SHA-256 of `text` (how the credentials Secret lists application tokens).
pub fn sha256_hex(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// An argon2id PHC string of `password` with a random salt.
pub fn password_hash(password: &str) -> String {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .expect("hash")
        .to_string()
}

/// One entry of `users.json`.
pub fn user(username: &str, password: &str, permissions: &[&str], tenants: &[&str]) -> Value {
    json!({
        "username": username, "passwordHash": password_hash(password),
        "permissions": permissions, "tenants": tenants,
    })
}

/// The facade's credentials Secret `namespace/name`: the digests of `application_tokens`
/// (after a comment line, as an administrator may write one) and, when given, `users.json`.
pub fn credentials_secret(
    namespace: &str,
    name: &str,
    application_tokens: &[&str],
    users: Option<&Value>,
) -> Value {
    let mut tokens = String::from("# facade tokens\n");
    for token in application_tokens {
        tokens.push_str(&sha256_hex(token));
        tokens.push('\n');
    }
    let mut data = json!({"application-tokens": b64(&tokens)});
    if let Some(users) = users {
        data["users.json"] = json!(b64(&users.to_string()));
    }
    json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace},
        "data": data,
    })
}

/// Seconds since the Unix epoch (JWT time claims).
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64
}

/// Claims of a JWT from `sim`'s issuer for [`AUDIENCE`]: `subject`, `permissions` and
/// `tenants`, valid from 5 s ago for `lifetime`.
pub fn claims(
    sim: &SimHandle,
    subject: &str,
    permissions: &[&str],
    tenants: &[&str],
    lifetime: Duration,
) -> Value {
    let now = now();
    json!({
        "iss": sim.issuer(), "aud": AUDIENCE, "sub": subject,
        "iat": now, "nbf": now - 5, "exp": now + lifetime.as_secs() as i64,
        "permissions": permissions, "tenants": tenants,
    })
}
