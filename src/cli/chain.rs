//! The chain commands that are not a full run: `wallets` (addresses only), `fund` and `sweep`.

use std::future::Future;
use std::path::PathBuf;

use crate::chain::contracts;
use crate::error::{Error, ExitCode};
use crate::exec::interrupt::Interrupt;
use crate::exec::{fund, setup};
use crate::scenario;
use crate::wallets;

use super::{LimitArgs, write_output};

/// Where the chain is and which wallets: shared by every command that talks to a chain.
#[derive(Debug, Clone, clap::Args)]
pub struct ChainArgs {
    /// Scenario file, e.g. scenarios/quickstart.toml.
    pub scenario: PathBuf,
    /// Override [scenario].seed (the plan and the wallet keys derive from it).
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
    /// Connect to this JSON-RPC URL instead of spawning anvil (overrides [chain].rpc).
    #[arg(long, env = "LOADRUN_RPC", hide_env_values = true, value_name = "URL")]
    pub rpc: Option<String>,
    /// Read a remote chain's funder key from the environment variable NAME (overrides
    /// [chain].funder_key_env; with neither, LOADRUN_FUNDER_KEY is read when it is set).
    /// The variable's name, never the key.
    /// (Checked by `apply`, not by clap: clap would echo a key given by mistake.)
    #[arg(long, value_name = "NAME")]
    pub funder_key_env: Option<String>,
    #[command(flatten)]
    pub limits: LimitArgs,
    /// Multiply every rate and stage target by F (capacity search without editing the file;
    /// recorded in run.toml). `fund` with the same F funds what that plan spends.
    #[arg(long, value_name = "F", default_value_t = 1.0, value_parser = super::parse_rate_scale)]
    pub rate_scale: f64,
}

impl ChainArgs {
    /// The scenario's `[chain]` with the command line's overrides applied.
    pub fn apply(&self, cfg: &mut crate::scenario::ChainConfig) -> Result<(), Error> {
        if let Some(name) = &self.funder_key_env {
            let name =
                parse_env_name(name).map_err(|e| Error::Usage(format!("--funder-key-env: {e}")))?;
            cfg.funder_key_env = Some(name);
        }
        Ok(())
    }
}

/// `--funder-key-env NAME`: an environment variable's name. A value that looks like a key is
/// refused without being echoed.
pub fn parse_env_name(s: &str) -> Result<String, String> {
    let hex = s.trim_start_matches("0x");
    if hex.len() == 64 && hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err("this looks like a private key, not the name of an environment variable: export the key in a variable (e.g. LOADRUN_FUNDER_KEY) and give its name".into());
    }
    if s.is_empty()
        || !s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        || s.starts_with(|c: char| c.is_ascii_digit())
    {
        return Err(format!(
            "`{s}` is not an environment variable name: use letters, digits and '_', e.g. LOADRUN_FUNDER_KEY"
        ));
    }
    Ok(s.to_string())
}

#[derive(Debug, clap::Args)]
pub struct WalletsArgs {
    /// Scenario file.
    pub scenario: PathBuf,
    /// Override [scenario].seed.
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
    /// Write the list to FILE instead of stdout.
    #[arg(long, short, value_name = "FILE")]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub limits: LimitArgs,
}

/// `loadrun wallets`: CSV `role,index,address` — never a key.
pub fn wallets_cmd(args: &WalletsArgs) -> Result<u8, Error> {
    let loaded = scenario::load(&args.scenario, args.limits.max_steps)?;
    let seed = args.seed.unwrap_or(loaded.scenario.seed);
    let all = wallets::all(&loaded.scenario, seed);
    write_output(args.out.as_deref(), |w| {
        writeln!(w, "role,index,address")?;
        for wallet in &all {
            let role = loaded.scenario.role_name(wallet.at.role);
            writeln!(w, "{role},{},{}", wallet.at.index, wallet.address)?;
        }
        Ok(())
    })?;
    super::log::say!(
        "{} wallets (seed {seed}, derivation {})",
        all.len(),
        wallets::DERIVATION
    );
    Ok(ExitCode::OK)
}

