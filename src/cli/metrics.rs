//! `loadrun run --metrics ADDR`: live Prometheus text format at `http://ADDR/metrics`, served by
//! `metrics-exporter-prometheus`. The executor records through the `metrics` facade
//! (`exec::live`), which costs nothing when no exporter is installed; at the end the step
//! counters are set from the run's aggregates, so the last scrape equals summary.csv.

use std::net::SocketAddr;
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};

use crate::error::Error;
use crate::exec::live;
use crate::model::rows::Status;
use crate::plan::shard::Shard;
use crate::report::tally::Tally;

/// Histogram buckets, milliseconds: from a scheduler's 1 ms to a minute's timeout.
const BUCKETS_MS: [f64; 16] = [
    1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0, 5000.0, 10000.0, 20000.0,
    30000.0, 60000.0,
];

/// The endpoint, while it serves.
pub struct Served {
    addr: SocketAddr,
}

/// Binds ADDR and installs the exporter (inside the tokio runtime); every series carries the
/// labels scenario, run_id and shard ("1/2", or "all").
pub fn serve(
    addr: SocketAddr,
    scenario: &str,
    run_id: &str,
    shard: Option<Shard>,
) -> Result<Served, Error> {
    let bad = |e: metrics_exporter_prometheus::BuildError| {
        Error::Usage(format!(
            "--metrics {addr}: {e}\n  help: give a free address and port, e.g. --metrics 127.0.0.1:9464"
        ))
    };
    let builder = PrometheusBuilder::new()
        .with_http_listener(addr)
        .add_global_label("scenario", scenario)
        .add_global_label("run_id", run_id)
        .add_global_label("shard", shard.map_or("all".to_string(), |s| s.to_string()))
        .set_buckets_for_metric(Matcher::Suffix("_ms".into()), &BUCKETS_MS)
        .map_err(bad)?;
    let (recorder, exporter) = builder.build().map_err(bad)?;
    metrics::set_global_recorder(recorder)
        .map_err(|e| Error::Usage(format!("--metrics {addr}: {e}")))?;
    tokio::spawn(exporter);
    live::describe();
    eprintln!("metrics: http://{addr}/metrics");
    Ok(Served { addr })
}

impl Served {
    /// Sets the step counters to the run's final counts (steps that never got a result are
    /// counted too) and serves them `linger` longer (or until Ctrl-C).
    pub async fn finish(
        self,
        tally: &Tally,
        rpc_retries: u64,
        linger: Duration,
        interrupt: &crate::exec::interrupt::Interrupt,
    ) {
        for (kind, g) in &tally.kinds {
            for status in Status::ALL {
                live::set_steps(kind, status, g.count(status));
            }
        }
        live::set_rpc_retries(rpc_retries);
        live::in_flight(0);
        eprintln!(
            "metrics: final values at http://{}/metrics for {}",
            self.addr,
            humantime::format_duration(linger)
        );
        // Ctrl-C ends the wait.
        tokio::select! {
            () = tokio::time::sleep(linger) => {}
            () = interrupt.wait() => {}
        }
    }
}
