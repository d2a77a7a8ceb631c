//! Transactions: EIP-1559 signed locally, sent raw, nonces counted locally, receipts gathered
//! per block (one `eth_getBlockReceipts` serves every pending transaction in that block).

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use alloy::consensus::{SignableTransaction, TxEip1559, TxEnvelope};
use alloy::eips::BlockId;
use alloy::eips::eip2718::Encodable2718;
use alloy::network::TxSignerSync;
use alloy::primitives::{Address, B256, Bytes, TxKind, U256};
use alloy::providers::{DynProvider, Provider};
use alloy::rpc::types::TransactionReceipt;
use alloy::signers::local::PrivateKeySigner;

use super::ChainError;

/// EIP-1559 fee caps used for a batch of transactions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fees {
    pub max_fee_per_gas: u128,
    pub max_priority_fee_per_gas: u128,
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
}

/// Current fees: alloy's estimate (2 × base fee + priority), the usual wallet rule.
pub async fn fees(provider: &DynProvider) -> Result<Fees, ChainError> {
    let e = provider
        .estimate_eip1559_fees()
        .await
        .map_err(|e| ChainError::rpc("fee estimate", e))?;
    Ok(Fees {
        max_fee_per_gas: e.max_fee_per_gas,
        max_priority_fee_per_gas: e.max_priority_fee_per_gas,
    })
}

/// What to send: `to = None` creates a contract.
#[derive(Debug, Clone)]
pub struct Call {
    pub to: Option<Address>,
    pub value: U256,
    pub input: Bytes,
    pub gas_limit: u64,
}

/// Signs `call` and returns (hash, raw EIP-2718 bytes).
pub fn sign(
    signer: &PrivateKeySigner,
    chain_id: u64,
    nonce: u64,
    fees: Fees,
    call: &Call,
) -> Result<(B256, Bytes), ChainError> {
    let mut tx = TxEip1559 {
        chain_id,
        nonce,
        gas_limit: call.gas_limit,
        max_fee_per_gas: fees.max_fee_per_gas,
        max_priority_fee_per_gas: fees.max_priority_fee_per_gas,
        to: call.to.map_or(TxKind::Create, TxKind::Call),
        value: call.value,
        access_list: Default::default(),
        input: call.input.clone(),
    };
    let sig = signer
        .sign_transaction_sync(&mut tx)
        .map_err(|e| ChainError::Other(format!("signing failed: {e}")))?;
    let signed = tx.into_signed(sig);
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

/// Why a send failed, as recorded in steps.csv's `error` column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ErrorClass {
    Nonce,
    Underpriced,
    InsufficientFunds,
    Reverted,
    RpcTimeout,
    Connection,
    Other,
}

impl ErrorClass {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Nonce => "nonce",
            Self::Underpriced => "underpriced",
            Self::InsufficientFunds => "insufficient_funds",
            Self::Reverted => "reverted",
            Self::RpcTimeout => "rpc_timeout",
            Self::Connection => "connection",
            Self::Other => "other",
        }
    }

    /// Classifies a node's error message (geth, anvil, reth and erigon wordings).
    pub fn of_message(message: &str) -> Self {
        let m = message.to_ascii_lowercase();
        if m.contains("nonce too low")
            || m.contains("nonce too high")
            || m.contains("already known")
            || m.contains("invalid nonce")
        {
            Self::Nonce
        } else if m.contains("underpriced")
            || m.contains("fee cap less than block base fee")
            || m.contains("max fee per gas less than block base fee")
        {
            Self::Underpriced
        } else if m.contains("insufficient funds") || m.contains("insufficient balance") {
            Self::InsufficientFunds
        } else if m.contains("revert") {
            Self::Reverted
        } else if m.contains("timed out") || m.contains("timeout") {
            Self::RpcTimeout
        } else if m.contains("connection") || m.contains("connect") || m.contains("broken pipe") {
            Self::Connection
        } else {
            Self::Other
        }
    }
}

/// Watches blocks from a starting height for the receipts of given transactions.
pub struct ReceiptWatch {
    next_block: u64,
}

impl ReceiptWatch {
    /// Starts at the current head + 1; create it before sending so no inclusion is missed.
    pub async fn start(provider: &DynProvider) -> Result<Self, ChainError> {
        let head = provider
            .get_block_number()
            .await
            .map_err(|e| ChainError::rpc("block number", e))?;
        Ok(Self {
            next_block: head + 1,
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
            for r in self.poll(provider).await? {
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

    /// Receipts of every block mined since the last poll.
    pub async fn poll(
        &mut self,
        provider: &DynProvider,
    ) -> Result<Vec<TransactionReceipt>, ChainError> {
        let head = provider
            .get_block_number()
            .await
            .map_err(|e| ChainError::rpc("block number", e))?;
        let mut out = Vec::new();
        while self.next_block <= head {
            let receipts = provider
                .get_block_receipts(BlockId::number(self.next_block))
                .await
                .map_err(|e| {
                    ChainError::rpc(format!("receipts of block {}", self.next_block), e)
                })?;
            out.extend(receipts.unwrap_or_default());
            self.next_block += 1;
        }
        Ok(out)
    }
}

/// Signs, sends and waits for one transaction from `signer`; errors if it reverts.
pub async fn send_and_wait(
    provider: &DynProvider,
    chain_id: u64,
    signer: &PrivateKeySigner,
    nonces: &mut Nonces,
    call: &Call,
    what: &str,
) -> Result<TransactionReceipt, ChainError> {
    let fees = fees(provider).await?;
    let nonce = nonces.next(provider, signer.address()).await?;
    let (hash, raw) = sign(signer, chain_id, nonce, fees, call)?;
    let mut watch = ReceiptWatch::start(provider).await?;
    send_raw(provider, &raw)
        .await
        .map_err(|e| ChainError::rpc(format!("sending {what}"), e))?;
    let mut receipts = watch
        .wait(provider, &[hash], Duration::from_secs(60))
        .await?;
    let receipt = receipts
        .remove(&hash)
        .ok_or_else(|| ChainError::Other(format!("{what}: no receipt for {hash} within 60 s")))?;
    if !receipt.status() {
        return Err(ChainError::Reverted {
            what: what.to_string(),
            hash: hash.to_string(),
        });
    }
    Ok(receipt)
}

#[cfg(test)]
mod tests {
    use super::ErrorClass;

    #[test]
    fn classifies_node_messages() {
        let cases = [
            ("nonce too low: next nonce 5, tx nonce 3", ErrorClass::Nonce),
            (
                "replacement transaction underpriced",
                ErrorClass::Underpriced,
            ),
            (
                "Insufficient funds for gas * price + value",
                ErrorClass::InsufficientFunds,
            ),
            ("execution reverted: 0x1234", ErrorClass::Reverted),
            ("request timed out", ErrorClass::RpcTimeout),
            (
                "error sending request: connection refused",
                ErrorClass::Connection,
            ),
            ("something else", ErrorClass::Other),
        ];
        for (message, class) in cases {
            assert_eq!(ErrorClass::of_message(message), class, "{message}");
        }
    }
}
