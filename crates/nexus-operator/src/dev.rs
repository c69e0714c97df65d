//! `nexus-operator dev`: a sandbox in one command. The Auth0 simulator, a dev `AuthTenant`
//! pointing at it, the controller and the REST facade (with the simulator as its JWT issuer),
//! against the current kubeconfig's cluster or, when there is none (or with `--embedded`), an
//! in-memory Kubernetes API served on loopback for kubectl. Built only with the `dev` feature.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use auth0_sim as sim;
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::api::{Patch, PatchParams};
use kube_fake::FakeKube;
use nexus_controller::{self as controller, ControllerConfig};
use nexus_crd::{AuthTenant, FIELD_MANAGER, GROUP, VERSION};
use nexus_facade as facade;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use crate::app::{AppError, Shutdown, common, common_with, install_crds};
use crate::cli::DevArgs;

/// An API (resource server) of the simulated tenant that every application gets a client grant
/// for (without scopes), and the tenant's default audience, so an app's Secret alone gets it a
/// token (`SimConfig::app_audience`).
pub const DEV_API_AUDIENCE: &str = "https://api.nexus.dev/";
/// Connections the simulated tenant has, like a new Auth0 tenant.
pub const DEV_CONNECTIONS: &[(&str, &str)] = &[
    ("Username-Password-Authentication", "auth0"),
    ("google-oauth2", "google-oauth2"),
];
/// The audience the facade accepts in dev mode (the simulator mints the printed token for it).
pub const FACADE_AUDIENCE: &str = "https://nexus-facade.dev/";
/// How long the printed facade token is valid.
const FACADE_TOKEN_TTL: Duration = Duration::from_secs(24 * 3600);
/// How often the state directory is brought up to date.
const SAVE_INTERVAL: Duration = Duration::from_secs(1);

/// Runs dev mode until SIGTERM / Ctrl-C.
pub async fn run(args: DevArgs) -> Result<(), AppError> {
    let shutdown = Shutdown::on_signals();
    let dir = WorkDir::open(args.state_dir.as_deref())?;
    let timeout = Duration::from_secs(15);
    let sandbox = if args.embedded || !cluster_configured().await {
        Some(Sandbox::start(&args, &dir).await?)
    } else {
        None
    };
    let common = match &sandbox {
        Some(sandbox) => common_with(sandbox.fake.client(), timeout)?,
        None => common(timeout).await?,
    };
    install_crds(&common.kube).await?;
    tracing::info!("CRDs installed");

    let sim = start_simulator(&args, &dir).await?;
    let review = create_tenant(&common.kube, &args, &sim, &dir).await?;
    tracing::warn!(
        tenant = %args.tenant,
        simulator = %sim.base_url(),
        "dev mode: AuthTenant '{}' points at the embedded Auth0 SIMULATOR, not a real tenant; apply examples/authclient-dev.yaml to try it",
        args.tenant
    );

    let metrics_server = common
        .spawn_metrics_server(args.metrics_addr, &args.metrics_server, &shutdown)
        .await?;
    let facade_login = facade_credentials(&common.kube, &args, &sim, &dir).await?;
    let listener = tokio::net::TcpListener::bind(args.facade_addr).await?;
    let facade_addr = listener.local_addr()?;
    let mut facade_config = facade::FacadeConfig::new(
        Some(facade::JwtConfig::new(
            sim.issuer(),
            FACADE_AUDIENCE.into(),
            sim.jwks_url(),
        )),
        Some(facade::ObjectRef {
            namespace: args.namespace.clone(),
            name: FACADE_CREDENTIALS.into(),
        }),
    );
    facade_config.addr = facade_addr;
    let facade_server = tokio::spawn(facade::serve(
        facade_config,
        common.kube.clone(),
        common.auth0.clone(),
        common.facade_metrics.clone(),
        listener,
        shutdown.clone().wait(),
    ));
    common.health.set_ready(true);

    let config = ControllerConfig {
        cluster_id: "dev".into(),
        drift_scan_interval: Duration::from_secs(60),
        ..ControllerConfig::default()
    };
    let ctx = common.controller_context(config);
    let controller = controller::run(ctx, None, shutdown.clone().wait());
    print_banner(
        &args,
        sandbox.as_ref(),
        &sim,
        facade_addr,
        &facade_login,
        &review,
    );

    tokio::pin!(controller);
    let mut saved = Saved::default();
    loop {
        tokio::select! {
            () = &mut controller => break,
            () = tokio::time::sleep(SAVE_INTERVAL) => {
                dir.save(sandbox.as_ref(), &sim, &mut saved);
            }
        }
    }
    if let Ok(Err(error)) = facade_server.await {
        tracing::error!(%error, "facade stopped with an error");
    }
    dir.save(sandbox.as_ref(), &sim, &mut saved);
    dir.remove_if_temporary();
    sim.shutdown().await;
    if let Ok(Err(error)) = metrics_server.await {
        tracing::error!(%error, "metrics server stopped with an error");
    }
    Ok(())
}

