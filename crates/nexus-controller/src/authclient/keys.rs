//! The executor of the key state machine ([`super::credentials`]): after the client pass, it
//! observes the client's credentials in Auth0 and the key id the Secret holds, asks
//! [`credentials::next`] for a step, performs it, and asks again until it is done.
//!
//! It runs only when something may be due ([`needs_pass`]): the spec's credentials type or
//! algorithm changed, a rotation or the end of an overlap is due, the rotate annotation has a
//! new value, or a marker of an interrupted pass is left. A pass that finds nothing to do costs
//! two Auth0 reads (the client and its credentials) and one Secret read.
//!
//! The private key goes from [`keypair::generate`] straight into the Secret; only its public
//! half and kid reach Auth0, the status, events and logs. Its crash-safety record (the pending
//! kid, written before a key is registered) goes through the pass's one status writer
//! ([`crate::pass::Writer::record`]), which the driver hands it.

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Patch, PatchParams};
use kube::{Api, ResourceExt};

use auth0_mgmt::{ClientCredential, CredentialRef, NewPublicKey, Priority, TenantClient};
use nexus_crd::{AuthClient, AuthClientStatus, CredentialsStatus, ROTATE_ANNOTATION, ReadyReason};

use super::credentials::{self, Decision, Desired, Fresh, KeyStep, View};
use super::error::ReconcileError;
use super::input::Input;
use super::report::Report;
use super::secret::{self, AssertionKey, Credentials};
use crate::context::Context;
use crate::driver::Pass;
use crate::keypair::{self, KeyPair};
use crate::pass::{
    self, Auth0Failure, EventAction, EventReason, Failure, Note, PassError, Retry, Writer,
    auth0_failure,
};

/// Most steps one pass takes (a rotation with cleanup takes about ten).
const MAX_STEPS: usize = 24;

/// What a key pass leaves for the status and the requeue.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct KeyPass {
    /// `status.credentials` after the pass (`None`: a client-secret client without keys).
    pub status: Option<CredentialsStatus>,
    /// When to look again (next rotation, end of an overlap).
    pub wake_at: Option<Timestamp>,
    /// The pass finished (compared every credential): its drift findings are complete.
    pub finished: bool,
    /// Credentials changed outside the operator (ids), corrected or reported per
    /// `driftPolicy`.
    pub outside: Vec<String>,
}

/// The drift field naming credential `id` (`credentials[cred_...]`) in the `Drifted`
/// condition and `status.reportedDrift`.
pub fn drift_field(id: &str) -> String {
    format!("credentials[{id}]")
}

/// Whether a drift field names a credential.
pub fn is_credential_field(field: &str) -> bool {
    field.starts_with("credentials[")
}

impl KeyPass {
    /// Puts the pass's result into the status about to be written: `status.credentials`, and
    /// (after a finished pass) the credentials changed outside the operator folded into the
    /// `Drifted` condition with the client's own verdict (`client_drift`).
    pub fn apply_to(
        &self,
        next: &mut AuthClientStatus,
        client_drift: &pass::DriftVerdict,
        owner: &nexus_crd::AuthClient,
        now: Timestamp,
    ) {
        next.credentials = self.status.clone();
        if !self.finished {
            return;
        }
        let fields: Vec<String> = self.outside.iter().map(|id| drift_field(id)).collect();
        let merged = super::access::merge_drift(
            client_drift.clone(),
            fields,
            Vec::new(),
            owner.spec.drift_policy,
        );
        let merged = match merged {
            // Nothing compared but the credentials, and none drifted: forget those reported.
            pass::DriftVerdict::Unchanged
                if next.reported_drift.iter().any(|f| is_credential_field(f)) =>
            {
                let rest: Vec<String> = next
                    .reported_drift
                    .iter()
                    .filter(|f| !is_credential_field(f))
                    .cloned()
                    .collect();
                if rest.is_empty() {
                    pass::DriftVerdict::InSync
                } else {
                    pass::DriftVerdict::Reported(rest)
                }
            }
            other => other,
        };
        if merged == *client_drift {
            return;
        }
        pass::apply_drift(
            &mut next.conditions,
            &mut next.reported_drift,
            &merged,
            owner.metadata.generation,
            now,
            "the Auth0 client",
        );
    }

