//! Every validation rule: the message names the key path, the rule, and where it applies.

use loadrun::scenario::{self, DEFAULT_MAX_STEPS, ScenarioError, WorkloadKind};

const BASE: &str = r#"version = 1

[scenario]
name = "t"
seed = 1
duration = "10s"

[roles.A]
wallets = 2
[roles.B]
wallets = 2

[funding]
eth = "1 ether"
"#;

const CHANNEL: &str = r#"
[[workload]]
type = "channel"
funding = "direct"
between = ["A", "B"]
create_rate = 1.0
deposit = "0.01 ether"
"#;

/// Parses `text` and returns every diagnostic rendered, failing if it was valid.
fn errors(text: &str) -> String {
    match scenario::parse("t.toml", text, DEFAULT_MAX_STEPS) {
        Ok(_) => panic!("expected an error for:\n{text}"),
        Err(ScenarioError::Invalid(d)) => d.to_string(),
        Err(e) => panic!("unexpected error kind: {e}"),
    }
}

/// Asserts that the error output contains all of `needles`.
fn assert_err(text: &str, needles: &[&str]) {
    let out = errors(text);
    for n in needles {
        assert!(out.contains(n), "missing {n:?} in:\n{out}");
    }
}

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
    let err = loaded.expand(1).unwrap_err().to_string();
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

/// A transfer without its rate (each test adds `rate` or `stages`).
const UNRATED: &str = r#"
[[workload]]
type = "transfer"
from = "A"
to = "B"
amount = "1 gwei"
"#;

#[test]
fn stages_are_checked_and_located() {
    let t = |body: &str| format!("{BASE}{UNRATED}{body}\n");
    // Both, neither, too long, a bad stage.
    assert_err(
        &t("rate = 1.0\nstages = [{ duration = \"5s\", target = 2.0 }]"),
        &[
            "t.toml:",
            "`workload[0].stages`",
            "`stages` and `rate` are exclusive",
        ],
    );
    assert_err(&t(""), &["`workload[0].rate`", "needs `rate` or `stages`"]);
    assert_err(
        &t("stages = [{ duration = \"8s\", target = 2.0 }, { duration = \"5s\", target = 0.0 }]"),
        &[
            "`workload[0].stages`",
            "the stages last 13000ms, longer than the workload's window (10000ms from 0ms)",
        ],
    );
    assert_err(
        &t("stages = [{ duration = \"0s\", target = 2.0 }, { duration = \"1s\", target = -1.0 }]"),
        &[
            "`workload[0].stages[0].duration`",
            "is zero",
            "`workload[0].stages[1].target`",
            "must be a finite number >= 0",
        ],
    );
    assert_err(
        &t("stages = [{ duration = \"1s\", target = 2.0, hold = true }]"),
        &["unknown key `hold`", "valid keys here: duration, target"],
    );
}

#[test]
fn stages_count_their_integral_and_the_rate_scale_multiplies_them() {
    let text = format!(
        "{BASE}{UNRATED}stages = [{{ duration = \"4s\", target = 10.0 }}, {{ duration = \"4s\", target = 10.0 }}, {{ duration = \"2s\", target = 0.0 }}]\n"
    );
    let s = scenario::parse("t.toml", &text, DEFAULT_MAX_STEPS).unwrap();
    let plan = loadrun::plan::expand(&s, 1).unwrap();
    // 20 ramping up, 40 held, 10 ramping down.
    assert_eq!(plan.steps.len(), 70);
    let scaled = scenario::parse_scaled("t.toml", &text, DEFAULT_MAX_STEPS, 2.0).unwrap();
    assert_eq!(loadrun::plan::expand(&scaled, 1).unwrap().steps.len(), 140);
    // The cap sees the scaled plan.
    let e = scenario::parse_scaled("t.toml", &text, 100, 2.0)
        .unwrap_err()
        .to_string();
    assert!(e.contains("140 steps, more than the cap of 100"), "{e}");
}

const CALL: &str = r#"
[[workload]]
type = "call"
from = "A"
to = "0x000000000000000000000000000000000000dEaD"
signature = "add(uint8,address,int16,bytes32)"
rate = 5.0
"#;

