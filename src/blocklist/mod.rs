//! The blocklist files in git: typed indicators, the YAML model, guardrails.
//!
//! A blocklist file is a mapping with one key, `entries`, holding one entry per indicator.
//! The canonical form (what `fmt` writes and `pull` produces) is sorted by type then value,
//! with a fixed key order, so that git diffs show exactly the entries that changed.
pub mod allowlist;
pub mod guard;
pub mod indicator;
pub mod merge;

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::Path;

use serde::{Deserialize, Deserializer, Serialize};
use time::Date;

use crate::diag::{Diagnostic, Diagnostics};
use indicator::{Indicator, IndicatorType};

/// Where an indicator came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// Cybereason reputation list (`blacklist`).
    Reputation,
    /// A malicious connection seen by the EDR.
    Connection,
    /// A suspicious or malicious domain.
    Domain,
    /// Linked to a MalOp.
    Malop,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Reputation => "reputation",
            Source::Connection => "connection",
            Source::Domain => "domain",
            Source::Malop => "malop",
        }
    }
}

/// One blocklist entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    pub value: Indicator,
    pub sources: BTreeSet<Source>,
    pub malops: BTreeSet<String>,
    #[serde(serialize_with = "ser_date_opt")]
    pub first_seen: Option<Date>,
    #[serde(serialize_with = "ser_date_opt")]
    pub expires: Option<Date>,
    pub comment: Option<String>,
    /// 1-based line of the entry in its file (0 when unknown or built in memory).
    #[serde(skip)]
    pub line: usize,
}

impl Entry {
    /// A new entry with nothing but a value.
    pub fn new(value: Indicator) -> Self {
        Entry {
            value,
            sources: BTreeSet::new(),
            malops: BTreeSet::new(),
            first_seen: None,
            expires: None,
            comment: None,
            line: 0,
        }
    }

    /// Same content, ignoring where it was read from.
    pub fn same_content(&self, other: &Entry) -> bool {
        Entry {
            line: 0,
            ..self.clone()
        } == Entry {
            line: 0,
            ..other.clone()
        }
    }

    /// True when the entry expired before `today` (it is then not rendered).
    pub fn is_expired(&self, today: Date) -> bool {
        self.expires.is_some_and(|e| e < today)
    }
}

/// One blocklist file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BlocklistFile {
    /// Path relative to the repository root, as shown in messages.
    pub path: String,
    /// Entries in canonical order after [`BlocklistFile::sort`].
    pub entries: Vec<Entry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    entries: Option<Vec<RawEntry>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    value: String,
    #[serde(rename = "type", default)]
    kind: Option<IndicatorType>,
    #[serde(default)]
    sources: Vec<Source>,
    #[serde(default)]
    malops: Vec<String>,
    #[serde(default, deserialize_with = "de_date_opt")]
    first_seen: Option<Date>,
    #[serde(default, deserialize_with = "de_date_opt")]
    expires: Option<Date>,
    #[serde(default)]
    comment: Option<String>,
}

