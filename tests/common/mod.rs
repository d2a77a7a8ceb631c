//! Helpers shared by the tests that need a chain: the loadrun binary, anvil guards, scenario
//! fixtures (tests/fixtures/*.toml) written to a temp dir, bounded waits for what a run does,
//! and the check that no private key leaked into any output.
#![allow(dead_code)]

pub mod diagnostics;
pub mod proxy;
pub mod remote;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use loadrun::chain::anvil::{Anvil, AnvilOptions};

/// anvil's first dev key (public knowledge); must never appear in any output either.
pub const DEV_KEY: &str = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";

/// The loadrun binary, run from the crate root (where node_modules/ is), logging at info.
pub fn loadrun() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_loadrun"));
    c.current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("LOADRUN_LOG", "info")
        .env_remove("LOADRUN_RPC")
        .env_remove("LOADRUN_FUNDER_KEY");
    c
}

/// Spawns anvil (the same way loadrun does); killed when the guard drops.
pub fn anvil(opts: AnvilOptions) -> Anvil {
    let bin = loadrun::chain::anvil::locate().expect("anvil: run `npm ci` first");
    Anvil::spawn(&bin, &opts).expect("spawn anvil")
}

/// `loadrun run --rpc URL` of the scenario at `path` with `extra` flags, results in `out`, the
/// funder being the dev key; watched until its wallets are funded.
pub fn spawn_funded(url: &str, path: &Path, out: &Path, extra: &[&str]) -> Watched {
    let mut cmd = loadrun();
    cmd.arg("run")
        .args(extra)
        .args(["--rpc", url, "--out"])
        .arg(out)
        .arg(path)
        .env("LOADRUN_FUNDER_KEY", DEV_KEY);
    let mut run = Watched::spawn(cmd);
    assert!(
        run.until(|l| l.starts_with("funded:")).is_some(),
        "{}",
        run.seen
    );
    run
}

/// `loadrun run --rpc URL --out OUT FILE` with the dev key as the funder, to its end.
pub fn run_on(url: &str, file: &Path, out: &Path) -> Output {
    loadrun()
        .env("LOADRUN_FUNDER_KEY", DEV_KEY)
        .args(["run", "--rpc", url, "--out"])
        .arg(out)
        .arg(file)
        .output()
        .expect("run loadrun")
}

/// The `all` row `name` of the summary.csv in `out` (NaN when absent).
pub fn summary_metric(out: &Path, name: &str) -> f64 {
    let f = std::fs::File::open(out.join("summary.csv")).expect("summary.csv");
    loadrun::report::summary::read_summary(f)
        .expect("summary.csv")
        .iter()
        .find(|m| m.kind == "all" && m.metric == name)
        .map_or(f64::NAN, |m| m.value)
}

/// The rows of the steps.csv in `out`.
pub fn steps_rows(out: &Path) -> Vec<loadrun::report::rows::StepRow> {
    let f = std::fs::File::open(out.join("steps.csv")).expect("steps.csv");
    loadrun::report::rows::read_steps(f).expect("steps.csv")
}

/// An anvil with 1-s blocks, as a chain has (see `anvil`).
pub fn anvil_1s() -> Anvil {
    anvil(AnvilOptions {
        block_time_ms: Some(1000),
        ..AnvilOptions::default()
    })
}

/// Writes a scenario file into `dir`.
pub fn scenario(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(format!("{name}.toml"));
    std::fs::write(&p, text).expect("write scenario");
    p
}

/// The `[chain]` line of a scenario run against a node loadrun did not spawn: the funder's key
/// comes from LOADRUN_FUNDER_KEY.
pub const FUNDER_KEY_ENV: &str = "funder_key_env = \"LOADRUN_FUNDER_KEY\"";

/// The scenario `tests/fixtures/NAME.toml` with each of its placeholders filled: the fixture
/// names them on a `# placeholders: {a} {b}` line, and `values` must give exactly those; they
/// are filled outside comment lines (`{x}` not declared, such as loadrun's own `{peer}`
/// templates, stays as it is).
#[track_caller]
pub fn fixture(name: &str, values: &[(&str, &str)]) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(format!("{name}.toml"));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("fixture {}: {e}", path.display()));
    let declared: Vec<&str> = text
        .lines()
        .find_map(|l| l.strip_prefix("# placeholders:"))
        .map(|l| {
            l.split_whitespace()
                .map(|p| {
                    p.strip_prefix('{')
                        .and_then(|p| p.strip_suffix('}'))
                        .unwrap_or_else(|| panic!("fixture {name}: bad placeholder {p:?}"))
                })
                .collect()
        })
        .unwrap_or_default();
    let mut given: Vec<&str> = values.iter().map(|(k, _)| *k).collect();
    given.sort_unstable();
    let mut wanted = declared.clone();
    wanted.sort_unstable();
    assert_eq!(
        given, wanted,
        "fixture {name}: the values given vs its `# placeholders:` line"
    );
    text.split_inclusive('\n')
        .map(|line| {
            if line.starts_with('#') {
                return line.to_string();
            }
            values.iter().fold(line.to_string(), |l, (k, v)| {
                l.replace(&format!("{{{k}}}"), v)
            })
        })
        .collect()
}

