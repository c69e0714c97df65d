//! The key credentials of a `privateKeyJwt` AuthClient, as a pure state machine: from the spec,
//! the stored status, the client's credentials in Auth0 and the key id the Secret holds,
//! [`next`] answers the one step to take now ([`KeyStep`], data). The executor
//! ([`super::keys`]) performs it, observes its result and asks again, until [`KeyStep::Done`].
//! Because every decision is made from what is observed, a pass killed between any two steps
//! resumes correctly from a fresh observation.
//!
//! The orders that keep a working credential in the Secret at every moment:
//! - **first key / migration from the client secret** (nothing listed, so the secret works):
//!   generate, mark, register, write the key into the Secret, list it (the secret stops working
//!   only once the Secret already holds the listed key);
//! - **rotation** (the active key is listed): generate, mark, register, list both, write the new
//!   key into the Secret, and after `overlap` unlist the old one, then delete it;
//! - **back to the client secret**: clear the methods (the client secret, kept in the Secret,
//!   works again), remove the key from the Secret, delete the credentials.
//!
//! Crash safety: the kid of a key is recorded in `status.credentials.pendingKid` ([`KeyStep::Mark`])
//! before its public key is registered. A credential of the operator's (named with
//! [`credential_name`]'s prefix) that the Secret does not hold is either a key whose private half
//! was lost (pending, or never listed: unlisted and deleted at once) or a retiring key (listed
//! and not pending: kept until its overlap ends). So a kill leaves no orphaned credential for
//! longer than one pass, and the Secret never holds a key Auth0 does not know.
//!
//! Drift (changes made in the dashboard) follows `driftPolicy` ([`View::correct`]); every
//! decision names the credentials changed outside the operator ([`Decision::outside`]):
//! - `Correct`: a credential the operator did not register is unlisted, then deleted; the
//!   operator's active key unlisted outside is listed again, its retiring key too while its
//!   overlap lasts, and an active key deleted outside is registered again from the Secret's
//!   key ([`KeyStep::Reregister`]: the pods keep their key);
//! - `Report`: nothing is changed in Auth0 for them; they are named in the `Drifted` condition.
//!
//! Either way the retiring key is never deleted before its overlap ends (a pod that has not
//! reloaded the Secret may still sign with it), even when it was unlisted outside.

use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::{SignedDuration, Timestamp};

use auth0_mgmt::ClientCredential;
use nexus_crd::{CredentialsSpec, CredentialsStatus, KeyCredential};

/// Prefix of the `name` of every credential the operator registers.
pub const NAME_PREFIX: &str = "nexus-operator:";

/// The `name` of the credentials the operator registers for the AuthClient with `uid`.
pub fn credential_name(uid: &str) -> String {
    format!("{NAME_PREFIX}{uid}")
}

/// What the spec asks for, in the machine's terms.
#[derive(Clone, Debug, PartialEq)]
pub struct Desired {
    /// `RS256`, `RS384` or `PS256`.
    pub alg: &'static str,
    /// `rotation.every`.
    pub every: Option<Duration>,
    /// `rotation.overlap`.
    pub overlap: Duration,
}

impl Desired {
    /// `None` for `clientSecret`.
    pub fn of(spec: &CredentialsSpec) -> Option<Self> {
        spec.is_private_key_jwt().then(|| Self {
            alg: spec.algorithm().as_str(),
            every: spec.every(),
            overlap: spec.overlap(),
        })
    }
}

/// Everything a decision is made from.
#[derive(Clone, Copy, Debug)]
pub struct View<'a> {
    /// `None` when the spec asks for the client secret.
    pub desired: Option<&'a Desired>,
    /// The status being built in this pass (as stored at its start, then as returned by the
    /// previous steps).
    pub status: &'a CredentialsStatus,
    /// The client's credentials in Auth0.
    pub registered: &'a [ClientCredential],
    /// `client_authentication_methods.private_key_jwt.credentials` ids; `None` when the client
    /// authenticates with its secret.
    pub listed: Option<&'a [String]>,
    /// The key id the Secret holds (written by the team as much as by the operator).
    pub secret_kid: Option<&'a str>,
    /// The RFC 7638 thumbprint of the private key the Secret holds (`None`: none, or not a
    /// key). The Secret's key is trusted only when this equals its kid and the kid is the
    /// status's active or pending one ([`trusts`]).
    pub secret_thumbprint: Option<&'a str>,
    /// The key generated in this pass and not yet in the Secret (lost with the process).
    pub fresh: Option<&'a Fresh>,
    /// The uid of the AuthClient (names its credentials).
    pub uid: &'a str,
    /// The rotate annotation's value.
    pub rotate_request: Option<&'a str>,
    /// `driftPolicy: Correct` (else `Report`): whether credentials changed outside the operator
    /// are put back.
    pub correct: bool,
    /// Now.
    pub now: Timestamp,
}

