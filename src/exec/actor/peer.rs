//! The counterparty side of a role actor: checking and countersigning the other party's
//! proposals (the signatures here, the channel checks in the book).

use alloy::primitives::Bytes;

use super::Running;
use super::channels::Event;
use crate::exec::msg::{Proposal, SignRefusal};
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
        }
        self.book.check(signer, proposer, proposal)?;
        let mut out = Vec::with_capacity(proposal.len());
        for (_, st) in proposal {
            out.push(
                d.sign(self.signer(signer), st)
                    .map_err(SignRefusal::Failed)?,
            );
        }
        self.handle(Event::Countersigned {
            proposal,
            proposer,
            signer,
        });
        Ok(out)
    }
}
