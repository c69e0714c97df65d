//! Leader election on a `coordination.k8s.io/v1` [`Lease`], so that several replicas of the
//! operator can run side by side while only one of them reconciles.
//!
//! kube 5 ships no leader election of its own, so this module implements the same protocol as
//! client-go's `leaderelection` package:
//!
//! * [`LeaderElector::acquire`] polls the Lease every `retry_period` (with jitter) until it can
//!   take it: the Lease is absent (it is created), released (empty `holderIdentity`), already
//!   held by this identity, or expired.
//! * A Lease counts as expired when the holder's `renewTime + leaseDurationSeconds` lies in the
//!   past by the wall clock, **or** when this replica has watched the Lease record stay unchanged
//!   for `leaseDurationSeconds` by its own monotonic clock (client-go's rule, immune to clock skew
//!   between nodes; it is also what lets takeover happen under a paused tokio test clock).
//! * Every write is a `replace` carrying the `resourceVersion` that was read (or a `create`), so a
//!   concurrent writer makes it fail with `409 Conflict` instead of being overwritten; the Lease
//!   is then re-read. A valid Lease of another holder is never overwritten.
//! * Once acquired, a background task renews the Lease every `retry_period`. If no renewal
//!   succeeds within `renew_deadline` of the last successful one, or the Lease turns out to be
//!   held by someone else, leadership is lost: [`Leadership::lost`] resolves and
//!   [`Leadership::is_leader`] turns `false`. Because `renew_deadline < lease_duration`, the old
//!   leader has stopped before any other replica may consider the Lease expired.
//! * [`Leadership::release`] stops renewing and clears the holder (with `leaseDurationSeconds`
//!   = 1), so another replica takes over at its next poll instead of waiting for expiry.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::Api;
use kube::api::PostParams;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::{debug, info, warn};

/// How many conflicting writes in a row are retried at once (re-reading the Lease) before
/// falling back to the regular `retry_period` wait.
const MAX_IMMEDIATE_CONFLICT_RETRIES: u32 = 3;

/// Jitter factor applied to `retry_period` while waiting for the Lease (as in client-go): each
/// wait lasts `retry_period * (1 + random(0..JITTER))`.
const ACQUIRE_JITTER: f64 = 1.2;

/// Settings for [`LeaderElector`]; the field names follow client-go's `LeaderElectionConfig`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaseConfig {
    /// Name of the Lease object.
    pub name: String,
    /// Namespace of the Lease object.
    pub namespace: String,
    /// Identity of this replica, written to `holderIdentity`; use the pod name.
    pub identity: String,
    /// How long a Lease is valid after its last renewal; written as `leaseDurationSeconds`
    /// (rounded up to whole seconds). Other replicas take over once it has passed.
    pub lease_duration: Duration,
    /// How long the leader keeps trying to renew before it gives up leadership. Must be shorter
    /// than `lease_duration`.
    pub renew_deadline: Duration,
    /// Interval between renewals, and between attempts to take the Lease. Must be shorter than
    /// `renew_deadline`.
    pub retry_period: Duration,
}

impl LeaseConfig {
    /// A configuration with client-go's default timings: lease 15 s, renew deadline 10 s,
    /// retry period 2 s.
    pub fn new(
        name: impl Into<String>,
        namespace: impl Into<String>,
        identity: impl Into<String>,
    ) -> Self {
        Self {
            name: name.into(),
            namespace: namespace.into(),
            identity: identity.into(),
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
        }
    }

    /// Checks the invariants the protocol relies on.
    pub fn validate(&self) -> Result<(), LeaderError> {
        let invalid = |reason: &str| Err(LeaderError::InvalidConfig(reason.to_owned()));
        if self.name.is_empty() {
            return invalid("lease name must not be empty");
        }
        if self.namespace.is_empty() {
            return invalid("lease namespace must not be empty");
        }
        if self.identity.is_empty() {
            return invalid("identity must not be empty");
        }
        if self.retry_period.is_zero() {
            return invalid("retry_period must be positive");
        }
        if self.renew_deadline <= self.retry_period {
            return invalid("renew_deadline must be longer than retry_period");
        }
        if self.lease_duration <= self.renew_deadline {
            return invalid("lease_duration must be longer than renew_deadline");
        }
        if self.lease_duration.as_secs() >= i32::MAX as u64 {
            return invalid("lease_duration is too long");
        }
        Ok(())
    }

