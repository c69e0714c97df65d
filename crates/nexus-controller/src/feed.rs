//! The AuthClient controller's triggers, handed to kube's controller only as passes start.
//!
//! kube's controller keeps every trigger it is given in its scheduler until the object's pass
//! starts: the request twice (a hash entry and a delay-queue slot), each with an object
//! reference of four strings, about 630 bytes per object. At a fleet's creation and at every
//! restart the list is much faster than the passes, so every AuthClient of the fleet waited
//! there at once (63 MB at 100,000; docs/scaling.md).
//!
//! [`feed`] sits between the triggers (the AuthClient cache's trigger stream, the wake-ups and
//! the drift findings) and the controller. It keeps the objects waiting for a pass as one
//! shared string each (`namespace/name`, in a queue and a set: about 90 bytes), in the order
//! they were triggered, and hands the controller at most `capacity` of them at a time (a few
//! times its concurrency). An object handed counts until its pass starts ([`Feed::starting`]:
//! the reconcile function is called) or the controller finds it gone from the store
//! ([`Feed::ended`]: kube's `ObjectNotFound`); then the next waiting object is handed.
//!
//! A trigger is never lost, because a pass reads the object from the store when it starts,
//! and the store is written before the trigger arrives here:
//!
//! - a trigger for an object already waiting, or handed and not started yet, is covered by
//!   that pass (it will read this version or a later one): nothing is added, so kube's
//!   scheduler never merges two requests of the feed (which would leave a slot counted
//!   forever);
//! - a trigger for an object whose pass has started (it may have read an older version) waits
//!   and is handed again; kube's scheduler holds it until the running pass ends;
//! - an object deleted while it waits is skipped; one deleted after it was handed frees its
//!   slot when the controller reports it gone, and is queued again if it exists again by then
//!   (created anew while its trigger was covered by the handed one);
//! - the controller's own requeues (an `Action` or the error policy) go to kube's scheduler
//!   directly, as before: a handed object merged with one of them still starts one pass, which
//!   frees its slot.

use std::collections::{HashSet, VecDeque};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use futures::{Stream, StreamExt};
use kube::ResourceExt;
use kube::runtime::controller::{self, Action};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;

use crate::compact::CachedAuthClient;
use crate::locking::lock;

/// How many objects the feed hands kube's controller at a time, for a controller running
/// `concurrency` passes at once: enough that a pass ending always finds the next one handed.
pub fn capacity(concurrency: u16) -> usize {
    usize::from(concurrency.max(1)) * 4
}

/// An object waiting for a pass: `namespace/name` (an empty namespace for none), shared by the
/// queue and the set.
type Key = Arc<str>;

fn key_of(namespace: Option<&str>, name: &str) -> Key {
    let namespace = namespace.unwrap_or_default();
    let mut text = String::with_capacity(namespace.len() + 1 + name.len());
    text.push_str(namespace);
    text.push('/');
    text.push_str(name);
    Arc::from(text)
}

fn reference_of(key: &str) -> ObjectRef<CachedAuthClient> {
    let (namespace, name) = key.split_once('/').unwrap_or(("", key));
    let reference = ObjectRef::new(name);
    if namespace.is_empty() {
        reference
    } else {
        reference.within(namespace)
    }
}

/// The feed's bookkeeping, shared by its stream and the controller's hooks.
#[derive(Default)]
struct State {
    /// Waiting to be handed, oldest first.
    queue: VecDeque<Key>,
    /// The keys in `queue`.
    queued: HashSet<Key>,
    /// Handed to the controller, pass not started.
    handed: HashSet<Key>,
    /// The feed stream's task, woken when a slot frees.
    waker: Option<Waker>,
}

impl State {
    /// Queues `key` unless a pass not started yet already covers it.
    fn push(&mut self, key: Key) {
        if self.handed.contains(&key) || self.queued.contains(&key) {
            return;
        }
        self.queued.insert(key.clone());
        self.queue.push_back(key);
    }

    fn wake(&mut self) {
        if let Some(waker) = self.waker.take() {
            waker.wake();
        }
    }
}

