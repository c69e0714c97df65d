//! `AuthClient`: one Auth0 application, its credentials Secret and its lifecycle policies.

// The derive's repeated `printcolumn(type_ = ...)` arguments trip this lint; they are not
// duplicated attributes.
#![allow(clippy::duplicated_attributes)]

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// One Auth0 application ("client") managed declaratively.
#[derive(CustomResource, KubeSchema, Clone, Debug, Deserialize, Serialize, PartialEq)]
#[kube(
    group = "auth.nexus.dev",
    version = "v1alpha1",
    kind = "AuthClient",
    namespaced,
    status = "AuthClientStatus",
    shortname = "ac",
    category = "nexus",
    doc = "An Auth0 application (client) whose credentials the operator writes into a Secret.",
    printcolumn(name = "Tenant", type_ = "string", json_path = ".spec.tenant"),
    printcolumn(name = "Client ID", type_ = "string", json_path = ".status.clientId"),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(
        name = "Reason",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].reason",
        priority = 1
    ),
    printcolumn(
        name = "Secret",
        type_ = "string",
        json_path = ".status.secretName",
        priority = 1
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct AuthClientSpec {
    /// Name of the `AuthTenant` (the Nexus tenantId) the client lives in. Cannot be changed.
    #[x_kube(validation = Rule::new("self == oldSelf").message("tenant cannot be changed; create a new AuthClient instead").reason(Reason::FieldValueForbidden))]
    #[schemars(length(min = 1))]
    pub tenant: String,

    /// The Auth0 client, exactly as the body of the Nexus `POST /v1/tenants/{tenantId}/clients`.
    pub client: NexusClient,

    /// The Secret that receives the client's credentials.
    #[serde(default)]
    pub secret: SecretSpec,

    /// What happens to the Auth0 client when this resource is deleted: `Delete` (default)
    /// removes it from Auth0, `Orphan` leaves it there.
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,

    /// What happens when the Auth0 client is changed outside the operator: `Correct`
    /// (default) restores the spec, `Report` only reports it in the `Drifted` condition.
    #[serde(default)]
    pub drift_policy: DriftPolicy,

    /// When `client.id` names an existing client the operator did not create for this object
    /// (adoption). Adoption is allowed only in namespaces the AuthTenant lists in
    /// `spec.adoption.allowedNamespaces` (otherwise `Ready=False` with reason
    /// `AdoptionNotAllowed`, and nothing is sent to Auth0); the tenant's own Management API
    /// client is never adopted, and neither is a client tagged by an AuthClient of another
    /// namespace of this cluster.
    ///
    /// `IfUnowned` (default) adopts only a client no AuthClient or cluster has tagged.
    /// `TakeOver` also adopts a client tagged by another cluster (another `--cluster-id`), or
    /// by another AuthClient of this same namespace, and moves its tag to this object.
    #[serde(default)]
    pub adoption_policy: AdoptionPolicy,

    /// Auth0 settings of the client beyond the Nexus request body (token endpoint
    /// authentication, token lifetimes, refresh tokens, cross-origin authentication). Only
    /// the fields set here are managed; the others are left as Auth0 has them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settings: Option<ClientSettings>,

    /// The APIs this client may call with the client-credentials grant, each an `audience`
    /// (an API identifier) with the scopes to grant. The operator keeps exactly these Auth0
    /// client grants for the client: scope changes update the grant, a grant removed from
    /// this list (or created in the dashboard) is deleted.
    ///
    /// A grant is allowed only when an `AuthResourceServer` of the same tenant with that
    /// identifier is Ready, allows this namespace in `spec.grants.allowedNamespaces` and
    /// declares every requested scope; or when the AuthTenant's `spec.grantableAudiences`
    /// lists the audience for this namespace (and, if it lists scopes, the requested scopes
    /// are among them). Anything else is `Ready=False` with reason `GrantNotAllowed`, and
    /// nothing is sent to Auth0 for it. When a grant stops being allowed, the operator
    /// revokes it (deletes it, or reduces its scopes) in Auth0.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["audience"]))]
    pub grants: Vec<ClientGrantSpec>,

    /// Names of the Auth0 connections (databases, social and enterprise identity providers)
    /// users of this client may log in with. The operator enables the client on each and
    /// disables it on names removed from this list, touching only this client's enablement;
    /// connections not named here and never named before are left as they are. The
    /// AuthTenant's `spec.allowedConnections` may restrict which connections a namespace may
    /// use (`Ready=False`, reason `ConnectionNotAllowed`); an unknown name is reported with
    /// reason `ConnectionNotFound`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(inner(length(min = 1, max = 128), regex(pattern = crate::validation::patterns::CONNECTION_NAME)), extend("x-kubernetes-list-type" = "set"))]
    pub connections: Vec<String>,
    /// How the client authenticates at Auth0's token endpoint: with the client secret
    /// (`type: clientSecret`, the default) or with a private key the operator generates,
    /// registers and rotates (`type: privateKeyJwt`). See `CredentialsSpec`.
    #[serde(default, skip_serializing_if = "crate::credentials::is_default")]
    pub credentials: crate::credentials::CredentialsSpec,
}

impl AuthClientSpec {
    /// The spec of `client` in the AuthTenant `tenant`: every policy at its default, no
    /// settings, grants or connections (what the facade creates).
    pub fn new(tenant: impl Into<String>, client: NexusClient) -> Self {
        Self {
            tenant: tenant.into(),
            client,
            secret: Default::default(),
            deletion_policy: Default::default(),
            drift_policy: Default::default(),
            adoption_policy: Default::default(),
            settings: None,
            grants: Vec::new(),
            connections: Vec::new(),
            credentials: Default::default(),
        }
    }
}

/// Client settings outside the Nexus request body.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ClientSettings {
    /// How the client authenticates at the token endpoint: `client_secret_post` (credentials
    /// in the request body), `client_secret_basic` (HTTP Basic) or `none` (public clients:
    /// single-page and native apps). A client with `spec.grants` needs its secret, so `none`
    /// is refused for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_endpoint_auth_method: Option<TokenEndpointAuthMethod>,
    /// Lifetime of the ID tokens issued to the client, in seconds (Auth0's
    /// `jwt_configuration.lifetime_in_seconds`; its default is 36000). Auth0 documents no
    /// bound for it, so none is imposed here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token_lifetime_seconds: Option<u32>,
    /// Whether the client may authenticate users cross-origin (embedded login forms calling
    /// Auth0 from another origin; the origins go into `client.web_origins`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cross_origin_authentication: Option<bool>,
    /// Refresh token behaviour. When set, `rotationType` and `expirationType` are required
    /// (Auth0 requires both in the object).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<RefreshTokenSettings>,
}

