//! The only place that talks to a chain: spawning anvil or connecting to an RPC, the guards
//! (allowed chain ids, funder can pay), contracts, transaction signing, nonces and receipts.

pub mod anvil;
pub mod contracts;
pub mod error_class;
pub mod estimate;
pub use crate::model::gas;
pub mod guard;
pub mod observe;
pub mod read;
pub mod reads;
pub mod receipts;
pub mod rpc;
pub mod setcode;
pub mod tx;
pub mod views;
pub mod wire;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use alloy::primitives::Address;
use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use alloy::signers::local::PrivateKeySigner;

use crate::scenario::ChainConfig;
use anvil::{Anvil, AnvilOptions};

/// anvil's first dev account (mnemonic "test test … junk", index 0): public knowledge, used only
/// for a spawned anvil, and like every key never printed.
const ANVIL_DEV_KEY: [u8; 32] =
    alloy::hex!("ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80");

/// A chain failure (exit code 3). Messages say what to do; none contains a key.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    #[error(
        "anvil not found (looked at: {looked})\n  help: install it into your repository (`npm install --save-dev {package}`, found in node_modules of this directory or any parent), put foundry's anvil on PATH, set LOADRUN_ANVIL=/path/to/anvil, or connect to a running node with --rpc URL"
    )]
    AnvilNotFound { looked: String, package: String },
    #[error("could not start anvil ({bin}): {reason}")]
    AnvilSpawn { bin: String, reason: String },
    /// One of the run's own tasks or threads failed (a bug: its panic is on stderr).
    #[error("{what}: {why}")]
    Task { what: &'static str, why: String },
    /// A result file could not be written.
    #[error("writing {file}: {source}")]
    Results {
        file: &'static str,
        source: std::io::Error,
    },
    /// A `[[setup]]` call that could not be made (`label`: which call, from which wallet).
    #[error("{label}: {why}")]
    Setup { label: String, why: String },
    #[error(
        "cannot reach the RPC at {url}: {reason}\n  help: check the URL and that the node is running"
    )]
    Unreachable { url: String, reason: String },
    #[error(
        "chain id {id} is not allowed (allow_chain_ids = {allowed:?})\n  help: if you really mean to load this chain, add {id} to [chain].allow_chain_ids"
    )]
    ChainNotAllowed { id: u64, allowed: Vec<u64> },
    #[error("`{url}` is not an RPC URL: {why}\n  help: {help}")]
    RpcUrl {
        url: String,
        why: String,
        help: String,
    },
    #[error(
        "connecting to {url} needs a funder key\n  help: export LOADRUN_FUNDER_KEY with the funder's private key (hex), or name another variable with --funder-key-env NAME or [chain].funder_key_env"
    )]
    NoFunderKeyEnv { url: String },
    #[error(
        "environment variable {var} (named by --funder-key-env or [chain].funder_key_env) is not set\n  help: export {var} with the funder's private key (hex)"
    )]
    FunderKeyUnset { var: String },
    #[error(
        "environment variable {var} does not hold a valid private key (expected 32 bytes of hex)"
    )]
    FunderKeyInvalid { var: String },
    #[error(
        "the funder {funder} cannot pay for this run: needs {needs}, funder has {has} (short by {short})\n  help: {help}"
    )]
    FunderTooPoor {
        funder: Address,
        needs: String,
        has: String,
        short: String,
        help: String,
    },
    #[error("{what}: {reason}")]
    Rpc { what: String, reason: String },
    #[error(
        "the node stopped answering during the run: transient failures outlasted [chain].retry_for ({retry_for}); {rows}\n  help: check the node, or raise [chain].retry_for for an endpoint that recovers slowly"
    )]
    NodeDown { retry_for: String, rows: String },
    #[error("transaction {what} reverted (tx {hash})")]
    Reverted { what: String, hash: String },
    #[error(
        "{what}\n  help: a run of part of the plan (--shard, --role) does not fund: run `loadrun fund {scenario}` once before starting the parts, with the same --rpc and --seed (it deploys what is missing and tops up every wallet; idempotent)"
    )]
    NotFunded { what: String, scenario: String },
    #[error("the funder {funder} holds {held} token units of {token} but funding needs {needs}")]
    FunderTooFewTokens {
        funder: Address,
        held: String,
        token: Address,
        needs: String,
    },
    #[error("the node has no latest block")]
    NoLatestBlock,
    #[error("signing failed: invalid key")]
    InvalidKey,
    #[error("{what}: no receipt for {hash} within {secs} s")]
    NoReceipt {
        what: String,
        hash: String,
        secs: u64,
    },
    #[error("{what}: not included within {secs} s (tx {hash})")]
    NotIncluded {
        what: String,
        hash: String,
        secs: u64,
    },
    #[error(
        "{pending} transactions of the funder or the wallets are still pending after {secs} s; funding now could pay twice\n  help: wait for them to be mined (or replaced), then run again"
    )]
    StillPending { pending: u64, secs: u64 },
    #[error(
        "the chain refused the CREATE2 deployer's pre-signed transaction: {why}\n  help: it is a pre-EIP-155 (unprotected) transaction; allow those on the node (geth: --rpc.allow-unprotected-txs) or deploy {deployer} by other means"
    )]
    Create2Refused { why: String, deployer: Address },
    #[error("the CREATE2 deployer transaction {hash} did not create {deployer}")]
    Create2Missing { hash: String, deployer: Address },
    #[error(
        "deploying [contracts.{name}]: the deployment would fail ({why})\n  help: check its constructor args and value"
    )]
    DeployWouldFail { name: String, why: String },
}

