//! Results: step rows, summary metrics, expectations, sanity, diff and the HTML report.

pub mod blocks;
pub mod capacity;
pub mod capacity_html;
pub mod cause;
pub mod diff;
pub mod expect;
pub mod html;
pub use crate::model::node;
pub mod num;
pub mod perf;
pub mod rates;
pub use crate::model::rows;
pub mod sanity;
pub mod summary;
pub mod svg;
pub mod tally;
pub mod verdict;
pub mod verdict_text;
pub mod views;
