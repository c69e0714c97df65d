//! Reconcile of `AuthTenant`s: `Ready` says whether the credentials (from the cached Secret)
//! obtain a Management API token. The token call is on Auth0's Authentication API, so it costs
//! no Management API quota. This reconciler owns the credential retries (with its own backoff);
//! the AuthClients of a tenant that is not Ready wait for it, and its status changes (or, for
//! clients that hit a token error, its next successful check) wake them.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::jiff::Timestamp;
use kube::runtime::controller::Action;
use kube::{Api, ResourceExt};

use crate::caches::{Credentials, SecretKey};
use crate::context::Context;
use crate::tenant_access::{TenantError, client_from_cache};
use auth0_mgmt::Auth0Error;
use nexus_crd::conditions::{self, ConditionStatus, READY};
use nexus_crd::url_pattern::UrlPattern;
use nexus_crd::{AuthTenant, AuthTenantStatus, TenantReason};

/// How often a healthy tenant's credentials are checked again.
pub const TENANT_RECHECK: Duration = Duration::from_secs(1800);

/// How soon a tenant whose credentials watch is still starting is looked at again.
const CREDENTIALS_SYNC: Duration = Duration::from_millis(500);

/// Errors of the tenant reconcile that the error policy retries.
#[derive(Debug, thiserror::Error)]
pub enum TenantReconcileError {
    /// Writing the status failed.
    #[error("Kubernetes API error: {0}")]
    Kube(#[from] kube::Error),
}

/// The outcome of one check of the credentials.
struct Check {
    status: ConditionStatus,
    reason: TenantReason,
    message: String,
    retry: Option<Duration>,
}

/// Checks the tenant's credentials and writes its `Ready` condition when it changed.
pub async fn reconcile(
    obj: Arc<AuthTenant>,
    ctx: Arc<Context>,
) -> Result<Action, TenantReconcileError> {
    let name = obj.name_any();
    let key = format!("tenant/{name}");
    let credentials = match ctx.caches.credentials.get(&SecretKey::of(&obj)) {
        // The credentials watch has not delivered its first state yet: look again shortly.
        Some(Credentials::Syncing) | None => return Ok(Action::requeue(CREDENTIALS_SYNC)),
        Some(state) => state,
    };
    let check = if let Some(message) = url_policy_problem(&obj) {
        // Checked before the credentials: no token request for a spec that must change.
        Check {
            status: ConditionStatus::False,
            reason: TenantReason::InvalidUrlPolicy,
            message,
            retry: None,
        }
    } else {
        check_credentials(&ctx, &obj, &credentials, &key).await
    };
    if check.status == ConditionStatus::True {
        ctx.reset_backoff(&key);
    }
    write_status(&ctx, &obj, check).await
}

/// What is wrong with the tenant's `urlPolicy` (its invalid patterns, named), if anything.
pub fn url_policy_problem(tenant: &AuthTenant) -> Option<String> {
    let policy = &tenant.spec.url_policy;
    let fields = [
        ("callbacks", &policy.callbacks),
        ("origins", &policy.origins),
        ("logoutUrls", &policy.logout_urls),
    ];
    let problems: Vec<String> = fields
        .iter()
        .flat_map(|(field, patterns)| {
            patterns
                .iter()
                .enumerate()
                .filter_map(move |(index, pattern)| {
                    UrlPattern::parse(pattern)
                        .err()
                        .map(|e| format!("spec.urlPolicy.{field}[{index}]: {e}"))
                })
        })
        .collect();
    if problems.is_empty() {
        return None;
    }
    let shown: Vec<&str> = problems.iter().take(5).map(String::as_str).collect();
    let more = problems.len().saturating_sub(shown.len());
    let tail = if more > 0 {
        format!("; and {more} more")
    } else {
        String::new()
    };
    Some(format!(
        "{}{tail}; a pattern is scheme://host[:port][path] (see kubectl explain authtenant.spec.urlPolicy)",
        shown.join("; ")
    ))
}

async fn check_credentials(
    ctx: &Context,
    obj: &AuthTenant,
    credentials: &Credentials,
    key: &str,
) -> Check {
    match client_from_cache(&ctx.auth0, obj, Some(credentials)) {
        Err(e @ TenantError::Endpoint { .. }) => Check {
            status: ConditionStatus::False,
            reason: TenantReason::InvalidEndpoint,
            message: e.to_string(),
            retry: None,
        },
        // Not readable: the credentials watch keeps retrying and wakes us when it can read.
        Err(e @ TenantError::Forbidden { .. }) => Check {
            status: ConditionStatus::False,
            reason: TenantReason::CredentialsForbidden,
            message: e.to_string(),
            retry: None,
        },
        // Missing Secret or keys: the credentials watch wakes us when the Secret changes.
        Err(e) => Check {
            status: ConditionStatus::False,
            reason: TenantReason::CredentialsMissing,
            message: e.to_string(),
            retry: None,
        },
        Ok(client) => match client.verify_credentials().await {
            Ok(()) => Check {
                status: ConditionStatus::True,
                reason: TenantReason::CredentialsValid,
                message: format!("obtained a Management API token for {}", obj.spec.domain),
                retry: Some(TENANT_RECHECK),
            },
            Err(e @ Auth0Error::Token { .. }) if !e.is_transient() => Check {
                status: ConditionStatus::False,
                reason: TenantReason::CredentialsRejected,
                message: format!("Auth0 refused the credentials: {e}"),
                retry: Some(ctx.next_backoff(key)),
            },
            Err(e) => Check {
                status: ConditionStatus::False,
                reason: TenantReason::Auth0Unavailable,
                message: format!("could not reach Auth0: {e}"),
                retry: Some(ctx.next_backoff(key)),
            },
        },
    }
}

/// Writes the tenant's `Ready` condition when it changed, and wakes what waited for it.
async fn write_status(
    ctx: &Context,
    obj: &AuthTenant,
    check: Check,
) -> Result<Action, TenantReconcileError> {
    let name = obj.name_any();
    let generation = obj.metadata.generation;
    let mut status: AuthTenantStatus = obj.status.clone().unwrap_or_default();
    status.observed_generation = generation;
    conditions::merge_condition(
        &mut status.conditions,
        conditions::new_condition(
            READY,
            check.status,
            check.reason.as_str(),
            check.message,
            generation,
            Timestamp::now(),
        ),
    );
    if obj.status.as_ref() != Some(&status) {
        let api = Api::<AuthTenant>::all(ctx.kube.clone());
        crate::pass::apply_status(&api, &name, &status, None).await?;
    }
    if check.status == ConditionStatus::True {
        // Clients that hit a token error while the tenant looked Ready try again now.
        for client in ctx.clients.take_waiting(&name) {
            ctx.clients.wake(client);
        }
        for server in ctx.servers.take_waiting(&name) {
            ctx.servers.wake(server);
        }
    }
    Ok(check
        .retry
        .map_or_else(Action::await_change, Action::requeue))
}

/// Error policy of the tenant controller.
pub fn error_policy(
    obj: Arc<AuthTenant>,
    error: &TenantReconcileError,
    ctx: Arc<Context>,
) -> Action {
    let delay = ctx.next_backoff(&format!("tenant/{}", obj.name_any()));
    tracing::warn!(tenant = %obj.name_any(), %error, retry_in = ?delay, "tenant reconcile failed");
    Action::requeue(delay)
}
