//! `plan` and `import` against the Auth0 simulator, on tokio's paused clock: what each plans
//! for created, updated, adopted, refused and unchanged objects; what import writes and
//! refuses; the round trip import -> controller (on kube-fake) -> plan with no change; the
//! list requests a no-change plan of 1,000 clients costs; and no secret in any output.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use auth0_sim::{RateLimit, SimConfig, SimHandle};
use kube::ResourceExt;
use kube_fake::FakeKube;
use nexus_controller::metrics::ControllerMetrics;
use nexus_controller::{Context, ControllerConfig, authclient, authtenant};
use nexus_crd::AuthClient;
use nexus_crd::conditions::{self, READY};
use nexus_plan::cluster::ClusterState;
use nexus_plan::credentials::CredentialSources;
use nexus_plan::import::NamespaceSource;
use nexus_plan::manifests::Manifests;
use nexus_plan::plan::{Action, Change, ObjectPlan, PlanOptions};
use nexus_plan::render::{Format, render};
use nexus_plan::{ImportOptions, Report, TenantPlan};
use nexus_testing::world;
use serde_json::{Value, json};

const TENANT: &str = "acme";
const CLUSTER: &str = "prod-eu";
const API: &str = "https://orders.example.com/api";

async fn sim() -> SimHandle {
    world::start_sim(SimConfig {
        rate_limit: RateLimit {
            burst: 1000,
            per_second: 1000,
        },
        ..SimConfig::default()
    })
    .await
}

/// The AuthTenant: team-a and team-b allowed, only team-a may adopt, team-a may hold the
/// orders API's grants.
fn tenant(sim: &SimHandle) -> Value {
    json!({
        "apiVersion": "auth.nexus.dev/v1alpha1",
        "kind": "AuthTenant",
        "metadata": {"name": TENANT},
        "spec": {
            "domain": sim.domain(),
            "endpoint": sim.base_url(),
            "credentialsSecretRef": {"namespace": "nexus-system", "name": "acme-m2m"},
            "rateLimit": {"requestsPerSecond": 10, "burst": 5},
            "allowedNamespaces": {"names": ["team-a", "team-b"]},
            "adoption": {"allowedNamespaces": {"names": ["team-a"]}},
            "grantableAudiences": [{"audience": API, "namespaces": {"names": ["team-a"]}}],
        }
    })
}

fn client(namespace: &str, name: &str, client: Value) -> Value {
    json!({
        "apiVersion": "auth.nexus.dev/v1alpha1",
        "kind": "AuthClient",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"tenant": TENANT, "client": client},
    })
}

fn with(mut object: Value, key: &str, value: Value) -> Value {
    object["spec"][key] = value;
    object
}

/// The credentials Secret of the simulator's M2M client, in a file, naming the simulator as
/// its Auth0 (`endpoint`).
fn credentials(sim: &SimHandle) -> (CredentialSources, PathBuf) {
    credentials_naming(sim, Some(&sim.base_url()))
}

/// The credentials Secret of the simulator's M2M client, in a file whose `endpoint` key is
/// `endpoint` (none: the credentials name no Auth0).
fn credentials_naming(sim: &SimHandle, endpoint: Option<&str>) -> (CredentialSources, PathBuf) {
    let dir = nexus_testing::scratch_dir("plan-creds");
    let path = dir.join("acme-m2m.yaml");
    let mut secret = world::sim_m2m_secret(sim, "nexus-system", "acme-m2m");
    if let Some(endpoint) = endpoint {
        secret["stringData"] = json!({"endpoint": endpoint});
    }
    std::fs::write(&path, serde_json::to_string(&secret).expect("json")).expect("write");
    let sources =
        CredentialSources::from_flags(&[format!("{TENANT}={}", path.display())]).expect("flag");
    (sources, path)
}

fn manifests(documents: &[Value]) -> Manifests {
    let text: String = documents
        .iter()
        .map(|d| format!("---\n{}\n", serde_json::to_string(d).expect("json")))
        .collect();
    let mut m = Manifests::default();
    m.add_text("test.yaml", &text).expect("manifests");
    m
}

/// Runs `command` (with the credentials of [`credentials`]) and asserts it sent no write to
/// Auth0 (`what`: the command's name).
async fn never_writing<T, F>(
    sim: &SimHandle,
    what: &str,
    command: impl FnOnce(CredentialSources) -> F,
) -> T
where
    F: std::future::Future<Output = T>,
{
    let (creds, _) = credentials(sim);
    let writes = sim.counters().writes();
    let out = command(creds).await;
    assert_eq!(
        sim.counters().writes(),
        writes,
        "{what} never writes to Auth0"
    );
    out
}

/// Plans `files`; every plan of these tests asserts it sent no write to Auth0.
async fn plan_pruning(sim: &SimHandle, files: &Manifests, prune: bool) -> Report {
    never_writing(sim, "plan", |creds| async move {
        nexus_plan::plan(
            files,
            &creds,
            &world::auth0_registry(Duration::from_secs(5)),
            &PlanOptions {
                cluster_id: CLUSTER.into(),
                prune,
            },
        )
        .await
    })
    .await
}

/// Plans `documents` (see [`plan_pruning`]).
async fn plan(sim: &SimHandle, documents: &[Value], prune: bool) -> Report {
    plan_pruning(sim, &manifests(documents), prune).await
}

/// [`nexus_plan::plan`] of `documents` without pruning, with `creds` through `registry`.
async fn plan_through(
    documents: &[Value],
    creds: &CredentialSources,
    registry: &auth0_mgmt::Auth0Registry,
) -> Report {
    let options = PlanOptions {
        cluster_id: CLUSTER.into(),
        prune: false,
    };
    nexus_plan::plan(&manifests(documents), creds, registry, &options).await
}

