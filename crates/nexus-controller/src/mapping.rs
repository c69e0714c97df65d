//! Pure mapping between an `AuthClient` spec and the Auth0 client object: the body to create,
//! the ownership tag, and the minimal PATCH that corrects drift.

use serde_json::{Map, Value, json};

use kube::ResourceExt;

use nexus_crd::{AuthClient, NexusClient};

/// `client_metadata` key holding the identity of the cluster that owns the client.
pub const TAG_CLUSTER: &str = "nexus_cluster";
/// `client_metadata` key holding the uid of the owning `AuthClient`.
pub const TAG_OWNER_UID: &str = "nexus_owner_uid";
/// `client_metadata` key holding `namespace/name` of the owner (informational, truncated).
pub const TAG_OWNER_REF: &str = "nexus_owner";

/// Metadata keys of the Nexus contract; the operator owns exactly these and its tags.
pub const NEXUS_METADATA_KEYS: &[&str] = &[
    "owners",
    "productName",
    "client_upn_key",
    "applicationName",
    "manuallyCreated",
];

/// Who owns an Auth0 client: written into its `client_metadata` at creation, so a retry can
/// find a client whose creation was never recorded, and other clusters keep their hands off.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnershipTag {
    /// The operator's cluster identity (`--cluster-id`).
    pub cluster: String,
    /// uid of the `AuthClient`.
    pub owner_uid: String,
    /// `namespace/name` of the `AuthClient`.
    pub owner_ref: String,
}

impl OwnershipTag {
    /// The tag of `owner` in cluster `cluster`; None until the API server gave it a uid.
    pub fn for_client(owner: &AuthClient, cluster: &str) -> Option<Self> {
        Some(Self {
            cluster: cluster.to_owned(),
            owner_uid: owner.uid()?,
            owner_ref: format!(
                "{}/{}",
                owner.namespace().unwrap_or_default(),
                owner.name_any()
            ),
        })
    }

    /// The metadata entries of the tag.
    pub fn to_metadata(&self) -> Map<String, Value> {
        let mut reference = self.owner_ref.clone();
        if reference.len() > 255 {
            let mut cut = 255;
            while !reference.is_char_boundary(cut) {
                cut -= 1;
            }
            reference.truncate(cut);
        }
        let mut map = Map::new();
        map.insert(TAG_CLUSTER.into(), Value::String(self.cluster.clone()));
        map.insert(TAG_OWNER_UID.into(), Value::String(self.owner_uid.clone()));
        map.insert(TAG_OWNER_REF.into(), Value::String(reference));
        map
    }

    /// Whether the Auth0 client's metadata carries exactly this tag.
    pub fn matches(&self, client: &Value) -> bool {
        let metadata = &client["client_metadata"];
        metadata[TAG_CLUSTER].as_str() == Some(self.cluster.as_str())
            && metadata[TAG_OWNER_UID].as_str() == Some(self.owner_uid.as_str())
    }
}

/// Who the Auth0 client's tag names as its owner, if anyone: `(cluster, owner_uid, owner_ref)`.
pub fn tagged_owner(client: &Value) -> Option<(String, String, String)> {
    let metadata = &client["client_metadata"];
    let cluster = metadata[TAG_CLUSTER].as_str()?;
    let uid = metadata[TAG_OWNER_UID].as_str()?;
    let reference = metadata[TAG_OWNER_REF].as_str().unwrap_or_default();
    Some((cluster.to_owned(), uid.to_owned(), reference.to_owned()))
}

