//! Custom resources served by the operator: [`AuthTenant`] and [`AuthClient`] (group
//! `auth.nexus.dev`, version `v1alpha1`), the condition helpers they share, and the validation of
//! a client spec used by the controller and the facade.

pub mod client;
pub mod conditions;
pub mod tenant;
pub mod validation;

pub use client::{
    AdoptionPolicy, Auth0Rejection, AuthClient, AuthClientSpec, AuthClientStatus, ClientMetadata,
    DeletionPolicy, DriftPolicy, Mobile, MobileAndroid, MobileIos, NexusClient, PendingCreation,
    SecretKeys, SecretSpec,
};
pub use conditions::{ConditionStatus, Health, ReadyReason, TenantReason};
pub use tenant::{
    AllowedNamespaces, AuthTenant, AuthTenantSpec, AuthTenantStatus, CredentialsSecretRef,
    RateLimit, UrlPolicy,
};

use kube::CustomResourceExt;

/// API group of every resource of this operator.
pub const GROUP: &str = "auth.nexus.dev";
/// API version served and stored.
pub const VERSION: &str = "v1alpha1";
/// Name of the finalizer that guards deletion of the Auth0 client.
pub const FINALIZER: &str = "auth.nexus.dev/cleanup";
/// Field manager used for every server-side apply of the controller.
pub const FIELD_MANAGER: &str = "nexus-operator";
/// Annotation whose new value asks for a client-secret rotation.
pub const ROTATE_ANNOTATION: &str = "auth.nexus.dev/rotate-secret";
/// Label put on every Secret the operator owns (the controller watches only these).
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
/// Value of [`MANAGED_BY_LABEL`] on owned Secrets.
pub const MANAGED_BY_VALUE: &str = "nexus-operator";
/// Annotation on owned Secrets carrying a hash of their data, so consumers can roll on change.
pub const SECRET_HASH_ANNOTATION: &str = "auth.nexus.dev/content-hash";

/// The CRDs as `(file name, YAML document)`, in the order `nexus-operator crd` prints them;
/// `crds/` holds exactly these files.
pub fn crd_documents() -> Result<Vec<(&'static str, String)>, serde_saphyr::SerializeError> {
    Ok(vec![
        ("authtenants.yaml", document(&AuthTenant::crd())?),
        ("authclients.yaml", document(&AuthClient::crd())?),
    ])
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
