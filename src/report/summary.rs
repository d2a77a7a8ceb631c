//! `summary.csv`: `metric,kind,value` rows in a fixed order — `all` first, then each step kind
//! the plan has, in plan-kind order — so two runs of one scenario differ only in the values.

use std::io::{Read, Write};

use serde::{Deserialize, Serialize};

use super::num::{format_value, quantile};
use super::rates::Window;
use super::rows::{ERROR_CLASSES, Status};
use super::tally::{Group, Tally};
use super::verdict::{Cause, Events, Load, judge};
pub use crate::model::num::percentile;

/// One row of `summary.csv`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metric {
    pub metric: String,
    /// A step kind (`transfer`, …) or `all`.
    pub kind: String,
    pub value: f64,
}

/// What the summary needs besides the rows.
#[derive(Debug, Clone)]
pub struct RunFacts {
    /// The scenario's duration: the window of `all`.
    pub duration_ms: u64,
    /// Each workload's window, by workload index (`rates::workload_windows`).
    pub windows: Vec<Window>,
    /// Block time and loadrun's CPU, for the verdict.
    pub load: Load,
    /// Measured from the plan's instant 0 to the last result.
    pub wall_ms: f64,
    /// Blocks from the first to the last that held a transaction of the run.
    pub blocks: u64,
    /// Step kinds in the plan, in order (names never depend on outcomes).
    pub kinds: Vec<String>,
    /// RPC attempts repeated after a transient failure, over the whole run (setup included).
    pub rpc_retries: u64,
    /// Transient RPC failures seen (retried, or returned once `retry_for` ran out).
    pub rpc_errors_transient: u64,
    /// Transactions sent again during execution: re-broadcast after the node dropped them, or
    /// re-signed at a higher fee.
    pub resent: u64,
    /// What the verdict needs besides the rows (node down, blocks, missing parts).
    pub events: Events,
}

/// The metrics of a run.
pub fn summarize(t: &Tally, facts: &RunFacts) -> Vec<Metric> {
    let mut out = Vec::new();
    let empty = Group::default();
    let whole = Window {
        start_ms: 0,
        stop_ms: facts.duration_ms,
    };
    let kinds = std::iter::once("all".to_string()).chain(facts.kinds.iter().cloned());
    for kind in kinds {
        let g = t.kind(&kind).unwrap_or(&empty);
        let mut push = |metric: &str, value: f64| {
            out.push(Metric {
                metric: metric.to_string(),
                kind: kind.clone(),
                value,
            })
        };
        push("steps", g.steps as f64);
        for s in Status::ALL {
            push(s.as_str(), g.count(s) as f64);
        }
        let r = if kind == "all" {
            g.rate.rates(whole)
        } else {
            g.rates(whole)
        };
        push("achieved_rate", r.achieved);
        push("target_rate", r.target);
        push("included_rate", r.included);
        for (name, h, max) in [
            ("latency", &g.latency, g.max_latency_ms),
            ("lateness", &g.lateness, g.max_lateness_ms),
        ] {
            for (q, label) in [(0.50, "p50"), (0.90, "p90"), (0.99, "p99")] {
                push(&format!("{label}_{name}_ms"), quantile(h, q));
            }
            push(&format!("max_{name}_ms"), max);
        }
        if kind.starts_with("read") {
            // Reads not ok (failed, timed out, not sent) per read.
            let bad = g.steps.saturating_sub(g.ok());
            push("error_share", bad as f64 / g.steps.max(1) as f64);
        }
        push("gas_used", g.gas_used as f64);
        push("fee_wei", g.fee_wei as f64);
        if kind == "blob" {
            push("blob_gas_used", g.blob_gas_used as f64);
            push("blob_fee_wei", g.blob_fee_wei as f64);
        }
        if kind == "all" {
            for class in ERROR_CLASSES {
                push(&format!("failed_{class}"), t.failed(class) as f64);
            }
            push("wall_s", facts.wall_ms / 1000.0);
            push("blocks", facts.blocks as f64);
            push("rpc_retries", facts.rpc_retries as f64);
            push("rpc_errors_transient", facts.rpc_errors_transient as f64);
            push("resent", facts.resent as f64);
            push("resigned", facts.events.resigned as f64);
            push("reorged", facts.events.reorged as f64);
            let v = judge(t, r, facts.load, &facts.events);
            push("schedule_kept", f64::from(u8::from(v.schedule_kept)));
            push("chain_kept_up", f64::from(u8::from(v.chain_kept_up)));
            push("p99_send_lateness_ms", v.p99_send_lateness_ms);
            push("loadrun_cpu_pct", facts.load.loadrun_cpu_pct.unwrap_or(0.0));
            // The verdict's cause as one boolean row per cause (gate with `cause_ok<1`).
            for c in Cause::ALL {
                push(
                    &format!("cause_{}", c.as_str()),
                    f64::from(u8::from(v.cause == c)),
                );
            }
        }
    }
    out
}

pub fn write_summary<W: Write>(metrics: &[Metric], mut w: W) -> std::io::Result<()> {
    writeln!(w, "metric,kind,value")?;
    for m in metrics {
        writeln!(w, "{},{},{}", m.metric, m.kind, format_value(m.value))?;
    }
    w.flush()
}

