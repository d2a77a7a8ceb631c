//! Transactions: signed locally (EIP-1559, or legacy on chains without a base fee), sent raw
//! exactly once (an unknown outcome is resolved by hash), nonces counted locally, receipts
//! gathered per block (`receipts::of_block`).

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use alloy::consensus::{SignableTransaction, TxEip1559, TxEip2930, TxEnvelope, TxLegacy};
use alloy::eips::eip2718::Encodable2718;
use alloy::primitives::{Address, B256, Bytes, TxKind, U256};
use alloy::providers::{DynProvider, Provider};
use alloy::rpc::types::TransactionReceipt;
use alloy::signers::local::PrivateKeySigner;

use super::ChainError;
use super::receipts::{self, Caps};

/// Fee caps used for a batch of transactions. On a chain without a base fee (`legacy`), the
/// transaction is type 0 and `max_fee_per_gas` is its `gasPrice`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fees {
    pub max_fee_per_gas: u128,
    pub max_priority_fee_per_gas: u128,
    pub legacy: bool,
}

impl Fees {
    /// Raises the fee cap for a burst that fills `blocks` blocks: the base fee can grow 12.5 %
    /// per full block; the estimate's 2 × base already covers about six such blocks. Capped at
    /// 64 × the base part. Only the cap rises: a transaction pays the base fee of its block.
    pub fn with_headroom(self, blocks: u64) -> Self {
        let base_part = self
            .max_fee_per_gas
            .saturating_sub(self.max_priority_fee_per_gas);
        let mut scaled = base_part;
        for _ in 0..blocks.saturating_sub(6) {
            scaled = scaled.saturating_add(scaled / 8);
            if scaled >= base_part.saturating_mul(64) {
                scaled = base_part.saturating_mul(64);
                break;
            }
        }
        Self {
            max_fee_per_gas: scaled + self.max_priority_fee_per_gas,
            ..self
        }
    }

    /// At least 12.5 % above `old` in both caps, as a node requires of a replacement, and at
    /// least `self`.
    pub fn bumped_over(self, old: Fees) -> Self {
        let bump = |x: u128| x.saturating_add(x / 8).saturating_add(1);
        Self {
            max_fee_per_gas: self.max_fee_per_gas.max(bump(old.max_fee_per_gas)),
            max_priority_fee_per_gas: self
                .max_priority_fee_per_gas
                .max(bump(old.max_priority_fee_per_gas)),
            ..self
        }
    }
}

/// Current fees: alloy's estimate (2 × base fee + priority), the usual wallet rule; on a chain
/// without a base fee, `eth_gasPrice` + 25 %.
pub async fn fees(provider: &DynProvider, caps: Caps) -> Result<Fees, ChainError> {
    if caps.legacy_fees {
        let price = provider
            .get_gas_price()
            .await
            .map_err(|e| ChainError::rpc("gas price", e))?;
        return Ok(Fees {
            max_fee_per_gas: price + price / 4,
            max_priority_fee_per_gas: 0,
            legacy: true,
        });
    }
    let e = provider
        .estimate_eip1559_fees()
        .await
        .map_err(|e| ChainError::rpc("fee estimate", e))?;
    Ok(Fees {
        max_fee_per_gas: e.max_fee_per_gas,
        max_priority_fee_per_gas: e.max_priority_fee_per_gas,
        legacy: false,
    })
}

/// What to send: `to = None` creates a contract.
#[derive(Debug, Clone)]
pub struct Call {
    pub to: Option<Address>,
    pub value: U256,
    pub input: Bytes,
    pub gas_limit: u64,
    /// An EIP-2930 access list (a `call` workload's `access_list`): type 2 with it, or type 1
    /// on a chain without a base fee.
    pub access_list: Option<std::sync::Arc<alloy::eips::eip2930::AccessList>>,
    /// The blobs of a blob transaction (type 3).
    pub blob: Option<std::sync::Arc<BlobCarry>>,
}

/// libsecp256k1's signing context, made once (making one costs milliseconds).
static SECP: std::sync::LazyLock<secp256k1::Secp256k1<secp256k1::SignOnly>> =
    std::sync::LazyLock::new(secp256k1::Secp256k1::signing_only);

/// Signs a 32-byte transaction hash with libsecp256k1: the same RFC 6979 low-s signature
/// alloy's k256 signer gives (a test checks), at about a third of its CPU.
pub(super) fn sign_hash(
    signer: &PrivateKeySigner,
    hash: B256,
) -> Result<alloy::primitives::Signature, ChainError> {
    let key = secp256k1::SecretKey::from_byte_array(signer.credential().to_bytes().into())
        .map_err(|_| ChainError::InvalidKey)?;
    let msg = secp256k1::Message::from_digest(hash.0);
    let (recid, bytes) = SECP.sign_ecdsa_recoverable(msg, &key).serialize_compact();
    Ok(alloy::primitives::Signature::from_bytes_and_parity(
        &bytes,
        i32::from(recid) != 0,
    ))
}

