//! The binary's contract: exit codes, where output goes, and the documented help.

use std::process::{Command, Output};

fn loadrun(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_loadrun"))
        .args(args)
        .env("LOADRUN_LOG", "warn")
        .output()
        .expect("run loadrun")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn plan_prints_csv_on_stdout_and_counts_on_stderr() {
    let out = loadrun(&["plan", "scenarios/direct.toml"]);
    assert_eq!(out.status.code(), Some(0));
    let stdout = text(&out.stdout);
    assert!(
        stdout.starts_with("step,at_ms,kind,workload,role,wallet,job,ledger,peer,amount,args\n")
    );
    assert_eq!(stdout.lines().count(), 151);
    assert!(
        text(&out.stderr)
            .contains("150 channels will be created (A 71, B 79), none of them closed"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn ledger_example_counts() {
    let out = loadrun(&["plan", "scenarios/ledger.toml", "--format", "jsonl"]);
    assert_eq!(out.status.code(), Some(0));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("30 channels will be created") && stderr.contains("5 ledger channels"),
        "{stderr}"
    );
    assert!(text(&out.stdout).starts_with("{\"format\":\"loadrun-plan\",\"version\":3,"));
}

#[test]
fn seed_flag_changes_the_plan_and_out_writes_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.csv");
    let b = dir.path().join("b.csv");
    assert_eq!(
        loadrun(&[
            "plan",
            "scenarios/direct.toml",
            "--out",
            a.to_str().unwrap()
        ])
        .status
        .code(),
        Some(0)
    );
    assert_eq!(
        loadrun(&[
            "plan",
            "scenarios/direct.toml",
            "--seed",
            "43",
            "--out",
            b.to_str().unwrap()
        ])
        .status
        .code(),
        Some(0)
    );
    assert_ne!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
}

#[test]
fn validate_exit_codes() {
    let ok = loadrun(&[
        "validate",
        "scenarios/quickstart.toml",
        "scenarios/mixed.toml",
    ]);
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok.stderr));
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "version = 1\n[scenario]\nname = \"x\"\nseed = 1\nduration = \"1s\"\nbogus = 1\n",
    )
    .unwrap();
    let out = loadrun(&["validate", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("bad.toml:6:1: `scenario.bogus`: unknown key `bogus`"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(
        loadrun(&["validate", "no/such/file.toml"]).status.code(),
        Some(2)
    );
}

#[test]
fn usage_errors_exit_2_and_help_lists_exit_codes() {
    assert_eq!(loadrun(&["plan"]).status.code(), Some(2));
    assert_eq!(loadrun(&["frobnicate"]).status.code(), Some(2));
    let help = loadrun(&["--help"]);
    assert_eq!(help.status.code(), Some(0));
    let h = text(&help.stdout);
    assert!(h.contains("Exit codes:") && h.contains("130"), "{h}");
}

#[test]
fn schema_command_prints_the_committed_schema() {
    let out = loadrun(&["schema"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        text(&out.stdout),
        std::fs::read_to_string("schemas/scenario.schema.json").unwrap()
    );
}

#[test]
fn validate_checks_funding_values_and_reachable_min_rates_without_a_chain() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("short.toml");
    std::fs::write(
        &path,
        "version = 1\n[scenario]\nname = \"short\"\nseed = 1\nduration = \"10s\"\n[roles.A]\nwallets = 1\n[roles.B]\nwallets = 1\n[funding]\nstrategy = \"flat\"\neth = \"0.001 ether\"\n[[workload]]\ntype = \"transfer\"\nfrom = \"A\"\nto = \"B\"\nrate = 2.0\namount = \"0.01 ether\"\n[expect]\nmin_rate = { \"0\" = 5.0 }\n",
    )
    .unwrap();
    let out = loadrun(&["validate", path.to_str().unwrap()]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    // Where (file:line:col and key), what, and how to fix it.
    assert!(err.contains("short.toml:12:1: `funding.eth`"), "{err}");
    assert!(
        err.contains("wallet A:0 sends 0.2 ether in values alone"),
        "{err}"
    );
    assert!(
        err.contains("raise [funding].eth above \"0.2 ether\""),
        "{err}"
    );
    assert!(
        err.contains("`expect.min_rate.0`: 5/s is above what workload 0"),
        "{err}"
    );
    assert!(
        err.contains("lower min_rate.\"0\" to at most 2.00"),
        "{err}"
    );
}

#[test]
fn diff_says_when_its_rules_pass_and_refuses_rules_that_cannot_fire() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("summary.csv");
    std::fs::write(
        &csv,
        "metric,kind,value\nschedule_kept,all,1\ncause_ok,all,1\n",
    )
    .unwrap();
    let c = csv.to_str().unwrap();
    let out = loadrun(&[
        "diff",
        c,
        c,
        "--fail-on",
        "schedule_kept<1",
        "--fail-on",
        "cause_ok<1",
    ]);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        text(&out.stderr).contains("ok: none of the 2 --fail-on rules fired"),
        "{}",
        text(&out.stderr)
    );
    let out = loadrun(&["diff", c, c, "--fail-on", "schedule_kept<-100%"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("'schedule_kept<1'"),
        "{}",
        text(&out.stderr)
    );
}
