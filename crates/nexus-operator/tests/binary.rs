//! The real `nexus-operator` binary end to end, as a child process, against the in-memory
//! Kubernetes API (`testkit::FakeKube`) served over HTTP and named by a generated kubeconfig
//! (`KUBECONFIG`). Also the CRD drift check: `nexus-operator crd` must print exactly `crds/`.

use nexus_testing as support;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use auth0_sim::{self as sim, M2mCredential, SimConfig};
use kube_fake::FakeKube;
use nexus_testing::process::Child;
use nexus_testing::tokens;
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
    let committed = read("crds/authtenants.yaml")
        + &read("crds/authclients.yaml")
        + &read("crds/authresourceservers.yaml");
    assert!(
        printed == committed,
        "crds/ is stale: write the AuthTenant document of `cargo run -- crd` to \
         crds/authtenants.yaml, the AuthClient one to crds/authclients.yaml and the \
         AuthResourceServer one to crds/authresourceservers.yaml, then run \
         hack/sync-chart-crds.sh\n--- printed ---\n{printed}\n--- committed ---\n{committed}"
    );
    for file in [
        "authtenants.yaml",
        "authclients.yaml",
        "authresourceservers.yaml",
    ] {
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
    let mut child = operator(
        Command::new(BIN)
            .args(["dev", "--sim-listen", &sim_addr.to_string()])
            .args(["--metrics-addr", &metrics_addr.to_string()])
            .args(["--facade-addr", &support::free_port().to_string()]),
        &kubeconfig,
        &[],
    );

    // The CRDs go in (and are Established: the fake marks them), then the dev tenant.
    child.wait_for_line("CRDs installed", WAIT).await;
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
    assert_eq!(
        tenant["spec"]["issuerBaseUrl"],
        format!("http://{sim_addr}/"),
        "client Secrets advertise the simulator, not a domain that resolves nowhere"
    );
    let m2m = fake
        .get("/api/v1/namespaces/default/secrets/dev-auth0-sim-credentials")
        .expect("simulator credentials Secret");
    let m2m_secret = support::unb64(&m2m["data"]["client_secret"]);
    assert_eq!(m2m_secret, sim::DEFAULT_M2M_CLIENT_SECRET);
    assert_eq!(
        support::unb64(&m2m["data"]["endpoint"]),
        format!("http://{sim_addr}"),
        "the credentials name their Auth0: `plan` and `import` send them nowhere else"
    );

    // The dev banner names an example that uses the dev tenant.
    child
        .wait_for_line("dev mode: AuthTenant 'dev'", WAIT)
        .await;
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
// (b') `nexus-operator dev` without a cluster: the embedded API, credentials that work, and
// `--state-dir`.

/// Starts `dev` with no kubeconfig (HOME is a scratch directory, KUBECONFIG unset), asserts
/// its output `says` what it did, and returns the child and a client of the kubeconfig it
/// printed.
async fn dev_without_cluster(
    state_dir: &Path,
    sim_addr: SocketAddr,
    says: &str,
) -> (Child, kube::Client) {
    let home = state_dir.join("home");
    std::fs::create_dir_all(&home).expect("home");
    let mut child = Child::spawn(
        Command::new(BIN)
            .args(["dev", "--state-dir", state_dir.to_str().expect("UTF-8")])
            .args(["--sim-listen", &sim_addr.to_string()])
            .args(["--facade-addr", &support::free_port().to_string()])
            .args(["--metrics-addr", &support::free_port().to_string()])
            .args(["--rate-limit", "20"]),
        &[
            ("HOME", home.to_str().expect("UTF-8")),
            ("RUST_LOG", "info,nexus_operator=trace"),
        ],
    );
    child.wait_for_line("export KUBECONFIG=", WAIT).await;
    let output = child.output();
    let kubeconfig = output
        .lines()
        .find_map(|l| l.trim().strip_prefix("export KUBECONFIG="))
        .expect("export line");
    assert!(output.contains(says), "{says}:\n{output}");
    let kube = support::client_from_kubeconfig(Path::new(kubeconfig)).await;
    (child, kube)
}

/// `POST {issuer}oauth/token` with the client-credentials grant, as an app given the Secret
/// would; returns the HTTP status and the body.
async fn client_credentials(issuer: &str, client_id: &str, client_secret: &str) -> (u16, Value) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("http client");
    let token_url = format!("{issuer}oauth/token");
    tokens::client_credentials(&http, &token_url, (client_id, client_secret), None).await
}

