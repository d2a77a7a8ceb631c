//! The JSON-RPC client every command uses: alloy's HTTP transport (a timeout per attempt) behind
//! one retry policy, a tower layer: transient failures (HTTP 429/5xx, connection errors,
//! timeouts, rate-limit and "busy" JSON-RPC errors) are retried with exponential backoff and
//! jitter, `Retry-After` honoured, until they have lasted `retry_for`; reverts and validation
//! errors never are. An optional client-side cap paces requests per second. Counters say how
//! often it happened.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use alloy::rpc::client::{ClientBuilder, RpcClient};
use alloy::rpc::json_rpc::{ErrorPayload, RequestPacket, ResponsePacket};
use alloy::transports::http::{Http, reqwest};
use alloy::transports::{RpcError, TransportError, TransportErrorKind, TransportFut};
use tokio::time::Instant;
use tower::{Layer, Service};

/// How the client treats failures and pacing.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RpcPolicy {
    /// Transient failures of one request are retried for this long; then the node is down.
    pub retry_for: Duration,
    /// Client-side cap on JSON-RPC calls per second (a batch counts each call).
    pub max_rps: Option<f64>,
    /// One HTTP attempt is abandoned (and counts as transient) after this long.
    pub attempt_timeout: Duration,
    /// A give-up is logged at debug, not as a warning: the caller reports the failure once
    /// (the first contact's probe).
    pub quiet: bool,
}

impl Default for RpcPolicy {
    fn default() -> Self {
        Self {
            retry_for: Duration::from_secs(30),
            max_rps: None,
            attempt_timeout: Duration::from_secs(10),
            quiet: false,
        }
    }
}

/// What the retry layer saw over the client's life.
#[derive(Debug)]
pub struct RpcStats {
    retries: AtomicU64,
    transient: AtomicU64,
    /// Set once a request's transient failures outlasted `retry_for`: the node is down.
    down: tokio::sync::watch::Sender<bool>,
    /// When the node last answered, and when it counted as down: UNIX ms, 0 = never.
    last_answer_ms: AtomicU64,
    down_at_ms: AtomicU64,
}

/// Now as UNIX milliseconds.
pub fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl Default for RpcStats {
    fn default() -> Self {
        Self {
            retries: AtomicU64::new(0),
            transient: AtomicU64::new(0),
            down: tokio::sync::watch::channel(false).0,
            last_answer_ms: AtomicU64::new(0),
            down_at_ms: AtomicU64::new(0),
        }
    }
}

impl RpcStats {
    /// Whether some request gave up after `retry_for` of transient failures.
    pub fn is_down(&self) -> bool {
        *self.down.borrow()
    }

    /// Forgets an earlier give-up (e.g. one a set-up step recovered from with a fallback):
    /// from now on a give-up means the node is down.
    pub fn clear_down(&self) {
        self.down.send_replace(false);
        self.down_at_ms.store(0, Ordering::Relaxed);
    }

    /// Marks the node down (once: the first give-up's time is kept).
    fn set_down(&self) {
        let _ =
            self.down_at_ms
                .compare_exchange(0, unix_ms(), Ordering::Relaxed, Ordering::Relaxed);
        self.down.send_replace(true);
    }

    /// When the node counted as down, UNIX ms.
    pub fn down_at_ms(&self) -> Option<u64> {
        Some(self.down_at_ms.load(Ordering::Relaxed)).filter(|t| *t > 0)
    }

    /// When the node last answered through this client, UNIX ms.
    pub fn last_answer_ms(&self) -> Option<u64> {
        Some(self.last_answer_ms.load(Ordering::Relaxed)).filter(|t| *t > 0)
    }

    /// Resolves once the node counts as down.
    pub async fn wait_down(&self) {
        let mut rx = self.down.subscribe();
        let _ = rx.wait_for(|d| *d).await;
    }

    /// Attempts repeated after a transient failure.
    pub fn retries(&self) -> u64 {
        self.retries.load(Ordering::Relaxed)
    }

    /// Counts a transient failure outside the client (the lean send path's) whose request is
    /// then sent again through it.
    pub fn retried_elsewhere(&self) {
        self.transient.fetch_add(1, Ordering::Relaxed);
        self.retries.fetch_add(1, Ordering::Relaxed);
    }

