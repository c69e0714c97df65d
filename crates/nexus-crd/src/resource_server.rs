//! `AuthResourceServer`: one Auth0 API (resource server), its scopes and token settings, and
//! which namespaces' `AuthClient`s may request grants to it.

// The derive's repeated `printcolumn(type_ = ...)` arguments trip this lint; they are not
// duplicated attributes.
#![allow(clippy::duplicated_attributes)]

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{AllowedNamespaces, Auth0Rejection, DeletionPolicy, DriftPolicy};

/// One Auth0 API ("resource server") managed declaratively.
#[derive(CustomResource, KubeSchema, Clone, Debug, Deserialize, Serialize, PartialEq)]
#[kube(
    group = "auth.nexus.dev",
    version = "v1alpha1",
    kind = "AuthResourceServer",
    namespaced,
    status = "AuthResourceServerStatus",
    shortname = "ars",
    category = "nexus",
    doc = "An Auth0 API (resource server): the audience machine-to-machine AuthClients obtain tokens for, its scopes, and which namespaces may request grants to it.",
    printcolumn(name = "Tenant", type_ = "string", json_path = ".spec.tenant"),
    printcolumn(name = "Identifier", type_ = "string", json_path = ".spec.identifier"),
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
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct AuthResourceServerSpec {
    /// Name of the `AuthTenant` the API lives in. The tenant's `allowedNamespaces` must allow
    /// this namespace, as for an `AuthClient`. Cannot be changed.
    #[x_kube(validation = Rule::new("self == oldSelf").message("tenant cannot be changed; create a new AuthResourceServer instead").reason(Reason::FieldValueForbidden))]
    #[schemars(length(min = 1))]
    pub tenant: String,

    /// The API's unique identifier in the tenant: the `audience` clients ask tokens for, for
    /// example `https://orders.acme.com/api`. At most 600 characters, without white space or
    /// control characters. Cannot be changed (Auth0 does not allow it either): to move an API
    /// to a new identifier, create a new AuthResourceServer.
    ///
    /// Identifiers are unique per tenant. The operator never takes over an API it did not
    /// create: when the identifier is already used in Auth0 (or by another AuthResourceServer
    /// of the cluster), the resource reports `Ready=False` with reason `IdentifierInUse`.
    #[x_kube(validation = Rule::new("self == oldSelf").message("identifier cannot be changed; create a new AuthResourceServer instead").reason(Reason::FieldValueForbidden))]
    #[schemars(length(min = 1, max = 600), regex(pattern = crate::validation::patterns::IDENTIFIER))]
    pub identifier: String,

    /// Display name of the API in the Auth0 dashboard: at least one character, no `<` or `>`,
    /// no control characters, at most 200 UTF-16 code units. Optional, as in Auth0 (which
    /// creates an API without a name): when unset the API is created without one, and a name
    /// given in the dashboard is left alone. A name of white space only is accepted (Auth0
    /// takes it) with a `Warning` event.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[schemars(length(min = 1, max = 200), regex(pattern = crate::validation::patterns::NAME))]
    pub name: String,

    /// The permissions (scopes) the API defines, each with a value such as `read:orders` and
    /// an optional description. `AuthClient`s may be granted only scopes listed here. The list
    /// replaces the API's scopes in Auth0.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["value"]))]
    pub scopes: Vec<ResourceServerScope>,

    /// Algorithm Auth0 signs the API's access tokens with: `RS256` (default), `HS256` or
    /// `PS256`.
    #[serde(default)]
    pub signing_alg: SigningAlg,

    /// Lifetime, in seconds, of the access tokens issued for the API (0 to 2592000, 30 days:
    /// Auth0's documented maximum). Auth0's default, 86400, applies when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 2592000))]
    pub token_lifetime_seconds: Option<u32>,

    /// Lifetime, in seconds, of access tokens issued through browser flows (implicit and
    /// hybrid). At most `tokenLifetimeSeconds` (or Auth0's default of 86400 when that is unset),
    /// which Auth0 enforces ("cannot be larger than token_lifetime"). Auth0's default, 7200,
    /// applies when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 2592000))]
    pub token_lifetime_for_web_seconds: Option<u32>,

    /// Whether refresh tokens may be issued for the API (`offline_access`). Left as Auth0 has
    /// it when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_offline_access: Option<bool>,

    /// Whether first-party applications skip the user consent screen. Left as Auth0 has it
    /// when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skip_consent_for_verifiable_first_party_clients: Option<bool>,

    /// Role-based access control settings of the API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization: Option<ApiAuthorization>,

    /// Who may request grants to this API: which namespaces' `AuthClient`s may list its
    /// identifier in `spec.grants` (and then only with scopes declared in `scopes`).
    #[serde(default)]
    pub grants: GrantPolicy,

    /// What happens to the Auth0 API when this resource is deleted: `Delete` (default)
    /// removes it from Auth0 (Auth0 deletes its client grants with it), `Orphan` leaves it.
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,

    /// What happens when the API is changed outside the operator (the dashboard): `Correct`
    /// (default) restores the spec, `Report` only reports it in the `Drifted` condition.
    #[serde(default)]
    pub drift_policy: DriftPolicy,
}

/// One permission of an API.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
pub struct ResourceServerScope {
    /// The scope as it appears in tokens, e.g. `read:orders`: 1 to 280 characters, no white
    /// space.
    #[schemars(length(min = 1, max = 280), regex(pattern = crate::validation::patterns::SCOPE))]
    pub value: String,
    /// What the scope allows, shown in the dashboard and on consent screens: at most 500
    /// UTF-16 code units, no control characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 500), regex(pattern = crate::validation::patterns::TEXT))]
    pub description: Option<String>,
}