    /// The requeue: at the wake time when there is one and it comes before `action`'s.
    pub fn requeue(&self, now: Timestamp) -> Option<std::time::Duration> {
        let wake = self.wake_at?;
        let d = now.duration_until(wake);
        Some(
            std::time::Duration::try_from(d)
                .unwrap_or_default()
                .max(std::time::Duration::from_secs(1)),
        )
    }
}

/// The rotate annotation as the status records it (printable text).
fn rotate_request(input: &Input<'_>) -> Option<String> {
    input
        .owner
        .annotations()
        .get(ROTATE_ANNOTATION)
        .map(|v| nexus_crd::printable::printable(v).into_owned())
}

/// Whether the key machine may have something to do (pure; the common Ready pass answers
/// false and costs nothing).
pub fn needs_pass(input: &Input<'_>) -> bool {
    let spec = &input.owner.spec.credentials;
    let stored = input.status.credentials.as_ref();
    if !spec.is_private_key_jwt() {
        return stored.is_some();
    }
    let Some(stored) = stored else {
        return true;
    };
    let due = |t: Option<&k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>| {
        t.is_some_and(|t| t.0 <= input.now)
    };
    let request = rotate_request(input);
    // The Secret must hold the active key, unaltered (the cache keeps digests: the kid is
    // compared, the content hash covers the private key). A Secret deleted or stripped of its
    // key gets a new one.
    let kid_key = &input.owner.spec.secret.keys.client_assertion_kid;
    let secret_lost_key = stored
        .active
        .as_ref()
        .is_some_and(|a| match input.extra.secret {
            super::input::SecretView::Owned(observed) => {
                !observed.intact || !observed.holds(kid_key, &a.kid)
            }
            _ => true,
        });
    secret_lost_key
        || input.spec_changed()
        || input.finding.is_some()
        || stored.active.is_none()
        || stored.pending_kid.is_some()
        || stored
            .active
            .as_ref()
            .is_some_and(|a| due(a.until.as_ref()) || a.algorithm != spec.algorithm().as_str())
        || stored
            .retiring
            .as_ref()
            .is_some_and(|r| due(r.until.as_ref()))
        || (request.is_some() && request != stored.rotation_request)
}

/// The checks of `spec.credentials` the schema cannot make (see
/// [`nexus_crd::CredentialsSpec::validate`]), and `settings.tokenEndpointAuthMethod` left unset
/// with `privateKeyJwt` (Auth0 answers a client that lists credentials without one, recorded).
pub fn validate(spec: &nexus_crd::AuthClientSpec) -> Vec<nexus_crd::validation::FieldError> {
    let mut errors = Vec::new();
    if let Err(message) = spec.credentials.validate() {
        errors.push(nexus_crd::validation::FieldError {
            path: "credentials".into(),
            message,
        });
    }
    if spec.credentials.is_private_key_jwt() {
        // One data key must not hold two values: the private key or its kid written over the
        // client id or secret (or each other) would leave the pods a broken Secret.
        let keys = &spec.secret.keys;
        let others = [
            ("clientId", &keys.client_id),
            ("clientSecret", &keys.client_secret),
            ("domain", &keys.domain),
            ("issuerBaseUrl", &keys.issuer_base_url),
            ("audience", &keys.audience),
        ];
        for (field, name) in [
            ("clientAssertionKey", &keys.client_assertion_key),
            ("clientAssertionKid", &keys.client_assertion_kid),
        ] {
            let clash = others
                .iter()
                .copied()
                .chain(
                    (field == "clientAssertionKid")
                        .then_some(("clientAssertionKey", &keys.client_assertion_key)),
                )
                .find(|(_, other)| *other == name);
            if let Some((other, _)) = clash {
                errors.push(nexus_crd::validation::FieldError {
                    path: format!("secret.keys.{field}"),
                    message: format!(
                        "must differ from secret.keys.{other} (both name the data key '{name}')"
                    ),
                });
            }
        }
    }
    if spec.credentials.is_private_key_jwt()
        && spec
            .settings
            .as_ref()
            .is_some_and(|s| s.token_endpoint_auth_method.is_some())
    {
        errors.push(nexus_crd::validation::FieldError {
            path: "settings.tokenEndpointAuthMethod".into(),
            message: "must be unset with credentials.type privateKeyJwt (the client then \
                      authenticates with its key, and Auth0 clears the method)"
                .into(),
        });
    }
    errors
}

