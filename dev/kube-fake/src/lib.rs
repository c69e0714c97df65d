//! An in-memory, stateful Kubernetes API server for tests and the `nexus-operator dev` sandbox.
//!
//! [`FakeKube`] serves the Kubernetes REST API at the HTTP boundary, either in-process through
//! [`FakeKube::client`] (a tower service behind a real [`kube::Client`]) or over plain HTTP on
//! loopback through [`FakeKube::serve`]. It keeps objects, resource versions and a watch event
//! log, so typed `Api`s, `kube::runtime::watcher`, `Controller`, the finalizer helper, the event
//! recorder and lease-based leader election run against it unchanged. Every request is
//! recorded ([`FakeKube::requests`]) and errors can be injected ([`FakeKube::fail_next`]).
//!
//! Served semantics: get/list/watch (label and field selectors, paged lists with `limit` and
//! `continue`, resourceVersion replay, bookmarks, `sendInitialEvents`, `410 Expired` after
//! [`FakeKube::compact`]), create (`generateName`, name validation), replace
//! (optimistic concurrency), merge / strategic-merge / JSON / server-side-apply patches,
//! `managedFields` (per manager and operation, with the fields each write set), server-side
//! apply bodies read with the real YAML reader's character rule ([`yaml_reader`]: a raw
//! character outside YAML's printable set is the real 400), the status
//! subresource, `generation`, finalizers and deletion, and ownerReference garbage
//! collection.
//!
//! For the real kubectl (1.27 to 1.33): stored CustomResourceDefinitions define what is served
//! (names, short names, categories, scope, status subresource, printer columns, schema; deleting
//! one removes its objects); discovery; OpenAPI v3 and v2 (protobuf, a 503 while a schema holds
//! a character YAML refuses, as kube-openapi answers); `Table` responses; writes
//! of custom resources defaulted, pruned (or refused under `fieldValidation=Strict`) and
//! validated against the schema ([`schema`]); events served through both event APIs; `Status`
//! errors as the real server words them. [`FakeKube::snapshot`] / [`FakeKube::restore`] keep the
//! objects across processes.
//!
//! Tests can hold a client to exactly a set of Roles and ClusterRoles: [`FakeKube::authorize`]
//! gives a subject an [`rbac::RbacPolicy`], [`FakeKube::client_as`] makes that subject's client,
//! and its requests outside the policy get the real API server's 403 ([`rbac`]).
//!
//! Every request goes through one pipeline (`routes::handle`: the cost model's latency, record,
//! injected failure, RBAC, dispatch under the store lock, response, the cost of the bytes and
//! objects returned). [`cost`] describes what is charged ([`FakeKube::with_cost`]) and counts
//! requests by verb and resource ([`FakeKube::request_counts`]).

mod apply;
pub mod cost;
mod crd;
mod discovery;
mod error;
mod events;
mod merge;
mod openapi;
mod openapi_v2;
mod patch;
mod path;
pub mod rbac;
mod registry;
mod routes;
pub mod schema;
mod selector;
mod store;
mod table;
mod watch;
pub mod yaml_reader;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State as AxumState};
use axum::response::Response;
use serde_json::Value;

pub use cost::{CostModel, RequestCounts, Verb};
pub use error::ApiError;
pub use registry::{PrinterColumn, ResourceType};

use store::{ObjKey, Store};

/// One request received by the fake API server.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedRequest {
    /// HTTP method, upper case (`GET`, `PATCH`, ...).
    pub method: String,
    /// Request path without the query string.
    pub path: String,
    /// Decoded query parameters (the last value wins for repeated keys).
    pub query: BTreeMap<String, String>,
    /// The `Content-Type` header, if any.
    pub content_type: Option<String>,
    /// The body parsed as JSON (a JSON string when it is not JSON), `None` when empty.
    pub body: Option<Value>,
}

/// An error to answer instead of serving matching requests.
#[derive(Debug, Clone)]
struct FailRule {
    method: String,
    pattern: String,
    status: u16,
    /// Matching requests to let through before failing.
    skip: usize,
    remaining: usize,
}