/// The token endpoint authentication method of a client.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum TokenEndpointAuthMethod {
    /// A public client: no secret at the token endpoint.
    None,
    /// Client id and secret in the request body.
    ClientSecretPost,
    /// Client id and secret as HTTP Basic authentication.
    ClientSecretBasic,
}

impl TokenEndpointAuthMethod {
    /// Auth0's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::ClientSecretPost => "client_secret_post",
            Self::ClientSecretBasic => "client_secret_basic",
        }
    }
}

/// Refresh token settings of a client (Auth0's `refresh_token` object).
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct RefreshTokenSettings {
    /// `rotating`: every exchange returns a new refresh token and invalidates the old one
    /// (reuse is detected); `non-rotating`: the same refresh token is used until it expires.
    /// Rotation requires `expirationType: expiring`.
    pub rotation_type: RotationType,
    /// `expiring`: refresh tokens expire (`tokenLifetimeSeconds`, `idleTokenLifetimeSeconds`);
    /// `non-expiring`: they never do.
    pub expiration_type: ExpirationType,
    /// With rotation, how long (in seconds, 0 to 60) the previous refresh token may still be
    /// exchanged without being treated as reuse.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 60))]
    pub leeway_seconds: Option<u32>,
    /// Absolute lifetime of a refresh token (or of a rotation family), in seconds (1 to
    /// 157788000, five years).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 157788000))]
    pub token_lifetime_seconds: Option<u32>,
    /// When true, refresh tokens have no absolute lifetime (takes precedence over
    /// `tokenLifetimeSeconds`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub infinite_token_lifetime: Option<bool>,
    /// How long, in seconds, a refresh token stays valid without being used (1 to 157788000;
    /// at most `tokenLifetimeSeconds`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 157788000))]
    pub idle_token_lifetime_seconds: Option<u32>,
    /// When true, refresh tokens do not expire when unused (takes precedence over
    /// `idleTokenLifetimeSeconds`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub infinite_idle_token_lifetime: Option<bool>,
}

/// Refresh token rotation.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum RotationType {
    /// A new refresh token on every exchange.
    Rotating,
    /// The same refresh token until it expires (Auth0's default for new clients).
    #[default]
    NonRotating,
}

impl RotationType {
    /// Auth0's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Rotating => "rotating",
            Self::NonRotating => "non-rotating",
        }
    }
}

/// Refresh token expiration.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum ExpirationType {
    /// Refresh tokens expire.
    Expiring,
    /// Refresh tokens never expire (Auth0's default for new clients).
    #[default]
    NonExpiring,
}

