//! The parts a merge reads back: each run directory's run.toml (`PartRun`), the check that
//! they are disjoint parts of one plan, their summaries, observed.json and blocks.csv.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::usage;
use crate::error::Error;
use crate::pipeline::write_output;
use crate::plan::shard::Shard;
use crate::report::sanity::Snapshots;

/// What a part's run.toml says about it.
pub(super) struct PartRun {
    pub(super) dir: PathBuf,
    pub(super) run_id: String,
    pub(super) scenario_toml: String,
    pub(super) seed: u64,
    pub(super) plan_format: u64,
    pub(super) chain_id: u64,
    pub(super) shard: Option<Shard>,
    pub(super) role: Option<String>,
    pub(super) first_block: Option<u64>,
    pub(super) last_block: Option<u64>,
    pub(super) wall_ms: f64,
    pub(super) block_time: String,
    pub(super) start_at_ms: Option<u64>,
    pub(super) rate_scale: f64,
    pub(super) scenario_dir: Option<String>,
}

pub(super) fn read_part(dir: &Path) -> Result<PartRun, Error> {
    let path = dir.join("run.toml");
    let text = std::fs::read_to_string(&path).map_err(|e| {
        usage(format!(
            "cannot read {}: {e}\n  help: give the run directories written by `loadrun run --shard I/N` (or --role R)",
            path.display()
        ))
    })?;
    let t: toml::Table = text
        .parse()
        .map_err(|e| usage(format!("{} is not a loadrun run.toml: {e}", path.display())))?;
    let s = |k: &str| t.get(k).and_then(|v| v.as_str()).map(str::to_string);
    let n = |k: &str| t.get(k).and_then(|v| v.as_integer()).map(|v| v as u64);
    let need = |k: &str| {
        usage(format!(
            "{} has no `{k}`\n  help: it was not written by `loadrun run` of this version",
            path.display()
        ))
    };
    let shard = match s("shard") {
        Some(text) => Some(
            text.parse::<Shard>()
                .map_err(|e| usage(format!("{}: shard {e}", path.display())))?,
        ),
        None => None,
    };
    Ok(PartRun {
        dir: dir.to_path_buf(),
        run_id: s("run_id").unwrap_or_default(),
        scenario_toml: s("scenario_toml").ok_or_else(|| need("scenario_toml"))?,
        seed: n("seed").ok_or_else(|| need("seed"))?,
        plan_format: n("plan_format").ok_or_else(|| need("plan_format"))?,
        chain_id: n("chain_id").unwrap_or(0),
        shard,
        role: s("role"),
        first_block: n("first_block"),
        last_block: n("last_block"),
        wall_ms: t.get("wall_ms").and_then(|v| v.as_float()).unwrap_or(0.0),
        block_time: s("block_time").unwrap_or_default(),
        start_at_ms: n("start_at_ms"),
        rate_scale: t
            .get("rate_scale")
            .and_then(|v| v.as_float())
            .unwrap_or(1.0),
        scenario_dir: s("scenario_dir"),
    })
}

/// Refuses parts of different plans, whole runs, duplicates; names the missing shards.
pub(super) fn check_parts(parts: &[PartRun]) -> Result<Vec<Shard>, Error> {
    let first = &parts[0];
    for p in parts {
        if p.shard.is_none() && p.role.is_none() {
            return Err(usage(format!(
                "{} ran the whole plan, not a part of it\n  help: merge the runs of `loadrun run --shard I/N` (or --role R) of one scenario",
                p.dir.display()
            )));
        }
        let differs = |what: &str, a: String, b: String| {
            usage(format!(
                "{} and {} are runs of different plans: {what} {a} vs {b}\n  help: merge only the parts of one run (same scenario file, seed and shard count)",
                first.dir.display(),
                p.dir.display()
            ))
        };
        if p.seed != first.seed {
            return Err(differs("seed", first.seed.to_string(), p.seed.to_string()));
        }
        if p.plan_format != first.plan_format {
            return Err(differs(
                "plan format",
                first.plan_format.to_string(),
                p.plan_format.to_string(),
            ));
        }
        if p.rate_scale != first.rate_scale {
            return Err(differs(
                "--rate-scale",
                first.rate_scale.to_string(),
                p.rate_scale.to_string(),
            ));
        }
        if p.chain_id != first.chain_id {
            return Err(differs(
                "chain id",
                first.chain_id.to_string(),
                p.chain_id.to_string(),
            ));
        }
        if p.scenario_toml != first.scenario_toml {
            let (a, b): (Vec<&str>, Vec<&str>) = (
                first.scenario_toml.lines().collect(),
                p.scenario_toml.lines().collect(),
            );
            let at = (0..a.len().max(b.len()))
                .find(|&i| a.get(i) != b.get(i))
                .map(|i| {
                    let show =
                        |l: Option<&&str>| l.map_or("(end of file)".into(), |l| format!("`{l}`"));
                    (
                        format!("scenario line {}:", i + 1),
                        show(a.get(i)),
                        show(b.get(i)),
                    )
                })
                .unwrap_or((
                    "the scenario text differs in".into(),
                    "whitespace".into(),
                    "line endings".into(),
                ));
            return Err(differs(&at.0, at.1, at.2));
        }
        let count = |r: &PartRun| r.shard.map(|s| s.count);
        if count(p) != count(first) {
            let show = |r: &PartRun| {
                r.shard
                    .map_or("no --shard".into(), |s| format!("of {}", s.count))
            };
            return Err(differs("shard count", show(first), show(p)));
        }
    }
    let mut seen: BTreeMap<(Option<u32>, Option<String>), &Path> = BTreeMap::new();
    for p in parts {
        let key = (p.shard.map(|s| s.index), p.role.clone());
        if let Some(other) = seen.insert(key, &p.dir) {
            return Err(usage(format!(
                "{} and {} ran the same part ({})\n  help: give each shard's run directory once",
                other.display(),
                p.dir.display(),
                describe_part(p)
            )));
        }
    }
    let Some(count) = first.shard.map(|s| s.count) else {
        return Ok(Vec::new());
    };
    Ok((1..=count)
        .filter(|i| !parts.iter().any(|p| p.shard.is_some_and(|s| s.index == *i)))
        .map(|index| Shard { index, count })
        .collect())
}

