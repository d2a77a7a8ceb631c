//! A role actor: the wallet service of one role. It holds only its own wallets' keys, turns the
//! steps the scheduler fires into transactions (through its wallet lanes) or off-chain channel
//! states, and talks to the other roles only through messages: it asks the counterparty to
//! countersign states and answers the counterparty's requests after checking them.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use alloy::primitives::{Bytes, U256};
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::SolCall;
use tokio::sync::{mpsc, watch};

mod channel_steps;
mod channels;
mod peer;
mod proposal;

use channels::{Book, Effect, Event, Gate};

use super::calls::EncodedCall;
use super::lane;
use super::msg::{ActorMsg, ChKey, Ctx, Done, Outgoing, TxReport, TxResult};
use super::watched::ToWatcher;
use crate::chain::contracts::Token;

use crate::chain::tx::{Call, Fees};
use crate::model::rows::Status;
use crate::plan::{Step, StepKind, WalletRef};
use crate::scenario::RoleId;

/// How often a proposal refused as busy (`SignRefusal::Busy`) is retried, and after how long.
const BUSY_RETRIES: u8 = 50;
const BUSY_RETRY_AFTER: Duration = Duration::from_millis(2);

/// How long a party waits for the other's countersignature.
const SIGN_TIMEOUT: Duration = Duration::from_secs(10);

/// What a sent transaction was for.
enum Purpose {
    Plain,
    Open(ChKey),
    Close(ChKey),
}

/// Everything one role actor needs.
pub struct Actor {
    pub ctx: Arc<Ctx>,
    pub role: RoleId,
    /// This role's wallets, by index within the role.
    pub signers: Vec<PrivateKeySigner>,
    /// Next nonce of each of this role's wallets.
    pub nonces: Vec<u64>,
    pub fees: watch::Receiver<Fees>,
    pub watcher: mpsc::UnboundedSender<ToWatcher>,
    /// Set when the run ends: lanes stop sending and report what they hold as not sent.
    pub lane_stop: watch::Receiver<bool>,
    /// Mailboxes of every role actor, by role id (this one included).
    pub mailboxes: Arc<Vec<mpsc::UnboundedSender<ActorMsg>>>,
    pub done: std::sync::mpsc::Sender<Done>,
    /// Pre-encoded `call` workloads by workload index.
    pub calls: Arc<Vec<Option<EncodedCall>>>,
    /// Blob workloads' pools by workload index.
    pub blobs: Arc<Vec<Option<Arc<super::blobs::BlobPool>>>>,
    /// The read workloads (`None`: the plan has none).
    pub reads: Option<Arc<super::reads::Reads>>,
    /// Wallets (by index in the role) whose steps in this run are all single transactions, and
    /// how many: after the last, the wallet's lane ends (`lane::single_tx_steps`).
    pub lane_ends: HashMap<u32, u32>,
}

struct Running {
    a: Actor,
    lanes: HashMap<u32, mpsc::Sender<Outgoing>>,
    /// The channels this role is in: a pure state machine (`channels::Book`).
    book: Book,
    purposes: HashMap<usize, Purpose>,
    /// Retries of steps whose proposal met a busy counterparty.
    retries: HashMap<usize, u8>,
}

/// Due steps an actor takes in a row before it handles one other message.
const STEP_STREAK: usize = 64;

impl Actor {
    /// Processes messages until `Shutdown`.
    /// `steps` carries the scheduler's steps, taken before anything else waiting in `rx`:
    /// a burst of results (a block's inclusions) never delays the sending of a due step.
    pub async fn run(
        self,
        mut steps: mpsc::UnboundedReceiver<usize>,
        mut rx: mpsc::UnboundedReceiver<ActorMsg>,
    ) {
        let role = self.role;
        let mut r = Running {
            a: self,
            lanes: HashMap::new(),
            book: Book::new(role),
            purposes: HashMap::new(),
            retries: HashMap::new(),
        };
        // Steps taken in a row; after `STEP_STREAK` the other inbox gets a turn, so a scheduler
        // that is always behind cannot starve countersign requests and results.
        let mut streak = 0usize;
        loop {
            let m = if streak >= STEP_STREAK {
                streak = 0;
                match rx.try_recv() {
                    Ok(m) => Some(m),
                    Err(mpsc::error::TryRecvError::Empty) => continue,
                    Err(mpsc::error::TryRecvError::Disconnected) => None,
                }
            } else {
                tokio::select! {
                    biased;
                    Some(idx) = steps.recv() => {
                        streak += 1;
                        r.step(idx);
                        continue;
                    }
                    m = rx.recv() => {
                        streak = 0;
                        m
                    }
                }
            };
            let Some(m) = m else { return };
            match m {
                ActorMsg::Step { idx } => r.step(idx),
                ActorMsg::Tx(rep) => r.tx(rep),
                ActorMsg::Amend(rep) => r.emit(Done {
                    amend: true,
                    ..Done::of_tx(&rep)
                }),
                ActorMsg::SignRequest {
                    signer,
                    proposer,
                    proposal,
                    sigs,
                    reply,
                } => {
                    let _ = reply.send(r.countersign(signer, proposer, &proposal, &sigs));
                }
                ActorMsg::Countersigned {
                    idx,
                    started_ms,
                    proposal,
                    own,
                    peer,
                } => r.countersigned(idx, started_ms, proposal, own, peer),
                ActorMsg::Peer(ev) => r.handle(Event::Peer(ev)),
                ActorMsg::Shutdown => {
                    r.handle(Event::End);
                    return;
                }
            }
        }
    }
}

