//! `AuthTenant`: one Auth0 tenant, how to reach it, and who may use it.

// The derive's repeated `printcolumn(type_ = ...)` arguments trip this lint; they are not
// duplicated attributes.
#![allow(clippy::duplicated_attributes)]

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, LabelSelector};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// An Auth0 tenant that `AuthClient`s can use. Its name is the Nexus `tenantId`.
#[derive(CustomResource, Clone, Debug, Deserialize, Serialize, JsonSchema, PartialEq)]
#[kube(
    group = "auth.nexus.dev",
    version = "v1alpha1",
    kind = "AuthTenant",
    status = "AuthTenantStatus",
    shortname = "atn",
    category = "nexus",
    doc = "An Auth0 tenant that AuthClients can use; its name is the Nexus tenantId.",
    printcolumn(name = "Domain", type_ = "string", json_path = ".spec.domain"),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(
        name = "Reason",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].reason"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct AuthTenantSpec {
    /// Auth0 domain of the tenant, e.g. `acme.eu.auth0.com`. Also the audience of Management API
    /// tokens (`https://{domain}/api/v2/`) and, unless `issuerBaseUrl` is set, what client
    /// Secrets advertise.
    #[schemars(
        length(min = 1),
        regex(pattern = r"^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:[0-9]+)?$")
    )]
    pub domain: String,

    /// Base URL override for the Management API and token endpoint (private cloud, a local
    /// simulator). Must be `https://`, except `http://` for loopback hosts. Defaults to
    /// `https://{domain}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,

    /// Where applications reach the tenant, written into client Secrets as
    /// `AUTH0_ISSUER_BASE_URL` (and its host, with the port if any, as `AUTH0_DOMAIN`): an Auth0
    /// custom domain such as `https://login.acme.com/`, or a local simulator. Must be
    /// `https://`, except `http://` for loopback hosts. Defaults to `https://{domain}/`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(
        pattern = r"^(https://[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?|http://(localhost|127\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}|\[::1\]))(:[0-9]{1,5})?/?$"
    ))]
    pub issuer_base_url: Option<String>,

    /// Secret with the machine-to-machine application credentials the operator uses.
    pub credentials_secret_ref: CredentialsSecretRef,

    /// Share of the tenant's Management API rate limit this operator allows itself. Auth0's
    /// limit is tenant-wide and shared with every other caller, logins included.
    #[serde(default)]
    pub rate_limit: RateLimit,

    /// Namespaces whose `AuthClient`s may use this tenant. Nothing is allowed by default.
    #[serde(default)]
    pub allowed_namespaces: AllowedNamespaces,

    /// Which namespaces may manage Auth0 clients they did not create (adoption with
    /// `spec.client.id` of an `AuthClient`). Unset: no namespace may adopt, and an
    /// `AuthClient` naming an existing client reports `Ready=False` with reason
    /// `AdoptionNotAllowed` without any Auth0 call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adoption: Option<Adoption>,

    /// URL patterns that callbacks, origins and logout URLs of this tenant's clients must
    /// match. Empty lists allow every URL.
    ///
    /// Each pattern is `scheme://host[:port][path]`, and URLs are parsed before they are
    /// matched: the scheme is literal; the host is matched label by label (a first label `*`
    /// stands for one or more labels, so `https://*.acme.com/**` matches
    /// `https://app.acme.com/cb` but neither `https://acme.com/` nor
    /// `https://evil.example?.acme.com/`; a `*` inside a label matches within that label); no
    /// port means the scheme's default and `:*` any port; in the path `*` matches any run
    /// without `/` and `**` anything, the query included. A URL with user information
    /// (`user@host`) matches nothing. A pattern that is not of this form makes the tenant
    /// `Ready=False` with reason `InvalidUrlPolicy`.
    #[serde(default)]
    pub url_policy: UrlPolicy,

    /// Namespace where the HTTP facade creates this tenant's `AuthClient`s. Without it the
    /// facade refuses requests for the tenant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub facade_namespace: Option<String>,

    /// Audiences that `AuthClient`s may be granted without an `AuthResourceServer`: APIs
    /// managed outside this cluster, or Auth0's own Management API
    /// (`https://{domain}/api/v2/`), which is grantable only when listed here. Each entry
    /// names the namespaces that may request it and, optionally, the scopes they may
    /// request (without `scopes`, any scope). Removing an entry revokes what it allowed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["audience"]))]
    pub grantable_audiences: Vec<GrantableAudience>,

    /// Which connections the clients of each namespace may be enabled on (`spec.connections`
    /// of an `AuthClient`). When unset, every connection is allowed; when set, a connection
    /// not listed for the client's namespace is refused (`ConnectionNotAllowed`) and a client
    /// already enabled on it is disabled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"]))]
    pub allowed_connections: Option<Vec<AllowedConnection>>,
}

/// Who may adopt existing Auth0 clients.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Adoption {
    /// Namespaces whose `AuthClient`s may adopt an existing Auth0 client (`spec.client.id`):
    /// one created in the dashboard, by another tool, by another cluster (with
    /// `adoptionPolicy: TakeOver`), or left behind by a deleted AuthClient. A client tagged by
    /// an AuthClient of another namespace of this cluster, and the tenant's own Management
    /// API client, are never adopted, whatever this says.
    #[serde(default)]
    pub allowed_namespaces: AllowedNamespaces,
}

