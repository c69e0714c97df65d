//! Test harness: the in-memory Kubernetes API (`FakeKube`) plus the Auth0 simulator on a
//! loopback port, and a controller `Context` wired to both.
//!
//! Every test runs on tokio's paused clock (`#[tokio::test(start_paused = true)]`, a
//! current-thread runtime): the fake API, the simulator and the controller are all tasks of the
//! test's runtime, so back-offs, requeues, rate-limit refills and the guards' timeouts are
//! virtual time, and the tests neither wait for real time nor depend on the machine's speed
//! (`nexus_testing::paused`). Each harness arms a real-time [`Watchdog`] against a livelock,
//! which a virtual timeout cannot catch.

use std::sync::Arc;
use std::time::Duration;

use auth0_mgmt::{self as auth0, Auth0Metrics, Auth0Registry};
use auth0_sim::{self as sim, RateLimit, SimConfig, SimHandle};
use kube::Api;
use kube::runtime::controller::Action;
use kube_fake::FakeKube;
use nexus_controller::authclient::{self, ReconcileError};
use nexus_controller::authtenant;
use nexus_controller::metrics::ControllerMetrics;
use nexus_controller::resourceserver::{self, ResourceServerError};
use nexus_controller::{Context, ControllerConfig};
use nexus_crd::conditions::{self, READY};
use nexus_crd::{AuthClient, AuthResourceServer};
use nexus_testing::paused::Watchdog;
use serde_json::{Value, json};

pub const TENANT: &str = "acme";
pub const NS: &str = "team-a";
pub const CREDS_NS: &str = "nexus-system";

pub struct Harness {
    pub kube: FakeKube,
    pub sim: SimHandle,
    pub ctx: Arc<Context>,
    _watchdog: Watchdog,
}

/// Real time after which a test of this binary is taken to hang (far above the slowest test's
/// real duration on a busy machine).
pub const HANG: Duration = Duration::from_secs(600);

/// Options of a harness.
pub struct Options {
    pub sim: SimConfig,
    pub tenant_rps: u32,
    pub wait_budget: Option<Duration>,
    pub config: ControllerConfig,
    /// Install the AuthResourceServer CRD (as the chart does); false plays an upgrade whose
    /// CRDs were not applied.
    pub resource_server_crd: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            sim: SimConfig {
                rate_limit: RateLimit {
                    burst: 1000,
                    per_second: 1000,
                },
                ..SimConfig::default()
            },
            tenant_rps: 1000,
            wait_budget: None,
            config: ControllerConfig {
                cluster_id: "test-cluster".into(),
                ..ControllerConfig::default()
            },
            resource_server_crd: true,
        }
    }
}

impl Harness {
    pub async fn new() -> Self {
        Self::with(Options::default()).await
    }

    /// A harness with the default options but the controller configuration `edit` changes.
    pub async fn configured(edit: impl FnOnce(&mut ControllerConfig)) -> Self {
        let mut options = Options::default();
        edit(&mut options.config);
        Self::with(options).await
    }

