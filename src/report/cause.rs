//! The verdict's vocabulary (pure): the causes a run can end with, what the verdict is told
//! besides the rows (`Load`, `Events`), and the thresholds it judges by.

use serde::{Deserialize, Serialize};

use super::blocks::BlockRow;

/// p99 send lateness above this means loadrun did not keep its schedule.
pub const LATE_P99_MS: f64 = 100.0;
/// Sends below this share of the target mean the same.
pub const ACHIEVED_SHARE: f64 = 0.95;
/// Loadrun's CPU above this share of all cores is saturation.
pub const CPU_SATURATED_SHARE: f64 = 0.90;
/// p99 inclusion latency above this many block times means the chain fell behind.
pub const BLOCKS_BEHIND: f64 = 3.0;
/// A block using at least this share of its gas limit is full.
pub const FULL_BLOCK_SHARE: f64 = 0.90;
/// Blocks were the limit when at least this share of the run's blocks (and 3) were full.
pub const FULL_BLOCKS_SHARE: f64 = 0.20;

/// What the verdict needs besides the rows.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Load {
    /// The chain's block time (spawned anvil's, or the remote chain's recent interval).
    pub block_ms: Option<u64>,
    /// loadrun's CPU while the plan ran, % of one core.
    pub loadrun_cpu_pct: Option<f64>,
    /// The node's peak CPU while the plan ran, % of one core: the spawned node's from /proc, a
    /// remote node's from `[chain].node_metrics` (`None` when unknown).
    pub node_cpu_peak_pct: Option<f64>,
    /// loadrun's machine's cores.
    pub cores: u32,
    /// The node's machine's cores, when known (the spawned node's are loadrun's).
    pub node_cores: Option<u32>,
    /// The node runs on loadrun's machine (a spawned anvil): they share its cores.
    pub node_shares_host: bool,
}

impl Load {
    /// Whether the node's CPU was the limit: its peak at ≥ 90 % of its machine's cores, or — on
    /// a machine shared with loadrun — the two together at ≥ 90 % with the node the larger.
    pub fn node_cpu_saturated(&self) -> bool {
        let (Some(node), Some(cores)) = (self.node_cpu_peak_pct, self.node_cores) else {
            return false;
        };
        let full = CPU_SATURATED_SHARE * 100.0 * f64::from(cores.max(1));
        let own = self.loadrun_cpu_pct.unwrap_or(0.0);
        node >= full || (self.node_shares_host && node + own >= full && node >= own)
    }
}

/// What happened besides the rows: the node going down, the blocks, a merge's missing parts.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Events {
    pub node_down: Option<NodeDown>,
    /// The blocks of the run (`blocks.csv`).
    pub blocks: Vec<BlockRow>,
    /// Transactions re-signed at a higher fee (the base fee outgrew them).
    pub resigned: u64,
    /// Transactions sent again (re-broadcast or re-signed).
    pub resent: u64,
    /// Transactions of the run in blocks a reorg replaced.
    pub reorged: u64,
    /// A merge: the shards no run was given for (`2/3`), and the plan steps no run reported.
    pub missing_parts: Vec<String>,
    pub unreported: u64,
    /// The run was interrupted (Ctrl-C): the steps after it were not sent.
    pub interrupted: bool,
}

/// The cause of a run's outcome, as written in verdict.json (`cause`) and summary.csv.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cause {
    /// loadrun kept its schedule and the chain kept up.
    #[default]
    Ok,
    /// loadrun fell behind its schedule: its own CPU was saturated.
    LoadrunCpu,
    /// loadrun fell behind with CPU to spare: its sends waited for the node's answers.
    NodeRpcSlow,
    /// The chain or the schedule fell behind while the node's CPU was saturated.
    NodeCpu,
    /// The node stopped answering during the run.
    NodeDown,
    /// Nothing answered at the RPC when the run started (a set-up failure).
    NodeUnreachable,
    /// Another set-up failure (funding, deployment, configuration).
    SetupFailed,
    /// Blocks were full: the chain's gas limit was the limit.
    BlocksFull,
    /// Sent transactions never got a receipt while blocks had room.
    TxStuck,
    /// Inclusion lagged while blocks had room and nothing timed out.
    ChainSlow,
    /// A merged run lacks parts: its figures cover only part of the plan.
    MergeIncomplete,
    /// Interrupted (Ctrl-C): its figures cover only the part that ran.
    Interrupted,
}

