//! A fault-injecting JSON-RPC proxy for tests: a real HTTP/1.1 server on 127.0.0.1 in front of a
//! real node, which answers a seeded share of requests with a transient fault (connection closed
//! before answering, request executed but the answer lost, a 1–3 s stall, HTTP 429 with
//! `Retry-After`, HTTP 503, a JSON-RPC rate-limit error) and forwards the rest unchanged.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::Rng;

/// Share of requests (0..=1) that meet each fault; the rest are forwarded untouched.
#[derive(Debug, Clone, Copy, Default)]
pub struct Faults {
    /// The connection is closed before the request is forwarded.
    pub close: f64,
    /// The request is forwarded and executed, then the connection is closed without the answer.
    pub lost: f64,
    /// The request waits 1–3 s, then is forwarded.
    pub stall: f64,
    /// HTTP 429 with `Retry-After: 1`.
    pub http429: f64,
    /// HTTP 503.
    pub http503: f64,
    /// HTTP 200 with JSON-RPC error -32005 ("rate limited") for every call in the request.
    pub rpc_limit: f64,
    /// Share of transactions a lying node "accepts" (answers their hash) without ever taking
    /// them, as a node that drops them from its pool; the same bytes sent again go through.
    pub pool_drop: f64,
    /// Share of transactions swallowed the same way, whose bytes sent again are refused as
    /// priced out ("max fee per gas less than block base fee"): only a re-signed transaction
    /// at the same nonce gets through.
    pub priced_out: f64,
    /// When set, the transport faults above hit only requests calling this method.
    pub only: Option<&'static str>,
}

impl Faults {
    /// `total` spread evenly over all six kinds.
    pub fn mixed(total: f64) -> Self {
        let each = total / 6.0;
        Self {
            close: each,
            lost: each,
            stall: each,
            http429: each,
            http503: each,
            rpc_limit: each,
            ..Self::default()
        }
    }
}

/// How many requests met which fault.
#[derive(Debug, Default)]
pub struct ProxyStats {
    pub requests: AtomicU64,
    pub closed: AtomicU64,
    pub lost: AtomicU64,
    pub stalled: AtomicU64,
    pub http429: AtomicU64,
    pub http503: AtomicU64,
    pub rpc_limit: AtomicU64,
    pub swallowed: AtomicU64,
    pub refused_again: AtomicU64,
}

impl ProxyStats {
    pub fn faulted(&self) -> u64 {
        [
            &self.closed,
            &self.lost,
            &self.stalled,
            &self.http429,
            &self.http503,
            &self.rpc_limit,
        ]
        .iter()
        .map(|c| c.load(Ordering::Relaxed))
        .sum()
    }

    pub fn line(&self) -> String {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        format!(
            "requests {} (closed {}, lost {}, stalled {}, 429 {}, 503 {}, rpc-limit {}, swallowed {}, refused again {})",
            g(&self.requests),
            g(&self.closed),
            g(&self.lost),
            g(&self.stalled),
            g(&self.http429),
            g(&self.http503),
            g(&self.rpc_limit),
            g(&self.swallowed),
            g(&self.refused_again)
        )
    }
}

