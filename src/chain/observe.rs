//! Reads what the sanity check compares: every wallet's ETH and token balance and the
//! Adjudicator's counters and holdings (batched reads; the chain edge of `report::sanity`).

use alloy::primitives::Address;

use crate::chain::contracts::{Adjudicator, Contracts};
use crate::chain::{Chain, ChainError, read};
use crate::model::observed::Observed;

/// A snapshot of the wallets (in the given order) and the Adjudicator.
pub async fn observe(
    chain: &Chain,
    contracts: &Contracts,
    wallets: &[Address],
) -> Result<Observed, ChainError> {
    let accounts = read::accounts(
        &chain.provider,
        wallets,
        Some((contracts.token, contracts.disperse)),
    )
    .await?;
    let adj = Adjudicator::new(contracts.adjudicator, &chain.provider);
    let err = |what: &str| {
        let what = what.to_string();
        move |e: alloy::contract::Error| ChainError::rpc(format!("Adjudicator.{what}"), e)
    };
    let to = |v: alloy::primitives::U256| u128::try_from(v).unwrap_or(u128::MAX);
    Ok(Observed {
        wallets: accounts.iter().map(|a| (a.eth, a.tokens)).collect(),
        open_channels: to(adj
            .openChannels()
            .call()
            .await
            .map_err(err("openChannels"))?),
        open_ledgers: to(adj.openLedgers().call().await.map_err(err("openLedgers"))?),
        closed_channels: to(adj
            .closedChannels()
            .call()
            .await
            .map_err(err("closedChannels"))?),
        closed_ledgers: to(adj
            .closedLedgers()
            .call()
            .await
            .map_err(err("closedLedgers"))?),
        holdings: to(adj.holdings().call().await.map_err(err("holdings"))?),
    })
}
