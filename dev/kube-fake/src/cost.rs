//! What a request costs: the latency model of a real API server, and the requests counted by
//! verb and resource.
//!
//! A real kube-apiserver answers no request for free: every request passes authentication,
//! authorization and admission and reads or writes etcd (a commit is slower than a read), and a
//! list or watch decodes, converts and encodes every object it returns, so its cost grows with
//! the objects and the bytes. [`CostModel`] charges these as delays (tokio sleeps, so paused-time
//! tests see them as virtual time): a fixed latency per request, more per write, and per object
//! and per KiB of every list response and watch event. The delays are taken outside the store
//! lock, so concurrent requests overlap as they do on a real server.
//!
//! Latency alone does not bound throughput: with enough concurrent writers a latency model
//! serves any number of writes per second, where a real API server on a small machine commits
//! a few hundred. The **write lane** ([`CostModel::write_service`]) models that bound: writes
//! are served one at a time, each occupying the lane for `write_service` plus
//! `write_service_per_thousand` per 1,000 objects stored (a larger etcd and watch cache cost more per
//! commit), so concurrent writers queue. [`CostModel::real_two_cores`] is calibrated to the
//! real API server figures of issue 23 (docs/kube-fake.md, "Cost").
//!
//! [`crate::FakeKube::new`] charges nothing (tests); [`crate::FakeKube::with_cost`] with
//! [`CostModel::default`] or [`CostModel::real_two_cores`] is what the benchmarks use.

use std::collections::BTreeMap;
use std::time::Duration;

use super::RecordedRequest;
use super::path;

/// Delays charged per request, per write, per returned object and per KiB of response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CostModel {
    /// Added before every request is served (authentication, authorization, admission,
    /// storage read). Watches pay it once, when they open.
    pub request_latency: Duration,
    /// Added on top of `request_latency` for every write (POST, PUT, PATCH, DELETE): the etcd
    /// commit.
    pub write_latency: Duration,
    /// Per object a list returns or a watch sends (decoding from storage, conversion, encoding).
    pub per_object: Duration,
    /// Per KiB of every response body and watch event (serialisation and transfer).
    pub per_kib: Duration,
    /// Time each write occupies the write lane, which serves one write at a time (zero: no
    /// lane, writes only pay their latency). Bounds the write throughput at
    /// `1 / write_service` whatever the concurrency.
    pub write_service: Duration,
    /// Added to `write_service` per 1,000 objects stored (of every kind) when the write is
    /// served (per thousand, because the calibrated cost is a fraction of a nanosecond per
    /// object).
    pub write_service_per_thousand: Duration,
}

impl CostModel {
    /// Charges nothing: the fake answers as fast as it can (what tests use).
    pub const FREE: Self = Self {
        request_latency: Duration::ZERO,
        write_latency: Duration::ZERO,
        per_object: Duration::ZERO,
        per_kib: Duration::ZERO,
        write_service: Duration::ZERO,
        write_service_per_thousand: Duration::ZERO,
    };

    /// A kube-apiserver with etcd on a 2-core machine, calibrated to issue 23's measurements
    /// with the operator's fleet (5 writes per AuthClient): 10,000 AuthClients Ready in 103 s
    /// and 100,000 in 1,240 s, i.e. 2.06 ms and 2.48 ms per write. With the lane's time per
    /// write `a + b * stored objects`, and about 2N objects stored on average while N
    /// AuthClients are created (N AuthClients, and up to N Secrets and N Events):
    /// `a + b * 20,000 = 2.06 ms` and `a + b * 200,000 = 2.48 ms`, so `b = 2.333 ns` (2.333 µs
    /// per 1,000) and `a = 2.013 ms`. The latencies are [`CostModel::default`]'s.
    pub const fn real_two_cores() -> Self {
        Self {
            request_latency: Duration::from_millis(2),
            write_latency: Duration::from_millis(3),
            per_object: Duration::from_micros(10),
            per_kib: Duration::from_micros(20),
            write_service: Duration::from_micros(2013),
            write_service_per_thousand: Duration::from_nanos(2_333),
        }
    }

