//! Operational hygiene of the operator, checked over one full lifecycle (controller and
//! facade) run in-process against the in-memory Kubernetes API and the Auth0 simulator, once
//! for each RBAC mode of the chart (cluster-wide, and namespaced: `watchNamespaces` with
//! `credentialsSecrets`):
//!
//! * RBAC: the API server authorizes the controller's and the facade's requests with exactly
//!   the grants `tests/rbac/api-calls.txt` gives each of them in that mode (the grants the Helm
//!   chart renders, checked by hack/chart-check.py), so the lifecycle proves they suffice; and
//!   every line of the file is used by each of its users, so none is superfluous. In the
//!   namespaced mode a tenant whose credentials Secret is not granted is reported
//!   (`CredentialsForbidden`) and an AuthClient outside the served namespaces is never touched.
//! * Secrets never leak: no Auth0 client secret (before and after rotation), no M2M secret (good
//!   or wrong), no API's HS256 signing secret and no Management API access token appears in the
//!   logs (TRACE, every target), in Kubernetes Events, in AuthClient/AuthTenant/
//!   AuthResourceServer objects, in any request body sent to the
//!   API server outside Secrets, or in the `Display`/`Debug` of any error - including error
//!   paths where Auth0 echoes the credentials and the token back in its error bodies.
//!
//! All checks of a mode share one lifecycle (and the process-wide log capture), so each mode
//! is one test. Both run on tokio's paused clock: the controller, the facade, the leader
//! election, FakeKube and the simulators are tasks of the test's current-thread runtime, so
//! back-offs, the drift scan's interval and the guards' timeouts are virtual time
//! (`nexus_testing::paused`), and a busy machine cannot make a wait time out. A real-time
//! watchdog guards against a livelock, which a virtual timeout cannot catch.

mod rbac;

use nexus_testing as support;
use nexus_testing::world;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, SaltString};
use auth0_mgmt::Priority;
use auth0_sim::{self as sim, FailAction, M2mCredential, SimConfig};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use kube::runtime::controller::Action;
use kube_fake::FakeKube;
use kube_fake::rbac::Attributes;
use nexus_controller::authclient::{self, ReconcileError};
use nexus_controller::metrics::ControllerMetrics;
use nexus_controller::{
    self as controller, Context, ControllerConfig, WatchScope, tenant_access as tenant,
};
use nexus_crd::{AuthClient, AuthTenant, ROTATE_ANNOTATION};
use nexus_facade::{self as facade, FacadeConfig, FacadeMetrics, ObjectRef};
use nexus_leader::{LeaderElector, LeaseConfig};
use rbac::{Install, Mode, User};
use serde_json::{Value, json};

/// Served in both modes; the facade's namespace.
const NS: &str = "team-a";
/// Served in both modes (the namespaced install serves two namespaces).
const NS_B: &str = "team-b";
/// Allowed by no tenant, served only by the cluster-wide install.
const NS_OTHER: &str = "team-c";
/// The release namespace: the operator's Lease, the credentials Secrets, the facade's Secret.
const CREDS_NS: &str = "nexus-system";
const LEASE: &str = "nexus-operator";
const FACADE_CREDENTIALS: &str = "facade-credentials";
/// A credentials Secret that exists but is not in `credentialsSecrets`.
const LOCKED_SECRET: &str = "locked-m2m";
/// The RBAC subjects of the two users (the same ServiceAccount in a real install; separate here
/// so that each is held to its own lines).
const CONTROLLER: &str = "system:serviceaccount:nexus-system:nexus-operator(controller)";
const FACADE: &str = "system:serviceaccount:nexus-system:nexus-operator(facade)";
/// Guard of every wait, in virtual time.
const WAIT: Duration = Duration::from_secs(120);
/// Real time after which a lifecycle is taken to hang.
const HANG: Duration = Duration::from_secs(600);

#[tokio::test(start_paused = true)]
async fn cluster_wide_lifecycle_needs_exactly_its_grants_and_never_leaks_secrets() {
    hygiene(Mode::ClusterWide).await;
}

#[tokio::test(start_paused = true)]
async fn namespaced_lifecycle_needs_exactly_its_grants_and_never_leaks_secrets() {
    hygiene(Mode::Namespaced).await;
}

