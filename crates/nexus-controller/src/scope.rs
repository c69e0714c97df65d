//! Which namespaces the controller serves ([`WatchScope`]), and the watches that follow from
//! it: one watch of all namespaces, or one watch per served namespace merged into a single
//! stream that behaves like one watch (one initial list, then changes), so a reflector store
//! fed by it holds every served namespace.
//!
//! Serving a list of namespaces is what lets the operator run with Roles in those namespaces
//! only (no cluster-wide access to Secrets): AuthClients, the Secrets it owns and the
//! metadata of the served Namespaces (for `allowedNamespaces.selector`, watched by name with
//! `fieldSelector=metadata.name=<namespace>`) are all it watches there.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fmt;
use std::sync::Arc;

use futures::stream::{self, BoxStream};
use futures::{StreamExt, future};
use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::PartialObjectMeta;
use kube::runtime::reflector::{Lookup, Store};
use kube::runtime::watcher;
use kube::{Api, Resource, ResourceExt};
use serde::de::DeserializeOwned;

use crate::watch_backoff::backoff;

/// What a watch needs of the objects it decodes (owned, shared across tasks, printable).
pub trait Object: Clone + DeserializeOwned + fmt::Debug + Send + Sync + 'static {}

impl<K: Clone + DeserializeOwned + fmt::Debug + Send + Sync + 'static> Object for K {}

/// A namespaced kind a [`WatchScope`] watches (and a pass reconciles, [`crate::pass::Kind`]).
pub trait Namespaced: Resource<DynamicType = (), Scope = NamespaceResourceScope> + Object {}

impl<K: Resource<DynamicType = (), Scope = NamespaceResourceScope> + Object> Namespaced for K {}

/// The namespaces the controller serves: all of them, or exactly the listed ones.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum WatchScope {
    /// Every namespace (cluster-wide watches; needs a ClusterRole).
    #[default]
    All,
    /// Only these namespaces (one watch each; Roles in these namespaces suffice).
    Namespaces(BTreeSet<String>),
}

/// A namespace name that is not a valid DNS-1123 label.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "'{0}' is not a namespace name (lower-case letters, digits and '-', starting and ending with a letter or digit, at most 63 characters)"
)]
pub struct InvalidNamespace(pub String);

