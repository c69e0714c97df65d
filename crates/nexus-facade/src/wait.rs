//! The wait for Ready: what the operator made of the AuthClient ([`classify`], pure) and the
//! bounded watch until it decided ([`wait_ready`]).

use kube::runtime::wait::await_condition;
use kube::{Api, ResourceExt};

use crate::idempotency::REQUEST_HASH_ANNOTATION;
use crate::routes::AppState;
use nexus_crd::conditions::{self, ConditionStatus, READY};
use nexus_crd::{AuthClient, ReadyReason};

/// What the operator made of the AuthClient.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WaitState {
    /// Not decided yet (or timed out).
    Pending,
    /// Ready for this generation.
    Ready {
        /// Auth0 client id.
        client_id: String,
        /// Secret holding the credentials.
        secret_name: String,
    },
    /// Refused for a reason the caller can fix (400).
    Rejected {
        /// Condition reason: `InvalidSpec`, `Auth0Rejected`, `ClientNotFound`,
        /// `AdoptionRefused` or `AdoptionNotAllowed`.
        reason: ReadyReason,
        /// Condition message (Auth0's message for `Auth0Rejected`).
        message: String,
    },
    /// The tenant disappeared.
    TenantGone,
    /// Refused for a reason the caller cannot fix (500).
    Failed {
        /// Condition reason: `NamespaceNotAllowed` or `SecretConflict`.
        reason: ReadyReason,
        /// Condition message.
        message: String,
    },
    /// Another request replaced the spec.
    Superseded,
    /// Deleted.
    Gone,
    /// The watch failed.
    WatchFailed,
}

/// Pure classification of the observed object.
pub fn classify(object: Option<&AuthClient>, request_hash: &str) -> WaitState {
    let Some(object) = object else {
        return WaitState::Gone;
    };
    if object
        .annotations()
        .get(REQUEST_HASH_ANNOTATION)
        .map(String::as_str)
        != Some(request_hash)
    {
        return WaitState::Superseded;
    }
    let Some(status) = object.status.as_ref() else {
        return WaitState::Pending;
    };
    let Some(ready) = conditions::find(&status.conditions, READY) else {
        return WaitState::Pending;
    };
    let observed = ready.observed_generation.or(status.observed_generation);
    if let Some(generation) = object.metadata.generation
        && observed.is_none_or(|o| o < generation)
    {
        return WaitState::Pending;
    }
    let reason = ReadyReason::parse(&ready.reason);
    if ready.status == ConditionStatus::True.as_str() {
        return match &status.client_id {
            Some(client_id) => WaitState::Ready {
                client_id: client_id.clone(),
                secret_name: status
                    .secret_name
                    .clone()
                    .unwrap_or_else(|| object.secret_name()),
            },
            None => WaitState::Pending,
        };
    }
    if ready.status != ConditionStatus::False.as_str() {
        return WaitState::Pending;
    }
    match reason {
        Some(
            reason @ (ReadyReason::InvalidSpec
            | ReadyReason::Auth0Rejected
            | ReadyReason::ClientNotFound
            | ReadyReason::AdoptionRefused
            | ReadyReason::AdoptionNotAllowed),
        ) => WaitState::Rejected {
            reason,
            message: ready.message.clone(),
        },
        Some(ReadyReason::TenantNotFound) => WaitState::TenantGone,
        Some(reason @ (ReadyReason::NamespaceNotAllowed | ReadyReason::SecretConflict)) => {
            WaitState::Failed {
                reason,
                message: ready.message.clone(),
            }
        }
        _ => WaitState::Pending,
    }
}

/// Waits (bounded by the ready timeout) until the operator decided; returns the decision and
/// the last object seen.
pub(crate) async fn wait_ready(
    state: &AppState,
    api: &Api<AuthClient>,
    name: &str,
    request_hash: &str,
) -> (WaitState, Option<AuthClient>) {
    let hash = request_hash.to_owned();
    let condition =
        move |object: Option<&AuthClient>| classify(object, &hash) != WaitState::Pending;
    match tokio::time::timeout(
        state.config.ready_timeout,
        await_condition(api.clone(), name, condition),
    )
    .await
    {
        Err(_) => (WaitState::Pending, api.get_opt(name).await.ok().flatten()),
        Ok(Ok(object)) => (classify(object.as_ref(), request_hash), object),
        Ok(Err(error)) => {
            tracing::warn!(%error, "watching the AuthClient failed");
            (WaitState::WatchFailed, None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::object;

    #[test]
    fn classification() {
        assert_eq!(classify(None, "h"), WaitState::Gone);
        assert_eq!(
            classify(Some(&object("other", 1, None, None)), "h"),
            WaitState::Superseded
        );
        assert_eq!(
            classify(Some(&object("h", 1, None, None)), "h"),
            WaitState::Pending
        );
        assert_eq!(
            classify(
                Some(&object(
                    "h",
                    2,
                    Some((ConditionStatus::True, ReadyReason::Synced, 1)),
                    Some("id")
                )),
                "h"
            ),
            WaitState::Pending,
            "stale generation"
        );
        assert_eq!(
            classify(
                Some(&object(
                    "h",
                    2,
                    Some((ConditionStatus::True, ReadyReason::Synced, 2)),
                    Some("id")
                )),
                "h"
            ),
            WaitState::Ready {
                client_id: "id".into(),
                secret_name: "n-auth0".into()
            }
        );
        assert_eq!(
            classify(
                Some(&object(
                    "h",
                    1,
                    Some((ConditionStatus::False, ReadyReason::Auth0Rejected, 1)),
                    None
                )),
                "h"
            ),
            WaitState::Rejected {
                reason: ReadyReason::Auth0Rejected,
                message: "Auth0 says no".into()
            }
        );
        assert_eq!(
            classify(
                Some(&object(
                    "h",
                    1,
                    Some((ConditionStatus::False, ReadyReason::AdoptionNotAllowed, 1)),
                    None
                )),
                "h"
            ),
            WaitState::Rejected {
                reason: ReadyReason::AdoptionNotAllowed,
                message: "Auth0 says no".into()
            },
            "a refused adoption answers at once instead of after the ready timeout"
        );
        assert_eq!(
            classify(
                Some(&object(
                    "h",
                    1,
                    Some((ConditionStatus::False, ReadyReason::RateLimited, 1)),
                    None
                )),
                "h"
            ),
            WaitState::Pending
        );
    }
}
