//! What a sync of the manifests would do, object by object, computed by the controller's own
//! pure functions (`nexus_controller::authclient::plan`, `access`, `governance`, validation,
//! adoption rules; `nexus_controller::resourceserver::plan`) from the tenant's state read once
//! ([`TenantState`]), never from one request per object.
//!
//! Without a cluster there is no `status`: each object is planned as the controller plans a
//! spec it has not synced yet (`observedGeneration` behind), with the Auth0 client its
//! ownership tag names (`nexus_cluster` = `--cluster-id`, `nexus_owner` = `namespace/name`) as
//! the client it holds, the grants and connection enablements Auth0 holds for that client
//! that the spec names as what it recorded, and an AuthResourceServer holding the API with
//! its identifier. So the removal of a spec's last grant, or of a connection, is not seen
//! (the controller revokes them from its status; the README says so). What the
//! controller reads per object, this reads in bulk; what it writes, this describes.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use serde::Serialize;
use serde_json::Value;

use crate::state::{ApiSelection, Reads, TenantState};
use auth0_mgmt::{Auth0Client, ResourceServer};
use nexus_controller::authclient::access::{self, GrantsLookup, GrantsView};
use nexus_controller::authclient::plan::{
    self as client_plan, AdoptionRights, Auth0View, ClientInput, Input, Lookup, Observed,
    SecretView, Step,
};
use nexus_controller::authclient::resolve as client_resolve;
use nexus_controller::context::AccessFinding;
use nexus_controller::governance::Governance;
use nexus_controller::ownership::{
    OwnershipTag, TAG_CLUSTER, TAG_OWNER_REF, TAG_OWNER_UID, tagged_owner,
};
use nexus_controller::pass::{Auth0Failure, EventReason, Failure};
use nexus_controller::resourceserver::act as server_act;
use nexus_controller::resourceserver::plan as server_plan;
use nexus_controller::resourceserver::resolve as server_resolve;
use nexus_controller::{authtenant, marker, tenant_access};
use nexus_crd::conditions::{ConditionStatus, READY, new_condition};
use nexus_crd::{
    AuthClient, AuthClientStatus, AuthResourceServer, AuthResourceServerStatus, AuthTenant,
    ConnectionStatus, GrantStatus, ReadyReason,
};

/// What a sync does to one object.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Action {
    /// Auth0 already matches.
    NoChange,
    /// A new Auth0 client or API.
    Create,
    /// An existing Auth0 client becomes this object's (`spec.client.id`).
    Adopt,
    /// PATCHes, grant or connection changes.
    Update,
    /// Gone from the files (`--prune`): the controller's cleanup of the deleted object.
    Delete,
    /// The controller refuses the object (`Ready=False` with this reason).
    Refused,
}

impl Action {
    /// The word shown in the text output.
    pub fn as_str(&self) -> &'static str {
        match self {
            Action::NoChange => "no change",
            Action::Create => "create",
            Action::Adopt => "adopt",
            Action::Update => "update",
            Action::Delete => "delete",
            Action::Refused => "refused",
        }
    }
}

/// One difference.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase", tag = "type")]
pub enum Change {
    /// A field of the client or API (`client_metadata.owners`, `callbacks`...).
    Field {
        /// Auth0's field name.
        field: String,
        /// What Auth0 holds (None: unset or new object).
        #[serde(skip_serializing_if = "Option::is_none")]
        old: Option<Value>,
        /// What the sync writes (None: removed).
        #[serde(skip_serializing_if = "Option::is_none")]
        new: Option<Value>,
    },
    /// A client grant created (`old` None), changed, or deleted (`new` None).
    Grant {
        /// The API identifier.
        audience: String,
        /// Scopes held now.
        #[serde(skip_serializing_if = "Option::is_none")]
        old: Option<Vec<String>>,
        /// Scopes after the sync.
        #[serde(skip_serializing_if = "Option::is_none")]
        new: Option<Vec<String>>,
    },
    /// The client enabled on (or disabled from) a connection.
    Connection {
        /// The connection's name.
        name: String,
        /// Enabled (true) or disabled (false) by the sync.
        enabled: bool,
    },
    /// The client secret is rotated (the rotation annotation or `rotateAfter`).
    RotateSecret,
}

