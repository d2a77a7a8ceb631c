//! Validation of `type = "read"` workloads: the method, its parameters (an eth_call's as a
//! `call` workload's; the others' against the method's own parameter types), rate and timeout.

use super::Ctx;
use super::call::{call_target, keep_arg, resolved_args, validate_call};
use crate::scenario::diag::KeyPath;
use crate::scenario::model::*;
use crate::scenario::raw::*;
use crate::scenario::template::{self, ArgSpec};

/// Default of a read workload's `timeout`.
pub const DEFAULT_READ_TIMEOUT_MS: u64 = 10_000;

pub(super) fn validate_read(
    cx: &mut Ctx,
    path: &KeyPath,
    r: &RawRead,
    duration: u64,
    kinds: &[&str],
) -> Option<ReadWorkload> {
    let method = match r.method {
        RawReadMethod::Call => ReadMethod::Call,
        RawReadMethod::GetBalance => ReadMethod::GetBalance,
        RawReadMethod::GetLogs => ReadMethod::GetLogs,
        RawReadMethod::GetBlockByNumber => ReadMethod::GetBlockByNumber,
        RawReadMethod::BlockNumber => ReadMethod::BlockNumber,
        RawReadMethod::GetTransactionReceipt => ReadMethod::GetTransactionReceipt,
    };
    let receipts_of = receipts_of(cx, path, r, method, kinds);
    let timeout_ms = match &r.timeout {
        Some(t) => cx.duration(path.key("timeout"), t, false),
        None => Some(DEFAULT_READ_TIMEOUT_MS),
    };
    let call = if method == ReadMethod::Call {
        eth_call(cx, path, r, duration)
    } else {
        other_method(cx, path, r, method, duration)
    };
    Some(ReadWorkload {
        method,
        call: call?,
        has_to: r.to.is_some(),
        receipts_of: receipts_of?,
        batch: r.batch.unwrap_or(false),
        timeout_ms: timeout_ms?,
    })
}

/// `receipts_of`: for eth_getTransactionReceipt (only), a workload that sends transactions.
/// `kinds` are the `type`s of all the workloads, by index.
fn receipts_of(
    cx: &mut Ctx,
    path: &KeyPath,
    r: &RawRead,
    method: ReadMethod,
    kinds: &[&str],
) -> Option<Option<usize>> {
    let at = path.key("receipts_of");
    match (r.receipts_of, method) {
        (None, ReadMethod::GetTransactionReceipt) => {
            cx.err(
                at,
                "eth_getTransactionReceipt needs `receipts_of`: the workload whose receipts it reads",
                Some("add e.g. receipts_of = 0 (the index of a transfer, token_transfer, call or blob workload)".into()),
            );
            None
        }
        (None, _) => Some(None),
        (Some(_), m) if m != ReadMethod::GetTransactionReceipt => {
            cx.err(
                at,
                format!(
                    "`receipts_of` is for eth_getTransactionReceipt, not {}",
                    m.as_str()
                ),
                Some("remove it".into()),
            );
            None
        }
        (Some(w), _) => {
            let w = w as usize;
            match kinds.get(w) {
                Some(&("transfer" | "token_transfer" | "call" | "blob")) => Some(Some(w)),
                Some(other) => {
                    cx.err(
                        at,
                        format!("workload[{w}] is a {other} workload; receipts are read of transfer, token_transfer, call or blob workloads"),
                        None,
                    );
                    None
                }
                None => {
                    cx.err(
                        at,
                        format!("there is no workload[{w}] ({} workloads)", kinds.len()),
                        None,
                    );
                    None
                }
            }
        }
    }
}

/// An eth_call reads a function as a `call` workload would send it.
fn eth_call(cx: &mut Ctx, path: &KeyPath, r: &RawRead, duration: u64) -> Option<CallWorkload> {
    let (Some(to), Some(signature)) = (&r.to, &r.signature) else {
        let missing = if r.to.is_none() { "to" } else { "signature" };
        cx.err(
            path.key(missing),
            format!("method = \"eth_call\" needs `{missing}`"),
            Some("add e.g. to = \"token\" and signature = \"balanceOf(address)(uint256)\"".into()),
        );
        return None;
    };
    let raw = RawCall {
        from: r.from.clone(),
        to: to.clone(),
        signature: view_signature(signature),
        args: r.args.clone().unwrap_or_default(),
        peers: r.peers.clone(),
        value: None,
        rate: r.rate,
        stages: r.stages.clone(),
        arrival: r.arrival,
        start: r.start.clone(),
        stop: r.stop.clone(),
        access_list: None,
    };
    validate_call(cx, path, &raw, duration)
}

