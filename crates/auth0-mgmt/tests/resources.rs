//! The resource-server, client-grant and connection calls of `TenantClient`: against the
//! embedded simulator (behaviour, paging, retries, scopes) and a recording stub (exact wire
//! format). Every test runs on tokio's paused clock (see `auth0_sim::clock`).

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use auth0_mgmt::{
    Auth0Error, Auth0Metrics, Auth0Registry, NewResourceServer, Priority, ResourceServerPatch,
    ResourceServerScope, SecretString, SigningAlg, TenantClient, TenantConfig, TokenDialect,
    default_http_client,
};
use auth0_sim::{FailAction, M2mCredential, RateLimit, SimConfig};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use common::{assert_not_found, assert_post_not_retried, client, simulator, unlimited};
use serde_json::{Value, json};
use tokio::time::Instant;

const API: &str = "https://orders.example.com/";
const P: Priority = Priority::Normal;

fn scope(value: &str) -> ResourceServerScope {
    ResourceServerScope {
        value: value.into(),
        description: None,
    }
}

fn orders() -> NewResourceServer {
    NewResourceServer {
        identifier: API.into(),
        name: Some("Orders".into()),
        scopes: Some(vec![scope("read:orders"), scope("write:orders")]),
        signing_alg: Some(SigningAlg::Rs256),
        token_lifetime: Some(3600),
        token_dialect: Some(TokenDialect::AccessToken),
        ..Default::default()
    }
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

// ---------------------------------------------------------------------------------------------
// Against the simulator
// ---------------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn resource_server_lifecycle() {
    let sim = unlimited().await;
    let c = client(&sim);
    let created = c.create_resource_server(&orders(), P).await.unwrap();
    assert_eq!(created.identifier, API);
    assert_eq!(created.name.as_deref(), Some("Orders"));
    assert_eq!(created.signing_alg, Some(SigningAlg::Rs256));
    assert_eq!(created.token_lifetime, Some(3600));
    assert!(!created.is_system);

    let dup = c.create_resource_server(&orders(), P).await.unwrap_err();
    assert!(dup.is_conflict() && !dup.is_transient(), "{dup}");

    let by_identifier = c.get_resource_server(API, P).await.unwrap();
    let by_id = c.get_resource_server(&created.id, P).await.unwrap();
    assert_eq!(by_identifier, by_id);
    assert_eq!(by_id, created);

    let patched = c
        .patch_resource_server(
            API,
            &ResourceServerPatch {
                scopes: Some(vec![scope("read:orders")]),
                enforce_policies: Some(true),
                ..Default::default()
            },
            P,
        )
        .await
        .unwrap();
    assert_eq!(patched.scopes, Some(vec![scope("read:orders")]));
    assert_eq!(patched.enforce_policies, Some(true));
    assert_eq!(patched.name.as_deref(), Some("Orders"), "untouched");

    let invalid = c
        .create_resource_server(
            &NewResourceServer {
                identifier: "x".repeat(601),
                ..Default::default()
            },
            P,
        )
        .await
        .unwrap_err();
    assert_eq!(
        (invalid.status(), invalid.error_code()),
        (Some(400), Some("invalid_body"))
    );

    let all = c.list_all_resource_servers(P).await.unwrap();
    assert_eq!(all.len(), 2);
    assert!(
        all[0].is_system,
        "the Management API is listed, and is a system API"
    );
    assert_eq!(all[0].identifier, sim.audience());
    let system = c
        .patch_resource_server(
            &all[0].id,
            &ResourceServerPatch {
                name: Some("mine".into()),
                ..Default::default()
            },
            P,
        )
        .await
        .unwrap_err();
    assert_eq!(system.status(), Some(403));

    c.delete_resource_server(&created.id, P).await.unwrap();
    c.delete_resource_server(&created.id, P)
        .await
        .expect("404 counts as done");
    let gone = c.get_resource_server(API, P).await.unwrap_err();
    assert_not_found(&gone, "inexistent_resource_server");
}

