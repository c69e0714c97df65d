//! Client-credentials tokens for the tenant's applications (`SimConfig::app_audience`).

use std::net::SocketAddr;
use std::time::Duration;

use auth0_sim::{self as sim, RateLimit, SimConfig};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use reqwest::StatusCode;
use serde_json::{Value, json};

const API: &str = "https://api.dev.local/";

fn http() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("reqwest client")
}

async fn token(
    http: &reqwest::Client,
    url: &str,
    client_id: &str,
    secret: &str,
    audience: Option<&str>,
) -> (StatusCode, Value) {
    let mut body = json!({
        "grant_type": "client_credentials",
        "client_id": client_id,
        "client_secret": secret,
    });
    if let Some(audience) = audience {
        body["audience"] = json!(audience);
    }
    let res = http.post(url).json(&body).send().await.expect("request");
    (res.status(), res.json().await.expect("json"))
}

#[tokio::test]
async fn applications_obtain_tokens_for_the_app_audience_only() {
    let sim = sim::start(
        SimConfig {
            rate_limit: RateLimit::unlimited(),
            app_audience: Some(API.into()),
            ..SimConfig::default()
        },
        SocketAddr::from(([127, 0, 0, 1], 0)),
    )
    .await
    .expect("simulator");
    let m2m_app = sim.insert_client(json!({
        "name": "worker", "app_type": "non_interactive", "client_secret": "worker-secret",
        "grant_types": ["client_credentials"],
    }));
    let spa = sim.insert_client(json!({
        "name": "web", "app_type": "spa", "client_secret": "spa-secret",
        "grant_types": ["authorization_code"],
    }));
    let http = http();
    let url = sim.token_url();

    // No audience: the default audience; the token verifies against the JWKS.
    let (status, body) = token(&http, &url, &m2m_app, "worker-secret", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let jwt = body["access_token"].as_str().expect("access_token");
    let jwks: JwkSet = http
        .get(sim.jwks_url())
        .send()
        .await
        .expect("jwks")
        .json()
        .await
        .expect("jwks json");
    let header = jsonwebtoken::decode_header(jwt).expect("header");
    let jwk = jwks.find(header.kid.as_deref().expect("kid")).expect("key");
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_audience(&[API]);
    validation.set_issuer(&[sim.issuer()]);
    let claims = jsonwebtoken::decode::<Value>(
        jwt,
        &DecodingKey::from_jwk(jwk).expect("decoding key"),
        &validation,
    )
    .expect("valid token")
    .claims;
    assert_eq!(claims["sub"], format!("{m2m_app}@clients"));
    assert_eq!(claims["gty"], "client-credentials");

    // The same with the audience named.
    let (status, _) = token(&http, &url, &m2m_app, "worker-secret", Some(API)).await;
    assert_eq!(status, StatusCode::OK);

    // Refusals, with Auth0's answers.
    let (status, body) = token(&http, &url, &m2m_app, "wrong", None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("access_denied"))
    );
    let (status, body) = token(
        &http,
        &url,
        &m2m_app,
        "worker-secret",
        Some(&sim.audience()),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        body["error_description"]
            .as_str()
            .is_some_and(|d| d.contains("client-grant")),
        "{body}"
    );
    let (status, body) = token(
        &http,
        &url,
        &m2m_app,
        "worker-secret",
        Some("https://other/"),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, body) = token(&http, &url, &spa, "spa-secret", None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::FORBIDDEN, Some("unauthorized_client"))
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn without_an_app_audience_applications_get_no_token() {
    let sim = sim::start(SimConfig::default(), SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .expect("simulator");
    let app = sim.insert_client(json!({
        "name": "worker", "client_secret": "s", "grant_types": ["client_credentials"],
    }));
    let (status, body) = token(&http(), &sim.token_url(), &app, "s", None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        body["error_description"]
            .as_str()
            .is_some_and(|d| d.contains("no default audience")),
        "{body}"
    );
    sim.shutdown().await;
}
