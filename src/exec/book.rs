//! The receipt watcher's book: what is pending, under which hashes, what recent blocks held,
//! and which blocks of the run were read — and every decision on them: a transaction handed
//! over by a lane, a replacement, a block's receipts, a reorg's rewind, a refused nonce. No
//! RPC and no task here: the watcher (`watcher.rs`) reads the chain and feeds the book; each
//! decided result goes to the step's actor (`tell`).

use std::collections::{HashMap, VecDeque};

use alloy::primitives::B256;

use super::msg::{ActorMsg, TxReport, TxResult};
use super::recover::{Recovery, fail_behind};
use super::reorg::{Read, Recent};
use super::watched::{Facts, ToWatcher, Watched};
use crate::chain::receipts::{self, BlockReceipts};

/// Blocks whose receipts stay in the recent cache: at least the last 16, and every block seen in
/// the last 8 s, but never more than 256 (memory: one entry per transaction of those blocks).
const RECENT_BLOCKS: usize = 16;
const RECENT_MS: f64 = 8_000.0;
const RECENT_MAX_BLOCKS: usize = 256;

/// Receipt facts kept for recent blocks (a transaction may be registered after its block was
/// seen, e.g. on an automining node). `None`: in the block, receipt not fetched (fallback mode).
#[derive(Clone, Copy)]
struct Seen {
    block: u64,
    seen_ms: f64,
    facts: Option<Facts>,
    /// The block's base fee (a plain transfer's facts follow from it).
    base_fee: Option<u64>,
}

/// One block of the run, for the report's per-block view.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BlockStat {
    pub number: u64,
    pub seen_ms: f64,
    pub gas_used: u64,
    pub gas_limit: u64,
    pub txs: usize,
    pub base_fee: Option<u64>,
}

/// What the watcher saw, for the run's facts.
#[derive(Debug, Clone, Default)]
pub struct Span {
    pub first_block: Option<u64>,
    pub last_block: Option<u64>,
    pub blocks: Vec<BlockStat>,
}

impl Span {
    pub fn include(&mut self, block: u64) {
        self.first_block = Some(self.first_block.map_or(block, |f| f.min(block)));
        self.last_block = Some(self.last_block.map_or(block, |l| l.max(block)));
    }
}

/// The watcher's book.
#[derive(Default)]
pub struct Book {
    /// Sent transactions not reported yet, by the hash they are pending under.
    pub pending: HashMap<B256, Watched>,
    /// Hashes a replacement superseded → the hash it is pending under now (either may land).
    pub alias: HashMap<B256, B256>,
    /// What recent blocks held (`RECENT_BLOCKS`), for transactions registered after their block.
    recent: HashMap<B256, Seen>,
    recent_order: VecDeque<(f64, Vec<B256>)>,
    /// Why the node refused a dropped transaction when it was sent again (explains a timeout).
    pub refused: HashMap<B256, String>,
    /// Registered after their block was seen, receipt not fetched yet (fallback mode); kept
    /// until a lookup answers.
    late: Vec<(Watched, Seen)>,
    /// The last blocks read, to notice a reorg and send again what it dropped.
    pub read: Recent,
    pub span: Span,
}

impl Book {
    /// Nothing left to report.
    pub fn is_done(&self) -> bool {
        self.pending.is_empty() && self.late.is_empty()
    }

    /// What a lane says: a transaction to watch (reported at once when its block was read
    /// already), or a refused nonce none of its wallet's steps will fill.
    pub fn on_lane(&mut self, m: ToWatcher) {
        match m {
            ToWatcher::Behind {
                from,
                nonce,
                class,
                why,
            } => fail_behind(&mut self.pending, &mut self.alias, from, nonce, class, &why),
            ToWatcher::Sent(w) => self.register(w),
        }
    }

    /// Watches `w`, unless its block was read already: then it is reported now (or waits in
    /// `late` for its receipt).
    fn register(&mut self, w: Watched) {
        match self.recent.get(&w.hash).copied() {
            Some(Seen {
                block,
                seen_ms,
                facts: Some(f),
                ..
            }) => {
                self.alias.retain(|_, t| *t != w.hash);
                self.span.include(block);
                report(&w, w.hash, block, seen_ms, f);
                self.read.remember(block, w);
            }
            Some(s) => self.seen_before(w, s),
            None => {
                self.pending.insert(w.hash, w);
            }
        }
    }

