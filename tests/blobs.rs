//! Blob workloads on anvil: every step ok, each receipt's blob gas is the plan's blob count ×
//! 131,072, steps.csv's blob fees are the receipts' (and part of fee_wei), sanity agrees to the
//! wei (exit 0), and a second run of the same plan carries the same versioned hashes.

mod common;

use alloy::primitives::B256;
use alloy::providers::{Provider, ProviderBuilder};
use common::{FUNDER_KEY_ENV, anvil_1s, run_on, scenario, steps_rows, text};
use loadrun::report::rows::Status;

const BLOBS: &str = r#"version = 1
[scenario]
name = "blobs"
seed = 9
duration = "4s"
[chain]
FUNDER
[roles.A]
wallets = 4
[roles.B]
wallets = 2
[funding]
eth = "1 ether"
[[workload]]
type = "blob"
from = "A"
to = "B"
blobs = 2
amount = "1 gwei"
rate = 2.0
[[workload]]
type = "blob"
from = "A"
to = "A"
blobs = 1
rate = 1.0
"#;

#[tokio::test(flavor = "multi_thread")]
async fn blob_transactions_land_with_their_planned_blobs_and_fees() {
    let dir = tempfile::tempdir().unwrap();
    let file = scenario(
        dir.path(),
        "blobs",
        &BLOBS.replace("FUNDER", FUNDER_KEY_ENV),
    );
    let node = anvil_1s();
    let p = ProviderBuilder::new().connect_http(node.url.parse().unwrap());
    let mut runs = Vec::new();
    for run in ["one", "two"] {
        let out = dir.path().join(run);
        let o = run_on(&node.url, &file, &out);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        let rows = steps_rows(&out);
        assert_eq!(rows.len(), 12);
        let mut hashes: Vec<Vec<B256>> = Vec::new();
        for r in &rows {
            assert_eq!(r.status, Status::Ok, "{r:?}");
            let hash: B256 = r.tx_hash.parse().unwrap();
            let receipt = p.get_transaction_receipt(hash).await.unwrap().unwrap();
            let blobs = if r.workload == 0 { 2 } else { 1 };
            assert_eq!(receipt.blob_gas_used, Some(blobs * 131_072), "{r:?}");
            let blob_fee = u128::from(blobs * 131_072) * receipt.blob_gas_price.unwrap();
            assert_eq!(r.blob_gas_used, receipt.blob_gas_used);
            assert_eq!(r.blob_fee_wei, Some(blob_fee));
            assert_eq!(
                r.fee_wei,
                Some(u128::from(receipt.gas_used) * receipt.effective_gas_price + blob_fee)
            );
            let tx = p.get_transaction_by_hash(hash).await.unwrap().unwrap();
            let v = alloy::consensus::Transaction::blob_versioned_hashes(&tx)
                .unwrap()
                .to_vec();
            assert_eq!(v.len() as u64, blobs);
            hashes.push(v);
        }
        runs.push(hashes);
        let summary = std::fs::read_to_string(out.join("summary.csv")).unwrap();
        assert!(summary.contains("blob_gas_used,blob,"), "{summary}");
    }
    assert_eq!(runs[0], runs[1], "the same plan carries the same blobs");
    assert!(
        runs[0]
            .iter()
            .flatten()
            .collect::<std::collections::BTreeSet<_>>()
            .len()
            > 3,
        "blobs differ between steps"
    );
}