    /// Whether every charge is zero.
    pub fn is_free(&self) -> bool {
        *self == Self::FREE
    }

    /// Whether a request with this method writes.
    pub(crate) fn is_write(&self, method: &str) -> bool {
        matches!(method, "POST" | "PUT" | "PATCH" | "DELETE")
    }

    /// The delay before a request with this method is served.
    pub(crate) fn before(&self, method: &str) -> Duration {
        if self.is_write(method) {
            self.request_latency + self.write_latency
        } else {
            self.request_latency
        }
    }

    /// How long a write occupies the write lane when `stored` objects are stored (zero: no
    /// lane).
    pub(crate) fn lane_time(&self, stored: usize) -> Duration {
        if self.write_service.is_zero() {
            return Duration::ZERO;
        }
        let stored = u64::try_from(stored).unwrap_or(u64::MAX);
        let per_thousand = u64::try_from(self.write_service_per_thousand.as_nanos()).unwrap_or(0);
        self.write_service + Duration::from_nanos(per_thousand.saturating_mul(stored) / 1000)
    }

    /// The delay of sending `objects` objects in `bytes` bytes.
    pub(crate) fn transfer(&self, objects: usize, bytes: usize) -> Duration {
        let objects = u32::try_from(objects).unwrap_or(u32::MAX);
        let kib = u32::try_from(bytes / 1024).unwrap_or(u32::MAX);
        self.per_object.saturating_mul(objects) + self.per_kib.saturating_mul(kib)
    }
}

/// Delays below the timer's resolution (1 ms), carried until they add up to whole
/// milliseconds: a sleep of 10 µs would take a whole millisecond, so the per-object and per-KiB
/// charges are paid in whole milliseconds by whichever request or event crosses one.
#[derive(Debug, Default)]
pub(crate) struct Debt {
    nanos: std::sync::atomic::AtomicU64,
}

impl Debt {
    /// Adds `delay` to the debt and returns the whole milliseconds to sleep now.
    pub(crate) fn charge(&self, delay: Duration) -> Duration {
        use std::sync::atomic::Ordering;
        if delay.is_zero() {
            return Duration::ZERO;
        }
        let add = u64::try_from(delay.as_nanos()).unwrap_or(u64::MAX);
        let mut due = 0;
        let _ = self
            .nanos
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |owed| {
                let total = owed.saturating_add(add);
                due = total / 1_000_000 * 1_000_000;
                Some(total - due)
            });
        Duration::from_nanos(due)
    }
}

impl Default for CostModel {
    /// A kube-apiserver with etcd on the same machine, on loopback: 2 ms per request, 5 ms per
    /// write, 10 µs per object and 20 µs per KiB (about 50 MB/s of JSON) of a response.
    fn default() -> Self {
        Self {
            request_latency: Duration::from_millis(2),
            write_latency: Duration::from_millis(3),
            per_object: Duration::from_micros(10),
            per_kib: Duration::from_micros(20),
            write_service: Duration::ZERO,
            write_service_per_thousand: Duration::ZERO,
        }
    }
}

/// What a request did, as the API server's audit log and metrics name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Verb {
    /// GET of one object.
    Get,
    /// GET of a collection.
    List,
    /// GET of a collection with `watch=true`.
    Watch,
    /// POST.
    Create,
    /// PUT.
    Update,
    /// PATCH other than server-side apply.
    Patch,
    /// PATCH with `application/apply-patch+yaml`.
    Apply,
    /// DELETE of one object.
    Delete,
    /// DELETE of a collection.
    DeleteCollection,
    /// Anything else (discovery, OpenAPI, unknown methods).
    Other,
}

impl Verb {
    /// The verb of a recorded request.
    pub fn of(request: &RecordedRequest) -> Self {
        let parsed = path::parse(&request.path);
        let resource = parsed.is_some();
        let named = parsed.is_some_and(|p| p.name.is_some());
        let watch = matches!(
            request.query.get("watch").map(String::as_str),
            Some("true" | "1")
        );
        let apply = request
            .content_type
            .as_deref()
            .is_some_and(|c| c.starts_with("application/apply-patch"));
        match (request.method.as_str(), named, resource) {
            (_, _, false) => Self::Other,
            ("GET", true, _) => Self::Get,
            ("GET", false, _) if watch => Self::Watch,
            ("GET", false, _) => Self::List,
            ("POST", _, _) => Self::Create,
            ("PUT", _, _) => Self::Update,
            ("PATCH", _, _) if apply => Self::Apply,
            ("PATCH", _, _) => Self::Patch,
            ("DELETE", true, _) => Self::Delete,
            ("DELETE", false, _) => Self::DeleteCollection,
            _ => Self::Other,
        }
    }

