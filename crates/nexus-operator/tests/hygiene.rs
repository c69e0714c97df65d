//! Operational hygiene of the controller, checked over one full lifecycle run in-process
//! against the in-memory Kubernetes API and the Auth0 simulator:
//!
//! * RBAC: every Kubernetes API call the operator makes is granted by `tests/rbac/api-calls.txt`
//!   (which the Helm chart must grant exactly), and every line of that file is used.
//! * Secrets never leak: no Auth0 client secret (before and after rotation), no M2M secret (good
//!   or wrong), no API's HS256 signing secret and no Management API access token appears in the
//!   logs (TRACE, every target), in Kubernetes Events, in AuthClient/AuthTenant/
//!   AuthResourceServer objects, in any request body sent to the
//!   API server outside Secrets, or in the `Display`/`Debug` of any error - including error
//!   paths where Auth0 echoes the credentials and the token back in its error bodies.
//!
//! All checks share one lifecycle (and the process-wide log capture), so they are one test.

use nexus_testing as support;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use auth0_mgmt::{self as auth0, Auth0Metrics, Auth0Registry, Priority};
use auth0_sim::{self as sim, FailAction, FailNext, M2mCredential, RateLimit, SimConfig};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use kube::runtime::controller::Action;
use kube_fake::{FakeKube, RecordedRequest};
use nexus_controller::authclient::{self, ReconcileError};
use nexus_controller::metrics::ControllerMetrics;
use nexus_controller::{self as controller, Context, ControllerConfig, tenant_access as tenant};
use nexus_crd::{AuthClient, AuthTenant, ROTATE_ANNOTATION};
use nexus_leader::{LeaderElector, LeaseConfig};
use serde_json::{Value, json};

const NS: &str = "team-a";
const CREDS_NS: &str = "nexus-system";
/// Query parameter marking the test's own writes (the "user"), excluded from the RBAC check.
const ACTOR: &str = "nexus-test-actor";
const WAIT: Duration = Duration::from_secs(30);
const API_CALLS: &str = include_str!("rbac/api-calls.txt");

/// Lines of `api-calls.txt` the lifecycle cannot exercise, each with the reason.
const NOT_EXERCISED: &[(&str, &str)] = &[
    (
        "auth.nexus.dev authclients create",
        "used only by the HTTP facade (the file says so): server-side apply of a new AuthClient",
    ),
    (
        "auth.nexus.dev authtenants get",
        "used only by the HTTP facade (reads the tenant of a request); the controller reads \
         AuthTenants from its watch cache",
    ),
    (
        "auth.nexus.dev authclients get",
        "used only by the HTTP facade (reads the AuthClient it applied); the controller reads \
         AuthClients from its watch cache",
    ),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lifecycle_uses_only_granted_api_calls_and_never_leaks_secrets() {
    let logs = capture_logs();
    let world = World::new().await;
    let errors = world.lifecycle().await;

    let mut failures = Vec::new();
    failures.extend(check_rbac(&world.kube.requests()));
    failures.extend(world.check_leaks(&logs_text(&logs), &errors));
    assert!(
        failures.is_empty(),
        "{} hygiene failure(s):\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

// ---------------------------------------------------------------------------------------------
// Log capture: one global TRACE subscriber (all threads, all spawned tasks, `log` records too).

#[derive(Clone)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn capture_logs() -> Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        use tracing_subscriber::prelude::*;
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let writer = Buffer(buffer.clone());
        tracing_subscriber::registry()
            .with(tracing_subscriber::filter::LevelFilter::TRACE)
            .with(
                tracing_subscriber::fmt::layer()
                    .with_ansi(false)
                    .with_writer(move || writer.clone()),
            )
            .try_init()
            .expect("the hygiene test owns the global subscriber");
        buffer
    })
    .clone()
}

fn logs_text(logs: &Arc<Mutex<Vec<u8>>>) -> String {
    String::from_utf8_lossy(&logs.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
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
    kube: FakeKube,
    sim: sim::SimHandle,
    ctx: Arc<Context>,
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
            "allowedNamespaces": {"names": [NS]},
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
        "metadata": {"name": name, "namespace": NS},
        "spec": spec,
    })
}

fn client_path(name: &str) -> String {
    format!("/apis/auth.nexus.dev/v1alpha1/namespaces/{NS}/authclients/{name}")
}

fn random_secret(prefix: &str) -> String {
    format!("{prefix}-{:032x}", rand::random::<u128>())
}

