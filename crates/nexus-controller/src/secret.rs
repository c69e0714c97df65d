//! Pure construction of the credentials Secret of an `AuthClient`.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::{Resource, ResourceExt};
use sha2::{Digest, Sha256};

use nexus_crd::{
    AuthClient, AuthTenant, MANAGED_BY_LABEL, MANAGED_BY_VALUE, SECRET_HASH_ANNOTATION,
};

/// Label on owned Secrets naming the `AuthClient` they belong to.
pub const AUTHCLIENT_LABEL: &str = "auth.nexus.dev/authclient";

/// What goes into the Secret. `Debug` never shows the client secret.
#[derive(Clone)]
pub struct Credentials {
    /// Auth0 client id.
    pub client_id: String,
    /// Auth0 client secret.
    pub client_secret: String,
    /// What the Secret advertises as the tenant's domain ([`AuthTenant::advertised_domain`]).
    pub domain: String,
    /// What the Secret advertises as the issuer ([`AuthTenant::issuer_base_url`]).
    pub issuer_base_url: String,
}

impl Credentials {
    /// A client's credentials with the domain and issuer the tenant advertises
    /// (`spec.issuerBaseUrl`, or `https://{domain}/`).
    pub fn for_tenant(tenant: &AuthTenant, client_id: String, client_secret: String) -> Self {
        Self {
            client_id,
            client_secret,
            domain: tenant.advertised_domain(),
            issuer_base_url: tenant.issuer_base_url(),
        }
    }
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("client_id", &self.client_id)
            .field("client_secret", &"[redacted]")
            .field("domain", &self.domain)
            .field("issuer_base_url", &self.issuer_base_url)
            .finish()
    }
}

/// Why no Secret could be built.
#[derive(Debug, thiserror::Error)]
pub enum SecretBuildError {
    /// The AuthClient has no uid yet (it was never stored by the API server).
    #[error("AuthClient has no uid")]
    MissingUid,
}

/// The Secret to server-side apply: the four keys (names from `spec.secret.keys`; a fifth, the
/// audience of the first grant, when the client has grants), the user's
/// labels and annotations, the managed-by label the controller watches, a content hash for
/// rollouts, and a controller owner reference to the `AuthClient`.
pub fn build_secret(
    owner: &AuthClient,
    credentials: &Credentials,
) -> Result<Secret, SecretBuildError> {
    let keys = &owner.spec.secret.keys;
    let mut data = BTreeMap::new();
    for (key, value) in [
        (&keys.client_id, credentials.client_id.as_str()),
        (&keys.client_secret, credentials.client_secret.as_str()),
        (&keys.domain, credentials.domain.as_str()),
        (&keys.issuer_base_url, credentials.issuer_base_url.as_str()),
    ] {
        data.insert(key.clone(), ByteString(value.as_bytes().to_vec()));
    }
    if let Some(grant) = owner.spec.grants.first() {
        data.insert(
            keys.audience.clone(),
            ByteString(grant.audience.as_bytes().to_vec()),
        );
    }

    let mut labels = owner.spec.secret.labels.clone();
    labels.insert(MANAGED_BY_LABEL.into(), MANAGED_BY_VALUE.into());
    labels.insert(AUTHCLIENT_LABEL.into(), truncate_label(&owner.name_any()));
    let mut annotations = owner.spec.secret.annotations.clone();
    annotations.insert(SECRET_HASH_ANNOTATION.into(), content_hash(&data));

    Ok(Secret {
        metadata: ObjectMeta {
            name: Some(owner.secret_name()),
            namespace: owner.namespace(),
            labels: Some(labels),
            annotations: Some(annotations),
            owner_references: Some(vec![owner_reference(owner)?]),
            ..Default::default()
        },
        type_: Some("Opaque".into()),
        data: Some(data),
        ..Default::default()
    })
}

/// A controller owner reference to `owner`, so the Secret is garbage-collected with it.
pub fn owner_reference(owner: &AuthClient) -> Result<OwnerReference, SecretBuildError> {
    Ok(OwnerReference {
        api_version: AuthClient::api_version(&()).into_owned(),
        kind: AuthClient::kind(&()).into_owned(),
        name: owner.name_any(),
        uid: owner.uid().ok_or(SecretBuildError::MissingUid)?,
        controller: Some(true),
        block_owner_deletion: Some(true),
    })
}

