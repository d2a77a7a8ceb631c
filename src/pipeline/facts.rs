//! `run.toml`: the facts of a run — what ran, where, with which seed and part, and what it cost
//! loadrun and the node — read back by `loadrun report` and `loadrun merge`.

use std::path::Path;
use std::time::SystemTime;

use serde::Serialize;

use super::run::{Executed, own_cpu_s};
use super::write_output;
use crate::error::Error;

/// What the run was asked that the stages do not keep: its id, start, part and rate scale.
pub struct Asked<'a> {
    pub run_id: &'a str,
    pub started: SystemTime,
    pub shard: Option<String>,
    pub role: Option<String>,
    pub start_at: Option<SystemTime>,
    pub rate_scale: f64,
}

/// What `run.toml` records.
#[derive(Serialize)]
pub struct RunFacts<'a> {
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

/// Writes `dir`/run.toml for an executed run.
pub fn write(e: &Executed, asked: &Asked<'_>, dir: &Path) -> Result<(), Error> {
    let (p, chain) = (e.planned(), e.chain());
    let (ex, funded) = (&e.ex, &e.funded);
    let facts = RunFacts {
        loadrun_version: env!("CARGO_PKG_VERSION"),
        plan_format: crate::plan::PLAN_FORMAT_VERSION,
        run_id: asked.run_id,
        started_at: humantime::format_rfc3339_seconds(asked.started).to_string(),
        scenario_file: &p.loaded.file,
        scenario_dir: super::names::scenario_dir(&p.loaded.file),
        scenario_name: &p.loaded.scenario.name,
        seed: p.seed,
        chain_id: chain.chain_id,
        chain: chain.shown_url(),
        block_time: super::fit::block_time(chain, &funded.connected.cfg),
        block_gas_limit: chain.caps.block_gas_limit,
        first_block: ex.span.first_block,
        last_block: ex.span.last_block,
        steps: p.plan.steps.len(),
        shard: asked.shard.clone(),
        role: asked.role.clone(),
        part_steps: p
            .part
            .as_ref()
            .map_or(p.plan.steps.len(), |x| x.steps.len()),
        start_at_ms: asked.start_at.map(super::part::unix_ms),
        rate_scale: asked.rate_scale,
        setup_sent: funded.setup.sent,
        setup_skipped: funded.setup.skipped,
        contracts: funded
            .wallets
            .user
            .iter()
            .map(|(n, a, _)| (n.clone(), a.to_string()))
            .collect(),
        fired: ex.fired,
        interrupted: ex.interrupted,
        wall_ms: ex.wall_ms,
        loadrun_cpu_s: own_cpu_s(),
        loadrun_exec_cpu_s: e.exec_cpu_s,
        node_exec_cpu_s: e.node_exec_cpu_s,
        loadrun_exec_peak_rss_kb: ex.peak_rss_kb,
        loadrun_peak_rss_kb: crate::exec::nodemon::status_kb("self", "VmHWM"),
        scenario_toml: super::names::redacted_scenario(&p.loaded.text),
    };
    let text = toml::to_string(&facts).unwrap_or_default();
    write_output(Some(&dir.join("run.toml")), |w| {
        w.write_all(text.as_bytes())
    })
}