impl WatchScope {
    /// The scope of a list of namespace names; an empty list (or only empty names) means all
    /// namespaces. Duplicates are ignored.
    pub fn from_names<I, S>(names: I) -> Result<Self, InvalidNamespace>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut set = BTreeSet::new();
        for name in names {
            let name = name.as_ref().trim();
            if name.is_empty() {
                continue;
            }
            if !is_dns_label(name) {
                return Err(InvalidNamespace(name.to_owned()));
            }
            set.insert(name.to_owned());
        }
        Ok(if set.is_empty() {
            Self::All
        } else {
            Self::Namespaces(set)
        })
    }

    /// Whether objects in `namespace` are served.
    pub fn serves(&self, namespace: &str) -> bool {
        match self {
            Self::All => true,
            Self::Namespaces(set) => set.contains(namespace),
        }
    }

    /// The served namespaces; `None` for all.
    pub fn namespaces(&self) -> Option<&BTreeSet<String>> {
        match self {
            Self::All => None,
            Self::Namespaces(set) => Some(set),
        }
    }

    /// The partitions of [`WatchScope::watch_partitions_as`]: [`crate::eager::ALL`] for the
    /// one watch of all namespaces, or each served namespace.
    pub fn partitions(&self) -> Vec<&str> {
        match self {
            Self::All => vec![crate::eager::ALL],
            Self::Namespaces(set) => set.iter().map(String::as_str).collect(),
        }
    }

    /// A watch of the namespaced kind `K` over the scope (with [`backoff`](crate::watch_backoff::backoff)),
    /// to be fed into a reflector whose reader is `store`.
    pub fn watch<K>(
        &self,
        kube: &kube::Client,
        config: watcher::Config,
        store: Store<K>,
    ) -> BoxStream<'static, watcher::Result<watcher::Event<K>>>
    where
        K: Namespaced,
    {
        self.watch_as(kube, config, store, std::convert::identity)
    }

    /// [`WatchScope::watch`] of the namespaced kind `K` whose events are kept as `T` (for
    /// example an owned Secret as its metadata and digests): each event is converted by
    /// `convert` as soon as its partition's watch delivers it, so the merge of the partitions'
    /// initial lists holds `T`s and `store` (the reflector fed by the stream) is a store of `T`.
    /// `convert` keeps the name and namespace of the object.
    pub fn watch_as<K, T>(
        &self,
        kube: &kube::Client,
        config: watcher::Config,
        store: Store<T>,
        convert: fn(watcher::Event<K>) -> watcher::Event<T>,
    ) -> BoxStream<'static, watcher::Result<watcher::Event<T>>>
    where
        K: Namespaced,
        T: Lookup<DynamicType = ()> + Clone + Send + Sync + 'static,
    {
        match self {
            Self::All => backoff(watcher(Api::<K>::all(kube.clone()), config))
                .map(move |event| event.map(convert))
                .boxed(),
            Self::Namespaces(set) => merged(
                set.iter()
                    .map(|ns| {
                        (
                            ns.clone(),
                            Api::<K>::namespaced(kube.clone(), ns),
                            config.clone(),
                        )
                    })
                    .collect(),
                convert,
                |object, ns| Lookup::namespace(object).as_deref() == Some(ns),
                store,
            ),
        }
    }

    /// The watches of the namespaced kind `K` over the scope, unmerged: each event with the
    /// partition it comes from (the namespace, or `""` for the one watch of all namespaces),
    /// converted to `T` by `convert`. For [`crate::eager`], which stores what each partition
    /// lists as its pages arrive instead of waiting for every partition's list to end.
    pub fn watch_partitions_as<K, T>(
        &self,
        kube: &kube::Client,
        config: watcher::Config,
        convert: fn(watcher::Event<K>) -> watcher::Event<T>,
    ) -> BoxStream<'static, (Arc<str>, watcher::Result<watcher::Event<T>>)>
    where
        K: Namespaced,
        T: Send + 'static,
    {
        let partitions: Vec<(Arc<str>, Api<K>)> = self
            .partitions()
            .into_iter()
            .map(|partition| {
                let api = match self {
                    Self::All => Api::<K>::all(kube.clone()),
                    Self::Namespaces(_) => Api::<K>::namespaced(kube.clone(), partition),
                };
                (Arc::from(partition), api)
            })
            .collect();
        stream::select_all(partitions.into_iter().map(move |(partition, api)| {
            backoff(watcher(api, config.clone()))
                .map(move |event| {
                    if let Err(error) = &event
                        && is_forbidden(error)
                    {
                        warn_forbidden(
                            K::kind(&()).as_ref(),
                            K::plural(&()).as_ref(),
                            &partition,
                            error,
                        );
                    }
                    (partition.clone(), event.map(convert))
                })
                .boxed()
        }))
        .boxed()
    }

    /// A watch of Namespace metadata over the scope: every Namespace, or each served Namespace
    /// by name (`fieldSelector=metadata.name=<namespace>`, which RBAC authorizes with
    /// `resourceNames`).
    pub fn watch_namespaces(
        &self,
        kube: &kube::Client,
        store: Store<PartialObjectMeta<Namespace>>,
    ) -> BoxStream<'static, watcher::Result<watcher::Event<PartialObjectMeta<Namespace>>>> {
        let api = Api::<PartialObjectMeta<Namespace>>::all(kube.clone());
        match self {
            Self::All => backoff(watcher(api, watcher::Config::default())).boxed(),
            Self::Namespaces(set) => merged(
                set.iter()
                    .map(|ns| (ns.clone(), api.clone(), by_name(ns)))
                    .collect(),
                std::convert::identity,
                |object, ns| object.name_any() == ns,
                store,
            ),
        }
    }
}

impl fmt::Display for WatchScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::All => f.write_str("all namespaces"),
            Self::Namespaces(set) => {
                let names: Vec<&str> = set.iter().map(String::as_str).collect();
                write!(f, "namespaces {}", names.join(", "))
            }
        }
    }
}

/// The old single-namespace setting (`Option<String>`, None: all namespaces).
impl From<Option<String>> for WatchScope {
    fn from(namespace: Option<String>) -> Self {
        match namespace.filter(|ns| !ns.is_empty()) {
            Some(ns) => Self::Namespaces(BTreeSet::from([ns])),
            None => Self::All,
        }
    }
}

/// The watch configuration selecting exactly the object `name`.
pub fn by_name(name: &str) -> watcher::Config {
    watcher::Config::default().fields(&format!("metadata.name={name}"))
}

