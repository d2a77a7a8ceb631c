//! Gas limits loadrun uses per transaction type (pure). Sending with known limits avoids an
//! `eth_estimateGas` round trip per transaction; the limits sit above the measured use
//! (anvil 1.7.1, contracts/artifacts) so that a step never fails for gas.

use crate::plan::StepKind;

/// Plain ETH transfer.
pub const TRANSFER: u64 = 21_000;
/// Token `transfer` (measured ~51k to a new holder).
pub const TOKEN_TRANSFER: u64 = 65_000;
/// Token `approve`.
pub const APPROVE: u64 = 50_000;
/// Adjudicator `open` (measured ~159k for the first ever channel, ~142k after).
pub const OPEN: u64 = 200_000;
/// Adjudicator `close` (measured ~89k).
pub const CLOSE: u64 = 130_000;
/// A `call` workload's gas limit when its estimate fails, and what the up-front funding check
/// budgets per call (the executor estimates the real limit once per workload).
pub const CALL_DEFAULT: u64 = 200_000;
/// Disperse: fixed part and per recipient (ETH only, or ETH and tokens). Measured 651k for 10
/// new recipients with ETH and tokens.
pub const DISPERSE_BASE: u64 = 60_000;
pub const DISPERSE_PER_RECIPIENT_ETH: u64 = 40_000;
pub const DISPERSE_PER_RECIPIENT_TOKENS: u64 = 75_000;

/// Gas limit of a Disperse call paying `recipients` wallets.
pub fn disperse(recipients: u64, with_tokens: bool) -> u64 {
    let per = if with_tokens {
        DISPERSE_PER_RECIPIENT_TOKENS
    } else {
        DISPERSE_PER_RECIPIENT_ETH
    };
    DISPERSE_BASE + recipients * per
}

/// On-chain gas limit of a plan step; 0 for steps that stay off chain (ledger-funded channel
/// creates and closes, updates).
pub fn step_limit(kind: StepKind, ledger_funded: bool) -> u64 {
    match kind {
        StepKind::Transfer => TRANSFER,
        StepKind::TokenTransfer => TOKEN_TRANSFER,
        StepKind::Call => CALL_DEFAULT,
        StepKind::CreateLedgerChannel => OPEN,
        StepKind::CloseLedgerChannel => CLOSE,
        StepKind::CreateChannel if !ledger_funded => OPEN,
        StepKind::CloseChannel if !ledger_funded => CLOSE,
        StepKind::CreateChannel | StepKind::CloseChannel | StepKind::UpdateChannel => 0,
    }
}