/// Everything behind the lock.
#[derive(Debug, Default)]
pub(crate) struct State {
    store: Store,
    requests: Vec<RecordedRequest>,
    failures: Vec<FailRule>,
    /// While set, every request is answered with this status ([`FakeKube::set_outage`]).
    outage: Option<u16>,
    cost: CostModel,
    /// When the write lane is free again ([`CostModel::write_service`]).
    lane_free: Option<tokio::time::Instant>,
    authorizer: rbac::Authorizer,
}

impl State {
    /// Consume one injected failure matching this request, if any.
    fn take_failure(&mut self, method: &str, path: &str) -> Option<ApiError> {
        let rule = self.failures.iter_mut().find(|r| {
            r.remaining > 0
                && (r.method == "*" || r.method.eq_ignore_ascii_case(method))
                && path.contains(&r.pattern)
        })?;
        if rule.skip > 0 {
            rule.skip -= 1;
            return None;
        }
        rule.remaining -= 1;
        let status = rule.status;
        self.failures.retain(|r| r.remaining > 0);
        Some(ApiError::new(
            status,
            format!("injected failure for {method} {path}"),
        ))
    }
}

/// Shared state of one fake API server.
#[derive(Debug)]
pub(crate) struct Inner {
    state: Mutex<State>,
    /// Bumped after every request and every direct mutation; wakes watches and waiters.
    changes: tokio::sync::watch::Sender<u64>,
    /// The list responses' charges not paid yet (below a millisecond).
    debt: cost::Debt,
}

impl Inner {
    /// Lock the state (a panic in another thread does not poison the fake for the test).
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Signal a state change.
    pub(crate) fn notify(&self) {
        self.changes.send_modify(|v| *v = v.wrapping_add(1));
    }
}

/// A stateful in-memory Kubernetes API server. Cheap to clone; clones share state.
#[derive(Clone, Debug)]
pub struct FakeKube {
    inner: Arc<Inner>,
}

impl Default for FakeKube {
    fn default() -> Self {
        Self::new()
    }
}

impl FakeKube {
    /// An empty API server knowing the preloaded resources (core v1 secrets, configmaps,
    /// events, namespaces; events.k8s.io/v1 events; coordination.k8s.io/v1 leases;
    /// auth.nexus.dev/v1alpha1 authclients and authtenants; apiextensions.k8s.io/v1 CRDs).
    /// It charges nothing for requests ([`CostModel::FREE`]), as tests want.
    pub fn new() -> Self {
        Self::with_cost(CostModel::FREE)
    }

    /// Like [`FakeKube::new`], charging every request what `cost` says (the benchmarks use
    /// [`CostModel::default`], the latency of a real API server).
    pub fn with_cost(cost: CostModel) -> Self {
        let (changes, _) = tokio::sync::watch::channel(0);
        Self {
            inner: Arc::new(Inner {
                state: Mutex::new(State {
                    cost,
                    ..State::default()
                }),
                changes,
                debt: cost::Debt::default(),
            }),
        }
    }

    /// Charges requests from now on what `cost` says (watches already open keep their model).
    pub fn set_cost(&self, cost: CostModel) {
        self.inner.lock().cost = cost;
    }

    /// The cost model in force.
    pub fn cost(&self) -> CostModel {
        self.inner.lock().cost
    }

    /// The requests received so far, counted by verb and resource.
    pub fn request_counts(&self) -> RequestCounts {
        RequestCounts::of(self.inner.lock().requests.iter())
    }

    /// How many requests were received so far.
    pub fn request_count(&self) -> usize {
        self.inner.lock().requests.len()
    }

    /// From now on refuse, like a real API server (NamespaceLifecycle admission), to create a
    /// namespaced object in a namespace that has no Namespace object: 404 `namespaces "x" not
    /// found`, for POST and for a server-side apply that would create. Off by default.
    pub fn require_namespaces(&self) {
        self.inner.lock().store.require_namespaces = true;
    }

    /// Serve an additional resource type (replaces one with the same group/version/plural).
    pub fn register(&self, resource: ResourceType) {
        self.inner.lock().store.registry.register(resource);
    }

