//! The results commands: `loadrun report RUN_DIR` (re-render report.html from the files of a
//! run) and `loadrun diff BASE NEW` (compare two runs' summary.csv, with --fail-on rules).

use std::path::{Path, PathBuf};

use crate::error::{Error, ExitCode};
use crate::model::rows;
use crate::report::diff::{self, FailOn};
use crate::report::html::{HtmlInput, render};
use crate::report::node::{self, NodeSample};
use crate::report::sanity::Sanity;
use crate::report::tally::Tally;
use crate::report::{expect, summary};
use crate::scenario::{self, DEFAULT_MAX_STEPS};

#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// A run directory (results/<name>/<run-id>/) holding steps.csv and summary.csv.
    pub run_dir: PathBuf,
}

#[derive(Debug, clap::Args)]
pub struct DiffArgs {
    /// The baseline run directory (or its summary.csv), or a `loadrun capacity` directory
    /// (compared by found_rate, found_scale, found_p99_inclusion_ms, knee_rate, …).
    pub base: PathBuf,
    /// The new run directory (or its summary.csv), or capacity directory.
    pub new: PathBuf,
    /// Exit 1 when a change hits RULE: 'p99_latency_ms>+20%' (relative), 'failed>+5'
    /// (absolute change), 'p99_lateness_ms>50' (new value), '<' forms, 'metric[kind]>…'.
    #[arg(long = "fail-on", value_name = "RULE", value_parser = diff::parse_fail_on)]
    pub fail_on: Vec<FailOn>,
}

fn read(path: &Path) -> Result<String, Error> {
    std::fs::read_to_string(path).map_err(|e| {
        Error::Usage(format!(
            "cannot read {}: {e}\n  help: give a run directory written by `loadrun run` (results/<name>/<run-id>/)",
            path.display()
        ))
    })
}

fn summary_of(p: &Path) -> Result<Vec<summary::Metric>, Error> {
    // A `loadrun capacity` directory compares by its search's answer.
    if p.is_dir() && p.join("capacity.csv").exists() {
        let file = p.join("capacity.csv");
        let steps = crate::report::capacity::read_csv(read(&file)?.as_bytes()).map_err(|e| {
            Error::Usage(format!(
                "{} is not a loadrun capacity.csv: {e}",
                file.display()
            ))
        })?;
        return Ok(crate::report::capacity::metrics(&steps));
    }
    let file = if p.is_dir() {
        p.join("summary.csv")
    } else {
        p.to_path_buf()
    };
    summary::read_summary(read(&file)?.as_bytes()).map_err(|e| {
        Error::Usage(format!(
            "{} is not a loadrun summary.csv: {e}",
            file.display()
        ))
    })
}

pub fn diff_cmd(args: &DiffArgs) -> Result<u8, Error> {
    let base = summary_of(&args.base)?;
    let new = summary_of(&args.new)?;
    let changes = diff::compare(&base, &new);
    print!("{}", diff::render_table(&changes));
    let hits = diff::triggered(&args.fail_on, &changes).map_err(Error::Usage)?;
    for h in &hits {
        eprintln!("FAIL: {h}");
    }
    if hits.is_empty() && !args.fail_on.is_empty() {
        eprintln!(
            "ok: none of the {} --fail-on rule{} fired",
            args.fail_on.len(),
            if args.fail_on.len() == 1 { "" } else { "s" }
        );
    } else if hits.is_empty() {
        eprintln!(
            "ok: compared {} metrics (no --fail-on rules given)",
            changes.len()
        );
    }
    Ok(if hits.is_empty() {
        ExitCode::OK
    } else {
        ExitCode::CHECK_FAILED
    })
}

pub fn report_cmd(args: &ReportArgs) -> Result<u8, Error> {
    let out = write_report(&args.run_dir)?;
    eprintln!("wrote {}", out.display());
    Ok(ExitCode::OK)
}