/// Whether `secret` is controlled by `owner` (owner reference with the same uid).
pub fn is_owned_by(secret: &Secret, owner: &AuthClient) -> bool {
    let Some(uid) = owner.uid() else {
        return false;
    };
    secret
        .owner_references()
        .iter()
        .any(|r| r.uid == uid && r.controller == Some(true))
}

/// Reads the client secret back from an owned Secret, if it holds one for `client_id`.
pub fn stored_credentials(secret: &Secret, owner: &AuthClient, client_id: &str) -> Option<String> {
    let keys = &owner.spec.secret.keys;
    let data = secret.data.as_ref()?;
    let stored_id = data.get(&keys.client_id)?;
    if stored_id.0 != client_id.as_bytes() {
        return None;
    }
    let stored_secret = data.get(&keys.client_secret)?;
    String::from_utf8(stored_secret.0.clone())
        .ok()
        .filter(|s| !s.is_empty())
}

/// Whether `observed` already has everything `desired` sets: the same data, the same owner, and
/// every desired label and annotation (other managers may add their own).
pub fn is_up_to_date(observed: &Secret, desired: &Secret) -> bool {
    let contains_all = |have: Option<&BTreeMap<String, String>>,
                        want: Option<&BTreeMap<String, String>>| {
        let empty = BTreeMap::new();
        let have = have.unwrap_or(&empty);
        want.unwrap_or(&empty)
            .iter()
            .all(|(k, v)| have.get(k) == Some(v))
    };
    observed.data == desired.data
        && observed.metadata.owner_references == desired.metadata.owner_references
        && contains_all(
            observed.metadata.labels.as_ref(),
            desired.metadata.labels.as_ref(),
        )
        && contains_all(
            observed.metadata.annotations.as_ref(),
            desired.metadata.annotations.as_ref(),
        )
}

/// Short, stable hash of the Secret's data (hex), for the content-hash annotation.
pub fn content_hash(data: &BTreeMap<String, ByteString>) -> String {
    let mut hasher = Sha256::new();
    for (key, value) in data {
        hasher.update((key.len() as u64).to_be_bytes());
        hasher.update(key.as_bytes());
        hasher.update((value.0.len() as u64).to_be_bytes());
        hasher.update(&value.0);
    }
    let digest = hasher.finalize();
    digest.iter().take(16).map(|b| format!("{b:02x}")).collect()
}

