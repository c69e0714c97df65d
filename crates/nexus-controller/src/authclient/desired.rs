//! The typed desired state of an Auth0 client (from the spec and the ownership tag), and the
//! typed difference to a client as Auth0 returned it: the fields that differ and the minimal
//! PATCH that restores them. Pure functions, no I/O.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::ownership::OwnershipTag;
use auth0_mgmt::{
    Auth0Client, Auth0Mobile, Auth0MobileAndroid, Auth0MobileIos, JwtConfiguration,
    RefreshTokenExpiration, RefreshTokenRotation, RefreshTokenSettings,
};
use nexus_crd::{ClientSettings, ExpirationType, NexusClient, RotationType};

/// Metadata keys of the Nexus contract; the operator owns exactly these and its tags.
pub const NEXUS_METADATA_KEYS: &[&str] = &[
    "owners",
    "productName",
    "client_upn_key",
    "applicationName",
    "manuallyCreated",
];

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
    "token_endpoint_auth_method",
    "jwt_configuration",
    "refresh_token",
    "cross_origin_authentication",
    "client_authentication_methods",
];

/// Desired `mobile.ios`: only the fields the spec sets.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct DesiredIos {
    /// Apple team id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub team_id: Option<String>,
    /// App bundle identifier.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_bundle_identifier: Option<String>,
}

/// Desired `mobile.android`: `keystore_hash` becomes a one-element `sha256_cert_fingerprints`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct DesiredAndroid {
    /// Android package name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_package_name: Option<String>,
    /// `[keystore_hash]`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256_cert_fingerprints: Option<Vec<String>>,
}

/// Desired `mobile`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct DesiredMobile {
    /// iOS settings, when the spec has them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ios: Option<DesiredIos>,
    /// Android settings, when the spec has them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub android: Option<DesiredAndroid>,
}

/// The Auth0 representation of a spec: every field the spec sets, Auth0-shaped, with the
/// ownership tag in `client_metadata`. Fields the spec leaves out are not managed. Serialises
/// to the body of `POST /api/v2/clients`.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct DesiredClient {
    /// Display name.
    pub name: String,
    /// Application type.
    pub app_type: String,
    /// The fields the spec may leave unset (then not managed).
    #[serde(flatten)]
    pub fields: ClientFields,
    /// The Nexus metadata (as strings) and the ownership tag.
    pub client_metadata: BTreeMap<String, String>,
}

/// The fields of an Auth0 client that a spec may leave unset: in a [`DesiredClient`], those
/// the spec sets (the others are not managed); in a [`ClientPatch`], those that differ.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ClientFields {
    /// Description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Logo URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logo_uri: Option<String>,
    /// Login initiation URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub initiate_login_uri: Option<String>,
    /// Callback URLs (a PATCH replaces Auth0's array).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub callbacks: Option<Vec<String>>,
    /// CORS origins.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed_origins: Option<Vec<String>>,
    /// Web origins.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub web_origins: Option<Vec<String>>,
    /// Logout URLs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed_logout_urls: Option<Vec<String>>,
    /// Grant types.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grant_types: Option<Vec<String>>,
    /// Mobile settings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mobile: Option<DesiredMobile>,
    /// `spec.settings.tokenEndpointAuthMethod`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_endpoint_auth_method: Option<String>,
    /// `spec.settings.idTokenLifetimeSeconds` as `{lifetime_in_seconds}` (in a PATCH: the
    /// client's `jwt_configuration` with the managed ID token lifetime).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwt_configuration: Option<JwtConfiguration>,
    /// `spec.settings.crossOriginAuthentication`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cross_origin_authentication: Option<bool>,
    /// `spec.settings.refreshToken`: only the fields set (in a PATCH: the client's
    /// `refresh_token` with the managed fields).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<RefreshTokenSettings>,
}

