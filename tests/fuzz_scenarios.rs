//! Hostile scenario input never crashes: 10,000 generated and mutated scenario files (random
//! bytes, truncations, duplicated and misplaced tables, huge/negative/NaN/inf numbers, unicode,
//! wrong types) go through parse, validate and plan expansion in process, and a sample of them
//! through the real binary. Every one ends valid (a plan no larger than the step cap) or in
//! located diagnostics (`FILE:LINE:COL: `key`: …`) — never a panic or an abort.

mod common;

use std::panic::{AssertUnwindSafe, catch_unwind};

use loadrun::scenario::{self, Loaded, ScenarioError};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::Rng;

/// Small enough that a valid mutated scenario expands quickly in a debug build.
const CAP: u64 = 20_000;
const CASES: usize = 10_000;
const FILE: &str = "fuzz.toml";

fn seeds() -> Vec<String> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios");
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "toml"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .collect();
    v.sort();
    v
}

const NUMBERS: &[&str] = &[
    "1e308",
    "-1e308",
    "nan",
    "inf",
    "-inf",
    "+inf",
    "-1",
    "0",
    "-0.0",
    "1e-320",
    "9223372036854775807",
    "-9223372036854775808",
    "18446744073709551616",
    "0.5",
    "1e19",
    "4294967296",
    "65536",
    "1_000_000_000",
    "0x7fffffffffffffff",
    "3.4e38",
];
const STRINGS: &[&str] = &[
    "\"\"",
    "\"1e308 ether\"",
    "\"-1 gwei\"",
    "\"99999999999999999999999999999 ether\"",
    "\"18446744073709551615ms\"",
    "\"1000000000h\"",
    "\"0s\"",
    "\"nan\"",
    "\"Ωmega ✓ 漢字\"",
    "\"\\u0000\"",
    "\"automine\"",
    "\"0x\"",
    "\"0xzz\"",
    "\"A\"",
    "\"Z\"",
    "\"1 wei\"",
    "\"5m\"",
    "\"999999999999999999999s\"",
    "\"0.000000000000000000001 ether\"",
];
const OTHER: &[&str] = &[
    "[]",
    "{}",
    "[1, 2]",
    "true",
    "{ a = 1 }",
    "[\"A\", \"A\"]",
    "[\"A\", \"B\", \"C\"]",
    "1979-05-27T07:32:00Z",
    "[[1]]",
];
const TABLES: &[&str] = &[
    "[chain]",
    "[scenario]",
    "[funding]",
    "[expect]",
    "[[workload]]",
    "[roles.A]",
    "[roles.Ω]",
    "[workload]",
    "[[roles]]",
    "[roles]",
    "[[expect]]",
];

fn pick<'a>(rng: &mut ChaCha8Rng, xs: &[&'a str]) -> &'a str {
    xs[rng.next_u64() as usize % xs.len()]
}

fn below(rng: &mut ChaCha8Rng, n: usize) -> usize {
    if n == 0 {
        0
    } else {
        rng.next_u64() as usize % n
    }
}

/// One mutation of `text`.
fn mutate(rng: &mut ChaCha8Rng, text: &str) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    match rng.next_u64() % 9 {
        // Random bytes over a random spot.
        0 => {
            let mut b = text.as_bytes().to_vec();
            for _ in 0..1 + below(rng, 8) {
                let i = below(rng, b.len());
                if i < b.len() {
                    b[i] = rng.next_u64() as u8;
                }
            }
            return String::from_utf8_lossy(&b).into_owned();
        }
        // Truncation.
        1 => {
            let mut cut = below(rng, text.len() + 1);
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            return text[..cut].to_string();
        }
        // A line duplicated (duplicate keys and tables) or moved elsewhere (misplaced keys).
        2 if !lines.is_empty() => {
            let i = below(rng, lines.len());
            let l = lines[i].clone();
            if rng.next_u64() % 2 == 0 {
                lines.remove(i);
            }
            let j = below(rng, lines.len() + 1);
            lines.insert(j, l);
        }
        // A table header inserted anywhere.
        3 => {
            let j = below(rng, lines.len() + 1);
            lines.insert(j, pick(rng, TABLES).to_string());
        }
        // Values replaced with extreme numbers, hostile strings or wrong types.
        4..=7 => {
            for _ in 0..1 + below(rng, 3) {
                let with_value: Vec<usize> = (0..lines.len())
                    .filter(|&i| lines[i].contains(" = ") && !lines[i].starts_with('#'))
                    .collect();
                if with_value.is_empty() {
                    break;
                }
                let i = with_value[below(rng, with_value.len())];
                let key = lines[i].split(" = ").next().unwrap_or("").to_string();
                let value = match rng.next_u64() % 3 {
                    0 => pick(rng, NUMBERS),
                    1 => pick(rng, STRINGS),
                    _ => pick(rng, OTHER),
                };
                lines[i] = format!("{key} = {value}");
            }
        }
        // Rates scaled up by a huge factor on every rate key at once.
        _ => {
            let value = pick(rng, NUMBERS);
            for l in &mut lines {
                if l.contains("_rate =") || l.starts_with("rate =") {
                    let key = l.split(" = ").next().unwrap_or("").to_string();
                    *l = format!("{key} = {value}");
                }
            }
        }
    }
    lines.join("\n")
}

