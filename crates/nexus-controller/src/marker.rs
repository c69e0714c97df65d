//! The crash-safety marker of a kind whose pass creates something in Auth0 (AuthClient,
//! AuthResourceServer): the `auth.nexus.dev/creation-attempt` annotation, written together
//! with the finalizer in one metadata write (conditional on the resourceVersion the pass
//! planned from) before a create is sent to Auth0, and settled by the status write at the end
//! of the pass (`status.lastCreationAttempt`). An annotation the status has not settled means
//! a create may have reached Auth0 unrecorded: the next pass looks for what it may have
//! created (the tagged client, the API with the identifier) before it creates again.
//!
//! The annotation names the object as `<cluster>/<uid>`: a marker copied onto another object
//! (another uid) is never this object's, so a copy cannot make it claim someone's Auth0 state.
//!
//! Pure, except [`claim`] (the one metadata write of a pass) and [`release`] (the finalizer's
//! removal after the cleanup).

use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{Patch, PatchParams};
use kube::{Api, ResourceExt};
use serde_json::{Value, json};

use crate::context::Context;
use crate::pass::{Kind, Pending};
use nexus_crd::{CREATION_ANNOTATION, FIELD_MANAGER, FINALIZER};

/// The key a marker names: `<cluster>/<owner uid>` (the same pair as an AuthClient's Auth0
/// ownership tag).
pub fn tag_key(cluster: &str, owner_uid: &str) -> String {
    format!("{cluster}/{owner_uid}")
}

/// The marker a create attempted at `now` writes: `<tag> <time>`, never the value already
/// on the object (two attempts are always told apart).
pub fn new_value<K: ResourceExt>(owner: &K, tag: &str, now: Timestamp) -> String {
    let value = format!("{tag} {now}");
    if owner.annotations().get(CREATION_ANNOTATION) == Some(&value) {
        let later = now
            .checked_add(SignedDuration::from_nanos(1))
            .unwrap_or(now);
        return format!("{tag} {later}");
    }
    value
}

/// Whether the annotation on `owner` names `tag` and is not the attempt `settled` (the
/// status's `lastCreationAttempt`) records: a create may have reached Auth0 unrecorded.
pub fn unsettled<K: ResourceExt>(owner: &K, tag: &str, settled: Option<&String>) -> bool {
    owner
        .annotations()
        .get(CREATION_ANNOTATION)
        .is_some_and(|value| {
            value
                .split_once(' ')
                .is_some_and(|(tagged, _)| tagged == tag)
                && settled != Some(value)
        })
}

/// Whether a create of `owner` (its status `status`) may have reached Auth0 without its
/// outcome being recorded: the annotation names `key` (`<cluster>/<uid>`, [`tag_key`]) and the
/// status has not settled it ([`unsettled`]), or an older operator's `status.pendingCreation`
/// is there.
pub fn pending<K: Kind>(owner: &K, key: &str, status: &K::Status) -> bool {
    let view = K::view(status);
    unsettled(owner, key, view.last_creation_attempt) || view.pending_creation
}

/// Whether `owner` (its status `status`) may hold something in Auth0 that its cleanup deletes
/// or releases: a recorded object, or a create that may have reached Auth0 unrecorded
/// ([`pending`]; an object the API server never stored, without a uid, has made none).
pub fn holds<K: Kind>(ctx: &Context, owner: &K, status: &K::Status) -> bool {
    K::view(status).id.is_some()
        || owner
            .uid()
            .is_some_and(|uid| pending(owner, &tag_key(&ctx.config.cluster_id, &uid), status))
}

/// The annotation value this pass's status settles (the marker on the object, or the one
/// this pass wrote).
pub fn current<'a, K: ResourceExt>(
    owner: &'a K,
    written: Option<&'a String>,
) -> Option<&'a String> {
    written.or_else(|| owner.annotations().get(CREATION_ANNOTATION))
}

/// Whether the status of this pass settles the marker: once the create's outcome is recorded
/// (the object it made, or found, is `recorded`; or it certainly made nothing). A marker
/// written this pass whose create may have reached Auth0 stays unsettled.
pub fn settles(pending: &Pending<()>, recorded: bool) -> bool {
    match pending {
        Pending::Set(()) => false,
        Pending::Cleared => true,
        Pending::Unchanged => recorded,
    }
}