    /// Transient failures seen (retried or, once `retry_for` ran out, returned).
    pub fn transient_errors(&self) -> u64 {
        self.transient.load(Ordering::Relaxed)
    }
}

/// An HTTP JSON-RPC client for `url` behind the retry layer.
pub fn client(
    url: reqwest::Url,
    policy: RpcPolicy,
    stats: Arc<RpcStats>,
) -> Result<RpcClient, String> {
    let http = reqwest::Client::builder()
        .timeout(policy.attempt_timeout)
        .build()
        .map_err(|e| format!("HTTP client: {e}"))?;
    let shown = super::redact_url(url.as_str());
    let transport = Http::with_client(http, url);
    let is_local = transport.guess_local();
    Ok(ClientBuilder::default()
        .layer(RetryLayer::new(policy, stats, shown))
        .transport(transport, is_local))
}

/// The retry policy as a tower layer over any alloy transport.
#[derive(Clone)]
pub struct RetryLayer {
    policy: RpcPolicy,
    stats: Arc<RpcStats>,
    pacer: Option<Arc<Pacer>>,
    /// The endpoint as it may be shown (host and port): transport errors quote the URL, whose
    /// path or query can hold an API key.
    shown: Arc<str>,
}

impl RetryLayer {
    pub fn new(policy: RpcPolicy, stats: Arc<RpcStats>, shown: String) -> Self {
        Self {
            shown: shown.into(),
            pacer: policy
                .max_rps
                .filter(|r| r.is_finite() && *r > 0.0)
                .map(|r| Arc::new(Pacer::new(r))),
            policy,
            stats,
        }
    }
}

impl<S> Layer<S> for RetryLayer {
    type Service = RetryService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RetryService {
            inner,
            layer: self.clone(),
        }
    }
}

#[derive(Clone)]
pub struct RetryService<S> {
    inner: S,
    layer: RetryLayer,
}

impl<S> Service<RequestPacket> for RetryService<S>
where
    S: Service<RequestPacket, Future = TransportFut<'static>, Error = TransportError>
        + Clone
        + Send
        + 'static,
{
    type Response = ResponsePacket;
    type Error = TransportError;
    type Future = TransportFut<'static>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: RequestPacket) -> Self::Future {
        let mut inner = self.inner.clone();
        let layer = self.layer.clone();
        Box::pin(async move {
            let calls = request.method_names().count().max(1);
            let mut first_failure: Option<Instant> = None;
            let mut attempt = 0u32;
            loop {
                if let Some(p) = &layer.pacer {
                    p.take(calls).await;
                }
                let res = inner.call(request.clone()).await;
                let Some(hint) = transient(&res) else {
                    if res.is_ok() {
                        layer
                            .stats
                            .last_answer_ms
                            .store(unix_ms(), Ordering::Relaxed);
                    }
                    return scrubbed(res, &layer.shown);
                };
                layer.stats.transient.fetch_add(1, Ordering::Relaxed);
                let since = *first_failure.get_or_insert_with(Instant::now);
                // Once the node counts as down, nothing waits out another `retry_for`.
                if since.elapsed() >= layer.policy.retry_for || layer.stats.is_down() {
                    // The first give-up is the news; the requests that fail after it are not.
                    let already = layer.stats.is_down();
                    layer.stats.set_down();
                    let methods = request.method_names().take(3).collect::<Vec<_>>().join(",");
                    if layer.policy.quiet || already {
                        tracing::debug!(%methods, "giving up after {:?} of transient RPC failures", layer.policy.retry_for);
                    } else {
                        tracing::warn!(%methods, "giving up after {:?} of transient RPC failures", layer.policy.retry_for);
                    }
                    return scrubbed(res, &layer.shown);
                }
                let wait = backoff(attempt, hint);
                tracing::debug!(
                    attempt,
                    ?wait,
                    "transient RPC failure, retrying: {}",
                    what(&res)
                );
                attempt += 1;
                layer.stats.retries.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(wait).await;
            }
        })
    }
}