/// The controller's side of the feed: the hooks that free a slot, and its counts.
#[derive(Clone)]
pub struct Feed {
    state: Arc<Mutex<State>>,
    store: Store<CachedAuthClient>,
    capacity: usize,
}

impl Feed {
    /// `reconcile`, telling the feed that the object's pass starts (kube calls it when it
    /// starts the pass, with the object it read from the store).
    pub fn starting<F, C, Fut>(
        &self,
        mut reconcile: F,
    ) -> impl FnMut(Arc<CachedAuthClient>, Arc<C>) -> Fut + use<F, C, Fut>
    where
        F: FnMut(Arc<CachedAuthClient>, Arc<C>) -> Fut,
    {
        let feed = self.clone();
        move |object, ctx| {
            feed.started(object.namespace().as_deref(), &object.name_any());
            reconcile(object, ctx)
        }
    }

    /// The pass of `namespace/name` started: a slot is free.
    fn started(&self, namespace: Option<&str>, name: &str) {
        let mut state = lock(&self.state);
        if state.handed.remove(key_of(namespace, name).as_ref()) {
            state.wake();
        }
    }

    /// Inspects one result of the controller: an object the controller found gone from the
    /// store (no pass started) frees its slot, and waits again if it exists again.
    pub fn ended<E1, E2>(
        &self,
        result: &Result<(ObjectRef<CachedAuthClient>, Action), controller::Error<E1, E2>>,
    ) where
        E1: std::error::Error + 'static,
        E2: std::error::Error + 'static,
    {
        let Err(controller::Error::ObjectNotFound(gone)) = result else {
            return;
        };
        let key = key_of(gone.namespace.as_deref(), &gone.name);
        let mut state = lock(&self.state);
        if state.handed.remove(&key) {
            if self.store.get(&reference_of(&key)).is_some() {
                state.push(key);
            }
            state.wake();
        }
    }

    /// Objects waiting to be handed.
    pub fn waiting(&self) -> usize {
        lock(&self.state).queue.len()
    }

    /// Objects handed to the controller whose pass has not started.
    pub fn handed(&self) -> usize {
        lock(&self.state).handed.len()
    }

    /// The most objects handed at a time.
    pub fn capacity(&self) -> usize {
        self.capacity
    }
}

/// The feed of the AuthClient controller: `triggers` (the AuthClient cache's trigger stream,
/// [`crate::compact::cache_and_trigger`], whose reflector writes `store`) and `wakes` (wake-ups
/// and drift findings) become the references handed to the controller (through kube's
/// `reconcile_on`), at most `capacity` at a time; the [`Feed`] is the controller's side
/// ([`Feed::starting`] around the reconcile function, [`Feed::ended`] on its results).
///
/// The stream takes in every trigger as it arrives (so the store stays current whatever the
/// controller does), and ends once both inputs ended and nothing waits.
pub fn feed<T, W>(
    triggers: T,
    wakes: W,
    store: Store<CachedAuthClient>,
    capacity: usize,
) -> (
    impl Stream<Item = ObjectRef<CachedAuthClient>> + Send + 'static,
    Feed,
)
where
    T: Stream<Item = Result<CachedAuthClient, watcher::Error>> + Send + 'static,
    W: Stream<Item = ObjectRef<CachedAuthClient>> + Send + 'static,
{
    let triggers = triggers.filter_map(|trigger| {
        std::future::ready(match trigger {
            Ok(object) => Some(key_of(object.namespace().as_deref(), &object.name_any())),
            Err(error) => {
                tracing::debug!(%error, "AuthClient watch");
                None
            }
        })
    });
    let wakes = wakes.map(|reference| key_of(reference.namespace.as_deref(), &reference.name));
    let feed = Feed {
        state: Arc::default(),
        store,
        capacity: capacity.max(1),
    };
    let stream = Feeding {
        keys: futures::stream::select(triggers, wakes).boxed(),
        done: false,
        feed: feed.clone(),
    };
    (stream, feed)
}

/// The stream [`feed`] returns.
struct Feeding {
    keys: futures::stream::BoxStream<'static, Key>,
    done: bool,
    feed: Feed,
}

