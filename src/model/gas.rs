//! Gas limits loadrun uses per transaction shape (pure). Sending with known limits avoids an
//! `eth_estimateGas` round trip per transaction. The limits are estimated on the target chain at
//! setup (`chain::estimate`, once per shape, with headroom); `GasTable::FALLBACK` holds limits
//! measured on anvil 1.7.1 with the committed contracts, used only where estimation is
//! impossible (and said in a warning).

use serde::Serialize;

use crate::model::StepKind;

/// The gas limit of each transaction shape loadrun sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct GasTable {
    /// Plain ETH transfer to a fresh address.
    pub transfer: u64,
    /// Token `transfer` to a new holder.
    pub token_transfer: u64,
    /// Token `approve`.
    pub approve: u64,
    /// Adjudicator `open` (a new channel id).
    pub open: u64,
    /// Adjudicator `close` of a channel with both signatures.
    pub close: u64,
    /// A `call` workload when its own estimate fails, and what the up-front funding check
    /// budgets per call (the executor estimates each call workload once).
    pub call_default: u64,
    /// Disperse: fixed part, and per new recipient (ETH only, or ETH and tokens).
    pub disperse_base: u64,
    pub disperse_per_eth: u64,
    pub disperse_per_tokens: u64,
}

impl GasTable {
    /// Measured on anvil (transfer 21,000; token transfer ~51k to a new holder; open ~159k for
    /// the first channel ever, ~142k after; close ~89k; Disperse 651k for 10 new recipients with
    /// ETH and tokens), with margin.
    pub const FALLBACK: GasTable = GasTable {
        transfer: 21_000,
        token_transfer: 65_000,
        approve: 50_000,
        open: 200_000,
        close: 130_000,
        call_default: 200_000,
        disperse_base: 60_000,
        disperse_per_eth: 40_000,
        disperse_per_tokens: 75_000,
    };

    /// Gas limit of a Disperse call paying `recipients` wallets.
    pub fn disperse(&self, recipients: u64, with_tokens: bool) -> u64 {
        let per = if with_tokens {
            self.disperse_per_tokens
        } else {
            self.disperse_per_eth
        };
        self.disperse_base
            .saturating_add(recipients.saturating_mul(per))
    }

    /// On-chain gas limit of a plan step; 0 for steps that stay off chain (ledger-funded
    /// channel creates and closes, updates, reads).
    pub fn step_limit(&self, kind: StepKind, ledger_funded: bool) -> u64 {
        match kind {
            StepKind::Transfer | StepKind::Blob => self.transfer,
            StepKind::TokenTransfer => self.token_transfer,
            StepKind::Call => self.call_default,
            StepKind::CreateLedgerChannel => self.open,
            StepKind::CloseLedgerChannel => self.close,
            StepKind::CreateChannel if !ledger_funded => self.open,
            StepKind::CloseChannel if !ledger_funded => self.close,
            StepKind::CreateChannel
            | StepKind::CloseChannel
            | StepKind::UpdateChannel
            | StepKind::Read => 0,
        }
    }

    /// The fallback for shapes that could not be estimated, raised by the chain's extra cost per
    /// transaction (`transfer_estimate` − 21,000: the data/L1 part rollups add), scaled by how
    /// much larger each shape's calldata is than a plain transfer's.
    pub fn fallback_on(transfer_estimate: u64) -> GasTable {
        let extra = transfer_estimate.saturating_sub(21_000);
        let f = Self::FALLBACK;
        let up = |g: u64, size_factor: u64| g.saturating_add(extra.saturating_mul(size_factor));
        GasTable {
            transfer: with_headroom(transfer_estimate),
            token_transfer: up(f.token_transfer, 2),
            approve: up(f.approve, 2),
            open: up(f.open, 2),
            close: up(f.close, 6),
            call_default: up(f.call_default, 4),
            disperse_base: up(f.disperse_base, 4),
            disperse_per_eth: up(f.disperse_per_eth, 1),
            disperse_per_tokens: up(f.disperse_per_tokens, 1),
        }
    }
}

/// A limit from an estimate: a plain transfer whose estimate is the bare 21,000 (its cost cannot
/// vary) is used as is; anything else gets 25 % headroom (state and, on rollups, data costs move).
pub fn with_headroom(estimate: u64) -> u64 {
    if estimate <= 21_000 {
        estimate
    } else {
        estimate.saturating_add(estimate / 4)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_l1_transfer_keeps_its_exact_limit_and_rollup_overhead_raises_every_shape() {
        assert_eq!(with_headroom(21_000), 21_000);
        assert_eq!(with_headroom(40_000), 50_000);
        let l1 = GasTable::fallback_on(21_000);
        assert_eq!(l1, GasTable::FALLBACK);
        let rollup = GasTable::fallback_on(121_000);
        assert_eq!(rollup.transfer, 151_250);
        assert!(rollup.close > GasTable::FALLBACK.close + 500_000);
        assert!(rollup.disperse(10, true) > GasTable::FALLBACK.disperse(10, true));
    }

    #[test]
    fn disperse_grows_per_recipient_and_saturates() {
        let t = GasTable::FALLBACK;
        assert_eq!(t.disperse(10, true), 60_000 + 750_000);
        assert_eq!(t.disperse(10, false), 60_000 + 400_000);
        assert_eq!(t.disperse(u64::MAX, true), u64::MAX);
    }
}
