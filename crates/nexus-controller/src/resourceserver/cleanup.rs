//! The cleanup branch of an AuthResourceServer (deletion under the finalizer): delete the Auth0
//! API (`Delete`; Auth0 deletes its client grants with it) or leave it (`Orphan`), then let
//! the finalizer go.

use kube::ResourceExt;

use crate::context::Context;
use crate::marker;
use crate::pass::{self, Failure, Released};
use auth0_mgmt::Priority;
use nexus_crd::{AuthResourceServer, AuthResourceServerStatus, DeletionPolicy, ReadyReason};

/// Deletes or leaves the Auth0 API of `obj` (its status `stored`); nothing when it holds
/// none. The driver ends the cleanup ([`pass::finish_cleanup`]).
pub async fn cleanup(
    obj: &AuthResourceServer,
    ctx: &Context,
    stored: &AuthResourceServerStatus,
) -> Released {
    let tag = obj
        .uid()
        .map(|uid| marker::tag_key(&ctx.config.cluster_id, &uid))
        .unwrap_or_default();
    let attempted = marker::unsettled(obj, &tag, stored.last_creation_attempt.as_ref())
        || stored.pending_creation.is_some();
    if stored.resource_server_id.is_none() && !attempted {
        return Released::Nothing;
    }
    if obj.spec.deletion_policy == DeletionPolicy::Orphan {
        return Released::Done(format!(
            "left Auth0 API '{}' in place (deletionPolicy Orphan)",
            obj.spec.identifier
        ));
    }
    delete(obj, ctx, stored).await.into()
}

async fn delete(
    obj: &AuthResourceServer,
    ctx: &Context,
    status: &AuthResourceServerStatus,
) -> Result<String, Failure> {
    let tenant_name = &obj.spec.tenant;
    let Some(tenant) = ctx.caches.tenant(tenant_name) else {
        return Err(Failure::permanent(
            ReadyReason::TenantNotFound,
            format!("AuthTenant '{tenant_name}' does not exist"),
        ));
    };
    let auth0 = pass::cleanup_auth0(ctx, &tenant)?;
    let failure = |action: &str, e: &auth0_mgmt::Auth0Error| {
        pass::cleanup_failure(ctx, obj, tenant_name, action, e)
    };
    let id = match status.resource_server_id.clone() {
        Some(id) => id,
        // A create was interrupted: the API with this identifier is ours when its name is the
        // spec's, or it has none when the spec sets none (the same proof as a recovery).
        None => match auth0
            .get_resource_server(&obj.spec.identifier, Priority::Critical)
            .await
        {
            Ok(found)
                if !found.is_system
                    && found.name.as_deref().unwrap_or_default() == obj.spec.name.as_str() =>
            {
                found.id
            }
            Ok(_) => return Ok("no Auth0 API was created".into()),
            Err(e) if e.is_not_found() => return Ok("no Auth0 API was created".into()),
            Err(e) => {
                return Err(failure(
                    "looking for an API created by an interrupted attempt",
                    &e,
                ));
            }
        },
    };
    auth0
        .delete_resource_server(&id, Priority::Critical)
        .await
        .map_err(|e| failure("deleting the Auth0 API", &e))?;
    Ok(format!(
        "deleted Auth0 API {id} ({}) and, with it, its client grants",
        obj.spec.identifier
    ))
}
