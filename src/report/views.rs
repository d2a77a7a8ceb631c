//! `[[expect.view]]` after a run (pure): what each view is expected to return — a literal or a
//! count of the run (`{ok:N}`, `{steps:N}`) — and its sanity line once the view was called
//! (`chain::views::call`).

use alloy::dyn_abi::DynSolValue;
use alloy::json_abi::Function;
use alloy::primitives::Address;

use super::sanity::Line;
use super::tally::Tally;
use crate::chain::views::compare;
use crate::plan::Plan;
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

/// What one view must return.
pub struct Expected {
    /// `to.call`, as the line names it.
    pub check: String,
    /// `=`, `>=` or `<=`.
    pub kind: &'static str,
    pub value: String,
}

/// What each of the scenario's views must return, in order.
pub fn expected(scenario: &Scenario, plan: &Plan, tally: &Tally) -> Vec<Expected> {
    let name = |t: &CallTarget| match t {
        CallTarget::Named(i) => scenario.contracts[*i].name.clone(),
        CallTarget::Token => "token".into(),
        CallTarget::Adjudicator => "adjudicator".into(),
        CallTarget::Sender => "self".into(),
        CallTarget::Address(a) => Address::from(*a).to_checksum(None),
    };
    scenario
        .expect
        .views
        .iter()
        .map(|v| {
            let (kind, value) = match &v.bound {
                Bound::Equals(x) => ("=", x),
                Bound::AtLeast(x) => (">=", x),
                Bound::AtMost(x) => ("<=", x),
            };
            let value = match value {
                ViewValue::Literal(l) => l.clone(),
                ViewValue::Ok(n) => tally.workloads.get(*n).map_or(0, |w| w.ok()).to_string(),
                ViewValue::Steps(n) => plan
                    .steps
                    .iter()
                    .filter(|s| usize::from(s.workload) == *n)
                    .count()
                    .to_string(),
            };
            Expected {
                check: format!("{}.{}", name(&v.to), v.call),
                kind,
                value,
            }
        })
        .collect()
}

/// The sanity line of a view that returned `observed` (its function and first output).
pub fn line(e: &Expected, observed: Result<(Function, DynSolValue), String>) -> Line {
    let line = |observed: String, ok: bool| Line {
        check: e.check.clone(),
        expected: format!("{} {}", e.kind, e.value),
        observed,
        difference: String::new(),
        ok,
    };
    match observed {
        Err(err) => line(format!("call failed: {err}"), false),
        Ok((f, got)) => {
            let ty = f.outputs[0].selector_type();
            let want = coerce_arg(&ty, &e.value);
            use std::cmp::Ordering::{Equal, Greater, Less};
            let ok = matches!(
                (want.as_ref().and_then(|w| compare(&got, w)), e.kind),
                (Some(Equal), _) | (Some(Greater), ">=") | (Some(Less), "<=")
            );
            line(shown(&got), ok)
        }
    }
}
