//! Validation: raw serde types → typed `Scenario`, collecting every located error at once.

use alloy::dyn_abi::DynSolType;
use alloy::json_abi::Function;

use super::diag::{Diagnostic, KeyPath, SourceMap, nearest};
use super::model::*;
use super::raw::*;
use super::units::{parse_duration_ms, parse_tokens, parse_wei};

/// Collects diagnostics while turning raw values into typed ones.
struct Ctx<'m, 'a> {
    map: &'m SourceMap<'a>,
    errors: Vec<Diagnostic>,
    role_names: Vec<String>,
}

impl Ctx<'_, '_> {
    fn err(&mut self, path: KeyPath, message: impl Into<String>, help: Option<String>) {
        self.errors.push(self.map.at(path, message, help));
    }

    fn duration(&mut self, path: KeyPath, text: &str, allow_zero: bool) -> Option<u64> {
        match parse_duration_ms(text) {
            Ok(0) if !allow_zero => {
                self.err(
                    path,
                    format!("`{text}` is zero; a duration here must be positive"),
                    None,
                );
                None
            }
            Ok(ms) => Some(ms),
            Err(e) => {
                self.err(path, e, None);
                None
            }
        }
    }

    fn wei(&mut self, path: KeyPath, text: &str) -> Option<u128> {
        parse_wei(text).map_err(|e| self.err(path, e, None)).ok()
    }

    fn rate(&mut self, path: KeyPath, rate: f64) -> Option<f64> {
        if !rate.is_finite() || rate < 0.0 {
            self.err(
                path,
                format!("rate {rate} must be a finite number >= 0 (events per second)"),
                None,
            );
            return None;
        }
        Some(rate)
    }

    fn role(&mut self, path: KeyPath, name: &str) -> Option<RoleId> {
        match self.role_names.iter().position(|r| r == name) {
            Some(i) => Some(i as RoleId),
            None => {
                let help = nearest(name, &self.role_names)
                    .map(|r| format!("did you mean \"{r}\"?"))
                    .unwrap_or_else(|| {
                        format!(
                            "declare it as [roles.{name}] or use one of: {}",
                            self.role_names.join(", ")
                        )
                    });
                self.err(path, format!("unknown role \"{name}\""), Some(help));
                None
            }
        }
    }

    fn arrival(raw: Option<RawArrival>) -> Arrival {
        match raw.unwrap_or(RawArrival::Uniform) {
            RawArrival::Uniform => Arrival::Uniform,
            RawArrival::Poisson => Arrival::Poisson,
            RawArrival::Constant => Arrival::Constant,
        }
    }

    /// `[start, stop)` inside `[0, duration]`.
    fn window(
        &mut self,
        path: &KeyPath,
        start: &Option<String>,
        stop: &Option<String>,
        duration: u64,
    ) -> Option<(u64, u64)> {
        let s = match start {
            Some(t) => self.duration(path.key("start"), t, true)?,
            None => 0,
        };
        let e = match stop {
            Some(t) => self.duration(path.key("stop"), t, false)?,
            None => duration,
        };
        if e > duration {
            self.err(
                path.key("stop"),
                format!("stop {e}ms is beyond [scenario].duration ({duration}ms)"),
                None,
            );
            return None;
        }
        if s >= e {
            self.err(
                path.key("start"),
                format!("start {s}ms must be before stop {e}ms"),
                None,
            );
            return None;
        }
        Some((s, e))
    }

    /// Two distinct wallets must exist when a workload pairs a role with itself.
    fn check_pair(&mut self, path: KeyPath, a: RoleId, b: RoleId, wallets: &[u32]) {
        if a == b && wallets[usize::from(a)] < 2 {
            let name = &self.role_names[usize::from(a)];
            self.err(
                path,
                format!("role \"{name}\" is paired with itself but has 1 wallet"),
                Some(format!(
                    "give [roles.{name}] at least 2 wallets or pair it with another role"
                )),
            );
        }
    }
}

