//! The part of the plan one `loadrun run` process executes when a scenario is driven from
//! several (`--shard I/N`, `--role R`) and the common instant they start at (`--start-at`).

use std::time::{Duration, SystemTime};

use crate::error::Error;
use crate::plan::Plan;
use crate::plan::shard::{self, Part, Shard};
use crate::scenario::{Scenario, WorkloadKind};
use crate::wallets::Directory;

/// A start this far in the past is refused: the schedule would begin late for every process.
pub const START_SLACK: Duration = Duration::from_secs(1);

/// Which part of the plan this process runs (`--shard`, `--role`) and when it starts
/// (`--start-at`).
#[derive(Debug, Clone, Default)]
pub struct PartSpec {
    pub shard: Option<Shard>,
    pub role: Option<String>,
    pub start_at: Option<SystemTime>,
}

/// `--start-at`: UNIX milliseconds or RFC 3339.
pub fn parse_start_at(s: &str) -> Result<SystemTime, String> {
    let s = s.trim();
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        let ms: u64 = s.parse().map_err(|e| format!("`{s}`: {e}"))?;
        return Ok(SystemTime::UNIX_EPOCH + Duration::from_millis(ms));
    }
    humantime::parse_rfc3339_weak(s).map_err(|e| {
        format!("`{s}` is not an instant ({e}): give UNIX milliseconds or RFC 3339, e.g. 2026-12-02T10:00:00Z")
    })
}

/// UNIX milliseconds of an instant (for run.toml).
pub fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Refuses a start more than `START_SLACK` in the past (exit 2); `when` says at which stage.
pub fn check_start(at: Option<SystemTime>, when: &str) -> Result<(), Error> {
    let Some(at) = at else { return Ok(()) };
    if let Err(e) = at.duration_since(SystemTime::now())
        && e.duration() > START_SLACK
    {
        return Err(Error::Usage(format!(
            "--start-at {} is {:.1} s in the past {when}\n  help: give an instant far enough ahead for every process to connect and check its funding, e.g. --start-at $(( $(date +%s) * 1000 + 60000 ))",
            humantime::format_rfc3339_millis(at),
            e.duration().as_secs_f64()
        )));
    }
    Ok(())
}

/// The part this process runs, or `None` when it runs the whole plan.
pub fn resolve(plan: &Plan, scenario: &Scenario, args: &PartSpec) -> Result<Option<Part>, Error> {
    if args.shard.is_none() && args.role.is_none() {
        return Ok(None);
    }
    let role = match &args.role {
        None => None,
        Some(name) => {
            let Some(r) = scenario.roles.iter().position(|r| &r.name == name) else {
                let names: Vec<&str> = scenario.roles.iter().map(|r| r.name.as_str()).collect();
                return Err(Error::Usage(format!(
                    "--role {name}: the scenario has no role `{name}`\n  help: use one of {}",
                    names.join(", ")
                )));
            };
            if let Some(i) = scenario
                .workloads
                .iter()
                .position(|w| matches!(w.kind, WorkloadKind::Channel(_)))
            {
                return Err(Error::Usage(format!(
                    "--role {name}: workload[{i}] is a channel workload, whose two parties sign each other's states in one process\n  help: use --shard I/N instead: a shard keeps both parties of every channel"
                )));
            }
            Some(r as u16)
        }
    };
    let dir = Directory::new(scenario);
    let total = scenario.total_wallets() as usize;
    if let Some(s) = args.shard
        && s.count as usize > total
    {
        return Err(Error::Usage(format!(
            "--shard {s}: the scenario has {total} wallets, so at most {total} shards can have one each\n  help: use fewer shards"
        )));
    }
    Ok(Some(shard::part(
        plan,
        dir.offsets(),
        total,
        args.shard,
        role,
    )))
}

/// A part runs against a chain the other parts share: refused on a spawned anvil of its own.
pub fn check_remote(part: Option<&Part>, rpc: Option<&str>) -> Result<(), Error> {
    if part.is_some() && rpc.is_none() {
        return Err(Error::Usage(
            "--shard/--role run part of the plan against a chain the other parts share, but no RPC is given (a spawned anvil would be this process's alone)\n  help: give --rpc URL (or [chain].rpc / LOADRUN_RPC), after `loadrun fund SCENARIO --rpc URL`".into(),
        ));
    }
    Ok(())
}

/// `[expect].min_rate` of a part: the part's share of each workload's planned steps (a shard
/// of a 100/s workload holding half its steps must reach 50/s); `loadrun merge` checks the
/// whole rate.
pub fn scale_expect(expect: &mut crate::scenario::Expect, plan: &Plan, part: &Part) {
    for (w, min) in &mut expect.min_rate {
        let of = |it: &mut dyn Iterator<Item = &crate::plan::Step>| {
            it.filter(|s| u32::from(s.workload) == *w).count() as f64
        };
        let all = of(&mut plan.steps.iter());
        let mine = of(&mut part.steps.iter().map(|&i| &plan.steps[i]));
        if all > 0.0 {
            *min *= mine / all;
        }
    }
}

/// "shard 1/2: 512 of 1,000 steps from 200 wallets", for the terminal.
pub fn describe(args: &PartSpec, part: &Part, plan: &Plan) -> String {
    let mut what = Vec::new();
    if let Some(s) = args.shard {
        what.push(format!("shard {s}"));
    }
    if let Some(r) = &args.role {
        what.push(format!("role {r}"));
    }
    let mut wallets: Vec<_> = part.steps.iter().map(|&i| plan.steps[i].actor).collect();
    wallets.sort();
    wallets.dedup();
    format!(
        "{}: {} of {} steps, sent from {} wallets",
        what.join(", "),
        part.steps.len(),
        plan.steps.len(),
        wallets.len()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_at_reads_unix_ms_and_rfc3339() {
        let a = parse_start_at("1764633600000").unwrap();
        let b = parse_start_at("2025-12-02T00:00:00Z").unwrap();
        assert_eq!(a, b);
        assert_eq!(unix_ms(a), 1_764_633_600_000);
        assert!(parse_start_at("tomorrow").is_err());
        assert!(check_start(Some(a), "now").is_err());
        assert!(check_start(Some(SystemTime::now() + Duration::from_secs(5)), "now").is_ok());
    }
}
