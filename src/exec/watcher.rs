//! The receipt watcher: one task that follows new blocks and matches each block's receipts
//! (`receipts::of_block`: one `eth_getBlockReceipts`, or a batch of per-transaction lookups on
//! nodes without it) to every pending transaction — no per-hash polling. It refreshes the cached
//! EIP-1559 fees from each block's base fee, recovers transactions the node dropped or priced
//! out (same bytes again, or the same nonce re-signed at the current fee), and times out
//! transactions that were not included within the receipt timeout.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use alloy::primitives::B256;
use alloy::providers::{DynProvider, Provider};
use tokio::sync::{mpsc, watch};

use super::msg::{ActorMsg, Ctx, TxReport, TxResult};
use super::recover::{RESEND_EVERY, Recovery, fail_behind, recover, stale_in_order};
use super::watched::{Facts, ToWatcher, Watched};
use crate::chain::receipts::{self, BlockReceipts};
use crate::chain::tx::Fees;

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

/// Blocks whose receipts stay in the recent cache: at least the last 16, and every block seen in
/// the last 8 s, but never more than 256 (memory: one entry per transaction of those blocks).
const RECENT_BLOCKS: usize = 16;
const RECENT_MS: f64 = 8_000.0;
const RECENT_MAX_BLOCKS: usize = 256;
const POLL: Duration = Duration::from_millis(10);
const EXPIRE_EVERY: Duration = Duration::from_millis(250);
const IDLE_TURN: Duration = Duration::from_millis(100);

/// What the watcher saw, for the run's facts.
#[derive(Debug, Clone, Default)]
pub struct Span {
    pub first_block: Option<u64>,
    pub last_block: Option<u64>,
    pub blocks: Vec<BlockStat>,
}

impl Span {
    fn include(&mut self, block: u64) {
        self.first_block = Some(self.first_block.map_or(block, |f| f.min(block)));
        self.last_block = Some(self.last_block.map_or(block, |l| l.max(block)));
    }
}

/// Runs the watcher on a thread of its own, with its own runtime and its own client to `url`:
/// reading a block of thousands of transactions (tens of ms) and accounting for it then never
/// delays the steps falling due meanwhile on the sending thread. The span comes back on `done`.
pub fn spawn(
    ctx: Arc<Ctx>,
    chain: &crate::chain::Chain,
    rx: mpsc::UnboundedReceiver<ToWatcher>,
    fees: watch::Sender<Fees>,
    priority: u128,
    stop: watch::Receiver<bool>,
) -> Result<tokio::sync::oneshot::Receiver<Span>, String> {
    let (done, span) = tokio::sync::oneshot::channel();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the receipt watcher's runtime: {e}"))?;
    let p = crate::chain::provider(&chain.url, chain.policy, chain.rpc_stats.clone())
        .map_err(|e| format!("the receipt watcher's client: {e}"))?;
    let cadence = super::cadence::Cadence::expecting(chain.block_ms);
    std::thread::Builder::new()
        .name("loadrun-watch".into())
        .spawn(move || {
            let span = rt.block_on(run(ctx, p, rx, fees, priority, stop, cadence));
            let _ = done.send(span);
        })
        .map_err(|e| format!("cannot start the receipt watcher's thread: {e}"))?;
    Ok(span)
}

