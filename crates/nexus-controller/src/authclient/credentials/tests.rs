//! The key state machine against a model of Auth0 and the Secret: every scenario runs clean,
//! then killed after each step (and after each pair of steps), and every step is checked
//! against the invariants:
//! - the Secret never holds a key Auth0 does not have registered;
//! - the Secret always holds a working credential (its key listed, or nothing listed so the
//!   client secret works);
//! - a key that was in the Secret stays listed for `overlap` after it left it;
//! - a listed credential is never deleted;
//! - a finished pass leaves no credential of the operator's but the active and retiring keys,
//!   and no pending marker.

use std::collections::{HashMap, HashSet};

use super::*;

const UID: &str = "0b6f1c3e-uid";
const HOUR: Duration = Duration::from_secs(3600);

fn desired(alg: &'static str) -> Desired {
    Desired {
        alg,
        every: Some(720 * HOUR),
        overlap: 24 * HOUR,
    }
}

#[derive(Clone, Debug)]
struct World {
    registered: Vec<ClientCredential>,
    listed: Option<Vec<String>>,
    secret_kid: Option<String>,
    /// The thumbprint of the private key the Secret holds (equal to its kid unless edited).
    secret_thumbprint: Option<String>,
    persisted: CredentialsStatus,
    now: Timestamp,
    serial: u32,
    /// When the Secret stopped holding each kid.
    left_secret: HashMap<String, Timestamp>,
    ever_in_secret: HashSet<String>,
    /// Auth0 write calls (register, list, delete).
    writes: u32,
    /// A kid made unknown by drift (deleted in the dashboard), not by the operator.
    drifted: Option<String>,
    /// The team edited or emptied the Secret (the invariants hold again once the operator
    /// writes it).
    tampered: bool,
    /// `driftPolicy: Correct`.
    correct: bool,
    /// Every credential a decision named as changed outside the operator.
    outside: std::collections::BTreeSet<String>,
}

impl World {
    fn new() -> Self {
        Self {
            registered: Vec::new(),
            listed: None,
            secret_kid: None,
            secret_thumbprint: None,
            persisted: CredentialsStatus::default(),
            now: "2026-01-01T00:00:00Z".parse().expect("time"),
            serial: 0,
            left_secret: HashMap::new(),
            ever_in_secret: HashSet::new(),
            writes: 0,
            drifted: None,
            tampered: false,
            correct: true,
            outside: Default::default(),
        }
    }

    fn advance(&mut self, d: Duration) {
        self.now = plus(self.now, d);
    }

    fn ours(&self) -> Vec<&ClientCredential> {
        self.registered.iter().filter(|c| ours(c, UID)).collect()
    }

    fn id_of(&self, kid: &str) -> Option<String> {
        self.registered
            .iter()
            .find(|c| c.kid.as_deref() == Some(kid))
            .map(|c| c.id.clone())
    }

    fn check(&self, desired: Option<&Desired>, what: &str) {
        if self.tampered {
            return;
        }
        if let Some(kid) = &self.secret_kid
            && self.drifted.as_ref() != Some(kid)
        {
            assert!(
                self.id_of(kid).is_some(),
                "{what}: the Secret holds {kid}, unknown to Auth0: {self:#?}"
            );
        }
        match &self.listed {
            None => {} // the client secret (kept in the Secret) works
            Some(_) if self.drifted.is_some() && self.drifted == self.secret_kid => {}
            Some(ids) => {
                let id = self.secret_kid.as_deref().and_then(|k| self.id_of(k));
                assert!(
                    id.is_some_and(|id| ids.contains(&id)),
                    "{what}: the Secret holds no listed key: {self:#?}"
                );
            }
        }
        let _ = desired;
    }