    /// `lease_duration` as written to `leaseDurationSeconds`: whole seconds, rounded up.
    fn lease_duration_seconds(&self) -> i32 {
        let secs =
            self.lease_duration.as_secs() + u64::from(self.lease_duration.subsec_nanos() > 0);
        i32::try_from(secs.max(1)).unwrap_or(i32::MAX)
    }
}

/// Errors of leader election.
#[derive(Debug, thiserror::Error)]
pub enum LeaderError {
    /// The [`LeaseConfig`] violates an invariant (see [`LeaseConfig::validate`]).
    #[error("invalid leader election config: {0}")]
    InvalidConfig(String),
    /// The Kubernetes API rejected a request in a way retrying will not fix (401, 403, 422, or
    /// 404 when creating the Lease, i.e. a missing namespace).
    #[error("leader election: {action} lease {namespace}/{name} failed")]
    Fatal {
        /// What was being done (`get`, `create`, `replace`).
        action: &'static str,
        /// Namespace of the Lease.
        namespace: String,
        /// Name of the Lease.
        name: String,
        /// The underlying API error.
        #[source]
        source: Box<kube::Error>,
    },
    /// Releasing the Lease failed; it will expire on its own after `lease_duration`.
    #[error("releasing lease {namespace}/{name} failed")]
    Release {
        /// Namespace of the Lease.
        namespace: String,
        /// Name of the Lease.
        name: String,
        /// The underlying API error.
        #[source]
        source: Box<kube::Error>,
    },
}

impl LeaderError {
    /// The Kubernetes API error behind this error, if any.
    pub fn kube_error(&self) -> Option<&kube::Error> {
        match self {
            Self::InvalidConfig(_) => None,
            Self::Fatal { source, .. } | Self::Release { source, .. } => Some(source),
        }
    }
}

/// Competes for a Lease on behalf of one replica. Cheap to clone.
#[derive(Clone)]
pub struct LeaderElector {
    api: Api<Lease>,
    config: Arc<LeaseConfig>,
}

impl std::fmt::Debug for LeaderElector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeaderElector")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl LeaderElector {
    /// Creates an elector for the Lease `config.namespace/config.name`. No request is made
    /// until [`acquire`](Self::acquire).
    pub fn new(client: kube::Client, config: LeaseConfig) -> Self {
        Self {
            api: Api::namespaced(client, &config.namespace),
            config: Arc::new(config),
        }
    }

    /// The configuration this elector was built with.
    pub fn config(&self) -> &LeaseConfig {
        &self.config
    }

    /// Waits until this replica holds the lease (creating it if absent, taking it over when
    /// expired — holder's `renewTime + leaseDurationSeconds` in the past, or unchanged for that
    /// long as observed locally — or when released with an empty `holderIdentity`), then keeps
    /// renewing it in a background task.
    ///
    /// Transient API errors (5xx, 429, network) are logged and retried forever; errors that
    /// retrying cannot fix (invalid config, 401, 403, 422, missing namespace) are returned.
    /// Cancel-safe: dropping the future stops the attempt (a Lease created or taken by an
    /// interrupted attempt simply expires).
    pub async fn acquire(&self) -> Result<Leadership, LeaderError> {
        self.config.validate()?;
        let cfg = &*self.config;
        let mut observer = Observer::default();
        let mut last_seen_holder: Option<String> = None;
        let mut conflicts = 0;
        loop {
            let attempt_start = Instant::now();
            match try_acquire_or_renew(&self.api, cfg, &mut observer, Timestamp::now(), false).await
            {
                Ok(Attempt::Held { lease, previous }) => {
                    let spec = lease.spec.as_ref();
                    info!(
                        lease = %cfg.name,
                        namespace = %cfg.namespace,
                        identity = %cfg.identity,
                        transitions = spec.and_then(|s| s.lease_transitions).unwrap_or(0),
                        previous_holder = previous.as_deref().unwrap_or(""),
                        "acquired leadership"
                    );
                    return Ok(Leadership::start(
                        self.api.clone(),
                        self.config.clone(),
                        attempt_start,
                    ));
                }
                Ok(Attempt::HeldByOther(holder)) => {
                    conflicts = 0;
                    if last_seen_holder.as_deref() != Some(holder.as_str()) {
                        info!(
                            lease = %cfg.name,
                            namespace = %cfg.namespace,
                            leader = %holder,
                            "lease is held by another replica; waiting"
                        );
                        last_seen_holder = Some(holder);
                    }
                }
                Ok(Attempt::Conflict) => {
                    conflicts += 1;
                    debug!(lease = %cfg.name, "conflicting write while acquiring lease; re-reading");
                    if conflicts <= MAX_IMMEDIATE_CONFLICT_RETRIES {
                        continue;
                    }
                    conflicts = 0;
                }
                Err(ApiFailure { action, error }) => {
                    conflicts = 0;
                    if is_fatal(action, &error) {
                        return Err(LeaderError::Fatal {
                            action,
                            namespace: cfg.namespace.clone(),
                            name: cfg.name.clone(),
                            source: Box::new(error),
                        });
                    }
                    warn!(
                        lease = %cfg.name,
                        namespace = %cfg.namespace,
                        error = %error,
                        "{action} lease failed while acquiring leadership; retrying"
                    );
                }
            }
            tokio::time::sleep(jittered(cfg.retry_period)).await;
        }
    }
}

