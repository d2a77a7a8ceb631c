//! The funding executor: reads what wallets hold, plans the top-up with the pure `FundingTree`,
//! and sends it one level at a time — every payer of a level at once, nonces counted locally,
//! receipts gathered per block — then the next level. Also `sweep`, the way back.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use alloy::eips::BlockNumberOrTag;
use alloy::primitives::{Address, B256, Bytes, U256};
use alloy::providers::Provider;
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::SolCall;

use crate::chain::contracts::{Contracts, Disperse, Token};
use crate::chain::tx::{Call, Fees, Nonces, ReceiptWatch, send_once, sign};
use crate::chain::{Chain, ChainError, read};
use crate::exec::progress;
use crate::fund::{FundingPlan, FundingTree, Holding, Need, PaymentKind, plan};
use crate::wallets::Wallet;

/// How long a level may take to be included before funding gives up.
const LEVEL_TIMEOUT: Duration = Duration::from_secs(120);
/// How long funding waits for transactions an earlier run left pending.
const PENDING_WAIT: Duration = Duration::from_secs(120);
/// What a funding (or sweep) did, for the one-line summary.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Outcome {
    pub wallets: usize,
    pub txs: usize,
    pub levels: usize,
    /// Distinct blocks that hold our transactions.
    pub blocks: usize,
    pub first_block: Option<u64>,
    pub last_block: Option<u64>,
    pub seconds: f64,
    pub eth_moved: u128,
    pub tokens_moved: u128,
    pub gas_used: u64,
    pub fees_paid: u128,
}

/// A transaction to send in a level, with what it is for (named in errors).
struct Pending {
    what: String,
    signer: PrivateKeySigner,
    call: Call,
}

/// What the chain holds before funding: the tree (capped at the block gas limit), every node's
/// holding and account state. Planning on it is pure, so it can be redone at another fee.
pub struct Snapshot {
    pub tree: FundingTree,
    pub holdings: Vec<Holding>,
    pub accounts: Vec<read::Account>,
    pub block_gas_limit: u64,
}

impl Snapshot {
    pub fn plan(&self, need: Need, flat: bool, fees: Fees) -> FundingPlan {
        plan(&self.tree, need, &self.holdings, fees.max_fee_per_gas, flat)
    }

    /// Blocks the funding needs at least: its gas over the block gas limit, plus one per level.
    pub fn floor_blocks(&self, plan: &FundingPlan) -> u64 {
        plan.gas_limit.div_ceil(self.block_gas_limit.max(1)) + plan.levels.len() as u64
    }
}

/// Reads what the funder and every wallet hold (batched), without sending.
pub async fn prepare(
    chain: &Chain,
    contracts: &Contracts,
    wallets: &[Wallet],
    need: Need,
    fanout: usize,
) -> Result<Snapshot, ChainError> {
    let mut addresses = Vec::with_capacity(wallets.len() + 1);
    addresses.push(chain.funder.address());
    addresses.extend(wallets.iter().map(|w| w.address));
    let token = (need.tokens > 0).then_some((contracts.token, contracts.disperse));
    // Balances are read at the latest block: transactions an interrupted earlier funding left
    // pending would be paid again. Wait (bounded) until none of ours is pending.
    let start = Instant::now();
    let accounts = loop {
        let accounts = read::accounts(&chain.provider, &addresses, token).await?;
        let pending: u64 = accounts
            .iter()
            .map(|a| a.nonce - a.mined_nonce.min(a.nonce))
            .sum();
        if pending == 0 {
            break accounts;
        }
        if start.elapsed() >= PENDING_WAIT {
            return Err(ChainError::StillPending {
                pending,
                secs: PENDING_WAIT.as_secs(),
            });
        }
        tracing::info!("waiting for {pending} pending transactions of an earlier run to be mined");
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    let holdings: Vec<Holding> = accounts
        .iter()
        .map(|a| Holding {
            eth: a.eth,
            tokens: a.tokens,
            approved: a.approved,
        })
        .collect();
    let block_gas_limit = chain
        .provider
        .get_block_by_number(BlockNumberOrTag::Latest)
        .await
        .map_err(|e| ChainError::rpc("latest block", e))?
        .map_or(30_000_000, |b| b.header.gas_limit);
    Ok(Snapshot {
        tree: FundingTree::new(wallets.len(), fanout)
            .with_max_tx_gas(block_gas_limit)
            .with_gas(chain.gas),
        holdings,
        accounts,
        block_gas_limit,
    })
}

/// Sends a prepared funding plan level by level.
pub async fn execute(
    chain: &Chain,
    contracts: &Contracts,
    wallets: &[Wallet],
    plan: &FundingPlan,
    accounts: &[read::Account],
    fees: Fees,
) -> Result<Outcome, ChainError> {
    let start = Instant::now();
    let n = Nodes { chain, wallets };
    let mut nonces = Nonces::default();
    for (i, a) in accounts.iter().enumerate() {
        nonces.set(n.address(i), a.nonce);
    }
    let mut out = Outcome {
        wallets: wallets.len(),
        levels: plan.levels.len(),
        ..Outcome::default()
    };
    for (level, payments) in plan.levels.iter().enumerate() {
        let mut txs = Vec::new();
        for p in payments {
            txs.extend(payment_txs(p, contracts, &n));
            out.eth_moved += p.eth();
            out.tokens_moved += p.tokens();
        }
        send_level(
            chain,
            &mut nonces,
            txs,
            fees,
            &format!("funding level {}/{}", level + 1, plan.levels.len()),
            &mut out,
        )
        .await?;
    }
    out.seconds = start.elapsed().as_secs_f64();
    Ok(out)
}

/// The funding tree's nodes: 0 is the funder, node `i` is wallet `i - 1`.
struct Nodes<'a> {
    chain: &'a Chain,
    wallets: &'a [Wallet],
}

