//! The answers: the 201/200 client body (its Secret and Auth0's view of the client) with its
//! headers, and the problem+json answers shared by the flows (see [`crate::problem`]).

// `Problem` (~200 bytes) is the error of every step; it is built at most once per request, so
// boxing it would only add noise.
#![allow(clippy::result_large_err)]

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use serde::Serialize;

use crate::mapping::{self, ClientFacts, ClientResponse};
use crate::problem::{FieldErrors, Problem};
use crate::routes::AppState;
use auth0_mgmt::{Priority, TenantClient};
use nexus_crd::conditions::{self, READY};
use nexus_crd::{AuthClient, ReadyReason};

/// The `authClient` member of a problem: which AuthClient the request is about, and (in a 504)
/// its Ready condition so far.
#[derive(Clone, Debug, Serialize)]
pub struct AuthClientRef {
    /// Namespace of the AuthClient (the tenant's facadeNamespace).
    pub namespace: String,
    /// Name of the AuthClient.
    pub name: String,
    /// Reason and message of its Ready condition, when the answer is a timeout.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ready: Option<ReadySoFar>,
}

/// Reason and message of a Ready condition, as shown in a 504.
#[derive(Clone, Debug, Serialize)]
pub struct ReadySoFar {
    /// Condition reason.
    pub reason: String,
    /// Condition message.
    pub message: String,
}

impl AuthClientRef {
    /// The AuthClient `namespace/name`.
    pub fn new(namespace: &str, name: &str) -> Self {
        Self {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            ready: None,
        }
    }

    fn attach(&self, problem: Problem) -> Problem {
        problem.with_extension("authClient", serde_json::to_value(self).unwrap_or_default())
    }
}

/// 400: the operator refused the client for a reason the caller can fix (`errors` carries the
/// condition message: Auth0's own for `Auth0Rejected`).
pub(crate) fn rejected(reason: ReadyReason, message: &str, reference: &AuthClientRef) -> Problem {
    let mut p = Problem::new(
        StatusCode::BAD_REQUEST,
        "rejected",
        "The client was rejected",
        format!("{}: {message}", reason.as_str()),
    );
    p.errors = Some(FieldErrors::from([(
        "$".to_owned(),
        vec![message.to_owned()],
    )]));
    reference.attach(p)
}

/// 500: the operator cannot create the client for a reason only an administrator can fix.
pub(crate) fn operator_failed(
    reason: ReadyReason,
    message: &str,
    reference: &AuthClientRef,
) -> Problem {
    reference.attach(Problem::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "operator-failed",
        "The operator cannot create this client",
        format!("{}: {message}", reason.as_str()),
    ))
}

/// 504: the operator has not decided within the ready timeout; the answer names the
/// AuthClient, its Ready condition so far (from `last`), and how to get the client (retry).
pub(crate) fn in_progress(last: Option<&AuthClient>, reference: &AuthClientRef) -> Problem {
    let mut reference = reference.clone();
    reference.ready = last
        .and_then(|o| o.status.as_ref())
        .and_then(|s| conditions::find(&s.conditions, READY))
        .map(|c| ReadySoFar {
            reason: c.reason.clone(),
            message: c.message.clone(),
        });
    let AuthClientRef {
        namespace, name, ..
    } = &reference;
    reference.attach(
        Problem::new(
            StatusCode::GATEWAY_TIMEOUT,
            "creation-in-progress",
            "The client is still being created",
            format!(
                "The operator has not finished creating the client yet. It is AuthClient {namespace}/{name} \
                 (kubectl -n {namespace} get authclient {name}). Retry the same request (same Idempotency-Key, \
                 or the same client name) to receive it; no duplicate will be created."
            ),
        )
        .with_header(header::RETRY_AFTER, "5"),
    )
}

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

/// 409 with `detail`.
pub(crate) fn conflict(detail: &str) -> Problem {
    Problem::new(StatusCode::CONFLICT, "conflict", "Conflict", detail)
}

/// 503: the client exists (or is Ready) but its details cannot be read now.
pub(crate) fn read_later(reference: &AuthClientRef) -> Problem {
    reference.attach(Problem::unavailable(
        "The client exists but its details cannot be read right now; retry the same request to receive it.",
        2,
    ))
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
