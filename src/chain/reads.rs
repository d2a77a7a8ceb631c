//! Read workloads' JSON-RPC: the request of each method from a step's resolved arguments and
//! the answer's outcome (pure, below), and the path a read goes out on (`ReadPath`): the lean
//! wire to a plain-http endpoint, or the full client. A read is one attempt: it is never sent
//! again, so its latency and its errors are what a dapp's user would see.

use std::fmt::Write as _;
use std::sync::Arc;

use alloy::primitives::Address;
use alloy::providers::{DynProvider, Provider};
use serde_json::value::RawValue;

use super::tx::ErrorClass;
use super::wire::Wire;
use crate::scenario::{BLOCK_TAGS, ReadMethod};

/// What a read needs besides its step's arguments.
#[derive(Debug, Clone)]
pub struct ReadShape {
    pub method: ReadMethod,
    /// eth_call's contract; eth_getLogs' address filter (`None`: all logs).
    pub to: Option<Address>,
}

/// The `params` array of a read: `args` are the step's resolved arguments; `input` the
/// eth_call's encoded data; `sender` the wallet the read is made for.
pub fn params(shape: &ReadShape, args: &[String], input: &[u8], sender: Address) -> String {
    let block = |i: usize| block_param(args.get(i).map_or("latest", String::as_str));
    match shape.method {
        ReadMethod::Call => format!(
            r#"[{{"from":"{sender:#x}","to":"{:#x}","data":"0x{}"}},"latest"]"#,
            shape.to.unwrap_or_default(),
            alloy::primitives::hex::encode(input)
        ),
        ReadMethod::GetBalance => format!(
            r#"["{}","latest"]"#,
            args.first()
                .map_or_else(|| format!("{sender:#x}"), Clone::clone)
        ),
        ReadMethod::GetBlockByNumber => format!("[{},false]", block(0)),
        ReadMethod::GetLogs => {
            let mut filter = format!(r#"{{"fromBlock":{},"toBlock":{}"#, block(0), block(1));
            if let Some(to) = shape.to {
                let _ = write!(filter, r#","address":"{to:#x}""#);
            }
            format!("[{filter}}}]")
        }
        ReadMethod::BlockNumber => "[]".into(),
        // The read's argument is the transaction's hash (looked up when it fires).
        ReadMethod::GetTransactionReceipt => {
            format!(r#"["{}"]"#, args.first().map_or("", String::as_str))
        }
    }
}

/// A block argument as JSON: a tag as itself, a number as a hex quantity.
fn block_param(arg: &str) -> String {
    if BLOCK_TAGS.contains(&arg) {
        return format!("\"{arg}\"");
    }
    match arg.parse::<u64>() {
        Ok(n) => format!("\"{n:#x}\""),
        Err(_) => format!("\"{arg}\""),
    }
}

/// One JSON-RPC call object.
pub fn call_json(method: ReadMethod, params: &str, id: u64) -> String {
    format!(
        r#"{{"jsonrpc":"2.0","id":{id},"method":"{}","params":{params}}}"#,
        method.as_str()
    )
}

/// How a read ended (a timeout is the caller's to tell).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    /// `class: message`, as steps.csv's `error` column has it.
    Failed(String),
}

#[derive(serde::Deserialize)]
struct Reply<'a> {
    #[serde(default)]
    id: Option<u64>,
    /// `Some` whenever the key is there, `null` included (a receipt not found is an answer).
    #[serde(borrow, default, deserialize_with = "present")]
    result: Option<&'a RawValue>,
    #[serde(default)]
    error: Option<ErrorBody>,
}

fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<&'de RawValue>, D::Error> {
    serde::Deserialize::deserialize(d).map(Some)
}

#[derive(serde::Deserialize)]
struct ErrorBody {
    #[serde(default)]
    message: String,
}

fn outcome(r: &Reply<'_>) -> Outcome {
    match (&r.error, r.result) {
        (Some(e), _) => Outcome::Failed(format!(
            "{}: {}",
            ErrorClass::of_message(&e.message).as_str(),
            one_line(&e.message)
        )),
        (None, Some(_)) => Outcome::Ok,
        (None, None) => Outcome::Failed("other: an answer with neither result nor error".into()),
    }
}

fn one_line(s: &str) -> String {
    let s: String = s.chars().take(200).collect();
    s.replace(['\n', '\r', ','], " ")
}

/// The outcome of each of `ids` in the answer `body` (a single answer or a batch's), in the
/// order of `ids`; an id the answer lacks failed.
pub fn outcomes(body: &[u8], ids: &[u64]) -> Vec<Outcome> {
    let missing = || Outcome::Failed("other: the answer lacks this request".into());
    let unreadable = |e: serde_json::Error| {
        vec![Outcome::Failed(format!("other: an unreadable answer ({e})")); ids.len()]
    };
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    if first == Some(&b'[') {
        let replies: Vec<Reply<'_>> = match serde_json::from_slice(body) {
            Ok(r) => r,
            Err(e) => return unreadable(e),
        };
        return ids
            .iter()
            .map(|id| {
                replies
                    .iter()
                    .find(|r| r.id == Some(*id))
                    .map_or_else(missing, outcome)
            })
            .collect();
    }
    match serde_json::from_slice::<Reply<'_>>(body) {
        // A lone answer to a batch is an error about the whole batch.
        Ok(r) => vec![outcome(&r); ids.len()],
        Err(e) => unreadable(e),
    }
}