/// Validates a parsed scenario. `max_steps` caps the plan size, checked before anything is allocated.
pub fn validate(
    raw: &RawScenario,
    map: &SourceMap<'_>,
    max_steps: u64,
) -> Result<Scenario, Vec<Diagnostic>> {
    let root = KeyPath::root();
    let mut cx = Ctx {
        map,
        errors: Vec::new(),
        role_names: raw.roles.keys().cloned().collect(),
    };

    if raw.version != 1 {
        cx.err(
            root.key("version"),
            format!("version {} is not supported", raw.version),
            Some("this loadrun reads version = 1".into()),
        );
    }
    let meta = root.key("scenario");
    let name_ok = !raw.scenario.name.is_empty()
        && raw.scenario.name.len() <= 64
        && raw
            .scenario
            .name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        && !raw.scenario.name.starts_with('.');
    if !name_ok {
        cx.err(
            meta.key("name"),
            format!("\"{}\" is not a usable name", raw.scenario.name),
            Some(
                "use 1-64 letters, digits, '-', '_' or '.' (it names the results directory)".into(),
            ),
        );
    }
    let duration_ms = cx
        .duration(meta.key("duration"), &raw.scenario.duration, false)
        .unwrap_or(1);

    let chain = validate_chain(&mut cx, raw.chain.clone().unwrap_or_default());

    let roles_path = root.key("roles");
    if raw.roles.is_empty() {
        cx.err(
            roles_path.clone(),
            "no roles are declared",
            Some("add e.g. [roles.A] with wallets = 10".into()),
        );
    }
    let mut roles = Vec::new();
    for (name, role) in &raw.roles {
        let ok = !name.is_empty()
            && name.len() <= 32
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !ok {
            cx.err(
                roles_path.key(name),
                format!("role name \"{name}\" must be 1-32 letters, digits or '_'"),
                None,
            );
        }
        if role.wallets == 0 || role.wallets > 1_000_000 {
            cx.err(
                roles_path.key(name).key("wallets"),
                format!("wallets = {} must be between 1 and 1000000", role.wallets),
                None,
            );
        }
        roles.push(Role {
            name: name.clone(),
            wallets: role.wallets.max(1),
        });
    }
    let wallets: Vec<u32> = roles.iter().map(|r| r.wallets).collect();

    let funding = validate_funding(&mut cx, raw.funding.as_ref());
    let mut workloads = Vec::new();
    for (i, w) in raw.workload.iter().enumerate() {
        let path = root.key("workload").index(i);
        if let Some(kind) = validate_workload(&mut cx, &path, w, duration_ms, &funding, &wallets) {
            workloads.push(Workload { index: i, kind });
        }
    }
    let expect = validate_expect(&mut cx, raw.expect.clone().unwrap_or_default());

    let scenario = Scenario {
        name: raw.scenario.name.clone(),
        seed: raw.scenario.seed,
        duration_ms,
        chain,
        roles,
        funding,
        workloads,
        expect,
    };
    if cx.errors.is_empty() {
        let steps = estimated_steps(&scenario);
        if steps > max_steps {
            cx.err(
                meta.key("duration"),
                format!("the plan would make {steps} steps, more than the cap of {max_steps}"),
                Some("lower the rates or the duration, or raise the cap with --max-steps".into()),
            );
        }
    }
    if cx.errors.is_empty() {
        Ok(scenario)
    } else {
        Err(cx.errors)
    }
}

fn validate_chain(cx: &mut Ctx, raw: RawChain) -> ChainConfig {
    let path = KeyPath::root().key("chain");
    if let Some(rpc) = &raw.rpc
        && !(rpc.starts_with("http://") || rpc.starts_with("https://"))
    {
        cx.err(
            path.key("rpc"),
            format!("\"{rpc}\" is not an http(s) URL"),
            Some("write e.g. \"http://127.0.0.1:8545\"".into()),
        );
    }
    if let Some(var) = &raw.funder_key_env {
        let hex = var.trim_start_matches("0x");
        if hex.len() == 64 && hex.chars().all(|c| c.is_ascii_hexdigit()) {
            // Never echo the value: it may be a real key.
            cx.err(path.key("funder_key_env"), "this looks like a private key, not the name of an environment variable", Some("put the key in an environment variable (e.g. LOADRUN_FUNDER_KEY) and write that variable's name here; rotate the key if this file was shared".into()));
        } else if var.is_empty()
            || !var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            || var.starts_with(|c: char| c.is_ascii_digit())
        {
            cx.err(
                path.key("funder_key_env"),
                format!("\"{var}\" is not an environment variable name"),
                Some("use letters, digits and '_', e.g. LOADRUN_FUNDER_KEY".into()),
            );
        }
    }
    let allow = raw
        .allow_chain_ids
        .clone()
        .unwrap_or_else(|| DEFAULT_ALLOWED_CHAIN_IDS.to_vec());
    if allow.is_empty() {
        cx.err(
            path.key("allow_chain_ids"),
            "is empty, so no chain would be allowed",
            Some("list the chain ids loadrun may send to, e.g. [31337]".into()),
        );
    }
    let block_time_ms = raw
        .block_time
        .as_ref()
        .and_then(|t| cx.duration(path.key("block_time"), t, false));
    if raw.rpc.is_some() {
        for (key, set) in [
            ("block_time", raw.block_time.is_some()),
            ("chain_id", raw.chain_id.is_some()),
            ("gas_limit", raw.gas_limit.is_some()),
        ] {
            if set {
                cx.err(path.key(key), format!("`{key}` configures a spawned anvil, but `rpc` connects to an existing chain"), Some(format!("remove `{key}` or `rpc`")));
            }
        }
    }
    if let Some(id) = raw.chain_id
        && !allow.contains(&id)
    {
        cx.err(
            path.key("chain_id"),
            format!("chain id {id} is not in allow_chain_ids {allow:?}"),
            Some("add it to allow_chain_ids".into()),
        );
    }
    ChainConfig {
        rpc: raw.rpc,
        funder_key_env: raw.funder_key_env,
        allow_chain_ids: allow,
        block_time_ms,
        chain_id: raw.chain_id,
        gas_limit: raw.gas_limit,
    }
}

