//! The real kubectl against `nexus-operator dev`'s embedded Kubernetes API: every kubectl on the
//! machine (`kubectl` and `kubectl.1.NN` on the PATH, and `kubectl.1.NN` beside the resolved
//! `kubectl`) applies the examples, waits for Ready, reads the printer columns, explains a field,
//! describes, reads the Secret, gets the API server's errors and deletes. Also the README
//! quickstart as a script (`hack/quickstart.sh`), and the README's CRD install command
//! (`kubectl apply --server-side -f charts/nexus-operator/crds/`) against kube-fake.
//!
//! No kubectl on the machine: both tests say so and pass (skipped); a kubectl that is there but
//! fails is a failure.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nexus_testing as support;
use nexus_testing::process::Child;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_nexus-operator");
const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
/// Bound of one kubectl invocation (a hung kubectl fails the test instead of hanging it).
const KUBECTL_TIMEOUT: Duration = Duration::from_secs(90);
const WAIT: Duration = Duration::from_secs(60);

/// One kubectl binary and the version it reports.
struct Kubectl {
    path: PathBuf,
    version: String,
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

fn is_kubectl_name(name: &str) -> bool {
    name == "kubectl"
        || name
            .strip_prefix("kubectl.1.")
            .is_some_and(|minor| !minor.is_empty() && minor.bytes().all(|b| b.is_ascii_digit()))
}

/// Every kubectl on the machine, deduplicated by their real path, ordered by version.
fn kubectls() -> Vec<Kubectl> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    // Versioned binaries beside the `kubectl` the PATH resolves to (the Cloud SDK layout).
    let resolved: Vec<PathBuf> = dirs
        .iter()
        .map(|d| d.join("kubectl"))
        .filter(|p| is_executable(p))
        .filter_map(|p| p.canonicalize().ok())
        .filter_map(|p| p.parent().map(Path::to_path_buf))
        .collect();
    dirs.extend(resolved);
    let mut seen = BTreeMap::new();
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if !is_kubectl_name(&name) || !is_executable(&path) {
                continue;
            }
            let real = path.canonicalize().unwrap_or_else(|_| path.clone());
            seen.entry(real).or_insert(path);
        }
    }
    let mut found: Vec<Kubectl> = seen
        .into_values()
        .map(|path| {
            let output = Command::new(&path)
                .args(["version", "--client", "-o", "json"])
                .output()
                .unwrap_or_else(|e| panic!("{} cannot run: {e}", path.display()));
            assert!(
                output.status.success(),
                "{} is present but `version --client` fails: {}",
                path.display(),
                String::from_utf8_lossy(&output.stderr)
            );
            let version: Value = serde_json::from_slice(&output.stdout)
                .unwrap_or_else(|e| panic!("{}: unreadable version output: {e}", path.display()));
            let version = version["clientVersion"]["gitVersion"]
                .as_str()
                .unwrap_or("unknown")
                .to_owned();
            Kubectl { path, version }
        })
        .collect();
    found.sort_by(|a, b| a.version.cmp(&b.version).then(a.path.cmp(&b.path)));
    found
}

fn skip_without_kubectl(found: &[Kubectl], what: &str) -> bool {
    if found.is_empty() {
        eprintln!(
            "SKIPPED {what}: no kubectl on this machine (looked for kubectl and kubectl.1.NN on the PATH)"
        );
        return true;
    }
    false
}

/// What one kubectl invocation gave.
struct Run {
    success: bool,
    stdout: String,
    stderr: String,
}

/// kubectl with the sandbox's kubeconfig, its own cache and home, a bounded run time.
struct Session<'a> {
    kubectl: &'a Kubectl,
    kubeconfig: PathBuf,
    home: PathBuf,
}

