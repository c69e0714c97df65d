//! An application's side of Auth0's token endpoint: the client-credentials request it sends
//! with what its Secret holds, and the verification of the access token it gets.

use serde_json::{Value, json};

/// `POST token_url` with the client-credentials grant (credentials in the JSON body), naming
/// `audience` when given, through `http`; returns the HTTP status and the body.
pub async fn client_credentials(
    http: &reqwest::Client,
    token_url: &str,
    (client_id, client_secret): (&str, &str),
    audience: Option<&str>,
) -> (u16, Value) {
    let mut body = json!({
        "grant_type": "client_credentials",
        "client_id": client_id,
        "client_secret": client_secret,
    });
    if let Some(audience) = audience {
        body["audience"] = json!(audience);
    }
    let response = http
        .post(token_url)
        .json(&body)
        .send()
        .await
        .expect("token request");
    let status = response.status().as_u16();
    (status, response.json().await.expect("JSON body"))
}

/// The claims of the RS256 access token `token`, verified against `jwks` (a JWKS document)
/// for `issuer` and `audience`.
pub fn verified_claims(jwks: Value, token: &str, issuer: &str, audience: &str) -> Value {
    let jwks: jsonwebtoken::jwk::JwkSet = serde_json::from_value(jwks).expect("JWKS");
    let header = jsonwebtoken::decode_header(token).expect("JWT header");
    let jwk = jwks
        .find(header.kid.as_deref().expect("kid"))
        .expect("signing key published");
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_issuer(&[issuer]);
    validation.set_audience(&[audience]);
    jsonwebtoken::decode::<Value>(
        token,
        &jsonwebtoken::DecodingKey::from_jwk(jwk).expect("key"),
        &validation,
    )
    .expect("the token verifies against the issuer's keys")
    .claims
}
