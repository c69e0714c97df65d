//! Issue 17: what a team inside a tenant could try against another team, one test per attack.
//! Each plays the attacker against the simulator and the fake API server and checks that
//! nothing reached the attacker (no Secret in its namespace), nothing was written in Auth0
//! (the simulator's request counters) and the victim's client or API is unchanged. Each
//! fails with its guard disabled (docs/security.md lists the guard of each).

use auth0_sim::FailAction;
use serde_json::{Value, json};

use crate::harness::*;

const TEAM_B: &str = "team-b";
const API: &str = "https://orders.example.com/api";

/// A harness whose tenant also allows team-b (the attacker's namespace).
async fn two_teams() -> Harness {
    let h = Harness::new().await;
    h.allow_namespace(TEAM_B, "b");
    h.sync().await;
    h
}

/// Reconciles an AuthClient of `namespace` `passes` times,
/// ignoring errors (the attack may make a pass fail).
async fn passes_in(h: &Harness, namespace: &str, name: &str, passes: usize) {
    for _ in 0..passes {
        let _ = h.reconcile_in(namespace, name).await;
    }
}

/// The client as Auth0 has it, minus what the simulator changes on its own.
/// Applies `spec` as `name` in team-b, runs 3 passes, and checks it ends `Ready=False` with
/// `reason`, a message naming `needle`, and no Secret.
async fn refused_in_team_b(h: &Harness, name: &str, spec: Value, reason: &str, needle: &str) {
    h.apply_in(TEAM_B, name, spec, json!({}));
    passes_in(h, TEAM_B, name, 3).await;
    let (status, got, message) = h.ready_in(TEAM_B, name).await;
    assert_eq!(
        (status.as_str(), got.as_str()),
        ("False", reason),
        "{message}"
    );
    assert!(message.contains(needle), "{message}");
    assert!(
        h.secret_in(TEAM_B, &format!("{name}-auth0")).is_none(),
        "no Secret for a refused AuthClient"
    );
}

fn victim_state(h: &Harness, id: &str) -> Value {
    h.sim.client(id).expect("the victim's client exists")
}

/// The counters show no Management API write and no read of `id` with its secret.
fn assert_nothing_written(h: &Harness, what: &str) {
    let counters = h.sim.counters();
    assert_eq!(counters.writes(), 0, "{what}: no Auth0 write: {counters:?}");
}

fn attacker_spec(victim_id: &str, take_over: bool) -> Value {
    let mut s = json!({
        "tenant": TENANT,
        "client": {
            "id": victim_id,
            "name": "Stolen",
            "app_type": "regular_web",
            "callbacks": ["https://attacker.example/cb"],
        },
        "deletionPolicy": "Delete",
    });
    if take_over {
        s["adoptionPolicy"] = json!("TakeOver");
    }
    s
}

/// Issue 17, seen 1: team-b names team-a's client id with `TakeOver`.
#[tokio::test(start_paused = true)]
async fn cross_namespace_take_over_is_refused() {
    let h = two_teams().await;
    // Even a namespace the tenant lets adopt cannot take a client of another namespace.
    h.allow_adoption(&[TEAM_B]);
    h.apply("orders", spec("Orders"));
    h.converge("orders").await;
    assert_eq!(h.ready("orders").await.1, "Synced");
    let victim = h.client_id("orders").await;
    let before = victim_state(&h, &victim);
    h.sync().await;
    h.sim.reset_counters();

    refused_in_team_b(
        &h,
        "stolen",
        attacker_spec(&victim, true),
        "AdoptionRefused",
        "team-a/orders",
    )
    .await;
    assert_nothing_written(&h, "cross-namespace TakeOver");
    assert_eq!(
        h.sim.counters().get("GET /api/v2/clients/{id}"),
        1,
        "one read, without the secret (fields=client_secret&include_fields=false)"
    );
    assert_eq!(
        victim_state(&h, &victim),
        before,
        "the victim's client is unchanged"
    );
}

