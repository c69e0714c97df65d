//! RFC 9457 problem documents (`application/problem+json`), the only error shape the facade
//! answers with.

use std::collections::BTreeMap;

use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Map, Value};

/// Media type of every error answer.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// Prefix of the `type` URIs of this facade's problems.
pub const TYPE_PREFIX: &str = "urn:nexus-operator:problem:";

/// Field path -> messages, as carried by the `errors` member of a 400 answer.
pub type FieldErrors = BTreeMap<String, Vec<String>>;

/// Most fields an `errors` member names; the others are counted in `errorsOmitted`.
pub const MAX_FIELD_ERRORS: usize = 50;
/// Most messages kept for one field.
pub const MAX_MESSAGES_PER_FIELD: usize = 5;

/// One problem document plus the extra headers that go with it.
#[derive(Clone, Debug, Serialize)]
pub struct Problem {
    /// URI identifying the problem type (`urn:nexus-operator:problem:<kind>`).
    #[serde(rename = "type")]
    pub type_: String,
    /// Short, stable summary of the problem type.
    pub title: String,
    /// HTTP status code.
    pub status: u16,
    /// Explanation specific to this occurrence. Never contains secrets.
    pub detail: String,
    /// Identifies this occurrence (the request id), for correlation with the logs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// Field path -> messages (400 answers for invalid input only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<FieldErrors>,
    /// Extension members (e.g. `authClient` of a timeout answer).
    #[serde(flatten)]
    pub extensions: Map<String, Value>,
    /// Extra response headers (`WWW-Authenticate`, `Retry-After`, ...).
    #[serde(skip)]
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

impl Problem {
    /// A problem of kind `kind` (the last part of its `type` URI).
    pub fn new(status: StatusCode, kind: &str, title: &str, detail: impl Into<String>) -> Self {
        Self {
            type_: format!("{TYPE_PREFIX}{kind}"),
            title: title.to_owned(),
            status: status.as_u16(),
            detail: detail.into(),
            instance: None,
            errors: None,
            extensions: Map::new(),
            headers: Vec::new(),
        }
    }

    /// 400 for a request that breaks the request schema; `errors` names each bad field (at
    /// most [`MAX_FIELD_ERRORS`] of them, in path order; `errorsOmitted` counts the rest).
    pub fn invalid_request(errors: FieldErrors) -> Self {
        let total = errors.len();
        let kept: FieldErrors = errors
            .into_iter()
            .take(MAX_FIELD_ERRORS)
            .map(|(path, mut messages)| {
                messages.truncate(MAX_MESSAGES_PER_FIELD);
                (path, messages)
            })
            .collect();
        let mut fields = kept.keys().take(10).cloned().collect::<Vec<_>>().join(", ");
        if total > 10 {
            fields.push_str(&format!(" and {} more", total - 10));
        }
        let mut p = Self::new(
            StatusCode::BAD_REQUEST,
            "invalid-request",
            "The request is invalid",
            format!("The request body breaks the contract; see errors ({fields})."),
        );
        p.errors = Some(kept);
        if total > MAX_FIELD_ERRORS {
            p = p.with_extension("errorsOmitted", Value::from(total - MAX_FIELD_ERRORS));
        }
        p
    }

    /// 408 when the body did not arrive in time; the connection is closed.
    pub fn request_timeout(seconds: u64) -> Self {
        Self::new(
            StatusCode::REQUEST_TIMEOUT,
            "request-timeout",
            "Request timeout",
            format!("The request body did not arrive within {seconds} s; send it again."),
        )
        .with_header(header::CONNECTION, "close")
    }

    /// 500 for a configuration problem of the facade or the tenant that only an administrator
    /// can fix; answered at once, and retrying will not help until it is fixed.
    pub fn misconfigured(title: &str, detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "misconfigured",
            title,
            detail,
        )
    }

    /// 400 with a single field error.
    pub fn invalid_field(path: &str, message: impl Into<String>) -> Self {
        let mut errors = FieldErrors::new();
        errors.insert(path.to_owned(), vec![message.into()]);
        Self::invalid_request(errors)
    }

