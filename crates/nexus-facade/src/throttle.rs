//! Failed-login limiting in bounded memory.
//!
//! A [`FailureTable`] counts failed password verifications per key (a username, a source
//! address) in fixed windows. It never holds more than its capacity: keys are stored as 64-bit
//! keyed hashes (so an 8 KiB username costs 8 bytes), and when the table is full, expired
//! entries are dropped first, then the entry with the oldest window. An attacker spraying
//! random usernames or addresses therefore churns the table instead of growing it; the
//! per-address count (IPv6 addresses are counted per /64) and the fixed number of concurrent
//! verifications still bound what the spray costs.
//!
//! Time is tokio's clock, so tests on a paused clock can let windows pass.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// Limits of failed password verifications.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FailureLimits {
    /// Failures one username may have per window before further attempts get 429
    /// (0 disables the per-user limit).
    pub per_user: u32,
    /// Failures one source address (IPv6: its /64) may have per window (0 disables).
    pub per_address: u32,
    /// Length of the window.
    pub window: Duration,
    /// Most keys each table holds (users and addresses have a table each).
    pub capacity: usize,
}

impl Default for FailureLimits {
    fn default() -> Self {
        Self {
            per_user: 5,
            per_address: 20,
            window: Duration::from_secs(60),
            capacity: 4096,
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    window_start: Instant,
    failures: u32,
}

/// Failure counts per key in fixed windows, at most `capacity` keys.
pub struct FailureTable {
    limit: u32,
    window: Duration,
    capacity: usize,
    hasher: std::collections::hash_map::RandomState,
    entries: Mutex<HashMap<u64, Entry>>,
}

impl FailureTable {
    /// A table allowing `limit` failures per `window` (0 = never blocks, records nothing).
    pub fn new(limit: u32, window: Duration, capacity: usize) -> Self {
        Self {
            limit,
            window,
            capacity: capacity.max(1),
            hasher: std::collections::hash_map::RandomState::new(),
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn key(&self, key: &impl Hash) -> u64 {
        self.hasher.hash_one(key)
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Entry>> {
        // The map stays consistent even if a holder panicked (every change is one insert or
        // remove), so a poisoned lock is used as is.
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `Some(time until the window ends)` when `key` used up its failures.
    pub fn blocked(&self, key: &impl Hash) -> Option<Duration> {
        if self.limit == 0 {
            return None;
        }
        let now = Instant::now();
        let hashed = self.key(key);
        let entries = self.entries();
        let entry = entries.get(&hashed)?;
        let ends = entry.window_start + self.window;
        (entry.failures >= self.limit && ends > now).then(|| ends - now)
    }

    /// Counts one failure of `key`.
    pub fn record_failure(&self, key: &impl Hash) {
        if self.limit == 0 {
            return;
        }
        let now = Instant::now();
        let hashed = self.key(key);
        let window = self.window;
        let mut entries = self.entries();
        if !entries.contains_key(&hashed) && entries.len() >= self.capacity {
            entries.retain(|_, e| e.window_start + window > now);
            if entries.len() >= self.capacity
                && let Some(oldest) = entries
                    .iter()
                    .min_by_key(|(_, e)| e.window_start)
                    .map(|(k, _)| *k)
            {
                entries.remove(&oldest);
            }
        }
        let entry = entries.entry(hashed).or_insert(Entry {
            window_start: now,
            failures: 0,
        });
        if entry.window_start + window <= now {
            *entry = Entry {
                window_start: now,
                failures: 0,
            };
        }
        entry.failures = entry.failures.saturating_add(1);
    }

    /// Forgets `key` (a successful login clears its user's failures).
    pub fn forget(&self, key: &impl Hash) {
        let hashed = self.key(key);
        self.entries().remove(&hashed);
    }

    /// Number of keys held (never more than the capacity).
    pub fn len(&self) -> usize {
        self.entries().len()
    }

    /// Whether no key is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The address key of a source: IPv4 as is, IPv6 by its /64 (one host usually owns a whole
/// /64, so counting single IPv6 addresses would not limit anyone).
pub fn address_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let segments = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(
                    segments[0],
                    segments[1],
                    segments[2],
                    segments[3],
                    0,
                    0,
                    0,
                    0,
                ))
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn blocks_after_the_limit_until_the_window_ends() {
        let table = FailureTable::new(3, Duration::from_secs(60), 16);
        for _ in 0..3 {
            assert_eq!(table.blocked(&"mallory"), None);
            table.record_failure(&"mallory");
        }
        assert_eq!(table.blocked(&"mallory"), Some(Duration::from_secs(60)));
        assert_eq!(table.blocked(&"alice"), None, "per key");
        tokio::time::advance(Duration::from_secs(45)).await;
        assert_eq!(table.blocked(&"mallory"), Some(Duration::from_secs(15)));
        tokio::time::advance(Duration::from_secs(15)).await;
        assert_eq!(table.blocked(&"mallory"), None, "a new window");
        table.record_failure(&"mallory");
        assert_eq!(table.blocked(&"mallory"), None, "counted afresh");
        table.forget(&"mallory");
        assert!(table.is_empty());
    }

    /// A spray of distinct keys never grows the table past its capacity.
    #[tokio::test(start_paused = true)]
    async fn memory_is_bounded_under_a_spray() {
        let table = FailureTable::new(5, Duration::from_secs(60), 100);
        for i in 0..10_000u32 {
            table.record_failure(&format!("user-{i}-{}", "x".repeat(512)));
            assert!(table.len() <= 100);
        }
        assert_eq!(table.len(), 100);
        // The most recent keys are kept, the oldest evicted.
        tokio::time::advance(Duration::from_secs(1)).await;
        for _ in 0..4 {
            table.record_failure(&"target");
        }
        assert_eq!(table.blocked(&"target"), None);
        table.record_failure(&"target");
        assert!(table.blocked(&"target").is_some());
    }

    #[test]
    fn zero_disables() {
        let table = FailureTable::new(0, Duration::from_secs(60), 16);
        table.record_failure(&"x");
        assert_eq!(table.blocked(&"x"), None);
        assert!(table.is_empty());
    }

    #[test]
    fn ipv6_is_counted_per_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::2".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(address_key(a), address_key(b));
        assert_ne!(address_key(a), address_key(c));
        let v4: IpAddr = "192.0.2.7".parse().unwrap();
        assert_eq!(address_key(v4), v4);
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(address_key(mapped), v4);
    }
}
