//! `run`'s stages: `Planned` → `Connected` → `Funded` → `Executed` → `Checked`. Each stage
//! consumes the one before it and holds it, so a later stage can reach anything an earlier one
//! knew; none of them prints (the CLI says what each returned).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::chain::Chain;
use crate::chain::observe::observe;
use crate::error::Error;
use crate::exec::interrupt::Interrupt;
use crate::exec::nodemon::Sampler;
use crate::exec::setup::{self, Funded as FundedWallets};
use crate::exec::setup_calls::SetupOutcome;
use crate::exec::telemetry::{Endpoints, Scraper, Telemetry};
use crate::model::node::{self, NodeSample};
use crate::model::observed::{Observed, Snapshots};
use crate::model::telemetry;
use crate::plan::Plan;
use crate::plan::shard::Part;
use crate::report::blocks::BlockRow;
use crate::report::sanity::{self, Books, Sanity};
use crate::report::tally::Tally;
use crate::report::verdict::{Events, Load, NodeDown};
use crate::scenario::{ChainConfig, Loaded};
use crate::wallets::{self, Directory, Wallet};

use super::part::{self as parts, PartSpec};
use super::write_output;

/// The files a run writes into its directory.
pub const RESULT_FILES: [&str; 12] = [
    "steps.csv",
    "blocks.csv",
    "summary.csv",
    "sanity.md",
    "sanity.json",
    "report.html",
    "run.toml",
    "verdict.json",
    "node.csv",
    "anvil.log",
    "observed.json",
    "delegations.csv",
];

/// A scenario expanded into its plan, the part of it this process runs, and its wallets.
pub struct Planned {
    pub loaded: Loaded,
    pub seed: u64,
    pub plan: Arc<Plan>,
    /// `None`: the whole plan.
    pub part: Option<Part>,
    pub wallets: Vec<Wallet>,
}

impl Planned {
    /// Expands `loaded` with `seed` (plan errors located in its file).
    pub fn new(loaded: Loaded, seed: u64) -> Result<Self, Error> {
        let plan = Arc::new(crate::plan::expand_loaded(&loaded, seed)?);
        let wallets = wallets::all(&loaded.scenario, seed);
        Ok(Self {
            loaded,
            seed,
            plan,
            part: None,
            wallets,
        })
    }

    /// Takes the part of the plan `spec` names (refused on a spawned chain: `rpc` is the flag),
    /// its expectations scaled to its share.
    pub fn take_part(&mut self, spec: &PartSpec, rpc: Option<&str>) -> Result<(), Error> {
        parts::check_start(spec.start_at, "already")?;
        let part = parts::resolve(&self.plan, &self.loaded.scenario, spec)?;
        parts::check_remote(
            part.as_ref(),
            crate::chain::rpc_url(&self.loaded.scenario.chain, rpc),
        )?;
        if let Some(p) = &part {
            parts::scale_expect(&mut self.loaded.scenario.expect, &self.plan, p);
        }
        self.part = part;
        Ok(())
    }

    /// Creates the run's directory (`out`, or a fresh `results/<name>/<run_id>`) and clears
    /// the result files an earlier run left in it.
    pub fn results_dir(&self, out: Option<&Path>, run_id: &str) -> Result<PathBuf, Error> {
        let dir = match out {
            Some(d) => d.to_path_buf(),
            None => super::names::unique_dir(
                &Path::new("results")
                    .join(&self.loaded.scenario.name)
                    .join(run_id),
            ),
        };
        std::fs::create_dir_all(&dir).map_err(|source| Error::Write {
            path: dir.display().to_string(),
            source,
        })?;
        Ok(dir)
    }

    /// The chain configuration to connect with: a spawned anvil's block gas limit sized for the
    /// plan's busiest block times `headroom` (capacity's later steps run the plan faster), and
    /// its log kept only with `node_log`.
    pub fn chain_config(&self, rpc: Option<&str>, node_log: bool, headroom: f64) -> ChainConfig {
        let chain = &self.loaded.scenario.chain;
        let mut cfg = super::fit::config_with_headroom(Some(&self.plan), chain, rpc, headroom);
        if !node_log {
            cfg.anvil_args.push("--quiet".into());
        }
        cfg
    }