/// Settles the marker in a status (`last_creation_attempt`, `pending_creation`) once the
/// create's outcome is recorded ([`settles`]): the annotation value on `owner` (or the one
/// this pass wrote, `written`) becomes the settled attempt, and an older operator's
/// `pendingCreation` goes.
pub fn settle<K: ResourceExt, P>(
    owner: &K,
    pending: &Pending<()>,
    written: Option<&String>,
    recorded: bool,
    last_creation_attempt: &mut Option<String>,
    pending_creation: &mut Option<P>,
) {
    if settles(pending, recorded) {
        if let Some(value) = current(owner, written) {
            *last_creation_attempt = Some(value.clone());
        }
        *pending_creation = None;
    }
}

/// What the steps of a pass did to the kind's Auth0 object and to the crash-safety marker:
/// the part of each kind's report that the status records ([`Outcome::record`]).
#[derive(Debug, Default)]
pub struct Outcome {
    /// The id of the Auth0 object after the steps.
    pub id: Option<String>,
    /// The recorded object is gone (a step's PATCH or rotation answered 404).
    pub gone: bool,
    /// The crash-safety marker: written this pass, settled, or as it was.
    pub pending: Pending<()>,
    /// The crash-safety marker this pass wrote (the annotation value).
    pub marker: Option<String>,
}

impl Outcome {
    /// The steps start from the object the plan knows (`id`).
    pub fn start(id: Option<String>) -> Self {
        Outcome {
            id,
            ..Outcome::default()
        }
    }

    /// The marker `value` was written (the create that follows may reach Auth0 unrecorded).
    pub fn marked(&mut self, value: String) {
        self.pending = Pending::Set(());
        self.marker = Some(value);
    }

    /// Records it in `status` of `owner`: the id goes when the object is gone (or the plan
    /// found it so: `forget`), an id the steps created or found is recorded with the tenant
    /// it is in, and the marker is settled once the create's outcome is recorded ([`settle`]).
    /// Returns whether the steps' id was recorded.
    pub fn record<K: Kind>(&self, status: &mut K::Status, owner: &K, forget: bool) -> bool {
        let parts = K::parts(status);
        if forget || self.gone {
            *parts.id = None;
        }
        let found = self.id.as_ref().filter(|_| !self.gone);
        if let Some(id) = found {
            *parts.id = Some(id.clone());
            *parts.tenant = Some(K::tenant(owner).to_owned());
        }
        settle(
            owner,
            &self.pending,
            self.marker.as_ref(),
            parts.id.is_some(),
            parts.last_creation_attempt,
            parts.pending_creation,
        );
        found.is_some()
    }
}

/// The metadata merge patch of [`claim`]: the finalizer when it is missing, the marker when
/// given, conditional on the resourceVersion of `owner` (a stale cache gets 409 and nothing
/// is sent to Auth0).
pub fn claim_patch<K: ResourceExt>(owner: &K, marker: Option<&str>) -> Value {
    let mut metadata = json!({"resourceVersion": owner.resource_version()});
    if !owner.finalizers().iter().any(|f| f == FINALIZER) {
        let mut finalizers = owner.finalizers().to_vec();
        finalizers.push(FINALIZER.to_owned());
        metadata["finalizers"] = json!(finalizers);
    }
    if let Some(marker) = marker {
        metadata["annotations"] = json!({ CREATION_ANNOTATION: marker });
    }
    json!({ "metadata": metadata })
}

