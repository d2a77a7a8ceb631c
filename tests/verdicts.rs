//! The verdict names what really happened, on real parts: a node killed mid-run (`node_down`,
//! its steps `node_down`), blocks full under a 2 M gas limit (`blocks_full`), a merge missing a
//! shard (`merge_incomplete`), nothing listening at start (`node_unreachable`, within seconds,
//! one error). Each: the cause and its help from verdict.json (or `--json`), the exit code, a
//! quiet terminal, and a loadrun.log that ends with the exit reason.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::*;
use loadrun::chain::anvil::AnvilOptions;
use serde_json::Value;

const SEED: u64 = 5;

/// tests/fixtures/transfers.toml with `wallets` in each of A and B and no step allowed to fail;
/// `schedule` is the workload's rate lines, `chain` the `[chain]` body. No funder_key_env: a
/// remote funder's key comes from LOADRUN_FUNDER_KEY.
fn transfers(name: &str, duration: &str, wallets: u32, chain: &str, schedule: &str) -> String {
    let (seed, wallets) = (SEED.to_string(), wallets.to_string());
    fixture(
        "transfers",
        &[
            ("name", name),
            ("seed", &seed),
            ("duration", duration),
            ("chain", chain),
            ("senders", &wallets),
            ("receivers", &wallets),
            ("schedule", schedule),
            ("expect", "max_failed = 0"),
        ],
    )
}

fn verdict(dir: &Path) -> Value {
    let t = std::fs::read_to_string(dir.join("verdict.json")).expect("verdict.json");
    serde_json::from_str(&t).expect("verdict.json is JSON")
}

/// The last line of the run's loadrun.log.
fn last_log_line(dir: &Path) -> String {
    let log = std::fs::read_to_string(dir.join("loadrun.log")).expect("loadrun.log");
    log.lines().last().unwrap_or_default().to_string()
}

fn help_of(v: &Value) -> String {
    v["help"].as_str().unwrap_or_default().to_string()
}

fn keys(wallets: u32) -> Vec<String> {
    secret_keys(SEED, &[("A", wallets), ("B", wallets)])
}

