//! Plan benchmark: expand the 1,000,000-step fixture and write it as CSV, best of 5.
//!
//! `cargo bench --bench plan`. For peak RSS of the whole command, see README "Benchmarks".

use std::io::BufWriter;
use std::time::{Duration, Instant};

use loadrun::plan::{expand, output::write_csv};
use loadrun::scenario::{DEFAULT_MAX_STEPS, load};

fn best_of<T>(runs: usize, mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut best = Duration::MAX;
    let mut last = None;
    for _ in 0..runs {
        let t = Instant::now();
        let v = f();
        best = best.min(t.elapsed());
        last = Some(v);
    }
    (best, last.expect("runs > 0"))
}

fn main() {
    let loaded = load("benches/million.toml".as_ref(), DEFAULT_MAX_STEPS).expect("fixture loads");
    let (expand_time, plan) = best_of(5, || {
        expand(&loaded.scenario, loaded.scenario.seed).expect("expands")
    });
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("plan.csv");
    let (write_time, ()) = best_of(5, || {
        let mut w =
            BufWriter::with_capacity(1 << 20, std::fs::File::create(&path).expect("create"));
        write_csv(&plan, &mut w).expect("write");
    });
    let bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    println!(
        "plan/expand   {} steps  {:>8.1} ms",
        plan.steps.len(),
        expand_time.as_secs_f64() * 1e3
    );
    println!(
        "plan/csv      {} bytes  {:>8.1} ms",
        bytes,
        write_time.as_secs_f64() * 1e3
    );
    println!(
        "plan/total    {:>8.1} ms  (goal < 1000 ms)",
        (expand_time + write_time).as_secs_f64() * 1e3
    );
}
