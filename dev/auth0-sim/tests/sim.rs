//! The Auth0 simulator over real HTTP on a loopback port.
//!
//! Every test runs on tokio's paused clock (see `auth0_sim::clock`): waiting for a refill, an
//! expiry or injected latency takes no real time, durations are asserted exactly, and nothing
//! depends on how fast the machine is.

mod common;

use std::time::{Duration, UNIX_EPOCH};

use auth0_sim::{
    self as sim, FailAction, FailNext, FaultScope, Faults, Latency, M2mCredential, RateLimit,
    SimConfig, SimHandle,
};
use common::{
    Caller, Calls, T, assert_says, call as api, http, loopback, management_token, start,
    token_answer, unlimited,
};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::time::Instant;

/// A simulator that does not rate limit (for tests that are not about the rate limit).
async fn sim() -> SimHandle {
    start(unlimited()).await
}

async fn token(sim: &SimHandle, http: &reqwest::Client) -> String {
    management_token(sim, http, sim.m2m()).await
}

fn header_u64(h: &reqwest::header::HeaderMap, name: &str) -> u64 {
    h.get(name)
        .unwrap_or_else(|| panic!("header {name} missing"))
        .to_str()
        .expect("ascii")
        .parse()
        .expect("number")
}

/// The simulator's wall clock as time since the epoch (it follows the paused clock).
fn epoch_now(sim: &SimHandle) -> Duration {
    sim.wall_time().duration_since(UNIX_EPOCH).expect("clock")
}

/// An answer `(status, body)` refused with `status` and Auth0's error body naming `error_code`.
fn assert_refused((actual, body): (StatusCode, Value), status: u16, error_code: &str) {
    assert_eq!(actual.as_u16(), status, "{body}");
    assert_auth0_error(&body, status, error_code);
}

fn assert_auth0_error(body: &Value, status: u16, error_code: &str) {
    assert_eq!(body["statusCode"], status, "{body}");
    assert!(body["error"].is_string(), "{body}");
    assert!(body["message"].is_string(), "{body}");
    assert_eq!(body["errorCode"], error_code, "{body}");
}

// ---------------------------------------------------------------------------------------------
// Token endpoint
// ---------------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn token_with_json_and_form_bodies() {
    let sim = sim().await;
    let http = http();
    let m2m = sim.m2m().clone();

    let res = http
        .post(sim.token_url())
        .json(&json!({
            "grant_type": "client_credentials",
            "client_id": m2m.client_id,
            "client_secret": m2m.client_secret,
            "audience": format!("https://{}/api/v2/", sim.domain()),
        }))
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["x-auth0-simulator"], "true");
    let body: Value = res.json().await.expect("json");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 86400);
    // The token holds exactly the credential's scopes (the defaults, which hold what the
    // operator needs: `default_m2m_scopes_cover_what_the_operator_needs`).
    let scope = body["scope"].as_str().expect("scope");
    assert_eq!(scope.split(' ').collect::<Vec<_>>(), m2m.scopes, "{scope}");
    // It is a JWT for the tenant's API.
    let access = body["access_token"].as_str().expect("token");
    let header = jsonwebtoken::decode_header(access).expect("a JWT");
    assert_eq!(header.alg, Algorithm::RS256);

    let form: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", "client_credentials")
        .append_pair("client_id", &m2m.client_id)
        .append_pair("client_secret", &m2m.client_secret)
        .append_pair("audience", &sim.audience())
        .finish();
    let res = http
        .post(sim.token_url())
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.expect("json");
    let access = body["access_token"].as_str().expect("token");
    let (status, _, _) = api(&sim, &http, access, Method::GET, "/api/v2/clients", None).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test(start_paused = true)]
async fn token_errors_use_oauth_bodies() {
    let sim = sim().await;
    let http = http();
    let m2m = sim.m2m().clone();
    let post = |body: Value| {
        let http = http.clone();
        let url = sim.token_url();
        async move {
            let res = http.post(url).json(&body).send().await.expect("request");
            let status = res.status();
            (status, res.json::<Value>().await.expect("json"))
        }
    };

    let (status, body) = post(json!({
        "grant_type": "client_credentials", "client_id": m2m.client_id,
        "client_secret": "wrong", "audience": sim.audience()
    }))
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        body,
        json!({"error": "access_denied", "error_description": "Unauthorized"})
    );

    let (status, body) = post(json!({
        "grant_type": "client_credentials", "client_id": "nobody",
        "client_secret": m2m.client_secret, "audience": sim.audience()
    }))
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"], "access_denied");

    // The trailing slash of the audience matters.
    let (status, body) = post(json!({
        "grant_type": "client_credentials", "client_id": m2m.client_id,
        "client_secret": m2m.client_secret,
        "audience": format!("https://{}/api/v2", sim.domain())
    }))
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["error"], "access_denied");

    let (status, body) = post(json!({
        "grant_type": "password", "client_id": m2m.client_id,
        "client_secret": m2m.client_secret, "audience": sim.audience()
    }))
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "unsupported_grant_type");

    let (status, body) = post(json!({"client_id": m2m.client_id})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_request");

    assert_eq!(sim.counters().get("POST /oauth/token"), 5);
}

#[tokio::test(start_paused = true)]
async fn expired_tokens_answer_401_and_a_new_token_works() {
    let t = T::new().await;
    let (sim, http) = (&t.sim, &t.http);
    let (status, _) = t.get("/api/v2/clients").await;
    assert_eq!(status, StatusCode::OK);

    sim.expire_tokens();
    let (status, headers, body) = t.api(Method::GET, "/api/v2/clients", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(headers["x-auth0-simulator"], "true");
    assert_eq!(body["statusCode"], 401);
    assert_eq!(body["error"], "Unauthorized");
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("Expired token")),
        "{body}"
    );

    let fresh = token(sim, http).await;
    let (status, _, _) = api(sim, http, &fresh, Method::GET, "/api/v2/clients", None).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test(start_paused = true)]
