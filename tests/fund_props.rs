//! Property tests of the pure funding tree: simulating the planned payments level by level,
//! every wallet ends with at least its target, no payer ever spends more than it holds (values
//! plus gas at the max fee), nothing is stranded beyond a payer's gas reserve, and depth and
//! transaction counts are as stated.

use loadrun::chain::gas;
use loadrun::fund::{FundingTree, Holding, Need, plan};
use proptest::prelude::*;

/// Replays a plan: returns final balances, or the first overspending payer.
fn simulate(
    holdings: &[Holding],
    levels: &[Vec<loadrun::fund::Payment>],
    fee: u128,
) -> Result<Vec<(u128, u128)>, String> {
    let mut bal: Vec<(u128, u128)> = holdings.iter().map(|h| (h.eth, h.tokens)).collect();
    for (l, level) in levels.iter().enumerate() {
        for p in level {
            let cost = p.eth() + u128::from(p.total_gas_limit()) * fee;
            let payer = &mut bal[p.payer];
            if payer.0 < cost || payer.1 < p.tokens() {
                return Err(format!(
                    "level {l}: node {} holds {:?} but pays {cost} wei and {} tokens",
                    p.payer,
                    payer,
                    p.tokens()
                ));
            }
            payer.0 -= cost;
            payer.1 -= p.tokens();
            for &(to, eth, tokens) in &p.recipients {
                bal[to].0 += eth;
                bal[to].1 += tokens;
            }
        }
    }
    Ok(bal)
}

fn holdings(n: usize, partial: &[(usize, u128, u128, bool)]) -> Vec<Holding> {
    let mut h = vec![Holding::default(); n + 1];
    h[0] = Holding {
        eth: u128::MAX / 4,
        tokens: u128::MAX / 4,
        approved: false,
    };
    for &(i, eth, tokens, approved) in partial {
        if n > 0 {
            h[1 + i % n] = Holding {
                eth,
                tokens,
                approved,
            };
        }
    }
    h
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn every_wallet_reaches_its_target_and_no_payer_overspends(
        n in 0usize..400,
        fanout in 2usize..30,
        eth in 0u128..1_000_000_000_000_000_000,
        tokens in prop_oneof![Just(0u128), 1u128..1_000_000_000_000_000_000_000],
        fee in 1u128..200_000_000_000,
        flat in any::<bool>(),
        partial in proptest::collection::vec((0usize..400, 0u128..2_000_000_000_000_000_000, 0u128..2_000_000_000_000_000_000_000, any::<bool>()), 0..40),
    ) {
        let tree = FundingTree::new(n, fanout);
        let need = Need { eth, tokens };
        let held = holdings(n, &partial);
        let p = plan(&tree, need, &held, fee, flat);
        let bal = simulate(&held, &p.levels, fee).map_err(TestCaseError::fail)?;
        for (k, &(e, t)) in bal.iter().enumerate().skip(1) {
            prop_assert!(e >= need.eth, "node {k} ends with {e} wei < {}", need.eth);
            prop_assert!(t >= need.tokens, "node {k} ends with {t} tokens < {}", need.tokens);
            // Nothing stranded: a wallet keeps at most its target plus its own gas reserve,
            // or what it held before (topping up never adds to an already funded wallet).
            let reserve: u128 = p.levels.iter().flatten().filter(|x| x.payer == k)
                .map(|x| u128::from(x.total_gas_limit()) * fee).sum();
            prop_assert!(e <= need.eth.max(held[k].eth) + reserve, "node {k} keeps {e} wei");
            prop_assert!(t <= need.tokens.max(held[k].tokens), "node {k} keeps {t} tokens");
        }
        // The funder's bill is what it actually paid.
        prop_assert_eq!(held[0].eth - bal[0].0, p.funder_eth);
        prop_assert_eq!(held[0].tokens - bal[0].1, p.funder_tokens);
        // A second plan on the resulting balances sends nothing.
        let after: Vec<Holding> = bal.iter().enumerate().map(|(k, &(e, t))| Holding {
            eth: e, tokens: t,
            approved: held[k].approved || p.levels.iter().flatten().any(|x| x.payer == k && x.approve),
        }).collect();
        // Wallets spent their reserves as gas in reality; here they still hold them, so the
        // re-plan is from at least the real state.
        prop_assert!(plan(&tree, need, &after, fee, flat).is_empty());
    }

    #[test]
    fn depth_and_transaction_counts(n in 1usize..3000, fanout in 2usize..120, with_tokens in any::<bool>()) {
        let tree = FundingTree::new(n, fanout);
        let need = Need { eth: 1_000, tokens: if with_tokens { 5 } else { 0 } };
        let held = holdings(n, &[]);
        let p = plan(&tree, need, &held, 1, false);
        // Depth: smallest d with fanout + … + fanout^d ≥ n, never more than ceil(log_f n) + 1
        // and exactly the number of payment levels.
        let mut d = 0u32;
        let mut covered = 0usize;
        while covered < n { d += 1; covered += fanout.pow(d); }
        prop_assert_eq!(tree.depth(), d as usize);
        prop_assert_eq!(p.levels.len(), d as usize);
        let ceil_log = (n as f64).log(fanout as f64).ceil().max(1.0) as usize;
        prop_assert!(tree.depth() <= ceil_log);
        // One Disperse per payer (node with children) plus one approve per payer when tokens.
        let payers = (n - 1) / fanout + 1;
        prop_assert_eq!(p.txs, payers * if with_tokens { 2 } else { 1 });
        // Flat: one transfer per wallet per asset, all from the funder.
        let f = plan(&tree, need, &held, 1, true);
        prop_assert_eq!(f.levels.len(), 1);
        prop_assert_eq!(f.txs, n * if with_tokens { 2 } else { 1 });
        prop_assert!(f.levels[0].iter().all(|x| x.payer == 0));
        prop_assert!(p.levels.iter().flatten().all(|x| x.recipients.len() <= fanout));
        prop_assert!(p.levels.iter().flatten().all(|x| x.gas_limit == gas::GasTable::FALLBACK.disperse(x.recipients.len() as u64, with_tokens)));
    }
}
