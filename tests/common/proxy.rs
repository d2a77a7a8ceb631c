//! A fault-injecting JSON-RPC proxy for tests: a real HTTP/1.1 server on 127.0.0.1 in front of a
//! real node, which answers a seeded share of requests with a transient fault (connection closed
//! before answering, request executed but the answer lost, a 1–3 s stall, HTTP 429 with
//! `Retry-After`, HTTP 503, a JSON-RPC rate-limit error) and forwards the rest unchanged. It
//! also records every `eth_sendRawTransaction` it receives, single or batched (the sender and
//! nonce decoded from the signed bytes), to check that each wallet's nonces arrive in order.
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
    /// The n-th distinct transaction received (0-based, counted while armed) is swallowed as
    /// `pool_drop` does: a gap in its wallet's nonces that only a re-send repairs.
    pub withhold: Option<u64>,
    /// Every transaction at this nonce (any sender, every attempt) is refused for good, as a
    /// node refuses a sender short of funds: "insufficient funds for gas * price + value".
    pub refuse_nonce: Option<u64>,
    /// Every forwarded request waits 0..=`jitter_ms` ms first (seeded), as on a real network:
    /// requests on concurrent connections overtake each other.
    pub jitter_ms: u64,
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
    /// Sends refused by `Faults::refuse_nonce`.
    pub refused_nonce: AtomicU64,
    /// Distinct transactions received while pool faults were armed.
    pub first_sends: AtomicU64,
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
            "requests {} (closed {}, lost {}, stalled {}, 429 {}, 503 {}, rpc-limit {}, swallowed {}, refused again {}, refused by nonce {})",
            g(&self.requests),
            g(&self.closed),
            g(&self.lost),
            g(&self.stalled),
            g(&self.http429),
            g(&self.http503),
            g(&self.rpc_limit),
            g(&self.swallowed),
            g(&self.refused_again),
            g(&self.refused_nonce)
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
    /// Every raw transaction received, in order (`Arrivals::check`).
    pub arrivals: Arc<Arrivals>,
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
    arrivals: Arc<Arrivals>,
}

/// Every raw transaction the proxy forwarded to the node, in the order it forwarded them: (sender, nonce, hash).
#[derive(Debug, Default)]
pub struct Arrivals(Mutex<Vec<(alloy::primitives::Address, u64, alloy::primitives::B256)>>);

/// What the order check found.
#[derive(Debug, Default)]
pub struct Order {
    /// Raw transactions received (resends included).
    pub sends: usize,
    /// Senders seen.
    pub senders: usize,
    /// Arrivals of a nonce N above the sender's lowest whose N-1 had not arrived before.
    pub out_of_order: usize,
    /// The same signed bytes received again.
    pub resends: usize,
    /// A few of the out-of-order arrivals, for the failure message.
    pub examples: Vec<String>,
}

impl Arrivals {
    fn record(&self, body: &[u8]) {
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) else {
            return;
        };
        let calls = match &v {
            serde_json::Value::Array(a) => a.iter().collect::<Vec<_>>(),
            one => vec![one],
        };
        let mut out = self.0.lock().unwrap();
        for c in calls {
            if c["method"] != "eth_sendRawTransaction" {
                continue;
            }
            let Some(raw) = c["params"][0]
                .as_str()
                .and_then(|h| alloy::hex::decode(h).ok())
            else {
                continue;
            };
            if let Some(x) = sender_and_nonce(&raw) {
                out.push(x);
            }
        }
    }

    /// Checks that each sender's nonces arrived without gaps: when nonce N arrived, N-1 had
    /// arrived before (or N is the lowest the sender sent). Resends of a nonce already
    /// received (the same bytes, or a re-signed replacement) are in order by definition.
    pub fn check(&self) -> Order {
        use std::collections::{HashMap, HashSet};
        let all = self.0.lock().unwrap();
        let mut lowest: HashMap<alloy::primitives::Address, u64> = HashMap::new();
        for (a, n, _) in all.iter() {
            let l = lowest.entry(*a).or_insert(*n);
            *l = (*l).min(*n);
        }
        let mut seen: HashSet<(alloy::primitives::Address, u64)> = HashSet::new();
        let mut hashes: HashSet<alloy::primitives::B256> = HashSet::new();
        let mut order = Order {
            sends: all.len(),
            senders: lowest.len(),
            ..Order::default()
        };
        for (i, (a, n, h)) in all.iter().enumerate() {
            if !hashes.insert(*h) {
                order.resends += 1;
            }
            if *n > lowest[a] && !seen.contains(&(*a, n - 1)) {
                order.out_of_order += 1;
                if order.examples.len() < 5 {
                    order
                        .examples
                        .push(format!("arrival {i}: {a} nonce {n} before nonce {}", n - 1));
                }
            }
            seen.insert((*a, *n));
        }
        order
    }
}

