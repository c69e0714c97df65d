//! The per-tenant rate limiter: a token bucket whose waiters are served by priority, plus the
//! tenant-wide pause that follows a 429 or an exhausted `x-ratelimit-remaining`, and the parsing of
//! Auth0's rate-limit headers.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::header::HeaderMap;
use tokio::sync::{Notify, oneshot};
use tokio::time::Instant;

use super::metrics::Auth0Metrics;

/// Longest pause the client accepts from `Retry-After` / `x-ratelimit-reset` (guards against clock
/// skew and absurd values).
pub(crate) const MAX_PAUSE: Duration = Duration::from_secs(600);

/// Who gets the next rate-limit token when several calls wait for the same tenant.
///
/// Waiters are served strictly by priority (every `Critical` before any `Normal` before any
/// `Background`) and first-in first-out within a priority.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Priority {
    /// Deletes, creates, secret rotation: work a user is waiting on and that must not starve.
    Critical,
    /// Reconcile reads/patches, the HTTP facade.
    Normal,
    /// Drift scans and other bulk reads.
    Background,
}

impl Priority {
    fn index(self) -> usize {
        match self {
            Priority::Critical => 0,
            Priority::Normal => 1,
            Priority::Background => 2,
        }
    }
}

/// Rate-limit information of one Management API response.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct RateLimitHeaders {
    /// `x-ratelimit-limit`
    pub limit: Option<u64>,
    /// `x-ratelimit-remaining`
    pub remaining: Option<u64>,
    /// `x-ratelimit-reset` (UNIX epoch seconds)
    pub reset: Option<u64>,
}

fn header_u64(h: &HeaderMap, name: &str) -> Option<u64> {
    h.get(name)?.to_str().ok()?.trim().parse().ok()
}

/// Reads `x-ratelimit-limit/remaining/reset`; absent or malformed values are `None`.
pub(crate) fn parse_rate_limit_headers(h: &HeaderMap) -> RateLimitHeaders {
    RateLimitHeaders {
        limit: header_u64(h, "x-ratelimit-limit"),
        remaining: header_u64(h, "x-ratelimit-remaining"),
        reset: header_u64(h, "x-ratelimit-reset"),
    }
}

/// Time from `now` until the UNIX epoch second `reset` (zero when it is in the past).
pub(crate) fn until_epoch(reset: u64, now: SystemTime) -> Duration {
    (UNIX_EPOCH + Duration::from_secs(reset))
        .duration_since(now)
        .unwrap_or(Duration::ZERO)
}

