//! The words of the verdict (pure): one line per cause with the figures behind it, and the
//! `help` that says what to do — for every cause but `ok`.

use super::cause::{BlockFigures, Cause, LATE_P99_MS, Load, NodeDown};
use super::rates::Rates;

/// The figures a verdict line quotes.
pub struct Text {
    pub late: f64,
    pub incl: f64,
    pub timeouts: usize,
    pub cores: u32,
    pub all: Rates,
    pub load: Load,
    pub blocks: Option<BlockFigures>,
    pub node_down: Option<NodeDown>,
    pub resigned: u64,
    pub resent: u64,
    pub missing_parts: Vec<String>,
    pub unreported: u64,
    /// Gas used per ok on-chain step (for what full blocks hold).
    pub gas_per_step: Option<f64>,
    /// Steps not sent (an interrupted run).
    pub not_sent: u64,
}

/// What to do about full blocks, with the rate the blocks hold when it is known.
fn blocks_full_help(t: &Text) -> String {
    let b = t.blocks.unwrap_or_default();
    let holds = match (t.gas_per_step, t.load.block_ms) {
        (Some(g), Some(ms)) if g > 0.0 && ms > 0 && b.gas_limit > 0 => format!(
            ": about {:.0} steps/s ({} gas ÷ {g:.0} gas per step ÷ {} blocks)",
            b.gas_limit as f64 / g / (ms as f64 / 1000.0),
            b.gas_limit,
            humantime::format_duration(std::time::Duration::from_millis(ms))
        ),
        _ => " (gas limit ÷ gas per step ÷ block time)".into(),
    };
    format!(
        "raise the block gas limit ([chain].gas_limit for a spawned anvil, the chain's own setting otherwise) or shorten the block time, or lower the rate (--rate-scale) below what the blocks hold{holds}"
    )
}

fn s_at(v: Option<f64>) -> String {
    v.map_or("an unknown time".into(), |s| format!("{s:.1} s"))
}

/// "loadrun kept its schedule (…)" or "LOADRUN FELL BEHIND …".
fn loadrun_part(t: &Text, kept: bool) -> String {
    let cores = t.cores;
    let cpu = t.load.loadrun_cpu_pct.map_or(String::new(), |c| {
        format!(
            ", loadrun CPU {c:.0} % of {cores} core{}",
            if cores == 1 { "" } else { "s" }
        )
    });
    let (late, a) = (t.late, t.all);
    if kept {
        format!(
            "loadrun kept its schedule (sent {:.1}/s of {:.1}/s planned, p99 send lateness {late:.1} ms{cpu})",
            a.achieved, a.target
        )
    } else {
        format!(
            "LOADRUN FELL BEHIND its schedule: it sent {:.1}/s of the {:.1}/s planned (p99 send lateness {late:.0} ms{cpu})",
            a.achieved, a.target
        )
    }
}

fn blocks_time(t: &Text) -> String {
    t.load.block_ms.map_or(String::new(), |ms| {
        format!(
            " with {} blocks",
            humantime::format_duration(std::time::Duration::from_millis(ms))
        )
    })
}

fn blocks_full(t: &Text) -> String {
    let b = t.blocks.unwrap_or_default();
    let fee = match (
        b.base_fee_first_gwei,
        b.base_fee_last_gwei,
        b.base_fee_max_gwei,
    ) {
        (Some(a), Some(z), Some(m)) => {
            format!("; base fee {a:.3} → {z:.3} gwei, peak {m:.3}")
        }
        _ => String::new(),
    };
    let resigned = if t.resigned > 0 {
        format!("; {} transactions re-signed at a higher fee", t.resigned)
    } else {
        String::new()
    };
    let late = if t.timeouts > 0 {
        format!("{} not included within the receipt timeout", t.timeouts)
    } else {
        format!("p99 inclusion {:.0} ms", t.incl)
    };
    format!(
        "BLOCKS WERE FULL: {} of {} blocks used ≥ 90 % of the {} gas limit ({:.0} % of all block gas){fee}{resigned}; the chain carried {:.2} Mgas/s and {late} — the chain's gas limit, not the node's CPU, was the limit",
        b.full_blocks,
        b.blocks,
        b.gas_limit,
        100.0 * b.gas_used_share,
        b.mgas_per_s
    )
}

/// "; blocks came every 2.1 s instead of 1 s" when the node mined late (else nothing).
fn late_blocks(t: &Text) -> String {
    match t.blocks {
        Some(b) if b.late(t.load.block_ms) => format!(
            "; blocks came every {:.1} s instead of {} s",
            b.interval_s,
            t.load.block_ms.unwrap_or(0) as f64 / 1000.0
        ),
        _ => String::new(),
    }
}

/// The verdict line and the help of `cause`.
pub fn describe(cause: Cause, t: &Text) -> (String, Option<String>) {
    let help = match cause {
        Cause::Ok => None,
        Cause::BlocksFull => Some(blocks_full_help(t)),
        other => Some(help_for(other).to_string()),
    };
    (format!("verdict: {}", line(cause, t)), help)
}

