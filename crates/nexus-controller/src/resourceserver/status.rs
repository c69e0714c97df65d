//! The end of an AuthResourceServer pass: the status the pass leads to (pure);
//! [`crate::pass::finish`] writes it.

use super::act::Report;
use super::plan::{HELD_REASONS, Input, Plan};
use crate::marker;
use crate::pass::{self, Ending, Failure, Kind, Retry, Verdict};
use nexus_crd::{AuthResourceServer, AuthResourceServerStatus, ReadyReason};

/// The verdict of a pass that ran `report`.
pub fn verdict(report: &Report, owner: &AuthResourceServer) -> Verdict {
    if report.gone {
        return Verdict::Failed(Failure {
            reason: ReadyReason::Auth0Refused,
            message: format!(
                "the Auth0 API of '{}' was deleted outside the operator while it was being updated; it is created again",
                owner.spec.identifier
            ),
            retry: Retry::Backoff,
        });
    }
    pass::stopped_by(report.failure.as_ref()).unwrap_or(Verdict::Synced)
}

/// The status after the pass. `base` is what is stored (including a marker this pass wrote).
pub fn compute(
    base: &AuthResourceServerStatus,
    input: &Input<'_>,
    plan: Option<&Plan>,
    report: Option<&Report>,
    verdict: &Verdict,
) -> AuthResourceServerStatus {
    let owner = input.owner;
    let generation = owner.metadata.generation;
    let mut status = base.clone();
    if let (Some(plan), Some(report)) = (plan, report) {
        if plan.forget || report.gone {
            status.resource_server_id = None;
        }
        if let Some(id) = &report.resource_server_id
            && !report.gone
        {
            status.resource_server_id = Some(id.clone());
            status.identifier = Some(owner.spec.identifier.clone());
            status.tenant = Some(owner.spec.tenant.clone());
        }
        let recorded = status.resource_server_id.is_some();
        marker::settle(
            owner,
            &report.pending,
            report.marker.as_ref(),
            recorded,
            &mut status.last_creation_attempt,
            &mut status.pending_creation,
        );
    }
    let synced = format!(
        "Auth0 API {} ({}) matches the spec",
        status.resource_server_id.as_deref().unwrap_or_default(),
        owner.spec.identifier
    );
    let drift = report
        .and_then(|r| r.drift.clone())
        .or_else(|| plan.map(|p| p.drift.clone()))
        .unwrap_or_default();
    pass::conclude(
        AuthResourceServer::parts(&mut status),
        verdict,
        Ending {
            generation,
            tenant_generation: input.tenant_generation,
            now: input.now,
            held: &HELD_REASONS,
            consulted: plan.is_some_and(|p| p.consulted),
            drift: &drift,
            subject: "the Auth0 API",
            synced,
        },
    );
    status
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pass::DriftVerdict;
    use crate::pass::Pending;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    use k8s_openapi::jiff::Timestamp;
    use nexus_crd::Auth0Rejection;
    use nexus_crd::conditions::{self, READY};

    fn owner() -> AuthResourceServer {
        crate::testing::server("api", "https://x/api", 3)
    }

    fn input<'a>(owner: &'a AuthResourceServer, status: &'a AuthResourceServerStatus) -> Input<'a> {
        Input {
            owner,
            status,
            tag: "c1/uid-1",
            tenant_generation: 7,
            now: Timestamp::from_second(1_800_000_000).expect("time"),
            finding: None,
        }
    }

    #[test]
    fn a_created_api_is_recorded_and_its_marker_cleared() {
        let owner = owner();
        let base = AuthResourceServerStatus {
            pending_creation: Some(nexus_crd::PendingResourceServer {
                identifier: "https://x/api".into(),
                started_at: Time(Timestamp::UNIX_EPOCH),
                probed: true,
            }),
            ..Default::default()
        };
        let plan = Plan {
            drift: DriftVerdict::InSync,
            consulted: true,
            ..Default::default()
        };
        let report = Report {
            resource_server_id: Some("rs1".into()),
            pending: Pending::Cleared,
            ..Default::default()
        };
        let next = compute(
            &base,
            &input(&owner, &base),
            Some(&plan),
            Some(&report),
            &Verdict::Synced,
        );
        assert_eq!(next.resource_server_id.as_deref(), Some("rs1"));
        assert_eq!(next.identifier.as_deref(), Some("https://x/api"));
        assert_eq!(next.tenant.as_deref(), Some("acme"));
        assert!(next.pending_creation.is_none());
        assert_eq!(next.observed_generation, Some(3));
        let ready = conditions::find(&next.conditions, READY).expect("ready");
        assert_eq!(
            (ready.status.as_str(), ready.reason.as_str()),
            ("True", "Synced")
        );
    }

    #[test]
    fn identifier_in_use_is_recorded_to_be_held() {
        let owner = owner();
        let base = AuthResourceServerStatus::default();
        let failure = Failure::permanent(ReadyReason::IdentifierInUse, "taken");
        let next = compute(
            &base,
            &input(&owner, &base),
            None,
            None,
            &Verdict::Failed(failure.clone()),
        );
        assert_eq!(
            next.auth0_rejection,
            Some(Auth0Rejection {
                generation: 3,
                tenant_generation: 7
            })
        );
        let unrelated = pass::failed(
            &next,
            &owner,
            &Failure::permanent(ReadyReason::TenantNotFound, "gone"),
            &HELD_REASONS,
            Timestamp::UNIX_EPOCH,
        );
        assert_eq!(unrelated.auth0_rejection, None);
    }
}