async fn hygiene(mode: Mode) {
    let _watchdog = support::paused::Watchdog::arm(HANG);
    let logs = support::logs::capture("trace");
    let world = World::new(mode).await;
    let errors = world.lifecycle().await;

    let mut failures = Vec::new();
    failures.extend(world.check_rbac());
    failures.extend(world.check_leaks(&logs.text(), &errors));
    assert!(
        failures.is_empty(),
        "{mode:?}: {} hygiene failure(s):\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

// ---------------------------------------------------------------------------------------------
// Each user's requests, as sent and as answered.

#[derive(Clone, Debug)]
struct Call {
    method: String,
    path: String,
    query: BTreeMap<String, String>,
    /// A server-side apply.
    apply: bool,
    status: u16,
}

type Calls = Arc<Mutex<Vec<Call>>>;

/// `client` with every request and its status recorded into `calls`.
fn recorded(client: kube::Client, calls: Calls) -> kube::Client {
    let service = tower::service_fn(move |request: http::Request<kube::client::Body>| {
        let client = client.clone();
        let calls = calls.clone();
        async move {
            let method = request.method().to_string();
            let path = request.uri().path().to_owned();
            let query = request
                .uri()
                .query()
                .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
                .unwrap_or_default();
            let apply = request
                .headers()
                .get(http::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|c| c.starts_with("application/apply-patch"));
            let response = client.send(request).await?;
            calls.lock().unwrap_or_else(|e| e.into_inner()).push(Call {
                method,
                path,
                query,
                apply,
                status: response.status().as_u16(),
            });
            Ok::<_, kube::Error>(response)
        }
    });
    kube::Client::new(service, "default")
}

// ---------------------------------------------------------------------------------------------
// A fake Auth0 that echoes credentials and tokens back in its error bodies.

struct Echo {
    m2m_secret: String,
    token: String,
}

async fn echo_token(State(echo): State<Arc<Echo>>, body: String) -> axum::response::Response {
    let request: Value = serde_json::from_str(&body).unwrap_or_default();
    let id = request["client_id"].as_str().unwrap_or_default();
    let secret = request["client_secret"].as_str().unwrap_or_default();
    if id == "echo-m2m" && secret == echo.m2m_secret {
        return axum::Json(json!({
            "access_token": echo.token, "expires_in": 86400, "token_type": "Bearer",
        }))
        .into_response();
    }
    (
        StatusCode::UNAUTHORIZED,
        axum::Json(json!({
            "error": "access_denied",
            "error_description": format!("Unauthorized: client {id} presented secret {secret}"),
        })),
    )
        .into_response()
}

async fn echo_api(State(echo): State<Arc<Echo>>, headers: HeaderMap) -> axum::response::Response {
    let authorization = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (
        StatusCode::BAD_REQUEST,
        axum::Json(json!({
            "statusCode": 400,
            "error": "Bad Request",
            "message": format!(
                "Payload validation error: request with {authorization} by a client holding {} was refused",
                echo.m2m_secret
            ),
            "errorCode": "invalid_body",
        })),
    )
        .into_response()
}

async fn start_echo(echo: Arc<Echo>) -> SocketAddr {
    let router = axum::Router::new()
        .route("/oauth/token", axum::routing::post(echo_token))
        .fallback(echo_api)
        .with_state(echo);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind echo");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    addr
}

// ---------------------------------------------------------------------------------------------
// The lifecycle.

struct World {
    mode: Mode,
    install: Install,
    scope: WatchScope,
    kube: FakeKube,
    sim: sim::SimHandle,
    ctx: Arc<Context>,
    /// The controller's client (the context's) and the facade's.
    controller_kube: kube::Client,
    facade_kube: kube::Client,
    calls: BTreeMap<User, Calls>,
    facade_password: Mutex<String>,
    /// Every secret value that must never show up, with a label for the report.
    secrets: Mutex<BTreeMap<String, String>>,
}

fn tenant_json(name: &str, base_url: &str, domain: &str, secret: &str) -> Value {
    json!({
        "apiVersion": "auth.nexus.dev/v1alpha1", "kind": "AuthTenant",
        "metadata": {"name": name},
        "spec": {
            "domain": domain,
            "endpoint": base_url,
            "credentialsSecretRef": {"namespace": CREDS_NS, "name": secret},
            "rateLimit": {"requestsPerSecond": 100, "burst": 100},
            "allowedNamespaces": {"names": [NS, NS_B]},
            "facadeNamespace": NS,
        }
    })
}

fn creds_json(name: &str, id: &str, secret: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": name, "namespace": CREDS_NS},
        "data": {"client_id": support::b64(id), "client_secret": support::b64(secret)},
    })
}

fn client_json(name: &str, tenant: &str, extra: Value) -> Value {
    client_json_in(NS, name, tenant, extra)
}

fn client_json_in(namespace: &str, name: &str, tenant: &str, extra: Value) -> Value {
    let mut spec = json!({
        "tenant": tenant,
        "client": {
            "name": name,
            "app_type": "regular_web",
            "callbacks": ["https://app.example.com/callback"],
        },
    });
    if let (Some(spec), Value::Object(extra)) = (spec.as_object_mut(), extra) {
        spec.extend(extra);
    }
    json!({
        "apiVersion": "auth.nexus.dev/v1alpha1", "kind": "AuthClient",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    })
}

fn client_path(name: &str) -> String {
    client_path_in(NS, name)
}

fn client_path_in(namespace: &str, name: &str) -> String {
    format!("/apis/auth.nexus.dev/v1alpha1/namespaces/{namespace}/authclients/{name}")
}

fn random_secret(prefix: &str) -> String {
    format!("{prefix}-{:032x}", rand::random::<u128>())
}

/// The install of a mode: the namespaced one serves NS and NS_B and may read the credentials
/// Secrets of every tenant but `locked` (and `no-such-secret`, which does not exist).
fn install(mode: Mode) -> Install {
    Install {
        mode,
        served: vec![NS.into(), NS_B.into()],
        credentials: [
            "acme-m2m",
            "flaky-m2m",
            "bad-m2m",
            "echo-m2m",
            "echo-bad-m2m",
            "no-such-secret",
        ]
        .iter()
        .map(|name| (CREDS_NS.to_owned(), (*name).to_owned()))
        .collect(),
        release: CREDS_NS.into(),
        lease: LEASE.into(),
        facade_credentials: FACADE_CREDENTIALS.into(),
    }
}

impl World {
    async fn new(mode: Mode) -> Self {
        let m2m = M2mCredential {
            client_id: "HygieneM2mClient0000000000000001".into(),
            client_secret: random_secret("m2m"),
            ..M2mCredential::default()
        };
        let sim = world::start_sim(SimConfig {
            m2m_clients: vec![m2m.clone()],
            ..world::sim_config(1000)
        })
        .await;
        let kube = FakeKube::new();
        // AuthResourceServers are served from their CRD (FakeKube preloads the other kinds).
        world::serve_resource_servers(&kube);
        for (ns, team) in [(CREDS_NS, "ops"), (NS, "a"), (NS_B, "b"), (NS_OTHER, "c")] {
            kube.insert(json!({
                "apiVersion": "v1", "kind": "Namespace",
                "metadata": {"name": ns, "labels": {"team": team}},
            }));
        }
        let install = install(mode);
        let scope = match mode {
            Mode::ClusterWide => WatchScope::All,
            Mode::Namespaced => WatchScope::from_names(&install.served).expect("names"),
        };
        let calls: BTreeMap<User, Calls> = User::ALL
            .into_iter()
            .map(|user| (user, Calls::default()))
            .collect();
        kube.authorize(CONTROLLER, install.policy(User::Controller));
        kube.authorize(FACADE, install.policy(User::Facade));
        let controller_kube =
            recorded(kube.client_as(CONTROLLER), calls[&User::Controller].clone());
        let facade_kube = recorded(kube.client_as(FACADE), calls[&User::Facade].clone());
        let ctx = Arc::new(Context::new(
            controller_kube.clone(),
            world::auth0_registry(Duration::from_secs(5)),
            ControllerConfig {
                cluster_id: "hygiene".into(),
                drift_scan_interval: Duration::from_millis(500),
                ..ControllerConfig::default()
            },
            ControllerMetrics::default(),
        ));
        let world = Self {
            mode,
            install,
            scope,
            kube,
            sim,
            ctx,
            controller_kube,
            facade_kube,
            calls,
            facade_password: Mutex::default(),
            secrets: Mutex::default(),
        };
        world.secret(&m2m.client_secret, "the M2M client secret");
        world
    }

