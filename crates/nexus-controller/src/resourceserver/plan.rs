//! The pure heart of an AuthResourceServer reconcile: from the spec, the stored status and what
//! is known about the Auth0 API, decide what to read ([`lookup`]) and then what to do
//! ([`plan`]). No I/O.

use super::desired::{self, ApiDrift};
use crate::marker;
use crate::pass::{self, DriftVerdict, EventAction, EventReason, Failure, Note};
use auth0_mgmt::{NewResourceServer, ResourceServer, ResourceServerPatch};
use kube::ResourceExt;
use nexus_crd::{AuthResourceServer, DriftPolicy, FINALIZER, ReadyReason};

/// Reasons whose refusal is recorded in `status.auth0Rejection` and held (no Auth0 call) until
/// the spec or the tenant changes.
pub const HELD_REASONS: [ReadyReason; 2] =
    [ReadyReason::Auth0Rejected, ReadyReason::IdentifierInUse];

/// Everything a plan is made from (the [`pass::Input`] of every kind; an AuthResourceServer
/// adds nothing).
pub type Input<'a> = pass::Input<'a, AuthResourceServer, ()>;

impl Input<'_> {
    /// Whether a create may have reached Auth0 without its outcome being recorded: the
    /// marker annotation of this object that the status has not settled, or a
    /// `status.pendingCreation` of an older operator.
    pub fn pending(&self) -> bool {
        marker::pending(self.owner, self.tag, self.status)
    }

    /// Whether the unsettled attempt is one whose identifier was probed free just before it
    /// (so an API that has the identifier now is this object's): always for the annotation,
    /// written only after a probe; for an older operator's marker, when it says so.
    pub fn probed_free(&self) -> bool {
        self.annotated()
            || self.status.pending_creation.as_ref().is_some_and(|marker| {
                marker.probed && marker.identifier == self.owner.spec.identifier
            })
    }

    fn annotated(&self) -> bool {
        marker::unsettled(
            self.owner,
            self.tag,
            self.status.last_creation_attempt.as_ref(),
        )
    }
}

/// What must be read from Auth0 before planning.
#[derive(Clone, Debug, PartialEq)]
pub enum Lookup {
    /// Nothing.
    Known(View),
    /// `GET /api/v2/resource-servers/{id}`.
    Get(String),
}

/// What is known about the Auth0 API when planning.
pub type View = pass::View<ResourceServer>;

/// One thing to do, in order.
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    /// `GET /api/v2/resource-servers/{identifier}` before the marker: an API that already has
    /// the identifier is someone else's (`IdentifierInUse`, nothing created). Resource servers
    /// carry no metadata to tag, so this is what later lets an uncertain create recover its
    /// own API (the identifier is the tenant's unique key, and it was free just before).
    Probe,
    /// One metadata write before the create request: the crash-safety marker (the
    /// `auth.nexus.dev/creation-attempt` annotation) and the finalizer when it is missing,
    /// conditional on the resourceVersion the pass planned from ([`marker::claim`]).
    Mark,
    /// One metadata write of the finalizer alone, when the object holds an API and lacks it
    /// (it was removed by hand); conditional like [`Step::Mark`].
    Finalize,
    /// `POST /api/v2/resource-servers`. `uncertain`: an earlier attempt's outcome is unknown
    /// (the marker was already there), so a 409 may be our own API.
    Create {
        /// The body.
        body: Box<NewResourceServer>,
        /// Whether a 409 may answer an earlier attempt of ours.
        uncertain: bool,
    },
    /// `PATCH /api/v2/resource-servers/{id}` with only the differing fields.
    Patch(Box<ResourceServerPatch>, Option<Note>),
}

/// What a pass will do.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Plan {
    /// The steps, in order.
    pub steps: Vec<Step>,
    /// The API id known before any step.
    pub resource_server_id: Option<String>,
    /// The recorded API is gone (the status loses its id).
    pub forget: bool,
    /// Whether Auth0 was compared with the spec.
    pub consulted: bool,
    /// The `Drifted` condition.
    pub drift: DriftVerdict,
    /// Events of what the plan found.
    pub notes: Vec<Note>,
}

/// Decides what to read, or fails without any call (a refusal recorded for this spec and
/// tenant).
pub fn lookup(input: &Input<'_>) -> Result<Lookup, Failure> {
    // A refusal is held only while the `Ready` condition still states it.
    if let Some(held) = pass::rejection(input, &HELD_REASONS).flatten() {
        return Err(held);
    }
    let Some(id) = input.status.resource_server_id.as_deref() else {
        return Ok(Lookup::Known(View::Absent));
    };
    Ok(match pass::recorded(input) {
        Some(view) => Lookup::Known(view),
        None => Lookup::Get(id.to_owned()),
    })
}

