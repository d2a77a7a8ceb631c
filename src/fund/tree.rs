//! `FundingTree` (shape) and `plan` (who pays whom how much, given what wallets already hold).

use std::ops::Range;

use crate::model::gas::GasTable;

/// What each wallet must end with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Need {
    pub eth: u128,
    pub tokens: u128,
}

/// What a node holds on chain now (read before planning, so funding tops up and resumes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Holding {
    pub eth: u128,
    pub tokens: u128,
    /// Whether the node has approved Disperse to move its tokens.
    pub approved: bool,
}

/// The shape of the funding tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FundingTree {
    pub wallets: usize,
    pub fanout: usize,
    /// Largest gas limit one transaction may have (the block gas limit): a payer whose
    /// Disperse to all its children would exceed it splits the payment into several calls.
    pub max_tx_gas: u64,
    /// Gas limits of the transactions the tree sends.
    pub gas: GasTable,
}

impl FundingTree {
    pub fn new(wallets: usize, fanout: usize) -> Self {
        assert!(fanout >= 2, "fanout must be >= 2");
        Self {
            wallets,
            fanout,
            max_tx_gas: u64::MAX,
            gas: GasTable::FALLBACK,
        }
    }

    /// Uses the gas limits of the target chain.
    pub fn with_gas(mut self, gas: GasTable) -> Self {
        self.gas = gas;
        self
    }

    /// Caps each transaction's gas limit (normally at the block gas limit).
    pub fn with_max_tx_gas(mut self, max_tx_gas: u64) -> Self {
        self.max_tx_gas = max_tx_gas;
        self
    }

    /// Children of `node` (node 0 is the funder).
    pub fn children(&self, node: usize) -> Range<usize> {
        let first = (self.fanout * node + 1).min(self.wallets + 1);
        let last = (self.fanout * node + self.fanout).min(self.wallets);
        first..(last + 1).max(first)
    }

    pub fn parent(&self, node: usize) -> usize {
        (node - 1) / self.fanout
    }

    /// Levels of payments: the funder's, then each level of wallets that have children.
    pub fn depth(&self) -> usize {
        let (mut covered, mut width, mut d) = (0usize, 1usize, 0usize);
        while covered < self.wallets {
            width = width.saturating_mul(self.fanout);
            covered = covered.saturating_add(width);
            d += 1;
        }
        d
    }

    /// Depth of a node: 0 for the funder, 1 for its children, …
    pub fn level_of(&self, mut node: usize) -> usize {
        let mut level = 0;
        while node > 0 {
            node = self.parent(node);
            level += 1;
        }
        level
    }
}

/// How a payment is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentKind {
    /// One Disperse call paying every recipient ETH and tokens.
    Disperse,
    /// `strategy = "flat"`: a plain ETH transfer and/or a token `transfer` to one recipient.
    Direct,
}

/// One payer's payment to some of its children.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payment {
    pub payer: usize,
    pub kind: PaymentKind,
    /// (node, wei, token units).
    pub recipients: Vec<(usize, u128, u128)>,
    /// Whether the payer must first approve Disperse for its tokens.
    pub approve: bool,
    /// The approve's gas limit (0 without one).
    pub approve_gas: u64,
    /// Gas limit of the transaction(s) this payment needs, excluding the approve.
    pub gas_limit: u64,
    /// Transactions this payment sends, including an approve.
    pub txs: usize,
}

impl Payment {
    pub fn eth(&self) -> u128 {
        self.recipients.iter().map(|r| r.1).sum()
    }
    pub fn tokens(&self) -> u128 {
        self.recipients.iter().map(|r| r.2).sum()
    }
    /// Gas limit including the approve: what the payer must hold gas money for.
    pub fn total_gas_limit(&self) -> u64 {
        self.gas_limit + self.approve_gas
    }
}

/// Every payment needed, level by level (level 0 = the funder's).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FundingPlan {
    pub levels: Vec<Vec<Payment>>,
    /// Wei the funder spends: what it sends plus the gas of its own transactions at `max_fee`.
    pub funder_eth: u128,
    pub funder_tokens: u128,
    pub txs: usize,
    pub gas_limit: u64,
}

impl FundingPlan {
    pub fn is_empty(&self) -> bool {
        self.txs == 0
    }
}