    fn secret(&self, value: &str, label: &str) {
        assert!(value.len() >= 16, "{label} is a real secret");
        self.secrets
            .lock()
            .expect("secrets")
            .entry(value.to_owned())
            .or_insert_with(|| label.to_owned());
    }

    /// Remembers the secret of every client the simulator holds now.
    fn snapshot_sim(&self, when: &str) {
        for client in self.sim.clients() {
            if let (Some(id), Some(secret)) = (
                client["client_id"].as_str(),
                client["client_secret"].as_str(),
            ) {
                self.secret(
                    secret,
                    &format!("client secret of Auth0 client {id} ({when})"),
                );
            }
        }
    }

    /// The user asks for a rotation of the AuthClient `name` (its rotate annotation).
    async fn request_rotation(&self, name: &str) {
        let annotate = json!({"metadata": {"annotations": {ROTATE_ANNOTATION: "2026-01-01"}}});
        self.user("PATCH", &client_path(name), Some(annotate)).await;
    }

    /// A write by the test itself (the user, an unrestricted client).
    async fn user(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let content_type = if method == "PATCH" {
            "application/merge-patch+json"
        } else {
            "application/json"
        };
        let request = http::Request::builder()
            .method(method)
            .uri(path)
            .header(http::header::CONTENT_TYPE, content_type)
            .body(body.map(|b| b.to_string().into_bytes()).unwrap_or_default())
            .expect("request");
        self.kube
            .client()
            .request::<Value>(request)
            .await
            .unwrap_or_else(|e| panic!("user {method} {path}: {e}"))
    }

    async fn create(&self, object: Value) {
        let namespace = object["metadata"]["namespace"]
            .as_str()
            .expect("namespace")
            .to_owned();
        let path = format!("/apis/auth.nexus.dev/v1alpha1/namespaces/{namespace}/authclients");
        self.user("POST", &path, Some(object)).await;
    }

    async fn wait(&self, what: &str, predicate: impl Fn(&FakeKube) -> bool) {
        assert!(
            self.kube.wait_until(WAIT, predicate).await,
            "timed out waiting for {what}{}",
            self.denied()
        );
    }

    /// The requests the API server refused so far, for a timeout's message.
    fn denied(&self) -> String {
        let denials = self.kube.denials();
        if denials.is_empty() {
            return String::new();
        }
        let lines: Vec<String> = denials
            .iter()
            .map(|d| format!("  {} {} ({:?})", d.method, d.path, d.attributes))
            .collect();
        format!("; the API server refused:\n{}", lines.join("\n"))
    }

    /// Waits until the AuthClient `name` is Ready (Synced); returns its Auth0 client id.
    async fn synced_client_id(&self, name: &str) -> String {
        let object = self.wait_ready(name, "True", "Synced").await;
        object["status"]["clientId"]
            .as_str()
            .expect("status.clientId")
            .to_owned()
    }

    async fn wait_ready(&self, name: &str, status: &str, reason: &str) -> Value {
        self.wait_ready_in(NS, name, status, reason).await
    }

    async fn wait_ready_in(
        &self,
        namespace: &str,
        name: &str,
        status: &str,
        reason: &str,
    ) -> Value {
        let path = client_path_in(namespace, name);
        let matches = |k: &FakeKube| {
            k.get(&path).is_some_and(|o| {
                o["status"]["conditions"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|c| c["type"] == "Ready" && c["status"] == status && c["reason"] == reason)
            })
        };
        assert!(
            self.kube.wait_until(WAIT, matches).await,
            "{name}: Ready={status} {reason} expected; object: {:?}{}",
            self.kube.get(&path),
            self.denied()
        );
        self.kube.get(&path).expect("object")
    }

    async fn delete_and_wait(&self, name: &str) {
        self.delete_and_wait_in(NS, name).await;
    }

    async fn delete_and_wait_in(&self, namespace: &str, name: &str) {
        let path = client_path_in(namespace, name);
        self.user("DELETE", &path, None).await;
        self.wait(&format!("{name} gone"), |k| k.get(&path).is_none())
            .await;
    }

    fn secret_value(&self, name: &str) -> Option<String> {
        let secret = self
            .kube
            .get(&format!("/api/v1/namespaces/{NS}/secrets/{name}"))?;
        Some(support::unb64(&secret["data"]["AUTH0_CLIENT_SECRET"]))
    }

