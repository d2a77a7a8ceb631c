//! Scrapes a node's Prometheus endpoint (`[chain].node_metrics`) and its host's node_exporter
//! (`[chain].host_metrics`) once a second while the plan runs; the parsing and differencing are
//! `model::telemetry`'s. A scrape that fails is a warning and a gap, never a failed run.

use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::model::telemetry::{Differ, Scraped, host_reading, node_reading};

/// Where to scrape and which extra series to keep.
#[derive(Debug, Clone, Default)]
pub struct Endpoints {
    pub node: Option<String>,
    pub host: Option<String>,
    pub extra: Vec<String>,
}

/// What the scrapes gave: node.csv's rows and the host's cores.
#[derive(Debug, Clone, Default)]
pub struct Telemetry {
    pub rows: Vec<Scraped>,
    pub host_cores: Option<u32>,
    pub endpoints: Endpoints,
    /// Scrapes that failed (each warned about).
    pub failed: u64,
}

/// A running scraper; `stop` returns what it gathered.
pub struct Scraper {
    stop: watch::Sender<bool>,
    task: JoinHandle<Telemetry>,
}

/// A scrape must answer within this (the next one is due a second after the last).
const SCRAPE_TIMEOUT: Duration = Duration::from_millis(900);

impl Scraper {
    pub fn start(endpoints: Endpoints) -> Self {
        let (stop, mut rx) = watch::channel(false);
        let task = tokio::spawn(async move {
            let client = reqwest::Client::new();
            let start = Instant::now();
            let mut differ = Differ::default();
            // The endpoint lacks what a row needs: said once.
            let mut warned = false;
            let mut out = Telemetry {
                endpoints: endpoints.clone(),
                ..Telemetry::default()
            };
            loop {
                let node = match &endpoints.node {
                    Some(url) => fetch(&client, url, &mut out.failed)
                        .await
                        .and_then(|t| node_reading(&t, &endpoints.extra)),
                    None => None,
                };
                if let Some(r) = &node
                    && !warned
                    && !r.missing().is_empty()
                {
                    warned = true;
                    tracing::warn!(
                        "telemetry: {} serves no {}: node.csv stays empty; point node_metrics at a process exporter watching the node",
                        crate::chain::redact_url(endpoints.node.as_deref().unwrap_or("")),
                        r.missing().join(" and no ")
                    );
                }
                // When the answer came: the exporter read the counters just before sending it
                // (the time before the request would add the connection and the read to the
                // interval, and a slow scrape then shows as CPU above the cores).
                let t_s = start.elapsed().as_secs_f64();
                let host = match &endpoints.host {
                    Some(url) => fetch(&client, url, &mut out.failed)
                        .await
                        .and_then(|t| host_reading(&t)),
                    None => None,
                };
                if let Some(row) = differ.push(t_s, node, host) {
                    out.rows.push(row);
                }
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = rx.changed() => break,
                }
            }
            out.host_cores = differ.host_cores;
            out
        });
        Self { stop, task }
    }

    pub async fn stop(self) -> Telemetry {
        let _ = self.stop.send(true);
        self.task.await.unwrap_or_default()
    }
}

/// The text at `url`, or `None` (warned about, counted in `failed`).
async fn fetch(client: &reqwest::Client, url: &str, failed: &mut u64) -> Option<String> {
    let got = async {
        let r = client.get(url).timeout(SCRAPE_TIMEOUT).send().await?;
        r.error_for_status()?.text().await
    }
    .await;
    match got {
        Ok(t) => Some(t),
        Err(e) => {
            *failed += 1;
            tracing::warn!(
                "telemetry: cannot scrape {}: {}; node.csv has a gap there",
                crate::chain::redact_url(url),
                e.without_url()
            );
            None
        }
    }
}