/// Whether a kubeconfig or an in-cluster configuration names a cluster.
async fn cluster_configured() -> bool {
    match kube::Config::infer().await {
        Ok(_) => true,
        Err(error) => {
            tracing::info!(%error, "no Kubernetes configuration found: starting the embedded Kubernetes API");
            false
        }
    }
}

fn io_error(context: impl std::fmt::Display, error: impl std::fmt::Display) -> AppError {
    AppError::Io(std::io::Error::other(format!("{context}: {error}")))
}

/// Where dev mode keeps its files: `--state-dir`, or a fresh temporary directory.
struct WorkDir {
    path: PathBuf,
    persistent: bool,
}

/// What was last written to the state directory.
#[derive(Default)]
struct Saved {
    kube_resource_version: Option<u64>,
    auth0_state: Option<Value>,
}

const KUBE_STATE: &str = "kube-objects.json";
/// The simulated tenant: clients, resource servers, client grants, connections.
const AUTH0_STATE: &str = "auth0-state.json";
/// What older versions kept (clients only); read when there is no `AUTH0_STATE`.
const LEGACY_AUTH0_CLIENTS: &str = "auth0-clients.json";
const FACADE_CREDENTIALS: &str = "nexus-dev-facade-credentials";

impl WorkDir {
    fn open(state_dir: Option<&Path>) -> Result<Self, AppError> {
        let (path, persistent) = match state_dir {
            Some(dir) => (dir.to_path_buf(), true),
            None => (
                std::env::temp_dir().join(format!("nexus-operator-dev-{}", std::process::id())),
                false,
            ),
        };
        std::fs::create_dir_all(&path).map_err(|e| io_error(path.display(), e))?;
        restrict(&path, 0o700);
        Ok(Self { path, persistent })
    }

    fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// A JSON state file, if this directory keeps state and has one.
    fn load(&self, name: &str) -> Result<Option<Value>, AppError> {
        let path = self.file(name);
        if !self.persistent || !path.exists() {
            return Ok(None);
        }
        let text = std::fs::read_to_string(&path).map_err(|e| io_error(path.display(), e))?;
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| io_error(path.display(), e))
    }

    /// Writes a file atomically (temporary file + rename), readable by the owner only.
    fn write(&self, name: &str, contents: &str) -> Result<PathBuf, AppError> {
        let path = self.file(name);
        let partial = self.file(&format!(".{name}.partial"));
        std::fs::write(&partial, contents).map_err(|e| io_error(partial.display(), e))?;
        restrict(&partial, 0o600);
        std::fs::rename(&partial, &path).map_err(|e| io_error(path.display(), e))?;
        Ok(path)
    }

    /// Removes the temporary directory (and the credentials in it) when dev mode stops.
    fn remove_if_temporary(&self) {
        if !self.persistent {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }

    /// Brings the state files up to date (only with `--state-dir`); failures are logged.
    fn save(&self, sandbox: Option<&Sandbox>, sim: &sim::SimHandle, saved: &mut Saved) {
        if !self.persistent {
            return;
        }
        if let Some(sandbox) = sandbox {
            let rv = sandbox.fake.resource_version();
            if saved.kube_resource_version != Some(rv) {
                let snapshot = sandbox.fake.snapshot().to_string();
                match self.write(KUBE_STATE, &snapshot) {
                    Ok(_) => saved.kube_resource_version = Some(rv),
                    Err(error) => tracing::warn!(%error, "cannot save the embedded API's objects"),
                }
            }
        }
        let state = match serde_json::to_value(sim.snapshot()) {
            Ok(state) => state,
            Err(error) => {
                tracing::warn!(%error, "cannot serialise the simulated Auth0 tenant");
                return;
            }
        };
        if saved.auth0_state.as_ref() != Some(&state) {
            match self.write(AUTH0_STATE, &state.to_string()) {
                Ok(_) => saved.auth0_state = Some(state),
                Err(error) => tracing::warn!(%error, "cannot save the simulated Auth0 tenant"),
            }
        }
    }
}