impl Running {
    fn emit(&self, d: Done) {
        let _ = self.a.done.send(d);
    }

    fn skip(&self, idx: usize, reason: impl Into<String>) {
        self.emit(Done::new(idx, Status::Skipped, reason));
    }

    fn fail(&self, idx: usize, started_ms: f64, error: String) {
        let mut d = Done::new(idx, Status::Failed, error);
        d.sent_ms = Some(started_ms);
        self.emit(d);
    }

    fn signer(&self, w: WalletRef) -> &PrivateKeySigner {
        &self.a.signers[w.index as usize]
    }

    fn mailbox(&self, role: RoleId) -> &mpsc::UnboundedSender<ActorMsg> {
        &self.a.mailboxes[usize::from(role)]
    }

    fn me(&self) -> mpsc::UnboundedSender<ActorMsg> {
        self.mailbox(self.a.role).clone()
    }

    /// Queues a transaction on the lane of wallet `from`.
    fn send(&mut self, idx: usize, from: WalletRef, call: Call, purpose: Purpose) {
        let ctx = self.a.ctx.clone();
        let lane = self.lanes.entry(from.index).or_insert_with(|| {
            lane::spawn(
                ctx,
                self.a.signers[from.index as usize].clone(),
                self.a.nonces[from.index as usize],
                self.a.fees.clone(),
                self.a.watcher.clone(),
                self.a.lane_stop.clone(),
            )
        });
        let out = Outgoing {
            idx,
            call,
            reply: self.a.mailboxes[usize::from(self.a.role)].clone(),
        };
        match lane.try_send(out) {
            Ok(()) => {
                self.purposes.insert(idx, purpose);
            }
            Err(_) => {
                let now = self.a.ctx.now_ms();
                self.fail(
                    idx,
                    now,
                    format!(
                        "other: wallet {}:{} already has {} transactions queued; lower the rate or add wallets",
                        self.a.ctx.plan.roles[usize::from(from.role)],
                        from.index,
                        lane::LANE_CAPACITY
                    ),
                );
                match purpose {
                    Purpose::Open(job) => self.handle(Event::OpenSettled {
                        job,
                        result: Err("its open was never sent".into()),
                        on_chain: true,
                    }),
                    // The close never left: the channel is still open on chain.
                    Purpose::Close(job) => self.handle(Event::CloseEnded { job, ok: false }),
                    Purpose::Plain => {}
                }
            }
        }
    }

    /// Whether `job` can take step `idx` now; otherwise the book parks it or it is skipped.
    fn ready(&mut self, job: ChKey, idx: usize) -> bool {
        match self.book.gate(job, idx) {
            Gate::Ready => true,
            Gate::Parked => false,
            Gate::Skip(reason) => {
                self.skip(idx, reason);
                false
            }
        }
    }

    /// Carries out what the channel book decided about `event`.
    fn handle(&mut self, event: Event<'_>) {
        for effect in self.book.handle(event) {
            match effect {
                Effect::Take(i) => self.step(i),
                Effect::Skip(i, reason) => self.skip(i, reason),
                Effect::Notify(role, news) => {
                    let _ = self.mailbox(role).send(ActorMsg::Peer(news));
                }
            }
        }
    }

    /// Takes step `idx`; after a wallet's last one its lane ends (`Actor::lane_ends`).
    fn step(&mut self, idx: usize) {
        let s = &self.a.ctx.plan.steps[idx];
        if s.kind == StepKind::Read {
            // A read sends no transaction: no lane, no nonce (`lane::single_tx_steps`).
            match &self.a.reads {
                Some(r) => r.fire(&self.a.ctx, idx, &self.a.done),
                None => self.fail(idx, self.a.ctx.now_ms(), "other: no read workload".into()),
            }
            return;
        }
        self.take(idx);
        let from = self.a.ctx.plan.steps[idx].actor;
        if let Some(left) = self.a.lane_ends.get_mut(&from.index) {
            *left = left.saturating_sub(1);
            if *left == 0 {
                self.a.lane_ends.remove(&from.index);
                self.lanes.remove(&from.index);
            }
        }
    }

