//! EIP-7702 set-code transactions: a wallet's self-sponsored delegation (type 4) and the code
//! a delegated account has, signed with the same libsecp256k1 signer as `tx::sign`.

use alloy::consensus::{SignableTransaction, TxEnvelope};
use alloy::eips::eip2718::Encodable2718;
use alloy::primitives::{Address, B256, Bytes, U256};
use alloy::signers::local::PrivateKeySigner;

use super::ChainError;
use super::tx::{Fees, sign_hash};

/// The code of an account delegated to `target` (EIP-7702): `0xef0100 ++ target`.
pub fn designator(target: Address) -> Vec<u8> {
    let mut code = alloy::eips::eip7702::constants::EIP7702_DELEGATION_DESIGNATOR.to_vec();
    code.extend_from_slice(target.as_slice());
    code
}

/// Gas of a delegation transaction: 21,000 plus 25,000 per authorization (EIP-7702), with
/// room for the node's accounting.
pub const DELEGATION_GAS: u64 = 60_000;

/// A self-sponsored EIP-7702 transaction of `signer` at `nonce`: its own authorization to
/// `target` at `nonce + 1` (the transaction takes `nonce` first), sent to the zero address
/// with no value and no data, so no contract code runs.
pub fn sign_delegation(
    signer: &PrivateKeySigner,
    chain_id: u64,
    nonce: u64,
    fees: Fees,
    target: Address,
) -> Result<(B256, Bytes), ChainError> {
    let auth = alloy::eips::eip7702::Authorization {
        chain_id: U256::from(chain_id),
        address: target,
        nonce: nonce + 1,
    };
    let auth_sig = sign_hash(signer, auth.signature_hash())?;
    let tx = alloy::consensus::TxEip7702 {
        chain_id,
        nonce,
        gas_limit: DELEGATION_GAS,
        max_fee_per_gas: fees.max_fee_per_gas,
        max_priority_fee_per_gas: fees.max_priority_fee_per_gas,
        to: Address::ZERO,
        value: U256::ZERO,
        access_list: Default::default(),
        authorization_list: vec![auth.into_signed(auth_sig)],
        input: Bytes::new(),
    };
    let sig = sign_hash(signer, tx.signature_hash())?;
    let signed = tx.into_signed(sig);
    let hash = *signed.hash();
    Ok((hash, TxEnvelope::from(signed).encoded_2718().into()))
}
