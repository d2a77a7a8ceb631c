//! Scale-out against one anvil the test spawns: a whole-plan reference run, `loadrun fund`,
//! two `--shard` processes at a common `--start-at`, `loadrun merge` of them (every plan step
//! once, all ok, sanity exact over the union, counts per role and kind equal the plan's), and
//! what merge refuses. Also `--metrics`: scraped while a run goes, its counters end equal to
//! summary.csv.

mod common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, SystemTime};

use common::{DEV_KEY, anvil, fixture, loadrun, scenario, text};
use loadrun::chain::anvil::AnvilOptions;
use loadrun::report::rows::{StepRow, read_steps};

fn rows(dir: &Path) -> Vec<StepRow> {
    read_steps(std::fs::File::open(dir.join("steps.csv")).expect("steps.csv")).expect("parse")
}

/// (role, kind) → count.
fn counts<'a>(it: impl Iterator<Item = (&'a str, &'a str)>) -> BTreeMap<(String, String), u64> {
    let mut m = BTreeMap::new();
    for (r, k) in it {
        *m.entry((r.to_string(), k.to_string())).or_default() += 1;
    }
    m
}

fn run(url: &str, file: &Path, out: &Path, extra: &[&str]) -> Command {
    let mut c = loadrun();
    c.env("LOADRUN_FUNDER_KEY", DEV_KEY)
        .args(["run", "--rpc", url, "--out"])
        .arg(out)
        .args(extra)
        .arg(file);
    c
}

/// Two parts (`flag` = each of `values`) run at once from the common `start_ms`, each into its
/// directory; their outputs once both ended.
fn concurrently(
    url: &str,
    file: &Path,
    dirs: &[std::path::PathBuf; 2],
    flag: &str,
    values: [&str; 2],
    start_ms: &str,
) -> Vec<std::process::Output> {
    let children: Vec<_> = values
        .iter()
        .zip(dirs)
        .map(|(v, d)| {
            run(url, file, d, &[flag, v, "--start-at", start_ms])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect()
}

#[test]
fn two_shards_at_a_common_start_merge_into_the_whole_plan() {
    let dir = tempfile::tempdir().unwrap();
    // tests/fixtures/sharded.toml: 22 wallets, channels of both kinds, transfers, tokens.
    let file = scenario(dir.path(), "sharded", &fixture("sharded", &[]));
    let node = anvil(AnvilOptions {
        block_time_ms: Some(1000),
        ..Default::default()
    });

    // The plan's counts per (role, kind), from `loadrun plan`.
    let plan = loadrun().args(["plan"]).arg(&file).output().unwrap();
    assert!(plan.status.success(), "{}", text(&plan));
    let plan_csv = String::from_utf8(plan.stdout).unwrap();
    let mut reader = csv::Reader::from_reader(plan_csv.as_bytes());
    let h = reader.headers().unwrap().clone();
    let (ri, ki) = (
        h.iter().position(|c| c == "role").unwrap(),
        h.iter().position(|c| c == "kind").unwrap(),
    );
    let planned: Vec<(String, String)> = reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            (r[ri].to_string(), r[ki].to_string())
        })
        .collect();
    let want = counts(planned.iter().map(|(r, k)| (r.as_str(), k.as_str())));

    // A shard does not fund: on a chain nothing was deployed to, it stops with exit 3.
    let bare = anvil(AnvilOptions::default());
    let o = run(
        &bare.url,
        &file,
        &dir.path().join("bare"),
        &["--shard", "1/2"],
    )
    .output()
    .unwrap();
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(text(&o).contains("loadrun fund"), "{}", text(&o));
    drop(bare);

    // The reference: the whole plan in one process.
    let reference = dir.path().join("reference");
    let o = run(&node.url, &file, &reference, &[]).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));

    let o = loadrun()
        .env("LOADRUN_FUNDER_KEY", DEV_KEY)
        .args(["fund", "--rpc", &node.url])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));

    let start = SystemTime::now() + Duration::from_secs(6);
    let start_ms = start
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_millis()
        .to_string();
    let shard_dirs = [dir.path().join("s1"), dir.path().join("s2")];
    for o in concurrently(
        &node.url,
        &file,
        &shard_dirs,
        "--shard",
        ["1/2", "2/2"],
        &start_ms,
    ) {
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        assert!(text(&o).contains("sanity: ok"), "{}", text(&o));
    }
    let parts: Vec<Vec<StepRow>> = shard_dirs.iter().map(|d| rows(d)).collect();
    assert!(
        parts.iter().all(|p| !p.is_empty()),
        "both shards have steps"
    );
    // Both started at the common instant: no step went out before it.
    for p in &parts {
        assert!(
            p.iter()
                .all(|r| r.sent_ms.is_none_or(|s| s >= r.at_ms as f64 - 1.0))
        );
    }

    let merged = dir.path().join("merged");
    let o = loadrun()
        .args(["merge"])
        .args(&shard_dirs)
        .arg("--out")
        .arg(&merged)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let m = rows(&merged);
    let steps: Vec<u64> = m.iter().map(|r| r.step).collect();
    assert_eq!(steps, (0..planned.len() as u64).collect::<Vec<_>>());
    let bad: Vec<_> = m.iter().filter(|r| r.status.as_str() != "ok").collect();
    assert!(bad.is_empty(), "{bad:#?}");
    let sanity: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(merged.join("sanity.json")).unwrap())
            .unwrap();
    assert_eq!(sanity["ok"], true, "{sanity:#}");
    let wallets = sanity["lines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["check"] == "wallets with the expected ETH delta")
        .unwrap()
        .clone();
    assert_eq!(wallets["observed"], "22", "every wallet checked: {wallets}");
    assert_eq!(
        counts(m.iter().map(|r| (r.role.as_str(), r.kind.as_str()))),
        want
    );
    let r = rows(&reference);
    assert_eq!(
        counts(r.iter().map(|r| (r.role.as_str(), r.kind.as_str()))),
        want
    );

    // What merge refuses (exit 2) and what it reports.
    let merge = |dirs: &[&Path], out: &str| {
        loadrun()
            .arg("merge")
            .args(dirs)
            .arg("--out")
            .arg(dir.path().join(out))
            .output()
            .unwrap()
    };
    let o = merge(&[&shard_dirs[0], &shard_dirs[0]], "dup");
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("ran the same part (shard 1/2)"),
        "{}",
        text(&o)
    );

    let reseeded = dir.path().join("s2-reseeded");
    std::fs::create_dir_all(&reseeded).unwrap();
    for f in ["steps.csv", "summary.csv", "observed.json"] {
        std::fs::copy(shard_dirs[1].join(f), reseeded.join(f)).unwrap();
    }
    let run_toml = std::fs::read_to_string(shard_dirs[1].join("run.toml")).unwrap();
    std::fs::write(
        reseeded.join("run.toml"),
        run_toml.replacen("seed = 31", "seed = 32", 1),
    )
    .unwrap();
    let o = merge(&[&shard_dirs[0], &reseeded], "seeds");
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("seed 31 vs 32"), "{}", text(&o));

    let o = merge(&[&shard_dirs[0]], "missing");
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("no run of shard 2/2"), "{}", text(&o));
    let missing = rows(&dir.path().join("missing"));
    assert_eq!(missing.len(), planned.len());
    let not_sent = missing
        .iter()
        .filter(|r| r.status.as_str() == "not_sent")
        .count();
    assert_eq!(not_sent, parts[1].len());
    assert!(
        missing
            .iter()
            .filter(|r| r.status.as_str() == "not_sent")
            .all(|r| r.error.contains("shard 2/2"))
    );
}

