//! Validation of what calls are made of: rate stages, argument templates, user contracts and
//! their ABIs, `[[setup]]` and `[[expect.view]]` — each rule broken gives a located diagnostic;
//! plus the counts and arguments a valid plan gets from them.

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
