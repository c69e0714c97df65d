//! Status conditions: the reasons the operator reports, and merging that keeps
//! `lastTransitionTime` still unless the status actually changes.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;

/// Condition type that says whether the resource is fully reconciled.
pub const READY: &str = "Ready";
/// Condition type that says whether the Auth0 client was changed outside the operator.
pub const DRIFTED: &str = "Drifted";

/// Status of a condition, as the API writes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConditionStatus {
    True,
    False,
    Unknown,
}

impl ConditionStatus {
    /// The API spelling: `True`, `False` or `Unknown`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::True => "True",
            Self::False => "False",
            Self::Unknown => "Unknown",
        }
    }
}

/// Reasons of the `Ready` condition. They are stable API: dashboards, alerts and the Argo CD
/// health check match on them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReadyReason {
    /// The Auth0 client matches the spec and the Secret is up to date.
    Synced,
    /// Work is under way (first creation, waiting for the tenant).
    Progressing,
    /// `spec.tenant` names no `AuthTenant`.
    TenantNotFound,
    /// The `AuthTenant` exists but cannot be used yet (credentials missing or rejected).
    TenantNotReady,
    /// The `AuthTenant` does not allow this namespace.
    NamespaceNotAllowed,
    /// The spec breaks the Nexus contract or the tenant's URL policy; nothing was sent to Auth0.
    InvalidSpec,
    /// Auth0 refused the request permanently (4xx); the message is Auth0's.
    Auth0Rejected,
    /// The tenant's rate limit was reached; the operator retries after the advertised reset.
    RateLimited,
    /// Auth0 did not answer or answered 5xx; the operator retries with backoff.
    Auth0Unavailable,
    /// A Secret with the target name exists and is not owned by this `AuthClient`.
    SecretConflict,
    /// `spec.client.id` names a client that does not exist in the tenant.
    ClientNotFound,
    /// The client to adopt is tagged as owned by another `AuthClient` or cluster.
    AdoptionRefused,
    /// The `AuthClient` is being deleted.
    Deleting,
}

impl ReadyReason {
    /// The reason as written into the condition.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Synced => "Synced",
            Self::Progressing => "Progressing",
            Self::TenantNotFound => "TenantNotFound",
            Self::TenantNotReady => "TenantNotReady",
            Self::NamespaceNotAllowed => "NamespaceNotAllowed",
            Self::InvalidSpec => "InvalidSpec",
            Self::Auth0Rejected => "Auth0Rejected",
            Self::RateLimited => "RateLimited",
            Self::Auth0Unavailable => "Auth0Unavailable",
            Self::SecretConflict => "SecretConflict",
            Self::ClientNotFound => "ClientNotFound",
            Self::AdoptionRefused => "AdoptionRefused",
            Self::Deleting => "Deleting",
        }
    }

    /// Reasons that no retry will fix: the operator waits for a change of the spec (or of the
    /// tenant) instead of requeueing.
    pub fn is_permanent(self) -> bool {
        matches!(
            self,
            Self::TenantNotFound
                | Self::NamespaceNotAllowed
                | Self::InvalidSpec
                | Self::Auth0Rejected
                | Self::SecretConflict
                | Self::ClientNotFound
                | Self::AdoptionRefused
        )
    }
}

/// Builds a condition stamped with `now`.
pub fn new_condition(
    type_: &str,
    status: ConditionStatus,
    reason: &str,
    message: impl Into<String>,
    observed_generation: Option<i64>,
    now: Timestamp,
) -> Condition {
    Condition {
        type_: type_.to_owned(),
        status: status.as_str().to_owned(),
        reason: reason.to_owned(),
        message: message.into(),
        observed_generation,
        last_transition_time: Time(now),
    }
}

/// Puts `update` into `conditions`, replacing the condition of the same type. The previous
/// `lastTransitionTime` is kept when the status did not change, so the timestamp says when the
/// condition last flipped, not when it was last written.
pub fn merge_condition(conditions: &mut Vec<Condition>, mut update: Condition) {
    match conditions.iter_mut().find(|c| c.type_ == update.type_) {
        Some(existing) => {
            if existing.status == update.status {
                update.last_transition_time = existing.last_transition_time.clone();
            }
            *existing = update;
        }
        None => conditions.push(update),
    }
}

/// Finds a condition by type.
pub fn find<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

/// Removes a condition by type; true if one was removed.
pub fn remove_condition(conditions: &mut Vec<Condition>, type_: &str) -> bool {
    let before = conditions.len();
    conditions.retain(|c| c.type_ != type_);
    before != conditions.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_second(secs).expect("valid timestamp")
    }

    #[test]
    fn transition_time_moves_only_when_status_changes() {
        let mut conditions = Vec::new();
        merge_condition(
            &mut conditions,
            new_condition(
                READY,
                ConditionStatus::False,
                "Progressing",
                "creating",
                Some(1),
                at(100),
            ),
        );
        merge_condition(
            &mut conditions,
            new_condition(
                READY,
                ConditionStatus::False,
                "RateLimited",
                "waiting",
                Some(1),
                at(200),
            ),
        );
        assert_eq!(conditions.len(), 1);
        assert_eq!(conditions[0].reason, "RateLimited");
        assert_eq!(conditions[0].last_transition_time, Time(at(100)));

        merge_condition(
            &mut conditions,
            new_condition(
                READY,
                ConditionStatus::True,
                "Synced",
                "ok",
                Some(2),
                at(300),
            ),
        );
        assert_eq!(conditions[0].last_transition_time, Time(at(300)));
        assert_eq!(conditions[0].observed_generation, Some(2));
    }

    #[test]
    fn conditions_of_other_types_are_kept() {
        let mut conditions = vec![new_condition(
            DRIFTED,
            ConditionStatus::True,
            "Changed",
            "x",
            None,
            at(1),
        )];
        merge_condition(
            &mut conditions,
            new_condition(READY, ConditionStatus::True, "Synced", "", None, at(2)),
        );
        assert_eq!(conditions.len(), 2);
        assert!(find(&conditions, DRIFTED).is_some());
        assert!(remove_condition(&mut conditions, DRIFTED));
        assert!(!remove_condition(&mut conditions, DRIFTED));
    }

    #[test]
    fn permanent_reasons_are_not_retried() {
        assert!(ReadyReason::InvalidSpec.is_permanent());
        assert!(ReadyReason::Auth0Rejected.is_permanent());
        assert!(!ReadyReason::RateLimited.is_permanent());
        assert!(!ReadyReason::Auth0Unavailable.is_permanent());
    }
}
