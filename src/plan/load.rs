//! What a plan asks of the chain per block (pure): the busiest window of one block time, in
//! on-chain transactions and in gas limits. It sizes the spawned node's block gas limit, warns
//! when a remote chain's blocks are too small, and when automine cannot keep up.

use crate::model::gas::GasTable;

use super::Plan;

/// The plan's peak over any window of `window_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Peak {
    /// On-chain transactions planned in the busiest window.
    pub txs: u64,
    /// Their summed gas limits.
    pub gas: u64,
}

/// The busiest `window_ms` of the plan (steps are sorted by `at_ms`), by gas and by count.
pub fn peak(plan: &Plan, gas: &GasTable, window_ms: u64) -> Peak {
    let window_ms = window_ms.max(1);
    let on_chain: Vec<(u64, u64)> = plan
        .steps
        .iter()
        .map(|s| {
            (
                u64::from(s.at_ms),
                gas.step_limit(s.kind, s.ledger.is_some()),
            )
        })
        .filter(|&(_, g)| g > 0)
        .collect();
    let (mut out, mut start, mut txs, mut sum) = (Peak::default(), 0usize, 0u64, 0u64);
    for (end, &(at, g)) in on_chain.iter().enumerate() {
        txs += 1;
        sum = sum.saturating_add(g);
        while on_chain[start].0 + window_ms <= at {
            txs -= 1;
            sum = sum.saturating_sub(on_chain[start].1);
            start += 1;
        }
        debug_assert!(start <= end);
        out.txs = out.txs.max(txs);
        out.gas = out.gas.max(sum);
    }
    out
}

/// anvil's default block gas limit.
pub const ANVIL_DEFAULT_GAS_LIMIT: u64 = 30_000_000;

/// A spawned node's block gas limit for a plan whose busiest block needs `peak_gas`: twice that
/// (bursts, resends, the base fee's response to full blocks), rounded up to a million, never
/// below anvil's default.
pub fn sized_gas_limit(peak_gas: u64) -> u64 {
    let want = peak_gas.saturating_mul(2);
    want.div_ceil(1_000_000)
        .saturating_mul(1_000_000)
        .max(ANVIL_DEFAULT_GAS_LIMIT)
}

/// On-chain transactions per second a spawned anvil sustains when it automines (one block per
/// transaction), measured on a 2-core machine (README, "Embedded chain").
pub const AUTOMINE_SUSTAINED_TPS: u64 = 250;

#[cfg(test)]
mod tests {
    use super::*;

    fn plan_of(body: &str) -> Plan {
        let text = format!(
            "version = 1\n[scenario]\nname = \"t\"\nseed = 1\nduration = \"5s\"\n[roles.A]\nwallets = 4\n[roles.B]\nwallets = 4\n[funding]\neth = \"1 ether\"\n{body}"
        );
        let s = crate::scenario::parse("t.toml", &text, 1_000_000).unwrap();
        super::super::expand(&s, 1).unwrap()
    }

    #[test]
    fn the_busiest_window_counts_only_on_chain_steps() {
        let p = plan_of(
            "[[workload]]\ntype = \"transfer\"\nfrom = \"A\"\nto = \"B\"\nrate = 100.0\namount = \"1 wei\"\narrival = \"constant\"\n",
        );
        let g = GasTable::FALLBACK;
        let one_second = peak(&p, &g, 1000);
        assert_eq!(one_second.txs, 100);
        assert_eq!(one_second.gas, 100 * g.transfer);
        assert_eq!(peak(&p, &g, 2000).txs, 200);
        // Off-chain updates add nothing.
        let p = plan_of(
            "[[workload]]\ntype = \"channel\"\nfunding = \"direct\"\nbetween = [\"A\", \"B\"]\ncreate_rate = 1.0\nupdate_rate = 50.0\ndeposit = \"1 wei\"\n",
        );
        let creates = p
            .steps
            .iter()
            .filter(|s| s.kind == super::super::StepKind::CreateChannel)
            .count();
        let pk = peak(&p, &g, 1000);
        assert!(
            pk.txs >= 1 && pk.txs as usize <= creates && creates == 5,
            "{pk:?}"
        );
        assert_eq!(pk.gas, pk.txs * g.open);
    }

    #[test]
    fn sizing_doubles_the_peak_and_keeps_anvils_default_as_a_floor() {
        assert_eq!(sized_gas_limit(0), ANVIL_DEFAULT_GAS_LIMIT);
        assert_eq!(sized_gas_limit(10_000_000), ANVIL_DEFAULT_GAS_LIMIT);
        assert_eq!(sized_gas_limit(21_000_001), 43_000_000);
        assert_eq!(sized_gas_limit(u64::MAX), u64::MAX);
    }
}
