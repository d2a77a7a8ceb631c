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

/// The sanity line of a wallet delegated (`[[delegate]]`) to `target`, from its code on chain
/// (EIP-7702: `0xef0100 ++ target`).
pub fn delegation_line(wallet: &str, target: [u8; 20], code: &[u8]) -> Line {
    let hex = |b: &[u8]| format!("0x{}", alloy::primitives::hex::encode(b));
    let observed = match code {
        [] => "no code".to_string(),
        [0xef, 0x01, 0x00, rest @ ..] if rest.len() == 20 => format!("delegated to {}", hex(rest)),
        other => format!("code {}", hex(other)),
    };
    let expected = format!("delegated to {}", hex(&target));
    Line {
        check: format!("{wallet} code (EIP-7702)"),
        ok: observed == expected,
        difference: if observed == expected {
            "0".into()
        } else {
            "differs".into()
        },
        expected,
        observed,
    }
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
            StepKind::Transfer | StepKind::Blob => {
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
    let mut lines = on_chain_lines(books, before, after);
    if scope.skip_adjudicator {
        for l in &mut lines {
            *l = unchecked(&l.check);
        }
    }
    lines.extend(off_chain_lines(plan, books, scope));
    let wallets = check_wallets(books, labels, (before, after), scope);
    for (k, (asset, _)) in ASSETS.iter().enumerate() {
        lines.push(count_line(
            &format!("wallets with the expected {asset} delta"),
            wallets.checked as i128,
            wallets.matching[k],
        ));
    }
    // The off-chain lines compare the plan with what was done: a failed step shows there, but
    // it is a plan miss (see expectations), not a chain inconsistency.
    let ok = lines[..5].iter().all(|l| l.ok) && wallets.mismatches.is_empty();
    Sanity {
        lines,
        wallet_mismatches: wallets.mismatches,
        ok,
        views: Vec::new(),
    }
}

/// The change of a counter from `before` to `after`.
fn change(before: u128, after: u128) -> i128 {
    after as i128 - before as i128
}

/// The Adjudicator's counters and holdings: the change the books expect vs the chain's.
fn on_chain_lines(books: &Books, before: &Observed, after: &Observed) -> Vec<Line> {
    vec![
        line(
            "direct channels open (change)",
            books.direct_open,
            change(
                before.open_channels - before.open_ledgers,
                after.open_channels - after.open_ledgers,
            ),
        ),
        line(
            "direct channels closed (change)",
            books.direct_closed,
            change(
                before.closed_channels - before.closed_ledgers,
                after.closed_channels - after.closed_ledgers,
            ),
        ),
        line(
            "ledger channels open (change)",
            books.ledgers_open,
            change(before.open_ledgers, after.open_ledgers),
        ),
        line(
            "ledger channels closed (change)",
            books.ledgers_closed,
            change(before.closed_ledgers, after.closed_ledgers),
        ),
        line(
            "adjudicator holdings, wei (change)",
            books.holdings,
            change(before.holdings, after.holdings),
        ),
    ]
}

/// Ledger-funded channels created and closed off chain: the plan's (in scope) vs done.
fn off_chain_lines(plan: &Plan, books: &Books, scope: Scope<'_>) -> [Line; 2] {
    let planned = |kind: StepKind| {
        let hit = |s: &crate::plan::Step| s.kind == kind && s.ledger.is_some();
        match scope.steps {
            None => plan.steps.iter().filter(|s| hit(s)).count() as i128,
            Some(v) => v.iter().filter(|&&i| hit(&plan.steps[i])).count() as i128,
        }
    };
    [
        count_line(
            "ledger-funded channels created off chain (plan vs done)",
            planned(StepKind::CreateChannel),
            books.app_created,
        ),
        count_line(
            "ledger-funded channels closed off chain (plan vs done)",
            planned(StepKind::CloseChannel),
            books.app_closed,
        ),
    ]
}

/// The assets each wallet's delta is checked in (k = 0 ETH, 1 tokens): name, unit in messages.
const ASSETS: [(&str, &str); 2] = [("ETH", " wei"), ("token", "")];

/// The wallets' deltas checked against the books.
struct WalletCheck {
    /// One message per wallet and asset whose delta differs.
    mismatches: Vec<String>,
    /// Per asset: the wallets with the expected delta.
    matching: [i128; 2],
    /// How many wallets this run checks.
    checked: usize,
}

/// Each wallet this run checks (`scope.own`): its ETH and token delta vs the books'.
fn check_wallets(
    books: &Books,
    labels: &[String],
    (before, after): (&Observed, &Observed),
    scope: Scope<'_>,
) -> WalletCheck {
    let n = before.wallets.len().min(books.eth.len());
    let expected = [&books.eth, &books.tok];
    let held = |h: &(u128, u128), k: usize| if k == 0 { h.0 } else { h.1 };
    let own = |i: usize| scope.own.is_none_or(|o| o.get(i).copied().unwrap_or(true));
    let mut out = WalletCheck {
        mismatches: Vec::new(),
        matching: [0; 2],
        checked: (0..n).filter(|&i| own(i)).count(),
    };
    for i in (0..n).filter(|&i| own(i)) {
        for (k, (asset, unit)) in ASSETS.iter().enumerate() {
            let observed = change(held(&before.wallets[i], k), held(&after.wallets[i], k));
            let expected = expected[k][i];
            if observed == expected {
                out.matching[k] += 1;
            } else {
                out.mismatches.push(format!(
                    "{}: {asset} delta expected {}{unit}, observed {}{unit} (difference {})",
                    labels[i],
                    signed(expected),
                    signed(observed),
                    signed(observed - expected)
                ));
            }
        }
    }
    out
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

#[cfg(test)]
mod tests {
    use super::delegation_line;

    #[test]
    fn a_delegated_wallets_code_names_its_target() {
        let target = [0x11u8; 20];
        let mut code = vec![0xef, 0x01, 0x00];
        code.extend_from_slice(&target);
        let l = delegation_line("A:0", target, &code);
        assert!(l.ok, "{l:?}");
        assert_eq!(l.observed, format!("delegated to 0x{}", "11".repeat(20)));
        let mut other = code.clone();
        other[22] = 0x12;
        assert!(!delegation_line("A:0", target, &other).ok);
        let none = delegation_line("A:1", target, &[]);
        assert!(!none.ok);
        assert_eq!(none.observed, "no code");
        assert!(
            delegation_line("A:2", target, &[0x60, 0x80])
                .observed
                .starts_with("code 0x6080")
        );
    }
}
