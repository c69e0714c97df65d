//! Prometheus metrics of the controller.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::{
    counter::Counter, family::Family, gauge::Gauge, histogram::Histogram,
};
use prometheus_client::registry::Registry;

/// Labels of `nexus_reconciles_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabels {
    /// `ok`, `requeue` (transient error), `failed` (permanent error).
    pub result: String,
}

/// Labels of `nexus_authclients`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ConditionLabels {
    /// `True`, `False` or `Unknown`.
    pub ready: String,
    /// Reason of the Ready condition.
    pub reason: String,
}

/// Metrics of the reconciler.
#[derive(Clone)]
pub struct ControllerMetrics {
    /// Reconciles by result.
    pub reconciles: Family<ResultLabels, Counter>,
    /// Reconcile duration in seconds.
    pub reconcile_duration: Histogram,
    /// AuthClients by Ready status and reason (as last reconciled by this replica).
    pub authclients: Family<ConditionLabels, Gauge>,
    /// AuthResourceServers by Ready status and reason (as last reconciled by this replica).
    pub resource_servers: Family<ConditionLabels, Gauge>,
}

impl Default for ControllerMetrics {
    fn default() -> Self {
        Self {
            reconciles: Family::default(),
            reconcile_duration: Histogram::new([
                0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
            ]),
            authclients: Family::default(),
            resource_servers: Family::default(),
        }
    }
}

impl ControllerMetrics {
    /// Adds the families to `registry`.
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "nexus_reconciles",
            "AuthClient reconciles by result",
            self.reconciles.clone(),
        );
        registry.register(
            "nexus_reconcile_duration_seconds",
            "Duration of one AuthClient reconcile",
            self.reconcile_duration.clone(),
        );
        registry.register(
            "nexus_authclients",
            "AuthClients by Ready status and reason",
            self.authclients.clone(),
        );
        registry.register(
            "nexus_authresourceservers",
            "AuthResourceServers by Ready status and reason",
            self.resource_servers.clone(),
        );
    }
}
