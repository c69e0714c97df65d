//! Heap bytes per object of the caches that grow with the fleet, counted by a counting
//! allocator (shared by `tests/cache_memory.rs`, the regression guard, and
//! `examples/cache_memory.rs`, which prints the figures of docs/scaling.md). The binary that
//! includes this module installs [`Counting`] as its global allocator.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Arc;
use std::sync::atomic::{AtomicIsize, Ordering};

use futures::{FutureExt as _, StreamExt};
use k8s_openapi::api::core::v1::Secret;
use kube::runtime::WatchStreamExt;
use kube::runtime::reflector;
use kube::runtime::watcher::Event;
use nexus_controller::authclient::secret::{Credentials, build_secret};
use nexus_controller::compact::{self, CachedAuthClient};
use nexus_controller::eager;
use nexus_controller::owned_secrets::OwnedSecrets;
use nexus_crd::AuthClient;
use serde_json::json;

/// The system allocator, counting the bytes requested and not yet freed.
pub struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards to the system allocator unchanged.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: the caller's contract, forwarded.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: the caller's contract, forwarded.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        // SAFETY: the caller's contract, forwarded.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// Heap bytes allocated and not yet freed.
pub fn live() -> isize {
    LIVE.load(Ordering::Relaxed)
}

/// A Ready AuthClient as the fleet benchmark creates it (its spec, the defaults the API
/// server adds, the status the operator writes), decoded from JSON text as a watch decodes it
/// (so its strings hold no spare capacity).
pub fn client(i: usize) -> AuthClient {
    let text = serde_json::to_vec(&json!({
        "apiVersion": "auth.nexus.dev/v1alpha1", "kind": "AuthClient",
        "metadata": {
            "name": format!("app-{i:06}"), "namespace": format!("team-{:02}", i % 10),
            "uid": format!("{i:08x}-0000-4000-8000-{i:012x}"),
            "resourceVersion": format!("{}", 100_000 + i),
            "generation": 1, "finalizers": ["auth.nexus.dev/cleanup"],
            "creationTimestamp": "2026-12-01T00:00:00Z"
        },
        "spec": {"tenant": "acme", "client": {
            "name": format!("App {i}"), "app_type": "regular_web",
            "callbacks": [format!("https://app-{i}.example.com/callback")],
            "allowed_logout_urls": [format!("https://app-{i}.example.com/")],
            "client_metadata": {"owners": "alice,bob"}}},
        "status": {
            "observedGeneration": 1, "clientId": "abcdefghijABCDEFGHIJ0123456789ab",
            "tenant": "acme", "secretName": format!("app-{i:06}-auth0"),
            "lastSyncTime": "2026-12-01T00:00:00Z",
            "conditions": [{"type": "Ready", "status": "True", "reason": "Synced",
                "message": "The Auth0 client matches the spec",
                "lastTransitionTime": "2026-12-01T00:00:00Z", "observedGeneration": 1}]}
    }))
    .expect("JSON");
    serde_json::from_slice(&text).expect("a valid AuthClient")
}

/// The Secret the operator writes for [`client`]`(i)`, as the API server returns it.
pub fn owned_secret(i: usize) -> Secret {
    let owner = client(i);
    let credentials = Credentials {
        client_id: "abcdefghijABCDEFGHIJ0123456789ab".into(),
        client_secret: "s".repeat(64),
        domain: "acme.eu.auth0.com".into(),
        issuer_base_url: "https://acme.eu.auth0.com/".into(),
        assertion: None,
    };
    let mut secret = build_secret(&owner, &credentials).expect("builds");
    secret.metadata.uid = Some(format!("{i:08x}-1111-4000-8000-{i:012x}"));
    secret.metadata.resource_version = Some(format!("{}", 200_000 + i));
    secret
}

/// Bytes per AuthClient retained by the AuthClient cache as the controller runs it
/// ([`compact::cache_and_trigger`]: the store, and whatever the trigger stream keeps per
/// object), after an initial list of `n` AuthClients went through it.
pub fn authclient_cache(n: usize) -> isize {
    futures::executor::block_on(async {
        let before = live();
        let (store, writer) = reflector::store::<CachedAuthClient>();
        let all: Arc<str> = Arc::from(eager::ALL);
        let listed = (0..n).map(|i| Ok(Event::InitApply(CachedAuthClient::new(client(i)))));
        let events = futures::stream::iter(
            std::iter::once(Ok(Event::Init))
                .chain(listed)
                .chain(std::iter::once(Ok(Event::InitDone)))
                .map(move |event| (all.clone(), event)),
        );
        let mut triggers = Box::pin(compact::cache_and_trigger(events, store.clone(), writer));
        let mut woken = 0;
        while let Some(object) = triggers.next().await {
            drop(object.expect("no error"));
            woken += 1;
        }
        assert_eq!(woken, n, "every listed AuthClient starts a pass");
        assert_eq!(store.state().len(), n);
        let retained = live() - before;
        drop(triggers);
        drop(store);
        retained / n as isize
    })
}