    fn converged(&self, desired: Option<&Desired>, what: &str) {
        assert_eq!(self.persisted.pending_kid, None, "{what}: {self:#?}");
        let ours: Vec<String> = self.ours().iter().map(|c| c.id.clone()).collect();
        match desired {
            None => {
                assert!(ours.is_empty(), "{what}: {self:#?}");
                assert_eq!(self.listed, None, "{what}");
                assert_eq!(self.secret_kid, None, "{what}");
            }
            Some(_) => {
                let active = self.persisted.active.as_ref().expect("active");
                assert_eq!(Some(&active.kid), self.secret_kid.as_ref(), "{what}");
                let mut allowed = vec![active.id.clone()];
                allowed.extend(self.persisted.retiring.iter().map(|r| r.id.clone()));
                for id in &ours {
                    assert!(allowed.contains(id), "{what}: orphan {id}: {self:#?}");
                }
                assert!(ours.len() <= 2, "{what}");
            }
        }
    }
}

/// Runs one pass; stops (the process is killed) after `crash_after` steps. Answers whether
/// the pass finished and the outcome.
fn pass(
    w: &mut World,
    desired: Option<&Desired>,
    rotate: Option<&str>,
    crash_after: Option<usize>,
) -> Option<Outcome> {
    let mut status = w.persisted.clone();
    let mut fresh: Option<Fresh> = None;
    for taken in 1..=40 {
        let listed = w.listed.clone();
        let decision = next(&View {
            desired,
            status: &status,
            registered: &w.registered,
            listed: listed.as_deref(),
            secret_kid: w.secret_kid.as_deref(),
            secret_thumbprint: w.secret_thumbprint.as_deref(),
            fresh: fresh.as_ref(),
            uid: UID,
            rotate_request: rotate,
            correct: w.correct,
            now: w.now,
        });
        status = decision.status;
        w.outside.extend(decision.outside);
        let what = format!("{:?} at step {taken}", decision.step);
        match decision.step {
            KeyStep::Generate { alg } => {
                w.serial += 1;
                fresh = Some(Fresh {
                    kid: format!("kid-{}", w.serial),
                    alg,
                });
            }
            KeyStep::Mark => w.persisted = status.clone(),
            KeyStep::Register => {
                let f = fresh.as_ref().expect("a fresh key to register");
                w.serial += 1;
                w.registered.push(ClientCredential {
                    id: format!("cred_{}", w.serial),
                    credential_type: "public_key".into(),
                    kid: Some(f.kid.clone()),
                    alg: Some(f.alg.into()),
                    name: Some(credential_name(UID)),
                    ..ClientCredential::default()
                });
                w.writes += 1;
            }
            KeyStep::List(ids) => {
                let before = w.listed.clone().unwrap_or_default();
                let after = ids.clone().unwrap_or_default();
                for gone in before.iter().filter(|id| !after.contains(id)) {
                    let kid = w
                        .registered
                        .iter()
                        .find(|c| &c.id == gone)
                        .and_then(|c| c.kid.clone());
                    if let (Some(d), Some(kid)) = (desired, kid)
                        && w.ever_in_secret.contains(&kid)
                        && w.secret_kid.as_deref() != Some(kid.as_str())
                    {
                        let left = w.left_secret.get(&kid).copied().expect("left the Secret");
                        assert!(
                            w.now >= plus(left, d.overlap),
                            "{what}: {kid} unlisted before its overlap ended"
                        );
                    }
                }
                w.listed = ids;
                w.writes += 1;
            }
            KeyStep::WriteKey => {
                let f = fresh.take().expect("a fresh key to write");
                w.secret_thumbprint = Some(f.kid.clone());
                // A key the team put back owes its pods no overlap.
                if let Some(old) = w.secret_kid.replace(f.kid.clone())
                    && !w.tampered
                {
                    w.left_secret.insert(old, w.now);
                }
                w.tampered = false;
                w.ever_in_secret.insert(f.kid);
            }
            KeyStep::Reregister => {
                let kid = w.secret_kid.clone().expect("a key in the Secret");
                w.serial += 1;
                w.registered.push(ClientCredential {
                    id: format!("cred_{}", w.serial),
                    credential_type: "public_key".into(),
                    kid: Some(kid),
                    alg: Some("RS256".into()),
                    name: Some(credential_name(UID)),
                    ..ClientCredential::default()
                });
                w.writes += 1;
            }
            KeyStep::FixKid => {
                w.secret_kid = w.secret_thumbprint.clone();
                w.tampered = false;
            }
            KeyStep::RemoveKey => {
                w.secret_thumbprint = None;
                if let Some(old) = w.secret_kid.take() {
                    w.left_secret.insert(old, w.now);
                }
            }
            KeyStep::Delete(id) => {
                assert!(
                    !w.listed.as_ref().is_some_and(|l| l.contains(&id)),
                    "{what}: deleting a listed credential"
                );
                let kid = w
                    .registered
                    .iter()
                    .find(|c| c.id == id)
                    .and_then(|c| c.kid.clone());
                assert!(
                    kid.is_none() || kid != w.secret_kid,
                    "{what}: deleting the Secret's key"
                );
                w.registered.retain(|c| c.id != id);
                w.writes += 1;
            }
            KeyStep::Done(outcome) => {
                w.persisted = status;
                return Some(outcome);
            }
        }
        w.check(desired, &what);
        if crash_after == Some(taken) {
            return None;
        }
    }
    panic!("the machine did not finish in 40 steps: {w:#?}");
}

