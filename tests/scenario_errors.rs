//! Every validation rule: the message names the key path, the rule, and where it applies.

mod common;

use common::diagnostics::{BASE, CHANNEL, assert_err, errors};
use loadrun::scenario::{self, DEFAULT_MAX_STEPS};

fn with_channel(replace: &str, by: &str) -> String {
    let c = CHANNEL.replace(replace, by);
    assert_ne!(c, CHANNEL, "replacement {replace:?} did not apply");
    format!("{BASE}{c}")
}

#[test]
fn base_is_valid() {
    let s = scenario::parse("t.toml", &format!("{BASE}{CHANNEL}"), DEFAULT_MAX_STEPS).unwrap();
    assert_eq!(s.duration_ms, 10_000);
    assert_eq!(s.roles.len(), 2);
}

#[test]
fn unknown_key_suggests_nearest() {
    assert_err(
        &with_channel("create_rate", "create_rat"),
        &[
            "t.toml:20:1",
            "`workload[0].create_rat`",
            "unknown key",
            "did you mean `create_rate`?",
        ],
    );
}

#[test]
fn unknown_top_level_key() {
    assert_err(
        &format!("{BASE}\n[expects]\nmax_failed = 0\n"),
        &["`expects`", "did you mean `expect`?"],
    );
}

#[test]
fn unknown_workload_type() {
    assert_err(
        &with_channel("type = \"channel\"", "type = \"chanel\""),
        &[
            "`workload[0].type`",
            "unknown value \"chanel\"",
            "did you mean \"channel\"?",
        ],
    );
}

#[test]
fn missing_key_is_named() {
    assert_err(
        &with_channel("deposit = \"0.01 ether\"\n", ""),
        &["`workload[0]`", "missing required key `deposit`"],
    );
}

#[test]
fn wrong_type_is_located() {
    assert_err(
        &with_channel("create_rate = 1.0", "create_rate = \"fast\""),
        &["t.toml:20:1", "`workload[0].create_rate`", "expected f64"],
    );
}

#[test]
fn version_must_be_one() {
    assert_err(
        &BASE.replace("version = 1", "version = 2"),
        &["`version`", "version 2 is not supported"],
    );
}

#[test]
fn bad_duration_and_zero_duration() {
    assert_err(
        &BASE.replace("\"10s\"", "\"10 parsecs\""),
        &["`scenario.duration`", "is not a duration"],
    );
    assert_err(
        &BASE.replace("\"10s\"", "\"0s\""),
        &["`scenario.duration`", "is zero"],
    );
    // Step offsets are u32 milliseconds: a run of more than 49 days is refused, located.
    assert_err(
        &BASE.replace("\"10s\"", "\"60days\""),
        &[
            "`scenario.duration`",
            "longer than the longest run",
            "49 days",
        ],
    );
}

#[test]
fn bad_name() {
    assert_err(
        &BASE.replace("name = \"t\"", "name = \"a/b\""),
        &["`scenario.name`", "not a usable name"],
    );
}

#[test]
fn negative_nan_and_infinite_rates() {
    assert_err(
        &with_channel("create_rate = 1.0", "create_rate = -1.0"),
        &["`workload[0].create_rate`", "finite number >= 0"],
    );
    assert_err(
        &with_channel("create_rate = 1.0", "create_rate = nan"),
        &["`workload[0].create_rate`", "NaN"],
    );
    assert_err(
        &with_channel("create_rate = 1.0", "create_rate = inf"),
        &["`workload[0].create_rate`", "finite"],
    );
}

#[test]
fn unknown_role_suggests_nearest() {
    assert_err(
        &with_channel("[\"A\", \"B\"]", "[\"A\", \"b\"]"),
        &[
            "`workload[0].between[1]`",
            "unknown role \"b\"",
            "did you mean \"B\"?",
        ],
    );
}

#[test]
fn between_needs_two_roles() {
    assert_err(
        &with_channel("[\"A\", \"B\"]", "[\"A\"]"),
        &["`workload[0].between`", "exactly 2"],
    );
}

