//! Reconcile of one `AuthClient`: tenant and namespace checks, validation, crash-safe creation
//! or adoption, drift correction, secret rotation, the credentials Secret and the status.

use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::runtime::finalizer::{self, Event as FinalizerEvent};
use kube::runtime::reflector::ObjectRef;
use kube::{Api, ResourceExt};
use serde_json::{Value, json};

use crate::context::{Context, ScanFinding};
use crate::mapping::{self, Drift, OwnershipTag};
use crate::metrics::{ConditionLabels, ResultLabels};
use crate::secret::{self, Credentials};
use crate::tenant_access::{self as tenant, TenantError};
use auth0_mgmt::{Auth0Error, Priority, TenantClient};
use nexus_crd::conditions::{self, ConditionStatus, DRIFTED, READY, ReadyReason};
use nexus_crd::validation as validate;
use nexus_crd::{
    AdoptionPolicy, AuthClient, AuthClientStatus, AuthTenant, DeletionPolicy, DriftPolicy,
    FIELD_MANAGER, FINALIZER, PendingCreation, ROTATE_ANNOTATION,
};

/// Errors that abort a reconcile and are retried by the error policy. Failures the user can act
/// on (bad spec, Auth0 refusals, throttling) are not errors: they become conditions.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// A Kubernetes API call failed.
    #[error("Kubernetes API error: {0}")]
    Kube(#[from] kube::Error),
    /// Adding or removing the finalizer failed, or the cleanup failed.
    #[error("finalizer: {0}")]
    Finalizer(#[source] Box<finalizer::Error<ReconcileError>>),
    /// The object is missing a namespace (impossible for a namespaced resource).
    #[error("AuthClient has no namespace")]
    MissingNamespace,
    /// The object has no uid yet (it was never stored by the API server).
    #[error("AuthClient has no uid")]
    MissingUid,
    /// The cleanup could not finish yet (its condition says why).
    #[error("cleanup pending: {0}")]
    CleanupPending(String),
}

/// When to try again after a failure.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Retry {
    /// Nothing will change until the spec (or the tenant) does.
    AwaitChange,
    /// Transient: exponential backoff.
    Backoff,
    /// Transient with a known time (rate-limit reset).
    After(Duration),
}

/// A failure that becomes `Ready=False`.
#[derive(Debug)]
struct Failure {
    reason: ReadyReason,
    message: String,
    retry: Retry,
}

impl Failure {
    fn permanent(reason: ReadyReason, message: impl Into<String>) -> Self {
        Self {
            reason,
            message: message.into(),
            retry: Retry::AwaitChange,
        }
    }
}

/// Either a failure the user sees as a condition, or an error for the error policy.
#[derive(Debug)]
enum Halt {
    Failed(Failure),
    Error(ReconcileError),
}

impl From<Failure> for Halt {
    fn from(f: Failure) -> Self {
        Self::Failed(f)
    }
}
impl From<kube::Error> for Halt {
    fn from(e: kube::Error) -> Self {
        Self::Error(ReconcileError::Kube(e))
    }
}

/// Maps an Auth0 error to the condition it deserves.
fn auth0_failure(action: &str, error: &Auth0Error) -> Failure {
    if let Some(retry_after) = error
        .retry_after()
        .filter(|_| error.status() == Some(429) || matches!(error, Auth0Error::RateLimited { .. }))
    {
        return Failure {
            reason: ReadyReason::RateLimited,
            message: format!(
                "{action}: the tenant's Management API rate limit is reached; retrying in {}s",
                retry_after.as_secs().max(1)
            ),
            retry: Retry::After(retry_after),
        };
    }
    if matches!(error, Auth0Error::Token { .. }) {
        return Failure {
            reason: ReadyReason::TenantNotReady,
            message: format!("{action}: Auth0 refused the tenant's credentials: {error}"),
            retry: Retry::Backoff,
        };
    }
    if error.is_transient() {
        return Failure {
            reason: ReadyReason::Auth0Unavailable,
            message: format!("{action}: {error}"),
            retry: error.retry_after().map_or(Retry::Backoff, Retry::After),
        };
    }
    Failure::permanent(ReadyReason::Auth0Rejected, format!("{action}: {error}"))
}

