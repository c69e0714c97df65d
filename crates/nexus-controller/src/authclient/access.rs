//! The pure planning of an AuthClient's grants (`spec.grants`) and connections
//! (`spec.connections`): what to read, and the steps of the same pass that bring Auth0 in line,
//! after the client's own steps. What the namespace may hold comes from
//! [`crate::governance`]; anything it may not hold is revoked, whatever `driftPolicy` says.

use std::collections::{BTreeMap, BTreeSet};

use super::adoption::adoption_refusal;
use super::input::{Auth0View, Input, Step};
use crate::governance::{Governance, Scopes};
use crate::pass::{DriftVerdict, EventAction, EventReason, Failure, Note};
use auth0_mgmt::ClientGrant;
use nexus_crd::{
    AuthClientSpec, AuthClientStatus, ConnectionStatus, DriftPolicy, GrantStatus, ReadyReason,
};

/// What is known about the client's grants when planning.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum GrantsView {
    /// Not read: `status.grants` is trusted.
    #[default]
    Trusted,
    /// As Auth0 listed them (a read of this pass, or the drift scan's list).
    Listed(Vec<ClientGrant>),
    /// The client is created in this pass (or was created outside it and is new to Auth0):
    /// it has no grants.
    Empty,
}

/// Whether the pass must read the client's grants.
#[derive(Clone, Debug, PartialEq)]
pub enum GrantsLookup {
    /// Nothing to read.
    Known(GrantsView),
    /// `GET /api/v2/client-grants?client_id=` (all pages).
    Read(String),
}

/// Decides whether the client's grants are read, after the client lookup decided `view`.
/// Clients that neither declare nor hold grants are not read (no cost), unless their Auth0
/// client is being adopted (its grants are then taken over: `spec.grants` is the complete
/// list, so an adopted client keeps no grant its namespace did not declare).
pub fn grants_lookup(input: &Input<'_>, view: &Auth0View) -> GrantsLookup {
    let status = input.status;
    let involved = !input.owner.spec.grants.is_empty() || !status.grants.is_empty();
    match view {
        Auth0View::Absent | Auth0View::Missing | Auth0View::Recovered(None) => {
            GrantsLookup::Known(GrantsView::Empty)
        }
        Auth0View::AdoptMissing(_) => GrantsLookup::Known(GrantsView::Trusted),
        // The adoption is refused before anything is read.
        Auth0View::Adoptable(found) if adoption_refusal(input, found).is_some() => {
            GrantsLookup::Known(GrantsView::Trusted)
        }
        Auth0View::Adoptable(found) => GrantsLookup::Read(found.client_id.clone()),
        // Created by an interrupted pass of ours: it has grants only if that pass got to
        // create them.
        Auth0View::Recovered(Some(found)) if !input.owner.spec.grants.is_empty() => {
            GrantsLookup::Read(found.client_id.clone())
        }
        Auth0View::Recovered(Some(_)) => GrantsLookup::Known(GrantsView::Empty),
        Auth0View::Found(found) => match &input.extra.access.grants {
            Some(listed) => GrantsLookup::Known(GrantsView::Listed(listed.clone())),
            None if involved || input.extra.access.recheck_grants => {
                GrantsLookup::Read(found.client_id.clone())
            }
            None => GrantsLookup::Known(GrantsView::Trusted),
        },
        Auth0View::Trusted => match (&input.extra.access.grants, status.client_id.as_deref()) {
            (Some(listed), _) => GrantsLookup::Known(GrantsView::Listed(listed.clone())),
            (None, Some(id)) if input.extra.access.recheck_grants => {
                GrantsLookup::Read(id.to_owned())
            }
            _ => GrantsLookup::Known(GrantsView::Trusted),
        },
    }
}

/// Connection names of the spec whose id the status does not know: `find_connection` each.
pub fn connections_lookup(input: &Input<'_>) -> Vec<String> {
    let known: BTreeSet<&str> = input
        .status
        .connections
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    input
        .owner
        .spec
        .connections
        .iter()
        .filter(|n| !known.contains(n.as_str()))
        .cloned()
        .collect()
}

