//! loadrun from a user's own repository: the built binary, run from a temporary directory
//! outside the checkout that holds only a scenario file, finds anvil on PATH or in the
//! node_modules of an ancestor directory; its terminal output is quiet (no timestamped log
//! lines) while loadrun.log in the run directory has the full log.

mod common;

use std::path::Path;
use std::process::Command;

/// A timestamped tracing line starts like `2026-12-01T20:07:09.533556Z  INFO`.
fn timestamped(line: &str) -> bool {
    let b = line.as_bytes();
    b.len() > 20
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && line[..4].chars().all(|c| c.is_ascii_digit())
}

fn run_in(dir: &Path, path_env: &str) -> (std::process::Output, std::path::PathBuf) {
    let out = dir.join("results-here");
    let o = Command::new(env!("CARGO_BIN_EXE_loadrun"))
        .current_dir(dir)
        .env_remove("LOADRUN_LOG")
        .env_remove("LOADRUN_ANVIL")
        .env_remove("LOADRUN_RPC")
        .env("PATH", path_env)
        .args(["outside.toml", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    (o, out)
}

#[test]
fn runs_outside_the_checkout_with_a_quiet_terminal_and_a_full_log_file() {
    let checkout = Path::new(env!("CARGO_MANIFEST_DIR"));
    let bin_dir = checkout.join("node_modules/.bin");
    assert!(bin_dir.join("anvil").exists(), "run `npm ci` first");
    let system_path = std::env::var("PATH").unwrap_or_default();
    // tests/fixtures/outside.toml: 12 transfers in 3 s, none may fail.
    let scenario = common::fixture("outside", &[]);

    // 1. Only a scenario in the directory; anvil on PATH (as foundry installs it).
    let tmp = tempfile::tempdir().unwrap();
    assert!(!tmp.path().starts_with(checkout));
    std::fs::write(tmp.path().join("outside.toml"), &scenario).unwrap();
    let (o, out) = run_in(tmp.path(), &format!("{}:{system_path}", bin_dir.display()));
    let t = common::text(&o);
    assert_eq!(o.status.code(), Some(0), "{t}");
    assert!(
        t.contains("all 12 steps ok") && t.contains("sanity: ok"),
        "{t}"
    );
    assert!(t.contains("verdict: loadrun kept its schedule"), "{t}");
    let noisy: Vec<&str> = t.lines().filter(|l| timestamped(l)).collect();
    assert!(
        noisy.is_empty(),
        "timestamped log lines on the terminal: {noisy:?}"
    );
    let log = std::fs::read_to_string(out.join("loadrun.log")).unwrap();
    assert!(log.lines().any(timestamped), "{log}");
    assert!(log.contains("spawned anvil"), "{log}");
    common::assert_no_keys(&log, &common::secret_keys(4, &[("A", 2), ("B", 2)]));

    // 2. A repository with anvil in its node_modules, run from a subdirectory, nothing on PATH.
    let repo = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(repo.path().join("node_modules/.bin")).unwrap();
    std::os::unix::fs::symlink(
        bin_dir.join("anvil").canonicalize().unwrap(),
        repo.path().join("node_modules/.bin/anvil"),
    )
    .unwrap();
    let sub = repo.path().join("loadtests/ci");
    std::fs::create_dir_all(&sub).unwrap();
    std::fs::write(sub.join("outside.toml"), &scenario).unwrap();
    let (o, _) = run_in(&sub, "/usr/bin:/bin");
    let t = common::text(&o);
    assert_eq!(o.status.code(), Some(0), "{t}");
    assert!(t.contains("sanity: ok"), "{t}");

    // 3. Nowhere to be found: the error lists where it looked and how to install it.
    let empty = tempfile::tempdir().unwrap();
    std::fs::write(empty.path().join("outside.toml"), &scenario).unwrap();
    let (o, _) = run_in(empty.path(), "/usr/bin:/bin");
    let t = common::text(&o);
    assert_eq!(o.status.code(), Some(3), "{t}");
    assert!(
        t.contains("anvil not found") && t.contains("npm install --save-dev"),
        "{t}"
    );
}
