//! The end of an AuthClient pass: the status the pass leads to (a pure function of the stored
//! status, the plan and what the steps did), its one write when the content changed, the one
//! event of the pass, and when to look again.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::api::{Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::{Api, ResourceExt};
use serde_json::json;

use super::act::{Auth0Failure, Pending, Report};
use super::plan::{
    DriftVerdict, Failure, HELD_REASONS, Input, Note, Plan, Retry, drift_report_message,
};
use crate::context::Context;
use crate::metrics::ConditionLabels;
use nexus_crd::conditions::{self, ConditionStatus, DRIFTED, READY};
use nexus_crd::{
    Auth0Rejection, AuthClient, AuthClientStatus, FIELD_MANAGER, ROTATE_ANNOTATION, ReadyReason,
};

/// How the pass ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Everything matches.
    Synced,
    /// Ready=False.
    Failed(Failure),
    /// The Ready condition stays as it is (waiting for the tenant, or an interrupted write).
    Unchanged,
}

impl Verdict {
    /// The verdict of a pass that ran `plan` with `report`.
    pub fn of(report: &Report, plan: &Plan, owner: &AuthClient) -> Self {
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
        match &report.failure {
            Some(Auth0Failure::Failed(failure)) => Verdict::Failed(failure.clone()),
            Some(Auth0Failure::Tenant) => Verdict::Unchanged,
            None if report.kube_error.is_some() => Verdict::Unchanged,
            None => match &plan.refusal {
                Some(refusal) => Verdict::Failed(refusal.clone()),
                None => Verdict::Synced,
            },
        }
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
        match &report.pending {
            Pending::Unchanged => {}
            Pending::Set(marker) => status.pending_creation = Some(marker.clone()),
            Pending::Cleared => status.pending_creation = None,
        }
        if status.client_id.is_some() && !matches!(report.pending, Pending::Set(_)) {
            status.pending_creation = None;
        }
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
    let now = input.now;
    let (ready, reason, message) = match verdict {
        Verdict::Unchanged => return status,
        Verdict::Synced => {
            let consulted = plan.is_some_and(|p| p.consulted);
            if consulted || status.last_sync_time.is_none() {
                status.last_sync_time = Some(Time(now));
            }
            status.secret_name = Some(owner.secret_name());
            status.auth0_rejection = None;
            let drift = plan.map(|p| p.drift.clone()).unwrap_or_default();
            apply_drift(
                &mut status.conditions,
                &mut status.reported_drift,
                &drift,
                generation,
                now,
                "the Auth0 client",
            );
            (
                ConditionStatus::True,
                ReadyReason::Synced,
                format!(
                    "Auth0 client {} matches the spec; credentials are in Secret {}",
                    status.client_id.as_deref().unwrap_or_default(),
                    owner.secret_name()
                ),
            )
        }
        Verdict::Failed(failure) => {
            status.auth0_rejection =
                HELD_REASONS
                    .contains(&failure.reason)
                    .then(|| Auth0Rejection {
                        generation: generation.unwrap_or(0),
                        tenant_generation: input.tenant_generation,
                    });
            (
                ConditionStatus::False,
                failure.reason,
                failure.message.clone(),
            )
        }
    };
    status.observed_generation = generation;
    conditions::merge_condition(
        &mut status.conditions,
        conditions::new_condition(READY, ready, reason.as_str(), message, generation, now),
    );
    status
}

/// A Ready=False status for a failure found before any plan (tenant, namespace, validation).
pub fn failed(
    base: &AuthClientStatus,
    owner: &AuthClient,
    failure: &Failure,
    now: k8s_openapi::jiff::Timestamp,
) -> AuthClientStatus {
    let mut status = base.clone();
    let generation = owner.metadata.generation;
    status.observed_generation = generation;
    if !HELD_REASONS.contains(&failure.reason) {
        status.auth0_rejection = None;
    }
    conditions::merge_condition(
        &mut status.conditions,
        conditions::new_condition(
            READY,
            ConditionStatus::False,
            failure.reason.as_str(),
            failure.message.clone(),
            generation,
            now,
        ),
    );
    status
}

/// Sets the `Drifted` condition (and the reported fields) from a drift verdict; `subject`
/// names what was compared ("the Auth0 client").
pub fn apply_drift(
    conditions_list: &mut Vec<Condition>,
    reported_drift: &mut Vec<String>,
    drift: &DriftVerdict,
    generation: Option<i64>,
    now: k8s_openapi::jiff::Timestamp,
    subject: &str,
) {
    let drifted = conditions::find(conditions_list, DRIFTED)
        .is_some_and(|c| c.status == ConditionStatus::True.as_str());
    let mut set = |condition: ConditionStatus, reason: &str, message: String| {
        conditions::merge_condition(
            conditions_list,
            conditions::new_condition(DRIFTED, condition, reason, message, generation, now),
        );
    };
    match drift {
        DriftVerdict::Unchanged => return,
        DriftVerdict::InSync | DriftVerdict::Updated(_) => {
            if drifted {
                set(
                    ConditionStatus::False,
                    "InSync",
                    format!("{subject} matches the spec"),
                );
            }
        }
        DriftVerdict::Corrected(fields) => set(
            ConditionStatus::False,
            "Corrected",
            format!(
                "restored fields changed outside the operator: {}",
                fields.join(", ")
            ),
        ),
        DriftVerdict::Reported(fields) => {
            set(
                ConditionStatus::True,
                "ChangedOutsideOperator",
                drift_report_message(fields),
            );
            *reported_drift = fields.clone();
            return;
        }
    }
    reported_drift.clear();
}

/// The one event of the pass: what it did, or else a transition of Ready.
pub fn event_of(
    previous: &AuthClientStatus,
    next: &AuthClientStatus,
    plan_notes: &[Note],
    report_notes: &[Note],
) -> Option<Note> {
    event_from(
        &previous.conditions,
        &next.conditions,
        plan_notes,
        report_notes,
    )
}

/// [`event_of`] on the conditions of any kind.
pub fn event_from(
    previous: &[Condition],
    next: &[Condition],
    plan_notes: &[Note],
    report_notes: &[Note],
) -> Option<Note> {
    let mut notes = plan_notes.iter().chain(report_notes);
    if let Some(first) = notes.next() {
        let mut note = first.clone();
        for more in notes {
            note.message = format!("{}; {}", note.message, more.message);
            note.warning |= more.warning;
        }
        return Some(note);
    }
    let ready =
        |s: &[Condition]| conditions::find(s, READY).map(|c| (c.status.clone(), c.reason.clone()));
    let (before, after) = (ready(previous), ready(next));
    if before == after {
        return None;
    }
    let condition = conditions::find(next, READY)?;
    let reason = ReadyReason::parse(&condition.reason)?;
    Some(Note {
        reason: reason.as_str(),
        action: "Reconcile",
        message: condition.message.clone(),
        warning: condition.status != ConditionStatus::True.as_str(),
    })
}

/// Writes the whole status with server-side apply on the status subresource, conditional on
/// `resource_version` when given. Returns the new resourceVersion.
pub async fn write(
    ctx: &Context,
    owner: &AuthClient,
    status: &AuthClientStatus,
    resource_version: Option<String>,
) -> Result<Option<String>, kube::Error> {
    let namespace = owner.namespace().unwrap_or_default();
    let api = Api::<AuthClient>::namespaced(ctx.kube.clone(), &namespace);
    let mut metadata = json!({"name": owner.name_any()});
    if let Some(rv) = resource_version {
        metadata["resourceVersion"] = json!(rv);
    }
    let patch = json!({
        "apiVersion": "auth.nexus.dev/v1alpha1",
        "kind": "AuthClient",
        "metadata": metadata,
        "status": status,
    });
    let written = api
        .patch_status(
            &owner.name_any(),
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&patch),
        )
        .await?;
    Ok(written.resource_version())
}

