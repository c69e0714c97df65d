//! The pure heart of an AuthClient reconcile: from the spec, the stored status, what is known
//! about the Auth0 client and the observed Secret, decide what to read ([`lookup`]) and then
//! what to do ([`plan`]). No I/O; every failure the user can act on is returned as data
//! ([`Failure`]: a reason, a stable message and when to look again).

use std::time::Duration;

use kube::ResourceExt;

use std::collections::BTreeMap;

use super::access::{self, GrantsView};
pub use super::adoption::{adoption_not_allowed, adoption_refusal};
pub use super::input::{AdoptionRights, Auth0View, ClientInput, Input, Lookup, SecretView, Step};
use crate::authclient::desired::{self, DesiredClient};
use crate::authclient::secret::{self, Credentials};
use crate::pass::{self, DriftVerdict, EventAction, EventReason, Failure, Note};
use auth0_mgmt::{Auth0Client, SecretString};
use nexus_crd::{
    AuthClient, ConnectionStatus, DriftPolicy, FINALIZER, GrantStatus, ROTATE_ANNOTATION,
    ReadyReason,
};

/// Everything read before planning: the client, its grants, and the ids of the connections
/// named by the spec for the first time.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Observed {
    /// The client.
    pub client: Auth0View,
    /// Its grants.
    pub grants: GrantsView,
    /// `find_connection` results by name (None: no such connection).
    pub connections: BTreeMap<String, Option<String>>,
}

impl From<Auth0View> for Observed {
    fn from(client: Auth0View) -> Self {
        Observed {
            client,
            ..Observed::default()
        }
    }
}

/// What a pass will do and what the status says if it all succeeds.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Plan {
    /// The steps, in order.
    pub steps: Vec<Step>,
    /// The client id known before any step (None when the plan creates one).
    pub client_id: Option<String>,
    /// The recorded client is gone: the status loses its id (before the marker is written).
    pub forget_client: bool,
    /// The client secret, when already known (from Auth0's answer or the owned Secret).
    pub credential: Option<SecretString>,
    /// Whether Auth0 was compared with the spec (`lastSyncTime` moves).
    pub consulted: bool,
    /// The `Drifted` condition.
    pub drift: DriftVerdict,
    /// Events of what the plan found (adoption, recovery, a client deleted outside).
    pub notes: Vec<Note>,
    /// When rotating: the annotation value to record as `rotationRequest`.
    pub rotation_request: Option<String>,
    /// The grants known before the steps (what the grant steps start from).
    pub grants_before: Vec<GrantStatus>,
    /// The connections known before the steps.
    pub connections_before: Vec<ConnectionStatus>,
    /// A refusal by the governance: the steps only revoke, and the pass ends Ready=False with
    /// this failure.
    pub refusal: Option<Failure>,
}

impl Plan {
    /// Whether the plan creates a client.
    pub fn creates(&self) -> bool {
        self.steps.iter().any(|s| matches!(s, Step::Create(_)))
    }
}

/// Decides what to read from Auth0, or fails without any call (an Auth0 refusal recorded for
/// this spec and tenant, a foreign Secret in the way).
pub fn lookup(input: &Input<'_>) -> Result<Lookup, Failure> {
    if let Some(held) = rejection_hold(input) {
        return Err(held);
    }
    let status = input.status;
    if let Some(adopt) = input.owner.spec.client.id.as_deref()
        && status.client_id.as_deref() != Some(adopt)
        && let Some(refused) = adoption_not_allowed(input, adopt)
    {
        // Decided before any read: nothing is asked of Auth0 about that client.
        return Err(refused);
    }
    if matches!(input.extra.secret, SecretView::Foreign) {
        return Err(secret_conflict(input.owner));
    }
    if let Some(adopt) = input.owner.spec.client.id.as_deref()
        && status.client_id.as_deref() != Some(adopt)
    {
        return Ok(Lookup::Get {
            id: adopt.to_owned(),
            adopting: true,
        });
    }
    if input.pending() {
        // A create may have reached Auth0 unrecorded (even when a client id is recorded: the
        // one it replaces, deleted outside the operator).
        return Ok(Lookup::FindByTag);
    }
    let Some(id) = status.client_id.as_deref() else {
        return Ok(Lookup::Known(Auth0View::Absent));
    };
    Ok(match pass::recorded(input) {
        Some(view) => Lookup::Known(view.into()),
        None => Lookup::Get {
            id: id.to_owned(),
            adopting: false,
        },
    })
}

/// Reasons whose refusal is recorded in `status.auth0Rejection` and held (no Auth0 call) until
/// the spec or the tenant changes: Auth0's permanent refusal of the spec, connections the
/// tenant does not have, and a client whose ownership tag refuses its adoption (read once).
pub const HELD_REASONS: [ReadyReason; 3] = [
    ReadyReason::Auth0Rejected,
    ReadyReason::ConnectionNotFound,
    ReadyReason::AdoptionRefused,
];

/// The refusal recorded in status, while the spec and the tenant are the ones refused.
/// ([`pass::rejection`]; Auth0's refusal when the `Ready` condition no longer says which).
fn rejection_hold(input: &Input<'_>) -> Option<Failure> {
    let held = pass::rejection(input, &HELD_REASONS)?;
    Some(held.unwrap_or_else(|| {
        Failure::permanent(
            ReadyReason::Auth0Rejected,
            "Auth0 refused this spec; change the spec",
        )
    }))
}

fn secret_conflict(owner: &AuthClient) -> Failure {
    Failure::permanent(
        ReadyReason::SecretConflict,
        format!(
            "Secret {}/{} already exists and is not owned by this AuthClient; delete it or set spec.secret.name",
            owner.namespace().unwrap_or_default(),
            owner.secret_name()
        ),
    )
}

/// How a difference found in Auth0 is handled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cause {
    /// The spec changed (or the client is being adopted or recovered): push the spec.
    Spec,
    /// Changed outside the operator: `driftPolicy` decides.
    Outside,
}