/// Plans the pass from what is known about the Auth0 API.
pub fn plan(input: &Input<'_>, view: View) -> Plan {
    let spec = &input.owner.spec;
    let mut plan = Plan::default();
    match view {
        View::Trusted => {
            plan.resource_server_id = input.status.resource_server_id.clone();
            finalize(input, &mut plan);
        }
        View::Absent => create(input, &mut plan),
        View::Missing => {
            plan.notes.push(Note::warning(
                EventReason::ResourceServerMissing,
                EventAction::Recreate,
                format!(
                    "Auth0 API {} was deleted outside the operator; creating it again",
                    input
                        .status
                        .resource_server_id
                        .as_deref()
                        .unwrap_or_default()
                ),
            ));
            plan.forget = true;
            create(input, &mut plan);
        }
        View::Found(found) => {
            let spec_cause = input.spec_changed();
            let drift = desired::diff(spec, &found);
            plan.resource_server_id = Some(found.id.clone());
            finalize(input, &mut plan);
            plan.consulted = true;
            plan.drift = verdict(&mut plan, drift, spec_cause, spec.drift_policy, &found.id);
            plan.notes.extend(pass::drift_detected(
                &plan.drift,
                &input.status.reported_drift,
            ));
        }
    }
    plan
}

/// A finalizer removed by hand from an object that holds an API is put back before anything
/// else (its cleanup deletes the API).
fn finalize(input: &Input<'_>, plan: &mut Plan) {
    if plan.resource_server_id.is_some() && !input.owner.finalizers().iter().any(|f| f == FINALIZER)
    {
        plan.steps.push(Step::Finalize);
    }
}

fn create(input: &Input<'_>, plan: &mut Plan) {
    // The marker of an earlier attempt is kept (after a missing API it was settled when that
    // API was recorded, so a new one is written).
    let uncertain = input.pending() && !plan.forget;
    if !uncertain {
        plan.steps.push(Step::Probe);
        plan.steps.push(Step::Mark);
    }
    plan.steps.push(Step::Create {
        body: Box::new(desired::create_body(&input.owner.spec)),
        uncertain,
    });
    plan.resource_server_id = None;
    plan.consulted = true;
    plan.drift = DriftVerdict::InSync;
}

