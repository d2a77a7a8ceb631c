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
//! A batch goes by the lean path (`wire::Wire`) when the endpoint allows it; when that fails it
//! is sent again through the full client, and the answers mean the same either way. The
//! scheduler tells the batcher when it wakes next (`Batcher::wakes_at`): a lean send's answer
//! is read in that wake-up rather than in one of its own.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use alloy::primitives::{B256, Bytes};
use alloy::providers::DynProvider;
use tokio::sync::{Semaphore, mpsc, oneshot, watch};

use crate::chain::rpc::RpcStats;
use crate::chain::tx::{SendError, send_batch, settle};
use crate::chain::wire::Wire;

/// Transactions per batch at most (some nodes refuse larger batches).
pub const MAX_BATCH: usize = 100;
/// Batch requests in flight before transactions start to wait for one to end (measured at
/// 4,000/s: with 2, the waits were most of the p99 lateness, and the node's CPU per
/// transaction was the same as with 64).
pub const SLOTS: usize = 64;
/// A transaction waits for a free slot at most this long, then leaves without one.
pub const HOLD: std::time::Duration = std::time::Duration::from_millis(1);
/// A scheduler wake-up further away than this is not waited for: the answer is awaited at once.
const MAX_PARK: std::time::Duration = std::time::Duration::from_millis(6);
/// How long past the planned wake-up an answer waits for it before being awaited on its own.
const PARK_SLACK: std::time::Duration = std::time::Duration::from_millis(2);

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
    /// When the scheduler wakes next, ns since `start` (`u64::MAX`: not planned).
    next_wake: Arc<AtomicU64>,
    /// Counts the scheduler's wake-ups.
    woke: watch::Sender<u64>,
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
        let next_wake = Arc::new(AtomicU64::new(u64::MAX));
        let (woke, _) = watch::channel(0);
        tokio::spawn(run(
            Route {
                provider,
                wire,
                stats,
                start,
                next_wake: next_wake.clone(),
                woke: woke.clone(),
            },
            rx,
        ));
        Self {
            tx,
            start,
            next_wake,
            woke,
        }
    }

    /// The scheduler just woke up (answers waiting for it are read now).
    pub fn woke(&self) {
        // Until the scheduler says when it sleeps again, answers are not held for it.
        self.next_wake.store(u64::MAX, Ordering::Relaxed);
        self.woke.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// The scheduler wakes next at `at` (`None`: not planned, or not soon).
    pub fn wakes_at(&self, at: Option<tokio::time::Instant>) {
        let ns = at.map_or(u64::MAX, |at| {
            u64::try_from(at.saturating_duration_since(self.start).as_nanos()).unwrap_or(u64::MAX)
        });
        self.next_wake.store(ns, Ordering::Relaxed);
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

/// Where batches go: the lean path first when there is one, else (and after it failed) the
/// full client.
#[derive(Clone)]
struct Route {
    provider: DynProvider,
    wire: Option<Arc<Wire>>,
    stats: Arc<RpcStats>,
    start: tokio::time::Instant,
    next_wake: Arc<AtomicU64>,
    woke: watch::Sender<u64>,
}

impl Route {
    /// Ends at the scheduler's next wake-up when one is planned soon (`None`: not soon).
    fn next_wake(&self) -> Option<impl Future<Output = ()> + use<>> {
        let ns = self.next_wake.load(Ordering::Relaxed);
        let at = self.start + std::time::Duration::from_nanos(ns);
        let now = tokio::time::Instant::now();
        if ns == u64::MAX || at <= now || at > now + MAX_PARK {
            return None;
        }
        let mut woke = self.woke.subscribe();
        Some(async move {
            let _ = tokio::time::timeout_at(at + PARK_SLACK, woke.changed()).await;
        })
    }

    async fn send(&self, txs: &[(B256, Bytes)]) -> Vec<Result<(), SendError>> {
        if let Some(wire) = self.wire.as_deref().filter(|w| w.is_on()) {
            match wire.send(txs, self.next_wake()).await {
                Ok(answers) => {
                    return settle(&self.provider, txs, answers.into_iter().map(Some).collect())
                        .await;
                }
                Err(why) => {
                    tracing::debug!("lean send failed ({why}): sending again the full way");
                    self.stats.retried_elsewhere();
                }
            }
        }
        send_batch(&self.provider, txs).await
    }
}

async fn run(route: Route, mut rx: mpsc::UnboundedReceiver<Request>) {
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
        let route = route.clone();
        tokio::spawn(async move {
            let txs: Vec<(B256, Bytes)> =
                batch.iter().flat_map(|r| r.txs.iter().cloned()).collect();
            let sent_ms = route.start.elapsed().as_secs_f64() * 1000.0;
            let mut outcomes = route.send(&txs).await.into_iter();
            drop(permit);
            for r in batch {
                let outcomes = outcomes.by_ref().take(r.txs.len()).collect();
                let _ = r.reply.send(Sent { sent_ms, outcomes });
            }
        });
    }
}
