//! `[capacity]`: the SLO of a capacity step and the search's bounds, each key checked for a
//! value the search can use.

use super::Ctx;
use crate::scenario::diag::KeyPath;
use crate::scenario::model::Capacity;
use crate::scenario::raw::RawCapacity;

/// Validates `[capacity]`; omitted keys take `Capacity::default()`'s values.
pub(super) fn validate(cx: &mut Ctx, raw: RawCapacity) -> Capacity {
    let path = KeyPath::root().key("capacity");
    let d = Capacity::default();
    let mut num = |key: &str, v: Option<f64>, default: f64, ok: fn(f64) -> bool, help: &str| match v
    {
        Some(x) if !(x.is_finite() && ok(x)) => {
            cx.err(
                path.key(key),
                format!("{x} is out of range"),
                Some(help.into()),
            );
            default
        }
        Some(x) => x,
        None => default,
    };
    let share = |x: f64| (0.0..=1.0).contains(&x);
    let c = Capacity {
        max_p99_inclusion_ms: d.max_p99_inclusion_ms,
        max_failed: num(
            "max_failed",
            raw.max_failed,
            d.max_failed,
            share,
            "write a share between 0 and 1, e.g. 0.01 for 1 %",
        ),
        min_included: num(
            "min_included",
            raw.min_included,
            d.min_included,
            share,
            "write a share of the target rate between 0 and 1, e.g. 0.9",
        ),
        start_scale: num(
            "start_scale",
            raw.start_scale,
            d.start_scale,
            |x| x > 0.0,
            "write a positive rate scale, e.g. 1",
        ),
        max_scale: num(
            "max_scale",
            raw.max_scale,
            d.max_scale,
            |x| x > 0.0,
            "write a positive rate scale, e.g. 64",
        ),
        growth: num(
            "growth",
            raw.growth,
            d.growth,
            |x| x > 1.0 && x <= 16.0,
            "write a factor above 1 and at most 16, e.g. 2",
        ),
        precision: num(
            "precision",
            raw.precision,
            d.precision,
            |x| (0.01..=1.0).contains(&x),
            "write a share between 0.01 and 1, e.g. 0.05 for 5 %",
        ),
        min_rate: raw.min_rate.map(|r| {
            num(
                "min_rate",
                Some(r),
                0.0,
                |x| x > 0.0,
                "write a positive rate in transactions per second",
            )
        }),
    };
    let max_p99_inclusion_ms = raw
        .max_p99_inclusion
        .as_ref()
        .and_then(|t| cx.duration(path.key("max_p99_inclusion"), t, false))
        .unwrap_or(d.max_p99_inclusion_ms);
    if let Some(t) = &raw.step_duration {
        cx.duration(path.key("step_duration"), t, false);
    }
    if c.start_scale > c.max_scale {
        cx.err(
            path.key("start_scale"),
            format!("{} is above max_scale {}", c.start_scale, c.max_scale),
            Some("lower start_scale or raise max_scale".into()),
        );
    }
    Capacity {
        max_p99_inclusion_ms,
        ..c
    }
}