/// The refusal the controller gives.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Refusal {
    /// The `Ready` reason.
    pub reason: String,
    /// Its message.
    pub message: String,
}

impl From<Failure> for Refusal {
    fn from(failure: Failure) -> Self {
        Refusal {
            reason: failure.reason.as_str().to_owned(),
            message: failure.message,
        }
    }
}

/// The plan of one object.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectPlan {
    /// `AuthClient` or `AuthResourceServer`.
    pub kind: &'static str,
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// What the sync does.
    pub action: Action,
    /// The Auth0 client id or API id concerned, when one exists.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth0_id: Option<String>,
    /// The differences, in the controller's step order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<Change>,
    /// With [`Action::Refused`]: why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refusal: Option<Refusal>,
    /// Remarks (what an adoption or a delete implies).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// Auth0 requests the controller's pass for this object would send.
    pub auth0_calls: u32,
}

impl ObjectPlan {
    fn new(kind: &'static str, namespace: &str, name: &str) -> Self {
        ObjectPlan {
            kind,
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            action: Action::NoChange,
            auth0_id: None,
            changes: Vec::new(),
            refusal: None,
            notes: Vec::new(),
            auth0_calls: 0,
        }
    }

    fn refused(mut self, failure: Failure) -> Self {
        self.action = Action::Refused;
        self.refusal = Some(failure.into());
        self
    }
}

/// Options of a plan.
#[derive(Clone, Debug)]
pub struct PlanOptions {
    /// The cluster identity the operator runs with (`--cluster-id`): whose ownership tags
    /// mark a client as already managed.
    pub cluster_id: String,
    /// Plan deletes for clients this cluster owns that the files no longer hold.
    pub prune: bool,
}

/// The tenant side of a plan: the AuthTenant and its objects from the manifests.
pub struct TenantInput<'a> {
    /// The AuthTenant.
    pub tenant: &'a AuthTenant,
    /// Its AuthClients (`namespace/name` order).
    pub clients: Vec<&'a AuthClient>,
    /// Every AuthResourceServer of the manifests (governance looks them up by tenant).
    pub servers: Vec<&'a AuthResourceServer>,
    /// Namespace labels from the manifests.
    pub labels: &'a BTreeMap<String, BTreeMap<String, String>>,
    /// AuthClient statuses from the cluster, by `namespace/name` (empty without one).
    pub recorded: &'a BTreeMap<String, AuthClientStatus>,
    /// AuthResourceServer statuses from the cluster, by `namespace/name` (`None` without one).
    pub recorded_servers: Option<&'a BTreeMap<String, AuthResourceServerStatus>>,
    /// The client id of the tenant's Management API credentials.
    pub management_client_id: &'a str,
}

/// What a tenant's plan reads besides its clients: the grants when a client declares grants,
/// adopts (an adoption takes over the client's grants) or has grants recorded in its status
/// (a cluster), or with `--prune`; the
/// connections the clients name; the APIs of its AuthResourceServers. A repository without
/// grants, connections and APIs costs one list request per 100 clients.
pub fn reads(input: &TenantInput<'_>, options: &PlanOptions) -> Reads {
    let grants = options.prune
        || input.clients.iter().any(|c| {
            let key = format!("{}/{}", namespace_of(*c), c.name_any());
            !c.spec.grants.is_empty()
                || c.spec.client.id.is_some()
                || input
                    .recorded
                    .get(&key)
                    .is_some_and(|r| !r.grants.is_empty())
        });
    let connections = input
        .clients
        .iter()
        .flat_map(|c| c.spec.connections.iter().cloned())
        .collect();
    Reads {
        grants,
        connections: Some(connections),
        apis: ApiSelection::Identifiers(api_identifiers(&input.tenant.name_any(), &input.servers)),
    }
}

/// The identifiers of the APIs a tenant's plan needs (its AuthResourceServers').
pub fn api_identifiers(tenant: &str, servers: &[&AuthResourceServer]) -> Vec<String> {
    let set: BTreeSet<String> = servers
        .iter()
        .filter(|s| s.spec.tenant == tenant)
        .map(|s| s.spec.identifier.clone())
        .collect();
    set.into_iter().collect()
}