#[test]
fn self_pairing_needs_two_wallets() {
    let text = format!("{BASE}{CHANNEL}")
        .replace("[roles.A]\nwallets = 2", "[roles.A]\nwallets = 1")
        .replace("[\"A\", \"B\"]", "[\"A\", \"A\"]");
    assert_err(
        &text,
        &[
            "`workload[0].between`",
            "paired with itself but has 1 wallet",
        ],
    );
}

#[test]
fn zero_wallets() {
    assert_err(
        &BASE.replace("wallets = 2\n[roles.B]", "wallets = 0\n[roles.B]"),
        &["`roles.A.wallets`", "between 1 and 1000000"],
    );
}

#[test]
fn amounts_need_units() {
    assert_err(
        &with_channel("\"0.01 ether\"", "\"0.01\""),
        &["`workload[0].deposit`", "has no unit"],
    );
    assert_err(
        &with_channel("\"0.01 ether\"", "\"1 btc\""),
        &["`workload[0].deposit`", "unknown unit `btc`"],
    );
    assert_err(
        &with_channel("\"0.01 ether\"", "\"0 ether\""),
        &["`workload[0].deposit`", "more than 0"],
    );
}

#[test]
fn more_closes_than_creates() {
    assert_err(
        &with_channel("create_rate = 1.0", "create_rate = 1.0\nclose_rate = 2.0"),
        &["`workload[0].close_rate`", "20 closes", "only 10 channels"],
    );
}

#[test]
fn close_delay_must_leave_time() {
    assert_err(
        &with_channel(
            "create_rate = 1.0",
            "create_rate = 1.0\nclose_rate = 0.5\nclose_delay = \"10s\"",
        ),
        &["`workload[0].close_delay`", "leaves no time"],
    );
}

#[test]
fn ledger_keys_on_direct_channel() {
    assert_err(
        &with_channel("create_rate = 1.0", "create_rate = 1.0\nledger_rate = 1.0"),
        &[
            "`workload[0].ledger_rate`",
            "applies only to funding = \"ledger\"",
        ],
    );
}

#[test]
fn ledger_needs_rate_and_usable_delay() {
    assert_err(
        &with_channel("\"direct\"", "\"ledger\""),
        &["`workload[0].funding`", "needs `ledger_rate`"],
    );
    let c = with_channel("\"direct\"", "\"ledger\"").replace(
        "create_rate = 1.0",
        "create_rate = 1.0\nledger_rate = 1.0\nledger_delay = \"10s\"",
    );
    assert_err(&c, &["`workload[0].ledger_delay`", "leaves no time"]);
    let c = with_channel("\"direct\"", "\"ledger\"").replace(
        "create_rate = 1.0",
        "create_rate = 1.0\nledger_rate = 1.0\nledger_duration = \"11s\"",
    );
    assert_err(
        &c,
        &[
            "`workload[0].ledger_duration`",
            "longer than [scenario].duration",
        ],
    );
    let c = with_channel("\"direct\"", "\"ledger\"").replace(
        "create_rate = 1.0",
        "create_rate = 1.0\nledger_rate = 0.01\nledger_duration = \"1s\"",
    );
    assert_err(&c, &["`workload[0].ledger_rate`", "rounds to 0 ledgers"]);
}

#[test]
fn updates_need_channels() {
    assert_err(
        &with_channel("create_rate = 1.0", "create_rate = 0.0\nupdate_rate = 1.0"),
        &["`workload[0].update_rate`", "updates need channels"],
    );
}

#[test]
fn seed_dependent_close_shortage_is_located_at_expansion() {
    // 9 closes need 9 of 10 uniformly created channels to start before 10s - 8s: practically never.
    let text = with_channel(
        "create_rate = 1.0",
        "create_rate = 1.0\nclose_rate = 0.9\nclose_delay = \"8s\"",
    );
    let s = scenario::parse("t.toml", &text, DEFAULT_MAX_STEPS).unwrap();
    let loaded = scenario::Loaded {
        scenario: s,
        file: "t.toml".into(),
        text,
    };
    let err = loadrun::plan::expand_loaded(&loaded, 1)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("t.toml:21:1")
            && err.contains("`workload[0].close_rate`")
            && err.contains("early enough"),
        "{err}"
    );
}