    /// Spawns the chain (sized for the plan) or connects to `rpc`; anvil's log goes to `dir`.
    pub async fn connect(
        self,
        rpc: Option<&str>,
        node_log: bool,
        dir: &Path,
        interrupt: &Interrupt,
    ) -> Result<Connected, Error> {
        let cfg = self.chain_config(rpc, node_log, 1.0);
        let chain = tokio::select! {
            c = crate::chain::connect(&cfg, rpc, Some(dir)) => c?,
            () = interrupt.wait() => return Err(Error::Interrupted),
        };
        Ok(Connected {
            planned: self,
            chain,
            cfg,
        })
    }
}

/// A planned run and the chain it runs on.
pub struct Connected {
    pub planned: Planned,
    pub chain: Chain,
    /// The chain's configuration as used (sized for the plan).
    pub cfg: ChainConfig,
}

impl Connected {
    /// Deploys and funds (a part only checks that its wallets hold what they need).
    pub async fn fund(mut self, interrupt: &Interrupt) -> Result<Funded, Error> {
        let p = &self.planned;
        let (scenario, all) = (&p.loaded.scenario, &p.wallets);
        let funded = tokio::select! {
            f = async {
                match &p.part {
                    None => setup::fund(&mut self.chain, scenario, Some(&p.plan), all).await,
                    Some(part) => setup::check_funded(&mut self.chain, scenario, &p.plan, all, &part.steps, &p.loaded.file).await,
                }
            } => f.map_err(|e| located(&p.loaded, e))?,
            () = interrupt.wait() => return Err(Error::Interrupted),
        };
        Ok(Funded {
            connected: self,
            wallets: funded,
            setup: SetupOutcome::default(),
            delegated: Default::default(),
        })
    }
}

/// A `[funding]` shortfall located at its key in the scenario file.
pub fn located(loaded: &Loaded, e: Error) -> Error {
    match e {
        Error::Underfunded { key, message, help } => {
            Error::Scenario(loaded.locate_funding(key, message, help))
        }
        other => other,
    }
}

/// A connected run whose wallets hold what the plan needs.
pub struct Funded {
    pub connected: Connected,
    pub wallets: FundedWallets,
    /// The `[[setup]]` calls made (`run_setup`).
    pub setup: SetupOutcome,
    /// The `[[delegate]]` authorizations (`run_setup`).
    pub delegated: crate::exec::delegate::DelegateOutcome,
}

/// How the plan is executed.
pub struct ExecSpec {
    pub run_id: String,
    pub receipt_timeout: Duration,
    pub grace: Duration,
    pub start_at: Option<std::time::SystemTime>,
}

impl Funded {
    /// Makes the scenario's `[[delegate]]` delegations, then its `[[setup]]` calls (a part:
    /// from its own wallets only).
    pub async fn run_setup(&mut self, interrupt: &Interrupt) -> Result<(), Error> {
        let p = &self.connected.planned;
        let dir_of = Directory::new(&p.loaded.scenario);
        let delegated = tokio::select! {
            d = crate::exec::delegate::run(&self.connected.chain, &p.loaded.scenario, &p.wallets, &self.wallets.contracts, |w| {
                p.part.as_ref().is_none_or(|part| part.senders[dir_of.index(w)])
            }) => d?,
            () = interrupt.wait() => return Err(Error::Interrupted),
        };
        self.delegated = delegated.clone();
        if delegated.sent + delegated.in_place > 0 {
            tracing::info!(
                sent = delegated.sent,
                in_place = delegated.in_place,
                gas = delegated.gas_used,
                "[[delegate]]: {} wallet(s) delegated now, {} already in place",
                delegated.sent,
                delegated.in_place
            );
        }
        self.setup = tokio::select! {
            s = crate::exec::setup_calls::run(&self.connected.chain, &p.loaded.scenario, (p.seed, &p.wallets), &self.wallets.contracts, |w| {
                p.part.as_ref().is_none_or(|part| part.senders[dir_of.index(w)])
            }) => s?,
            () = interrupt.wait() => return Err(Error::Interrupted),
        };
        Ok(())
    }

    /// delegations.csv: each `[[delegate]]` wallet's authorization (none: no file).
    pub fn write_delegations(&self, dir: &Path) -> Result<(), Error> {
        if self.delegated.records.is_empty() {
            return Ok(());
        }
        write_output(Some(&dir.join("delegations.csv")), |w| {
            crate::exec::delegate::write_csv(&self.delegated.records, w)
        })
    }

