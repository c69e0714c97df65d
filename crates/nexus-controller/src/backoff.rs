//! The retry backoff of every watch the controller runs.
//!
//! kube's `default_backoff()` resets its delay on every item the watcher yields, and the
//! watcher yields `Event::Init` before each (re)list. A list that keeps failing (the
//! AuthResourceServer CRD not installed after an upgrade that did not apply it, a namespace the
//! operator may not read) therefore never backs off: it was retried every 0.8 s, forever.
//! [`backoff`] uses the same delays (client-go's: 0.8 s doubling to 30 s, with jitter) but
//! resets them only on an event that carries an object or completes a list.

use std::time::Duration;

use futures::{Stream, StreamExt};
use kube::runtime::utils::Backoff;
use kube::runtime::watcher::{self, DefaultBackoff};

/// `events` with a pause after each error that grows while the errors continue (see the
/// module documentation). A drop-in for kube's `WatchStreamExt::default_backoff`.
pub fn backoff<K, S>(events: S) -> impl Stream<Item = watcher::Result<watcher::Event<K>>> + Send
where
    K: Send + 'static,
    S: Stream<Item = watcher::Result<watcher::Event<K>>> + Send + 'static,
{
    let state = (events.boxed(), DefaultBackoff::default(), None::<Duration>);
    futures::stream::unfold(state, |(mut events, mut delays, pause)| async move {
        if let Some(pause) = pause {
            tokio::time::sleep(pause).await;
        }
        let item = events.next().await?;
        let pause = match &item {
            Err(_) => delays.next(),
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

    fn failure() -> watcher::Result<Event<()>> {
        Err(watcher::Error::NoResourceVersion)
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

    #[tokio::test(start_paused = true)]
    async fn a_list_that_keeps_failing_backs_off_although_each_attempt_starts_with_init() {
        // What a watcher yields for a list that fails ten times: Init, error, Init, error, ...
        let items = (0..10).flat_map(|_| [Ok(Event::Init), failure()]).collect();
        let pauses = pauses(items).await;
        let waited: Duration = pauses.iter().sum();
        // 0.8 + 1.6 + 3.2 + 6.4 + 12.8 + 25.6 + 3 × 30 s without jitter (the reset-on-Init
        // behaviour waited 0.8 s each time: about 7 s in all).
        assert!(waited >= Duration::from_secs(130), "{pauses:?}");
        // The pause after the last measured failure is at the 30 s cap (with up to 100%
        // jitter); the last pause measured follows an Init, which costs no pause.
        let last = pauses[pauses.len() - 2];
        assert!(last >= Duration::from_secs(30), "{pauses:?}");
        assert!(last <= Duration::from_secs(60), "{pauses:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn an_event_with_an_object_resets_the_backoff() {
        let mut items: Vec<_> = (0..6).flat_map(|_| [Ok(Event::Init), failure()]).collect();
        items.extend([
            Ok(Event::Init),
            Ok(Event::InitDone),
            failure(),
            Ok(Event::Init),
        ]);
        let pauses = pauses(items).await;
        // The pause after the failure that follows a completed list is the first delay again.
        let after_reset = pauses[pauses.len() - 1];
        assert!(after_reset <= Duration::from_millis(1600), "{pauses:?}");
        let before_reset = pauses[11];
        assert!(before_reset >= Duration::from_secs(25), "{pauses:?}");
    }
}