/// Plans the payments that bring every wallet to `need`, given current `holdings` (index = node;
/// index 0, the funder, is ignored). Each internal wallet receives exactly what its subtree lacks
/// plus the gas its own transactions can cost at `max_fee_per_gas`; what it does not burn is the
/// only thing left behind. Wallets already holding enough receive nothing, so a second run sends
/// no transaction.
pub fn plan(
    tree: &FundingTree,
    need: Need,
    holdings: &[Holding],
    max_fee_per_gas: u128,
    flat: bool,
) -> FundingPlan {
    let n = tree.wallets;
    assert_eq!(
        holdings.len(),
        n + 1,
        "one holding per node, the funder included"
    );
    // incoming[k] = what node k must receive from its parent.
    let mut incoming = vec![(0u128, 0u128); n + 1];
    let mut payments: Vec<Vec<Payment>> = vec![Vec::new(); n + 1];
    let nodes_bottom_up = if flat {
        Vec::new()
    } else {
        (1..=n).rev().collect::<Vec<_>>()
    };
    for k in nodes_bottom_up {
        let payment = disperse_payments(tree, k, &incoming, holdings[k].approved);
        let gas_cost: u128 = payment
            .iter()
            .map(|p| u128::from(p.total_gas_limit()) * max_fee_per_gas)
            .sum();
        let out_eth: u128 = payment.iter().map(Payment::eth).sum();
        let out_tok: u128 = payment.iter().map(Payment::tokens).sum();
        let h = holdings[k];
        incoming[k] = (
            (need.eth + out_eth + gas_cost).saturating_sub(h.eth),
            (need.tokens + out_tok).saturating_sub(h.tokens),
        );
        payments[k] = payment;
    }
    let mut root = Vec::new();
    if flat {
        for (k, h) in holdings.iter().enumerate().skip(1) {
            let (eth, tokens) = (
                need.eth.saturating_sub(h.eth),
                need.tokens.saturating_sub(h.tokens),
            );
            if eth > 0 || tokens > 0 {
                let txs = usize::from(eth > 0) + usize::from(tokens > 0);
                let gas_limit = if eth > 0 { tree.gas.transfer } else { 0 }
                    + if tokens > 0 {
                        tree.gas.token_transfer
                    } else {
                        0
                    };
                root.push(Payment {
                    payer: 0,
                    kind: PaymentKind::Direct,
                    recipients: vec![(k, eth, tokens)],
                    approve: false,
                    approve_gas: 0,
                    gas_limit,
                    txs,
                });
            }
        }
    } else {
        root = disperse_payments(tree, 0, &incoming, holdings[0].approved);
    }
    let mut out = FundingPlan::default();
    let root_gas: u64 = root.iter().map(Payment::total_gas_limit).sum();
    out.funder_eth =
        root.iter().map(Payment::eth).sum::<u128>() + u128::from(root_gas) * max_fee_per_gas;
    out.funder_tokens = root.iter().map(Payment::tokens).sum();
    out.levels.push(root);
    for (k, ps) in payments.into_iter().enumerate().skip(1) {
        for p in ps {
            let level = tree.level_of(k);
            if out.levels.len() <= level {
                out.levels.resize(level + 1, Vec::new());
            }
            out.levels[level].push(p);
        }
    }
    for p in out.levels.iter().flatten() {
        out.txs += p.txs;
        out.gas_limit += p.total_gas_limit();
    }
    out.levels.retain(|l| !l.is_empty());
    out
}

/// Recipients per Disperse call (at most `fit`) that put the most recipients in a block of
/// `block_gas` when blocks are packed by gas limit: a call of 100 that needs a hair over a fifth
/// of a block leaves a fifth empty in every block, one of 97 fills it. Ties go to fewer calls.
pub fn packing_chunk(fit: usize, block_gas: u64, gas: impl Fn(usize) -> u64) -> usize {
    let per_block = |c: usize| (block_gas / gas(c).max(1)).saturating_mul(c as u64);
    let mut best = fit.max(1);
    for c in (1..=fit).rev() {
        if per_block(c) > per_block(best) {
            best = c;
        }
    }
    best
}

