//! Whether the controller is still doing its job, for the liveness probe (`/healthz`).
//!
//! [`run_with`](crate::run_with) reports to a [`Liveness`]: a heartbeat from the loop that
//! drives every controller, cache and watch (it stops when that loop stops being polled: the
//! controller returned, was dropped, or its task is blocked), and the reconciles in flight and
//! when the last one finished. [`Liveness::check`] turns that into a verdict:
//!
//! * **idle is healthy**: no reconcile in flight, however long ago the last one ran (a
//!   converged fleet does nothing for hours);
//! * **an API-server outage is healthy**: the watches retry with a capped backoff and each
//!   reconcile fails fast (or within the HTTP clients' timeouts), so reconciles keep finishing
//!   and the heartbeat keeps beating. Restarting the process would not bring the API server
//!   back sooner, and the controller resumes by itself when it returns;
//! * **stalled is unhealthy**: the loop's heartbeat is older than [`LivenessLimits::heartbeat`],
//!   or reconciles are in flight and none has finished for [`LivenessLimits::stall`] (longer
//!   than any HTTP client timeout: a reconcile that takes that long is stuck, not slow);
//! * **stopped is unhealthy**: the controller ran and has returned (or was dropped) while the
//!   process lives on.
//!
//! Everything is measured on tokio's clock, so tests can stall a controller on a paused clock.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::time::Instant;

/// How often the controller's loop beats.
pub const BEAT_INTERVAL: Duration = Duration::from_secs(5);

/// When [`Liveness::check`] calls the controller stalled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LivenessLimits {
    /// The loop's heartbeat may be this old (it beats every [`BEAT_INTERVAL`]).
    pub heartbeat: Duration,
    /// With reconciles in flight, the last one may have finished this long ago.
    pub stall: Duration,
}

impl Default for LivenessLimits {
    /// Heartbeat 60 s; stall 10 min (the Kubernetes client's read timeout is 295 s, the
    /// Auth0 client's 10 s per request).
    fn default() -> Self {
        Self {
            heartbeat: Duration::from_secs(60),
            stall: Duration::from_secs(600),
        }
    }
}

/// Why [`Liveness::check`] failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Unhealthy {
    /// The controller ran and has stopped.
    #[error("the controller has stopped")]
    Stopped,
    /// The loop driving the controllers and watches has not run for this long.
    #[error("the controller loop has not run for {0:?}")]
    LoopStalled(Duration),
    /// Reconciles are in flight and none has finished for this long.
    #[error("{in_flight} reconciles in flight and none finished for {since:?}")]
    ReconcilesStalled {
        /// Reconciles running.
        in_flight: usize,
        /// Since the last one finished (or the first started).
        since: Duration,
    },
}

/// The controller's progress, shared with the health endpoint. Cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct Liveness {
    state: Arc<Mutex<State>>,
}

#[derive(Debug, Default)]
struct State {
    /// Set when the controller starts, cleared when it stops.
    running: bool,
    /// The controller ran and stopped.
    stopped: bool,
    last_beat: Option<Instant>,
    in_flight: usize,
    /// The last reconcile's end, or the start of the first of the reconciles in flight.
    last_progress: Option<Instant>,
}

impl Liveness {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// `Ok` while the controller is doing its job or has not started (a standby replica
    /// campaigning for the lease); see the module documentation.
    pub fn check(&self, limits: LivenessLimits) -> Result<(), Unhealthy> {
        let state = self.lock();
        let now = Instant::now();
        if state.stopped {
            return Err(Unhealthy::Stopped);
        }
        if !state.running {
            return Ok(());
        }
        if let Some(beat) = state.last_beat {
            let since = now.saturating_duration_since(beat);
            if since > limits.heartbeat {
                return Err(Unhealthy::LoopStalled(since));
            }
        }
        if state.in_flight > 0
            && let Some(progress) = state.last_progress
        {
            let since = now.saturating_duration_since(progress);
            if since > limits.stall {
                return Err(Unhealthy::ReconcilesStalled {
                    in_flight: state.in_flight,
                    since,
                });
            }
        }
        Ok(())
    }

