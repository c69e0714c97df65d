//! Leader election against the in-memory Kubernetes API (`testkit::FakeKube`).
//!
//! Every test runs on a paused tokio clock: time only moves when all tasks are idle, so lease
//! expiry and renew deadlines are exercised in virtual time.

use std::time::Duration;

use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube_fake::FakeKube;
use nexus_leader::{LeaderElector, Leadership, LeaseConfig};
use serde_json::{Value, json};
use tokio::task::JoinHandle;
use tokio::time::{Instant, timeout};

const NS: &str = "nexus";
const NAME: &str = "nexus-operator";
const LEASE_PATH: &str = "/apis/coordination.k8s.io/v1/namespaces/nexus/leases/nexus-operator";

fn config(identity: &str) -> LeaseConfig {
    LeaseConfig {
        name: NAME.to_owned(),
        namespace: NS.to_owned(),
        identity: identity.to_owned(),
        lease_duration: Duration::from_secs(15),
        renew_deadline: Duration::from_secs(10),
        retry_period: Duration::from_secs(2),
    }
}

fn elector(kube: &FakeKube, identity: &str) -> LeaderElector {
    LeaderElector::new(kube.client(), config(identity))
}

fn lease(kube: &FakeKube) -> Value {
    kube.get(LEASE_PATH).expect("lease exists")
}

fn holder(kube: &FakeKube) -> Option<String> {
    kube.get(LEASE_PATH)?
        .pointer("/spec/holderIdentity")?
        .as_str()
        .map(str::to_owned)
}

fn transitions(kube: &FakeKube) -> i64 {
    lease(kube)
        .pointer("/spec/leaseTransitions")
        .and_then(Value::as_i64)
        .expect("leaseTransitions")
}

fn resource_version(kube: &FakeKube) -> String {
    lease(kube)
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .expect("resourceVersion")
        .to_owned()
}

/// Seeds a Lease held by `holder`, last renewed `age` ago by the wall clock.
fn insert_lease(kube: &FakeKube, holder: &str, age: Duration, transitions: i32) {
    let renewed = Timestamp::now() - SignedDuration::try_from(age).expect("age");
    kube.insert(json!({
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": { "name": NAME, "namespace": NS },
        "spec": {
            "holderIdentity": holder,
            "leaseDurationSeconds": 15,
            "acquireTime": renewed.to_string(),
            "renewTime": renewed.to_string(),
            "leaseTransitions": transitions,
        }
    }));
}

fn spawn_acquire(elector: &LeaderElector) -> JoinHandle<Leadership> {
    let elector = elector.clone();
    tokio::spawn(async move { elector.acquire().await.expect("acquire") })
}

/// pod-b leads (`b` is its leadership), and the lease names it after `transitions` hand-overs.
fn assert_b_leads(kube: &FakeKube, b: &Leadership, transitions: i64) {
    assert!(b.is_leader());
    assert_eq!(holder(kube).as_deref(), Some("pod-b"));
    assert_eq!(self::transitions(kube), transitions);
}

/// pod-a holds the lease; pod-b's acquire runs (waiting) as a task.
async fn a_leads_b_waits() -> (FakeKube, Leadership, JoinHandle<Leadership>) {
    let kube = FakeKube::new();
    let a = elector(&kube, "pod-a").acquire().await.expect("acquire a");
    let b = spawn_acquire(&elector(&kube, "pod-b"));
    (kube, a, b)
}

#[tokio::test(start_paused = true)]
async fn single_elector_creates_missing_lease() {
    let kube = FakeKube::new();
    let leadership = elector(&kube, "pod-a").acquire().await.expect("acquire");
    assert!(leadership.is_leader());

    let lease = lease(&kube);
    let spec = &lease["spec"];
    assert_eq!(spec["holderIdentity"], "pod-a");
    assert_eq!(spec["leaseDurationSeconds"], 15);
    assert_eq!(spec["leaseTransitions"], 0);
    assert!(spec["acquireTime"].is_string(), "acquireTime: {lease}");
    assert!(spec["renewTime"].is_string(), "renewTime: {lease}");
    let acquired = spec["acquireTime"].clone();
    let created = kube
        .requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/namespaces/nexus/leases"))
        .count();
    assert_eq!(created, 1);

    // The background task renews: the object changes, acquireTime and the holder do not.
    let rv = resource_version(&kube);
    assert!(
        kube.wait_until(Duration::from_secs(5), |k| resource_version(k) != rv)
            .await,
        "lease was not renewed"
    );
    let renewed = crate::lease(&kube);
    assert_eq!(renewed["spec"]["holderIdentity"], "pod-a");
    assert_eq!(renewed["spec"]["acquireTime"], acquired);
    assert_eq!(renewed["spec"]["leaseTransitions"], 0);
    assert!(leadership.is_leader());
}

