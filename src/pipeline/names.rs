//! Names a run gets: its id, a fresh results directory, and the scenario text as recorded in
//! run.toml (an `rpc` URL reduced to scheme, host and port: a path or query may hold a key).

use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// The scenario text with the value of an `rpc = "…"` line redacted to host and port.
/// The absolute directory of a scenario file (empty when it cannot be resolved).
pub fn scenario_dir(file: &str) -> String {
    Path::new(file)
        .canonicalize()
        .ok()
        .and_then(|p| p.parent().map(|d| d.display().to_string()))
        .unwrap_or_default()
}

pub fn redacted_scenario(text: &str) -> String {
    text.lines()
        .map(|line| {
            let t = line.trim_start();
            // Every URL key: the RPC and the Prometheus endpoints.
            let key = ["rpc", "node_metrics", "host_metrics"]
                .into_iter()
                .find(|k| {
                    t.strip_prefix(k)
                        .is_some_and(|r| r.trim_start().starts_with('='))
                });
            match key.and_then(|k| t.strip_prefix(k)).map(str::trim_start) {
                Some(rest) if rest.starts_with('=') => {
                    let value = rest[1..].trim().trim_matches(|c| c == '"' || c == '\'');
                    let value = value
                        .split('#')
                        .next()
                        .unwrap_or("")
                        .trim()
                        .trim_matches('"');
                    // Still a URL, so the scenario parses again (`loadrun report`, `merge`).
                    let (scheme, _) = value.split_once("://").unwrap_or(("http", ""));
                    let host = crate::chain::redact_url(value);
                    let host = host.split(' ').next().unwrap_or("");
                    format!(
                        "{} = \"{scheme}://{host}\"  # path, query and user redacted by loadrun",
                        key.unwrap_or("rpc")
                    )
                }
                _ => line.to_string(),
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// `2026-11-23T00-25-00Z-s42`: sortable, filesystem-safe, names the seed.
pub fn run_id(t: SystemTime, seed: u64) -> String {
    format!(
        "{}-s{seed}",
        humantime::format_rfc3339_seconds(t)
            .to_string()
            .replace(':', "-")
    )
}

pub fn unique_dir(base: &Path) -> PathBuf {
    let mut p = base.to_path_buf();
    let mut n = 2;
    while p.exists() {
        p = PathBuf::from(format!("{}-{n}", base.display()));
        n += 1;
    }
    p
}

#[cfg(test)]
mod tests {
    use super::redacted_scenario;

    #[test]
    fn rpc_urls_lose_their_path_and_query() {
        let t = "[chain]\nrpc = \"https://user:pw@rpc.example.org:8443/v3/SECRETKEY?x=1\"\nblock_time = \"1s\"";
        let r = redacted_scenario(t);
        assert!(!r.contains("SECRETKEY") && !r.contains("pw@"), "{r}");
        assert!(r.contains("rpc = \"https://rpc.example.org:8443\""), "{r}");
        assert!(r.contains("block_time = \"1s\""));
    }

    #[test]
    fn metrics_endpoints_lose_theirs_too() {
        let t = "[chain]\nnode_metrics = \"http://u:TOKEN@10.0.0.5:9001/metrics\"\nhost_metrics = \"http://10.0.0.5:9100/metrics?k=KEY\"";
        let r = redacted_scenario(t);
        assert!(!r.contains("TOKEN") && !r.contains("KEY"), "{r}");
        assert!(r.contains("node_metrics = \"http://10.0.0.5:9001\""), "{r}");
        assert!(r.contains("host_metrics = \"http://10.0.0.5:9100\""), "{r}");
    }
}
