//! `call` workloads made ready to send: each one's input encoded and its gas estimated once,
//! before the plan runs.

use std::sync::Arc;

use alloy::eips::eip2930::{AccessList, AccessListItem};
use alloy::primitives::{Address, B256, Bytes};
use alloy::providers::Provider;

use crate::chain::Chain;
use crate::chain::contracts::Contracts;
use crate::plan::Plan;
use crate::scenario::{AccessListSpec, Scenario, WorkloadKind};
use crate::wallets::Wallet;

/// A `call` workload ready to send.
#[derive(Debug, Clone)]
pub struct EncodedCall {
    pub to: Address,
    pub input: Bytes,
    /// `eth_estimateGas` from the workload's first wallet + 20 %, or the table's `call_default` when the
    /// estimate fails (the call would revert: its steps then fail as `reverted`, honestly).
    pub gas_limit: u64,
    /// A templated workload: each step's input is encoded from its planned arguments.
    /// (parsed once: it is used for every step).
    pub per_step: Option<Arc<alloy::json_abi::Function>>,
    /// The workload's access list (given, or the node's for its first call).
    pub access_list: Option<Arc<AccessList>>,
    /// `to = "self"`: each call goes to its own sender (a delegated wallet), not `to`.
    pub to_sender: bool,
}

/// Each `call` workload encoded (validated at load time, so encoding cannot fail here except for
/// a bug, which then fails only that workload's steps) and its gas estimated once.
pub async fn encode_calls(
    scenario: &Scenario,
    plan: &Plan,
    contracts: Contracts,
    chain: &Chain,
    wallets: &[Wallet],
) -> Vec<Option<EncodedCall>> {
    let mut out = Vec::with_capacity(scenario.workloads.len());
    for w in &scenario.workloads {
        let WorkloadKind::Call(c) = &w.kind else {
            out.push(None);
            continue;
        };
        let to = contracts.resolve(scenario, &c.to);
        // A templated workload's gas is estimated on its first planned call's arguments.
        let first_step = plan
            .steps
            .iter()
            .position(|s| usize::from(s.workload) == w.index);
        let first = first_step.and_then(|i| plan.call_args(i));
        let input = match &first {
            Some(a) => c.input_for(&a.iter().map(String::as_str).collect::<Vec<_>>()),
            None => c.input(),
        };
        let Some(input) = input.map(Bytes::from) else {
            out.push(None);
            continue;
        };
        // The first planned call's sender (its arguments may depend on who sends).
        let sender = first_step.map(|i| plan.steps[i].actor);
        let from = wallets
            .iter()
            .find(|x| sender.map_or(x.at.role == c.from, |a| x.at == a))
            .map(|x| x.address)
            .unwrap_or_default();
        let to_sender = c.to == crate::scenario::CallTarget::Sender;
        let to = if to_sender { from } else { to };
        let mut request = alloy::rpc::types::TransactionRequest::default()
            .from(from)
            .to(to)
            .value(alloy::primitives::U256::from(c.value))
            .input(input.clone().into());
        let access_list = access_list(scenario, contracts, chain, w.index, c, &request).await;
        if let Some(list) = &access_list {
            request = request.access_list((**list).clone());
        }
        let gas_limit = match chain.provider.estimate_gas(request).await {
            Ok(g) => g + g / 5,
            Err(e) => {
                tracing::warn!(
                    workload = w.index,
                    "gas estimate of {} failed ({e}); using {}",
                    c.signature,
                    chain.gas.call_default
                );
                chain.gas.call_default
            }
        };
        out.push(Some(EncodedCall {
            to,
            input,
            gas_limit,
            per_step: c.templated().then(|| c.function().map(Arc::new)).flatten(),
            access_list,
            to_sender,
        }));
    }
    out
}

/// A call workload's access list: the given entries, or (`"auto"`) the node's answer to
/// eth_createAccessList for its first call; `None` (with a warning) when the node gives none.
async fn access_list(
    scenario: &Scenario,
    contracts: Contracts,
    chain: &Chain,
    workload: usize,
    c: &crate::scenario::CallWorkload,
    request: &alloy::rpc::types::TransactionRequest,
) -> Option<Arc<AccessList>> {
    match &c.access_list {
        AccessListSpec::None => None,
        AccessListSpec::Given(items) => Some(Arc::new(AccessList(
            items
                .iter()
                .map(|(t, slots)| AccessListItem {
                    address: contracts.resolve(scenario, t),
                    storage_keys: slots.iter().map(|k| B256::from(*k)).collect(),
                })
                .collect(),
        ))),
        AccessListSpec::Auto => match chain.provider.create_access_list(request).await {
            Ok(r) if r.error.is_none() => {
                tracing::info!(
                    workload,
                    "access list of {} from the node: {} address(es), {} slot(s)",
                    c.signature,
                    r.access_list.0.len(),
                    r.access_list
                        .0
                        .iter()
                        .map(|i| i.storage_keys.len())
                        .sum::<usize>()
                );
                Some(Arc::new(r.access_list))
            }
            Ok(r) => {
                let e = r.error.unwrap_or_default();
                tracing::warn!(
                    workload,
                    "eth_createAccessList for {} failed ({e}); its calls carry no access list",
                    c.signature
                );
                None
            }
            Err(e) => {
                tracing::warn!(
                    workload,
                    "eth_createAccessList for {} failed ({e}); its calls carry no access list",
                    c.signature
                );
                None
            }
        },
    }
}
