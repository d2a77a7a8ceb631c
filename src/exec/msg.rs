//! The messages the executor's tasks exchange and the shared run context. Scheduler → role
//! actors (steps); role actor ↔ role actor (sign requests, channel events); wallet lanes and the
//! receipt watcher → role actors (transaction outcomes); role actors → collector (step results).

use std::sync::Arc;
use std::time::Duration;

use alloy::primitives::{Address, B256, Bytes};
use alloy::providers::DynProvider;
use tokio::sync::{mpsc, oneshot};

use super::states::{Domain, State};
use crate::chain::contracts::Contracts;
use crate::chain::tx::{Call, ErrorClass};
use crate::model::rows::Status;
use crate::plan::{JobId, Plan, WalletRef};
use crate::wallets::Directory;

/// What every task of a run shares (read-only).
pub struct Ctx {
    pub plan: Arc<Plan>,
    pub provider: DynProvider,
    pub domain: Domain,
    pub contracts: Contracts,
    pub run_id: String,
    pub directory: Directory,
    /// Public addresses by wallet index (`Directory::index`).
    pub addresses: Vec<Address>,
    pub start: tokio::time::Instant,
    pub receipt_timeout: Duration,
    pub caps: crate::chain::receipts::Caps,
    /// Transactions sent again: re-broadcast after the node dropped them, or re-signed at a
    /// higher fee.
    pub resent: std::sync::atomic::AtomicU64,
    /// Of those, re-signed at a higher fee (the base fee outgrew them): a sign of full blocks.
    pub resigned: std::sync::atomic::AtomicU64,
    /// Of those, the transactions of blocks a reorg replaced, sent again (same bytes).
    pub reorged: std::sync::atomic::AtomicU64,
    /// The client's retry counters (shown on the progress line when non-zero).
    pub rpc_stats: Arc<crate::chain::rpc::RpcStats>,
    /// Gas limit per transaction shape, estimated on this chain.
    pub gas: crate::model::gas::GasTable,
    /// Where lanes send their transactions (batched).
    pub sender: super::batch::Batcher,
}

impl Ctx {
    /// Milliseconds since the run's start, µs precision.
    pub fn now_ms(&self) -> f64 {
        self.start.elapsed().as_secs_f64() * 1000.0
    }

    pub fn address(&self, w: WalletRef) -> Address {
        self.addresses[self.directory.index(w)]
    }
}

/// How a transaction ended.
#[derive(Debug, Clone)]
pub enum TxResult {
    Included {
        hash: B256,
        block: u64,
        success: bool,
        latency_ms: f64,
        gas_used: u64,
        fee_wei: u128,
        /// A blob transaction's blob gas and blob fee (part of `fee_wei`).
        blob: Option<(u64, u128)>,
    },
    SendFailed {
        class: ErrorClass,
        message: String,
    },
    Timeout {
        hash: B256,
        /// Why it was probably not included, when known.
        why: String,
    },
    /// The run ended (Ctrl-C or its deadline) while the transaction waited in its lane.
    NotSent,
}

/// A transaction outcome for the step `idx`, sent at `sent_ms`.
#[derive(Debug, Clone)]
pub struct TxReport {
    pub idx: usize,
    pub sent_ms: f64,
    pub result: TxResult,
}

/// A transaction for a wallet lane to sign and send.
pub struct Outgoing {
    pub idx: usize,
    pub call: Call,
    pub reply: mpsc::UnboundedSender<ActorMsg>,
}

/// A channel of the run: job ids are numbered per workload, so the workload is part of the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChKey {
    pub workload: u32,
    pub job: JobId,
}

impl std::fmt::Display for ChKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (workload {})", self.job, self.workload)
    }
}

/// States proposed together (e.g. a ledger update and the app channel it funds).
pub type Proposal = Vec<(ChKey, State)>;

