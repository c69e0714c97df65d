//! The two client flows, step by step: `POST` ([`create`]: authenticate, authorize, validate,
//! check the tenant, claim the AuthClient, wait for Ready, answer) and `GET` ([`fetch`]: the
//! client a caller created, found by its client-id label).

// `Problem` (~200 bytes) is the error of every step; it is built at most once per request, so
// boxing it would only add noise.
#![allow(clippy::result_large_err)]

use std::net::IpAddr;

use axum::body::Body;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use kube::api::ListParams;
use kube::{Api, ResourceExt};

use crate::body::{check_content_type, read_body};
use crate::caller::{authenticate, authorize, may_read};
use crate::claim::{
    CALLER_ANNOTATION, CLIENT_ID_LABEL, CREATED_BY_LABEL, client_id_label, ensure_auth_client,
    label_client_id,
};
use crate::idempotency::{Identity, idempotency_key};
use crate::metrics::Decision;
use crate::names::{is_object_name, shorten};
use crate::problem::Problem;
use crate::responses::{
    AuthClientRef, client_answer, client_body, client_not_found, conflict, in_progress,
    operator_failed, read_later, rejected,
};
use crate::routes::{AppState, RequestId};
use crate::tenant::{facade_namespace, load_tenant, usable_tenant};
use crate::validate;
use crate::wait::{WaitState, wait_ready};
use nexus_crd::AuthClient;
use nexus_crd::conditions::{self, ConditionStatus, READY};
use nexus_crd::validation as rules;

