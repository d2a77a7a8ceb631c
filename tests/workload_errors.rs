//! Validation of the transaction types and reads of issue 28: read workloads, access lists,
//! blob counts, `[[delegate]]` and `to = "self"` — each rule broken gives a located
//! diagnostic; plus the plans a valid one gets.

mod common;

use common::diagnostics::{BASE, CHANNEL, assert_err};
use loadrun::scenario::{self, DEFAULT_MAX_STEPS, WorkloadKind};

/// A transfer without its rate (each test adds `rate` or `stages`).
const UNRATED: &str = r#"
[[workload]]
type = "transfer"
from = "A"
to = "B"
amount = "1 gwei"
"#;

/// A read workload's keys: each misuse is located at its key with what to write instead.
#[test]
fn read_workloads_are_checked_and_located() {
    let read = |body: &str| {
        format!("{BASE}\n[[workload]]\ntype = \"read\"\nfrom = \"A\"\nrate = 10.0\n{body}\n")
    };
    assert_err(
        &read("method = \"eth_getBalance\"\nargs = [\"{sender}\", \"latest\"]"),
        &[
            "`workload[0].args`",
            "eth_getBalance takes 1 parameter(s) but args has 2",
            "help: eth_getBalance takes [address]",
        ],
    );
    assert_err(
        &read("method = \"eth_getBalance\"\nargs = [\"0x12\"]"),
        &["`workload[0].args[0]`", "\"0x12\" is not a valid address"],
    );
    assert_err(
        &read("method = \"eth_getBlockByNumber\"\nargs = [\"newest\"]"),
        &[
            "`workload[0].args[0]`",
            "a block is a number",
            "latest, earliest",
        ],
    );
    assert_err(
        &read("method = \"eth_blockNumber\"\nto = \"token\""),
        &[
            "`workload[0].to`",
            "`to` is for eth_call and eth_getLogs, not eth_blockNumber",
        ],
    );
    assert_err(
        &read("method = \"eth_getLogs\"\nsignature = \"f()\""),
        &[
            "`workload[0].signature`",
            "`signature` is for method = \"eth_call\"",
        ],
    );
    assert_err(
        &read("method = \"eth_call\"\nsignature = \"count()\""),
        &["`workload[0].to`", "method = \"eth_call\" needs `to`"],
    );
    assert_err(
        &read(
            "method = \"eth_call\"\nto = \"token\"\nsignature = \"balanceOf(address)(uint256)\"\nargs = [\"{peer}\"]",
        ),
        &["`workload[0].args[0]`", "which this workload does not set"],
    );
    assert_err(
        &read("method = \"eth_getStorageAt\""),
        &["`workload[0].method`", "eth_getStorageAt"],
    );
    assert_err(
        &read("method = \"eth_getTransactionReceipt\""),
        &["`workload[0].receipts_of`", "needs `receipts_of`"],
    );
    assert_err(
        &read("method = \"eth_getTransactionReceipt\"\nreceipts_of = 0"),
        &[
            "`workload[0].receipts_of`",
            "workload[0] is a read workload",
        ],
    );
    assert_err(
        &read("method = \"eth_getBalance\"\nreceipts_of = 0"),
        &[
            "`workload[0].receipts_of`",
            "is for eth_getTransactionReceipt",
        ],
    );
    assert_err(
        &read("method = \"eth_blockNumber\"\ntimeout = \"0s\""),
        &["`workload[0].timeout`", "is zero"],
    );
    // Valid: a default `{sender}` parameter and a batch of block numbers.
    let ok = read("method = \"eth_getBalance\"\nbatch = true");
    let s = scenario::parse("t.toml", &ok, DEFAULT_MAX_STEPS).unwrap();
    let WorkloadKind::Read(r) = &s.workloads[0].kind else {
        panic!("a read workload")
    };
    assert!(r.batch);
    assert_eq!(r.call.args, ["{sender}"]);
    let plan = loadrun::plan::expand(&s, 1).unwrap();
    assert_eq!(plan.steps.len(), 100);
    assert!(plan.call_args(0).unwrap()[0].starts_with("0x"));
}

