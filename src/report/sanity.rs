//! The sanity check, pure: from the plan and the step results, the chain state the run must
//! have produced; compared with what the chain shows (read at the edge, before and after the
//! run). Channels by status and funding, ledgers, Adjudicator holdings, and every wallet's ETH
//! and token delta, exactly to the wei (fees from the receipts).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::rows::{Status, StepRow};
use crate::plan::{Plan, StepKind, WalletRef};

pub use crate::model::observed::{Observed, Snapshots};

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
    /// `[[expect.view]]` results (an expectation each: a miss makes the run exit 1).
    #[serde(default)]
    pub views: Vec<Line>,
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

/// What the run must have done to the chain, summed one row at a time (in step order: a
/// channel's create before its close), so no list of rows is kept. Holds one pair of counters
/// per wallet and one entry per open on-chain channel.
#[derive(Debug, Clone, Default)]
pub struct Books {
    eth: Vec<i128>,
    tok: Vec<i128>,
    /// The opener and holding of every on-chain channel still open, from its create.
    opener: HashMap<(u16, crate::plan::JobId), (usize, u128)>,
    direct_open: i128,
    direct_closed: i128,
    ledgers_open: i128,
    ledgers_closed: i128,
    app_created: i128,
    app_closed: i128,
    holdings: i128,
}

impl Books {
    /// Books for `wallets` wallets (the length of `Observed::wallets`).
    pub fn new(wallets: usize) -> Self {
        Self {
            eth: vec![0; wallets],
            tok: vec![0; wallets],
            ..Self::default()
        }
    }

    /// Adds the result of plan step `r.step`; `index` maps a wallet to its position.
    pub fn add(&mut self, plan: &Plan, r: &StepRow, index: impl Fn(WalletRef) -> usize) {
        let Some(s) = plan.steps.get(r.step as usize) else {
            return;
        };
        let me = index(s.actor);
        if let Some(fee) = r.fee_wei {
            self.eth[me] -= fee as i128;
        }
        if r.status != Status::Ok {
            return;
        }
        let amount = s.amount.get() as i128;
        let on_chain_channel = s.ledger.is_none();
        match s.kind {
            StepKind::Transfer => {
                self.eth[me] -= amount;
                if let Some(p) = s.peer {
                    self.eth[index(p)] += amount;
                }
            }
            StepKind::TokenTransfer => {
                self.tok[me] -= amount;
                if let Some(p) = s.peer {
                    self.tok[index(p)] += amount;
                }
            }
            StepKind::Call => self.eth[me] -= amount,
            StepKind::CreateLedgerChannel | StepKind::CreateChannel if on_chain_channel => {
                self.eth[me] -= amount;
                self.holdings += amount;
                self.opener
                    .insert((s.workload, s.job), (me, s.amount.get()));
                if s.kind == StepKind::CreateLedgerChannel {
                    self.ledgers_open += 1;
                } else {
                    self.direct_open += 1;
                }
            }
            StepKind::CloseChannel | StepKind::CloseLedgerChannel if on_chain_channel => {
                if let Some((a, held)) = self.opener.remove(&(s.workload, s.job)) {
                    self.eth[a] += held as i128;
                    self.holdings -= held as i128;
                }
                if s.kind == StepKind::CloseLedgerChannel {
                    self.ledgers_open -= 1;
                    self.ledgers_closed += 1;
                } else {
                    self.direct_open -= 1;
                    self.direct_closed += 1;
                }
            }
            StepKind::CreateChannel => self.app_created += 1,
            StepKind::CloseChannel => self.app_closed += 1,
            _ => {}
        }
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
    let mut books = Books::new(before.wallets.len());
    for r in rows {
        books.add(plan, r, &index);
    }
    compare(plan, &books, labels, (before, after), Scope::default())
}

/// What one process can check when it ran only part of the plan (`--shard`, `--role`): the
/// other processes change shared wallets and the Adjudicator while it reads the chain, so those
/// are left to `loadrun merge`, which checks the union.
#[derive(Debug, Clone, Copy, Default)]
pub struct Scope<'a> {
    /// The plan steps this run executed (ascending); `None`: all of them.
    pub steps: Option<&'a [usize]>,
    /// Per wallet: checked here; `None`: every wallet.
    pub own: Option<&'a [bool]>,
    /// Whether the Adjudicator's counters and holdings are checked.
    pub skip_adjudicator: bool,
}

/// A line of the table this run does not check.
fn unchecked(check: &str) -> Line {
    Line {
        check: check.to_string(),
        expected: "-".into(),
        observed: "-".into(),
        difference: "shared with other shards: checked by `loadrun merge`".into(),
        ok: true,
    }
}

/// Compares the books of a run with the chain.
pub fn compare(
    plan: &Plan,
    books: &Books,
    labels: &[String],
    (before, after): (&Observed, &Observed),
    scope: Scope<'_>,
) -> Sanity {
    let n = before.wallets.len().min(books.eth.len());
    let Books {
        eth,
        tok,
        direct_open,
        direct_closed,
        ledgers_open,
        ledgers_closed,
        app_created,
        app_closed,
        holdings,
        ..
    } = books;
    let (direct_open, direct_closed, ledgers_open, ledgers_closed) =
        (*direct_open, *direct_closed, *ledgers_open, *ledgers_closed);
    let (app_created, app_closed, holdings) = (*app_created, *app_closed, *holdings);
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
        let hit = |s: &crate::plan::Step| s.kind == kind && s.ledger.is_some() == ledger_funded;
        match scope.steps {
            None => plan.steps.iter().filter(|s| hit(s)).count() as i128,
            Some(v) => v.iter().filter(|&&i| hit(&plan.steps[i])).count() as i128,
        }
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
    if scope.skip_adjudicator {
        for l in &mut lines[..5] {
            *l = unchecked(&l.check);
        }
    }
    // Per asset (k = 0 ETH, 1 tokens): name, unit in messages, expected deltas.
    let assets = [("ETH", " wei", eth), ("token", "", tok)];
    let held = |h: &(u128, u128), k: usize| if k == 0 { h.0 } else { h.1 };
    let mut mismatches = Vec::new();
    let mut matching = [0i128; 2];
    let checked = |i: usize| scope.own.is_none_or(|o| o.get(i).copied().unwrap_or(true));
    let n_checked = (0..n).filter(|&i| checked(i)).count();
    for i in (0..n).filter(|&i| checked(i)) {
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
            n_checked as i128,
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
        views: Vec::new(),
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
    if !s.views.is_empty() {
        out.push_str("\n## View expectations (`[[expect.view]]`)\n\n| call | expected | observed | ok |\n|---|---:|---:|:-:|\n");
        for l in &s.views {
            out.push_str(&format!(
                "| {} | {} | {} | {} |\n",
                l.check,
                l.expected,
                l.observed,
                if l.ok { "yes" } else { "**no**" }
            ));
        }
    }
    if !s.wallet_mismatches.is_empty() {
        out.push_str("\n## Wallets that differ\n\n");
        for m in &s.wallet_mismatches {
            out.push_str(&format!("- {m}\n"));
        }
    }
    out
}
