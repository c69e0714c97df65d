//! Client-credentials tokens for the tenant's own applications (the clients of the store), as
//! Auth0 issues them: only for an API (resource server) of the tenant the application holds a
//! client grant for, with exactly the granted scopes (or the requested subset of them).
//!
//! Checks, in order, with Auth0's answers:
//! 1. the client exists and the secret matches: else 401 `access_denied` "Unauthorized";
//! 2. the credentials came the way the client's `token_endpoint_auth_method` says
//!    (`client_secret_post`: in the body; `client_secret_basic`: HTTP Basic; `none` and other
//!    methods cannot use a secret here): else 401 `access_denied`;
//! 3. its `grant_types` contain `client_credentials`: else 403 `unauthorized_client`;
//! 4. an audience was named, or the tenant has a default audience: else 403 `access_denied`;
//! 5. a resource server has that identifier: else 403 `access_denied` "Service not enabled
//!    within domain";
//! 6. a client grant exists for (client, audience): else 403 `access_denied` "Client is not
//!    authorized to access ...";
//! 7. a requested `scope` is within the grant: else 403 `access_denied` "Client has not been
//!    granted scopes".
//!
//! The token is a JWT: `iss` the simulator's issuer (`{base_url}/`, the issuer of its OIDC
//! discovery), `sub` `{client_id}@clients`, `aud`, `azp`, `gty` `client-credentials`, `scope`
//! (only when there are scopes), `iat`/`exp` from the API's `token_lifetime`; signed with the
//! API's `signing_alg` (RS256/RS512/PS256 with the JWKS key, HS256 with its `signing_secret`).
//! A token for the Management API audience is a management token, accepted by `/api/v2` with the
//! granted scopes.

use axum::http::StatusCode;
use jsonwebtoken::Algorithm;
use serde_json::{Value, json};
use subtle::ConstantTimeEq as _;

use crate::error::OAuthError;
use crate::lock;
use crate::server::{
    ClientAuth, Shared, access_denied, issue_management_token, not_authorized_for, token_scopes,
};

/// A token request of an application.
pub(crate) struct AppTokenRequest<'a> {
    pub client_id: &'a str,
    pub secret: &'a str,
    pub auth: ClientAuth,
    pub audience: Option<&'a str>,
    pub scope: Option<&'a str>,
}

/// What the token is issued from, read under the store lock.
struct Issue {
    audience: String,
    is_system: bool,
    scopes: Vec<String>,
    signing_alg: String,
    signing_secret: Option<String>,
    lifetime: u64,
}

fn auth_method_error(expected: &str) -> OAuthError {
    access_denied(
        StatusCode::UNAUTHORIZED,
        format!("Unauthorized: the client authenticates with {expected}"),
    )
}

/// A token for the application `req.client_id`, if it may obtain one.
pub(crate) fn app_token(sh: &Shared, req: AppTokenRequest<'_>) -> Result<Value, OAuthError> {
    {
        let store = lock(&sh.store);
        let client = store
            .clients
            .get(req.client_id)
            .filter(|c| {
                c.get("client_secret")
                    .and_then(Value::as_str)
                    .is_some_and(|s| bool::from(s.as_bytes().ct_eq(req.secret.as_bytes())))
            })
            .ok_or_else(|| access_denied(StatusCode::UNAUTHORIZED, "Unauthorized"))?;
        // A client that authenticates with private_key_jwt does not authenticate with a secret.
        if super::server::uses_private_key_jwt(client) {
            return Err(auth_method_error("private_key_jwt"));
        }
        // Auth0 answers a client created without `token_endpoint_auth_method` without one
        // (recorded); a confidential one then authenticates with `client_secret_post` (the
        // documented default; not recorded), a public one is not restricted here.
        let app_type = client.get("app_type").and_then(Value::as_str);
        let implied = (!super::store::is_public_app_type(app_type)).then_some("client_secret_post");
        match (
            client
                .get("token_endpoint_auth_method")
                .and_then(Value::as_str)
                .or(implied),
            req.auth,
        ) {
            (None, _)
            | (Some("client_secret_post"), ClientAuth::Post)
            | (Some("client_secret_basic"), ClientAuth::Basic) => {}
            (Some("client_secret_post"), ClientAuth::Basic) => {
                return Err(auth_method_error("client_secret_post"));
            }
            (Some("client_secret_basic"), ClientAuth::Post) => {
                return Err(auth_method_error("client_secret_basic"));
            }
            (Some(other), _) => return Err(auth_method_error(other)),
        }
    }
    authorized_app_token(sh, req.client_id, req.audience, req.scope)
}

