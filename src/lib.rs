//! loadrun: reproducible, CI-native load tests of EVM chains from a TOML scenario.
//!
//! Pure core (`scenario`, `plan`) and I/O at the edges (`cli`).

pub mod cli;
pub mod error;
pub mod plan;
pub mod scenario;