async fn configured_ttl_is_reported_and_enforced() {
    // A zero TTL: the token is expired as soon as it is issued, no waiting needed.
    let sim = start(SimConfig {
        token_ttl: Duration::ZERO,
        rate_limit: RateLimit::unlimited(),
        ..SimConfig::default()
    })
    .await;
    let http = http();
    let m2m = sim.m2m().clone();
    let (_, body) = token_answer(&sim, &http, &m2m).await;
    assert_eq!(body["expires_in"], 0);
    let t = body["access_token"].as_str().expect("token");
    let (status, _, body) = api(&sim, &http, t, Method::GET, "/api/v2/clients", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_says(&body, "message", "Expired token");

    sim.set_token_ttl(Duration::from_secs(60));
    let t = token(&sim, &http).await;
    let (status, _, _) = api(&sim, &http, &t, Method::GET, "/api/v2/clients", None).await;
    assert_eq!(status, StatusCode::OK);
    // The TTL runs on the simulator's (tokio's) clock: valid up to the last instant, then expired.
    tokio::time::sleep(Duration::from_millis(59_999)).await;
    let (status, _, _) = api(&sim, &http, &t, Method::GET, "/api/v2/clients", None).await;
    assert_eq!(status, StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(1)).await;
    let (status, _, body) = api(&sim, &http, &t, Method::GET, "/api/v2/clients", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("Expired token")),
        "{body}"
    );
}

#[tokio::test(start_paused = true)]
async fn token_claims_use_the_simulators_wall_clock() {
    let sim = sim().await;
    let http = http();
    // An hour of simulated time later, `iat` and `exp` follow the simulator's clock.
    tokio::time::sleep(Duration::from_secs(3600)).await;
    let issued_at = epoch_now(&sim).as_secs();
    let t = token(&sim, &http).await;
    let payload = t.split('.').nth(1).expect("a JWT");
    let claims: Value = serde_json::from_slice(
        &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload)
            .expect("base64url"),
    )
    .expect("JSON claims");
    assert_eq!(claims["iat"], issued_at);
    assert_eq!(claims["exp"], issued_at + sim::DEFAULT_TOKEN_TTL.as_secs());
}

