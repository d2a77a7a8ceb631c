//! The set-up phase every chain command shares after connecting (`chain::connect`): check that
//! `[funding]` covers the plan and that the funder can pay everything, deploy (reusing what is
//! there), and fund the wallets (idempotent top-up). Nothing is sent before every check passed.

use alloy::primitives::U256;

use crate::chain::contracts::{self, Contracts};
use crate::chain::tx::{self, Fees, Nonces};
use crate::chain::{Chain, estimate, guard};
use crate::error::Error;
use crate::exec::fund::{self, Outcome};
use crate::fund::{Need, shortest, wallet_spend};
use crate::model::gas::GasTable;
use crate::plan::Plan;
use crate::scenario::units::{format_amount, format_scaled, format_tokens, format_wei};
use crate::scenario::{FundingStrategy, Scenario};
use crate::wallets::Wallet;

/// What the funding phase did.
#[derive(Debug, Clone)]
pub struct Funded {
    pub contracts: Contracts,
    /// `[contracts]`: (name, address, deployed by this call).
    pub user: Vec<(String, alloy::primitives::Address, bool)>,
    pub fees: Fees,
    pub deploys: usize,
    pub outcome: Outcome,
    /// Each blob workload's cap per unit of blob gas (`blobs::blob_fee_caps`), read once here:
    /// the funding check and the run's blob transactions use the same caps.
    pub blob_caps: Vec<u128>,
}

/// Checks, deploys and funds. `plan` sizes the check that each wallet's `[funding].eth` and
/// `tokens` cover what it will spend (values + gas at the current max fee).
pub async fn fund(
    chain: &mut Chain,
    scenario: &Scenario,
    plan: Option<&Plan>,
    wallets: &[Wallet],
) -> Result<Funded, Error> {
    let fees = tx::fees(&chain.provider, chain.caps).await?;
    let blob_caps = crate::exec::blobs::blob_fee_caps(scenario, chain).await?;
    let f = &scenario.funding;
    let contracts = contracts::addresses(chain.funder.address());
    crate::exec::delegate::check_receivable(chain, scenario, wallets, &contracts).await?;
    // Contracts already on chain (an earlier run): estimate every shape's gas before any check.
    let deployed = contracts::deploy_cost(chain, fees.max_fee_per_gas).await? == 0;
    if deployed {
        chain.gas = estimate::table(chain, &contracts, true).await;
    }
    if let Some(plan) = plan {
        check_spend(plan, scenario, fees, &chain.gas, &blob_caps)?;
    }
    let need = Need {
        eth: f.eth,
        tokens: f.tokens,
    };
    let flat = f.strategy == FundingStrategy::Flat;
    let snapshot = fund::prepare(chain, &contracts, wallets, need, f.fanout as usize).await?;
    // Our own funding fills blocks and raises the base fee: cap fees for as many blocks as
    // the funding needs, so no transaction of a later block is priced out.
    let floor = snapshot.floor_blocks(&snapshot.plan(need, flat, fees));
    let fees = fees.with_headroom(floor);
    let funding = snapshot.plan(need, flat, fees);
    let deploy_wei = contracts::deploy_cost(chain, fees.max_fee_per_gas).await?;
    let bill = guard::bill(
        funding.funder_eth + deploy_wei,
        funding.funder_tokens,
        0,
        fees.max_fee_per_gas,
    );
    // Tokens come from the funder's supply, minted at deploy: before the deploy, check the
    // supply it will mint; after, the funder's balance.
    let token = (deploy_wei == 0).then_some(contracts.token);
    if token.is_none() && U256::from(bill.tokens) > contracts::token_supply() {
        return Err(Error::Underfunded {
            key: "tokens",
            message: format!(
                "× wallets needs {} tokens but the Token mints {} to the funder",
                format_scaled(bill.tokens, 18),
                contracts::token_supply() / U256::from(10u64).pow(U256::from(18u64))
            ),
            help: "lower [funding].tokens or the number of wallets".into(),
        });
    }
    guard::check_funder(chain, bill, token).await?;
    let mut nonces = Nonces::default();
    let deployment = contracts::ensure_deployed(chain, &mut nonces).await?;
    // The funder's allowance to Disperse (funding would give it in its first level anyway)
    // lets the token Disperse be estimated exactly.
    let approved = need.tokens > 0 && approve_disperse(chain, &contracts, &mut nonces).await?;
    let user = contracts::ensure_user(chain, &scenario.contracts, &mut nonces).await?;
    // A fresh user contract moved the funder's nonce too.
    let (funding, accounts) = if deployment.sent > 0 || approved || user.iter().any(|u| u.2) {
        tracing::info!(
            sent = deployment.sent,
            gas = deployment.gas_used,
            "deployed contracts"
        );
        // Now the contract shapes can be estimated; the funder's nonce moved too.
        chain.gas = estimate::table(chain, &contracts, true).await;
        if let Some(plan) = plan {
            check_spend(plan, scenario, fees, &chain.gas, &blob_caps)?;
        }
        let again = fund::prepare(chain, &contracts, wallets, need, f.fanout as usize).await?;
        (again.plan(need, flat, fees), again.accounts)
    } else {
        (funding, snapshot.accounts)
    };
    let outcome = fund::execute(chain, &contracts, wallets, &funding, &accounts, fees).await?;
    Ok(Funded {
        contracts,
        user,
        fees,
        deploys: deployment.sent,
        outcome,
        blob_caps,
    })
}