impl Nodes<'_> {
    fn signer(&self, node: usize) -> PrivateKeySigner {
        if node == 0 {
            self.chain.funder.clone()
        } else {
            self.wallets[node - 1].signer().clone()
        }
    }

    fn address(&self, node: usize) -> Address {
        if node == 0 {
            self.chain.funder.address()
        } else {
            self.wallets[node - 1].address
        }
    }
}

/// The transactions of one payment of the tree: an approve first when the payer must allow
/// Disperse its tokens, then one Disperse call, or a transfer and a token transfer.
fn payment_txs(p: &crate::fund::Payment, contracts: &Contracts, n: &Nodes<'_>) -> Vec<Pending> {
    let chain = n.chain;
    let signer = n.signer(p.payer);
    let payer = n.address(p.payer);
    let mut txs = Vec::new();
    if p.approve {
        let input = Token::approveCall {
            spender: contracts.disperse,
            value: U256::MAX,
        }
        .abi_encode();
        txs.push(Pending {
            what: format!("approve by {payer}"),
            signer: signer.clone(),
            call: Call {
                access_list: None,
                blob: None,
                to: Some(contracts.token),
                value: U256::ZERO,
                input: input.into(),
                gas_limit: chain.gas.approve,
            },
        });
    }
    match p.kind {
        PaymentKind::Disperse => {
            let to: Vec<Address> = p.recipients.iter().map(|r| n.address(r.0)).collect();
            let eth: Vec<U256> = p.recipients.iter().map(|r| U256::from(r.1)).collect();
            let with_tokens = p.tokens() > 0;
            let tokens: Vec<U256> = if with_tokens {
                p.recipients.iter().map(|r| U256::from(r.2)).collect()
            } else {
                Vec::new()
            };
            let token = if with_tokens {
                contracts.token
            } else {
                Address::ZERO
            };
            let input = Disperse::disperseCall {
                recipients: to,
                ethAmounts: eth,
                token,
                tokenAmounts: tokens,
            }
            .abi_encode();
            txs.push(Pending {
                what: format!("disperse by {payer} to {} wallets", p.recipients.len()),
                signer: signer.clone(),
                call: Call {
                    access_list: None,
                    blob: None,
                    to: Some(contracts.disperse),
                    value: U256::from(p.eth()),
                    input: input.into(),
                    gas_limit: p.gas_limit,
                },
            });
        }
        PaymentKind::Direct => {
            let (node, eth, tokens) = p.recipients[0];
            let to = n.address(node);
            if eth > 0 {
                txs.push(Pending {
                    what: format!("transfer to {to}"),
                    signer: signer.clone(),
                    call: Call {
                        access_list: None,
                        blob: None,
                        to: Some(to),
                        value: U256::from(eth),
                        input: Bytes::new(),
                        gas_limit: chain.gas.transfer,
                    },
                });
            }
            if tokens > 0 {
                let input = Token::transferCall {
                    to,
                    value: U256::from(tokens),
                }
                .abi_encode();
                txs.push(Pending {
                    what: format!("token transfer to {to}"),
                    signer: signer.clone(),
                    call: Call {
                        access_list: None,
                        blob: None,
                        to: Some(contracts.token),
                        value: U256::ZERO,
                        input: input.into(),
                        gas_limit: chain.gas.token_transfer,
                    },
                });
            }
        }
    }
    txs
}

