//! The I/O of an AuthClient pass: the Auth0 reads a [`Lookup`] asks for, then one executor per
//! [`Step`] of a [`Plan`] (Auth0 calls, the crash-safety marker, the Secret), which the driver
//! ([`crate::driver`]) runs in order. What happened is kept in a [`Run`] (its [`Report`]); an
//! Auth0 failure stops the steps and becomes data in the report.

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, ResourceExt};

use std::collections::BTreeMap;

use super::access::{self, GrantsLookup, GrantsView};
use super::desired::{ClientPatch, DesiredClient};
use super::error::ReconcileError;
use super::input::Input;
use super::keys::KeyPass;
use super::plan::{Auth0View, Lookup, Observed, Plan, Step};
pub use super::report::Report;
use crate::authclient::secret::{self, Credentials};
use crate::context::Context;
use crate::driver::{Flow, Pass};
use crate::marker::{self, Outcome};
use crate::pass::{
    Auth0Failure, EventAction, EventReason, Failure, Note, PassError, Pending, Retry,
    auth0_failure, created_nothing,
};
use auth0_mgmt::{Priority, SecretString, TenantClient};
use nexus_crd::{AuthClient, ConnectionStatus, GrantStatus, ReadyReason};

/// Reads what `lookup` asks for.
pub async fn observe(
    auth0: &TenantClient,
    input: &Input<'_>,
    lookup: Lookup,
) -> Result<Auth0View, Auth0Failure> {
    match lookup {
        Lookup::Known(view) => Ok(view),
        Lookup::Get { id, adopting } => {
            let priority = if adopting {
                Priority::Critical
            } else {
                Priority::Normal
            };
            // A client to adopt is read without its secret: whether it may be adopted is
            // decided first (plan::adoption_refusal), and the secret is fetched only then.
            let read = if adopting {
                auth0.get_client_without_secret(&id, priority).await
            } else {
                auth0.get_client(&id, priority).await
            };
            match read {
                Ok(client) if adopting => Ok(Auth0View::Adoptable(Box::new(client))),
                Ok(client) => Ok(Auth0View::Found(Box::new(client))),
                Err(e) if e.is_not_found() && adopting => Ok(Auth0View::AdoptMissing(id)),
                Err(e) if e.is_not_found() => Ok(Auth0View::Missing),
                Err(e) => Err(auth0_failure("reading the Auth0 client", &e)),
            }
        }
        Lookup::FindByTag => {
            // Checkpoint pages, one at a time, stopping at the tagged client.
            let found = auth0
                .find_client(
                    &["client_id", "client_metadata", "client_secret"],
                    Priority::Critical,
                    |c| input.tag.matches(c),
                )
                .await
                .map_err(|e| {
                    auth0_failure("looking for a client created by an interrupted attempt", &e)
                })?;
            // The list carries the secret only with read:client_keys; the Secret step reads
            // it with a GET when it is missing.
            Ok(Auth0View::Recovered(found.map(Box::new)))
        }
    }
}

/// Reads the client's grants and looks up the connections the spec names for the first time,
/// after the client lookup found `view`.
pub async fn observe_access(
    auth0: &TenantClient,
    input: &Input<'_>,
    view: Auth0View,
) -> Result<Observed, Auth0Failure> {
    let grants = match access::grants_lookup(input, &view) {
        GrantsLookup::Known(grants) => grants,
        GrantsLookup::Read(client_id) => auth0
            .list_client_grants(Some(&client_id), None, Priority::Normal)
            .await
            .map(GrantsView::Listed)
            .map_err(|e| auth0_failure("reading the client's grants", &e))?,
    };
    let mut connections = BTreeMap::new();
    for name in access::connections_lookup(input) {
        let found = auth0
            .find_connection(&name, Priority::Normal)
            .await
            .map_err(|e| auth0_failure(&format!("looking up connection '{name}'"), &e))?;
        connections.insert(name, found.map(|c| c.id));
    }
    Ok(Observed {
        client: view,
        grants,
        connections,
    })
}

