//! Integration tests of the Auth0 Management API client against small loopback HTTP stubs and
//! the embedded simulator.
//!
//! Every test runs on tokio's paused clock (the pattern is described in `auth0_sim::clock`): the
//! client's waits (rate limit, 429 pauses, back-offs, request timeouts) take no real time and are
//! asserted exactly, and the stubs put epoch values from the same derived wall clock
//! ([`SimClock`]) in their headers that the client reads them with.

mod common;

use std::collections::HashSet;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};

use auth0_mgmt::{
    Auth0Client, Auth0Error, Auth0Metrics, Auth0Registry, ClientPage, Priority, SecretString,
    TenantClient, TenantConfig, default_http_client,
};
use auth0_sim::SimClock;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};
use tokio::sync::Notify;
use tokio::time::Instant;

const DOMAIN: &str = "acme.test.auth0.com";
const M2M_ID: &str = "m2m-client-id";
const M2M_SECRET: &str = "M2M-SECRET-do-not-leak-4f9a";
const TOKEN_PREFIX: &str = "ACCESS-TOKEN-do-not-leak-";

/// One request the stub received on /api/v2.
#[derive(Clone, Debug)]
struct Seen {
    method: Method,
    path: String,
    query: String,
    at: Instant,
    body: String,
}

/// What the stub answers.
struct Reply {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: String,
    delay: Duration,
}

impl Reply {
    fn json(status: u16, body: Value) -> Self {
        Reply {
            status,
            headers: vec![],
            body: body.to_string(),
            delay: Duration::ZERO,
        }
    }
    fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }
    fn delayed(mut self, d: Duration) -> Self {
        self.delay = d;
        self
    }
}

type Responder = Box<dyn FnMut(&Seen, usize) -> Reply + Send>;

struct Stub {
    token_calls: AtomicUsize,
    token_bodies: Mutex<Vec<Value>>,
    /// Token endpoint answers with this (status, body) instead of a token when set.
    token_failure: Mutex<Option<(u16, Value)>>,
    /// Tokens that get 401 "Expired token" from /api/v2.
    revoked: Mutex<HashSet<String>>,
    revoke_all: Mutex<bool>,
    seen: Mutex<Vec<Seen>>,
    responder: Mutex<Responder>,
    /// Notified after every /api/v2 answer.
    answered: Notify,
}

impl Stub {
    fn api_calls(&self) -> usize {
        self.seen.lock().unwrap().len()
    }
    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
    fn tokens(&self) -> usize {
        self.token_calls.load(Ordering::SeqCst)
    }
    /// The first token the stub issued expires early: the API answers 401 to it.
    fn revoke_first_token(&self) {
        self.revoked
            .lock()
            .unwrap()
            .insert(format!("{TOKEN_PREFIX}1"));
    }
}

async fn token_handler(State(stub): State<Arc<Stub>>, body: Bytes) -> Response {
    let n = stub.token_calls.fetch_add(1, Ordering::SeqCst) + 1;
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    stub.token_bodies.lock().unwrap().push(body.clone());
    if let Some((status, err)) = stub.token_failure.lock().unwrap().clone() {
        return (StatusCode::from_u16(status).unwrap(), axum::Json(err)).into_response();
    }
    if body["client_secret"] != M2M_SECRET {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"error":"access_denied","error_description":"Unauthorized"})),
        )
            .into_response();
    }
    axum::Json(json!({
        "access_token": format!("{TOKEN_PREFIX}{n}"),
        "expires_in": 86400,
        "scope": "read:clients create:clients update:clients delete:clients",
        "token_type": "Bearer",
    }))
    .into_response()
}

async fn api_handler(
    State(stub): State<Arc<Stub>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let token = auth.strip_prefix("Bearer ").unwrap_or("").to_owned();
    let seen = Seen {
        method,
        path: uri.path().to_owned(),
        query: uri.query().unwrap_or("").to_owned(),
        at: Instant::now(),
        body: String::from_utf8_lossy(&body).into_owned(),
    };
    let index = {
        let mut s = stub.seen.lock().unwrap();
        s.push(seen.clone());
        s.len() - 1
    };
    let expired = !token.starts_with(TOKEN_PREFIX)
        || *stub.revoke_all.lock().unwrap()
        || stub.revoked.lock().unwrap().contains(&token);
    let reply = if expired {
        Reply::json(
            401,
            json!({"statusCode":401,"error":"Unauthorized","message":"Expired token","attributes":{"error":"Expired token"}}),
        )
    } else {
        (stub.responder.lock().unwrap())(&seen, index)
    };
    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }
    let mut resp = (
        StatusCode::from_u16(reply.status).unwrap(),
        [("content-type", "application/json")],
        reply.body,
    )
        .into_response();
    for (k, v) in reply.headers {
        resp.headers_mut().insert(k, v.parse().unwrap());
    }
    stub.answered.notify_waiters();
    resp
}

struct Harness {
    stub: Arc<Stub>,
    registry: Auth0Registry,
    metrics: Auth0Metrics,
    client: Arc<TenantClient>,
    addr: SocketAddr,
}

impl Harness {
    /// `GET /api/v2/clients/{id}` at normal priority, as most tests call it.
    async fn get(&self, id: &str) -> Result<Auth0Client, Auth0Error> {
        self.client.get_client(id, Priority::Normal).await
    }
}

fn config(addr: SocketAddr, rps: u32, burst: u32) -> TenantConfig {
    TenantConfig {
        tenant: "acme".into(),
        domain: DOMAIN.into(),
        base_url: format!("http://{addr}"),
        client_id: M2M_ID.into(),
        client_secret: SecretString::new(M2M_SECRET),
        requests_per_second: rps,
        burst,
    }
}