/// `loadrun fund`: the funding phase alone (checks, deploy, idempotent top-up).
pub fn fund_cmd(args: &ChainArgs) -> Result<u8, Error> {
    let mut loaded = scenario::load_scaled(&args.scenario, args.limits.max_steps, args.rate_scale)?;
    args.apply(&mut loaded.scenario.chain)?;
    let seed = args.seed.unwrap_or(loaded.scenario.seed);
    let plan = crate::plan::expand_loaded(&loaded, seed)?;
    let all = wallets::all(&loaded.scenario, seed);
    interruptible(async {
        let cfg = crate::pipeline::fit::config_for(
            Some(&plan),
            &loaded.scenario.chain,
            args.rpc.as_deref(),
        );
        let mut chain = crate::chain::connect(&cfg, args.rpc.as_deref(), None).await?;
        super::log::say!(
            "{}",
            crate::pipeline::fit::describe(&chain, &cfg, &chain.shown_url())
        );
        crate::pipeline::fit::warn_if_blocks_too_small(&plan, &chain, &cfg);
        let funded = setup::fund(&mut chain, &loaded.scenario, Some(&plan), &all)
            .await
            .map_err(|e| crate::pipeline::run::located(&loaded, e))?;
        if funded.deploys > 0 {
            super::log::say!("deployed {} contracts", funded.deploys);
        } else {
            super::log::say!(
                "contracts reused: Token, Disperse and Adjudicator are already on this chain at their CREATE2 addresses"
            );
        }
        super::log::say!("{}", setup::describe("funded", &funded.outcome));
        Ok(ExitCode::OK)
    })
}

/// `loadrun sweep`: every wallet's tokens and ETH (minus gas) back to the funder.
pub fn sweep_cmd(args: &ChainArgs) -> Result<u8, Error> {
    let mut loaded = scenario::load(&args.scenario, args.limits.max_steps)?;
    args.apply(&mut loaded.scenario.chain)?;
    let seed = args.seed.unwrap_or(loaded.scenario.seed);
    let all = wallets::all(&loaded.scenario, seed);
    interruptible(async {
        let mut chain =
            crate::chain::connect(&loaded.scenario.chain, args.rpc.as_deref(), None).await?;
        let fees = chain.fees().await?;
        let c = contracts::addresses(chain.funder.address());
        let deployed = contracts::deploy_cost(&chain, fees.max_fee_per_gas).await? == 0;
        chain.gas = crate::chain::estimate::table(&chain, &c, deployed).await;
        let outcome = fund::sweep(&chain, &c, &all, fees).await?;
        super::log::say!("{}", setup::describe("swept", &outcome));
        Ok(ExitCode::OK)
    })
}

/// Runs `work` on a fresh runtime with the signal handlers installed first; a signal drops
/// the work (and with it a spawned anvil) and returns `Error::Interrupted` (exit 130).
pub fn interruptible(work: impl Future<Output = Result<u8, Error>>) -> Result<u8, Error> {
    let rt = runtime()?;
    rt.block_on(async {
        let interrupt = install_interrupt()?;
        tokio::select! {
            r = work => r,
            () = interrupt.wait() => Err(Error::Interrupted),
        }
    })
}

/// The Ctrl-C/SIGTERM handlers (inside a runtime), failing as a setup error.
pub fn install_interrupt() -> Result<Interrupt, Error> {
    Interrupt::install().map_err(|e| {
        Error::Chain(crate::chain::ChainError::Task {
            what: "cannot install the Ctrl-C handler",
            why: e.to_string(),
        })
    })
}

/// The async runtime: one thread (the sending path, its timers and its I/O share it: no
/// wake-up crosses threads; the collector writes rows on a thread of its own), or
/// `LOADRUN_THREADS` worker threads.
pub fn runtime() -> Result<tokio::runtime::Runtime, Error> {
    let mut b = match std::env::var("LOADRUN_THREADS")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|n| *n > 0)
    {
        Some(n) => {
            let mut b = tokio::runtime::Builder::new_multi_thread();
            b.worker_threads(n);
            b
        }
        None => tokio::runtime::Builder::new_current_thread(),
    };
    b.enable_all().build().map_err(|e| {
        Error::Chain(crate::chain::ChainError::Task {
            what: "cannot start the async runtime",
            why: e.to_string(),
        })
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_key_given_as_the_variable_name_is_refused_without_being_echoed() {
        let key = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
        for given in [key.to_string(), format!("0x{key}")] {
            let e = super::parse_env_name(&given).unwrap_err();
            assert!(!e.contains(key), "{e}");
            assert!(e.contains("looks like a private key"), "{e}");
        }
        assert!(super::parse_env_name("1BAD").is_err());
        assert_eq!(super::parse_env_name("MY_FUNDER").unwrap(), "MY_FUNDER");
    }
}