/// Issue 17, seen 2: a client created in the dashboard (no tag) is adopted by any namespace.
#[tokio::test(start_paused = true)]
async fn a_dashboard_client_is_not_adopted_without_the_tenants_opt_in() {
    let h = two_teams().await;
    let legacy = h.sim.insert_client(json!({
        "name": "Legacy", "app_type": "regular_web",
        "callbacks": ["https://legacy.example/cb"]
    }));
    let before = victim_state(&h, &legacy);
    h.sim.reset_counters();

    refused_in_team_b(
        &h,
        "legacy",
        attacker_spec(&legacy, false),
        "AdoptionNotAllowed",
        "spec.adoption.allowedNamespaces",
    )
    .await;
    assert_eq!(
        h.sim.counters().total(),
        0,
        "decided before any Auth0 call: {:?}",
        h.sim.counters()
    );
    assert_eq!(victim_state(&h, &legacy), before);

    // The tenant's opt-in makes the same object adopt it (the legitimate path).
    h.allow_adoption(&[TEAM_B]);
    passes_in(&h, TEAM_B, "legacy", 1).await;
    assert_eq!(h.ready_in(TEAM_B, "legacy").await.1, "Synced");
    assert!(h.secret_in(TEAM_B, "legacy-auth0").is_some());
}

/// Issue 17, seen 2: the tenant's own Management API client.
#[tokio::test(start_paused = true)]
async fn the_management_api_client_is_never_adopted() {
    let h = two_teams().await;
    h.allow_adoption(&["*"]);
    // In a real tenant the operator's M2M application is a client like any other.
    let m2m = h.sim.m2m().client_id.clone();
    h.sim.insert_client(json!({
        "client_id": m2m,
        "client_secret": h.sim.m2m().client_secret,
        "name": "nexus-operator", "app_type": "non_interactive",
    }));
    let before = victim_state(&h, &m2m);
    h.sync().await;
    h.sim.reset_counters();

    refused_in_team_b(
        &h,
        "admin",
        attacker_spec(&m2m, true),
        "AdoptionNotAllowed",
        "Management API client",
    )
    .await;
    assert_eq!(h.sim.counters().total(), 0, "{:?}", h.sim.counters());
    assert_eq!(victim_state(&h, &m2m), before);
}

/// Issue 17, item 3: the Management API itself (the system resource server), even after an
/// uncertain create that would send the pass down the recovery path.
#[tokio::test(start_paused = true)]
async fn the_management_api_is_never_captured_by_a_resource_server() {
    let h = two_teams().await;
    let audience = h.sim.audience();
    let before = h.sim.resource_server(&audience).expect("the system API");
    h.sim.reset_counters();
    h.fail_auth0_once("POST", "/api/v2/resource-servers", FailAction::Status(503));
    h.apply_server(
        TEAM_B,
        "mgmt",
        json!({"tenant": TENANT, "identifier": audience, "name": "Auth0 Management API"}),
    );
    for _ in 0..4 {
        let _ = h.reconcile_server(TEAM_B, "mgmt").await;
    }
    let (status, reason, message) = h.server_ready(TEAM_B, "mgmt");
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("False", "InvalidSpec"),
        "{message}"
    );
    let recorded = h.get_server(TEAM_B, "mgmt").status.unwrap_or_default();
    assert_eq!(recorded.resource_server_id, None, "not captured");
    assert_nothing_written(&h, "the Management API");
    assert_eq!(h.sim.resource_server(&audience), Some(before));
}