/// Bytes per AuthClient that kube's `predicate_filter` (what filtered the trigger stream
/// before `compact::mark_wake`) keeps beside the store, for the same objects.
#[allow(dead_code)] // the example prints it; the guard has nothing to bound here
pub fn kube_predicate_cache(n: usize) -> isize {
    futures::executor::block_on(async {
        let before = live();
        let objects = futures::stream::iter(
            (0..n)
                .map(|i| Ok::<_, kube::runtime::watcher::Error>(CachedAuthClient::new(client(i)))),
        );
        let mut filtered =
            Box::pin(objects.predicate_filter(CachedAuthClient::trigger, Default::default()));
        while let Some(object) = filtered.next().await {
            drop(object.expect("no error"));
        }
        let retained = live() - before;
        drop(filtered);
        retained / n as isize
    })
}

/// Bytes per owned Secret retained by the owned-Secret cache (the compact index of
/// `ObservedSecret`s, `nexus_controller::owned_secrets`), after an initial list of `n`
/// Secrets.
pub fn owned_secret_cache(n: usize) -> isize {
    let before = live();
    let cache = OwnedSecrets::default();
    let all = nexus_controller::owned_secrets::ALL;
    cache.apply(all, &Event::Init);
    for i in 0..n {
        let event = nexus_controller::caches::observe_secrets(Event::InitApply(owned_secret(i)));
        cache.apply(all, &event);
    }
    cache.apply(all, &Event::InitDone);
    assert_eq!(cache.len(), n);
    let retained = live() - before;
    drop(cache);
    retained / n as isize
}

/// Bytes per AuthClient waiting in kube's controller scheduler: what each object listed
/// while the controller is busy costs until its pass starts (all of them at once when a
/// fleet is created or the operator restarts: the list is faster than the passes).
#[allow(dead_code)] // the example prints it: kube's, not bounded by the guard
pub fn kube_scheduler(n: usize) -> isize {
    use kube::runtime::controller::{ReconcileReason, ReconcileRequest};
    use kube::runtime::reflector::ObjectRef;
    use kube::runtime::scheduler::ScheduleRequest;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let later = tokio::time::Instant::now() + std::time::Duration::from_secs(3600);
        let references: Vec<ObjectRef<CachedAuthClient>> = (0..n)
            .map(|i| ObjectRef::from_obj(&CachedAuthClient::new(client(i))))
            .collect();
        let before = live();
        let requests = futures::stream::iter(references.iter().map(|reference| ScheduleRequest {
            message: ReconcileRequest {
                obj_ref: reference.clone(),
                reason: ReconcileReason::ObjectUpdated,
            },
            run_at: later,
        }));
        let mut scheduler = Box::pin(kube::runtime::scheduler(requests));
        // One poll takes in every request; none is due for an hour.
        let polled = futures::FutureExt::now_or_never(scheduler.next());
        assert!(
            !matches!(polled, Some(Some(_))),
            "nothing is due: {}",
            polled.is_some()
        );
        let retained = live() - before;
        drop(scheduler);
        retained / n as isize
    })
}

/// Bytes per AuthClient of the AuthClient cache and of the controller's queue together, with
/// every AuthClient of an initial list of `n` triggered and waiting for its pass (what a fleet's
/// creation and every restart look like: the list is faster than the passes), wired as
/// `run_with` wires them: the cache's trigger stream through [`feed::feed`] into kube's
/// controller, 16 passes at a time, each blocked until the count is taken.
pub fn waiting_for_passes(n: usize) -> isize {
    use kube::runtime::Controller;
    use kube::runtime::controller::{Action, Config};
    use nexus_controller::feed;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let before = live();
        let (store, writer) = reflector::store::<CachedAuthClient>();
        let (events, events_rx) = futures::channel::mpsc::unbounded();
        let triggers = compact::cache_and_trigger(events_rx, store.clone(), writer);
        let (handed, passes) = feed::feed(
            triggers,
            futures::stream::pending(),
            store.clone(),
            feed::capacity(16),
        );
        let (started_tx, mut started) = futures::channel::mpsc::unbounded::<()>();
        let (released, release) = futures::future::abortable(std::future::pending::<()>());
        let released = released.shared();
        let ended = passes.clone();
        let controller = Controller::for_stream(
            futures::stream::pending::<Result<CachedAuthClient, kube::runtime::watcher::Error>>(),
            store.clone(),
        )
        .with_config(Config::default().concurrency(16))
        .reconcile_on(handed)
        .run(
            passes.starting(move |_, _: Arc<()>| {
                let _ = started_tx.unbounded_send(());
                let released = released.clone();
                async move {
                    let _ = released.await;
                    Ok::<_, std::io::Error>(Action::await_change())
                }
            }),
            |_, _, _| Action::await_change(),
            Arc::new(()),
        )
        .inspect(move |result| ended.ended(result))
        .for_each(|_| std::future::ready(()));
        let controller = tokio::spawn(controller);
        let all: Arc<str> = Arc::from(eager::ALL);
        let _ = events.unbounded_send((all.clone(), Ok(Event::Init)));
        for i in 0..n {
            let event = Event::InitApply(CachedAuthClient::new(client(i)));
            let _ = events.unbounded_send((all.clone(), Ok(event)));
        }
        for _ in 0..16 {
            started.next().await;
        }
        // Every AuthClient listed, 16 passes running, the others waiting.
        while store.state().len() < n || passes.waiting() + passes.handed() + 16 < n {
            tokio::task::yield_now().await;
        }
        let retained = live() - before;
        release.abort();
        controller.abort();
        let _ = controller.await;
        retained / n as isize
    })
}
