//! The executor's lean send path: `eth_sendRawTransaction` batches written straight onto
//! kept-alive HTTP/1.1 connections to a plain-http endpoint, answers parsed in place — no
//! request builder, connection pool task or boxed retry future per send (those were about a
//! third of loadrun's CPU at 1,000 transfers/s). It knows only the good path: any other answer
//! (a status other than 200, a body it cannot read, a "busy" JSON-RPC error, a closed
//! connection, a timeout) comes back as `Err`, and the caller sends the same batch again
//! through the full client (`tx::send_batch`: retries, pacing, node-down detection). Sending the
//! same signed bytes twice is harmless: the second answer is "already known", resolved by hash.
//!
//! Connections are not registered with the runtime's reactor while they wait for an answer:
//! the caller says when its thread wakes next anyway (the scheduler's next gather), and the
//! answer is read then, in that wake-up, instead of waking the thread on its own. Only an
//! answer not there by then (or no wake-up planned soon) is waited for through the reactor.

use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use alloy::primitives::{B256, Bytes};
use alloy::rpc::json_rpc::ErrorPayload;
use alloy::transports::{RpcError, TransportErrorKind};
use serde::Deserialize;
use serde_json::value::RawValue;
use std::io::{Read, Write};
use std::net::TcpStream as Idle;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::rpc::{RpcPolicy, busy};

/// Connections kept open between requests at most (more are opened while the node is slow to
/// answer; past this many they are closed once answered).
const MAX_IDLE: usize = 128;
/// An answer (or one chunk of it) larger than this is not read here.
const MAX_ANSWER: usize = 64 << 20;

/// Set to `0` or `off` to send through the full client only (to compare the two).
pub const ENV: &str = "LOADRUN_WIRE";

/// Kept-alive connections to one endpoint.
#[derive(Debug)]
pub struct Wire {
    /// The endpoint's addresses, and which of them answered last.
    addrs: Vec<SocketAddr>,
    prefer: AtomicUsize,
    /// The request head up to the `Content-Length` value.
    head: Box<[u8]>,
    /// Open connections (not registered with any reactor) and since when they are idle.
    idle: Mutex<Vec<(Idle, Instant)>>,
    timeout: Duration,
    /// JSON-RPC ids of the next request (answers are matched to them).
    next_id: AtomicU64,
    /// Until when (ms since `born`) the full client alone sends: `BACK_OFF` past a transient
    /// failure (its retries pace a node that is busy or down); for good (`u64::MAX`) once an
    /// answer came in a form this path does not read.
    not_before_ms: AtomicU64,
    born: Instant,
}

/// How long the lean path stays out of the way after a transient failure.
const BACK_OFF: Duration = Duration::from_secs(1);
/// A connection idle longer than this is checked before reuse (servers close idle ones).
const STALE_AFTER: Duration = Duration::from_secs(1);

/// One answer per transaction: `Ok` = the node took it, `Err` = its JSON-RPC error as the full
/// client would word it.
pub type Answers = Vec<Result<(), String>>;