    /// Reads the chain, runs the plan (rows into `dir`/steps.csv, aggregated on the way) and
    /// measures what it cost loadrun and the spawned node.
    pub async fn execute(
        self,
        spec: ExecSpec,
        dir: &Path,
        interrupt: &Interrupt,
    ) -> Result<Executed, Error> {
        let (chain, p) = (&self.connected.chain, &self.connected.planned);
        let opts = crate::exec::run::Options {
            run_id: spec.run_id,
            steps_csv: dir.join("steps.csv"),
            receipt_timeout: spec.receipt_timeout,
            grace: spec.grace,
            subset: p.part.as_ref().map(|p| p.steps.clone()),
            start_at: spec.start_at,
        };
        let fees = chain.fees().await?;
        let addresses: Vec<_> = p.wallets.iter().map(|w| w.address).collect();
        let before_block = crate::chain::read::block_number(chain).await;
        let before = observe(chain, &self.wallets.contracts, &addresses).await?;
        parts::check_start(spec.start_at, "after the set-up")?;
        let monitors = Monitors::start(chain, &self.connected.cfg);
        let blobs =
            crate::exec::blobs::pools(&p.loaded.scenario, p.plan.seed, &self.wallets.blob_caps)
                .map(Arc::new)?;
        let cpu_before = own_cpu_s();
        let node_before = node_cpu_s(chain);
        let mut tally = Tally::for_scenario(&p.loaded.scenario);
        let mut books = Books::new(p.wallets.len());
        let dir_of = Directory::new(&p.loaded.scenario);
        let inputs = crate::exec::run::Inputs {
            plan: p.plan.clone(),
            scenario: &p.loaded.scenario,
            wallets: &p.wallets,
            chain,
            contracts: self.wallets.contracts,
            fees,
            blobs,
        };
        let ex = crate::exec::run::execute(inputs, opts, interrupt, &mut |r| {
            tally.add(r);
            books.add(&p.plan, r, |w| dir_of.index(w));
        })
        .await?;
        let exec_cpu_s = own_cpu_s().zip(cpu_before).map(|(a, b)| a - b);
        let node_exec_cpu_s = node_cpu_s(chain).zip(node_before).map(|(a, b)| a - b);
        let (samples, telemetry) = monitors.stop().await;
        let local_cores = std::thread::available_parallelism().map_or(1, |n| n.get() as u32);
        let load = Load {
            block_ms: if chain.anvil.is_some() {
                self.connected.cfg.block_time_ms
            } else {
                chain.caps.block_interval_ms
            },
            loadrun_cpu_pct: exec_cpu_s.map(|c| 100.0 * c / (ex.wall_ms / 1000.0).max(1e-3)),
            node_cpu_peak_pct: samples
                .as_ref()
                .and_then(|s| s.iter().map(|x| x.cpu_pct).reduce(f64::max)),
            cores: local_cores,
            node_cores: match &chain.anvil {
                Some(_) => Some(local_cores),
                None => telemetry.as_ref().and_then(|t| t.host_cores),
            },
            node_shares_host: chain.anvil.is_some(),
        };
        let blocks = ex
            .span
            .blocks
            .iter()
            .map(|b| BlockRow {
                number: b.number,
                t_s: b.seen_ms / 1000.0,
                gas_used: b.gas_used,
                gas_limit: b.gas_limit,
                txs: b.txs as u64,
                base_fee_wei: b.base_fee.map(u128::from),
            })
            .collect();
        Ok(Executed {
            funded: self,
            tallied: Tallied {
                tally,
                books,
                wall_ms: ex.wall_ms,
                first_block: ex.span.first_block,
                last_block: ex.span.last_block,
                resent: ex.resent,
                interrupted: ex.interrupted,
            },
            ex,
            load,
            blocks,
            samples,
            telemetry,
            before: (before_block, before),
            exec_cpu_s,
            node_exec_cpu_s,
        })
    }
}

/// What watches the node while the plan runs: /proc for a spawned node, or the Prometheus
/// endpoints of `[chain].node_metrics` / `host_metrics` for any node.
struct Monitors {
    sampler: Option<Sampler>,
    scraper: Option<Scraper>,
}

impl Monitors {
    fn start(chain: &Chain, cfg: &ChainConfig) -> Self {
        let endpoints = Endpoints {
            node: cfg.node_metrics.clone(),
            host: cfg.host_metrics.clone(),
            extra: cfg.metrics.clone(),
        };
        let scraper = (endpoints.node.is_some() || endpoints.host.is_some())
            .then(|| Scraper::start(endpoints));
        let sampler = match (&chain.anvil, &cfg.node_metrics) {
            (Some(a), None) => Some(Sampler::start(a.pid)),
            _ => None,
        };
        Self { sampler, scraper }
    }