fn tenant_failure(error: TenantError) -> Halt {
    match error {
        TenantError::NotFound(name) => Failure::permanent(
            ReadyReason::TenantNotFound,
            format!("AuthTenant '{name}' does not exist; create it or fix spec.tenant"),
        )
        .into(),
        TenantError::Kube(e) => e.into(),
        other => Failure {
            reason: ReadyReason::TenantNotReady,
            message: other.to_string(),
            retry: Retry::Backoff,
        }
        .into(),
    }
}

fn now() -> Timestamp {
    Timestamp::now()
}

fn object_key(obj: &AuthClient) -> String {
    format!("{}/{}", obj.namespace().unwrap_or_default(), obj.name_any())
}

/// Entry point for the controller: runs the apply or cleanup branch under the finalizer.
pub async fn reconcile(obj: Arc<AuthClient>, ctx: Arc<Context>) -> Result<Action, ReconcileError> {
    let started = Instant::now();
    let namespace = obj.namespace().ok_or(ReconcileError::MissingNamespace)?;
    let api = Api::<AuthClient>::namespaced(ctx.kube.clone(), &namespace);
    let result = finalizer::finalizer(&api, FINALIZER, obj, |event| async {
        match event {
            FinalizerEvent::Apply(obj) => apply(&obj, &ctx).await,
            FinalizerEvent::Cleanup(obj) => cleanup(&obj, &ctx).await,
        }
    })
    .await
    .map_err(|e| ReconcileError::Finalizer(Box::new(e)));
    ctx.metrics
        .reconcile_duration
        .observe(started.elapsed().as_secs_f64());
    let label = match &result {
        Ok(_) => "ok",
        Err(_) => "error",
    };
    ctx.metrics
        .reconciles
        .get_or_create(&ResultLabels {
            result: label.into(),
        })
        .inc();
    result
}

/// Error policy: unexpected errors (Kubernetes API failures) retry with backoff.
pub fn error_policy(obj: Arc<AuthClient>, error: &ReconcileError, ctx: Arc<Context>) -> Action {
    let delay = ctx.next_backoff(&object_key(&obj));
    tracing::warn!(object = %object_key(&obj), %error, retry_in = ?delay, "reconcile failed");
    Action::requeue(delay)
}

/// The apply branch: make Auth0 and the Secret match the spec, then write the status.
async fn apply(obj: &AuthClient, ctx: &Context) -> Result<Action, ReconcileError> {
    let key = object_key(obj);
    ctx.take_written_status(&key);
    let mut status = obj.status.clone().unwrap_or_default();
    let previous_ready =
        conditions::find(&status.conditions, READY).map(|c| (c.status.clone(), c.reason.clone()));
    let outcome = ensure(obj, ctx, &mut status).await;
    let generation = obj.metadata.generation;
    let (condition_status, reason, message, action) = match outcome {
        Ok(Synced { message, confirmed }) => {
            ctx.reset_backoff(&key);
            if confirmed || status.last_sync_time.is_none() {
                status.last_sync_time = Some(Time(now()));
            }
            (
                ConditionStatus::True,
                ReadyReason::Synced,
                message,
                Action::requeue(ctx.config.resync_interval),
            )
        }
        Err(Halt::Failed(failure)) => {
            let action = match failure.retry {
                Retry::AwaitChange => {
                    ctx.reset_backoff(&key);
                    Action::await_change()
                }
                Retry::Backoff => Action::requeue(ctx.next_backoff(&key)),
                Retry::After(delay) => Action::requeue(delay.max(Duration::from_millis(200))),
            };
            (
                ConditionStatus::False,
                failure.reason,
                failure.message,
                action,
            )
        }
        Err(Halt::Error(error)) => return Err(error),
    };
    status.observed_generation = generation;
    conditions::merge_condition(
        &mut status.conditions,
        conditions::new_condition(
            READY,
            condition_status,
            reason.as_str(),
            message.clone(),
            generation,
            now(),
        ),
    );
    // Unchanged status is not written: a write would wake the controller's own watch and turn
    // every pass into another one. "Unchanged" is relative to what this pass already wrote.
    let stored = ctx.take_written_status(&key).or_else(|| obj.status.clone());
    if stored.as_ref() != Some(&status) {
        write_status(ctx, obj, &status).await?;
        ctx.take_written_status(&key);
    }
    ctx.set_ready_state(
        &key,
        Some(ConditionLabels {
            ready: condition_status.as_str().into(),
            reason: reason.as_str().into(),
        }),
    );
    let current = (
        condition_status.as_str().to_owned(),
        reason.as_str().to_owned(),
    );
    if previous_ready.as_ref() != Some(&current) {
        let type_ = if condition_status == ConditionStatus::True {
            EventType::Normal
        } else {
            EventType::Warning
        };
        ctx.event(obj, type_, reason.as_str(), "Reconcile", message)
            .await;
    }
    Ok(action)
}

