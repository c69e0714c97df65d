//! Reconcile of `AuthTenant`s: `Ready` says whether the credentials obtain a Management API
//! token. The token call is on Auth0's Authentication API, so it costs no Management API quota.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::jiff::Timestamp;
use kube::api::{Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::{Api, ResourceExt};
use serde_json::json;

use crate::context::Context;
use crate::tenant_access::{self as tenant, TenantError};
use auth0_mgmt::Auth0Error;
use nexus_crd::conditions::{self, ConditionStatus, READY};
use nexus_crd::{AuthTenant, AuthTenantStatus, FIELD_MANAGER};

/// How often a healthy tenant's credentials are checked again.
pub const TENANT_RECHECK: Duration = Duration::from_secs(1800);

/// Errors of the tenant reconcile that the error policy retries.
#[derive(Debug, thiserror::Error)]
pub enum TenantReconcileError {
    /// Writing the status failed.
    #[error("Kubernetes API error: {0}")]
    Kube(#[from] kube::Error),
}

/// Checks the tenant's credentials and writes its `Ready` condition.
pub async fn reconcile_tenant(
    obj: Arc<AuthTenant>,
    ctx: Arc<Context>,
) -> Result<Action, TenantReconcileError> {
    let key = format!("tenant/{}", obj.name_any());
    let (status, reason, message, action) =
        match tenant::tenant_client(&ctx.kube, &ctx.auth0, &obj).await {
            Err(TenantError::Kube(e)) => return Err(e.into()),
            Err(e @ TenantError::Endpoint { .. }) => (
                ConditionStatus::False,
                "InvalidEndpoint",
                e.to_string(),
                Action::await_change(),
            ),
            Err(e) => (
                ConditionStatus::False,
                "CredentialsMissing",
                e.to_string(),
                Action::requeue(ctx.next_backoff(&key)),
            ),
            Ok(client) => match client.verify_credentials().await {
                Ok(()) => {
                    ctx.reset_backoff(&key);
                    (
                        ConditionStatus::True,
                        "CredentialsValid",
                        format!("obtained a Management API token for {}", obj.spec.domain),
                        Action::requeue(TENANT_RECHECK),
                    )
                }
                Err(e @ Auth0Error::Token { .. }) => (
                    ConditionStatus::False,
                    "CredentialsRejected",
                    format!("Auth0 refused the credentials: {e}"),
                    Action::requeue(ctx.next_backoff(&key)),
                ),
                Err(e) => (
                    ConditionStatus::False,
                    "Auth0Unavailable",
                    format!("could not reach Auth0: {e}"),
                    Action::requeue(ctx.next_backoff(&key)),
                ),
            },
        };
    let mut new_status: AuthTenantStatus = obj.status.clone().unwrap_or_default();
    new_status.observed_generation = obj.metadata.generation;
    conditions::merge_condition(
        &mut new_status.conditions,
        conditions::new_condition(
            READY,
            status,
            reason,
            message,
            obj.metadata.generation,
            Timestamp::now(),
        ),
    );
    if obj.status.as_ref() != Some(&new_status) {
        let patch = json!({"apiVersion": "auth.nexus.dev/v1alpha1", "kind": "AuthTenant", "status": new_status});
        Api::<AuthTenant>::all(ctx.kube.clone())
            .patch_status(
                &obj.name_any(),
                &PatchParams::apply(FIELD_MANAGER).force(),
                &Patch::Apply(&patch),
            )
            .await?;
    }
    Ok(action)
}

/// Error policy of the tenant controller.
pub fn tenant_error_policy(
    obj: Arc<AuthTenant>,
    error: &TenantReconcileError,
    ctx: Arc<Context>,
) -> Action {
    let delay = ctx.next_backoff(&format!("tenant/{}", obj.name_any()));
    tracing::warn!(tenant = %obj.name_any(), %error, retry_in = ?delay, "tenant reconcile failed");
    Action::requeue(delay)
}