impl Cause {
    pub const ALL: [Cause; 12] = [
        Self::Ok,
        Self::LoadrunCpu,
        Self::NodeRpcSlow,
        Self::NodeCpu,
        Self::NodeDown,
        Self::NodeUnreachable,
        Self::SetupFailed,
        Self::BlocksFull,
        Self::TxStuck,
        Self::ChainSlow,
        Self::MergeIncomplete,
        Self::Interrupted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::LoadrunCpu => "loadrun_cpu",
            Self::NodeRpcSlow => "node_rpc_slow",
            Self::NodeCpu => "node_cpu",
            Self::NodeDown => "node_down",
            Self::NodeUnreachable => "node_unreachable",
            Self::SetupFailed => "setup_failed",
            Self::BlocksFull => "blocks_full",
            Self::TxStuck => "tx_stuck",
            Self::ChainSlow => "chain_slow",
            Self::MergeIncomplete => "merge_incomplete",
            Self::Interrupted => "interrupted",
        }
    }

    /// The older, coarser `bottleneck` field: none, loadrun, node, chain or incomplete.
    pub fn bottleneck(self) -> &'static str {
        match self {
            Self::Ok => "none",
            Self::LoadrunCpu => "loadrun",
            Self::NodeRpcSlow
            | Self::NodeCpu
            | Self::NodeDown
            | Self::NodeUnreachable
            | Self::TxStuck => "node",
            Self::BlocksFull | Self::ChainSlow => "chain",
            Self::SetupFailed => "setup",
            Self::MergeIncomplete | Self::Interrupted => "incomplete",
        }
    }
}

/// When the node stopped answering, seconds since the plan's start.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct NodeDown {
    /// When loadrun gave up on it (`[chain].retry_for` after the failures began).
    pub at_s: Option<f64>,
    /// Its last good answer.
    pub last_answer_s: Option<f64>,
    /// Steps never sent because of it (status `node_down`).
    pub unsent: u64,
    /// Steps sent that never got a receipt because of it (status `node_down`).
    pub unanswered: u64,
}

/// The blocks of the run in figures (`blocks.csv`).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct BlockFigures {
    pub blocks: u64,
    /// Blocks that used at least `FULL_BLOCK_SHARE` of their gas limit.
    pub full_blocks: u64,
    pub gas_limit: u64,
    /// Gas used over gas available, all blocks of the run.
    pub gas_used_share: f64,
    /// Base fee of the first and the last block, and the highest, gwei (none on legacy chains).
    pub base_fee_first_gwei: Option<f64>,
    pub base_fee_last_gwei: Option<f64>,
    pub base_fee_max_gwei: Option<f64>,
    /// Gas the chain carried per second, millions, from the first block to the last.
    pub mgas_per_s: f64,
    /// The mean time between the blocks as loadrun saw them, s (0 with one block).
    #[serde(default)]
    pub interval_s: f64,
}

impl BlockFigures {
    pub fn of(blocks: &[BlockRow]) -> Option<Self> {
        let (first, last) = (blocks.first()?, blocks.last()?);
        let gas: u64 = blocks.iter().map(|b| b.gas_used).sum();
        let room: u64 = blocks.iter().map(|b| b.gas_limit).sum();
        let full = blocks
            .iter()
            .filter(|b| {
                b.gas_limit > 0 && b.gas_used as f64 >= FULL_BLOCK_SHARE * b.gas_limit as f64
            })
            .count() as u64;
        let gwei = |w: u128| w as f64 / 1e9;
        let span_s = (last.t_s - first.t_s).max(0.0);
        // n blocks span n-1 intervals: the gas of the first block counts from its predecessor.
        let per_block_s = if blocks.len() > 1 {
            span_s / (blocks.len() - 1) as f64
        } else {
            0.0
        };
        let secs = span_s + per_block_s;
        Some(Self {
            blocks: blocks.len() as u64,
            full_blocks: full,
            gas_limit: blocks.iter().map(|b| b.gas_limit).max().unwrap_or(0),
            gas_used_share: if room == 0 {
                0.0
            } else {
                gas as f64 / room as f64
            },
            base_fee_first_gwei: first.base_fee_wei.map(gwei),
            base_fee_last_gwei: last.base_fee_wei.map(gwei),
            base_fee_max_gwei: blocks.iter().filter_map(|b| b.base_fee_wei).max().map(gwei),
            mgas_per_s: if secs > 0.0 {
                gas as f64 / secs / 1e6
            } else {
                0.0
            },
            interval_s: per_block_s,
        })
    }

    /// Whether the blocks came late: their mean interval over 1.5 × `block_ms` (a node short of
    /// CPU mines late, and full late blocks are its limit, not the gas limit's).
    pub fn late(&self, block_ms: Option<u64>) -> bool {
        block_ms.is_some_and(|ms| self.interval_s > 1.5 * ms as f64 / 1000.0)
    }

    /// Whether full blocks were common enough to be the limit.
    pub fn full(&self) -> bool {
        self.full_blocks >= 3 && self.full_blocks as f64 >= FULL_BLOCKS_SHARE * self.blocks as f64
    }
}
