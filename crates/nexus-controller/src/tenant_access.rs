//! Everything about the `AuthTenant` an `AuthClient` names: lookup, namespace governance and
//! the Management API client built from its credentials Secret.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::Api;

use crate::caches::Credentials;
use auth0_mgmt::{Auth0Registry, SecretString, TenantClient, TenantConfig};
use nexus_crd::{AllowedNamespaces, AuthTenant};

/// Why a tenant cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TenantError {
    /// No `AuthTenant` has that name.
    #[error("AuthTenant '{0}' does not exist")]
    NotFound(String),
    /// The credentials Secret or one of its keys is missing.
    #[error("credentials Secret {namespace}/{name} of AuthTenant '{tenant}' {problem}")]
    Credentials {
        /// Tenant name.
        tenant: String,
        /// Namespace of the Secret.
        namespace: String,
        /// Name of the Secret.
        name: String,
        /// What is wrong with it.
        problem: String,
    },
    /// The API server refuses the operator's read of the credentials Secret (403).
    #[error(
        "credentials Secret {namespace}/{name} of AuthTenant '{tenant}' may not be read by the operator \
         (403 Forbidden: its ServiceAccount has no get/list/watch on this Secret); with the Helm chart's \
         namespaced RBAC (watchNamespaces), add {{namespace: {namespace}, name: {name}}} to credentialsSecrets"
    )]
    Forbidden {
        /// Tenant name.
        tenant: String,
        /// Namespace of the Secret.
        namespace: String,
        /// Name of the Secret.
        name: String,
    },
    /// The endpoint override is not acceptable.
    #[error("AuthTenant '{tenant}' endpoint {problem}")]
    Endpoint {
        /// Tenant name.
        tenant: String,
        /// What is wrong with it.
        problem: String,
    },
    /// The Kubernetes API failed.
    #[error("Kubernetes API error: {0}")]
    Kube(#[source] kube::Error),
}

/// Checks the endpoint override: `https://` anywhere, `http://` only for loopback hosts.
pub fn check_endpoint(tenant: &AuthTenant) -> Result<(), TenantError> {
    let Some(endpoint) = tenant.spec.endpoint.as_deref().filter(|e| !e.is_empty()) else {
        return Ok(());
    };
    let fail = |problem: &str| TenantError::Endpoint {
        tenant: kube::ResourceExt::name_any(tenant),
        problem: problem.to_owned(),
    };
    if let Some(rest) = endpoint.strip_prefix("https://") {
        if rest.is_empty() {
            return Err(fail("has no host"));
        }
        return Ok(());
    }
    let Some(rest) = endpoint.strip_prefix("http://") else {
        return Err(fail(
            "must start with https:// (or http:// for a loopback host)",
        ));
    };
    let host_port = rest.split('/').next().unwrap_or_default();
    let host = match host_port.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => host_port.rsplit_once(':').map_or(host_port, |(h, _)| h),
    };
    let loopback = host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .map(|ip| ip.is_loopback())
            .unwrap_or(false);
    if loopback {
        Ok(())
    } else {
        Err(fail(
            "uses plain http:// for a host that is not loopback; use https://",
        ))
    }
}

/// Builds (or reuses) the Management API client of the tenant, reading its credentials Secret
/// with a GET. For callers without the controller's caches (the HTTP facade); the reconcilers
/// use [`client_from_secret`] with the cached Secret.
pub async fn tenant_client(
    kube: &kube::Client,
    auth0: &Auth0Registry,
    tenant: &AuthTenant,
) -> Result<Arc<TenantClient>, TenantError> {
    check_endpoint(tenant)?;
    let reference = &tenant.spec.credentials_secret_ref;
    let secret = match Api::<Secret>::namespaced(kube.clone(), &reference.namespace)
        .get_opt(&reference.name)
        .await
    {
        Ok(secret) => secret,
        Err(kube::Error::Api(status)) if status.code == 403 => {
            return Err(forbidden(tenant));
        }
        Err(error) => return Err(TenantError::Kube(error)),
    };
    client_from_secret(auth0, tenant, secret.as_ref())
}

/// Builds (or reuses) the Management API client of the tenant from the cached state of its
/// credentials Secret (`None`, or still syncing: treated as absent).
pub fn client_from_cache(
    auth0: &Auth0Registry,
    tenant: &AuthTenant,
    credentials: Option<&Credentials>,
) -> Result<Arc<TenantClient>, TenantError> {
    match credentials {
        Some(Credentials::Present(secret)) => client_from_secret(auth0, tenant, Some(secret)),
        Some(Credentials::Forbidden) => {
            check_endpoint(tenant)?;
            Err(forbidden(tenant))
        }
        Some(Credentials::Absent | Credentials::Syncing) | None => {
            client_from_secret(auth0, tenant, None)
        }
    }
}

