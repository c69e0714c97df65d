//! Resource servers, client grants, connections (with their enabled clients), application tokens
//! honouring the grants, cascades and persistence — over real HTTP on a loopback port.
//!
//! Every test runs on tokio's paused clock (see `auth0_sim::clock`).

mod common;

use std::time::Duration;

use auth0_sim::{self as sim, DEFAULT_SCOPES, M2mCredential, RateLimit, SimConfig};
use common::{
    Caller, Calls, T, app_token, assert_says, call, http, management_token, start, unlimited,
    verify,
};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const API: &str = "https://orders.example.com/";

impl T {
    /// A simulator with the orders API and an M2M client `worker` (not granted it); returns
    /// them and the client's id and secret.
    async fn worker() -> (Self, String, String) {
        let t = Self::new().await;
        t.orders_api().await;
        let (client, secret) = t.m2m_client("worker").await;
        (t, client, secret)
    }

    /// [`T::worker`], granted `read:orders` on the orders API.
    async fn granted_worker() -> (Self, String, String) {
        let (t, client, secret) = Self::worker().await;
        t.grant(&client, API, &["read:orders"]).await;
        (t, client, secret)
    }

    /// The token request of the client `client` (with `secret`) for the orders API.
    async fn orders_token(&self, client: &str, secret: &str) -> (StatusCode, Value) {
        self.app_token(client, secret, json!({"audience": API}))
            .await
    }

    /// [`T::orders_token`] asking for `scope`.
    async fn orders_token_scoped(
        &self,
        client: &str,
        secret: &str,
        scope: &str,
    ) -> (StatusCode, Value) {
        self.app_token(client, secret, json!({"audience": API, "scope": scope}))
            .await
    }

