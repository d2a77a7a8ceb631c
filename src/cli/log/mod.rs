//! Where the tracing log goes: in full (info, or `LOADRUN_LOG`'s filter) to `loadrun.log` in the
//! run directory — held in memory until that directory exists — and to the terminal only what a
//! person needs (warnings and errors, without timestamps, a warning repeated within
//! `REPEAT_WINDOW` folded into one line with a count), unless `-v` or `LOADRUN_LOG` asks for the
//! full log on stderr too. The result lines a command prints (`say!`) and its exit reason go to
//! both, so `loadrun.log` runs from the first line to the exit.

use std::io::{self, IsTerminal, Write};
use std::path::Path;
use std::sync::Mutex;

mod repeat;
pub use repeat::flush_repeats;

/// Prints a line on stderr and writes it to `loadrun.log` (`format!` arguments).
macro_rules! say {
    ($($t:tt)*) => { $crate::cli::log::say_line(&format!($($t)*)) };
}
pub(crate) use say;

/// Prints `line` on stderr and writes it to the log.
pub fn say_line(line: &str) {
    eprintln!("{line}");
    note("INFO", line);
}

/// Writes `line` (each of its lines) to the log only, timestamped like the tracing lines.
pub fn note(level: &str, line: &str) {
    let now = humantime::format_rfc3339_micros(std::time::SystemTime::now());
    let mut out = String::new();
    for l in line.lines() {
        out.push_str(&format!("{now} {level:>5} {l}\n"));
    }
    let _ = LogFile.write_all(out.as_bytes());
}

static EXIT_REASON: Mutex<Option<String>> = Mutex::new(None);

/// Why the command is about to exit (the last line of the log names it).
pub fn set_exit_reason(reason: impl Into<String>) {
    *EXIT_REASON.lock().unwrap_or_else(|e| e.into_inner()) = Some(reason.into());
}

/// The exit reason set so far.
pub fn exit_reason() -> Option<String> {
    EXIT_REASON
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone()
}

/// The log's last line: the exit code and why (`set_exit_reason`, or the code's meaning).
pub fn exit(code: u8) {
    flush_repeats();
    let reason = exit_reason().unwrap_or_else(|| crate::error::ExitCode::meaning(code).into());
    note("INFO", &format!("exit {code}: {reason}"));
    let _ = LogFile.flush();
}

use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::prelude::*;
use tracing_subscriber::{EnvFilter, fmt};

enum Sink {
    /// Before the run directory exists (bounded: commands without one keep only the start).
    Buffer(Vec<u8>),
    File(std::fs::File),
}

static SINK: Mutex<Sink> = Mutex::new(Sink::Buffer(Vec::new()));
const BUFFER_CAP: usize = 4 << 20;

struct LogFile;

impl Write for LogFile {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        match &mut *SINK.lock().unwrap_or_else(|e| e.into_inner()) {
            Sink::Buffer(v) => {
                if v.len() + b.len() <= BUFFER_CAP {
                    v.extend_from_slice(b);
                }
            }
            Sink::File(f) => f.write_all(b)?,
        }
        Ok(b.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut *SINK.lock().unwrap_or_else(|e| e.into_inner()) {
            Sink::Buffer(_) => Ok(()),
            Sink::File(f) => f.flush(),
        }
    }
}

/// Installs the two outputs; `verbose` (`-v`) puts the full log on stderr as well.
pub fn init(verbose: bool) {
    let env = std::env::var("LOADRUN_LOG").ok().filter(|v| !v.is_empty());
    let filter = || EnvFilter::new(env.clone().unwrap_or_else(|| "info".into()));
    let file = fmt::layer()
        .with_ansi(false)
        .with_target(false)
        .with_writer(|| LogFile)
        .with_filter(filter());
    let tty = io::stderr().is_terminal();
    let terminal = if verbose || env.is_some() {
        fmt::layer()
            .with_writer(io::stderr)
            .with_ansi(tty)
            .with_target(false)
            .with_filter(filter())
            .boxed()
    } else {
        repeat::Terminal::new(tty)
            .with_filter(LevelFilter::WARN)
            .boxed()
    };
    let _ = tracing_subscriber::registry()
        .with(file)
        .with(terminal)
        .try_init();
}

/// From now on the log goes to `path` (what was logged so far included).
pub fn to_file(path: &Path) -> io::Result<()> {
    sink_to(std::fs::File::create(path)?)
}

/// `to_file`, appending to what the file holds (a capacity search's log around its steps').
pub fn to_file_appending(path: &Path) -> io::Result<()> {
    sink_to(
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?,
    )
}

fn sink_to(mut f: std::fs::File) -> io::Result<()> {
    let mut sink = SINK.lock().unwrap_or_else(|e| e.into_inner());
    if let Sink::Buffer(v) = &*sink {
        f.write_all(v)?;
    }
    *sink = Sink::File(f);
    Ok(())
}
