//! The real-cluster suite.
//!
//! Runs against the cluster of the kubeconfig named by `NEXUS_E2E_KUBECONFIG` (kind, k3d, any
//! conformant cluster; the identity needs cluster-admin: it installs CRDs and creates a
//! namespace); without it the test is ignored (`cargo test` lists it as ignored, with the
//! reason), and run with `--ignored` it fails rather than pass without a cluster. The CRDs are
//! installed as the README says: the files of `charts/nexus-operator/crds/`, server-side
//! applied (like `kubectl apply --server-side`) with the operator's field manager; then
//! `nexus-operator dev`'s own installer applies them again. The operator (the controller, in-process) and the Auth0
//! simulator run inside the test process, so the AuthTenant's loopback endpoint works. Use a
//! cluster where the operator is not deployed (a second controller would reconcile the test's
//! AuthClient too). Everything is created under a unique name and removed at the end, on failure
//! too.
//!
//! The same body also runs against `testkit::FakeKube` served over real HTTP through a
//! generated kubeconfig file (`fake_api_server_over_http`): everything but the real API server
//! is exercised on every `cargo test`.
//!
//! ```sh
//! kind create cluster --name nexus-e2e
//! kind get kubeconfig --name nexus-e2e > /tmp/nexus-e2e.kubeconfig
//! NEXUS_E2E_KUBECONFIG=/tmp/nexus-e2e.kubeconfig cargo test --test e2e_cluster -- --ignored --nocapture
//! ```

use nexus_testing as support;

use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use auth0_sim::SimHandle;
use futures::FutureExt as _;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::runtime::wait::{await_condition, conditions};
use kube::{Api, Resource, ResourceExt};
use kube_fake::FakeKube;
use nexus_controller::metrics::ControllerMetrics;
use nexus_controller::{self as controller, Context, ControllerConfig};
use nexus_crd::{AuthClient, AuthTenant, FINALIZER};
use serde_json::json;

const ENV: &str = "NEXUS_E2E_KUBECONFIG";
/// Upper bound of every wait (a cold kind cluster may take a while to establish CRDs).
const WAIT: Duration = Duration::from_secs(90);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs NEXUS_E2E_KUBECONFIG: a real cluster (run with -- --ignored)"]
async fn real_cluster_lifecycle() {
    let path = std::env::var_os(ENV)
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| panic!("set {ENV} to the kubeconfig of a real cluster"));
    lifecycle(Path::new(&path)).await;
}

