//! Runs against a chain loadrun did not spawn (another node implementation, a node behind the
//! fault proxy): the mixed scenario, the run itself, and the checks of its rows against the
//! chain (every wallet's nonce equals its on-chain steps: nothing sent twice, no gap).
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use alloy::providers::{Provider, ProviderBuilder};
use loadrun::report::rows::{StepRow, read_steps};
use loadrun::report::summary::{Metric, read_summary};

use super::{DEV_KEY, loadrun};

/// Seed of `mixed()` (tests/fixtures/mixed.toml).
pub const SEED: u64 = 77;
/// Roles and wallet counts of `mixed()`.
pub const ROLES: [(&str, u32); 3] = [("A", 6), ("B", 6), ("C", 4)];

/// tests/fixtures/mixed.toml, every workload type with flat funding, named `name`, lasting
/// `duration`; `chain` is the `[chain]` body.
pub fn mixed(name: &str, duration: &str, chain: &str) -> String {
    super::fixture(
        "mixed",
        &[("name", name), ("duration", duration), ("chain", chain)],
    )
}

/// One finished run: exit code, output, and its result files.
pub struct Run {
    pub output: Output,
    pub dir: PathBuf,
    pub wall: Duration,
}

impl Run {
    pub fn text(&self) -> String {
        super::text(&self.output)
    }

    pub fn rows(&self) -> Vec<StepRow> {
        let f = std::fs::File::open(self.dir.join("steps.csv")).expect("steps.csv");
        read_steps(f).expect("parse steps.csv")
    }

    pub fn summary(&self) -> Vec<Metric> {
        let f = std::fs::File::open(self.dir.join("summary.csv")).expect("summary.csv");
        read_summary(f).expect("parse summary.csv")
    }

    /// A summary value of kind `all`.
    pub fn metric(&self, name: &str) -> f64 {
        self.summary()
            .iter()
            .find(|m| m.kind == "all" && m.metric == name)
            .unwrap_or_else(|| panic!("no {name} in summary.csv"))
            .value
    }

    /// Panics (with the run's output) unless it exited 0 with every step ok and sanity exact.
    pub fn assert_all_ok(&self) {
        let t = self.text();
        let rows = self.rows();
        assert!(!rows.is_empty(), "{t}");
        let bad: Vec<_> = rows
            .iter()
            .filter(|r| r.status.as_str() != "ok")
            .take(5)
            .collect();
        assert!(bad.is_empty(), "not ok: {bad:#?}\n{t}");
        assert_eq!(self.output.status.code(), Some(0), "{t}");
        assert!(t.contains("sanity: ok"), "{t}");
        super::assert_no_keys(&t, &super::secret_keys(SEED, &ROLES));
        super::assert_no_keys(
            &super::all_files(&self.dir),
            &super::secret_keys(SEED, &ROLES),
        );
    }

    /// The figures a closing note quotes.
    pub fn figures(&self) -> String {
        format!(
            "steps {} ok {} · rpc_retries {} · rpc_errors_transient {} · resent {} · wall {:.1} s",
            self.metric("steps"),
            self.metric("ok"),
            self.metric("rpc_retries"),
            self.metric("rpc_errors_transient"),
            self.metric("resent"),
            self.wall.as_secs_f64()
        )
    }
}

/// `loadrun run --rpc URL` of the scenario at `path`, results in `dir/out`, funder = the dev key.
pub fn run_remote(url: &str, path: &Path, dir: &Path) -> Run {
    let out = dir.join("out");
    let start = Instant::now();
    let output = loadrun()
        .args(["run", "--rpc", url, "--out"])
        .arg(&out)
        .arg(path)
        .env("LOADRUN_FUNDER_KEY", DEV_KEY)
        .output()
        .expect("run loadrun");
    Run {
        output,
        dir: out,
        wall: start.elapsed(),
    }
}

/// `loadrun run` of the scenario at `path` on the chain it spawns, results in `dir/out`.
pub fn run_spawned(path: &Path, dir: &Path) -> Run {
    let out = dir.join("out");
    let start = Instant::now();
    let output = loadrun()
        .args(["run", "--out"])
        .arg(&out)
        .arg(path)
        .output()
        .expect("run loadrun");
    Run {
        output,
        dir: out,
        wall: start.elapsed(),
    }
}

/// Every wallet's nonce on chain equals the number of its steps that sent a transaction: no
/// step executed twice, none lost, no gap (funding is flat, so wallets sent nothing else).
pub async fn assert_nonces_match_rows(node_url: &str, rows: &[StepRow]) {
    assert_nonces_match(node_url, SEED, &ROLES, rows).await;
}

/// `assert_nonces_match_rows` for a scenario of `seed` with `roles` (name, wallets).
pub async fn assert_nonces_match(
    node_url: &str,
    seed: u64,
    roles: &[(&str, u32)],
    rows: &[StepRow],
) {
    let mut sent: BTreeMap<(String, u32), u64> = BTreeMap::new();
    for r in rows.iter().filter(|r| !r.tx_hash.is_empty()) {
        *sent.entry((r.role.clone(), r.wallet)).or_default() += 1;
    }
    let p = ProviderBuilder::new().connect_http(node_url.parse().unwrap());
    for &(role, n) in roles {
        for i in 0..n {
            let a = loadrun::wallets::derive(seed, role, i).address();
            let nonce = p.get_transaction_count(a).await.expect("nonce");
            let expected = sent.get(&(role.to_string(), i)).copied().unwrap_or(0);
            assert_eq!(
                nonce, expected,
                "wallet {role}:{i}: nonce vs its on-chain steps"
            );
        }
    }
}

/// A free loopback port (bound, then released for the child to take).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A child process killed (and reaped) on drop.
pub struct Node {
    pub url: String,
    child: Child,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Hardhat Network (`hardhat node`, pinned in package.json, config in tests/nodes/) on a free
/// loopback port, mining a block every second; `hardfork` e.g. "cancun" or "berlin". Its
/// stdout lists dev keys, so it goes nowhere.
pub fn hardhat(hardfork: &str) -> Node {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let bin = root.join("node_modules/.bin/hardhat");
    assert!(bin.exists(), "hardhat: run `npm ci` first");
    let port = free_port();
    let child = Command::new(bin)
        .args([
            "node",
            "--hostname",
            "127.0.0.1",
            "--port",
            &port.to_string(),
        ])
        .current_dir(root.join("tests/nodes"))
        .env("LOADRUN_HH_HARDFORK", hardfork)
        .env("HARDHAT_DISABLE_TELEMETRY_PROMPT", "true")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn hardhat");
    let node = Node {
        url: format!("http://127.0.0.1:{port}"),
        child,
    };
    wait_for_rpc(&node.url, Duration::from_secs(60));
    node
}

/// Waits until `url` answers `eth_chainId`.
pub fn wait_for_rpc(url: &str, limit: Duration) {
    let addr = url.trim_start_matches("http://");
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}"#;
    let start = Instant::now();
    while start.elapsed() < limit {
        if let Ok(mut s) = std::net::TcpStream::connect(addr) {
            use std::io::{Read, Write};
            let req = format!(
                "POST / HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let mut answer = String::new();
            if s.write_all(req.as_bytes()).is_ok()
                && s.read_to_string(&mut answer).is_ok()
                && answer.contains("\"result\"")
            {
                return;
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("{url} did not answer within {limit:?}");
}
