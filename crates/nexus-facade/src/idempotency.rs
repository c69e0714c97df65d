//! Idempotency: how a request maps onto one AuthClient name (an `Idempotency-Key`, or the
//! client name), and the annotations that record the basis and the request body's hash.

// `Problem` (~200 bytes) is the error of every step; it is built at most once per request, so
// boxing it would only add noise.
#![allow(clippy::result_large_err)]

use axum::http::HeaderMap;
use sha2::{Digest, Sha256};

use crate::auth::Principal;
use crate::names::{hex, slug};
use crate::problem::Problem;
use nexus_crd::NexusClient;

/// Annotation: what the object name was derived from (`key:<sha256>` or `name:<sha256>`).
pub const IDEMPOTENCY_ANNOTATION: &str = "auth.nexus.dev/facade-idempotency";
/// Annotation: SHA-256 of the canonical request body.
pub const REQUEST_HASH_ANNOTATION: &str = "auth.nexus.dev/facade-request-hash";

pub(crate) fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, Problem> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let bad = || {
        Problem::invalid_field(
            "Idempotency-Key",
            "must be 1 to 255 visible ASCII characters",
        )
    };
    let text = value.to_str().map_err(|_| bad())?;
    if text.is_empty() || text.len() > 255 || !text.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
        return Err(bad());
    }
    Ok(Some(text.to_owned()))
}

/// How a request maps onto one AuthClient.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// Name of the AuthClient.
    pub object_name: String,
    /// `key:<sha256>` or `name:<sha256>`.
    pub basis: String,
    /// Whether an Idempotency-Key was given.
    pub keyed: bool,
    /// SHA-256 hex of the canonical client body.
    pub request_hash: String,
    /// Tenant.
    pub tenant: String,
}

impl Identity {
    /// With an Idempotency-Key: `req-<16 hex of sha256(tenant, caller, key)>` (keys are scoped
    /// to the caller). Without: `<slug of name>-<10 hex of sha256(tenant, name)>`, so the same
    /// name in the same tenant is always the same object.
    pub fn new(
        tenant: &str,
        principal: &Principal,
        key: Option<&str>,
        client: &NexusClient,
    ) -> Self {
        let request_hash = hex(&Sha256::digest(canonical(client)));
        match key {
            Some(key) => {
                let digest = hex(&Sha256::digest(format!(
                    "key\0{tenant}\0{}\0{key}",
                    principal.id
                )));
                Self {
                    object_name: format!("req-{}", &digest[..16]),
                    basis: format!("key:{digest}"),
                    keyed: true,
                    request_hash,
                    tenant: tenant.to_owned(),
                }
            }
            None => {
                let digest = hex(&Sha256::digest(format!("name\0{tenant}\0{}", client.name)));
                Self {
                    object_name: format!("{}-{}", slug(&client.name, 40), &digest[..10]),
                    basis: format!("name:{digest}"),
                    keyed: false,
                    request_hash,
                    tenant: tenant.to_owned(),
                }
            }
        }
    }
}

fn canonical(client: &NexusClient) -> Vec<u8> {
    serde_json::to_vec(client).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth;
    use crate::fixtures::client;

    fn principal(id: &str) -> Principal {
        Principal {
            id: id.into(),
            scheme: auth::Scheme::Basic,
            permissions: Default::default(),
            tenants: Default::default(),
        }
    }

    #[test]
    fn identity_is_deterministic_and_scoped() {
        let a = Identity::new("t1", &principal("basic:a"), None, &client("Billing App"));
        let b = Identity::new("t1", &principal("basic:b"), None, &client("Billing App"));
        assert_eq!(
            a.object_name, b.object_name,
            "same tenant + name = same object"
        );
        assert!(a.object_name.starts_with("billing-app-"));
        assert_eq!(a.object_name.len(), "billing-app-".len() + 10);
        let other_tenant = Identity::new("t2", &principal("basic:a"), None, &client("Billing App"));
        assert_ne!(a.object_name, other_tenant.object_name);
        let k1 = Identity::new("t1", &principal("basic:a"), Some("k"), &client("x"));
        let k2 = Identity::new("t1", &principal("basic:a"), Some("k"), &client("y"));
        assert_eq!(k1.object_name, k2.object_name, "key decides, not the body");
        assert_ne!(k1.request_hash, k2.request_hash);
        let k3 = Identity::new("t1", &principal("basic:b"), Some("k"), &client("x"));
        assert_ne!(k1.object_name, k3.object_name, "keys are per caller");
    }
}