/// The same suite against the in-memory API server over HTTP, through a kubeconfig file. On the
/// paused clock: the API server, the simulator and the controller are tasks of the test's
/// runtime and talk over loopback, so the waits' bounds are virtual time
/// (`nexus_testing::paused`).
#[tokio::test(start_paused = true)]
async fn fake_api_server_over_http() {
    let _watchdog = support::paused::Watchdog::arm(Duration::from_secs(600));
    let fake = FakeKube::new();
    let addr = fake
        .serve("127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("serve fake API");
    let dir = support::scratch_dir("e2e");
    let kubeconfig = support::write_kubeconfig(&dir, addr);
    lifecycle(&kubeconfig).await;

    // The suite really ran against this server, over HTTP, and cleaned up after itself.
    let requests = fake.requests();
    assert!(
        requests
            .iter()
            .any(|r| r.method == "PATCH" && r.path.contains("customresourcedefinitions")),
        "CRDs were installed through the fake API"
    );
    assert!(
        requests.iter().any(|r| r.path.ends_with("/status")
            && r.path.contains("/authclients/")
            && r.method == "PATCH"),
        "the controller wrote AuthClient status through the fake API"
    );
    assert!(
        fake.list("/apis/auth.nexus.dev/v1alpha1/authclients")
            .is_empty()
    );
    assert!(
        fake.list("/apis/auth.nexus.dev/v1alpha1/authtenants")
            .is_empty()
    );
    let _ = std::fs::remove_dir_all(dir);
}

/// Everything the suite creates, for the cleanup.
struct Fixture {
    kube: kube::Client,
    namespace: String,
    tenant: String,
    sim: SimHandle,
}

/// The README's install command, `kubectl apply --server-side -f charts/nexus-operator/crds/`:
/// each file as kubectl reads it (YAML) and sends it (JSON in an `application/apply-patch+yaml`
/// body, raw UTF-8), with the operator's field manager. Waits until each CRD is established.
async fn install_crds_as_the_readme_says(kube: &kube::Client) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../charts/nexus-operator/crds");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("chart CRDs")
        .map(|entry| entry.expect("entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 3, "{files:?}");
    let api = Api::<CustomResourceDefinition>::all(kube.clone());
    for file in files {
        let text = std::fs::read_to_string(&file).expect("CRD file");
        let crd: serde_json::Value = serde_saphyr::from_str(&text).expect("CRD YAML");
        let name = crd["metadata"]["name"].as_str().expect("name").to_owned();
        api.patch(
            &name,
            &PatchParams::apply(nexus_crd::FIELD_MANAGER),
            &Patch::Apply(&crd),
        )
        .await
        .unwrap_or_else(|e| panic!("server-side apply of {}: {e}", file.display()));
        tokio::time::timeout(
            WAIT,
            await_condition(api.clone(), &name, conditions::is_crd_established()),
        )
        .await
        .expect("established in time")
        .expect("watch");
    }
}

async fn lifecycle(kubeconfig: &Path) {
    let kube = support::client_from_kubeconfig(kubeconfig).await;
    install_crds_as_the_readme_says(&kube).await;
    // `nexus-operator dev` installs them the same way: applying again is accepted.
    nexus_operator::app::install_crds(&kube)
        .await
        .expect("CRDs installed and established");

    let namespace = support::unique("nexus-e2e");
    let tenant = namespace.clone();
    Api::<Namespace>::all(kube.clone())
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": namespace}})).expect("namespace"),
        )
        .await
        .expect("test namespace created");
    let sim = support::world::start_sim(support::world::sim_config(100)).await;
    let fixture = Fixture {
        kube: kube.clone(),
        namespace,
        tenant,
        sim,
    };

    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let ctx = Arc::new(Context::new(
        kube.clone(),
        support::world::auth0_registry(Duration::from_secs(10)),
        ControllerConfig {
            cluster_id: support::unique("e2e-cluster"),
            ..ControllerConfig::default()
        },
        ControllerMetrics::default(),
    ));
    let controller = tokio::spawn(controller::run(
        ctx,
        Some(fixture.namespace.clone()),
        async move {
            let _ = stop_rx.await;
        },
    ));

    let outcome = AssertUnwindSafe(steps(&fixture)).catch_unwind().await;

    // Cleanup, whatever happened: stop the controller, then remove what the suite created.
    let _ = stop_tx.send(());
    let stopped = tokio::time::timeout(Duration::from_secs(30), controller).await;
    cleanup(&fixture).await;
    fixture.sim.shutdown().await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
    assert!(
        matches!(stopped, Ok(Ok(()))),
        "the controller stops on shutdown"
    );
}

async fn steps(f: &Fixture) {
    let ns = f.namespace.as_str();
    let secrets = Api::<Secret>::namespaced(f.kube.clone(), ns);
    let tenants = Api::<AuthTenant>::all(f.kube.clone());
    let clients = Api::<AuthClient>::namespaced(f.kube.clone(), ns);

    // The tenant's M2M credentials and the tenant itself.
    secrets
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({
                "metadata": {"name": "m2m", "namespace": ns},
                "stringData": {
                    "client_id": f.sim.m2m().client_id,
                    "client_secret": f.sim.m2m().client_secret,
                },
            }))
            .expect("secret"),
        )
        .await
        .expect("credentials Secret created");
    let tenant: AuthTenant = serde_json::from_value(json!({
        "apiVersion": "auth.nexus.dev/v1alpha1",
        "kind": "AuthTenant",
        "metadata": {"name": f.tenant},
        "spec": {
            "domain": f.sim.domain(),
            "endpoint": f.sim.base_url(),
            "credentialsSecretRef": {"namespace": ns, "name": "m2m"},
            "rateLimit": {"requestsPerSecond": 50, "burst": 50},
            "allowedNamespaces": {"names": [ns]},
        }
    }))
    .expect("AuthTenant");
    tenants
        .create(&PostParams::default(), &tenant)
        .await
        .expect("AuthTenant created");
    wait(
        "AuthTenant Ready=True",
        await_condition(tenants.clone(), &f.tenant, |t: Option<&AuthTenant>| {
            t.and_then(|t| t.status.as_ref())
                .is_some_and(|s| ready_is(&s.conditions, "True"))
        }),
    )
    .await;

    // An AuthClient becomes Ready with its Auth0 client and credentials Secret.
    let client: AuthClient = serde_json::from_value(json!({
        "apiVersion": "auth.nexus.dev/v1alpha1",
        "kind": "AuthClient",
        "metadata": {"name": "web", "namespace": ns},
        "spec": {
            "tenant": f.tenant,
            "client": {
                "name": "E2E web app",
                "app_type": "regular_web",
                "callbacks": ["https://app.example.com/callback"],
            },
        }
    }))
    .expect("AuthClient");
    clients
        .patch(
            "web",
            &PatchParams::apply("nexus-e2e").force(),
            &Patch::Apply(&client),
        )
        .await
        .expect("AuthClient applied");
    let ready = wait(
        "AuthClient Ready=True",
        await_condition(clients.clone(), "web", |c: Option<&AuthClient>| {
            c.and_then(|c| c.status.as_ref())
                .is_some_and(|s| ready_is(&s.conditions, "True"))
        }),
    )
    .await
    .expect("AuthClient exists");
    let status = ready.status.clone().expect("status");
    let client_id = status.client_id.clone().expect("status.clientId");
    assert_eq!(status.tenant.as_deref(), Some(f.tenant.as_str()));
    assert!(ready.finalizers().iter().any(|x| x == FINALIZER));
    let auth0_client = f.sim.client(&client_id).expect("the Auth0 client exists");
    assert_eq!(auth0_client["name"], "E2E web app");
    assert_eq!(f.sim.clients().len(), 1, "exactly one Auth0 client");

    // The Secret: four keys with the right values, owned by the AuthClient.
    let secret_name = status.secret_name.clone().expect("status.secretName");
    let secret = secrets.get(&secret_name).await.expect("Secret exists");
    let data = secret.data.clone().expect("Secret data");
    let value = |key: &str| {
        String::from_utf8(
            data.get(key)
                .unwrap_or_else(|| panic!("key {key}"))
                .0
                .clone(),
        )
        .expect("utf8")
    };
    let mut keys: Vec<&str> = data.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "AUTH0_CLIENT_ID",
            "AUTH0_CLIENT_SECRET",
            "AUTH0_DOMAIN",
            "AUTH0_ISSUER_BASE_URL"
        ]
    );
    assert_eq!(value("AUTH0_CLIENT_ID"), client_id);
    assert_eq!(
        value("AUTH0_CLIENT_SECRET"),
        auth0_client["client_secret"].as_str().expect("secret")
    );
    assert_eq!(value("AUTH0_DOMAIN"), f.sim.domain());
    assert_eq!(
        value("AUTH0_ISSUER_BASE_URL"),
        format!("https://{}/", f.sim.domain())
    );
    let owners = secret.owner_references();
    assert_eq!(owners.len(), 1, "one owner: {owners:?}");
    let owner = &owners[0];
    assert_eq!(owner.api_version, "auth.nexus.dev/v1alpha1");
    assert_eq!(owner.kind, "AuthClient");
    assert_eq!(owner.name, "web");
    assert_eq!(Some(&owner.uid), ready.meta().uid.as_ref());
    assert_eq!(owner.controller, Some(true));

    // `kubectl get authclients` columns come from the CRD the API server holds.
    let crds = Api::<CustomResourceDefinition>::all(f.kube.clone());
    for (crd, expected) in [
        (
            "authclients.auth.nexus.dev",
            &["Tenant", "Client ID", "Ready", "Reason", "Secret", "Age"][..],
        ),
        ("authtenants.auth.nexus.dev", &["Domain"][..]),
    ] {
        let crd = crds.get(crd).await.expect("CRD installed");
        let version = crd
            .spec
            .versions
            .iter()
            .find(|v| v.name == "v1alpha1")
            .expect("v1alpha1 served");
        assert!(version.served && version.storage);
        let columns: Vec<&str> = version
            .additional_printer_columns
            .iter()
            .flatten()
            .map(|c| c.name.as_str())
            .collect();
        for column in expected {
            assert!(
                columns.contains(column),
                "{} has printer column {column}: {columns:?}",
                crd.name_any()
            );
        }
        assert!(
            crd.status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|c| c
                    .iter()
                    .any(|c| c.type_ == "Established" && c.status == "True")),
            "{} is Established",
            crd.name_any()
        );
    }

    // Deleting the AuthClient deletes the Auth0 client, then the object, then (GC) the Secret.
    let uid = ready.uid().expect("uid");
    clients
        .delete("web", &DeleteParams::default())
        .await
        .expect("AuthClient deleted");
    wait(
        "AuthClient gone",
        await_condition(clients.clone(), "web", conditions::is_deleted(&uid)),
    )
    .await;
    assert!(
        f.sim.client(&client_id).is_none() && f.sim.clients().is_empty(),
        "the Auth0 client was deleted before the finalizer was removed"
    );
    let secret_uid = secret.uid().expect("secret uid");
    wait(
        "owned Secret garbage-collected",
        await_condition(
            secrets.clone(),
            &secret_name,
            conditions::is_deleted(&secret_uid),
        ),
    )
    .await;
}