    fn take(&mut self, idx: usize) {
        let ctx = self.a.ctx.clone();
        let s = &ctx.plan.steps[idx];
        let peer = s.peer.unwrap_or(s.actor);
        match s.kind {
            StepKind::Transfer => {
                let call = Call {
                    access_list: None,
                    blob: None,
                    to: Some(ctx.address(peer)),
                    value: U256::from(s.amount.get()),
                    input: Bytes::new(),
                    gas_limit: ctx.gas.transfer,
                };
                self.send(idx, s.actor, call, Purpose::Plain);
            }
            StepKind::Blob => self.blob(idx),
            StepKind::TokenTransfer => {
                let input = Token::transferCall {
                    to: ctx.address(peer),
                    value: U256::from(s.amount.get()),
                }
                .abi_encode();
                let call = Call {
                    access_list: None,
                    blob: None,
                    to: Some(ctx.contracts.token),
                    value: U256::ZERO,
                    input: input.into(),
                    gas_limit: ctx.gas.token_transfer,
                };
                self.send(idx, s.actor, call, Purpose::Plain);
            }
            StepKind::Call => {
                let Some(EncodedCall {
                    to,
                    input,
                    gas_limit,
                    per_step,
                    access_list,
                    to_sender,
                }) = self.a.calls[s.workload as usize].clone()
                else {
                    self.fail(idx, ctx.now_ms(), "other: no encoded call".into());
                    return;
                };
                // A templated call: this step's planned arguments.
                let input = match (&per_step, ctx.plan.call_args(idx)) {
                    (Some(f), Some(args)) => {
                        let args: Vec<&str> = args.iter().map(String::as_str).collect();
                        match crate::scenario::encode_input(f, &args) {
                            Some(i) => i.into(),
                            None => {
                                self.fail(
                                    idx,
                                    ctx.now_ms(),
                                    format!(
                                        "other: cannot encode {}({})",
                                        f.signature(),
                                        args.join(", ")
                                    ),
                                );
                                return;
                            }
                        }
                    }
                    _ => input,
                };
                let call = Call {
                    access_list,
                    blob: None,
                    to: Some(if to_sender { ctx.address(s.actor) } else { to }),
                    value: U256::from(s.amount.get()),
                    input,
                    gas_limit,
                };
                self.send(idx, s.actor, call, Purpose::Plain);
            }
            StepKind::CreateLedgerChannel => self.open(idx, true),
            StepKind::CreateChannel if s.ledger.is_none() => self.open(idx, false),
            StepKind::CreateChannel => self.fund_from_ledger(idx),
            StepKind::UpdateChannel => self.update(idx),
            StepKind::CloseChannel | StepKind::CloseLedgerChannel => self.close(idx),
            // Fired in `step`, never taken here.
            StepKind::Read => self.fail(
                idx,
                ctx.now_ms(),
                "other: a read taken as a transaction".into(),
            ),
        }
    }

    /// A blob transaction: a transfer carrying the pool blobs its plan row names.
    fn blob(&mut self, idx: usize) {
        let ctx = self.a.ctx.clone();
        let s = &ctx.plan.steps[idx];
        let carry = self.a.blobs[usize::from(s.workload)]
            .as_ref()
            .zip(ctx.plan.call_args(idx))
            .and_then(|(pool, picks)| pool.carry(&picks));
        let Some(carry) = carry else {
            self.fail(idx, ctx.now_ms(), "other: no blobs for this step".into());
            return;
        };
        let call = Call {
            access_list: None,
            blob: Some(Arc::new(carry)),
            to: Some(ctx.address(s.peer.unwrap_or(s.actor))),
            value: U256::from(s.amount.get()),
            input: Bytes::new(),
            gas_limit: ctx.gas.transfer,
        };
        self.send(idx, s.actor, call, Purpose::Plain);
    }

    /// A proposal on `job` finished: run the steps queued behind it while it stays idle (a
    /// step skipped, or failed before proposing, must not stall the ones behind it).
    fn release(&mut self, job: ChKey) {
        self.book.release(job);
        while let Some(i) = self.book.next_queued(job) {
            self.step(i);
        }
    }

    fn tx(&mut self, rep: TxReport) {
        let idx = rep.idx;
        if let (Some(r), TxResult::Included { hash, .. } | TxResult::Timeout { hash, .. }) =
            (&self.a.reads, &rep.result)
        {
            r.note(idx, *hash);
        }
        let purpose = self.purposes.remove(&idx).unwrap_or(Purpose::Plain);
        let ok = matches!(rep.result, TxResult::Included { success: true, .. });
        let done = Done::of_tx(&rep);
        let reason = done.error.clone();
        self.emit(done);
        match purpose {
            Purpose::Plain => {}
            Purpose::Open(job) => self.handle(Event::OpenSettled {
                job,
                result: if ok { Ok(()) } else { Err(reason) },
                on_chain: true,
            }),
            Purpose::Close(job) => self.handle(Event::CloseEnded { job, ok }),
        }
    }
}

/// The channel a step acts on.
fn key(s: &Step) -> ChKey {
    ChKey {
        workload: s.workload.into(),
        job: s.job,
    }
}
