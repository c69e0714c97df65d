//! Typed errors of the Auth0 Management API client.
//!
//! No variant ever carries the M2M client secret, an access token, an `Authorization` header or a
//! client object's `client_secret`: Auth0 messages are scrubbed of the tenant's known secrets before
//! they are stored, and transport errors are stripped of their URL.

use std::time::Duration;

/// Everything that can go wrong while talking to one Auth0 tenant.
#[derive(Debug, thiserror::Error)]
pub enum Auth0Error {
    /// The Management API answered with an error body
    /// (`{"statusCode","error","message","errorCode"}`).
    #[error("Auth0 answered {status} {}: {message}", error_code.as_deref().unwrap_or(error.as_str()))]
    Api {
        /// HTTP status code.
        status: u16,
        /// `error` field of the body (the HTTP reason phrase, e.g. `Bad Request`).
        error: String,
        /// `errorCode` field of the body (e.g. `invalid_body`, `inexistent_client`), when present.
        error_code: Option<String>,
        /// `message` field of the body.
        message: String,
    },

    /// The tenant's rate limit did not let the call through within its wait budget. Nothing was
    /// executed; retry after `retry_after`.
    #[error("Auth0 rate limit reached; retry in {:.3}s", retry_after.as_secs_f64())]
    RateLimited {
        /// How long to wait before trying again.
        retry_after: Duration,
    },

    /// The token endpoint (`/oauth/token`) refused to issue a token (OAuth error body).
    #[error("Auth0 token endpoint answered {}{error}: {description}", status.map(|s| format!("{s} ")).unwrap_or_default())]
    Token {
        /// HTTP status code; `None` when the failure is replayed from a recent unreachable endpoint.
        status: Option<u16>,
        /// OAuth `error` (e.g. `access_denied`, `unauthorized_client`, `too_many_requests`).
        error: String,
        /// OAuth `error_description`.
        description: String,
    },

    /// Connection error, timeout, or another failure below HTTP. The URL is stripped.
    #[error("could not reach Auth0 ({}): {source}", transport_kind(source))]
    Transport {
        /// The underlying reqwest error (without URL).
        #[source]
        source: reqwest::Error,
    },

    /// A successful answer could not be decoded into the expected type.
    #[error("could not decode Auth0 {what}: {source}")]
    Decode {
        /// What was being decoded (e.g. `client`, `client list`, `token response`).
        what: &'static str,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },

    /// The request or the client configuration is unusable (bad base URL, body not serialisable...).
    #[error("invalid Auth0 client configuration: {message}")]
    Config {
        /// What is wrong.
        message: String,
    },
}

fn transport_kind(e: &reqwest::Error) -> &'static str {
    if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connect"
    } else if e.is_body() || e.is_decode() {
        "body"
    } else {
        "request"
    }
}

impl Auth0Error {
    /// Wraps a reqwest error, dropping its URL.
    pub(crate) fn transport(e: reqwest::Error) -> Self {
        Auth0Error::Transport {
            source: e.without_url(),
        }
    }

    /// True when retrying the same request later may succeed: 429, 5xx, timeouts, connection
    /// errors, and token-endpoint throttling/outages. A 401 that survived one token refresh, other
    /// 4xx, decode and configuration errors are permanent.
    pub fn is_transient(&self) -> bool {
        match self {
            Auth0Error::Api { status, .. } => *status == 429 || *status >= 500,
            Auth0Error::RateLimited { .. } => true,
            Auth0Error::Token { status, .. } => match status {
                None => true,
                Some(s) => *s == 429 || *s >= 500,
            },
            Auth0Error::Transport { .. } => true,
            Auth0Error::Decode { .. } | Auth0Error::Config { .. } => false,
        }
    }

    /// True for a Management API 404 (e.g. `inexistent_client`).
    pub fn is_not_found(&self) -> bool {
        matches!(self, Auth0Error::Api { status: 404, .. })
    }

    /// True for a Management API 409: the resource exists already (a resource server with that
    /// identifier, a grant for that client and audience, ...).
    pub fn is_conflict(&self) -> bool {
        matches!(self, Auth0Error::Api { status: 409, .. })
    }

    /// How long to wait before retrying, when Auth0 said so (`RateLimited`).
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Auth0Error::RateLimited { retry_after } => Some(*retry_after),
            _ => None,
        }
    }

    /// The Management API `errorCode` (or, for token errors, the OAuth `error`).
    pub fn error_code(&self) -> Option<&str> {
        match self {
            Auth0Error::Api { error_code, .. } => error_code.as_deref(),
            Auth0Error::Token { error, .. } => Some(error.as_str()),
            Auth0Error::RateLimited { .. } => Some("too_many_requests"),
            _ => None,
        }
    }

    /// The HTTP status Auth0 answered with, when there was one (429 for `RateLimited`).
    pub fn status(&self) -> Option<u16> {
        match self {
            Auth0Error::Api { status, .. } => Some(*status),
            Auth0Error::Token { status, .. } => *status,
            Auth0Error::RateLimited { .. } => Some(429),
            Auth0Error::Transport { source } => source.status().map(|s| s.as_u16()),
            _ => None,
        }
    }
}
