//! What the chain held before and after a run (`observed.json`): the facts the sanity check
//! compares with what the rows say happened.

use serde::{Deserialize, Serialize};

/// On-chain facts read before and after the run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Observed {
    /// (eth, tokens) of every wallet, in `wallets::all` order.
    pub wallets: Vec<(u128, u128)>,
    pub open_channels: u128,
    pub open_ledgers: u128,
    pub closed_channels: u128,
    pub closed_ledgers: u128,
    pub holdings: u128,
}

/// `observed.json`: the chain read before and after a run, each with the block number read
/// just before it. `loadrun merge` checks the union of shards against the earliest `before`
/// and the latest `after`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshots {
    pub before_block: Option<u64>,
    pub before: Observed,
    pub after_block: Option<u64>,
    pub after: Observed,
}