impl Wire {
    /// A wire to `url` when it is plain `http://` with no user part and no client-side cap on
    /// calls per second (those need the full client), unless `LOADRUN_WIRE` turns it off.
    pub fn new(url: &str, policy: &RpcPolicy) -> Option<Self> {
        if policy.max_rps.is_some()
            || std::env::var(ENV).is_ok_and(|v| matches!(v.trim(), "0" | "off" | "false"))
        {
            return None;
        }
        let url = alloy::transports::http::reqwest::Url::parse(url).ok()?;
        if url.scheme() != "http" || !url.username().is_empty() || url.password().is_some() {
            return None;
        }
        let host = url.host_str()?;
        let port = url.port_or_known_default()?;
        // Resolved once, at connect (a name that stops resolving mid-run keeps its addresses).
        let addrs: Vec<SocketAddr> = (host, port).to_socket_addrs().ok()?.collect();
        if addrs.is_empty() {
            return None;
        }
        let target = match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_string(),
        };
        let authority = match url.port() {
            Some(p) => format!("{host}:{p}"),
            None => host.to_string(),
        };
        let head = format!(
            "POST {target} HTTP/1.1\r\nhost: {authority}\r\ncontent-type: application/json\r\ncontent-length: "
        );
        Some(Self {
            addrs,
            prefer: AtomicUsize::new(0),
            head: head.into_bytes().into(),
            idle: Mutex::default(),
            timeout: policy.attempt_timeout,
            next_id: AtomicU64::new(1),
            not_before_ms: AtomicU64::new(0),
            born: Instant::now(),
        })
    }

    /// Whether sends should try this path first.
    pub fn is_on(&self) -> bool {
        self.born.elapsed().as_millis() as u64 >= self.not_before_ms.load(Ordering::Relaxed)
    }

    /// Sends `txs` in one request (a lone transaction as a plain call); `Err` says why the
    /// batch must go the full way. `wake`: ends when the calling thread wakes next anyway (the
    /// answer is looked for then first, off the reactor).
    pub async fn send(
        &self,
        txs: &[(B256, Bytes)],
        wake: Option<impl Future<Output = ()>>,
    ) -> Result<Answers, String> {
        let first_id = self.next_id.fetch_add(txs.len() as u64, Ordering::Relaxed);
        let request = self.request(txs, first_id);
        let result = self.exchange(&request, txs.len(), first_id, wake).await;
        match result {
            Ok(answers) => Ok(answers),
            Err(Fault::Transient(e)) => {
                let until = (self.born.elapsed() + BACK_OFF).as_millis() as u64;
                self.not_before_ms.fetch_max(until, Ordering::Relaxed);
                Err(e)
            }
            Err(Fault::Unreadable(e)) => Err(self.turn_off(e)),
        }
    }

    async fn exchange(
        &self,
        request: &[u8],
        n: usize,
        first_id: u64,
        wake: Option<impl Future<Output = ()>>,
    ) -> Result<Answers, Fault> {
        let conn = self.connection().await?;
        let (body, keep, conn) = round_trip(conn, request, wake, self.timeout).await?;
        if keep
            && let Ok(mut idle) = self.idle.lock()
            && idle.len() < MAX_IDLE
        {
            idle.push((conn, Instant::now()));
        }
        answers(&body, n, first_id)
    }

    /// An idle connection that is still clean (a long-idle one is checked: closed by the
    /// server, or holding bytes nobody asked for, it is dropped), else a new one.
    async fn connection(&self) -> Result<Idle, Fault> {
        loop {
            let Some((mut conn, since)) = self.idle.lock().ok().and_then(|mut v| v.pop()) else {
                break;
            };
            if since.elapsed() < STALE_AFTER {
                return Ok(conn);
            }
            match conn.read(&mut [0u8; 1]) {
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Ok(conn),
                _ => continue,
            }
        }
        let first = self.prefer.load(Ordering::Relaxed);
        let mut last = String::new();
        for k in 0..self.addrs.len() {
            let i = (first + k) % self.addrs.len();
            match tokio::time::timeout(self.timeout, TcpStream::connect(self.addrs[i])).await {
                Ok(Ok(c)) => {
                    self.prefer.store(i, Ordering::Relaxed);
                    let _ = c.set_nodelay(true);
                    // Non-blocking, off the reactor until an answer must be waited for.
                    return c
                        .into_std()
                        .map_err(|e| Fault::Transient(format!("connect: {e}")));
                }
                Ok(Err(e)) => last = format!("connect: {e}"),
                Err(_) => last = "connect timed out".into(),
            }
        }
        Err(Fault::Transient(last))
    }

    fn turn_off(&self, why: String) -> String {
        if self.not_before_ms.swap(u64::MAX, Ordering::Relaxed) != u64::MAX {
            tracing::debug!("lean send path off ({why}): the full client sends from now on");
        }
        why
    }

    /// Head and body of the request for `txs`, in one buffer (one write).
    fn request(&self, txs: &[(B256, Bytes)], first_id: u64) -> Vec<u8> {
        let body_len: usize = txs.iter().map(|(_, raw)| 80 + 2 * raw.len()).sum();
        let mut body = Vec::with_capacity(body_len);
        let many = txs.len() != 1;
        if many {
            body.push(b'[');
        }
        for (i, (_, raw)) in txs.iter().enumerate() {
            if i > 0 {
                body.push(b',');
            }
            body.extend_from_slice(br#"{"jsonrpc":"2.0","id":"#);
            body.extend_from_slice((first_id + i as u64).to_string().as_bytes());
            body.extend_from_slice(br#","method":"eth_sendRawTransaction","params":["0x"#);
            let at = body.len();
            body.resize(at + 2 * raw.len(), 0);
            alloy::hex::encode_to_slice(raw, &mut body[at..]).expect("sized for the hex");
            body.extend_from_slice(br#""]}"#);
        }
        if many {
            body.push(b']');
        }
        let mut out = Vec::with_capacity(self.head.len() + 8 + body.len());
        out.extend_from_slice(&self.head);
        out.extend_from_slice(body.len().to_string().as_bytes());
        out.extend_from_slice(b"\r\n\r\n");
        out.extend_from_slice(&body);
        out
    }
}

/// Why an exchange did not give answers.
enum Fault {
    /// Worth sending again the full way (the connection failed, the node is busy).
    Transient(String),
    /// An answer this path does not read: the full client reads it from now on.
    Unreadable(String),
}

/// Writes `request`, reads one 200 response: its body, whether the connection stays open, and
/// the connection. The answer is looked for once `wake` ends (the caller bounds it), without
/// the reactor; only when it is not complete by then is the connection registered and the
/// rest awaited, for at most `timeout`. (No timer is armed on the first way: thousands of
/// long timers a second would wake the thread to sort tokio's timer wheel.)
async fn round_trip(
    mut conn: Idle,
    request: &[u8],
    wake: Option<impl Future<Output = ()>>,
    timeout: Duration,
) -> Result<(Vec<u8>, bool, Idle), Fault> {
    let io = |e: std::io::Error| Fault::Transient(e.to_string());
    let written = write_now(&mut conn, request).map_err(io)?;
    let mut buf = Vec::with_capacity(4096);
    if written == request.len() {
        if let Some(wake) = wake {
            wake.await;
        }
        loop {
            match read_now(&mut conn, &mut buf)? {
                Got::Some => {
                    if let Some((body, keep)) = parse(&buf)? {
                        return Ok((body, keep, conn));
                    }
                }
                Got::None => break,
                Got::Closed => {
                    return match parse(&buf)? {
                        Some((body, _)) => Ok((body, false, conn)),
                        None => Err(Fault::Transient(
                            "connection closed before the answer".into(),
                        )),
                    };
                }
            }
        }
    }
    let rest = async {
        let mut t = TcpStream::from_std(conn).map_err(io)?;
        t.write_all(&request[written..]).await.map_err(io)?;
        loop {
            if let Some((body, keep)) = parse(&buf)? {
                return Ok((body, keep, t.into_std().map_err(io)?));
            }
            read_more(&mut t, &mut buf).await?;
        }
    };
    tokio::time::timeout(timeout, rest)
        .await
        .unwrap_or_else(|_| {
            Err(Fault::Transient(
                "no answer within the attempt timeout".into(),
            ))
        })
}

/// Writes what the socket takes now; how much that was.
fn write_now(conn: &mut Idle, request: &[u8]) -> std::io::Result<usize> {
    let mut at = 0;
    while at < request.len() {
        match conn.write(&request[at..]) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => at += n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(at)
}

/// What one read without waiting gave.
enum Got {
    Some,
    /// Nothing has arrived.
    None,
    /// The peer closed the connection.
    Closed,
}

/// Reads once what has arrived into `buf`, without waiting.
fn read_now(conn: &mut Idle, buf: &mut Vec<u8>) -> Result<Got, Fault> {
    if buf.len() > MAX_ANSWER {
        return Err(Fault::Unreadable("an answer over 64 MiB".into()));
    }
    let mut chunk = [0u8; 16 << 10];
    loop {
        match conn.read(&mut chunk) {
            Ok(0) => return Ok(Got::Closed),
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                return Ok(Got::Some);
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Ok(Got::None),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Fault::Transient(e.to_string())),
        }
    }
}

/// One 200 response in `buf`: its body and whether the connection stays open; `None` while it
/// is not all there. Any other status is transient (the full client retries it); the
/// connection is not reused.
fn parse(buf: &[u8]) -> Result<Option<(Vec<u8>, bool)>, Fault> {
    let mut headers = [httparse::EMPTY_HEADER; 24];
    let mut res = httparse::Response::new(&mut headers);
    let head_len = match res.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(Fault::Unreadable(format!("an unreadable HTTP answer: {e}"))),
    };
    let status = res.code.unwrap_or(0);
    if status != 200 {
        return Err(Fault::Transient(format!("HTTP {status}")));
    }
    let mut len = None;
    let mut chunked = false;
    let mut keep = res.version == Some(1);
    for h in res.headers.iter() {
        if h.name.eq_ignore_ascii_case("content-length") {
            len = std::str::from_utf8(h.value)
                .ok()
                .and_then(|v| v.trim().parse::<usize>().ok());
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = h.value.eq_ignore_ascii_case(b"chunked");
            if !chunked {
                return Err(Fault::Unreadable("an answer in a transfer coding".into()));
            }
        } else if h.name.eq_ignore_ascii_case("connection") {
            keep = !h.value.eq_ignore_ascii_case(b"close");
        }
    }
    let (body, end) = match (chunked, len) {
        (true, _) => match dechunk(buf, head_len)? {
            Some(x) => x,
            None => return Ok(None),
        },
        (false, Some(len)) if len > MAX_ANSWER => {
            return Err(Fault::Unreadable("an answer over 64 MiB".into()));
        }
        (false, Some(len)) if buf.len() < head_len + len => return Ok(None),
        (false, Some(len)) => (buf[head_len..head_len + len].to_vec(), head_len + len),
        (false, None) => {
            return Err(Fault::Unreadable("an answer without content-length".into()));
        }
    };
    // Bytes past the body would be a second answer nobody asked for.
    Ok(Some((body, keep && buf.len() == end)))
}

/// The body of a chunked answer whose chunks start at `at` in `buf`, and where the answer
/// ends; `None` while it is not all there.
fn dechunk(buf: &[u8], mut at: usize) -> Result<Option<(Vec<u8>, usize)>, Fault> {
    let mut body = Vec::new();
    loop {
        match httparse::parse_chunk_size(&buf[at..]) {
            Ok(httparse::Status::Complete((size_len, 0))) => {
                at += size_len;
                // No trailers expected: the answer ends with an empty line.
                if buf.len() < at + 2 {
                    return Ok(None);
                }
                if &buf[at..at + 2] != b"\r\n" {
                    return Err(Fault::Unreadable("a chunked answer with trailers".into()));
                }
                return Ok(Some((body, at + 2)));
            }
            Ok(httparse::Status::Complete((size_len, size))) => {
                let size = usize::try_from(size)
                    .ok()
                    .filter(|s| *s <= MAX_ANSWER)
                    .ok_or_else(|| Fault::Unreadable("a chunk over 64 MiB".into()))?;
                let end = at + size_len + size;
                if buf.len() < end + 2 {
                    return Ok(None);
                }
                body.extend_from_slice(&buf[at + size_len..end]);
                at = end + 2;
            }
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(_) => return Err(Fault::Unreadable("an unreadable chunked answer".into())),
        }
    }
}

async fn read_more(conn: &mut TcpStream, buf: &mut Vec<u8>) -> Result<(), Fault> {
    if buf.len() > MAX_ANSWER {
        return Err(Fault::Unreadable("an answer over 64 MiB".into()));
    }
    buf.reserve(4096);
    match conn.read_buf(buf).await {
        Ok(0) => Err(Fault::Transient(
            "connection closed before the answer".into(),
        )),
        Ok(_) => Ok(()),
        Err(e) => Err(Fault::Transient(e.to_string())),
    }
}

#[derive(Deserialize)]
struct Answer<'a> {
    id: Option<u64>,
    #[serde(borrow)]
    result: Option<&'a RawValue>,
    error: Option<ErrorPayload>,
}

