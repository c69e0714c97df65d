//! Authentication glue: who is calling ([`authenticate`], through [`crate::auth::Authenticator`]),
//! whether they may act on a tenant ([`authorize`]) or read a client ([`may_read`]), the
//! decision metrics and logs, and the problem answering a failed authentication.

// `Problem` (~200 bytes) is the error of every step; it is built at most once per request, so
// boxing it would only add noise.
#![allow(clippy::result_large_err)]

use std::net::IpAddr;

use axum::http::HeaderMap;

use crate::auth::{self, Principal};
use crate::metrics::Decision;
use crate::names::shorten;
use crate::problem::Problem;
use crate::routes::{AppState, RequestId};

/// Whether `principal` may read the client (and its secret) that `caller` created: only the
/// creator, or a `client.write.all` caller.
pub fn may_read(principal: &Principal, creator: Option<&str>) -> bool {
    principal.permissions.contains(auth::CLIENT_WRITE_ALL) || creator == Some(principal.id.as_str())
}

/// Who is calling; a failure is counted, logged (never the credentials) and answered with
/// [`auth_problem`].
pub(crate) async fn authenticate(
    state: &AppState,
    id: &RequestId,
    peer: Option<IpAddr>,
    headers: &HeaderMap,
) -> Result<Principal, Problem> {
    match state.auth.authenticate(headers, peer).await {
        Ok(principal) => Ok(principal),
        Err(failure) => {
            let decision = failure_decision(&failure);
            state.metrics.observe_decision(decision, failure.reason());
            tracing::info!(request_id = %id.0, decision = decision.as_str(), reason = failure.reason(), "auth decision");
            Err(auth_problem(failure))
        }
    }
}

/// The decision a failed authentication is counted as.
fn failure_decision(failure: &auth::AuthFailure) -> Decision {
    if failure.is_unavailable() {
        Decision::Unavailable
    } else if matches!(failure, auth::AuthFailure::TooManyFailures { .. }) {
        Decision::Throttled
    } else {
        Decision::Unauthenticated
    }
}

/// The answer to a failed authentication: 503 (ours, retry after `Retry-After`), 429 (too many
/// failed logins, retry after `Retry-After`) or 401.
pub fn auth_problem(failure: auth::AuthFailure) -> Problem {
    match failure_decision(&failure) {
        Decision::Unavailable => Problem::unavailable(failure.detail(), failure.retry_after_secs()),
        Decision::Throttled => {
            Problem::too_many_requests(failure.detail(), failure.retry_after_secs())
        }
        _ => Problem::unauthorized(failure.detail(), failure.bearer_error()),
    }
}

/// Whether `principal` may act on `tenant`; the decision is counted and logged.
pub(crate) fn authorize(
    state: &AppState,
    id: &RequestId,
    principal: &Principal,
    tenant: &str,
) -> Result<(), auth::Forbidden> {
    let tenant_shown = shorten(tenant);
    match auth::authorize(principal, tenant) {
        Ok(permission) => {
            state.metrics.observe_decision(Decision::Allow, permission);
            tracing::info!(request_id = %id.0, decision = Decision::Allow.as_str(), reason = permission, caller = %principal.id, tenant = %tenant_shown, "auth decision");
            Ok(())
        }
        Err(forbidden) => {
            state
                .metrics
                .observe_decision(Decision::Forbidden, forbidden.reason());
            tracing::info!(request_id = %id.0, decision = Decision::Forbidden.as_str(), reason = forbidden.reason(), caller = %principal.id, tenant = %tenant_shown, "auth decision");
            Err(forbidden)
        }
    }
}
