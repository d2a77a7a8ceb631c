//! The channel book of a role actor: what this party knows of each channel it is in (status,
//! nonce, balances, whether its proposal is in flight) and which steps wait for it. A pure state
//! machine — `handle(event) -> effects` plus the `gate` query — with no keys, no clock and no
//! I/O: the actor signs, sends and moves messages; the book decides which step runs now, waits or
//! is skipped, and whom to tell.

use std::collections::{HashMap, VecDeque};

use alloy::primitives::B256;

use crate::exec::msg::{ChKey, PeerEvent, Proposal, SignRefusal};
use crate::exec::states::State;
use crate::plan::WalletRef;
use crate::scenario::RoleId;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum St {
    Opening,
    Open,
    Closing,
    Closed,
    Failed(String),
}

/// This party's record of a channel (or ledger channel) it is in.
#[derive(Debug)]
pub(super) struct Ch {
    pub id: B256,
    pub a: WalletRef,
    pub b: WalletRef,
    pub holding: u128,
    pub nonce: u64,
    pub bal_a: u128,
    pub bal_b: u128,
    pub status: St,
    /// Steps waiting for the channel to open.
    waiting: Vec<usize>,
    /// A proposal of ours on this channel awaits its countersignature.
    pub busy: bool,
    /// Steps waiting for that proposal to finish.
    queue: VecDeque<usize>,
}

impl Ch {
    pub fn new(id: B256, a: WalletRef, b: WalletRef, holding: u128, status: St) -> Self {
        Self {
            id,
            a,
            b,
            holding,
            nonce: 0,
            bal_a: holding,
            bal_b: 0,
            status,
            waiting: Vec::new(),
            busy: false,
            queue: VecDeque::new(),
        }
    }

    /// The channel's state at `nonce` with these balances.
    pub fn state(&self, nonce: u64, bal_a: u128, bal_b: u128) -> State {
        State {
            channel: self.id,
            nonce,
            bal_a,
            bal_b,
        }
    }

    /// The party that is not `me`.
    pub fn other(&self, me: WalletRef) -> WalletRef {
        if self.a == me { self.b } else { self.a }
    }
}

/// What the book says of a step that needs a channel.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Gate {
    /// The channel is open and idle: take the step now.
    Ready,
    /// The step waits (for the open, for the proposal in flight, or for news of the channel).
    Parked,
    /// The step can never run: skip it with this reason.
    Skip(String),
}

/// What happens to the channels, as the actor learns it.
#[derive(Debug)]
pub(super) enum Event<'a> {
    /// Our open of `job` ended: on chain (its receipt) or off chain (a ledger allocation
    /// countersigned or refused; the counterparty then already knows).
    OpenSettled {
        job: ChKey,
        result: Result<(), String>,
        on_chain: bool,
    },
    /// Channel `job` between `a` and `b` will never open (its create was skipped or refused).
    NeverOpens {
        job: ChKey,
        a: WalletRef,
        b: WalletRef,
        reason: String,
    },
    /// The other party's news.
    Peer(PeerEvent),
    /// Our on-chain close of `job` is being sent: no step may use the channel any more.
    Closing(ChKey),
    /// Our on-chain close of `job` was included (`ok`), or reverted or never sent (still open).
    CloseEnded { job: ChKey, ok: bool },
    /// Our off-chain close of a ledger-funded channel was countersigned.
    ClosedOffChain(ChKey),
    /// A proposal of ours came back countersigned: its states hold.
    Signed(&'a Proposal),
    /// We countersigned `proposer`'s proposal with `signer`: learn its channels.
    Countersigned {
        proposal: &'a Proposal,
        proposer: WalletRef,
        signer: WalletRef,
    },
    /// The run ends: whatever still waits is skipped.
    End,
}

/// What the actor does about an event.
#[derive(Debug, PartialEq)]
pub(super) enum Effect {
    /// Take this step (again): it may run now.
    Take(usize),
    /// Record this step as skipped with the reason.
    Skip(usize, String),
    /// Tell the actor of this role.
    Notify(RoleId, PeerEvent),
}

/// The channels one role's actor is in, and the steps waiting on them.
pub(super) struct Book {
    /// The role this book belongs to.
    role: RoleId,
    pub channels: HashMap<ChKey, Ch>,
    /// Steps on channels this party has not heard of yet (the other party opens them).
    unknown: HashMap<ChKey, Vec<usize>>,
}

impl Book {
    pub fn new(role: RoleId) -> Self {
        Self {
            role,
            channels: HashMap::new(),
            unknown: HashMap::new(),
        }
    }

