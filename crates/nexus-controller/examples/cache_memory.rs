//! Heap bytes per object of the caches that grow with the fleet, counted by a counting
//! allocator over 10,000 objects shaped like the fleet benchmark's (docs/scaling.md):
//!
//! ```text
//! cargo run -p nexus-controller --example cache_memory
//! ```
//!
//! `tests/cache_memory.rs` asserts bounds on the same figures (2,000 objects).

#[path = "../tests/memory/mod.rs"]
mod memory;

use kube::runtime::reflector::ObjectRef;
use nexus_controller::compact::CachedAuthClient;

#[global_allocator]
static ALLOCATOR: memory::Counting = memory::Counting;

const N: usize = 10_000;

fn main() {
    println!(
        "AuthClient cache (store and trigger stream): {} bytes per AuthClient",
        memory::authclient_cache(N)
    );
    println!(
        "owned-Secret cache: {} bytes per Secret",
        memory::owned_secret_cache(N)
    );
    println!(
        "kube's predicate_filter cache (no longer used): {} bytes per AuthClient",
        memory::kube_predicate_cache(N)
    );
    {
        let before = memory::live();
        let (store, mut writer) = kube::runtime::reflector::store::<CachedAuthClient>();
        for i in 0..N {
            writer.apply_watcher_event(&kube::runtime::watcher::Event::Apply(
                CachedAuthClient::new(memory::client(i)),
            ));
        }
        println!(
            "AuthClient store alone: {} bytes per AuthClient",
            (memory::live() - before) / N as isize
        );
        drop(store);
    }
    println!(
        "kube's controller scheduler: {} bytes per AuthClient waiting for its pass",
        memory::kube_scheduler(N)
    );
    println!(
        "AuthClient cache and controller queue (feed), every AuthClient waiting for its pass: {} bytes per AuthClient",
        memory::waiting_for_passes(N)
    );
    let clients: Vec<CachedAuthClient> = (0..N)
        .map(|i| CachedAuthClient::new(memory::client(i)))
        .collect();
    let before = memory::live();
    let references: Vec<ObjectRef<CachedAuthClient>> =
        clients.iter().map(ObjectRef::from_obj).collect();
    println!(
        "object reference: {} bytes each",
        (memory::live() - before) / N as isize
    );
    drop(references);
    println!(
        "inline sizes: ObjectMeta {} B, CachedAuthClient {} B, ObservedSecret (unpacked) {} B, ObjectRef {} B",
        std::mem::size_of::<k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta>(),
        std::mem::size_of::<CachedAuthClient>(),
        std::mem::size_of::<nexus_controller::authclient::secret::ObservedSecret>(),
        std::mem::size_of::<ObjectRef<CachedAuthClient>>(),
    );
}