/// A key generated in this pass: its kid and algorithm (the material stays with the executor).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fresh {
    /// RFC 7638 thumbprint.
    pub kid: String,
    /// Its algorithm.
    pub alg: &'static str,
}

/// One step.
#[derive(Clone, Debug, PartialEq)]
pub enum KeyStep {
    /// Generate a key pair for `alg` (in memory; becomes [`View::fresh`]).
    Generate {
        /// The algorithm.
        alg: &'static str,
    },
    /// Persist `status` (with `pendingKid` = the fresh key's kid) before registering it.
    Mark,
    /// `POST /api/v2/clients/{id}/credentials` with the fresh key's public half.
    Register,
    /// `POST /api/v2/clients/{id}/credentials` with the public half of the key the Secret holds
    /// (the active key, deleted outside the operator: `driftPolicy: Correct` registers it
    /// again, so the pods keep their key).
    Reregister,
    /// `PATCH /api/v2/clients/{id}` listing these credential ids (`Some`), or clearing the
    /// methods (`None`, back to the client secret).
    List(Option<Vec<String>>),
    /// Write the fresh key (private PEM and kid) into the Secret.
    WriteKey,
    /// Rewrite the Secret's kid entry as the thumbprint of the private key it holds, a key of
    /// the status (the entry was edited or removed; the key itself is intact): no Auth0 call.
    FixKid,
    /// Remove the key entries from the Secret.
    RemoveKey,
    /// `DELETE /api/v2/clients/{id}/credentials/{cred}`.
    Delete(String),
    /// Nothing more now.
    Done(Outcome),
}

/// The end of a pass.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Outcome {
    /// When to look again (next rotation, end of an overlap).
    pub wake_at: Option<Timestamp>,
    /// Ids of credentials the operator did not register (dashboard drift).
    pub foreign: Vec<String>,
}

/// The answer of [`next`]: the step and the status as it stands once the step is done.
#[derive(Clone, Debug, PartialEq)]
pub struct Decision {
    /// The step.
    pub step: KeyStep,
    /// `status.credentials` after it (persist it at [`KeyStep::Mark`] and at the end).
    pub status: CredentialsStatus,
    /// Ids of the credentials found changed outside the operator in this view: registered by
    /// someone else, or the recorded active (or retiring, during its overlap) key unlisted or
    /// deleted. Never key material.
    pub outside: Vec<String>,
}

/// The least time between two rotations that `rotation.every` does not schedule (the rotate
/// annotation, an algorithm change, the repair of a Secret that lost or altered its key),
/// counted from `status.credentials.active.since`. Each rotation costs about eight Auth0 calls
/// and an RSA key generation on the tenant's shared rate limit: the operator's protection of
/// the other teams, not an Auth0 rule.
pub const MIN_ROTATION_INTERVAL: Duration = Duration::from_secs(600);

/// Whether the Secret's key (`kid`, and the thumbprint of its private key) is one the operator
/// wrote: the kid is the status's active or pending one, and the private key's thumbprint is
/// that kid. The Secret is the team's to write; the status is the operator's.
pub fn trusts(status: &CredentialsStatus, kid: &str, thumbprint: Option<&str>) -> bool {
    thumbprint == Some(kid) && is_recorded(status, kid)
}

/// Whether `kid` is the status's active or pending key.
pub fn is_recorded(status: &CredentialsStatus, kid: &str) -> bool {
    status.active.as_ref().is_some_and(|a| a.kid == kid)
        || status.pending_kid.as_deref() == Some(kid)
}

fn ours(c: &ClientCredential, uid: &str) -> bool {
    c.name.as_deref() == Some(credential_name(uid).as_str())
}

fn plus(t: Timestamp, d: Duration) -> Timestamp {
    SignedDuration::try_from(d)
        .ok()
        .and_then(|d| t.checked_add(d).ok())
        .unwrap_or(Timestamp::MAX)
}

