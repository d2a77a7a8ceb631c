//! End to end on a spawned anvil: the shipped scenarios run with every step ok, counts per role
//! as planned and the chain (Adjudicator getters, balances) matching the plan; failing steps
//! still give one row each; SIGINT flushes and exits 130 with no anvil left.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use common::*;
use loadrun::plan::{Plan, StepKind};
use loadrun::report::rows::{Status, StepRow, read_steps};

fn plan_of(path: &Path) -> Plan {
    let l = loadrun::scenario::load(path, 50_000_000).unwrap();
    loadrun::plan::expand_loaded(&l, l.scenario.seed).unwrap()
}

fn rows_of(dir: &Path) -> Vec<StepRow> {
    read_steps(std::fs::File::open(dir.join("steps.csv")).unwrap()).unwrap()
}

fn role_counts(plan: &Plan) -> BTreeMap<(String, String), usize> {
    let mut m = BTreeMap::new();
    for s in &plan.steps {
        *m.entry((
            plan.roles[usize::from(s.actor.role)].clone(),
            s.kind.to_string(),
        ))
        .or_default() += 1;
    }
    m
}

fn keys_of(path: &Path) -> Vec<String> {
    let l = loadrun::scenario::load(path, 50_000_000).unwrap();
    let roles: Vec<(&str, u32)> = l
        .scenario
        .roles
        .iter()
        .map(|r| (r.name.as_str(), r.wallets))
        .collect();
    secret_keys(l.scenario.seed, &roles)
}

/// Runs a shipped scenario and checks everything the executor issue asks of it.
fn end_to_end(file: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
    let dir = tempfile::tempdir().unwrap();
    let out = loadrun()
        .args(["run", "--json", "--out"])
        .arg(dir.path())
        .arg(&path)
        .output()
        .unwrap();
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    let plan = plan_of(&path);
    let rows = rows_of(dir.path());
    assert_eq!(rows.len(), plan.steps.len(), "one row per step");
    let bad: Vec<&StepRow> = rows.iter().filter(|r| r.status != Status::Ok).collect();
    assert!(bad.is_empty(), "not ok: {bad:?}");
    let done: BTreeMap<(String, String), usize> = rows.iter().fold(BTreeMap::new(), |mut m, r| {
        *m.entry((r.role.clone(), r.kind.clone())).or_default() += 1;
        m
    });
    assert_eq!(done, role_counts(&plan), "counts per role and kind");
    // The chain, read through the Adjudicator's getters, matches the plan.
    let sanity: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("sanity.json")).unwrap())
            .unwrap();
    assert_eq!(sanity["ok"], true, "{sanity:#}");
    let count = |kind: StepKind, ledger: bool| {
        plan.steps
            .iter()
            .filter(|s| s.kind == kind && s.ledger.is_some() == ledger)
            .count() as i64
    };
    let observed = |check: &str| -> i64 {
        let l = sanity["lines"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["check"] == check)
            .unwrap();
        l["observed"].as_str().unwrap().parse().unwrap()
    };
    let direct_open = count(StepKind::CreateChannel, false) - count(StepKind::CloseChannel, false);
    assert_eq!(observed("direct channels open (change)"), direct_open);
    assert_eq!(
        observed("direct channels closed (change)"),
        count(StepKind::CloseChannel, false)
    );
    let ledgers = count(StepKind::CreateLedgerChannel, false);
    let settled = count(StepKind::CloseLedgerChannel, false);
    assert_eq!(observed("ledger channels open (change)"), ledgers - settled);
    assert_eq!(observed("ledger channels closed (change)"), settled);
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["summary"]["all"]["ok"], plan.steps.len() as i64);
    for f in [
        "summary.csv",
        "run.toml",
        "sanity.md",
        "report.html",
        "anvil.log",
    ] {
        assert!(dir.path().join(f).exists(), "{f} missing");
    }
    let keys = keys_of(&path);
    assert_no_keys(&t, &keys);
    assert_no_keys(&all_files(dir.path()), &keys);
}

#[test]
fn quickstart_end_to_end() {
    end_to_end("scenarios/quickstart.toml");
}

#[test]
fn direct_example_end_to_end() {
    end_to_end("scenarios/direct.toml");
}

#[test]
fn ledger_example_end_to_end() {
    end_to_end("scenarios/ledger.toml");
}

