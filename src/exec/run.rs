//! The plan executor: sets up the run's tasks (one actor per role, one lane per sending wallet,
//! the receipt watcher, the collector), fires each step at start + at_ms, open loop, then waits
//! for the outstanding results, stops everything and returns one row per step.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use alloy::primitives::Address;
use tokio::sync::{mpsc, watch};

use super::actor::Actor;
use super::calls::encode_calls;
use super::collect;
use super::interrupt::Interrupt;
use super::msg::{ActorMsg, Ctx};
use super::states::Domain;
use super::watcher::{self, Span};
use crate::chain::contracts::Contracts;
use crate::chain::tx::Fees;
use crate::model::order::Steps;

use crate::chain::{Chain, ChainError, read};
use crate::model::rows::StepRow;
use crate::plan::Plan;
use crate::scenario::Scenario;
use crate::wallets::{Directory, Wallet};

/// How a run executes.
pub struct Options {
    pub run_id: String,
    /// `steps.csv` is written here as results arrive.
    pub steps_csv: PathBuf,
    /// Wait for a receipt this long before a step is a timeout.
    pub receipt_timeout: Duration,
    /// After Ctrl-C, wait this long for in-flight results.
    pub grace: Duration,
    /// Steps to execute (indices into the plan, in order); `None` = all.
    pub subset: Option<Vec<usize>>,
    /// The wall-clock instant of the plan's 0 (`--start-at`, common to every shard); `None`:
    /// as soon as the tasks are set up.
    pub start_at: Option<std::time::SystemTime>,
}

/// What the executor runs: the plan, its scenario and wallets, on a chain whose contracts are
/// deployed, at the fees read before the start.
pub struct Inputs<'a> {
    pub plan: Arc<Plan>,
    pub scenario: &'a Scenario,
    pub wallets: &'a [Wallet],
    pub chain: &'a Chain,
    pub contracts: Contracts,
    pub fees: Fees,
    /// Blob workloads' pools by workload index (`blobs::prepare`, before the run's clock).
    pub blobs: Arc<Vec<Option<Arc<super::blobs::BlobPool>>>>,
}

/// What the executor produced (its rows are in steps.csv, and were handed to `rows` in step
/// order).
pub struct Executed {
    /// From the first scheduled instant to the last result, ms.
    pub wall_ms: f64,
    pub span: Span,
    pub interrupted: bool,
    pub fired: usize,
    /// Transactions re-broadcast or re-signed by the receipt watcher.
    pub resent: u64,
    /// The node stopped answering during the run (`[chain].retry_for` ran out).
    pub node_down: bool,
    /// Transactions re-signed at a higher fee (part of `resent`).
    pub resigned: u64,
    /// Transactions of this run in blocks a reorg replaced (sent again, same bytes).
    pub reorged: u64,
    /// The plan's instant 0, UNIX ms (to place the node's last answer and fall in the run).
    pub start_unix_ms: f64,
    /// `node_down` rows never sent, and sent without an answer.
    pub node_down_unsent: u64,
    pub node_down_unanswered: u64,
    /// loadrun's peak RSS while the plan ran, KiB (VmHWM before steps.csv is put in order).
    pub peak_rss_kb: Option<u64>,
}

/// Steps fire in gathers: while the next step is ahead, the loop sleeps until the `GATHER`-th
/// step from it falls due, but at most `GATHER_BUDGET` past the first; then it fires all that
/// are due. At 1,000/s that is one wake-up (and one send request) per 4 steps instead of one
/// per step, for at most 3 ms of added lateness (reported: lateness counts from the planned
/// instant); at higher rates `GATHER` steps are due sooner and the added lateness shrinks. The
/// sleep ends to the microsecond (`clock::Clock`), so the budget is all the gather adds.
const GATHER: usize = 8;
const GATHER_BUDGET: Duration = Duration::from_millis(3);

