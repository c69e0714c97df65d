//! Data types exchanged with the Management API.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

const REDACTED: &str = "[redacted]";

/// A secret string (M2M client secret, an Auth0 client's `client_secret`).
///
/// `Debug` and `Display` print `[redacted]`; [`SecretString::expose`] gives the value.
/// Serialisation writes the real value (it is needed to build Kubernetes Secrets and the facade's
/// answer), so never log a serialised object that holds one.
#[derive(Clone, Default)]
pub struct SecretString(String);

impl SecretString {
    /// Wraps a secret.
    pub fn new(value: impl Into<String>) -> Self {
        SecretString(value.into())
    }

    /// The secret value. Do not log it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// True when the secret is the empty string.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl PartialEq for SecretString {
    fn eq(&self, other: &Self) -> bool {
        use subtle::ConstantTimeEq;
        self.0.as_bytes().ct_eq(other.0.as_bytes()).into()
    }
}
impl Eq for SecretString {}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl fmt::Display for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl From<String> for SecretString {
    fn from(s: String) -> Self {
        SecretString(s)
    }
}

impl From<&str> for SecretString {
    fn from(s: &str) -> Self {
        SecretString(s.to_owned())
    }
}

impl Serialize for SecretString {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for SecretString {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(SecretString)
    }
}

/// An Auth0 client (application) as the Management API returns it.
///
/// Every field but `client_id` is optional (list calls may restrict `fields`); fields this type
/// does not name are kept in `extra`. `Debug` redacts `client_secret`.
#[derive(Clone, Default, PartialEq, Deserialize, Serialize)]
pub struct Auth0Client {
    /// The client id.
    pub client_id: String,
    /// The client secret (present on create, rotate, and reads with `read:client_keys`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<SecretString>,
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `regular_web`, `spa`, `native`, `non_interactive`, ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_type: Option<String>,
    /// Free text, at most 140 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Logo URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logo_uri: Option<String>,
    /// Allowed callback URLs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callbacks: Option<Vec<String>>,
    /// Allowed CORS origins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_origins: Option<Vec<String>>,
    /// Allowed web origins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub web_origins: Option<Vec<String>>,
    /// Allowed logout URLs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_logout_urls: Option<Vec<String>>,
    /// Grant types.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant_types: Option<Vec<String>>,
    /// Login initiation URI (https).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initiate_login_uri: Option<String>,
    /// Mobile (iOS/Android) settings, as Auth0 shapes them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mobile: Option<Auth0Mobile>,
    /// Metadata: string values only, at most 10 keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_metadata: Option<BTreeMap<String, String>>,
    /// `none`, `client_secret_post`, `client_secret_basic`, ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_endpoint_auth_method: Option<String>,
    /// ID token settings (`lifetime_in_seconds`, `alg`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwt_configuration: Option<JwtConfiguration>,
    /// Refresh token settings (rotation, expiration, lifetimes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<RefreshTokenSettings>,
    /// Cross-origin authentication (newer tenants).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cross_origin_authentication: Option<bool>,
    /// Cross-origin authentication (older tenants).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cross_origin_auth: Option<bool>,
    /// Every other field Auth0 returned.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl fmt::Debug for Auth0Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Auth0Client")
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| REDACTED),
            )
            .field("name", &self.name)
            .field("app_type", &self.app_type)
            .field("description", &self.description)
            .field("logo_uri", &self.logo_uri)
            .field("callbacks", &self.callbacks)
            .field("allowed_origins", &self.allowed_origins)
            .field("web_origins", &self.web_origins)
            .field("allowed_logout_urls", &self.allowed_logout_urls)
            .field("grant_types", &self.grant_types)
            .field("initiate_login_uri", &self.initiate_login_uri)
            .field("mobile", &self.mobile)
            .field("client_metadata", &self.client_metadata)
            .field(
                "token_endpoint_auth_method",
                &self.token_endpoint_auth_method,
            )
            .field("jwt_configuration", &self.jwt_configuration)
            .field("refresh_token", &self.refresh_token)
            .field(
                "cross_origin_authentication",
                &self.cross_origin_authentication,
            )
            .field("cross_origin_auth", &self.cross_origin_auth)
            .field("extra", &self.extra)
            .finish()
    }
}