    /// Runs everything; returns the `Display` and `Debug` of every error returned on the way.
    async fn lifecycle(&self) -> Vec<String> {
        let mut errors = Vec::new();
        let m2m = self.sim.m2m().clone();
        let base = self.sim.base_url();
        let domain = self.sim.domain().to_owned();
        let wrong = random_secret("wrong-m2m");
        self.secret(&wrong, "a wrong M2M secret");
        let echo = Arc::new(Echo {
            m2m_secret: random_secret("echo-m2m"),
            token: format!(
                "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJlY2hvIn0.{:032x}",
                rand::random::<u128>()
            ),
        });
        self.secret(&echo.m2m_secret, "the echo tenant's M2M secret");
        self.secret(&echo.token, "the echo tenant's access token");
        let echo_url = format!("http://{}", start_echo(echo.clone()).await);

        let k = &self.kube;
        k.insert(creds_json("acme-m2m", &m2m.client_id, &m2m.client_secret));
        k.insert(creds_json("flaky-m2m", &m2m.client_id, &m2m.client_secret));
        k.insert(creds_json("bad-m2m", &m2m.client_id, &wrong));
        k.insert(creds_json("echo-m2m", "echo-m2m", &echo.m2m_secret));
        k.insert(creds_json("echo-bad-m2m", "echo-m2m", &wrong));
        k.insert(creds_json(
            LOCKED_SECRET,
            &m2m.client_id,
            &m2m.client_secret,
        ));
        k.insert(tenant_json("acme", &base, &domain, "acme-m2m"));
        k.insert(tenant_json("locked", &base, &domain, LOCKED_SECRET));
        k.insert(tenant_json("flaky", &base, &domain, "flaky-m2m"));
        k.insert(tenant_json("bad", &base, &domain, "bad-m2m"));
        k.insert(tenant_json(
            "echo",
            &echo_url,
            "echo.example.com",
            "echo-m2m",
        ));
        k.insert(tenant_json(
            "echo-bad",
            &echo_url,
            "echo.example.com",
            "echo-bad-m2m",
        ));
        let mut labelled = tenant_json("labelled", &base, &domain, "acme-m2m");
        labelled["spec"]["allowedNamespaces"] = json!({"selector": {"matchLabels": {"team": "a"}}});
        k.insert(labelled);

        // Leader election: acquire (create), release (update), acquire again (update), release.
        for _ in 0..2 {
            let elector = LeaderElector::new(
                self.controller_kube.clone(),
                LeaseConfig::new(LEASE, CREDS_NS, "hygiene-0"),
            );
            let leadership = elector.acquire().await.expect("leadership");
            leadership.release().await.expect("release");
        }

        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let controller = tokio::spawn(controller::run(
            self.ctx.clone(),
            self.scope.clone(),
            async move {
                let _ = stop_rx.await;
            },
        ));
        let (facade_base, stop_facade) = self.start_facade().await;

        // Tenants: Ready, or not with the reason.
        let locked = match self.mode {
            Mode::ClusterWide => ("locked", "True", "CredentialsValid"),
            Mode::Namespaced => ("locked", "False", "CredentialsForbidden"),
        };
        for (name, status, reason) in [
            ("acme", "True", "CredentialsValid"),
            ("bad", "False", "CredentialsRejected"),
            ("echo", "True", "CredentialsValid"),
            ("echo-bad", "False", "CredentialsRejected"),
            locked,
        ] {
            let path = format!("/apis/auth.nexus.dev/v1alpha1/authtenants/{name}");
            self.wait(&format!("tenant {name} {status} {reason}"), |k| {
                k.get(&path).is_some_and(|t| {
                    t["status"]["conditions"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .any(|c| c["status"] == status && c["reason"] == reason)
                })
            })
            .await;
        }
        if self.mode == Mode::Namespaced {
            let tenant = k
                .get("/apis/auth.nexus.dev/v1alpha1/authtenants/locked")
                .expect("tenant");
            let message = tenant["status"]["conditions"][0]["message"]
                .as_str()
                .unwrap_or_default();
            assert!(
                message.contains(&format!("{CREDS_NS}/{LOCKED_SECRET}"))
                    && message.contains("credentialsSecrets"),
                "the message names the Secret and the missing grant: {message}"
            );
        }

        // Create.
        self.create(client_json("web", "acme", json!({}))).await;
        let web = self.wait_ready("web", "True", "Synced").await;
        let web_id = web["status"]["clientId"].as_str().expect("id").to_owned();
        let secret_name = web["status"]["secretName"]
            .as_str()
            .expect("secretName")
            .to_owned();
        self.wait("web's Secret", |_| {
            self.secret_value(&secret_name).is_some()
        })
        .await;
        let first_secret = self.secret_value(&secret_name).expect("secret");
        self.snapshot_sim("after create");

        // Spec change.
        self.user(
            "PATCH",
            &client_path("web"),
            Some(json!({"spec": {"client": {"callbacks": [
                "https://app.example.com/callback", "https://app.example.com/v2/callback"
            ]}}})),
        )
        .await;
        self.wait("spec change reaches Auth0", |_| {
            self.sim
                .client(&web_id)
                .is_some_and(|c| c["callbacks"].as_array().is_some_and(|a| a.len() == 2))
        })
        .await;

        // Secret rotation.
        self.request_rotation("web").await;
        self.wait("rotated secret in the Secret", |_| {
            self.secret_value(&secret_name)
                .is_some_and(|s| s != first_secret)
        })
        .await;
        let rotated = self.secret_value(&secret_name).expect("secret");
        assert_eq!(
            self.sim.client(&web_id).expect("client")["client_secret"],
            rotated.as_str()
        );
        self.secret(&first_secret, "web's client secret before rotation");
        self.snapshot_sim("after rotation");

        // A private_key_jwt client: its private key (generated by the operator, written into
        // its Secret) must appear nowhere else — before and after a key rotation.
        self.create(client_json(
            "signer",
            "acme",
            json!({"client": {"name": "signer", "app_type": "non_interactive"},
                   "credentials": {"type": "privateKeyJwt", "algorithm": "PS256"}}),
        ))
        .await;
        self.wait_ready("signer", "True", "Synced").await;
        // An entry of signer's Secret, decoded.
        let signer_entry = |k: &FakeKube, entry: &str| {
            k.get(&format!("/api/v1/namespaces/{NS}/secrets/signer-auth0"))
                .and_then(|s| s["data"].get(entry).map(support::unb64))
        };
        let key_of = |k: &FakeKube| signer_entry(k, "AUTH0_CLIENT_ASSERTION_KEY");
        self.wait("signer's key in its Secret", |k| key_of(k).is_some())
            .await;
        let first_key = key_of(&self.kube).expect("key");
        // The key as it would stand 10 minutes later (a requested rotation waits that long
        // after the last key), edited in the store as time passing would.
        let mut signer = self.kube.get(&client_path("signer")).expect("signer");
        signer["status"]["credentials"]["active"]["since"] = json!("2020-01-01T00:00:00Z");
        if let Some(meta) = signer["metadata"].as_object_mut() {
            meta.remove("managedFields");
            meta.remove("resourceVersion");
        }
        self.kube.insert(signer);
        self.request_rotation("signer").await;
        self.wait("signer's key rotated", |k| {
            key_of(k).is_some_and(|key| key != first_key)
        })
        .await;
        for (pem, when) in [
            (first_key, "before rotation"),
            (key_of(&self.kube).expect("key"), "after rotation"),
        ] {
            assert!(pem.contains("PRIVATE KEY"), "a PEM private key");
            // Each base64 line alone (a JSON or log rendering escapes the newlines).
            for line in pem.lines().filter(|l| !l.starts_with("-----")) {
                if line.len() >= 16 {
                    self.secret(line, &format!("a line of signer's private key ({when})"));
                }
            }
        }
        // The kid entry edited in the Secret: restored from the key itself (no new key).
        let kid_of = |k: &FakeKube| signer_entry(k, "AUTH0_CLIENT_ASSERTION_KID");
        let kid = kid_of(&self.kube).expect("kid");
        let mut edited = self
            .kube
            .get(&format!("/api/v1/namespaces/{NS}/secrets/signer-auth0"))
            .expect("Secret");
        edited["data"]["AUTH0_CLIENT_ASSERTION_KID"] = json!(support::b64("edited"));
        if let Some(meta) = edited["metadata"].as_object_mut() {
            meta.remove("managedFields");
            meta.remove("resourceVersion");
        }
        self.kube.insert(edited);
        self.wait("signer's kid entry restored", |k| {
            kid_of(k).as_deref() == Some(kid.as_str())
        })
        .await;
        // A credential added and listed in the dashboard: found by the scan, unlisted and
        // deleted (driftPolicy Correct), named by id in the event and the condition.
        let signer_id =
            self.kube.get(&client_path("signer")).expect("signer")["status"]["clientId"]
                .as_str()
                .expect("client id")
                .to_owned();
        assert!(self.sim.insert_client_credential(
            &signer_id,
            json!({"id": "cred_dashboard00000000000000", "credential_type": "public_key",
                   "kid": "dashboard-kid", "alg": "RS256",
                   "created_at": "2026-01-01T00:00:00.000Z",
                   "updated_at": "2026-01-01T00:00:00.000Z"}),
        ));
        let mut listed = self.sim.client(&signer_id).expect("signer")
            ["client_authentication_methods"]["private_key_jwt"]["credentials"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        listed.push(json!({"id": "cred_dashboard00000000000000"}));
        assert!(self.sim.modify_client(
            &signer_id,
            json!({"client_authentication_methods": {"private_key_jwt": {"credentials": listed}}}),
        ));
        self.wait("the dashboard credential removed", |_| {
            self.sim
                .client_credentials(&signer_id)
                .iter()
                .all(|c| c["id"] != "cred_dashboard00000000000000")
        })
        .await;
        // Back to the client secret: the key leaves the Secret, the secret comes back.
        self.user(
            "PATCH",
            &client_path("signer"),
            Some(json!({"spec": {"credentials": {"type": "clientSecret", "algorithm": null}}})),
        )
        .await;
        self.wait("signer back on its client secret", |k| {
            key_of(k).is_none() && self.sim.client_credentials(&signer_id).is_empty()
        })
        .await;
        self.snapshot_sim("signer back on its client secret");
        self.delete_and_wait("signer").await;

        // Drift, found by the periodic scan and corrected; twice the same, so the second
        // DriftCorrected event extends the first one's series.
        for round in 1..=2 {
            assert!(self.sim.modify_client(
                &web_id,
                json!({"callbacks": ["https://evil.example.com/cb"]})
            ));
            self.wait(&format!("drift corrected ({round})"), |_| {
                self.sim
                    .client(&web_id)
                    .is_some_and(|c| c["callbacks"].as_array().is_some_and(|a| a.len() == 2))
            })
            .await;
        }
        self.wait("the repeated DriftCorrected event is a series", |k| {
            k.list("/apis/events.k8s.io/v1/events").iter().any(|e| {
                e["reason"] == "DriftCorrected" && e["series"]["count"].as_i64() >= Some(2)
            })
        })
        .await;

        // An API (HS256: it has a signing secret that must never leak), a machine-to-machine
        // client granted it, a grant changed, then both deleted.
        let api_path = format!("/apis/auth.nexus.dev/v1alpha1/namespaces/{NS}/authresourceservers");
        self.user(
            "POST",
            &api_path,
            Some(json!({
                "apiVersion": "auth.nexus.dev/v1alpha1", "kind": "AuthResourceServer",
                "metadata": {"name": "orders-api", "namespace": NS},
                "spec": {"tenant": "acme", "identifier": "https://orders.example.com/api",
                         "name": "Orders", "signingAlg": "HS256",
                         "scopes": [{"value": "read:orders"}, {"value": "write:orders"}]},
            })),
        )
        .await;
        let api_object = format!("{api_path}/orders-api");
        self.wait("the API Ready", |k| {
            k.get(&api_object).is_some_and(|o| {
                o["status"]["conditions"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|c| c["type"] == "Ready" && c["status"] == "True")
            })
        })
        .await;
        for api in self.sim.resource_servers() {
            if let Some(secret) = api["signing_secret"].as_str() {
                self.secret(secret, "an API's HS256 signing secret");
            }
        }
        self.create(client_json(
            "worker",
            "acme",
            json!({"grants": [{"audience": "https://orders.example.com/api", "scopes": ["read:orders"]}],
                   "client": {"name": "worker", "app_type": "non_interactive"}}),
        ))
        .await;
        let worker_id = self.synced_client_id("worker").await;
        self.snapshot_sim("with the worker");
        self.user(
            "PATCH",
            &client_path("worker"),
            Some(json!({"spec": {"grants": [{"audience": "https://orders.example.com/api", "scopes": ["read:orders", "write:orders"]}]}})),
        )
        .await;
        self.wait("the grant extended", |_| {
            self.sim
                .client_grant(&worker_id, "https://orders.example.com/api")
                .is_some_and(|g| g["scope"].as_array().is_some_and(|a| a.len() == 2))
        })
        .await;
        self.delete_and_wait("worker").await;
        self.user("DELETE", &api_object, None).await;
        self.wait("the API gone", |k| k.get(&api_object).is_none())
            .await;
        assert!(
            self.sim
                .resource_servers()
                .iter()
                .all(|rs| rs["identifier"] != "https://orders.example.com/api")
        );

        // A tenant that allows namespaces by label selector.
        self.create(client_json("selected", "labelled", json!({})))
            .await;
        self.wait_ready("selected", "True", "Synced").await;
        self.snapshot_sim("with selected");

        // Another served namespace.
        self.create(client_json_in(NS_B, "web-b", "acme", json!({})))
            .await;
        self.wait_ready_in(NS_B, "web-b", "True", "Synced").await;
        self.snapshot_sim("with web-b");
        // A namespace no tenant allows: refused when served, never touched otherwise (checked
        // at the end, when everything else is done).
        self.create(client_json_in(NS_OTHER, "stray", "acme", json!({})))
            .await;
        if self.mode == Mode::ClusterWide {
            self.wait_ready_in(NS_OTHER, "stray", "False", "NamespaceNotAllowed")
                .await;
        }
        // A tenant whose credentials Secret the namespaced install may not read.
        self.create(client_json("locked-client", "locked", json!({})))
            .await;
        match self.mode {
            Mode::ClusterWide => {
                self.wait_ready("locked-client", "True", "Synced").await;
                self.snapshot_sim("with locked-client");
            }
            Mode::Namespaced => {
                let object = self
                    .wait_ready("locked-client", "False", "TenantNotReady")
                    .await;
                let message = object["status"]["conditions"][0]["message"]
                    .as_str()
                    .unwrap_or_default();
                assert!(message.contains("CredentialsForbidden"), "{message}");
            }
        }
        // A foreign Secret with the target name: created (409), read (is it ours?), refused.
        k.insert(json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "conflict-auth0", "namespace": NS},
            "data": {"owner": support::b64("someone else")},
        }));
        self.create(client_json("conflict", "acme", json!({})))
            .await;
        self.wait_ready("conflict", "False", "SecretConflict").await;
        self.snapshot_sim("with conflict");

