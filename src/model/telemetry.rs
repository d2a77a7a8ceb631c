//! Node telemetry from Prometheus endpoints (pure): the exposition text of the node's own
//! endpoint or a process exporter (CPU seconds, resident memory, the `metrics = [...]` series)
//! and of a node_exporter (the host's CPU), turned into node.csv's samples by differencing
//! successive scrapes. `exec::telemetry` fetches the text once a second.

use super::node::NodeSample;

/// What one scrape of the node's endpoint says.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NodeReading {
    /// The process's CPU seconds so far (user + system).
    pub cpu_s: Option<f64>,
    pub rss_bytes: Option<f64>,
    /// The requested extra series, each summed over its labels (`None`: not in the scrape).
    pub extra: Vec<Option<f64>>,
}

/// What one scrape of a node_exporter says of the host's CPU.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct HostReading {
    /// CPU seconds spent outside idle and iowait, summed over the cores.
    pub busy_s: f64,
    /// All CPU seconds, summed over the cores.
    pub total_s: f64,
    pub cores: u32,
}

/// The samples of a scrape's text, or `None` when it is not the exposition format.
fn parse(text: &str) -> Option<prometheus_parse::Scrape> {
    prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).ok()
}

fn value(v: &prometheus_parse::Value) -> Option<f64> {
    use prometheus_parse::Value::*;
    match v {
        Counter(x) | Gauge(x) | Untyped(x) => Some(*x),
        _ => None,
    }
}

/// Sums `name`'s samples whose labels match `want` (label, value) pairs.
fn sum(s: &prometheus_parse::Scrape, name: &str, want: &[(&str, &str)]) -> Option<f64> {
    let mut found = None;
    for x in s.samples.iter().filter(|x| x.metric == name) {
        if want.iter().all(|(k, v)| x.labels.get(k) == Some(*v))
            && let Some(v) = value(&x.value)
        {
            *found.get_or_insert(0.0) += v;
        }
    }
    found
}

/// Reads a node's endpoint: the standard process collector (`process_cpu_seconds_total`,
/// `process_resident_memory_bytes`: reth, geth, Nethermind, most Go/Rust nodes) or a process
/// exporter's group (`namedprocess_namegroup_*`), and the `extra` series by name.
pub fn node_reading(text: &str, extra: &[String]) -> Option<NodeReading> {
    let s = parse(text)?;
    // A process exporter serves its own process_* series too: its group's come first.
    let cpu_s = sum(&s, "namedprocess_namegroup_cpu_seconds_total", &[])
        .or_else(|| sum(&s, "process_cpu_seconds_total", &[]));
    let rss_bytes = sum(
        &s,
        "namedprocess_namegroup_memory_bytes",
        &[("memtype", "resident")],
    )
    .or_else(|| sum(&s, "process_resident_memory_bytes", &[]))
    // prometheus-net (.NET nodes) serves the working set instead.
    .or_else(|| sum(&s, "process_working_set_bytes", &[]));
    let extra = extra.iter().map(|name| sum(&s, name, &[])).collect();
    Some(NodeReading {
        cpu_s,
        rss_bytes,
        extra,
    })
}

impl NodeReading {
    /// The series a node.csv row needs that this scrape lacks (empty when it has both).
    pub fn missing(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        if self.cpu_s.is_none() {
            out.push("process_cpu_seconds_total (or namedprocess_namegroup_cpu_seconds_total)");
        }
        if self.rss_bytes.is_none() {
            out.push("process_resident_memory_bytes (or namedprocess_namegroup_memory_bytes)");
        }
        out
    }
}

/// Reads a node_exporter's `node_cpu_seconds_total{cpu, mode}`.
pub fn host_reading(text: &str) -> Option<HostReading> {
    let s = parse(text)?;
    let mut cpus = std::collections::BTreeSet::new();
    let (mut busy_s, mut total_s) = (0.0, 0.0);
    for x in s
        .samples
        .iter()
        .filter(|x| x.metric == "node_cpu_seconds_total")
    {
        let Some(v) = value(&x.value) else { continue };
        if let Some(cpu) = x.labels.get("cpu") {
            cpus.insert(cpu.to_string());
        }
        total_s += v;
        if !matches!(x.labels.get("mode"), Some("idle" | "iowait")) {
            busy_s += v;
        }
    }
    (!cpus.is_empty()).then_some(HostReading {
        busy_s,
        total_s,
        cores: cpus.len() as u32,
    })
}

/// One row of node.csv from scraped endpoints.
#[derive(Debug, Clone, PartialEq)]
pub struct Scraped {
    pub sample: NodeSample,
    /// The host's CPU busy, % of one core (0 to cores × 100).
    pub host_cpu_pct: Option<f64>,
    pub extra: Vec<Option<f64>>,
}

