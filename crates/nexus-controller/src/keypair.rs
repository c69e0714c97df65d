//! Key pairs for `private_key_jwt`, generated in-process with the `rsa` crate (RustCrypto):
//! 2048-bit RSA for every algorithm Auth0 accepts for a `public_key` credential (RS256, RS384,
//! PS256). The private key leaves this module only as the PEM written into the client's Secret;
//! `Debug` never shows it.

use auth0_mgmt::SecretString;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
use rsa::traits::PublicKeyParts;
use sha2::{Digest, Sha256};

/// RSA modulus size.
pub const RSA_BITS: usize = 2048;

/// Why no key pair could be made.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// RSA key generation failed.
    #[error("generating an RSA key pair failed: {0}")]
    Generate(#[source] rsa::Error),
    /// PEM encoding failed.
    #[error("encoding the key as PEM failed: {0}")]
    Encode(String),
}

/// A generated key pair.
pub struct KeyPair {
    /// RFC 7638 thumbprint of the public key (what Auth0 answers as the credential's `kid`).
    pub kid: String,
    /// `RS256`, `RS384` or `PS256`.
    pub alg: &'static str,
    /// The public key (SPKI PEM): the only part sent to Auth0.
    pub public_pem: String,
    /// The private key (PKCS #8 PEM): written into the Secret, nowhere else.
    pub private_pem: SecretString,
}

impl std::fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyPair")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

/// RFC 7638 thumbprint (SHA-256, base64url without padding) of an RSA public key.
pub fn thumbprint(key: &rsa::RsaPublicKey) -> String {
    let canonical = format!(
        r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#,
        URL_SAFE_NO_PAD.encode(key.e().to_bytes_be()),
        URL_SAFE_NO_PAD.encode(key.n().to_bytes_be())
    );
    URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
}

/// The RFC 7638 thumbprint of the public half of a PKCS #8 PEM private key (`None` when it is
/// not one: a Secret's content is the team's to write).
pub fn thumbprint_of_private_pem(pem: &str) -> Option<String> {
    use rsa::pkcs8::DecodePrivateKey;
    let private = rsa::RsaPrivateKey::from_pkcs8_pem(pem).ok()?;
    Some(thumbprint(&rsa::RsaPublicKey::from(&private)))
}

/// The algorithms a key pair is made for.
pub const ALGORITHMS: [&str; 3] = ["RS256", "RS384", "PS256"];

/// The public half (SPKI PEM) and RFC 7638 thumbprint of a PKCS #8 PEM private key (`None`
/// when it is not one), to register a key the Secret holds again.
pub fn public_of_private_pem(pem: &str) -> Option<(String, String)> {
    use rsa::pkcs8::DecodePrivateKey;
    let private = rsa::RsaPrivateKey::from_pkcs8_pem(pem).ok()?;
    let public = rsa::RsaPublicKey::from(&private);
    let public_pem = public.to_public_key_pem(LineEnding::LF).ok()?;
    Some((public_pem, thumbprint(&public)))
}

/// Generates a key pair for `alg` (CPU-bound: call it on a blocking thread).
pub fn generate(alg: &'static str) -> Result<KeyPair, KeyError> {
    let private =
        rsa::RsaPrivateKey::new(&mut rand::thread_rng(), RSA_BITS).map_err(KeyError::Generate)?;
    let public = rsa::RsaPublicKey::from(&private);
    let private_pem = private
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|e| KeyError::Encode(e.to_string()))?;
    let public_pem = public
        .to_public_key_pem(LineEnding::LF)
        .map_err(|e| KeyError::Encode(e.to_string()))?;
    Ok(KeyPair {
        kid: thumbprint(&public),
        alg,
        public_pem,
        private_pem: SecretString::new(private_pem.as_str()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey};

    #[test]
    fn pem_halves_match_and_debug_hides_the_private_key() {
        let pair = generate("RS256").expect("key");
        let private = rsa::RsaPrivateKey::from_pkcs8_pem(pair.private_pem.expose()).expect("pkcs8");
        let public = rsa::RsaPublicKey::from_public_key_pem(&pair.public_pem).expect("spki");
        assert_eq!(rsa::RsaPublicKey::from(&private), public);
        assert_eq!(pair.kid, thumbprint(&public));
        assert_eq!(pair.kid.len(), 43);
        assert_eq!(
            thumbprint_of_private_pem(pair.private_pem.expose()).as_deref(),
            Some(pair.kid.as_str())
        );
        assert_eq!(thumbprint_of_private_pem("not a key"), None);
        assert!(pair.public_pem.starts_with("-----BEGIN PUBLIC KEY-----"));
        let debug = format!("{pair:?}");
        assert!(!debug.contains("PRIVATE"), "{debug}");
    }
}
