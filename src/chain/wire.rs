//! The executor's lean send path: `eth_sendRawTransaction` batches written straight onto
//! kept-alive HTTP/1.1 connections to a plain-http endpoint, answers parsed in place — no
//! request builder, connection pool task or boxed retry future per send (those were about a
//! third of loadrun's CPU at 1,000 transfers/s). It knows only the good path: any other answer
//! (a status other than 200, a body it cannot read, a "busy" JSON-RPC error, a closed
//! connection, a timeout) comes back as `Err`, and the caller sends the same batch again
//! through the full client (`tx::send_batch`: retries, pacing, node-down detection). Sending the
//! same signed bytes twice is harmless: the second answer is "already known", resolved by hash.

use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use alloy::primitives::{B256, Bytes};
use alloy::rpc::json_rpc::ErrorPayload;
use alloy::transports::{RpcError, TransportErrorKind};
use serde::Deserialize;
use serde_json::value::RawValue;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::rpc::{RpcPolicy, busy};

/// Connections kept open between requests at most (more are opened while the node is slow to
/// answer; past this many they are closed once answered).
const MAX_IDLE: usize = 128;

/// Set to `0` or `off` to send through the full client only (to compare the two).
pub const ENV: &str = "LOADRUN_WIRE";

/// Kept-alive connections to one endpoint.
#[derive(Debug)]
pub struct Wire {
    addr: SocketAddr,
    /// The request head up to the `Content-Length` value.
    head: Box<[u8]>,
    idle: Mutex<Vec<TcpStream>>,
    timeout: Duration,
    /// Set once an answer came in a form this path does not read (say chunked): from then on
    /// everything takes the full client.
    off: AtomicBool,
}

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
        let addr = (host, port).to_socket_addrs().ok()?.next()?;
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
            addr,
            head: head.into_bytes().into(),
            idle: Mutex::default(),
            timeout: policy.attempt_timeout,
            off: AtomicBool::new(false),
        })
    }

    /// Whether sends should try this path first.
    pub fn is_on(&self) -> bool {
        !self.off.load(Ordering::Relaxed)
    }

    /// Sends `txs` in one request (a lone transaction as a plain call); `Err` says why the
    /// batch must go the full way.
    pub async fn send(&self, txs: &[(B256, Bytes)]) -> Result<Answers, String> {
        let request = self.request(txs);
        let reused = self.idle.lock().ok().and_then(|mut v| v.pop());
        let mut conn = match reused {
            Some(c) => c,
            None => tokio::time::timeout(self.timeout, TcpStream::connect(self.addr))
                .await
                .map_err(|_| "connect timed out".to_string())?
                .map_err(|e| format!("connect: {e}"))?,
        };
        let (status, body, keep) =
            match tokio::time::timeout(self.timeout, exchange(&mut conn, &request)).await {
                Ok(Ok(x)) => x,
                Ok(Err(Fault::Transient(e))) => return Err(e),
                Ok(Err(Fault::Unreadable(e))) => return Err(self.turn_off(e)),
                Err(_) => return Err("no answer within the attempt timeout".into()),
            };
        if keep
            && let Ok(mut idle) = self.idle.lock()
            && idle.len() < MAX_IDLE
        {
            idle.push(conn);
        }
        if status != 200 {
            return Err(format!("HTTP {status}"));
        }
        answers(&body, txs.len()).map_err(|e| match e {
            Fault::Transient(e) => e,
            Fault::Unreadable(e) => self.turn_off(e),
        })
    }

    fn turn_off(&self, why: String) -> String {
        if !self.off.swap(true, Ordering::Relaxed) {
            tracing::debug!("lean send path off ({why}): the full client sends from now on");
        }
        why
    }

    /// Head and body of the request for `txs`, in one buffer (one write).
    fn request(&self, txs: &[(B256, Bytes)]) -> Vec<u8> {
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
            body.extend_from_slice(i.to_string().as_bytes());
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

/// Writes `request`, reads one response: status, body, and whether the connection stays open.
async fn exchange(conn: &mut TcpStream, request: &[u8]) -> Result<(u16, Vec<u8>, bool), Fault> {
    let io = |e: std::io::Error| Fault::Transient(e.to_string());
    conn.write_all(request).await.map_err(io)?;
    let mut buf = Vec::with_capacity(4096);
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 24];
        let mut res = httparse::Response::new(&mut headers);
        match res.parse(&buf) {
            Ok(httparse::Status::Complete(head_len)) => {
                let status = res.code.unwrap_or(0);
                let mut len = None;
                let mut keep = res.version == Some(1);
                for h in res.headers.iter() {
                    if h.name.eq_ignore_ascii_case("content-length") {
                        len = std::str::from_utf8(h.value)
                            .ok()
                            .and_then(|v| v.trim().parse::<usize>().ok());
                    } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
                        return Err(Fault::Unreadable("a chunked answer".into()));
                    } else if h.name.eq_ignore_ascii_case("connection") {
                        keep = !h.value.eq_ignore_ascii_case(b"close");
                    }
                }
                let Some(len) = len else {
                    return Err(Fault::Unreadable("an answer without content-length".into()));
                };
                while buf.len() < head_len + len {
                    read_more(conn, &mut buf).await?;
                }
                let body = buf[head_len..head_len + len].to_vec();
                // Bytes past the body would be a second answer nobody asked for.
                let keep = keep && buf.len() == head_len + len;
                return Ok((status, body, keep));
            }
            Ok(httparse::Status::Partial) => read_more(conn, &mut buf).await?,
            Err(e) => return Err(Fault::Unreadable(format!("an unreadable HTTP answer: {e}"))),
        }
    }
}