/// Issue 17, seen 7: after an uncertain create, an AuthResourceServer took any API whose name
/// equalled its `spec.name`.
#[tokio::test(start_paused = true)]
async fn a_resource_server_cannot_capture_an_api_by_name() {
    let h = two_teams().await;
    // The victim's API, managed elsewhere (the dashboard, another cluster).
    h.sim.insert_resource_server(json!({
        "identifier": API, "name": "Orders API",
        "scopes": [{"value": "read:orders"}]
    }));
    let before = h.sim.resource_server(API).expect("victim API");
    h.sim.reset_counters();
    // Whatever the first create does, it does not answer (the recovery path would follow).
    h.fail_auth0_once("POST", "/api/v2/resource-servers", FailAction::Status(503));
    h.apply_server(
        TEAM_B,
        "orders-api",
        json!({
            "tenant": TENANT, "identifier": API, "name": "Orders API",
            "scopes": [{"value": "read:orders"}, {"value": "admin:orders"}],
            "grants": {"allowedNamespaces": {"names": [TEAM_B]}},
        }),
    );
    for _ in 0..4 {
        let _ = h.reconcile_server(TEAM_B, "orders-api").await;
    }
    let (status, reason, message) = h.server_ready(TEAM_B, "orders-api");
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("False", "IdentifierInUse"),
        "{message}"
    );
    let recorded = h
        .get_server(TEAM_B, "orders-api")
        .status
        .unwrap_or_default();
    assert_eq!(recorded.resource_server_id, None, "not captured");
    assert_nothing_written(&h, "capture by name");
    assert_eq!(
        h.sim.resource_server(API),
        Some(before),
        "the victim's API is unchanged"
    );
}

/// Sets up team-a's worker holding a grant to team-b's API and a connection; returns the
/// worker's client id and the connection id.
async fn worker_with_access(h: &Harness) -> (String, String) {
    let corp = h.sim.insert_connection("corp-saml", "samlp");
    h.apply_server(
        TEAM_B,
        "orders-api",
        json!({
            "tenant": TENANT, "identifier": API, "name": "Orders API",
            "scopes": [{"value": "read:orders"}],
            "grants": {"allowedNamespaces": {"names": [NS]}},
        }),
    );
    h.converge_server(TEAM_B, "orders-api").await;
    assert_eq!(h.server_ready(TEAM_B, "orders-api").1, "Synced");
    h.apply(
        "worker",
        json!({
            "tenant": TENANT,
            "client": {"name": "Orders worker", "app_type": "non_interactive"},
            "grants": [{"audience": API, "scopes": ["read:orders"]}],
            "connections": ["corp-saml"],
        }),
    );
    h.converge("worker").await;
    assert_eq!(
        h.ready("worker").await.1,
        "Synced",
        "{:?}",
        h.ready("worker").await
    );
    let id = h.client_id("worker").await;
    assert!(h.sim.client_grant(&id, API).is_some());
    assert!(
        h.sim
            .connection_clients(&corp)
            .unwrap_or_default()
            .contains(&id)
    );
    (id, corp)
}

/// Issue 17, seen 4: a spec kept invalid dodged every revocation.
#[tokio::test(start_paused = true)]
async fn revocation_happens_even_when_the_spec_is_invalid() {
    let h = two_teams().await;
    h.edit_tenant(|spec| {
        spec["urlPolicy"] = json!({"callbacks": ["https://*.example.com/**"]});
    });
    let (id, _corp) = worker_with_access(&h).await;
    // The team makes its spec invalid (a callback outside the tenant's URL policy)...
    h.update_spec(
        "worker",
        json!({
            "tenant": TENANT,
            "client": {"name": "Orders worker", "app_type": "non_interactive",
                       "callbacks": ["https://evil.io/cb"]},
            "grants": [{"audience": API, "scopes": ["read:orders"]}],
            "connections": ["corp-saml"],
        }),
    )
    .await;
    h.reconcile("worker").await.expect("pass");
    assert_eq!(h.ready("worker").await.1, "InvalidSpec");
    // ...then the API team stops allowing it.
    let mut api = h.get_server(TEAM_B, "orders-api");
    api.spec.grants.allowed_namespaces.names = vec![TEAM_B.into()];
    h.update_server_spec(
        TEAM_B,
        "orders-api",
        serde_json::to_value(&api.spec).expect("spec"),
    )
    .await;
    h.reconcile_server(TEAM_B, "orders-api")
        .await
        .expect("api pass");
    h.reconcile("worker").await.expect("pass");

    h.assert_ready("worker", "False", "InvalidSpec").await;
    assert!(
        h.sim.client_grant(&id, API).is_none(),
        "the grant is revoked"
    );
    let recorded = h.status("worker").await;
    assert!(recorded.grants.is_empty(), "{:?}", recorded.grants);
    // Cost: nothing more until the spec or the tenant changes.
    h.sim.reset_counters();
    h.reconcile("worker").await.expect("pass");
    assert_eq!(h.sim.counters().total(), 0, "{:?}", h.sim.counters());
}

