//! The periodic revisit of Ready AuthClients (`ControllerConfig::resync_interval`), spread over
//! the interval.
//!
//! A pass that synced an AuthClient used to return `Action::requeue(resync_interval)`, which
//! kube's controller keeps as a scheduled entry (two copies of the object reference, its delay
//! queue slot and hash entry: about 0.5 KB) until it fires: 100,000 freshly created
//! AuthClients held about 50 MB of scheduler state for an hour. Passes now end with
//! `await_change`, and [`sweep`] wakes the Ready AuthClients instead: each interval is cut
//! into [`SLOTS`] steps, and each step wakes the Ready AuthClients whose name hashes to it, so
//! the scheduler holds at most a step's worth at a time and the revisits (which cost no API
//! request when nothing changed) are spread evenly. AuthClients that are not Ready are not
//! woken: they wait on their backoff, or (invalid spec) for a change of the spec.

use std::collections::hash_map::DefaultHasher;
use std::future::Future;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use kube::runtime::reflector::Store;
use kube::{Resource, ResourceExt};

use crate::Context;
use crate::compact::CachedAuthClient;

/// Steps per resync interval.
pub const SLOTS: u64 = 60;

/// The step (`0..SLOTS`) in which `client` is revisited: a stable hash of its namespace and
/// name.
fn slot(client: &CachedAuthClient) -> u64 {
    let mut hasher = DefaultHasher::new();
    client.namespace().hash(&mut hasher);
    client.name_any().hash(&mut hasher);
    hasher.finish() % SLOTS
}

/// Wakes each Ready AuthClient of `store` once per `ctx.config.resync_interval`, until `stop`
/// completes (see the module documentation).
pub async fn sweep(
    ctx: Arc<Context>,
    store: Store<CachedAuthClient>,
    stop: impl Future<Output = ()> + Send,
) {
    let step = ctx.config.resync_interval / SLOTS as u32;
    let step = step.max(std::time::Duration::from_millis(10));
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + step, step);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(stop);
    let mut current = 0;
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            () = &mut stop => return,
        }
        for client in store.state().iter().filter(|c| {
            c.ready_client_id().is_some()
                && c.meta().deletion_timestamp.is_none()
                && slot(c) == current
        }) {
            ctx.clients.wake(client.reference());
        }
        current = (current + 1) % SLOTS;
    }
}
