//! Raw serde types of the version-1 scenario file, exactly as written in TOML.
//!
//! Strings stay strings here (durations, amounts); `validate` turns them into typed values.
//! The JSON Schema in `schemas/scenario.schema.json` is generated from these types, so the doc
//! comments below are what editors show as hover help.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;

/// A loadrun scenario (format version 1).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "loadrun scenario")]
pub struct RawScenario {
    /// Scenario format version; must be 1.
    pub version: u32,
    pub scenario: RawMeta,
    /// The chain to run against; omitted => spawn a local anvil.
    #[serde(default)]
    pub chain: Option<RawChain>,
    /// Roles (e.g. A and B), each owning a number of derived wallets.
    pub roles: BTreeMap<String, RawRole>,
    pub funding: Option<RawFunding>,
    /// Workloads, each with its own rates; `[[workload]]` tables.
    #[serde(default)]
    pub workload: Vec<RawWorkload>,
    /// CI thresholds: any miss makes the run exit 1.
    #[serde(default)]
    pub expect: Option<RawExpect>,
    /// The user's contracts, deployed by the funder through the CREATE2 deployer (reused by
    /// later runs): `[contracts.NAME]`.
    #[serde(default)]
    pub contracts: BTreeMap<String, RawContract>,
    /// `[[setup]]`: calls made once per wallet of a role after funding, before the schedule.
    #[serde(default)]
    pub setup: Vec<RawSetup>,
    /// `[[delegate]]`: EIP-7702 delegations of a role's wallets to a contract, made once per
    /// wallet after funding (before `[[setup]]` and the schedule).
    #[serde(default)]
    pub delegate: Vec<RawDelegate>,
    /// `loadrun capacity`: the SLO each step must meet and how the search goes.
    #[serde(default)]
    pub capacity: Option<RawCapacity>,
}

/// `[capacity]`: what `loadrun capacity` counts as sustained, and how it searches. Every key is
/// optional; the defaults are in the README.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawCapacity {
    /// Highest p99 inclusion latency a step may have, e.g. "5s" (default "5s").
    pub max_p99_inclusion: Option<String>,
    /// Largest share of a step's steps that may end other than ok, 0 to 1 (default 0.01).
    pub max_failed: Option<f64>,
    /// Lowest included rate as a share of the step's target rate, 0 to 1 (default 0.9).
    pub min_included: Option<f64>,
    /// Each step's length, e.g. "20s": replaces [scenario].duration in the steps (default: the
    /// scenario's duration).
    pub step_duration: Option<String>,
    /// The first rate scale tried (default 1).
    pub start_scale: Option<f64>,
    /// The highest rate scale tried (default 64).
    pub max_scale: Option<f64>,
    /// Each step up multiplies the scale by this until a step fails (default 2).
    pub growth: Option<f64>,
    /// The search stops when the first failure is within this share above the last pass
    /// (default 0.05).
    pub precision: Option<f64>,
    /// CI gate: exit 1 when the found capacity (included transactions per second) is below
    /// this (also `--expect-min-rate`).
    pub min_rate: Option<f64>,
}

/// `[[setup]]`: one call per wallet of `from` (e.g. an approve or a deposit), not a step.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawSetup {
    /// The role whose every wallet makes the call.
    pub from: String,
    /// A [contracts.NAME], "token", "adjudicator" or a 0x address.
    pub to: String,
    /// The function (its name alone when the ABI is known).
    pub signature: String,
    /// Arguments: literals or templates ({sender}, {contract:NAME}, {uint:…}, …).
    #[serde(default)]
    pub args: Vec<String>,
    /// ETH sent with each call (default "0 ether").
    pub value: Option<String>,
    /// The role `{peer}` draws from.
    pub peers: Option<String>,
    /// Skip a wallet whose call is already done: a view (with its args) and a bound, e.g.
    /// `{ call = "allowance(address,address)(uint256)", args = ["{sender}", "{contract:pool}"], at_least = "1000" }`.
    pub unless: Option<RawUnless>,
}

/// `unless` of a `[[setup]]`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawUnless {
    pub call: String,
    #[serde(default)]
    pub args: Vec<String>,
    pub equals: Option<String>,
    pub at_least: Option<String>,
}

/// `[contracts.NAME]`: a contract from a build artifact, or from bytecode (+ ABI).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawContract {
    /// A Foundry (`out/Foo.sol/Foo.json`) or Hardhat artifact holding the ABI and bytecode;
    /// relative to the scenario file.
    pub artifact: Option<String>,
    /// Creation bytecode, 0x hex (instead of `artifact`).
    pub bytecode: Option<String>,
    /// With `bytecode`: a JSON ABI file (relative to the scenario file), so calls are checked.
    pub abi: Option<String>,
    /// Constructor arguments, as strings typed by the ABI's constructor.
    #[serde(default)]
    pub args: Vec<String>,
    /// ETH sent with the deployment (default "0 ether").
    pub value: Option<String>,
}

