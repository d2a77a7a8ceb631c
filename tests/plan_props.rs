//! Property tests of plan expansion: determinism and the DESIGN.md invariants on random scenarios.

use std::collections::{BTreeMap, BTreeSet};

use loadrun::plan::{JobId, Plan, Step, StepKind, expand};
use loadrun::scenario::*;
use proptest::prelude::*;

fn arrival() -> impl Strategy<Value = Arrival> {
    prop_oneof![
        Just(Arrival::Uniform),
        Just(Arrival::Constant),
        Just(Arrival::Poisson)
    ]
}

fn rate_workload(duration: u64, roles: u16) -> impl Strategy<Value = RateWorkload> {
    (
        0..roles,
        0..roles,
        0.0f64..40.0,
        1u128..1_000_000,
        arrival(),
        0..duration,
        0..duration,
    )
        .prop_map(move |(from, to, rate, amount, arrival, a, b)| {
            let (start_ms, stop_ms) = if a == b {
                (0, duration)
            } else {
                (a.min(b), a.max(b))
            };
            RateWorkload {
                from,
                to,
                rate,
                stages: Vec::new(),
                amount,
                arrival,
                start_ms,
                stop_ms,
            }
        })
}

fn channel_workload(duration: u64, roles: u16) -> impl Strategy<Value = ChannelWorkload> {
    (
        0..roles,
        0..roles,
        0.1f64..8.0,
        0.0f64..0.3,
        0.0f64..5.0,
        0..duration / 4,
        proptest::option::of((0.5f64..4.0, 1..duration, 0..duration / 3, any::<bool>())),
    )
        .prop_map(
            move |(a, b, create_rate, close_share, update_rate, close_delay_ms, ledger)| {
                ChannelWorkload {
                    between: [a, b],
                    create_rate,
                    close_rate: create_rate * close_share,
                    close_delay_ms,
                    update_rate,
                    deposit: 10_000,
                    ledger: ledger.map(|(rate, duration_ms, delay_ms, close_ledgers)| {
                        LedgerParams {
                            rate,
                            duration_ms,
                            delay_ms,
                            close_ledgers,
                        }
                    }),
                }
            },
        )
}

fn scenario() -> impl Strategy<Value = (Scenario, u64)> {
    (1_000u64..40_000, 1u16..4, any::<u64>())
        .prop_flat_map(|(duration, roles, seed)| {
            let kind = prop_oneof![
                channel_workload(duration, roles).prop_map(WorkloadKind::Channel),
                rate_workload(duration, roles).prop_map(WorkloadKind::Transfer),
                rate_workload(duration, roles).prop_map(WorkloadKind::TokenTransfer),
            ];
            (
                Just(duration),
                Just(roles),
                Just(seed),
                proptest::collection::vec(kind, 1..4),
            )
        })
        .prop_map(|(duration_ms, roles, seed, kinds)| {
            let scenario = Scenario {
                name: "prop".into(),
                seed,
                duration_ms,
                chain: ChainConfig::default(),
                roles: (0..roles)
                    .map(|i| Role {
                        name: format!("R{i}"),
                        wallets: 2 + u32::from(i),
                    })
                    .collect(),
                funding: Funding {
                    strategy: FundingStrategy::Tree,
                    fanout: 10,
                    eth: 1,
                    tokens: 1,
                },
                workloads: kinds
                    .into_iter()
                    .enumerate()
                    .map(|(index, kind)| Workload { index, kind })
                    .collect(),
                expect: Expect::default(),
                contracts: Vec::new(),
                setup: Vec::new(),
                capacity: Default::default(),
                delegations: Vec::new(),
            };
            (scenario, seed)
        })
}

fn count(plan: &Plan, w: usize, kind: StepKind) -> u64 {
    plan.steps
        .iter()
        .filter(|s| s.workload as usize == w && s.kind == kind)
        .count() as u64
}

/// Checks every invariant of DESIGN.md "Plan semantics" for one plan.
fn check_invariants(s: &Scenario, plan: &Plan) {
    let d = s.duration_ms;
    let key = |st: &Step| (st.at_ms, st.workload, st.job, st.kind, st.seq);
    assert!(
        plan.steps.windows(2).all(|w| key(&w[0]) < key(&w[1])),
        "not strictly sorted"
    );
    for st in &plan.steps {
        if st.kind == StepKind::CloseLedgerChannel {
            assert_eq!(u64::from(st.at_ms), d);
        } else {
            assert!(u64::from(st.at_ms) < d, "step beyond duration: {st:?}");
        }
        if let Some(p) = st.peer {
            assert_ne!(p, st.actor, "a step with itself as peer: {st:?}");
        }
    }
    for w in &s.workloads {
        let i = w.index;
        match &w.kind {
            WorkloadKind::Transfer(t) | WorkloadKind::TokenTransfer(t) => {
                let kind = if matches!(w.kind, WorkloadKind::Transfer(_)) {
                    StepKind::Transfer
                } else {
                    StepKind::TokenTransfer
                };
                if t.arrival != Arrival::Poisson {
                    assert_eq!(
                        count(plan, i, kind),
                        count_for(t.rate, t.stop_ms - t.start_ms)
                    );
                }
                for st in plan.steps.iter().filter(|st| st.workload as usize == i) {
                    assert!((t.start_ms..t.stop_ms).contains(&u64::from(st.at_ms)));
                    assert_eq!(st.actor.role, t.from);
                    assert_eq!(st.peer.map(|p| p.role), Some(t.to));
                }
            }
            WorkloadKind::Channel(c) => check_channel(plan, i, c, d),
            WorkloadKind::Call(_) | WorkloadKind::Read(_) | WorkloadKind::Blob(_) => {}
        }
    }
}

