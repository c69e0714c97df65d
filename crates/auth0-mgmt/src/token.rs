//! Management API access tokens: client-credentials grant, per-tenant cache, single flight, and
//! spacing of repeated failures.

use std::time::Duration;

use serde::Deserialize;
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::clock::wall_now;
use super::error::Auth0Error;
use super::model::SecretString;
use super::ratelimit::{MAX_PAUSE, parse_retry_after};

/// How long before `expires_in` runs out a token is replaced: 10% of its lifetime, at most 60 s.
pub(crate) fn refresh_margin(expires_in: Duration) -> Duration {
    (expires_in / 10).min(Duration::from_secs(60))
}

/// When a token obtained at `obtained` (request time) with lifetime `expires_in` is replaced.
pub(crate) fn refresh_at(obtained: Instant, expires_in: Duration) -> Instant {
    obtained + expires_in - refresh_margin(expires_in)
}

/// Delay before the token endpoint is tried again after `consecutive` failures in a row:
/// 1 s, 2 s, 4 s ... up to 60 s (or the endpoint's `Retry-After` when longer).
pub(crate) fn failure_backoff(consecutive: u32) -> Duration {
    let exp = consecutive.saturating_sub(1).min(6);
    Duration::from_secs(1u64 << exp).min(Duration::from_secs(60))
}

/// An access token and the cache generation it belongs to.
#[derive(Clone)]
pub(crate) struct AccessToken {
    pub value: SecretString,
    pub generation: u64,
}

struct Cached {
    token: AccessToken,
    refresh_at: Instant,
}

/// A replayable summary of the last failure (so callers within the back-off get an error
/// without hitting the endpoint).
#[derive(Clone)]
struct Failure {
    retry_at: Instant,
    consecutive: u32,
    status: Option<u16>,
    error: String,
    description: String,
}

#[derive(Default)]
struct State {
    current: Option<Cached>,
    generation: u64,
    failure: Option<Failure>,
}

/// What is needed to ask for a token.
pub(crate) struct TokenRequest {
    pub url: String,
    pub client_id: String,
    pub client_secret: SecretString,
    pub audience: String,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: SecretString,
    #[serde(default)]
    expires_in: Option<u64>,
}

#[derive(Deserialize)]
struct OAuthError {
    error: Option<String>,
    error_description: Option<String>,
    // Some gateways answer in the Management API shape instead.
    message: Option<String>,
}

/// Per-tenant token cache. The async mutex is held across the fetch, so concurrent callers
/// share one request (single flight).
#[derive(Default)]
pub(crate) struct TokenCache {
    state: Mutex<State>,
}

impl TokenCache {
    /// A valid token: the cached one, or a fresh one from the token endpoint.
    pub(crate) async fn get(
        &self,
        http: &reqwest::Client,
        req: &TokenRequest,
    ) -> Result<AccessToken, Auth0Error> {
        let mut st = self.state.lock().await;
        let now = Instant::now();
        if let Some(c) = &st.current
            && now < c.refresh_at
        {
            return Ok(c.token.clone());
        }
        if let Some(f) = &st.failure
            && now < f.retry_at
        {
            return Err(Auth0Error::Token {
                status: f.status,
                error: f.error.clone(),
                description: f.description.clone(),
            });
        }
        match fetch(http, req).await {
            Ok((value, expires_in)) => {
                st.generation += 1;
                let token = AccessToken {
                    value,
                    generation: st.generation,
                };
                st.current = Some(Cached {
                    token: token.clone(),
                    refresh_at: refresh_at(now, expires_in),
                });
                st.failure = None;
                tracing::debug!(
                    expires_in_s = expires_in.as_secs(),
                    "obtained Auth0 Management API token"
                );
                Ok(token)
            }
            Err((err, hinted)) => {
                st.current = None;
                let consecutive = st.failure.as_ref().map_or(0, |f| f.consecutive) + 1;
                let wait = failure_backoff(consecutive).max(hinted.unwrap_or_default());
                let (status, error, description) = match &err {
                    Auth0Error::Token {
                        status,
                        error,
                        description,
                    } => (*status, error.clone(), description.clone()),
                    Auth0Error::Transport { source } => (
                        None,
                        "temporarily_unavailable".to_owned(),
                        format!("token endpoint unreachable: {source}"),
                    ),
                    other => (None, "invalid_response".to_owned(), other.to_string()),
                };
                tracing::warn!(
                    error = %err,
                    retry_in_ms = wait.as_millis() as u64,
                    "could not obtain an Auth0 Management API token"
                );
                st.failure = Some(Failure {
                    retry_at: Instant::now() + wait,
                    consecutive,
                    status,
                    error,
                    description,
                });
                Err(err)
            }
        }
    }

