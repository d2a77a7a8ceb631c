//! Samples the spawned node's CPU % and RSS from /proc once a second while the plan runs.

use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::model::node::{
    NodeSample, TICKS_PER_SECOND, parse_stat_ticks, parse_status_kb, parse_status_rss_kb,
};

/// A running sampler; `stop` returns the samples.
pub struct Sampler {
    stop: watch::Sender<bool>,
    task: JoinHandle<Vec<NodeSample>>,
}

impl Sampler {
    pub fn start(pid: u32) -> Self {
        let (stop, mut rx) = watch::channel(false);
        let task = tokio::spawn(async move {
            let start = Instant::now();
            let mut out = Vec::new();
            let mut last = read(pid).map(|(t, _)| (t, Instant::now()));
            loop {
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = rx.changed() => break,
                }
                let Some((ticks, rss_kb)) = read(pid) else {
                    break;
                };
                let now = Instant::now();
                let cpu_pct = match last {
                    Some((t0, i0)) => {
                        let dt = now.duration_since(i0).as_secs_f64().max(1e-3);
                        (ticks.saturating_sub(t0) as f64 / TICKS_PER_SECOND) / dt * 100.0
                    }
                    None => 0.0,
                };
                last = Some((ticks, now));
                out.push(NodeSample {
                    t_s: start.elapsed().as_secs_f64(),
                    cpu_pct,
                    rss_kb,
                });
            }
            out
        });
        Self { stop, task }
    }

    pub async fn stop(self) -> Vec<NodeSample> {
        let _ = self.stop.send(true);
        self.task.await.unwrap_or_default()
    }
}

/// The field `key` in kB of /proc/`pid`/status (`pid` = "self" for this process), on Linux.
pub fn status_kb(pid: &str, key: &str) -> Option<u64> {
    parse_status_kb(
        &std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?,
        key,
    )
}

/// Reads (cpu ticks, rss kB) of `pid`; `None` once the process is gone or off Linux.
pub fn read(pid: u32) -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    Some((parse_stat_ticks(&stat)?, parse_status_rss_kb(&status)?))
}