/// The private key the owned Secret holds, for a rewrite of the Secret by the client pass (the
/// cache keeps no data, so it is read; only for clients that have or had keys). Only the
/// status's key is carried over (see [`trusted_key`]): a key the team put there is dropped,
/// and the key pass writes a new one.
pub async fn carry_over(
    ctx: &Context,
    input: &Input<'_>,
) -> Result<Option<AssertionKey>, kube::Error> {
    let owner = input.owner;
    if !owner.spec.credentials.is_private_key_jwt() && input.status.credentials.is_none() {
        return Ok(None);
    }
    let api = Api::<Secret>::namespaced(ctx.kube.clone(), &owner.namespace().unwrap_or_default());
    Ok(api
        .get_opt(&owner.secret_name())
        .await?
        .filter(|s| secret::is_owned_by(s, owner))
        .and_then(|s| secret::stored_assertion(&s, owner))
        .and_then(|key| trusted_key(key, input.status.credentials.as_ref())))
}

/// The Secret's key as it should be written again: kept (with its kid entry restored as the
/// key's thumbprint) when the private key is the status's active or pending one, else dropped.
fn trusted_key(key: AssertionKey, status: Option<&CredentialsStatus>) -> Option<AssertionKey> {
    let thumbprint = keypair::thumbprint_of_private_pem(key.pem.expose())?;
    status
        .is_some_and(|status| credentials::is_recorded(status, &thumbprint))
        .then_some(AssertionKey {
            kid: thumbprint,
            pem: key.pem,
        })
}

/// The key the Secret is expected to hold (kid from the status; the PEM is never compared),
/// for the client pass's "is the Secret up to date" check.
pub fn expected_assertion(input: &Input<'_>) -> Option<AssertionKey> {
    let active = input.status.credentials.as_ref()?.active.as_ref()?;
    Some(AssertionKey {
        kid: active.kid.clone(),
        pem: auth0_mgmt::SecretString::default(),
    })
}

fn failed(reason: ReadyReason, message: impl Into<String>) -> Auth0Failure {
    Auth0Failure::Failed(Failure {
        reason,
        message: message.into(),
        retry: Retry::Backoff,
    })
}

/// What the executor holds between steps.
struct State {
    status: CredentialsStatus,
    registered: Vec<ClientCredential>,
    listed: Option<Vec<String>>,
    secret: Option<Secret>,
    fresh: Option<KeyPair>,
}

impl State {
    /// The Secret's kid and the thumbprint of its private key (the machine decides whether to
    /// trust them).
    fn secret_key(&self, owner: &nexus_crd::AuthClient) -> (Option<String>, Option<String>) {
        let stored = self
            .secret
            .as_ref()
            .and_then(|s| secret::stored_assertion(s, owner));
        match stored {
            Some(key) => {
                let thumbprint = keypair::thumbprint_of_private_pem(key.pem.expose());
                (Some(key.kid), thumbprint)
            }
            None => (None, None),
        }
    }
}

