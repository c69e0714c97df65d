//! Issue 13: AuthResourceServers, grants, connections and client settings, against FakeKube
//! and the simulator: the end-to-end token test, governance (refusals with no Auth0 call,
//! revocation), crash safety of APIs and grants, drift, deletion, and what passes cost.

use std::collections::BTreeSet;

use auth0_sim::FailAction;
use kube::api::Api;
use nexus_crd::{AuthResourceServer, CREATION_ANNOTATION, FINALIZER};
use nexus_testing::tokens;
use serde_json::{Value, json};

use crate::harness::*;

const API: &str = "https://orders.example.com/api";
const TEAM_B: &str = "team-b";

fn api_spec(allowed: &[&str]) -> Value {
    json!({
        "tenant": TENANT,
        "identifier": API,
        "name": "Orders API",
        "scopes": [
            {"value": "read:orders", "description": "Read orders"},
            {"value": "write:orders", "description": "Create and change orders"},
        ],
        "tokenLifetimeSeconds": 3600,
        "grants": {"allowedNamespaces": {"names": allowed}},
    })
}

fn worker_spec(scopes: &[&str]) -> Value {
    json!({
        "tenant": TENANT,
        "client": {"name": "Orders worker", "app_type": "non_interactive"},
        "grants": [{"audience": API, "scopes": scopes}],
    })
}

/// A harness whose tenant also allows team-b (the API team), with the orders API Ready.
async fn with_api(allowed: &[&str]) -> Harness {
    let h = Harness::new().await;
    h.allow_namespace(TEAM_B, "b");
    h.apply_server(TEAM_B, "orders-api", api_spec(allowed));
    h.converge_server(TEAM_B, "orders-api").await;
    assert_eq!(
        h.sim.counters().get("POST /api/v2/resource-servers"),
        1,
        "creating an API is one POST"
    );
    assert_eq!(
        h.server_ready(TEAM_B, "orders-api").1,
        "Synced",
        "{:?}",
        h.server_ready(TEAM_B, "orders-api")
    );
    h.sim.reset_counters();
    h.kube.clear_requests();
    h
}

/// `POST /oauth/token` (client credentials, body credentials) with what the Secret holds.
async fn token_from_secret(h: &Harness, secret_name: &str) -> (u16, Value) {
    auth0_mgmt::install_crypto_provider();
    let secret = h.secret(secret_name).expect("the Secret exists");
    let data = &secret["data"];
    let (id, key) = (
        unb64(&data["AUTH0_CLIENT_ID"]),
        unb64(&data["AUTH0_CLIENT_SECRET"]),
    );
    let audience = unb64(&data["AUTH0_AUDIENCE"]);
    let http = reqwest::Client::new();
    tokens::client_credentials(&http, &h.sim.token_url(), (&id, &key), Some(&audience)).await
}

/// The claims of an access token, verified against the simulator's JWKS for `audience`.
async fn verified_claims(h: &Harness, token: &str, audience: &str) -> Value {
    tokens::verified_claims(h.sim.jwks(), token, &h.sim.issuer(), audience)
}

