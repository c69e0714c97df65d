//! The I/O of an AuthResourceServer pass: the read a [`Lookup`] asks for, then one executor
//! per [`Step`] (the probe, the crash-safety marker with the finalizer, the create, the
//! PATCH), which the driver ([`crate::driver`]) runs in order. An Auth0 failure stops the
//! steps and becomes data in the [`Report`].

use super::desired;
use super::plan::{Input, Lookup, Step, View};
use crate::driver::{Flow, Pass};
use crate::marker::{self, Outcome};
use crate::pass::{
    Auth0Failure, DriftVerdict, EventAction, EventReason, Failure, Note, Pending, Retry,
    auth0_failure, created_nothing,
};
use auth0_mgmt::{Auth0Error, NewResourceServer, Priority, ResourceServerPatch, TenantClient};
use nexus_crd::{AuthResourceServer, ReadyReason};

/// Reads what `lookup` asks for.
pub async fn observe(auth0: &TenantClient, lookup: Lookup) -> Result<View, Auth0Failure> {
    match lookup {
        Lookup::Known(view) => Ok(view),
        Lookup::Get(id) => match auth0.get_resource_server(&id, Priority::Normal).await {
            Ok(found) => Ok(View::Found(Box::new(found))),
            Err(e) if e.is_not_found() => Ok(View::Missing),
            Err(e) => Err(auth0_failure("reading the Auth0 API", &e)),
        },
    }
}

/// What the steps did.
#[derive(Debug, Default)]
pub struct Report {
    /// The API (its id, whether it is gone) and the crash-safety marker after the steps.
    pub outcome: Outcome,
    /// Events of what was done.
    pub notes: Vec<Note>,
    /// The Auth0 failure that stopped the steps.
    pub failure: Option<Auth0Failure>,
    /// The `Drifted` verdict when a recovered API was compared during the steps.
    pub drift: Option<DriftVerdict>,
}

/// The refusal of a first create whose probe found an API this object did not create.
pub fn in_use(input: &Input<'_>) -> Auth0Failure {
    Auth0Failure::Failed(Failure::permanent(
        ReadyReason::IdentifierInUse,
        format!(
            "identifier '{}' is already used in tenant '{}' by an API this AuthResourceServer did not create; the operator does not take over existing APIs: use another identifier, or delete the existing API",
            input.owner.spec.identifier, input.owner.spec.tenant
        ),
    ))
}

/// Runs one step of the plan (one function per step); an Auth0 failure is recorded in
/// `report` and stops the pass.
pub async fn execute(
    pass: &mut Pass<'_, AuthResourceServer>,
    report: &mut Report,
    step: &Step,
) -> Result<Flow, kube::Error> {
    let (resolved, input) = (pass.resolved, pass.input);
    let auth0 = &*resolved.auth0;
    let done = match step {
        Step::Probe => probe(auth0, &input).await,
        Step::Mark => mark(pass, report).await?,
        Step::Finalize => finalize(pass).await?,
        Step::Create { body, uncertain } => create(auth0, &input, report, body, *uncertain).await,
        Step::Patch(patch, note) => patch_api(auth0, report, patch, note).await,
    };
    Ok(match done {
        Ok(()) => Flow::Next,
        Err(failure) => {
            report.failure = Some(failure);
            Flow::Stop
        }
    })
}

/// [`Step::Probe`]: an API that already has the identifier is someone else's (never taken
/// over, nothing is created).
async fn probe(auth0: &TenantClient, input: &Input<'_>) -> Result<(), Auth0Failure> {
    match auth0
        .get_resource_server(&input.owner.spec.identifier, Priority::Critical)
        .await
    {
        Ok(_) => Err(in_use(input)),
        Err(e) if e.is_not_found() => Ok(()),
        Err(e) => Err(auth0_failure(
            "looking up the identifier before creating the Auth0 API",
            &e,
        )),
    }
}

/// [`Step::Mark`]: the finalizer and the crash-safety marker in one metadata write,
/// conditional on the resourceVersion the pass planned from (a stale cache gets 409 and
/// nothing is sent to Auth0).
async fn mark(
    pass: &mut Pass<'_, AuthResourceServer>,
    report: &mut Report,
) -> Result<Result<(), Auth0Failure>, kube::Error> {
    let input = pass.input;
    let value = marker::new_value(input.owner, input.tag, input.now);
    let rv = marker::claim(pass.ctx, input.owner, Some(&value)).await?;
    pass.writer.claimed(rv);
    report.outcome.marked(value);
    Ok(Ok(()))
}

