//! A wallet lane: one task per sending wallet that owns the wallet's nonce, signs each
//! transaction locally with the current cached fees, and sends it raw, in order, exactly once
//! (through the batcher, `batch::Batcher`; a lane waits for the answer before its next send, so
//! a wallet's nonces reach the node in order). A send the node provably refused does not
//! consume the nonce (a nonce error resyncs it from the node); one whose outcome stays unknown
//! does, and goes to the receipt watcher like a sent one, which re-sends the same bytes if the
//! node never got them — so no nonce gap is left behind.

use std::sync::Arc;

use alloy::providers::Provider;
use alloy::signers::local::PrivateKeySigner;
use tokio::sync::{Semaphore, mpsc, watch};

use super::msg::{ActorMsg, Ctx, Outgoing, TxReport, TxResult};
use super::watcher::{Resign, Watched};
use crate::chain::tx::{ErrorClass, Fees, SendError, sign};

/// Transactions a lane holds before new ones are refused (bounded memory per wallet).
pub const LANE_CAPACITY: usize = 256;
/// Transactions of one wallet sent but not yet included (or timed out); more wait in the lane.
pub const IN_FLIGHT: usize = 64;

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
    while let Some(o) = rx.recv().await {
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
        let fail = |class, message: String, sent_ms| TxReport {
            idx: o.idx,
            sent_ms,
            result: TxResult::SendFailed { class, message },
        };
        let (hash, raw) = match sign(&signer, ctx.domain.chain_id, nonce, current, &o.call) {
            Ok(x) => x,
            Err(e) => {
                let _ = o.reply.send(ActorMsg::Tx(fail(
                    ErrorClass::Other,
                    e.to_string(),
                    ctx.now_ms(),
                )));
                continue;
            }
        };
        let plain = ctx.gas.transfer == 21_000
            && o.call.gas_limit == 21_000
            && o.call.input.is_empty()
            && ctx.plan.steps[o.idx].kind == crate::plan::StepKind::Transfer;
        let sent = ctx.sender.send(hash, raw.clone()).await;
        let (sent_ms, outcome) = (sent.sent_ms, sent.outcome);
        if let Err(SendError::Unknown(message)) = &outcome {
            tracing::warn!(tx = %hash, "send outcome unknown ({message}); watching for it");
        }
        match outcome {
            Ok(()) | Err(SendError::Unknown(_)) => {
                let _ = watcher.send(Watched {
                    hash,
                    raw,
                    fees: current,
                    resign: Resign {
                        signer: signer.clone(),
                        nonce,
                        call: o.call,
                    },
                    resent: 0,
                    _permit: permit,
                    idx: o.idx,
                    sent_ms,
                    reply: o.reply,
                    plain,
                });
                nonce += 1;
            }
            Err(SendError::Refused(message)) => {
                let class = ErrorClass::of_message(&message);
                if class == ErrorClass::Nonce {
                    if let Ok(n) = ctx
                        .provider
                        .get_transaction_count(signer.address())
                        .pending()
                        .await
                    {
                        tracing::debug!(from = nonce, to = n, "nonce resynced");
                        nonce = n;
                    }
                }
                let _ = o.reply.send(ActorMsg::Tx(fail(class, message, sent_ms)));
            }
        }
    }
}

async fn wait_true(mut stop: watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}
