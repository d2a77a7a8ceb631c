//! deploy/k8s/ parses into typed Kubernetes objects (k8s-openapi), with no field the types do
//! not know (a misspelt field fails here, not in a cluster), and holds together: the Indexed
//! Job's completions, parallelism and `--shard k/N` agree, every ConfigMap, Secret and claim a
//! pod refers to is defined, the scenario in the ConfigMap is valid, the metrics port is
//! announced, and the Dockerfile builds what the manifests run.

use std::collections::BTreeSet;
use std::path::Path;

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, PersistentVolumeClaim, PodSpec, Secret};
use serde::Serialize;
use serde::de::DeserializeOwned;

#[derive(Default)]
struct Manifests {
    jobs: Vec<Job>,
    config_maps: Vec<ConfigMap>,
    secrets: Vec<Secret>,
    claims: Vec<PersistentVolumeClaim>,
}

/// Deserializes into `T` and checks that serializing back gives the document itself: a field
/// `T` does not have would be dropped on the way and show up as a difference.
fn typed<T: DeserializeOwned + Serialize>(doc: &serde_json::Value, file: &str) -> T {
    let t: T = serde_json::from_value(doc.clone())
        .unwrap_or_else(|e| panic!("{file}: not a valid {}: {e}", std::any::type_name::<T>()));
    let back = serde_json::to_value(&t).unwrap();
    if let Some(at) = dropped(doc, &back, String::new()) {
        panic!(
            "{file}: `{at}` is not a field of {}",
            std::any::type_name::<T>()
        );
    }
    t
}

/// The path of the first key of `doc` missing from `back`, or of the first difference.
fn dropped(doc: &serde_json::Value, back: &serde_json::Value, at: String) -> Option<String> {
    use serde_json::Value::{Array, Object};
    match (doc, back) {
        (Object(a), Object(b)) => a.iter().find_map(|(k, v)| match b.get(k) {
            None => Some(format!("{at}.{k}")),
            Some(w) => dropped(v, w, format!("{at}.{k}")),
        }),
        (Array(a), Array(b)) if a.len() == b.len() => a
            .iter()
            .zip(b)
            .enumerate()
            .find_map(|(i, (v, w))| dropped(v, w, format!("{at}[{i}]"))),
        (a, b) => (a != b).then_some(at),
    }
}

fn load() -> Manifests {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/k8s");
    let mut m = Manifests::default();
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 6, "{files:?}");
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        let file = path.file_name().unwrap().to_string_lossy().to_string();
        for de in serde_norway::Deserializer::from_str(&text) {
            let yaml = serde_norway::Value::deserialize(de)
                .unwrap_or_else(|e| panic!("{file}: not YAML: {e}"));
            let doc: serde_json::Value = serde_json::to_value(&yaml).unwrap();
            match (doc["apiVersion"].as_str(), doc["kind"].as_str()) {
                (Some("batch/v1"), Some("Job")) => m.jobs.push(typed(&doc, &file)),
                (Some("v1"), Some("ConfigMap")) => m.config_maps.push(typed(&doc, &file)),
                (Some("v1"), Some("Secret")) => m.secrets.push(typed(&doc, &file)),
                (Some("v1"), Some("PersistentVolumeClaim")) => m.claims.push(typed(&doc, &file)),
                other => panic!("{file}: unexpected object {other:?}"),
            }
        }
    }
    m
}

use serde::Deserialize;

fn name<
    T: k8s_openapi::Metadata<Ty = k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta>,
>(
    o: &T,
) -> String {
    o.metadata().name.clone().unwrap_or_default()
}

fn pod(job: &Job) -> &PodSpec {
    job.spec.as_ref().unwrap().template.spec.as_ref().unwrap()
}

fn job<'a>(m: &'a Manifests, n: &str) -> &'a Job {
    m.jobs
        .iter()
        .find(|j| name(*j) == n)
        .unwrap_or_else(|| panic!("no Job {n}"))
}

/// The container's command line, joined.
fn command_line(job: &Job) -> String {
    let c = &pod(job).containers[0];
    let mut parts = c.command.clone().unwrap_or_default();
    parts.extend(c.args.clone().unwrap_or_default());
    parts.join(" ")
}

#[test]
fn manifests_are_typed_kubernetes_objects() {
    let m = load();
    let jobs: BTreeSet<String> = m.jobs.iter().map(name).collect();
    assert_eq!(
        jobs,
        ["loadrun-fund", "loadrun-merge", "loadrun-shards"]
            .map(String::from)
            .into()
    );
    assert_eq!(m.claims.len(), 1);
    assert_eq!(m.secrets.len(), 1);
}

