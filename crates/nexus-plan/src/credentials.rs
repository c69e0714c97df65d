//! The Management API credentials of a tenant, for a run without a cluster. Two sources, in
//! this order:
//!
//! 1. `--tenant-credentials TENANT=FILE`: FILE holds the tenant's credentials Secret as
//!    Kubernetes prints it (`kubectl get secret -o yaml`: `data` in base64, or `stringData`),
//!    with the keys the AuthTenant's `credentialsSecretRef` names (`client_id`,
//!    `client_secret` by default).
//! 2. Environment variables `NEXUS_TENANT_<TENANT>_CLIENT_ID` and
//!    `NEXUS_TENANT_<TENANT>_CLIENT_SECRET`, `<TENANT>` being the AuthTenant's name in upper
//!    case with every other character than a letter or a digit turned into `_` (CI secrets).
//!
//! The credentials must name the Auth0 they belong to, and are only ever sent there: the
//! credentials file holds an `endpoint` key (`https://TENANT.eu.auth0.com`, or the endpoint
//! override) or a `domain` key, or `NEXUS_TENANT_<TENANT>_ENDPOINT` /
//! `NEXUS_TENANT_<TENANT>_DOMAIN` is set (or [`CredentialSources::pin`]). The AuthTenant in
//! the files alone never decides where the secret goes (in CI a pull request controls the
//! files): a tenant whose files point elsewhere, or whose credentials name no endpoint, is
//! refused before any request. A run with a cluster may also trust the cluster's AuthTenant
//! ([`CredentialSources::trust_cluster`]).
//!
//! The secret is only handed to the Auth0 client ([`auth0_mgmt::SecretString`], redacted in
//! every `Debug`/`Display`); no output of `plan` or `import` contains it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;

use auth0_mgmt::{Auth0Registry, TenantClient};
use nexus_controller::tenant_access::{self, TenantError};
use nexus_crd::AuthTenant;

/// Why a tenant's credentials are not usable.
#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    /// `--tenant-credentials` is not `TENANT=FILE`.
    #[error("--tenant-credentials '{0}' is not TENANT=FILE")]
    Flag(String),
    /// The file cannot be read.
    #[error("cannot read the credentials file of tenant '{tenant}' ({path}): {source}")]
    Io {
        /// The tenant.
        tenant: String,
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a Secret manifest.
    #[error(
        "the credentials file of tenant '{tenant}' ({path}) is not a Kubernetes Secret manifest"
    )]
    NotASecret {
        /// The tenant.
        tenant: String,
        /// The file.
        path: String,
    },
    /// Neither a file nor the environment variables.
    #[error(
        "no credentials for tenant '{tenant}': pass --tenant-credentials {tenant}=FILE (its credentials Secret as YAML) or set {id_var} and {secret_var}"
    )]
    Missing {
        /// The tenant.
        tenant: String,
        /// The client id variable.
        id_var: String,
        /// The client secret variable.
        secret_var: String,
    },
    /// The AuthTenant of the files points the credentials at another Auth0 than the one their
    /// owner named: a pull request that edits the AuthTenant must not make the CI job send
    /// the tenant's secret to its own server.
    #[error(
        "AuthTenant '{tenant}' in the files points at {found}, but its credentials belong to {pinned} ({source_name}); nothing was sent"
    )]
    EndpointNotPinned {
        /// The tenant.
        tenant: String,
        /// Where the files point.
        found: String,
        /// Where the credentials may go.
        pinned: String,
        /// Who named `pinned` (a variable, the credentials file, the cluster).
        source_name: String,
    },
    /// The credentials name no Auth0: the files alone never decide where the secret goes.
    #[error(
        "the credentials of tenant '{tenant}' do not name their Auth0, so they are not sent to {found} (taken from the files alone); add `endpoint: {found}` (or `domain: DOMAIN`) to the credentials file's stringData, or set {prefix}ENDPOINT (or {prefix}DOMAIN); nothing was sent"
    )]
    NoEndpoint {
        /// The tenant.
        tenant: String,
        /// Where the files point.
        found: String,
        /// The environment variable prefix of the tenant.
        prefix: String,
    },
    /// The Secret lacks a key, or the AuthTenant's endpoint is refused.
    #[error(transparent)]
    Tenant(#[from] TenantError),
}

/// Where the credentials of each tenant come from.
#[derive(Clone, Debug, Default)]
pub struct CredentialSources {
    files: BTreeMap<String, PathBuf>,
    pins: BTreeMap<String, Vec<Pin>>,
}

/// An Auth0 endpoint the credentials of a tenant may be sent to, and who named it.
#[derive(Clone, Debug)]
struct Pin {
    endpoint: String,
    source: String,
}

/// The keys of a credentials file that name its Auth0.
const ENDPOINT_KEY: &str = "endpoint";
const DOMAIN_KEY: &str = "domain";