#[test]
fn a_node_killed_mid_run_is_named_and_its_steps_say_node_down() {
    let node = anvil(AnvilOptions {
        block_time_ms: Some(1000),
        ..AnvilOptions::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let toml = transfers(
        "killed",
        "20s",
        4,
        "retry_for = \"2s\"",
        "rate = 20.0\narrival = \"constant\"",
    );
    let path = scenario(dir.path(), "killed", &toml);
    let out = dir.path().join("out");
    let mut cmd = loadrun();
    // The terminal as a user sees it (common::loadrun() puts the full log on stderr).
    cmd.env_remove("LOADRUN_LOG")
        .args(["run", "--rpc", &node.url, "--grace", "2s", "--out"])
        .arg(&out)
        .arg(&path)
        .env("LOADRUN_FUNDER_KEY", DEV_KEY);
    let mut run = Watched::spawn(cmd);
    assert!(
        run.until(|l| l.starts_with("funded:")).is_some(),
        "{}",
        run.seen
    );
    wait_for_ok_rows(&out.join("steps.csv"), 20, Duration::from_secs(30));
    drop(node); // killed
    let code = run.finish();
    let seen = run.seen.clone();
    assert_eq!(code, Some(3), "{seen}");
    let v = verdict(&out);
    assert_eq!(v["cause"], "node_down", "{v:#}");
    assert!(help_of(&v).contains("anvil.log"), "{v:#}");
    let d = &v["node_down"];
    assert!(d["unsent"].as_u64().unwrap() > 0, "{v:#}");
    let (at, last) = (
        d["at_s"].as_f64().unwrap(),
        d["last_answer_s"].as_f64().unwrap(),
    );
    assert!(last > 0.0 && at >= last, "{v:#}");
    assert!(seen.contains("NODE STOPPED ANSWERING"), "{seen}");
    assert!(!seen.contains("FELL BEHIND"), "{seen}");
    // The steps the node never answered say why; none is a `timeout`.
    let rows =
        loadrun::report::rows::read_steps(std::fs::File::open(out.join("steps.csv")).unwrap())
            .unwrap();
    assert!(
        rows.iter().any(|r| r.status.as_str() == "node_down"),
        "{seen}"
    );
    assert!(
        rows.iter().all(|r| r.status.as_str() != "timeout"),
        "{seen}"
    );
    // A quiet terminal: the give-ups are folded into a count.
    let give_ups = seen
        .lines()
        .filter(|l| l.contains("giving up after"))
        .count();
    assert!(give_ups <= 3, "{give_ups} give-up lines:\n{seen}");
    let last = last_log_line(&out);
    assert!(
        last.contains("exit 3:") && last.contains("stopped answering"),
        "{last}"
    );
    assert_no_keys(&seen, &keys(4));
    assert_no_keys(&all_files(&out), &keys(4));
}

#[test]
fn full_blocks_are_named_with_the_gas_limit_and_the_base_fee() {
    // 2 M gas holds 95 transfers a block; the ramp asks for up to 200/s.
    let dir = tempfile::tempdir().unwrap();
    let toml = transfers(
        "full",
        "10s",
        20,
        "gas_limit = 2000000\nblock_time = \"1s\"",
        "stages = [{ duration = \"4s\", target = 200.0 }, { duration = \"6s\", target = 200.0 }]",
    );
    let path = scenario(dir.path(), "full", &toml);
    let out = dir.path().join("out");
    let o = loadrun()
        .args(["run", "--receipt-timeout", "4s", "--out"])
        .arg(&out)
        .arg(&path)
        .output()
        .unwrap();
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    let v = verdict(&out);
    assert_eq!(v["cause"], "blocks_full", "{v:#}\n{t}");
    assert!(help_of(&v).contains("gas_limit"), "{v:#}");
    let b = &v["blocks"];
    assert_eq!(b["gas_limit"], 2_000_000, "{v:#}");
    assert!(b["full_blocks"].as_u64().unwrap() >= 3, "{v:#}");
    assert!(
        b["base_fee_max_gwei"].as_f64().unwrap() > b["base_fee_first_gwei"].as_f64().unwrap(),
        "the base fee rose: {v:#}"
    );
    assert!(t.contains("BLOCKS WERE FULL"), "{t}");
    // Never a "0 …" part in a warning.
    assert!(
        !t.lines()
            .any(|l| l.contains("WARN 0 ") || l.contains(", 0 re-signed")),
        "{t}"
    );
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("cause: blocks_full"), "banner");
    assert!(html.contains("base fee per block"), "base fee chart");
    assert!(html.contains("then timeout, node_down"), "failure chart");
    let summary = std::fs::read_to_string(out.join("summary.csv")).unwrap();
    assert!(summary.contains("cause_blocks_full,all,1"), "{summary}");
    let last = last_log_line(&out);
    assert!(
        last.contains("exit 1:") && last.contains("max_failed"),
        "{last}"
    );
}

#[test]
fn a_merge_missing_a_part_names_the_missing_shard() {
    let node = anvil(AnvilOptions {
        block_time_ms: Some(1000),
        ..AnvilOptions::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let toml = transfers("parts", "2s", 2, "", "rate = 5.0");
    let path = scenario(dir.path(), "parts", &toml);
    // The funder's key from a variable of our choosing, named on the command line.
    let with_key = |args: &[&str]| {
        let mut c = loadrun();
        c.args(args)
            .args(["--rpc", &node.url, "--funder-key-env", "MY_FUNDER"])
            .arg(&path)
            .env("MY_FUNDER", DEV_KEY);
        c.output().unwrap()
    };
    let o = with_key(&["fund"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    // A second time on the same chain: nothing to deploy, and it says so.
    let o = with_key(&["fund"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("contracts reused"), "{}", text(&o));
    let s1 = dir.path().join("s1");
    let o = with_key(&["run", "--shard", "1/2", "--out", s1.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let merged = dir.path().join("merged");
    let o = loadrun()
        .arg("merge")
        .arg(&s1)
        .arg("--out")
        .arg(&merged)
        .arg("--json")
        .output()
        .unwrap();
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    let json: Value = serde_json::from_slice(&o.stdout).expect("--json object");
    assert_eq!(json["cause"], "merge_incomplete", "{json:#}");
    assert_eq!(json["exit_code"], 1);
    assert!(
        json["exit_reason"]
            .as_str()
            .unwrap()
            .contains("missing parts"),
        "{json:#}"
    );
    let v = verdict(&merged);
    assert_eq!(v["cause"], "merge_incomplete", "{v:#}");
    assert_eq!(v["missing_parts"], serde_json::json!(["2/2"]), "{v:#}");
    assert!(help_of(&v).contains("--shard"), "{v:#}");
    assert!(
        !t.contains("FELL BEHIND") && !t.contains("give it a machine"),
        "{t}"
    );
    assert!(
        last_log_line(&merged).contains("exit 1:"),
        "{}",
        last_log_line(&merged)
    );
}

#[test]
fn nothing_listening_at_start_fails_within_seconds_with_one_error() {
    let port = common::remote::free_port();
    let dir = tempfile::tempdir().unwrap();
    let toml = transfers("nobody", "2s", 1, "", "rate = 1.0");
    let path = scenario(dir.path(), "nobody", &toml);
    let out = dir.path().join("out");
    let start = Instant::now();
    let o = loadrun()
        .args([
            "run",
            "--json",
            "--rpc",
            &format!("http://127.0.0.1:{port}"),
            "--out",
        ])
        .arg(&out)
        .arg(&path)
        .env("LOADRUN_FUNDER_KEY", DEV_KEY)
        .output()
        .unwrap();
    let took = start.elapsed();
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert_eq!(o.status.code(), Some(3), "{err}");
    assert!(took < Duration::from_secs(8), "took {took:?}");
    let naming = format!("cannot reach the RPC at 127.0.0.1:{port}");
    assert_eq!(err.matches(&naming).count(), 1, "{err}");
    assert!(!err.contains("WARN"), "one error, no warnings:\n{err}");
    let json: Value = serde_json::from_slice(&o.stdout).expect("--json object");
    assert_eq!(json["cause"], "node_unreachable", "{json:#}");
    assert_eq!(json["exit_code"], 3);
    assert!(
        json["exit_reason"].as_str().unwrap().contains(&naming),
        "{json:#}"
    );
    assert!(
        json["verdict"]["help"]
            .as_str()
            .unwrap()
            .contains("node is running")
    );
    assert_eq!(verdict(&out)["cause"], "node_unreachable");
    let last = last_log_line(&out);
    assert!(last.contains("exit 3:") && last.contains(&naming), "{last}");

    // Without a scheme: say to add http://.
    let o = loadrun()
        .args([
            "run",
            "--json",
            "--rpc",
            &format!("127.0.0.1:{port}"),
            "--out",
        ])
        .arg(dir.path().join("noscheme"))
        .arg(&path)
        .env("LOADRUN_FUNDER_KEY", DEV_KEY)
        .output()
        .unwrap();
    let t = text(&o);
    assert_eq!(o.status.code(), Some(3), "{t}");
    assert!(
        t.contains(&format!(
            "add http:// (or https://): --rpc http://127.0.0.1:{port}"
        )),
        "{t}"
    );
    assert!(!t.contains("relative URL"), "{t}");
    let json: Value = serde_json::from_slice(&o.stdout).expect("--json object");
    assert_eq!(json["cause"], "node_unreachable", "{json:#}");
}
