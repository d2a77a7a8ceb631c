//! The fan-out funding tree on anvil with 1-s blocks: 200 wallets funded with ETH and tokens,
//! an interrupted funding resumed without paying anyone twice, a second funding sends nothing,
//! and sweep brings the funds back.

mod common;

use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use alloy::signers::local::PrivateKeySigner;
use common::*;
use loadrun::chain::anvil::AnvilOptions;
use loadrun::chain::contracts::addresses;
use loadrun::chain::gas;
use loadrun::chain::read;
use loadrun::wallets::derive;

const ETH: u128 = 10_000_000_000_000_000; // 0.01 ether per wallet
const TOKENS: u128 = 100 * 1_000_000_000_000_000_000;

/// tests/fixtures/fund200.toml: 200 wallets (A: 120, B: 80), seed 11, a tree of fanout 10.
fn scenario_text() -> String {
    fixture("fund200", &[])
}

fn wallet_addresses() -> Vec<alloy::primitives::Address> {
    let mut out = Vec::new();
    for (role, n) in [("A", 120), ("B", 80)] {
        for i in 0..n {
            out.push(derive(11, role, i).address());
        }
    }
    out
}

fn funder() -> PrivateKeySigner {
    DEV_KEY.parse().unwrap()
}

fn provider(url: &str) -> DynProvider {
    ProviderBuilder::new()
        .connect_http(url.parse().unwrap())
        .erased()
}

fn fund(url: &str, cmd: &str, path: &std::path::Path) -> String {
    let out = loadrun()
        .args([cmd, "--rpc", url])
        .arg(path)
        .env("LOADRUN_FUNDER_KEY", DEV_KEY)
        .output()
        .unwrap();
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert_no_keys(&t, &secret_keys(11, &[("A", 120), ("B", 80)]));
    t
}

/// Leaves (nodes without children: with fanout 10 and 200 wallets, nodes 20..=200, i.e.
/// wallets 19..200) spend nothing, so they must hold exactly the target: a double payment shows.
async fn check_funded(p: &DynProvider) {
    let c = addresses(funder().address());
    let accounts = read::accounts(p, &wallet_addresses(), Some((c.token, c.disperse)))
        .await
        .unwrap();
    // An internal node's reserve: its Disperse (10 recipients, tokens) and approve at the max
    // fee (2 × base fee + tip; anvil starts at 1 gwei base, so under 10 gwei); what it did not
    // burn stays. Limits are estimated on the chain with headroom: at most twice the fallback.
    let g = gas::GasTable::FALLBACK;
    let reserve = 2 * u128::from(g.disperse(10, true) + g.approve) * 10_000_000_000;
    for (i, a) in accounts.iter().enumerate() {
        assert!(a.eth >= ETH && a.tokens == TOKENS, "wallet {i}: {a:?}");
        if i >= 19 {
            assert_eq!(a.eth, ETH, "leaf wallet {i} paid twice or short");
        } else {
            // Internal nodes keep at most their unspent gas reserve.
            assert!(a.eth <= ETH + reserve, "wallet {i} keeps {}", a.eth);
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn tree_funds_200_wallets_then_tops_up_nothing_then_sweeps() {
    let node = anvil(AnvilOptions {
        block_time_ms: Some(1000),
        ..AnvilOptions::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let path = scenario(dir.path(), "fund200", &scenario_text());
    let t = fund(&node.url, "fund", &path);
    assert!(t.contains("funded: 200 wallets"), "{t}");
    assert!(t.contains("in 3 levels"), "{t}");
    let p = provider(&node.url);
    check_funded(&p).await;

    let again = fund(&node.url, "fund", &path);
    assert!(again.contains("0 transactions sent"), "{again}");

    let swept = fund(&node.url, "sweep", &path);
    assert!(swept.contains("swept: 200 wallets"), "{swept}");
    let c = addresses(funder().address());
    let accounts = read::accounts(&p, &wallet_addresses(), Some((c.token, c.disperse)))
        .await
        .unwrap();
    for (i, a) in accounts.iter().enumerate() {
        assert_eq!(a.tokens, 0, "wallet {i} kept tokens");
        assert!(a.eth < ETH / 100, "wallet {i} kept {} wei", a.eth);
    }
    let again = fund(&node.url, "sweep", &path);
    assert!(again.contains("0 transactions sent"), "{again}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_interrupted_funding_resumes_without_paying_twice() {
    let node = anvil(AnvilOptions {
        block_time_ms: Some(1000),
        ..AnvilOptions::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let path = scenario(dir.path(), "fund200", &scenario_text());
    let mut cmd = loadrun();
    cmd.args(["fund", "--rpc", &node.url])
        .arg(&path)
        .env("LOADRUN_FUNDER_KEY", DEV_KEY);
    let mut run = Watched::spawn(cmd);
    let level1 = run.until(|l| l.contains("funding level 1/3") && l.contains("included"));
    assert!(level1.is_some(), "{}", run.seen);
    // Killed hard between levels: level 2 may be partly sent.
    run.child.kill().unwrap();
    run.child.wait().unwrap();
    let p = provider(&node.url);
    let c = addresses(funder().address());
    let before = read::accounts(&p, &wallet_addresses(), Some((c.token, c.disperse)))
        .await
        .unwrap();
    assert!(
        before.iter().any(|a| a.eth == 0),
        "funding was complete before the kill"
    );
    let t = fund(&node.url, "fund", &path);
    assert!(t.contains("funded: 200 wallets"), "{t}");
    check_funded(&p).await;
    let again = fund(&node.url, "fund", &path);
    assert!(again.contains("0 transactions sent"), "{again}");
}
