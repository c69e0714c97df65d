//! The cleanup branch of an AuthResourceServer (deletion under the finalizer): delete the Auth0
//! API (`Delete`; Auth0 deletes its client grants with it) or leave it (`Orphan`), then let
//! the finalizer go.

use crate::context::Context;
use crate::pass::{Cleanup, Failure};
use auth0_mgmt::Priority;
use nexus_crd::{AuthResourceServer, AuthResourceServerStatus, DeletionPolicy};

/// Deletes or leaves the Auth0 API of `obj` (its status `status`), which it holds or may hold
/// ([`crate::marker::holds`]): what was done, or the failure that stops the cleanup. The driver
/// ends the cleanup ([`crate::pass::finish_cleanup`]).
pub async fn cleanup(
    obj: &AuthResourceServer,
    ctx: &Context,
    status: &AuthResourceServerStatus,
) -> Result<String, Failure> {
    if obj.spec.deletion_policy == DeletionPolicy::Orphan {
        return Ok(format!(
            "left Auth0 API '{}' in place (deletionPolicy Orphan)",
            obj.spec.identifier
        ));
    }
    let cleanup = Cleanup::start(ctx, obj)?;
    let auth0 = &cleanup.auth0;
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
                return Err(
                    cleanup.failure("looking for an API created by an interrupted attempt", &e)
                );
            }
        },
    };
    auth0
        .delete_resource_server(&id, Priority::Critical)
        .await
        .map_err(|e| cleanup.failure("deleting the Auth0 API", &e))?;
    Ok(format!(
        "deleted Auth0 API {id} ({}) and, with it, its client grants",
        obj.spec.identifier
    ))
}
