//! Tests on tokio's paused clock (`#[tokio::test(start_paused = true)]`).
//!
//! A paused runtime moves its clock only when every task is idle, and then straight to the next
//! timer: back-offs, rate-limit refills, requeues and timeouts cost no real time, and how long
//! something took in virtual time can be asserted exactly, however busy the machine is. It works
//! for everything in-process on the test's runtime: the controller, the facade, `FakeKube`
//! (in-process or served on loopback) and the Auth0 simulator (see `auth0_sim::clock` for why
//! loopback HTTP within one runtime never lets the clock jump). Two helpers go with it:
//!
//! - [`settle`]: a barrier "until everything that can run now has run", for asserting that
//!   something did *not* happen (no write, no request) after a trigger that leaves no trace of its
//!   own to await.
//! - [`Watchdog`]: the guard against a hang that virtual-time timeouts cannot give. A test whose
//!   tasks never go idle (a reconcile that feeds on its own writes, a busy loop) never lets the
//!   virtual clock reach its timeout; the watchdog ends the test binary after a generous amount of
//!   real time instead of letting it hang.

use std::sync::mpsc;
use std::time::Duration;

/// Returns once the runtime has been idle: every task that was runnable, and every task those
/// woke, has run until it waits on a timer, a channel or I/O.
///
/// Only meaningful on a paused clock, where it costs no real time: the 1 ms timer it waits for
/// fires only when the runtime has nothing else to do (timers due before it fire first, with
/// their consequences). Use it after a trigger whose effect must be *absent* (or which has no
/// observable event to await), then assert on counts. Where an event can be awaited
/// (`FakeKube::wait_until`, `SimHandle::wait_for_counters`), await it instead.
pub async fn settle() {
    tokio::time::sleep(Duration::from_millis(1)).await;
}

/// Ends the test process (exit code 101, with a message naming the test) when the test holding
/// it still runs after `limit` of real time. Dropping it disarms it.
///
/// For tests on a paused clock, whose own timeouts are virtual: they fire when the awaited thing
/// never happens, but not when the runtime never goes idle (a livelock), because then the
/// virtual clock stands still. Pick a limit far above the test's real duration on a busy
/// machine; it is a guard, never the thing under test.
#[must_use = "the watchdog is disarmed when dropped"]
pub struct Watchdog {
    _disarm: mpsc::Sender<()>,
}

impl Watchdog {
    /// Arms a watchdog for the current test (named after the current thread, which libtest
    /// names after the test).
    pub fn arm(limit: Duration) -> Self {
        let name = std::thread::current().name().unwrap_or("a test").to_owned();
        let (disarm, disarmed) = mpsc::channel::<()>();
        std::thread::Builder::new()
            .name(format!("watchdog {name}"))
            .spawn(move || {
                if let Err(mpsc::RecvTimeoutError::Timeout) = disarmed.recv_timeout(limit) {
                    eprintln!(
                        "watchdog: {name} still running after {limit:?} of real time \
                         (its tasks never went idle on the paused clock?); ending the test process"
                    );
                    std::process::exit(101);
                }
            })
            .expect("spawn the watchdog thread");
        Self { _disarm: disarm }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn settle_returns_after_every_runnable_task_ran() {
        let done = Arc::new(AtomicUsize::new(0));
        for _ in 0..10 {
            let done = done.clone();
            tokio::spawn(async move {
                // A chain of wake-ups without timers: all of it runs before the runtime idles.
                for _ in 0..100 {
                    tokio::task::yield_now().await;
                }
                done.fetch_add(1, Ordering::SeqCst);
            });
        }
        let start = tokio::time::Instant::now();
        settle().await;
        assert_eq!(done.load(Ordering::SeqCst), 10);
        assert_eq!(start.elapsed(), Duration::from_millis(1));
    }
}