/// The scheduler's decision at step `k` of `len` (due at `due(k)`): `None` when it is due by
/// `now` (fire it at once), else when to wake — the `GATHER`-th step from it, but at most
/// `GATHER_BUDGET` past its own instant.
fn gather<T>(k: usize, len: usize, now: T, due: impl Fn(usize) -> T) -> Option<T>
where
    T: Ord + Copy + std::ops::Add<Duration, Output = T>,
{
    let at = due(k);
    (at > now).then(|| due((k + GATHER - 1).min(len - 1)).min(at + GATHER_BUDGET))
}

/// Lead time between setting up the tasks and the plan's instant 0.
const LEAD: Duration = Duration::from_millis(200);

/// The plan's instant 0 on tokio's clock: `LEAD` from now, or the wall-clock `at` (even if it
/// just passed: steps then fire late and their lateness says so).
fn start_instant(at: Option<std::time::SystemTime>) -> tokio::time::Instant {
    let now = tokio::time::Instant::now();
    let Some(at) = at else {
        return now + LEAD;
    };
    match at.duration_since(std::time::SystemTime::now()) {
        Ok(ahead) => now + ahead,
        Err(behind) => now.checked_sub(behind.duration()).unwrap_or(now),
    }
}

/// Runs the plan on `chain`; wallets must be funded and contracts deployed.
pub async fn execute(
    run: Inputs<'_>,
    opts: Options,
    interrupt: &Interrupt,
    rows: &mut dyn FnMut(&StepRow),
) -> Result<Executed, ChainError> {
    let prepared = context(&run, &opts).await?;
    let (ctx, start_unix_ms) = (prepared.ctx.clone(), prepared.start_unix_ms);
    let subset = match opts.subset.clone() {
        Some(v) => Steps::Listed(v),
        None => Steps::All(run.plan.steps.len()),
    };
    let mut tasks = spawn(&run, prepared, &subset, &opts)?;
    let (fired, mut interrupted) = fire(&ctx, &subset, &tasks.step_txs, interrupt).await;
    ctx.sender.wakes_at(None);
    let drained = drain(
        &ctx,
        &mut tasks.count_rx,
        fired,
        interrupted,
        &opts,
        interrupt,
    )
    .await;
    interrupted |= drained.interrupted;
    let wall_ms = ctx.now_ms();
    let span = tasks.stop(&run.plan).await;
    let peak_rss_kb = super::nodemon::status_kb("self", "VmHWM");
    let amended = tokio::task::spawn_blocking(move || tasks.collector.join())
        .await
        .map_err(|e| ChainError::Task {
            what: "the collector thread failed",
            why: e.to_string(),
        })?
        .map_err(|panic| {
            let why = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            ChainError::Task {
                what: "the collector thread panicked",
                why,
            }
        })?
        .map_err(steps_csv)?;
    let agg = collect::finish(&ctx, &subset, fired, (&opts.steps_csv, &amended), rows)
        .map_err(steps_csv)?;
    let count = |c: &std::sync::atomic::AtomicU64| c.load(std::sync::atomic::Ordering::Relaxed);
    Ok(Executed {
        wall_ms,
        span,
        interrupted,
        fired,
        resent: count(&ctx.resent),
        node_down: ctx.rpc_stats.is_down(),
        resigned: count(&ctx.resigned),
        reorged: count(&ctx.reorged),
        start_unix_ms,
        node_down_unsent: agg.node_down_unsent,
        node_down_unanswered: agg.node_down_unanswered,
        peak_rss_kb,
    })
}

/// A failure to write steps.csv.
fn steps_csv(source: std::io::Error) -> ChainError {
    ChainError::Results {
        file: "steps.csv",
        source,
    }
}

/// The wall-clock UNIX ms of a runtime instant.
fn unix_ms_of(at: tokio::time::Instant) -> f64 {
    let (now, unix) = (
        tokio::time::Instant::now(),
        crate::chain::rpc::unix_ms() as f64,
    );
    match at.checked_duration_since(now) {
        Some(ahead) => unix + ahead.as_secs_f64() * 1000.0,
        None => unix - now.duration_since(at).as_secs_f64() * 1000.0,
    }
}