/// What a case ended in (the test fails on anything else).
enum End {
    Valid(usize),
    Invalid,
}

fn check(text: &str) -> Result<End, String> {
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        match scenario::parse(FILE, text, CAP) {
            Ok(s) => {
                let seed = s.seed;
                let loaded = Loaded {
                    scenario: s,
                    file: FILE.into(),
                    text: text.into(),
                };
                loadrun::plan::expand_loaded(&loaded, seed).map(|p| p.steps.len())
            }
            Err(e) => Err(e),
        }
    }));
    match outcome {
        Err(_) => Err("panicked".into()),
        Ok(Ok(n)) if n as u64 > CAP => Err(format!("{n} steps, more than the cap {CAP}")),
        Ok(Ok(n)) => Ok(End::Valid(n)),
        Ok(Err(e)) => {
            let shown = e.to_string();
            let ScenarioError::Invalid(d) = &e else {
                return Err(format!("not a scenario diagnostic: {shown}"));
            };
            for one in &d.0 {
                let line = one.to_string();
                if !line.starts_with(&format!("{FILE}:")) || !line.contains(": `") {
                    return Err(format!("unlocated: {line}"));
                }
            }
            if d.0.is_empty() {
                return Err("no diagnostic".into());
            }
            Ok(End::Invalid)
        }
    }
}

#[test]
fn ten_thousand_mutated_scenarios_end_valid_or_located_never_crash() {
    let seeds = seeds();
    assert!(seeds.len() >= 5);
    let mut rng = ChaCha8Rng::seed_from_u64(0x10ad_f022);
    let (mut valid, mut invalid, mut biggest) = (0usize, 0usize, 0usize);
    // Panics are caught and reported with their input; keep the default hook quiet meanwhile.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let mut failures = Vec::new();
    for case in 0..CASES {
        let base = &seeds[case % seeds.len()];
        let mut text = mutate(&mut rng, base);
        // Some cases stack several mutations.
        for _ in 0..below(&mut rng, 3) {
            text = mutate(&mut rng, &text);
        }
        match check(&text) {
            Ok(End::Valid(n)) => {
                valid += 1;
                biggest = biggest.max(n);
            }
            Ok(End::Invalid) => invalid += 1,
            Err(why) => failures.push(format!("case {case}: {why}\n--- input ---\n{text}\n---")),
        }
        if failures.len() >= 3 {
            break;
        }
    }
    std::panic::set_hook(hook);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(valid + invalid, CASES);
    // The generator must exercise both outcomes substantially, or it tests nothing.
    assert!(valid > CASES / 50, "only {valid} valid cases");
    assert!(invalid > CASES / 4, "only {invalid} invalid cases");
    eprintln!("{CASES} cases: {valid} valid (largest plan {biggest} steps), {invalid} rejected");
}

#[test]
fn the_binary_exits_0_or_2_with_a_located_error_on_mutated_files() {
    let seeds = seeds();
    let dir = tempfile::tempdir().unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let mut rejected = 0;
    for case in 0..150 {
        let text = mutate(&mut rng, &seeds[case % seeds.len()]);
        let path = common::scenario(dir.path(), &format!("case{case}"), &text);
        let out = common::loadrun()
            .args(["validate", "--max-steps", "20000"])
            .arg(&path)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        match out.status.code() {
            Some(0) => {}
            Some(2) => {
                rejected += 1;
                assert!(
                    err.lines()
                        .any(|l| l.starts_with("error: ") && l.contains(".toml:")),
                    "case {case}: exit 2 without a located error:\n{err}\n--- input ---\n{text}"
                );
                assert!(!err.contains("panicked"), "case {case}: {err}");
            }
            other => panic!("case {case}: exit {other:?}\n{err}\n--- input ---\n{text}"),
        }
    }
    assert!(rejected > 30, "only {rejected} rejected");
}