    pub async fn with(options: Options) -> Self {
        let watchdog = Watchdog::arm(HANG);
        let sim = sim::start(options.sim, "127.0.0.1:0".parse().expect("addr"))
            .await
            .expect("simulator starts");
        let kube = FakeKube::new();
        // FakeKube serves AuthClient and AuthTenant itself; AuthResourceServer from its CRD.
        for crd in nexus_crd::crds() {
            if options.resource_server_crd && crd.spec.names.kind == "AuthResourceServer" {
                kube.insert(serde_json::to_value(&crd).expect("CRD as JSON"));
            }
        }
        kube.insert(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS, "labels": {"team": "a"}}}));
        kube.insert(json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "acme-m2m", "namespace": CREDS_NS},
            "data": {
                "client_id": b64(&sim.m2m().client_id),
                "client_secret": b64(&sim.m2m().client_secret),
            }
        }));
        kube.insert(tenant_object(TENANT, &sim, options.tenant_rps, &[NS]));
        let mut registry = Auth0Registry::new(
            auth0::default_http_client(Duration::from_secs(5)).expect("http client"),
            Auth0Metrics::new(),
        );
        if let Some(budget) = options.wait_budget {
            registry = registry.with_wait_budget(budget);
        }
        let ctx = Arc::new(Context::new(
            kube.client(),
            registry,
            options.config,
            ControllerMetrics::default(),
        ));
        let h = Self {
            kube,
            sim,
            ctx,
            _watchdog: watchdog,
        };
        // The tenant is checked (one token request) before the test starts counting.
        h.sync().await;
        h.sim.reset_counters();
        h.kube.clear_requests();
        h
    }

    /// Creates an AuthClient in the fake API.
    pub fn apply(&self, name: &str, spec: Value) {
        self.apply_in(NS, name, spec, json!({}));
    }

    pub fn apply_in(&self, namespace: &str, name: &str, spec: Value, annotations: Value) {
        self.kube.insert(json!({
            "apiVersion": "auth.nexus.dev/v1alpha1",
            "kind": "AuthClient",
            "metadata": {"name": name, "namespace": namespace, "annotations": annotations},
            "spec": spec,
        }));
    }

    /// Changes the spec through the API (generation moves, status and finalizers stay).
    pub async fn update_spec(&self, name: &str, spec: Value) {
        replace_spec(
            &Api::<AuthClient>::namespaced(self.kube.client(), NS),
            name,
            spec,
        )
        .await;
    }

    /// The Auth0 client id recorded in the AuthClient's status.
    pub async fn client_id(&self, name: &str) -> String {
        self.get(name)
            .await
            .status
            .and_then(|s| s.client_id)
            .expect("status.clientId")
    }

    /// Applies `spec` as `name`, converges it and returns the Auth0 client id it got.
    pub async fn created(&self, name: &str, spec: Value) -> String {
        self.apply(name, spec);
        self.converge(name).await;
        self.client_id(name).await
    }

    /// The next `method` `path` call to Auth0 (one attempt) fails with `action`.
    pub fn fail_auth0_once(&self, method: &str, path: &str, action: sim::FailAction) {
        self.sim
            .fail_next(sim::FailNext::new(method, path, 1, action));
    }

    /// `orders` applied, and its first pass run with the POST creating its client failing
    /// with `action` (the pass's own result ignored: a crash test provokes it).
    pub async fn orders_pass_failing_post(&self, action: sim::FailAction) {
        self.apply("orders", spec("Orders"));
        self.fail_auth0_once("POST", "/api/v2/clients", action);
        let _ = self.reconcile("orders").await;
    }

    /// The status of the AuthClient `name` (it has one).
    pub async fn status(&self, name: &str) -> nexus_crd::AuthClientStatus {
        self.get(name).await.status.expect("status")
    }

    /// Asserts the Ready condition of `name` is `status` with `reason`; returns its message.
    pub async fn assert_ready(&self, name: &str, status: &str, reason: &str) -> String {
        let (actual, actual_reason, message) = self.ready(name).await;
        assert_eq!(
            (actual.as_str(), actual_reason.as_str()),
            (status, reason),
            "{message}"
        );
        message
    }

    pub async fn get(&self, name: &str) -> AuthClient {
        self.get_in(NS, name).await
    }

    /// The stored object, read from the fake directly (not an API request: request counts
    /// stay the operator's own).
    pub async fn get_in(&self, namespace: &str, name: &str) -> AuthClient {
        let path =
            format!("/apis/auth.nexus.dev/v1alpha1/namespaces/{namespace}/authclients/{name}");
        serde_json::from_value(self.kube.get(&path).expect("AuthClient exists"))
            .expect("an AuthClient")
    }

    /// Brings the controller's caches up to date with the fake API (what the watches do when
    /// the controller runs) and checks every tenant whose current generation was not checked
    /// yet (what the AuthTenant controller does).
    pub async fn sync(&self) {
        let client = self.kube.client();
        self.ctx.caches.prime(&client, None).await.expect("caches");
        let mut checked = false;
        for tenant in self.ctx.caches.tenants.reader().state() {
            let current = tenant.status.as_ref().is_some_and(|s| {
                conditions::find(&s.conditions, READY)
                    .is_some_and(|c| c.observed_generation == tenant.metadata.generation)
            });
            if !current {
                authtenant::reconcile(tenant, self.ctx.clone())
                    .await
                    .expect("tenant reconcile");
                checked = true;
            }
        }
        if checked {
            self.ctx.caches.prime(&client, None).await.expect("caches");
        }
    }

    /// One reconcile of the current object, after [`Harness::sync`].
    pub async fn reconcile(&self, name: &str) -> Result<Action, ReconcileError> {
        self.reconcile_in(NS, name).await
    }

    pub async fn reconcile_in(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Action, ReconcileError> {
        self.sync().await;
        self.pass_in(namespace, name).await
    }

    /// One reconcile of the object as it is now, with the caches as they are (no sync).
    pub async fn pass(&self, name: &str) -> Result<Action, ReconcileError> {
        self.pass_in(NS, name).await
    }

    pub async fn pass_in(&self, namespace: &str, name: &str) -> Result<Action, ReconcileError> {
        let obj = self.get_in(namespace, name).await;
        authclient::reconcile(Arc::new(obj), self.ctx.clone()).await
    }

    /// Two passes: the first does the work (the finalizer comes with the crash-safety
    /// marker), the second finds it done; returns the second's action.
    pub async fn converge(&self, name: &str) -> Action {
        self.reconcile(name).await.expect("first pass reconciles");
        self.reconcile(name).await.expect("second pass reconciles")
    }

    /// Runs reconciles until Ready=True (at most `passes`), ignoring the failed passes a
    /// crash test provokes.
    pub async fn settle(&self, name: &str, passes: usize) {
        for _ in 0..passes {
            let _ = self.reconcile(name).await;
            if self
                .get(name)
                .await
                .status
                .is_some_and(|s| conditions::is_true(&s.conditions, conditions::READY))
            {
                return;
            }
        }
        panic!(
            "{name} not Ready after {passes} passes: {:?}",
            self.get(name).await.status
        );
    }

    /// `(status, reason, message)` of the Ready condition.
    pub async fn ready(&self, name: &str) -> (String, String, String) {
        self.ready_in(NS, name).await
    }

    pub fn secret(&self, name: &str) -> Option<Value> {
        self.kube
            .get(&format!("/api/v1/namespaces/{NS}/secrets/{name}"))
    }

    /// Applies `n` AuthClients `app-000`, `app-001`... (display names `App 0`...).
    pub fn apply_fleet(&self, n: usize) {
        for i in 0..n {
            self.apply(&format!("app-{i:03}"), spec(&format!("App {i}")));
        }
    }

    /// Waits (in virtual time, at most `guard`) until `n` AuthClients of [`NS`] are Ready;
    /// whether they were.
    pub async fn wait_ready(&self, guard: Duration, n: usize) -> bool {
        self.kube
            .wait_until(guard, |kube| ready_authclients(kube) == n)
            .await
    }

    pub fn authclient_path(name: &str) -> String {
        format!("/apis/auth.nexus.dev/v1alpha1/namespaces/{NS}/authclients/{name}")
    }

    /// `obj` owns exactly one Auth0 client (tagged with its uid), the one its status names,
    /// and the tenant holds `total` clients in all; returns the client's id.
    pub fn assert_one_client_owned_by(&self, obj: &AuthClient, total: usize) -> String {
        let uid = json!(kube::ResourceExt::uid(obj).expect("uid"));
        let clients = self.sim.clients();
        let owned: Vec<&Value> = clients
            .iter()
            .filter(|c| c["client_metadata"]["nexus_owner_uid"] == uid)
            .collect();
        assert_eq!(owned.len(), 1, "no duplicate: {owned:#?}");
        let id = owned[0]["client_id"].as_str().expect("id").to_owned();
        assert_eq!(
            obj.status.as_ref().and_then(|s| s.client_id.as_deref()),
            Some(id.as_str())
        );
        assert_eq!(clients.len(), total, "clients in the tenant");
        id
    }

    /// `passes` passes of `name` (see [`Harness::settle`]) after a crash: they end with the one
    /// client of [`Harness::assert_one_client_owned_by`] (the tenant holding `total`), found
    /// and not created again. Returns its id.
    pub async fn assert_recovers_one_client(
        &self,
        name: &str,
        passes: usize,
        total: usize,
    ) -> String {
        self.sim.reset_counters();
        self.settle(name, passes).await;
        let id = self.assert_one_client_owned_by(&self.get(name).await, total);
        assert_eq!(
            self.sim.counters().get("POST /api/v2/clients"),
            0,
            "found, not created again"
        );
        id
    }

    /// An event of type `kind` (Normal, Warning) and `reason` was recorded.
    pub fn assert_event(&self, kind: &str, reason: &str) {
        assert!(
            !self.event_notes(kind, reason).is_empty(),
            "no {kind} {reason} event among {:?}",
            self.events()
        );
    }

    /// The notes of the recorded events of type `kind` (Normal, Warning) and `reason`.
    pub fn event_notes(&self, kind: &str, reason: &str) -> Vec<String> {
        self.events()
            .into_iter()
            .filter(|(k, r, _)| k == kind && r == reason)
            .map(|(_, _, note)| note)
            .collect()
    }

    /// Events recorded for the object (events.k8s.io/v1), as `(type, reason, note)`.
    pub fn events(&self) -> Vec<(String, String, String)> {
        let mut events: Vec<Value> = self.kube.list("/apis/events.k8s.io/v1/events");
        events.extend(self.kube.list("/api/v1/events"));
        events
            .iter()
            .map(|e| {
                (
                    e["type"].as_str().unwrap_or_default().to_owned(),
                    e["reason"].as_str().unwrap_or_default().to_owned(),
                    e["note"]
                        .as_str()
                        .or(e["message"].as_str())
                        .unwrap_or_default()
                        .to_owned(),
                )
            })
            .collect()
    }
}

