//! `loadrun merge RUN_DIR... --out DIR`: one run directory from the runs of the parts of one
//! plan (`--shard`, `--role`): steps.csv with every plan step exactly once (a step no run
//! reported is `not_sent`, its missing shard named), and the summary, expectations, sanity
//! check over the union and report recomputed from it.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{Error, ExitCode};
use crate::model::order::{self, Steps};
use crate::model::rows::Status;
use crate::pipeline::run::Tallied;
use crate::plan::shard::Shard;
use crate::report::sanity::{self, Books};
use crate::report::tally::Tally;
use crate::report::verdict::{Events, Load};
use crate::scenario::{self, Loaded};
use crate::wallets::Directory;

mod parts;

use parts::{
    PartRun, check_parts, describe_part, largest, merge_blocks, read_part, summaries, summed,
    union_snapshots,
};

use super::finish::{Outcome, finish};
use super::log::say;
use super::write_output;

#[derive(Debug, clap::Args)]
pub struct MergeArgs {
    /// The run directories of the parts (`loadrun run --shard I/N` or `--role R`).
    #[arg(required = true, value_name = "RUN_DIR")]
    pub runs: Vec<PathBuf>,
    /// The merged run directory to write.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Print one machine-readable summary object on stdout at the end.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub limits: super::LimitArgs,
}

fn usage(msg: String) -> Error {
    Error::Usage(msg)
}

#[derive(Serialize)]
struct MergedFacts<'a> {
    loadrun_version: &'static str,
    plan_format: u64,
    run_id: String,
    scenario_name: &'a str,
    seed: u64,
    chain_id: u64,
    block_time: &'a str,
    first_block: Option<u64>,
    last_block: Option<u64>,
    steps: usize,
    rate_scale: f64,
    wall_ms: f64,
    merged_from: Vec<MergedPart>,
    missing_shards: Vec<String>,
    scenario_toml: &'a str,
}

#[derive(Serialize)]
struct MergedPart {
    dir: String,
    run_id: String,
    part: String,
}

pub fn merge_cmd(args: &MergeArgs) -> Result<u8, Error> {
    let started = std::time::Instant::now();
    let m = Merging::load(args)?;
    m.prepare(&args.out)?;
    let (tally, books, unreported) = m.merge_steps(&args.out)?;
    merge_blocks(&m.parts, &args.out)?;
    let sanity = m.check_union(&books, &args.out)?;
    let (first_block, last_block, wall_ms) = m.write_facts(&args.out)?;
    let Merging {
        parts,
        missing_shards,
        loaded,
        plan,
    } = m;
    let first = &parts[0];
    let sums = summaries(&parts);
    let ex = Tallied {
        tally,
        books,
        wall_ms,
        first_block,
        last_block,
        interrupted: false,
        resent: summed(&sums, "resent"),
    };
    let load = Load {
        block_ms: humantime::parse_duration(&first.block_time)
            .ok()
            .map(|d| d.as_millis() as u64),
        loadrun_cpu_pct: largest(&sums, "loadrun_cpu_pct"),
        node_cpu_peak_pct: None,
        cores: std::thread::available_parallelism().map_or(1, |n| n.get() as u32),
        node_cores: None,
        node_shares_host: false,
    };
    say!(
        "merged {} runs into {} ({} steps) in {:.2} s",
        parts.len(),
        args.out.display(),
        plan.steps.len(),
        started.elapsed().as_secs_f64()
    );
    let events = Events {
        blocks: crate::report::blocks::read_csv(
            &std::fs::read_to_string(args.out.join("blocks.csv")).unwrap_or_default(),
        ),
        resigned: summed(&sums, "resigned"),
        resent: ex.resent,
        reorged: summed(&sums, "reorged"),
        missing_parts: missing_shards.iter().map(|s| s.to_string()).collect(),
        unreported: unreported as u64,
        node_down: None,
        interrupted: false,
    };
    let outcome = Outcome {
        ex: &ex,
        load,
        events,
        rpc: (
            summed(&sums, "rpc_retries"),
            summed(&sums, "rpc_errors_transient"),
        ),
        sanity: sanity.as_ref(),
        forced: None,
    };
    let code = finish(&loaded, &plan, outcome, &args.out, args.json)?;
    if sanity.is_none() {
        say!("  (a part has no observed.json: the union was not checked against the chain)");
    }
    if unreported > 0 {
        say!(
            "INCOMPLETE: {unreported} of {} plan steps were in no run (not_sent, the missing part named in `error`)",
            plan.steps.len()
        );
    }
    Ok(if unreported == 0 && missing_shards.is_empty() {
        code
    } else {
        code.max(ExitCode::CHECK_FAILED)
    })
}