impl Session<'_> {
    async fn run(&self, args: &[&str], stdin: Option<&str>) -> Run {
        let mut command = tokio::process::Command::new(&self.kubectl.path);
        command
            .args(args)
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .arg("--cache-dir")
            .arg(self.home.join("cache"))
            .env("HOME", &self.home)
            .env_remove("KUBECONFIG")
            .current_dir(ROOT)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = command.spawn().expect("spawn kubectl");
        if let Some(input) = stdin {
            use tokio::io::AsyncWriteExt as _;
            let mut pipe = child.stdin.take().expect("stdin");
            pipe.write_all(input.as_bytes()).await.expect("write stdin");
        }
        let output = tokio::time::timeout(KUBECTL_TIMEOUT, child.wait_with_output())
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "{} {args:?} did not finish within {KUBECTL_TIMEOUT:?}",
                    self.kubectl.version
                )
            })
            .expect("kubectl output");
        Run {
            success: output.status.success(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Runs and requires success; returns stdout.
    async fn ok(&self, args: &[&str]) -> String {
        let run = self.run(args, None).await;
        assert!(
            run.success,
            "kubectl {} {args:?} failed:\n{}{}",
            self.kubectl.version, run.stdout, run.stderr
        );
        run.stdout
    }

    /// Runs and requires failure; returns stderr.
    async fn fails(&self, args: &[&str], stdin: Option<&str>) -> String {
        let run = self.run(args, stdin).await;
        assert!(
            !run.success,
            "kubectl {} {args:?} should have failed:\n{}",
            self.kubectl.version, run.stdout
        );
        run.stderr
    }
}

/// The rows of `kubectl get` output as maps from header to cell (headers may contain a space,
/// so cells are cut at the header's column positions).
fn table(text: &str) -> Vec<BTreeMap<String, String>> {
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let Some(header) = lines.next() else {
        return Vec::new();
    };
    let mut starts = Vec::new();
    let bytes = header.as_bytes();
    for i in 0..bytes.len() {
        let begins = bytes[i] != b' ' && (i == 0 || (i >= 2 && &bytes[i - 2..i] == b"  "));
        if begins {
            starts.push(i);
        }
    }
    let cell = |line: &str, k: usize| {
        let start = starts[k].min(line.len());
        let end = starts
            .get(k + 1)
            .copied()
            .unwrap_or(line.len())
            .min(line.len());
        line.get(start..end).unwrap_or_default().trim().to_owned()
    };
    let names: Vec<String> = (0..starts.len()).map(|k| cell(header, k)).collect();
    lines
        .map(|line| {
            names
                .iter()
                .enumerate()
                .map(|(k, name)| (name.clone(), cell(line, k)))
                .collect()
        })
        .collect()
}

fn row<'a>(rows: &'a [BTreeMap<String, String>], name: &str) -> &'a BTreeMap<String, String> {
    rows.iter()
        .find(|r| r.get("NAME").map(String::as_str) == Some(name))
        .unwrap_or_else(|| panic!("no row {name} in {rows:?}"))
}

/// `kubectl explain` wraps descriptions itself (at 80 columns): a line that ends while the next
/// word would still have fitted is a line break of the source text, mid-paragraph.
fn assert_filled_paragraphs(explain: &str, version: &str) {
    let lines: Vec<&str> = explain.lines().collect();
    let start = lines
        .iter()
        .position(|l| l.trim_end() == "DESCRIPTION:")
        .unwrap_or_else(|| panic!("{version}: no DESCRIPTION in\n{explain}"));
    let body: Vec<&str> = lines[start + 1..]
        .iter()
        .take_while(|l| l.starts_with("    ") && !l.trim().is_empty())
        .copied()
        .collect();
    assert!(
        body.len() >= 2,
        "{version}: a multi-line description:\n{explain}"
    );
    for pair in body.windows(2) {
        let next_word = pair[1].split_whitespace().next().unwrap_or_default();
        assert!(
            pair[0].trim_end().len() + 1 + next_word.len() > 80,
            "{version}: explain breaks a paragraph mid-sentence after {:?}:\n{explain}",
            pair[0]
        );
    }
}

/// Starts `nexus-operator dev --embedded` on free ports; returns it and its kubeconfig.
async fn sandbox(state: &Path) -> (Child, PathBuf, std::net::SocketAddr) {
    let sim = support::free_port();
    let home = state.join("home");
    std::fs::create_dir_all(&home).expect("home");
    let mut child = Child::spawn(
        Command::new(BIN)
            .args(["dev", "--embedded", "--rate-limit", "50"])
            .args(["--state-dir", state.to_str().expect("UTF-8")])
            .args(["--sim-listen", &sim.to_string()])
            .args(["--facade-addr", &support::free_port().to_string()])
            .args(["--metrics-addr", &support::free_port().to_string()]),
        &[
            ("HOME", home.to_str().expect("UTF-8")),
            ("RUST_LOG", "info"),
        ],
    );
    child.wait_for_line("export KUBECONFIG=", WAIT).await;
    let kubeconfig = child
        .output()
        .lines()
        .find_map(|l| l.trim().strip_prefix("export KUBECONFIG="))
        .map(PathBuf::from)
        .expect("export line");
    (child, kubeconfig, sim)
}

const INVALID: &str = "apiVersion: auth.nexus.dev/v1alpha1
kind: AuthClient
metadata:
  name: invalid
  namespace: default