/// A running proxy; stops accepting when dropped.
pub struct Proxy {
    pub url: String,
    pub stats: Arc<ProxyStats>,
    /// While false, every request is forwarded untouched (e.g. during a test's own setup).
    pub armed: Arc<AtomicBool>,
    /// While true, every request gets HTTP 503: the node is down.
    pub down: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    port: u16,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

enum Fault {
    None,
    Close,
    Lost,
    Stall(Duration),
    Http429,
    Http503,
    RpcLimit,
}

struct Shared {
    upstream: String,
    faults: Faults,
    rng: Mutex<ChaCha8Rng>,
    /// Transactions seen by hash: how many times each was sent, and whether it is priced out.
    sends: Mutex<std::collections::HashMap<[u8; 32], (u32, bool)>>,
    stats: Arc<ProxyStats>,
    armed: Arc<AtomicBool>,
    down: Arc<AtomicBool>,
}

impl Shared {
    fn draw(&self, body: &[u8]) -> Fault {
        if self.down.load(Ordering::Relaxed) {
            return Fault::Http503;
        }
        if !self.armed.load(Ordering::Relaxed) {
            return Fault::None;
        }
        if let Some(method) = self.faults.only {
            let needle = format!("\"method\":\"{method}\"");
            if !String::from_utf8_lossy(body).contains(&needle) {
                return Fault::None;
            }
        }
        let mut rng = self.rng.lock().unwrap();
        let x = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        let f = self.faults;
        let mut edge = 0.0;
        for (p, kind) in [
            (f.close, 0),
            (f.lost, 1),
            (f.stall, 2),
            (f.http429, 3),
            (f.http503, 4),
            (f.rpc_limit, 5),
        ] {
            edge += p;
            if x < edge {
                return match kind {
                    0 => Fault::Close,
                    1 => Fault::Lost,
                    2 => Fault::Stall(Duration::from_millis(1000 + rng.next_u64() % 2001)),
                    3 => Fault::Http429,
                    4 => Fault::Http503,
                    _ => Fault::RpcLimit,
                };
            }
        }
        Fault::None
    }
}

impl Shared {
    /// The answer of a lying node to an `eth_sendRawTransaction`, if this one meets a pool
    /// fault; `None` forwards it.
    fn pool_fault(&self, body: &[u8]) -> Option<Vec<u8>> {
        let f = self.faults;
        if f.pool_drop + f.priced_out <= 0.0 || !self.armed.load(Ordering::Relaxed) {
            return None;
        }
        let v: serde_json::Value = serde_json::from_slice(body).ok()?;
        if v["method"] != "eth_sendRawTransaction" {
            return None;
        }
        let raw = alloy::hex::decode(v["params"][0].as_str()?).ok()?;
        let hash = alloy::primitives::keccak256(&raw);
        let mut sends = self.sends.lock().unwrap();
        let first = !sends.contains_key(&hash.0);
        let entry = if first {
            let mut rng = self.rng.lock().unwrap();
            let x = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
            let fault = if x < f.pool_drop {
                Some(false)
            } else if x < f.pool_drop + f.priced_out {
                Some(true)
            } else {
                None
            };
            sends.entry(hash.0).or_insert((0, fault == Some(true)));
            if fault.is_none() {
                sends.get_mut(&hash.0).unwrap().0 = u32::MAX / 2;
                return None;
            }
            sends.get_mut(&hash.0).unwrap()
        } else {
            sends.get_mut(&hash.0).unwrap()
        };
        entry.0 = entry.0.saturating_add(1);
        let id = &v["id"];
        match (entry.0, entry.1) {
            (1, _) => {
                self.stats.swallowed.fetch_add(1, Ordering::Relaxed);
                Some(serde_json::to_vec(&serde_json::json!({"jsonrpc": "2.0", "id": id, "result": hash.to_string()})).unwrap())
            }
            (2, true) => {
                self.stats.refused_again.fetch_add(1, Ordering::Relaxed);
                Some(serde_json::to_vec(&serde_json::json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32000, "message": "max fee per gas less than block base fee"}})).unwrap())
            }
            _ => None,
        }
    }
}

impl Proxy {
    /// Starts a proxy on a free loopback port in front of `upstream` ("127.0.0.1:PORT").
    pub fn start(upstream: &str, faults: Faults, seed: u64) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let port = listener.local_addr().unwrap().port();
        let stats = Arc::new(ProxyStats::default());
        let armed = Arc::new(AtomicBool::new(true));
        let down = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let shared = Arc::new(Shared {
            upstream: upstream
                .trim_start_matches("http://")
                .trim_end_matches('/')
                .to_string(),
            faults,
            rng: Mutex::new(ChaCha8Rng::seed_from_u64(seed)),
            sends: Mutex::new(Default::default()),
            stats: stats.clone(),
            armed: armed.clone(),
            down: down.clone(),
        });
        let stop2 = stop.clone();
        thread::spawn(move || {
            for conn in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let shared = shared.clone();
                thread::spawn(move || serve(conn, &shared));
            }
        });
        Proxy {
            url: format!("http://127.0.0.1:{port}"),
            stats,
            armed,
            down,
            stop,
            port,
        }
    }
}