/// [`nexus_plan::import`] of `documents` for the tenant [`TENANT`] into `namespace`, with
/// `creds` through `registry`.
async fn import_through(
    documents: &[Value],
    creds: &CredentialSources,
    registry: &auth0_mgmt::Auth0Registry,
    namespace: NamespaceSource,
) -> Result<nexus_plan::ImportReport, nexus_plan::import::ImportError> {
    let options = ImportOptions {
        tenant: TENANT.into(),
        namespace,
    };
    nexus_plan::import(&manifests(documents), creds, registry, &options).await
}

/// `error` and its sources, `: `-separated (as the CLI prints it).
fn with_sources(error: &dyn std::error::Error) -> String {
    let mut shown = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        shown.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    shown
}

/// The tenant, its `endpoint` changed (as a pull request could), and the AuthClient `web`.
fn web_at(sim: &SimHandle, endpoint: &str) -> [Value; 2] {
    let mut tenant = tenant(sim);
    tenant["spec"]["endpoint"] = json!(endpoint);
    [tenant, client("team-a", "web", unchanged_spec("Web"))]
}

/// [`plan`] of the tenant and one `object`, without pruning.
async fn plan_one(sim: &SimHandle, object: Value) -> Report {
    plan(sim, &[tenant(sim), object], false).await
}

fn tenant_plan(report: &Report) -> &TenantPlan {
    assert_eq!(report.tenants.len(), 1, "{report:#?}");
    let t = &report.tenants[0];
    assert_eq!(t.error, None, "{t:#?}");
    t
}

fn object<'r>(report: &'r Report, key: &str) -> &'r ObjectPlan {
    tenant_plan(report)
        .objects
        .iter()
        .find(|o| format!("{}/{}", o.namespace, o.name) == key)
        .unwrap_or_else(|| panic!("{key} not planned: {report:#?}"))
}

/// A client the operator of `CLUSTER` manages for `owner` (`namespace/name`).
fn managed(sim: &SimHandle, owner: &str, name: &str, callbacks: &[&str]) -> String {
    sim.insert_client(json!({
        "name": name,
        "app_type": "regular_web",
        "callbacks": callbacks,
        "client_metadata": {"nexus_cluster": CLUSTER, "nexus_owner_uid": format!("uid-{owner}"), "nexus_owner": owner},
    }))
}

fn unchanged_spec(name: &str) -> Value {
    json!({"name": name, "app_type": "regular_web", "callbacks": ["https://a.example.com/cb"]})
}

#[tokio::test(start_paused = true)]
async fn plan_shows_create_update_adopt_refusals_and_no_change() {
    let sim = sim().await;
    managed(&sim, "team-a/same", "Same", &["https://a.example.com/cb"]);
    let changed = managed(
        &sim,
        "team-a/changed",
        "Changed",
        &["https://old.example.com/cb"],
    );
    let grant = sim.insert_client_grant(&changed, API, &["read:orders"]);
    let dashboard = sim.insert_client(json!({"name": "Legacy", "app_type": "spa", "callbacks": ["https://legacy.example.com/cb"]}));
    let other = sim.insert_client(json!({"name": "Other", "app_type": "spa"}));
    let web = sim.insert_connection("corp-db", "auth0");
    let management = sim.m2m().client_id.clone();
    let docs = vec![
        tenant(&sim),
        client("team-a", "same", unchanged_spec("Same")),
        with(
            client(
                "team-a",
                "changed",
                json!({"name": "Changed", "app_type": "regular_web", "callbacks": ["https://new.example.com/cb"]}),
            ),
            "grants",
            json!([{"audience": API, "scopes": ["read:orders", "write:orders"]}]),
        ),
        with(
            client("team-a", "new", unchanged_spec("New")),
            "connections",
            json!(["corp-db"]),
        ),
        client(
            "team-a",
            "legacy",
            json!({"name": "Legacy", "app_type": "spa", "id": dashboard, "callbacks": ["https://legacy.example.com/cb"]}),
        ),
        client(
            "team-b",
            "steal",
            json!({"name": "Other", "app_type": "spa", "id": other}),
        ),
        client(
            "team-a",
            "admin",
            json!({"name": "Admin", "app_type": "non_interactive", "id": management}),
        ),
        client(
            "team-a",
            "bad",
            json!({"name": "Bad", "app_type": "regular_web", "callbacks": ["not a url"]}),
        ),
        with(
            client("team-b", "greedy", unchanged_spec("Greedy")),
            "grants",
            json!([{"audience": API, "scopes": ["read:orders"]}]),
        ),
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "noise"}}),
    ];
    sim.reset_counters();
    let report = plan(&sim, &docs, false).await;
    assert_eq!(sim.counters().writes(), 0, "plan never writes to Auth0");

    assert_eq!(object(&report, "team-a/same").action, Action::NoChange);
    let updated = object(&report, "team-a/changed");
    assert_eq!(updated.action, Action::Update, "{updated:#?}");
    assert_eq!(updated.auth0_id.as_deref(), Some(changed.as_str()));
    assert!(updated.changes.contains(&Change::Field {
        field: "callbacks".into(),
        old: Some(json!(["https://old.example.com/cb"])),
        new: Some(json!(["https://new.example.com/cb"])),
    }));
    assert!(updated.changes.contains(&Change::Grant {
        audience: API.into(),
        old: Some(vec!["read:orders".into()]),
        new: Some(vec!["read:orders".into(), "write:orders".into()]),
    }));
    let created = object(&report, "team-a/new");
    assert_eq!(created.action, Action::Create);
    assert!(created.changes.contains(&Change::Connection {
        name: "corp-db".into(),
        enabled: true
    }));
    let adopted = object(&report, "team-a/legacy");
    assert_eq!(adopted.action, Action::Adopt, "{adopted:#?}");
    assert_eq!(adopted.auth0_id.as_deref(), Some(dashboard.as_str()));
    let refused = |key: &str| {
        let o = object(&report, key);
        assert_eq!(o.action, Action::Refused, "{o:#?}");
        o.refusal.clone().expect("a refusal")
    };
    assert_eq!(refused("team-b/steal").reason, "AdoptionNotAllowed");
    let admin = refused("team-a/admin");
    assert_eq!(admin.reason, "AdoptionNotAllowed");
    assert!(admin.message.contains("Management API client"), "{admin:?}");
    let bad = refused("team-a/bad");
    assert_eq!(bad.reason, "InvalidSpec");
    assert!(bad.message.contains("callbacks"), "{bad:?}");
    assert_eq!(refused("team-b/greedy").reason, "GrantNotAllowed");
    assert_eq!(report.ignored.len(), 1, "{:?}", report.ignored);
    assert_eq!(report.exit_code(), 1, "refusals");

    let text = render(&report, Format::Text);
    assert!(
        text.contains(
            r#"~ callbacks: ["https://old.example.com/cb"] -> ["https://new.example.com/cb"]"#
        ),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "~ grant {API}: [read:orders] -> [read:orders write:orders]"
        )),
        "{text}"
    );
    assert!(text.contains("+ connection corp-db"), "{text}");
    assert!(
        text.contains(
            "Plan: 1 to create, 1 to adopt, 1 to update, 0 to delete, 4 refused, 1 unchanged."
        ),
        "{text}"
    );
    let _ = (grant, web);
}

