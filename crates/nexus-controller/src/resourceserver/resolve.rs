//! The first step of an AuthResourceServer pass: the tenant, the namespace check, the
//! validation, the identifier's owner in the cluster, and the tenant's credentials, all from
//! the caches (no API request), with the drift scan's finding. Refusals are data.

use std::sync::Arc;

use kube::ResourceExt;
use kube::runtime::reflector::ObjectRef;

use crate::caches::{Credentials, SecretKey};
use crate::context::{Context, ServerFinding};
use crate::pass::Failure;
use crate::tenant_access::{self, client_from_cache};
use auth0_mgmt::TenantClient;
use nexus_crd::conditions::{self, ConditionStatus, READY};
use nexus_crd::resource_validation::{management_audience, validate_resource_server};
use nexus_crd::validation::summarize_under;
use nexus_crd::{AuthResourceServer, AuthTenant, ReadyReason};

/// The tenant and its Management API client.
pub struct Resolved {
    /// The AuthTenant (from the cache).
    pub tenant: Arc<AuthTenant>,
    /// Its Management API client.
    pub auth0: Arc<TenantClient>,
    /// The key its crash-safety marker names (`<cluster>/<uid>`, [`crate::marker::tag_key`]).
    pub tag: String,
    /// What the drift scan found about the API, if it triggered this pass.
    pub finding: Option<ServerFinding>,
}

/// What resolving found.
pub type Resolution = crate::driver::Resolution<Resolved>;

/// Resolves `owner` (whose uid is `uid`) against the caches.
pub fn resolve(owner: &AuthResourceServer, ctx: &Context, uid: &str) -> Resolution {
    let spec = &owner.spec;
    let status = owner.status.clone().unwrap_or_default();
    if let Some(recorded) = status.tenant.as_deref()
        && recorded != spec.tenant
    {
        return Resolution::Refused(Failure::permanent(
            ReadyReason::InvalidSpec,
            format!(
                "spec.tenant changed from '{recorded}' to '{}'; the tenant of an AuthResourceServer cannot change: set it back, or create a new AuthResourceServer",
                spec.tenant
            ),
        ));
    }
    if let Some(recorded) = status.identifier.as_deref()
        && recorded != spec.identifier
        && status.resource_server_id.is_some()
    {
        return Resolution::Refused(Failure::permanent(
            ReadyReason::InvalidSpec,
            format!(
                "spec.identifier changed from '{recorded}' to '{}'; the identifier of an API cannot change: set it back, or create a new AuthResourceServer",
                spec.identifier
            ),
        ));
    }
    let tenant = match crate::pass::tenant(ctx, &spec.tenant) {
        Ok(tenant) => tenant,
        Err(failure) => return Resolution::Refused(failure),
    };
    let namespace = owner.namespace().unwrap_or_default();
    let labels = ctx.caches.namespace_labels(&namespace);
    if let Some(failure) = spec_refusal(owner, &tenant, &labels, &ctx.caches.servers()) {
        return Resolution::Refused(failure);
    }
    let checked = tenant.status.as_ref().and_then(|s| {
        conditions::find(&s.conditions, READY)
            .filter(|c| c.observed_generation == tenant.metadata.generation)
    });
    let Some(ready) = checked else {
        return Resolution::WaitForTenant;
    };
    if ConditionStatus::of(ready) != Some(ConditionStatus::True) {
        return Resolution::Refused(Failure::permanent(
            ReadyReason::TenantNotReady,
            format!(
                "AuthTenant '{}' is not ready ({}): {}",
                spec.tenant, ready.reason, ready.message
            ),
        ));
    }
    let credentials = match ctx.caches.credentials.get(&SecretKey::of(&tenant)) {
        Some(Credentials::Syncing) | None => return Resolution::WaitForTenant,
        Some(state) => state,
    };
    match client_from_cache(&ctx.auth0, &tenant, Some(&credentials)) {
        Ok(auth0) => Resolution::Ready(Resolved {
            tenant,
            auth0,
            tag: crate::marker::tag_key(&ctx.config.cluster_id, uid),
            finding: ctx.servers.take_finding(&ObjectRef::from_obj(owner)),
        }),
        Err(error) => Resolution::Refused(Failure::permanent(
            ReadyReason::TenantNotReady,
            format!("AuthTenant '{}' is not ready: {error}", spec.tenant),
        )),
    }
}

