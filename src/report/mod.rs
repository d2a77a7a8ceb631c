//! Results: step rows, summary metrics, expectations, sanity, diff and the HTML report.

pub mod blocks;
pub mod diff;
pub mod expect;
pub mod html;
pub mod node;
pub mod perf;
pub mod rates;
pub mod rows;
pub mod sanity;
pub mod summary;
pub mod svg;
pub mod tally;
pub mod verdict;
pub mod verdict_text;
