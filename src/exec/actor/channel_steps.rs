//! The channel steps of a role actor: on-chain opens, ledger allocations, updates and closes,
//! each turned into a proposal for the counterparty or a transaction for a wallet lane.

use alloy::primitives::U256;
use alloy::sol_types::SolCall;

use super::channels::{Ch, Event, St};
use super::{Purpose, Running, key};
use crate::chain::contracts::Adjudicator;

use crate::chain::tx::Call;
use crate::exec::msg::ChKey;
use crate::exec::states;
use crate::plan::StepKind;

impl Running {
    /// On-chain open of a direct channel or a ledger channel, funded by the opener.
    pub(super) fn open(&mut self, idx: usize, ledger: bool) {
        let ctx = self.a.ctx.clone();
        let s = &ctx.plan.steps[idx];
        let peer = s.peer.unwrap_or(s.actor);
        let salt = states::salt(&ctx.run_id, &key(s).to_string());
        let id = ctx
            .domain
            .channel_id(ctx.address(s.actor), ctx.address(peer), salt);
        let ch = Ch::new(id, s.actor, peer, s.amount.get(), St::Opening);
        self.book.opening(key(s), ch);
        let input = Adjudicator::openCall {
            peer: ctx.address(peer),
            salt,
            ledger,
        }
        .abi_encode();
        let call = Call {
            access_list: None,
            blob: None,
            to: Some(ctx.contracts.adjudicator),
            value: U256::from(s.amount.get()),
            input: input.into(),
            gas_limit: ctx.gas.open,
        };
        self.send(idx, s.actor, call, Purpose::Open(key(s)));
    }

    /// Off-chain: a ledger allocates `deposit` from its opener's share to a new app channel.
    pub(super) fn fund_from_ledger(&mut self, idx: usize) {
        let ctx = self.a.ctx.clone();
        let s = &ctx.plan.steps[idx];
        let lg = ChKey {
            workload: s.workload.into(),
            job: s.ledger.expect("ledger-funded"),
        };
        let peer = s.peer.unwrap_or(s.actor);
        let never = |reason| Event::NeverOpens {
            job: key(s),
            a: s.actor,
            b: peer,
            reason,
        };
        if let Some(reason) = self.book.ledger_gone(lg) {
            self.skip(idx, reason.clone());
            self.handle(never(reason));
            return;
        }
        if !self.ready(lg, idx) {
            return;
        }
        let ledger = &self.book.channels[&lg];
        if ledger.bal_a < s.amount.get() {
            let e = format!(
                "ledger {lg} has {} wei unallocated, {} needed",
                ledger.bal_a,
                s.amount.get()
            );
            self.fail(idx, ctx.now_ms(), format!("other: {e}"));
            self.handle(never(e));
            return;
        }
        let next = ledger.state(
            ledger.nonce + 1,
            ledger.bal_a - s.amount.get(),
            ledger.bal_b,
        );
        let ledger_opener = ledger.a;
        let salt = states::salt(&ctx.run_id, &key(s).to_string());
        let id = ctx
            .domain
            .channel_id(ctx.address(s.actor), ctx.address(peer), salt);
        let mut app = Ch::new(id, s.actor, peer, s.amount.get(), St::Opening);
        // The ledger opener funded the allocation; the app channel's balance is theirs.
        if ledger_opener != s.actor {
            (app.bal_a, app.bal_b) = (0, s.amount.get());
        }
        let app_state = app.state(0, app.bal_a, app.bal_b);
        // A retried allocation keeps the steps already waiting for this channel.
        self.book.opening(key(s), app);
        self.book.hold(lg);
        self.propose(idx, s.actor, peer, vec![(lg, next), (key(s), app_state)]);
    }

    /// Off-chain update: the same balances at the next nonce, signed by both parties.
    pub(super) fn update(&mut self, idx: usize) {
        let ctx = self.a.ctx.clone();
        let s = &ctx.plan.steps[idx];
        if !self.ready(key(s), idx) {
            return;
        }
        self.book.hold(key(s));
        let ch = &self.book.channels[&key(s)];
        let st = ch.state(ch.nonce + 1, ch.bal_a, ch.bal_b);
        let other = ch.other(s.actor);
        self.propose(idx, s.actor, other, vec![(key(s), st)]);
    }

    /// Close: direct channels and ledgers pay out on chain (the opener gets the holding back);
    /// a ledger-funded channel returns its allocation to its ledger off chain.
    pub(super) fn close(&mut self, idx: usize) {
        let ctx = self.a.ctx.clone();
        let s = &ctx.plan.steps[idx];
        let ledger_funded = s.kind == StepKind::CloseChannel && s.ledger.is_some();
        if !self.ready(key(s), idx) {
            return;
        }
        if ledger_funded {
            let lg = ChKey {
                workload: s.workload.into(),
                job: s.ledger.expect("ledger-funded"),
            };
            if !self.ready(lg, idx) {
                return;
            }
            let app = &self.book.channels[&key(s)];
            let app_state = app.state(app.nonce + 1, app.bal_a, app.bal_b);
            let other = app.other(s.actor);
            let amount = app.holding;
            let ledger = &self.book.channels[&lg];
            let ledger_state = ledger.state(ledger.nonce + 1, ledger.bal_a + amount, ledger.bal_b);
            self.book.hold(lg);
            self.book.hold(key(s));
            self.propose(
                idx,
                s.actor,
                other,
                vec![(key(s), app_state), (lg, ledger_state)],
            );
            return;
        }
        self.book.hold(key(s));
        let ch = &self.book.channels[&key(s)];
        let st = ch.state(ch.nonce + 1, ch.holding, 0);
        let other = ch.other(s.actor);
        self.propose(idx, s.actor, other, vec![(key(s), st)]);
    }
}
