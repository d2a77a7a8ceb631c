//! A wallet lane: one task per sending wallet that owns the wallet's nonce, signs each
//! transaction locally with the current cached fees, and sends it raw, in order, exactly once
//! (through the batcher, `batch::Batcher`), up to `PIPELINE` sends ahead of the answers, which
//! are handled in nonce order. A send the node provably refused does not consume the nonce: it
//! becomes a hole the wallet's next send fills (lowest first; a nonce error resyncs from the
//! node), so a later transaction already sent past it waits in the node's pool until then — if
//! the wallet has no later step, it stays there and its step ends as a timeout. An outcome that
//! stays unknown consumes the nonce and goes to the receipt watcher like a sent one, which
//! re-sends the same bytes if the node never got them.

use std::sync::Arc;

use alloy::providers::Provider;
use alloy::signers::local::PrivateKeySigner;
use std::collections::VecDeque;

use alloy::primitives::{B256, Bytes};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, watch};

use super::batch::{Pending, Sent};
use super::msg::{ActorMsg, Ctx, Outgoing, TxReport, TxResult};
use super::watcher::{Resign, Watched};
use crate::chain::tx::{ErrorClass, Fees, SendError, sign};

/// Transactions a lane holds before new ones are refused (bounded memory per wallet).
pub const LANE_CAPACITY: usize = 256;
/// Transactions of one wallet sent but not yet included (or timed out); more wait in the lane.
pub const IN_FLIGHT: usize = 64;
/// Sends of one wallet whose answer has not come yet: a node slow to answer (busy building a
/// block) does not hold back the wallet's next send. Answers are handled in nonce order.
pub const PIPELINE: usize = 32;

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
    send: Pending,
}

async fn run(
    ctx: Arc<Ctx>,
    signer: PrivateKeySigner,
    nonce: u64,
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
    let mut nonces = Nonces::new(nonce);
    while open || !sending.is_empty() {
        tokio::select! {
            biased;
            sent = async { sending.front_mut().expect("guarded").send.answer().await }, if !sending.is_empty() => {
                let f = sending.pop_front().expect("guarded");
                match answered(&ctx, &signer, &watcher, f, sent).await {
                    Some(Next::Unused(n)) => nonces.unused(n),
                    Some(Next::Node(n)) => nonces.resync(n, sending.is_empty()),
                    None => {}
                }
            }
            // While stopping, queued steps are taken at once to be reported as not sent.
            o = rx.recv(), if open && (sending.len() < PIPELINE || *stop.borrow()) => {
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
                let nonce = nonces.take();
                let (hash, raw) = match sign(&signer, ctx.domain.chain_id, nonce, current, &o.call) {
                    Ok(x) => x,
                    Err(e) => {
                        nonces.unused(nonce);
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
                let send = ctx.sender.submit(hash, raw.clone());
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
            }
        }
    }
}

/// A wallet's nonces: the next never used, and the holes refused sends left below it (used
/// first, lowest first, so later transactions already in the node's pool become valid).
struct Nonces {
    next: u64,
    holes: std::collections::BTreeSet<u64>,
}

impl Nonces {
    fn new(next: u64) -> Self {
        Self {
            next,
            holes: Default::default(),
        }
    }

    fn take(&mut self) -> u64 {
        self.holes.pop_first().unwrap_or_else(|| {
            self.next += 1;
            self.next - 1
        })
    }

    /// A send at `n` was refused: `n` is free again.
    fn unused(&mut self, n: u64) {
        if n + 1 == self.next {
            self.next = n;
            // Holes just below are the top now.
            while self.next > 0 && self.holes.remove(&(self.next - 1)) {
                self.next -= 1;
            }
        } else if n < self.next {
            self.holes.insert(n);
        }
    }

    /// The node says its next nonce is `n` (after a nonce error). Sends still unanswered may not
    /// have reached it: only with none in flight can the count move back.
    fn resync(&mut self, n: u64, idle: bool) {
        if idle {
            self.next = n;
            self.holes.clear();
        } else {
            self.next = self.next.max(n);
            self.holes.retain(|h| *h >= n);
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

#[cfg(test)]
mod tests {
    use super::Nonces;

    #[test]
    fn refused_nonces_are_reused_lowest_first_and_never_twice() {
        let mut n = Nonces::new(10);
        let sent: Vec<u64> = (0..4).map(|_| n.take()).collect();
        assert_eq!(sent, [10, 11, 12, 13]);
        // 11 refused while 12 and 13 were accepted: the next send fills 11, then goes on at 14.
        n.unused(11);
        assert_eq!((n.take(), n.take()), (11, 14));
        // The newest refused: the count just steps back (no hole).
        n.unused(14);
        assert_eq!(n.take(), 14);
        // Two holes, the top one refused last: both reused, lowest first.
        let (a, b) = (n.take(), n.take());
        assert_eq!((a, b), (15, 16));
        n.unused(15);
        n.unused(16);
        assert_eq!((n.take(), n.take(), n.take()), (15, 16, 17));
        // A nonce error with sends in flight never moves the count back.
        n.resync(12, false);
        assert_eq!(n.take(), 18);
        n.resync(30, false);
        assert_eq!(n.take(), 30);
        n.resync(5, true);
        assert_eq!(n.take(), 5);
    }
}
