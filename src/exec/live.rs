//! Live metrics of a run through the `metrics` facade (a no-op unless `--metrics` installed an
//! exporter): the names and labels, in one place.

use metrics::{
    Unit, counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram,
};

use crate::model::rows::{Status, StepRow};

pub const STEPS: &str = "loadrun_steps_total";
pub const FIRED: &str = "loadrun_steps_fired_total";
pub const IN_FLIGHT: &str = "loadrun_steps_in_flight";
pub const LATENESS: &str = "loadrun_lateness_ms";
pub const INCLUSION: &str = "loadrun_inclusion_latency_ms";
pub const RPC_RETRIES: &str = "loadrun_rpc_retries_total";

/// Set once an exporter is installed: without one, the per-step calls return at once instead
/// of building labels (a String per label per step) for the no-op recorder.
static ENABLED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

fn enabled() -> bool {
    ENABLED.load(std::sync::atomic::Ordering::Relaxed)
}

/// Help lines for `/metrics`; from now on steps are recorded.
pub fn describe() {
    ENABLED.store(true, std::sync::atomic::Ordering::Relaxed);
    describe_counter!(STEPS, "Steps with a result, by step kind and status");
    describe_counter!(FIRED, "Steps fired by the schedule");
    describe_gauge!(IN_FLIGHT, "Steps fired and without a result yet");
    describe_histogram!(
        LATENESS,
        Unit::Milliseconds,
        "Send lateness: sent - scheduled"
    );
    describe_histogram!(
        INCLUSION,
        Unit::Milliseconds,
        "Inclusion latency of ok on-chain steps: send to the block that holds them"
    );
    describe_counter!(RPC_RETRIES, "Transient RPC failures retried");
}

/// A step was fired.
pub fn fired() {
    if !enabled() {
        return;
    }
    counter!(FIRED).increment(1);
    gauge!(IN_FLIGHT).increment(1.0);
}

/// A step's result arrived.
pub fn done(r: &StepRow, rpc_retries: u64) {
    if !enabled() {
        return;
    }
    counter!(STEPS, "kind" => r.kind.clone(), "status" => r.status.as_str()).increment(1);
    gauge!(IN_FLIGHT).decrement(1.0);
    if let Some(l) = r.lateness_ms {
        histogram!(LATENESS, "kind" => r.kind.clone()).record(l);
    }
    if r.status == Status::Ok
        && r.block.is_some()
        && let Some(l) = r.latency_ms
    {
        histogram!(INCLUSION, "kind" => r.kind.clone()).record(l);
    }
    counter!(RPC_RETRIES).absolute(rpc_retries);
}

/// The final count of `kind` steps with `status`.
pub fn set_steps(kind: &str, status: Status, n: u64) {
    counter!(STEPS, "kind" => kind.to_string(), "status" => status.as_str()).absolute(n);
}

pub fn set_rpc_retries(n: u64) {
    counter!(RPC_RETRIES).absolute(n);
}

pub fn in_flight(n: u64) {
    gauge!(IN_FLIGHT).set(n as f64);
}
