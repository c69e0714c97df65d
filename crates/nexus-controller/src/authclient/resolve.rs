//! The first step of an AuthClient pass: its tenant, namespace and credentials from the
//! caches (no API request), the spec validation, and what the drift scan found. Refusals are
//! data ([`Failure`]). Its Secret is read after this step, by `Caches::owned_secret`.

use std::collections::BTreeMap;
use std::sync::Arc;

use kube::ResourceExt;
use kube::runtime::reflector::ObjectRef;

use super::access;
use super::secret::ObservedSecret;
use crate::caches::{Credentials, SecretKey};
use crate::context::{AccessFinding, Context, ScanFinding};
use crate::governance::Governance;
use crate::ownership::OwnershipTag;
use crate::pass::Failure;
use crate::tenant_access::{self, client_from_cache};
use auth0_mgmt::TenantClient;
use nexus_crd::conditions::{self, ConditionStatus, READY};
use nexus_crd::resource_validation as rules;
use nexus_crd::validation::{self as validate, FieldError};
use nexus_crd::{AuthClient, AuthClientStatus, AuthResourceServer, AuthTenant, ReadyReason};

/// The tenant and its Management API client.
pub struct Resolved {
    /// The AuthTenant (from the cache).
    pub tenant: Arc<AuthTenant>,
    /// Its Management API client.
    pub auth0: Arc<TenantClient>,
    /// The object's ownership tag.
    pub tag: OwnershipTag,
    /// The labels of the object's namespace.
    pub labels: BTreeMap<String, String>,
    /// The cached AuthResourceServers (for the grant decisions).
    pub servers: Vec<Arc<AuthResourceServer>>,
    /// A refusal of the spec (the governance's refusal of its grants or connections, an
    /// invalid spec, the namespace no longer allowed): the pass only revokes.
    pub refusal: Option<Failure>,
    /// With `refusal`: the namespace may hold nothing of the tenant (every recorded grant and
    /// connection is revoked).
    pub revoke_everything: bool,
    /// The tenant lets the namespace adopt existing clients.
    pub adoption_allowed: bool,
    /// The object's namespace.
    pub namespace: String,
    /// The owned Secret (metadata and digests), if any: None here; the reconciler's `resolve`
    /// reads it with `Caches::owned_secret` (from the owned-Secret cache, or by name while
    /// that cache has not listed the namespace yet), the one way a pass reads its Secret.
    pub secret: Option<ObservedSecret>,
    /// What the drift scan found about the client, if it triggered this pass.
    pub finding: Option<ScanFinding>,
    /// What was found about the client's grants and connections.
    pub access: AccessFinding,
}

/// What resolving found.
pub type Resolution = crate::driver::Resolution<Resolved>;

/// Resolves `owner` against the caches. `None` tag means the object has no uid yet.
pub fn resolve(owner: &AuthClient, ctx: &Context) -> Option<Resolution> {
    let tag = OwnershipTag::for_client(owner, &ctx.config.cluster_id)?;
    let spec = &owner.spec;
    let status = owner.status.clone().unwrap_or_default();
    if let Some(recorded) = status.tenant.as_deref()
        && recorded != spec.tenant
    {
        return Some(Resolution::Refused(Failure::permanent(
            ReadyReason::InvalidSpec,
            format!(
                "spec.tenant changed from '{recorded}' to '{}'; the tenant of an AuthClient cannot change: set it back, or create a new AuthClient",
                spec.tenant
            ),
        )));
    }
    let tenant = match crate::pass::tenant(ctx, &spec.tenant) {
        Ok(tenant) => tenant,
        Err(failure) => return Some(Resolution::Refused(failure)),
    };
    let namespace = owner.namespace().unwrap_or_default();
    let labels = ctx.caches.namespace_labels(&namespace);
    let servers = ctx.caches.servers();
    let governance = Governance {
        tenant: &tenant,
        namespace: &namespace,
        labels: &labels,
        servers: &servers,
    };
    // Revocation first (issue 17): whatever refuses the spec, what the namespace may no longer
    // hold is taken back from the status before the pass ends Ready=False.
    let (refusal, revoke_everything) = spec_refusal(owner, &status, &governance);
    if let Some(refusal) = &refusal {
        let revocations = if revoke_everything {
            access::revoke_all(&status)
        } else {
            access::revocations(spec, &status, &governance)
        };
        if revocations.is_empty() {
            // Nothing to take back: refused without any Auth0 call.
            return Some(Resolution::Refused(refusal.clone()));
        }
    }
    let adoption_allowed = adoption_allowed(&tenant, &namespace, &labels);
    let checked = tenant.status.as_ref().and_then(|s| {
        conditions::find(&s.conditions, READY)
            .filter(|c| c.observed_generation == tenant.metadata.generation)
    });
    let Some(ready) = checked else {
        return Some(Resolution::WaitForTenant);
    };
    if ConditionStatus::of(ready) != Some(ConditionStatus::True) {
        // Revocations wait for the tenant (its status change wakes this object); the spec's
        // own refusal, when there is one, is what the user must act on.
        return Some(Resolution::Refused(refusal.unwrap_or_else(|| {
            Failure::permanent(
                ReadyReason::TenantNotReady,
                format!(
                    "AuthTenant '{}' is not ready ({}): {}",
                    spec.tenant, ready.reason, ready.message
                ),
            )
        })));
    }
    let credentials = match ctx.caches.credentials.get(&SecretKey::of(&tenant)) {
        Some(Credentials::Syncing) | None => return Some(Resolution::WaitForTenant),
        Some(state) => state,
    };
    match client_from_cache(&ctx.auth0, &tenant, Some(&credentials)) {
        Ok(auth0) => Some(Resolution::Ready(Resolved {
            tenant,
            auth0,
            tag,
            labels,
            servers,
            refusal,
            revoke_everything,
            adoption_allowed,
            secret: None,
            finding: ctx.clients.take_finding(&ObjectRef::from_obj(owner)),
            access: ctx.take_access_finding(&ObjectRef::from_obj(owner)),
            namespace,
        })),
        Err(error) => {
            // The tenant was Ready with credentials that are now gone: its reconciler
            // notices (the credentials watch wakes it) and its transition wakes us.
            Some(Resolution::Refused(refusal.unwrap_or_else(|| {
                Failure::permanent(
                    ReadyReason::TenantNotReady,
                    format!("AuthTenant '{}' is not ready: {error}", spec.tenant),
                )
            })))
        }
    }
}