/// Runs one step of the plan (one function per step); an Auth0 failure is recorded in `run`
/// and stops the pass.
pub async fn execute(
    pass: &mut Pass<'_, AuthClient>,
    run: &mut Run,
    step: &Step,
) -> Result<Flow, ReconcileError> {
    let (ctx, resolved, input) = (pass.ctx, pass.resolved, pass.input);
    let auth0 = &*resolved.auth0;
    Ok(match step {
        Step::CreateGrant {
            audience,
            scopes,
            note,
        } => grant_create(auth0, run, audience, scopes, note).await,
        Step::PatchGrant {
            grant_id,
            audience,
            scopes,
            note,
        } => grant_patch(auth0, run, grant_id, audience, scopes, note).await,
        Step::DeleteGrant {
            grant_id,
            audience,
            note,
        } => grant_delete(auth0, run, grant_id, audience, note).await,
        Step::EnableConnection {
            name,
            connection_id,
            note,
        } => connection_set(auth0, run, name, connection_id, note, true).await,
        Step::DisableConnection {
            name,
            connection_id,
            note,
        } => connection_set(auth0, run, name, connection_id, note, false).await,
        Step::Mark => mark(pass, run).await?,
        Step::Finalize => finalize(pass).await?,
        Step::Create(desired) => create(auth0, run, desired).await,
        Step::Patch(patch, note) => patch_client(auth0, run, patch, note).await,
        Step::Rotate => rotate(auth0, run).await,
        Step::FetchSecret => fetch(auth0, run).await,
        Step::ReadSecret => read_secret(ctx, auth0, &input, run).await,
        Step::ApplySecret { existing } => apply_secret(ctx, &input, run, *existing).await?,
    })
}

/// What the steps so far did, and what the next ones start from.
pub struct Run {
    /// What is reported.
    report: Report,
    /// The client secret, once known.
    credential: Option<SecretString>,
    /// The client's grants by audience.
    grants: BTreeMap<String, GrantStatus>,
    /// The connections the client is enabled on, by name.
    connections: BTreeMap<String, ConnectionStatus>,
    /// What the key pass left ([`super::keys`]).
    keys: Option<KeyPass>,
}

impl Run {
    /// What the steps of `plan` start from.
    pub fn start(plan: &Plan) -> Self {
        Run {
            report: Report {
                outcome: Outcome::start(plan.client_id.clone()),
                ..Report::default()
            },
            credential: plan.credential.clone(),
            grants: plan
                .grants_before
                .iter()
                .map(|g| (g.audience.clone(), g.clone()))
                .collect(),
            connections: plan
                .connections_before
                .iter()
                .map(|c| (c.name.clone(), c.clone()))
                .collect(),
            keys: None,
        }
    }

    /// What the steps did so far.
    pub fn report(&self) -> &Report {
        &self.report
    }

    /// The report for the status, with the grants and connections after the steps, and what
    /// the key pass left.
    pub fn finish(self) -> (Report, Option<KeyPass>) {
        let mut report = self.report;
        report.grants = self.grants.into_values().collect();
        report.connections = self.connections.into_values().collect();
        (report, self.keys)
    }

    /// Runs the key pass after the steps (see [`super::keys::run`]).
    pub async fn keys(&mut self, pass: &mut Pass<'_, AuthClient>) -> Result<(), ReconcileError> {
        self.keys = super::keys::run(pass, &mut self.report).await?;
        Ok(())
    }

    fn client_id(&self) -> String {
        self.report.outcome.id.clone().unwrap_or_default()
    }

    /// Records the failure that stops the steps.
    fn stop(&mut self, failure: Auth0Failure) -> Flow {
        self.report.failure = Some(failure);
        Flow::Stop
    }
}

/// [`Step::CreateGrant`].
async fn grant_create(
    auth0: &TenantClient,
    run: &mut Run,
    audience: &str,
    scopes: &[String],
    note: &Note,
) -> Flow {
    match create_grant(auth0, &run.client_id(), audience, scopes).await {
        Ok(grant) => {
            run.grants.insert(audience.to_owned(), grant);
            run.report.notes.push(note.clone());
            Flow::Next
        }
        Err(failure) => run.stop(failure),
    }
}

