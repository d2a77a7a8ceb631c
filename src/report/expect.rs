//! `[expect]` thresholds evaluated after a run, pure: each gives a verdict naming the limit and
//! the measured value; any miss makes the run exit 1.

use serde::Serialize;

use super::num::quantile;
use super::rates::Window;
use super::tally::Tally;
use crate::scenario::Expect;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    /// e.g. `expect.max_failed`, `expect.min_rate."2"`.
    pub name: String,
    pub limit: String,
    pub measured: String,
    pub met: bool,
}

/// Evaluates every threshold that is set. `max_failed` counts failed, timed-out and skipped
/// steps (a skipped step is the consequence of a failure), and `not_sent` ones too when a run
/// was cut short.
/// `min_rate` is the workload's included rate (`rates::rates`: ok steps over the time from the
/// first send to the last inclusion, at least the window), so a run whose sends fell behind
/// cannot pass it by finishing late.
pub fn evaluate(e: &Expect, t: &Tally, duration_ms: u64) -> Vec<Verdict> {
    let mut out = Vec::new();
    if let Some(max) = e.max_failed {
        let n = t.all.steps - t.all.ok();
        out.push(Verdict {
            name: "expect.max_failed".into(),
            limit: max.to_string(),
            measured: format!("{n} steps not ok"),
            met: n <= max,
        });
    }
    if let Some(max) = e.max_p99_inclusion_ms {
        let v = quantile(&t.inclusion, 0.99);
        out.push(Verdict {
            name: "expect.max_p99_inclusion".into(),
            limit: format!("{max} ms"),
            measured: format!("{v:.1} ms"),
            met: v <= max as f64,
        });
    }
    if let Some(max) = e.max_p99_lateness_ms {
        let v = quantile(&t.all.lateness, 0.99);
        out.push(Verdict {
            name: "expect.max_p99_lateness".into(),
            limit: format!("{max} ms"),
            measured: format!("{v:.3} ms"),
            met: v <= max as f64,
        });
    }
    for &(w, min) in &e.min_rate {
        let whole = Window {
            start_ms: 0,
            stop_ms: duration_ms,
        };
        let window = t.window(w, whole);
        let rate = t
            .workloads
            .get(w as usize)
            .copied()
            .unwrap_or_default()
            .rates(window)
            .included;
        out.push(Verdict {
            name: format!("expect.min_rate.\"{w}\""),
            limit: format!("{min}/s"),
            measured: format!("{rate:.3}/s"),
            met: rate >= min,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::rows::{Status, StepRow};

    fn row(status: Status, latency: f64, lateness: f64) -> StepRow {
        StepRow {
            step: 0,
            at_ms: 0,
            kind: "transfer".into(),
            workload: 1,
            role: "A".into(),
            wallet: 0,
            job: "tx-000000".into(),
            status,
            error: String::new(),
            sent_ms: Some(lateness),
            lateness_ms: Some(lateness),
            tx_hash: "0xab".into(),
            block: Some(1),
            latency_ms: Some(latency),
            gas_used: Some(21_000),
            fee_wei: Some(1),
            blob_gas_used: None,
            blob_fee_wei: None,
        }
    }

    #[test]
    fn met_and_missed() {
        let rows = vec![
            row(Status::Ok, 900.0, 1.0),
            row(Status::Ok, 1100.0, 2.0),
            row(Status::Failed, 0.0, 60.0),
        ];
        let e = Expect {
            max_failed: Some(0),
            max_p99_inclusion_ms: Some(2000),
            max_p99_lateness_ms: Some(50),
            min_rate: vec![(1, 1.0), (1, 0.5)],
            views: Vec::new(),
        };
        let v = evaluate(&e, &Tally::of(&rows, Vec::new()), 2000);
        let met: Vec<(&str, bool)> = v.iter().map(|x| (x.name.as_str(), x.met)).collect();
        assert_eq!(
            met,
            [
                ("expect.max_failed", false),
                ("expect.max_p99_inclusion", true),
                ("expect.max_p99_lateness", false),
                ("expect.min_rate.\"1\"", true),
                ("expect.min_rate.\"1\"", true),
            ]
        );
        assert_eq!(v[0].measured, "1 steps not ok");
        assert_eq!(v[3].measured, "1.000/s");
        let strict = Expect {
            min_rate: vec![(1, 1.5)],
            views: Vec::new(),
            ..Expect::default()
        };
        assert!(!evaluate(&strict, &Tally::of(&rows, Vec::new()), 2000)[0].met);
    }
}
