//! The end of an AuthClient pass: its verdict and the status it leads to (a pure function of
//! the stored status, the plan and what the steps did); [`crate::pass::finish`] writes it.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::ResourceExt;

use super::plan::{HELD_REASONS, Input, Plan};
use super::report::Report;
use crate::marker;
use crate::pass::{self, Ending, Failure, Kind, Retry, Verdict};
use nexus_crd::{AuthClient, AuthClientStatus, ROTATE_ANNOTATION, ReadyReason};

/// The verdict of a pass that ran `plan` with `report`.
pub fn verdict(report: &Report, plan: &Plan, owner: &AuthClient) -> Verdict {
    if report.client_gone {
        return Verdict::Failed(Failure {
            reason: ReadyReason::ClientNotFound,
            message: format!(
                "Auth0 client {} no longer exists in tenant '{}'",
                report.client_id.as_deref().unwrap_or_default(),
                owner.spec.tenant
            ),
            retry: Retry::Backoff,
        });
    }
    if let Some(stopped) = pass::stopped_by(report.failure.as_ref()) {
        return stopped;
    }
    match &plan.refusal {
        _ if report.kube_error.is_some() => Verdict::Unchanged,
        Some(refusal) => Verdict::Failed(refusal.clone()),
        None => Verdict::Synced,
    }
}

/// The status after the pass. `base` is what is stored (including a marker this pass wrote).
pub fn compute(
    base: &AuthClientStatus,
    input: &Input<'_>,
    plan: Option<&Plan>,
    report: Option<&Report>,
    verdict: &Verdict,
) -> AuthClientStatus {
    let owner = input.owner;
    let generation = owner.metadata.generation;
    let mut status = base.clone();
    if let (Some(plan), Some(report)) = (plan, report) {
        if plan.forget_client || report.client_gone {
            status.client_id = None;
        }
        if let Some(id) = &report.client_id
            && !report.client_gone
        {
            status.client_id = Some(id.clone());
            status.tenant = Some(owner.spec.tenant.clone());
        }
        let recorded = status.client_id.is_some();
        marker::settle(
            owner,
            &report.pending,
            report.marker.as_ref(),
            recorded,
            &mut status.last_creation_attempt,
            &mut status.pending_creation,
        );
        if report.created {
            status.last_rotation_time = Some(Time(input.now));
            status.rotation_request = owner
                .annotations()
                .get(ROTATE_ANNOTATION)
                .map(|value| nexus_crd::printable::printable(value).into_owned());
        }
        if report.rotated {
            status.last_rotation_time = Some(Time(input.now));
            status.rotation_request = plan.rotation_request.clone();
        }
        if !report.client_gone {
            status.grants = report.grants.clone();
            status.connections = report.connections.clone();
        } else {
            // Auth0 deleted the client's grants and enablements with it.
            status.grants.clear();
            status.connections.clear();
        }
    }
    let synced = format!(
        "Auth0 client {} matches the spec; credentials are in Secret {}",
        status.client_id.as_deref().unwrap_or_default(),
        owner.secret_name()
    );
    if *verdict == Verdict::Synced {
        status.secret_name = Some(owner.secret_name());
    }
    let drift = plan.map(|p| p.drift.clone()).unwrap_or_default();
    pass::conclude(
        AuthClient::parts(&mut status),
        verdict,
        Ending {
            generation,
            tenant_generation: input.tenant_generation,
            now: input.now,
            held: &HELD_REASONS,
            consulted: plan.is_some_and(|p| p.consulted),
            drift: &drift,
            subject: "the Auth0 client",
            synced,
        },
    );
    status
}