/// Runs passes until one finishes (at most 3 after a crash).
fn settle(w: &mut World, desired: Option<&Desired>, rotate: Option<&str>) -> Outcome {
    for _ in 0..3 {
        if let Some(o) = pass(w, desired, rotate, None) {
            return o;
        }
    }
    panic!("did not settle");
}

/// Number of steps of a clean pass from `w`.
fn steps_of(w: &World, desired: Option<&Desired>, rotate: Option<&str>) -> usize {
    let mut probe = w.clone();
    let mut n = 0;
    while pass(&mut probe.clone(), desired, rotate, Some(n + 1)).is_none() {
        n += 1;
        assert!(n < 40);
    }
    let _ = pass(&mut probe, desired, rotate, None);
    n
}

/// The scenario clean, then killed after every step and after every pair of steps.
fn exhaustively(
    start: &World,
    desired: Option<&Desired>,
    rotate: Option<&str>,
    after: impl Fn(&World, &str),
) {
    let mut clean = start.clone();
    settle(&mut clean, desired, rotate);
    clean.converged(desired, "clean");
    after(&clean, "clean");
    let n = steps_of(start, desired, rotate);
    for k in 1..=n {
        let mut w = start.clone();
        assert!(pass(&mut w, desired, rotate, Some(k)).is_none());
        let m = steps_of(&w, desired, rotate);
        for j in 0..=m {
            let mut w2 = w.clone();
            if j > 0 {
                let _ = pass(&mut w2, desired, rotate, Some(j));
            }
            settle(&mut w2, desired, rotate);
            let what = format!("killed after step {k} then {j}");
            w2.converged(desired, &what);
            after(&w2, &what);
        }
    }
}

fn with_first_key() -> World {
    let mut w = World::new();
    settle(&mut w, Some(&desired("RS256")), None);
    w
}

/// [`with_first_key`] once the minimum interval between two keys has passed.
fn rotatable() -> World {
    let mut w = with_first_key();
    w.advance(MIN_ROTATION_INTERVAL);
    w
}

/// [`with_first_key`] 721 hours later, rotated on schedule: the overlap of the two keys.
fn in_overlap() -> World {
    let mut w = with_first_key();
    w.advance(721 * HOUR);
    settle(&mut w, Some(&desired("RS256")), None);
    w
}

#[test]
fn first_key_is_written_before_it_is_listed() {
    let d = desired("RS256");
    exhaustively(&World::new(), Some(&d), None, |w, what| {
        assert_eq!(w.ours().len(), 1, "{what}: {w:#?}");
        assert_eq!(w.listed.as_ref().map(Vec::len), Some(1), "{what}");
    });
    // Clean: generate, mark, register, write, list, done — 2 Auth0 writes.
    let mut w = World::new();
    settle(&mut w, Some(&d), None);
    assert_eq!(w.writes, 2);
    let active = w.persisted.active.clone().expect("active");
    assert_eq!(
        active.until.map(|t| t.0),
        Some(plus(World::new().now, 720 * HOUR))
    );
}