/// For a run of part of the plan (`--shard`, `--role`), which must not fund (the other parts
/// run at the same time): checks that the contracts are deployed and that every wallet acting in
/// `steps` holds what the plan makes it spend (values + gas at the current max fee). Sends
/// nothing. A miss is exit 3 naming `loadrun fund`.
pub async fn check_funded(
    chain: &mut Chain,
    scenario: &Scenario,
    plan: &Plan,
    wallets: &[Wallet],
    steps: &[usize],
    file: &str,
) -> Result<Funded, Error> {
    let fees = tx::fees(&chain.provider, chain.caps).await?;
    let contracts = contracts::addresses(chain.funder.address());
    let missing = |what: String| crate::chain::ChainError::NotFunded {
        what,
        scenario: file.to_string(),
    };
    if contracts::deploy_cost(chain, fees.max_fee_per_gas).await? > 0 {
        return Err(missing(
            "the contracts (Token, Disperse, Adjudicator) are not deployed on this chain".into(),
        )
        .into());
    }
    let mut user = Vec::new();
    for s in &scenario.contracts {
        let at = alloy::primitives::Address::from(s.address);
        let code = alloy::providers::Provider::get_code_at(&chain.provider, at)
            .await
            .map_err(|e| crate::chain::ChainError::rpc(format!("code at {at}"), e))?;
        if code.is_empty() {
            return Err(missing(format!("[contracts.{}] is not deployed at {at}", s.name)).into());
        }
        user.push((s.name.clone(), at, false));
    }
    chain.gas = estimate::table(chain, &contracts, true).await;
    // [funding] itself too small for the plan: funding again would not help (exit 2).
    let blob_caps = crate::exec::blobs::blob_fee_caps(scenario, chain).await?;
    check_spend(plan, scenario, fees, &chain.gas, &blob_caps)?;
    let spend = wallet_spend(plan, fees.max_fee_per_gas, &chain.gas, &blob_caps);
    let mut acting: Vec<crate::plan::WalletRef> =
        steps.iter().map(|&i| plan.steps[i].actor).collect();
    acting.sort();
    acting.dedup();
    let dir = crate::wallets::Directory::new(scenario);
    let addresses: Vec<_> = acting
        .iter()
        .map(|w| wallets[dir.index(*w)].address)
        .collect();
    let held = crate::chain::read::accounts(
        &chain.provider,
        &addresses,
        Some((contracts.token, contracts.disperse)),
    )
    .await?;
    let short: Vec<String> = acting
        .iter()
        .zip(&held)
        .filter_map(|(w, a)| {
            let s = spend.get(w).copied().unwrap_or_default();
            (a.eth < s.eth || a.tokens < s.tokens).then(|| {
                format!(
                    "{}:{} holds {} and {} tokens, needs up to {} and {} tokens",
                    scenario.role_name(w.role),
                    w.index,
                    format_wei(a.eth),
                    format_scaled(a.tokens, 18),
                    format_wei(s.eth),
                    format_scaled(s.tokens, 18)
                )
            })
        })
        .collect();
    if let Some(first) = short.first() {
        return Err(missing(format!(
            "{} of the {} wallets this part sends from are not funded for the plan (e.g. {first})",
            short.len(),
            acting.len()
        ))
        .into());
    }
    Ok(Funded {
        contracts,
        user,
        fees,
        deploys: 0,
        blob_caps,
        outcome: Outcome {
            wallets: acting.len(),
            ..Outcome::default()
        },
    })
}

