//! The layering of `src/` (ARCHITECTURE.md): a module may import its own layer and the layers
//! below it, never one above; no two files import each other; only `chain/` and `exec/` hold a
//! provider (RPC). Read from the source text: every `crate::`, `super::` and `self::` path
//! outside `#[cfg(test)]` code is an import of the module it names.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Top-level modules from the bottom up; each may use only those at or below its own rank.
const LAYERS: [&str; 11] = [
    "model", "scenario", "wallets", "plan", "fund", "chain", "error", "exec", "report", "pipeline",
    "cli",
];

/// Top-level modules that may call a node.
const RPC_LAYERS: [&str; 2] = ["chain", "exec"];

type Module = Vec<String>;

/// Every module of `src/` (by path) and its source text, test code left out.
fn modules() -> BTreeMap<Module, String> {
    let mut out = BTreeMap::new();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            let rel = p
                .strip_prefix(&root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            let Some(rel) = rel.strip_suffix(".rs") else {
                continue;
            };
            // The binary is a crate of its own; test-only files are tests.
            if rel == "main" || rel.ends_with("_tests") {
                continue;
            }
            let mut m: Module = rel.split('/').map(String::from).collect();
            if m.last().is_some_and(|l| l == "mod" || l == "lib") {
                m.pop();
            }
            let text = std::fs::read_to_string(&p).unwrap();
            let text = match text.find("#[cfg(test)]\nmod tests") {
                Some(i) => text[..i].to_string(),
                None => text,
            };
            out.insert(m, code_only(&text));
        }
    }
    out
}

/// `text` with comments, strings and char literals blanked.
fn code_only(text: &str) -> String {
    let c: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < c.len() {
        match c[i] {
            '/' if c.get(i + 1) == Some(&'/') => {
                while i < c.len() && c[i] != '\n' {
                    i += 1;
                }
            }
            '/' if c.get(i + 1) == Some(&'*') => {
                i += 2;
                while i + 1 < c.len() && !(c[i] == '*' && c[i + 1] == '/') {
                    i += 1;
                }
                i += 2;
            }
            'r' if c.get(i + 1) == Some(&'#') || (c.get(i + 1) == Some(&'"')) => {
                let mut j = i + 1;
                let mut hashes = 0;
                while c.get(j) == Some(&'#') {
                    hashes += 1;
                    j += 1;
                }
                if c.get(j) != Some(&'"')
                    || (i > 0 && (c[i - 1].is_alphanumeric() || c[i - 1] == '_'))
                {
                    out.push(c[i]);
                    i += 1;
                    continue;
                }
                j += 1;
                loop {
                    if j >= c.len() {
                        break;
                    }
                    if c[j] == '"' && (0..hashes).all(|h| c.get(j + 1 + h) == Some(&'#')) {
                        j += 1 + hashes;
                        break;
                    }
                    j += 1;
                }
                out.push_str("\"\"");
                i = j;
            }
            '"' => {
                i += 1;
                while i < c.len() && c[i] != '"' {
                    if c[i] == '\\' {
                        i += 1;
                    }
                    i += 1;
                }
                i += 1;
                out.push_str("\"\"");
            }
            '\'' => {
                // A char literal ('x', '\n', '\u{..}'), or a lifetime ('a).
                if c.get(i + 1) == Some(&'\\') {
                    i += 2;
                    while i < c.len() && c[i] != '\'' {
                        i += 1;
                    }
                    i += 1;
                } else if c.get(i + 2) == Some(&'\'') {
                    i += 3;
                } else {
                    out.push('\'');
                    i += 1;
                }
            }
            ch => {
                out.push(ch);
                i += 1;
            }
        }
    }
    out
}

#[derive(Debug, PartialEq)]
enum Tok {
    Ident(String),
    Path,
    Open,
    Close,
    Comma,
    Other,
}

fn tokens(code: &str) -> Vec<Tok> {
    let c: Vec<char> = code.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < c.len() {
        let ch = c[i];
        if ch.is_alphabetic() || ch == '_' {
            let start = i;
            while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_') {
                i += 1;
            }
            out.push(Tok::Ident(c[start..i].iter().collect()));
            continue;
        }
        if ch == ':' && c.get(i + 1) == Some(&':') {
            out.push(Tok::Path);
            i += 2;
            continue;
        }
        match ch {
            '{' => out.push(Tok::Open),
            '}' => out.push(Tok::Close),
            ',' => out.push(Tok::Comma),
            c if c.is_whitespace() => {}
            _ => out.push(Tok::Other),
        }
        i += 1;
    }
    out
}

/// Paths after `at` (just past a `::`): `a::b`, or a group `{a::b, c}` (one level of nesting
/// is enough for this code base), each as its segments.
fn paths_after(t: &[Tok], at: usize) -> Vec<Vec<String>> {
    let mut segs = Vec::new();
    let mut i = at;
    loop {
        match t.get(i) {
            Some(Tok::Ident(s)) => {
                segs.push(s.clone());
                if t.get(i + 1) == Some(&Tok::Path) {
                    i += 2;
                    continue;
                }
                return vec![segs];
            }
            Some(Tok::Open) => {
                let mut out = Vec::new();
                let mut j = i + 1;
                let mut start = true;
                let mut depth = 0;
                while let Some(tok) = t.get(j) {
                    match tok {
                        Tok::Open => depth += 1,
                        Tok::Close if depth == 0 => break,
                        Tok::Close => depth -= 1,
                        Tok::Comma if depth == 0 => start = true,
                        Tok::Ident(_) if start && depth == 0 => {
                            start = false;
                            for p in paths_after(t, j) {
                                out.push(segs.iter().cloned().chain(p).collect());
                            }
                        }
                        _ => {}
                    }
                    j += 1;
                }
                if out.is_empty() {
                    out.push(segs);
                }
                return out;
            }
            _ => return vec![segs],
        }
    }
}