/// A token for `client_id`, already authenticated (by its secret or a client assertion):
/// checks 3 to 7 of the module documentation, then issues it.
pub(crate) fn authorized_app_token(
    sh: &Shared,
    client_id: &str,
    audience: Option<&str>,
    scope: Option<&str>,
) -> Result<Value, OAuthError> {
    let issue = {
        let store = lock(&sh.store);
        let client = store
            .clients
            .get(client_id)
            .ok_or_else(|| access_denied(StatusCode::UNAUTHORIZED, "Unauthorized"))?;
        let allows_client_credentials = client
            .get("grant_types")
            .and_then(Value::as_array)
            .is_some_and(|g| g.iter().any(|t| t == "client_credentials"));
        if !allows_client_credentials {
            return Err(OAuthError::new(
                StatusCode::FORBIDDEN,
                "unauthorized_client",
                "Grant type 'client_credentials' not allowed for the client.",
            ));
        }
        let audience = match audience.or(sh.default_audience.as_deref()) {
            Some(a) => a.to_owned(),
            None => {
                return Err(access_denied(
                    StatusCode::FORBIDDEN,
                    "No audience parameter was provided, and no default audience has been configured",
                ));
            }
        };
        let rs = store
            .resource_servers
            .by_identifier(&audience)
            .ok_or_else(|| {
                access_denied(
                    StatusCode::FORBIDDEN,
                    format!("Service not enabled within domain: {audience}"),
                )
            })?;
        let grant = store
            .grants
            .find(client_id, &audience)
            .ok_or_else(|| not_authorized_for(&audience))?;
        let granted: Vec<String> = grant
            .scope
            .iter()
            .filter(|s| rs.defines(s))
            .cloned()
            .collect();
        Issue {
            scopes: token_scopes(&granted, scope)?,
            audience,
            is_system: rs.is_system,
            signing_alg: rs.signing_alg.clone(),
            signing_secret: rs.signing_secret.clone(),
            lifetime: rs.token_lifetime,
        }
    };
    if issue.is_system {
        let ttl = *lock(&sh.token_ttl);
        return issue_management_token(sh, client_id, issue.scopes, ttl);
    }
    let now = sh.clock.since_epoch().as_secs();
    let mut claims = json!({
        "iss": sh.issuer(),
        "sub": format!("{client_id}@clients"),
        "aud": issue.audience,
        "iat": now,
        "exp": now + issue.lifetime,
        "gty": "client-credentials",
        "azp": client_id,
        "jti": crate::store::generate_client_id(),
    });
    let scope = issue.scopes.join(" ");
    if !scope.is_empty() {
        claims["scope"] = Value::String(scope.clone());
    }
    let signed = match issue.signing_alg.as_str() {
        "HS256" => match issue.signing_secret.as_deref() {
            Some(secret) => crate::jwt::sign_hs256(&claims, secret),
            None => sh.current_key().sign(&claims, None),
        },
        "RS512" => sh.current_key().sign_with(Algorithm::RS512, &claims, None),
        "PS256" => sh.current_key().sign_with(Algorithm::PS256, &claims, None),
        _ => sh.current_key().sign(&claims, None),
    };
    let access_token = signed.map_err(|e| {
        tracing::error!(error = %e, "auth0 simulator: cannot sign an application token");
        OAuthError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "cannot sign token",
        )
    })?;
    let mut body = json!({
        "access_token": access_token,
        "expires_in": issue.lifetime,
        "token_type": "Bearer",
    });
    if !scope.is_empty() {
        body["scope"] = Value::String(scope);
    }
    Ok(body)
}