#[test]
fn call_templates_are_checked_and_located() {
    let t = |args: &str, extra: &str| format!("{BASE}{CALL}args = {args}\n{extra}");
    assert_err(
        &t(r#"["{uint:1..300}", "{sender}", "1", "{bytes:32}"]"#, ""),
        &["`workload[0].args[0]`", "300 does not fit in a uint8"],
    );
    assert_err(
        &t(r#"["1", "{peer}", "1", "{bytes:32}"]"#, ""),
        &["`workload[0].args[1]`", "peers"],
    );
    assert_err(
        &t(r#"["1", "{uint:1..2}", "1", "{bytes:32}"]"#, ""),
        &[
            "`workload[0].args[1]`",
            "makes an unsigned integer, but the parameter is a address",
        ],
    );
    assert_err(
        &t(r#"["1", "{sender}", "{nonsense}", "{bytes:32}"]"#, ""),
        &["`workload[0].args[2]`", "is not a template"],
    );
    assert_err(
        &t(r#"["1", "{sender}", "1"]"#, ""),
        &["`workload[0].args`", "takes 4 argument(s) but args has 3"],
    );
}

#[test]
fn templated_arguments_are_in_the_plan_and_follow_the_seed() {
    let text = format!(
        "{BASE}{CALL}args = [\"{{uint:1..100}}\", \"{{peer}}\", \"{{int:-5..5}}\", \"{{bytes:32}}\"]\npeers = \"B\"\n"
    );
    let s = scenario::parse("t.toml", &text, DEFAULT_MAX_STEPS).unwrap();
    let csv = |seed: u64| {
        let plan = loadrun::plan::expand(&s, seed).unwrap();
        let mut out = Vec::new();
        loadrun::plan::output::write_csv(&plan, &mut out).unwrap();
        (plan, String::from_utf8(out).unwrap())
    };
    let (plan, a) = csv(1);
    assert_eq!(a, csv(1).1, "same seed, byte-identical plan");
    assert_ne!(a, csv(2).1, "another seed, other arguments");
    let b_addresses: Vec<String> = (0..2)
        .map(|i| {
            loadrun::wallets::derive(1, "B", i)
                .address()
                .to_checksum(None)
        })
        .collect();
    for i in 0..plan.steps.len() {
        let args = plan.call_args(i).unwrap();
        let n: u64 = args[0].parse().unwrap();
        assert!((1..=100).contains(&n));
        assert!(b_addresses.contains(&args[1]), "{args:?}");
        let k: i64 = args[2].parse().unwrap();
        assert!((-5..=5).contains(&k));
        assert_eq!(args[3].len(), 66);
    }
    assert!(a.lines().nth(1).unwrap().ends_with(&format!(
        "\"[\"\"{}\"\",\"\"{}\"\",\"\"{}\"\",\"\"{}\"\"]\"",
        plan.call_args(0).unwrap()[0],
        plan.call_args(0).unwrap()[1],
        plan.call_args(0).unwrap()[2],
        plan.call_args(0).unwrap()[3]
    )));
}

/// A scenario calling the Counter test dapp (artifact relative to `tests/t.toml`).
fn dapp(call: &str) -> String {
    format!(
        "{BASE}[contracts.counter]\nartifact = \"fixtures/out/Counter.sol/Counter.json\"\nargs = [\"5\"]\n[[workload]]\ntype = \"call\"\nfrom = \"A\"\nto = \"counter\"\nrate = 1.0\n{call}\n"
    )
}

fn dapp_errors(call: &str) -> String {
    match scenario::parse("tests/t.toml", &dapp(call), DEFAULT_MAX_STEPS) {
        Ok(_) => panic!("expected an error for {call}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn calls_to_a_user_contract_are_checked_against_its_abi() {
    let ok = scenario::parse(
        "tests/t.toml",
        &dapp("signature = \"add\"\nargs = [\"{uint:1..9}\", \"{contract:counter}\"]"),
        DEFAULT_MAX_STEPS,
    )
    .unwrap();
    let WorkloadKind::Call(c) = &ok.workloads[0].kind else {
        panic!()
    };
    assert_eq!(
        c.signature, "add(uint256,address)",
        "a bare name is looked up"
    );
    for (call, needles) in [
        (
            "signature = \"sub\"",
            &[
                "`workload[0].signature`",
                "`counter` has no function sub",
                "it has: add(uint256,address)",
            ][..],
        ),
        (
            "signature = \"add(uint256)\"\nargs = [\"1\"]",
            &["`workload[0].signature`", "has no function add(uint256)"],
        ),
        (
            "signature = \"add\"\nargs = [\"1\"]",
            &["`workload[0].args`", "takes 2 argument(s) but args has 1"],
        ),
        (
            "signature = \"add\"\nargs = [\"x\", \"{sender}\"]",
            &["`workload[0].args[0]`", "\"x\" is not a valid uint256"],
        ),
        (
            "signature = \"add\"\nargs = [\"1\", \"{contract:nope}\"]",
            &[
                "`workload[0].args[1]`",
                "no [contracts.nope] (the scenario has: counter)",
            ],
        ),
    ] {
        let e = dapp_errors(call);
        for n in needles {
            assert!(e.contains(n), "{call}: missing {n:?} in\n{e}");
        }
    }
    let e = match scenario::parse(
        "tests/t.toml",
        &dapp("signature = \"add\"\nargs = [\"1\", \"{sender}\"]")
            .replace("args = [\"5\"]", "args = []"),
        DEFAULT_MAX_STEPS,
    ) {
        Err(e) => e.to_string(),
        Ok(_) => panic!("constructor arity"),
    };
    assert!(
        e.contains("`contracts.counter.args`") && e.contains("the constructor takes 1 argument(s)"),
        "{e}"
    );
    let e = match scenario::parse(
        "tests/t.toml",
        &dapp("signature = \"add\"").replace("fixtures/out", "fixtures/nowhere"),
        DEFAULT_MAX_STEPS,
    ) {
        Err(e) => e.to_string(),
        Ok(_) => panic!("missing artifact"),
    };
    assert!(
        e.contains("`contracts.counter.artifact`") && e.contains("cannot read"),
        "{e}"
    );
}

#[test]
fn view_expectations_are_checked_and_located() {
    let base = dapp("signature = \"add\"\nargs = [\"1\", \"{sender}\"]");
    let view = |body: &str| format!("{base}[[expect.view]]\nto = \"counter\"\n{body}\n");
    let err = |body: &str| match scenario::parse("tests/t.toml", &view(body), DEFAULT_MAX_STEPS) {
        Err(e) => e.to_string(),
        Ok(_) => panic!("expected an error for {body}"),
    };
    assert!(
        scenario::parse(
            "tests/t.toml",
            &view("call = \"count()(uint256)\"\nequals = \"{ok:0}\""),
            DEFAULT_MAX_STEPS
        )
        .is_ok()
    );
    for (body, needle) in [
        (
            "call = \"nope()(uint256)\"\nequals = \"1\"",
            "`counter` has no function nope()",
        ),
        (
            "call = \"count()(uint256)\"\nequals = \"{ok:3}\"",
            "no workload 3",
        ),
        (
            "call = \"count()(uint256)\"",
            "exactly one of `equals`, `at_least`, `at_most`",
        ),
        (
            "call = \"count()\"\nequals = \"1\"",
            "must return exactly one value",
        ),
        (
            "call = \"count()(uint256)\"\nequals = \"many\"",
            "\"many\" is not a valid uint256",
        ),
    ] {
        let e = err(body);
        assert!(
            e.contains("`expect.view[0]") && e.contains(needle),
            "{body}: {e}"
        );
    }
}

#[test]
fn setup_calls_are_checked_and_located() {
    let base = dapp("signature = \"add\"\nargs = [\"1\", \"{sender}\"]");
    let setup = |body: &str| format!("{base}[[setup]]\n{body}\n");
    let err = |body: &str| match scenario::parse("tests/t.toml", &setup(body), DEFAULT_MAX_STEPS) {
        Err(e) => e.to_string(),
        Ok(_) => panic!("expected an error for {body}"),
    };
    let ok = "from = \"A\"\nto = \"token\"\nsignature = \"approve(address,uint256)\"\nargs = [\"{contract:counter}\", \"5\"]";
    let s = scenario::parse("tests/t.toml", &setup(ok), DEFAULT_MAX_STEPS).unwrap();
    assert_eq!(s.setup.len(), 1);
    for (body, needles) in [
        (
            ok.replace("from = \"A\"", "from = \"Z\""),
            &["`setup[0].from`", "unknown role"][..],
        ),
        (
            ok.replace("\"5\"]", "\"five\"]"),
            &["`setup[0].args[1]`", "not a valid uint256"],
        ),
        (
            format!(
                "{ok}\nunless = {{ call = \"allowance(address,address)(uint256)\", args = [\"{{sender}}\"], at_least = \"5\" }}"
            ),
            &[
                "`setup[0].unless.args`",
                "takes 2 argument(s) but args has 1",
            ],
        ),
        (
            format!(
                "{ok}\nunless = {{ call = \"allowance(address,address)(uint256)\", args = [\"{{sender}}\", \"{{contract:counter}}\"] }}"
            ),
            &[
                "`setup[0].unless`",
                "exactly one of `equals` and `at_least`",
            ],
        ),
        (
            format!(
                "{}\nunless = {{ call = \"allowance({{sender}},{{contract:counter}})(uint256)\", at_least = \"5\" }}",
                ok.replace(
                    "to = \"token\"",
                    "to = \"0x000000000000000000000000000000000000dEaD\""
                )
            ),
            &["`setup[0].unless.call`", "no known ABI"],
        ),
    ] {
        let e = err(&body);
        for n in needles {
            assert!(e.contains(n), "{body}: missing {n:?} in\n{e}");
        }
    }
    // The issue's form: arguments inside the call, types from the Token's ABI.
    let s = scenario::parse(
        "tests/t.toml",
        &setup(&format!("{ok}\nunless = {{ call = \"allowance({{sender}},{{contract:counter}})(uint256)\", at_least = \"5\" }}")),
        DEFAULT_MAX_STEPS,
    )
    .unwrap();
    let u = s.setup[0].unless.as_ref().unwrap();
    assert_eq!(u.call, "allowance(address,address)(uint256)");
    assert_eq!(u.args.len(), 2);
}

#[test]
fn a_call_whose_only_template_is_a_contract_address_encodes_and_reserved_names_are_refused() {
    let s = scenario::parse(
        "tests/t.toml",
        &dapp("signature = \"add\"\nargs = [\"7\", \"{contract:counter}\"]"),
        DEFAULT_MAX_STEPS,
    )
    .unwrap();
    let WorkloadKind::Call(c) = &s.workloads[0].kind else {
        panic!()
    };
    assert!(
        !c.templated(),
        "an address known at validation is a literal"
    );
    assert!(c.input().is_some(), "the fixed input encodes: {:?}", c.args);
    assert!(c.args[1].starts_with("0x"), "{:?}", c.args);
    let e = match scenario::parse(
        "tests/t.toml",
        &dapp("signature = \"add\"").replace("[contracts.counter]", "[contracts.token]"),
        DEFAULT_MAX_STEPS,
    ) {
        Err(e) => e.to_string(),
        Ok(_) => panic!("reserved"),
    };
    assert!(
        e.contains("`contracts.token`") && e.contains("is reserved"),
        "{e}"
    );
}

#[test]
fn calls_to_loadruns_own_token_are_checked_against_its_abi() {
    let call = |sig: &str, args: &str| {
        format!(
            "{BASE}[[workload]]\ntype = \"call\"\nfrom = \"A\"\nto = \"token\"\nrate = 1.0\nsignature = \"{sig}\"\nargs = {args}\n"
        )
    };
    let s = scenario::parse(
        "t.toml",
        &call("approve", r#"["{sender}", "5"]"#),
        DEFAULT_MAX_STEPS,
    )
    .unwrap();
    let WorkloadKind::Call(c) = &s.workloads[0].kind else {
        panic!()
    };
    assert_eq!(c.signature, "approve(address,uint256)");
    assert_err(
        &call("mint(address,uint256)", r#"["{sender}", "5"]"#),
        &[
            "`workload[0].signature`",
            "`token` has no function mint(address,uint256)",
        ],
    );
}