pub fn read_summary<R: Read>(r: R) -> csv::Result<Vec<Metric>> {
    csv::Reader::from_reader(r).deserialize().collect()
}

/// `{"all": {"steps": 10, …}, "transfer": {…}}` (keys of each object sorted).
pub fn to_json(metrics: &[Metric]) -> serde_json::Value {
    let mut root = serde_json::Map::new();
    for m in metrics {
        let entry = root
            .entry(m.kind.clone())
            .or_insert_with(|| serde_json::Value::Object(Default::default()));
        if let serde_json::Value::Object(o) = entry {
            let v = if m.value.fract() == 0.0 && m.value.abs() < 9e15 {
                serde_json::json!(m.value as i64)
            } else {
                serde_json::json!(m.value)
            };
            o.insert(m.metric.clone(), v);
        }
    }
    serde_json::Value::Object(root)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::rows::StepRow;

    fn row(kind: &str, status: Status, latency: Option<f64>) -> StepRow {
        StepRow {
            error: if status == Status::Failed {
                "nonce: nonce too low".into()
            } else {
                String::new()
            },
            latency_ms: latency,
            gas_used: Some(21_000),
            fee_wei: Some(5),
            ..StepRow::sample(kind, status)
        }
    }

    #[test]
    fn names_and_order_do_not_depend_on_outcomes() {
        let facts = RunFacts {
            duration_ms: 2_000,
            windows: Vec::new(),
            load: Load::default(),
            wall_ms: 2_100.0,
            blocks: 3,
            kinds: vec!["transfer".into(), "call".into()],
            rpc_retries: 4,
            rpc_errors_transient: 5,
            resent: 1,
            events: Events::default(),
        };
        let a = summarize(
            &Tally::of(&[row("transfer", Status::Ok, Some(10.0))], Vec::new()),
            &facts,
        );
        let b = summarize(
            &Tally::of(
                &[
                    row("transfer", Status::Failed, None),
                    row("transfer", Status::Ok, Some(30.0)),
                ],
                Vec::new(),
            ),
            &facts,
        );
        let names = |m: &[Metric]| {
            m.iter()
                .map(|x| (x.metric.clone(), x.kind.clone()))
                .collect::<Vec<_>>()
        };
        assert_eq!(names(&a), names(&b));
        let get = |m: &[Metric], k: &str, n: &str| {
            m.iter()
                .find(|x| x.kind == k && x.metric == n)
                .map(|x| x.value)
                .unwrap()
        };
        assert_eq!(get(&b, "all", "failed_nonce"), 1.0);
        assert_eq!(get(&b, "transfer", "ok"), 1.0);
        // Two sent (one failed), one included, over the 2-s window.
        assert_eq!(get(&b, "transfer", "achieved_rate"), 1.0);
        assert_eq!(get(&b, "transfer", "target_rate"), 1.0);
        assert_eq!(get(&b, "transfer", "included_rate"), 0.5);
        // HDR, 3 significant digits.
        assert!((get(&b, "transfer", "p99_latency_ms") - 30.0).abs() < 0.03);
        assert_eq!(get(&b, "transfer", "max_latency_ms"), 30.0);
        assert_eq!(get(&b, "call", "steps"), 0.0);
        assert_eq!(get(&b, "all", "fee_wei"), 10.0);
        assert_eq!(get(&b, "all", "rpc_retries"), 4.0);
        assert_eq!(get(&b, "all", "rpc_errors_transient"), 5.0);
        assert_eq!(get(&b, "all", "resent"), 1.0);
        assert_eq!(get(&a, "all", "cause_ok"), 1.0);
        assert_eq!(get(&a, "all", "cause_node_down"), 0.0);
        assert_eq!(get(&b, "transfer", "node_down"), 0.0);
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), 50.0);
        assert_eq!(percentile(&v, 99.0), 99.0);
        assert_eq!(percentile(&v, 100.0), 100.0);
        assert_eq!(percentile(&[], 99.0), 0.0);
        assert_eq!(format_value(3.0), "3");
        assert_eq!(format_value(2.5), "2.5");
        assert_eq!(format_value(1.23456), "1.235");
    }

    #[test]
    fn summary_round_trips_through_csv() {
        let facts = RunFacts {
            duration_ms: 1_000,
            windows: Vec::new(),
            load: Load::default(),
            wall_ms: 1_000.0,
            blocks: 1,
            kinds: vec!["transfer".into()],
            rpc_retries: 0,
            rpc_errors_transient: 0,
            resent: 0,
            events: Events::default(),
        };
        let m = summarize(
            &Tally::of(&[row("transfer", Status::Ok, Some(12.5))], Vec::new()),
            &facts,
        );
        let mut buf = Vec::new();
        write_summary(&m, &mut buf).unwrap();
        let back = read_summary(buf.as_slice()).unwrap();
        assert_eq!(back.len(), m.len());
        assert_eq!(back[0].metric, "steps");
        assert!(
            String::from_utf8(buf)
                .unwrap()
                .contains("max_latency_ms,transfer,12.5")
        );
    }
}