/// Runs until `rx` is closed and nothing is pending. `priority` is the tip used in fees.
async fn run(
    ctx: Arc<Ctx>,
    provider: DynProvider,
    mut rx: mpsc::UnboundedReceiver<ToWatcher>,
    fees: watch::Sender<Fees>,
    priority: u128,
    stop: watch::Receiver<bool>,
    mut cadence: super::cadence::Cadence,
) -> Span {
    let p = &provider;
    let mut next = match p.get_block_number().await {
        Ok(n) => n + 1,
        Err(_) => 1,
    };
    let mut span = Span::default();
    let mut pending: HashMap<B256, Watched> = HashMap::new();
    // Hashes a replacement superseded → the hash it is pending under now (either may land).
    let mut alias: HashMap<B256, B256> = HashMap::new();
    let mut recent: HashMap<B256, Seen> = HashMap::new();
    let mut recent_order: VecDeque<(f64, Vec<B256>)> = VecDeque::new();
    let mut closed = false;
    let mut last_resend = tokio::time::Instant::now();
    let mut check: Option<tokio::task::JoinHandle<()>> = None;
    // Why the node refused a dropped transaction when it was sent again (explains a timeout).
    let mut refused: HashMap<B256, String> = HashMap::new();
    let (recovery_tx, mut recovery_rx) = mpsc::unbounded_channel::<Recovery>();
    // Registered after their block was seen, receipt not fetched yet (fallback mode); kept
    // until a lookup answers.
    let mut late: Vec<(Watched, Seen)> = Vec::new();
    let mut last_expire = tokio::time::Instant::now();
    // The last blocks read, to notice a reorg and send again what it dropped.
    let mut read = super::reorg::Recent::default();
    loop {
        loop {
            match rx.try_recv() {
                Ok(ToWatcher::Behind {
                    from,
                    nonce,
                    class,
                    why,
                }) => fail_behind(&mut pending, &mut alias, from, nonce, class, &why),
                Ok(ToWatcher::Sent(w)) => match recent.get(&w.hash).copied() {
                    Some(Seen {
                        block,
                        seen_ms,
                        facts: Some(f),
                        ..
                    }) => {
                        span.include(block);
                        report(&w, w.hash, block, seen_ms, f);
                        read.remember(block, w);
                    }
                    Some(s) => seen_before(w, s, &mut late, &mut span, &mut read),
                    None => {
                        pending.insert(w.hash, w);
                    }
                },
                Err(mpsc::error::TryRecvError::Empty) => break,
                Err(mpsc::error::TryRecvError::Disconnected) => {
                    closed = true;
                    break;
                }
            }
        }
        // Replacements first: a re-signed transaction may already be in a block seen earlier.
        while let Ok(r) = recovery_rx.try_recv() {
            match r {
                Recovery::Refused(hash, e) => {
                    refused.insert(hash, e);
                }
                Recovery::Replaced {
                    old,
                    new,
                    raw,
                    fees,
                } => {
                    if let Some(mut w) = pending.remove(&old) {
                        alias.insert(old, new);
                        for target in alias.values_mut().filter(|t| **t == old) {
                            *target = new;
                        }
                        w.hash = new;
                        w.raw = raw;
                        w.fees = fees;
                        w.resent += 1;
                        refused.remove(&old);
                        match recent.get(&new).copied() {
                            Some(Seen {
                                block,
                                seen_ms,
                                facts: Some(f),
                                ..
                            }) => {
                                alias.retain(|_, t| *t != new);
                                span.include(block);
                                report(&w, new, block, seen_ms, f);
                                read.remember(block, w);
                            }
                            Some(s) => seen_before(w, s, &mut late, &mut span, &mut read),
                            None => {
                                pending.insert(new, w);
                            }
                        }
                    }
                }
            }
        }
        if !late.is_empty() {
            let hashes: Vec<B256> = late.iter().map(|(w, _)| w.hash).collect();
            // A failed lookup leaves them for the next round (their block is already behind).
            if let Ok(found) = receipts::by_hash(p, &hashes).await {
                for ((w, s), r) in std::mem::take(&mut late)
                    .into_iter()
                    .zip(found.into_iter().chain(std::iter::repeat(None)))
                {
                    match r {
                        Some(r) => {
                            span.include(s.block);
                            report(&w, w.hash, s.block, s.seen_ms, facts_of(&r));
                            // A reorg of its block re-sends it too.
                            read.remember(s.block, w);
                        }
                        None => {
                            pending.insert(w.hash, w);
                        }
                    }
                }
            }
        }
        if (closed && pending.is_empty() && late.is_empty()) || *stop.borrow() {
            return span;
        }
        let asked_at = ctx.now_ms();
        let head = if cadence.due(asked_at) {
            match p.get_block_number().await {
                Ok(h) => {
                    cadence.saw(h, asked_at);
                    h
                }
                Err(_) => next.saturating_sub(1),
            }
        } else {
            next.saturating_sub(1)
        };
        while next <= head {
            let want = |h: &B256| match pending.get(h) {
                Some(w) if w.plain => receipts::Want::Inclusion,
                Some(_) => receipts::Want::Receipt,
                // A replaced hash landed: its fees are not the current ones.
                None if alias.contains_key(h) => receipts::Want::Receipt,
                None => receipts::Want::Skip,
            };
            let Ok(Some(b)) = receipts::of_block(p, ctx.caps, next, want).await else {
                break;
            };
            if read.reorged(b.number, b.parent_hash) {
                // The chain could not be asked: tried again after the watcher's sleep.
                let Some((from, again)) = super::reorg::repair(&ctx, p, &mut read).await else {
                    break;
                };
                next = from;
                // The replaced blocks' figures go; they are read again as they are now.
                span.blocks.retain(|s| s.number < from);
                for w in again {
                    pending.insert(w.hash, w);
                }
                continue;
            }
            let seen_ms = ctx.now_ms();
            let (hashes, landed) = account_block(
                &b,
                seen_ms,
                &mut pending,
                &mut alias,
                &mut recent,
                &mut refused,
                &mut span,
            )
            .await;
            read.push(super::reorg::Read {
                number: b.number,
                hash: b.hash,
                ours: landed,
            });
            recent_order.push_back((seen_ms, hashes));
            while recent_order.len() > RECENT_BLOCKS
                && (recent_order.len() > RECENT_MAX_BLOCKS
                    || recent_order
                        .front()
                        .is_some_and(|(t, _)| seen_ms - t > RECENT_MS))
            {
                let old = recent_order.pop_front().map(|x| x.1).unwrap_or_default();
                for (i, h) in old.iter().enumerate() {
                    recent.remove(h);
                    yield_every(i).await;
                }
            }
            if let Some(base) = b.base_fee {
                let _ = fees.send(Fees {
                    max_fee_per_gas: 2 * u128::from(base) + priority,
                    max_priority_fee_per_gas: priority,
                    legacy: false,
                });
            }
            next += 1;
        }
        let now = ctx.now_ms();
        // The lookups run in their own task, so block timing (latency) never waits on them.
        let checking = check.as_ref().is_some_and(|t| !t.is_finished());
        if !checking && last_resend.elapsed() >= RESEND_EVERY {
            last_resend = tokio::time::Instant::now();
            let stale = stale_in_order(&pending, now);
            if !stale.is_empty() {
                check = Some(tokio::spawn(recover(
                    ctx.clone(),
                    provider.clone(),
                    stale,
                    *fees.borrow(),
                    recovery_tx.clone(),
                )));
            }
        }
        let current = *fees.borrow();
        // Timeouts are seconds long: a scan of everything pending 4 times a second is enough.
        if last_expire.elapsed() >= EXPIRE_EVERY {
            last_expire = tokio::time::Instant::now();
            expire(
                &ctx,
                p,
                now,
                (&mut pending, &mut alias, &mut refused),
                &current,
                priority,
                &mut span,
            )
            .await;
        }
        // On a chain with a steady pace, nothing is due until shortly before the next block:
        // the watcher sleeps through (a turn at least every `IDLE_TURN` for its other work).
        let wait = Duration::from_secs_f64(cadence.wait_ms(ctx.now_ms()) / 1000.0);
        tokio::time::sleep(wait.clamp(POLL, IDLE_TURN)).await;
    }
}

