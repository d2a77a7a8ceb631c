//! `loadrun capacity SCENARIO`: the scenario's plan run at increasing rate scales on one chain,
//! each step a full run in its own directory, searched (report/capacity.rs) for the highest
//! scale within the `[capacity]` SLO; capacity.csv after every step, the answer on the terminal
//! and in capacity.html, and the `min_rate` gate as the exit code.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::chain::{ChainArgs, install_interrupt, runtime};
use super::log::say;
use super::run::{Reused, RunArgs, run_on};
use crate::error::{Error, ExitCode};
use crate::model::node;
use crate::pipeline::Planned;
use crate::pipeline::names::run_id;
use crate::report::capacity::{self, Outcome, Search, StepFigures, Stop};
use crate::report::summary;
use crate::report::verdict::Verdict;
use crate::scenario::{self, Capacity};

#[derive(Debug, clap::Args)]
pub struct CapacityArgs {
    /// The scenario, seed and chain (as for `run`); --rate-scale multiplies every step's scale.
    #[command(flatten)]
    pub chain: ChainArgs,
    /// Write the search to DIR instead of results/<name>/capacity-<run-id>/.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Exit 1 when the capacity found (included transactions per second) is below this
    /// (overrides [capacity].min_rate).
    #[arg(long, value_name = "TX_PER_S")]
    pub expect_min_rate: Option<f64>,
    /// A sent transaction without a receipt after this long is a `timeout` (each step).
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub receipt_timeout: Duration,
    /// Keep the spawned anvil's full log in anvil.log (see `run --node-log`).
    #[arg(long)]
    pub node_log: bool,
}

/// What the search came to, for the terminal, the files and the exit code.
struct Searched {
    steps: Vec<StepFigures>,
    /// Why each step missed the SLO (empty for a pass).
    why: Vec<Vec<String>>,
    stop: Stop,
    /// Ctrl-C ended the search.
    interrupted: bool,
}

pub fn capacity_cmd(args: &CapacityArgs) -> Result<u8, Error> {
    let c = &args.chain;
    let loaded = scenario::load_scaled(&c.scenario, c.limits.max_steps, c.rate_scale)?;
    let slo = loaded.scenario.capacity.clone();
    let min_rate = args.expect_min_rate.or(slo.min_rate);
    let seed = c.seed.unwrap_or(loaded.scenario.seed);
    let name = loaded.scenario.name.clone();
    let dir = match &args.out {
        Some(d) => d.clone(),
        None => crate::pipeline::names::unique_dir(
            &Path::new("results")
                .join(&name)
                .join(format!("capacity-{}", run_id(SystemTime::now(), seed))),
        ),
    };
    std::fs::create_dir_all(&dir).map_err(|source| Error::Write {
        path: dir.display().to_string(),
        source,
    })?;
    let _ = std::fs::remove_file(dir.join("capacity.csv"));
    say!(
        "capacity: {name}, scales {}…{} (×{} up, then bisection to {:.0} %); SLO p99 inclusion ≤ {} ms, not ok ≤ {:.1} %, included ≥ {:.0} % of target",
        slo.start_scale,
        slo.max_scale,
        slo.growth,
        100.0 * slo.precision,
        slo.max_p99_inclusion_ms,
        100.0 * slo.max_failed,
        100.0 * slo.min_included
    );
    log_to(&dir);
    let rt = runtime()?;
    let searched = rt.block_on(async {
        let interrupt = install_interrupt()?;
        search(args, &slo, seed, &dir, &interrupt).await
    })?;
    conclude(&searched, &slo, min_rate, &dir)
}

