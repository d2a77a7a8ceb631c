//! Results: step rows, summary metrics, expectations, sanity, diff and the HTML report.

pub mod rows;
