//! Off-chain channel states: the hash both parties sign (identical to the Adjudicator's
//! `stateHash`), channel ids, and EIP-191 signatures. Pure apart from the signing key.

use alloy::primitives::{Address, B256, Bytes, U256, keccak256};
use alloy::signers::SignerSync;
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::SolValue;

/// Where states are valid: the Adjudicator on one chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Domain {
    pub adjudicator: Address,
    pub chain_id: u64,
}

/// A channel state: balances of party `a` (the opener) and `b` at a nonce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct State {
    pub channel: B256,
    pub nonce: u64,
    pub bal_a: u128,
    pub bal_b: u128,
}

impl Domain {
    /// `Adjudicator.channelId(a, b, salt)`.
    pub fn channel_id(&self, a: Address, b: Address, salt: B256) -> B256 {
        keccak256((U256::from(self.chain_id), self.adjudicator, a, b, salt).abi_encode())
    }

    /// `Adjudicator.stateHash(id, nonce, balA, balB)`.
    pub fn state_hash(&self, s: &State) -> B256 {
        keccak256(
            (
                self.adjudicator,
                U256::from(self.chain_id),
                s.channel,
                s.nonce,
                U256::from(s.bal_a),
                U256::from(s.bal_b),
            )
                .abi_encode(),
        )
    }

    /// The 65-byte EIP-191 signature of `signer` over the state.
    pub fn sign(&self, signer: &PrivateKeySigner, s: &State) -> Result<Bytes, String> {
        signer
            .sign_message_sync(self.state_hash(s).as_slice())
            .map(|sig| Bytes::from(sig.as_bytes().to_vec()))
            .map_err(|e| format!("signing a channel state failed: {e}"))
    }

    /// Whether `sig` over `s` was made by `who`.
    pub fn verify(&self, s: &State, sig: &Bytes, who: Address) -> bool {
        alloy::primitives::Signature::try_from(sig.as_ref())
            .ok()
            .and_then(|sig| {
                sig.recover_address_from_msg(self.state_hash(s).as_slice())
                    .ok()
            })
            == Some(who)
    }
}

/// The salt of a channel: unique per run and job, so a re-run on the same chain never collides
/// with a closed channel of an earlier run (closed ids stay taken on chain).
pub fn salt(run_id: &str, job: &str) -> B256 {
    keccak256(format!("loadrun/channel/v1/{run_id}/{job}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_verify_for_the_signer_only() {
        let d = Domain {
            adjudicator: Address::repeat_byte(7),
            chain_id: 31337,
        };
        let a = crate::wallets::derive(1, "A", 0);
        let b = crate::wallets::derive(1, "B", 0);
        let s = State {
            channel: d.channel_id(a.address(), b.address(), salt("r", "ch-000001")),
            nonce: 3,
            bal_a: 10,
            bal_b: 5,
        };
        let sig = d.sign(&a, &s).unwrap();
        assert_eq!(sig.len(), 65);
        assert!(d.verify(&s, &sig, a.address()));
        assert!(!d.verify(&s, &sig, b.address()));
        let later = State { nonce: 4, ..s };
        assert!(!d.verify(&later, &sig, a.address()));
        assert_ne!(salt("r1", "ch-1"), salt("r2", "ch-1"));
    }
}