/// The one step to take now (pure).
pub fn next(view: &View<'_>) -> Decision {
    let mut status = view.status.clone();
    let (step, outside) = match view.desired {
        None => (back_to_secret(view, &mut status), Vec::new()),
        Some(desired) => (
            private_key_jwt(view, desired, &mut status),
            changed_outside(view),
        ),
    };
    Decision {
        step,
        status,
        outside,
    }
}

/// Whether `id` is the recorded retiring key and its overlap has not ended.
fn in_overlap(view: &View<'_>, id: &str) -> bool {
    view.status
        .retiring
        .as_ref()
        .is_some_and(|r| r.id == id && r.until.as_ref().is_none_or(|until| until.0 > view.now))
}

/// See [`Decision::outside`].
fn changed_outside(view: &View<'_>) -> Vec<String> {
    let gone = |id: &str| !listed_has(view, id) || !view.registered.iter().any(|c| c.id == id);
    let mut ids = foreign(view);
    let status = view.status;
    if let Some(active) = &status.active
        && gone(&active.id)
    {
        ids.push(active.id.clone());
    }
    if let Some(retiring) = &status.retiring
        && in_overlap(view, &retiring.id)
        && gone(&retiring.id)
    {
        ids.push(retiring.id.clone());
    }
    ids
}

fn back_to_secret(view: &View<'_>, status: &mut CredentialsStatus) -> KeyStep {
    if view.listed.is_some() {
        return KeyStep::List(None);
    }
    if view.secret_kid.is_some() {
        return KeyStep::RemoveKey;
    }
    if let Some(c) = view.registered.iter().find(|c| ours(c, view.uid)) {
        return KeyStep::Delete(c.id.clone());
    }
    *status = CredentialsStatus {
        rotation_request: status.rotation_request.take(),
        ..CredentialsStatus::default()
    };
    KeyStep::Done(Outcome {
        wake_at: None,
        foreign: foreign(view),
    })
}

fn foreign(view: &View<'_>) -> Vec<String> {
    view.registered
        .iter()
        .filter(|c| !ours(c, view.uid))
        .map(|c| c.id.clone())
        .collect()
}

fn listed_has(view: &View<'_>, id: &str) -> bool {
    view.listed.is_some_and(|l| l.iter().any(|x| x == id))
}

/// The listed ids without `id` (`None` when nothing would remain: back to the secret, which
/// only happens when the Secret holds no listed key anyway).
fn without(view: &View<'_>, id: &str) -> Option<Vec<String>> {
    let rest: Vec<String> = view
        .listed
        .unwrap_or_default()
        .iter()
        .filter(|x| *x != id)
        .cloned()
        .collect();
    (!rest.is_empty()).then_some(rest)
}

fn with(view: &View<'_>, id: &str) -> Vec<String> {
    let mut ids: Vec<String> = view.listed.unwrap_or_default().to_vec();
    if !ids.iter().any(|x| x == id) {
        ids.push(id.to_owned());
    }
    ids
}

fn registered_id(view: &View<'_>, kid: &str) -> String {
    view.registered
        .iter()
        .find(|c| c.kid.as_deref() == Some(kid))
        .map(|c| c.id.clone())
        .unwrap_or_default()
}

fn key_credential(
    c: &ClientCredential,
    since: Option<Time>,
    until: Option<Timestamp>,
) -> KeyCredential {
    KeyCredential {
        id: c.id.clone(),
        kid: c.kid.clone().unwrap_or_default(),
        algorithm: c.alg.clone().unwrap_or_default(),
        since,
        until: until.map(Time),
    }
}