/// [`Step::PatchGrant`].
async fn grant_patch(
    auth0: &TenantClient,
    run: &mut Run,
    grant_id: &str,
    audience: &str,
    scopes: &[String],
    note: &Note,
) -> Flow {
    match auth0
        .patch_client_grant(grant_id, scopes, Priority::Normal)
        .await
    {
        Ok(grant) => {
            run.grants.insert(
                audience.to_owned(),
                GrantStatus {
                    audience: audience.to_owned(),
                    grant_id: grant.id,
                    scopes: grant.scope,
                },
            );
            run.report.notes.push(note.clone());
            Flow::Next
        }
        Err(error) => {
            if error.is_not_found() {
                // Deleted outside the operator: the next pass reads the grants.
                run.grants.remove(audience);
            }
            run.stop(auth0_failure(
                &format!("updating the grant to {audience}"),
                &error,
            ))
        }
    }
}

/// [`Step::DeleteGrant`].
async fn grant_delete(
    auth0: &TenantClient,
    run: &mut Run,
    grant_id: &str,
    audience: &str,
    note: &Note,
) -> Flow {
    match auth0
        .delete_client_grant(grant_id, Priority::Critical)
        .await
    {
        Ok(()) => {
            run.grants.remove(audience);
            run.report.notes.push(note.clone());
            Flow::Next
        }
        Err(error) => run.stop(auth0_failure(
            &format!("deleting the grant to {audience}"),
            &error,
        )),
    }
}

/// [`Step::EnableConnection`] (`enable`) and [`Step::DisableConnection`].
async fn connection_set(
    auth0: &TenantClient,
    run: &mut Run,
    name: &str,
    connection_id: &str,
    note: &Note,
    enable: bool,
) -> Flow {
    let client_id = run.client_id();
    match auth0
        .set_connection_clients(
            connection_id,
            &[(client_id.as_str(), enable)],
            Priority::Normal,
        )
        .await
    {
        Ok(()) => {
            if enable {
                run.connections.insert(
                    name.to_owned(),
                    ConnectionStatus {
                        name: name.to_owned(),
                        connection_id: connection_id.to_owned(),
                    },
                );
            } else {
                run.connections.remove(name);
            }
            run.report.notes.push(note.clone());
            Flow::Next
        }
        Err(error) if error.is_not_found() && !enable => {
            // The connection is gone, and the client with it.
            run.connections.remove(name);
            Flow::Next
        }
        Err(error) => {
            if error.is_not_found() {
                run.connections.remove(name);
            }
            let what = if enable { "enabling" } else { "disabling" };
            run.stop(auth0_failure(
                &format!("{what} the client on connection '{name}'"),
                &error,
            ))
        }
    }
}

/// [`Step::Mark`]: the finalizer and the crash-safety marker in one metadata write,
/// conditional on the resourceVersion the pass planned from: on a stale cache (an object this
/// pass has not seen) the write fails with 409 and nothing is sent to Auth0, so a stale pass
/// can never create a second client.
async fn mark(pass: &mut Pass<'_, AuthClient>, run: &mut Run) -> Result<Flow, kube::Error> {
    let input = pass.input;
    let value = marker::new_value(
        input.owner,
        &marker::tag_key(&input.tag.cluster, &input.tag.owner_uid),
        input.now,
    );
    let rv = marker::claim(pass.ctx, input.owner, Some(&value)).await?;
    pass.writer.claimed(rv);
    run.report.outcome.marked(value);
    Ok(Flow::Next)
}

/// [`Step::Finalize`]: the finalizer alone, conditional like [`mark`].
async fn finalize(pass: &mut Pass<'_, AuthClient>) -> Result<Flow, kube::Error> {
    let rv = marker::claim(pass.ctx, pass.input.owner, None).await?;
    pass.writer.claimed(rv);
    Ok(Flow::Next)
}

/// [`Step::Create`].
async fn create(auth0: &TenantClient, run: &mut Run, desired: &DesiredClient) -> Flow {
    match auth0.create_client(desired, Priority::Critical).await {
        Ok(created) => {
            run.report.notes.push(Note::normal(
                EventReason::Created,
                EventAction::Create,
                format!("created Auth0 client {}", created.client_id),
            ));
            run.report.outcome.id = Some(created.client_id);
            run.credential = created.client_secret.filter(|s| !s.is_empty());
            run.report.created = true;
            run.report.outcome.pending = Pending::Cleared;
            Flow::Next
        }
        Err(error) => {
            if created_nothing(&error) {
                run.report.outcome.pending = Pending::Cleared;
            }
            run.stop(auth0_failure("creating the Auth0 client", &error))
        }
    }
}

