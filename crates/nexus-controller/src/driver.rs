//! The one driver of a reconcile pass, for every kind that manages something in Auth0
//! (AuthClient, AuthResourceServer): the entry point the controller calls, the deletion under
//! the finalizer, and the whole apply branch:
//!
//! 1. the spec's warnings (an event, once per generation);
//! 2. [`Reconciler::resolve`]: tenant, namespace, validation, credentials and the drift
//!    scan's findings, from the caches;
//! 3. [`Reconciler::lookup`] (pure): what to read from Auth0, if anything;
//! 4. [`Reconciler::observe`]: those reads;
//! 5. [`Reconciler::plan`] (pure): the steps, as data;
//! 6. [`Reconciler::execute`]: one step at a time, until one stops the pass (then
//!    [`Reconciler::follow_up`], the AuthClient's key credentials);
//! 7. [`Reconciler::conclude`] (pure): the status, the events, the verdict;
//! 8. [`pass::finish`], the one exit of every pass (waiting for the tenant, refused, failed
//!    before the plan, or planned and run): the event, the status write when it changed, the
//!    gauge, the requeue.
//!
//! Every status write of a pass goes through its [`Writer`], which the driver owns and hands
//! to the executors ([`Pass::writer`]): the crash-safety record of a step (the pending kid of
//! a key rotation) and the final status are the same function.
//!
//! A kind implements [`Reconciler`] with its associated types and keeps only its resolve,
//! plan and step executors; it never imports the other kind.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use kube::runtime::controller::Action;
use kube::runtime::reflector::ObjectRef;

use crate::context::Context;
use crate::marker;
use crate::pass::{
    self, Auth0Failure, DriftVerdict, Failure, Kind, Note, Released, Verdict, Writer, event_from,
};
use nexus_crd::validation::FieldError;
use nexus_crd::{FINALIZER, ReadyReason};

/// What resolving an object against the caches found.
pub enum Resolution<R> {
    /// Everything needed to plan.
    Ready(R),
    /// Ready=False with this failure.
    Refused(Failure),
    /// The tenant has not been checked for its current generation yet: nothing is written;
    /// the tenant's status write wakes this object.
    WaitForTenant,
}

/// Whether the next step runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    /// Go on with the next step.
    Next,
    /// The pass stops here (the step recorded why).
    Stop,
}

/// What an executor is handed besides its step: the context, what resolve found, the input
/// the pass planned from, and the pass's one status writer.
pub struct Pass<'a, K: Reconciler> {
    /// The controller's context.
    pub ctx: &'a Context,
    /// What [`Reconciler::resolve`] found.
    pub resolved: &'a K::Resolved,
    /// What the plan was made from.
    pub input: Input<'a, K>,
    /// The status writer of the pass (see [`Writer`]).
    pub writer: Writer<'a, K>,
}

/// The end of a pass that ran its steps, as [`Reconciler::conclude`] decides it.
pub struct Conclusion<K: Reconciler> {
    /// The status to write.
    pub next: K::Status,
    /// Events of what the plan found and the steps did (joined into one, see
    /// [`event_from`]).
    pub notes: Vec<Note>,
    /// How the pass ended.
    pub verdict: Verdict,
    /// A deadline of the kind's own (the next key rotation) that wakes a synced object
    /// sooner than the resync would.
    pub wake: Option<Duration>,
    /// An error that stopped the steps: the status is still written, then the pass fails so
    /// that the error policy retries.
    pub error: Option<K::Error>,
}

impl<K: Reconciler> Conclusion<K> {
    /// A pass that ends with `verdict` and the status `next`; its events are what the plan
    /// found (`plan_notes`), then what the steps did (`step_notes`). No deadline of its own,
    /// no error.
    pub fn new(
        next: K::Status,
        verdict: Verdict,
        plan_notes: &[Note],
        step_notes: Vec<Note>,
    ) -> Self {
        let mut notes = plan_notes.to_vec();
        notes.extend(step_notes);
        Conclusion {
            next,
            notes,
            verdict,
            wake: None,
            error: None,
        }
    }
}

