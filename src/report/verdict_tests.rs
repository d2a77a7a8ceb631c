//! One test per cause of the verdict: tallies and figures in, the cause and its help out.

use super::*;
use crate::model::rows::StepRow;
use crate::report::blocks::BlockRow;

fn tally(rows: &[StepRow]) -> Tally {
    Tally::of(rows, Vec::new())
}

fn row(kind: &str, lateness: f64, latency: f64, status: Status) -> StepRow {
    StepRow {
        gas_used: (status == Status::Ok).then_some(21_000),
        sent_ms: Some(lateness),
        lateness_ms: Some(lateness),
        tx_hash: "0x01".into(),
        block: Some(1),
        latency_ms: Some(latency),
        ..StepRow::sample(kind, status)
    }
}

const ON_TARGET: Rates = Rates {
    target: 100.0,
    achieved: 100.0,
    included: 100.0,
    send_span_s: 10.0,
};
const LOAD: Load = Load {
    block_ms: Some(1_000),
    loadrun_cpu_pct: Some(20.0),
    node_cpu_peak_pct: None,
    cores: 2,
    node_cores: None,
    node_shares_host: false,
};

fn healthy() -> Vec<StepRow> {
    vec![row("transfer", 2.0, 900.0, Status::Ok); 100]
}

fn with_timeouts(n: usize) -> Vec<StepRow> {
    let mut rows = healthy();
    rows.extend(vec![row("transfer", 2.0, 0.0, Status::Timeout); n]);
    rows
}

/// `n` blocks a second apart, `full` of them full, the base fee rising.
fn blocks(n: u64, full: u64) -> Vec<BlockRow> {
    (0..n)
        .map(|i| BlockRow {
            number: i + 1,
            t_s: i as f64,
            gas_used: if i < full { 1_995_000 } else { 210_000 },
            gas_limit: 2_000_000,
            txs: if i < full { 95 } else { 10 },
            base_fee_wei: Some(1_000_000_000 + 125_000_000 * u128::from(i)),
        })
        .collect()
}

fn judged(rows: &[StepRow], rates: Rates, load: Load, ev: &Events) -> Verdict {
    let v = judge(&tally(rows), rates, load, ev);
    // Every cause but ok says what to do; ok says nothing.
    assert_eq!(v.help.is_some(), v.cause != Cause::Ok, "{v:?}");
    assert_eq!(v.bottleneck, v.cause.bottleneck());
    v
}

#[test]
fn a_healthy_run_gets_a_clean_verdict() {
    let v = judged(&healthy(), ON_TARGET, LOAD, &Events::default());
    assert_eq!(v.cause, Cause::Ok, "{v:?}");
    assert!(v.schedule_kept && v.chain_kept_up, "{v:?}");
    assert!(v.line.contains("loadrun kept its schedule"), "{}", v.line);
    let json = serde_json::to_value(&v).unwrap();
    assert_eq!(json["cause"], "ok");
}

#[test]
fn late_sends_with_cpu_to_spare_name_the_nodes_rpc() {
    let rows = vec![row("transfer", 4_300.0, 900.0, Status::Ok); 100];
    let behind = Rates {
        achieved: 60.0,
        ..ON_TARGET
    };
    let v = judged(&rows, behind, LOAD, &Events::default());
    assert_eq!(v.cause, Cause::NodeRpcSlow, "{v:?}");
    assert!(v.line.contains("LOADRUN FELL BEHIND"), "{}", v.line);
    assert!(v.line.contains("the node's RPC was slow"), "{}", v.line);
    assert!(v.help.unwrap().contains("machine of its own"));
}

#[test]
fn a_lagging_chain_with_the_nodes_cpu_saturated_names_the_nodes_cpu() {
    let rows = vec![row("transfer", 4_300.0, 900.0, Status::Ok); 100];
    let behind = Rates {
        achieved: 60.0,
        ..ON_TARGET
    };
    // A remote node on 8 cores at 760 %: saturated; loadrun's own CPU plays no part.
    let remote = Load {
        node_cpu_peak_pct: Some(760.0),
        node_cores: Some(8),
        ..LOAD
    };
    let v = judged(&rows, behind, remote, &Events::default());
    assert_eq!(v.cause, Cause::NodeCpu, "{v:?}");
    assert!(
        v.line
            .contains("THE NODE'S CPU SATURATED: 760 % at its peak of 8 cores"),
        "{}",
        v.line
    );
    assert_eq!(v.bottleneck, "node");
    // A spawned node sharing 2 cores: 150 % + loadrun's 40 % fills them, the node the larger.
    let shared = Load {
        node_cpu_peak_pct: Some(150.0),
        loadrun_cpu_pct: Some(40.0),
        node_cores: Some(2),
        node_shares_host: true,
        ..LOAD
    };
    let v = judged(&rows, behind, shared, &Events::default());
    assert_eq!(v.cause, Cause::NodeCpu, "{v:?}");
    assert!(v.line.contains("shared with loadrun's 40 %"), "{}", v.line);
    // The same node with room (100 % of 8 cores), or unknown cores: not the node's CPU.
    for load in [
        Load {
            node_cpu_peak_pct: Some(100.0),
            node_cores: Some(8),
            ..LOAD
        },
        Load {
            node_cpu_peak_pct: Some(760.0),
            node_cores: None,
            ..LOAD
        },
    ] {
        assert_eq!(
            judged(&rows, behind, load, &Events::default()).cause,
            Cause::NodeRpcSlow
        );
    }
    // A healthy run is ok whatever the node's CPU.
    assert_eq!(
        judged(&healthy(), ON_TARGET, remote, &Events::default()).cause,
        Cause::Ok
    );
}

