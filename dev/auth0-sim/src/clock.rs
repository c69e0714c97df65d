//! The simulator's clock, and how to test against the simulator on tokio's paused clock.
//!
//! Every duration the simulator measures comes from tokio's clock ([`tokio::time::Instant`]):
//! token expiry, the rate-limit bucket, injected latency. The wall-clock values it hands out
//! (`x-ratelimit-reset`, the `iat`/`exp` of management tokens) come from [`SimClock::wall`]: the
//! [`SystemTime`] read when the simulator started, moved by how far tokio's clock is from the
//! monotonic clock read at the same moment. On a normal runtime tokio's clock *is* the monotonic
//! clock, so this is the system time. On a paused runtime it is the system time at which the
//! runtime's clock was paused plus the virtual time elapsed since: a wall clock that moves with
//! the paused clock, and that agrees with every other clock in the process derived the same way
//! (the Auth0 client in `auth0-mgmt` derives its own like this, so both sides of a paused test
//! read the same epoch second, however long key generation or a busy machine took in real time).
//! Not covered: the HTTP `Date` header, which hyper writes from the system time (nothing in this
//! project reads it).
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

/// Tokio's clock, and a wall clock derived from it.
#[derive(Debug, Clone, Copy)]
pub struct SimClock {
    /// The system time and the monotonic time, read together.
    wall_at: SystemTime,
    mono_at: std::time::Instant,
}

impl SimClock {
    /// A clock anchored now.
    pub fn start() -> Self {
        Self {
            wall_at: SystemTime::now(),
            mono_at: std::time::Instant::now(),
        }
    }

    /// Tokio's current instant (virtual on a paused runtime).
    pub fn now(&self) -> Instant {
        Instant::now()
    }

    /// The wall-clock time that goes with tokio's current instant (see the module docs).
    pub fn wall(&self) -> SystemTime {
        let now = Instant::now().into_std();
        match now.checked_duration_since(self.mono_at) {
            Some(ahead) => self.wall_at + ahead,
            None => self.wall_at - (self.mono_at - now),
        }
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
    }

    #[tokio::test(start_paused = true)]
    async fn clocks_anchored_at_different_real_times_agree() {
        let first = SimClock::start();
        // Real time passes, virtual time does not (like generating a key at start).
        std::thread::sleep(Duration::from_millis(20));
        let second = SimClock::start();
        let (a, b) = (first.wall(), second.wall());
        let skew = a.duration_since(b).unwrap_or_else(|e| e.duration());
        assert!(skew < Duration::from_millis(1), "{skew:?}");
    }

    #[test]
    fn on_a_running_clock_it_is_the_system_time() {
        let clock = SimClock::start();
        let (before, wall, after) = (SystemTime::now(), clock.wall(), SystemTime::now());
        let slack = Duration::from_millis(50); // monotonic and system clocks may drift a little
        assert!(wall + slack >= before && wall <= after + slack);
    }
}