/// Everything a plan of kind `K` is made from.
pub type Input<'a, K> = pass::Input<'a, K, <K as Reconciler>::Extra<'a>>;

/// A kind the driver reconciles.
pub trait Reconciler: Kind {
    /// Errors that abort a pass (Kubernetes API errors): retried by the error policy.
    type Error: From<kube::Error> + From<pass::PassError> + fmt::Display + Send;
    /// What [`Reconciler::resolve`] finds (the tenant, its Auth0 client, the findings...).
    type Resolved: Send + Sync;
    /// What a plan is made from besides the [`pass::Input`] of every kind (borrowed from
    /// what resolve found).
    type Extra<'a>: Copy + Send + Sync;
    /// What to read from Auth0 before planning.
    type Lookup: Send;
    /// What those reads found.
    type Observed: Send;
    /// What the pass will do.
    type Plan: Send + Sync;
    /// One thing to do.
    type Step: Send + Sync;
    /// What the steps did so far (and what the next ones start from).
    type Run: Send;

    /// The reasons whose refusal is recorded in `status.auth0Rejection` and held (no Auth0
    /// call) until the spec or the tenant changes.
    const HELD: &'static [ReadyReason];
    /// What a pass compares with the spec, and a cleanup deletes or leaves in Auth0 ("the
    /// Auth0 client").
    const SUBJECT: &'static str;

    /// The spec's warnings (accepted by Auth0, most likely a mistake) and the field prefix
    /// they are reported under.
    fn warnings(obj: &Self) -> (Vec<FieldError>, &'static str);
    /// Tenant, namespace, validation, credentials and findings, from the caches (an
    /// AuthClient also reads its Secret by name while the owned-Secret list still pages in).
    fn resolve<'a>(
        obj: &'a Self,
        ctx: &'a Context,
    ) -> impl Future<Output = Result<Resolution<Self::Resolved>, Self::Error>> + Send + 'a;
    /// What the plan is made from.
    fn input<'a>(
        obj: &'a Self,
        stored: &'a Self::Status,
        resolved: &'a Self::Resolved,
        now: Timestamp,
    ) -> Input<'a, Self>;
    /// What to read (pure), or a failure without any call.
    fn lookup(resolved: &Self::Resolved, input: Input<'_, Self>) -> Result<Self::Lookup, Failure>;
    /// The reads `lookup` asks for.
    fn observe<'a>(
        resolved: &'a Self::Resolved,
        input: Input<'a, Self>,
        lookup: Self::Lookup,
    ) -> impl Future<Output = Result<Self::Observed, Auth0Failure>> + Send + 'a;
    /// The plan (pure), or a failure found in what was read.
    fn plan(
        resolved: &Self::Resolved,
        input: Input<'_, Self>,
        observed: Self::Observed,
    ) -> Result<Self::Plan, Failure>;
    /// The steps of `plan`, in order.
    fn steps(plan: &Self::Plan) -> &[Self::Step];
    /// What the steps start from.
    fn start(plan: &Self::Plan) -> Self::Run;
    /// Runs one step (one function per step); an Auth0 failure is recorded in `run` and
    /// stops the pass, a Kubernetes error aborts it.
    /// (Boxed: an unboxed future borrowing a `Pass<'a>` for `'p` trips rust-lang/rust#100013
    /// when the controller's future is checked for `Send`.)
    fn execute<'p>(
        pass: &'p mut Pass<'_, Self>,
        run: &'p mut Self::Run,
        step: &'p Self::Step,
    ) -> BoxFuture<'p, Result<Flow, Self::Error>>;
    /// The Auth0 failure that stopped the steps, if any.
    fn stopped_by(run: &Self::Run) -> Option<&Auth0Failure>;
    /// What runs after the plan's steps (the AuthClient's key credentials); nothing by
    /// default.
    fn follow_up<'p>(
        pass: &'p mut Pass<'_, Self>,
        plan: &'p Self::Plan,
        run: &'p mut Self::Run,
    ) -> BoxFuture<'p, Result<(), Self::Error>> {
        let _ = (pass, plan, run);
        Box::pin(async { Ok(()) })
    }
    /// The end of the pass (pure): `base` is the status as stored or as a step recorded it.
    fn conclude(
        input: Input<'_, Self>,
        base: &Self::Status,
        plan: &Self::Plan,
        run: Self::Run,
    ) -> Conclusion<Self>;
    /// The cleanup of what the object (its status `stored`) holds, or may hold, in Auth0
    /// ([`marker::holds`]): what was done (the note of the `Deleted` event), or the failure
    /// that stops it. The driver then ends it through [`pass::finish_cleanup`] and removes the
    /// finalizer.
    fn cleanup<'a>(
        ctx: &'a Context,
        obj: &'a Self,
        stored: &'a Self::Status,
    ) -> impl Future<Output = Result<String, Failure>> + Send + 'a;
}