    /// Whether step `idx` can act on `job` now; otherwise the book parks it or says why it never
    /// will.
    pub fn gate(&mut self, job: ChKey, idx: usize) -> Gate {
        let Some(ch) = self.channels.get_mut(&job) else {
            self.unknown.entry(job).or_default().push(idx);
            return Gate::Parked;
        };
        match &ch.status {
            St::Opening => ch.waiting.push(idx),
            St::Open if ch.busy => ch.queue.push_back(idx),
            St::Open => return Gate::Ready,
            St::Failed(r) => return Gate::Skip(format!("channel {job} failed: {r}")),
            St::Closing | St::Closed => return Gate::Skip(format!("channel {job} is closed")),
        }
        Gate::Parked
    }

    /// Why a ledger can no longer fund a channel, if it cannot.
    pub fn ledger_gone(&self, lg: ChKey) -> Option<String> {
        self.channels.get(&lg).and_then(|l| match &l.status {
            St::Failed(r) => Some(format!("ledger {lg} failed: {r}")),
            St::Closing | St::Closed => Some(format!("ledger {lg} is closed")),
            _ => None,
        })
    }

    /// Records `ch` as `job`, opening: steps that already wait for it (news-less ones, or those
    /// of an earlier try of the same allocation) keep waiting on it.
    pub fn opening(&mut self, job: ChKey, mut ch: Ch) {
        ch.waiting
            .extend(self.unknown.remove(&job).unwrap_or_default());
        if let Some(earlier) = self.channels.remove(&job) {
            ch.waiting
                .extend(earlier.waiting.into_iter().chain(earlier.queue));
        }
        self.channels.insert(job, ch);
    }

    /// Marks `job` busy: a proposal of ours on it is in flight.
    pub fn hold(&mut self, job: ChKey) {
        if let Some(ch) = self.channels.get_mut(&job) {
            ch.busy = true;
        }
    }

    /// The proposal in flight on `job` finished.
    pub fn release(&mut self, job: ChKey) {
        if let Some(ch) = self.channels.get_mut(&job) {
            ch.busy = false;
        }
    }

    /// The next step queued behind a finished proposal, while `job` is idle: the actor takes
    /// them one by one, since a taken step may make the channel busy again.
    pub fn next_queued(&mut self, job: ChKey) -> Option<usize> {
        match self.channels.get_mut(&job) {
            Some(ch) if !ch.busy => ch.queue.pop_front(),
            _ => None,
        }
    }

    /// The checks a countersigner makes of a proposal beyond its signatures: no proposal of the
    /// opener's in flight on the channel (the opener's wins; the other party retries after it),
    /// the right channel, open, a newer nonce, and balances within the holding.
    pub fn check(
        &self,
        signer: WalletRef,
        proposer: WalletRef,
        proposal: &Proposal,
    ) -> Result<(), SignRefusal> {
        for (job, st) in proposal {
            let ch = self.channels.get(job);
            if proposer.role != self.role && ch.is_some_and(|ch| ch.busy && ch.a == signer) {
                return Err(SignRefusal::Busy(*job));
            }
            let refuse = |why: String| Err(SignRefusal::Failed(format!("{job}: {why}")));
            match ch {
                None if st.nonce == 0 => {}
                None => return refuse("unknown channel".into()),
                Some(ch) if ch.id != st.channel => return refuse("wrong channel id".into()),
                Some(ch) if !matches!(ch.status, St::Open | St::Opening) => {
                    return refuse("channel is not open".into());
                }
                Some(ch) if st.nonce <= ch.nonce && st.nonce != 0 => {
                    return refuse(format!(
                        "stale state (nonce {} after {})",
                        st.nonce, ch.nonce
                    ));
                }
                Some(ch) if st.bal_a + st.bal_b > ch.holding => {
                    return refuse("balances exceed the holding".into());
                }
                Some(_) => {}
            }
        }
        Ok(())
    }

    /// Decides what follows `event`.
    pub fn handle(&mut self, event: Event<'_>) -> Vec<Effect> {
        match event {
            Event::OpenSettled {
                job,
                result,
                on_chain,
            } => self.settle_open(job, result, on_chain),
            Event::NeverOpens { job, a, b, reason } => {
                self.opening(job, Ch::new(B256::ZERO, a, b, 0, St::Opening));
                self.settle_open(job, Err(reason), true)
            }
            Event::Peer(ev) => self.peer(ev),
            Event::CloseEnded { job, ok } => {
                let Some(ch) = self.channels.get_mut(&job) else {
                    return Vec::new();
                };
                ch.status = if ok { St::Closed } else { St::Open };
                let other = if ch.a.role == self.role { ch.b } else { ch.a };
                match ok {
                    true => vec![Effect::Notify(other.role, PeerEvent::Closed { job })],
                    false => Vec::new(),
                }
            }
            Event::Closing(job) => {
                if let Some(ch) = self.channels.get_mut(&job) {
                    ch.status = St::Closing;
                }
                Vec::new()
            }
            Event::ClosedOffChain(job) => {
                if let Some(ch) = self.channels.get_mut(&job) {
                    ch.status = St::Closed;
                }
                Vec::new()
            }
            Event::Signed(proposal) => {
                self.apply(proposal, None);
                Vec::new()
            }
            Event::Countersigned {
                proposal,
                proposer,
                signer,
            } => {
                self.apply(proposal, Some((proposer, signer)));
                // A channel learnt from this proposal may have steps waiting for it.
                proposal
                    .iter()
                    .flat_map(|(job, _)| self.unknown.remove(job).unwrap_or_default())
                    .map(Effect::Take)
                    .collect()
            }
            Event::End => self.end(),
        }
    }

