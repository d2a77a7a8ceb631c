//! The proposing side of a role actor: a channel state signed and sent to the other party's
//! actor for its countersignature, and what follows its answer (the state applied off chain, or
//! the close sent on chain; a busy peer retried, a refusal failing the step).

use alloy::primitives::{Bytes, U256};
use alloy::sol_types::SolCall;
use tokio::sync::oneshot;

use super::channels::Event;
use super::{BUSY_RETRIES, BUSY_RETRY_AFTER, Purpose, Running, SIGN_TIMEOUT, key};
use crate::chain::contracts::Adjudicator;
use crate::chain::tx::Call;
use crate::exec::msg::{ActorMsg, ChKey, Done, Proposal, SignRefusal};
use crate::exec::states::State;
use crate::model::rows::Status;
use crate::plan::{StepKind, WalletRef};

impl Running {
    /// Signs `proposal` with `me` and asks `other`'s role actor to countersign it.
    pub(super) fn propose(
        &mut self,
        idx: usize,
        me: WalletRef,
        other: WalletRef,
        proposal: Proposal,
    ) {
        let ctx = self.a.ctx.clone();
        let started_ms = ctx.now_ms();
        let own: Result<Vec<Bytes>, String> = proposal
            .iter()
            .map(|(_, st)| ctx.domain.sign(self.signer(me), st))
            .collect();
        let own = match own {
            Ok(o) => o,
            Err(e) => {
                let _ = self.me().send(ActorMsg::Countersigned {
                    idx,
                    started_ms,
                    proposal,
                    own: Vec::new(),
                    peer: Err(SignRefusal::Failed(e)),
                });
                return;
            }
        };
        let (tx, rx) = oneshot::channel();
        let request = ActorMsg::SignRequest {
            signer: other,
            proposer: me,
            proposal: proposal.clone(),
            sigs: own.clone(),
            reply: tx,
        };
        let _ = self.mailbox(other.role).send(request);
        let back = self.me();
        tokio::spawn(async move {
            let peer = match tokio::time::timeout(SIGN_TIMEOUT, rx).await {
                Ok(Ok(r)) => r,
                Ok(Err(_)) => Err(SignRefusal::Failed("the counterparty stopped".into())),
                Err(_) => Err(SignRefusal::Failed(format!(
                    "no countersignature within {} s",
                    SIGN_TIMEOUT.as_secs()
                ))),
            };
            let _ = back.send(ActorMsg::Countersigned {
                idx,
                started_ms,
                proposal,
                own,
                peer,
            });
        });
    }

    /// Our proposal came back: apply it and finish (off-chain) or send the close (on-chain).
    pub(super) fn countersigned(
        &mut self,
        idx: usize,
        started_ms: f64,
        proposal: Proposal,
        own: Vec<Bytes>,
        peer: Result<Vec<Bytes>, SignRefusal>,
    ) {
        let ctx = self.a.ctx.clone();
        let s = &ctx.plan.steps[idx];
        let touched: Vec<ChKey> = proposal.iter().map(|(j, _)| *j).collect();
        let peer = peer.and_then(|sigs| {
            let who = self
                .book
                .channels
                .get(&proposal[0].0)
                .map(|ch| ctx.address(ch.other(s.actor)));
            let ok = sigs.len() == proposal.len()
                && proposal
                    .iter()
                    .zip(&sigs)
                    .all(|((_, st), sig)| who.is_some_and(|w| ctx.domain.verify(st, sig, w)));
            if ok {
                Ok(sigs)
            } else {
                Err(SignRefusal::Failed(
                    "the countersignature does not verify".into(),
                ))
            }
        });
        let on_chain_close = matches!(s.kind, StepKind::CloseLedgerChannel)
            || (s.kind == StepKind::CloseChannel && s.ledger.is_none());
        match peer {
            Err(SignRefusal::Busy(_))
                if self.retries.get(&idx).copied().unwrap_or(0) < BUSY_RETRIES =>
            {
                *self.retries.entry(idx).or_default() += 1;
                let back = self.me();
                tokio::spawn(async move {
                    tokio::time::sleep(BUSY_RETRY_AFTER).await;
                    let _ = back.send(ActorMsg::Step { idx });
                });
            }
            Err(e) => {
                self.fail(idx, started_ms, format!("other: {e}"));
                if s.kind == StepKind::CreateChannel {
                    self.handle(Event::OpenSettled {
                        job: key(s),
                        result: Err(e.to_string()),
                        on_chain: false,
                    });
                }
            }
            Ok(peer_sigs) => {
                self.handle(Event::Signed(&proposal));
                if on_chain_close {
                    self.handle(Event::Closing(key(s)));
                    self.send_close(idx, proposal[0].1, &own[0], &peer_sigs[0]);
                } else {
                    let mut d = Done::new(idx, Status::Ok, "");
                    d.sent_ms = Some(started_ms);
                    d.latency_ms = Some(ctx.now_ms() - started_ms);
                    self.emit(d);
                    match s.kind {
                        StepKind::CreateChannel => self.handle(Event::OpenSettled {
                            job: key(s),
                            result: Ok(()),
                            on_chain: false,
                        }),
                        StepKind::CloseChannel => self.handle(Event::ClosedOffChain(key(s))),
                        _ => {}
                    }
                }
            }
        }
        for job in touched {
            self.release(job);
        }
    }

    /// Sends the on-chain close of step `idx`'s channel at state `st`, signed by both parties.
    fn send_close(&mut self, idx: usize, st: State, own: &Bytes, peer: &Bytes) {
        let ctx = self.a.ctx.clone();
        let s = &ctx.plan.steps[idx];
        let i_am_a = self.book.channels[&key(s)].a == s.actor;
        let (sig_a, sig_b) = if i_am_a { (own, peer) } else { (peer, own) };
        let input = Adjudicator::closeCall {
            id: st.channel,
            nonce: st.nonce,
            balA: U256::from(st.bal_a),
            balB: U256::from(st.bal_b),
            sigA: sig_a.clone(),
            sigB: sig_b.clone(),
        }
        .abi_encode();
        let call = Call {
            access_list: None,
            blob: None,
            to: Some(ctx.contracts.adjudicator),
            value: U256::ZERO,
            input: input.into(),
            gas_limit: ctx.gas.close,
        };
        self.send(idx, s.actor, call, Purpose::Close(key(s)));
    }
}