#[tokio::test(start_paused = true)]
async fn hs256_resource_servers_keep_their_secret_out_of_debug() {
    let sim = unlimited().await;
    let c = client(&sim);
    let rs = c
        .create_resource_server(
            &NewResourceServer {
                identifier: "https://hs/".into(),
                // Not Auth0's default: recorded creates without it answer RS256.
                signing_alg: Some(SigningAlg::Hs256),
                ..Default::default()
            },
            P,
        )
        .await
        .unwrap();
    assert_eq!(rs.signing_alg, Some(SigningAlg::Hs256));
    let secret = rs.signing_secret.clone().expect("HS256 secret");
    assert!(secret.expose().len() >= 16);
    assert!(!format!("{rs:?}").contains(secret.expose()));
}

#[tokio::test(start_paused = true)]
async fn listing_every_resource_server_pages_by_100() {
    let sim = unlimited().await;
    for i in 0..150 {
        sim.insert_resource_server(json!({"identifier": format!("https://api{i}.example.com/")}));
    }
    let c = client(&sim);
    let all = c
        .list_all_resource_servers(Priority::Background)
        .await
        .unwrap();
    assert_eq!(all.len(), 151);
    let mut ids: Vec<&str> = all.iter().map(|r| r.id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 151, "no duplicates across pages");
    assert_eq!(sim.counters().get("GET /api/v2/resource-servers"), 2);
}

