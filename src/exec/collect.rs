//! The collector: turns step results into `steps.csv` rows, appended to the file as they arrive
//! (nothing is lost if the run dies) and not kept, counts them for progress, and at the end
//! fills in the steps that never got a result (timeout, not_sent, or node_down once the node
//! stopped answering), rewrites the file in step
//! order (`order::sort_steps`) and aggregates every row on the way (`Tally`, sanity `Books`).

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use std::sync::mpsc;
use tokio::sync::watch;

use super::msg::{Ctx, Done};
use super::progress;
use crate::model::order::{self, StepSet, Steps};
use crate::model::rows::{self, Status, StepRow};

/// The row of plan step `idx` from its result. Once the node counts as down, a step left
/// unsent or without its receipt is `node_down`, not `not_sent` or `timeout`: that is why.
pub fn row(ctx: &Ctx, d: &Done) -> StepRow {
    let mut r = row_of(&ctx.plan, d);
    if ctx.rpc_stats.is_down() {
        let why = match r.status {
            Status::NotSent => "not sent: the node had stopped answering",
            Status::Timeout => "sent, no receipt: the node stopped answering",
            _ => return r,
        };
        r.status = Status::NodeDown;
        r.error = why.into();
    }
    r
}

/// The row of a step of `plan` from its result (also `loadrun merge`'s rows for steps no part
/// reported).
pub fn row_of(plan: &crate::plan::Plan, d: &Done) -> StepRow {
    let at_ms = f64::from(plan.steps[d.idx].at_ms);
    StepRow {
        sent_ms: d.sent_ms,
        lateness_ms: d.sent_ms.map(|t| t - at_ms),
        tx_hash: d.tx_hash.map(|h| h.to_string()).unwrap_or_default(),
        block: d.block,
        latency_ms: d.latency_ms,
        gas_used: d.gas_used,
        fee_wei: d.fee_wei,
        blob_gas_used: d.blob.map(|b| b.0),
        blob_fee_wei: d.blob.map(|b| b.1),
        ..plan.blank_row(d.idx, d.status, d.error.clone())
    }
}

/// Starts the collector on a thread of its own: formatting and writing rows (a burst of them
/// when a full block is included) never holds up the thread that sends the due steps.
pub fn spawn(
    ctx: Arc<Ctx>,
    rx: mpsc::Receiver<Done>,
    path: PathBuf,
    expected: usize,
    count: watch::Sender<usize>,
) -> std::io::Result<std::thread::JoinHandle<std::io::Result<order::Amended>>> {
    std::thread::Builder::new()
        .name("loadrun-collect".into())
        .spawn(move || run(&ctx, &rx, &path, expected, &count))
}

