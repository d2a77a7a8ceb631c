//! Honest rates (pure): every rate is over the time the work really took. A window is the part
//! of the run a set of steps was scheduled in; `achieved` divides the steps sent by the span
//! from the window's start to the last send, `included` the ok steps by the span from the first
//! send to the last inclusion — each span at least the window, so a run that keeps its schedule
//! reports its target as achieved and one that falls behind reports what it really did.

use crate::scenario::{BlobWorkload, ReadWorkload, Scenario, WorkloadKind};

use super::rows::{Status, StepRow};

/// Where a set of steps was scheduled: `[start_ms, stop_ms)` from the run's start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub start_ms: u64,
    pub stop_ms: u64,
}

impl Window {
    pub fn seconds(self) -> f64 {
        (self.stop_ms.saturating_sub(self.start_ms).max(1)) as f64 / 1000.0
    }

    /// The smallest window holding both.
    pub fn union(self, o: Window) -> Window {
        Window {
            start_ms: self.start_ms.min(o.start_ms),
            stop_ms: self.stop_ms.max(o.stop_ms),
        }
    }
}

/// Each workload's window, by workload index (channel workloads span the whole duration).
pub fn workload_windows(s: &Scenario) -> Vec<Window> {
    let whole = Window {
        start_ms: 0,
        stop_ms: s.duration_ms,
    };
    let n = s.workloads.iter().map(|w| w.index + 1).max().unwrap_or(0);
    let mut out = vec![whole; n];
    for w in &s.workloads {
        out[w.index] = match &w.kind {
            WorkloadKind::Channel(_) => whole,
            WorkloadKind::Transfer(t)
            | WorkloadKind::TokenTransfer(t)
            | WorkloadKind::Blob(BlobWorkload { transfer: t, .. }) => Window {
                start_ms: t.start_ms,
                stop_ms: t.stop_ms,
            },
            WorkloadKind::Call(c) | WorkloadKind::Read(ReadWorkload { call: c, .. }) => Window {
                start_ms: c.start_ms,
                stop_ms: c.stop_ms,
            },
        };
    }
    out
}

/// By workload index: the JSON-RPC method of each read workload.
pub fn read_methods(s: &Scenario) -> Vec<Option<&'static str>> {
    let n = s.workloads.iter().map(|w| w.index + 1).max().unwrap_or(0);
    let mut out = vec![None; n];
    for w in &s.workloads {
        if let WorkloadKind::Read(r) = &w.kind {
            out[w.index] = Some(r.method.as_str());
        }
    }
    out
}

/// The window of `rows`: the union of their workloads' windows (`fallback` if none is known).
pub fn window_of<'a>(
    rows: impl IntoIterator<Item = &'a StepRow>,
    windows: &[Window],
    fallback: Window,
) -> Window {
    rows.into_iter()
        .filter_map(|r| windows.get(r.workload as usize).copied())
        .reduce(Window::union)
        .unwrap_or(fallback)
}

/// Target, achieved and included rate of a set of steps, per second.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Rates {
    /// Steps planned (less those skipped) / the window.
    pub target: f64,
    /// Steps sent / (window start → last send, at least the window).
    pub achieved: f64,
    /// Ok steps / (first send → last inclusion, at least the window).
    pub included: f64,
    /// The send span, seconds.
    pub send_span_s: f64,
}

/// The running sums behind `Rates`, fed one row at a time (online: nothing per row is kept).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct RateAcc {
    planned: u64,
    sent: u64,
    ok: u64,
    first_sent: Option<f64>,
    last_sent: Option<f64>,
    last_done: Option<f64>,
}

impl RateAcc {
    /// Ok steps added.
    pub fn ok(&self) -> u64 {
        self.ok
    }

