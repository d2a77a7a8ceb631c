//! `loadrun diff BASE NEW`: every metric of two `summary.csv` files side by side with absolute
//! and relative change, and `--fail-on` rules (`p99_latency_ms>+20%`, `failed>+5`,
//! `achieved_rate<-10%`, `p99_lateness_ms>50`, optionally `metric[kind]`). Pure.

use super::num::format_value;
use super::summary::Metric;

#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub metric: String,
    pub kind: String,
    pub base: Option<f64>,
    pub new: Option<f64>,
}

impl Change {
    pub fn abs(&self) -> Option<f64> {
        Some(self.new? - self.base?)
    }
    /// Fraction; from a zero base, a rise is +∞ and a fall −∞ (so `failed>+20%` fires when
    /// failures appear); `None` when a side is missing.
    pub fn rel(&self) -> Option<f64> {
        let (b, n) = (self.base?, self.new?);
        Some(if b != 0.0 {
            (n - b) / b.abs()
        } else if n > 0.0 {
            f64::INFINITY
        } else if n < 0.0 {
            f64::NEG_INFINITY
        } else {
            0.0
        })
    }
}

/// Pairs metrics by (metric, kind): base order, then metrics only in `new`.
pub fn compare(base: &[Metric], new: &[Metric]) -> Vec<Change> {
    let find = |set: &[Metric], m: &Metric| {
        set.iter()
            .find(|x| x.metric == m.metric && x.kind == m.kind)
            .map(|x| x.value)
    };
    let mut out: Vec<Change> = base
        .iter()
        .map(|m| Change {
            metric: m.metric.clone(),
            kind: m.kind.clone(),
            base: Some(m.value),
            new: find(new, m),
        })
        .collect();
    for m in new {
        if find(base, m).is_none() {
            out.push(Change {
                metric: m.metric.clone(),
                kind: m.kind.clone(),
                base: None,
                new: Some(m.value),
            });
        }
    }
    out
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Bound {
    /// `>+20%` / `<-10%`: relative change (fraction).
    Relative(f64),
    /// `>+5` / `<-5`: absolute change.
    Delta(f64),
    /// `>50` / `<10`: the new value itself.
    Value(f64),
}

/// One `--fail-on` rule.
#[derive(Debug, Clone, PartialEq)]
pub struct FailOn {
    pub text: String,
    pub metric: String,
    pub kind: String,
    /// `true` for `>`, `false` for `<`.
    pub above: bool,
    pub bound: Bound,
}

const EXAMPLE: &str = "write e.g. 'p99_latency_ms>+20%', 'failed>+5', 'achieved_rate<-10%', 'p99_lateness_ms>50' or 'p99_latency_ms[transfer]>+20%'";

pub fn parse_fail_on(text: &str) -> Result<FailOn, String> {
    let bad = |why: &str| format!("--fail-on '{text}': {why}\n  help: {EXAMPLE}");
    let (lhs, rhs, above) = match (text.split_once('>'), text.split_once('<')) {
        (Some((l, r)), None) => (l, r, true),
        (None, Some((l, r))) => (l, r, false),
        _ => return Err(bad("needs exactly one '>' or '<'")),
    };
    let lhs = lhs.trim();
    let (metric, kind) = match lhs.split_once('[') {
        Some((m, k)) => (
            m,
            k.strip_suffix(']')
                .ok_or_else(|| bad("a kind selector ends with ']'"))?,
        ),
        None => (lhs, "all"),
    };
    if metric.is_empty()
        || !metric
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        return Err(bad("the metric name is missing or malformed"));
    }
    let rhs = rhs.trim();
    let signed = rhs.starts_with('+') || rhs.starts_with('-');
    let (num, percent) = match rhs.strip_suffix('%') {
        Some(n) => (n, true),
        None => (rhs, false),
    };
    let v: f64 = num
        .parse()
        .map_err(|_| bad(&format!("'{rhs}' is not a number")))?;
    if !v.is_finite() {
        return Err(bad("the bound must be finite"));
    }
    if percent && !above && v <= -100.0 {
        // Summary values are never negative: a drop of 100 % or more never happens (1 -> 0 is
        // exactly -100 %), so such a rule would pass every run.
        return Err(bad(&format!(
            "a change below {v}% can never happen (values are never negative: 1 -> 0 is exactly -100%), so this rule would never fire; gate the new value instead, e.g. '{metric}<1' for a boolean row such as schedule_kept or cause_ok"
        )));
    }
    let bound = match (percent, signed) {
        (true, true) => Bound::Relative(v / 100.0),
        (true, false) => return Err(bad("a percentage needs a sign: +20% or -10%")),
        (false, true) => Bound::Delta(v),
        (false, false) => Bound::Value(v),
    };
    Ok(FailOn {
        text: text.to_string(),
        metric: metric.to_string(),
        kind: kind.to_string(),
        above,
        bound,
    })
}