#[test]
fn scheduled_rotation_overlaps_then_retires_the_old_key() {
    let d = desired("RS256");
    let mut start = with_first_key();
    let first = start.secret_kid.clone().expect("kid");
    start.advance(721 * HOUR);
    exhaustively(&start, Some(&d), None, |w, what| {
        assert_ne!(w.secret_kid.as_ref(), Some(&first), "{what}: rotated");
        let retiring = w.persisted.retiring.as_ref().expect("retiring");
        assert_eq!(retiring.kid, first, "{what}");
        assert_eq!(w.listed.as_ref().map(Vec::len), Some(2), "{what}");
    });
    // Clean rotation, then the end of the overlap: 4 Auth0 writes in all (register, list
    // both, unlist the old, delete it).
    let mut w = start.clone();
    let writes = w.writes;
    let outcome = settle(&mut w, Some(&d), None);
    let wake = outcome.wake_at.expect("wake at the end of the overlap");
    assert_eq!(wake, plus(w.now, 24 * HOUR));
    // Before the overlap ends nothing happens.
    w.advance(23 * HOUR);
    settle(&mut w, Some(&d), None);
    assert_eq!(w.listed.as_ref().map(Vec::len), Some(2));
    w.advance(HOUR);
    exhaustively(&w, Some(&d), None, |w, what| {
        assert_eq!(w.ours().len(), 1, "{what}: {w:#?}");
        assert_eq!(w.persisted.retiring, None, "{what}");
    });
    settle(&mut w, Some(&d), None);
    assert_eq!(w.writes - writes, 4);
}

#[test]
fn the_rotate_annotation_rotates_once_per_value() {
    let d = desired("RS256");
    let start = rotatable();
    let first = start.secret_kid.clone();
    exhaustively(&start, Some(&d), Some("r1"), |w, what| {
        assert_ne!(w.secret_kid, first, "{what}");
        assert_eq!(
            w.persisted.rotation_request.as_deref(),
            Some("r1"),
            "{what}"
        );
    });
    let mut w = start.clone();
    settle(&mut w, Some(&d), Some("r1"));
    let second = w.secret_kid.clone();
    settle(&mut w, Some(&d), Some("r1"));
    assert_eq!(w.secret_kid, second, "the same value does not rotate again");
}

#[test]
fn changing_the_algorithm_rotates_the_key() {
    let d = desired("PS256");
    let start = rotatable();
    exhaustively(&start, Some(&d), None, |w, what| {
        assert_eq!(
            w.persisted.active.as_ref().map(|a| a.algorithm.as_str()),
            Some("PS256"),
            "{what}"
        );
    });
}

#[test]
fn back_to_the_client_secret_clears_lists_and_deletes() {
    exhaustively(&with_first_key(), None, None, |w, what| {
        assert!(w.registered.is_empty(), "{what}");
    });
    // During a rotation's overlap too.
    let w = in_overlap();
    exhaustively(&w, None, None, |w, what| {
        assert!(w.registered.is_empty(), "{what}");
    });
}

#[test]
fn a_key_deleted_in_the_dashboard_is_replaced_and_foreign_keys_are_kept() {
    let d = desired("RS256");
    let mut start = with_first_key();
    let id = start.registered[0].id.clone();
    start.registered.clear();
    start.listed = None;
    // The Secret's key is unknown now (nothing is listed, so the client secret works).
    start.drifted = start.secret_kid.clone();
    exhaustively(&start, Some(&d), None, |w, what| {
        assert!(w.ours().iter().all(|c| c.id != id), "{what}");
    });
    // driftPolicy Report: a credential added in the dashboard is never deleted, stays listed
    // through a rotation, and is named as changed outside.
    let mut w = with_dashboard_key(false);
    w.advance(721 * HOUR);
    let outcome = settle(&mut w, Some(&d), None);
    assert_eq!(outcome.foreign, vec!["cred_dashboard".to_owned()]);
    assert!(w.outside.contains("cred_dashboard"));
    w.advance(25 * HOUR);
    settle(&mut w, Some(&d), None);
    assert!(w.registered.iter().any(|c| c.id == "cred_dashboard"));
    assert!(
        w.listed
            .as_ref()
            .is_some_and(|l| l.contains(&"cred_dashboard".to_owned()))
    );
}

