//! The embedded default chain: find the pinned anvil, spawn it on a free loopback port, keep its
//! log (minus the banner, which lists dev keys), and kill it when the guard is dropped — on
//! normal exit, on error, on panic (unwinding) and on Ctrl-C (the run loop returns, guards drop).

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use super::ChainError;

/// Balance of anvil's dev accounts, in ether: enough to fund 10^6 wallets at 1 ether.
const DEV_BALANCE_ETHER: &str = "10000000";

/// The anvil version package.json pins (suggested when none is found).
pub const PINNED_ANVIL: &str = "1.7.1";

/// npm's names for this platform in @foundry-rs/anvil-OS-ARCH.
fn platform() -> (&'static str, &'static str) {
    let os = match std::env::consts::OS {
        "macos" => "darwin",
        "windows" => "win32",
        other => other,
    };
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    (os, arch)
}

/// Where loadrun looked for anvil, in order; reported when none is found.
pub fn candidates() -> Vec<(String, Option<PathBuf>)> {
    let mut out = Vec::new();
    out.push((
        "$LOADRUN_ANVIL".to_string(),
        std::env::var_os("LOADRUN_ANVIL").map(PathBuf::from),
    ));
    let on_path = std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join("anvil"))
            .find(|p| p.is_file())
    });
    out.push(("PATH".to_string(), on_path));
    // The platform package holds the real binary (package.json pins it); `.bin/anvil` links to
    // it, or, when installed through the @foundry-rs/anvil meta package, is a node shim that
    // would outlive a kill of its parent — so the binary itself comes first.
    let (os, arch) = platform();
    // node_modules in the working directory and each ancestor, as node itself resolves them:
    // a repository of scenarios with anvil in its package.json, run from any subdirectory.
    let cwd = std::env::current_dir().unwrap_or_default();
    let mut shown_any = false;
    for dir in cwd.ancestors() {
        let modules = dir.join("node_modules");
        let platform = modules.join(format!("@foundry-rs/anvil-{os}-{arch}/bin/anvil"));
        let shim = modules.join(".bin/anvil");
        if platform.is_file() || shim.is_file() || !shown_any {
            // The working directory's pair is always listed; an ancestor's only when it has one.
            let label = |p: &Path| {
                if dir == cwd {
                    p.strip_prefix(&cwd).unwrap_or(p).display().to_string()
                } else {
                    p.display().to_string()
                }
            };
            out.push((label(&platform), Some(platform.clone())));
            out.push((label(&shim), Some(shim.clone())));
            shown_any = true;
        }
    }
    if !shown_any {
        out.push(("node_modules/.bin/anvil".into(), None));
    }
    out
}

/// The first anvil found via `LOADRUN_ANVIL`, `PATH`, then `node_modules` in the working
/// directory or its nearest ancestor that has one.
pub fn locate() -> Result<PathBuf, ChainError> {
    let found = candidates();
    for (_, path) in &found {
        if let Some(p) = path
            && p.is_file()
        {
            return Ok(p.clone());
        }
    }
    let looked: Vec<String> = found.into_iter().map(|(label, _)| label).collect();
    let (os, arch) = platform();
    Err(ChainError::AnvilNotFound {
        looked: looked.join(", "),
        package: format!("@foundry-rs/anvil-{os}-{arch}@{PINNED_ANVIL}"),
    })
}

/// How to start anvil.
#[derive(Debug, Clone, Default)]
pub struct AnvilOptions {
    pub block_time_ms: Option<u64>,
    pub chain_id: Option<u64>,
    pub gas_limit: Option<u64>,
    /// Where to keep anvil's log; `None` discards it.
    pub log: Option<PathBuf>,
    /// Further anvil flags (tests use `--disable-default-create2-deployer`).
    pub extra_args: Vec<String>,
    /// Also serve JSON-RPC on a Unix socket (the lean send path uses it: no TCP stack).
    pub ipc: bool,
}

