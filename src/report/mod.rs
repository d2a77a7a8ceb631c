//! Results: step rows, summary metrics, expectations, sanity, diff and the HTML report.

pub mod diff;
pub mod expect;
pub mod html;
pub mod node;
pub mod rows;
pub mod sanity;
pub mod summary;
pub mod svg;