/// Runs the steps the search asks for, on one chain, until it is over.
async fn search(
    args: &CapacityArgs,
    slo: &Capacity,
    seed: u64,
    dir: &Path,
    interrupt: &crate::exec::interrupt::Interrupt,
) -> Result<Searched, Error> {
    // One chain for the whole search, its blocks sized for the largest scale it may reach.
    let planned = Planned::new(
        scenario::load_capacity_step(
            &args.chain.scenario,
            args.chain.limits.max_steps,
            args.chain.rate_scale * slo.start_scale,
        )?,
        seed,
    )?;
    let rpc = args.chain.rpc.as_deref();
    let mut cfg = planned.chain_config(rpc, args.node_log, slo.max_scale / slo.start_scale);
    args.chain.apply(&mut cfg)?;
    let chain = tokio::select! {
        c = crate::chain::connect(&cfg, rpc, Some(dir)) => c?,
        () = interrupt.wait() => return Err(Error::Interrupted),
    };
    let mut reuse: Option<Reused> = Some((chain, cfg));
    let mut search = Search::new(slo);
    let mut out = Searched {
        steps: Vec::new(),
        why: Vec::new(),
        stop: Stop::Incomplete,
        interrupted: false,
    };
    while let Some(scale) = search.next() {
        let Some(chain) = reuse.take() else { break };
        if interrupt.is_set() {
            break;
        }
        let n = out.steps.len() as u32 + 1;
        let rel = format!("step-{n:02}-x{}", capacity::scale_text(scale));
        say!(
            "capacity step {n}: rate scale {}",
            capacity::scale_text(scale)
        );
        let run_args = step_args(args, scale, dir.join(&rel));
        let mut step_dir = None;
        let ran = run_on(&run_args, &mut step_dir, Some(chain), interrupt).await;
        // The step's run logged into its own directory; the search's lines go to its own.
        log_to(dir);
        match ran {
            Ok((_, back)) => reuse = Some(back),
            Err(e) => say!("capacity step {n}: {e}"),
        }
        let Ok(mut fig) = read_step(&dir.join(&rel), n, scale, &rel) else {
            say!("capacity step {n} wrote no results: the search stops here");
            break;
        };
        let (outcome, why) = capacity::judge(&fig, slo);
        fig.pass = outcome == Outcome::Pass;
        say!("{}", step_line(&fig, &why));
        search.record(scale, outcome);
        out.steps.push(fig);
        out.why.push(why);
        write_csv(dir, &out.steps)?;
    }
    out.stop = search.stop().unwrap_or(Stop::Incomplete);
    out.interrupted = interrupt.is_set();
    Ok(out)
}

/// Sends the log to `dir`/loadrun.log (appending: the search's lines around its steps').
fn log_to(dir: &Path) {
    if let Err(e) = super::log::to_file_appending(&dir.join("loadrun.log")) {
        say!(
            "warning: cannot write {}: {e}",
            dir.join("loadrun.log").display()
        );
    }
}

/// The `run` options of one step: the scenario at `scale` into `out`, no shard, no metrics.
fn step_args(args: &CapacityArgs, scale: f64, out: PathBuf) -> RunArgs {
    RunArgs {
        chain: ChainArgs {
            rate_scale: args.chain.rate_scale * scale,
            ..args.chain.clone()
        },
        out: Some(out),
        json: false,
        receipt_timeout: args.receipt_timeout,
        node_log: args.node_log,
        grace: Duration::from_secs(10),
        part: Default::default(),
        metrics: None,
        metrics_linger: Duration::ZERO,
        capacity_step: true,
    }
}

/// One line per step: its rates, p99 and whether it passed.
fn step_line(f: &StepFigures, why: &[String]) -> String {
    let verdict = if f.pass {
        "pass".to_string()
    } else {
        format!("miss: {}", why.join("; "))
    };
    format!(
        "capacity step {}: scale {}: target {}/s, included {}/s ({:.0} % of the target), p99 inclusion {:.2} s, cause {}: {verdict}",
        f.step,
        capacity::scale_text(f.scale),
        capacity::rate(f.target_rate),
        capacity::rate(f.included_rate),
        100.0 * f.included_share,
        f.p99_inclusion_ms / 1000.0,
        f.cause
    )
}

