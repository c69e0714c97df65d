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
    /// The private key of a `privateKeyJwt` client and its kid, when it has one.
    pub assertion: Option<AssertionKey>,
}

/// The private key (PEM) of a `privateKeyJwt` client and its key id. `Debug` shows the kid only.
#[derive(Clone)]
pub struct AssertionKey {
    /// RFC 7638 thumbprint of the public key.
    pub kid: String,
    /// PKCS #8 PEM.
    pub pem: auth0_mgmt::SecretString,
}

impl std::fmt::Debug for AssertionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AssertionKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
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
            assertion: None,
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
            .field("assertion", &self.assertion)
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
    if let Some(key) = &credentials.assertion {
        data.insert(
            keys.client_assertion_key.clone(),
            ByteString(key.pem.expose().as_bytes().to_vec()),
        );
        data.insert(
            keys.client_assertion_kid.clone(),
            ByteString(key.kid.as_bytes().to_vec()),
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
    owned_by(&secret.metadata, owner)
}

fn owned_by(metadata: &ObjectMeta, owner: &AuthClient) -> bool {
    let Some(uid) = owner.uid() else {
        return false;
    };
    metadata
        .owner_references
        .iter()
        .flatten()
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

/// Reads the private key and kid back from an owned Secret, if it holds a key (the kid is
/// empty when its entry is missing).
pub fn stored_assertion(secret: &Secret, owner: &AuthClient) -> Option<AssertionKey> {
    let keys = &owner.spec.secret.keys;
    let data = secret.data.as_ref()?;
    let text = |key: &str| {
        data.get(key)
            .and_then(|v| String::from_utf8(v.0.clone()).ok())
            .filter(|s| !s.is_empty())
    };
    // A key without its kid entry is still a key (the kid is its thumbprint, restored by
    // the key pass): the kid is empty then.
    Some(AssertionKey {
        pem: auth0_mgmt::SecretString::new(text(&keys.client_assertion_key)?),
        kid: text(&keys.client_assertion_kid).unwrap_or_default(),
    })
}

/// A digest (the first 16 bytes of a SHA-256), what the cache keeps instead of a value.
pub type ValueDigest = [u8; 16];

/// A digest of one label, annotation or data entry (the first 8 bytes of a SHA-256). The
/// cache keeps one per entry, compared against what the operator would write; a false match
/// needs a 64-bit second preimage of SHA-256 and would only leave a label or value unrepaired
/// (tampering is detected by the content hash, [`ObservedSecret::intact`], over the full data).
pub type ItemDigest = [u8; 8];

/// The AuthClient that controls a Secret (its controller owner reference).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Controller {
    /// The AuthClient's name.
    pub name: Box<str>,
    /// A digest of its uid (16 bytes inline, where the uid's text took a 48-byte allocation).
    pub(crate) uid: ValueDigest,
}

impl Controller {
    /// Whether the controlling AuthClient's uid is `uid`.
    pub fn has_uid(&self, uid: &str) -> bool {
        self.uid == uid_digest(uid)
    }
}

fn uid_digest(uid: &str) -> ValueDigest {
    digest_of(&[b"uid", uid.as_bytes()])
}

/// An owned Secret as the controller observes it: its name and namespace, the AuthClient
/// controlling it, and digests instead of its labels, annotations, owner references and data,
/// with whether the data still match the content-hash annotation. The owned-Secret cache
/// keeps it packed (`crate::owned_secrets`). It never holds a credential; a tampered Secret
/// (data that no longer match the hash the operator wrote) is recognised without its data,
/// and repaired with the secret from Auth0.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ObservedSecret {
    /// The Secret's name.
    pub(crate) name: Box<str>,
    /// Its namespace.
    pub(crate) namespace: Box<str>,
    /// The controller owner reference, when it names an AuthClient.
    pub controller: Option<Controller>,
    /// A digest of the owner references and of the sorted data keys.
    pub(crate) frame: ValueDigest,
    /// Sorted digests of each label and each annotation (key and value).
    pub(crate) pairs: Box<[ItemDigest]>,
    /// Sorted digests of each data key with its value.
    pub(crate) data: Box<[ItemDigest]>,
    /// Whether the data match the content-hash annotation (as the operator wrote them).
    pub intact: bool,
    /// The Secret has more than [`MAX_DIGESTS`] labels, annotations and data entries: no
    /// label or annotation digest is kept (and no data digest beyond that number), and it is
    /// never up to date (a pass rewrites it, keeping its client secret when intact).
    pub(crate) overflow: bool,
}

