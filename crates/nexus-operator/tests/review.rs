//! The `plan` and `import` commands of the binary against the simulator: exit codes for CI,
//! credentials from the environment, manifests from stdin, clean stdout, and the tenant's
//! secret in no output.

use std::path::Path;
use std::process::Stdio;

use auth0_sim::SimHandle;
use nexus_testing::world;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

fn tenant(sim: &SimHandle) -> Value {
    json!({
        "apiVersion": "auth.nexus.dev/v1alpha1",
        "kind": "AuthTenant",
        "metadata": {"name": "acme-prod"},
        "spec": {
            "domain": sim.domain(),
            "endpoint": sim.base_url(),
            "credentialsSecretRef": {"namespace": "nexus-system", "name": "acme-m2m"},
            "allowedNamespaces": {"names": ["team-a"]},
        }
    })
}

fn hello(name: &str) -> Value {
    json!({
        "apiVersion": "auth.nexus.dev/v1alpha1",
        "kind": "AuthClient",
        "metadata": {"name": "hello", "namespace": "team-a"},
        "spec": {"tenant": "acme-prod", "client": {"name": name, "app_type": "spa"}},
    })
}

fn write(dir: &Path, documents: &[Value]) {
    let text: String = documents
        .iter()
        .map(|d| format!("---\n{}\n", serde_json::to_string(d).expect("json")))
        .collect();
    std::fs::write(dir.join("manifests.yaml"), text).expect("write");
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn assert_code(&self, code: i32) {
        assert_eq!(self.code, code, "{}{}", self.stdout, self.stderr);
    }

    fn assert_stdout_has(&self, needle: &str) {
        assert!(self.stdout.contains(needle), "{}", self.stdout);
    }

    fn assert_stderr_has(&self, needle: &str) {
        assert!(self.stderr.contains(needle), "{}", self.stderr);
    }
}

/// Which environment the binary gets: the tenant's credentials naming the simulator (`Pinned`),
/// the credentials alone (`Unpinned`), or none.
#[derive(Clone, Copy, PartialEq)]
enum Env {
    Pinned,
    Unpinned,
    None,
}

async fn run(sim: &SimHandle, args: &[&str], stdin: Option<String>, env: Env) -> Run {
    let mut command = Command::new(env!("CARGO_BIN_EXE_nexus-operator"));
    command
        .args(args)
        .env_remove("NEXUS_CLUSTER_ID")
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
        .env_remove("NEXUS_TENANT_ACME_PROD_ENDPOINT")
        .env_remove("NEXUS_TENANT_ACME_PROD_DOMAIN");
    if env != Env::None {
        command
            .env("NEXUS_TENANT_ACME_PROD_CLIENT_ID", &sim.m2m().client_id)
            .env(
                "NEXUS_TENANT_ACME_PROD_CLIENT_SECRET",
                &sim.m2m().client_secret,
            );
    }
    if env == Env::Pinned {
        command.env("NEXUS_TENANT_ACME_PROD_ENDPOINT", sim.base_url());
    }
    let mut child = command.spawn().expect("binary starts");
    let mut input = child.stdin.take().expect("stdin");
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).await.expect("stdin");
    }
    drop(input);
    let output = child.wait_with_output().await.expect("binary runs");
    let run = Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    };
    let secret = &sim.m2m().client_secret;
    assert!(
        !run.stdout.contains(secret.as_str()) && !run.stderr.contains(secret.as_str()),
        "the tenant's secret is printed"
    );
    run
}

/// `plan -f path` with the credentials of `env`.
async fn plan(sim: &SimHandle, path: &str, env: Env) -> Run {
    run(sim, &["plan", "-f", path], None, env).await
}

/// `import -f path --tenant acme-prod --namespace namespace`, credentials pinned.
async fn import(sim: &SimHandle, path: &str, namespace: &str) -> Run {
    let args = [
        "import",
        "-f",
        path,
        "--tenant",
        "acme-prod",
        "--namespace",
        namespace,
    ];
    run(sim, &args, None, Env::Pinned).await
}

