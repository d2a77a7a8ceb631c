//! `FundingTree` (shape) and `plan` (who pays whom how much, given what wallets already hold).

use std::ops::Range;

use crate::chain::gas;

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
}

impl FundingTree {
    pub fn new(wallets: usize, fanout: usize) -> Self {
        assert!(fanout >= 2, "fanout must be >= 2");
        Self { wallets, fanout }
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
        self.gas_limit + if self.approve { gas::APPROVE } else { 0 }
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
    let mut payments: Vec<Option<Payment>> = vec![None; n + 1];
    let nodes_bottom_up = if flat {
        Vec::new()
    } else {
        (1..=n).rev().collect::<Vec<_>>()
    };
    for k in nodes_bottom_up {
        let payment = disperse_payment(tree, k, &incoming, holdings[k].approved);
        let gas_cost = payment
            .as_ref()
            .map_or(0, |p| u128::from(p.total_gas_limit()) * max_fee_per_gas);
        let (out_eth, out_tok) = payment.as_ref().map_or((0, 0), |p| (p.eth(), p.tokens()));
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
                let gas_limit = if eth > 0 { gas::TRANSFER } else { 0 }
                    + if tokens > 0 { gas::TOKEN_TRANSFER } else { 0 };
                root.push(Payment {
                    payer: 0,
                    kind: PaymentKind::Direct,
                    recipients: vec![(k, eth, tokens)],
                    approve: false,
                    gas_limit,
                    txs,
                });
            }
        }
    } else if let Some(p) = disperse_payment(tree, 0, &incoming, holdings[0].approved) {
        root.push(p);
    }
    let mut out = FundingPlan::default();
    let root_gas: u64 = root.iter().map(Payment::total_gas_limit).sum();
    out.funder_eth =
        root.iter().map(Payment::eth).sum::<u128>() + u128::from(root_gas) * max_fee_per_gas;
    out.funder_tokens = root.iter().map(Payment::tokens).sum();
    out.levels.push(root);
    for (k, p) in payments.into_iter().enumerate().skip(1) {
        if let Some(p) = p {
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

/// The Disperse payment of `payer` to its children that still lack something, if any.
fn disperse_payment(
    tree: &FundingTree,
    payer: usize,
    incoming: &[(u128, u128)],
    approved: bool,
) -> Option<Payment> {
    let recipients: Vec<(usize, u128, u128)> = tree
        .children(payer)
        .filter(|&c| incoming[c] != (0, 0))
        .map(|c| (c, incoming[c].0, incoming[c].1))
        .collect();
    if recipients.is_empty() {
        return None;
    }
    let with_tokens = recipients.iter().any(|r| r.2 > 0);
    let approve = with_tokens && !approved;
    let gas_limit = gas::disperse(recipients.len() as u64, with_tokens);
    Some(Payment {
        payer,
        kind: PaymentKind::Disperse,
        recipients,
        approve,
        gas_limit,
        txs: 1 + usize::from(approve),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