/// Renders `report.html` of a run directory from its files; returns its path.
pub fn write_report(dir: &Path) -> Result<PathBuf, Error> {
    let metrics = summary_of(dir)?;
    let run: toml::Table = read(&dir.join("run.toml"))
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or_default();
    let text = |k: &str| run_text(&run, k);
    let scenario_toml = text("scenario_toml").unwrap_or_default();
    let parsed = scenario_of(dir, &run, &scenario_toml);

    // steps.csv is streamed into the aggregates: a report of a million-step run holds no rows.
    let path = dir.join("steps.csv");
    let file = std::fs::File::open(&path).map_err(|e| {
        Error::Usage(format!(
            "cannot read {}: {e}\n  help: give a run directory written by `loadrun run` (results/<name>/<run-id>/)",
            path.display()
        ))
    })?;
    let mut tally = parsed
        .as_ref()
        .map_or_else(|| Tally::new(Vec::new()), Tally::for_scenario);
    rows::each_step(std::io::BufReader::new(file), |r| tally.add(&r))
        .map_err(|e| Error::Usage(format!("{}/steps.csv is malformed: {e}", dir.display())))?;
    let verdicts = parsed
        .map(|s| expect::evaluate(&s.expect, &tally, s.duration_ms))
        .unwrap_or_default();
    let sanity: Option<Sanity> = std::fs::read_to_string(dir.join("sanity.json"))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok());
    let blocks = std::fs::read_to_string(dir.join("blocks.csv"))
        .map(|t| crate::report::blocks::read_csv(&t))
        .unwrap_or_default();
    let bottleneck: Option<crate::report::verdict::Verdict> =
        std::fs::read_to_string(dir.join("verdict.json"))
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok());
    // Time axes end where the run ended (wall_ms), else at the last result.
    let end_s = run
        .get("wall_ms")
        .and_then(|v| v.as_float().or_else(|| v.as_integer().map(|i| i as f64)))
        .map(|ms| ms / 1000.0);
    let node_csv = std::fs::read_to_string(dir.join("node.csv")).unwrap_or_default();
    let samples: Vec<NodeSample> = node::read_csv(&node_csv);
    let node_extra = crate::model::telemetry::read_extra_columns(&node_csv);
    let facts = run_facts(&run);
    let title = format!(
        "loadrun: {} ({})",
        text("scenario_name").unwrap_or_else(|| "run".into()),
        text("run_id").unwrap_or_default()
    );
    let html = render(&HtmlInput {
        title: &title,
        tally: &tally,
        summary: &metrics,
        verdicts: &verdicts,
        sanity: sanity.as_ref().map(|s| s.lines.as_slice()),
        wallet_mismatches: sanity
            .as_ref()
            .map_or(&[][..], |s| s.wallet_mismatches.as_slice()),
        node: &samples,
        node_extra: &node_extra,
        scenario_toml: &scenario_toml,
        facts: &facts,
        blocks: &blocks,
        bottleneck: bottleneck.as_ref(),
        end_s,
    });
    let out = dir.join("report.html");
    super::write_output(Some(&out), |w| w.write_all(html.as_bytes()))?;
    Ok(out)
}

/// A run.toml value as text.
fn run_text(run: &toml::Table, k: &str) -> Option<String> {
    run.get(k).map(|v| match v {
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    })
}

/// The run's scenario parsed again from run.toml (its rate scale applied, `[contracts]`
/// artifacts where the scenario file was); `None` when it no longer parses.
fn scenario_of(dir: &Path, run: &toml::Table, scenario_toml: &str) -> Option<scenario::Scenario> {
    let scale = run
        .get("rate_scale")
        .and_then(|v| v.as_float())
        .unwrap_or(1.0);
    let name = format!("{} (scenario_toml)", dir.join("run.toml").display());
    let base = run_text(run, "scenario_dir")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from);
    scenario::parse_in(
        &name,
        scenario_toml,
        (DEFAULT_MAX_STEPS, scale),
        base.as_deref(),
    )
    .ok()
}

/// The report's facts table from run.toml: what ran where, and the part, scale, set-up and
/// contracts when the run had them.
fn run_facts(run: &toml::Table) -> Vec<(String, String)> {
    let text = |k: &str| run_text(run, k);
    let mut facts: Vec<(String, String)> = [
        "scenario_name",
        "scenario_file",
        "run_id",
        "started_at",
        "seed",
        "chain_id",
        "chain",
        "first_block",
        "last_block",
        "loadrun_version",
    ]
    .iter()
    .filter_map(|k| Some((k.replace('_', " "), text(k)?)))
    .collect();
    // `[contracts]` addresses, shard, rate scale and setup, when the run had them.
    for k in ["shard", "role", "rate_scale", "setup_sent", "setup_skipped"] {
        if let Some(v) = text(k).filter(|v| !(k == "rate_scale" && v == "1.0")) {
            facts.push((k.replace('_', " "), v));
        }
    }
    if let Some(toml::Value::Table(c)) = run.get("contracts") {
        for (name, at) in c {
            facts.push((
                format!("contract {name}"),
                at.as_str().unwrap_or_default().to_string(),
            ));
        }
    }
    facts
}