fn validate_funding(cx: &mut Ctx, raw: Option<&RawFunding>) -> Funding {
    let path = KeyPath::root().key("funding");
    let Some(raw) = raw else {
        cx.err(
            path,
            "missing [funding] table",
            Some("add [funding] with eth = \"1 ether\" (per wallet)".into()),
        );
        return Funding {
            strategy: Strategy::Tree,
            fanout: 10,
            eth: 0,
            tokens: 0,
        };
    };
    let fanout = raw.fanout.unwrap_or(10);
    if !(2..=1000).contains(&fanout) {
        cx.err(
            path.key("fanout"),
            format!("fanout = {fanout} must be between 2 and 1000"),
            None,
        );
    }
    let eth = cx.wei(path.key("eth"), &raw.eth).unwrap_or(0);
    let tokens = match &raw.tokens {
        Some(t) => parse_tokens(t)
            .map_err(|e| cx.err(path.key("tokens"), e, None))
            .unwrap_or(0),
        None => 0,
    };
    let strategy = match raw.strategy.unwrap_or(RawStrategy::Tree) {
        RawStrategy::Tree => Strategy::Tree,
        RawStrategy::Flat => Strategy::Flat,
    };
    Funding {
        strategy,
        fanout,
        eth,
        tokens,
    }
}

fn validate_workload(
    cx: &mut Ctx,
    path: &KeyPath,
    raw: &RawWorkload,
    duration: u64,
    funding: &Funding,
    wallets: &[u32],
) -> Option<WorkloadKind> {
    match raw {
        RawWorkload::Channel(c) => {
            validate_channel(cx, path, c, duration, wallets).map(WorkloadKind::Channel)
        }
        RawWorkload::Transfer(t) => {
            let amount = cx.wei(path.key("amount"), &t.amount);
            validate_rate_workload(cx, path, t, amount, duration, wallets)
                .map(WorkloadKind::Transfer)
        }
        RawWorkload::TokenTransfer(t) => {
            let amount = parse_tokens(&t.amount)
                .map_err(|e| cx.err(path.key("amount"), e, None))
                .ok();
            if funding.tokens == 0 {
                cx.err(
                    path.key("type"),
                    "token_transfer needs wallets that hold tokens",
                    Some("set [funding].tokens, e.g. tokens = \"1000\"".into()),
                );
            }
            validate_rate_workload(cx, path, t, amount, duration, wallets)
                .map(WorkloadKind::TokenTransfer)
        }
        RawWorkload::Call(c) => validate_call(cx, path, c, duration).map(WorkloadKind::Call),
    }
}

fn validate_rate_workload(
    cx: &mut Ctx,
    path: &KeyPath,
    t: &RawTransfer,
    amount: Option<u128>,
    duration: u64,
    wallets: &[u32],
) -> Option<RateWorkload> {
    let from = cx.role(path.key("from"), &t.from);
    let to = cx.role(path.key("to"), &t.to);
    let rate = cx.rate(path.key("rate"), t.rate);
    let window = cx.window(path, &t.start, &t.stop, duration);
    let (from, to) = (from?, to?);
    cx.check_pair(path.key("to"), from, to, wallets);
    let (start_ms, stop_ms) = window?;
    Some(RateWorkload {
        from,
        to,
        rate: rate?,
        amount: amount?,
        arrival: Ctx::arrival(t.arrival),
        start_ms,
        stop_ms,
    })
}

