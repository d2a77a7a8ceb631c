//! The counterparty side of a role actor: checking and countersigning the other party's
//! proposals, learning about channels from the other party's news, and the end-of-run flush.

use alloy::primitives::{B256, Bytes};

use super::{Ch, Running, St};
use crate::exec::msg::{PeerEvent, Proposal, SignRefusal};
use crate::plan::WalletRef;

impl Running {
    /// The counterparty side: checks and countersigns a proposal with wallet `signer`.
    pub(super) fn countersign(
        &mut self,
        signer: WalletRef,
        proposer: WalletRef,
        proposal: &Proposal,
        sigs: &[Bytes],
    ) -> Result<Vec<Bytes>, SignRefusal> {
        let ctx = self.a.ctx.clone();
        let d = &ctx.domain;
        if sigs.len() != proposal.len() {
            return Err(SignRefusal::Failed(
                "one signature per state expected".into(),
            ));
        }
        for ((job, st), sig) in proposal.iter().zip(sigs) {
            if !d.verify(st, sig, ctx.address(proposer)) {
                return Err(SignRefusal::Failed(format!(
                    "{job}: the proposer's signature does not verify"
                )));
            }
            // Both parties proposing on one channel at once would leave two different states
            // at one nonce: the opener's proposal wins, the other party retries after it.
            if proposer.role != self.a.role
                && self
                    .channels
                    .get(job)
                    .is_some_and(|ch| ch.busy && ch.a == signer)
            {
                return Err(SignRefusal::Busy(*job));
            }
            match self.channels.get(job) {
                None if st.nonce == 0 => {}
                None => return Err(SignRefusal::Failed(format!("{job}: unknown channel"))),
                Some(ch) => {
                    if ch.id != st.channel {
                        return Err(SignRefusal::Failed(format!("{job}: wrong channel id")));
                    }
                    if !matches!(ch.status, St::Open | St::Opening) {
                        return Err(SignRefusal::Failed(format!("{job}: channel is not open")));
                    }
                    if st.nonce <= ch.nonce && st.nonce != 0 {
                        return Err(SignRefusal::Failed(format!(
                            "{job}: stale state (nonce {} after {})",
                            st.nonce, ch.nonce
                        )));
                    }
                    if st.bal_a + st.bal_b > ch.holding {
                        return Err(SignRefusal::Failed(format!(
                            "{job}: balances exceed the holding"
                        )));
                    }
                }
            }
        }
        let mut out = Vec::with_capacity(proposal.len());
        for (_, st) in proposal {
            out.push(
                d.sign(self.signer(signer), st)
                    .map_err(SignRefusal::Failed)?,
            );
        }
        for (job, st) in proposal {
            let ch = self.channels.entry(*job).or_insert_with(|| {
                Ch::new(st.channel, proposer, signer, st.bal_a + st.bal_b, St::Open)
            });
            ch.nonce = ch.nonce.max(st.nonce);
            (ch.bal_a, ch.bal_b) = (st.bal_a, st.bal_b);
        }
        // A channel learnt from this proposal may have steps waiting for it.
        for (job, _) in proposal {
            if let Some(waiting) = self.unknown.remove(job) {
                for i in waiting {
                    self.step(i);
                }
            }
        }
        Ok(out)
    }

    pub(super) fn peer_event(&mut self, ev: PeerEvent) {
        match ev {
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
                let mut waiting = std::mem::take(&mut ch.waiting);
                waiting.extend(self.unknown.remove(&job).unwrap_or_default());
                for i in waiting {
                    self.step(i);
                }
            }
            PeerEvent::Failed { job, reason } => {
                let ch = self.channels.entry(job).or_insert_with(|| {
                    Ch::new(
                        B256::ZERO,
                        WalletRef { role: 0, index: 0 },
                        WalletRef { role: 0, index: 0 },
                        0,
                        St::Failed(reason.clone()),
                    )
                });
                ch.status = St::Failed(reason);
                let mut waiting = std::mem::take(&mut ch.waiting);
                waiting.extend(self.unknown.remove(&job).unwrap_or_default());
                for i in waiting {
                    self.step(i);
                }
            }
            PeerEvent::Closed { job } => {
                if let Some(ch) = self.channels.get_mut(&job) {
                    ch.status = St::Closed;
                }
            }
        }
    }

    pub(super) fn shutdown(&mut self) {
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
        for (i, r) in left {
            self.skip(i, r);
        }
    }
}