#[test]
fn role_parts_run_at_a_common_start_and_merge() {
    let dir = tempfile::tempdir().unwrap();
    // tests/fixtures/by_role.toml: no channels, so `--role` may split it; 90 steps.
    let file = scenario(dir.path(), "by-role", &fixture("by_role", &[]));
    let node = anvil(AnvilOptions {
        block_time_ms: Some(1000),
        ..Default::default()
    });
    let o = loadrun()
        .env("LOADRUN_FUNDER_KEY", DEV_KEY)
        .args(["fund", "--rpc", &node.url])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let start_ms = (SystemTime::now() + Duration::from_secs(5))
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_millis()
        .to_string();
    let dirs = [dir.path().join("a"), dir.path().join("b")];
    for o in concurrently(&node.url, &file, &dirs, "--role", ["A", "B"], &start_ms) {
        // Role A's min_rate is its whole workload; role B has none of workload 0's steps.
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    }
    assert!(rows(&dirs[0]).iter().all(|r| r.role == "A"));
    assert!(rows(&dirs[1]).iter().all(|r| r.role == "B"));
    let merged = dir.path().join("merged");
    let o = loadrun()
        .arg("merge")
        .args(&dirs)
        .arg("--out")
        .arg(&merged)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("sanity: ok"), "{}", text(&o));
    assert!(
        text(&o).contains("expectation met: expect.min_rate"),
        "{}",
        text(&o)
    );
    let m = rows(&merged);
    assert_eq!(m.len(), 90);
    assert!(m.iter().all(|r| r.status.as_str() == "ok"));
    // Without role B's run, the merge is incomplete: exit 1, its steps named.
    let o = loadrun()
        .arg("merge")
        .arg(&dirs[0])
        .arg("--out")
        .arg(dir.path().join("only-a"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("INCOMPLETE: 30 of 90"), "{}", text(&o));
}

