//! Client-credentials tokens for the tenant's applications (`SimConfig::app_audience`).

mod common;

use auth0_sim::{RateLimit, SimConfig, SimHandle};
use common::{app_token, assert_says, http, start, verify_signed};
use jsonwebtoken::Algorithm;
use reqwest::StatusCode;
use serde_json::{Value, json};

const API: &str = "https://api.dev.local/";

/// An application's token request for `audience` (none: the default audience).
async fn token(
    sim: &SimHandle,
    http: &reqwest::Client,
    client_id: &str,
    secret: &str,
    audience: Option<&str>,
) -> (StatusCode, Value) {
    let extra = audience.map_or(json!({}), |audience| json!({"audience": audience}));
    app_token(sim, http, client_id, secret, extra).await
}

#[tokio::test]
async fn applications_obtain_tokens_for_the_app_audience_only() {
    let sim = start(SimConfig {
        rate_limit: RateLimit::unlimited(),
        app_audience: Some(API.into()),
        ..SimConfig::default()
    })
    .await;
    let m2m_app = sim.insert_client(json!({
        "name": "worker", "app_type": "non_interactive", "client_secret": "worker-secret",
        "grant_types": ["client_credentials"],
    }));
    let spa = sim.insert_client(json!({
        "name": "web", "app_type": "spa", "client_secret": "spa-secret",
        "grant_types": ["authorization_code"],
    }));
    let http = http();

    // No audience: the default audience; the token verifies against the JWKS.
    let (status, body) = token(&sim, &http, &m2m_app, "worker-secret", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let jwt = body["access_token"].as_str().expect("access_token");
    let (alg, claims) = verify_signed(&sim, &http, jwt, API).await;
    assert_eq!(alg, Algorithm::RS256);
    assert_eq!(claims["sub"], format!("{m2m_app}@clients"));
    assert_eq!(claims["gty"], "client-credentials");

    // The same with the audience named.
    let (status, _) = token(&sim, &http, &m2m_app, "worker-secret", Some(API)).await;
    assert_eq!(status, StatusCode::OK);

    // Refusals, with Auth0's answers.
    let (status, body) = token(&sim, &http, &m2m_app, "wrong", None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("access_denied"))
    );
    let (status, body) = token(
        &sim,
        &http,
        &m2m_app,
        "worker-secret",
        Some(&sim.audience()),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_says(&body, "error_description", "client-grant");
    let (status, body) = token(
        &sim,
        &http,
        &m2m_app,
        "worker-secret",
        Some("https://other/"),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, body) = token(&sim, &http, &spa, "spa-secret", None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::FORBIDDEN, Some("unauthorized_client"))
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn without_an_app_audience_applications_get_no_token() {
    let sim = start(SimConfig::default()).await;
    let app = sim.insert_client(json!({
        "name": "worker", "client_secret": "s", "grant_types": ["client_credentials"],
    }));
    let (status, body) = token(&sim, &http(), &app, "s", None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_says(&body, "error_description", "no default audience");
    sim.shutdown().await;
}