/// The most digests an observed Secret keeps (labels, annotations and data entries together):
/// what the operator writes needs a few dozen; a team cannot grow the cache beyond this per
/// Secret by labelling one (the memory of each cached Secret stays bounded).
pub const MAX_DIGESTS: usize = 256;

fn digest_of(parts: &[&[u8]]) -> ValueDigest {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part);
    }
    let full = hasher.finalize();
    let mut out = [0; 16];
    out.copy_from_slice(&full[..16]);
    out
}

fn item_digest(parts: &[&[u8]]) -> ItemDigest {
    let full = digest_of(parts);
    let mut out = [0; 8];
    out.copy_from_slice(&full[..8]);
    out
}

fn sorted(mut digests: Vec<ItemDigest>) -> Box<[ItemDigest]> {
    digests.sort_unstable();
    digests.into_boxed_slice()
}

fn label_digest(key: &str, value: &str) -> ItemDigest {
    item_digest(&[b"label", key.as_bytes(), value.as_bytes()])
}

fn annotation_digest(key: &str, value: &str) -> ItemDigest {
    item_digest(&[b"annotation", key.as_bytes(), value.as_bytes()])
}

fn data_digest(key: &str, value: &[u8]) -> ItemDigest {
    item_digest(&[key.as_bytes(), value])
}

/// A digest of the owner references and of the set of data keys (`keys` in any order): what
/// both up-to-date checks compare as a whole.
fn frame_digest<'a>(
    owners: Option<&Vec<OwnerReference>>,
    keys: impl Iterator<Item = &'a String>,
) -> ValueDigest {
    let owners = serde_json::to_vec(&owners).unwrap_or_default();
    let mut keys: Vec<&[u8]> = keys.map(|key| key.as_bytes()).collect();
    keys.sort_unstable();
    keys.dedup();
    let mut parts: Vec<&[u8]> = vec![b"owners", &owners, b"keys"];
    parts.extend(keys);
    digest_of(&parts)
}

impl ObservedSecret {
    /// What the cache keeps of `secret` (computed once, when the watch delivers it). A Secret
    /// no AuthClient controls keeps its name, namespace and [`Self::intact`] only (a pass
    /// only needs to know it is not its own); one with more than [`MAX_DIGESTS`] entries is
    /// kept as [`Self::overflow`].
    pub fn observe(secret: &Secret) -> Self {
        let empty = BTreeMap::new();
        let data = secret.data.as_ref().unwrap_or(&empty);
        let intact = secret
            .annotations()
            .get(SECRET_HASH_ANNOTATION)
            .is_some_and(|hash| *hash == content_hash(data));
        let source = &secret.metadata;
        let controller = source
            .owner_references
            .iter()
            .flatten()
            .find(|r| r.controller == Some(true) && r.kind == "AuthClient")
            .map(|r| Controller {
                name: r.name.as_str().into(),
                uid: uid_digest(&r.uid),
            });
        let mut observed = Self {
            name: source.name.as_deref().unwrap_or_default().into(),
            namespace: source.namespace.as_deref().unwrap_or_default().into(),
            controller,
            intact,
            ..Self::default()
        };
        if observed.controller.is_none() {
            return observed;
        }
        let labels = source.labels.as_ref().map_or(0, BTreeMap::len);
        let annotations = source.annotations.as_ref().map_or(0, BTreeMap::len);
        observed.overflow = labels + annotations + data.len() > MAX_DIGESTS;
        if !observed.overflow {
            let pairs = source
                .labels
                .iter()
                .flatten()
                .map(|(k, v)| label_digest(k, v))
                .chain(
                    source
                        .annotations
                        .iter()
                        .flatten()
                        .map(|(k, v)| annotation_digest(k, v)),
                )
                .collect();
            observed.pairs = sorted(pairs);
        }
        if data.len() <= MAX_DIGESTS {
            observed.data = sorted(data.iter().map(|(k, v)| data_digest(k, &v.0)).collect());
        }
        observed.frame = frame_digest(source.owner_references.as_ref(), data.keys());
        observed
    }

    /// The Secret's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The Secret's namespace.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// Whether `owner` controls this Secret (owner reference with its uid).
    pub fn is_owned_by(&self, owner: &AuthClient) -> bool {
        owner
            .uid()
            .is_some_and(|uid| self.controller.as_ref().is_some_and(|c| c.has_uid(&uid)))
    }

    /// Whether this Secret already is `desired` (built with the client secret Auth0 returned):
    /// intact, the same data, the same owner, and every desired label and annotation (other
    /// managers may add their own).
    pub fn is_up_to_date(&self, desired: &Secret) -> bool {
        let data = desired.data.clone().unwrap_or_default();
        let want = sorted(data.iter().map(|(k, v)| data_digest(k, &v.0)).collect());
        self.intact && self.data == want && self.metadata_covers(desired, &data, None)
    }