impl Stream for Feeding {
    type Item = ObjectRef<CachedAuthClient>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        while !this.done {
            match this.keys.poll_next_unpin(cx) {
                Poll::Ready(Some(key)) => lock(&this.feed.state).push(key),
                Poll::Ready(None) => this.done = true,
                Poll::Pending => break,
            }
        }
        let mut state = lock(&this.feed.state);
        while state.handed.len() < this.feed.capacity {
            let Some(key) = state.queue.pop_front() else {
                break;
            };
            state.queued.remove(&key);
            let reference = reference_of(&key);
            // Deleted while it waited: no pass (kube's controller would skip it too).
            if this.feed.store.get(&reference).is_none() {
                continue;
            }
            state.handed.insert(key);
            return Poll::Ready(Some(reference));
        }
        if this.done && state.queue.is_empty() {
            return Poll::Ready(None);
        }
        state.waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use futures::channel::mpsc;
    use kube::runtime::Controller;
    use kube::runtime::reflector;
    use kube::runtime::watcher::Event;
    use nexus_crd::AuthClient;
    use serde_json::json;
    use tokio::sync::Semaphore;

    use super::*;
    use crate::compact;

    fn client(name: &str, generation: i64) -> CachedAuthClient {
        let client: AuthClient = serde_json::from_value(json!({
            "apiVersion": "auth.nexus.dev/v1alpha1", "kind": "AuthClient",
            "metadata": {"name": name, "namespace": "team-a", "uid": format!("uid-{name}"),
                         "generation": generation, "resourceVersion": format!("{generation}")},
            "spec": {"tenant": "acme", "client": {"name": name, "app_type": "spa"}}
        }))
        .expect("a valid AuthClient");
        CachedAuthClient::new(client)
    }

    type Events = mpsc::UnboundedSender<(Arc<str>, watcher::Result<Event<CachedAuthClient>>)>;

    /// kube's controller fed by [`feed`] as `run_with` runs it: its passes report the
    /// object's name and the generation they read, and end only when the test lets them.
    struct Running {
        events: Events,
        wakes: mpsc::UnboundedSender<ObjectRef<CachedAuthClient>>,
        passes: mpsc::UnboundedReceiver<(String, i64)>,
        gate: Arc<Semaphore>,
        /// Passes started (collected) and passes let end.
        seen: usize,
        given: usize,
        feed: Feed,
        stop: Option<tokio::sync::oneshot::Sender<()>>,
        controller: tokio::task::JoinHandle<()>,
    }

    impl Running {
        fn start(concurrency: u16, capacity: usize, requeue: Option<Duration>) -> Self {
            let (events, events_rx) = mpsc::unbounded();
            let (wakes, wakes_rx) = mpsc::unbounded();
            let (passes_tx, passes) = mpsc::unbounded();
            let gate = Arc::new(Semaphore::new(0));
            let (store, writer) = reflector::store::<CachedAuthClient>();
            let triggers = compact::cache_and_trigger(events_rx, store.clone(), writer);
            let (handed, feed) = super::feed(triggers, wakes_rx, store.clone(), capacity);
            let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
            let ended = feed.clone();
            let reconcile = {
                let gate = gate.clone();
                move |object: Arc<CachedAuthClient>, _: Arc<()>| {
                    let gate = gate.clone();
                    let _ = passes_tx.unbounded_send((
                        object.name_any(),
                        kube::Resource::meta(&*object)
                            .generation
                            .unwrap_or_default(),
                    ));
                    async move {
                        gate.acquire().await.expect("open").forget();
                        Ok::<_, std::io::Error>(match requeue {
                            Some(after) => Action::requeue(after),
                            None => Action::await_change(),
                        })
                    }
                }
            };
            let controller = Controller::for_stream(
                futures::stream::pending::<Result<CachedAuthClient, watcher::Error>>(),
                store,
            )
            .with_config(controller::Config::default().concurrency(concurrency))
            .reconcile_on(handed)
            .graceful_shutdown_on(async move {
                let _ = stopped.await;
            })
            .run(
                feed.starting(reconcile),
                |_, _, _| Action::await_change(),
                Arc::new(()),
            )
            .inspect(move |result| ended.ended(result))
            .for_each(|_| std::future::ready(()));
            let controller = tokio::spawn(controller);
            let _ = events.unbounded_send((Arc::from(crate::eager::ALL), Ok(Event::Init)));
            Self {
                events,
                wakes,
                passes,
                gate,
                seen: 0,
                given: 0,
                feed,
                stop: Some(stop),
                controller,
            }
        }