fn validate_call(cx: &mut Ctx, path: &KeyPath, c: &RawCall, duration: u64) -> Option<CallWorkload> {
    let from = cx.role(path.key("from"), &c.from);
    let rate = cx.rate(path.key("rate"), c.rate);
    let window = cx.window(path, &c.start, &c.stop, duration);
    let value = match &c.value {
        Some(v) => cx.wei(path.key("value"), v),
        None => Some(0),
    };
    let to = match c.to.as_str() {
        "token" => Some(CallTarget::Token),
        "adjudicator" => Some(CallTarget::Adjudicator),
        other => match other
            .strip_prefix("0x")
            .filter(|h| h.len() == 40)
            .and_then(|h| decode_hex20(h))
        {
            Some(a) => Some(CallTarget::Address(a)),
            None => {
                cx.err(path.key("to"), format!("\"{other}\" is not a 0x address (40 hex digits), \"token\" or \"adjudicator\""), None);
                None
            }
        },
    };
    let function = match Function::parse(&c.signature) {
        Ok(f) => Some(f),
        Err(e) => {
            cx.err(
                path.key("signature"),
                format!(
                    "\"{}\" is not a Solidity function signature ({e})",
                    c.signature
                ),
                Some("write e.g. \"deposit(uint256)\" or \"transfer(address,uint256)\"".into()),
            );
            None
        }
    };
    let function = function?;
    if function.inputs.len() != c.args.len() {
        cx.err(
            path.key("args"),
            format!(
                "{} takes {} argument(s) but args has {}",
                c.signature,
                function.inputs.len(),
                c.args.len()
            ),
            None,
        );
        return None;
    }
    for (i, (input, arg)) in function.inputs.iter().zip(&c.args).enumerate() {
        let ok = DynSolType::parse(&input.selector_type())
            .ok()
            .is_some_and(|ty| ty.coerce_str(arg).is_ok());
        if !ok {
            cx.err(
                path.key("args").index(i),
                format!("\"{arg}\" is not a valid {}", input.selector_type()),
                None,
            );
        }
    }
    let (start_ms, stop_ms) = window?;
    Some(CallWorkload {
        from: from?,
        to: to?,
        signature: function.signature(),
        args: c.args.clone(),
        value: value?,
        rate: rate?,
        arrival: Ctx::arrival(c.arrival),
        start_ms,
        stop_ms,
    })
}

