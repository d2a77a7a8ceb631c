//! Results: step rows, summary metrics, expectations, sanity, diff and the HTML report.

pub mod expect;
pub mod rows;
pub mod sanity;
pub mod summary;
