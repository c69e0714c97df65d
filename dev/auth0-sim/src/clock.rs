//! The simulator's clock, and how to test against the simulator on tokio's paused clock.
//!
//! Every duration the simulator measures comes from tokio's clock ([`tokio::time::Instant`]):
//! token expiry, the rate-limit bucket, injected latency. The wall-clock values it hands out
//! (`x-ratelimit-reset`, the `iat`/`exp` of management tokens) are the [`SystemTime`] at which
//! the simulator started plus the tokio time elapsed since ([`SimClock::wall`]). On a normal
//! runtime that is the system time; on a paused runtime both move together, by the virtual time.
//!
//! # Testing on paused time
//!
//! A test that starts the simulator in its own runtime can run with
//! `#[tokio::test(start_paused = true)]`: waiting for a rate-limit refill, a `Retry-After`, a
//! token expiry or injected latency then takes no real time, and durations can be asserted
//! exactly. What makes it work, and what to keep:
//!
//! - **One runtime.** Start the simulator (with [`start`](crate::start)) inside the test's
//!   runtime. Tokio advances a paused clock only when every task of the runtime is idle; HTTP
//!   over loopback between two tasks of the same runtime never leaves it idle, because Linux
//!   delivers loopback data within the sending system call, so the peer's socket is readable by
//!   the time the runtime next polls for I/O. (Measured: about 40,000 reqwest requests, one at a
//!   time and 50 at a time, on a paused runtime with another process keeping a core busy
//!   advanced the clock by exactly zero; `loopback_http_does_not_advance_paused_time` in `tests/sim.rs` keeps checking it.)
//!   A simulator on another runtime or thread breaks this: the test's runtime is idle while the
//!   other one works, and its clock jumps to the next timer, typically a request timeout.
//! - **IP literals.** [`SimHandle::base_url`](crate::SimHandle::base_url) is `http://127.0.0.1:PORT`,
//!   so no name is resolved. (A resolution would run on `spawn_blocking`, which holds the paused
//!   clock still while it runs, so it would be safe too, only slower.)
//! - **reqwest and hyper timers are tokio timers.** A request `timeout`, hyper's pool timers and
//!   the client's back-offs all run on the paused clock: a stub that sleeps 3 s behind a client
//!   timeout of 300 ms times out after exactly 300 ms of virtual time, in no real time.
//! - **No `std::time::Instant` or `SystemTime::now()` in assertions.** Use
//!   `tokio::time::Instant` for durations and [`SimHandle::wall_time`](crate::SimHandle::wall_time)
//!   for epoch values the simulator produced.
//! - **Await events, not time.** [`SimHandle::wait_for_counters`](crate::SimHandle::wait_for_counters)
//!   waits for requests to arrive; `tokio::time::sleep` is for letting simulated time pass (a
//!   refill, an expiry), never for "long enough for the other task to get there".
//! - **Blocking work holds the clock.** RSA key generation at start runs on `spawn_blocking`
//!   (the clock does not advance meanwhile); [`SimHandle::rotate_key`](crate::SimHandle::rotate_key)
//!   blocks the runtime thread itself, which is equally safe.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

/// Tokio's clock plus the wall-clock time it started at.
#[derive(Debug, Clone, Copy)]
pub struct SimClock {
    started: Instant,
    started_wall: SystemTime,
}

impl SimClock {
    /// A clock starting now (tokio's now, and the system time).
    pub fn start() -> Self {
        Self {
            started: Instant::now(),
            started_wall: SystemTime::now(),
        }
    }

    /// Tokio's current instant (virtual on a paused runtime).
    pub fn now(&self) -> Instant {
        Instant::now()
    }

    /// The wall-clock time: the start time plus the tokio time elapsed since.
    pub fn wall(&self) -> SystemTime {
        self.started_wall + self.started.elapsed()
    }

    /// [`wall`](Self::wall) as time since the UNIX epoch.
    pub fn since_epoch(&self) -> Duration {
        self.wall().duration_since(UNIX_EPOCH).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn wall_time_follows_the_paused_clock() {
        let clock = SimClock::start();
        let w0 = clock.wall();
        tokio::time::sleep(Duration::from_secs(3600)).await;
        assert_eq!(
            clock.wall().duration_since(w0).expect("forward"),
            Duration::from_secs(3600)
        );
        assert_eq!(clock.now() - clock.started, Duration::from_secs(3600));
    }
}
