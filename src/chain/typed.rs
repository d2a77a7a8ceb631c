//! Transaction types beyond a call's type 2 (or legacy / type 1): blob transactions (type 3,
//! EIP-4844, sent in the network form with their sidecar) and self-sponsored delegations
//! (type 4, EIP-7702), signed with the same libsecp256k1 signer as `tx::sign`.

use alloy::consensus::{SignableTransaction, TxEnvelope};
use alloy::eips::eip2718::Encodable2718;
use alloy::primitives::{Address, B256, Bytes, U256};
use alloy::signers::local::PrivateKeySigner;

use super::ChainError;
use super::tx::{Call, Fees, sign_hash};

/// What a blob transaction carries: its sidecar (blobs, KZG commitments and proofs), their
/// versioned hashes, and its cap per unit of blob gas.
#[derive(Debug, Clone)]
pub struct BlobCarry {
    pub sidecar: alloy::consensus::BlobTransactionSidecar,
    pub hashes: Vec<B256>,
    pub max_fee_per_blob_gas: u128,
}

/// A blob transaction (EIP-4844) and its network form: the 2718 encoding with the sidecar.
/// Its hash is the transaction's without the sidecar.
pub(super) fn sign_blob(
    signer: &PrivateKeySigner,
    chain_id: u64,
    nonce: u64,
    fees: Fees,
    call: &Call,
    b: &BlobCarry,
) -> Result<(B256, Bytes), ChainError> {
    let tx = alloy::consensus::TxEip4844 {
        chain_id,
        nonce,
        gas_limit: call.gas_limit,
        max_fee_per_gas: fees.max_fee_per_gas,
        max_priority_fee_per_gas: fees.max_priority_fee_per_gas,
        to: call.to.unwrap_or_default(),
        value: call.value,
        access_list: call.access_list.as_deref().cloned().unwrap_or_default(),
        blob_versioned_hashes: b.hashes.clone(),
        max_fee_per_blob_gas: b.max_fee_per_blob_gas,
        input: call.input.clone(),
    };
    let sig = sign_hash(signer, tx.signature_hash())?;
    let sidecar = alloy::consensus::BlobTransactionSidecarVariant::from(b.sidecar.clone());
    let signed = tx.with_sidecar(sidecar).into_signed(sig);
    let hash = *signed.hash();
    Ok((hash, TxEnvelope::from(signed).encoded_2718().into()))
}

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