#[cfg(unix)]
fn restrict(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt as _;
    let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode));
}

#[cfg(not(unix))]
fn restrict(_path: &Path, _mode: u32) {}

/// The embedded Kubernetes API and the kubeconfig that names it.
struct Sandbox {
    fake: FakeKube,
    addr: std::net::SocketAddr,
    kubeconfig: PathBuf,
}

impl Sandbox {
    async fn start(args: &DevArgs, dir: &WorkDir) -> Result<Self, AppError> {
        let fake = FakeKube::new();
        if let Some(snapshot) = dir.load(KUBE_STATE)? {
            let restored = fake
                .restore(&snapshot)
                .map_err(|e| io_error(dir.file(KUBE_STATE).display(), e))?;
            tracing::info!(
                objects = restored,
                "embedded Kubernetes API restored from the state directory"
            );
        }
        for namespace in ["default", args.namespace.as_str()] {
            if fake
                .get(&format!("/api/v1/namespaces/{namespace}"))
                .is_none()
            {
                fake.insert(json!({
                    "apiVersion": "v1", "kind": "Namespace",
                    "metadata": {"name": namespace},
                    "spec": {"finalizers": ["kubernetes"]},
                    "status": {"phase": "Active"},
                }));
            }
        }
        let addr = fake.serve(args.kube_listen).await.map_err(|e| {
            io_error(
                format!(
                    "cannot serve the embedded Kubernetes API on {} (choose another address with --kube-listen)",
                    args.kube_listen
                ),
                e,
            )
        })?;
        let kubeconfig = dir.write("kubeconfig", &kubeconfig(addr, &args.namespace))?;
        tracing::warn!(
            %addr,
            "embedded Kubernetes API (in memory, plain HTTP on loopback, no authentication): for development only"
        );
        Ok(Self {
            fake,
            addr,
            kubeconfig,
        })
    }
}

fn kubeconfig(addr: std::net::SocketAddr, namespace: &str) -> String {
    format!(
        "apiVersion: v1
kind: Config
clusters:
- name: nexus-dev
  cluster:
    server: http://{addr}
users:
- name: nexus-dev
  user: {{}}
contexts:
- name: nexus-dev
  context:
    cluster: nexus-dev
    user: nexus-dev
    namespace: {namespace}
current-context: nexus-dev
"
    )
}

