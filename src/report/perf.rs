//! The report's performance sections (pure): a percentile table of latency and lateness per
//! step kind from HDR histograms (3 significant digits), the latency distribution, and the
//! per-block view read from the chain (gas used vs the gas limit, transactions per block).

use std::fmt::Write;

use super::blocks::BlockRow;
use super::num::{Ms, format_value};
use super::svg::{Series, bar_chart, esc, line_chart, nice_max};
use super::tally::Tally;

/// Quantiles shown in the table, with their column names.
const QUANTILES: [(f64, &str); 4] = [
    (0.50, "p50"),
    (0.90, "p90"),
    (0.99, "p99"),
    (0.999, "p99.9"),
];

/// Latency (ok steps) and lateness (sent steps) histograms per kind, `all` first.
pub fn histograms(t: &Tally) -> Vec<(&str, &Ms, &Ms)> {
    std::iter::once(("all", &t.all.latency, &t.all.lateness))
        .chain(
            t.kinds
                .iter()
                .map(|(k, g)| (k.as_str(), &g.latency, &g.lateness)),
        )
        .collect()
}

fn ms(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

/// The percentile table: one row per kind and quantity.
pub fn percentile_table(t: &Tally) -> String {
    let mut h = String::from(
        "<table class=\"percentiles\"><tr><th>kind</th><th>quantity</th><th>count</th>",
    );
    for (_, name) in QUANTILES {
        let _ = write!(h, "<th>{name} ms</th>");
    }
    h.push_str("<th>max ms</th></tr>");
    for (kind, latency, lateness) in histograms(t) {
        for (what, hist) in [("latency", latency), ("lateness", lateness)] {
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{what}</td><td>{}</td>",
                esc(kind),
                hist.len()
            );
            for (q, _) in QUANTILES {
                let cell = if hist.is_empty() {
                    "–".into()
                } else {
                    ms(hist.at(q))
                };
                let _ = write!(h, "<td>{cell}</td>");
            }
            let max = if hist.is_empty() {
                "–".into()
            } else {
                ms(hist.max())
            };
            let _ = write!(h, "<td>{max}</td></tr>");
        }
    }
    h.push_str("</table>");
    h
}

/// Ok steps' latency in about 20 round-width buckets up to the p99.9 (the rest in "more").
pub fn latency_distribution(t: &Tally) -> String {
    let hist = &t.all.latency;
    let top = if hist.is_empty() {
        1.0
    } else {
        hist.at(0.999).max(1e-3)
    };
    // Round bucket widths (1, 2, 2.5, 5 × 10^k ms), about 20 of them up to the p99.9.
    let width = nice_max(top / 20.0);
    let buckets = ((top / width).ceil() as usize).clamp(1, 40);
    let mut counts = vec![0u64; buckets + 1];
    for (v, n) in hist.recorded() {
        let b = ((v / width) as usize).min(buckets);
        counts[b] += n;
    }
    let bars: Vec<(String, f64)> = counts
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let label = if i == buckets {
                "more".to_string()
            } else {
                format!("<{}", format_value(width * (i + 1) as f64))
            };
            (label, *n as f64)
        })
        .collect();
    bar_chart(
        "latency distribution of ok steps (ms buckets)",
        "steps",
        &bars,
    )
}

/// Gas used vs the gas limit, and transactions, per block over time.
pub fn per_block(blocks: &[BlockRow], end_s: Option<f64>) -> String {
    let mut h = line_chart(
        "gas per block: used vs the block gas limit",
        "seconds since start",
        "million gas",
        &[
            Series {
                name: "gas used",
                color: "#ff7f0e",
                points: blocks
                    .iter()
                    .map(|b| (b.t_s, b.gas_used as f64 / 1e6))
                    .collect(),
            },
            Series {
                name: "gas limit",
                color: "#7f7f7f",
                points: blocks
                    .iter()
                    .map(|b| (b.t_s, b.gas_limit as f64 / 1e6))
                    .collect(),
            },
        ],
        end_s,
    );
    h.push_str(&line_chart(
        "transactions per block",
        "seconds since start",
        "transactions",
        &[Series {
            name: "txs",
            color: "#17becf",
            points: blocks.iter().map(|b| (b.t_s, b.txs as f64)).collect(),
        }],
        end_s,
    ));
    // A base fee rising block after block is what full blocks look like to a sender.
    h.push_str(&line_chart(
        "base fee per block, gwei",
        "seconds since start",
        "gwei",
        &[Series {
            name: "base fee",
            color: "#e377c2",
            points: blocks
                .iter()
                .filter_map(|b| Some((b.t_s, b.base_fee_wei? as f64 / 1e9)))
                .collect(),
        }],
        end_s,
    ));
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::rows::{Status, StepRow};

    fn row(kind: &str, latency: f64) -> StepRow {
        StepRow {
            lateness_ms: Some(latency / 100.0),
            tx_hash: "0x01".into(),
            block: Some(1),
            latency_ms: Some(latency),
            ..StepRow::sample(kind, Status::Ok)
        }
    }

    #[test]
    fn hdr_percentiles_stay_within_a_tenth_of_a_percent_of_exact() {
        let rows: Vec<StepRow> = (1..=10_000)
            .map(|i| row("transfer", i as f64 * 0.37))
            .collect();
        let t = Tally::of(&rows, Vec::new());
        let h = histograms(&t);
        assert_eq!(h[0].0, "all");
        assert_eq!(h[1].0, "transfer");
        for (q, exact) in [(0.5, 1850.0), (0.99, 3663.0), (0.999, 3696.3)] {
            let got = h[0].1.at(q);
            assert!(
                (got - exact).abs() / exact < 0.001,
                "q{q}: {got} vs {exact}"
            );
        }
        let table = percentile_table(&t);
        assert!(table.contains("<th>p99.9 ms</th>") && table.contains("<td>transfer</td>"));
    }

    #[test]
    fn the_distribution_has_its_buckets_and_the_block_view_its_series() {
        let rows: Vec<StepRow> = (1..=100).map(|i| row("transfer", i as f64)).collect();
        let d = latency_distribution(&Tally::of(&rows, Vec::new()));
        assert!(d.contains("more"), "{d}");
        let blocks = vec![
            BlockRow {
                number: 1,
                t_s: 1.0,
                gas_used: 2_100_000,
                gas_limit: 30_000_000,
                txs: 100,
                base_fee_wei: Some(1_000_000_000),
            },
            BlockRow {
                number: 2,
                t_s: 2.0,
                gas_used: 0,
                gas_limit: 30_000_000,
                txs: 0,
                base_fee_wei: Some(875_000_000),
            },
        ];
        let b = per_block(&blocks, Some(3.0));
        assert_eq!(b.matches("<polyline").count(), 4, "{b}");
        assert!(b.contains("base fee per block"), "{b}");
    }
}
