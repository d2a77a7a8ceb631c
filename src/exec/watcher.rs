//! The receipt watcher: one task that follows new blocks and fetches each block's receipts once
//! (`eth_getBlockReceipts`), matching them to every pending transaction — no per-hash polling.
//! It also refreshes the cached EIP-1559 fees from each block's base fee, and times out
//! transactions that were not included within the receipt timeout.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use alloy::eips::{BlockId, BlockNumberOrTag};
use alloy::primitives::{B256, Bytes};
use alloy::providers::Provider;
use tokio::sync::{mpsc, watch};

use super::msg::{ActorMsg, Ctx, TxReport, TxResult};
use crate::chain::tx::{Fees, send_raw};

/// A sent transaction to match to a receipt.
pub struct Watched {
    pub hash: B256,
    /// The signed bytes, re-sent if the node drops the transaction from its pool.
    pub raw: Bytes,
    /// Its fee cap, to explain a timeout caused by a rising base fee.
    pub max_fee_per_gas: u128,
    /// The wallet's in-flight slot, freed when this is reported.
    pub _permit: tokio::sync::OwnedSemaphorePermit,
    pub idx: usize,
    pub sent_ms: f64,
    pub reply: mpsc::UnboundedSender<ActorMsg>,
}

/// Receipt facts kept for recent blocks (a transaction may be registered after its block was
/// seen, e.g. on an automining node).
#[derive(Clone, Copy)]
struct Seen {
    block: u64,
    seen_ms: f64,
    success: bool,
    gas_used: u64,
    fee_wei: u128,
}

/// Blocks whose receipts stay in the recent cache.
const RECENT_BLOCKS: usize = 64;
const POLL: Duration = Duration::from_millis(10);
/// A transaction pending this long is looked up; if the node no longer knows it, it is re-sent.
const RESEND_AFTER_MS: f64 = 3_000.0;
/// How often, and for how many transactions at most, that check runs.
const RESEND_EVERY: Duration = Duration::from_secs(2);
const RESEND_BATCH: usize = 200;

/// What the watcher saw, for the run's facts.
#[derive(Debug, Clone, Copy, Default)]
pub struct Span {
    pub first_block: Option<u64>,
    pub last_block: Option<u64>,
}