/// A transport error with every URL in its text replaced by `shown`.
fn scrubbed(
    res: Result<ResponsePacket, TransportError>,
    shown: &str,
) -> Result<ResponsePacket, TransportError> {
    match res {
        Err(RpcError::Transport(kind)) => {
            let text = kind.to_string();
            if text.contains("://") {
                Err(TransportErrorKind::custom_str(&scrub(&text, shown)))
            } else {
                Err(RpcError::Transport(kind))
            }
        }
        other => other,
    }
}

/// `text` with each `scheme://…` token (up to a space, quote or bracket) replaced by `shown`.
pub fn scrub(text: &str, shown: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        let start = rest[..i]
            .rfind(|c: char| !c.is_ascii_alphanumeric() && c != '+' && c != '.' && c != '-')
            .map_or(0, |j| j + 1);
        let end = rest[i..]
            .find(|c: char| c.is_whitespace() || "()<>\"'".contains(c))
            .map_or(rest.len(), |j| i + j);
        out.push_str(&rest[..start]);
        out.push_str(shown);
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

fn what(res: &Result<ResponsePacket, TransportError>) -> String {
    match res {
        Ok(p) => p
            .iter_errors()
            .next()
            .map_or_else(String::new, |e| format!("{} {}", e.code, e.message)),
        Err(e) => e.to_string(),
    }
}

/// `Some(server hint)` when the outcome is a transient failure worth retrying.
fn transient(res: &Result<ResponsePacket, TransportError>) -> Option<Option<Duration>> {
    match res {
        Ok(packet) => packet.iter_errors().any(busy).then_some(None),
        Err(RpcError::Transport(kind)) => transient_kind(kind),
        Err(RpcError::ErrorResp(p)) => busy(p).then_some(None),
        Err(RpcError::DeserError { text, .. }) => serde_json::from_str::<ErrorPayload>(text)
            .ok()
            .filter(busy)
            .map(|_| None),
        Err(_) => None,
    }
}

fn transient_kind(kind: &TransportErrorKind) -> Option<Option<Duration>> {
    match kind {
        TransportErrorKind::HttpError(h) => transient_status(h.status).then_some(None),
        TransportErrorKind::HttpErrorWithRetryAfter { error, retry_after } => {
            transient_status(error.status).then_some(Some(*retry_after))
        }
        // reqwest's errors: connection refused/reset, closed before the answer, timeouts.
        TransportErrorKind::Custom(_)
        | TransportErrorKind::BackendGone
        | TransportErrorKind::MissingBatchResponse(_) => Some(None),
        _ => None,
    }
}

fn transient_status(status: u16) -> bool {
    status == 429 || status == 408 || (500..600).contains(&status)
}

/// A JSON-RPC error that says "not now" rather than "no": rate limits and busy servers.
pub(crate) fn busy(p: &ErrorPayload) -> bool {
    let m = p.message.to_ascii_lowercase();
    // A revert (code 3, or its reason) is an answer, whatever its reason text says.
    if p.code == 3 || m.contains("revert") {
        return false;
    }
    p.is_retry_err()
        || m.contains("busy")
        || m.contains("temporarily unavailable")
        || m.contains("try again later")
}

/// Exponential from 100 ms, capped at 5 s, half of it jittered; a server's hint wins if longer.
fn backoff(attempt: u32, hint: Option<Duration>) -> Duration {
    let base = Duration::from_millis(100)
        .saturating_mul(1u32 << attempt.min(6))
        .min(Duration::from_secs(5));
    let jittered = base / 2 + base.mul_f64(jitter() / 2.0);
    hint.map_or(jittered, |h| h.max(jittered).min(Duration::from_secs(60)))
}

/// A number in [0, 1): splitmix64 over a counter and the clock (no RNG stream is consumed:
/// plan determinism does not depend on retry timing).
fn jitter() -> f64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos() as u64);
    let mut z = COUNTER
        .fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed)
        .wrapping_add(nanos);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

/// Paces calls to at most `rate` per second: each request reserves its slot in one timeline.
struct Pacer {
    interval: Duration,
    next: Mutex<Option<Instant>>,
}

impl Pacer {
    fn new(rate: f64) -> Self {
        Self {
            interval: Duration::from_secs_f64(1.0 / rate),
            next: Mutex::new(None),
        }
    }

