//! The step plan: pure, deterministic expansion of a scenario into timed steps.
//!
//! `expand(&Scenario, seed)` gives the same `Plan` for the same scenario and seed on every
//! platform. Steps are sorted by (at_ms, workload, job, kind) plus a generation counter, a
//! total order. No tokio, no RPC.

pub mod args;
pub mod arrival;
pub mod blob;
mod call;
mod channel;
pub mod load;
pub mod output;
pub mod read;
pub(crate) mod rng;
pub mod shard;
mod transfer;

pub use crate::model::{Amount, JobId, JobPrefix, RoleId, StepKind, WalletRef};
use crate::scenario::{Scenario, WorkloadKind};

/// Version of the plan's semantics and columns; bump when any plan output changes.
pub const PLAN_FORMAT_VERSION: u32 = 3;

/// A step's offset as held in the plan: validation keeps every offset within the scenario's
/// duration, at most `MAX_DURATION_MS`, so it fits.
pub(crate) fn offset(ms: u64) -> u32 {
    u32::try_from(ms).expect("validated: step offsets fit in u32 ms (scenario duration cap)")
}

/// One step of the plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// Offset from the start of execution, in milliseconds (at most
    /// `scenario::validate::MAX_DURATION_MS`).
    pub at_ms: u32,
    pub kind: StepKind,
    /// Index of the `[[workload]]` that produced the step (validation allows at most
    /// `scenario::validate::MAX_WORKLOADS`).
    pub workload: u16,
    pub job: JobId,
    /// The wallet that performs the step.
    pub actor: WalletRef,
    /// The ledger channel funding this channel (ledger-funded channel steps only).
    pub ledger: Option<JobId>,
    /// The counterparty: channel peer or transfer recipient.
    pub peer: Option<WalletRef>,
    /// Wei; token base units for token_transfer; 0 for updates (an update re-signs the state
    /// with the next nonce; balances move only at close).
    pub amount: Amount,
    /// Generation order inside the workload; last tie-break so the order is total.
    pub seq: u32,
}

impl Step {
    fn sort_key(&self) -> (u32, u16, JobId, StepKind, u32) {
        (self.at_ms, self.workload, self.job, self.kind, self.seq)
    }
}

/// An expanded plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub scenario: String,
    pub seed: u64,
    pub duration_ms: u64,
    /// Role names by `RoleId`.
    pub roles: Vec<String>,
    /// Sorted; a step's index is its `step` number.
    pub steps: Vec<Step>,
    /// By workload: the arguments of a templated call workload's calls, by job number.
    pub args: Vec<Option<args::Args>>,
}

impl Plan {
    /// The row of step `idx` with `status` and `error` and no result yet (a step never sent,
    /// or no run of a merge reported it).
    pub fn blank_row(
        &self,
        idx: usize,
        status: crate::model::rows::Status,
        error: impl Into<String>,
    ) -> crate::model::rows::StepRow {
        let s = &self.steps[idx];
        crate::model::rows::StepRow {
            step: idx as u64,
            at_ms: s.at_ms.into(),
            kind: s.kind.as_str().to_string(),
            workload: s.workload.into(),
            role: self.roles[usize::from(s.actor.role)].clone(),
            wallet: s.actor.index,
            job: s.job.to_string(),
            status,
            error: error.into(),
            sent_ms: None,
            lateness_ms: None,
            tx_hash: String::new(),
            block: None,
            latency_ms: None,
            gas_used: None,
            fee_wei: None,
            blob_gas_used: None,
            blob_fee_wei: None,
        }
    }

    /// The resolved arguments of step `idx`, if it is a call of a templated workload.
    pub fn call_args(&self, idx: usize) -> Option<Vec<String>> {
        let s = self.steps.get(idx)?;
        let a = self.args.get(usize::from(s.workload))?.as_ref()?;
        Some(a.of(s.job.n as usize, idx))
    }
}

/// A plan that cannot be made from a valid scenario for this seed (e.g. too few closable channels).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("workload[{workload}].{key}: {message}\n  help: {help}")]
pub struct PlanError {
    pub workload: usize,
    pub key: &'static str,
    pub message: String,
    pub help: String,
}