/// The rules that fire, one line each; an error for a rule whose metric neither run has.
pub fn triggered(rules: &[FailOn], changes: &[Change]) -> Result<Vec<String>, String> {
    let mut hits = Vec::new();
    for r in rules {
        let c = changes
            .iter()
            .find(|c| c.metric == r.metric && c.kind == r.kind)
            .ok_or_else(|| {
                format!(
                    "--fail-on '{}': no metric {} for kind {} in either run (see summary.csv)",
                    r.text, r.metric, r.kind
                )
            })?;
        let measured = match r.bound {
            Bound::Relative(_) => c.rel(),
            Bound::Delta(_) => c.abs(),
            Bound::Value(_) => c.new,
        };
        let limit = match r.bound {
            Bound::Relative(x) | Bound::Delta(x) | Bound::Value(x) => x,
        };
        let Some(m) = measured else {
            continue;
        };
        let hit = if r.above { m > limit } else { m < limit };
        if hit {
            hits.push(format!(
                "{}[{}]: {} -> {} ({}) hits --fail-on '{}'",
                c.metric,
                c.kind,
                shown(c.base),
                shown(c.new),
                describe(c),
                r.text
            ));
        }
    }
    Ok(hits)
}

fn shown(v: Option<f64>) -> String {
    v.map_or("-".into(), format_value)
}

fn describe(c: &Change) -> String {
    let abs = c.abs().map_or("-".into(), |a| {
        if a >= 0.0 {
            format!("+{}", format_value(a))
        } else {
            format_value(a)
        }
    });
    match c.rel() {
        Some(r) => format!("{abs}, {:+.1}%", r * 100.0),
        None => abs,
    }
}

/// An aligned text table: metric, kind, base, new, change, change%.
pub fn render_table(changes: &[Change]) -> String {
    let mut rows = vec![[
        "metric".to_string(),
        "kind".into(),
        "base".into(),
        "new".into(),
        "change".into(),
        "change%".into(),
    ]];
    for c in changes {
        rows.push([
            c.metric.clone(),
            c.kind.clone(),
            shown(c.base),
            shown(c.new),
            c.abs().map_or("-".into(), |a| {
                if a > 0.0 {
                    format!("+{}", format_value(a))
                } else {
                    format_value(a)
                }
            }),
            c.rel()
                .map_or("-".into(), |r| format!("{:+.1}%", r * 100.0)),
        ]);
    }
    let mut width = [0usize; 6];
    for r in &rows {
        for (i, cell) in r.iter().enumerate() {
            width[i] = width[i].max(cell.len());
        }
    }
    let mut out = String::new();
    for r in &rows {
        for (i, cell) in r.iter().enumerate() {
            if i < 2 {
                out.push_str(&format!("{cell:<w$}  ", w = width[i]));
            } else {
                out.push_str(&format!("{cell:>w$}  ", w = width[i]));
            }
        }
        out = out.trim_end().to_string();
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(metric: &str, kind: &str, value: f64) -> Metric {
        Metric {
            metric: metric.into(),
            kind: kind.into(),
            value,
        }
    }

    #[test]
    fn rules_of_every_form() {
        let base = vec![
            m("p99_latency_ms", "all", 100.0),
            m("failed", "all", 0.0),
            m("achieved_rate", "all", 20.0),
            m("p99_latency_ms", "transfer", 50.0),
        ];
        let new = vec![
            m("p99_latency_ms", "all", 130.0),
            m("failed", "all", 6.0),
            m("achieved_rate", "all", 17.0),
            m("p99_latency_ms", "transfer", 55.0),
        ];
        let ch = compare(&base, &new);
        let hits = |rule: &str| {
            triggered(&[parse_fail_on(rule).unwrap()], &ch)
                .unwrap()
                .len()
        };
        assert_eq!(hits("p99_latency_ms>+20%"), 1);
        assert_eq!(hits("p99_latency_ms>+40%"), 0);
        assert_eq!(hits("failed>+5"), 1);
        assert_eq!(hits("failed>+6"), 0);
        assert_eq!(hits("achieved_rate<-10%"), 1);
        assert_eq!(hits("achieved_rate<-20%"), 0);
        assert_eq!(hits("p99_latency_ms>120"), 1);
        assert_eq!(hits("p99_latency_ms[transfer]>+20%"), 0);
        assert_eq!(hits("p99_latency_ms[transfer]>+5%"), 1);
        // From a zero base, any rise is an infinite relative rise.
        assert_eq!(hits("failed>+10%"), 1);
        assert_eq!(hits("failed<-10%"), 0);
        assert!(triggered(&[parse_fail_on("nope>1").unwrap()], &ch).is_err());
        let t = render_table(&ch);
        assert!(t.contains("+30.0%") && t.lines().count() == 5, "{t}");
    }

    #[test]
    fn bad_rules_say_how_to_write_them() {
        for bad in ["p99", "a>b", "x>20%", "x>>1", "x[all>1", ">5"] {
            let e = parse_fail_on(bad).unwrap_err();
            assert!(e.contains("help: write e.g."), "{bad}: {e}");
        }
        let r = parse_fail_on("p99_latency_ms<-5%").unwrap();
        assert_eq!((r.above, r.bound), (false, Bound::Relative(-0.05)));
    }

    #[test]
    fn rules_that_could_never_fire_are_refused_and_boolean_rows_gate_absolutely() {
        let e = parse_fail_on("schedule_kept<-100%").unwrap_err();
        assert!(e.contains("'schedule_kept<1'"), "{e}");
        let m = |v: f64| Metric {
            metric: "schedule_kept".into(),
            kind: "all".into(),
            value: v,
        };
        let rule = parse_fail_on("schedule_kept<1").unwrap();
        let fell_behind = compare(&[m(1.0)], &[m(0.0)]);
        assert_eq!(
            triggered(std::slice::from_ref(&rule), &fell_behind)
                .unwrap()
                .len(),
            1
        );
        let kept = compare(&[m(0.0)], &[m(1.0)]);
        assert!(triggered(&[rule], &kept).unwrap().is_empty());
    }
}
