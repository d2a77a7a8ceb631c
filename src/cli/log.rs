//! Where the tracing log goes: in full (info, or `LOADRUN_LOG`'s filter) to `loadrun.log` in the
//! run directory — held in memory until that directory exists — and to the terminal only what a
//! person needs (warnings and errors, without timestamps), unless `-v` or `LOADRUN_LOG` asks
//! for the full log on stderr too.

use std::io::{self, IsTerminal, Write};
use std::path::Path;
use std::sync::Mutex;

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
        fmt::layer()
            .with_writer(io::stderr)
            .with_ansi(tty)
            .with_target(false)
            .without_time()
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
    let mut f = std::fs::File::create(path)?;
    let mut sink = SINK.lock().unwrap_or_else(|e| e.into_inner());
    if let Sink::Buffer(v) = &*sink {
        f.write_all(v)?;
    }
    *sink = Sink::File(f);
    Ok(())
}