impl DesiredClient {
    /// The desired state of `client` tagged with `tag`.
    pub fn from_spec(client: &NexusClient, tag: &OwnershipTag) -> Self {
        let mut metadata = BTreeMap::new();
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
                    metadata.insert(key.to_owned(), value);
                }
            }
        }
        metadata.extend(tag.to_metadata());
        Self {
            name: client.name.clone(),
            app_type: client.app_type.clone(),
            fields: ClientFields {
                description: client.description.clone(),
                logo_uri: client.logo_uri.clone(),
                initiate_login_uri: client.initiate_login_uri.clone(),
                callbacks: client.callbacks.clone(),
                allowed_origins: client.allowed_origins.clone(),
                web_origins: client.web_origins.clone(),
                allowed_logout_urls: client.allowed_logout_urls.clone(),
                grant_types: client.grant_types.clone(),
                mobile: client.mobile.as_ref().map(|m| DesiredMobile {
                    ios: m.ios.as_ref().map(|i| DesiredIos {
                        team_id: i.team_id.clone(),
                        app_bundle_identifier: i.app_bundle_identifier.clone(),
                    }),
                    android: m.android.as_ref().map(|a| DesiredAndroid {
                        app_package_name: a.app_package_name.clone(),
                        sha256_cert_fingerprints: a.keystore_hash.clone().map(|h| vec![h]),
                    }),
                }),
                ..ClientFields::default()
            },
            client_metadata: metadata,
        }
    }

    /// Adds what `spec.settings` manages.
    pub fn with_settings(mut self, settings: Option<&ClientSettings>) -> Self {
        let Some(settings) = settings else {
            return self;
        };
        self.fields.token_endpoint_auth_method = settings
            .token_endpoint_auth_method
            .map(|m| m.as_str().to_owned());
        self.fields.jwt_configuration =
            settings
                .id_token_lifetime_seconds
                .map(|lifetime| JwtConfiguration {
                    lifetime_in_seconds: Some(i64::from(lifetime)),
                    ..JwtConfiguration::default()
                });
        self.fields.cross_origin_authentication = settings.cross_origin_authentication;
        self.fields.refresh_token = settings
            .refresh_token
            .as_ref()
            .map(|r| RefreshTokenSettings {
                rotation_type: Some(match r.rotation_type {
                    RotationType::Rotating => RefreshTokenRotation::Rotating,
                    RotationType::NonRotating => RefreshTokenRotation::NonRotating,
                }),
                expiration_type: Some(match r.expiration_type {
                    ExpirationType::Expiring => RefreshTokenExpiration::Expiring,
                    ExpirationType::NonExpiring => RefreshTokenExpiration::NonExpiring,
                }),
                leeway: r.leeway_seconds.map(i64::from),
                token_lifetime: r.token_lifetime_seconds.map(i64::from),
                infinite_token_lifetime: r.infinite_token_lifetime,
                idle_token_lifetime: r.idle_token_lifetime_seconds.map(i64::from),
                infinite_idle_token_lifetime: r.infinite_idle_token_lifetime,
                extra: Default::default(),
            });
        self
    }
}

/// The body of a `PATCH /api/v2/clients/{id}`: only the fields that differ. `client_metadata`
/// is merged by Auth0, so a key to remove is sent as `null` (`None`).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ClientPatch {
    /// New name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// New app type.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_type: Option<String>,
    /// The other fields that differ.
    #[serde(flatten)]
    pub fields: ClientFields,
    /// Metadata keys to set (`Some`) or remove (`None`, sent as `null`).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub client_metadata: BTreeMap<String, Option<String>>,
}

impl ClientPatch {
    /// The patch that removes the ownership tag (deletion with `Orphan`).
    pub fn untag() -> Self {
        Self {
            client_metadata: [
                crate::ownership::TAG_CLUSTER,
                crate::ownership::TAG_OWNER_UID,
                crate::ownership::TAG_OWNER_REF,
            ]
            .into_iter()
            .map(|k| (k.to_owned(), None))
            .collect(),
            ..Self::default()
        }
    }
}

/// The fields of the desired state that differ from Auth0, and the PATCH that sets them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Drift {
    /// Dotted paths of the fields that differ, e.g. `callbacks`, `client_metadata.owners`.
    pub fields: Vec<String>,
    /// The PATCH body.
    pub patch: ClientPatch,
}

impl Drift {
    /// True when Auth0 already matches the spec.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }
}