/// The token signing algorithm of an API.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
pub enum SigningAlg {
    /// RSA with SHA-256 (asymmetric; verifiable with the tenant's JWKS).
    #[default]
    RS256,
    /// HMAC with SHA-256 (symmetric: verifiers need the API's signing secret).
    HS256,
    /// RSA-PSS with SHA-256.
    PS256,
}

impl SigningAlg {
    /// Auth0's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RS256 => "RS256",
            Self::HS256 => "HS256",
            Self::PS256 => "PS256",
        }
    }
}

/// Role-based access control of an API.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ApiAuthorization {
    /// Whether Auth0 enforces the API's RBAC policies (the user's permissions limit the
    /// scopes of user tokens). Left as Auth0 has it when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enforce_policies: Option<bool>,
    /// Dialect of the access tokens: `access_token` (Auth0's claims), `access_token_authz`
    /// (plus a `permissions` claim), `rfc9068_profile` (the IETF JWT access token profile) or
    /// `rfc9068_profile_authz` (plus `permissions`). Left as Auth0 has it when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_dialect: Option<TokenDialect>,
}

/// Dialect of an API's access tokens.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum TokenDialect {
    /// Auth0's standard claims.
    AccessToken,
    /// Standard claims plus RBAC `permissions`.
    AccessTokenAuthz,
    /// The IETF JWT Access Token Profile (RFC 9068).
    #[serde(rename = "rfc9068_profile")]
    Rfc9068Profile,
    /// RFC 9068 plus RBAC `permissions`.
    #[serde(rename = "rfc9068_profile_authz")]
    Rfc9068ProfileAuthz,
}

impl TokenDialect {
    /// Auth0's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AccessToken => "access_token",
            Self::AccessTokenAuthz => "access_token_authz",
            Self::Rfc9068Profile => "rfc9068_profile",
            Self::Rfc9068ProfileAuthz => "rfc9068_profile_authz",
        }
    }
}

/// Which `AuthClient`s may request grants to an API.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct GrantPolicy {
    /// Namespaces (by name, `*` for all, or by label selector) whose `AuthClient`s may
    /// request grants to this API. Nothing is allowed by default, except the
    /// AuthResourceServer's own namespace, which always may: it is the same team.
    ///
    /// Removing a namespace (or a scope from `scopes`) revokes what its clients were granted:
    /// the operator deletes their grants, or reduces their scopes, in Auth0.
    #[serde(default)]
    pub allowed_namespaces: AllowedNamespaces,
}

/// Observed state of an `AuthResourceServer`.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AuthResourceServerStatus {
    /// Generation of the spec this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready` (reasons: Synced, TenantNotFound, TenantNotReady, NamespaceNotAllowed,
    /// InvalidSpec, IdentifierInUse, Auth0Rejected, Auth0Refused, RateLimited,
    /// Auth0Unavailable, Deleting) and `Drifted` (ChangedOutsideOperator, Corrected, InSync).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    /// Auth0's id of the API (its `id`, not the identifier).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_server_id: Option<String>,
    /// The identifier the API was created with (guards against identifier changes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identifier: Option<String>,
    /// The tenant the API was created in (guards against tenant changes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// Last time the API was confirmed to match the spec.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_sync_time: Option<Time>,
    /// Written by operator versions before the `auth.nexus.dev/creation-attempt` annotation:
    /// a create request that may have reached Auth0. Still honoured (an API found with this
    /// identifier after a 409 is recovered when the marker says the identifier was probed
    /// free), and cleared once settled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_creation: Option<PendingResourceServer>,
    /// The last create attempt (the value of the `auth.nexus.dev/creation-attempt`
    /// annotation) whose outcome this status records: the API it created, or the certainty
    /// that it created nothing. The annotation is written, together with the finalizer, only
    /// after the identifier was looked up in Auth0 and found free; an annotation with another
    /// value means a create may have reached Auth0 without being recorded, and the next pass's
    /// create then takes a 409 for this identifier as its own API (the identifier is unique in
    /// the tenant), so one AuthResourceServer never gets two Auth0 APIs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_creation_attempt: Option<String>,
    /// Set when Auth0 refused this spec permanently (a 4xx such as 400 `invalid_body`): no
    /// further Auth0 call until the spec or the AuthTenant changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth0_rejection: Option<Auth0Rejection>,
    /// Fields found changed in Auth0 and left as they are because `driftPolicy` is `Report`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reported_drift: Vec<String>,
}

/// A create request for an API that may have reached Auth0.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PendingResourceServer {
    /// The identifier sent.
    pub identifier: String,
    /// When the create was first attempted.
    pub started_at: Time,
    /// The identifier was looked up in Auth0 just before this marker was written and no API
    /// had it: an API found with it after an uncertain create is this object's. A marker
    /// without it (written by an older operator) recovers nothing.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub probed: bool,
}

impl AuthResourceServer {
    /// Whether this object's status records that it holds its identifier in its tenant (it
    /// created or adopted the Auth0 API and knows its id).
    pub fn holds_identifier(&self) -> bool {
        self.status.as_ref().is_some_and(|s| {
            s.resource_server_id.is_some()
                && s.identifier.as_deref() == Some(self.spec.identifier.as_str())
                && s.tenant.as_deref() == Some(self.spec.tenant.as_str())
        })
    }

    /// The declared scope values.
    pub fn scope_values(&self) -> impl Iterator<Item = &str> {
        self.spec.scopes.iter().map(|s| s.value.as_str())
    }
}
