//! `loadrun run SCENARIO` (and the shorthand `loadrun SCENARIO`): validate → plan → chain →
//! deploy → fund → execute → results → exit code.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::Serialize;

use super::chain::{install_interrupt, located, runtime};
use crate::chain::Chain;
use crate::error::{Error, ExitCode};
use crate::exec::nodemon::Sampler;
use crate::exec::observe::observe;
use crate::exec::run::{Executed, Options, execute};
use crate::exec::setup;
use crate::report::blocks::BlockRow;
use crate::report::node;
use crate::report::sanity;
use crate::report::verdict::{Events, Load, NodeDown};
use crate::scenario;
use crate::wallets;

use super::finish::{Outcome, finish};
use super::log::say;

use super::chain::ChainArgs;
use super::names::{redacted_scenario, run_id, unique_dir};
use super::write_output;

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The scenario, seed and chain (shared with `fund` and `sweep`).
    #[command(flatten)]
    pub chain: ChainArgs,
    /// Write results to DIR instead of results/<name>/<run-id>/.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Print one machine-readable summary object on stdout at the end.
    #[arg(long)]
    pub json: bool,
    /// A sent transaction without a receipt after this long is a `timeout`.
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub receipt_timeout: Duration,
    /// Keep the spawned anvil's full log in anvil.log (a few lines per transaction, capped at its
    /// first and last MiB). By default anvil runs with --quiet: logging every transaction costs
    /// the node and loadrun CPU.
    #[arg(long)]
    pub node_log: bool,
    /// After Ctrl-C, wait this long for in-flight results before writing them.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub grace: Duration,
    /// Which part of the plan this process runs and when it starts (scale-out).
    #[command(flatten)]
    pub part: super::part::PartArgs,
    /// Serve live Prometheus metrics at http://ADDR/metrics (e.g. 0.0.0.0:9464): steps by kind
    /// and status, in flight, lateness and inclusion latency, RPC retries; labelled with the
    /// scenario, run id and shard.
    #[arg(long, value_name = "ADDR")]
    pub metrics: Option<std::net::SocketAddr>,
    /// With --metrics: keep serving the final values this long after the run, so the last
    /// scrape sees them.
    #[arg(long, default_value = "15s", value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub metrics_linger: Duration,
}

/// The files a run writes into its directory.
pub(super) const RESULT_FILES: [&str; 11] = [
    "steps.csv",
    "blocks.csv",
    "summary.csv",
    "sanity.md",
    "sanity.json",
    "report.html",
    "run.toml",
    "verdict.json",
    "node.csv",
    "anvil.log",
    "observed.json",
];

/// What `run.toml` records.
#[derive(Serialize)]
struct RunFacts<'a> {
    loadrun_version: &'static str,
    plan_format: u32,
    run_id: &'a str,
    started_at: String,
    scenario_file: &'a str,
    /// The scenario file's directory (absolute): `[contracts]` artifacts are relative to it,
    /// so `loadrun report` and `merge` can parse the scenario again.
    scenario_dir: String,
    scenario_name: &'a str,
    seed: u64,
    chain_id: u64,
    /// "spawned anvil" or the RPC's scheme://host:port (path and query dropped: they may hold
    /// an API key).
    chain: String,
    /// Spawned anvil: "1s", …, or "automine"; empty for a remote chain.
    block_time: String,
    block_gas_limit: u64,
    first_block: Option<u64>,
    last_block: Option<u64>,
    steps: usize,
    /// `--shard I/N` and `--role R` when this process ran part of the plan.
    shard: Option<String>,
    role: Option<String>,
    /// Steps of the plan this process was to run (all of them without --shard/--role).
    part_steps: usize,
    /// `--start-at`, UNIX milliseconds.
    start_at_ms: Option<u64>,
    /// `--rate-scale`: every rate and stage target was multiplied by it.
    rate_scale: f64,
    /// `[[setup]]` calls sent, and skipped as already done (`unless`).
    setup_sent: usize,
    setup_skipped: usize,
    fired: usize,
    interrupted: bool,
    wall_ms: f64,
    /// CPU seconds (user + system) of loadrun itself so far, from /proc/self/stat (not the node).
    loadrun_cpu_s: Option<f64>,
    /// loadrun's CPU seconds while the plan ran (set-up and result writing left out).
    loadrun_exec_cpu_s: Option<f64>,
    /// The spawned node's CPU seconds while the plan ran (none for a remote node).
    node_exec_cpu_s: Option<f64>,
    /// loadrun's peak RSS (KiB) while the plan ran, and at the end (steps.csv put in order).
    loadrun_exec_peak_rss_kb: Option<u64>,
    loadrun_peak_rss_kb: Option<u64>,
    scenario_toml: String,
    /// `[contracts.NAME]` addresses (a table: last, as TOML requires).
    contracts: std::collections::BTreeMap<String, String>,
}