/// Writes the whole status with server-side apply on the status subresource.
async fn write_status(
    ctx: &Context,
    obj: &AuthClient,
    status: &AuthClientStatus,
) -> Result<(), kube::Error> {
    let namespace = obj.namespace().unwrap_or_default();
    let api = Api::<AuthClient>::namespaced(ctx.kube.clone(), &namespace);
    let patch = json!({
        "apiVersion": "auth.nexus.dev/v1alpha1",
        "kind": "AuthClient",
        "status": status,
    });
    api.patch_status(
        &obj.name_any(),
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&patch),
    )
    .await?;
    ctx.remember_written_status(&object_key(obj), status.clone());
    Ok(())
}

/// Resolves the tenant, checks namespace and spec; returns the tenant and its API client.
async fn admit(
    obj: &AuthClient,
    ctx: &Context,
    status: &AuthClientStatus,
) -> Result<(AuthTenant, Arc<TenantClient>), Halt> {
    if let Some(recorded) = status.tenant.as_deref()
        && recorded != obj.spec.tenant
    {
        return Err(Failure::permanent(
            ReadyReason::InvalidSpec,
            format!(
                "spec.tenant changed from '{recorded}' to '{}'; the tenant of an AuthClient cannot change: set it back, or create a new AuthClient",
                obj.spec.tenant
            ),
        )
        .into());
    }
    let tenant = tenant::get_tenant(&ctx.kube, &obj.spec.tenant)
        .await
        .map_err(tenant_failure)?;
    let namespace = obj.namespace().unwrap_or_default();
    if !tenant::namespace_allowed(&ctx.kube, &tenant, &namespace)
        .await
        .map_err(tenant_failure)?
    {
        return Err(Failure::permanent(
            ReadyReason::NamespaceNotAllowed,
            format!(
                "AuthTenant '{}' does not allow namespace '{namespace}'; add it to spec.allowedNamespaces of the AuthTenant",
                obj.spec.tenant
            ),
        )
        .into());
    }
    let mut errors = validate::validate_client(&obj.spec.client);
    errors.extend(validate::validate_url_policy(
        &obj.spec.client,
        &tenant.spec.url_policy,
    ));
    if !errors.is_empty() {
        return Err(
            Failure::permanent(ReadyReason::InvalidSpec, validate::summarize(&errors)).into(),
        );
    }
    let client = tenant::tenant_client(&ctx.kube, &ctx.auth0, &tenant)
        .await
        .map_err(tenant_failure)?;
    Ok((tenant, client))
}

fn ownership_tag(obj: &AuthClient, ctx: &Context) -> Result<OwnershipTag, Halt> {
    OwnershipTag::for_client(obj, &ctx.config.cluster_id)
        .ok_or(Halt::Error(ReconcileError::MissingUid))
}

