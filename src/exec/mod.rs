//! Execution against a chain: set-up (connect, check, deploy, fund), the funding executor, and
//! the plan executor (scheduler, role actors, wallet lanes, receipt watcher, collector).

pub mod actor;
pub mod batch;
pub mod blobs;
pub mod book;
pub mod cadence;
pub mod calls;
pub mod clock;
pub mod collect;
pub mod delegate;
pub mod fund;
pub mod interrupt;
pub mod lane;
pub mod live;
pub mod msg;
pub mod nodemon;
pub mod progress;
pub mod reads;
pub mod recover;
pub mod reorg;
pub mod run;
pub mod send_path;
pub mod setup;
pub mod setup_calls;
pub mod states;
pub mod telemetry;
pub mod watched;
pub mod watcher;