const DATE_FMT: &[time::format_description::BorrowedFormatItem<'static>] =
    time::macros::format_description!("[year]-[month]-[day]");

/// Parse `YYYY-MM-DD`.
pub fn parse_date(s: &str) -> Result<Date, String> {
    Date::parse(s.trim(), DATE_FMT).map_err(|_| format!("`{s}` is not a date like 2026-11-27"))
}

/// Format as `YYYY-MM-DD`.
pub fn format_date(d: Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

fn de_date_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Date>, D::Error> {
    let s: Option<String> = Option::deserialize(d)?;
    s.map(|s| parse_date(&s).map_err(serde::de::Error::custom))
        .transpose()
}

fn ser_date_opt<S: serde::Serializer>(d: &Option<Date>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.serialize_str(&format_date(*d)),
        None => s.serialize_none(),
    }
}

/// Today's UTC date; `BLOCKOPS_TODAY=YYYY-MM-DD` pins it (tests, reproducible reviews).
pub fn today() -> Date {
    if let Ok(s) = std::env::var("BLOCKOPS_TODAY")
        && let Ok(d) = parse_date(&s)
    {
        return d;
    }
    time::OffsetDateTime::now_utc().date()
}

/// Longest comment kept in a blocklist entry.
pub const MAX_COMMENT: usize = 1024;
/// Most MalOp GUIDs kept per entry.
pub const MAX_MALOPS: usize = 64;

impl BlocklistFile {
    /// An empty file at `path`.
    pub fn empty(path: &str) -> Self {
        BlocklistFile {
            path: path.into(),
            entries: Vec::new(),
        }
    }

    /// Parse a blocklist. Every problem is reported (with `path:line:col`), not just the first.
    pub fn parse(text: &str, path: &str) -> Result<BlocklistFile, Diagnostics> {
        let (file, diags) = Self::parse_lenient(text, path);
        if diags.has_errors() {
            Err(diags)
        } else {
            Ok(file)
        }
    }

    /// Parse, keeping the valid entries and returning all problems alongside.
    pub fn parse_lenient(text: &str, path: &str) -> (BlocklistFile, Diagnostics) {
        let mut diags = Diagnostics::default();
        let file = BlocklistFile::empty(path);
        if text.trim().is_empty() {
            return (file, diags);
        }
        if let Some(raw) = fast::parse(text) {
            return Self::from_raw(raw, text, path);
        }
        let raw: RawFile = match serde_yaml::from_str(text) {
            Ok(r) => r,
            Err(e) => {
                diags.push(Diagnostic::from_yaml(path, &e));
                return (file, diags);
            }
        };
        Self::from_raw(raw.entries.unwrap_or_default(), text, path)
    }

    /// Validate raw entries (from either parser) into a file.
    fn from_raw(
        raw_entries: Vec<RawEntry>,
        text: &str,
        path: &str,
    ) -> (BlocklistFile, Diagnostics) {
        let mut diags = Diagnostics::default();
        let mut file = BlocklistFile::empty(path);
        let lines = entry_lines(text);
        let lines_ok = lines.len() == raw_entries.len();
        let index = LineIndex::new(text);
        let at = |line: usize, key: &str| {
            if lines_ok {
                index.locate(line, key)
            } else {
                (0, 0)
            }
        };
        for (i, r) in raw_entries.into_iter().enumerate() {
            let line = if lines_ok { lines[i] } else { 0 };
            let value = match Indicator::parse(&r.value) {
                Ok(v) => v,
                Err(e) => {
                    let (vline, vcol) = at(line, "value");
                    diags.push(Diagnostic::error(path, vline, vcol, e.to_string()));
                    continue;
                }
            };
            if let Some(k) = r.kind
                && k != value.kind()
            {
                let (l, c) = at(line, "type");
                diags.push(Diagnostic::error(
                    path,
                    l,
                    c,
                    format!("`{value}` is of type {}, not {k}", value.kind()),
                ));
                continue;
            }
            if let Some(c) = &r.comment
                && (c.len() > MAX_COMMENT || c.chars().any(|ch| ch.is_control() && ch != '\t'))
            {
                let (l, col) = at(line, "comment");
                diags.push(Diagnostic::error(
                    path,
                    l,
                    col,
                    format!(
                        "comment of `{value}` has control characters or is over {MAX_COMMENT} bytes"
                    ),
                ));
                continue;
            }
            if r.malops.len() > MAX_MALOPS
                || r.malops
                    .iter()
                    .any(|m| m.is_empty() || m.len() > 64 || !crate::config::is_word(m, ".-_"))
            {
                let (l, c) = at(line, "malops");
                diags.push(Diagnostic::error(
                    path,
                    l,
                    c,
                    format!("malops of `{value}`: at most {MAX_MALOPS} GUIDs of A-Z a-z 0-9 . - _"),
                ));
                continue;
            }
            file.entries.push(Entry {
                value,
                sources: r.sources.into_iter().collect(),
                malops: r.malops.into_iter().collect(),
                first_seen: r.first_seen,
                expires: r.expires,
                comment: r.comment,
                line,
            });
        }
        // Stable sort keeps file order among equal values: the first listing wins and
        // every later one is reported.
        file.sort();
        let mut kept: Vec<Entry> = Vec::with_capacity(file.entries.len());
        for e in std::mem::take(&mut file.entries) {
            match kept.last() {
                Some(first) if first.value == e.value => {
                    let (vline, vcol) = at(e.line, "value");
                    diags.push(Diagnostic::error(
                        path,
                        vline,
                        vcol,
                        format!(
                            "`{}` is listed twice (first at line {})",
                            e.value, first.line
                        ),
                    ));
                }
                _ => kept.push(e),
            }
        }
        file.entries = kept;
        (file, diags)
    }

    /// Sort entries into canonical order.
    pub fn sort(&mut self) {
        self.entries.sort_by(|a, b| a.value.cmp(&b.value));
    }

    /// The canonical YAML text.
    pub fn to_canonical_string(&self) -> String {
        let mut sorted: Vec<&Entry> = self.entries.iter().collect();
        sorted.sort_by(|a, b| a.value.cmp(&b.value));
        let mut out = String::with_capacity(64 + sorted.len() * 96);
        out.push_str(HEADER);
        if sorted.is_empty() {
            out.push_str("entries: []\n");
            return out;
        }
        out.push_str("entries:\n");
        for e in sorted {
            let v = e.value.to_string();
            if v.contains(':') {
                let _ = writeln!(out, "- value: \"{v}\"");
            } else {
                let _ = writeln!(out, "- value: {v}");
            }
            let _ = writeln!(out, "  type: {}", e.value.kind());
            out.push_str("  sources: [");
            for (i, s) in e.sources.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(s.as_str());
            }
            out.push_str("]\n");
            if !e.malops.is_empty() {
                out.push_str("  malops: [");
                for (i, m) in e.malops.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    out.push_str(&yaml_str(m));
                }
                out.push_str("]\n");
            }
            if let Some(d) = e.first_seen {
                let _ = writeln!(out, "  first_seen: {}", format_date(d));
            }
            if let Some(d) = e.expires {
                let _ = writeln!(out, "  expires: {}", format_date(d));
            }
            if let Some(c) = &e.comment {
                let _ = writeln!(out, "  comment: {}", yaml_str(c));
            }
        }
        out
    }

    /// Load `rel` under `root`; a missing file is an empty list.
    pub fn load(root: &Path, rel: &str) -> Result<BlocklistFile, Diagnostics> {
        match std::fs::read_to_string(root.join(rel)) {
            Ok(text) => Self::parse(&text, rel),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BlocklistFile::empty(rel)),
            Err(e) => Err(Diagnostic::error(rel, 0, 0, format!("cannot read: {e}")).into()),
        }
    }

    /// Write the canonical form atomically to `root/path`.
    pub fn save(&self, root: &Path) -> anyhow::Result<()> {
        crate::atomic::write(
            &root.join(&self.path),
            self.to_canonical_string().as_bytes(),
        )
    }

    /// Entry for a value, if listed.
    pub fn get(&self, value: &Indicator) -> Option<&Entry> {
        self.entries
            .binary_search_by(|e| e.value.cmp(value))
            .ok()
            .map(|i| &self.entries[i])
    }
}

