//! Per-step arguments of templated `call` workloads, resolved at plan time from the workload's
//! own RNG stream (`Purpose::Args`), so the plan — and every run with that seed — is
//! byte-identical, and a different seed changes them. Addresses are the derived wallets'
//! (`wallets::derive`, computed once per wallet used). `{step}` is the plan's step index,
//! known only once the steps are sorted: it is stored as `{step}` and filled in when read.

use std::collections::HashMap;

use super::WalletRef;
use super::rng::Draw;
use crate::scenario::template::ArgSpec;

/// The marker `{step}` is stored as.
pub const STEP: &str = "{step}";

/// The arguments of one workload's calls, job by job.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Args {
    arity: usize,
    values: Vec<Box<str>>,
}

impl Args {
    pub fn new(arity: usize) -> Self {
        Self {
            arity,
            values: Vec::new(),
        }
    }

    /// Values per job.
    pub fn arity(&self) -> usize {
        self.arity
    }

    /// Appends one job's values (as many as the arity).
    pub fn push_values(&mut self, values: impl IntoIterator<Item = String>) {
        self.values
            .extend(values.into_iter().map(String::into_boxed_str));
    }

    /// The arguments of job `n`, `{step}` filled in with `step`.
    pub fn of(&self, n: usize, step: usize) -> Vec<String> {
        self.values[n * self.arity..(n + 1) * self.arity]
            .iter()
            .map(|v| {
                if &**v == STEP {
                    step.to_string()
                } else {
                    v.to_string()
                }
            })
            .collect()
    }
}

/// Resolves templates, caching wallet addresses.
pub struct Resolver<'a> {
    pub seed: u64,
    pub roles: &'a [String],
    pub wallets: &'a [u32],
    addresses: HashMap<WalletRef, String>,
}

impl<'a> Resolver<'a> {
    pub fn new(seed: u64, roles: &'a [String], wallets: &'a [u32]) -> Self {
        Self {
            seed,
            roles,
            wallets,
            addresses: HashMap::new(),
        }
    }

    fn address(&mut self, w: WalletRef) -> String {
        let (seed, roles) = (self.seed, self.roles);
        self.addresses
            .entry(w)
            .or_insert_with(|| {
                crate::wallets::derive(seed, &roles[usize::from(w.role)], w.index)
                    .address()
                    .to_checksum(None)
            })
            .clone()
    }

    /// Appends the arguments of one call by `sender` to `out`.
    pub fn push(
        &mut self,
        out: &mut Args,
        specs: &[ArgSpec],
        (sender, peers): (WalletRef, Option<u16>),
        draw: &mut Draw,
    ) {
        for spec in specs {
            let v = match spec {
                ArgSpec::Literal(s) => s.clone(),
                ArgSpec::Sender => self.address(sender),
                ArgSpec::Peer => {
                    let role = peers.unwrap_or(sender.role);
                    let n = u64::from(self.wallets[usize::from(role)]);
                    let index = draw.below(n) as u32;
                    self.address(WalletRef { role, index })
                }
                ArgSpec::Step => STEP.to_string(),
                ArgSpec::Uint(lo, hi) | ArgSpec::Amount(lo, hi) => {
                    (lo + draw.upto_u128(hi - lo)).to_string()
                }
                ArgSpec::Int(lo, hi) => {
                    let span = hi.abs_diff(*lo);
                    lo.wrapping_add(draw.upto_u128(span) as i128).to_string()
                }
                ArgSpec::Pick(options) => {
                    options[draw.below(options.len() as u64) as usize].clone()
                }
                ArgSpec::Bytes(n) => {
                    let mut s = String::with_capacity(2 + 2 * n);
                    s.push_str("0x");
                    for _ in 0..*n {
                        s.push_str(&format!("{:02x}", draw.below(256)));
                    }
                    s
                }
            };
            out.values.push(v.into_boxed_str());
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::plan::rng::{Purpose, stream};

    #[test]
    fn wide_ranges_draw_quickly_and_stay_inside() {
        let mut d = stream(1, 0, Purpose::Args);
        // 1e20 wei (100 ether) and the whole u128: a plain rejection on 128 bits never ends.
        for span in [
            100_000_000_000_000_000_000u128,
            u128::MAX,
            u128::from(u64::MAX),
        ] {
            for _ in 0..1000 {
                assert!(d.upto_u128(span) <= span);
            }
        }
        let mut seen_high = false;
        for _ in 0..1000 {
            seen_high |= d.upto_u128(u128::MAX) > u128::MAX / 2;
        }
        assert!(seen_high);
    }
}