/// The parts of one plan read back, and the plan they share.
struct Merging {
    parts: Vec<PartRun>,
    /// Shards of the set no run was given for.
    missing_shards: Vec<Shard>,
    loaded: Loaded,
    plan: crate::plan::Plan,
}

impl Merging {
    /// Reads every part's run.toml, checks they are parts of one plan, and expands it again
    /// from the first part's scenario and seed.
    fn load(args: &MergeArgs) -> Result<Self, Error> {
        let parts: Vec<PartRun> = args
            .runs
            .iter()
            .map(|d| read_part(d))
            .collect::<Result<_, _>>()?;
        let missing_shards = check_parts(&parts)?;
        let first = &parts[0];
        let file = format!("{} (scenario_toml)", first.dir.join("run.toml").display());
        // Artifacts of [contracts] are where the scenario file was.
        let base = first
            .scenario_dir
            .as_deref()
            .filter(|d| !d.is_empty())
            .map(Path::new);
        let scenario = scenario::parse_in(
            &file,
            &first.scenario_toml,
            (args.limits.max_steps, first.rate_scale),
            base,
        )?;
        let loaded = Loaded {
            scenario,
            file,
            text: first.scenario_toml.clone(),
        };
        let plan = crate::plan::expand_loaded(&loaded, first.seed)?;
        for s in &missing_shards {
            say!("warning: no run of shard {s} was given: its steps are not_sent");
        }
        if parts.iter().any(|p| p.start_at_ms != first.start_at_ms) || first.start_at_ms.is_none() {
            say!(
                "warning: the parts did not start at one --start-at instant: their rates per second and block times count from different origins"
            );
        }
        Ok(Self {
            parts,
            missing_shards,
            loaded,
            plan,
        })
    }

    /// Creates the merged run's directory (never one of the parts') with its log, and clears
    /// an earlier merge's files from it.
    fn prepare(&self, out: &Path) -> Result<(), Error> {
        if let Some(p) = self.parts.iter().find(|p| same_dir(&p.dir, out)) {
            return Err(usage(format!(
                "--out {} is one of the runs to merge ({})
  help: write the merged run to a new directory",
                out.display(),
                describe_part(p)
            )));
        }
        std::fs::create_dir_all(out).map_err(|source| Error::Write {
            path: out.display().to_string(),
            source,
        })?;
        // A reused --out DIR must not mix this merge's files with an earlier one's.
        for f in crate::pipeline::run::RESULT_FILES {
            let _ = std::fs::remove_file(out.join(f));
        }
        if let Err(e) = super::log::to_file(&out.join("loadrun.log")) {
            say!(
                "warning: cannot write {}: {e}",
                out.join("loadrun.log").display()
            );
        }
        Ok(())
    }

