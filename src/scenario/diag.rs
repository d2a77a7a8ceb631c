//! User-facing diagnostics for scenario files: file:line:col, key path, rule, and a fix hint.
//!
//! TOML spans come from `toml::de::DeTable`; a validation error knows its key path and asks for
//! the span, a serde error knows its span and asks for the key path.

use std::fmt;
use std::ops::Range;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

/// One segment of a key path: `workload[1].create_rate` is `[Key(workload), Index(1), Key(create_rate)]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    Key(String),
    Index(usize),
}

/// A key path inside the scenario, rendered as `roles.A.wallets` or `workload[1].create_rate`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyPath(pub Vec<Seg>);

impl KeyPath {
    pub fn root() -> Self {
        Self(Vec::new())
    }
    pub fn key(&self, k: &str) -> Self {
        let mut v = self.0.clone();
        v.push(Seg::Key(k.to_string()));
        Self(v)
    }
    pub fn index(&self, i: usize) -> Self {
        let mut v = self.0.clone();
        v.push(Seg::Index(i));
        Self(v)
    }
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("(top level)");
        }
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                Seg::Key(k) if i == 0 => write!(f, "{k}")?,
                Seg::Key(k) => write!(f, ".{k}")?,
                Seg::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

/// A problem in a scenario file, located and explained.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub file: String,
    /// 1-based line and column; 0 when the location is unknown (e.g. a missing table).
    pub line: usize,
    pub col: usize,
    pub path: KeyPath,
    pub message: String,
    pub help: Option<String>,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line > 0 {
            write!(f, "{}:{}:{}: ", self.file, self.line, self.col)?;
        } else {
            write!(f, "{}: ", self.file)?;
        }
        write!(f, "`{}`: {}", self.path, self.message)?;
        if let Some(help) = &self.help {
            write!(f, "\n  help: {help}")?;
        }
        Ok(())
    }
}

/// The parsed document with spans, used only to place diagnostics.
pub struct SourceMap<'a> {
    file: String,
    text: &'a str,
    doc: Option<Spanned<DeTable<'a>>>,
}

impl<'a> SourceMap<'a> {
    pub fn new(file: &str, text: &'a str) -> Self {
        Self {
            file: file.to_string(),
            text,
            doc: DeTable::parse(text).ok(),
        }
    }

    /// The file name messages use.
    pub fn file(&self) -> &str {
        &self.file
    }

    /// 1-based (line, column in characters) of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let before = &self.text[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        (line, before[line_start..].chars().count() + 1)
    }

    /// A diagnostic at `path` (located by key), with a rule message and optional help.
    pub fn at(
        &self,
        path: KeyPath,
        message: impl Into<String>,
        help: Option<String>,
    ) -> Diagnostic {
        let (line, col) = self
            .span_of(&path)
            .map_or((0, 0), |s| self.line_col(s.start));
        Diagnostic {
            file: self.file.clone(),
            line,
            col,
            path,
            message: message.into(),
            help,
        }
    }

    /// A diagnostic at a byte span (from the TOML parser or serde), with its key path found.
    pub fn at_span(&self, span: Option<Range<usize>>, message: &str) -> Diagnostic {
        let mut path = span
            .as_ref()
            .map(|s| self.path_at(s.start))
            .unwrap_or_default();
        let mut location = span.clone();
        let mut help = None;
        let mut message = message.trim().to_string();
        if let Some((field, expected)) = parse_unknown(&message, "unknown field") {
            // serde reports the enclosing table; point at the offending key itself.
            let key_path = path.key(&field);
            if let Some(s) = self.span_of(&key_path) {
                location = Some(s);
                path = key_path;
            }
            help = nearest(&field, &expected).map(|k| format!("did you mean `{k}`?"));
            if help.is_none() && !expected.is_empty() {
                help = Some(format!("valid keys here: {}", expected.join(", ")));
            }
            message = format!("unknown key `{field}`");
        } else if let Some((variant, expected)) = parse_unknown(&message, "unknown variant") {
            if let Some((p, s)) = self.child_with_string(&path, &variant) {
                (path, location) = (p, Some(s));
            }
            help = nearest(&variant, &expected)
                .map(|k| format!("did you mean \"{k}\"?"))
                .or_else(|| Some(format!("use one of: {}", expected.join(", "))));
            message = format!("unknown value \"{variant}\"");
        } else if let Some(rest) = message.strip_prefix("missing field ").map(str::to_string) {
            message = format!("missing required key {rest}");
            help = Some(format!("add {rest} to this table"));
        }
        if let Some(value) = message
            .strip_prefix("invalid type: string \"")
            .and_then(|r| r.split('"').next())
            && let Some((p, s)) = self.child_with_string(&path, value)
        {
            (path, location) = (p, Some(s));
        }
        let (line, col) = location.map_or((0, 0), |s| self.line_col(s.start));
        Diagnostic {
            file: self.file.clone(),
            line,
            col,
            path,
            message,
            help,
        }
    }

    /// Errors from inside a tagged `[[workload]]` carry only the table's span; find the key in
    /// that table whose string value is the offending one.
    fn child_with_string(&self, table: &KeyPath, value: &str) -> Option<(KeyPath, Range<usize>)> {
        let doc = self.doc.as_ref()?;
        let mut node: Option<&DeValue> = None;
        for seg in &table.0 {
            node = Some(match (seg, node) {
                (Seg::Key(k), None) => doc
                    .get_ref()
                    .iter()
                    .find(|(key, _)| key.get_ref() == k)?
                    .1
                    .get_ref(),
                (Seg::Key(k), Some(DeValue::Table(t))) => {
                    t.iter().find(|(key, _)| key.get_ref() == k)?.1.get_ref()
                }
                (Seg::Index(i), Some(DeValue::Array(a))) => a.get(*i)?.get_ref(),
                _ => return None,
            });
        }
        let t = match node {
            Some(DeValue::Table(t)) => t,
            None => doc.get_ref(),
            _ => return None,
        };
        t.iter()
            .find(|(_, v)| v.get_ref().as_str() == Some(value))
            .map(|(k, _)| (table.key(k.get_ref()), k.span()))
    }

    /// Span of the key at `path` (or of the array element, for an index).
    pub fn span_of(&self, path: &KeyPath) -> Option<Range<usize>> {
        let doc = self.doc.as_ref()?;
        let mut table: &DeTable = doc.get_ref();
        let mut value: Option<&Spanned<DeValue>> = None;
        let mut span = None;
        for seg in &path.0 {
            match seg {
                Seg::Key(k) => {
                    let t = match value {
                        None => table,
                        Some(v) => v.get_ref().as_table()?,
                    };
                    let (key, v) = t.iter().find(|(key, _)| key.get_ref() == k)?;
                    span = Some(key.span());
                    value = Some(v);
                    table = t;
                }
                Seg::Index(i) => {
                    let arr = value?.get_ref().as_array()?;
                    let v = arr.get(*i)?;
                    span = Some(v.span());
                    value = Some(v);
                }
            }
        }
        span
    }

    /// The deepest key path whose key or value contains `offset`.
    pub fn path_at(&self, offset: usize) -> KeyPath {
        let mut path = KeyPath::root();
        let Some(doc) = self.doc.as_ref() else {
            return path;
        };
        let mut current: Option<&DeValue> = None;
        let root = doc.get_ref();
        loop {
            let next = match current {
                None => find_in_table(root, offset),
                Some(DeValue::Table(t)) => find_in_table(t, offset),
                Some(DeValue::Array(a)) => a
                    .iter()
                    .enumerate()
                    .find(|(_, v)| contains(v, offset))
                    .map(|(i, v)| (Seg::Index(i), v.get_ref())),
                Some(_) => None,
            };
            match next {
                Some((seg, v)) => {
                    path.0.push(seg);
                    current = Some(v);
                }
                None => return path,
            }
        }
    }
}