#[tokio::test(start_paused = true)]
async fn client_grant_lifecycle() {
    let sim = unlimited().await;
    let c = client(&sim);
    c.create_resource_server(&orders(), P).await.unwrap();
    let app = c
        .create_client(&json!({"name": "worker", "app_type": "non_interactive"}), P)
        .await
        .unwrap();
    let id = app.client_id.as_str();

    let grant = c
        .create_client_grant(id, API, &strings(&["read:orders"]), P)
        .await
        .unwrap();
    assert!(grant.id.starts_with("cgr_"));
    assert_eq!(
        (grant.client_id.as_str(), grant.audience.as_str()),
        (id, API)
    );
    assert_eq!(grant.scope, strings(&["read:orders"]));

    let dup = c
        .create_client_grant(id, API, &strings(&["write:orders"]), P)
        .await
        .unwrap_err();
    assert!(dup.is_conflict(), "{dup}");
    let found = c.list_client_grants(Some(id), Some(API), P).await.unwrap();
    assert_eq!(
        found,
        vec![grant.clone()],
        "the 409 is resolved by a filtered list"
    );

    let undefined = c
        .create_client_grant(id, &sim.audience(), &strings(&["read:everything"]), P)
        .await
        .unwrap_err();
    assert_eq!(undefined.status(), Some(400));
    let no_api = c
        .create_client_grant(id, "https://nowhere/", &[], P)
        .await
        .unwrap_err();
    assert!(no_api.is_not_found());

    let patched = c
        .patch_client_grant(&grant.id, &strings(&["read:orders", "write:orders"]), P)
        .await
        .unwrap();
    assert_eq!(patched.scope, strings(&["read:orders", "write:orders"]));
    let mgmt = c
        .create_client_grant(id, &sim.audience(), &strings(&["read:clients"]), P)
        .await
        .unwrap();
    assert_eq!(
        c.list_client_grants(Some(id), None, P).await.unwrap().len(),
        2
    );
    assert_eq!(
        c.list_client_grants(None, Some(API), P)
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(c.list_client_grants(None, None, P).await.unwrap().len(), 2);

    c.delete_client_grant(&mgmt.id, P).await.unwrap();
    c.delete_client_grant(&mgmt.id, P)
        .await
        .expect("404 counts as done");
    // Deleting the client takes its grants with it.
    c.delete_client(id, P).await.unwrap();
    assert!(
        c.list_client_grants(None, None, P)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test(start_paused = true)]
async fn listing_grants_pages_until_done() {
    let sim = unlimited().await;
    let c = client(&sim);
    c.create_resource_server(&orders(), P).await.unwrap();
    for i in 0..230 {
        let id = sim.insert_client(json!({"name": format!("w{i}")}));
        sim.insert_client_grant(&id, API, &["read:orders"]);
    }
    sim.reset_counters();
    let all = c.list_client_grants(None, Some(API), P).await.unwrap();
    assert_eq!(all.len(), 230);
    assert_eq!(sim.counters().get("GET /api/v2/client-grants"), 3);
}

#[tokio::test(start_paused = true)]
async fn connections_and_their_enabled_clients() {
    let sim = unlimited().await;
    let c = client(&sim);
    let db = sim.insert_connection("Username-Password-Authentication", "auth0");
    sim.insert_connection("google-oauth2", "google-oauth2");
    let found = c
        .find_connection("Username-Password-Authentication", P)
        .await
        .unwrap()
        .expect("found");
    assert_eq!(found.id, db);
    assert_eq!(found.strategy.as_deref(), Some("auth0"));
    assert_eq!(c.find_connection("Username", P).await.unwrap(), None);

    // 2500 enabled clients: three checkpoint pages of 1000.
    let mut ids: Vec<String> = (0..2500)
        .map(|i| sim.insert_client(json!({"name": format!("c{i}")})))
        .collect();
    for id in &ids {
        sim.set_connection_client(&db, id, true);
    }
    sim.reset_counters();
    let mut listed = c.list_connection_clients(&db, P).await.unwrap();
    listed.sort();
    ids.sort();
    assert_eq!(listed, ids);
    assert_eq!(
        sim.counters().get("GET /api/v2/connections/{id}/clients"),
        3
    );

    // 120 changes: three PATCHes (50, 50, 20); nothing else changes.
    let fresh: Vec<String> = (0..100)
        .map(|i| sim.insert_client(json!({"name": format!("n{i}")})))
        .collect();
    let mut changes: Vec<(String, bool)> = fresh.iter().map(|id| (id.clone(), true)).collect();
    changes.extend(ids[..20].iter().map(|id| (id.clone(), false)));
    c.set_connection_clients(&db, &changes, P).await.unwrap();
    assert_eq!(
        sim.counters().get("PATCH /api/v2/connections/{id}/clients"),
        3
    );
    let now = sim.connection_clients(&db).unwrap();
    assert_eq!(now.len(), 2500 + 100 - 20);
    assert!(fresh.iter().all(|id| now.contains(id)));
    assert!(ids[..20].iter().all(|id| !now.contains(id)));
    assert!(ids[20..].iter().all(|id| now.contains(id)));

    let none: &[(&str, bool)] = &[];
    c.set_connection_clients(&db, none, P).await.unwrap();
    assert_eq!(
        sim.counters().get("PATCH /api/v2/connections/{id}/clients"),
        3,
        "nothing sent for no change"
    );
    let missing = c
        .set_connection_clients("con_missing000000000", &[(ids[0].as_str(), true)], P)
        .await
        .unwrap_err();
    assert_not_found(&missing, "inexistent_connection");
}

#[tokio::test(start_paused = true)]
async fn retries_follow_the_rules_of_the_clients_api() {
    let sim = unlimited().await;
    let c = client(&sim);
    c.verify_credentials().await.unwrap();

    // POST: a 503 is returned, never retried.
    let api = orders();
    let create = c.create_resource_server(&api, P);
    assert_post_not_retried(&sim, "/api/v2/resource-servers", create).await;
    // ... also when the POST was executed and the answer lost.
    sim.fail_once(
        "POST",
        "/api/v2/resource-servers",
        FailAction::DropAfterProcessing,
    );
    let err = c.create_resource_server(&orders(), P).await.unwrap_err();
    assert!(matches!(err, Auth0Error::Transport { .. }), "{err:?}");
    assert_eq!(sim.counters().get("POST /api/v2/resource-servers"), 2);
    assert!(sim.resource_server(API).is_some(), "it was created");
    let again = c.create_resource_server(&orders(), P).await.unwrap_err();
    assert!(again.is_conflict(), "a blind retry would meet a 409");

    let app = sim.insert_client(json!({"name": "w"}));
    sim.fail_once("POST", "/api/v2/client-grants", FailAction::Status(502));
    assert!(
        c.create_client_grant(&app, API, &[], P)
            .await
            .unwrap_err()
            .is_transient()
    );
    assert_eq!(sim.counters().get("POST /api/v2/client-grants"), 1);

    // A 429 is waited out and retried for every method, POSTs included.
    sim.fail_once("POST", "/api/v2/client-grants", FailAction::Status(429));
    let t0 = Instant::now();
    let grant = c.create_client_grant(&app, API, &[], P).await.unwrap();
    assert_eq!(t0.elapsed(), Duration::from_secs(1));
    assert_eq!(sim.counters().get("POST /api/v2/client-grants"), 3);

    // GET, PATCH and DELETE are retried after a 5xx or a dropped connection.
    sim.fail_once(
        "GET",
        "/api/v2/resource-servers/{id}",
        FailAction::Status(503),
    );
    c.get_resource_server(API, P).await.unwrap();
    assert_eq!(sim.counters().get("GET /api/v2/resource-servers/{id}"), 2);
    sim.fail_once(
        "PATCH",
        "/api/v2/client-grants/{id}",
        FailAction::DropAfterProcessing,
    );
    c.patch_client_grant(&grant.id, &strings(&["read:orders"]), P)
        .await
        .unwrap();
    assert_eq!(sim.counters().get("PATCH /api/v2/client-grants/{id}"), 2);
    let conn = sim.insert_connection("db", "auth0");
    sim.fail_once(
        "PATCH",
        "/api/v2/connections/{id}/clients",
        FailAction::Status(500),
    );
    c.set_connection_clients(&conn, &[(app.as_str(), true)], P)
        .await
        .unwrap();
    assert_eq!(sim.connection_clients(&conn), Some(vec![app.clone()]));
    sim.fail_once(
        "DELETE",
        "/api/v2/resource-servers/{id}",
        FailAction::DropAfterProcessing,
    );
    c.delete_resource_server(API, P)
        .await
        .expect("the retry meets a 404, which counts as done");
    assert_eq!(
        sim.counters().get("DELETE /api/v2/resource-servers/{id}"),
        2
    );
    assert!(sim.client_grants().is_empty(), "its grants went with it");

    // 401: the token is refreshed once.
    sim.expire_tokens();
    c.list_all_resource_servers(P).await.unwrap();
    assert_eq!(sim.counters().get("POST /oauth/token"), 2);
}

#[tokio::test(start_paused = true)]
async fn a_missing_management_scope_is_a_permanent_403() {
    let clients_only = M2mCredential {
        scopes: strings(&["read:clients", "create:clients"]),
        ..M2mCredential::default()
    };
    let sim = simulator(SimConfig {
        rate_limit: RateLimit::unlimited(),
        m2m_clients: vec![clients_only],
        ..SimConfig::default()
    })
    .await;
    let c = client(&sim);
    for err in [
        c.get_resource_server(API, P).await.unwrap_err(),
        c.list_client_grants(None, None, P).await.unwrap_err(),
        c.find_connection("db", P).await.unwrap_err(),
    ] {
        assert_eq!(err.status(), Some(403), "{err}");
        assert_eq!(err.error_code(), Some("insufficient_scope"));
        assert!(!err.is_transient());
    }
}

// ---------------------------------------------------------------------------------------------
// Wire format, against a recording stub
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Debug)]
struct Seen {
    method: Method,
    path: String,
    query: String,
    body: Value,
}