fn private_key_jwt(view: &View<'_>, desired: &Desired, status: &mut CredentialsStatus) -> KeyStep {
    let fresh_kid = view.fresh.map(|f| f.kid.as_str());
    // 0a. The Secret's private key is the active (or pending) one but its kid entry was edited
    // or removed: only the entry is rewritten, at once (no Auth0 call, no new key).
    if view.fresh.is_none()
        && let Some(thumbprint) = view.secret_thumbprint
        && view.secret_kid != Some(thumbprint)
        && is_recorded(status, thumbprint)
    {
        return KeyStep::FixKid;
    }
    // 0. The Secret's key counts only when trusted. A Secret that lost or altered its key gets
    // a new one (a rotation, so no sooner than MIN_ROTATION_INTERVAL after the last); until
    // then the Auth0 side keeps the status's active key, whatever the Secret claims.
    let held = view
        .secret_kid
        .filter(|kid| trusts(status, kid, view.secret_thumbprint));
    let earliest = status
        .active
        .as_ref()
        .and_then(|a| a.since.as_ref())
        .map(|s| plus(s.0, MIN_ROTATION_INTERVAL));
    let limited = earliest.is_some_and(|t| t > view.now);
    let repair = held.is_none() && status.active.is_some();
    let secret_kid: Option<String> = match held {
        Some(kid) => Some(kid.to_owned()),
        None if limited => status.active.as_ref().map(|a| a.kid.clone()),
        None => None,
    };
    let secret_kid = secret_kid.as_deref();
    // 1. Keys whose private half is lost (pending, or never listed) and unlisted retired keys.
    for c in view.registered.iter().filter(|c| ours(c, view.uid)) {
        let kid = c.kid.as_deref();
        if kid.is_some() && (kid == secret_kid || kid == fresh_kid) {
            continue;
        }
        let pending = kid.is_some() && kid == status.pending_kid.as_deref();
        let listed = listed_has(view, &c.id);
        if listed && !pending {
            continue; // retiring: handled below, after its overlap
        }
        if !pending && in_overlap(view, &c.id) {
            continue; // the retiring key unlisted outside: a pod may still hold it (below)
        }
        if listed {
            return KeyStep::List(without(view, &c.id));
        }
        return KeyStep::Delete(c.id.clone());
    }
    let active = secret_kid.and_then(|kid| {
        view.registered
            .iter()
            .find(|c| c.kid.as_deref() == Some(kid))
    });
    let Some(active) = active else {
        // 2. No usable key in the Secret (first key, migration, or its credential is gone):
        // register a new one and write it before listing it. Under `Report`, the trusted
        // active key deleted outside is only reported, until a rotation is due anyway.
        if view.fresh.is_none()
            && let Some(recorded) = status.active.as_ref()
            && held == Some(recorded.kid.as_str())
            && !rotation_wanted(
                view,
                desired,
                recorded.since.as_ref(),
                recorded.algorithm.as_str(),
            )
        {
            if view.correct {
                // The pods hold the key: registered again, it works for them at once.
                return KeyStep::Reregister;
            }
            let next_rotation = next_rotation_of(desired, recorded.since.as_ref());
            return KeyStep::Done(Outcome {
                wake_at: next_rotation,
                foreign: foreign(view),
            });
        }
        status.active = None;
        return match view.fresh {
            None => KeyStep::Generate { alg: desired.alg },
            Some(fresh) => fresh_step(view, fresh, status).unwrap_or_else(|| {
                // Other keys listed (the Secret lost or altered its key): the client secret no
                // longer works, so list the new key before writing it, as in a rotation.
                if view.listed.is_some() {
                    let fresh_id = registered_id(view, &fresh.kid);
                    if !listed_has(view, &fresh_id) {
                        return KeyStep::List(Some(with(view, &fresh_id)));
                    }
                }
                status.rotation_request = view.rotate_request.map(str::to_owned);
                KeyStep::WriteKey
            }),
        };
    };
    // 3. The Secret's key is known: it must be listed.
    let since = match &status.active {
        // The same key (registered again after a deletion outside keeps its age).
        Some(a) if a.id == active.id || Some(a.kid.as_str()) == active.kid.as_deref() => {
            a.since.clone()
        }
        _ => Some(Time(view.now)),
    };
    let next_rotation = desired
        .every
        .and_then(|every| since.as_ref().map(|s| plus(s.0, every)));
    status.active = Some(key_credential(active, since, next_rotation));
    if status.pending_kid.as_deref() == active.kid.as_deref() {
        // A key written by a pass killed before its status write: that rotation is done.
        status.pending_kid = None;
        status.rotation_request = view.rotate_request.map(str::to_owned);
    }
    // Unlisted outside: listed again (`Correct`), or left and reported (`Report`).
    let unlisted_outside = view
        .status
        .active
        .as_ref()
        .is_some_and(|a| a.id == active.id);
    if !listed_has(view, &active.id) && (view.correct || !unlisted_outside) {
        return KeyStep::List(Some(with(view, &active.id)));
    }
    // 4. The retiring key (ours, listed, not the Secret's): unlisted once its overlap ends.
    let retiring = view.registered.iter().find(|c| {
        ours(c, view.uid)
            && c.id != active.id
            && (listed_has(view, &c.id) || in_overlap(view, &c.id))
            && c.kid.as_deref() != fresh_kid
    });
    status.retiring = retiring.map(|c| {
        let until = match &status.retiring {
            Some(r) if r.id == c.id => r.until.as_ref().map(|t| t.0),
            _ => None,
        }
        .unwrap_or_else(|| plus(view.now, desired.overlap));
        let since = status
            .retiring
            .as_ref()
            .filter(|r| r.id == c.id)
            .and_then(|r| r.since.clone());
        key_credential(c, since, Some(until))
    });
    if let Some(r) = &status.retiring {
        let id = r.id.clone();
        if r.until.as_ref().is_some_and(|u| u.0 <= view.now) {
            if listed_has(view, &id) {
                return KeyStep::List(without(view, &id));
            }
            return KeyStep::Delete(id);
        }
        if view.correct && !listed_has(view, &id) {
            // Unlisted outside during its overlap: a pod may still sign with it.
            return KeyStep::List(Some(with(view, &id)));
        }
    }
    // 4b. `Correct`: credentials registered outside the operator are unlisted, then deleted
    // (the Secret's key is listed by now, so the list never empties).
    if view.correct
        && let Some(c) = view.registered.iter().find(|c| !ours(c, view.uid))
    {
        if listed_has(view, &c.id) {
            return KeyStep::List(without(view, &c.id));
        }
        return KeyStep::Delete(c.id.clone());
    }
    // 5. A rotation in progress: mark, register, list both, then write.
    if let Some(fresh) = view.fresh {
        if let Some(step) = fresh_step(view, fresh, status) {
            return step;
        }
        let fresh_id = registered_id(view, &fresh.kid);
        if !listed_has(view, &fresh_id) {
            return KeyStep::List(Some(with(view, &fresh_id)));
        }
        status.rotation_request = view.rotate_request.map(str::to_owned);
        return KeyStep::WriteKey;
    }
    // 6. Is a rotation due? One retiring key at a time: a due rotation waits for its end.
    let requested = rotation_requested(view, status.rotation_request.as_deref());
    let aged = next_rotation.is_some_and(|t| t <= view.now);
    let alg_changed = active.alg.as_deref() != Some(desired.alg);
    let retiring_until = status
        .retiring
        .as_ref()
        .and_then(|r| r.until.as_ref().map(|t| t.0));
    let wanted = requested || aged || alg_changed;
    if wanted && retiring_until.is_none() && !limited {
        return KeyStep::Generate { alg: desired.alg };
    }
    if status
        .pending_kid
        .as_deref()
        .is_some_and(|p| !view.registered.iter().any(|c| c.kid.as_deref() == Some(p)))
    {
        status.pending_kid = None;
    }
    let held_back = (((wanted && retiring_until.is_none()) || repair) && limited)
        .then_some(earliest)
        .flatten();
    let wake_at = [retiring_until, next_rotation, held_back]
        .into_iter()
        .flatten()
        .min();
    KeyStep::Done(Outcome {
        wake_at,
        foreign: foreign(view),
    })
}

