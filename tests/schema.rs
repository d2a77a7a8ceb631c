//! The committed JSON Schema matches the types, and every scenario points editors at it.

#[test]
fn committed_schema_matches_the_types() {
    let committed = std::fs::read_to_string("schemas/scenario.schema.json").unwrap();
    assert!(
        committed == loadrun::scenario::json_schema(),
        "schemas/scenario.schema.json is stale: run `cargo run -- schema --out schemas/scenario.schema.json` and commit it"
    );
}

#[test]
fn every_scenario_references_the_schema() {
    for entry in std::fs::read_dir("scenarios").unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            let text = std::fs::read_to_string(&path).unwrap();
            assert!(
                text.starts_with("#:schema ../schemas/scenario.schema.json\n"),
                "{} must start with the #:schema line",
                path.display()
            );
        }
    }
}