fn truncate_label(value: &str) -> String {
    value.chars().take(63).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use nexus_crd::{AuthClientSpec, NexusClient};

    fn owner() -> AuthClient {
        let mut client = AuthClient::new(
            "orders",
            AuthClientSpec {
                tenant: "acme".into(),
                client: NexusClient {
                    name: "Orders".into(),
                    app_type: "spa".into(),
                    ..Default::default()
                },
                secret: Default::default(),
                deletion_policy: Default::default(),
                drift_policy: Default::default(),
                adoption_policy: Default::default(),
                settings: None,
                grants: Vec::new(),
                connections: Vec::new(),
            },
        );
        client.metadata.namespace = Some("team-a".into());
        client.metadata.uid = Some("uid-1".into());
        client.spec.secret.labels.insert("team".into(), "a".into());
        client
    }

    fn tenant(issuer_base_url: Option<&str>) -> AuthTenant {
        let spec = serde_json::from_value(serde_json::json!({
            "domain": "acme.eu.auth0.com",
            "issuerBaseUrl": issuer_base_url,
            "credentialsSecretRef": {"namespace": "nexus-system", "name": "m2m"},
        }))
        .expect("tenant spec");
        AuthTenant::new("acme", spec)
    }

    fn credentials() -> Credentials {
        Credentials::for_tenant(&tenant(None), "cid".into(), "s3cr3t-value".into())
    }

    #[test]
    fn secret_advertises_the_tenants_issuer_override() {
        let local = tenant(Some("http://127.0.0.1:8089"));
        let credentials = Credentials::for_tenant(&local, "cid".into(), "s".into());
        let secret = build_secret(&owner(), &credentials).expect("secret");
        let data = secret.data.expect("data");
        let text = |k: &str| String::from_utf8(data[k].0.clone()).expect("utf8");
        assert_eq!(text("AUTH0_DOMAIN"), "127.0.0.1:8089");
        assert_eq!(text("AUTH0_ISSUER_BASE_URL"), "http://127.0.0.1:8089/");
    }

    #[test]
    fn secret_has_four_keys_labels_and_owner() {
        let owner = owner();
        let secret = build_secret(&owner, &credentials()).expect("secret");
        assert_eq!(secret.metadata.name.as_deref(), Some("orders-auth0"));
        assert_eq!(secret.metadata.namespace.as_deref(), Some("team-a"));
        let data = secret.data.clone().expect("data");
        let text = |k: &str| String::from_utf8(data[k].0.clone()).expect("utf8");
        assert_eq!(text("AUTH0_CLIENT_ID"), "cid");
        assert_eq!(text("AUTH0_CLIENT_SECRET"), "s3cr3t-value");
        assert_eq!(text("AUTH0_DOMAIN"), "acme.eu.auth0.com");
        assert_eq!(text("AUTH0_ISSUER_BASE_URL"), "https://acme.eu.auth0.com/");
        let labels = secret.metadata.labels.clone().expect("labels");
        assert_eq!(labels[MANAGED_BY_LABEL], MANAGED_BY_VALUE);
        assert_eq!(labels["team"], "a");
        let refs = secret
            .metadata
            .owner_references
            .clone()
            .expect("owner refs");
        assert_eq!(refs[0].uid, "uid-1");
        assert_eq!(refs[0].kind, "AuthClient");
        assert_eq!(refs[0].api_version, "auth.nexus.dev/v1alpha1");
        assert!(is_owned_by(&secret, &owner));
        assert_eq!(
            stored_credentials(&secret, &owner, "cid").as_deref(),
            Some("s3cr3t-value")
        );
        assert_eq!(stored_credentials(&secret, &owner, "other"), None);
        assert!(is_up_to_date(&secret, &secret));
        let mut extra = secret.clone();
        extra
            .metadata
            .labels
            .get_or_insert_with(Default::default)
            .insert("added-by".into(), "someone".into());
        assert!(is_up_to_date(&extra, &secret), "other labels are allowed");
        let mut tampered = secret.clone();
        if let Some(data) = tampered.data.as_mut() {
            data.insert("AUTH0_CLIENT_SECRET".into(), ByteString(b"x".to_vec()));
        }
        assert!(!is_up_to_date(&tampered, &secret));
    }

    #[test]
    fn a_client_with_grants_advertises_the_first_audience() {
        let mut owner = owner();
        let plain = build_secret(&owner, &credentials()).expect("secret");
        assert!(!plain.data.expect("data").contains_key("AUTH0_AUDIENCE"));
        owner.spec.grants = vec![
            nexus_crd::ClientGrantSpec {
                audience: "https://orders/api".into(),
                scopes: vec!["read:orders".into()],
            },
            nexus_crd::ClientGrantSpec {
                audience: "https://billing/api".into(),
                scopes: vec![],
            },
        ];
        owner.spec.secret.keys.audience = "API_AUDIENCE".into();
        let data = build_secret(&owner, &credentials())
            .expect("secret")
            .data
            .expect("data");
        assert_eq!(data["API_AUDIENCE"].0, b"https://orders/api");
        assert_eq!(data.len(), 5);
    }

    #[test]
    fn hash_changes_with_the_secret_and_debug_redacts() {
        let owner = owner();
        let a = build_secret(&owner, &credentials()).expect("a");
        let mut rotated = credentials();
        rotated.client_secret = "new-secret".into();
        let b = build_secret(&owner, &rotated).expect("b");
        let hash = |s: &Secret| {
            s.metadata.annotations.as_ref().expect("ann")[SECRET_HASH_ANNOTATION].clone()
        };
        assert_ne!(hash(&a), hash(&b));
        assert_eq!(
            hash(&a),
            hash(&build_secret(&owner, &credentials()).expect("again"))
        );
        assert!(!format!("{:?}", credentials()).contains("s3cr3t-value"));
    }

    #[test]
    fn foreign_secret_is_not_owned() {
        let owner = owner();
        let foreign = Secret {
            metadata: ObjectMeta {
                name: Some("orders-auth0".into()),
                ..Default::default()
            },
            ..Default::default()
        };
        assert!(!is_owned_by(&foreign, &owner));
    }

    #[test]
    fn missing_uid_is_an_error() {
        let mut owner = owner();
        owner.metadata.uid = None;
        assert!(build_secret(&owner, &credentials()).is_err());
    }
}