pub fn tenant_object(name: &str, sim: &SimHandle, rps: u32, namespaces: &[&str]) -> Value {
    json!({
        "apiVersion": "auth.nexus.dev/v1alpha1",
        "kind": "AuthTenant",
        "metadata": {"name": name},
        "spec": {
            "domain": sim.domain(),
            "endpoint": sim.base_url(),
            "credentialsSecretRef": {"namespace": CREDS_NS, "name": "acme-m2m"},
            "rateLimit": {"requestsPerSecond": rps, "burst": rps},
            "allowedNamespaces": {"names": namespaces},
        }
    })
}

pub use nexus_testing::{b64, unb64};

/// A valid minimal spec.
pub fn spec(name: &str) -> Value {
    json!({
        "tenant": TENANT,
        "client": {
            "name": name,
            "app_type": "regular_web",
            "callbacks": ["https://app.example.com/callback"],
            "client_metadata": {"owners": "alice,bob", "manuallyCreated": false}
        }
    })
}

/// [`spec`] with its top-level `field` set to `value`.
pub fn spec_with(name: &str, field: &str, value: Value) -> Value {
    let mut s = spec(name);
    s[field] = value;
    s
}

impl Harness {
    /// Creates an AuthResourceServer in the fake API, with the spec's defaults filled in as
    /// the API server's defaulting does on create (a spec that does not parse goes in as it
    /// is), so the operator's first write to it changes no `generation`.
    pub fn apply_server(&self, namespace: &str, name: &str, spec: Value) {
        let spec = serde_json::from_value::<nexus_crd::AuthResourceServerSpec>(spec.clone())
            .ok()
            .and_then(|parsed| serde_json::to_value(parsed).ok())
            .unwrap_or(spec);
        self.kube.insert(json!({
            "apiVersion": "auth.nexus.dev/v1alpha1",
            "kind": "AuthResourceServer",
            "metadata": {"name": name, "namespace": namespace},
            "spec": spec,
        }));
    }