    pub fn add(&mut self, r: &StepRow) {
        // A step skipped because its channel never opened is the failure's consequence, not
        // a send loadrun owed: it counts in neither the target nor the sends.
        if r.status == Status::Skipped {
            return;
        }
        self.planned += 1;
        if let Some(s) = r.sent_ms {
            self.sent += 1;
            self.last_sent = Some(self.last_sent.map_or(s, |x| x.max(s)));
            self.first_sent = Some(self.first_sent.map_or(s, |x| x.min(s)));
        }
        if r.status == Status::Ok {
            self.ok += 1;
            let done = r.sent_ms.unwrap_or(r.at_ms as f64) + r.latency_ms.unwrap_or(0.0);
            self.last_done = Some(self.last_done.map_or(done, |x| x.max(done)));
        }
    }

    /// The rates over window `w`.
    pub fn rates(&self, w: Window) -> Rates {
        let window_s = w.seconds();
        let start = w.start_ms as f64;
        let last_sent = self.last_sent.map_or(start, |s| s.max(start));
        let last_done = self.last_done.map_or(start, |s| s.max(start));
        let send_span_s = ((last_sent - start) / 1000.0).max(window_s);
        let from = self.first_sent.unwrap_or(start);
        let done_span_s = ((last_done - from) / 1000.0).max(window_s);
        Rates {
            target: self.planned as f64 / window_s,
            achieved: self.sent as f64 / send_span_s,
            included: self.ok as f64 / done_span_s,
            send_span_s,
        }
    }
}

pub fn rates<'a>(rows: impl IntoIterator<Item = &'a StepRow>, w: Window) -> Rates {
    let mut acc = RateAcc::default();
    for r in rows {
        acc.add(r);
    }
    acc.rates(w)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(at: u64, sent: Option<f64>, status: Status, latency: f64) -> StepRow {
        StepRow {
            step: at,
            at_ms: at,
            sent_ms: sent,
            lateness_ms: sent.map(|s| s - at as f64),
            latency_ms: Some(latency),
            ..StepRow::sample("transfer", status)
        }
    }

    const W: Window = Window {
        start_ms: 0,
        stop_ms: 10_000,
    };

    #[test]
    fn a_run_on_schedule_reports_its_target() {
        let rows: Vec<StepRow> = (0..100)
            .map(|i| row(i * 100, Some(i as f64 * 100.0 + 1.0), Status::Ok, 500.0))
            .collect();
        let r = rates(&rows, W);
        assert_eq!(r.target, 10.0);
        assert_eq!(r.achieved, 10.0);
        // First send at 1 ms, last inclusion at 10,401 ms.
        assert_eq!(r.included, 100.0 / 10.4);
    }

    #[test]
    fn late_sends_lower_the_achieved_rate_to_what_really_happened() {
        // 100 steps planned over 10 s, but sent from 0.2 s to 20 s; the last included at 25 s.
        let rows: Vec<StepRow> = (0..100)
            .map(|i| row(i * 100, Some(i as f64 * 200.0 + 200.0), Status::Ok, 5_000.0))
            .collect();
        let r = rates(&rows, W);
        assert_eq!(r.target, 10.0);
        assert_eq!(r.achieved, 100.0 / 20.0);
        assert_eq!(r.included, 100.0 / 24.8);
        assert_eq!(r.send_span_s, 20.0);
    }

    #[test]
    fn unsent_and_failed_steps_count_only_where_they_belong() {
        let rows = vec![
            row(0, Some(1.0), Status::Ok, 10.0),
            row(0, Some(1.0), Status::Failed, 0.0),
            row(0, None, Status::NotSent, 0.0),
            row(0, None, Status::Skipped, 0.0),
        ];
        let r = rates(&rows, W);
        assert!((r.target - 0.3).abs() < 1e-12);
        assert!((r.achieved - 0.2).abs() < 1e-12);
        assert!((r.included - 0.1).abs() < 1e-12);
    }

    #[test]
    fn windows_union_and_default() {
        let a = Window {
            start_ms: 10,
            stop_ms: 20,
        };
        let b = Window {
            start_ms: 5,
            stop_ms: 15,
        };
        assert_eq!(
            a.union(b),
            Window {
                start_ms: 5,
                stop_ms: 20
            }
        );
        assert_eq!(window_of(&[] as &[StepRow], &[a], W), W);
    }
}
