//! Reconcile of one `AuthClient`, as a pipeline:
//!
//! 1. [`resolve`]: tenant, namespace and credentials from the caches; validation.
//! 2. [`plan::lookup`] (pure): what to read from Auth0, if anything.
//! 3. [`act::observe`]: those reads.
//! 4. [`plan::plan`] (pure): the steps and the status they lead to.
//! 5. [`act::execute`]: Auth0 calls, the crash-safety marker, the Secret.
//! 6. [`status`]: one status write at the end, only when its content changed.
//!
//! Every failure a user can act on is data (a reason, a stable message and when to look
//! again); only Kubernetes API errors abort a pass and go to the error policy.

pub mod access;
pub mod act;
pub mod adoption;
pub mod cleanup;
pub mod credentials;
pub mod desired;
pub mod error;
pub mod input;
pub mod keys;
pub mod plan;
pub mod report;
pub mod resolve;
pub mod secret;
pub mod status;

use std::future::Future;
use std::sync::Arc;

use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use kube::runtime::controller::Action;
use kube::runtime::reflector::ObjectRef;

use crate::compact::CachedAuthClient;
use crate::context::Context;
use crate::driver::{self, Reconciler, Resolution};
use crate::governance::Governance;
use crate::pass::{self, Auth0Failure, Failure, Verdict};
pub use error::ReconcileError;
use nexus_crd::validation::FieldError;
use nexus_crd::{AuthClient, AuthClientStatus};
use plan::{Input, SecretView};
use resolve::Resolved;

/// Entry point for the controller ([`driver::reconcile`]).
pub async fn reconcile(obj: Arc<AuthClient>, ctx: Arc<Context>) -> Result<Action, ReconcileError> {
    driver::reconcile(obj, ctx).await
}

/// [`reconcile`] of an AuthClient from the controller's cache (decoded for the pass).
pub async fn reconcile_cached(
    obj: Arc<CachedAuthClient>,
    ctx: Arc<Context>,
) -> Result<Action, ReconcileError> {
    reconcile(Arc::new(obj.decode()?), ctx).await
}

/// Error policy: unexpected errors (Kubernetes API failures) retry with backoff.
pub fn error_policy(
    obj: Arc<CachedAuthClient>,
    error: &ReconcileError,
    ctx: Arc<Context>,
) -> Action {
    driver::error_policy(&pass::object_key(&*obj), error, &ctx)
}

impl Reconciler for AuthClient {
    type Error = ReconcileError;
    type Resolved = Resolved;

    fn missing_namespace() -> ReconcileError {
        ReconcileError::MissingNamespace
    }

    fn stored(obj: &Self) -> AuthClientStatus {
        obj.status.clone().unwrap_or_default()
    }

    fn observed_generation(status: &AuthClientStatus) -> Option<i64> {
        status.observed_generation
    }

    fn tenant(obj: &Self) -> &str {
        &obj.spec.tenant
    }

    fn warnings(obj: &Self) -> (Vec<FieldError>, &'static str) {
        (
            nexus_crd::validation::client_warnings(&obj.spec.client),
            "spec.client.",
        )
    }

    fn resolve(obj: &Self, ctx: &Context) -> Result<Resolution<Resolved>, ReconcileError> {
        resolve::resolve(obj, ctx).ok_or(ReconcileError::MissingUid)
    }

    fn failed(
        stored: &AuthClientStatus,
        obj: &Self,
        failure: &Failure,
        now: Timestamp,
    ) -> AuthClientStatus {
        status::failed(stored, obj, failure, now)
    }

    fn pass<'a>(
        ctx: &'a Context,
        obj: &'a Self,
        resolved: Resolved,
        stored: AuthClientStatus,
        now: Timestamp,
    ) -> impl Future<Output = Result<Action, ReconcileError>> + Send + 'a {
        run(ctx, obj, resolved, stored, now)
    }

    fn cleanup<'a>(
        ctx: &'a Context,
        obj: &'a Self,
    ) -> impl Future<Output = Result<Action, ReconcileError>> + Send + 'a {
        cleanup::cleanup(obj, ctx)
    }
}

