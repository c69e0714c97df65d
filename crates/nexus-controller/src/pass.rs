//! The vocabulary every reconcile pass shares, whatever the kind: failures as data
//! ([`Failure`], [`Retry`]), how a pass ended ([`Verdict`]), the events it publishes
//! ([`Note`], [`EventReason`], [`EventAction`]), drift verdicts ([`DriftVerdict`]), the
//! mapping of an Auth0 error to what the pass reports ([`auth0_failure`]), the one status
//! writer of a pass ([`Writer`], over [`apply_status`], the only status patch of the crate),
//! the one exit of a pass ([`finish`]: the event, the status write, the gauge, the requeue;
//! [`finish_cleanup`] for a deletion, [`Cleanup`] for its Auth0 calls), what every plan starts
//! from ([`Input`]) and what it decides alike for every kind ([`rejection`], [`recorded`],
//! [`drift_detected`]), and the errors that abort a pass ([`PassError`]).
//!
//! The AuthClient and AuthResourceServer reconcilers import this module and never each other.

use std::fmt;
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::{Api, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::context::{Context, Finding, PerKind, ScanFinding, ServerFinding};
use crate::metrics::ConditionLabels;
use auth0_mgmt::Auth0Error;
use nexus_crd::conditions::{self, ConditionStatus, DRIFTED, READY};
use nexus_crd::{Auth0Rejection, FIELD_MANAGER, ReadyReason};
use nexus_crd::{AuthClient, AuthClientStatus, AuthResourceServer, AuthResourceServerStatus};

/// When to look at the object again after a failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Retry {
    /// Nothing will change until the spec, the tenant or the Secret does (a watch wakes us).
    AwaitChange,
    /// Transient: exponential backoff.
    Backoff,
    /// Transient with a known time (rate-limit reset).
    After(Duration),
}

/// A failure that becomes `Ready=False`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// The reason.
    pub reason: ReadyReason,
    /// A message that names what to do and does not change from pass to pass.
    pub message: String,
    /// When to look again.
    pub retry: Retry,
}

impl Failure {
    /// A failure that waits for a change.
    pub fn permanent(reason: ReadyReason, message: impl Into<String>) -> Self {
        Self {
            reason,
            message: message.into(),
            retry: Retry::AwaitChange,
        }
    }
}

/// How a pass ended.
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
    /// When to look at `key` again after a pass that ended so (and the backoff bookkeeping).
    /// `swept`: a synced object is revisited by [`crate::resync::sweep`] (see [`Kind::SWEPT`])
    /// instead of a scheduled requeue after the resync interval.
    pub fn action(&self, ctx: &Context, key: &str, swept: bool) -> Action {
        match self {
            Verdict::Synced => {
                ctx.reset_backoff(key);
                if swept {
                    Action::await_change()
                } else {
                    Action::requeue(ctx.config.resync_interval)
                }
            }
            Verdict::Unchanged => Action::await_change(),
            Verdict::Failed(failure) => match failure.retry {
                Retry::AwaitChange => {
                    ctx.reset_backoff(key);
                    Action::await_change()
                }
                Retry::Backoff => Action::requeue(ctx.next_backoff(key)),
                Retry::After(delay) => Action::requeue(delay.max(Duration::from_millis(200))),
            },
        }
    }
}

/// The reason of an event a pass publishes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventReason {
    /// An Auth0 object was created.
    Created,
    /// An Auth0 object created by an interrupted attempt was found and taken up.
    Recovered,
    /// An existing Auth0 client was adopted.
    Adopted,
    /// The Auth0 object was updated to a changed spec.
    Updated,
    /// A change made outside the operator was undone.
    DriftCorrected,
    /// A change made outside the operator was found and left (`driftPolicy: Report`).
    DriftDetected,
    /// The recorded Auth0 client was deleted outside the operator.
    ClientMissing,
    /// The recorded Auth0 API was deleted outside the operator.
    ResourceServerMissing,
    /// The client secret was rotated.
    SecretRotated,
    /// A client grant was created.
    GrantCreated,
    /// A client grant's scopes were changed.
    GrantUpdated,
    /// A client grant was deleted (the spec no longer asks for it).
    GrantDeleted,
    /// A client grant was taken back (the namespace may no longer hold it).
    GrantRevoked,
    /// The client was enabled on a connection.
    ConnectionEnabled,
    /// The client was disabled on a connection.
    ConnectionDisabled,
    /// The Auth0 object was deleted with its Kubernetes object.
    Deleted,
    /// The spec is accepted (Auth0 accepts it) but is most likely a mistake.
    SpecWarning,
    /// A public key was registered as a client credential (`privateKeyJwt`).
    KeyRegistered,
    /// The Secret now holds a new private key.
    KeyRotated,
    /// A key credential was deleted (its overlap ended, or its private half was lost).
    KeyRetired,
    /// The Ready condition changed to this reason.
    Ready(ReadyReason),
}

