//! An imperfect RPC: a fault-injecting proxy (tests/common/proxy.rs) in front of a real anvil.
//! With 10 % of all requests faulted (closed connections, lost answers, 1–3 s stalls, HTTP 429
//! with Retry-After, 503, JSON-RPC rate limits) the mixed scenario ends all ok with sanity
//! exact; with 20 % of answers lost, no step fails and none is executed twice.

mod common;

use common::proxy::{Faults, Proxy};
use common::remote::{assert_nonces_match_rows, mixed, run_remote};
use common::*;

/// The mixed scenario's transfers, token transfers and calls, without its channel workloads: the
/// lying-node tests delay transactions by seconds, and a channel whose open lands after its
/// own close time meets a known ordering bug of the role actors (see the README), not what these
/// tests are about.
fn without_channels(name: &str, duration: &str) -> String {
    let text = mixed(name, duration, FUNDER_KEY_ENV);
    let start = text.find("[[workload]]\ntype = \"channel\"").unwrap();
    let end = text.find("[[workload]]\ntype = \"transfer\"").unwrap();
    format!("{}{}", &text[..start], &text[end..])
}

#[tokio::test(flavor = "multi_thread")]
async fn ten_percent_mixed_faults_still_end_all_ok_with_sanity_exact() {
    let node = anvil_1s();
    let proxy = Proxy::start(&node.url, Faults::mixed(0.10), 10);
    let dir = tempfile::tempdir().unwrap();
    let path = scenario(
        dir.path(),
        "faults",
        &mixed("faults", "15s", FUNDER_KEY_ENV),
    );
    let run = run_remote(&proxy.url, &path, dir.path());
    run.assert_all_ok();
    // The faults really happened and were retried.
    assert!(proxy.stats.faulted() > 20, "{}", proxy.stats.line());
    assert!(run.metric("rpc_retries") > 0.0, "{}", run.figures());
    assert_nonces_match_rows(&node.url, &run.rows()).await;
    // Through retries, lost answers and stalls, no wallet's nonce overtook another.
    let order = proxy.arrivals.check();
    assert_eq!(order.out_of_order, 0, "{:?}", order.examples);
    eprintln!(
        "10% mixed faults: {} · proxy {}",
        run.figures(),
        proxy.stats.line()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn lost_answers_never_fail_a_step_nor_execute_it_twice() {
    let node = anvil_1s();
    let proxy = Proxy::start(
        &node.url,
        Faults {
            lost: 0.20,
            ..Faults::default()
        },
        20,
    );
    let dir = tempfile::tempdir().unwrap();
    let path = scenario(dir.path(), "lost", &mixed("lost", "10s", FUNDER_KEY_ENV));
    let run = run_remote(&proxy.url, &path, dir.path());
    run.assert_all_ok();
    assert!(
        proxy.stats.lost.load(std::sync::atomic::Ordering::Relaxed) > 20,
        "{}",
        proxy.stats.line()
    );
    assert_nonces_match_rows(&node.url, &run.rows()).await;
    eprintln!(
        "20% lost answers: {} · proxy {}",
        run.figures(),
        proxy.stats.line()
    );
}

#[test]
fn a_node_that_stays_down_is_given_up_after_retry_for() {
    // Everything refused: the run must end (exit 3) once `retry_for` is spent, not hang.
    let node = anvil_1s();
    let proxy = Proxy::start(
        &node.url,
        Faults {
            http503: 1.0,
            ..Faults::default()
        },
        30,
    );
    let dir = tempfile::tempdir().unwrap();
    let path = scenario(
        dir.path(),
        "down",
        &mixed(
            "down",
            "15s",
            &format!("{FUNDER_KEY_ENV}\nretry_for = \"2s\""),
        ),
    );
    let run = run_remote(&proxy.url, &path, dir.path());
    let t = run.text();
    assert_eq!(run.output.status.code(), Some(3), "{t}");
    assert!(t.contains("503"), "{t}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_healthy_proxy_costs_no_retries() {
    // The baseline of the fault runs above: same scenario, same proxy, no faults.
    let node = anvil_1s();
    let proxy = Proxy::start(&node.url, Faults::default(), 0);
    let dir = tempfile::tempdir().unwrap();
    let path = scenario(dir.path(), "clean", &mixed("clean", "15s", FUNDER_KEY_ENV));
    let run = run_remote(&proxy.url, &path, dir.path());
    run.assert_all_ok();
    assert_eq!(run.metric("rpc_retries"), 0.0, "{}", run.figures());
    assert_eq!(run.metric("rpc_errors_transient"), 0.0);
    assert_eq!(run.metric("resent"), 0.0);
    assert_nonces_match_rows(&node.url, &run.rows()).await;
    eprintln!(
        "no faults: {} · proxy {}",
        run.figures(),
        proxy.stats.line()
    );
}

#[test]
fn a_node_that_dies_mid_run_ends_the_run_with_one_row_per_step() {
    let node = anvil_1s();
    let proxy = Proxy::start(&node.url, Faults::default(), 0);
    let dir = tempfile::tempdir().unwrap();
    let text = mixed(
        "dies",
        "15s",
        &format!("{FUNDER_KEY_ENV}\nretry_for = \"2s\""),
    );
    let path = scenario(dir.path(), "dies", &text);
    let out = dir.path().join("out");
    let mut run = spawn_funded(&proxy.url, &path, &out, &["--receipt-timeout", "5s"]);
    // Once steps have landed, the node stops answering.
    wait_for_ok_rows(
        &out.join("steps.csv"),
        10,
        std::time::Duration::from_secs(60),
    );
    proxy.down.store(true, std::sync::atomic::Ordering::SeqCst);
    let code = run.finish();
    assert_eq!(code, Some(3), "{}", run.seen);
    assert!(run.seen.contains("stopped answering"), "{}", run.seen);
    let plan = loadrun::scenario::parse("dies.toml", &text, 1_000_000)
        .map(|s| loadrun::plan::expand(&s, common::remote::SEED).unwrap())
        .unwrap();
    let rows =
        loadrun::report::rows::read_steps(std::fs::File::open(out.join("steps.csv")).unwrap())
            .unwrap();
    assert_eq!(rows.len(), plan.steps.len(), "{}", run.seen);
    assert!(
        rows.iter().any(|r| r.status.as_str() == "ok"),
        "some steps ran before"
    );
    assert!(
        rows.iter().any(|r| r.status.as_str() != "ok"),
        "the rest did not"
    );
}

/// The closing note's figures: each fault kind alone at 10 % and 20 % of requests, same checks
/// as above. `cargo test --release --test faults -- --ignored --nocapture fault_matrix` (~6 min).
#[tokio::test(flavor = "multi_thread")]
#[ignore = "figures, several minutes: run with --ignored --nocapture"]
async fn fault_matrix() {
    type Make = fn(f64) -> Faults;
    let kinds: [(&str, Make); 6] = [
        ("closed before answering", |p| Faults {
            close: p,
            ..Faults::default()
        }),
        ("answer lost", |p| Faults {
            lost: p,
            ..Faults::default()
        }),
        ("1-3 s stall", |p| Faults {
            stall: p,
            ..Faults::default()
        }),
        ("HTTP 429 + Retry-After", |p| Faults {
            http429: p,
            ..Faults::default()
        }),
        ("HTTP 503", |p| Faults {
            http503: p,
            ..Faults::default()
        }),
        ("JSON-RPC -32005", |p| Faults {
            rpc_limit: p,
            ..Faults::default()
        }),
    ];
    let mut lines = Vec::new();
    for (name, make) in kinds {
        for p in [0.10, 0.20] {
            let node = anvil_1s();
            let proxy = Proxy::start(&node.url, make(p), 42);
            let dir = tempfile::tempdir().unwrap();
            let path = scenario(
                dir.path(),
                "matrix",
                &mixed("matrix", "15s", FUNDER_KEY_ENV),
            );
            let run = run_remote(&proxy.url, &path, dir.path());
            run.assert_all_ok();
            assert_nonces_match_rows(&node.url, &run.rows()).await;
            let line = format!(
                "{name} {:.0}%: {} · {}",
                p * 100.0,
                run.figures(),
                proxy.stats.line()
            );
            eprintln!("{line}");
            lines.push(line);
        }
    }
    eprintln!("\n{}", lines.join("\n"));
}

#[test]
fn sends_that_cannot_keep_up_report_the_rate_they_really_had_and_name_loadrun() {
    // Once funding is done, the node answers every send after 1–3 s (reads stay fast): a
    // wallet has one request in flight at a time (its nonces reach the node in order), so the
    // steps falling due meanwhile leave late, together, and one wallet cannot keep 20
    // transfers/s on schedule. The summary must say what really happened.
    let node = anvil_1s();
    let proxy = Proxy::start(
        &node.url,
        Faults {
            stall: 1.0,
            only: Some("eth_sendRawTransaction"),
            ..Faults::default()
        },
        50,
    );
    proxy
        .armed
        .store(false, std::sync::atomic::Ordering::SeqCst);
    let dir = tempfile::tempdir().unwrap();
    // One wallet sending 20 transfers/s for 4 s.
    let text = fixture(
        "transfers",
        &[
            ("name", "slow"),
            ("seed", "8"),
            ("duration", "4s"),
            ("chain", FUNDER_KEY_ENV),
            ("senders", "1"),
            ("receivers", "1"),
            ("schedule", "rate = 20.0\narrival = \"constant\""),
            ("expect", ""),
        ],
    );
    let path = scenario(dir.path(), "slow", &text);
    let out = dir.path().join("out");
    let mut run = spawn_funded(&proxy.url, &path, &out, &[]);
    proxy.armed.store(true, std::sync::atomic::Ordering::SeqCst);
    let code = run.finish();
    assert!(matches!(code, Some(0) | Some(1)), "{}", run.seen);
    let rows =
        loadrun::report::rows::read_steps(std::fs::File::open(out.join("steps.csv")).unwrap())
            .unwrap();
    let sent: Vec<f64> = rows.iter().filter_map(|r| r.sent_ms).collect();
    let last = sent.iter().copied().fold(0.0, f64::max);
    let measured = sent.len() as f64 / (last / 1000.0).max(4.0);
    let summary = loadrun::report::summary::read_summary(
        std::fs::File::open(out.join("summary.csv")).unwrap(),
    )
    .unwrap();
    let get = |m: &str| {
        summary
            .iter()
            .find(|x| x.kind == "all" && x.metric == m)
            .unwrap()
            .value
    };
    let achieved = get("achieved_rate");
    assert!(
        (achieved - measured).abs() / measured < 0.10,
        "achieved {achieved} vs {measured} from steps.csv"
    );
    assert_eq!(get("target_rate"), 20.0);
    assert!(
        achieved < 0.95 * 20.0,
        "the sends did fall behind: {achieved}/s · {}\n{}",
        proxy.stats.line(),
        run.seen
    );
    assert_eq!(get("schedule_kept"), 0.0);
    assert!(run.seen.contains("LOADRUN FELL BEHIND"), "{}", run.seen);
    let verdict = std::fs::read_to_string(out.join("verdict.json")).unwrap();
    assert!(verdict.contains("\"schedule_kept\": false"), "{verdict}");
    // loadrun's CPU had room: it waited for the node's answers, and says so.
    assert!(verdict.contains("\"bottleneck\": \"node\""), "{verdict}");
}

#[tokio::test(flavor = "multi_thread")]
async fn transactions_dropped_or_priced_out_by_the_node_are_resent_and_land_once() {
    // A lying node, once the wallets are funded: it answers the hash of 20 % of the
    // transactions without taking them (the watcher sends the same bytes again), and of 10 % more
    // refuses the bytes the second time as priced out (the watcher re-signs the nonce at the
    // current fee).
    let node = anvil_1s();
    let proxy = Proxy::start(
        &node.url,
        Faults {
            pool_drop: 0.20,
            priced_out: 0.10,
            ..Faults::default()
        },
        60,
    );
    proxy
        .armed
        .store(false, std::sync::atomic::Ordering::SeqCst);
    let dir = tempfile::tempdir().unwrap();
    let path = scenario(dir.path(), "pool", &without_channels("pool", "10s"));
    let out = dir.path().join("out");
    let mut run = spawn_funded(&proxy.url, &path, &out, &[]);
    proxy.armed.store(true, std::sync::atomic::Ordering::SeqCst);
    let code = run.finish();
    assert_eq!(code, Some(0), "{}", run.seen);
    assert!(run.seen.contains("sanity: ok"), "{}", run.seen);
    let rows =
        loadrun::report::rows::read_steps(std::fs::File::open(out.join("steps.csv")).unwrap())
            .unwrap();
    assert!(
        rows.iter().all(|r| r.status.as_str() == "ok"),
        "{}",
        run.seen
    );
    let g = |c: &std::sync::atomic::AtomicU64| c.load(std::sync::atomic::Ordering::Relaxed);
    let (swallowed, refused) = (g(&proxy.stats.swallowed), g(&proxy.stats.refused_again));
    assert!(swallowed > 5 && refused > 0, "{}", proxy.stats.line());
    let summary = loadrun::report::summary::read_summary(
        std::fs::File::open(out.join("summary.csv")).unwrap(),
    )
    .unwrap();
    let resent = summary
        .iter()
        .find(|m| m.kind == "all" && m.metric == "resent")
        .unwrap()
        .value;
    // Every swallowed transaction was sent again (same bytes or re-signed), and counted.
    assert!(
        resent >= swallowed as f64,
        "resent {resent} · {}",
        proxy.stats.line()
    );
    assert_nonces_match_rows(&node.url, &rows).await;
    eprintln!(
        "pool faults: resent {resent} · proxy {}",
        proxy.stats.line()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn set_up_survives_a_node_that_drops_transactions_from_its_pool() {
    // From the first transaction on (the CREATE2 deployer, the deploys, the funding), a node
    // that answers the hash of 25 % of the transactions without taking them.
    let node = anvil_1s();
    let proxy = Proxy::start(
        &node.url,
        Faults {
            pool_drop: 0.25,
            ..Faults::default()
        },
        70,
    );
    let dir = tempfile::tempdir().unwrap();
    let path = scenario(dir.path(), "setup", &without_channels("setup", "8s"));
    let run = run_remote(&proxy.url, &path, dir.path());
    run.assert_all_ok();
    let swallowed = proxy
        .stats
        .swallowed
        .load(std::sync::atomic::Ordering::Relaxed);
    assert!(swallowed > 3, "{}", proxy.stats.line());
    assert_nonces_match_rows(&node.url, &run.rows()).await;
}
