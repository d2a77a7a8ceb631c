//! Templated call arguments reach the chain as planned: `approve({peer}, {uint:…})` calls from
//! A's wallets on a spawned anvil; afterwards every (sender, peer) allowance on the Token equals
//! the amount of the last planned call for that pair.

mod common;

use std::collections::BTreeMap;

use alloy::primitives::{Address, U256};
use alloy::providers::ProviderBuilder;
use common::{DEV_KEY, anvil, fixture, loadrun, run_on, scenario, text};
use loadrun::chain::anvil::AnvilOptions;
use loadrun::chain::contracts::{Token, addresses};

#[tokio::test(flavor = "multi_thread")]
async fn templated_calls_send_their_planned_arguments() {
    let dir = tempfile::tempdir().unwrap();
    // tests/fixtures/templated.toml: 24 `approve({peer}, {uint:…})` calls from A's wallets.
    let file = scenario(dir.path(), "templated", &fixture("templated", &[]));
    let node = anvil(AnvilOptions {
        block_time_ms: Some(1000),
        ..Default::default()
    });
    let out = dir.path().join("out");
    let o = run_on(&node.url, &file, &out);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));

    let l = loadrun::scenario::load(&file, 1_000_000).unwrap();
    let plan = loadrun::plan::expand_loaded(&l, l.scenario.seed).unwrap();
    assert_eq!(plan.steps.len(), 24);
    // The last planned amount per (sender, spender): calls of one wallet go out in step order.
    let mut last: BTreeMap<(Address, Address), U256> = BTreeMap::new();
    for i in 0..plan.steps.len() {
        let s = &plan.steps[i];
        let sender = loadrun::wallets::derive(17, "A", s.actor.index).address();
        let args = plan.call_args(i).unwrap();
        last.insert((sender, args[0].parse().unwrap()), args[1].parse().unwrap());
    }
    let funder = alloy::signers::local::PrivateKeySigner::from_bytes(&DEV_KEY.parse().unwrap())
        .unwrap()
        .address();
    let p = ProviderBuilder::new().connect_http(node.url.parse().unwrap());
    let token = Token::new(addresses(funder).token, &p);
    for ((owner, spender), amount) in &last {
        let on_chain = token.allowance(*owner, *spender).call().await.unwrap();
        assert_eq!(on_chain, *amount, "allowance({owner}, {spender})");
    }
    assert!(
        last.len() > 3,
        "several (sender, peer) pairs: {}",
        last.len()
    );
}

/// The dapp example on a chain the test keeps: deployed by the first run, reused by the second;
/// the contract's total equals its start plus every planned argument of the ok calls; the
/// second run's `count == {ok:0}` no longer holds (the reused contract counts both runs) and
/// the run exits 1 naming the call.
#[tokio::test(flavor = "multi_thread")]
async fn a_user_contract_is_deployed_once_reused_and_its_state_checked() {
    let dir = tempfile::tempdir().unwrap();
    let root = env!("CARGO_MANIFEST_DIR");
    let text = std::fs::read_to_string(format!("{root}/scenarios/dapp.toml"))
        .unwrap()
        .replace(
            "../tests/fixtures/out/Counter.sol/Counter.json",
            &format!("{root}/tests/fixtures/out/Counter.sol/Counter.json"),
        )
        .replace(
            "[roles.A]",
            "[chain]\nfunder_key_env = \"LOADRUN_FUNDER_KEY\"\n\n[roles.A]",
        );
    // The expected total, computed from the plan: the constructor's 1000 plus every planned
    // argument (all steps are expected ok), checked by a view expectation of the run itself.
    let draft = scenario(dir.path(), "draft", &text);
    let l = loadrun::scenario::load(&draft, 1_000_000).unwrap();
    let plan = loadrun::plan::expand_loaded(&l, l.scenario.seed).unwrap();
    let sum: u64 = (0..plan.steps.len())
        .filter_map(|i| plan.call_args(i))
        .map(|a| a[0].parse::<u64>().unwrap())
        .sum();
    let text = format!(
        "{text}\n[[expect.view]]\nto = \"counter\"\ncall = \"total()(uint256)\"\nequals = \"{}\"\n",
        1000 + sum
    );
    let file = scenario(dir.path(), "dapp", &text);
    let node = anvil(AnvilOptions {
        block_time_ms: Some(1000),
        ..Default::default()
    });
    let run = |out: &str| {
        loadrun()
            .env("LOADRUN_FUNDER_KEY", DEV_KEY)
            .args(["run", "--rpc", &node.url, "--out"])
            .arg(dir.path().join(out))
            .arg(&file)
            .output()
            .unwrap()
    };
    let first = run("first");
    let t = text_of(&first);
    assert_eq!(first.status.code(), Some(0), "{t}");
    assert!(t.contains("(deployed)"), "{t}");
    assert!(t.contains("setup: 8 calls sent, 0 skipped"), "{t}");
    assert!(
        t.contains("expectation met: expect.view counter.count()(uint256) = 150"),
        "{t}"
    );

    assert!(
        t.contains(&format!(
            "expectation met: expect.view counter.total()(uint256) = {}",
            1000 + sum
        )),
        "{t}"
    );
    let at = Address::from(l.scenario.contracts[0].address);
    let p = ProviderBuilder::new().connect_http(node.url.parse().unwrap());
    let total = total_of(&p, at).await;
    assert_eq!(
        total,
        U256::from(1000 + sum),
        "start + every planned argument"
    );

    let second = run("second");
    let t = text_of(&second);
    assert_eq!(second.status.code(), Some(1), "{t}");
    assert!(
        t.contains(&format!("contract counter: {at} (reused)")),
        "{t}"
    );
    assert!(
        t.contains("setup: 0 calls sent, 8 skipped (already done)"),
        "{t}"
    );
    assert!(
        t.contains(
            "EXPECTATION MISSED: expect.view counter.count()(uint256): expected = 150, observed 300"
        ),
        "{t}"
    );
    let md = std::fs::read_to_string(dir.path().join("second/sanity.md")).unwrap();
    assert!(
        md.contains("| counter.count()(uint256) | = 150 | 300 | **no** |"),
        "{md}"
    );
    assert_eq!(total_of(&p, at).await, U256::from(1000 + 2 * sum));
}

fn text_of(o: &std::process::Output) -> String {
    text(o)
}

async fn total_of(p: &impl alloy::providers::Provider, at: Address) -> U256 {
    let input = alloy::primitives::keccak256("total()")[..4].to_vec();
    let raw = p
        .call(
            alloy::rpc::types::TransactionRequest::default()
                .to(at)
                .input(alloy::primitives::Bytes::from(input).into()),
        )
        .await
        .unwrap();
    U256::from_be_slice(&raw)
}