/// Approves Disperse for the funder's tokens unless it already is; true when it sent the approve.
async fn approve_disperse(
    chain: &Chain,
    contracts: &Contracts,
    nonces: &mut Nonces,
) -> Result<bool, Error> {
    let funder = chain.funder.address();
    let a = crate::chain::read::accounts(
        &chain.provider,
        &[funder],
        Some((contracts.token, contracts.disperse)),
    )
    .await?;
    if a.first().is_none_or(|a| a.approved) {
        return Ok(false);
    }
    let input = contracts::Token::approveCall {
        spender: contracts.disperse,
        value: U256::MAX,
    };
    let call = tx::Call {
        access_list: None,
        blob: None,
        to: Some(contracts.token),
        value: U256::ZERO,
        input: alloy::sol_types::SolCall::abi_encode(&input).into(),
        gas_limit: chain.gas.approve,
    };
    tx::send_and_wait(
        &chain.provider,
        (chain.chain_id, chain.caps),
        &chain.funder,
        nonces,
        &call,
        "the funder's approval of Disperse",
    )
    .await?;
    Ok(true)
}

/// That each wallet's `[funding].eth` and `tokens` cover what the plan makes it spend (values +
/// gas limits at the current max fee).
fn check_spend(
    plan: &Plan,
    scenario: &Scenario,
    fees: tx::Fees,
    gas: &GasTable,
    blob_caps: &[u128],
) -> Result<(), Error> {
    let f = &scenario.funding;
    let mut spend = wallet_spend(plan, fees.max_fee_per_gas, gas, blob_caps);
    // A `[[delegate]]` wallet also pays its delegation transaction (at most once).
    for d in &scenario.delegations {
        for index in 0..scenario.roles[usize::from(d.role)].wallets {
            let w = crate::plan::WalletRef {
                role: d.role,
                index,
            };
            spend.entry(w).or_default().eth +=
                u128::from(crate::chain::setcode::DELEGATION_GAS) * fees.max_fee_per_gas;
        }
    }
    let Some((w, s)) = shortest(&spend, f.eth, f.tokens) else {
        return Ok(());
    };
    let role = &plan.roles[usize::from(w.role)];
    let key = if s.eth > f.eth { "eth" } else { "tokens" };
    Err(Error::Underfunded {
        key,
        message: format!(
            "does not cover the plan: wallet {role}:{} will spend up to {} and {} tokens (values + gas at {} per gas), but each wallet gets {} and {} tokens",
            w.index,
            format_wei(s.eth),
            format_scaled(s.tokens, 18),
            format_wei(fees.max_fee_per_gas),
            format_wei(f.eth),
            format_scaled(f.tokens, 18),
        ),
        help: if key == "eth" {
            format!("raise [funding].eth to at least \"{}\"", format_wei(s.eth))
        } else {
            format!(
                "raise [funding].tokens to at least \"{}\"",
                format_scaled(s.tokens, 18)
            )
        },
    })
}

/// The one-line summary of a funding or sweep.
pub fn describe(what: &str, o: &Outcome) -> String {
    if o.txs == 0 {
        return format!(
            "{what}: {} wallets already settled, 0 transactions sent",
            o.wallets
        );
    }
    format!(
        "{what}: {} wallets, {} txs in {} levels, {} blocks{}, {:.2} s, moved {} and {} tokens, gas {} ({} in fees)",
        o.wallets,
        o.txs,
        o.levels,
        o.blocks,
        match (o.first_block, o.last_block) {
            (Some(a), Some(b)) => format!(" (#{a}..#{b})"),
            _ => String::new(),
        },
        o.seconds,
        format_amount(o.eth_moved),
        format_tokens(o.tokens_moved),
        o.gas_used,
        format_amount(o.fees_paid),
    )
}
