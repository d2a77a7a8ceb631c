//! The embedded chain behaves like a chain: with no `[chain]` section a mixed scenario at a few
//! hundred steps per second runs all ok on 1-s blocks with the node's memory bounded; the
//! spawned node's block gas limit is sized for the plan (read back from the chain); a remote
//! chain whose blocks cannot hold the plan's busiest block gets a warning.

mod common;

use common::*;
use loadrun::chain::anvil::AnvilOptions;

#[test]
fn a_busy_mixed_scenario_runs_all_ok_on_the_default_chain_with_bounded_node_memory() {
    let dir = tempfile::tempdir().unwrap();
    // tests/fixtures/busy.toml: ~230 steps/s for 15 s of every workload type, no `[chain]`.
    let path = scenario(dir.path(), "busy", &fixture("busy", &[]));
    let run = common::remote::run_spawned(&path, dir.path());
    let (out, t) = (run.dir.clone(), run.text());
    assert_eq!(run.output.status.code(), Some(0), "{t}");
    assert!(t.contains("1s blocks"), "{t}");
    let rows =
        loadrun::report::rows::read_steps(std::fs::File::open(out.join("steps.csv")).unwrap())
            .unwrap();
    assert!(rows.len() > 3_000, "{}", rows.len());
    assert!(rows.iter().all(|r| r.status.as_str() == "ok"), "{t}");
    assert!(t.contains("sanity: ok"), "{t}");
    // Real blocks: transactions share blocks, so far fewer blocks than transactions.
    let on_chain = rows.iter().filter(|r| !r.tx_hash.is_empty()).count();
    let blocks: std::collections::BTreeSet<u64> = rows.iter().filter_map(|r| r.block).collect();
    assert!(
        blocks.len() * 10 < on_chain,
        "{} blocks for {on_chain} txs",
        blocks.len()
    );
    let node = std::fs::read_to_string(out.join("node.csv")).unwrap();
    let peak_kb = node
        .lines()
        .skip(1)
        .filter_map(|l| l.split(',').nth(2)?.parse::<u64>().ok())
        .max()
        .expect("node.csv has samples");
    assert!(peak_kb < 500 * 1024, "anvil peaked at {peak_kb} kB");
    let run_toml = std::fs::read_to_string(out.join("run.toml")).unwrap();
    assert!(run_toml.contains("block_time = \"1s\""), "{run_toml}");
    eprintln!(
        "busy mixed: {} steps all ok, {} blocks, anvil peak RSS {} MB",
        rows.len(),
        blocks.len(),
        peak_kb / 1024
    );
}

/// tests/fixtures/heavy.toml: 600 token transfers per second for 2 s (39 M gas of limits in
/// the busiest block), `chain` as its `[chain]` body.
fn heavy(chain: &str) -> String {
    fixture("heavy", &[("chain", chain)])
}

#[test]
fn the_spawned_chain_gets_a_gas_limit_that_fits_the_plan() {
    let dir = tempfile::tempdir().unwrap();
    let path = scenario(dir.path(), "heavy", &heavy(""));
    let out = loadrun().arg("fund").arg(&path).output().unwrap();
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    // Read back from the chain's latest block: 2 × 39 M.
    assert!(t.contains("block gas limit 78000000"), "{t}");
    assert!(
        !t.contains("more than one block of this chain holds"),
        "{t}"
    );
}

#[test]
fn a_remote_chain_too_small_for_the_plan_gets_a_warning() {
    let node = anvil(AnvilOptions {
        block_time_ms: Some(1000),
        gas_limit: Some(10_000_000),
        ..AnvilOptions::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let path = scenario(dir.path(), "heavy", &heavy(FUNDER_KEY_ENV));
    let out = loadrun()
        .args(["fund", "--rpc", &node.url])
        .arg(&path)
        .env("LOADRUN_FUNDER_KEY", DEV_KEY)
        .output()
        .unwrap();
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(t.contains("block gas limit 10000000"), "{t}");
    assert!(
        t.contains("more than one block of this chain holds (10000000)"),
        "{t}"
    );
}