/// The grants known before the steps.
pub fn known_grants(input: &Input<'_>, view: &GrantsView) -> BTreeMap<String, GrantStatus> {
    match view {
        GrantsView::Trusted => input
            .status
            .grants
            .iter()
            .map(|g| (g.audience.clone(), g.clone()))
            .collect(),
        GrantsView::Listed(listed) => listed
            .iter()
            .map(|g| {
                (
                    g.audience.clone(),
                    GrantStatus {
                        audience: g.audience.clone(),
                        grant_id: g.id.clone(),
                        scopes: g.scope.clone(),
                    },
                )
            })
            .collect(),
        GrantsView::Empty => BTreeMap::new(),
    }
}

fn set(scopes: &[String]) -> BTreeSet<&str> {
    scopes.iter().map(String::as_str).collect()
}

fn shown(scopes: &[String]) -> String {
    if scopes.is_empty() {
        "no scopes".to_owned()
    } else {
        scopes.join(" ")
    }
}

/// The scopes of `held` the namespace may keep on `audience`, in their order.
fn keepable(governance: &Governance<'_>, audience: &str, held: &[String]) -> Option<Vec<String>> {
    governance
        .may_hold(audience)
        .map(|may: Scopes| may.filter(held))
}

/// What the grant steps ([`plan_grants`]) or the connection steps ([`plan_connections`])
/// found and did to the `Drifted` verdict.
#[derive(Debug, Default)]
pub struct AccessPlan {
    /// The steps, in order (for grants: deletions and reductions first, then updates and
    /// creations).
    pub steps: Vec<Step>,
    /// Drift fields (`grants[<audience>]`, `connections[<name>]`) found changed outside the
    /// operator.
    pub drifted: Vec<String>,
    /// Fields changed because the spec changed.
    pub updated: Vec<String>,
}

impl AccessPlan {
    /// `field` changed outside the operator (`outside`), or because the spec did.
    fn record(&mut self, outside: bool, field: String) {
        if outside {
            self.drifted.push(field);
        } else {
            self.updated.push(field);
        }
    }
}

/// Plans the grants. `outside`: the differences were made outside the operator (a drift scan
/// finding or a revisit while not Ready), so `driftPolicy` decides; otherwise the spec is
/// pushed. Scopes the namespace may no longer hold are revoked in either case.
pub fn plan_grants(
    input: &Input<'_>,
    known: &BTreeMap<String, GrantStatus>,
    outside: bool,
) -> AccessPlan {
    let report_only = outside && input.owner.spec.drift_policy == DriftPolicy::Report;
    let desired: BTreeMap<&str, &Vec<String>> = input
        .owner
        .spec
        .grants
        .iter()
        .map(|g| (g.audience.as_str(), &g.scopes))
        .collect();
    let mut plan = AccessPlan::default();
    let mut tail = Vec::new();
    for (audience, held) in known {
        let field = format!("grants[{audience}]");
        let wanted = desired.get(audience.as_str()).copied();
        let kept = keepable(&input.extra.governance, audience, &held.scopes);
        if report_only {
            // Only what the namespace may not hold is touched; the rest is reported.
            match &kept {
                None => plan.steps.push(revoke_delete(held)),
                Some(kept) if set(kept) != set(&held.scopes) => {
                    plan.steps.push(revoke_patch(held, kept.clone()));
                }
                _ => {}
            }
            let after = kept.unwrap_or_default();
            if wanted.is_none_or(|w| set(w) != set(&after)) {
                plan.drifted.push(field);
            }
            continue;
        }
        match wanted {
            None => {
                let note = if outside {
                    Note::warning(
                        EventReason::DriftCorrected,
                        EventAction::Update,
                        format!("deleted the grant to {audience}, created outside the operator"),
                    )
                } else {
                    Note::normal(
                        EventReason::GrantDeleted,
                        EventAction::Update,
                        format!("deleted the grant to {audience}"),
                    )
                };
                plan.steps.push(Step::DeleteGrant {
                    grant_id: held.grant_id.clone(),
                    audience: audience.clone(),
                    note,
                });
                plan.record(outside, field);
            }
            Some(wanted) if set(wanted) != set(&held.scopes) => {
                let note = if outside {
                    Note::warning(
                        EventReason::DriftCorrected,
                        EventAction::Update,
                        format!(
                            "restored the scopes of the grant to {audience} ({})",
                            shown(wanted)
                        ),
                    )
                } else {
                    Note::normal(
                        EventReason::GrantUpdated,
                        EventAction::Update,
                        format!("granted {} on {audience}", shown(wanted)),
                    )
                };
                let step = Step::PatchGrant {
                    grant_id: held.grant_id.clone(),
                    audience: audience.clone(),
                    scopes: wanted.clone(),
                    note,
                };
                // A reduction goes first; an extension waits for the deletions.
                if set(wanted).is_subset(&set(&held.scopes)) {
                    plan.steps.push(step);
                } else {
                    tail.push(step);
                }
                plan.record(outside, field);
            }
            Some(_) => {}
        }
    }
    plan.steps.extend(tail);
    for grant in &input.owner.spec.grants {
        if known.contains_key(&grant.audience) {
            continue;
        }
        let field = format!("grants[{}]", grant.audience);
        if report_only {
            plan.drifted.push(field);
            continue;
        }
        let note = if outside {
            Note::warning(
                EventReason::DriftCorrected,
                EventAction::Update,
                format!(
                    "created again the grant to {}, deleted outside the operator",
                    grant.audience
                ),
            )
        } else {
            Note::normal(
                EventReason::GrantCreated,
                EventAction::Update,
                format!("granted {} on {}", shown(&grant.scopes), grant.audience),
            )
        };
        plan.steps.push(Step::CreateGrant {
            audience: grant.audience.clone(),
            scopes: grant.scopes.clone(),
            note,
        });
        plan.record(outside, field);
    }
    plan
}

