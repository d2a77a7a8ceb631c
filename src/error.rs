//! Top-level errors and the process exit codes documented in `--help` and the README.

/// Named exit codes (DESIGN.md): never bare integers elsewhere.
pub struct ExitCode;

impl ExitCode {
    pub const OK: u8 = 0;
    /// An expectation or sanity check failed.
    pub const CHECK_FAILED: u8 = 1;
    /// Invalid scenario or usage.
    pub const INVALID: u8 = 2;
    /// Chain or setup failure.
    pub const CHAIN: u8 = 3;
    /// Interrupted by Ctrl-C; results flushed.
    pub const INTERRUPTED: u8 = 130;

    /// What a code means (README "Exit codes").
    pub fn meaning(code: u8) -> &'static str {
        match code {
            Self::OK => "ok",
            Self::CHECK_FAILED => "an expectation or sanity check failed",
            Self::INVALID => "invalid scenario or usage",
            Self::CHAIN => "chain or setup failure",
            Self::INTERRUPTED => "interrupted (Ctrl-C); results flushed",
            _ => "unknown exit code",
        }
    }
}

/// An error that ends the process, carrying its exit code.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Scenario(#[from] crate::scenario::ScenarioError),
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Chain(#[from] crate::chain::ChainError),
    /// `[funding]` cannot cover the plan (located by the CLI with `Loaded::locate_funding`).
    #[error("[funding].{key} {message}\n  help: {help}")]
    Underfunded {
        key: &'static str,
        message: String,
        help: String,
    },
    /// The run was interrupted (Ctrl-C) before it could finish a phase.
    #[error("interrupted")]
    Interrupted,
    #[error("cannot write {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
}

impl Error {
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Scenario(_) | Self::Usage(_) | Self::Underfunded { .. } => ExitCode::INVALID,
            Self::Chain(_) | Self::Write { .. } => ExitCode::CHAIN,
            Self::Interrupted => ExitCode::INTERRUPTED,
        }
    }
}
