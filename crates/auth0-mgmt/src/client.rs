//! [`TenantClient`]: the Management API calls of one tenant.

use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use tokio::time::Instant;

use super::TenantConfig;
use super::clock::wall_now;
use super::error::Auth0Error;
use super::metrics::Auth0Metrics;
use super::model::{Auth0Client, ClientPage, Page};
use super::ratelimit::{
    MAX_PAUSE, PauseReason, Priority, RateLimiter, parse_rate_limit_headers, parse_retry_after,
    until_epoch,
};
use super::token::{TokenCache, TokenRequest, scrub};

/// Default time a single call may spend waiting for the rate limiter, pauses and retries before
/// it gives up with [`Auth0Error::RateLimited`].
pub const DEFAULT_WAIT_BUDGET: Duration = Duration::from_secs(30);

/// Retries of an idempotent call (GET, PATCH, DELETE) after a 5xx or a transport error.
const MAX_TRANSIENT_RETRIES: u32 = 2;
/// Base of the jittered exponential back-off between those retries.
const TRANSIENT_BACKOFF: Duration = Duration::from_millis(250);
/// Largest page Auth0 serves.
pub(crate) const MAX_PER_PAGE: u32 = 100;
/// Safety stop for the `list_all_*` calls (100 000 items at 100 per page).
pub(crate) const MAX_PAGES: u32 = 1000;

/// The Management API client of one Auth0 tenant. Obtain it from
/// [`Auth0Registry::tenant`](super::Auth0Registry::tenant) so that every caller of the tenant
/// shares its token cache and rate limiter.
///
/// # Retries
/// - 429: the request was not executed. All callers of the tenant pause until `Retry-After`
///   (else `x-ratelimit-reset`, else 1 s) and the call is sent again, for every method, as long
///   as the call's wait budget (default 30 s) lasts; past it the call fails with
///   [`Auth0Error::RateLimited`] carrying the remaining pause.
/// - 401: the cached token is dropped, a new one fetched, and the request sent once more; a second
///   401 is returned as a permanent [`Auth0Error::Api`].
/// - 5xx, timeouts and connection errors: GET, PATCH and DELETE are retried up to twice with
///   jittered exponential back-off (honouring `Retry-After`), within the wait budget. POSTs
///   (create, rotate-secret) are never retried here: they are not idempotent, and the reconciler
///   owns crash-safe creation.
/// - Any other 4xx is returned at once.
pub struct TenantClient {
    pub(crate) config: TenantConfig,
    http: reqwest::Client,
    api_base: String,
    token_req: TokenRequest,
    tokens: TokenCache,
    pub(crate) limiter: Arc<RateLimiter>,
    metrics: Auth0Metrics,
    wait_budget: Duration,
    config_error: Option<String>,
}

impl std::fmt::Debug for TenantClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantClient")
            .field("tenant", &self.config.tenant)
            .field("domain", &self.config.domain)
            .field("base_url", &self.config.base_url)
            .finish_non_exhaustive()
    }
}

/// Checks the base URL: https, or plain http for loopback hosts only (the client secret travels
/// in the token request).
fn validate_base_url(base_url: &str) -> Result<(), String> {
    let url = reqwest::Url::parse(base_url).map_err(|e| format!("base_url is not a URL: {e}"))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err("base_url must not contain credentials".to_owned());
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("base_url must not have a query or fragment".to_owned());
    }
    match url.scheme() {
        "https" => Ok(()),
        "http" => {
            let host = url.host_str().unwrap_or("");
            let host = host.trim_start_matches('[').trim_end_matches(']');
            let loopback = host.eq_ignore_ascii_case("localhost")
                || host
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback());
            if loopback {
                Ok(())
            } else {
                Err("plain http is only allowed for loopback hosts".to_owned())
            }
        }
        other => Err(format!("unsupported scheme {other:?}")),
    }
}

/// Percent-encodes one path segment (everything but RFC 3986 unreserved characters).
pub(crate) fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[derive(Deserialize)]
struct ApiErrorBody {
    error: Option<String>,
    message: Option<String>,
    #[serde(rename = "errorCode")]
    error_code: Option<String>,
}