impl EventReason {
    /// The reason as written in the Event.
    pub fn as_str(self) -> &'static str {
        match self {
            EventReason::Created => "Created",
            EventReason::SpecWarning => "SpecWarning",
            EventReason::Recovered => "Recovered",
            EventReason::Adopted => "Adopted",
            EventReason::Updated => "Updated",
            EventReason::DriftCorrected => "DriftCorrected",
            EventReason::DriftDetected => "DriftDetected",
            EventReason::ClientMissing => "ClientMissing",
            EventReason::ResourceServerMissing => "ResourceServerMissing",
            EventReason::SecretRotated => "SecretRotated",
            EventReason::GrantCreated => "GrantCreated",
            EventReason::GrantUpdated => "GrantUpdated",
            EventReason::GrantDeleted => "GrantDeleted",
            EventReason::GrantRevoked => "GrantRevoked",
            EventReason::ConnectionEnabled => "ConnectionEnabled",
            EventReason::ConnectionDisabled => "ConnectionDisabled",
            EventReason::Deleted => "Deleted",
            EventReason::KeyRegistered => "KeyRegistered",
            EventReason::KeyRotated => "KeyRotated",
            EventReason::KeyRetired => "KeyRetired",
            EventReason::Ready(reason) => reason.as_str(),
        }
    }
}

impl fmt::Display for EventReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a pass was doing when it published an event (the Event's `action`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventAction {
    /// Creating the Auth0 object.
    Create,
    /// Creating it again after it was deleted outside the operator.
    Recreate,
    /// Adopting an existing Auth0 client.
    Adopt,
    /// Updating the Auth0 object or what it is granted.
    Update,
    /// Comparing Auth0 with the spec.
    Compare,
    /// Rotating the client secret.
    Rotate,
    /// Taking back what the namespace may no longer hold.
    Revoke,
    /// Deleting the Auth0 object.
    Delete,
    /// Checking the spec before anything is sent to Auth0.
    Validate,
    /// A transition of the Ready condition.
    Reconcile,
    /// Registering a public key with Auth0.
    RegisterKey,
    /// Writing a private key into the Secret.
    WriteKey,
    /// Deleting a key credential.
    DeleteKey,
}

impl EventAction {
    /// The action as written in the Event.
    pub fn as_str(self) -> &'static str {
        match self {
            EventAction::Create => "Create",
            EventAction::Validate => "Validate",
            EventAction::Recreate => "Recreate",
            EventAction::Adopt => "Adopt",
            EventAction::Update => "Update",
            EventAction::Compare => "Compare",
            EventAction::Rotate => "Rotate",
            EventAction::Revoke => "Revoke",
            EventAction::Delete => "Delete",
            EventAction::Reconcile => "Reconcile",
            EventAction::RegisterKey => "RegisterKey",
            EventAction::WriteKey => "WriteKey",
            EventAction::DeleteKey => "DeleteKey",
        }
    }
}

/// An event to publish (at most one per pass is published; see [`event_from`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Note {
    /// Event reason.
    pub reason: EventReason,
    /// Event action.
    pub action: EventAction,
    /// Event note (stable text).
    pub message: String,
    /// Warning rather than Normal.
    pub warning: bool,
}

impl Note {
    /// A Normal event.
    pub fn normal(reason: EventReason, action: EventAction, message: String) -> Self {
        Self {
            reason,
            action,
            message,
            warning: false,
        }
    }

    /// A Warning event.
    pub fn warning(reason: EventReason, action: EventAction, message: String) -> Self {
        Self {
            reason,
            action,
            message,
            warning: true,
        }
    }
}

/// What the `Drifted` condition says after the pass.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum DriftVerdict {
    /// Auth0 was not compared: keep the condition as it is.
    #[default]
    Unchanged,
    /// Auth0 matches the spec.
    InSync,
    /// The spec changed and these fields were updated.
    Updated(Vec<String>),
    /// These fields were changed outside the operator and are restored.
    Corrected(Vec<String>),
    /// These fields were changed outside the operator and are left (`driftPolicy: Report`).
    Reported(Vec<String>),
}

/// The message of a drift that is reported and left.
pub fn drift_report_message(fields: &[String]) -> String {
    format!(
        "changed outside the operator (not corrected, driftPolicy is Report): {}",
        fields.join(", ")
    )
}

/// What a difference between the spec and Auth0 (`fields`, the dotted paths that differ)
/// leads to: the `Drifted` verdict, and the event of the PATCH to send (None: no PATCH). A
/// changed spec (`spec_changed`) is pushed; a change made outside the operator is undone under
/// `driftPolicy: Correct` and reported otherwise. `what` names the object ("Auth0 client X").
pub fn drift_response(
    fields: Vec<String>,
    spec_changed: bool,
    policy: nexus_crd::DriftPolicy,
    what: &str,
) -> (DriftVerdict, Option<Note>) {
    if fields.is_empty() {
        return (DriftVerdict::InSync, None);
    }
    let shown = fields.join(", ");
    if spec_changed {
        let note = Note::normal(
            EventReason::Updated,
            EventAction::Update,
            format!("updated {what}: {shown}"),
        );
        (DriftVerdict::Updated(fields), Some(note))
    } else if policy == nexus_crd::DriftPolicy::Correct {
        let note = Note::warning(
            EventReason::DriftCorrected,
            EventAction::Update,
            format!("restored fields changed outside the operator: {shown}"),
        );
        (DriftVerdict::Corrected(fields), Some(note))
    } else {
        (DriftVerdict::Reported(fields), None)
    }
}

/// The `DriftDetected` warning of a drift reported and left (`driftPolicy: Report`) that the
/// status does not report yet (`reported`): published when the drift is found or changes, not
/// every pass.
pub fn drift_detected(drift: &DriftVerdict, reported: &[String]) -> Option<Note> {
    match drift {
        DriftVerdict::Reported(fields) if fields != reported => Some(Note::warning(
            EventReason::DriftDetected,
            EventAction::Compare,
            drift_report_message(fields),
        )),
        _ => None,
    }
}

