//! Who was the bottleneck (pure): whether loadrun kept its schedule (send lateness of the steps
//! that depend on nothing, sends achieved vs planned, loadrun's own CPU) and whether the chain
//! kept up (inclusion latency against the block time, transactions never included) — so nobody
//! reports loadrun's limit as the node's.

use serde::{Deserialize, Serialize};

use super::rates::Rates;
use super::rows::Status;
use super::summary::quantile;
use super::tally::Tally;

/// p99 send lateness above this means loadrun did not keep its schedule.
pub const LATE_P99_MS: f64 = 100.0;
/// Sends below this share of the target mean the same.
pub const ACHIEVED_SHARE: f64 = 0.95;
/// Loadrun's CPU above this share of all cores is saturation.
pub const CPU_SATURATED_SHARE: f64 = 0.90;
/// p99 inclusion latency above this many block times means the chain fell behind.
pub const BLOCKS_BEHIND: f64 = 3.0;

/// What the verdict needs besides the rows.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Load {
    /// The chain's block time (spawned anvil's, or the remote chain's recent interval).
    pub block_ms: Option<u64>,
    /// loadrun's CPU while the plan ran, % of one core.
    pub loadrun_cpu_pct: Option<f64>,
    /// The spawned node's peak CPU while the plan ran, % of one core (`None` for a remote node).
    pub node_cpu_peak_pct: Option<f64>,
    pub cores: u32,
}

/// The verdict and the figures behind it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    pub schedule_kept: bool,
    pub chain_kept_up: bool,
    pub cpu_saturated: bool,
    /// What limited the run: "none", "loadrun" (its own CPU), "node" (sends waited for the
    /// node's answers while loadrun's CPU had room) or "chain" (inclusion lagged).
    pub bottleneck: String,
    pub p99_send_lateness_ms: f64,
    pub p99_inclusion_ms: f64,
    pub timeouts: usize,
    /// One line for the terminal and the report.
    pub line: String,
    /// What to do when loadrun was the bottleneck.
    pub help: Option<String>,
}