pub(crate) async fn create(
    state: &AppState,
    id: &RequestId,
    peer: Option<IpAddr>,
    tenant: &str,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, Problem> {
    // 1. Who is calling? (No Kubernetes write, no body read before this succeeds.)
    let principal = authenticate(state, id, peer, headers).await?;
    // 2. May they act on this tenant?
    authorize(state, id, &principal, tenant).map_err(|f| Problem::forbidden(f.detail()))?;
    if !is_object_name(tenant) {
        return Err(Problem::tenant_not_found(format!(
            "No tenant named '{}'.",
            shorten(tenant)
        )));
    }
    // 3. Is the request valid? (The contract and Auth0's rules: the shared validation.)
    check_content_type(headers)?;
    let bytes = read_body(body, state.config.max_body_bytes, state.config.body_timeout).await?;
    let client = validate::parse_request(&bytes).map_err(Problem::invalid_request)?;
    let key = idempotency_key(headers)?;
    // 4. Does the tenant exist, is it served here, does the body pass its URL policy, and can
    //    it be used at all? Everything that can be refused is refused before an object exists.
    let tenant_obj = load_tenant(state, tenant).await?;
    let namespace = facade_namespace(state, &tenant_obj, tenant)?;
    let policy = rules::validate_url_policy(&client, &tenant_obj.spec.url_policy);
    if !policy.is_empty() {
        return Err(Problem::invalid_request(validate::field_errors(policy)));
    }
    let tenant_client = usable_tenant(state, &tenant_obj, &namespace).await?;
    // 5. Create (or find) the AuthClient and wait for the operator.
    let identity = Identity::new(tenant, &principal, key.as_deref(), &client);
    let api: Api<AuthClient> = Api::namespaced(state.kube.clone(), &namespace);
    ensure_auth_client(
        &api,
        &identity,
        &tenant_obj,
        &namespace,
        &principal,
        &client,
        id,
    )
    .await?;
    let (outcome, last) =
        wait_ready(state, &api, &identity.object_name, &identity.request_hash).await;
    let reference = AuthClientRef::new(&namespace, &identity.object_name);
    let authclient = &identity.object_name;
    match outcome {
        WaitState::Ready { client_id, .. } => {
            let object = last.ok_or_else(|| read_later(&reference))?;
            // The label GET finds the client by: without it the Location would not lead to it.
            label_client_id(&api, &object, &client_id)
                .await
                .map_err(|error| {
                    tracing::warn!(%error, "cannot label the AuthClient with its client id");
                    read_later(&reference)
                })?;
            let body = client_body(state, &tenant_client, &namespace, &object, &client_id)
                .await
                .map_err(|_| read_later(&reference))?;
            tracing::info!(
                request_id = %id.0, tenant, caller = %principal.id, %authclient,
                client_id = %client_id, "client ready"
            );
            Ok(client_answer(StatusCode::CREATED, tenant, &client_id, body))
        }
        WaitState::Rejected { reason, message } => {
            tracing::info!(request_id = %id.0, tenant, %authclient, reason = %reason.as_str(), "operator rejected the client");
            Err(rejected(reason, &message, &reference))
        }
        WaitState::TenantGone => Err(Problem::tenant_not_found(format!(
            "No tenant named '{tenant}'."
        ))),
        WaitState::Failed { reason, message } => {
            tracing::warn!(request_id = %id.0, tenant, %authclient, reason = %reason.as_str(), %message, "operator cannot create the client");
            Err(operator_failed(reason, &message, &reference))
        }
        WaitState::Superseded => Err(conflict(
            "Another request with the same idempotency basis but a different body replaced this one; retry to get the current client.",
        )),
        WaitState::Gone => Err(conflict(
            "The AuthClient was deleted while waiting for it; retry the request.",
        )),
        WaitState::WatchFailed => Err(Problem::unavailable(
            "Cannot watch the AuthClient right now; retry the same request (no duplicate will be created).",
            2,
        )),
        WaitState::Pending => {
            tracing::info!(request_id = %id.0, tenant, %authclient, "timed out waiting for Ready");
            Err(in_progress(last.as_ref(), &reference))
        }
    }
}

/// `GET`: the 200 body of a client the facade created in this tenant, to the caller recorded at
/// its creation or a `client.write.all` caller; 404 (the same body as a missing client) to
/// everyone else. The object is found by its client-id label, never by listing the namespace.
pub(crate) async fn fetch(
    state: &AppState,
    id: &RequestId,
    peer: Option<IpAddr>,
    tenant: &str,
    client_id: &str,
    headers: &HeaderMap,
) -> Result<Response, Problem> {
    let principal = authenticate(state, id, peer, headers).await?;
    authorize(state, id, &principal, tenant).map_err(|_| client_not_found())?;
    if !is_object_name(tenant)
        || client_id.is_empty()
        || client_id.len() > rules::MAX_ID
        || !client_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(client_not_found());
    }
    let tenant_obj = load_tenant(state, tenant).await?;
    let namespace = facade_namespace(state, &tenant_obj, tenant)?;
    let api: Api<AuthClient> = Api::namespaced(state.kube.clone(), &namespace);
    let selector = format!(
        "{CREATED_BY_LABEL}=facade,{CLIENT_ID_LABEL}={}",
        client_id_label(client_id)
    );
    let objects = api
        .list(&ListParams::default().labels(&selector))
        .await
        .map_err(|error| {
            tracing::warn!(%error, "cannot look up the AuthClient");
            Problem::unavailable("The Kubernetes API is unavailable; retry later.", 2)
        })?;
    let object = objects
        .items
        .into_iter()
        .find(|o| {
            o.spec.tenant == tenant
                && o.status.as_ref().and_then(|s| s.client_id.as_deref()) == Some(client_id)
                && o.status
                    .as_ref()
                    .and_then(|s| conditions::find(&s.conditions, READY))
                    .is_some_and(|c| c.status == ConditionStatus::True.as_str())
        })
        .ok_or_else(client_not_found)?;
    if !may_read(
        &principal,
        object
            .annotations()
            .get(CALLER_ANNOTATION)
            .map(String::as_str),
    ) {
        // Not counted in a metric: the metrics port would then tell a caller who can scrape it
        // whether another caller's client id exists. The log (operators only) keeps the decision.
        tracing::info!(request_id = %id.0, decision = Decision::Forbidden.as_str(), reason = "not_the_creator", caller = %principal.id, "auth decision");
        return Err(client_not_found());
    }
    let tenant_client = usable_tenant(state, &tenant_obj, &namespace).await?;
    let reference = AuthClientRef::new(&namespace, &object.name_any());
    let body = client_body(state, &tenant_client, &namespace, &object, client_id)
        .await
        .map_err(|_| read_later(&reference))?;
    Ok(client_answer(StatusCode::OK, tenant, client_id, body))
}
