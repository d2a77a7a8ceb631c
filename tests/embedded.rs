//! The embedded chain behaves like a chain: with no `[chain]` section a mixed scenario at a few
//! hundred steps per second runs all ok on 1-s blocks with the node's memory bounded; the
//! spawned node's block gas limit is sized for the plan (read back from the chain); a remote
//! chain whose blocks cannot hold the plan's busiest block gets a warning.

mod common;

use common::*;
use loadrun::chain::anvil::AnvilOptions;

const SEED: u64 = 5;

/// ~230 steps/s for 15 s of every workload type, on the default chain (no `[chain]`).
fn busy_mixed() -> String {
    format!(
        r#"
version = 1
[scenario]
name = "busy"
seed = {SEED}
duration = "15s"
[roles.A]
wallets = 30
[roles.B]
wallets = 30
[roles.C]
wallets = 20
[funding]
fanout = 10
eth = "2 ether"
tokens = "500"
[[workload]]
type = "channel"
funding = "direct"
between = ["A", "B"]
create_rate = 15.0
close_rate = 7.0
close_delay = "3s"
update_rate = 30.0
deposit = "0.001 ether"
[[workload]]
type = "channel"
funding = "ledger"
between = ["A", "C"]
create_rate = 8.0
close_rate = 3.0
close_delay = "2s"
deposit = "0.001 ether"
ledger_rate = 4.0
ledger_duration = "3s"
ledger_delay = "4s"
close_ledgers = true
[[workload]]
type = "transfer"
from = "C"
to = "A"
rate = 100.0
amount = "100 gwei"
arrival = "poisson"
[[workload]]
type = "token_transfer"
from = "B"
to = "C"
rate = 50.0
amount = "1"
[[workload]]
type = "call"
from = "A"
to = "token"
signature = "approve(address,uint256)"
args = ["0x000000000000000000000000000000000000dEaD", "1000"]
rate = 20.0
[expect]
max_failed = 0
"#
    )
}

#[test]
fn a_busy_mixed_scenario_runs_all_ok_on_the_default_chain_with_bounded_node_memory() {
    let dir = tempfile::tempdir().unwrap();
    let path = scenario(dir.path(), "busy", &busy_mixed());
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

/// 600 token transfers per second for 2 s: 39 M gas of limits in the busiest block.
fn heavy(chain: &str) -> String {
    format!(
        "version = 1\n[scenario]\nname = \"heavy\"\nseed = 3\nduration = \"2s\"\n[chain]\n{chain}\n[roles.A]\nwallets = 4\n[roles.B]\nwallets = 4\n[funding]\neth = \"1 ether\"\ntokens = \"1000\"\n[[workload]]\ntype = \"token_transfer\"\nfrom = \"A\"\nto = \"B\"\nrate = 600.0\namount = \"1\"\narrival = \"constant\"\n"
    )
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
    let path = scenario(
        dir.path(),
        "heavy",
        &heavy("funder_key_env = \"LOADRUN_FUNDER_KEY\""),
    );
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