async fn harness_with(
    rps: u32,
    burst: u32,
    timeout: Duration,
    responder: impl FnMut(&Seen, usize) -> Reply + Send + 'static,
) -> Harness {
    let stub = Arc::new(Stub {
        token_calls: AtomicUsize::new(0),
        token_bodies: Mutex::default(),
        token_failure: Mutex::default(),
        revoked: Mutex::default(),
        revoke_all: Mutex::new(false),
        seen: Mutex::default(),
        responder: Mutex::new(Box::new(responder)),
        answered: Notify::new(),
    });
    let app = Router::new()
        .route("/oauth/token", post(token_handler))
        .fallback(api_handler)
        .with_state(Arc::clone(&stub));
    let addr = common::serve(app).await;
    let metrics = Auth0Metrics::new();
    let registry = Auth0Registry::new(default_http_client(timeout).unwrap(), metrics.clone());
    let client = registry.tenant(config(addr, rps, burst));
    Harness {
        stub,
        registry,
        metrics,
        client,
        addr,
    }
}

async fn harness(responder: impl FnMut(&Seen, usize) -> Reply + Send + 'static) -> Harness {
    harness_with(50, 50, Duration::from_secs(10), responder).await
}

/// The current UNIX epoch second on the wall clock that follows tokio's (paused) clock.
fn epoch_secs() -> u64 {
    SimClock::start()
        .wall()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Whether two durations agree to within a millisecond: the client's wall clock and the test's
/// are derived from tokio's clock the same way, but anchored by reading the system and monotonic
/// clocks at different moments, which makes them differ by microseconds.
fn close(a: Duration, b: Duration) -> bool {
    a.abs_diff(b) < Duration::from_millis(1)
}

/// Time from now, on that wall clock, until the epoch second `secs`.
fn until_epoch_second(secs: u64) -> Duration {
    (UNIX_EPOCH + Duration::from_secs(secs))
        .duration_since(SimClock::start().wall())
        .unwrap()
}

fn client_json(id: &str) -> Value {
    json!({"client_id": id, "name": format!("app {id}"), "app_type": "spa", "is_first_party": true})
}

/// The client secret an answer carried.
fn secret_of(client: &Auth0Client) -> &str {
    client
        .client_secret
        .as_ref()
        .expect("a client secret")
        .expose()
}

/// Auth0's 429 answer (its body as recorded; headers added by the caller).
fn too_many_requests() -> Reply {
    Reply::json(
        429,
        json!({"statusCode":429,"error":"Too Many Requests","message":"Global limit has been reached","errorCode":"too_many_requests"}),
    )
}

fn ok_client(seen: &Seen, _: usize) -> Reply {
    let id = seen.path.rsplit('/').next().unwrap_or("x").to_owned();
    Reply::json(200, client_json(&id))
}

/// A stub answering `first` to the first API call, then [`ok_client`].
async fn first_then_ok(first: Reply) -> Harness {
    let mut first = Some(first);
    harness(move |seen: &Seen, i| match first.take() {
        Some(reply) if i == 0 => reply,
        _ => ok_client(seen, i),
    })
    .await
}

/// A tenant client whose Auth0 address nothing listens on.
fn client_of_a_dead_address() -> Arc<TenantClient> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = listener.local_addr().unwrap();
    drop(listener);
    let reg = Auth0Registry::new(
        default_http_client(Duration::from_secs(2)).unwrap(),
        Auth0Metrics::new(),
    );
    reg.tenant(config(dead, 5, 5))
}

fn metrics_text(m: &Auth0Metrics) -> String {
    let mut reg = prometheus_client::registry::Registry::default();
    m.register(&mut reg);
    let mut out = String::new();
    prometheus_client::encoding::text::encode(&mut out, &reg).unwrap();
    out
}

