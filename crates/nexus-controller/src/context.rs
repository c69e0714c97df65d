//! Shared state of the controller: clients, configuration, metrics, caches, events, the
//! channels that let one reconciler wake another, and the small in-memory bookkeeping
//! (backoff, drift-scan findings) that does not belong in the API.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::channel::mpsc;
use k8s_openapi::jiff::Timestamp;
use kube::runtime::events::{Event, EventType, Reporter};
use kube::runtime::reflector::ObjectRef;
use kube::{Resource, ResourceExt};

use crate::caches::Caches;
use crate::events::EventPublisher;
use crate::locking::lock;
use crate::metrics::{ConditionLabels, ControllerMetrics};
use auth0_mgmt::{Auth0Client, Auth0Registry, ClientGrant, ResourceServer};
use nexus_crd::{AuthClient, AuthResourceServer, AuthTenant};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;

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
    /// First delay of the transient-error backoff (doubled per failure).
    pub base_backoff: Duration,
    /// Upper bound of the transient-error backoff.
    pub max_backoff: Duration,
    /// AuthClients reconciled at the same time (Auth0 calls are paced by each tenant's limiter
    /// anyway; this bounds how many wait in its queue).
    pub concurrency: u16,
    /// Where an AuthClient pass reads `now` (status times, key rotation and overlap deadlines).
    pub clock: Clock,
}

/// The wall clock of the AuthClient passes.
#[derive(Clone, Copy, Debug, Default)]
pub enum Clock {
    /// The system clock.
    #[default]
    System,
    /// Tokio's clock counted from a wall-clock origin: on a paused runtime (tests) it moves
    /// only when the runtime's clock does, so a test advances time instead of editing status.
    Tokio {
        /// The wall time at `at`.
        origin: Timestamp,
        /// Tokio's instant of `origin`.
        at: tokio::time::Instant,
    },
}

impl Clock {
    /// Tokio's clock, starting now.
    pub fn tokio() -> Self {
        Self::Tokio {
            origin: Timestamp::now(),
            at: tokio::time::Instant::now(),
        }
    }

    /// Now.
    pub fn now(&self) -> Timestamp {
        match *self {
            Clock::System => Timestamp::now(),
            Clock::Tokio { origin, at } => {
                k8s_openapi::jiff::SignedDuration::try_from(at.elapsed())
                    .ok()
                    .and_then(|d| origin.checked_add(d).ok())
                    .unwrap_or(origin)
            }
        }
    }
}

impl Default for ControllerConfig {
    fn default() -> Self {
        Self {
            cluster_id: "default".into(),
            resync_interval: Duration::from_secs(3600),
            drift_scan_interval: Duration::from_secs(600),
            controller_name: "nexus-operator".into(),
            instance: None,
            base_backoff: Duration::from_secs(5),
            max_backoff: Duration::from_secs(300),
            concurrency: 16,
            clock: Clock::System,
        }
    }
}

/// What the drift scan found about an object whose Auth0 counterpart is a `T`.
#[derive(Clone, Debug, PartialEq)]
pub enum Finding<T> {
    /// As listed (only the scanned fields); it differs from the spec.
    Drifted(Box<T>),
    /// The recorded id was not in the tenant's list.
    Missing,
}

/// What the drift scan found for one `AuthClient`.
pub type ScanFinding = Finding<Auth0Client>;

/// What the drift scan found for one `AuthResourceServer`.
pub type ServerFinding = Finding<ResourceServer>;

/// What the drift scan (or an API's change) found about an `AuthClient`'s grants and
/// connections.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AccessFinding {
    /// The client's grants as the scan listed them (they differ from its status).
    pub grants: Option<Vec<ClientGrant>>,
    /// Read the client's grants from Auth0 on the next pass (an API it grants to was created
    /// again, so Auth0 dropped the grants with the old one).
    pub recheck_grants: bool,
    /// Connections of `status.connections` the client is no longer enabled on.
    pub disabled_connections: Vec<String>,
}