/// Parses `Retry-After`: delay-seconds or an HTTP-date (IMF-fixdate, e.g.
/// `Wed, 21 Oct 2015 07:28:00 GMT`). A date in the past gives zero.
pub(crate) fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = parse_http_date(v)?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Parses an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`).
pub(crate) fn parse_http_date(s: &str) -> Option<SystemTime> {
    let (_weekday, rest) = s.split_once(", ")?;
    let mut parts = rest.split_ascii_whitespace();
    let day: u32 = parts.next()?.parse().ok()?;
    let month = match parts.next()? {
        "Jan" => 1,
        "Feb" => 2,
        "Mar" => 3,
        "Apr" => 4,
        "May" => 5,
        "Jun" => 6,
        "Jul" => 7,
        "Aug" => 8,
        "Sep" => 9,
        "Oct" => 10,
        "Nov" => 11,
        "Dec" => 12,
        _ => return None,
    };
    let year: i64 = parts.next()?.parse().ok()?;
    let mut hms = parts.next()?.split(':');
    let h: u64 = hms.next()?.parse().ok()?;
    let m: u64 = hms.next()?.parse().ok()?;
    let sec: u64 = hms.next()?.parse().ok()?;
    if parts.next()? != "GMT" || parts.next().is_some() || hms.next().is_some() {
        return None;
    }
    if !(1..=31).contains(&day) || h > 23 || m > 59 || sec > 60 || year < 1970 {
        return None;
    }
    let days = days_from_civil(year, month, day);
    let secs = u64::try_from(days).ok()? * 86_400 + h * 3600 + m * 60 + sec;
    Some(UNIX_EPOCH + Duration::from_secs(secs))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

struct Waiter {
    tx: oneshot::Sender<Result<(), Instant>>,
    deadline: Instant,
}

struct State {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
    paused_until: Option<Instant>,
    queues: [VecDeque<Waiter>; 3],
    dispatcher_running: bool,
    monitor_running: bool,
    /// A 429 warning was logged in the current throttle episode.
    warned: bool,
}

impl State {
    fn refill(&mut self, now: Instant) {
        if now > self.last {
            let add = (now - self.last).as_secs_f64() * self.rate;
            self.tokens = (self.tokens + add).min(self.burst);
            self.last = now;
        }
    }

    fn paused(&self, now: Instant) -> Option<Instant> {
        self.paused_until.filter(|u| *u > now)
    }

    fn queued(&self) -> usize {
        self.queues.iter().map(VecDeque::len).sum()
    }

    fn prune_cancelled(&mut self) {
        for q in &mut self.queues {
            q.retain(|w| !w.tx.is_closed());
        }
    }

    fn pop_head(&mut self) -> Option<Waiter> {
        self.queues.iter_mut().find_map(VecDeque::pop_front)
    }
}

/// Why the tenant is paused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PauseReason {
    /// Auth0 answered 429 Too Many Requests.
    TooManyRequests,
    /// A response said `x-ratelimit-remaining: 0`.
    Exhausted,
}

/// Why [`RateLimiter::acquire`] gave up: the wait would exceed the caller's deadline. Carries the
/// suggested delay before retrying.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OverBudget(pub Duration);

/// One tenant's limiter, shared by every caller of that tenant.
pub(crate) struct RateLimiter {
    tenant: String,
    metrics: Auth0Metrics,
    state: Mutex<State>,
    wake: Notify,
}

impl RateLimiter {
    /// A limiter admitting `rps` requests per second with bursts of `burst` (both at least 1).
    pub(crate) fn new(tenant: &str, rps: u32, burst: u32, metrics: Auth0Metrics) -> Arc<Self> {
        let burst = f64::from(burst.max(1));
        Arc::new(RateLimiter {
            tenant: tenant.to_owned(),
            metrics,
            state: Mutex::new(State {
                rate: f64::from(rps.max(1)),
                burst,
                tokens: burst,
                last: Instant::now(),
                paused_until: None,
                queues: Default::default(),
                dispatcher_running: false,
                monitor_running: false,
                warned: false,
            }),
            wake: Notify::new(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The state stays consistent even if a holder panicked: every critical section is small.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Changes the rate and burst (keeps the current pause and queue).
    pub(crate) fn reconfigure(&self, rps: u32, burst: u32) {
        {
            let mut st = self.lock();
            st.refill(Instant::now());
            st.rate = f64::from(rps.max(1));
            st.burst = f64::from(burst.max(1));
            st.tokens = st.tokens.min(st.burst);
        }
        self.wake.notify_one();
    }

    /// `Some(instant)` while the tenant is paused.
    pub(crate) fn throttled_until(&self) -> Option<Instant> {
        self.lock().paused(Instant::now())
    }

    /// Waits for a token. Fails with the suggested retry delay when the wait would end after
    /// `deadline` (immediately when a known pause outlasts it).
    pub(crate) async fn acquire(
        self: &Arc<Self>,
        priority: Priority,
        deadline: Instant,
    ) -> Result<Duration, OverBudget> {
        let start = Instant::now();
        let rx = {
            let mut st = self.lock();
            st.refill(start);
            match st.paused(start) {
                Some(until) if until > deadline => {
                    return Err(OverBudget(until - start));
                }
                Some(_) => {}
                None => {
                    if st.queued() == 0 && st.tokens >= 1.0 {
                        st.tokens -= 1.0;
                        return Ok(Duration::ZERO);
                    }
                }
            }
            let (tx, rx) = oneshot::channel();
            st.queues[priority.index()].push_back(Waiter { tx, deadline });
            if !st.dispatcher_running {
                st.dispatcher_running = true;
                tokio::spawn(Arc::clone(self).dispatch());
            }
            rx
        };
        match tokio::time::timeout_at(deadline, rx).await {
            Ok(Ok(Ok(()))) => {
                let waited = start.elapsed();
                self.metrics.observe_wait(&self.tenant, waited);
                Ok(waited)
            }
            Ok(Ok(Err(until))) => Err(OverBudget(until.saturating_duration_since(Instant::now()))),
            // The dispatcher never drops a sender without answering; be safe anyway.
            Ok(Err(_)) => Err(OverBudget(Duration::from_secs(1))),
            Err(_) => Err(OverBudget(self.estimate_wait())),
        }
    }

    /// Rough time until a newly queued call would get through.
    fn estimate_wait(&self) -> Duration {
        let st = self.lock();
        let now = Instant::now();
        let pause = st
            .paused(now)
            .map_or(Duration::ZERO, |u| u.saturating_duration_since(now));
        let queue = Duration::from_secs_f64(((st.queued() as f64 + 1.0) / st.rate).min(3600.0));
        pause + queue
    }

    /// Grants tokens to waiters in priority order until the queue is empty.
    async fn dispatch(self: Arc<Self>) {
        loop {
            let sleep_until = {
                let mut st = self.lock();
                st.prune_cancelled();
                if st.queued() == 0 {
                    st.dispatcher_running = false;
                    return;
                }
                let now = Instant::now();
                if let Some(until) = st.paused(now) {
                    until
                } else {
                    st.refill(now);
                    if st.tokens >= 1.0 {
                        st.tokens -= 1.0;
                        if let Some(w) = st.pop_head()
                            && w.tx.send(Ok(())).is_err()
                        {
                            st.tokens += 1.0; // cancelled meanwhile: give the token back
                        }
                        continue;
                    }
                    // At least 1 ms: a deficit of a few ulps rounds to a zero Duration, and
                    // sleeping until `now` would spin without letting time pass (a livelock on
                    // tokio's paused clock).
                    now + Duration::from_secs_f64((1.0 - st.tokens) / st.rate)
                        .max(Duration::from_millis(1))
                }
            };
            tokio::select! {
                () = tokio::time::sleep_until(sleep_until) => {}
                () = self.wake.notified() => {}
            }
        }
    }

    /// Limits the local bucket to what Auth0 says remains for the tenant (other callers share it).
    pub(crate) fn observe_remaining(&self, remaining: u64) {
        let mut st = self.lock();
        st.refill(Instant::now());
        st.tokens = st.tokens.min(remaining as f64);
    }

    /// Pauses every caller of the tenant until `until` (a pause is only ever extended). Queued
    /// callers whose deadline falls before the end of the pause are released at once with
    /// [`OverBudget`]. A 429 is logged as a warning once per throttle episode (an exhausted
    /// bucket only at debug level: it is the normal way of pacing a busy tenant).
    pub(crate) fn pause_until(self: &Arc<Self>, until: Instant, reason: PauseReason) {
        let now = Instant::now();
        let mut st = self.lock();
        let new_episode = st.paused(now).is_none();
        if new_episode {
            st.warned = false;
        }
        if st.paused_until.is_none_or(|u| until > u) {
            st.paused_until = Some(until);
        }
        let until = st.paused_until.unwrap_or(until);
        // Nothing is spent during the pause; right after it one call may go, then the normal rate.
        st.tokens = 1.0_f64.min(st.burst);
        st.last = until;
        for q in &mut st.queues {
            let mut kept = VecDeque::with_capacity(q.len());
            for w in q.drain(..) {
                if w.deadline < until {
                    let _ = w.tx.send(Err(until));
                } else {
                    kept.push_back(w);
                }
            }
            *q = kept;
        }
        let pause_ms = (until - now).as_millis() as u64;
        if reason == PauseReason::TooManyRequests && !st.warned {
            st.warned = true;
            tracing::warn!(
                tenant = %self.tenant,
                pause_ms,
                "Auth0 rate limit reached (429); pausing all calls to this tenant"
            );
        } else if new_episode {
            tracing::debug!(
                tenant = %self.tenant,
                pause_ms,
                "Auth0 rate-limit bucket exhausted; pausing calls to this tenant until its reset"
            );
        }
        if new_episode {
            self.metrics.set_throttled(&self.tenant, true);
            if !st.monitor_running {
                st.monitor_running = true;
                tokio::spawn(Arc::clone(self).monitor_pause());
            }
        }
        drop(st);
        self.wake.notify_one();
    }

    /// Clears the throttled gauge when the pause (and its extensions) is over.
    async fn monitor_pause(self: Arc<Self>) {
        loop {
            let until = {
                let mut st = self.lock();
                match st.paused(Instant::now()) {
                    Some(u) => u,
                    None => {
                        st.monitor_running = false;
                        self.metrics.set_throttled(&self.tenant, false);
                        if st.warned {
                            tracing::info!(tenant = %self.tenant, "Auth0 rate-limit pause over");
                        }
                        return;
                    }
                }
            };
            tokio::time::sleep_until(until).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn retry_after_seconds() {
        let now = SystemTime::now();
        assert_eq!(parse_retry_after("7", now), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-3", now), None);
    }

    #[test]
    fn retry_after_http_date() {
        // 1994-11-06T08:49:37Z = 784111777
        let at = UNIX_EPOCH + Duration::from_secs(784_111_777);
        assert_eq!(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"), Some(at));
        let now = at - Duration::from_secs(42);
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now),
            Some(Duration::from_secs(42))
        );
        // in the past -> zero
        let later = at + Duration::from_secs(5);
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", later),
            Some(Duration::ZERO)
        );
        // 2024-02-29T23:59:59Z = 1709251199 (leap day)
        assert_eq!(
            parse_http_date("Thu, 29 Feb 2024 23:59:59 GMT"),
            Some(UNIX_EPOCH + Duration::from_secs(1_709_251_199))
        );
        assert_eq!(parse_http_date("Sun, 06 Foo 1994 08:49:37 GMT"), None);
        assert_eq!(parse_http_date("Sun, 06 Nov 1994 08:49:37 CET"), None);
        assert_eq!(parse_http_date("garbage"), None);
    }

    #[test]
    fn rate_limit_headers() {
        let mut h = HeaderMap::new();
        h.insert("x-ratelimit-limit", HeaderValue::from_static("50"));
        h.insert("x-ratelimit-remaining", HeaderValue::from_static("0"));
        h.insert("x-ratelimit-reset", HeaderValue::from_static("1700000000"));
        assert_eq!(
            parse_rate_limit_headers(&h),
            RateLimitHeaders {
                limit: Some(50),
                remaining: Some(0),
                reset: Some(1_700_000_000)
            }
        );
        let mut h = HeaderMap::new();
        h.insert("x-ratelimit-remaining", HeaderValue::from_static("x"));
        assert_eq!(parse_rate_limit_headers(&h), RateLimitHeaders::default());
        let now = UNIX_EPOCH + Duration::from_secs(1_699_999_990);
        assert_eq!(until_epoch(1_700_000_000, now), Duration::from_secs(10));
        assert_eq!(until_epoch(1_600_000_000, now), Duration::ZERO);
    }

    fn limiter(rps: u32, burst: u32) -> Arc<RateLimiter> {
        RateLimiter::new("t", rps, burst, Auth0Metrics::new())
    }

    #[tokio::test(start_paused = true)]
    async fn burst_then_rate() {
        let l = limiter(2, 3);
        let far = Instant::now() + Duration::from_secs(60);
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(l.acquire(Priority::Normal, far).await, Ok(Duration::ZERO));
        }
        l.acquire(Priority::Normal, far).await.unwrap();
        assert_eq!(t0.elapsed(), Duration::from_millis(500));
        l.acquire(Priority::Normal, far).await.unwrap();
        assert_eq!(t0.elapsed(), Duration::from_millis(1000));
    }

    #[tokio::test(start_paused = true)]
    async fn priority_order_then_fifo() {
        let l = limiter(1, 1);
        let far = Instant::now() + Duration::from_secs(60);
        l.acquire(Priority::Normal, far).await.unwrap(); // empty the bucket
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut handles = Vec::new();
        for (name, p) in [
            ("bg1", Priority::Background),
            ("n1", Priority::Normal),
            ("bg2", Priority::Background),
            ("c1", Priority::Critical),
            ("n2", Priority::Normal),
            ("c2", Priority::Critical),
        ] {
            let (l, order) = (Arc::clone(&l), Arc::clone(&order));
            handles.push(tokio::spawn(async move {
                l.acquire(p, far).await.unwrap();
                order.lock().unwrap().push(name);
            }));
            tokio::task::yield_now().await; // make the enqueue order deterministic
        }
        for h in handles {
            h.await.unwrap();
        }
        assert_eq!(
            *order.lock().unwrap(),
            vec!["c1", "c2", "n1", "n2", "bg1", "bg2"]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn deadline_exceeded_in_queue() {
        let l = limiter(1, 1);
        let now = Instant::now();
        l.acquire(Priority::Normal, now + Duration::from_secs(60))
            .await
            .unwrap();
        let r = l
            .acquire(Priority::Normal, now + Duration::from_millis(300))
            .await;
        assert!(r.is_err());
        assert_eq!(now.elapsed(), Duration::from_millis(300));
        // the cancelled waiter did not consume the next token
        let t1 = Instant::now();
        l.acquire(Priority::Normal, now + Duration::from_secs(60))
            .await
            .unwrap();
        assert_eq!(t1.elapsed(), Duration::from_millis(700));
    }

    #[tokio::test(start_paused = true)]
    async fn pause_blocks_everyone_and_releases_over_budget_waiters() {
        let l = limiter(10, 10);
        let now = Instant::now();
        l.pause_until(now + Duration::from_secs(5), PauseReason::TooManyRequests);
        assert_eq!(l.throttled_until(), Some(now + Duration::from_secs(5)));
        // a caller whose budget ends before the pause fails fast with the remaining pause
        assert_eq!(
            l.acquire(Priority::Critical, now + Duration::from_secs(2))
                .await,
            Err(OverBudget(Duration::from_secs(5)))
        );
        assert_eq!(now.elapsed(), Duration::ZERO);
        // a queued caller is released when a longer pause arrives
        let l2 = Arc::clone(&l);
        let queued = tokio::spawn(async move {
            l2.acquire(Priority::Normal, now + Duration::from_secs(8))
                .await
        });
        tokio::task::yield_now().await;
        l.pause_until(now + Duration::from_secs(10), PauseReason::TooManyRequests);
        assert_eq!(
            queued.await.unwrap(),
            Err(OverBudget(Duration::from_secs(10)))
        );
        // a caller with enough budget gets through right when the pause ends
        l.acquire(Priority::Normal, now + Duration::from_secs(30))
            .await
            .unwrap();
        assert_eq!(now.elapsed(), Duration::from_secs(10));
        assert_eq!(l.throttled_until(), None);
    }

    #[tokio::test(start_paused = true)]
    async fn observe_remaining_limits_local_bucket() {
        let l = limiter(1, 5);
        let far = Instant::now() + Duration::from_secs(60);
        l.observe_remaining(1);
        let t0 = Instant::now();
        l.acquire(Priority::Normal, far).await.unwrap();
        l.acquire(Priority::Normal, far).await.unwrap();
        assert_eq!(t0.elapsed(), Duration::from_secs(1));
    }
}
