//! The result row of one plan step (a line of `steps.csv`): written by the executor, read back
//! by `loadrun report` and `loadrun diff`. Pure data, no I/O beyond `csv` readers/writers.

use serde::{Deserialize, Serialize};

/// The columns of `steps.csv`, in order (DESIGN.md "Results").
pub const STEPS_COLUMNS: [&str; 18] = [
    "step",
    "at_ms",
    "kind",
    "workload",
    "role",
    "wallet",
    "job",
    "status",
    "error",
    "sent_ms",
    "lateness_ms",
    "tx_hash",
    "block",
    "latency_ms",
    "gas_used",
    "fee_wei",
    "blob_gas_used",
    "blob_fee_wei",
];

/// What became of a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Ok,
    /// Sent or attempted and failed; `error` holds `class: message`.
    Failed,
    /// Not attempted because a step it depends on (its channel's create) failed.
    Skipped,
    /// Sent, but no receipt within the wait.
    Timeout,
    /// The run stopped (Ctrl-C) before the step's time.
    NotSent,
    /// The node stopped answering: the step was never sent, or was sent and got no receipt
    /// before the node went down (`error` says which).
    NodeDown,
}

impl Status {
    pub const ALL: [Status; 6] = [
        Self::Ok,
        Self::Failed,
        Self::Skipped,
        Self::Timeout,
        Self::NotSent,
        Self::NodeDown,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Failed => "failed",
            Self::Skipped => "skipped",
            Self::Timeout => "timeout",
            Self::NotSent => "not_sent",
            Self::NodeDown => "node_down",
        }
    }
}

/// Error classes of failed steps, in report order.
pub const ERROR_CLASSES: [&str; 7] = [
    "nonce",
    "underpriced",
    "insufficient_funds",
    "reverted",
    "rpc_timeout",
    "connection",
    "other",
];

/// One line of `steps.csv`. Empty CSV cells are `None`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRow {
    /// Index of the step in the plan.
    pub step: u64,
    /// Scheduled offset from the run's start, ms.
    pub at_ms: u64,
    /// Plan step kind (`transfer`, `create_channel`, …).
    pub kind: String,
    /// Index of the workload in the scenario.
    pub workload: u32,
    pub role: String,
    /// Wallet index within the role.
    pub wallet: u32,
    /// Job id (`ch-000001`, `tx-000042`, …).
    pub job: String,
    pub status: Status,
    /// `class: message` for failed, the reason for skipped/timeout; empty otherwise.
    pub error: String,
    /// When the step actually fired, ms from the run's start (fractional, µs precision).
    pub sent_ms: Option<f64>,
    /// sent_ms − at_ms.
    pub lateness_ms: Option<f64>,
    /// Empty for off-chain steps.
    pub tx_hash: String,
    /// Block that included the transaction.
    pub block: Option<u64>,
    /// On-chain steps: from send to the arrival of the block holding the receipt; off-chain
    /// steps: the signing round trip between the two roles.
    pub latency_ms: Option<f64>,
    pub gas_used: Option<u64>,
    /// What the wallet paid in all, wei: gas_used × effective gas price, plus a blob
    /// transaction's blob fee (decimal string in the CSV: may exceed u64).
    pub fee_wei: Option<u128>,
    /// A blob transaction's blob gas (from its receipt).
    pub blob_gas_used: Option<u64>,
    /// blob_gas_used × blob gas price, wei (part of `fee_wei`).
    pub blob_fee_wei: Option<u128>,
}

impl StepRow {
    /// A sent transfer step for unit tests: kind, status, sent at 1 ms, nothing else set.
    #[cfg(test)]
    pub fn sample(kind: &str, status: Status) -> StepRow {
        StepRow {
            step: 0,
            at_ms: 0,
            kind: kind.into(),
            workload: 0,
            role: "A".into(),
            wallet: 0,
            job: "tx-000000".into(),
            status,
            error: String::new(),
            sent_ms: Some(1.0),
            lateness_ms: Some(1.0),
            tx_hash: String::new(),
            block: None,
            latency_ms: None,
            gas_used: None,
            fee_wei: None,
            blob_gas_used: None,
            blob_fee_wei: None,
        }
    }

    /// The error class of a failed step (`nonce`, `reverted`, …), from the `error` column.
    pub fn error_class(&self) -> Option<&str> {
        (self.status == Status::Failed)
            .then(|| self.error.split(':').next().unwrap_or("other").trim())
    }
}