/// Publishes the event (before the status write, so nothing is written after the condition),
/// writes the status when it changed, updates the gauge, and says when to look again.
pub async fn finish(
    ctx: &Context,
    owner: &AuthClient,
    stored: &AuthClientStatus,
    written: Option<(AuthClientStatus, Option<String>)>,
    next: AuthClientStatus,
    event: Option<Note>,
    verdict: &Verdict,
) -> Result<Action, kube::Error> {
    let key = super::object_key(owner);
    if let Some(note) = event {
        let type_ = if note.warning {
            EventType::Warning
        } else {
            EventType::Normal
        };
        ctx.event(owner, type_, note.reason, note.action, note.message)
            .await;
    }
    let (current, rv) = match written {
        Some((status, rv)) => (status, rv),
        None => (stored.clone(), owner.resource_version()),
    };
    if current != next {
        write(ctx, owner, &next, rv).await?;
    }
    if let Some(ready) = conditions::find(&next.conditions, READY) {
        ctx.set_ready_state(
            &key,
            Some(ConditionLabels {
                ready: ready.status.clone(),
                reason: ready.reason.clone(),
            }),
        );
    }
    Ok(match verdict {
        Verdict::Synced => {
            ctx.reset_backoff(&key);
            // Revisited by `resync::sweep`, not by a scheduled requeue per object.
            Action::await_change()
        }
        Verdict::Unchanged => Action::await_change(),
        Verdict::Failed(failure) => match failure.retry {
            Retry::AwaitChange => {
                ctx.reset_backoff(&key);
                Action::await_change()
            }
            Retry::Backoff => Action::requeue(ctx.next_backoff(&key)),
            Retry::After(delay) => {
                Action::requeue(delay.max(std::time::Duration::from_millis(200)))
            }
        },
    })
}
