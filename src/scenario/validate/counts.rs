//! Step counts of a validated scenario without expanding it: the step cap's check, the plan's
//! capacity, stage counts.

use crate::scenario::{
    Arrival, BlobWorkload, ReadWorkload, Scenario, Workload, WorkloadKind, count_for,
};

/// Events over a sequence of stages: the sum of each stage's rounded integral.
pub fn staged_count(stages: &[crate::scenario::Stage]) -> u64 {
    let mut from = 0.0;
    let mut n = 0u64;
    for s in stages {
        n = n.saturating_add(crate::scenario::stage_count(from, *s));
        from = s.target;
    }
    n
}

/// Upper bound of the plan's step count, computed without expanding anything.
pub fn estimated_steps(s: &Scenario) -> u64 {
    s.workloads
        .iter()
        .map(|w| workload_steps(w, s.duration_ms))
        .fold(0u64, u64::saturating_add)
}

/// The most events an arrival process makes for a mean count `n`: a Poisson count exceeds
/// mean + 10·sqrt(mean) + 10 with negligible probability (the expansion enforces the bound
/// exactly); the others make exactly `n`.
pub fn poisson_bound(n: u64, arrival: Arrival) -> u64 {
    match arrival {
        Arrival::Poisson => n
            .saturating_add(10u64.saturating_mul((n as f64).sqrt().ceil() as u64))
            .saturating_add(10),
        _ => n,
    }
}

/// Upper bound of one workload's step count, in saturating arithmetic: extreme rates (1e308)
/// give `u64::MAX`, never a wrapped small number.
pub fn workload_steps(w: &Workload, duration_ms: u64) -> u64 {
    let bound = |n: u64, arrival: Arrival| poisson_bound(n, arrival);
    // With stages: each stage's count (bounded per stage for Poisson), summed.
    let staged_steps = |stages: &[crate::scenario::Stage], arrival: Arrival| {
        (!stages.is_empty()).then(|| {
            let mut from = 0.0;
            stages.iter().fold(0u64, |acc, s| {
                let n = crate::scenario::stage_count(from, *s);
                from = s.target;
                acc.saturating_add(bound(n, arrival))
            })
        })
    };
    let rate_steps =
        |rate: f64, arrival: Arrival, window: u64| bound(count_for(rate, window), arrival);
    match &w.kind {
        WorkloadKind::Channel(c) => {
            let ledgers = c.ledger.as_ref().map_or(0, |l| {
                let n = count_for(l.rate, l.duration_ms);
                if l.close_ledgers {
                    n.saturating_mul(2)
                } else {
                    n
                }
            });
            [
                count_for(c.create_rate, duration_ms),
                count_for(c.close_rate, duration_ms),
                count_for(c.update_rate, duration_ms),
                ledgers,
            ]
            .into_iter()
            .fold(0u64, u64::saturating_add)
        }
        WorkloadKind::Transfer(t)
        | WorkloadKind::TokenTransfer(t)
        | WorkloadKind::Blob(BlobWorkload { transfer: t, .. }) => {
            staged_steps(&t.stages, t.arrival).unwrap_or_else(|| {
                rate_steps(t.rate, t.arrival, t.stop_ms.saturating_sub(t.start_ms))
            })
        }
        WorkloadKind::Call(c) | WorkloadKind::Read(ReadWorkload { call: c, .. }) => {
            staged_steps(&c.stages, c.arrival).unwrap_or_else(|| {
                rate_steps(c.rate, c.arrival, c.stop_ms.saturating_sub(c.start_ms))
            })
        }
    }
}

/// A step count for a message: `u64::MAX` (a saturated count) reads as "more than 10^19".
pub(super) fn shown_count(n: u64) -> String {
    if n == u64::MAX {
        "more than 10^19".into()
    } else {
        n.to_string()
    }
}

/// The rate key of `w` that drives most of its steps (where a too-large count is reported).
pub(super) fn biggest_rate_key(w: &Workload, duration_ms: u64) -> &'static str {
    match &w.kind {
        WorkloadKind::Channel(c) => {
            let ledgers = c
                .ledger
                .as_ref()
                .map_or(0, |l| count_for(l.rate, l.duration_ms));
            [
                ("create_rate", count_for(c.create_rate, duration_ms)),
                ("close_rate", count_for(c.close_rate, duration_ms)),
                ("update_rate", count_for(c.update_rate, duration_ms)),
                ("ledger_rate", ledgers),
            ]
            .into_iter()
            .max_by_key(|(_, n)| *n)
            .map_or("create_rate", |(k, _)| k)
        }
        _ => "rate",
    }
}