fn forbidden(tenant: &AuthTenant) -> TenantError {
    let reference = &tenant.spec.credentials_secret_ref;
    TenantError::Forbidden {
        tenant: kube::ResourceExt::name_any(tenant),
        namespace: reference.namespace.clone(),
        name: reference.name.clone(),
    }
}

/// Builds (or reuses) the Management API client of the tenant from its credentials Secret
/// (`None`: the Secret does not exist).
pub fn client_from_secret(
    auth0: &Auth0Registry,
    tenant: &AuthTenant,
    secret: Option<&Secret>,
) -> Result<Arc<TenantClient>, TenantError> {
    check_endpoint(tenant)?;
    let name = kube::ResourceExt::name_any(tenant);
    let reference = &tenant.spec.credentials_secret_ref;
    let fail = |problem: String| TenantError::Credentials {
        tenant: name.clone(),
        namespace: reference.namespace.clone(),
        name: reference.name.clone(),
        problem,
    };
    let secret = secret.ok_or_else(|| fail("does not exist".into()))?;
    let read = |key: &str| -> Result<String, TenantError> {
        let value = secret
            .data
            .as_ref()
            .and_then(|d| d.get(key))
            .ok_or_else(|| fail(format!("has no key '{key}'")))?;
        let text = std::str::from_utf8(&value.0)
            .map_err(|_| fail(format!("key '{key}' is not UTF-8")))?
            .trim()
            .to_owned();
        if text.is_empty() {
            return Err(fail(format!("key '{key}' is empty")));
        }
        Ok(text)
    };
    let client_id = read(&reference.client_id_key)?;
    let client_secret = read(&reference.client_secret_key)?;
    Ok(auth0.tenant(TenantConfig {
        tenant: name.clone(),
        domain: tenant.spec.domain.clone(),
        base_url: tenant.base_url(),
        client_id,
        client_secret: SecretString::new(client_secret),
        requests_per_second: tenant.spec.rate_limit.requests_per_second,
        burst: tenant.spec.rate_limit.burst,
    }))
}

/// Whether `namespace` (with `labels`) may use the tenant: listed by name (or `*`), or
/// matching the selector.
pub fn namespace_allowed(
    tenant: &AuthTenant,
    namespace: &str,
    labels: &BTreeMap<String, String>,
) -> bool {
    namespaces_match(&tenant.spec.allowed_namespaces, namespace, labels)
}

/// Whether `namespace` (with `labels`) is in the set: named (or `*`), or matching the
/// selector.
pub fn namespaces_match(
    allowed: &AllowedNamespaces,
    namespace: &str,
    labels: &BTreeMap<String, String>,
) -> bool {
    if allowed.names.iter().any(|n| n == namespace || n == "*") {
        return true;
    }
    allowed
        .selector
        .as_ref()
        .is_some_and(|selector| selector_matches(selector, labels))
}

