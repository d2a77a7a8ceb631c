//! The picks of `eth_getTransactionReceipt` reads: each read of a workload with `receipts_of`
//! reads the receipt of a step of that workload planned at or before it, drawn uniformly from
//! its own stream once the steps are sorted (the pick is a plan step index, in `args`). A read
//! planned before any such step picks none (`-`): its row says so.

use super::Step;
use super::args::Args;
use super::rng::{Purpose, stream};

/// The stored value of a read with no earlier step to read.
pub const NONE: &str = "-";

pub(crate) fn receipt_picks(seed: u64, workload: usize, of: usize, steps: &[Step]) -> Args {
    let mut draw = stream(seed, workload, Purpose::Receipts);
    let mut earlier: Vec<usize> = Vec::new();
    // By job number: the reads' values go into `Args` in job order.
    let mut picks: Vec<(u32, String)> = Vec::new();
    for (i, s) in steps.iter().enumerate() {
        if usize::from(s.workload) == of {
            earlier.push(i);
        } else if usize::from(s.workload) == workload {
            let pick = match earlier.len() {
                0 => NONE.to_string(),
                n => earlier[draw.below(n as u64) as usize].to_string(),
            };
            picks.push((s.job.n, pick));
        }
    }
    picks.sort_unstable_by_key(|p| p.0);
    let mut args = Args::new(1);
    for (_, p) in picks {
        args.push_values([p]);
    }
    args
}
