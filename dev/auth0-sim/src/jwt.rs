//! RS256 signing keys, the JWKS that publishes them, and token minting.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::traits::PublicKeyParts;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::error::SimError;

/// RSA modulus size of generated keys.
pub const RSA_BITS: usize = 2048;

/// One RSA signing key with its public JWK parameters.
pub struct SigningKey {
    kid: String,
    encoding: EncodingKey,
    n: String,
    e: String,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// Generates a fresh 2048-bit key; its `kid` is the RFC 7638 JWK thumbprint.
    pub fn generate() -> Result<Self, SimError> {
        let private = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), RSA_BITS)
            .map_err(|e| SimError::KeyGeneration(e.to_string()))?;
        let der = private
            .to_pkcs1_der()
            .map_err(|e| SimError::KeyGeneration(e.to_string()))?;
        let n = URL_SAFE_NO_PAD.encode(private.n().to_bytes_be());
        let e = URL_SAFE_NO_PAD.encode(private.e().to_bytes_be());
        // RFC 7638: members in lexicographic order, no whitespace.
        let canonical = format!(r#"{{"e":"{e}","kty":"RSA","n":"{n}"}}"#);
        let kid = URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()));
        Ok(Self {
            kid,
            encoding: EncodingKey::from_rsa_der(der.as_bytes()),
            n,
            e,
        })
    }

    /// The key id.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public JWK.
    pub fn jwk(&self) -> Value {
        json!({
            "kty": "RSA",
            "use": "sig",
            "alg": "RS256",
            "kid": self.kid,
            "n": self.n,
            "e": self.e,
        })
    }

    /// Signs `claims` with RS256; the header carries `kid` (the key's own unless overridden).
    pub fn sign(
        &self,
        claims: &Value,
        kid: Option<&str>,
    ) -> Result<String, jsonwebtoken::errors::Error> {
        self.sign_with(Algorithm::RS256, claims, kid)
    }

    /// Signs `claims` with an RSA algorithm (`RS256`, `RS512`, `PS256`, ...) and this key; the
    /// header carries `kid` (the key's own unless overridden).
    pub fn sign_with(
        &self,
        alg: Algorithm,
        claims: &Value,
        kid: Option<&str>,
    ) -> Result<String, jsonwebtoken::errors::Error> {
        let mut header = Header::new(alg);
        header.kid = Some(kid.unwrap_or(&self.kid).to_owned());
        jsonwebtoken::encode(&header, claims, &self.encoding)
    }
}

/// Signs `claims` with HS256 and a shared secret (an HS256 API's `signing_secret`); no `kid`.
pub fn sign_hs256(claims: &Value, secret: &str) -> Result<String, jsonwebtoken::errors::Error> {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
}

/// The keys published in the JWKS; one of them is current (signs new tokens).
#[derive(Debug)]
pub struct KeyRing {
    keys: Vec<Arc<SigningKey>>,
    current: usize,
}

impl KeyRing {
    /// A ring with one fresh key.
    pub fn generate() -> Result<Self, SimError> {
        Ok(Self {
            keys: vec![Arc::new(SigningKey::generate()?)],
            current: 0,
        })
    }

    /// The key that signs new tokens.
    pub fn current(&self) -> Arc<SigningKey> {
        Arc::clone(&self.keys[self.current])
    }

    /// A published key by `kid`.
    pub fn get(&self, kid: &str) -> Option<Arc<SigningKey>> {
        self.keys.iter().find(|k| k.kid == kid).cloned()
    }

    /// The `kid`s in the JWKS, in publication order.
    pub fn kids(&self) -> Vec<String> {
        self.keys.iter().map(|k| k.kid.clone()).collect()
    }

    /// `{"keys": [...]}`.
    pub fn jwks(&self) -> Value {
        json!({ "keys": self.keys.iter().map(|k| k.jwk()).collect::<Vec<_>>() })
    }

    /// Publishes `key`; when `make_current`, it signs new tokens from now on.
    pub fn add(&mut self, key: SigningKey, make_current: bool) -> String {
        let kid = key.kid.clone();
        self.keys.push(Arc::new(key));
        if make_current {
            self.current = self.keys.len() - 1;
        }
        kid
    }

    /// Withdraws a key from the JWKS. The last key cannot be removed; removing the current key
    /// makes the most recently added remaining key current. Returns whether a key was removed.
    pub fn remove(&mut self, kid: &str) -> bool {
        if self.keys.len() <= 1 {
            return false;
        }
        let Some(i) = self.keys.iter().position(|k| k.kid == kid) else {
            return false;
        };
        let current_kid = self.keys[self.current].kid.clone();
        self.keys.remove(i);
        self.current = self
            .keys
            .iter()
            .position(|k| k.kid == current_kid)
            .unwrap_or(self.keys.len() - 1);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{DecodingKey, Validation, jwk::JwkSet};

    #[test]
    fn minted_tokens_verify_against_the_jwks_and_rotation_keeps_old_keys() {
        let mut ring = KeyRing::generate().expect("key generation");
        let first = ring.current();
        let claims = json!({"sub": "u", "exp": 4_000_000_000u64, "aud": "a", "iss": "i"});
        let token = first.sign(&claims, None).expect("sign");

        let added = ring.add(SigningKey::generate().expect("key generation"), true);
        assert_eq!(ring.current().kid(), added);
        assert_eq!(ring.kids().len(), 2);

        let set: JwkSet = serde_json::from_value(ring.jwks()).expect("valid JWKS");
        let header = jsonwebtoken::decode_header(&token).expect("header");
        assert_eq!(header.kid.as_deref(), Some(first.kid()));
        let jwk = set.find(first.kid()).expect("old key still published");
        let key = DecodingKey::from_jwk(jwk).expect("decoding key");
        let mut v = Validation::new(Algorithm::RS256);
        v.set_audience(&["a"]);
        v.set_issuer(&["i"]);
        let data = jsonwebtoken::decode::<Value>(&token, &key, &v).expect("verifies");
        assert_eq!(data.claims["sub"], "u");

        // Removing the current key falls back to the remaining one; the last key stays.
        assert!(ring.remove(&added));
        assert_eq!(ring.current().kid(), first.kid());
        assert!(!ring.remove(first.kid()));
        assert!(ring.get(first.kid()).is_some());
    }
}
