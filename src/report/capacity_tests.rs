//! The capacity search and its judge: unit tests and a property test over any node limit.

use super::*;

fn slo() -> Capacity {
    Capacity::default()
}

fn step(scale: f64, pass: bool, cause: &str) -> StepFigures {
    StepFigures {
        step: 1,
        scale,
        target_rate: 100.0 * scale,
        achieved_rate: 100.0 * scale,
        included_rate: if pass { 100.0 * scale } else { 50.0 * scale },
        included_share: if pass { 1.0 } else { 0.5 },
        p50_inclusion_ms: 500.0,
        p99_inclusion_ms: if pass { 1_100.0 } else { 9_000.0 },
        failed_share: 0.0,
        cause: cause.into(),
        full_blocks_share: 0.0,
        pass,
        node_cpu_peak_pct: Some(150.0),
        node_cores: Some(2),
        node_rss_peak_mb: Some(300.0),
        dir: format!("step-{scale}"),
    }
}

#[test]
fn a_step_within_the_slo_passes_and_each_miss_is_named_with_its_key() {
    let s = slo();
    assert_eq!(judge(&step(1.0, true, "ok"), &s), (Outcome::Pass, vec![]));
    let mut bad = step(2.0, false, "chain_slow");
    bad.failed_share = 0.5;
    let (o, why) = judge(&bad, &s);
    assert_eq!(o, Outcome::Fail);
    assert_eq!(why.len(), 3, "{why:?}");
    assert!(why[0].contains("max_p99_inclusion"), "{why:?}");
    assert!(why[1].contains("max_failed"), "{why:?}");
    assert!(why[2].contains("min_included"), "{why:?}");
}

#[test]
fn loadrun_saturating_stops_the_search_and_is_never_the_nodes_limit() {
    let (o, why) = judge(&step(8.0, false, "loadrun_cpu"), &slo());
    assert_eq!(o, Outcome::LoadrunBound);
    assert!(why[0].contains("loadrun's own CPU"));
    let mut search = Search::new(&slo());
    search.record(1.0, Outcome::Pass);
    search.record(2.0, Outcome::LoadrunBound);
    assert_eq!(search.next(), None);
    assert_eq!(search.stop(), Some(Stop::LoadrunBound));
    let steps = [step(1.0, true, "ok"), step(2.0, false, "loadrun_cpu")];
    // The saturated step is no knee: the words say loadrun's limit came first.
    let a = answer(&steps, Stop::LoadrunBound);
    assert!(a.knee.is_none());
    let line = describe(&a, "");
    assert!(line.contains("then loadrun's own CPU saturated"), "{line}");
    assert!(line.contains("the node's limit is higher"), "{line}");
    // Nor is an interrupted step, and a knee below it still counts.
    let steps = [
        step(1.0, true, "ok"),
        step(4.0, false, "node_cpu"),
        step(3.0, false, "interrupted"),
    ];
    assert_eq!(answer(&steps, Stop::Incomplete).knee.unwrap().scale, 4.0);
}

#[test]
fn the_best_is_the_pass_that_sustained_most_not_the_highest_scale() {
    let mut high = step(7.25, true, "node_cpu");
    high.included_share = 0.92;
    let steps = [step(7.0, true, "ok"), high, step(7.5, false, "node_cpu")];
    let a = answer(&steps, Stop::Precise);
    assert_eq!(a.best.unwrap().scale, 7.0, "700/s sustained beats 667/s");
    assert_eq!(a.knee.unwrap().scale, 7.5);
}

#[test]
fn the_search_doubles_then_bisects_to_the_precision() {
    let mut s = Search::new(&slo());
    let mut scales = Vec::new();
    while let Some(x) = s.next() {
        scales.push(x);
        s.record(
            x,
            if x <= 5.0 {
                Outcome::Pass
            } else {
                Outcome::Fail
            },
        );
    }
    assert_eq!(&scales[..4], &[1.0, 2.0, 4.0, 8.0]);
    assert_eq!(s.stop(), Some(Stop::Precise));
    let (p, f) = (s.pass.unwrap(), s.fail.unwrap());
    assert!(
        p <= 5.0 && f > 5.0 && f / p - 1.0 <= 0.05,
        "{p} {f} {scales:?}"
    );
}