#[derive(Default)]
struct Stub {
    seen: Mutex<Vec<Seen>>,
}

async fn token(_: State<Arc<Stub>>) -> Response {
    axum::Json(json!({"access_token": "T", "expires_in": 86400, "token_type": "Bearer"}))
        .into_response()
}

/// Answers like Auth0 would, enough for the client to decode: every list has one page.
async fn api(State(stub): State<Arc<Stub>>, method: Method, uri: Uri, body: Bytes) -> Response {
    let seen = Seen {
        method: method.clone(),
        path: uri.path().to_owned(),
        query: uri.query().unwrap_or("").to_owned(),
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
    };
    stub.seen.lock().unwrap().push(seen.clone());
    let rs = json!({"id": "rs1", "identifier": API, "name": "Orders"});
    let grant = json!({"id": "cgr_1", "client_id": "c1", "audience": API, "scope": []});
    let answer = match (method, seen.path.as_str()) {
        (Method::GET, "/api/v2/resource-servers") => {
            json!({"total": 1, "start": 0, "limit": 100, "resource_servers": [rs]})
        }
        (Method::GET, "/api/v2/client-grants") => {
            json!({"total": 1, "start": 0, "limit": 100, "client_grants": [grant]})
        }
        (Method::POST | Method::PATCH, p) if p.starts_with("/api/v2/client-grants") => grant,
        (Method::GET, "/api/v2/connections") => {
            json!([{"id": "con_1", "name": "db", "strategy": "auth0", "options": {"x": 1}}])
        }
        (Method::GET, p) if p.ends_with("/clients") => {
            if seen.query.contains("from=") {
                json!({"clients": [{"client_id": "c2"}]})
            } else {
                json!({"clients": [{"client_id": "c1"}], "next": "CHECKPOINT/1+"})
            }
        }
        (Method::PATCH, p) if p.ends_with("/clients") => {
            return StatusCode::NO_CONTENT.into_response();
        }
        (Method::DELETE, _) => return StatusCode::NO_CONTENT.into_response(),
        _ => rs,
    };
    axum::Json(answer).into_response()
}

