//! The blocklist files in git: typed indicators, the YAML model, guardrails.
//!
//! A blocklist file is a mapping with one key, `entries`, holding one entry per indicator.
//! The canonical form (what `fmt` writes and `pull` produces) is sorted by type then value,
//! with a fixed key order, so that git diffs show exactly the entries that changed.
pub mod allowlist;
pub mod effective;
pub mod embedded;
pub mod guard;
pub mod indicator;
pub mod merge;
pub(crate) mod parse;

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::Path;

use serde::{Deserialize, Serialize};
use time::Date;

use crate::diag::{Diagnostic, Diagnostics};
use indicator::Indicator;
pub(crate) use parse::LineIndex;
use parse::{RawEntry, fast, slow};

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

const DATE_FMT: &[time::format_description::BorrowedFormatItem<'static>] =
    time::macros::format_description!("[year]-[month]-[day]");

/// Parse `YYYY-MM-DD`.
pub fn parse_date(s: &str) -> Result<Date, String> {
    // `YYYY-MM-DD` exactly (every date blockops writes) without the format interpreter.
    let b = s.as_bytes();
    if b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
    {
        let num =
            |r: std::ops::Range<usize>| b[r].iter().fold(0u16, |n, c| n * 10 + u16::from(c - b'0'));
        if let Ok(month) = time::Month::try_from(num(5..7) as u8)
            && let Ok(d) = Date::from_calendar_date(i32::from(num(0..4)), month, num(8..10) as u8)
        {
            return Ok(d);
        }
    }
    Date::parse(s.trim(), DATE_FMT).map_err(|_| format!("`{s}` is not a date like 2026-11-27"))
}

/// Format as `YYYY-MM-DD`.
pub fn format_date(d: Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
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
        if let Some(raw) = fast::parse(text) {
            return Self::from_raw(raw, text, path);
        }
        let (raw, mut diags) = slow::read(text, path, parse::ENTRY_KEYS);
        let (file, more) = Self::from_raw(raw, text, path);
        diags.extend(more);
        (file, diags)
    }

    /// Validate raw entries (from either reader) into a file; every problem of every entry
    /// is reported, and an entry with any problem is left out.
    fn from_raw(
        raw_entries: Vec<RawEntry<'_>>,
        text: &str,
        path: &str,
    ) -> (BlocklistFile, Diagnostics) {
        let mut diags = Diagnostics::default();
        let mut file = BlocklistFile::empty(path);
        // Positions are only needed for problems: index the lines on the first one.
        let lines = std::cell::OnceCell::new();
        let index = || lines.get_or_init(|| LineIndex::new(text));
        for r in raw_entries {
            let line = r.line;
            let before = diags.0.len();
            let mut err = |key: &str, msg: String| {
                let (l, c) = index().locate(line, key);
                diags.push(Diagnostic::error(path, l, c, msg));
            };
            let value = match Indicator::parse(&r.value) {
                Ok(v) => Some(v),
                Err(e) => {
                    err("value", e.to_string());
                    None
                }
            };
            if let (Some(k), Some(v)) = (r.kind, &value)
                && k != v.kind()
            {
                err("type", format!("`{v}` is of type {}, not {k}", v.kind()));
            }
            let shown = || {
                value
                    .as_ref()
                    .map(|v| v.to_string())
                    .unwrap_or_else(|| "this entry".into())
            };
            if let Some(c) = &r.comment
                && (c.len() > MAX_COMMENT || c.chars().any(|ch| ch.is_control() && ch != '\t'))
            {
                err(
                    "comment",
                    format!(
                        "comment of `{}` has control characters or is over {MAX_COMMENT} bytes",
                        shown()
                    ),
                );
            }
            if r.malops.len() > MAX_MALOPS
                || r.malops
                    .iter()
                    .any(|m| m.is_empty() || m.len() > 64 || !crate::text::is_word(m, ".-_"))
            {
                err(
                    "malops",
                    format!(
                        "malops of `{}`: at most {MAX_MALOPS} GUIDs of A-Z a-z 0-9 . - _",
                        shown()
                    ),
                );
            }
            let Some(value) = value else { continue };
            if diags.0.len() > before {
                continue;
            }
            file.entries.push(Entry {
                value,
                sources: r.sources,
                malops: r.malops.into_iter().collect(),
                first_seen: r.first_seen,
                expires: r.expires,
                comment: r.comment,
                line,
            });
        }
        let at = |line: usize, key: &str| index().locate(line, key);
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

    /// Load `rel` from the work tree under `root`. A missing file is an error like any other
    /// problem (fail closed); the path rules of [`crate::gitops::Source`] apply.
    pub fn load(root: &Path, rel: &str) -> Result<BlocklistFile, Diagnostics> {
        let src = crate::gitops::WorktreeSource {
            root: root.to_path_buf(),
        };
        let text = crate::gitops::read_required(&src, rel)?;
        Self::parse(&text, rel)
    }

    /// Write the canonical form atomically to `root/path` (never through a link).
    pub fn save(&self, root: &Path) -> anyhow::Result<()> {
        crate::atomic::write_under(root, &self.path, self.to_canonical_string().as_bytes())
    }

    /// Entry for a value, if listed.
    pub fn get(&self, value: &Indicator) -> Option<&Entry> {
        self.entries
            .binary_search_by(|e| e.value.cmp(value))
            .ok()
            .map(|i| &self.entries[i])
    }
}

/// First lines of every canonical file.
pub const HEADER: &str =
    "# blockops blocklist. Canonical form: `blockops fmt`. One entry per indicator.\n";

/// A YAML double-quoted scalar (JSON string syntax is valid YAML). Characters outside YAML's
/// printable set (C1 controls, DEL, U+FFFE/U+FFFF), which JSON leaves raw but a YAML parser
/// refuses, are written as `\uXXXX` escapes, which both readers decode.
fn yaml_str(s: &str) -> String {
    let json = serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into());
    if !json.chars().any(|c| !yaml_printable(c)) {
        return json;
    }
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        if yaml_printable(c) {
            out.push(c);
        } else {
            out.push_str(&format!("\\u{:04X}", u32::from(c)));
        }
    }
    out
}