        // The facade: a POST that Auth0 refuses (400), its corrected retry (the refused
        // AuthClient's spec replaced: 201), and the GET of its Location.
        let facade_client = self.facade_round(&facade_base).await;

        // Error paths the controller reports in conditions and events.
        self.create(client_json("bad-tenant", "bad", json!({})))
            .await;
        self.wait_ready("bad-tenant", "False", "TenantNotReady")
            .await;
        self.create(client_json("echoed", "echo", json!({}))).await;
        let echoed = self.wait_ready("echoed", "False", "Auth0Rejected").await;
        let message = echoed["status"]["conditions"][0]["message"]
            .as_str()
            .unwrap_or_default();
        assert!(
            message.contains("Payload validation error: request with"),
            "the echoed Auth0 message is reported (scrubbed): {message}"
        );
        self.create(client_json("echo-token", "echo-bad", json!({})))
            .await;
        self.wait_ready("echo-token", "False", "TenantNotReady")
            .await;
        self.sim
            .fail_once("POST", "/api/v2/clients", FailAction::Status(400));
        self.create(client_json("refused", "acme", json!({}))).await;
        self.wait_ready("refused", "False", "Auth0Rejected").await;

        // Deletion with both policies.
        self.create(client_json(
            "kept",
            "acme",
            json!({"deletionPolicy": "Orphan"}),
        ))
        .await;
        let kept_id = self.synced_client_id("kept").await;
        self.snapshot_sim("with the orphan");
        self.delete_and_wait("kept").await;
        assert!(
            self.sim
                .client(&kept_id)
                .is_some_and(|c| c["client_metadata"].get("nexus_cluster").is_none()),
            "the orphaned client stays, untagged"
        );
        self.delete_and_wait("web").await;
        assert!(self.sim.client(&web_id).is_none(), "web's client deleted");
        for name in [
            "bad-tenant",
            "echoed",
            "echo-token",
            "refused",
            "selected",
            "locked-client",
            "conflict",
            &facade_client,
        ] {
            self.delete_and_wait(name).await;
        }
        self.delete_and_wait_in(NS_B, "web-b").await;
        let _ = stop_facade.send(());
        if self.mode == Mode::Namespaced {
            let stray = k
                .get(&client_path_in(NS_OTHER, "stray"))
                .expect("stray is still there");
            assert!(
                stray.get("status").is_none() && stray["metadata"].get("finalizers").is_none(),
                "an AuthClient outside the served namespaces is never touched: {stray}"
            );
        }
        self.delete_and_wait_in(NS_OTHER, "stray").await;