    /// The stored AuthResourceServer (read from the fake directly, not an API request).
    pub fn get_server(&self, namespace: &str, name: &str) -> AuthResourceServer {
        let path = Self::server_path(namespace, name);
        serde_json::from_value(self.kube.get(&path).expect("AuthResourceServer exists"))
            .expect("an AuthResourceServer")
    }

    pub fn server_path(namespace: &str, name: &str) -> String {
        format!("/apis/auth.nexus.dev/v1alpha1/namespaces/{namespace}/authresourceservers/{name}")
    }

    /// Changes an AuthResourceServer's spec through the API.
    pub async fn update_server_spec(&self, namespace: &str, name: &str, spec: Value) {
        let api = Api::<AuthResourceServer>::namespaced(self.kube.client(), namespace);
        replace_spec(&api, name, spec).await;
    }

    /// One reconcile of the AuthResourceServer, after [`Harness::sync`].
    pub async fn reconcile_server(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Action, ResourceServerError> {
        self.sync().await;
        let obj = self.get_server(namespace, name);
        resourceserver::reconcile(Arc::new(obj), self.ctx.clone()).await
    }

    /// One full pass (the creation: finalizer and marker in one write, then the create and
    /// the status).
    pub async fn converge_server(&self, namespace: &str, name: &str) {
        self.reconcile_server(namespace, name)
            .await
            .expect("one pass reconciles");
    }

    /// `(status, reason, message)` of the AuthResourceServer's Ready condition.
    pub fn server_ready(&self, namespace: &str, name: &str) -> (String, String, String) {
        let status = self.get_server(namespace, name).status.unwrap_or_default();
        ready_of(&status.conditions)
    }

    /// Adds a namespace the tenant allows.
    pub fn allow_namespace(&self, namespace: &str, team: &str) {
        self.kube.insert(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace, "labels": {"team": team}}}));
        let mut tenant = self
            .kube
            .get(&format!(
                "/apis/auth.nexus.dev/v1alpha1/authtenants/{TENANT}"
            ))
            .expect("tenant");
        let names = tenant["spec"]["allowedNamespaces"]["names"]
            .as_array_mut()
            .expect("names");
        names.push(json!(namespace));
        tenant["metadata"]
            .as_object_mut()
            .expect("metadata")
            .remove("resourceVersion");
        self.kube.insert(tenant);
    }
}