/// Kubernetes label-selector semantics (`matchLabels` AND every `matchExpressions` entry). An
/// empty selector matches everything, as in Kubernetes.
pub fn selector_matches(selector: &LabelSelector, labels: &BTreeMap<String, String>) -> bool {
    let labels_ok = selector
        .match_labels
        .iter()
        .flatten()
        .all(|(k, v)| labels.get(k) == Some(v));
    let expressions_ok = selector.match_expressions.iter().flatten().all(|expr| {
        let value = labels.get(&expr.key);
        let values = expr.values.as_deref().unwrap_or_default();
        match expr.operator.as_str() {
            "In" => value.is_some_and(|v| values.contains(v)),
            "NotIn" => value.is_none_or(|v| !values.contains(v)),
            "Exists" => value.is_some(),
            "DoesNotExist" => value.is_none(),
            _ => false,
        }
    });
    labels_ok && expressions_ok
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;
    use nexus_crd::{AuthTenantSpec, CredentialsSecretRef};

    fn tenant(endpoint: Option<&str>) -> AuthTenant {
        AuthTenant::new(
            "acme",
            AuthTenantSpec {
                domain: "acme.eu.auth0.com".into(),
                endpoint: endpoint.map(str::to_owned),
                issuer_base_url: None,
                credentials_secret_ref: CredentialsSecretRef {
                    namespace: "nexus-system".into(),
                    name: "acme-m2m".into(),
                    client_id_key: "client_id".into(),
                    client_secret_key: "client_secret".into(),
                },
                rate_limit: Default::default(),
                allowed_namespaces: Default::default(),
                adoption: None,
                url_policy: Default::default(),
                facade_namespace: None,
                grantable_audiences: Vec::new(),
                allowed_connections: None,
            },
        )
    }

    #[test]
    fn endpoints_must_be_https_or_loopback() {
        assert!(check_endpoint(&tenant(None)).is_ok());
        assert!(check_endpoint(&tenant(Some("https://auth.internal"))).is_ok());
        assert!(check_endpoint(&tenant(Some("http://127.0.0.1:8089"))).is_ok());
        assert!(check_endpoint(&tenant(Some("http://localhost:8089/"))).is_ok());
        assert!(check_endpoint(&tenant(Some("http://[::1]:8089"))).is_ok());
        assert!(check_endpoint(&tenant(Some("http://10.0.0.5:8089"))).is_err());
        assert!(check_endpoint(&tenant(Some("http://localhost.evil.io"))).is_err());
        assert!(check_endpoint(&tenant(Some("ftp://x"))).is_err());
        assert_eq!(tenant(None).base_url(), "https://acme.eu.auth0.com");
        assert_eq!(
            tenant(Some("http://127.0.0.1:1/")).base_url(),
            "http://127.0.0.1:1"
        );
    }

    #[test]
    fn label_selectors() {
        let labels: BTreeMap<String, String> = [
            ("team".to_owned(), "a".to_owned()),
            ("env".to_owned(), "prod".to_owned()),
        ]
        .into();
        let by_labels = LabelSelector {
            match_labels: Some([("team".to_owned(), "a".to_owned())].into()),
            match_expressions: None,
        };
        assert!(selector_matches(&by_labels, &labels));
        let expr = |key: &str, op: &str, values: &[&str]| LabelSelector {
            match_labels: None,
            match_expressions: Some(vec![LabelSelectorRequirement {
                key: key.into(),
                operator: op.into(),
                values: Some(values.iter().map(|v| (*v).to_owned()).collect()),
            }]),
        };
        assert!(selector_matches(
            &expr("env", "In", &["prod", "stage"]),
            &labels
        ));
        assert!(!selector_matches(&expr("env", "NotIn", &["prod"]), &labels));
        assert!(selector_matches(&expr("x", "DoesNotExist", &[]), &labels));
        assert!(!selector_matches(&expr("x", "Exists", &[]), &labels));
        assert!(!selector_matches(&expr("env", "Bogus", &[]), &labels));
    }

    #[test]
    fn namespaces_by_name_wildcard_or_selector() {
        let mut t = tenant(None);
        let labels: BTreeMap<String, String> = [("team".to_owned(), "a".to_owned())].into();
        assert!(!namespace_allowed(&t, "team-a", &labels), "deny by default");
        t.spec.allowed_namespaces.names = vec!["team-a".into()];
        assert!(namespace_allowed(&t, "team-a", &BTreeMap::new()));
        assert!(!namespace_allowed(&t, "team-b", &labels));
        t.spec.allowed_namespaces.selector = Some(LabelSelector {
            match_labels: Some(labels.clone()),
            match_expressions: None,
        });
        assert!(namespace_allowed(&t, "team-b", &labels));
        assert!(!namespace_allowed(&t, "team-c", &BTreeMap::new()));
        t.spec.allowed_namespaces.names = vec!["*".into()];
        assert!(namespace_allowed(&t, "anything", &BTreeMap::new()));
    }

    #[test]
    fn credentials_are_read_from_the_secret() {
        let registry = Auth0Registry::new(
            auth0_mgmt::default_http_client(std::time::Duration::from_secs(1)).expect("http"),
            auth0_mgmt::Auth0Metrics::new(),
        );
        let t = tenant(Some("http://127.0.0.1:1"));
        let missing = client_from_secret(&registry, &t, None).expect_err("no Secret");
        assert!(missing.to_string().contains("does not exist"), "{missing}");
        let mut secret = Secret {
            data: Some(
                [(
                    "client_id".to_owned(),
                    k8s_openapi::ByteString(b"m2m".to_vec()),
                )]
                .into(),
            ),
            ..Secret::default()
        };
        let no_key = client_from_secret(&registry, &t, Some(&secret)).expect_err("no key");
        assert!(no_key.to_string().contains("'client_secret'"), "{no_key}");
        if let Some(data) = secret.data.as_mut() {
            data.insert(
                "client_secret".into(),
                k8s_openapi::ByteString(b" s3cret \n".to_vec()),
            );
        }
        let client = client_from_secret(&registry, &t, Some(&secret)).expect("client");
        assert_eq!(client.tenant(), "acme");
    }
}