/// [`Step::Patch`].
async fn patch_client(
    auth0: &TenantClient,
    run: &mut Run,
    patch: &ClientPatch,
    note: &Option<Note>,
) -> Flow {
    let id = run.client_id();
    if let Err(error) = auth0.patch_client(&id, patch, Priority::Normal).await {
        if error.is_not_found() {
            run.report.outcome.gone = true;
        }
        return run.stop(auth0_failure("updating the Auth0 client", &error));
    }
    run.report.notes.extend(note.clone());
    Flow::Next
}

/// [`Step::Rotate`].
async fn rotate(auth0: &TenantClient, run: &mut Run) -> Flow {
    let id = run.client_id();
    match auth0.rotate_secret(&id, Priority::Critical).await {
        Ok(rotated) => {
            run.credential = rotated.client_secret.filter(|s| !s.is_empty());
            run.report.rotated = true;
            run.report.notes.push(Note::normal(
                EventReason::SecretRotated,
                EventAction::Rotate,
                format!("client secret of {id} rotated"),
            ));
            Flow::Next
        }
        Err(error) => {
            if error.is_not_found() {
                run.report.outcome.gone = true;
            }
            run.stop(auth0_failure("rotating the client secret", &error))
        }
    }
}

/// [`Step::FetchSecret`].
async fn fetch(auth0: &TenantClient, run: &mut Run) -> Flow {
    match fetch_secret(auth0, &mut run.report).await {
        Some(found) => {
            run.credential = found;
            Flow::Next
        }
        None => Flow::Stop,
    }
}

/// [`Step::ReadSecret`].
async fn read_secret(
    ctx: &Context,
    auth0: &TenantClient,
    input: &Input<'_>,
    run: &mut Run,
) -> Flow {
    let owner = input.owner;
    let id = run.client_id();
    let api = Api::<Secret>::namespaced(ctx.kube.clone(), &owner.namespace().unwrap_or_default());
    match api.get_opt(&owner.secret_name()).await {
        Ok(found) => {
            run.credential = found
                .filter(|s| secret::is_owned_by(s, owner) && secret::is_intact(s))
                .and_then(|s| secret::stored_credentials(&s, owner, &id))
                .map(SecretString::new);
        }
        Err(error) => {
            run.report.kube_error = Some(error);
            return Flow::Stop;
        }
    }
    if run.credential.is_none() {
        // Changed since the cache saw it: the secret comes from Auth0.
        return fetch(auth0, run).await;
    }
    Flow::Next
}

/// [`Step::ApplySecret`].
async fn apply_secret(
    ctx: &Context,
    input: &Input<'_>,
    run: &mut Run,
    existing: bool,
) -> Result<Flow, ReconcileError> {
    let owner = input.owner;
    // A client that authenticates with its key: Auth0 no longer answers its secret
    // (recorded), and the Secret is rebuilt without it (the key pass writes the key).
    let key_only = owner.spec.credentials.is_private_key_jwt()
        && input
            .status
            .credentials
            .as_ref()
            .is_some_and(|c| c.active.is_some());
    let Some(value) = run
        .credential
        .clone()
        .or_else(|| key_only.then(SecretString::default))
    else {
        return Ok(run.stop(Auth0Failure::Failed(Failure {
            reason: ReadyReason::Auth0Refused,
            message: "Auth0 did not return the client secret; grant the tenant's M2M application the read:client_keys scope".into(),
            retry: Retry::Backoff,
        })));
    };
    let assertion = match super::keys::carry_over(ctx, input).await {
        Ok(key) => key,
        Err(error) => {
            run.report.kube_error = Some(error);
            return Ok(Flow::Stop);
        }
    };
    let desired = secret::build_secret(
        owner,
        &Credentials {
            assertion,
            ..Credentials::for_tenant(
                input.extra.tenant,
                run.client_id(),
                value.expose().to_owned(),
            )
        },
    )
    .map_err(|secret::SecretBuildError::MissingUid| PassError::missing_uid::<AuthClient>())?;
    match write_secret(ctx, owner, &desired, existing).await {
        Ok(None) => Ok(Flow::Next),
        Ok(Some(failure)) => Ok(run.stop(Auth0Failure::Failed(failure))),
        Err(error) => {
            run.report.kube_error = Some(error);
            Ok(Flow::Stop)
        }
    }
}

