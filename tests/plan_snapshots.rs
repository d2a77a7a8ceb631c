//! Golden snapshots of the plans of every scenarios/*.toml: any change to plan output is a
//! visible, reviewed diff (`cargo insta review`).

use loadrun::plan::output::{write_csv, write_jsonl};
use loadrun::scenario::{DEFAULT_MAX_STEPS, load};

#[test]
fn plans_of_all_scenarios() {
    insta::glob!("../scenarios", "*.toml", |path| {
        let loaded = load(path, DEFAULT_MAX_STEPS).unwrap();
        let plan = loadrun::plan::expand_loaded(&loaded, loaded.scenario.seed).unwrap();
        let mut csv = Vec::new();
        write_csv(&plan, &mut csv).unwrap();
        insta::assert_snapshot!(String::from_utf8(csv).unwrap());
    });
}

#[test]
fn jsonl_format_of_the_smoke_scenario() {
    let loaded = load("scenarios/ci-smoke.toml".as_ref(), DEFAULT_MAX_STEPS).unwrap();
    let plan = loadrun::plan::expand_loaded(&loaded, loaded.scenario.seed).unwrap();
    let mut out = Vec::new();
    write_jsonl(&plan, &mut out).unwrap();
    insta::assert_snapshot!(String::from_utf8(out).unwrap());
}