    /// The node's samples (from /proc, or scraped) and the scraped telemetry.
    async fn stop(self) -> (Option<Vec<NodeSample>>, Option<Telemetry>) {
        let telemetry = match self.scraper {
            Some(s) => Some(s.stop().await),
            None => None,
        };
        let samples = match (self.sampler, &telemetry) {
            (Some(s), _) => Some(s.stop().await),
            (None, Some(t)) if t.endpoints.node.is_some() => {
                Some(t.rows.iter().map(|r| r.sample).collect())
            }
            _ => None,
        };
        (samples, telemetry)
    }
}

/// What a run's rows add up to, with the figures the results quote (a run's, or a merge's).
pub struct Tallied {
    /// Every row aggregated (steps.csv holds the rows themselves).
    pub tally: Tally,
    /// What the rows must have done to the chain, for the sanity check.
    pub books: Books,
    /// From the first scheduled instant to the last result, ms.
    pub wall_ms: f64,
    pub first_block: Option<u64>,
    pub last_block: Option<u64>,
    /// Transactions sent again (same bytes or re-signed).
    pub resent: u64,
    pub interrupted: bool,
}

/// A run whose plan ran.
pub struct Executed {
    pub funded: Funded,
    pub ex: crate::exec::run::Executed,
    pub tallied: Tallied,
    /// What the verdict needs to know about loadrun's and the node's load.
    pub load: Load,
    /// Every block of the run, for blocks.csv.
    pub blocks: Vec<BlockRow>,
    /// The node's CPU and RSS once a second: the spawned node's from /proc, or scraped from
    /// `[chain].node_metrics` (none for a remote node without it).
    pub samples: Option<Vec<NodeSample>>,
    /// What `[chain].node_metrics` / `host_metrics` gave, when set.
    pub telemetry: Option<Telemetry>,
    /// The chain before the run: the block number read just before, and what it held.
    pub before: (Option<u64>, Observed),
    /// loadrun's and the spawned node's CPU seconds while the plan ran.
    pub exec_cpu_s: Option<f64>,
    pub node_exec_cpu_s: Option<f64>,
}

impl Executed {
    /// The chain the run was on.
    pub fn chain(&self) -> &Chain {
        &self.funded.connected.chain
    }

    pub fn planned(&self) -> &Planned {
        &self.funded.connected.planned
    }

    /// Writes blocks.csv and node.csv (a spawned node's, or the scraped telemetry).
    pub fn write_series(&self, dir: &Path) -> Result<(), Error> {
        write_output(Some(&dir.join("blocks.csv")), |w| {
            crate::report::blocks::write_csv(&self.blocks, w).map_err(std::io::Error::other)
        })?;
        match (&self.telemetry, &self.samples) {
            (Some(t), _) if t.endpoints.node.is_some() => {
                let host = t.endpoints.host.is_some();
                write_output(Some(&dir.join("node.csv")), |w| {
                    telemetry::write_csv(&t.rows, host, &t.endpoints.extra, w)
                })?;
            }
            (_, Some(samples)) => {
                write_output(Some(&dir.join("node.csv")), |w| node::write_csv(samples, w))?;
            }
            _ => {}
        }
        Ok(())
    }

    /// What the verdict needs from the run besides its rows.
    pub fn events(&self) -> Events {
        let (ex, chain) = (&self.ex, self.chain());
        let since_start = |unix_ms: Option<u64>| {
            unix_ms.map(|t| ((t as f64 - ex.start_unix_ms) / 1000.0).max(0.0))
        };
        Events {
            node_down: ex.node_down.then(|| NodeDown {
                at_s: since_start(chain.rpc_stats.down_at_ms()),
                last_answer_s: since_start(chain.rpc_stats.last_answer_ms()),
                unsent: ex.node_down_unsent,
                unanswered: ex.node_down_unanswered,
            }),
            blocks: self.blocks.clone(),
            resigned: ex.resigned,
            resent: ex.resent,
            reorged: ex.reorged,
            missing_parts: Vec::new(),
            unreported: 0,
            interrupted: ex.interrupted,
        }
    }

