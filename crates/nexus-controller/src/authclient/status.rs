//! The end of an AuthClient pass: its verdict and the status it leads to (a pure function of
//! the stored status, the plan and what the steps did; the parts every kind ends alike are
//! [`crate::driver::end`]'s); [`crate::pass::finish`] writes it.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::ResourceExt;

use super::keys::KeyPass;
use super::plan::{Input, Plan};
use super::report::Report;
use crate::driver;
use crate::pass::{self, Failure, Retry, Verdict};
use nexus_crd::{AuthClient, AuthClientStatus, ROTATE_ANNOTATION, ReadyReason};

/// The verdict of a pass that ran `plan` with `report`.
fn verdict(report: &Report, plan: &Plan, owner: &AuthClient) -> Verdict {
    if report.outcome.gone {
        return Verdict::Failed(Failure {
            reason: ReadyReason::ClientNotFound,
            message: format!(
                "Auth0 client {} no longer exists in tenant '{}'",
                report.outcome.id.as_deref().unwrap_or_default(),
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

/// The status after a pass that ran `plan` with `report` (and `keys`, the key credentials'
/// pass that followed, if any), and its verdict. `base` is what is stored (including what a
/// step recorded).
pub fn compute(
    base: &AuthClientStatus,
    input: &Input<'_>,
    plan: &Plan,
    report: &Report,
    keys: Option<&KeyPass>,
) -> (AuthClientStatus, Verdict) {
    let owner = input.owner;
    let verdict = verdict(report, plan, owner);
    let mut status = base.clone();
    report
        .outcome
        .record(&mut status, owner, plan.forget_client);
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
    if !report.outcome.gone {
        status.grants = report.grants.clone();
        status.connections = report.connections.clone();
    } else {
        // Auth0 deleted the client's grants and enablements with it.
        status.grants.clear();
        status.connections.clear();
    }
    let synced = format!(
        "Auth0 client {} matches the spec; credentials are in Secret {}",
        status.client_id.as_deref().unwrap_or_default(),
        owner.secret_name()
    );
    if verdict == Verdict::Synced {
        status.secret_name = Some(owner.secret_name());
    }
    driver::end(
        &mut status,
        input,
        &verdict,
        plan.consulted,
        &plan.drift,
        synced,
    );
    if let Some(keys) = keys {
        keys.apply_to(&mut status, &plan.drift, owner, input.now);
    }
    (status, verdict)
}