/// Signs `call` and returns (hash, raw EIP-2718 bytes).
pub fn sign(
    signer: &PrivateKeySigner,
    chain_id: u64,
    nonce: u64,
    fees: Fees,
    call: &Call,
) -> Result<(B256, Bytes), ChainError> {
    let to = call.to.map_or(TxKind::Create, TxKind::Call);
    if let Some(b) = &call.blob {
        return sign_blob(signer, chain_id, nonce, fees, call, b);
    }
    if fees.legacy
        && let Some(list) = &call.access_list
    {
        let tx = TxEip2930 {
            chain_id,
            nonce,
            gas_price: fees.max_fee_per_gas,
            gas_limit: call.gas_limit,
            to,
            value: call.value,
            access_list: (**list).clone(),
            input: call.input.clone(),
        };
        let sig = sign_hash(signer, tx.signature_hash())?;
        let signed = tx.into_signed(sig);
        let hash = *signed.hash();
        return Ok((hash, TxEnvelope::from(signed).encoded_2718().into()));
    }
    if fees.legacy {
        let tx = TxLegacy {
            chain_id: Some(chain_id),
            nonce,
            gas_price: fees.max_fee_per_gas,
            gas_limit: call.gas_limit,
            to,
            value: call.value,
            input: call.input.clone(),
        };
        let sig = sign_hash(signer, tx.signature_hash())?;
        let signed = tx.into_signed(sig);
        let hash = *signed.hash();
        return Ok((hash, TxEnvelope::from(signed).encoded_2718().into()));
    }
    let tx = TxEip1559 {
        chain_id,
        nonce,
        gas_limit: call.gas_limit,
        max_fee_per_gas: fees.max_fee_per_gas,
        max_priority_fee_per_gas: fees.max_priority_fee_per_gas,
        to,
        value: call.value,
        access_list: call.access_list.as_deref().cloned().unwrap_or_default(),
        input: call.input.clone(),
    };
    let sig = sign_hash(signer, tx.signature_hash())?;
    let signed = tx.into_signed(sig);
    let hash = *signed.hash();
    Ok((hash, TxEnvelope::from(signed).encoded_2718().into()))
}

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
fn sign_blob(
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

/// Sends a signed transaction; returns the node's error text on refusal.
pub async fn send_raw(provider: &DynProvider, raw: &Bytes) -> Result<B256, String> {
    provider
        .raw_request::<_, B256>("eth_sendRawTransaction".into(), (raw,))
        .await
        .map_err(|e| e.to_string())
}

/// Why `send_once` could not say the transaction is with the node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendError {
    /// The node refused it and does not know its hash: it did not land and will not.
    Refused(String),
    /// No answer, and the node could not be asked afterwards: it may or may not have it.
    Unknown(String),
}

impl SendError {
    pub fn message(&self) -> &str {
        match self {
            Self::Refused(m) | Self::Unknown(m) => m,
        }
    }
}

/// Sends signed bytes (`hash` is theirs) so that they count once: when the answer is an error,
/// the node is asked for the hash before anything else — an earlier attempt whose answer was
/// lost makes a retry say "already known", "nonce too low" (taken by this very hash) or
/// "replacement underpriced" (same bytes), and all of those mean *sent*.
pub async fn send_once(provider: &DynProvider, hash: B256, raw: &Bytes) -> Result<(), SendError> {
    match send_raw(provider, raw).await {
        Ok(_) => Ok(()),
        Err(message) => resolve(provider, hash, message).await,
    }
}

/// After a send answered `message` (an error): sent when the node knows `hash`, refused when it
/// provably does not, unknown when it cannot be asked.
async fn resolve(provider: &DynProvider, hash: B256, message: String) -> Result<(), SendError> {
    match provider.get_transaction_by_hash(hash).await {
        Ok(Some(_)) => {
            tracing::debug!(tx = %hash, "the node already has it ({message}): sent");
            Ok(())
        }
        Ok(None) => Err(SendError::Refused(message)),
        Err(e) => Err(SendError::Unknown(format!("{message}; looking it up: {e}"))),
    }
}