    /// Authorizes the requests of `subject` (a [`FakeKube::client_as`] client) against
    /// `policy` from now on, as the API server's RBAC authorizer does (see [`rbac`]); replaces
    /// an earlier policy of the subject. Requests of [`FakeKube::client`] stay unrestricted.
    pub fn authorize(&self, subject: &str, policy: rbac::RbacPolicy) {
        self.inner.lock().authorizer.set(subject, policy);
    }

    /// A `kube::Client` (default namespace `default`) whose requests are those of `subject`:
    /// authorized against the policy given with [`FakeKube::authorize`] (every resource
    /// request is refused while there is none).
    pub fn client_as(&self, subject: &str) -> kube::Client {
        use tower::ServiceExt;
        let value = http::HeaderValue::from_str(subject)
            .unwrap_or_else(|_| http::HeaderValue::from_static("invalid-subject"));
        let service =
            self.router()
                .map_request(move |mut request: http::Request<kube::client::Body>| {
                    request
                        .headers_mut()
                        .insert(rbac::SUBJECT_HEADER, value.clone());
                    request
                });
        kube::Client::new(service, "default")
    }

    /// Every request the authorizer refused so far (403), in order.
    pub fn denials(&self) -> Vec<rbac::Denial> {
        self.inner.lock().authorizer.denials.clone()
    }

    /// The HTTP handler as an axum router.
    fn router(&self) -> Router {
        Router::new()
            .fallback(handle)
            .with_state(self.inner.clone())
    }

    /// A `kube::Client` talking to this server in-process, with default namespace `default`.
    /// Must be called inside a Tokio runtime.
    pub fn client(&self) -> kube::Client {
        kube::Client::new(self.router(), "default")
    }