/// `[scenario]`: name, seed and duration.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawMeta {
    /// Results go to results/<name>/<run-id>/. Letters, digits, `-` and `_`.
    pub name: String,
    /// Same seed + same file => byte-identical plan and the same wallet addresses.
    pub seed: u64,
    /// Length of the run, humantime: "500ms", "30s", "5m".
    pub duration: String,
}

/// `[chain]`: connect to an RPC, or tune the spawned anvil.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawChain {
    /// Connect to this RPC instead of spawning anvil (also `--rpc` or LOADRUN_RPC).
    pub rpc: Option<String>,
    /// Name of the environment variable holding the funder's private key (never the key);
    /// `--funder-key-env NAME` overrides it; with neither, LOADRUN_FUNDER_KEY is read.
    pub funder_key_env: Option<String>,
    /// Chain ids loadrun may send to; default [31337, 1337].
    pub allow_chain_ids: Option<Vec<u64>>,
    /// Spawned anvil only: block interval, e.g. "2s"; omitted => "1s"; "automine" mines one block
    /// per transaction (unlike any real chain; warned about when the plan is faster than it).
    pub block_time: Option<String>,
    /// Spawned anvil only: chain id (default 31337).
    pub chain_id: Option<u64>,
    /// Spawned anvil only: block gas limit; omitted => sized from the plan's busiest block
    /// (twice its gas limits), never below anvil's default 30,000,000.
    pub gas_limit: Option<u64>,
    /// Spawned anvil only: any other anvil flags, e.g. ["--hardfork", "berlin"].
    pub anvil_args: Option<Vec<String>>,
    /// Transient RPC failures (HTTP 429/5xx, connection errors, timeouts, rate-limit codes) are
    /// retried with backoff for this long before the node counts as down; default "30s".
    pub retry_for: Option<String>,
    /// Client-side cap on JSON-RPC calls per second (hosted RPCs with quotas); default none.
    pub max_rps: Option<f64>,
    /// The node's Prometheus endpoint (reth, geth, Nethermind… serve one; or a process
    /// exporter's), e.g. "http://10.0.0.5:9001/metrics": scraped every second into node.csv.
    pub node_metrics: Option<String>,
    /// The node host's node_exporter, e.g. "http://10.0.0.5:9100/metrics": host CPU in node.csv.
    pub host_metrics: Option<String>,
    /// Further series of the node's endpoint to record in node.csv, by metric name (e.g.
    /// "txpool_pending"); summed over their labels.
    pub metrics: Option<Vec<String>>,
}

/// `[roles.<NAME>]`: a role and how many wallets it owns.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawRole {
    /// Number of wallets derived for this role (>= 1).
    pub wallets: u32,
}

/// `[funding]`: how wallets get their ETH and tokens.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawFunding {
    /// "tree" (fan-out through Disperse) or "flat" (root pays every wallet; for comparison).
    #[serde(default)]
    pub strategy: Option<RawStrategy>,
    /// Children per payer in the tree (2..=1000, default 10).
    pub fanout: Option<u32>,
    /// ETH per wallet, e.g. "1 ether".
    pub eth: String,
    /// ERC20 tokens per wallet in whole tokens (18 decimals), e.g. "1000"; optional.
    pub tokens: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RawStrategy {
    Tree,
    Flat,
}

/// `[[delegate]]`: every wallet of `role` delegates its code to `to` (EIP-7702, a type-4
/// transaction with its own authorization); calls with `to = "self"` then run that code in
/// the wallet.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawDelegate {
    /// The role whose wallets are delegated.
    pub role: String,
    /// The contract: a [contracts.NAME], "token", "adjudicator" or a 0x address.
    pub to: String,
}

/// One `[[workload]]`, selected by `type`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum RawWorkload {
    /// Two-party payment channels, directly or ledger funded.
    Channel(RawChannel),
    /// ETH transfers from one role's wallets to another's.
    Transfer(RawTransfer),
    /// ERC20 transfers of the scenario's Token.
    TokenTransfer(RawTransfer),
    /// Calls of any contract function.
    Call(RawCall),
    /// RPC reads at a rate (no transaction): eth_call, eth_getBalance, eth_getLogs, …
    Read(RawRead),
    /// EIP-4844 blob transactions from one role's wallets to another's.
    Blob(RawBlob),
}

