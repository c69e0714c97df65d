//! Memory regression guard (issue 23): the heap bytes each AuthClient and each owned Secret
//! keep in the controller's caches, counted by a counting allocator over 2,000 objects shaped
//! like the fleet benchmark's. Not RSS, not time: the bytes requested and not freed, which
//! only a change of what the caches keep moves. The bounds are the figures measured when the
//! guard was written (docs/scaling.md) plus about 15%, below what each cache kept before
//! issue 23's last round; at 100,000 AuthClients every 100 bytes
//! here are about 10 MiB of the operator's memory.

mod memory;

#[global_allocator]
static ALLOCATOR: memory::Counting = memory::Counting;

const N: usize = 2_000;

#[test]
fn the_caches_keep_a_bounded_number_of_bytes_per_object() {
    let authclient = memory::authclient_cache(N);
    let secret = memory::owned_secret_cache(N);
    println!(
        "AuthClient cache: {authclient} B per AuthClient; owned-Secret cache: {secret} B per Secret"
    );
    assert!(
        authclient <= AUTHCLIENT_BOUND,
        "the AuthClient cache keeps {authclient} bytes per AuthClient (bound {AUTHCLIENT_BOUND})"
    );
    assert!(
        secret <= SECRET_BOUND,
        "the owned-Secret cache keeps {secret} bytes per Secret (bound {SECRET_BOUND})"
    );
}

/// Bytes per AuthClient of the AuthClient cache and its trigger stream: 1,400 measured at
/// 2,000 (1,652 with kube's `predicate_filter` cache beside the store, as before).
const AUTHCLIENT_BOUND: isize = 1_600;
/// Bytes per owned Secret of its cache: 651 measured at 2,000 (979 with an `ObjectMeta`
/// per Secret, as before).
const SECRET_BOUND: isize = 750;
