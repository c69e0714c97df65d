//! Custom resources served by the operator: [`AuthTenant`], [`AuthClient`] and
//! [`AuthResourceServer`] (group `auth.nexus.dev`, version `v1alpha1`), the condition helpers
//! they share, the validation of a client spec used by the controller and the facade, and the
//! validation of the other specs ([`resource_validation`]).

pub mod client;
pub mod conditions;
pub mod credentials;
pub mod docs;
pub mod printable;
pub mod resource_server;
pub mod resource_validation;
pub mod tenant;
pub mod url_pattern;
pub mod validation;

pub use client::{
    AdoptionPolicy, Auth0Rejection, AuthClient, AuthClientSpec, AuthClientStatus, ClientGrantSpec,
    ClientMetadata, ClientSettings, ConnectionStatus, DeletionPolicy, DriftPolicy, ExpirationType,
    GrantStatus, Mobile, MobileAndroid, MobileIos, NexusClient, PendingCreation,
    RefreshTokenSettings, RotationType, SecretKeys, SecretSpec, TokenEndpointAuthMethod,
};
pub use conditions::{ConditionStatus, Health, ReadyReason, TenantReason};
pub use credentials::{
    AssertionAlgorithm, CredentialsSpec, CredentialsStatus, CredentialsType, KeyCredential,
    KeyRotation,
};
pub use resource_server::{
    ApiAuthorization, AuthResourceServer, AuthResourceServerSpec, AuthResourceServerStatus,
    GrantPolicy, PendingResourceServer, ResourceServerScope, SigningAlg, TokenDialect,
};
pub use tenant::{
    Adoption, AllowedConnection, AllowedNamespaces, AuthTenant, AuthTenantSpec, AuthTenantStatus,
    CredentialsSecretRef, GrantableAudience, RateLimit, UrlPolicy,
};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceDefinition, JSONSchemaProps,
};
use kube::CustomResourceExt;

/// API group of every resource of this operator.
pub const GROUP: &str = "auth.nexus.dev";
/// API version served and stored.
pub const VERSION: &str = "v1alpha1";
/// Name of the finalizer that guards deletion of the Auth0 client (and of the Auth0 API of an
/// `AuthResourceServer`).
pub const FINALIZER: &str = "auth.nexus.dev/cleanup";
/// Field manager used for every server-side apply of the controller.
pub const FIELD_MANAGER: &str = "nexus-operator";
/// Annotation whose new value asks for a client-secret rotation.
pub const ROTATE_ANNOTATION: &str = "auth.nexus.dev/rotate-secret";
/// Annotation the operator writes on an `AuthClient`, together with its finalizer and in the
/// same write, just before it asks Auth0 to create the client: `<ownership tag> <time>` (the
/// crash-safety marker). Until `status.lastCreationAttempt` records that value, a create may
/// have reached Auth0 without its answer being recorded, and the next pass looks for the
/// tagged client before creating one.
pub const CREATION_ANNOTATION: &str = "auth.nexus.dev/creation-attempt";
/// Label put on every Secret the operator owns (the controller watches only these).
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
/// Value of [`MANAGED_BY_LABEL`] on owned Secrets.
pub const MANAGED_BY_VALUE: &str = "nexus-operator";
/// Annotation on owned Secrets carrying a hash of their data, so consumers can roll on change.
pub const SECRET_HASH_ANNOTATION: &str = "auth.nexus.dev/content-hash";

/// The CRDs as installed and published: [`AuthTenant`], [`AuthClient`] then
/// [`AuthResourceServer`], with every field
/// description reflowed into paragraphs ([`docs::reflow_schema`]) for `kubectl explain`.
pub fn crds() -> Vec<CustomResourceDefinition> {
    [
        AuthTenant::crd(),
        AuthClient::crd(),
        AuthResourceServer::crd(),
    ]
    .into_iter()
    .map(|mut crd| {
        for version in &mut crd.spec.versions {
            if let Some(schema) = version
                .schema
                .as_mut()
                .and_then(|s| s.open_api_v3_schema.as_mut())
            {
                reflow_props(schema);
            }
        }
        crd
    })
    .collect()
}

/// Reflows a typed schema through its JSON form (the typed form has no generic walker).
fn reflow_props(schema: &mut JSONSchemaProps) {
    let Ok(mut value) = serde_json::to_value(&*schema) else {
        return;
    };
    docs::reflow_schema(&mut value);
    if let Ok(reflowed) = serde_json::from_value(value) {
        *schema = reflowed;
    }
}

/// The CRDs as `(file name, YAML document)`, in the order `nexus-operator crd` prints them;
/// `crds/` holds exactly these files.
pub fn crd_documents() -> Result<Vec<(&'static str, String)>, serde_saphyr::SerializeError> {
    let names = [
        "authtenants.yaml",
        "authclients.yaml",
        "authresourceservers.yaml",
    ];
    names
        .into_iter()
        .zip(crds())
        .map(|(name, crd)| Ok((name, document(&crd)?)))
        .collect()
}

