//! What each wallet will spend executing the plan (values + gas at a fee), to check up front
//! that `[funding]` gives every wallet enough. Pure.

use std::collections::BTreeMap;

use crate::model::gas::GasTable;
use crate::plan::{Plan, StepKind, WalletRef};

/// Planned spending of one wallet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Spend {
    pub eth: u128,
    pub tokens: u128,
}

/// Spending per acting wallet: the value each on-chain step sends plus its gas limit × fee,
/// and a blob transaction's blob gas × its workload's cap in `blob_caps` (by workload index).
pub fn wallet_spend(
    plan: &Plan,
    max_fee_per_gas: u128,
    gas: &GasTable,
    blob_caps: &[u128],
) -> BTreeMap<WalletRef, Spend> {
    let mut out: BTreeMap<WalletRef, Spend> = BTreeMap::new();
    for s in &plan.steps {
        let ledger_funded = s.ledger.is_some();
        let limit = u128::from(gas.step_limit(s.kind, ledger_funded));
        let e = out.entry(s.actor).or_default();
        e.eth += limit * max_fee_per_gas;
        match s.kind {
            StepKind::Transfer | StepKind::Call | StepKind::CreateLedgerChannel => {
                e.eth += s.amount.get()
            }
            StepKind::CreateChannel if !ledger_funded => e.eth += s.amount.get(),
            StepKind::TokenTransfer => e.tokens += s.amount.get(),
            StepKind::Blob => {
                let w = usize::from(s.workload);
                let blobs = plan
                    .args
                    .get(w)
                    .and_then(Option::as_ref)
                    .map_or(0, |a| a.arity());
                let cap = blob_caps.get(w).copied().unwrap_or(0);
                e.eth += s.amount.get()
                    + blobs as u128 * u128::from(crate::scenario::GAS_PER_BLOB) * cap;
            }
            _ => {}
        }
    }
    out
}

/// The wallet that needs the most ETH beyond `eth` per wallet, if any falls short.
pub fn shortest(
    spend: &BTreeMap<WalletRef, Spend>,
    eth: u128,
    tokens: u128,
) -> Option<(WalletRef, Spend)> {
    spend
        .iter()
        .filter(|(_, s)| s.eth > eth || s.tokens > tokens)
        .max_by_key(|(_, s)| (s.eth.saturating_sub(eth), s.tokens.saturating_sub(tokens)))
        .map(|(w, s)| (*w, *s))
}