/// A step's figures from its run directory: summary.csv, verdict.json and node.csv.
fn read_step(dir: &Path, step: u32, scale: f64, rel: &str) -> Result<StepFigures, Error> {
    let read = |f: &str| {
        std::fs::read_to_string(dir.join(f)).map_err(|source| Error::Write {
            path: dir.join(f).display().to_string(),
            source,
        })
    };
    let metrics = summary::read_summary(read("summary.csv")?.as_bytes())
        .map_err(|e| Error::Usage(format!("{}: {e}", dir.join("summary.csv").display())))?;
    let all = |m: &str| {
        metrics
            .iter()
            .find(|x| x.kind == "all" && x.metric == m)
            .map_or(0.0, |x| x.value)
    };
    let verdict: Verdict = serde_json::from_str(&read("verdict.json")?)
        .map_err(|e| Error::Usage(format!("{}: {e}", dir.join("verdict.json").display())))?;
    let samples = read("node.csv")
        .map(|t| node::read_csv(&t))
        .unwrap_or_default();
    let peak = |f: fn(&node::NodeSample) -> f64| samples.iter().map(f).reduce(f64::max);
    let steps = all("steps").max(1.0);
    let blocks = read("blocks.csv")
        .map(|t| crate::report::blocks::read_csv(&t))
        .unwrap_or_default();
    // The chain's block interval over the step (1 s when it cannot tell).
    let block_s = match (blocks.first(), blocks.last()) {
        (Some(a), Some(b)) if blocks.len() > 1 => (b.t_s - a.t_s) / (blocks.len() - 1) as f64,
        _ => 1.0,
    };
    let (target, included) = (all("target_rate"), all("included_rate"));
    Ok(StepFigures {
        step,
        scale,
        target_rate: target,
        achieved_rate: all("achieved_rate"),
        included_rate: included,
        included_share: capacity::included_share(all("ok"), steps, included, target, block_s),
        p50_inclusion_ms: all("p50_latency_ms"),
        p99_inclusion_ms: verdict.p99_inclusion_ms,
        failed_share: (steps - all("ok")) / steps,
        cause: verdict.cause.as_str().to_string(),
        full_blocks_share: verdict
            .blocks
            .filter(|b| b.blocks > 0)
            .map_or(0.0, |b| b.full_blocks as f64 / b.blocks as f64),
        pass: false,
        node_cpu_peak_pct: peak(|s| s.cpu_pct),
        node_cores: verdict.node_cores,
        node_rss_peak_mb: peak(|s| s.rss_kb as f64 / 1024.0),
        dir: rel.to_string(),
    })
}

fn write_csv(dir: &Path, steps: &[StepFigures]) -> Result<(), Error> {
    super::write_output(Some(&dir.join("capacity.csv")), |w| {
        capacity::write_csv(steps, w).map_err(std::io::Error::other)
    })
}

/// The answer on the terminal and in capacity.html, and the exit code (`min_rate`).
fn conclude(s: &Searched, slo: &Capacity, min_rate: Option<f64>, dir: &Path) -> Result<u8, Error> {
    let a = capacity::answer(&s.steps, s.stop);
    let knee_why = a
        .knee
        .map(|k| capacity::limit(k, &s.why[(k.step - 1) as usize]))
        .unwrap_or_default();
    let line = capacity::describe(&a, &knee_why);
    super::log::flush_repeats();
    say!("{line}");
    let html = crate::report::capacity_html::render(&s.steps, &a, &line, slo);
    super::write_output(Some(&dir.join("capacity.html")), |w| {
        w.write_all(html.as_bytes())
    })?;
    say!(
        "results: {} (capacity.csv, capacity.html; each step's run in its step-* directory)",
        dir.display()
    );
    let found = a.best.map_or(0.0, |b| b.sustained_rate());
    // What cut the search short decides the exit first: the gate judges only a search that ran
    // to its end on the node's account.
    if s.interrupted {
        super::log::set_exit_reason("interrupted (Ctrl-C): the search kept what it had found");
        return Ok(ExitCode::INTERRUPTED);
    }
    if s.stop == Stop::Incomplete {
        super::log::set_exit_reason(
            "a step could not run to the end: the search kept what it had found",
        );
        return Ok(ExitCode::CHAIN);
    }
    if let Some(min) = min_rate
        && found < min
    {
        if s.stop == Stop::LoadrunBound {
            say!(
                "capacity: loadrun could offer only {} tx/s before its own CPU saturated, below min_rate {} tx/s: the node's capacity is unmeasured — run loadrun on a bigger machine or as shards (--shard I/N) on several",
                capacity::rate(found),
                capacity::rate(min)
            );
            super::log::set_exit_reason("loadrun's own CPU saturated below min_rate");
            return Ok(ExitCode::CHAIN);
        }
        say!(
            "FAIL: capacity {} tx/s is below min_rate {} tx/s",
            capacity::rate(found),
            capacity::rate(min)
        );
        super::log::set_exit_reason(format!("capacity {found:.1}/s below min_rate {min}/s"));
        return Ok(ExitCode::CHECK_FAILED);
    }
    Ok(ExitCode::OK)
}
