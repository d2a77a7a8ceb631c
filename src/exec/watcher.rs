//! The receipt watcher: one task that follows new blocks and matches each block's receipts
//! (`receipts::of_block`: one `eth_getBlockReceipts`, or a batch of per-transaction lookups on
//! nodes without it) to every pending transaction — no per-hash polling. It refreshes the cached
//! EIP-1559 fees from each block's base fee, recovers transactions the node dropped or priced
//! out (same bytes again, or the same nonce re-signed at the current fee), and times out
//! transactions that were not included within the receipt timeout.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use alloy::primitives::B256;
use alloy::providers::{DynProvider, Provider};
use tokio::sync::{mpsc, watch};

pub use super::book::{BlockStat, Span};
use super::book::{Book, facts_of, report, tell};
use super::msg::{Ctx, TxReport, TxResult};
use super::recover::{RESEND_EVERY, Recovery, recover, stale_in_order};
use super::watched::ToWatcher;
use crate::chain::receipts;
use crate::chain::tx::Fees;

const POLL: Duration = Duration::from_millis(10);
const EXPIRE_EVERY: Duration = Duration::from_millis(250);
const IDLE_TURN: Duration = Duration::from_millis(100);

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
) -> Result<tokio::sync::oneshot::Receiver<Span>, crate::chain::ChainError> {
    let (done, span) = tokio::sync::oneshot::channel();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| crate::chain::ChainError::Task {
            what: "cannot start the receipt watcher's runtime",
            why: e.to_string(),
        })?;
    let p =
        crate::chain::provider(&chain.url, chain.policy, chain.rpc_stats.clone()).map_err(|e| {
            crate::chain::ChainError::Task {
                what: "the receipt watcher's client",
                why: e.to_string(),
            }
        })?;
    let cadence = super::cadence::Cadence::expecting(chain.block_ms);
    std::thread::Builder::new()
        .name("loadrun-watch".into())
        .spawn(move || {
            let span = rt.block_on(run(ctx, p, rx, fees, priority, stop, cadence));
            let _ = done.send(span);
        })
        .map_err(|e| crate::chain::ChainError::Task {
            what: "cannot start the receipt watcher's thread",
            why: e.to_string(),
        })?;
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
    let mut book = Book::default();
    let mut closed = false;
    let mut last_resend = tokio::time::Instant::now();
    let mut check: Option<tokio::task::JoinHandle<()>> = None;
    let (recovery_tx, mut recovery_rx) = mpsc::unbounded_channel::<Recovery>();
    let mut last_expire = tokio::time::Instant::now();
    loop {
        loop {
            match rx.try_recv() {
                Ok(m) => book.on_lane(m),
                Err(mpsc::error::TryRecvError::Empty) => break,
                Err(mpsc::error::TryRecvError::Disconnected) => {
                    closed = true;
                    break;
                }
            }
        }
        // Replacements first: a re-signed transaction may already be in a block seen earlier.
        while let Ok(r) = recovery_rx.try_recv() {
            book.on_recovery(r);
        }
        let late = book.late_hashes();
        // A failed lookup leaves them for the next round (their block is already behind).
        if !late.is_empty()
            && let Ok(found) = receipts::by_hash(p, &late).await
        {
            book.on_late_receipts(found);
        }
        if (closed && book.is_done()) || *stop.borrow() {
            return book.span;
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
        next = read_blocks(&ctx, p, &mut book, next..=head, &fees, priority).await;
        let now = ctx.now_ms();
        // The lookups run in their own task, so block timing (latency) never waits on them.
        let checking = check.as_ref().is_some_and(|t| !t.is_finished());
        if !checking && last_resend.elapsed() >= RESEND_EVERY {
            last_resend = tokio::time::Instant::now();
            let stale = stale_in_order(&book.pending, now);
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
            expire(&ctx, p, now, &mut book, &current, priority).await;
        }
        // On a chain with a steady pace, nothing is due until shortly before the next block:
        // the watcher sleeps through (a turn at least every `IDLE_TURN` for its other work).
        let wait = Duration::from_secs_f64(cadence.wait_ms(ctx.now_ms()) / 1000.0);
        tokio::time::sleep(wait.clamp(POLL, IDLE_TURN)).await;
    }
}

/// Reads the blocks `range` into the book (each block's base fee refreshing the fees); stops
/// early at a block the node does not give, or after a reorg's repair (reading resumes below
/// it). Returns the next block to read.
async fn read_blocks(
    ctx: &Ctx,
    p: &DynProvider,
    book: &mut Book,
    range: std::ops::RangeInclusive<u64>,
    fees: &watch::Sender<Fees>,
    priority: u128,
) -> u64 {
    let (mut next, head) = range.into_inner();
    while next <= head {
        let Ok(Some(b)) = receipts::of_block(p, ctx.caps, next, |h| book.want(h)).await else {
            break;
        };
        if book.read.reorged(b.number, b.parent_hash) {
            // The chain could not be asked: tried again after the watcher's sleep.
            let Some((from, again)) = super::reorg::repair(ctx, p, &mut book.read).await else {
                break;
            };
            book.rewind(from, again);
            next = from;
            continue;
        }
        book.account(&b, ctx.now_ms()).await;
        if let Some(base) = b.base_fee {
            let _ = fees.send(Fees {
                max_fee_per_gas: 2 * u128::from(base) + priority,
                max_priority_fee_per_gas: priority,
                legacy: false,
            });
        }
        next += 1;
    }
    next
}

/// Reports every transaction pending past the receipt timeout: as included if the node has its
/// receipt after all, else as a timeout with the likely why.
async fn expire(
    ctx: &Ctx,
    p: &DynProvider,
    now: f64,
    book: &mut Book,
    fees: &Fees,
    priority: u128,
) {
    let Book {
        pending,
        alias,
        refused,
        span,
        ..
    } = book;
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
