//! A wallet lane: one task per sending wallet that owns the wallet's nonce, signs each
//! transaction locally with the current cached fees, and sends it raw, in order, exactly once
//! (through the batcher, `batch::Batcher`), up to `PIPELINE` sends ahead of the answers, which
//! are handled in nonce order. A send the node provably refused does not consume the nonce: the
//! next send uses it again (a nonce error resyncs it from the node), so a later transaction
//! already sent past it waits in the node's pool for that one; an outcome that stays unknown
//! consumes it and goes to the receipt watcher like a sent one, which re-sends the same bytes if
//! the node never got them — so no nonce gap is left behind while the run sends.

use std::sync::Arc;

use alloy::providers::Provider;
use alloy::signers::local::PrivateKeySigner;
use std::collections::VecDeque;

use alloy::primitives::{B256, Bytes};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, watch};

use super::batch::Sent;
use super::msg::{ActorMsg, Ctx, Outgoing, TxReport, TxResult};
use super::watcher::{Resign, Watched};
use crate::chain::tx::{ErrorClass, Fees, SendError, sign};

/// Transactions a lane holds before new ones are refused (bounded memory per wallet).
pub const LANE_CAPACITY: usize = 256;
/// Transactions of one wallet sent but not yet included (or timed out); more wait in the lane.
pub const IN_FLIGHT: usize = 64;
/// Sends of one wallet whose answer has not come yet: a node slow to answer (busy building a
/// block) does not hold back the wallet's next send. Answers are handled in nonce order.
pub const PIPELINE: usize = 8;

/// Spawns the lane of `signer`, starting at `nonce`.
pub fn spawn(
    ctx: Arc<Ctx>,
    signer: PrivateKeySigner,
    nonce: u64,
    fees: watch::Receiver<Fees>,
    watcher: mpsc::UnboundedSender<Watched>,
    stop: watch::Receiver<bool>,
) -> mpsc::Sender<Outgoing> {
    let (tx, rx) = mpsc::channel(LANE_CAPACITY);
    tokio::spawn(run(ctx, signer, nonce, fees, watcher, stop, rx));
    tx
}

/// A signed transaction whose send has not been answered yet.
struct InFlight {
    o: Outgoing,
    hash: B256,
    raw: Bytes,
    fees: Fees,
    nonce: u64,
    plain: bool,
    permit: OwnedSemaphorePermit,
    send: tokio::task::JoinHandle<Sent>,
}

async fn run(
    ctx: Arc<Ctx>,
    signer: PrivateKeySigner,
    mut nonce: u64,
    fees: watch::Receiver<Fees>,
    watcher: mpsc::UnboundedSender<Watched>,
    stop: watch::Receiver<bool>,
    mut rx: mpsc::Receiver<Outgoing>,
) {
    let signer = Arc::new(signer);
    let in_flight = Arc::new(Semaphore::new(IN_FLIGHT));
    // Sends not answered yet, oldest first: answers are handled in nonce order.
    let mut sending: VecDeque<InFlight> = VecDeque::new();
    let mut open = true;
    while open || !sending.is_empty() {
        tokio::select! {
            biased;
            sent = async { (&mut sending.front_mut().expect("guarded").send).await }, if !sending.is_empty() => {
                let f = sending.pop_front().expect("guarded");
                let sent = sent.unwrap_or_else(|e| Sent {
                    sent_ms: ctx.now_ms(),
                    outcome: Err(SendError::Unknown(format!("the send task failed: {e}"))),
                });
                match answered(&ctx, &signer, &watcher, f, sent).await {
                    // Refused: the nonce was not used. Later sends already signed past it wait
                    // in the node's pool until this nonce is used again, by the next send.
                    Some(Next::Unused(n)) => nonce = nonce.min(n),
                    Some(Next::Node(n)) => nonce = n,
                    None => {}
                }
            }
            o = rx.recv(), if open && sending.len() < PIPELINE => {
                let Some(o) = o else {
                    open = false;
                    continue;
                };
                // Wait for a free in-flight slot, unless the run is ending.
                let permit = tokio::select! {
                    p = in_flight.clone().acquire_owned() => p.ok(),
                    _ = wait_true(stop.clone()) => None,
                };
                let Some(permit) = permit.filter(|_| !*stop.borrow()) else {
                    let _ = o.reply.send(ActorMsg::Tx(TxReport {
                        idx: o.idx,
                        sent_ms: ctx.now_ms(),
                        result: TxResult::NotSent,
                    }));
                    continue;
                };
                let current = *fees.borrow();
                let (hash, raw) = match sign(&signer, ctx.domain.chain_id, nonce, current, &o.call) {
                    Ok(x) => x,
                    Err(e) => {
                        let _ = o.reply.send(ActorMsg::Tx(TxReport {
                            idx: o.idx,
                            sent_ms: ctx.now_ms(),
                            result: TxResult::SendFailed {
                                class: ErrorClass::Other,
                                message: e.to_string(),
                            },
                        }));
                        continue;
                    }
                };
                let plain = ctx.gas.transfer == 21_000
                    && o.call.gas_limit == 21_000
                    && o.call.input.is_empty()
                    && ctx.plan.steps[o.idx].kind == crate::plan::StepKind::Transfer;
                let sender = ctx.sender.clone();
                let send = tokio::spawn({
                    let raw = raw.clone();
                    async move { sender.send(hash, raw).await }
                });
                sending.push_back(InFlight {
                    o,
                    hash,
                    raw,
                    fees: current,
                    nonce,
                    plain,
                    permit,
                    send,
                });
                nonce += 1;
            }
        }
    }
}

/// The nonce to use after a refused send.
enum Next {
    /// The refused nonce: not used.
    Unused(u64),
    /// The node's, after a nonce error.
    Node(u64),
}

/// Hands a sent transaction to the watcher, or reports a refused one and what nonce comes next.
async fn answered(
    ctx: &Ctx,
    signer: &Arc<PrivateKeySigner>,
    watcher: &mpsc::UnboundedSender<Watched>,
    f: InFlight,
    sent: Sent,
) -> Option<Next> {
    let (sent_ms, outcome) = (sent.sent_ms, sent.outcome);
    if let Err(SendError::Unknown(message)) = &outcome {
        tracing::warn!(tx = %f.hash, "send outcome unknown ({message}); watching for it");
    }
    match outcome {
        Ok(()) | Err(SendError::Unknown(_)) => {
            let _ = watcher.send(Watched {
                hash: f.hash,
                raw: f.raw,
                fees: f.fees,
                resign: Resign {
                    signer: signer.clone(),
                    nonce: f.nonce,
                    call: f.o.call,
                },
                resent: 0,
                _permit: f.permit,
                idx: f.o.idx,
                sent_ms,
                reply: f.o.reply,
                plain: f.plain,
            });
            None
        }
        Err(SendError::Refused(message)) => {
            let class = ErrorClass::of_message(&message);
            let mut next = Next::Unused(f.nonce);
            if class == ErrorClass::Nonce
                && let Ok(n) = ctx
                    .provider
                    .get_transaction_count(signer.address())
                    .pending()
                    .await
            {
                tracing::debug!(from = f.nonce, to = n, "nonce resynced");
                next = Next::Node(n);
            }
            let _ = f.o.reply.send(ActorMsg::Tx(TxReport {
                idx: f.o.idx,
                sent_ms,
                result: TxResult::SendFailed { class, message },
            }));
            Some(next)
        }
    }
}

async fn wait_true(mut stop: watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}