/// Proof of leadership, returned by [`LeaderElector::acquire`]. Clones share the same state.
///
/// While any clone is alive, a background task renews the Lease. When the last clone is dropped
/// without [`release`](Self::release), renewing stops and the Lease expires after
/// `lease_duration`.
#[derive(Clone)]
pub struct Leadership {
    shared: Arc<Shared>,
}

struct Shared {
    api: Api<Lease>,
    config: Arc<LeaseConfig>,
    state: watch::Receiver<bool>,
    renewer: Mutex<Option<JoinHandle<()>>>,
}

impl Drop for Shared {
    fn drop(&mut self) {
        if let Ok(mut guard) = self.renewer.lock()
            && let Some(task) = guard.take()
        {
            task.abort();
        }
    }
}

impl std::fmt::Debug for Leadership {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Leadership")
            .field("lease", &self.shared.config.name)
            .field("namespace", &self.shared.config.namespace)
            .field("identity", &self.shared.config.identity)
            .field("is_leader", &self.is_leader())
            .finish()
    }
}

/// Clears the leader flag when the renew task ends in any way (lost, aborted, panicked).
struct LeaderFlag(watch::Sender<bool>);

impl Drop for LeaderFlag {
    fn drop(&mut self) {
        self.0.send_replace(false);
    }
}

impl Leadership {
    fn start(api: Api<Lease>, config: Arc<LeaseConfig>, renewed_at: Instant) -> Self {
        let (tx, rx) = watch::channel(true);
        let task = tokio::spawn(renew_loop(
            api.clone(),
            config.clone(),
            LeaderFlag(tx),
            renewed_at,
        ));
        Self {
            shared: Arc::new(Shared {
                api,
                config,
                state: rx,
                renewer: Mutex::new(Some(task)),
            }),
        }
    }

    /// Resolves when leadership is lost (renewal failed past `renew_deadline`, another holder
    /// took the lease, or it was released). The caller must stop reconciling at once.
    /// Resolves immediately if leadership is already lost. Cancel-safe.
    pub async fn lost(&self) {
        let mut state = self.shared.state.clone();
        // An error means the renew task is gone, which also means leadership is gone.
        let _ = state.wait_for(|leader| !*leader).await;
    }

    /// Whether this replica still holds the lease (as far as the last renewal knows).
    pub fn is_leader(&self) -> bool {
        *self.shared.state.borrow()
    }

    /// The configuration of the Lease this leadership is about.
    pub fn config(&self) -> &LeaseConfig {
        &self.shared.config
    }