impl ExpirationType {
    /// Auth0's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Expiring => "expiring",
            Self::NonExpiring => "non-expiring",
        }
    }
}

/// One API the client may call, with the scopes to grant.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
pub struct ClientGrantSpec {
    /// The API's identifier (the `audience` of its tokens), e.g. `https://orders.acme.com/api`.
    #[schemars(length(min = 1, max = 600), regex(pattern = crate::validation::patterns::IDENTIFIER))]
    pub audience: String,
    /// The scopes to grant, each declared by the API (no white space). An empty list grants
    /// the audience without scopes.
    #[serde(default)]
    #[schemars(inner(length(min = 1, max = 280), regex(pattern = crate::validation::patterns::SCOPE)), extend("x-kubernetes-list-type" = "set"))]
    pub scopes: Vec<String>,
}

/// The Nexus client request body (snake_case field names, as in the REST contract).
///
/// The schema carries the rules it can express (patterns, lengths, list sizes); the operator
/// checks the rest (lengths in UTF-16 code units, as Auth0 counts them, and the tenant's URL
/// policy) before anything is sent to Auth0, and reports a violation as `Ready=False` with
/// reason `InvalidSpec`.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
pub struct NexusClient {
    /// Name of the client. Required: at least one character, no `<` or `>` (Auth0's rule), no
    /// control characters. Auth0 documents no maximum length. A name of white space only is
    /// accepted (Auth0 takes it) with a `Warning` event.
    #[schemars(length(min = 1), regex(pattern = crate::validation::patterns::NAME))]
    pub name: String,
    /// Application type: `regular_web`, `spa`, `native`, `non_interactive` or another Auth0
    /// application type. Required.
    #[schemars(length(min = 1), extend("enum" = crate::validation::APP_TYPES))]
    pub app_type: String,
    /// Id of an existing Auth0 client to adopt instead of creating one (letters, digits, `_`
    /// and `-`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 128), regex(pattern = crate::validation::patterns::CLIENT_ID))]
    pub id: Option<String>,
    /// Free text description: at most 140 UTF-16 code units (an emoji counts as two), no
    /// control characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 140), regex(pattern = crate::validation::patterns::TEXT))]
    pub description: Option<String>,
    /// URL of the client logo: an absolute URI (`scheme:...`, e.g.
    /// `https://cdn.example.com/logo.png`) in ASCII (an internationalised host in its `xn--`
    /// form), or empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = crate::validation::patterns::LOGO_URI))]
    pub logo_uri: Option<String>,
    /// OAuth2 callback URLs, each an absolute `scheme://` URL in printable ASCII (`*`
    /// wildcards allowed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(inner(length(min = 1), regex(pattern = crate::validation::patterns::URL_ENTRY)))]
    pub callbacks: Option<Vec<String>>,
    /// Extra CORS origins (same rules as `callbacks`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(inner(length(min = 1), regex(pattern = crate::validation::patterns::URL_ENTRY)))]
    pub allowed_origins: Option<Vec<String>>,
    /// Origins for cross-origin authentication, device flow and web_message (same rules as
    /// `callbacks`; at most 100, Auth0's documented limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 100), inner(length(min = 1), regex(pattern = crate::validation::patterns::URL_ENTRY)))]
    pub web_origins: Option<Vec<String>>,
    /// URLs valid to redirect to after logout (same rules as `callbacks`; at most 100, Auth0's
    /// documented limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 100), inner(length(min = 1), regex(pattern = crate::validation::patterns::URL_ENTRY)))]
    pub allowed_logout_urls: Option<Vec<String>>,
    /// OAuth2 grant types the client may use, e.g. `authorization_code`, `refresh_token`,
    /// `client_credentials`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "grant_types_schema")]
    pub grant_types: Option<Vec<String>>,
    /// Login initiation URL: an `https` URL in ASCII without a `#fragment`, or empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = crate::validation::patterns::LOGIN_URI))]
    pub initiate_login_uri: Option<String>,
    /// Native mobile app settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mobile: Option<Mobile>,
    /// Nexus metadata stored in the Auth0 client's `client_metadata`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_metadata: Option<ClientMetadata>,
}

/// `grant_types`: Auth0's grant types.
fn grant_types_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "array",
        "nullable": true,
        "items": {"type": "string", "enum": crate::validation::GRANT_TYPES},
    })
}

/// Mobile settings of a native client.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
pub struct Mobile {
    /// iOS settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ios: Option<MobileIos>,
    /// Android settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub android: Option<MobileAndroid>,
}