/// The sender and nonce of a signed transaction (EIP-2718 envelope or legacy RLP): the signer
/// recovered with libsecp256k1 from the signature over the transaction's signing hash.
fn sender_and_nonce(
    raw: &[u8],
) -> Option<(alloy::primitives::Address, u64, alloy::primitives::B256)> {
    use alloy::consensus::Transaction;
    use alloy::eips::eip2718::Decodable2718;
    use secp256k1::ecdsa::{RecoverableSignature, RecoveryId};
    let tx = alloy::consensus::TxEnvelope::decode_2718(&mut &raw[..]).ok()?;
    let sig = tx.signature();
    let mut compact = [0u8; 64];
    compact[..32].copy_from_slice(&sig.r().to_be_bytes::<32>());
    compact[32..].copy_from_slice(&sig.s().to_be_bytes::<32>());
    let id = RecoveryId::try_from(i32::from(sig.v())).ok()?;
    let rec = RecoverableSignature::from_compact(&compact, id).ok()?;
    let msg = secp256k1::Message::from_digest(tx.signature_hash().0);
    let key = secp256k1::Secp256k1::verification_only()
        .recover_ecdsa(msg, &rec)
        .ok()?;
    let hash = alloy::primitives::keccak256(&key.serialize_uncompressed()[1..]);
    let from = alloy::primitives::Address::from_slice(&hash[12..]);
    Some((from, tx.nonce(), alloy::primitives::keccak256(raw)))
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
    /// The answer of a lying node to one `eth_sendRawTransaction` call, if this one meets a
    /// pool fault; `None` forwards it.
    fn pool_fault(&self, call: &serde_json::Value) -> Option<serde_json::Value> {
        let f = self.faults;
        if f.pool_drop + f.priced_out <= 0.0 && f.withhold.is_none() && f.refuse_nonce.is_none()
            || !self.armed.load(Ordering::Relaxed)
        {
            return None;
        }
        if call["method"] != "eth_sendRawTransaction" {
            return None;
        }
        let raw = alloy::hex::decode(call["params"][0].as_str()?).ok()?;
        if f.refuse_nonce.is_some() && sender_and_nonce(&raw).map(|(_, n, _)| n) == f.refuse_nonce {
            self.stats.refused_nonce.fetch_add(1, Ordering::Relaxed);
            return Some(
                serde_json::json!({"jsonrpc": "2.0", "id": &call["id"], "error": {"code": -32003, "message": "insufficient funds for gas * price + value"}}),
            );
        }
        if f.pool_drop + f.priced_out <= 0.0 && f.withhold.is_none() {
            return None;
        }
        let hash = alloy::primitives::keccak256(&raw);
        let mut sends = self.sends.lock().unwrap();
        let first = !sends.contains_key(&hash.0);
        let entry = if first {
            let mut rng = self.rng.lock().unwrap();
            let x = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
            let nth = self.stats.first_sends.fetch_add(1, Ordering::Relaxed);
            let fault = if f.withhold == Some(nth) || x < f.pool_drop {
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
        let id = &call["id"];
        match (entry.0, entry.1) {
            (1, _) => {
                self.stats.swallowed.fetch_add(1, Ordering::Relaxed);
                Some(serde_json::json!({"jsonrpc": "2.0", "id": id, "result": hash.to_string()}))
            }
            (2, true) => {
                self.stats.refused_again.fetch_add(1, Ordering::Relaxed);
                Some(
                    serde_json::json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32000, "message": "max fee per gas less than block base fee"}}),
                )
            }
            _ => None,
        }
    }

    /// The whole answer when some calls of `body` (one call or a batch) meet a pool fault:
    /// the others are forwarded, and the answers merged. `None`: nothing faulted.
    fn pool_faults(&self, body: &[u8]) -> Option<Vec<u8>> {
        let v: serde_json::Value = serde_json::from_slice(body).ok()?;
        let serde_json::Value::Array(calls) = v else {
            return self.pool_fault(&v).map(|a| serde_json::to_vec(&a).unwrap());
        };
        let mut faked = Vec::new();
        let mut rest = Vec::new();
        for c in calls {
            match self.pool_fault(&c) {
                Some(a) => faked.push(a),
                None => rest.push(c),
            }
        }
        if faked.is_empty() {
            return None;
        }
        if !rest.is_empty() {
            let rest = serde_json::to_vec(&rest).unwrap();
            let (_, _, _, payload) = self.forward(&rest)?;
            match serde_json::from_slice::<serde_json::Value>(&payload).ok()? {
                serde_json::Value::Array(a) => faked.extend(a),
                one => faked.push(one),
            }
        }
        Some(serde_json::to_vec(&faked).unwrap())
    }
}

impl Shared {
    /// Forwards `body` to the node, recording the transactions it carries as they leave.
    fn forward(&self, body: &[u8]) -> Option<Answer> {
        if self.faults.jitter_ms > 0 {
            let ms = self.rng.lock().unwrap().next_u64() % (self.faults.jitter_ms + 1);
            thread::sleep(Duration::from_millis(ms));
        }
        self.arrivals.record(body);
        forward(&self.upstream, body)
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
        let arrivals = Arc::new(Arrivals::default());
        let shared = Arc::new(Shared {
            arrivals: arrivals.clone(),
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
            arrivals,
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
        if let Some(payload) = shared.pool_faults(&body) {
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
            Fault::None => shared.forward(&body),
            Fault::Close => {
                shared.stats.closed.fetch_add(1, Ordering::Relaxed);
                let _ = out.shutdown(Shutdown::Both);
                return;
            }
            Fault::Lost => {
                shared.stats.lost.fetch_add(1, Ordering::Relaxed);
                let _ = shared.forward(&body);
                let _ = out.shutdown(Shutdown::Both);
                return;
            }
            Fault::Stall(d) => {
                shared.stats.stalled.fetch_add(1, Ordering::Relaxed);
                thread::sleep(d);
                shared.forward(&body)
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
