//! Online aggregation of step results (pure): counters, HDR histograms per step kind and
//! coarse per-second histograms, fed one row at a time, so summary.csv, the `[expect]`
//! verdicts, the bottleneck verdict and the report come from a fixed-size state and never
//! from a list of every row. Its size grows with the number of step kinds, roles, workloads
//! and seconds of the run, not with the number of steps.

use std::collections::BTreeMap;

use super::num::Ms;
use super::rates::{RateAcc, Rates, Window};
use super::rows::{ERROR_CLASSES, Status, StepRow};

/// Kinds whose steps wait on nothing but the clock: their lateness is the scheduler's.
pub fn independent(kind: &str) -> bool {
    matches!(
        kind,
        "transfer"
            | "token_transfer"
            | "call"
            | "read"
            | "create_channel"
            | "create_ledger_channel"
    )
}

fn status_index(s: Status) -> usize {
    Status::ALL.iter().position(|x| *x == s).unwrap_or(0)
}

/// The aggregates of one set of steps (all of them, or one kind).
#[derive(Default)]
pub struct Group {
    pub steps: u64,
    /// Counts by status, in `Status::ALL` order.
    pub status: [u64; Status::ALL.len()],
    pub rate: RateAcc,
    /// Ok steps' latency.
    pub latency: Ms,
    /// Sent steps' lateness.
    pub lateness: Ms,
    pub max_latency_ms: f64,
    pub max_lateness_ms: f64,
    pub gas_used: u64,
    pub fee_wei: u128,
    /// Blob transactions' blob gas and blob fees (part of `fee_wei`).
    pub blob_gas_used: u64,
    pub blob_fee_wei: u128,
    /// The union of the windows of the workloads its steps came from.
    pub window: Option<Window>,
}

impl Group {
    fn add(&mut self, r: &StepRow, window: Option<Window>) {
        self.steps += 1;
        self.status[status_index(r.status)] += 1;
        self.rate.add(r);
        if r.status == Status::Ok
            && let Some(l) = r.latency_ms
        {
            self.latency.record(l);
            self.max_latency_ms = self.max_latency_ms.max(l);
        }
        if let Some(l) = r.lateness_ms {
            self.lateness.record(l);
            self.max_lateness_ms = self.max_lateness_ms.max(l);
        }
        self.gas_used += r.gas_used.unwrap_or(0);
        self.fee_wei += r.fee_wei.unwrap_or(0);
        self.blob_gas_used += r.blob_gas_used.unwrap_or(0);
        self.blob_fee_wei += r.blob_fee_wei.unwrap_or(0);
        if let Some(w) = window {
            self.window = Some(self.window.map_or(w, |x| x.union(w)));
        }
    }

    pub fn count(&self, s: Status) -> u64 {
        self.status[status_index(s)]
    }

    pub fn ok(&self) -> u64 {
        self.count(Status::Ok)
    }

    /// The rates over its window (`fallback` when no step of a known workload was added).
    pub fn rates(&self, fallback: Window) -> Rates {
        self.rate.rates(self.window.unwrap_or(fallback))
    }
}

/// A coarse histogram of milliseconds for one second of the run: buckets 1/8 of a binary
/// order wide (≈ 9 %), stored sparsely — enough for a p50/p99 line in a chart.
#[derive(Debug, Clone, Default)]
pub struct Coarse {
    /// (bucket, count), sorted by bucket.
    buckets: Vec<(u16, u32)>,
    n: u64,
}

impl Coarse {
    const STEPS_PER_OCTAVE: f64 = 8.0;
    /// Bucket 0 is ≤ 2^-10 ms (about 1 µs).
    const OFFSET: f64 = 80.0;

    fn bucket(ms: f64) -> u16 {
        let b = ms.max(1e-6).log2() * Self::STEPS_PER_OCTAVE + Self::OFFSET;
        b.round().clamp(0.0, f64::from(u16::MAX)) as u16
    }

    fn value(b: u16) -> f64 {
        ((f64::from(b) - Self::OFFSET) / Self::STEPS_PER_OCTAVE).exp2()
    }

    pub fn record(&mut self, ms: f64) {
        if !ms.is_finite() {
            return;
        }
        let b = Self::bucket(ms);
        match self.buckets.binary_search_by_key(&b, |x| x.0) {
            Ok(i) => self.buckets[i].1 += 1,
            Err(i) => self.buckets.insert(i, (b, 1)),
        }
        self.n += 1;
    }