/// A refusal of every object of a tenant the controller would not use (an invalid URL policy,
/// an endpoint it refuses): `TenantNotReady` with the reason.
pub fn tenant_refusal(tenant: &AuthTenant) -> Option<Failure> {
    let name = tenant.name_any();
    let problem = authtenant::url_policy_problem(tenant).or_else(|| {
        tenant_access::check_endpoint(tenant)
            .err()
            .map(|e| e.to_string())
    })?;
    Some(Failure::permanent(
        ReadyReason::TenantNotReady,
        format!("AuthTenant '{name}' is not ready: {problem}"),
    ))
}

/// Every object of the tenant refused with `failure` (the tenant cannot be used).
pub fn refuse_all(input: &TenantInput<'_>, failure: &Failure) -> Vec<ObjectPlan> {
    let name = input.tenant.name_any();
    let mut out: Vec<ObjectPlan> = input
        .servers
        .iter()
        .filter(|s| s.spec.tenant == name)
        .map(|s| {
            ObjectPlan::new("AuthResourceServer", &namespace_of(*s), &s.name_any())
                .refused(failure.clone())
        })
        .collect();
    out.extend(input.clients.iter().map(|c| {
        ObjectPlan::new("AuthClient", &namespace_of(*c), &c.name_any()).refused(failure.clone())
    }));
    out
}

fn namespace_of<K: kube::Resource>(object: &K) -> String {
    object.meta().namespace.clone().unwrap_or_default()
}

fn plan_uid(kind: &str, key: &str) -> String {
    format!("plan:{kind}:{key}")
}

/// Plans every object of one tenant against its state.
pub fn plan_tenant(
    input: &TenantInput<'_>,
    state: &TenantState,
    options: &PlanOptions,
) -> Vec<ObjectPlan> {
    let tenant_name = input.tenant.name_any();
    let now = Timestamp::now();
    // The AuthResourceServers as the controller would hold them after this sync: the valid,
    // allowed ones hold their identifier and are Ready (the governance of the clients' grants
    // decides on them); the refused ones are not.
    let mut servers: Vec<Arc<AuthResourceServer>> = input
        .servers
        .iter()
        .map(|s| {
            let mut s = (*s).clone();
            let key = format!("{}/{}", namespace_of(&s), s.name_any());
            s.metadata.uid = Some(plan_uid("AuthResourceServer", &key));
            s.metadata.generation = Some(1);
            Arc::new(s)
        })
        .collect();
    let mut out = Vec::new();
    let mut ready = Vec::new();
    for (index, server) in servers.iter().enumerate() {
        if server.spec.tenant != tenant_name {
            continue;
        }
        let planned = plan_server(input, state, server, &servers, options, now);
        if planned.action != Action::Refused {
            ready.push(index);
        }
        out.push(planned);
    }
    for index in ready {
        let server = Arc::make_mut(&mut servers[index]);
        let api_id = state
            .apis
            .get(&server.spec.identifier)
            .map(|a| a.id.clone())
            .unwrap_or_else(|| "created-by-this-sync".to_owned());
        server.status = Some(AuthResourceServerStatus {
            observed_generation: Some(1),
            conditions: vec![new_condition(
                READY,
                ConditionStatus::True,
                ReadyReason::Synced.as_str(),
                "planned",
                Some(1),
                now,
            )],
            resource_server_id: Some(api_id),
            identifier: Some(server.spec.identifier.clone()),
            tenant: Some(tenant_name.clone()),
            ..AuthResourceServerStatus::default()
        });
    }
    for client in &input.clients {
        out.push(plan_client(input, state, client, &servers, options, now));
    }
    if options.prune {
        out.extend(prune(input, state, options));
    }
    out
}

