//! Reconcile of one `AuthClient`: what the driver ([`crate::driver`]) runs, as this kind's
//! [`Reconciler`]:
//!
//! 1. [`resolve`]: tenant, namespace, credentials and findings from the caches; validation.
//! 2. [`plan::lookup`] (pure): what to read from Auth0, if anything.
//! 3. [`act::observe`], [`act::observe_access`]: those reads.
//! 4. [`plan::plan`] (pure): the steps, as data ([`plan::revoke`] for a refused spec).
//! 5. [`act::execute`]: one executor per step (Auth0 calls, the crash-safety marker, the
//!    Secret); then [`keys`], the key credentials of `privateKeyJwt`.
//! 6. [`status`] (pure): the status the pass leads to; the driver's one exit writes it.
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

use futures::future::BoxFuture;
use std::sync::Arc;

use k8s_openapi::jiff::Timestamp;
use kube::runtime::controller::Action;
use kube::runtime::reflector::ObjectRef;

use crate::compact::CachedAuthClient;
use crate::context::Context;
use crate::driver::{self, Conclusion, Flow, Pass, Reconciler, Resolution};
use crate::governance::Governance;
use crate::pass::{self, Auth0Failure, Failure, PassError};
pub use error::ReconcileError;
use nexus_crd::validation::FieldError;
use nexus_crd::{AuthClient, AuthClientStatus, ReadyReason};
use plan::{ClientInput, Input, Lookup, Observed, Plan, SecretView, Step};
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
    type Extra<'a> = ClientInput<'a>;
    /// `None`: nothing is read (a refused spec only revokes, from the status).
    type Lookup = Option<Lookup>;
    type Observed = Observed;
    type Plan = Plan;
    type Step = Step;
    type Run = act::Run;

    const HELD: &'static [ReadyReason] = &plan::HELD_REASONS;
    const SUBJECT: &'static str = "the Auth0 client";

    fn warnings(obj: &Self) -> (Vec<FieldError>, &'static str) {
        (
            nexus_crd::validation::client_warnings(&obj.spec.client),
            "spec.client.",
        )
    }

    async fn resolve(obj: &Self, ctx: &Context) -> Result<Resolution<Resolved>, ReconcileError> {
        let mut resolution =
            resolve::resolve(obj, ctx).ok_or_else(PassError::missing_uid::<AuthClient>)?;
        // While the owned-Secret cache's first list still pages in (a restart), a Secret it
        // does not hold yet is read by name, under the same checks (`Caches::owned_secret`).
        if let Resolution::Ready(resolved) = &mut resolution
            && resolved.secret.is_none()
        {
            resolved.secret = ctx
                .caches
                .owned_secret(&ctx.kube, &resolved.namespace, &obj.secret_name())
                .await?;
        }
        Ok(resolution)
    }

    fn input<'a>(
        obj: &'a Self,
        stored: &'a AuthClientStatus,
        resolved: &'a Resolved,
        now: Timestamp,
    ) -> Input<'a> {
        let secret = match &resolved.secret {
            Some(s) if s.is_owned_by(obj) => SecretView::Owned(s),
            Some(_) => SecretView::Foreign,
            None => SecretView::NotCached,
        };
        let extra = ClientInput {
            tenant: &resolved.tenant,
            secret,
            access: &resolved.access,
            governance: Governance {
                tenant: &resolved.tenant,
                namespace: &resolved.namespace,
                labels: &resolved.labels,
                servers: &resolved.servers,
            },
            adoption: plan::AdoptionRights {
                allowed: resolved.adoption_allowed,
                management_client_id: resolved.auth0.client_id(),
            },
        };
        pass::input!(obj, stored, resolved, now, extra)
    }

    fn lookup(resolved: &Resolved, input: Input<'_>) -> Result<Option<Lookup>, Failure> {
        match resolved.refusal {
            Some(_) => Ok(None),
            None => plan::lookup(&input).map(Some),
        }
    }

    async fn observe<'a>(
        resolved: &'a Resolved,
        input: Input<'a>,
        lookup: Option<Lookup>,
    ) -> Result<Observed, Auth0Failure> {
        let Some(lookup) = lookup else {
            return Ok(Observed::default());
        };
        let view = act::observe(&resolved.auth0, &input, lookup).await?;
        act::observe_access(&resolved.auth0, &input, view).await
    }

    fn plan(resolved: &Resolved, input: Input<'_>, observed: Observed) -> Result<Plan, Failure> {
        match &resolved.refusal {
            // The spec is refused (governance, validation, or the namespace no longer
            // allowed): only what the namespace may no longer hold is taken back.
            Some(refusal) => Ok(plan::revoke(
                &input,
                refusal.clone(),
                resolved.revoke_everything,
            )),
            None => plan::plan(&input, observed),
        }
    }

    fn steps(plan: &Plan) -> &[Step] {
        &plan.steps
    }

    fn start(plan: &Plan) -> act::Run {
        act::Run::start(plan)
    }

    fn execute<'p>(
        pass: &'p mut Pass<'_, Self>,
        run: &'p mut act::Run,
        step: &'p Step,
    ) -> BoxFuture<'p, Result<Flow, ReconcileError>> {
        Box::pin(act::execute(pass, run, step))
    }

    fn stopped_by(run: &act::Run) -> Option<&Auth0Failure> {
        run.report().failure.as_ref()
    }

    fn follow_up<'p>(
        pass: &'p mut Pass<'_, Self>,
        plan: &'p Plan,
        run: &'p mut act::Run,
    ) -> BoxFuture<'p, Result<(), ReconcileError>> {
        Box::pin(async move {
            match plan.refusal {
                None => run.keys(pass).await,
                Some(_) => Ok(()),
            }
        })
    }

    fn conclude(
        input: Input<'_>,
        base: &AuthClientStatus,
        plan: &Plan,
        run: act::Run,
    ) -> Conclusion<Self> {
        let (mut report, keys) = run.finish();
        let (next, verdict) = status::compute(base, &input, plan, &report, keys.as_ref());
        let error = report.kube_error.take().map(ReconcileError::from);
        Conclusion {
            wake: keys.and_then(|k| k.requeue(input.now)),
            error,
            ..Conclusion::new(next, verdict, &plan.notes, report.notes)
        }
    }

    async fn cleanup(ctx: &Context, obj: &Self, stored: &Self::Status) -> Result<String, Failure> {
        cleanup::cleanup(obj, ctx, stored).await
    }
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