/// Entry point for the controller: the apply branch, or, once the object is being deleted,
/// the cleanup under the finalizer. The finalizer is put in place by the pass that first
/// claims something in Auth0, in the same write as the crash-safety marker
/// ([`marker::claim`]).
pub async fn reconcile<K: Reconciler>(obj: Arc<K>, ctx: Arc<Context>) -> Result<Action, K::Error> {
    let started = Instant::now();
    if obj.namespace().is_none() {
        return Err(pass::PassError::MissingNamespace(K::kind(&()).into_owned()).into());
    }
    let result = if obj.meta().deletion_timestamp.is_some() {
        delete(&*obj, &ctx).await
    } else {
        apply(&*obj, &ctx).await
    };
    pass::record_reconcile(&ctx, started, result.is_ok());
    result
}

/// Error policy: unexpected errors (Kubernetes API failures) retry with backoff.
pub fn error_policy(key: &str, error: &impl fmt::Display, ctx: &Context) -> Action {
    let delay = ctx.next_backoff(key);
    tracing::warn!(object = %key, %error, retry_in = ?delay, "reconcile failed");
    Action::requeue(delay)
}

/// The deletion of an object under the finalizer: the cleanup (none when the object holds
/// nothing in Auth0), its end (the `Deleted` event, or `Ready=False, Deleting` dated by the
/// controller's clock), then the finalizer goes.
async fn delete<K: Reconciler>(obj: &K, ctx: &Context) -> Result<Action, K::Error> {
    if !obj.finalizers().iter().any(|f| f == FINALIZER) {
        return Ok(Action::await_change());
    }
    let stored = pass::stored(obj);
    let now = ctx.config.clock.now();
    let released = if marker::holds(ctx, obj, &stored) {
        K::cleanup(ctx, obj, &stored).await.into()
    } else {
        Released::Nothing
    };
    let writer = Writer::new(ctx, obj, &stored);
    let ended = pass::finish_cleanup(writer, released, K::SUBJECT, |deleting| {
        pass::failed(&stored, obj, deleting, K::HELD, now)
    })
    .await?;
    let action = ended.map_err(pass::PassError::CleanupPending)?;
    marker::release(ctx, obj).await?;
    Ok(action)
}

