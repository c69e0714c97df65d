//! Client-credentials tokens for the tenant's own applications (the clients created through the
//! Management API), so that an app given only its client id and secret can obtain a token, as it
//! would from Auth0 for an API it holds a client grant for.
//!
//! Client grants are not simulated: [`SimConfig::app_audience`](crate::SimConfig::app_audience)
//! names one API that every application may obtain a token for (without scopes), and that is
//! also the tenant's default audience. The Management API needs a grant, so an application gets
//! Auth0's 403 for it; the configured M2M credentials are served elsewhere.

use std::time::{SystemTime, UNIX_EPOCH};

use axum::http::StatusCode;
use serde_json::{Value, json};
use subtle::ConstantTimeEq as _;

use crate::error::OAuthError;
use crate::lock;
use crate::server::Shared;

fn denied(status: StatusCode, description: impl Into<String>) -> OAuthError {
    OAuthError::new(status, "access_denied", description)
}

/// A token for the application `client_id`, if its secret matches and it may obtain one.
pub(crate) fn app_token(
    sh: &Shared,
    client_id: &str,
    secret: &str,
    audience: Option<&str>,
) -> Result<Value, OAuthError> {
    let allows_client_credentials = {
        let store = lock(&sh.store);
        let client = store
            .get(client_id)
            .filter(|c| {
                c.get("client_secret")
                    .and_then(Value::as_str)
                    .is_some_and(|s| bool::from(s.as_bytes().ct_eq(secret.as_bytes())))
            })
            .ok_or_else(|| denied(StatusCode::UNAUTHORIZED, "Unauthorized"))?;
        client
            .get("grant_types")
            .and_then(Value::as_array)
            .is_some_and(|g| g.iter().any(|t| t == "client_credentials"))
    };
    if !allows_client_credentials {
        return Err(OAuthError::new(
            StatusCode::FORBIDDEN,
            "unauthorized_client",
            "Grant type 'client_credentials' not allowed for the client.",
        ));
    }
    let audience = match (audience, sh.app_audience.as_deref()) {
        (None, None) => {
            return Err(denied(
                StatusCode::FORBIDDEN,
                "No audience parameter was provided, and no default audience has been configured",
            ));
        }
        (None, Some(default)) => default.to_owned(),
        (Some(requested), Some(api)) if requested == api => requested.to_owned(),
        (Some(requested), _) if requested == sh.audience() => {
            return Err(denied(
                StatusCode::FORBIDDEN,
                format!(
                    "Client is not authorized to access \"{requested}\". You need to create a \
                     \"client-grant\" associated to this API."
                ),
            ));
        }
        (Some(requested), _) => {
            return Err(denied(
                StatusCode::FORBIDDEN,
                format!("Service not enabled within domain: {requested}"),
            ));
        }
    };
    let ttl = *lock(&sh.token_ttl);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let claims = json!({
        "iss": sh.issuer(),
        "sub": format!("{client_id}@clients"),
        "aud": audience,
        "iat": now,
        "exp": now + ttl.as_secs(),
        "gty": "client-credentials",
        "azp": client_id,
    });
    let access_token = sh.current_key().sign(&claims, None).map_err(|e| {
        tracing::error!(error = %e, "auth0 simulator: cannot sign an application token");
        OAuthError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "cannot sign token",
        )
    })?;
    Ok(json!({
        "access_token": access_token,
        "expires_in": ttl.as_secs(),
        "token_type": "Bearer",
    }))
}
