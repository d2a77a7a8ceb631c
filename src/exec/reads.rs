//! Read steps (`type = "read"`): each is one JSON-RPC request, fired open loop like any step,
//! timed from the instant it leaves to its answer, and reported straight to the collector. No
//! transaction, nonce or lane is involved. Reads of a `batch = true` workload that fall due
//! together leave as one batch; the others leave one per request (what a dapp's frontend does).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::mpsc;

use super::msg::{Ctx, Done};
use crate::chain::Chain;
use crate::chain::contracts::Contracts;
use crate::chain::reads::{Outcome, ReadPath, ReadShape, params};
use crate::chain::wire::Wire;
use crate::model::rows::Status;
use crate::scenario::{ReadMethod, Scenario, WorkloadKind};

/// Reads per batch at most.
const MAX_BATCH: usize = 100;

/// One read workload, ready to fire.
struct Spec {
    shape: ReadShape,
    /// eth_call: the function (a templated workload's input is encoded per step).
    function: Option<alloy::json_abi::Function>,
    /// The arguments of a workload without templates.
    args: Vec<String>,
    batch: bool,
    timeout: Duration,
    /// eth_call with `to = "self"`: the read's own wallet is `to`.
    to_sender: bool,
}

/// A read waiting for its batch.
struct Queued {
    idx: usize,
    id: u64,
    method: ReadMethod,
    params: String,
    timeout: Duration,
    /// Where its result goes. Carried by each read, so that no task holds a sender past the
    /// reads it carries (the collector ends when the last sender drops).
    done: std::sync::mpsc::Sender<Done>,
}

/// The run's read workloads and the path their requests take.
pub struct Reads {
    specs: Vec<Option<Spec>>,
    /// Steps whose receipts some read reads, and (once known) their transactions' hashes.
    wanted: std::collections::HashSet<usize>,
    hashes: std::sync::Mutex<std::collections::HashMap<usize, alloy::primitives::B256>>,
    path: ReadPath,
    next_id: AtomicU64,
    /// The batcher of `batch = true` workloads (started with the first such read).
    batches: std::sync::OnceLock<mpsc::UnboundedSender<Queued>>,
}

impl Reads {
    /// The read workloads of `scenario`, or `None` when it has none. Reads go over their own
    /// lean connections to a plain-http endpoint (not the send path's), else the full client.
    pub fn new(
        scenario: &Scenario,
        plan: &crate::plan::Plan,
        contracts: Contracts,
        chain: &Chain,
    ) -> Option<Self> {
        let mut wanted = std::collections::HashSet::new();
        let mut specs = Vec::with_capacity(scenario.workloads.len());
        for w in &scenario.workloads {
            specs.resize_with(w.index, || None);
            let WorkloadKind::Read(r) = &w.kind else {
                specs.push(None);
                continue;
            };
            if r.receipts_of.is_some() {
                let picks = plan.args.get(w.index).and_then(Option::as_ref);
                let jobs = plan
                    .steps
                    .iter()
                    .filter(|s| usize::from(s.workload) == w.index);
                for s in jobs {
                    let pick = picks.map(|a| a.of(s.job.n as usize, 0));
                    if let Some(i) = pick.and_then(|p| p.first()?.parse().ok()) {
                        wanted.insert(i);
                    }
                }
            }
            let to = (r.method == ReadMethod::Call || r.has_to)
                .then(|| contracts.resolve(scenario, &r.call.to));
            specs.push(Some(Spec {
                shape: ReadShape {
                    method: r.method,
                    to,
                },
                function: (r.method == ReadMethod::Call)
                    .then(|| r.call.function())
                    .flatten(),
                args: r.call.args.clone(),
                batch: r.batch,
                timeout: Duration::from_millis(r.timeout_ms),
                to_sender: r.call.to == crate::scenario::CallTarget::Sender,
            }));
        }
        specs.iter().any(Option::is_some).then(|| {
            let path = match Wire::new(&chain.url, &chain.policy) {
                Some(w) => ReadPath::Wire(Arc::new(w)),
                None => ReadPath::Client(chain.provider.clone()),
            };
            Self {
                specs,
                wanted,
                hashes: Default::default(),
                path,
                next_id: AtomicU64::new(1),
                batches: std::sync::OnceLock::new(),
            }
        })
    }

    /// Step `idx`'s transaction is `hash` (included or not): kept when a read reads it.
    pub fn note(&self, idx: usize, hash: alloy::primitives::B256) {
        if self.wanted.contains(&idx)
            && let Ok(mut h) = self.hashes.lock()
        {
            h.insert(idx, hash);
        }
    }

