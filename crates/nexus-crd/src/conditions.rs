//! Status conditions: the reasons the operator reports, and merging that keeps
//! `lastTransitionTime` still unless the status actually changes.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;

/// Condition type that says whether the resource is fully reconciled.
pub const READY: &str = "Ready";
/// Condition type that says whether the Auth0 object (client, grants, API) was changed outside
/// the operator.
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

    /// The status of `condition` (None when it is not one of the three API spellings).
    pub fn of(condition: &Condition) -> Option<Self> {
        match condition.status.as_str() {
            "True" => Some(Self::True),
            "False" => Some(Self::False),
            "Unknown" => Some(Self::Unknown),
            _ => None,
        }
    }
}

/// How a GitOps tool should read a `Ready=False` reason (docs/gitops-health.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Health {
    /// Nothing will change without a change by a person (spec, tenant, a foreign Secret...).
    Degraded,
    /// The operator (or the tenant's reconciler) is still working on it.
    Progressing,
}

/// Reasons of the `Ready` condition of an `AuthClient` and of an `AuthResourceServer` (which
/// uses the subset that applies to it). They are stable API: dashboards, alerts, the HTTP
/// facade and the Argo CD health check match on them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReadyReason {
    /// The Auth0 client matches the spec and the Secret is up to date.
    Synced,
    /// `spec.tenant` names no `AuthTenant`.
    TenantNotFound,
    /// The `AuthTenant` exists but cannot be used (credentials missing or rejected, Auth0
    /// unreachable): the client waits for the tenant, whose own reconciler retries.
    TenantNotReady,
    /// The `AuthTenant` does not allow this namespace.
    NamespaceNotAllowed,
    /// The spec breaks the Nexus contract or the tenant's URL policy; nothing was sent to Auth0.
    InvalidSpec,
    /// Auth0 refused the spec permanently (a 4xx such as 400 `invalid_body`); the message is
    /// Auth0's. No further Auth0 call is made until the spec or the tenant changes.
    Auth0Rejected,
    /// Auth0 refused the request for a reason the spec does not decide (403: a missing scope of
    /// the tenant's M2M application or the tenant's entity limit; 409: a conflict); retried with
    /// backoff.
    Auth0Refused,
    /// The tenant's rate limit was reached; the operator retries after the advertised reset.
    RateLimited,
    /// Auth0 did not answer or answered 5xx; the operator retries with backoff.
    Auth0Unavailable,
    /// A Secret with the target name exists and is not owned by this `AuthClient`.
    SecretConflict,
    /// `spec.client.id` names a client that does not exist in the tenant.
    ClientNotFound,
    /// The client to adopt is tagged as owned by another `AuthClient` or cluster (and
    /// `adoptionPolicy: TakeOver` does not apply), or is tagged by an `AuthClient` of another
    /// namespace of this cluster (never adopted).
    AdoptionRefused,
    /// The `AuthTenant` does not let this namespace adopt existing clients
    /// (`spec.adoption.allowedNamespaces`), or the client named is the tenant's own Management
    /// API client; nothing was read or written in Auth0 for it.
    AdoptionNotAllowed,
    /// The `AuthClient` is being deleted and the deletion cannot finish yet.
    Deleting,
    /// A grant of `spec.grants` is not allowed for the client's namespace (no Ready
    /// `AuthResourceServer` allows it, and the tenant's `grantableAudiences` does not list it),
    /// or asks for a scope the API does not declare; nothing was sent to Auth0 for it.
    GrantNotAllowed,
    /// A grant's `AuthResourceServer` allows it but is not Ready yet (its API is being created
    /// or updated); the client is reconciled again when it is.
    ResourceServerNotReady,
    /// A connection of `spec.connections` is not allowed for the namespace by the tenant's
    /// `allowedConnections`; nothing was sent to Auth0 for it.
    ConnectionNotAllowed,
    /// A connection of `spec.connections` does not exist in the tenant.
    ConnectionNotFound,
    /// (`AuthResourceServer`) the identifier is already used in the tenant by an API this
    /// resource did not create, or by another `AuthResourceServer` of the cluster.
    IdentifierInUse,
}

impl ReadyReason {
    /// Every reason, in declaration order.
    pub const ALL: [ReadyReason; 19] = [
        Self::Synced,
        Self::TenantNotFound,
        Self::TenantNotReady,
        Self::NamespaceNotAllowed,
        Self::InvalidSpec,
        Self::Auth0Rejected,
        Self::Auth0Refused,
        Self::RateLimited,
        Self::Auth0Unavailable,
        Self::SecretConflict,
        Self::ClientNotFound,
        Self::AdoptionRefused,
        Self::AdoptionNotAllowed,
        Self::Deleting,
        Self::GrantNotAllowed,
        Self::ResourceServerNotReady,
        Self::ConnectionNotAllowed,
        Self::ConnectionNotFound,
        Self::IdentifierInUse,
    ];