/// Makes everything match; returns the Ready message on success.
async fn ensure(
    obj: &AuthClient,
    ctx: &Context,
    status: &mut AuthClientStatus,
) -> Result<Synced, Halt> {
    let (tenant, auth0) = admit(obj, ctx, status).await?;
    let tag = ownership_tag(obj, ctx)?;
    let desired = mapping::desired_state(&obj.spec.client, &tag);
    let spec_changed = obj.metadata.generation != status.observed_generation;
    let was_ready = conditions::find(&status.conditions, READY).is_some_and(|c| c.status == "True");
    let finding = ctx.take_finding(&ObjectRef::from_obj(obj));

    // 1. Know the client: adopt, recover a lost creation, or create.
    let mut fresh: Option<Value> = None;
    let mut credentials: Option<String> = None;
    if let Some(adopt_id) = obj.spec.client.id.as_deref()
        && status.client_id.as_deref() != Some(adopt_id)
    {
        let actual = adopt(obj, ctx, &auth0, &tag, adopt_id, status).await?;
        credentials = secret_of(&actual);
        fresh = Some(actual);
    }
    if status.client_id.is_none() {
        let created = create(obj, ctx, &auth0, &tag, &desired, status).await?;
        credentials = secret_of(&created);
        fresh = Some(created);
    }
    let Some(client_id) = status.client_id.clone() else {
        return Err(
            Failure::permanent(ReadyReason::Auth0Rejected, "Auth0 returned no client id").into(),
        );
    };

    // 2. Compare with Auth0 when something may differ: the spec changed, the last pass failed,
    //    or the drift scan found a difference. A Ready, unchanged client costs no Auth0 call.
    let must_check = fresh.is_none() && (spec_changed || !was_ready || finding.is_some());
    let scanned = match (&finding, spec_changed) {
        (Some(ScanFinding::Drifted(listed)), false) => Some(listed.clone()),
        _ => None,
    };
    if must_check && scanned.is_some() {
        fresh = scanned;
    } else if must_check {
        match auth0.get_client(&client_id, Priority::Normal).await {
            Ok(actual) => {
                let actual = to_value(&actual);
                credentials = credentials.or_else(|| secret_of(&actual));
                fresh = Some(actual);
            }
            Err(e) if e.is_not_found() => {
                if obj.spec.client.id.is_some() {
                    return Err(Failure::permanent(
                        ReadyReason::ClientNotFound,
                        format!(
                            "the adopted Auth0 client {client_id} no longer exists in tenant '{}'",
                            obj.spec.tenant
                        ),
                    )
                    .into());
                }
                ctx.event(
                    obj,
                    EventType::Warning,
                    "ClientMissing",
                    "Recreate",
                    format!("Auth0 client {client_id} was deleted outside the operator; creating it again"),
                )
                .await;
                status.client_id = None;
                status.pending_creation = None;
                write_status(ctx, obj, status).await?;
                let created = create(obj, ctx, &auth0, &tag, &desired, status).await?;
                credentials = secret_of(&created);
                fresh = Some(created);
            }
            Err(e) => return Err(auth0_failure("reading the Auth0 client", &e).into()),
        }
    }
    let client_id = status.client_id.clone().unwrap_or(client_id);

    // 3. Drift: push spec changes; correct or report out-of-band changes.
    let compared = fresh.is_some();
    if let Some(actual) = &fresh {
        let drift = mapping::diff(&desired, actual);
        handle_drift(obj, ctx, &auth0, &client_id, drift, spec_changed, status).await?;
    }

    // 4. Rotation on request (annotation) or by age (spec.secret.rotateAfter).
    if let Some(request) = rotation_due(obj, status) {
        let rotated = auth0
            .rotate_secret(&client_id, Priority::Critical)
            .await
            .map_err(|e| auth0_failure("rotating the client secret", &e))?;
        credentials = secret_of(&to_value(&rotated));
        status.last_rotation_time = Some(Time(now()));
        status.rotation_request = request;
        ctx.event(
            obj,
            EventType::Normal,
            "SecretRotated",
            "Rotate",
            format!("client secret of {client_id} rotated"),
        )
        .await;
    }

    // 5. The Secret.
    let secret_name = ensure_secret(obj, ctx, &auth0, &tenant, &client_id, credentials).await?;
    status.secret_name = Some(secret_name.clone());
    Ok(Synced {
        message: format!(
            "Auth0 client {client_id} matches the spec; credentials are in Secret {secret_name}"
        ),
        confirmed: compared,
    })
}

/// A successful pass.
struct Synced {
    /// The Ready message.
    message: String,
    /// Whether Auth0 was consulted (so `lastSyncTime` moves).
    confirmed: bool,
}

fn to_value<T: serde::Serialize>(client: &T) -> Value {
    serde_json::to_value(client).unwrap_or(Value::Null)
}