fn decode_hex20(h: &str) -> Option<[u8; 20]> {
    let mut out = [0u8; 20];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(h.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

fn validate_channel(
    cx: &mut Ctx,
    path: &KeyPath,
    c: &RawChannel,
    duration: u64,
    wallets: &[u32],
) -> Option<ChannelWorkload> {
    let between_path = path.key("between");
    let mut between = None;
    if c.between.len() != 2 {
        cx.err(
            between_path.clone(),
            format!(
                "lists {} role(s); a channel is between exactly 2",
                c.between.len()
            ),
            Some("write e.g. between = [\"A\", \"B\"]".into()),
        );
    } else {
        let a = cx.role(between_path.index(0), &c.between[0]);
        let b = cx.role(between_path.index(1), &c.between[1]);
        if let (Some(a), Some(b)) = (a, b) {
            cx.check_pair(between_path.clone(), a, b, wallets);
            between = Some([a, b]);
        }
    }
    let create_rate = cx.rate(path.key("create_rate"), c.create_rate);
    let close_rate = cx.rate(path.key("close_rate"), c.close_rate.unwrap_or(0.0));
    let update_rate = cx.rate(path.key("update_rate"), c.update_rate.unwrap_or(0.0));
    let close_delay_ms = match &c.close_delay {
        Some(t) => cx.duration(path.key("close_delay"), t, true),
        None => Some(5_000),
    };
    let deposit = cx.wei(path.key("deposit"), &c.deposit);
    if deposit == Some(0) {
        cx.err(path.key("deposit"), "deposit must be more than 0", None);
    }
    let ledger = match c.funding {
        RawChannelFunding::Direct => {
            for (key, set) in [
                ("ledger_rate", c.ledger_rate.is_some()),
                ("ledger_duration", c.ledger_duration.is_some()),
                ("ledger_delay", c.ledger_delay.is_some()),
                ("close_ledgers", c.close_ledgers.is_some()),
            ] {
                if set {
                    cx.err(
                        path.key(key),
                        format!("`{key}` applies only to funding = \"ledger\""),
                        Some(format!("remove `{key}` or set funding = \"ledger\"")),
                    );
                }
            }
            None
        }
        RawChannelFunding::Ledger => validate_ledger(cx, path, c, duration),
    };
    let (create_rate, close_rate, update_rate, close_delay_ms) =
        (create_rate?, close_rate?, update_rate?, close_delay_ms?);
    let creates = count_for(create_rate, duration);
    let closes = count_for(close_rate, duration);
    if closes > creates {
        cx.err(path.key("close_rate"), format!("close_rate × duration = {closes} closes but only {creates} channels are created; each close needs a distinct channel"), Some("lower close_rate or raise create_rate".into()));
    }
    if closes > 0 && close_delay_ms >= duration {
        cx.err(path.key("close_delay"), format!("close_delay {close_delay_ms}ms leaves no time to close within the {duration}ms duration"), None);
    }
    if count_for(update_rate, duration) > 0 && creates == 0 {
        cx.err(
            path.key("update_rate"),
            "updates need channels, but create_rate × duration rounds to 0",
            None,
        );
    }
    let ledger = match c.funding {
        RawChannelFunding::Direct => None,
        RawChannelFunding::Ledger => Some(ledger?),
    };
    Some(ChannelWorkload {
        between: between?,
        create_rate,
        close_rate,
        close_delay_ms,
        update_rate,
        deposit: deposit?,
        ledger,
    })
}

fn validate_ledger(
    cx: &mut Ctx,
    path: &KeyPath,
    c: &RawChannel,
    duration: u64,
) -> Option<LedgerParams> {
    let rate = match c.ledger_rate {
        Some(r) => cx.rate(path.key("ledger_rate"), r),
        None => {
            cx.err(
                path.key("funding"),
                "funding = \"ledger\" needs `ledger_rate`",
                Some("add ledger_rate = 1.0 (ledger channels per second)".into()),
            );
            None
        }
    };
    let duration_ms = match &c.ledger_duration {
        Some(t) => cx.duration(path.key("ledger_duration"), t, false),
        None => Some(duration),
    };
    let delay_ms = match &c.ledger_delay {
        Some(t) => cx.duration(path.key("ledger_delay"), t, true),
        None => Some(0),
    };
    let (rate, duration_ms, delay_ms) = (rate?, duration_ms?, delay_ms?);
    if duration_ms > duration {
        cx.err(
            path.key("ledger_duration"),
            format!("{duration_ms}ms is longer than [scenario].duration ({duration}ms)"),
            None,
        );
    }
    if count_for(rate, duration_ms) == 0 && count_for(c.create_rate, duration) > 0 {
        cx.err(
            path.key("ledger_rate"),
            "ledger_rate × ledger_duration rounds to 0 ledgers, so no channel can be funded",
            None,
        );
    }
    if delay_ms >= duration {
        cx.err(path.key("ledger_delay"), format!("ledger_delay {delay_ms}ms leaves no time to use a ledger within the {duration}ms duration"), None);
    }
    Some(LedgerParams {
        rate,
        duration_ms,
        delay_ms,
        close_ledgers: c.close_ledgers.unwrap_or(false),
    })
}

fn validate_expect(cx: &mut Ctx, raw: RawExpect) -> Expect {
    let path = KeyPath::root().key("expect");
    Expect {
        max_failed: raw.max_failed,
        max_p99_inclusion_ms: raw
            .max_p99_inclusion
            .as_ref()
            .and_then(|t| cx.duration(path.key("max_p99_inclusion"), t, true)),
        max_p99_lateness_ms: raw
            .max_p99_lateness
            .as_ref()
            .and_then(|t| cx.duration(path.key("max_p99_lateness"), t, true)),
    }
}

/// Upper bound of the plan's step count, computed without expanding anything.
pub fn estimated_steps(s: &Scenario) -> u64 {
    let d = s.duration_ms;
    let rate_steps = |rate: f64, arrival: Arrival, window: u64| {
        let n = count_for(rate, window);
        match arrival {
            // A Poisson count exceeds mean + 10·sqrt(mean) + 10 with negligible probability;
            // the expansion enforces the bound exactly.
            Arrival::Poisson => n + 10 * (n as f64).sqrt().ceil() as u64 + 10,
            _ => n,
        }
    };
    s.workloads
        .iter()
        .map(|w| match &w.kind {
            WorkloadKind::Channel(c) => {
                let ledgers = c.ledger.as_ref().map_or(0, |l| {
                    let n = count_for(l.rate, l.duration_ms);
                    if l.close_ledgers { 2 * n } else { n }
                });
                count_for(c.create_rate, d)
                    + count_for(c.close_rate, d)
                    + count_for(c.update_rate, d)
                    + ledgers
            }
            WorkloadKind::Transfer(t) | WorkloadKind::TokenTransfer(t) => {
                rate_steps(t.rate, t.arrival, t.stop_ms - t.start_ms)
            }
            WorkloadKind::Call(c) => rate_steps(c.rate, c.arrival, c.stop_ms - c.start_ms),
        })
        .fold(0u64, u64::saturating_add)
}