    /// Reads the chain after the run (observed.json) and checks it against the rows (sanity.md,
    /// sanity.json; views on whole runs). After Ctrl-C a chain that cannot be read leaves the
    /// check empty rather than failing the run.
    pub async fn check(self, dir: &Path) -> Result<Checked, Error> {
        let (chain, p) = (self.chain(), self.planned());
        let contracts = &self.funded.wallets.contracts;
        let addresses: Vec<_> = p.wallets.iter().map(|w| w.address).collect();
        let mut after_block = crate::chain::read::block_number(chain).await;
        let after = match observe(chain, contracts, &addresses).await {
            Ok(a) => a,
            Err(e) if self.ex.interrupted => {
                tracing::warn!("no sanity check: {e}");
                after_block = None;
                self.before.1.clone()
            }
            Err(e) => return Err(e.into()),
        };
        let observed = Snapshots {
            before_block: self.before.0,
            before: self.before.1.clone(),
            after_block,
            after,
        };
        write_output(Some(&dir.join("observed.json")), |w| {
            serde_json::to_writer(&mut *w, &observed).map_err(std::io::Error::other)
        })?;
        let part = p.part.as_ref();
        let scope = sanity::Scope {
            steps: part.map(|p| p.steps.as_slice()),
            own: part.map(|p| p.own.as_slice()),
            skip_adjudicator: part.is_some_and(|p| !p.own_adjudicator),
        };
        let labels = p.loaded.scenario.wallet_labels();
        let mut sanity = sanity::compare(
            &p.plan,
            &self.tallied.books,
            &labels,
            (&observed.before, &observed.after),
            scope,
        );
        // Contract state is shared by every part: views are checked on whole runs.
        if part.is_none() {
            sanity.views = check_views(&self, contracts).await;
        }
        // Every delegated wallet's code designates its target.
        for l in check_delegations(&self, contracts).await? {
            sanity.ok &= l.ok;
            sanity.lines.push(l);
        }
        write_output(Some(&dir.join("sanity.md")), |w| {
            w.write_all(sanity::markdown(&sanity).as_bytes())
        })?;
        write_output(Some(&dir.join("sanity.json")), |w| {
            serde_json::to_writer_pretty(&mut *w, &sanity).map_err(std::io::Error::other)
        })?;
        Ok(Checked {
            executed: self,
            sanity,
        })
    }
}

/// The sanity lines of the wallets `[[delegate]]` delegated (a part: its own wallets).
async fn check_delegations(
    e: &Executed,
    contracts: &crate::chain::contracts::Contracts,
) -> Result<Vec<sanity::Line>, Error> {
    let (chain, p) = (e.chain(), e.planned());
    let scenario = &p.loaded.scenario;
    let dir = Directory::new(scenario);
    let mut lines = Vec::new();
    for d in &scenario.delegations {
        let target = contracts.resolve(scenario, &d.to);
        let role = &scenario.roles[usize::from(d.role)];
        for index in 0..role.wallets {
            let at = crate::plan::WalletRef {
                role: d.role,
                index,
            };
            let i = dir.index(at);
            if p.part.as_ref().is_some_and(|part| !part.senders[i]) {
                continue;
            }
            let code = crate::exec::delegate::code_of(chain, p.wallets[i].address).await?;
            lines.push(sanity::delegation_line(
                &format!("{}:{index}", role.name),
                target.into(),
                &code,
            ));
        }
    }
    Ok(lines)
}

/// Calls each `[[expect.view]]` and compares it with what it must return.
async fn check_views(
    e: &Executed,
    contracts: &crate::chain::contracts::Contracts,
) -> Vec<sanity::Line> {
    let (chain, p) = (e.chain(), e.planned());
    let scenario = &p.loaded.scenario;
    let expected = crate::report::views::expected(scenario, &p.plan, &e.tallied.tally);
    let mut lines = Vec::new();
    for (v, want) in scenario.expect.views.iter().zip(&expected) {
        let to = contracts.resolve(scenario, &v.to);
        let got = crate::chain::views::call(chain, to, &v.call, &v.args).await;
        lines.push(crate::report::views::line(want, got));
    }
    lines
}

/// An executed run checked against the chain.
pub struct Checked {
    pub executed: Executed,
    pub sanity: Sanity,
}

/// loadrun's own CPU seconds (user + system) so far, from /proc/self/stat.
pub fn own_cpu_s() -> Option<f64> {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| node::parse_stat_ticks(&s))
        .map(|t| t as f64 / node::TICKS_PER_SECOND)
}

/// The spawned node's CPU seconds so far (none for a remote node).
fn node_cpu_s(c: &Chain) -> Option<f64> {
    c.anvil
        .as_ref()
        .and_then(|a| crate::exec::nodemon::read(a.pid))
        .map(|(ticks, _)| ticks as f64 / node::TICKS_PER_SECOND)
}
