//! Fitting the chain to the plan before and after connecting: the spawned node's block gas
//! limit sized from the plan's busiest block, a warning when automine cannot keep up with the
//! plan, and one when a remote chain's blocks cannot hold the plan's busiest block.

use crate::chain::Chain;
use crate::model::gas::GasTable;
use crate::plan::Plan;
use crate::plan::load::{self, AUTOMINE_SUSTAINED_TPS};
use crate::scenario::ChainConfig;

/// The chain configuration a command connects with: `cfg`, plus for a spawned anvil with
/// interval mining and no `gas_limit` a block gas limit sized for the plan.
pub fn config_for(plan: Option<&Plan>, cfg: &ChainConfig, rpc_flag: Option<&str>) -> ChainConfig {
    config_with_headroom(plan, cfg, rpc_flag, 1.0)
}

/// `config_for` with the plan's busiest block's gas times `headroom` (capacity's later steps run
/// the plan faster): the headroom scales the plan's gas, before anvil's 30 M floor applies.
pub fn config_with_headroom(
    plan: Option<&Plan>,
    cfg: &ChainConfig,
    rpc_flag: Option<&str>,
    headroom: f64,
) -> ChainConfig {
    let mut cfg = cfg.clone();
    let spawned = crate::chain::rpc_url(&cfg, rpc_flag).is_none();
    let Some(plan) = plan.filter(|_| spawned) else {
        return cfg;
    };
    match cfg.block_time_ms {
        Some(block_ms) => {
            if cfg.gas_limit.is_none() {
                let peak = load::peak(plan, &GasTable::FALLBACK, block_ms);
                let gas = (peak.gas as f64 * headroom.max(1.0)) as u64;
                cfg.gas_limit = Some(load::sized_gas_limit(gas));
            }
        }
        None => {
            if let Some(w) = automine_warning(plan) {
                tracing::warn!("{w}");
            }
        }
    }
    cfg
}

/// Why automine will not keep up with `plan`, if it will not.
pub fn automine_warning(plan: &Plan) -> Option<String> {
    let per_second = load::peak(plan, &GasTable::FALLBACK, 1_000).txs;
    (per_second > AUTOMINE_SUSTAINED_TPS).then(|| {
        format!(
            "block_time = \"automine\": the plan's busiest second has {per_second} transactions, but an automining anvil sustains about {AUTOMINE_SUSTAINED_TPS}/s on 2 cores; expect timeouts — omit block_time for 1-s blocks"
        )
    })
}

/// A spawned chain's block time as written in run.toml: "1s", …, or "automine"; empty for a
/// remote chain (loadrun does not set its blocks).
pub fn block_time(chain: &Chain, cfg: &ChainConfig) -> String {
    match (chain.anvil.is_some(), cfg.block_time_ms) {
        (false, _) => String::new(),
        (true, None) => "automine".into(),
        (true, Some(ms)) => {
            humantime::format_duration(std::time::Duration::from_millis(ms)).to_string()
        }
    }
}

/// The header line's chain part: where, blocks, gas limit.
pub fn describe(chain: &Chain, cfg: &ChainConfig, shown: &str) -> String {
    let blocks = match block_time(chain, cfg).as_str() {
        "" => String::new(),
        "automine" => " · automine (one block per transaction)".into(),
        t => format!(" · {t} blocks"),
    };
    format!(
        "chain {} at {shown}{blocks} · block gas limit {}",
        chain.chain_id,
        crate::report::num::format_value(chain.caps.block_gas_limit as f64)
    )
}

/// Warns when the plan's busiest block, at this chain's gas limits, does not fit its blocks.
pub fn warn_if_blocks_too_small(plan: &Plan, chain: &Chain, cfg: &ChainConfig) {
    let block_ms = if chain.anvil.is_some() {
        // Automine: every transaction gets a block of its own (its warning is the rate's).
        let Some(ms) = cfg.block_time_ms else {
            return;
        };
        ms
    } else {
        chain
            .caps
            .block_interval_ms
            .filter(|&ms| ms > 0)
            .unwrap_or(1_000)
    };
    let peak = load::peak(plan, &chain.gas, block_ms);
    if peak.gas > chain.caps.block_gas_limit {
        tracing::warn!(
            "the plan's busiest {block_ms} ms has {} transactions needing {} gas, more than one block of this chain holds ({}): inclusion will lag behind the schedule",
            peak.txs,
            peak.gas,
            chain.caps.block_gas_limit
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(rate: f64, block_time: &str) -> (Plan, ChainConfig) {
        let text = format!(
            "version = 1\n[scenario]\nname = \"t\"\nseed = 1\nduration = \"3s\"\n[chain]\nblock_time = \"{block_time}\"\n[roles.A]\nwallets = 8\n[roles.B]\nwallets = 8\n[funding]\neth = \"1 ether\"\ntokens = \"10\"\n[[workload]]\ntype = \"token_transfer\"\nfrom = \"A\"\nto = \"B\"\nrate = {rate}\namount = \"1\"\narrival = \"constant\"\n"
        );
        let s = crate::scenario::parse("t.toml", &text, 1_000_000).unwrap();
        (crate::plan::expand(&s, 1).unwrap(), s.chain)
    }

    #[test]
    fn the_automine_warning_fires_for_a_fast_plan_only() {
        let (fast, _) = plan(400.0, "automine");
        let w = automine_warning(&fast).expect("a warning");
        assert!(
            w.contains("400 transactions") && w.contains("omit block_time"),
            "{w}"
        );
        let (slow, _) = plan(20.0, "automine");
        assert_eq!(automine_warning(&slow), None);
    }

    #[test]
    fn a_spawned_chain_gets_a_gas_limit_sized_for_the_busiest_block() {
        // 600 token transfers per 1-s block × 65,000 gas = 39 M: twice that, above the default.
        let (p, cfg) = plan(600.0, "1s");
        assert_eq!(config_for(Some(&p), &cfg, None).gas_limit, Some(78_000_000));
        // A small plan keeps anvil's default; a set gas_limit and a remote chain are left alone.
        let (small, cfg_small) = plan(10.0, "1s");
        assert_eq!(
            config_for(Some(&small), &cfg_small, None).gas_limit,
            Some(30_000_000)
        );
        let set = ChainConfig {
            gas_limit: Some(12_345_678),
            ..cfg.clone()
        };
        assert_eq!(config_for(Some(&p), &set, None).gas_limit, Some(12_345_678));
        assert_eq!(
            config_for(Some(&p), &cfg, Some("http://127.0.0.1:1")).gas_limit,
            None
        );
        // Automine: one block per transaction, nothing to size.
        let (a, cfg_a) = plan(600.0, "automine");
        assert_eq!(config_for(Some(&a), &cfg_a, None).gas_limit, None);
    }
}
