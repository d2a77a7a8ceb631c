//! Chain layer on a real anvil (spawned per test): lifecycle of the spawned node (drop, panic,
//! SIGINT to loadrun), the chain-id guard, the funder cost check, CREATE2 reuse, wallets.

mod common;

use std::time::Duration;

use alloy::providers::Provider;
use common::*;
use loadrun::chain::anvil::AnvilOptions;
use loadrun::chain::contracts::{addresses, ensure_deployed};
use loadrun::chain::tx::Nonces;
use loadrun::scenario::ChainConfig;

/// tests/fixtures/small.toml (5 wallets, transfers A → B for 2 s) with `chain` as its
/// `[chain]` body.
fn small(chain: &str) -> String {
    fixture("small", &[("chain", chain)])
}

/// `small` against a node loadrun did not spawn: the funder's key from LOADRUN_FUNDER_KEY,
/// then `extra_chain`.
fn remote(extra_chain: &str) -> String {
    small(&format!("{FUNDER_KEY_ENV}\n{extra_chain}"))
}

/// Waits (at most 5 s) until process `pid` is gone.
fn wait_gone(pid: u32, what: &str) {
    wait_until(what, Duration::from_secs(5), || !alive(pid));
}

#[test]
fn dropping_the_guard_kills_anvil() {
    let node = anvil(AnvilOptions::default());
    let pid = node.pid;
    assert!(alive(pid));
    drop(node);
    wait_gone(pid, &format!("anvil {pid} to end after the guard dropped"));
}

#[test]
fn a_panic_kills_anvil() {
    let mut pid = 0;
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let node = anvil(AnvilOptions::default());
        pid = node.pid;
        panic!("boom while anvil {} runs", node.pid);
    }));
    assert!(r.is_err());
    assert!(pid > 0);
    wait_gone(pid, &format!("anvil {pid} to end after a panic"));
}

#[test]
fn sigint_to_loadrun_kills_its_anvil_and_exits_130() {
    let dir = tempfile::tempdir().unwrap();
    // 2-s blocks: deploy and funding wait for blocks, so loadrun is busy when interrupted.
    let path = scenario(dir.path(), "slow", &small("block_time = \"2s\""));
    let mut cmd = loadrun();
    cmd.arg("fund").arg(&path);
    let mut run = Watched::spawn(cmd);
    let line = run.until(|l| l.contains("spawned anvil"));
    let pid = line.as_deref().and_then(anvil_pid);
    let pid = pid.unwrap_or_else(|| panic!("no spawn line in:\n{}", run.seen));
    assert!(alive(pid));
    run.interrupt();
    let code = run.finish();
    let seen = run.seen.clone();
    assert_eq!(code, Some(130), "{seen}");
    assert!(seen.contains("interrupted"), "{seen}");
    wait_gone(pid, &format!("anvil {pid} to end with loadrun"));
    assert_no_keys(&seen, &secret_keys(7, &[("A", 3), ("B", 2)]));
}

