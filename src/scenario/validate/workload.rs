//! Validation of `[[workload]]` tables: channels (direct and ledger), transfers, calls.

use alloy::json_abi::{Function, JsonAbi};

use super::Ctx;
use crate::scenario::diag::KeyPath;
use crate::scenario::model::*;
use crate::scenario::raw::*;
use crate::scenario::template::{self, ArgSpec};
use crate::scenario::units::parse_tokens;

pub(super) fn validate_workload(
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
    let window = cx.window(path, &t.start, &t.stop, duration);
    let rate = window.and_then(|w| cx.rate_or_stages(path, t.rate, &t.stages, w));
    let (from, to) = (from?, to?);
    cx.check_pair(path.key("to"), from, to, wallets);
    let (start_ms, _) = window?;
    let (rate, stages, stop_ms) = rate?;
    Some(RateWorkload {
        from,
        to,
        rate,
        stages,
        amount: amount?,
        arrival: Ctx::arrival(t.arrival),
        start_ms,
        stop_ms,
    })
}

/// Validates a `call` workload (and a `[[setup]]` call): target, signature against the target's
/// ABI, arguments and their templates, rate.
pub(super) fn validate_call(
    cx: &mut Ctx,
    path: &KeyPath,
    c: &RawCall,
    duration: u64,
) -> Option<CallWorkload> {
    let from = cx.role(path.key("from"), &c.from);
    let window = cx.window(path, &c.start, &c.stop, duration);
    let rate = window.and_then(|w| cx.rate_or_stages(path, c.rate, &c.stages, w));
    let value = match &c.value {
        Some(v) => cx.wei(path.key("value"), v),
        None => Some(0),
    };
    let to = call_target(cx, path, &c.to);
    // A [contracts.NAME]'s ABI, or loadrun's own Token's / Adjudicator's.
    let abi = super::target_abi(cx, &c.to);
    let signature = resolve_signature(cx, path, c, abi.as_ref())?;
    let function = parse_function(cx, path, c, &signature)?;
    check_function_in_abi(cx, path, c, abi.as_ref(), &function)?;
    check_arity(cx, path, c, &function)?;
    let peers = c.peers.as_ref().and_then(|p| cx.role(path.key("peers"), p));
    let arg_specs = arg_specs(cx, path, c, &function);
    let (start_ms, _) = window?;
    let (rate, stages, stop_ms) = rate?;
    Some(CallWorkload {
        from: from?,
        to: to?,
        signature: function.signature(),
        args: resolved_args(&c.args, &arg_specs),
        arg_specs,
        peers,
        value: value?,
        rate,
        stages,
        arrival: Ctx::arrival(c.arrival),
        start_ms,
        stop_ms,
    })
}

/// `to`: a `[contracts.NAME]`, loadrun's "token" or "adjudicator", or a 0x address.
fn call_target(cx: &mut Ctx, path: &KeyPath, to: &str) -> Option<CallTarget> {
    let named = cx.contracts.iter().position(|k| k.name == to);
    match to {
        _ if named.is_some() => named.map(CallTarget::Named),
        "token" => Some(CallTarget::Token),
        "adjudicator" => Some(CallTarget::Adjudicator),
        other => match other
            .strip_prefix("0x")
            .filter(|h| h.len() == 40)
            .and_then(decode_hex20)
        {
            Some(a) => Some(CallTarget::Address(a)),
            None => {
                let names: Vec<&str> = cx.contracts.iter().map(|k| k.name.as_str()).collect();
                cx.err(path.key("to"), format!("\"{other}\" is not a 0x address (40 hex digits), \"token\", \"adjudicator\" or a [contracts.NAME]{}", if names.is_empty() { String::new() } else { format!(" ({})", names.join(", ")) }), None);
                None
            }
        },
    }
}

/// The full signature: with the target's ABI, a bare name is looked up (it must be there
/// exactly once); otherwise the signature as written.
fn resolve_signature(
    cx: &mut Ctx,
    path: &KeyPath,
    c: &RawCall,
    abi: Option<&JsonAbi>,
) -> Option<String> {
    let Some(abi) = abi.filter(|_| !c.signature.contains('(')) else {
        return Some(c.signature.clone());
    };
    let found: Vec<String> = abi
        .functions()
        .filter(|f| f.name == c.signature)
        .map(|f| f.signature())
        .collect();
    match found.as_slice() {
        [one] => Some(one.clone()),
        [] => {
            let names: Vec<String> = abi.functions().map(|f| f.signature()).collect();
            cx.err(
                path.key("signature"),
                format!("`{}` has no function {}", c.to, c.signature),
                Some(format!("it has: {}", names.join(", "))),
            );
            None
        }
        many => {
            cx.err(
                path.key("signature"),
                format!(
                    "`{}` is ambiguous in {}: {}",
                    c.signature,
                    c.to,
                    many.join(", ")
                ),
                Some("give the full signature".into()),
            );
            None
        }
    }
}

/// The function the signature writes, if it is a Solidity function signature.
fn parse_function(cx: &mut Ctx, path: &KeyPath, c: &RawCall, signature: &str) -> Option<Function> {
    match Function::parse(signature) {
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
    }
}