/// Runs the key machine for the client of `report` (after a successful client pass). Auth0
/// failures go into `report.failure`; a Kubernetes error aborts the pass.
pub async fn run(
    pass: &mut Pass<'_, AuthClient>,
    report: &mut Report,
) -> Result<Option<KeyPass>, ReconcileError> {
    let (ctx, resolved, input) = (pass.ctx, pass.resolved, pass.input);
    let (auth0, input) = (&*resolved.auth0, &input);
    if report.failure.is_some()
        || report.kube_error.is_some()
        || report.outcome.gone
        || !needs_pass(input)
    {
        return Ok(None);
    }
    let Some(client_id) = report.outcome.id.clone() else {
        return Ok(None);
    };
    let owner = input.owner;
    let uid = owner
        .uid()
        .ok_or_else(PassError::missing_uid::<AuthClient>)?;
    let desired = Desired::of(&owner.spec.credentials);
    let correct = owner.spec.drift_policy == nexus_crd::DriftPolicy::Correct;
    let mut outside: Vec<String> = Vec::new();
    // The drift event leads this pass's key events (it names why they happened).
    let first_note = report.notes.len();
    let request = rotate_request(input);
    let secret_method = owner
        .spec
        .settings
        .as_ref()
        .and_then(|s| s.token_endpoint_auth_method)
        .map_or("client_secret_post", |m| m.as_str());
    let api = Api::<Secret>::namespaced(ctx.kube.clone(), &owner.namespace().unwrap_or_default());

    let observed = async {
        let registered = auth0.list_credentials(&client_id, Priority::Normal).await?;
        let client = auth0
            .get_client_without_secret(&client_id, Priority::Normal)
            .await?;
        Ok::<_, auth0_mgmt::Auth0Error>((registered, client.private_key_jwt_ids()))
    };
    let (registered, listed) = match observed.await {
        Ok(found) => found,
        Err(error) => {
            report.failure = Some(auth0_failure(
                "reading the client's key credentials",
                &error,
            ));
            return Ok(None);
        }
    };
    let mut state = State {
        status: input.status.credentials.clone().unwrap_or_default(),
        registered,
        listed,
        secret: api
            .get_opt(&owner.secret_name())
            .await?
            .filter(|s| secret::is_owned_by(s, owner)),
        fresh: None,
    };
    for _ in 0..MAX_STEPS {
        let (secret_kid, secret_thumbprint) = state.secret_key(owner);
        let fresh = state.fresh.as_ref().map(|k| Fresh {
            kid: k.kid.clone(),
            alg: k.alg,
        });
        let Decision {
            step,
            status,
            outside: found,
        } = credentials::next(&View {
            desired: desired.as_ref(),
            status: &state.status,
            registered: &state.registered,
            listed: state.listed.as_deref(),
            secret_kid: secret_kid.as_deref(),
            secret_thumbprint: secret_thumbprint.as_deref(),
            fresh: fresh.as_ref(),
            uid: &uid,
            rotate_request: request.as_deref(),
            correct,
            now: input.now,
        });
        state.status = status;
        for id in found {
            if !outside.contains(&id) {
                outside.push(id);
            }
        }
        match step {
            KeyStep::Done(outcome) => {
                if !outside.is_empty() {
                    note_outside(input, report, first_note, &outside, correct);
                }
                // A client-secret client keeps no key status (so its passes skip this).
                return Ok(Some(KeyPass {
                    status: desired.is_some().then_some(state.status),
                    wake_at: outcome.wake_at,
                    finished: desired.is_some(),
                    outside,
                }));
            }
            step => {
                if let Err(failure) = perform(
                    &mut pass.writer,
                    auth0,
                    input,
                    report,
                    &client_id,
                    &uid,
                    secret_method,
                    &api,
                    &mut state,
                    step,
                )
                .await?
                {
                    report.failure = Some(failure);
                    return Ok(Some(KeyPass {
                        status: Some(state.status),
                        ..KeyPass::default()
                    }));
                }
            }
        }
    }
    report.failure = Some(failed(
        ReadyReason::Auth0Unavailable,
        "the key credentials did not settle within one pass; retrying",
    ));
    Ok(Some(KeyPass {
        status: Some(state.status),
        ..KeyPass::default()
    }))
}

/// The event of credentials changed outside the operator: corrected (`Correct`), or reported
/// once (`Report`: not again while `status.reportedDrift` already names them). Ids only.
fn note_outside(
    input: &Input<'_>,
    report: &mut Report,
    at: usize,
    outside: &[String],
    correct: bool,
) {
    let fields: Vec<String> = outside.iter().map(|id| drift_field(id)).collect();
    let shown = fields.join(", ");
    tracing::info!(
        authclient = %crate::pass::object_key(input.owner),
        credentials = %shown,
        correct,
        "client credentials changed outside the operator"
    );
    let at = at.min(report.notes.len());
    if correct {
        report.notes.insert(
            at,
            Note::warning(
                EventReason::DriftCorrected,
                EventAction::Update,
                format!("restored client credentials changed outside the operator: {shown}"),
            ),
        );
    } else if !fields
        .iter()
        .all(|f| input.status.reported_drift.contains(f))
    {
        report.notes.insert(
            at,
            Note::warning(
                EventReason::DriftDetected,
                EventAction::Compare,
                pass::drift_report_message(&fields),
            ),
        );
    }
}