impl CredentialSources {
    /// From the `--tenant-credentials TENANT=FILE` flags.
    pub fn from_flags(flags: &[String]) -> Result<Self, CredentialsError> {
        let mut files = BTreeMap::new();
        for flag in flags {
            let (tenant, file) = flag
                .split_once('=')
                .filter(|(t, f)| !t.is_empty() && !f.is_empty())
                .ok_or_else(|| CredentialsError::Flag(flag.clone()))?;
            files.insert(tenant.to_owned(), PathBuf::from(file));
        }
        Ok(Self {
            files,
            pins: BTreeMap::new(),
        })
    }

    /// Pins the credentials of `tenant` to the Auth0 at `endpoint` (`https://DOMAIN`, or the
    /// endpoint override), as `NEXUS_TENANT_<TENANT>_ENDPOINT` does.
    pub fn pin(self, tenant: &str, endpoint: &str) -> Self {
        self.with_pin(tenant, endpoint, "CredentialSources::pin".to_owned())
    }

    /// Trusts the AuthTenants read from a cluster (`--kubeconfig`, not the files): the
    /// credentials of each may go to the Auth0 it names there, and only there.
    pub fn trust_cluster(self, tenants: &[AuthTenant]) -> Self {
        tenants.iter().fold(self, |sources, tenant| {
            sources.with_pin(
                &tenant.name_any(),
                &tenant.base_url(),
                "the AuthTenant in the cluster".to_owned(),
            )
        })
    }

    fn with_pin(mut self, tenant: &str, endpoint: &str, source: String) -> Self {
        self.pins.entry(tenant.to_owned()).or_default().push(Pin {
            endpoint: endpoint.to_owned(),
            source,
        });
        self
    }

    /// Every endpoint the owner of the credentials of `tenant` named: the pins, the
    /// environment variables, the `endpoint`/`domain` keys of the credentials file.
    fn named_endpoints(&self, name: &str, secret: &Secret, file: Option<&Path>) -> Vec<Pin> {
        let mut pins = self.pins.get(name).cloned().unwrap_or_default();
        let prefix = env_prefix(name);
        let var = |suffix: &str| {
            let var = format!("{prefix}{suffix}");
            std::env::var(&var)
                .ok()
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
                .map(|v| (v, var))
        };
        if let Some((endpoint, var)) = var("ENDPOINT") {
            pins.push(Pin {
                endpoint,
                source: var,
            });
        }
        if let Some((domain, var)) = var("DOMAIN") {
            pins.push(Pin {
                endpoint: format!("https://{domain}"),
                source: var,
            });
        }
        if let Some(path) = file {
            let key = |key: &str| {
                secret
                    .data
                    .as_ref()
                    .and_then(|d| d.get(key))
                    .and_then(|v| std::str::from_utf8(&v.0).ok())
                    .map(|v| v.trim().to_owned())
                    .filter(|v| !v.is_empty())
            };
            let source = |key: &str| format!("key '{key}' of {}", path.display());
            if let Some(endpoint) = key(ENDPOINT_KEY) {
                pins.push(Pin {
                    endpoint,
                    source: source(ENDPOINT_KEY),
                });
            }
            if let Some(domain) = key(DOMAIN_KEY) {
                pins.push(Pin {
                    endpoint: format!("https://{domain}"),
                    source: source(DOMAIN_KEY),
                });
            }
        }
        pins
    }

    /// Refuses a tenant whose credentials name no Auth0, or another Auth0 than the one its
    /// AuthTenant points at.
    fn check_endpoint(
        &self,
        tenant: &AuthTenant,
        secret: &Secret,
        file: Option<&Path>,
    ) -> Result<(), CredentialsError> {
        let name = tenant.name_any();
        let found = tenant.base_url();
        let pins = self.named_endpoints(&name, secret, file);
        if pins.is_empty() {
            return Err(CredentialsError::NoEndpoint {
                prefix: env_prefix(&name),
                tenant: name,
                found: crate::import::one_line(&found),
            });
        }
        let norm = |s: &str| s.trim().trim_end_matches('/').to_ascii_lowercase();
        match pins.into_iter().find(|p| norm(&p.endpoint) != norm(&found)) {
            None => Ok(()),
            Some(pin) => Err(CredentialsError::EndpointNotPinned {
                tenant: name,
                found: crate::import::one_line(&found),
                pinned: crate::import::one_line(&pin.endpoint),
                source_name: pin.source,
            }),
        }
    }

    /// The Management API client of `tenant` (rate limited at the tenant's
    /// `spec.rateLimit`, shared by every call of this run), once its credentials are known to
    /// belong to the Auth0 the AuthTenant points at.
    pub fn client(
        &self,
        registry: &Auth0Registry,
        tenant: &AuthTenant,
    ) -> Result<Arc<TenantClient>, CredentialsError> {
        let name = tenant.name_any();
        let file = self.files.get(&name);
        let secret = match file {
            Some(path) => read_secret(&name, path)?,
            None => from_env(tenant)?,
        };
        self.check_endpoint(tenant, &secret, file.map(PathBuf::as_path))?;
        Ok(tenant_access::client_from_secret(
            registry,
            tenant,
            Some(&secret),
        )?)
    }
}