pub fn judge(t: &Tally, all: Rates, load: Load) -> Verdict {
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
    let cpu = load.loadrun_cpu_pct.map_or(String::new(), |c| {
        format!(
            ", loadrun CPU {c:.0} % of {cores} core{}",
            if cores == 1 { "" } else { "s" }
        )
    });
    let blocks = load.block_ms.map_or(String::new(), |ms| {
        format!(
            " with {} blocks",
            humantime::format_duration(std::time::Duration::from_millis(ms))
        )
    });
    let node_cpu = load.node_cpu_peak_pct.map_or(String::new(), |c| {
        format!(", node CPU {c:.0} % at its peak")
    });
    let loadrun_part = if schedule_kept {
        format!(
            "loadrun kept its schedule (sent {:.1}/s of {:.1}/s planned, p99 send lateness {late:.1} ms{cpu})",
            all.achieved, all.target
        )
    } else if cpu_saturated {
        format!(
            "LOADRUN FELL BEHIND its schedule: it sent {:.1}/s of the {:.1}/s planned (p99 send lateness {late:.0} ms{cpu}) — loadrun's CPU was the limit: these figures show loadrun's limit, not the chain's",
            all.achieved, all.target
        )
    } else {
        format!(
            "LOADRUN FELL BEHIND its schedule: it sent {:.1}/s of the {:.1}/s planned (p99 send lateness {late:.0} ms{cpu}{node_cpu}) — its CPU had room, its sends waited for the node's answers: the node's RPC was the limit",
            all.achieved, all.target
        )
    };
    let chain_part = if chain_kept_up {
        format!("the chain kept up (p99 inclusion {incl:.0} ms{blocks}, none timed out)")
    } else {
        format!(
            "the CHAIN FELL BEHIND (p99 inclusion {incl:.0} ms{blocks}, {timeouts} not included within the receipt timeout)"
        )
    };
    let help = (!schedule_kept).then(|| {
        if cpu_saturated {
            "spread the load over more wallets, run loadrun on a bigger machine or on one of its own (not beside the node), or split the plan over several machines".to_string()
        } else {
            "the node could not answer sends at this rate: give it a machine of its own (not shared with loadrun), or lower the rate to find its ceiling".to_string()
        }
    });
    let bottleneck = if !schedule_kept && cpu_saturated {
        "loadrun"
    } else if !schedule_kept {
        "node"
    } else if !chain_kept_up {
        "chain"
    } else {
        "none"
    }
    .to_string();
    Verdict {
        schedule_kept,
        chain_kept_up,
        cpu_saturated,
        bottleneck,
        p99_send_lateness_ms: late,
        p99_inclusion_ms: incl,
        timeouts,
        line: format!("verdict: {loadrun_part}; {chain_part}"),
        help,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::rows::StepRow;

    fn tally(rows: &[StepRow]) -> Tally {
        Tally::of(rows, Vec::new())
    }

    fn row(kind: &str, lateness: f64, latency: f64, status: Status) -> StepRow {
        StepRow {
            sent_ms: Some(lateness),
            lateness_ms: Some(lateness),
            tx_hash: "0x01".into(),
            block: Some(1),
            latency_ms: Some(latency),
            ..StepRow::sample(kind, status)
        }
    }

    const ON_TARGET: Rates = Rates {
        target: 100.0,
        achieved: 100.0,
        included: 100.0,
        send_span_s: 10.0,
    };
    const LOAD: Load = Load {
        block_ms: Some(1_000),
        loadrun_cpu_pct: Some(20.0),
        node_cpu_peak_pct: None,
        cores: 2,
    };

    #[test]
    fn a_healthy_run_gets_a_clean_verdict() {
        let rows = vec![row("transfer", 2.0, 900.0, Status::Ok); 100];
        let v = judge(&tally(&rows), ON_TARGET, LOAD);
        assert!(
            v.schedule_kept && v.chain_kept_up && v.help.is_none(),
            "{v:?}"
        );
        assert!(v.line.contains("loadrun kept its schedule"), "{}", v.line);
    }

    #[test]
    fn late_sends_name_loadrun_as_the_bottleneck() {
        let rows = vec![row("transfer", 4_300.0, 900.0, Status::Ok); 100];
        let behind = Rates {
            achieved: 60.0,
            ..ON_TARGET
        };
        let v = judge(&tally(&rows), behind, LOAD);
        assert!(!v.schedule_kept && v.chain_kept_up, "{v:?}");
        assert!(v.line.contains("LOADRUN FELL BEHIND"), "{}", v.line);
        // loadrun's CPU had room: the node's answers were what it waited for.
        assert_eq!(v.bottleneck, "node");
        assert!(
            v.line.contains("the node's RPC was the limit"),
            "{}",
            v.line
        );
        assert!(v.help.is_some());
        // Saturated CPU alone is enough.
        let hot = Load {
            loadrun_cpu_pct: Some(190.0),
            ..LOAD
        };
        let rows = vec![row("transfer", 2.0, 900.0, Status::Ok); 100];
        let v = judge(&tally(&rows), ON_TARGET, hot);
        assert!(!v.schedule_kept && v.bottleneck == "loadrun", "{v:?}");
        assert!(v.line.contains("loadrun's CPU was the limit"), "{}", v.line);
    }

    #[test]
    fn slow_inclusion_or_timeouts_name_the_chain() {
        let mut rows = vec![row("transfer", 2.0, 9_000.0, Status::Ok); 100];
        let v = judge(&tally(&rows), ON_TARGET, LOAD);
        assert!(v.schedule_kept && !v.chain_kept_up, "{v:?}");
        rows = vec![row("transfer", 2.0, 900.0, Status::Ok); 100];
        rows.push(row("transfer", 2.0, 0.0, Status::Timeout));
        let v = judge(&tally(&rows), ON_TARGET, LOAD);
        assert!(
            !v.chain_kept_up && v.line.contains("1 not included"),
            "{}",
            v.line
        );
    }

    #[test]
    fn updates_waiting_for_their_channel_do_not_count_as_scheduler_lateness() {
        let mut rows = vec![row("transfer", 2.0, 900.0, Status::Ok); 100];
        rows.extend(vec![row("update_channel", 1_500.0, 20.0, Status::Ok); 50]);
        assert!(judge(&tally(&rows), ON_TARGET, LOAD).schedule_kept);
    }
}