/// The modules `m`'s code names, other than itself and its ancestors.
fn imports(m: &Module, code: &str, known: &BTreeSet<Module>) -> BTreeSet<Module> {
    let t = tokens(code);
    let mut out = BTreeSet::new();
    let mut i = 0;
    while i < t.len() {
        let Tok::Ident(head) = &t[i] else {
            i += 1;
            continue;
        };
        let preceded = i > 0 && t[i - 1] == Tok::Path;
        if preceded || !matches!(head.as_str(), "crate" | "super" | "self") {
            i += 1;
            continue;
        }
        let mut base: Module = if head == "crate" {
            Vec::new()
        } else {
            m.clone()
        };
        let mut j = i;
        if head == "super" {
            base.pop();
        }
        // `super::super::…`
        while t.get(j + 1) == Some(&Tok::Path)
            && matches!(t.get(j + 2), Some(Tok::Ident(s)) if s == "super")
        {
            base.pop();
            j += 2;
        }
        if t.get(j + 1) != Some(&Tok::Path) {
            i = j + 1;
            continue;
        }
        for p in paths_after(&t, j + 2) {
            let full: Vec<String> = base.iter().cloned().chain(p).collect();
            let target = (1..=full.len())
                .rev()
                .map(|k| full[..k].to_vec())
                .find(|k| known.contains(k));
            if let Some(target) = target
                && target != *m
                && !m.starts_with(&target)
            {
                out.insert(target);
            }
        }
        i = j + 2;
    }
    out
}

fn rank(top: &str) -> Option<usize> {
    LAYERS.iter().position(|l| *l == top)
}

fn graph() -> (BTreeMap<Module, BTreeSet<Module>>, BTreeMap<Module, String>) {
    let mods = modules();
    let known: BTreeSet<Module> = mods.keys().cloned().collect();
    let edges = mods
        .iter()
        .map(|(m, code)| (m.clone(), imports(m, code, &known)))
        .collect();
    (edges, mods)
}

fn name(m: &Module) -> String {
    if m.is_empty() {
        "lib".into()
    } else {
        m.join("::")
    }
}

#[test]
fn every_module_imports_only_its_own_layer_and_those_below() {
    let (edges, _) = graph();
    let mut wrong = Vec::new();
    for (m, to) in &edges {
        let Some(from) = m.first() else { continue };
        let from_rank = rank(from).unwrap_or_else(|| {
            panic!("src/{from} is in no layer: add it to LAYERS (tests/layering.rs) and ARCHITECTURE.md")
        });
        for t in to {
            let Some(top) = t.first() else { continue };
            if rank(top).is_some_and(|r| r > from_rank) {
                wrong.push(format!("{} uses {}", name(m), name(t)));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports against the layering ({}):\n  {}",
        LAYERS.join(" < "),
        wrong.join("\n  ")
    );
}

#[test]
fn no_two_files_import_each_other() {
    let (edges, _) = graph();
    let mut pairs = Vec::new();
    for (a, to) in &edges {
        for b in to {
            if a < b && edges.get(b).is_some_and(|back| back.contains(a)) {
                pairs.push(format!("{} <-> {}", name(a), name(b)));
            }
        }
    }
    assert!(
        pairs.is_empty(),
        "files that import each other:\n  {}",
        pairs.join("\n  ")
    );
}

#[test]
fn only_chain_and_exec_hold_a_provider() {
    let (_, mods) = graph();
    let wrong: Vec<String> = mods
        .iter()
        .filter(|(m, code)| {
            m.first()
                .is_some_and(|top| !RPC_LAYERS.contains(&top.as_str()))
                && (code.contains("alloy::providers")
                    || code.contains("DynProvider")
                    || code.contains(".provider"))
        })
        .map(|(m, _)| name(m))
        .collect();
    assert!(
        wrong.is_empty(),
        "RPC outside chain/ and exec/: {}",
        wrong.join(", ")
    );
}

#[test]
fn the_reader_sees_through_strings_comments_and_groups() {
    let code = code_only(
        "use super::{a::B, c};\n// crate::x::y\nlet s = \"crate::z\";\nlet r = r#\"crate::w\"#;\nfn f<'a>(c: char) { crate::plan::expand(); let q = 'c'; }",
    );
    let known: BTreeSet<Module> = [
        vec!["m"],
        vec!["m", "a"],
        vec!["m", "c"],
        vec!["plan"],
        vec!["x"],
        vec!["z"],
        vec!["w"],
    ]
    .into_iter()
    .map(|v| v.into_iter().map(String::from).collect())
    .collect();
    let m: Module = vec!["m".into(), "n".into()];
    let got: Vec<String> = imports(&m, &code, &known).iter().map(name).collect();
    assert_eq!(got, ["m::a", "m::c", "plan"]);
}