    /// Serve the same API over plain HTTP on `addr` (use port 0 for an ephemeral port) until
    /// the runtime shuts down. Returns the bound address, for a `kube::Config` `cluster_url`.
    ///
    /// Connections are `TCP_NODELAY`: a watch answers with many small writes, which Nagle's
    /// algorithm would hold back until the peer's delayed ACK (tens of milliseconds of real
    /// time). That would slow every watch event down, and on a paused test clock the runtime
    /// would go idle meanwhile and jump to its next timer (see `auth0_sim::clock`).
    pub async fn serve(&self, addr: SocketAddr) -> std::io::Result<SocketAddr> {
        use axum::serve::ListenerExt as _;
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let bound = listener.local_addr()?;
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        let router = self.router();
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, router).await {
                tracing::warn!(error = %e, "testkit HTTP server stopped");
            }
        });
        Ok(bound)
    }

    /// The latest resource version handed out: it changes with every write, so a caller can
    /// tell whether anything changed since it last looked.
    pub fn resource_version(&self) -> u64 {
        self.inner.lock().store.current_rv()
    }

    /// Every stored object (with its field managers) as JSON, for [`FakeKube::restore`]: how the
    /// dev sandbox keeps its objects across restarts.
    pub fn snapshot(&self) -> Value {
        self.inner.lock().store.snapshot()
    }

    /// Replaces every object with those of a [`FakeKube::snapshot`] (uids, resource versions and
    /// field managers kept; CRDs serve their resources again). Returns the number of objects.
    /// Watches started before see nothing of it: restore before serving.
    ///
    /// # Errors
    /// When `snapshot` is not one, or names a kind no resource (or restored CRD) serves.
    pub fn restore(&self, snapshot: &Value) -> Result<usize, String> {
        let restored = self.inner.lock().store.restore(snapshot);
        self.inner.notify();
        restored
    }

    /// Drops the watch event log, as etcd's compaction does: watches and continue tokens from
    /// an older resourceVersion get `410 Expired` (watchers relist).
    pub fn compact(&self) {
        self.inner.lock().store.compact();
    }

    /// How many stored objects paged lists (`limit`) have read so far: a page reads the
    /// objects it examines from its continue token on (those its selectors reject included),
    /// not the whole collection. For tests of what a page costs, without a clock.
    pub fn objects_read_by_pages(&self) -> u64 {
        self.inner.lock().store.examined()
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.inner.lock().requests.clone()
    }

    /// Forget the recorded requests.
    pub fn clear_requests(&self) {
        self.inner.lock().requests.clear();
    }

    /// The object at an API path such as `/api/v1/namespaces/ns1/secrets/s`.
    pub fn get(&self, path: &str) -> Option<Value> {
        let p = path::parse(path)?;
        let name = p.name.as_deref()?;
        let state = self.inner.lock();
        let rt = state
            .store
            .registry
            .by_plural(&p.group, &p.version, &p.plural)?;
        state
            .store
            .get(&ObjKey::new(rt, p.namespace.as_deref(), name))
            .cloned()
    }

    /// The objects of a collection path: `/api/v1/namespaces/ns1/secrets` (one namespace) or
    /// `/api/v1/secrets` (all namespaces). Ordered by namespace and name.
    pub fn list(&self, collection_path: &str) -> Vec<Value> {
        let Some(p) = path::parse(collection_path).filter(|p| p.name.is_none()) else {
            return Vec::new();
        };
        let state = self.inner.lock();
        let Some(rt) = state
            .store
            .registry
            .by_plural(&p.group, &p.version, &p.plural)
        else {
            return Vec::new();
        };
        state
            .store
            .list(&rt.group, &rt.plural, p.namespace.as_deref())
            .into_iter()
            .cloned()
            .collect()
    }

    /// Seed (upsert) an object; `apiVersion`, `kind` and `metadata.name` are required. Fills
    /// uid, resourceVersion, creationTimestamp and generation and notifies watchers. An unknown
    /// kind is registered on the fly (plural = lowercase kind + `s`, namespaced when the object
    /// has a namespace, no status subresource).
    ///
    /// # Panics
    /// When the object lacks `apiVersion`, `kind` or `metadata.name` (a bug in the test).
    pub fn insert(&self, object: Value) {
        let api_version = object
            .get("apiVersion")
            .and_then(Value::as_str)
            .map(str::to_string);
        let kind = object
            .get("kind")
            .and_then(Value::as_str)
            .map(str::to_string);
        let name = object.pointer("/metadata/name").and_then(Value::as_str);
        let (Some(api_version), Some(kind), Some(_)) = (api_version, kind, name) else {
            panic!("FakeKube::insert needs apiVersion, kind and metadata.name: {object}");
        };
        {
            let mut state = self.inner.lock();
            let rt = match state.store.registry.by_kind(&api_version, &kind) {
                Some(rt) => rt.clone(),
                None => {
                    let rt = inferred_type(
                        &api_version,
                        &kind,
                        object.pointer("/metadata/namespace").is_some(),
                    );
                    state.store.registry.register(rt.clone());
                    rt
                }
            };
            state.store.insert(&rt, object);
        }
        self.inner.notify();
    }

    /// From now on answer every request (watches included, open ones are not touched) with a
    /// `Status` error of code `status` (429, 500, 503, ...), before any state change, until
    /// `set_outage(None)`: an API server that is up but refuses or fails everything. The
    /// refused requests are recorded and counted.
    pub fn set_outage(&self, status: Option<u16>) {
        self.inner.lock().outage = status;
        self.inner.notify();
    }

    /// Serves the API over plain HTTP on `addr` like [`FakeKube::serve`], behind a
    /// [`ServedApi`] that can stop and start the listener on the same address, the objects kept:
    /// an API server that goes away and comes back (a crash, a control-plane upgrade).
    pub async fn serve_stoppable(&self, addr: SocketAddr) -> std::io::Result<ServedApi> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let served = ServedApi {
            router: self.router(),
            addr,
            task: Mutex::new(None),
        };
        served.run(listener);
        Ok(served)
    }

    /// Answer the next `times` requests whose method matches (`"*"` for any) and whose path
    /// contains `path_suffix_or_substring` with a `Status` error of code `status`, before any
    /// state change. The failed requests are still recorded.
    pub fn fail_next(
        &self,
        method: &str,
        path_suffix_or_substring: &str,
        status: u16,
        times: usize,
    ) {
        if times == 0 {
            return;
        }
        self.inner.lock().failures.push(FailRule {
            method: method.to_string(),
            pattern: path_suffix_or_substring.to_string(),
            status,
            skip: 0,
            remaining: times,
        });
    }

    /// Like [`FakeKube::fail_next`], but lets the first `skip` matching requests through and
    /// fails the one after them (for "the second status write fails" crash tests).
    pub fn fail_after(
        &self,
        method: &str,
        path_suffix_or_substring: &str,
        status: u16,
        skip: usize,
    ) {
        self.inner.lock().failures.push(FailRule {
            method: method.to_string(),
            pattern: path_suffix_or_substring.to_string(),
            status,
            skip,
            remaining: 1,
        });
    }

    /// Wait until `predicate` holds, re-evaluating it after every request or mutation.
    /// Returns `false` if it still does not hold after `timeout`.
    pub async fn wait_until<F: Fn(&FakeKube) -> bool>(
        &self,
        timeout: Duration,
        predicate: F,
    ) -> bool {
        let mut changes = self.inner.changes.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            changes.borrow_and_update();
            if predicate(self) {
                return true;
            }
            match tokio::time::timeout_at(deadline, changes.changed()).await {
                Ok(Ok(())) => continue,
                _ => return predicate(self),
            }
        }
    }
}