impl AccessFinding {
    /// Whether the finding says anything.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// The sender that wakes the AuthTenant reconciler, and the receivers of every kind until
/// [`crate::run`] takes them.
struct Triggers {
    tenants: mpsc::UnboundedSender<ObjectRef<AuthTenant>>,
    receivers: Mutex<Option<TriggerReceivers>>,
}

/// The receiving ends of the trigger channels.
pub(crate) struct TriggerReceivers {
    pub clients: mpsc::UnboundedReceiver<ObjectRef<AuthClient>>,
    pub tenants: mpsc::UnboundedReceiver<ObjectRef<AuthTenant>>,
    pub servers: mpsc::UnboundedReceiver<ObjectRef<AuthResourceServer>>,
}

/// The Ready state of each object (`namespace/name`), for the gauges. The few distinct states
/// are shared, so 10,000 objects hold 10,000 keys and pointers, not 20,000 more strings.
#[derive(Default)]
struct ReadyStates {
    by_object: HashMap<Box<str>, Arc<ConditionLabels>>,
    distinct: HashSet<Arc<ConditionLabels>>,
}

impl ReadyStates {
    /// Records `state` for `key`; returns the previous state and the new one.
    fn set(
        &mut self,
        key: &str,
        state: Option<ConditionLabels>,
    ) -> (Option<Arc<ConditionLabels>>, Option<Arc<ConditionLabels>>) {
        match state {
            Some(state) => {
                let shared = match self.distinct.get(&state) {
                    Some(shared) => shared.clone(),
                    None => {
                        let shared = Arc::new(state);
                        self.distinct.insert(shared.clone());
                        shared
                    }
                };
                let previous = self.by_object.insert(key.into(), shared.clone());
                (previous, Some(shared))
            }
            None => (self.by_object.remove(key), None),
        }
    }
}

/// What the context keeps for one reconciled kind `K`: the channel that wakes its
/// reconciler, what the drift scan found (`F`), the Ready state of each object behind the
/// kind's gauge, and the objects waiting for their tenant's credentials.
pub struct PerKind<K: Resource<DynamicType = ()>, F> {
    wake: mpsc::UnboundedSender<ObjectRef<K>>,
    tenants: mpsc::UnboundedSender<ObjectRef<AuthTenant>>,
    gauge: Family<ConditionLabels, Gauge>,
    findings: Mutex<HashMap<ObjectRef<K>, F>>,
    ready_states: Mutex<ReadyStates>,
    waiting_for_tenant: Mutex<HashMap<String, HashSet<ObjectRef<K>>>>,
}

impl<K: Resource<DynamicType = ()>, F> PerKind<K, F> {
    fn new(
        wake: mpsc::UnboundedSender<ObjectRef<K>>,
        tenants: mpsc::UnboundedSender<ObjectRef<AuthTenant>>,
        gauge: Family<ConditionLabels, Gauge>,
    ) -> Self {
        Self {
            wake,
            tenants,
            gauge,
            findings: Mutex::default(),
            ready_states: Mutex::default(),
            waiting_for_tenant: Mutex::default(),
        }
    }

    /// Asks the kind's controller to reconcile `obj`.
    pub fn wake(&self, obj: ObjectRef<K>) {
        if self.wake.unbounded_send(obj).is_err() {
            tracing::debug!(kind = %K::kind(&()), "controller stopped; wake-up dropped");
        }
    }

    /// Records that `obj` failed on `tenant`'s credentials and waits for the tenant: the
    /// tenant reconciler checks the credentials and wakes the object once they work.
    pub fn wait_for_tenant(&self, tenant: &str, obj: ObjectRef<K>) {
        lock(&self.waiting_for_tenant)
            .entry(tenant.to_owned())
            .or_default()
            .insert(obj);
        if self.tenants.unbounded_send(ObjectRef::new(tenant)).is_err() {
            tracing::debug!("AuthTenant controller stopped; wake-up dropped");
        }
    }

    /// Takes the objects waiting for `tenant` (see [`PerKind::wait_for_tenant`]).
    pub fn take_waiting(&self, tenant: &str) -> Vec<ObjectRef<K>> {
        lock(&self.waiting_for_tenant)
            .remove(tenant)
            .map(|set| set.into_iter().collect())
            .unwrap_or_default()
    }

    /// Records what the drift scan found; the next reconcile of the object acts on it.
    pub fn record_finding(&self, obj: ObjectRef<K>, finding: F) {
        lock(&self.findings).insert(obj, finding);
    }

    /// Takes the drift-scan finding of an object, if any.
    pub fn take_finding(&self, obj: &ObjectRef<K>) -> Option<F> {
        lock(&self.findings).remove(obj)
    }

