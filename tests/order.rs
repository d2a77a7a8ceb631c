//! Nonce order on the wire: a recording proxy (tests/common/proxy.rs) in front of a real anvil
//! decodes every transaction it forwards and checks that no wallet's nonce N+1 reaches the
//! node before N — at 3,000 transfers/s over HTTP, and through the fault proxy
//! (`tests/faults.rs`) — and
//! that a transaction the node never got (a proxy that answers its hash and withholds it) is
//! re-sent from the gap, so every later step of its wallet still lands, and that the
//! transactions behind a nonce the node refused for good fail at once with its cause.

mod common;

use common::proxy::{Faults, Proxy};
use common::remote::assert_nonces_match;
use common::*;
use loadrun::chain::anvil::AnvilOptions;

/// tests/fixtures/transfers.toml: `wallets` wallets of role A pay 4 of role B at `rate`/s
/// (uniform arrivals) for `duration`, against the proxy.
fn transfers(name: &str, wallets: u32, rate: f64, duration: &str) -> String {
    fixture(
        "transfers",
        &[
            ("name", name),
            ("seed", "31"),
            ("duration", duration),
            ("chain", FUNDER_KEY_ENV),
            ("senders", &wallets.to_string()),
            ("receivers", "4"),
            ("schedule", &format!("rate = {rate}\narrival = \"uniform\"")),
            ("expect", ""),
        ],
    )
}

/// `loadrun run --rpc PROXY`, results in `dir/out`: exit code, output, steps.csv rows.
fn run(
    proxy: &Proxy,
    dir: &std::path::Path,
    text: &str,
) -> (Option<i32>, String, Vec<loadrun::report::rows::StepRow>) {
    let path = scenario(dir, "order", text);
    let out = dir.join("out");
    let o = loadrun()
        .args(["run", "--rpc", &proxy.url, "--out"])
        .arg(&out)
        .arg(&path)
        .env("LOADRUN_FUNDER_KEY", DEV_KEY)
        .output()
        .expect("run loadrun");
    let rows = std::fs::File::open(out.join("steps.csv"))
        .ok()
        .and_then(|f| loadrun::report::rows::read_steps(f).ok())
        .unwrap_or_default();
    (o.status.code(), common::text(&o), rows)
}

