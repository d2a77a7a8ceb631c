//! Gas per transaction shape, estimated on the target chain at setup: `eth_estimateGas` from
//! the funder for each shape loadrun sends (to fresh addresses, the costliest case), once, with
//! headroom (`gas::with_headroom`). A shape that cannot be estimated keeps the anvil-measured
//! fallback raised by the chain's per-transaction overhead, and a warning says so.

use alloy::primitives::{Address, B256, Bytes, U256, keccak256};
use alloy::providers::Provider;
use alloy::rpc::types::TransactionRequest;
use alloy::sol_types::SolCall;

use super::Chain;
use super::contracts::{Adjudicator, Contracts, Disperse, Token};
use super::gas::{GasTable, with_headroom};

/// A limit for a shape whose cost does not vary (a Disperse to fresh recipients): 3 % margin.
fn tight(estimate: u64) -> u64 {
    estimate.saturating_add(estimate / 33)
}

/// An address nobody holds a key for and nothing was ever sent to: the worst case for storage.
fn fresh(i: u8) -> Address {
    Address::from_slice(&keccak256([b"loadrun/gas-probe/".as_slice(), &[i]].concat())[12..])
}

async fn estimate(chain: &Chain, to: Address, value: u128, input: Vec<u8>) -> Result<u64, String> {
    let request = TransactionRequest::default()
        .from(chain.funder.address())
        .to(to)
        .value(U256::from(value))
        .input(Bytes::from(input).into());
    chain.provider.estimate_gas(request).await.map_err(|e| {
        let m = e
            .to_string()
            .replace(&chain.url, &super::redact_url(&chain.url));
        m.split_whitespace().take(40).collect::<Vec<_>>().join(" ")
    })
}

/// The plain transfer's estimate (no contract needed); `None` (with a warning) if the node
/// cannot estimate at all.
pub async fn transfer(chain: &Chain) -> Option<u64> {
    match estimate(chain, fresh(0), 1, Vec::new()).await {
        Ok(g) => Some(g),
        Err(e) => {
            tracing::warn!(
                "could not estimate a plain transfer's gas ({e}); using the fallback gas limits measured on anvil"
            );
            None
        }
    }
}

/// Every shape's limit. Contract shapes are estimated only when `deployed` (the contracts are
/// on chain); before that, the fallback raised by the transfer's overhead stands in.
pub async fn table(chain: &Chain, c: &Contracts, deployed: bool) -> GasTable {
    let base = GasTable::fallback_on(transfer(chain).await.unwrap_or(21_000));
    if !deployed {
        return base;
    }
    let mut failed = Vec::new();
    let ContractLimits {
        token_transfer,
        approve,
        open,
    } = contract_limits(chain, c, &base, &mut failed).await;
    let d = disperse_limits(chain, c, &base, token_transfer, &mut failed).await;
    if !failed.is_empty() {
        tracing::warn!(
            "could not estimate the gas of: {}; using the fallback limits measured on anvil for those",
            failed.join(", ")
        );
    }
    let t = GasTable {
        token_transfer,
        approve,
        open,
        disperse_base: d.base,
        disperse_per_eth: d.per_eth,
        disperse_per_tokens: d.per_tokens,
        ..base
    };
    tracing::info!(
        ?t,
        "gas limits per transaction shape, estimated on this chain"
    );
    t
}

/// The limits of the shapes that call loadrun's Token and Adjudicator.
struct ContractLimits {
    token_transfer: u64,
    approve: u64,
    open: u64,
}

/// The Token's transfer and approve and the Adjudicator's open, each estimated (a failure
/// noted in `failed`, its fallback kept).
async fn contract_limits(
    chain: &Chain,
    c: &Contracts,
    base: &GasTable,
    failed: &mut Vec<String>,
) -> ContractLimits {
    let token_transfer = limit(
        failed,
        "token transfer",
        estimate(
            chain,
            c.token,
            0,
            Token::transferCall {
                to: fresh(1),
                value: U256::from(1),
            }
            .abi_encode(),
        )
        .await,
        base.token_transfer,
    );
    let approve = limit(
        failed,
        "approve",
        estimate(
            chain,
            c.token,
            0,
            Token::approveCall {
                spender: fresh(2),
                value: U256::MAX,
            }
            .abi_encode(),
        )
        .await,
        base.approve,
    );
    let open = limit(
        failed,
        "channel open",
        estimate(
            chain,
            c.adjudicator,
            1,
            Adjudicator::openCall {
                peer: fresh(3),
                salt: B256::from(keccak256(b"loadrun/gas-probe/salt")),
                ledger: true,
            }
            .abi_encode(),
        )
        .await,
        base.open,
    );
    ContractLimits {
        token_transfer,
        approve,
        open,
    }
}