fn plan_server(
    input: &TenantInput<'_>,
    state: &TenantState,
    owner: &AuthResourceServer,
    servers: &[Arc<AuthResourceServer>],
    options: &PlanOptions,
    now: Timestamp,
) -> ObjectPlan {
    let namespace = namespace_of(owner);
    let mut planned = ObjectPlan::new("AuthResourceServer", &namespace, &owner.name_any());
    let tenant = input.tenant;
    let labels = input.labels.get(&namespace).cloned().unwrap_or_default();
    if let Some(failure) = server_resolve::spec_refusal(owner, tenant, &labels, servers) {
        return planned.refused(failure);
    }
    let found = state.apis.get(&owner.spec.identifier);
    let key = format!("{namespace}/{}", owner.name_any());
    // With a cluster, the API this object created is the one its status records (the
    // controller probes the identifier before a first create, and refuses an API it did not
    // create: IdentifierInUse). Without one, the API holding the identifier is taken as its.
    let cluster = input.recorded_servers.map(|r| r.get(&key));
    let status = match cluster {
        None => AuthResourceServerStatus {
            resource_server_id: found.map(|a| a.id.clone()),
            ..AuthResourceServerStatus::default()
        },
        Some(recorded) => AuthResourceServerStatus {
            resource_server_id: recorded.and_then(|r| r.resource_server_id.clone()),
            pending_creation: recorded.and_then(|r| r.pending_creation.clone()),
            ..AuthResourceServerStatus::default()
        },
    };
    let status = AuthResourceServerStatus {
        identifier: Some(owner.spec.identifier.clone()),
        tenant: Some(owner.spec.tenant.clone()),
        ..status
    };
    let tag = marker::tag_key(&options.cluster_id, &owner.uid().unwrap_or_default());
    let plan_input = server_plan::Input {
        owner,
        tag: &tag,
        status: &status,
        tenant_generation: tenant.metadata.generation.unwrap_or(0),
        now,
        finding: None,
        extra: (),
    };
    let view = match server_plan::lookup(&plan_input) {
        Err(failure) => return planned.refused(failure),
        Ok(server_plan::Lookup::Known(view)) => view,
        Ok(server_plan::Lookup::Get(id)) => {
            planned.auth0_calls += 1;
            match found.filter(|api| api.id == id) {
                Some(api) => server_plan::View::Found(Box::new(api.clone())),
                None => server_plan::View::Missing,
            }
        }
    };
    let plan = server_plan::plan(&plan_input, view);
    planned.auth0_id = plan.resource_server_id.clone();
    for step in &plan.steps {
        match step {
            server_plan::Step::Probe => {
                planned.auth0_calls += 1;
                // The controller's probe finds an API it did not create: its refusal.
                if found.is_some()
                    && let Auth0Failure::Failed(failure) = server_act::in_use(&plan_input)
                {
                    return planned.refused(failure);
                }
            }
            server_plan::Step::Mark | server_plan::Step::Finalize => {}
            server_plan::Step::Create { body, .. } => {
                planned.action = Action::Create;
                planned.auth0_calls += 1;
                planned
                    .changes
                    .extend(fields_of(&**body, None::<&ResourceServer>));
            }
            server_plan::Step::Patch(patch, _) => {
                planned.action = Action::Update;
                planned.auth0_calls += 1;
                planned.changes.extend(fields_of(&**patch, found));
            }
        }
    }
    if found.is_some() && cluster.is_none() && planned.action != Action::Create {
        planned.notes.push(
            "without a cluster (--kubeconfig) the API with this identifier is taken as this AuthResourceServer's; the controller refuses a new AuthResourceServer for an API it did not create (IdentifierInUse)".to_owned(),
        );
    }
    if planned.action == Action::NoChange {
        planned.auth0_calls = 0;
    }
    planned
}

/// The client this cluster's tag names as `namespace/name`'s.
fn managed_client<'s>(state: &'s TenantState, cluster: &str, key: &str) -> Option<&'s Auth0Client> {
    state
        .clients
        .values()
        .find(|c| tagged_owner(c).is_some_and(|t| t.cluster == cluster && t.owner_ref == key))
}