fn ready_is(
    conditions: &[k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition],
    status: &str,
) -> bool {
    conditions
        .iter()
        .any(|c| c.type_ == "Ready" && c.status == status)
}

/// Awaits a `kube::runtime::wait::await_condition` future within [`WAIT`].
async fn wait<K>(
    what: &str,
    condition: impl std::future::Future<Output = Result<Option<K>, kube::runtime::wait::Error>>,
) -> Option<K> {
    tokio::time::timeout(WAIT, condition)
        .await
        .unwrap_or_else(|_| panic!("timed out after {WAIT:?} waiting for {what}"))
        .unwrap_or_else(|e| panic!("watch failed while waiting for {what}: {e}"))
}

/// Removes the tenant and the namespace; an AuthClient left behind by a failed step loses its
/// finalizer first (the controller is stopped) so that the namespace can go away.
async fn cleanup(f: &Fixture) {
    let clients = Api::<AuthClient>::namespaced(f.kube.clone(), &f.namespace);
    if let Ok(list) = clients.list(&Default::default()).await {
        for client in list {
            let name = client.name_any();
            let _ = clients
                .patch(
                    &name,
                    &PatchParams::default(),
                    &Patch::Merge(json!({"metadata": {"finalizers": null}})),
                )
                .await;
            let _ = clients.delete(&name, &DeleteParams::default()).await;
        }
    }
    let _ = Api::<AuthTenant>::all(f.kube.clone())
        .delete(&f.tenant, &DeleteParams::default())
        .await;
    let _ = Api::<Namespace>::all(f.kube.clone())
        .delete(&f.namespace, &DeleteParams::default())
        .await;
}