impl Harness {
    /// Changes the tenant's spec in the fake API (its generation moves; the next
    /// [`Harness::sync`] checks it again).
    pub fn edit_tenant(&self, edit: impl FnOnce(&mut Value)) {
        let mut tenant = self
            .kube
            .get(&format!(
                "/apis/auth.nexus.dev/v1alpha1/authtenants/{TENANT}"
            ))
            .expect("tenant");
        edit(&mut tenant["spec"]);
        let generation = tenant["metadata"]["generation"].as_i64().unwrap_or(1);
        let metadata = tenant["metadata"].as_object_mut().expect("metadata");
        metadata.remove("resourceVersion");
        // A spec change, as the API server records it.
        metadata.insert("generation".into(), json!(generation + 1));
        self.kube.insert(tenant);
    }

    /// Lets `namespaces` adopt existing Auth0 clients (`spec.adoption.allowedNamespaces`).
    pub fn allow_adoption(&self, namespaces: &[&str]) {
        self.edit_tenant(|spec| {
            spec["adoption"] = json!({"allowedNamespaces": {"names": namespaces}});
        });
    }

    /// A Secret of `namespace`, read from the fake directly.
    pub fn secret_in(&self, namespace: &str, name: &str) -> Option<Value> {
        self.kube
            .get(&format!("/api/v1/namespaces/{namespace}/secrets/{name}"))
    }

    /// `(status, reason, message)` of the Ready condition of an AuthClient of `namespace`.
    pub async fn ready_in(&self, namespace: &str, name: &str) -> (String, String, String) {
        let status = self
            .get_in(namespace, name)
            .await
            .status
            .unwrap_or_default();
        ready_of(&status.conditions)
    }
}

