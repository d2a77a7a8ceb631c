//! The verdict (pure): what limited or broke a run, as one named `Cause` with the figures behind
//! it and a `help` for every cause but `ok` — whether loadrun kept its schedule (send lateness of
//! the steps that depend on nothing, sends achieved vs planned, its own CPU), whether the node
//! kept answering, whether the chain kept up and why not (full blocks, transactions stuck), and
//! whether a merged run has all its parts — so nobody reports loadrun's limit as the node's.

use serde::{Deserialize, Serialize};

use super::num::quantile;
use super::rates::Rates;
use super::rows::Status;
use super::tally::Tally;

pub use super::cause::*;

/// The verdict and the figures behind it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    /// What happened, by name (see `Cause`).
    #[serde(default)]
    pub cause: Cause,
    pub schedule_kept: bool,
    pub chain_kept_up: bool,
    pub cpu_saturated: bool,
    /// The coarse form of `cause`: "none", "loadrun", "node", "chain", "setup" or "incomplete".
    pub bottleneck: String,
    pub p99_send_lateness_ms: f64,
    pub p99_inclusion_ms: f64,
    pub timeouts: usize,
    /// One line for the terminal and the report.
    pub line: String,
    /// What to do about it: set for every cause but `ok`.
    pub help: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_down: Option<NodeDown>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocks: Option<BlockFigures>,
    #[serde(default)]
    pub resigned: u64,
    /// A merge: the shards no run was given for.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing_parts: Vec<String>,
    /// The node's machine's cores, when known (for "198 % of 2 cores").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_cores: Option<u32>,
}

impl Verdict {
    /// The verdict of a run that failed before its plan ran (exit 3): `cause` and `help` only.
    pub fn setup_failure(cause: Cause, what: &str, help: &str) -> Self {
        Self {
            cause,
            schedule_kept: false,
            chain_kept_up: false,
            cpu_saturated: false,
            bottleneck: cause.bottleneck().into(),
            p99_send_lateness_ms: 0.0,
            p99_inclusion_ms: 0.0,
            timeouts: 0,
            line: format!("verdict: the run did not start: {what}"),
            help: Some(help.into()),
            node_down: None,
            blocks: None,
            resigned: 0,
            missing_parts: Vec::new(),
            node_cores: None,
        }
    }
}

/// The measured figures the decision reads.
struct Figures {
    late: f64,
    incl: f64,
    timeouts: usize,
    cores: u32,
    cpu_saturated: bool,
    node_cpu_saturated: bool,
    /// Blocks came more slowly than the chain's block time.
    blocks_late: bool,
    schedule_kept: bool,
    chain_kept_up: bool,
    blocks: Option<BlockFigures>,
    gas_per_step: Option<f64>,
    not_sent: u64,
}

fn figures(t: &Tally, all: Rates, load: Load, ev: &Events) -> Figures {
    let late = quantile(&t.independent_lateness, 0.99);
    let incl = quantile(&t.inclusion, 0.99);
    let timeouts = t.all.count(Status::Timeout) as usize;
    let cores = load.cores.max(1);
    let cpu_saturated = load
        .loadrun_cpu_pct
        .is_some_and(|c| c >= CPU_SATURATED_SHARE * 100.0 * f64::from(cores));
    let schedule_kept =
        late <= LATE_P99_MS && all.achieved >= ACHIEVED_SHARE * all.target && !cpu_saturated;
    let block_ms = load.block_ms.unwrap_or(1_000).max(1) as f64;
    let chain_kept_up = timeouts == 0 && incl <= BLOCKS_BEHIND * block_ms.max(1_000.0);
    Figures {
        late,
        incl,
        timeouts,
        cores,
        cpu_saturated,
        node_cpu_saturated: load.node_cpu_saturated(),
        blocks_late: BlockFigures::of(&ev.blocks).is_some_and(|b| b.late(load.block_ms)),
        schedule_kept,
        chain_kept_up,
        blocks: BlockFigures::of(&ev.blocks),
        gas_per_step: (t.all.ok() > 0 && t.all.gas_used > 0)
            .then(|| t.all.gas_used as f64 / t.all.ok() as f64),
        not_sent: t.all.count(Status::NotSent),
    }
}

/// The one cause, most fundamental first: missing parts and a dead node make every other figure
/// partial; a saturated loadrun makes the chain's figures loadrun's; full blocks explain lag.
fn decide(f: &Figures, ev: &Events) -> Cause {
    if !ev.missing_parts.is_empty() || ev.unreported > 0 {
        Cause::MergeIncomplete
    } else if ev.node_down.is_some() {
        Cause::NodeDown
    } else if ev.interrupted {
        Cause::Interrupted
    } else if !f.schedule_kept && f.cpu_saturated {
        Cause::LoadrunCpu
    } else if !f.chain_kept_up
        && f.blocks.is_some_and(|b| b.full())
        && !(f.node_cpu_saturated && f.blocks_late)
    {
        Cause::BlocksFull
    } else if (!f.schedule_kept || !f.chain_kept_up) && f.node_cpu_saturated {
        Cause::NodeCpu
    } else if !f.schedule_kept {
        Cause::NodeRpcSlow
    } else if f.timeouts > 0 {
        Cause::TxStuck
    } else if !f.chain_kept_up {
        Cause::ChainSlow
    } else {
        Cause::Ok
    }
}

/// Decides the cause of a run from its tallies and figures.
pub fn judge(t: &Tally, all: Rates, load: Load, ev: &Events) -> Verdict {
    let f = figures(t, all, load, ev);
    let cause = decide(&f, ev);
    let (line, help) = super::verdict_text::describe(cause, &f.text(all, load, ev));
    Verdict {
        cause,
        schedule_kept: f.schedule_kept,
        chain_kept_up: f.chain_kept_up,
        cpu_saturated: f.cpu_saturated,
        bottleneck: cause.bottleneck().to_string(),
        p99_send_lateness_ms: f.late,
        p99_inclusion_ms: f.incl,
        timeouts: f.timeouts,
        line,
        help,
        node_down: ev.node_down,
        blocks: f.blocks,
        resigned: ev.resigned,
        missing_parts: ev.missing_parts.clone(),
        node_cores: load.node_cores,
    }
}

impl Figures {
    fn text(&self, all: Rates, load: Load, ev: &Events) -> super::verdict_text::Text {
        super::verdict_text::Text {
            late: self.late,
            incl: self.incl,
            timeouts: self.timeouts,
            cores: self.cores,
            all,
            load,
            blocks: self.blocks,
            node_down: ev.node_down,
            resigned: ev.resigned,
            resent: ev.resent,
            missing_parts: ev.missing_parts.clone(),
            unreported: ev.unreported,
            gas_per_step: self.gas_per_step,
            not_sent: self.not_sent,
        }
    }
}

#[cfg(test)]
#[path = "verdict_tests.rs"]
mod tests;
