//! `[[setup]]`: per-wallet calls after funding (validated as calls, located at `setup[i]`),
//! each with an optional `unless` view that marks a wallet as already done.

use super::Ctx;
use super::expect::view_function;
use super::workload::validate_call;
use crate::scenario::diag::KeyPath;
use crate::scenario::raw::{RawCall, RawSetup};
use crate::scenario::template::{self, ArgSpec};
use crate::scenario::{SetupCall, Unless, coerce_arg};

pub(super) fn validate(cx: &mut Ctx, raw: &[RawSetup], duration: u64) -> Vec<SetupCall> {
    let mut out = Vec::new();
    for (i, s) in raw.iter().enumerate() {
        let path = KeyPath::root().key("setup").index(i);
        let as_call = RawCall {
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
        };
        let call = validate_call(cx, &path, &as_call, duration);
        let unless = match &s.unless {
            None => None,
            Some(u) => {
                let at = path.key("unless");
                let f = match view_function(&u.call) {
                    Ok(f) => f,
                    Err(e) => {
                        cx.err(at.key("call"), e, None);
                        continue;
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
                    continue;
                }
                let mut args = Vec::new();
                for (j, (input, a)) in f.inputs.iter().zip(&u.args).enumerate() {
                    match template::parse(&input.selector_type(), a, &cx.contracts) {
                        Ok(spec @ (ArgSpec::Literal(_) | ArgSpec::Sender)) => args.push(spec),
                        Ok(_) => cx.err(at.key("args").index(j), "an `unless` view's arguments are literals, {sender} or {contract:NAME}", None),
                        Err(e) => cx.err(at.key("args").index(j), e, None),
                    }
                }
                let ty = f.outputs[0].selector_type();
                let (at_least, value) = match (&u.equals, &u.at_least) {
                    (Some(v), None) => (false, v.clone()),
                    (None, Some(v)) => (true, v.clone()),
                    _ => {
                        cx.err(
                            at.clone(),
                            "give exactly one of `equals` and `at_least`",
                            None,
                        );
                        continue;
                    }
                };
                if coerce_arg(&ty, &value).is_none() {
                    cx.err(
                        at.key(if at_least { "at_least" } else { "equals" }),
                        format!("\"{value}\" is not a valid {ty}"),
                        None,
                    );
                    continue;
                }
                if args.len() != f.inputs.len() {
                    continue;
                }
                Some(Unless {
                    call: u.call.clone(),
                    args,
                    at_least,
                    value,
                })
            }
        };
        if let Some(call) = call {
            out.push(SetupCall { call, unless });
        }
    }
    out
}