/// A strict, fast reader for exactly the canonical form (what `pull` and `fmt` write).
/// Anything else — comments inside, flow mappings, other quoting — returns `None` and the
/// full YAML parser takes over, so both paths accept the same files and report the same errors.
mod fast {
    use super::{IndicatorType, RawEntry, Source, parse_date};

    fn unquote_json(s: &str) -> Option<String> {
        if s.starts_with('"') {
            serde_json::from_str::<String>(s).ok()
        } else {
            None
        }
    }

    fn list(s: &str) -> Option<Vec<&str>> {
        let inner = s.strip_prefix('[')?.strip_suffix(']')?;
        if inner.is_empty() {
            return Some(Vec::new());
        }
        Some(inner.split(", ").collect())
    }

    fn source(s: &str) -> Option<Source> {
        Some(match s {
            "reputation" => Source::Reputation,
            "connection" => Source::Connection,
            "domain" => Source::Domain,
            "malop" => Source::Malop,
            _ => return None,
        })
    }

    pub(super) fn parse(text: &str) -> Option<Vec<RawEntry>> {
        let mut lines = text.lines().peekable();
        while lines.peek()?.starts_with('#') {
            lines.next();
        }
        match lines.next()? {
            "entries: []" => {
                return if lines.next().is_none() {
                    Some(Vec::new())
                } else {
                    None
                };
            }
            "entries:" => {}
            _ => return None,
        }
        let mut out: Vec<RawEntry> = Vec::new();
        for line in lines {
            if let Some(v) = line.strip_prefix("- value: ") {
                let value = match v.strip_prefix('"') {
                    Some(q) => {
                        let inner = q.strip_suffix('"')?;
                        if inner.contains(['"', '\\']) {
                            return None;
                        }
                        inner.to_string()
                    }
                    None => {
                        if v.is_empty()
                            || !v.bytes().all(|b| {
                                b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'/')
                            })
                        {
                            return None;
                        }
                        v.to_string()
                    }
                };
                out.push(RawEntry {
                    value,
                    kind: None,
                    sources: Vec::new(),
                    malops: Vec::new(),
                    first_seen: None,
                    expires: None,
                    comment: None,
                });
                continue;
            }
            let e = out.last_mut()?;
            let (key, val) = line.strip_prefix("  ")?.split_once(": ")?;
            match key {
                "type" if e.kind.is_none() => {
                    e.kind = Some(match val {
                        "ipv4" => IndicatorType::Ipv4,
                        "ipv4-net" => IndicatorType::Ipv4Net,
                        "ipv6" => IndicatorType::Ipv6,
                        "ipv6-net" => IndicatorType::Ipv6Net,
                        "fqdn" => IndicatorType::Fqdn,
                        _ => return None,
                    })
                }
                "sources" => {
                    e.sources = list(val)?.into_iter().map(source).collect::<Option<_>>()?
                }
                "malops" if e.malops.is_empty() => {
                    e.malops = list(val)?
                        .into_iter()
                        .map(unquote_json)
                        .collect::<Option<_>>()?
                }
                "first_seen" if e.first_seen.is_none() => {
                    e.first_seen = Some(parse_date(val).ok()?)
                }
                "expires" if e.expires.is_none() => e.expires = Some(parse_date(val).ok()?),
                "comment" if e.comment.is_none() => e.comment = Some(unquote_json(val)?),
                _ => return None,
            }
        }
        Some(out)
    }
}

