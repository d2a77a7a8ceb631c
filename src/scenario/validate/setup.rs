//! `[[setup]]`: per-wallet calls after funding (validated as calls, located at `setup[i]`),
//! each with an optional `unless` view that marks a wallet as already done.

use alloy::json_abi::{Function, JsonAbi};

use super::Ctx;
use super::call::validate_call;
use super::expect::view_function;
use super::target_abi;
use crate::scenario::diag::KeyPath;
use crate::scenario::raw::{RawCall, RawSetup, RawUnless};
use crate::scenario::template::{self, ArgSpec};
use crate::scenario::{SetupCall, Unless, coerce_arg};

/// `name(v1,v2)(ret)` with values (templates, literals) inside the first parentheses: the
/// canonical `name(t1,t2)(ret)` and the values, the types found in `abi` by name and arity.
/// `None` when the parentheses hold types (the plain form).
fn embedded(call: &str, abi: Option<&JsonAbi>) -> Option<Result<(String, Vec<String>), String>> {
    let (name, rest) = call.split_once('(')?;
    let (inner, ret) = rest.split_once(')')?;
    let values: Vec<String> = if inner.trim().is_empty() {
        Vec::new()
    } else {
        inner.split(',').map(|v| v.trim().to_string()).collect()
    };
    let is_type = |v: &str| alloy::dyn_abi::DynSolType::parse(v).is_ok();
    if values.iter().all(|v| is_type(v)) {
        return None;
    }
    let Some(abi) = abi else {
        return Some(Err(format!(
            "`{call}` writes its arguments inside the call, but the target has no known ABI: write the types, e.g. \"{name}(address)(uint256)\", and the values in `args`"
        )));
    };
    let found: Vec<_> = abi
        .functions()
        .filter(|f| f.name == name.trim() && f.inputs.len() == values.len())
        .collect();
    let [f] = found.as_slice() else {
        return Some(Err(format!(
            "`{call}`: the target's ABI has {} function(s) {name} with {} argument(s); write the types and `args` instead",
            found.len(),
            values.len()
        )));
    };
    let types: Vec<String> = f
        .inputs
        .iter()
        .map(|i| i.selector_type().into_owned())
        .collect();
    Some(Ok((
        format!("{}({}){ret}", name.trim(), types.join(",")),
        values,
    )))
}

/// Validates `[[setup]]`: each entry as a call, with its `unless` view. An entry whose `unless`
/// has an error is left out (and reported).
pub(super) fn validate(cx: &mut Ctx, raw: &[RawSetup], duration: u64) -> Vec<SetupCall> {
    let mut out = Vec::new();
    for (i, s) in raw.iter().enumerate() {
        let path = KeyPath::root().key("setup").index(i);
        let call = validate_call(cx, &path, &as_call(s), duration);
        let unless = match &s.unless {
            None => None,
            Some(u) => match unless(cx, &path.key("unless"), &s.to, u) {
                Some(u) => Some(u),
                None => continue,
            },
        };
        if let Some(call) = call {
            out.push(SetupCall { call, unless });
        }
    }
    out
}

/// A setup entry as a `call` workload that makes no steps of its own.
fn as_call(s: &RawSetup) -> RawCall {
    RawCall {
        from: s.from.clone(),
        to: s.to.clone(),
        signature: s.signature.clone(),
        args: s.args.clone(),
        peers: s.peers.clone(),
        value: s.value.clone(),
        rate: Some(0.0),
        stages: None,
        arrival: None,
        start: None,
        stop: None,
        access_list: None,
    }
}

/// An `unless` view on the setup's target `to`: its call (arguments written inside it or in
/// `args`), arguments, and the value that marks a wallet as done.
fn unless(cx: &mut Ctx, at: &KeyPath, to: &str, u: &RawUnless) -> Option<Unless> {
    // `allowance({sender},{contract:pool})(uint256)`: the arguments written inside
    // the call, their types taken from the target's ABI.
    let (call, raw_args) = match embedded(&u.call, target_abi(cx, to).as_ref()) {
        None => (u.call.clone(), u.args.clone()),
        Some(Ok(x)) if u.args.is_empty() => x,
        Some(Ok(_)) => {
            cx.err(
                at.key("args"),
                "the arguments are already written inside `call`",
                None,
            );
            return None;
        }
        Some(Err(e)) => {
            cx.err(at.key("call"), e, None);
            return None;
        }
    };
    let u = RawUnless {
        call,
        args: raw_args,
        ..u.clone()
    };
    let f = match view_function(&u.call) {
        Ok(f) => f,
        Err(e) => {
            cx.err(at.key("call"), e, None);
            return None;
        }
    };
    if f.inputs.len() != u.args.len() {
        cx.err(
            at.key("args"),
            format!(
                "{} takes {} argument(s) but args has {}",
                f.signature(),
                f.inputs.len(),
                u.args.len()
            ),
            None,
        );
        return None;
    }
    let args = unless_args(cx, at, &f, &u.args);
    let (at_least, value) = unless_bound(cx, at, &u, &f.outputs[0].selector_type())?;
    if args.len() != f.inputs.len() {
        return None;
    }
    Some(Unless {
        call: u.call.clone(),
        args,
        at_least,
        value,
    })
}

/// An `unless` view's arguments: literals, `{sender}` or `{contract:NAME}`; only the valid ones
/// are returned (errors are reported).
fn unless_args(cx: &mut Ctx, at: &KeyPath, f: &Function, raw: &[String]) -> Vec<ArgSpec> {
    let mut args = Vec::new();
    for (j, (input, a)) in f.inputs.iter().zip(raw).enumerate() {
        match template::parse(&input.selector_type(), a, &cx.contracts) {
            Ok(spec @ (ArgSpec::Literal(_) | ArgSpec::Sender)) => args.push(spec),
            Ok(_) => cx.err(
                at.key("args").index(j),
                "an `unless` view's arguments are literals, {sender} or {contract:NAME}",
                None,
            ),
            Err(e) => cx.err(at.key("args").index(j), e, None),
        }
    }
    args
}

/// Exactly one of `equals` and `at_least`, a valid value of the view's type `ty`:
/// (whether it is `at_least`, the value).
fn unless_bound(cx: &mut Ctx, at: &KeyPath, u: &RawUnless, ty: &str) -> Option<(bool, String)> {
    let (at_least, value) = match (&u.equals, &u.at_least) {
        (Some(v), None) => (false, v.clone()),
        (None, Some(v)) => (true, v.clone()),
        _ => {
            cx.err(
                at.clone(),
                "give exactly one of `equals` and `at_least`",
                None,
            );
            return None;
        }
    };
    if coerce_arg(ty, &value).is_none() {
        cx.err(
            at.key(if at_least { "at_least" } else { "equals" }),
            format!("\"{value}\" is not a valid {ty}"),
            None,
        );
        return None;
    }
    Some((at_least, value))
}
