//! `access_list` on call workloads: "auto" takes the node's eth_createAccessList answer for the
//! workload's first call and every call carries it, as type 2 on a chain with a base fee and
//! as type 1 (EIP-2930) on a legacy chain (anvil `--hardfork berlin`); explicit entries are
//! carried as written.

mod common;

use alloy::eips::eip2930::AccessList;
use alloy::primitives::{Address, B256, U256};
use alloy::providers::{Provider, ProviderBuilder};
use alloy::rpc::types::TransactionRequest;
use alloy::sol_types::SolCall;
use common::{DEV_KEY, FUNDER_KEY_ENV, anvil, run_on, scenario, steps_rows, text};
use loadrun::chain::anvil::AnvilOptions;
use loadrun::chain::contracts::{Token, addresses};
use loadrun::report::rows::Status;

fn calls(access_list: &str) -> String {
    format!(
        r#"version = 1
[scenario]
name = "access"
seed = 5
duration = "3s"
[chain]
{FUNDER_KEY_ENV}
[roles.A]
wallets = 3
[roles.B]
wallets = 2
[funding]
eth = "1 ether"
tokens = "10"
[[workload]]
type = "call"
from = "A"
to = "token"
signature = "approve(address,uint256)"
args = ["{{peer}}", "{{uint:1..1000}}"]
peers = "B"
rate = 4.0
access_list = {access_list}
"#
    )
}

/// Runs the scenario on a fresh anvil started with `extra` flags; the transactions of its ok
/// steps (type and access list) and the node's own access list for the plan's first call.
async fn run(access_list: &str, extra: &[&str]) -> (Vec<(u8, AccessList)>, AccessList) {
    let dir = tempfile::tempdir().unwrap();
    let file = scenario(dir.path(), "access", &calls(access_list));
    let node = anvil(AnvilOptions {
        block_time_ms: Some(1000),
        extra_args: extra.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    });
    let out = dir.path().join("out");
    let o = run_on(&node.url, &file, &out);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let rows = steps_rows(&out);
    assert_eq!(rows.len(), 12);
    let p = ProviderBuilder::new().connect_http(node.url.parse().unwrap());
    let mut txs = Vec::new();
    for r in &rows {
        assert_eq!(r.status, Status::Ok, "{r:?}");
        let hash: B256 = r.tx_hash.parse().unwrap();
        let tx = p.get_transaction_by_hash(hash).await.unwrap().unwrap();
        let list = alloy::consensus::Transaction::access_list(&tx)
            .cloned()
            .unwrap_or_default();
        txs.push((alloy::consensus::Typed2718::ty(&tx), list));
    }
    // The node's list for the plan's first call, asked the same way loadrun asks it.
    let l = loadrun::scenario::load(&file, 1_000_000).unwrap();
    let plan = loadrun::plan::expand_loaded(&l, 5).unwrap();
    let args = plan.call_args(0).unwrap();
    let funder = alloy::signers::local::PrivateKeySigner::from_bytes(&DEV_KEY.parse().unwrap())
        .unwrap()
        .address();
    let input = Token::approveCall {
        spender: args[0].parse::<Address>().unwrap(),
        value: args[1].parse::<U256>().unwrap(),
    }
    .abi_encode();
    let from = loadrun::wallets::derive(5, "A", plan.steps[0].actor.index).address();
    let req = TransactionRequest::default()
        .from(from)
        .to(addresses(funder).token)
        .input(input.into());
    let node_list = p.create_access_list(&req).await.unwrap().access_list;
    (txs, node_list)
}

#[tokio::test(flavor = "multi_thread")]
async fn auto_access_lists_are_the_nodes_on_type_2_and_type_1_transactions() {
    let (txs, node_list) = run("\"auto\"", &[]).await;
    assert!(
        !node_list.0.is_empty(),
        "approve touches the Token's storage"
    );
    for (ty, list) in &txs {
        assert_eq!(*ty, 2, "a chain with a base fee gets type 2");
        assert_eq!(list, &node_list);
    }
    let (txs, node_list) = run("\"auto\"", &["--hardfork", "berlin"]).await;
    assert!(!node_list.0.is_empty());
    for (ty, list) in &txs {
        assert_eq!(*ty, 1, "a legacy chain gets type 1 (EIP-2930)");
        assert_eq!(list, &node_list);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn explicit_access_lists_are_carried_as_written() {
    let slot = format!("0x{}", "00".repeat(31) + "07");
    let (txs, _) = run(
        &format!("[{{ address = \"token\", storage_keys = [\"{slot}\"] }}]"),
        &[],
    )
    .await;
    for (ty, list) in &txs {
        assert_eq!(*ty, 2);
        assert_eq!(list.0.len(), 1);
        assert_eq!(list.0[0].storage_keys, vec![slot.parse::<B256>().unwrap()]);
    }
}
