//! A wallet lane: one task per sending wallet that owns the wallet's nonce, signs each
//! transaction locally with the current cached fees, and sends it raw, exactly once, through
//! the batcher (`batch::Batcher`). **In nonce order on every node**: a wallet has at most one
//! request unanswered; the steps that fall due meanwhile wait in the lane (their lateness says
//! so) and leave together, signed in nonce order, in the next request once it is answered. So
//! the node never receives a wallet's nonce N+1 before N — not across connections, not through
//! the full client's retries (the whole group is sent again, in order) — which nodes that keep
//! early nonces queued for good, and sequencers that refuse nonce gaps, need.
//! A send the node provably refused does not consume the nonce: it becomes a hole the wallet's
//! next send fills (lowest first, even when the wallet's in-flight slots are all taken: the
//! transactions holding them wait behind it; a nonce error resyncs from the node). A wallet
//! whose steps are over with a hole still open tells the watcher, which fails the transactions
//! above it at once with the refusal's cause: they can never be included. An outcome that stays
//! unknown consumes the nonce and goes to the receipt watcher like a sent one, which re-sends
//! the same bytes if the node never got them.

use std::sync::Arc;

use alloy::providers::Provider;
use alloy::signers::local::PrivateKeySigner;
use std::collections::VecDeque;

use alloy::primitives::{B256, Bytes};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, watch};

use super::batch::{MAX_BATCH, Pending};
use super::msg::{ActorMsg, Ctx, Outgoing, TxReport, TxResult};
use super::watched::{Resign, ToWatcher, Watched};
use crate::chain::tx::{ErrorClass, Fees, SendError, sign};

/// Transactions a lane holds before new ones are refused (bounded memory per wallet).
pub const LANE_CAPACITY: usize = 256;
/// Transactions of one wallet sent but not yet included (or timed out); more wait in the lane.
pub const IN_FLIGHT: usize = 64;
/// Steps of one wallet waiting for its request in flight to be answered, at most (more wait
/// in the lane's channel); they leave together in the next request.
pub const PIPELINE: usize = MAX_BATCH;

/// Spawns the lane of `signer`, starting at `nonce`.
pub fn spawn(
    ctx: Arc<Ctx>,
    signer: PrivateKeySigner,
    nonce: u64,
    fees: watch::Receiver<Fees>,
    watcher: mpsc::UnboundedSender<ToWatcher>,
    stop: watch::Receiver<bool>,
) -> mpsc::Sender<Outgoing> {
    let (tx, rx) = mpsc::channel(LANE_CAPACITY);
    let lane = Lane {
        signer: Arc::new(signer),
        nonces: Nonces::new(nonce),
        in_flight: Arc::new(Semaphore::new(IN_FLIGHT)),
        ready: VecDeque::new(),
        group: None,
        refused: Default::default(),
        ctx,
        fees,
        watcher,
    };
    tokio::spawn(lane.run(stop, rx));
    tx
}

/// For each role, the wallets (by index in the role) whose `steps` are all single transactions
/// (transfers, token transfers, calls), and how many: such a wallet's lane can end after its
/// last. A wallet in any channel step keeps its lane to the end of the run (a channel may send
/// again later: an open parked until its peer answers, a close, a retry).
pub fn single_tx_steps(
    plan: &crate::plan::Plan,
    steps: impl Iterator<Item = usize>,
) -> Vec<std::collections::HashMap<u32, u32>> {
    use crate::plan::StepKind::{Blob, Call, TokenTransfer, Transfer};
    let mut counts: Vec<std::collections::HashMap<u32, u32>> =
        vec![Default::default(); plan.roles.len()];
    for i in steps {
        let s = &plan.steps[i];
        if matches!(s.kind, Transfer | TokenTransfer | Call | Blob) {
            let n = counts[usize::from(s.actor.role)]
                .entry(s.actor.index)
                .or_default();
            *n = n.saturating_add(1);
        } else if s.kind == crate::plan::StepKind::Read {
            // A read sends no transaction: it neither counts nor keeps a lane.
        } else {
            for w in std::iter::once(s.actor).chain(s.peer) {
                counts[usize::from(w.role)].insert(w.index, u32::MAX);
            }
        }
    }
    for c in &mut counts {
        c.retain(|_, n| *n != u32::MAX);
    }
    counts
}

/// A signed transaction whose send has not been answered yet.
struct InFlight {
    o: Outgoing,
    hash: B256,
    raw: Bytes,
    fees: Fees,
    nonce: u64,
    plain: bool,
    /// `None`: it fills a hole, sent without a slot (those holding them wait behind it).
    permit: Option<OwnedSemaphorePermit>,
}

/// The wallet's one request in flight: its transactions, in nonce order.
struct Group {
    txs: Vec<InFlight>,
    send: Pending,
}

