//! Capacity (pure): the search for the highest rate scale a node sustains within the SLO —
//! geometric steps up until a step fails, then bisection between the last pass and the first
//! failure down to a precision — each step judged from its run's figures, and the answer in
//! words: what the node sustains and what stopped it at the next step.

use serde::{Deserialize, Serialize};

use crate::scenario::Capacity;

/// One step of the search: the run at one rate scale, in figures (a row of capacity.csv).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepFigures {
    /// 1-based, in the order the steps ran.
    pub step: u32,
    pub scale: f64,
    /// Planned, sent and included transactions per second over the plan's window.
    pub target_rate: f64,
    pub achieved_rate: f64,
    pub included_rate: f64,
    /// What the SLO's `min_included` reads: the included rate with the run's natural tail (the
    /// last transactions land up to a block after the last send) taken out, over the target —
    /// 1.0 for a chain that keeps up, however short the step; lower when a backlog builds.
    pub included_share: f64,
    pub p50_inclusion_ms: f64,
    pub p99_inclusion_ms: f64,
    /// Steps that did not end `ok`, as a share of the plan's steps.
    pub failed_share: f64,
    /// The run's verdict cause (verdict.json).
    pub cause: String,
    /// Share of the step's blocks that used ≥ 90 % of their gas limit (verdict.json).
    pub full_blocks_share: f64,
    /// Whether the step met the SLO.
    pub pass: bool,
    /// The node's peak CPU (% of one core) and peak RSS (MB), when loadrun could read them.
    pub node_cpu_peak_pct: Option<f64>,
    /// The node's machine's cores, when known (a spawned node's are loadrun's).
    pub node_cores: Option<u32>,
    pub node_rss_peak_mb: Option<f64>,
    /// The step's run directory, relative to the capacity directory.
    pub dir: String,
}

impl StepFigures {
    /// Whether the step missed the SLO on the node's or the chain's account: not a pass, and
    /// neither loadrun's own limit nor a step cut short.
    pub fn missed_slo(&self) -> bool {
        !self.pass
            && !matches!(
                self.cause.as_str(),
                "loadrun_cpu" | "interrupted" | "merge_incomplete"
            )
    }

    /// The rate the step sustained: its target times its included share.
    pub fn sustained_rate(&self) -> f64 {
        self.target_rate * self.included_share
    }
}

/// A scale as written in step names and lines: up to 4 significant digits.
pub fn scale_text(x: f64) -> String {
    let digits = (3 - x.abs().max(1e-9).log10().floor() as i32).max(0) as usize;
    let s = format!("{x:.digits$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// What a step's figures say about the search.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Within the SLO: the node sustains this scale.
    Pass,
    /// Outside the SLO because of the node or the chain.
    Fail,
    /// loadrun itself could not keep the schedule (its CPU): the node's limit is above what
    /// this machine can offer, and the search stops rather than blame the node.
    LoadrunBound,
    /// Interrupted or otherwise incomplete: the search stops with what it found.
    Incomplete,
}

/// Judges a step against the SLO: the outcome and, when it is not a pass, why (one phrase per
/// miss, in the terms of the `[capacity]` keys).
pub fn judge(f: &StepFigures, slo: &Capacity) -> (Outcome, Vec<String>) {
    match f.cause.as_str() {
        "loadrun_cpu" => {
            return (
                Outcome::LoadrunBound,
                vec!["loadrun's own CPU saturated before the node's limit".into()],
            );
        }
        "interrupted" | "merge_incomplete" => {
            return (
                Outcome::Incomplete,
                vec![format!("the step ended {}", f.cause)],
            );
        }
        _ => {}
    }
    let mut why = Vec::new();
    if f.p99_inclusion_ms > slo.max_p99_inclusion_ms as f64 {
        why.push(format!(
            "p99 inclusion {} > max_p99_inclusion {}",
            seconds(f.p99_inclusion_ms),
            seconds(slo.max_p99_inclusion_ms as f64)
        ));
    }
    if f.failed_share > slo.max_failed {
        why.push(format!(
            "{:.1} % of steps not ok > max_failed {:.1} %",
            100.0 * f.failed_share,
            100.0 * slo.max_failed
        ));
    }
    if f.included_share < slo.min_included {
        why.push(format!(
            "included {:.0} % of the target {}/s < min_included {:.0} %",
            100.0 * f.included_share,
            rate(f.target_rate),
            100.0 * slo.min_included
        ));
    }
    if f.cause == "node_down" {
        why.push("the node went down".into());
    }
    let outcome = if why.is_empty() {
        Outcome::Pass
    } else {
        Outcome::Fail
    };
    (outcome, why)
}

/// Why the search stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// The last pass and the first failure are within `precision` of each other.
    Precise,
    /// `max_scale` passed: the node sustains at least that.
    MaxScale,
    /// Not even the smallest scale tried passed.
    NothingPasses,
    /// loadrun's own limit came first.
    LoadrunBound,
    /// A step was interrupted or incomplete.
    Incomplete,
}