fn find_in_table<'t, 'i>(t: &'t DeTable<'i>, offset: usize) -> Option<(Seg, &'t DeValue<'i>)> {
    t.iter()
        .find(|(k, v)| k.span().contains(&offset) || contains(v, offset))
        .map(|(k, v)| (Seg::Key(k.get_ref().to_string()), v.get_ref()))
}

/// Whether a value or anything inside it covers `offset`. Array-of-tables spans cover only
/// their headers, so children are searched too.
fn contains(v: &Spanned<DeValue>, offset: usize) -> bool {
    v.span().contains(&offset)
        || match v.get_ref() {
            DeValue::Table(t) => t
                .iter()
                .any(|(k, c)| k.span().contains(&offset) || contains(c, offset)),
            DeValue::Array(a) => a.iter().any(|c| contains(c, offset)),
            _ => false,
        }
}

/// Parses serde's "unknown field `x`, expected one of `a`, `b`" into ("x", ["a", "b"]).
fn parse_unknown(message: &str, prefix: &str) -> Option<(String, Vec<String>)> {
    let rest = message.strip_prefix(prefix)?.trim_start();
    let mut ticks = rest.split('`').skip(1).step_by(2);
    let name = ticks.next()?.to_string();
    Some((name, ticks.map(str::to_string).collect()))
}

/// The candidate closest to `word` by edit distance, if it is close enough to be a typo.
pub fn nearest<S: AsRef<str>>(word: &str, candidates: &[S]) -> Option<String> {
    if let Some(c) = candidates
        .iter()
        .find(|c| c.as_ref().eq_ignore_ascii_case(word))
    {
        return Some(c.as_ref().to_string());
    }
    let limit = (word.chars().count() / 3).max(2);
    candidates
        .iter()
        .map(|c| (edit_distance(word, c.as_ref()), c.as_ref()))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c.to_string())
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_render_like_the_design() {
        let p = KeyPath::root().key("workload").index(1).key("create_rate");
        assert_eq!(p.to_string(), "workload[1].create_rate");
    }

    #[test]
    fn nearest_key_for_typos() {
        let keys = ["create_rate", "close_rate", "deposit"];
        assert_eq!(nearest("create_rat", &keys).as_deref(), Some("create_rate"));
        assert_eq!(nearest("zzzzzz", &keys), None);
    }

    #[test]
    fn spans_and_paths_round_trip() {
        let text = "version = 1\n[scenario]\nname = \"x\"\n\n[[workload]]\ntype = \"transfer\"\n\n[[workload]]\ntype = \"call\"\nrate = 2.0\n";
        let map = SourceMap::new("x.toml", text);
        let p = KeyPath::root().key("workload").index(1).key("rate");
        let span = map.span_of(&p).expect("span");
        assert_eq!(map.line_col(span.start), (10, 1));
        assert_eq!(map.path_at(span.start), p);
    }
}
