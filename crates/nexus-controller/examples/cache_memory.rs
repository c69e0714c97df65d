//! Bytes per AuthClient in the controller's AuthClient cache (a kube reflector store of
//! [`CachedAuthClient`]) and per object reference (what kube's scheduler and predicate cache
//! keep per object), counted by a counting allocator over 10,000 Ready AuthClients shaped like
//! the fleet benchmark's (docs/scaling.md):
//!
//! ```text
//! cargo run -p nexus-controller --example cache_memory
//! ```

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

use kube::runtime::reflector::{self, ObjectRef};
use kube::runtime::watcher::Event;
use nexus_controller::compact::CachedAuthClient;
use nexus_crd::AuthClient;
use serde_json::json;

/// The system allocator, counting the bytes requested and not yet freed.
struct Counting;

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
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const N: usize = 10_000;

/// A Ready AuthClient as the fleet benchmark creates it (its spec, the defaults the API
/// server adds, the status the operator writes).
fn client(i: usize) -> AuthClient {
    serde_json::from_value(json!({
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
    .expect("a valid AuthClient")
}

fn live() -> isize {
    LIVE.load(Ordering::Relaxed)
}

fn main() {
    let objects: Vec<AuthClient> = (0..N).map(client).collect();
    let before = live();
    let (store, mut writer) = reflector::store::<CachedAuthClient>();
    for object in &objects {
        writer.apply_watcher_event(&Event::Apply(CachedAuthClient::new(object.clone())));
    }
    println!(
        "AuthClient cache: {} bytes per AuthClient (entry, key and table)",
        (live() - before) / N as isize
    );
    let before = live();
    let references: Vec<ObjectRef<CachedAuthClient>> = store
        .state()
        .iter()
        .map(|c| ObjectRef::from_obj(&**c))
        .collect();
    println!(
        "object reference: {} bytes each",
        (live() - before) / N as isize
    );
    drop(references);
}