/// `type = "blob"`: one blob transaction per arrival, carrying `blobs` blobs whose contents come
/// from the workload's seeded stream (the same versioned hashes every run).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawBlob {
    /// Sending role.
    pub from: String,
    /// Receiving role (may equal `from`; then sender and receiver are distinct wallets).
    pub to: String,
    /// Blobs per transaction, 1 to 6 (the per-transaction maximum since Osaka, EIP-7594).
    pub blobs: u32,
    /// ETH sent with each transaction (default "0 ether").
    pub amount: Option<String>,
    /// The most a transaction pays per unit of blob gas, e.g. "10 gwei"; default twice the
    /// chain's blob base fee at the start, at least 1 gwei.
    pub max_fee_per_blob_gas: Option<String>,
    /// Transactions per second (or `stages`).
    pub rate: Option<f64>,
    /// A ramped rate instead of `rate`, as for transfers.
    pub stages: Option<Vec<RawStage>>,
    pub arrival: Option<RawArrival>,
    pub start: Option<String>,
    pub stop: Option<String>,
}

/// `type = "channel"`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawChannel {
    /// "direct" (on-chain deposit per channel) or "ledger" (funded off chain from a ledger channel).
    pub funding: RawChannelFunding,
    /// Two role names; the creating role of each channel is drawn from these.
    pub between: Vec<String>,
    /// Channel creations per second over [scenario].duration.
    pub create_rate: f64,
    /// Channel closes per second; each close picks a distinct channel.
    #[serde(default)]
    pub close_rate: Option<f64>,
    /// A channel is closed no sooner than this after its creation (default "5s").
    pub close_delay: Option<String>,
    /// Off-chain state updates per second, signed by both parties.
    #[serde(default)]
    pub update_rate: Option<f64>,
    /// Deposit of each channel, e.g. "0.01 ether".
    pub deposit: String,
    /// Ledger only: ledger channels created per second during `ledger_duration`.
    pub ledger_rate: Option<f64>,
    /// Ledger only: ledgers are created during [0, ledger_duration).
    pub ledger_duration: Option<String>,
    /// Ledger only: a ledger is usable this long after its creation.
    pub ledger_delay: Option<String>,
    /// Ledger only: settle every ledger on chain at the end.
    pub close_ledgers: Option<bool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RawChannelFunding {
    Direct,
    Ledger,
}

/// `type = "transfer"` or `type = "token_transfer"`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawTransfer {
    /// Sending role.
    pub from: String,
    /// Receiving role (may equal `from`; then sender and receiver are distinct wallets).
    pub to: String,
    /// Transfers per second (or `stages`).
    pub rate: Option<f64>,
    /// A ramped rate instead of `rate`: `[{ duration = "30s", target = 100.0 }, …]`, linear
    /// from the previous target (0 at the start) to each stage's target over its duration.
    pub stages: Option<Vec<RawStage>>,
    /// Per transfer: ETH with a unit ("1 gwei") for transfer, whole tokens ("1") for token_transfer.
    pub amount: String,
    /// "uniform" (random instants, exact count), "poisson" (exponential gaps), "constant".
    pub arrival: Option<RawArrival>,
    /// Window start inside the duration (default "0s").
    pub start: Option<String>,
    /// Window end inside the duration (default: the duration).
    pub stop: Option<String>,
}

/// One stage of `stages`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawStage {
    /// How long the stage lasts, e.g. "30s".
    pub duration: String,
    /// The rate (per second) reached at the end of the stage.
    pub target: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RawArrival {
    Uniform,
    Poisson,
    Constant,
}

/// `type = "call"`: any contract function.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawCall {
    /// Calling role.
    pub from: String,
    /// A 0x address, "token" / "adjudicator" for loadrun's own contracts, a [contracts.NAME],
    /// or "self": the calling wallet itself (a wallet delegated by `[[delegate]]`).
    pub to: String,
    /// Solidity function signature, e.g. "deposit(uint256)".
    pub signature: String,
    /// Arguments as strings, one per parameter: literals or templates resolved per step at
    /// plan time ({sender}, {peer}, {step}, {uint:LO..HI}, {int:LO..HI}, {pick:a|b},
    /// {bytes:N}, {amount:LO..HI unit}).
    #[serde(default)]
    pub args: Vec<String>,
    /// The role `{peer}` draws a random wallet from.
    pub peers: Option<String>,
    /// ETH sent with each call (default "0 ether").
    pub value: Option<String>,
    /// Calls per second (or `stages`).
    pub rate: Option<f64>,
    /// A ramped rate instead of `rate`, as for transfers.
    pub stages: Option<Vec<RawStage>>,
    pub arrival: Option<RawArrival>,
    pub start: Option<String>,
    pub stop: Option<String>,
    /// An EIP-2930 access list for every call: "auto" (asked once from the node with
    /// eth_createAccessList for the workload's first call, as its gas is estimated) or entries
    /// `[{ address = "token", storage_keys = ["0x…"] }]`. Type-2 transactions carry it; a chain
    /// without a base fee gets type-1 (EIP-2930) transactions.
    pub access_list: Option<RawAccessList>,
}

