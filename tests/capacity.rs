//! `loadrun capacity` on a spawned anvil whose small blocks make a knee: one row per step,
//! every step's run directory complete, the knee's cause named, and the min_rate gate.

mod common;

use common::{fixture, loadrun, scenario, text};

#[test]
fn capacity_finds_the_knee_of_full_blocks_and_gates_on_min_rate() {
    let dir = tempfile::tempdir().unwrap();
    // 21,000 gas a transfer: 100 transfers fit a block, so ~100/s is the chain's capacity.
    let path = scenario(
        dir.path(),
        "capacity",
        &fixture(
            "capacity",
            &[("gas_limit", "2100000"), ("per_block", "100")],
        ),
    );
    let out = dir.path().join("cap");
    let o = loadrun()
        .arg("capacity")
        .arg(&path)
        .arg("--out")
        .arg(&out)
        .args(["--expect-min-rate", "1000000"])
        .output()
        .unwrap();
    let all = text(&o);
    // The gate: exit 1 with the measured value, because nothing sustains 1,000,000/s.
    assert_eq!(o.status.code(), Some(1), "{all}");
    assert!(all.contains("is below min_rate 1,000,000 tx/s"), "{all}");
    let csv = std::fs::read(out.join("capacity.csv")).unwrap();
    let steps = loadrun::report::capacity::read_csv(&csv[..]).unwrap();
    assert!(steps.len() >= 3, "{all}");
    let step_dirs = std::fs::read_dir(&out)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with("step-")
        })
        .count();
    assert_eq!(step_dirs, steps.len(), "one run directory per row");
    for s in &steps {
        for f in [
            "steps.csv",
            "summary.csv",
            "verdict.json",
            "report.html",
            "sanity.md",
            "run.toml",
        ] {
            assert!(out.join(&s.dir).join(f).exists(), "{}/{f} missing", s.dir);
        }
    }
    // 40/s and 80/s fit the blocks; 160/s does not: the knee is between them.
    let best = steps
        .iter()
        .filter(|s| s.pass)
        .map(|s| s.target_rate)
        .fold(0.0, f64::max);
    let knee = steps
        .iter()
        .filter(|s| !s.pass && s.target_rate > best)
        .min_by(|a, b| a.target_rate.total_cmp(&b.target_rate))
        .expect("a failing step above the best");
    assert!((60.0..=110.0).contains(&best), "best {best}: {all}");
    // The knee's side is named: full blocks (the verdict's cause, or its block figures when
    // inclusion stayed within 3 blocks).
    assert!(
        knee.cause == "blocks_full" || knee.full_blocks_share >= 0.2,
        "{knee:?}: {all}"
    );
    let answer = all
        .lines()
        .find(|l| l.starts_with("capacity: sustains"))
        .expect(&all);
    assert!(answer.contains("blocks were full"), "{answer}");
    let html = std::fs::read_to_string(out.join("capacity.html")).unwrap();
    assert!(html.contains(&format!("{}/report.html", knee.dir)));
    assert!(html.contains("knee"));
}
