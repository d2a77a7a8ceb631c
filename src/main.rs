//! loadrun binary: parse the command line, run, exit with the documented code.

/// mimalloc, not glibc's malloc: the sending path allocates per request and per answer, and at
/// 1,000 transfers/s glibc's malloc and free were a tenth of loadrun's CPU.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    std::process::ExitCode::from(loadrun::cli::run())
}
