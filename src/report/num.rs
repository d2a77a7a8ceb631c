//! Numbers as the report keeps and writes them: a histogram of milliseconds (`Ms`), its
//! quantiles, and values formatted for the CSV files and pages.

use hdrhistogram::Histogram;

/// A histogram of milliseconds, recorded in microseconds (3 significant digits).
pub struct Ms(Histogram<u64>);

impl Default for Ms {
    fn default() -> Self {
        Self(Histogram::new(3).expect("3 significant digits is a valid precision"))
    }
}

impl Ms {
    pub fn record(&mut self, ms: f64) {
        if ms.is_finite() && ms >= 0.0 {
            // Auto-resizing histogram: any value fits.
            let _ = self.0.record((ms * 1000.0).round() as u64);
        }
    }

    pub fn len(&self) -> u64 {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The value at quantile `q` (0..=1), ms.
    pub fn at(&self, q: f64) -> f64 {
        self.0.value_at_quantile(q) as f64 / 1000.0
    }

    pub fn max(&self) -> f64 {
        self.0.max() as f64 / 1000.0
    }

    /// The recorded values (ms, each a bucket's highest equivalent) and their counts.
    pub fn recorded(&self) -> impl Iterator<Item = (f64, u64)> + '_ {
        self.0
            .iter_recorded()
            .map(|v| (v.value_iterated_to() as f64 / 1000.0, v.count_at_value()))
    }
}

/// The value at quantile `q` (0..=1) of an HDR histogram, ms (3 significant digits); 0 when empty.
pub fn quantile(h: &Ms, q: f64) -> f64 {
    if h.is_empty() { 0.0 } else { h.at(q) }
}

/// A value as written: integers without decimals, others with at most 3.
pub fn format_value(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e21 {
        format!("{v:.0}")
    } else {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}