/// `access_list` belongs to calls: on a transfer it is an unknown key; on a call it is "auto"
/// or entries of an address and 32-byte slots, each error at its key.
#[test]
fn access_lists_are_checked_and_located() {
    assert_err(
        &format!("{BASE}{UNRATED}rate = 1.0\naccess_list = \"auto\"\n"),
        &["`workload[0].access_list`", "unknown key `access_list`"],
    );
    let call = |list: &str| {
        format!(
            "{BASE}\n[[workload]]\ntype = \"call\"\nfrom = \"A\"\nto = \"token\"\nsignature = \"approve(address,uint256)\"\nargs = [\"0x000000000000000000000000000000000000dEaD\", \"1\"]\nrate = 1.0\naccess_list = {list}\n"
        )
    };
    assert_err(
        &call("\"manual\""),
        &[
            "`workload[0].access_list`",
            "\"manual\" is not an access list",
            "write \"auto\"",
        ],
    );
    assert_err(
        &call("[{ address = \"tokn\", storage_keys = [\"0x01\"] }]"),
        &[
            "`workload[0].access_list[0].address`",
            "\"tokn\" is not a 0x address",
            "`workload[0].access_list[0].storage_keys[0]`",
            "\"0x01\" is not a storage slot",
        ],
    );
    let s = scenario::parse("t.toml", &call("\"auto\""), DEFAULT_MAX_STEPS).unwrap();
    let WorkloadKind::Call(c) = &s.workloads[0].kind else {
        panic!("a call workload")
    };
    assert_eq!(c.access_list, scenario::AccessListSpec::Auto);
}

/// A blob workload's count is bounded by the chain's per-transaction maximum, located.
#[test]
fn blob_counts_are_checked_and_located() {
    let blob = |n: &str| {
        format!(
            "{BASE}\n[[workload]]\ntype = \"blob\"\nfrom = \"A\"\nto = \"B\"\nrate = 1.0\nblobs = {n}\n"
        )
    };
    assert_err(
        &blob("7"),
        &[
            "`workload[0].blobs`",
            "7 blobs per transaction; a transaction carries 1 to 6",
            "help: set blobs between 1 and 6",
        ],
    );
    assert_err(
        &blob("0"),
        &["`workload[0].blobs`", "0 blobs per transaction"],
    );
    assert_err(
        &format!("{}max_fee_per_blob_gas = \"3\"\n", blob("1")),
        &["`workload[0].max_fee_per_blob_gas`", "unit"],
    );
    let s = scenario::parse("t.toml", &blob("3"), DEFAULT_MAX_STEPS).unwrap();
    let plan = loadrun::plan::expand(&s, 1).unwrap();
    assert_eq!(plan.steps.len(), 10);
    let picks = plan.call_args(0).unwrap();
    assert_eq!(
        picks.len(),
        3,
        "the pool blobs a step carries are in its args"
    );
    assert_eq!(plan, loadrun::plan::expand(&s, 1).unwrap());
}

/// `[[delegate]]` and `to = "self"`: each misuse located at its key.
#[test]
fn delegations_are_checked_and_located() {
    assert_err(
        &format!("{BASE}\n[[delegate]]\nrole = \"C\"\nto = \"token\"\n"),
        &["`delegate[0].role`", "unknown role \"C\""],
    );
    assert_err(
        &format!("{BASE}\n[[delegate]]\nrole = \"A\"\nto = \"self\"\n"),
        &["`delegate[0].to`", "cannot be delegated to itself"],
    );
    assert_err(
        &format!(
            "{BASE}\n[[delegate]]\nrole = \"A\"\nto = \"token\"\n[[delegate]]\nrole = \"A\"\nto = \"adjudicator\"\n"
        ),
        &["`delegate[1].role`", "delegated twice"],
    );
    assert_err(
        &format!(
            "{BASE}\n[[workload]]\ntype = \"call\"\nfrom = \"A\"\nto = \"self\"\nsignature = \"f()\"\nvalue = \"1 gwei\"\nrate = 1.0\n"
        ),
        &["`workload[0].value`", "sends its value to its own wallet"],
    );
    let s = scenario::parse(
        "t.toml",
        &format!("{BASE}\n[[delegate]]\nrole = \"B\"\nto = \"token\"\n"),
        DEFAULT_MAX_STEPS,
    )
    .unwrap();
    assert_eq!(s.delegations.len(), 1);
}

/// Transfers to a delegated role, and "auto" access lists on calls to "self", are refused.
#[test]
fn plain_transfers_to_delegated_wallets_are_refused() {
    assert_err(
        &format!("{BASE}\n[[delegate]]\nrole = \"B\"\nto = \"token\"\n{UNRATED}rate = 1.0\n"),
        &[
            "`workload[0].to`",
            "role \"B\" is delegated by [[delegate]]",
        ],
    );
    assert_err(
        &format!("{BASE}\n[[delegate]]\nrole = \"A\"\nto = \"token\"\n{CHANNEL}"),
        &[
            "`workload[0].between`",
            "channel payouts to its wallets would run their code",
        ],
    );
    assert_err(
        &format!(
            "{BASE}\n[[workload]]\ntype = \"call\"\nfrom = \"A\"\nto = \"self\"\nsignature = \"f()\"\nrate = 1.0\naccess_list = \"auto\"\n"
        ),
        &[
            "`workload[0].access_list`",
            "a call to \"self\" touches each sender's own account",
        ],
    );
}