/// The reason of the `Drifted` condition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DriftedReason {
    /// Auth0 matches the spec again.
    InSync,
    /// Fields changed outside the operator were restored.
    Corrected,
    /// Fields were changed outside the operator and are left.
    ChangedOutsideOperator,
}

impl DriftedReason {
    /// The reason as written in the condition.
    pub fn as_str(self) -> &'static str {
        match self {
            DriftedReason::InSync => "InSync",
            DriftedReason::Corrected => "Corrected",
            DriftedReason::ChangedOutsideOperator => "ChangedOutsideOperator",
        }
    }
}

/// Sets the `Drifted` condition (and the reported fields) from a drift verdict; `subject`
/// names what was compared ("the Auth0 client").
pub fn apply_drift(
    conditions_list: &mut Vec<Condition>,
    reported_drift: &mut Vec<String>,
    drift: &DriftVerdict,
    generation: Option<i64>,
    now: Timestamp,
    subject: &str,
) {
    let drifted = conditions::find(conditions_list, DRIFTED)
        .is_some_and(|c| ConditionStatus::of(c) == Some(ConditionStatus::True));
    let mut set = |condition: ConditionStatus, reason: DriftedReason, message: String| {
        conditions::merge_condition(
            conditions_list,
            conditions::new_condition(
                DRIFTED,
                condition,
                reason.as_str(),
                message,
                generation,
                now,
            ),
        );
    };
    match drift {
        DriftVerdict::Unchanged => return,
        DriftVerdict::InSync | DriftVerdict::Updated(_) => {
            if drifted {
                set(
                    ConditionStatus::False,
                    DriftedReason::InSync,
                    format!("{subject} matches the spec"),
                );
            }
        }
        DriftVerdict::Corrected(fields) => set(
            ConditionStatus::False,
            DriftedReason::Corrected,
            format!(
                "restored fields changed outside the operator: {}",
                fields.join(", ")
            ),
        ),
        DriftVerdict::Reported(fields) => {
            set(
                ConditionStatus::True,
                DriftedReason::ChangedOutsideOperator,
                drift_report_message(fields),
            );
            *reported_drift = fields.clone();
            return;
        }
    }
    reported_drift.clear();
}

/// The one event of the pass: what it did (its notes, joined), or else a transition of Ready.
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
        reason: EventReason::Ready(reason),
        action: EventAction::Reconcile,
        message: condition.message.clone(),
        warning: ConditionStatus::of(condition) != Some(ConditionStatus::True),
    })
}

/// The parts of a status that every kind ends a pass the same way: the `Ready` and `Drifted`
/// conditions, the generation they describe, the last sync, the recorded refusal and the
/// reported drift; and where it records the Auth0 object its passes create, with the
/// crash-safety marker of the attempt ([`crate::marker::Outcome::record`]). `P`: the kind's
/// `status.pendingCreation` (an older operator's marker).
pub struct StatusParts<'a, P> {
    /// `status.conditions`.
    pub conditions: &'a mut Vec<Condition>,
    /// `status.observedGeneration`.
    pub observed_generation: &'a mut Option<i64>,
    /// `status.lastSyncTime`.
    pub last_sync_time: &'a mut Option<Time>,
    /// `status.auth0Rejection`.
    pub auth0_rejection: &'a mut Option<Auth0Rejection>,
    /// `status.reportedDrift`.
    pub reported_drift: &'a mut Vec<String>,
    /// The id of the recorded Auth0 object (`status.clientId`, `status.resourceServerId`).
    pub id: &'a mut Option<String>,
    /// `status.tenant`: the tenant the recorded object is in.
    pub tenant: &'a mut Option<String>,
    /// `status.lastCreationAttempt`: the marker the status has settled.
    pub last_creation_attempt: &'a mut Option<String>,
    /// `status.pendingCreation`: the marker of an older operator.
    pub pending_creation: &'a mut Option<P>,
}

/// What a pass reads of a stored status, the same for every kind.
pub struct StatusView<'a> {
    /// `status.conditions`.
    pub conditions: &'a [Condition],
    /// `status.observedGeneration`.
    pub observed_generation: Option<i64>,
    /// `status.auth0Rejection`.
    pub auth0_rejection: Option<&'a Auth0Rejection>,
    /// The id of the recorded Auth0 object.
    pub id: Option<&'a String>,
    /// `status.lastCreationAttempt`: the marker the status has settled.
    pub last_creation_attempt: Option<&'a String>,
    /// Whether an older operator's marker (`status.pendingCreation`) is there.
    pub pending_creation: bool,
}

/// What [`conclude`] needs to know about the pass besides its verdict.
pub struct Ending<'a> {
    /// `metadata.generation` of the object.
    pub generation: Option<i64>,
    /// `metadata.generation` of its tenant (what a held refusal is recorded against).
    pub tenant_generation: i64,
    /// The time of the pass.
    pub now: Timestamp,
    /// The reasons whose refusal is recorded and held until the spec or the tenant changes.
    pub held: &'a [ReadyReason],
    /// Whether Auth0 was compared with the spec (`lastSyncTime` moves).
    pub consulted: bool,
    /// The `Drifted` verdict.
    pub drift: &'a DriftVerdict,
    /// What was compared ("the Auth0 client").
    pub subject: &'a str,
    /// The message of `Ready=True, Synced`.
    pub synced: String,
}