/// YAML 1.2 `c-printable` (tab, line breaks, printable ASCII, and the rest of Unicode but
/// surrogates and U+FFFE/U+FFFF), less the characters YAML 1.1 parsers treat as line breaks
/// inside a quoted scalar (NEL, LS, PS), which they would fold into a space.
fn yaml_printable(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{7E}' | '\u{A0}'..='\u{2027}' | '\u{202A}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_read_as_the_format_description_reads_them() {
        let reference = |s: &str| Date::parse(s.trim(), DATE_FMT).ok();
        let mut cases: Vec<String> = vec![
            "2026-02-29".into(),
            "2024-02-29".into(),
            "2026-13-01".into(),
            "2026-00-10".into(),
            "2026-04-31".into(),
            "0000-01-01".into(),
            "9999-12-31".into(),
            " 2026-11-27".into(),
            "2026-1-27".into(),
            "2026/11/27".into(),
        ];
        for m in 0..=13 {
            for d in [0, 1, 28, 29, 30, 31, 32] {
                cases.push(format!("2025-{m:02}-{d:02}"));
            }
        }
        for c in &cases {
            assert_eq!(parse_date(c).ok(), reference(c), "{c:?}");
        }
    }

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
        let (slow, d) = slow::read(CANON, "b.yaml", parse::ENTRY_KEYS);
        assert!(d.is_empty(), "{d}");
        assert_eq!(fast, slow);
        let a = BlocklistFile::from_raw(fast, CANON, "b.yaml");
        let b = BlocklistFile::from_raw(slow, CANON, "b.yaml");
        assert_eq!(a, b);
        assert_eq!(a.0.entries.len(), 4);
        // Anything unusual falls back to the YAML parser.
        assert!(fast::parse("entries:\n- value: a.example # note\n").is_none());
        assert!(fast::parse("entries:\n- {value: a.example}\n").is_none());
        assert!(fast::parse("entries:\n- value: a.example\n  colour: red\n").is_none());
    }

    #[test]
    fn comment_with_yaml_non_printable_characters_round_trips_through_both_readers() {
        // Found by the fast/slow property test: JSON leaves U+FFFE raw, a YAML parser refuses it.
        let mut f = BlocklistFile::empty("b.yaml");
        let mut e = Entry::new(Indicator::parse("203.0.113.7").unwrap());
        e.comment = Some("a\u{fffe}b\u{2028}c\u{ffff}".into());
        f.entries.push(e.clone());
        let text = f.to_canonical_string();
        assert!(
            text.contains(r#"comment: "a\uFFFEb\u2028c\uFFFF""#),
            "{text}"
        );
        let fast = fast::parse(&text).expect("canonical text takes the fast path");
        let (slow, d) = slow::read(&text, "b.yaml", parse::ENTRY_KEYS);
        assert!(d.is_empty(), "{d}");
        assert_eq!(fast, slow);
        let back = BlocklistFile::parse(&text, "b.yaml").unwrap();
        assert_eq!(back.entries[0].comment, e.comment);
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

    #[test]
    fn two_problems_in_one_entry_are_both_reported() {
        let text = "entries:\n- value: 203.0.113.7/24\n  comment: \"a\\u0007b\"\n  malops: [\"a b\"]\n- value: ok.example\n  type: ipv4\n  malops: [\"x y\"]\n";
        let e = BlocklistFile::parse(text, "m.yaml")
            .unwrap_err()
            .to_string();
        for want in [
            "m.yaml:2:10: error: `203.0.113.7/24`",
            "m.yaml:3:12: error: comment of `this entry`",
            "m.yaml:4:11: error: malops of `this entry`",
            "m.yaml:6:9: error: `ok.example` is of type fqdn, not ipv4",
            "m.yaml:7:11: error: malops of `ok.example`",
        ] {
            assert!(e.contains(want), "missing {want:?} in:\n{e}");
        }
    }

    #[test]
    fn schema_problems_in_every_entry_are_reported_with_positions() {
        let text = "entries:\n- value: a.example\n  sauce: x\n  first_seen: yesterday\n- value: b.example\n- value: c.example\n  sources: [telepathy, reputation]\n  type: ipv9\n";
        let e = BlocklistFile::parse(text, "m.yaml")
            .unwrap_err()
            .to_string();
        for want in [
            "m.yaml:3:3: error: unknown key `sauce`",
            "m.yaml:4:15: error: `first_seen`: `yesterday` is not a date",
            "m.yaml:7:12: error: unknown source `telepathy`",
            "m.yaml:8:9: error: `type` must be one of",
        ] {
            assert!(e.contains(want), "missing {want:?} in:\n{e}");
        }
        // The valid entry is still read by the lenient parser.
        let (f, _) = BlocklistFile::parse_lenient(text, "m.yaml");
        assert_eq!(f.entries.len(), 1);
    }

    #[test]
    fn a_repeated_key_is_an_error_whatever_the_key() {
        // The bug: the fast reader merged a second `sources:` silently.
        for key in [
            "type: fqdn",
            "sources: [domain]",
            "malops: [\"a\"]",
            "first_seen: 2026-11-01",
            "expires: 2027-01-01",
            "comment: \"x\"",
        ] {
            let text = format!("{HEADER}entries:\n- value: a.example\n  {key}\n  {key}\n");
            let e = BlocklistFile::parse(&text, "m.yaml");
            assert!(e.is_err(), "accepted a repeated `{key}`");
            let s = e.unwrap_err().to_string();
            assert!(s.contains("duplicate"), "{key}: {s}");
        }
        let twice = format!(
            "{HEADER}entries:\n- value: a.example\n  sources: []\n  sources: [reputation]\n"
        );
        assert!(BlocklistFile::parse(&twice, "m.yaml").is_err());
        assert!(BlocklistFile::parse("entries: []\nentries: []\n", "m.yaml").is_err());
    }

    #[test]
    fn a_file_without_entries_is_an_error_and_entries_brackets_is_empty() {
        for text in ["", "\n\n", "# nothing here\n", "entries:\n", "entries: ~\n"] {
            let e = BlocklistFile::parse(text, "m.yaml")
                .unwrap_err()
                .to_string();
            assert!(e.contains("entries: []"), "{text:?}: {e}");
        }
        assert!(
            BlocklistFile::parse("entries: []\n", "m.yaml")
                .unwrap()
                .entries
                .is_empty()
        );
        assert!(BlocklistFile::parse(&format!("{HEADER}entries: []\n"), "m.yaml").is_ok());
    }
}