/// A request body as JSON; a type that cannot be serialised is a configuration error.
pub(crate) fn to_body<B: serde::Serialize + ?Sized>(
    body: &B,
) -> Result<serde_json::Value, Auth0Error> {
    serde_json::to_value(body).map_err(|e| Auth0Error::Config {
        message: format!("request body cannot be serialised: {e}"),
    })
}

fn jitter(d: Duration) -> Duration {
    d.mul_f64(rand::thread_rng().gen_range(0.5..1.5))
}

impl TenantClient {
    pub(crate) fn new(
        config: TenantConfig,
        http: reqwest::Client,
        limiter: Arc<RateLimiter>,
        metrics: Auth0Metrics,
        wait_budget: Duration,
    ) -> Self {
        let base = config.base_url.trim_end_matches('/').to_owned();
        let config_error = validate_base_url(&base).err();
        let token_req = TokenRequest {
            url: format!("{base}/oauth/token"),
            client_id: config.client_id.clone(),
            client_secret: config.client_secret.clone(),
            audience: format!("https://{}/api/v2/", config.domain),
        };
        TenantClient {
            api_base: format!("{base}/api/v2"),
            token_req,
            tokens: TokenCache::default(),
            http,
            limiter,
            metrics,
            wait_budget,
            config_error,
            config,
        }
    }

    /// The `AuthTenant` name this client serves.
    pub fn tenant(&self) -> &str {
        &self.config.tenant
    }

    /// The client id of the Management API credentials this client authenticates with (the
    /// tenant's own machine-to-machine application: never to be adopted by an AuthClient).
    pub fn client_id(&self) -> &str {
        &self.config.client_id
    }

    /// The Auth0 domain (e.g. `acme.eu.auth0.com`).
    pub fn domain(&self) -> &str {
        &self.config.domain
    }

    /// `Some(until)` while every call to this tenant is paused after a 429 or an exhausted
    /// `x-ratelimit-remaining`. A tokio instant: compare it with `tokio::time::Instant::now()`.
    pub fn throttled_until(&self) -> Option<Instant> {
        self.limiter.throttled_until()
    }

    fn check_config(&self) -> Result<(), Auth0Error> {
        match &self.config_error {
            Some(message) => Err(Auth0Error::Config {
                message: message.clone(),
            }),
            None => Ok(()),
        }
    }

    /// Obtains (or reuses) a Management API token: proves the credentials work.
    pub async fn verify_credentials(&self) -> Result<(), Auth0Error> {
        self.check_config()?;
        self.tokens
            .get(&self.http, &self.token_req)
            .await
            .map(|_| ())
    }

    /// `POST /api/v2/clients`. Never retried on 5xx/transport errors (see the type's docs).
    pub async fn create_client<B: serde::Serialize + ?Sized>(
        &self,
        body: &B,
        p: Priority,
    ) -> Result<Auth0Client, Auth0Error> {
        let body = to_body(body)?;
        let bytes = self
            .call(Method::POST, "/clients", &[], Some(&body), p)
            .await?;
        decode(&bytes, "client")
    }

    /// `GET /api/v2/clients/{id}`.
    pub async fn get_client(&self, id: &str, p: Priority) -> Result<Auth0Client, Auth0Error> {
        let path = format!("/clients/{}", encode_segment(id));
        let bytes = self.call(Method::GET, &path, &[], None, p).await?;
        decode(&bytes, "client")
    }

    /// `GET /api/v2/clients/{id}?fields=client_secret&include_fields=false`: the client
    /// without its secret (what is read before deciding whether it may be adopted).
    pub async fn get_client_without_secret(
        &self,
        id: &str,
        p: Priority,
    ) -> Result<Auth0Client, Auth0Error> {
        let path = format!("/clients/{}", encode_segment(id));
        let query = [
            ("fields", "client_secret".to_owned()),
            ("include_fields", "false".to_owned()),
        ];
        let bytes = self.call(Method::GET, &path, &query, None, p).await?;
        decode(&bytes, "client")
    }