/// A running anvil. Dropping it kills the process and waits for it.
pub struct Anvil {
    child: Child,
    pub url: String,
    pub pid: u32,
    /// Its IPC socket, when asked for (removed when it stops).
    pub ipc: Option<PathBuf>,
    /// Writes the log; ends (writing the log's tail) once the process is gone.
    log_thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Anvil {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(path) = &self.ipc {
            let _ = std::fs::remove_file(path);
        }
        if let Some(t) = self.log_thread.take() {
            let _ = t.join();
        }
    }
}

/// The niceness a spawned node runs at: `LOADRUN_NODE_NICE` (0 to 19), by default 0 (loadrun's
/// own). At 10 the node yields the CPU to loadrun while it builds a block, so near a 2-core
/// machine's ceiling a step's lateness is loadrun's own (the benchmark suite uses it); but any
/// other busy process then starves the node too (a soak run beside a build lost its node), so it
/// is not the default.
pub fn node_nice() -> i32 {
    std::env::var("LOADRUN_NODE_NICE")
        .ok()
        .and_then(|v| v.trim().parse::<i32>().ok())
        .unwrap_or(0)
        .clamp(0, 19)
}

/// Starts the child at niceness `nice` (Linux; elsewhere, and when it fails, at loadrun's own).
fn lower_priority(cmd: &mut Command, nice: i32) {
    #[cfg(target_os = "linux")]
    if nice > 0 {
        // SAFETY: between fork and exec the child only calls setpriority(2), which is
        // async-signal-safe and allocates nothing; its result is ignored (best effort).
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(cmd, move || {
                libc::setpriority(libc::PRIO_PROCESS, 0, nice);
                Ok(())
            });
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (cmd, nice);
}

/// The first bytes of the node's log kept in `anvil.log` (its start-up and first blocks).
pub const LOG_HEAD_BYTES: usize = 1 << 20;
/// The last bytes of the node's log kept (in memory, written when the node stops).
pub const LOG_TAIL_BYTES: usize = 1 << 20;

/// A log bounded in size whatever the run's length: the head is written as it comes, then only
/// the most recent `tail` bytes are held; when the log ends, a line saying how much was left
/// out and then the tail are written.
struct CappedLog {
    out: Box<dyn Write + Send>,
    head_left: usize,
    tail: std::collections::VecDeque<String>,
    tail_bytes: usize,
    tail_cap: usize,
    dropped_lines: u64,
    dropped_bytes: u64,
}

impl CappedLog {
    fn new(out: Box<dyn Write + Send>, head: usize, tail: usize) -> Self {
        Self {
            out,
            head_left: head,
            tail: Default::default(),
            tail_bytes: 0,
            tail_cap: tail,
            dropped_lines: 0,
            dropped_bytes: 0,
        }
    }

    fn line(&mut self, line: &str) {
        let n = line.len() + 1;
        if n <= self.head_left {
            self.head_left -= n;
            let _ = writeln!(self.out, "{line}");
            return;
        }
        self.head_left = 0;
        self.tail.push_back(line.to_string());
        self.tail_bytes += n;
        while self.tail_bytes > self.tail_cap {
            let Some(old) = self.tail.pop_front() else {
                break;
            };
            self.tail_bytes -= old.len() + 1;
            self.dropped_lines += 1;
            self.dropped_bytes += old.len() as u64 + 1;
        }
    }

    fn finish(mut self) {
        if self.dropped_lines > 0 {
            let _ = writeln!(
                self.out,
                "[loadrun] {} lines ({} bytes) of the node's log left out here: the log keeps its first {} and last {} bytes",
                self.dropped_lines, self.dropped_bytes, LOG_HEAD_BYTES, LOG_TAIL_BYTES
            );
        }
        for l in self.tail.drain(..) {
            let _ = writeln!(self.out, "{l}");
        }
        let _ = self.out.flush();
    }
}

impl Anvil {
    /// Spawns anvil on 127.0.0.1 with an OS-chosen port and waits until it listens. With
    /// `--quiet` among the extra flags anvil prints no address: loadrun picks a free port
    /// itself and waits for it to accept connections (a port taken meanwhile: tried again).
    pub fn spawn(bin: &Path, opts: &AnvilOptions) -> Result<Anvil, ChainError> {
        // The IPC socket only speeds sends up: a node that cannot start with it starts without.
        match Self::spawn_any_port(bin, opts) {
            Err(e) if opts.ipc => {
                tracing::debug!("anvil with --ipc did not start ({e}); starting it without");
                let plain = AnvilOptions {
                    ipc: false,
                    ..opts.clone()
                };
                Self::spawn_any_port(bin, &plain)
            }
            r => r,
        }
    }

    fn spawn_any_port(bin: &Path, opts: &AnvilOptions) -> Result<Anvil, ChainError> {
        let quiet = opts.extra_args.iter().any(|a| a == "--quiet" || a == "-q");
        if !quiet {
            return Self::spawn_on(bin, opts, 0);
        }
        let mut last = None;
        for _ in 0..3 {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .map(|a| a.port())
                .map_err(|e| ChainError::AnvilSpawn {
                    bin: bin.display().to_string(),
                    reason: format!("no free loopback port: {e}"),
                })?;
            match Self::spawn_on(bin, opts, port) {
                Ok(a) => return Ok(a),
                Err(e) => last = Some(e),
            }
        }
        Err(last.expect("tried at least once"))
    }

    /// Starts anvil on `port` (0: anvil picks one and reports it) and waits until it listens.
    fn spawn_on(bin: &Path, opts: &AnvilOptions, port: u16) -> Result<Anvil, ChainError> {
        let ipc = ipc_socket(opts);
        let mut cmd = command(bin, opts, port, ipc.as_deref());
        let mut child = cmd.spawn().map_err(|e| spawn_error(bin, e.to_string()))?;
        let pid = child.id();
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = child.stderr.take().expect("piped stderr");
        let log = open_log(bin, opts, port)?;
        let (log_thread, rx) = keep_log(bin, stdout, log, port)?;
        let erx = collect_stderr(bin, stderr)?;
        let mut guard = Anvil {
            child,
            url: String::new(),
            pid,
            ipc,
            log_thread: Some(log_thread),
        };
        let listening = if port == 0 {
            rx.recv_timeout(Duration::from_secs(20)).ok()
        } else {
            drop(rx);
            guard.wait_for_port(port)
        };
        match listening {
            Some(addr) => {
                guard.url = format!("http://{addr}");
                Ok(guard)
            }
            None => {
                let status = guard.child.try_wait().ok().flatten();
                drop(guard);
                let stderr = erx.recv_timeout(Duration::from_secs(2)).unwrap_or_default();
                Err(spawn_error(
                    bin,
                    match status {
                        Some(s) => {
                            format!("anvil exited ({s}) before listening: {}", stderr.trim())
                        }
                        None => "anvil did not report a listening address within 20 s".to_string(),
                    },
                ))
            }
        }
    }

    /// A quiet anvil's address once `port` accepts connections; `None` if it exits first or
    /// 20 s pass.
    fn wait_for_port(&mut self, port: u16) -> Option<String> {
        let addr = format!("127.0.0.1:{port}");
        let start = std::time::Instant::now();
        loop {
            if self.child.try_wait().ok().flatten().is_some() {
                return None;
            }
            if std::net::TcpStream::connect(&addr).is_ok() {
                return Some(addr);
            }
            if start.elapsed() >= Duration::from_secs(20) {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

/// A failure to start anvil `bin`.
fn spawn_error(bin: &Path, reason: String) -> ChainError {
    ChainError::AnvilSpawn {
        bin: bin.display().to_string(),
        reason,
    }
}

/// The IPC socket's path when asked for: in the temporary directory, as a socket's path must
/// stay short (108 bytes); none when even that is too long (a long TMPDIR).
fn ipc_socket(opts: &AnvilOptions) -> Option<PathBuf> {
    static SPAWNED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    opts.ipc
        .then(|| {
            let n = SPAWNED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            std::env::temp_dir().join(format!("loadrun-{}-{n}.ipc", std::process::id()))
        })
        .filter(|p| p.as_os_str().len() < 100)
}

/// The anvil command line: loopback, one funded dev account, the options' settings, at the
/// node's niceness, in a process group of its own, its output piped.
fn command(bin: &Path, opts: &AnvilOptions, port: u16, ipc: Option<&Path>) -> Command {
    let mut cmd = Command::new(bin);
    let port_arg = port.to_string();
    cmd.args([
        "--host",
        "127.0.0.1",
        "--port",
        &port_arg,
        "--accounts",
        "1",
        "--balance",
        DEV_BALANCE_ETHER,
    ]);
    if let Some(ms) = opts.block_time_ms {
        cmd.args(["--block-time", &format!("{}", ms as f64 / 1000.0)]);
    }
    if let Some(id) = opts.chain_id {
        cmd.args(["--chain-id", &id.to_string()]);
    }
    if let Some(gas) = opts.gas_limit {
        cmd.args(["--gas-limit", &gas.to_string()]);
    }
    if let Some(path) = ipc {
        cmd.arg("--ipc").arg(path);
    }
    cmd.args(&opts.extra_args);
    lower_priority(&mut cmd, node_nice());
    // Its own process group: a Ctrl-C typed in the terminal reaches loadrun only, which
    // then flushes results while the node still answers, and kills it last (Drop).
    #[cfg(unix)]
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// The node's log: `opts.log` (capped), or nowhere; a quiet anvil's (`port` ≠ 0) says what it
/// lacks.
fn open_log(bin: &Path, opts: &AnvilOptions, port: u16) -> Result<CappedLog, ChainError> {
    let log: Box<dyn Write + Send> =
        match &opts.log {
            Some(path) => Box::new(std::fs::File::create(path).map_err(|e| {
                spawn_error(bin, format!("cannot create log {}: {e}", path.display()))
            })?),
            None => Box::new(std::io::sink()),
        };
    let mut log = CappedLog::new(log, LOG_HEAD_BYTES, LOG_TAIL_BYTES);
    if port != 0 {
        log.line("[loadrun] anvil runs with --quiet: only what it still prints is kept here (run with --node-log for its full log)");
    }
    Ok(log)
}

/// A thread that writes anvil's stdout to `log`, leaving out the banner (dev keys), and sends
/// the address it reports listening on.
fn keep_log(
    bin: &Path,
    stdout: ChildStdout,
    mut log: CappedLog,
    port: u16,
) -> Result<(std::thread::JoinHandle<()>, mpsc::Receiver<String>), ChainError> {
    let (tx, rx) = mpsc::channel::<String>();
    let log_thread = std::thread::Builder::new()
        .name("anvil-log".into())
        .spawn(move || {
            // A quiet anvil prints no banner (and no address): everything is log.
            let mut listening = port != 0;
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if !listening {
                    // Everything before "Listening on" is the banner: dev keys and mnemonic.
                    if let Some(addr) = line.strip_prefix("Listening on ") {
                        listening = true;
                        log.line("[loadrun] anvil banner omitted (it lists dev account keys)");
                        log.line(&line);
                        let _ = tx.send(addr.trim().to_string());
                    }
                    continue;
                }
                log.line(&line);
            }
            log.finish();
        })
        .map_err(|e| spawn_error(bin, e.to_string()))?;
    Ok((log_thread, rx))
}

/// A thread that collects anvil's stderr, sent once it closes (for a start that failed).
fn collect_stderr(bin: &Path, stderr: ChildStderr) -> Result<mpsc::Receiver<String>, ChainError> {
    let (etx, erx) = mpsc::channel::<String>();
    std::thread::Builder::new()
        .name("anvil-stderr".into())
        .spawn(move || {
            let text: Vec<String> = BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
                .collect();
            let _ = etx.send(text.join("\n"));
        })
        .map_err(|e| spawn_error(bin, e.to_string()))?;
    Ok(erx)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn the_log_keeps_its_head_and_tail_and_says_what_it_left_out() {
        let out = Shared::default();
        let mut log = CappedLog::new(Box::new(out.clone()), 100, 100);
        for i in 0..1000 {
            log.line(&format!("line {i:04}"));
        }
        log.finish();
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        assert!(text.starts_with("line 0000\n"), "{text}");
        assert!(text.ends_with("line 0999\n"), "{text}");
        assert!(
            text.contains("lines (") && text.contains("left out"),
            "{text}"
        );
        // 10 lines of head, about 10 of tail, one marker: bounded, whatever the input.
        assert!(text.len() < 400, "{}", text.len());
    }
}