#[tokio::test(start_paused = true)]
async fn second_elector_waits_then_takes_over_after_release() {
    let (kube, a, b) = a_leads_b_waits().await;

    // Well past the lease duration: pod-a keeps renewing, pod-b keeps waiting.
    tokio::time::sleep(Duration::from_secs(40)).await;
    assert!(!b.is_finished(), "pod-b acquired a lease pod-a renews");
    assert!(a.is_leader());
    assert_eq!(holder(&kube).as_deref(), Some("pod-a"));

    let observer = a.clone();
    let released_at = Instant::now();
    a.release().await.expect("release");
    assert!(!observer.is_leader());
    timeout(Duration::ZERO, observer.lost())
        .await
        .expect("lost() resolves after release");

    let b = timeout(Duration::from_secs(30), b)
        .await
        .expect("pod-b acquires after the release")
        .expect("task");
    // Hand-over happened at pod-b's next poll, not after the 15 s lease expiry.
    assert!(
        released_at.elapsed() < Duration::from_secs(6),
        "hand-over took {:?}",
        released_at.elapsed()
    );
    assert_b_leads(&kube, &b, 1);
    assert_eq!(lease(&kube)["spec"]["leaseDurationSeconds"], 15);
}

#[tokio::test(start_paused = true)]
async fn release_clears_holder() {
    let kube = FakeKube::new();
    let a = elector(&kube, "pod-a").acquire().await.expect("acquire");
    a.release().await.expect("release");
    let spec = lease(&kube)["spec"].clone();
    assert!(
        spec["holderIdentity"].as_str().unwrap_or("").is_empty(),
        "{spec}"
    );
    assert_eq!(spec["leaseDurationSeconds"], 1);
    assert_eq!(spec["leaseTransitions"], 0);

    // No renewal after the release.
    let rv = resource_version(&kube);
    tokio::time::sleep(Duration::from_secs(30)).await;
    assert_eq!(resource_version(&kube), rv);
}

#[tokio::test(start_paused = true)]
async fn expired_lease_with_old_renew_time_is_taken_over() {
    let kube = FakeKube::new();
    insert_lease(&kube, "pod-gone", Duration::from_secs(60), 4);

    let started = Instant::now();
    let b = elector(&kube, "pod-b").acquire().await.expect("acquire");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "took {:?}",
        started.elapsed()
    );
    assert_b_leads(&kube, &b, 5);
}

#[tokio::test(start_paused = true)]
async fn valid_lease_of_another_holder_is_not_overwritten() {
    let kube = FakeKube::new();
    insert_lease(&kube, "pod-other", Duration::ZERO, 2);
    let rv = resource_version(&kube);

    let b = spawn_acquire(&elector(&kube, "pod-b"));
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert!(!b.is_finished());
    assert_eq!(resource_version(&kube), rv, "lease was written");
    let writes = kube.requests().iter().filter(|r| r.method != "GET").count();
    assert_eq!(writes, 0);
    b.abort();
}

#[tokio::test(start_paused = true)]
async fn lease_of_dropped_holder_is_taken_over_after_expiry() {
    let (kube, a, b) = a_leads_b_waits().await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(!b.is_finished());

    // pod-a stops renewing (its process hangs or dies without releasing).
    let stopped = Instant::now();
    drop(a);
    let b = timeout(Duration::from_secs(60), b)
        .await
        .expect("pod-b takes over the expired lease")
        .expect("task");
    let waited = stopped.elapsed();
    assert!(
        waited >= Duration::from_secs(13) && waited < Duration::from_secs(25),
        "took over after {waited:?}"
    );
    assert_b_leads(&kube, &b, 1);
}