    /// The reason as written into the condition.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Synced => "Synced",
            Self::TenantNotFound => "TenantNotFound",
            Self::TenantNotReady => "TenantNotReady",
            Self::NamespaceNotAllowed => "NamespaceNotAllowed",
            Self::InvalidSpec => "InvalidSpec",
            Self::Auth0Rejected => "Auth0Rejected",
            Self::Auth0Refused => "Auth0Refused",
            Self::RateLimited => "RateLimited",
            Self::Auth0Unavailable => "Auth0Unavailable",
            Self::SecretConflict => "SecretConflict",
            Self::ClientNotFound => "ClientNotFound",
            Self::AdoptionRefused => "AdoptionRefused",
            Self::AdoptionNotAllowed => "AdoptionNotAllowed",
            Self::Deleting => "Deleting",
            Self::GrantNotAllowed => "GrantNotAllowed",
            Self::ResourceServerNotReady => "ResourceServerNotReady",
            Self::ConnectionNotAllowed => "ConnectionNotAllowed",
            Self::ConnectionNotFound => "ConnectionNotFound",
            Self::IdentifierInUse => "IdentifierInUse",
        }
    }

    /// The reason of that name, if any.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == name)
    }

    /// How GitOps tools read `Ready=False` with this reason.
    pub fn health(self) -> Health {
        match self {
            Self::TenantNotFound
            | Self::NamespaceNotAllowed
            | Self::InvalidSpec
            | Self::Auth0Rejected
            | Self::SecretConflict
            | Self::ClientNotFound
            | Self::AdoptionRefused
            | Self::AdoptionNotAllowed
            | Self::GrantNotAllowed
            | Self::ConnectionNotAllowed
            | Self::ConnectionNotFound
            | Self::IdentifierInUse => Health::Degraded,
            Self::Synced
            | Self::TenantNotReady
            | Self::Auth0Refused
            | Self::RateLimited
            | Self::Auth0Unavailable
            | Self::Deleting
            | Self::ResourceServerNotReady => Health::Progressing,
        }
    }
}

/// Reasons of the `Ready` condition of an `AuthTenant`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TenantReason {
    /// A Management API token was obtained with the credentials.
    CredentialsValid,
    /// The credentials Secret or one of its keys is missing or empty.
    CredentialsMissing,
    /// Auth0's token endpoint refused the credentials.
    CredentialsRejected,
    /// The API server refuses the operator's read of the credentials Secret (403): its
    /// ServiceAccount has no grant for that Secret (with the Helm chart's namespaced RBAC, the
    /// Secret is missing from `credentialsSecrets`).
    CredentialsForbidden,
    /// `spec.endpoint` is not acceptable (plain http to a host that is not loopback...).
    InvalidEndpoint,
    /// A pattern of `spec.urlPolicy` is not a URL pattern (no `scheme://`, user information,
    /// a malformed host or port); the message names it. The tenant's clients wait.
    InvalidUrlPolicy,
    /// The token endpoint did not answer, or answered 5xx or 429; retried with backoff.
    Auth0Unavailable,
}

impl TenantReason {
    /// Every reason, in declaration order.
    pub const ALL: [TenantReason; 7] = [
        Self::CredentialsValid,
        Self::CredentialsMissing,
        Self::CredentialsRejected,
        Self::CredentialsForbidden,
        Self::InvalidEndpoint,
        Self::InvalidUrlPolicy,
        Self::Auth0Unavailable,
    ];

    /// The reason as written into the condition.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CredentialsValid => "CredentialsValid",
            Self::CredentialsMissing => "CredentialsMissing",
            Self::CredentialsRejected => "CredentialsRejected",
            Self::CredentialsForbidden => "CredentialsForbidden",
            Self::InvalidEndpoint => "InvalidEndpoint",
            Self::InvalidUrlPolicy => "InvalidUrlPolicy",
            Self::Auth0Unavailable => "Auth0Unavailable",
        }
    }

    /// How GitOps tools read `Ready=False` with this reason.
    pub fn health(self) -> Health {
        match self {
            Self::CredentialsMissing
            | Self::CredentialsRejected
            | Self::CredentialsForbidden
            | Self::InvalidEndpoint
            | Self::InvalidUrlPolicy => Health::Degraded,
            Self::CredentialsValid | Self::Auth0Unavailable => Health::Progressing,
        }
    }
}

/// Builds a condition stamped with `now`; the message goes through
/// [`printable`](crate::printable::printable).
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
        // Messages quote Auth0 and users: nothing the API server's YAML reader refuses.
        message: crate::printable::printable(&message.into()).into_owned(),
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

/// Whether the condition of type `type_` is present with status `True`.
pub fn is_true(conditions: &[Condition], type_: &str) -> bool {
    find(conditions, type_).is_some_and(|c| ConditionStatus::of(c) == Some(ConditionStatus::True))
}

/// Finds a condition by type.
pub fn find<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
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
                "RateLimited",
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
    }

    #[test]
    fn reason_names_round_trip() {
        for reason in ReadyReason::ALL {
            assert_eq!(ReadyReason::parse(reason.as_str()), Some(reason));
        }
        assert_eq!(ReadyReason::parse("Progressing"), None);
    }
}
