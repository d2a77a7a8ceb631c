//! Unit and property tests of the channel book.

use super::*;
use crate::model::{JobId, JobPrefix};

const ME: WalletRef = WalletRef { role: 0, index: 0 };
const PEER: WalletRef = WalletRef { role: 1, index: 0 };

fn job(n: u32) -> ChKey {
    ChKey {
        workload: 0,
        job: JobId {
            prefix: JobPrefix::Ch,
            n,
        },
    }
}

fn opening(book: &mut Book, n: u32) {
    book.opening(job(n), Ch::new(B256::ZERO, ME, PEER, 100, St::Opening));
}

#[test]
fn steps_wait_for_the_open_then_run_and_the_counterparty_hears_of_it() {
    let mut book = Book::new(0);
    opening(&mut book, 1);
    assert_eq!(book.gate(job(1), 7), Gate::Parked);
    assert_eq!(book.gate(job(1), 9), Gate::Parked);
    let fx = book.handle(Event::OpenSettled {
        job: job(1),
        result: Ok(()),
        on_chain: true,
    });
    let opened = PeerEvent::Opened {
        job: job(1),
        id: B256::ZERO,
        a: ME,
        b: PEER,
        holding: 100,
    };
    assert_eq!(
        fx,
        vec![Effect::Notify(1, opened), Effect::Take(7), Effect::Take(9)]
    );
    assert_eq!(book.gate(job(1), 10), Gate::Ready);
}

#[test]
fn a_failed_open_fails_the_waiting_steps_and_tells_the_counterparty() {
    let mut book = Book::new(0);
    opening(&mut book, 1);
    book.gate(job(1), 3);
    let fx = book.handle(Event::OpenSettled {
        job: job(1),
        result: Err("reverted".into()),
        on_chain: false,
    });
    let failed = PeerEvent::Failed {
        job: job(1),
        reason: "reverted".into(),
    };
    assert_eq!(fx, vec![Effect::Notify(1, failed), Effect::Take(3)]);
    // Taken again, the step learns it can never run.
    let skip = book.gate(job(1), 3);
    assert_eq!(
        skip,
        Gate::Skip(format!("channel {} failed: reverted", job(1)))
    );
}

#[test]
fn steps_behind_a_proposal_in_flight_run_one_by_one_after_it() {
    let mut book = Book::new(0);
    opening(&mut book, 1);
    book.handle(Event::OpenSettled {
        job: job(1),
        result: Ok(()),
        on_chain: true,
    });
    book.hold(job(1));
    assert_eq!(book.gate(job(1), 4), Gate::Parked);
    assert_eq!(book.gate(job(1), 5), Gate::Parked);
    assert_eq!(book.next_queued(job(1)), None, "busy: nothing runs");
    book.release(job(1));
    assert_eq!(book.next_queued(job(1)), Some(4));
    book.hold(job(1)); // step 4 proposes again
    assert_eq!(book.next_queued(job(1)), None);
    book.release(job(1));
    assert_eq!(book.next_queued(job(1)), Some(5));
}

#[test]
fn the_countersigner_refuses_stale_overdrawn_foreign_and_busy_states() {
    let mut book = Book::new(1);
    let st = |nonce, bal_a| State {
        channel: B256::ZERO,
        nonce,
        bal_a,
        bal_b: 0,
    };
    // The opener's first state teaches the countersigner the channel.
    let first = vec![(job(1), st(0, 100))];
    assert_eq!(book.check(PEER, ME, &first), Ok(()));
    book.handle(Event::Countersigned {
        proposal: &first,
        proposer: ME,
        signer: PEER,
    });
    let next = vec![(job(1), st(1, 100))];
    assert_eq!(book.check(PEER, ME, &next), Ok(()));
    book.handle(Event::Countersigned {
        proposal: &next,
        proposer: ME,
        signer: PEER,
    });
    let refused = |r: Result<(), SignRefusal>| match r {
        Err(SignRefusal::Failed(why)) => why,
        other => panic!("expected a refusal, got {other:?}"),
    };
    assert!(refused(book.check(PEER, ME, &next)).contains("stale state (nonce 1 after 1)"));
    let over = vec![(job(1), st(2, 101))];
    assert!(refused(book.check(PEER, ME, &over)).contains("balances exceed the holding"));
    let unknown = vec![(job(2), st(3, 1))];
    assert!(refused(book.check(PEER, ME, &unknown)).contains("unknown channel"));
    // The opener (role 1 here) has its own proposal in flight: the other party waits.
    let mut opener = Book::new(1);
    opener.opening(job(1), Ch::new(B256::ZERO, PEER, ME, 100, St::Open));
    opener.hold(job(1));
    let theirs = vec![(job(1), st(1, 100))];
    assert_eq!(
        opener.check(PEER, ME, &theirs),
        Err(SignRefusal::Busy(job(1)))
    );
}

#[test]
fn the_end_skips_what_still_waits_in_step_order_with_its_reason() {
    let mut book = Book::new(0);
    opening(&mut book, 1);
    book.gate(job(1), 8);
    book.gate(job(2), 3);
    let fx = book.handle(Event::End);
    assert_eq!(
        fx,
        vec![
            Effect::Skip(3, format!("channel {} never opened", job(2))),
            Effect::Skip(
                8,
                format!("channel {} was still not ready at the end", job(1))
            ),
        ]
    );
}

