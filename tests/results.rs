//! Results on a real chain: the sanity check catches a chain tampered with mid-run, expectations
//! pass or fail with the measured value named, two runs give summaries diffable row by row,
//! `--fail-on` works, and report.html renders offline in headless Chromium.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use alloy::primitives::{Address, U256};
use alloy::providers::Provider;
use common::*;
use loadrun::chain::anvil::AnvilOptions;
use loadrun::chain::tx::{Call, Nonces, send_and_wait};

/// Transfers A → B (B only receives) and a few direct channels, 3 s.
fn text_of(extra_chain: &str, expect: &str) -> String {
    format!(
        r#"
version = 1
[scenario]
name = "results"
seed = 9
duration = "3s"
[chain]
{extra_chain}
[roles.A]
wallets = 3
[roles.B]
wallets = 2
[funding]
fanout = 2
eth = "1 ether"
[[workload]]
type = "transfer"
from = "A"
to = "B"
rate = 4.0
amount = "1 gwei"
[[workload]]
type = "channel"
funding = "direct"
between = ["A", "A"]
create_rate = 1.0
close_rate = 0.5
close_delay = "500ms"
update_rate = 1.0
deposit = "0.01 ether"
[expect]
{expect}
"#
    )
}

fn run(path: &Path, out: &Path, extra: &[&str]) -> Output {
    loadrun()
        .arg("run")
        .args(extra)
        .arg("--out")
        .arg(out)
        .arg(path)
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tampered_chain_fails_the_sanity_check_naming_the_wallet() {
    let node = anvil(AnvilOptions::default());
    let dir = tempfile::tempdir().unwrap();
    let path = scenario(
        dir.path(),
        "tamper",
        &text_of("funder_key_env = \"LOADRUN_FUNDER_KEY\"", "max_failed = 0"),
    );
    let out_dir = dir.path().join("out");
    let mut cmd = loadrun();
    cmd.args(["run", "--rpc", &node.url, "--out"])
        .arg(&out_dir)
        .arg(&path)
        .env("LOADRUN_FUNDER_KEY", DEV_KEY);
    let mut run = Watched::spawn(cmd);
    assert!(
        run.until(|l| l.starts_with("funded:")).is_some(),
        "{}",
        run.seen
    );
    // Mid-run, B:1 (which only receives) sends 1 gwei away behind loadrun's back.
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    // Signed with the wallet's own key, straight to anvil.
    let provider = alloy::providers::ProviderBuilder::new()
        .connect_http(node.url.parse().unwrap())
        .erased();
    let b1 = loadrun::wallets::derive(9, "B", 1);
    let call = Call {
        to: Some(Address::repeat_byte(0xdd)),
        value: U256::from(1_000_000_000u64),
        input: Default::default(),
        gas_limit: 21_000,
    };
    send_and_wait(
        &provider,
        (31337, loadrun::chain::receipts::Caps::ANVIL),
        &b1,
        &mut Nonces::default(),
        &call,
        "tamper",
    )
    .await
    .unwrap();
    let code = run.finish();
    let seen = run.seen.clone();
    assert_eq!(code, Some(1), "{seen}");
    assert!(seen.contains("sanity: MISMATCH"), "{seen}");
    assert!(seen.contains("B:1: ETH delta"), "{seen}");
    let md = std::fs::read_to_string(out_dir.join("sanity.md")).unwrap();
    assert!(md.contains("MISMATCH") && md.contains("B:1"), "{md}");
    assert_no_keys(&seen, &secret_keys(9, &[("A", 3), ("B", 2)]));
}

fn two_runs() -> (tempfile::TempDir, PathBuf, PathBuf, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = scenario(
        dir.path(),
        "twice",
        &text_of("", "max_failed = 0\nmax_p99_inclusion = \"10s\""),
    );
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    let (oa, ob) = (run(&path, &a, &[]), run(&path, &b, &[]));
    assert_eq!(oa.status.code(), Some(0), "{}", text(&oa));
    assert_eq!(ob.status.code(), Some(0), "{}", text(&ob));
    (dir, a, b, text(&oa), text(&ob))
}

#[test]
fn summaries_diff_cleanly_and_fail_on_rules_bite() {
    let (_dir, a, b, ta, _) = two_runs();
    assert!(ta.contains("expectation met: expect.max_failed"), "{ta}");
    let names = |d: &Path| -> Vec<String> {
        std::fs::read_to_string(d.join("summary.csv"))
            .unwrap()
            .lines()
            .map(|l| l.rsplit_once(',').unwrap().0.to_string())
            .collect()
    };
    assert_eq!(names(&a), names(&b), "same metric names in the same order");
    let diff = loadrun().arg("diff").arg(&a).arg(&b).output().unwrap();
    assert_eq!(diff.status.code(), Some(0), "{}", text(&diff));
    let table = String::from_utf8_lossy(&diff.stdout).to_string();
    assert!(
        table.starts_with("metric") && table.contains("p99_latency_ms"),
        "{table}"
    );
    let hit = loadrun()
        .arg("diff")
        .arg(&a)
        .arg(&b)
        .args(["--fail-on", "steps>0", "--fail-on", "failed>+0"])
        .output()
        .unwrap();
    assert_eq!(hit.status.code(), Some(1), "{}", text(&hit));
    assert!(text(&hit).contains("hits --fail-on 'steps>0'"));
    let bad = loadrun()
        .arg("diff")
        .arg(&a)
        .arg(&b)
        .args(["--fail-on", "p99>20%"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2), "{}", text(&bad));

    // Snapshots with the measured values redacted: names, order, counts and the sanity table.
    let timing = [
        "rate", "latency", "lateness", "wall_s", "blocks", "gas_used", "fee_wei",
    ];
    let summary: String = std::fs::read_to_string(a.join("summary.csv"))
        .unwrap()
        .lines()
        .map(|l| {
            let (name, value) = l.rsplit_once(',').unwrap();
            if timing.iter().any(|t| name.contains(t)) {
                format!("{name},[measured]\n")
            } else {
                format!("{name},{value}\n")
            }
        })
        .collect();
    insta::assert_snapshot!("summary_csv", summary);
    insta::assert_snapshot!(
        "sanity_md",
        std::fs::read_to_string(a.join("sanity.md")).unwrap()
    );

    // The report renders offline in headless Chromium.
    let html = std::fs::read_to_string(a.join("report.html")).unwrap();
    assert!(!html.contains("http") && !html.contains("src=") && !html.contains("href="));
    let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .find(|p| Path::new(p).exists());
    let Some(chromium) = chromium else {
        eprintln!(
            "skipped the Chromium check: chromium is not installed (apt-get install chromium)"
        );
        return;
    };
    let profile = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("file://{}", a.join("report.html").display()))
        .output()
        .unwrap();
    let dom = String::from_utf8_lossy(&out.stdout);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    assert!(
        dom.contains("loadrun: results") && dom.contains("<svg"),
        "{dom}"
    );
    assert!(
        !log.contains("CONSOLE") && !log.contains("Uncaught"),
        "{log}"
    );
    let again = loadrun().arg("report").arg(&a).output().unwrap();
    assert_eq!(again.status.code(), Some(0), "{}", text(&again));
}

#[test]
fn impossible_expectation_exits_1_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = scenario(
        dir.path(),
        "strict",
        &text_of("", "min_rate = { \"0\" = 1000.0 }"),
    );
    let o = run(&path, &dir.path().join("out"), &[]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    assert!(
        t.contains("EXPECTATION MISSED: expect.min_rate.\"0\" = 1000/s, measured 4.000/s"),
        "{t}"
    );
    assert!(t.contains("sanity: ok"), "{t}");
}
