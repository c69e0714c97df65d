//! Prometheus metrics of the facade.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::{counter::Counter, family::Family, histogram::Histogram};
use prometheus_client::registry::Registry;

/// Labels of `nexus_facade_requests_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StatusLabels {
    /// HTTP status code of the answer.
    pub status: String,
}

/// Labels of `nexus_facade_auth_decisions_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DecisionLabels {
    /// `allow`, `unauthenticated` (401), `forbidden` (403), `throttled` (429) or `unavailable`
    /// (503): [`Decision::as_str`].
    pub decision: String,
    /// Machine-readable reason, e.g. `expired`, `wrong_audience`, `tenant_not_bound`.
    pub reason: String,
}

/// An authentication or authorization decision (the `decision` label).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Authenticated and authorized.
    Allow,
    /// No valid credentials (401).
    Unauthenticated,
    /// Authenticated, but not allowed (403; a GET of another caller's client: 404).
    Forbidden,
    /// Too many failed logins (429).
    Throttled,
    /// The facade cannot decide now (503).
    Unavailable,
}

impl Decision {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Allow => "allow",
            Self::Unauthenticated => "unauthenticated",
            Self::Forbidden => "forbidden",
            Self::Throttled => "throttled",
            Self::Unavailable => "unavailable",
        }
    }
}

/// Metrics of the facade; cheap to clone (shared counters).
#[derive(Clone)]
pub struct FacadeMetrics {
    /// Answers by status code.
    pub requests: Family<StatusLabels, Counter>,
    /// Authentication and authorization decisions.
    pub auth_decisions: Family<DecisionLabels, Counter>,
    /// Request duration in seconds (all routes).
    pub request_duration: Histogram,
    /// Argon2 password verifications performed (unknown users included: they are verified
    /// against a decoy hash at the same cost).
    pub password_verifications: Counter,
}

impl Default for FacadeMetrics {
    fn default() -> Self {
        Self {
            requests: Family::default(),
            auth_decisions: Family::default(),
            request_duration: Histogram::new([
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
            ]),
            password_verifications: Counter::default(),
        }
    }
}

impl FacadeMetrics {
    /// Adds the families to `registry`.
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "nexus_facade_requests",
            "Facade answers by HTTP status",
            self.requests.clone(),
        );
        registry.register(
            "nexus_facade_auth_decisions",
            "Facade authentication/authorization decisions",
            self.auth_decisions.clone(),
        );
        registry.register(
            "nexus_facade_request_duration_seconds",
            "Duration of facade requests",
            self.request_duration.clone(),
        );
        registry.register(
            "nexus_facade_password_verifications",
            "Argon2 password verifications performed by the facade",
            self.password_verifications.clone(),
        );
    }

    /// Counts one answer.
    pub fn observe_status(&self, status: u16) {
        self.requests
            .get_or_create(&StatusLabels {
                status: status.to_string(),
            })
            .inc();
    }

    /// Counts one auth decision.
    pub fn observe_decision(&self, decision: Decision, reason: &str) {
        self.auth_decisions
            .get_or_create(&DecisionLabels {
                decision: decision.as_str().to_owned(),
                reason: reason.to_owned(),
            })
            .inc();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_are_exported_with_their_names() {
        let metrics = FacadeMetrics::default();
        let mut registry = Registry::default();
        metrics.register(&mut registry);
        metrics.observe_status(201);
        metrics.observe_decision(Decision::Forbidden, "tenant_not_bound");
        metrics.request_duration.observe(0.01);
        metrics.password_verifications.inc();
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        assert!(
            text.contains("nexus_facade_requests_total{status=\"201\"} 1"),
            "{text}"
        );
        assert!(text.contains(
            "nexus_facade_auth_decisions_total{decision=\"forbidden\",reason=\"tenant_not_bound\"} 1"
        ));
        assert!(text.contains("nexus_facade_request_duration_seconds_count 1"));
        assert!(text.contains("nexus_facade_password_verifications_total 1"));
    }
}