/// The search's state: the highest scale that passed and the lowest that failed.
#[derive(Debug, Clone)]
pub struct Search {
    start: f64,
    max: f64,
    growth: f64,
    precision: f64,
    /// The lowest scale the search goes down to when even `start` fails.
    floor: f64,
    pub pass: Option<f64>,
    pub fail: Option<f64>,
    stopped: Option<Stop>,
}

impl Search {
    pub fn new(c: &Capacity) -> Self {
        Self {
            start: c.start_scale,
            max: c.max_scale,
            growth: c.growth,
            precision: c.precision,
            floor: c.start_scale / c.growth.powi(4),
            pass: None,
            fail: None,
            stopped: None,
        }
    }

    /// The scale to run next, or `None` when the search is over (`stop` says why).
    pub fn next(&self) -> Option<f64> {
        if self.stopped.is_some() {
            return None;
        }
        match (self.pass, self.fail) {
            (None, None) => Some(self.start),
            (Some(p), None) if p >= self.max => None,
            (Some(p), None) => Some((p * self.growth).min(self.max)),
            (None, Some(f)) => (f / self.growth >= self.floor * 0.999).then_some(f / self.growth),
            (Some(p), Some(f)) if f / p - 1.0 <= self.precision => None,
            // Bisection, rounded so the scales read well in a table (unless rounding would
            // land on a scale already run).
            (Some(p), Some(f)) => {
                let mid = round_scale((p + f) / 2.0);
                Some(if mid > p && mid < f {
                    mid
                } else {
                    (p + f) / 2.0
                })
            }
        }
    }

    /// Records what the step at `scale` came to.
    pub fn record(&mut self, scale: f64, outcome: Outcome) {
        match outcome {
            Outcome::Pass => self.pass = Some(self.pass.map_or(scale, |p| p.max(scale))),
            Outcome::Fail => self.fail = Some(self.fail.map_or(scale, |f| f.min(scale))),
            Outcome::LoadrunBound => self.stopped = Some(Stop::LoadrunBound),
            Outcome::Incomplete => self.stopped = Some(Stop::Incomplete),
        }
    }

    /// Why the search is over (`None` while it goes on).
    pub fn stop(&self) -> Option<Stop> {
        if let Some(s) = self.stopped {
            return Some(s);
        }
        self.next()
            .is_none()
            .then_some(match (self.pass, self.fail) {
                (Some(_), None) => Stop::MaxScale,
                (None, _) => Stop::NothingPasses,
                (Some(_), Some(_)) => Stop::Precise,
            })
    }
}

/// `x` to 3 significant digits (bisection points that read well).
fn round_scale(x: f64) -> f64 {
    if x <= 0.0 || !x.is_finite() {
        return x;
    }
    let mag = 10f64.powf(x.log10().floor() - 2.0);
    (x / mag).round() * mag
}

