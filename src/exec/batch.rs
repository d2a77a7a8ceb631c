//! The send batcher: every lane hands its signed transactions here as a group (one wallet's,
//! in nonce order), and whatever is waiting when the batcher runs leaves in one JSON-RPC batch
//! (`tx::send_batch`). A group is never split: a wallet's transactions reach the node in the
//! order of the request, and the lane sends its next group only once this one is answered, so
//! no node ever sees a wallet's nonce N+1 before N (`lane`). Nothing waits for a batch
//! to fill: the lanes woken by one scheduler tick all submit before the batcher runs, so what
//! fell due together leaves together, one HTTP request per batch, not per transaction. Up to
//! `SLOTS` requests are in flight at once; beyond that (a node that stalls while it builds a
//! block) what waits leaves anyway after `HOLD` in a request of its own: a stalled node delays
//! answers, never sends. `sent_ms` is the instant the request holding the transaction left.
//! A batch reaches the node through its `SendPath` (the lean wire with the full client behind
//! it, or the full client alone); the scheduler tells the batcher when it wakes next
//! (`Batcher::wakes_at`), which the lean path uses to read its answers in that wake-up.

use std::sync::Arc;

use alloy::primitives::{B256, Bytes};
use alloy::providers::DynProvider;
use tokio::sync::{Semaphore, mpsc, oneshot};

use super::send_path::{SendPath, Wake};
use crate::chain::rpc::RpcStats;
use crate::chain::tx::SendError;
use crate::chain::wire::Wire;

/// Transactions per batch at most (some nodes refuse larger batches).
pub const MAX_BATCH: usize = 100;
/// Batch requests in flight before transactions start to wait for one to end (measured at
/// 4,000/s: with 2, the waits were most of the p99 lateness, and the node's CPU per
/// transaction was the same as with 64).
pub const SLOTS: usize = 64;
/// A transaction waits for a free slot at most this long, then leaves without one.
pub const HOLD: std::time::Duration = std::time::Duration::from_millis(1);

/// What became of one group of sends.
#[derive(Debug)]
pub struct Sent {
    /// When the request that carried it left, ms from the run's start.
    pub sent_ms: f64,
    /// One per transaction of the group, in its order.
    pub outcomes: Vec<Result<(), SendError>>,
}

struct Request {
    txs: Vec<(B256, Bytes)>,
    reply: oneshot::Sender<Sent>,
}

/// A handle to the batcher task (cheap to clone).
#[derive(Clone)]
pub struct Batcher {
    tx: mpsc::UnboundedSender<Request>,
    start: tokio::time::Instant,
    /// The scheduler's wake-ups, for the lean path's answers.
    wake: Wake,
}

impl Batcher {
    /// Starts the batcher; times are ms since `start`.
    pub fn spawn(
        provider: DynProvider,
        wire: Option<Arc<Wire>>,
        stats: Arc<RpcStats>,
        start: tokio::time::Instant,
    ) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let wake = Wake::new(start);
        let path = SendPath::new(provider, wire, stats, wake.clone());
        tokio::spawn(run(Arc::new(path), start, rx));
        Self { tx, start, wake }
    }

    /// The scheduler just woke up (answers waiting for it are read now).
    pub fn woke(&self) {
        self.wake.woke();
    }

    /// The scheduler wakes next at `at` (`None`: not planned, or not soon).
    pub fn wakes_at(&self, at: Option<tokio::time::Instant>) {
        self.wake.wakes_at(at);
    }

    /// Hands one wallet's signed transactions (`(hash, raw)`, in nonce order, at most
    /// `MAX_BATCH`) to the batcher: they leave together, in this order, in one request; the
    /// answer comes later (`Pending::answer`). Each is sent exactly once, as `send_once` does.
    pub fn submit(&self, txs: Vec<(B256, Bytes)>) -> Pending {
        debug_assert!(!txs.is_empty() && txs.len() <= MAX_BATCH);
        let (reply, rx) = oneshot::channel();
        let n = txs.len();
        let refused = self.tx.send(Request { txs, reply }).is_err();
        Pending {
            rx,
            n,
            refused,
            start: self.start,
        }
    }
}

/// A submitted transaction's answer, to await.
pub struct Pending {
    rx: oneshot::Receiver<Sent>,
    /// Transactions in the group.
    n: usize,
    /// Never handed to the batcher (the run is shutting down).
    refused: bool,
    start: tokio::time::Instant,
}

impl Pending {
    pub async fn answer(&mut self) -> Sent {
        let now = self.start.elapsed().as_secs_f64() * 1000.0;
        if self.refused {
            return Sent {
                sent_ms: now,
                outcomes: vec![Err(SendError::Refused("the run is shutting down".into())); self.n],
            };
        }
        (&mut self.rx).await.unwrap_or_else(|_| Sent {
            // The batch task died, maybe after its request left: the watcher finds out.
            sent_ms: self.start.elapsed().as_secs_f64() * 1000.0,
            outcomes: vec![
                Err(SendError::Unknown(
                    "the send task ended without an answer".into(),
                ));
                self.n
            ],
        })
    }
}

async fn run(
    path: Arc<SendPath>,
    start: tokio::time::Instant,
    mut rx: mpsc::UnboundedReceiver<Request>,
) {
    let slots = Arc::new(Semaphore::new(SLOTS));
    // A group that did not fit in the last batch: it starts the next one.
    let mut carry: Option<Request> = None;
    loop {
        let first = match carry.take() {
            Some(r) => r,
            None => match rx.recv().await {
                Some(r) => r,
                None => return,
            },
        };
        let permit = tokio::time::timeout(HOLD, slots.clone().acquire_owned())
            .await
            .ok()
            .and_then(Result::ok);
        // Everything that arrived while the slots were busy goes in this request, whole groups.
        let mut size = first.txs.len();
        let mut batch = vec![first];
        while size < MAX_BATCH {
            match rx.try_recv() {
                Ok(r) if size + r.txs.len() > MAX_BATCH => {
                    carry = Some(r);
                    break;
                }
                Ok(r) => {
                    size += r.txs.len();
                    batch.push(r);
                }
                Err(_) => break,
            }
        }
        let path = path.clone();
        tokio::spawn(async move {
            let txs: Vec<(B256, Bytes)> =
                batch.iter().flat_map(|r| r.txs.iter().cloned()).collect();
            let sent_ms = start.elapsed().as_secs_f64() * 1000.0;
            let mut outcomes = path.send(&txs).await.into_iter();
            drop(permit);
            for r in batch {
                let outcomes = outcomes.by_ref().take(r.txs.len()).collect();
                let _ = r.reply.send(Sent { sent_ms, outcomes });
            }
        });
    }
}