fn server(namespace: &str, name: &str, identifier: &str, api_name: &str, scopes: &[&str]) -> Value {
    json!({
        "apiVersion": "auth.nexus.dev/v1alpha1",
        "kind": "AuthResourceServer",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "tenant": TENANT,
            "identifier": identifier,
            "name": api_name,
            "scopes": scopes.iter().map(|s| json!({"value": s})).collect::<Vec<_>>(),
            "grants": {"allowedNamespaces": {"names": ["team-b"]}},
        }
    })
}

#[tokio::test(start_paused = true)]
async fn resource_servers_are_planned_and_govern_the_grants_of_the_files() {
    let sim = sim().await;
    let existing = sim.insert_resource_server(json!({"identifier": "https://billing.example.com/", "name": "Billing", "scopes": [{"value": "read:invoices"}]}));
    let docs = [
        tenant(&sim),
        server(
            "team-a",
            "billing",
            "https://billing.example.com/",
            "Billing API",
            &["read:invoices"],
        ),
        server(
            "team-a",
            "stock",
            "https://stock.example.com/",
            "Stock",
            &["read:stock"],
        ),
        server("team-a", "bad", "not-a-uri with spaces", "Bad", &[]),
        // Allowed by the AuthResourceServer `stock` of the files (not yet in Auth0).
        with(
            client("team-b", "picker", unchanged_spec("Picker")),
            "grants",
            json!([{"audience": "https://stock.example.com/", "scopes": ["read:stock"]}]),
        ),
        // A scope `stock` does not declare.
        with(
            client("team-b", "greedy", unchanged_spec("Greedy")),
            "grants",
            json!([{"audience": "https://stock.example.com/", "scopes": ["write:stock"]}]),
        ),
    ];
    let report = plan(&sim, &docs, false).await;
    let billing = object(&report, "team-a/billing");
    assert_eq!(billing.action, Action::Update, "{billing:#?}");
    assert_eq!(billing.auth0_id.as_deref(), Some(existing.as_str()));
    assert!(billing.changes.contains(&Change::Field {
        field: "name".into(),
        old: Some(json!("Billing")),
        new: Some(json!("Billing API")),
    }));
    assert_eq!(object(&report, "team-a/stock").action, Action::Create);
    let bad = object(&report, "team-a/bad");
    assert_eq!(
        bad.refusal.as_ref().map(|r| r.reason.as_str()),
        Some("InvalidSpec")
    );
    let picker = object(&report, "team-b/picker");
    assert_eq!(picker.action, Action::Create, "{picker:#?}");
    assert!(picker.changes.contains(&Change::Grant {
        audience: "https://stock.example.com/".into(),
        old: None,
        new: Some(vec!["read:stock".into()]),
    }));
    let greedy = object(&report, "team-b/greedy");
    assert_eq!(
        greedy.refusal.as_ref().map(|r| r.reason.as_str()),
        Some("GrantNotAllowed")
    );
}

/// Attack: team-a (allowed to adopt) names, with TakeOver, a client this cluster manages for
/// team-b: plan gives the controller's refusal, never an adoption, and reads no secret.
#[tokio::test(start_paused = true)]
async fn a_takeover_across_namespaces_is_planned_as_the_controllers_refusal() {
    let sim = sim().await;
    let victim = managed(
        &sim,
        "team-b/payments",
        "Payments",
        &["https://b.example.com/cb"],
    );
    let thief = with(
        client(
            "team-a",
            "thief",
            json!({"name": "Payments", "app_type": "regular_web", "id": victim}),
        ),
        "adoptionPolicy",
        json!("TakeOver"),
    );
    let report = plan_one(&sim, thief).await;
    let o = object(&report, "team-a/thief");
    assert_eq!(o.action, Action::Refused, "{o:#?}");
    assert_eq!(
        o.refusal.as_ref().map(|r| r.reason.as_str()),
        Some("AdoptionRefused"),
        "{o:#?}"
    );
    assert!(o.changes.is_empty(), "{o:#?}");
    assert_eq!(report.exit_code(), 1);
}

/// Plans already read manifests (a cluster's state completed into them).
async fn plan_files(sim: &SimHandle, files: &Manifests) -> Report {
    plan_pruning(sim, files, false).await
}