/// Collects until every sender is gone; `count` publishes how many rows are in. Returns the
/// amended rows.
fn run(
    ctx: &Ctx,
    rx: &mpsc::Receiver<Done>,
    path: &Path,
    expected: usize,
    count: &watch::Sender<usize>,
) -> std::io::Result<order::Amended> {
    let mut have = StepSet::new(ctx.plan.steps.len());
    // Rows that replace a step's first one (after a reorg), applied when steps.csv is put in
    // order; few (the transactions of a few blocks), kept in memory.
    let mut amended = order::Amended::new();
    let mut out = rows::steps_writer(BufWriter::new(File::create(path)?));
    let bar = progress::bar(expected as u64, "steps");
    let (mut n, mut ok, mut failed) = (0usize, 0usize, 0usize);
    let mut flushed = Instant::now();
    // For the progress line: results in the last tick, and the latest latencies.
    let (mut tick_start, mut tick_n) = (Instant::now(), 0usize);
    let mut recent: std::collections::VecDeque<f64> = std::collections::VecDeque::new();
    loop {
        // Flush whenever results pause, so rows never sit in a buffer while the run waits.
        let d = match rx.recv_timeout(std::time::Duration::from_millis(200)) {
            Ok(d) => d,
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let _ = count.send(n);
                out.flush()?;
                flushed = Instant::now();
                continue;
            }
        };
        if !have.insert(d.idx) {
            if d.amend {
                amended.insert(d.idx as u64, row(ctx, &d));
            } else {
                tracing::warn!(step = d.idx, "a second result for a step was ignored");
            }
            continue;
        }
        let r = row(ctx, &d);
        rows::append_step(&mut out, &r).map_err(std::io::Error::other)?;
        super::live::done(&r, ctx.rpc_stats.retries());
        match r.status {
            Status::Ok => ok += 1,
            _ => failed += 1,
        }
        if let Some(l) = r.latency_ms {
            recent.push_back(l);
            if recent.len() > 1000 {
                recent.pop_front();
            }
        }
        n += 1;
        tick_n += 1;
        // Published when all are in, when results pause and at each flush, not per row: each
        // publication wakes the run's thread.
        if n == expected {
            let _ = count.send(n);
        }
        bar.set_position(n as u64);
        if flushed.elapsed().as_millis() >= 200 {
            let _ = count.send(n);
            out.flush()?;
            flushed = Instant::now();
            let secs = tick_start.elapsed().as_secs_f64().max(1e-3);
            let mut sorted: Vec<f64> = recent.iter().copied().collect();
            sorted.sort_by(f64::total_cmp);
            let retries = ctx.rpc_stats.retries();
            let resent = ctx.resent.load(std::sync::atomic::Ordering::Relaxed);
            let mut extra = String::new();
            if retries > 0 {
                extra.push_str(&format!(" · rpc retries {retries}"));
            }
            if resent > 0 {
                extra.push_str(&format!(" · resent {resent}"));
            }
            bar.set_message(format!(
                "ok {ok} not ok {failed} · {:.0}/s · p99 latency {:.0} ms{extra}",
                tick_n as f64 / secs,
                crate::model::num::percentile(&sorted, 99.0)
            ));
            (tick_start, tick_n) = (Instant::now(), 0);
        }
    }
    let _ = count.send(n);
    out.flush()?;
    bar.finish_and_clear();
    Ok(amended)
}

/// The rows of a run whose node stopped answering.
pub struct Aggregates {
    /// `node_down` rows never sent, and sent without an answer.
    pub node_down_unsent: u64,
    pub node_down_unanswered: u64,
}

/// Fills the steps without a result and rewrites `steps.csv` in step order, aggregating every
/// row. `subset` lists the steps this run was to execute (ascending) and `fired` how many of
/// them (in order) were fired.
pub fn finish(
    ctx: &Ctx,
    subset: &Steps,
    fired: usize,
    (path, amended): (&Path, &order::Amended),
    each: &mut dyn FnMut(&StepRow),
) -> std::io::Result<Aggregates> {
    let (mut unsent, mut unanswered) = (0u64, 0u64);
    let down = ctx.rpc_stats.is_down();
    order::sort_steps_amended(
        path,
        subset,
        amended,
        |k, idx| {
            let d = if down {
                let why = if k < fired {
                    "no result: the node stopped answering"
                } else {
                    "not sent: the node had stopped answering"
                };
                Done::new(idx, Status::NodeDown, why)
            } else if k < fired {
                Done::new(idx, Status::Timeout, "no result by the end of the run")
            } else {
                Done::new(
                    idx,
                    Status::NotSent,
                    "the run stopped before this step's time",
                )
            };
            row(ctx, &d)
        },
        |r| {
            if r.status == Status::NodeDown {
                if r.sent_ms.is_some() || !r.tx_hash.is_empty() {
                    unanswered += 1;
                } else {
                    unsent += 1;
                }
            }
            each(r);
        },
    )?;
    Ok(Aggregates {
        node_down_unsent: unsent,
        node_down_unanswered: unanswered,
    })
}
