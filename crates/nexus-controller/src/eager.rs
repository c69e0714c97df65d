//! The AuthClient store filled as the initial list pages in.
//!
//! kube's reflector keeps the objects of a (re)list in a buffer and swaps it into the store only
//! when the whole list has arrived, and kube's controller runs no reconcile before its store has
//! been listed once. With 100,000 AuthClients listed 100 a page that is 1,000 list requests
//! before the first reconcile. [`eager`] rewrites the watch's events so that the store holds
//! each listed object as soon as its page arrives:
//!
//! - the first `Init` is passed as `Init` + `InitDone` of an empty list (the store is empty at
//!   start), which marks the store ready, so the controller starts at once;
//! - with a list of served namespaces (one watch each, listed in parallel), each namespace is a
//!   partition of its own: its objects are stored as its pages arrive, whatever the other
//!   namespaces' lists are doing, and its relist deletes only its own stale objects;
//! - every `InitApply` becomes an `Apply` (into the store at once, and a reconcile request);
//! - a later `InitDone` becomes a `Delete` of each stored object the list did not deliver
//!   again (what kube's buffer swap does: objects deleted while the watch was down).
//!
//! The operator's own metadata write (the finalizer and the creation marker, `marker::claim`)
//! changes the object's resourceVersion; during the initial list the watch that would deliver
//! it has not started, so the reconcile passes the API server's answer to the cache directly
//! (`Caches::own_clients`, merged into this stream as an `Apply`; it starts no pass, as neither
//! the finalizer nor the marker is part of the trigger), and a later pass plans from it.
//!
//! Nothing the AuthClient reconcile decides needs the complete AuthClient list: it reads its
//! own object, the caches of tenants, namespaces and AuthResourceServers (which it still waits
//! for: `caches_ready` in `lib.rs`), its own Secret (from the owned-Secret cache, or by name
//! while that cache's first list pages in: `Caches::owned_secret`), and Auth0 (ownership is
//! decided by the ownership tag in Auth0, never by other AuthClients). What reads the whole
//! store tolerates a partial one: wake-ups of a tenant's or an API's AuthClients miss only
//! objects not listed yet, which their own listing reconciles anyway; the drift scan compares
//! only the AuthClients listed so far (the others at the next scan).
//!
//! Stale objects are recognised without a second index: each object carries the number of the
//! list that last delivered it ([`Listed`]), and at `InitDone` the store's objects of an older
//! list are deleted. A relist (after a `410 Gone`) therefore holds the store and the new pages
//! as they arrive, not the store and a complete second copy.

use std::collections::HashMap;
use std::sync::Arc;

use kube::runtime::reflector::{Lookup, Store};
use kube::runtime::watcher::{self, Event};

/// An object that records which list last delivered it.
pub trait Listed {
    /// Sets the number of the list (or watch) that delivered the object.
    fn set_list(&mut self, list: u32);
    /// The number of the list (or watch) that last delivered the object.
    fn list(&self) -> u32;
}

/// The partition of the one watch of all namespaces ([`crate::scope::WatchScope::All`]);
/// any other partition is a namespace.
pub const ALL: &str = "";

/// The state of [`eager`] for one watch, or for the watches of the served namespaces
/// (partitions, each listing and relisting on its own).
pub struct Eager<K: Lookup + Clone + 'static>
where
    K::DynamicType: Eq + std::hash::Hash + Clone,
{
    store: Store<K>,
    /// The number of the last list started, over all partitions (0 before the first).
    last: u32,
    /// The number of the list each partition delivers (its latest `Init`).
    lists: HashMap<Arc<str>, u32>,
    /// Whether the store was marked ready.
    ready: bool,
}

impl<K> Eager<K>
where
    K: Lookup + Listed + Clone + 'static,
    K::DynamicType: Eq + std::hash::Hash + Clone,
{
    /// The rewriting of the events of a watch whose reflector writes `store`.
    pub fn new(store: Store<K>) -> Self {
        Self {
            store,
            last: 0,
            lists: HashMap::new(),
            ready: false,
        }
    }

    /// The list that delivers `object`: its namespace's, or the one watch's of all namespaces.
    fn list_of(&self, object: &K) -> u32 {
        let namespace = object.namespace();
        namespace
            .as_deref()
            .and_then(|ns| self.lists.get(ns))
            .or_else(|| self.lists.get(ALL))
            .copied()
            .unwrap_or(0)
    }

    /// The events the reflector should apply for `event` of `partition` (a served namespace,
    /// or [`ALL`]; see the module documentation).
    pub fn step(
        &mut self,
        partition: &Arc<str>,
        event: watcher::Result<Event<K>>,
    ) -> Vec<watcher::Result<Event<K>>> {
        let event = match event {
            Ok(event) => event,
            Err(error) => return vec![Err(error)],
        };
        match event {
            Event::Init => {
                self.last = self.last.wrapping_add(1);
                self.lists.insert(partition.clone(), self.last);
                if self.ready {
                    Vec::new()
                } else {
                    // The first partition to list makes the store ready: the others' objects
                    // are reconciled as they are listed.
                    self.ready = true;
                    vec![Ok(Event::Init), Ok(Event::InitDone)]
                }
            }
            Event::InitApply(mut object) | Event::Apply(mut object) => {
                object.set_list(self.list_of(&object));
                vec![Ok(Event::Apply(object))]
            }
            Event::Delete(object) => vec![Ok(Event::Delete(object))],
            Event::InitDone => {
                let list = self.lists.get(partition).copied().unwrap_or(0);
                let all = partition.as_ref() == ALL;
                self.store
                    .state()
                    .into_iter()
                    .filter(|object| {
                        object.list() != list
                            && (all || object.namespace().as_deref() == Some(partition.as_ref()))
                    })
                    .map(|object| Ok(Event::Delete(Arc::unwrap_or_clone(object))))
                    .collect()
            }
        }
    }
}

