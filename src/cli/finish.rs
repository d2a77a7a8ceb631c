//! The end of a run (and of a merge): summary.csv, verdict.json, expectations, report.html, the
//! terminal's result lines, the exit code and its reason, and `--json`'s object — plus the
//! verdict and `--json` object of a run that failed before its plan ran.

use std::path::Path;

use crate::error::{Error, ExitCode};
use crate::model::rows::Status;
use crate::pipeline::run::Tallied;
use crate::plan::Plan;
use crate::report::rates::{Window, workload_windows};
use crate::report::sanity::Sanity;
use crate::report::tally::Tally;
use crate::report::verdict::{Cause, Events, Load, Verdict, judge};
use crate::report::{expect, summary};
use crate::scenario::Loaded;

use super::log::say;
use super::write_output;

/// What a run produced besides the plan: rows, figures, events, the sanity check.
pub(super) struct Outcome<'a> {
    pub ex: &'a Tallied,
    pub load: Load,
    pub events: Events,
    /// RPC retries and transient failures over the whole run.
    pub rpc: (u64, u64),
    pub sanity: Option<&'a Sanity>,
    /// An exit decided by what happened (the node went down: exit 3), with its reason.
    pub forced: Option<(u8, String)>,
}

/// Writes the results that follow from the rows, prints the verdict; returns the exit code.
pub(super) fn finish(
    loaded: &Loaded,
    plan: &Plan,
    o: Outcome<'_>,
    dir: &Path,
    json: bool,
) -> Result<u8, Error> {
    let ex = o.ex;
    // Warnings folded so far are counted before the result lines, not after them.
    super::log::flush_repeats();
    say!("{}", describe_rows(plan, &ex.tally));
    let facts = summary::RunFacts {
        duration_ms: plan.duration_ms,
        windows: workload_windows(&loaded.scenario),
        load: o.load,
        wall_ms: ex.wall_ms,
        blocks: match (ex.first_block, ex.last_block) {
            (Some(a), Some(b)) => b - a + 1,
            _ => 0,
        },
        kinds: [plan_kinds(plan), ex.tally.read_kinds()].concat(),
        rpc_retries: o.rpc.0,
        rpc_errors_transient: o.rpc.1,
        resent: ex.resent,
        events: Events {
            interrupted: ex.interrupted,
            ..o.events
        },
    };
    let metrics = summary::summarize(&ex.tally, &facts);
    write_output(Some(&dir.join("summary.csv")), |w| {
        summary::write_summary(&metrics, w)
    })?;
    let verdicts = expect::evaluate(&loaded.scenario.expect, &ex.tally, plan.duration_ms);
    let all = ex.tally.all.rate.rates(Window {
        start_ms: 0,
        stop_ms: plan.duration_ms,
    });
    let verdict = judge(&ex.tally, all, o.load, &facts.events);
    write_verdict(dir, &verdict)?;
    say!("{}", verdict.line);
    if let Some(help) = &verdict.help {
        say!("  help: {help}");
    }
    let (mut code, mut reasons) = expectation_lines(&verdicts);
    if o.sanity.is_some_and(|s| !print_views(&s.views)) {
        code = ExitCode::CHECK_FAILED;
        reasons.push("a view check missed".into());
    }
    super::results::write_report(dir)?;
    say!("results: {} (report.html)", dir.display());
    if !sanity_lines(o.sanity) {
        code = ExitCode::CHECK_FAILED;
        reasons.push("sanity MISMATCH between the run and the chain".into());
    }
    if verdict.cause == Cause::MergeIncomplete {
        code = code.max(ExitCode::CHECK_FAILED);
        reasons.push("the merge is missing parts".into());
    }
    let (code, reason) = match o.forced {
        Some(f) => f,
        None if ex.interrupted => (
            ExitCode::INTERRUPTED,
            "interrupted (Ctrl-C): results flushed".into(),
        ),
        None if reasons.is_empty() => (code, "ok".into()),
        None => (code, reasons.join("; ")),
    };
    if ex.interrupted {
        say!("interrupted: results flushed");
    }
    super::log::set_exit_reason(reason.clone());
    if json {
        let sanity_ok = o.sanity.map(|s| s.ok);
        print_json(
            dir,
            ex,
            (sanity_ok, &verdicts, &verdict),
            (code, &reason),
            &metrics,
        );
    }
    Ok(code)
}

/// `--json`'s object of a run that ran its plan.
fn print_json(
    dir: &Path,
    ex: &Tallied,
    (sanity_ok, expectations, verdict): (Option<bool>, &[expect::Verdict], &Verdict),
    (code, reason): (u8, &str),
    metrics: &[summary::Metric],
) {
    println!(
        "{}",
        serde_json::json!({
            "results": dir.display().to_string(),
            "steps": ex.tally.all.steps,
            "ok": ex.tally.all.ok(),
            "interrupted": ex.interrupted,
            "sanity_ok": sanity_ok,
            "expectations": expectations,
            "cause": verdict.cause,
            "verdict": verdict,
            "exit_code": code,
            "exit_reason": reason,
            "summary": summary::to_json(metrics),
        })
    );
}

fn write_verdict(dir: &Path, v: &Verdict) -> Result<(), Error> {
    write_output(Some(&dir.join("verdict.json")), |w| {
        serde_json::to_writer_pretty(&mut *w, v).map_err(std::io::Error::other)
    })
}