fn plan_client(
    input: &TenantInput<'_>,
    state: &TenantState,
    client: &AuthClient,
    servers: &[Arc<AuthResourceServer>],
    options: &PlanOptions,
    now: Timestamp,
) -> ObjectPlan {
    let namespace = namespace_of(client);
    let key = format!("{namespace}/{}", client.name_any());
    let mut planned = ObjectPlan::new("AuthClient", &namespace, &client.name_any());
    let recorded = input.recorded.get(&key);
    let managed = match recorded.and_then(|r| r.client_id.as_deref()) {
        Some(id) => state.clients.get(id),
        None => managed_client(state, &options.cluster_id, &key),
    };
    let tagged_uid = managed.and_then(tagged_owner).map(|t| t.owner_uid);
    let mut owner = client.clone();
    owner.metadata.uid = Some(tagged_uid.unwrap_or_else(|| plan_uid("AuthClient", &key)));
    owner.metadata.generation = Some(1);
    owner.status = None;
    // A rotation is requested imperatively (`kubectl annotate`); without the status, plan
    // cannot tell a request already served from a new one, so it shows none.
    if let Some(annotations) = owner.metadata.annotations.as_mut() {
        annotations.remove(nexus_crd::ROTATE_ANNOTATION);
    }
    let Some(tag) = OwnershipTag::for_client(&owner, &options.cluster_id) else {
        return planned;
    };
    let synthesized = AuthClientStatus {
        client_id: managed.map(|c| c.client_id.clone()),
        tenant: Some(owner.spec.tenant.clone()),
        // What the controller recorded is not known without the cluster: the grants and
        // connections the spec asks for that Auth0 holds stand for it (a client that
        // declares grants has all its grants read and compared, as the controller does; one
        // that declares none keeps grants made elsewhere, as with the controller).
        grants: managed
            .map(|c| {
                state
                    .grants_of(&c.client_id)
                    .into_iter()
                    .filter(|g| client.spec.grants.iter().any(|s| s.audience == g.audience))
                    .map(|g| GrantStatus {
                        audience: g.audience,
                        grant_id: g.id,
                        scopes: g.scope,
                    })
                    .collect()
            })
            .unwrap_or_default(),
        connections: managed
            .map(|c| {
                state
                    .connections_of(&c.client_id)
                    .into_iter()
                    .filter(|(name, _)| client.spec.connections.contains(name))
                    .map(|(name, connection_id)| ConnectionStatus {
                        name,
                        connection_id,
                    })
                    .collect()
            })
            .unwrap_or_default(),
        ..AuthClientStatus::default()
    };
    // With a cluster: what the controller recorded (the spec is still planned as changed,
    // so Auth0 is compared with it).
    let status = match recorded {
        Some(recorded) => AuthClientStatus {
            client_id: recorded.client_id.clone(),
            tenant: Some(owner.spec.tenant.clone()),
            grants: recorded.grants.clone(),
            connections: recorded.connections.clone(),
            ..AuthClientStatus::default()
        },
        None => synthesized,
    };
    planned.auth0_id = status.client_id.clone();
    let tenant = input.tenant;
    let labels = input.labels.get(&namespace).cloned().unwrap_or_default();
    let access_finding = AccessFinding::default();
    let governance = Governance {
        tenant,
        namespace: &namespace,
        labels: &labels,
        servers,
    };
    let adoption_allowed = client_resolve::adoption_allowed(tenant, &namespace, &labels);
    let plan_input = Input {
        owner: &owner,
        status: &status,
        tag: &tag,
        tenant_generation: tenant.metadata.generation.unwrap_or(0),
        now,
        finding: None,
        extra: ClientInput {
            tenant,
            secret: SecretView::NotCached,
            access: &access_finding,
            governance,
            adoption: AdoptionRights {
                allowed: adoption_allowed,
                management_client_id: input.management_client_id,
            },
        },
    };
    // The refusals of `resolve`; what the namespace may no longer hold is revoked even then.
    let (refusal, everything) = client_resolve::spec_refusal(&owner, &status, &governance);
    if let Some(refusal) = refusal {
        let plan = client_plan::revoke(&plan_input, refusal.clone(), everything);
        describe_steps(
            &mut planned,
            &plan.steps,
            &plan.grants_before,
            managed,
            true,
        );
        return planned.refused(refusal);
    }
    let lookup = match client_plan::lookup(&plan_input) {
        Ok(lookup) => lookup,
        Err(failure) => return planned.refused(failure),
    };
    let view = match lookup {
        Lookup::Known(view) => view,
        Lookup::Get { id, adopting } => {
            planned.auth0_calls += 1;
            match (state.clients.get(&id), adopting) {
                (Some(found), true) => Auth0View::Adoptable(Box::new(found.clone())),
                (None, true) => Auth0View::AdoptMissing(id),
                (Some(found), false) => Auth0View::Found(Box::new(found.clone())),
                (None, false) => Auth0View::Missing,
            }
        }
        Lookup::FindByTag => {
            planned.auth0_calls += 1;
            Auth0View::Recovered(
                state
                    .clients
                    .values()
                    .find(|c| tag.matches(c))
                    .map(|c| Box::new(c.clone())),
            )
        }
    };
    let adopting = match &view {
        Auth0View::Adoptable(found) => Some((**found).clone()),
        _ => None,
    };
    let grants = match access::grants_lookup(&plan_input, &view) {
        GrantsLookup::Known(view) => view,
        GrantsLookup::Read(id) => {
            planned.auth0_calls += 1;
            GrantsView::Listed(state.grants_of(&id))
        }
    };
    let connections: BTreeMap<String, Option<String>> = access::connections_lookup(&plan_input)
        .into_iter()
        .map(|name| {
            planned.auth0_calls += 1;
            let id = state.connections.get(&name).map(|c| c.id.clone());
            (name, id)
        })
        .collect();
    let observed = Observed {
        client: view,
        grants,
        connections,
    };
    let plan = match client_plan::plan(&plan_input, observed) {
        Ok(plan) => plan,
        Err(failure) => return planned.refused(failure),
    };
    let before: Option<&Auth0Client> = adopting.as_ref().or(managed);
    planned.auth0_id = plan.client_id.clone().or(planned.auth0_id);
    describe_steps(
        &mut planned,
        &plan.steps,
        &plan.grants_before,
        before,
        managed.is_some(),
    );
    if plan.notes.iter().any(|n| n.reason == EventReason::Adopted) {
        planned.action = Action::Adopt;
        planned.notes.push(format!(
            "adopts Auth0 client {}: it is tagged as owned by {}/{key}, and its client secret goes into the AuthClient's Secret",
            plan.client_id.as_deref().unwrap_or_default(),
            options.cluster_id
        ));
    }
    if planned.action == Action::NoChange {
        planned.auth0_calls = 0;
    }
    planned
}

