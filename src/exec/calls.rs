//! `call` workloads made ready to send: each one's input encoded and its gas estimated once,
//! before the plan runs.

use std::sync::Arc;

use alloy::primitives::{Address, Bytes};
use alloy::providers::Provider;

use crate::chain::Chain;
use crate::chain::contracts::Contracts;
use crate::plan::Plan;
use crate::scenario::{Scenario, WorkloadKind};
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
        let request = alloy::rpc::types::TransactionRequest::default()
            .from(from)
            .to(to)
            .value(alloy::primitives::U256::from(c.value))
            .input(input.clone().into());
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
        }));
    }
    out
}
