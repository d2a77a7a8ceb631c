//! `[expect]`: the CI thresholds, and `[[expect.view]]` (view calls whose result must equal or
//! bound a value or a count of the run).

use alloy::json_abi::Function;

use super::Ctx;
use crate::scenario::diag::KeyPath;
use crate::scenario::raw::{RawExpect, RawView};
use crate::scenario::{Bound, CallTarget, Expect, ViewExpect, ViewValue};

pub(super) fn validate_expect(cx: &mut Ctx, raw: RawExpect, workloads: usize) -> Expect {
    let path = KeyPath::root().key("expect");
    let mut min_rate = Vec::new();
    for (k, &v) in raw.min_rate.iter().flatten() {
        let at = path.key("min_rate").key(k);
        match k.parse::<u32>() {
            Ok(i) if (i as usize) < workloads => {
                if v.is_finite() && v >= 0.0 {
                    min_rate.push((i, v));
                } else {
                    cx.err(at, format!("{v} is not a rate (a finite number >= 0)"), None);
                }
            }
            _ => cx.err(
                at,
                format!("\"{k}\" is not a workload index (this scenario has {workloads} workloads, 0 to {})", workloads.saturating_sub(1)),
                Some("key min_rate by the workload's index, as in the `workload` column: min_rate = { \"0\" = 10.0 }".into()),
            ),
        }
    }
    let views = raw
        .view
        .iter()
        .enumerate()
        .filter_map(|(i, v)| view(cx, &path.key("view").index(i), v, workloads))
        .collect();
    Expect {
        views,
        min_rate,
        max_failed: raw.max_failed,
        max_p99_inclusion_ms: raw
            .max_p99_inclusion
            .as_ref()
            .and_then(|t| cx.duration(path.key("max_p99_inclusion"), t, true)),
        max_p99_lateness_ms: raw
            .max_p99_lateness
            .as_ref()
            .and_then(|t| cx.duration(path.key("max_p99_lateness"), t, true)),
    }
}

/// Makes the bound of one key (`equals`, `at_least`, `at_most`).
type MakeBound = fn(ViewValue) -> Bound;

/// `call = "name(types)(returns)"`: the function, with one output.
pub(super) fn view_function(call: &str) -> Result<Function, String> {
    let f =
        Function::parse(call).map_err(|e| format!("\"{call}\" is not a view signature ({e})"))?;
    if f.outputs.len() != 1 {
        return Err(format!(
            "\"{call}\" must return exactly one value, e.g. \"count()(uint256)\""
        ));
    }
    Ok(f)
}

/// `"{ok:N}"`, `"{steps:N}"` or a literal of the output type.
fn view_value(text: &str, ty: &str, workloads: usize) -> Result<ViewValue, String> {
    if let Some(inner) = text.strip_prefix('{').and_then(|t| t.strip_suffix('}')) {
        let (name, n) = inner.split_once(':').unwrap_or((inner, ""));
        let n: usize = n.trim().parse().map_err(|_| {
            format!("`{text}`: write {{ok:N}} or {{steps:N}} with a workload index")
        })?;
        if n >= workloads {
            return Err(format!(
                "`{text}`: no workload {n} (this scenario has {workloads})"
            ));
        }
        return match name {
            "ok" => Ok(ViewValue::Ok(n)),
            "steps" => Ok(ViewValue::Steps(n)),
            _ => Err(format!("`{text}` is not {{ok:N}} or {{steps:N}}")),
        };
    }
    crate::scenario::coerce_arg(ty, text)
        .map(|_| ViewValue::Literal(text.to_string()))
        .ok_or_else(|| format!("\"{text}\" is not a valid {ty}"))
}