/// `access_list`: "auto" or explicit entries.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum RawAccessList {
    /// "auto".
    Auto(String),
    Given(Vec<RawAccessItem>),
}

/// One entry of an explicit `access_list`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawAccessItem {
    /// A 0x address, "token", "adjudicator" or a [contracts.NAME].
    pub address: String,
    /// Storage slots, each 0x and 64 hex digits.
    #[serde(default)]
    pub storage_keys: Vec<String>,
}

/// `type = "read"`: one JSON-RPC read per arrival, made for a random wallet of `from` (as a
/// dapp's users would), timed from the request to its answer.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawRead {
    /// The role whose wallets the reads are made for (`{sender}` is the wallet).
    pub from: String,
    /// "eth_call", "eth_getBalance", "eth_getLogs", "eth_getBlockByNumber", "eth_blockNumber",
    /// "eth_getTransactionReceipt" (with `receipts_of`).
    pub method: RawReadMethod,
    /// eth_getTransactionReceipt: the workload (index) whose transactions' receipts are read;
    /// each read takes a random step of it planned before the read.
    pub receipts_of: Option<u32>,
    /// eth_call: the contract (a [contracts.NAME], "token", "adjudicator" or a 0x address);
    /// eth_getLogs: the emitting address to filter on (optional: all logs).
    pub to: Option<String>,
    /// eth_call only: the function, as for a `call` workload.
    pub signature: Option<String>,
    /// Templated parameters, resolved at plan time as a call's args. eth_call: the function's
    /// arguments. eth_getBalance: [address] (default ["{sender}"]). eth_getBlockByNumber:
    /// [block] (default ["latest"]). eth_getLogs: [from_block, to_block] (default
    /// ["latest", "latest"]). A block is a number, a template such as "{uint:0..100}", or a tag
    /// ("latest", "earliest", "pending", "safe", "finalized").
    pub args: Option<Vec<String>>,
    /// The role `{peer}` draws a random wallet from.
    pub peers: Option<String>,
    /// Reads per second (or `stages`).
    pub rate: Option<f64>,
    /// A ramped rate instead of `rate`, as for transfers.
    pub stages: Option<Vec<RawStage>>,
    pub arrival: Option<RawArrival>,
    pub start: Option<String>,
    pub stop: Option<String>,
    /// Send the reads that fall due together as one JSON-RPC batch (default false: one request
    /// per read, as a dapp's frontend does).
    pub batch: Option<bool>,
    /// A read not answered within this is a timeout (default "10s").
    pub timeout: Option<String>,
}

/// The JSON-RPC method of a read workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
pub enum RawReadMethod {
    #[serde(rename = "eth_call")]
    Call,
    #[serde(rename = "eth_getBalance")]
    GetBalance,
    #[serde(rename = "eth_getLogs")]
    GetLogs,
    #[serde(rename = "eth_getBlockByNumber")]
    GetBlockByNumber,
    #[serde(rename = "eth_blockNumber")]
    BlockNumber,
    #[serde(rename = "eth_getTransactionReceipt")]
    GetTransactionReceipt,
}

/// `[expect]`: thresholds checked after the run.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawExpect {
    /// Most steps allowed to end failed, skipped or timed out.
    pub max_failed: Option<u64>,
    /// Highest allowed p99 inclusion latency, e.g. "3s".
    pub max_p99_inclusion: Option<String>,
    /// Highest allowed p99 lateness (fired - scheduled), e.g. "50ms".
    pub max_p99_lateness: Option<String>,
    /// Lowest allowed included rate per workload (ok steps per second from the first send to
    /// the last inclusion, at least the workload's window: a little below the target even on
    /// schedule), keyed by the workload's index as in the `workload` column:
    /// `min_rate = { "2" = 19.5 }`.
    pub min_rate: Option<std::collections::BTreeMap<String, f64>>,
    /// `[[expect.view]]`: view calls checked after the run.
    #[serde(default)]
    pub view: Vec<RawView>,
}

/// `[[expect.view]]`: after the run, a view call whose one result must equal, be at least or
/// at most a value or a count of the run (`{ok:N}`, `{steps:N}`: workload N's ok / planned steps).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawView {
    /// A [contracts.NAME], "token", "adjudicator" or a 0x address.
    pub to: String,
    /// The view with its return type, e.g. "count()(uint256)".
    pub call: String,
    /// Its arguments: literals or {contract:NAME}.
    #[serde(default)]
    pub args: Vec<String>,
    pub equals: Option<String>,
    pub at_least: Option<String>,
    pub at_most: Option<String>,
}
