//! When the receipt watcher asks the node for its head: every poll while blocks come at no
//! steady pace (automine, an idle chain), but on a chain that makes a block every `i` ms
//! (interval mining, a rollup's sequencer) not until shortly before the next one is due. At 1-s
//! blocks that is ~6 `eth_blockNumber` calls per block instead of 100. Asking starts
//! `max(5 % of i, 20 ms)` before the next block is due, so on a steady chain no block is seen
//! later than before. The pace is the one the node was started with (a spawned anvil's
//! `block_time`), from the first block seen arriving on; otherwise it is learnt from eight
//! blocks in a row. A block more than 1.2× the pace apart from the one before (or less than
//! 1/1.2 of it), or two blocks at once (the chain sped up), ends the waiting: every poll asks again until eight blocks in a
//! row are steady. A block up to 20 % early is seen when the waiting ends, at most that much
//! late.

/// Intervals between consecutive blocks remembered.
const SAMPLES: usize = 8;
/// Below this interval, polling at every turn costs nothing worth saving.
const MIN_INTERVAL_MS: f64 = 100.0;
/// Steady means the longest of the remembered intervals is within this factor of the shortest.
const STEADY: f64 = 1.2;

/// The pace of the chain's blocks, as the watcher saw them.
#[derive(Debug, Default)]
pub struct Cadence {
    /// The newest head and when it was first seen, ms.
    last: Option<(u64, f64)>,
    /// Whether `last` was seen arriving (the head before it was seen too): only then is its
    /// time the block's, give or take a poll.
    arrived: bool,
    /// The latest intervals between a head and the next (both seen arriving), ms, oldest first.
    intervals: std::collections::VecDeque<f64>,
    /// The interval the node was started with, until a block contradicts it.
    expected: Option<f64>,
}

impl Cadence {
    /// A cadence that trusts `block_ms` (the node's configured interval) from the first block
    /// seen arriving, instead of learning the pace first.
    pub fn expecting(block_ms: Option<u64>) -> Self {
        Self {
            expected: block_ms.map(|ms| ms as f64),
            ..Self::default()
        }
    }

    /// Records that the head was `head` at `now_ms`.
    pub fn saw(&mut self, head: u64, now_ms: f64) {
        match self.last {
            Some((h, _)) if head <= h => {}
            Some((h, t)) if head == h + 1 => {
                if self.arrived {
                    let interval = now_ms - t;
                    if self
                        .expected
                        .is_some_and(|e| interval > e * STEADY || interval * STEADY < e)
                    {
                        self.expected = None;
                    }
                    if self.intervals.len() == SAMPLES {
                        self.intervals.pop_front();
                    }
                    self.intervals.push_back(interval);
                }
                self.last = Some((head, now_ms));
                self.arrived = true;
            }
            // The first head, or several blocks at once (the chain ran ahead of the pace, or
            // the watcher fell behind): what was learnt no longer holds.
            Some(_) => {
                self.intervals.clear();
                self.expected = None;
                self.last = Some((head, now_ms));
                self.arrived = false;
            }
            None => {
                self.last = Some((head, now_ms));
                self.arrived = false;
            }
        }
    }

    /// The block interval, when blocks come at a steady pace worth waiting for.
    pub fn interval_ms(&self) -> Option<f64> {
        if !self.arrived {
            return None;
        }
        if self.intervals.len() < SAMPLES {
            return self.expected.filter(|e| *e >= MIN_INTERVAL_MS);
        }
        let lo = self.intervals.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = self.intervals.iter().copied().fold(0.0, f64::max);
        (lo >= MIN_INTERVAL_MS && hi <= lo * STEADY).then_some(lo)
    }

    /// Whether to ask for the head at `now_ms`.
    pub fn due(&self, now_ms: f64) -> bool {
        self.wait_ms(now_ms) == 0.0
    }

    /// How long until the head is worth asking for, ms (0: now).
    pub fn wait_ms(&self, now_ms: f64) -> f64 {
        match (self.last, self.interval_ms()) {
            (Some((_, t)), Some(i)) => (t + i - (0.05 * i).max(20.0) - now_ms).max(0.0),
            _ => 0.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Cadence;

    /// Heads seen polling every 10 ms a chain that makes a block every `block_ms` from `t0`.
    fn polled(c: &mut Cadence, blocks: u64, block_ms: f64) -> usize {
        let mut asked = 0;
        let mut t = 0.0;
        while t < blocks as f64 * block_ms {
            if c.due(t) {
                asked += 1;
                c.saw((t / block_ms) as u64, t);
            }
            t += 10.0;
        }
        asked
    }

    #[test]
    fn steady_blocks_are_waited_for_and_never_seen_late() {
        let mut c = Cadence::default();
        let asked = polled(&mut c, 60, 1000.0);
        assert_eq!(c.interval_ms(), Some(1000.0));
        // 100 polls per block for the first 9 blocks, then ~6 per block.
        assert!(asked < 9 * 100 + 51 * 8, "{asked}");
        // Each block still seen at the first 10-ms poll after it: the last head came at 59 s.
        assert_eq!(c.last, Some((59, 59_000.0)));
        assert_eq!(c.wait_ms(59_000.0), 950.0);
        assert_eq!(c.wait_ms(59_960.0), 0.0);
    }

    #[test]
    fn a_known_pace_is_trusted_from_the_first_block_seen_arriving() {
        let mut c = Cadence::expecting(Some(1000));
        let asked = polled(&mut c, 60, 1000.0);
        // Every poll asks only until block 1 is seen arriving, then ~6 per block.
        assert!(asked < 100 + 100 + 59 * 8, "{asked}");
        assert_eq!(c.last, Some((59, 59_000.0)));
        // A block late against the pace ends the waiting.
        c.saw(60, 61_500.0);
        assert_eq!(c.interval_ms(), None);
        assert!(c.due(61_510.0));
        // A wrong pace given: the first block missed by it ends the trust, and the real pace is
        // learnt.
        let mut c = Cadence::expecting(Some(2000));
        polled(&mut c, 25, 1000.0);
        assert_eq!(c.expected, None);
        assert_eq!(c.interval_ms(), Some(1000.0));
    }

    #[test]
    fn no_pace_means_every_poll_asks() {
        let mut c = Cadence::default();
        polled(&mut c, 40, 30.0);
        assert_eq!(c.interval_ms(), None, "fast blocks");
        assert!(c.due(c.last.unwrap().1));
        let mut c = Cadence::default();
        for (i, t) in [
            0.0, 1000.0, 1500.0, 4000.0, 4100.0, 6000.0, 6500.0, 9000.0, 9900.0,
        ]
        .into_iter()
        .enumerate()
        {
            c.saw(i as u64, t);
        }
        assert_eq!(c.interval_ms(), None, "irregular blocks (automine)");
        // A block well behind the pace ends the waiting.
        let mut c = Cadence::default();
        polled(&mut c, 20, 1000.0);
        c.saw(20, 20_300.0);
        assert_eq!(c.interval_ms(), None);
        assert!(c.due(20_310.0));
        // Two blocks at once: the chain sped up.
        let mut c = Cadence::default();
        polled(&mut c, 20, 1000.0);
        c.saw(21, 19_960.0);
        assert_eq!(c.interval_ms(), None);
        assert_eq!(c.wait_ms(20_310.0), 0.0);
    }
}