/// With the target's ABI known, the function must be in it.
fn check_function_in_abi(
    cx: &mut Ctx,
    path: &KeyPath,
    c: &RawCall,
    abi: Option<&JsonAbi>,
    function: &Function,
) -> Option<()> {
    if let Some(abi) = abi
        && !abi.functions().any(|f| f.selector() == function.selector())
    {
        let names: Vec<String> = abi.functions().map(|f| f.signature()).collect();
        cx.err(
            path.key("signature"),
            format!("`{}` has no function {}", c.to, function.signature()),
            Some(format!("it has: {}", names.join(", "))),
        );
        return None;
    }
    Some(())
}

/// `args` must have one value per parameter of the function.
fn check_arity(cx: &mut Ctx, path: &KeyPath, c: &RawCall, function: &Function) -> Option<()> {
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
    Some(())
}

/// Each argument parsed against its parameter's type; `{peer}` needs `peers`. Only the valid
/// ones are returned (errors are reported).
fn arg_specs(cx: &mut Ctx, path: &KeyPath, c: &RawCall, function: &Function) -> Vec<ArgSpec> {
    let mut arg_specs = Vec::with_capacity(c.args.len());
    for (i, (input, arg)) in function.inputs.iter().zip(&c.args).enumerate() {
        match template::parse(&input.selector_type(), arg, &cx.contracts) {
            Ok(ArgSpec::Peer) if c.peers.is_none() => cx.err(
                path.key("args").index(i),
                "{peer} draws from the role named by `peers`, which this workload does not set",
                Some("add e.g. peers = \"B\"".into()),
            ),
            Ok(spec) => arg_specs.push(spec),
            Err(e) => cx.err(path.key("args").index(i), e, None),
        }
    }
    arg_specs
}

/// The arguments as resolved at validation: a literal's value (`{contract:NAME}` is an address
/// by then), a template as written.
fn resolved_args(raw: &[String], specs: &[ArgSpec]) -> Vec<String> {
    raw.iter()
        .zip(specs)
        .map(|(raw, spec)| match spec {
            ArgSpec::Literal(l) => l.clone(),
            _ => raw.clone(),
        })
        .collect()
}

fn decode_hex20(h: &str) -> Option<[u8; 20]> {
    let mut out = [0u8; 20];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(h.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// A channel's rates and close delay, once each is valid: what the count checks compare.
struct ChannelPace {
    create_rate: f64,
    close_rate: f64,
    update_rate: f64,
    close_delay_ms: u64,
}

/// Validates a `channel` workload: its two roles, rates, deposit, and (ledger funding) ledgers.
fn validate_channel(
    cx: &mut Ctx,
    path: &KeyPath,
    c: &RawChannel,
    duration: u64,
    wallets: &[u32],
) -> Option<ChannelWorkload> {
    let between = channel_between(cx, path, c, wallets);
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
            check_no_ledger_keys(cx, path, c);
            None
        }
        RawChannelFunding::Ledger => validate_ledger(cx, path, c, duration),
    };
    let pace = ChannelPace {
        create_rate: create_rate?,
        close_rate: close_rate?,
        update_rate: update_rate?,
        close_delay_ms: close_delay_ms?,
    };
    check_channel_counts(cx, path, &pace, duration);
    let ledger = match c.funding {
        RawChannelFunding::Direct => None,
        RawChannelFunding::Ledger => Some(ledger?),
    };
    Some(ChannelWorkload {
        between: between?,
        create_rate: pace.create_rate,
        close_rate: pace.close_rate,
        close_delay_ms: pace.close_delay_ms,
        update_rate: pace.update_rate,
        deposit: deposit?,
        ledger,
    })
}

/// `between`: exactly two known roles, which can pair (two wallets if it is one role twice).
fn channel_between(
    cx: &mut Ctx,
    path: &KeyPath,
    c: &RawChannel,
    wallets: &[u32],
) -> Option<[RoleId; 2]> {
    let between_path = path.key("between");
    if c.between.len() != 2 {
        cx.err(
            between_path.clone(),
            format!(
                "lists {} role(s); a channel is between exactly 2",
                c.between.len()
            ),
            Some("write e.g. between = [\"A\", \"B\"]".into()),
        );
        return None;
    }
    let a = cx.role(between_path.index(0), &c.between[0]);
    let b = cx.role(between_path.index(1), &c.between[1]);
    let (a, b) = (a?, b?);
    cx.check_pair(between_path.clone(), a, b, wallets);
    Some([a, b])
}

/// With direct funding, the ledger keys are refused.
fn check_no_ledger_keys(cx: &mut Ctx, path: &KeyPath, c: &RawChannel) {
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
}

/// Closes need distinct channels and time to close in; updates need channels.
fn check_channel_counts(cx: &mut Ctx, path: &KeyPath, pace: &ChannelPace, duration: u64) {
    let creates = count_for(pace.create_rate, duration);
    let closes = count_for(pace.close_rate, duration);
    let close_delay_ms = pace.close_delay_ms;
    if closes > creates {
        cx.err(path.key("close_rate"), format!("close_rate × duration = {closes} closes but only {creates} channels are created; each close needs a distinct channel"), Some("lower close_rate or raise create_rate".into()));
    }
    if closes > 0 && close_delay_ms >= duration {
        cx.err(path.key("close_delay"), format!("close_delay {close_delay_ms}ms leaves no time to close within the {duration}ms duration"), None);
    }
    if count_for(pace.update_rate, duration) > 0 && creates == 0 {
        cx.err(
            path.key("update_rate"),
            "updates need channels, but create_rate × duration rounds to 0",
            None,
        );
    }
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