        fn apply(&self, object: CachedAuthClient) {
            let _ = self
                .events
                .unbounded_send((Arc::from(crate::eager::ALL), Ok(Event::Apply(object))));
        }

        fn delete(&self, object: CachedAuthClient) {
            let _ = self
                .events
                .unbounded_send((Arc::from(crate::eager::ALL), Ok(Event::Delete(object))));
        }

        fn wake(&self, name: &str) {
            let _ = self
                .wakes
                .unbounded_send(ObjectRef::new(name).within("team-a"));
        }

        /// Lets `n` more passes end, then waits until everything that can run has run.
        async fn release(&mut self, n: usize) {
            self.gate.add_permits(n);
            self.given += n;
            settle().await;
        }

        /// The passes started since the last call (name, generation read).
        fn started(&mut self) -> Vec<(String, i64)> {
            let mut started = Vec::new();
            while let Ok(pass) = self.passes.try_recv() {
                started.push(pass);
            }
            self.seen += started.len();
            started
        }

        /// Lets every started pass end until none is left to start; returns the passes
        /// started meanwhile.
        async fn drain(&mut self) -> Vec<(String, i64)> {
            let mut all = Vec::new();
            loop {
                all.extend(self.started());
                let owed = self.seen - self.given;
                if owed == 0 {
                    return all;
                }
                self.release(owed).await;
            }
        }
    }

    async fn settle() {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }

    fn names(passes: &[(String, i64)]) -> Vec<&str> {
        passes.iter().map(|(name, _)| name.as_str()).collect()
    }

    #[tokio::test(start_paused = true)]
    async fn every_triggered_object_gets_one_pass_and_at_most_capacity_wait_in_kube() {
        let mut running = Running::start(2, 4, None);
        for i in 0..50 {
            running.apply(client(&format!("app-{i:02}"), 1));
        }
        settle().await;
        // Two passes run (blocked), four are handed to kube's scheduler, the rest wait here.
        let mut passes = running.started();
        assert_eq!(passes.len(), 2);
        assert_eq!(running.feed.handed(), 4);
        assert_eq!(running.feed.waiting(), 44);
        passes.extend(running.drain().await);
        assert_eq!(running.feed.handed(), 0);
        assert_eq!(running.feed.waiting(), 0);
        passes.sort();
        let expected: Vec<(String, i64)> = (0..50).map(|i| (format!("app-{i:02}"), 1)).collect();
        assert_eq!(passes, expected);
    }