/// What the tasks start from.
struct Prepared {
    /// What every task of the run shares.
    ctx: Arc<Ctx>,
    /// Each `call` workload encoded.
    calls: Arc<Vec<Option<super::calls::EncodedCall>>>,
    /// The read workloads, if any.
    reads: Option<Arc<super::reads::Reads>>,
    /// Blob workloads' pools.
    blobs: Arc<Vec<Option<Arc<super::blobs::BlobPool>>>>,
    /// Each wallet's next nonce on chain.
    nonces: Vec<u64>,
    /// The plan's instant 0, UNIX ms (read when it is set).
    start_unix_ms: f64,
}

/// Reads the wallets' nonces, encodes the calls and builds the shared context.
async fn context(run: &Inputs<'_>, opts: &Options) -> Result<Prepared, ChainError> {
    let chain = run.chain;
    let addresses: Vec<Address> = run.wallets.iter().map(|w| w.address).collect();
    let accounts = read::accounts(&chain.provider, &addresses, None).await?;
    let calls =
        Arc::new(encode_calls(run.scenario, &run.plan, run.contracts, chain, run.wallets).await);
    let blobs = run.blobs.clone();
    let start = start_instant(opts.start_at);
    let ctx = Arc::new(Ctx {
        plan: run.plan.clone(),
        provider: chain.provider.clone(),
        domain: Domain {
            adjudicator: run.contracts.adjudicator,
            chain_id: chain.chain_id,
        },
        contracts: run.contracts,
        run_id: opts.run_id.clone(),
        directory: Directory::new(run.scenario),
        addresses,
        start,
        receipt_timeout: opts.receipt_timeout,
        caps: chain.caps,
        resent: Default::default(),
        resigned: Default::default(),
        reorged: Default::default(),
        rpc_stats: chain.rpc_stats.clone(),
        gas: chain.gas,
        sender: super::batch::Batcher::spawn(
            chain.provider.clone(),
            chain.wire.clone(),
            chain.rpc_stats.clone(),
            start,
        ),
    });
    // Set-up steps that gave up and fell back (e.g. a gas estimate) do not make the node down.
    chain.rpc_stats.clear_down();
    Ok(Prepared {
        start_unix_ms: unix_ms_of(ctx.start),
        ctx,
        calls,
        reads: super::reads::Reads::new(run.scenario, &run.plan, run.contracts, chain)
            .map(Arc::new),
        blobs,
        nonces: accounts.iter().map(|a| a.nonce).collect(),
    })
}

/// The tasks of a running plan: the receipt watcher, the collector, one actor per role.
struct Tasks {
    watcher: tokio::sync::oneshot::Receiver<Span>,
    collector: std::thread::JoinHandle<std::io::Result<crate::model::order::Amended>>,
    /// Results collected so far.
    count_rx: watch::Receiver<usize>,
    mailboxes: Arc<Vec<mpsc::UnboundedSender<ActorMsg>>>,
    /// Each role actor's step inbox.
    step_txs: Vec<mpsc::UnboundedSender<usize>>,
    actors: Vec<tokio::task::JoinHandle<()>>,
    stop_tx: watch::Sender<bool>,
    lane_stop_tx: watch::Sender<bool>,
}