    /// Whether this Secret already is what `owner` wants, with the client secret it holds:
    /// intact (so its client secret is the one the operator wrote), every other value as
    /// desired, the same keys, owner, labels and annotations. `desired` is built with any
    /// client secret; its value and the content hash are not compared.
    pub fn is_up_to_date_keeping_its_secret(&self, owner: &AuthClient, desired: &Secret) -> bool {
        let secret_key = &owner.spec.secret.keys.client_secret;
        let private_key = &owner.spec.secret.keys.client_assertion_key;
        let data = desired.data.clone().unwrap_or_default();
        let same_values = data
            .iter()
            .filter(|(key, _)| *key != secret_key && *key != private_key)
            .all(|(key, value)| self.data.binary_search(&data_digest(key, &value.0)).is_ok());
        self.intact
            && same_values
            && self.metadata_covers(desired, &data, Some(SECRET_HASH_ANNOTATION))
    }

    /// Whether the data hold `value` under `key` (compared by digest; the cache keeps no value).
    pub fn holds(&self, key: &str, value: &str) -> bool {
        self.data
            .binary_search(&data_digest(key, value.as_bytes()))
            .is_ok()
    }

    /// The same owner references and data keys as `desired`, and every desired label and
    /// annotation (but `except_annotation`); never for a Secret kept as [`Self::overflow`].
    fn metadata_covers(
        &self,
        desired: &Secret,
        data: &BTreeMap<String, ByteString>,
        except_annotation: Option<&str>,
    ) -> bool {
        let has = |digest: ItemDigest| self.pairs.binary_search(&digest).is_ok();
        let meta = &desired.metadata;
        !self.overflow
            && self.frame == frame_digest(meta.owner_references.as_ref(), data.keys())
            && meta
                .labels
                .iter()
                .flatten()
                .all(|(k, v)| has(label_digest(k, v)))
            && meta
                .annotations
                .iter()
                .flatten()
                .filter(|(k, _)| Some(k.as_str()) != except_annotation)
                .all(|(k, v)| has(annotation_digest(k, v)))
    }
}

/// Whether the data of `secret` match its content-hash annotation (as the operator wrote them).
pub fn is_intact(secret: &Secret) -> bool {
    ObservedSecret::observe(secret).intact
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

    fn owner() -> AuthClient {
        let mut client = crate::testing::client();
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
        let observed = ObservedSecret::observe(&secret);
        assert!(observed.intact && observed.is_owned_by(&owner));
        assert!(observed.is_up_to_date(&secret));
        let mut extra = secret.clone();
        extra
            .metadata
            .labels
            .get_or_insert_with(Default::default)
            .insert("added-by".into(), "someone".into());
        assert!(
            ObservedSecret::observe(&extra).is_up_to_date(&secret),
            "other labels are allowed"
        );
        let mut tampered = secret.clone();
        if let Some(data) = tampered.data.as_mut() {
            data.insert("AUTH0_CLIENT_SECRET".into(), ByteString(b"x".to_vec()));
        }
        let tampered = ObservedSecret::observe(&tampered);
        assert!(!tampered.intact && !tampered.is_up_to_date(&secret));
        assert!(
            !tampered.is_up_to_date_keeping_its_secret(&owner, &secret),
            "a tampered Secret's client secret is not trusted"
        );
    }

    #[test]
    fn the_cache_holds_digests_not_credentials() {
        let owner = owner();
        let secret = build_secret(&owner, &credentials()).expect("secret");
        let observed = ObservedSecret::observe(&secret);
        assert!(!format!("{observed:?}").contains("s3cr3t-value"));
        assert_eq!(observed.data.len(), 4);
        // Without the client secret: the same Secret with any secret value is up to date...
        let mut other = credentials();
        other.client_secret = "unknown".into();
        let without_secret = build_secret(&owner, &other).expect("desired");
        assert!(observed.is_up_to_date_keeping_its_secret(&owner, &without_secret));
        assert!(!observed.is_up_to_date(&without_secret), "but not with it");
        // ...and one whose domain, labels or owner changed is not.
        let moved = Credentials {
            domain: "login.acme.com".into(),
            ..credentials()
        };
        let desired = build_secret(&owner, &moved).expect("desired");
        assert!(!observed.is_up_to_date_keeping_its_secret(&owner, &desired));
        let mut relabelled = owner.clone();
        relabelled
            .spec
            .secret
            .labels
            .insert("team".into(), "b".into());
        let desired = build_secret(&relabelled, &credentials()).expect("desired");
        assert!(!observed.is_up_to_date_keeping_its_secret(&relabelled, &desired));
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