async fn stub() -> (Arc<Stub>, Arc<TenantClient>) {
    let stub = Arc::new(Stub::default());
    let app = Router::new()
        .route("/oauth/token", post(token))
        .fallback(api)
        .with_state(Arc::clone(&stub));
    let addr = common::serve(app).await;
    let client = Auth0Registry::new(
        default_http_client(Duration::from_secs(10)).unwrap(),
        Auth0Metrics::new(),
    )
    .tenant(TenantConfig {
        tenant: "stub".into(),
        domain: "acme.test".into(),
        base_url: format!("http://{addr}"),
        client_id: "id".into(),
        client_secret: SecretString::new("secret"),
        requests_per_second: 1000,
        burst: 1000,
    });
    (stub, client)
}

/// The decoded `key=value` pairs of a query string, in order.
fn query_pairs(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
                out.push(u8::from_str_radix(hex, 16).unwrap());
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap()
}

#[tokio::test(start_paused = true)]
async fn requests_are_shaped_like_auth0_expects() {
    let (stub, c) = stub().await;
    c.get_resource_server("https://orders.example.com/v1", P)
        .await
        .unwrap();
    c.create_resource_server(
        &NewResourceServer {
            identifier: API.into(),
            scopes: Some(vec![scope("read:orders")]),
            ..Default::default()
        },
        P,
    )
    .await
    .unwrap();
    c.list_all_resource_servers(P).await.unwrap();
    c.list_client_grants(Some("c1"), Some(API), P)
        .await
        .unwrap();
    c.create_client_grant("c1", API, &strings(&["read:orders"]), P)
        .await
        .unwrap();
    c.patch_client_grant("cgr_1", &[], P).await.unwrap();
    let found = c.find_connection("db", P).await.unwrap().expect("found");
    assert_eq!(found.name, "db");
    let listed = c.list_connection_clients("con_1", P).await.unwrap();
    assert_eq!(listed, ["c1", "c2"]);
    c.set_connection_clients("con_1", &[("c1", true), ("c2", false)], P)
        .await
        .unwrap();

    let seen = stub.seen.lock().unwrap().clone();
    let at = |i: usize| &seen[i];
    assert_eq!(
        at(0).path,
        "/api/v2/resource-servers/https%3A%2F%2Forders.example.com%2Fv1",
        "an identifier is one percent-encoded path segment"
    );
    assert_eq!(
        (&at(1).method, &at(1).body),
        (
            &Method::POST,
            &json!({"identifier": API, "scopes": [{"value": "read:orders"}]})
        ),
        "only the fields set are sent"
    );
    assert_eq!(
        query_pairs(&at(2).query),
        [
            ("page".to_owned(), "0".to_owned()),
            ("per_page".to_owned(), "100".to_owned()),
            ("include_totals".to_owned(), "true".to_owned()),
        ]
    );
    let grants_query = query_pairs(&at(3).query);
    assert!(grants_query.contains(&("client_id".to_owned(), "c1".to_owned())));
    assert!(grants_query.contains(&("audience".to_owned(), API.to_owned())));
    assert_eq!(
        at(4).body,
        json!({"client_id": "c1", "audience": API, "scope": ["read:orders"]})
    );
    assert_eq!(
        (&at(5).method, at(5).path.as_str(), &at(5).body),
        (
            &Method::PATCH,
            "/api/v2/client-grants/cgr_1",
            &json!({"scope": []})
        )
    );
    let conn_query = query_pairs(&at(6).query);
    assert!(conn_query.contains(&("name".to_owned(), "db".to_owned())));
    assert!(
        conn_query.contains(&(
            "fields".to_owned(),
            "id,name,strategy,display_name,realms".to_owned()
        )),
        "never the options: {conn_query:?}"
    );
    assert_eq!(
        query_pairs(&at(7).query),
        [("take".to_owned(), "1000".to_owned())]
    );
    assert_eq!(
        query_pairs(&at(8).query),
        [
            ("take".to_owned(), "1000".to_owned()),
            ("from".to_owned(), "CHECKPOINT/1+".to_owned())
        ],
        "the checkpoint is passed back verbatim"
    );
    assert_eq!(
        (&at(9).method, &at(9).body),
        (
            &Method::PATCH,
            &json!([{"client_id": "c1", "status": true}, {"client_id": "c2", "status": false}])
        )
    );
    assert_eq!(seen.len(), 10);
}