/// Whether a watch error is the API server's 403 (RBAC refused the list or watch).
pub fn is_forbidden(error: &watcher::Error) -> bool {
    match error {
        watcher::Error::InitialListFailed(e)
        | watcher::Error::WatchStartFailed(e)
        | watcher::Error::WatchFailed(e) => {
            matches!(e, kube::Error::Api(status) if status.code == 403)
        }
        watcher::Error::WatchError(status) => status.code == 403,
        watcher::Error::NoResourceVersion => false,
    }
}

fn is_dns_label(name: &str) -> bool {
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 63
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        && bytes[0] != b'-'
        && bytes[bytes.len() - 1] != b'-'
}

/// One watch per partition (a namespace, or one object by name), merged into one stream with
/// the semantics of a single watch: `Init`, the objects of every partition, and `InitDone`
/// once every partition has listed; then their changes. Each partition's events are converted
/// to `T` by `convert` first. A partition that lists again later (its watch expired) becomes
/// `Apply` for what it lists and `Delete` for what is gone, read from `store` with `belongs`.
/// Errors pass through (a 403 is logged with the partition and the grant it lacks).
fn merged<K, T>(
    partitions: Vec<(String, Api<K>, watcher::Config)>,
    convert: fn(watcher::Event<K>) -> watcher::Event<T>,
    belongs: fn(&T, &str) -> bool,
    store: Store<T>,
) -> BoxStream<'static, watcher::Result<watcher::Event<T>>>
where
    K: Resource<DynamicType = ()> + Object,
    T: Lookup<DynamicType = ()> + Clone + Send + Sync + 'static,
{
    let names: HashSet<String> = partitions.iter().map(|(p, _, _)| p.clone()).collect();
    let sources = partitions.into_iter().map(move |(partition, api, config)| {
        backoff(watcher(api, config))
            .map(move |event| (partition.clone(), event.map(convert)))
            .boxed()
    });
    let merge = Merge::new(names, belongs, store);
    stream::select_all(sources)
        .scan(merge, |merge, (partition, event)| {
            future::ready(Some(stream::iter(merge.step(&partition, event))))
        })
        .flatten()
        .boxed()
}

/// Logs the API server's refusal (403) of a partition's list or watch, naming the grant.
fn warn_forbidden(kind: &str, plural: &str, partition: &str, error: &watcher::Error) {
    tracing::warn!(
        kind,
        partition,
        %error,
        "the API server refuses to list/watch {plural} in '{partition}' (403): the operator's \
         ServiceAccount lacks the grant (with the Helm chart: a served namespace comes from \
         watchNamespaces and gets a Role there); retrying with backoff",
    );
}

/// The state of [`merged`].
struct Merge<K: Lookup<DynamicType = ()> + Clone + 'static> {
    /// Partitions whose first list has not completed.
    waiting: HashSet<String>,
    /// Until every partition has listed once: what each one holds (keyed `namespace/name`).
    initial: Option<HashMap<String, HashMap<String, K>>>,
    /// After that: partitions listing again, and what they listed so far.
    relisting: HashMap<String, HashMap<String, K>>,
    belongs: fn(&K, &str) -> bool,
    store: Store<K>,
}

fn key<K: Lookup>(object: &K) -> String {
    format!(
        "{}/{}",
        object.namespace().as_deref().unwrap_or_default(),
        object.name().as_deref().unwrap_or_default()
    )
}

