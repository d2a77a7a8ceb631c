//! `report.html`: one self-contained page that opens offline — inline CSS and SVG, no script,
//! no external reference. The verdict's cause and help, rates, latency and lateness over time,
//! gas, transactions and base fee per block, steps not ok by error class and status, results
//! per role and kind, node CPU/RSS, the sanity table, expectations, the summary, the scenario.

use std::fmt::Write;

use super::blocks::BlockRow;
use super::expect::Verdict;
use super::node::NodeSample;
use super::num::format_value;
use super::perf;
use super::rows::{ERROR_CLASSES, Status};
use super::sanity::Line;
use super::summary::Metric;
use super::svg::{Series, bar_chart, esc, line_chart};
use super::tally::{Coarse, Second, Tally};
use super::verdict::Verdict as Bottleneck;

/// Everything the page shows.
pub struct HtmlInput<'a> {
    pub title: &'a str,
    pub tally: &'a Tally,
    pub summary: &'a [Metric],
    pub verdicts: &'a [Verdict],
    pub sanity: Option<&'a [Line]>,
    pub wallet_mismatches: &'a [String],
    pub node: &'a [NodeSample],
    /// node.csv's further columns (`host_cpu_pct`, `[chain].metrics` series) by name.
    pub node_extra: &'a [(String, Vec<(f64, f64)>)],
    pub scenario_toml: &'a str,
    /// (name, value) facts: seed, chain, blocks…
    pub facts: &'a [(String, String)],
    /// The chain's blocks during the run (`blocks.csv`).
    pub blocks: &'a [BlockRow],
    /// Who was the bottleneck (`verdict.json`).
    pub bottleneck: Option<&'a Bottleneck>,
    /// The run's end, seconds since its start: where time axes end.
    pub end_s: Option<f64>,
}

pub const CSS: &str = "body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1000px;color:#222;padding:0 12px}h1{font-size:22px}h2{font-size:17px;margin-top:28px;border-bottom:1px solid #ddd}table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ddd;padding:3px 8px;text-align:right}th{background:#f4f4f4}td:first-child,th:first-child{text-align:left}.bad{background:#fde2e2}.good{background:#e6f4e6}pre{background:#f7f7f7;padding:10px;overflow:auto}.chart{width:100%;height:auto;margin:6px 0}.title{font-weight:600;font-size:13px}.tick{font-size:10px;fill:#555}.label{font-size:11px;fill:#333}.grid{stroke:#eee}.axis{stroke:#888}.bar{fill:#d62728}.nodata{fill:#999;font-size:14px}";

/// A chart of the per-second p50 and p99 of a quantity in ms.
fn p50_p99(
    title: &str,
    seconds: &[Second],
    of: impl Fn(&Second) -> &Coarse,
    end_s: Option<f64>,
) -> String {
    let series = |p: f64| -> Vec<(f64, f64)> {
        seconds
            .iter()
            .enumerate()
            .filter(|(_, s)| !of(s).is_empty())
            .map(|(i, s)| (i as f64, of(s).percentile(p)))
            .collect()
    };
    line_chart(
        title,
        "seconds since start",
        "ms",
        &[
            Series {
                name: "p50",
                color: "#1f77b4",
                points: series(50.0),
            },
            Series {
                name: "p99",
                color: "#d62728",
                points: series(99.0),
            },
        ],
        end_s,
    )
}

/// Per-second counts, seconds with none left out (as before: a second with no sends has no point).
fn counts(seconds: &[Second], of: impl Fn(&Second) -> u32) -> Vec<(f64, f64)> {
    seconds
        .iter()
        .enumerate()
        .filter(|(_, s)| of(s) > 0)
        .map(|(i, s)| (i as f64, f64::from(of(s))))
        .collect()
}