/// `GET /api/v2/clients/{id}` for the client secret; `None` when it failed (recorded in
/// `report`).
async fn fetch_secret(auth0: &TenantClient, report: &mut Report) -> Option<Option<SecretString>> {
    let id = report.outcome.id.clone().unwrap_or_default();
    match auth0.get_client(&id, Priority::Normal).await {
        Ok(client) => Some(client.client_secret.filter(|s| !s.is_empty())),
        Err(error) => {
            if error.is_not_found() {
                report.outcome.gone = true;
            }
            report.failure = Some(auth0_failure("reading the client secret", &error));
            None
        }
    }
}

/// `POST /api/v2/client-grants`; a 409 (the grant exists: an interrupted pass created it, or
/// someone did in the dashboard) finds it by (client, audience) and brings its scopes in line.
async fn create_grant(
    auth0: &TenantClient,
    client_id: &str,
    audience: &str,
    scopes: &[String],
) -> Result<GrantStatus, Auth0Failure> {
    let action = format!("granting {audience}");
    let existing = match auth0
        .create_client_grant(client_id, audience, scopes, Priority::Critical)
        .await
    {
        Ok(grant) => {
            return Ok(GrantStatus {
                audience: audience.to_owned(),
                grant_id: grant.id,
                scopes: grant.scope,
            });
        }
        Err(error) if error.is_conflict() => auth0
            .list_client_grants(Some(client_id), Some(audience), Priority::Critical)
            .await
            .map_err(|e| auth0_failure(&action, &e))?
            .into_iter()
            .find(|g| g.client_id == client_id && g.audience == audience)
            .ok_or_else(|| auth0_failure(&action, &error))?,
        Err(error) => return Err(auth0_failure(&action, &error)),
    };
    let same = {
        let have: std::collections::BTreeSet<&String> = existing.scope.iter().collect();
        let want: std::collections::BTreeSet<&String> = scopes.iter().collect();
        have == want
    };
    if same {
        return Ok(GrantStatus {
            audience: audience.to_owned(),
            grant_id: existing.id,
            scopes: existing.scope,
        });
    }
    let patched = auth0
        .patch_client_grant(&existing.id, scopes, Priority::Critical)
        .await
        .map_err(|e| auth0_failure(&action, &e))?;
    Ok(GrantStatus {
        audience: audience.to_owned(),
        grant_id: patched.id,
        scopes: patched.scope,
    })
}

/// Writes the Secret: server-side apply when the cache shows it as ours; otherwise create it,
/// so a foreign Secret of the same name is never overwritten (409, then a GET decides).
async fn write_secret(
    ctx: &Context,
    owner: &AuthClient,
    desired: &Secret,
    existing: bool,
) -> Result<Option<Failure>, kube::Error> {
    let namespace = owner.namespace().unwrap_or_default();
    let name = owner.secret_name();
    let api = Api::<Secret>::namespaced(ctx.kube.clone(), &namespace);
    let apply = || async {
        api.patch(
            &name,
            &PatchParams::apply(nexus_crd::FIELD_MANAGER).force(),
            &Patch::Apply(desired),
        )
        .await
        .map(|_| None)
    };
    if existing {
        return apply().await;
    }
    let params = PostParams {
        field_manager: Some(nexus_crd::FIELD_MANAGER.into()),
        ..PostParams::default()
    };
    match api.create(&params, desired).await {
        Ok(_) => Ok(None),
        Err(kube::Error::Api(status)) if status.code == 409 => match api.get_opt(&name).await? {
            Some(found) if secret::is_owned_by(&found, owner) => apply().await,
            Some(_) => Ok(Some(Failure::permanent(
                ReadyReason::SecretConflict,
                format!(
                    "Secret {namespace}/{name} already exists and is not owned by this AuthClient; delete it or set spec.secret.name"
                ),
            ))),
            None => api.create(&params, desired).await.map(|_| None),
        },
        Err(error) => Err(error),
    }
}