    async fn take(&self, calls: usize) {
        let at = {
            let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
            let (at, after) = reserve(*next, Instant::now(), self.interval, calls);
            *next = Some(after);
            at
        };
        tokio::time::sleep_until(at).await;
    }
}

/// The pacing rule: a request of `calls` calls starts at the later of now and the end of the
/// previous reservation, and holds the timeline for `calls × interval`.
fn reserve(
    next: Option<Instant>,
    now: Instant,
    interval: Duration,
    calls: usize,
) -> (Instant, Instant) {
    let at = next.map_or(now, |n| n.max(now));
    let calls = u32::try_from(calls).unwrap_or(u32::MAX);
    (at, at + interval.saturating_mul(calls))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(code: i64, message: &str) -> ErrorPayload {
        serde_json::from_value(serde_json::json!({ "code": code, "message": message })).unwrap()
    }

    #[test]
    fn rate_limits_and_busy_servers_are_transient_reverts_are_not() {
        assert!(busy(&payload(-32005, "limit exceeded")));
        assert!(busy(&payload(429, "Too Many Requests")));
        assert!(busy(&payload(-32000, "server busy")));
        assert!(!busy(&payload(3, "execution reverted")));
        assert!(!busy(&payload(3, "execution reverted: busy")));
        assert!(!busy(&payload(
            -32000,
            "execution reverted: try again later"
        )));
        assert!(!busy(&payload(-32000, "nonce too low")));
        assert!(!busy(&payload(-32601, "the method eth_foo does not exist")));
    }

    #[test]
    fn urls_in_error_texts_are_scrubbed() {
        let t = "error sending request for url (https://rpc.example.org/v3/SECRETKEY?x=1): connection refused";
        let s = scrub(t, "rpc.example.org:443 (https)");
        assert!(!s.contains("SECRETKEY"), "{s}");
        assert_eq!(
            s,
            "error sending request for url (rpc.example.org:443 (https)): connection refused"
        );
        assert_eq!(scrub("no url here", "x"), "no url here");
    }

    #[test]
    fn http_statuses() {
        for s in [429, 500, 502, 503, 504, 408] {
            assert!(transient_status(s), "{s}");
        }
        for s in [400, 401, 403, 404] {
            assert!(!transient_status(s), "{s}");
        }
        let e = TransportErrorKind::http_error_with_retry_after(
            429,
            String::new(),
            Some(Duration::from_secs(2)),
        );
        assert_eq!(transient(&Err(e)), Some(Some(Duration::from_secs(2))));
    }

    #[test]
    fn pacing_spaces_requests_by_their_call_count() {
        let t0 = Instant::now();
        let iv = Duration::from_millis(100);
        // Idle: the first request goes at once and holds one slot.
        let (at, next) = reserve(None, t0, iv, 1);
        assert_eq!((at, next), (t0, t0 + iv));
        // A batch of 5 right after waits for that slot, then holds five.
        let (at, next) = reserve(Some(next), t0, iv, 5);
        assert_eq!((at, next), (t0 + iv, t0 + iv * 6));
        // After a quiet spell, nothing is owed: no burst credit either.
        let later = t0 + Duration::from_secs(10);
        assert_eq!(reserve(Some(next), later, iv, 1), (later, later + iv));
        // 20 calls/s over 100 single requests take 5 s of timeline.
        let mut n = None;
        for _ in 0..100 {
            n = Some(reserve(n, t0, Duration::from_millis(50), 1).1);
        }
        assert_eq!(n, Some(t0 + Duration::from_secs(5)));
    }

    #[test]
    fn backoff_grows_is_capped_and_honours_hints() {
        for attempt in 0..20 {
            let b = backoff(attempt, None);
            let base = Duration::from_millis(100)
                .saturating_mul(1u32 << attempt.min(6))
                .min(Duration::from_secs(5));
            assert!(b >= base / 2 && b <= base, "{attempt}: {b:?}");
        }
        assert_eq!(
            backoff(0, Some(Duration::from_secs(3))),
            Duration::from_secs(3)
        );
        assert_eq!(
            backoff(0, Some(Duration::from_secs(600))),
            Duration::from_secs(60)
        );
    }
}