/// The page: title, then one section after another, in the order a reader needs them.
pub fn render(i: &HtmlInput<'_>) -> String {
    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title><style>{CSS}</style></head><body><h1>{t}</h1>",
        t = esc(i.title)
    );
    verdict(&mut h, i);
    facts(&mut h, i.facts);
    rate(&mut h, i);
    percentiles(&mut h, i.tally);
    over_time(&mut h, i);
    blocks(&mut h, i);
    failures(&mut h, i.tally);
    per_role_and_kind(&mut h, i.tally);
    reads(&mut h, i.tally);
    node(&mut h, i);
    if let Some(lines) = i.sanity {
        sanity(&mut h, lines, i.wallet_mismatches);
    }
    expectations(&mut h, i.verdicts);
    summary(&mut h, i.summary);
    h.push_str("<h2>Scenario</h2><pre>");
    h.push_str(&esc(i.scenario_toml));
    h.push_str("</pre></body></html>\n");
    h
}

/// The verdict line (steps ok, sanity, expectations), then the bottleneck's cause and help.
fn verdict(h: &mut String, i: &HtmlInput<'_>) {
    let t = i.tally;
    let ok = t.all.ok();
    let sanity_ok =
        i.sanity.is_none_or(|s| s.iter().all(|l| l.ok)) && i.wallet_mismatches.is_empty();
    let met = i.verdicts.iter().all(|v| v.met);
    let _ = write!(
        h,
        "<p class=\"{cls}\">{ok} of {n} steps ok · sanity {s} · expectations {e}</p>",
        cls = if sanity_ok && met && ok == t.all.steps {
            "good"
        } else {
            "bad"
        },
        n = t.all.steps,
        s = if i.sanity.is_none() {
            "not checked"
        } else if sanity_ok {
            "ok"
        } else {
            "MISMATCH"
        },
        e = if met { "met" } else { "MISSED" },
    );
    if let Some(b) = i.bottleneck {
        let _ = write!(
            h,
            "<p class=\"{}\" id=\"bottleneck\"><b>cause: {}</b> — {}</p>",
            if b.cause == super::verdict::Cause::Ok {
                "good"
            } else {
                "bad"
            },
            b.cause.as_str(),
            esc(&b.line)
        );
        if let Some(help) = &b.help {
            let _ = write!(h, "<p id=\"help\">help: {}</p>", esc(help));
        }
    }
}

/// The run's facts (seed, chain, blocks…), a row each.
fn facts(h: &mut String, facts: &[(String, String)]) {
    h.push_str("<table>");
    for (k, v) in facts {
        let _ = write!(h, "<tr><th>{}</th><td>{}</td></tr>", esc(k), esc(v));
    }
    h.push_str("</table>");
}

/// Steps sent and transactions included per second.
fn rate(h: &mut String, i: &HtmlInput<'_>) {
    let t = i.tally;
    h.push_str("<h2>Rate</h2>");
    h.push_str(&line_chart(
        "steps sent and transactions included per second",
        "seconds since start",
        "per second",
        &[
            Series {
                name: "sent",
                color: "#1f77b4",
                points: counts(&t.seconds, |s| s.sent),
            },
            Series {
                name: "included",
                color: "#2ca02c",
                points: counts(&t.seconds, |s| s.included),
            },
        ],
        i.end_s,
    ));
}

/// The percentile table and the latency distribution.
fn percentiles(h: &mut String, t: &Tally) {
    h.push_str("<h2>Percentiles</h2>");
    h.push_str(&perf::percentile_table(t));
    h.push_str(&perf::latency_distribution(t));
}

/// Latency and lateness, p50 and p99 per second.
fn over_time(h: &mut String, i: &HtmlInput<'_>) {
    let t = i.tally;
    h.push_str("<h2>Latency and lateness over time</h2>");
    h.push_str(&p50_p99(
        "latency (inclusion, or signing round trip off chain), ms",
        &t.seconds,
        |s| &s.latency,
        i.end_s,
    ));
    h.push_str(&p50_p99(
        "lateness (sent − scheduled), ms",
        &t.seconds,
        |s| &s.lateness,
        i.end_s,
    ));
}

/// Gas, transactions and base fee per block.
fn blocks(h: &mut String, i: &HtmlInput<'_>) {
    h.push_str("<h2>Blocks</h2>");
    if i.blocks.is_empty() {
        h.push_str("<p>No blocks recorded (blocks.csv is missing or empty).</p>");
    }
    h.push_str(&perf::per_block(i.blocks, i.end_s));
}