/// iOS app identity.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
pub struct MobileIos {
    /// Apple team id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = crate::validation::patterns::TEXT))]
    pub team_id: Option<String>,
    /// App bundle identifier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = crate::validation::patterns::TEXT))]
    pub app_bundle_identifier: Option<String>,
}

/// Android app identity.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
pub struct MobileAndroid {
    /// Fingerprint of the app's signing certificate: hexadecimal pairs separated by colons,
    /// one or more (the SHA-256 fingerprint `keytool -list -v` prints has 32). Becomes Auth0's
    /// `sha256_cert_fingerprints` (a one-element list).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = crate::validation::patterns::SHA256_FINGERPRINT))]
    pub keystore_hash: Option<String>,
    /// Android package name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = crate::validation::patterns::TEXT))]
    pub app_package_name: Option<String>,
}

/// Nexus metadata, stored as strings in Auth0's `client_metadata`. Each text is at most 255
/// UTF-16 code units without control characters.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
pub struct ClientMetadata {
    /// Owners of the client (one string, e.g. comma separated).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 255), regex(pattern = crate::validation::patterns::TEXT))]
    pub owners: Option<String>,
    /// Product the client belongs to.
    #[serde(
        default,
        rename = "productName",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(length(max = 255), regex(pattern = crate::validation::patterns::TEXT))]
    pub product_name: Option<String>,
    /// Claim used as the user principal name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 255), regex(pattern = crate::validation::patterns::TEXT))]
    pub client_upn_key: Option<String>,
    /// Application name.
    #[serde(
        default,
        rename = "applicationName",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(length(max = 255), regex(pattern = crate::validation::patterns::TEXT))]
    pub application_name: Option<String>,
    /// True when created by hand, false when by automation.
    #[serde(
        default,
        rename = "manuallyCreated",
        skip_serializing_if = "Option::is_none"
    )]
    pub manually_created: Option<bool>,
}

/// Where the credentials go.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SecretSpec {
    /// Name of the Secret; defaults to `<AuthClient name>-auth0`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Key names inside the Secret; the defaults work with `envFrom`.
    #[serde(default)]
    pub keys: SecretKeys,
    /// Extra labels for the Secret.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Extra annotations for the Secret.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// Rotate the client secret when it is older than this (Go duration, e.g. `720h`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotate_after: Option<kube::core::Duration>,
}

/// Key names of the credentials Secret.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SecretKeys {
    /// Key for the client id.
    #[serde(default = "default_client_id_key")]
    pub client_id: String,
    /// Key for the client secret.
    #[serde(default = "default_client_secret_key")]
    pub client_secret: String,
    /// Key for the Auth0 domain.
    #[serde(default = "default_domain_key")]
    pub domain: String,
    /// Key for the issuer base URL (`https://{domain}/`).
    #[serde(default = "default_issuer_key")]
    pub issuer_base_url: String,
    /// Key for the audience of the client's first grant (`spec.grants[0].audience`); written
    /// only when the client has grants.
    #[serde(default = "default_audience_key")]
    pub audience: String,
    /// Key for the private key (PEM, PKCS #8) of a `privateKeyJwt` client.
    #[serde(default = "default_assertion_key_key")]
    pub client_assertion_key: String,
    /// Key for the key id (`kid`) of that private key, for the header of client assertions.
    #[serde(default = "default_assertion_kid_key")]
    pub client_assertion_kid: String,
}

fn default_client_id_key() -> String {
    "AUTH0_CLIENT_ID".into()
}
fn default_client_secret_key() -> String {
    "AUTH0_CLIENT_SECRET".into()
}
fn default_domain_key() -> String {
    "AUTH0_DOMAIN".into()
}
fn default_issuer_key() -> String {
    "AUTH0_ISSUER_BASE_URL".into()
}
fn default_audience_key() -> String {
    "AUTH0_AUDIENCE".into()
}
fn default_assertion_key_key() -> String {
    "AUTH0_CLIENT_ASSERTION_KEY".into()
}
fn default_assertion_kid_key() -> String {
    "AUTH0_CLIENT_ASSERTION_KID".into()
}

impl Default for SecretKeys {
    fn default() -> Self {
        Self {
            client_id: default_client_id_key(),
            client_secret: default_client_secret_key(),
            domain: default_domain_key(),
            issuer_base_url: default_issuer_key(),
            audience: default_audience_key(),
            client_assertion_key: default_assertion_key_key(),
            client_assertion_kid: default_assertion_kid_key(),
        }
    }
}

/// What deletion of the `AuthClient` does to the Auth0 client.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
pub enum DeletionPolicy {
    /// Delete the Auth0 client.
    #[default]
    Delete,
    /// Leave the Auth0 client in place.
    Orphan,
}