/// The event of a grant (or some of its scopes) taken back.
fn revoked(message: String) -> Note {
    Note::warning(EventReason::GrantRevoked, EventAction::Revoke, message)
}

fn revoke_delete(held: &GrantStatus) -> Step {
    Step::DeleteGrant {
        grant_id: held.grant_id.clone(),
        audience: held.audience.clone(),
        note: revoked(format!(
            "revoked the grant to {}: the namespace may no longer hold it",
            held.audience
        )),
    }
}

fn revoke_patch(held: &GrantStatus, kept: Vec<String>) -> Step {
    let removed: Vec<String> = held
        .scopes
        .iter()
        .filter(|s| !kept.contains(s))
        .cloned()
        .collect();
    Step::PatchGrant {
        grant_id: held.grant_id.clone(),
        audience: held.audience.clone(),
        note: revoked(format!(
            "revoked {} on {}: the namespace may no longer hold them",
            removed.join(" "),
            held.audience
        )),
        scopes: kept,
    }
}

/// The steps of a pass whose spec is refused by the governance: only reductions, from the
/// status (no Auth0 read): every recorded grant keeps at most what the namespace may hold and
/// the spec still asks for, and the client is disabled on connections it may no longer use or
/// that left the spec. Nothing is created or extended.
pub fn revocations(
    spec: &AuthClientSpec,
    status: &AuthClientStatus,
    governance: &Governance<'_>,
) -> Vec<Step> {
    let mut steps = Vec::new();
    for held in &status.grants {
        let requested = spec.grants.iter().find(|g| g.audience == held.audience);
        let kept: Vec<String> = match (
            keepable(governance, &held.audience, &held.scopes),
            requested,
        ) {
            (Some(kept), Some(requested)) => kept
                .into_iter()
                .filter(|s| requested.scopes.contains(s))
                .collect(),
            _ => {
                steps.push(revoke_delete(held));
                continue;
            }
        };
        if kept.is_empty() && !held.scopes.is_empty() {
            // Every scope it held is refused: the grant goes.
            steps.push(revoke_delete(held));
        } else if set(&kept) != set(&held.scopes) {
            steps.push(revoke_patch(held, kept));
        }
    }
    for connection in &status.connections {
        let allowed = governance.connection_allowed(&connection.name);
        if !allowed || !spec.connections.contains(&connection.name) {
            steps.push(revoke_connection(connection));
        }
    }
    steps
}

/// The steps of a pass whose namespace the tenant no longer allows: every recorded grant is
/// deleted and the client is disabled on every recorded connection (the client and its Secret
/// stay: an allow-list typo must not delete production clients).
pub fn revoke_all(status: &AuthClientStatus) -> Vec<Step> {
    let mut steps: Vec<Step> = status.grants.iter().map(revoke_delete).collect();
    steps.extend(status.connections.iter().map(revoke_connection));
    steps
}

/// Takes the client off a recorded connection the namespace may no longer use (or the spec
/// left).
fn revoke_connection(connection: &ConnectionStatus) -> Step {
    Step::DisableConnection {
        name: connection.name.clone(),
        connection_id: connection.connection_id.clone(),
        note: Note::warning(
            EventReason::ConnectionDisabled,
            EventAction::Revoke,
            format!("disabled the client on connection {}", connection.name),
        ),
    }
}