/// Every step that did not end ok: failed ones by error class, then the other statuses.
fn failures(h: &mut String, t: &Tally) {
    h.push_str("<h2>Failures</h2>");
    let bars: Vec<(String, f64)> = ERROR_CLASSES
        .iter()
        .map(|c| (c.to_string(), t.failed(c) as f64))
        .chain(
            [
                Status::Timeout,
                Status::NodeDown,
                Status::Skipped,
                Status::NotSent,
            ]
            .iter()
            .map(|s| (s.as_str().to_string(), t.all.count(*s) as f64)),
        )
        .collect();
    h.push_str(&bar_chart(
        "steps not ok: failed by error class, then timeout, node_down, skipped, not_sent",
        "steps",
        &bars,
    ));
}

/// Step counts per status for each role × step kind; a row with any step not ok is marked.
fn per_role_and_kind(h: &mut String, t: &Tally) {
    h.push_str("<h2>Results per role and step kind</h2><table><tr><th>role</th><th>kind</th>");
    for s in Status::ALL {
        let _ = write!(h, "<th>{}</th>", s.as_str());
    }
    h.push_str("</tr>");
    for ((role, kind), c) in &t.by_role_kind {
        let bad = c[1..].iter().any(|n| *n > 0);
        let _ = write!(
            h,
            "<tr class=\"{}\"><td>{}</td><td>{}</td>",
            if bad { "bad" } else { "" },
            esc(role),
            esc(kind)
        );
        for n in c {
            let _ = write!(h, "<td>{n}</td>");
        }
        h.push_str("</tr>");
    }
    h.push_str("</table>");
}

/// Per read method: how many, how they ended, and their latency (request to answer).
fn reads(h: &mut String, t: &Tally) {
    let methods: Vec<_> = t
        .kinds
        .iter()
        .filter_map(|(k, g)| Some((k.strip_prefix("read:")?, g)))
        .collect();
    if methods.is_empty() {
        return;
    }
    h.push_str("<h2>Reads per method</h2><p>Latency from the request leaving to its answer; error share = not ok / reads.</p><table><tr><th>method</th><th>reads</th><th>ok</th><th>failed</th><th>timeout</th><th>error share</th><th>p50 ms</th><th>p90 ms</th><th>p99 ms</th><th>max ms</th><th>achieved /s</th></tr>");
    for (method, g) in methods {
        let bad = g.steps - g.ok();
        let _ = write!(
            h,
            "<tr class=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.2} %</td>",
            if bad > 0 { "bad" } else { "" },
            esc(method),
            g.steps,
            g.ok(),
            g.count(Status::Failed),
            g.count(Status::Timeout),
            100.0 * bad as f64 / g.steps.max(1) as f64
        );
        for q in [0.5, 0.9, 0.99] {
            let _ = write!(h, "<td>{:.2}</td>", super::num::quantile(&g.latency, q));
        }
        let whole = super::rates::Window {
            start_ms: 0,
            stop_ms: 1,
        };
        let _ = write!(
            h,
            "<td>{:.2}</td><td>{:.1}</td></tr>",
            g.max_latency_ms,
            g.rates(whole).achieved
        );
    }
    h.push_str("</table>");
}

/// The node's CPU and RSS over the run.
fn node(h: &mut String, i: &HtmlInput<'_>) {
    h.push_str("<h2>Node</h2>");
    if i.node.is_empty() {
        h.push_str("<p>No node samples (a node loadrun did not spawn needs [chain].node_metrics; or /proc is unavailable).</p>");
    }
    let mut cpu = vec![Series {
        name: "cpu %",
        color: "#9467bd",
        points: i.node.iter().map(|s| (s.t_s, s.cpu_pct)).collect(),
    }];
    let host = i.node_extra.iter().find(|(n, _)| n == "host_cpu_pct");
    if let Some((_, points)) = host {
        cpu.push(Series {
            name: "host cpu % (node_exporter)",
            color: "#7f7f7f",
            points: points.clone(),
        });
    }
    h.push_str(&line_chart(
        "node CPU %",
        "seconds since start",
        "%",
        &cpu,
        i.end_s,
    ));
    h.push_str(&line_chart(
        "node RSS, MiB",
        "seconds since start",
        "MiB",
        &[Series {
            name: "rss",
            color: "#8c564b",
            points: i
                .node
                .iter()
                .map(|s| (s.t_s, s.rss_kb as f64 / 1024.0))
                .collect(),
        }],
        i.end_s,
    ));
    // The `[chain].metrics` series scraped from the node, one chart each.
    for (name, points) in i.node_extra.iter().filter(|(n, _)| n != "host_cpu_pct") {
        h.push_str(&line_chart(
            &format!("node metric {name}"),
            "seconds since start",
            name,
            &[Series {
                name,
                color: "#17becf",
                points: points.clone(),
            }],
            i.end_s,
        ));
    }
}