#[tokio::test(start_paused = true)]
async fn typed_token_settings_round_trip() {
    use auth0_mgmt::{
        JwtConfiguration, RefreshTokenExpiration, RefreshTokenRotation, RefreshTokenSettings,
    };
    let sim = unlimited().await;
    let c = client(&sim);
    let created = c
        .create_client(&json!({"name": "web", "app_type": "regular_web"}), P)
        .await
        .unwrap();
    let defaults = created
        .refresh_token
        .clone()
        .expect("Auth0 reports the defaults");
    assert_eq!(
        defaults.rotation_type,
        Some(RefreshTokenRotation::NonRotating)
    );
    assert_eq!(
        created
            .jwt_configuration
            .as_ref()
            .and_then(|j| j.lifetime_in_seconds),
        Some(36000)
    );

    #[derive(serde::Serialize)]
    struct Patch {
        refresh_token: RefreshTokenSettings,
        jwt_configuration: JwtConfiguration,
    }
    let patched = c
        .patch_client(
            &created.client_id,
            &Patch {
                refresh_token: RefreshTokenSettings {
                    rotation_type: Some(RefreshTokenRotation::Rotating),
                    expiration_type: Some(RefreshTokenExpiration::Expiring),
                    leeway: Some(5),
                    ..defaults
                },
                jwt_configuration: JwtConfiguration {
                    lifetime_in_seconds: Some(600),
                    ..Default::default()
                },
            },
            P,
        )
        .await
        .unwrap();
    let rt = patched.refresh_token.expect("refresh_token");
    assert_eq!(rt.rotation_type, Some(RefreshTokenRotation::Rotating));
    assert_eq!(rt.expiration_type, Some(RefreshTokenExpiration::Expiring));
    assert_eq!(rt.leeway, Some(5));
    assert_eq!(
        patched
            .jwt_configuration
            .and_then(|j| j.lifetime_in_seconds),
        Some(600)
    );
}