fn check_channel(plan: &Plan, w: usize, c: &ChannelWorkload, d: u64) {
    assert_eq!(
        count(plan, w, StepKind::CreateChannel),
        count_for(c.create_rate, d)
    );
    assert_eq!(
        count(plan, w, StepKind::CloseChannel),
        count_for(c.close_rate, d)
    );
    assert_eq!(
        count(plan, w, StepKind::UpdateChannel),
        count_for(c.update_rate, d)
    );
    let mine = || plan.steps.iter().filter(|s| s.workload as usize == w);
    let creates: BTreeMap<JobId, &Step> = mine()
        .filter(|s| s.kind == StepKind::CreateChannel)
        .map(|s| (s.job, s))
        .collect();
    let ledgers: BTreeMap<JobId, &Step> = mine()
        .filter(|s| s.kind == StepKind::CreateLedgerChannel)
        .map(|s| (s.job, s))
        .collect();
    let mut closed = BTreeMap::new();
    for s in mine().filter(|s| s.kind == StepKind::CloseChannel) {
        let create = creates[&s.job];
        assert!(
            u64::from(s.at_ms) >= u64::from(create.at_ms) + c.close_delay_ms,
            "close before create + close_delay"
        );
        assert!(
            closed.insert(s.job, s.at_ms).is_none(),
            "channel closed twice: {}",
            s.job
        );
    }
    for s in mine().filter(|s| s.kind == StepKind::UpdateChannel) {
        let create = creates[&s.job];
        assert!(s.at_ms > create.at_ms, "update not after its create");
        if let Some(close) = closed.get(&s.job) {
            assert!(s.at_ms < *close, "update after its close");
        }
        let parties: BTreeSet<_> = [create.actor, create.peer.unwrap()].into();
        assert_eq!(
            parties,
            [s.actor, s.peer.unwrap()].into(),
            "update by a non-party"
        );
    }
    match &c.ledger {
        None => assert!(ledgers.is_empty()),
        Some(l) => {
            assert_eq!(ledgers.len() as u64, count_for(l.rate, l.duration_ms));
            for create in creates.values() {
                let ledger = ledgers[&create
                    .ledger
                    .expect("ledger-funded create names its ledger")];
                assert!(
                    u64::from(create.at_ms) >= u64::from(ledger.at_ms) + l.delay_ms,
                    "ledger used before ledger_delay"
                );
                let parties: BTreeSet<_> = [ledger.actor, ledger.peer.unwrap()].into();
                assert_eq!(parties, [create.actor, create.peer.unwrap()].into());
            }
            let settles = count(plan, w, StepKind::CloseLedgerChannel);
            assert_eq!(
                settles,
                if l.close_ledgers {
                    ledgers.len() as u64
                } else {
                    0
                }
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn same_seed_same_plan_and_invariants_hold((s, seed) in scenario()) {
        let result = expand(&s, seed);
        // Seed-dependent shortages (too few closable channels) are reported, not planned;
        // proptest replaces such cases and fails if it has to reject too many.
        prop_assume!(result.is_ok());
        let plan = result.unwrap();
        prop_assert_eq!(&plan, &expand(&s, seed).unwrap());
        check_invariants(&s, &plan);
    }

    #[test]
    fn adding_a_workload_does_not_reshuffle_the_others((s, seed) in scenario()) {
        let mut first = s.clone();
        first.workloads.truncate(1);
        let (all, one) = (expand(&s, seed), expand(&first, seed));
        prop_assume!(all.is_ok() && one.is_ok());
        let (all, one) = (all.unwrap(), one.unwrap());
        let from_all: Vec<&Step> = all.steps.iter().filter(|st| st.workload == 0).collect();
        let from_one: Vec<&Step> = one.steps.iter().collect();
        prop_assert_eq!(from_all, from_one);
    }
}

#[test]
fn different_seeds_give_different_plans() {
    let text = std::fs::read_to_string("scenarios/direct.toml").unwrap();
    let s = parse("direct.toml", &text, DEFAULT_MAX_STEPS).unwrap();
    assert_ne!(expand(&s, 1).unwrap(), expand(&s, 2).unwrap());
}