/// The sanity table (expected vs on chain), then the wallets that differ.
fn sanity(h: &mut String, lines: &[Line], wallet_mismatches: &[String]) {
    h.push_str("<h2>Sanity: expected vs on chain</h2><table><tr><th>check</th><th>expected</th><th>observed</th><th>difference</th></tr>");
    for l in lines {
        let _ = write!(
            h,
            "<tr class=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            if l.ok { "" } else { "bad" },
            esc(&l.check),
            esc(&l.expected),
            esc(&l.observed),
            esc(&l.difference)
        );
    }
    h.push_str("</table>");
    if !wallet_mismatches.is_empty() {
        h.push_str("<ul>");
        for m in wallet_mismatches {
            let _ = write!(h, "<li class=\"bad\">{}</li>", esc(m));
        }
        h.push_str("</ul>");
    }
}

/// Each expectation with its limit, what was measured, and whether it was met.
fn expectations(h: &mut String, verdicts: &[Verdict]) {
    h.push_str("<h2>Expectations</h2>");
    if verdicts.is_empty() {
        h.push_str("<p>None set ([expect] is empty).</p>");
        return;
    }
    h.push_str("<table><tr><th>expectation</th><th>limit</th><th>measured</th><th>met</th></tr>");
    for v in verdicts {
        let _ = write!(
            h,
            "<tr class=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            if v.met { "good" } else { "bad" },
            esc(&v.name),
            esc(&v.limit),
            esc(&v.measured),
            if v.met { "yes" } else { "no" }
        );
    }
    h.push_str("</table>");
}

/// The summary metrics (`summary.csv`).
fn summary(h: &mut String, summary: &[Metric]) {
    h.push_str("<h2>Summary</h2><table><tr><th>metric</th><th>kind</th><th>value</th></tr>");
    for m in summary {
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&m.metric),
            esc(&m.kind),
            format_value(m.value)
        );
    }
    h.push_str("</table>");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::rows::StepRow;

    #[test]
    fn renders_offline_and_escapes() {
        let rows = vec![StepRow {
            error: "nonce: nonce too low".into(),
            ..StepRow::sample("transfer", Status::Failed)
        }];
        let tally = Tally::of(&rows, Vec::new());
        let html = render(&HtmlInput {
            title: "run",
            tally: &tally,
            summary: &[],
            verdicts: &[],
            sanity: None,
            wallet_mismatches: &[],
            node: &[],
            node_extra: &[],
            scenario_toml: "name = \"<script>alert(1)</script>\"",
            facts: &[("seed".into(), "42".into())],
            blocks: &[],
            bottleneck: None,
            end_s: Some(1.0),
        });
        assert!(!html.contains("<script"));
        assert!(html.contains("&lt;script&gt;"));
        assert!(!html.to_lowercase().contains("http"));
        assert!(html.contains("1 failed") || html.contains("<td>1</td>"));
        let empty = render(&HtmlInput {
            title: "empty",
            tally: &Tally::new(Vec::new()),
            summary: &[],
            verdicts: &[],
            sanity: None,
            wallet_mismatches: &[],
            node: &[],
            node_extra: &[],
            scenario_toml: "",
            facts: &[],
            blocks: &[],
            bottleneck: None,
            end_s: None,
        });
        assert!(empty.contains("no data"));
    }
}