/// What a role actor receives.
pub enum ActorMsg {
    /// The scheduler fires plan step `idx`.
    Step {
        idx: usize,
    },
    Tx(TxReport),
    /// The other party asks wallet `signer` of this role to countersign `proposal`, which
    /// `proposer` signed with `sigs`.
    SignRequest {
        signer: WalletRef,
        proposer: WalletRef,
        proposal: Proposal,
        sigs: Vec<Bytes>,
        reply: oneshot::Sender<Result<Vec<Bytes>, SignRefusal>>,
    },
    /// The counterparty's answer to this actor's own request for step `idx`.
    Countersigned {
        idx: usize,
        started_ms: f64,
        proposal: Proposal,
        own: Vec<Bytes>,
        peer: Result<Vec<Bytes>, SignRefusal>,
    },
    /// The other party's news about a channel both are in.
    Peer(PeerEvent),
    /// End of run: report every step still waiting as skipped, then stop.
    Shutdown,
    /// A transaction's outcome again, after a reorg replaced the block it was reported in: it
    /// replaces the step's row (no channel state moves).
    Amend(TxReport),
}

/// Channel news sent from one party to the other, as a wallet service would learn it.
#[derive(Debug, Clone, PartialEq)]
pub enum PeerEvent {
    Opened {
        job: ChKey,
        id: B256,
        a: WalletRef,
        b: WalletRef,
        holding: u128,
    },
    Failed {
        job: ChKey,
        reason: String,
    },
    Closed {
        job: ChKey,
    },
}

/// One step's result, for the collector.
#[derive(Debug, Clone)]
pub struct Done {
    pub idx: usize,
    pub status: Status,
    pub error: String,
    pub sent_ms: Option<f64>,
    pub tx_hash: Option<B256>,
    pub block: Option<u64>,
    pub latency_ms: Option<f64>,
    pub gas_used: Option<u64>,
    pub fee_wei: Option<u128>,
    /// A blob transaction's blob gas and blob fee.
    pub blob: Option<(u64, u128)>,
    /// A second result that replaces the step's first (its block was replaced by a reorg).
    pub amend: bool,
}

impl Done {
    pub fn new(idx: usize, status: Status, error: impl Into<String>) -> Self {
        Self {
            idx,
            status,
            error: error.into(),
            sent_ms: None,
            tx_hash: None,
            block: None,
            latency_ms: None,
            gas_used: None,
            fee_wei: None,
            blob: None,
            amend: false,
        }
    }

    /// The row of a transaction outcome (`ok` only if included and successful).
    pub fn of_tx(r: &TxReport) -> Self {
        let mut d = Done::new(r.idx, Status::Ok, "");
        d.sent_ms = Some(r.sent_ms);
        match &r.result {
            TxResult::Included {
                hash,
                block,
                success,
                latency_ms,
                gas_used,
                fee_wei,
                blob,
            } => {
                d.tx_hash = Some(*hash);
                d.block = Some(*block);
                d.latency_ms = Some(*latency_ms);
                d.gas_used = Some(*gas_used);
                d.fee_wei = Some(*fee_wei);
                d.blob = *blob;
                if !success {
                    d.status = Status::Failed;
                    d.error = "reverted: the transaction was included but reverted".into();
                }
            }
            TxResult::SendFailed { class, message } => {
                d.status = Status::Failed;
                d.error = format!("{}: {}", class.as_str(), one_line(message));
            }
            TxResult::NotSent => {
                d.sent_ms = None;
                d.status = Status::NotSent;
                d.error = "the run stopped before it was sent".into();
            }
            TxResult::Timeout { hash, why } => {
                d.tx_hash = Some(*hash);
                d.status = Status::Timeout;
                d.error = format!("no receipt within the receipt timeout{why}");
            }
        }
        d
    }
}

/// Error text on one line (CSV-friendly), bounded in length.
pub fn one_line(s: &str) -> String {
    let mut t: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if t.len() > 300 {
        let mut cut = 300;
        while !t.is_char_boundary(cut) {
            cut -= 1;
        }
        t.truncate(cut);
        t.push('…');
    }
    t
}

/// Why a proposal got no countersignature.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SignRefusal {
    /// The channel has the opener's proposal in flight: the other party retries after it.
    #[error("busy: {0} has a proposal of the opener in flight")]
    Busy(ChKey),
    /// Refused for good, or no answer: the step fails with this reason.
    #[error("{0}")]
    Failed(String),
}
