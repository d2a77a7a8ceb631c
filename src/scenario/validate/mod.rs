//! Validation: raw serde types → typed `Scenario`, collecting every located error at once.

mod call;
mod capacity;
mod chain;
mod contracts;
mod counts;
mod delegate;
mod expect;
mod read;
mod setup;
mod workload;

use counts::{biggest_rate_key, shown_count, workload_steps};
pub use counts::{estimated_steps, poisson_bound, staged_count};

use super::diag::{Diagnostic, KeyPath, SourceMap, nearest};
use super::model::*;
use super::raw::*;
use super::units::{parse_duration_ms, parse_tokens, parse_wei};
use workload::validate_workload;

/// Collects diagnostics while turning raw values into typed ones.
pub(super) struct Ctx<'m, 'a> {
    map: &'m SourceMap<'a>,
    pub errors: Vec<Diagnostic>,
    pub role_names: Vec<String>,
    /// `[contracts]`, validated before the workloads that call them.
    pub contracts: Vec<crate::scenario::ContractSpec>,
}

impl Ctx<'_, '_> {
    pub fn err(&mut self, path: KeyPath, message: impl Into<String>, help: Option<String>) {
        self.errors.push(self.map.at(path, message, help));
    }

    pub fn duration(&mut self, path: KeyPath, text: &str, allow_zero: bool) -> Option<u64> {
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

    pub fn wei(&mut self, path: KeyPath, text: &str) -> Option<u128> {
        parse_wei(text).map_err(|e| self.err(path, e, None)).ok()
    }

    pub fn rate(&mut self, path: KeyPath, rate: f64) -> Option<f64> {
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

    pub fn role(&mut self, path: KeyPath, name: &str) -> Option<RoleId> {
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

    pub fn arrival(raw: Option<RawArrival>) -> Arrival {
        match raw.unwrap_or(RawArrival::Uniform) {
            RawArrival::Uniform => Arrival::Uniform,
            RawArrival::Poisson => Arrival::Poisson,
            RawArrival::Constant => Arrival::Constant,
        }
    }

    /// `[start, stop)` inside `[0, duration]`.
    /// `rate` or `stages` (exactly one) over `window`: (rate, stages, the window's new stop —
    /// where the last stage ends).
    pub fn rate_or_stages(
        &mut self,
        path: &KeyPath,
        rate: Option<f64>,
        stages: &Option<Vec<crate::scenario::raw::RawStage>>,
        (start, stop): (u64, u64),
    ) -> Option<(f64, Vec<crate::scenario::Stage>, u64)> {
        match (rate, stages) {
            (Some(_), Some(_)) => {
                self.err(
                    path.key("stages"),
                    "`stages` and `rate` are exclusive",
                    Some("keep `rate` for a constant rate, or `stages` for a ramped one".into()),
                );
                None
            }
            (None, None) => {
                self.err(
                    path.key("rate"),
                    "a rate-driven workload needs `rate` or `stages`",
                    Some(
                        "add e.g. rate = 10.0, or stages = [{ duration = \"10s\", target = 10.0 }]"
                            .into(),
                    ),
                );
                None
            }
            (Some(r), None) => Some((self.rate(path.key("rate"), r)?, Vec::new(), stop)),
            (None, Some(raw)) => {
                if raw.is_empty() {
                    self.err(
                        path.key("stages"),
                        "`stages` is empty",
                        Some("give at least one { duration, target }".into()),
                    );
                    return None;
                }
                let mut out = Vec::with_capacity(raw.len());
                for (i, st) in raw.iter().enumerate() {
                    let p = path.key("stages").index(i);
                    let d = self.duration(p.key("duration"), &st.duration, false);
                    let t = self.rate(p.key("target"), st.target);
                    if let (Some(duration_ms), Some(target)) = (d, t) {
                        out.push(crate::scenario::Stage {
                            duration_ms,
                            target,
                        });
                    }
                }
                if out.len() != raw.len() {
                    return None;
                }
                let total = out
                    .iter()
                    .fold(0u64, |a, s| a.saturating_add(s.duration_ms));
                if total > stop - start {
                    self.err(
                        path.key("stages"),
                        format!(
                            "the stages last {total}ms, longer than the workload's window ({}ms from {start}ms)",
                            stop - start
                        ),
                        Some("shorten the stages, or lengthen [scenario].duration or the workload's stop".into()),
                    );
                    return None;
                }
                let n: u64 = staged_count(&out);
                let mean = n as f64 * 1000.0 / total as f64;
                Some((mean, out, start + total))
            }
        }
    }

    pub fn window(
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
    pub fn check_pair(&mut self, path: KeyPath, a: RoleId, b: RoleId, wallets: &[u32]) {
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

/// The longest `[scenario].duration`: step offsets are u32 milliseconds.
pub const MAX_DURATION_MS: u64 = u32::MAX as u64;
/// The most `[[workload]]` entries: a step holds its workload index as u16.
pub const MAX_WORKLOADS: usize = u16::MAX as usize;

/// Validates a parsed scenario. `max_steps` caps the plan size, checked before anything is allocated.
pub fn validate(
    raw: &RawScenario,
    map: &SourceMap<'_>,
    (max_steps, rate_scale): (u64, f64),
    base: Option<&std::path::Path>,
) -> Result<Scenario, Vec<Diagnostic>> {
    let mut cx = Ctx {
        map,
        errors: Vec::new(),
        role_names: raw.roles.keys().cloned().collect(),
        contracts: Vec::new(),
    };
    cx.contracts = contracts::validate(&mut cx, &artifacts_base(map, base), &raw.contracts);
    check_version(&mut cx, raw.version);
    check_name(&mut cx, &raw.scenario.name);
    let duration_ms = validate_duration(&mut cx, &raw.scenario.duration);
    let chain = chain::validate_chain(&mut cx, raw.chain.clone().unwrap_or_default());
    let roles = validate_roles(&mut cx, &raw.roles);
    let wallets: Vec<u32> = roles.iter().map(|r| r.wallets).collect();
    let funding = validate_funding(&mut cx, raw.funding.as_ref());
    let workloads = validate_workloads(&mut cx, &raw.workload, duration_ms, &funding, &wallets);
    let expect = expect::validate_expect(
        &mut cx,
        raw.expect.clone().unwrap_or_default(),
        raw.workload.len(),
    );
    // Before the contracts move into the scenario: a delegation names one.
    let delegations = delegate::validate(&mut cx, &raw.delegate);
    delegate::check_plain_transfers(&mut cx, &workloads, &delegations);
    let mut scenario = Scenario {
        name: raw.scenario.name.clone(),
        seed: raw.scenario.seed,
        duration_ms,
        chain,
        roles,
        funding,
        workloads,
        expect,
        setup: setup::validate(&mut cx, &raw.setup, duration_ms),
        contracts: std::mem::take(&mut cx.contracts),
        capacity: capacity::validate(&mut cx, raw.capacity.clone().unwrap_or_default()),
        delegations,
    };
    if rate_scale != 1.0 {
        scenario.scale_rates(rate_scale);
    }
    if cx.errors.is_empty() {
        check_step_cap(&mut cx, &scenario, max_steps);
    }
    if cx.errors.is_empty() {
        Ok(scenario)
    } else {
        Err(cx.errors)
    }
}

/// The directory artifacts are read from: `base` when given, else the scenario file's own.
fn artifacts_base(map: &SourceMap<'_>, base: Option<&std::path::Path>) -> std::path::PathBuf {
    base.map(std::path::Path::to_path_buf).unwrap_or_else(|| {
        std::path::Path::new(map.file())
            .parent()
            .map(std::path::Path::to_path_buf)
            .unwrap_or_default()
    })
}

/// `version` must be 1, the only format this loadrun reads.
fn check_version(cx: &mut Ctx, version: u32) {
    if version != 1 {
        cx.err(
            KeyPath::root().key("version"),
            format!("version {version} is not supported"),
            Some("this loadrun reads version = 1".into()),
        );
    }
}

/// `[scenario].name` must be usable as the results directory's name.
fn check_name(cx: &mut Ctx, name: &str) {
    let name_ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        && !name.starts_with('.');
    if !name_ok {
        cx.err(
            KeyPath::root().key("scenario").key("name"),
            format!("\"{name}\" is not a usable name"),
            Some(
                "use 1-64 letters, digits, '-', '_' or '.' (it names the results directory)".into(),
            ),
        );
    }
}

/// `[scenario].duration` in ms, capped at what a plan's u32 offsets hold (1 when unreadable).
fn validate_duration(cx: &mut Ctx, text: &str) -> u64 {
    let path = KeyPath::root().key("scenario").key("duration");
    let duration_ms = cx.duration(path.clone(), text, false).unwrap_or(1);
    // Step offsets are held as u32 milliseconds (a compact plan): about 49 days at most.
    if duration_ms > MAX_DURATION_MS {
        cx.err(
            path,
            format!(
                "`{text}` is longer than the longest run loadrun plans ({} days)",
                MAX_DURATION_MS / 86_400_000
            ),
            Some("split the run into several scenarios of at most 49 days".into()),
        );
    }
    duration_ms.min(MAX_DURATION_MS)
}

/// `[roles.NAME]`: each name and wallet count checked; a role is kept (with at least 1 wallet)
/// even when wrong, so later checks still resolve it.
fn validate_roles(cx: &mut Ctx, raw: &std::collections::BTreeMap<String, RawRole>) -> Vec<Role> {
    let roles_path = KeyPath::root().key("roles");
    if raw.is_empty() {
        cx.err(
            roles_path.clone(),
            "no roles are declared",
            Some("add e.g. [roles.A] with wallets = 10".into()),
        );
    }
    let mut roles = Vec::new();
    for (name, role) in raw {
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
    roles
}

/// `[[workload]]`: at most `MAX_WORKLOADS`, each validated; the valid ones keep their index.
fn validate_workloads(
    cx: &mut Ctx,
    raw: &[RawWorkload],
    duration_ms: u64,
    funding: &Funding,
    wallets: &[u32],
) -> Vec<Workload> {
    let root = KeyPath::root();
    if raw.len() > MAX_WORKLOADS {
        cx.err(
            root.key("workload"),
            format!(
                "{} workloads; a scenario holds at most {MAX_WORKLOADS}",
                raw.len()
            ),
            Some("merge workloads of the same kind and roles into one with the summed rate".into()),
        );
    }
    let mut workloads = Vec::new();
    let kinds: Vec<&str> = raw
        .iter()
        .map(|w| match w {
            RawWorkload::Channel(_) => "channel",
            RawWorkload::Transfer(_) => "transfer",
            RawWorkload::TokenTransfer(_) => "token_transfer",
            RawWorkload::Call(_) => "call",
            RawWorkload::Read(_) => "read",
            RawWorkload::Blob(_) => "blob",
        })
        .collect();
    for (i, w) in raw.iter().enumerate().take(MAX_WORKLOADS) {
        let path = root.key("workload").index(i);
        if let Some(kind) = validate_workload(cx, &path, w, duration_ms, funding, wallets, &kinds) {
            workloads.push(Workload { index: i, kind });
        }
    }
    workloads
}

/// The step cap: the workload that alone breaks it is named at its rate; otherwise the sum is.
fn check_step_cap(cx: &mut Ctx, scenario: &Scenario, max_steps: u64) {
    for w in &scenario.workloads {
        let n = workload_steps(w, scenario.duration_ms);
        if n > max_steps {
            cx.err(
                KeyPath::root()
                    .key("workload")
                    .index(w.index)
                    .key(biggest_rate_key(w, scenario.duration_ms)),
                format!(
                    "this workload alone would make {} steps, more than the cap of {max_steps}",
                    shown_count(n)
                ),
                Some("lower its rates or the duration, or raise the cap with --max-steps".into()),
            );
        }
    }
    let steps = estimated_steps(scenario);
    if cx.errors.is_empty() && steps > max_steps {
        cx.err(
            KeyPath::root().key("scenario").key("duration"),
            format!(
                "the plan would make {} steps, more than the cap of {max_steps}",
                shown_count(steps)
            ),
            Some("lower the rates or the duration, or raise the cap with --max-steps".into()),
        );
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
            strategy: FundingStrategy::Tree,
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
        RawStrategy::Tree => FundingStrategy::Tree,
        RawStrategy::Flat => FundingStrategy::Flat,
    };
    Funding {
        strategy,
        fanout,
        eth,
        tokens,
    }
}

/// The ABI of a setup's target: a `[contracts.NAME]`'s, or loadrun's own Token or Adjudicator.
fn target_abi(cx: &Ctx, to: &str) -> Option<alloy::json_abi::JsonAbi> {
    let artifact = |text: &str| {
        serde_json::from_str::<serde_json::Value>(text)
            .ok()
            .and_then(|v| serde_json::from_value(v["abi"].clone()).ok())
    };
    match to {
        "token" => artifact(include_str!("../../../contracts/artifacts/Token.json")),
        "adjudicator" => artifact(include_str!(
            "../../../contracts/artifacts/Adjudicator.json"
        )),
        name => cx.contracts.iter().find(|k| k.name == name)?.abi.clone(),
    }
}