/// The HTTP listener of [`FakeKube::serve_stoppable`]: [`stop`](Self::stop) makes the address
/// refuse connections and drops the open ones (watches end mid-stream, requests in flight get
/// no answer); [`start`](Self::start) listens on the same address again. The objects, their
/// resource versions and the watch event log survive, as etcd's do when an API server
/// restarts. Dropping it stops the listener.
#[derive(Debug)]
pub struct ServedApi {
    router: Router,
    addr: SocketAddr,
    /// The accept loop; it owns every connection's task, so aborting it drops them all.
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl ServedApi {
    /// The address served (the same after a restart).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Whether the listener is up.
    pub fn is_serving(&self) -> bool {
        self.task_slot()
            .as_ref()
            .is_some_and(|task| !task.is_finished())
    }

    /// Closes the listener and every open connection (no graceful close: the client sees its
    /// connections reset, as when the API server's process dies). The listener is closed once
    /// the runtime has run the aborted accept loop's drop, at its next turn.
    pub fn stop(&self) {
        if let Some(task) = self.task_slot().as_ref() {
            task.abort();
        }
    }

    /// Listens on the address again (stopping first if still up).
    ///
    /// # Errors
    /// When the address cannot be bound again.
    pub async fn start(&self) -> std::io::Result<()> {
        let previous = self.task_slot().take();
        if let Some(task) = previous {
            task.abort();
            // The old listener is closed once its task is gone.
            let _ = task.await;
        }
        let listener = tokio::net::TcpListener::bind(self.addr).await?;
        self.run(listener);
        Ok(())
    }

    fn task_slot(&self) -> MutexGuard<'_, Option<tokio::task::JoinHandle<()>>> {
        self.task
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn run(&self, listener: tokio::net::TcpListener) {
        let router = self.router.clone();
        let task = tokio::spawn(async move {
            // Aborting this task drops the set, which aborts every connection.
            let mut connections = tokio::task::JoinSet::new();
            loop {
                tokio::select! {
                    accepted = listener.accept() => {
                        let Ok((tcp, _)) = accepted else { continue };
                        // As in `FakeKube::serve`: watch events are many small writes.
                        let _ = tcp.set_nodelay(true);
                        let service = hyper_util::service::TowerToHyperService::new(router.clone());
                        connections.spawn(async move {
                            let io = hyper_util::rt::TokioIo::new(tcp);
                            let _ = hyper::server::conn::http1::Builder::new()
                                .serve_connection(io, service)
                                .await;
                        });
                    }
                    Some(_) = connections.join_next(), if !connections.is_empty() => {}
                }
            }
        });
        *self.task_slot() = Some(task);
    }
}

impl Drop for ServedApi {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A resource type guessed from an object's `apiVersion`/`kind`.
fn inferred_type(api_version: &str, kind: &str, namespaced: bool) -> ResourceType {
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    let plural = format!("{}s", kind.to_lowercase());
    ResourceType::new(group, version, &plural, kind, namespaced, false)
}

async fn handle(AxumState(inner): AxumState<Arc<Inner>>, request: Request) -> Response {
    routes::handle(inner, request).await
}
