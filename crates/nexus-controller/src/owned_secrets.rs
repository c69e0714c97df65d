//! The owned-Secret cache: every Secret carrying the operator's managed-by label, as a compact
//! index of [`ObservedSecret`]s (one per AuthClient, so it grows with the fleet).
//!
//! kube's reflector store kept each Secret under an `ObjectRef` (four strings, about 100 bytes
//! inline, plus copies of the name and namespace) pointing to an `Arc` of the observed form
//! with its own name, namespace and three more allocations: about 490 bytes per Secret. Here
//! the Secrets are grouped by namespace, and each is one 24-byte table slot and one
//! allocation holding its name, its controller's name (omitted when the Secret is named after
//! it, `<authclient>-auth0`, the default), the controller's uid digest, and the digests.
//!
//! The index is fed by the watches of the owned Secrets, each partition (the one watch of all
//! namespaces, or each served namespace) on its own, as [`crate::eager`] does for the
//! AuthClients: what a list delivers is stored as its pages arrive, and at the end of a
//! (re)list the Secrets of that partition it did not deliver again are dropped (and returned,
//! so that their owners can be woken: they were deleted while the watch was down). Stale
//! entries are recognised by the number of the list that last delivered them, so a relist
//! holds the index and nothing else (kube's reflector held a second full copy until it ended).
//! A namespace is *listed* once a list covering it has completed: from then on the index alone
//! answers for it.

use std::borrow::Borrow;
use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};

use kube::runtime::watcher::Event;

use crate::authclient::secret::{Controller, ItemDigest, MAX_DIGESTS, ObservedSecret, ValueDigest};
use crate::locking::lock;

/// The partition of the one watch of all namespaces; any other partition is a namespace
/// (the same convention as [`crate::eager::ALL`]).
pub const ALL: &str = crate::eager::ALL;

/// The suffix of the default Secret name of an AuthClient (`<authclient>-auth0`).
const DEFAULT_SUFFIX: &str = "-auth0";

/// A namespace's table is shrunk after a sweep when its capacity exceeds this many times its
/// Secrets.
const SHRINK_ABOVE: usize = 4;

/// Entry flags.
const INTACT: u8 = 1;
const CONTROLLED: u8 = 2;
/// The controller is named by the Secret's name without [`DEFAULT_SUFFIX`].
const NAMED_AFTER: u8 = 4;
/// The Secret has more entries than the digests kept ([`ObservedSecret::overflow`]).
const OVERFLOW: u8 = 8;

/// The header of a packed entry: the byte lengths of the name and of the controller's name,
/// and the number of label/annotation digests (the rest are data digests).
const HEADER: usize = 12;

/// One Secret, packed: `blob` holds the header, the name, and when [`CONTROLLED`] the
/// controller's name (when not [`NAMED_AFTER`]), the controller's uid digest, the frame digest,
/// then the label/annotation digests and the data digests (each sorted, at most
/// [`MAX_DIGESTS`] together: [`ObservedSecret::observe`]). A Secret no AuthClient controls is
/// its header and name only (a team labelling Secrets cannot grow the index beyond that).
struct Entry {
    blob: Box<[u8]>,
    /// The number of the list (or watch) that last delivered the Secret.
    list: u32,
    flags: u8,
}

fn read_u32(bytes: &[u8], at: usize) -> usize {
    let mut word = [0; 4];
    word.copy_from_slice(&bytes[at..at + 4]);
    u32::from_le_bytes(word) as usize
}

fn len_u32(len: usize) -> [u8; 4] {
    u32::try_from(len).unwrap_or(u32::MAX).to_le_bytes()
}