#[tokio::test(start_paused = true)]
async fn token_is_fetched_once_for_many_requests() {
    let h = harness(ok_client).await;
    let mut tasks = Vec::new();
    for i in 0..8 {
        let c = Arc::clone(&h.client);
        tasks.push(tokio::spawn(async move {
            c.get_client(&format!("id{i}"), Priority::Normal).await
        }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    for i in 0..4 {
        h.client
            .get_client(&format!("seq{i}"), Priority::Normal)
            .await
            .unwrap();
    }
    h.client.verify_credentials().await.unwrap();
    assert_eq!(h.stub.tokens(), 1, "one token for all requests");
    assert_eq!(h.stub.api_calls(), 12);
    let body = h.stub.token_bodies.lock().unwrap()[0].clone();
    assert_eq!(body["grant_type"], "client_credentials");
    assert_eq!(body["client_id"], M2M_ID);
    assert_eq!(body["audience"], format!("https://{DOMAIN}/api/v2/"));
}

#[tokio::test(start_paused = true)]
async fn client_id_is_percent_encoded_and_fields_decoded() {
    let h = harness(|_seen: &Seen, _| {
        Reply::json(
            200,
            json!({"client_id":"a/b c","name":"n","client_secret":"S3cret-client-value","client_metadata":{"k":"v"},"custom_login_page_on":true}),
        )
    })
    .await;
    let c = h.get("a/b c?x#y").await.unwrap();
    assert_eq!(h.stub.seen()[0].path, "/api/v2/clients/a%2Fb%20c%3Fx%23y");
    assert_eq!(c.client_id, "a/b c");
    assert_eq!(secret_of(&c), "S3cret-client-value");
    assert_eq!(c.extra["custom_login_page_on"], true);
    assert!(!format!("{c:?}").contains("S3cret-client-value"));
    // serialising keeps unknown fields (round trip)
    let back = serde_json::to_value(&c).unwrap();
    assert_eq!(back["custom_login_page_on"], true);
    assert_eq!(back["client_metadata"]["k"], "v");
}

#[tokio::test(start_paused = true)]
async fn expired_token_is_refreshed_once_and_request_retried() {
    let h = harness(ok_client).await;
    h.client.verify_credentials().await.unwrap();
    h.stub.revoke_first_token();
    let c = h.get("abc").await.unwrap();
    assert_eq!(c.client_id, "abc");
    assert_eq!(h.stub.tokens(), 2);
    assert_eq!(h.stub.api_calls(), 2);
    // the new token is cached
    h.get("abc").await.unwrap();
    assert_eq!(h.stub.tokens(), 2);
}

#[tokio::test(start_paused = true)]
async fn second_401_is_permanent() {
    let h = harness(ok_client).await;
    *h.stub.revoke_all.lock().unwrap() = true;
    let err = h.get("abc").await.unwrap_err();
    assert_eq!(err.status(), Some(401));
    assert!(!err.is_transient());
    assert!(
        matches!(err, Auth0Error::Api { status: 401, .. }),
        "{err:?}"
    );
    assert_eq!(h.stub.tokens(), 2, "one refresh only");
    assert_eq!(h.stub.api_calls(), 2, "one retry only");
}

#[tokio::test(start_paused = true)]
async fn token_endpoint_errors_are_typed_and_spaced() {
    let h = harness(ok_client).await;
    *h.stub.token_failure.lock().unwrap() = Some((
        401,
        json!({"error":"access_denied","error_description":"Unauthorized"}),
    ));
    let err = h.get("abc").await.unwrap_err();
    match &err {
        Auth0Error::Token {
            status,
            error,
            description,
        } => {
            assert_eq!(*status, Some(401));
            assert_eq!(error, "access_denied");
            assert_eq!(description, "Unauthorized");
        }
        other => panic!("expected Token error, got {other:?}"),
    }
    assert!(!err.is_transient());
    assert_eq!(err.error_code(), Some("access_denied"));
    // immediately again: the failure is replayed, the endpoint is not hammered
    for _ in 0..5 {
        let again = h.client.verify_credentials().await.unwrap_err();
        assert!(matches!(
            again,
            Auth0Error::Token {
                status: Some(401),
                ..
            }
        ));
    }
    assert_eq!(h.stub.tokens(), 1);
    assert_eq!(h.stub.api_calls(), 0);

    // 403 unauthorized_client, after the back-off (1 s after the first failure)
    *h.stub.token_failure.lock().unwrap() = Some((
        403,
        json!({"error":"unauthorized_client","error_description":"Grant type 'client_credentials' not allowed for the client."}),
    ));
    tokio::time::sleep(Duration::from_millis(999)).await;
    let err = h.client.verify_credentials().await.unwrap_err();
    assert_eq!(err.error_code(), Some("access_denied"), "still replayed");
    assert_eq!(h.stub.tokens(), 1);
    tokio::time::sleep(Duration::from_millis(1)).await;
    let err = h.client.verify_credentials().await.unwrap_err();
    assert_eq!(err.error_code(), Some("unauthorized_client"));
    assert_eq!(h.stub.tokens(), 2);
    // the second failure in a row is spaced by 2 s
    tokio::time::sleep(Duration::from_millis(1999)).await;
    h.client.verify_credentials().await.unwrap_err();
    assert_eq!(h.stub.tokens(), 2);
    tokio::time::sleep(Duration::from_millis(1)).await;
    h.client.verify_credentials().await.unwrap_err();
    assert_eq!(h.stub.tokens(), 3);
}

#[tokio::test(start_paused = true)]
async fn too_many_requests_pauses_every_caller_then_succeeds() {
    let h = first_then_ok(
        too_many_requests()
            .header("retry-after", "1")
            .header("x-ratelimit-limit", "2")
            .header("x-ratelimit-remaining", "0"),
    )
    .await;
    let answered = h.stub.answered.notified();
    let first = {
        let c = Arc::clone(&h.client);
        tokio::spawn(async move { c.get_client("first", Priority::Normal).await })
    };
    answered.await; // the 429 went out
    // give the client a moment to process the answer (and pause the tenant)
    while h.client.throttled_until().is_none() {
        tokio::task::yield_now().await;
    }
    let t429 = h.stub.seen()[0].at;
    let others: Vec<_> = (0..3)
        .map(|i| {
            let c = Arc::clone(&h.client);
            tokio::spawn(async move { c.get_client(&format!("o{i}"), Priority::Normal).await })
        })
        .collect();
    assert_eq!(first.await.unwrap().unwrap().client_id, "first");
    for o in others {
        o.await.unwrap().unwrap();
    }
    let seen = h.stub.seen();
    assert_eq!(seen.len(), 5, "429 + retried first + 3 others");
    // Nobody is sent during the 1 s pause; right after it one call goes, then the 50/s rate.
    let gaps: Vec<Duration> = seen[1..].iter().map(|s| s.at - t429).collect();
    assert_eq!(
        gaps,
        [1000, 1020, 1040, 1060].map(Duration::from_millis),
        "{seen:?}"
    );
    assert_eq!(h.client.throttled_until(), None);
    let text = metrics_text(&h.metrics);
    assert!(
        text.contains(r#"nexus_auth0_429_total{tenant="acme"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"nexus_auth0_requests_total{tenant="acme",method="GET",status="429"} 1"#)
    );
    assert!(
        text.contains(r#"nexus_auth0_requests_total{tenant="acme",method="GET",status="200"} 4"#)
    );
    assert!(
        text.contains("nexus_auth0_rate_limit_waits_total{tenant=\"acme\"} 4"),
        "{text}"
    );
    assert!(text.contains("nexus_auth0_rate_limit_wait_seconds_total"));
    assert!(text.contains("nexus_auth0_request_duration_seconds_bucket"));
}

#[tokio::test(start_paused = true)]
async fn rate_limited_beyond_budget_returns_retry_after() {
    let h = harness(|_: &Seen, _| too_many_requests().header("retry-after", "120")).await;
    let t0 = Instant::now();
    let err = h
        .client
        .patch_client("abc", &json!({"name":"x"}), Priority::Critical)
        .await
        .unwrap_err();
    assert_eq!(
        t0.elapsed(),
        Duration::ZERO,
        "did not wait for a pause beyond the budget"
    );
    let Auth0Error::RateLimited { retry_after } = err else {
        panic!("expected RateLimited, got {err:?}");
    };
    assert_eq!(retry_after, Duration::from_secs(120));
    assert!(err_is_transient(retry_after));
    // every other caller of the tenant is held back without touching Auth0
    let until = h.client.throttled_until().expect("tenant paused");
    assert_eq!(until, t0 + Duration::from_secs(120));
    tokio::time::sleep(Duration::from_secs(20)).await;
    let err = h
        .client
        .get_client("zzz", Priority::Critical)
        .await
        .unwrap_err();
    assert_eq!(err.retry_after(), Some(Duration::from_secs(100)));
    assert_eq!(err.status(), Some(429));
    assert_eq!(h.stub.api_calls(), 1);
    let text = metrics_text(&h.metrics);
    assert!(
        text.contains(r#"nexus_auth0_throttled{tenant="acme"} 1"#),
        "{text}"
    );
}

fn err_is_transient(retry_after: Duration) -> bool {
    Auth0Error::RateLimited { retry_after }.is_transient()
}

#[tokio::test(start_paused = true)]
async fn rate_limit_reset_header_is_used_without_retry_after() {
    let reset = epoch_secs() + 100;
    let h = harness(move |_: &Seen, _| {
        too_many_requests()
            .header("x-ratelimit-limit", "10")
            .header("x-ratelimit-remaining", "0")
            .header("x-ratelimit-reset", reset.to_string())
    })
    .await;
    let err = h.get("a").await.unwrap_err();
    // The pause lasts until the reset epoch second: 100 s from the whole second the stub read,
    // less the fraction of that second already gone.
    let ra = err.retry_after().expect("RateLimited");
    assert!(close(ra, until_epoch_second(reset)), "{ra:?}");
    assert!(ra > Duration::from_secs(99), "{ra:?}");
    assert_eq!(h.stub.api_calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn remaining_zero_pauses_until_reset() {
    let reset = epoch_secs() + 2;
    let h = harness(move |seen: &Seen, i| {
        let r = ok_client(seen, i);
        if i == 0 {
            r.header("x-ratelimit-remaining", "0")
                .header("x-ratelimit-reset", reset.to_string())
        } else {
            r.header("x-ratelimit-remaining", "5")
        }
    })
    .await;
    h.get("a").await.unwrap();
    // Without x-ratelimit-limit the bucket is taken to hold one token: the pause lasts until the
    // reset (tokio's timers round it up to the next millisecond).
    let pause = until_epoch_second(reset);
    let until = h.client.throttled_until().expect("paused");
    assert!(close(until - Instant::now(), pause), "{until:?}");
    h.get("b").await.unwrap();
    let seen = h.stub.seen();
    let gap = seen[1].at - seen[0].at;
    assert!(
        close(gap, pause) || close(gap, pause + Duration::from_millis(1)),
        "{gap:?} vs {pause:?}"
    );
    assert!(gap > Duration::from_secs(1), "{gap:?}");
    assert_eq!(h.client.throttled_until(), None);
}

#[tokio::test(start_paused = true)]
async fn bad_request_keeps_error_code_and_message() {
    let h = harness(|_: &Seen, _| {
        Reply::json(
            400,
            json!({"statusCode":400,"error":"Bad Request","message":"Payload validation error: 'String is too long (141 chars), maximum 140' on property description.","errorCode":"invalid_body"}),
        )
    })
    .await;
    let err = h
        .client
        .create_client(&json!({"name":"x","description":"y"}), Priority::Critical)
        .await
        .unwrap_err();
    match &err {
        Auth0Error::Api {
            status,
            error,
            error_code,
            message,
        } => {
            assert_eq!(*status, 400);
            assert_eq!(error, "Bad Request");
            assert_eq!(error_code.as_deref(), Some("invalid_body"));
            assert!(message.starts_with("Payload validation error"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        err.to_string(),
        "Auth0 answered 400 invalid_body: Payload validation error: 'String is too long (141 chars), maximum 140' on property description."
    );
    assert!(!err.is_transient());
    assert!(!err.is_not_found());
    assert_eq!(err.error_code(), Some("invalid_body"));
    assert_eq!(h.stub.api_calls(), 1);
    let seen = &h.stub.seen()[0];
    assert_eq!(seen.method, Method::POST);
    assert_eq!(seen.path, "/api/v2/clients");
    assert_eq!(
        serde_json::from_str::<Value>(&seen.body).unwrap()["description"],
        "y"
    );
}

#[tokio::test(start_paused = true)]
async fn server_errors_are_transient_and_only_idempotent_calls_are_retried() {
    let h = harness(|_: &Seen, _| {
        Reply::json(
            503,
            json!({"statusCode":503,"error":"Service Unavailable","message":"try later"}),
        )
    })
    .await;
    // POST create: not retried
    let err = h
        .client
        .create_client(&json!({"name":"x"}), Priority::Critical)
        .await
        .unwrap_err();
    assert!(err.is_transient());
    assert_eq!(err.status(), Some(503));
    assert_eq!(h.stub.api_calls(), 1);
    // rotate: not retried
    h.client
        .rotate_secret("abc", Priority::Critical)
        .await
        .unwrap_err();
    assert_eq!(h.stub.api_calls(), 2);
    // GET: retried twice
    let err = h.get("abc").await.unwrap_err();
    assert!(err.is_transient());
    assert_eq!(h.stub.api_calls(), 5);
}

#[tokio::test(start_paused = true)]
async fn server_error_then_success_on_patch() {
    let h = first_then_ok(Reply::json(
        500,
        json!({"statusCode":500,"error":"Internal Server Error","message":"oops"}),
    ))
    .await;
    let c = h
        .client
        .patch_client(
            "abc",
            &json!({"client_metadata":{"gone":null}}),
            Priority::Normal,
        )
        .await
        .unwrap();
    assert_eq!(c.client_id, "abc");
    let seen = h.stub.seen();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[1].method, Method::PATCH);
    assert_eq!(
        serde_json::from_str::<Value>(&seen[1].body).unwrap(),
        json!({"client_metadata":{"gone":null}})
    );
}

#[tokio::test(start_paused = true)]
async fn transport_errors_are_transient_and_print_no_url() {
    // a timeout
    let h = harness_with(50, 50, Duration::from_millis(300), |seen: &Seen, i| {
        ok_client(seen, i).delayed(Duration::from_secs(3))
    })
    .await;
    h.client.verify_credentials().await.unwrap();
    let t0 = Instant::now();
    let err = h
        .client
        .create_client(&json!({"name":"x"}), Priority::Critical)
        .await
        .unwrap_err();
    // reqwest's timeout is a tokio timer: exactly the configured 300 ms of (virtual) time.
    assert_eq!(t0.elapsed(), Duration::from_millis(300));
    assert!(matches!(err, Auth0Error::Transport { .. }), "{err:?}");
    assert!(err.is_transient());
    assert!(err.to_string().contains("timeout"), "{err}");
    assert!(!err.to_string().contains("127.0.0.1"), "{err}");
    assert_eq!(h.stub.api_calls(), 1, "POST is not retried");
    let text = metrics_text(&h.metrics);
    assert!(
        text.contains(
            r#"nexus_auth0_requests_total{tenant="acme",method="POST",status="error"} 1"#
        ),
        "{text}"
    );

    // nothing listening
    let c = client_of_a_dead_address();
    let err = c.verify_credentials().await.unwrap_err();
    assert!(matches!(err, Auth0Error::Transport { .. }), "{err:?}");
    assert!(err.is_transient());
    // replayed during the back-off, still transient
    let err = c.get_client("x", Priority::Normal).await.unwrap_err();
    assert!(err.is_transient(), "{err:?}");
}

#[tokio::test(start_paused = true)]
async fn delete_treats_404_as_done() {
    let h = harness(|seen: &Seen, _| {
        if seen.path.ends_with("/gone") {
            Reply::json(
                404,
                json!({"statusCode":404,"error":"Not Found","message":"The client does not exist","errorCode":"inexistent_client"}),
            )
        } else {
            Reply {
                status: 204,
                headers: vec![],
                body: String::new(),
                delay: Duration::ZERO,
            }
        }
    })
    .await;
    h.client
        .delete_client("here", Priority::Critical)
        .await
        .unwrap();
    h.client
        .delete_client("gone", Priority::Critical)
        .await
        .unwrap();
    let err = h.get("gone").await.unwrap_err();
    common::assert_not_found(&err, "inexistent_client");
    assert!(!err.is_transient());
    let seen = h.stub.seen();
    assert_eq!(seen[0].method, Method::DELETE);
    assert_eq!(seen[0].path, "/api/v2/clients/here");
}

#[tokio::test(start_paused = true)]
async fn list_all_clients_follows_the_checkpoint_until_next_is_absent() {
    let h = harness(|seen: &Seen, _| {
        let q: Vec<(String, String)> = seen
            .query
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        let get = |k: &str| q.iter().find(|(kk, _)| kk == k).map(|(_, v)| v.clone());
        if seen.path == "/api/v2/clients" && get("take").is_none() {
            // The offset form (list_clients_page).
            let page: usize = get("page").unwrap().parse().unwrap();
            let per_page: usize = get("per_page").unwrap().parse().unwrap();
            let start = page * per_page;
            let clients: Vec<Value> = (start..(start + per_page).min(250))
                .map(|i| json!({"client_id": format!("c{i}")}))
                .collect();
            return Reply::json(
                200,
                json!({"total": 250, "start": start, "limit": per_page, "clients": clients}),
            );
        }
        let take: usize = get("take").unwrap().parse().unwrap();
        let start: usize = get("from").map_or(0, |f| f.trim_start_matches("cp").parse().unwrap());
        let end = (start + take).min(250);
        let clients: Vec<Value> = (start..end)
            .map(|i| json!({"client_id": format!("c{i}"), "client_metadata": {"n": i.to_string()}}))
            .collect();
        let mut body = json!({ "clients": clients });
        if end < 250 {
            body["next"] = json!(format!("cp{end}"));
        }
        Reply::json(200, body)
    })
    .await;
    let all = h
        .client
        .list_all_clients(&["client_metadata"], Priority::Background)
        .await
        .unwrap();
    assert_eq!(all.len(), 250);
    assert_eq!(all[249].client_id, "c249");
    let seen = h.stub.seen();
    assert_eq!(seen.len(), 3);
    for (i, s) in seen.iter().enumerate() {
        assert_eq!(s.path, "/api/v2/clients");
        assert!(s.query.contains("take=100"), "{}", s.query);
        if i == 0 {
            assert!(!s.query.contains("from="), "{}", s.query);
        } else {
            assert!(
                s.query.contains(&format!("from=cp{}", i * 100)),
                "{}",
                s.query
            );
        }
        assert!(!s.query.contains("page="), "no offset paging: {}", s.query);
        assert!(!s.query.contains("include_totals"), "{}", s.query);
        assert!(s.query.contains("include_fields=true"));
        assert!(
            s.query.contains("fields=client_metadata%2Cclient_id"),
            "{}",
            s.query
        );
    }
    // find_client stops at the page holding the match.
    let found = h
        .client
        .find_client(&[], Priority::Critical, |c| c.client_id == "c120")
        .await
        .unwrap();
    assert_eq!(found.map(|c| c.client_id).as_deref(), Some("c120"));
    assert_eq!(h.stub.seen().len(), 5, "two pages, not three");
    // The offset form still exists, per_page clamped.
    let page: ClientPage = h
        .client
        .list_clients_page(2, 500, &[], Priority::Background)
        .await
        .unwrap();
    assert_eq!(
        (page.total, page.start, page.limit, page.clients.len()),
        (250, 200, 100, 50)
    );
    assert!(h.stub.seen()[5].query.contains("per_page=100"));
}

#[tokio::test(start_paused = true)]
async fn an_offset_style_answer_to_a_checkpoint_list_is_an_error_not_a_short_list() {
    let h =
        harness(|_: &Seen, _| Reply::json(200, json!([{"client_id":"a"},{"client_id":"b"}]))).await;
    let err = h
        .client
        .list_all_clients(&[], Priority::Background)
        .await
        .unwrap_err();
    assert!(
        matches!(err, auth0_mgmt::Auth0Error::Decode { .. }),
        "{err:?}"
    );
    assert_eq!(h.stub.api_calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn critical_callers_go_before_queued_background_callers() {
    let h = harness_with(1, 1, Duration::from_secs(10), ok_client).await;
    h.client
        .get_client("warmup", Priority::Normal)
        .await
        .unwrap(); // empties the 1-token bucket
    let mut tasks = Vec::new();
    for (id, p) in [
        ("bg1", Priority::Background),
        ("bg2", Priority::Background),
        ("normal", Priority::Normal),
        ("critical", Priority::Critical),
    ] {
        let c = Arc::clone(&h.client);
        tasks.push(tokio::spawn(async move { c.get_client(id, p).await }));
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let order: Vec<String> = h
        .stub
        .seen()
        .iter()
        .map(|s| s.path.rsplit('/').next().unwrap().to_owned())
        .collect();
    assert_eq!(order, vec!["warmup", "critical", "normal", "bg1", "bg2"]);
    let seen = h.stub.seen();
    for w in seen.windows(2) {
        assert_eq!(w[1].at - w[0].at, Duration::from_secs(1), "1 rps respected");
    }
}

#[tokio::test(start_paused = true)]
async fn registry_shares_clients_and_limiter_per_tenant() {
    let h = harness(ok_client).await;
    let same = h.registry.tenant(config(h.addr, 50, 50));
    assert!(Arc::ptr_eq(&same, &h.client));
    h.client.verify_credentials().await.unwrap();
    assert_eq!(h.stub.tokens(), 1);

    // new limits: a new client, fresh token cache, same limiter (shared pause)
    let changed = h.registry.tenant(config(h.addr, 5, 5));
    assert!(!Arc::ptr_eq(&changed, &h.client));
    changed.verify_credentials().await.unwrap();
    assert_eq!(h.stub.tokens(), 2);
    assert_eq!(changed.tenant(), "acme");
    assert_eq!(changed.domain(), DOMAIN);

    // wrong secret: the token endpoint refuses it
    let mut bad = config(h.addr, 5, 5);
    bad.client_secret = SecretString::new("wrong-secret");
    let bad = h.registry.tenant(bad);
    let err = bad.verify_credentials().await.unwrap_err();
    assert_eq!(err.status(), Some(401));

    // plain http to a non-loopback host is refused before any I/O
    let mut remote = config(h.addr, 5, 5);
    remote.tenant = "remote".into();
    remote.base_url = "http://acme.example.com".into();
    let err = h
        .registry
        .tenant(remote)
        .verify_credentials()
        .await
        .unwrap_err();
    assert!(matches!(err, Auth0Error::Config { .. }), "{err:?}");

    h.registry.remove("acme");
    let fresh = h.registry.tenant(config(h.addr, 50, 50));
    assert!(!Arc::ptr_eq(&fresh, &changed));
}

#[tokio::test(start_paused = true)]
async fn registry_keeps_one_limiter_when_config_changes() {
    let h = harness(|_: &Seen, _| too_many_requests().header("retry-after", "60")).await;
    h.client
        .get_client("a", Priority::Normal)
        .await
        .unwrap_err();
    let changed = h.registry.tenant(config(h.addr, 7, 7));
    assert!(
        changed.throttled_until().is_some(),
        "the pause survives a config change"
    );
    let err = changed.get_client("a", Priority::Normal).await.unwrap_err();
    assert!(matches!(err, Auth0Error::RateLimited { .. }));
    assert_eq!(h.stub.api_calls(), 1);
}

// ---- no secrets anywhere ----

#[derive(Clone, Default)]
struct Buf(Arc<Mutex<Vec<u8>>>);

impl Write for Buf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Buf {
    type Writer = Buf;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

const CLIENT_SECRET_1: &str = "CLIENT-SECRET-created-do-not-leak";
const CLIENT_SECRET_2: &str = "CLIENT-SECRET-rotated-do-not-leak";

fn assert_clean(what: &str, text: &str) {
    for s in [
        M2M_SECRET,
        TOKEN_PREFIX,
        CLIENT_SECRET_1,
        CLIENT_SECRET_2,
        "Bearer ",
    ] {
        assert!(!text.contains(s), "{what} leaks {s:?}:\n{text}");
    }
}

#[tokio::test(start_paused = true)]
async fn no_secret_in_logs_errors_or_debug_output() {
    let buf = Buf::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(buf.clone())
        .with_ansi(false)
        .finish();
    // tracing caches each callsite's interest process-wide; while exactly one dispatcher is
    // registered it computes it from the *registering* thread's default, so a sibling test (with
    // no subscriber) reaching the 429 warning first would cache "never" and hide it from this
    // capture (tokio-rs/tracing#3611). A second live dispatcher makes tracing combine the
    // interest of every registered dispatcher instead.
    let _second_dispatcher = tracing::Dispatch::new(tracing::subscriber::NoSubscriber::default());
    let _guard = tracing::subscriber::set_default(subscriber);

    let mut creates = 0;
    let h = harness(move |seen: &Seen, i| match (seen.method.as_str(), seen.path.as_str()) {
        ("POST", "/api/v2/clients") if {
            creates += 1;
            creates == 1
        } => too_many_requests()
        .header("retry-after", "1"),
        ("POST", "/api/v2/clients") => Reply::json(
            201,
            json!({"client_id":"new1","name":"app","client_secret": CLIENT_SECRET_1}),
        ),
        ("POST", p) if p.ends_with("/rotate-secret") => Reply::json(
            200,
            json!({"client_id":"new1","name":"app","client_secret": CLIENT_SECRET_2}),
        ),
        // an error message echoing secrets must be scrubbed
        ("PATCH", _) => Reply::json(
            400,
            json!({"statusCode":400,"error":"Bad Request","message": format!("bad value {M2M_SECRET} with {TOKEN_PREFIX}2"),"errorCode":"invalid_body"}),
        ),
        _ => ok_client(seen, i),
    })
    .await;

    h.client.verify_credentials().await.unwrap();
    h.stub.revoke_first_token();
    let (c, app) = (&h.client, json!({"name":"app"}));
    let created = c.create_client(&app, Priority::Critical).await.unwrap();
    assert_eq!(secret_of(&created), CLIENT_SECRET_1);
    let rotated = c.rotate_secret("new1", Priority::Critical).await.unwrap();
    assert_eq!(secret_of(&rotated), CLIENT_SECRET_2);
    let patch_err = c
        .patch_client("new1", &json!({"name":"x"}), Priority::Normal)
        .await
        .unwrap_err();
    assert!(patch_err.to_string().contains("[redacted]"), "{patch_err}");
    tracing::info!(?created, ?rotated, error = %patch_err, "flow done");

    // every error variant, Display + Debug + source chain
    let mut errors: Vec<Auth0Error> = vec![
        patch_err,
        Auth0Error::RateLimited {
            retry_after: Duration::from_secs(3),
        },
        Auth0Error::Token {
            status: Some(401),
            error: "access_denied".into(),
            description: "Unauthorized".into(),
        },
        Auth0Error::Config {
            message: "x".into(),
        },
        Auth0Error::Decode {
            what: "client",
            source: serde_json::from_str::<Auth0Client>(&format!(
                "{{\"client_secret\":\"{CLIENT_SECRET_1}\"}}"
            ))
            .unwrap_err(),
        },
    ];
    // a transport error from a real request carrying the token
    let dead_client = client_of_a_dead_address();
    errors.push(dead_client.verify_credentials().await.unwrap_err());
    errors.push(dead_client.verify_credentials().await.unwrap_err());
    // a transport error on the management API itself
    let slow = harness_with(50, 50, Duration::from_millis(200), |seen: &Seen, i| {
        ok_client(seen, i).delayed(Duration::from_secs(2))
    })
    .await;
    errors.push(
        slow.client
            .create_client(&json!({"name":"x"}), Priority::Critical)
            .await
            .unwrap_err(),
    );
    for e in &errors {
        let mut text = format!("{e}\n{e:?}\n");
        let mut src: Option<&dyn std::error::Error> = std::error::Error::source(e);
        while let Some(s) = src {
            text.push_str(&format!("{s}\n{s:?}\n"));
            src = s.source();
        }
        assert_clean("error", &text);
    }

    // Debug of every public type
    let page = ClientPage {
        total: 1,
        start: 0,
        limit: 1,
        clients: vec![created.clone()],
    };
    let cfg = config(h.addr, 1, 1);
    let debug = format!(
        "{created:?}\n{created:#?}\n{rotated:?}\n{page:?}\n{cfg:?}\n{:?}\n{:?}\n{:?}\n{}\n{:?}",
        h.client, h.registry, cfg.client_secret, cfg.client_secret, h.metrics
    );
    assert!(debug.contains("[redacted]"));
    assert_clean("Debug output", &debug);
    assert_clean("metrics", &metrics_text(&h.metrics));

    drop(_guard);
    let logs = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("Auth0 rate limit reached (429)"),
        "the 429 was logged:\n{logs}"
    );
    assert_eq!(
        logs.matches("Auth0 rate limit reached (429)").count(),
        1,
        "one warning per throttle episode"
    );
    assert!(logs.contains("flow done"));
    assert_clean("logs", &logs);
}

// ---- against the embedded Auth0 simulator ----

mod simulator {
    use super::common::{self, registry};
    use super::*;
    use auth0_sim::{FailAction, RateLimit, SimConfig, SimHandle};

    async fn start(rate_limit: RateLimit) -> SimHandle {
        common::simulator(SimConfig {
            rate_limit,
            ..SimConfig::default()
        })
        .await
    }

    fn tenant_config(sim: &SimHandle, rps: u32, burst: u32) -> TenantConfig {
        common::tenant_config(sim, &sim.m2m().clone(), rps, burst)
    }

    #[tokio::test(start_paused = true)]
    async fn full_client_lifecycle() {
        let sim = start(RateLimit::unlimited()).await;
        let c = registry().tenant(tenant_config(&sim, 50, 50));
        c.verify_credentials().await.unwrap();

        let created = c
            .create_client(
                &json!({"name":"lifecycle","app_type":"spa","client_metadata":{"owners":"a,b","manuallyCreated":"false"}}),
                Priority::Critical,
            )
            .await
            .unwrap();
        let id = created.client_id.clone();
        let secret1 = created.client_secret.clone().expect("secret on create");
        assert_eq!(created.name.as_deref(), Some("lifecycle"));

        let got = c.get_client(&id, Priority::Normal).await.unwrap();
        assert_eq!(got.client_metadata.as_ref().unwrap()["owners"], "a,b");

        let patched = c
            .patch_client(
                &id,
                &json!({"callbacks":["https://app.example.com/cb"],"client_metadata":{"owners":null}}),
                Priority::Normal,
            )
            .await
            .unwrap();
        assert_eq!(
            patched.callbacks.as_deref(),
            Some(&["https://app.example.com/cb".to_owned()][..])
        );
        assert!(!patched.client_metadata.unwrap().contains_key("owners"));

        let rotated = c.rotate_secret(&id, Priority::Critical).await.unwrap();
        assert_ne!(rotated.client_secret.unwrap(), secret1);

        let all = c
            .list_all_clients(&["client_id", "name"], Priority::Background)
            .await
            .unwrap();
        assert!(all.iter().any(|x| x.client_id == id));

        let bad = c
            .create_client(&json!({"name":"x","bogus":1}), Priority::Critical)
            .await
            .unwrap_err();
        assert_eq!(bad.status(), Some(400));
        assert_eq!(bad.error_code(), Some("invalid_body"));
        assert!(!bad.is_transient());

        c.delete_client(&id, Priority::Critical).await.unwrap();
        c.delete_client(&id, Priority::Critical).await.unwrap();
        let gone = c.get_client(&id, Priority::Normal).await.unwrap_err();
        common::assert_not_found(&gone, "inexistent_client");
        assert_eq!(sim.counters().get("POST /oauth/token"), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn list_pages_through_many_clients_past_the_offset_ceiling() {
        let sim = start(RateLimit::unlimited()).await;
        for i in 0..1500 {
            sim.insert_client(json!({"name": format!("bulk-{i}")}));
        }
        let expected = sim.clients().len();
        assert!(expected >= 1500);
        let c = registry().tenant(tenant_config(&sim, 50, 50));
        // Offset paging stops at the 1,000th record, as on Auth0.
        let refused = c
            .list_clients_page(10, 100, &[], Priority::Background)
            .await
            .unwrap_err();
        assert_eq!(refused.status(), Some(400));
        assert_eq!(refused.error_code(), Some("invalid_paging"));
        sim.reset_counters();
        let all = c
            .list_all_clients(&["client_metadata"], Priority::Background)
            .await
            .unwrap();
        assert_eq!(all.len(), expected);
        let ids: HashSet<&str> = all.iter().map(|x| x.client_id.as_str()).collect();
        assert_eq!(ids.len(), expected, "no duplicates across pages");
        assert_eq!(
            sim.counters().get("GET /api/v2/clients"),
            expected.div_ceil(100) as u64
        );
        // The last client is found, one page at a time.
        let last = all.last().unwrap().client_id.clone();
        let found = c
            .find_client(&[], Priority::Critical, |x| x.client_id == last)
            .await
            .unwrap();
        assert_eq!(found.map(|x| x.client_id), Some(last));
    }

    #[tokio::test(start_paused = true)]
    async fn expired_token_is_refreshed_once() {
        let sim = start(RateLimit::unlimited()).await;
        let c = registry().tenant(tenant_config(&sim, 50, 50));
        let id = sim.insert_client(json!({"name":"t"}));
        c.get_client(&id, Priority::Normal).await.unwrap();
        sim.expire_tokens();
        c.get_client(&id, Priority::Normal).await.unwrap();
        assert_eq!(sim.counters().get("POST /oauth/token"), 2);
        assert_eq!(sim.counters().get("GET /api/v2/clients/{id}"), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn wrong_credentials_are_a_token_error() {
        let sim = start(RateLimit::unlimited()).await;
        let mut cfg = tenant_config(&sim, 50, 50);
        cfg.client_secret = SecretString::new("definitely-wrong");
        let err = registry()
            .tenant(cfg)
            .verify_credentials()
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                Auth0Error::Token {
                    status: Some(401),
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(!err.is_transient());
    }

    #[tokio::test(start_paused = true)]
    async fn injected_faults_follow_the_retry_policy() {
        let sim = start(RateLimit::unlimited()).await;
        let c = registry().tenant(tenant_config(&sim, 50, 50));
        let id = sim.insert_client(json!({"name":"f"}));
        // GET: a 503 is retried
        sim.fail_once("GET", "/api/v2/clients/{id}", FailAction::Status(503));
        c.get_client(&id, Priority::Normal).await.unwrap();
        assert_eq!(sim.counters().get("GET /api/v2/clients/{id}"), 2);
        // POST create: a 503 is returned, not retried
        let app = json!({"name":"n"});
        let create = c.create_client(&app, Priority::Critical);
        common::assert_post_not_retried(&sim, "/api/v2/clients", create).await;
        // a dropped connection on DELETE is retried
        sim.fail_once(
            "DELETE",
            "/api/v2/clients/{id}",
            FailAction::DropAfterProcessing,
        );
        c.delete_client(&id, Priority::Critical).await.unwrap();
        assert!(sim.client(&id).is_none());
        // a 429 (Retry-After: 1) is waited out and retried for any method
        sim.fail_once("POST", "/api/v2/clients", FailAction::Status(429));
        let t0 = Instant::now();
        c.create_client(&json!({"name":"after-429"}), Priority::Critical)
            .await
            .unwrap();
        assert_eq!(t0.elapsed(), Duration::from_secs(1));
        assert_eq!(sim.counters().get("POST /api/v2/clients"), 3);
    }

    /// Sleeps (virtual time) until the simulator's wall clock is `tenths`/10 s past a whole
    /// second (within tokio's 1 ms timer resolution). The epoch-second `x-ratelimit-reset` makes
    /// the client's waits depend on that phase, which is random from run to run; the rate-limit
    /// tests below repeat themselves at ten phases so that a phase-dependent result shows up in
    /// every run, not in one run out of many.
    async fn align_wall_clock(sim: &SimHandle, tenths: u32) {
        let since_epoch = sim.wall_time().duration_since(UNIX_EPOCH).unwrap();
        let into_second = Duration::from_nanos(u64::from(since_epoch.subsec_nanos()));
        let target = Duration::from_millis(100 * u64::from(tenths));
        let wait = if target >= into_second {
            target - into_second
        } else {
            Duration::from_secs(1) + target - into_second
        };
        tokio::time::sleep(wait).await;
    }

    /// Six concurrent GETs of one client by a fresh client of `rps`/`burst` against a fresh
    /// free-plan bucket; returns the simulator's counts.
    async fn six_concurrent_gets(
        sim: &SimHandle,
        id: &str,
        rps: u32,
        burst: u32,
    ) -> auth0_sim::RequestCounts {
        sim.set_rate_limit(RateLimit::FREE);
        sim.reset_counters();
        let c = registry().tenant(tenant_config(sim, rps, burst));
        c.verify_credentials().await.unwrap();
        let calls: Vec<_> = (0..6)
            .map(|_| {
                let (c, id) = (Arc::clone(&c), id.to_owned());
                tokio::spawn(async move { c.get_client(&id, Priority::Normal).await })
            })
            .collect();
        for t in calls {
            t.await.unwrap().unwrap();
        }
        sim.counters()
    }

    /// What the simulator counted of [`six_concurrent_gets`]: the GETs it refused with a 429,
    /// and all the GETs it received (the refused ones included).
    struct Counts {
        refused: u64,
        sent: u64,
    }

    /// [`six_concurrent_gets`] by a client of `rps`/`burst` against a free-plan tenant at each
    /// of the ten phases of [`align_wall_clock`]: the simulator counts `expected` at every one.
    async fn assert_at_every_phase(rps: u32, burst: u32, expected: Counts) {
        let sim = start(RateLimit::FREE).await;
        let id = sim.insert_client(json!({"name":"rl"}));
        for tenths in 0..10 {
            align_wall_clock(&sim, tenths).await;
            let counts = six_concurrent_gets(&sim, &id, rps, burst).await;
            let at = format!("phase {tenths}/10: {counts:?}");
            assert_eq!(counts.rate_limited(), expected.refused, "{at}");
            assert_eq!(
                counts.get("GET /api/v2/clients/{id}"),
                expected.sent,
                "{at}"
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn matching_the_tenant_limit_avoids_429s() {
        // Auth0 free plan: 2 burst, 2 per second; the operator allows itself the same.
        assert_at_every_phase(
            2,
            2,
            Counts {
                refused: 0,
                sent: 6,
            },
        )
        .await;
    }

    #[tokio::test(start_paused = true)]
    async fn overrunning_the_tenant_limit_recovers_from_429s() {
        // The operator is configured far above the tenant's real limit: the 429s pause everyone.
        // The 6 calls go at once: 2 pass, 4 get 429 (Retry-After: 1). After the pause the
        // client follows x-ratelimit-remaining/reset and is never refused again.
        assert_at_every_phase(
            100,
            100,
            Counts {
                refused: 4,
                sent: 10,
            },
        )
        .await;
    }
}
