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
    /// ID token settings (`lifetime_in_seconds`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwt_configuration: Option<serde_json::Value>,
    /// Refresh token settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<serde_json::Value>,
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