impl Entry {
    fn pack(secret: &ObservedSecret, list: u32) -> Self {
        let mut flags = if secret.intact { INTACT } else { 0 };
        if secret.overflow {
            flags |= OVERFLOW;
        }
        let mut controller_name: &str = "";
        if let Some(controller) = &secret.controller {
            flags |= CONTROLLED;
            if secret.name.strip_suffix(DEFAULT_SUFFIX) == Some(&*controller.name) {
                flags |= NAMED_AFTER;
            } else {
                controller_name = &controller.name;
            }
        }
        // Only a controlled Secret keeps digests, and at most MAX_DIGESTS (observe keeps no
        // more; the bound is enforced here too, whatever built the ObservedSecret).
        let (pairs, data): (&[ItemDigest], &[ItemDigest]) = if flags & CONTROLLED == 0 {
            (&[], &[])
        } else if secret.pairs.len() + secret.data.len() > MAX_DIGESTS {
            flags |= OVERFLOW;
            (&[], &secret.data[..secret.data.len().min(MAX_DIGESTS)])
        } else {
            (&secret.pairs, &secret.data)
        };
        let controlled_len = if flags & CONTROLLED != 0 { 32 } else { 0 };
        let size = HEADER
            + secret.name.len()
            + controller_name.len()
            + controlled_len
            + 8 * (pairs.len() + data.len());
        let mut blob = Vec::with_capacity(size);
        blob.extend_from_slice(&len_u32(secret.name.len()));
        blob.extend_from_slice(&len_u32(controller_name.len()));
        blob.extend_from_slice(&len_u32(pairs.len()));
        blob.extend_from_slice(secret.name.as_bytes());
        blob.extend_from_slice(controller_name.as_bytes());
        if let Some(controller) = &secret.controller {
            blob.extend_from_slice(&controller.uid);
            blob.extend_from_slice(&secret.frame);
        }
        for digest in pairs.iter().chain(data.iter()) {
            blob.extend_from_slice(digest);
        }
        Self {
            blob: blob.into_boxed_slice(),
            list,
            flags,
        }
    }

    fn name(&self) -> &str {
        let len = read_u32(&self.blob, 0);
        std::str::from_utf8(&self.blob[HEADER..HEADER + len]).unwrap_or_default()
    }

    /// The controller's uid digest (when [`CONTROLLED`]).
    fn controller_uid(&self) -> Option<&[u8]> {
        let at = HEADER + read_u32(&self.blob, 0) + read_u32(&self.blob, 4);
        (self.flags & CONTROLLED != 0).then(|| &self.blob[at..at + 16])
    }

    fn unpack(&self, namespace: &str) -> ObservedSecret {
        let name_len = read_u32(&self.blob, 0);
        let controller_len = read_u32(&self.blob, 4);
        let pairs = read_u32(&self.blob, 8);
        let name = self.name();
        let mut at = HEADER + name_len;
        let stored_controller = &self.blob[at..at + controller_len];
        at += controller_len;
        let mut frame: ValueDigest = [0; 16];
        let controller = (self.flags & CONTROLLED != 0).then(|| {
            let controller_name = if self.flags & NAMED_AFTER != 0 {
                name.strip_suffix(DEFAULT_SUFFIX).unwrap_or_default()
            } else {
                std::str::from_utf8(stored_controller).unwrap_or_default()
            };
            let mut uid: ValueDigest = [0; 16];
            uid.copy_from_slice(&self.blob[at..at + 16]);
            frame.copy_from_slice(&self.blob[at + 16..at + 32]);
            at += 32;
            Controller {
                name: controller_name.into(),
                uid,
            }
        });
        let digests: Vec<ItemDigest> = self.blob[at..]
            .chunks_exact(8)
            .map(|chunk| {
                let mut digest: ItemDigest = [0; 8];
                digest.copy_from_slice(chunk);
                digest
            })
            .collect();
        let (labels, data) = digests.split_at(pairs.min(digests.len()));
        ObservedSecret {
            name: name.into(),
            namespace: namespace.into(),
            controller,
            frame,
            pairs: labels.into(),
            data: data.into(),
            intact: self.flags & INTACT != 0,
            overflow: self.flags & OVERFLOW != 0,
        }
    }
}

