//! `[[setup]]` on the chain: after funding and before the schedule, each setup call once per
//! wallet of its role (in a part, only the part's wallets), signed by that wallet; a wallet
//! whose `unless` view is already met is skipped, so a re-run does not repeat it. Not steps:
//! counted in the setup line and run.toml.

use std::time::Duration;

use alloy::primitives::{Address, U256};
use alloy::providers::Provider;

use crate::chain::contracts::Contracts;
use crate::chain::tx::{Call, Nonces, ReceiptWatch, fees, send_once, sign};
use crate::chain::{Chain, ChainError};
use crate::plan::WalletRef;
use crate::plan::args::{Args, Resolver};
use crate::plan::rng::{Purpose, stream};
use crate::scenario::template::ArgSpec;
use crate::scenario::{Scenario, SetupCall, Unless};
use crate::wallets::{Directory, Wallet};

/// What the setup did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SetupOutcome {
    pub sent: usize,
    pub skipped: usize,
    pub gas_used: u64,
}

/// Whether the wallet's `unless` view is met.
async fn done(chain: &Chain, to: Address, u: &Unless, me: Address) -> Result<bool, String> {
    let args: Vec<String> = u
        .args
        .iter()
        .map(|a| match a {
            ArgSpec::Sender => me.to_checksum(None),
            ArgSpec::Literal(l) => l.clone(),
            _ => String::new(),
        })
        .collect();
    let (f, got) = crate::chain::views::call(chain, to, &u.call, &args).await?;
    let ty = f.outputs[0].selector_type();
    let want = crate::scenario::coerce_arg(&ty, &u.value).ok_or("bad bound")?;
    Ok(match crate::chain::views::compare(&got, &want) {
        Some(std::cmp::Ordering::Equal) => true,
        Some(std::cmp::Ordering::Greater) => u.at_least,
        _ => false,
    })
}

/// Runs every `[[setup]]` for the wallets `mine` accepts.
pub async fn run(
    chain: &Chain,
    scenario: &Scenario,
    (seed, wallets): (u64, &[Wallet]),
    contracts: &Contracts,
    mine: impl Fn(WalletRef) -> bool,
) -> Result<SetupOutcome, ChainError> {
    let mut outcome = SetupOutcome::default();
    if scenario.setup.is_empty() {
        return Ok(outcome);
    }
    let p = &chain.provider;
    let roles: Vec<String> = scenario.roles.iter().map(|r| r.name.clone()).collect();
    let counts: Vec<u32> = scenario.roles.iter().map(|r| r.wallets).collect();
    let mut resolver = Resolver::new(seed, &roles, &counts);
    let dir = Directory::new(scenario);
    let fees = fees(p, chain.caps).await?;
    let mut nonces = Nonces::default();
    // One entry at a time: a later one may need an earlier one done (approve, then deposit).
    for (i, SetupCall { call: c, unless }) in scenario.setup.iter().enumerate() {
        let mut watch = ReceiptWatch::start(p, chain.caps).await?;
        let mut sent = Vec::new();
        let mut what = Vec::new();
        let to = contracts.resolve(scenario, &c.to);
        // Its own stream, after every workload's.
        let mut draw = stream(seed, crate::scenario::MAX_WORKLOADS + i, Purpose::Args);
        let mut args = Args::new(c.arg_specs.len());
        for index in 0..counts[usize::from(c.from)] {
            let at = WalletRef {
                role: c.from,
                index,
            };
            resolver.push(&mut args, &c.arg_specs, (at, c.peers), &mut draw);
            if !mine(at) {
                continue;
            }
            let w = &wallets[dir.index(at)];
            // `to = "self"`: the wallet calls itself (a delegated wallet's code).
            let to = if c.to == crate::scenario::CallTarget::Sender {
                w.address
            } else {
                to
            };
            let label = format!("setup[{i}] from {}:{index}", roles[usize::from(c.from)]);
            if let Some(u) = unless
                && done(chain, to, u, w.address)
                    .await
                    .map_err(|e| ChainError::Setup {
                        label: label.clone(),
                        why: format!("its `unless` view failed: {e}"),
                    })?
            {
                outcome.skipped += 1;
                continue;
            }
            let values = args.of(index as usize, 0);
            let refs: Vec<&str> = values.iter().map(String::as_str).collect();
            let input = c.input_for(&refs).ok_or_else(|| ChainError::Setup {
                label: label.clone(),
                why: format!("cannot encode {}({})", c.signature, refs.join(", ")),
            })?;
            let request = alloy::rpc::types::TransactionRequest::default()
                .from(w.address)
                .to(to)
                .value(U256::from(c.value))
                .input(alloy::primitives::Bytes::from(input.clone()).into());
            let gas = p.estimate_gas(request).await.map_err(|e| {
                ChainError::Setup {
                    label: label.clone(),
                    why: format!(
                        "{}({}) would fail ({e})\n  help: check its arguments, and that funding covers its value",
                        c.signature,
                        refs.join(", ")
                    ),
                }
            })?;
            let tx = Call {
                access_list: None,
                blob: None,
                to: Some(to),
                value: U256::from(c.value),
                input: input.into(),
                gas_limit: gas + gas / 5,
            };
            let nonce = nonces.next(p, w.address).await?;
            let (hash, raw) = sign(w.signer(), chain.chain_id, nonce, fees, &tx)?;
            send_once(p, hash, &raw)
                .await
                .map_err(|e| ChainError::rpc(label.clone(), e.message()))?;
            sent.push((hash, raw));
            what.push(label);
        }
        // A minute, plus a second per 10 calls (a large role's setup spans blocks).
        let timeout = Duration::from_secs(60 + sent.len() as u64 / 10);
        let receipts = watch.wait_rebroadcasting(p, &sent, timeout).await?;
        outcome.gas_used += settled(&sent, &what, &receipts, timeout)?;
        outcome.sent += sent.len();
    }
    Ok(outcome)
}

/// The gas the setup calls `sent` (labelled by `what`) used, once each has its receipt; an
/// error for the first that reverted or has none within `timeout`.
pub(crate) fn settled(
    sent: &[(alloy::primitives::B256, alloy::primitives::Bytes)],
    what: &[String],
    receipts: &std::collections::HashMap<
        alloy::primitives::B256,
        alloy::rpc::types::TransactionReceipt,
    >,
    timeout: Duration,
) -> Result<u64, ChainError> {
    let mut gas = 0;
    for ((hash, _), label) in sent.iter().zip(what) {
        match receipts.get(hash) {
            Some(r) if r.status() => gas += r.gas_used,
            Some(_) => {
                return Err(ChainError::Reverted {
                    what: label.clone(),
                    hash: hash.to_string(),
                });
            }
            None => {
                return Err(ChainError::Setup {
                    label: label.clone(),
                    why: format!(
                        "no receipt for {hash} within {} s\n  help: the chain is slow to include the setup calls; run again (done calls are skipped when `unless` is set)",
                        timeout.as_secs()
                    ),
                });
            }
        }
    }
    Ok(gas)
}