    /// The nearest-rank percentile `p` (0..=100), to within a bucket; 0 when empty.
    pub fn percentile(&self, p: f64) -> f64 {
        if self.n == 0 {
            return 0.0;
        }
        let rank = ((p / 100.0) * self.n as f64).ceil().max(1.0) as u64;
        let mut seen = 0u64;
        for &(b, c) in &self.buckets {
            seen += u64::from(c);
            if seen >= rank {
                return Self::value(b);
            }
        }
        self.buckets.last().map_or(0.0, |x| Self::value(x.0))
    }

    pub fn is_empty(&self) -> bool {
        self.n == 0
    }
}

/// One second of the run (by send time).
#[derive(Debug, Clone, Default)]
pub struct Second {
    pub sent: u32,
    /// Transactions included whose inclusion was seen in this second.
    pub included: u32,
    /// Ok steps sent in this second: their latency.
    pub latency: Coarse,
    /// Steps sent in this second: their lateness.
    pub lateness: Coarse,
}

/// The longest run the per-second series covers (a week); later seconds are not charted.
const MAX_SECONDS: usize = 7 * 24 * 3600;

/// Workload indices beyond this (only in a malformed steps.csv) get no rate of their own.
const MAX_WORKLOADS: usize = 1 << 16;

/// Everything the results need from the rows, fed one row at a time.
pub struct Tally {
    windows: Vec<Window>,
    pub all: Group,
    /// By step kind name.
    pub kinds: BTreeMap<String, Group>,
    /// By workload index.
    pub workloads: Vec<RateAcc>,
    /// Ok on-chain steps' inclusion latency.
    pub inclusion: Ms,
    /// Lateness of the steps that wait on nothing but the clock (`independent`).
    pub independent_lateness: Ms,
    /// Failed steps by error class, in `ERROR_CLASSES` order.
    pub error_classes: [u64; ERROR_CLASSES.len()],
    /// Counts by status per (role, kind).
    pub by_role_kind: BTreeMap<(String, String), [u64; Status::ALL.len()]>,
    /// By second since the start.
    pub seconds: Vec<Second>,
    /// By workload: the method of a read workload, whose rows also go to the group
    /// `read:<method>` (per-method latency and errors).
    pub reads: Vec<Option<&'static str>>,
}

/// The per-method group name of a read workload's rows.
pub fn read_kind(method: &str) -> String {
    format!("read:{method}")
}

impl Tally {
    /// `windows`: each workload's window (`rates::workload_windows`).
    pub fn new(windows: Vec<Window>) -> Self {
        Self {
            workloads: vec![RateAcc::default(); windows.len()],
            windows,
            all: Group::default(),
            kinds: BTreeMap::new(),
            inclusion: Ms::default(),
            independent_lateness: Ms::default(),
            error_classes: [0; ERROR_CLASSES.len()],
            by_role_kind: BTreeMap::new(),
            seconds: Vec::new(),
            reads: Vec::new(),
        }
    }

    /// A tally of a run of `s`: its workloads' windows and read methods.
    pub fn for_scenario(s: &crate::scenario::Scenario) -> Self {
        let mut t = Self::new(super::rates::workload_windows(s));
        t.reads = super::rates::read_methods(s);
        t
    }

    /// The per-method groups the read workloads give, in method order (from the scenario,
    /// never from outcomes).
    pub fn read_kinds(&self) -> Vec<String> {
        let mut methods: Vec<&str> = self.reads.iter().flatten().copied().collect();
        methods.sort_unstable();
        methods.dedup();
        methods.into_iter().map(read_kind).collect()
    }