/// The plan of a pass whose spec is refused (by the governance, the validation, or the
/// tenant no longer allowing the namespace): only revocations (from the status, no read),
/// then `Ready=False` with `refusal`. `everything`: the namespace may hold nothing of the
/// tenant any more (every recorded grant and connection goes).
pub fn revoke(input: &Input<'_>, refusal: Failure, everything: bool) -> Plan {
    let steps = if everything {
        access::revoke_all(input.status)
    } else {
        access::revocations(&input.owner.spec, input.status, &input.extra.governance)
    };
    let mut plan = Plan {
        steps,
        client_id: input.status.client_id.clone(),
        grants_before: input.status.grants.clone(),
        connections_before: input.status.connections.clone(),
        refusal: Some(refusal),
        ..Plan::default()
    };
    finalize(input, &mut plan);
    plan
}

/// Puts the finalizer in place before anything in Auth0 is this object's: with the marker
/// of a create ([`Step::Mark`] adds it), else by a [`Step::Finalize`] first. An object that
/// holds nothing in Auth0 (a refused spec, never created) gets no finalizer: its deletion has
/// nothing to clean up.
fn finalize(input: &Input<'_>, plan: &mut Plan) {
    let finalized = input.owner.finalizers().iter().any(|f| f == FINALIZER);
    let holds = input.status.client_id.is_some()
        || plan.client_id.is_some()
        || input.pending()
        || !plan.steps.is_empty();
    if finalized || !holds || plan.steps.contains(&Step::Mark) {
        return;
    }
    plan.steps.insert(0, Step::Finalize);
}

/// Plans the pass from what is known about the Auth0 client, its grants and connections.
pub fn plan(input: &Input<'_>, observed: impl Into<Observed>) -> Result<Plan, Failure> {
    let observed = observed.into();
    let view = observed.client;
    let owner = input.owner;
    let spec = &owner.spec;
    let desired =
        DesiredClient::from_spec(&spec.client, input.tag).with_settings(spec.settings.as_ref());
    let outside = matches!(view, Auth0View::Found(_) | Auth0View::Trusted)
        && !input.spec_changed()
        && !input.extra.access.recheck_grants;
    let mut plan = Plan::default();
    match view {
        Auth0View::Trusted => {
            plan.client_id = input.status.client_id.clone();
        }
        Auth0View::Absent => create(input, &mut plan, desired.clone(), true),
        Auth0View::Recovered(None) => create(input, &mut plan, desired.clone(), false),
        Auth0View::Recovered(Some(found)) => {
            plan.notes.push(Note::normal(
                EventReason::Recovered,
                EventAction::Create,
                format!(
                    "found Auth0 client {} created by an interrupted attempt",
                    found.client_id
                ),
            ));
            adopt_view(&mut plan, &desired, *found, Cause::Spec, spec.drift_policy);
        }
        Auth0View::Missing => {
            if spec.client.id.is_some() {
                return Err(Failure::permanent(
                    ReadyReason::ClientNotFound,
                    format!(
                        "the adopted Auth0 client {} no longer exists in tenant '{}'",
                        input.status.client_id.as_deref().unwrap_or_default(),
                        spec.tenant
                    ),
                ));
            }
            plan.notes.push(Note::warning(
                EventReason::ClientMissing,
                EventAction::Recreate,
                format!(
                    "Auth0 client {} was deleted outside the operator; creating it again",
                    input.status.client_id.as_deref().unwrap_or_default()
                ),
            ));
            plan.forget_client = true;
            create(input, &mut plan, desired.clone(), true);
        }
        Auth0View::AdoptMissing(id) => {
            return Err(Failure::permanent(
                ReadyReason::ClientNotFound,
                format!(
                    "spec.client.id '{id}' names no client in tenant '{}'",
                    spec.tenant
                ),
            ));
        }
        Auth0View::Adoptable(found) => {
            if let Some(refused) = adoption_refusal(input, &found) {
                return Err(refused);
            }
            plan.notes.push(Note::normal(
                EventReason::Adopted,
                EventAction::Adopt,
                format!("adopted existing Auth0 client {}", found.client_id),
            ));
            adopt_view(&mut plan, &desired, *found, Cause::Spec, spec.drift_policy);
        }
        Auth0View::Found(found) => {
            let cause = if input.spec_changed() {
                Cause::Spec
            } else {
                Cause::Outside
            };
            adopt_view(&mut plan, &desired, *found, cause, spec.drift_policy);
        }
    }
    if !plan.creates()
        && let Some(request) = rotation_due(input)
    {
        plan.steps.push(Step::Rotate);
        plan.rotation_request = request;
        plan.credential = None;
    }
    let known = access::known_grants(input, &observed.grants);
    let grants = access::plan_grants(input, &known, outside);
    let connections = access::plan_connections(input, &observed.connections)?;
    plan.grants_before = known.into_values().collect();
    plan.connections_before = input.status.connections.clone();
    plan.steps.extend(grants.steps);
    plan.steps.extend(connections.steps);
    let mut drifted = grants.drifted;
    drifted.extend(connections.drifted);
    let mut updated = grants.updated;
    updated.extend(connections.updated);
    plan.drift = access::merge_drift(
        std::mem::take(&mut plan.drift),
        drifted,
        updated,
        spec.drift_policy,
    );
    plan.notes.extend(pass::drift_detected(
        &plan.drift,
        &input.status.reported_drift,
    ));
    plan_secret(input, &mut plan);
    finalize(input, &mut plan);
    Ok(plan)
}

fn create(input: &Input<'_>, plan: &mut Plan, desired: DesiredClient, mark: bool) {
    if mark || !input.pending() {
        plan.steps.push(Step::Mark);
    }
    plan.steps.push(Step::Create(Box::new(desired)));
    plan.client_id = None;
    plan.credential = None;
    plan.consulted = true;
    plan.drift = DriftVerdict::InSync;
}