/// A transaction registered after its block was read without its receipt: a plain transfer's
/// facts follow from the block (reported now); any other waits in `late` for a receipt lookup.
/// On a node that answers sends late (a saturated one), thousands are registered after their
/// block: looking each up by hash cost anvil O(block size) apiece — tens of seconds on one core
/// for a block of 8,000 — and stalled it. A reported one is remembered with its block, for a
/// reorg.
fn seen_before(
    w: Watched,
    s: Seen,
    late: &mut Vec<(Watched, Seen)>,
    span: &mut Span,
    read: &mut super::reorg::Recent,
) {
    if w.plain {
        span.include(s.block);
        report(&w, w.hash, s.block, s.seen_ms, w.predicted(s.base_fee));
        read.remember(s.block, w);
    } else {
        late.push((w, s));
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

/// Matches one block's receipts to pending transactions and remembers the rest for a while.
/// Returns the hashes remembered, and this run's transactions it included (sent again and
/// re-checked should a reorg replace the block).
#[allow(clippy::too_many_arguments)]
async fn account_block(
    b: &BlockReceipts,
    seen_ms: f64,
    pending: &mut HashMap<B256, Watched>,
    alias: &mut HashMap<B256, B256>,
    recent: &mut HashMap<B256, Seen>,
    refused: &mut HashMap<B256, String>,
    span: &mut Span,
) -> (Vec<B256>, Vec<Watched>) {
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

/// The watcher's books a timeout touches: pending by hash, replaced → current hash, refusals.
type Books<'a> = (
    &'a mut HashMap<B256, Watched>,
    &'a mut HashMap<B256, B256>,
    &'a mut HashMap<B256, String>,
);

/// Reports every transaction pending past the receipt timeout: as included if the node has its
/// receipt after all, else as a timeout with the likely why.
async fn expire(
    ctx: &Ctx,
    p: &DynProvider,
    now: f64,
    (pending, alias, refused): Books<'_>,
    fees: &Fees,
    priority: u128,
    span: &mut Span,
) {
    let limit = ctx.receipt_timeout.as_secs_f64() * 1000.0;
    let expired: Vec<B256> = pending
        .values()
        .filter(|w| now - w.sent_ms > limit)
        .map(|w| w.hash)
        .collect();
    if expired.is_empty() {
        return;
    }
    // Before calling anything a timeout, ask for its receipt (and those of the hashes it
    // replaced): a block the watcher read late, or missed, must not turn a landed transaction
    // into a timeout row the chain contradicts.
    let mut asked: Vec<(B256, B256)> = Vec::new();
    for h in &expired {
        asked.push((*h, *h));
        asked.extend(
            alias
                .iter()
                .filter(|(_, t)| *t == h)
                .map(|(old, _)| (*h, *old)),
        );
    }
    let hashes: Vec<B256> = asked.iter().map(|(_, q)| *q).collect();
    let found = receipts::by_hash(p, &hashes).await.unwrap_or_default();
    let mut landed: HashMap<B256, alloy::rpc::types::TransactionReceipt> = HashMap::new();
    for ((h, _), r) in asked.iter().zip(found) {
        if let Some(r) = r {
            landed.entry(*h).or_insert(r);
        }
    }
    let base_fee = fees.max_fee_per_gas.saturating_sub(priority) / 2;
    for h in expired {
        let Some(w) = pending.remove(&h) else {
            continue;
        };
        alias.retain(|_, target| *target != h);
        if let Some(r) = landed.remove(&h) {
            let block = r.block_number.unwrap_or_default();
            span.include(block);
            refused.remove(&h);
            report(&w, r.transaction_hash, block, ctx.now_ms(), facts_of(&r));
            continue;
        }
        let why = if let Some(e) = refused.remove(&h) {
            format!(
                " (the node dropped it from its pool and refused it again: {}; later transactions of this wallet then wait behind its nonce)",
                super::msg::one_line(&e)
            )
        } else if !fees.legacy && w.fees.max_fee_per_gas < base_fee {
            format!(
                " (its max fee, {} wei/gas, is below the base fee, {base_fee} wei/gas: the blocks are full)",
                w.fees.max_fee_per_gas
            )
        } else {
            String::new()
        };
        tell(
            &w,
            TxReport {
                idx: w.idx,
                sent_ms: w.sent_ms,
                result: TxResult::Timeout { hash: w.hash, why },
            },
        );
    }
}

fn facts_of(r: &alloy::rpc::types::TransactionReceipt) -> Facts {
    Facts {
        success: r.status(),
        gas_used: r.gas_used,
        fee_wei: u128::from(r.gas_used) * r.effective_gas_price,
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

fn report(w: &Watched, landed: B256, block: u64, seen_ms: f64, f: Facts) {
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
            },
        },
    );
}