/// A new value of the rotate annotation.
fn rotation_requested(view: &View<'_>, recorded: Option<&str>) -> bool {
    view.rotate_request.is_some() && view.rotate_request != recorded
}

fn next_rotation_of(desired: &Desired, since: Option<&Time>) -> Option<Timestamp> {
    desired
        .every
        .and_then(|every| since.map(|s| plus(s.0, every)))
}

/// Whether a rotation of the key recorded with `since` and `algorithm` is wanted now
/// (requested, aged or another algorithm), the minimum interval aside.
fn rotation_wanted(
    view: &View<'_>,
    desired: &Desired,
    since: Option<&Time>,
    algorithm: &str,
) -> bool {
    rotation_requested(view, view.status.rotation_request.as_deref())
        || next_rotation_of(desired, since).is_some_and(|t| t <= view.now)
        || algorithm != desired.alg
}

/// Mark, then register, the fresh key; `None` once it is registered.
fn fresh_step(view: &View<'_>, fresh: &Fresh, status: &mut CredentialsStatus) -> Option<KeyStep> {
    if status.pending_kid.as_deref() != Some(fresh.kid.as_str()) {
        status.pending_kid = Some(fresh.kid.clone());
        return Some(KeyStep::Mark);
    }
    let registered = view
        .registered
        .iter()
        .any(|c| c.kid.as_deref() == Some(fresh.kid.as_str()));
    (!registered).then_some(KeyStep::Register)
}

#[cfg(test)]
mod tests;
