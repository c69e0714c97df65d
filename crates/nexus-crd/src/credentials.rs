//! How an `AuthClient` authenticates at Auth0's token endpoint (`spec.credentials`) and the key
//! credentials the operator keeps for it (`status.credentials`).
//!
//! With `type: privateKeyJwt` the operator generates an RSA key pair in the cluster, writes the
//! private key (PEM) and its `kid` into the client's Secret, registers only the public key with
//! Auth0 and rotates it without downtime (see `docs/auth0-api.md`, "private_key_jwt").

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// How the client authenticates at the token endpoint.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CredentialsSpec {
    /// `clientSecret` (the default): the client authenticates with the client secret Auth0
    /// generates, which the operator writes into the Secret.
    ///
    /// `privateKeyJwt`: the client authenticates with a JWT signed by a private key (RFC 7523,
    /// Auth0's `private_key_jwt`). The operator generates the key pair in the cluster, writes the
    /// private key (PEM, PKCS #8) and its key id into the Secret (keys
    /// `AUTH0_CLIENT_ASSERTION_KEY` and `AUTH0_CLIENT_ASSERTION_KID` by default) and registers
    /// only the public key with Auth0; the private key never leaves the Secret. Auth0 offers
    /// `private_key_jwt` on Enterprise plans.
    ///
    /// Changing the type of an existing client migrates it in place: the new key is registered
    /// and written into the Secret before the client switches to it, so that at every moment the
    /// Secret holds a credential Auth0 accepts.
    #[serde(default, rename = "type")]
    pub type_: CredentialsType,
    /// Signing algorithm of the key (`privateKeyJwt` only): `RS256` (default), `RS384` or
    /// `PS256`, the algorithms Auth0 accepts for a `public_key` credential. Every algorithm uses
    /// a 2048-bit RSA key. Changing it rotates the key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub algorithm: Option<AssertionAlgorithm>,
    /// When the key is replaced (`privateKeyJwt` only). Without it the key is replaced only
    /// when the rotate annotation (`auth.nexus.dev/rotate-secret`) gets a new value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotation: Option<KeyRotation>,
}

/// The client authentication method.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum CredentialsType {
    /// The client secret.
    #[default]
    ClientSecret,
    /// A private key whose public half is registered with Auth0.
    PrivateKeyJwt,
}

/// Signing algorithm of the key (`privateKeyJwt` only): `RS256` (default), `RS384` or `PS256`,
/// the algorithms Auth0 accepts for a `public_key` credential. Every algorithm uses a 2048-bit
/// RSA key. Changing it rotates the key.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
pub enum AssertionAlgorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    #[default]
    RS256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    RS384,
    /// RSASSA-PSS with SHA-256.
    PS256,
}

impl AssertionAlgorithm {
    /// Auth0's spelling (`alg`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RS256 => "RS256",
            Self::RS384 => "RS384",
            Self::PS256 => "PS256",
        }
    }
}

/// When the private key is replaced.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct KeyRotation {
    /// Replace the key when it is older than this (Go duration, e.g. `720h`; at least `1h`, to
    /// protect the tenant's shared rate limit). The new key is registered and listed with Auth0
    /// before it is written into the Secret, so pods that reload the Secret switch keys without
    /// a failed token request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub every: Option<kube::core::Duration>,
    /// How long the previous key stays valid after the new one is written into the Secret
    /// (Go duration, default `24h`), so pods still holding it keep obtaining tokens until they
    /// reload the Secret. At least `5m` (the kubelet's Secret sync) and shorter than `every`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overlap: Option<kube::core::Duration>,
}

/// Whether `spec` is the default (`clientSecret`, nothing else set): then it is not serialized,
/// so existing objects read back unchanged.
pub fn is_default(spec: &CredentialsSpec) -> bool {
    *spec == CredentialsSpec::default()
}

/// Default of `rotation.overlap`.
pub const DEFAULT_OVERLAP: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// The shortest `rotation.every` the operator accepts (1h). Each rotation costs about eight
/// Management API calls and an RSA key generation on the tenant's rate limit, shared by every
/// team: the operator's protection of that limit, not an Auth0 rule.
pub const MIN_EVERY: std::time::Duration = std::time::Duration::from_secs(3600);

/// The shortest `rotation.overlap` the operator accepts (5m): a mounted Secret reaches pods
/// only after the kubelet's sync period (about a minute, plus its cache TTL), so a shorter
/// overlap retires the old key while pods still sign with it. The operator's rule, not
/// Auth0's.
pub const MIN_OVERLAP: std::time::Duration = std::time::Duration::from_secs(300);

impl CredentialsSpec {
    /// Whether the client authenticates with a private key.
    pub fn is_private_key_jwt(&self) -> bool {
        self.type_ == CredentialsType::PrivateKeyJwt
    }

    /// The signing algorithm (default RS256).
    pub fn algorithm(&self) -> AssertionAlgorithm {
        self.algorithm.unwrap_or_default()
    }

    /// `rotation.every`, if set.
    pub fn every(&self) -> Option<std::time::Duration> {
        self.rotation.as_ref().and_then(|r| r.every).map(Into::into)
    }

    /// `rotation.overlap`, or [`DEFAULT_OVERLAP`].
    pub fn overlap(&self) -> std::time::Duration {
        self.rotation
            .as_ref()
            .and_then(|r| r.overlap)
            .map(Into::into)
            .unwrap_or(DEFAULT_OVERLAP)
    }