/// Verifies an access token against the issuer's JWKS; returns its claims.
async fn verified_claims(issuer: &str, token: &str, audience: &str) -> Value {
    let jwks: Value = reqwest::get(format!("{issuer}.well-known/jwks.json"))
        .await
        .expect("JWKS")
        .json()
        .await
        .expect("JWKS JSON");
    tokens::verified_claims(jwks, token, issuer, audience)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_mode_without_a_cluster_serves_the_api_and_secrets_that_obtain_tokens_across_restarts()
{
    use k8s_openapi::api::core::v1::Secret;
    use kube::api::{Api, Patch, PatchParams};
    use kube::runtime::wait::await_condition;
    use nexus_crd::AuthClient;

    let state = support::scratch_dir("dev-embedded");
    let sim_addr = support::free_port();
    // Dev mode says why it starts the embedded API.
    let (mut child, kube) =
        dev_without_cluster(&state, sim_addr, "no Kubernetes configuration found").await;

    // The M2M example becomes Ready through the embedded API (over HTTP, like kubectl).
    let example: Value = serde_saphyr::from_str(
        &std::fs::read_to_string(Path::new(ROOT).join("examples/authclient-dev-m2m.yaml"))
            .expect("example"),
    )
    .expect("YAML");
    let name = example["metadata"]["name"]
        .as_str()
        .expect("name")
        .to_owned();
    let clients = Api::<AuthClient>::namespaced(kube.clone(), "default");
    clients
        .patch(
            &name,
            &PatchParams::apply("binary-test"),
            &Patch::Apply(&example),
        )
        .await
        .expect("AuthClient applied");
    let ready = |o: Option<&AuthClient>| {
        o.and_then(|o| o.status.as_ref()).is_some_and(|s| {
            s.conditions
                .iter()
                .any(|c| c.type_ == "Ready" && c.status == "True")
        })
    };
    tokio::time::timeout(WAIT, await_condition(clients.clone(), &name, ready))
        .await
        .unwrap_or_else(|_| panic!("{name} not Ready; output:\n{}", child.output()))
        .expect("watch");
    let secret_name = format!("{name}-auth0");
    let read_secret = |secret: &Secret, key: &str| {
        String::from_utf8(secret.data.as_ref().expect("data")[key].0.clone()).expect("UTF-8")
    };
    let secret = Api::<Secret>::namespaced(kube.clone(), "default")
        .get(&secret_name)
        .await
        .expect("credentials Secret");
    let issuer = read_secret(&secret, "AUTH0_ISSUER_BASE_URL");
    let domain = read_secret(&secret, "AUTH0_DOMAIN");
    let client_id = read_secret(&secret, "AUTH0_CLIENT_ID");
    let client_secret = read_secret(&secret, "AUTH0_CLIENT_SECRET");
    assert_eq!(
        issuer,
        format!("http://{sim_addr}/"),
        "the Secret names the simulator"
    );
    assert_eq!(domain, sim_addr.to_string());

    // With the Secret alone, the app obtains a token that verifies against the issuer.
    let (status, body) = client_credentials(&issuer, &client_id, &client_secret).await;
    assert_eq!(status, 200, "token request: {body}");
    let token = body["access_token"]
        .as_str()
        .expect("access_token")
        .to_owned();
    let claims = verified_claims(&issuer, &token, nexus_operator::dev::DEV_API_AUDIENCE).await;
    assert_eq!(claims["sub"], format!("{client_id}@clients"));
    let (status, _) = client_credentials(&issuer, &client_id, "not-the-secret").await;
    assert_eq!(status, 401, "a wrong secret gets no token");

    // Restart with the same --state-dir: the AuthClient, its Secret and the Auth0 client survive.
    assert!(child.terminate().await.success(), "{}", child.output());
    assert_no_secrets(&child.output(), &[&client_secret]);
    let (mut child, kube) =
        dev_without_cluster(&state, sim_addr, "restored from the state directory").await;
    let restored = Api::<AuthClient>::namespaced(kube.clone(), "default")
        .get(&name)
        .await
        .expect("AuthClient kept");
    assert_eq!(
        restored
            .status
            .as_ref()
            .and_then(|s| s.client_id.as_deref()),
        Some(client_id.as_str()),
        "the same Auth0 client"
    );
    let secret = Api::<Secret>::namespaced(kube, "default")
        .get(&secret_name)
        .await
        .expect("Secret kept");
    assert_eq!(read_secret(&secret, "AUTH0_CLIENT_SECRET"), client_secret);
    let (status, body) = client_credentials(&issuer, &client_id, &client_secret).await;
    assert_eq!(status, 200, "the simulated Auth0 kept the client: {body}");
    assert!(child.terminate().await.success(), "{}", child.output());
    assert_no_secrets(&child.output(), &[&client_secret]);
    let _ = std::fs::remove_dir_all(state);
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
    let sim = support::world::start_sim(SimConfig {
        m2m_clients: vec![m2m.clone()],
        ..support::world::sim_config(100)
    })
    .await;
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
    let mut child = operator(
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
    child.wait_for_line("acquired leadership", WAIT).await;

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
    // The pass that made the object Ready counts itself when it returns, just after its status
    // write: scrape until the count shows (bounded), not once.
    let counted = |metrics: &str| {
        metrics
            .lines()
            .any(|l| l.starts_with("nexus_reconciles_total{result=\"ok\"}"))
    };
    let mut metrics = String::new();
    for _ in 0..100 {
        let (code, body) = support::http_get(metrics_addr, "/metrics")
            .await
            .expect("GET /metrics");
        assert_eq!(code, 200);
        metrics = body;
        if counted(&metrics) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        counted(&metrics),
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

/// The operator binary as a child process using `kubeconfig`, logging everything it logs at the
/// most detailed level (so the secret scans see it all).
fn operator(command: &mut Command, kubeconfig: &Path, env: &[(&str, &str)]) -> Child {
    let kubeconfig = kubeconfig.to_str().expect("UTF-8 path");
    let mut all = vec![
        ("KUBECONFIG", kubeconfig),
        ("RUST_LOG", "info,nexus_operator=trace"),
    ];
    all.extend_from_slice(env);
    Child::spawn(command, &all)
}

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