impl ChainError {
    pub fn rpc(what: impl Into<String>, e: impl std::fmt::Display) -> Self {
        Self::Rpc {
            what: what.into(),
            reason: e.to_string(),
        }
    }
}

/// A connected chain: provider, funder, and the spawned anvil (if any), killed on drop.
pub struct Chain {
    pub provider: DynProvider,
    pub url: String,
    pub chain_id: u64,
    pub funder: PrivateKeySigner,
    /// What the node supports, detected once at connect.
    pub caps: receipts::Caps,
    /// How `provider` treats failures (a second client to `url` uses the same).
    pub policy: rpc::RpcPolicy,
    /// Retries and transient failures of every call made through `provider`.
    pub rpc_stats: Arc<rpc::RpcStats>,
    /// Gas limit per transaction shape: at connect from the chain's plain-transfer estimate,
    /// refined by `estimate::table` once the contracts are on chain.
    pub gas: gas::GasTable,
    /// The lean send path to `url`, when it is plain http (`wire::Wire::new`).
    pub wire: Option<Arc<wire::Wire>>,
    /// The block interval the node was started with (a spawned anvil with interval mining),
    /// ms: the receipt watcher paces its head polling by it from the first block on.
    pub block_ms: Option<u64>,
    /// Keep last: dropped after the provider.
    pub anvil: Option<Anvil>,
}

impl Chain {
    /// The fees a transaction is signed with now (EIP-1559 from the latest base fee, or the
    /// gas price on a legacy chain).
    pub async fn fees(&self) -> Result<tx::Fees, ChainError> {
        tx::fees(&self.provider, self.caps).await
    }

    /// The chain as shown in run.toml and the report (no URL path or query: they may hold a
    /// key).
    pub fn shown_url(&self) -> String {
        let at = redact_url(&self.url);
        if self.anvil.is_some() {
            format!("spawned anvil on {}", at.split(' ').next().unwrap_or(""))
        } else {
            at
        }
    }
}

/// An RPC URL as shown to people: `host:port (scheme)`. A URL's path, query or user part may
/// hold an API key, so they never reach a log, an error, run.toml or the report.
pub fn redact_url(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = host.rsplit('@').next().unwrap_or(host);
    if scheme.is_empty() {
        host.to_string()
    } else {
        format!("{host} ({scheme})")
    }
}

/// Where the chain comes from: `--rpc`/`LOADRUN_RPC` override `[chain].rpc`; neither ⇒ spawn.
pub fn rpc_url<'a>(cfg: &'a ChainConfig, flag: Option<&'a str>) -> Option<&'a str> {
    flag.or(cfg.rpc.as_deref())
}

