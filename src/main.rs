//! loadrun binary: parse the command line, run, exit with the documented code.

fn main() -> std::process::ExitCode {
    std::process::ExitCode::from(loadrun::cli::run())
}