/// The end of a pass in its status, the same for every kind: nothing for
/// [`Verdict::Unchanged`]; `Ready=True, Synced` with the last sync, the `Drifted` condition and
/// no recorded refusal; or `Ready=False` with the failure's reason, recording the refusal when
/// its reason is held.
pub fn conclude<P>(parts: StatusParts<'_, P>, verdict: &Verdict, ending: Ending<'_>) {
    let now = ending.now;
    let (ready, reason, message) = match verdict {
        Verdict::Unchanged => return,
        Verdict::Synced => {
            if ending.consulted || parts.last_sync_time.is_none() {
                *parts.last_sync_time = Some(Time(now));
            }
            *parts.auth0_rejection = None;
            apply_drift(
                parts.conditions,
                parts.reported_drift,
                ending.drift,
                ending.generation,
                now,
                ending.subject,
            );
            (ConditionStatus::True, ReadyReason::Synced, ending.synced)
        }
        Verdict::Failed(failure) => {
            *parts.auth0_rejection =
                ending
                    .held
                    .contains(&failure.reason)
                    .then(|| Auth0Rejection {
                        generation: ending.generation.unwrap_or(0),
                        tenant_generation: ending.tenant_generation,
                    });
            (
                ConditionStatus::False,
                failure.reason,
                failure.message.clone(),
            )
        }
    };
    *parts.observed_generation = ending.generation;
    conditions::merge_condition(
        parts.conditions,
        conditions::new_condition(
            READY,
            ready,
            reason.as_str(),
            message,
            ending.generation,
            now,
        ),
    );
}

/// The status `base` of `owner` with `Ready=False` for a failure found before any plan
/// (tenant, namespace, validation, a cleanup that cannot finish): a refusal recorded earlier
/// stays only when this reason is one of the `held` ones.
pub fn failed<K: Kind>(
    base: &K::Status,
    owner: &K,
    failure: &Failure,
    held: &[ReadyReason],
    now: Timestamp,
) -> K::Status {
    let mut status = base.clone();
    let parts = K::parts(&mut status);
    let generation = owner.meta().generation;
    *parts.observed_generation = generation;
    if !held.contains(&failure.reason) {
        *parts.auth0_rejection = None;
    }
    conditions::merge_condition(
        parts.conditions,
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

/// A failed Auth0 call, as the pass sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Auth0Failure {
    /// Ready=False with this failure.
    Failed(Failure),
    /// Auth0 refused the tenant's credentials: the AuthTenant reconciler checks them and wakes
    /// this object; it does not retry on its own.
    Tenant,
}

/// Maps an Auth0 error to what the pass reports. `action` says what was attempted; the message
/// holds Auth0's answer and nothing that changes from one attempt to the next.
pub fn auth0_failure(action: &str, error: &Auth0Error) -> Auth0Failure {
    let failed = |reason, retry| {
        Auth0Failure::Failed(Failure {
            reason,
            message: format!("{action}: {error}"),
            retry,
        })
    };
    let rate_limited = |retry| {
        Auth0Failure::Failed(Failure {
            reason: ReadyReason::RateLimited,
            message: format!(
                "{action}: the tenant's Management API rate limit is reached; retried at the advertised reset"
            ),
            retry,
        })
    };
    match error {
        Auth0Error::RateLimited { retry_after } => rate_limited(Retry::After(*retry_after)),
        Auth0Error::Token { status, .. }
            if status.is_some_and(|s| (400..500).contains(&s) && s != 429) =>
        {
            Auth0Failure::Tenant
        }
        Auth0Error::Api { status: 401, .. } => Auth0Failure::Tenant,
        Auth0Error::Api { status: 429, .. } => rate_limited(Retry::Backoff),
        Auth0Error::Api {
            status: 403 | 404 | 409,
            ..
        } => failed(ReadyReason::Auth0Refused, Retry::Backoff),
        Auth0Error::Api { status, .. } if (400..500).contains(status) => {
            failed(ReadyReason::Auth0Rejected, Retry::AwaitChange)
        }
        _ => failed(ReadyReason::Auth0Unavailable, Retry::Backoff),
    }
}

/// The verdict of a pass whose steps stopped on `failure`: Ready=False with an Auth0 failure,
/// or unchanged when Auth0 refused the tenant's credentials (the tenant's check wakes the
/// object); `None` when no step failed.
pub fn stopped_by(failure: Option<&Auth0Failure>) -> Option<Verdict> {
    match failure? {
        Auth0Failure::Failed(failure) => Some(Verdict::Failed(failure.clone())),
        Auth0Failure::Tenant => Some(Verdict::Unchanged),
    }
}

/// Whether a failed create certainly created nothing (the crash-safety marker can go).
pub fn created_nothing(error: &Auth0Error) -> bool {
    match error {
        Auth0Error::RateLimited { .. } | Auth0Error::Token { .. } | Auth0Error::Config { .. } => {
            true
        }
        Auth0Error::Api { status, .. } => *status < 500,
        Auth0Error::Transport { .. } | Auth0Error::Decode { .. } => false,
    }
}

/// What the crash-safety marker becomes.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Pending<T> {
    /// As it was.
    #[default]
    Unchanged,
    /// Written this pass (the create may have reached Auth0).
    Set(T),
    /// Gone: the create succeeded, or certainly created nothing.
    Cleared,
}