pub(super) fn describe_part(p: &PartRun) -> String {
    match (&p.shard, &p.role) {
        (Some(s), Some(r)) => format!("shard {s}, role {r}"),
        (Some(s), None) => format!("shard {s}"),
        (None, Some(r)) => format!("role {r}"),
        (None, None) => "the whole plan".into(),
    }
}

/// What the merged run.toml records.
/// Each part's summary.csv, read once (a part without one counts as empty).
pub(super) fn summaries(parts: &[PartRun]) -> Vec<Vec<crate::report::summary::Metric>> {
    parts
        .iter()
        .filter_map(|p| std::fs::read_to_string(p.dir.join("summary.csv")).ok())
        .filter_map(|t| crate::report::summary::read_summary(t.as_bytes()).ok())
        .collect()
}

/// A metric of `all` in each part's summary.
fn values<'a>(
    summaries: &'a [Vec<crate::report::summary::Metric>],
    metric: &'a str,
) -> impl Iterator<Item = f64> + 'a {
    summaries
        .iter()
        .flatten()
        .filter(move |m| m.metric == metric && m.kind == "all")
        .map(|m| m.value)
}

/// The sum of a count over the parts.
pub(super) fn summed(summaries: &[Vec<crate::report::summary::Metric>], metric: &str) -> u64 {
    values(summaries, metric).map(|v| v as u64).sum()
}

/// The largest of a per-process figure (such as CPU %) over the parts.
pub(super) fn largest(
    summaries: &[Vec<crate::report::summary::Metric>],
    metric: &str,
) -> Option<f64> {
    values(summaries, metric).reduce(f64::max)
}

/// The chain before the earliest part and after the latest, when every part read it.
pub(super) fn union_snapshots(parts: &[PartRun]) -> Option<Snapshots> {
    let mut all: Vec<Snapshots> = Vec::new();
    for p in parts {
        let text = std::fs::read_to_string(p.dir.join("observed.json")).ok()?;
        all.push(serde_json::from_str(&text).ok()?);
    }
    let before = all
        .iter()
        .min_by_key(|s| s.before_block.unwrap_or(u64::MAX))?;
    let after = all.iter().max_by_key(|s| s.after_block.unwrap_or(0))?;
    Some(Snapshots {
        before_block: before.before_block,
        before: before.before.clone(),
        after_block: after.after_block,
        after: after.after.clone(),
    })
}

/// blocks.csv of the union: every block any part saw, once, by number.
pub(super) fn merge_blocks(parts: &[PartRun], out: &Path) -> Result<(), Error> {
    let mut blocks: BTreeMap<u64, crate::report::blocks::BlockRow> = BTreeMap::new();
    for p in parts {
        if let Ok(t) = std::fs::read_to_string(p.dir.join("blocks.csv")) {
            for b in crate::report::blocks::read_csv(&t) {
                blocks.entry(b.number).or_insert(b);
            }
        }
    }
    let rows: Vec<_> = blocks.into_values().collect();
    write_output(Some(&out.join("blocks.csv")), |w| {
        crate::report::blocks::write_csv(&rows, w).map_err(std::io::Error::other)
    })
}