    /// Lower-case name (`get`, `list`, `watch`, `create`, `apply`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Get => "get",
            Self::List => "list",
            Self::Watch => "watch",
            Self::Create => "create",
            Self::Update => "update",
            Self::Patch => "patch",
            Self::Apply => "apply",
            Self::Delete => "delete",
            Self::DeleteCollection => "deletecollection",
            Self::Other => "other",
        }
    }

    /// Whether the verb changes state.
    pub fn is_write(self) -> bool {
        matches!(
            self,
            Self::Create
                | Self::Update
                | Self::Patch
                | Self::Apply
                | Self::Delete
                | Self::DeleteCollection
        )
    }
}

impl std::fmt::Display for Verb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The resource of a request path: the plural, with `/subresource` when there is one
/// (`authclients/status`); the path itself for non-resource paths.
pub fn resource_of(request_path: &str) -> String {
    match path::parse(request_path) {
        Some(p) => match p.subresource {
            Some(sub) => format!("{}/{sub}", p.plural),
            None => p.plural,
        },
        None => request_path.to_owned(),
    }
}

/// Requests counted by verb and resource.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestCounts {
    counts: BTreeMap<(Verb, String), usize>,
}

impl RequestCounts {
    /// Counts `requests`.
    pub fn of<'a>(requests: impl IntoIterator<Item = &'a RecordedRequest>) -> Self {
        let mut counts = BTreeMap::new();
        for request in requests {
            *counts
                .entry((Verb::of(request), resource_of(&request.path)))
                .or_insert(0) += 1;
        }
        Self { counts }
    }

    /// Requests with this verb on this resource (`"secrets"`, `"authclients/status"`).
    pub fn get(&self, verb: Verb, resource: &str) -> usize {
        self.counts
            .get(&(verb, resource.to_owned()))
            .copied()
            .unwrap_or(0)
    }

    /// Every request counted.
    pub fn total(&self) -> usize {
        self.counts.values().sum()
    }

    /// Requests that change state.
    pub fn writes(&self) -> usize {
        self.filtered(|verb, _| verb.is_write())
    }

    /// Requests other than watches (a watch is one long request that costs while it is open,
    /// not per event).
    pub fn excluding_watches(&self) -> usize {
        self.filtered(|verb, _| verb != Verb::Watch)
    }

    /// Requests for which `keep(verb, resource)` holds.
    pub fn filtered(&self, keep: impl Fn(Verb, &str) -> bool) -> usize {
        self.counts
            .iter()
            .filter(|((verb, resource), _)| keep(*verb, resource))
            .map(|(_, n)| n)
            .sum()
    }

    /// `(verb, resource, count)`, ordered by verb then resource.
    pub fn iter(&self) -> impl Iterator<Item = (Verb, &str, usize)> {
        self.counts
            .iter()
            .map(|((verb, resource), n)| (*verb, resource.as_str(), *n))
    }

    /// These counts minus `earlier` (counts of a later snapshot minus an earlier one).
    pub fn since(&self, earlier: &RequestCounts) -> RequestCounts {
        let counts = self
            .counts
            .iter()
            .map(|(key, n)| {
                (
                    key.clone(),
                    n.saturating_sub(earlier.counts.get(key).copied().unwrap_or(0)),
                )
            })
            .filter(|(_, n)| *n > 0)
            .collect();
        RequestCounts { counts }
    }
}