    /// Hand-over on shutdown: stops renewing (every clone then reports leadership lost) and
    /// releases the lease — `holderIdentity` cleared, `leaseDurationSeconds = 1`, `renewTime`
    /// now — so another replica takes over at once instead of waiting for expiry.
    ///
    /// Stop reconciling before calling this. Does nothing to the Lease if it is no longer held
    /// by this identity. An error means the Lease could not be released; it then expires after
    /// `lease_duration`.
    pub async fn release(self) -> Result<(), LeaderError> {
        let shared = &self.shared;
        let cfg = &*shared.config;
        let task = shared
            .renewer
            .lock()
            .ok()
            .and_then(|mut guard| guard.take());
        if let Some(task) = task {
            task.abort();
            // Wait for the task to be gone: no renewal can be in flight after this point, and
            // its `LeaderFlag` has signalled the loss to every clone.
            let _ = task.await;
        }
        let release_error = |source| LeaderError::Release {
            namespace: cfg.namespace.clone(),
            name: cfg.name.clone(),
            source: Box::new(source),
        };
        let mut conflicts = 0;
        loop {
            let Some(mut lease) = shared.api.get_opt(&cfg.name).await.map_err(release_error)?
            else {
                return Ok(());
            };
            let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
            if spec.holder_identity.as_deref() != Some(cfg.identity.as_str()) {
                debug!(lease = %cfg.name, "lease not held by us; nothing to release");
                return Ok(());
            }
            let now = MicroTime(Timestamp::now());
            spec.holder_identity = None;
            spec.lease_duration_seconds = Some(1);
            spec.renew_time = Some(now.clone());
            spec.acquire_time = Some(now);
            match shared
                .api
                .replace(&cfg.name, &PostParams::default(), &lease)
                .await
            {
                Ok(_) => {
                    info!(
                        lease = %cfg.name,
                        namespace = %cfg.namespace,
                        identity = %cfg.identity,
                        "released leadership"
                    );
                    return Ok(());
                }
                Err(error) if status_code(&error) == Some(409) && conflicts < 3 => {
                    conflicts += 1;
                }
                Err(error) => return Err(release_error(error)),
            }
        }
    }
}

/// Keeps the Lease renewed until renewing fails for `renew_deadline` or someone else holds it.
async fn renew_loop(
    api: Api<Lease>,
    config: Arc<LeaseConfig>,
    flag: LeaderFlag,
    mut renewed_at: Instant,
) {
    let cfg = &*config;
    let mut observer = Observer::default();
    loop {
        tokio::time::sleep_until(renewed_at + cfg.retry_period).await;
        let deadline = renewed_at + cfg.renew_deadline;
        let mut conflicts = 0;
        let reason = loop {
            let attempt_start = Instant::now();
            let attempt = try_acquire_or_renew(&api, cfg, &mut observer, Timestamp::now(), true);
            match tokio::time::timeout_at(deadline, attempt).await {
                Err(_) => {
                    break format!(
                        "could not renew the lease within renew_deadline ({:?})",
                        cfg.renew_deadline
                    );
                }
                Ok(Ok(Attempt::Held { .. })) => {
                    renewed_at = attempt_start;
                    break String::new();
                }
                Ok(Ok(Attempt::HeldByOther(holder))) => {
                    break format!("lease is now held by {holder:?}");
                }
                Ok(Ok(Attempt::Conflict)) => {
                    conflicts += 1;
                    debug!(lease = %cfg.name, "conflicting write while renewing lease; re-reading");
                    if conflicts <= MAX_IMMEDIATE_CONFLICT_RETRIES {
                        continue;
                    }
                }
                Ok(Err(ApiFailure { action, error })) => {
                    warn!(
                        lease = %cfg.name,
                        namespace = %cfg.namespace,
                        error = %error,
                        "{action} lease failed while renewing; retrying"
                    );
                }
            }
            conflicts = 0;
            let next = Instant::now() + cfg.retry_period;
            if next >= deadline {
                tokio::time::sleep_until(deadline).await;
                break format!(
                    "could not renew the lease within renew_deadline ({:?})",
                    cfg.renew_deadline
                );
            }
            tokio::time::sleep_until(next).await;
        };
        if !reason.is_empty() {
            // Signal first, log second: the caller must stop as early as possible.
            flag.0.send_replace(false);
            warn!(
                lease = %cfg.name,
                namespace = %cfg.namespace,
                identity = %cfg.identity,
                "lost leadership: {reason}"
            );
            return;
        }
    }
}

