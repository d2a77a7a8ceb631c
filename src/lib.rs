//! loadrun: reproducible, CI-native load tests of EVM chains from a TOML scenario.
//!
//! Pure core (`scenario`, `plan`) and I/O at the edges (`cli`).

pub mod chain;
pub mod cli;
pub mod error;
pub mod exec;
pub mod fund;
pub mod model;
pub mod pipeline;
pub mod plan;
pub mod report;
pub mod scenario;
pub mod wallets;
