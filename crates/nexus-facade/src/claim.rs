//! The create/claim logic: the AuthClient of a request is created under its name only if no
//! object has it (the API server's create is atomic), so exactly one caller claims a name; a
//! retry, a correction of a refused attempt, or a 409 / 422 otherwise. Also the client-id label
//! the `GET` finds a Ready client by.

// `Problem` (~200 bytes) is the error of every step; it is built at most once per request, so
// boxing it would only add noise.
#![allow(clippy::result_large_err)]

use std::collections::BTreeMap;

use axum::http::StatusCode;
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, ResourceExt};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::auth::Principal;
use crate::idempotency::{IDEMPOTENCY_ANNOTATION, Identity, REQUEST_HASH_ANNOTATION};
use crate::names::{hex, is_label_value};
use crate::problem::Problem;
use crate::responses::conflict;
use crate::routes::RequestId;
use nexus_crd::conditions::{self, ConditionStatus, READY};
use nexus_crd::validation::{self as rules, shown};
use nexus_crd::{AuthClient, AuthClientSpec, AuthTenant, NexusClient, ReadyReason};

/// Field manager of the facade's writes (distinct from the controller's).
pub const FACADE_FIELD_MANAGER: &str = "nexus-facade";
/// Label marking AuthClients created by the facade.
pub const CREATED_BY_LABEL: &str = "auth.nexus.dev/created-by";
/// Label with the tenant of a facade-created AuthClient.
pub const TENANT_LABEL: &str = "auth.nexus.dev/tenant";
/// Label with the Auth0 client id of a Ready facade-created AuthClient (see
/// [`client_id_label`]): `GET /v1/tenants/{t}/clients/{id}` finds the object by it.
pub const CLIENT_ID_LABEL: &str = "auth.nexus.dev/client-id";
/// Annotation: caller that created the object (`jwt:<sub>` / `basic:<user>`), written once, at
/// creation.
pub const CALLER_ANNOTATION: &str = "auth.nexus.dev/facade-caller";

/// Value of [`CLIENT_ID_LABEL`] for `client_id`: the id itself when it is a valid label value
/// (Auth0's ids are), else `h-` and 40 hex digits of its SHA-256.
pub fn client_id_label(client_id: &str) -> String {
    if is_label_value(client_id) {
        client_id.to_owned()
    } else {
        format!("h-{}", &hex(&Sha256::digest(client_id.as_bytes()))[..40])
    }
}

/// Puts [`CLIENT_ID_LABEL`] on a Ready AuthClient (once), so that `GET` finds it by label.
pub(crate) async fn label_client_id(
    api: &Api<AuthClient>,
    object: &AuthClient,
    client_id: &str,
) -> Result<(), kube::Error> {
    let value = client_id_label(client_id);
    if object.labels().get(CLIENT_ID_LABEL) == Some(&value) {
        return Ok(());
    }
    let patch = json!({"metadata": {"labels": {CLIENT_ID_LABEL: value}}});
    let params = PatchParams {
        field_manager: Some(FACADE_FIELD_MANAGER.to_owned()),
        ..PatchParams::default()
    };
    api.patch(&object.name_any(), &params, &Patch::Merge(&patch))
        .await
        .map(|_| ())
}

/// The spec of a facade-created AuthClient: the tenant and the client of the request, every
/// policy at its default, no settings, grants or connections.
pub fn facade_spec(tenant: &str, client: NexusClient) -> AuthClientSpec {
    AuthClientSpec::new(tenant, client)
}

