//! What a node supports, detected once at connect (`eth_getBlockReceipts`, a base fee), and
//! receipts per block on any node: one `eth_getBlockReceipts` where it works, otherwise the
//! block's transaction hashes and a JSON-RPC batch of `eth_getTransactionReceipt` for the ones
//! the caller waits for — the same per-block accounting either way.

use alloy::eips::{BlockId, BlockNumberOrTag};
use alloy::primitives::B256;
use alloy::providers::{DynProvider, Provider};
use alloy::rpc::types::TransactionReceipt;
use alloy::transports::{RpcError, TransportError};

use super::ChainError;

/// Receipts per JSON-RPC batch in the per-transaction fallback.
const BATCH: usize = 200;

/// Node capabilities loadrun adapts to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caps {
    /// `eth_getBlockReceipts` answers (anvil, geth, reth…; not every node or hosted RPC).
    pub block_receipts: bool,
    /// The chain has no base fee (pre-London): legacy `gasPrice` transactions.
    pub legacy_fees: bool,
    /// The latest block's gas limit.
    pub block_gas_limit: u64,
    /// Mean interval of the last 10 blocks, ms (`None` on a chain that short).
    pub block_interval_ms: Option<u64>,
}

impl Caps {
    /// What a spawned anvil supports (no need to ask it).
    pub const ANVIL: Caps = Caps {
        block_receipts: true,
        legacy_fees: false,
        block_gas_limit: 30_000_000,
        block_interval_ms: None,
    };

    /// Asks the node once. A method the node refuses is not an error: loadrun falls back.
    pub async fn detect(p: &DynProvider) -> Result<Self, ChainError> {
        let latest = p
            .get_block_by_number(BlockNumberOrTag::Latest)
            .await
            .map_err(|e| ChainError::rpc("latest block", e))?
            .ok_or(ChainError::NoLatestBlock)?;
        let legacy_fees = latest.header.base_fee_per_gas.is_none();
        let block_receipts = match p
            .get_block_receipts(BlockId::number(latest.header.number))
            .await
        {
            Ok(r) => r.is_some(),
            Err(e) if refused(&e) => {
                tracing::info!(
                    "the node does not serve eth_getBlockReceipts ({e}); fetching receipts per transaction, batched"
                );
                false
            }
            Err(e) => return Err(ChainError::rpc("eth_getBlockReceipts probe", e)),
        };
        if legacy_fees {
            tracing::info!("the chain has no base fee: sending legacy (type 0) transactions");
        }
        let number = latest.header.number;
        let block_interval_ms = match number.checked_sub(10) {
            Some(earlier) => p
                .get_block_by_number(BlockNumberOrTag::Number(earlier))
                .await
                .ok()
                .flatten()
                .map(|b| latest.header.timestamp.saturating_sub(b.header.timestamp) * 100),
            None => None,
        };
        Ok(Self {
            block_receipts,
            legacy_fees,
            block_gas_limit: latest.header.gas_limit,
            block_interval_ms,
        })
    }
}

/// The node answered with an error (method unknown, unsupported, not available), as opposed to
/// not answering at all: transient failures were already retried by the client.
fn refused(e: &TransportError) -> bool {
    matches!(e, RpcError::ErrorResp(_) | RpcError::DeserError { .. })
}

/// One block as the watchers account for it.
#[derive(Debug, Clone)]
pub struct BlockReceipts {
    pub number: u64,
    /// The block's hash and its parent's (a reorg shows as a parent that is not the block read
    /// before at that height).
    pub hash: B256,
    pub parent_hash: B256,
    pub base_fee: Option<u64>,
    pub gas_used: u64,
    pub gas_limit: u64,
    pub tx_count: usize,
    /// Receipts of the transactions asked for with `Want::Receipt`.
    pub receipts: Vec<TransactionReceipt>,
    /// Hashes asked for with `Want::Inclusion`: in the block, receipt not fetched.
    pub included: Vec<B256>,
    /// The block's other hashes (receipts not fetched).
    pub others: Vec<B256>,
}

/// What a caller needs of a transaction in a block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Want {
    /// Not ours.
    Skip,
    /// Only that it was included (its receipt is known beforehand, e.g. a plain transfer).
    Inclusion,
    /// Its receipt.
    Receipt,
}

/// Block `number` with the receipts of the transactions `want` asks receipts for; `None` while
/// the block does not exist yet. Receipts are fetched only where needed: a node may spend time
/// growing with the block's size on every receipt (anvil 1.7: ~0.75 ms per receipt in a block
/// of 3,000, `eth_getBlockReceipts` or not), so one that would be fetched only to learn what the
/// caller already knows is the largest cost a run can put on the node.
pub async fn of_block(
    p: &DynProvider,
    caps: Caps,
    number: u64,
    want: impl Fn(&B256) -> Want,
) -> Result<Option<BlockReceipts>, ChainError> {
    let err = |e| ChainError::rpc(format!("block {number}"), e);
    let Some(block) = p
        .get_block_by_number(BlockNumberOrTag::Number(number))
        .await
        .map_err(err)?
    else {
        return Ok(None);
    };
    let hashes: Vec<B256> = block.transactions.hashes().collect();
    let mut out = BlockReceipts {
        number,
        hash: block.header.hash,
        parent_hash: block.header.parent_hash,
        base_fee: block.header.base_fee_per_gas,
        gas_used: block.header.gas_used,
        gas_limit: block.header.gas_limit,
        tx_count: hashes.len(),
        receipts: Vec::new(),
        included: Vec::new(),
        others: Vec::new(),
    };
    let mut needed = Vec::new();
    for h in hashes {
        match want(&h) {
            Want::Skip => out.others.push(h),
            Want::Inclusion => out.included.push(h),
            Want::Receipt => needed.push(h),
        }
    }
    if needed.is_empty() {
        return Ok(Some(out));
    }
    if caps.block_receipts && needed.len() == out.tx_count {
        out.receipts = p
            .get_block_receipts(BlockId::number(number))
            .await
            .map_err(|e| ChainError::rpc(format!("receipts of block {number}"), e))?
            .unwrap_or_default();
        return Ok(Some(out));
    }
    out.receipts = by_hash(p, &needed).await?.into_iter().flatten().collect();
    Ok(Some(out))
}

/// Receipts of `hashes` (JSON-RPC batches), `None` for one the node has no receipt for.
pub async fn by_hash(
    p: &DynProvider,
    hashes: &[B256],
) -> Result<Vec<Option<TransactionReceipt>>, ChainError> {
    let err = |e| ChainError::rpc("batched receipt lookup", e);
    let mut out = Vec::with_capacity(hashes.len());
    for chunk in hashes.chunks(BATCH) {
        let mut batch = alloy::rpc::client::BatchRequest::new(p.client());
        let mut waiters = Vec::with_capacity(chunk.len());
        for h in chunk {
            waiters.push(
                batch
                    .add_call::<_, Option<TransactionReceipt>>("eth_getTransactionReceipt", &(h,))
                    .map_err(err)?,
            );
        }
        batch.send().await.map_err(err)?;
        for w in waiters {
            out.push(w.await.map_err(err)?);
        }
    }
    Ok(out)
}