/// Result of one read-modify-write round on the Lease.
#[derive(Debug)]
enum Attempt {
    /// We hold the Lease (created, renewed or taken over).
    Held {
        /// The Lease as written.
        lease: Box<Lease>,
        /// The holder before this write, if it was someone else (`""`: released).
        previous: Option<String>,
    },
    /// Another identity holds a valid Lease.
    HeldByOther(String),
    /// Our write lost a race (409); the Lease must be re-read.
    Conflict,
}

/// An API request of a round failed.
#[derive(Debug)]
struct ApiFailure {
    action: &'static str,
    error: kube::Error,
}

/// Remembers when the Lease record was last seen to change, by the local monotonic clock.
#[derive(Debug, Default)]
struct Observer {
    last: Option<(LeaseSpec, Instant)>,
}

impl Observer {
    /// Records `spec` as seen now; returns when it was first seen unchanged.
    fn observe(&mut self, spec: &LeaseSpec, now: Instant) -> Instant {
        match &self.last {
            Some((seen, at)) if seen == spec => *at,
            _ => {
                self.last = Some((spec.clone(), now));
                now
            }
        }
    }
}

/// Whether the Lease described by `spec` may be taken over by someone other than its holder.
///
/// `observed_since` is when this replica first saw the record in its current state.
fn is_expired(
    spec: &LeaseSpec,
    default_duration: Duration,
    now: Timestamp,
    observed_since: Instant,
    now_mono: Instant,
) -> bool {
    let duration = match spec.lease_duration_seconds {
        Some(secs) => Duration::from_secs(u64::try_from(secs).unwrap_or(0)),
        None => default_duration,
    };
    // Seen unchanged for a whole lease duration: the holder has stopped renewing.
    if now_mono.saturating_duration_since(observed_since) >= duration {
        return true;
    }
    // The holder's own renewTime says the lease has run out.
    match &spec.renew_time {
        Some(MicroTime(renewed)) => {
            let duration = SignedDuration::try_from(duration).unwrap_or(SignedDuration::MAX);
            renewed
                .checked_add(duration)
                .map(|expiry| expiry < now)
                .unwrap_or(false)
        }
        None => false,
    }
}

/// One round of client-go's `tryAcquireOrRenew`: read the Lease, then create, renew or take it
/// over with optimistic concurrency.
///
/// With `renewing` set (we are the leader), a Lease held by anyone else — even an expired or
/// released one — means leadership was lost, so it is reported as [`Attempt::HeldByOther`]
/// instead of being taken over silently.
async fn try_acquire_or_renew(
    api: &Api<Lease>,
    cfg: &LeaseConfig,
    observer: &mut Observer,
    now: Timestamp,
    renewing: bool,
) -> Result<Attempt, ApiFailure> {
    let current = api.get_opt(&cfg.name).await.map_err(|error| ApiFailure {
        action: "get",
        error,
    })?;
    let Some(mut lease) = current else {
        let lease = Lease {
            metadata: ObjectMeta {
                name: Some(cfg.name.clone()),
                namespace: Some(cfg.namespace.clone()),
                ..ObjectMeta::default()
            },
            spec: Some(LeaseSpec {
                holder_identity: Some(cfg.identity.clone()),
                lease_duration_seconds: Some(cfg.lease_duration_seconds()),
                acquire_time: Some(MicroTime(now)),
                renew_time: Some(MicroTime(now)),
                lease_transitions: Some(0),
                ..LeaseSpec::default()
            }),
        };
        return match api.create(&PostParams::default(), &lease).await {
            Ok(created) => Ok(Attempt::Held {
                lease: Box::new(created),
                previous: None,
            }),
            Err(error) if status_code(&error) == Some(409) => Ok(Attempt::Conflict),
            Err(error) => Err(ApiFailure {
                action: "create",
                error,
            }),
        };
    };
    let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
    if renewing && spec.holder_identity.as_deref() != Some(cfg.identity.as_str()) {
        return Ok(Attempt::HeldByOther(
            spec.holder_identity.clone().unwrap_or_default(),
        ));
    }
    let observed_since = observer.observe(spec, Instant::now());
    let previous = spec
        .holder_identity
        .clone()
        .filter(|holder| *holder != cfg.identity);
    match next_spec(spec, cfg, now, observed_since, Instant::now()) {
        Err(holder) => Ok(Attempt::HeldByOther(holder)),
        Ok(new_spec) => {
            *spec = new_spec;
            // `lease.metadata.resourceVersion` is the one we read: a concurrent write in
            // between makes this fail with 409 instead of overwriting it.
            match api.replace(&cfg.name, &PostParams::default(), &lease).await {
                Ok(written) => Ok(Attempt::Held {
                    lease: Box::new(written),
                    previous,
                }),
                Err(error) if status_code(&error) == Some(409) => Ok(Attempt::Conflict),
                Err(error) => Err(ApiFailure {
                    action: "replace",
                    error,
                }),
            }
        }
    }
}