    #[tokio::test(start_paused = true)]
    async fn an_object_changed_while_its_trigger_waits_gets_one_pass_of_its_latest_version() {
        let mut running = Running::start(1, 1, None);
        for name in ["a", "b", "c"] {
            running.apply(client(name, 1));
        }
        settle().await;
        assert_eq!(running.started(), vec![("a".to_owned(), 1)]);
        // b is handed (not started), c waits in the feed: both change twice.
        for generation in [2, 3] {
            running.apply(client("b", generation));
            running.apply(client("c", generation));
            running.wake("b");
            running.wake("c");
        }
        settle().await;
        assert_eq!(running.feed.handed(), 1);
        assert_eq!(running.feed.waiting(), 1);
        let passes = running.drain().await;
        assert_eq!(passes, vec![("b".to_owned(), 3), ("c".to_owned(), 3)]);
        assert_eq!(running.feed.handed(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn with_the_feed_full_a_change_to_a_running_object_still_reaches_its_pass() {
        let mut running = Running::start(1, 1, None);
        for i in 0..20 {
            running.apply(client(&format!("app-{i:02}"), 1));
        }
        settle().await;
        assert_eq!(running.started(), vec![("app-00".to_owned(), 1)]);
        // app-00's pass runs (it read generation 1); it changes, with 18 objects waiting.
        running.apply(client("app-00", 2));
        settle().await;
        assert_eq!(running.feed.waiting(), 19);
        let passes = running.drain().await;
        assert_eq!(passes.len(), 20);
        assert_eq!(passes.last(), Some(&("app-00".to_owned(), 2)));
    }

    #[tokio::test(start_paused = true)]
    async fn duplicate_triggers_of_a_handed_object_leak_no_slot() {
        let mut running = Running::start(1, 2, None);
        for name in ["a", "b", "c"] {
            running.apply(client(name, 1));
        }
        settle().await;
        // One runs (kube picks which of the two handed first), the others are handed: wake
        // all three many times.
        assert_eq!(running.started().len(), 1);
        for _ in 0..5 {
            running.wake("a");
            running.wake("b");
            running.wake("c");
        }
        settle().await;
        assert_eq!(running.feed.handed(), 2);
        assert_eq!(running.feed.waiting(), 1);
        let mut passes = running.drain().await;
        passes.sort();
        // The two handed once each; the running one once more (woken while its pass ran).
        assert_eq!(names(&passes), vec!["a", "b", "c"]);
        assert_eq!(running.feed.handed(), 0);
        // The slots are all free: new objects still get their passes, two handed at a time.
        for i in 0..10 {
            running.apply(client(&format!("new-{i}"), 1));
        }
        settle().await;
        assert_eq!(running.feed.handed(), 2);
        assert_eq!(running.drain().await.len(), 10);
    }

    #[tokio::test(start_paused = true)]
    async fn objects_deleted_before_their_pass_free_their_slots() {
        let mut running = Running::start(1, 1, None);
        for name in ["a", "b", "c"] {
            running.apply(client(name, 1));
        }
        settle().await;
        assert_eq!(running.started().len(), 1);
        // b is handed, c waits: both are deleted before their passes.
        running.delete(client("b", 1));
        running.delete(client("c", 1));
        settle().await;
        assert_eq!(running.drain().await, Vec::new());
        assert_eq!(
            running.feed.handed(),
            0,
            "b's slot freed when kube found it gone"
        );
        assert_eq!(running.feed.waiting(), 0);
        running.apply(client("d", 1));
        settle().await;
        assert_eq!(running.drain().await, vec![("d".to_owned(), 1)]);
    }

    #[tokio::test(start_paused = true)]
    async fn requeues_of_the_controller_merge_without_leaking_a_slot() {
        let mut running = Running::start(1, 1, Some(Duration::from_secs(60)));
        running.apply(client("a", 1));
        settle().await;
        assert_eq!(running.drain().await, vec![("a".to_owned(), 1)]);
        // a is requeued in kube's scheduler for 60 s; a wake now merges with that request.
        running.wake("a");
        settle().await;
        assert_eq!(running.drain().await, vec![("a".to_owned(), 1)]);
        assert_eq!(running.feed.handed(), 0);
        // Its own requeue still comes (60 s after that pass), and others still pass.
        running.apply(client("b", 1));
        settle().await;
        assert_eq!(running.drain().await, vec![("b".to_owned(), 1)]);
        tokio::time::sleep(Duration::from_secs(61)).await;
        let mut later = running.drain().await;
        later.sort();
        assert_eq!(names(&later), vec!["a", "b"]);
        assert_eq!(running.feed.handed(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_shutdown_with_objects_waiting_ends_the_controller() {
        let mut running = Running::start(2, 4, None);
        for i in 0..100 {
            running.apply(client(&format!("app-{i:02}"), 1));
        }
        settle().await;
        assert_eq!(running.started().len(), 2);
        assert_eq!(running.feed.waiting(), 94);
        if let Some(stop) = running.stop.take() {
            let _ = stop.send(());
        }
        // The running passes end; nothing else starts; the controller returns.
        running.release(2).await;
        tokio::time::timeout(Duration::from_secs(10), &mut running.controller)
            .await
            .expect("the controller stops")
            .expect("no panic");
        assert_eq!(running.started(), Vec::new());
    }
}
