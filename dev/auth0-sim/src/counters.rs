//! Request counters that tests read (and await) to assert how the operator used the API.

use std::collections::BTreeMap;
use std::sync::Mutex;

use tokio::sync::watch;

use super::lock;

/// A snapshot of the counters.
///
/// Keys are `"{METHOD} {route template}"`, for example `POST /api/v2/clients` or
/// `GET /api/v2/clients/{id}`; requests that matched no route are keyed by their raw path.
/// Requests to the `/__sim/` back door are not counted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestCounts {
    by_key: BTreeMap<String, u64>,
    total: u64,
    writes: u64,
    rate_limited: u64,
    injected_errors: u64,
    dropped: u64,
}

impl RequestCounts {
    /// Requests received for one `"{METHOD} {template}"` key (0 when none).
    pub fn get(&self, key: &str) -> u64 {
        self.by_key.get(key).copied().unwrap_or(0)
    }

    /// Every request received.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// `POST`, `PATCH`, `PUT` and `DELETE` requests received on `/api/v2`.
    pub fn writes(&self) -> u64 {
        self.writes
    }

    /// `429` answers sent (by the rate limit or by an injected fault).
    pub fn rate_limited(&self) -> u64 {
        self.rate_limited
    }

    /// Error answers produced by fault injection.
    pub fn injected_errors(&self) -> u64 {
        self.injected_errors
    }

    /// Connections closed without an answer by fault injection.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// All per-key counts, sorted by key.
    pub fn iter(&self) -> impl Iterator<Item = (&str, u64)> {
        self.by_key.iter().map(|(k, v)| (k.as_str(), *v))
    }
}

/// What happened to a request, beyond its arrival.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Answered 429.
    RateLimited,
    /// Answered with an injected error status.
    InjectedError,
    /// Connection dropped by fault injection.
    Dropped,
}

/// The live counters.
#[derive(Debug)]
pub struct Counters {
    inner: Mutex<RequestCounts>,
    changed: watch::Sender<u64>,
}

impl Default for Counters {
    fn default() -> Self {
        Self {
            inner: Mutex::new(RequestCounts::default()),
            changed: watch::channel(0).0,
        }
    }
}

impl Counters {
    /// Records one arrival.
    pub fn record(&self, method: &str, template: &str, management_api: bool) {
        {
            let mut c = lock(&self.inner);
            *c.by_key.entry(format!("{method} {template}")).or_insert(0) += 1;
            c.total += 1;
            if management_api && matches!(method, "POST" | "PATCH" | "PUT" | "DELETE") {
                c.writes += 1;
            }
        }
        self.changed.send_modify(|g| *g += 1);
    }

    /// Records an outcome.
    pub fn outcome(&self, outcome: Outcome) {
        {
            let mut c = lock(&self.inner);
            match outcome {
                Outcome::RateLimited => c.rate_limited += 1,
                Outcome::InjectedError => c.injected_errors += 1,
                Outcome::Dropped => c.dropped += 1,
            }
        }
        self.changed.send_modify(|g| *g += 1);
    }

    /// A snapshot.
    pub fn snapshot(&self) -> RequestCounts {
        lock(&self.inner).clone()
    }

    /// Zeroes everything.
    pub fn reset(&self) {
        *lock(&self.inner) = RequestCounts::default();
        self.changed.send_modify(|g| *g += 1);
    }

    /// Waits until `pred` holds for a snapshot (checked now and after every change).
    pub async fn wait_until(&self, mut pred: impl FnMut(&RequestCounts) -> bool) {
        let mut rx = self.changed.subscribe();
        loop {
            if pred(&self.snapshot()) {
                return;
            }
            // The sender lives as long as `self`, so this only fails if it is gone; stop then.
            if rx.changed().await.is_err() {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_reset() {
        let c = Counters::default();
        c.record("POST", "/api/v2/clients", true);
        c.record("GET", "/api/v2/clients/{id}", true);
        c.record("GET", "/api/v2/clients/{id}", true);
        c.record("POST", "/oauth/token", false);
        c.outcome(Outcome::RateLimited);
        let s = c.snapshot();
        assert_eq!(s.get("POST /api/v2/clients"), 1);
        assert_eq!(s.get("GET /api/v2/clients/{id}"), 2);
        assert_eq!(s.get("DELETE /api/v2/clients/{id}"), 0);
        assert_eq!(s.total(), 4);
        assert_eq!(s.writes(), 1);
        assert_eq!(s.rate_limited(), 1);
        assert_eq!(s.iter().count(), 3);
        c.reset();
        assert_eq!(c.snapshot(), RequestCounts::default());
    }

    #[tokio::test(start_paused = true)]
    async fn wait_until_wakes_on_change() {
        let c = std::sync::Arc::new(Counters::default());
        let c2 = c.clone();
        let waiter = tokio::spawn(async move { c2.wait_until(|s| s.get("GET /x") >= 2).await });
        c.record("GET", "/x", false);
        c.record("GET", "/x", false);
        tokio::time::timeout(std::time::Duration::from_secs(5), waiter)
            .await
            .expect("waiter woke up")
            .expect("waiter did not panic");
    }
}