impl<K: Lookup<DynamicType = ()> + Clone + 'static> Merge<K> {
    fn new(partitions: HashSet<String>, belongs: fn(&K, &str) -> bool, store: Store<K>) -> Self {
        let initial = partitions
            .iter()
            .map(|p| (p.clone(), HashMap::new()))
            .collect();
        Self {
            waiting: partitions,
            initial: Some(initial),
            relisting: HashMap::new(),
            belongs,
            store,
        }
    }

    fn step(
        &mut self,
        partition: &str,
        event: watcher::Result<watcher::Event<K>>,
    ) -> Vec<watcher::Result<watcher::Event<K>>> {
        use watcher::Event;
        let event = match event {
            Ok(event) => event,
            Err(error) => {
                if is_forbidden(&error) {
                    warn_forbidden(
                        K::kind(&()).as_ref(),
                        K::plural(&()).as_ref(),
                        partition,
                        &error,
                    );
                }
                return vec![Err(error)];
            }
        };
        if let Some(initial) = self.initial.as_mut() {
            let held = initial.entry(partition.to_owned()).or_default();
            match event {
                Event::Init => {
                    held.clear();
                    self.waiting.insert(partition.to_owned());
                }
                Event::InitApply(object) | Event::Apply(object) => {
                    held.insert(key(&object), object);
                }
                Event::Delete(object) => {
                    held.remove(&key(&object));
                }
                Event::InitDone => {
                    self.waiting.remove(partition);
                }
            }
            if !self.waiting.is_empty() {
                return Vec::new();
            }
            let initial = self.initial.take().unwrap_or_default();
            let mut out = vec![Ok(Event::Init)];
            out.extend(
                initial
                    .into_values()
                    .flat_map(HashMap::into_values)
                    .map(|object| Ok(Event::InitApply(object))),
            );
            out.push(Ok(Event::InitDone));
            return out;
        }
        match event {
            Event::Init => {
                self.relisting.insert(partition.to_owned(), HashMap::new());
                Vec::new()
            }
            Event::InitApply(object) => match self.relisting.get_mut(partition) {
                Some(listed) => {
                    listed.insert(key(&object), object);
                    Vec::new()
                }
                None => vec![Ok(Event::Apply(object))],
            },
            Event::InitDone => {
                let listed = self.relisting.remove(partition).unwrap_or_default();
                let mut out: Vec<_> = self
                    .store
                    .state()
                    .iter()
                    .filter(|object| {
                        (self.belongs)(object, partition) && !listed.contains_key(&key(&***object))
                    })
                    .map(|object| Ok(Event::Delete((**object).clone())))
                    .collect();
                out.extend(listed.into_values().map(|object| Ok(Event::Apply(object))));
                out
            }
            event @ (Event::Apply(_) | Event::Delete(_)) => vec![Ok(event)],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::Secret;
    use kube::runtime::reflector;

    fn secret(ns: &str, name: &str, value: &str) -> Secret {
        let mut s = Secret::default();
        s.metadata.namespace = Some(ns.into());
        s.metadata.name = Some(name.into());
        s.string_data = Some([("v".to_owned(), value.to_owned())].into());
        s
    }

    fn names(store: &Store<Secret>) -> Vec<String> {
        let mut all: Vec<String> = store
            .state()
            .iter()
            .map(|s| {
                format!(
                    "{}={}",
                    key(&**s),
                    s.string_data
                        .as_ref()
                        .and_then(|d| d.get("v"))
                        .cloned()
                        .unwrap_or_default()
                )
            })
            .collect();
        all.sort();
        all
    }

    #[test]
    fn scopes_from_names() {
        assert_eq!(
            WatchScope::from_names(Vec::<String>::new()),
            Ok(WatchScope::All)
        );
        assert_eq!(WatchScope::from_names([" ", ""]), Ok(WatchScope::All));
        let scope = WatchScope::from_names(["b", "a", "b"]).expect("valid");
        assert_eq!(
            scope
                .namespaces()
                .map(|s| s.iter().cloned().collect::<Vec<_>>()),
            Some(vec!["a".to_owned(), "b".to_owned()])
        );
        assert!(scope.serves("a") && !scope.serves("c"));
        assert!(WatchScope::All.serves("anything"));
        assert_eq!(scope.to_string(), "namespaces a, b");
        for bad in ["Team", "-a", "a-", "a_b", &"x".repeat(64)] {
            assert_eq!(
                WatchScope::from_names([bad]),
                Err(InvalidNamespace(bad.to_owned()))
            );
        }
        assert_eq!(WatchScope::from(None), WatchScope::All);
        assert_eq!(WatchScope::from(Some(String::new())), WatchScope::All);
        assert!(WatchScope::from(Some("x".to_owned())).serves("x"));
    }

    /// Feeds the merge's output into a reflector writer, as the controller does.
    struct Rig {
        merge: Merge<Secret>,
        writer: reflector::store::Writer<Secret>,
        reader: Store<Secret>,
        emitted: Vec<String>,
    }

    impl Rig {
        fn new(partitions: &[&str]) -> Self {
            let writer = reflector::store::Writer::<Secret>::default();
            let reader = writer.as_reader();
            let merge = Merge::new(
                partitions.iter().map(|p| (*p).to_owned()).collect(),
                |s, ns| ResourceExt::namespace(s).as_deref() == Some(ns),
                reader.clone(),
            );
            Self {
                merge,
                writer,
                reader,
                emitted: Vec::new(),
            }
        }

        fn feed(&mut self, partition: &str, event: watcher::Event<Secret>) {
            for out in self.merge.step(partition, Ok(event)) {
                let out = out.expect("no error");
                self.emitted.push(match &out {
                    watcher::Event::Init => "Init".to_owned(),
                    watcher::Event::InitApply(s) => format!("InitApply {}", key(s)),
                    watcher::Event::InitDone => "InitDone".to_owned(),
                    watcher::Event::Apply(s) => format!("Apply {}", key(s)),
                    watcher::Event::Delete(s) => format!("Delete {}", key(s)),
                });
                self.writer.apply_watcher_event(&out);
            }
        }
    }

    #[test]
    fn one_initial_list_after_every_partition_listed() {
        use watcher::Event::*;
        let mut rig = Rig::new(&["a", "b"]);
        rig.feed("a", Init);
        rig.feed("a", InitApply(secret("a", "x", "1")));
        rig.feed("a", InitDone);
        rig.feed("a", Apply(secret("a", "y", "1")));
        rig.feed("b", Init);
        assert!(
            rig.emitted.is_empty(),
            "nothing before b has listed: {:?}",
            rig.emitted
        );
        rig.feed("b", InitApply(secret("b", "z", "1")));
        rig.feed("b", InitDone);
        assert_eq!(rig.emitted.first().map(String::as_str), Some("Init"));
        assert_eq!(rig.emitted.last().map(String::as_str), Some("InitDone"));
        assert_eq!(rig.emitted.len(), 5, "{:?}", rig.emitted);
        assert_eq!(names(&rig.reader), ["a/x=1", "a/y=1", "b/z=1"]);
    }

    #[test]
    fn a_partition_restarting_before_the_others_listed_forgets_what_it_held() {
        use watcher::Event::*;
        let mut rig = Rig::new(&["a", "b"]);
        rig.feed("a", Init);
        rig.feed("a", InitApply(secret("a", "old", "1")));
        rig.feed("a", InitDone);
        rig.feed("a", Init);
        rig.feed("a", InitApply(secret("a", "new", "1")));
        rig.feed("b", Init);
        rig.feed("b", InitDone);
        assert!(
            rig.emitted.is_empty(),
            "a is listing again: {:?}",
            rig.emitted
        );
        rig.feed("a", InitDone);
        assert_eq!(names(&rig.reader), ["a/new=1"]);
    }

    #[test]
    fn changes_pass_through_and_a_relist_only_touches_its_partition() {
        use watcher::Event::*;
        let mut rig = Rig::new(&["a", "b"]);
        for p in ["a", "b"] {
            rig.feed(p, Init);
            rig.feed(p, InitApply(secret(p, "x", "1")));
            rig.feed(p, InitApply(secret(p, "y", "1")));
            rig.feed(p, InitDone);
        }
        rig.emitted.clear();
        rig.feed("b", Apply(secret("b", "x", "2")));
        rig.feed("b", Delete(secret("b", "y", "1")));
        assert_eq!(rig.emitted, ["Apply b/x", "Delete b/y"]);
        rig.emitted.clear();
        // a's watch expired: it lists again; y is gone, x changed, w is new.
        rig.feed("a", Init);
        rig.feed("a", InitApply(secret("a", "x", "3")));
        rig.feed("a", InitApply(secret("a", "w", "1")));
        assert!(
            rig.emitted.is_empty(),
            "nothing until the relist is complete"
        );
        rig.feed("a", InitDone);
        let mut emitted = rig.emitted.clone();
        emitted.sort();
        assert_eq!(emitted, ["Apply a/w", "Apply a/x", "Delete a/y"]);
        assert_eq!(names(&rig.reader), ["a/w=1", "a/x=3", "b/x=2"]);
    }

    #[test]
    fn forbidden_errors_are_recognised() {
        let status = |code| {
            kube::Error::Api(
                kube::core::Status::failure("no", "Forbidden")
                    .with_code(code)
                    .boxed(),
            )
        };
        assert!(is_forbidden(&watcher::Error::InitialListFailed(status(
            403
        ))));
        assert!(is_forbidden(&watcher::Error::WatchFailed(status(403))));
        assert!(!is_forbidden(&watcher::Error::InitialListFailed(status(
            500
        ))));
        assert!(!is_forbidden(&watcher::Error::NoResourceVersion));
    }
}