#[test]
fn each_wallets_nonces_reach_the_node_in_order_at_3000_transfers_per_second() {
    // 100 wallets at 3,000/s for 5 s (30/s each, within a wallet's 64 transactions awaiting
    // inclusion at 1-s blocks; 63 M gas a block of the 100 M limit), through a proxy that delays
    // each request by 0-20 ms as a network does: requests on concurrent connections overtake
    // each other, and before the fix a few hundred of a wallet's nonces arrived before the one
    // below them.
    let node = anvil(AnvilOptions {
        block_time_ms: Some(1000),
        gas_limit: Some(100_000_000),
        ..AnvilOptions::default()
    });
    let proxy = Proxy::start(
        &node.url,
        Faults {
            jitter_ms: 20,
            ..Faults::default()
        },
        1,
    );
    let dir = tempfile::tempdir().unwrap();
    let (code, seen, rows) = run(&proxy, dir.path(), &transfers("order", 100, 3000.0, "5s"));
    let order = proxy.arrivals.check();
    eprintln!(
        "order at 3,000/s: {} sends from {} senders, {} out of order, {} resends",
        order.sends, order.senders, order.out_of_order, order.resends
    );
    assert_eq!(code, Some(0), "{seen}");
    assert_eq!(rows.len(), 15_000, "{seen}");
    assert!(rows.iter().all(|r| r.status.as_str() == "ok"), "{seen}");
    assert!(order.sends >= 15_000, "{order:?}");
    assert_eq!(order.out_of_order, 0, "{:?}", order.examples);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_withheld_transaction_is_resent_from_the_gap_and_every_step_lands() {
    // The proxy answers the hash of the 40th transaction after funding and never forwards it:
    // its wallet's later nonces wait in the node's pool behind the gap until loadrun re-sends
    // the same bytes.
    let node = anvil_1s();
    let proxy = Proxy::start(
        &node.url,
        Faults {
            withhold: Some(40),
            ..Faults::default()
        },
        2,
    );
    proxy
        .armed
        .store(false, std::sync::atomic::Ordering::SeqCst);
    let dir = tempfile::tempdir().unwrap();
    let path = scenario(dir.path(), "gap", &transfers("gap", 4, 20.0, "8s"));
    let out = dir.path().join("out");
    let mut run = spawn_funded(&proxy.url, &path, &out, &[]);
    proxy.armed.store(true, std::sync::atomic::Ordering::SeqCst);
    let code = run.finish();
    assert_eq!(code, Some(0), "{}", run.seen);
    assert!(run.seen.contains("sanity: ok"), "{}", run.seen);
    assert_eq!(
        proxy
            .stats
            .swallowed
            .load(std::sync::atomic::Ordering::Relaxed),
        1,
        "{}",
        proxy.stats.line()
    );
    let rows = steps_rows(&out);
    assert_eq!(rows.len(), 160);
    assert!(
        rows.iter().all(|r| r.status.as_str() == "ok"),
        "{}",
        run.seen
    );
    let resent = summary_metric(&out, "resent");
    assert!(resent >= 1.0, "resent {resent}");
    // Every wallet's nonce on chain is the number of its steps: nothing lost, nothing twice.
    assert_nonces_match(&node.url, 31, &[("A", 4), ("B", 4)], &rows).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn transactions_behind_a_nonce_refused_for_good_fail_with_its_cause_not_a_timeout() {
    // One wallet sends 400 transfers (nonces 0-399) at 200/s through a proxy that refuses every
    // transaction at nonce 100 as a node refuses a sender short of funds, and delays requests
    // 0-60 ms, so several of the wallet's steps wait for each answer and leave together: those
    // sent with the refused one wait behind its nonce in the node's pool. Each later step
    // fills the hole first and is refused again; when the wallet's steps are over, what waits
    // behind the hole can never be included and must fail with the refusal's cause, not wait
    // out the receipt timeout.
    let node = anvil_1s();
    let proxy = Proxy::start(
        &node.url,
        Faults {
            refuse_nonce: Some(100),
            jitter_ms: 60,
            ..Faults::default()
        },
        3,
    );
    proxy
        .armed
        .store(false, std::sync::atomic::Ordering::SeqCst);
    let dir = tempfile::tempdir().unwrap();
    let path = scenario(dir.path(), "refused", &transfers("refused", 1, 200.0, "2s"));
    let out = dir.path().join("out");
    let mut run = spawn_funded(&proxy.url, &path, &out, &[]);
    proxy.armed.store(true, std::sync::atomic::Ordering::SeqCst);
    let code = run.finish();
    eprintln!("{}", proxy.stats.line());
    let rows = steps_rows(&out);
    assert_eq!(rows.len(), 400, "{}", run.seen);
    let count =
        |f: &dyn Fn(&loadrun::report::rows::StepRow) -> bool| rows.iter().filter(|r| f(r)).count();
    // The 100 steps below the refused nonce landed; none of the rest waited for a timeout.
    assert_eq!(count(&|r| r.status.as_str() == "ok"), 100, "{}", run.seen);
    assert_eq!(
        count(&|r| r.status.as_str() == "timeout"),
        0,
        "{}",
        run.seen
    );
    assert!(
        rows.iter()
            .filter(|r| r.status.as_str() != "ok")
            .all(|r| r.status.as_str() == "failed" && r.error.starts_with("insufficient_funds")),
        "{:?}",
        rows.iter()
            .find(|r| r.status.as_str() != "ok" && !r.error.starts_with("insufficient_funds"))
    );
    let behind = count(&|r| r.error.contains("behind nonce 100"));
    eprintln!("{behind} steps failed behind the refused nonce");
    assert!(behind >= 1, "no step waited behind the hole: {}", run.seen);
    assert!(run.seen.contains("sanity: ok"), "{}", run.seen);
    assert_ne!(code, Some(3), "{}", run.seen);
    assert_nonces_match(&node.url, 31, &[("A", 1), ("B", 4)], &rows).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reorg_is_noticed_the_dropped_transactions_land_again_and_their_rows_say_where() {
    // 6 wallets at 30 transfers/s for 12 s; 6 blocks into the run, anvil replaces the last 3
    // blocks with empty ones: the transactions in them are gone, their wallets' later nonces
    // would wait behind the gap until the receipt timeout, and their rows would name blocks
    // that no longer hold them.
    use alloy::providers::Provider;
    let node = anvil_1s();
    let p = alloy::providers::ProviderBuilder::new().connect_http(node.url.parse().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let path = scenario(dir.path(), "reorg", &transfers("reorg", 6, 30.0, "12s"));
    let out = dir.path().join("out");
    let mut run = spawn_funded(&node.url, &path, &out, &[]);
    let start = p.get_block_number().await.unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while p.get_block_number().await.unwrap() < start + 6 {
        assert!(std::time::Instant::now() < deadline, "no blocks");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let _: serde_json::Value = p
        .raw_request(
            "anvil_reorg".into(),
            (3u64, Vec::<serde_json::Value>::new()),
        )
        .await
        .expect("anvil_reorg");
    let code = run.finish();
    assert_eq!(code, Some(0), "{}", run.seen);
    assert!(run.seen.contains("a reorg replaced blocks"), "{}", run.seen);
    // The rows of the re-sent transactions were amended to where they landed again: the chain
    // agrees with steps.csv to the wei.
    assert!(run.seen.contains("sanity: ok"), "{}", run.seen);
    let rows = steps_rows(&out);
    assert_eq!(rows.len(), 360);
    // No step waits behind the dropped nonces: every one is ok.
    let not_ok: Vec<_> = rows.iter().filter(|r| r.status.as_str() != "ok").collect();
    assert!(not_ok.is_empty(), "{:?}\n{}", not_ok.first(), run.seen);
    let get = |m: &str| summary_metric(&out, m);
    assert!(get("reorged") >= 1.0, "reorged {}", get("reorged"));
    assert!(get("resent") >= 1.0, "resent {}", get("resent"));
    // Every ok row's block holds its transaction now.
    for r in rows.iter().filter(|r| r.status.as_str() == "ok") {
        let t = p
            .get_transaction_by_hash(r.tx_hash.parse().unwrap())
            .await
            .unwrap()
            .expect("on chain");
        assert_eq!(t.block_number, r.block, "step {}", r.step);
    }
    // Every wallet's nonce on chain is the number of its steps: each dropped transaction landed
    // again, exactly once.
    assert_nonces_match(&node.url, 31, &[("A", 6), ("B", 4)], &rows).await;
}
