//! Validated, typed scenario: values that cannot be invalid once constructed by `validate`.

pub use crate::model::RoleId;

/// Default cap on the number of plan steps; `--max-steps` raises it.
pub const DEFAULT_MAX_STEPS: u64 = 50_000_000;

#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    pub name: String,
    pub seed: u64,
    pub duration_ms: u64,
    pub chain: ChainConfig,
    /// Sorted by name; a `RoleId` indexes this.
    pub roles: Vec<Role>,
    pub funding: Funding,
    pub workloads: Vec<Workload>,
    pub expect: Expect,
    /// `[contracts.NAME]`, by name.
    pub contracts: Vec<ContractSpec>,
    /// `[[setup]]`, in file order.
    pub setup: Vec<SetupCall>,
    /// `[capacity]` (defaults when omitted).
    pub capacity: Capacity,
    /// `[[delegate]]`, in file order (one per role).
    pub delegations: Vec<Delegation>,
}

/// One `[[delegate]]`: every wallet of `role` delegates its code to `to` (EIP-7702).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delegation {
    pub role: RoleId,
    pub to: CallTarget,
}

/// `[capacity]`: the SLO a step of `loadrun capacity` must meet, and how the search goes.
#[derive(Debug, Clone, PartialEq)]
pub struct Capacity {
    pub max_p99_inclusion_ms: u64,
    /// A share, 0 to 1.
    pub max_failed: f64,
    /// A share of the target rate, 0 to 1.
    pub min_included: f64,
    pub start_scale: f64,
    pub max_scale: f64,
    pub growth: f64,
    pub precision: f64,
    /// Included transactions per second the found capacity must reach (CI gate).
    pub min_rate: Option<f64>,
}

impl Default for Capacity {
    fn default() -> Self {
        Self {
            max_p99_inclusion_ms: 5_000,
            max_failed: 0.01,
            min_included: 0.9,
            start_scale: 1.0,
            max_scale: 64.0,
            growth: 2.0,
            precision: 0.05,
            min_rate: None,
        }
    }
}

/// One `[[setup]]`: a call each wallet of `call.from` makes once, after funding.
#[derive(Debug, Clone, PartialEq)]
pub struct SetupCall {
    /// The call (its rate and window unused).
    pub call: CallWorkload,
    /// Skip a wallet when this view, called with its args resolved for the wallet, is met.
    pub unless: Option<Unless>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unless {
    /// e.g. `allowance(address,address)(uint256)`.
    pub call: String,
    pub args: Vec<super::template::ArgSpec>,
    /// `true`: at least `value`; `false`: equal to it.
    pub at_least: bool,
    pub value: String,
}

/// A user contract: what the funder deploys through the CREATE2 deployer, and where.
#[derive(Debug, Clone, PartialEq)]
pub struct ContractSpec {
    pub name: String,
    /// Creation bytecode + encoded constructor arguments.
    pub init_code: Vec<u8>,
    pub salt: [u8; 32],
    pub abi: Option<alloy::json_abi::JsonAbi>,
    /// Wei sent with the deployment.
    pub value: u128,
    /// The CREATE2 address (known before any chain is touched).
    pub address: [u8; 20],
}

impl Scenario {
    pub fn role_name(&self, id: RoleId) -> &str {
        &self.roles[usize::from(id)].name
    }
    /// Multiplies every rate and stage target by `f` (`--rate-scale`): capacity search without
    /// editing the file. Windows and counts then follow from the scaled rates as usual.
    pub fn scale_rates(&mut self, f: f64) {
        let stages = |v: &mut Vec<Stage>| v.iter_mut().for_each(|s| s.target *= f);
        for w in &mut self.workloads {
            match &mut w.kind {
                WorkloadKind::Channel(c) => {
                    c.create_rate *= f;
                    c.close_rate *= f;
                    c.update_rate *= f;
                    if let Some(l) = &mut c.ledger {
                        l.rate *= f;
                    }
                }
                WorkloadKind::Transfer(t)
                | WorkloadKind::TokenTransfer(t)
                | WorkloadKind::Blob(BlobWorkload { transfer: t, .. }) => {
                    t.rate *= f;
                    stages(&mut t.stages);
                }
                WorkloadKind::Call(c) | WorkloadKind::Read(ReadWorkload { call: c, .. }) => {
                    c.rate *= f;
                    stages(&mut c.stages);
                }
            }
        }
    }