/// The first key, plus a credential added (and listed) in the dashboard.
fn with_dashboard_key(correct: bool) -> World {
    let mut w = with_first_key();
    w.correct = correct;
    w.registered.push(ClientCredential {
        id: "cred_dashboard".into(),
        kid: Some("kid-dashboard".into()),
        alg: Some("RS256".into()),
        name: Some("added by hand".into()),
        ..ClientCredential::default()
    });
    if let Some(l) = w.listed.as_mut() {
        l.push("cred_dashboard".into());
    }
    w
}

#[test]
fn correct_unlists_then_deletes_a_dashboard_credential_and_keeps_the_secret_key_listed() {
    let d = desired("RS256");
    let start = with_dashboard_key(true);
    let mut w = start.clone();
    let writes = w.writes;
    settle(&mut w, Some(&d), None);
    assert!(w.outside.contains("cred_dashboard"));
    assert!(w.registered.iter().all(|c| c.id != "cred_dashboard"));
    assert_eq!(w.writes - writes, 2, "one unlist, one delete");
    exhaustively(&start, Some(&d), None, |w, what| {
        assert!(
            w.registered.iter().all(|c| c.id != "cred_dashboard"),
            "{what}"
        );
        assert!(
            !w.listed
                .as_ref()
                .is_some_and(|l| l.contains(&"cred_dashboard".to_owned())),
            "{what}"
        );
    });
    // Report: left in place, named, no Auth0 write.
    let mut w = with_dashboard_key(false);
    let writes = w.writes;
    settle(&mut w, Some(&d), None);
    assert_eq!(w.writes, writes);
    assert!(w.outside.contains("cred_dashboard"));
    assert!(w.registered.iter().any(|c| c.id == "cred_dashboard"));
}

#[test]
fn the_active_key_unlisted_outside_is_listed_again_only_under_correct() {
    let d = desired("RS256");
    for correct in [true, false] {
        let mut w = with_first_key();
        w.correct = correct;
        let id = w.persisted.active.as_ref().expect("active").id.clone();
        w.listed = Some(Vec::new());
        w.drifted = w.secret_kid.clone();
        let writes = w.writes;
        settle(&mut w, Some(&d), None);
        assert!(w.outside.contains(&id), "correct={correct}");
        let listed = w.listed.as_ref().is_some_and(|l| l.contains(&id));
        assert_eq!(listed, correct, "correct={correct}: {w:#?}");
        assert_eq!(w.writes - writes, u32::from(correct));
        assert!(w.registered.iter().any(|c| c.id == id), "never deleted");
    }
}

/// A rotated client, inside the overlap: the retiring key is unlisted in the dashboard.
fn retiring_unlisted(correct: bool) -> (World, String) {
    let d = desired("RS256");
    let mut w = with_first_key();
    w.correct = correct;
    w.advance(721 * HOUR);
    settle(&mut w, Some(&d), None);
    let retiring = w.persisted.retiring.as_ref().expect("retiring").id.clone();
    if let Some(l) = w.listed.as_mut() {
        l.retain(|id| *id != retiring);
    }
    w.advance(HOUR);
    (w, retiring)
}

#[test]
fn the_retiring_key_unlisted_outside_is_never_deleted_before_its_overlap_ends() {
    let d = desired("RS256");
    // Correct: listed again at once, kept until the overlap ends, then retired as usual.
    let (start, retiring) = retiring_unlisted(true);
    exhaustively(&start, Some(&d), None, |w, what| {
        assert!(w.registered.iter().any(|c| c.id == retiring), "{what}");
        assert!(
            w.listed.as_ref().is_some_and(|l| l.contains(&retiring)),
            "{what}: listed again"
        );
    });
    let mut w = start.clone();
    settle(&mut w, Some(&d), None);
    assert!(w.outside.contains(&retiring));
    w.advance(24 * HOUR);
    settle(&mut w, Some(&d), None);
    assert!(w.registered.iter().all(|c| c.id != retiring), "retired");
    // Report: left unlisted, but not deleted while the overlap lasts; deleted after it.
    let (mut w, retiring) = retiring_unlisted(false);
    let outcome = settle(&mut w, Some(&d), None);
    assert!(w.outside.contains(&retiring));
    assert!(w.registered.iter().any(|c| c.id == retiring));
    assert!(!w.listed.as_ref().is_some_and(|l| l.contains(&retiring)));
    assert!(outcome.wake_at.is_some_and(|t| t <= plus(w.now, 24 * HOUR)));
    w.advance(24 * HOUR);
    settle(&mut w, Some(&d), None);
    assert!(w.registered.iter().all(|c| c.id != retiring), "retired");
    assert_eq!(w.persisted.retiring, None);
}