/// Expands a loaded scenario file with `seed`, plan errors located in the file.
pub fn expand_loaded(
    loaded: &crate::scenario::Loaded,
    seed: u64,
) -> Result<Plan, crate::scenario::ScenarioError> {
    expand(&loaded.scenario, seed)
        .map_err(|e| loaded.locate_workload(e.workload, e.key, e.message, e.help))
}

/// Expands a validated scenario with `seed` (normally `scenario.seed`).
pub fn expand(scenario: &Scenario, seed: u64) -> Result<Plan, PlanError> {
    let wallets: Vec<u32> = scenario.roles.iter().map(|r| r.wallets).collect();
    let mut steps =
        Vec::with_capacity(crate::scenario::estimated_steps(scenario).min(1 << 26) as usize);
    let roles: Vec<String> = scenario.roles.iter().map(|r| r.name.clone()).collect();
    let mut resolver = args::Resolver::new(seed, &roles, &wallets);
    let mut all_args = vec![None; scenario.workloads.len()];
    for w in &scenario.workloads {
        let cx = Cx {
            seed,
            workload: w.index,
            duration_ms: scenario.duration_ms,
            wallets: &wallets,
        };
        match &w.kind {
            WorkloadKind::Channel(c) => channel::expand(&cx, c, &mut steps)?,
            WorkloadKind::Transfer(t) => transfer::expand(&cx, t, StepKind::Transfer, &mut steps),
            WorkloadKind::TokenTransfer(t) => {
                transfer::expand(&cx, t, StepKind::TokenTransfer, &mut steps)
            }
            WorkloadKind::Call(c) => {
                all_args[w.index] = call::expand(&cx, c, StepKind::Call, &mut steps, &mut resolver);
            }
            WorkloadKind::Blob(b) => {
                all_args[w.index] = Some(blob::expand(&cx, b, &mut steps));
            }
            WorkloadKind::Read(r) => {
                all_args[w.index] =
                    call::expand(&cx, &r.call, StepKind::Read, &mut steps, &mut resolver);
            }
        }
    }
    steps.sort_unstable_by_key(Step::sort_key);
    for w in &scenario.workloads {
        if let WorkloadKind::Read(r) = &w.kind
            && let Some(of) = r.receipts_of
        {
            all_args[w.index] = Some(read::receipt_picks(seed, w.index, of, &steps));
        }
    }
    Ok(Plan {
        scenario: scenario.name.clone(),
        seed,
        duration_ms: scenario.duration_ms,
        roles,
        steps,
        args: all_args,
    })
}

/// What every workload expander needs.
pub(crate) struct Cx<'a> {
    pub seed: u64,
    pub workload: usize,
    pub duration_ms: u64,
    pub wallets: &'a [u32],
}

impl Cx<'_> {
    /// A uniformly drawn wallet of `role`, and a distinct one of `peer_role`.
    pub fn pair(
        &self,
        draw: &mut rng::Draw,
        role: RoleId,
        peer_role: RoleId,
    ) -> (WalletRef, WalletRef) {
        let n = u64::from(self.wallets[usize::from(role)]);
        let a = draw.below(n) as u32;
        let b = if role == peer_role {
            // Validation guarantees n >= 2 here; skip over `a` to keep the draw uniform.
            let b = draw.below(n - 1) as u32;
            if b >= a { b + 1 } else { b }
        } else {
            draw.below(u64::from(self.wallets[usize::from(peer_role)])) as u32
        };
        (
            WalletRef { role, index: a },
            WalletRef {
                role: peer_role,
                index: b,
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_step_stays_small_and_amounts_round_trip() {
        // A million-step plan is held for the whole run: 64 MB, not 80.
        assert!(
            std::mem::size_of::<Step>() <= 64,
            "{}",
            std::mem::size_of::<Step>()
        );
        for v in [
            0,
            1,
            u128::from(u64::MAX),
            u128::from(u64::MAX) + 1,
            u128::MAX,
        ] {
            assert_eq!(Amount::from(v).get(), v);
            assert_eq!(Amount::from(v).to_string(), v.to_string());
        }
    }
}