/// The Disperse payments of `payer` to its children that still lack something: one call, or
/// several when one would exceed `max_tx_gas`. The first carries the approve if one is needed.
fn disperse_payments(
    tree: &FundingTree,
    payer: usize,
    incoming: &[(u128, u128)],
    approved: bool,
) -> Vec<Payment> {
    let recipients: Vec<(usize, u128, u128)> = tree
        .children(payer)
        .filter(|&c| incoming[c] != (0, 0))
        .map(|c| (c, incoming[c].0, incoming[c].1))
        .collect();
    if recipients.is_empty() {
        return Vec::new();
    }
    let with_tokens = recipients.iter().any(|r| r.2 > 0);
    let per = if with_tokens {
        tree.gas.disperse_per_tokens
    } else {
        tree.gas.disperse_per_eth
    };
    let fit = (tree.max_tx_gas.saturating_sub(tree.gas.disperse_base) / per).max(1) as usize;
    let chunk = packing_chunk(fit.min(recipients.len()), tree.max_tx_gas, |c| {
        tree.gas.disperse(c as u64, with_tokens)
    });
    let mut approve = with_tokens && !approved;
    recipients
        .chunks(chunk)
        .map(|chunk| {
            let p = Payment {
                payer,
                kind: PaymentKind::Disperse,
                recipients: chunk.to_vec(),
                approve,
                approve_gas: if approve { tree.gas.approve } else { 0 },
                gas_limit: tree.gas.disperse(chunk.len() as u64, with_tokens),
                txs: 1 + usize::from(approve),
            };
            approve = false;
            p
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_are_sized_to_pack_blocks() {
        // 50k per call + 60k per recipient, 30 M blocks: 100 a call fits 4 a block (400
        // recipients), 99 fits 5 (495).
        let gas = |c: usize| 50_000 + 60_000 * c as u64;
        assert_eq!(packing_chunk(100, 30_000_000, gas), 99);
        // Calls of 100 that fill a block exactly: no reason to split.
        assert_eq!(packing_chunk(100, 60_500_000, gas), 100);
        assert_eq!(packing_chunk(1, 30_000_000, gas), 1);
    }

    #[test]
    fn shape_of_a_ten_ary_tree() {
        let t = FundingTree::new(110, 10);
        assert_eq!(t.children(0), 1..11);
        assert_eq!(t.children(1), 11..21);
        assert_eq!(t.children(10), 101..111);
        assert!(t.children(11).is_empty());
        assert_eq!(t.depth(), 2);
        assert_eq!(FundingTree::new(1000, 10).depth(), 3);
        assert_eq!(FundingTree::new(10_000, 100).depth(), 2);
        assert_eq!(FundingTree::new(1, 10).depth(), 1);
        assert_eq!(FundingTree::new(0, 10).depth(), 0);
    }

    #[test]
    fn a_payment_over_the_block_gas_limit_is_split() {
        let t = FundingTree::new(300, 300).with_max_tx_gas(30_000_000);
        let p = plan(
            &t,
            Need {
                eth: 10,
                tokens: 10,
            },
            &vec![Holding::default(); 301],
            1,
            false,
        );
        // 60k + n × 75k ≤ 30M ⇒ 399 per call, but a call of 300 (22.6 M) leaves a block 25 %
        // empty: two of 199 fit a block, so 300 go as 199 + 101. With 10M, 132 per call.
        let sizes: Vec<usize> = p.levels[0].iter().map(|x| x.recipients.len()).collect();
        assert_eq!(sizes, [199, 101]);
        let t = t.with_max_tx_gas(10_000_000);
        let p = plan(
            &t,
            Need {
                eth: 10,
                tokens: 10,
            },
            &vec![Holding::default(); 301],
            1,
            false,
        );
        let sizes: Vec<usize> = p.levels[0].iter().map(|x| x.recipients.len()).collect();
        assert_eq!(sizes, [132, 132, 36]);
        assert!(p.levels[0].iter().all(|x| x.gas_limit <= 10_000_000));
        assert_eq!(p.levels[0].iter().filter(|x| x.approve).count(), 1);
        assert_eq!(p.txs, 4);
    }

    #[test]
    fn funded_set_needs_nothing() {
        let t = FundingTree::new(30, 4);
        let need = Need {
            eth: 100,
            tokens: 5,
        };
        let held = vec![
            Holding {
                eth: 100,
                tokens: 5,
                approved: true
            };
            31
        ];
        assert!(plan(&t, need, &held, 1, false).is_empty());
        assert!(plan(&t, need, &held, 1, true).is_empty());
    }
}