const TRANSFER: &str = r#"
[[workload]]
type = "transfer"
from = "A"
to = "B"
rate = 5.0
amount = "1 gwei"
"#;

fn with_transfer(replace: &str, by: &str) -> String {
    let t = TRANSFER.replace(replace, by);
    assert_ne!(t, TRANSFER, "replacement {replace:?} did not apply");
    format!("{BASE}{t}")
}

#[test]
fn transfer_window_rules() {
    assert_err(
        &with_transfer("amount", "stop = \"11s\"\namount"),
        &["`workload[0].stop`", "beyond [scenario].duration"],
    );
    assert_err(
        &with_transfer("amount", "start = \"5s\"\nstop = \"5s\"\namount"),
        &["`workload[0].start`", "must be before stop"],
    );
}

#[test]
fn transfer_unknown_role_and_arrival() {
    assert_err(
        &with_transfer("from = \"A\"", "from = \"Z\""),
        &["`workload[0].from`", "unknown role \"Z\""],
    );
    assert_err(
        &with_transfer("amount", "arrival = \"poison\"\namount"),
        &["`workload[0].arrival`", "did you mean \"poisson\"?"],
    );
}

#[test]
fn token_transfer_needs_funded_tokens() {
    let t = with_transfer("\"transfer\"", "\"token_transfer\"").replace("\"1 gwei\"", "\"1\"");
    assert_err(&t, &["`workload[0].type`", "set [funding].tokens"]);
}

#[test]
fn call_rules() {
    let call = |sig: &str, args: &str, to: &str| {
        format!(
            "{BASE}\n[[workload]]\ntype = \"call\"\nfrom = \"A\"\nto = \"{to}\"\nsignature = \"{sig}\"\nargs = {args}\nrate = 1.0\n"
        )
    };
    assert!(
        scenario::parse(
            "t.toml",
            &call("holdings()", "[]", "adjudicator"),
            DEFAULT_MAX_STEPS
        )
        .is_ok()
    );
    assert_err(
        &call("deposit(uint256", "[\"100\"]", "token"),
        &[
            "`workload[0].signature`",
            "not a Solidity function signature",
        ],
    );
    assert_err(
        &call(
            "deposit(uint256)",
            "[]",
            "0x000000000000000000000000000000000000dEaD",
        ),
        &["`workload[0].args`", "takes 1 argument(s) but args has 0"],
    );
    assert_err(
        &call(
            "deposit(uint256)",
            "[\"x\"]",
            "0x000000000000000000000000000000000000dEaD",
        ),
        &["`workload[0].args[0]`", "not a valid uint256"],
    );
    assert_err(
        &call("deposit(uint256)", "[\"1\"]", "0x1234"),
        &["`workload[0].to`", "not a 0x address"],
    );
}

#[test]
fn chain_rules() {
    assert_err(
        &format!("{BASE}\n[chain]\nrpc = \"localhost:8545\"\n"),
        &["`chain.rpc`", "not an http(s) URL"],
    );
    assert_err(
        &format!("{BASE}\n[chain]\nrpc = \"http://127.0.0.1:8545\"\nblock_time = \"1s\"\n"),
        &["`chain.block_time`", "configures a spawned anvil"],
    );
    assert_err(
        &format!("{BASE}\n[chain]\nallow_chain_ids = []\n"),
        &["`chain.allow_chain_ids`", "is empty"],
    );
    assert_err(
        &format!("{BASE}\n[chain]\nchain_id = 1\n"),
        &["`chain.chain_id`", "not in allow_chain_ids"],
    );
    assert_err(
        &format!("{BASE}\n[chain]\nfunder_key_env = \"MY-KEY\"\n"),
        &["`chain.funder_key_env`", "not an environment variable name"],
    );
}

#[test]
fn a_pasted_private_key_is_refused_and_never_echoed() {
    let key = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
    let out = errors(&format!("{BASE}\n[chain]\nfunder_key_env = \"0x{key}\"\n"));
    assert!(out.contains("looks like a private key"), "{out}");
    assert!(!out.contains(key), "the key leaked into the message: {out}");
}

#[test]
fn fanout_range() {
    assert_err(
        &BASE.replace("eth = \"1 ether\"", "eth = \"1 ether\"\nfanout = 1"),
        &["`funding.fanout`", "between 2 and 1000"],
    );
}