/// The controller refuses an AuthResourceServer for an API it did not create
/// (IdentifierInUse); with a cluster, plan tells it from the recorded status and gives the
/// controller's refusal; without one it cannot, and says so.
#[tokio::test(start_paused = true)]
async fn an_api_created_elsewhere_is_refused_identifier_in_use_when_the_cluster_tells() {
    let sim = sim().await;
    let api_id = sim.insert_resource_server(
        json!({"identifier": API, "name": "Orders API", "scopes": [{"value": "read:orders"}]}),
    );
    let docs = [
        tenant(&sim),
        server("team-a", "orders", API, "Orders API", &["read:orders"]),
    ];
    let without = plan(&sim, &docs, false).await;
    let o = object(&without, "team-a/orders");
    assert_ne!(o.action, Action::Refused, "{o:#?}");
    assert!(
        o.notes
            .iter()
            .any(|n| n.contains("--kubeconfig") && n.contains("IdentifierInUse")),
        "the blind spot is said: {o:#?}"
    );

    // A cluster where this AuthResourceServer recorded no API: the controller's probe finds
    // one it did not create.
    let mut files = manifests(&docs);
    ClusterState::default().complete(&mut files);
    let report = plan_files(&sim, &files).await;
    let o = object(&report, "team-a/orders");
    assert_eq!(o.action, Action::Refused, "{o:#?}");
    let refusal = o.refusal.as_ref().expect("refusal");
    assert_eq!(refusal.reason, "IdentifierInUse");
    assert!(refusal.message.contains(API), "{refusal:?}");
    assert_eq!(report.exit_code(), 1);

    // A cluster where it recorded that API: its own, planned as such.
    let mut files = manifests(&docs);
    ClusterState {
        server_status: std::collections::BTreeMap::from([(
            "team-a/orders".to_owned(),
            nexus_crd::AuthResourceServerStatus {
                resource_server_id: Some(api_id.clone()),
                ..Default::default()
            },
        )]),
        ..ClusterState::default()
    }
    .complete(&mut files);
    let report = plan_files(&sim, &files).await;
    let o = object(&report, "team-a/orders");
    assert_eq!(o.action, Action::NoChange, "{o:#?}");
    assert_eq!(o.auth0_id.as_deref(), Some(api_id.as_str()));
    assert_eq!(report.exit_code(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_repository_in_sync_plans_no_change_and_exit_0() {
    let sim = sim().await;
    managed(&sim, "team-a/same", "Same", &["https://a.example.com/cb"]);
    let report = plan_one(&sim, client("team-a", "same", unchanged_spec("Same"))).await;
    assert_eq!(report.exit_code(), 0, "{report:#?}");
    assert_eq!(tenant_plan(&report).sync_calls, 0);
    // Changing the spec makes it a change (exit 2).
    let report = plan_one(&sim, client("team-a", "same", unchanged_spec("Renamed"))).await;
    assert_eq!(report.exit_code(), 2, "{report:#?}");
    let o = object(&report, "team-a/same");
    assert_eq!(
        o.changes,
        [Change::Field {
            field: "name".into(),
            old: Some(json!("Same")),
            new: Some(json!("Renamed"))
        }]
    );
    assert_eq!(o.auth0_calls, 2, "the GET of the pass and the PATCH");
}

#[tokio::test(start_paused = true)]
async fn prune_plans_the_deletion_of_owned_clients_gone_from_the_files() {
    let sim = sim().await;
    managed(&sim, "team-a/same", "Same", &["https://a.example.com/cb"]);
    let gone = managed(&sim, "team-a/gone", "Gone", &["https://a.example.com/cb"]);
    // Owned by another cluster: never pruned.
    sim.insert_client(json!({"name": "Theirs", "app_type": "spa", "client_metadata": {"nexus_cluster": "elsewhere", "nexus_owner_uid": "u", "nexus_owner": "team-a/theirs"}}));
    let docs = [
        tenant(&sim),
        client("team-a", "same", unchanged_spec("Same")),
    ];
    let report = plan(&sim, &docs, false).await;
    assert_eq!(report.exit_code(), 0, "without --prune nothing is deleted");
    assert_eq!(tenant_plan(&report).undeclared_owned, Some(1));
    let report = plan(&sim, &docs, true).await;
    let deleted = object(&report, "team-a/gone");
    assert_eq!(deleted.action, Action::Delete);
    assert_eq!(deleted.auth0_id.as_deref(), Some(gone.as_str()));
    assert_eq!(tenant_plan(&report).objects.len(), 2, "{report:#?}");
    assert_eq!(report.exit_code(), 2);
}

#[tokio::test(start_paused = true)]
async fn text_output_is_stable_and_never_holds_a_secret() {
    let sim = sim().await;
    let legacy = sim.insert_client(json!({"name": "Legacy", "app_type": "spa"}));
    let legacy_secret = sim.client(&legacy).expect("client")["client_secret"]
        .as_str()
        .expect("secret")
        .to_owned();
    for i in 0..30 {
        managed(
            &sim,
            &format!("team-a/c{i:02}"),
            &format!("C{i}"),
            &["https://x.example.com/cb"],
        );
    }
    let mut docs = vec![tenant(&sim)];
    docs.extend((0..30).rev().map(|i| {
        client(
            "team-a",
            &format!("c{i:02}"),
            unchanged_spec(&format!("Renamed {i}")),
        )
    }));
    docs.push(client(
        "team-a",
        "legacy",
        json!({"name": "Legacy", "app_type": "spa", "id": legacy}),
    ));
    let first = plan(&sim, &docs, true).await;
    let second = plan(&sim, &docs, true).await;
    let text = render(&first, Format::Text);
    assert_eq!(text, render(&second, Format::Text), "same input, same text");
    let keys: Vec<String> = tenant_plan(&first)
        .objects
        .iter()
        .map(|o| o.name.clone())
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted, "sorted by name");
    let json = render(&first, Format::Json);
    for secret in [sim.m2m().client_secret.as_str(), legacy_secret.as_str()] {
        assert!(
            !text.contains(secret) && !json.contains(secret),
            "a secret is printed"
        );
    }
}

/// An "Auth0" (a proxy in front of it, a misbehaving tenant) that issues a token, then
/// answers every Management API request 400 with a message quoting the client secret.
/// The guard is auth0-mgmt's (`token::scrub`, applied to every error body); this holds it
/// for what plan and import print.
async fn echoing_auth0(secret: String) -> (String, Arc<AtomicUsize>) {
    fake_auth0(move |line| {
        (
            "400 Bad Request",
            json!({"statusCode": 400, "error": "Bad Request", "errorCode": "invalid_query_string",
                   "message": format!("refused: {line} (client_secret {secret})")}),
        )
    })
    .await
}

/// An "Auth0" that issues a token, then answers every Management API request with what
/// `answer` gives for its request line (status line, JSON body); its base URL and the count
/// of connections it accepted.
async fn fake_auth0(
    answer: impl Fn(&str) -> (&'static str, Value) + Clone + Send + Sync + 'static,
) -> (String, Arc<AtomicUsize>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // In this runtime, so the paused clock sees its work (a thread would let timeouts fire).
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    let connections = Arc::new(AtomicUsize::new(0));
    let counted = connections.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            counted.fetch_add(1, Ordering::SeqCst);
            let answer = answer.clone();
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buffer = [0u8; 4096];
                // Headers, then the body up to Content-Length.
                while let Ok(n) = stream.read(&mut buffer).await {
                    if n == 0 {
                        break;
                    }
                    request.extend_from_slice(&buffer[..n]);
                    let text = String::from_utf8_lossy(&request).to_string();
                    if let Some((head, body)) = text.split_once("\r\n\r\n") {
                        let length = head
                            .lines()
                            .find_map(|l| {
                                let (k, v) = l.split_once(':')?;
                                k.eq_ignore_ascii_case("content-length")
                                    .then(|| v.trim().parse::<usize>().ok())?
                            })
                            .unwrap_or(0);
                        if body.len() >= length {
                            break;
                        }
                    }
                }
                let echoed = String::from_utf8_lossy(&request).to_string();
                let line = echoed.lines().next().unwrap_or_default().to_owned();
                let (status, body) = if line.starts_with("POST /oauth/token") {
                    (
                        "200 OK",
                        json!({"access_token": "token", "token_type": "Bearer", "expires_in": 86400}),
                    )
                } else {
                    answer(&line)
                };
                let body = body.to_string();
                let answer = format!(
                    "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(answer.as_bytes()).await;
            });
        }
    });
    (format!("http://{address}"), connections)
}