/// Why the spec is refused without any Auth0 call: its namespace (with `labels`) not allowed
/// by the tenant, an invalid spec, or its identifier claimed by another AuthResourceServer of
/// `servers`. Pure; also used by `nexus-operator plan`.
pub fn spec_refusal(
    owner: &AuthResourceServer,
    tenant: &AuthTenant,
    labels: &std::collections::BTreeMap<String, String>,
    servers: &[Arc<AuthResourceServer>],
) -> Option<Failure> {
    let spec = &owner.spec;
    let namespace = owner.namespace().unwrap_or_default();
    if !tenant_access::namespace_allowed(tenant, &namespace, labels) {
        return Some(Failure::permanent(
            ReadyReason::NamespaceNotAllowed,
            format!(
                "AuthTenant '{}' does not allow namespace '{namespace}'; add it to spec.allowedNamespaces of the AuthTenant",
                spec.tenant
            ),
        ));
    }
    let errors = validate_resource_server(spec, &management_audience(&tenant.spec.domain));
    if !errors.is_empty() {
        return Some(Failure::permanent(
            ReadyReason::InvalidSpec,
            summarize_under("spec.", &errors),
        ));
    }
    claimed_elsewhere(owner, servers)
}

fn reference(server: &AuthResourceServer) -> String {
    format!(
        "{}/{}",
        server.namespace().unwrap_or_default(),
        server.name_any()
    )
}

/// Another AuthResourceServer of the cluster with the same tenant and identifier that holds it
/// (or, when none holds it, that is older) wins; this one is refused without any Auth0 call.
pub fn claimed_elsewhere(
    owner: &AuthResourceServer,
    servers: &[Arc<AuthResourceServer>],
) -> Option<Failure> {
    if owner.holds_identifier() {
        return None;
    }
    let key = |s: &AuthResourceServer| {
        (
            s.metadata.creation_timestamp.clone().map(|t| t.0),
            reference(s),
        )
    };
    let rivals: Vec<&AuthResourceServer> = servers
        .iter()
        .map(|s| &**s)
        .filter(|s| {
            s.uid() != owner.uid()
                && s.spec.tenant == owner.spec.tenant
                && s.spec.identifier == owner.spec.identifier
                && s.metadata.deletion_timestamp.is_none()
        })
        .collect();
    let winner = rivals.iter().find(|s| s.holds_identifier()).or_else(|| {
        rivals
            .iter()
            .filter(|s| key(s) < key(owner))
            .min_by_key(|s| key(s))
    })?;
    Some(Failure::permanent(
        ReadyReason::IdentifierInUse,
        format!(
            "identifier '{}' of tenant '{}' is claimed by AuthResourceServer {}; use another identifier, or delete one of them",
            owner.spec.identifier,
            owner.spec.tenant,
            reference(winner)
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    use k8s_openapi::jiff::Timestamp;
    use nexus_crd::AuthResourceServerStatus;
    use serde_json::json;

    fn server(ns: &str, uid: &str, created: i64, holds: bool) -> Arc<AuthResourceServer> {
        let mut s = AuthResourceServer::new(
            "api",
            serde_json::from_value(
                json!({"tenant": "acme", "identifier": "https://x/api", "name": "X"}),
            )
            .expect("spec"),
        );
        s.metadata.namespace = Some(ns.into());
        s.metadata.uid = Some(uid.into());
        s.metadata.creation_timestamp = Some(Time(Timestamp::from_second(created).expect("time")));
        if holds {
            s.status = Some(AuthResourceServerStatus {
                resource_server_id: Some("rs".into()),
                identifier: Some("https://x/api".into()),
                tenant: Some("acme".into()),
                ..Default::default()
            });
        }
        Arc::new(s)
    }

    #[test]
    fn the_holder_or_else_the_oldest_keeps_the_identifier() {
        let old = server("team-a", "u1", 100, false);
        let young = server("team-b", "u2", 200, false);
        let all = [old.clone(), young.clone()];
        assert_eq!(claimed_elsewhere(&old, &all), None);
        let refused = claimed_elsewhere(&young, &all).expect("refused");
        assert_eq!(refused.reason, ReadyReason::IdentifierInUse);
        assert!(
            refused.message.contains("team-a/api"),
            "{}",
            refused.message
        );

        let holder = server("team-b", "u2", 200, true);
        let all = [old.clone(), holder.clone()];
        assert_eq!(claimed_elsewhere(&holder, &all), None, "it holds it");
        assert!(
            claimed_elsewhere(&old, &all)
                .expect("refused")
                .message
                .contains("team-b/api"),
            "the holder wins even when younger"
        );
    }
}