#[test]
fn missing_funding() {
    assert_err(
        &BASE.replace("[funding]\neth = \"1 ether\"\n", ""),
        &["`funding`", "missing [funding] table"],
    );
}

#[test]
fn step_cap_is_checked_before_expansion() {
    let text = with_transfer("rate = 5.0", "rate = 1000000.0");
    let err = match scenario::parse("t.toml", &text, 1_000_000) {
        Err(e) => e.to_string(),
        Ok(_) => panic!("cap not enforced"),
    };
    assert!(
        err.contains("would make 10000000 steps, more than the cap of 1000000")
            && err.contains("--max-steps"),
        "{err}"
    );
}

#[test]
fn all_errors_are_reported_at_once() {
    let text = with_channel("create_rate = 1.0", "create_rate = -1.0").replace("\"10s\"", "\"0s\"");
    let out = errors(&text);
    assert_eq!(out.matches("error:").count(), 2, "{out}");
}

#[test]
fn syntax_error_is_located() {
    let out = errors("version = 1\n[scenario\n");
    assert!(out.contains("t.toml:2:"), "{out}");
}

#[test]
fn extreme_rates_are_bounded_by_the_step_cap_at_their_key() {
    // Each count saturates (1e308 × 10 s is far beyond u64), so no sum can wrap below the cap.
    let ledger = format!(
        "{BASE}{}",
        CHANNEL
            .replace("funding = \"direct\"", "funding = \"ledger\"")
            .replace(
                "create_rate = 1.0",
                "create_rate = 1.0\nupdate_rate = 1e308\nledger_rate = 1.0"
            )
    );
    assert_err(
        &ledger,
        &[
            "t.toml:",
            "`workload[0].update_rate`",
            "more than 10^19 steps",
            "--max-steps",
        ],
    );
    let closes = with_channel(
        "create_rate = 1.0",
        "create_rate = 1e308\nclose_rate = 1e308",
    );
    assert_err(&closes, &["`workload[0]", "more than 10^19 steps"]);
    let transfer = format!(
        "{BASE}\n[[workload]]\ntype = \"transfer\"\nfrom = \"A\"\nto = \"B\"\nrate = 1e308\namount = \"1 wei\"\narrival = \"poisson\"\n"
    );
    assert_err(
        &transfer,
        &["t.toml:", "`workload[0].rate`", "more than 10^19 steps"],
    );
}

#[test]
fn capacity_keys_out_of_range_are_located_with_their_fix() {
    let with = |capacity: &str| format!("{BASE}{CHANNEL}\n[capacity]\n{capacity}\n");
    assert_err(
        &with("max_failed = 1.5"),
        &[
            "`capacity.max_failed`",
            "1.5 is out of range",
            "between 0 and 1",
        ],
    );
    assert_err(
        &with("start_scale = 8\nmax_scale = 4"),
        &[
            "`capacity.start_scale`",
            "above max_scale 4",
            "raise max_scale",
        ],
    );
    assert_err(
        &with("growth = 1"),
        &["`capacity.growth`", "above 1 and at most 16"],
    );
    assert_err(
        &with("step_duration = \"soon\""),
        &["`capacity.step_duration`", "is not a duration"],
    );
    let ok = scenario::parse(
        "t.toml",
        &with("min_rate = 100\nprecision = 0.1"),
        DEFAULT_MAX_STEPS,
    )
    .unwrap();
    assert_eq!(ok.capacity.min_rate, Some(100.0));
    assert_eq!(ok.capacity.precision, 0.1);
    assert_eq!(ok.capacity.max_p99_inclusion_ms, 5_000, "the default");
}

#[test]
fn metrics_endpoints_must_be_http_urls() {
    let s = BASE.replace(
        "[scenario]",
        "[chain]\nnode_metrics = \"10.0.0.5:9001\"\n\n[scenario]",
    );
    assert_ne!(s, BASE);
    assert_err(
        &format!("{s}{CHANNEL}"),
        &[
            "`chain.node_metrics`",
            "not an http:// URL",
            "http://127.0.0.1:9256/metrics",
        ],
    );
}
