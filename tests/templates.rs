//! Templated call arguments reach the chain as planned: `approve({peer}, {uint:…})` calls from
//! A's wallets on a spawned anvil; afterwards every (sender, peer) allowance on the Token equals
//! the amount of the last planned call for that pair.

mod common;

use std::collections::BTreeMap;

use alloy::primitives::{Address, U256};
use alloy::providers::ProviderBuilder;
use common::{DEV_KEY, anvil, loadrun, scenario, text};
use loadrun::chain::anvil::AnvilOptions;
use loadrun::chain::contracts::{Token, addresses};

const SCENARIO: &str = r#"
version = 1
[scenario]
name = "templated"
seed = 17
duration = "4s"
[chain]
funder_key_env = "LOADRUN_FUNDER_KEY"
[roles.A]
wallets = 3
[roles.B]
wallets = 3
[funding]
eth = "1 ether"
[[workload]]
type = "call"
from = "A"
to = "token"
signature = "approve(address,uint256)"
args = ["{peer}", "{uint:1..1000000}"]
peers = "B"
rate = 6.0
[expect]
max_failed = 0
"#;

#[tokio::test(flavor = "multi_thread")]
async fn templated_calls_send_their_planned_arguments() {
    let dir = tempfile::tempdir().unwrap();
    let file = scenario(dir.path(), "templated", SCENARIO);
    let node = anvil(AnvilOptions {
        block_time_ms: Some(1000),
        ..Default::default()
    });
    let out = dir.path().join("out");
    let o = loadrun()
        .env("LOADRUN_FUNDER_KEY", DEV_KEY)
        .args(["run", "--rpc", &node.url, "--out"])
        .arg(&out)
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));

    let l = loadrun::scenario::load(&file, 1_000_000).unwrap();
    let plan = l.expand(l.scenario.seed).unwrap();
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