    /// `PATCH /api/v2/clients/{id}` (partial update; `client_metadata` is merged).
    pub async fn patch_client<B: serde::Serialize + ?Sized>(
        &self,
        id: &str,
        body: &B,
        p: Priority,
    ) -> Result<Auth0Client, Auth0Error> {
        let path = format!("/clients/{}", encode_segment(id));
        let body = to_body(body)?;
        let bytes = self.call(Method::PATCH, &path, &[], Some(&body), p).await?;
        decode(&bytes, "client")
    }

    /// `DELETE /api/v2/clients/{id}`; a 404 counts as done.
    pub async fn delete_client(&self, id: &str, p: Priority) -> Result<(), Auth0Error> {
        let path = format!("/clients/{}", encode_segment(id));
        match self.call(Method::DELETE, &path, &[], None, p).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// `POST /api/v2/clients/{id}/rotate-secret`: the client with its new `client_secret`.
    /// Never retried on 5xx/transport errors.
    pub async fn rotate_secret(&self, id: &str, p: Priority) -> Result<Auth0Client, Auth0Error> {
        let path = format!("/clients/{}/rotate-secret", encode_segment(id));
        let bytes = self.call(Method::POST, &path, &[], None, p).await?;
        decode(&bytes, "client")
    }

    /// One offset page of `GET /api/v2/clients` with `include_totals=true`. `per_page` is
    /// clamped to 1..=100; `fields` (when not empty) restricts the returned fields (`client_id`
    /// is always added). Auth0 serves offset pages only within the first 1,000 clients: to
    /// list a whole tenant use [`TenantClient::client_pages`] (checkpoint paging).
    pub async fn list_clients_page(
        &self,
        page: u32,
        per_page: u32,
        fields: &[&str],
        p: Priority,
    ) -> Result<ClientPage, Auth0Error> {
        let per_page = per_page.clamp(1, MAX_PER_PAGE);
        let mut query = vec![
            ("page", page.to_string()),
            ("per_page", per_page.to_string()),
            ("include_totals", "true".to_owned()),
        ];
        query.extend(super::checkpoint::fields_query(fields));
        let bytes = self.call(Method::GET, "/clients", &query, None, p).await?;
        let value: serde_json::Value = decode(&bytes, "client list")?;
        if value.is_array() {
            // Answer without totals: synthesise them.
            let clients: Vec<Auth0Client> =
                serde_json::from_value(value).map_err(|source| Auth0Error::Decode {
                    what: "client list",
                    source,
                })?;
            let start = u64::from(page) * u64::from(per_page);
            return Ok(ClientPage {
                total: start + clients.len() as u64,
                start,
                limit: u64::from(per_page),
                clients,
            });
        }
        serde_json::from_value(value).map_err(|source| Auth0Error::Decode {
            what: "client list",
            source,
        })
    }

    /// Every client of the tenant, collected from the checkpoint pages (100 per page) of
    /// [`TenantClient::client_pages`]. Callers that only search or compare should walk the
    /// pages instead, which keeps one page in memory.
    pub async fn list_all_clients(
        &self,
        fields: &[&str],
        p: Priority,
    ) -> Result<Vec<Auth0Client>, Auth0Error> {
        let mut all = Vec::new();
        let mut pages = self.client_pages(fields, p);
        while let Some(page) = pages.next_page().await? {
            all.extend(page);
        }
        Ok(all)
    }

    /// One page of an offset-paged list at `path` (`page`, `per_page` clamped to 1..=100,
    /// `include_totals=true`, plus `query`), its items under `key`.
    pub(crate) async fn list_page<T: DeserializeOwned>(
        &self,
        path: &str,
        key: &str,
        what: &'static str,
        (page, per_page): (u32, u32),
        query: &[(&str, String)],
        p: Priority,
    ) -> Result<Page<T>, Auth0Error> {
        let per_page = per_page.clamp(1, MAX_PER_PAGE);
        let mut q = vec![
            ("page", page.to_string()),
            ("per_page", per_page.to_string()),
            ("include_totals", "true".to_owned()),
        ];
        q.extend(query.iter().cloned());
        let bytes = self.call(Method::GET, path, &q, None, p).await?;
        decode_page(&bytes, key, page, per_page, what)
    }

    /// Every item of an offset-paged list, 100 per page until a short page or the total.
    pub(crate) async fn list_all<T: DeserializeOwned>(
        &self,
        path: &str,
        key: &str,
        what: &'static str,
        query: &[(&str, String)],
        p: Priority,
    ) -> Result<Vec<T>, Auth0Error> {
        let mut all = Vec::new();
        for page in 0..MAX_PAGES {
            let pg: Page<T> = self
                .list_page(path, key, what, (page, MAX_PER_PAGE), query, p)
                .await?;
            let n = pg.items.len();
            all.extend(pg.items);
            if n < MAX_PER_PAGE as usize || all.len() as u64 >= pg.total {
                return Ok(all);
            }
        }
        tracing::warn!(tenant = %self.config.tenant, what, "stopped listing after {MAX_PAGES} pages");
        Ok(all)
    }

    /// Sends one Management API request with token handling, rate limiting and retries.
    pub(crate) async fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&serde_json::Value>,
        priority: Priority,
    ) -> Result<Vec<u8>, Auth0Error> {
        self.check_config()?;
        let deadline = Instant::now() + self.wait_budget;
        let retry_transient = method != Method::POST;
        let tenant = self.config.tenant.as_str();
        let url = format!("{}{}", self.api_base, path);
        let mut refreshed = false;
        let mut transient_retries = 0u32;
        loop {
            let token = self.tokens.get(&self.http, &self.token_req).await?;
            if let Err(over) = self.limiter.acquire(priority, deadline).await {
                return Err(Auth0Error::RateLimited {
                    retry_after: over.0,
                });
            }
            let mut rb = self
                .http
                .request(method.clone(), &url)
                .bearer_auth(token.value.expose())
                .header(reqwest::header::ACCEPT, "application/json");
            if !query.is_empty() {
                rb = rb.query(query);
            }
            if let Some(b) = body {
                rb = rb.json(b);
            }
            let t0 = Instant::now();
            let sent = rb.send().await;
            let resp = match sent {
                Ok(r) => r,
                Err(e) => {
                    self.metrics
                        .observe_request(tenant, method.as_str(), "error", t0.elapsed());
                    let err = Auth0Error::transport(e);
                    if retry_transient
                        && let Some(d) = self.transient_delay(transient_retries, None, deadline)
                    {
                        transient_retries += 1;
                        tracing::debug!(tenant, method = %method, path, error = %err, "retrying after transport error");
                        tokio::time::sleep(d).await;
                        continue;
                    }
                    return Err(err);
                }
            };
            let status = resp.status();
            self.metrics
                .observe_request(tenant, method.as_str(), status.as_str(), t0.elapsed());
            tracing::debug!(tenant, method = %method, path, status = status.as_u16(), elapsed_ms = t0.elapsed().as_millis() as u64, "Auth0 request");
            let now_sys = wall_now();
            let rl = parse_rate_limit_headers(resp.headers());
            let retry_after = resp
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| parse_retry_after(v, now_sys));

            if status == StatusCode::TOO_MANY_REQUESTS {
                self.metrics.inc_429(tenant);
                let wait = retry_after
                    .or_else(|| rl.reset.map(|r| until_epoch(r, now_sys)))
                    .filter(|d| !d.is_zero())
                    .unwrap_or(Duration::from_secs(1))
                    .min(MAX_PAUSE);
                let until = Instant::now() + wait;
                self.limiter
                    .pause_until(until, PauseReason::TooManyRequests);
                if until > deadline {
                    return Err(Auth0Error::RateLimited { retry_after: wait });
                }
                continue;
            }
            match rl.remaining {
                Some(0) => {
                    // The tenant's bucket is empty, not closed: it refills continuously, and
                    // `x-ratelimit-reset` is when it is *full* again (`x-ratelimit-limit` tokens
                    // later). Empty the local bucket and wait for the tenant's next token, instead
                    // of idling until the whole burst is back and then wasting it.
                    self.limiter.observe_remaining(0);
                    if let Some(reset) = rl.reset {
                        let until_full = until_epoch(reset, now_sys);
                        let tokens =
                            u32::try_from(rl.limit.unwrap_or(1).max(1)).unwrap_or(u32::MAX);
                        let wait = (until_full / tokens).min(MAX_PAUSE);
                        if !wait.is_zero() {
                            self.limiter
                                .pause_until(Instant::now() + wait, PauseReason::Exhausted);
                        }
                    }
                }
                Some(r) => self.limiter.observe_remaining(r),
                None => {}
            }

            let bytes = match resp.bytes().await {
                Ok(b) => b.to_vec(),
                Err(e) => {
                    let err = Auth0Error::transport(e);
                    if status.is_success()
                        || !retry_transient
                        || self
                            .transient_delay(transient_retries, None, deadline)
                            .is_none()
                    {
                        return Err(err);
                    }
                    transient_retries += 1;
                    continue;
                }
            };
            if status.is_success() {
                return Ok(bytes);
            }
            if status == StatusCode::UNAUTHORIZED && !refreshed {
                refreshed = true;
                tracing::debug!(
                    tenant,
                    "Management API answered 401; refreshing the token once"
                );
                self.tokens.invalidate(token.generation).await;
                continue;
            }
            let err = api_error(
                status,
                &bytes,
                &[self.config.client_secret.expose(), token.value.expose()],
            );
            if status.is_server_error()
                && retry_transient
                && let Some(d) = self.transient_delay(transient_retries, retry_after, deadline)
            {
                transient_retries += 1;
                tracing::debug!(tenant, method = %method, path, error = %err, "retrying after server error");
                tokio::time::sleep(d).await;
                continue;
            }
            return Err(err);
        }
    }

    /// The delay before transient retry number `done + 1`, or `None` when no retry is left or it
    /// would end after the deadline.
    fn transient_delay(
        &self,
        done: u32,
        retry_after: Option<Duration>,
        deadline: Instant,
    ) -> Option<Duration> {
        if done >= MAX_TRANSIENT_RETRIES {
            return None;
        }
        let d = retry_after.unwrap_or_else(|| jitter(TRANSIENT_BACKOFF * 2u32.pow(done)));
        (Instant::now() + d < deadline).then_some(d)
    }
}