/// An audience the tenant lets some namespaces be granted directly.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct GrantableAudience {
    /// The API identifier (token audience).
    #[schemars(length(min = 1, max = 600))]
    pub audience: String,
    /// Namespaces whose `AuthClient`s may request grants to it.
    #[serde(default)]
    pub namespaces: AllowedNamespaces,
    /// The scopes they may request; when unset, any scope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Vec<String>>,
}

/// A connection some namespaces may use.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AllowedConnection {
    /// The connection's name in Auth0.
    #[schemars(length(min = 1, max = 128))]
    pub name: String,
    /// Namespaces whose `AuthClient`s may be enabled on it.
    #[serde(default)]
    pub namespaces: AllowedNamespaces,
}

/// Where the M2M credentials live.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CredentialsSecretRef {
    /// Namespace of the Secret.
    #[schemars(length(min = 1))]
    pub namespace: String,
    /// Name of the Secret.
    #[schemars(length(min = 1))]
    pub name: String,
    /// Key holding the M2M application's client id.
    #[serde(default = "default_client_id_key")]
    pub client_id_key: String,
    /// Key holding the M2M application's client secret.
    #[serde(default = "default_client_secret_key")]
    pub client_secret_key: String,
}

fn default_client_id_key() -> String {
    "client_id".into()
}
fn default_client_secret_key() -> String {
    "client_secret".into()
}

/// Client-side token bucket for one tenant, shared by every caller in the operator.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RateLimit {
    /// Sustained requests per second.
    #[serde(default = "default_requests_per_second")]
    #[schemars(range(min = 1, max = 1000))]
    pub requests_per_second: u32,
    /// Requests that may be sent at once after a quiet period.
    #[serde(default = "default_burst")]
    #[schemars(range(min = 1, max = 1000))]
    pub burst: u32,
}

fn default_requests_per_second() -> u32 {
    1
}
fn default_burst() -> u32 {
    2
}

impl Default for RateLimit {
    fn default() -> Self {
        Self {
            requests_per_second: default_requests_per_second(),
            burst: default_burst(),
        }
    }
}

/// A set of namespaces: those named (`*` for all), plus those matching the selector.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AllowedNamespaces {
    /// Namespace names allowed explicitly; `*` allows every namespace.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub names: Vec<String>,
    /// Namespaces whose labels match this selector are allowed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<LabelSelector>,
}

/// URL patterns, each `scheme://host[:port][path]`, matched against parsed URLs
/// ([`crate::url_pattern`]).
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct UrlPolicy {
    /// Patterns for `callbacks` and `initiate_login_uri`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub callbacks: Vec<String>,
    /// Patterns for `allowed_origins` and `web_origins`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub origins: Vec<String>,
    /// Patterns for `allowed_logout_urls`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub logout_urls: Vec<String>,
}

/// Observed state of an `AuthTenant`.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AuthTenantStatus {
    /// Generation of the spec this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready` is True when a Management API token was obtained with the credentials.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
}

impl AuthTenant {
    /// What client Secrets advertise as `AUTH0_ISSUER_BASE_URL`: `spec.issuerBaseUrl` (with a
    /// trailing `/`) or `https://{domain}/`.
    pub fn issuer_base_url(&self) -> String {
        match &self.spec.issuer_base_url {
            Some(url) if !url.is_empty() => format!("{}/", url.trim_end_matches('/')),
            _ => format!("https://{}/", self.spec.domain),
        }
    }

    /// What client Secrets advertise as `AUTH0_DOMAIN`: the host (and port) of
    /// [`issuer_base_url`](Self::issuer_base_url).
    pub fn advertised_domain(&self) -> String {
        let url = self.issuer_base_url();
        let without_scheme = url.split_once("://").map_or(url.as_str(), |(_, rest)| rest);
        without_scheme.trim_end_matches('/').to_owned()
    }

    /// Base URL of the tenant's APIs: the endpoint override or `https://{domain}`.
    pub fn base_url(&self) -> String {
        match &self.spec.endpoint {
            Some(endpoint) if !endpoint.is_empty() => endpoint.trim_end_matches('/').to_owned(),
            _ => format!("https://{}", self.spec.domain),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant(issuer_base_url: Option<&str>) -> AuthTenant {
        let spec: AuthTenantSpec = serde_json::from_value(serde_json::json!({
            "domain": "acme.eu.auth0.com",
            "issuerBaseUrl": issuer_base_url,
            "credentialsSecretRef": {"namespace": "ns", "name": "m2m"},
        }))
        .expect("spec");
        AuthTenant::new("acme", spec)
    }

    #[test]
    fn secrets_advertise_the_domain_unless_an_issuer_is_set() {
        let plain = tenant(None);
        assert_eq!(plain.issuer_base_url(), "https://acme.eu.auth0.com/");
        assert_eq!(plain.advertised_domain(), "acme.eu.auth0.com");
        let custom = tenant(Some("https://login.acme.com"));
        assert_eq!(custom.issuer_base_url(), "https://login.acme.com/");
        assert_eq!(custom.advertised_domain(), "login.acme.com");
        let sim = tenant(Some("http://127.0.0.1:8089/"));
        assert_eq!(sim.issuer_base_url(), "http://127.0.0.1:8089/");
        assert_eq!(sim.advertised_domain(), "127.0.0.1:8089");
    }
}