/// Spawns anvil or connects to the RPC, checks the chain id, and loads the funder.
pub async fn connect(
    cfg: &ChainConfig,
    rpc_flag: Option<&str>,
    log_dir: Option<&Path>,
) -> Result<Chain, ChainError> {
    let policy = rpc::RpcPolicy {
        retry_for: Duration::from_millis(cfg.retry_for_ms),
        max_rps: cfg.max_rps,
        ..rpc::RpcPolicy::default()
    };
    if let Some(url) = rpc_url(cfg, rpc_flag) {
        check_url(url)?;
    }
    let (url, anvil, funder) = match rpc_url(cfg, rpc_flag) {
        Some(url) => (url.to_string(), None, remote_funder(cfg, url)?),
        None => {
            let bin = anvil::locate()?;
            let opts = AnvilOptions {
                block_time_ms: cfg.block_time_ms,
                chain_id: cfg.chain_id,
                gas_limit: cfg.gas_limit,
                log: log_dir.map(|d| d.join("anvil.log")),
                extra_args: bounded_memory_args(cfg.block_time_ms, cfg.retry_for_ms)
                    .into_iter()
                    .chain(cfg.anvil_args.iter().cloned())
                    .collect(),
                // Only where the lean path would use it.
                ipc: cfg!(unix) && wire::allowed(&policy),
            };
            let node = Anvil::spawn(&bin, &opts)?;
            tracing::info!(at = %redact_url(&node.url), pid = node.pid, "spawned anvil");
            let funder =
                PrivateKeySigner::from_bytes(&ANVIL_DEV_KEY.into()).expect("valid dev key");
            (node.url.clone(), Some(node), funder)
        }
    };
    // First contact gets a short retry budget: a wrong URL should fail in seconds, not after
    // `retry_for`, with one error (the probe's give-ups are not warnings).
    let limit = if anvil.is_some() {
        Duration::from_secs(10)
    } else {
        REMOTE_FIRST_CONTACT
    };
    let probe = provider(
        &url,
        rpc::RpcPolicy {
            retry_for: Duration::from_millis(200),
            // A slow endpoint still gets its answer in; a black hole costs at most this.
            attempt_timeout: limit + Duration::from_secs(2),
            quiet: true,
            ..policy
        },
        Arc::default(),
    )?;
    let chain_id = wait_ready(&probe, &url, limit).await?;
    guard::check_chain_id(chain_id, &cfg.allow_chain_ids)?;
    let rpc_stats = Arc::new(rpc::RpcStats::default());
    let provider = provider(&url, policy, rpc_stats.clone())?;
    let caps = receipts::Caps::detect(&provider).await?;
    // A spawned anvil's sends go over its IPC socket; any other node's over plain http.
    let wire = match anvil.as_ref().and_then(|a| a.ipc.clone()) {
        #[cfg(unix)]
        Some(path) => wire::Wire::ipc(path, &policy),
        _ => wire::Wire::new(&url, &policy),
    }
    .map(Arc::new);
    let mut chain = Chain {
        provider,
        url,
        chain_id,
        funder,
        caps,
        policy,
        rpc_stats,
        gas: gas::GasTable::FALLBACK,
        wire,
        block_ms: anvil.as_ref().and(cfg.block_time_ms),
        anvil,
    };
    chain.gas = estimate::table(&chain, &contracts::addresses(chain.funder.address()), false).await;
    Ok(chain)
}

/// How long a remote node gets to answer its first `eth_chainId`.
pub const REMOTE_FIRST_CONTACT: Duration = Duration::from_secs(3);

/// Refuses an RPC URL loadrun cannot use, saying how to write it (`127.0.0.1:8545` has no scheme).
pub fn check_url(url: &str) -> Result<(), ChainError> {
    let bad = |why: &str, help: String| ChainError::RpcUrl {
        url: redact_url(url),
        why: why.into(),
        help,
    };
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(bad(
            "it has no scheme",
            format!(
                "add http:// (or https://): --rpc http://{}",
                redact_url(url)
            ),
        ));
    };
    if !matches!(scheme.to_ascii_lowercase().as_str(), "http" | "https") {
        return Err(bad(
            &format!("loadrun speaks JSON-RPC over http or https, not {scheme}"),
            format!(
                "use the node's HTTP endpoint, e.g. http://{}",
                redact_url(rest)
            ),
        ));
    }
    url.parse::<alloy::transports::http::reqwest::Url>()
        .map(|_| ())
        .map_err(|e| bad(&e.to_string(), "write it as http://HOST:PORT[/PATH]".into()))
}

/// Blocks with transactions a spawned anvil keeps in memory: the receipt watcher reads each
/// block right after it is mined, but a node stall the retries ride out (`retry_for`) plus the
/// receipt wait must not prune what it has yet to read — so `retry_for` + 10 s of blocks, at
/// least 16 and at most 256 (at 1,000 tx/s a 256-block keeper alone held 1.3 GB of anvil).
pub fn transaction_block_keeper(block_ms: u64, retry_for_ms: u64) -> u64 {
    retry_for_ms
        .saturating_add(10_000)
        .div_ceil(block_ms.max(1))
        .clamp(16, 256)
}