/// `events` (each with its partition: [`crate::scope::WatchScope::watch_partitions_as`])
/// rewritten by [`Eager`] for the reflector of `store`.
pub fn eager<K, S>(
    events: S,
    store: Store<K>,
) -> impl futures::Stream<Item = watcher::Result<Event<K>>> + Send + 'static
where
    K: Lookup + Listed + Clone + Send + Sync + 'static,
    K::DynamicType: Eq + std::hash::Hash + Clone + Send + Sync,
    S: futures::Stream<Item = (Arc<str>, watcher::Result<Event<K>>)> + Send + 'static,
{
    use futures::StreamExt;
    let mut state = Eager::new(store);
    events.flat_map(move |(partition, event)| futures::stream::iter(state.step(&partition, event)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compact::CachedAuthClient;
    use kube::runtime::reflector;
    use nexus_crd::AuthClient;
    use serde_json::json;

    fn client(name: &str) -> CachedAuthClient {
        client_in("team-a", name)
    }

    fn client_in(namespace: &str, name: &str) -> CachedAuthClient {
        let client: AuthClient = serde_json::from_value(json!({
            "apiVersion": "auth.nexus.dev/v1alpha1", "kind": "AuthClient",
            "metadata": {"name": name, "namespace": namespace, "uid": format!("uid-{name}")},
            "spec": {"tenant": "acme", "client": {"name": name, "app_type": "spa"}}
        }))
        .expect("a valid AuthClient");
        CachedAuthClient::new(client)
    }

    fn names(store: &Store<CachedAuthClient>) -> Vec<String> {
        let mut names: Vec<String> = store
            .state()
            .iter()
            .map(|c| kube::ResourceExt::name_any(&**c))
            .collect();
        names.sort();
        names
    }

    #[tokio::test]
    async fn listed_objects_are_stored_before_the_list_ends_and_stale_ones_go_at_its_end() {
        let (store, mut writer) = reflector::store::<CachedAuthClient>();
        let mut eager = Eager::new(store.clone());
        let all: Arc<str> = Arc::from(ALL);
        let mut feed = |event: Event<CachedAuthClient>| {
            for out in eager.step(&all, Ok(event)) {
                writer.apply_watcher_event(&out.expect("no error"));
            }
        };
        feed(Event::Init);
        // Ready at once, before any object is listed (kube's controller starts).
        assert!(store.wait_until_ready().await.is_ok());
        feed(Event::InitApply(client("a")));
        feed(Event::InitApply(client("b")));
        // In the store while the list is still paging in (kube's buffer would hide them).
        assert_eq!(names(&store), ["a", "b"]);
        feed(Event::InitDone);
        assert_eq!(names(&store), ["a", "b"]);
        feed(Event::Apply(client("c")));
        assert_eq!(names(&store), ["a", "b", "c"]);
        // A relist after the watch was down: "a" was deleted meanwhile. The store keeps every
        // object while the list pages in and drops "a" when it ends.
        feed(Event::Init);
        feed(Event::InitApply(client("b")));
        assert_eq!(names(&store), ["a", "b", "c"]);
        feed(Event::InitApply(client("c")));
        feed(Event::InitDone);
        assert_eq!(names(&store), ["b", "c"]);
    }

    #[tokio::test]
    async fn each_served_namespace_is_stored_as_it_pages_in_and_relists_on_its_own() {
        let (store, mut writer) = reflector::store::<CachedAuthClient>();
        let mut eager = Eager::new(store.clone());
        let (a, b): (Arc<str>, Arc<str>) = (Arc::from("team-a"), Arc::from("team-b"));
        let mut feed = |partition: &Arc<str>, event: Event<CachedAuthClient>| {
            for out in eager.step(partition, Ok(event)) {
                writer.apply_watcher_event(&out.expect("no error"));
            }
        };
        feed(&a, Event::Init);
        // Ready with the first namespace's first event, before any namespace has listed.
        assert!(store.wait_until_ready().await.is_ok());
        feed(&a, Event::InitApply(client_in("team-a", "a1")));
        feed(&b, Event::Init);
        feed(&b, Event::InitApply(client_in("team-b", "b1")));
        // Both namespaces' first pages are stored while both lists are still paging in.
        assert_eq!(names(&store), ["a1", "b1"]);
        feed(&a, Event::InitApply(client_in("team-a", "a2")));
        feed(&a, Event::InitDone);
        feed(&b, Event::InitDone);
        assert_eq!(names(&store), ["a1", "a2", "b1"]);
        // team-a relists after its watch expired: a1 was deleted meanwhile. Only team-a's
        // stale object goes at the end of team-a's list; team-b's are untouched.
        feed(&a, Event::Init);
        feed(&a, Event::InitApply(client_in("team-a", "a2")));
        assert_eq!(names(&store), ["a1", "a2", "b1"]);
        feed(&a, Event::InitDone);
        assert_eq!(names(&store), ["a2", "b1"]);
        // The operator's own write of an object during its namespace's relist counts as
        // listed by that relist (the object exists): the relist's end keeps it.
        feed(&b, Event::Init);
        feed(&a, Event::Apply(client_in("team-b", "b1")));
        feed(&b, Event::InitDone);
        assert_eq!(names(&store), ["a2", "b1"]);
    }
}
