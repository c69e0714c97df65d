//! The I/O of an AuthClient pass: the Auth0 reads a [`Lookup`] asks for, then the [`Step`]s of
//! a [`Plan`] (Auth0 calls, the crash-safety marker, the Secret). What happened is returned as
//! a [`Report`]; an Auth0 failure stops the steps and becomes data in the report.

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Patch, PatchParams, PostParams};
use kube::runtime::reflector::ObjectRef;
use kube::{Api, ResourceExt};

use std::collections::BTreeMap;

use super::access::{self, GrantsLookup, GrantsView};
use super::error::ReconcileError;
use super::input::Input;
use super::plan::{Auth0View, Lookup, Observed, Plan, Step};
pub use super::report::Report;
use crate::authclient::secret::{self, Credentials};
use crate::context::Context;
use crate::marker;
use crate::pass::{
    Auth0Failure, EventAction, EventReason, Failure, Note, Pending, Retry, auth0_failure,
    created_nothing,
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

/// Runs the steps of `plan` in order; stops at the first failure.
pub async fn execute(
    ctx: &Context,
    auth0: &TenantClient,
    input: &Input<'_>,
    plan: &Plan,
) -> Result<Report, ReconcileError> {
    let owner = input.owner;
    let mut report = Report {
        client_id: plan.client_id.clone(),
        ..Report::default()
    };
    let mut credential: Option<SecretString> = plan.credential.clone();
    let mut grants: BTreeMap<String, GrantStatus> = plan
        .grants_before
        .iter()
        .map(|g| (g.audience.clone(), g.clone()))
        .collect();
    let mut connections: BTreeMap<String, ConnectionStatus> = plan
        .connections_before
        .iter()
        .map(|c| (c.name.clone(), c.clone()))
        .collect();
    for step in &plan.steps {
        match step {
            Step::CreateGrant {
                audience,
                scopes,
                note,
            } => {
                let client_id = report.client_id.clone().unwrap_or_default();
                match create_grant(auth0, &client_id, audience, scopes).await {
                    Ok(grant) => {
                        grants.insert(audience.clone(), grant);
                        report.notes.push(note.clone());
                    }
                    Err(failure) => {
                        report.failure = Some(failure);
                        break;
                    }
                }
            }
            Step::PatchGrant {
                grant_id,
                audience,
                scopes,
                note,
            } => match auth0
                .patch_client_grant(grant_id, scopes, Priority::Normal)
                .await
            {
                Ok(grant) => {
                    grants.insert(
                        audience.clone(),
                        GrantStatus {
                            audience: audience.clone(),
                            grant_id: grant.id,
                            scopes: grant.scope,
                        },
                    );
                    report.notes.push(note.clone());
                }
                Err(error) => {
                    if error.is_not_found() {
                        // Deleted outside the operator: the next pass reads the grants.
                        grants.remove(audience);
                    }
                    report.failure = Some(auth0_failure(
                        &format!("updating the grant to {audience}"),
                        &error,
                    ));
                    break;
                }
            },
            Step::DeleteGrant {
                grant_id,
                audience,
                note,
            } => match auth0
                .delete_client_grant(grant_id, Priority::Critical)
                .await
            {
                Ok(()) => {
                    grants.remove(audience);
                    report.notes.push(note.clone());
                }
                Err(error) => {
                    report.failure = Some(auth0_failure(
                        &format!("deleting the grant to {audience}"),
                        &error,
                    ));
                    break;
                }
            },
            Step::EnableConnection {
                name,
                connection_id,
                note,
            }
            | Step::DisableConnection {
                name,
                connection_id,
                note,
            } => {
                let enable = matches!(step, Step::EnableConnection { .. });
                let client_id = report.client_id.clone().unwrap_or_default();
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
                            connections.insert(
                                name.clone(),
                                ConnectionStatus {
                                    name: name.clone(),
                                    connection_id: connection_id.clone(),
                                },
                            );
                        } else {
                            connections.remove(name);
                        }
                        report.notes.push(note.clone());
                    }
                    Err(error) if error.is_not_found() && !enable => {
                        // The connection is gone, and the client with it.
                        connections.remove(name);
                    }
                    Err(error) => {
                        if error.is_not_found() {
                            connections.remove(name);
                        }
                        let what = if enable { "enabling" } else { "disabling" };
                        report.failure = Some(auth0_failure(
                            &format!("{what} the client on connection '{name}'"),
                            &error,
                        ));
                        break;
                    }
                }
            }
            Step::Mark => {
                let value = marker::new_value(
                    owner,
                    &marker::tag_key(&input.tag.cluster, &input.tag.owner_uid),
                    input.now,
                );
                // Conditional on the resourceVersion the pass planned from: on a stale cache
                // (an object this pass has not seen) the write fails with 409 and nothing is
                // sent to Auth0, so a stale pass can never create a second client.
                let rv = marker::claim(ctx, owner, Some(&value)).await?;
                report.written = Some((input.status.clone(), rv));
                report.pending = Pending::Set(());
                report.marker = Some(value);
            }
            Step::Finalize => {
                let rv = marker::claim(ctx, owner, None).await?;
                report.written = Some((input.status.clone(), rv));
            }
            Step::Create(desired) => match auth0.create_client(desired, Priority::Critical).await {
                Ok(created) => {
                    report.notes.push(Note::normal(
                        EventReason::Created,
                        EventAction::Create,
                        format!("created Auth0 client {}", created.client_id),
                    ));
                    report.client_id = Some(created.client_id);
                    credential = created.client_secret.filter(|s| !s.is_empty());
                    report.created = true;
                    report.pending = Pending::Cleared;
                }
                Err(error) => {
                    if created_nothing(&error) {
                        report.pending = Pending::Cleared;
                    }
                    report.failure = Some(auth0_failure("creating the Auth0 client", &error));
                    break;
                }
            },
            Step::Patch(patch, note) => {
                let id = report.client_id.clone().unwrap_or_default();
                if let Err(error) = auth0.patch_client(&id, patch, Priority::Normal).await {
                    if error.is_not_found() {
                        report.client_gone = true;
                    }
                    report.failure = Some(auth0_failure("updating the Auth0 client", &error));
                    break;
                }
                report.notes.extend(note.clone());
            }
            Step::Rotate => {
                let id = report.client_id.clone().unwrap_or_default();
                match auth0.rotate_secret(&id, Priority::Critical).await {
                    Ok(rotated) => {
                        credential = rotated.client_secret.filter(|s| !s.is_empty());
                        report.rotated = true;
                        report.notes.push(Note::normal(
                            EventReason::SecretRotated,
                            EventAction::Rotate,
                            format!("client secret of {id} rotated"),
                        ));
                    }
                    Err(error) => {
                        if error.is_not_found() {
                            report.client_gone = true;
                        }
                        report.failure = Some(auth0_failure("rotating the client secret", &error));
                        break;
                    }
                }
            }
            Step::FetchSecret => match fetch_secret(auth0, &mut report).await {
                Some(found) => credential = found,
                None => break,
            },
            Step::ReadSecret => {
                let id = report.client_id.clone().unwrap_or_default();
                let api = Api::<Secret>::namespaced(
                    ctx.kube.clone(),
                    &owner.namespace().unwrap_or_default(),
                );
                match api.get_opt(&owner.secret_name()).await {
                    Ok(found) => {
                        credential = found
                            .filter(|s| secret::is_owned_by(s, owner) && secret::is_intact(s))
                            .and_then(|s| secret::stored_credentials(&s, owner, &id))
                            .map(SecretString::new);
                    }
                    Err(error) => {
                        report.kube_error = Some(error);
                        break;
                    }
                }
                if credential.is_none() {
                    // Changed since the cache saw it: the secret comes from Auth0.
                    match fetch_secret(auth0, &mut report).await {
                        Some(found) => credential = found,
                        None => break,
                    }
                }
            }
            Step::ApplySecret { existing } => {
                // A client that authenticates with its key: Auth0 no longer answers its secret
                // (recorded), and the Secret is rebuilt without it (the key pass writes the key).
                let key_only = owner.spec.credentials.is_private_key_jwt()
                    && input
                        .status
                        .credentials
                        .as_ref()
                        .is_some_and(|c| c.active.is_some());
                let Some(value) = credential
                    .clone()
                    .or_else(|| key_only.then(SecretString::default))
                else {
                    report.failure = Some(Auth0Failure::Failed(Failure {
                        reason: ReadyReason::Auth0Refused,
                        message: "Auth0 did not return the client secret; grant the tenant's M2M application the read:client_keys scope".into(),
                        retry: Retry::Backoff,
                    }));
                    break;
                };
                let client_id = report.client_id.clone().unwrap_or_default();
                let assertion = match super::keys::carry_over(ctx, input).await {
                    Ok(key) => key,
                    Err(error) => {
                        report.kube_error = Some(error);
                        break;
                    }
                };
                let desired = secret::build_secret(
                    owner,
                    &Credentials {
                        assertion,
                        ..Credentials::for_tenant(
                            input.tenant,
                            client_id,
                            value.expose().to_owned(),
                        )
                    },
                )
                .map_err(|secret::SecretBuildError::MissingUid| ReconcileError::MissingUid)?;
                match write_secret(ctx, owner, &desired, *existing).await {
                    Ok(None) => {}
                    Ok(Some(failure)) => {
                        report.failure = Some(Auth0Failure::Failed(failure));
                        break;
                    }
                    Err(error) => {
                        report.kube_error = Some(error);
                        break;
                    }
                }
            }
        }
    }
    report.grants = grants.into_values().collect();
    report.connections = connections.into_values().collect();
    if let Some(Auth0Failure::Tenant) = report.failure {
        ctx.clients
            .wait_for_tenant(&owner.spec.tenant, ObjectRef::from_obj(owner));
    }
    Ok(report)
}

/// `GET /api/v2/clients/{id}` for the client secret; `None` when it failed (recorded in
/// `report`).
async fn fetch_secret(auth0: &TenantClient, report: &mut Report) -> Option<Option<SecretString>> {
    let id = report.client_id.clone().unwrap_or_default();
    match auth0.get_client(&id, Priority::Normal).await {
        Ok(client) => Some(client.client_secret.filter(|s| !s.is_empty())),
        Err(error) => {
            if error.is_not_found() {
                report.client_gone = true;
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