    /// 401 with the challenges of both accepted schemes.
    pub fn unauthorized(detail: impl Into<String>, bearer_error: Option<&str>) -> Self {
        let mut p = Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Authentication required",
            detail,
        );
        let bearer = match bearer_error {
            Some(code) => format!("Bearer realm=\"nexus\", error=\"{code}\""),
            None => "Bearer realm=\"nexus\"".to_owned(),
        };
        for challenge in [bearer.as_str(), "Basic realm=\"nexus\", charset=\"UTF-8\""] {
            if let Ok(value) = HeaderValue::from_str(challenge) {
                p.headers.push((header::WWW_AUTHENTICATE, value));
            }
        }
        p
    }

    /// 403: authenticated, but not allowed.
    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", "Forbidden", detail)
    }

    /// 404 for an unknown tenant (or one the facade does not serve).
    pub fn tenant_not_found(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "tenant-not-found",
            "Tenant not found",
            detail,
        )
    }

    /// 404 for any unknown path.
    pub fn not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not-found",
            "Not found",
            "No resource at this path.",
        )
    }

    /// 500 without any detail about the cause (which is logged instead).
    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "Internal server error",
            "The request failed unexpectedly; it is safe to retry with the same Idempotency-Key.",
        )
    }

    /// 503 when a dependency (Kubernetes API, JWKS, Auth0) is unavailable.
    pub fn unavailable(detail: impl Into<String>, retry_after_secs: u64) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "Service unavailable",
            detail,
        )
        .with_header(header::RETRY_AFTER, &retry_after_secs.to_string())
    }

    /// 429 when a username or source address used up its failed logins; `Retry-After` says
    /// when the window ends.
    pub fn too_many_requests(detail: impl Into<String>, retry_after_secs: u64) -> Self {
        Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too-many-requests",
            "Too many requests",
            detail,
        )
        .with_header(header::RETRY_AFTER, &retry_after_secs.max(1).to_string())
    }

    /// Adds a header (ignored if the value is not a valid header value).
    pub fn with_header(mut self, name: HeaderName, value: &str) -> Self {
        if let Ok(value) = HeaderValue::from_str(value) {
            self.headers.push((name, value));
        }
        self
    }

    /// Adds an extension member.
    pub fn with_extension(mut self, key: &str, value: Value) -> Self {
        self.extensions.insert(key.to_owned(), value);
        self
    }

    /// Sets `instance`.
    pub fn with_instance(mut self, instance: impl Into<String>) -> Self {
        self.instance = Some(instance.into());
        self
    }

    /// HTTP status as a [`StatusCode`].
    pub fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = self.status_code();
        let body = serde_json::to_vec(&self).unwrap_or_else(|_| {
            br#"{"type":"urn:nexus-operator:problem:internal","title":"Internal server error","status":500}"#
                .to_vec()
        });
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        for (name, value) in self.headers {
            headers.append(name, value);
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_request_carries_errors_and_content_type() {
        let p = Problem::invalid_field("name", "is required").with_instance("urn:x");
        let json = serde_json::to_value(&p).unwrap();
        assert_eq!(json["status"], 400);
        assert_eq!(json["errors"]["name"][0], "is required");
        assert_eq!(json["instance"], "urn:x");
        let response = p.into_response();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert_eq!(response.headers()[header::CONTENT_TYPE], PROBLEM_JSON);
    }

    /// Finding 6: the answer to a body with thousands of bad fields stays small.
    #[test]
    fn field_errors_are_capped() {
        let errors: FieldErrors = (0..10_001)
            .map(|i| {
                (
                    format!("callbacks[{i}]"),
                    vec!["must not be empty".to_owned(); 9],
                )
            })
            .collect();
        let p = Problem::invalid_request(errors);
        let json = serde_json::to_value(&p).unwrap();
        let kept = json["errors"].as_object().unwrap();
        assert_eq!(kept.len(), MAX_FIELD_ERRORS);
        assert!(
            kept.values()
                .all(|m| m.as_array().unwrap().len() == MAX_MESSAGES_PER_FIELD)
        );
        assert_eq!(json["errorsOmitted"], 10_001 - MAX_FIELD_ERRORS);
        assert!(json["detail"].as_str().unwrap().contains("and 9991 more"));
        assert!(serde_json::to_vec(&p).unwrap().len() < 8 * 1024);
    }

    #[test]
    fn unauthorized_has_both_challenges() {
        let response = Problem::unauthorized("no", Some("invalid_token")).into_response();
        let challenges: Vec<_> = response
            .headers()
            .get_all(header::WWW_AUTHENTICATE)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect();
        assert_eq!(challenges.len(), 2);
        assert!(challenges[0].starts_with("Bearer"));
        assert!(challenges[1].starts_with("Basic"));
    }
}