    /// Merges the parts' steps.csv into one in step order (a step no part reported is
    /// `not_sent`, its missing part named), aggregating every row; how many were unreported.
    fn merge_steps(&self, out: &Path) -> Result<(Tally, Books, usize), Error> {
        let (plan, loaded, parts) = (&self.plan, &self.loaded, &self.parts);
        let first = &parts[0];
        // The shard each wallet belongs to, to name a missing one in its steps' rows.
        let dir_of = Directory::new(&loaded.scenario);
        let total = loaded.scenario.total_wallets() as usize;
        let shard_of = first
            .shard
            .map(|s| crate::plan::shard::assign(plan, dir_of.offsets(), total, s.count));
        let mut tally = Tally::for_scenario(&loaded.scenario);
        let mut books = Books::new(total);
        let inputs: Vec<PathBuf> = parts.iter().map(|p| p.dir.join("steps.csv")).collect();
        let steps_csv = out.join("steps.csv");
        let mut unreported = 0usize;
        let missing_row = |_, idx: usize| {
            unreported += 1;
            let s = &plan.steps[idx];
            let why = match &shard_of {
                Some(of) => format!(
                    "no run reported this step (shard {}/{})",
                    of[dir_of.index(s.actor)] + 1,
                    first.shard.map_or(1, |s| s.count)
                ),
                None => "no run reported this step (its role's run is missing)".into(),
            };
            plan.blank_row(idx, Status::NotSent, why)
        };
        let merged = order::merge_runs(
            &inputs,
            &Steps::All(plan.steps.len()),
            &steps_csv,
            missing_row,
            |r| {
                tally.add(r);
                books.add(plan, r, |w| dir_of.index(w));
            },
        )
        .map_err(|e| Error::Write {
            path: steps_csv.display().to_string(),
            source: e,
        })?;
        if let Err(u) = merged {
            let name = |i: usize| parts[i].dir.display().to_string();
            return Err(usage(match u.first {
                Some(f) if f == u.second => format!(
                    "{}/steps.csv is not in step order at step {} (a run cut short by SIGKILL?)\n  help: merge only runs that finished (their steps.csv is put in order at the end)",
                    name(f),
                    u.step
                ),
                Some(f) => format!(
                    "step {} has a row in both {} and {}: the parts overlap\n  help: merge runs of disjoint parts (the shards of one --shard I/N set)",
                    u.step,
                    name(f),
                    name(u.second)
                ),
                None => format!(
                    "{}/steps.csv has a row for step {}, which the plan does not have, or is not in step order",
                    name(u.second),
                    u.step
                ),
            }));
        }
        Ok((tally, books, unreported))
    }

    /// The sanity check of the union against the chain before the first part and after the
    /// last (sanity.md, sanity.json); `None` when a part has no observed.json.
    fn check_union(&self, books: &Books, out: &Path) -> Result<Option<sanity::Sanity>, Error> {
        let (plan, loaded, parts) = (&self.plan, &self.loaded, &self.parts);
        let snapshots = union_snapshots(parts);
        let labels = loaded.scenario.wallet_labels();
        let sanity = snapshots.as_ref().map(|s| {
            sanity::compare(
                plan,
                books,
                &labels,
                (&s.before, &s.after),
                sanity::Scope::default(),
            )
        });
        if let Some(s) = &sanity {
            write_output(Some(&out.join("sanity.md")), |w| {
                w.write_all(sanity::markdown(s).as_bytes())
            })?;
            write_output(Some(&out.join("sanity.json")), |w| {
                serde_json::to_writer_pretty(&mut *w, s).map_err(std::io::Error::other)
            })?;
        }
        Ok(sanity)
    }

    /// Writes the merged run.toml; the blocks and wall time the union spans.
    fn write_facts(&self, out: &Path) -> Result<(Option<u64>, Option<u64>, f64), Error> {
        let (plan, loaded, parts) = (&self.plan, &self.loaded, &self.parts);
        let (first, missing_shards) = (&parts[0], &self.missing_shards);
        let first_block = parts.iter().filter_map(|p| p.first_block).min();
        let last_block = parts.iter().filter_map(|p| p.last_block).max();
        let wall_ms = parts.iter().map(|p| p.wall_ms).fold(0.0, f64::max);
        let facts = MergedFacts {
            loadrun_version: env!("CARGO_PKG_VERSION"),
            plan_format: first.plan_format,
            run_id: format!("merged-{}", first.run_id),
            scenario_name: &loaded.scenario.name,
            seed: first.seed,
            chain_id: first.chain_id,
            block_time: &first.block_time,
            first_block,
            last_block,
            steps: plan.steps.len(),
            rate_scale: first.rate_scale,
            wall_ms,
            merged_from: parts
                .iter()
                .map(|p| MergedPart {
                    dir: p.dir.display().to_string(),
                    run_id: p.run_id.clone(),
                    part: describe_part(p),
                })
                .collect(),
            missing_shards: missing_shards.iter().map(|s| s.to_string()).collect(),
            scenario_toml: &first.scenario_toml,
        };
        let run_toml = toml::to_string(&facts).unwrap_or_default();
        write_output(Some(&out.join("run.toml")), |w| {
            w.write_all(run_toml.as_bytes())
        })?;
        Ok((first_block, last_block, wall_ms))
    }
}

fn same_dir(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}
