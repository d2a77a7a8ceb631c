//! Execution against a chain: the funding executor (and, next, the plan scheduler).

pub mod fund;
pub mod interrupt;
pub mod progress;
pub mod setup;