/// Decides what to write given the current Lease spec: `Ok(spec)` to renew or take it over,
/// `Err(holder)` if another identity holds a valid Lease.
fn next_spec(
    current: &LeaseSpec,
    cfg: &LeaseConfig,
    now: Timestamp,
    observed_since: Instant,
    now_mono: Instant,
) -> Result<LeaseSpec, String> {
    let holder = current
        .holder_identity
        .as_deref()
        .filter(|holder| !holder.is_empty());
    let ours = holder == Some(cfg.identity.as_str());
    if let Some(holder) = holder
        && !ours
        && !is_expired(current, cfg.lease_duration, now, observed_since, now_mono)
    {
        return Err(holder.to_owned());
    }
    let mut next = current.clone();
    next.holder_identity = Some(cfg.identity.clone());
    next.lease_duration_seconds = Some(cfg.lease_duration_seconds());
    next.renew_time = Some(MicroTime(now));
    if !ours || next.acquire_time.is_none() {
        next.acquire_time = Some(MicroTime(now));
    }
    if !ours {
        next.lease_transitions = Some(current.lease_transitions.unwrap_or(0).saturating_add(1));
    } else if next.lease_transitions.is_none() {
        next.lease_transitions = Some(0);
    }
    Ok(next)
}

fn status_code(error: &kube::Error) -> Option<u16> {
    match error {
        kube::Error::Api(status) => Some(status.code),
        _ => None,
    }
}

/// Errors that retrying will not fix.
fn is_fatal(action: &str, error: &kube::Error) -> bool {
    match status_code(error) {
        Some(401 | 403 | 422) => true,
        Some(404) => action == "create",
        _ => false,
    }
}

