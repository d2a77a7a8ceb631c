//! Node telemetry from real exporters on loopback: Debian's prometheus-process-exporter
//! watching an anvil loadrun did not spawn, and prometheus-node-exporter for the host. node.csv
//! holds the node's CPU within 0..cores × 100 % and its RSS within 10 % of /proc's.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::remote::free_port;
use common::{DEV_KEY, fixture, loadrun, scenario, text};

/// An exporter process, killed on drop.
struct Exporter(Child);

impl Drop for Exporter {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `bin` with `args` and waits until `url` answers with `series` in it.
fn exporter(bin: &str, args: &[String], url: &str, series: &str) -> Option<Exporter> {
    if !Path::new(bin).exists() {
        common::missing_tool(
            bin,
            "apt-get install prometheus-process-exporter prometheus-node-exporter (.ci/run does under CI=true)",
        );
        return None;
    }
    let child = Command::new(bin)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start exporter");
    let mut e = Exporter(child);
    let mut last = None;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !last.as_deref().is_some_and(|t: &str| t.contains(series)) {
        if let Ok(Some(status)) = e.0.try_wait() {
            panic!("{bin} {args:?} exited: {status}");
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{bin} did not serve {series} at {url} within 20 s; last answer: {last:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
        last = scrape(url);
    }
    Some(e)
}

/// The text at `url` (plain HTTP/1.0 GET over a socket: no client crate in tests).
fn scrape(url: &str) -> Option<String> {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://")?;
    let (host, path) = rest.split_once('/')?;
    let mut s = std::net::TcpStream::connect(host).ok()?;
    write!(s, "GET /{path} HTTP/1.0\r\nHost: {host}\r\n\r\n").ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    out.starts_with("HTTP/1.").then_some(out)
}

fn rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    loadrun::model::node::parse_status_rss_kb(&status).unwrap()
}

#[test]
fn a_remote_nodes_cpu_and_memory_come_from_its_exporters_into_node_csv() {
    let dir = tempfile::tempdir().unwrap();
    // Only this test's anvil: matched by a path of its own on its command line.
    let marker = dir.path().join("anvil-config.json");
    let node = common::anvil(loadrun::chain::anvil::AnvilOptions {
        block_time_ms: Some(1000),
        extra_args: vec!["--config-out".into(), marker.display().to_string()],
        ..Default::default()
    });
    let config = dir.path().join("process-exporter.yml");
    std::fs::write(
        &config,
        format!(
            "process_names:\n  - name: \"{{{{.Comm}}}}\"\n    cmdline:\n    - '{}'\n",
            marker.display()
        ),
    )
    .unwrap();
    let (pport, hport) = (free_port(), free_port());
    let node_metrics = format!("http://127.0.0.1:{pport}/metrics");
    let host_metrics = format!("http://127.0.0.1:{hport}/metrics");
    let Some(_p) = exporter(
        "/usr/bin/prometheus-process-exporter",
        &[
            format!("-web.listen-address=127.0.0.1:{pport}"),
            format!("-config.path={}", config.display()),
            "-threads=false".into(),
            "-gather-smaps=false".into(),
        ],
        &node_metrics,
        "namedprocess_namegroup_cpu_seconds_total",
    ) else {
        return;
    };
    let Some(_h) = exporter(
        "/usr/bin/prometheus-node-exporter",
        &[
            format!("--web.listen-address=127.0.0.1:{hport}"),
            "--collector.disable-defaults".into(),
            "--collector.cpu".into(),
        ],
        &host_metrics,
        "node_cpu_seconds_total",
    ) else {
        return;
    };
    let path = scenario(
        dir.path(),
        "telemetry",
        &fixture(
            "telemetry",
            &[
                ("node_metrics", &node_metrics),
                ("host_metrics", &host_metrics),
            ],
        ),
    );
    let out = dir.path().join("out");
    let o = loadrun()
        .args(["run", "--rpc", &node.url, "--out"])
        .arg(&out)
        .arg(&path)
        .env("LOADRUN_FUNDER_KEY", DEV_KEY)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let proc_rss = rss_kb(node.pid);
    let csv = std::fs::read_to_string(out.join("node.csv")).unwrap();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("t_s,cpu_pct,rss_kb,host_cpu_pct,namedprocess_namegroup_num_procs")
    );
    let rows: Vec<Vec<String>> = lines
        .map(|l| l.split(',').map(String::from).collect())
        .collect();
    assert!(rows.len() >= 3, "{csv}");
    let cores = std::thread::available_parallelism().unwrap().get() as f64;
    for r in &rows {
        let cpu: f64 = r[1].parse().unwrap();
        assert!(
            (0.0..=cores * 100.0).contains(&cpu),
            "node cpu {cpu}: {csv}"
        );
        if !r[3].is_empty() {
            let host: f64 = r[3].parse().unwrap();
            assert!(
                (0.0..=cores * 100.0 + 1.0).contains(&host),
                "host cpu {host}: {csv}"
            );
        }
        assert_eq!(r[4], "1", "one process in the group: {csv}");
    }
    assert!(
        rows.iter().any(|r| !r[3].is_empty()),
        "host CPU scraped: {csv}"
    );
    let last_rss: f64 = rows.last().unwrap()[2].parse().unwrap();
    let diff = (last_rss - proc_rss as f64).abs() / proc_rss as f64;
    assert!(
        diff <= 0.10,
        "node.csv RSS {last_rss} kB vs /proc {proc_rss} kB: {csv}"
    );
    let report = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(
        !report.contains("No node samples"),
        "the report charts the scraped node series"
    );
    assert!(
        report.contains("host cpu % (node_exporter)"),
        "the host's CPU is charted"
    );
    assert!(
        report.contains("node metric namedprocess_namegroup_num_procs"),
        "each [chain].metrics series is charted"
    );
}

#[test]
fn a_scrape_that_fails_is_a_warning_and_a_gap_never_a_failed_run() {
    let dir = tempfile::tempdir().unwrap();
    // Nothing listens there: every scrape fails.
    let dead = format!("http://127.0.0.1:{}/metrics", free_port());
    let text_of = fixture("small", &[("chain", &format!("node_metrics = \"{dead}\""))]);
    let path = scenario(dir.path(), "small", &text_of);
    let out = dir.path().join("out");
    let o = loadrun()
        .args(["run", "--out"])
        .arg(&out)
        .arg(&path)
        .output()
        .unwrap();
    let all = text(&o);
    assert_eq!(o.status.code(), Some(0), "{all}");
    let log = std::fs::read_to_string(out.join("loadrun.log")).unwrap();
    assert!(log.contains("telemetry: cannot scrape"), "{log}");
    // The spawned node's own samples give way to the endpoint asked for: node.csv holds only
    // its header, a gap rather than made-up values.
    let csv = std::fs::read_to_string(out.join("node.csv")).unwrap();
    assert_eq!(csv, "t_s,cpu_pct,rss_kb\n", "{csv}");
}
