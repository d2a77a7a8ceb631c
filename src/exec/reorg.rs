//! Reorgs, for the receipt watcher: the last blocks it read (their hashes and this run's
//! transactions in them), how a new block shows that some were replaced, and which of them the
//! chain no longer holds. The transactions of a replaced block are sent again, same bytes (so
//! their wallets' later nonces do not wait behind a gap), and watched again: where they land
//! now amends their steps' rows (block, latency, fee), so sanity still agrees with the chain.
//! summary.csv counts them (`reorged`).

use std::collections::VecDeque;
use std::sync::atomic::Ordering;

use alloy::eips::BlockNumberOrTag;
use alloy::primitives::B256;
use alloy::providers::{DynProvider, Provider};

use super::msg::Ctx;
use super::watched::Watched;
use crate::chain::tx::send_raw;

/// Blocks remembered: a reorg deeper than this is repaired only for the blocks still known.
pub const DEPTH: usize = 4;

/// One block read, with this run's transactions included in it (reported already).
pub struct Read {
    pub number: u64,
    pub hash: B256,
    pub ours: Vec<Watched>,
}

/// The last `DEPTH` blocks read, oldest first.
#[derive(Default)]
pub struct Recent {
    blocks: VecDeque<Read>,
}

impl Recent {
    /// Whether a block `number` with parent `parent` follows what was read, or shows a reorg:
    /// the block before it was read with another hash.
    pub fn reorged(&self, number: u64, parent: B256) -> bool {
        self.blocks
            .back()
            .is_some_and(|b| b.number + 1 == number && b.hash != parent)
    }

    /// Remembers a block read; what it keeps holds no lane slot.
    pub fn push(&mut self, mut read: Read) {
        for w in &mut read.ours {
            w._permit = None;
        }
        // A block read again after a reorg replaces what followed it.
        while self.blocks.back().is_some_and(|b| b.number >= read.number) {
            self.blocks.pop_back();
        }
        self.blocks.push_back(read);
        while self.blocks.len() > DEPTH {
            self.blocks.pop_front();
        }
    }

    /// Remembers `w`, reported as included in block `number`, with that block (if it is still
    /// remembered); its lane slot is released.
    pub fn remember(&mut self, number: u64, mut w: Watched) {
        if let Some(b) = self.blocks.iter_mut().find(|b| b.number == number) {
            w._permit = None;
            b.ours.push(w);
        }
    }

    /// The numbers of the blocks remembered, oldest first.
    pub fn numbers(&self) -> Vec<u64> {
        self.blocks.iter().map(|b| b.number).collect()
    }

    /// Given the chain's hash now at each remembered height (`None`: no block there any more),
    /// takes out the blocks it replaced (from the lowest one that differs, upwards) and returns
    /// them; the first of them is where reading starts again.
    pub fn replaced(&mut self, now: &[Option<B256>]) -> Vec<Read> {
        let differs = self
            .blocks
            .iter()
            .zip(now)
            .position(|(b, h)| *h != Some(b.hash))
            .unwrap_or(self.blocks.len().min(now.len()));
        self.blocks.drain(differs..).collect()
    }
}

/// After a block showed a reorg: asks the chain for its blocks at the remembered heights, sends
/// this run's transactions of the replaced blocks again (same bytes: one the new chain already
/// holds is refused as known, and lands once), counts them, and returns the height to read
/// again from with those transactions to watch again (their next report amends their rows).
/// `None`: the chain could not be asked (the watcher tries again after its sleep).
pub async fn repair(
    ctx: &Ctx,
    p: &DynProvider,
    recent: &mut Recent,
) -> Option<(u64, Vec<Watched>)> {
    let mut now = Vec::new();
    for n in recent.numbers() {
        let block = p
            .get_block_by_number(BlockNumberOrTag::Number(n))
            .await
            .ok()?;
        now.push(block.map(|b| b.header.hash));
    }
    let gone = recent.replaced(&now);
    let Some(from) = gone.first().map(|b| b.number) else {
        // No remembered block differs (an endpoint whose backends disagree): nothing to
        // repair; forget them, so the block is read as it is.
        let at = recent.numbers().last().map_or(0, |n| n + 1);
        *recent = Recent::default();
        return Some((at, Vec::new()));
    };
    let to = gone.last().map_or(from, |b| b.number);
    let mut again = Vec::new();
    let mut taken = 0u64;
    for mut w in gone.into_iter().flat_map(|b| b.ours) {
        if send_raw(p, &w.raw).await.is_ok() {
            taken += 1;
        }
        w.amend = true;
        again.push(w);
    }
    ctx.resent.fetch_add(taken, Ordering::Relaxed);
    ctx.reorged.fetch_add(again.len() as u64, Ordering::Relaxed);
    tracing::warn!(
        "a reorg replaced blocks #{from}..#{to}: {} of this run's transactions were in them; sent again (same bytes; {taken} taken anew by the node) and watched until they land again, their rows amended",
        again.len()
    );
    Some((from, again))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(number: u64, tag: u8) -> Read {
        Read {
            number,
            hash: B256::repeat_byte(tag),
            ours: Vec::new(),
        }
    }

    #[test]
    fn a_parent_that_is_not_the_block_read_before_is_a_reorg() {
        let mut r = Recent::default();
        assert!(!r.reorged(5, B256::ZERO), "nothing read yet");
        r.push(read(5, 5));
        assert!(!r.reorged(6, B256::repeat_byte(5)));
        assert!(r.reorged(6, B256::repeat_byte(9)));
        // A block that does not follow (a gap in reading) says nothing.
        assert!(!r.reorged(8, B256::repeat_byte(9)));
    }

    #[test]
    fn the_replaced_blocks_are_those_from_the_lowest_that_differs() {
        let mut r = Recent::default();
        for n in 11..=14 {
            r.push(read(n, n as u8));
        }
        assert_eq!(r.numbers(), [11, 12, 13, 14]);
        // Blocks 12 and up were replaced (14 is gone altogether).
        let now = [
            Some(B256::repeat_byte(11)),
            Some(B256::repeat_byte(99)),
            Some(B256::repeat_byte(13)),
            None,
        ];
        let gone = r.replaced(&now);
        assert_eq!(
            gone.iter().map(|b| b.number).collect::<Vec<_>>(),
            [12, 13, 14]
        );
        assert_eq!(r.numbers(), [11]);
        // Reading again from 12 continues the list.
        r.push(read(12, 42));
        assert_eq!(r.numbers(), [11, 12]);
    }

    #[test]
    fn only_the_last_depth_blocks_are_kept() {
        let mut r = Recent::default();
        for n in 0..(DEPTH as u64 + 5) {
            r.push(read(n, n as u8));
        }
        assert_eq!(r.numbers().len(), DEPTH);
        assert_eq!(r.numbers()[0], 5);
        // Pushing an earlier height drops what followed it.
        let first = r.numbers()[0];
        r.push(read(first + 2, 1));
        assert_eq!(r.numbers(), [first, first + 1, first + 2]);
    }
}