    /// How many reconciles are in flight.
    pub fn in_flight(&self) -> usize {
        self.lock().in_flight
    }

    /// Marks the controller running until the guard is dropped (then stopped).
    pub(crate) fn running(&self) -> RunningGuard {
        let mut state = self.lock();
        state.running = true;
        state.last_beat = Some(Instant::now());
        drop(state);
        RunningGuard(self.clone())
    }

    /// The loop ran now.
    pub(crate) fn beat(&self) {
        self.lock().last_beat = Some(Instant::now());
    }

    /// A reconcile started; it counts as finished when the guard is dropped (also when it is
    /// cancelled).
    pub(crate) fn reconcile(&self) -> ReconcileGuard {
        let mut state = self.lock();
        if state.in_flight == 0 {
            state.last_progress = Some(Instant::now());
        }
        state.in_flight += 1;
        drop(state);
        ReconcileGuard(self.clone())
    }

    /// Beats every [`BEAT_INTERVAL`] for as long as it is polled.
    pub(crate) async fn heartbeat(&self) {
        let mut interval = tokio::time::interval(BEAT_INTERVAL);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            interval.tick().await;
            self.beat();
        }
    }
}

/// See [`Liveness::running`].
pub(crate) struct RunningGuard(Liveness);

impl Drop for RunningGuard {
    fn drop(&mut self) {
        let mut state = self.0.lock();
        state.running = false;
        state.stopped = true;
    }
}

/// See [`Liveness::reconcile`].
pub(crate) struct ReconcileGuard(Liveness);

impl Drop for ReconcileGuard {
    fn drop(&mut self) {
        let mut state = self.0.lock();
        state.in_flight = state.in_flight.saturating_sub(1);
        state.last_progress = Some(Instant::now());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> LivenessLimits {
        LivenessLimits {
            heartbeat: Duration::from_secs(60),
            stall: Duration::from_secs(600),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn not_started_is_healthy_and_stopped_is_not() {
        let liveness = Liveness::default();
        assert_eq!(liveness.check(limits()), Ok(()));
        let running = liveness.running();
        assert_eq!(liveness.check(limits()), Ok(()));
        drop(running);
        assert_eq!(liveness.check(limits()), Err(Unhealthy::Stopped));
    }

    #[tokio::test(start_paused = true)]
    async fn idle_is_healthy_for_ever_while_the_loop_beats() {
        let liveness = Liveness::default();
        let _running = liveness.running();
        drop(liveness.reconcile());
        let beating = tokio::spawn({
            let liveness = liveness.clone();
            async move { liveness.heartbeat().await }
        });
        tokio::time::sleep(Duration::from_secs(3600)).await;
        assert_eq!(liveness.check(limits()), Ok(()));
        beating.abort();
        tokio::time::sleep(Duration::from_secs(61)).await;
        assert!(matches!(
            liveness.check(limits()),
            Err(Unhealthy::LoopStalled(_))
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn reconciles_that_stop_finishing_are_a_stall_but_slow_progress_is_not() {
        let liveness = Liveness::default();
        let _running = liveness.running();
        let stuck = liveness.reconcile();
        for _ in 0..10 {
            // Others keep finishing now and then: progress.
            tokio::time::sleep(Duration::from_secs(500)).await;
            liveness.beat();
            drop(liveness.reconcile());
            assert_eq!(liveness.check(limits()), Ok(()));
        }
        tokio::time::sleep(Duration::from_secs(601)).await;
        liveness.beat();
        assert_eq!(
            liveness.check(limits()),
            Err(Unhealthy::ReconcilesStalled {
                in_flight: 1,
                since: Duration::from_secs(601)
            })
        );
        drop(stuck);
        assert_eq!(liveness.check(limits()), Ok(()));
    }
}
