//! The one way a batch of signed transactions reaches the node: `SendPath::send`, the same
//! answers whichever path carries it. `Lean` writes the batch straight onto a kept-alive HTTP or
//! IPC connection (`chain::wire::Wire`) and reads its answer at the scheduler's next wake-up
//! when one is due soon (`Wake`: the scheduler says when it sleeps and when it woke), so the
//! answer costs no wake-up of its own; a batch the wire cannot carry or read goes again through
//! the full client. `Full` is the full client alone (alloy, with its retries), for endpoints
//! the wire does not allow.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use alloy::primitives::{B256, Bytes};
use alloy::providers::DynProvider;
use tokio::sync::watch;

use crate::chain::rpc::RpcStats;
use crate::chain::tx::{SendError, send_batch, settle};
use crate::chain::wire::Wire;

/// A scheduler wake-up further away than this is not waited for: the answer is awaited at once.
const MAX_PARK: std::time::Duration = std::time::Duration::from_millis(6);
/// How long past the planned wake-up an answer waits for it before being awaited on its own.
const PARK_SLACK: std::time::Duration = std::time::Duration::from_millis(2);

/// The scheduler's wake-ups, shared with the lean path (cheap to clone).
#[derive(Clone)]
pub struct Wake {
    start: tokio::time::Instant,
    /// When the scheduler wakes next, ns since `start` (`u64::MAX`: not planned).
    next: Arc<AtomicU64>,
    /// Counts the scheduler's wake-ups.
    woke: watch::Sender<u64>,
}

impl Wake {
    pub fn new(start: tokio::time::Instant) -> Self {
        Self {
            start,
            next: Arc::new(AtomicU64::new(u64::MAX)),
            woke: watch::channel(0).0,
        }
    }

    /// The scheduler just woke up (answers waiting for it are read now).
    pub fn woke(&self) {
        // Until the scheduler says when it sleeps again, answers are not held for it.
        self.next.store(u64::MAX, Ordering::Relaxed);
        self.woke.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// The scheduler wakes next at `at` (`None`: not planned, or not soon).
    pub fn wakes_at(&self, at: Option<tokio::time::Instant>) {
        let ns = at.map_or(u64::MAX, |at| {
            u64::try_from(at.saturating_duration_since(self.start).as_nanos()).unwrap_or(u64::MAX)
        });
        self.next.store(ns, Ordering::Relaxed);
    }

    /// Ends at the scheduler's next wake-up when one is planned soon (`None`: not soon).
    fn next(&self) -> Option<impl Future<Output = ()> + use<>> {
        let ns = self.next.load(Ordering::Relaxed);
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
}

/// How batches reach the node.
pub enum SendPath {
    /// The full client alone.
    Full { provider: DynProvider },
    /// The lean wire, the full client behind it.
    Lean {
        wire: Arc<Wire>,
        provider: DynProvider,
        stats: Arc<RpcStats>,
        wake: Wake,
    },
}

impl SendPath {
    /// The lean path when the endpoint has a wire, else the full client.
    pub fn new(
        provider: DynProvider,
        wire: Option<Arc<Wire>>,
        stats: Arc<RpcStats>,
        wake: Wake,
    ) -> Self {
        match wire {
            Some(wire) => Self::Lean {
                wire,
                provider,
                stats,
                wake,
            },
            None => Self::Full { provider },
        }
    }

    /// Sends `txs` in one request, in this order; one outcome per transaction, in order.
    pub async fn send(&self, txs: &[(B256, Bytes)]) -> Vec<Result<(), SendError>> {
        match self {
            Self::Full { provider } => send_batch(provider, txs).await,
            Self::Lean {
                wire,
                provider,
                stats,
                wake,
            } => {
                if wire.is_on() {
                    match wire.send(txs, wake.next()).await {
                        Ok(answers) => {
                            return settle(provider, txs, answers.into_iter().map(Some).collect())
                                .await;
                        }
                        Err(why) => {
                            tracing::debug!("lean send failed ({why}): sending again the full way");
                            stats.retried_elsewhere();
                        }
                    }
                }
                send_batch(provider, txs).await
            }
        }
    }
}