    /// What a recovery found: a refusal to explain a later timeout, or a replacement (the
    /// transaction re-signed at a higher fee), watched under its new hash.
    pub fn on_recovery(&mut self, r: Recovery) {
        match r {
            Recovery::Refused(hash, e) => {
                self.refused.insert(hash, e);
            }
            Recovery::Replaced {
                old,
                new,
                raw,
                fees,
            } => {
                let Some(mut w) = self.pending.remove(&old) else {
                    return;
                };
                self.alias.insert(old, new);
                for target in self.alias.values_mut().filter(|t| **t == old) {
                    *target = new;
                }
                w.hash = new;
                w.raw = raw;
                w.fees = fees;
                w.resent += 1;
                self.refused.remove(&old);
                self.register(w);
            }
        }
    }

    /// The hashes waiting for a receipt lookup (`on_late_receipts` takes the answers, in order).
    pub fn late_hashes(&self) -> Vec<B256> {
        self.late.iter().map(|(w, _)| w.hash).collect()
    }

    /// The receipts of `late_hashes`, in order: each found one is reported (and remembered
    /// for a reorg), the others watched again.
    pub fn on_late_receipts(&mut self, found: Vec<Option<alloy::rpc::types::TransactionReceipt>>) {
        for ((w, s), r) in std::mem::take(&mut self.late)
            .into_iter()
            .zip(found.into_iter().chain(std::iter::repeat(None)))
        {
            match r {
                Some(r) => {
                    self.span.include(s.block);
                    report(&w, w.hash, s.block, s.seen_ms, facts_of(&r));
                    self.read.remember(s.block, w);
                }
                None => {
                    self.pending.insert(w.hash, w);
                }
            }
        }
    }

    /// What to fetch of a block's transaction `h`.
    pub fn want(&self, h: &B256) -> receipts::Want {
        match self.pending.get(h) {
            Some(w) if w.plain => receipts::Want::Inclusion,
            Some(_) => receipts::Want::Receipt,
            // A replaced hash landed: its fees are not the current ones.
            None if self.alias.contains_key(h) => receipts::Want::Receipt,
            None => receipts::Want::Skip,
        }
    }

    /// A reorg replaced the blocks from `from` on: their figures go (they are read again as
    /// they are now) and this run's transactions in them, sent again, are watched again.
    pub fn rewind(&mut self, from: u64, again: Vec<Watched>) {
        self.span.blocks.retain(|s| s.number < from);
        for w in again {
            self.pending.insert(w.hash, w);
        }
    }

    /// Accounts for block `b`, read at `seen_ms`: its transactions of this run are reported,
    /// the block is remembered for a reorg, and what recent blocks held is kept for a while.
    pub async fn account(&mut self, b: &BlockReceipts, seen_ms: f64) {
        let (hashes, landed) = self.match_block(b, seen_ms).await;
        self.read.push(Read {
            number: b.number,
            hash: b.hash,
            ours: landed,
        });
        self.recent_order.push_back((seen_ms, hashes));
        while self.recent_order.len() > RECENT_BLOCKS
            && (self.recent_order.len() > RECENT_MAX_BLOCKS
                || self
                    .recent_order
                    .front()
                    .is_some_and(|(t, _)| seen_ms - t > RECENT_MS))
        {
            let old = self
                .recent_order
                .pop_front()
                .map(|x| x.1)
                .unwrap_or_default();
            for (i, h) in old.iter().enumerate() {
                self.recent.remove(h);
                yield_every(i).await;
            }
        }
    }