/// The methods of [`Kind`] that read the fields every kind's object and status name alike
/// (`spec.tenant`, `status.conditions`...); `$id`: the status field of the recorded Auth0
/// object's id.
macro_rules! shared_fields {
    ($id:ident) => {
        fn status(obj: &Self) -> Option<&Self::Status> {
            obj.status.as_ref()
        }

        fn tenant(obj: &Self) -> &str {
            &obj.spec.tenant
        }

        fn view(status: &Self::Status) -> StatusView<'_> {
            StatusView {
                conditions: &status.conditions,
                observed_generation: status.observed_generation,
                auth0_rejection: status.auth0_rejection.as_ref(),
                id: status.$id.as_ref(),
                last_creation_attempt: status.last_creation_attempt.as_ref(),
                pending_creation: status.pending_creation.is_some(),
            }
        }

        fn parts(status: &mut Self::Status) -> StatusParts<'_, Self::PendingCreation> {
            StatusParts {
                conditions: &mut status.conditions,
                observed_generation: &mut status.observed_generation,
                last_sync_time: &mut status.last_sync_time,
                auth0_rejection: &mut status.auth0_rejection,
                reported_drift: &mut status.reported_drift,
                id: &mut status.$id,
                tenant: &mut status.tenant,
                last_creation_attempt: &mut status.last_creation_attempt,
                pending_creation: &mut status.pending_creation,
            }
        }
    };
}

/// Errors that abort a pass of any kind (Kubernetes API errors above all): retried by the error
/// policy. The AuthResourceServer has no others; the AuthClient's error type wraps them
/// (`From<PassError>`).
#[derive(Debug, thiserror::Error)]
pub enum PassError {
    /// A Kubernetes API call failed.
    #[error("Kubernetes API error: {0}")]
    Kube(#[from] kube::Error),
    /// The object is missing a namespace (impossible for a namespaced resource); the kind.
    #[error("{0} has no namespace")]
    MissingNamespace(String),
    /// The object has no uid yet (it was never stored by the API server); the kind.
    #[error("{0} has no uid")]
    MissingUid(String),
    /// The cleanup could not finish yet (its condition says why).
    #[error("cleanup pending: {0}")]
    CleanupPending(String),
}

impl PassError {
    /// [`PassError::MissingUid`] of an object of kind `K`.
    pub fn missing_uid<K: Resource<DynamicType = ()>>() -> Self {
        PassError::MissingUid(K::kind(&()).into_owned())
    }
}

/// A kind reconciled by a pass: its status type, and what the context keeps for it.
pub trait Kind: crate::scope::Namespaced {
    /// The status of the kind.
    type Status: Clone + PartialEq + Serialize + Default + Send + Sync;
    /// What the drift scan finds about an object of the kind.
    type Finding;
    /// The kind's `status.pendingCreation` (an older operator's crash-safety marker).
    type PendingCreation;
    /// The key an object's crash-safety marker names, as its passes know it: an AuthClient's
    /// Auth0 ownership tag (whose cluster and uid make the key), an AuthResourceServer's
    /// `<cluster>/<uid>` ([`crate::marker::tag_key`]).
    type Tag: ?Sized;
    /// Whether synced objects of the kind are revisited by [`crate::resync::sweep`] (no
    /// scheduled requeue held per object: what lets a fleet of 100,000 AuthClients fit, issue
    /// 23) rather than by a requeue after the resync interval each.
    const SWEPT: bool;

    /// The status as stored, if any.
    fn status(obj: &Self) -> Option<&Self::Status>;

    /// The name of the object's AuthTenant.
    fn tenant(obj: &Self) -> &str;

    /// What a plan reads of `status`.
    fn view(status: &Self::Status) -> StatusView<'_>;

    /// The conditions of `status`.
    fn conditions(status: &Self::Status) -> &[Condition] {
        Self::view(status).conditions
    }

    /// The parts of `status` every kind ends a pass the same way ([`conclude`]).
    fn parts(status: &mut Self::Status) -> StatusParts<'_, Self::PendingCreation>;

    /// The key of `obj` in the backoff and the Ready gauge (distinct across kinds).
    fn key(obj: &Self) -> String;

    /// Puts the answer of the operator's own metadata write ([`crate::marker::claim`]) into
    /// the kind's cache at once (a later pass plans from its resourceVersion).
    fn observe_own_write(ctx: &Context, written: Self);

    /// The context's wake-ups, findings, Ready states and tenant waits of the kind.
    fn per_kind(ctx: &Context) -> &PerKind<Self, Self::Finding>;
}

impl Kind for AuthClient {
    type Status = AuthClientStatus;
    type Finding = ScanFinding;
    type PendingCreation = nexus_crd::PendingCreation;
    type Tag = crate::ownership::OwnershipTag;
    const SWEPT: bool = true;

    shared_fields!(client_id);

    fn key(obj: &Self) -> String {
        object_key(obj)
    }

    fn observe_own_write(ctx: &Context, written: Self) {
        // During a large fleet's initial list the watch that would deliver it has not started.
        ctx.caches.own_clients.observe(written);
    }

    fn per_kind(ctx: &Context) -> &PerKind<Self, Self::Finding> {
        &ctx.clients
    }
}

impl Kind for AuthResourceServer {
    type Status = AuthResourceServerStatus;
    type Finding = ServerFinding;
    type PendingCreation = nexus_crd::PendingResourceServer;
    type Tag = str;
    const SWEPT: bool = false;

    shared_fields!(resource_server_id);

    fn key(obj: &Self) -> String {
        format!("ars/{}", object_key(obj))
    }

    fn observe_own_write(ctx: &Context, mut written: Self) {
        crate::caches::strip(&mut written);
        ctx.caches
            .resource_servers
            .apply(&kube::runtime::watcher::Event::Apply(written));
    }