async fn read_more(conn: &mut TcpStream, buf: &mut Vec<u8>) -> Result<(), Fault> {
    if buf.len() > 64 << 20 {
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

/// The per-transaction answers in `body` to a request of `n` calls (ids 0..n).
fn answers(body: &[u8], n: usize) -> Result<Answers, Fault> {
    let unreadable = |e: serde_json::Error| Fault::Unreadable(format!("an unreadable body: {e}"));
    let list: Vec<Answer<'_>> = if n == 1 {
        vec![serde_json::from_slice(body).map_err(unreadable)?]
    } else {
        serde_json::from_slice(body).map_err(unreadable)?
    };
    let mut out: Vec<Option<Result<(), String>>> = vec![None; n];
    for a in list {
        let i = match (n, a.id) {
            (1, _) => 0,
            (_, Some(i)) if (i as usize) < n => i as usize,
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
        let r = answers(body, 2);
        let a = ok(&r);
        assert_eq!(a[0], Ok(()));
        let e = a[1].clone().unwrap_err();
        assert!(e.contains("nonce too low") && e.contains("-32003"), "{e}");
    }

    #[test]
    fn busy_and_missing_answers_are_transient_and_odd_bodies_unreadable() {
        let busy = br#"{"jsonrpc":"2.0","id":0,"error":{"code":-32005,"message":"rate limited"}}"#;
        assert!(matches!(answers(busy, 1), Err(Fault::Transient(_))));
        let short = br#"[{"jsonrpc":"2.0","id":0,"result":"0x01"}]"#;
        assert!(matches!(answers(short, 2), Err(Fault::Transient(_))));
        assert!(matches!(answers(b"<html>", 2), Err(Fault::Unreadable(_))));
        let stray = br#"[{"jsonrpc":"2.0","id":7,"result":"0x01"}]"#;
        assert!(matches!(answers(stray, 2), Err(Fault::Unreadable(_))));
    }

    #[test]
    fn the_request_is_one_plain_call_or_a_batch() {
        let policy = RpcPolicy::default();
        let w = Wire::new("http://127.0.0.1:8545/k?x=1", &policy).expect("plain http");
        let one = w.request(&[(B256::ZERO, Bytes::from_static(&[0xab, 0x01]))]);
        let text = String::from_utf8(one).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("POST /k?x=1 HTTP/1.1\r\nhost: 127.0.0.1:8545\r\n"));
        assert!(head.ends_with(&format!("content-length: {}", body.len())));
        assert_eq!(
            body,
            r#"{"jsonrpc":"2.0","id":0,"method":"eth_sendRawTransaction","params":["0xab01"]}"#
        );
        let two = w.request(&[(B256::ZERO, Bytes::new()), (B256::ZERO, Bytes::new())]);
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
}
