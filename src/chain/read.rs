//! Batched reads of many accounts at once (JSON-RPC batches): balances, nonces, token balances
//! and Disperse allowances — what funding needs to top up instead of re-paying.

use alloy::primitives::{Address, Bytes, U256};
use alloy::providers::{DynProvider, Provider};
use alloy::sol_types::SolCall;

use super::ChainError;
use super::contracts::Token;

/// Requests per JSON-RPC batch; keeps each HTTP body small for remote nodes.
const BATCH: usize = 200;

/// One account's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Account {
    pub eth: u128,
    /// Next nonce counting the node's pending transactions.
    pub nonce: u64,
    /// Next nonce counting only mined transactions; below `nonce` while some are pending.
    pub mined_nonce: u64,
    pub tokens: u128,
    /// Allowance of `spender` (Disperse) is at least half of u256::MAX (we approve MAX).
    pub approved: bool,
}

fn call_json(to: Address, data: Vec<u8>) -> serde_json::Value {
    serde_json::json!({ "to": to, "data": Bytes::from(data) })
}

fn clamp(v: U256) -> u128 {
    u128::try_from(v).unwrap_or(u128::MAX)
}

/// The chain's latest block number; `None` when the node does not answer.
pub async fn block_number(chain: &super::Chain) -> Option<u64> {
    alloy::providers::Provider::get_block_number(&chain.provider)
        .await
        .ok()
}

/// Reads every address; `token`/`spender` add the token balance and allowance.
pub async fn accounts(
    provider: &DynProvider,
    addresses: &[Address],
    token: Option<(Address, Address)>,
) -> Result<Vec<Account>, ChainError> {
    let mut out = Vec::with_capacity(addresses.len());
    let per = if token.is_some() { 5 } else { 3 };
    for chunk in addresses.chunks(BATCH / per) {
        let client = provider.client();
        let mut batch = alloy::rpc::client::BatchRequest::new(client);
        let err = |e| ChainError::rpc("batched account read", e);
        let mut waiters = Vec::with_capacity(chunk.len());
        for a in chunk {
            let balance = batch
                .add_call::<_, U256>("eth_getBalance", &(a, "latest"))
                .map_err(err)?;
            let nonce = batch
                .add_call::<_, U256>("eth_getTransactionCount", &(a, "pending"))
                .map_err(err)?;
            let mined = batch
                .add_call::<_, U256>("eth_getTransactionCount", &(a, "latest"))
                .map_err(err)?;
            let token_calls = match token {
                Some((t, spender)) => {
                    let bal = batch
                        .add_call::<_, Bytes>(
                            "eth_call",
                            &(
                                call_json(t, Token::balanceOfCall(*a).abi_encode()),
                                "latest",
                            ),
                        )
                        .map_err(err)?;
                    let allow = batch
                        .add_call::<_, Bytes>(
                            "eth_call",
                            &(
                                call_json(
                                    t,
                                    Token::allowanceCall {
                                        _0: *a,
                                        _1: spender,
                                    }
                                    .abi_encode(),
                                ),
                                "latest",
                            ),
                        )
                        .map_err(err)?;
                    Some((bal, allow))
                }
                None => None,
            };
            waiters.push((balance, nonce, mined, token_calls));
        }
        batch.send().await.map_err(err)?;
        for (balance, nonce, mined, token_calls) in waiters {
            let mut acc = Account {
                eth: clamp(balance.await.map_err(err)?),
                nonce: clamp(nonce.await.map_err(err)?) as u64,
                mined_nonce: clamp(mined.await.map_err(err)?) as u64,
                ..Account::default()
            };
            if let Some((bal, allow)) = token_calls {
                let decode = |b: Bytes| U256::try_from_be_slice(&b).unwrap_or_default();
                acc.tokens = clamp(decode(bal.await.map_err(err)?));
                acc.approved = decode(allow.await.map_err(err)?) >= U256::MAX >> 1;
            }
            out.push(acc);
        }
    }
    Ok(out)
}