/// Compares the desired state with the Auth0 client. Unset desired fields are not compared
/// (Auth0 adds defaults the spec does not manage); objects are compared as subsets, arrays and
/// strings must be equal.
pub fn diff(desired: &DesiredClient, actual: &Auth0Client) -> Drift {
    let mut drift = Drift::default();
    let mut field = |name: &str, differs: bool| {
        if differs {
            drift.fields.push(name.to_owned());
        }
        differs
    };
    if field(
        "name",
        actual.name.as_deref() != Some(desired.name.as_str()),
    ) {
        drift.patch.name = Some(desired.name.clone());
    }
    if field(
        "app_type",
        actual.app_type.as_deref() != Some(desired.app_type.as_str()),
    ) {
        drift.patch.app_type = Some(desired.app_type.clone());
    }
    macro_rules! managed {
        ($($f:ident),*) => {$(
            if let Some(want) = &desired.fields.$f {
                if field(stringify!($f), actual.$f.as_ref() != Some(want)) {
                    drift.patch.fields.$f = Some(want.clone());
                }
            }
        )*};
    }
    managed!(
        description,
        logo_uri,
        initiate_login_uri,
        callbacks,
        allowed_origins,
        web_origins,
        allowed_logout_urls,
        grant_types
    );
    if let Some(want) = &desired.fields.mobile
        && field("mobile", !mobile_matches(want, actual.mobile.as_ref()))
    {
        drift.patch.fields.mobile = Some(want.clone());
    }
    let empty = BTreeMap::new();
    let have = actual.client_metadata.as_ref().unwrap_or(&empty);
    for (key, want) in &desired.client_metadata {
        if have.get(key) != Some(want) {
            drift.fields.push(format!("client_metadata.{key}"));
            drift
                .patch
                .client_metadata
                .insert(key.clone(), Some(want.clone()));
        }
    }
    for key in NEXUS_METADATA_KEYS {
        if !desired.client_metadata.contains_key(*key) && have.contains_key(*key) {
            drift.fields.push(format!("client_metadata.{key}"));
            drift.patch.client_metadata.insert((*key).to_owned(), None);
        }
    }
    diff_settings(desired, actual, &mut drift);
    drift
}

/// The `spec.settings` part of [`diff`].
fn diff_settings(desired: &DesiredClient, actual: &Auth0Client, drift: &mut Drift) {
    if let Some(want) = &desired.fields.token_endpoint_auth_method
        && actual.token_endpoint_auth_method.as_ref() != Some(want)
    {
        drift.fields.push("token_endpoint_auth_method".into());
        drift.patch.fields.token_endpoint_auth_method = Some(want.clone());
    }
    if let Some(want) = desired
        .fields
        .jwt_configuration
        .as_ref()
        .and_then(|j| j.lifetime_in_seconds)
        && actual
            .jwt_configuration
            .as_ref()
            .and_then(|j| j.lifetime_in_seconds)
            != Some(want)
    {
        drift
            .fields
            .push("jwt_configuration.lifetime_in_seconds".into());
        // The whole object, as Auth0 holds it, with the managed field changed (whether Auth0
        // merges a partial object is not documented).
        let mut jwt = actual.jwt_configuration.clone().unwrap_or_default();
        jwt.lifetime_in_seconds = Some(want);
        drift.patch.fields.jwt_configuration = Some(jwt);
    }
    if let Some(want) = desired.fields.cross_origin_authentication
        && actual
            .cross_origin_authentication
            .or(actual.cross_origin_auth)
            != Some(want)
    {
        drift.fields.push("cross_origin_authentication".into());
        drift.patch.fields.cross_origin_authentication = Some(want);
    }
    let Some(want) = &desired.fields.refresh_token else {
        return;
    };
    let empty = RefreshTokenSettings::default();
    let have = actual.refresh_token.as_ref().unwrap_or(&empty);
    let before = drift.fields.len();
    // The whole object, as Auth0 holds it, with the managed fields changed.
    let mut merged = have.clone();
    macro_rules! refresh {
        ($($f:ident),*) => {$(
            if want.$f.is_some() {
                if have.$f != want.$f {
                    drift.fields.push(concat!("refresh_token.", stringify!($f)).to_owned());
                }
                merged.$f = want.$f.clone();
            }
        )*};
    }
    refresh!(
        rotation_type,
        expiration_type,
        leeway,
        token_lifetime,
        infinite_token_lifetime,
        idle_token_lifetime,
        infinite_idle_token_lifetime
    );
    if drift.fields.len() > before {
        drift.patch.fields.refresh_token = Some(merged);
    }
}