        // A client whose tenant credentials break before it is deleted (driven by hand).
        self.create(client_json("doomed", "flaky", json!({}))).await;
        let doomed_id = self.synced_client_id("doomed").await;
        self.snapshot_sim("with doomed");
        let _ = stop_tx.send(());
        tokio::time::timeout(WAIT, controller)
            .await
            .expect("controller stops")
            .expect("controller task");

        k.insert(creds_json("flaky-m2m", &m2m.client_id, &wrong));
        self.user("DELETE", &client_path("doomed"), None).await;
        let result = self.reconcile("doomed").await;
        let error = result.expect_err("cleanup cannot finish with rejected credentials");
        assert!(
            matches!(
                error,
                ReconcileError::Pass(nexus_controller::pass::PassError::CleanupPending(_))
            ),
            "{error:?}"
        );
        errors.push(format!("{error}"));
        errors.push(format!("{error:?}"));
        assert!(
            self.sim.client(&doomed_id).is_some(),
            "not deleted while the credentials are rejected"
        );
        let stuck = k.get(&client_path("doomed")).expect("still there");
        assert_eq!(stuck["status"]["conditions"][0]["reason"], "Deleting");
        k.insert(creds_json("flaky-m2m", &m2m.client_id, &m2m.client_secret));
        self.reconcile("doomed").await.expect("cleanup finishes");
        assert!(k.get(&client_path("doomed")).is_none());
        assert!(self.sim.client(&doomed_id).is_none());