/// [`Step::Finalize`]: the finalizer alone, conditional like [`mark`].
async fn finalize(
    pass: &mut Pass<'_, AuthResourceServer>,
) -> Result<Result<(), Auth0Failure>, kube::Error> {
    let rv = marker::claim(pass.ctx, pass.input.owner, None).await?;
    pass.writer.claimed(rv);
    Ok(Ok(()))
}

/// [`Step::Create`]; `uncertain`: a 409 may answer an earlier attempt of ours.
async fn create(
    auth0: &TenantClient,
    input: &Input<'_>,
    report: &mut Report,
    body: &NewResourceServer,
    uncertain: bool,
) -> Result<(), Auth0Failure> {
    match auth0.create_resource_server(body, Priority::Critical).await {
        Ok(created) => {
            report.notes.push(Note::normal(
                EventReason::Created,
                EventAction::Create,
                format!("created Auth0 API {} ({})", created.id, created.identifier),
            ));
            report.outcome.id = Some(created.id);
            report.outcome.pending = Pending::Cleared;
            Ok(())
        }
        Err(error) if error.is_conflict() && uncertain => recover(auth0, input, report).await,
        Err(error) if error.is_conflict() => {
            report.outcome.pending = Pending::Cleared;
            Err(in_use(input))
        }
        Err(error) => {
            if created_nothing(&error) {
                report.outcome.pending = Pending::Cleared;
            }
            Err(auth0_failure("creating the Auth0 API", &error))
        }
    }
}

/// [`Step::Patch`].
async fn patch_api(
    auth0: &TenantClient,
    report: &mut Report,
    patch: &ResourceServerPatch,
    note: &Option<Note>,
) -> Result<(), Auth0Failure> {
    let id = report.outcome.id.clone().unwrap_or_default();
    if let Err(error) = auth0
        .patch_resource_server(&id, patch, Priority::Normal)
        .await
    {
        report.outcome.gone = error.is_not_found();
        return Err(auth0_failure("updating the Auth0 API", &error));
    }
    report.notes.extend(note.clone());
    Ok(())
}

/// A 409 after an attempt whose outcome was unknown. Auth0 APIs carry no metadata to tag, so
/// ownership rests on the marker: it was written only after a probe found the identifier free
/// ([`Input::probed_free`]; the identifier cannot change), so an API that has it now was created by that
/// attempt (the identifier is unique in the tenant). Never by name: a name is anyone's to
/// copy. The system API (the Management API) is never ours. Brings it in line with the spec.
async fn recover(
    auth0: &TenantClient,
    input: &Input<'_>,
    report: &mut Report,
) -> Result<(), Auth0Failure> {
    let spec = &input.owner.spec;
    if !input.probed_free() {
        // A marker of an older operator (no probe): whose API this is cannot be told.
        report.outcome.pending = Pending::Cleared;
        return Err(in_use(input));
    }
    let found = match auth0
        .get_resource_server(&spec.identifier, Priority::Critical)
        .await
    {
        Ok(found) => found,
        // Deleted between the 409 and the GET: the next pass creates it.
        Err(e) if e.is_not_found() => {
            return Err(Auth0Failure::Failed(Failure {
                reason: ReadyReason::Auth0Refused,
                message: format!(
                    "the Auth0 API '{}' disappeared while it was being recovered; it is created again",
                    spec.identifier
                ),
                retry: Retry::Backoff,
            }));
        }
        Err(e) => {
            return Err(auth0_failure(
                "looking up the API of an interrupted create",
                &e,
            ));
        }
    };
    if found.is_system || found.identifier != spec.identifier {
        report.outcome.pending = Pending::Cleared;
        return Err(in_use(input));
    }
    report.outcome.id = Some(found.id.clone());
    report.outcome.pending = Pending::Cleared;
    report.notes.push(Note::normal(
        EventReason::Recovered,
        EventAction::Create,
        format!(
            "found Auth0 API {} created by an interrupted attempt",
            found.id
        ),
    ));
    let drift = desired::diff(spec, &found);
    if drift.is_empty() {
        report.drift = Some(DriftVerdict::InSync);
        return Ok(());
    }
    auth0
        .patch_resource_server(&found.id, &drift.patch, Priority::Critical)
        .await
        .map_err(|e: Auth0Error| auth0_failure("updating the recovered Auth0 API", &e))?;
    report.drift = Some(DriftVerdict::Updated(drift.fields));
    Ok(())
}