#[test]
fn parts_are_refused_before_any_chain_is_touched() {
    let dir = tempfile::tempdir().unwrap();
    // tests/fixtures/sharded.toml: 22 wallets, channels of both kinds, transfers, tokens.
    let file = scenario(dir.path(), "sharded", &fixture("sharded", &[]));
    // --role cannot split a channel's parties across processes.
    let o = loadrun()
        .args(["run", "--role", "A"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("use --shard I/N instead"), "{}", text(&o));
    // A start already in the past.
    let o = loadrun()
        .args([
            "run",
            "--shard",
            "1/2",
            "--start-at",
            "2020-01-01T00:00:00Z",
        ])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("in the past"), "{}", text(&o));
    for bad in [
        &["--shard", "3/2"][..],
        &["--shard", "1/23"],
        &["--shard", "1/2"],
    ] {
        // 3/2 is no shard, 23 shards exceed the 22 wallets, and no --rpc: a spawned chain
        // would be this part's alone.
        let o = loadrun().arg("run").args(bad).arg(&file).output().unwrap();
        assert_eq!(o.status.code(), Some(2), "{bad:?}: {}", text(&o));
    }
    let o = loadrun()
        .args(["run", "--shard", "1/2"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(text(&o).contains("no RPC is given"), "{}", text(&o));
}

/// A GET of http://addr/metrics with a plain TCP request; `None` while nothing listens.
fn scrape(addr: &str) -> Option<String> {
    let mut s = std::net::TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut body = String::new();
    s.read_to_string(&mut body).ok()?;
    Some(body)
}

/// The sum of `loadrun_steps_total` series, and each (kind, status) series.
fn steps_total(page: &str) -> (f64, BTreeMap<(String, String), f64>) {
    let mut by = BTreeMap::new();
    for line in page
        .lines()
        .filter(|l| l.starts_with("loadrun_steps_total{"))
    {
        let label = |name: &str| {
            line.split(&format!("{name}=\""))
                .nth(1)
                .and_then(|r| r.split('"').next())
                .unwrap_or("")
                .to_string()
        };
        let v: f64 = line.rsplit(' ').next().unwrap().parse().unwrap();
        by.insert((label("kind"), label("status")), v);
    }
    (by.values().sum(), by)
}

#[test]
fn metrics_are_live_and_end_equal_to_the_summary() {
    let dir = tempfile::tempdir().unwrap();
    // tests/fixtures/live.toml: 120 transfers in 6 s on the spawned chain.
    let file = scenario(dir.path(), "live", &fixture("live", &[]));
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let out = dir.path().join("out");
    let mut cmd = loadrun();
    cmd.args([
        "run",
        "--metrics",
        &addr,
        "--metrics-linger",
        "20s",
        "--out",
    ])
    .arg(&out)
    .arg(&file);
    let mut p = common::Watched::spawn(cmd);
    p.until(|l| l.starts_with("metrics: http://"))
        .expect("the endpoint is announced");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let scraper = {
        let (addr, stop) = (addr.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut seen = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                if let Some(page) = scrape(&addr) {
                    seen.push(steps_total(&page).0);
                }
                std::thread::sleep(Duration::from_millis(250));
            }
            seen
        })
    };
    p.until(|l| l.starts_with("metrics: final values"))
        .expect("final values are announced");
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let seen = scraper.join().unwrap();
    let page = scrape(&addr).expect("still served while lingering");
    let _ = Command::new("kill")
        .args(["-INT", &p.child.id().to_string()])
        .status();
    p.finish();
    assert!(
        seen.windows(2).all(|w| w[0] <= w[1]),
        "counters only grow: {seen:?}"
    );
    assert!(
        seen.iter().any(|v| *v > 0.0 && *v < 120.0),
        "seen mid-run: {seen:?}"
    );
    assert!(page.contains("scenario=\"live\"") && page.contains("shard=\"all\""));
    assert!(page.contains("loadrun_lateness_ms_bucket"), "{page}");
    let (total, by) = steps_total(&page);
    let summary = std::fs::read_to_string(out.join("summary.csv")).unwrap();
    let metric = |name: &str, kind: &str| -> f64 {
        summary
            .lines()
            .find_map(|l| {
                let c: Vec<&str> = l.split(',').collect();
                (c[0] == name && c[1] == kind).then(|| c[2].parse().unwrap())
            })
            .unwrap_or_else(|| panic!("{name},{kind} in summary.csv"))
    };
    assert_eq!(total, metric("steps", "all"));
    assert_eq!(
        by[&("transfer".to_string(), "ok".to_string())],
        metric("ok", "transfer")
    );
}
