//! `loadrun run SCENARIO` (and the shorthand `loadrun SCENARIO`): validate → plan → chain →
//! deploy → fund → execute → results → exit code.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use super::chain::{install_interrupt, runtime};
use crate::error::{Error, ExitCode};
use crate::exec::setup;
use crate::pipeline::facts::{self, Asked};
use crate::pipeline::names::run_id;
use crate::pipeline::run::{ExecSpec, RESULT_FILES};
use crate::pipeline::{Connected, Executed, Planned};
use crate::scenario;

use super::finish::{Outcome, finish};
use super::log::say;

use super::chain::ChainArgs;

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
    /// A step of `loadrun capacity`: `[capacity].step_duration` applies.
    #[arg(skip)]
    pub capacity_step: bool,
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

/// The run: the pipeline's stages, and what each returned said on the terminal; `dir_out`
/// learns the run directory once it exists.
fn run_in(args: &RunArgs, dir_out: &mut Option<PathBuf>) -> Result<u8, Error> {
    let rt = runtime()?;
    rt.block_on(async {
        let interrupt = install_interrupt()?;
        run_on(args, dir_out, None, &interrupt)
            .await
            .map(|(code, _)| code)
    })
}

/// A chain a run may start on (capacity's steps share one) and that it gives back.
pub(super) type Reused = (crate::chain::Chain, crate::scenario::ChainConfig);

/// One run, on `reuse` when given, else on a chain of its own; gives back the chain (none
/// after the node went down: its error says so).
pub(super) async fn run_on(
    args: &RunArgs,
    dir_out: &mut Option<PathBuf>,
    reuse: Option<Reused>,
    interrupt: &crate::exec::interrupt::Interrupt,
) -> Result<(u8, Reused), Error> {
    let load = match args.capacity_step {
        true => scenario::load_capacity_step,
        false => scenario::load_scaled,
    };
    let loaded = load(
        &args.chain.scenario,
        args.chain.limits.max_steps,
        args.chain.rate_scale,
    )?;
    let seed = args.chain.seed.unwrap_or(loaded.scenario.seed);
    let mut planned = Planned::new(loaded, seed)?;
    say!("{}", crate::plan::output::summary(&planned.plan));
    let rpc = args.chain.rpc.as_deref();
    planned.take_part(&args.part.spec(), rpc)?;
    args.chain.apply(&mut planned.loaded.scenario.chain)?;
    if let Some(p) = &planned.part {
        say!(
            "{}",
            crate::pipeline::part::describe(&args.part.spec(), p, &planned.plan)
        );
    }
    let started = SystemTime::now();
    let run_id = run_id(started, seed);
    let dir = planned.results_dir(args.out.as_deref(), &run_id)?;
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
    // Bound first: a busy port stops the run before it touches the chain.
    let metrics = match args.metrics {
        Some(addr) => Some(super::metrics::serve(
            addr,
            &planned.loaded.scenario.name,
            &run_id,
            args.part.shard,
        )?),
        None => None,
    };
    let connected = match reuse {
        Some((chain, cfg)) => Connected {
            planned,
            chain,
            cfg,
        },
        None => planned.connect(rpc, args.node_log, &dir, interrupt).await?,
    };
    let ids = (run_id.as_str(), started);
    let checked = match through(args, connected, ids, &dir, interrupt).await? {
        Through::Checked(c) => *c,
        Through::NodeDown(e) => return Err(node_down(args, *e, &dir, metrics, interrupt).await),
    };
    let e = &checked.executed;
    let code = finish(
        &e.planned().loaded,
        &e.planned().plan,
        outcome(e, Some(&checked.sanity), None),
        &dir,
        args.json,
    )?;
    final_metrics(metrics, e, args, interrupt).await;
    let connected = checked.executed.funded.connected;
    Ok((code, (connected.chain, connected.cfg)))
}

/// Where a run's stages led: checked against the chain, or the node went down.
enum Through {
    Checked(Box<crate::pipeline::run::Checked>),
    NodeDown(Box<Executed>),
}

