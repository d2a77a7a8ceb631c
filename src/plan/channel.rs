//! Expansion of `channel` workloads: ledgers, creates, distinct closes, updates on open channels.
//!
//! All times are milliseconds (the old generator mixed seconds and milliseconds). Invariants
//! (tested): a close or update comes after its create; closes pick distinct channels; a
//! ledger-funded create is at least `ledger_delay` after its ledger; nothing after `duration`
//! except `close_ledger_channel`, which is at exactly `duration`.

use super::rng::{Draw, Purpose, stream};
use super::{Cx, JobId, JobPrefix, PlanError, Step, StepKind, WalletRef, offset};
use crate::scenario::{ChannelWorkload, count_for};

struct Ledger {
    at: u64,
    creator: WalletRef,
    peer: WalletRef,
    funded: u64,
}

struct Channel {
    at: u64,
    creator: WalletRef,
    peer: WalletRef,
    ledger: Option<usize>,
    close_at: Option<u64>,
}

/// Picks the acting party: the creator or the peer with equal probability.
fn either(draw: &mut Draw, a: WalletRef, b: WalletRef) -> (WalletRef, WalletRef) {
    if draw.coin() { (b, a) } else { (a, b) }
}

/// Expands one channel workload into `out`: ledger creates, channel creates and their closes,
/// updates, then ledger closes. Each random stream is drawn in the same order as ever.
pub(crate) fn expand(cx: &Cx, c: &ChannelWorkload, out: &mut Vec<Step>) -> Result<(), PlanError> {
    let mut ledgers = make_ledgers(cx, c);
    let mut channels = make_channels(cx, c, &ledgers).map_err(|m| plan_error(cx, "ledger_delay", m, "create ledgers earlier (ledger_duration), shorten ledger_delay or lengthen the duration"))?;
    for ch in &channels {
        if let Some(l) = ch.ledger {
            ledgers[l].funded += 1;
        }
    }
    // Also picks the closing party of each close, as the closes are written.
    let mut close_draw = stream(cx.seed, cx.workload, Purpose::Closes);
    schedule_closes(cx, c, &mut channels, &mut close_draw)?;
    let mut steps = Steps {
        out,
        workload: cx.workload as u16,
        seq: 0,
    };
    for (i, l) in ledgers.iter().enumerate() {
        steps.push(
            l.at,
            StepKind::CreateLedgerChannel,
            ledger_job(i),
            (l.creator, l.peer),
            None,
            ledger_amount(c, l),
        );
    }
    push_creates_and_closes(&mut steps, c, &channels, &mut close_draw);
    push_updates(cx, c, &channels, &mut steps)?;
    if c.ledger.as_ref().is_some_and(|l| l.close_ledgers) {
        for (i, l) in ledgers.iter().enumerate() {
            steps.push(
                cx.duration_ms,
                StepKind::CloseLedgerChannel,
                ledger_job(i),
                (l.creator, l.peer),
                None,
                ledger_amount(c, l),
            );
        }
    }
    Ok(())
}

/// A plan error located at this workload's `key`.
fn plan_error(cx: &Cx, key: &'static str, message: String, help: &str) -> PlanError {
    PlanError {
        workload: cx.workload,
        key,
        message,
        help: help.to_string(),
    }
}

/// Ledger `i`'s job id.
fn ledger_job(i: usize) -> JobId {
    JobId {
        prefix: JobPrefix::Lg,
        n: i as u32,
    }
}

/// Channel `i`'s job id.
fn channel_job(i: usize) -> JobId {
    JobId {
        prefix: JobPrefix::Ch,
        n: i as u32,
    }
}

/// What a ledger holds: a deposit for each channel it funds (at least one).
fn ledger_amount(c: &ChannelWorkload, l: &Ledger) -> u128 {
    c.deposit * u128::from(l.funded.max(1))
}

/// Closes: distinct channels, chosen by a partial Fisher-Yates shuffle of the closable ones
/// (created at least `close_delay` before the end), each closed at a drawn instant after that.
fn schedule_closes(
    cx: &Cx,
    c: &ChannelWorkload,
    channels: &mut [Channel],
    close_draw: &mut Draw,
) -> Result<(), PlanError> {
    let d = cx.duration_ms;
    let closes = count_for(c.close_rate, d) as usize;
    let mut closable: Vec<usize> = (0..channels.len())
        .filter(|&i| channels[i].at + c.close_delay_ms < d)
        .collect();
    if closes > closable.len() {
        return Err(plan_error(
            cx,
            "close_rate",
            format!(
                "{closes} closes are planned but with seed {} only {} of {} channels are created early enough (before duration - close_delay) to be closed",
                cx.seed,
                closable.len(),
                channels.len()
            ),
            "lower close_rate or close_delay",
        ));
    }
    for i in 0..closes {
        let j = close_draw.range(i as u64, closable.len() as u64) as usize;
        closable.swap(i, j);
        let ch = &mut channels[closable[i]];
        ch.close_at = Some(close_draw.range(ch.at + c.close_delay_ms, d));
    }
    Ok(())
}

/// The workload's steps as they are written, numbered in writing order (`seq`).
struct Steps<'a> {
    out: &'a mut Vec<Step>,
    workload: u16,
    seq: u32,
}

impl Steps<'_> {
    /// Writes one step of this workload and numbers it.
    fn push(
        &mut self,
        at_ms: u64,
        kind: StepKind,
        job: JobId,
        (actor, peer): (WalletRef, WalletRef),
        ledger: Option<JobId>,
        amount: u128,
    ) {
        self.out.push(Step {
            at_ms: offset(at_ms),
            kind,
            workload: self.workload,
            job,
            actor,
            ledger,
            peer: Some(peer),
            amount: amount.into(),
            seq: self.seq,
        });
        self.seq += 1;
    }
}