/// The one metadata write of a pass that claims Auth0 state for `owner`: the finalizer (when
/// missing) and the marker (when given), conditional on the resourceVersion the pass planned
/// from. Returns the new resourceVersion (the status write of the pass is conditional on it).
pub async fn claim<K: Kind>(
    ctx: &Context,
    owner: &K,
    marker: Option<&str>,
) -> Result<Option<String>, kube::Error> {
    let api = Api::<K>::namespaced(ctx.kube.clone(), &owner.namespace().unwrap_or_default());
    let written = api
        .patch(
            &owner.name_any(),
            &PatchParams {
                field_manager: Some(FIELD_MANAGER.into()),
                ..PatchParams::default()
            },
            &Patch::Merge(claim_patch(owner, marker)),
        )
        .await?;
    let resource_version = written.resource_version();
    // Into the cache at once: a later pass plans from this resourceVersion, not a stale one.
    // The finalizer and the marker are not part of the kind's trigger, so this starts no pass.
    K::observe_own_write(ctx, written);
    Ok(resource_version)
}

/// Removes the finalizer after the cleanup (a merge patch conditional on the resourceVersion:
/// another finalizer added meanwhile is never dropped).
pub async fn release<K: Kind>(ctx: &Context, owner: &K) -> Result<(), kube::Error> {
    let api = Api::<K>::namespaced(ctx.kube.clone(), &owner.namespace().unwrap_or_default());
    let rest: Vec<&String> = owner
        .finalizers()
        .iter()
        .filter(|f| *f != FINALIZER)
        .collect();
    let finalizers = if rest.is_empty() {
        Value::Null
    } else {
        json!(rest)
    };
    let patch = json!({"metadata": {
        "resourceVersion": owner.resource_version(),
        "finalizers": finalizers,
    }});
    match api
        .patch(
            &owner.name_any(),
            &PatchParams {
                field_manager: Some(FIELD_MANAGER.into()),
                ..PatchParams::default()
            },
            &Patch::Merge(patch),
        )
        .await
    {
        Ok(_) => Ok(()),
        // Already gone: the finalizer was the last one.
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
        Err(error) => Err(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nexus_crd::{AuthClient, AuthClientSpec};

    fn owner() -> AuthClient {
        let mut owner = AuthClient::new(
            "orders",
            serde_json::from_value::<AuthClientSpec>(
                json!({"tenant": "acme", "client": {"name": "Orders", "app_type": "spa"}}),
            )
            .expect("spec"),
        );
        owner.metadata.uid = Some("uid-1".into());
        owner.metadata.resource_version = Some("7".into());
        owner
    }

    const TAG: &str = "c1/uid-1";

    #[test]
    fn an_unsettled_marker_of_this_object_is_pending_until_the_status_records_it() {
        let mut owner = owner();
        assert_eq!(tag_key("c1", "uid-1"), TAG);
        assert!(!unsettled(&owner, TAG, None), "no marker");
        let value = new_value(&owner, TAG, Timestamp::UNIX_EPOCH);
        owner
            .metadata
            .annotations
            .get_or_insert_default()
            .insert(CREATION_ANNOTATION.into(), value.clone());
        assert!(unsettled(&owner, TAG, None), "written, not settled");
        assert!(!unsettled(&owner, TAG, Some(&value)), "settled");
        assert!(
            !unsettled(&owner, "c1/uid-2", None),
            "a marker copied from another object names another tag"
        );
        assert_eq!(current(&owner, None), Some(&value));
        let again = new_value(&owner, TAG, Timestamp::UNIX_EPOCH);
        assert_ne!(again, value, "a new attempt is told apart from the last");
        assert_eq!(current(&owner, Some(&again)), Some(&again));
    }

    #[test]
    fn the_claim_is_one_conditional_write_of_the_finalizer_and_the_marker() {
        let owner = owner();
        let patch = claim_patch(&owner, Some("c1/uid-1 t"));
        assert_eq!(
            patch,
            json!({"metadata": {
                "resourceVersion": "7",
                "finalizers": [FINALIZER],
                "annotations": {CREATION_ANNOTATION: "c1/uid-1 t"},
            }})
        );
        let mut finalized = owner.clone();
        finalized.metadata.finalizers = Some(vec!["other/x".into(), FINALIZER.into()]);
        assert_eq!(
            claim_patch(&finalized, None),
            json!({"metadata": {"resourceVersion": "7"}}),
            "nothing to add but the precondition"
        );
        assert_eq!(
            claim_patch(&owner, None)["metadata"]["finalizers"],
            json!([FINALIZER])
        );
    }
}