    /// Updates the kind's gauge (`nexus_authclients`, `nexus_authresourceservers`) for `key`
    /// (None: the object is gone).
    pub fn set_ready_state(&self, key: &str, state: Option<ConditionLabels>) {
        let mut states = lock(&self.ready_states);
        let (previous, state) = states.set(key, state);
        if previous == state {
            return;
        }
        if let Some(previous) = previous {
            self.gauge.get_or_create(&*previous).dec();
        }
        if let Some(state) = state {
            self.gauge.get_or_create(&*state).inc();
        }
    }
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
    /// What the reconcilers read instead of the API server.
    pub caches: Caches,
    /// The AuthClients' wake-ups, drift findings, Ready states and tenant waits.
    pub clients: PerKind<AuthClient, ScanFinding>,
    /// The AuthResourceServers' wake-ups, drift findings, Ready states and tenant waits.
    pub servers: PerKind<AuthResourceServer, ServerFinding>,
    events: EventPublisher,
    triggers: Triggers,
    failures: Mutex<HashMap<String, u32>>,
    access_findings: Mutex<HashMap<ObjectRef<AuthClient>, AccessFinding>>,
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
        let (clients_tx, clients_rx) = mpsc::unbounded();
        let (tenants_tx, tenants_rx) = mpsc::unbounded();
        let (servers_tx, servers_rx) = mpsc::unbounded();
        Self {
            events: EventPublisher::new(kube.clone(), reporter),
            clients: PerKind::new(clients_tx, tenants_tx.clone(), metrics.authclients.clone()),
            servers: PerKind::new(
                servers_tx,
                tenants_tx.clone(),
                metrics.resource_servers.clone(),
            ),
            kube,
            auth0,
            config,
            metrics,
            caches: Caches::default(),
            triggers: Triggers {
                tenants: tenants_tx,
                receivers: Mutex::new(Some(TriggerReceivers {
                    clients: clients_rx,
                    tenants: tenants_rx,
                    servers: servers_rx,
                })),
            },
            failures: Mutex::default(),
            access_findings: Mutex::default(),
        }
    }

    /// The trigger receivers (once: the running controller owns them).
    pub(crate) fn take_triggers(&self) -> Option<TriggerReceivers> {
        lock(&self.triggers.receivers).take()
    }

    /// Asks the AuthTenant controller to check `tenant` again.
    pub fn wake_tenant(&self, tenant: &str) {
        if self
            .triggers
            .tenants
            .unbounded_send(ObjectRef::new(tenant))
            .is_err()
        {
            tracing::debug!("AuthTenant controller stopped; wake-up dropped");
        }
    }

    /// Publishes an event about `obj`; failures are logged, never fatal.
    pub async fn event<K: Resource<DynamicType = ()>>(
        &self,
        obj: &K,
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
        if let Err(error) = self.events.publish(&event, &obj.object_ref(&())).await {
            tracing::warn!(%error, object = %obj.name_any(), "could not publish event");
        }
    }

    /// Counts a transient failure of `key` and returns the delay before the next attempt:
    /// `base_backoff` doubling up to `max_backoff`, with ±10% jitter.
    pub fn next_backoff(&self, key: &str) -> Duration {
        let attempt = {
            let mut failures = lock(&self.failures);
            let count = failures.entry(key.to_owned()).or_insert(0);
            *count = count.saturating_add(1);
            *count
        };
        let base = self
            .config
            .base_backoff
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
        let capped = base.min(self.config.max_backoff);
        let jitter = 0.9 + rand::random::<f64>() * 0.2;
        capped.mul_f64(jitter)
    }

    /// Forgets the failures of `key` after a success.
    pub fn reset_backoff(&self, key: &str) {
        lock(&self.failures).remove(key);
    }

    /// Merges a finding about a client's grants or connections; its next reconcile acts on it.
    pub fn record_access_finding(&self, obj: ObjectRef<AuthClient>, finding: AccessFinding) {
        let mut findings = lock(&self.access_findings);
        let entry = findings.entry(obj).or_default();
        if finding.grants.is_some() {
            entry.grants = finding.grants;
        }
        entry.recheck_grants |= finding.recheck_grants;
        for name in finding.disabled_connections {
            if !entry.disabled_connections.contains(&name) {
                entry.disabled_connections.push(name);
            }
        }
    }

    /// Takes the grants/connections finding of a client (empty when there is none).
    pub fn take_access_finding(&self, obj: &ObjectRef<AuthClient>) -> AccessFinding {
        lock(&self.access_findings).remove(obj).unwrap_or_default()
    }
}