async fn start_simulator(args: &DevArgs, dir: &WorkDir) -> Result<sim::SimHandle, AppError> {
    let config = sim::SimConfig {
        rate_limit: sim::RateLimit {
            burst: args.rate_limit.max(1),
            per_second: args.rate_limit.max(1),
        },
        app_audience: Some(DEV_API_AUDIENCE.into()),
        ..sim::SimConfig::default()
    };
    let sim = sim::start(config, args.sim_listen).await?;
    if let Some(state) = dir.load(AUTH0_STATE)? {
        let snapshot: sim::tenant::Snapshot = serde_json::from_value(state)
            .map_err(|e| io_error(dir.file(AUTH0_STATE).display(), e))?;
        let restored = sim.restore(snapshot);
        tracing::info!(
            clients = restored.clients,
            resource_servers = restored.resource_servers,
            client_grants = restored.client_grants,
            connections = restored.connections,
            "simulated Auth0 tenant restored from the state directory"
        );
    } else if let Some(Value::Array(clients)) = dir.load(LEGACY_AUTH0_CLIENTS)? {
        let count = clients.len();
        for client in clients.into_iter().filter(Value::is_object) {
            sim.insert_client(client);
        }
        tracing::info!(
            clients = count,
            "simulated Auth0 clients restored from the state directory"
        );
    }
    for (name, strategy) in DEV_CONNECTIONS {
        sim.insert_connection(name, strategy);
    }
    Ok(sim)
}

/// The simulator's M2M credentials Secret and the dev AuthTenant, whose client Secrets
/// advertise the simulator as their issuer (so an app's Secret alone gets it a token).
/// The files `nexus-operator plan` and `import` read in dev mode: the dev AuthTenant and its
/// credentials Secret (owner-only).
struct ReviewFiles {
    tenant: PathBuf,
    credentials: PathBuf,
}

async fn create_tenant(
    kube: &kube::Client,
    args: &DevArgs,
    sim: &sim::SimHandle,
    dir: &WorkDir,
) -> Result<ReviewFiles, AppError> {
    let m2m = sim.m2m().clone();
    let secret_name = format!("{}-auth0-sim-credentials", args.tenant);
    let params = PatchParams::apply(FIELD_MANAGER).force();
    let secret: Secret = serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": secret_name, "namespace": args.namespace},
        // `endpoint` names the Auth0 these credentials belong to: `plan` and `import` send
        // them nowhere else, whatever AuthTenant the files hold.
        "stringData": {"client_id": m2m.client_id, "client_secret": m2m.client_secret, "endpoint": sim.base_url()},
    }))
    .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
    Api::<Secret>::namespaced(kube.clone(), &args.namespace)
        .patch(&secret_name, &params, &Patch::Apply(&secret))
        .await?;
    let tenant = json!({
        "apiVersion": format!("{GROUP}/{VERSION}"),
        "kind": "AuthTenant",
        "metadata": {"name": args.tenant},
        "spec": {
            "domain": sim.domain(),
            "endpoint": sim.base_url(),
            "issuerBaseUrl": sim.issuer(),
            "credentialsSecretRef": {"namespace": args.namespace, "name": secret_name},
            "rateLimit": {"requestsPerSecond": args.rate_limit.max(1), "burst": args.rate_limit.max(1)},
            "allowedNamespaces": {"names": ["*"]},
            // Clients made outside the operator (`nexus-operator import`) may be adopted here,
            // with the grant every simulated application has.
            "adoption": {"allowedNamespaces": {"names": [args.namespace]}},
            "grantableAudiences": [{"audience": DEV_API_AUDIENCE, "namespaces": {"names": [args.namespace]}}],
            "facadeNamespace": args.namespace,
        }
    });
    Api::<AuthTenant>::all(kube.clone())
        .patch(&args.tenant, &params, &Patch::Apply(&tenant))
        .await?;
    let files = ReviewFiles {
        tenant: dir.write("authtenant.yaml", &serde_saphyr::to_string(&tenant)?)?,
        credentials: dir.write(
            "tenant-credentials.yaml",
            &serde_saphyr::to_string(&secret)?,
        )?,
    };
    Ok(files)
}

/// Where the printed `curl` reads the facade credentials from.
struct FacadeLogin {
    bearer_file: PathBuf,
    application_token_file: PathBuf,
}