/// The steps and verdict for a difference found in Auth0: pushed when the spec changed (or
/// `driftPolicy` is Correct), reported otherwise.
pub fn verdict(
    plan: &mut Plan,
    drift: ApiDrift,
    spec_cause: bool,
    policy: DriftPolicy,
    id: &str,
) -> DriftVerdict {
    let what = format!("Auth0 API {id}");
    let (verdict, note) = pass::drift_response(drift.fields, spec_cause, policy, &what);
    if let Some(note) = note {
        plan.steps
            .push(Step::Patch(Box::new(drift.patch), Some(note)));
    }
    verdict
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::ServerFinding;
    use k8s_openapi::jiff::Timestamp;
    use nexus_crd::conditions::ConditionStatus;
    use nexus_crd::{Auth0Rejection, AuthResourceServerStatus};
    use serde_json::json;

    const TAG: &str = "c1/uid-1";

    fn now() -> Timestamp {
        Timestamp::from_second(1_800_000_000).expect("time")
    }

    fn owner(generation: i64) -> AuthResourceServer {
        let mut owner =
            crate::testing::orders_api(generation, json!({"scopes": [{"value": "read:orders"}]}));
        owner.metadata.uid = Some("uid-1".into());
        owner.metadata.finalizers = Some(vec![FINALIZER.into()]);
        owner
    }

    fn ready(generation: i64) -> AuthResourceServerStatus {
        let identifier = "https://orders/api";
        crate::testing::server_status(identifier, generation, ConditionStatus::True, now())
    }

    fn input<'a>(owner: &'a AuthResourceServer, status: &'a AuthResourceServerStatus) -> Input<'a> {
        Input {
            owner,
            status,
            tag: TAG,
            tenant_generation: 1,
            now: now(),
            finding: None,
            extra: (),
        }
    }

    /// The steps of a first create: the probe, the marker, a create no earlier attempt made
    /// uncertain.
    fn assert_first_create(plan: &Plan) {
        assert!(
            matches!(
                plan.steps.as_slice(),
                [
                    Step::Probe,
                    Step::Mark,
                    Step::Create {
                        uncertain: false,
                        ..
                    }
                ]
            ),
            "{:?}",
            plan.steps
        );
    }

    fn matching(owner: &AuthResourceServer) -> ResourceServer {
        let mut value = serde_json::to_value(desired::create_body(&owner.spec)).expect("json");
        value["id"] = json!("rs1");
        serde_json::from_value(value).expect("api")
    }

    #[test]
    fn a_new_api_is_marked_then_created() {
        let owner = owner(1);
        let status = AuthResourceServerStatus::default();
        let i = input(&owner, &status);
        assert_eq!(lookup(&i), Ok(Lookup::Known(View::Absent)));
        let plan = plan(&i, View::Absent);
        assert_first_create(&plan);
    }

    #[test]
    fn after_an_uncertain_attempt_the_marker_stays_and_a_409_may_be_ours() {
        let owner = owner(1);
        let status = crate::testing::server_pending("https://orders/api");
        let plan = plan(&input(&owner, &status), View::Absent);
        assert!(matches!(
            plan.steps.as_slice(),
            [Step::Create {
                uncertain: true,
                ..
            }]
        ));
    }

    #[test]
    fn an_unsettled_annotation_of_this_object_makes_the_create_uncertain_a_copied_one_does_not() {
        let mut owner = owner(1);
        owner.metadata.finalizers = None;
        let value = marker::new_value(&owner, TAG, now());
        owner
            .metadata
            .annotations
            .get_or_insert_default()
            .insert(nexus_crd::CREATION_ANNOTATION.into(), value.clone());
        let status = AuthResourceServerStatus::default();
        let i = input(&owner, &status);
        assert!(i.pending() && i.probed_free());
        assert!(matches!(
            plan(&i, View::Absent).steps.as_slice(),
            [Step::Create {
                uncertain: true,
                ..
            }]
        ));
        // The same annotation on another object (another uid): never this object's attempt,
        // so it probes the identifier first and takes no 409 as its own.
        let copied = Input {
            tag: "c1/uid-2",
            ..i
        };
        assert!(!copied.pending() && !copied.probed_free());
        assert_first_create(&plan(&copied, View::Absent));
        // Settled by the status: a new attempt marks again.
        let settled = AuthResourceServerStatus {
            last_creation_attempt: Some(value),
            ..Default::default()
        };
        assert!(!input(&owner, &settled).pending());
    }

    #[test]
    fn an_api_held_without_the_finalizer_gets_it_back_first() {
        let mut owner = owner(3);
        owner.metadata.finalizers = None;
        let status = ready(3);
        assert_eq!(
            plan(&input(&owner, &status), View::Trusted).steps,
            vec![Step::Finalize]
        );
    }

    #[test]
    fn a_ready_unchanged_api_reads_nothing_and_a_spec_change_reads_then_patches() {
        let owner1 = owner(3);
        let status = ready(3);
        assert_eq!(
            lookup(&input(&owner1, &status)),
            Ok(Lookup::Known(View::Trusted))
        );
        assert_eq!(plan(&input(&owner1, &status), View::Trusted).steps, vec![]);
        let mut changed = owner(4);
        let before = matching(&changed);
        changed.spec.name = "Orders v2".into();
        let i = input(&changed, &status);
        assert_eq!(lookup(&i), Ok(Lookup::Get("rs1".into())));
        let plan = plan(&i, View::Found(Box::new(before)));
        let [Step::Patch(patch, Some(note))] = plan.steps.as_slice() else {
            panic!("one patch: {:?}", plan.steps);
        };
        assert_eq!(patch.name.as_deref(), Some("Orders v2"));
        assert_eq!(note.reason, EventReason::Updated);
        assert_eq!(plan.drift, DriftVerdict::Updated(vec!["name".into()]));
    }

    #[test]
    fn drift_is_corrected_or_reported_once() {
        let mut owner = owner(3);
        let mut status = ready(3);
        let mut changed = matching(&owner);
        changed.scopes = Some(vec![]);
        let finding = ServerFinding::Drifted(Box::new(changed.clone()));
        let mut i = input(&owner, &status);
        i.finding = Some(&finding);
        assert_eq!(
            lookup(&i),
            Ok(Lookup::Known(View::Found(Box::new(changed.clone())))),
            "the scanned copy is used"
        );
        let corrected = plan(&i, View::Found(Box::new(changed.clone())));
        assert_eq!(
            corrected.drift,
            DriftVerdict::Corrected(vec!["scopes".into()])
        );
        owner.spec.drift_policy = DriftPolicy::Report;
        let reported = plan(
            &input(&owner, &status),
            View::Found(Box::new(changed.clone())),
        );
        assert_eq!(reported.steps, vec![]);
        assert_eq!(reported.notes[0].reason, EventReason::DriftDetected);
        status.reported_drift = vec!["scopes".into()];
        let again = plan(&input(&owner, &status), View::Found(Box::new(changed)));
        assert!(again.notes.is_empty());
    }

    #[test]
    fn a_missing_api_is_created_again_with_a_new_marker() {
        let owner = owner(3);
        let status = ready(3);
        let finding = ServerFinding::Missing;
        let mut i = input(&owner, &status);
        i.finding = Some(&finding);
        assert_eq!(lookup(&i), Ok(Lookup::Known(View::Missing)));
        let plan = plan(&i, View::Missing);
        assert!(plan.forget);
        assert_first_create(&plan);
        assert_eq!(plan.notes[0].reason, EventReason::ResourceServerMissing);
    }

    #[test]
    fn identifier_in_use_and_rejections_are_held_until_the_spec_or_tenant_changes() {
        let owner = owner(2);
        let message = "identifier 'https://orders/api' is already used in tenant 'acme'";
        let mut status =
            crate::testing::held::<AuthResourceServer>("IdentifierInUse", message, 2, now());
        let held = lookup(&input(&owner, &status)).expect_err("held");
        assert_eq!(held.reason, ReadyReason::IdentifierInUse);
        let mut tenant_changed = input(&owner, &status);
        tenant_changed.tenant_generation = 2;
        assert!(lookup(&tenant_changed).is_ok());
        status.auth0_rejection = Some(Auth0Rejection {
            generation: 1,
            tenant_generation: 1,
        });
        assert!(lookup(&input(&owner, &status)).is_ok(), "a new generation");
    }
}