/// Turns successive readings into samples: CPU % is the CPU seconds between two scrapes over
/// the seconds between them. A scrape that failed leaves a gap, never a made-up value.
#[derive(Debug, Default)]
pub struct Differ {
    last_node: Option<(f64, f64)>,
    last_host: Option<(f64, HostReading)>,
    /// The host's cores, once a host scrape said.
    pub host_cores: Option<u32>,
}

impl Differ {
    /// The sample at `t_s` (seconds since the run's start), when the node's reading has what a
    /// row needs (CPU and RSS, and a previous CPU reading to difference).
    pub fn push(
        &mut self,
        t_s: f64,
        node: Option<NodeReading>,
        host: Option<HostReading>,
    ) -> Option<Scraped> {
        let host_cpu_pct = host.and_then(|h| {
            self.host_cores = Some(h.cores);
            let prev = self.last_host.replace((t_s, h));
            let (_, p) = prev?;
            let total = h.total_s - p.total_s;
            (total > 0.0).then(|| 100.0 * f64::from(h.cores) * (h.busy_s - p.busy_s) / total)
        });
        let node = node?;
        let (cpu_s, rss) = (node.cpu_s?, node.rss_bytes?);
        let prev = self.last_node.replace((t_s, cpu_s));
        let (t0, c0) = prev?;
        let dt = (t_s - t0).max(1e-3);
        // Scrape timing jitters by a few ms: never more than the host's cores, when known.
        let most = self
            .host_cores
            .map_or(f64::INFINITY, |c| 100.0 * f64::from(c));
        Some(Scraped {
            sample: NodeSample {
                t_s,
                cpu_pct: (100.0 * (cpu_s - c0) / dt).clamp(0.0, most),
                rss_kb: (rss / 1024.0) as u64,
            },
            host_cpu_pct,
            extra: node.extra,
        })
    }
}

/// node.csv of scraped samples: `t_s,cpu_pct,rss_kb`, then `host_cpu_pct` when a host endpoint
/// was scraped, then each extra series by name (empty where a scrape lacked it).
pub fn write_csv<W: std::io::Write>(
    rows: &[Scraped],
    host: bool,
    extra: &[String],
    mut w: W,
) -> std::io::Result<()> {
    write!(w, "t_s,cpu_pct,rss_kb")?;
    if host {
        write!(w, ",host_cpu_pct")?;
    }
    for name in extra {
        write!(w, ",{name}")?;
    }
    writeln!(w)?;
    let cell = |v: Option<f64>| v.map_or(String::new(), |x| format!("{x}"));
    for r in rows {
        let s = r.sample;
        write!(w, "{:.3},{:.1},{}", s.t_s, s.cpu_pct, s.rss_kb)?;
        if host {
            write!(
                w,
                ",{}",
                r.host_cpu_pct.map_or(String::new(), |x| format!("{x:.1}"))
            )?;
        }
        for v in &r.extra {
            write!(w, ",{}", cell(*v))?;
        }
        writeln!(w)?;
    }
    w.flush()
}