fn mobile_matches(want: &DesiredMobile, have: Option<&Auth0Mobile>) -> bool {
    let ios_ok = want
        .ios
        .as_ref()
        .is_none_or(|w| ios_matches(w, have.and_then(|m| m.ios.as_ref())));
    let android_ok = want
        .android
        .as_ref()
        .is_none_or(|w| android_matches(w, have.and_then(|m| m.android.as_ref())));
    ios_ok && android_ok
}

fn ios_matches(want: &DesiredIos, have: Option<&Auth0MobileIos>) -> bool {
    unset_or_equal(&want.team_id, have.and_then(|h| h.team_id.as_ref()))
        && unset_or_equal(
            &want.app_bundle_identifier,
            have.and_then(|h| h.app_bundle_identifier.as_ref()),
        )
}

fn android_matches(want: &DesiredAndroid, have: Option<&Auth0MobileAndroid>) -> bool {
    unset_or_equal(
        &want.app_package_name,
        have.and_then(|h| h.app_package_name.as_ref()),
    ) && unset_or_equal(
        &want.sha256_cert_fingerprints,
        have.and_then(|h| h.sha256_cert_fingerprints.as_ref()),
    )
}

/// Whether a mobile field the spec leaves unset (not managed), or Auth0 has as wanted.
fn unset_or_equal<T: PartialEq>(want: &Option<T>, have: Option<&T>) -> bool {
    want.as_ref().is_none_or(|w| have == Some(w))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ownership::{TAG_CLUSTER, TAG_OWNER_UID};
    use crate::testing::tag;
    use nexus_crd::{ClientMetadata, Mobile, MobileAndroid, MobileIos};
    use serde_json::json;

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

    /// The client Auth0 would hold after creating `desired`, with defaults of its own.
    fn as_created(desired: &DesiredClient) -> Auth0Client {
        let mut value = serde_json::to_value(desired).expect("json");
        value["client_id"] = json!("abc");
        if value.get("jwt_configuration").is_none() {
            value["jwt_configuration"] = json!({"lifetime_in_seconds": 36000});
        }
        value["mobile"]["android"]["extra"] = json!(true);
        value["client_metadata"]["someone_elses"] = json!("x");
        serde_json::from_value(value).expect("Auth0 client")
    }

    #[test]
    fn desired_state_is_auth0_shaped() {
        let body = serde_json::to_value(DesiredClient::from_spec(&spec(), &tag())).expect("json");
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
        assert!(body.get("id").is_none());
    }

    #[test]
    fn no_drift_when_auth0_has_extra_defaults() {
        let desired = DesiredClient::from_spec(&spec(), &tag());
        let actual = as_created(&desired);
        assert!(tag().matches(&actual));
        assert_eq!(diff(&desired, &actual), Drift::default());
    }

    #[test]
    fn drift_patch_replaces_arrays_and_nulls_removed_metadata() {
        let desired = DesiredClient::from_spec(&spec(), &tag());
        let mut actual = as_created(&desired);
        actual.callbacks = Some(vec![
            "https://a.example/cb".into(),
            "https://evil.example/cb".into(),
        ]);
        let metadata = actual.client_metadata.as_mut().expect("metadata");
        metadata.insert("owners".into(), "mallory".into());
        metadata.insert("productName".into(), "stale".into());
        let drift = diff(&desired, &actual);
        assert_eq!(
            drift.fields,
            vec![
                "callbacks",
                "client_metadata.owners",
                "client_metadata.productName"
            ]
        );
        assert_eq!(
            serde_json::to_value(&drift.patch).expect("json"),
            json!({
                "callbacks": ["https://a.example/cb"],
                "client_metadata": {"owners": "alice,bob", "productName": null}
            })
        );
    }

    #[test]
    fn mobile_is_compared_field_by_field() {
        let desired = DesiredClient::from_spec(&spec(), &tag());
        let mut actual = as_created(&desired);
        if let Some(android) = actual.mobile.as_mut().and_then(|m| m.android.as_mut()) {
            android.sha256_cert_fingerprints = Some(vec!["EF:01".into()]);
        }
        let drift = diff(&desired, &actual);
        assert_eq!(drift.fields, vec!["mobile"]);
        assert_eq!(
            serde_json::to_value(&drift.patch).expect("json")["mobile"]["android"]["sha256_cert_fingerprints"],
            json!(["AB:CD"])
        );
        actual.mobile = None;
        assert_eq!(diff(&desired, &actual).fields, vec!["mobile"]);
    }

    #[test]
    fn missing_tag_and_name_are_drift() {
        let desired = DesiredClient::from_spec(&spec(), &tag());
        let mut actual = as_created(&desired);
        actual.name = Some("Renamed".into());
        actual.client_metadata = Some(BTreeMap::from([("owners".into(), "alice,bob".into())]));
        let drift = diff(&desired, &actual);
        assert!(drift.fields.contains(&"name".to_owned()));
        assert!(
            drift
                .fields
                .contains(&format!("client_metadata.{TAG_OWNER_UID}"))
        );
        assert!(!drift.fields.contains(&"client_metadata.owners".to_owned()));
    }

    fn settings() -> ClientSettings {
        serde_json::from_value(json!({
            "tokenEndpointAuthMethod": "client_secret_basic",
            "idTokenLifetimeSeconds": 3600,
            "crossOriginAuthentication": false,
            "refreshToken": {"rotationType": "rotating", "expirationType": "expiring", "leewaySeconds": 10, "tokenLifetimeSeconds": 86400},
        }))
        .expect("settings")
    }

    #[test]
    fn settings_are_auth0_shaped_and_only_set_fields_are_sent() {
        let desired = DesiredClient::from_spec(&spec(), &tag()).with_settings(Some(&settings()));
        let body = serde_json::to_value(&desired).expect("json");
        assert_eq!(
            body["token_endpoint_auth_method"],
            json!("client_secret_basic")
        );
        assert_eq!(
            body["jwt_configuration"],
            json!({"lifetime_in_seconds": 3600})
        );
        assert_eq!(body["cross_origin_authentication"], json!(false));
        assert_eq!(
            body["refresh_token"],
            json!({"rotation_type": "rotating", "expiration_type": "expiring", "leeway": 10, "token_lifetime": 86400})
        );
        let plain =
            serde_json::to_value(DesiredClient::from_spec(&spec(), &tag()).with_settings(None))
                .expect("json");
        assert!(plain.get("refresh_token").is_none() && plain.get("jwt_configuration").is_none());
    }

    #[test]
    fn settings_drift_is_found_field_by_field_and_patched_with_the_managed_fields() {
        let desired = DesiredClient::from_spec(&spec(), &tag()).with_settings(Some(&settings()));
        let mut actual = as_created(&desired);
        // Auth0 adds defaults of its own: not drift.
        let refresh = actual.refresh_token.as_mut().expect("refresh");
        refresh.idle_token_lifetime = Some(1_296_000);
        refresh.extra.insert("policies".into(), json!([]));
        actual.jwt_configuration.as_mut().expect("jwt").alg = Some("RS256".into());
        assert_eq!(diff(&desired, &actual), Drift::default());

        let refresh = actual.refresh_token.as_mut().expect("refresh");
        refresh.rotation_type = Some(RefreshTokenRotation::NonRotating);
        refresh.leeway = Some(0);
        actual.token_endpoint_auth_method = Some("client_secret_post".into());
        actual.jwt_configuration = Some(JwtConfiguration {
            lifetime_in_seconds: Some(36000),
            ..Default::default()
        });
        actual.cross_origin_authentication = None;
        actual.cross_origin_auth = Some(true);
        let drift = diff(&desired, &actual);
        assert_eq!(
            drift.fields,
            vec![
                "token_endpoint_auth_method",
                "jwt_configuration.lifetime_in_seconds",
                "cross_origin_authentication",
                "refresh_token.rotation_type",
                "refresh_token.leeway"
            ]
        );
        let patch = serde_json::to_value(&drift.patch).expect("json");
        assert_eq!(
            patch["refresh_token"],
            json!({
                "rotation_type": "rotating", "expiration_type": "expiring", "leeway": 10,
                "token_lifetime": 86400, "idle_token_lifetime": 1_296_000, "policies": []
            }),
            "the whole object, with the managed fields changed"
        );
        assert_eq!(
            patch["jwt_configuration"],
            json!({"lifetime_in_seconds": 3600})
        );
        assert!(patch.get("callbacks").is_none());
    }

    #[test]
    fn untag_sends_nulls() {
        assert_eq!(
            serde_json::to_value(ClientPatch::untag()).expect("json"),
            json!({"client_metadata": {"nexus_cluster": null, "nexus_owner_uid": null, "nexus_owner": null}})
        );
    }
}