#[test]
fn a_saturated_cpu_names_loadrun() {
    let hot = Load {
        loadrun_cpu_pct: Some(190.0),
        ..LOAD
    };
    let v = judged(&healthy(), ON_TARGET, hot, &Events::default());
    assert_eq!(v.cause, Cause::LoadrunCpu, "{v:?}");
    assert!(v.cpu_saturated && !v.schedule_kept);
    assert!(v.line.contains("loadrun's CPU was the limit"), "{}", v.line);
}

#[test]
fn a_node_that_stopped_answering_is_named_with_when_and_what_was_left() {
    let mut rows = healthy();
    rows.extend(vec![row("transfer", 2.0, 0.0, Status::NodeDown); 40]);
    let behind = Rates {
        achieved: 50.0,
        ..ON_TARGET
    };
    let ev = Events {
        node_down: Some(NodeDown {
            at_s: Some(12.5),
            last_answer_s: Some(2.25),
            unsent: 30,
            unanswered: 10,
        }),
        ..Events::default()
    };
    let v = judged(&rows, behind, LOAD, &ev);
    assert_eq!(v.cause, Cause::NodeDown, "{v:?}");
    assert!(
        v.line.contains("NODE STOPPED ANSWERING 12.5 s"),
        "{}",
        v.line
    );
    assert!(v.line.contains("last good answer at 2.2 s"), "{}", v.line);
    assert!(v.line.contains("30 steps were never sent"), "{}", v.line);
    // Not blamed on loadrun or on the node's speed.
    assert!(!v.line.contains("FELL BEHIND"), "{}", v.line);
    assert!(v.help.as_ref().unwrap().contains("anvil.log"));
    assert_eq!(serde_json::to_value(&v).unwrap()["node_down"]["unsent"], 30);
}

#[test]
fn timeouts_beside_full_blocks_name_the_gas_limit() {
    let ev = Events {
        blocks: blocks(20, 12),
        resigned: 593,
        ..Events::default()
    };
    let v = judged(&with_timeouts(50), ON_TARGET, LOAD, &ev);
    assert_eq!(v.cause, Cause::BlocksFull, "{v:?}");
    assert!(v.line.contains("BLOCKS WERE FULL: 12 of 20"), "{}", v.line);
    assert!(v.line.contains("593 transactions re-signed"), "{}", v.line);
    assert!(
        v.line.contains("base fee 1.000 → 3.375 gwei, peak 3.375"),
        "{}",
        v.line
    );
    assert!(v.line.contains("Mgas/s"), "{}", v.line);
    assert!(v.help.as_ref().unwrap().contains("gas_limit"));
    // 2 M gas ÷ 21,000 per transfer ÷ 1-s blocks.
    assert!(
        v.help.as_ref().unwrap().contains("about 95 steps/s"),
        "{:?}",
        v.help
    );
    let b = v.blocks.unwrap();
    assert_eq!((b.blocks, b.full_blocks, b.gas_limit), (20, 12, 2_000_000));
    // Full blocks without lag are no cause: the chain kept up.
    let v = judged(&healthy(), ON_TARGET, LOAD, &ev);
    assert_eq!(v.cause, Cause::Ok, "{v:?}");
}

#[test]
fn full_blocks_mined_late_by_a_saturated_node_name_its_cpu_not_the_gas_limit() {
    // The same full blocks, but 2.5 s apart on a 1-s chain, the node's CPU saturated.
    let late: Vec<BlockRow> = blocks(20, 12)
        .into_iter()
        .map(|b| BlockRow {
            t_s: b.t_s * 2.5,
            ..b
        })
        .collect();
    let ev = Events {
        blocks: late.clone(),
        ..Events::default()
    };
    let busy = Load {
        node_cpu_peak_pct: Some(195.0),
        node_cores: Some(2),
        node_shares_host: true,
        ..LOAD
    };
    let v = judged(&with_timeouts(50), ON_TARGET, busy, &ev);
    assert_eq!(v.cause, Cause::NodeCpu, "{v:?}");
    assert!(
        v.line.contains("blocks came every 2.5 s instead of 1 s"),
        "{}",
        v.line
    );
    // On time they stay the gas limit's, whatever the node's CPU.
    let on_time = Events {
        blocks: blocks(20, 12),
        ..Events::default()
    };
    assert_eq!(
        judged(&with_timeouts(50), ON_TARGET, busy, &on_time).cause,
        Cause::BlocksFull
    );
    // Late, with the node's CPU unknown: loadrun cannot tell, and names the full blocks.
    assert_eq!(
        judged(&with_timeouts(50), ON_TARGET, LOAD, &ev).cause,
        Cause::BlocksFull
    );
}