/// Waits until `done` holds, checking every 50 ms for at most `limit`; at the deadline, panics
/// saying what was awaited.
#[track_caller]
pub fn wait_until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < limit,
            "waited {limit:?} for {what}, in vain"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The number of `ok` rows in the steps.csv at `steps` (0 while it does not exist); the file
/// grows while a run goes (flushed at least every 200 ms).
pub fn ok_rows(steps: &Path) -> usize {
    std::fs::read_to_string(steps)
        .map(|t| t.lines().filter(|l| l.contains(",ok,")).count())
        .unwrap_or(0)
}

/// Waits (at most `limit`) until the steps.csv at `steps` holds `n` ok rows: the run's schedule
/// is under way (its start balances already read) and the node answers.
#[track_caller]
pub fn wait_for_ok_rows(steps: &Path, n: usize, limit: Duration) {
    wait_until(
        &format!("{n} ok rows in {}", steps.display()),
        limit,
        || ok_rows(steps) >= n,
    );
}

/// A tool a test needs is absent. Under `CI=true` that fails the test, naming the tool and how
/// CI gets it (`how`); elsewhere the caller skips its check after this notice.
#[track_caller]
pub fn missing_tool(tool: &str, how: &str) {
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{tool} is missing, and CI=true does not allow skipping: {how}");
    }
    eprintln!("skipped: {tool} is missing ({how})");
}

/// Whether a process is alive (present and not a zombie).
pub fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

/// stdout + stderr as text.
pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Every private key a test scenario can produce: the dev key and each wallet's key (hex,
/// with and without 0x, any case).
pub fn secret_keys(seed: u64, roles: &[(&str, u32)]) -> Vec<String> {
    let mut keys = vec![DEV_KEY.to_string()];
    for (role, n) in roles {
        for i in 0..*n {
            let k = loadrun::wallets::derive(seed, role, i).to_bytes();
            keys.push(alloy::hex::encode(k));
        }
    }
    keys
}

/// Panics if any key appears in `haystack` (case-insensitive).
pub fn assert_no_keys(haystack: &str, keys: &[String]) {
    let lower = haystack.to_lowercase();
    for k in keys {
        assert!(
            !lower.contains(&k.to_lowercase()),
            "a private key leaked into an output"
        );
    }
}

/// Every file under `dir`, concatenated (for the key grep).
pub fn all_files(dir: &Path) -> String {
    let mut out = String::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.push_str(&all_files(&p));
            } else if let Ok(bytes) = std::fs::read(&p) {
                out.push_str(&String::from_utf8_lossy(&bytes));
            }
        }
    }
    out
}

/// How long `Watched::until` waits for a line before it gives up (and panics).
pub const LINE_LIMIT: Duration = Duration::from_secs(300);

/// A loadrun process whose stderr is read line by line as it runs (by a thread of its own, so
/// the child never blocks on a full pipe while the test waits for something else).
pub struct Watched {
    pub child: std::process::Child,
    lines: mpsc::Receiver<String>,
    /// Everything read so far.
    pub seen: String,
}

impl Watched {
    /// Spawns `cmd` with stderr piped and stdout discarded, as the leader of its own process
    /// group, as a shell runs a foreground job.
    pub fn spawn(mut cmd: Command) -> Self {
        use std::io::BufRead;
        use std::os::unix::process::CommandExt;
        let mut child = cmd
            .process_group(0)
            .stderr(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("spawn loadrun");
        let stderr = std::io::BufReader::new(child.stderr.take().expect("stderr"));
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in stderr.split(b'\n') {
                let Ok(line) = line else { break };
                if tx
                    .send(String::from_utf8_lossy(&line).into_owned())
                    .is_err()
                {
                    break;
                }
            }
        });
        Self {
            child,
            lines,
            seen: String::new(),
        }
    }

    /// Reads lines until one satisfies `pred` (returned), or stderr ends (`None`); panics,
    /// with what was read, when no line came for `LINE_LIMIT`.
    pub fn until(&mut self, pred: impl Fn(&str) -> bool) -> Option<String> {
        loop {
            match self.lines.recv_timeout(LINE_LIMIT) {
                Ok(line) => {
                    self.seen.push_str(&line);
                    self.seen.push('\n');
                    if pred(&line) {
                        return Some(line);
                    }
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => return None,
                Err(mpsc::RecvTimeoutError::Timeout) => panic!(
                    "loadrun printed nothing for {LINE_LIMIT:?}; so far:\n{}",
                    self.seen
                ),
            }
        }
    }

    /// Sends SIGINT to loadrun's whole process group, as Ctrl-C in a terminal does.
    pub fn interrupt(&self) {
        let ok = Command::new("kill")
            .args(["-INT", "--", &format!("-{}", self.child.id())])
            .status()
            .expect("kill")
            .success();
        assert!(ok, "kill -INT failed");
    }

    /// Reads the rest of stderr and waits; returns the exit code.
    pub fn finish(&mut self) -> Option<i32> {
        while self.until(|_| false).is_some() {}
        self.child.wait().expect("wait").code()
    }
}

impl Drop for Watched {
    /// A test that panicked before `finish` leaves no loadrun behind.
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The pid in a "spawned anvil … pid=N" log line.
pub fn anvil_pid(line: &str) -> Option<u32> {
    line.split("pid=").nth(1)?.trim().parse().ok()
}