/// Entries are identified by their name (within their namespace's set).
impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.name() == other.name()
    }
}

impl Eq for Entry {}

impl Hash for Entry {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.name().hash(state);
    }
}

impl Borrow<str> for Entry {
    fn borrow(&self) -> &str {
        self.name()
    }
}

#[derive(Default)]
struct Index {
    /// The Secrets of each namespace.
    namespaces: HashMap<Box<str>, HashSet<Entry>>,
    /// The number of the last list started, over all partitions (0 before the first).
    last: u32,
    /// The number of the list each partition delivers (its latest `Init`).
    lists: HashMap<Arc<str>, u32>,
    /// The partitions whose first list has completed.
    listed: HashSet<Arc<str>>,
}

impl Index {
    /// A (re)list of `partition` starts.
    fn start(&mut self, partition: &str) {
        self.last = self.last.wrapping_add(1);
        let list = self.last;
        self.lists.insert(Arc::from(partition), list);
    }

    /// `partition` delivers `secret` (listed or changed); returns the Secret as the index held
    /// it before when its controller changed since (removed, or another AuthClient's uid).
    /// The operator never changes the controller of a Secret it wrote, so this is never its
    /// own write.
    fn deliver(&mut self, partition: &str, secret: &ObservedSecret) -> Option<ObservedSecret> {
        let list = self.lists.get(partition).copied().unwrap_or(0);
        let entry = Entry::pack(secret, list);
        let Some(set) = self.namespaces.get_mut(&*secret.namespace) else {
            self.namespaces
                .insert(secret.namespace.clone(), HashSet::from([entry]));
            return None;
        };
        let uid = entry.controller_uid().map(<[u8]>::to_vec);
        let previous = set.replace(entry)?;
        let controller_changed = previous
            .controller_uid()
            .is_some_and(|before| Some(before) != uid.as_deref());
        controller_changed.then(|| previous.unpack(&secret.namespace))
    }

    /// The (re)list of `partition` completed: the partition is listed, and what an older list
    /// delivered is dropped (and returned).
    fn complete(&mut self, partition: &str) -> Vec<ObservedSecret> {
        let list = self.lists.get(partition).copied().unwrap_or(0);
        if !self.listed.contains(partition) {
            self.listed.insert(Arc::from(partition));
        }
        self.sweep(partition, list)
    }

    fn remove(&mut self, namespace: &str, name: &str) {
        if let Some(set) = self.namespaces.get_mut(namespace) {
            set.remove(name);
            if set.is_empty() {
                self.namespaces.remove(namespace);
            }
        }
    }

    /// Whether a list covering `namespace` has completed.
    fn is_listed(&self, namespace: &str) -> bool {
        self.listed.contains(ALL) || self.listed.contains(namespace)
    }

    /// Drops the Secrets of `partition` an older list delivered; returns them.
    fn sweep(&mut self, partition: &str, list: u32) -> Vec<ObservedSecret> {
        let mut gone = Vec::new();
        self.namespaces.retain(|namespace, set| {
            if partition != ALL && partition != &**namespace {
                return true;
            }
            let before = gone.len();
            gone.extend(
                set.iter()
                    .filter(|entry| entry.list != list)
                    .map(|entry| entry.unpack(namespace)),
            );
            if gone.len() > before {
                set.retain(|entry| entry.list == list);
                // Rehashing a large table for a few Secrets dropped is not worth it: only
                // a table mostly empty is shrunk.
                if set.capacity() > SHRINK_ABOVE * set.len() {
                    set.shrink_to_fit();
                }
            }
            !set.is_empty()
        });
        gone
    }
}

/// What the cache answers for one Secret ([`OwnedSecrets::lookup`]).
#[derive(Clone, Debug, PartialEq)]
pub enum Lookup {
    /// The cache holds it.
    Cached(ObservedSecret),
    /// It does not exist: the cache does not hold it and has listed its namespace.
    Absent,
    /// The cache does not hold it but has not listed its namespace yet: it may exist.
    Unknown,
}