#[test]
fn timeouts_while_blocks_had_room_name_stuck_transactions() {
    let ev = Events {
        blocks: blocks(20, 1),
        resent: 4,
        ..Events::default()
    };
    let v = judged(&with_timeouts(7), ON_TARGET, LOAD, &ev);
    assert_eq!(v.cause, Cause::TxStuck, "{v:?}");
    assert!(
        v.line.contains("7 sent transactions never got a receipt"),
        "{}",
        v.line
    );
    assert!(v.help.unwrap().contains("txpool"));
}

#[test]
fn slow_inclusion_without_timeouts_names_the_chain() {
    let rows = vec![row("transfer", 2.0, 9_000.0, Status::Ok); 100];
    let v = judged(&rows, ON_TARGET, LOAD, &Events::default());
    assert_eq!(v.cause, Cause::ChainSlow, "{v:?}");
    assert!(v.schedule_kept && !v.chain_kept_up);
    assert!(v.line.contains("CHAIN FELL BEHIND"), "{}", v.line);
}

#[test]
fn a_merge_missing_parts_names_them_and_nothing_else() {
    let mut rows = healthy();
    rows.extend(vec![row("transfer", 0.0, 0.0, Status::NotSent); 100]);
    let behind = Rates {
        achieved: 50.0,
        ..ON_TARGET
    };
    let ev = Events {
        missing_parts: vec!["2/2".into()],
        unreported: 100,
        ..Events::default()
    };
    let v = judged(&rows, behind, LOAD, &ev);
    assert_eq!(v.cause, Cause::MergeIncomplete, "{v:?}");
    assert!(v.line.contains("no run of shard 2/2"), "{}", v.line);
    assert!(!v.line.contains("FELL BEHIND"), "{}", v.line);
    assert!(!v.help.as_ref().unwrap().contains("machine"));
    assert_eq!(v.missing_parts, ["2/2"]);
}

#[test]
fn an_interrupted_run_is_named_so_and_blames_nobody() {
    let mut rows = healthy();
    rows.extend(vec![row("transfer", 0.0, 0.0, Status::NotSent); 100]);
    let behind = Rates {
        achieved: 50.0,
        ..ON_TARGET
    };
    let ev = Events {
        interrupted: true,
        ..Events::default()
    };
    let v = judged(&rows, behind, LOAD, &ev);
    assert_eq!(v.cause, Cause::Interrupted, "{v:?}");
    assert!(
        v.line
            .contains("INTERRUPTED (Ctrl-C): 100 of the plan's steps"),
        "{}",
        v.line
    );
    assert!(!v.line.contains("FELL BEHIND"), "{}", v.line);
}

#[test]
fn updates_waiting_for_their_channel_do_not_count_as_scheduler_lateness() {
    let mut rows = healthy();
    rows.extend(vec![row("update_channel", 1_500.0, 20.0, Status::Ok); 50]);
    assert!(judged(&rows, ON_TARGET, LOAD, &Events::default()).schedule_kept);
}

#[test]
fn every_cause_has_help_and_a_name() {
    let t = super::super::verdict_text::Text {
        late: 0.0,
        incl: 0.0,
        timeouts: 0,
        cores: 1,
        all: ON_TARGET,
        load: LOAD,
        blocks: None,
        node_down: None,
        resigned: 0,
        resent: 0,
        missing_parts: Vec::new(),
        unreported: 0,
        gas_per_step: None,
        not_sent: 0,
    };
    for c in Cause::ALL {
        let (line, help) = super::super::verdict_text::describe(c, &t);
        assert!(line.starts_with("verdict: "), "{line}");
        assert_eq!(help.is_some(), c != Cause::Ok, "{c:?}");
        let json = serde_json::to_value(c).unwrap();
        assert_eq!(json, c.as_str());
    }
    // Older verdict.json files (no cause) still read.
    let old = r#"{"schedule_kept":true,"chain_kept_up":true,"cpu_saturated":false,"bottleneck":"none","p99_send_lateness_ms":1.0,"p99_inclusion_ms":2.0,"timeouts":0,"line":"x","help":null}"#;
    let v: Verdict = serde_json::from_str(old).unwrap();
    assert_eq!(v.cause, Cause::Ok);
}