    fn per_kind(ctx: &Context) -> &PerKind<Self, Self::Finding> {
        &ctx.servers
    }
}

/// Everything a plan is made from, whatever the kind: the object, its status as stored, its
/// tenant's generation, the time of the pass and what the drift scan found; `X`: what the
/// kind adds (the key its crash-safety marker names, an AuthClient's Secret...).
pub struct Input<'a, K: Kind, X> {
    /// The object.
    pub owner: &'a K,
    /// Its status as stored.
    pub status: &'a K::Status,
    /// The key its crash-safety marker names ([`Kind::Tag`]).
    pub tag: &'a K::Tag,
    /// `metadata.generation` of its AuthTenant.
    pub tenant_generation: i64,
    /// The current time.
    pub now: Timestamp,
    /// What the drift scan found, if it triggered this pass.
    pub finding: Option<&'a K::Finding>,
    /// What the kind adds.
    pub extra: X,
}

/// The [`Input`] of a pass of `owner` (its status as stored, `status`) at `now`, from what
/// the kind's resolve found (`resolved`, whose `tag`, `tenant` and drift `finding` every kind
/// names alike) and the kind's own part (`extra`).
macro_rules! input {
    ($owner:expr, $status:expr, $resolved:expr, $now:expr, $extra:expr) => {
        $crate::pass::Input {
            owner: $owner,
            status: $status,
            tag: &$resolved.tag,
            tenant_generation: $resolved.tenant.metadata.generation.unwrap_or(0),
            now: $now,
            finding: $resolved.finding.as_ref(),
            extra: $extra,
        }
    };
}
pub(crate) use input;

impl<K: Kind, X: Copy> Clone for Input<'_, K, X> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<K: Kind, X: Copy> Copy for Input<'_, K, X> {}

impl<K: Kind, X> Input<'_, K, X> {
    /// `metadata.generation` of the object (0 if the server gave none).
    pub fn generation(&self) -> i64 {
        self.owner.meta().generation.unwrap_or(0)
    }

    /// Whether the spec changed since the status was written.
    pub fn spec_changed(&self) -> bool {
        K::view(self.status).observed_generation != Some(self.generation())
    }

    /// Whether Ready is True in the stored status.
    pub fn was_ready(&self) -> bool {
        conditions::is_true(K::conditions(self.status), READY)
    }
}

/// The refusal recorded in `status.auth0Rejection` while the spec and the tenant are the ones
/// refused (their generations): `None` when none holds; else the failure the stored `Ready`
/// condition states when its reason is one of `held` (`None` inside when it states another).
pub fn rejection<K: Kind, X>(
    input: &Input<'_, K, X>,
    held: &[ReadyReason],
) -> Option<Option<Failure>> {
    let view = K::view(input.status);
    let rejection = view.auth0_rejection?;
    if rejection.generation != input.generation()
        || rejection.tenant_generation != input.tenant_generation
    {
        return None;
    }
    Some(conditions::find(view.conditions, READY).and_then(|ready| {
        let reason = ReadyReason::parse(&ready.reason).filter(|r| held.contains(r))?;
        Some(Failure::permanent(reason, ready.message.clone()))
    }))
}

/// What is known about the recorded Auth0 object of a pass when planning (an AuthClient's own
/// view, which knows more, is made from it).
#[derive(Clone, Debug, PartialEq)]
pub enum View<T> {
    /// Not read: the status is trusted (Ready, spec unchanged, no drift finding).
    Trusted,
    /// No object was ever recorded.
    Absent,
    /// The object as Auth0 returned it (a GET, or the drift scan's listed copy).
    Found(Box<T>),
    /// The recorded object no longer exists.
    Missing,
}

/// What a pass knows of its recorded Auth0 object without reading it: what the drift scan
/// found (missing; or listed, and different, while the spec is unchanged), or the status,
/// trusted while Ready with the spec unchanged and no finding. `None`: read it.
pub fn recorded<K, T, X>(input: &Input<'_, K, X>) -> Option<View<T>>
where
    K: Kind<Finding = Finding<T>>,
    T: Clone,
{
    let spec_changed = input.spec_changed();
    match input.finding {
        Some(Finding::Missing) => Some(View::Missing),
        Some(Finding::Drifted(listed)) if !spec_changed => Some(View::Found(listed.clone())),
        finding if spec_changed || !input.was_ready() || finding.is_some() => None,
        _ => Some(View::Trusted),
    }
}

/// The status of `obj` as stored (default when there is none yet).
pub fn stored<K: Kind>(obj: &K) -> K::Status {
    K::status(obj).cloned().unwrap_or_default()
}

/// `namespace/name` of the object (metrics and backoff key).
pub fn object_key<K: kube::Resource>(obj: &K) -> String {
    format!("{}/{}", obj.namespace().unwrap_or_default(), obj.name_any())
}

/// The key of `obj` in the backoff and the Ready gauge ([`Kind::key`]).
pub fn key<K: Kind>(obj: &K) -> String {
    K::key(obj)
}

/// The one status patch of the crate: the whole `status` of the object `name` with
/// server-side apply on the status subresource (field manager [`FIELD_MANAGER`]),
/// conditional on `resource_version` when given. A pass writes through its [`Writer`]; the
/// AuthTenant reconciler calls this for its `Ready` condition.
pub async fn apply_status<K>(
    api: &Api<K>,
    name: &str,
    status: &impl Serialize,
    resource_version: Option<String>,
) -> Result<K, kube::Error>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + fmt::Debug,
{
    let mut metadata = json!({"name": name});
    if let Some(rv) = resource_version {
        metadata["resourceVersion"] = json!(rv);
    }
    let patch = json!({
        "apiVersion": K::api_version(&()),
        "kind": K::kind(&()),
        "metadata": metadata,
        "status": status,
    });
    api.patch_status(
        name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&patch),
    )
    .await
}

