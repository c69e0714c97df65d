//! The cleanup branch of an AuthClient (deletion under the finalizer): delete the Auth0 client
//! (`Delete`) or release its ownership tag (`Orphan`), then let the finalizer go.

use crate::authclient::desired::ClientPatch;
use crate::context::Context;
use crate::ownership::OwnershipTag;
use crate::pass::{Cleanup, Failure};
use auth0_mgmt::Priority;
use nexus_crd::{AuthClient, AuthClientStatus, DeletionPolicy, ReadyReason};

/// Deletes or releases the Auth0 client of `obj` (its status `status`), which it holds or may
/// hold ([`crate::marker::holds`]): what was done, or the failure that stops the cleanup. The
/// driver ends the cleanup ([`crate::pass::finish_cleanup`]).
pub async fn cleanup(
    obj: &AuthClient,
    ctx: &Context,
    status: &AuthClientStatus,
) -> Result<String, Failure> {
    let policy = obj.spec.deletion_policy;
    let cleanup = match Cleanup::start(ctx, obj) {
        // Nothing can be released in a tenant that is gone.
        Err(failure)
            if failure.reason == ReadyReason::TenantNotFound
                && policy == DeletionPolicy::Orphan =>
        {
            return Ok(format!(
                "AuthTenant '{}' is gone; left the Auth0 client as it is",
                obj.spec.tenant
            ));
        }
        started => started?,
    };
    let auth0 = &cleanup.auth0;
    let tag = OwnershipTag::for_client(obj, &ctx.config.cluster_id)
        .ok_or_else(|| Failure::permanent(ReadyReason::Deleting, "the AuthClient has no uid"))?;
    let id = match status.client_id.clone() {
        Some(id) => Some(id),
        None => auth0
            .find_client(&["client_id", "client_metadata"], Priority::Critical, |c| {
                tag.matches(c)
            })
            .await
            .map_err(|e| {
                cleanup.failure("looking for a client created by an interrupted attempt", &e)
            })?
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
                .map_err(|e| cleanup.failure("deleting the Auth0 client", &e))?;
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
            Err(e) => Err(cleanup.failure("releasing the Auth0 client", &e)),
        },
    }
}