/// Attack: an Auth0 answer echoing the client secret of the tenant's credentials never
/// reaches the output of `plan` (text, JSON) or the error of `import`.
#[tokio::test(start_paused = true)]
async fn an_auth0_answer_echoing_the_credentials_secret_is_redacted() {
    let sim = sim().await;
    let secret = sim.m2m().client_secret.clone();
    let echo = echoing_auth0(secret.clone()).await.0;
    let docs = web_at(&sim, &echo);
    // The credentials' owner names that Auth0: the secret goes there.
    let (creds, _) = credentials_naming(&sim, Some(&echo));
    let registry = world::auth0_registry(Duration::from_secs(5));
    let report = plan_through(&docs, &creds, &registry).await;
    let error = report.tenants[0]
        .error
        .clone()
        .expect("the tenant cannot be read");
    assert!(
        error.contains("refused: GET /api/v2/clients"),
        "the echo is shown: {error}"
    );
    assert!(error.contains("[redacted]"), "{error}");
    assert_eq!(report.exit_code(), 1);
    for output in [render(&report, Format::Text), render(&report, Format::Json)] {
        assert!(
            !output.contains(secret.as_str()),
            "the secret is printed: {output}"
        );
    }
    let error = import_through(
        &docs,
        &creds,
        &world::auth0_registry(Duration::from_secs(5)),
        NamespaceSource::Fixed("team-a".into()),
    )
    .await
    .expect_err("the tenant cannot be read");
    let shown = with_sources(&error);
    assert!(shown.contains("[redacted]"), "{shown}");
    assert!(
        !shown.contains(secret.as_str()),
        "the secret is printed: {shown}"
    );
}

/// Attack: a successful answer that does not decode (a proxy, a changed API) with a secret in
/// the value the decoder refuses: plan and import say what did not decode and where, never the
/// value (the decoder's own message quotes it).
#[tokio::test(start_paused = true)]
async fn an_undecodable_auth0_answer_is_never_echoed() {
    let sim = sim().await;
    let leaked = "leaked-client-secret-0123456789abcdefghij";
    let odd = fake_auth0(move |_| ("200 OK", json!(leaked))).await.0;
    let docs = web_at(&sim, &odd);
    let (creds, _) = credentials_naming(&sim, Some(&odd));
    let registry = world::auth0_registry(Duration::from_secs(5));
    let report = plan_through(&docs, &creds, &registry).await;
    let error = report.tenants[0].error.clone().expect("undecodable");
    assert!(error.contains("could not decode Auth0"), "{error}");
    for output in [render(&report, Format::Text), render(&report, Format::Json)] {
        assert!(!output.contains(leaked), "the answer is printed: {output}");
    }
    let team_a = NamespaceSource::Fixed("team-a".into());
    let error = import_through(&docs, &creds, &registry, team_a)
        .await
        .expect_err("undecodable");
    let shown = with_sources(&error);
    assert!(shown.contains("could not decode Auth0"), "{shown}");
    assert!(!shown.contains(leaked), "the answer is printed: {shown}");
}