/// `balanceOf(address)(uint256)` → `balanceOf(address)`: an eth_call's return type, when
/// written as for `[[expect.view]]`, is not part of the function.
fn view_signature(s: &str) -> String {
    match s.find(")(") {
        Some(i) if s.ends_with(')') => s[..=i].to_string(),
        _ => s.to_string(),
    }
}

/// A method other than eth_call: its parameters typed by `ReadMethod::params`.
fn other_method(
    cx: &mut Ctx,
    path: &KeyPath,
    r: &RawRead,
    method: ReadMethod,
    duration: u64,
) -> Option<CallWorkload> {
    let name = method.as_str();
    if r.signature.is_some() {
        cx.err(
            path.key("signature"),
            format!("`signature` is for method = \"eth_call\", not {name}"),
            Some("remove it".into()),
        );
    }
    let to = match (&r.to, method) {
        (Some(t), ReadMethod::GetLogs) if t != "self" => call_target(cx, path.key("to"), t),
        (Some(_), _) => {
            cx.err(
                path.key("to"),
                format!("`to` is for eth_call and eth_getLogs, not {name}"),
                Some("remove it".into()),
            );
            None
        }
        (None, _) => Some(CallTarget::Address([0; 20])),
    };
    let (types, defaults) = method.params();
    let args: Vec<String> = match &r.args {
        Some(a) => a.clone(),
        None => defaults.iter().map(|d| d.to_string()).collect(),
    };
    if args.len() != types.len() {
        let wanted = if types.is_empty() {
            "no parameters".to_string()
        } else {
            format!("[{}]", types.join(", "))
        };
        cx.err(
            path.key("args"),
            format!(
                "{name} takes {} parameter(s) but args has {}",
                types.len(),
                args.len()
            ),
            Some(format!("{name} takes {wanted}")),
        );
        return None;
    }
    let arg_specs = param_specs(cx, path, r, types, &args);
    let from = cx.role(path.key("from"), &r.from);
    let peers = r.peers.as_ref().and_then(|p| cx.role(path.key("peers"), p));
    let window = cx.window(path, &r.start, &r.stop, duration);
    let rate = window.and_then(|w| cx.rate_or_stages(path, r.rate, &r.stages, w));
    let (start_ms, _) = window?;
    let (rate, stages, stop_ms) = rate?;
    if arg_specs.len() != args.len() {
        return None;
    }
    Some(CallWorkload {
        from: from?,
        to: to?,
        signature: format!("{name}({})", types.join(",")),
        args: resolved_args(&args, &arg_specs),
        arg_specs,
        peers,
        value: 0,
        rate,
        stages,
        arrival: Ctx::arrival(r.arrival),
        start_ms,
        stop_ms,
        access_list: AccessListSpec::None,
    })
}

/// Each parameter as a literal or a template of its type; a `block` is a uint64 or a tag.
fn param_specs(
    cx: &mut Ctx,
    path: &KeyPath,
    r: &RawRead,
    types: &[&str],
    args: &[String],
) -> Vec<ArgSpec> {
    let mut specs = Vec::with_capacity(args.len());
    for (i, (ty, arg)) in types.iter().zip(args).enumerate() {
        let parsed = match *ty {
            "block" if BLOCK_TAGS.contains(&arg.as_str()) => Ok(ArgSpec::Literal(arg.clone())),
            "block" => template::parse("uint64", arg, &cx.contracts).map_err(|e| {
                format!(
                    "{e}; a block is a number, a template such as {{uint:0..100}}, or one of {}",
                    BLOCK_TAGS.join(", ")
                )
            }),
            ty => template::parse(ty, arg, &cx.contracts),
        };
        keep_arg(
            cx,
            path.key("args").index(i),
            parsed,
            r.peers.is_some(),
            &mut specs,
        );
    }
    specs
}

#[cfg(test)]
mod tests {
    use super::view_signature;

    #[test]
    fn an_eth_call_signature_may_carry_its_return_type() {
        assert_eq!(
            view_signature("balanceOf(address)(uint256)"),
            "balanceOf(address)"
        );
        assert_eq!(view_signature("count()"), "count()");
        assert_eq!(view_signature("f(uint256)"), "f(uint256)");
    }
}
