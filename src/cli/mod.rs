//! Command line: clap derive, one `Args` struct per subcommand, and dispatch to the stages.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

use crate::error::{Error, ExitCode};
use crate::plan::output;
use crate::scenario::{self, DEFAULT_MAX_STEPS};

mod capacity;
mod chain;
mod checks;
mod finish;
pub mod log;
mod merge;
mod metrics;
mod part;
mod results;
mod run;

const EXIT_CODES: &str = "\
Exit codes:
  0    ok
  1    an expectation or sanity check failed
  2    invalid scenario or usage
  3    chain or setup failure
  130  interrupted (Ctrl-C); results flushed

The terminal shows progress, warnings (a repeated one folded into a count) and the results'
summary lines, among them the verdict's cause and what to do about it; the full log goes to
loadrun.log in the run directory, from the first line to the exit reason (-v or LOADRUN_LOG=debug
also puts it on stderr); results go to files. --json prints the verdict, its cause, exit_code and
exit_reason on stdout.";

/// Reproducible load tests of EVM chains from a TOML scenario committed to git.
#[derive(Debug, Parser)]
#[command(name = "loadrun", version, about, after_help = EXIT_CODES, arg_required_else_help = true)]
pub struct Cli {
    /// Show the full log (timestamps, info lines) on stderr too; it always goes to loadrun.log
    /// in the run directory. LOADRUN_LOG=debug (a tracing filter) does the same at that level.
    #[arg(short, long, global = true)]
    pub verbose: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a scenario on a chain: plan, deploy, fund, execute, write results (also `loadrun FILE`).
    Run(run::RunArgs),
    /// Print the step plan a scenario expands to (counts go to stderr).
    Plan(PlanArgs),
    /// Parse and validate scenarios (and expand their plans) without touching a chain.
    Validate(ValidateArgs),
    /// Print the derived wallet addresses per role (CSV role,index,address; never a key).
    Wallets(chain::WalletsArgs),
    /// Funding phase only: deploy what is missing and top up every wallet (idempotent).
    Fund(chain::ChainArgs),
    /// Return what the wallets hold (tokens, then ETH minus gas) to the funder.
    Sweep(chain::ChainArgs),
    /// Compare two runs' summary.csv; --fail-on rules make it exit 1.
    Diff(results::DiffArgs),
    /// Re-render report.html of a run directory from its CSV files.
    Report(results::ReportArgs),
    /// Combine the runs of a plan's parts (--shard I/N, --role R) into one run directory:
    /// every plan step once, summary, expectations, sanity over the union, report.
    Merge(merge::MergeArgs),
    /// Find how much load the node sustains and what stops it: the plan run at increasing rate
    /// scales on one chain, searched for the highest within the [capacity] SLO.
    Capacity(capacity::CapacityArgs),
    /// Print the JSON Schema of the scenario format.
    Schema(SchemaArgs),
}

/// Options shared by every command that reads a scenario.
#[derive(Debug, Clone, clap::Args)]
pub struct LimitArgs {
    /// Refuse scenarios whose plan would exceed this many steps.
    #[arg(long, default_value_t = DEFAULT_MAX_STEPS, value_name = "N")]
    pub max_steps: u64,
}

#[derive(Debug, clap::Args)]
pub struct PlanArgs {
    /// Scenario file, e.g. scenarios/quickstart.toml.
    pub scenario: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = PlanFormat::Csv)]
    pub format: PlanFormat,
    /// Write the plan to FILE instead of stdout.
    #[arg(long, short, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Override [scenario].seed.
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
    #[command(flatten)]
    pub limits: LimitArgs,
    /// Multiply every rate and stage target by F.
    #[arg(long, value_name = "F", default_value_t = 1.0, value_parser = parse_rate_scale)]
    pub rate_scale: f64,
}