/// `send_once` for several transactions in one JSON-RPC batch (one HTTP request); one alone is
/// sent as a plain request. An error for one transaction is resolved by hash like `send_once`
/// does; a batch that fails as a whole (a node that refuses batches or this size, a transport
/// failure) is sent again one by one with `send_once` — a transaction that did reach the node
/// then answers "already known", which counts as sent. So each result means what `send_once`'s
/// would. The fallbacks run concurrently.
pub async fn send_batch(
    provider: &DynProvider,
    txs: &[(B256, Bytes)],
) -> Vec<Result<(), SendError>> {
    if let [(hash, raw)] = txs {
        return vec![send_once(provider, *hash, raw).await];
    }
    let mut batch = alloy::rpc::client::BatchRequest::new(provider.client());
    let mut waiters = Vec::with_capacity(txs.len());
    for (_, raw) in txs {
        waiters.push(batch.add_call::<_, B256>("eth_sendRawTransaction", &(raw,)));
    }
    let whole = batch.send().await;
    let mut answers = Vec::with_capacity(txs.len());
    for w in waiters {
        answers.push(match (&whole, w) {
            (Ok(()), Ok(w)) => Some(w.await.map(|_| ()).map_err(|e| e.to_string())),
            (Ok(()), Err(e)) => Some(Err(e.to_string())),
            (Err(_), _) => None,
        });
    }
    settle(provider, txs, answers).await
}

/// What each of `txs` came to, from the node's answers to their batch: `Some(Ok)` sent,
/// `Some(Err(text))` resolved by hash like `send_once` does (the lookups run concurrently),
/// `None` (no answer: the batch failed as a whole) sent again with `send_once` one after the
/// other in the batch's order — a wallet's nonces never overtake each other — until one of
/// them stays unknown (the node is unreachable): the rest are then unknown too, and the
/// receipt watcher resolves them by hash.
pub async fn settle(
    provider: &DynProvider,
    txs: &[(B256, Bytes)],
    answers: Vec<Option<Result<(), String>>>,
) -> Vec<Result<(), SendError>> {
    let mut out: Vec<Option<Result<(), SendError>>> = vec![None; txs.len()];
    let mut again = tokio::task::JoinSet::new();
    let mut unanswered = Vec::new();
    for (i, ((hash, _), answer)) in txs.iter().zip(answers).enumerate() {
        let (p, hash) = (provider.clone(), *hash);
        match answer {
            Some(Ok(())) => out[i] = Some(Ok(())),
            Some(Err(message)) => {
                again.spawn(async move { (i, resolve(&p, hash, message).await) });
            }
            None => unanswered.push(i),
        }
    }
    let mut reachable = true;
    for i in unanswered {
        let (hash, raw) = &txs[i];
        out[i] = Some(if reachable {
            let r = send_once(provider, *hash, raw).await;
            reachable = !matches!(r, Err(SendError::Unknown(_)));
            r
        } else {
            Err(SendError::Unknown(
                "the node did not answer the batch that carried it".into(),
            ))
        });
    }
    while let Some(r) = again.join_next().await {
        if let Ok((i, r)) = r {
            out[i] = Some(r);
        }
    }
    out.into_iter()
        .map(|r| r.unwrap_or_else(|| Err(SendError::Unknown("the lookup task failed".into()))))
        .collect()
}

/// Local nonce counters: one RPC read per address, then counted; resync after a nonce error.
#[derive(Debug, Default)]
pub struct Nonces {
    next: HashMap<Address, u64>,
}

impl Nonces {
    pub async fn next(
        &mut self,
        provider: &DynProvider,
        address: Address,
    ) -> Result<u64, ChainError> {
        if let Some(n) = self.next.get_mut(&address) {
            *n += 1;
            return Ok(*n - 1);
        }
        let n = self.resync(provider, address).await?;
        self.next.insert(address, n + 1);
        Ok(n)
    }

    /// Sets the next nonce of `address` (from a batched read).
    pub fn set(&mut self, address: Address, next: u64) {
        self.next.insert(address, next);
    }

    /// Re-reads the pending nonce from the node.
    pub async fn resync(
        &mut self,
        provider: &DynProvider,
        address: Address,
    ) -> Result<u64, ChainError> {
        let n = provider
            .get_transaction_count(address)
            .pending()
            .await
            .map_err(|e| ChainError::rpc(format!("nonce of {address}"), e))?;
        self.next.insert(address, n);
        Ok(n)
    }
}

pub use super::error_class::ErrorClass;

/// A transaction without a receipt after this long is looked up, and re-sent if the node
/// dropped it.
pub const REBROADCAST_AFTER: Duration = Duration::from_secs(3);

/// Watches blocks from a starting height for the receipts of given transactions.
pub struct ReceiptWatch {
    next_block: u64,
    caps: Caps,
}

impl ReceiptWatch {
    /// Starts at the current head + 1; create it before sending so no inclusion is missed.
    pub async fn start(provider: &DynProvider, caps: Caps) -> Result<Self, ChainError> {
        let head = provider
            .get_block_number()
            .await
            .map_err(|e| ChainError::rpc("block number", e))?;
        Ok(Self {
            next_block: head + 1,
            caps,
        })
    }