/// Writes rows with the header of `STEPS_COLUMNS`.
pub fn write_steps<W: std::io::Write>(rows: &[StepRow], w: W) -> csv::Result<()> {
    let mut out = csv::Writer::from_writer(w);
    for row in rows {
        out.serialize(CsvRow::from(row))?;
    }
    out.flush()?;
    Ok(())
}

/// A `steps.csv` writer for rows appended as they arrive (header on the first row).
pub fn steps_writer<W: std::io::Write>(w: W) -> csv::Writer<W> {
    csv::Writer::from_writer(w)
}

/// Appends one row to a `steps_writer`.
pub fn append_step<W: std::io::Write>(out: &mut csv::Writer<W>, row: &StepRow) -> csv::Result<()> {
    out.serialize(CsvRow::from(row))
}

/// Reads `steps.csv`.
pub fn read_steps<R: std::io::Read>(r: R) -> csv::Result<Vec<StepRow>> {
    csv::Reader::from_reader(r)
        .deserialize::<CsvRow>()
        .map(|r| r.map(StepRow::from))
        .collect()
}

/// Streams `steps.csv` one row at a time (nothing is collected).
pub fn each_step<R: std::io::Read>(r: R, mut f: impl FnMut(StepRow)) -> csv::Result<()> {
    for row in csv::Reader::from_reader(r).deserialize::<CsvRow>() {
        f(StepRow::from(row?));
    }
    Ok(())
}

/// A row of `steps.csv` as raw CSV fields, parsed with the file's `headers`.
pub fn parse_record(record: &csv::ByteRecord, headers: &csv::ByteRecord) -> csv::Result<StepRow> {
    record
        .deserialize::<CsvRow>(Some(headers))
        .map(StepRow::from)
}

/// The `step` column of a raw row (the first field).
pub fn record_step(record: &csv::ByteRecord) -> Option<u64> {
    std::str::from_utf8(record.get(0)?).ok()?.parse().ok()
}

/// The CSV shape: floats rounded to µs, wei as a decimal string.
#[derive(Serialize, Deserialize)]
struct CsvRow {
    step: u64,
    at_ms: u64,
    kind: String,
    workload: u32,
    role: String,
    wallet: u32,
    job: String,
    status: Status,
    error: String,
    sent_ms: Option<String>,
    lateness_ms: Option<String>,
    tx_hash: String,
    block: Option<u64>,
    latency_ms: Option<String>,
    gas_used: Option<u64>,
    fee_wei: Option<String>,
    /// Absent from the steps.csv of an earlier release.
    #[serde(default)]
    blob_gas_used: Option<u64>,
    #[serde(default)]
    blob_fee_wei: Option<String>,
}

fn ms(v: Option<f64>) -> Option<String> {
    v.map(|v| format!("{v:.3}"))
}

impl From<&StepRow> for CsvRow {
    fn from(r: &StepRow) -> Self {
        Self {
            step: r.step,
            at_ms: r.at_ms,
            kind: r.kind.clone(),
            workload: r.workload,
            role: r.role.clone(),
            wallet: r.wallet,
            job: r.job.clone(),
            status: r.status,
            error: r.error.clone(),
            sent_ms: ms(r.sent_ms),
            lateness_ms: ms(r.lateness_ms),
            tx_hash: r.tx_hash.clone(),
            block: r.block,
            latency_ms: ms(r.latency_ms),
            gas_used: r.gas_used,
            fee_wei: r.fee_wei.map(|f| f.to_string()),
            blob_gas_used: r.blob_gas_used,
            blob_fee_wei: r.blob_fee_wei.map(|f| f.to_string()),
        }
    }
}

impl From<CsvRow> for StepRow {
    fn from(r: CsvRow) -> Self {
        let f = |v: Option<String>| v.and_then(|s| s.parse().ok());
        Self {
            step: r.step,
            at_ms: r.at_ms,
            kind: r.kind,
            workload: r.workload,
            role: r.role,
            wallet: r.wallet,
            job: r.job,
            status: r.status,
            error: r.error,
            sent_ms: f(r.sent_ms),
            lateness_ms: f(r.lateness_ms),
            tx_hash: r.tx_hash,
            block: r.block,
            latency_ms: f(r.latency_ms),
            gas_used: r.gas_used,
            fee_wei: r.fee_wei.and_then(|s| s.parse().ok()),
            blob_gas_used: r.blob_gas_used,
            blob_fee_wei: r.blob_fee_wei.and_then(|s| s.parse().ok()),
        }
    }
}