/// `--rate-scale F`: a finite factor above 0.
pub fn parse_rate_scale(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(f) if f.is_finite() && f > 0.0 => Ok(f),
        _ => Err(format!(
            "`{s}` is not a rate factor: give a number above 0, e.g. 0.5 or 2"
        )),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PlanFormat {
    /// step,at_ms,kind,workload,role,wallet,job,ledger,peer,amount
    Csv,
    /// A header object, then one JSON object per step.
    Jsonl,
}

#[derive(Debug, clap::Args)]
pub struct ValidateArgs {
    /// One or more scenario files.
    #[arg(required = true)]
    pub scenarios: Vec<PathBuf>,
    #[command(flatten)]
    pub limits: LimitArgs,
}

#[derive(Debug, clap::Args)]
pub struct SchemaArgs {
    /// Write the schema to FILE instead of stdout.
    #[arg(long, short, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// Parses the process arguments and runs the command; returns the exit code.
pub fn run() -> u8 {
    let cli = match Cli::try_parse_from(with_run_shorthand(std::env::args_os().collect())) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::INVALID
            } else {
                ExitCode::OK
            };
        }
    };
    log::init(cli.verbose);
    let code = match dispatch(cli.command) {
        Ok(code) => code,
        Err(e) => {
            log::flush_repeats();
            log::say_line(&e.to_string());
            log::set_exit_reason(exit_reason(&e));
            e.exit_code()
        }
    };
    log::exit(code);
    code
}

/// An error's exit reason: the code's meaning and the error's first line.
pub fn exit_reason(e: &Error) -> String {
    let first = e.to_string();
    let first = first.lines().next().unwrap_or_default();
    format!("{}: {first}", ExitCode::meaning(e.exit_code()))
}

/// `loadrun FILE …` means `loadrun run FILE …`: a first argument that is neither a subcommand
/// nor a flag is taken as a scenario.
fn with_run_shorthand(mut args: Vec<std::ffi::OsString>) -> Vec<std::ffi::OsString> {
    use clap::CommandFactory;
    if let Some(first) = args.get(1).and_then(|a| a.to_str()) {
        let cmd = Cli::command();
        let is_sub = cmd
            .get_subcommands()
            .any(|s| s.get_name() == first || s.get_all_aliases().any(|a| a == first))
            || first == "help";
        if !is_sub && !first.starts_with('-') {
            args.insert(1, "run".into());
        }
    }
    args
}

fn dispatch(command: Command) -> Result<u8, Error> {
    match command {
        Command::Plan(args) => plan_cmd(&args),
        Command::Validate(args) => validate_cmd(&args),
        Command::Run(args) => run::run_cmd(&args),
        Command::Wallets(args) => chain::wallets_cmd(&args),
        Command::Fund(args) => chain::fund_cmd(&args),
        Command::Sweep(args) => chain::sweep_cmd(&args),
        Command::Diff(args) => results::diff_cmd(&args),
        Command::Report(args) => results::report_cmd(&args),
        Command::Merge(args) => merge::merge_cmd(&args),
        Command::Capacity(args) => capacity::capacity_cmd(&args),
        Command::Schema(args) => {
            write_output(args.out.as_deref(), |w| {
                w.write_all(scenario::json_schema().as_bytes())
            })?;
            Ok(ExitCode::OK)
        }
    }
}

fn plan_cmd(args: &PlanArgs) -> Result<u8, Error> {
    let loaded = scenario::load_scaled(&args.scenario, args.limits.max_steps, args.rate_scale)?;
    let seed = args.seed.unwrap_or(loaded.scenario.seed);
    let plan = crate::plan::expand_loaded(&loaded, seed)?;
    write_output(args.out.as_deref(), |w| match args.format {
        PlanFormat::Csv => output::write_csv(&plan, w),
        PlanFormat::Jsonl => output::write_jsonl(&plan, w),
    })?;
    eprintln!("{}", output::summary(&plan));
    Ok(ExitCode::OK)
}

fn validate_cmd(args: &ValidateArgs) -> Result<u8, Error> {
    let mut failed = 0;
    for path in &args.scenarios {
        let result = scenario::load(path, args.limits.max_steps)
            .map_err(Error::from)
            .and_then(|l| Ok((crate::plan::expand_loaded(&l, l.scenario.seed)?, l)));
        match result {
            Ok((plan, loaded)) => {
                // What can be checked without a chain, beyond the file's own rules.
                let problems = checks::check(&loaded, &plan);
                for p in &problems {
                    eprintln!("{p}");
                }
                if problems.is_empty() {
                    eprintln!("ok: {} ({} steps)", path.display(), plan.steps.len());
                } else {
                    failed += 1;
                }
            }
            Err(e) => {
                eprintln!("{e}");
                failed += 1;
            }
        }
    }
    if failed > 0 {
        eprintln!("{failed} of {} scenarios are invalid", args.scenarios.len());
        return Ok(ExitCode::INVALID);
    }
    Ok(ExitCode::OK)
}

use crate::pipeline::write_output;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