    /// Matches one block's receipts to pending transactions and remembers the rest for a while.
    /// Returns the hashes remembered, and this run's transactions it included (sent again and
    /// re-checked should a reorg replace the block).
    async fn match_block(&mut self, b: &BlockReceipts, seen_ms: f64) -> (Vec<B256>, Vec<Watched>) {
        let Self {
            pending,
            alias,
            recent,
            refused,
            span,
            ..
        } = self;
        let mut hashes = Vec::with_capacity(b.tx_count);
        let mut landed = Vec::new();
        let mut ours = 0usize;
        // Fetched receipts, then the plain transfers whose receipt follows from the block.
        let fetched = b
            .receipts
            .iter()
            .map(|r| (r.transaction_hash, Some(facts_of(r))));
        let known = b.included.iter().map(|h| (*h, None));
        for (i, (h, facts)) in fetched.chain(known).enumerate() {
            yield_every(i).await;
            refused.remove(&h);
            let key = if pending.contains_key(&h) {
                Some(h)
            } else {
                alias.remove(&h)
            };
            let ours_now = key.and_then(|k| pending.remove(&k));
            let f = match (&ours_now, facts) {
                (_, Some(f)) => f,
                (Some(w), None) => w.predicted(b.base_fee),
                (None, None) => continue,
            };
            if let Some(w) = ours_now {
                alias.retain(|_, target| *target != w.hash);
                span.include(b.number);
                report(&w, h, b.number, seen_ms, f);
                ours += 1;
                // Kept for a few blocks (`reorg::Recent`), to re-send and re-check should a reorg
                // replace the block (an older replaced version that landed is not kept).
                if h == w.hash {
                    landed.push(w);
                }
            }
            recent.insert(
                h,
                Seen {
                    block: b.number,
                    seen_ms,
                    facts: Some(f),
                    base_fee: b.base_fee,
                },
            );
            hashes.push(h);
        }
        for h in &b.others {
            recent.insert(
                *h,
                Seen {
                    block: b.number,
                    seen_ms,
                    facts: None,
                    base_fee: b.base_fee,
                },
            );
            hashes.push(*h);
        }
        if ours > 0 || span.first_block.is_some() {
            span.blocks.push(BlockStat {
                number: b.number,
                seen_ms,
                gas_used: b.gas_used,
                gas_limit: b.gas_limit,
                txs: b.tx_count,
                base_fee: b.base_fee,
            });
        }
        (hashes, landed)
    }

    /// A transaction registered after its block was read without its receipt: a plain transfer's
    /// facts follow from the block (reported now); any other waits in `late` for a receipt lookup.
    /// On a node that answers sends late (a saturated one), thousands are registered after their
    /// block: looking each up by hash cost anvil O(block size) apiece — tens of seconds on one core
    /// for a block of 8,000 — and stalled it. A reported one is remembered with its block, for a
    /// reorg.
    fn seen_before(&mut self, w: Watched, s: Seen) {
        if w.plain {
            self.span.include(s.block);
            report(&w, w.hash, s.block, s.seen_ms, w.predicted(s.base_fee));
            self.read.remember(s.block, w);
        } else {
            self.late.push((w, s));
        }
    }
}

/// Hashes handled between two yields to the watcher's runtime: a full block (thousands of
/// transactions) is accounted in slices, so the lookups and re-sends it runs keep moving.
const SLICE: usize = 256;

/// Yields to the runtime after every `SLICE` items.
async fn yield_every(i: usize) {
    if i % SLICE == SLICE - 1 {
        tokio::task::yield_now().await;
    }
}

pub fn facts_of(r: &alloy::rpc::types::TransactionReceipt) -> Facts {
    let blob = r
        .blob_gas_used
        .map(|g| (g, u128::from(g) * r.blob_gas_price.unwrap_or(0)));
    Facts {
        success: r.status(),
        gas_used: r.gas_used,
        fee_wei: u128::from(r.gas_used) * r.effective_gas_price + blob.map_or(0, |b| b.1),
        blob,
    }
}

/// Sends `rep` to the step's actor: an amendment when `w` was reported before (a reorg).
pub fn tell(w: &Watched, rep: TxReport) {
    let _ = w.reply.send(if w.amend {
        ActorMsg::Amend(rep)
    } else {
        ActorMsg::Tx(rep)
    });
}

