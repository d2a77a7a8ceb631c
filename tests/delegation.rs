//! `[[delegate]]` (EIP-7702) on anvil: A's wallets delegate their code to the Counter test dapp,
//! calls with `to = "self"` run it in each wallet's own storage, the code on chain is the
//! designator of the planned target (sanity lines), each wallet's nonce counts the
//! authorization's own use, and a re-run finds the delegations in place.

mod common;

use std::collections::BTreeMap;

use alloy::primitives::{Address, U256};
use alloy::providers::{Provider, ProviderBuilder};
use alloy::sol;
use common::{FUNDER_KEY_ENV, anvil_1s, run_on, scenario, steps_rows, text};
use loadrun::report::rows::Status;

sol! {
    #[sol(rpc)]
    contract Counter {
        function count() external view returns (uint256);
        function total() external view returns (uint256);
    }
}

fn text_of(root: &str) -> String {
    format!(
        r#"version = 1
[scenario]
name = "delegated"
seed = 4
duration = "3s"
[chain]
{FUNDER_KEY_ENV}
[roles.A]
wallets = 3
[funding]
eth = "1 ether"
[contracts.counter]
artifact = "{root}/tests/fixtures/out/Counter.sol/Counter.json"
args = ["1000"]
[[delegate]]
role = "A"
to = "counter"
[[workload]]
type = "call"
from = "A"
to = "self"
signature = "add(uint256,address)"
args = ["{{uint:1..9}}", "{{sender}}"]
rate = 4.0
"#
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn delegated_wallets_run_their_target_code_and_keep_it() {
    let dir = tempfile::tempdir().unwrap();
    let file = scenario(
        dir.path(),
        "delegated",
        &text_of(env!("CARGO_MANIFEST_DIR")),
    );
    let node = anvil_1s();
    let out = dir.path().join("one");
    let o = run_on(&node.url, &file, &out);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));

    let l = loadrun::scenario::load(&file, 1_000_000).unwrap();
    let plan = loadrun::plan::expand_loaded(&l, 4).unwrap();
    let counter = Address::from(l.scenario.contracts[0].address);
    let rows = steps_rows(&out);
    assert_eq!(rows.len(), 12);
    // Per wallet: ok calls and the sum of their planned x.
    let mut per: BTreeMap<u32, (u64, u64)> = BTreeMap::new();
    for r in &rows {
        assert_eq!(r.status, Status::Ok, "{r:?}");
        let x: u64 = plan.call_args(r.step as usize).unwrap()[0].parse().unwrap();
        let e = per.entry(r.wallet).or_default();
        e.0 += 1;
        e.1 += x;
    }
    let p = ProviderBuilder::new().connect_http(node.url.parse().unwrap());
    let mut designator = vec![0xef, 0x01, 0x00];
    designator.extend_from_slice(counter.as_slice());
    for index in 0..3u32 {
        let me = loadrun::wallets::derive(4, "A", index).address();
        let code = p.get_code_at(me).await.unwrap();
        assert_eq!(code.to_vec(), designator, "A:{index}");
        let (calls, sum) = per.get(&index).copied().unwrap_or_default();
        // The wallet's own storage: the constructor never ran there.
        let c = Counter::new(me, &p);
        assert_eq!(c.count().call().await.unwrap(), U256::from(calls));
        assert_eq!(c.total().call().await.unwrap(), U256::from(sum));
        // The delegation took two nonces (its transaction and its authorization).
        assert_eq!(p.get_transaction_count(me).await.unwrap(), 2 + calls);
    }
    let sanity = std::fs::read_to_string(out.join("sanity.md")).unwrap();
    // The authorizations as signed: fresh wallets, so each at nonce 1 (its transaction took 0).
    let csv = std::fs::read_to_string(out.join("delegations.csv")).unwrap();
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(rows[0], "wallet,chain_id,address,nonce,tx_hash,status");
    assert_eq!(rows.len(), 4, "{csv}");
    for (i, r) in rows[1..].iter().enumerate() {
        let f: Vec<&str> = r.split(',').collect();
        assert_eq!(
            &f[..4],
            [
                format!("A:{i}").as_str(),
                "31337",
                &format!("{counter:#x}"),
                "1"
            ],
            "{r}"
        );
        assert_eq!(f[5], "sent");
    }
    let line = format!(
        "| A:2 code (EIP-7702) | delegated to {counter:#x} | delegated to {counter:#x} | 0 | yes |"
    );
    assert!(sanity.contains(&line), "{sanity}");

    // A second run finds every delegation in place and sends none.
    let out = dir.path().join("two");
    let o = run_on(&node.url, &file, &out);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let log = std::fs::read_to_string(out.join("loadrun.log")).unwrap();
    assert!(
        log.contains("0 wallet(s) delegated now, 3 already in place"),
        "{log}"
    );
    let csv = std::fs::read_to_string(out.join("delegations.csv")).unwrap();
    assert_eq!(csv.matches(",in_place").count(), 3, "{csv}");
}

/// A wallet delegated to a contract that refuses plain ETH (the Token) cannot be topped up:
/// the re-run says so before it funds anything (exit 3), instead of a reverted funding tree.
#[tokio::test(flavor = "multi_thread")]
async fn a_delegated_wallet_that_refuses_eth_is_named_before_funding() {
    let dir = tempfile::tempdir().unwrap();
    let body = text_of(env!("CARGO_MANIFEST_DIR"))
        .replace("to = \"counter\"\n[[workload]]", "to = \"token\"\n[[workload]]")
        .replace("to = \"self\"\nsignature = \"add(uint256,address)\"\nargs = [\"{uint:1..9}\", \"{sender}\"]", "to = \"counter\"\nsignature = \"add(uint256,address)\"\nargs = [\"{uint:1..9}\", \"{sender}\"]");
    let file = scenario(dir.path(), "refuses", &body);
    let node = anvil_1s();
    let o = run_on(&node.url, &file, &dir.path().join("one"));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = run_on(&node.url, &file, &dir.path().join("two"));
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let err = text(&o);
    assert!(
        err.contains("funding A:0")
            && err.contains("refuses a plain ETH transfer")
            && err.contains("receive()"),
        "{err}"
    );
}