/// A fresh ApplicationToken (its hash in the facade's credentials Secret) and a Bearer token
/// minted by the simulator, written to owner-only files: the printed `curl` reads them from
/// there, so no credential appears in the terminal or the logs.
async fn facade_credentials(
    kube: &kube::Client,
    args: &DevArgs,
    sim: &sim::SimHandle,
    dir: &WorkDir,
) -> Result<FacadeLogin, AppError> {
    let application_token = format!("dev-{:032x}", rand::random::<u128>());
    let digest: String = Sha256::digest(application_token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let secret: Secret = serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": FACADE_CREDENTIALS, "namespace": args.namespace},
        "stringData": {
            facade::auth::APPLICATION_TOKENS_KEY: format!("# nexus-operator dev\n{digest}\n"),
        },
    }))
    .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
    Api::<Secret>::namespaced(kube.clone(), &args.namespace)
        .patch(
            FACADE_CREDENTIALS,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&secret),
        )
        .await?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let bearer = sim.mint_jwt(json!({
        "iss": sim.issuer(),
        "aud": FACADE_AUDIENCE,
        "sub": "nexus-dev-user",
        "iat": now,
        "exp": now + FACADE_TOKEN_TTL.as_secs(),
        "permissions": ["client.write.all"],
    }));
    Ok(FacadeLogin {
        bearer_file: dir.write("facade-bearer-token", &bearer)?,
        application_token_file: dir.write("facade-application-token", &application_token)?,
    })
}

fn print_banner(
    args: &DevArgs,
    sandbox: Option<&Sandbox>,
    sim: &sim::SimHandle,
    facade_addr: std::net::SocketAddr,
    login: &FacadeLogin,
    review: &ReviewFiles,
) {
    let mut text = String::from("\nnexus-operator dev is up.\n\n");
    match sandbox {
        Some(sandbox) => {
            text.push_str(&format!(
                "  Kubernetes API (embedded, in memory): http://{}\n  Point kubectl at it:\n\n    export KUBECONFIG={}\n\n",
                sandbox.addr,
                sandbox.kubeconfig.display()
            ));
        }
        None => text.push_str("  Kubernetes: the cluster of your current kubeconfig\n"),
    }
    text.push_str(&format!(
        "  Auth0 simulator (AuthTenant '{tenant}'): {sim}\n  Nexus REST facade: http://{facade_addr}\n\n",
        tenant = args.tenant,
        sim = sim.base_url(),
    ));
    text.push_str(&format!(
        "Create an AuthClient and wait for it:\n\n    kubectl apply -f examples/authclient-dev.yaml && kubectl wait --for=condition=Ready authclient/hello\n    kubectl get authclients && kubectl get secret hello-auth0 -o yaml\n\n\
         Create a client through the REST facade:\n\n    curl -sS -X POST http://{facade_addr}/v1/tenants/{tenant}/clients \\\n      -H \"Authorization: Bearer $(cat {bearer})\" \\\n      -H \"ApplicationToken: $(cat {app_token})\" \\\n      -H \"Content-Type: application/json\" \\\n      -d '{{\"name\": \"Hello REST\", \"app_type\": \"spa\", \"callbacks\": [\"http://localhost:3000/callback\"]}}'\n\n",
        tenant = args.tenant,
        bearer = login.bearer_file.display(),
        app_token = login.application_token_file.display(),
    ));
    text.push_str(&format!(
        "Review what a sync of manifests would do, read-only and without a cluster (exit code 0: no change, 2: changes, 1: refusals; the credentials file names the simulator as their Auth0 with `endpoint`, and plan sends them nowhere else):\n\n    nexus-operator plan --cluster-id dev -f {tenant_file} -f examples/authclient-dev.yaml --tenant-credentials {tenant}={credentials}\n\n\
         Import the simulated tenant's clients that no AuthClient owns (one manifest each, adopting it):\n\n    nexus-operator import --cluster-id dev --tenant {tenant} -f {tenant_file} --tenant-credentials {tenant}={credentials} --namespace {namespace} -o imported/\n\n",
        tenant = args.tenant,
        tenant_file = review.tenant.display(),
        credentials = review.credentials.display(),
        namespace = args.namespace,
    ));
    if args.state_dir.is_none() {
        text.push_str(
            "State lives in memory only; pass --state-dir DIR to keep it across restarts.\n",
        );
    }
    println!("{text}");
}
