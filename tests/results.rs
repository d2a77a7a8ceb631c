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

/// tests/fixtures/results.toml: transfers A → B (B only receives) and a few direct channels,
/// 3 s; `chain` and `expect` are the bodies of those tables.
fn results(chain: &str, expect: &str) -> String {
    fixture("results", &[("chain", chain), ("expect", expect)])
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
        &results(FUNDER_KEY_ENV, "max_failed = 0"),
    );
    let out_dir = dir.path().join("out");
    let mut run = spawn_funded(&node.url, &path, &out_dir, &[]);
    // Mid-run (steps have landed, so the start balances were read), B:1 (which only receives)
    // sends 1 gwei away behind loadrun's back.
    wait_for_ok_rows(
        &out_dir.join("steps.csv"),
        1,
        std::time::Duration::from_secs(60),
    );
    // Signed with the wallet's own key, straight to anvil.
    let provider = alloy::providers::ProviderBuilder::new()
        .connect_http(node.url.parse().unwrap())
        .erased();
    let b1 = loadrun::wallets::derive(9, "B", 1);
    let call = Call {
        access_list: None,
        blob: None,
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
        &results("", "max_failed = 0\nmax_p99_inclusion = \"10s\""),
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
        "rate", "latency", "lateness", "wall_s", "blocks", "gas_used", "fee_wei", "kept", "cpu",
        "cause_",
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
    // Parsed, not grepped: the percentile table's cells and the per-block chart's points.
    let table = table_cells(&html, "percentiles");
    assert_eq!(
        table[0],
        [
            "kind", "quantity", "count", "p50 ms", "p90 ms", "p99 ms", "p99.9 ms", "max ms"
        ]
    );
    let transfer_latency = table
        .iter()
        .find(|r| r[0] == "transfer" && r[1] == "latency")
        .expect("a transfer latency row");
    assert!(transfer_latency[2].parse::<u64>().unwrap() > 0);
    let p: Vec<f64> = transfer_latency[3..]
        .iter()
        .map(|c| c.parse().unwrap())
        .collect();
    assert!(p.windows(2).all(|w| w[0] <= w[1]) && p[0] > 0.0, "{p:?}");
    let gas = chart_points(&html, "gas per block: used vs the block gas limit");
    assert_eq!(gas.len(), 2, "used and limit series");
    assert!(gas.iter().all(|s| !s.is_empty()), "{gas:?}");
    let txs = chart_points(&html, "transactions per block");
    assert!(txs.len() == 1 && txs[0].len() >= 2, "{txs:?}");
    let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .find(|p| Path::new(p).exists());
    let Some(chromium) = chromium else {
        missing_tool(
            "chromium (for the report rendering check)",
            ".ci/run installs Debian's chromium under CI=true (apt-get install chromium)",
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
        &results("", "min_rate = { \"0\" = 1000.0 }"),
    );
    let o = run(&path, &dir.path().join("out"), &[]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    // 12 transfers in 3 s, included over the time they really took (first send to last
    // inclusion, with 1-s blocks a little more than the window): at most 4/s.
    let prefix = "EXPECTATION MISSED: expect.min_rate.\"0\" = 1000/s, measured ";
    let line = t
        .lines()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("{t}"));
    let measured: f64 = line[prefix.len()..].trim_end_matches("/s").parse().unwrap();
    assert!((2.0..=4.0).contains(&measured), "{line}");
    assert!(t.contains("sanity: ok"), "{t}");
}

/// The text cells of each row of the `<table class="CLASS">` in `html`.
fn table_cells(html: &str, class: &str) -> Vec<Vec<String>> {
    let start = html
        .find(&format!("<table class=\"{class}\">"))
        .unwrap_or_else(|| panic!("no table {class}"));
    let end = start + html[start..].find("</table>").unwrap();
    html[start..end]
        .split("<tr")
        .skip(1)
        .map(|row| {
            row.split(['<', '>'])
                .collect::<Vec<_>>()
                .windows(2)
                .filter(|w| {
                    w[0] == "td"
                        || w[0] == "th"
                        || w[0].starts_with("td ")
                        || w[0].starts_with("th ")
                })
                .map(|w| w[1].to_string())
                .collect()
        })
        .collect()
}

/// The points of each polyline in the SVG chart titled `title`.
fn chart_points(html: &str, title: &str) -> Vec<Vec<(f64, f64)>> {
    let at = html
        .find(&format!(">{title}<"))
        .unwrap_or_else(|| panic!("no chart {title}"));
    let svg_end = at + html[at..].find("</svg>").unwrap();
    html[at..svg_end]
        .split("<polyline")
        .skip(1)
        .map(|p| {
            let pts = p
                .split("points=\"")
                .nth(1)
                .unwrap()
                .split('"')
                .next()
                .unwrap();
            pts.split_whitespace()
                .map(|xy| {
                    let (x, y) = xy.split_once(',').unwrap();
                    (x.parse().unwrap(), y.parse().unwrap())
                })
                .collect()
        })
        .collect()
}