/// Where reads go: the lean wire (a plain-http endpoint, no cap on calls per second) or the
/// full client (its pacing and retries of transient failures apply).
#[derive(Clone)]
pub enum ReadPath {
    Wire(Arc<Wire>),
    Client(DynProvider),
}

impl ReadPath {
    /// Sends `calls` (each `(id, method, params)`) in one request (a batch when several); each
    /// one's outcome, in order. `Err`: no answer at all (a connection or HTTP failure).
    pub async fn send(&self, calls: &[(u64, ReadMethod, String)]) -> Result<Vec<Outcome>, String> {
        match self {
            Self::Wire(w) => {
                let json = if let [(id, m, p)] = calls {
                    call_json(*m, p, *id)
                } else {
                    let all: Vec<String> = calls
                        .iter()
                        .map(|(id, m, p)| call_json(*m, p, *id))
                        .collect();
                    format!("[{}]", all.join(","))
                };
                let body = w.request(json.into_bytes()).await?;
                let ids: Vec<u64> = calls.iter().map(|c| c.0).collect();
                Ok(outcomes(&body, &ids))
            }
            Self::Client(p) => {
                let mut out = Vec::with_capacity(calls.len());
                for (_, m, params) in calls {
                    let raw = RawValue::from_string(params.clone()).map_err(|e| e.to_string())?;
                    out.push(match p.raw_request_dyn(m.as_str().into(), &raw).await {
                        Ok(_) => Outcome::Ok,
                        Err(e) => {
                            // The client's transport errors come with their URLs scrubbed.
                            let text = e.to_string();
                            let class = if e.is_error_resp() {
                                ErrorClass::of_message(&text)
                            } else {
                                ErrorClass::Connection
                            };
                            Outcome::Failed(format!("{}: {}", class.as_str(), one_line(&text)))
                        }
                    });
                }
                Ok(out)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(method: ReadMethod, to: Option<Address>) -> ReadShape {
        ReadShape { method, to }
    }

    #[test]
    fn each_method_gets_its_params() {
        let me = Address::repeat_byte(0x11);
        let to = Address::repeat_byte(0x22);
        assert_eq!(
            params(&shape(ReadMethod::Call, Some(to)), &[], &[0xab, 0xcd], me),
            format!(r#"[{{"from":"{me:#x}","to":"{to:#x}","data":"0xabcd"}},"latest"]"#)
        );
        assert_eq!(
            params(
                &shape(ReadMethod::GetBalance, None),
                &[format!("{to:#x}")],
                &[],
                me
            ),
            format!(r#"["{to:#x}","latest"]"#)
        );
        let b = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            params(
                &shape(ReadMethod::GetBlockByNumber, None),
                &b(&["255"]),
                &[],
                me
            ),
            r#"["0xff",false]"#
        );
        assert_eq!(
            params(
                &shape(ReadMethod::GetLogs, Some(to)),
                &b(&["1", "latest"]),
                &[],
                me
            ),
            format!(r#"[{{"fromBlock":"0x1","toBlock":"latest","address":"{to:#x}"}}]"#)
        );
        assert_eq!(
            params(
                &shape(ReadMethod::GetLogs, None),
                &b(&["earliest", "16"]),
                &[],
                me
            ),
            r#"[{"fromBlock":"earliest","toBlock":"0x10"}]"#
        );
        assert_eq!(
            params(&shape(ReadMethod::BlockNumber, None), &[], &[], me),
            "[]"
        );
        let call = call_json(ReadMethod::BlockNumber, "[]", 7);
        let v: serde_json::Value = serde_json::from_str(&call).unwrap();
        assert_eq!(v["method"], "eth_blockNumber");
        assert_eq!(v["id"], 7);
    }

    #[test]
    fn answers_are_matched_by_id_and_errors_classified() {
        let batch =
            br#"[{"jsonrpc":"2.0","id":2,"error":{"code":3,"message":"execution reverted"}},
            {"jsonrpc":"2.0","id":1,"result":"0x1"}]"#;
        assert_eq!(
            outcomes(batch, &[1, 2, 3]),
            vec![
                Outcome::Ok,
                Outcome::Failed("reverted: execution reverted".into()),
                Outcome::Failed("other: the answer lacks this request".into()),
            ]
        );
        assert_eq!(
            outcomes(br#"{"jsonrpc":"2.0","id":5,"result":null}"#, &[5]),
            vec![Outcome::Ok],
            "a null result (an unknown receipt, say) is an answer"
        );
        let whole = br#"{"jsonrpc":"2.0","id":null,"error":{"code":-32005,"message":"rate limited, too many requests"}}"#;
        assert_eq!(outcomes(whole, &[1, 2]).len(), 2);
        assert!(
            matches!(&outcomes(b"<html>", &[1])[0], Outcome::Failed(e) if e.starts_with("other: an unreadable"))
        );
    }
}