#[tokio::test(start_paused = true)]
async fn leadership_lost_when_renewals_fail_past_deadline() {
    let kube = FakeKube::new();
    let a = elector(&kube, "pod-a").acquire().await.expect("acquire");
    let watcher = a.clone();

    kube.fail_next("*", "leases/nexus-operator", 500, usize::MAX / 2);
    let failing_since = Instant::now();
    timeout(Duration::from_secs(30), watcher.lost())
        .await
        .expect("leadership reported lost");
    let after = failing_since.elapsed();
    assert!(!a.is_leader());
    assert!(!watcher.is_leader());
    // Given up within renew_deadline of the last successful renewal, i.e. before the lease
    // can expire for anyone else.
    assert!(
        after <= Duration::from_secs(10) && after >= Duration::from_secs(6),
        "lost after {after:?}"
    );
    assert!(after < Duration::from_secs(15));
}

#[tokio::test(start_paused = true)]
async fn transient_renewal_failures_are_tolerated() {
    let kube = FakeKube::new();
    let a = elector(&kube, "pod-a").acquire().await.expect("acquire");
    kube.fail_next("*", "leases/nexus-operator", 503, 2);
    tokio::time::sleep(Duration::from_secs(30)).await;
    assert!(a.is_leader());
    assert_eq!(holder(&kube).as_deref(), Some("pod-a"));
}

#[tokio::test(start_paused = true)]
async fn leadership_lost_when_another_holder_overwrites_lease() {
    let kube = FakeKube::new();
    let a = elector(&kube, "pod-a").acquire().await.expect("acquire");

    let overwritten = Instant::now();
    insert_lease(&kube, "pod-intruder", Duration::ZERO, 7);
    timeout(Duration::from_secs(5), a.lost())
        .await
        .expect("leadership reported lost");
    assert!(overwritten.elapsed() <= Duration::from_secs(2));
    assert!(!a.is_leader());

    // pod-a neither takes the lease back nor clears it.
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert_eq!(holder(&kube).as_deref(), Some("pod-intruder"));
    assert_eq!(transitions(&kube), 7);
    a.release()
        .await
        .expect("release of a lost lease is a no-op");
    assert_eq!(holder(&kube).as_deref(), Some("pod-intruder"));
}

#[tokio::test(start_paused = true)]
async fn racing_electors_on_missing_lease_exactly_one_wins() {
    let kube = FakeKube::new();
    let a = spawn_acquire(&elector(&kube, "pod-a"));
    let b = spawn_acquire(&elector(&kube, "pod-b"));

    assert!(
        kube.wait_until(Duration::from_secs(5), |k| holder(k).is_some())
            .await
    );
    let winner = holder(&kube).expect("holder");
    // Let the loser poll for a while: it must keep waiting.
    tokio::time::sleep(Duration::from_secs(30)).await;
    let (won, lost) = if winner == "pod-a" { (a, b) } else { (b, a) };
    assert!(won.is_finished());
    assert!(!lost.is_finished(), "both electors acquired the lease");
    let leadership = won.await.expect("task");
    assert!(leadership.is_leader());
    assert_eq!(holder(&kube).as_deref(), Some(winner.as_str()));
    assert_eq!(transitions(&kube), 0);

    // Both tried to create the lease; the second create was rejected (409) and never
    // overwrote the winner.
    let creates = kube
        .requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/namespaces/nexus/leases"))
        .count();
    assert_eq!(creates, 2, "electors did not race on create");
    lost.abort();
}

#[tokio::test(start_paused = true)]
async fn invalid_config_is_rejected() {
    let kube = FakeKube::new();
    let mut cfg = config("pod-a");
    cfg.renew_deadline = cfg.lease_duration;
    let err = LeaderElector::new(kube.client(), cfg)
        .acquire()
        .await
        .expect_err("invalid config");
    assert!(matches!(err, nexus_leader::LeaderError::InvalidConfig(_)));
    assert!(kube.requests().is_empty());
}

#[tokio::test(start_paused = true)]
async fn forbidden_is_fatal_and_keeps_the_kube_error() {
    let kube = FakeKube::new();
    kube.fail_next("GET", "leases/nexus-operator", 403, 1);
    let err = elector(&kube, "pod-a")
        .acquire()
        .await
        .expect_err("forbidden");
    let source = err.kube_error().expect("kube error");
    assert!(
        matches!(source, kube::Error::Api(status) if status.code == 403),
        "{source:?}"
    );
    assert!(std::error::Error::source(&err).is_some());
}