    /// Creates an API with scopes `read:orders` and `write:orders`; returns its id.
    async fn orders_api(&self) -> String {
        let (status, body) = self
            .post(
                "/api/v2/resource-servers",
                json!({
                    "identifier": API, "name": "Orders", "signing_alg": "RS256",
                    "token_lifetime": 3600,
                    "scopes": [{"value": "read:orders", "description": "Read orders"}, {"value": "write:orders"}],
                }),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["id"].as_str().expect("id").to_owned()
    }

    /// Creates a machine-to-machine client through the API; returns (client_id, secret).
    async fn m2m_client(&self, name: &str) -> (String, String) {
        let (status, body) = self
            .post(
                "/api/v2/clients",
                json!({"name": name, "app_type": "non_interactive", "grant_types": ["client_credentials"]}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        (
            body["client_id"].as_str().expect("client_id").to_owned(),
            body["client_secret"].as_str().expect("secret").to_owned(),
        )
    }

    async fn grant(&self, client_id: &str, audience: &str, scope: &[&str]) -> (StatusCode, Value) {
        self.post(
            "/api/v2/client-grants",
            json!({"client_id": client_id, "audience": audience, "scope": scope}),
        )
        .await
    }
}

fn encoded(identifier: &str) -> String {
    url::form_urlencoded::byte_serialize(identifier.as_bytes()).collect()
}

fn assert_error(body: &Value, status: u16, code: Option<&str>) {
    assert_eq!(body["statusCode"], status, "{body}");
    assert!(
        body["error"].is_string() && body["message"].is_string(),
        "{body}"
    );
    match code {
        Some(code) => assert_eq!(body["errorCode"], code, "{body}"),
        None => assert!(body.get("errorCode").is_none(), "{body}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Resource servers
// ---------------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn the_management_api_is_a_system_resource_server_that_cannot_change() {
    let t = T::new().await;
    let (status, list) = t.get("/api/v2/resource-servers").await;
    assert_eq!(status, StatusCode::OK);
    let list = list.as_array().expect("bare array without include_totals");
    assert_eq!(list.len(), 1);
    let system = &list[0];
    assert_eq!(system["identifier"], t.sim.audience());
    assert_eq!(system["is_system"], true);
    assert!(
        system["scopes"]
            .as_array()
            .expect("scopes")
            .iter()
            .any(|s| s["value"] == "create:client_grants")
    );
    let id = system["id"].as_str().expect("id");
    let by_identifier = format!("/api/v2/resource-servers/{}", encoded(&t.sim.audience()));
    let (status, got) = t.get(&by_identifier).await;
    assert_eq!((status, &got["id"]), (StatusCode::OK, &json!(id)));

    let (status, body) = t
        .patch(
            &format!("/api/v2/resource-servers/{id}"),
            json!({"name": "Mine"}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_error(&body, 403, Some("operation_not_supported"));
    let (status, body) = t.delete(&by_identifier).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(t.sim.resource_servers().len(), 1, "still there");
    assert!(!t.sim.remove_resource_server(id), "not even out of band");
}

#[tokio::test(start_paused = true)]
async fn create_get_patch_delete_a_resource_server() {
    let t = T::new().await;
    let (status, created) = t
        .post(
            "/api/v2/resource-servers",
            json!({"identifier": API, "name": "Orders", "signing_alg": "RS256",
                   "scopes": [{"value": "read:orders", "description": "Read orders"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().expect("id").to_owned();
    assert_eq!(id.len(), 24);
    // Auth0's defaults for what was not sent.
    assert_eq!(created["token_lifetime"], 86400);
    assert_eq!(created["token_lifetime_for_web"], 7200);
    assert_eq!(created["allow_offline_access"], false);
    assert_eq!(
        created["skip_consent_for_verifiable_first_party_clients"],
        false
    );
    // Recorded (TestAccResourceServer): answered without what was never set.
    for absent in ["enforce_policies", "token_dialect", "is_system"] {
        assert!(created.get(absent).is_none(), "{absent}: {created}");
    }
    assert!(
        created.get("signing_secret").is_none(),
        "RS256 has no secret"
    );

    // Identifiers are unique.
    let (status, body) = t
        .post(
            "/api/v2/resource-servers",
            json!({"identifier": API, "name": "Again"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_error(&body, 409, Some("resource_server_conflict"));
    assert_eq!(t.sim.resource_servers().len(), 2, "nothing created");

    // GET by id and by the URL-encoded identifier.
    let (status, by_id) = t.get(&format!("/api/v2/resource-servers/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    let by_identifier = format!("/api/v2/resource-servers/{}", encoded(API));
    let (status, by_ident) = t.get(&by_identifier).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(by_id, by_ident);
    assert_eq!(by_id, created);

    // PATCH: partial; scopes replace the list; the identifier is immutable.
    let (status, patched) = t
        .patch(
            &by_identifier,
            json!({"scopes": [{"value": "write:orders"}], "token_lifetime": 600, "token_dialect": "access_token_authz", "enforce_policies": true}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(patched["scopes"], json!([{"value": "write:orders"}]));
    assert_eq!(patched["token_lifetime"], 600);
    assert_eq!(patched["name"], "Orders", "untouched");
    let (status, body) = t
        .patch(&by_identifier, json!({"identifier": "https://else/"}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error(&body, 400, Some("invalid_body"));
    let (status, _) = t.patch(&by_identifier, json!({})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, body) = t
        .patch(&by_identifier, json!({"token_lifetime_for_web": 601}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

    // DELETE: 204, then 404.
    let (status, _) = t.delete(&format!("/api/v2/resource-servers/{id}")).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    for (method, body) in [
        (Method::GET, None),
        (Method::PATCH, Some(json!({"name": "x"}))),
        (Method::DELETE, None),
    ] {
        let (status, body) = t.call(method, &by_identifier, body).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_error(&body, 404, Some("inexistent_resource_server"));
    }
}

#[tokio::test(start_paused = true)]
async fn resource_server_bodies_are_validated_and_nothing_is_created() {
    let t = T::new().await;
    let cases = [
        (
            json!({"name": "no identifier"}),
            "Missing required property: identifier",
        ),
        (json!({"identifier": ""}), "identifier"),
        (json!({"identifier": "x".repeat(601)}), "maximum 600"),
        (json!({"identifier": "a", "name": "<script>"}), "name"),
        (
            json!({"identifier": "a", "signing_alg": "none"}),
            "signing_alg",
        ),
        (
            json!({"identifier": "a", "token_lifetime": 0.5}),
            "token_lifetime",
        ),
        (
            json!({"identifier": "a", "token_lifetime": 2_592_001}),
            "maximum 2592000",
        ),
        (
            json!({"identifier": "a", "token_dialect": "saml"}),
            "token_dialect",
        ),
        (
            json!({"identifier": "a", "scopes": [{"value": "has space"}]}),
            "scopes[0].value",
        ),
        (
            json!({"identifier": "a", "scopes": [{"value": "x"}, {"value": "x"}]}),
            "unique",
        ),
        (json!({"identifier": "a", "scopes": "read"}), "scopes"),
        (
            json!({"identifier": "a", "color": "blue"}),
            "Additional properties not allowed: color",
        ),
    ];
    for (body, expected) in cases {
        let (status, answer) = t.post("/api/v2/resource-servers", body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body} -> {answer}");
        assert_error(&answer, 400, Some("invalid_body"));
        let message = answer["message"].as_str().expect("message");
        assert!(message.contains(expected), "{body}: {message}");
    }
    assert_eq!(t.sim.resource_servers().len(), 1, "only the system API");
    // The longest identifier Auth0 allows is accepted.
    let (status, _) = t
        .post(
            "/api/v2/resource-servers",
            json!({"identifier": "x".repeat(600)}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
}

#[tokio::test(start_paused = true)]
async fn resource_servers_page_like_clients() {
    let t = T::new().await;
    for i in 0..5 {
        let (status, _) = t
            .post(
                "/api/v2/resource-servers",
                json!({"identifier": format!("https://api{i}/")}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);
    }
    let mut seen = Vec::new();
    for page in 0..3 {
        let (status, body) = t
            .get(&format!(
                "/api/v2/resource-servers?page={page}&per_page=2&include_totals=true"
            ))
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["total"], 6);
        assert_eq!(body["start"], page * 2);
        assert_eq!(body["limit"], 2);
        for rs in body["resource_servers"].as_array().expect("page") {
            seen.push(rs["identifier"].as_str().expect("identifier").to_owned());
        }
    }
    assert_eq!(seen.len(), 6);
    assert_eq!(
        seen[0],
        t.sim.audience(),
        "creation order, the system API first"
    );
    let (status, body) = t.get("/api/v2/resource-servers?per_page=101").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error(&body, 400, Some("invalid_query_string"));
    let (status, _) = t.get("/api/v2/resource-servers?identifier=x").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

// ---------------------------------------------------------------------------------------------
// Client grants
// ---------------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn client_grants_follow_auth0s_rules() {
    let (t, client, _) = T::worker().await;

    // The client, the audience and every scope must exist.
    let (status, body) = t.grant("nope", API, &["read:orders"]).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, body) = t.grant(&client, "https://unknown/", &[]).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_says(&body, "message", "https://unknown/");
    let (status, body) = t
        .grant(&client, API, &["read:orders", "delete:orders"])
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_says(&body, "message", "delete:orders");
    for bad in [
        json!({"audience": API, "scope": []}),
        json!({"client_id": client, "scope": []}),
        json!({"client_id": client, "audience": API}),
        json!({"client_id": client, "audience": API, "scope": [""]}),
        json!({"client_id": client, "audience": API, "scope": [], "extra": true}),
    ] {
        let (status, body) = t.post("/api/v2/client-grants", bad.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad} -> {body}");
        assert_error(&body, 400, Some("invalid_body"));
    }
    assert!(t.sim.client_grants().is_empty(), "nothing created");

    // One grant per (client, audience).
    let (status, grant) = t.grant(&client, API, &["read:orders"]).await;
    assert_eq!(status, StatusCode::CREATED, "{grant}");
    let id = grant["id"].as_str().expect("id").to_owned();
    assert!(id.starts_with("cgr_"));
    assert_eq!(
        (&grant["client_id"], &grant["audience"], &grant["scope"]),
        (&json!(client), &json!(API), &json!(["read:orders"]))
    );
    let (status, body) = t.grant(&client, API, &["write:orders"]).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["statusCode"], 409);
    assert_eq!(t.sim.client_grants().len(), 1);

    // PATCH replaces the scopes (only defined ones).
    let path = format!("/api/v2/client-grants/{id}");
    let both = json!(["read:orders", "write:orders"]);
    let (status, patched) = t.patch(&path, json!({"scope": both})).await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(patched["scope"], both);
    for (edit, why) in [
        (json!({"scope": ["admin"]}), "an undefined scope"),
        (json!({"audience": "x"}), "audience cannot change"),
    ] {
        let (status, _) = t.patch(&path, edit).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{why}");
    }
    let (status, body) = t
        .patch(
            "/api/v2/client-grants/cgr_0000000000000000",
            json!({"scope": []}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");

    // DELETE: 204, and 204 again (recorded: TestAccClientGrant deletes a grant twice).
    let (status, _) = t.delete(&format!("/api/v2/client-grants/{id}")).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(t.sim.client_grants().is_empty());
    let (status, _) = t.delete(&format!("/api/v2/client-grants/{id}")).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
}

#[tokio::test(start_paused = true)]
async fn client_grants_filter_and_page() {
    let t = T::new().await;
    t.orders_api().await;
    let mut clients = Vec::new();
    for i in 0..3 {
        let (c, _) = t.m2m_client(&format!("w{i}")).await;
        let (status, _) = t.grant(&c, API, &["read:orders"]).await;
        assert_eq!(status, StatusCode::CREATED);
        clients.push(c);
    }
    let (status, _) = t
        .grant(&clients[0], &t.sim.audience(), &["read:clients"])
        .await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "grants to the Management API are allowed"
    );

    let (_, all) = t.get("/api/v2/client-grants").await;
    assert_eq!(all.as_array().map(Vec::len), Some(4));
    let (_, mine) = t
        .get(&format!("/api/v2/client-grants?client_id={}", clients[0]))
        .await;
    assert_eq!(mine.as_array().map(Vec::len), Some(2));
    let (_, pair) = t
        .get(&format!(
            "/api/v2/client-grants?client_id={}&audience={}",
            clients[0],
            encoded(API)
        ))
        .await;
    let pair = pair.as_array().expect("array");
    assert_eq!(pair.len(), 1);
    assert_eq!(pair[0]["audience"], API);
    let (_, page) = t
        .get(&format!(
            "/api/v2/client-grants?audience={}&per_page=2&page=1&include_totals=true",
            encoded(API)
        ))
        .await;
    assert_eq!(page["total"], 3);
    assert_eq!(page["client_grants"].as_array().map(Vec::len), Some(1));
    assert_eq!(page["client_grants"][0]["client_id"], clients[2]);
}

#[tokio::test(start_paused = true)]
async fn deletes_cascade_like_auth0() {
    let t = T::new().await;
    t.orders_api().await;
    let (a, _) = t.m2m_client("a").await;
    let (b, _) = t.m2m_client("b").await;
    let db = t
        .sim
        .insert_connection("Username-Password-Authentication", "auth0");
    let (status, _) = t
        .patch(
            &format!("/api/v2/connections/{db}/clients"),
            json!([{"client_id": a, "status": true}, {"client_id": b, "status": true}]),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    t.grant(&a, API, &["read:orders"]).await;
    t.grant(&b, API, &["read:orders", "write:orders"]).await;
    t.grant(&a, &t.sim.audience(), &["read:clients"]).await;

    // Deleting a client deletes its grants and its enablement.
    let (status, _) = t.delete(&format!("/api/v2/clients/{a}")).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, grants) = t.get("/api/v2/client-grants").await;
    let grants = grants.as_array().expect("grants");
    assert_eq!(grants.len(), 1);
    assert_eq!(grants[0]["client_id"], b);
    let (_, enabled) = t.get(&format!("/api/v2/connections/{db}/clients")).await;
    assert_eq!(enabled["clients"], json!([{"client_id": b}]));

    // Removing a scope from the API removes it from its grants.
    let by_identifier = format!("/api/v2/resource-servers/{}", encoded(API));
    t.patch(
        &by_identifier,
        json!({"scopes": [{"value": "read:orders"}]}),
    )
    .await;
    assert_eq!(
        t.sim.client_grant(&b, API).map(|g| g["scope"].clone()),
        Some(json!(["read:orders"]))
    );

    // Deleting the API deletes its grants.
    let (status, _) = t.delete(&by_identifier).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(t.sim.client_grants().is_empty());
}

// ---------------------------------------------------------------------------------------------
// Connections
// ---------------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn connections_are_found_by_name_and_seeded_through_the_handle() {
    let t = T::new().await;
    let db = t
        .sim
        .insert_connection("Username-Password-Authentication", "auth0");
    let google = t.sim.insert_connection("google-oauth2", "google-oauth2");
    assert_eq!(
        t.sim.insert_connection("google-oauth2", "google-oauth2"),
        google,
        "by name"
    );

    let (status, found) = t
        .get("/api/v2/connections?name=google-oauth2&fields=id,name,strategy&include_fields=true")
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        found,
        json!([{"id": google, "name": "google-oauth2", "strategy": "google-oauth2"}])
    );
    let (_, none) = t.get("/api/v2/connections?name=google").await;
    assert_eq!(none, json!([]), "exact names only");
    let (_, all) = t
        .get("/api/v2/connections?include_totals=true&per_page=1")
        .await;
    assert_eq!(all["total"], 2);
    assert_eq!(all["connections"][0]["id"], db);
    // Auth0 still answers the deprecated `enabled_clients` (recorded: TestAccConnectionClients).
    assert_eq!(all["connections"][0]["enabled_clients"], json!([]));
    let (_, by_strategy) = t.get("/api/v2/connections?strategy=auth0").await;
    assert_eq!(by_strategy.as_array().map(Vec::len), Some(1));
    let (status, one) = t.get(&format!("/api/v2/connections/{db}")).await;
    assert_eq!(
        (status, &one["name"]),
        (StatusCode::OK, &json!("Username-Password-Authentication"))
    );
    let (status, body) = t.get("/api/v2/connections/con_doesnotexist0000").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_error(&body, 404, Some("inexistent_connection"));
}

#[tokio::test(start_paused = true)]
async fn enabled_clients_page_by_checkpoint_and_change_one_at_a_time() {
    let t = T::new().await;
    let conn = t.sim.insert_connection("corp", "samlp");
    let mut clients = Vec::new();
    for i in 0..5 {
        clients.push(t.sim.insert_client(json!({"name": format!("c{i}")})));
    }
    let someone_else = clients[4].clone();
    t.sim.set_connection_client(&conn, &someone_else, true);

    // Enable four, in two PATCHes; the fifth (someone else's) is never touched.
    let path = format!("/api/v2/connections/{conn}/clients");
    for pair in clients[..4].chunks(2) {
        let body: Vec<Value> = pair
            .iter()
            .map(|c| json!({"client_id": c, "status": true}))
            .collect();
        let (status, body) = t.patch(&path, Value::Array(body)).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    }
    // Checkpoint pagination: take=2 walks all five exactly once; `next` absent at the end.
    let mut seen = Vec::new();
    let mut from: Option<String> = None;
    let mut pages = 0;
    loop {
        let query = match &from {
            Some(f) => format!("{path}?take=2&from={f}"),
            None => format!("{path}?take=2"),
        };
        let (status, page) = t.get(&query).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        pages += 1;
        for c in page["clients"].as_array().expect("clients") {
            seen.push(c["client_id"].as_str().expect("id").to_owned());
        }
        match page.get("next").and_then(Value::as_str) {
            Some(next) => from = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    let mut expected = clients.clone();
    expected.sort();
    assert_eq!(seen, expected);

    // Disable one: only that one changes.
    let (status, _) = t
        .patch(&path, json!([{"client_id": clients[0], "status": false}]))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let enabled = t.sim.connection_clients(&conn).expect("connection");
    assert_eq!(enabled.len(), 4);
    assert!(!enabled.contains(&clients[0]) && enabled.contains(&someone_else));

    // Bad requests change nothing.
    let too_many: Vec<Value> = (0..51)
        .map(|_| json!({"client_id": clients[0], "status": true}))
        .collect();
    for bad in [
        json!([]),
        Value::Array(too_many),
        json!([{"client_id": clients[0]}]),
        json!([{"client_id": clients[0], "status": true, "extra": 1}]),
        json!({"client_id": clients[0], "status": true}),
        json!([{"client_id": "does-not-exist", "status": true}]),
    ] {
        let (status, body) = t.patch(&path, bad.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad} -> {body}");
        assert_error(&body, 400, Some("invalid_body"));
    }
    assert_eq!(t.sim.connection_clients(&conn).map(|c| c.len()), Some(4));
    let (status, _) = t
        .patch(
            "/api/v2/connections/con_missing000000000/clients",
            json!([{"client_id": clients[0], "status": true}]),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    for bad in ["take=0", "take=1001", "from=!!!", "take=2&page=1"] {
        let (status, body) = t.get(&format!("{path}?{bad}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad} -> {body}");
        assert_error(&body, 400, Some("invalid_query_string"));
    }
    let (_, all) = t.get(&format!("{path}?take=1000")).await;
    assert_eq!(all["clients"].as_array().map(Vec::len), Some(4));
    assert!(all.get("next").is_none());
}

#[tokio::test(start_paused = true)]
async fn creating_connections_needs_its_own_scope() {
    let sim = start(SimConfig {
        rate_limit: RateLimit::unlimited(),
        m2m_clients: vec![
            M2mCredential::default(),
            M2mCredential {
                client_id: "SeederM2mClient00000000000000001".into(),
                client_secret: "seeder-secret".into(),
                scopes: vec!["create:connections".into(), "delete:connections".into()],
            },
        ],
        ..SimConfig::default()
    })
    .await;
    let http = http();
    let operator_token = management_token(&sim, &http, &sim.m2m_clients()[0].clone()).await;
    let seeder_token = management_token(&sim, &http, &sim.m2m_clients()[1].clone()).await;
    let operator = Caller {
        sim: &sim,
        http: &http,
        token: &operator_token,
    };
    let seeder = Caller {
        sim: &sim,
        http: &http,
        token: &seeder_token,
    };
    let body = json!({"name": "corp-oidc", "strategy": "oidc"});
    let (status, answer) = operator.post("/api/v2/connections", body.clone()).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "the operator's scopes do not create connections"
    );
    assert_error(&answer, 403, Some("insufficient_scope"));
    let (status, created) = seeder.post("/api/v2/connections", body.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let (status, _) = seeder.post("/api/v2/connections", body).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _) = seeder
        .post(
            "/api/v2/connections",
            json!({"name": "bad name", "strategy": "oidc"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let id = created["id"].as_str().expect("id");
    let (status, _) = seeder.delete(&format!("/api/v2/connections/{id}")).await;
    // Recorded (TestAccConnectionClient): 202 with `deleted_at`.
    assert_eq!(status, StatusCode::ACCEPTED);
    assert!(sim.connections().is_empty());
}

// ---------------------------------------------------------------------------------------------
// Scopes of the management token and the tenant-wide rate limit
// ---------------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn every_new_endpoint_checks_the_scopes_of_the_management_token() {
    let sim = start(SimConfig {
        rate_limit: RateLimit::unlimited(),
        m2m_clients: vec![M2mCredential {
            scopes: vec!["read:clients".into()],
            ..M2mCredential::default()
        }],
        ..SimConfig::default()
    })
    .await;
    let http = http();
    let token = management_token(&sim, &http, &sim.m2m().clone()).await;
    let conn = sim.insert_connection("db", "auth0");
    let cases = [
        (
            Method::GET,
            "/api/v2/resource-servers".to_owned(),
            "read:resource_servers",
        ),
        (
            Method::POST,
            "/api/v2/resource-servers".to_owned(),
            "create:resource_servers",
        ),
        (
            Method::GET,
            "/api/v2/resource-servers/x".to_owned(),
            "read:resource_servers",
        ),
        (
            Method::PATCH,
            "/api/v2/resource-servers/x".to_owned(),
            "update:resource_servers",
        ),
        (
            Method::DELETE,
            "/api/v2/resource-servers/x".to_owned(),
            "delete:resource_servers",
        ),
        (
            Method::GET,
            "/api/v2/client-grants".to_owned(),
            "read:client_grants",
        ),
        (
            Method::POST,
            "/api/v2/client-grants".to_owned(),
            "create:client_grants",
        ),
        (
            Method::PATCH,
            "/api/v2/client-grants/x".to_owned(),
            "update:client_grants",
        ),
        (
            Method::DELETE,
            "/api/v2/client-grants/x".to_owned(),
            "delete:client_grants",
        ),
        (
            Method::GET,
            "/api/v2/connections".to_owned(),
            "read:connections",
        ),
        (
            Method::GET,
            format!("/api/v2/connections/{conn}"),
            "read:connections",
        ),
        (
            Method::GET,
            format!("/api/v2/connections/{conn}/clients"),
            "read:connections",
        ),
        (
            Method::PATCH,
            format!("/api/v2/connections/{conn}/clients"),
            "update:connections",
        ),
        (
            Method::POST,
            "/api/v2/connections".to_owned(),
            "create:connections",
        ),
        (
            Method::DELETE,
            format!("/api/v2/connections/{conn}"),
            "delete:connections",
        ),
    ];
    for (method, path, scope) in cases {
        let body = (method != Method::GET && method != Method::DELETE).then(|| json!({}));
        let (status, _, answer) = call(&sim, &http, &token, method.clone(), &path, body).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path}: {answer}");
        assert_error(&answer, 403, Some("insufficient_scope"));
        assert!(
            answer["message"]
                .as_str()
                .is_some_and(|m| m.ends_with(scope)),
            "{method} {path}: {answer}"
        );
    }
    // Without a token at all: 401.
    let res = http
        .get(format!("{}/api/v2/client-grants", sim.base_url()))
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test(start_paused = true)]
async fn the_new_endpoints_share_the_tenant_wide_rate_limit() {
    let t = T::with(SimConfig {
        rate_limit: RateLimit {
            burst: 2,
            per_second: 1,
        },
        ..SimConfig::default()
    })
    .await;
    let (s1, _) = t.get("/api/v2/resource-servers").await;
    let (s2, _) = t.get("/api/v2/client-grants").await;
    let (s3, body) = t.get("/api/v2/connections").await;
    assert_eq!(
        (s1, s2, s3),
        (
            StatusCode::OK,
            StatusCode::OK,
            StatusCode::TOO_MANY_REQUESTS
        )
    );
    assert_error(&body, 429, Some("too_many_requests"));
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (s4, _) = t.get("/api/v2/connections").await;
    assert_eq!(s4, StatusCode::OK, "one token refilled after a second");
    assert_eq!(t.sim.counters().rate_limited(), 1);
    assert_eq!(t.sim.counters().get("GET /api/v2/connections"), 2);
}

// ---------------------------------------------------------------------------------------------
// Application tokens
// ---------------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn an_application_gets_a_token_with_exactly_its_granted_scopes() {
    let (t, client, secret) = T::worker().await;

    // No grant yet: refused with Auth0's words.
    let (status, body) = t.orders_token(&client, &secret).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"], "access_denied");
    assert_says(&body, "error_description", "client-grant");

    let (status, grant) = t
        .grant(&client, API, &["read:orders", "write:orders"])
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, body) = t.orders_token(&client, &secret).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    assert_eq!(body["scope"], "read:orders write:orders");
    let claims = t.claims(&body, API).await;
    assert_eq!(claims["scope"], "read:orders write:orders");
    assert_eq!(claims["sub"], format!("{client}@clients"));
    assert_eq!(claims["azp"], client);
    assert_eq!(claims["gty"], "client-credentials");
    assert_eq!(claims["iss"], t.sim.issuer());
    assert_eq!(
        claims["exp"].as_u64().expect("exp") - claims["iat"].as_u64().expect("iat"),
        3600,
        "the API's token_lifetime"
    );

    // A requested subset narrows the token; an ungranted scope is refused.
    let (status, body) = t.orders_token_scoped(&client, &secret, "read:orders").await;
    assert_eq!(status, StatusCode::OK);
    let claims = t.claims(&body, API).await;
    assert_eq!(claims["scope"], "read:orders");
    let (status, body) = t
        .orders_token_scoped(&client, &secret, "read:orders admin")
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_says(&body, "error_description", "admin");

    // Removing a scope from the grant removes it from the next token.
    let grant_id = grant["id"].as_str().expect("id");
    t.patch(
        &format!("/api/v2/client-grants/{grant_id}"),
        json!({"scope": ["write:orders"]}),
    )
    .await;
    let (_, body) = t.orders_token(&client, &secret).await;
    let claims = t.claims(&body, API).await;
    assert_eq!(claims["scope"], "write:orders");

    // A grant without scopes: a token without a scope claim.
    t.patch(
        &format!("/api/v2/client-grants/{grant_id}"),
        json!({"scope": []}),
    )
    .await;
    let (status, body) = t.orders_token(&client, &secret).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.get("scope").is_none());
    let claims = t.claims(&body, API).await;
    assert!(claims.get("scope").is_none(), "{claims}");

    // The grant deleted: refused again.
    t.delete(&format!("/api/v2/client-grants/{grant_id}")).await;
    let (status, _) = t.orders_token(&client, &secret).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test(start_paused = true)]
async fn application_token_refusals() {
    let (t, client, secret) = T::granted_worker().await;
    let (status, body) = t.orders_token(&client, "wrong").await;
    assert_eq!(
        (status, &body["error"]),
        (StatusCode::UNAUTHORIZED, &json!("access_denied"))
    );
    assert!(!body.to_string().contains(&secret));
    let (status, body) = t
        .app_token(&client, &secret, json!({"audience": "https://nowhere/"}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_says(&body, "error_description", "Service not enabled");
    let (status, body) = t.app_token(&client, &secret, json!({})).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "no default audience: {body}");
    assert_says(&body, "error_description", "default audience");

    // The client's grant types must allow client_credentials.
    t.patch(
        &format!("/api/v2/clients/{client}"),
        json!({"grant_types": ["authorization_code"]}),
    )
    .await;
    let (status, body) = t.orders_token(&client, &secret).await;
    assert_eq!(
        (status, &body["error"]),
        (StatusCode::FORBIDDEN, &json!("unauthorized_client"))
    );
}

#[tokio::test(start_paused = true)]
async fn token_endpoint_auth_method_is_honoured() {
    let (t, client, secret) = T::granted_worker().await;
    let basic = |id: &str, secret: &str| {
        t.http
            .post(t.sim.token_url())
            .basic_auth(id, Some(secret))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!(
                "grant_type=client_credentials&audience={}",
                encoded(API)
            ))
    };

    // Under each method (`None`: the default, client_secret_post), what the secret gets in the
    // Authorization header and in the body.
    let (ok, refused) = (StatusCode::OK, StatusCode::UNAUTHORIZED);
    for (method, in_header, in_body) in [
        (None, refused, ok),
        (Some("client_secret_basic"), ok, refused),
        // A public client cannot authenticate with a secret.
        (Some("none"), refused, refused),
    ] {
        if let Some(method) = method {
            let edit = json!({"token_endpoint_auth_method": method});
            t.patch(&format!("/api/v2/clients/{client}"), edit).await;
        }
        let res = basic(&client, &secret).send().await.expect("request");
        assert_eq!(res.status(), in_header, "{method:?}");
        if in_header == ok {
            t.claims(&res.json().await.expect("json"), API).await;
        }
        let (status, _) = t.orders_token(&client, &secret).await;
        assert_eq!(status, in_body, "{method:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn tokens_follow_the_apis_signing_algorithm() {
    let t = T::new().await;
    let (client, secret) = t.m2m_client("worker").await;
    for (identifier, alg) in [("https://ps/", "PS256"), ("https://rs512/", "RS512")] {
        let (status, _) = t
            .post(
                "/api/v2/resource-servers",
                json!({"identifier": identifier, "signing_alg": alg}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);
        t.grant(&client, identifier, &[]).await;
        let (_, body) = t
            .app_token(&client, &secret, json!({"audience": identifier}))
            .await;
        let jwt = body["access_token"].as_str().expect("jwt");
        assert_eq!(
            format!(
                "{:?}",
                jsonwebtoken::decode_header(jwt).expect("header").alg
            ),
            alg
        );
        verify(&t.sim, &t.http, jwt, identifier).await;
    }
    // HS256: signed with the API's own signing_secret.
    let (_, hs) = t
        .post(
            "/api/v2/resource-servers",
            json!({"identifier": "https://hs/", "signing_alg": "HS256"}),
        )
        .await;
    assert_eq!(hs["signing_alg"], "HS256");
    let signing_secret = hs["signing_secret"].as_str().expect("secret").to_owned();
    t.grant(&client, "https://hs/", &[]).await;
    let (_, body) = t
        .app_token(&client, &secret, json!({"audience": "https://hs/"}))
        .await;
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_audience(&["https://hs/"]);
    let claims = jsonwebtoken::decode::<Value>(
        body["access_token"].as_str().expect("jwt"),
        &DecodingKey::from_secret(signing_secret.as_bytes()),
        &validation,
    )
    .expect("verifies with the signing secret")
    .claims;
    assert_eq!(claims["azp"], client);
}

#[tokio::test(start_paused = true)]
async fn a_grant_to_the_management_api_makes_a_management_token() {
    let t = T::new().await;
    let (client, secret) = t.m2m_client("automation").await;
    let (status, _) = t.grant(&client, &t.sim.audience(), &["read:clients"]).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) = t
        .grant(&client, &t.sim.audience(), &["update:clients"])
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, body) = t
        .app_token(&client, &secret, json!({"audience": t.sim.audience()}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["scope"], "read:clients");
    let token = body["access_token"].as_str().expect("token");
    let app = t.as_token(token);
    let (status, _) = app.get("/api/v2/clients").await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = app.post("/api/v2/clients", json!({"name": "x"})).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    // A scope the Management API does not define cannot be granted.
    let (other, _) = t.m2m_client("other").await;
    let (status, _) = t
        .grant(&other, &t.sim.audience(), &["read:everything"])
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test(start_paused = true)]
async fn app_audience_is_a_real_api_with_real_grants() {
    let t = T::with(SimConfig {
        rate_limit: RateLimit::unlimited(),
        app_audience: Some("https://api.dev.local/".into()),
        ..SimConfig::default()
    })
    .await;
    let (client, secret) = t.m2m_client("worker").await;
    // The API exists and the new client holds a grant to it, visible like any other.
    let (status, rs) = t
        .get(&format!(
            "/api/v2/resource-servers/{}",
            encoded("https://api.dev.local/")
        ))
        .await;
    assert_eq!(
        (status, &rs["signing_alg"]),
        (StatusCode::OK, &json!("RS256"))
    );
    let (_, grants) = t
        .get(&format!("/api/v2/client-grants?client_id={client}"))
        .await;
    let grants = grants.as_array().expect("grants");
    assert_eq!(grants.len(), 1);
    assert_eq!(grants[0]["audience"], "https://api.dev.local/");
    assert_eq!(grants[0]["scope"], json!([]));
    // It is the default audience.
    let (status, body) = t.app_token(&client, &secret, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let claims = t.claims(&body, "https://api.dev.local/").await;
    assert_eq!(claims["sub"], format!("{client}@clients"));
    // Deleting the grant revokes it, like any grant.
    let id = grants[0]["id"].as_str().expect("id");
    t.delete(&format!("/api/v2/client-grants/{id}")).await;
    let (status, _) = t.app_token(&client, &secret, json!({})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // A clash with the Management API is a configuration error.
    let err = sim::start(
        SimConfig {
            app_audience: Some(format!("https://{}/api/v2/", sim::DEFAULT_DOMAIN)),
            ..SimConfig::default()
        },
        common::loopback(),
    )
    .await
    .expect_err("refused");
    assert!(matches!(err, sim::SimError::Config(_)));
}

#[tokio::test(start_paused = true)]
async fn new_clients_can_be_enabled_on_every_connection() {
    let t = T::with(SimConfig {
        rate_limit: RateLimit::unlimited(),
        enable_client_connections: true,
        ..SimConfig::default()
    })
    .await;
    let db = t.sim.insert_connection("db", "auth0");
    let (client, _) = t.m2m_client("new").await;
    assert_eq!(t.sim.connection_clients(&db), Some(vec![client]));
}

// ---------------------------------------------------------------------------------------------
// Persistence and the back door
// ---------------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn a_snapshot_restores_every_resource_and_the_apps_keep_their_tokens() {
    let (t, client, secret) = T::granted_worker().await;
    let conn = t.sim.insert_connection("db", "auth0");
    t.sim.set_connection_client(&conn, &client, true);
    let snapshot = serde_json::to_string(&t.sim.snapshot()).expect("serialises");
    assert!(
        !snapshot.contains(&t.sim.audience()),
        "the system API is not saved"
    );

    let other = T::new().await;
    let restored = other
        .sim
        .restore(serde_json::from_str(&snapshot).expect("snapshot"));
    assert_eq!(
        (
            restored.clients,
            restored.resource_servers,
            restored.client_grants,
            restored.connections
        ),
        (1, 1, 1, 1)
    );
    assert_eq!(
        other.sim.resource_servers().len(),
        2,
        "its own system API and the restored one"
    );
    assert_eq!(
        other.sim.connection_clients(&conn),
        Some(vec![client.clone()])
    );
    let (status, body) = app_token(
        &other.sim,
        &other.http,
        &client,
        &secret,
        json!({"audience": API}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["scope"], "read:orders");

    // The same over the back door.
    let state: Value = t
        .http
        .get(format!("{}/__sim/state", t.sim.base_url()))
        .send()
        .await
        .expect("state")
        .json()
        .await
        .expect("json");
    let third = T::new().await;
    let res = third
        .http
        .put(format!("{}/__sim/state", third.sim.base_url()))
        .json(&state)
        .send()
        .await
        .expect("put state");
    assert_eq!(res.status(), StatusCode::OK);
    let counts: Value = res.json().await.expect("json");
    assert_eq!(
        counts,
        json!({"clients": 1, "resource_servers": 1, "client_grants": 1, "connections": 1})
    );
    assert!(third.sim.client_grant(&client, API).is_some());
}

#[tokio::test(start_paused = true)]
async fn the_back_door_seeds_and_drifts_the_new_resources() {
    let t = T::new().await;
    // A back-door request: its status, and the id of what it created (if it answers one).
    let admin = async |method: Method, path: &str, body: Option<Value>| {
        let mut request = t
            .http
            .request(method, format!("{}/__sim{path}", t.sim.base_url()));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let res = request.send().await.expect(path);
        let status = res.status();
        let answer: Value = res.json().await.unwrap_or_default();
        (status, answer["id"].as_str().map(str::to_owned))
    };
    let seed = json!({"name": "corp", "strategy": "samlp"});
    let (status, conn) = admin(Method::POST, "/connections", Some(seed)).await;
    assert_eq!(status, StatusCode::CREATED);
    let conn = conn.expect("id");
    let client = t.sim.insert_client(json!({"name": "c"}));
    let enable = json!([{"client_id": client, "status": true}]);
    let path = format!("/connections/{conn}/clients");
    let (status, _) = admin(Method::PATCH, &path, Some(enable)).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(t.sim.connection_clients(&conn), Some(vec![client.clone()]));

    let api = json!({"identifier": API, "scopes": [{"value": "a"}, {"value": "b"}]});
    let (status, _) = admin(Method::POST, "/resource-servers", Some(api)).await;
    assert_eq!(status, StatusCode::CREATED);
    let grant = json!({"client_id": client, "audience": API, "scope": ["a", "b"]});
    let (status, grant) = admin(Method::POST, "/client-grants", Some(grant)).await;
    assert_eq!(status, StatusCode::CREATED);
    let grant = grant.expect("id");
    // Drift: the dashboard renames the API and narrows the grant.
    let api_path = format!("/resource-servers/{}", encoded(API));
    let rename = json!({"name": "Renamed", "token_lifetime": 60});
    let (status, _) = admin(Method::PATCH, &api_path, Some(rename)).await;
    assert_eq!(status, StatusCode::OK);
    let narrow = json!({"scope": ["a"]});
    let path = format!("/client-grants/{grant}");
    let (status, _) = admin(Method::PATCH, &path, Some(narrow)).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, rs) = t
        .get(&format!("/api/v2/resource-servers/{}", encoded(API)))
        .await;
    assert_eq!(
        (&rs["name"], &rs["token_lifetime"]),
        (&json!("Renamed"), &json!(60))
    );
    assert_eq!(
        t.sim.client_grant(&client, API).map(|g| g["scope"].clone()),
        Some(json!(["a"]))
    );
    // Back-door requests are not counted.
    assert_eq!(
        t.sim.counters().get("PATCH /api/v2/resource-servers/{id}"),
        0
    );
    let (status, _) = admin(Method::DELETE, &api_path, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(t.sim.client_grants().is_empty(), "its grants went with it");
}

#[tokio::test(start_paused = true)]
async fn no_secret_in_debug_output_or_error_answers() {
    let t = T::new().await;
    let (_, hs) = t
        .post(
            "/api/v2/resource-servers",
            json!({"identifier": "https://hs/", "signing_alg": "HS256"}),
        )
        .await;
    let signing_secret = hs["signing_secret"].as_str().expect("secret").to_owned();
    let (client, secret) = t.m2m_client("worker").await;
    let debug = format!("{:?}", t.sim);
    for s in [
        &signing_secret,
        &secret,
        &t.sim.m2m().client_secret,
        &t.token,
    ] {
        assert!(!debug.contains(s.as_str()), "{debug}");
    }
    let (_, refused) = t
        .app_token(&client, &secret, json!({"audience": "https://hs/"}))
        .await;
    assert!(!refused.to_string().contains(&secret));
    let (status, _) = t.grant(&client, "https://hs/", &[]).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, conflict) = t.grant(&client, "https://hs/", &[]).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(!conflict.to_string().contains(&secret));
}

#[tokio::test(start_paused = true)]
async fn default_m2m_scopes_cover_what_the_operator_needs() {
    // What the operator calls, per resource. It never creates or deletes a connection: only
    // seeding does.
    let all = &["read", "create", "update", "delete"][..];
    for (resource, verbs) in [
        ("clients", all),
        ("client_keys", &["read", "update"]),
        ("resource_servers", all),
        ("client_grants", all),
        ("connections", &["read", "update"]),
        ("client_credentials", &["read", "create", "delete"]),
    ] {
        for verb in verbs {
            let scope = format!("{verb}:{resource}");
            assert!(DEFAULT_SCOPES.contains(&scope.as_str()), "{scope}");
        }
    }
    for seeding_only in ["create:connections", "delete:connections"] {
        assert!(!DEFAULT_SCOPES.contains(&seeding_only), "{seeding_only}");
    }
    let t = T::new().await;
    let res = t
        .http
        .post(t.sim.token_url())
        .json(&json!({
            "grant_type": "client_credentials",
            "client_id": t.sim.m2m().client_id,
            "client_secret": t.sim.m2m().client_secret,
            "audience": t.sim.audience(),
        }))
        .send()
        .await
        .expect("token");
    let body: Value = res.json().await.expect("json");
    let granted: Vec<&str> = body["scope"].as_str().expect("scope").split(' ').collect();
    assert_eq!(granted, DEFAULT_SCOPES);
}

/// RFC 7638 thumbprint of an RSA public key, computed here independently of the simulator.
fn thumbprint(key: &rsa::RsaPublicKey) -> String {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use rsa::traits::PublicKeyParts;
    use sha2::Digest;
    let canonical = format!(
        r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#,
        URL_SAFE_NO_PAD.encode(key.e().to_bytes_be()),
        URL_SAFE_NO_PAD.encode(key.n().to_bytes_be())
    );
    URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(canonical.as_bytes()))
}

/// private_key_jwt: a credential is created with Auth0's shape, listed by the client, and from
/// then on the client's secret no longer obtains tokens (attack: a leaked secret of a client
/// that moved to private_key_jwt); clearing the methods restores the secret.
#[tokio::test(start_paused = true)]
async fn private_key_jwt_credentials_replace_the_secret() {
    let t = T::with(SimConfig {
        m2m_clients: vec![M2mCredential {
            scopes: sim::MANAGEMENT_SCOPES
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
            ..M2mCredential::default()
        }],
        ..unlimited()
    })
    .await;
    t.orders_api().await;
    let (client, secret) = t.m2m_client("signer").await;
    t.grant(&client, API, &["read:orders"]).await;
    let (status, _) = t.orders_token(&client, &secret).await;
    assert_eq!(status, StatusCode::OK);

    let key = tokio::task::spawn_blocking(|| {
        rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048).expect("key")
    })
    .await
    .expect("keygen");
    let public = rsa::RsaPublicKey::from(&key);
    let pem =
        rsa::pkcs8::EncodePublicKey::to_public_key_pem(&public, Default::default()).expect("pem");
    let (status, cred) = t
        .post(
            &format!("/api/v2/clients/{client}/credentials"),
            json!({"name": "signer key", "credential_type": "public_key", "pem": pem,
                   "alg": "RS256", "expires_at": "2096-05-13T09:33:13Z"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{cred}");
    let cred_id = cred["id"].as_str().expect("id").to_owned();
    assert!(
        cred_id.starts_with("cred_") && cred_id.len() == 27,
        "{cred_id}"
    );
    assert_eq!(cred["kid"], thumbprint(&public));
    assert_eq!(cred["expires_at"], "2096-05-13T09:33:13.000Z");
    assert_eq!(cred["credential_type"], "public_key");
    assert!(cred.get("pem").is_none(), "{cred}");
    // A public key has no certificate to take the expiry from.
    let (status, _) = t
        .post(
            &format!("/api/v2/clients/{client}/credentials"),
            json!({"credential_type": "public_key", "pem": pem, "parse_expiry_from_cert": true}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Listing an unknown credential is refused; listing its own switches the client over.
    let (status, _) = t
        .patch(
            &format!("/api/v2/clients/{client}"),
            json!({"client_authentication_methods": {"private_key_jwt": {"credentials": [{"id": "cred_unknown"}]}},
                   "token_endpoint_auth_method": null}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, patched) = t
        .patch(
            &format!("/api/v2/clients/{client}"),
            json!({"client_authentication_methods": {"private_key_jwt": {"credentials": [{"id": cred_id}]}},
                   "token_endpoint_auth_method": null}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert!(patched.get("client_secret").is_none(), "{patched}");
    assert!(patched.get("token_endpoint_auth_method").is_none());
    let (status, body) = t.orders_token(&client, &secret).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");

    // Back to the secret, then the credential can go.
    let (status, back) = t
        .patch(
            &format!("/api/v2/clients/{client}"),
            json!({"client_authentication_methods": null, "token_endpoint_auth_method": "client_secret_post"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(back["client_secret"], secret);
    let (status, _) = t.orders_token(&client, &secret).await;
    assert_eq!(status, StatusCode::OK);
    let (status, list) = t
        .get(&format!("/api/v2/clients/{client}/credentials"))
        .await;
    assert_eq!(
        (status, list.as_array().map(Vec::len)),
        (StatusCode::OK, Some(1))
    );
    let path = format!("/api/v2/clients/{client}/credentials/{cred_id}");
    assert_eq!(t.delete(&path).await.0, StatusCode::NO_CONTENT);
    assert_eq!(t.get(&path).await.0, StatusCode::NOT_FOUND);
}