/// Runs until `rx` is closed and nothing is pending. `priority` is the tip used in fees.
pub async fn run(
    ctx: Arc<Ctx>,
    mut rx: mpsc::UnboundedReceiver<Watched>,
    fees: watch::Sender<Fees>,
    priority: u128,
    stop: watch::Receiver<bool>,
) -> Span {
    let p = &ctx.provider;
    let mut next = match p.get_block_number().await {
        Ok(n) => n + 1,
        Err(_) => 1,
    };
    let mut span = Span::default();
    let mut pending: HashMap<B256, Watched> = HashMap::new();
    let mut recent: HashMap<B256, Seen> = HashMap::new();
    let mut recent_order: VecDeque<(u64, Vec<B256>)> = VecDeque::new();
    let mut closed = false;
    let mut last_resend = tokio::time::Instant::now();
    let mut check: Option<tokio::task::JoinHandle<()>> = None;
    // Why the node refused a dropped transaction when it was sent again (explains a timeout).
    let mut refused: HashMap<B256, String> = HashMap::new();
    let (refusals_tx, mut refusals_rx) = mpsc::unbounded_channel::<(B256, String)>();
    loop {
        loop {
            match rx.try_recv() {
                Ok(w) => {
                    if let Some(s) = recent.get(&w.hash).copied() {
                        span.first_block =
                            Some(span.first_block.map_or(s.block, |f| f.min(s.block)));
                        span.last_block = Some(span.last_block.map_or(s.block, |l| l.max(s.block)));
                        report(&w, s);
                    } else {
                        pending.insert(w.hash, w);
                    }
                }
                Err(mpsc::error::TryRecvError::Empty) => break,
                Err(mpsc::error::TryRecvError::Disconnected) => {
                    closed = true;
                    break;
                }
            }
        }
        if (closed && pending.is_empty()) || *stop.borrow() {
            return span;
        }
        let head = p.get_block_number().await.unwrap_or(next.saturating_sub(1));
        while next <= head {
            let Ok(Some(receipts)) = p
                .get_block_receipts(BlockId::Number(BlockNumberOrTag::Number(next)))
                .await
            else {
                break;
            };
            let seen_ms = ctx.now_ms();
            let mut hashes = Vec::with_capacity(receipts.len());
            for r in &receipts {
                let s = Seen {
                    block: next,
                    seen_ms,
                    success: r.status(),
                    gas_used: r.gas_used,
                    fee_wei: u128::from(r.gas_used) * r.effective_gas_price,
                };
                refused.remove(&r.transaction_hash);
                if let Some(w) = pending.remove(&r.transaction_hash) {
                    span.first_block = Some(span.first_block.map_or(next, |f| f.min(next)));
                    span.last_block = Some(span.last_block.map_or(next, |l| l.max(next)));
                    report(&w, s);
                }
                recent.insert(r.transaction_hash, s);
                hashes.push(r.transaction_hash);
            }
            recent_order.push_back((next, hashes));
            while recent_order.len() > RECENT_BLOCKS {
                if let Some((_, old)) = recent_order.pop_front() {
                    for h in old {
                        recent.remove(&h);
                    }
                }
            }
            if let Ok(Some(b)) = p.get_block_by_number(BlockNumberOrTag::Number(next)).await {
                if let Some(base) = b.header.base_fee_per_gas {
                    let _ = fees.send(Fees {
                        max_fee_per_gas: 2 * u128::from(base) + priority,
                        max_priority_fee_per_gas: priority,
                    });
                }
            }
            next += 1;
        }
        let now = ctx.now_ms();
        // The lookups run in their own task, so block timing (latency) never waits on them.
        while let Ok((hash, e)) = refusals_rx.try_recv() {
            refused.insert(hash, e);
        }
        let checking = check.as_ref().is_some_and(|t| !t.is_finished());
        if !checking && last_resend.elapsed() >= RESEND_EVERY {
            last_resend = tokio::time::Instant::now();
            let old: Vec<(B256, Bytes)> = pending
                .values()
                .filter(|w| now - w.sent_ms > RESEND_AFTER_MS)
                .take(RESEND_BATCH)
                .map(|w| (w.hash, w.raw.clone()))
                .collect();
            if !old.is_empty() {
                check = Some(tokio::spawn(resend_dropped(
                    ctx.provider.clone(),
                    old,
                    refusals_tx.clone(),
                )));
            }
        }
        let limit = ctx.receipt_timeout.as_secs_f64() * 1000.0;
        let expired: Vec<B256> = pending
            .values()
            .filter(|w| now - w.sent_ms > limit)
            .map(|w| w.hash)
            .collect();
        let base_fee = base_fee(&fees.borrow(), priority);
        for h in expired {
            if let Some(w) = pending.remove(&h) {
                let why = if let Some(e) = refused.remove(&h) {
                    format!(
                        " (the node dropped it from its pool and refused it again: {}; later transactions of this wallet then wait behind its nonce)",
                        super::msg::one_line(&e)
                    )
                } else if w.max_fee_per_gas < base_fee {
                    format!(
                        " (its max fee, {} wei/gas, is below the base fee, {base_fee} wei/gas: the blocks are full)",
                        w.max_fee_per_gas
                    )
                } else {
                    String::new()
                };
                let _ = w.reply.send(ActorMsg::Tx(TxReport {
                    idx: w.idx,
                    sent_ms: w.sent_ms,
                    result: TxResult::Timeout { hash: w.hash, why },
                }));
            }
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Looks the transactions up and re-sends (same signed bytes, so included at most once) those
/// the node no longer knows; reports the ones it refuses again.
async fn resend_dropped(
    p: alloy::providers::DynProvider,
    txs: Vec<(B256, Bytes)>,
    refusals: mpsc::UnboundedSender<(B256, String)>,
) {
    let mut resent = 0usize;
    for (hash, raw) in txs {
        if let Ok(None) = p.get_transaction_by_hash(hash).await {
            if let Err(e) = send_raw(&p, &raw).await {
                tracing::debug!(tx = %hash, "re-sending a dropped transaction failed: {e}");
                let _ = refusals.send((hash, e));
            }
            resent += 1;
        }
    }
    if resent > 0 {
        tracing::warn!("{resent} transactions dropped by the node were sent again");
    }
}

/// The base fee behind a cached fee cap (the cap is 2 × base fee + tip).
fn base_fee(f: &Fees, priority: u128) -> u128 {
    f.max_fee_per_gas.saturating_sub(priority) / 2
}

fn report(w: &Watched, s: Seen) {
    let _ = w.reply.send(ActorMsg::Tx(TxReport {
        idx: w.idx,
        sent_ms: w.sent_ms,
        result: TxResult::Included {
            hash: w.hash,
            block: s.block,
            success: s.success,
            latency_ms: (s.seen_ms - w.sent_ms).max(0.0),
            gas_used: s.gas_used,
            fee_wei: s.fee_wei,
        },
    }));
}