/// What a drift scan reports, and the objects it triggered.
pub type Scan<K> = (
    nexus_controller::drift::ScanReport,
    Vec<kube::runtime::reflector::ObjectRef<K>>,
);

impl Harness {
    /// One drift scan of the tenant [`TENANT`] over a reflector store of the current
    /// AuthClients (as the controller has it, after [`Harness::sync`]): its report and the
    /// AuthClients it triggered.
    pub async fn scan_drift(&self) -> Scan<AuthClient> {
        use nexus_controller::compact::CachedAuthClient;
        self.sync().await;
        let store =
            nexus_testing::reflector_store(&Api::<CachedAuthClient>::all(self.kube.client())).await;
        let tenant = self.tenant().await;
        let (tx, rx) = futures::channel::mpsc::unbounded();
        let report = nexus_controller::drift::scan_tenant(&self.ctx, &store, &tenant, &tx)
            .await
            .expect("scan");
        drop(tx);
        (report, drain(rx))
    }

    /// [`Harness::scan_drift`], its Auth0 calls counted from zero: asserts it compared,
    /// found drifted and found missing `counts` AuthClients.
    pub async fn assert_scan_finds(&self, counts: (usize, usize, usize)) -> Scan<AuthClient> {
        self.sim.reset_counters();
        let (report, triggered) = self.scan_drift().await;
        let found = (report.compared, report.drifted, report.missing);
        assert_eq!(found, counts, "{report:?}");
        (report, triggered)
    }

    /// One drift scan of the tenant's APIs (after [`Harness::sync`]): its report and the
    /// AuthResourceServers it triggered.
    pub async fn scan_api_drift(&self) -> Scan<AuthResourceServer> {
        self.sync().await;
        let tenant = self.tenant().await;
        let (tx, rx) = futures::channel::mpsc::unbounded();
        let report = nexus_controller::drift::scan_resource_servers(&self.ctx, &tenant, &tx)
            .await
            .expect("scan");
        drop(tx);
        (report, drain(rx))
    }

    /// The AuthTenant [`TENANT`], through the API.
    async fn tenant(&self) -> nexus_crd::AuthTenant {
        Api::<nexus_crd::AuthTenant>::all(self.kube.client())
            .get(TENANT)
            .await
            .expect("tenant")
    }
}

/// Replaces the spec of the object `name` through `api` (generation moves, status and
/// finalizers stay).
async fn replace_spec<K>(api: &Api<K>, name: &str, spec: Value)
where
    K: kube::Resource + Clone + std::fmt::Debug + serde::Serialize + serde::de::DeserializeOwned,
{
    let mut obj = serde_json::to_value(api.get(name).await.expect("the object exists"))
        .expect("object as JSON");
    obj["spec"] = spec;
    let obj: K = serde_json::from_value(obj).expect("valid spec");
    api.replace(name, &Default::default(), &obj)
        .await
        .expect("spec updated");
}

/// What a closed channel still holds.
fn drain<T>(mut rx: futures::channel::mpsc::UnboundedReceiver<T>) -> Vec<T> {
    let mut items = Vec::new();
    while let Ok(item) = rx.try_recv() {
        items.push(item);
    }
    items
}

/// The whole controller (watches, queue, caches) running as a task until [`Running::stop`].
pub struct Running {
    /// Asks the controller to stop.
    pub stop: tokio::sync::oneshot::Sender<()>,
    /// The controller's task: it ends once the controller has stopped.
    pub task: tokio::task::JoinHandle<()>,
}

impl Running {
    /// Starts [`nexus_controller::run`] on `ctx`, serving `scope`.
    pub fn start(ctx: Arc<Context>, scope: impl Into<nexus_controller::WatchScope>) -> Self {
        let scope: nexus_controller::WatchScope = scope.into();
        let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(nexus_controller::run(ctx, scope, async move {
            let _ = stop_rx.await;
        }));
        Self { stop, task }
    }

    /// Asks the controller to stop and waits until it has.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        self.task.await.expect("controller stops");
    }
}

