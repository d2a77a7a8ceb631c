//! Read workloads on a spawned anvil: a few thousand requests/s beside transfers give one row
//! per planned read with its latency, per-method percentiles in summary.csv and report.html,
//! the plan's arguments, and an eth_call that reverts classed as such (not a transport error).

mod common;

use common::{
    all_files, assert_no_keys, fixture, loadrun, scenario, secret_keys, steps_rows, text,
};
use loadrun::report::rows::Status;

#[test]
fn reads_beside_writes_each_get_a_row_and_per_method_latency() {
    let dir = tempfile::tempdir().unwrap();
    let file = scenario(
        dir.path(),
        "reads",
        &fixture("reads", &[("read_rate", "1000.0")]),
    );
    let out = dir.path().join("out");
    let o = loadrun()
        .args(["run", "--out"])
        .arg(&out)
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));

    let l = loadrun::scenario::load(&file, 1_000_000).unwrap();
    let plan = loadrun::plan::expand_loaded(&l, l.scenario.seed).unwrap();
    let rows = steps_rows(&out);
    assert_eq!(rows.len(), plan.steps.len(), "one row per planned step");
    let reads: Vec<_> = rows.iter().filter(|r| r.kind == "read").collect();
    assert_eq!(reads.len(), 5_000 + 5_000 + 1_000 + 50 + 100 + 20 + 100);
    let mut receipts_read = 0;
    for r in &reads {
        if r.workload == 7 {
            // A receipt of an earlier transfer: read once the transfer's hash is known.
            if r.status == Status::Ok {
                receipts_read += 1;
            } else {
                assert_eq!(r.status, Status::Skipped, "{r:?}");
                assert!(
                    r.error.contains("not included by then")
                        || r.error.contains("planned before it"),
                    "{r:?}"
                );
            }
            continue;
        }
        assert!(r.tx_hash.is_empty() && r.block.is_none(), "{r:?}");
        assert!(r.sent_ms.is_some(), "{r:?}");
        if r.workload == 6 {
            assert_eq!(r.status, Status::Failed, "{r:?}");
            assert!(r.error.starts_with("reverted:"), "{r:?}");
        } else {
            assert_eq!(r.status, Status::Ok, "{r:?}");
            assert!(r.latency_ms.is_some_and(|l| l > 0.0), "{r:?}");
        }
    }
    assert!(
        rows.iter()
            .filter(|r| r.kind == "transfer")
            .all(|r| r.status == Status::Ok)
    );
    // Transfers are included from the first 1-s block on: most of the 5 s of reads find one.
    assert!(receipts_read > 40, "{receipts_read} receipts read");

    let summary = std::fs::read_to_string(out.join("summary.csv")).unwrap();
    let metric = |m: &str, kind: &str| -> f64 {
        let line = format!("{m},{kind},");
        summary
            .lines()
            .find_map(|l| l.strip_prefix(&line))
            .unwrap_or_else(|| panic!("no {m},{kind} in\n{summary}"))
            .parse()
            .unwrap()
    };
    assert_eq!(metric("steps", "read:eth_getBalance"), 5_000.0);
    assert_eq!(metric("steps", "read:eth_call"), 5_020.0);
    assert_eq!(metric("failed", "read:eth_call"), 20.0);
    assert_eq!(metric("error_share", "read:eth_getBalance"), 0.0);
    assert_eq!(metric("steps", "read:eth_getTransactionReceipt"), 100.0);
    for method in [
        "eth_getBalance",
        "eth_call",
        "eth_blockNumber",
        "eth_getLogs",
    ] {
        let kind = format!("read:{method}");
        let (p50, p99) = (
            metric("p50_latency_ms", &kind),
            metric("p99_latency_ms", &kind),
        );
        assert!(p50 > 0.0 && p99 >= p50, "{kind}: p50 {p50} p99 {p99}");
    }
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("Reads per method") && html.contains("eth_getLogs"));
    assert_no_keys(&all_files(&out), &secret_keys(11, &[("users", 10)]));

    // The plan's args column holds each read's resolved parameters: {sender}'s address.
    let p = loadrun()
        .args(["plan", "--format", "csv"])
        .arg(&file)
        .output()
        .unwrap();
    let csv = String::from_utf8_lossy(&p.stdout);
    let sender = loadrun::wallets::derive(11, "users", 0)
        .address()
        .to_string();
    assert!(
        csv.lines()
            .any(|l| l.contains(",read,1,") && l.contains(&sender)),
        "no eth_getBalance of users:0 in the plan"
    );
}
