//! The cleanup branch of an AuthClient (deletion under the finalizer): delete the Auth0 client
//! (`Delete`) or release its ownership tag (`Orphan`), then let the finalizer go.

use super::input;
use crate::authclient::desired::ClientPatch;
use crate::context::Context;
use crate::ownership::OwnershipTag;
use crate::pass::{self, Failure, Released};
use auth0_mgmt::Priority;
use nexus_crd::{AuthClient, AuthClientStatus, DeletionPolicy, ReadyReason};

/// Deletes or releases the Auth0 client of `obj` (its status `stored`); nothing when it
/// holds none. The driver ends the cleanup ([`pass::finish_cleanup`]).
pub async fn cleanup(obj: &AuthClient, ctx: &Context, stored: &AuthClientStatus) -> Released {
    let pending = OwnershipTag::for_client(obj, &ctx.config.cluster_id)
        .is_some_and(|tag| input::pending(obj, stored, &tag));
    if stored.client_id.is_none() && !pending {
        return Released::Nothing;
    }
    release(obj, ctx, stored).await.into()
}

async fn release(
    obj: &AuthClient,
    ctx: &Context,
    status: &AuthClientStatus,
) -> Result<String, Failure> {
    let policy = obj.spec.deletion_policy;
    let tenant_name = &obj.spec.tenant;
    let Some(tenant) = ctx.caches.tenant(tenant_name) else {
        if policy == DeletionPolicy::Orphan {
            return Ok(format!(
                "AuthTenant '{tenant_name}' is gone; left the Auth0 client as it is"
            ));
        }
        return Err(Failure::permanent(
            ReadyReason::TenantNotFound,
            format!("AuthTenant '{tenant_name}' does not exist"),
        ));
    };
    let auth0 = pass::cleanup_auth0(ctx, &tenant)?;
    let failure = |action: &str, e: &auth0_mgmt::Auth0Error| {
        pass::cleanup_failure(ctx, obj, tenant_name, action, e)
    };
    let tag = OwnershipTag::for_client(obj, &ctx.config.cluster_id)
        .ok_or_else(|| Failure::permanent(ReadyReason::Deleting, "the AuthClient has no uid"))?;
    let id = match status.client_id.clone() {
        Some(id) => Some(id),
        None => auth0
            .find_client(&["client_id", "client_metadata"], Priority::Critical, |c| {
                tag.matches(c)
            })
            .await
            .map_err(|e| failure("looking for a client created by an interrupted attempt", &e))?
            .map(|c| c.client_id),
    };
    let Some(id) = id else {
        return Ok("no Auth0 client was created".into());
    };
    match policy {
        DeletionPolicy::Delete => {
            auth0
                .delete_client(&id, Priority::Critical)
                .await
                .map_err(|e| failure("deleting the Auth0 client", &e))?;
            Ok(format!("deleted Auth0 client {id}"))
        }
        DeletionPolicy::Orphan => match auth0
            .patch_client(&id, &ClientPatch::untag(), Priority::Critical)
            .await
        {
            Ok(_) => Ok(format!(
                "left Auth0 client {id} in place (deletionPolicy Orphan) and removed its ownership tag"
            )),
            Err(e) if e.is_not_found() => Ok(format!("Auth0 client {id} was already gone")),
            Err(e) => Err(failure("releasing the Auth0 client", &e)),
        },
    }
}