#[test]
fn dapp_example_end_to_end() {
    // A user contract from an artifact, templated arguments on a ramp, view expectations.
    end_to_end("scenarios/dapp.toml");
}

#[test]
fn mixed_workloads_end_to_end() {
    end_to_end("scenarios/mixed.toml");
}

#[test]
fn failing_steps_still_give_one_row_each_and_miss_max_failed() {
    let dir = tempfile::tempdir().unwrap();
    // tests/fixtures/failing.toml: transfers, and a `call` that always reverts.
    let path = scenario(dir.path(), "failing", &fixture("failing", &[]));
    let out_dir = dir.path().join("out");
    let out = loadrun()
        .args(["run", "--out"])
        .arg(&out_dir)
        .arg(&path)
        .output()
        .unwrap();
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(t.contains("EXPECTATION MISSED: expect.max_failed"), "{t}");
    assert!(
        t.contains("sanity: ok"),
        "fees of reverted calls are accounted: {t}"
    );
    let plan = plan_of(&path);
    let rows = rows_of(&out_dir);
    assert_eq!(rows.len(), plan.steps.len());
    for r in &rows {
        if r.kind == "call" {
            assert_eq!(r.status, Status::Failed, "{r:?}");
            assert_eq!(r.error_class(), Some("reverted"), "{r:?}");
            assert!(r.fee_wei.unwrap() > 0, "a reverted tx still pays");
        } else {
            assert_eq!(r.status, Status::Ok, "{r:?}");
        }
    }
}

#[test]
fn sigint_mid_run_flushes_and_exits_130_with_no_anvil_left() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/direct.toml");
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = loadrun();
    cmd.args(["run", "--grace", "2s", "--out"])
        .arg(dir.path())
        .arg(&path);
    let mut run = Watched::spawn(cmd);
    let pid = run
        .until(|l| l.contains("spawned anvil") && l.contains("pid="))
        .as_deref()
        .and_then(anvil_pid);
    let pid = pid.unwrap_or_else(|| panic!("{}", run.seen));
    assert!(
        run.until(|l| l.starts_with("funded:")).is_some(),
        "{}",
        run.seen
    );
    // Once a few steps have landed (of 30 s of them), interrupt.
    wait_for_ok_rows(&dir.path().join("steps.csv"), 5, Duration::from_secs(60));
    run.interrupt();
    let code = run.finish();
    assert_eq!(code, Some(130), "{}", run.seen);
    let rows = rows_of(dir.path());
    let plan = plan_of(&path);
    assert_eq!(
        rows.len(),
        plan.steps.len(),
        "one row per step after Ctrl-C"
    );
    let ok = rows.iter().filter(|r| r.status == Status::Ok).count();
    let not_sent = rows.iter().filter(|r| r.status == Status::NotSent).count();
    assert!(ok > 0 && not_sent > 0, "ok {ok}, not_sent {not_sent}");
    assert!(!alive(pid), "anvil {pid} left behind");
    // Ctrl-C reached the whole foreground group, yet the node outlived loadrun's flush.
    for f in ["summary.csv", "sanity.md", "report.html", "run.toml"] {
        assert!(
            dir.path().join(f).exists(),
            "{f} missing after Ctrl-C: {}",
            run.seen
        );
    }
}

#[test]
fn underfunded_wallets_are_refused_at_the_funding_key_before_any_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let path = scenario(
        dir.path(),
        "poor",
        "version = 1\n[scenario]\nname = \"poor\"\nseed = 1\nduration = \"2s\"\n[roles.A]\nwallets = 2\n[funding]\nfanout = 2\neth = \"1 gwei\"\n[[workload]]\ntype = \"transfer\"\nfrom = \"A\"\nto = \"A\"\nrate = 2.0\namount = \"1 gwei\"\n",
    );
    let out = loadrun()
        .args(["run", "--out"])
        .arg(dir.path().join("out"))
        .arg(&path)
        .output()
        .unwrap();
    let t = text(&out);
    assert_eq!(out.status.code(), Some(2), "{t}");
    assert!(
        t.contains("poor.toml:10:1: `funding.eth`: does not cover the plan"),
        "{t}"
    );
    assert!(t.contains("help: raise [funding].eth to at least"), "{t}");
    assert!(!t.contains("funded:"), "nothing may be sent: {t}");
}
