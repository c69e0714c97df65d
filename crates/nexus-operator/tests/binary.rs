//! The real `nexus-operator` binary end to end, as a child process, against the in-memory
//! Kubernetes API (`testkit::FakeKube`) served over HTTP and named by a generated kubeconfig
//! (`KUBECONFIG`). Also the CRD drift check: `nexus-operator crd` must print exactly `crds/`.

use nexus_testing as support;

use std::io::{BufRead as _, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use auth0_sim::{self as sim, M2mCredential, RateLimit, SimConfig};
use kube_fake::FakeKube;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_nexus-operator");
/// The workspace root (this package lives in `crates/nexus-operator`).
const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
/// Bound of every wait on the child.
const WAIT: Duration = Duration::from_secs(60);

// ---------------------------------------------------------------------------------------------
// (a) `nexus-operator crd` is the committed CRDs (and the chart ships the same files).

#[test]
fn crd_subcommand_prints_the_committed_crds() {
    let output = Command::new(BIN)
        .arg("crd")
        .env_clear()
        .output()
        .expect("run nexus-operator crd");
    assert!(output.status.success(), "crd exits 0: {output:?}");
    let printed = String::from_utf8(output.stdout).expect("utf8");
    let read = |path: &str| {
        std::fs::read_to_string(Path::new(ROOT).join(path))
            .unwrap_or_else(|e| panic!("read {path}: {e}"))
    };
    let committed = read("crds/authtenants.yaml") + &read("crds/authclients.yaml");
    assert!(
        printed == committed,
        "crds/ is stale: write the AuthTenant document of `cargo run -- crd` to \
         crds/authtenants.yaml and the AuthClient one to crds/authclients.yaml, then run \
         hack/sync-chart-crds.sh\n--- printed ---\n{printed}\n--- committed ---\n{committed}"
    );
    for file in ["authtenants.yaml", "authclients.yaml"] {
        assert_eq!(
            read(&format!("charts/nexus-operator/crds/{file}")),
            read(&format!("crds/{file}")),
            "charts/nexus-operator/crds/{file} differs from crds/{file}: run hack/sync-chart-crds.sh"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// (b) `nexus-operator dev`.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_mode_installs_crds_creates_the_tenant_reconciles_and_stops_on_sigterm() {
    let fake = FakeKube::new();
    fake.insert(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}}));
    let (dir, kubeconfig) = serve(&fake).await;
    let sim_addr = support::free_port();
    let metrics_addr = support::free_port();
    let mut child = Child::spawn(
        Command::new(BIN)
            .args(["dev", "--sim-listen", &sim_addr.to_string()])
            .args(["--metrics-addr", &metrics_addr.to_string()]),
        &kubeconfig,
        &[],
    );

    // The CRDs go in (and are Established: the fake marks them), then the dev tenant.
    child.wait_for_line("CRDs installed").await;
    for crd in ["authtenants.auth.nexus.dev", "authclients.auth.nexus.dev"] {
        assert!(
            fake.get(&format!(
                "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{crd}"
            ))
            .is_some(),
            "CRD {crd} installed"
        );
    }
    let tenant_path = "/apis/auth.nexus.dev/v1alpha1/authtenants/dev";
    assert!(
        fake.wait_until(WAIT, |k| k.get(tenant_path).is_some())
            .await,
        "dev AuthTenant created; output:\n{}",
        child.output()
    );
    let tenant = fake.get(tenant_path).expect("tenant");
    assert_eq!(
        tenant["spec"]["endpoint"],
        format!("http://{sim_addr}"),
        "the dev tenant points at the embedded simulator"
    );
    let m2m = fake
        .get("/api/v1/namespaces/default/secrets/dev-auth0-sim-credentials")
        .expect("simulator credentials Secret");
    let m2m_secret = support::unb64(&m2m["data"]["client_secret"]);
    assert_eq!(m2m_secret, sim::DEFAULT_M2M_CLIENT_SECRET);

    // The dev banner names an example that uses the dev tenant.
    child.wait_for_line("dev mode: AuthTenant 'dev'").await;
    let banner = child.output();
    let suggested = banner
        .split("apply ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("dev mode suggests an example to apply:\n{banner}"));
    let suggested: Value = serde_saphyr::from_str(
        &std::fs::read_to_string(Path::new(ROOT).join(suggested))
            .unwrap_or_else(|e| panic!("dev mode suggests {suggested}, which cannot be read: {e}")),
    )
    .expect("suggested example is YAML");
    assert_eq!(
        suggested["spec"]["tenant"], "dev",
        "the example dev mode suggests uses the dev tenant"
    );

    // examples/authclient-dev.yaml becomes Ready with a Secret.
    let example = std::fs::read_to_string(Path::new(ROOT).join("examples/authclient-dev.yaml"))
        .expect("example");
    let example: Value = serde_saphyr::from_str(&example).expect("example YAML");
    let name = example["metadata"]["name"]
        .as_str()
        .expect("name")
        .to_owned();
    let ns = example["metadata"]["namespace"]
        .as_str()
        .unwrap_or("default")
        .to_owned();
    fake.insert(example);
    let path = format!("/apis/auth.nexus.dev/v1alpha1/namespaces/{ns}/authclients/{name}");
    let ready = wait_ready(&fake, &path, &child).await;
    let secret_name = ready["status"]["secretName"]
        .as_str()
        .expect("secretName")
        .to_owned();
    let secret = fake
        .get(&format!("/api/v1/namespaces/{ns}/secrets/{secret_name}"))
        .expect("credentials Secret");
    let client_secret = support::unb64(&secret["data"]["AUTH0_CLIENT_SECRET"]);
    assert!(client_secret.len() >= 32, "a real client secret");
    assert_eq!(
        support::unb64(&secret["data"]["AUTH0_CLIENT_ID"]),
        ready["status"]["clientId"].as_str().expect("clientId")
    );

    let status = child.terminate().await;
    assert!(
        status.success(),
        "dev exits 0 on SIGTERM: {status:?}\n{}",
        child.output()
    );
    let output = child.output();
    assert!(output.contains("shutdown requested"), "{output}");
    assert_no_secrets(&output, &[&client_secret, &m2m_secret]);
    let _ = std::fs::remove_dir_all(dir);
}

// ---------------------------------------------------------------------------------------------
// (c) `nexus-operator run --leader-election=true`.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_with_leader_election_holds_the_lease_reconciles_serves_metrics_and_releases() {
    const POD: &str = "nexus-operator-7d9f-abcde";
    const POD_NS: &str = "nexus-system";
    const LEASE: &str =
        "/apis/coordination.k8s.io/v1/namespaces/nexus-system/leases/nexus-operator";
    let m2m = M2mCredential {
        client_id: "BinaryTestM2mClient0000000000001".into(),
        client_secret: format!("m2m-secret-{:032x}", rand::random::<u128>()),
        ..M2mCredential::default()
    };
    let sim = sim::start(
        SimConfig {
            m2m_clients: vec![m2m.clone()],
            rate_limit: RateLimit {
                burst: 100,
                per_second: 100,
            },
            ..SimConfig::default()
        },
        "127.0.0.1:0".parse().expect("addr"),
    )
    .await
    .expect("simulator");
    let fake = FakeKube::new();
    for ns in [POD_NS, "team-a"] {
        fake.insert(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}));
    }
    fake.insert(json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "acme-m2m", "namespace": POD_NS},
        "data": {"client_id": support::b64(&m2m.client_id), "client_secret": support::b64(&m2m.client_secret)},
    }));
    fake.insert(json!({
        "apiVersion": "auth.nexus.dev/v1alpha1", "kind": "AuthTenant",
        "metadata": {"name": "acme"},
        "spec": {
            "domain": sim.domain(),
            "endpoint": sim.base_url(),
            "credentialsSecretRef": {"namespace": POD_NS, "name": "acme-m2m"},
            "rateLimit": {"requestsPerSecond": 50, "burst": 50},
            "allowedNamespaces": {"names": ["team-a"]},
        }
    }));
    fake.insert(json!({
        "apiVersion": "auth.nexus.dev/v1alpha1", "kind": "AuthClient",
        "metadata": {"name": "web", "namespace": "team-a"},
        "spec": {"tenant": "acme", "client": {
            "name": "Web", "app_type": "regular_web",
            "callbacks": ["https://app.example.com/callback"],
        }},
    }));
    let (dir, kubeconfig) = serve(&fake).await;
    let metrics_addr = support::free_port();
    let mut child = Child::spawn(
        Command::new(BIN)
            .args(["run", "--leader-election=true"])
            .args(["--metrics-addr", &metrics_addr.to_string()])
            .args(["--cluster-id", "binary-test"]),
        &kubeconfig,
        &[("POD_NAME", POD), ("POD_NAMESPACE", POD_NS)],
    );

    // The Lease is taken by this pod, in the pod's namespace.
    let holder = |k: &FakeKube| {
        k.get(LEASE)
            .and_then(|l| l["spec"]["holderIdentity"].as_str().map(str::to_owned))
    };
    assert!(
        fake.wait_until(WAIT, |k| holder(k).as_deref() == Some(POD))
            .await,
        "Lease acquired by {POD}; output:\n{}",
        child.output()
    );
    child.wait_for_line("acquired leadership").await;

    // The AuthClient is reconciled against the simulator.
    let ready = wait_ready(
        &fake,
        "/apis/auth.nexus.dev/v1alpha1/namespaces/team-a/authclients/web",
        &child,
    )
    .await;
    let client_id = ready["status"]["clientId"].as_str().expect("clientId");
    let auth0_client = sim.client(client_id).expect("the Auth0 client exists");
    assert_eq!(
        auth0_client["client_metadata"]["nexus_cluster"],
        "binary-test"
    );
    let secret_name = ready["status"]["secretName"].as_str().expect("secretName");
    let secret = fake
        .get(&format!("/api/v1/namespaces/team-a/secrets/{secret_name}"))
        .expect("credentials Secret");
    assert_eq!(
        support::unb64(&secret["data"]["AUTH0_CLIENT_SECRET"]),
        auth0_client["client_secret"]
            .as_str()
            .expect("client_secret")
    );

    // /readyz and /metrics.
    let (code, body) = support::http_get(metrics_addr, "/readyz")
        .await
        .expect("GET /readyz");
    assert_eq!((code, body.as_str()), (200, "ready"));
    let (code, metrics) = support::http_get(metrics_addr, "/metrics")
        .await
        .expect("GET /metrics");
    assert_eq!(code, 200);
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("nexus_reconciles_total{result=\"ok\"}")),
        "nexus_reconciles_total counted the reconciles:\n{metrics}"
    );

    // SIGTERM: the controller stops, the Lease is released, the process exits 0.
    let status = child.terminate().await;
    assert!(
        status.success(),
        "run exits 0 on SIGTERM: {status:?}\n{}",
        child.output()
    );
    let lease = fake.get(LEASE).expect("Lease");
    assert!(
        lease["spec"]["holderIdentity"]
            .as_str()
            .is_none_or(str::is_empty),
        "holderIdentity cleared on release: {lease}"
    );
    let output = child.output();
    let mut secrets: Vec<String> = sim
        .clients()
        .iter()
        .filter_map(|c| c["client_secret"].as_str().map(str::to_owned))
        .collect();
    secrets.push(m2m.client_secret.clone());
    assert_no_secrets(
        &output,
        &secrets.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    sim.shutdown().await;
    let _ = std::fs::remove_dir_all(dir);
}

