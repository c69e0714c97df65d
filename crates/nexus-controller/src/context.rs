//! Shared state of the controller: clients, configuration, metrics, events and the small
//! in-memory bookkeeping (backoff, drift reports) that does not belong in the API.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::reflector::ObjectRef;
use kube::{Resource, ResourceExt};
use serde_json::Value;

use crate::metrics::{ConditionLabels, ControllerMetrics};
use auth0_mgmt::Auth0Registry;
use nexus_crd::{AuthClient, AuthClientStatus};

/// Settings of the controller.
#[derive(Clone, Debug)]
pub struct ControllerConfig {
    /// Identity of this cluster, written into the ownership tag of every Auth0 client.
    pub cluster_id: String,
    /// How often a Ready `AuthClient` is revisited (Kubernetes-side only: no Auth0 call).
    pub resync_interval: Duration,
    /// How often each tenant is scanned for drift with the paged client list.
    pub drift_scan_interval: Duration,
    /// Name reported as the source of events.
    pub controller_name: String,
    /// This replica's identity (pod name) for events.
    pub instance: Option<String>,
    /// Upper bound of the transient-error backoff.
    pub max_backoff: Duration,
    /// AuthClients reconciled at the same time (Auth0 calls are paced by each tenant's limiter
    /// anyway; this bounds how many wait in its queue).
    pub concurrency: u16,
}

impl Default for ControllerConfig {
    fn default() -> Self {
        Self {
            cluster_id: "default".into(),
            resync_interval: Duration::from_secs(3600),
            drift_scan_interval: Duration::from_secs(600),
            controller_name: "nexus-operator".into(),
            instance: None,
            max_backoff: Duration::from_secs(300),
            concurrency: 16,
        }
    }
}

/// What the drift scan found for one `AuthClient`.
#[derive(Clone, Debug)]
pub enum ScanFinding {
    /// The client as listed (only the scanned fields); it differs from the spec.
    Drifted(Value),
    /// The client id was not in the tenant's list.
    Missing,
}

/// Everything a reconcile needs.
pub struct Context {
    /// Kubernetes client.
    pub kube: kube::Client,
    /// Management API clients, one per tenant.
    pub auth0: Auth0Registry,
    /// Settings.
    pub config: ControllerConfig,
    /// Metrics.
    pub metrics: ControllerMetrics,
    recorder: Recorder,
    failures: Mutex<HashMap<String, u32>>,
    findings: Mutex<HashMap<ObjectRef<AuthClient>, ScanFinding>>,
    ready_states: Mutex<HashMap<String, ConditionLabels>>,
    written_status: Mutex<HashMap<String, AuthClientStatus>>,
}

impl Context {
    /// A context for the controller.
    pub fn new(
        kube: kube::Client,
        auth0: Auth0Registry,
        config: ControllerConfig,
        metrics: ControllerMetrics,
    ) -> Self {
        let reporter = Reporter {
            controller: config.controller_name.clone(),
            instance: config.instance.clone(),
        };
        Self {
            recorder: Recorder::new(kube.clone(), reporter),
            kube,
            auth0,
            config,
            metrics,
            failures: Mutex::default(),
            findings: Mutex::default(),
            ready_states: Mutex::default(),
            written_status: Mutex::default(),
        }
    }

    /// Publishes an event about `obj`; failures are logged, never fatal.
    pub async fn event(
        &self,
        obj: &AuthClient,
        type_: EventType,
        reason: &str,
        action: &str,
        note: String,
    ) {
        let event = Event {
            type_,
            reason: reason.into(),
            note: Some(note),
            action: action.into(),
            secondary: None,
        };
        if let Err(error) = self.recorder.publish(&event, &obj.object_ref(&())).await {
            tracing::warn!(%error, object = %obj.name_any(), "could not publish event");
        }
    }

    /// Counts a transient failure of `key` and returns the delay before the next attempt:
    /// 5s doubling up to `max_backoff`, with ±10% jitter.
    pub fn next_backoff(&self, key: &str) -> Duration {
        let attempt = {
            let mut failures = lock(&self.failures);
            let count = failures.entry(key.to_owned()).or_insert(0);
            *count = count.saturating_add(1);
            *count
        };
        let base = Duration::from_secs(5).saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
        let capped = base.min(self.config.max_backoff);
        let jitter = 0.9 + rand::random::<f64>() * 0.2;
        capped.mul_f64(jitter)
    }

    /// Forgets the failures of `key` after a success.
    pub fn reset_backoff(&self, key: &str) {
        lock(&self.failures).remove(key);
    }

    /// Records what the drift scan found; the next reconcile of the object acts on it.
    pub fn record_finding(&self, obj: ObjectRef<AuthClient>, finding: ScanFinding) {
        lock(&self.findings).insert(obj, finding);
    }

    /// Takes the drift-scan finding of an object, if any.
    pub fn take_finding(&self, obj: &ObjectRef<AuthClient>) -> Option<ScanFinding> {
        lock(&self.findings).remove(obj)
    }

    /// Records the status a pass wrote part-way (creation marker, client id), so the end of the
    /// pass compares against what is stored rather than what the pass started from.
    pub fn remember_written_status(&self, key: &str, status: AuthClientStatus) {
        lock(&self.written_status).insert(key.to_owned(), status);
    }

    /// Takes the status recorded by [`Context::remember_written_status`].
    pub fn take_written_status(&self, key: &str) -> Option<AuthClientStatus> {
        lock(&self.written_status).remove(key)
    }

    /// Updates the `nexus_authclients` gauge for `key` (None: the object is gone).
    pub fn set_ready_state(&self, key: &str, state: Option<ConditionLabels>) {
        let mut states = lock(&self.ready_states);
        let previous = match &state {
            Some(state) => states.insert(key.to_owned(), state.clone()),
            None => states.remove(key),
        };
        if previous == state {
            return;
        }
        if let Some(previous) = previous {
            self.metrics.authclients.get_or_create(&previous).dec();
        }
        if let Some(state) = state {
            self.metrics.authclients.get_or_create(&state).inc();
        }
    }
}

/// Locks a mutex, recovering the data if a panicking thread poisoned it (the data here are
/// caches and counters that stay consistent).
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