    /// Fetches receipts of every new block until all `pending` are found or `timeout` passes.
    /// Returns the receipts found (missing hashes timed out).
    pub async fn wait(
        &mut self,
        provider: &DynProvider,
        pending: &[B256],
        timeout: Duration,
    ) -> Result<HashMap<B256, TransactionReceipt>, ChainError> {
        let mut want: HashSet<B256> = pending.iter().copied().collect();
        let mut found = HashMap::with_capacity(want.len());
        let start = Instant::now();
        while !want.is_empty() && start.elapsed() < timeout {
            for r in self.poll(provider, |h| want.contains(h)).await? {
                if want.remove(&r.transaction_hash) {
                    found.insert(r.transaction_hash, r);
                }
            }
            if !want.is_empty() {
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
        }
        Ok(found)
    }

    /// Waits for the receipts of `sent` (hash and signed bytes) until `timeout`; every
    /// `REBROADCAST_AFTER`, re-sends (same bytes, so never twice) any transaction the node no
    /// longer knows: a node may drop pool entries, and a dropped set-up transaction (a deploy, a
    /// funding payment) would otherwise stall the whole set-up.
    pub async fn wait_rebroadcasting(
        &mut self,
        p: &DynProvider,
        sent: &[(B256, Bytes)],
        timeout: Duration,
    ) -> Result<HashMap<B256, TransactionReceipt>, ChainError> {
        let start = Instant::now();
        let mut found = HashMap::with_capacity(sent.len());
        loop {
            let missing: Vec<B256> = sent
                .iter()
                .map(|s| s.0)
                .filter(|h| !found.contains_key(h))
                .collect();
            if missing.is_empty() || start.elapsed() >= timeout {
                return Ok(found);
            }
            let step = REBROADCAST_AFTER.min(timeout.saturating_sub(start.elapsed()));
            found.extend(self.wait(p, &missing, step).await?);
            let mut resent = 0;
            for (hash, raw) in sent.iter().filter(|s| !found.contains_key(&s.0)) {
                let known = p
                    .get_transaction_by_hash(*hash)
                    .await
                    .map_err(|e| ChainError::rpc("transaction lookup", e))?;
                if known.is_none() {
                    tracing::debug!(tx = %hash, "dropped by the node, sending it again");
                    // "already known" / "nonce too low" mean it is in or done: fine either way.
                    let _ = send_raw(p, raw).await;
                    resent += 1;
                }
            }
            if resent > 0 {
                // The same signed bytes again: nothing is paid twice, so this only costs time.
                tracing::warn!(
                    "{resent} of {} transactions were not in the node's pool after {:?} and were sent again: harmless (the same signed bytes, never paid twice) unless it repeats until the {:?} wait runs out",
                    sent.len(),
                    REBROADCAST_AFTER,
                    timeout
                );
            }
        }
    }

    /// Receipts (of the transactions `want` selects) of every block mined since the last poll.
    pub async fn poll(
        &mut self,
        provider: &DynProvider,
        want: impl Fn(&B256) -> bool,
    ) -> Result<Vec<TransactionReceipt>, ChainError> {
        let head = provider
            .get_block_number()
            .await
            .map_err(|e| ChainError::rpc("block number", e))?;
        let mut out = Vec::new();
        while self.next_block <= head {
            let ask = |h: &B256| {
                if want(h) {
                    receipts::Want::Receipt
                } else {
                    receipts::Want::Skip
                }
            };
            let Some(b) = receipts::of_block(provider, self.caps, self.next_block, ask).await?
            else {
                break;
            };
            out.extend(b.receipts);
            self.next_block += 1;
        }
        Ok(out)
    }
}

/// Signs, sends and waits for one transaction from `signer`; errors if it reverts.
pub async fn send_and_wait(
    provider: &DynProvider,
    (chain_id, caps): (u64, Caps),
    signer: &PrivateKeySigner,
    nonces: &mut Nonces,
    call: &Call,
    what: &str,
) -> Result<TransactionReceipt, ChainError> {
    let fees = fees(provider, caps).await?;
    let nonce = nonces.next(provider, signer.address()).await?;
    let (hash, raw) = sign(signer, chain_id, nonce, fees, call)?;
    let mut watch = ReceiptWatch::start(provider, caps).await?;
    send_once(provider, hash, &raw)
        .await
        .map_err(|e| ChainError::rpc(format!("sending {what}"), e.message()))?;
    let mut receipts = watch
        .wait_rebroadcasting(provider, &[(hash, raw)], Duration::from_secs(60))
        .await?;
    let receipt = receipts
        .remove(&hash)
        .ok_or_else(|| ChainError::NoReceipt {
            what: what.to_string(),
            hash: hash.to_string(),
            secs: 60,
        })?;
    if !receipt.status() {
        return Err(ChainError::Reverted {
            what: what.to_string(),
            hash: hash.to_string(),
        });
    }
    Ok(receipt)
}

#[cfg(test)]
#[path = "tx_tests.rs"]
mod tests;