/// `POST .../credentials` with a public key whose thumbprint is `kid`. A credential Auth0 names
/// otherwise breaks the trust rule (the Secret's kid is its key's thumbprint), and a retry would
/// register another key each time: it is deleted (unlisted, unknown to any pod) and the client
/// held until its spec or the tenant changes — one register and one delete in all.
#[allow(clippy::too_many_arguments)]
async fn register(
    auth0: &TenantClient,
    client_id: &str,
    uid: &str,
    public_pem: &str,
    kid: &str,
    alg: &'static str,
    report: &mut Report,
    state: &mut State,
) -> Result<(), Auth0Failure> {
    let name = credentials::credential_name(uid);
    let body = NewPublicKey {
        name: &name,
        credential_type: "public_key",
        pem: public_pem,
        alg,
    };
    match auth0
        .create_credential(client_id, &body, Priority::Normal)
        .await
    {
        Ok(created) if created.kid.as_deref() != Some(kid) => {
            let deleted = auth0
                .delete_credential(client_id, &created.id, Priority::Normal)
                .await;
            let message = format!(
                "Auth0 named the registered public key {} (credential {}) instead of its \
                 RFC 7638 thumbprint {kid}; the operator needs the two to match to trust the \
                 Secret's key, so it {} the credential and stops until the spec or the tenant \
                 changes",
                created.kid.as_deref().unwrap_or("(no kid)"),
                created.id,
                if deleted.is_ok() {
                    "deleted"
                } else {
                    "will delete"
                },
            );
            if deleted.is_err() {
                // Left for the next pass to delete (ours, unlisted, not pending).
                state.registered.push(created);
            }
            Err(Auth0Failure::Failed(Failure::permanent(
                ReadyReason::Auth0Rejected,
                message,
            )))
        }
        Ok(created) => {
            report.notes.push(Note::normal(
                EventReason::KeyRegistered,
                EventAction::RegisterKey,
                format!(
                    "registered public key {kid} ({alg}) as credential {}",
                    created.id
                ),
            ));
            state.registered.push(created);
            Ok(())
        }
        Err(error) => Err(auth0_failure("registering the public key", &error)),
    }
}