/// Issue 17, seen 4: a namespace the tenant no longer allows kept its grants and connections.
#[tokio::test(start_paused = true)]
async fn revocation_happens_when_the_tenant_stops_allowing_the_namespace() {
    let h = two_teams().await;
    let (id, corp) = worker_with_access(&h).await;
    h.edit_tenant(|spec| {
        spec["allowedNamespaces"] = json!({"names": [TEAM_B]});
    });
    h.reconcile("worker").await.expect("pass");

    h.assert_ready("worker", "False", "NamespaceNotAllowed")
        .await;
    assert!(
        h.sim.client_grant(&id, API).is_none(),
        "the grant is revoked"
    );
    assert!(
        !h.sim
            .connection_clients(&corp)
            .unwrap_or_default()
            .contains(&id),
        "the connection is disabled"
    );
    assert!(h.sim.client(&id).is_some(), "the client stays");
    assert!(h.secret("worker-auth0").is_some(), "the Secret stays");
    let recorded = h.status("worker").await;
    assert!(recorded.grants.is_empty() && recorded.connections.is_empty());
    h.sim.reset_counters();
    h.reconcile("worker").await.expect("pass");
    assert_eq!(h.sim.counters().total(), 0, "{:?}", h.sim.counters());
}

/// A URL-policy attack: `apply` a client with `callback`, under `pattern`; it must be refused
/// with nothing created.
async fn refused_by_url_policy(pattern: &str, callback: &str) {
    let h = Harness::new().await;
    h.edit_tenant(|spec| {
        spec["urlPolicy"] = json!({"callbacks": [pattern]});
    });
    h.sync().await;
    h.sim.reset_counters();
    let mut s = spec("Phish");
    s["client"]["callbacks"] = json!([callback]);
    h.apply("phish", s);
    h.converge("phish").await;
    let (status, reason, message) = h.ready("phish").await;
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("False", "InvalidSpec"),
        "{pattern} must refuse {callback}: {message}"
    );
    assert!(message.contains("URL policy"), "{message}");
    assert!(h.sim.clients().is_empty(), "nothing created");
    assert!(h.secret("phish-auth0").is_none());
    assert_eq!(h.sim.counters().total(), 0);
}

/// Issue 17, seen 5: user information hid the host.
#[tokio::test(start_paused = true)]
async fn a_userinfo_url_does_not_pass_the_url_policy() {
    refused_by_url_policy(
        "http://localhost:*/**",
        "http://localhost:1@evil.example/cb",
    )
    .await;
}

/// Issue 17, seen 5: a query made the host look like a subdomain.
#[tokio::test(start_paused = true)]
async fn a_query_cannot_extend_a_wildcard_host() {
    refused_by_url_policy("https://*.acme.com/**", "https://evil.example?.acme.com/").await;
}

/// A policy pattern is itself a URL pattern: one with user information makes the tenant
/// `Ready=False InvalidUrlPolicy`, and its clients wait.
#[tokio::test(start_paused = true)]
async fn an_invalid_policy_pattern_makes_the_tenant_not_ready() {
    let h = Harness::new().await;
    h.edit_tenant(|spec| {
        spec["urlPolicy"] = json!({"callbacks": ["https://u:p@*.acme.com/**"]});
    });
    h.sync().await;
    let tenant = h
        .kube
        .get(&format!(
            "/apis/auth.nexus.dev/v1alpha1/authtenants/{TENANT}"
        ))
        .expect("tenant");
    let ready = tenant["status"]["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == "Ready").cloned())
        .expect("Ready");
    assert_eq!(ready["status"], "False");
    assert_eq!(ready["reason"], "InvalidUrlPolicy");
    let message = ready["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("spec.urlPolicy.callbacks[0]") && message.contains("user information"),
        "{message}"
    );
    h.sim.reset_counters();
    h.apply("orders", spec("Orders"));
    h.converge("orders").await;
    assert_eq!(h.ready("orders").await.1, "TenantNotReady");
    assert_eq!(h.sim.counters().total(), 0);
}