/// What the operator does about changes made outside it.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
pub enum DriftPolicy {
    /// Restore the spec.
    #[default]
    Correct,
    /// Only report the drift in the `Drifted` condition.
    Report,
}

/// Whether an existing client tagged by someone else may be adopted.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
pub enum AdoptionPolicy {
    /// Adopt only clients that no other AuthClient or cluster has tagged.
    #[default]
    IfUnowned,
    /// Also adopt a client tagged by another cluster, or by another AuthClient of the same
    /// namespace (never one of another namespace of this cluster).
    TakeOver,
}

/// Observed state of an `AuthClient`.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AuthClientStatus {
    /// Generation of the spec this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready` (reasons: Synced, TenantNotFound, TenantNotReady, NamespaceNotAllowed,
    /// InvalidSpec, GrantNotAllowed, ResourceServerNotReady, ConnectionNotAllowed,
    /// ConnectionNotFound, Auth0Rejected, Auth0Refused, RateLimited, Auth0Unavailable,
    /// SecretConflict, ClientNotFound, AdoptionRefused, AdoptionNotAllowed, Deleting) and `Drifted` (ChangedOutsideOperator,
    /// Corrected, InSync).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    /// Auth0 client id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// Tenant the client was created in (guards against tenant changes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// Name of the Secret holding the credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_name: Option<String>,
    /// Last time the Auth0 client was confirmed to match the spec.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_sync_time: Option<Time>,
    /// Last time the client secret was rotated (or first issued).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_rotation_time: Option<Time>,
    /// Value of the rotate-secret annotation that was last acted on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotation_request: Option<String>,
    /// Written by operator versions before the `auth.nexus.dev/creation-attempt` annotation:
    /// a create request that may have reached Auth0. Still honoured (the next pass looks for
    /// the client it may have created), and cleared once settled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_creation: Option<PendingCreation>,
    /// The last create attempt (the value of the `auth.nexus.dev/creation-attempt`
    /// annotation) whose outcome this status records: the client it created, or the
    /// certainty that it created nothing. An annotation with another value means a create may
    /// have reached Auth0 without being recorded; the next pass then looks for the client
    /// carrying this object's ownership tag before it creates one, so one AuthClient never
    /// gets two Auth0 clients.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_creation_attempt: Option<String>,
    /// Set when Auth0 refused this spec permanently (a 4xx such as 400 `invalid_body`): the
    /// operator makes no further Auth0 call for this AuthClient until its spec (generation) or
    /// its AuthTenant (generation) changes. The Ready condition carries Auth0's message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth0_rejection: Option<Auth0Rejection>,
    /// Fields found changed in Auth0 and left as they are because `driftPolicy` is `Report`
    /// (dotted paths such as `callbacks` or `client_metadata.owners`). Empty when in sync.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reported_drift: Vec<String>,
    /// The client's grants in Auth0 as the operator last applied or observed them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["audience"]))]
    pub grants: Vec<GrantStatus>,
    /// The connections the operator enabled the client on.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"]))]
    pub connections: Vec<ConnectionStatus>,
    /// The key credentials of a `privateKeyJwt` client: the active key and the retiring one
    /// with their Auth0 credential ids, key ids and times (never key material).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials: Option<crate::credentials::CredentialsStatus>,
}

/// One Auth0 client grant of the client.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct GrantStatus {
    /// The API's identifier.
    pub audience: String,
    /// Auth0's id of the grant.
    pub grant_id: String,
    /// The scopes granted.
    #[serde(default)]
    pub scopes: Vec<String>,
}

/// One connection the client is enabled on.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionStatus {
    /// The connection's name.
    pub name: String,
    /// Auth0's id of the connection.
    pub connection_id: String,
}

/// The spec and tenant a permanent Auth0 refusal was observed for.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Auth0Rejection {
    /// `metadata.generation` of the AuthClient when Auth0 refused it.
    pub generation: i64,
    /// `metadata.generation` of the AuthTenant at that time.
    #[serde(default)]
    pub tenant_generation: i64,
}

/// A create request that may have reached Auth0.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PendingCreation {
    /// Ownership tag written into the client's metadata.
    pub tag: String,
    /// When the create was first attempted.
    pub started_at: Time,
}

impl AuthClient {
    /// Name of the credentials Secret.
    pub fn secret_name(&self) -> String {
        match &self.spec.secret.name {
            Some(name) if !name.is_empty() => name.clone(),
            _ => format!("{}-auth0", kube::ResourceExt::name_any(self)),
        }
    }
}