#[test]
fn a_rotation_due_during_an_overlap_waits_for_it() {
    let d = desired("RS256");
    let mut w = in_overlap();
    let second = w.secret_kid.clone();
    let outcome = settle(&mut w, Some(&d), Some("now"));
    assert_eq!(w.secret_kid, second, "waits");
    assert_eq!(outcome.wake_at, Some(plus(w.now, 24 * HOUR)));
    w.advance(24 * HOUR);
    settle(&mut w, Some(&d), Some("now"));
    settle(&mut w, Some(&d), Some("now"));
    assert_ne!(w.secret_kid, second, "then rotates");
}

#[test]
fn requested_rotations_wait_for_the_minimum_interval() {
    let d = desired("RS256");
    let mut w = with_first_key();
    let first = w.secret_kid.clone();
    let since = w
        .persisted
        .active
        .clone()
        .and_then(|a| a.since)
        .expect("since")
        .0;
    w.advance(MIN_ROTATION_INTERVAL / 2);
    let writes = w.writes;
    let outcome = settle(&mut w, Some(&d), Some("r1"));
    assert_eq!(w.secret_kid, first, "too soon: no rotation");
    assert_eq!(w.writes, writes, "no Auth0 write");
    assert_eq!(outcome.wake_at, Some(plus(since, MIN_ROTATION_INTERVAL)));
    // An algorithm change waits as well.
    settle(&mut w, Some(&desired("PS256")), None);
    assert_eq!(w.secret_kid, first);
    w.advance(MIN_ROTATION_INTERVAL / 2);
    settle(&mut w, Some(&d), Some("r1"));
    assert_ne!(w.secret_kid, first, "then it rotates");
}

/// The attack: after a rotation, the team puts the old key (kid and private key) back into
/// the Secret, hoping the operator keeps it listed and retires the new one.
#[test]
fn an_edited_secret_kid_never_decides_what_auth0_keeps() {
    let d = desired("RS256");
    let mut w = with_first_key();
    let first = w.secret_kid.clone().expect("first");
    let first_id = w.id_of(&first).expect("registered");
    w.advance(721 * HOUR);
    settle(&mut w, Some(&d), None);
    let second = w.secret_kid.clone().expect("second");
    let second_id = w.id_of(&second).expect("registered");
    for thumbprint in [first.clone(), second.clone()] {
        // The old kid, with the old private key, or with the new one.
        let mut t = w.clone();
        t.secret_kid = Some(first.clone());
        t.secret_thumbprint = Some(thumbprint.clone());
        t.tampered = true;
        let writes = t.writes;
        let outcome = settle(&mut t, Some(&d), None);
        if thumbprint == second {
            // The key is intact, only its kid entry was edited: rewritten at once, no Auth0
            // call, no new key.
            assert_eq!(t.secret_kid.as_ref(), Some(&second));
            assert_eq!(t.writes, writes);
            assert!(!t.tampered);
            continue;
        }
        let active = t.persisted.active.clone().expect("active");
        assert_eq!(active.kid, second, "the new key stays active: {t:#?}");
        assert!(t.listed.as_ref().is_some_and(|l| l.contains(&second_id)));
        assert_eq!(
            t.persisted.retiring.as_ref().map(|r| r.kid.as_str()),
            Some(first.as_str())
        );
        assert!(
            outcome
                .wake_at
                .is_some_and(|at| at <= plus(t.now, MIN_ROTATION_INTERVAL))
        );
        // The old key still retires when its overlap ends, and the Secret gets a new key.
        t.advance(24 * HOUR);
        t.secret_kid = Some(first.clone());
        settle(&mut t, Some(&d), None);
        settle(&mut t, Some(&d), None);
        assert!(t.id_of(&first).is_none(), "the old key is deleted: {t:#?}");
        assert!(!t.listed.as_ref().is_some_and(|l| l.contains(&first_id)));
        let active = t.persisted.active.clone().expect("active");
        assert_eq!(
            Some(&active.kid),
            t.secret_kid.as_ref(),
            "a trusted key again"
        );
        assert_ne!(active.kid, first);
        assert!(!t.tampered);
    }
}

