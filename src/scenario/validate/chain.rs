//! `[chain]`: the endpoint or the spawned anvil's settings, the funder key's variable, the chain
//! ids loadrun may send to, and the request budget.

use super::Ctx;
use crate::scenario::diag::KeyPath;
use crate::scenario::model::*;
use crate::scenario::raw::RawChain;
use crate::scenario::units::parse_duration_ms;

/// Validates `[chain]`, every check reported; defaults fill what is omitted.
pub(super) fn validate_chain(cx: &mut Ctx, raw: RawChain) -> ChainConfig {
    let path = KeyPath::root().key("chain");
    check_rpc(cx, &path, raw.rpc.as_deref());
    check_funder_key_env(cx, &path, raw.funder_key_env.as_deref());
    let allow = allowed_chain_ids(cx, &path, &raw);
    let block_time_ms = block_time(cx, &path, raw.block_time.as_deref());
    if raw.rpc.is_some() {
        check_no_anvil_keys(cx, &path, &raw);
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
    let retry_for_ms = raw
        .retry_for
        .as_ref()
        .and_then(|t| cx.duration(path.key("retry_for"), t, false))
        .unwrap_or(DEFAULT_RETRY_FOR_MS);
    check_max_rps(cx, &path, raw.max_rps);
    for (key, url) in [
        ("node_metrics", &raw.node_metrics),
        ("host_metrics", &raw.host_metrics),
    ] {
        check_metrics_url(cx, &path, key, url.as_deref());
    }
    if raw.host_metrics.is_some() && raw.node_metrics.is_none() {
        cx.err(
            path.key("host_metrics"),
            "host_metrics without node_metrics: node.csv's rows are the node's CPU and memory",
            Some("add node_metrics (the node's own /metrics or a process exporter's), or remove host_metrics".into()),
        );
    }
    ChainConfig {
        rpc: raw.rpc,
        funder_key_env: raw.funder_key_env,
        allow_chain_ids: allow,
        block_time_ms,
        chain_id: raw.chain_id,
        gas_limit: raw.gas_limit,
        anvil_args: raw.anvil_args.unwrap_or_default(),
        retry_for_ms,
        max_rps: raw.max_rps,
        node_metrics: raw.node_metrics,
        host_metrics: raw.host_metrics,
        metrics: raw.metrics.unwrap_or_default(),
    }
}

/// A Prometheus endpoint must be an http URL (the exposition format over plain HTTP).
fn check_metrics_url(cx: &mut Ctx, path: &KeyPath, key: &str, url: Option<&str>) {
    if let Some(u) = url
        && !u.starts_with("http://")
    {
        cx.err(
            path.key(key),
            format!("\"{u}\" is not an http:// URL of a Prometheus endpoint"),
            Some("write e.g. \"http://127.0.0.1:9256/metrics\"".into()),
        );
    }
}

/// `rpc` must be an http(s) URL.
fn check_rpc(cx: &mut Ctx, path: &KeyPath, rpc: Option<&str>) {
    if let Some(rpc) = rpc
        && !(rpc.starts_with("http://") || rpc.starts_with("https://"))
    {
        cx.err(
            path.key("rpc"),
            format!("\"{rpc}\" is not an http(s) URL"),
            Some("write e.g. \"http://127.0.0.1:8545\"".into()),
        );
    }
}

/// `funder_key_env` must name an environment variable, and must not be a key itself.
fn check_funder_key_env(cx: &mut Ctx, path: &KeyPath, var: Option<&str>) {
    let Some(var) = var else {
        return;
    };
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

/// `allow_chain_ids` (by default loadrun's local chains), which must not be empty.
fn allowed_chain_ids(cx: &mut Ctx, path: &KeyPath, raw: &RawChain) -> Vec<u64> {
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
    allow
}

/// The spawned anvil's block interval: omitted, 1-s blocks like a real chain; "automine" (one
/// block per transaction, `None`) on request.
fn block_time(cx: &mut Ctx, path: &KeyPath, text: Option<&str>) -> Option<u64> {
    match text {
        None => Some(DEFAULT_BLOCK_TIME_MS),
        Some("automine") => None,
        Some(t) => match parse_duration_ms(t) {
            Ok(ms) if ms > 0 => Some(ms),
            _ => {
                cx.err(
                    path.key("block_time"),
                    format!("`{t}` is not a block interval"),
                    Some("write a duration such as \"1s\" or \"500ms\", or \"automine\" for one block per transaction".into()),
                );
                None
            }
        },
    }
}

/// With `rpc` (an existing chain), the keys that configure a spawned anvil are refused.
fn check_no_anvil_keys(cx: &mut Ctx, path: &KeyPath, raw: &RawChain) {
    for (key, set) in [
        ("block_time", raw.block_time.is_some()),
        ("chain_id", raw.chain_id.is_some()),
        ("gas_limit", raw.gas_limit.is_some()),
        ("anvil_args", raw.anvil_args.is_some()),
    ] {
        if set {
            cx.err(
                path.key(key),
                format!(
                    "`{key}` configures a spawned anvil, but `rpc` connects to an existing chain"
                ),
                Some(format!("remove `{key}` or `rpc`")),
            );
        }
    }
}

/// `max_rps` must be a request rate loadrun can keep (1 to 10^6 per second).
fn check_max_rps(cx: &mut Ctx, path: &KeyPath, max_rps: Option<f64>) {
    if let Some(r) = max_rps
        && !(r.is_finite() && (1.0..=1e6).contains(&r))
    {
        cx.err(
            path.key("max_rps"),
            format!("{r} is not a request rate loadrun can keep"),
            Some(
                "write a number of requests per second between 1 and 1000000, or remove the key"
                    .into(),
            ),
        );
    }
}
