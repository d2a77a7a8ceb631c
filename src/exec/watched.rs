//! What the receipt watcher watches: a sent transaction (`Watched`) with what it takes to send
//! it again or re-sign it, and what a wallet lane tells the watcher (`ToWatcher`).

use std::sync::Arc;

use alloy::primitives::{B256, Bytes};
use alloy::signers::local::PrivateKeySigner;
use tokio::sync::mpsc;

use super::msg::ActorMsg;
use crate::chain::tx::{Call, Fees};

/// What it takes to sign a transaction's nonce again at another fee.
#[derive(Clone)]
pub struct Resign {
    pub signer: Arc<PrivateKeySigner>,
    pub nonce: u64,
    pub call: Call,
}

/// What a wallet lane tells the watcher.
#[expect(
    clippy::large_enum_variant,
    reason = "`Sent` is every transaction (a box would cost an allocation each); `Behind` is rare"
)]
pub enum ToWatcher {
    /// A transaction sent (or whose send's outcome is unknown): watch for it.
    Sent(Watched),
    /// The wallet's steps are over with its nonce `nonce` refused (`why`) and never filled: its
    /// transactions above it can never be included.
    Behind {
        from: alloy::primitives::Address,
        nonce: u64,
        class: crate::chain::tx::ErrorClass,
        why: String,
    },
}

/// A sent transaction to match to a receipt.
pub struct Watched {
    pub hash: B256,
    /// The signed bytes, re-sent if the node drops the transaction from its pool.
    pub raw: Bytes,
    /// Its fees, to explain a timeout and to price a replacement.
    pub fees: Fees,
    pub resign: Resign,
    /// Replacements so far (re-signed at a higher fee).
    pub resent: u32,
    /// The wallet's in-flight slot, freed when this is reported (`None` once it was).
    pub _permit: Option<tokio::sync::OwnedSemaphorePermit>,
    /// Reported once already, in a block a reorg replaced: its next report amends the row.
    pub amend: bool,
    pub idx: usize,
    pub sent_ms: f64,
    pub reply: mpsc::UnboundedSender<ActorMsg>,
    /// A plain ETH transfer to one of the run's wallets at exactly 21,000 gas, on a chain whose
    /// transfer costs exactly that: included means succeeded, gas used 21,000, fee from the
    /// block's base fee — its receipt is not fetched (the sanity check verifies every wei).
    pub plain: bool,
}

impl Watched {
    /// The receipt facts of a `plain` transaction included in a block with `base_fee`.
    pub fn predicted(&self, base_fee: Option<u64>) -> Facts {
        let price = match base_fee {
            Some(base) if !self.fees.legacy => self
                .fees
                .max_fee_per_gas
                .min(u128::from(base) + self.fees.max_priority_fee_per_gas),
            _ => self.fees.max_fee_per_gas,
        };
        Facts {
            success: true,
            gas_used: 21_000,
            fee_wei: 21_000 * price,
            blob: None,
        }
    }
}

#[derive(Clone, Copy)]
/// What a receipt says of an included transaction.
pub struct Facts {
    pub success: bool,
    pub gas_used: u64,
    /// All the transaction cost its sender (the blob fee included).
    pub fee_wei: u128,
    /// A blob transaction's blob gas and blob fee.
    pub blob: Option<(u64, u128)>,
}

#[cfg(test)]
/// A pending transaction of `signer` at `nonce`, reporting to `reply`.
pub(crate) fn for_test(
    signer: &Arc<PrivateKeySigner>,
    nonce: u64,
    reply: &mpsc::UnboundedSender<ActorMsg>,
) -> Watched {
    Watched {
        hash: B256::with_last_byte(nonce as u8)
            ^ B256::left_padding_from(signer.address().as_slice()),
        raw: Bytes::new(),
        fees: Fees {
            max_fee_per_gas: 2,
            max_priority_fee_per_gas: 1,
            legacy: false,
        },
        resign: Resign {
            signer: signer.clone(),
            nonce,
            call: Call {
                access_list: None,
                blob: None,
                to: None,
                value: Default::default(),
                input: Bytes::new(),
                gas_limit: 21_000,
            },
        },
        resent: 0,
        _permit: None,
        amend: false,
        idx: nonce as usize,
        sent_ms: 0.0,
        reply: reply.clone(),
        plain: true,
    }
}