/// Uses a client read from Auth0: its id, its secret when Auth0 returned one, and the PATCH
/// that brings it in line.
fn adopt_view(
    plan: &mut Plan,
    desired: &DesiredClient,
    found: Auth0Client,
    cause: Cause,
    policy: DriftPolicy,
) {
    // Adoption and recovery publish their own event; the update is part of it.
    let announced = !plan.notes.is_empty();
    let drift = desired::diff(desired, &found);
    plan.client_id = Some(found.client_id.clone());
    plan.credential = found.client_secret.filter(|s| !s.is_empty());
    plan.consulted = true;
    let what = format!("Auth0 client {}", found.client_id);
    let (verdict, note) = pass::drift_response(drift.fields, cause == Cause::Spec, policy, &what);
    if let Some(note) = note {
        // An update that comes with the adoption or recovery is part of its event.
        let updated = matches!(verdict, DriftVerdict::Updated(_));
        let note = (!(announced && updated)).then_some(note);
        plan.steps.push(Step::Patch(Box::new(drift.patch), note));
    }
    plan.drift = verdict;
}

/// Whether a rotation is due; returns the annotation value to record.
fn rotation_due(input: &Input<'_>) -> Option<Option<String>> {
    if input.owner.spec.credentials.is_private_key_jwt() {
        return None; // the key rotates instead (super::keys)
    }
    // Stored in the status as printable text, so compared in that form.
    let request = input
        .owner
        .annotations()
        .get(ROTATE_ANNOTATION)
        .map(|value| nexus_crd::printable::printable(value).into_owned());
    if request.is_some() && request != input.status.rotation_request {
        return Some(request);
    }
    let max_age: Duration = input.owner.spec.secret.rotate_after.map(Into::into)?;
    let last = input.status.last_rotation_time.as_ref()?;
    let age = input.now.duration_since(last.0);
    (age.as_secs_f64() >= max_age.as_secs_f64())
        .then(|| request.or_else(|| input.status.rotation_request.clone()))
}