#[test]
fn chain_id_one_is_refused_unless_allowed() {
    let node = anvil(AnvilOptions {
        chain_id: Some(1),
        ..AnvilOptions::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let refused = scenario(dir.path(), "refused", &remote(""));
    let out = loadrun()
        .args(["fund", "--rpc", &node.url])
        .arg(&refused)
        .env("LOADRUN_FUNDER_KEY", DEV_KEY)
        .output()
        .unwrap();
    let t = text(&out);
    assert_eq!(out.status.code(), Some(3), "{t}");
    assert!(
        t.contains("chain id 1 is not allowed") && t.contains("allow_chain_ids"),
        "{t}"
    );
    let allowed = scenario(dir.path(), "allowed", &remote("allow_chain_ids = [1]"));
    let out = loadrun()
        .args(["fund", "--rpc", &node.url])
        .arg(&allowed)
        .env("LOADRUN_FUNDER_KEY", DEV_KEY)
        .output()
        .unwrap();
    let t2 = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t2}");
    assert!(t2.contains("funded: 5 wallets"), "{t2}");
    let keys = secret_keys(7, &[("A", 3), ("B", 2)]);
    assert_no_keys(&t, &keys);
    assert_no_keys(&t2, &keys);
}

#[tokio::test]
async fn a_poor_funder_is_refused_before_any_transaction() {
    let node = anvil(AnvilOptions::default());
    // A key whose account holds nothing on this chain.
    let poor = loadrun::wallets::derive(999, "poor-funder", 0);
    let poor_hex = alloy::hex::encode(poor.to_bytes());
    let dir = tempfile::tempdir().unwrap();
    let path = scenario(dir.path(), "poor", &remote(""));
    let p = alloy::providers::ProviderBuilder::new()
        .connect_http(node.url.parse().unwrap())
        .erased();
    let block_before = p.get_block_number().await.unwrap();
    let out = loadrun()
        .args(["fund", "--rpc", &node.url])
        .arg(&path)
        .env("LOADRUN_FUNDER_KEY", &poor_hex)
        .output()
        .unwrap();
    let t = text(&out);
    assert_eq!(out.status.code(), Some(3), "{t}");
    assert!(t.contains("needs") && t.contains("funder has 0 wei"), "{t}");
    assert_eq!(
        p.get_transaction_count(poor.address()).await.unwrap(),
        0,
        "the poor funder sent something"
    );
    assert_eq!(
        p.get_block_number().await.unwrap(),
        block_before,
        "a block was mined"
    );
    let mut keys = secret_keys(7, &[("A", 3), ("B", 2)]);
    keys.push(poor_hex);
    assert_no_keys(&t, &keys);
}

#[tokio::test]
async fn contracts_are_reused_at_their_create2_addresses() {
    let chain = loadrun::chain::connect(&ChainConfig::default(), None, None)
        .await
        .unwrap();
    let mut nonces = Nonces::default();
    let first = ensure_deployed(&chain, &mut nonces).await.unwrap();
    assert_eq!(first.sent, 3);
    assert_eq!(first.contracts, addresses(chain.funder.address()));
    let nonce = chain
        .provider
        .get_transaction_count(chain.funder.address())
        .await
        .unwrap();
    let second = ensure_deployed(&chain, &mut nonces).await.unwrap();
    assert_eq!(second.sent, 0);
    assert_eq!(second.contracts, first.contracts);
    assert_eq!(
        chain
            .provider
            .get_transaction_count(chain.funder.address())
            .await
            .unwrap(),
        nonce,
        "the second deploy sent a transaction"
    );
}

#[test]
fn same_seed_same_addresses_and_no_key_in_the_list() {
    let dir = tempfile::tempdir().unwrap();
    let path = scenario(dir.path(), "w", &small(""));
    let run = |seed: &str| {
        let out = loadrun()
            .args(["wallets", "--seed", seed])
            .arg(&path)
            .output()
            .unwrap();
        assert!(out.status.success());
        String::from_utf8(out.stdout).unwrap()
    };
    let (a, b, c) = (run("7"), run("7"), run("8"));
    assert_eq!(a, b);
    assert_ne!(a, c);
    let lines: Vec<&str> = a.lines().collect();
    assert_eq!(lines[0], "role,index,address");
    assert_eq!(lines.len(), 6);
    assert!(lines[1].starts_with("A,0,0x") && lines[5].starts_with("B,1,0x"));
    assert_no_keys(&a, &secret_keys(7, &[("A", 3), ("B", 2)]));
}

#[test]
fn contract_artifacts_match_a_fresh_compile() {
    let solc = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("node_modules/solc");
    if !solc.exists() {
        missing_tool(
            "solc (node_modules/solc)",
            "`npm ci` installs the pinned solc from package.json; .ci/run runs it first",
        );
        return;
    }
    // loadrun's contracts, and the test dapp's Foundry-style artifact.
    for script in ["contracts/compile.mjs", "tests/fixtures/compile.mjs"] {
        let out = std::process::Command::new("node")
            .args([script, "--check"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .expect("node");
        assert!(out.status.success(), "{script}: {}", text(&out));
    }
}

#[test]
fn a_missing_anvil_is_reported_with_where_loadrun_looked_and_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let path = scenario(dir.path(), "small", &small(""));
    let out = loadrun()
        .current_dir(dir.path())
        .arg("fund")
        .arg(&path)
        .env("PATH", dir.path())
        .env("LOADRUN_ANVIL", dir.path().join("no-such-anvil"))
        .output()
        .unwrap();
    let t = text(&out);
    assert_eq!(out.status.code(), Some(3), "{t}");
    for needle in [
        "anvil not found",
        "$LOADRUN_ANVIL",
        "PATH",
        "node_modules/.bin/anvil",
        "npm install --save-dev @foundry-rs/anvil-",
        "--rpc",
    ] {
        assert!(t.contains(needle), "missing {needle:?} in {t}");
    }
}

#[tokio::test]
async fn a_chain_without_the_create2_deployer_gets_it_first() {
    let node = anvil(AnvilOptions {
        extra_args: vec!["--disable-default-create2-deployer".into()],
        ..AnvilOptions::default()
    });
    let provider = alloy::providers::ProviderBuilder::new()
        .connect_http(node.url.parse().unwrap())
        .erased();
    let deployer = loadrun::chain::contracts::CREATE2_DEPLOYER;
    assert!(provider.get_code_at(deployer).await.unwrap().is_empty());
    let chain = loadrun::chain::Chain {
        provider: provider.clone(),
        url: node.url.clone(),
        chain_id: 31337,
        funder: DEV_KEY.parse().unwrap(),
        caps: loadrun::chain::receipts::Caps::ANVIL,
        gas: loadrun::chain::gas::GasTable::FALLBACK,
        rpc_stats: Default::default(),
        policy: Default::default(),
        wire: None,
        block_ms: None,
        anvil: None,
    };
    let cost = loadrun::chain::contracts::deploy_cost(&chain, 1)
        .await
        .unwrap();
    assert!(cost > loadrun::chain::contracts::CREATE2_DEPLOYER_FUNDING);
    let mut nonces = Nonces::default();
    let d = ensure_deployed(&chain, &mut nonces).await.unwrap();
    assert_eq!(d.sent, 3);
    assert!(!provider.get_code_at(deployer).await.unwrap().is_empty());
    assert_eq!(d.contracts, addresses(chain.funder.address()));
    assert_eq!(
        loadrun::chain::contracts::deploy_cost(&chain, 1)
            .await
            .unwrap(),
        0
    );
}
