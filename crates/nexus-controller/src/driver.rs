//! The one driver of a reconcile pass, for every kind that manages something in Auth0
//! (AuthClient, AuthResourceServer): the entry point the controller calls, the deletion under
//! the finalizer, and the apply branch up to the point where the kind's own pass takes over:
//!
//! 1. the spec's warnings (an event, once per generation);
//! 2. [`Reconciler::resolve`]: tenant, namespace, validation, credentials, from the caches;
//!    waiting for the tenant writes nothing, a refusal ends the pass here through
//!    [`pass::finish`];
//! 3. [`Reconciler::pass`]: lookup (pure) -> observe (the reads) -> plan (pure) -> execute
//!    (one function per step) -> [`pass::finish`], the one exit that publishes the event,
//!    writes the status, sets the gauge and picks the requeue.
//!
//! A kind implements [`Reconciler`] with its associated types and keeps only its resolve,
//! plan and step executors; it never imports the other kind.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use kube::runtime::controller::Action;
use kube::runtime::reflector::ObjectRef;

use crate::context::Context;
use crate::marker;
use crate::pass::{self, Failure, Kind, Verdict, event_from};
use nexus_crd::FINALIZER;
use nexus_crd::validation::FieldError;

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

/// A kind the driver reconciles.
pub trait Reconciler: Kind {
    /// Errors that abort a pass (Kubernetes API errors): retried by the error policy.
    type Error: From<kube::Error> + fmt::Display + Send;
    /// What [`Reconciler::resolve`] finds (the tenant, its Auth0 client, ...).
    type Resolved: Send;

    /// The error of an object without a namespace (impossible for a namespaced kind).
    fn missing_namespace() -> Self::Error;
    /// The status as stored (default when there is none yet).
    fn stored(obj: &Self) -> Self::Status;
    /// `status.observedGeneration`.
    fn observed_generation(status: &Self::Status) -> Option<i64>;
    /// The name of the object's AuthTenant.
    fn tenant(obj: &Self) -> &str;
    /// The spec's warnings (accepted by Auth0, most likely a mistake) and the field prefix
    /// they are reported under.
    fn warnings(obj: &Self) -> (Vec<FieldError>, &'static str);
    /// The first step: tenant, namespace, validation, credentials, from the caches.
    fn resolve(obj: &Self, ctx: &Context) -> Result<Resolution<Self::Resolved>, Self::Error>;
    /// `Ready=False` with a failure found before any plan.
    fn failed(stored: &Self::Status, obj: &Self, failure: &Failure, now: Timestamp)
    -> Self::Status;
    /// The rest of the apply branch: lookup, observe, plan, execute, then [`pass::finish`].
    fn pass<'a>(
        ctx: &'a Context,
        obj: &'a Self,
        resolved: Self::Resolved,
        stored: Self::Status,
        now: Timestamp,
    ) -> impl Future<Output = Result<Action, Self::Error>> + Send + 'a;
    /// The cleanup of what the object holds in Auth0 (the driver then removes the finalizer).
    fn cleanup<'a>(
        ctx: &'a Context,
        obj: &'a Self,
    ) -> impl Future<Output = Result<Action, Self::Error>> + Send + 'a;
}

/// Entry point for the controller: the apply branch, or, once the object is being deleted,
/// the cleanup under the finalizer. The finalizer is put in place by the pass that first
/// claims something in Auth0, in the same write as the crash-safety marker
/// ([`marker::claim`]).
pub async fn reconcile<K: Reconciler>(obj: Arc<K>, ctx: Arc<Context>) -> Result<Action, K::Error> {
    let started = Instant::now();
    if obj.namespace().is_none() {
        return Err(K::missing_namespace());
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

/// The deletion of an object under the finalizer: the cleanup, then the finalizer goes.
async fn delete<K: Reconciler>(obj: &K, ctx: &Context) -> Result<Action, K::Error> {
    if !obj.finalizers().iter().any(|f| f == FINALIZER) {
        return Ok(Action::await_change());
    }
    let action = K::cleanup(ctx, obj).await?;
    marker::release(ctx, obj).await?;
    Ok(action)
}

/// The apply branch up to the kind's own pass (see the module docs).
async fn apply<K: Reconciler>(obj: &K, ctx: &Context) -> Result<Action, K::Error> {
    let stored = K::stored(obj);
    let now = ctx.config.clock.now();
    let (warnings, prefix) = K::warnings(obj);
    crate::spec_warnings::publish(ctx, obj, K::observed_generation(&stored), prefix, &warnings)
        .await;
    match K::resolve(obj, ctx)? {
        Resolution::WaitForTenant => {
            K::per_kind(ctx).wait_for_tenant(K::tenant(obj), ObjectRef::from_obj(obj));
            Ok(Action::await_change())
        }
        Resolution::Refused(failure) => {
            let next = K::failed(&stored, obj, &failure, now);
            let event = event_from(K::conditions(&stored), K::conditions(&next), &[], &[]);
            let verdict = Verdict::Failed(failure);
            Ok(pass::finish(ctx, obj, &stored, None, next, event, &verdict).await?)
        }
        Resolution::Ready(resolved) => K::pass(ctx, obj, resolved, stored, now).await,
    }
}