spec:
  client: {name: \"\", app_type: spa}
  deletionPolicy: Sometimes
";

const UNKNOWN_FIELD: &str = "apiVersion: auth.nexus.dev/v1alpha1
kind: AuthClient
metadata:
  name: typo
  namespace: default
spec:
  tenant: dev
  client: {name: Typo, app_type: spa, colour: red}
";

/// The whole scenario with one kubectl.
async fn scenario(k: &Session<'_>, sim: std::net::SocketAddr) {
    let v = k.kubectl.version.clone();
    let version: Value =
        serde_json::from_str(&k.ok(&["version", "-o", "json"]).await).expect("version JSON");
    assert_eq!(version["serverVersion"]["major"], "1", "{v}");

    // Every example passes the server's validation (server-side dry run: nothing is created,
    // and no tenant of the examples is ever contacted).
    let dry = k
        .ok(&["apply", "--dry-run=server", "-f", "examples/"])
        .await;
    for kind in [
        "authclient.auth.nexus.dev/orders-web",
        "authtenant.auth.nexus.dev/acme",
        "secret/acme-auth0-m2m",
    ] {
        assert!(dry.contains(kind), "{v}: dry run of {kind}:\n{dry}");
    }
    assert!(
        k.ok(&["get", "authtenant", "acme", "--ignore-not-found"])
            .await
            .is_empty(),
        "{v}: a server dry run creates nothing"
    );

    // Apply, wait for Ready.
    let applied = k
        .ok(&[
            "apply",
            "-f",
            "examples/authclient-dev.yaml",
            "-f",
            "examples/authclient-dev-m2m.yaml",
        ])
        .await;
    assert!(
        applied.contains("authclient.auth.nexus.dev/hello created"),
        "{v}: {applied}"
    );
    let waited = k
        .ok(&[
            "wait",
            "--for=condition=Ready",
            "authclient/hello",
            "authclient/hello-worker",
            "--timeout=60s",
        ])
        .await;
    assert_eq!(waited.matches("condition met").count(), 2, "{v}: {waited}");

    // Printer columns, default and wide; short names.
    let client_id = k
        .ok(&[
            "get",
            "authclient",
            "hello",
            "-o",
            "jsonpath={.status.clientId}",
        ])
        .await;
    assert_eq!(client_id.len(), 32, "{v}: client id {client_id:?}");
    let rows = table(&k.ok(&["get", "authclients"]).await);
    let hello = row(&rows, "hello");
    let columns: Vec<&str> = hello.keys().map(String::as_str).collect();
    assert_eq!(
        columns,
        ["AGE", "CLIENT ID", "NAME", "READY", "TENANT"],
        "{v}"
    );
    assert_eq!(hello["TENANT"], "dev", "{v}");
    assert_eq!(hello["READY"], "True", "{v}");
    assert_eq!(hello["CLIENT ID"], client_id, "{v}");
    let wide = table(&k.ok(&["get", "ac", "-o", "wide"]).await);
    let hello = row(&wide, "hello");
    assert_eq!(hello["REASON"], "Synced", "{v}");
    assert_eq!(hello["SECRET"], "hello-auth0", "{v}");
    let tenants = table(&k.ok(&["get", "atn"]).await);
    assert_eq!(row(&tenants, "dev")["READY"], "True", "{v}");

    // -o yaml / -o json.
    let yaml: Value =
        serde_saphyr::from_str(&k.ok(&["get", "ac", "hello", "-o", "yaml"]).await).expect("YAML");
    assert_eq!(yaml["spec"]["tenant"], "dev", "{v}");
    assert_eq!(
        yaml["spec"]["deletionPolicy"], "Delete",
        "{v}: the schema default is applied"
    );
    let json: Value =
        serde_json::from_str(&k.ok(&["get", "ac", "hello", "-o", "json"]).await).expect("JSON");
    assert!(
        json["metadata"]["finalizers"]
            .as_array()
            .is_some_and(|f| f.iter().any(|x| x == "auth.nexus.dev/cleanup")),
        "{v}: {json}"
    );

    // explain: the CRD's field docs as paragraphs, and a built-in kind.
    let explain = k.ok(&["explain", "authclient.spec.adoptionPolicy"]).await;
    assert!(explain.contains("IfUnowned"), "{v}: {explain}");
    assert_filled_paragraphs(&explain, &v);
    let explain = k.ok(&["explain", "secret.data"]).await;
    assert!(
        explain.contains("Data contains the secret data"),
        "{v}: {explain}"
    );

    // describe, with the operator's events; get events.
    let described = k.ok(&["describe", "authclient", "hello"]).await;
    let events = described.split("Events:").nth(1).unwrap_or_default();
    assert!(
        events.contains("Created") && events.contains("nexus-operator"),
        "{v}: describe shows the events:\n{described}"
    );
    let events = k.ok(&["get", "events"]).await;
    assert!(events.contains("authclient/hello"), "{v}: {events}");

    // The Secret.
    let secrets = table(&k.ok(&["get", "secret", "hello-auth0"]).await);
    let secret = row(&secrets, "hello-auth0");
    assert_eq!(
        (secret["TYPE"].as_str(), secret["DATA"].as_str()),
        ("Opaque", "4"),
        "{v}"
    );
    let domain = k
        .ok(&[
            "get",
            "secret",
            "hello-auth0",
            "-o",
            "jsonpath={.data.AUTH0_DOMAIN}",
        ])
        .await;
    assert_eq!(
        support::unb64(&Value::String(domain)),
        sim.to_string(),
        "{v}: the Secret leads to the simulator"
    );

    // The API server's errors.
    let err = k.fails(&["get", "authclient", "nope"], None).await;
    assert!(
        err.contains("(NotFound)") && err.contains("authclients.auth.nexus.dev \"nope\" not found"),
        "{v}: {err}"
    );
    let err = k
        .fails(&["create", "-f", "examples/authclient-dev.yaml"], None)
        .await;
    assert!(err.contains("(AlreadyExists)"), "{v}: {err}");
    let err = k.fails(&["apply", "-f", "-"], Some(INVALID)).await;
    for expected in [
        "is invalid",
        "spec.tenant: Required value",
        "spec.client.name",
        "supported values: \"Delete\", \"Orphan\"",
    ] {
        assert!(err.contains(expected), "{v}: {expected:?} in {err}");
    }
    let err = k.fails(&["apply", "-f", "-"], Some(UNKNOWN_FIELD)).await;
    assert!(
        err.contains("unknown field \"spec.client.colour\""),
        "{v}: {err}"
    );

    // Server-side apply of the same manifest.
    let ssa = k
        .ok(&[
            "apply",
            "--server-side",
            "-f",
            "examples/authclient-dev.yaml",
        ])
        .await;
    assert!(ssa.contains("serverside-applied"), "{v}: {ssa}");

    // Delete: the finalizer runs (the Auth0 client is deleted), the Secret is collected.
    let deleted = k
        .ok(&[
            "delete",
            "-f",
            "examples/authclient-dev.yaml",
            "-f",
            "examples/authclient-dev-m2m.yaml",
            "--timeout=60s",
        ])
        .await;
    assert_eq!(deleted.matches("deleted").count(), 2, "{v}: {deleted}");
    let left = k.ok(&["get", "authclients", "-o", "name"]).await;
    assert!(left.trim().is_empty(), "{v}: still there: {left}");
    let err = k.fails(&["get", "secret", "hello-auth0"], None).await;
    assert!(
        err.contains("(NotFound)"),
        "{v}: the Secret is garbage-collected: {err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kubectl_on_the_machine_works_against_the_embedded_api() {
    let found = kubectls();
    if skip_without_kubectl(&found, "the kubectl matrix") {
        return;
    }
    let state = support::scratch_dir("kubectl");
    let (mut child, kubeconfig, sim) = sandbox(&state).await;
    let mut timings = Vec::new();
    for kubectl in &found {
        let home = state.join(format!("kubectl-home-{}", timings.len()));
        std::fs::create_dir_all(&home).expect("kubectl home");
        let session = Session {
            kubectl,
            kubeconfig: kubeconfig.clone(),
            home,
        };
        let started = Instant::now();
        scenario(&session, sim).await;
        timings.push((
            kubectl.version.clone(),
            kubectl.path.clone(),
            started.elapsed(),
        ));
    }
    for (version, path, took) in &timings {
        println!(
            "kubectl {version} ({}): scenario passed in {took:.1?}",
            path.display()
        );
    }
    assert!(child.terminate().await.success(), "{}", child.output());
    let _ = std::fs::remove_dir_all(state);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_quickstart_works_on_a_machine_without_a_cluster() {
    let found = kubectls();
    if skip_without_kubectl(&found, "the quickstart script") {
        return;
    }
    if Command::new("curl").arg("--version").output().is_err() {
        eprintln!("SKIPPED the quickstart script: no curl on this machine");
        return;
    }
    let newest = found.last().expect("a kubectl");
    let output = tokio::time::timeout(
        Duration::from_secs(240),
        tokio::process::Command::new("bash")
            .arg(Path::new(ROOT).join("hack/quickstart.sh"))
            .env("NEXUS_OPERATOR", BIN)
            .env("KUBECTL", &newest.path)
            .env("NEXUS_DEV_SIM_LISTEN", support::free_port().to_string())
            .env("NEXUS_DEV_FACADE_ADDR", support::free_port().to_string())
            .env("NEXUS_METRICS_ADDR", support::free_port().to_string())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("the quickstart finished within 240 s")
    .expect("bash runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "hack/quickstart.sh failed:\n{stdout}\n{stderr}"
    );
    assert!(
        stdout.contains("the printed curl created a client (201)"),
        "{stdout}"
    );
    assert!(stdout.contains("quickstart: ok"), "{stdout}");
}

/// A CRD whose pattern holds U+FFFE, written as a YAML escape (as the CRDs before issue 18
/// were): kubectl decodes the escape and sends the character as raw UTF-8.
const CRD_WITH_FFFE: &str = r#"apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: string
            pattern: "^[^\x00-\x1f\uFFFE\uFFFF]*$"
"#;

/// Issue 18: the README's install command, `kubectl apply --server-side -f
/// charts/nexus-operator/crds/`, with every kubectl on the machine against kube-fake, which
/// reads apply bodies with the real API server's YAML rule; and the refusal a real server gives
/// to a CRD holding U+FFFE.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_install_command_applies_the_crds_server_side() {
    let found = kubectls();
    if skip_without_kubectl(&found, "the README install command") {
        return;
    }
    let state = support::scratch_dir("kubectl-install");
    let bad = state.join("widgets.yaml");
    std::fs::write(&bad, CRD_WITH_FFFE).expect("write CRD");
    for (index, kubectl) in found.iter().enumerate() {
        let fake = kube_fake::FakeKube::new();
        let addr = fake
            .serve("127.0.0.1:0".parse().expect("addr"))
            .await
            .expect("serve fake API");
        let dir = state.join(format!("run-{index}"));
        std::fs::create_dir_all(dir.join("home")).expect("dirs");
        let session = Session {
            kubectl,
            kubeconfig: support::write_kubeconfig(&dir, addr),
            home: dir.join("home"),
        };
        let out = session
            .ok(&[
                "apply",
                "--server-side",
                "-f",
                "charts/nexus-operator/crds/",
            ])
            .await;
        for name in [
            "authclients.auth.nexus.dev",
            "authresourceservers.auth.nexus.dev",
            "authtenants.auth.nexus.dev",
        ] {
            assert!(
                out.contains(&format!(
                    "customresourcedefinition.apiextensions.k8s.io/{name} serverside-applied"
                )),
                "kubectl {}: {out}",
                kubectl.version
            );
        }
        // kubectl sent apply-patch+yaml (JSON inside), which kube-fake read with the real rule.
        let applies = fake
            .requests()
            .into_iter()
            .filter(|r| {
                r.method == "PATCH"
                    && r.path.contains("/customresourcedefinitions/")
                    && r.content_type.as_deref() == Some("application/apply-patch+yaml")
                    && r.query.get("fieldManager").map(String::as_str) == Some("kubectl")
            })
            .count();
        assert_eq!(applies, 3, "kubectl {}", kubectl.version);
        let stderr = session
            .fails(
                &["apply", "--server-side", "-f", bad.to_str().expect("path")],
                None,
            )
            .await;
        assert!(
            stderr.contains(
                "Error from server (BadRequest): error decoding YAML: error converting YAML to JSON: yaml: control characters are not allowed"
            ),
            "kubectl {}: {stderr}",
            kubectl.version
        );
    }
    let _ = std::fs::remove_dir_all(state);
}

#[test]
fn kubectl_names_and_tables_are_read_correctly() {
    assert!(is_kubectl_name("kubectl") && is_kubectl_name("kubectl.1.27"));
    assert!(!is_kubectl_name("kubectl.1.") && !is_kubectl_name("kubectl-convert"));
    let rows = table(
        "NAME    TENANT   CLIENT ID                          READY   AGE\n\
         hello   dev      MQMOwVzJyXpP5I24Petsb5x58FMjz4gc   True    0s\n\
         other   dev                                         False   3m\n",
    );
    assert_eq!(rows[0]["CLIENT ID"], "MQMOwVzJyXpP5I24Petsb5x58FMjz4gc");
    assert_eq!(rows[1]["CLIENT ID"], "");
    assert_eq!(rows[1]["READY"], "False");
    assert_eq!(rows[1]["AGE"], "3m");
}