/// The environment variable prefix of `tenant`: `NEXUS_TENANT_<TENANT>_`.
pub fn env_prefix(tenant: &str) -> String {
    let upper: String = tenant
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("NEXUS_TENANT_{upper}_")
}

fn read_secret(tenant: &str, path: &Path) -> Result<Secret, CredentialsError> {
    let text = std::fs::read_to_string(path).map_err(|source| CredentialsError::Io {
        tenant: tenant.to_owned(),
        path: path.display().to_string(),
        source,
    })?;
    let not_a_secret = || CredentialsError::NotASecret {
        tenant: tenant.to_owned(),
        path: path.display().to_string(),
    };
    // The parse error is not shown: it could quote the secret.
    let mut secret: Secret = serde_saphyr::from_str(&text).map_err(|_| not_a_secret())?;
    if secret.metadata.name.is_none() && secret.data.is_none() && secret.string_data.is_none() {
        return Err(not_a_secret());
    }
    // `stringData` as the API server would store it.
    if let Some(strings) = secret.string_data.take() {
        let data = secret.data.get_or_insert_with(BTreeMap::new);
        for (key, value) in strings {
            data.insert(key, ByteString(value.into_bytes()));
        }
    }
    Ok(secret)
}

fn from_env(tenant: &AuthTenant) -> Result<Secret, CredentialsError> {
    let name = tenant.name_any();
    let prefix = env_prefix(&name);
    let (id_var, secret_var) = (
        format!("{prefix}CLIENT_ID"),
        format!("{prefix}CLIENT_SECRET"),
    );
    let (Ok(id), Ok(secret)) = (std::env::var(&id_var), std::env::var(&secret_var)) else {
        return Err(CredentialsError::Missing {
            tenant: name,
            id_var,
            secret_var,
        });
    };
    let reference = &tenant.spec.credentials_secret_ref;
    Ok(Secret {
        data: Some(BTreeMap::from([
            (reference.client_id_key.clone(), ByteString(id.into_bytes())),
            (
                reference.client_secret_key.clone(),
                ByteString(secret.into_bytes()),
            ),
        ])),
        ..Secret::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_names_are_upper_case_with_underscores() {
        assert_eq!(env_prefix("acme-prod.eu"), "NEXUS_TENANT_ACME_PROD_EU_");
    }

    fn tenant(domain: &str, endpoint: Option<&str>) -> AuthTenant {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "auth.nexus.dev/v1alpha1",
            "kind": "AuthTenant",
            "metadata": {"name": "unit-test-tenant"},
            "spec": {
                "domain": domain,
                "endpoint": endpoint,
                "credentialsSecretRef": {"namespace": "ns", "name": "m2m"},
            }
        }))
        .expect("tenant")
    }

    fn secret_naming(key: &str, value: &str) -> Secret {
        Secret {
            data: Some(BTreeMap::from([(
                key.to_owned(),
                ByteString(value.as_bytes().to_vec()),
            )])),
            ..Secret::default()
        }
    }

    /// A file's `domain` key names `https://DOMAIN`; `endpoint` names an override; a file
    /// naming neither is refused, and so is a tenant pointing elsewhere.
    #[test]
    fn the_credentials_file_names_the_auth0() {
        let sources = CredentialSources::default();
        let file = Some(Path::new("creds.yaml"));
        let domain = secret_naming(DOMAIN_KEY, "acme.eu.auth0.com");
        let check =
            |tenant: &AuthTenant, secret: &Secret| sources.check_endpoint(tenant, secret, file);
        assert!(check(&tenant("acme.eu.auth0.com", None), &domain).is_ok());
        let moved = tenant("acme.eu.auth0.com", Some("https://evil.example"));
        let error = check(&moved, &domain).expect_err("elsewhere").to_string();
        assert!(
            error.contains("'unit-test-tenant'") && error.contains("https://evil.example"),
            "{error}"
        );
        let endpoint = secret_naming(ENDPOINT_KEY, "http://127.0.0.1:3000/");
        let local = tenant("sim.local", Some("http://127.0.0.1:3000"));
        assert!(check(&local, &endpoint).is_ok());
        let none = secret_naming("client_id", "x");
        let error = check(&local, &none).expect_err("no endpoint").to_string();
        assert!(error.contains("do not name their Auth0"), "{error}");
    }

    #[test]
    fn flags_need_tenant_and_file() {
        assert!(CredentialSources::from_flags(&["acme=/x".into()]).is_ok());
        assert!(CredentialSources::from_flags(&["acme".into()]).is_err());
        assert!(CredentialSources::from_flags(&["=x".into()]).is_err());
    }
}
