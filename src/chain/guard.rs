//! Guards that run before any transaction: the chain id must be allowed, and the funder must be
//! able to pay the whole bill (funding + gas at current fees + a margin).

use alloy::primitives::{Address, U256};
use alloy::providers::Provider;

use super::contracts::Token;
use super::{Chain, ChainError};
use crate::scenario::units::format_wei;

/// Safety margin on every estimate: fees can rise between the check and the send.
pub const MARGIN_PERCENT: u128 = 20;

pub fn check_chain_id(id: u64, allowed: &[u64]) -> Result<(), ChainError> {
    if allowed.contains(&id) {
        Ok(())
    } else {
        Err(ChainError::ChainNotAllowed {
            id,
            allowed: allowed.to_vec(),
        })
    }
}

/// What the funder must hold before anything is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bill {
    /// Wei: funding sent + the funder's own gas (funding and deploys), with the margin.
    pub eth: u128,
    /// Token units the funder sends.
    pub tokens: u128,
}

/// The bill for sending `funder_eth` (value + own funding gas at max fee) and deploying with
/// `deploy_gas`, with `MARGIN_PERCENT` on top.
pub fn bill(funder_eth: u128, funder_tokens: u128, deploy_gas: u64, max_fee_per_gas: u128) -> Bill {
    let base = funder_eth + u128::from(deploy_gas) * max_fee_per_gas;
    Bill {
        eth: base + base * MARGIN_PERCENT / 100,
        tokens: funder_tokens,
    }
}

/// Refuses (exit 3) when the funder's balance is below the bill; reads only, sends nothing.
pub async fn check_funder(
    chain: &Chain,
    bill: Bill,
    token: Option<Address>,
) -> Result<(), ChainError> {
    let funder = chain.funder.address();
    let has = chain
        .provider
        .get_balance(funder)
        .await
        .map_err(|e| ChainError::rpc("funder balance", e))?;
    let has = u128::try_from(has).unwrap_or(u128::MAX);
    if has < bill.eth {
        return Err(ChainError::FunderTooPoor {
            funder,
            needs: format_wei(bill.eth),
            has: format_wei(has),
            short: format_wei(bill.eth - has),
            help: format!(
                "send at least {} to {funder}, or lower [funding].eth or the number of wallets",
                format_wei(bill.eth - has)
            ),
        });
    }
    if let Some(token) = token.filter(|_| bill.tokens > 0) {
        let t = Token::new(token, &chain.provider);
        let held = t
            .balanceOf(funder)
            .call()
            .await
            .map_err(|e| ChainError::rpc("funder token balance", e))?;
        if held < U256::from(bill.tokens) {
            return Err(ChainError::FunderTooFewTokens {
                funder,
                held: held.to_string(),
                token,
                needs: bill.tokens.to_string(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_ids() {
        assert!(check_chain_id(31337, &[31337, 1337]).is_ok());
        let e = check_chain_id(1, &[31337, 1337]).unwrap_err().to_string();
        assert!(
            e.contains("chain id 1 is not allowed") && e.contains("allow_chain_ids"),
            "{e}"
        );
    }

    #[test]
    fn bill_adds_gas_and_margin() {
        let b = bill(1_000, 7, 10, 5);
        assert_eq!(b.eth, (1_000 + 50) * 120 / 100);
        assert_eq!(b.tokens, 7);
    }
}