impl World {
    async fn new() -> Self {
        let m2m = M2mCredential {
            client_id: "HygieneM2mClient0000000000000001".into(),
            client_secret: random_secret("m2m"),
            ..M2mCredential::default()
        };
        let sim = sim::start(
            SimConfig {
                m2m_clients: vec![m2m.clone()],
                rate_limit: RateLimit {
                    burst: 1000,
                    per_second: 1000,
                },
                ..SimConfig::default()
            },
            "127.0.0.1:0".parse().expect("addr"),
        )
        .await
        .expect("simulator");
        let kube = FakeKube::new();
        // AuthResourceServers are served from their CRD (FakeKube preloads the other kinds).
        for crd in nexus_crd::crds() {
            if crd.spec.names.kind == "AuthResourceServer" {
                kube.insert(serde_json::to_value(&crd).expect("CRD"));
            }
        }
        for ns in [CREDS_NS, NS] {
            kube.insert(json!({
                "apiVersion": "v1", "kind": "Namespace",
                "metadata": {"name": ns, "labels": {"team": if ns == NS { "a" } else { "ops" }}},
            }));
        }
        let ctx = Arc::new(Context::new(
            kube.client(),
            Auth0Registry::new(
                auth0::default_http_client(Duration::from_secs(5)).expect("http"),
                Auth0Metrics::new(),
            ),
            ControllerConfig {
                cluster_id: "hygiene".into(),
                drift_scan_interval: Duration::from_millis(500),
                ..ControllerConfig::default()
            },
            ControllerMetrics::default(),
        ));
        let world = Self {
            kube,
            sim,
            ctx,
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

    /// A write by the test itself (the user), marked so the RBAC check skips it.
    async fn user(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let content_type = if method == "PATCH" {
            "application/merge-patch+json"
        } else {
            "application/json"
        };
        let request = http::Request::builder()
            .method(method)
            .uri(format!("{path}?{ACTOR}=true"))
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
        let path = format!("/apis/auth.nexus.dev/v1alpha1/namespaces/{NS}/authclients");
        self.user("POST", &path, Some(object)).await;
    }

    async fn wait(&self, what: &str, predicate: impl Fn(&FakeKube) -> bool) {
        assert!(
            self.kube.wait_until(WAIT, predicate).await,
            "timed out waiting for {what}"
        );
    }

    async fn wait_ready(&self, name: &str, status: &str, reason: &str) -> Value {
        let path = client_path(name);
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
            "{name}: Ready={status} {reason} expected; object: {:?}",
            self.kube.get(&path)
        );
        self.kube.get(&path).expect("object")
    }

    async fn delete_and_wait(&self, name: &str) {
        let path = client_path(name);
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
        k.insert(tenant_json("acme", &base, &domain, "acme-m2m"));
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
                k.client(),
                LeaseConfig::new("nexus-operator", CREDS_NS, "hygiene-0"),
            );
            let leadership = elector.acquire().await.expect("leadership");
            leadership.release().await.expect("release");
        }

        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let controller = tokio::spawn(controller::run(self.ctx.clone(), None, async move {
            let _ = stop_rx.await;
        }));

        // Tenants: Ready, or not with the reason.
        for (name, status, reason) in [
            ("acme", "True", "CredentialsValid"),
            ("bad", "False", "CredentialsRejected"),
            ("echo", "True", "CredentialsValid"),
            ("echo-bad", "False", "CredentialsRejected"),
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
        self.user(
            "PATCH",
            &client_path("web"),
            Some(json!({"metadata": {"annotations": {ROTATE_ANNOTATION: "2026-01-01"}}})),
        )
        .await;
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
        let worker = self.wait_ready("worker", "True", "Synced").await;
        let worker_id = worker["status"]["clientId"]
            .as_str()
            .expect("id")
            .to_owned();
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
        self.sim.fail_next(FailNext::new(
            "POST",
            "/api/v2/clients",
            1,
            FailAction::Status(400),
        ));
        self.create(client_json("refused", "acme", json!({}))).await;
        self.wait_ready("refused", "False", "Auth0Rejected").await;

        // Deletion with both policies.
        self.create(client_json(
            "kept",
            "acme",
            json!({"deletionPolicy": "Orphan"}),
        ))
        .await;
        let kept = self.wait_ready("kept", "True", "Synced").await;
        let kept_id = kept["status"]["clientId"].as_str().expect("id").to_owned();
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
        for name in ["bad-tenant", "echoed", "echo-token", "refused", "selected"] {
            self.delete_and_wait(name).await;
        }

        // A client whose tenant credentials break before it is deleted (driven by hand).
        self.create(client_json("doomed", "flaky", json!({}))).await;
        let doomed = self.wait_ready("doomed", "True", "Synced").await;
        let doomed_id = doomed["status"]["clientId"]
            .as_str()
            .expect("id")
            .to_owned();
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
        assert!(matches!(error, ReconcileError::Finalizer(_)), "{error:?}");
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
            let client = tenant::tenant_client(&k.client(), &self.ctx.auth0, &tenant)
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
        let error = tenant::tenant_client(&k.client(), &self.ctx.auth0, &missing)
            .await
            .expect_err("no credentials Secret");
        errors.push(format!("{error}"));
        errors.push(format!("{error:?}"));
        assert!(errors.len() >= 10, "errors were collected: {errors:#?}");

        self.snapshot_sim("at the end");
        let count = self.secrets.lock().expect("secrets").len();
        assert!(
            count >= 9,
            "old, rotated, orphan, doomed, M2M, echo: {count}"
        );
        errors
    }

