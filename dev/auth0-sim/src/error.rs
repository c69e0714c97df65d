//! Errors of the simulator itself ([`SimError`]) and the Auth0-shaped error answers it serves
//! ([`ApiError`], [`OAuthError`]).

use std::net::SocketAddr;

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// Why the simulator could not start or stopped abnormally.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address that was requested.
        addr: SocketAddr,
        /// The underlying socket error.
        #[source]
        source: std::io::Error,
    },
    /// The configuration is inconsistent (for example a fault share outside `0.0..=1.0`).
    #[error("invalid simulator configuration: {0}")]
    Config(String),
    /// RSA key generation for the JWKS failed.
    #[error("cannot generate the simulator's RSA signing key: {0}")]
    KeyGeneration(String),
    /// The HTTP server failed while serving.
    #[error("simulator server failed: {0}")]
    Serve(#[source] std::io::Error),
    /// Installing the Ctrl-C / SIGTERM handler failed.
    #[error("cannot install the shutdown signal handler: {0}")]
    Signal(#[source] std::io::Error),
    /// The server task ended unexpectedly (panicked or was cancelled).
    #[error("simulator server task ended unexpectedly: {0}")]
    Task(String),
}

/// A Management API error answer: `{"statusCode", "error", "message", "errorCode"}`.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Human readable message, as Auth0 words it.
    pub message: String,
    /// Auth0's machine readable `errorCode`; Auth0 leaves it out on some answers.
    pub error_code: Option<&'static str>,
    /// Optional `attributes` object (Auth0 adds one to some 401 answers).
    pub attributes: Option<Value>,
}

impl ApiError {
    /// A new error with a status, message and `errorCode`.
    pub fn new(status: StatusCode, message: impl Into<String>, error_code: &'static str) -> Self {
        Self {
            status,
            message: message.into(),
            error_code: Some(error_code),
            attributes: None,
        }
    }

    /// 400 `invalid_body` with Auth0's "Payload validation error" wording.
    pub fn invalid_body(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message, "invalid_body")
    }

    /// 400 `invalid_query_string` with Auth0's "Query validation error" wording.
    pub fn invalid_query(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message, "invalid_query_string")
    }

    /// 404 `inexistent_client`, byte for byte Auth0's body.
    pub fn inexistent_client() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "The client does not exist",
            "inexistent_client",
        )
    }

    /// 404 `inexistent_resource_server`.
    pub fn inexistent_resource_server() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "The resource server does not exist",
            "inexistent_resource_server",
        )
    }

    /// 404 `inexistent_connection`.
    pub fn inexistent_connection() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "The connection does not exist",
            "inexistent_connection",
        )
    }

    /// 403 `insufficient_scope` naming the scopes that would have been accepted.
    pub fn insufficient_scope(expected: &[&str]) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            format!(
                "Insufficient scope, expected any of: {}",
                expected.join(",")
            ),
            "insufficient_scope",
        )
    }

    /// 401 without `errorCode`, with Auth0's `attributes.error` mirror of the message.
    pub fn unauthorized(message: &str) -> Self {
        Self {
            status: StatusCode::UNAUTHORIZED,
            message: message.to_owned(),
            error_code: None,
            attributes: Some(json!({ "error": message })),
        }
    }

    /// 429 with Auth0's exact body.
    pub fn too_many_requests() -> Self {
        Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "Global limit has been reached",
            "too_many_requests",
        )
    }

    /// The JSON body Auth0 would send.
    pub fn body(&self) -> Value {
        let mut body = json!({
            "statusCode": self.status.as_u16(),
            "error": self.status.canonical_reason().unwrap_or("Error"),
            "message": self.message,
        });
        if let Some(code) = self.error_code {
            body["errorCode"] = Value::from(code);
        }
        if let Some(attributes) = &self.attributes {
            body["attributes"] = attributes.clone();
        }
        body
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(self.body())).into_response()
    }
}

/// An OAuth error of the Authentication API (`/oauth/token`): `{"error", "error_description"}`.
#[derive(Debug, Clone, PartialEq)]
pub struct OAuthError {
    /// HTTP status.
    pub status: StatusCode,
    /// OAuth error code, e.g. `access_denied`.
    pub error: &'static str,
    /// Human readable description.
    pub description: String,
}

impl OAuthError {
    /// A new OAuth error.
    pub fn new(status: StatusCode, error: &'static str, description: impl Into<String>) -> Self {
        Self {
            status,
            error,
            description: description.into(),
        }
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(json!({ "error": self.error, "error_description": self.description })),
        )
            .into_response()
    }
}