/// Plans the connections: enable the client on the spec's connections it is not enabled on
/// yet (`found`: the ids looked up by name), disable it on the recorded ones that left the
/// spec. A name Auth0 does not know fails the pass (`ConnectionNotFound`).
pub fn plan_connections(
    input: &Input<'_>,
    found: &BTreeMap<String, Option<String>>,
) -> Result<AccessPlan, Failure> {
    let spec = &input.owner.spec;
    let known: BTreeMap<&str, &ConnectionStatus> = input
        .status
        .connections
        .iter()
        .map(|c| (c.name.as_str(), c))
        .collect();
    let missing: Vec<&str> = spec
        .connections
        .iter()
        .filter(|n| !known.contains_key(n.as_str()))
        .filter(|n| found.get(n.as_str()).is_none_or(Option::is_none))
        .map(String::as_str)
        .collect();
    if !missing.is_empty() {
        return Err(Failure::permanent(
            ReadyReason::ConnectionNotFound,
            format!(
                "connection(s) {} do not exist in tenant '{}'; create them in Auth0 or fix spec.connections (then change the spec to retry)",
                missing
                    .iter()
                    .map(|n| format!("'{n}'"))
                    .collect::<Vec<_>>()
                    .join(", "),
                spec.tenant
            ),
        ));
    }
    let report_only = spec.drift_policy == DriftPolicy::Report;
    let mut plan = AccessPlan::default();
    for name in &spec.connections {
        match known.get(name.as_str()) {
            Some(recorded) => {
                if input.extra.access.disabled_connections.contains(name) {
                    plan.drifted.push(format!("connections[{name}]"));
                    if !report_only {
                        plan.steps.push(Step::EnableConnection {
                            name: name.clone(),
                            connection_id: recorded.connection_id.clone(),
                            note: Note::warning(
                                EventReason::DriftCorrected,
                                EventAction::Update,
                                format!(
                                    "enabled the client again on connection {name}, disabled outside the operator"
                                ),
                            ),
                        });
                    }
                }
            }
            None => {
                let id = found
                    .get(name.as_str())
                    .cloned()
                    .flatten()
                    .unwrap_or_default();
                plan.updated.push(format!("connections[{name}]"));
                plan.steps.push(Step::EnableConnection {
                    name: name.clone(),
                    connection_id: id,
                    note: Note::normal(
                        EventReason::ConnectionEnabled,
                        EventAction::Update,
                        format!("enabled the client on connection {name}"),
                    ),
                });
            }
        }
    }
    for recorded in &input.status.connections {
        if !spec.connections.contains(&recorded.name) {
            plan.updated.push(format!("connections[{}]", recorded.name));
            plan.steps.push(Step::DisableConnection {
                name: recorded.name.clone(),
                connection_id: recorded.connection_id.clone(),
                note: Note::normal(
                    EventReason::ConnectionDisabled,
                    EventAction::Update,
                    format!("disabled the client on connection {}", recorded.name),
                ),
            });
        }
    }
    Ok(plan)
}

/// The `Drifted` verdict of the client's own fields extended with those of its grants and
/// connections (the cause and the policy are the same for all of them in one pass).
pub fn merge_drift(
    client: DriftVerdict,
    drifted: Vec<String>,
    updated: Vec<String>,
    policy: DriftPolicy,
) -> DriftVerdict {
    let extend = |mut fields: Vec<String>, more: Vec<String>| {
        fields.extend(more);
        fields
    };
    match client {
        DriftVerdict::Updated(fields) => {
            DriftVerdict::Updated(extend(extend(fields, updated), drifted))
        }
        DriftVerdict::Corrected(fields) => DriftVerdict::Corrected(extend(fields, drifted)),
        DriftVerdict::Reported(fields) => DriftVerdict::Reported(extend(fields, drifted)),
        DriftVerdict::InSync | DriftVerdict::Unchanged if !drifted.is_empty() => {
            if policy == DriftPolicy::Report {
                DriftVerdict::Reported(drifted)
            } else {
                DriftVerdict::Corrected(drifted)
            }
        }
        DriftVerdict::InSync | DriftVerdict::Unchanged if !updated.is_empty() => {
            DriftVerdict::Updated(updated)
        }
        other => other,
    }
}