    async fn reconcile(&self, name: &str) -> Result<Action, ReconcileError> {
        let object: AuthClient =
            serde_json::from_value(self.kube.get(&client_path(name)).expect("object"))
                .expect("AuthClient");
        // The controller is stopped: bring its caches up to date as its watches would.
        self.ctx
            .caches
            .prime(&self.kube.client(), None)
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

/// `group resource[/subresource] verb` of one request, or `None` for the test's own writes.
/// A server-side apply (`PATCH`, `application/apply-patch+yaml`) of a main resource creates the
/// object when it does not exist, and the API server then also authorizes the `create` verb, so
/// such a request needs both `patch` and `create`.
fn api_calls(request: &RecordedRequest) -> Vec<Result<String, String>> {
    let Some(call) = api_call(request) else {
        return Vec::new();
    };
    let apply = request.method == "PATCH"
        && request
            .content_type
            .as_deref()
            .is_some_and(|c| c.starts_with("application/apply-patch"));
    match call {
        Ok(call) if apply && !call.contains('/') => {
            let create = call.replace(" patch", " create");
            vec![Ok(call), Ok(create)]
        }
        other => vec![other],
    }
}

fn api_call(request: &RecordedRequest) -> Option<Result<String, String>> {
    if request.query.contains_key(ACTOR) {
        return None;
    }
    let segments: Vec<&str> = request.path.trim_matches('/').split('/').collect();
    let (group, rest) = match segments.as_slice() {
        ["api", _version, rest @ ..] => ("core", rest),
        ["apis", group, _version, rest @ ..] => (*group, rest),
        _ => {
            return Some(Err(format!(
                "non-resource request {} {}",
                request.method, request.path
            )));
        }
    };
    // (resource, name, subresource)
    let (resource, name, sub) = match rest {
        ["namespaces"] => ("namespaces", None, None),
        ["namespaces", name] => ("namespaces", Some(*name), None),
        ["namespaces", _, resource, tail @ ..] | [resource, tail @ ..] => match tail {
            [] => (*resource, None, None),
            [name] => (*resource, Some(*name), None),
            [name, sub] => (*resource, Some(*name), Some(*sub)),
            _ => return Some(Err(format!("unexpected path {}", request.path))),
        },
        [] => {
            return Some(Err(format!(
                "discovery request {} {}",
                request.method, request.path
            )));
        }
    };
    let watch = matches!(
        request.query.get("watch").map(String::as_str),
        Some("true" | "1")
    );
    let verb = match (request.method.as_str(), name.is_some()) {
        ("GET", true) => "get",
        ("GET", false) if watch => "watch",
        ("GET", false) => "list",
        ("POST", false) => "create",
        ("PATCH", true) => "patch",
        ("PUT", true) => "update",
        ("DELETE", true) => "delete",
        ("DELETE", false) => "deletecollection",
        (method, _) => return Some(Err(format!("unexpected {method} {}", request.path))),
    };
    let resource = match sub {
        Some(sub) => format!("{resource}/{sub}"),
        None => resource.to_owned(),
    };
    Some(Ok(format!("{group} {resource} {verb}")))
}

fn granted() -> BTreeSet<String> {
    API_CALLS
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect()
}

fn check_rbac(requests: &[RecordedRequest]) -> Vec<String> {
    let granted = granted();
    let mut used: BTreeMap<String, usize> = BTreeMap::new();
    let mut failures = Vec::new();
    let mut user_writes = 0;
    for request in requests {
        let calls = api_calls(request);
        if calls.is_empty() {
            user_writes += 1;
        }
        for call in calls {
            match call {
                Ok(call) => *used.entry(call).or_default() += 1,
                Err(problem) => failures.push(format!("RBAC: {problem}")),
            }
        }
    }
    assert!(user_writes >= 10, "the test's own writes were recognised");
    assert!(
        used.values().sum::<usize>() > 50,
        "the operator's requests were recorded: {used:?}"
    );
    println!("API calls made by the operator (count):");
    for (call, count) in &used {
        println!("  {call:<45} {count}");
    }
    for call in used.keys() {
        if !granted.contains(call) {
            failures.push(format!(
                "RBAC: the operator calls `{call}`, which tests/rbac/api-calls.txt (and so the chart) does not grant"
            ));
        }
    }
    let excused: BTreeMap<&str, &str> = NOT_EXERCISED.iter().copied().collect();
    for line in &granted {
        match (used.contains_key(line), excused.get(line.as_str())) {
            (false, None) => failures.push(format!(
                "RBAC: tests/rbac/api-calls.txt grants `{line}`, but the operator never makes that call: remove it (and from the chart) or explain it in NOT_EXERCISED"
            )),
            (true, Some(reason)) => failures.push(format!(
                "RBAC: `{line}` is listed in NOT_EXERCISED ({reason}) but the lifecycle made that call: update the list"
            )),
            _ => {}
        }
    }
    for line in excused.keys() {
        assert!(
            granted.contains(*line),
            "NOT_EXERCISED names `{line}`, which the file does not list"
        );
    }
    failures
}
