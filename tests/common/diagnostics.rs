//! What the validation tests share: a minimal valid scenario, a channel workload to add, and
//! the check that parsing fails with every expected piece in its diagnostics.

use loadrun::scenario::{self, DEFAULT_MAX_STEPS, ScenarioError};

pub const BASE: &str = r#"version = 1

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

pub const CHANNEL: &str = r#"
[[workload]]
type = "channel"
funding = "direct"
between = ["A", "B"]
create_rate = 1.0
deposit = "0.01 ether"
"#;

/// Parses `text` and returns every diagnostic rendered, failing if it was valid.
pub fn errors(text: &str) -> String {
    match scenario::parse("t.toml", text, DEFAULT_MAX_STEPS) {
        Ok(_) => panic!("expected an error for:\n{text}"),
        Err(ScenarioError::Invalid(d)) => d.to_string(),
        Err(e) => panic!("unexpected error kind: {e}"),
    }
}

/// Asserts that the error output contains all of `needles`.
pub fn assert_err(text: &str, needles: &[&str]) {
    let out = errors(text);
    for n in needles {
        assert!(out.contains(n), "missing {n:?} in:\n{out}");
    }
}