    /// Checks what the schema cannot: `algorithm` and `rotation` only with `privateKeyJwt`,
    /// positive durations, `every` at least [`MIN_EVERY`], `overlap` at least [`MIN_OVERLAP`]
    /// and shorter than `every`. The message names the field.
    pub fn validate(&self) -> Result<(), String> {
        if !self.is_private_key_jwt() {
            if self.algorithm.is_some() || self.rotation.is_some() {
                return Err(
                    "spec.credentials.algorithm and spec.credentials.rotation apply only to \
                     type: privateKeyJwt"
                        .into(),
                );
            }
            return Ok(());
        }
        let Some(rotation) = &self.rotation else {
            return Ok(());
        };
        let positive = |d: Option<kube::core::Duration>, field: &str| match d {
            None => Ok(None),
            Some(d) if !d.is_negative() && !std::time::Duration::from(d).is_zero() => {
                Ok(Some(std::time::Duration::from(d)))
            }
            Some(_) => Err(format!(
                "spec.credentials.rotation.{field} must be a positive duration"
            )),
        };
        let every = positive(rotation.every, "every")?;
        let overlap = positive(rotation.overlap, "overlap")?.unwrap_or(DEFAULT_OVERLAP);
        if let Some(every) = every
            && every < MIN_EVERY
        {
            return Err(format!(
                "spec.credentials.rotation.every ({}s) must be at least 1h: each rotation costs \
                 Auth0 calls on the tenant's shared rate limit",
                every.as_secs()
            ));
        }
        if overlap < MIN_OVERLAP {
            return Err(format!(
                "spec.credentials.rotation.overlap ({}s) must be at least 5m: pods read a \
                 rewritten Secret only after the kubelet's sync",
                overlap.as_secs()
            ));
        }
        if let Some(every) = every
            && overlap >= every
        {
            return Err(format!(
                "spec.credentials.rotation.overlap ({}s) must be shorter than rotation.every ({}s)",
                overlap.as_secs(),
                every.as_secs()
            ));
        }
        Ok(())
    }
}

/// The key credentials of a `privateKeyJwt` client, as the operator last recorded them. Only
/// public facts: Auth0's credential id, the key id and times; never key material.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CredentialsStatus {
    /// The key the Secret holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active: Option<KeyCredential>,
    /// The previous key, still listed with Auth0 until `retireAt` so that pods that have not
    /// reloaded the Secret keep obtaining tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retiring: Option<KeyCredential>,
    /// Key id of a key being registered (crash marker: a credential with this kid that the
    /// Secret does not hold is deleted, its private key was never stored).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_kid: Option<String>,
    /// Value of the rotate annotation last acted on for the key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotation_request: Option<String>,
}

/// One registered public key.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct KeyCredential {
    /// Auth0's credential id (`cred_...`).
    pub id: String,
    /// Key id (RFC 7638 thumbprint of the public key; the `kid` of client assertions).
    pub kid: String,
    /// Signing algorithm.
    pub algorithm: String,
    /// When this key was written into the Secret (active) — the rotation schedule counts from
    /// here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<Time>,
    /// When the key is due for replacement (active, with `rotation.every`), or when it is
    /// unlisted and deleted (retiring).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<Time>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(v: serde_json::Value) -> CredentialsSpec {
        serde_json::from_value(v).expect("spec")
    }

    #[test]
    fn defaults_and_validation() {
        let d = spec(serde_json::json!({}));
        assert!(!d.is_private_key_jwt());
        assert_eq!(d.validate(), Ok(()));
        let p = spec(
            serde_json::json!({"type": "privateKeyJwt", "algorithm": "PS256",
            "rotation": {"every": "720h", "overlap": "24h"}}),
        );
        assert!(p.is_private_key_jwt());
        assert_eq!(p.algorithm().as_str(), "PS256");
        assert_eq!(p.every(), Some(std::time::Duration::from_secs(720 * 3600)));
        assert_eq!(p.overlap(), std::time::Duration::from_secs(24 * 3600));
        assert_eq!(p.validate(), Ok(()));
        for bad in [
            serde_json::json!({"algorithm": "RS256"}),
            serde_json::json!({"type": "privateKeyJwt", "rotation": {"every": "1h", "overlap": "2h"}}),
            serde_json::json!({"type": "privateKeyJwt", "rotation": {"every": "12h"}}),
            serde_json::json!({"type": "privateKeyJwt", "rotation": {"every": "0s"}}),
            // The operator's floors (the tenant's shared rate limit, the kubelet's sync).
            serde_json::json!({"type": "privateKeyJwt", "rotation": {"every": "2s", "overlap": "1s"}}),
            serde_json::json!({"type": "privateKeyJwt", "rotation": {"every": "59m", "overlap": "5m"}}),
            serde_json::json!({"type": "privateKeyJwt", "rotation": {"every": "2h", "overlap": "4m"}}),
        ] {
            assert!(spec(bad.clone()).validate().is_err(), "{bad}");
        }
        let floor = spec(serde_json::json!({"type": "privateKeyJwt",
            "rotation": {"every": "1h", "overlap": "5m"}}));
        assert_eq!(floor.validate(), Ok(()));
        let message = spec(serde_json::json!({"type": "privateKeyJwt",
            "rotation": {"every": "2s", "overlap": "1s"}}))
        .validate()
        .expect_err("too short");
        assert!(
            message.contains("rotation.every") && message.contains("1h"),
            "{message}"
        );
        assert!(
            serde_json::from_value::<CredentialsSpec>(serde_json::json!({"algorithm": "ES256"}))
                .is_err()
        );
    }
}