/// The AuthClient of this request, created with the name only if no object has it: the API
/// server's create is atomic, so of two callers racing for one name exactly one creates it
/// and is recorded as its caller; the other gets 409 and never the secret.
pub(crate) async fn ensure_auth_client(
    api: &Api<AuthClient>,
    identity: &Identity,
    tenant: &AuthTenant,
    namespace: &str,
    principal: &Principal,
    client: &NexusClient,
    id: &RequestId,
) -> Result<(), Problem> {
    let mut object = AuthClient::new(
        &identity.object_name,
        facade_spec(&identity.tenant, client.clone()),
    );
    let mut labels = BTreeMap::from([(CREATED_BY_LABEL.to_owned(), "facade".to_owned())]);
    if is_label_value(&identity.tenant) {
        labels.insert(TENANT_LABEL.into(), identity.tenant.clone());
    }
    object.metadata.namespace = Some(namespace.to_owned());
    object.metadata.labels = Some(labels);
    object.metadata.annotations = Some(BTreeMap::from([
        (IDEMPOTENCY_ANNOTATION.to_owned(), identity.basis.clone()),
        (
            REQUEST_HASH_ANNOTATION.to_owned(),
            identity.request_hash.clone(),
        ),
        (CALLER_ANNOTATION.to_owned(), principal.id.clone()),
    ]));
    let params = PostParams {
        field_manager: Some(FACADE_FIELD_MANAGER.to_owned()),
        ..PostParams::default()
    };
    match api.create(&params, &object).await {
        Ok(_) => {
            tracing::info!(request_id = %id.0, authclient = %identity.object_name, namespace, "created AuthClient");
            Ok(())
        }
        Err(kube::Error::Api(status)) if status.code == 409 => {
            existing_auth_client(api, identity, namespace, principal, client, id).await
        }
        Err(error) => Err(kube_write_problem(&error, tenant, namespace)),
    }
}

/// The object of this request's name exists: it is this caller's earlier attempt (a retry),
/// a refused attempt this request corrects, or someone else's (409 / 422).
async fn existing_auth_client(
    api: &Api<AuthClient>,
    identity: &Identity,
    namespace: &str,
    principal: &Principal,
    client: &NexusClient,
    id: &RequestId,
) -> Result<(), Problem> {
    let existing = api
        .get_opt(&identity.object_name)
        .await
        .map_err(|error| {
            tracing::warn!(%error, "cannot read AuthClient");
            Problem::unavailable("The Kubernetes API is unavailable; retry later.", 2)
        })?
        .ok_or_else(|| {
            conflict("A client for this request was deleted at this moment; retry the request.")
        })?;
    let annotations = existing.annotations();
    if annotations.get(IDEMPOTENCY_ANNOTATION) != Some(&identity.basis)
        || existing.spec.tenant != identity.tenant
    {
        return Err(conflict(&format!(
            "AuthClient {namespace}/{} exists and was not created for this request.",
            identity.object_name
        )));
    }
    if existing.metadata.deletion_timestamp.is_some() {
        return Err(conflict(
            "A client for this request is being deleted; retry later.",
        ));
    }
    if annotations.get(CALLER_ANNOTATION) != Some(&principal.id) {
        return Err(conflict(&format!(
            "A client named '{}' already exists in this tenant (created by another caller).",
            shown(&client.name)
        )));
    }
    if annotations.get(REQUEST_HASH_ANNOTATION) == Some(&identity.request_hash) {
        tracing::info!(request_id = %id.0, authclient = %identity.object_name, "retry of an earlier request");
        return Ok(());
    }
    if !correctable(&existing) {
        return Err(if identity.keyed {
            Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency-key-reused",
                "Idempotency-Key reused with a different body",
                "This Idempotency-Key was already used for a different request body.",
            )
        } else {
            conflict(&format!(
                "A client named '{}' already exists in this tenant with different settings.",
                shown(&client.name)
            ))
        });
    }
    // The earlier attempt of this caller was refused (invalid spec / Auth0 rejection) and created
    // nothing: this request replaces its spec, guarded by the resourceVersion we saw (a
    // concurrent change makes the API answer 409).
    let Some(resource_version) = existing.metadata.resource_version.clone() else {
        return Err(conflict(
            "The existing AuthClient has no resourceVersion; retry.",
        ));
    };
    let patch: json_patch::Patch = serde_json::from_value(json!([
        {"op": "replace", "path": "/metadata/resourceVersion", "value": resource_version},
        {"op": "replace", "path": "/spec/client", "value": client},
        {"op": "replace", "path": format!("/metadata/annotations/{}", REQUEST_HASH_ANNOTATION.replace('/', "~1")), "value": identity.request_hash},
    ]))
    .map_err(|_| Problem::internal())?;
    let params = PatchParams {
        field_manager: Some(FACADE_FIELD_MANAGER.to_owned()),
        ..PatchParams::default()
    };
    match api
        .patch(&identity.object_name, &params, &Patch::<()>::Json(patch))
        .await
    {
        Ok(_) => {
            tracing::info!(request_id = %id.0, authclient = %identity.object_name, namespace, "replaced the refused AuthClient spec");
            Ok(())
        }
        Err(kube::Error::Api(status)) if status.code == 409 => Err(conflict(
            "A concurrent request changed this client; retry the request.",
        )),
        Err(error) => {
            tracing::warn!(%error, "cannot update AuthClient");
            Err(Problem::unavailable(
                "The Kubernetes API is unavailable; retry later.",
                2,
            ))
        }
    }
}