/// A shape's limit: its estimate with headroom, or (noted in `failed` as `name`) the fallback.
fn limit(failed: &mut Vec<String>, name: &str, r: Result<u64, String>, fallback: u64) -> u64 {
    match r {
        Ok(g) => with_headroom(g),
        Err(e) => {
            failed.push(format!("{name} ({})", e));
            fallback
        }
    }
}

/// A Disperse of 1 wei (and 1 token unit) to each of `n` fresh recipients. With tokens it
/// needs the funder's allowance to Disperse (given at set-up when a scenario funds tokens);
/// without one the estimate fails and the conservative derivation stands.
async fn disperse(chain: &Chain, c: &Contracts, n: u8, tokens: bool) -> Result<u64, String> {
    let first = if tokens { 40 } else { 10 };
    let recipients: Vec<Address> = (0..n).map(|i| fresh(first + i)).collect();
    let amounts = vec![U256::from(1); usize::from(n)];
    let input = if tokens {
        Disperse::disperseCall {
            recipients,
            ethAmounts: amounts.clone(),
            token: c.token,
            tokenAmounts: amounts,
        }
        .abi_encode()
    } else {
        Disperse::disperseEtherCall {
            recipients,
            amounts,
        }
        .abi_encode()
    };
    estimate(chain, c.disperse, u128::from(n), input).await
}

/// A Disperse's limits: the base, and what each recipient of ETH and of tokens adds.
struct DisperseLimits {
    base: u64,
    per_eth: u64,
    per_tokens: u64,
}

/// The Disperse limits: derived from the ETH-only estimates for 1 and 5 recipients (a failure
/// noted in `failed`), then measured tightly when the token estimates work too.
async fn disperse_limits(
    chain: &Chain,
    c: &Contracts,
    base: &GasTable,
    token_transfer: u64,
    failed: &mut Vec<String>,
) -> DisperseLimits {
    let (one, five) = (
        disperse(chain, c, 1, false).await,
        disperse(chain, c, 5, false).await,
    );
    let mut d = DisperseLimits {
        base: base.disperse_base,
        per_eth: base.disperse_per_eth,
        per_tokens: base.disperse_per_tokens,
    };
    match (one.clone(), five.clone()) {
        (Ok(one), Ok(five)) if five > one => {
            let per = (five - one) / 4;
            d.per_eth = with_headroom(per);
            d.base = with_headroom(one.saturating_sub(per));
            // A token payout adds a transferFrom to a new holder: what a token transfer costs
            // beyond the bare transaction, plus the call into the token.
            let raw_token = token_transfer.saturating_mul(4) / 5;
            d.per_tokens = with_headroom(per + raw_token.saturating_sub(21_000) + 10_000);
        }
        (Err(e), _) | (_, Err(e)) => failed.push(format!("Disperse ({})", e)),
        _ => failed.push("Disperse (estimates did not grow with recipients)".into()),
    }
    // A Disperse to fresh recipients costs the same per recipient every time (the probe's
    // amounts have fewer non-zero calldata bytes than real ones: a few hundred gas per
    // recipient, inside the margin). Tight limits matter: blocks are packed by gas limit, and
    // the funding of thousands of wallets is a block-filling burst.
    match (
        one,
        five,
        disperse(chain, c, 1, true).await,
        disperse(chain, c, 5, true).await,
    ) {
        (Ok(e1), Ok(e5), Ok(t1), Ok(t5)) if e5 > e1 && t5 > t1 => {
            let (per_eth, per_tok) = ((e5 - e1) / 4, (t5 - t1) / 4);
            d.per_eth = tight(per_eth);
            d.per_tokens = tight(per_tok);
            d.base = tight(t1.saturating_sub(per_tok).max(e1.saturating_sub(per_eth)));
            tracing::debug!(per_eth, per_tok, "Disperse measured per recipient");
        }
        (.., Err(e), _) | (.., Err(e)) => {
            tracing::debug!("Disperse with tokens not estimated ({e}); per-recipient limit derived")
        }
        _ => {}
    }
    d
}