/// The status of a pass's object, through [`apply_status`]. Returns the new resourceVersion.
async fn write_status<K: Kind>(
    ctx: &Context,
    owner: &K,
    status: &K::Status,
    resource_version: Option<String>,
) -> Result<Option<String>, kube::Error> {
    let api = Api::<K>::namespaced(ctx.kube.clone(), &owner.namespace().unwrap_or_default());
    let written = apply_status(&api, &owner.name_any(), status, resource_version).await?;
    Ok(written.resource_version())
}

/// The one status writer of a pass, owned by the driver and handed to the executors: it
/// knows the status as stored (or as this pass last wrote it) and the resourceVersion every
/// write of the pass is conditional on (the one the pass planned from, or the one its own
/// metadata write or status record left). A record mid-pass ([`Writer::record`]) and the
/// final status of [`finish`] are the same write.
pub struct Writer<'a, K: Kind> {
    ctx: &'a Context,
    owner: &'a K,
    status: K::Status,
    resource_version: Option<String>,
}

impl<'a, K: Kind> Writer<'a, K> {
    /// The writer of a pass of `owner` whose status is stored as `stored`.
    pub fn new(ctx: &'a Context, owner: &'a K, stored: &K::Status) -> Self {
        Self {
            ctx,
            owner,
            status: stored.clone(),
            resource_version: owner.resource_version(),
        }
    }

    /// The status as stored, or as this pass last wrote it.
    pub fn status(&self) -> &K::Status {
        &self.status
    }

    /// After the pass's own metadata write ([`crate::marker::claim`]): the writes that follow
    /// are conditional on the resourceVersion it returned.
    pub fn claimed(&mut self, resource_version: Option<String>) {
        self.resource_version = resource_version;
    }

    /// Writes `status` now, before the steps that rely on it (the pending kid of a key
    /// rotation), conditional on the pass's resourceVersion: a stale pass gets 409 and goes
    /// no further.
    pub async fn record(&mut self, status: K::Status) -> Result<(), kube::Error> {
        let written =
            write_status(self.ctx, self.owner, &status, self.resource_version.clone()).await?;
        self.status = status;
        self.resource_version = written;
        Ok(())
    }

    /// The final write of the pass: `next`, when it differs from what is stored.
    async fn settle(self, next: &K::Status) -> Result<(), kube::Error> {
        if self.status != *next {
            write_status(self.ctx, self.owner, next, self.resource_version).await?;
        }
        Ok(())
    }
}

/// Publishes `note` as an event of `owner`.
pub async fn publish<K: Kind>(ctx: &Context, owner: &K, note: Note) {
    let type_ = if note.warning {
        EventType::Warning
    } else {
        EventType::Normal
    };
    ctx.event(
        owner,
        type_,
        note.reason.as_str(),
        note.action.as_str(),
        note.message,
    )
    .await;
}

/// The one exit of a pass: publishes the event (before the status write, so nothing is
/// written after the condition), writes the status through the pass's [`Writer`] when it
/// differs from what is stored, updates the gauge, and says when to look again (`wake`: a
/// deadline of the kind's own that comes before the resync of a synced object).
pub async fn finish<K: Kind>(
    writer: Writer<'_, K>,
    next: K::Status,
    event: Option<Note>,
    verdict: &Verdict,
    wake: Option<Duration>,
) -> Result<Action, kube::Error> {
    let (ctx, owner) = (writer.ctx, writer.owner);
    let key = K::key(owner);
    if let Some(note) = event {
        publish(ctx, owner, note).await;
    }
    writer.settle(&next).await?;
    if let Some(ready) = conditions::find(K::conditions(&next), READY) {
        K::per_kind(ctx).set_ready_state(
            &key,
            Some(ConditionLabels {
                ready: ready.status.clone(),
                reason: ready.reason.clone(),
            }),
        );
    }
    let action = verdict.action(ctx, &key, K::SWEPT);
    match (wake, verdict) {
        // Synced objects wait for the resync; a deadline due sooner keeps its own requeue.
        (Some(wake), Verdict::Synced) if wake < ctx.config.resync_interval => {
            Ok(Action::requeue(wake))
        }
        _ => Ok(action),
    }
}

/// What a cleanup under the finalizer did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Released {
    /// The object held nothing in Auth0: nothing was done, nothing is published.
    Nothing,
    /// Done: what was done (the note of the one `Deleted` event).
    Done(String),
    /// The failure that stops the cleanup.
    Failed(Failure),
}

impl From<Result<String, Failure>> for Released {
    fn from(result: Result<String, Failure>) -> Self {
        match result {
            Ok(note) => Released::Done(note),
            Err(failure) => Released::Failed(failure),
        }
    }
}

