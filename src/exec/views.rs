//! `[[expect.view]]` after a run: each view called on the chain (the edge of the check), its
//! one result compared with a literal or a count of the run (`{ok:N}`, `{steps:N}`).

use alloy::dyn_abi::{DynSolValue, FunctionExt, JsonAbiExt};
use alloy::json_abi::Function;
use alloy::primitives::{Address, Bytes};
use alloy::providers::Provider;

use crate::chain::Chain;
use crate::chain::contracts::Contracts;
use crate::plan::Plan;
use crate::report::sanity::Line;
use crate::report::tally::Tally;
use crate::scenario::{Bound, CallTarget, Scenario, ViewValue, coerce_arg};

fn shown(v: &DynSolValue) -> String {
    match v {
        DynSolValue::Uint(u, _) => u.to_string(),
        DynSolValue::Int(i, _) => i.to_string(),
        DynSolValue::Address(a) => a.to_checksum(None),
        DynSolValue::Bool(b) => b.to_string(),
        other => format!("{other:?}"),
    }
}

/// How a view's result compares with the expected value of its type: numbers by value (signed
/// ones as signed), anything else only as equal or not (`None`: different).
pub(crate) fn compare(got: &DynSolValue, want: &DynSolValue) -> Option<std::cmp::Ordering> {
    match (got, want) {
        (DynSolValue::Uint(a, _), DynSolValue::Uint(b, _)) => Some(a.cmp(b)),
        (DynSolValue::Int(a, _), DynSolValue::Int(b, _)) => Some(a.cmp(b)),
        _ => (got == want).then_some(std::cmp::Ordering::Equal),
    }
}

/// Calls every view and compares; one line per view (`check` = "to.call").
pub async fn check(
    chain: &Chain,
    scenario: &Scenario,
    contracts: &Contracts,
    plan: &Plan,
    tally: &Tally,
) -> Vec<Line> {
    let mut out = Vec::new();
    for v in &scenario.expect.views {
        let to = contracts.resolve(scenario, &v.to);
        let name = |t: &CallTarget| match t {
            CallTarget::Named(i) => scenario.contracts[*i].name.clone(),
            CallTarget::Token => "token".into(),
            CallTarget::Adjudicator => "adjudicator".into(),
            CallTarget::Address(a) => Address::from(*a).to_checksum(None),
        };
        let check = format!("{}.{}", name(&v.to), v.call);
        let (kind, value) = match &v.bound {
            Bound::Equals(x) => ("=", x),
            Bound::AtLeast(x) => (">=", x),
            Bound::AtMost(x) => ("<=", x),
        };
        let expected_text = match value {
            ViewValue::Literal(l) => l.clone(),
            ViewValue::Ok(n) => tally.workloads.get(*n).map_or(0, |w| w.ok()).to_string(),
            ViewValue::Steps(n) => plan
                .steps
                .iter()
                .filter(|s| usize::from(s.workload) == *n)
                .count()
                .to_string(),
        };
        let observed = call(chain, to, &v.call, &v.args).await;
        let line = |observed: String, ok: bool| Line {
            check: check.clone(),
            expected: format!("{kind} {expected_text}"),
            observed,
            difference: String::new(),
            ok,
        };
        out.push(match observed {
            Err(e) => line(format!("call failed: {e}"), false),
            Ok((f, got)) => {
                let ty = f.outputs[0].selector_type();
                let want = coerce_arg(&ty, &expected_text);
                use std::cmp::Ordering::{Equal, Greater, Less};
                let ok = matches!(
                    (want.as_ref().and_then(|w| compare(&got, w)), kind),
                    (Some(Equal), _) | (Some(Greater), ">=") | (Some(Less), "<=")
                );
                line(shown(&got), ok)
            }
        });
    }
    out
}

pub(crate) async fn call(
    chain: &Chain,
    to: Address,
    signature: &str,
    args: &[String],
) -> Result<(Function, DynSolValue), String> {
    let f = Function::parse(signature).map_err(|e| e.to_string())?;
    let values = f
        .inputs
        .iter()
        .zip(args)
        .map(|(i, a)| coerce_arg(&i.selector_type(), a))
        .collect::<Option<Vec<_>>>()
        .ok_or("bad arguments")?;
    let input = f.abi_encode_input(&values).map_err(|e| e.to_string())?;
    let request = alloy::rpc::types::TransactionRequest::default()
        .to(to)
        .input(Bytes::from(input).into());
    let raw = chain
        .provider
        .call(request)
        .await
        .map_err(|e| e.to_string())?;
    let mut got = f.abi_decode_output(&raw).map_err(|e| e.to_string())?;
    let first = got.drain(..).next().ok_or("no output")?;
    Ok((f, first))
}

/// Prints each view's verdict like the other expectations; false when one missed.
pub fn print(lines: &[Line]) -> bool {
    let mut all = true;
    for l in lines {
        if l.ok {
            eprintln!(
                "expectation met: expect.view {} {} (observed {})",
                l.check, l.expected, l.observed
            );
        } else {
            all = false;
            eprintln!(
                "EXPECTATION MISSED: expect.view {}: expected {}, observed {}",
                l.check, l.expected, l.observed
            );
        }
    }
    all
}