/// Why the spec is refused before anything is read (the namespace no longer allowed, an
/// invalid spec, grants or connections the governance refuses), in that order, and whether
/// the namespace may then hold nothing of the tenant (every recorded grant and connection is
/// revoked). Pure; also used by `nexus-operator plan`.
pub fn spec_refusal(
    owner: &AuthClient,
    status: &AuthClientStatus,
    governance: &Governance<'_>,
) -> (Option<Failure>, bool) {
    let spec = &owner.spec;
    let tenant = governance.tenant;
    let namespace = governance.namespace;
    if !tenant_access::namespace_allowed(tenant, namespace, governance.labels) {
        let failure = Failure::permanent(
            ReadyReason::NamespaceNotAllowed,
            format!(
                "AuthTenant '{}' does not allow namespace '{namespace}'; add it to spec.allowedNamespaces of the AuthTenant (the Auth0 client and the Secret are kept; its grants and connections are revoked)",
                spec.tenant
            ),
        );
        (Some(failure), true)
    } else if let Some(invalid) = invalid_spec(owner, tenant) {
        (Some(invalid), false)
    } else {
        (
            governance.refusal(&spec.grants, &spec.connections, &status.grants),
            false,
        )
    }
}

/// Whether the tenant lets `namespace` adopt existing Auth0 clients
/// (`spec.adoption.allowedNamespaces`).
pub fn adoption_allowed(
    tenant: &AuthTenant,
    namespace: &str,
    labels: &BTreeMap<String, String>,
) -> bool {
    tenant.spec.adoption.as_ref().is_some_and(|adoption| {
        tenant_access::namespaces_match(&adoption.allowed_namespaces, namespace, labels)
    })
}

/// The validation of the spec (the Nexus contract, the tenant's URL policy, settings, grants
/// and connections): `InvalidSpec` naming every failing field, or None.
fn invalid_spec(owner: &AuthClient, tenant: &AuthTenant) -> Option<Failure> {
    let spec = &owner.spec;
    let mut errors = validate::validate_client(&spec.client);
    // An invalid policy matches nothing; the tenant reports it (InvalidUrlPolicy) and is not
    // Ready, which is what its clients then say (TenantNotReady), not InvalidSpec.
    if crate::authtenant::url_policy_problem(tenant).is_none() {
        errors.extend(validate::validate_url_policy(
            &spec.client,
            &tenant.spec.url_policy,
        ));
    }
    let mut errors: Vec<FieldError> = errors
        .into_iter()
        .map(|e| FieldError {
            path: format!("client.{}", e.path),
            message: e.message,
        })
        .collect();
    if let Some(settings) = &spec.settings {
        errors.extend(rules::validate_settings(settings));
    }
    errors.extend(rules::validate_grants(
        &spec.grants,
        &spec.client,
        spec.settings.as_ref(),
    ));
    errors.extend(rules::validate_connections(&spec.connections));
    errors.extend(rules::validate_secret_metadata(&spec.secret));
    errors.extend(super::keys::validate(spec));
    (!errors.is_empty()).then(|| {
        Failure::permanent(
            ReadyReason::InvalidSpec,
            validate::summarize_under("spec.", &errors),
        )
    })
}