#[test]
fn the_answer_names_the_best_pass_and_the_knee_above_it() {
    let mut knee = step(4.4, false, "node_cpu");
    knee.node_cpu_peak_pct = Some(198.0);
    let steps = [
        step(1.0, true, "ok"),
        step(4.18, true, "ok"),
        knee,
        step(8.0, false, "node_cpu"),
    ];
    let a = answer(&steps, Stop::Precise);
    assert_eq!(a.best.unwrap().scale, 4.18);
    assert_eq!(a.knee.unwrap().scale, 4.4);
    let line = describe(&a, &limit(a.knee.unwrap(), &[]));
    assert_eq!(
        line,
        "capacity: sustains 418 tx/s (scale 4.18, target 418/s, p99 inclusion 1.10 s); at 440 tx/s offered (scale 4.4): the node's CPU saturated: 198 % of 2 cores"
    );
}

#[test]
fn the_included_share_forgives_one_blocks_tail_but_not_a_backlog() {
    // 4 s at 40/s, all ok, the last inclusion 1 s after the window: the chain kept up.
    let kept_up = included_share(160.0, 160.0, 160.0 / 5.0, 40.0, 1.0);
    assert!((kept_up - 1.0).abs() < 1e-9, "{kept_up}");
    // 4 s at 160/s into blocks of 100/s: 640 included over 6.4 s.
    let backlog = included_share(640.0, 640.0, 100.0, 160.0, 1.0);
    assert!((0.70..0.76).contains(&backlog), "{backlog}");
    // Half the steps failed: half the target.
    let half = included_share(80.0, 160.0, 80.0 / 5.0, 40.0, 1.0);
    assert!((half - 0.5).abs() < 1e-9, "{half}");
    assert_eq!(included_share(0.0, 160.0, 0.0, 40.0, 1.0), 0.0);
}

#[test]
fn scales_read_with_four_significant_digits() {
    assert_eq!(scale_text(0.09380000000000001), "0.0938");
    assert_eq!(scale_text(4.0), "4");
    assert_eq!(scale_text(12.345678), "12.35");
    assert_eq!(scale_text(1.5), "1.5");
}

#[test]
fn capacity_csv_round_trips() {
    let steps = vec![step(1.0, true, "ok"), step(2.0, false, "blocks_full")];
    let mut buf = Vec::new();
    write_csv(&steps, &mut buf).unwrap();
    let text = String::from_utf8(buf.clone()).unwrap();
    assert_eq!(text.lines().next().unwrap(), CSV_HEADER);
    assert_eq!(read_csv(&buf[..]).unwrap(), steps);
}

proptest::proptest! {
    /// Whatever the node's limit, the search ends within a bounded number of steps with the
    /// last pass at or below the limit and the first failure above it, within the precision —
    /// or at max_scale when the limit is above it, or with nothing passing when it is below
    /// the floor.
    #[test]
    fn the_search_brackets_any_limit(limit in 0.01f64..200.0, start in 0.5f64..4.0) {
        let c = Capacity { start_scale: start, ..Capacity::default() };
        let mut s = Search::new(&c);
        let mut n = 0;
        while let Some(x) = s.next() {
            n += 1;
            proptest::prop_assert!(n <= 40, "no end: {:?}", s);
            s.record(x, if x <= limit { Outcome::Pass } else { Outcome::Fail });
        }
        match s.stop() {
            Some(Stop::Precise) => {
                let (p, f) = (s.pass.unwrap(), s.fail.unwrap());
                proptest::prop_assert!(p <= limit && f > limit);
                proptest::prop_assert!(f / p - 1.0 <= c.precision + 1e-9);
            }
            Some(Stop::MaxScale) => proptest::prop_assert!(limit >= c.max_scale),
            Some(Stop::NothingPasses) => proptest::prop_assert!(limit < start),
            other => proptest::prop_assert!(false, "stopped {:?}", other),
        }
    }
}