/// One `[[expect.view]]`: its target, the view function, its arguments and its one bound.
fn view(cx: &mut Ctx, path: &KeyPath, v: &RawView, workloads: usize) -> Option<ViewExpect> {
    let to = view_target(cx, path, &v.to);
    let f = match view_function(&v.call) {
        Ok(f) => f,
        Err(e) => {
            cx.err(path.key("call"), e, None);
            return None;
        }
    };
    if let Some(CallTarget::Named(i)) = to
        && let Some(abi) = &cx.contracts[i].abi
        && !abi.functions().any(|g| g.selector() == f.selector())
    {
        cx.err(
            path.key("call"),
            format!("`{}` has no function {}", v.to, f.signature()),
            None,
        );
        return None;
    }
    if f.inputs.len() != v.args.len() {
        cx.err(
            path.key("args"),
            format!(
                "{} takes {} argument(s) but args has {}",
                f.signature(),
                f.inputs.len(),
                v.args.len()
            ),
            None,
        );
        return None;
    }
    let args = view_args(cx, path, &f, &v.args);
    let bound = view_bound(cx, path, v, &f, workloads)?;
    if args.len() != f.inputs.len() {
        return None;
    }
    Some(ViewExpect {
        to: to?,
        call: v.call.clone(),
        args,
        bound,
    })
}

/// `to`: "token", "adjudicator", a `[contracts.NAME]` or a 0x address.
fn view_target(cx: &mut Ctx, path: &KeyPath, to: &str) -> Option<CallTarget> {
    match to {
        "token" => Some(CallTarget::Token),
        "adjudicator" => Some(CallTarget::Adjudicator),
        name => match cx.contracts.iter().position(|k| k.name == name) {
            Some(i) => Some(CallTarget::Named(i)),
            None => match name
                .strip_prefix("0x")
                .and_then(|h| alloy::hex::decode(h).ok())
                .filter(|b| b.len() == 20)
            {
                Some(b) => Some(CallTarget::Address(b.try_into().expect("20 bytes"))),
                None => {
                    cx.err(path.key("to"), format!("\"{name}\" is not a [contracts.NAME], \"token\", \"adjudicator\" or a 0x address"), None);
                    None
                }
            },
        },
    }
}

/// A view's arguments: literals or `{contract:NAME}`, as values; only the valid ones are
/// returned (errors are reported).
fn view_args(cx: &mut Ctx, path: &KeyPath, f: &Function, raw: &[String]) -> Vec<String> {
    let mut args = Vec::new();
    for (i, (input, a)) in f.inputs.iter().zip(raw).enumerate() {
        match crate::scenario::template::parse(&input.selector_type(), a, &cx.contracts) {
            Ok(crate::scenario::template::ArgSpec::Literal(l)) => args.push(l),
            Ok(_) => cx.err(
                path.key("args").index(i),
                "a view's arguments are literals or {contract:NAME}",
                None,
            ),
            Err(e) => cx.err(path.key("args").index(i), e, None),
        }
    }
    args
}

/// The one bound given (`equals`, `at_least` or `at_most`): an ordering bound and a count need a
/// numeric result.
fn view_bound(
    cx: &mut Ctx,
    path: &KeyPath,
    v: &RawView,
    f: &Function,
    workloads: usize,
) -> Option<Bound> {
    let ty = f.outputs[0].selector_type();
    let given: Vec<(&str, &String, MakeBound)> = [
        ("equals", &v.equals, Bound::Equals as MakeBound),
        ("at_least", &v.at_least, Bound::AtLeast),
        ("at_most", &v.at_most, Bound::AtMost),
    ]
    .into_iter()
    .filter_map(|(k, val, b)| val.as_ref().map(|val| (k, val, b)))
    .collect();
    let [(key, text, make)] = given.as_slice() else {
        cx.err(
            path.clone(),
            "give exactly one of `equals`, `at_least`, `at_most`",
            Some("e.g. equals = \"{ok:0}\"".into()),
        );
        return None;
    };
    if *key != "equals" && !(ty.starts_with("uint") || ty.starts_with("int")) {
        cx.err(
            path.key(key),
            format!(
                "`{key}` compares numbers, but {} returns {ty}",
                f.signature()
            ),
            None,
        );
        return None;
    }
    let numeric = ty.starts_with("uint") || ty.starts_with("int");
    match view_value(text, &ty, workloads) {
        Ok(ViewValue::Ok(_) | ViewValue::Steps(_)) if !numeric => {
            cx.err(
                path.key(key),
                format!("`{text}` is a count, but {} returns {ty}", f.signature()),
                None,
            );
            None
        }
        Ok(value) => Some(make(value)),
        Err(e) => {
            cx.err(path.key(key), e, None);
            None
        }
    }
}
