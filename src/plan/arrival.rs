//! Arrival processes: the instants at which a rate-driven kind fires inside a window.

use super::rng::Draw;
use crate::scenario::{Arrival, count_for};

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
