//! Other nodes than the spawned anvil: Hardhat Network (pinned in package.json; no
//! `eth_getBlockReceipts`, so receipts come from batched per-transaction lookups) runs the
//! quickstart and the mixed scenario all ok through `--rpc`; a chain without a base fee (anvil
//! `--hardfork berlin` through `[chain].anvil_args`) runs the mixed scenario with legacy
//! transactions.

mod common;

use alloy::providers::{Provider, ProviderBuilder};
use common::remote::{assert_nonces_match_rows, hardhat, mixed, run_remote};
use common::*;

#[tokio::test(flavor = "multi_thread")]
async fn hardhat_runs_the_quickstart_and_the_mixed_scenario_all_ok() {
    let node = hardhat("cancun");
    let p = ProviderBuilder::new().connect_http(node.url.parse().unwrap());
    let methods = p
        .raw_request::<_, serde_json::Value>("eth_getBlockReceipts".into(), ("latest",))
        .await;
    assert!(
        methods.is_err(),
        "this Hardhat serves eth_getBlockReceipts: the fallback is untested"
    );

    let dir = tempfile::tempdir().unwrap();
    let quick = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/scenarios/quickstart.toml"
    ))
    .unwrap();
    // The quickstart spawns its chain; pointed at Hardhat it needs the funder's key variable.
    let quick = if quick.contains("[chain]") {
        quick.replace(
            "[chain]",
            "[chain]\nfunder_key_env = \"LOADRUN_FUNDER_KEY\"",
        )
    } else {
        format!("{quick}\n[chain]\nfunder_key_env = \"LOADRUN_FUNDER_KEY\"\n")
    };
    let qdir = dir.path().join("quick");
    std::fs::create_dir_all(&qdir).unwrap();
    let path = scenario(&qdir, "quickstart", &quick);
    let run = run_remote(&node.url, &path, &qdir);
    let t = run.text();
    assert_eq!(run.output.status.code(), Some(0), "{t}");
    assert!(t.contains("sanity: ok"), "{t}");
    assert!(run.rows().iter().all(|r| r.status.as_str() == "ok"), "{t}");
    eprintln!("hardhat quickstart: {}", run.figures());

    let mdir = dir.path().join("mixed");
    std::fs::create_dir_all(&mdir).unwrap();
    let path = scenario(&mdir, "mixed", &mixed("hh-mixed", "15s", FUNDER_KEY_ENV));
    let run = run_remote(&node.url, &path, &mdir);
    run.assert_all_ok();
    assert_nonces_match_rows(&node.url, &run.rows()).await;
    eprintln!("hardhat mixed: {}", run.figures());
}

#[test]
fn a_chain_without_a_base_fee_runs_the_mixed_scenario_with_legacy_transactions() {
    let dir = tempfile::tempdir().unwrap();
    let path = scenario(
        dir.path(),
        "berlin",
        &mixed(
            "berlin",
            "12s",
            "block_time = \"1s\"\nanvil_args = [\"--hardfork\", \"berlin\"]",
        ),
    );
    let run = common::remote::run_spawned(&path, dir.path());
    run.assert_all_ok();
    let t = run.text();
    assert!(t.contains("legacy"), "{t}");
    eprintln!("berlin mixed: {}", run.figures());
}
