//! Which steps a process runs when one scenario is driven from several (`--shard I/N`,
//! `--role R`): a deterministic partition of the plan by wallet, so no two processes ever send
//! from one wallet, and the parties of a channel (and a ledger with the channels it funds)
//! stay in one shard.
//!
//! The partition: wallets joined by a channel or ledger step (both parties; a ledger-funded
//! channel's parties with its ledger's) form a group; groups are dealt to shards largest first
//! (by the steps their wallets perform; ties by the lowest wallet), each to the shard with the
//! fewest steps so far (ties: the lowest shard). The same plan gives the same partition in every
//! process. Transfers and calls join nothing: a recipient never sends for the step.

use std::collections::HashMap;
use std::fmt;

use super::{JobId, Plan, Step, StepKind, WalletRef};

/// `I/N`: shard `index` (1-based) of `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl std::str::FromStr for Shard {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("`{s}` is not a shard: write I/N with 1 <= I <= N, e.g. 2/4");
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let index: u32 = i.trim().parse().map_err(|_| bad())?;
        let count: u32 = n.trim().parse().map_err(|_| bad())?;
        if index == 0 || count == 0 || index > count {
            return Err(bad());
        }
        Ok(Self { index, count })
    }
}

/// Union-find over wallet positions.
struct Groups {
    parent: Vec<usize>,
}

impl Groups {
    fn find(&mut self, mut a: usize) -> usize {
        while self.parent[a] != a {
            self.parent[a] = self.parent[self.parent[a]];
            a = self.parent[a];
        }
        a
    }

    /// Joins; the lower position becomes the root, so roots are each group's lowest wallet.
    fn join(&mut self, a: usize, b: usize) {
        let (a, b) = (self.find(a), self.find(b));
        let (lo, hi) = if a < b { (a, b) } else { (b, a) };
        self.parent[hi] = lo;
    }
}

/// The shard (0-based) of every wallet, in `wallets::all` order: `offsets[role]` is the
/// position of the role's first wallet, `total` the number of wallets.
pub fn assign(plan: &Plan, offsets: &[usize], total: usize, count: u32) -> Vec<u32> {
    let pos = |w: WalletRef| offsets[usize::from(w.role)] + w.index as usize;
    let mut groups = Groups {
        parent: (0..total).collect(),
    };
    // A ledger's parties, to join a channel it funds with them.
    let mut ledgers: HashMap<(u16, JobId), (WalletRef, Option<WalletRef>)> = HashMap::new();
    for s in &plan.steps {
        if s.kind == StepKind::CreateLedgerChannel {
            ledgers.insert((s.workload, s.job), (s.actor, s.peer));
        }
    }
    let mut weight = vec![0u64; total];
    for s in &plan.steps {
        let me = pos(s.actor);
        weight[me] += 1;
        if !is_channel(s) {
            continue;
        }
        if let Some(p) = s.peer {
            groups.join(me, pos(p));
        }
        if let Some((a, b)) = s.ledger.and_then(|l| ledgers.get(&(s.workload, l))) {
            groups.join(me, pos(*a));
            if let Some(b) = b {
                groups.join(me, pos(*b));
            }
        }
    }
    let mut group_weight: HashMap<usize, u64> = HashMap::new();
    for (w, n) in weight.iter().enumerate() {
        *group_weight.entry(groups.find(w)).or_default() += n;
    }
    let mut order: Vec<(usize, u64)> = group_weight.into_iter().collect();
    order.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut load = vec![0u64; count as usize];
    let mut shard_of_root: HashMap<usize, u32> = HashMap::new();
    for (root, w) in order {
        let (best, _) = load
            .iter()
            .enumerate()
            .min_by_key(|(i, l)| (**l, *i))
            .expect("count >= 1");
        load[best] += w;
        shard_of_root.insert(root, best as u32);
    }
    (0..total).map(|w| shard_of_root[&groups.find(w)]).collect()
}

fn is_channel(s: &Step) -> bool {
    !matches!(
        s.kind,
        StepKind::Transfer
            | StepKind::TokenTransfer
            | StepKind::Call
            | StepKind::Read
            | StepKind::Blob
    )
}

/// Whether the step changes the Adjudicator's counters or holdings (ledger-funded channels
/// and updates live off chain).
fn on_adjudicator(s: &Step) -> bool {
    match s.kind {
        StepKind::CreateLedgerChannel | StepKind::CloseLedgerChannel => true,
        StepKind::CreateChannel | StepKind::CloseChannel => s.ledger.is_none(),
        _ => false,
    }
}

/// What a process runs: the plan steps it sends (ascending), and which wallets only its steps
/// touch (their balances can be checked by this process alone).
#[derive(Debug, Clone)]
pub struct Part {
    pub steps: Vec<usize>,
    /// Per wallet position: no step of another process changes its balances.
    pub own: Vec<bool>,
    /// No step of another process touches the Adjudicator.
    pub own_adjudicator: bool,
    /// Per wallet position: this process may send from it (its shard, its role).
    pub senders: Vec<bool>,
}