/// Serves one keep-alive client connection until it closes or a fault closes it.
fn serve(conn: TcpStream, shared: &Shared) {
    let _ = conn.set_nodelay(true);
    let mut reader = BufReader::new(match conn.try_clone() {
        Ok(c) => c,
        Err(_) => return,
    });
    let mut out = conn;
    while let Some(body) = read_request(&mut reader) {
        shared.stats.requests.fetch_add(1, Ordering::Relaxed);
        if let Some(payload) = shared.pool_fault(&body) {
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
                payload.len()
            );
            if out.write_all(head.as_bytes()).is_err() || out.write_all(&payload).is_err() {
                return;
            }
            continue;
        }
        let answer = match shared.draw(&body) {
            Fault::None => forward(&shared.upstream, &body),
            Fault::Close => {
                shared.stats.closed.fetch_add(1, Ordering::Relaxed);
                let _ = out.shutdown(Shutdown::Both);
                return;
            }
            Fault::Lost => {
                shared.stats.lost.fetch_add(1, Ordering::Relaxed);
                let _ = forward(&shared.upstream, &body);
                let _ = out.shutdown(Shutdown::Both);
                return;
            }
            Fault::Stall(d) => {
                shared.stats.stalled.fetch_add(1, Ordering::Relaxed);
                thread::sleep(d);
                forward(&shared.upstream, &body)
            }
            Fault::Http429 => {
                shared.stats.http429.fetch_add(1, Ordering::Relaxed);
                Some((429, "Too Many Requests", "Retry-After: 1\r\n", Vec::new()))
            }
            Fault::Http503 => {
                shared.stats.http503.fetch_add(1, Ordering::Relaxed);
                Some((503, "Service Unavailable", "", Vec::new()))
            }
            Fault::RpcLimit => {
                shared.stats.rpc_limit.fetch_add(1, Ordering::Relaxed);
                Some((200, "OK", "", rate_limited(&body)))
            }
        };
        let Some((status, reason, extra, payload)) = answer else {
            let _ = out.shutdown(Shutdown::Both);
            return;
        };
        let head = format!(
            "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n{extra}content-length: {}\r\n\r\n",
            payload.len()
        );
        if out.write_all(head.as_bytes()).is_err() || out.write_all(&payload).is_err() {
            return;
        }
    }
}

/// One request's body, or `None` when the client closed the connection.
fn read_request(r: &mut BufReader<TcpStream>) -> Option<Vec<u8>> {
    let mut len = 0usize;
    let mut first = true;
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let l = line.trim_end();
        if l.is_empty() {
            if first {
                continue;
            }
            break;
        }
        first = false;
        if let Some((k, v)) = l.split_once(':')
            && k.eq_ignore_ascii_case("content-length")
        {
            len = v.trim().parse().ok()?;
        }
    }
    let mut body = vec![0; len];
    r.read_exact(&mut body).ok()?;
    Some(body)
}

type Answer = (u16, &'static str, &'static str, Vec<u8>);

/// Forwards `body` to the node on a fresh connection; `None` if the node did not answer.
fn forward(upstream: &str, body: &[u8]) -> Option<Answer> {
    let mut s = TcpStream::connect(upstream).ok()?;
    let head = format!(
        "POST / HTTP/1.1\r\nhost: {upstream}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).ok()?;
    s.write_all(body).ok()?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).ok()?;
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase();
    let mut payload = raw[split + 4..].to_vec();
    if head.contains("transfer-encoding: chunked") {
        payload = dechunk(&payload)?;
    }
    let status: u16 = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, "OK", "", payload))
}

fn dechunk(mut b: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let eol = b.windows(2).position(|w| w == b"\r\n")?;
        let size = usize::from_str_radix(std::str::from_utf8(&b[..eol]).ok()?.trim(), 16).ok()?;
        b = &b[eol + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(b.get(..size)?);
        b = b.get(size + 2..)?;
    }
}

/// A JSON-RPC -32005 error for each call of the request (a batch gets an array).
fn rate_limited(body: &[u8]) -> Vec<u8> {
    let err = |id: &serde_json::Value| {
        serde_json::json!({
            "jsonrpc": "2.0",
            "id": id,
            "error": { "code": -32005, "message": "rate limited: too many requests" }
        })
    };
    let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let answer = match &v {
        serde_json::Value::Array(calls) => {
            serde_json::Value::Array(calls.iter().map(|c| err(&c["id"])).collect())
        }
        call => err(&call["id"]),
    };
    serde_json::to_vec(&answer).unwrap_or_default()
}