#[tokio::test(start_paused = true)]
async fn missing_or_invalid_bearer_is_401() {
    let sim = sim().await;
    let http = http();
    let res = http
        .get(format!("{}/api/v2/clients", sim.base_url()))
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(res.headers().contains_key("x-ratelimit-limit"));
    let body: Value = res.json().await.expect("json");
    assert_eq!(body["statusCode"], 401);

    let (status, _, body) = api(
        &sim,
        &http,
        "not-a-token",
        Method::GET,
        "/api/v2/clients",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["message"], "Invalid token");

    // A token of another tenant (another simulator instance) is not valid here.
    let other = start(SimConfig {
        domain: "other.auth0.local".into(),
        ..SimConfig::default()
    })
    .await;
    let foreign = token(&other, &http).await;
    let (status, _, _) = api(&sim, &http, &foreign, Method::GET, "/api/v2/clients", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    other.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// Clients
// ---------------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn create_answers_exactly_auth0s_defaults() {
    let t = T::new().await;
    let sim = &t.sim;
    let (status, headers, body) = t
        .api(
            Method::POST,
            "/api/v2/clients",
            Some(json!({"name": "My App"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(headers["x-auth0-simulator"], "true");
    let id = body["client_id"].as_str().expect("client_id").to_owned();
    assert_eq!(id.len(), 32);
    assert!(id.chars().all(|c| c.is_ascii_alphanumeric()));
    let secret = body["client_secret"].as_str().expect("client_secret");
    assert!(secret.len() >= 32);

    let mut without_generated = body.clone();
    let obj = without_generated.as_object_mut().expect("object");
    obj.remove("client_id");
    obj.remove("client_secret");
    assert_eq!(
        without_generated,
        json!({
            "name": "My App",
            "cross_origin_authentication": false,
            "grant_types": ["authorization_code", "implicit", "refresh_token", "client_credentials"],
            "jwt_configuration": {"lifetime_in_seconds": 36000, "secret_encoded": false},
            "is_token_endpoint_ip_header_trusted": false,
            "refresh_token": {
                "rotation_type": "non-rotating", "expiration_type": "non-expiring", "leeway": 0,
                "token_lifetime": 2592000, "infinite_token_lifetime": true,
                "infinite_idle_token_lifetime": true, "idle_token_lifetime": 1296000
            },
            "is_first_party": true,
            "oidc_conformant": false,
            "sso_disabled": false,
            "custom_login_page_on": true
        })
    );
    assert_eq!(sim.client(&id), Some(body));

    // What was sent wins over the defaults.
    let (status, body) = t.post("/api/v2/clients", json!({"name": "M2M", "app_type": "non_interactive", "grant_types": ["client_credentials"]})).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(body["app_type"], "non_interactive");
    assert_eq!(body["grant_types"], json!(["client_credentials"]));
    assert_ne!(body["client_id"].as_str(), Some(id.as_str()));
}

#[tokio::test(start_paused = true)]
async fn validation_rules_answer_400_invalid_body() {
    let t = T::new().await;
    let (sim, http) = (&t.sim, &t.http);
    let eleven: serde_json::Map<String, Value> =
        (0..11).map(|i| (format!("k{i}"), json!("v"))).collect();
    let cases = [
        (
            json!({"name": "a", "keystore_hash": "x"}),
            "Additional properties not allowed",
        ),
        (
            json!({"description": "no name"}),
            "Missing required property: name",
        ),
        (json!({"name": "a<b"}), "^[^<>]+$"),
        (json!({"name": ""}), "^[^<>]+$"),
        (
            json!({"name": "a", "description": "x".repeat(141)}),
            "description",
        ),
        (
            json!({"name": "a", "initiate_login_uri": "http://x.example/login"}),
            "initiate_login_uri",
        ),
        (json!({"name": "a", "logo_uri": "logo.png"}), "logo_uri"),
        (
            json!({"name": "a", "client_metadata": eleven}),
            "Too many properties defined (11), maximum 10",
        ),
        (
            json!({"name": "a", "client_metadata": {"manuallyCreated": false}}),
            "client_metadata.manuallyCreated",
        ),
        (
            json!({"name": "a", "client_metadata": {"k": "v".repeat(256)}}),
            "client_metadata.k",
        ),
        (
            json!({"name": "a", "client_metadata": {"k".repeat(256): "v"}}),
            "client_metadata",
        ),
        (json!({"name": "a", "callbacks": "https://x"}), "callbacks"),
    ];
    for (body, expected) in cases {
        let (status, headers, answer) = t
            .api(Method::POST, "/api/v2/clients", Some(body.clone()))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body} -> {answer}");
        assert_eq!(headers["x-auth0-simulator"], "true");
        assert_auth0_error(&answer, 400, "invalid_body");
        assert_eq!(answer["error"], "Bad Request");
        let message = answer["message"].as_str().expect("message");
        assert!(message.contains(expected), "{body}: {message}");
    }
    // Boundaries that are valid.
    let (status, _) = t
        .post(
            "/api/v2/clients",
            json!({
                "name": "a",
                "description": "x".repeat(140),
                "initiate_login_uri": "https://x.example/login",
                "logo_uri": "",
                "client_metadata": {"k": "v".repeat(255)}
            }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);

    // Not JSON at all.
    let res = http
        .post(format!("{}/api/v2/clients", sim.base_url()))
        .bearer_auth(&t.token)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(sim.clients().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn get_unknown_client_is_auth0s_404() {
    let t = T::new().await;
    let (status, body) = t.get("/api/v2/clients/doesnotexist").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        body,
        json!({"statusCode":404,"error":"Not Found","message":"The client does not exist","errorCode":"inexistent_client"})
    );
    for (method, path, body) in [
        (
            Method::PATCH,
            "/api/v2/clients/nope",
            Some(json!({"name": "x"})),
        ),
        (Method::POST, "/api/v2/clients/nope/rotate-secret", None),
    ] {
        let (status, _, answer) = t.api(method, path, body).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_auth0_error(&answer, 404, "inexistent_client");
    }
}

#[tokio::test(start_paused = true)]
async fn patch_replaces_arrays_and_merges_metadata() {
    let t = T::new().await;
    let sim = &t.sim;
    let (_, created) = t
        .post(
            "/api/v2/clients",
            json!({
                "name": "a",
                "callbacks": ["https://a.example/cb", "https://b.example/cb"],
                "web_origins": ["https://a.example"],
                "client_metadata": {"owners": "x@example.com", "productName": "p", "keep": "k"}
            }),
        )
        .await;
    let id = created["client_id"].as_str().expect("id").to_owned();
    let path = format!("/api/v2/clients/{id}");

    let (status, patched) = t
        .patch(
            &path,
            json!({
                "callbacks": ["https://c.example/cb"],
                "web_origins": [],
                "client_metadata": {"owners": "y@example.com", "productName": null, "new": "n"}
            }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(patched["callbacks"], json!(["https://c.example/cb"]));
    assert_eq!(patched["web_origins"], json!([]));
    assert_eq!(
        patched["client_metadata"],
        json!({"owners": "y@example.com", "keep": "k", "new": "n"})
    );
    assert_eq!(patched["name"], "a");
    assert_eq!(patched["client_id"], created["client_id"]);

    let (_, read) = t.get(&path).await;
    assert_eq!(read, patched);

    // The merged result is checked too: 3 keys + 8 new ones is 11.
    let more: serde_json::Map<String, Value> =
        (0..8).map(|i| (format!("m{i}"), json!("v"))).collect();
    assert_refused(
        t.patch(&path, json!({"client_metadata": more})).await,
        400,
        "invalid_body",
    );
    assert_eq!(
        sim.client(&id).expect("exists")["client_metadata"],
        read["client_metadata"]
    );

    // Validation applies to PATCH bodies as well.
    assert_refused(
        t.patch(&path, json!({"name": "<x>"})).await,
        400,
        "invalid_body",
    );
}

#[tokio::test(start_paused = true)]
async fn delete_is_idempotent() {
    let t = T::new().await;
    let sim = &t.sim;
    let id = sim.insert_client(json!({"name": "gone soon"}));
    let path = format!("/api/v2/clients/{id}");
    let (status, body) = t.delete(&path).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(body, Value::Null);
    let (status, _) = t.delete(&path).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = t.get(&path).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(sim.client(&id).is_none());
    assert_eq!(sim.counters().get("DELETE /api/v2/clients/{id}"), 2);
}

#[tokio::test(start_paused = true)]
async fn rotate_secret_issues_a_new_secret() {
    let t = T::new().await;
    let sim = &t.sim;
    let id = sim.insert_client(json!({"name": "r"}));
    let old = sim.client(&id).expect("exists")["client_secret"].clone();
    let (status, _, body) = t
        .api(
            Method::POST,
            &format!("/api/v2/clients/{id}/rotate-secret"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_ne!(body["client_secret"], old);
    assert_eq!(
        sim.client(&id).expect("exists")["client_secret"],
        body["client_secret"]
    );
}

#[tokio::test(start_paused = true)]
async fn scopes_are_enforced() {
    let limited = M2mCredential {
        client_id: "readonly0000000000000000000000000".into(),
        client_secret: "readonly-secret".into(),
        scopes: vec!["read:clients".into()],
    };
    let sim = start(SimConfig {
        m2m_clients: vec![M2mCredential::default(), limited.clone()],
        rate_limit: RateLimit::unlimited(),
        ..SimConfig::default()
    })
    .await;
    let http = http();
    let t = management_token(&sim, &http, &limited).await;
    let (status, _, body) = api(
        &sim,
        &http,
        &t,
        Method::POST,
        "/api/v2/clients",
        Some(json!({"name": "x"})),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_auth0_error(&body, 403, "insufficient_scope");
    assert_says(&body, "message", "create:clients");
    assert!(sim.clients().is_empty());

    let id = sim.insert_client(json!({"name": "visible"}));
    let path = format!("/api/v2/clients/{id}");
    // Readable, but the secret needs read:client_keys.
    let (status, _, body) = api(&sim, &http, &t, Method::GET, &path, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["name"], "visible");
    assert!(body.get("client_secret").is_none());
    let (_, _, list) = api(&sim, &http, &t, Method::GET, "/api/v2/clients", None).await;
    assert!(list[0].get("client_secret").is_none());

    for (method, path, body) in [
        (Method::PATCH, path.clone(), Some(json!({"name": "y"}))),
        (Method::DELETE, path.clone(), None),
        (Method::POST, format!("{path}/rotate-secret"), None),
    ] {
        let (status, _, answer) = api(&sim, &http, &t, method, &path, body).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert_auth0_error(&answer, 403, "insufficient_scope");
    }
    assert_eq!(sim.client(&id).expect("still there")["name"], "visible");

    // Setting a secret by PATCH needs update:client_keys on top of update:clients.
    let updater = M2mCredential {
        client_id: "updater00000000000000000000000000".into(),
        client_secret: "updater-secret".into(),
        scopes: vec!["update:clients".into()],
    };
    let sim3 = start(SimConfig {
        m2m_clients: vec![updater.clone()],
        rate_limit: RateLimit::unlimited(),
        ..SimConfig::default()
    })
    .await;
    let t3 = management_token(&sim3, &http, &updater).await;
    let t3 = Caller {
        sim: &sim3,
        http: &http,
        token: &t3,
    };
    let id3 = sim3.insert_client(json!({"name": "u"}));
    let path3 = format!("/api/v2/clients/{id3}");
    assert_refused(
        t3.patch(&path3, json!({"client_secret": "x".repeat(64)}))
            .await,
        403,
        "insufficient_scope",
    );
    let (status, body) = t3.patch(&path3, json!({"name": "v"})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["name"], "v");
    assert!(body.get("client_secret").is_none());

    // A credential without any scope has no client grant at all.
    let none = M2mCredential {
        scopes: vec![],
        ..limited
    };
    let sim2 = start(SimConfig {
        m2m_clients: vec![none.clone()],
        ..SimConfig::default()
    })
    .await;
    let (status, body) = token_answer(&sim2, &http, &none).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["error"], "access_denied");
}

#[tokio::test(start_paused = true)]
async fn list_pages_in_creation_order_in_both_shapes() {
    let t = T::new().await;
    let sim = &t.sim;
    let mut ids = Vec::new();
    for i in 0..7 {
        let app_type = if i % 2 == 0 { "spa" } else { "regular_web" };
        ids.push(sim.insert_client(json!({
            "name": format!("c{i}"),
            "app_type": app_type,
            "client_metadata": {"nexus.dev/owner": format!("ns/cr{i}")}
        })));
    }
    let ids_of = |v: &Value| -> Vec<String> {
        v.as_array()
            .expect("array")
            .iter()
            .map(|c| c["client_id"].as_str().expect("id").to_owned())
            .collect()
    };

    let mut seen = Vec::new();
    for (page, expected_len) in [(0, 3), (1, 3), (2, 1), (3, 0)] {
        let (status, body) = t
            .get(&format!("/api/v2/clients?page={page}&per_page=3"))
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body.as_array().map(Vec::len), Some(expected_len));
        seen.extend(ids_of(&body));
    }
    assert_eq!(seen, ids);

    // include_totals shape, with the operator's projection.
    let (status, body) = t.get("/api/v2/clients?page=1&per_page=3&include_totals=true&fields=client_id,client_metadata&include_fields=true").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["total"], 7);
    assert_eq!(body["start"], 3);
    assert_eq!(body["limit"], 3);
    let clients = &body["clients"];
    assert_eq!(ids_of(clients), ids[3..6]);
    assert_eq!(
        clients[0],
        json!({"client_id": ids[3], "client_metadata": {"nexus.dev/owner": "ns/cr3"}})
    );

    // include_fields=false removes the listed fields.
    let (_, body) = t
        .get("/api/v2/clients?fields=client_metadata,client_secret&include_fields=false&per_page=1")
        .await;
    let first = body[0].as_object().expect("object");
    assert!(first.contains_key("name") && first.contains_key("client_id"));
    assert!(!first.contains_key("client_metadata") && !first.contains_key("client_secret"));

    // app_type filter.
    let (_, body) = t
        .get("/api/v2/clients?app_type=regular_web&include_totals=true")
        .await;
    assert_eq!(body["total"], 3);
    assert!(
        body["clients"]
            .as_array()
            .expect("array")
            .iter()
            .all(|c| c["app_type"] == "regular_web")
    );

    // fields on a single client.
    let (_, body) = t
        .get(&format!("/api/v2/clients/{}?fields=name", ids[0]))
        .await;
    assert_eq!(body, json!({"name": "c0"}));

    // per_page is capped at 100; unknown parameters are rejected.
    for query in ["per_page=101", "page=-1", "include_totals=yes", "q=name:x"] {
        let (status, body) = t.get(&format!("/api/v2/clients?{query}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}");
        assert_auth0_error(&body, 400, "invalid_query_string");
    }
    let (status, body) = t.get("/api/v2/clients?per_page=100").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body.as_array().map(Vec::len), Some(7));
}

// ---------------------------------------------------------------------------------------------
// Rate limit
// ---------------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn rate_limit_bursts_then_429_then_recovers_after_reset() {
    // Default config: Auth0's free plan, 2 burst / 2 per second.
    let sim = start(SimConfig::default()).await;
    let http = http();
    let t = token(&sim, &http).await;

    let (s1, h1, _) = api(&sim, &http, &t, Method::GET, "/api/v2/clients", None).await;
    let (s2, h2, _) = api(&sim, &http, &t, Method::GET, "/api/v2/clients", None).await;
    assert_eq!((s1, s2), (StatusCode::OK, StatusCode::OK));
    assert_eq!(header_u64(&h1, "x-ratelimit-limit"), 2);
    assert_eq!(header_u64(&h1, "x-ratelimit-remaining"), 1);
    assert_eq!(header_u64(&h2, "x-ratelimit-remaining"), 0);
    // The reset is when the bucket is full again, in whole epoch seconds (rounded up).
    let now = epoch_now(&sim);
    let full_at = |until_full: Duration| (now + until_full).as_secs_f64().ceil() as u64;
    assert_eq!(
        header_u64(&h1, "x-ratelimit-reset"),
        full_at(Duration::from_millis(500))
    );
    assert_eq!(
        header_u64(&h2, "x-ratelimit-reset"),
        full_at(Duration::from_secs(1))
    );

    // No time has passed: the third request is refused.
    let (status, headers, body) = api(&sim, &http, &t, Method::GET, "/api/v2/clients", None).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        body,
        json!({"statusCode":429,"error":"Too Many Requests","message":"Global limit has been reached","errorCode":"too_many_requests"})
    );
    assert_eq!(headers["x-auth0-simulator"], "true");
    assert_eq!(header_u64(&headers, "x-ratelimit-limit"), 2);
    assert_eq!(header_u64(&headers, "x-ratelimit-remaining"), 0);
    // One token comes back in 500 ms: Retry-After is that, in whole seconds (at least 1).
    assert_eq!(header_u64(&headers, "retry-after"), 1);
    let reset = header_u64(&headers, "x-ratelimit-reset");
    assert_eq!(reset, full_at(Duration::from_secs(1)));
    assert_eq!(sim.counters().rate_limited(), 1);

    // Hammering while limited does not consume tokens: after the advertised reset it works.
    for _ in 0..5 {
        let (status, _, _) = api(&sim, &http, &t, Method::GET, "/api/v2/clients", None).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    }
    assert_eq!(sim.counters().rate_limited(), 6);
    tokio::time::sleep(Duration::from_secs(reset).saturating_sub(epoch_now(&sim))).await;
    let (status, headers, _) = api(&sim, &http, &t, Method::GET, "/api/v2/clients", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(header_u64(&headers, "x-ratelimit-remaining"), 1);
}

#[tokio::test(start_paused = true)]
async fn a_429_does_not_consume_a_token() {
    // One token, refilled once per second: after the 429s the very first refill is usable.
    let sim = start(SimConfig {
        rate_limit: RateLimit {
            burst: 1,
            per_second: 1,
        },
        ..SimConfig::default()
    })
    .await;
    let http = http();
    let t = token(&sim, &http).await;
    let (status, _, _) = api(&sim, &http, &t, Method::GET, "/api/v2/clients", None).await;
    assert_eq!(status, StatusCode::OK);
    let started = Instant::now();
    let mut refused = 0;
    loop {
        let (status, headers, _) = api(&sim, &http, &t, Method::GET, "/api/v2/clients", None).await;
        if status == StatusCode::OK {
            break;
        }
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(header_u64(&headers, "retry-after"), 1);
        refused += 1;
        assert!(refused <= 10, "never recovered");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Polled every 100 ms, refused at 0, 100, ..., 900 ms, served at exactly 1 s. Had each 429
    // taken a token, the bucket would never have refilled.
    assert_eq!(refused, 10);
    assert_eq!(started.elapsed(), Duration::from_secs(1));
    assert_eq!(sim.counters().rate_limited(), refused);

    // Raising the limit at runtime refills the bucket.
    sim.set_rate_limit(RateLimit::ENTERPRISE);
    assert_eq!(sim.rate_limit(), RateLimit::ENTERPRISE);
    let (status, headers, _) = api(&sim, &http, &t, Method::GET, "/api/v2/clients", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(header_u64(&headers, "x-ratelimit-limit"), 50);
    assert_eq!(header_u64(&headers, "x-ratelimit-remaining"), 49);
}

// ---------------------------------------------------------------------------------------------
// Faults and counters
// ---------------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn error_share_is_plausible_and_shaped_like_auth0() {
    let sim = start(SimConfig {
        rate_limit: RateLimit::unlimited(),
        seed: Some(42),
        faults: Faults {
            error_rate: 0.5,
            ..Faults::default()
        },
        ..SimConfig::default()
    })
    .await;
    let http = http();
    // Faults apply to /api/v2 only: the token endpoint is unaffected.
    let t = token(&sim, &http).await;
    let n = 100;
    let mut errors = 0;
    for _ in 0..n {
        let (status, headers, body) =
            api(&sim, &http, &t, Method::GET, "/api/v2/clients", None).await;
        assert!(headers.contains_key("x-ratelimit-limit"));
        if status == StatusCode::SERVICE_UNAVAILABLE {
            errors += 1;
            assert_eq!(body["statusCode"], 503);
            assert_eq!(body["error"], "Service Unavailable");
            assert!(body["message"].is_string());
        } else {
            assert_eq!(status, StatusCode::OK);
        }
    }
    assert!((25..=75).contains(&errors), "{errors} of {n}");
    let c = sim.counters();
    assert_eq!(c.injected_errors(), errors);
    assert_eq!(c.get("GET /api/v2/clients"), n);

    sim.set_faults(Faults::none());
    let (status, _, _) = api(&sim, &http, &t, Method::GET, "/api/v2/clients", None).await;
    assert_eq!(status, StatusCode::OK);

    // With FaultScope::All the token endpoint fails too.
    sim.set_faults(Faults {
        error_rate: 1.0,
        scope: FaultScope::All,
        ..Faults::default()
    });
    let res = http
        .post(sim.token_url())
        .json(&json!({}))
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
}

/// `request` sent with the JSON `body`.
async fn send_json(request: reqwest::RequestBuilder, body: Value) -> reqwest::Response {
    request.json(&body).send().await.expect("request")
}

/// The JSON answer of a GET of `url`.
async fn get_json(http: &reqwest::Client, url: String) -> Value {
    http.get(url)
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json")
}

/// A POST creating the client `name`, as a raw request (a dropped connection is an error).
async fn post_client(t: &T, name: &str) -> reqwest::Result<reqwest::Response> {
    t.http
        .post(format!("{}/api/v2/clients", t.sim.base_url()))
        .bearer_auth(&t.token)
        .json(&json!({"name": name}))
        .send()
        .await
}

/// [`post_client`], the simulator failing it with `action` (once).
async fn post_client_failing(
    t: &T,
    name: &str,
    action: FailAction,
) -> reqwest::Result<reqwest::Response> {
    t.sim
        .fail_next(FailNext::new("POST", "/api/v2/clients", 1, action));
    post_client(t, name).await
}

#[tokio::test(start_paused = true)]
async fn dropped_connections_are_client_errors() {
    let t = T::new().await;
    let (sim, http) = (&t.sim, &t.http);
    let url = format!("{}/api/v2/clients", sim.base_url());

    sim.set_faults(Faults {
        drop_rate: 1.0,
        ..Faults::default()
    });
    let err = http
        .get(&url)
        .bearer_auth(&t.token)
        .send()
        .await
        .expect_err("the connection is closed without an answer");
    assert!(!err.is_timeout(), "{err:?}");
    assert!(err.status().is_none(), "{err:?}");
    sim.set_faults(Faults::none());
    assert_eq!(
        http.get(&url)
            .bearer_auth(&t.token)
            .send()
            .await
            .expect("ok")
            .status(),
        StatusCode::OK
    );

    // One-shot: the next POST is dropped before it is processed...
    assert!(
        post_client_failing(&t, "lost", FailAction::Drop)
            .await
            .is_err()
    );
    assert!(sim.clients().is_empty());
    // ... and after processing (the client exists, the caller never heard of it).
    assert!(
        post_client_failing(
            &t,
            "created but unanswered",
            FailAction::DropAfterProcessing
        )
        .await
        .is_err()
    );
    assert_eq!(sim.clients().len(), 1);
    assert!(sim.faults().fail_next.is_empty());
    // Then things are back to normal.
    let res = post_client(&t, "fine").await.expect("answered");
    assert_eq!(res.status(), StatusCode::CREATED);
    let c = sim.counters();
    assert_eq!(c.dropped(), 3);
    assert_eq!(c.get("POST /api/v2/clients"), 3);
}

#[tokio::test(start_paused = true)]
async fn fail_next_status_and_latency() {
    let t = T::new().await;
    let (sim, http) = (&t.sim, &t.http);
    let id = sim.insert_client(json!({"name": "x"}));
    let path = format!("/api/v2/clients/{id}");

    sim.fail_next(FailNext::new(
        "GET",
        "/api/v2/clients/{id}",
        2,
        FailAction::Status(500),
    ));
    for _ in 0..2 {
        let (status, body) = t.get(&path).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(body["statusCode"], 500);
    }
    let (status, _) = t.get(&path).await;
    assert_eq!(status, StatusCode::OK);

    sim.fail_next(FailNext::new(
        "GET",
        "/api/v2/clients/{id}",
        1,
        FailAction::Status(429),
    ));
    let (status, headers, body) = t.api(Method::GET, &path, None).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(body["errorCode"], "too_many_requests");
    assert!(headers.contains_key("retry-after"));
    assert_eq!(sim.counters().rate_limited(), 1);

    sim.set_faults(Faults {
        latency: Latency::Fixed(Duration::from_millis(150)),
        ..Faults::default()
    });
    let started = Instant::now();
    let (status, _) = t.get(&path).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(started.elapsed(), Duration::from_millis(150));
    // Faults apply to the Management API only (by default): the token endpoint is not delayed.
    let started = Instant::now();
    token(sim, http).await;
    assert_eq!(started.elapsed(), Duration::ZERO);
    // Concurrent requests are delayed side by side, not one after the other.
    let (a, b) = tokio::join!(
        t.api(Method::GET, &path, None),
        t.api(Method::GET, &path, None)
    );
    assert_eq!((a.0, b.0), (StatusCode::OK, StatusCode::OK));
    assert_eq!(started.elapsed(), Duration::from_millis(150));
}

#[tokio::test(start_paused = true)]
async fn counters_by_method_and_template() {
    let t = T::new().await;
    let sim = &t.sim;
    let (_, created) = t.post("/api/v2/clients", json!({"name": "counted"})).await;
    let id = created["client_id"].as_str().expect("id").to_owned();
    let path = format!("/api/v2/clients/{id}");
    t.api(Method::GET, &path, None).await;
    t.api(Method::GET, "/api/v2/clients/other", None).await;
    t.api(Method::PATCH, &path, Some(json!({"description": "d"})))
        .await;
    t.api(Method::DELETE, &path, None).await;

    let c = sim.counters();
    assert_eq!(c.get("POST /oauth/token"), 1);
    assert_eq!(c.get("POST /api/v2/clients"), 1);
    assert_eq!(c.get("GET /api/v2/clients/{id}"), 2);
    assert_eq!(c.get("PATCH /api/v2/clients/{id}"), 1);
    assert_eq!(c.get("DELETE /api/v2/clients/{id}"), 1);
    assert_eq!(c.total(), 6);
    assert_eq!(c.writes(), 3);
    assert_eq!(c.rate_limited(), 0);

    // Back doors are not counted.
    sim.modify_client(&id, json!({"name": "nope"}));
    sim.insert_client(json!({"name": "silent"}));
    assert_eq!(sim.counters().total(), 6);

    sim.reset_counters();
    assert_eq!(sim.counters().total(), 0);

    // Tests can await a count instead of sleeping.
    let waiter = sim.wait_for_counters(|c| c.get("GET /api/v2/clients") >= 1);
    let request = t.api(Method::GET, "/api/v2/clients", None);
    let ((), (status, _, _)) = tokio::time::timeout(Duration::from_secs(20), async {
        tokio::join!(waiter, request)
    })
    .await
    .expect("counter reached");
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test(start_paused = true)]
async fn loopback_http_does_not_advance_paused_time() {
    // The property every test here relies on (see `auth0_sim::clock`): HTTP over loopback to a
    // simulator on the test's own runtime never leaves the runtime idle, so the paused clock
    // does not jump to the next timer (here: every request's 20 s timeout) while a request is in
    // flight. Sequential and concurrent requests, over new and pooled connections.
    let sim = sim().await;
    let started = Instant::now();
    let t = token(&sim, &http()).await;
    let pooled = http();
    for _ in 0..50 {
        let (status, _, _) = api(&sim, &pooled, &t, Method::GET, "/api/v2/clients", None).await;
        assert_eq!(status, StatusCode::OK);
        let fresh = http();
        let (status, _, _) = api(&sim, &fresh, &t, Method::GET, "/api/v2/clients", None).await;
        assert_eq!(status, StatusCode::OK);
    }
    let concurrent = (0..20).map(|_| api(&sim, &pooled, &t, Method::GET, "/api/v2/clients", None));
    for (status, _, _) in futures::future::join_all(concurrent).await {
        assert_eq!(status, StatusCode::OK);
    }
    assert_eq!(started.elapsed(), Duration::ZERO);
    assert_eq!(sim.counters().get("GET /api/v2/clients"), 120);
}

// ---------------------------------------------------------------------------------------------
// Back doors
// ---------------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn out_of_band_changes_are_visible_through_the_api() {
    let t = T::new().await;
    let sim = &t.sim;
    let id = sim.insert_client(json!({
        "name": "dash",
        "callbacks": ["https://a.example"],
        "client_metadata": {"owner": "ns/a", "extra": "x"}
    }));
    assert_eq!(id.len(), 32);
    assert!(sim.client(&id).expect("inserted")["client_secret"].is_string());

    assert!(sim.modify_client(
        &id,
        json!({"callbacks": [], "client_metadata": {"extra": null, "drift": "y"}})
    ));
    let (_, body) = t.get(&format!("/api/v2/clients/{id}")).await;
    assert_eq!(body["callbacks"], json!([]));
    assert_eq!(
        body["client_metadata"],
        json!({"owner": "ns/a", "drift": "y"})
    );
    assert!(!sim.modify_client("nope", json!({"name": "x"})));

    let fixed = sim.insert_client(json!({"client_id": "fixedid", "name": "fixed"}));
    assert_eq!(fixed, "fixedid");
    assert_eq!(sim.clients().len(), 2);
    assert!(sim.remove_client(&id));
    assert!(!sim.remove_client(&id));
    let (status, _) = t.get(&format!("/api/v2/clients/{id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test(start_paused = true)]
async fn http_back_door_under_sim_prefix() {
    let sim = sim().await;
    let http = http();
    let base = sim.base_url();
    let res = send_json(
        http.post(format!("{base}/__sim/clients")),
        json!({"name": "via http"}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(res.headers()["x-auth0-simulator"], "true");
    let id = res.json::<Value>().await.expect("json")["client_id"]
        .as_str()
        .expect("id")
        .to_owned();
    let all: Value = get_json(&http, format!("{base}/__sim/clients")).await;
    assert_eq!(all[0]["client_id"], id);
    assert!(all[0]["client_secret"].is_string());

    let res = send_json(http.put(format!("{base}/__sim/faults")), json!({"error_rate": 1.0, "fail_next": [{"method": "GET", "path": "/x", "count": 1, "action": "drop"}]})).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(sim.faults().error_rate, 1.0);
    assert_eq!(sim.faults().fail_next[0].action, FailAction::Drop);
    let res = send_json(
        http.put(format!("{base}/__sim/faults")),
        json!({"error_rate": 3.0}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);

    let res = send_json(
        http.put(format!("{base}/__sim/rate-limit")),
        json!({"burst": 10, "per_second": 2}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(sim.rate_limit(), RateLimit::ENTERPRISE_NON_PRODUCTION);

    let minted: Value = send_json(
        http.post(format!("{base}/__sim/jwt")),
        json!({"claims": {"sub": "dev"}}),
    )
    .await
    .json()
    .await
    .expect("json");
    let header =
        jsonwebtoken::decode_header(minted["token"].as_str().expect("token")).expect("jwt");
    assert_eq!(header.kid, Some(sim.current_kid()));

    let counters: Value = get_json(&http, format!("{base}/__sim/counters")).await;
    // The back door itself is never counted.
    assert_eq!(counters["total"], 0);
    assert_eq!(sim.counters().total(), 0);
}

// ---------------------------------------------------------------------------------------------
// OIDC side
// ---------------------------------------------------------------------------------------------

async fn fetch_jwks(sim: &SimHandle, http: &reqwest::Client) -> JwkSet {
    let res = http.get(sim.jwks_url()).send().await.expect("request");
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["x-auth0-simulator"], "true");
    res.json().await.expect("a JWKS")
}

fn verify(set: &JwkSet, token: &str, issuer: &str) -> Result<Value, String> {
    let header = jsonwebtoken::decode_header(token).map_err(|e| e.to_string())?;
    let kid = header.kid.ok_or("no kid")?;
    let jwk = set.find(&kid).ok_or("unknown kid")?;
    let key = DecodingKey::from_jwk(jwk).map_err(|e| e.to_string())?;
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_issuer(&[issuer]);
    validation.set_audience(&["nexus-api"]);
    jsonwebtoken::decode::<Value>(token, &key, &validation)
        .map(|d| d.claims)
        .map_err(|e| e.to_string())
}

#[tokio::test(start_paused = true)]
async fn minted_tokens_verify_against_the_served_jwks() {
    let sim = sim().await;
    let http = http();

    let discovery: Value = http
        .get(format!(
            "{}/.well-known/openid-configuration",
            sim.base_url()
        ))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    assert_eq!(discovery["issuer"], sim.issuer());
    assert_eq!(discovery["jwks_uri"], sim.jwks_url());
    assert_eq!(sim.issuer(), format!("{}/", sim.base_url()));

    let set = fetch_jwks(&sim, &http).await;
    assert_eq!(set.keys.len(), 1);
    assert_eq!(set.keys[0].common.key_id, Some(sim.current_kid()));

    let exp = epoch_now(&sim).as_secs() + 600;
    let claims = json!({
        "iss": sim.issuer(),
        "aud": "nexus-api",
        "sub": "user-1",
        "exp": exp,
        "nbf": epoch_now(&sim).as_secs() - 10,
        "permissions": ["client.write"],
        "https://nexus.dev/tenant": "acme"
    });
    let good = sim.mint_jwt(claims.clone());
    let verified = verify(&set, &good, &sim.issuer()).expect("verifies");
    assert_eq!(verified, claims);

    // Unknown key: the kid is not published.
    let unknown = sim.mint_jwt_with_unknown_key(claims.clone());
    assert_eq!(
        verify(&set, &unknown, &sim.issuer()),
        Err("unknown kid".into())
    );
    // Published kid, wrong key: the signature check fails.
    let forged = sim.mint_jwt_with_forged_kid(claims.clone());
    let err = verify(&set, &forged, &sim.issuer()).expect_err("bad signature");
    assert!(err.to_lowercase().contains("signature"), "{err}");
    // Expired and wrong-issuer tokens are the verifier's business, but the claims are exact.
    let expired = sim.mint_jwt(json!({"iss": sim.issuer(), "aud": "nexus-api", "exp": 1000}));
    assert!(verify(&set, &expired, &sim.issuer()).is_err());
    let other_issuer =
        sim.mint_jwt(json!({"iss": "https://evil/", "aud": "nexus-api", "exp": exp}));
    assert!(verify(&set, &other_issuer, &sim.issuer()).is_err());

    // Rotation: the new key signs, the old one stays published until removed.
    let old_kid = sim.current_kid();
    let new_kid = sim.rotate_key();
    assert_ne!(old_kid, new_kid);
    let set = fetch_jwks(&sim, &http).await;
    assert_eq!(set.keys.len(), 2);
    let rotated = sim.mint_jwt(claims.clone());
    assert_eq!(
        jsonwebtoken::decode_header(&rotated).expect("header").kid,
        Some(new_kid.clone())
    );
    assert!(verify(&set, &rotated, &sim.issuer()).is_ok());
    assert!(verify(&set, &good, &sim.issuer()).is_ok());
    let by_old = sim
        .mint_jwt_with_kid(&old_kid, claims.clone())
        .expect("published");
    assert!(verify(&set, &by_old, &sim.issuer()).is_ok());

    assert!(sim.remove_key(&old_kid));
    let set = fetch_jwks(&sim, &http).await;
    assert_eq!(set.keys.len(), 1);
    assert_eq!(
        verify(&set, &good, &sim.issuer()),
        Err("unknown kid".into())
    );
    assert!(sim.mint_jwt_with_kid(&old_kid, claims).is_none());
}

#[tokio::test(start_paused = true)]
async fn every_answer_is_marked_and_unknown_routes_are_404() {
    let sim = sim().await;
    let http = http();
    for (method, path, status) in [
        (Method::GET, "/api/v2/users", StatusCode::NOT_FOUND),
        (Method::GET, "/nothing-here", StatusCode::NOT_FOUND),
        (
            Method::PUT,
            "/api/v2/clients",
            StatusCode::METHOD_NOT_ALLOWED,
        ),
    ] {
        let res = http
            .request(method, format!("{}{path}", sim.base_url()))
            .send()
            .await
            .expect("request");
        assert_eq!(res.status(), status, "{path}");
        assert_eq!(res.headers()["x-auth0-simulator"], "true");
    }
    sim.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn shutdown_stops_serving_and_two_tenants_are_independent() {
    let a = sim().await;
    let b = start(SimConfig {
        domain: "b.auth0.local".into(),
        rate_limit: RateLimit::unlimited(),
        ..SimConfig::default()
    })
    .await;
    assert_ne!(a.addr(), b.addr());
    assert_eq!(a.domain(), "sim.auth0.local");
    assert_eq!(b.audience(), "https://b.auth0.local/api/v2/");
    a.insert_client(json!({"name": "only in a"}));
    assert!(b.clients().is_empty());

    let http = http();
    let url = a.base_url();
    a.shutdown().await;
    assert!(
        http.get(format!("{url}/.well-known/jwks.json"))
            .send()
            .await
            .is_err()
    );
    let res = http.get(b.jwks_url()).send().await.expect("b still up");
    assert_eq!(res.status(), StatusCode::OK);

    let err = sim::start(
        SimConfig {
            m2m_clients: vec![],
            ..SimConfig::default()
        },
        loopback(),
    )
    .await
    .expect_err("no credentials");
    assert!(matches!(err, sim::SimError::Config(_)));
    let err = sim::start(SimConfig::default(), b.addr())
        .await
        .expect_err("port taken");
    assert!(matches!(err, sim::SimError::Bind { .. }));
}
