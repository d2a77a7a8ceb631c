//! Scenario files: reading, parsing (serde, `deny_unknown_fields`) and validation into typed values.
//!
//! Pure: no tokio, no RPC. Every user error becomes a located `Diagnostic`.

pub mod diag;
pub mod model;
pub mod raw;
pub mod template;
pub mod units;
mod validate;

use std::fmt;
use std::path::Path;

pub use diag::Diagnostic;
pub use model::*;
pub use validate::{MAX_WORKLOADS, estimated_steps, poisson_bound, staged_count};

use diag::SourceMap;
use raw::RawScenario;

/// Why a scenario could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error(
        "cannot read scenario {path}: {source}\n  help: check the path; scenarios usually live in scenarios/*.toml"
    )]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Invalid(Diagnostics),
}

/// One or more diagnostics, printed one per paragraph.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "error: {d}")?;
        }
        Ok(())
    }
}

/// A loaded scenario with the text it came from (kept for run.toml and the report).
#[derive(Debug, Clone)]
pub struct Loaded {
    pub scenario: Scenario,
    pub file: String,
    pub text: String,
}

impl Loaded {
    /// A problem of `[[workload]]` number `workload` (0-based) found after validation (a
    /// seed-dependent plan error), located at its `key` in the file.
    pub fn locate_workload(
        &self,
        workload: usize,
        key: &str,
        message: String,
        help: String,
    ) -> ScenarioError {
        let map = SourceMap::new(&self.file, &self.text);
        let path = diag::KeyPath::root()
            .key("workload")
            .index(workload)
            .key(key);
        ScenarioError::Invalid(Diagnostics(vec![map.at(path, message, Some(help))]))
    }

    /// A `[funding]` shortfall found against the chain, located at `funding.<key>` in the file.
    pub fn locate_funding(&self, key: &str, message: String, help: String) -> ScenarioError {
        let map = SourceMap::new(&self.file, &self.text);
        let path = diag::KeyPath::root().key("funding").key(key);
        ScenarioError::Invalid(Diagnostics(vec![map.at(path, message, Some(help))]))
    }

    /// A problem found after validation, located at the key path `keys` (e.g. `["expect",
    /// "min_rate", "0"]`) in the file.
    pub fn locate_key(&self, keys: &[&str], message: String, help: String) -> ScenarioError {
        let map = SourceMap::new(&self.file, &self.text);
        let path = keys.iter().fold(diag::KeyPath::root(), |p, k| p.key(k));
        ScenarioError::Invalid(Diagnostics(vec![map.at(path, message, Some(help))]))
    }
}

/// Reads and validates a scenario file.
pub fn load(path: &Path, max_steps: u64) -> Result<Loaded, ScenarioError> {
    load_scaled(path, max_steps, 1.0)
}

/// `load` with every rate and stage target multiplied by `rate_scale` (`--rate-scale`), before
/// the step cap is checked.
pub fn load_scaled(path: &Path, max_steps: u64, rate_scale: f64) -> Result<Loaded, ScenarioError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
        path: file.clone(),
        source,
    })?;
    let scenario = parse_scaled(&file, &text, max_steps, rate_scale)?;
    Ok(Loaded {
        scenario,
        file,
        text,
    })
}

/// `load_scaled` for a step of `loadrun capacity`: `[capacity].step_duration`, when set,
/// replaces `[scenario].duration` (the workloads that run over it run that long).
pub fn load_capacity_step(
    path: &Path,
    max_steps: u64,
    rate_scale: f64,
) -> Result<Loaded, ScenarioError> {
    let mut loaded = load_scaled(path, max_steps, rate_scale)?;
    let map = SourceMap::new(&loaded.file, &loaded.text);
    let mut raw: RawScenario = toml::from_str(&loaded.text).map_err(|e| {
        ScenarioError::Invalid(Diagnostics(vec![map.at_span(e.span(), e.message())]))
    })?;
    if let Some(d) = raw.capacity.as_ref().and_then(|c| c.step_duration.clone()) {
        raw.scenario.duration = d;
        loaded.scenario = validate::validate(&raw, &map, (max_steps, rate_scale), None)
            .map_err(|d| ScenarioError::Invalid(Diagnostics(d)))?;
    }
    Ok(loaded)
}

/// Parses and validates scenario text; `file` is used only in messages.
pub fn parse(file: &str, text: &str, max_steps: u64) -> Result<Scenario, ScenarioError> {
    parse_scaled(file, text, max_steps, 1.0)
}

/// `parse` with every rate scaled by `rate_scale`.
pub fn parse_scaled(
    file: &str,
    text: &str,
    max_steps: u64,
    rate_scale: f64,
) -> Result<Scenario, ScenarioError> {
    parse_in(file, text, (max_steps, rate_scale), None)
}

/// `parse_scaled` with `[contracts]` artifacts read relative to `base` (default: `file`'s
/// directory): a run's recorded scenario text is parsed again in its original directory.
pub fn parse_in(
    file: &str,
    text: &str,
    (max_steps, rate_scale): (u64, f64),
    base: Option<&Path>,
) -> Result<Scenario, ScenarioError> {
    let map = SourceMap::new(file, text);
    let raw: RawScenario = toml::from_str(text).map_err(|e| {
        ScenarioError::Invalid(Diagnostics(vec![map.at_span(e.span(), e.message())]))
    })?;
    validate::validate(&raw, &map, (max_steps, rate_scale), base)
        .map_err(|d| ScenarioError::Invalid(Diagnostics(d)))
}

/// The JSON Schema of the scenario format, pretty-printed with a trailing newline.
pub fn json_schema() -> String {
    let schema = schemars::schema_for!(RawScenario);
    let mut out = serde_json::to_string_pretty(&schema).expect("schema serializes");
    out.push('\n');
    out
}