// ---------------------------------------------------------------------------------------------

/// Serves the fake over HTTP and writes a kubeconfig for it.
async fn serve(fake: &FakeKube) -> (PathBuf, PathBuf) {
    let addr: SocketAddr = fake
        .serve("127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("serve fake API");
    let dir = support::scratch_dir("binary");
    let kubeconfig = support::write_kubeconfig(&dir, addr);
    (dir, kubeconfig)
}

async fn wait_ready(fake: &FakeKube, path: &str, child: &Child) -> Value {
    let ready = |k: &FakeKube| {
        k.get(path).is_some_and(|o| {
            o["status"]["conditions"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")
        })
    };
    assert!(
        fake.wait_until(WAIT, ready).await,
        "{path} Ready=True; object: {:?}\noutput:\n{}",
        fake.get(path),
        child.output()
    );
    fake.get(path).expect("object")
}

fn assert_no_secrets(output: &str, secrets: &[&str]) {
    println!("--- child output ---\n{output}\n--- end ---");
    assert!(!output.is_empty(), "the child logged something");
    for secret in secrets {
        assert!(!secret.is_empty());
        assert!(
            !output.contains(secret),
            "a secret appears in the child's output:\n{output}"
        );
    }
    assert!(
        !support::contains_jwt(output),
        "a JWT (management access token) appears in the child's output:\n{output}"
    );
}

/// The operator as a child process: its output lines and its exit.
struct Child {
    pid: u32,
    lines: Arc<Mutex<Vec<String>>>,
    changed: tokio::sync::watch::Receiver<u64>,
    exit: mpsc::Receiver<ExitStatus>,
    exited: Option<ExitStatus>,
}

impl Child {
    fn spawn(command: &mut Command, kubeconfig: &Path, env: &[(&str, &str)]) -> Self {
        command
            .env_clear()
            .env("KUBECONFIG", kubeconfig)
            // Everything the operator logs, at the most detailed level, goes through the scan.
            .env("RUST_LOG", "info,nexus_operator=trace")
            .env("NO_COLOR", "1")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().expect("spawn nexus-operator");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (tx, changed) = tokio::sync::watch::channel(0u64);
        let tx = Arc::new(tx);
        let stdout = child.stdout.take().expect("stdout");
        let stderr = child.stderr.take().expect("stderr");
        for stream in [Box::new(stdout) as Box<dyn Read + Send>, Box::new(stderr)] {
            let lines = lines.clone();
            let tx = tx.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream);
                let mut buf = Vec::new();
                while reader.read_until(b'\n', &mut buf).unwrap_or(0) > 0 {
                    let line = String::from_utf8_lossy(&buf).trim_end().to_owned();
                    lines.lock().expect("lines").push(line);
                    tx.send_modify(|n| *n += 1);
                    buf.clear();
                }
            });
        }
        let pid = child.id();
        let (exit_tx, exit) = mpsc::channel();
        std::thread::spawn(move || {
            if let Ok(status) = child.wait() {
                let _ = exit_tx.send(status);
            }
        });
        Self {
            pid,
            lines,
            changed,
            exit,
            exited: None,
        }
    }

    fn output(&self) -> String {
        self.lines.lock().expect("lines").join("\n")
    }

    /// Waits until a line containing `needle` was printed.
    async fn wait_for_line(&mut self, needle: &str) {
        let found = tokio::time::timeout(WAIT, async {
            loop {
                self.changed.borrow_and_update();
                if self
                    .lines
                    .lock()
                    .expect("lines")
                    .iter()
                    .any(|l| l.contains(needle))
                {
                    return;
                }
                if self.changed.changed().await.is_err() {
                    return;
                }
            }
        })
        .await;
        assert!(
            found.is_ok() && self.output().contains(needle),
            "the child never printed {needle:?}; output:\n{}",
            self.output()
        );
    }

    /// Sends SIGTERM and waits (bounded) for the exit.
    async fn terminate(&mut self) -> ExitStatus {
        let sent = Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status()
            .expect("run kill");
        assert!(sent.success(), "SIGTERM delivered");
        let started = std::time::Instant::now();
        let status =
            tokio::task::block_in_place(|| self.exit.recv_timeout(Duration::from_secs(30)))
                .unwrap_or_else(|_| {
                    panic!("no exit within 30s of SIGTERM; output:\n{}", self.output())
                });
        println!("exited {:?} after SIGTERM", started.elapsed());
        self.exited = Some(status);
        // Let the readers drain what the child printed last.
        let _ = tokio::time::timeout(Duration::from_secs(5), async {
            while self.changed.changed().await.is_ok() {}
        })
        .await;
        status
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if self.exited.is_none() && self.exit.try_recv().is_err() {
            let _ = Command::new("kill")
                .args(["-KILL", &self.pid.to_string()])
                .status();
        }
    }
}