/// Each channel's create, followed by its close (by either party) when it has one.
fn push_creates_and_closes(
    steps: &mut Steps,
    c: &ChannelWorkload,
    channels: &[Channel],
    close_draw: &mut Draw,
) {
    for (i, ch) in channels.iter().enumerate() {
        let job = channel_job(i);
        let ledger = ch.ledger.map(ledger_job);
        steps.push(
            ch.at,
            StepKind::CreateChannel,
            job,
            (ch.creator, ch.peer),
            ledger,
            c.deposit,
        );
        if let Some(at) = ch.close_at {
            steps.push(
                at,
                StepKind::CloseChannel,
                job,
                either(close_draw, ch.creator, ch.peer),
                ledger,
                c.deposit,
            );
        }
    }
}

/// Updates: an instant drawn uniformly over all channels' open time (strictly after the
/// create, strictly before the close), so every update lands on a channel open at that instant.
fn push_updates(
    cx: &Cx,
    c: &ChannelWorkload,
    channels: &[Channel],
    steps: &mut Steps,
) -> Result<(), PlanError> {
    let d = cx.duration_ms;
    let updates = count_for(c.update_rate, d);
    if updates == 0 {
        return Ok(());
    }
    let mut cumulative = Vec::with_capacity(channels.len());
    let mut total = 0u64;
    for ch in channels {
        total += ch.close_at.unwrap_or(d).saturating_sub(ch.at + 1);
        cumulative.push(total);
    }
    if total == 0 {
        return Err(plan_error(
            cx,
            "update_rate",
            "no channel is open for even a millisecond, so no update can be placed".into(),
            "lower close_delay's effect by creating channels earlier, or set update_rate = 0",
        ));
    }
    let mut draw = stream(cx.seed, cx.workload, Purpose::Updates);
    for _ in 0..updates {
        let x = draw.below(total);
        let i = cumulative.partition_point(|&cum| cum <= x);
        let before = if i == 0 { 0 } else { cumulative[i - 1] };
        let ch = &channels[i];
        steps.push(
            ch.at + 1 + (x - before),
            StepKind::UpdateChannel,
            channel_job(i),
            either(&mut draw, ch.creator, ch.peer),
            ch.ledger.map(ledger_job),
            0,
        );
    }
    Ok(())
}

/// Ledger channels, numbered in creation order.
fn make_ledgers(cx: &Cx, c: &ChannelWorkload) -> Vec<Ledger> {
    let Some(params) = &c.ledger else {
        return Vec::new();
    };
    let mut times = stream(cx.seed, cx.workload, Purpose::LedgerTimes);
    let mut parties = stream(cx.seed, cx.workload, Purpose::LedgerParties);
    let mut at: Vec<u64> = (0..count_for(params.rate, params.duration_ms))
        .map(|_| times.below(params.duration_ms))
        .collect();
    at.sort_unstable();
    at.into_iter()
        .map(|at| {
            let (creator, peer) = creator_pair(cx, c, &mut parties);
            Ledger {
                at,
                creator,
                peer,
                funded: 0,
            }
        })
        .collect()
}

fn creator_pair(cx: &Cx, c: &ChannelWorkload, draw: &mut Draw) -> (WalletRef, WalletRef) {
    let (role, peer_role) = if draw.coin() {
        (c.between[1], c.between[0])
    } else {
        (c.between[0], c.between[1])
    };
    cx.pair(draw, role, peer_role)
}

/// Channels, numbered in creation order. A ledger-funded channel is between its ledger's parties
/// and created in `[ledger.at + ledger_delay, duration)`.
fn make_channels(cx: &Cx, c: &ChannelWorkload, ledgers: &[Ledger]) -> Result<Vec<Channel>, String> {
    let d = cx.duration_ms;
    let n = count_for(c.create_rate, d);
    let mut times = stream(cx.seed, cx.workload, Purpose::Times);
    let mut parties = stream(cx.seed, cx.workload, Purpose::Parties);
    let mut channels: Vec<Channel> = Vec::with_capacity(n as usize);
    match &c.ledger {
        None => {
            for _ in 0..n {
                let at = times.below(d);
                let (creator, peer) = creator_pair(cx, c, &mut parties);
                channels.push(Channel {
                    at,
                    creator,
                    peer,
                    ledger: None,
                    close_at: None,
                });
            }
        }
        Some(params) => {
            let usable: Vec<usize> = (0..ledgers.len())
                .filter(|&i| ledgers[i].at + params.delay_ms < d)
                .collect();
            if usable.is_empty() && n > 0 {
                return Err(format!(
                    "with seed {} none of the {} ledgers is usable: each is created less than ledger_delay ({}ms) before the end",
                    cx.seed,
                    ledgers.len(),
                    params.delay_ms
                ));
            }
            for _ in 0..n {
                let li = usable[times.below(usable.len() as u64) as usize];
                let l = &ledgers[li];
                let at = times.range(l.at + params.delay_ms, d);
                let (creator, peer) = either(&mut parties, l.creator, l.peer);
                channels.push(Channel {
                    at,
                    creator,
                    peer,
                    ledger: Some(li),
                    close_at: None,
                });
            }
        }
    }
    // Stable: equal instants keep their draw order, so numbering is deterministic.
    channels.sort_by_key(|ch| ch.at);
    Ok(channels)
}
