//! Shared by the simulator's test suites: a simulator on a loopback port, an HTTP client, the
//! management token of an M2M credential, Management API calls and token verification against
//! the served JWKS.

#![allow(dead_code)] // each suite uses its own part

use std::net::SocketAddr;
use std::time::Duration;

use auth0_sim::{self as sim, M2mCredential, RateLimit, SimConfig, SimHandle};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{DecodingKey, Validation};
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// An HTTP client with a 20 s timeout (in real time: a hung simulator fails the test).
pub fn http() -> reqwest::Client {
    // reqwest is built without a bundled TLS provider; plain http still needs one installed.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("reqwest client")
}

/// The text `field` of an answer `body` (an error's `message` or `error_description`)
/// mentions `text`.
pub fn assert_says(body: &Value, field: &str, text: &str) {
    assert!(
        body[field].as_str().is_some_and(|t| t.contains(text)),
        "{field} should mention {text:?}: {body}"
    );
}

/// A free port on the loopback interface, chosen by the system.
pub fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// A simulator with `config`, serving on the loopback interface.
pub async fn start(config: SimConfig) -> SimHandle {
    sim::start(config, loopback())
        .await
        .expect("simulator starts")
}

/// The default configuration without a rate limit (for tests that are not about it).
pub fn unlimited() -> SimConfig {
    SimConfig {
        rate_limit: RateLimit::unlimited(),
        ..SimConfig::default()
    }
}

/// The answer to a Management API token request of `cred` (client credentials, JSON body).
pub async fn token_answer(
    sim: &SimHandle,
    http: &reqwest::Client,
    cred: &M2mCredential,
) -> (StatusCode, Value) {
    let audience = json!({"audience": sim.audience()});
    app_token(sim, http, &cred.client_id, &cred.client_secret, audience).await
}

/// A Management API token of `cred` (see [`token_answer`]); the answer must be 200.
pub async fn management_token(
    sim: &SimHandle,
    http: &reqwest::Client,
    cred: &M2mCredential,
) -> String {
    let (status, body) = token_answer(sim, http, cred).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["access_token"]
        .as_str()
        .expect("access_token")
        .to_owned()
}

/// One Management API call; returns status, headers and the JSON body (`Null` when empty).
pub async fn call(
    sim: &SimHandle,
    http: &reqwest::Client,
    token: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, HeaderMap, Value) {
    let mut req = http
        .request(method, format!("{}{path}", sim.base_url()))
        .bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let res = req.send().await.expect("request");
    let status = res.status();
    let headers = res.headers().clone();
    let bytes = res.bytes().await.expect("body");
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).expect("JSON body")
    };
    (status, headers, body)
}

/// An application's client-credentials request (JSON body, `client_secret_post`), with the
/// fields of `extra` added (e.g. `audience`).
pub async fn app_token(
    sim: &SimHandle,
    http: &reqwest::Client,
    client_id: &str,
    secret: &str,
    extra: Value,
) -> (StatusCode, Value) {
    let mut body = json!({
        "grant_type": "client_credentials", "client_id": client_id, "client_secret": secret,
    });
    if let (Value::Object(b), Value::Object(e)) = (&mut body, extra) {
        b.extend(e);
    }
    let res = http
        .post(sim.token_url())
        .json(&body)
        .send()
        .await
        .expect("token request");
    (res.status(), res.json().await.expect("json"))
}

/// The JWKS the simulator serves.
pub async fn jwks(sim: &SimHandle, http: &reqwest::Client) -> JwkSet {
    http.get(sim.jwks_url())
        .send()
        .await
        .expect("jwks")
        .json()
        .await
        .expect("jwks json")
}

/// Verifies a token against the simulator's JWKS as an API with `audience` does: signed with
/// the algorithm its header names, by the key its `kid` names; returns its algorithm and claims.
pub async fn verify_signed(
    sim: &SimHandle,
    http: &reqwest::Client,
    jwt: &str,
    audience: &str,
) -> (jsonwebtoken::Algorithm, Value) {
    let jwks = jwks(sim, http).await;
    let header = jsonwebtoken::decode_header(jwt).expect("header");
    let jwk = jwks.find(header.kid.as_deref().expect("kid")).expect("key");
    let mut validation = Validation::new(header.alg);
    validation.set_audience(&[audience]);
    validation.set_issuer(&[sim.issuer()]);
    let claims = jsonwebtoken::decode::<Value>(
        jwt,
        &DecodingKey::from_jwk(jwk).expect("decoding key"),
        &validation,
    )
    .expect("token verifies against the JWKS")
    .claims;
    (header.alg, claims)
}

/// [`verify_signed`], the claims only.
pub async fn verify(sim: &SimHandle, http: &reqwest::Client, jwt: &str, audience: &str) -> Value {
    verify_signed(sim, http, jwt, audience).await.1
}

/// Management API calls with one token (see [`call`]).
pub trait Calls {
    /// The simulator, the HTTP client and the token the calls use.
    fn parts(&self) -> (&SimHandle, &reqwest::Client, &str);

    /// Status, headers and JSON body.
    async fn api(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, HeaderMap, Value) {
        let (sim, http, token) = self.parts();
        call(sim, http, token, method, path, body).await
    }

    /// Status and JSON body.
    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let (status, _, body) = self.api(method, path, body).await;
        (status, body)
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(body)).await
    }

    async fn patch(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::PATCH, path, Some(body)).await
    }

    async fn delete(&self, path: &str) -> (StatusCode, Value) {
        self.call(Method::DELETE, path, None).await
    }
}

/// The calls of another token on a simulator.
pub struct Caller<'a> {
    pub sim: &'a SimHandle,
    pub http: &'a reqwest::Client,
    pub token: &'a str,
}

impl Calls for Caller<'_> {
    fn parts(&self) -> (&SimHandle, &reqwest::Client, &str) {
        (self.sim, self.http, self.token)
    }
}

/// A simulator, an HTTP client and a management token of the default M2M credential.
pub struct T {
    pub sim: SimHandle,
    pub http: reqwest::Client,
    pub token: String,
}

impl T {
    /// With [`unlimited`].
    pub async fn new() -> Self {
        Self::with(unlimited()).await
    }

    pub async fn with(config: SimConfig) -> Self {
        let sim = start(config).await;
        let http = http();
        let m2m = sim.m2m().clone();
        let token = management_token(&sim, &http, &m2m).await;
        Self { sim, http, token }
    }

    /// An application's token request (see [`app_token`]).
    pub async fn app_token(
        &self,
        client_id: &str,
        secret: &str,
        extra: Value,
    ) -> (StatusCode, Value) {
        app_token(&self.sim, &self.http, client_id, secret, extra).await
    }

    /// The claims of the token in a token `answer`, verified for `audience` (see [`verify`]).
    pub async fn claims(&self, answer: &Value, audience: &str) -> Value {
        let jwt = answer["access_token"].as_str().expect("jwt");
        verify(&self.sim, &self.http, jwt, audience).await
    }

    /// The calls of `token` on this simulator.
    pub fn as_token<'a>(&'a self, token: &'a str) -> Caller<'a> {
        Caller {
            sim: &self.sim,
            http: &self.http,
            token,
        }
    }
}

impl Calls for T {
    fn parts(&self) -> (&SimHandle, &reqwest::Client, &str) {
        (&self.sim, &self.http, &self.token)
    }
}
