//! The tenant of a request: its AuthTenant, its facade namespace, and its Management API
//! client, each refused with a problem naming what to fix before anything is created.

// `Problem` (~200 bytes) is the error of every step; it is built at most once per request, so
// boxing it would only add noise.
#![allow(clippy::result_large_err)]

use std::sync::Arc;

use kube::{Api, ResourceExt};

use crate::problem::Problem;
use crate::routes::AppState;
use auth0_mgmt::TenantClient;
use nexus_controller::tenant_access::{self, TenantError};
use nexus_crd::AuthTenant;

pub(crate) async fn load_tenant(state: &AppState, tenant: &str) -> Result<AuthTenant, Problem> {
    let api: Api<AuthTenant> = Api::all(state.kube.clone());
    match api.get_opt(tenant).await {
        Ok(Some(t)) => Ok(t),
        Ok(None) => Err(Problem::tenant_not_found(format!(
            "No tenant named '{tenant}'."
        ))),
        Err(error) => {
            tracing::warn!(%error, "cannot read AuthTenant");
            Err(Problem::unavailable(
                "The Kubernetes API is unavailable; retry later.",
                2,
            ))
        }
    }
}

/// The tenant's facadeNamespace; a 500 naming the misconfiguration when the operator does not
/// serve that namespace (`--watch-namespaces`): an AuthClient there would never be reconciled,
/// and the operator may not write there.
pub(crate) fn facade_namespace(
    state: &AppState,
    tenant_obj: &AuthTenant,
    tenant: &str,
) -> Result<String, Problem> {
    let namespace = tenant_obj
        .spec
        .facade_namespace
        .clone()
        .filter(|ns| !ns.is_empty())
        .ok_or_else(|| {
            Problem::tenant_not_found(format!(
                "Tenant '{tenant}' is not served by this API (its AuthTenant has no facadeNamespace)."
            ))
        })?;
    if !state.config.served.serves(&namespace) {
        tracing::warn!(tenant, namespace, served = %state.config.served, "facadeNamespace is not served");
        return Err(Problem::misconfigured(
            "The tenant is misconfigured",
            format!(
                "AuthTenant '{}' names facadeNamespace '{namespace}', which this operator does not serve \
                 (it serves {}); an administrator must add '{namespace}' to the served namespaces \
                 (--watch-namespaces; Helm: watchNamespaces) or change the AuthTenant.",
                tenant_obj.name_any(),
                state.config.served
            ),
        ));
    }
    Ok(namespace)
}

/// The tenant's Management API client, or a 500 naming what an administrator must fix: the
/// credentials Secret (missing, without its keys), the endpoint, or a facade namespace the
/// tenant does not allow. Refused at once, before anything is created, instead of an
/// AuthClient that waits forever.
pub(crate) async fn usable_tenant(
    state: &AppState,
    tenant: &AuthTenant,
    namespace: &str,
) -> Result<Arc<TenantClient>, Problem> {
    let name = tenant.name_any();
    let allowed = &tenant.spec.allowed_namespaces;
    // A selector needs the Namespace's labels: the operator evaluates it (and reports
    // NamespaceNotAllowed, answered 500 as soon as it does).
    if allowed.selector.is_none() && !allowed.names.iter().any(|n| n == namespace || n == "*") {
        return Err(Problem::misconfigured(
            "The tenant is misconfigured",
            format!(
                "AuthTenant '{name}' does not allow its own facadeNamespace '{namespace}' \
                 (spec.allowedNamespaces); an administrator must add it."
            ),
        ));
    }
    tenant_access::tenant_client(&state.kube, &state.auth0, tenant)
        .await
        .map_err(|error| match error {
            TenantError::Kube(error) => {
                tracing::warn!(%error, "cannot read the tenant's credentials Secret");
                Problem::unavailable("The Kubernetes API is unavailable; retry later.", 2)
            }
            other => {
                tracing::warn!(tenant = %name, error = %other, "tenant misconfigured");
                Problem::misconfigured(
                    "The tenant is misconfigured",
                    format!("{other}; an administrator must fix the AuthTenant or its Secret."),
                )
            }
        })
}
