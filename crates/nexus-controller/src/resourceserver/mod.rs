//! Reconcile of one `AuthResourceServer` (an Auth0 API), the same pipeline as an AuthClient:
//!
//! 1. [`resolve`]: tenant, namespace, validation, the identifier's owner in the cluster and
//!    the credentials, from the caches.
//! 2. [`plan::lookup`] (pure): what to read from Auth0, if anything.
//! 3. [`act::observe`]: that read.
//! 4. [`plan::plan`] (pure): the steps.
//! 5. [`act::execute`]: the probe, the crash-safety marker and the finalizer in one metadata
//!    write ([`crate::marker`]), the create (a 409 after an uncertain attempt is recovered, any
//!    other 409 is `IdentifierInUse`), the PATCH.
//! 6. [`status`]: one status write at the end, only when its content changed.

pub mod act;
pub mod cleanup;
pub mod desired;
pub mod error;
pub mod plan;
pub mod resolve;
pub mod status;

use std::collections::hash_map::DefaultHasher;
use std::future::Future;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use kube::runtime::controller::Action;
use kube::runtime::reflector::ObjectRef;

use crate::context::Context;
use crate::driver::{self, Reconciler, Resolution};
use crate::marker;
use crate::pass::{self, Auth0Failure, Failure, Verdict, event_from};
pub use error::ResourceServerError;
use nexus_crd::validation::FieldError;
use nexus_crd::{AuthResourceServer, AuthResourceServerStatus};
use plan::Input;
use resolve::Resolved;

/// `ars/namespace/name` of the object (metrics and backoff key).
pub fn object_key(obj: &AuthResourceServer) -> String {
    pass::key(obj)
}

/// What wakes the AuthResourceServer controller: the spec (generation, also bumped when
/// deletion starts) and the start of its deletion; never its own writes (the status, the
/// finalizer and the crash-safety marker of [`marker::claim`]).
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

    fn missing_namespace() -> ResourceServerError {
        ResourceServerError::MissingNamespace
    }

    fn stored(obj: &Self) -> AuthResourceServerStatus {
        obj.status.clone().unwrap_or_default()
    }

    fn observed_generation(status: &AuthResourceServerStatus) -> Option<i64> {
        status.observed_generation
    }

    fn tenant(obj: &Self) -> &str {
        &obj.spec.tenant
    }

    fn warnings(obj: &Self) -> (Vec<FieldError>, &'static str) {
        (
            nexus_crd::resource_validation::resource_server_warnings(&obj.spec),
            "spec.",
        )
    }

    fn resolve(obj: &Self, ctx: &Context) -> Result<Resolution<Resolved>, ResourceServerError> {
        Ok(resolve::resolve(obj, ctx))
    }

    fn failed(
        stored: &AuthResourceServerStatus,
        obj: &Self,
        failure: &Failure,
        now: Timestamp,
    ) -> AuthResourceServerStatus {
        status::failed(stored, obj, failure, now)
    }

    fn pass<'a>(
        ctx: &'a Context,
        obj: &'a Self,
        resolved: Resolved,
        stored: AuthResourceServerStatus,
        now: Timestamp,
    ) -> impl Future<Output = Result<Action, ResourceServerError>> + Send + 'a {
        run(ctx, obj, resolved, stored, now)
    }

    fn cleanup<'a>(
        ctx: &'a Context,
        obj: &'a Self,
    ) -> impl Future<Output = Result<Action, ResourceServerError>> + Send + 'a {
        cleanup::cleanup(obj, ctx)
    }
}

/// The AuthResourceServer's pass after resolve: the read, the plan, the steps, then the one
/// exit.
async fn run(
    ctx: &Context,
    obj: &AuthResourceServer,
    resolved: Resolved,
    stored: AuthResourceServerStatus,
    now: Timestamp,
) -> Result<Action, ResourceServerError> {
    let reference = ObjectRef::from_obj(obj);
    let finding = ctx.servers.take_finding(&reference);
    let uid = obj.uid().ok_or(ResourceServerError::MissingUid)?;
    let tag = marker::tag_key(&ctx.config.cluster_id, &uid);
    let input = Input {
        owner: obj,
        status: &stored,
        tag: &tag,
        tenant_generation: resolved.tenant.metadata.generation.unwrap_or(0),
        now,
        finding: finding.as_ref(),
    };
    let view = match plan::lookup(&input) {
        Ok(lookup) => act::observe(&resolved.auth0, lookup).await,
        Err(failure) => Err(Auth0Failure::Failed(failure)),
    };
    let view = match view {
        Ok(view) => view,
        Err(Auth0Failure::Tenant) => {
            ctx.servers.wait_for_tenant(&obj.spec.tenant, reference);
            return Ok(Action::await_change());
        }
        Err(Auth0Failure::Failed(failure)) => {
            let verdict = Verdict::Failed(failure);
            let next = status::compute(&stored, &input, None, None, &verdict);
            let event = event_from(&stored.conditions, &next.conditions, &[], &[]);
            return Ok(pass::finish(ctx, obj, &stored, None, next, event, &verdict).await?);
        }
    };
    let plan = plan::plan(&input, view);
    let mut report = act::execute(ctx, &resolved.auth0, &input, &plan).await?;
    let verdict = status::verdict(&report, obj);
    let base = report
        .written
        .as_ref()
        .map_or_else(|| stored.clone(), |(s, _)| s.clone());
    let next = status::compute(&base, &input, Some(&plan), Some(&report), &verdict);
    let event = event_from(
        &stored.conditions,
        &next.conditions,
        &plan.notes,
        &report.notes,
    );
    Ok(pass::finish(
        ctx,
        obj,
        &stored,
        report.written.take(),
        next,
        event,
        &verdict,
    )
    .await?)
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
    use serde_json::json;

    #[test]
    fn only_spec_and_deletion_trigger_a_pass() {
        let mut server = AuthResourceServer::new(
            "api",
            serde_json::from_value(
                json!({"tenant": "acme", "identifier": "https://x/api", "name": "X"}),
            )
            .expect("spec"),
        );
        server.metadata.generation = Some(1);
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
