//! The answers: the 201/200 client body (its Secret and Auth0's view of the client) with its
//! headers, and the problem+json answers shared by the flows (see [`crate::problem`]).

// `Problem` (~200 bytes) is the error of every step; it is built at most once per request, so
// boxing it would only add noise.
#![allow(clippy::result_large_err)]

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use k8s_openapi::api::core::v1::Secret;
use kube::Api;

use crate::mapping::{self, ClientFacts, ClientResponse};
use crate::problem::Problem;
use crate::routes::AppState;
use auth0_mgmt::{Priority, TenantClient};
use nexus_crd::AuthClient;

/// The problem of `GET` for a client the caller may not see, and for one that does not exist:
/// one and the same answer, so that a 404 does not reveal whether the id exists.
pub fn client_not_found() -> Problem {
    Problem::new(
        StatusCode::NOT_FOUND,
        "client-not-found",
        "Client not found",
        "No client with this id was created through this API in this tenant.",
    )
}

pub(crate) fn conflict(detail: &str) -> Problem {
    Problem::new(StatusCode::CONFLICT, "conflict", "Conflict", detail)
}

pub(crate) fn read_later(reference: &serde_json::Value) -> Problem {
    Problem::unavailable(
        "The client exists but its details cannot be read right now; retry the same request to receive it.",
        2,
    )
    .with_extension("authClient", reference.clone())
}

/// The 201 body of a Ready AuthClient: its Secret (cross-checked against the client id) and
/// the client as Auth0 has it. Failures are logged here; the caller answers 503.
pub(crate) async fn client_body(
    state: &AppState,
    tenant_client: &TenantClient,
    namespace: &str,
    object: &AuthClient,
    client_id: &str,
) -> Result<ClientResponse, ()> {
    let secret_name = object
        .status
        .as_ref()
        .and_then(|s| s.secret_name.clone())
        .unwrap_or_else(|| object.secret_name());
    let secrets: Api<Secret> = Api::namespaced(state.kube.clone(), namespace);
    let secret = secrets.get_opt(&secret_name).await.map_err(|error| {
        tracing::warn!(%error, "cannot read the client's Secret");
    })?;
    let keys = &object.spec.secret.keys;
    let data = secret.and_then(|s| s.data).unwrap_or_default();
    let read = |key: &str| {
        data.get(key)
            .and_then(|v| String::from_utf8(v.0.clone()).ok())
    };
    if read(&keys.client_id).is_some_and(|id| id != client_id) {
        tracing::warn!(
            secret = %secret_name,
            "the Secret holds another client id; not answering with it"
        );
        return Err(());
    }
    let Some(client_secret) = read(&keys.client_secret) else {
        tracing::warn!(secret = %secret_name, "the Secret has no client secret yet");
        return Err(());
    };
    let auth0_client = tenant_client
        .get_client(client_id, Priority::Normal)
        .await
        .map_err(|error| {
            tracing::warn!(%error, "cannot read the client from Auth0");
        })?;
    Ok(mapping::to_response(
        &ClientFacts::from(&auth0_client),
        Some(client_secret),
    ))
}

pub(crate) fn client_answer(
    status: StatusCode,
    tenant: &str,
    client_id: &str,
    body: ClientResponse,
) -> Response {
    let location = format!(
        "/v1/tenants/{tenant}/clients/{}",
        url::form_urlencoded::byte_serialize(client_id.as_bytes()).collect::<String>()
    );
    let mut response = (status, axum::Json(body)).into_response();
    let headers = response.headers_mut();
    if let Ok(location) = HeaderValue::from_str(&location) {
        headers.insert(
            if status == StatusCode::CREATED {
                header::LOCATION
            } else {
                header::CONTENT_LOCATION
            },
            location,
        );
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}