/// Starts the watcher, the collector and the role actors.
fn spawn(
    run: &Inputs<'_>,
    Prepared {
        ctx,
        calls,
        reads,
        blobs,
        nonces,
        ..
    }: Prepared,
    subset: &Steps,
    opts: &Options,
) -> Result<Tasks, ChainError> {
    let (fees_tx, fees_rx) = watch::channel(run.fees);
    let (watch_tx, watch_rx) = mpsc::unbounded_channel();
    let (stop_tx, stop_rx) = watch::channel(false);
    let (lane_stop_tx, lane_stop_rx) = watch::channel(false);
    let watcher = watcher::spawn(
        ctx.clone(),
        run.chain,
        watch_rx,
        fees_tx,
        run.fees.max_priority_fee_per_gas,
        stop_rx,
    )?;
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let (count_tx, count_rx) = watch::channel(0usize);
    let collector = collect::spawn(
        ctx.clone(),
        done_rx,
        opts.steps_csv.clone(),
        subset.len(),
        count_tx,
    )
    .map_err(|e| ChainError::Task {
        what: "cannot start the collector thread",
        why: e.to_string(),
    })?;
    let mut senders = Vec::new();
    let mut receivers = Vec::new();
    let mut step_txs = Vec::new();
    for _ in &run.scenario.roles {
        let (tx, rx) = mpsc::unbounded_channel::<ActorMsg>();
        let (steps_tx, steps_rx) = mpsc::unbounded_channel::<usize>();
        senders.push(tx);
        receivers.push((steps_rx, rx));
        step_txs.push(steps_tx);
    }
    let mailboxes = Arc::new(senders);
    let mut lane_ends =
        super::lane::single_tx_steps(&run.plan, (0..subset.len()).map(|k| subset.get(k)));
    let mut actors = Vec::new();
    for (r, (steps_rx, rx)) in receivers.into_iter().enumerate() {
        let mine: Vec<usize> = run
            .wallets
            .iter()
            .enumerate()
            .filter(|(_, w)| usize::from(w.at.role) == r)
            .map(|(i, _)| i)
            .collect();
        let actor = Actor {
            ctx: ctx.clone(),
            role: r as u16,
            signers: mine
                .iter()
                .map(|&i| run.wallets[i].signer().clone())
                .collect(),
            nonces: mine.iter().map(|&i| nonces[i]).collect(),
            fees: fees_rx.clone(),
            watcher: watch_tx.clone(),
            lane_stop: lane_stop_rx.clone(),
            mailboxes: mailboxes.clone(),
            done: done_tx.clone(),
            calls: calls.clone(),
            reads: reads.clone(),
            blobs: blobs.clone(),
            lane_ends: std::mem::take(&mut lane_ends[r]),
        };
        actors.push(tokio::spawn(actor.run(steps_rx, rx)));
    }
    Ok(Tasks {
        watcher,
        collector,
        count_rx,
        mailboxes,
        step_txs,
        actors,
        stop_tx,
        lane_stop_tx,
    })
}

/// The open loop: fires every step of `subset` at its instant (nothing here waits on the
/// network) until the end, Ctrl-C or the node going down; how many fired, and whether Ctrl-C
/// stopped it.
async fn fire(
    ctx: &Ctx,
    subset: &Steps,
    step_txs: &[mpsc::UnboundedSender<usize>],
    interrupt: &Interrupt,
) -> (usize, bool) {
    let plan = &ctx.plan;
    let mut fired = 0usize;
    let mut clock = super::clock::Clock::default();
    let due = |k: usize| ctx.start + Duration::from_millis(plan.steps[subset.get(k)].at_ms.into());
    for k in 0..subset.len() {
        let idx = subset.get(k);
        if let Some(wake) = gather(k, subset.len(), tokio::time::Instant::now(), due) {
            // Answers to the sends just made are read when this wakes, in the same wake-up.
            ctx.sender.wakes_at(Some(wake));
            tokio::select! {
                () = clock.sleep_until(wake) => ctx.sender.woke(),
                () = interrupt.wait() => return (fired, true),
                () = ctx.rpc_stats.wait_down() => return (fired, false),
            }
        } else {
            // Catching up on steps already due: let the signal and send tasks run now and then
            // (on one thread nothing else runs until this loop yields).
            tokio::task::coop::consume_budget().await;
            if interrupt.is_set() {
                return (fired, true);
            } else if ctx.rpc_stats.is_down() {
                return (fired, false);
            }
        }
        let role = usize::from(plan.steps[idx].actor.role);
        // Counted before it is handed over, so its result cannot come first.
        super::live::fired();
        let _ = step_txs[role].send(idx);
        fired += 1;
    }
    (fired, false)
}

/// How the wait for the last results ended.
struct Drained {
    /// Ctrl-C came while waiting.
    interrupted: bool,
}