pub fn report(w: &Watched, landed: B256, block: u64, seen_ms: f64, f: Facts) {
    tell(
        w,
        TxReport {
            idx: w.idx,
            sent_ms: w.sent_ms,
            result: TxResult::Included {
                hash: landed,
                block,
                success: f.success,
                latency_ms: (seen_ms - w.sent_ms).max(0.0),
                gas_used: f.gas_used,
                fee_wei: f.fee_wei,
                blob: f.blob,
            },
        },
    );
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use alloy::signers::local::PrivateKeySigner;
    use tokio::sync::mpsc;

    use super::*;
    use crate::chain::tx::{ErrorClass, Fees};
    use crate::exec::watched::for_test;

    /// Block `number` (parent `number - 1`), base fee 1 wei, holding `included` (asked for
    /// inclusion) and `others` (not asked).
    fn block(number: u64, included: Vec<B256>, others: Vec<B256>) -> BlockReceipts {
        BlockReceipts {
            number,
            hash: B256::with_last_byte(number as u8),
            parent_hash: B256::with_last_byte(number as u8 - 1),
            base_fee: Some(1),
            gas_used: 21_000 * (included.len() + others.len()) as u64,
            gas_limit: 30_000_000,
            tx_count: included.len() + others.len(),
            receipts: Vec::new(),
            included,
            others,
        }
    }

    /// The reports the actor got: (step, block, fee) of each inclusion, else the whole message.
    fn reports(rx: &mut mpsc::UnboundedReceiver<ActorMsg>) -> Vec<(usize, u64, u128)> {
        let mut out = Vec::new();
        while let Ok(m) = rx.try_recv() {
            match m {
                ActorMsg::Tx(TxReport {
                    idx,
                    result: TxResult::Included { block, fee_wei, .. },
                    ..
                }) => out.push((idx, block, fee_wei)),
                ActorMsg::Tx(r) => panic!("{:?}", r.result),
                _ => panic!("not a transaction report"),
            }
        }
        out
    }

    #[tokio::test]
    async fn a_transfer_is_reported_when_its_block_is_read_whether_it_came_before_or_after() {
        let a = Arc::new(PrivateKeySigner::random());
        let (reply, mut got) = mpsc::unbounded_channel();
        let mut book = Book::default();
        // Registered before its block: pending until the block is read.
        let early = for_test(&a, 0, &reply);
        let early_hash = early.hash;
        book.on_lane(ToWatcher::Sent(early));
        assert_eq!(book.want(&early_hash), receipts::Want::Inclusion);
        // The block also holds nonce 1, whose send was answered late (registered after).
        let late = for_test(&a, 1, &reply);
        book.account(&block(7, vec![early_hash], vec![late.hash]), 1_000.0)
            .await;
        // Fee: 21,000 × min(max fee 2, base 1 + tip 1).
        assert_eq!(reports(&mut got), [(0, 7, 42_000)]);
        assert!(book.is_done());
        book.on_lane(ToWatcher::Sent(late));
        assert_eq!(reports(&mut got), [(1, 7, 42_000)]);
        assert!(book.is_done());
        assert_eq!(
            (book.span.first_block, book.span.last_block),
            (Some(7), Some(7))
        );
        assert_eq!(book.span.blocks.len(), 1);
        // A reorg of block 7 would send both again: both are remembered with it.
        assert_eq!(book.read.numbers(), [7]);
        let gone = book.read.replaced(&[None]);
        assert_eq!(gone[0].ours.len(), 2);
    }

    #[tokio::test]
    async fn a_replacement_is_watched_under_its_new_hash_and_either_hash_may_land() {
        let a = Arc::new(PrivateKeySigner::random());
        let (reply, mut got) = mpsc::unbounded_channel();
        let mut book = Book::default();
        let w = for_test(&a, 3, &reply);
        let old = w.hash;
        book.on_lane(ToWatcher::Sent(w));
        let new = B256::repeat_byte(0xee);
        let fees = Fees {
            max_fee_per_gas: 10,
            max_priority_fee_per_gas: 2,
            legacy: false,
        };
        book.on_recovery(Recovery::Replaced {
            old,
            new,
            raw: Default::default(),
            fees,
        });
        assert!(book.pending.contains_key(&new) && !book.pending.contains_key(&old));
        assert_eq!(book.alias.get(&old), Some(&new));
        // The old bytes landed after all: asked for its receipt (its fees are not the current
        // ones); without a receipt in the block the step waits.
        assert_eq!(book.want(&old), receipts::Want::Receipt);
        book.account(&block(9, vec![new], vec![]), 0.0).await;
        // The new one landed, at its own fee: 21,000 × min(10, 1 + 2).
        assert_eq!(reports(&mut got), [(3, 9, 63_000)]);
        assert!(book.is_done() && book.alias.is_empty());
    }

    #[tokio::test]
    async fn a_hole_no_step_fills_fails_what_waits_above_it_and_a_reorg_rewinds() {
        let (a, b) = (
            Arc::new(PrivateKeySigner::random()),
            Arc::new(PrivateKeySigner::random()),
        );
        let (reply, mut got) = mpsc::unbounded_channel();
        let mut book = Book::default();
        for w in [
            for_test(&a, 4, &reply),
            for_test(&a, 6, &reply),
            for_test(&b, 6, &reply),
        ] {
            book.on_lane(ToWatcher::Sent(w));
        }
        book.on_lane(ToWatcher::Behind {
            from: a.address(),
            nonce: 5,
            class: ErrorClass::InsufficientFunds,
            why: "insufficient funds".into(),
        });
        let failed: Vec<usize> = std::iter::from_fn(|| got.try_recv().ok())
            .map(|m| match m {
                ActorMsg::Tx(r) => r.idx,
                _ => panic!("not a transaction report"),
            })
            .collect();
        assert_eq!(failed, [6]);
        assert_eq!(book.pending.len(), 2);
        // A block of the run, then a reorg from it: its figures go, its transactions are
        // watched again.
        let w = for_test(&b, 9, &reply);
        let again = for_test(&b, 9, &reply);
        book.account(&block(3, vec![], vec![]), 0.0).await;
        book.on_lane(ToWatcher::Sent(w));
        book.span.include(3);
        book.account(&block(4, vec![again.hash], vec![]), 0.0).await;
        assert_eq!(reports(&mut got), [(9, 4, 42_000)]);
        book.rewind(4, vec![again]);
        assert!(book.span.blocks.iter().all(|s| s.number < 4));
        assert_eq!(book.pending.len(), 3);
    }

    proptest::proptest! {
        /// Whatever the order in which sends are registered and blocks are read, every
        /// transaction is reported exactly once, in its own block, and nothing is left pending.
        #[test]
        fn every_transaction_is_reported_once_in_its_block_whenever_it_was_registered(
            txs in proptest::collection::vec((0u64..6, proptest::bool::ANY), 1..40)
        ) {
            let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
            rt.block_on(async {
                let a = Arc::new(PrivateKeySigner::random());
                let (reply, mut got) = mpsc::unbounded_channel();
                let mut book = Book::default();
                // (block, registered before the block is read), by nonce.
                let w: Vec<Watched> = (0..txs.len() as u64).map(|n| for_test(&a, n, &reply)).collect();
                let mut w: Vec<Option<Watched>> = w.into_iter().map(Some).collect();
                for b in 0..6u64 {
                    for (i, &(block, before)) in txs.iter().enumerate() {
                        if block == b && before {
                            book.on_lane(ToWatcher::Sent(w[i].take().unwrap()));
                        }
                    }
                    let hashes = |early: bool| {
                        txs.iter()
                            .enumerate()
                            .filter(|(_, (block, before))| *block == b && *before == early)
                            .map(|(i, _)| for_test(&a, i as u64, &reply).hash)
                            .collect::<Vec<_>>()
                    };
                    book.account(&block(b + 1, hashes(true), hashes(false)), b as f64).await;
                    for (i, &(block, before)) in txs.iter().enumerate() {
                        if block == b && !before {
                            book.on_lane(ToWatcher::Sent(w[i].take().unwrap()));
                        }
                    }
                }
                let mut seen = reports(&mut got);
                seen.sort();
                let want: Vec<(usize, u64, u128)> = txs
                    .iter()
                    .enumerate()
                    .map(|(i, (block, _))| (i, block + 1, 42_000))
                    .collect();
                assert_eq!(seen, want);
                assert!(book.is_done());
            });
        }
    }
}