/// The columns of a node.csv after `t_s,cpu_pct,rss_kb` (`host_cpu_pct`, the extra series),
/// each as (name, (t_s, value) points); empty cells are gaps.
pub fn read_extra_columns(text: &str) -> Vec<(String, Vec<(f64, f64)>)> {
    let mut lines = text.lines();
    let Some(header) = lines.next() else {
        return Vec::new();
    };
    let mut out: Vec<(String, Vec<(f64, f64)>)> = header
        .split(',')
        .skip(3)
        .map(|n| (n.to_string(), Vec::new()))
        .collect();
    for line in lines {
        let cells: Vec<&str> = line.split(',').collect();
        let Some(t) = cells.first().and_then(|c| c.parse::<f64>().ok()) else {
            continue;
        };
        for (i, (_, points)) in out.iter_mut().enumerate() {
            if let Some(v) = cells.get(3 + i).and_then(|c| c.parse::<f64>().ok()) {
                points.push((t, v));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const NODE: &str = "# HELP process_cpu_seconds_total Total user and system CPU time.\n# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total 12.5\n# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes 2.097152e+08\n# TYPE txpool_pending gauge\ntxpool_pending{pool=\"a\"} 3\ntxpool_pending{pool=\"b\"} 4\n";

    const EXPORTER: &str = "# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total 0.69\n# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes 1.8e+07\n# TYPE namedprocess_namegroup_cpu_seconds_total counter\nnamedprocess_namegroup_cpu_seconds_total{groupname=\"anvil\",mode=\"system\"} 1.5\nnamedprocess_namegroup_cpu_seconds_total{groupname=\"anvil\",mode=\"user\"} 2.5\n# TYPE namedprocess_namegroup_memory_bytes gauge\nnamedprocess_namegroup_memory_bytes{groupname=\"anvil\",memtype=\"resident\"} 1048576\nnamedprocess_namegroup_memory_bytes{groupname=\"anvil\",memtype=\"virtual\"} 9e9\n";

    fn host(busy: f64, idle: f64) -> String {
        format!(
            "# TYPE node_cpu_seconds_total counter\nnode_cpu_seconds_total{{cpu=\"0\",mode=\"idle\"}} {idle}\nnode_cpu_seconds_total{{cpu=\"0\",mode=\"user\"}} {busy}\nnode_cpu_seconds_total{{cpu=\"1\",mode=\"idle\"}} {idle}\nnode_cpu_seconds_total{{cpu=\"1\",mode=\"user\"}} {busy}\n"
        )
    }

    #[test]
    fn reads_a_nodes_own_endpoint_and_a_process_exporter() {
        let r = node_reading(NODE, &["txpool_pending".into(), "absent".into()]).unwrap();
        assert_eq!(r.cpu_s, Some(12.5));
        assert_eq!(r.rss_bytes, Some(209_715_200.0));
        assert_eq!(r.extra, vec![Some(7.0), None]);
        let e = node_reading(EXPORTER, &[]).unwrap();
        assert_eq!(e.cpu_s, Some(4.0), "the group's, not the exporter's own");
        assert_eq!(e.rss_bytes, Some(1_048_576.0), "resident only, not virtual");
    }

    #[test]
    fn cpu_is_the_difference_between_scrapes_and_a_failed_scrape_is_a_gap() {
        let mut d = Differ::default();
        let at = |cpu: f64| NodeReading {
            cpu_s: Some(cpu),
            rss_bytes: Some(2048.0 * 1024.0),
            extra: vec![],
        };
        assert_eq!(
            d.push(0.0, Some(at(10.0)), host_reading(&host(10.0, 10.0))),
            None
        );
        let s = d
            .push(2.0, Some(at(13.0)), host_reading(&host(11.5, 10.5)))
            .unwrap();
        assert_eq!(s.sample.cpu_pct, 150.0);
        assert_eq!(s.sample.rss_kb, 2048);
        // Per core 1.5 s busy of 2 s: 75 %; of 2 cores: 150 % of one core.
        assert_eq!(s.host_cpu_pct, Some(150.0));
        assert_eq!(d.host_cores, Some(2));
        assert_eq!(d.push(3.0, None, None), None);
        let s = d.push(4.0, Some(at(14.0)), None).unwrap();
        assert_eq!(s.sample.cpu_pct, 50.0);
        assert_eq!(s.host_cpu_pct, None);
        // A late scrape cannot make the node use more than the host's 2 cores.
        let s = d.push(4.5, Some(at(15.5)), None).unwrap();
        assert_eq!(s.sample.cpu_pct, 200.0);
    }

    #[test]
    fn node_csv_names_the_host_and_extra_columns() {
        let row = Scraped {
            sample: NodeSample {
                t_s: 1.0,
                cpu_pct: 50.0,
                rss_kb: 10,
            },
            host_cpu_pct: Some(120.0),
            extra: vec![Some(7.0), None],
        };
        let mut out = Vec::new();
        write_csv(
            &[row],
            true,
            &["txpool_pending".into(), "gas".into()],
            &mut out,
        )
        .unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "t_s,cpu_pct,rss_kb,host_cpu_pct,txpool_pending,gas\n1.000,50.0,10,120.0,7,\n"
        );
        // The first three columns read back as the spawned node's do, the others by name.
        assert_eq!(crate::model::node::read_csv(&text).len(), 1);
        let extra = read_extra_columns(&text);
        assert_eq!(extra.len(), 3);
        assert_eq!(extra[0], ("host_cpu_pct".to_string(), vec![(1.0, 120.0)]));
        assert_eq!(extra[1], ("txpool_pending".to_string(), vec![(1.0, 7.0)]));
        assert_eq!(
            extra[2],
            ("gas".to_string(), vec![]),
            "an empty cell is a gap"
        );
    }

    #[test]
    fn text_that_is_not_the_exposition_format_reads_as_nothing_useful() {
        let r = node_reading("<html>not metrics</html>", &[]);
        assert!(r.is_none_or(|r| r.cpu_s.is_none() && r.rss_bytes.is_none()));
        assert!(host_reading("").is_none());
    }
}
