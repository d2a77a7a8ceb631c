//! Arrival processes: the instants at which a rate-driven kind fires inside a window.

use super::rng::Draw;
use crate::scenario::poisson_bound;
use crate::scenario::{Arrival, Stage, count_for, stage_count};

/// The instants of a rate-driven workload: `staged` when it has stages, else `instants`.
pub fn schedule(
    draw: &mut Draw,
    arrival: Arrival,
    (rate, stages): (f64, &[Stage]),
    start: u64,
    stop: u64,
) -> Vec<u64> {
    if stages.is_empty() {
        instants(draw, arrival, rate, start, stop)
    } else {
        staged(draw, arrival, stages, start)
    }
}

/// Sorted instants (ms) of a piecewise-linear rate from `start` (k6's stages): stage i goes
/// linearly from the previous target (0 before the first) to its target over its duration and
/// holds round(its integral) events (`uniform`: drawn from the ramp's density; `constant`:
/// evenly spaced in the ramp's cumulative count), or a Poisson number of them with that mean.
/// Each instant is the exact inverse of the cumulative rate, floored to the millisecond.
pub fn staged(draw: &mut Draw, arrival: Arrival, stages: &[Stage], start: u64) -> Vec<u64> {
    let mut out = Vec::new();
    let (mut from, mut t0) = (0.0f64, start);
    for s in stages {
        // Rates per ms at the stage's start and end, its length, its cumulative count Λ(len).
        let (a, b, len) = (from / 1000.0, s.target / 1000.0, s.duration_ms as f64);
        let total = (a + b) / 2.0 * len;
        // Λ⁻¹(u): the offset x with a·x + (b−a)·x²/(2·len) = u, in the form stable for both
        // ramp directions.
        let at = |u: f64| -> u64 {
            let root = (a * a + 2.0 * (b - a) * u / len).max(0.0).sqrt();
            let x = if a + root > 0.0 {
                2.0 * u / (a + root)
            } else {
                0.0
            };
            t0 + (x.max(0.0).floor() as u64).min(s.duration_ms.saturating_sub(1))
        };
        let n = stage_count(from, *s);
        match arrival {
            Arrival::Uniform => out.extend((0..n).map(|_| at(draw.unit() * total))),
            Arrival::Constant => out.extend((0..n).map(|k| at(k as f64 * total / n as f64))),
            Arrival::Poisson => {
                let (bound, mut u, mut k) = (poisson_bound(n, arrival), 0.0, 0u64);
                while total > 0.0 && k < bound {
                    u += draw.exponential(1.0);
                    if u >= total {
                        break;
                    }
                    out.push(at(u));
                    k += 1;
                }
            }
        }
        from = s.target;
        t0 += s.duration_ms;
    }
    out.sort_unstable();
    out
}

