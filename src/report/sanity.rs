//! The sanity check, pure: from the plan and the step results, the chain state the run must
//! have produced; compared with what the chain shows (read at the edge, before and after the
//! run). Channels by status and funding, ledgers, Adjudicator holdings, and every wallet's ETH
//! and token delta, exactly to the wei (fees from the receipts).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::rows::{Status, StepRow};
use crate::plan::{Plan, StepKind, WalletRef};

/// On-chain facts read before and after the run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Observed {
    /// (eth, tokens) of every wallet, in `wallets::all` order.
    pub wallets: Vec<(u128, u128)>,
    pub open_channels: u128,
    pub open_ledgers: u128,
    pub closed_channels: u128,
    pub closed_ledgers: u128,
    pub holdings: u128,
}

/// One line of the sanity table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Line {
    pub check: String,
    pub expected: String,
    pub observed: String,
    pub difference: String,
    pub ok: bool,
}

/// The whole report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sanity {
    pub lines: Vec<Line>,
    /// Wallets whose ETH or token delta differs, e.g. "A:3 ETH expected -0.01 ether …".
    pub wallet_mismatches: Vec<String>,
    pub ok: bool,
}

fn signed(v: i128) -> String {
    if v > 0 {
        format!("+{v}")
    } else {
        v.to_string()
    }
}

/// A line of counts (not changes): shown without a sign.
fn count_line(check: &str, expected: i128, observed: i128) -> Line {
    Line {
        expected: expected.to_string(),
        observed: observed.to_string(),
        ..line(check, expected, observed)
    }
}

fn line(check: &str, expected: i128, observed: i128) -> Line {
    Line {
        check: check.to_string(),
        expected: signed(expected),
        observed: signed(observed),
        difference: signed(observed - expected),
        ok: expected == observed,
    }
}