fn secret_of(client: &Value) -> Option<String> {
    client["client_secret"]
        .as_str()
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// Adopts an existing client named by `spec.client.id`.
async fn adopt(
    obj: &AuthClient,
    ctx: &Context,
    auth0: &TenantClient,
    tag: &OwnershipTag,
    id: &str,
    status: &mut AuthClientStatus,
) -> Result<Value, Halt> {
    let actual = match auth0.get_client(id, Priority::Critical).await {
        Ok(client) => to_value(&client),
        Err(e) if e.is_not_found() => {
            return Err(Failure::permanent(
                ReadyReason::ClientNotFound,
                format!(
                    "spec.client.id '{id}' names no client in tenant '{}'",
                    obj.spec.tenant
                ),
            )
            .into());
        }
        Err(e) => return Err(auth0_failure("reading the client to adopt", &e).into()),
    };
    if let Some((cluster, uid, reference)) = mapping::tagged_owner(&actual)
        && (cluster != tag.cluster || uid != tag.owner_uid)
        && obj.spec.adoption_policy != AdoptionPolicy::TakeOver
    {
        return Err(Failure::permanent(
            ReadyReason::AdoptionRefused,
            format!(
                "Auth0 client {id} is owned by AuthClient '{reference}' in cluster '{cluster}'; set spec.adoptionPolicy: TakeOver to adopt it anyway"
            ),
        )
        .into());
    }
    status.client_id = Some(id.to_owned());
    status.tenant = Some(obj.spec.tenant.clone());
    status.pending_creation = None;
    write_status(ctx, obj, status).await?;
    ctx.event(
        obj,
        EventType::Normal,
        "Adopted",
        "Adopt",
        format!("adopted existing Auth0 client {id}"),
    )
    .await;
    Ok(actual)
}

/// Crash-safe creation. A marker goes into status before the POST; a retry that finds the
/// marker but no client id first looks for a client carrying this object's tag, so a POST
/// whose answer was lost (crash, timeout, failed status write) never yields a second client.
async fn create(
    obj: &AuthClient,
    ctx: &Context,
    auth0: &TenantClient,
    tag: &OwnershipTag,
    desired: &serde_json::Map<String, Value>,
    status: &mut AuthClientStatus,
) -> Result<Value, Halt> {
    if status.pending_creation.is_some() {
        let clients = auth0
            .list_all_clients(
                &["client_id", "client_metadata", "client_secret"],
                Priority::Critical,
            )
            .await
            .map_err(|e| {
                auth0_failure("looking for a client created by an interrupted attempt", &e)
            })?;
        if let Some(found) = clients.iter().map(to_value).find(|c| tag.matches(c)) {
            let id = found["client_id"].as_str().unwrap_or_default().to_owned();
            status.client_id = Some(id.clone());
            status.tenant = Some(obj.spec.tenant.clone());
            status.pending_creation = None;
            write_status(ctx, obj, status).await?;
            ctx.event(
                obj,
                EventType::Normal,
                "Recovered",
                "Create",
                format!("found Auth0 client {id} created by an interrupted attempt"),
            )
            .await;
            // The list has no secret without read:client_keys; a GET below fills it in.
            return Ok(match auth0.get_client(&id, Priority::Critical).await {
                Ok(client) => to_value(&client),
                Err(_) => found,
            });
        }
    } else {
        status.pending_creation = Some(PendingCreation {
            tag: format!("{}/{}", tag.cluster, tag.owner_uid),
            started_at: Time(now()),
        });
        write_status(ctx, obj, status).await?;
    }
    let created = match auth0
        .create_client(&Value::Object(desired.clone()), Priority::Critical)
        .await
    {
        Ok(created) => created,
        Err(error) => {
            // Throttled (never sent, or refused with 429) and permanent 4xx refusals create
            // nothing: drop the marker so the next attempt need not search the client list.
            // After a timeout, a dropped connection or a 5xx the outcome is unknown: keep it.
            if matches!(error, Auth0Error::RateLimited { .. })
                || (!error.is_transient() && error.status().is_some())
            {
                status.pending_creation = None;
            }
            return Err(auth0_failure("creating the Auth0 client", &error).into());
        }
    };
    let created = to_value(&created);
    let id = created["client_id"].as_str().unwrap_or_default().to_owned();
    status.client_id = Some(id.clone());
    status.tenant = Some(obj.spec.tenant.clone());
    status.pending_creation = None;
    status.last_rotation_time = Some(Time(now()));
    status.rotation_request = obj.annotations().get(ROTATE_ANNOTATION).cloned();
    write_status(ctx, obj, status).await?;
    ctx.event(
        obj,
        EventType::Normal,
        "Created",
        "Create",
        format!("created Auth0 client {id}"),
    )
    .await;
    Ok(created)
}

async fn handle_drift(
    obj: &AuthClient,
    ctx: &Context,
    auth0: &TenantClient,
    client_id: &str,
    drift: Drift,
    spec_changed: bool,
    status: &mut AuthClientStatus,
) -> Result<(), Halt> {
    let generation = obj.metadata.generation;
    if drift.is_empty() {
        if conditions::find(&status.conditions, DRIFTED).is_some_and(|c| c.status == "True") {
            conditions::merge_condition(
                &mut status.conditions,
                conditions::new_condition(
                    DRIFTED,
                    ConditionStatus::False,
                    "InSync",
                    "the Auth0 client matches the spec",
                    generation,
                    now(),
                ),
            );
        }
        return Ok(());
    }
    let fields = drift.fields.join(", ");
    if spec_changed || obj.spec.drift_policy == DriftPolicy::Correct {
        auth0
            .patch_client(client_id, &Value::Object(drift.patch), Priority::Normal)
            .await
            .map_err(|e| auth0_failure("updating the Auth0 client", &e))?;
        if spec_changed {
            ctx.event(
                obj,
                EventType::Normal,
                "Updated",
                "Update",
                format!("updated Auth0 client {client_id}: {fields}"),
            )
            .await;
        } else {
            ctx.event(
                obj,
                EventType::Warning,
                "DriftCorrected",
                "Update",
                format!("restored fields changed outside the operator: {fields}"),
            )
            .await;
            conditions::merge_condition(
                &mut status.conditions,
                conditions::new_condition(
                    DRIFTED,
                    ConditionStatus::False,
                    "Corrected",
                    format!("restored fields changed outside the operator: {fields}"),
                    generation,
                    now(),
                ),
            );
        }
    } else {
        let message = format!(
            "changed outside the operator (not corrected, driftPolicy is Report): {fields}"
        );
        let already = conditions::find(&status.conditions, DRIFTED)
            .is_some_and(|c| c.status == "True" && c.message == message);
        if !already {
            ctx.event(
                obj,
                EventType::Warning,
                "DriftDetected",
                "Compare",
                message.clone(),
            )
            .await;
        }
        conditions::merge_condition(
            &mut status.conditions,
            conditions::new_condition(
                DRIFTED,
                ConditionStatus::True,
                "ChangedOutsideOperator",
                message,
                generation,
                now(),
            ),
        );
    }
    Ok(())
}

/// Whether a rotation is due; returns the annotation value to record.
fn rotation_due(obj: &AuthClient, status: &AuthClientStatus) -> Option<Option<String>> {
    let request = obj.annotations().get(ROTATE_ANNOTATION).cloned();
    if request.is_some() && request != status.rotation_request {
        return Some(request);
    }
    let max_age: Duration = obj.spec.secret.rotate_after.map(Into::into)?;
    let last = status.last_rotation_time.as_ref()?;
    let age = now().duration_since(last.0);
    (age.as_secs_f64() >= max_age.as_secs_f64())
        .then_some(request.or_else(|| status.rotation_request.clone()))
}

/// Server-side applies the credentials Secret unless it is already right.
async fn ensure_secret(
    obj: &AuthClient,
    ctx: &Context,
    auth0: &TenantClient,
    tenant: &AuthTenant,
    client_id: &str,
    fresh_secret: Option<String>,
) -> Result<String, Halt> {
    let namespace = obj.namespace().unwrap_or_default();
    let name = obj.secret_name();
    let api = Api::<Secret>::namespaced(ctx.kube.clone(), &namespace);
    let existing = api.get_opt(&name).await?;
    if let Some(existing) = &existing
        && !secret::is_owned_by(existing, obj)
    {
        return Err(Failure::permanent(
            ReadyReason::SecretConflict,
            format!("Secret {namespace}/{name} already exists and is not owned by this AuthClient; delete it or set spec.secret.name"),
        )
        .into());
    }
    let client_secret = match fresh_secret.or_else(|| {
        existing
            .as_ref()
            .and_then(|s| secret::stored_credentials(s, obj, client_id))
    }) {
        Some(value) => value,
        None => {
            let client = auth0
                .get_client(client_id, Priority::Normal)
                .await
                .map_err(|e| auth0_failure("reading the client secret", &e))?;
            secret_of(&to_value(&client)).ok_or_else(|| {
                Failure::permanent(
                    ReadyReason::Auth0Rejected,
                    "Auth0 did not return the client secret; grant the tenant's M2M application the read:client_keys scope",
                )
            })?
        }
    };
    let desired = secret::build_secret(
        obj,
        &Credentials::for_tenant(tenant, client_id.to_owned(), client_secret),
    )
    .map_err(|secret::SecretBuildError::MissingUid| Halt::Error(ReconcileError::MissingUid))?;
    let up_to_date = existing.as_ref().is_some_and(|e| {
        e.data == desired.data
            && contains_all(e.metadata.labels.as_ref(), desired.metadata.labels.as_ref())
            && contains_all(
                e.metadata.annotations.as_ref(),
                desired.metadata.annotations.as_ref(),
            )
    });
    if !up_to_date {
        api.patch(
            &name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&desired),
        )
        .await?;
    }
    Ok(name)
}