    /// Forgets the token of `generation` (after a 401); a newer token is kept.
    pub(crate) async fn invalidate(&self, generation: u64) {
        let mut st = self.state.lock().await;
        if st
            .current
            .as_ref()
            .is_some_and(|c| c.token.generation == generation)
        {
            st.current = None;
        }
    }
}

/// Replaces every occurrence of a secret in `text` with `[redacted]`.
pub(crate) fn scrub(text: &str, secrets: &[&str]) -> String {
    let mut out = text.to_owned();
    for s in secrets {
        if s.len() >= 4 && out.contains(s) {
            out = out.replace(s, "[redacted]");
        }
    }
    out
}

type FetchError = (Auth0Error, Option<Duration>);

async fn fetch(
    http: &reqwest::Client,
    req: &TokenRequest,
) -> Result<(SecretString, Duration), FetchError> {
    let body = serde_json::json!({
        "grant_type": "client_credentials",
        "client_id": req.client_id,
        "client_secret": req.client_secret.expose(),
        "audience": req.audience,
    });
    let resp = http
        .post(&req.url)
        .header(reqwest::header::ACCEPT, "application/json")
        .json(&body)
        .send()
        .await
        .map_err(|e| (Auth0Error::transport(e), None))?;
    let status = resp.status();
    let retry_after = resp
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_retry_after(v, wall_now()))
        .map(|d| d.min(MAX_PAUSE));
    let bytes = resp
        .bytes()
        .await
        .map_err(|e| (Auth0Error::transport(e), None))?;
    if status.is_success() {
        let t: TokenResponse = serde_json::from_slice(&bytes).map_err(|source| {
            (
                Auth0Error::Decode {
                    what: "token response",
                    source,
                },
                None,
            )
        })?;
        if t.access_token.is_empty() {
            return Err((
                Auth0Error::Token {
                    status: Some(status.as_u16()),
                    error: "invalid_response".to_owned(),
                    description: "token endpoint returned an empty access_token".to_owned(),
                },
                None,
            ));
        }
        let expires_in = Duration::from_secs(t.expires_in.unwrap_or(86_400));
        return Ok((t.access_token, expires_in));
    }
    let parsed: Option<OAuthError> = serde_json::from_slice(&bytes).ok();
    let (error, description) = match parsed {
        Some(o) => (
            o.error
                .unwrap_or_else(|| format!("http_{}", status.as_u16())),
            o.error_description.or(o.message).unwrap_or_default(),
        ),
        None => (
            format!("http_{}", status.as_u16()),
            status.canonical_reason().unwrap_or("").to_owned(),
        ),
    };
    let description = scrub(&description, &[req.client_secret.expose()]);
    Err((
        Auth0Error::Token {
            status: Some(status.as_u16()),
            error,
            description,
        },
        retry_after,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn margin_is_ten_percent_capped_at_a_minute() {
        assert_eq!(
            refresh_margin(Duration::from_secs(86_400)),
            Duration::from_secs(60)
        );
        assert_eq!(
            refresh_margin(Duration::from_secs(300)),
            Duration::from_secs(30)
        );
        assert_eq!(
            refresh_margin(Duration::from_secs(10)),
            Duration::from_secs(1)
        );
        assert_eq!(refresh_margin(Duration::ZERO), Duration::ZERO);
        let t0 = Instant::now();
        assert_eq!(
            refresh_at(t0, Duration::from_secs(86_400)),
            t0 + Duration::from_secs(86_340)
        );
        assert_eq!(
            refresh_at(t0, Duration::from_secs(600)),
            t0 + Duration::from_secs(540)
        );
    }

    #[test]
    fn failure_backoff_doubles_to_a_minute() {
        let s: Vec<u64> = (1..=9).map(|n| failure_backoff(n).as_secs()).collect();
        assert_eq!(s, vec![1, 2, 4, 8, 16, 32, 60, 60, 60]);
    }

    #[test]
    fn scrub_replaces_secrets() {
        assert_eq!(
            scrub("bad secret s3cr3t-value here", &["s3cr3t-value"]),
            "bad secret [redacted] here"
        );
        assert_eq!(scrub("abc", &[""]), "abc");
    }
}