/// The Auth0 representation of the spec: every field the spec sets, Auth0-shaped
/// (`keystore_hash` becomes `sha256_cert_fingerprints`, metadata values become strings),
/// with the ownership tag in `client_metadata`. Fields the spec leaves out are not managed.
pub fn desired_state(client: &NexusClient, tag: &OwnershipTag) -> Map<String, Value> {
    let mut body = Map::new();
    body.insert("name".into(), json!(client.name));
    body.insert("app_type".into(), json!(client.app_type));
    let optional_strings = [
        ("description", &client.description),
        ("logo_uri", &client.logo_uri),
        ("initiate_login_uri", &client.initiate_login_uri),
    ];
    for (key, value) in optional_strings {
        if let Some(value) = value {
            body.insert(key.into(), json!(value));
        }
    }
    let lists = [
        ("callbacks", &client.callbacks),
        ("allowed_origins", &client.allowed_origins),
        ("web_origins", &client.web_origins),
        ("allowed_logout_urls", &client.allowed_logout_urls),
        ("grant_types", &client.grant_types),
    ];
    for (key, value) in lists {
        if let Some(value) = value {
            body.insert(key.into(), json!(value));
        }
    }
    if let Some(mobile) = &client.mobile {
        let mut out = Map::new();
        if let Some(ios) = &mobile.ios {
            let mut ios_out = Map::new();
            if let Some(v) = &ios.team_id {
                ios_out.insert("team_id".into(), json!(v));
            }
            if let Some(v) = &ios.app_bundle_identifier {
                ios_out.insert("app_bundle_identifier".into(), json!(v));
            }
            out.insert("ios".into(), Value::Object(ios_out));
        }
        if let Some(android) = &mobile.android {
            let mut android_out = Map::new();
            if let Some(v) = &android.app_package_name {
                android_out.insert("app_package_name".into(), json!(v));
            }
            if let Some(v) = &android.keystore_hash {
                android_out.insert("sha256_cert_fingerprints".into(), json!([v]));
            }
            out.insert("android".into(), Value::Object(android_out));
        }
        body.insert("mobile".into(), Value::Object(out));
    }
    let mut metadata = Map::new();
    if let Some(m) = &client.client_metadata {
        let entries = [
            ("owners", m.owners.clone()),
            ("productName", m.product_name.clone()),
            ("client_upn_key", m.client_upn_key.clone()),
            ("applicationName", m.application_name.clone()),
            ("manuallyCreated", m.manually_created.map(|b| b.to_string())),
        ];
        for (key, value) in entries {
            if let Some(value) = value {
                metadata.insert(key.into(), Value::String(value));
            }
        }
    }
    metadata.extend(tag.to_metadata());
    body.insert("client_metadata".into(), Value::Object(metadata));
    body
}

/// The fields of `desired` that differ from `actual`, and the PATCH that sets them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Drift {
    /// Dotted paths of the fields that differ, e.g. `callbacks`, `client_metadata.owners`.
    pub fields: Vec<String>,
    /// The PATCH body: drifted top-level fields, `client_metadata` keys that differ (removed
    /// Nexus keys as `null`, since Auth0 merges metadata).
    pub patch: Map<String, Value>,
}

impl Drift {
    /// True when Auth0 already matches the spec.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }
}

/// Compares the desired state with the Auth0 client. Objects are compared as subsets (Auth0
/// adds defaults the spec does not manage); arrays and scalars must be equal.
pub fn diff(desired: &Map<String, Value>, actual: &Value) -> Drift {
    let mut drift = Drift::default();
    for (key, want) in desired {
        if key == "client_metadata" {
            continue;
        }
        let have = actual.get(key).unwrap_or(&Value::Null);
        if !is_subset(want, have) {
            drift.fields.push(key.clone());
            drift.patch.insert(key.clone(), want.clone());
        }
    }
    let want_metadata = desired.get("client_metadata").and_then(Value::as_object);
    let have_metadata = actual.get("client_metadata").and_then(Value::as_object);
    let empty = Map::new();
    let want_metadata = want_metadata.unwrap_or(&empty);
    let have_metadata = have_metadata.unwrap_or(&empty);
    let mut metadata_patch = Map::new();
    for (key, want) in want_metadata {
        if have_metadata.get(key) != Some(want) {
            drift.fields.push(format!("client_metadata.{key}"));
            metadata_patch.insert(key.clone(), want.clone());
        }
    }
    for key in NEXUS_METADATA_KEYS {
        if !want_metadata.contains_key(*key) && have_metadata.contains_key(*key) {
            drift.fields.push(format!("client_metadata.{key}"));
            metadata_patch.insert((*key).into(), Value::Null);
        }
    }
    if !metadata_patch.is_empty() {
        drift
            .patch
            .insert("client_metadata".into(), Value::Object(metadata_patch));
    }
    drift
}

fn is_subset(want: &Value, have: &Value) -> bool {
    match (want, have) {
        (Value::Object(w), Value::Object(h)) => w
            .iter()
            .all(|(k, v)| is_subset(v, h.get(k).unwrap_or(&Value::Null))),
        _ => want == have,
    }
}