/// Prints each expectation; the exit code and the reasons of the missed ones.
fn expectation_lines(verdicts: &[expect::Verdict]) -> (u8, Vec<String>) {
    let mut code = ExitCode::OK;
    let mut reasons: Vec<String> = Vec::new();
    for v in verdicts {
        if v.met {
            say!(
                "expectation met: {} = {} (measured {})",
                v.name,
                v.limit,
                v.measured
            );
        } else {
            code = ExitCode::CHECK_FAILED;
            reasons.push(format!("expectation {} missed", v.name));
            say!(
                "EXPECTATION MISSED: {} = {}, measured {}",
                v.name,
                v.limit,
                v.measured
            );
        }
    }
    (code, reasons)
}

/// Prints the sanity result; false on a mismatch.
fn sanity_lines(sanity: Option<&Sanity>) -> bool {
    match sanity {
        None => say!("sanity: not checked (the chain could not be read)"),
        Some(s) if s.ok => say!("sanity: ok (the chain matches the run; see sanity.md)"),
        Some(sanity) => {
            say!("sanity: MISMATCH between the run and the chain (see sanity.md):");
            for l in sanity.lines.iter().filter(|l| !l.ok).take(5) {
                say!(
                    "  {}: expected {}, observed {}",
                    l.check,
                    l.expected,
                    l.observed
                );
            }
            for m in sanity.wallet_mismatches.iter().take(5) {
                say!("  {m}");
            }
            return false;
        }
    }
    true
}

/// A run that failed before its plan ran: its verdict (in `dir`'s verdict.json when there is a
/// run directory) and, with `--json`, one object naming the cause and the exit reason.
pub(super) fn setup_failed(e: &Error, dir: Option<&Path>, json: bool) {
    use crate::chain::ChainError;
    let cause = match e {
        Error::Chain(ChainError::Unreachable { .. } | ChainError::RpcUrl { .. }) => {
            Cause::NodeUnreachable
        }
        Error::Interrupted => {
            // Not a failure: no verdict, but `--json` still says how the run ended.
            if json {
                println!(
                    "{}",
                    serde_json::json!({
                        "results": dir.map(|d| d.display().to_string()),
                        "cause": null,
                        "exit_code": e.exit_code(),
                        "exit_reason": super::exit_reason(e),
                    })
                );
            }
            return;
        }
        _ => Cause::SetupFailed,
    };
    let text = e.to_string();
    let (what, help) = match text.split_once("\n  help: ") {
        Some((w, h)) => (w.to_string(), h.to_string()),
        None => (text.clone(), "see the error above and loadrun.log".into()),
    };
    let verdict = Verdict::setup_failure(cause, &what, &help);
    if let Some(d) = dir.filter(|d| d.is_dir()) {
        let _ = write_verdict(d, &verdict);
    }
    if json {
        println!(
            "{}",
            serde_json::json!({
                "results": dir.map(|d| d.display().to_string()),
                "cause": cause,
                "verdict": verdict,
                "exit_code": e.exit_code(),
                "exit_reason": super::exit_reason(e),
                "error": text,
            })
        );
    }
}

/// The step kinds the plan has, in kind order.
pub fn plan_kinds(plan: &Plan) -> Vec<String> {
    crate::plan::StepKind::ALL
        .iter()
        .filter(|k| plan.steps.iter().any(|s| s.kind == **k))
        .map(|k| k.as_str().to_string())
        .collect()
}

/// "A created 29 channels (12 closed), B created 31 …; all 150 steps ok".
pub fn describe_rows(plan: &Plan, t: &Tally) -> String {
    let mut parts = Vec::new();
    for role in &plan.roles {
        let mut bits = Vec::new();
        for (kind, label) in [
            ("create_ledger_channel", "ledger channels created"),
            ("create_channel", "channels created"),
            ("close_channel", "closed"),
            ("update_channel", "updates"),
            ("close_ledger_channel", "ledgers settled"),
            ("transfer", "transfers"),
            ("token_transfer", "token transfers"),
            ("call", "calls"),
        ] {
            let n = t.ok_of(role, kind);
            if n > 0 {
                bits.push(format!("{n} {label}"));
            }
        }
        if !bits.is_empty() {
            parts.push(format!("{role}: {}", bits.join(", ")));
        }
    }
    let (ok, steps) = (t.all.ok(), t.all.steps);
    let verdict = if ok == steps {
        format!("all {steps} steps ok")
    } else {
        let mut by: Vec<String> = Vec::new();
        for st in Status::ALL.iter().skip(1) {
            let n = t.all.count(*st);
            if n > 0 {
                by.push(format!("{n} {}", st.as_str()));
            }
        }
        format!("{ok} of {steps} steps ok, {}", by.join(", "))
    };
    if parts.is_empty() {
        verdict
    } else {
        format!("{}; {verdict}", parts.join("; "))
    }
}

/// Prints each view's verdict like the other expectations; false when one missed.
fn print_views(lines: &[crate::report::sanity::Line]) -> bool {
    let mut all = true;
    for l in lines {
        if l.ok {
            eprintln!(
                "expectation met: expect.view {} {} (observed {})",
                l.check, l.expected, l.observed
            );
        } else {
            all = false;
            eprintln!(
                "EXPECTATION MISSED: expect.view {}: expected {}, observed {}",
                l.check, l.expected, l.observed
            );
        }
    }
    all
}