struct Lane {
    ctx: Arc<Ctx>,
    signer: Arc<PrivateKeySigner>,
    nonces: Nonces,
    in_flight: Arc<Semaphore>,
    /// Steps due, not signed yet: they wait for the request in flight (or an in-flight slot).
    ready: VecDeque<Outgoing>,
    group: Option<Group>,
    /// Why each hole's nonce was refused, for holes that stay free (`Nonces::holes`).
    refused: std::collections::BTreeMap<u64, (ErrorClass, String)>,
    fees: watch::Receiver<Fees>,
    watcher: mpsc::UnboundedSender<ToWatcher>,
}

impl Lane {
    async fn run(mut self, mut stop: watch::Receiver<bool>, mut rx: mpsc::Receiver<Outgoing>) {
        let mut open = true;
        let mut stopping = *stop.borrow();
        let mut stop_gone = false;
        while open || !self.ready.is_empty() || self.group.is_some() {
            tokio::select! {
                biased;
                sent = async { self.group.as_mut().expect("guarded").send.answer().await }, if self.group.is_some() => {
                    let g = self.group.take().expect("guarded");
                    self.answered(g, sent).await;
                    self.flush(stopping, None);
                }
                // A slot freed while steps waited for one (only then is this polled).
                p = self.in_flight.clone().acquire_owned(), if self.group.is_none() && !self.ready.is_empty() && !stopping => {
                    self.flush(stopping, p.ok());
                }
                changed = stop.changed(), if !stopping && !stop_gone => {
                    // A run that dropped its stop signal never stops this lane early.
                    stop_gone = changed.is_err();
                    stopping = *stop.borrow();
                    self.flush(stopping, None);
                }
                // While stopping, queued steps are taken at once to be reported as not sent.
                o = rx.recv(), if open && (self.ready.len() < PIPELINE || stopping) => {
                    match o {
                        Some(o) => {
                            self.ready.push_back(o);
                            self.flush(stopping, None);
                        }
                        None => open = false,
                    }
                }
            }
        }
        self.left_behind();
    }

    /// The wallet's steps are over: a hole a refused send left will never be filled, so the
    /// transactions already sent above it can never be included. The watcher fails them now,
    /// with the refusal's cause, instead of letting them wait out the receipt timeout.
    fn left_behind(&mut self) {
        let Some(&hole) = self.nonces.holes.first() else {
            return;
        };
        let Some((class, why)) = self.refused.remove(&hole) else {
            return;
        };
        let _ = self.watcher.send(ToWatcher::Behind {
            from: self.signer.address(),
            nonce: hole,
            class,
            why,
        });
    }

    /// Sends what waits as the wallet's next request, unless one is in flight. While the run
    /// stops, what waits is reported as not sent. `permit`: a slot already taken.
    fn flush(&mut self, stopping: bool, mut permit: Option<OwnedSemaphorePermit>) {
        if stopping {
            for o in self.ready.drain(..) {
                not_sent(&self.ctx, o);
            }
            return;
        }
        if self.group.is_some() {
            return;
        }
        let current = *self.fees.borrow();
        let mut txs: Vec<InFlight> = Vec::new();
        while txs.len() < MAX_BATCH && !self.ready.is_empty() {
            let filler = !self.nonces.holes.is_empty();
            let slot = permit
                .take()
                .or_else(|| self.in_flight.clone().try_acquire_owned().ok());
            if slot.is_none() && !filler {
                break;
            }
            let o = self.ready.pop_front().expect("checked");
            let nonce = self.nonces.take();
            self.refused.remove(&nonce);
            match sign(
                &self.signer,
                self.ctx.domain.chain_id,
                nonce,
                current,
                &o.call,
            ) {
                Ok((hash, raw)) => {
                    let plain = self.ctx.gas.transfer == 21_000
                        && o.call.gas_limit == 21_000
                        && o.call.input.is_empty()
                        && self.ctx.plan.steps[o.idx].kind == crate::plan::StepKind::Transfer;
                    txs.push(InFlight {
                        o,
                        hash,
                        raw,
                        fees: current,
                        nonce,
                        plain,
                        permit: slot,
                    });
                }
                Err(e) => {
                    self.nonces.unused(nonce);
                    let _ = o.reply.send(ActorMsg::Tx(TxReport {
                        idx: o.idx,
                        sent_ms: self.ctx.now_ms(),
                        result: TxResult::SendFailed {
                            class: ErrorClass::Other,
                            message: e.to_string(),
                        },
                    }));
                }
            }
        }
        if txs.is_empty() {
            return;
        }
        let send = self
            .ctx
            .sender
            .submit(txs.iter().map(|t| (t.hash, t.raw.clone())).collect());
        self.group = Some(Group { txs, send });
    }

    /// Hands each sent transaction of a group to the watcher, reports the refused ones, and
    /// frees or resyncs the nonces they did not use.
    async fn answered(&mut self, g: Group, sent: super::batch::Sent) {
        let mut outcomes = sent.outcomes.into_iter();
        let last = g.txs.len().saturating_sub(1);
        for (i, f) in g.txs.into_iter().enumerate() {
            let outcome = outcomes
                .next()
                .unwrap_or_else(|| Err(SendError::Unknown("no answer for it in its batch".into())));
            match answered(
                &self.ctx,
                &self.signer,
                &self.watcher,
                f,
                sent.sent_ms,
                outcome,
            )
            .await
            {
                Some(Next::Unused(n, refusal)) => {
                    self.nonces.unused(n);
                    if let Some(r) = refusal.filter(|_| self.nonces.holes.contains(&n)) {
                        self.refused.insert(n, r);
                    }
                }
                // Later ones of the group may be in the node's pool: move back only after them.
                Some(Next::Node(n)) => self.nonces.resync(n, i == last),
                None => {}
            }
        }
    }
}