/// What a failed write of the AuthClient means for the caller.
fn kube_write_problem(error: &kube::Error, tenant: &AuthTenant, namespace: &str) -> Problem {
    let tenant_name = tenant.name_any();
    match error {
        // A create in a namespace that does not exist: the API names the namespace.
        kube::Error::Api(status) if status.code == 404 => {
            tracing::warn!(tenant = %tenant_name, namespace, "the facade namespace does not exist");
            Problem::misconfigured(
                "The tenant is misconfigured",
                format!(
                    "AuthTenant '{tenant_name}' names facadeNamespace '{namespace}', which does not exist; \
                     an administrator must create the namespace or correct the AuthTenant."
                ),
            )
        }
        kube::Error::Api(status) if status.code == 403 => {
            tracing::warn!(namespace, "the facade may not create AuthClients here");
            Problem::misconfigured(
                "The facade is misconfigured",
                format!(
                    "The facade is not allowed to create AuthClients in namespace '{namespace}' \
                     (facadeNamespace of AuthTenant '{tenant_name}'); an administrator must grant it."
                ),
            )
        }
        // The API server refuses the body itself: a permanent input error, not a retryable one.
        kube::Error::Api(status) if matches!(status.code, 400 | 422) => {
            tracing::info!(
                code = status.code,
                "the Kubernetes API refused the AuthClient"
            );
            let mut errors = BTreeMap::new();
            errors.insert("$".to_owned(), vec![shown_long(&status.message)]);
            let mut p = Problem::new(
                StatusCode::BAD_REQUEST,
                "invalid-request",
                "The request is invalid",
                "The Kubernetes API refused the client built from this body; see errors.",
            );
            p.errors = Some(errors);
            p
        }
        error => {
            tracing::warn!(%error, "cannot create AuthClient");
            Problem::unavailable("The Kubernetes API is unavailable; retry later.", 2)
        }
    }
}

/// A message of the API server, shown at most 512 characters long and without control
/// characters.
fn shown_long(message: &str) -> String {
    let mut out: String = message
        .chars()
        .take(512)
        .map(|c| if rules::is_forbidden_char(c) { ' ' } else { c })
        .collect();
    if message.chars().count() > 512 {
        out.push('…');
    }
    out
}

/// An earlier attempt that the operator refused without creating anything in Auth0.
pub(crate) fn correctable(existing: &AuthClient) -> bool {
    let status = existing.status.as_ref();
    let no_client = status.and_then(|s| s.client_id.as_ref()).is_none();
    let refused = status
        .and_then(|s| conditions::find(&s.conditions, READY))
        .is_some_and(|c| {
            c.status == ConditionStatus::False.as_str()
                && matches!(
                    ReadyReason::parse(&c.reason),
                    Some(ReadyReason::InvalidSpec | ReadyReason::Auth0Rejected)
                )
        });
    no_client && refused
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::object;

    #[test]
    fn only_a_refusal_that_created_nothing_is_correctable() {
        assert!(correctable(&object(
            "h",
            1,
            Some((ConditionStatus::False, ReadyReason::InvalidSpec, 1)),
            None
        )));
        assert!(!correctable(&object(
            "h",
            1,
            Some((ConditionStatus::False, ReadyReason::InvalidSpec, 1)),
            Some("id")
        )));
        assert!(!correctable(&object(
            "h",
            1,
            Some((ConditionStatus::True, ReadyReason::Synced, 1)),
            Some("id")
        )));
        assert!(correctable(&object(
            "h",
            1,
            Some((ConditionStatus::False, ReadyReason::Auth0Rejected, 1)),
            None
        )));
        assert!(
            !correctable(&object(
                "h",
                1,
                Some((ConditionStatus::False, ReadyReason::RateLimited, 1)),
                None
            )),
            "a transient failure is not corrected by another body"
        );
    }
}