/// Turns the controller's steps into changes and counts their Auth0 requests.
fn describe_steps(
    planned: &mut ObjectPlan,
    steps: &[Step],
    grants_before: &[GrantStatus],
    before: Option<&Auth0Client>,
    managed: bool,
) {
    let held = |audience: &str| {
        grants_before
            .iter()
            .find(|g| g.audience == audience)
            .map(|g| g.scopes.clone())
    };
    let mut changed = false;
    for step in steps {
        match step {
            Step::Mark | Step::Finalize | Step::ReadSecret | Step::ApplySecret { .. } => {}
            // The Secret of a managed client is taken as intact (it is in the cluster); an
            // adopted client's secret is read once.
            Step::FetchSecret => {
                if !managed {
                    planned.auth0_calls += 1;
                }
            }
            Step::Create(desired) => {
                planned.action = Action::Create;
                planned.auth0_calls += 1;
                planned
                    .changes
                    .extend(fields_of(&**desired, None::<&Auth0Client>));
            }
            Step::Patch(patch, _) => {
                changed = true;
                planned.auth0_calls += 1;
                planned.changes.extend(fields_of(&**patch, before));
            }
            Step::Rotate => {
                changed = true;
                planned.auth0_calls += 1;
                planned.changes.push(Change::RotateSecret);
            }
            Step::CreateGrant {
                audience, scopes, ..
            } => {
                changed = true;
                planned.auth0_calls += 1;
                planned.changes.push(Change::Grant {
                    audience: audience.clone(),
                    old: None,
                    new: Some(scopes.clone()),
                });
            }
            Step::PatchGrant {
                audience, scopes, ..
            } => {
                changed = true;
                planned.auth0_calls += 1;
                planned.changes.push(Change::Grant {
                    audience: audience.clone(),
                    old: held(audience),
                    new: Some(scopes.clone()),
                });
            }
            Step::DeleteGrant { audience, .. } => {
                changed = true;
                planned.auth0_calls += 1;
                planned.changes.push(Change::Grant {
                    audience: audience.clone(),
                    old: held(audience).or_else(|| Some(Vec::new())),
                    new: None,
                });
            }
            Step::EnableConnection { name, .. } => {
                changed = true;
                planned.auth0_calls += 1;
                planned.changes.push(Change::Connection {
                    name: name.clone(),
                    enabled: true,
                });
            }
            Step::DisableConnection { name, .. } => {
                changed = true;
                planned.auth0_calls += 1;
                planned.changes.push(Change::Connection {
                    name: name.clone(),
                    enabled: false,
                });
            }
        }
    }
    if changed && planned.action == Action::NoChange {
        planned.action = Action::Update;
    }
}