/// Performs one step; `Ok(Err(_))` is an Auth0 failure (recorded, the pass stops).
#[allow(clippy::too_many_arguments)]
async fn perform(
    writer: &mut Writer<'_, AuthClient>,
    auth0: &TenantClient,
    input: &Input<'_>,
    report: &mut Report,
    client_id: &str,
    uid: &str,
    secret_method: &str,
    api: &Api<Secret>,
    state: &mut State,
    step: KeyStep,
) -> Result<Result<(), Auth0Failure>, ReconcileError> {
    let owner = input.owner;
    match step {
        KeyStep::Done(_) => {}
        KeyStep::Generate { alg } => {
            let pair = tokio::task::spawn_blocking(move || keypair::generate(alg))
                .await
                .map_err(|e| {
                    failed(
                        ReadyReason::Auth0Unavailable,
                        format!("key generation: {e}"),
                    )
                });
            match pair {
                Ok(Ok(pair)) => state.fresh = Some(pair),
                Ok(Err(error)) => {
                    return Ok(Err(failed(
                        ReadyReason::Auth0Unavailable,
                        format!("generating the key pair failed: {error}"),
                    )));
                }
                Err(failure) => return Ok(Err(failure)),
            }
        }
        KeyStep::Mark => {
            let mut marked = writer.status().clone();
            marked.credentials = Some(state.status.clone());
            // Through the pass's one writer, conditional on the resourceVersion the pass
            // started from (a stale pass writes nothing and registers nothing).
            writer.record(marked).await?;
        }
        KeyStep::Register => {
            let Some(pair) = &state.fresh else {
                return Ok(Ok(()));
            };
            let (public_pem, kid, alg) = (pair.public_pem.clone(), pair.kid.clone(), pair.alg);
            return Ok(
                register(auth0, client_id, uid, &public_pem, &kid, alg, report, state).await,
            );
        }
        KeyStep::Reregister => {
            // The Secret's key, registered again from its private half (never sent).
            let Some((public_pem, kid)) = state
                .secret
                .as_ref()
                .and_then(|s| secret::stored_assertion(s, owner))
                .and_then(|key| keypair::public_of_private_pem(key.pem.expose()))
            else {
                return Ok(Ok(()));
            };
            let alg = state
                .status
                .active
                .as_ref()
                .and_then(|a| {
                    crate::keypair::ALGORITHMS
                        .iter()
                        .find(|x| **x == a.algorithm)
                })
                .copied()
                .unwrap_or("RS256");
            return Ok(
                register(auth0, client_id, uid, &public_pem, &kid, alg, report, state).await,
            );
        }
        KeyStep::List(ids) => {
            let refs: Option<Vec<CredentialRef>> =
                ids.map(|ids| ids.into_iter().map(|id| CredentialRef { id }).collect());
            match auth0
                .set_private_key_jwt(client_id, refs.as_deref(), secret_method, Priority::Normal)
                .await
            {
                Ok(client) => state.listed = client.private_key_jwt_ids(),
                Err(error) => {
                    return Ok(Err(auth0_failure(
                        "listing the client's key credentials",
                        &error,
                    )));
                }
            }
        }
        KeyStep::WriteKey | KeyStep::RemoveKey | KeyStep::FixKid => {
            let assertion = match (&step, &state.fresh) {
                (KeyStep::WriteKey, Some(pair)) => Some(AssertionKey {
                    kid: pair.kid.clone(),
                    pem: pair.private_pem.clone(),
                }),
                (KeyStep::FixKid, _) => state
                    .secret
                    .as_ref()
                    .and_then(|s| secret::stored_assertion(s, owner))
                    .and_then(|key| trusted_key(key, Some(&state.status))),
                _ => None,
            };
            if matches!(step, KeyStep::FixKid) && assertion.is_none() {
                return Ok(Ok(())); // nothing to keep (cannot happen: decided from it)
            }
            let mut client_secret = state
                .secret
                .as_ref()
                .and_then(|s| secret::stored_credentials(s, owner, client_id))
                // Keys listed: the client secret no longer authenticates (Auth0 hides it).
                .or_else(|| state.listed.is_some().then(String::new));
            if client_secret.is_none() && state.listed.is_none() {
                // Back to the client secret with a Secret rebuilt while keys were listed (Auth0
                // hid the secret then): the methods are cleared, so Auth0 answers it again.
                // Read in this pass, so the Secret holds it right after the switch.
                match auth0.get_client(client_id, Priority::Normal).await {
                    Ok(client) => {
                        client_secret = client
                            .client_secret
                            .map(|s| s.expose().to_owned())
                            .filter(|s| !s.is_empty());
                    }
                    Err(error) => {
                        return Ok(Err(auth0_failure("reading the client secret", &error)));
                    }
                }
            }
            let Some(client_secret) = client_secret else {
                return Ok(Err(failed(
                    ReadyReason::Auth0Refused,
                    format!(
                        "Secret {} holds no client secret for {client_id} to keep beside the key; \
                         delete the Secret so that it is written again",
                        owner.secret_name()
                    ),
                )));
            };
            let credentials = Credentials {
                assertion,
                ..Credentials::for_tenant(input.extra.tenant, client_id.to_owned(), client_secret)
            };
            let desired = secret::build_secret(owner, &credentials).map_err(
                |secret::SecretBuildError::MissingUid| PassError::missing_uid::<AuthClient>(),
            )?;
            let written = api
                .patch(
                    &owner.secret_name(),
                    &PatchParams::apply(nexus_crd::FIELD_MANAGER).force(),
                    &Patch::Apply(&desired),
                )
                .await?;
            if let Some(pair) = state.fresh.take()
                && matches!(step, KeyStep::WriteKey)
            {
                report.notes.push(Note::normal(
                    EventReason::KeyRotated,
                    EventAction::WriteKey,
                    format!("Secret {} now holds key {}", owner.secret_name(), pair.kid),
                ));
            }
            if matches!(step, KeyStep::FixKid) {
                report.notes.push(Note::warning(
                    EventReason::DriftCorrected,
                    EventAction::WriteKey,
                    format!(
                        "restored the key id in Secret {} (edited outside the operator; the key \
                         itself is intact)",
                        owner.secret_name()
                    ),
                ));
            }
            state.secret = Some(written);
        }
        KeyStep::Delete(id) => {
            match auth0
                .delete_credential(client_id, &id, Priority::Normal)
                .await
            {
                Ok(()) => {
                    state.registered.retain(|c| c.id != id);
                    report.notes.push(Note::normal(
                        EventReason::KeyRetired,
                        EventAction::DeleteKey,
                        format!("deleted credential {id}"),
                    ));
                }
                Err(error) => return Ok(Err(auth0_failure("deleting a key credential", &error))),
            }
        }
    }
    Ok(Ok(()))
}
