//! How the lean send path frames what it writes and reads (pure: no I/O). Over HTTP/1.1 a
//! request is a `POST` head and a JSON body, and an answer an HTTP response (sized or chunked);
//! over IPC (a spawned anvil's Unix socket) a request is the JSON alone and an answer one line.
//! Both carry the same JSON-RPC: one `eth_sendRawTransaction` call per transaction, as a batch
//! when there are several, answers matched back by id.

use alloy::primitives::{B256, Bytes};
use alloy::rpc::json_rpc::ErrorPayload;
use alloy::transports::{RpcError, TransportErrorKind};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::super::rpc::busy;

/// An answer (or one chunk of it) larger than this is not read here.
pub const MAX_ANSWER: usize = 64 << 20;

/// One answer per transaction: `Ok` = the node took it, `Err` = its JSON-RPC error as the full
/// client would word it.
pub type Answers = Vec<Result<(), String>>;

/// Why an exchange did not give answers.
pub enum Fault {
    /// Worth sending again the full way (the connection failed, the node is busy).
    Transient(String),
    /// An answer this path does not read: the full client reads it from now on.
    Unreadable(String),
}

/// The framing of one endpoint.
#[derive(Debug)]
pub enum Framing {
    /// HTTP/1.1: the request head up to the `Content-Length` value.
    Http { head: Box<[u8]> },
    /// A stream of JSON values, one answer per line.
    Ipc,
}

impl Framing {
    /// HTTP/1.1 `POST`s of `target` (path and query) to `authority` (host and port).
    pub fn http(target: &str, authority: &str) -> Self {
        let head = format!(
            "POST {target} HTTP/1.1\r\nhost: {authority}\r\ncontent-type: application/json\r\ncontent-length: "
        );
        Self::Http {
            head: head.into_bytes().into(),
        }
    }

    /// The request for `txs` (a lone transaction as a plain call), ids from `first_id`, in one
    /// buffer (one write).
    pub fn request(&self, txs: &[(B256, Bytes)], first_id: u64) -> Vec<u8> {
        let body_len: usize = txs.iter().map(|(_, raw)| 80 + 2 * raw.len()).sum();
        let mut json = Vec::with_capacity(body_len);
        body(txs, first_id, &mut json);
        self.wrap(json)
    }

    /// Any JSON-RPC body (a call or a batch) framed for this endpoint, in one buffer.
    pub fn wrap(&self, json: Vec<u8>) -> Vec<u8> {
        let Self::Http { head } = self else {
            return json;
        };
        let mut out = Vec::with_capacity(head.len() + 24 + json.len());
        out.extend_from_slice(head);
        out.extend_from_slice(json.len().to_string().as_bytes());
        out.extend_from_slice(b"\r\n\r\n");
        out.extend_from_slice(&json);
        out
    }

    /// One answer in `buf`: its body and whether the connection stays open; `None` while it is
    /// not all there.
    pub fn parse(&self, buf: &[u8]) -> Result<Option<(Vec<u8>, bool)>, Fault> {
        match self {
            Self::Http { .. } => parse_http(buf),
            Self::Ipc => Ok(buf.iter().position(|b| *b == b'\n').map(|end| {
                // Bytes past the line would be a second answer nobody asked for.
                (buf[..end].to_vec(), end + 1 == buf.len())
            })),
        }
    }
}

/// The JSON-RPC body for `txs`, appended to `out`.
fn body(txs: &[(B256, Bytes)], first_id: u64, out: &mut Vec<u8>) {
    let many = txs.len() != 1;
    if many {
        out.push(b'[');
    }
    for (i, (_, raw)) in txs.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(br#"{"jsonrpc":"2.0","id":"#);
        out.extend_from_slice((first_id + i as u64).to_string().as_bytes());
        out.extend_from_slice(br#","method":"eth_sendRawTransaction","params":["0x"#);
        let at = out.len();
        out.resize(at + 2 * raw.len(), 0);
        alloy::hex::encode_to_slice(raw, &mut out[at..]).expect("sized for the hex");
        out.extend_from_slice(br#""]}"#);
    }
    if many {
        out.push(b']');
    }
}

/// One 200 response in `buf`: its body and whether the connection stays open; `None` while it
/// is not all there. Any other status is transient (the full client retries it); the
/// connection is not reused.
fn parse_http(buf: &[u8]) -> Result<Option<(Vec<u8>, bool)>, Fault> {
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

#[derive(Deserialize)]
struct Answer<'a> {
    id: Option<u64>,
    #[serde(borrow)]
    result: Option<&'a RawValue>,
    error: Option<ErrorPayload>,
}

/// The per-transaction answers in `body` to a request of `n` calls with ids `first_id..`.
pub fn answers(body: &[u8], n: usize, first_id: u64) -> Result<Answers, Fault> {
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
        let w = Framing::http("/k?x=1", "127.0.0.1:8545");
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
        // Over IPC: the JSON alone, and one answer per line.
        let ipc = Framing::Ipc.request(&[(B256::ZERO, Bytes::from_static(&[1]))], 4);
        assert_eq!(
            ipc,
            br#"{"jsonrpc":"2.0","id":4,"method":"eth_sendRawTransaction","params":["0x01"]}"#
        );
        let answer = b"{\"id\":4,\"result\":\"0x\"}\n";
        assert!(matches!(Framing::Ipc.parse(&answer[..9]), Ok(None)));
        let (body, keep) = ok_parse(Framing::Ipc.parse(answer));
        assert!(keep && body == answer[..answer.len() - 1]);
        // Bytes past the line: a second answer nobody asked for, the connection is dropped.
        let mut two = answer.to_vec();
        two.extend_from_slice(b"{");
        assert!(!ok_parse(Framing::Ipc.parse(&two)).1);
    }

    fn ok_parse(r: Result<Option<(Vec<u8>, bool)>, Fault>) -> (Vec<u8>, bool) {
        match r {
            Ok(Some(x)) => x,
            Ok(None) => panic!("incomplete"),
            Err(Fault::Transient(e) | Fault::Unreadable(e)) => panic!("{e}"),
        }
    }
}
