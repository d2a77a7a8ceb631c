//! `node.csv`: CPU % and RSS of the spawned node, sampled once a second from /proc
//! (`exec::nodemon` reads the files; the parsing here is pure).

use std::io::Write;

/// One sample.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NodeSample {
    /// Seconds since the run's start.
    pub t_s: f64,
    pub cpu_pct: f64,
    pub rss_kb: u64,
}

/// utime + stime (clock ticks) from a /proc/PID/stat line; the command name may hold spaces
/// and parentheses, so fields are counted after the last ')'.
pub fn parse_stat_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After ')': state(0) ppid(1) … utime is field 14 of the line, i.e. index 11 here.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// The field `key` (`VmRSS`, `VmHWM`, …) in kB from /proc/PID/status.
pub fn parse_status_kb(status: &str, key: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

/// VmRSS in kB from /proc/PID/status.
pub fn parse_status_rss_kb(status: &str) -> Option<u64> {
    parse_status_kb(status, "VmRSS")
}

/// Clock ticks per second (USER_HZ), 100 on every Linux we run on.
pub const TICKS_PER_SECOND: f64 = 100.0;

pub fn write_csv<W: Write>(samples: &[NodeSample], mut w: W) -> std::io::Result<()> {
    writeln!(w, "t_s,cpu_pct,rss_kb")?;
    for s in samples {
        writeln!(w, "{:.3},{:.1},{}", s.t_s, s.cpu_pct, s.rss_kb)?;
    }
    w.flush()
}

pub fn read_csv(text: &str) -> Vec<NodeSample> {
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let mut it = l.split(',');
            Some(NodeSample {
                t_s: it.next()?.parse().ok()?,
                cpu_pct: it.next()?.parse().ok()?,
                rss_kb: it.next()?.parse().ok()?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_files() {
        let stat = "4242 (anvil (x) y) S 1 4242 4242 0 -1 4194560 1958 0 0 0 350 27 0 0 20 0 9 0 123 1073741824 12000 18446744073709551615";
        assert_eq!(parse_stat_ticks(stat), Some(377));
        let status = "Name:\tanvil\nVmPeak:\t  200000 kB\nVmRSS:\t   48212 kB\nThreads:\t9\n";
        assert_eq!(parse_status_rss_kb(status), Some(48212));
        assert_eq!(parse_stat_ticks("garbage"), None);
        let s = [NodeSample {
            t_s: 1.0,
            cpu_pct: 12.5,
            rss_kb: 100,
        }];
        let mut buf = Vec::new();
        write_csv(&s, &mut buf).unwrap();
        assert_eq!(read_csv(&String::from_utf8(buf).unwrap()), s);
    }
}
