//! `--shard`, `--role` and `--start-at`: which part of the plan one `loadrun run` process
//! executes and when (`pipeline::part` resolves them).

use std::time::SystemTime;

use crate::pipeline::part::{PartSpec, parse_start_at};
use crate::plan::shard::Shard;

#[derive(Debug, Clone, Default, clap::Args)]
pub struct PartArgs {
    /// Run only shard I of N (1-based). The plan's wallets are partitioned (deterministically,
    /// the same in every process) so no two shards send from one wallet and a channel's parties
    /// stay in one shard. A shard does not fund: run `loadrun fund SCENARIO` once first.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<Shard>,
    /// Run only the steps performed by role R's wallets (not for channel workloads, whose
    /// parties exchange states in one process: use --shard). Like --shard, it does not fund.
    #[arg(long, value_name = "R")]
    pub role: Option<String>,
    /// Start the schedule at this wall-clock instant, the same in every process: UNIX
    /// milliseconds (e.g. 1764633600000) or RFC 3339 (2026-12-02T00:00:00Z). Refused when
    /// already more than a second in the past.
    #[arg(long, value_name = "UNIX_MS|RFC3339", value_parser = parse_start_at)]
    pub start_at: Option<SystemTime>,
}

impl PartArgs {
    pub fn spec(&self) -> PartSpec {
        PartSpec {
            shard: self.shard,
            role: self.role.clone(),
            start_at: self.start_at,
        }
    }
}