#[test]
fn a_close_included_tells_the_other_party_a_close_not_included_reopens() {
    let mut book = Book::new(0);
    opening(&mut book, 1);
    book.handle(Event::OpenSettled {
        job: job(1),
        result: Ok(()),
        on_chain: false,
    });
    book.handle(Event::Closing(job(1)));
    assert!(matches!(book.gate(job(1), 1), Gate::Skip(_)));
    assert_eq!(
        book.handle(Event::CloseEnded {
            job: job(1),
            ok: false
        }),
        vec![]
    );
    assert_eq!(book.gate(job(1), 2), Gate::Ready);
    let fx = book.handle(Event::CloseEnded {
        job: job(1),
        ok: true,
    });
    assert_eq!(
        fx,
        vec![Effect::Notify(1, PeerEvent::Closed { job: job(1) })]
    );
}

/// What may happen to three channels, in any order.
#[derive(Debug, Clone)]
enum Op {
    Step(u32),
    Opening(u32),
    Settle(u32, bool, bool),
    PeerOpened(u32),
    PeerFailed(u32),
    Hold(u32),
    Release(u32),
    Closing(u32),
    CloseEnded(u32, bool),
}

fn op() -> impl proptest::strategy::Strategy<Value = Op> {
    use proptest::prelude::*;
    let j = 0u32..3;
    prop_oneof![
        4 => j.clone().prop_map(Op::Step),
        1 => j.clone().prop_map(Op::Opening),
        1 => (j.clone(), any::<bool>(), any::<bool>()).prop_map(|(j, ok, c)| Op::Settle(j, ok, c)),
        1 => j.clone().prop_map(Op::PeerOpened),
        1 => j.clone().prop_map(Op::PeerFailed),
        1 => j.clone().prop_map(Op::Hold),
        1 => j.clone().prop_map(Op::Release),
        1 => j.clone().prop_map(Op::Closing),
        1 => (j, any::<bool>()).prop_map(|(j, ok)| Op::CloseEnded(j, ok)),
    ]
}

/// Drives the book as the actor does: a taken step is gated again; a ready one runs.
struct Driver {
    book: Book,
    /// Each step's channel.
    on: Vec<u32>,
    /// How each step ended: run or skipped, in order.
    ends: Vec<Vec<&'static str>>,
}

impl Driver {
    fn take(&mut self, idx: usize) {
        match self.book.gate(job(self.on[idx]), idx) {
            Gate::Ready => self.ends[idx].push("run"),
            Gate::Parked => {}
            Gate::Skip(_) => self.ends[idx].push("skip"),
        }
    }

    fn effects(&mut self, fx: Vec<Effect>) {
        for e in fx {
            match e {
                Effect::Take(i) => self.take(i),
                Effect::Skip(i, _) => self.ends[i].push("skip"),
                Effect::Notify(..) => {}
            }
        }
    }

    fn apply(&mut self, op: Op) {
        let fx = match op {
            Op::Step(j) => {
                self.on.push(j);
                self.ends.push(Vec::new());
                self.take(self.on.len() - 1);
                return;
            }
            Op::Opening(j) => {
                opening(&mut self.book, j);
                return;
            }
            Op::Settle(j, ok, on_chain) => self.book.handle(Event::OpenSettled {
                job: job(j),
                result: if ok { Ok(()) } else { Err("no".into()) },
                on_chain,
            }),
            Op::PeerOpened(j) => self.book.handle(Event::Peer(PeerEvent::Opened {
                job: job(j),
                id: B256::ZERO,
                a: PEER,
                b: ME,
                holding: 1,
            })),
            Op::PeerFailed(j) => self.book.handle(Event::Peer(PeerEvent::Failed {
                job: job(j),
                reason: "no".into(),
            })),
            Op::Hold(j) => {
                self.book.hold(job(j));
                return;
            }
            Op::Release(j) => {
                self.book.release(job(j));
                while let Some(i) = self.book.next_queued(job(j)) {
                    self.take(i);
                }
                return;
            }
            Op::Closing(j) => self.book.handle(Event::Closing(job(j))),
            Op::CloseEnded(j, ok) => self.book.handle(Event::CloseEnded { job: job(j), ok }),
        };
        self.effects(fx);
    }
}

proptest::proptest! {
    /// Whatever happens to the channels and in whatever order, every step ends exactly once
    /// — run or skipped, none lost at the end, none twice — and none runs on a channel that
    /// failed or closed.
    #[test]
    fn every_step_ends_exactly_once(ops in proptest::collection::vec(op(), 1..60)) {
        let mut d = Driver { book: Book::new(0), on: Vec::new(), ends: Vec::new() };
        for op in ops {
            d.apply(op);
        }
        let fx = d.book.handle(Event::End);
        d.effects(fx);
        for (idx, ends) in d.ends.iter().enumerate() {
            proptest::prop_assert_eq!(ends.len(), 1, "step {} ended {:?}", idx, ends);
        }
    }
}
