//! Expansion of `transfer` and `token_transfer` workloads (and the transfers of `blob` ones):
//! one step per arrival.

use super::arrival::schedule;
use super::rng::{Purpose, stream};
use super::{Cx, JobId, JobPrefix, Step, StepKind, offset};
use crate::scenario::RateWorkload;

pub(crate) fn expand(cx: &Cx, t: &RateWorkload, kind: StepKind, out: &mut Vec<Step>) {
    let mut times = stream(cx.seed, cx.workload, Purpose::Times);
    let mut parties = stream(cx.seed, cx.workload, Purpose::Parties);
    let prefix = match kind {
        StepKind::Transfer => JobPrefix::Tx,
        StepKind::Blob => JobPrefix::Bl,
        _ => JobPrefix::Tk,
    };
    for (n, at_ms) in schedule(
        &mut times,
        t.arrival,
        (t.rate, &t.stages),
        t.start_ms,
        t.stop_ms,
    )
    .into_iter()
    .enumerate()
    {
        let (actor, peer) = cx.pair(&mut parties, t.from, t.to);
        out.push(Step {
            at_ms: offset(at_ms),
            kind,
            workload: cx.workload as u16,
            job: JobId {
                prefix,
                n: n as u32,
            },
            actor,
            ledger: None,
            peer: Some(peer),
            amount: t.amount.into(),
            seq: n as u32,
        });
    }
}