    /// A receipt read's argument: the hash of the step its plan row names, if known by now.
    fn receipt_of(&self, args: &[String]) -> Result<Vec<String>, String> {
        let pick = args.first().map_or(crate::plan::read::NONE, String::as_str);
        let Ok(i) = pick.parse::<usize>() else {
            return Err("no transaction of its workload is planned before it".into());
        };
        let hash = self.hashes.lock().ok().and_then(|h| h.get(&i).copied());
        match hash {
            Some(h) => Ok(vec![format!("{h:#x}")]),
            None => Err(format!(
                "step {i} has no transaction hash yet (not included by then)"
            )),
        }
    }

    /// Fires read step `idx` now: its result reaches `done` when answered or timed out.
    pub fn fire(
        self: &Arc<Self>,
        ctx: &Arc<Ctx>,
        idx: usize,
        done: &std::sync::mpsc::Sender<Done>,
    ) {
        let s = &ctx.plan.steps[idx];
        let Some(spec) = self
            .specs
            .get(usize::from(s.workload))
            .and_then(Option::as_ref)
        else {
            let _ = done.send(Done::new(idx, Status::Failed, "other: not a read workload"));
            return;
        };
        let mut args = ctx.plan.call_args(idx).unwrap_or_else(|| spec.args.clone());
        if spec.shape.method == ReadMethod::GetTransactionReceipt {
            match self.receipt_of(&args) {
                Ok(a) => args = a,
                Err(why) => {
                    let _ = done.send(Done::new(idx, Status::Skipped, why));
                    return;
                }
            }
        }
        let input = match &spec.function {
            Some(f) => {
                let a: Vec<&str> = args.iter().map(String::as_str).collect();
                match crate::scenario::encode_input(f, &a) {
                    Some(i) => i,
                    None => {
                        let e = format!(
                            "other: cannot encode {}({})",
                            f.signature(),
                            args.join(", ")
                        );
                        let _ = done.send(Done::new(idx, Status::Failed, e));
                        return;
                    }
                }
            }
            None => Vec::new(),
        };
        let q = Queued {
            idx,
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            method: spec.shape.method,
            params: if spec.to_sender {
                let me = ctx.address(s.actor);
                let shape = ReadShape {
                    to: Some(me),
                    ..spec.shape.clone()
                };
                params(&shape, &args, &input, me)
            } else {
                params(&spec.shape, &args, &input, ctx.address(s.actor))
            },
            timeout: spec.timeout,
            done: done.clone(),
        };
        if spec.batch {
            let tx = self.batches.get_or_init(|| {
                let (tx, rx) = mpsc::unbounded_channel();
                tokio::spawn(batcher(self.path.clone(), ctx.clone(), rx));
                tx
            });
            if let Err(e) = tx.send(q) {
                let _ = done.send(Done::new(
                    e.0.idx,
                    Status::Failed,
                    "other: the run is ending",
                ));
            }
        } else {
            tokio::spawn(send(self.path.clone(), ctx.clone(), vec![q]));
        }
    }
}

/// Gathers the batched reads that are due together (all those queued by the time it runs, up
/// to `MAX_BATCH`) into one request each. It ends when the run's `Reads` (which hold its
/// sender) are dropped with the role actors.
async fn batcher(path: ReadPath, ctx: Arc<Ctx>, mut rx: mpsc::UnboundedReceiver<Queued>) {
    while let Some(first) = rx.recv().await {
        let mut group = vec![first];
        while group.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(q) => group.push(q),
                Err(_) => break,
            }
        }
        tokio::spawn(send(path.clone(), ctx.clone(), group));
    }
}

/// Sends `group` in one request and reports each read.
async fn send(path: ReadPath, ctx: Arc<Ctx>, group: Vec<Queued>) {
    let calls: Vec<(u64, ReadMethod, String)> = group
        .iter()
        .map(|q| (q.id, q.method, q.params.clone()))
        .collect();
    let timeout = group.iter().map(|q| q.timeout).min().unwrap_or_default();
    let sent_ms = ctx.now_ms();
    let answer = tokio::time::timeout(timeout, path.send(&calls)).await;
    let latency_ms = ctx.now_ms() - sent_ms;
    for (i, q) in group.iter().enumerate() {
        let mut d = match &answer {
            Err(_) => Done::new(
                q.idx,
                Status::Timeout,
                format!("rpc_timeout: no answer within {timeout:?}"),
            ),
            Ok(Err(e)) => Done::new(q.idx, Status::Failed, format!("connection: {e}")),
            Ok(Ok(outcomes)) => match outcomes.get(i) {
                Some(Outcome::Ok) => Done::new(q.idx, Status::Ok, ""),
                Some(Outcome::Failed(e)) => Done::new(q.idx, Status::Failed, e.clone()),
                None => Done::new(q.idx, Status::Failed, "other: no answer for this read"),
            },
        };
        d.sent_ms = Some(sent_ms);
        if answer.is_ok() {
            d.latency_ms = Some(latency_ms);
        }
        let _ = q.done.send(d);
    }
}