/// Auth0 fields the drift scan needs to read (`fields=` of the paged list).
pub const SCAN_FIELDS: &[&str] = &[
    "client_id",
    "name",
    "app_type",
    "description",
    "logo_uri",
    "initiate_login_uri",
    "callbacks",
    "allowed_origins",
    "web_origins",
    "allowed_logout_urls",
    "grant_types",
    "mobile",
    "client_metadata",
];

#[cfg(test)]
mod tests {
    use super::*;
    use nexus_crd::{ClientMetadata, Mobile, MobileAndroid, MobileIos};

    fn tag() -> OwnershipTag {
        OwnershipTag {
            cluster: "prod-eu".into(),
            owner_uid: "0b7c-uid".into(),
            owner_ref: "team-a/orders".into(),
        }
    }

    fn spec() -> NexusClient {
        NexusClient {
            name: "Orders".into(),
            app_type: "native".into(),
            callbacks: Some(vec!["https://a.example/cb".into()]),
            mobile: Some(Mobile {
                ios: Some(MobileIos {
                    team_id: Some("TEAM1".into()),
                    app_bundle_identifier: Some("com.acme.orders".into()),
                }),
                android: Some(MobileAndroid {
                    keystore_hash: Some("AB:CD".into()),
                    app_package_name: Some("com.acme.orders".into()),
                }),
            }),
            client_metadata: Some(ClientMetadata {
                owners: Some("alice,bob".into()),
                manually_created: Some(false),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn desired_state_is_auth0_shaped() {
        let body = Value::Object(desired_state(&spec(), &tag()));
        assert_eq!(
            body["mobile"]["android"]["sha256_cert_fingerprints"],
            json!(["AB:CD"])
        );
        assert!(body["mobile"]["android"].get("keystore_hash").is_none());
        assert_eq!(body["client_metadata"]["manuallyCreated"], json!("false"));
        assert_eq!(body["client_metadata"]["owners"], json!("alice,bob"));
        assert_eq!(body["client_metadata"][TAG_CLUSTER], json!("prod-eu"));
        assert_eq!(body["client_metadata"][TAG_OWNER_UID], json!("0b7c-uid"));
        assert!(
            body.get("description").is_none(),
            "unset fields are not managed"
        );
        assert!(tag().matches(&body));
    }

    #[test]
    fn no_drift_when_auth0_has_extra_defaults() {
        let desired = desired_state(&spec(), &tag());
        let mut actual = Value::Object(desired.clone());
        actual["client_id"] = json!("abc");
        actual["jwt_configuration"] = json!({"lifetime_in_seconds": 36000});
        actual["mobile"]["android"]["extra"] = json!(true);
        actual["client_metadata"]["someone_elses"] = json!("x");
        assert!(diff(&desired, &actual).is_empty());
    }

    #[test]
    fn drift_patch_replaces_arrays_and_nulls_removed_metadata() {
        let desired = desired_state(&spec(), &tag());
        let mut actual = Value::Object(desired.clone());
        actual["callbacks"] = json!(["https://a.example/cb", "https://evil.example/cb"]);
        actual["client_metadata"]["owners"] = json!("mallory");
        actual["client_metadata"]["productName"] = json!("stale");
        let drift = diff(&desired, &actual);
        assert_eq!(
            drift.fields,
            vec![
                "callbacks",
                "client_metadata.owners",
                "client_metadata.productName"
            ]
        );
        assert_eq!(drift.patch["callbacks"], json!(["https://a.example/cb"]));
        assert_eq!(
            drift.patch["client_metadata"],
            json!({"owners": "alice,bob", "productName": null})
        );
        assert!(drift.patch.get("name").is_none());
    }

    #[test]
    fn tag_is_read_back_and_bounded() {
        let long = OwnershipTag {
            owner_ref: format!("ns/{}", "é".repeat(300)),
            ..tag()
        };
        let metadata = long.to_metadata();
        assert!(
            metadata[TAG_OWNER_REF]
                .as_str()
                .is_some_and(|s| s.len() <= 255)
        );
        let client = json!({"client_metadata": metadata});
        assert_eq!(
            tagged_owner(&client).map(|(c, u, _)| (c, u)),
            Some(("prod-eu".to_owned(), "0b7c-uid".to_owned()))
        );
        assert_eq!(tagged_owner(&json!({"client_metadata": {}})), None);
    }
}
