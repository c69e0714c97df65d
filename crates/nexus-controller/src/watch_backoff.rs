//! The retry backoff of every watch the controller runs.
//!
//! kube's `default_backoff()` resets its delay on every item the watcher yields, and the
//! watcher yields `Event::Init` before each (re)list. A list that keeps failing (the
//! AuthResourceServer CRD not installed after an upgrade that did not apply it, a namespace the
//! operator may not read) therefore never backs off: it was retried every 0.8 s, forever.
//! [`backoff`] resets its delays only on an event that carries an object or completes a list.
//!
//! How far the delays grow depends on what failed (see [`Failure`]):
//!
//! * The API server refused the request for good reasons of its own (`404`: the kind is not
//!   served; `403`: RBAC; other `4xx` but `408`/`429`): nothing will change until someone
//!   installs a CRD or grants a Role, so the pause grows from 0.8 s to 30 s (client-go's
//!   reflector delays), a list every 30 to 37.5 s.
//! * The API server could not be reached or failed (connection refused or reset, timeouts,
//!   `5xx`, `429`): an outage that ends by itself. The pause grows from 0.8 s to only 8 s, so
//!   the watches resume within 10 s of the API server's return, however long the outage
//!   lasted, for at most one request per watch every 8 s meanwhile.
//!
//! Each pause is the delay times a random factor in `[1, 1.25)`, so that the watches of many
//! replicas (and the many watches of one) do not retry in lock step.

use std::time::Duration;

use futures::{Stream, StreamExt};
use kube::runtime::watcher;

/// First pause after an error.
pub const FIRST_DELAY: Duration = Duration::from_millis(800);
/// Longest pause while the API server is unreachable or failing ([`Failure::Outage`]).
pub const OUTAGE_MAX_DELAY: Duration = Duration::from_secs(8);
/// Longest pause while the API server refuses the request ([`Failure::Refused`]).
pub const REFUSED_MAX_DELAY: Duration = Duration::from_secs(30);
/// Largest extra share of a pause added at random.
const JITTER: f64 = 0.25;

/// What kind of failure a watch error is, which decides how far its backoff grows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// The API server is unreachable, overloaded or failing: it ends by itself.
    Outage,
    /// The API server answered a refusal retrying will not fix soon (404, 403, 4xx).
    Refused,
}

impl Failure {
    /// Classifies a watcher error.
    pub fn of(error: &watcher::Error) -> Self {
        let source = match error {
            watcher::Error::InitialListFailed(e)
            | watcher::Error::WatchStartFailed(e)
            | watcher::Error::WatchFailed(e) => e,
            watcher::Error::WatchError(status) => return Self::of_code(status.code),
            watcher::Error::NoResourceVersion => return Self::Outage,
        };
        match source {
            kube::Error::Api(status) => Self::of_code(status.code),
            _ => Self::Outage,
        }
    }

    fn of_code(code: u16) -> Self {
        match code {
            408 | 429 | 500.. => Self::Outage,
            400..=499 => Self::Refused,
            _ => Self::Outage,
        }
    }

    fn max_delay(self) -> Duration {
        match self {
            Self::Outage => OUTAGE_MAX_DELAY,
            Self::Refused => REFUSED_MAX_DELAY,
        }
    }
}

/// The pauses between attempts: [`FIRST_DELAY`] doubling up to the cap of the last failure's
/// kind, with jitter.
#[derive(Debug, Default)]
struct Delays {
    /// Failures since the last reset.
    failures: u32,
}

impl Delays {
    fn next(&mut self, failure: Failure) -> Duration {
        let doubled = FIRST_DELAY.saturating_mul(1 << self.failures.min(16));
        self.failures = self.failures.saturating_add(1);
        doubled
            .min(failure.max_delay())
            .mul_f64(1.0 + rand::random::<f64>() * JITTER)
    }

    fn reset(&mut self) {
        self.failures = 0;
    }
}