/// The answer: the best passing step, the first failing step above it, and why the search
/// stopped.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer<'a> {
    pub best: Option<&'a StepFigures>,
    /// The lowest failing step above `best`: the knee.
    pub knee: Option<&'a StepFigures>,
    pub stop: Stop,
}

/// `included_share` of a step: its `ok` steps over the span from the first send to the last
/// inclusion less one block (`block_s`: the tail a chain that keeps up still has), never less
/// than the plan's window (`planned` steps at `target_rate`), as a share of the target rate.
pub fn included_share(
    ok: f64,
    planned: f64,
    included_rate: f64,
    target_rate: f64,
    block_s: f64,
) -> f64 {
    if target_rate <= 0.0 || included_rate <= 0.0 || planned <= 0.0 {
        return 0.0;
    }
    let window_s = planned / target_rate;
    let span_s = ok / included_rate;
    let sustained = ok / (span_s - block_s).max(window_s);
    (sustained / target_rate).min(1.0)
}

/// Picks the answer out of the steps run.
pub fn answer(steps: &[StepFigures], stop: Stop) -> Answer<'_> {
    // The best is what the node sustained most of, not the highest scale that passed: a pass
    // at a higher target with fewer included can sustain less.
    let best = steps
        .iter()
        .filter(|s| s.pass)
        .max_by(|a, b| a.sustained_rate().total_cmp(&b.sustained_rate()));
    let top_pass = steps
        .iter()
        .filter(|s| s.pass)
        .map(|s| s.scale)
        .fold(None, |m: Option<f64>, x| Some(m.map_or(x, |m| m.max(x))));
    // The knee: the lowest step above every pass that missed the SLO on the node's or the
    // chain's account (not one loadrun could not drive, nor one cut short).
    let knee = steps
        .iter()
        .filter(|s| s.missed_slo() && top_pass.is_none_or(|p| s.scale > p))
        .min_by(|a, b| a.scale.total_cmp(&b.scale));
    Answer { best, knee, stop }
}

/// What limited the node at the knee, from the knee step's verdict cause and figures.
pub fn limit(knee: &StepFigures, why: &[String]) -> String {
    let cpu = |c: f64| match knee.node_cores {
        Some(n) => format!("{c:.0} % of {n} cores"),
        None => format!("{c:.0} % at its peak"),
    };
    let side = match knee.cause.as_str() {
        "node_cpu" => format!(
            "the node's CPU saturated: {}",
            knee.node_cpu_peak_pct.map_or("at its cores".into(), cpu)
        ),
        "node_rpc_slow" => "the node's RPC answered too slowly to keep the schedule".into(),
        "blocks_full" => "blocks were full (the gas limit)".into(),
        "tx_stuck" => "transactions stayed in the mempool without a receipt".into(),
        "chain_slow" => "inclusion lagged with room in the blocks".into(),
        "node_down" => "the node went down".into(),
        "loadrun_cpu" => "loadrun's own CPU saturated (not the node's limit)".into(),
        _ => String::new(),
    };
    let mut parts: Vec<String> = Vec::new();
    if !side.is_empty() {
        parts.push(side);
    }
    // The verdict may still call the chain on time (within 3 blocks) while blocks were full:
    // at the knee, full blocks are the side that limits.
    if knee.cause != "blocks_full"
        && knee.full_blocks_share >= crate::report::cause::FULL_BLOCKS_SHARE
    {
        parts.push(format!(
            "blocks were full ({:.0} % of them at ≥ 90 % of the gas limit)",
            100.0 * knee.full_blocks_share
        ));
    }
    parts.extend(why.iter().cloned());
    if let (Some(c), false) = (knee.node_cpu_peak_pct, knee.cause == "node_cpu") {
        parts.push(format!("node CPU peak {}", cpu(c)));
    }
    parts.join("; ")
}

