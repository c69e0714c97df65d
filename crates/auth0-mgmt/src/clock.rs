//! Time: every duration the client measures or waits for is tokio's ([`tokio::time::Instant`],
//! `tokio::time::sleep`), and the wall clock it needs to read Auth0's epoch-second
//! `x-ratelimit-reset` and HTTP-date `Retry-After` headers is derived from tokio's clock too.
//!
//! [`wall_now`] is the system time read once (on first use), moved by how far tokio's clock is
//! from the monotonic clock read at that moment. On a normal runtime tokio's clock is the
//! monotonic clock, so this is the system time, minus the clock steps (NTP corrections, manual
//! changes) made after the first call: a step cannot turn a one-second wait into an hour. The
//! flip side is that a system clock that is wrong at the first call stays wrong for the process
//! (in a pod the node's clock is synchronised long before the operator starts), and the waits
//! it computes are capped at ten minutes either way.
//! On a paused test runtime it is the system time at which the runtime was paused plus the
//! virtual time since, the same epoch the Auth0 simulator (`auth0-sim`, which derives its wall
//! clock the same way) puts in its headers, so rate-limit waits are virtual too.

use std::sync::OnceLock;
use std::time::SystemTime;

/// The system time and the monotonic time, read together once per process.
static ANCHOR: OnceLock<(SystemTime, std::time::Instant)> = OnceLock::new();

/// The wall-clock time that goes with tokio's current instant (see the module docs).
pub(crate) fn wall_now() -> SystemTime {
    let (wall_at, mono_at) = *ANCHOR.get_or_init(|| (SystemTime::now(), std::time::Instant::now()));
    let now = tokio::time::Instant::now().into_std();
    match now.checked_duration_since(mono_at) {
        Some(ahead) => wall_at + ahead,
        None => wall_at - (mono_at - now),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn follows_the_paused_clock() {
        let w0 = wall_now();
        tokio::time::sleep(Duration::from_secs(90)).await;
        assert_eq!(
            wall_now().duration_since(w0).expect("forward"),
            Duration::from_secs(90)
        );
    }
}
