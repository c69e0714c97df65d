//! Reconcile of one `AuthResourceServer` (an Auth0 API): what the driver ([`crate::driver`])
//! runs, as this kind's [`Reconciler`]:
//!
//! 1. [`resolve`]: tenant, namespace, validation, the identifier's owner in the cluster, the
//!    credentials and the drift finding, from the caches.
//! 2. [`plan::lookup`] (pure): what to read from Auth0, if anything.
//! 3. [`act::observe`]: that read.
//! 4. [`plan::plan`] (pure): the steps, as data.
//! 5. [`act::execute`]: one executor per step: the probe, the crash-safety marker and the
//!    finalizer in one metadata write ([`crate::marker`]), the create (a 409 after an
//!    uncertain attempt is recovered, any other 409 is `IdentifierInUse`), the PATCH.
//! 6. [`status`] (pure): the status the pass leads to; the driver's one exit writes it.

pub mod act;
pub mod cleanup;
pub mod desired;
pub mod plan;
pub mod resolve;
pub mod status;

use std::collections::hash_map::DefaultHasher;
use std::future::Future;

use futures::future::BoxFuture;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use kube::runtime::controller::Action;
use kube::runtime::reflector::ObjectRef;

use crate::context::Context;
use crate::driver::{self, Conclusion, Flow, Pass, Reconciler, Resolution};
use crate::marker;
use crate::pass::{self, Auth0Failure, Failure};
use act::Report;
use nexus_crd::validation::FieldError;
use nexus_crd::{AuthResourceServer, AuthResourceServerStatus, ReadyReason};
use plan::{Input, Lookup, Plan, Step, View};
use resolve::Resolved;

/// The errors that abort a pass of an AuthResourceServer: only those of every kind
/// (Kubernetes API errors above all), retried by the error policy. Everything a user can act
/// on is data instead ([`Failure`]).
pub type ResourceServerError = pass::PassError;

/// `ars/namespace/name` of the object (metrics and backoff key).
pub fn object_key(obj: &AuthResourceServer) -> String {
    pass::key(obj)
}

/// What wakes the AuthResourceServer controller: the spec (generation, also bumped when
/// deletion starts) and the start of its deletion; never its own writes (the status, the
/// finalizer and the crash-safety marker of [`crate::marker::claim`]).
pub fn trigger_hash(obj: &AuthResourceServer) -> u64 {
    let mut hasher = DefaultHasher::new();
    obj.metadata.generation.hash(&mut hasher);
    obj.metadata.deletion_timestamp.is_some().hash(&mut hasher);
    hasher.finish()
}

/// Entry point for the controller ([`driver::reconcile`]).
pub async fn reconcile(
    obj: Arc<AuthResourceServer>,
    ctx: Arc<Context>,
) -> Result<Action, ResourceServerError> {
    driver::reconcile(obj, ctx).await
}

/// Error policy: Kubernetes API failures retry with backoff.
pub fn error_policy(
    obj: Arc<AuthResourceServer>,
    error: &ResourceServerError,
    ctx: Arc<Context>,
) -> Action {
    driver::error_policy(&object_key(&obj), error, &ctx)
}

impl Reconciler for AuthResourceServer {
    type Error = ResourceServerError;
    type Resolved = Resolved;
    type Extra<'a> = ();
    type Lookup = Lookup;
    type Observed = View;
    type Plan = Plan;
    type Step = Step;
    type Run = Report;

    const HELD: &'static [ReadyReason] = &plan::HELD_REASONS;
    const SUBJECT: &'static str = "the Auth0 API";

    fn warnings(obj: &Self) -> (Vec<FieldError>, &'static str) {
        (
            nexus_crd::resource_validation::resource_server_warnings(&obj.spec),
            "spec.",
        )
    }

    async fn resolve(
        obj: &Self,
        ctx: &Context,
    ) -> Result<Resolution<Resolved>, ResourceServerError> {
        let uid = obj.uid().ok_or_else(pass::PassError::missing_uid::<Self>)?;
        Ok(resolve::resolve(obj, ctx, &uid))
    }

    fn input<'a>(
        obj: &'a Self,
        stored: &'a AuthResourceServerStatus,
        resolved: &'a Resolved,
        now: Timestamp,
    ) -> Input<'a> {
        pass::input!(obj, stored, resolved, now, ())
    }

    fn lookup(_: &Resolved, input: Input<'_>) -> Result<Lookup, Failure> {
        plan::lookup(&input)
    }

    fn observe<'a>(
        resolved: &'a Resolved,
        _: Input<'a>,
        lookup: Lookup,
    ) -> impl Future<Output = Result<View, Auth0Failure>> + Send + 'a {
        act::observe(&resolved.auth0, lookup)
    }

    fn plan(_: &Resolved, input: Input<'_>, view: View) -> Result<Plan, Failure> {
        Ok(plan::plan(&input, view))
    }

    fn steps(plan: &Plan) -> &[Step] {
        &plan.steps
    }

    fn start(plan: &Plan) -> Report {
        Report {
            outcome: marker::Outcome::start(plan.resource_server_id.clone()),
            ..Report::default()
        }
    }

    fn execute<'p>(
        pass: &'p mut Pass<'_, Self>,
        report: &'p mut Report,
        step: &'p Step,
    ) -> BoxFuture<'p, Result<Flow, ResourceServerError>> {
        Box::pin(async move { Ok(act::execute(pass, report, step).await?) })
    }

    fn stopped_by(report: &Report) -> Option<&Auth0Failure> {
        report.failure.as_ref()
    }

    fn conclude(
        input: Input<'_>,
        base: &AuthResourceServerStatus,
        plan: &Plan,
        report: Report,
    ) -> Conclusion<Self> {
        let (next, verdict) = status::compute(base, &input, plan, &report);
        Conclusion::new(next, verdict, &plan.notes, report.notes)
    }

    async fn cleanup(ctx: &Context, obj: &Self, stored: &Self::Status) -> Result<String, Failure> {
        cleanup::cleanup(obj, ctx, stored).await
    }
}

/// The AuthResourceServers of `tenant` in the cache (for wake-ups on tenant changes).
pub fn servers_of(ctx: &Context, tenant: &str) -> Vec<ObjectRef<AuthResourceServer>> {
    ctx.caches
        .servers()
        .iter()
        .filter(|s| s.spec.tenant == tenant)
        .map(|s| ObjectRef::from_obj(&**s))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use nexus_crd::AuthResourceServerStatus;

    #[test]
    fn only_spec_and_deletion_trigger_a_pass() {
        let mut server = crate::testing::server("api", "https://x/api", 1);
        let before = trigger_hash(&server);
        server.status = Some(AuthResourceServerStatus {
            resource_server_id: Some("rs1".into()),
            observed_generation: Some(1),
            ..Default::default()
        });
        server.metadata.resource_version = Some("42".into());
        assert_eq!(trigger_hash(&server), before, "its own status write");
        server.metadata.generation = Some(2);
        assert_ne!(trigger_hash(&server), before, "a spec change");
        let spec_changed = trigger_hash(&server);
        server.metadata.finalizers = Some(vec![nexus_crd::FINALIZER.into()]);
        server
            .metadata
            .annotations
            .get_or_insert_default()
            .insert(nexus_crd::CREATION_ANNOTATION.into(), "c/u t".into());
        assert_eq!(
            trigger_hash(&server),
            spec_changed,
            "its own finalizer and marker"
        );
    }
}