/// `mobile` of an Auth0 client.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
pub struct Auth0Mobile {
    /// iOS app identity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ios: Option<Auth0MobileIos>,
    /// Android app identity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub android: Option<Auth0MobileAndroid>,
    /// Every other field Auth0 returned.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// `mobile.ios` of an Auth0 client.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
pub struct Auth0MobileIos {
    /// Apple team id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team_id: Option<String>,
    /// App bundle identifier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_bundle_identifier: Option<String>,
    /// Every other field Auth0 returned.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// `mobile.android` of an Auth0 client.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
pub struct Auth0MobileAndroid {
    /// Android package name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_package_name: Option<String>,
    /// SHA-256 fingerprints of the signing keystores.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256_cert_fingerprints: Option<Vec<String>>,
    /// Every other field Auth0 returned.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// One page of `GET /api/v2/clients?include_totals=true`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
pub struct ClientPage {
    /// Total number of clients matching.
    #[serde(default)]
    pub total: u64,
    /// Index of the first client of this page.
    #[serde(default)]
    pub start: u64,
    /// Page size Auth0 applied.
    #[serde(default)]
    pub limit: u64,
    /// The clients of this page.
    #[serde(default)]
    pub clients: Vec<Auth0Client>,
}

/// `jwt_configuration` of an Auth0 client: how its ID tokens are issued.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
pub struct JwtConfiguration {
    /// ID token lifetime in seconds (Auth0's default: 36000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifetime_in_seconds: Option<i64>,
    /// Whether the client secret is base64 encoded (legacy HS256 ID tokens).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_encoded: Option<bool>,
    /// ID token signing algorithm (`RS256`, `HS256`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alg: Option<String>,
    /// Every other field Auth0 returned (e.g. `scopes`).
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// `refresh_token.rotation_type` of an Auth0 client.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
pub enum RefreshTokenRotation {
    /// Every use of a refresh token returns a new one (the old one is invalidated after `leeway`).
    #[serde(rename = "rotating")]
    Rotating,
    /// The refresh token stays the same.
    #[serde(rename = "non-rotating")]
    NonRotating,
    /// A value this client does not know (kept as sent).
    #[serde(untagged)]
    Other(String),
}

/// `refresh_token.expiration_type` of an Auth0 client.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
pub enum RefreshTokenExpiration {
    /// Refresh tokens expire (absolute and/or idle lifetime apply).
    #[serde(rename = "expiring")]
    Expiring,
    /// Refresh tokens never expire.
    #[serde(rename = "non-expiring")]
    NonExpiring,
    /// A value this client does not know (kept as sent).
    #[serde(untagged)]
    Other(String),
}

/// `refresh_token` of an Auth0 client. Every field is optional and only the fields set are
/// serialised; in a PATCH, send the complete object (the one read back, with the managed fields
/// changed): whether Auth0 merges a partial one is not verified.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
pub struct RefreshTokenSettings {
    /// `rotating` or `non-rotating`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotation_type: Option<RefreshTokenRotation>,
    /// `expiring` or `non-expiring`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiration_type: Option<RefreshTokenExpiration>,
    /// Seconds a rotated refresh token can still be reused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leeway: Option<i64>,
    /// Absolute lifetime of a refresh token, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_lifetime: Option<i64>,
    /// Whether the absolute lifetime is unlimited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub infinite_token_lifetime: Option<bool>,
    /// Idle lifetime of a refresh token, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_token_lifetime: Option<i64>,
    /// Whether the idle lifetime is unlimited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub infinite_idle_token_lifetime: Option<bool>,
    /// Every other field Auth0 returned (e.g. `policies`).
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// One page of a Management API offset-paged list (`include_totals=true`), whatever the
/// resource: `{"total", "start", "limit", "<items>": [...]}`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Page<T> {
    /// Total number of items matching.
    pub total: u64,
    /// Index of the first item of this page.
    pub start: u64,
    /// Page size Auth0 applied.
    pub limit: u64,
    /// The items of this page.
    pub items: Vec<T>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn client_token_settings_are_typed_and_keep_unknown_fields() {
        let c: Auth0Client = serde_json::from_value(json!({
            "client_id": "abc",
            "jwt_configuration": {"alg": "RS256", "lifetime_in_seconds": 36000, "secret_encoded": false, "scopes": {}},
            "refresh_token": {
                "rotation_type": "rotating", "expiration_type": "expiring", "leeway": 3,
                "token_lifetime": 2592000, "infinite_token_lifetime": false,
                "idle_token_lifetime": 1296000, "infinite_idle_token_lifetime": false,
                "policies": [{"audience": "x"}]
            }
        }))
        .unwrap();
        let jwt = c.jwt_configuration.as_ref().unwrap();
        assert_eq!(jwt.lifetime_in_seconds, Some(36000));
        assert!(jwt.extra.contains_key("scopes"));
        let rt = c.refresh_token.as_ref().unwrap();
        assert_eq!(rt.rotation_type, Some(RefreshTokenRotation::Rotating));
        assert_eq!(rt.expiration_type, Some(RefreshTokenExpiration::Expiring));
        assert_eq!(rt.leeway, Some(3));
        assert!(rt.extra.contains_key("policies"));
        let back = serde_json::to_value(&c).unwrap();
        assert_eq!(back["refresh_token"]["rotation_type"], "rotating");
        assert_eq!(
            back["refresh_token"]["policies"],
            json!([{"audience": "x"}])
        );

        // A PATCH body carries only what is set.
        let patch = RefreshTokenSettings {
            rotation_type: Some(RefreshTokenRotation::NonRotating),
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_value(&patch).unwrap(),
            json!({"rotation_type": "non-rotating"})
        );
        // Values Auth0 may add later do not break decoding.
        let odd: RefreshTokenSettings =
            serde_json::from_value(json!({"rotation_type": "someday"})).unwrap();
        assert_eq!(
            odd.rotation_type,
            Some(RefreshTokenRotation::Other("someday".into()))
        );
        // `null` objects decode as absent.
        let null: Auth0Client =
            serde_json::from_value(json!({"client_id": "x", "refresh_token": null})).unwrap();
        assert_eq!(null.refresh_token, None);
    }
}
