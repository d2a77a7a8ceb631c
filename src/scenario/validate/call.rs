//! Validation of what a call is made of, shared by `call` workloads, `[[setup]]` calls and
//! eth_call reads: the target, the signature against the target's ABI, the arguments and their
//! templates, the rate.

use alloy::json_abi::{Function, JsonAbi};

use super::Ctx;
use crate::scenario::diag::KeyPath;
use crate::scenario::model::*;
use crate::scenario::raw::*;
use crate::scenario::template::{self, ArgSpec};

/// Validates a `call` workload (and a `[[setup]]` call): target, signature against the target's
/// ABI, arguments and their templates, rate.
pub(super) fn validate_call(
    cx: &mut Ctx,
    path: &KeyPath,
    c: &RawCall,
    duration: u64,
) -> Option<CallWorkload> {
    let from = cx.role(path.key("from"), &c.from);
    let window = cx.window(path, &c.start, &c.stop, duration);
    let rate = window.and_then(|w| cx.rate_or_stages(path, c.rate, &c.stages, w));
    let value = match &c.value {
        Some(v) => cx.wei(path.key("value"), v),
        None => Some(0),
    };
    let to = call_target(cx, path.key("to"), &c.to);
    if to == Some(CallTarget::Sender) && value.is_some_and(|v| v > 0) {
        cx.err(
            path.key("value"),
            "a call to \"self\" sends its value to its own wallet",
            Some("remove `value` (or call another address)".into()),
        );
    }
    let access_list = access_list(cx, path, c.access_list.as_ref());
    if to == Some(CallTarget::Sender) && access_list == Some(AccessListSpec::Auto) {
        cx.err(
            path.key("access_list"),
            "\"auto\" asks the node for one call's list, but a call to \"self\" touches each sender's own account",
            Some("give the entries, or leave access_list out".into()),
        );
    }
    // A [contracts.NAME]'s ABI, or loadrun's own Token's / Adjudicator's.
    let abi = super::target_abi(cx, &c.to);
    let signature = resolve_signature(cx, path, c, abi.as_ref())?;
    let function = parse_function(cx, path, c, &signature)?;
    check_function_in_abi(cx, path, c, abi.as_ref(), &function)?;
    check_arity(cx, path, c, &function)?;
    let peers = c.peers.as_ref().and_then(|p| cx.role(path.key("peers"), p));
    let arg_specs = arg_specs(cx, path, c, &function);
    let (start_ms, _) = window?;
    let (rate, stages, stop_ms) = rate?;
    Some(CallWorkload {
        from: from?,
        to: to?,
        signature: function.signature(),
        args: resolved_args(&c.args, &arg_specs),
        arg_specs,
        peers,
        value: value?,
        rate,
        stages,
        arrival: Ctx::arrival(c.arrival),
        start_ms,
        stop_ms,
        access_list: access_list?,
    })
}

/// `access_list`: "auto" or entries of an address and its storage slots.
fn access_list(
    cx: &mut Ctx,
    path: &KeyPath,
    raw: Option<&RawAccessList>,
) -> Option<AccessListSpec> {
    let at = path.key("access_list");
    match raw {
        None => Some(AccessListSpec::None),
        Some(RawAccessList::Auto(a)) if a == "auto" => Some(AccessListSpec::Auto),
        Some(RawAccessList::Auto(other)) => {
            cx.err(
                at,
                format!("\"{other}\" is not an access list"),
                Some("write \"auto\" (asked from the node) or [{ address = \"token\", storage_keys = [\"0x…\"] }]".into()),
            );
            None
        }
        Some(RawAccessList::Given(items)) => {
            let mut out = Vec::with_capacity(items.len());
            let mut ok = true;
            for (i, item) in items.iter().enumerate() {
                let entry = at.index(i);
                let target = call_target(cx, entry.key("address"), &item.address)
                    .filter(|t| *t != CallTarget::Sender);
                if item.address == "self" {
                    cx.err(
                        entry.key("address"),
                        "\"self\" is not one address; an access list names addresses",
                        Some("write the contract or a 0x address".into()),
                    );
                }
                let mut slots = Vec::with_capacity(item.storage_keys.len());
                for (j, k) in item.storage_keys.iter().enumerate() {
                    match k
                        .strip_prefix("0x")
                        .filter(|h| h.len() == 64)
                        .and_then(decode_hex32)
                    {
                        Some(slot) => slots.push(slot),
                        None => {
                            cx.err(
                                entry.key("storage_keys").index(j),
                                format!("\"{k}\" is not a storage slot"),
                                Some("write 0x and 64 hex digits".into()),
                            );
                            ok = false;
                        }
                    }
                }
                match target {
                    Some(t) => out.push((t, slots)),
                    None => ok = false,
                }
            }
            ok.then_some(AccessListSpec::Given(out))
        }
    }
}

