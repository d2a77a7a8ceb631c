//! loadrun: reproducible, CI-native load tests of EVM chains from a TOML scenario.
//!
//! Layers, bottom up (ARCHITECTURE.md; `tests/layering.rs` holds them): `model` (shared
//! vocabulary), `scenario`, `wallets`, `plan`, `fund` (pure), `chain` (the node), `error`, `exec`
//! (the executor), `report` (results), `pipeline` (the run's stages), `cli` (arguments, printing).

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
