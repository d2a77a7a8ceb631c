//! `capacity.html`: the capacity search on one offline page (inline CSS and SVG, no script) —
//! offered vs included rate and p99 inclusion vs offered rate across the steps with the knee
//! marked, the answer, the SLO, and every step linked to its own report.html.

use std::fmt::Write;

use super::capacity::{Answer, StepFigures, rate};
use super::html::CSS;
use super::svg::{Series, esc, line_chart};
use crate::scenario::Capacity;

/// The page.
pub fn render(steps: &[StepFigures], answer: &Answer<'_>, line: &str, slo: &Capacity) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>capacity</title><style>{CSS}</style></head><body><h1>Capacity</h1><p><b>{}</b></p>",
        esc(line)
    );
    charts(&mut out, steps, answer, slo);
    table(&mut out, steps);
    let _ = write!(
        out,
        "</table><h2>SLO</h2><table><tr><td>max_p99_inclusion</td><td>{} ms</td></tr><tr><td>max_failed</td><td>{:.1} %</td></tr><tr><td>min_included</td><td>{:.0} % of target</td></tr><tr><td>scales</td><td>{} … {}, ×{} then bisection to {:.0} %</td></tr></table></body></html>",
        slo.max_p99_inclusion_ms,
        100.0 * slo.max_failed,
        100.0 * slo.min_included,
        slo.start_scale,
        slo.max_scale,
        slo.growth,
        100.0 * slo.precision
    );
    out
}

/// Offered vs included rate and p99 inclusion vs offered rate, the knee marked.
fn charts(out: &mut String, steps: &[StepFigures], a: &Answer<'_>, slo: &Capacity) {
    let mut by_rate: Vec<&StepFigures> = steps.iter().collect();
    by_rate.sort_by(|x, y| x.target_rate.total_cmp(&y.target_rate));
    let offered: Vec<(f64, f64)> = by_rate
        .iter()
        .map(|s| (s.target_rate, s.target_rate))
        .collect();
    // What the SLO reads: the included rate without the last block's tail.
    let included: Vec<(f64, f64)> = by_rate
        .iter()
        .map(|s| (s.target_rate, s.sustained_rate()))
        .collect();
    let p99: Vec<(f64, f64)> = by_rate
        .iter()
        .map(|s| (s.target_rate, s.p99_inclusion_ms / 1000.0))
        .collect();
    let top = by_rate
        .last()
        .map_or(1.0, |s| s.target_rate.max(s.included_rate));
    let slo_s = slo.max_p99_inclusion_ms as f64 / 1000.0;
    let p99_top = p99.iter().map(|p| p.1).fold(slo_s, f64::max);
    let knee = |h: f64| {
        a.knee
            .map(|k| vec![(k.target_rate, 0.0), (k.target_rate, h)])
    };
    let mut rates = vec![
        Series {
            name: "offered (target)",
            color: "#999",
            points: offered,
        },
        Series {
            name: "sustained",
            color: "#1f77b4",
            points: included,
        },
    ];
    let mut lat = vec![
        Series {
            name: "p99 inclusion",
            color: "#ff7f0e",
            points: p99.clone(),
        },
        Series {
            name: "SLO max_p99_inclusion",
            color: "#2ca02c",
            points: p99.first().map_or(Vec::new(), |f| {
                vec![(f.0, slo_s), (p99.last().unwrap().0, slo_s)]
            }),
        },
    ];
    if let (Some(r), Some(l)) = (knee(top), knee(p99_top)) {
        rates.push(Series {
            name: "knee",
            color: "#d62728",
            points: r,
        });
        lat.push(Series {
            name: "knee",
            color: "#d62728",
            points: l,
        });
    }
    out.push_str("<h2>Offered vs included</h2>");
    out.push_str(&line_chart(
        "transactions per second",
        "offered (tx/s)",
        "tx/s",
        &rates,
        None,
    ));
    out.push_str("<h2>p99 inclusion vs offered</h2>");
    out.push_str(&line_chart(
        "p99 inclusion latency",
        "offered (tx/s)",
        "s",
        &lat,
        None,
    ));
}

/// One row per step, linked to its run's report.
fn table(out: &mut String, steps: &[StepFigures]) {
    out.push_str("<h2>Steps</h2><table><tr><th>step</th><th>scale</th><th>target/s</th><th>achieved/s</th><th>included/s</th><th>included share</th><th>p50 incl. s</th><th>p99 incl. s</th><th>not ok</th><th>cause</th><th>node CPU peak %</th><th>node RSS peak MB</th><th>SLO</th><th>report</th></tr>");
    for s in steps {
        let opt = |v: Option<f64>| v.map_or("–".to_string(), |x| format!("{x:.0}"));
        let _ = write!(
            *out,
            "<tr class=\"{cls}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.0} %</td><td>{:.2}</td><td>{:.2}</td><td>{:.1} %</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><a href=\"{d}/report.html\">{d}</a></td></tr>",
            s.step,
            s.scale,
            rate(s.target_rate),
            rate(s.achieved_rate),
            rate(s.included_rate),
            100.0 * s.included_share,
            s.p50_inclusion_ms / 1000.0,
            s.p99_inclusion_ms / 1000.0,
            100.0 * s.failed_share,
            esc(&s.cause),
            opt(s.node_cpu_peak_pct),
            opt(s.node_rss_peak_mb),
            if s.pass { "pass" } else { "miss" },
            cls = if s.pass { "good" } else { "bad" },
            d = esc(&s.dir),
        );
    }
}