#[test]
fn the_shards_job_is_indexed_and_its_counts_agree() {
    let m = load();
    let shards = job(&m, "loadrun-shards");
    let spec = shards.spec.as_ref().unwrap();
    assert_eq!(spec.completion_mode.as_deref(), Some("Indexed"));
    let n = spec.completions.unwrap();
    assert_eq!(spec.parallelism, Some(n));
    assert_eq!(spec.backoff_limit, Some(0), "a shard must not run twice");
    let line = command_line(shards);
    assert!(
        line.contains(&format!("--shard $((JOB_COMPLETION_INDEX + 1))/{n}")),
        "{line}"
    );
    for flag in [
        "--start-at \"$LOADRUN_START_AT\"",
        "--metrics 0.0.0.0:9464",
        "--out /results/shard-",
    ] {
        assert!(line.contains(flag), "{flag} in {line}");
    }
    let template = &spec.template;
    let ann = template
        .metadata
        .as_ref()
        .unwrap()
        .annotations
        .as_ref()
        .unwrap();
    assert_eq!(ann["prometheus.io/port"], "9464");
    let ports = pod(shards).containers[0].ports.as_ref().unwrap();
    assert!(ports.iter().any(|p| p.container_port == 9464));
    // The merge takes every shard's directory.
    assert!(command_line(job(&m, "loadrun-merge")).contains("loadrun merge /results/shard-*"));
    assert!(command_line(job(&m, "loadrun-fund")).contains("fund /scenario/scenario.toml"));
}

#[test]
fn everything_a_pod_refers_to_is_defined() {
    let m = load();
    let maps: BTreeSet<String> = m.config_maps.iter().map(name).collect();
    let secrets: BTreeSet<String> = m.secrets.iter().map(name).collect();
    let claims: BTreeSet<String> = m.claims.iter().map(name).collect();
    for j in &m.jobs {
        let p = pod(j);
        let c = &p.containers[0];
        assert_eq!(c.image.as_deref(), Some("loadrun:latest"), "{}", name(j));
        for from in c.env_from.iter().flatten() {
            if let Some(r) = &from.config_map_ref {
                assert!(maps.contains(&r.name), "{}: ConfigMap {}", name(j), r.name);
            }
            if let Some(r) = &from.secret_ref {
                assert!(secrets.contains(&r.name), "{}: Secret {}", name(j), r.name);
            }
        }
        for v in p.volumes.iter().flatten() {
            if let Some(cm) = &v.config_map {
                assert!(
                    maps.contains(&cm.name),
                    "{}: ConfigMap {}",
                    name(j),
                    cm.name
                );
            }
            if let Some(c) = &v.persistent_volume_claim {
                assert!(
                    claims.contains(&c.claim_name),
                    "{}: claim {}",
                    name(j),
                    c.claim_name
                );
            }
        }
        let mounted: BTreeSet<&str> = c
            .volume_mounts
            .iter()
            .flatten()
            .map(|v| v.name.as_str())
            .collect();
        let declared: BTreeSet<&str> = p
            .volumes
            .iter()
            .flatten()
            .map(|v| v.name.as_str())
            .collect();
        assert_eq!(mounted, declared, "{}", name(j));
    }
}

#[test]
fn the_scenario_in_the_config_map_is_valid_and_reads_its_key_from_the_secret() {
    let m = load();
    let cm = m
        .config_maps
        .iter()
        .find(|c| name(*c) == "loadrun-scenario")
        .unwrap();
    let text = &cm.data.as_ref().unwrap()["scenario.toml"];
    let s = loadrun::scenario::parse("configmap.yaml", text, 10_000_000)
        .unwrap_or_else(|e| panic!("{e}"));
    let var = s.chain.funder_key_env.clone().expect("funder_key_env");
    let secret = &m.secrets[0];
    assert!(secret.string_data.as_ref().unwrap().contains_key(&var));
    let target = m
        .config_maps
        .iter()
        .find(|c| name(*c) == "loadrun-target")
        .unwrap();
    assert!(target.data.as_ref().unwrap().contains_key("LOADRUN_RPC"));
}

#[test]
fn the_dockerfile_builds_the_binary_and_ships_the_pinned_anvil() {
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("Dockerfile")).unwrap();
    assert!(text.contains("cargo build --release --locked --bin loadrun"));
    assert!(text.contains("npm ci"));
    assert!(text.contains("@foundry-rs/anvil-linux-amd64/bin/anvil"));
    assert!(text.contains("ENTRYPOINT [\"/usr/local/bin/loadrun\"]"));
    // Every COPY source of the build stage exists in the repository.
    for line in text
        .lines()
        .filter(|l| l.starts_with("COPY ") && !l.contains("--from"))
    {
        let parts: Vec<&str> = line.split_whitespace().collect();
        for src in &parts[1..parts.len() - 1] {
            assert!(
                Path::new(env!("CARGO_MANIFEST_DIR")).join(src).exists(),
                "Dockerfile copies {src}, which does not exist"
            );
        }
    }
}