        // Errors of the tenant layer and the Auth0 client, called directly.
        for name in ["bad", "echo", "echo-bad"] {
            let tenant: AuthTenant = serde_json::from_value(
                k.get(&format!("/apis/auth.nexus.dev/v1alpha1/authtenants/{name}"))
                    .expect("tenant"),
            )
            .expect("AuthTenant");
            let client = tenant::tenant_client(&self.facade_kube, &self.ctx.auth0, &tenant)
                .await
                .expect("the credentials Secret is readable");
            for error in [
                client.verify_credentials().await.err(),
                client
                    .get_client("no-such-client", Priority::Normal)
                    .await
                    .err(),
                client
                    .create_client(&json!({"name": "x"}), Priority::Normal)
                    .await
                    .err(),
            ]
            .into_iter()
            .flatten()
            {
                errors.push(format!("{error}"));
                errors.push(format!("{error:?}"));
            }
        }
        let missing: AuthTenant =
            serde_json::from_value(tenant_json("missing", &base, &domain, "no-such-secret"))
                .expect("tenant");
        let error = tenant::tenant_client(&self.facade_kube, &self.ctx.auth0, &missing)
            .await
            .expect_err("no credentials Secret");
        assert!(error.to_string().contains("does not exist"), "{error}");
        errors.push(format!("{error}"));
        errors.push(format!("{error:?}"));
        let locked: AuthTenant = serde_json::from_value(
            k.get("/apis/auth.nexus.dev/v1alpha1/authtenants/locked")
                .expect("tenant"),
        )
        .expect("AuthTenant");
        match (
            self.mode,
            tenant::tenant_client(&self.facade_kube, &self.ctx.auth0, &locked).await,
        ) {
            (Mode::ClusterWide, result) => {
                result.expect("the cluster-wide install reads every Secret");
            }
            (Mode::Namespaced, Err(error @ tenant::TenantError::Forbidden { .. })) => {
                assert!(error.to_string().contains("credentialsSecrets"), "{error}");
                errors.push(format!("{error}"));
                errors.push(format!("{error:?}"));
            }
            (Mode::Namespaced, other) => panic!("not Forbidden: {:?}", other.err()),
        }
        assert!(errors.len() >= 10, "errors were collected: {errors:#?}");

        self.snapshot_sim("at the end");
        let count = self.secrets.lock().expect("secrets").len();
        assert!(
            count >= 9,
            "old, rotated, orphan, doomed, M2M, echo: {count}"
        );
        errors
    }

    /// Starts the facade (Basic user `root` with `client.write.all`, from its Secret in the
    /// release namespace) on the facade's client; returns its base URL and its stop switch.
    async fn start_facade(&self) -> (String, tokio::sync::oneshot::Sender<()>) {
        let password = random_secret("facade-root-password");
        self.secret(&password, "the facade user's password");
        let salt = SaltString::from_b64("aHlnaWVuZS1zYWx0LTE").expect("salt");
        let hash = Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .expect("hash")
            .to_string();
        let users = json!([{
            "username": "root", "passwordHash": hash,
            "permissions": ["client.write.all"], "tenants": [],
        }]);
        self.kube.insert(json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": FACADE_CREDENTIALS, "namespace": CREDS_NS},
            "data": {"users.json": support::b64(&users.to_string())},
        }));
        *self.facade_password.lock().expect("password") = password;
        let mut config = FacadeConfig::new(
            None,
            Some(ObjectRef {
                namespace: CREDS_NS.into(),
                name: FACADE_CREDENTIALS.into(),
            }),
        );
        config.ready_timeout = WAIT;
        config.request_timeout = WAIT + Duration::from_secs(10);
        config.served = self.scope.clone();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(facade::serve(
            config,
            self.facade_kube.clone(),
            world::auth0_registry(Duration::from_secs(5)),
            FacadeMetrics::default(),
            listener,
            async move {
                let _ = rx.await;
            },
        ));
        (base, tx)
    }

    /// One POST that Auth0 refuses (400), the corrected retry of the same client (201: the
    /// refused AuthClient's spec is replaced) and the GET of its Location. Returns the name of
    /// the AuthClient.
    async fn facade_round(&self, base: &str) -> String {
        let http = reqwest::Client::new();
        let password = self.facade_password.lock().expect("password").clone();
        let post = |body: Value| {
            http.post(format!("{base}/v1/tenants/acme/clients"))
                .basic_auth("root", Some(&password))
                .json(&body)
                .send()
        };
        self.sim
            .fail_once("POST", "/api/v2/clients", FailAction::Status(400));
        let refused = post(json!({"name": "Facade app", "app_type": "spa"}))
            .await
            .expect("POST");
        assert_eq!(refused.status(), 400, "{:?}", refused.text().await);
        let created = post(json!({"name": "Facade app", "app_type": "regular_web"}))
            .await
            .expect("POST");
        assert_eq!(created.status(), 201);
        let location = created
            .headers()
            .get("location")
            .and_then(|l| l.to_str().ok())
            .expect("Location")
            .to_owned();
        let body: Value = created.json().await.expect("JSON");
        let secret = body["secret"]
            .as_str()
            .or_else(|| body["clientSecret"].as_str())
            .or_else(|| body["client_secret"].as_str());
        if let Some(secret) = secret {
            self.secret(secret, "the facade client's secret (in its 201 answer)");
        }
        self.snapshot_sim("with the facade's client");
        let again = http
            .get(format!("{base}{location}"))
            .basic_auth("root", Some(&password))
            .send()
            .await
            .expect("GET");
        assert_eq!(again.status(), 200);
        let objects = self.kube.list(&format!(
            "/apis/auth.nexus.dev/v1alpha1/namespaces/{NS}/authclients"
        ));
        let facade_made: Vec<&Value> = objects
            .iter()
            .filter(|o| o["metadata"]["labels"]["auth.nexus.dev/created-by"] == "facade")
            .collect();
        assert_eq!(facade_made.len(), 1, "one AuthClient for both attempts");
        facade_made[0]["metadata"]["name"]
            .as_str()
            .expect("name")
            .to_owned()
    }

    async fn reconcile(&self, name: &str) -> Result<Action, ReconcileError> {
        let object: AuthClient =
            serde_json::from_value(self.kube.get(&client_path(name)).expect("object"))
                .expect("AuthClient");
        // The controller is stopped: bring its caches up to date as its watches would.
        self.ctx
            .caches
            .prime(&self.controller_kube, self.scope.clone())
            .await
            .expect("caches primed");
        authclient::reconcile(Arc::new(object), self.ctx.clone()).await
    }

    /// Looks for every secret in every place it must never be.
    fn check_leaks(&self, logs: &str, errors: &[String]) -> Vec<String> {
        let mut sources: Vec<(String, String)> = vec![("logs".into(), logs.to_owned())];
        for (i, error) in errors.iter().enumerate() {
            sources.push((format!("error #{i}"), error.clone()));
        }
        for path in ["/apis/events.k8s.io/v1/events", "/api/v1/events"] {
            for event in self.kube.list(path) {
                sources.push((
                    format!("event {}", event["metadata"]["name"]),
                    event.to_string(),
                ));
            }
        }
        for path in [
            "/apis/auth.nexus.dev/v1alpha1/authclients",
            "/apis/auth.nexus.dev/v1alpha1/authtenants",
            "/apis/auth.nexus.dev/v1alpha1/authresourceservers",
        ] {
            for object in self.kube.list(path) {
                sources.push((
                    format!("object {}", object["metadata"]["name"]),
                    object.to_string(),
                ));
            }
        }
        for request in self.kube.requests() {
            if request.path.contains("/secrets") {
                continue; // Secrets are where the credentials belong.
            }
            if let Some(body) = &request.body {
                sources.push((
                    format!("request {} {}", request.method, request.path),
                    body.to_string(),
                ));
            }
        }

        // The checks can fail: the sources hold what they should.
        assert!(
            logs.contains("obtained Auth0 Management API token")
                && logs.contains("reconciling object"),
            "the capture holds the controller's logs, spans of spawned tasks included"
        );
        assert!(
            sources.iter().any(|(_, t)| t.contains("TenantNotReady"))
                && sources.iter().any(|(_, t)| t.contains("Auth0Rejected"))
                && sources.iter().any(|(_, t)| t.contains("DriftCorrected")),
            "the failure conditions and events are among the sources"
        );

        let secrets = self.secrets.lock().expect("secrets").clone();
        let mut failures = Vec::new();
        for (source, text) in &sources {
            for (secret, label) in &secrets {
                if let Some(at) = text.find(secret.as_str()) {
                    failures.push(format!(
                        "LEAK: {label} appears in {source}: ...{}...",
                        snippet(text, at, secret.len())
                    ));
                }
            }
            if support::contains_jwt(text) {
                failures.push(format!(
                    "LEAK: a JWT (management access token) appears in {source}"
                ));
            }
        }
        failures.sort();
        failures.dedup();
        failures
    }
}