    /// Applies signed states; a countersigner learns channels it did not know (`parties`).
    fn apply(&mut self, proposal: &Proposal, parties: Option<(WalletRef, WalletRef)>) {
        for (job, st) in proposal {
            let ch = match parties {
                Some((a, b)) => self
                    .channels
                    .entry(*job)
                    .or_insert_with(|| Ch::new(st.channel, a, b, st.bal_a + st.bal_b, St::Open)),
                None => match self.channels.get_mut(job) {
                    Some(ch) => ch,
                    None => continue,
                },
            };
            ch.nonce = ch.nonce.max(st.nonce);
            (ch.bal_a, ch.bal_b) = (st.bal_a, st.bal_b);
        }
    }

    /// A channel's open succeeded or failed: tell the other party (a failure always; a success
    /// when it happened on chain, as the counterparty learnt an off-chain one when it signed),
    /// then run or skip what waits.
    fn settle_open(
        &mut self,
        job: ChKey,
        result: Result<(), String>,
        on_chain: bool,
    ) -> Vec<Effect> {
        let Some(ch) = self.channels.get_mut(&job) else {
            return Vec::new();
        };
        ch.status = match &result {
            Ok(()) => St::Open,
            Err(e) => St::Failed(e.clone()),
        };
        let mut out = Vec::new();
        let (a, b, id, holding) = (ch.a, ch.b, ch.id, ch.holding);
        let news = match result {
            Ok(()) if on_chain => Some(PeerEvent::Opened {
                job,
                id,
                a,
                b,
                holding,
            }),
            Ok(()) => None,
            Err(reason) => Some(PeerEvent::Failed { job, reason }),
        };
        if let Some(news) = news {
            out.push(Effect::Notify(b.role, news));
        }
        out.extend(
            std::mem::take(&mut ch.waiting)
                .into_iter()
                .map(Effect::Take),
        );
        out
    }

    /// The other party's news: a channel it opened, one that will never open, or its close.
    fn peer(&mut self, ev: PeerEvent) -> Vec<Effect> {
        let (job, ch) = match ev {
            PeerEvent::Opened {
                job,
                id,
                a,
                b,
                holding,
            } => {
                let ch = self
                    .channels
                    .entry(job)
                    .or_insert_with(|| Ch::new(id, a, b, holding, St::Open));
                ch.status = St::Open;
                (job, ch)
            }
            PeerEvent::Failed { job, reason } => {
                let nobody = WalletRef { role: 0, index: 0 };
                let ch = self
                    .channels
                    .entry(job)
                    .or_insert_with(|| Ch::new(B256::ZERO, nobody, nobody, 0, St::Opening));
                ch.status = St::Failed(reason);
                (job, ch)
            }
            PeerEvent::Closed { job } => {
                if let Some(ch) = self.channels.get_mut(&job) {
                    ch.status = St::Closed;
                }
                return Vec::new();
            }
        };
        let mut waiting = std::mem::take(&mut ch.waiting);
        waiting.extend(self.unknown.remove(&job).unwrap_or_default());
        waiting.into_iter().map(Effect::Take).collect()
    }

    /// The end of the run: every step still waiting is skipped, in step order.
    fn end(&mut self) -> Vec<Effect> {
        let mut left: Vec<(usize, String)> = Vec::new();
        for (job, ch) in &mut self.channels {
            for i in ch.waiting.drain(..).chain(ch.queue.drain(..)) {
                left.push((i, format!("channel {job} was still not ready at the end")));
            }
        }
        for (job, steps) in self.unknown.drain() {
            for i in steps {
                left.push((i, format!("channel {job} never opened")));
            }
        }
        left.sort();
        left.into_iter().map(|(i, r)| Effect::Skip(i, r)).collect()
    }
}

#[cfg(test)]
#[path = "channels_tests.rs"]
mod tests;