/// The apply branch (see the module docs): every way out goes through [`pass::finish`].
async fn apply<K: Reconciler>(obj: &K, ctx: &Context) -> Result<Action, K::Error> {
    let stored = pass::stored(obj);
    let now = ctx.config.clock.now();
    let (warnings, prefix) = K::warnings(obj);
    let observed = K::view(&stored).observed_generation;
    crate::spec_warnings::publish(ctx, obj, observed, prefix, &warnings).await;
    let writer = Writer::new(ctx, obj, &stored);
    let resolved = match K::resolve(obj, ctx).await? {
        Resolution::Ready(resolved) => resolved,
        Resolution::WaitForTenant => return Ok(wait_for_tenant(obj, ctx, writer).await?),
        Resolution::Refused(failure) => {
            let next = pass::failed(&stored, obj, &failure, K::HELD, now);
            let event = event_from(K::conditions(&stored), K::conditions(&next), &[], &[]);
            let verdict = Verdict::Failed(failure);
            return Ok(pass::finish(writer, next, event, &verdict, None).await?);
        }
    };
    let input = K::input(obj, &stored, &resolved, now);
    let plan = match planned::<K>(&resolved, input).await {
        Ok(plan) => plan,
        Err(Auth0Failure::Tenant) => return Ok(wait_for_tenant(obj, ctx, writer).await?),
        Err(Auth0Failure::Failed(failure)) => {
            let next = unplanned(&stored, &input, &failure);
            let event = event_from(K::conditions(&stored), K::conditions(&next), &[], &[]);
            let verdict = Verdict::Failed(failure);
            return Ok(pass::finish(writer, next, event, &verdict, None).await?);
        }
    };
    let mut pass = Pass {
        ctx,
        resolved: &resolved,
        input,
        writer,
    };
    let mut run = K::start(&plan);
    for step in K::steps(&plan) {
        if K::execute(&mut pass, &mut run, step).await? == Flow::Stop {
            break;
        }
    }
    K::follow_up(&mut pass, &plan, &mut run).await?;
    if let Some(Auth0Failure::Tenant) = K::stopped_by(&run) {
        // Auth0 refused the tenant's credentials: the tenant's check wakes this object.
        K::per_kind(ctx).wait_for_tenant(K::tenant(obj), ObjectRef::from_obj(obj));
    }
    let writer = pass.writer;
    let ended = K::conclude(input, writer.status(), &plan, run);
    let event = event_from(
        K::conditions(&stored),
        K::conditions(&ended.next),
        &ended.notes,
        &[],
    );
    let action = pass::finish(writer, ended.next, event, &ended.verdict, ended.wake).await?;
    match ended.error {
        Some(error) => Err(error),
        None => Ok(action),
    }
}

/// The end of a pass of `input` in `status` ([`pass::conclude`], with the kind's held reasons
/// and subject): `consulted`, whether Auth0 was compared with the spec; `drift`, the `Drifted`
/// verdict; `synced`, the message of `Ready=True, Synced`.
pub fn end<K: Reconciler>(
    status: &mut K::Status,
    input: &Input<'_, K>,
    verdict: &Verdict,
    consulted: bool,
    drift: &DriftVerdict,
    synced: String,
) {
    let ending = pass::Ending {
        generation: input.owner.meta().generation,
        tenant_generation: input.tenant_generation,
        now: input.now,
        held: K::HELD,
        consulted,
        drift,
        subject: K::SUBJECT,
        synced,
    };
    pass::conclude(K::parts(status), verdict, ending);
}

/// The status of a pass that failed before its plan (pure): `Ready=False` with `failure`,
/// recorded as a refusal held until the spec or the tenant changes when its reason is one of
/// the kind's held ones.
pub fn unplanned<K: Reconciler>(
    base: &K::Status,
    input: &Input<'_, K>,
    failure: &Failure,
) -> K::Status {
    let mut status = base.clone();
    let failed = Verdict::Failed(failure.clone());
    // No `Synced` message: the pass ends in a failure.
    end(
        &mut status,
        input,
        &failed,
        false,
        &DriftVerdict::Unchanged,
        String::new(),
    );
    status
}

/// Lookup (pure) -> observe -> plan (pure).
async fn planned<'a, K: Reconciler>(
    resolved: &'a K::Resolved,
    input: Input<'a, K>,
) -> Result<K::Plan, Auth0Failure> {
    let lookup = K::lookup(resolved, input).map_err(Auth0Failure::Failed)?;
    let observed = K::observe(resolved, input, lookup).await?;
    K::plan(resolved, input, observed).map_err(Auth0Failure::Failed)
}

/// The end of a pass that waits for its tenant: nothing is written; the tenant's next check
/// wakes the object.
async fn wait_for_tenant<K: Reconciler>(
    obj: &K,
    ctx: &Context,
    writer: Writer<'_, K>,
) -> Result<Action, kube::Error> {
    K::per_kind(ctx).wait_for_tenant(K::tenant(obj), ObjectRef::from_obj(obj));
    let unchanged = writer.status().clone();
    pass::finish(writer, unchanged, None, &Verdict::Unchanged, None).await
}