/// Fund, set up, execute and check, saying what each stage returned.
async fn through(
    args: &RunArgs,
    connected: Connected,
    (run_id, started): (&str, SystemTime),
    dir: &std::path::Path,
    interrupt: &crate::exec::interrupt::Interrupt,
) -> Result<Through, Error> {
    say!(
        "{}",
        crate::pipeline::fit::describe(
            &connected.chain,
            &connected.cfg,
            &connected.chain.shown_url()
        )
    );
    crate::pipeline::fit::warn_if_blocks_too_small(
        &connected.planned.plan,
        &connected.chain,
        &connected.cfg,
    );
    let mut funded = connected.fund(interrupt).await?;
    let part = funded.connected.planned.part.is_some();
    for (name, at, fresh) in &funded.wallets.user {
        say!(
            "contract {name}: {at} ({})",
            if *fresh { "deployed" } else { "reused" }
        );
    }
    if funded.wallets.deploys == 0 && !part {
        say!(
            "contracts reused: Token, Disperse and Adjudicator are already on this chain at their CREATE2 addresses"
        );
    }
    funded.run_setup(interrupt).await?;
    funded.write_delegations(dir)?;
    let setup_done = &funded.setup;
    if !funded.connected.planned.loaded.scenario.setup.is_empty() {
        say!(
            "setup: {} calls sent, {} skipped (already done), gas {}",
            setup_done.sent,
            setup_done.skipped,
            setup_done.gas_used
        );
    }
    if part {
        say!(
            "funded: the {} wallets this part sends from hold what the plan needs",
            funded.wallets.outcome.wallets
        );
    } else {
        say!("{}", setup::describe("funded", &funded.wallets.outcome));
    }
    let spec = ExecSpec {
        run_id: run_id.to_string(),
        receipt_timeout: args.receipt_timeout,
        grace: args.grace,
        start_at: args.part.start_at,
    };
    let executed = funded.execute(spec, dir, interrupt).await?;
    executed.write_series(dir)?;
    let asked = Asked {
        run_id,
        started,
        shard: args.part.shard.map(|s| s.to_string()),
        role: args.part.role.clone(),
        start_at: args.part.start_at,
        rate_scale: args.chain.rate_scale,
    };
    facts::write(&executed, &asked, dir)?;
    if executed.ex.node_down {
        return Ok(Through::NodeDown(Box::new(executed)));
    }
    Ok(Through::Checked(Box::new(executed.check(dir).await?)))
}

/// With `--metrics`: the final counts served, lingering for the last scrape.
async fn final_metrics(
    metrics: Option<super::metrics::Served>,
    e: &Executed,
    args: &RunArgs,
    interrupt: &crate::exec::interrupt::Interrupt,
) {
    if let Some(m) = metrics {
        m.finish(
            &e.tallied.tally,
            e.chain().rpc_stats.retries(),
            args.metrics_linger,
            interrupt,
        )
        .await;
    }
}

/// What `finish` reports of an executed run.
fn outcome<'a>(
    e: &'a Executed,
    sanity: Option<&'a crate::report::sanity::Sanity>,
    forced: Option<(u8, String)>,
) -> Outcome<'a> {
    let rpc = &e.chain().rpc_stats;
    Outcome {
        ex: &e.tallied,
        load: e.load,
        events: e.events(),
        rpc: (rpc.retries(), rpc.transient_errors()),
        sanity,
        forced,
    }
}

/// The node stopped answering mid-run: every result but the sanity check (the chain cannot be
/// read) is written, and the run exits 3 with the error returned.
async fn node_down(
    args: &RunArgs,
    e: Executed,
    dir: &std::path::Path,
    metrics: Option<super::metrics::Served>,
    interrupt: &crate::exec::interrupt::Interrupt,
) -> Error {
    let err = || crate::chain::ChainError::NodeDown {
        retry_for: humantime::format_duration(Duration::from_millis(
            e.planned().loaded.scenario.chain.retry_for_ms,
        ))
        .to_string(),
        rows: format!(
            "every step has its row in {}",
            dir.join("steps.csv").display()
        ),
    };
    let forced = Some((ExitCode::CHAIN, super::exit_reason(&Error::Chain(err()))));
    if let Err(failed) = finish(
        &e.planned().loaded,
        &e.planned().plan,
        outcome(&e, None, forced),
        dir,
        args.json,
    ) {
        return failed;
    }
    final_metrics(metrics, &e, args, interrupt).await;
    err().into()
}