/// Compares. `index` maps a wallet to its position in `Observed::wallets`; `labels` names them.
pub fn check(
    plan: &Plan,
    rows: &[StepRow],
    index: impl Fn(WalletRef) -> usize,
    labels: &[String],
    before: &Observed,
    after: &Observed,
) -> Sanity {
    let n = before.wallets.len();
    let mut eth = vec![0i128; n];
    let mut tok = vec![0i128; n];
    // The opener and holding of every on-chain channel, from its create.
    let mut opener: HashMap<(u32, crate::plan::JobId), (usize, u128)> = HashMap::new();
    let (mut direct_open, mut direct_closed, mut ledgers_open, mut ledgers_closed) = (0, 0, 0, 0);
    let (mut app_created, mut app_closed) = (0i128, 0i128);
    let mut holdings = 0i128;
    for r in rows {
        let s = &plan.steps[r.step as usize];
        let me = index(s.actor);
        if let Some(fee) = r.fee_wei {
            eth[me] -= fee as i128;
        }
        if r.status != Status::Ok {
            continue;
        }
        let amount = s.amount as i128;
        let on_chain_channel = s.ledger.is_none();
        match s.kind {
            StepKind::Transfer => {
                eth[me] -= amount;
                if let Some(p) = s.peer {
                    eth[index(p)] += amount;
                }
            }
            StepKind::TokenTransfer => {
                tok[me] -= amount;
                if let Some(p) = s.peer {
                    tok[index(p)] += amount;
                }
            }
            StepKind::Call => eth[me] -= amount,
            StepKind::CreateLedgerChannel | StepKind::CreateChannel if on_chain_channel => {
                eth[me] -= amount;
                holdings += amount;
                opener.insert((s.workload, s.job), (me, s.amount));
                if s.kind == StepKind::CreateLedgerChannel {
                    ledgers_open += 1;
                } else {
                    direct_open += 1;
                }
            }
            StepKind::CloseChannel | StepKind::CloseLedgerChannel if on_chain_channel => {
                if let Some(&(a, held)) = opener.get(&(s.workload, s.job)) {
                    eth[a] += held as i128;
                    holdings -= held as i128;
                }
                if s.kind == StepKind::CloseLedgerChannel {
                    ledgers_open -= 1;
                    ledgers_closed += 1;
                } else {
                    direct_open -= 1;
                    direct_closed += 1;
                }
            }
            StepKind::CreateChannel => app_created += 1,
            StepKind::CloseChannel => app_closed += 1,
            _ => {}
        }
    }
    let d = |a: u128, b: u128| b as i128 - a as i128;
    let obs_direct_open = d(
        before.open_channels - before.open_ledgers,
        after.open_channels - after.open_ledgers,
    );
    let obs_direct_closed = d(
        before.closed_channels - before.closed_ledgers,
        after.closed_channels - after.closed_ledgers,
    );
    let planned = |kind: StepKind, ledger_funded: bool| {
        plan.steps
            .iter()
            .filter(|s| s.kind == kind && s.ledger.is_some() == ledger_funded)
            .count() as i128
    };
    let mut lines = vec![
        line(
            "direct channels open (change)",
            direct_open,
            obs_direct_open,
        ),
        line(
            "direct channels closed (change)",
            direct_closed,
            obs_direct_closed,
        ),
        line(
            "ledger channels open (change)",
            ledgers_open,
            d(before.open_ledgers, after.open_ledgers),
        ),
        line(
            "ledger channels closed (change)",
            ledgers_closed,
            d(before.closed_ledgers, after.closed_ledgers),
        ),
        line(
            "adjudicator holdings, wei (change)",
            holdings,
            d(before.holdings, after.holdings),
        ),
        count_line(
            "ledger-funded channels created off chain (plan vs done)",
            planned(StepKind::CreateChannel, true),
            app_created,
        ),
        count_line(
            "ledger-funded channels closed off chain (plan vs done)",
            planned(StepKind::CloseChannel, true),
            app_closed,
        ),
    ];
    // Per asset (k = 0 ETH, 1 tokens): name, unit in messages, expected deltas.
    let assets = [("ETH", " wei", &eth), ("token", "", &tok)];
    let held = |h: &(u128, u128), k: usize| if k == 0 { h.0 } else { h.1 };
    let mut mismatches = Vec::new();
    let mut matching = [0i128; 2];
    for i in 0..n {
        for (k, (asset, unit, expected)) in assets.iter().enumerate() {
            let observed = d(held(&before.wallets[i], k), held(&after.wallets[i], k));
            if observed == expected[i] {
                matching[k] += 1;
            } else {
                mismatches.push(format!(
                    "{}: {asset} delta expected {}{unit}, observed {}{unit} (difference {})",
                    labels[i],
                    signed(expected[i]),
                    signed(observed),
                    signed(observed - expected[i])
                ));
            }
        }
    }
    for (k, (asset, ..)) in assets.iter().enumerate() {
        lines.push(count_line(
            &format!("wallets with the expected {asset} delta"),
            n as i128,
            matching[k],
        ));
    }
    // The off-chain lines compare the plan with what was done: a failed step shows there, but
    // it is a plan miss (see expectations), not a chain inconsistency.
    let ok = lines[..5].iter().all(|l| l.ok) && mismatches.is_empty();
    Sanity {
        lines,
        wallet_mismatches: mismatches,
        ok,
    }
}

/// `sanity.md`: the table and the mismatching wallets.
pub fn markdown(s: &Sanity) -> String {
    let mut out = String::from("# Sanity check: expected (plan + results) vs on chain\n\n");
    out.push_str(if s.ok {
        "Verdict: **ok** — the chain matches the run.\n\n"
    } else {
        "Verdict: **MISMATCH** — the chain does not match the run.\n\n"
    });
    out.push_str("| check | expected | observed | difference | ok |\n|---|---:|---:|---:|:-:|\n");
    for l in &s.lines {
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} |\n",
            l.check,
            l.expected,
            l.observed,
            l.difference,
            if l.ok { "yes" } else { "**no**" }
        ));
    }
    if !s.wallet_mismatches.is_empty() {
        out.push_str("\n## Wallets that differ\n\n");
        for m in &s.wallet_mismatches {
            out.push_str(&format!("- {m}\n"));
        }
    }
    out
}
