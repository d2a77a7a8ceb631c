//! Validation of what calls are made of: rate stages, argument templates, user contracts and
//! their ABIs, `[[setup]]` and `[[expect.view]]` — each rule broken gives a located diagnostic;
//! plus the counts and arguments a valid plan gets from them.

mod common;

use common::diagnostics::{BASE, assert_err};
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
