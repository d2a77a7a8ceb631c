//! Expansion of `call` and `read` workloads: one contract call (or RPC read) per arrival, for a
//! random wallet of `from`.

use super::args::{Args, Resolver};
use super::arrival::schedule;
use super::rng::{Purpose, stream};
use super::{Cx, JobId, JobPrefix, Step, StepKind, WalletRef, offset};
use crate::scenario::CallWorkload;

/// Returns the calls' arguments when some are templates. `kind` is `Call` or `Read` (whose
/// jobs are `rd-…`).
pub(crate) fn expand(
    cx: &Cx,
    c: &CallWorkload,
    kind: StepKind,
    out: &mut Vec<Step>,
    resolver: &mut Resolver<'_>,
) -> Option<Args> {
    let prefix = if kind == StepKind::Read {
        JobPrefix::Rd
    } else {
        JobPrefix::Cl
    };
    let mut times = stream(cx.seed, cx.workload, Purpose::Times);
    let mut parties = stream(cx.seed, cx.workload, Purpose::Parties);
    let mut draw = stream(cx.seed, cx.workload, Purpose::Args);
    let mut args = c.templated().then(|| Args::new(c.arg_specs.len()));
    let wallets = u64::from(cx.wallets[usize::from(c.from)]);
    for (n, at_ms) in schedule(
        &mut times,
        c.arrival,
        (c.rate, &c.stages),
        c.start_ms,
        c.stop_ms,
    )
    .into_iter()
    .enumerate()
    {
        let actor = WalletRef {
            role: c.from,
            index: parties.below(wallets) as u32,
        };
        if let Some(a) = &mut args {
            resolver.push(a, &c.arg_specs, (actor, c.peers), &mut draw);
        }
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
            peer: None,
            amount: c.value.into(),
            seq: n as u32,
        });
    }
    args
}