impl Harness {
    /// The controller running on this harness's context, serving every namespace.
    pub fn run_controller(&self) -> Running {
        Running::start(self.ctx.clone(), None)
    }

    /// `nexus_reconciles_total` summed over its labels.
    pub fn reconciles(&self) -> u64 {
        reconciles_of(&self.ctx)
    }
}

/// The path of the AuthClient collection of [`NS`].
/// `nexus_reconciles_total` of `ctx` summed over its labels.
pub fn reconciles_of(ctx: &Context) -> u64 {
    let mut registry = prometheus_client::registry::Registry::default();
    ctx.metrics.register(&mut registry);
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).expect("metrics encode");
    text.lines()
        .filter(|l| l.starts_with("nexus_reconciles_total"))
        .filter_map(|l| l.rsplit(' ').next())
        .filter_map(|v| v.parse::<f64>().ok())
        .sum::<f64>() as u64
}

pub fn authclients_path() -> String {
    format!("/apis/auth.nexus.dev/v1alpha1/namespaces/{NS}/authclients")
}

/// Waits (in virtual time, at most `guard`) until the object at `path` has the Ready reason
/// `reason`, and asserts it got there (showing the object if not).
pub async fn assert_reaches_reason(kube: &FakeKube, guard: Duration, path: &str, reason: &str) {
    let reason_is = |k: &FakeKube| {
        k.get(path)
            .and_then(|o| nexus_testing::ready_condition(&o))
            .is_some_and(|r| r.1 == reason)
    };
    assert!(
        kube.wait_until(guard, reason_is).await,
        "{path} never reached {reason}: {:?}",
        kube.get(path)
    );
}

/// How many AuthClients of [`NS`] are Ready=True in `kube`.
pub fn ready_authclients(kube: &FakeKube) -> usize {
    kube.list(&authclients_path())
        .iter()
        .filter(|o| nexus_testing::is_ready(o))
        .count()
}

type Condition = k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;

/// The condition of type `type_` among `conditions` (there must be one).
pub fn condition<'a>(conditions: &'a [Condition], type_: &str) -> &'a Condition {
    conditions
        .iter()
        .find(|c| c.type_ == type_)
        .unwrap_or_else(|| panic!("a {type_} condition among {conditions:?}"))
}

/// `(status, reason, message)` of the Ready condition among `conditions`.
pub fn ready_of(conditions: &[Condition]) -> (String, String, String) {
    let ready = condition(conditions, "Ready");
    (
        ready.status.clone(),
        ready.reason.clone(),
        ready.message.clone(),
    )
}

/// The one PATCH of `path` among `requests`, which must be of `content_type`.
pub fn the_patch<'a>(
    requests: &'a [kube_fake::RecordedRequest],
    path: &str,
    content_type: &str,
) -> &'a kube_fake::RecordedRequest {
    let patches: Vec<_> = requests
        .iter()
        .filter(|r| r.method == "PATCH" && r.path == path)
        .collect();
    assert_eq!(patches.len(), 1, "one PATCH of {path}: {requests:#?}");
    assert_eq!(patches[0].content_type.as_deref(), Some(content_type));
    patches[0]
}

/// The one metadata write of a creation among `requests`: a merge patch of the object at
/// `path` that adds the finalizer and the crash-safety marker, conditional on the
/// resourceVersion the pass planned from. Returns the marker it wrote.
pub fn the_claim(requests: &[kube_fake::RecordedRequest], path: &str) -> String {
    let claim = the_patch(requests, path, "application/merge-patch+json");
    let body = claim.body.as_ref().expect("body");
    assert_eq!(
        body["metadata"]["finalizers"],
        json!(["auth.nexus.dev/cleanup"])
    );
    assert!(
        body["metadata"]["resourceVersion"].is_string(),
        "the marker is conditional on the resourceVersion planned from: {body}"
    );
    body["metadata"]["annotations"]["auth.nexus.dev/creation-attempt"]
        .as_str()
        .expect("the marker in the same write")
        .to_owned()
}