#[tokio::test]
async fn plan_exit_codes_credentials_from_env_and_stdin() {
    let sim = world::start_sim(world::sim_config(1000)).await;
    sim.insert_client(json!({
        "name": "Hello", "app_type": "spa",
        "client_metadata": {"nexus_cluster": "default", "nexus_owner_uid": "u-1", "nexus_owner": "team-a/hello"},
    }));
    let dir = nexus_testing::scratch_dir("plan-bin");
    let path = dir.display().to_string();

    write(&dir, &[tenant(&sim), hello("Hello")]);
    let same = plan(&sim, &path, Env::Pinned).await;
    same.assert_code(0);
    same.assert_stdout_has("AuthClient team-a/hello: no change");
    assert!(
        same.stdout.starts_with("AuthTenant acme-prod"),
        "stdout holds the plan only: {}",
        same.stdout
    );

    write(&dir, &[tenant(&sim), hello("Hello v2")]);
    let changed = run(
        &sim,
        &["plan", "-f", &path, "-o", "json"],
        None,
        Env::Pinned,
    )
    .await;
    changed.assert_code(2);
    let json: Value = serde_json::from_str(&changed.stdout).expect("JSON on stdout");
    assert_eq!(json["tenants"][0]["objects"][0]["action"], "update");

    // Kustomize-style: the same manifests on stdin.
    let text = std::fs::read_to_string(dir.join("manifests.yaml")).expect("read");
    let piped = run(&sim, &["plan", "-f", "-"], Some(text), Env::Pinned).await;
    piped.assert_code(2);

    let missing = plan(&sim, &path, Env::None).await;
    missing.assert_code(1);
    missing.assert_stdout_has("NEXUS_TENANT_ACME_PROD_CLIENT_SECRET");
    assert_eq!(sim.counters().writes(), 0, "plan never writes to Auth0");
}

/// Attack: in CI a pull request controls the files. Credentials that name no Auth0 are sent
/// nowhere, and a PR pointing the AuthTenant elsewhere than the Auth0 the CI secrets name
/// (`NEXUS_TENANT_<T>_ENDPOINT`) is refused: exit 1, the tenant named, no request made.
#[tokio::test]
async fn credentials_only_go_to_the_auth0_their_owner_names() {
    let sim = world::start_sim(world::sim_config(1000)).await;
    let dir = nexus_testing::scratch_dir("plan-bin-pin");
    let path = dir.display().to_string();
    write(&dir, &[tenant(&sim), hello("Hello")]);
    let before = sim.counters().total();

    let unnamed = plan(&sim, &path, Env::Unpinned).await;
    unnamed.assert_code(1);
    assert!(
        unnamed
            .stdout
            .contains("tenant 'acme-prod' do not name their Auth0")
            && unnamed.stdout.contains("NEXUS_TENANT_ACME_PROD_ENDPOINT"),
        "{}",
        unnamed.stdout
    );

    let mut moved = tenant(&sim);
    moved["spec"]["endpoint"] = json!("http://127.0.0.1:9");
    write(&dir, &[moved, hello("Hello")]);
    let refused = plan(&sim, &path, Env::Pinned).await;
    refused.assert_code(1);
    refused.assert_stdout_has("AuthTenant 'acme-prod' in the files points at http://127.0.0.1:9");
    let imported = import(&sim, &path, "team-a").await;
    imported.assert_code(1);
    imported.assert_stderr_has("NEXUS_TENANT_ACME_PROD_ENDPOINT");
    assert_eq!(sim.counters().total(), before, "no request reached Auth0");
}

/// Bad input is a clear error, exit 1, never a panic: a malformed file (a Secret among the
/// files, whose value is not printed), an AuthClient that does not match its schema, an
/// unknown kind (ignored, said so); and `import --namespace ../x` is refused.
#[tokio::test]
async fn bad_input_is_a_clear_error_and_exit_1() {
    let sim = world::start_sim(world::sim_config(1000)).await;
    let dir = nexus_testing::scratch_dir("plan-bin-bad");
    let path = dir.display().to_string();
    let file = dir.join("manifests.yaml");

    std::fs::write(
        &file,
        "apiVersion: v1\nkind: Secret\nmetadata: {name: m2m}\nstringData:\n  client_secret: very-secret-value-123\n  client_id: [x\n",
    )
    .expect("write");
    let malformed = plan(&sim, &path, Env::Pinned).await;
    malformed.assert_code(1);
    malformed.assert_stderr_has("not valid YAML");
    assert!(
        !malformed.stderr.contains("very-secret-value-123"),
        "{}",
        malformed.stderr
    );

    write(
        &dir,
        &[
            tenant(&sim),
            json!({"apiVersion": "auth.nexus.dev/v1alpha1", "kind": "AuthClient",
                   "metadata": {"name": "bad", "namespace": "team-a"},
                   "spec": {"tenant": "acme-prod", "client": {"name": 3}}}),
        ],
    );
    let schema = plan(&sim, &path, Env::Pinned).await;
    schema.assert_code(1);
    schema.assert_stderr_has("does not match its schema");

    write(
        &dir,
        &[
            tenant(&sim),
            json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}),
        ],
    );
    let unknown = plan(&sim, &path, Env::Pinned).await;
    unknown.assert_code(0);
    unknown.assert_stdout_has("ignored: ");

    let traversal = import(&sim, &path, "../x").await;
    traversal.assert_code(1);
    traversal.assert_stderr_has("not a Kubernetes namespace name");
    for output in [&malformed, &schema, &unknown, &traversal] {
        assert!(!output.stderr.contains("panicked"), "{}", output.stderr);
    }
    assert_eq!(
        sim.counters().writes(),
        0,
        "plan and import never write to Auth0"
    );
}