    /// A tally of `rows` (tests and small inputs).
    pub fn of<'a>(rows: impl IntoIterator<Item = &'a StepRow>, windows: Vec<Window>) -> Self {
        let mut t = Self::new(windows);
        for r in rows {
            t.add(r);
        }
        t
    }

    pub fn add(&mut self, r: &StepRow) {
        let window = self.windows.get(r.workload as usize).copied();
        self.all.add(r, window);
        self.group(&r.kind).add(r, window);
        if r.kind == "read"
            && let Some(Some(method)) = self.reads.get(r.workload as usize)
        {
            self.group(&read_kind(method)).add(r, window);
        }
        let w = r.workload as usize;
        if w >= self.workloads.len() && w < MAX_WORKLOADS {
            self.workloads.resize(w + 1, RateAcc::default());
        }
        if let Some(acc) = self.workloads.get_mut(w) {
            acc.add(r);
        }
        if r.status == Status::Ok
            && !r.tx_hash.is_empty()
            && let Some(l) = r.latency_ms
        {
            self.inclusion.record(l);
        }
        if independent(&r.kind)
            && let Some(l) = r.lateness_ms
        {
            self.independent_lateness.record(l);
        }
        if let Some(class) = r.error_class() {
            let i = ERROR_CLASSES
                .iter()
                .position(|c| *c == class)
                .unwrap_or(ERROR_CLASSES.len() - 1);
            self.error_classes[i] += 1;
        }
        let key = (r.role.clone(), r.kind.clone());
        self.by_role_kind.entry(key).or_default()[status_index(r.status)] += 1;
        if let Some(sent) = r.sent_ms {
            let s = self.second(sent);
            if let Some(s) = s {
                s.sent += 1;
                if let Some(l) = r.lateness_ms {
                    s.lateness.record(l);
                }
                if r.status == Status::Ok
                    && let Some(l) = r.latency_ms
                {
                    s.latency.record(l);
                }
            }
            if r.block.is_some()
                && let Some(s) = self.second(sent + r.latency_ms.unwrap_or(0.0))
            {
                s.included += 1;
            }
        }
    }

    fn group(&mut self, kind: &str) -> &mut Group {
        if !self.kinds.contains_key(kind) {
            self.kinds.insert(kind.to_string(), Group::default());
        }
        self.kinds.get_mut(kind).expect("inserted above")
    }

    fn second(&mut self, ms: f64) -> Option<&mut Second> {
        if ms.is_nan() || ms < 0.0 {
            return None;
        }
        let i = (ms / 1000.0) as usize;
        if i >= MAX_SECONDS {
            return None;
        }
        if self.seconds.len() <= i {
            self.seconds.resize_with(i + 1, Second::default);
        }
        self.seconds.get_mut(i)
    }

    /// The group of `kind` (an empty one when no step of it was added).
    pub fn kind(&self, kind: &str) -> Option<&Group> {
        if kind == "all" {
            Some(&self.all)
        } else {
            self.kinds.get(kind)
        }
    }

    /// The window of workload `w` (`fallback` if unknown).
    pub fn window(&self, w: u32, fallback: Window) -> Window {
        self.windows.get(w as usize).copied().unwrap_or(fallback)
    }

    /// Failed steps of error class `class`.
    pub fn failed(&self, class: &str) -> u64 {
        ERROR_CLASSES
            .iter()
            .position(|c| *c == class)
            .map_or(0, |i| self.error_classes[i])
    }

    /// Ok steps of `role` and `kind`.
    pub fn ok_of(&self, role: &str, kind: &str) -> u64 {
        self.by_role_kind
            .get(&(role.to_string(), kind.to_string()))
            .map_or(0, |c| c[0])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coarse_percentiles_are_within_a_bucket() {
        let mut c = Coarse::default();
        for i in 1..=1000 {
            c.record(f64::from(i));
        }
        for (p, exact) in [(50.0, 500.0), (99.0, 990.0)] {
            let got = c.percentile(p);
            assert!((got - exact).abs() / exact < 0.09, "p{p}: {got} vs {exact}");
        }
        assert_eq!(Coarse::default().percentile(99.0), 0.0);
        // A few dozen buckets for three orders of magnitude: the point of being coarse.
        assert!(c.buckets.len() < 90, "{}", c.buckets.len());
    }

    #[test]
    fn counts_are_exact_and_groups_split_by_kind() {
        let mut rows = Vec::new();
        for i in 0..10u64 {
            let mut r = StepRow::sample(
                if i % 2 == 0 { "transfer" } else { "call" },
                if i < 8 { Status::Ok } else { Status::Failed },
            );
            r.step = i;
            r.sent_ms = Some(i as f64 * 300.0);
            r.latency_ms = Some(100.0);
            r.tx_hash = "0x01".into();
            r.block = Some(1);
            if r.status == Status::Failed {
                r.error = "reverted: execution reverted".into();
            }
            rows.push(r);
        }
        let t = Tally::of(
            &rows,
            vec![Window {
                start_ms: 0,
                stop_ms: 3_000,
            }],
        );
        assert_eq!(t.all.steps, 10);
        assert_eq!(t.all.ok(), 8);
        assert_eq!(t.kind("transfer").unwrap().steps, 5);
        assert_eq!(t.failed("reverted"), 2);
        assert_eq!(t.ok_of("A", "call"), 4);
        assert_eq!(t.seconds.iter().map(|s| u64::from(s.sent)).sum::<u64>(), 10);
        assert_eq!(
            t.seconds.iter().map(|s| u64::from(s.included)).sum::<u64>(),
            10
        );
        assert_eq!(t.inclusion.len(), 8);
    }
}