#[test]
fn a_secret_that_lost_its_key_gets_a_new_one_no_sooner_than_the_interval() {
    let d = desired("RS256");
    let mut w = with_first_key();
    let first = w.secret_kid.clone().expect("first");
    w.secret_kid = None;
    w.secret_thumbprint = None;
    w.tampered = true;
    let writes = w.writes;
    let outcome = settle(&mut w, Some(&d), None);
    assert_eq!(w.writes, writes, "too soon after the last key");
    assert_eq!(w.secret_kid, None);
    assert_eq!(
        w.persisted.active.as_ref().map(|a| a.kid.as_str()),
        Some(first.as_str()),
        "Auth0 keeps the active key meanwhile"
    );
    let wake = outcome.wake_at.expect("wake");
    w.now = wake;
    exhaustively(&w, Some(&d), None, |w, what| {
        let active = w.persisted.active.as_ref().expect("active");
        assert_eq!(Some(&active.kid), w.secret_kid.as_ref(), "{what}");
        assert_ne!(active.kid, first, "{what}");
    });
}

#[test]
fn an_edited_or_removed_kid_entry_is_rewritten_at_once_without_auth0_calls() {
    let d = desired("RS256");
    for edited in [Some("kid-edited".to_owned()), None] {
        let mut w = with_first_key();
        let kid = w.secret_kid.clone();
        w.secret_kid = edited;
        w.tampered = true;
        let writes = w.writes;
        settle(&mut w, Some(&d), None);
        assert_eq!(w.secret_kid, kid, "the key's own kid again");
        assert_eq!(w.writes, writes, "no Auth0 call");
        assert_eq!(w.persisted.active.map(|a| Some(a.kid)), Some(kid));
    }
}

#[test]
fn under_report_an_active_key_deleted_outside_is_reported_until_a_rotation_is_due() {
    let d = desired("RS256");
    let mut w = with_first_key();
    w.correct = false;
    let active = w.persisted.active.clone().expect("active");
    w.registered.clear();
    w.listed = Some(Vec::new());
    w.drifted = w.secret_kid.clone();
    let writes = w.writes;
    let outcome = settle(&mut w, Some(&d), None);
    assert_eq!(w.writes, writes, "nothing changed in Auth0");
    assert!(w.outside.contains(&active.id));
    assert_eq!(w.secret_kid.as_deref(), Some(active.kid.as_str()));
    // The scheduled rotation still comes, and brings a registered key.
    let wake = outcome.wake_at.expect("the next rotation");
    w.now = wake;
    settle(&mut w, Some(&d), None);
    let now = w.persisted.active.clone().expect("active");
    assert_ne!(now.kid, active.kid);
    assert!(w.id_of(&now.kid).is_some());
    assert_eq!(w.secret_kid.as_deref(), Some(now.kid.as_str()));
    // Correct: the Secret's key is registered again at once (the pods keep their key), listed,
    // and keeps its age; killed at any step, the same.
    let mut start = with_first_key();
    start.registered.clear();
    start.listed = Some(Vec::new());
    start.drifted = start.secret_kid.clone();
    let mut w = start.clone();
    let writes = w.writes;
    settle(&mut w, Some(&d), None);
    assert!(w.outside.contains(&active.id));
    assert_eq!(w.writes - writes, 2, "register again, list");
    let now = w.persisted.active.clone().expect("active");
    assert_eq!(now.kid, active.kid, "the same key");
    assert_eq!(now.since, active.since, "its age kept");
    assert!(w.listed.as_ref().is_some_and(|l| l.contains(&now.id)));
    exhaustively(&start, Some(&d), None, |w, what| {
        assert_eq!(w.secret_kid.as_deref(), Some(active.kid.as_str()), "{what}");
    });
}