fn api_error(status: StatusCode, bytes: &[u8], secrets: &[&str]) -> Auth0Error {
    let parsed: Option<ApiErrorBody> = serde_json::from_slice(bytes).ok();
    let reason = status.canonical_reason().unwrap_or("").to_owned();
    let (error, message, error_code) = match parsed {
        Some(b) => (
            b.error.unwrap_or_else(|| reason.clone()),
            b.message.unwrap_or_else(|| reason.clone()),
            b.error_code,
        ),
        None => (reason.clone(), reason, None),
    };
    Auth0Error::Api {
        status: status.as_u16(),
        error: scrub(&error, secrets),
        error_code,
        message: scrub(&message, secrets),
    }
}

pub(crate) fn decode<T: DeserializeOwned>(
    bytes: &[u8],
    what: &'static str,
) -> Result<T, Auth0Error> {
    serde_json::from_slice(bytes).map_err(|source| Auth0Error::Decode { what, source })
}

/// The totals of an offset-paged answer (`include_totals=true`).
#[derive(Deserialize)]
struct Totals {
    #[serde(default)]
    total: u64,
    #[serde(default)]
    start: u64,
    #[serde(default)]
    limit: u64,
}

/// Decodes one page of an offset-paged list: `{"total","start","limit","<key>":[...]}`, or a bare
/// array (an answer without totals; they are synthesised from `page` and `per_page`).
pub(crate) fn decode_page<T: DeserializeOwned>(
    bytes: &[u8],
    key: &str,
    page: u32,
    per_page: u32,
    what: &'static str,
) -> Result<Page<T>, Auth0Error> {
    let value: serde_json::Value = decode(bytes, what)?;
    let from_value = |v: serde_json::Value| {
        serde_json::from_value::<Vec<T>>(v).map_err(|source| Auth0Error::Decode { what, source })
    };
    if value.is_array() {
        let items = from_value(value)?;
        let start = u64::from(page) * u64::from(per_page);
        return Ok(Page {
            total: start + items.len() as u64,
            start,
            limit: u64::from(per_page),
            items,
        });
    }
    let mut value = value;
    let items = match value.get_mut(key).map(serde_json::Value::take) {
        Some(v) => from_value(v)?,
        None => Vec::new(),
    };
    let totals: Totals =
        serde_json::from_value(value).map_err(|source| Auth0Error::Decode { what, source })?;
    Ok(Page {
        total: totals.total,
        start: totals.start,
        limit: totals.limit,
        items,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_path_segments() {
        assert_eq!(encode_segment("AbC-1_2.3~"), "AbC-1_2.3~");
        assert_eq!(encode_segment("a/b?c#d e%"), "a%2Fb%3Fc%23d%20e%25");
        assert_eq!(encode_segment(".."), "..");
        assert_eq!(encode_segment("é"), "%C3%A9");
    }

    #[test]
    fn base_url_rules() {
        assert!(validate_base_url("https://acme.eu.auth0.com").is_ok());
        assert!(validate_base_url("http://127.0.0.1:8080").is_ok());
        assert!(validate_base_url("http://localhost:8080").is_ok());
        assert!(validate_base_url("http://[::1]:8080").is_ok());
        assert!(validate_base_url("http://acme.eu.auth0.com").is_err());
        assert!(validate_base_url("https://u:p@acme.eu.auth0.com").is_err());
        assert!(validate_base_url("ftp://acme").is_err());
        assert!(validate_base_url("not a url").is_err());
    }

    #[test]
    fn pages_decode_in_both_shapes() {
        let page: Page<serde_json::Value> = decode_page(
            br#"{"total":3,"start":2,"limit":2,"things":[{"a":1}]}"#,
            "things",
            1,
            2,
            "things",
        )
        .unwrap();
        assert_eq!(
            (page.total, page.start, page.limit, page.items.len()),
            (3, 2, 2, 1)
        );
        let bare: Page<serde_json::Value> =
            decode_page(br#"[{"a":1},{"a":2}]"#, "things", 1, 2, "things").unwrap();
        assert_eq!(
            (bare.total, bare.start, bare.limit, bare.items.len()),
            (4, 2, 2, 2)
        );
        assert!(matches!(
            decode_page::<serde_json::Value>(br#"{"things":3}"#, "things", 0, 2, "things"),
            Err(Auth0Error::Decode { what: "things", .. })
        ));
    }

    #[test]
    fn conflicts_are_recognised() {
        let e = api_error(
            StatusCode::CONFLICT,
            br#"{"statusCode":409,"error":"Conflict","message":"exists"}"#,
            &[],
        );
        assert!(e.is_conflict() && !e.is_not_found() && !e.is_transient());
        let e = api_error(StatusCode::NOT_FOUND, b"{}", &[]);
        assert!(!e.is_conflict() && e.is_not_found());
    }

    #[test]
    fn api_error_keeps_code_and_message() {
        let e = api_error(
            StatusCode::BAD_REQUEST,
            br#"{"statusCode":400,"error":"Bad Request","message":"Payload validation error","errorCode":"invalid_body"}"#,
            &[],
        );
        assert_eq!(
            e.to_string(),
            "Auth0 answered 400 invalid_body: Payload validation error"
        );
        assert_eq!(e.error_code(), Some("invalid_body"));
        let e = api_error(StatusCode::BAD_GATEWAY, b"<html>", &[]);
        assert_eq!(e.to_string(), "Auth0 answered 502 Bad Gateway: Bad Gateway");
        assert!(e.is_transient());
    }
}