/// Attack: a pull request edits the AuthTenant in the files to point at its own server. The
/// credentials file names the tenant's Auth0 (as every credentials file must; no opt-in), so
/// the CI job's plan refuses and sends nothing there (not even the token request carrying the
/// secret).
#[tokio::test(start_paused = true)]
async fn pinned_credentials_are_never_sent_to_an_endpoint_the_files_change() {
    let sim = sim().await;
    let (evil, connections) = echoing_auth0("unused".into()).await;
    let docs = web_at(&sim, &evil);
    let (creds, _) = credentials(&sim);
    let registry = world::auth0_registry(Duration::from_secs(5));
    let report = plan_through(&docs, &creds, &registry).await;
    let error = report.tenants[0].error.clone().expect("refused");
    assert!(
        error.contains(&format!("points at {evil}")) && error.contains("belong to"),
        "{error}"
    );
    assert!(error.contains(&format!("AuthTenant '{TENANT}'")), "{error}");
    assert_eq!(report.exit_code(), 1);
    assert_eq!(
        connections.load(Ordering::SeqCst),
        0,
        "nothing reached the PR's server"
    );
    // Importing from the PR's files is refused the same way.
    let import = import_through(
        &docs[..1],
        &creds,
        &registry,
        NamespaceSource::Fixed("team-a".into()),
    )
    .await;
    let error = import.expect_err("import refused").to_string();
    assert!(error.contains("belong to"), "{error}");
    assert_eq!(connections.load(Ordering::SeqCst), 0, "nor did import");
    // The tenant as its credentials name it plans as usual.
    let report = plan_through(&[self::tenant(&sim)], &creds, &registry).await;
    assert_eq!(report.tenants[0].error, None, "{report:#?}");
}

/// Credentials that name no Auth0 are sent nowhere: the files alone never decide where the
/// secret goes, even when they point at the real tenant. The cluster's AuthTenant (a
/// `--kubeconfig` run) may name it, and then a PR's changed endpoint is refused.
#[tokio::test(start_paused = true)]
async fn credentials_naming_no_endpoint_are_sent_nowhere_unless_the_cluster_names_it() {
    let sim = sim().await;
    let (evil, connections) = echoing_auth0("unused".into()).await;
    let (creds, _) = credentials_naming(&sim, None);
    let registry = world::auth0_registry(Duration::from_secs(5));
    let mut hostile = tenant(&sim);
    hostile["spec"]["endpoint"] = json!(evil);
    let reads = sim.counters().total();
    for docs in [[tenant(&sim)], [hostile.clone()]] {
        let report = plan_through(&docs, &creds, &registry).await;
        let error = report.tenants[0].error.clone().expect("refused");
        assert!(error.contains("do not name their Auth0"), "{error}");
        assert!(error.contains(&format!("tenant '{TENANT}'")), "{error}");
        assert_eq!(report.exit_code(), 1);
    }
    assert_eq!(sim.counters().total(), reads, "no request reached Auth0");
    assert_eq!(connections.load(Ordering::SeqCst), 0);

    let trusted = creds.trust_cluster(&[serde_json::from_value(tenant(&sim)).expect("tenant")]);
    let report = plan_through(&[hostile], &trusted, &registry).await;
    let error = report.tenants[0].error.clone().expect("refused");
    assert!(error.contains("the AuthTenant in the cluster"), "{error}");
    assert_eq!(connections.load(Ordering::SeqCst), 0);
    let report = plan_through(&[tenant(&sim)], &trusted, &registry).await;
    assert_eq!(report.tenants[0].error, None, "{report:#?}");
}

/// A tenant as teams left it before the operator: dashboard clients with grants and
/// connections, in team-a (may adopt) and team-b (may not).
fn dashboard_tenant(sim: &SimHandle) -> (String, String) {
    let orders = sim.insert_client(json!({
        "name": "Orders Web",
        "app_type": "regular_web",
        "description": "made in the dashboard",
        "callbacks": ["https://orders.example.com/cb"],
        "allowed_logout_urls": ["https://orders.example.com/"],
        "client_metadata": {"team": "team-a", "owners": "alice", "manuallyCreated": "true"},
    }));
    sim.insert_client_grant(&orders, API, &["read:orders"]);
    let connection = sim.insert_connection("corp-db", "auth0");
    sim.set_connection_client(&connection, &orders, true);
    let billing = sim.insert_client(json!({
        "name": "Billing", "app_type": "spa",
        "client_metadata": {"team": "team-b"},
    }));
    sim.insert_resource_server(
        json!({"identifier": API, "name": "Orders API", "scopes": [{"value": "read:orders"}]}),
    );
    // The tenant's Management API client, as the dashboard lists it, in an adopting namespace.
    sim.insert_client(json!({
        "client_id": sim.m2m().client_id, "name": "Operator M2M", "app_type": "non_interactive",
        "client_metadata": {"team": "team-a"},
    }));
    (orders, billing)
}

async fn import(sim: &SimHandle, docs: &[Value]) -> nexus_plan::ImportReport {
    never_writing(sim, "import", |creds| async move {
        import_through(
            docs,
            &creds,
            &world::auth0_registry(Duration::from_secs(5)),
            NamespaceSource::Metadata("team".into()),
        )
        .await
        .expect("import")
    })
    .await
}