impl std::fmt::Display for RequestCounts {
    /// One line per verb and resource: `  apply authclients/status   1000`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (verb, resource, n) in self.iter() {
            writeln!(f, "  {:<40} {n}", format!("{verb} {resource}"))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(
        method: &str,
        path: &str,
        query: &[(&str, &str)],
        content_type: Option<&str>,
    ) -> RecordedRequest {
        RecordedRequest {
            method: method.into(),
            path: path.into(),
            query: query
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            content_type: content_type.map(str::to_owned),
            body: None,
        }
    }

    #[test]
    fn verbs_and_resources_of_requests() {
        let ac = "/apis/auth.nexus.dev/v1alpha1/namespaces/a/authclients";
        let requests = [
            request("GET", ac, &[], None),
            request("GET", ac, &[("watch", "true")], None),
            request("GET", &format!("{ac}/x"), &[], None),
            request(
                "PATCH",
                &format!("{ac}/x/status"),
                &[],
                Some("application/apply-patch+yaml"),
            ),
            request(
                "PATCH",
                &format!("{ac}/x"),
                &[],
                Some("application/json-patch+json"),
            ),
            request(
                "POST",
                "/api/v1/namespaces/a/secrets",
                &[],
                Some("application/json"),
            ),
            request("DELETE", "/api/v1/namespaces/a/secrets/s", &[], None),
            request("GET", "/apis", &[], None),
        ];
        let counts = RequestCounts::of(&requests);
        assert_eq!(counts.get(Verb::List, "authclients"), 1);
        assert_eq!(counts.get(Verb::Watch, "authclients"), 1);
        assert_eq!(counts.get(Verb::Get, "authclients"), 1);
        assert_eq!(counts.get(Verb::Apply, "authclients/status"), 1);
        assert_eq!(counts.get(Verb::Patch, "authclients"), 1);
        assert_eq!(counts.get(Verb::Create, "secrets"), 1);
        assert_eq!(counts.get(Verb::Delete, "secrets"), 1);
        assert_eq!(counts.get(Verb::Other, "/apis"), 1);
        assert_eq!(counts.total(), 8);
        assert_eq!(counts.writes(), 4);
        assert_eq!(counts.excluding_watches(), 7);
        let later = RequestCounts::of(requests.iter().chain(&requests[..1]));
        assert_eq!(later.since(&counts).total(), 1);
        assert_eq!(later.since(&counts).get(Verb::List, "authclients"), 1);
    }

    #[test]
    fn debts_below_a_millisecond_are_carried() {
        let debt = Debt::default();
        let paid: Duration = (0..250)
            .map(|_| debt.charge(Duration::from_micros(10)))
            .sum();
        assert_eq!(paid, Duration::from_millis(2), "2.5 ms owed, 2 paid");
        assert_eq!(
            debt.charge(Duration::from_micros(500)),
            Duration::from_millis(1)
        );
        assert_eq!(
            debt.charge(Duration::from_millis(3)),
            Duration::from_millis(3)
        );
    }

    #[test]
    fn the_calibrated_lane_matches_issue_23s_write_rates() {
        let model = CostModel::real_two_cores();
        // About 2N objects stored on average while N AuthClients are created.
        let at_10k = model.lane_time(20_000).as_secs_f64() * 1000.0;
        let at_100k = model.lane_time(200_000).as_secs_f64() * 1000.0;
        assert!((at_10k - 2.06).abs() < 0.005, "{at_10k}");
        assert!((at_100k - 2.48).abs() < 0.005, "{at_100k}");
        // 5 writes per AuthClient: 103 s for 10,000 and 1,240 s for 100,000.
        assert!((at_10k * 50_000.0 / 1000.0 - 103.0).abs() < 1.0);
        assert!((at_100k * 500_000.0 / 1000.0 - 1240.0).abs() < 5.0);
        assert_eq!(CostModel::default().lane_time(1_000_000), Duration::ZERO);
    }

    #[test]
    fn the_default_model_charges_writes_more_and_grows_with_objects() {
        let model = CostModel::default();
        assert!(model.before("PATCH") > model.before("GET"));
        assert!(model.transfer(1000, 2_000_000) > model.transfer(10, 20_000));
        assert_eq!(CostModel::FREE.before("POST"), Duration::ZERO);
        assert!(CostModel::FREE.is_free() && !model.is_free());
    }
}