fn jittered(period: Duration) -> Duration {
    period.mul_f64(1.0 + rand::random::<f64>() * ACQUIRE_JITTER)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(identity: &str) -> LeaseConfig {
        LeaseConfig::new("nexus-operator", "nexus", identity)
    }

    fn ts(secs: i64) -> Timestamp {
        Timestamp::from_second(1_700_000_000 + secs).expect("valid timestamp")
    }

    fn held_by(holder: &str, renewed: Timestamp, transitions: i32) -> LeaseSpec {
        LeaseSpec {
            holder_identity: Some(holder.to_owned()),
            lease_duration_seconds: Some(15),
            acquire_time: Some(MicroTime(ts(-100))),
            renew_time: Some(MicroTime(renewed)),
            lease_transitions: Some(transitions),
            ..LeaseSpec::default()
        }
    }

    #[test]
    fn default_config_is_valid_and_rounds_duration_up() {
        let mut c = cfg("a");
        assert!(c.validate().is_ok());
        assert_eq!(c.lease_duration_seconds(), 15);
        c.lease_duration = Duration::from_millis(10_500);
        assert_eq!(c.lease_duration_seconds(), 11);
        c.lease_duration = Duration::from_millis(300);
        c.renew_deadline = Duration::from_millis(200);
        c.retry_period = Duration::from_millis(50);
        assert_eq!(c.lease_duration_seconds(), 1);
    }

    #[test]
    fn invalid_configs_are_rejected() {
        let mut c = cfg("a");
        c.renew_deadline = c.lease_duration;
        assert!(matches!(c.validate(), Err(LeaderError::InvalidConfig(_))));
        let mut c = cfg("a");
        c.retry_period = c.renew_deadline;
        assert!(c.validate().is_err());
        let mut c = cfg("");
        c.identity.clear();
        assert!(c.validate().is_err());
        let mut c = cfg("a");
        c.retry_period = Duration::ZERO;
        assert!(c.validate().is_err());
    }

    #[test]
    fn valid_lease_of_another_holder_is_respected() {
        let mono = Instant::now();
        let spec = held_by("b", ts(0), 3);
        assert_eq!(
            next_spec(&spec, &cfg("a"), ts(5), mono, mono),
            Err("b".to_owned())
        );
    }

    #[test]
    fn expired_lease_by_renew_time_is_taken_over() {
        let mono = Instant::now();
        let spec = held_by("b", ts(0), 3);
        let next = next_spec(&spec, &cfg("a"), ts(16), mono, mono).expect("expired");
        assert_eq!(next.holder_identity.as_deref(), Some("a"));
        assert_eq!(next.lease_transitions, Some(4));
        assert_eq!(next.acquire_time, Some(MicroTime(ts(16))));
        assert_eq!(next.renew_time, Some(MicroTime(ts(16))));
        assert_eq!(next.lease_duration_seconds, Some(15));
    }

    #[test]
    fn lease_unchanged_for_its_duration_is_expired_despite_clock_skew() {
        let seen = Instant::now();
        // The holder's clock runs far ahead: renewTime is in our future.
        let spec = held_by("b", ts(1000), 0);
        let c = cfg("a");
        assert!(next_spec(&spec, &c, ts(0), seen, seen + Duration::from_secs(14)).is_err());
        let next =
            next_spec(&spec, &c, ts(0), seen, seen + Duration::from_secs(15)).expect("expired");
        assert_eq!(next.holder_identity.as_deref(), Some("a"));
        assert_eq!(next.lease_transitions, Some(1));
    }

    #[test]
    fn released_lease_is_taken_at_once() {
        let mono = Instant::now();
        let spec = LeaseSpec {
            holder_identity: None,
            lease_duration_seconds: Some(1),
            renew_time: Some(MicroTime(ts(0))),
            lease_transitions: Some(2),
            ..LeaseSpec::default()
        };
        let next = next_spec(&spec, &cfg("a"), ts(0), mono, mono).expect("released");
        assert_eq!(next.holder_identity.as_deref(), Some("a"));
        assert_eq!(next.lease_transitions, Some(3));
        let empty = LeaseSpec {
            holder_identity: Some(String::new()),
            ..spec
        };
        assert!(next_spec(&empty, &cfg("a"), ts(0), mono, mono).is_ok());
    }

    #[test]
    fn renewal_keeps_acquire_time_and_transitions() {
        let mono = Instant::now();
        let spec = held_by("a", ts(0), 7);
        let next = next_spec(&spec, &cfg("a"), ts(2), mono, mono).expect("ours");
        assert_eq!(next.lease_transitions, Some(7));
        assert_eq!(next.acquire_time, Some(MicroTime(ts(-100))));
        assert_eq!(next.renew_time, Some(MicroTime(ts(2))));
    }

    #[test]
    fn observer_tracks_changes() {
        let t0 = Instant::now();
        let mut obs = Observer::default();
        let a = held_by("b", ts(0), 0);
        assert_eq!(obs.observe(&a, t0), t0);
        assert_eq!(obs.observe(&a, t0 + Duration::from_secs(5)), t0);
        let b = held_by("b", ts(2), 0);
        let t1 = t0 + Duration::from_secs(6);
        assert_eq!(obs.observe(&b, t1), t1);
    }

    #[test]
    fn fatal_errors() {
        let err = |code: u16| {
            kube::Error::Api(Box::new(kube::core::Status {
                code,
                ..kube::core::Status::default()
            }))
        };
        assert!(is_fatal("get", &err(403)));
        assert!(is_fatal("create", &err(404)));
        assert!(!is_fatal("get", &err(404)));
        assert!(!is_fatal("replace", &err(500)));
        assert!(!is_fatal("replace", &err(409)));
    }
}