/// The CRDs as one multi-document YAML stream: what `nexus-operator crd` prints.
pub fn crds_yaml() -> Result<String, serde_saphyr::SerializeError> {
    Ok(crd_documents()?.into_iter().map(|(_, doc)| doc).collect())
}

fn document<T: serde::Serialize>(value: &T) -> Result<String, serde_saphyr::SerializeError> {
    Ok(format!(
        "---\n{}\n",
        serde_saphyr::to_string(value)?.trim_end()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn descriptions(value: &serde_json::Value, out: &mut Vec<String>) {
        match value {
            serde_json::Value::Object(map) => {
                for (key, child) in map {
                    match child {
                        serde_json::Value::String(text) if key == "description" => {
                            out.push(text.clone());
                        }
                        _ => descriptions(child, out),
                    }
                }
            }
            serde_json::Value::Array(items) => items.iter().for_each(|i| descriptions(i, out)),
            _ => {}
        }
    }

    /// Every string of `value` (keys and values) that holds a character YAML refuses.
    fn unprintable(value: &serde_json::Value, path: &str, out: &mut Vec<String>) {
        let bad = |text: &str| !text.chars().all(printable::is_yaml_printable);
        match value {
            serde_json::Value::String(text) if bad(text) => out.push(format!("{path}: {text:?}")),
            serde_json::Value::Object(map) => {
                for (key, child) in map {
                    if bad(key) {
                        out.push(format!("{path}: key {key:?}"));
                    }
                    unprintable(child, &format!("{path}.{key}"), out);
                }
            }
            serde_json::Value::Array(items) => {
                for (index, item) in items.iter().enumerate() {
                    unprintable(item, &format!("{path}[{index}]"), out);
                }
            }
            _ => {}
        }
    }

    /// Issue 18: a real API server refuses a server-side apply carrying a character outside
    /// YAML's printable set, and cannot build its OpenAPI v2 document from a schema holding one.
    /// Neither the published YAML text nor any string of the schemas (what the YAML decodes to,
    /// escapes such as `\uFFFE` included) may hold one; patterns are printable ASCII.
    #[test]
    fn published_crds_hold_only_yaml_printable_characters() {
        for ((file, text), crd) in crd_documents().expect("documents").into_iter().zip(crds()) {
            let raw: Vec<char> = text
                .chars()
                .filter(|c| !printable::is_yaml_printable(*c))
                .collect();
            assert!(raw.is_empty(), "{file}: raw characters {raw:?}");
            let mut found = Vec::new();
            unprintable(&serde_json::to_value(&crd).expect("CRD"), file, &mut found);
            let decoded: serde_json::Value = serde_saphyr::from_str(&text).expect("YAML");
            unprintable(&decoded, file, &mut found);
            assert!(found.is_empty(), "{found:#?}");
            assert_eq!(
                decoded,
                serde_json::to_value(&crd).expect("CRD"),
                "{file} round-trips"
            );
            let mut patterns = Vec::new();
            collect_patterns(&decoded, &mut patterns);
            assert!(!patterns.is_empty() || file == "authtenants.yaml");
            for pattern in patterns {
                assert!(
                    pattern.bytes().all(|b| b.is_ascii_graphic()),
                    "{file}: {pattern}"
                );
            }
        }
        // The walk finds what it is for.
        let mut found = Vec::new();
        unprintable(
            &serde_json::json!({"p": "^[\u{fffe}]$", "k\u{7f}": 1}),
            "x",
            &mut found,
        );
        assert_eq!(found.len(), 2, "{found:?}");
    }

    fn collect_patterns(value: &serde_json::Value, out: &mut Vec<String>) {
        match value {
            serde_json::Value::Object(map) => {
                for (key, child) in map {
                    match child {
                        serde_json::Value::String(p) if key == "pattern" => out.push(p.clone()),
                        _ => collect_patterns(child, out),
                    }
                }
            }
            serde_json::Value::Array(items) => items.iter().for_each(|i| collect_patterns(i, out)),
            _ => {}
        }
    }

    #[test]
    fn published_crds_document_fields_in_paragraphs() {
        let mut all = Vec::new();
        for crd in crds() {
            descriptions(&serde_json::to_value(&crd.spec).expect("spec"), &mut all);
        }
        assert!(all.len() > 50, "only {} descriptions", all.len());
        let adoption = all
            .iter()
            .find(|d| d.starts_with("When `client.id` names an existing client"))
            .expect("adoptionPolicy description");
        assert!(
            adoption.contains("adopts only a client no AuthClient or cluster has tagged"),
            "{adoption}"
        );
        // Paragraphs are separated by one blank line; inside a paragraph there is no break.
        let wrapped: Vec<&String> = all
            .iter()
            .filter(|d| d.split("\n\n").any(|p| p.is_empty() || p.contains('\n')))
            .collect();
        assert!(
            wrapped.is_empty(),
            "descriptions with line breaks inside a paragraph: {wrapped:#?}"
        );
        let identifier = all
            .iter()
            .find(|d| d.starts_with("The API's unique identifier"))
            .expect("identifier description");
        assert_eq!(
            identifier.matches("\n\n").count(),
            1,
            "two paragraphs: {identifier}"
        );
    }
}
