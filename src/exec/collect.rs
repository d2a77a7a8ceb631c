//! The collector: turns step results into `steps.csv` rows, appended to the file as they arrive
//! (nothing is lost if the run dies), counts them for progress, and at the end fills in the
//! steps that never got a result (timeout or not_sent) and rewrites the file in step order.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::{mpsc, watch};

use super::msg::{Ctx, Done};
use super::progress;
use crate::report::rows::{self, Status, StepRow};

/// The row of plan step `idx` from its result.
pub fn row(ctx: &Ctx, d: &Done) -> StepRow {
    let s = &ctx.plan.steps[d.idx];
    StepRow {
        step: d.idx as u64,
        at_ms: s.at_ms,
        kind: s.kind.as_str().to_string(),
        workload: s.workload,
        role: ctx.plan.roles[usize::from(s.actor.role)].clone(),
        wallet: s.actor.index,
        job: s.job.to_string(),
        status: d.status,
        error: d.error.clone(),
        sent_ms: d.sent_ms,
        lateness_ms: d.sent_ms.map(|t| t - s.at_ms as f64),
        tx_hash: d.tx_hash.map(|h| h.to_string()).unwrap_or_default(),
        block: d.block,
        latency_ms: d.latency_ms,
        gas_used: d.gas_used,
        fee_wei: d.fee_wei,
    }
}

/// Collects until every sender is gone; `count` publishes how many rows are in.
pub async fn run(
    ctx: Arc<Ctx>,
    mut rx: mpsc::UnboundedReceiver<Done>,
    path: PathBuf,
    expected: usize,
    count: watch::Sender<usize>,
) -> std::io::Result<Vec<Option<StepRow>>> {
    let mut rows: Vec<Option<StepRow>> = vec![None; ctx.plan.steps.len()];
    let mut out = rows::steps_writer(BufWriter::new(File::create(&path)?));
    let bar = progress::bar(expected as u64, "steps");
    let (mut n, mut ok, mut failed) = (0usize, 0usize, 0usize);
    let mut flushed = Instant::now();
    // For the progress line: results in the last tick, and the latest latencies.
    let (mut tick_start, mut tick_n) = (Instant::now(), 0usize);
    let mut recent: std::collections::VecDeque<f64> = std::collections::VecDeque::new();
    loop {
        // Flush whenever results pause, so rows never sit in a buffer while the run waits.
        let d = match tokio::time::timeout(std::time::Duration::from_millis(200), rx.recv()).await {
            Ok(Some(d)) => d,
            Ok(None) => break,
            Err(_) => {
                out.flush()?;
                flushed = Instant::now();
                continue;
            }
        };
        if rows[d.idx].is_some() {
            tracing::warn!(step = d.idx, "a second result for a step was ignored");
            continue;
        }
        let r = row(&ctx, &d);
        rows::append_step(&mut out, &r).map_err(std::io::Error::other)?;
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
        rows[d.idx] = Some(r);
        n += 1;
        tick_n += 1;
        let _ = count.send(n);
        bar.set_position(n as u64);
        if flushed.elapsed().as_millis() >= 200 {
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
                crate::report::summary::percentile(&sorted, 99.0)
            ));
            (tick_start, tick_n) = (Instant::now(), 0);
        }
    }
    out.flush()?;
    bar.finish_and_clear();
    Ok(rows)
}

/// Fills the steps without a result and rewrites `steps.csv` in step order. `subset` lists the
/// steps this run was to execute and `fired` how many of them (in order) were fired.
pub fn finish(
    ctx: &Ctx,
    mut rows: Vec<Option<StepRow>>,
    subset: &[usize],
    fired: usize,
    path: &Path,
) -> std::io::Result<Vec<StepRow>> {
    for (k, &idx) in subset.iter().enumerate() {
        if rows[idx].is_none() {
            let d = if k < fired {
                Done::new(idx, Status::Timeout, "no result by the end of the run")
            } else {
                Done::new(
                    idx,
                    Status::NotSent,
                    "the run stopped before this step's time",
                )
            };
            rows[idx] = Some(row(ctx, &d));
        }
    }
    let rows: Vec<StepRow> = rows.into_iter().flatten().collect();
    let tmp = path.with_extension("csv.tmp");
    {
        let mut w = BufWriter::new(File::create(&tmp)?);
        rows::write_steps(&rows, &mut w).map_err(std::io::Error::other)?;
        w.flush()?;
    }
    std::fs::rename(&tmp, path)?;
    Ok(rows)
}
