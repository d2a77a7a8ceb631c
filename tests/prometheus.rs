//! loadrun's live series in a real Prometheus: Debian's `prometheus` on loopback scrapes a
//! run's `--metrics` endpoint once a second, and the step counters it holds at the end equal
//! summary.csv (what the Grafana dashboard in deploy/grafana/ is drawn from).

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::remote::free_port;
use common::{fixture, loadrun, scenario, wait_until};

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The body of a GET of `path` at `host` (HTTP/1.0 over a socket).
fn get(host: &str, path: &str) -> Option<String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(host).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n").ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    out.split_once("\r\n\r\n").map(|(_, b)| b.to_string())
}

/// `query`'s result in Prometheus at `host`: (status label, value) pairs.
fn query(host: &str, q: &str) -> Vec<(String, f64)> {
    let enc: String = q
        .bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    let Some(body) = get(host, &format!("/api/v1/query?query={enc}")) else {
        return Vec::new();
    };
    let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
    v["data"]["result"]
        .as_array()
        .map(|rs| {
            rs.iter()
                .map(|r| {
                    let status = r["metric"]["status"].as_str().unwrap_or("").to_string();
                    (status, r["value"][1].as_str().unwrap().parse().unwrap())
                })
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn prometheus_scrapes_a_run_and_ends_with_the_summarys_counts() {
    let bin = "/usr/bin/prometheus";
    if !Path::new(bin).exists() {
        common::missing_tool(
            bin,
            "apt-get install prometheus (.ci/run does under CI=true)",
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (mport, pport) = (free_port(), free_port());
    let target = format!("127.0.0.1:{mport}");
    let prom = format!("127.0.0.1:{pport}");
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!("global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: loadrun\n    static_configs:\n      - targets: ['{target}']\n"),
    )
    .unwrap();
    let _server = Server(
        Command::new(bin)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("tsdb").display()
            ))
            .arg(format!("--web.listen-address={prom}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start prometheus"),
    );
    wait_until("prometheus ready", Duration::from_secs(30), || {
        get(&prom, "/-/ready").is_some()
    });
    // tests/fixtures/live.toml: 120 transfers in 6 s on the spawned chain.
    let file = scenario(dir.path(), "live", &fixture("live", &[]));
    let out = dir.path().join("out");
    let mut cmd = loadrun();
    cmd.args([
        "run",
        "--metrics",
        &target,
        "--metrics-linger",
        "30s",
        "--out",
    ])
    .arg(&out)
    .arg(&file);
    let mut run = common::Watched::spawn(cmd);
    run.until(|l| l.starts_with("metrics: final values"))
        .expect("final values are announced");
    let summary = std::fs::read_to_string(out.join("summary.csv")).unwrap();
    let ok = summary
        .lines()
        .find_map(|l| l.strip_prefix("ok,all,"))
        .and_then(|v| v.parse::<f64>().ok())
        .expect("ok,all in summary.csv");
    let steps = summary
        .lines()
        .find_map(|l| l.strip_prefix("steps,all,"))
        .and_then(|v| v.parse::<f64>().ok())
        .expect("steps,all in summary.csv");
    // Prometheus holds what it scraped: the counters by status, summed over kinds.
    let q = "sum by (status) (max_over_time(loadrun_steps_total{scenario=\"live\"}[10m]))";
    let mut seen = Vec::new();
    wait_until(
        "prometheus holds the final counts",
        Duration::from_secs(25),
        || {
            seen = query(&prom, q);
            seen.iter().map(|(_, v)| v).sum::<f64>() == steps
        },
    );
    let _ = Command::new("kill")
        .args(["-INT", &run.child.id().to_string()])
        .status();
    run.finish();
    let by_ok = seen.iter().find(|(s, _)| s == "ok").map(|(_, v)| *v);
    assert_eq!(by_ok, Some(ok), "{seen:?}");
    assert_eq!(steps, 120.0);
}