pub fn run_cmd(args: &RunArgs) -> Result<u8, Error> {
    let mut dir = None;
    let r = run_in(args, &mut dir);
    match &r {
        // The node going down mid-run has its verdict already (finish).
        Err(Error::Chain(crate::chain::ChainError::NodeDown { .. })) => {}
        Err(e) => super::finish::setup_failed(e, dir.as_deref(), args.json),
        Ok(_) => {}
    }
    r
}

/// The run; `dir_out` learns the run directory once it exists.
fn run_in(args: &RunArgs, dir_out: &mut Option<PathBuf>) -> Result<u8, Error> {
    let loaded = scenario::load_scaled(
        &args.chain.scenario,
        args.chain.limits.max_steps,
        args.chain.rate_scale,
    )?;
    let seed = args.chain.seed.unwrap_or(loaded.scenario.seed);
    let plan = Arc::new(crate::plan::expand_loaded(&loaded, seed)?);
    say!("{}", crate::plan::output::summary(&plan));
    super::part::check_start(args.part.start_at, "already")?;
    let part = super::part::resolve(&plan, &loaded.scenario, &args.part)?;
    super::part::check_remote(
        part.as_ref(),
        crate::chain::rpc_url(&loaded.scenario.chain, args.chain.rpc.as_deref()),
    )?;
    let mut loaded = loaded;
    args.chain.apply(&mut loaded.scenario.chain)?;
    if let Some(p) = &part {
        say!("{}", super::part::describe(&args.part, p, &plan));
        super::part::scale_expect(&mut loaded.scenario.expect, &plan, p);
    }
    let loaded = loaded;
    let started = SystemTime::now();
    let run_id = run_id(started, seed);
    let dir = match &args.out {
        Some(d) => d.clone(),
        None => unique_dir(
            &Path::new("results")
                .join(&loaded.scenario.name)
                .join(&run_id),
        ),
    };
    std::fs::create_dir_all(&dir).map_err(|source| Error::Write {
        path: dir.display().to_string(),
        source,
    })?;
    *dir_out = Some(dir.clone());
    if let Err(e) = super::log::to_file(&dir.join("loadrun.log")) {
        say!(
            "warning: cannot write {}: {e}",
            dir.join("loadrun.log").display()
        );
    }
    // A reused --out DIR must not mix this run's files with an earlier run's.
    for f in RESULT_FILES {
        let _ = std::fs::remove_file(dir.join(f));
    }
    let all = wallets::all(&loaded.scenario, seed);
    let rt = runtime()?;
    rt.block_on(async {
        let interrupt = install_interrupt()?;
        // Bound first: a busy port stops the run before it touches the chain.
        let metrics = match args.metrics {
            Some(addr) => Some(super::metrics::serve(addr, &loaded.scenario.name, &run_id, args.part.shard)?),
            None => None,
        };
        let mut chain_cfg = super::fit::config_for(Some(&plan), &loaded.scenario.chain, args.chain.rpc.as_deref());
        if !args.node_log {
            chain_cfg.anvil_args.push("--quiet".into());
        }
        let mut chain = tokio::select! {
            c = crate::chain::connect(&chain_cfg, args.chain.rpc.as_deref(), Some(&dir)) => c?,
            () = interrupt.wait() => return Err(Error::Interrupted),
        };
        say!("{}", super::fit::describe(&chain, &chain_cfg, &chain.shown_url()));
        super::fit::warn_if_blocks_too_small(&plan, &chain, &chain_cfg);
        let funded = tokio::select! {
            f = async {
                match &part {
                    None => setup::fund(&mut chain, &loaded.scenario, Some(&plan), &all).await,
                    Some(p) => setup::check_funded(&mut chain, &loaded.scenario, &plan, &all, &p.steps, &loaded.file).await,
                }
            } => f.map_err(|e| located(&loaded, e))?,
            () = interrupt.wait() => return Err(Error::Interrupted),
        };
        for (name, at, fresh) in &funded.user {
            say!("contract {name}: {at} ({})", if *fresh { "deployed" } else { "reused" });
        }
        if funded.deploys == 0 && part.is_none() {
            say!("contracts reused: Token, Disperse and Adjudicator are already on this chain at their CREATE2 addresses");
        }
        let dir_of = crate::wallets::Directory::new(&loaded.scenario);
        let setup_done = tokio::select! {
            s = crate::exec::setup_calls::run(&chain, &loaded.scenario, (seed, &all), &funded.contracts, |w| {
                part.as_ref().is_none_or(|p| p.senders[dir_of.index(w)])
            }) => s?,
            () = interrupt.wait() => return Err(Error::Interrupted),
        };
        if !loaded.scenario.setup.is_empty() {
            say!("setup: {} calls sent, {} skipped (already done), gas {}", setup_done.sent, setup_done.skipped, setup_done.gas_used);
        }
        if part.is_some() {
            say!("funded: the {} wallets this part sends from hold what the plan needs", funded.outcome.wallets);
        } else {
            say!("{}", setup::describe("funded", &funded.outcome));
        }
        let opts = Options {
            run_id: run_id.clone(),
            steps_csv: dir.join("steps.csv"),
            receipt_timeout: args.receipt_timeout,
            grace: args.grace,
            subset: part.as_ref().map(|p| p.steps.clone()),
            start_at: args.part.start_at,
        };
        let fees = crate::chain::tx::fees(&chain.provider, chain.caps).await?;
        let addresses: Vec<_> = all.iter().map(|w| w.address).collect();
        let before_block = alloy::providers::Provider::get_block_number(&chain.provider).await.ok();
        let before = observe(&chain, &funded.contracts, &addresses).await?;
        super::part::check_start(args.part.start_at, "after the set-up")?;
        let sampler = chain.anvil.as_ref().map(|a| Sampler::start(a.pid));
        let cpu_before = own_cpu_s();
        let node_cpu_s = |c: &Chain| {
            c.anvil
                .as_ref()
                .and_then(|a| crate::exec::nodemon::read(a.pid))
                .map(|(ticks, _)| ticks as f64 / node::TICKS_PER_SECOND)
        };
        let node_before = node_cpu_s(&chain);
        let ex = execute(
            plan.clone(),
            &loaded.scenario,
            &all,
            &chain,
            funded.contracts,
            fees,
            opts,
            &interrupt,
        )
        .await?;
        let exec_cpu_s = own_cpu_s().zip(cpu_before).map(|(a, b)| a - b);
        let node_exec_cpu_s = node_cpu_s(&chain).zip(node_before).map(|(a, b)| a - b);
        let mut load = Load {
            block_ms: if chain.anvil.is_some() {
                chain_cfg.block_time_ms
            } else {
                chain.caps.block_interval_ms
            },
            loadrun_cpu_pct: exec_cpu_s.map(|c| 100.0 * c / (ex.wall_ms / 1000.0).max(1e-3)),
            node_cpu_peak_pct: None,
            cores: std::thread::available_parallelism().map_or(1, |n| n.get() as u32),
        };
        let blocks: Vec<BlockRow> = ex
            .span
            .blocks
            .iter()
            .map(|b| BlockRow {
                number: b.number,
                t_s: b.seen_ms / 1000.0,
                gas_used: b.gas_used,
                gas_limit: b.gas_limit,
                txs: b.txs as u64,
                base_fee_wei: b.base_fee.map(u128::from),
            })
            .collect();
        write_output(Some(&dir.join("blocks.csv")), |w| {
            crate::report::blocks::write_csv(&blocks, w).map_err(std::io::Error::other)
        })?;
        if let Some(s) = sampler {
            let samples = s.stop().await;
            load.node_cpu_peak_pct = samples.iter().map(|x| x.cpu_pct).reduce(f64::max);
            write_output(Some(&dir.join("node.csv")), |w| node::write_csv(&samples, w))?;
        }
        let facts = RunFacts {
            loadrun_version: env!("CARGO_PKG_VERSION"),
            plan_format: crate::plan::PLAN_FORMAT_VERSION,
            run_id: &run_id,
            started_at: humantime::format_rfc3339_seconds(started).to_string(),
            scenario_file: &loaded.file,
            scenario_dir: super::names::scenario_dir(&loaded.file),
            scenario_name: &loaded.scenario.name,
            seed,
            chain_id: chain.chain_id,
            chain: chain.shown_url(),
            block_time: super::fit::block_time(&chain, &chain_cfg),
            block_gas_limit: chain.caps.block_gas_limit,
            first_block: ex.span.first_block,
            last_block: ex.span.last_block,
            steps: plan.steps.len(),
            shard: args.part.shard.map(|s| s.to_string()),
            role: args.part.role.clone(),
            part_steps: part.as_ref().map_or(plan.steps.len(), |p| p.steps.len()),
            start_at_ms: args.part.start_at.map(super::part::unix_ms),
            rate_scale: args.chain.rate_scale,
            setup_sent: setup_done.sent,
            setup_skipped: setup_done.skipped,
            contracts: funded.user.iter().map(|(n, a, _)| (n.clone(), a.to_string())).collect(),
            fired: ex.fired,
            interrupted: ex.interrupted,
            wall_ms: ex.wall_ms,
            loadrun_cpu_s: own_cpu_s(),
            loadrun_exec_cpu_s: exec_cpu_s,
            node_exec_cpu_s,
            loadrun_exec_peak_rss_kb: ex.peak_rss_kb,
            loadrun_peak_rss_kb: crate::exec::nodemon::status_kb("self", "VmHWM"),
            scenario_toml: redacted_scenario(&loaded.text),
        };
        let run_toml = toml::to_string(&facts).unwrap_or_default();
        write_output(Some(&dir.join("run.toml")), |w| w.write_all(run_toml.as_bytes()))?;
        let events = events_of(&ex, &blocks, &chain);
        if ex.node_down {
            // No sanity check (the chain cannot be read); every other result is written.
            let err = crate::chain::ChainError::NodeDown {
                retry_for: humantime::format_duration(std::time::Duration::from_millis(
                    loaded.scenario.chain.retry_for_ms,
                ))
                .to_string(),
                rows: format!("every step has its row in {}", dir.join("steps.csv").display()),
            };
            let forced = Some((ExitCode::CHAIN, super::exit_reason(&Error::Chain(err))));
            let o = Outcome { ex: &ex, load, events, rpc: (chain.rpc_stats.retries(), chain.rpc_stats.transient_errors()), sanity: None, forced };
            finish(&loaded, &plan, o, &dir, args.json)?;
            if let Some(m) = metrics {
                m.finish(&ex.tally, chain.rpc_stats.retries(), args.metrics_linger, &interrupt).await;
            }
            return Err(crate::chain::ChainError::NodeDown {
                retry_for: humantime::format_duration(std::time::Duration::from_millis(
                    loaded.scenario.chain.retry_for_ms,
                ))
                .to_string(),
                rows: format!("every step has its row in {}", dir.join("steps.csv").display()),
            }
            .into());
        }
        let mut after_block = alloy::providers::Provider::get_block_number(&chain.provider).await.ok();
        let mut after_unread = false;
        let after = match observe(&chain, &funded.contracts, &addresses).await {
            Ok(a) => a,
            // After Ctrl-C, results still get written even if the node is gone.
            Err(e) if ex.interrupted => {
                tracing::warn!("no sanity check: {e}");
                after_unread = true;
                before.clone()
            }
            Err(e) => return Err(e.into()),
        };
        let labels = loaded.scenario.wallet_labels();
        if after_unread {
            after_block = None;
        }
        let observed = sanity::Snapshots { before_block, before, after_block, after };
        write_output(Some(&dir.join("observed.json")), |w| {
            serde_json::to_writer(&mut *w, &observed).map_err(std::io::Error::other)
        })?;
        let scope = sanity::Scope {
            steps: part.as_ref().map(|p| p.steps.as_slice()),
            own: part.as_ref().map(|p| p.own.as_slice()),
            skip_adjudicator: part.as_ref().is_some_and(|p| !p.own_adjudicator),
        };
        let mut sanity = sanity::compare(&plan, &ex.books, &labels, (&observed.before, &observed.after), scope);
        // Contract state is shared by every part: views are checked on whole runs.
        if part.is_none() {
            sanity.views = crate::exec::views::check(&chain, &loaded.scenario, &funded.contracts, &plan, &ex.tally).await;
        }
        write_output(Some(&dir.join("sanity.md")), |w| {
            w.write_all(sanity::markdown(&sanity).as_bytes())
        })?;
        write_output(Some(&dir.join("sanity.json")), |w| {
            serde_json::to_writer_pretty(&mut *w, &sanity).map_err(std::io::Error::other)
        })?;
        let o = Outcome { ex: &ex, load, events, rpc: (chain.rpc_stats.retries(), chain.rpc_stats.transient_errors()), sanity: Some(&sanity), forced: None };
        let code = finish(&loaded, &plan, o, &dir, args.json)?;
        if let Some(m) = metrics {
            m.finish(&ex.tally, chain.rpc_stats.retries(), args.metrics_linger, &interrupt).await;
        }
        Ok(code)
    })
}

/// What the verdict needs from the run besides its rows.
fn events_of(ex: &Executed, blocks: &[BlockRow], chain: &Chain) -> Events {
    let since_start =
        |unix_ms: Option<u64>| unix_ms.map(|t| ((t as f64 - ex.start_unix_ms) / 1000.0).max(0.0));
    Events {
        node_down: ex.node_down.then(|| NodeDown {
            at_s: since_start(chain.rpc_stats.down_at_ms()),
            last_answer_s: since_start(chain.rpc_stats.last_answer_ms()),
            unsent: ex.node_down_unsent,
            unanswered: ex.node_down_unanswered,
        }),
        blocks: blocks.to_vec(),
        resigned: ex.resigned,
        resent: ex.resent,
        reorged: ex.reorged,
        missing_parts: Vec::new(),
        unreported: 0,
        interrupted: ex.interrupted,
    }
}

/// loadrun's own CPU seconds (user + system) so far, from /proc/self/stat.
fn own_cpu_s() -> Option<f64> {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| node::parse_stat_ticks(&s))
        .map(|t| t as f64 / node::TICKS_PER_SECOND)
}