#[tokio::test(start_paused = true)]
async fn import_writes_adoptions_within_the_tenants_rules_and_no_secret() {
    let sim = sim().await;
    let (orders, billing) = dashboard_tenant(&sim);
    sim.reset_counters();
    let report = import(&sim, &[tenant(&sim)]).await;
    assert_eq!(sim.counters().writes(), 0, "import never writes to Auth0");
    assert_eq!(report.written.len(), 1, "{report:#?}");
    let written = &report.written[0];
    assert_eq!(
        (written.namespace.as_str(), written.name.as_str()),
        ("team-a", "orders-web")
    );
    assert_eq!(written.warning, None);
    let object: AuthClient = serde_saphyr::from_str(&written.text).expect("YAML");
    assert_eq!(object.spec.client.id.as_deref(), Some(orders.as_str()));
    assert_eq!(object.spec.grants.len(), 1);
    assert_eq!(object.spec.grants[0].scopes, ["read:orders"]);
    assert_eq!(object.spec.connections, ["corp-db"]);
    assert_eq!(object.spec.drift_policy, nexus_crd::DriftPolicy::Report);
    assert_eq!(
        object.spec.deletion_policy,
        nexus_crd::DeletionPolicy::Orphan
    );
    assert!(
        written
            .text
            .starts_with("# Imported by `nexus-operator import`")
    );
    assert!(written.text.contains("ADOPTS"));
    let skipped = report.skipped.join("\n");
    assert!(
        skipped.contains(&billing) && skipped.contains("does not let namespace 'team-b' adopt"),
        "{skipped}"
    );
    assert!(
        skipped.contains(&sim.m2m().client_id) && skipped.contains("never imported"),
        "{skipped}"
    );
    assert!(skipped.contains(&format!("API {API}")), "{skipped}");
    let all = format!("{}{skipped}", report.stream());
    for client in sim.clients() {
        let secret = client["client_secret"].as_str().unwrap_or_default();
        assert!(
            secret.is_empty() || !all.contains(secret),
            "a client secret is printed"
        );
    }
}

/// Attack: text from Auth0 cannot add a document to an imported file, nor end its header
/// comment; a client granted on the Management API is never imported; `--namespace` cannot
/// leave the output folder.
#[tokio::test(start_paused = true)]
async fn import_attacks_crafted_names_management_grants_and_path_traversal() {
    let sim = sim().await;
    // A dashboard client whose name ends the header's comment line and starts a new document
    // giving team-b (which may not adopt) the Management API client.
    let evil_name = format!(
        "Evil\n---\napiVersion: auth.nexus.dev/v1alpha1\nkind: AuthClient\nmetadata: {{name: stolen, namespace: team-b}}\nspec: {{tenant: acme, client: {{name: m2m, app_type: non_interactive, id: {}}}}}\n#{}{}[2J",
        sim.m2m().client_id,
        '\u{2028}',
        '\u{1b}'
    );
    let evil = sim.insert_client(json!({
        "name": evil_name, "app_type": "spa", "client_metadata": {"team": "team-a"},
    }));
    // A deploy tool's client, granted on the Management API, in an adopting namespace.
    let deploy = sim.insert_client(json!({
        "name": "Deploy CLI", "app_type": "non_interactive", "client_metadata": {"team": "team-a"},
    }));
    let management = format!("https://{}/api/v2/", sim.domain());
    sim.insert_client_grant(
        &deploy,
        &management,
        &["create:clients", "read:client_keys"],
    );

    let report = import(&sim, &[tenant(&sim)]).await;
    let ids: Vec<&str> = report
        .written
        .iter()
        .map(|m| m.client_id.as_str())
        .collect();
    assert_eq!(ids, [evil.as_str()], "{report:#?}");
    let skipped = report.skipped.join("\n");
    assert!(
        skipped.contains(&deploy) && skipped.contains("Management API"),
        "{skipped}"
    );
    let text = &report.written[0].text;
    let header: Vec<&str> = text
        .lines()
        .take_while(|l| !l.starts_with("apiVersion"))
        .collect();
    assert!(
        header.iter().all(|l| l.starts_with('#')),
        "the header's comment was broken: {header:#?}"
    );
    for output in [text.clone(), report.stream(), skipped] {
        assert!(
            !output.contains('\u{1b}') && !output.contains('\u{2028}'),
            "a control character from Auth0 reached the output"
        );
    }
    // The stream, read back as plan reads it: one AuthClient, the crafted name intact in it.
    let documents: Vec<Option<Value>> =
        serde_saphyr::from_multiple(&report.stream()).expect("YAML");
    assert_eq!(documents.iter().flatten().count(), 1, "{}", report.stream());
    let mut read = nexus_plan::manifests::Manifests::default();
    read.add_text("import.yaml", &report.stream())
        .expect("manifests");
    assert_eq!(read.clients.len(), 1, "{:?}", read.clients.keys());
    let object = read.clients.values().next().expect("client");
    assert_eq!(object.spec.client.id.as_deref(), Some(evil.as_str()));
    assert_eq!(object.spec.client.name, evil_name);
    assert_eq!(object.namespace().as_deref(), Some("team-a"));

    // `--namespace ../../x` would write outside the output folder.
    let (creds, _) = credentials(&sim);
    let error = import_through(
        &[tenant(&sim)],
        &creds,
        &world::auth0_registry(Duration::from_secs(5)),
        NamespaceSource::Fixed("../../etc".into()),
    )
    .await
    .expect_err("a path as namespace");
    assert!(
        error
            .to_string()
            .contains("not a Kubernetes namespace name"),
        "{error}"
    );
}

