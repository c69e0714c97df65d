//! The end of an AuthResourceServer pass: its verdict and the status it leads to (pure; the
//! parts every kind ends alike are [`crate::driver::end`]'s); [`crate::pass::finish`] writes
//! it.

use super::act::Report;
use super::plan::{Input, Plan};
use crate::driver;
use crate::pass::{self, Failure, Retry, Verdict};
use nexus_crd::{AuthResourceServer, AuthResourceServerStatus, ReadyReason};

/// The verdict of a pass that ran `report`.
fn verdict(report: &Report, owner: &AuthResourceServer) -> Verdict {
    if report.outcome.gone {
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

/// The status after a pass that ran `plan` with `report`, and its verdict. `base` is what is
/// stored (including a marker this pass wrote).
pub fn compute(
    base: &AuthResourceServerStatus,
    input: &Input<'_>,
    plan: &Plan,
    report: &Report,
) -> (AuthResourceServerStatus, Verdict) {
    let owner = input.owner;
    let verdict = verdict(report, owner);
    let mut status = base.clone();
    if report.outcome.record(&mut status, owner, plan.forget) {
        status.identifier = Some(owner.spec.identifier.clone());
    }
    let synced = format!(
        "Auth0 API {} ({}) matches the spec",
        status.resource_server_id.as_deref().unwrap_or_default(),
        owner.spec.identifier
    );
    let drift = report.drift.as_ref().unwrap_or(&plan.drift);
    driver::end(&mut status, input, &verdict, plan.consulted, drift, synced);
    (status, verdict)
}

#[cfg(test)]
mod tests {
    use super::super::plan::HELD_REASONS;
    use super::*;
    use crate::marker::Outcome;
    use crate::pass::DriftVerdict;
    use crate::pass::Pending;
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
            extra: (),
        }
    }

    #[test]
    fn a_created_api_is_recorded_and_its_marker_cleared() {
        let owner = owner();
        let base = crate::testing::server_pending("https://x/api");
        let plan = Plan {
            drift: DriftVerdict::InSync,
            consulted: true,
            ..Default::default()
        };
        let report = Report {
            outcome: Outcome {
                id: Some("rs1".into()),
                pending: Pending::Cleared,
                ..Default::default()
            },
            ..Default::default()
        };
        let (next, verdict) = compute(&base, &input(&owner, &base), &plan, &report);
        assert_eq!(verdict, Verdict::Synced);
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
        let next = driver::unplanned(&base, &input(&owner, &base), &failure);
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
