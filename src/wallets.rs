//! Deterministic wallets: keys derived from (seed, role, index), so the same scenario always
//! has the same addresses and funding can resume and top up.
//!
//! Derivation v1 (documented in the README; changing it changes every address, so bump the tag):
//! `secret = keccak256("loadrun/wallet/v1" || seed as u64 BE || len(role) as u8 || role ||
//! index as u32 BE || counter as u8)`, with `counter` starting at 0 and incremented in the
//! (negligible) case that the hash is not a valid secp256k1 scalar.
//!
//! Keys never leave this module in printable form: `Wallet`'s `Debug` shows the address only.

use std::fmt;

use alloy::primitives::{Address, B256, keccak256};
use alloy::signers::local::PrivateKeySigner;

use crate::model::WalletRef;
use crate::scenario::Scenario;

/// The derivation tag; part of every wallet's key.
pub const DERIVATION: &str = "loadrun/wallet/v1";

/// A derived wallet.
#[derive(Clone)]
pub struct Wallet {
    pub at: WalletRef,
    pub address: Address,
    signer: PrivateKeySigner,
}

impl Wallet {
    /// The signer, for signing transactions and channel states. Never format it.
    pub fn signer(&self) -> &PrivateKeySigner {
        &self.signer
    }
}

impl fmt::Debug for Wallet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Wallet")
            .field("at", &self.at)
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

/// Derives the signer of one wallet.
pub fn derive(seed: u64, role: &str, index: u32) -> PrivateKeySigner {
    let mut buf = Vec::with_capacity(DERIVATION.len() + 8 + 1 + role.len() + 4 + 1);
    buf.extend_from_slice(DERIVATION.as_bytes());
    buf.extend_from_slice(&seed.to_be_bytes());
    buf.push(role.len() as u8);
    buf.extend_from_slice(role.as_bytes());
    buf.extend_from_slice(&index.to_be_bytes());
    for counter in 0..=u8::MAX {
        buf.push(counter);
        let secret: B256 = keccak256(&buf);
        if let Ok(signer) = PrivateKeySigner::from_bytes(&secret) {
            return signer;
        }
        buf.pop();
    }
    unreachable!("256 consecutive keccak outputs outside the secp256k1 scalar field")
}

/// Every wallet of a scenario, by role (in `Scenario::roles` order) then index.
pub fn all(scenario: &Scenario, seed: u64) -> Vec<Wallet> {
    let mut out = Vec::with_capacity(scenario.total_wallets() as usize);
    for (r, role) in scenario.roles.iter().enumerate() {
        for index in 0..role.wallets {
            let signer = derive(seed, &role.name, index);
            out.push(Wallet {
                at: WalletRef {
                    role: r as u16,
                    index,
                },
                address: signer.address(),
                signer,
            });
        }
    }
    out
}

/// Index into `all(..)` of a wallet reference.
pub struct Directory {
    offsets: Vec<usize>,
}

impl Directory {
    pub fn new(scenario: &Scenario) -> Self {
        let mut offsets = Vec::with_capacity(scenario.roles.len());
        let mut acc = 0usize;
        for role in &scenario.roles {
            offsets.push(acc);
            acc += role.wallets as usize;
        }
        Self { offsets }
    }

    pub fn index(&self, w: WalletRef) -> usize {
        self.offsets[usize::from(w.role)] + w.index as usize
    }

    /// The position of each role's first wallet.
    pub fn offsets(&self) -> &[usize] {
        &self.offsets
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derivation_is_pinned() {
        // Changing the derivation changes every funded address: bump DERIVATION if you must.
        let a = derive(42, "A", 0).address();
        assert_eq!(a, derive(42, "A", 0).address());
        insta::assert_snapshot!(format!(
            "{a} {} {}",
            derive(42, "A", 1).address(),
            derive(43, "A", 0).address()
        ));
    }

    #[test]
    fn debug_never_shows_the_key() {
        let signer = derive(1, "A", 0);
        let w = Wallet {
            at: WalletRef { role: 0, index: 0 },
            address: signer.address(),
            signer: signer.clone(),
        };
        let secret = alloy::hex::encode(signer.to_bytes());
        let shown = format!("{w:?} {w:#?}");
        assert!(!shown.contains(&secret));
        assert!(shown.contains(&format!("{:?}", signer.address())));
    }

    #[test]
    fn role_names_are_length_prefixed() {
        // ("AB", 0) and ("A", ...) must never collide through concatenation.
        assert_ne!(
            derive(1, "AB", 0).address(),
            derive(1, "A", 0x4200_0000).address()
        );
    }
}