/// Decides whether the Secret must be written and where its client secret comes from.
fn plan_secret(input: &Input<'_>, plan: &mut Plan) {
    let owned = match input.extra.secret {
        SecretView::Owned(secret) => Some(secret),
        _ => None,
    };
    let existing = owned.is_some();
    let fresh = plan
        .steps
        .iter()
        .any(|s| matches!(s, Step::Create(_) | Step::Rotate));
    if fresh {
        plan.steps.push(Step::ApplySecret { existing });
        return;
    }
    let Some(client_id) = plan.client_id.clone() else {
        return;
    };
    let desired = |client_secret: &str| {
        secret::build_secret(
            input.owner,
            &Credentials {
                assertion: super::keys::expected_assertion(input),
                ..Credentials::for_tenant(
                    input.extra.tenant,
                    client_id.clone(),
                    client_secret.to_owned(),
                )
            },
        )
    };
    if let Some(credential) = plan.credential.clone() {
        // Auth0's answer carried the secret: the Secret must hold exactly that.
        let up_to_date = owned.is_some_and(|observed| {
            desired(credential.expose()).is_ok_and(|d| observed.is_up_to_date(&d))
        });
        if !up_to_date {
            plan.steps.push(Step::ApplySecret { existing });
        }
        return;
    }
    match owned {
        // Intact: its client secret is the one the operator wrote; keep it.
        Some(observed) if observed.intact => {
            let up_to_date = desired("")
                .is_ok_and(|d| observed.is_up_to_date_keeping_its_secret(input.owner, &d));
            if !up_to_date {
                plan.steps.push(Step::ReadSecret);
                plan.steps.push(Step::ApplySecret { existing });
            }
        }
        // Missing or tampered: the secret comes from Auth0.
        _ => {
            plan.steps.push(Step::FetchSecret);
            plan.steps.push(Step::ApplySecret { existing });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authclient::secret::ObservedSecret;
    use crate::context::{AccessFinding, ScanFinding};
    use crate::governance::Governance;
    use crate::ownership::OwnershipTag;
    use crate::pass::Retry;
    use k8s_openapi::api::core::v1::Secret;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    use k8s_openapi::jiff::Timestamp;
    use nexus_crd::conditions::{ConditionStatus, READY, new_condition};
    use nexus_crd::{AdoptionPolicy, AuthClientStatus, AuthTenant};
    use nexus_crd::{Auth0Rejection, PendingCreation};

    const NOW: i64 = 1_800_000_000;

    fn now() -> Timestamp {
        Timestamp::from_second(NOW).expect("time")
    }

    fn owner(generation: i64) -> AuthClient {
        let mut client = crate::testing::client();
        client.spec.client.callbacks = Some(vec!["https://a.example/cb".into()]);
        client.metadata.generation = Some(generation);
        client.metadata.finalizers = Some(vec![FINALIZER.into()]);
        client
    }

    fn tag() -> OwnershipTag {
        OwnershipTag {
            cluster: "c1".into(),
            owner_uid: "uid-1".into(),
            owner_ref: "team-a/orders".into(),
        }
    }

    fn ready_status(generation: i64) -> AuthClientStatus {
        AuthClientStatus {
            observed_generation: Some(generation),
            client_id: Some("cid".into()),
            tenant: Some("acme".into()),
            conditions: vec![new_condition(
                READY,
                ConditionStatus::True,
                "Synced",
                "ok",
                Some(generation),
                now(),
            )],
            last_rotation_time: Some(Time(now())),
            ..Default::default()
        }
    }

    fn input<'a>(
        owner: &'a AuthClient,
        status: &'a AuthClientStatus,
        tag: &'a OwnershipTag,
        secret: SecretView<'a>,
    ) -> Input<'a> {
        Input {
            owner,
            status,
            tag,
            tenant_generation: 1,
            now: now(),
            finding: None,
            extra: ClientInput {
                tenant: tenant(),
                secret,
                access: no_finding(),
                governance: governance(),
                adoption: AdoptionRights {
                    allowed: true,
                    management_client_id: "m2m-client",
                },
            },
        }
    }

    fn no_finding() -> &'static AccessFinding {
        static NONE: std::sync::LazyLock<AccessFinding> =
            std::sync::LazyLock::new(AccessFinding::default);
        &NONE
    }

    /// No AuthResourceServer, no namespace labels, the test tenant.
    fn governance() -> Governance<'static> {
        static LABELS: std::sync::LazyLock<std::collections::BTreeMap<String, String>> =
            std::sync::LazyLock::new(Default::default);
        Governance {
            tenant: tenant(),
            namespace: "team-a",
            labels: &LABELS,
            servers: &[],
        }
    }

    /// The tenant every test plans against.
    fn tenant() -> &'static AuthTenant {
        static TENANT: std::sync::LazyLock<AuthTenant> = std::sync::LazyLock::new(|| {
            serde_json::from_value(serde_json::json!({
                "apiVersion": "auth.nexus.dev/v1alpha1",
                "kind": "AuthTenant",
                "metadata": {"name": "acme"},
                "spec": {
                    "domain": "acme.example",
                    "credentialsSecretRef": {"namespace": "ops", "name": "m2m"},
                    "grantableAudiences": [{"audience": "https://orders/api", "namespaces": {"names": ["team-a"]}, "scopes": ["read", "write"]}],
                    "allowedConnections": [{"name": "corp", "namespaces": {"names": ["team-a"]}}, {"name": "github", "namespaces": {"names": ["team-a"]}}]
                }
            }))
            .expect("tenant")
        });
        &TENANT
    }

    /// The Auth0 client exactly as the spec wants it.
    fn matching(owner: &AuthClient, secret: Option<&str>) -> Auth0Client {
        let desired = DesiredClient::from_spec(&owner.spec.client, &tag())
            .with_settings(owner.spec.settings.as_ref());
        let mut value = serde_json::to_value(desired).expect("json");
        value["client_id"] = serde_json::json!("cid");
        let mut client: Auth0Client = serde_json::from_value(value).expect("client");
        client.client_secret = secret.map(SecretString::new);
        client
    }

    fn owned_secret(owner: &AuthClient, client_secret: &str) -> ObservedSecret {
        ObservedSecret::observe(&built_secret(owner, client_secret))
    }

    fn built_secret(owner: &AuthClient, client_secret: &str) -> Secret {
        secret::build_secret(
            owner,
            &Credentials::for_tenant(tenant(), "cid".into(), client_secret.into()),
        )
        .expect("secret")
    }

    #[test]
    fn a_new_object_marks_creates_and_writes_the_secret() {
        let owner = owner(1);
        let status = AuthClientStatus::default();
        let tag = tag();
        let i = input(&owner, &status, &tag, SecretView::NotCached);
        assert_eq!(lookup(&i), Ok(Lookup::Known(Auth0View::Absent)));
        let plan = plan(&i, Auth0View::Absent).expect("plan");
        assert!(matches!(
            plan.steps.as_slice(),
            [
                Step::Mark,
                Step::Create(_),
                Step::ApplySecret { existing: false }
            ]
        ));
        let Some(Step::Create(body)) = plan.steps.get(1) else {
            panic!("create step");
        };
        assert_eq!(body.client_metadata["nexus_owner_uid"], "uid-1");
        assert!(plan.notes.is_empty(), "the act step reports Created");
    }

    #[test]
    fn a_ready_unchanged_object_plans_nothing_and_reads_nothing() {
        let owner = owner(3);
        let status = ready_status(3);
        let tag = tag();
        let secret = owned_secret(&owner, "s3cr3t");
        let i = input(&owner, &status, &tag, SecretView::Owned(&secret));
        assert_eq!(lookup(&i), Ok(Lookup::Known(Auth0View::Trusted)));
        let plan = plan(&i, Auth0View::Trusted).expect("plan");
        assert_eq!(plan.steps, vec![]);
        assert!(!plan.consulted);
        assert_eq!(plan.drift, DriftVerdict::Unchanged);
    }

    #[test]
    fn a_spec_change_reads_then_patches_only_what_differs() {
        let mut owner = owner(4);
        let status = ready_status(3);
        let tag = tag();
        let secret = owned_secret(&owner, "s3cr3t");
        let before = matching(&owner, None);
        owner.spec.client.callbacks = Some(vec!["https://a.example/new".into()]);
        let i = input(&owner, &status, &tag, SecretView::Owned(&secret));
        assert_eq!(
            lookup(&i),
            Ok(Lookup::Get {
                id: "cid".into(),
                adopting: false
            })
        );
        let plan = plan(&i, Auth0View::Found(Box::new(before))).expect("plan");
        let [Step::Patch(patch, _)] = plan.steps.as_slice() else {
            panic!("one patch: {:?}", plan.steps);
        };
        assert_eq!(
            serde_json::to_value(patch).expect("json"),
            serde_json::json!({"callbacks": ["https://a.example/new"]})
        );
        assert_eq!(plan.drift, DriftVerdict::Updated(vec!["callbacks".into()]));
        assert!(plan.consulted);
    }

    #[test]
    fn a_recorded_rejection_holds_until_the_spec_or_the_tenant_changes() {
        let owner = owner(2);
        let message = "creating the Auth0 client: Auth0 answered 400 invalid_body: too long";
        let mut status = crate::testing::held::<AuthClient>("Auth0Rejected", message, 2, now());
        let tag = tag();
        let held = lookup(&input(&owner, &status, &tag, SecretView::NotCached))
            .expect_err("no Auth0 call");
        assert_eq!(held.reason, ReadyReason::Auth0Rejected);
        assert_eq!(held.retry, Retry::AwaitChange);
        assert!(held.message.contains("too long"), "Auth0's message is kept");

        let mut tenant_changed = input(&owner, &status, &tag, SecretView::NotCached);
        tenant_changed.tenant_generation = 2;
        assert_eq!(
            lookup(&tenant_changed),
            Ok(Lookup::Known(Auth0View::Absent))
        );
        status.auth0_rejection = Some(Auth0Rejection {
            generation: 1,
            tenant_generation: 1,
        });
        assert_eq!(
            lookup(&input(&owner, &status, &tag, SecretView::NotCached)),
            Ok(Lookup::Known(Auth0View::Absent)),
            "a new generation is tried again"
        );
    }

    #[test]
    fn a_foreign_secret_fails_before_any_auth0_call() {
        let owner = owner(1);
        let status = AuthClientStatus::default();
        let tag = tag();
        let failure =
            lookup(&input(&owner, &status, &tag, SecretView::Foreign)).expect_err("conflict");
        assert_eq!(failure.reason, ReadyReason::SecretConflict);
        assert!(failure.message.contains("team-a/orders-auth0"));
    }

    #[test]
    fn an_interrupted_create_is_recovered_by_tag_without_a_new_marker() {
        let owner = owner(1);
        let status = AuthClientStatus {
            pending_creation: Some(PendingCreation {
                tag: "c1/uid-1".into(),
                started_at: Time(now()),
            }),
            ..Default::default()
        };
        let tag = tag();
        let i = input(&owner, &status, &tag, SecretView::NotCached);
        assert_eq!(lookup(&i), Ok(Lookup::FindByTag));
        let found = plan(
            &i,
            Auth0View::Recovered(Some(Box::new(matching(&owner, Some("s"))))),
        )
        .expect("plan");
        assert_eq!(found.client_id.as_deref(), Some("cid"));
        assert_eq!(found.notes[0].reason, EventReason::Recovered);
        assert_eq!(found.steps, vec![Step::ApplySecret { existing: false }]);
        let none = plan(&i, Auth0View::Recovered(None)).expect("plan");
        assert!(
            matches!(
                none.steps.as_slice(),
                [Step::Create(_), Step::ApplySecret { .. }]
            ),
            "the marker is already there: {:?}",
            none.steps
        );
    }

    #[test]
    fn adoption_is_refused_for_a_client_tagged_elsewhere_unless_take_over() {
        let mut owner = owner(1);
        owner.spec.client.id = Some("legacy".into());
        let status = AuthClientStatus::default();
        let tag = tag();
        let i = input(&owner, &status, &tag, SecretView::NotCached);
        assert_eq!(
            lookup(&i),
            Ok(Lookup::Get {
                id: "legacy".into(),
                adopting: true
            })
        );
        let mut foreign = matching(&owner, Some("s"));
        foreign.client_id = "legacy".into();
        if let Some(m) = foreign.client_metadata.as_mut() {
            m.insert("nexus_cluster".into(), "cluster-b".into());
            m.insert("nexus_owner".into(), "team-b/shared".into());
        }
        let refused =
            plan(&i, Auth0View::Adoptable(Box::new(foreign.clone()))).expect_err("refused");
        assert_eq!(refused.reason, ReadyReason::AdoptionRefused);
        assert!(refused.message.contains("team-b/shared") && refused.message.contains("TakeOver"));
        owner.spec.adoption_policy = AdoptionPolicy::TakeOver;
        let i = input(&owner, &status, &tag, SecretView::NotCached);
        let taken = plan(&i, Auth0View::Adoptable(Box::new(foreign))).expect("adopted");
        assert!(
            matches!(taken.steps.first(), Some(Step::Patch(_, None))),
            "re-tagged"
        );
        assert_eq!(taken.notes[0].reason, EventReason::Adopted);
        let missing = plan(&i, Auth0View::AdoptMissing("legacy".into())).expect_err("missing");
        assert_eq!(missing.reason, ReadyReason::ClientNotFound);
    }

    #[test]
    fn adoption_needs_the_tenants_opt_in_and_never_crosses_namespaces() {
        let mut owner = owner(1);
        owner.spec.client.id = Some("legacy".into());
        owner.spec.adoption_policy = AdoptionPolicy::TakeOver;
        let status = AuthClientStatus::default();
        let tag = tag();
        let mut i = input(&owner, &status, &tag, SecretView::NotCached);
        i.extra.adoption.allowed = false;
        let refused = lookup(&i).expect_err("not allowed");
        assert_eq!(refused.reason, ReadyReason::AdoptionNotAllowed);
        assert!(refused.message.contains("spec.adoption.allowedNamespaces"));
        i.extra.adoption.allowed = true;
        i.extra.adoption.management_client_id = "legacy";
        let refused = lookup(&i).expect_err("the management client");
        assert_eq!(refused.reason, ReadyReason::AdoptionNotAllowed);
        assert!(refused.message.contains("Management API client"));

        let i = input(&owner, &status, &tag, SecretView::NotCached);
        let tagged_by = |cluster: &str, owner_ref: &str| {
            let mut found = matching(&owner, None);
            found.client_id = "legacy".into();
            if let Some(m) = found.client_metadata.as_mut() {
                m.insert("nexus_cluster".into(), cluster.into());
                m.insert("nexus_owner_uid".into(), "uid-other".into());
                m.insert("nexus_owner".into(), owner_ref.into());
            }
            found
        };
        // Another namespace of this cluster: never, TakeOver or not.
        let other_ns = tagged_by("c1", "team-b/orders");
        let refused = adoption_refusal(&i, &other_ns).expect("refused");
        assert_eq!(refused.reason, ReadyReason::AdoptionRefused);
        assert!(refused.message.contains("never crosses namespaces"));
        // The same namespace, or another cluster: with TakeOver.
        assert_eq!(adoption_refusal(&i, &tagged_by("c1", "team-a/old")), None);
        assert_eq!(adoption_refusal(&i, &tagged_by("c2", "team-b/x")), None);
        let mut if_unowned = owner.clone();
        if_unowned.spec.adoption_policy = AdoptionPolicy::IfUnowned;
        let i = input(&if_unowned, &status, &tag, SecretView::NotCached);
        assert!(adoption_refusal(&i, &tagged_by("c1", "team-a/old")).is_some());
        // Adopted without its secret: the secret is fetched in a step after the decision.
        let untagged = Auth0Client {
            client_id: "legacy".into(),
            client_metadata: None,
            ..matching(&if_unowned, None)
        };
        let adopted = plan(&i, Auth0View::Adoptable(Box::new(untagged))).expect("adopted");
        assert!(
            adopted.steps.contains(&Step::FetchSecret),
            "{:?}",
            adopted.steps
        );
    }

    #[test]
    fn drift_is_corrected_or_reported_once() {
        let mut owner = owner(3);
        let mut status = ready_status(3);
        let tag = tag();
        let secret = owned_secret(&owner, "s3cr3t");
        let mut changed = matching(&owner, None);
        changed.callbacks = Some(vec!["https://evil.example/cb".into()]);
        let finding = ScanFinding::Drifted(Box::new(changed.clone()));
        let mut i = input(&owner, &status, &tag, SecretView::Owned(&secret));
        i.finding = Some(&finding);
        assert_eq!(
            lookup(&i),
            Ok(Lookup::Known(Auth0View::Found(Box::new(changed.clone())))),
            "the scanned copy is used, no GET"
        );
        let corrected = plan(&i, Auth0View::Found(Box::new(changed.clone()))).expect("plan");
        assert!(matches!(
            corrected.steps.as_slice(),
            [Step::Patch(_, Some(_))]
        ));
        assert_eq!(
            corrected.drift,
            DriftVerdict::Corrected(vec!["callbacks".into()])
        );

        owner.spec.drift_policy = DriftPolicy::Report;
        let i = input(&owner, &status, &tag, SecretView::Owned(&secret));
        let reported = plan(&i, Auth0View::Found(Box::new(changed.clone()))).expect("plan");
        assert_eq!(reported.steps, vec![]);
        assert_eq!(reported.notes[0].reason, EventReason::DriftDetected);
        status.reported_drift = vec!["callbacks".into()];
        let i = input(&owner, &status, &tag, SecretView::Owned(&secret));
        let again = plan(&i, Auth0View::Found(Box::new(changed))).expect("plan");
        assert!(again.notes.is_empty(), "already reported: no second event");
    }

    #[test]
    fn rotation_by_annotation_or_age_and_the_secret_follows() {
        let mut owner = owner(3);
        let status = ready_status(3);
        let tag = tag();
        let secret = owned_secret(&owner, "s3cr3t");
        owner
            .annotations_mut()
            .insert(ROTATE_ANNOTATION.into(), "2026-01-01".into());
        let i = input(&owner, &status, &tag, SecretView::Owned(&secret));
        let rotate = plan(&i, Auth0View::Trusted).expect("plan");
        assert_eq!(
            rotate.steps,
            vec![Step::Rotate, Step::ApplySecret { existing: true }]
        );
        assert_eq!(rotate.rotation_request.as_deref(), Some("2026-01-01"));

        let mut owner = self::owner(3);
        owner.spec.secret.rotate_after =
            Some(serde_json::from_value(serde_json::json!("720h")).expect("duration"));
        let mut old = status.clone();
        old.last_rotation_time = Some(Time(
            Timestamp::from_second(NOW - 31 * 24 * 3600).expect("time"),
        ));
        let i = input(&owner, &old, &tag, SecretView::Owned(&secret));
        assert_eq!(
            plan(&i, Auth0View::Trusted).expect("plan").steps[0],
            Step::Rotate
        );
        let i = input(&owner, &status, &tag, SecretView::Owned(&secret));
        assert_eq!(plan(&i, Auth0View::Trusted).expect("plan").steps, vec![]);
    }

    #[test]
    fn the_secret_is_rewritten_from_known_credentials_or_fetched() {
        let mut owner = owner(3);
        let status = ready_status(3);
        let tag = tag();
        let secret = owned_secret(&owner, "s3cr3t");
        owner
            .spec
            .secret
            .labels
            .insert("team".into(), "orders".into());
        let i = input(&owner, &status, &tag, SecretView::Owned(&secret));
        let relabel = plan(&i, Auth0View::Trusted).expect("plan");
        assert_eq!(
            relabel.steps,
            vec![Step::ReadSecret, Step::ApplySecret { existing: true }],
            "an intact Secret's own client secret is read back (one GET of the Secret), no Auth0 call"
        );
        let i = input(&owner, &status, &tag, SecretView::NotCached);
        let gone = plan(&i, Auth0View::Trusted).expect("plan");
        assert_eq!(
            gone.steps,
            vec![Step::FetchSecret, Step::ApplySecret { existing: false }]
        );
    }

    #[test]
    fn a_tampered_secret_is_repaired_with_the_secret_from_auth0() {
        let owner = owner(3);
        let status = ready_status(3);
        let tag = tag();
        let mut tampered = built_secret(&owner, "s3cr3t");
        if let Some(data) = tampered.data.as_mut() {
            data.insert(
                owner.spec.secret.keys.client_secret.clone(),
                k8s_openapi::ByteString(b"edited".to_vec()),
            );
        }
        let observed = ObservedSecret::observe(&tampered);
        let i = input(&owner, &status, &tag, SecretView::Owned(&observed));
        let repair = plan(&i, Auth0View::Trusted).expect("plan");
        assert_eq!(
            repair.steps,
            vec![Step::FetchSecret, Step::ApplySecret { existing: true }],
            "the edited value is not trusted"
        );
        // Auth0's answer is compared value by value, the secret included.
        let intact = owned_secret(&owner, "s3cr3t");
        let i = input(&owner, &status, &tag, SecretView::Owned(&intact));
        let mut stale = plan(&i, Auth0View::Trusted).expect("plan");
        stale.steps.clear();
        stale.credential = Some(SecretString::new("rotated-in-the-dashboard"));
        plan_secret(&i, &mut stale);
        assert_eq!(stale.steps, vec![Step::ApplySecret { existing: true }]);
    }

    #[test]
    fn a_client_deleted_outside_is_created_again_unless_adopted() {
        let owner = owner(3);
        let status = ready_status(3);
        let tag = tag();
        let finding = ScanFinding::Missing;
        let mut i = input(&owner, &status, &tag, SecretView::NotCached);
        i.finding = Some(&finding);
        assert_eq!(lookup(&i), Ok(Lookup::Known(Auth0View::Missing)));
        let again = plan(&i, Auth0View::Missing).expect("plan");
        assert!(again.forget_client);
        assert!(matches!(
            again.steps.as_slice(),
            [Step::Mark, Step::Create(_), _]
        ));
        assert_eq!(again.notes[0].reason, EventReason::ClientMissing);
        let mut adopted = owner.clone();
        adopted.spec.client.id = Some("cid".into());
        let i = input(&adopted, &status, &tag, SecretView::NotCached);
        assert_eq!(
            plan(&i, Auth0View::Missing).expect_err("adopted").reason,
            ReadyReason::ClientNotFound
        );
    }

    fn grant(audience: &str, scopes: &[&str]) -> nexus_crd::ClientGrantSpec {
        nexus_crd::ClientGrantSpec {
            audience: audience.into(),
            scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    fn held(audience: &str, id: &str, scopes: &[&str]) -> GrantStatus {
        GrantStatus {
            audience: audience.into(),
            grant_id: id.into(),
            scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    fn listed(audience: &str, id: &str, scopes: &[&str]) -> auth0_mgmt::ClientGrant {
        auth0_mgmt::ClientGrant {
            id: id.into(),
            client_id: "cid".into(),
            audience: audience.into(),
            scope: scopes.iter().map(|s| (*s).to_owned()).collect(),
            extra: Default::default(),
        }
    }

    fn with_grants(generation: i64, grants: Vec<nexus_crd::ClientGrantSpec>) -> AuthClient {
        let mut owner = owner(generation);
        owner.spec.client.app_type = "non_interactive".into();
        owner.spec.grants = grants;
        owner
    }

    #[test]
    fn a_new_m2m_client_is_created_then_granted_then_its_secret_written() {
        let owner = with_grants(1, vec![grant("https://orders/api", &["read"])]);
        let status = AuthClientStatus::default();
        let tag = tag();
        let i = input(&owner, &status, &tag, SecretView::NotCached);
        assert_eq!(
            access::grants_lookup(&i, &Auth0View::Absent),
            access::GrantsLookup::Known(GrantsView::Empty)
        );
        let plan = plan(
            &i,
            Observed {
                client: Auth0View::Absent,
                grants: GrantsView::Empty,
                ..Observed::default()
            },
        )
        .expect("plan");
        assert!(
            matches!(
                plan.steps.as_slice(),
                [
                    Step::Mark,
                    Step::Create(_),
                    Step::CreateGrant { audience, scopes, .. },
                    Step::ApplySecret { existing: false }
                ] if audience == "https://orders/api" && scopes == &["read".to_owned()]
            ),
            "{:?}",
            plan.steps
        );
    }

    #[test]
    fn a_ready_client_with_its_grants_reads_and_plans_nothing() {
        let owner = with_grants(3, vec![grant("https://orders/api", &["read"])]);
        let mut status = ready_status(3);
        status.grants = vec![held("https://orders/api", "g1", &["read"])];
        let tag = tag();
        let secret = owned_secret(&owner, "s3cr3t");
        let i = input(&owner, &status, &tag, SecretView::Owned(&secret));
        assert_eq!(lookup(&i), Ok(Lookup::Known(Auth0View::Trusted)));
        assert_eq!(
            access::grants_lookup(&i, &Auth0View::Trusted),
            access::GrantsLookup::Known(GrantsView::Trusted)
        );
        assert_eq!(access::connections_lookup(&i), Vec::<String>::new());
        assert_eq!(plan(&i, Auth0View::Trusted).expect("plan").steps, vec![]);
    }

    #[test]
    fn scope_changes_are_patches_and_removed_grants_are_deleted() {
        let before = with_grants(3, vec![grant("https://orders/api", &["read", "write"])]);
        let owner = with_grants(4, vec![grant("https://orders/api", &["read"])]);
        let status = ready_status(3);
        let tag = tag();
        let secret = owned_secret(&owner, "s3cr3t");
        let i = input(&owner, &status, &tag, SecretView::Owned(&secret));
        let found = Auth0View::Found(Box::new(matching(&before, None)));
        assert_eq!(
            access::grants_lookup(&i, &found),
            access::GrantsLookup::Read("cid".into()),
            "a spec change reads the grants"
        );
        let plan = plan(
            &i,
            Observed {
                client: found,
                grants: GrantsView::Listed(vec![
                    listed("https://orders/api", "g1", &["read", "write"]),
                    listed("https://old/api", "g0", &[]),
                ]),
                ..Observed::default()
            },
        )
        .expect("plan");
        assert!(
            matches!(
                plan.steps.as_slice(),
                [
                    Step::DeleteGrant { grant_id: old, .. },
                    Step::PatchGrant { grant_id, scopes, .. },
                ] if old == "g0" && grant_id == "g1" && scopes == &["read".to_owned()]
            ),
            "{:?}",
            plan.steps
        );
        assert_eq!(
            plan.drift,
            DriftVerdict::Updated(vec![
                "grants[https://old/api]".into(),
                "grants[https://orders/api]".into()
            ])
        );
        assert_eq!(plan.grants_before.len(), 2);
    }

    #[test]
    fn grant_drift_is_corrected_or_reported_but_never_kept_beyond_what_is_allowed() {
        let mut owner = with_grants(3, vec![grant("https://orders/api", &["read"])]);
        let mut status = ready_status(3);
        status.grants = vec![held("https://orders/api", "g1", &["read"])];
        let tag = tag();
        let secret = owned_secret(&owner, "s3cr3t");
        let scanned = AccessFinding {
            grants: Some(vec![listed(
                "https://orders/api",
                "g1",
                &["read", "write", "admin"],
            )]),
            ..AccessFinding::default()
        };
        let mut i = input(&owner, &status, &tag, SecretView::Owned(&secret));
        i.extra.access = &scanned;
        let view = match access::grants_lookup(&i, &Auth0View::Trusted) {
            access::GrantsLookup::Known(view) => view,
            other => panic!("the scanned grants are used: {other:?}"),
        };
        let corrected = plan(
            &i,
            Observed {
                client: Auth0View::Trusted,
                grants: view.clone(),
                ..Observed::default()
            },
        )
        .expect("plan");
        assert!(
            matches!(
                corrected.steps.as_slice(),
                [Step::PatchGrant { scopes, note, .. }] if scopes == &["read".to_owned()] && note.reason == EventReason::DriftCorrected
            ),
            "{:?}",
            corrected.steps
        );
        assert_eq!(
            corrected.drift,
            DriftVerdict::Corrected(vec!["grants[https://orders/api]".into()])
        );

        owner.spec.drift_policy = DriftPolicy::Report;
        let mut i = input(&owner, &status, &tag, SecretView::Owned(&secret));
        i.extra.access = &scanned;
        let reported = plan(
            &i,
            Observed {
                client: Auth0View::Trusted,
                grants: view,
                ..Observed::default()
            },
        )
        .expect("plan");
        // "admin" is not grantable to the namespace: revoked even in Report mode; "write" is
        // allowed, so it is only reported.
        assert!(
            matches!(
                reported.steps.as_slice(),
                [Step::PatchGrant { scopes, note, .. }]
                    if scopes == &["read".to_owned(), "write".to_owned()] && note.reason == EventReason::GrantRevoked
            ),
            "{:?}",
            reported.steps
        );
        assert_eq!(
            reported.drift,
            DriftVerdict::Reported(vec!["grants[https://orders/api]".into()])
        );
        assert!(
            reported
                .notes
                .iter()
                .any(|n| n.reason == EventReason::DriftDetected)
        );
    }

    #[test]
    fn a_refused_spec_only_takes_back_what_may_no_longer_be_held() {
        let owner = with_grants(
            4,
            vec![
                grant("https://orders/api", &["read", "delete"]),
                grant("https://billing/api", &[]),
            ],
        );
        let mut status = ready_status(3);
        status.grants = vec![
            held("https://orders/api", "g1", &["read", "write", "admin"]),
            held("https://billing/api", "g2", &["pay"]),
        ];
        status.connections = vec![nexus_crd::ConnectionStatus {
            name: "google".into(),
            connection_id: "con_g".into(),
        }];
        let tag = tag();
        let i = input(&owner, &status, &tag, SecretView::NotCached);
        let refusal = i
            .extra
            .governance
            .refusal(&owner.spec.grants, &owner.spec.connections, &status.grants)
            .expect("billing and delete are not grantable");
        assert_eq!(refusal.reason, ReadyReason::GrantNotAllowed);
        let plan = revoke(&i, refusal, false);
        assert!(
            matches!(
                plan.steps.as_slice(),
                [
                    Step::PatchGrant { grant_id: g1, scopes, .. },
                    Step::DeleteGrant { grant_id: g2, .. },
                    Step::DisableConnection { name, .. },
                ] if g1 == "g1" && scopes == &["read".to_owned()] && g2 == "g2" && name == "google"
            ),
            "{:?}",
            plan.steps
        );
        assert!(
            plan.steps
                .iter()
                .all(|s| !matches!(s, Step::CreateGrant { .. } | Step::Create(_)))
        );
    }

    #[test]
    fn connections_are_enabled_disabled_and_unknown_names_fail() {
        let mut owner = owner(4);
        owner.spec.connections = vec!["corp".into(), "github".into()];
        let mut status = ready_status(3);
        status.connections = vec![
            nexus_crd::ConnectionStatus {
                name: "corp".into(),
                connection_id: "con_c".into(),
            },
            nexus_crd::ConnectionStatus {
                name: "legacy".into(),
                connection_id: "con_l".into(),
            },
        ];
        let tag = tag();
        let secret = owned_secret(&owner, "s3cr3t");
        let i = input(&owner, &status, &tag, SecretView::Owned(&secret));
        assert_eq!(access::connections_lookup(&i), vec!["github".to_owned()]);
        let found = Auth0View::Found(Box::new(matching(&owner, None)));
        let plan = plan(
            &i,
            Observed {
                client: found.clone(),
                connections: [("github".to_owned(), Some("con_gh".to_owned()))].into(),
                ..Observed::default()
            },
        )
        .expect("plan");
        assert!(
            matches!(
                plan.steps.as_slice(),
                [
                    Step::EnableConnection { connection_id: on, .. },
                    Step::DisableConnection { connection_id: off, .. },
                ] if on == "con_gh" && off == "con_l"
            ),
            "{:?}",
            plan.steps
        );
        let missing = super::plan(
            &i,
            Observed {
                client: found,
                connections: [("github".to_owned(), None)].into(),
                ..Observed::default()
            },
        )
        .expect_err("unknown");
        assert_eq!(missing.reason, ReadyReason::ConnectionNotFound);
        assert!(missing.message.contains("'github'"), "{}", missing.message);

        let disabled = AccessFinding {
            disabled_connections: vec!["corp".into()],
            ..AccessFinding::default()
        };
        let mut status = ready_status(4);
        status.connections = vec![
            nexus_crd::ConnectionStatus {
                name: "corp".into(),
                connection_id: "con_c".into(),
            },
            nexus_crd::ConnectionStatus {
                name: "github".into(),
                connection_id: "con_gh".into(),
            },
        ];
        let mut i = input(&owner, &status, &tag, SecretView::Owned(&secret));
        i.extra.access = &disabled;
        let corrected = super::plan(&i, Auth0View::Trusted).expect("plan");
        assert!(
            matches!(
                corrected.steps.as_slice(),
                [Step::EnableConnection { connection_id, note, .. }] if connection_id == "con_c" && note.reason == EventReason::DriftCorrected
            ),
            "{:?}",
            corrected.steps
        );
    }

    #[test]
    fn the_finalizer_comes_before_anything_in_auth0_is_this_objects() {
        let mut o = owner(1);
        o.metadata.finalizers = None;
        let fresh = AuthClientStatus::default();
        let t = tag();
        let created = plan(
            &input(&o, &fresh, &t, SecretView::NotCached),
            Auth0View::Absent,
        )
        .expect("plan");
        assert!(
            matches!(created.steps.as_slice(), [Step::Mark, Step::Create(_), ..]),
            "the marker's write carries the finalizer: {:?}",
            created.steps
        );
        let ready = ready_status(1);
        let trusted = plan(
            &input(&o, &ready, &t, SecretView::NotCached),
            Auth0View::Trusted,
        )
        .expect("plan");
        assert_eq!(
            trusted.steps.first(),
            Some(&Step::Finalize),
            "a recorded client without the finalizer gets it back first"
        );
        let refused = revoke(
            &input(&o, &fresh, &t, SecretView::NotCached),
            Failure::permanent(ReadyReason::InvalidSpec, "invalid"),
            false,
        );
        assert!(
            refused.steps.is_empty(),
            "nothing in Auth0: no finalizer, no write but the status"
        );
    }
}