/// The verdict line of `cause` (without "verdict: "), with the figures behind it.
fn line(cause: Cause, t: &Text) -> String {
    match cause {
        Cause::Ok => format!(
            "{}; the chain kept up (p99 inclusion {:.0} ms{}, none timed out)",
            loadrun_part(t, true),
            t.incl,
            blocks_time(t)
        ),
        Cause::MergeIncomplete => merge_incomplete(t),
        Cause::NodeDown => node_down(t),
        Cause::LoadrunCpu => format!(
            "{} — loadrun's CPU was the limit: these figures show loadrun's limit, not the chain's",
            loadrun_part(t, false)
        ),
        Cause::NodeRpcSlow => format!(
            "{} — its CPU had room{}, its sends waited for the node's answers: the node's RPC was slow",
            loadrun_part(t, false),
            t.load.node_cpu_peak_pct.map_or(String::new(), |c| format!(
                " (the node's CPU {c:.0} % at its peak)"
            ))
        ),
        Cause::NodeCpu => {
            format!(
                "{}; THE NODE'S CPU SATURATED: {:.0} % at its peak of {} cores{} (p99 inclusion {:.0} ms, {} timed out)",
                loadrun_part(t, t.late <= LATE_P99_MS),
                t.load.node_cpu_peak_pct.unwrap_or(0.0),
                t.load.node_cores.unwrap_or(t.cores),
                if t.load.node_shares_host {
                    format!(
                        ", shared with loadrun's {:.0} %",
                        t.load.loadrun_cpu_pct.unwrap_or(0.0)
                    )
                } else {
                    String::new()
                },
                t.incl,
                t.timeouts
            ) + &late_blocks(t)
        }
        Cause::BlocksFull => format!(
            "{}; {}",
            loadrun_part(t, t.late <= LATE_P99_MS),
            blocks_full(t)
        ),
        Cause::TxStuck => format!(
            "{}; TRANSACTIONS STUCK OR DROPPED by the node: {} sent transactions never got a receipt although blocks had room ({} sent again)",
            loadrun_part(t, true),
            t.timeouts,
            t.resent
        ),
        Cause::ChainSlow => format!(
            "{}; the CHAIN FELL BEHIND (p99 inclusion {:.0} ms{} while blocks had room)",
            loadrun_part(t, true),
            t.incl,
            blocks_time(t)
        ),
        Cause::Interrupted => format!(
            "INTERRUPTED (Ctrl-C): {} of the plan's steps were not sent, so these figures cover only the part that ran (sent {:.1}/s of {:.1}/s planned until then)",
            t.not_sent, t.all.achieved, t.all.target
        ),
        Cause::NodeUnreachable | Cause::SetupFailed => "the run did not start".into(),
    }
}

/// "INCOMPLETE MERGE": which shards' runs are missing and how many steps are in no run.
fn merge_incomplete(t: &Text) -> String {
    format!(
        "INCOMPLETE MERGE: no run of shard{} {} was given: {} of the plan's steps are in no run (not_sent), so these figures cover only part of the plan",
        if t.missing_parts.len() == 1 { "" } else { "s" },
        if t.missing_parts.is_empty() {
            "(a role's run)".to_string()
        } else {
            t.missing_parts.join(", ")
        },
        t.unreported
    )
}

/// "the NODE STOPPED ANSWERING": when, and the steps unsent or unanswered.
fn node_down(t: &Text) -> String {
    let d = t.node_down.unwrap_or_default();
    format!(
        "the NODE STOPPED ANSWERING {} into the run (its last good answer at {}): {} (status node_down)",
        s_at(d.at_s),
        s_at(d.last_answer_s),
        [
            (d.unsent, "steps were never sent"),
            (d.unanswered, "sent steps got no receipt"),
        ]
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, what)| format!("{n} {what}"))
        .collect::<Vec<_>>()
        .join(", ")
    )
}

/// What to do about `cause` (for every cause but `ok`, and full blocks: `blocks_full_help`).
fn help_for(cause: Cause) -> &'static str {
    match cause {
        Cause::Ok | Cause::BlocksFull => "",
        Cause::MergeIncomplete => {
            "run the missing parts (`loadrun run SCENARIO --shard I/N --start-at …` with the same seed) and merge every part's run directory, or merge the directories you forgot to pass"
        }
        Cause::NodeDown => {
            "find out why the node stopped (its log: anvil.log in the run directory for a spawned node; crashed, killed for memory, or stalled?); if it fell over under this load, lower the rate (--rate-scale) to find what it sustains; for an endpoint that recovers slowly, raise [chain].retry_for"
        }
        Cause::LoadrunCpu => {
            "spread the load over more wallets, run loadrun on a bigger machine or on one of its own (not beside the node), or split the plan over several machines (--shard I/N)"
        }
        Cause::NodeRpcSlow => {
            "the node could not answer sends at this rate: give it a machine of its own (not shared with loadrun), or lower the rate (--rate-scale) to find its ceiling"
        }
        Cause::NodeCpu => {
            "the node's CPU is the limit at this rate: give the node more cores or a machine of its own (a spawned anvil shares loadrun's), or lower the rate (--rate-scale); `loadrun capacity` finds the highest rate it sustains"
        }
        Cause::TxStuck => {
            "the node took them but did not include them: look at its pool (txpool_status / txpool_content: `queued` means a nonce gap, `pending` a fee below the base fee) and its log; a node that evicts transactions under load needs a larger pool or a lower rate"
        }
        Cause::ChainSlow => {
            "inclusion took more than 3 block times although blocks had room: the node produced blocks late (see the node's CPU in report.html); give it more CPU or lower the rate"
        }
        Cause::Interrupted => {
            "run it again to the end for figures of the whole plan; a shorter [scenario].duration or --rate-scale gives a quicker run"
        }
        Cause::NodeUnreachable | Cause::SetupFailed => "see the error above",
    }
}