/// Sorted instants (ms) in `[start, stop)` for `rate` events per second.
///
/// `uniform` draws exactly round(rate × window) independent instants (a Poisson process
/// conditioned on its count); `constant` spaces that many evenly; `poisson` draws exponential
/// gaps with mean 1/rate, so its count is itself random with mean rate × window, bounded by
/// mean + 10·sqrt(mean) + 10 to keep memory predictable.
pub fn instants(draw: &mut Draw, arrival: Arrival, rate: f64, start: u64, stop: u64) -> Vec<u64> {
    let window = stop - start;
    let n = count_for(rate, window);
    let mut out = match arrival {
        Arrival::Uniform => (0..n).map(|_| draw.range(start, stop)).collect::<Vec<_>>(),
        Arrival::Constant => (0..n)
            .map(|i| start + (u128::from(i) * u128::from(window) / u128::from(n)) as u64)
            .collect(),
        Arrival::Poisson => {
            let bound = n + 10 * (n as f64).sqrt().ceil() as u64 + 10;
            let mut v = Vec::with_capacity(n as usize);
            if rate > 0.0 {
                let mean_gap = 1000.0 / rate;
                let mut t = start as f64;
                loop {
                    t += draw.exponential(mean_gap);
                    if t >= stop as f64 || v.len() as u64 >= bound {
                        break;
                    }
                    v.push(t as u64);
                }
            }
            v
        }
    };
    out.sort_unstable();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::rng::{Purpose, stream};
    use proptest::prelude::*;

    fn stage() -> impl Strategy<Value = Stage> {
        (1u64..20_000, prop_oneof![Just(0.0), 0.0f64..400.0]).prop_map(|(duration_ms, target)| {
            Stage {
                duration_ms,
                target,
            }
        })
    }

    proptest! {
        /// Every stage holds round(its integral) instants, all inside it, in order; a constant
        /// arrival follows the ramp (no more events in the slower half of a stage).
        #[test]
        fn stages_hold_their_integral_and_follow_the_ramp(
            stages in proptest::collection::vec(stage(), 1..5),
            start in 0u64..5_000,
            seed in 0u64..1_000,
            constant in any::<bool>(),
        ) {
            let arrival = if constant { Arrival::Constant } else { Arrival::Uniform };
            let mut d = stream(seed, 0, Purpose::Times);
            let v = staged(&mut d, arrival, &stages, start);
            prop_assert!(v.windows(2).all(|w| w[0] <= w[1]));
            let (mut from, mut t0) = (0.0, start);
            for s in &stages {
                let inside: Vec<u64> = v.iter().copied().filter(|t| (t0..t0 + s.duration_ms).contains(t)).collect();
                prop_assert_eq!(inside.len() as u64, stage_count(from, *s));
                if constant && s.duration_ms >= 2 && inside.len() >= 20 && (s.target - from).abs() > 1.0 {
                    let mid = t0 + s.duration_ms / 2;
                    let first = inside.iter().filter(|t| **t < mid).count() as i64;
                    let second = inside.len() as i64 - first;
                    // The faster half holds more, up to rounding at the midpoint.
                    if s.target > from {
                        prop_assert!(first <= second + 1, "{first} vs {second} on {s:?} from {from}");
                    } else {
                        prop_assert!(second <= first + 1, "{first} vs {second} on {s:?} from {from}");
                    }
                }
                from = s.target;
                t0 += s.duration_ms;
            }
            prop_assert!(v.iter().all(|t| *t < t0));
        }
    }

    #[test]
    fn a_ramp_up_hold_and_down_are_k6_stages() {
        let stages = [
            Stage {
                duration_ms: 10_000,
                target: 100.0,
            },
            Stage {
                duration_ms: 20_000,
                target: 100.0,
            },
            Stage {
                duration_ms: 10_000,
                target: 0.0,
            },
        ];
        let mut d = stream(3, 0, Purpose::Times);
        let v = staged(&mut d, Arrival::Constant, &stages, 0);
        // 500 ramping up, 2,000 held, 500 ramping down.
        assert_eq!(v.len(), 3_000);
        assert_eq!(v.iter().filter(|t| **t < 10_000).count(), 500);
        assert_eq!(
            v.iter().filter(|t| (10_000..30_000).contains(*t)).count(),
            2_000
        );
        // The ramp: the first second of it holds 1 %, its last second 19 % of its 500.
        assert_eq!(v.iter().filter(|t| **t < 1_000).count(), 5);
        assert_eq!(
            v.iter().filter(|t| (9_000..10_000).contains(*t)).count(),
            95
        );
    }

    #[test]
    fn constant_is_evenly_spaced() {
        let mut d = stream(1, 0, Purpose::Times);
        assert_eq!(
            instants(&mut d, Arrival::Constant, 2.0, 0, 2000),
            vec![0, 500, 1000, 1500]
        );
    }

    #[test]
    fn uniform_count_is_exact_and_in_window() {
        let mut d = stream(1, 0, Purpose::Times);
        let v = instants(&mut d, Arrival::Uniform, 3.3, 100, 10_100);
        assert_eq!(v.len(), 33);
        assert!(v.iter().all(|t| (100..10_100).contains(t)));
    }

    #[test]
    fn poisson_mean_is_close_to_rate() {
        let mut d = stream(7, 0, Purpose::Times);
        let v = instants(&mut d, Arrival::Poisson, 100.0, 0, 100_000);
        // mean 10,000, sd 100: 6 sd is far beyond chance for this fixed seed.
        assert!((9_400..10_600).contains(&v.len()), "{}", v.len());
        assert!(v.iter().all(|t| *t < 100_000));
    }
}
