//! Prometheus metrics of the Auth0 client.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TenantLabels {
    tenant: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MethodLabels {
    tenant: String,
    method: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    tenant: String,
    method: String,
    status: String,
}

fn duration_histogram() -> Histogram {
    // 5 ms .. ~20 s
    Histogram::new(exponential_buckets(0.005, 2.0, 13))
}

struct Inner {
    requests: Family<RequestLabels, Counter>,
    duration: Family<MethodLabels, Histogram, fn() -> Histogram>,
    waits: Family<TenantLabels, Counter>,
    wait_seconds: Family<TenantLabels, Counter<f64, AtomicU64>>,
    throttled: Family<TenantLabels, Gauge>,
    too_many: Family<TenantLabels, Counter>,
}

/// Metrics of every Auth0 call of the process (cheap to clone; clones share the families).
///
/// Families: `nexus_auth0_requests_total{tenant,method,status}`,
/// `nexus_auth0_request_duration_seconds{tenant,method}`, `nexus_auth0_rate_limit_waits_total{tenant}`,
/// `nexus_auth0_rate_limit_wait_seconds_total{tenant}`, `nexus_auth0_throttled{tenant}` and
/// `nexus_auth0_429_total{tenant}`.
#[derive(Clone)]
pub struct Auth0Metrics {
    inner: Arc<Inner>,
}

impl Default for Auth0Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Auth0Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Auth0Metrics")
    }
}

impl Auth0Metrics {
    /// Creates unregistered families.
    pub fn new() -> Self {
        Auth0Metrics {
            inner: Arc::new(Inner {
                requests: Family::default(),
                duration: Family::new_with_constructor(duration_histogram as fn() -> Histogram),
                waits: Family::default(),
                wait_seconds: Family::default(),
                throttled: Family::default(),
                too_many: Family::default(),
            }),
        }
    }

    /// Registers the families in `registry`.
    pub fn register(&self, registry: &mut Registry) {
        let i = &self.inner;
        registry.register(
            "nexus_auth0_requests",
            "Management API requests by tenant, method and status (\"error\" for transport failures)",
            i.requests.clone(),
        );
        registry.register(
            "nexus_auth0_request_duration_seconds",
            "Management API request latency",
            i.duration.clone(),
        );
        registry.register(
            "nexus_auth0_rate_limit_waits",
            "Management API calls that had to wait for the tenant's rate limiter",
            i.waits.clone(),
        );
        registry.register(
            "nexus_auth0_rate_limit_wait_seconds",
            "Time spent waiting for the tenant's rate limiter",
            i.wait_seconds.clone(),
        );
        registry.register(
            "nexus_auth0_throttled",
            "1 while calls to the tenant are paused after a 429 or an exhausted rate limit",
            i.throttled.clone(),
        );
        registry.register(
            "nexus_auth0_429",
            "429 Too Many Requests answers from the Management API",
            i.too_many.clone(),
        );
    }

    pub(crate) fn observe_request(
        &self,
        tenant: &str,
        method: &str,
        status: &str,
        elapsed: Duration,
    ) {
        self.inner
            .requests
            .get_or_create(&RequestLabels {
                tenant: tenant.to_owned(),
                method: method.to_owned(),
                status: status.to_owned(),
            })
            .inc();
        self.inner
            .duration
            .get_or_create(&MethodLabels {
                tenant: tenant.to_owned(),
                method: method.to_owned(),
            })
            .observe(elapsed.as_secs_f64());
    }

    pub(crate) fn observe_wait(&self, tenant: &str, waited: Duration) {
        let l = TenantLabels {
            tenant: tenant.to_owned(),
        };
        self.inner.waits.get_or_create(&l).inc();
        self.inner
            .wait_seconds
            .get_or_create(&l)
            .inc_by(waited.as_secs_f64());
    }

    pub(crate) fn set_throttled(&self, tenant: &str, on: bool) {
        self.inner
            .throttled
            .get_or_create(&TenantLabels {
                tenant: tenant.to_owned(),
            })
            .set(i64::from(on));
    }

    pub(crate) fn inc_429(&self, tenant: &str) {
        self.inner
            .too_many
            .get_or_create(&TenantLabels {
                tenant: tenant.to_owned(),
            })
            .inc();
    }
}