/// The terminal's answer, e.g. "capacity: sustains 4,180 tx/s included (scale 4.18, p99
/// inclusion 1.2 s); at 4,400 tx/s (scale 4.4): the node's CPU saturated: 198 % of 2 cores".
pub fn describe(a: &Answer<'_>, knee_why: &str) -> String {
    let best = match a.best {
        Some(b) => format!(
            "sustains {} tx/s (scale {}, target {}/s, p99 inclusion {})",
            rate(b.sustained_rate()),
            scale_text(b.scale),
            rate(b.target_rate),
            seconds(b.p99_inclusion_ms)
        ),
        None => "no step met the SLO".into(),
    };
    let after = match (a.knee, a.stop) {
        (Some(k), _) => format!(
            "; at {} tx/s offered (scale {}): {knee_why}",
            rate(k.target_rate),
            scale_text(k.scale)
        ),
        (None, Stop::MaxScale) => "; max_scale reached: raise [capacity].max_scale to look higher".into(),
        (None, Stop::LoadrunBound) => "; then loadrun's own CPU saturated: the node's limit is higher than this machine can offer (use shards on more machines)".into(),
        (None, Stop::Incomplete) => "; the search was interrupted".into(),
        (None, _) => String::new(),
    };
    format!("capacity: {best}{after}")
}

/// A capacity search in summary rows (kind `all`) for `loadrun diff`: the found rate and
/// scale, p99 inclusion at the found rate, the knee's offered rate and p99, and the steps run
/// (0 where there is no such step) — so `--fail-on 'found_rate<-10%'` gates a release.
pub fn metrics(steps: &[StepFigures]) -> Vec<crate::report::summary::Metric> {
    let a = answer(steps, Stop::Precise);
    let rows = [
        ("found_rate", a.best.map_or(0.0, |b| b.sustained_rate())),
        ("found_scale", a.best.map_or(0.0, |b| b.scale)),
        (
            "found_p99_inclusion_ms",
            a.best.map_or(0.0, |b| b.p99_inclusion_ms),
        ),
        ("knee_rate", a.knee.map_or(0.0, |k| k.target_rate)),
        (
            "knee_p99_inclusion_ms",
            a.knee.map_or(0.0, |k| k.p99_inclusion_ms),
        ),
        ("capacity_steps", steps.len() as f64),
    ];
    rows.iter()
        .map(|(m, v)| crate::report::summary::Metric {
            metric: m.to_string(),
            kind: "all".into(),
            value: *v,
        })
        .collect()
}

/// The columns of capacity.csv.
pub const CSV_HEADER: &str = "step,scale,target_rate,achieved_rate,included_rate,included_share,p50_inclusion_ms,p99_inclusion_ms,failed_share,cause,full_blocks_share,pass,node_cpu_peak_pct,node_cores,node_rss_peak_mb,dir";

/// Writes capacity.csv.
pub fn write_csv<W: std::io::Write>(steps: &[StepFigures], w: W) -> csv::Result<()> {
    let mut out = csv::Writer::from_writer(w);
    for s in steps {
        out.serialize(s)?;
    }
    out.flush()?;
    Ok(())
}

/// Reads capacity.csv.
pub fn read_csv<R: std::io::Read>(r: R) -> csv::Result<Vec<StepFigures>> {
    csv::Reader::from_reader(r).deserialize().collect()
}

/// A rate with thousands separators and no decimals above 100/s.
pub fn rate(r: f64) -> String {
    if r >= 100.0 {
        let n = r.round() as u64;
        let s = n.to_string();
        let mut out = String::new();
        for (i, c) in s.chars().enumerate() {
            if i > 0 && (s.len() - i) % 3 == 0 {
                out.push(',');
            }
            out.push(c);
        }
        out
    } else {
        format!("{r:.1}")
    }
}

fn seconds(ms: f64) -> String {
    format!("{:.2} s", ms / 1000.0)
}

#[cfg(test)]
#[path = "capacity_tests.rs"]
mod tests;