/// Waits for the results of the `fired` steps: up to the receipt timeout (+15 s), or the grace
/// period once interrupted or the node is down; a second Ctrl-C ends the wait at once.
async fn drain(
    ctx: &Ctx,
    count_rx: &mut watch::Receiver<usize>,
    fired: usize,
    interrupted: bool,
    opts: &Options,
    interrupt: &Interrupt,
) -> Drained {
    // Results still in flight: wait for them (bounded), or for the grace period after Ctrl-C.
    let mut node_down = ctx.rpc_stats.is_down();
    let mut late_interrupt = false;
    let mut interrupted = interrupted;
    if node_down {
        tracing::error!(
            "the node stopped answering (transient failures outlasted [chain].retry_for): no more steps are sent"
        );
    }
    let limit = if interrupted || node_down {
        opts.grace
    } else {
        opts.receipt_timeout + Duration::from_secs(15)
    };
    let mut deadline = tokio::time::Instant::now() + limit;
    loop {
        if *count_rx.borrow() >= fired {
            break;
        }
        tokio::select! {
            () = tokio::time::sleep_until(deadline) => break,
            r = count_rx.changed() => if r.is_err() { break },
            () = ctx.rpc_stats.wait_down(), if !node_down => {
                // Once: the branch is off from now on (it would be ready at every turn).
                node_down = true;
                deadline = deadline.min(tokio::time::Instant::now() + opts.grace);
            }
            () = interrupt.wait_forced() => {
                tracing::warn!("second interrupt: writing results now");
                break;
            }
            () = interrupt.wait(), if !interrupted => {
                interrupted = true;
                late_interrupt = true;
                deadline = deadline.min(tokio::time::Instant::now() + opts.grace);
                tracing::warn!("interrupted: waiting up to {:?} for in-flight results", opts.grace);
            }
        }
    }
    Drained {
        interrupted: late_interrupt,
    }
}

impl Tasks {
    /// Stops the lanes (what they hold is reported as not sent), the actors and the watcher;
    /// the watcher's span of blocks.
    async fn stop(&mut self, plan: &Plan) -> Span {
        // Lanes stop sending and report what they still hold as not sent; give them a moment to
        // hand those reports to their actors before the actors stop.
        let _ = self.lane_stop_tx.send(true);
        tokio::time::sleep(Duration::from_millis(100)).await;
        for m in self.mailboxes.iter() {
            let _ = m.send(ActorMsg::Shutdown);
        }
        for (role, a) in std::mem::take(&mut self.actors).into_iter().enumerate() {
            if let Err(e) = a.await {
                tracing::error!("the actor of role {} failed: {e}", plan.roles[role]);
            }
        }
        let _ = self.stop_tx.send(true);
        (&mut self.watcher).await.unwrap_or_else(|_| {
            tracing::error!(
                "the receipt watcher stopped without its summary (a panic is printed on stderr)"
            );
            Span::default()
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_scheduler_fires_what_is_due_and_sleeps_until_a_gather_or_its_budget() {
        use std::time::{Duration, Instant};
        let t0 = Instant::now();
        // Steps every `gap` ms from 10 ms on.
        let due = |gap: u64| move |k: usize| t0 + Duration::from_millis(10 + gap * k as u64);
        // Due already: fire now.
        assert_eq!(
            super::gather(0, 100, t0 + Duration::from_millis(10), due(1)),
            None
        );
        // 1 ms apart: the 8th step from it is 7 ms later, past the 3-ms budget: wake 3 ms
        // after the first.
        assert_eq!(
            super::gather(0, 100, t0, due(1)),
            Some(t0 + Duration::from_millis(13))
        );
        // Steps due at one instant gather at that instant.
        assert_eq!(
            super::gather(0, 100, t0, due(0)),
            Some(t0 + Duration::from_millis(10))
        );
        // Near the end the last step bounds the gather.
        assert_eq!(
            super::gather(98, 100, t0, due(1)),
            Some(t0 + Duration::from_millis(109))
        );
        // Far apart: the budget after the step itself.
        assert_eq!(
            super::gather(0, 100, t0, due(50)),
            Some(t0 + Duration::from_millis(13))
        );
    }
}