/// The owned-Secret cache (see the module documentation).
#[derive(Default)]
pub struct OwnedSecrets {
    index: Mutex<Index>,
}

impl OwnedSecrets {
    /// Applies one watch event of `partition` (a served namespace, or [`ALL`]); returns the
    /// Secrets whose controllers must be woken: those a completed (re)list dropped because it
    /// did not deliver them again, and a Secret whose controller changed (removed, or moved to
    /// another AuthClient): as the index held it before, and as delivered.
    pub fn apply(&self, partition: &str, event: &Event<ObservedSecret>) -> Vec<ObservedSecret> {
        let mut index = lock(&self.index);
        match event {
            Event::Init => {
                index.start(partition);
                Vec::new()
            }
            Event::InitApply(secret) | Event::Apply(secret) => {
                match index.deliver(partition, secret) {
                    Some(previous) => vec![previous, secret.clone()],
                    None => Vec::new(),
                }
            }
            Event::Delete(secret) => {
                index.remove(&secret.namespace, &secret.name);
                Vec::new()
            }
            Event::InitDone => index.complete(partition),
        }
    }

    /// Replaces the content of `partitions` ([`ALL`], or served namespaces) with one complete
    /// list of each (as `Caches::prime` does): each is listed from then on, and only they. A
    /// Secret no partition covers is ignored. Wakes nobody.
    pub fn replace<'a>(
        &self,
        partitions: impl IntoIterator<Item = &'a str>,
        secrets: impl IntoIterator<Item = ObservedSecret>,
    ) {
        let partitions: Vec<&str> = partitions.into_iter().collect();
        let mut index = lock(&self.index);
        for partition in &partitions {
            index.start(partition);
        }
        for secret in secrets {
            let covering = partitions
                .iter()
                .find(|partition| **partition == ALL || **partition == secret.namespace());
            if let Some(partition) = covering {
                let _ = index.deliver(partition, &secret);
            }
        }
        for partition in &partitions {
            index.complete(partition);
        }
    }

    /// The cached Secret `namespace/name`.
    pub fn get(&self, namespace: &str, name: &str) -> Option<ObservedSecret> {
        let index = lock(&self.index);
        let set = index.namespaces.get(namespace)?;
        set.get(name).map(|entry| entry.unpack(namespace))
    }

    /// The Secret `namespace/name` as the cache knows it, read under one lock (a list that
    /// completes between two reads cannot make an existing Secret look absent).
    pub fn lookup(&self, namespace: &str, name: &str) -> Lookup {
        let index = lock(&self.index);
        let cached = index
            .namespaces
            .get(namespace)
            .and_then(|set| set.get(name))
            .map(|entry| entry.unpack(namespace));
        match cached {
            Some(secret) => Lookup::Cached(secret),
            None if index.is_listed(namespace) => Lookup::Absent,
            None => Lookup::Unknown,
        }
    }

    /// Whether the index holds the cluster's state of `namespace`: a list covering it (of all
    /// namespaces, or of that namespace) has completed. It stays so through later relists,
    /// during which the index keeps what it holds (and takes what the relist delivers).
    pub fn is_listed(&self, namespace: &str) -> bool {
        lock(&self.index).is_listed(namespace)
    }

    /// The number of cached Secrets.
    pub fn len(&self) -> usize {
        lock(&self.index)
            .namespaces
            .values()
            .map(HashSet::len)
            .sum()
    }

    /// Whether no Secret is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::ByteString;
    use k8s_openapi::api::core::v1::Secret;

    /// The Secret the operator writes for the AuthClient `owner` of `namespace` (uid
    /// `uid-<owner>`), named `name`; `altered`: its client secret edited since.
    fn written(namespace: &str, owner: &str, name: &str, altered: bool) -> Secret {
        let mut client = crate::testing::owner(namespace, owner);
        client.spec.secret.name = Some(name.into());
        client.spec.secret.labels.insert("team".into(), "a".into());
        let mut secret = crate::testing::written_secret(&client, "s3cr3t");
        if altered && let Some(data) = secret.data.as_mut() {
            data.insert("AUTH0_CLIENT_SECRET".into(), ByteString(b"x".to_vec()));
        }
        secret
    }

    fn observed(namespace: &str, owner: &str) -> ObservedSecret {
        ObservedSecret::observe(&written(namespace, owner, &format!("{owner}-auth0"), false))
    }

    fn names(cache: &OwnedSecrets, namespace: &str) -> Vec<String> {
        let index = lock(&cache.index);
        let mut names: Vec<String> = index
            .namespaces
            .get(namespace)
            .into_iter()
            .flatten()
            .map(|entry| entry.name().to_owned())
            .collect();
        names.sort();
        names
    }

    /// The bytes the index keeps for `namespace/name` (its packed entry).
    fn stored_size(cache: &OwnedSecrets, namespace: &str, name: &str) -> usize {
        let index = lock(&cache.index);
        let set = index.namespaces.get(namespace).expect("namespace");
        set.get(name).expect("entry").blob.len()
    }

    fn feed(cache: &OwnedSecrets, partition: &str, events: Vec<Event<ObservedSecret>>) {
        for event in events {
            cache.apply(partition, &event);
        }
    }

    /// A whole list delivering the Secrets of `owners` (namespace, owner), as the watch does.
    fn list(owners: &[(&str, &str)]) -> Vec<Event<ObservedSecret>> {
        let pages = owners
            .iter()
            .map(|(namespace, owner)| Event::InitApply(observed(namespace, owner)));
        std::iter::once(Event::Init)
            .chain(pages)
            .chain([Event::InitDone])
            .collect()
    }

    #[test]
    fn a_packed_secret_reads_back_as_observed() {
        let named_after = written("team-a", "orders", "orders-auth0", false);
        let named_otherwise = written("team-a", "orders", "creds", false);
        let tampered = written("team-a", "orders", "orders-auth0", true);
        let mut foreign = named_after.clone();
        foreign.metadata.owner_references = None;
        let mut not_its_suffix = written("team-a", "orders", "orders-auth0", false);
        not_its_suffix.metadata.name = Some("ordersauth0".into());
        for secret in [
            named_after,
            named_otherwise,
            tampered,
            foreign,
            not_its_suffix,
        ] {
            let observed = ObservedSecret::observe(&secret);
            let cache = OwnedSecrets::default();
            cache.apply(ALL, &Event::Apply(observed.clone()));
            assert_eq!(
                cache.get("team-a", observed.name()).as_ref(),
                Some(&observed),
                "{:?}",
                secret.metadata.name
            );
        }
        let owner = {
            let mut client = crate::testing::client();
            client.metadata.uid = Some("uid-orders".into());
            client
        };
        let cache = OwnedSecrets::default();
        cache.apply(ALL, &Event::Apply(observed("team-a", "orders")));
        let cached = cache.get("team-a", "orders-auth0").expect("cached");
        assert!(cached.is_owned_by(&owner) && cached.intact);
        assert_eq!(
            cached.controller.map(|c| c.name),
            Some("orders".into()),
            "the controller's name comes back from the Secret's name"
        );
        assert!(cache.get("team-b", "orders-auth0").is_none());
        assert!(cache.get("team-a", "orders").is_none());
    }

    #[test]
    fn changes_replace_and_deletions_remove() {
        let cache = OwnedSecrets::default();
        feed(&cache, ALL, list(&[("team-a", "a")]));
        let tampered = ObservedSecret::observe(&written("team-a", "a", "a-auth0", true));
        cache.apply(ALL, &Event::Apply(tampered.clone()));
        assert_eq!(cache.get("team-a", "a-auth0"), Some(tampered.clone()));
        assert_eq!(cache.len(), 1);
        cache.apply(ALL, &Event::Delete(tampered));
        assert!(cache.get("team-a", "a-auth0").is_none());
        assert!(cache.is_empty());
    }

    #[test]
    fn a_relist_keeps_the_content_until_it_ends_then_drops_only_what_it_did_not_deliver() {
        let cache = OwnedSecrets::default();
        feed(
            &cache,
            ALL,
            list(&[("team-a", "a"), ("team-a", "b"), ("team-b", "c")]),
        );
        cache.apply(ALL, &Event::Apply(observed("team-a", "d")));
        // The watch expired: a relist delivers a (changed), c and d; b was deleted meanwhile.
        let changed = ObservedSecret::observe(&written("team-a", "a", "a-auth0", true));
        feed(
            &cache,
            ALL,
            vec![Event::Init, Event::InitApply(changed.clone())],
        );
        assert_eq!(
            names(&cache, "team-a"),
            ["a-auth0", "b-auth0", "d-auth0"],
            "during the relist the cache keeps what it held"
        );
        assert_eq!(
            cache.get("team-a", "a-auth0"),
            Some(changed),
            "and holds what the relist delivered so far"
        );
        feed(
            &cache,
            ALL,
            vec![
                Event::InitApply(observed("team-b", "c")),
                Event::InitApply(observed("team-a", "d")),
            ],
        );
        let gone = cache.apply(ALL, &Event::InitDone);
        assert_eq!(names(&cache, "team-a"), ["a-auth0", "d-auth0"]);
        assert_eq!(names(&cache, "team-b"), ["c-auth0"]);
        let gone: Vec<(&str, &str)> = gone.iter().map(|s| (s.namespace(), s.name())).collect();
        assert_eq!(
            gone,
            [("team-a", "b-auth0")],
            "the dropped Secret is returned"
        );
    }

    #[test]
    fn a_relist_interrupted_and_started_again_drops_what_the_last_one_did_not_deliver() {
        let cache = OwnedSecrets::default();
        feed(&cache, ALL, list(&[("team-a", "a"), ("team-a", "b")]));
        // A relist that delivers b and fails; the next one delivers a only.
        feed(
            &cache,
            ALL,
            vec![
                Event::Init,
                Event::InitApply(observed("team-a", "b")),
                Event::Init,
                Event::InitApply(observed("team-a", "a")),
                Event::InitDone,
            ],
        );
        assert_eq!(names(&cache, "team-a"), ["a-auth0"]);
    }

    #[test]
    fn a_namespace_is_listed_once_a_list_covering_it_completed_and_stays_so() {
        let cache = OwnedSecrets::default();
        feed(
            &cache,
            "team-a",
            vec![Event::Init, Event::InitApply(observed("team-a", "a"))],
        );
        assert!(!cache.is_listed("team-a"), "its list has not completed");
        assert!(
            cache.get("team-a", "a-auth0").is_some(),
            "what the list delivered is answered at once"
        );
        cache.apply("team-a", &Event::InitDone);
        assert!(cache.is_listed("team-a"));
        assert!(
            !cache.is_listed("team-b"),
            "another partition is not listed"
        );
        cache.apply("team-a", &Event::Init);
        assert!(cache.is_listed("team-a"), "a relist keeps it listed");
        let all = OwnedSecrets::default();
        feed(&all, ALL, vec![Event::Init]);
        assert!(!all.is_listed("team-b"));
        all.apply(ALL, &Event::InitDone);
        assert!(
            all.is_listed("team-b"),
            "the list of all namespaces covers every namespace"
        );
        let primed = OwnedSecrets::default();
        primed.replace([ALL], [observed("team-a", "a")]);
        assert!(primed.is_listed("team-c") && primed.len() == 1);
        let served = OwnedSecrets::default();
        served.replace(
            ["team-a", "team-b"],
            [observed("team-a", "a"), observed("team-c", "c")],
        );
        assert!(served.is_listed("team-a") && served.is_listed("team-b"));
        assert!(
            !served.is_listed("team-c"),
            "a namespace not served is not listed by a prime of the served ones"
        );
        assert_eq!(served.len(), 1, "nor is a Secret of it kept");
    }

    #[test]
    fn a_namespaces_relist_drops_only_its_own_secrets() {
        let cache = OwnedSecrets::default();
        for namespace in ["team-a", "team-b"] {
            feed(
                &cache,
                namespace,
                vec![
                    Event::Init,
                    Event::InitApply(observed(namespace, "a")),
                    Event::InitApply(observed(namespace, "b")),
                    Event::InitDone,
                ],
            );
        }
        feed(
            &cache,
            "team-a",
            vec![Event::Init, Event::InitApply(observed("team-a", "a"))],
        );
        let gone = cache.apply("team-a", &Event::InitDone);
        assert_eq!(gone.len(), 1);
        assert_eq!(names(&cache, "team-a"), ["a-auth0"]);
        assert_eq!(names(&cache, "team-b"), ["a-auth0", "b-auth0"]);
    }

    #[test]
    fn a_secret_labelled_without_bound_costs_a_bounded_entry_and_is_never_up_to_date() {
        let owner = {
            let mut client = crate::testing::client();
            client.metadata.name = Some("orders".into());
            client.metadata.namespace = Some("team-a".into());
            client.metadata.uid = Some("uid-orders".into());
            client.spec.secret.name = Some("orders-auth0".into());
            client.spec.secret.labels.insert("team".into(), "a".into());
            client
        };
        let desired = written("team-a", "orders", "orders-auth0", false);
        let mut bomb = desired.clone();
        let labels = bomb.metadata.labels.get_or_insert_with(Default::default);
        for i in 0..10_000 {
            labels.insert(format!("l{i}"), String::new());
        }
        let mut foreign = bomb.clone();
        foreign.metadata.name = Some("foreign".into());
        foreign.metadata.owner_references = None;
        let cache = OwnedSecrets::default();
        cache.apply(ALL, &Event::Apply(ObservedSecret::observe(&desired)));
        let normal = stored_size(&cache, "team-a", "orders-auth0");
        for secret in [&bomb, &foreign] {
            cache.apply(ALL, &Event::Apply(ObservedSecret::observe(secret)));
        }
        // The header, the name, the controller's uid and frame digests, 256 digests.
        let bound = HEADER + "orders-auth0".len() + 32 + 8 * MAX_DIGESTS;
        let size = stored_size(&cache, "team-a", "orders-auth0");
        assert!(size <= bound, "{size} bytes kept for 10,000 labels");
        let cached = cache.get("team-a", "orders-auth0").expect("cached");
        assert!(cached.intact && cached.is_owned_by(&owner));
        assert!(
            !cached.is_up_to_date(&desired),
            "the labels it no longer keeps cannot be compared: it is rewritten"
        );
        assert!(!cached.is_up_to_date_keeping_its_secret(&owner, &desired));
        assert_eq!(
            stored_size(&cache, "team-a", "foreign"),
            HEADER + "foreign".len(),
            "a Secret no AuthClient controls keeps its name only"
        );
        // The Secret as the operator wrote it is up to date, and its entry is no bigger.
        cache.apply(ALL, &Event::Apply(ObservedSecret::observe(&desired)));
        assert_eq!(stored_size(&cache, "team-a", "orders-auth0"), normal);
        let cached = cache.get("team-a", "orders-auth0").expect("cached");
        assert!(cached.is_up_to_date(&desired));
        assert!(cached.is_up_to_date_keeping_its_secret(&owner, &desired));
    }

    #[test]
    fn a_lookup_answers_cached_absent_or_unknown() {
        let cache = OwnedSecrets::default();
        let a = observed("team-a", "a");
        feed(
            &cache,
            "team-a",
            vec![Event::Init, Event::InitApply(a.clone())],
        );
        assert_eq!(cache.lookup("team-a", "a-auth0"), Lookup::Cached(a.clone()));
        assert_eq!(
            cache.lookup("team-a", "b-auth0"),
            Lookup::Unknown,
            "not delivered yet, its namespace's list still pages in"
        );
        cache.apply("team-a", &Event::InitDone);
        assert_eq!(cache.lookup("team-a", "a-auth0"), Lookup::Cached(a));
        assert_eq!(cache.lookup("team-a", "b-auth0"), Lookup::Absent);
        assert_eq!(
            cache.lookup("team-b", "a-auth0"),
            Lookup::Unknown,
            "another namespace is not listed"
        );
    }

    #[test]
    fn a_deletion_removes_that_namespaces_secret_only_and_one_not_held_changes_nothing() {
        let cache = OwnedSecrets::default();
        for namespace in ["team-a", "team-b"] {
            cache.apply(ALL, &Event::Apply(observed(namespace, "orders")));
        }
        cache.apply(ALL, &Event::Apply(observed("team-a", "billing")));
        cache.apply(ALL, &Event::Delete(observed("team-a", "orders")));
        assert_eq!(names(&cache, "team-a"), ["billing-auth0"]);
        assert_eq!(names(&cache, "team-b"), ["orders-auth0"]);
        for not_held in [observed("team-a", "orders"), observed("team-c", "orders")] {
            cache.apply(ALL, &Event::Delete(not_held));
        }
        assert_eq!(names(&cache, "team-a"), ["billing-auth0"]);
        assert_eq!(names(&cache, "team-b"), ["orders-auth0"]);
        assert!(!lock(&cache.index).namespaces.contains_key("team-c"));
        assert_eq!(cache.len(), 2);
    }

    #[test]
    fn names_resembling_the_default_pack_their_controller_as_it_is() {
        for (owner, name) in [
            ("orders", "payments-auth0"),
            ("orders", "orders-auth0-auth0"),
            ("orders-auth0", "orders-auth0-auth0"),
            ("orders-auth0", "orders-auth0"),
            ("orders", "-auth0"),
        ] {
            let secret = ObservedSecret::observe(&written("team-a", owner, name, false));
            let cache = OwnedSecrets::default();
            cache.apply(ALL, &Event::Apply(secret.clone()));
            let cached = cache.get("team-a", name).expect("cached");
            assert_eq!(cached, secret, "{owner} controlling {name}");
            assert_eq!(cached.controller.map(|c| c.name), Some(owner.into()));
        }
    }

    #[test]
    fn a_sweep_shrinks_a_table_mostly_empty_only() {
        let cache = OwnedSecrets::default();
        let owners: Vec<String> = (0..57).map(|i| format!("c{i}")).collect();
        let mut events = vec![Event::Init];
        events.extend(
            owners
                .iter()
                .map(|owner| Event::InitApply(observed("team-a", owner))),
        );
        events.push(Event::InitDone);
        feed(&cache, ALL, events);
        let capacity = || lock(&cache.index).namespaces["team-a"].capacity();
        let full = capacity();
        // A relist that no longer delivers one Secret: the table is kept as it is.
        let mut events = vec![Event::Init];
        events.extend(
            owners[1..]
                .iter()
                .map(|owner| Event::InitApply(observed("team-a", owner))),
        );
        events.push(Event::InitDone);
        feed(&cache, ALL, events);
        assert_eq!(cache.len(), 56);
        assert_eq!(capacity(), full, "one Secret dropped: no rehash");
        // One that delivers one Secret only: the table is shrunk.
        feed(
            &cache,
            ALL,
            vec![
                Event::Init,
                Event::InitApply(observed("team-a", &owners[1])),
                Event::InitDone,
            ],
        );
        assert_eq!(cache.len(), 1);
        assert!(
            capacity() <= SHRINK_ABOVE,
            "{} slots for one Secret",
            capacity()
        );
    }
}
