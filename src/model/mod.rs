//! The shared vocabulary every layer may use and that uses no other layer: step kinds, job
//! ids, wallet references, amounts, the gas table, step rows and their statuses, node samples.
//! Pure data; nothing here talks to a chain or spawns a task.

pub mod gas;
pub mod node;
pub mod num;
pub mod observed;
pub mod order;
pub mod rows;
mod step;
pub mod telemetry;

pub use step::{Amount, JobId, JobPrefix, RoleId, StepKind, WalletRef};