    /// `ROLE:INDEX` of every wallet, in `wallets::all` order (the sanity check's labels).
    pub fn wallet_labels(&self) -> Vec<String> {
        self.roles
            .iter()
            .flat_map(|role| (0..role.wallets).map(move |i| format!("{}:{i}", role.name)))
            .collect()
    }

    pub fn total_wallets(&self) -> u64 {
        self.roles.iter().map(|r| u64::from(r.wallets)).sum()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Role {
    pub name: String,
    pub wallets: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ChainConfig {
    pub rpc: Option<String>,
    pub funder_key_env: Option<String>,
    pub allow_chain_ids: Vec<u64>,
    /// Spawned anvil: the block interval; `None` = automine (one block per transaction).
    pub block_time_ms: Option<u64>,
    pub chain_id: Option<u64>,
    pub gas_limit: Option<u64>,
    pub anvil_args: Vec<String>,
    pub retry_for_ms: u64,
    pub max_rps: Option<f64>,
    /// The node's Prometheus endpoint, scraped into node.csv.
    pub node_metrics: Option<String>,
    /// The node host's node_exporter endpoint.
    pub host_metrics: Option<String>,
    /// Further series of `node_metrics` to record, by name.
    pub metrics: Vec<String>,
}

/// Block interval of the spawned anvil when `[chain].block_time` is omitted.
pub const DEFAULT_BLOCK_TIME_MS: u64 = 1_000;

/// Default of `[chain].retry_for`.
pub const DEFAULT_RETRY_FOR_MS: u64 = 30_000;

/// Chain ids allowed when `allow_chain_ids` is omitted: anvil's and ganache/hardhat's dev ids.
pub const DEFAULT_ALLOWED_CHAIN_IDS: [u64; 2] = [31337, 1337];

/// An omitted `[chain]`: spawn anvil, allow only the dev chain ids.
impl Default for ChainConfig {
    fn default() -> Self {
        Self {
            rpc: None,
            funder_key_env: None,
            allow_chain_ids: DEFAULT_ALLOWED_CHAIN_IDS.to_vec(),
            block_time_ms: Some(DEFAULT_BLOCK_TIME_MS),
            chain_id: None,
            gas_limit: None,
            anvil_args: Vec::new(),
            retry_for_ms: DEFAULT_RETRY_FOR_MS,
            max_rps: None,
            node_metrics: None,
            host_metrics: None,
            metrics: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FundingStrategy {
    Tree,
    Flat,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Funding {
    pub strategy: FundingStrategy,
    pub fanout: u32,
    /// Wei per wallet.
    pub eth: u128,
    /// Token base units per wallet (18 decimals); 0 when the scenario funds no tokens.
    pub tokens: u128,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Workload {
    pub index: usize,
    pub kind: WorkloadKind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum WorkloadKind {
    Channel(ChannelWorkload),
    Transfer(RateWorkload),
    TokenTransfer(RateWorkload),
    Call(CallWorkload),
    Read(ReadWorkload),
    Blob(BlobWorkload),
}

/// Blob gas per blob (EIP-4844 `GAS_PER_BLOB`).
pub const GAS_PER_BLOB: u64 = 131_072;
/// Blobs a transaction may carry at most (EIP-7594's per-transaction cap since Osaka).
pub const MAX_BLOBS_PER_TX: u32 = 6;

/// A `blob` workload: transfers (`amount` the value) that carry `blobs` blobs each.
#[derive(Debug, Clone, PartialEq)]
pub struct BlobWorkload {
    pub transfer: RateWorkload,
    pub blobs: u32,
    /// Wei per unit of blob gas at most; `None`: from the chain at the start.
    pub max_fee_per_blob_gas: Option<u128>,
}

impl WorkloadKind {
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::Channel(_) => "channel",
            Self::Transfer(_) => "transfer",
            Self::TokenTransfer(_) => "token_transfer",
            Self::Call(_) => "call",
            Self::Read(_) => "read",
            Self::Blob(_) => "blob",
        }
    }
}

/// The JSON-RPC method of a read workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ReadMethod {
    Call,
    GetBalance,
    GetLogs,
    GetBlockByNumber,
    BlockNumber,
    GetTransactionReceipt,
}

impl ReadMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Call => "eth_call",
            Self::GetBalance => "eth_getBalance",
            Self::GetLogs => "eth_getLogs",
            Self::GetBlockByNumber => "eth_getBlockByNumber",
            Self::BlockNumber => "eth_blockNumber",
            Self::GetTransactionReceipt => "eth_getTransactionReceipt",
        }
    }

    /// The parameter types its `args` are checked and resolved as (`block` is a number or a
    /// tag), and their defaults.
    pub fn params(self) -> (&'static [&'static str], &'static [&'static str]) {
        match self {
            Self::Call => (&[], &[]),
            Self::GetBalance => (&["address"], &["{sender}"]),
            Self::GetLogs => (&["block", "block"], &["latest", "latest"]),
            Self::GetBlockByNumber => (&["block"], &["latest"]),
            Self::BlockNumber => (&[], &[]),
            // Its one parameter is a step of `receipts_of`, chosen by the plan.
            Self::GetTransactionReceipt => (&[], &[]),
        }
    }
}

/// Block tags a `block` parameter of a read may be instead of a number.
pub const BLOCK_TAGS: [&str; 5] = ["latest", "earliest", "pending", "safe", "finalized"];

/// A `read` workload: `call` holds what it shares with a call workload (the role, the target,
/// the function of an eth_call, the templated arguments, the rate and window); its `value` is 0
/// and, for methods other than eth_call, its `signature` is `METHOD(TYPES)` of `params`.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadWorkload {
    pub method: ReadMethod,
    pub call: CallWorkload,
    /// eth_call / eth_getLogs: whether `to` was given (eth_getLogs filters on it only then).
    pub has_to: bool,
    /// eth_getTransactionReceipt: the workload whose transactions are read.
    pub receipts_of: Option<usize>,
    /// Reads due together leave as one JSON-RPC batch.
    pub batch: bool,
    pub timeout_ms: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ChannelWorkload {
    pub between: [RoleId; 2],
    pub create_rate: f64,
    pub close_rate: f64,
    pub close_delay_ms: u64,
    pub update_rate: f64,
    /// Wei deposited into each channel.
    pub deposit: u128,
    /// `Some` for ledger funding.
    pub ledger: Option<LedgerParams>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LedgerParams {
    pub rate: f64,
    pub duration_ms: u64,
    pub delay_ms: u64,
    pub close_ledgers: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrival {
    Uniform,
    Poisson,
    Constant,
}

/// One stage of a ramped rate (k6 style): over `duration_ms` the rate goes linearly from the
/// previous stage's target (0 before the first) to `target` events per second.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stage {
    pub duration_ms: u64,
    pub target: f64,
}

/// Events a stage holds: round(its integral), the plan's count rule per stage.
pub fn stage_count(from: f64, s: Stage) -> u64 {
    count_for((from + s.target) / 2.0, s.duration_ms)
}

/// A rate-driven workload between two roles (transfer, token_transfer).
#[derive(Debug, Clone, PartialEq)]
pub struct RateWorkload {
    pub from: RoleId,
    pub to: RoleId,
    /// Events per second; with `stages`, their mean over the stages (for display).
    pub rate: f64,
    /// A piecewise-linear rate from `start_ms` instead of `rate` (empty: constant `rate`);
    /// `stop_ms` is then where the last stage ends.
    pub stages: Vec<Stage>,
    /// Wei (transfer) or token base units (token_transfer).
    pub amount: u128,
    pub arrival: Arrival,
    pub start_ms: u64,
    pub stop_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallTarget {
    Address([u8; 20]),
    /// A `[contracts.NAME]` (index into `Scenario::contracts`).
    Named(usize),
    Token,
    Adjudicator,
    /// "self": the calling wallet (delegated with `[[delegate]]`).
    Sender,
}

/// One `args` value as the ABI type `ty` (e.g. `uint256`), if it is one.
pub fn coerce_arg(ty: &str, arg: &str) -> Option<alloy::dyn_abi::DynSolValue> {
    alloy::dyn_abi::DynSolType::parse(ty)
        .ok()?
        .coerce_str(arg)
        .ok()
}

/// Selector + ABI-encoded `args` of `f`, each coerced to its parameter's type.
pub fn encode_input(f: &alloy::json_abi::Function, args: &[&str]) -> Option<Vec<u8>> {
    use alloy::dyn_abi::JsonAbiExt;
    let values = f
        .inputs
        .iter()
        .zip(args)
        .map(|(input, arg)| coerce_arg(&input.selector_type(), arg))
        .collect::<Option<Vec<_>>>()?;
    f.abi_encode_input(&values).ok()
}

impl CallWorkload {
    /// Whether some argument changes per step (then the plan holds each step's arguments).
    pub fn templated(&self) -> bool {
        self.arg_specs.iter().any(|a| a.varies())
    }

    /// The parsed function of `signature`.
    pub fn function(&self) -> Option<alloy::json_abi::Function> {
        alloy::json_abi::Function::parse(&self.signature).ok()
    }

    /// The input for `args` (one resolved value per parameter).
    pub fn input_for(&self, args: &[&str]) -> Option<Vec<u8>> {
        encode_input(&self.function()?, args)
    }

    /// The call's input (selector + ABI-encoded args). Validation checked every piece, so this
    /// is `None` only for a `CallWorkload` built by hand with bad values.
    pub fn input(&self) -> Option<Vec<u8>> {
        let args: Vec<&str> = self.args.iter().map(String::as_str).collect();
        self.input_for(&args)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct CallWorkload {
    pub from: RoleId,
    pub to: CallTarget,
    /// Canonical signature, e.g. `deposit(uint256)`.
    pub signature: String,
    pub args: Vec<String>,
    /// Each argument as a literal or a template (`scenario::template`), resolved at plan time.
    pub arg_specs: Vec<super::template::ArgSpec>,
    /// The role `{peer}` draws from.
    pub peers: Option<RoleId>,
    pub value: u128,
    pub rate: f64,
    /// As `RateWorkload::stages`.
    pub stages: Vec<Stage>,
    pub arrival: Arrival,
    pub start_ms: u64,
    pub stop_ms: u64,
    pub access_list: AccessListSpec,
}

/// A call workload's `access_list`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum AccessListSpec {
    #[default]
    None,
    /// Asked from the node (eth_createAccessList) for the workload's first call.
    Auto,
    /// (address, storage slots) entries.
    Given(Vec<(CallTarget, Vec<[u8; 32]>)>),
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Expect {
    pub max_failed: Option<u64>,
    pub max_p99_inclusion_ms: Option<u64>,
    pub max_p99_lateness_ms: Option<u64>,
    /// (workload index, minimum ok steps per second).
    pub min_rate: Vec<(u32, f64)>,
    /// `[[expect.view]]`.
    pub views: Vec<ViewExpect>,
}

/// A value a view's result is compared with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ViewValue {
    /// A literal of the view's return type.
    Literal(String),
    /// Ok steps of workload N.
    Ok(usize),
    /// Planned steps of workload N.
    Steps(usize),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bound {
    Equals(ViewValue),
    AtLeast(ViewValue),
    AtMost(ViewValue),
}

/// One `[[expect.view]]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViewExpect {
    pub to: CallTarget,
    /// As written, e.g. `count()(uint256)`.
    pub call: String,
    pub args: Vec<String>,
    pub bound: Bound,
}

/// Number of events of a rate over a window: round(rate × window), the plan's count rule.
pub fn count_for(rate: f64, window_ms: u64) -> u64 {
    // f64 multiplication and rounding are IEEE-exact, so this is the same on every platform.
    (rate * window_ms as f64 / 1000.0).round() as u64
}