fn not_sent(ctx: &Ctx, o: Outgoing) {
    let _ = o.reply.send(ActorMsg::Tx(TxReport {
        idx: o.idx,
        sent_ms: ctx.now_ms(),
        result: TxResult::NotSent,
    }));
}

/// A wallet's nonces: the next never used, and the holes refused sends left below it (used
/// first, lowest first, so later transactions already in the node's pool become valid).
struct Nonces {
    next: u64,
    /// Refused nonces below `next`, to fill first.
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
    /// The refused nonce, not used, and why when nothing else can hold it (a replacement
    /// refused as underpriced means the node's pool holds another transaction at that nonce).
    Unused(u64, Option<(ErrorClass, String)>),
    /// The node's, after a nonce error.
    Node(u64),
}

/// Hands a sent transaction to the watcher, or reports a refused one and what nonce comes next.
async fn answered(
    ctx: &Ctx,
    signer: &Arc<PrivateKeySigner>,
    watcher: &mpsc::UnboundedSender<ToWatcher>,
    f: InFlight,
    sent_ms: f64,
    outcome: Result<(), SendError>,
) -> Option<Next> {
    if let Err(SendError::Unknown(message)) = &outcome {
        tracing::warn!(tx = %f.hash, "send outcome unknown ({message}); watching for it");
    }
    match outcome {
        Ok(()) | Err(SendError::Unknown(_)) => {
            let _ = watcher.send(ToWatcher::Sent(Watched {
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
                amend: false,
                idx: f.o.idx,
                sent_ms,
                reply: f.o.reply,
                plain: f.plain,
            }));
            None
        }
        Err(SendError::Refused(message)) => {
            let class = ErrorClass::of_message(&message);
            let free =
                class != ErrorClass::Nonce && !message.to_ascii_lowercase().contains("replacement");
            let mut next = Next::Unused(f.nonce, free.then(|| (class, message.clone())));
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

#[cfg(test)]
mod tests {
    use super::{Nonces, single_tx_steps};
    use crate::plan::StepKind;

    #[test]
    fn a_wallets_lane_ends_after_its_last_step_only_when_no_channel_step_is_its() {
        let text = "version = 1\n[scenario]\nname = \"t\"\nseed = 1\nduration = \"5s\"\n\
            [roles.A]\nwallets = 3\n[roles.B]\nwallets = 2\n[roles.C]\nwallets = 2\n\
            [funding]\neth = \"1 ether\"\n\
            [[workload]]\ntype = \"transfer\"\nfrom = \"A\"\nto = \"B\"\nrate = 10.0\namount = \"1 wei\"\n\
            [[workload]]\ntype = \"transfer\"\nfrom = \"B\"\nto = \"A\"\nrate = 10.0\namount = \"1 wei\"\n\
            [[workload]]\ntype = \"channel\"\nfunding = \"direct\"\nbetween = [\"B\", \"C\"]\n\
            create_rate = 1.0\nupdate_rate = 5.0\ndeposit = \"1 wei\"\n";
        let s = crate::scenario::parse("t.toml", text, 1_000_000).unwrap();
        let plan = crate::plan::expand(&s, 1).unwrap();
        let counts = single_tx_steps(&plan, 0..plan.steps.len());
        // A only sends transfers: every wallet that does ends its lane after its last one.
        let of = |role: u16, index: u32| {
            plan.steps
                .iter()
                .filter(|s| s.actor.role == role && s.actor.index == index)
                .count() as u32
        };
        assert_eq!(counts[0].len(), 3);
        for (&w, &n) in &counts[0] {
            assert_eq!(n, of(0, w));
        }
        // B and C wallets in a channel keep their lanes to the end of the run.
        let in_channel = |role: u16, index: u32| {
            plan.steps.iter().any(|s| {
                !matches!(s.kind, StepKind::Transfer)
                    && std::iter::once(s.actor)
                        .chain(s.peer)
                        .any(|w| w.role == role && w.index == index)
            })
        };
        for role in [1u16, 2] {
            for (&w, &n) in &counts[usize::from(role)] {
                assert!(!in_channel(role, w), "{role}:{w}");
                assert_eq!(n, of(role, w));
            }
        }
        assert!((0..2).any(|w| in_channel(1, w)));
        // A shard counts its own steps only.
        let half: Vec<usize> = (0..plan.steps.len()).step_by(2).collect();
        let shard = single_tx_steps(&plan, half.iter().copied());
        let total = |c: &std::collections::HashMap<u32, u32>| c.values().sum::<u32>();
        assert!(total(&shard[0]) < total(&counts[0]));
        assert!(total(&shard[0]) > 0);
    }

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
