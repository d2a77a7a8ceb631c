//! Validation of `[[workload]]` tables: channels (direct and ledger), transfers, calls (reads:
//! `read.rs`).

use super::Ctx;
use super::call::validate_call;
use crate::scenario::diag::KeyPath;
use crate::scenario::model::*;
use crate::scenario::raw::*;
use crate::scenario::units::parse_tokens;

pub(super) fn validate_workload(
    cx: &mut Ctx,
    path: &KeyPath,
    raw: &RawWorkload,
    duration: u64,
    funding: &Funding,
    wallets: &[u32],
    kinds: &[&str],
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
        RawWorkload::Blob(b) => {
            validate_blob(cx, path, b, duration, wallets).map(WorkloadKind::Blob)
        }
        RawWorkload::Read(r) => {
            super::read::validate_read(cx, path, r, duration, kinds).map(WorkloadKind::Read)
        }
    }
}

/// A `blob` workload: a transfer's keys plus the blob count and the blob fee cap.
fn validate_blob(
    cx: &mut Ctx,
    path: &KeyPath,
    b: &RawBlob,
    duration: u64,
    wallets: &[u32],
) -> Option<BlobWorkload> {
    let as_transfer = RawTransfer {
        from: b.from.clone(),
        to: b.to.clone(),
        rate: b.rate,
        stages: b.stages.clone(),
        amount: b.amount.clone().unwrap_or_else(|| "0 ether".into()),
        arrival: b.arrival,
        start: b.start.clone(),
        stop: b.stop.clone(),
    };
    let amount = cx.wei(path.key("amount"), &as_transfer.amount);
    let transfer = validate_rate_workload(cx, path, &as_transfer, amount, duration, wallets);
    if !(1..=MAX_BLOBS_PER_TX).contains(&b.blobs) {
        cx.err(
            path.key("blobs"),
            format!(
                "{} blobs per transaction; a transaction carries 1 to {MAX_BLOBS_PER_TX} (the chain's maximum since Osaka, EIP-7594)",
                b.blobs
            ),
            Some(format!("set blobs between 1 and {MAX_BLOBS_PER_TX}, and raise the rate for more blobs per second")),
        );
    }
    let max_fee = match &b.max_fee_per_blob_gas {
        Some(v) => Some(Some(cx.wei(path.key("max_fee_per_blob_gas"), v)?)),
        None => Some(None),
    };
    (1..=MAX_BLOBS_PER_TX).contains(&b.blobs).then_some(())?;
    Some(BlobWorkload {
        transfer: transfer?,
        blobs: b.blobs,
        max_fee_per_blob_gas: max_fee?,
    })
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
