//! `loadrun capacity` on a spawned anvil whose small blocks make a knee: one row per step,
//! every step's run directory complete, the knee's cause named, and the min_rate gate.

mod common;

use common::{fixture, loadrun, scenario, text};

/// The capacity fixture in a temporary directory: 21,000 gas a transfer and a 2.1 M gas limit,
/// so 100 transfers fit a block and ~100/s is the chain's capacity.
fn small_blocks() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = scenario(
        dir.path(),
        "capacity",
        &fixture(
            "capacity",
            &[("gas_limit", "2100000"), ("per_block", "100")],
        ),
    );
    (dir, path)
}

#[test]
fn capacity_finds_the_knee_of_full_blocks_and_gates_on_min_rate() {
    let (dir, path) = small_blocks();
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

/// A capacity directory holding `capacity.csv` with one passing step at `rate`/s and the knee
/// above it.
fn capacity_dir(root: &std::path::Path, name: &str, rate: f64) -> std::path::PathBuf {
    use loadrun::report::capacity::{StepFigures, write_csv};
    let step = |n: u32, scale: f64, pass: bool| StepFigures {
        step: n,
        scale,
        target_rate: 100.0 * scale,
        achieved_rate: 100.0 * scale,
        included_rate: 95.0 * scale,
        included_share: if pass { 1.0 } else { 0.6 },
        p50_inclusion_ms: 500.0,
        p99_inclusion_ms: if pass { 1_000.0 } else { 6_000.0 },
        failed_share: 0.0,
        cause: if pass { "ok" } else { "node_cpu" }.into(),
        full_blocks_share: 0.0,
        pass,
        node_cpu_peak_pct: Some(150.0),
        node_cores: Some(2),
        node_rss_peak_mb: Some(200.0),
        dir: format!("step-0{n}"),
    };
    let dir = root.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    let steps = vec![step(1, rate / 100.0, true), step(2, rate / 50.0, false)];
    write_csv(
        &steps,
        std::fs::File::create(dir.join("capacity.csv")).unwrap(),
    )
    .unwrap();
    dir
}

#[test]
fn diff_of_two_capacity_searches_fails_a_release_that_lost_ten_percent() {
    let root = tempfile::tempdir().unwrap();
    let base = capacity_dir(root.path(), "base", 4_000.0);
    let same = capacity_dir(root.path(), "same", 3_900.0);
    let worse = capacity_dir(root.path(), "worse", 3_500.0);
    let diff = |new: &std::path::Path| {
        loadrun()
            .arg("diff")
            .arg(&base)
            .arg(new)
            .args(["--fail-on", "found_rate<-10%"])
            .output()
            .unwrap()
    };
    let o = diff(&same);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("found_rate"), "{}", text(&o));
    let o = diff(&worse);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("FAIL: found_rate"), "{}", text(&o));
}

#[test]
fn ctrl_c_keeps_what_the_search_found() {
    let (dir, path) = small_blocks();
    let out = dir.path().join("cap");
    let mut cmd = loadrun();
    cmd.arg("capacity").arg(&path).arg("--out").arg(&out);
    let mut run = common::Watched::spawn(cmd);
    run.until(|l| l.starts_with("capacity step 1: scale 1:"))
        .expect("the first step is judged");
    // Interrupt the second step while it sends.
    run.until(|l| l.starts_with("capacity step 2: rate scale 2"))
        .expect("the second step starts");
    run.until(|l| l.starts_with("funded:"))
        .expect("the second step is funded");
    run.interrupt();
    assert_eq!(run.finish(), Some(130), "{}", run.seen);
    let csv = std::fs::read(out.join("capacity.csv")).unwrap();
    let steps = loadrun::report::capacity::read_csv(&csv[..]).unwrap();
    assert!(steps[0].pass, "{}", run.seen);
    assert!(steps.len() <= 2, "the search stopped: {}", run.seen);
    assert!(
        run.seen.contains("capacity: sustains 40.0 tx/s"),
        "{}",
        run.seen
    );
    assert!(out.join("capacity.html").exists());
}