/// The steps of `shard` (if any) and of `role` (if any), and what only they touch.
pub fn part(
    plan: &Plan,
    offsets: &[usize],
    total: usize,
    shard: Option<Shard>,
    role: Option<u16>,
) -> Part {
    let shard_of = shard.map(|s| assign(plan, offsets, total, s.count));
    let pos = |w: WalletRef| offsets[usize::from(w.role)] + w.index as usize;
    let mine = |s: &Step| {
        role.is_none_or(|r| s.actor.role == r)
            && match (&shard_of, shard) {
                (Some(of), Some(sh)) => of[pos(s.actor)] == sh.index - 1,
                _ => true,
            }
    };
    let mut steps = Vec::new();
    // 0: untouched, 1: only by this process, 2: by another.
    let mut touch = vec![0u8; total];
    let mut own_adjudicator = true;
    for (i, s) in plan.steps.iter().enumerate() {
        let m = mine(s);
        if m {
            steps.push(i);
        }
        let mark = if m { 1 } else { 2 };
        let mut hit = |w: WalletRef| {
            let t = &mut touch[pos(w)];
            *t = (*t).max(mark);
        };
        hit(s.actor);
        // A transfer's recipient receives; a channel's peer is in the same shard already.
        if let Some(p) = s.peer {
            hit(p);
        }
        if !m && on_adjudicator(s) {
            own_adjudicator = false;
        }
    }
    let role_of = |w: usize| offsets.iter().rposition(|o| *o <= w).unwrap_or(0) as u16;
    let senders = (0..total)
        .map(|w| {
            role.is_none_or(|r| role_of(w) == r)
                && shard_of
                    .as_ref()
                    .zip(shard)
                    .is_none_or(|(of, sh)| of[w] == sh.index - 1)
        })
        .collect();
    Part {
        steps,
        own: touch.iter().map(|t| *t < 2).collect(),
        own_adjudicator,
        senders,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIXED: &str = r#"
version = 1
[scenario]
name = "p"
seed = 9
duration = "20s"
[roles.A]
wallets = 12
[roles.B]
wallets = 12
[roles.C]
wallets = 5
[funding]
eth = "1 ether"
[[workload]]
type = "channel"
funding = "direct"
between = ["A", "B"]
create_rate = 0.5
close_rate = 0.2
close_delay = "3s"
update_rate = 2.0
deposit = "1 gwei"
[[workload]]
type = "channel"
funding = "ledger"
between = ["A", "C"]
create_rate = 0.5
close_rate = 0.1
close_delay = "2s"
deposit = "1 gwei"
ledger_rate = 1.0
ledger_duration = "3s"
ledger_delay = "4s"
close_ledgers = true
[[workload]]
type = "transfer"
from = "B"
to = "C"
rate = 10.0
amount = "1 gwei"
"#;

    fn setup() -> (Plan, Vec<usize>, usize) {
        let sc = crate::scenario::parse("p.toml", MIXED, 1_000_000).unwrap();
        let plan = crate::plan::expand(&sc, sc.seed).unwrap();
        (plan, vec![0, 12, 24], 29)
    }

    #[test]
    fn every_step_is_in_one_shard_with_its_channel_and_ledger() {
        let (plan, offsets, total) = setup();
        let pos = |w: WalletRef| offsets[usize::from(w.role)] + w.index as usize;
        for n in 1..=4u32 {
            let of = assign(&plan, &offsets, total, n);
            assert_eq!(of, assign(&plan, &offsets, total, n), "deterministic");
            let parts: Vec<Part> = (1..=n)
                .map(|i| {
                    part(
                        &plan,
                        &offsets,
                        total,
                        Some(Shard { index: i, count: n }),
                        None,
                    )
                })
                .collect();
            let mut seen = vec![0u32; plan.steps.len()];
            for p in &parts {
                for &i in &p.steps {
                    seen[i] += 1;
                }
            }
            assert!(
                seen.iter().all(|c| *c == 1),
                "each step in exactly one shard"
            );
            // A channel's steps (both parties) and its ledger's are in one shard.
            let mut job_shard: HashMap<(u16, JobId), u32> = HashMap::new();
            for s in plan.steps.iter().filter(|s| is_channel(s)) {
                let sh = of[pos(s.actor)];
                assert_eq!(of[pos(s.peer.unwrap())], sh, "{s:?}");
                for job in std::iter::once(s.job).chain(s.ledger) {
                    assert_eq!(
                        *job_shard.entry((s.workload, job)).or_insert(sh),
                        sh,
                        "{s:?}"
                    );
                }
            }
            if n == 1 {
                assert!(parts[0].own.iter().all(|o| *o) && parts[0].own_adjudicator);
            }
        }
        // With two shards both get work, and a recipient of both is nobody's own.
        let two: Vec<Part> = (1..=2)
            .map(|i| {
                part(
                    &plan,
                    &offsets,
                    total,
                    Some(Shard { index: i, count: 2 }),
                    None,
                )
            })
            .collect();
        assert!(two.iter().all(|p| !p.steps.is_empty()));
        let (a, b) = (two[0].steps.len() as f64, two[1].steps.len() as f64);
        assert!(a.min(b) / a.max(b) > 0.5, "balanced: {a} vs {b}");
    }

    #[test]
    fn a_role_part_has_that_roles_steps_only() {
        let (plan, offsets, total) = setup();
        let p = part(&plan, &offsets, total, None, Some(1));
        assert!(!p.steps.is_empty());
        assert!(p.steps.iter().all(|&i| plan.steps[i].actor.role == 1));
        assert_eq!(
            p.steps.len(),
            plan.steps.iter().filter(|s| s.actor.role == 1).count()
        );
    }

    #[test]
    fn shards_parse_and_refuse_nonsense() {
        assert_eq!("2/4".parse::<Shard>(), Ok(Shard { index: 2, count: 4 }));
        for bad in ["0/2", "3/2", "1/0", "x/2", "2", "1/2/3"] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
    }
}