fn snippet(text: &str, at: usize, len: usize) -> String {
    let mut start = at.saturating_sub(160);
    while !text.is_char_boundary(start) {
        start -= 1;
    }
    let mut end = (at + len + 40).min(text.len());
    while !text.is_char_boundary(end) {
        end += 1;
    }
    text[start..end].replace('\n', " | ")
}

// ---------------------------------------------------------------------------------------------
// RBAC.

impl World {
    /// The lifecycle needed each line of `tests/rbac/api-calls.txt` for each of its users, and
    /// nothing the mode does not grant (the API server refused only the reads of the Secret the
    /// namespaced install deliberately does not grant).
    fn check_rbac(&self) -> Vec<String> {
        let lines = rbac::lines();
        let mut failures = Vec::new();

        let denials = self.kube.denials();
        let expected_denial = |d: &kube_fake::rbac::Denial| {
            self.mode == Mode::Namespaced
                && d.attributes.api_group.is_empty()
                && d.attributes.resource == "secrets"
                && d.attributes.namespace.as_deref() == Some(CREDS_NS)
                && d.attributes.name.as_deref() == Some(LOCKED_SECRET)
        };
        for denial in denials.iter().filter(|d| !expected_denial(d)) {
            failures.push(format!(
                "RBAC: the API server refused {} {} of {} ({:?}): the {:?} install does not grant what the code needs",
                denial.method, denial.path, denial.subject, denial.attributes, self.mode
            ));
        }
        if self.mode == Mode::Namespaced {
            assert!(
                denials
                    .iter()
                    .any(|d| d.subject == CONTROLLER && d.attributes.verb == "list"),
                "the locked tenant's Secret was refused to the controller: {denials:?}"
            );
        }

        let mut used: BTreeMap<(usize, User), usize> = BTreeMap::new();
        for user in User::ALL {
            let calls = self.calls[&user].lock().expect("calls").clone();
            assert!(
                calls.len() > if user == User::Controller { 50 } else { 5 },
                "the {}'s requests were recorded: {}",
                user.name(),
                calls.len()
            );
            if self.mode == Mode::Namespaced {
                for call in calls
                    .iter()
                    .filter(|c| c.path.contains(&format!("/namespaces/{NS_OTHER}/")))
                {
                    failures.push(format!(
                        "RBAC: the {} sent {} {} into a namespace the install does not serve",
                        user.name(),
                        call.method,
                        call.path
                    ));
                }
            }
            for call in calls.iter().filter(|c| c.status != 403) {
                let Some(attributes) = Attributes::of(&call.method, &call.path, &call.query) else {
                    failures.push(format!(
                        "RBAC: the {} sent a non-resource request {} {}",
                        user.name(),
                        call.method,
                        call.path
                    ));
                    continue;
                };
                let mut needed = vec![attributes.clone()];
                // A server-side apply that created the object (201) needed `create` too.
                if call.apply && call.status == 201 && attributes.subresource.is_none() {
                    needed.push(attributes.with_verb("create"));
                }
                for request in needed {
                    let granting: Vec<&rbac::Line> = lines
                        .iter()
                        .filter(|l| l.users.contains(&user) && l.allows(&self.install, &request))
                        .collect();
                    if granting.is_empty() {
                        failures.push(format!(
                            "RBAC: the {} made {request:?} ({} {}), which no line of tests/rbac/api-calls.txt grants it",
                            user.name(),
                            call.method,
                            call.path
                        ));
                    }
                    for line in granting {
                        *used.entry((line.number, user)).or_default() += 1;
                    }
                }
            }
        }

        println!(
            "{:?}: calls per line of tests/rbac/api-calls.txt (controller / facade):",
            self.mode
        );
        for line in &lines {
            let count = |user| used.get(&(line.number, user)).copied().unwrap_or(0);
            println!(
                "  {:>3} {:<50} {:>5} / {:>5}",
                line.number,
                line.text,
                count(User::Controller),
                count(User::Facade)
            );
            for user in &line.users {
                if count(*user) == 0 {
                    failures.push(format!(
                        "RBAC: api-calls.txt:{} `{}` ({:?}) grants the {} a call it never made in the {:?} lifecycle: remove the user (or the line, and from the chart), or exercise it",
                        line.number,
                        line.text,
                        line.scope,
                        user.name(),
                        self.mode
                    ));
                }
            }
        }
        failures
    }
}