fn contains_all(
    have: Option<&std::collections::BTreeMap<String, String>>,
    want: Option<&std::collections::BTreeMap<String, String>>,
) -> bool {
    let empty = Default::default();
    let have = have.unwrap_or(&empty);
    want.unwrap_or(&empty)
        .iter()
        .all(|(k, v)| have.get(k) == Some(v))
}

/// The cleanup branch: delete (or release) the Auth0 client, then let the finalizer go.
async fn cleanup(obj: &AuthClient, ctx: &Context) -> Result<Action, ReconcileError> {
    let key = object_key(obj);
    let status = obj.status.clone().unwrap_or_default();
    let has_client = status.client_id.is_some() || status.pending_creation.is_some();
    if !has_client {
        ctx.set_ready_state(&key, None);
        return Ok(Action::await_change());
    }
    match release(obj, ctx, &status).await {
        Ok(note) => {
            ctx.reset_backoff(&key);
            ctx.set_ready_state(&key, None);
            ctx.event(obj, EventType::Normal, "Deleted", "Delete", note)
                .await;
            Ok(Action::await_change())
        }
        Err(Halt::Error(e)) => Err(e),
        Err(Halt::Failed(failure)) => {
            let mut status = status;
            let message = format!(
                "cannot finish deletion: {}; fix it, or set spec.deletionPolicy: Orphan to leave the Auth0 client",
                failure.message
            );
            conditions::merge_condition(
                &mut status.conditions,
                conditions::new_condition(
                    READY,
                    ConditionStatus::False,
                    ReadyReason::Deleting.as_str(),
                    message.clone(),
                    obj.metadata.generation,
                    now(),
                ),
            );
            write_status(ctx, obj, &status).await?;
            Err(ReconcileError::CleanupPending(message))
        }
    }
}

