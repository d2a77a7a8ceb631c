//! What `loadrun validate` checks beyond the scenario's own rules, without a chain: that
//! `[funding]` covers each wallet's planned values (gas is left out: it needs the chain's fees),
//! and that no `[expect].min_rate` asks for more than its workload is planned to send.

use crate::fund::{shortest, wallet_spend};
use crate::model::gas::GasTable;
use crate::plan::Plan;
use crate::report::rates::workload_windows;
use crate::scenario::units::{format_scaled, format_wei};
use crate::scenario::{Loaded, ScenarioError};

/// Every problem found, located in the file.
pub fn check(loaded: &Loaded, plan: &Plan) -> Vec<ScenarioError> {
    let mut out = Vec::new();
    out.extend(funding_covers_values(loaded, plan));
    out.extend(min_rates_reachable(loaded, plan));
    out
}

fn funding_covers_values(loaded: &Loaded, plan: &Plan) -> Option<ScenarioError> {
    let f = &loaded.scenario.funding;
    // At 0 per gas the spend is the planned values alone.
    let spend = wallet_spend(plan, 0, &GasTable::FALLBACK, &[]);
    let (w, s) = shortest(&spend, f.eth, f.tokens)?;
    let role = &plan.roles[usize::from(w.role)];
    let key = if s.eth > f.eth { "eth" } else { "tokens" };
    let (need, has) = if key == "eth" {
        (format_wei(s.eth), format_wei(f.eth))
    } else {
        (format_scaled(s.tokens, 18), format_scaled(f.tokens, 18))
    };
    Some(loaded.locate_key(
        &["funding", key],
        format!(
            "does not cover the plan: wallet {role}:{} sends {need} in values alone, but each wallet gets {has}",
            w.index
        ),
        format!("raise [funding].{key} above \"{need}\" (and leave room for gas), or lower the amounts or rates that wallet sends"),
    ))
}

fn min_rates_reachable(loaded: &Loaded, plan: &Plan) -> Vec<ScenarioError> {
    let windows = workload_windows(&loaded.scenario);
    let mut steps = vec![0u64; windows.len()];
    for s in &plan.steps {
        if let Some(n) = steps.get_mut(usize::from(s.workload)) {
            *n += 1;
        }
    }
    let mut out = Vec::new();
    for &(w, min) in &loaded.scenario.expect.min_rate {
        let Some(window) = windows.get(w as usize) else {
            continue;
        };
        let target = steps[w as usize] as f64 / window.seconds();
        // A little slack: the plan's count is rounded.
        if min > target * 1.001 + 1e-9 {
            let key = w.to_string();
            out.push(loaded.locate_key(
                &["expect", "min_rate", &key],
                format!(
                    "{min}/s is above what workload {w} is planned to send ({target:.2}/s: {} steps over {:.1} s): it can never be met",
                    steps[w as usize],
                    window.seconds()
                ),
                format!("lower min_rate.\"{w}\" to at most {target:.2}, or raise the workload's rate"),
            ));
        }
    }
    out
}