/// The controller on kube-fake with `objects` applied: every AuthClient reconciled until
/// Ready (at most 4 passes each).
async fn apply_with_controller(sim: &SimHandle, objects: &[Value]) -> FakeKube {
    let kube = FakeKube::new();
    for ns in ["team-a", "team-b", "nexus-system"] {
        kube.insert(world::namespace(ns));
    }
    kube.insert(world::sim_m2m_secret(sim, "nexus-system", "acme-m2m"));
    for object in objects {
        kube.insert(object.clone());
    }
    let ctx = Arc::new(Context::new(
        kube.client(),
        world::auth0_registry(Duration::from_secs(5)),
        ControllerConfig {
            cluster_id: CLUSTER.into(),
            ..ControllerConfig::default()
        },
        ControllerMetrics::default(),
    ));
    let client = kube.client();
    ctx.caches.prime(&client, None).await.expect("caches");
    for tenant in ctx.caches.tenants.reader().state() {
        authtenant::reconcile(tenant, ctx.clone())
            .await
            .expect("tenant");
    }
    ctx.caches.prime(&client, None).await.expect("caches");
    for path in ["team-a", "team-b"]
        .map(|ns| format!("/apis/auth.nexus.dev/v1alpha1/namespaces/{ns}/authclients"))
    {
        for listed in kube.list(&path) {
            let name = listed["metadata"]["name"]
                .as_str()
                .expect("name")
                .to_owned();
            let item_path = format!("{path}/{name}");
            let mut ready = false;
            for _ in 0..4 {
                ctx.caches.prime(&client, None).await.expect("caches");
                let current: AuthClient =
                    serde_json::from_value(kube.get(&item_path).expect("exists"))
                        .expect("AuthClient");
                if current
                    .status
                    .as_ref()
                    .is_some_and(|s| conditions::is_true(&s.conditions, READY))
                {
                    ready = true;
                    break;
                }
                authclient::reconcile(Arc::new(current), ctx.clone())
                    .await
                    .expect("reconcile");
            }
            let current = kube.get(&item_path).expect("exists");
            assert!(ready, "{name} not Ready: {:#}", current["status"]);
        }
    }
    kube
}

#[tokio::test(start_paused = true)]
async fn import_then_apply_then_plan_shows_no_change() {
    let sim = sim().await;
    let (orders, _) = dashboard_tenant(&sim);
    let docs = vec![tenant(&sim)];
    let report = import(&sim, &docs).await;
    let imported: Vec<Value> = report
        .written
        .iter()
        .map(|m| serde_saphyr::from_str(&m.text).expect("YAML"))
        .collect();
    let mut all = docs.clone();
    all.extend(imported.iter().cloned());
    // Before the apply: the plan adopts, and changes nothing else.
    let before = plan(&sim, &all, false).await;
    let adopted = object(&before, "team-a/orders-web");
    assert_eq!(adopted.action, Action::Adopt, "{adopted:#?}");
    assert_eq!(before.exit_code(), 2);

    let kube = apply_with_controller(&sim, &all).await;
    let tagged = sim.client(&orders).expect("client");
    assert_eq!(
        tagged["client_metadata"]["nexus_owner"],
        "team-a/orders-web"
    );

    let after = plan(&sim, &all, true).await;
    assert_eq!(after.exit_code(), 0, "{}", render(&after, Format::Text));
    assert_eq!(tenant_plan(&after).sync_calls, 0);
    // And a second import finds nothing left to import.
    assert!(import(&sim, &docs).await.written.is_empty());

    // A pull request drops the connection. Without the cluster the plan cannot know the
    // controller recorded it; with the cluster (tenant and statuses read from it, the files
    // holding only the AuthClient) it plans the disable, as the controller does.
    let mut dropped = imported[0].clone();
    dropped["spec"]
        .as_object_mut()
        .expect("spec")
        .remove("connections");
    let without = plan_one(&sim, dropped.clone()).await;
    assert_eq!(without.exit_code(), 0, "the documented blind spot");
    let mut files = manifests(&[dropped]);
    nexus_plan::cluster::ClusterState::read(&kube.client())
        .await
        .expect("cluster")
        .complete(&mut files);
    assert!(
        files.tenants.contains_key(TENANT),
        "the tenant comes from the cluster"
    );
    let with_cluster = plan_files(&sim, &files).await;
    let o = object(&with_cluster, "team-a/orders-web");
    assert_eq!(
        o.changes,
        [Change::Connection {
            name: "corp-db".into(),
            enabled: false
        }],
        "{o:#?}"
    );
    assert_eq!(with_cluster.exit_code(), 2);
}

/// Benchmark-style count (deterministic, not timed): a no-change plan of 1,000 clients.
#[tokio::test(start_paused = true)]
async fn a_no_change_plan_of_1000_clients_costs_a_fixed_number_of_list_requests() {
    let sim = sim().await;
    let mut docs = vec![tenant(&sim)];
    for i in 0..1000 {
        let key = format!("team-a/c{i:04}");
        managed(&sim, &key, &format!("C{i}"), &["https://a.example.com/cb"]);
        docs.push(client(
            "team-a",
            &format!("c{i:04}"),
            unchanged_spec(&format!("C{i}")),
        ));
    }
    sim.reset_counters();
    let report = plan(&sim, &docs, false).await;
    assert_eq!(report.exit_code(), 0);
    let counts = sim.counters();
    let lists: u64 = counts
        .iter()
        .filter(|(key, _)| key.starts_with("GET ") && !key.contains("/{id}"))
        .map(|(_, n)| n)
        .sum();
    let per_connection = counts.get("GET /api/v2/connections/{id}/clients");
    eprintln!("list requests: {lists} ({counts:?})");
    assert_eq!(
        u64::from(tenant_plan(&report).list_calls),
        lists + per_connection
    );
    // 10 checkpoint pages of 100 clients, nothing else: no spec declares grants, connections
    // or APIs, so none of them is read.
    assert_eq!(lists + per_connection, 10, "{counts:?}");
    assert_eq!(counts.get("GET /api/v2/clients"), 10);
    assert_eq!(counts.writes(), 0);
}