/// The end of a cleanup under the finalizer, through the pass's `writer`. `released`: nothing
/// held or done (the object leaves the gauge, its backoff is forgotten; when done, one
/// `Deleted` event), or the failure that stops it (`Ready=False, Deleting`, from `deleting`,
/// written through [`finish`] when it changed; the message is returned for the error policy
/// to retry, whose backoff [`finish`] leaves alone). `subject` names what stays in Auth0 under
/// `deletionPolicy: Orphan` ("the Auth0 client").
pub async fn finish_cleanup<K: Kind>(
    writer: Writer<'_, K>,
    released: Released,
    subject: &str,
    deleting: impl FnOnce(&Failure) -> K::Status,
) -> Result<Result<Action, String>, kube::Error> {
    let (ctx, owner) = (writer.ctx, writer.owner);
    let key = K::key(owner);
    match released {
        Released::Nothing => {
            ctx.reset_backoff(&key);
            K::per_kind(ctx).set_ready_state(&key, None);
            Ok(Ok(Action::await_change()))
        }
        Released::Done(note) => {
            ctx.reset_backoff(&key);
            K::per_kind(ctx).set_ready_state(&key, None);
            publish(
                ctx,
                owner,
                Note::normal(EventReason::Deleted, EventAction::Delete, note),
            )
            .await;
            Ok(Ok(Action::await_change()))
        }
        Released::Failed(failure) => {
            let message = format!(
                "cannot finish deletion: {}; fix it, or set spec.deletionPolicy: Orphan to leave {subject}",
                failure.message
            );
            let next = deleting(&Failure::permanent(ReadyReason::Deleting, message.clone()));
            finish(writer, next, None, &Verdict::Unchanged, None).await?;
            Ok(Err(message))
        }
    }
}

/// The AuthTenant `name` from the cache, or the failure of an object that names a tenant that
/// does not exist.
pub fn tenant(ctx: &Context, name: &str) -> Result<std::sync::Arc<nexus_crd::AuthTenant>, Failure> {
    ctx.caches.tenant(name).ok_or_else(|| {
        Failure::permanent(
            ReadyReason::TenantNotFound,
            format!("AuthTenant '{name}' does not exist; create it or fix spec.tenant"),
        )
    })
}

/// What a cleanup of `owner` under the finalizer talks to: the Auth0 client of its tenant,
/// from the caches.
pub struct Cleanup<'a, K: Kind> {
    ctx: &'a Context,
    owner: &'a K,
    /// The Auth0 client of the owner's tenant.
    pub auth0: std::sync::Arc<auth0_mgmt::TenantClient>,
}

impl<'a, K: Kind> Cleanup<'a, K> {
    /// The cleanup of `owner`: a tenant that does not exist (`TenantNotFound`), or whose
    /// credentials are not usable (`TenantNotReady`), is the failure that stops it.
    pub fn start(ctx: &'a Context, owner: &'a K) -> Result<Self, Failure> {
        let name = K::tenant(owner);
        let tenant = ctx.caches.tenant(name).ok_or_else(|| {
            Failure::permanent(
                ReadyReason::TenantNotFound,
                format!("AuthTenant '{name}' does not exist"),
            )
        })?;
        let credentials = ctx
            .caches
            .credentials
            .get(&crate::caches::SecretKey::of(&tenant));
        let auth0 =
            crate::tenant_access::client_from_cache(&ctx.auth0, &tenant, credentials.as_ref())
                .map_err(|e| {
                    Failure::permanent(
                        ReadyReason::TenantNotReady,
                        format!("AuthTenant '{}' is not ready: {e}", tenant.name_any()),
                    )
                })?;
        Ok(Self { ctx, owner, auth0 })
    }

    /// An Auth0 error of the cleanup as the failure that stops it; refused tenant credentials
    /// also make the owner wait for its tenant's next check.
    pub fn failure(&self, action: &str, error: &Auth0Error) -> Failure {
        match auth0_failure(action, error) {
            Auth0Failure::Failed(failure) => failure,
            Auth0Failure::Tenant => {
                let tenant_name = K::tenant(self.owner);
                K::per_kind(self.ctx).wait_for_tenant(
                    tenant_name,
                    kube::runtime::reflector::ObjectRef::from_obj(self.owner),
                );
                Failure::permanent(
                    ReadyReason::TenantNotReady,
                    format!(
                        "{action}: Auth0 refused the credentials of AuthTenant '{tenant_name}': {error}"
                    ),
                )
            }
        }
    }
}

/// Counts a finished reconcile in the controller's metrics (its duration, ok or error).
pub fn record_reconcile(ctx: &Context, started: std::time::Instant, ok: bool) {
    ctx.metrics
        .reconcile_duration
        .observe(started.elapsed().as_secs_f64());
    let label = if ok { "ok" } else { "error" };
    ctx.metrics
        .reconciles
        .get_or_create(&crate::metrics::ResultLabels {
            result: label.into(),
        })
        .inc();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_reasons_are_the_names_kubectl_shows() {
        assert_eq!(EventReason::DriftCorrected.as_str(), "DriftCorrected");
        assert_eq!(
            EventReason::Ready(ReadyReason::Synced).as_str(),
            ReadyReason::Synced.as_str()
        );
        assert_eq!(EventAction::Recreate.as_str(), "Recreate");
    }

    #[test]
    fn a_rate_limit_retries_at_the_advertised_reset() {
        let failure = auth0_failure(
            "creating the Auth0 client",
            &Auth0Error::RateLimited {
                retry_after: Duration::from_secs(7),
            },
        );
        assert!(matches!(
            failure,
            Auth0Failure::Failed(Failure {
                reason: ReadyReason::RateLimited,
                retry: Retry::After(d),
                ..
            }) if d == Duration::from_secs(7)
        ));
    }
}