/// First lines of every canonical file.
pub const HEADER: &str =
    "# blockops blocklist. Canonical form: `blockops fmt`. One entry per indicator.\n";

/// A YAML double-quoted scalar (JSON string syntax is valid YAML).
fn yaml_str(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

/// 1-based line numbers of the items of the top-level `entries:` block sequence.
pub(crate) fn entry_lines(text: &str) -> Vec<usize> {
    let mut out = Vec::new();
    let mut in_entries = false;
    let mut indent: Option<usize> = None;
    for (i, line) in text.lines().enumerate() {
        if !in_entries {
            if line.starts_with("entries:") {
                in_entries = true;
            }
            continue;
        }
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let ind = line.len() - trimmed.len();
        if ind == 0 && !trimmed.starts_with('-') {
            break; // next top-level key
        }
        if trimmed.starts_with("- ") || trimmed == "-" {
            match indent {
                None => {
                    indent = Some(ind);
                    out.push(i + 1);
                }
                Some(n) if n == ind => out.push(i + 1),
                _ => {}
            }
        }
    }
    out
}

/// Byte offsets of line starts, so positions are found without rescanning the text.
pub(crate) struct LineIndex<'a> {
    text: &'a str,
    starts: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        LineIndex { text, starts }
    }

    /// Line `n` (1-based) without its newline.
    fn line(&self, n: usize) -> Option<&'a str> {
        let start = *self.starts.get(n.checked_sub(1)?)?;
        let end = self.starts.get(n).map(|e| e - 1).unwrap_or(self.text.len());
        self.text
            .get(start..end.max(start))
            .map(|l| l.trim_end_matches('\r'))
    }

    /// Line and column of `key:` inside the entry starting at `line` (falls back to the entry line).
    pub(crate) fn locate(&self, line: usize, key: &str) -> (usize, usize) {
        if line == 0 {
            return (0, 0);
        }
        let pat = format!("{key}:");
        for n in line..line + 64 {
            let Some(l) = self.line(n) else { break };
            if n > line && l.trim_start().starts_with("- ") {
                break;
            }
            if let Some(pos) = l.find(&pat) {
                let after = &l[pos + pat.len()..];
                let col = pos + pat.len() + (after.len() - after.trim_start().len()) + 1;
                return (n, col);
            }
        }
        (line, 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CANON: &str =
        "# blockops blocklist. Canonical form: `blockops fmt`. One entry per indicator.
entries:
- value: 203.0.113.7
  type: ipv4
  sources: [reputation, connection]
  malops: [\"11.-4319097116418812958\"]
  first_seen: 2026-11-01
- value: 198.51.100.0/24
  type: ipv4-net
  sources: []
  first_seen: 2026-10-01
  expires: 2026-12-31
  comment: \"scanner \\\"range\\\"\"
- value: \"2001:db8::1\"
  type: ipv6
  sources: [reputation]
- value: evil.example
  type: fqdn
  sources: [domain]
  first_seen: 2026-11-02
";

    #[test]
    fn canonical_round_trip_is_byte_identical() {
        let f = BlocklistFile::parse(CANON, "b.yaml").unwrap();
        assert_eq!(f.entries.len(), 4);
        assert_eq!(f.to_canonical_string(), CANON);
        assert_eq!(f.entries[0].line, 3);
        assert_eq!(f.entries[1].line, 8);
    }

    #[test]
    fn fast_reader_agrees_with_the_yaml_parser() {
        let fast = fast::parse(CANON).expect("canonical text takes the fast path");
        let slow: RawFile = serde_yaml::from_str(CANON).unwrap();
        let a = BlocklistFile::from_raw(fast, CANON, "b.yaml");
        let b = BlocklistFile::from_raw(slow.entries.unwrap(), CANON, "b.yaml");
        assert_eq!(a, b);
        assert_eq!(a.0.entries.len(), 4);
        // Anything unusual falls back to the YAML parser.
        assert!(fast::parse("entries:\n- value: a.example # note\n").is_none());
        assert!(fast::parse("entries:\n- {value: a.example}\n").is_none());
        assert!(fast::parse("entries:\n- value: a.example\n  colour: red\n").is_none());
    }

    #[test]
    fn non_canonical_input_is_normalised() {
        let text =
            "entries:\n  - comment: hi\n    value: EVIL.example.\n  - {value: 203.0.113.9}\n";
        let f = BlocklistFile::parse(text, "m.yaml").unwrap();
        let out = f.to_canonical_string();
        assert!(
            out.contains(
                "- value: 203.0.113.9\n  type: ipv4\n  sources: []\n- value: evil.example\n"
            ),
            "{out}"
        );
        assert_eq!(
            BlocklistFile::parse(&out, "m.yaml")
                .unwrap()
                .to_canonical_string(),
            out
        );
    }

    #[test]
    fn every_problem_is_reported_with_position() {
        let text = "entries:\n- value: 203.0.113.7/24\n- value: ok.example\n  type: ipv4\n- value: a.example\n- value: A.example\n";
        let e = BlocklistFile::parse(text, "m.yaml").unwrap_err();
        let s = e.to_string();
        assert!(s.contains("m.yaml:2:10: error: `203.0.113.7/24`"), "{s}");
        assert!(s.contains("did you mean 203.0.113.0/24"), "{s}");
        assert!(
            s.contains("m.yaml:4:9: error: `ok.example` is of type fqdn, not ipv4"),
            "{s}"
        );
        assert!(
            s.contains("m.yaml:6:10: error: `a.example` is listed twice (first at line 5)"),
            "{s}"
        );
    }

    #[test]
    fn unknown_keys_are_errors() {
        let e = BlocklistFile::parse("entries:\n- value: a.example\n  sauce: x\n", "m.yaml")
            .unwrap_err();
        let s = e.to_string();
        assert!(s.contains("m.yaml:3:") && s.contains("sauce"), "{s}");
        let e = BlocklistFile::parse("entrys: []\n", "m.yaml").unwrap_err();
        assert!(e.to_string().contains("entrys"), "{e}");
    }

    #[test]
    fn hostile_yaml_is_rejected_cleanly() {
        for text in [
            "entries: !!binary aGVsbG8=\n",
            "entries:\n- value: &a a.example\n- value: *a\n",
            "entries:\n- value: [1, 2]\n",
            "entries:\n- value: a.example\n  first_seen: yesterday\n",
            "entries:\n- value: a.example\n  sources: [telepathy]\n",
            "- just a list\n",
            "entries:\n- value: a.example\n  comment: \"x\\u0007y\"\n",
            "entries:\n- value: a.example\n  malops: [\"a b\"]\n",
            "entries: {\n",
        ] {
            assert!(
                BlocklistFile::parse(text, "h.yaml").is_err(),
                "accepted: {text:?}"
            );
        }
    }
}