fn decode_hex32(h: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(h.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// `to`: a `[contracts.NAME]`, loadrun's "token" or "adjudicator", or a 0x address.
pub(super) fn call_target(cx: &mut Ctx, at: KeyPath, to: &str) -> Option<CallTarget> {
    let named = cx.contracts.iter().position(|k| k.name == to);
    match to {
        _ if named.is_some() => named.map(CallTarget::Named),
        "token" => Some(CallTarget::Token),
        "self" => Some(CallTarget::Sender),
        "adjudicator" => Some(CallTarget::Adjudicator),
        other => match other
            .strip_prefix("0x")
            .filter(|h| h.len() == 40)
            .and_then(decode_hex20)
        {
            Some(a) => Some(CallTarget::Address(a)),
            None => {
                let names: Vec<&str> = cx.contracts.iter().map(|k| k.name.as_str()).collect();
                cx.err(at, format!("\"{other}\" is not a 0x address (40 hex digits), \"token\", \"adjudicator\" or a [contracts.NAME]{}", if names.is_empty() { String::new() } else { format!(" ({})", names.join(", ")) }), None);
                None
            }
        },
    }
}

/// The full signature: with the target's ABI, a bare name is looked up (it must be there
/// exactly once); otherwise the signature as written.
fn resolve_signature(
    cx: &mut Ctx,
    path: &KeyPath,
    c: &RawCall,
    abi: Option<&JsonAbi>,
) -> Option<String> {
    let Some(abi) = abi.filter(|_| !c.signature.contains('(')) else {
        return Some(c.signature.clone());
    };
    let found: Vec<String> = abi
        .functions()
        .filter(|f| f.name == c.signature)
        .map(|f| f.signature())
        .collect();
    match found.as_slice() {
        [one] => Some(one.clone()),
        [] => {
            let names: Vec<String> = abi.functions().map(|f| f.signature()).collect();
            cx.err(
                path.key("signature"),
                format!("`{}` has no function {}", c.to, c.signature),
                Some(format!("it has: {}", names.join(", "))),
            );
            None
        }
        many => {
            cx.err(
                path.key("signature"),
                format!(
                    "`{}` is ambiguous in {}: {}",
                    c.signature,
                    c.to,
                    many.join(", ")
                ),
                Some("give the full signature".into()),
            );
            None
        }
    }
}

/// The function the signature writes, if it is a Solidity function signature.
fn parse_function(cx: &mut Ctx, path: &KeyPath, c: &RawCall, signature: &str) -> Option<Function> {
    match Function::parse(signature) {
        Ok(f) => Some(f),
        Err(e) => {
            cx.err(
                path.key("signature"),
                format!(
                    "\"{}\" is not a Solidity function signature ({e})",
                    c.signature
                ),
                Some("write e.g. \"deposit(uint256)\" or \"transfer(address,uint256)\"".into()),
            );
            None
        }
    }
}

/// With the target's ABI known, the function must be in it.
fn check_function_in_abi(
    cx: &mut Ctx,
    path: &KeyPath,
    c: &RawCall,
    abi: Option<&JsonAbi>,
    function: &Function,
) -> Option<()> {
    if let Some(abi) = abi
        && !abi.functions().any(|f| f.selector() == function.selector())
    {
        let names: Vec<String> = abi.functions().map(|f| f.signature()).collect();
        cx.err(
            path.key("signature"),
            format!("`{}` has no function {}", c.to, function.signature()),
            Some(format!("it has: {}", names.join(", "))),
        );
        return None;
    }
    Some(())
}

/// `args` must have one value per parameter of the function.
fn check_arity(cx: &mut Ctx, path: &KeyPath, c: &RawCall, function: &Function) -> Option<()> {
    if function.inputs.len() != c.args.len() {
        cx.err(
            path.key("args"),
            format!(
                "{} takes {} argument(s) but args has {}",
                c.signature,
                function.inputs.len(),
                c.args.len()
            ),
            None,
        );
        return None;
    }
    Some(())
}

/// Each argument parsed against its parameter's type; `{peer}` needs `peers`. Only the valid
/// ones are returned (errors are reported).
fn arg_specs(cx: &mut Ctx, path: &KeyPath, c: &RawCall, function: &Function) -> Vec<ArgSpec> {
    let mut arg_specs = Vec::with_capacity(c.args.len());
    for (i, (input, arg)) in function.inputs.iter().zip(&c.args).enumerate() {
        let parsed = template::parse(&input.selector_type(), arg, &cx.contracts);
        keep_arg(
            cx,
            path.key("args").index(i),
            parsed,
            c.peers.is_some(),
            &mut arg_specs,
        );
    }
    arg_specs
}

/// Keeps a parsed argument, or reports why not (its error, or `{peer}` without `peers`).
pub(super) fn keep_arg(
    cx: &mut Ctx,
    at: KeyPath,
    parsed: Result<ArgSpec, String>,
    has_peers: bool,
    out: &mut Vec<ArgSpec>,
) {
    match parsed {
        Ok(ArgSpec::Peer) if !has_peers => cx.err(
            at,
            "{peer} draws from the role named by `peers`, which this workload does not set",
            Some("add e.g. peers = \"B\"".into()),
        ),
        Ok(spec) => out.push(spec),
        Err(e) => cx.err(at, e, None),
    }
}

/// The arguments as resolved at validation: a literal's value (`{contract:NAME}` is an address
/// by then), a template as written.
pub(super) fn resolved_args(raw: &[String], specs: &[ArgSpec]) -> Vec<String> {
    raw.iter()
        .zip(specs)
        .map(|(raw, spec)| match spec {
            ArgSpec::Literal(l) => l.clone(),
            _ => raw.clone(),
        })
        .collect()
}

fn decode_hex20(h: &str) -> Option<[u8; 20]> {
    let mut out = [0u8; 20];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(h.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}