/// The AuthClient's pass after resolve: the reads, the plan, the steps, the key pass, then
/// the one exit.
async fn run(
    ctx: &Context,
    obj: &AuthClient,
    resolved: Resolved,
    stored: AuthClientStatus,
    now: Timestamp,
) -> Result<Action, ReconcileError> {
    let finding = ctx.clients.take_finding(&ObjectRef::from_obj(obj));
    let access_finding = ctx.take_access_finding(&ObjectRef::from_obj(obj));
    let namespace = obj.namespace().unwrap_or_default();
    // From the owned-Secret cache; while its first list still pages in (a restart), a Secret
    // it does not hold yet is read by name (`Caches::owned_secret`), under the same checks.
    let cached = ctx
        .caches
        .owned_secret(&ctx.kube, &namespace, &obj.secret_name())
        .await?;
    let secret = match &cached {
        Some(s) if s.is_owned_by(obj) => SecretView::Owned(s),
        Some(_) => SecretView::Foreign,
        None => SecretView::NotCached,
    };
    let input = Input {
        owner: obj,
        status: &stored,
        tag: &resolved.tag,
        tenant_generation: resolved.tenant.metadata.generation.unwrap_or(0),
        tenant: &resolved.tenant,
        now,
        secret,
        finding: finding.as_ref(),
        access: &access_finding,
        governance: Governance {
            tenant: &resolved.tenant,
            namespace: &namespace,
            labels: &resolved.labels,
            servers: &resolved.servers,
        },
        adoption: plan::AdoptionRights {
            allowed: resolved.adoption_allowed,
            management_client_id: resolved.auth0.client_id(),
        },
    };
    let planned = match resolved.refusal.clone() {
        // The spec is refused (governance, validation, or the namespace no longer allowed):
        // only what the namespace may no longer hold is taken back (from the status, without
        // a read).
        Some(refusal) => Ok(plan::revoke(&input, refusal, resolved.revoke_everything)),
        None => plan_pass(&resolved, &input).await,
    };
    let plan = match planned {
        Ok(plan) => plan,
        Err(failure) => {
            if failure == Auth0Failure::Tenant {
                ctx.clients
                    .wait_for_tenant(&obj.spec.tenant, ObjectRef::from_obj(obj));
                return Ok(Action::await_change());
            }
            let Auth0Failure::Failed(failure) = failure else {
                return Ok(Action::await_change());
            };
            let next = status::compute(
                &stored,
                &input,
                None,
                None,
                &Verdict::Failed(failure.clone()),
            );
            let verdict = Verdict::Failed(failure);
            let event = status::event_of(&stored, &next, &[], &[]);
            return Ok(pass::finish(ctx, obj, &stored, None, next, event, &verdict).await?);
        }
    };
    let mut report = act::execute(ctx, &resolved.auth0, &input, &plan).await?;
    let key_pass = match plan.refusal {
        None => keys::run(ctx, &resolved.auth0, &input, &mut report).await?,
        Some(_) => None,
    };
    let verdict = status::verdict(&report, &plan, obj);
    let base = report
        .written
        .as_ref()
        .map_or_else(|| stored.clone(), |(s, _)| s.clone());
    let mut next = status::compute(&base, &input, Some(&plan), Some(&report), &verdict);
    if let Some(pass) = &key_pass {
        pass.apply_to(&mut next, &plan.drift, obj, now);
    }
    let event = status::event_of(&stored, &next, &plan.notes, &report.notes);
    let kube_error = report.kube_error.take();
    let action = pass::finish(
        ctx,
        obj,
        &stored,
        report.written.take(),
        next,
        event,
        &verdict,
    )
    .await?;
    if let Some(error) = kube_error {
        return Err(error.into());
    }
    // Synced AuthClients are revisited by the resync sweep; a key deadline (a rotation, the end
    // of an overlap) due sooner than that keeps its own requeue.
    if let (Some(wake), Verdict::Synced) = (key_pass.and_then(|p| p.requeue(now)), &verdict)
        && wake < ctx.config.resync_interval
    {
        return Ok(Action::requeue(wake));
    }
    Ok(action)
}

/// Reads what the pass needs (the client, its grants, new connections) and plans it.
async fn plan_pass(
    resolved: &resolve::Resolved,
    input: &Input<'_>,
) -> Result<plan::Plan, Auth0Failure> {
    let lookup = plan::lookup(input).map_err(Auth0Failure::Failed)?;
    let view = act::observe(&resolved.auth0, input, lookup).await?;
    let observed = act::observe_access(&resolved.auth0, input, view).await?;
    plan::plan(input, observed).map_err(Auth0Failure::Failed)
}

/// Names of the AuthClients of `tenant` in `store` (for wake-ups on tenant changes).
pub fn clients_of(
    store: &kube::runtime::reflector::Store<CachedAuthClient>,
    tenant: &str,
) -> Vec<ObjectRef<AuthClient>> {
    store
        .state()
        .iter()
        .filter(|c| c.tenant() == tenant)
        .map(|c| c.reference())
        .collect()
}