async fn release(
    obj: &AuthClient,
    ctx: &Context,
    status: &AuthClientStatus,
) -> Result<String, Halt> {
    let policy = obj.spec.deletion_policy;
    let tenant = match tenant::get_tenant(&ctx.kube, &obj.spec.tenant).await {
        Ok(tenant) => tenant,
        Err(TenantError::NotFound(name)) if policy == DeletionPolicy::Orphan => {
            return Ok(format!(
                "AuthTenant '{name}' is gone; left the Auth0 client as it is"
            ));
        }
        Err(e) => return Err(tenant_failure(e)),
    };
    let auth0 = tenant::tenant_client(&ctx.kube, &ctx.auth0, &tenant)
        .await
        .map_err(tenant_failure)?;
    let tag = ownership_tag(obj, ctx)?;
    let id = match status.client_id.clone() {
        Some(id) => Some(id),
        None => auth0
            .list_all_clients(&["client_id", "client_metadata"], Priority::Critical)
            .await
            .map_err(|e| {
                auth0_failure("looking for a client created by an interrupted attempt", &e)
            })?
            .iter()
            .map(to_value)
            .find(|c| tag.matches(c))
            .and_then(|c| c["client_id"].as_str().map(str::to_owned)),
    };
    let Some(id) = id else {
        return Ok("no Auth0 client was created".into());
    };
    match policy {
        DeletionPolicy::Delete => {
            auth0
                .delete_client(&id, Priority::Critical)
                .await
                .map_err(|e| auth0_failure("deleting the Auth0 client", &e))?;
            Ok(format!("deleted Auth0 client {id}"))
        }
        DeletionPolicy::Orphan => {
            let untag = json!({"client_metadata": {
                mapping::TAG_CLUSTER: null, mapping::TAG_OWNER_UID: null, mapping::TAG_OWNER_REF: null
            }});
            match auth0.patch_client(&id, &untag, Priority::Critical).await {
                Ok(_) => Ok(format!(
                    "left Auth0 client {id} in place (deletionPolicy Orphan) and removed its ownership tag"
                )),
                Err(e) if e.is_not_found() => Ok(format!("Auth0 client {id} was already gone")),
                Err(e) => Err(auth0_failure("releasing the Auth0 client", &e).into()),
            }
        }
    }
}