/// The per-transaction answers in `body` to a request of `n` calls with ids `first_id..`.
fn answers(body: &[u8], n: usize, first_id: u64) -> Result<Answers, Fault> {
    let unreadable = |e: serde_json::Error| Fault::Unreadable(format!("an unreadable body: {e}"));
    let list: Vec<Answer<'_>> = if n == 1 {
        vec![serde_json::from_slice(body).map_err(unreadable)?]
    } else {
        serde_json::from_slice(body).map_err(unreadable)?
    };
    let mut out: Vec<Option<Result<(), String>>> = vec![None; n];
    for a in list {
        let i = match a.id.and_then(|id| id.checked_sub(first_id)) {
            Some(i) if (i as usize) < n => i as usize,
            _ => return Err(Fault::Unreadable("an answer with an unknown id".into())),
        };
        out[i] = Some(match (a.result, a.error) {
            (_, Some(e)) if busy(&e) => return Err(Fault::Transient(format!("node busy: {e}"))),
            (_, Some(e)) => Err(RpcError::<TransportErrorKind>::ErrorResp(e).to_string()),
            (Some(_), None) => Ok(()),
            (None, None) => return Err(Fault::Unreadable("an answer with no result".into())),
        });
    }
    out.into_iter()
        .map(|a| a.ok_or_else(|| Fault::Transient("an answer missing from the batch".into())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(r: &Result<Answers, Fault>) -> &Answers {
        match r {
            Ok(a) => a,
            Err(Fault::Transient(e) | Fault::Unreadable(e)) => panic!("{e}"),
        }
    }

    #[test]
    fn answers_map_back_by_id_and_word_errors_like_the_full_client() {
        let body = br#"[{"jsonrpc":"2.0","id":1,"error":{"code":-32003,"message":"nonce too low"}},
            {"jsonrpc":"2.0","id":0,"result":"0x01"}]"#;
        let r = answers(body, 2, 0);
        let a = ok(&r);
        assert_eq!(a[0], Ok(()));
        let e = a[1].clone().unwrap_err();
        assert!(e.contains("nonce too low") && e.contains("-32003"), "{e}");
    }

    #[test]
    fn busy_and_missing_answers_are_transient_and_odd_bodies_unreadable() {
        let busy = br#"{"jsonrpc":"2.0","id":0,"error":{"code":-32005,"message":"rate limited"}}"#;
        assert!(matches!(answers(busy, 1, 0), Err(Fault::Transient(_))));
        let short = br#"[{"jsonrpc":"2.0","id":5,"result":"0x01"}]"#;
        assert!(matches!(answers(short, 2, 5), Err(Fault::Transient(_))));
        assert!(matches!(
            answers(b"<html>", 2, 0),
            Err(Fault::Unreadable(_))
        ));
        let stray = br#"[{"jsonrpc":"2.0","id":7,"result":"0x01"}]"#;
        assert!(matches!(answers(stray, 2, 0), Err(Fault::Unreadable(_))));
        // A lone call's answer must carry its own id too (not a stray one from before).
        let one = br#"{"jsonrpc":"2.0","id":9,"result":"0x01"}"#;
        assert!(matches!(answers(one, 1, 8), Err(Fault::Unreadable(_))));
        assert!(answers(one, 1, 9).is_ok());
    }

    #[test]
    fn the_request_is_one_plain_call_or_a_batch() {
        let policy = RpcPolicy::default();
        let w = Wire::new("http://127.0.0.1:8545/k?x=1", &policy).expect("plain http");
        let one = w.request(&[(B256::ZERO, Bytes::from_static(&[0xab, 0x01]))], 0);
        let text = String::from_utf8(one).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("POST /k?x=1 HTTP/1.1\r\nhost: 127.0.0.1:8545\r\n"));
        assert!(head.ends_with(&format!("content-length: {}", body.len())));
        assert_eq!(
            body,
            r#"{"jsonrpc":"2.0","id":0,"method":"eth_sendRawTransaction","params":["0xab01"]}"#
        );
        let two = w.request(&[(B256::ZERO, Bytes::new()), (B256::ZERO, Bytes::new())], 0);
        let text = String::from_utf8(two).unwrap();
        assert!(
            text.contains("\r\n\r\n[{")
                && text.ends_with(
                    "\"id\":1,\"method\":\"eth_sendRawTransaction\",\"params\":[\"0x\"]}]"
                )
        );
        for no in ["https://127.0.0.1:8545", "http://u:p@127.0.0.1:8545"] {
            assert!(Wire::new(no, &policy).is_none(), "{no}");
        }
        let capped = RpcPolicy {
            max_rps: Some(10.0),
            ..policy
        };
        assert!(Wire::new("http://127.0.0.1:8545", &capped).is_none());
    }

    /// A real HTTP/1.1 peer on loopback answering two requests on one connection: the first
    /// chunked, the second with a length.
    #[tokio::test]
    async fn chunked_and_sized_answers_on_one_kept_alive_connection() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut seen = Vec::new();
            let (a, b, sized) = (
                r#"{"id":1,"re"#,
                r#"sult":"0x01","x":0}"#,
                r#"{"id":2,"result":"0x02"}"#,
            );
            let chunked = format!(
                "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n{:x}\r\n{a}\r\n{:x}\r\n{b}\r\n0\r\n\r\n",
                a.len(),
                b.len()
            );
            let sized = format!(
                "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{sized}",
                sized.len()
            );
            for answer in [chunked, sized] {
                let mut req = vec![0u8; 4096];
                let n = s.read(&mut req).await.unwrap();
                seen.push(String::from_utf8_lossy(&req[..n]).to_string());
                s.write_all(answer.as_bytes()).await.unwrap();
            }
            seen
        });
        let w = Wire::new(&format!("http://127.0.0.1:{port}"), &RpcPolicy::default()).unwrap();
        let tx = [(B256::ZERO, Bytes::from_static(&[1]))];
        let now = None::<std::future::Ready<()>>;
        assert_eq!(w.send(&tx, now).await, Ok(vec![Ok(())]));
        // Looked for at a wake-up first.
        let soon = tokio::time::sleep(Duration::from_millis(1));
        assert_eq!(w.send(&tx, Some(soon)).await, Ok(vec![Ok(())]));
        let seen = server.await.unwrap();
        assert!(
            seen[0].contains(r#""id":1,"#) && seen[1].contains(r#""id":2,"#),
            "{seen:?}"
        );
        assert!(w.is_on());
    }
}
