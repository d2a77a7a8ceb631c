//! The terminal's warnings, rate-limited: the first of a kind (a call site) is printed, the
//! same kind again within `REPEAT_WINDOW` is only counted, and the count is printed with the
//! next one after the window or at exit — a node that dies mid-run costs a few lines, not
//! thousands. `loadrun.log` still gets every line.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::Write;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tracing::callsite::Identifier;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};

/// A warning repeated within this long is folded into a count.
pub const REPEAT_WINDOW: Duration = Duration::from_secs(10);

struct Seen {
    since: Instant,
    /// Suppressed since `since`, and the last of them (printed with the count).
    more: u64,
    last: String,
    level: Level,
}

static SEEN: Mutex<Option<HashMap<Identifier, Seen>>> = Mutex::new(None);
static ANSI: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// The terminal layer (warnings and errors, no timestamps).
pub struct Terminal;

impl Terminal {
    pub fn new(ansi: bool) -> Self {
        ANSI.store(ansi, std::sync::atomic::Ordering::Relaxed);
        Self
    }
}

#[derive(Default)]
struct Text {
    message: String,
    fields: String,
}

impl Visit for Text {
    fn record_debug(&mut self, f: &Field, v: &dyn std::fmt::Debug) {
        if f.name() == "message" {
            let _ = write!(self.message, "{v:?}");
        } else {
            let _ = write!(self.fields, " {}={v:?}", f.name());
        }
    }

    fn record_str(&mut self, f: &Field, v: &str) {
        if f.name() == "message" {
            self.message.push_str(v);
        } else {
            let _ = write!(self.fields, " {}={v}", f.name());
        }
    }
}

fn print(level: Level, text: &str) {
    let label = if ANSI.load(std::sync::atomic::Ordering::Relaxed) {
        match level {
            Level::ERROR => "\x1b[31mERROR\x1b[0m",
            _ => "\x1b[33m WARN\x1b[0m",
        }
    } else if level == Level::ERROR {
        "ERROR"
    } else {
        " WARN"
    };
    let _ = writeln!(std::io::stderr(), "{label} {text}");
}

fn more(n: u64, since: Instant) -> String {
    format!(
        " ({n} more like it in the last {} s)",
        since.elapsed().as_secs().max(1)
    )
}

impl<S: Subscriber> Layer<S> for Terminal {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let meta = event.metadata();
        let mut t = Text::default();
        event.record(&mut t);
        let text = format!("{}{}", t.message, t.fields);
        let now = Instant::now();
        let mut seen = SEEN.lock().unwrap_or_else(|e| e.into_inner());
        let seen = seen.get_or_insert_with(HashMap::new);
        match seen.get_mut(&meta.callsite()) {
            Some(s) if now.duration_since(s.since) < REPEAT_WINDOW => {
                s.more += 1;
                s.last = text;
            }
            Some(s) => {
                let n = std::mem::take(&mut s.more);
                let tail = if n > 0 {
                    more(n, s.since)
                } else {
                    String::new()
                };
                s.since = now;
                print(*meta.level(), &format!("{text}{tail}"));
            }
            None => {
                seen.insert(
                    meta.callsite(),
                    Seen {
                        since: now,
                        more: 0,
                        last: String::new(),
                        level: *meta.level(),
                    },
                );
                print(*meta.level(), &text);
            }
        }
    }
}

/// Prints the counts of warnings folded since their last line (at exit).
pub fn flush_repeats() {
    let mut seen = SEEN.lock().unwrap_or_else(|e| e.into_inner());
    let Some(seen) = seen.as_mut() else { return };
    for s in seen.values_mut().filter(|s| s.more > 0) {
        let n = std::mem::take(&mut s.more);
        print(
            s.level,
            &format!(
                "{} (the last of {n} more like it in the last {} s)",
                s.last,
                s.since.elapsed().as_secs().max(1)
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_read_as_words() {
        let since = Instant::now();
        assert_eq!(more(2_999, since), " (2999 more like it in the last 1 s)");
    }
}
