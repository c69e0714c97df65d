//! Authentication glue: who is calling ([`authenticate`], through [`crate::auth::Authenticator`]),
//! whether they may act on a tenant ([`authorize`]) or read a client ([`may_read`]), the
//! decision metrics and logs, and the problem answering a failed authentication.

// `Problem` (~200 bytes) is the error of every step; it is built at most once per request, so
// boxing it would only add noise.
#![allow(clippy::result_large_err)]

use std::net::IpAddr;

use axum::http::HeaderMap;

use crate::auth::{self, Principal};
use crate::names::shorten;
use crate::problem::Problem;
use crate::routes::{AppState, RequestId};

/// Whether `principal` may read the client (and its secret) that `caller` created: only the
/// creator, or a `client.write.all` caller.
pub fn may_read(principal: &Principal, creator: Option<&str>) -> bool {
    principal.permissions.contains(auth::CLIENT_WRITE_ALL) || creator == Some(principal.id.as_str())
}

pub(crate) async fn authenticate(
    state: &AppState,
    id: &RequestId,
    peer: Option<IpAddr>,
    headers: &HeaderMap,
) -> Result<Principal, Problem> {
    match state.auth.authenticate(headers, peer).await {
        Ok(principal) => Ok(principal),
        Err(failure) => {
            let decision = if failure.is_unavailable() {
                "unavailable"
            } else if matches!(failure, auth::AuthFailure::TooManyFailures { .. }) {
                "throttled"
            } else {
                "unauthenticated"
            };
            state.metrics.observe_decision(decision, failure.reason());
            tracing::info!(request_id = %id.0, decision, reason = failure.reason(), "auth decision");
            Err(auth_problem(failure))
        }
    }
}

/// The answer to a failed authentication: 503 (ours, retry after `Retry-After`), 429 (too many
/// failed logins, retry after `Retry-After`) or 401.
pub fn auth_problem(failure: auth::AuthFailure) -> Problem {
    if failure.is_unavailable() {
        Problem::unavailable(failure.detail(), failure.retry_after_secs())
    } else if matches!(failure, auth::AuthFailure::TooManyFailures { .. }) {
        Problem::too_many_requests(failure.detail(), failure.retry_after_secs())
    } else {
        Problem::unauthorized(failure.detail(), failure.bearer_error())
    }
}

pub(crate) fn authorize(
    state: &AppState,
    id: &RequestId,
    principal: &Principal,
    tenant: &str,
) -> Result<(), auth::Forbidden> {
    let tenant_shown = shorten(tenant);
    match auth::authorize(principal, tenant) {
        Ok(permission) => {
            state.metrics.observe_decision("allow", permission);
            tracing::info!(request_id = %id.0, decision = "allow", reason = permission, caller = %principal.id, tenant = %tenant_shown, "auth decision");
            Ok(())
        }
        Err(forbidden) => {
            state
                .metrics
                .observe_decision("forbidden", forbidden.reason());
            tracing::info!(request_id = %id.0, decision = "forbidden", reason = forbidden.reason(), caller = %principal.id, tenant = %tenant_shown, "auth decision");
            Err(forbidden)
        }
    }
}