/// `events` with a pause after each error that grows while the errors continue (see the
/// module documentation). A drop-in for kube's `WatchStreamExt::default_backoff`.
pub fn backoff<K, S>(events: S) -> impl Stream<Item = watcher::Result<watcher::Event<K>>> + Send
where
    K: Send + 'static,
    S: Stream<Item = watcher::Result<watcher::Event<K>>> + Send + 'static,
{
    let state = (events.boxed(), Delays::default(), None::<Duration>);
    futures::stream::unfold(state, |(mut events, mut delays, pause)| async move {
        if let Some(pause) = pause {
            tokio::time::sleep(pause).await;
        }
        let item = events.next().await?;
        let pause = match &item {
            Err(error) => Some(delays.next(Failure::of(error))),
            // The start of a (re)list says nothing about whether the list works.
            Ok(watcher::Event::Init) => None,
            Ok(_) => {
                delays.reset();
                None
            }
        };
        Some((item, (events, delays, pause)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::channel::mpsc;
    use kube::runtime::watcher::Event;
    use tokio::time::Instant;

    fn status(code: u16) -> kube::Error {
        kube::Error::Api(Box::new(kube::core::Status {
            code,
            ..kube::core::Status::default()
        }))
    }

    /// A list the API server refuses: the kind is not served.
    fn refused() -> watcher::Result<Event<()>> {
        Err(watcher::Error::InitialListFailed(status(404)))
    }

    /// A list that fails because the API server is down or failing.
    fn outage() -> watcher::Result<Event<()>> {
        Err(watcher::Error::InitialListFailed(status(503)))
    }

    /// Feeds `items` one at a time, as soon as the backoff asks for the next, and returns the
    /// virtual time between each item being yielded and the next being asked for.
    async fn pauses(items: Vec<watcher::Result<Event<()>>>) -> Vec<Duration> {
        let (tx, rx) = mpsc::unbounded();
        for item in items {
            tx.unbounded_send(item).expect("receiver alive");
        }
        drop(tx);
        let stream = backoff(rx);
        tokio::pin!(stream);
        let mut yielded = Vec::new();
        while stream.next().await.is_some() {
            yielded.push(Instant::now());
        }
        yielded.windows(2).map(|w| w[1] - w[0]).collect()
    }

    #[test]
    fn errors_are_classified() {
        use watcher::Error as E;
        assert_eq!(
            Failure::of(&E::InitialListFailed(status(404))),
            Failure::Refused
        );
        assert_eq!(
            Failure::of(&E::WatchStartFailed(status(403))),
            Failure::Refused
        );
        assert_eq!(
            Failure::of(&E::InitialListFailed(status(503))),
            Failure::Outage
        );
        assert_eq!(
            Failure::of(&E::InitialListFailed(status(429))),
            Failure::Outage
        );
        assert_eq!(Failure::of(&E::NoResourceVersion), Failure::Outage);
        let unreachable = kube::Error::Service(Box::new(std::io::Error::from(
            std::io::ErrorKind::ConnectionRefused,
        )));
        assert_eq!(Failure::of(&E::WatchFailed(unreachable)), Failure::Outage);
    }

    #[tokio::test(start_paused = true)]
    async fn a_list_that_keeps_failing_backs_off_although_each_attempt_starts_with_init() {
        // What a watcher yields for a list that fails ten times: Init, error, Init, error, ...
        let items = (0..10).flat_map(|_| [Ok(Event::Init), refused()]).collect();
        let pauses = pauses(items).await;
        let waited: Duration = pauses.iter().sum();
        // 0.8 + 1.6 + 3.2 + 6.4 + 12.8 + 25.6 + 3 × 30 s without jitter (the reset-on-Init
        // behaviour waited 0.8 s each time: about 7 s in all).
        assert!(waited >= Duration::from_secs(130), "{pauses:?}");
        // The pause after the last measured failure is at the 30 s cap (with its jitter); the
        // last pause measured follows an Init, which costs no pause.
        let last = pauses[pauses.len() - 2];
        assert!(last >= Duration::from_secs(30), "{pauses:?}");
        assert!(last < Duration::from_millis(37_500), "{pauses:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn an_outage_backs_off_to_8_seconds_only() {
        let items = (0..12).flat_map(|_| [Ok(Event::Init), outage()]).collect();
        let pauses = pauses(items).await;
        let after_errors: Vec<Duration> = pauses.iter().copied().skip(1).step_by(2).collect();
        // 0.8, 1.6, 3.2, 6.4, then the cap: a watch retries within 10 s of the API server's
        // return, however long it was away.
        assert!(after_errors[3] >= Duration::from_millis(6400), "{pauses:?}");
        for pause in &after_errors[4..] {
            assert!(*pause >= OUTAGE_MAX_DELAY, "{pauses:?}");
            assert!(*pause < Duration::from_secs(10), "{pauses:?}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn an_event_with_an_object_resets_the_backoff() {
        let mut items: Vec<_> = (0..6).flat_map(|_| [Ok(Event::Init), refused()]).collect();
        items.extend([
            Ok(Event::Init),
            Ok(Event::InitDone),
            refused(),
            Ok(Event::Init),
        ]);
        let pauses = pauses(items).await;
        // The pause after the failure that follows a completed list is the first delay again.
        let after_reset = pauses[pauses.len() - 1];
        assert!(after_reset <= Duration::from_millis(1000), "{pauses:?}");
        let before_reset = pauses[11];
        assert!(before_reset >= Duration::from_secs(25), "{pauses:?}");
    }
}