fn scopes_of(claims: &Value) -> BTreeSet<String> {
    claims["scope"]
        .as_str()
        .unwrap_or_default()
        .split(' ')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

/// The objects among `items` whose `field` is `value`.
fn with_field(items: Vec<Value>, field: &str, value: &str) -> Vec<Value> {
    items.into_iter().filter(|o| o[field] == value).collect()
}

fn grants_in_sim(h: &Harness, client_id: &str) -> Vec<Value> {
    with_field(h.sim.client_grants(), "client_id", client_id)
}

#[tokio::test(start_paused = true)]
async fn an_m2m_client_granted_an_api_obtains_a_token_with_exactly_the_granted_scopes() {
    let h = with_api(&[NS]).await;
    h.apply("worker", worker_spec(&["read:orders", "write:orders"]));
    h.converge("worker").await;
    h.assert_ready("worker", "True", "Synced").await;
    let counters = h.sim.counters();
    assert_eq!(
        (
            counters.get("POST /api/v2/clients"),
            counters.get("POST /api/v2/client-grants")
        ),
        (1, 1),
        "{counters:?}"
    );
    assert_eq!(
        counters.total(),
        2,
        "a client with one grant costs two calls: {counters:?}"
    );
    let client_id = h.client_id("worker").await;
    let grants = grants_in_sim(&h, &client_id);
    assert_eq!(grants.len(), 1, "{grants:?}");
    let recorded = h.status("worker").await.grants;
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].grant_id, grants[0]["id"].as_str().expect("id"));

    let (code, body) = token_from_secret(&h, "worker-auth0").await;
    assert_eq!(code, 200, "{body}");
    let token = body["access_token"].as_str().expect("access_token");
    let claims = verified_claims(&h, token, API).await;
    assert_eq!(scopes_of(&claims), set(&["read:orders", "write:orders"]));
    assert_eq!(claims["sub"], json!(format!("{client_id}@clients")));
    assert_eq!(claims["azp"], json!(client_id));
    assert_eq!(claims["gty"], json!("client-credentials"));

    // A scope removed from the grant is gone from the next token (one PATCH, no new grant).
    h.sim.reset_counters();
    h.update_spec("worker", worker_spec(&["read:orders"])).await;
    h.reconcile("worker").await.expect("reconcile");
    assert_eq!(h.ready("worker").await.1, "Synced");
    assert_eq!(h.sim.counters().get("PATCH /api/v2/client-grants/{id}"), 1);
    assert_eq!(h.sim.counters().get("POST /api/v2/client-grants"), 0);
    assert_eq!(
        h.sim.counters().total(),
        3,
        "a spec change reads the client and its grants, then PATCHes the grant: {:?}",
        h.sim.counters()
    );
    let (code, body) = token_from_secret(&h, "worker-auth0").await;
    assert_eq!(code, 200, "{body}");
    let claims = verified_claims(&h, body["access_token"].as_str().expect("token"), API).await;
    assert_eq!(scopes_of(&claims), set(&["read:orders"]));

    // Removing the grant from the spec deletes it: the client obtains no token any more.
    h.update_spec(
        "worker",
        json!({"tenant": TENANT, "client": {"name": "Orders worker", "app_type": "non_interactive"}}),
    )
    .await;
    h.reconcile("worker").await.expect("reconcile");
    assert!(grants_in_sim(&h, &client_id).is_empty());
    assert!(h.status("worker").await.grants.is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_grant_to_another_teams_api_is_refused_without_any_auth0_call() {
    // The API allows only its own namespace.
    let h = with_api(&[]).await;
    h.apply("intruder", worker_spec(&["read:orders"]));
    h.converge("intruder").await;
    let message = h.assert_ready("intruder", "False", "GrantNotAllowed").await;
    assert!(
        message.contains(API) && message.contains("team-b/orders-api") && message.contains(NS),
        "{message}"
    );
    assert_eq!(h.sim.counters().total(), 0, "no Auth0 call at all");
    assert!(h.sim.client_grants().is_empty());
    assert!(h.sim.clients().is_empty(), "not even the client is created");

    // Passes while refused cost nothing: no Auth0 call, no API-server write.
    h.kube.clear_requests();
    h.reconcile("intruder").await.expect("reconcile");
    assert_eq!(h.sim.counters().total(), 0);
    assert!(
        h.kube.requests().iter().all(|r| r.method == "GET"),
        "{:?}",
        h.kube.requests()
    );

    // A scope the API does not declare is refused the same way.
    h.apply_in(
        TEAM_B,
        "own-worker",
        json!({"tenant": TENANT, "client": {"name": "W", "app_type": "non_interactive"},
               "grants": [{"audience": API, "scopes": ["read:orders", "delete:orders"]}]}),
        json!({}),
    );
    h.reconcile_in(TEAM_B, "own-worker")
        .await
        .expect("finalizer");
    h.reconcile_in(TEAM_B, "own-worker").await.expect("pass");
    let (_, reason, message) = h.ready_in(TEAM_B, "own-worker").await;
    assert_eq!(reason, "GrantNotAllowed");
    assert!(message.contains("'delete:orders'"), "{message}");
    assert_eq!(h.sim.counters().total(), 0);

    // The Management API is never grantable through an AuthResourceServer.
    let mut mgmt = worker_spec(&["read:users"]);
    mgmt["grants"][0]["audience"] = json!(h.sim.audience());
    h.apply("admin", mgmt);
    h.converge("admin").await;
    let (_, reason, message) = h.ready("admin").await;
    assert_eq!(reason, "GrantNotAllowed");
    assert!(message.contains("Management API"), "{message}");
    assert_eq!(h.sim.counters().total(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_grant_that_stops_being_allowed_is_revoked_in_auth0() {
    let h = with_api(&[NS]).await;
    let client_id = h
        .created("worker", worker_spec(&["read:orders", "write:orders"]))
        .await;
    assert_eq!(grants_in_sim(&h, &client_id).len(), 1);

    // The API team drops write:orders: the grant is reduced at once.
    let mut spec = api_spec(&[NS]);
    spec["scopes"] = json!([{"value": "read:orders"}]);
    h.update_server_spec(TEAM_B, "orders-api", spec).await;
    h.sim.reset_counters();
    h.reconcile_server(TEAM_B, "orders-api").await.expect("api");
    assert_eq!(
        (
            h.sim.counters().get("GET /api/v2/resource-servers/{id}"),
            h.sim.counters().get("PATCH /api/v2/resource-servers/{id}")
        ),
        (1, 1),
        "an API's spec change is one GET and one PATCH"
    );
    h.sim.reset_counters();
    h.reconcile("worker").await.expect("reconcile");
    let (_, reason, message) = h.ready("worker").await;
    assert_eq!(reason, "GrantNotAllowed", "{message}");
    let grants = grants_in_sim(&h, &client_id);
    assert_eq!(grants.len(), 1);
    assert_eq!(grants[0]["scope"], json!(["read:orders"]), "PATCHed down");
    // Whatever Auth0 does with the grants of a scope removed from an API, the operator PATCHes
    // them down itself.
    assert_eq!(h.sim.counters().get("PATCH /api/v2/client-grants/{id}"), 1);
    assert_eq!(
        h.sim.counters().get("GET /api/v2/client-grants"),
        0,
        "from the status, no read"
    );

    // Then the API team removes the namespace: the grant is deleted.
    h.update_server_spec(TEAM_B, "orders-api", api_spec(&[]))
        .await;
    h.reconcile_server(TEAM_B, "orders-api").await.expect("api");
    h.reconcile("worker").await.expect("reconcile");
    assert!(grants_in_sim(&h, &client_id).is_empty(), "revoked");
    h.assert_event("Warning", "GrantRevoked");
    let (code, body) = token_from_secret(&h, "worker-auth0").await;
    assert_eq!(code, 403, "{body}");

    // Nothing left to revoke: further passes cost nothing.
    h.sim.reset_counters();
    h.reconcile("worker").await.expect("reconcile");
    assert_eq!(h.sim.counters().total(), 0);

    // Allowed again: granted again.
    h.update_server_spec(TEAM_B, "orders-api", api_spec(&[NS]))
        .await;
    h.reconcile_server(TEAM_B, "orders-api").await.expect("api");
    h.update_spec("worker", worker_spec(&["read:orders"])).await;
    h.reconcile("worker").await.expect("reconcile");
    assert_eq!(h.ready("worker").await.1, "Synced");
    assert_eq!(grants_in_sim(&h, &client_id).len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_grant_waits_for_an_api_that_is_not_ready_yet() {
    let h = Harness::new().await;
    h.allow_namespace(TEAM_B, "b");
    h.apply_server(TEAM_B, "orders-api", api_spec(&[NS]));
    h.apply("worker", worker_spec(&["read:orders"]));
    h.converge("worker").await;
    let message = h
        .assert_ready("worker", "False", "ResourceServerNotReady")
        .await;
    assert!(message.contains("team-b/orders-api"), "{message}");
    assert!(h.sim.clients().is_empty());
    h.converge_server(TEAM_B, "orders-api").await;
    h.reconcile("worker").await.expect("reconcile");
    assert_eq!(h.ready("worker").await.1, "Synced");
}

#[tokio::test(start_paused = true)]
async fn tenant_grantable_audiences_allow_apis_without_an_authresourceserver() {
    let h = Harness::new().await;
    // An API managed elsewhere, and the tenant's own list.
    h.sim.insert_resource_server(json!({
        "identifier": "https://partner.example.com/",
        "name": "Partner",
        "scopes": [{"value": "sync"}],
    }));
    let mut tenant = h
        .kube
        .get(&format!(
            "/apis/auth.nexus.dev/v1alpha1/authtenants/{TENANT}"
        ))
        .expect("tenant");
    tenant["spec"]["grantableAudiences"] = json!([
        {"audience": "https://partner.example.com/", "namespaces": {"names": [NS]}, "scopes": ["sync"]}
    ]);
    tenant["metadata"]
        .as_object_mut()
        .expect("meta")
        .remove("resourceVersion");
    h.kube.insert(tenant);
    let mut spec = worker_spec(&["sync"]);
    spec["grants"][0]["audience"] = json!("https://partner.example.com/");
    h.apply("partner-sync", spec);
    h.converge("partner-sync").await;
    assert_eq!(h.ready("partner-sync").await.1, "Synced");
    let id = h.client_id("partner-sync").await;
    assert_eq!(
        h.sim
            .client_grant(&id, "https://partner.example.com/")
            .expect("grant")["scope"],
        json!(["sync"])
    );
}

// ---------------------------------------------------------------------------------------------
// Crash safety: no duplicate API, no duplicate grant, whatever step fails.

fn apis_with(h: &Harness, identifier: &str) -> Vec<Value> {
    with_field(h.sim.resource_servers(), "identifier", identifier)
}

async fn settle_server(h: &Harness, passes: usize) {
    for _ in 0..passes {
        let _ = h.reconcile_server(TEAM_B, "orders-api").await;
        if h.server_ready(TEAM_B, "orders-api").0 == "True" {
            return;
        }
    }
    panic!(
        "not Ready after {passes} passes: {:?}",
        h.get_server(TEAM_B, "orders-api").status
    );
}

fn assert_exactly_one_api(h: &Harness) {
    let apis = apis_with(h, API);
    assert_eq!(apis.len(), 1, "exactly one API: {apis:#?}");
    let status = h.get_server(TEAM_B, "orders-api").status.expect("status");
    assert_eq!(
        status.resource_server_id.as_deref(),
        apis[0]["id"].as_str(),
        "the status records it"
    );
    assert!(status.pending_creation.is_none());
    let marker = h
        .get_server(TEAM_B, "orders-api")
        .metadata
        .annotations
        .and_then(|a| a.get(CREATION_ANNOTATION).cloned());
    assert!(marker.is_some(), "a create is marked on the object");
    assert_eq!(
        status.last_creation_attempt, marker,
        "the status settles the marker"
    );
    assert_eq!(apis[0]["scopes"].as_array().map(Vec::len), Some(2));
}

async fn new_api_harness() -> Harness {
    let h = Harness::new().await;
    h.allow_namespace(TEAM_B, "b");
    h.apply_server(TEAM_B, "orders-api", api_spec(&[NS]));
    h
}

/// A new API's first pass, its POST to Auth0 failing with `action`.
async fn api_pass_with_post(action: FailAction) -> Harness {
    let h = new_api_harness().await;
    h.fail_auth0_once("POST", "/api/v2/resource-servers", action);
    let _ = h.reconcile_server(TEAM_B, "orders-api").await;
    h
}

#[tokio::test(start_paused = true)]
async fn api_crash_before_the_post_reaches_auth0() {
    let h = api_pass_with_post(FailAction::Drop).await;
    let marked = h.get_server(TEAM_B, "orders-api");
    let marker = marked
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(CREATION_ANNOTATION));
    assert!(marker.is_some(), "marker before the POST");
    assert!(
        marked
            .metadata
            .finalizers
            .as_ref()
            .is_some_and(|f| f.contains(&FINALIZER.to_owned())),
        "the finalizer in the same write"
    );
    assert_ne!(
        marked
            .status
            .as_ref()
            .and_then(|s| s.last_creation_attempt.as_ref()),
        marker,
        "not settled: the POST's outcome is unknown"
    );
    assert!(apis_with(&h, API).is_empty());
    settle_server(&h, 3).await;
    assert_exactly_one_api(&h);
}

#[tokio::test(start_paused = true)]
async fn api_crash_after_auth0_created_it_but_the_answer_was_lost() {
    let h = api_pass_with_post(FailAction::DropAfterProcessing).await;
    assert_eq!(apis_with(&h, API).len(), 1, "Auth0 created it");
    assert!(
        h.get_server(TEAM_B, "orders-api")
            .status
            .expect("status")
            .resource_server_id
            .is_none()
    );
    settle_server(&h, 3).await;
    assert_exactly_one_api(&h);
    assert!(
        h.events().iter().any(|(_, r, _)| r == "Recovered"),
        "{:?}",
        h.events()
    );
}

#[tokio::test(start_paused = true)]
async fn api_crash_after_the_answer_before_the_id_reached_status() {
    let h = new_api_harness().await;
    // The marker write succeeds; the status write after the POST fails.
    h.kube
        .fail_next("PATCH", "/authresourceservers/orders-api/status", 500, 1);
    assert!(h.reconcile_server(TEAM_B, "orders-api").await.is_err());
    assert_eq!(apis_with(&h, API).len(), 1);
    h.sim.reset_counters();
    settle_server(&h, 3).await;
    assert_exactly_one_api(&h);
    assert_eq!(
        h.sim.counters().get("POST /api/v2/resource-servers"),
        1,
        "one retried POST, answered 409, then found by identifier"
    );
}

#[tokio::test(start_paused = true)]
async fn api_crash_at_every_step_in_a_row_still_yields_one_api() {
    let h = new_api_harness().await;
    for action in [
        FailAction::Drop,
        FailAction::DropAfterProcessing,
        FailAction::Status(503),
    ] {
        h.fail_auth0_once("POST", "/api/v2/resource-servers", action);
        let _ = h.reconcile_server(TEAM_B, "orders-api").await;
    }
    h.kube
        .fail_next("PATCH", "/authresourceservers/orders-api/status", 500, 1);
    let _ = h.reconcile_server(TEAM_B, "orders-api").await;
    settle_server(&h, 4).await;
    assert_exactly_one_api(&h);
}

#[tokio::test(start_paused = true)]
async fn an_identifier_used_by_an_api_we_did_not_create_is_not_taken_over() {
    let h = Harness::new().await;
    h.allow_namespace(TEAM_B, "b");
    let foreign = h.sim.insert_resource_server(json!({
        "identifier": API, "name": "Someone else's", "scopes": [{"value": "admin"}],
    }));
    h.apply_server(TEAM_B, "orders-api", api_spec(&[NS]));
    h.converge_server(TEAM_B, "orders-api").await;
    let (status, reason, message) = h.server_ready(TEAM_B, "orders-api");
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("False", "IdentifierInUse")
    );
    assert!(message.contains(API), "{message}");
    let kept = h.sim.resource_server(&foreign).expect("foreign API");
    assert_eq!(kept["name"], json!("Someone else's"), "left alone");
    assert_eq!(kept["scopes"], json!([{"value": "admin"}]));
    // Held: the next passes make no Auth0 call and no write.
    h.sim.reset_counters();
    h.kube.clear_requests();
    h.reconcile_server(TEAM_B, "orders-api")
        .await
        .expect("pass");
    assert_eq!(h.sim.counters().total(), 0);
    assert!(h.kube.requests().iter().all(|r| r.method == "GET"));
}

#[tokio::test(start_paused = true)]
async fn two_authresourceservers_with_one_identifier_the_younger_waits_without_auth0_calls() {
    let h = with_api(&[NS]).await;
    h.apply_server(NS, "copy", {
        let mut spec = api_spec(&[]);
        spec["name"] = json!("Copy");
        spec
    });
    h.reconcile_server(NS, "copy").await.expect("finalizer");
    h.reconcile_server(NS, "copy").await.expect("pass");
    let (_, reason, message) = h.server_ready(NS, "copy");
    assert_eq!(reason, "IdentifierInUse");
    assert!(message.contains("team-b/orders-api"), "{message}");
    assert_eq!(h.sim.counters().total(), 0);
    assert_eq!(apis_with(&h, API).len(), 1);
}

#[tokio::test(start_paused = true)]
async fn grant_crash_after_auth0_created_it_but_the_answer_was_lost() {
    let h = with_api(&[NS]).await;
    h.apply("worker", worker_spec(&["read:orders"]));
    h.fail_auth0_once(
        "POST",
        "/api/v2/client-grants",
        FailAction::DropAfterProcessing,
    );
    let _ = h.reconcile("worker").await;
    let client_id = h.client_id("worker").await;
    assert_eq!(grants_in_sim(&h, &client_id).len(), 1, "Auth0 created it");
    assert!(h.status("worker").await.grants.is_empty());
    for _ in 0..3 {
        let _ = h.reconcile("worker").await;
    }
    assert_eq!(h.ready("worker").await.1, "Synced");
    let grants = grants_in_sim(&h, &client_id);
    assert_eq!(grants.len(), 1, "no duplicate grant: {grants:?}");
    let recorded = h.status("worker").await.grants;
    assert_eq!(recorded[0].grant_id, grants[0]["id"].as_str().expect("id"));
}

#[tokio::test(start_paused = true)]
async fn grant_crash_before_the_status_write_after_everything_was_created() {
    let h = with_api(&[NS]).await;
    h.apply("worker", worker_spec(&["read:orders"]));
    // The marker write goes through; the final status write fails: the client and its grant
    // exist in Auth0, the status knows neither.
    h.kube
        .fail_next("PATCH", "/authclients/worker/status", 500, 1);
    assert!(h.reconcile("worker").await.is_err());
    assert_eq!(h.sim.clients().len(), 1);
    assert_eq!(h.sim.client_grants().len(), 1);
    for _ in 0..3 {
        let _ = h.reconcile("worker").await;
    }
    assert_eq!(h.ready("worker").await.1, "Synced");
    assert_eq!(h.sim.clients().len(), 1, "one client");
    assert_eq!(h.sim.client_grants().len(), 1, "one grant");
}

// ---------------------------------------------------------------------------------------------
// Drift.

async fn scan_clients(h: &Harness) -> usize {
    h.scan_drift().await.1.len()
}

#[tokio::test(start_paused = true)]
async fn api_drift_is_found_by_one_list_call_and_corrected_or_reported() {
    let h = with_api(&[NS]).await;
    let id = h
        .get_server(TEAM_B, "orders-api")
        .status
        .expect("status")
        .resource_server_id
        .expect("id");
    let (report, triggered) = h.scan_api_drift().await;
    assert_eq!(report.compared, 1);
    assert!(triggered.is_empty(), "in sync");
    assert_eq!(h.sim.counters().total(), 1, "one paged list");
    assert!(h.sim.modify_resource_server(
        &id,
        json!({"scopes": [{"value": "read:orders"}], "token_lifetime": 86400})
    ));
    let (report, triggered) = h.scan_api_drift().await;
    assert_eq!((report.drifted, triggered.len()), (1, 1));
    h.sim.reset_counters();
    h.reconcile_server(TEAM_B, "orders-api")
        .await
        .expect("pass");
    assert_eq!(
        h.sim.counters().get("GET /api/v2/resource-servers/{id}"),
        0,
        "the listed copy"
    );
    assert_eq!(
        h.sim.counters().get("PATCH /api/v2/resource-servers/{id}"),
        1
    );
    let api = h.sim.resource_server(&id).expect("api");
    assert_eq!(api["scopes"].as_array().map(Vec::len), Some(2));
    assert_eq!(api["token_lifetime"], json!(3600));
    let status = h.get_server(TEAM_B, "orders-api").status.expect("status");
    let drifted = condition(&status.conditions, "Drifted");
    assert_eq!(
        (drifted.status.as_str(), drifted.reason.as_str()),
        ("False", "Corrected")
    );
    assert!(drifted.message.contains("scopes") && drifted.message.contains("token_lifetime"));

    // Report: left as changed, reported once.
    let mut spec = api_spec(&[NS]);
    spec["driftPolicy"] = json!("Report");
    h.update_server_spec(TEAM_B, "orders-api", spec).await;
    h.reconcile_server(TEAM_B, "orders-api")
        .await
        .expect("pass");
    h.sim
        .modify_resource_server(&id, json!({"name": "Renamed"}));
    let (_, triggered) = h.scan_api_drift().await;
    assert_eq!(triggered.len(), 1);
    h.sim.reset_counters();
    h.reconcile_server(TEAM_B, "orders-api")
        .await
        .expect("pass");
    assert_eq!(h.sim.counters().writes(), 0, "not corrected");
    assert_eq!(
        h.sim.resource_server(&id).expect("api")["name"],
        json!("Renamed")
    );
    let status = h.get_server(TEAM_B, "orders-api").status.expect("status");
    assert_eq!(status.reported_drift, vec!["name".to_owned()]);
    let (_, triggered) = h.scan_api_drift().await;
    assert!(triggered.is_empty(), "already reported");
}

#[tokio::test(start_paused = true)]
async fn an_api_deleted_outside_is_created_again_and_its_clients_granted_again() {
    let h = with_api(&[NS]).await;
    let client_id = h.created("worker", worker_spec(&["read:orders"])).await;
    let old = h
        .get_server(TEAM_B, "orders-api")
        .status
        .expect("status")
        .resource_server_id
        .expect("id");
    assert!(h.sim.remove_resource_server(&old));
    assert!(
        grants_in_sim(&h, &client_id).is_empty(),
        "Auth0 deleted its grants"
    );
    let (report, triggered) = h.scan_api_drift().await;
    assert_eq!((report.missing, triggered.len()), (1, 1));
    h.reconcile_server(TEAM_B, "orders-api")
        .await
        .expect("pass");
    let new = h
        .get_server(TEAM_B, "orders-api")
        .status
        .expect("status")
        .resource_server_id
        .expect("id");
    assert_ne!(new, old);
    assert_eq!(apis_with(&h, API).len(), 1);
    // The client's grants are found missing by the client scan and created again.
    assert_eq!(scan_clients(&h).await, 1);
    h.reconcile("worker").await.expect("pass");
    assert_eq!(h.ready("worker").await.1, "Synced");
    assert_eq!(grants_in_sim(&h, &client_id).len(), 1);
}

#[tokio::test(start_paused = true)]
async fn grant_drift_is_found_by_the_scan_and_corrected_or_reported() {
    let h = with_api(&[NS]).await;
    let client_id = h.created("worker", worker_spec(&["read:orders"])).await;
    let grant_id = grants_in_sim(&h, &client_id)[0]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    h.sim.reset_counters();
    assert_eq!(scan_clients(&h).await, 0, "in sync");
    assert_eq!(
        h.sim.counters().total(),
        2,
        "one list of clients and one list of grants"
    );

    // Someone adds a scope in the dashboard: corrected.
    assert!(
        h.sim
            .modify_client_grant(&grant_id, &["read:orders", "write:orders"])
    );
    assert_eq!(scan_clients(&h).await, 1);
    h.sim.reset_counters();
    h.reconcile("worker").await.expect("pass");
    assert_eq!(
        h.sim.counters().get("GET /api/v2/client-grants"),
        0,
        "the scanned copy"
    );
    assert_eq!(
        h.sim.client_grant(&client_id, API).expect("grant")["scope"],
        json!(["read:orders"])
    );
    assert!(h.events().iter().any(|(_, r, _)| r == "DriftCorrected"));

    // A grant deleted in the dashboard comes back.
    assert!(h.sim.remove_client_grant(&grant_id));
    assert_eq!(scan_clients(&h).await, 1);
    h.reconcile("worker").await.expect("pass");
    assert_eq!(grants_in_sim(&h, &client_id).len(), 1);

    // Report: an allowed extra scope is only reported.
    let mut spec = worker_spec(&["read:orders"]);
    spec["driftPolicy"] = json!("Report");
    h.update_spec("worker", spec).await;
    h.reconcile("worker").await.expect("pass");
    let grant_id = grants_in_sim(&h, &client_id)[0]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    h.sim
        .modify_client_grant(&grant_id, &["read:orders", "write:orders"]);
    assert_eq!(scan_clients(&h).await, 1);
    h.sim.reset_counters();
    h.reconcile("worker").await.expect("pass");
    assert_eq!(h.sim.counters().writes(), 0);
    let status = h.status("worker").await;
    assert_eq!(status.reported_drift, vec![format!("grants[{API}]")]);
    assert_eq!(scan_clients(&h).await, 0, "already reported");
}

// ---------------------------------------------------------------------------------------------
// Connections and settings.

#[tokio::test(start_paused = true)]
async fn connections_are_enabled_and_disabled_for_this_client_only() {
    let h = Harness::new().await;
    let github = h.sim.insert_connection("github", "github");
    let corp = h.sim.insert_connection("corp-saml", "samlp");
    let bystander = h
        .sim
        .insert_client(json!({"name": "Other", "app_type": "spa"}));
    assert!(h.sim.set_connection_client(&github, &bystander, true));
    let mut spec = spec("Portal");
    spec["connections"] = json!(["github", "corp-saml"]);
    h.apply("portal", spec.clone());
    h.sim.reset_counters();
    h.converge("portal").await;
    assert_eq!(h.ready("portal").await.1, "Synced");
    assert_eq!(
        h.sim.counters().total(),
        5,
        "one POST, and a look-up and a PATCH per connection: {:?}",
        h.sim.counters()
    );
    let id = h.client_id("portal").await;
    let on = |c: &str| h.sim.connection_clients(c).unwrap_or_default();
    assert!(on(&github).contains(&id) && on(&corp).contains(&id));
    assert!(on(&github).contains(&bystander), "others untouched");

    spec["connections"] = json!(["github"]);
    h.update_spec("portal", spec.clone()).await;
    h.reconcile("portal").await.expect("pass");
    assert!(!on(&corp).contains(&id), "disabled on the removed one");
    assert!(on(&github).contains(&id) && on(&github).contains(&bystander));

    // Disabled in the dashboard: the scan finds it, the pass enables it again.
    assert!(h.sim.set_connection_client(&github, &id, false));
    assert_eq!(scan_clients(&h).await, 1);
    h.reconcile("portal").await.expect("pass");
    assert!(on(&github).contains(&id));

    // An unknown name: ConnectionNotFound, held until the spec changes.
    spec["connections"] = json!(["github", "nope"]);
    h.update_spec("portal", spec).await;
    h.reconcile("portal").await.expect("pass");
    let (_, reason, message) = h.ready("portal").await;
    assert_eq!(reason, "ConnectionNotFound");
    assert!(message.contains("'nope'"), "{message}");
    h.sim.reset_counters();
    h.reconcile("portal").await.expect("pass");
    assert_eq!(h.sim.counters().total(), 0, "held");
}

#[tokio::test(start_paused = true)]
async fn the_tenant_restricts_connections_with_no_auth0_call_for_a_refused_one() {
    let h = Harness::new().await;
    h.sim.insert_connection("corp-saml", "samlp");
    let mut tenant = h
        .kube
        .get(&format!(
            "/apis/auth.nexus.dev/v1alpha1/authtenants/{TENANT}"
        ))
        .expect("tenant");
    tenant["spec"]["allowedConnections"] =
        json!([{"name": "github", "namespaces": {"names": [NS]}}]);
    tenant["metadata"]
        .as_object_mut()
        .expect("meta")
        .remove("resourceVersion");
    h.kube.insert(tenant);
    let mut spec = spec("Portal");
    spec["connections"] = json!(["corp-saml"]);
    h.apply("portal", spec);
    h.converge("portal").await;
    let message = h
        .assert_ready("portal", "False", "ConnectionNotAllowed")
        .await;
    assert!(message.contains("'corp-saml'"), "{message}");
    assert_eq!(h.sim.counters().total(), 0);
}

#[tokio::test(start_paused = true)]
async fn client_settings_are_applied_and_their_drift_corrected() {
    let h = Harness::new().await;
    let mut s = spec("Mobile");
    s["settings"] = json!({
        "tokenEndpointAuthMethod": "client_secret_basic",
        "idTokenLifetimeSeconds": 3600,
        "refreshToken": {"rotationType": "rotating", "expirationType": "expiring", "leewaySeconds": 5, "tokenLifetimeSeconds": 86400, "idleTokenLifetimeSeconds": 43200},
    });
    h.apply("mobile", s.clone());
    h.converge("mobile").await;
    assert_eq!(h.ready("mobile").await.1, "Synced");
    let id = h.client_id("mobile").await;
    let client = h.sim.client(&id).expect("client");
    assert_eq!(
        client["token_endpoint_auth_method"],
        json!("client_secret_basic")
    );
    assert_eq!(
        client["jwt_configuration"]["lifetime_in_seconds"],
        json!(3600)
    );
    assert_eq!(client["refresh_token"]["rotation_type"], json!("rotating"));
    assert_eq!(client["refresh_token"]["idle_token_lifetime"], json!(43200));

    // Changed in the dashboard; the scan finds it and the pass restores it, keeping what the
    // spec does not manage.
    h.sim.modify_client(
        &id,
        json!({"refresh_token": {"rotation_type": "non-rotating", "expiration_type": "expiring", "leeway": 5, "token_lifetime": 86400, "idle_token_lifetime": 43200, "infinite_token_lifetime": false}}),
    );
    assert_eq!(scan_clients(&h).await, 1);
    h.reconcile("mobile").await.expect("pass");
    let client = h.sim.client(&id).expect("client");
    assert_eq!(client["refresh_token"]["rotation_type"], json!("rotating"));
    assert_eq!(
        client["refresh_token"]["infinite_token_lifetime"],
        json!(false)
    );

    // A spec change is one GET and one PATCH.
    s["settings"]["idTokenLifetimeSeconds"] = json!(7200);
    h.update_spec("mobile", s).await;
    h.sim.reset_counters();
    h.reconcile("mobile").await.expect("pass");
    assert_eq!(h.sim.counters().total(), 2, "{:?}", h.sim.counters());
    assert_eq!(
        h.sim.client(&id).expect("client")["jwt_configuration"]["lifetime_in_seconds"],
        json!(7200)
    );

    // Invalid settings: InvalidSpec naming the field, nothing sent.
    let mut bad = spec("Bad");
    bad["settings"] =
        json!({"refreshToken": {"rotationType": "rotating", "expirationType": "non-expiring"}});
    h.apply("bad", bad);
    h.sim.reset_counters();
    h.converge("bad").await;
    let (_, reason, message) = h.ready("bad").await;
    assert_eq!(reason, "InvalidSpec");
    assert!(
        message.contains("spec.settings.refreshToken.rotationType"),
        "{message}"
    );
    assert_eq!(h.sim.counters().total(), 0);
}

// ---------------------------------------------------------------------------------------------
// Deletion and costs.

#[tokio::test(start_paused = true)]
async fn deleting_an_api_deletes_it_and_its_grants_or_leaves_it_when_orphaned() {
    let h = with_api(&[NS]).await;
    let client_id = h.created("worker", worker_spec(&["read:orders"])).await;
    let api = Api::<AuthResourceServer>::namespaced(h.kube.client(), TEAM_B);
    api.delete("orders-api", &Default::default())
        .await
        .expect("delete");
    h.sim.reset_counters();
    h.reconcile_server(TEAM_B, "orders-api")
        .await
        .expect("cleanup");
    assert_eq!(
        h.sim.counters().total(),
        1,
        "one DELETE: {:?}",
        h.sim.counters()
    );
    assert!(
        h.kube
            .get(&Harness::server_path(TEAM_B, "orders-api"))
            .is_none()
    );
    assert!(apis_with(&h, API).is_empty());
    assert!(grants_in_sim(&h, &client_id).is_empty());
    // The client no longer may hold the grant: Ready=False, nothing left to revoke.
    h.reconcile("worker").await.expect("pass");
    assert_eq!(h.ready("worker").await.1, "GrantNotAllowed");
    assert!(h.status("worker").await.grants.is_empty());

    let mut orphan = api_spec(&[NS]);
    orphan["deletionPolicy"] = json!("Orphan");
    h.apply_server(TEAM_B, "kept", orphan);
    h.converge_server(TEAM_B, "kept").await;
    api.delete("kept", &Default::default())
        .await
        .expect("delete");
    h.reconcile_server(TEAM_B, "kept").await.expect("cleanup");
    assert!(h.kube.get(&Harness::server_path(TEAM_B, "kept")).is_none());
    assert_eq!(apis_with(&h, API).len(), 1, "left in Auth0");
}

#[tokio::test(start_paused = true)]
async fn unchanged_passes_cost_nothing_for_apis_and_clients_with_grants() {
    let h = with_api(&[NS]).await;
    h.apply("worker", worker_spec(&["read:orders"]));
    h.converge("worker").await;
    h.sync().await;
    h.sim.reset_counters();
    h.kube.clear_requests();
    let server = h.get_server(TEAM_B, "orders-api");
    nexus_controller::resourceserver::reconcile(std::sync::Arc::new(server), h.ctx.clone())
        .await
        .expect("api pass");
    h.pass("worker").await.expect("client pass");
    assert_eq!(h.sim.counters().total(), 0, "{:?}", h.sim.counters());
    assert!(h.kube.requests().is_empty(), "{:?}", h.kube.requests());
}

// ---------------------------------------------------------------------------------------------
// Issue 23: tenants past 1,000 APIs.

/// `GET /resource-servers` has offset paging only, which Auth0 (and the simulator) refuse past
/// record 1,000: the API drift scan lists by identifier instead, 10 per request, and still
/// finds and corrects drift of an API past the first 1,000.
#[tokio::test(start_paused = true)]
async fn api_drift_past_the_first_thousand_apis_is_found_with_one_filtered_list() {
    let h = with_api(&[NS]).await;
    for i in 0..1500 {
        h.sim.insert_resource_server(json!({
            "identifier": format!("https://other-{i}.example.com/"),
            "name": format!("Other {i}"),
        }));
    }
    let mut late = api_spec(&[NS]);
    late["identifier"] = json!("https://late.example.com/api");
    h.apply_server(TEAM_B, "late-api", late);
    h.converge_server(TEAM_B, "late-api").await;
    let id = h
        .get_server(TEAM_B, "late-api")
        .status
        .expect("status")
        .resource_server_id
        .expect("id");
    let position = h
        .sim
        .resource_servers()
        .iter()
        .position(|r| r["id"] == json!(id))
        .expect("listed");
    assert!(position >= 1000, "past the offset ceiling: {position}");
    assert!(
        h.sim
            .modify_resource_server(&id, json!({"token_lifetime": 86400}))
    );
    h.sim.reset_counters();

    let (report, triggered) = h.scan_api_drift().await;
    assert_eq!((report.compared, report.drifted), (2, 1), "{report:?}");
    assert_eq!(triggered.len(), 1);
    assert_eq!(triggered[0].name, "late-api");
    assert_eq!(
        h.sim.counters().get("GET /api/v2/resource-servers"),
        1,
        "two identifiers: one filtered request"
    );
    h.reconcile_server(TEAM_B, "late-api").await.expect("pass");
    assert_eq!(
        h.sim.resource_server(&id).expect("api")["token_lifetime"],
        json!(3600),
        "corrected"
    );
}

// ---------------------------------------------------------------------------------------------
// Issue 18: what Auth0 accepts is accepted; likely mistakes are warnings.

#[tokio::test(start_paused = true)]
async fn an_api_without_a_name_or_with_a_zero_lifetime_is_created_with_a_warning() {
    let h = Harness::new().await;
    h.allow_namespace(TEAM_B, "b");
    let mut unnamed = api_spec(&[NS]);
    unnamed.as_object_mut().expect("object").remove("name");
    h.apply_server(TEAM_B, "unnamed-api", unnamed);
    h.converge_server(TEAM_B, "unnamed-api").await;
    let (status, reason, _) = h.server_ready(TEAM_B, "unnamed-api");
    assert_eq!((status.as_str(), reason.as_str()), ("True", "Synced"));
    let api = h.sim.resource_server(API).expect("created");
    assert_eq!(
        api.get("name"),
        None,
        "created without a name, as Auth0 allows"
    );
    assert!(
        h.events()
            .iter()
            .all(|(_, reason, _)| reason != "SpecWarning"),
        "nothing to warn about"
    );

    let mut blank = api_spec(&[NS]);
    blank["identifier"] = json!("https://blank.example.com/api");
    blank["name"] = json!("   ");
    blank["tokenLifetimeSeconds"] = json!(0);
    h.apply_server(TEAM_B, "blank-api", blank);
    h.converge_server(TEAM_B, "blank-api").await;
    let (status, reason, _) = h.server_ready(TEAM_B, "blank-api");
    assert_eq!((status.as_str(), reason.as_str()), ("True", "Synced"));
    let api = h
        .sim
        .resource_server("https://blank.example.com/api")
        .expect("created");
    assert_eq!(api["name"], json!("   "));
    assert_eq!(api["token_lifetime"], json!(0));
    let warnings = h.event_notes("Warning", "SpecWarning");
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("spec.name: is only white space"),
        "{warnings:?}"
    );
    assert!(
        warnings[0].contains("spec.tokenLifetimeSeconds: is 0"),
        "{warnings:?}"
    );
    // Once per generation: another pass publishes nothing new.
    h.reconcile_server(TEAM_B, "blank-api").await.expect("pass");
    let again = h
        .events()
        .into_iter()
        .filter(|(_, reason, _)| reason == "SpecWarning")
        .count();
    assert_eq!(again, 1);
}

#[tokio::test(start_paused = true)]
async fn a_client_auth0_accepts_is_created_and_a_blank_name_is_a_warning() {
    let h = Harness::new().await;
    let long_url = format!("https://app.example.com/{}", "a".repeat(3000));
    h.apply(
        "lenient",
        json!({
            "tenant": TENANT,
            "client": {
                "name": "   ",
                "app_type": "regular_web",
                "logo_uri": "urn:acme:logo",
                "callbacks": vec![long_url; 150],
            },
            "settings": {"idTokenLifetimeSeconds": 5_000_000},
        }),
    );
    h.converge("lenient").await;
    h.assert_ready("lenient", "True", "Synced").await;
    let client_id = h.client_id("lenient").await;
    let client = h.sim.client(&client_id).expect("created");
    assert_eq!(client["name"], json!("   "));
    assert_eq!(client["callbacks"].as_array().map(Vec::len), Some(150));
    assert_eq!(client["logo_uri"], json!("urn:acme:logo"));
    assert_eq!(
        client["jwt_configuration"]["lifetime_in_seconds"],
        json!(5_000_000)
    );
    let warnings = h.event_notes("Warning", "SpecWarning");
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("spec.client.name: is only white space"),
        "{warnings:?}"
    );
}

/// The whole creation of an API, counted at the HTTP boundary of the API server: the
/// finalizer and the crash-safety marker in one metadata write (conditional on the
/// resourceVersion planned from), one status write that settles the marker, one event.
#[tokio::test(start_paused = true)]
async fn creating_an_api_is_one_metadata_write_one_status_write_and_one_event() {
    let h = Harness::new().await;
    h.allow_namespace(TEAM_B, "b");
    h.apply_server(TEAM_B, "orders-api", api_spec(&[NS]));
    h.kube.clear_requests();
    h.converge_server(TEAM_B, "orders-api").await;
    assert_eq!(h.server_ready(TEAM_B, "orders-api").1, "Synced");
    assert_eq!(h.sim.counters().get("POST /api/v2/resource-servers"), 1);

    let requests = h.kube.requests();
    let writes: Vec<_> = requests.iter().filter(|r| r.method != "GET").collect();
    let path = Harness::server_path(TEAM_B, "orders-api");
    let marker = the_claim(&requests, &path);
    let status_writes: Vec<_> = writes
        .iter()
        .filter(|r| r.path == format!("{path}/status"))
        .collect();
    assert_eq!(status_writes.len(), 1, "one status write: {writes:#?}");
    let written = status_writes[0].body.as_ref().expect("body");
    assert_eq!(
        written["status"]["lastCreationAttempt"],
        json!(marker),
        "the status settles the marker"
    );
    assert!(written["status"].get("pendingCreation").is_none());
    assert!(written["status"]["resourceServerId"].is_string());
    let events: Vec<_> = writes
        .iter()
        .filter(|r| r.path.contains("/events"))
        .collect();
    assert_eq!(events.len(), 1, "one Created event: {writes:#?}");
    assert_eq!(writes.len(), 3, "{writes:#?}");
    assert_eq!(
        h.get_server(TEAM_B, "orders-api").metadata.generation,
        Some(1),
        "metadata writes only"
    );
}