/// Signs and sends every transaction of a level, then waits for all receipts.
async fn send_level(
    chain: &Chain,
    nonces: &mut Nonces,
    txs: Vec<Pending>,
    fees: Fees,
    label: &str,
    out: &mut Outcome,
) -> Result<(), ChainError> {
    let p = &chain.provider;
    let bar = progress::bar(txs.len() as u64, label);
    let mut watch = ReceiptWatch::start(p, chain.caps).await?;
    let mut sent: Vec<(B256, String, Bytes)> = Vec::with_capacity(txs.len());
    for t in txs {
        let nonce = nonces.next(p, t.signer.address()).await?;
        let (hash, raw) = sign(&t.signer, chain.chain_id, nonce, fees, &t.call)?;
        send_once(p, hash, &raw)
            .await
            .map_err(|e| ChainError::Rpc {
                what: format!("{label}: {}", t.what),
                reason: e.message().to_string(),
            })?;
        sent.push((hash, t.what, raw));
    }
    let pairs: Vec<(B256, Bytes)> = sent.iter().map(|(h, _, raw)| (*h, raw.clone())).collect();
    let receipts = watch.wait_rebroadcasting(p, &pairs, LEVEL_TIMEOUT).await?;
    let mut blocks = BTreeSet::new();
    for (hash, what, _) in &sent {
        let r = receipts.get(hash).ok_or_else(|| ChainError::NotIncluded {
            what: format!("{label}: {what}"),
            hash: hash.to_string(),
            secs: LEVEL_TIMEOUT.as_secs(),
        })?;
        if !r.status() {
            return Err(ChainError::Reverted {
                what: format!("{label}: {what}"),
                hash: hash.to_string(),
            });
        }
        bar.inc(1);
        out.txs += 1;
        out.gas_used += r.gas_used;
        out.fees_paid += u128::from(r.gas_used) * r.effective_gas_price;
        if let Some(b) = r.block_number {
            blocks.insert(b);
            out.first_block = Some(out.first_block.map_or(b, |f| f.min(b)));
            out.last_block = Some(out.last_block.map_or(b, |l| l.max(b)));
        }
    }
    out.blocks += blocks.len();
    bar.finish_and_clear();
    tracing::info!(
        "{label}: {} txs included in {} blocks",
        sent.len(),
        blocks.len()
    );
    Ok(())
}

/// Returns every wallet's tokens, then its ETH minus the transfer's gas, to the funder. Tokens go
/// first and ETH is read again after them, so the ETH left behind is only the gap between the
/// max fee and the price paid. Idempotent: a wallet whose ETH beyond a transfer's gas is below
/// that gas again is dust and stays, so a second sweep sends nothing.
pub async fn sweep(
    chain: &Chain,
    contracts: &Contracts,
    wallets: &[Wallet],
    fees: Fees,
) -> Result<Outcome, ChainError> {
    let start = Instant::now();
    let addresses: Vec<Address> = wallets.iter().map(|w| w.address).collect();
    let funder = chain.funder.address();
    let mut out = Outcome {
        wallets: wallets.len(),
        ..Outcome::default()
    };
    let token_gas = u128::from(chain.gas.token_transfer) * fees.max_fee_per_gas;
    let eth_gas = u128::from(chain.gas.transfer) * fees.max_fee_per_gas;

    let accounts = read::accounts(
        &chain.provider,
        &addresses,
        Some((contracts.token, contracts.disperse)),
    )
    .await?;
    let mut nonces = Nonces::default();
    let mut txs = Vec::new();
    for (w, a) in wallets.iter().zip(&accounts) {
        nonces.set(w.address, a.nonce);
        if a.tokens > 0 && a.eth >= token_gas {
            let input = Token::transferCall {
                to: funder,
                value: U256::from(a.tokens),
            }
            .abi_encode();
            txs.push(Pending {
                what: format!("token sweep from {}", w.address),
                signer: w.signer().clone(),
                call: Call {
                    access_list: None,
                    blob: None,
                    to: Some(contracts.token),
                    value: U256::ZERO,
                    input: input.into(),
                    gas_limit: chain.gas.token_transfer,
                },
            });
            out.tokens_moved += a.tokens;
        }
    }
    if !txs.is_empty() {
        out.levels += 1;
        send_level(chain, &mut nonces, txs, fees, "sweep tokens", &mut out).await?;
    }

    let accounts = read::accounts(&chain.provider, &addresses, None).await?;
    let mut nonces = Nonces::default();
    let mut txs = Vec::new();
    for (w, a) in wallets.iter().zip(&accounts) {
        nonces.set(w.address, a.nonce);
        let left = a.eth.saturating_sub(eth_gas);
        if left >= eth_gas {
            txs.push(Pending {
                what: format!("sweep from {}", w.address),
                signer: w.signer().clone(),
                call: Call {
                    access_list: None,
                    blob: None,
                    to: Some(funder),
                    value: U256::from(left),
                    input: Bytes::new(),
                    gas_limit: chain.gas.transfer,
                },
            });
            out.eth_moved += left;
        }
    }
    if !txs.is_empty() {
        out.levels += 1;
        send_level(chain, &mut nonces, txs, fees, "sweep ETH", &mut out).await?;
    }
    out.seconds = start.elapsed().as_secs_f64();
    Ok(out)
}
