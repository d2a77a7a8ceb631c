//! `[[delegate]]` on the chain (EIP-7702): after funding and before `[[setup]]` and the
//! schedule, each wallet of the role (in a part, the part's own) sends one type-4 transaction
//! carrying its own authorization to the target contract, signed at the nonce after the
//! transaction's (the sender's nonce moves by two: the transaction's and the authorization's).
//! A wallet whose code already designates the target is skipped, so a re-run finds its
//! delegation in place and sends nothing. Each delegation is checked on chain once included:
//! an authorization the node ignored (a wrong nonce or chain id is no error on chain) fails the
//! set-up.

use std::time::Duration;

use alloy::primitives::Address;
use alloy::providers::Provider;

use crate::chain::contracts::Contracts;
use crate::chain::setcode::{designator, sign_delegation};
use crate::chain::tx::{Nonces, ReceiptWatch, fees, send_once};
use crate::chain::{Chain, ChainError};
use crate::plan::WalletRef;
use crate::scenario::Scenario;
use crate::wallets::{Directory, Wallet};

/// What the delegations did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DelegateOutcome {
    pub sent: usize,
    /// Wallets already delegated to their target.
    pub in_place: usize,
    pub gas_used: u64,
    /// One per wallet, in role and wallet order (delegations.csv).
    pub records: Vec<Record>,
}

/// A wallet's authorization: signed now (its nonce and transaction), or found in place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// `ROLE:INDEX`.
    pub wallet: String,
    pub chain_id: u64,
    pub address: Address,
    /// The authorization's nonce (`None`: the delegation was already in place).
    pub nonce: Option<u64>,
    pub tx: Option<alloy::primitives::B256>,
}

/// delegations.csv: `wallet,chain_id,address,nonce,tx_hash,status` (`sent` or `in_place`).
pub fn write_csv(records: &[Record], mut w: impl std::io::Write) -> std::io::Result<()> {
    writeln!(w, "wallet,chain_id,address,nonce,tx_hash,status")?;
    for r in records {
        writeln!(
            w,
            "{},{},{:#x},{},{},{}",
            r.wallet,
            r.chain_id,
            r.address,
            r.nonce.map(|n| n.to_string()).unwrap_or_default(),
            r.tx.map(|h| format!("{h:#x}")).unwrap_or_default(),
            if r.tx.is_some() { "sent" } else { "in_place" }
        )?;
    }
    w.flush()
}

/// Delegates every wallet `mine` accepts of each `[[delegate]]` role.
pub async fn run(
    chain: &Chain,
    scenario: &Scenario,
    wallets: &[Wallet],
    contracts: &Contracts,
    mine: impl Fn(WalletRef) -> bool,
) -> Result<DelegateOutcome, ChainError> {
    let mut outcome = DelegateOutcome::default();
    if scenario.delegations.is_empty() {
        return Ok(outcome);
    }
    let p = &chain.provider;
    let dir = Directory::new(scenario);
    let fees = fees(p, chain.caps).await?;
    let mut nonces = Nonces::default();
    let mut watch = ReceiptWatch::start(p, chain.caps).await?;
    let (mut sent, mut what, mut whom) = (Vec::new(), Vec::new(), Vec::new());
    for d in &scenario.delegations {
        let target = contracts.resolve(scenario, &d.to);
        let role = &scenario.roles[usize::from(d.role)];
        for index in 0..role.wallets {
            let at = WalletRef {
                role: d.role,
                index,
            };
            if !mine(at) {
                continue;
            }
            let w = &wallets[dir.index(at)];
            let wallet = format!("{}:{index}", role.name);
            if code_of(chain, w.address).await? == designator(target) {
                outcome.in_place += 1;
                outcome.records.push(Record {
                    wallet,
                    chain_id: chain.chain_id,
                    address: target,
                    nonce: None,
                    tx: None,
                });
                continue;
            }
            let nonce = nonces.next(p, w.address).await?;
            let (hash, raw) = sign_delegation(w.signer(), chain.chain_id, nonce, fees, target)?;
            let label = format!("delegation of {}:{index} to {target}", role.name);
            // The authorization as signed (chain id, address, nonce): the run's record of it.
            tracing::info!(
                tx = %hash,
                "authorization of {}:{index}: chain {}, address {target}, nonce {}",
                role.name,
                chain.chain_id,
                nonce + 1
            );
            send_once(p, hash, &raw)
                .await
                .map_err(|e| ChainError::rpc(label.clone(), e.message()))?;
            outcome.records.push(Record {
                wallet,
                chain_id: chain.chain_id,
                address: target,
                nonce: Some(nonce + 1),
                tx: Some(hash),
            });
            sent.push((hash, raw));
            what.push(label);
            whom.push((w.address, target));
        }
    }
    let timeout = Duration::from_secs(60 + sent.len() as u64 / 10);
    let receipts = watch.wait_rebroadcasting(p, &sent, timeout).await?;
    outcome.gas_used = super::setup_calls::settled(&sent, &what, &receipts, timeout)?;
    outcome.sent = sent.len();
    for ((address, target), label) in whom.iter().zip(&what) {
        let code = code_of(chain, *address).await?;
        if code != designator(*target) {
            return Err(ChainError::Setup {
                label: label.clone(),
                why: format!(
                    "the transaction was included but the wallet's code is 0x{} (the node did not apply the authorization)\n  help: the chain must support EIP-7702 (Prague or later)",
                    alloy::primitives::hex::encode(&code)
                ),
            });
        }
    }
    Ok(outcome)
}

/// Before funding: every wallet of a `[[delegate]]` role that is already delegated (a re-run)
/// must accept ETH, or the funding tree's top-up of it would revert (its code now runs on a
/// plain transfer). Asked of the node as a 1-wei transfer's gas estimate.
pub async fn check_receivable(
    chain: &Chain,
    scenario: &Scenario,
    wallets: &[Wallet],
    contracts: &Contracts,
) -> Result<(), ChainError> {
    let dir = Directory::new(scenario);
    for d in &scenario.delegations {
        let target = contracts.resolve(scenario, &d.to);
        let role = &scenario.roles[usize::from(d.role)];
        for index in 0..role.wallets {
            let w = &wallets[dir.index(WalletRef {
                role: d.role,
                index,
            })];
            if code_of(chain, w.address).await? != designator(target) {
                continue;
            }
            let probe = alloy::rpc::types::TransactionRequest::default()
                .from(chain.funder.address())
                .to(w.address)
                .value(alloy::primitives::U256::from(1));
            if let Err(e) = chain.provider.estimate_gas(probe).await {
                return Err(ChainError::Setup {
                    label: format!("funding {}:{index}", role.name),
                    why: format!(
                        "the wallet is delegated (EIP-7702) to {target}, whose code refuses a plain ETH transfer ({e}), so a top-up would revert\n  help: delegate to a contract that accepts ETH (a `receive()` function), or fund the wallet another way"
                    ),
                });
            }
        }
    }
    Ok(())
}

/// The code at `a` now.
pub async fn code_of(chain: &Chain, a: Address) -> Result<Vec<u8>, ChainError> {
    chain
        .provider
        .get_code_at(a)
        .await
        .map(|c| c.to_vec())
        .map_err(|e| ChainError::rpc(format!("code at {a}"), e))
}