/// Flags that keep a spawned anvil's memory bounded on long runs: with interval mining only the
/// recent blocks' transactions are kept. Automine makes one block per transaction, so there the
/// keeper would drop receipts the watcher has not read yet; it is left out. `--prune-history`
/// is not used: measured at 2,000 transfers/s it raised loadrun's p99 send lateness from 4 ms to
/// 500-700 ms (the node answered slower) and saved no memory next to the keeper.
pub fn bounded_memory_args(block_time_ms: Option<u64>, retry_for_ms: u64) -> Vec<String> {
    match block_time_ms {
        Some(ms) => vec![
            "--transaction-block-keeper".into(),
            transaction_block_keeper(ms, retry_for_ms).to_string(),
        ],
        None => Vec::new(),
    }
}

/// A provider for `url` whose every call goes through the retry policy.
pub fn provider(
    url: &str,
    policy: rpc::RpcPolicy,
    stats: Arc<rpc::RpcStats>,
) -> Result<DynProvider, ChainError> {
    let unreachable = |reason: String| ChainError::Unreachable {
        url: redact_url(url),
        reason,
    };
    let parsed = url
        .parse()
        .map_err(|e| unreachable(format!("not a URL: {e}")))?;
    let client = rpc::client(parsed, policy, stats).map_err(unreachable)?;
    Ok(ProviderBuilder::new()
        .disable_recommended_fillers()
        .connect_client(client)
        .erased())
}

/// The variable a remote chain's funder key is read from when neither `--funder-key-env` nor
/// `[chain].funder_key_env` names one.
pub const DEFAULT_FUNDER_KEY_ENV: &str = "LOADRUN_FUNDER_KEY";

fn remote_funder(cfg: &ChainConfig, url: &str) -> Result<PrivateKeySigner, ChainError> {
    let var = cfg
        .funder_key_env
        .clone()
        .or_else(|| {
            std::env::var_os(DEFAULT_FUNDER_KEY_ENV).map(|_| DEFAULT_FUNDER_KEY_ENV.to_string())
        })
        .ok_or_else(|| ChainError::NoFunderKeyEnv {
            url: redact_url(url),
        })?;
    let value = std::env::var(&var).map_err(|_| ChainError::FunderKeyUnset { var: var.clone() })?;
    // The parse error could echo input; report only the variable's name.
    value
        .trim()
        .parse::<PrivateKeySigner>()
        .map_err(|_| ChainError::FunderKeyInvalid { var })
}

/// Polls `eth_chainId` until the node answers or `limit` passes.
async fn wait_ready(provider: &DynProvider, url: &str, limit: Duration) -> Result<u64, ChainError> {
    let start = Instant::now();
    loop {
        match provider.get_chain_id().await {
            Ok(id) => return Ok(id),
            Err(e) if start.elapsed() >= limit => {
                return Err(ChainError::Unreachable {
                    url: redact_url(url),
                    reason: format!(
                        "no answer to eth_chainId within {} ({})",
                        humantime::format_duration(limit),
                        reason_of(&e.to_string())
                    ),
                });
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

/// A transport error in a person's words (the connection errors reqwest nests).
fn reason_of(e: &str) -> String {
    let lower = e.to_ascii_lowercase();
    if lower.contains("connection refused") || lower.contains("error sending request") {
        "no connection: nothing is listening there, or the host cannot be reached".into()
    } else if lower.contains("timed out") || lower.contains("timeout") {
        "the attempt timed out".into()
    } else {
        e.to_string()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn urls_without_a_scheme_say_to_add_http() {
        let e = super::check_url("127.0.0.1:8545").unwrap_err().to_string();
        assert!(e.contains("add http://"), "{e}");
        assert!(e.contains("--rpc http://127.0.0.1:8545"), "{e}");
        let e = super::check_url("localhost:8545").unwrap_err().to_string();
        assert!(e.contains("add http://"), "{e}");
        let e = super::check_url("ws://node:8546/key")
            .unwrap_err()
            .to_string();
        assert!(e.contains("not ws") && !e.contains("key"), "{e}");
        assert!(super::check_url("http://127.0.0.1:8545/k?x=1").is_ok());
        assert!(super::check_url("HTTPS://rpc.example").is_ok());
    }

    #[test]
    fn the_keeper_outlasts_retries_within_bounds() {
        use super::transaction_block_keeper as k;
        assert_eq!(k(1_000, 30_000), 40);
        assert_eq!(k(1_000, 1_000), 16);
        assert_eq!(k(100, 30_000), 256);
        assert_eq!(k(12_000, 30_000), 16);
    }
}