/// The fields of a request body (a create, a PATCH) as changes, the old values from
/// `before`; the ownership tag's keys are left out (an adoption says so), and so is anything
/// named like a secret.
fn fields_of<B: Serialize, O: Serialize>(body: &B, before: Option<&O>) -> Vec<Change> {
    let Ok(Value::Object(body)) = serde_json::to_value(body) else {
        return Vec::new();
    };
    let before = before
        .and_then(|b| serde_json::to_value(b).ok())
        .and_then(|v| match v {
            Value::Object(map) => Some(map),
            _ => None,
        })
        .unwrap_or_default();
    let secret = |key: &str| key.contains("secret");
    let mut out = Vec::new();
    for (key, new) in body {
        if secret(&key) {
            continue;
        }
        match (key.as_str(), new) {
            ("client_metadata", Value::Object(entries)) => {
                let old_entries = match before.get("client_metadata") {
                    Some(Value::Object(map)) => map.clone(),
                    _ => serde_json::Map::new(),
                };
                for (entry, value) in entries {
                    if [TAG_CLUSTER, TAG_OWNER_UID, TAG_OWNER_REF].contains(&entry.as_str()) {
                        continue;
                    }
                    out.push(Change::Field {
                        field: format!("client_metadata.{entry}"),
                        old: old_entries.get(&entry).cloned(),
                        new: Some(value).filter(|v| !v.is_null()),
                    });
                }
            }
            (_, new) => out.push(Change::Field {
                old: before.get(&key).cloned().filter(|v| !v.is_null()),
                field: key,
                new: Some(new).filter(|v| !v.is_null()),
            }),
        }
    }
    out
}

/// Deletes for the clients this cluster's tag names whose AuthClient is not in the files.
fn prune(input: &TenantInput<'_>, state: &TenantState, options: &PlanOptions) -> Vec<ObjectPlan> {
    let declared: BTreeSet<String> = input
        .clients
        .iter()
        .map(|c| format!("{}/{}", namespace_of(*c), c.name_any()))
        .collect();
    let mut out = Vec::new();
    for client in state.clients.values() {
        let Some(tag) = tagged_owner(client) else {
            continue;
        };
        if tag.cluster != options.cluster_id || declared.contains(&tag.owner_ref) {
            continue;
        }
        let (namespace, name) = tag
            .owner_ref
            .split_once('/')
            .unwrap_or(("", &tag.owner_ref));
        let mut planned = ObjectPlan::new("AuthClient", namespace, name);
        planned.action = Action::Delete;
        planned.auth0_id = Some(client.client_id.clone());
        let grants = state.grants_of(&client.client_id);
        planned.auth0_calls = 1 + grants.len() as u32;
        for grant in grants {
            planned.changes.push(Change::Grant {
                audience: grant.audience,
                old: Some(grant.scope),
                new: None,
            });
        }
        planned.notes.push(
            "with deletionPolicy: Delete (the default) the Auth0 client and its grants are deleted; with Orphan only its ownership tag is removed".to_owned(),
        );
        out.push(planned);
    }
    out
}

/// How many clients this cluster owns in the tenant that the files do not hold (shown as a
/// hint when `--prune` is not given).
pub fn undeclared_owned(input: &TenantInput<'_>, state: &TenantState, cluster: &str) -> usize {
    prune(
        input,
        state,
        &PlanOptions {
            cluster_id: cluster.to_owned(),
            prune: true,
        },
    )
    .len()
}
