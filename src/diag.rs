//! Problems found in user files, with `file:line:col`, collected so that `check` can list
//! every problem rather than stop at the first.
//!
//! Repository content is untrusted (a review job runs `check` on pull requests): a message
//! never shows more than a short, sanitised excerpt of any value. That rule lives here, in
//! [`sanitize`], applied whenever a diagnostic is printed or serialised — not at each call
//! site — so a YAML error that quotes a whole scalar (`invalid type: string "…"`) cannot dump a
//! file into a CI log, and control or bidi characters cannot rewrite the terminal.
use std::fmt;

use serde::{Serialize, Serializer};

/// Longest quoted excerpt (in characters) a message may show; longer ones are cut.
pub const EXCERPT_CHARS: usize = 40;
/// Longest message (in characters) a diagnostic prints.
pub const MAX_MESSAGE_CHARS: usize = 400;

/// How bad a problem is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
    Info,
}

/// One problem at one place. `line`/`col` are 1-based; 0 means "whole file".
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub severity: Severity,
    pub file: String,
    pub line: usize,
    pub col: usize,
    #[serde(serialize_with = "ser_sanitized")]
    pub message: String,
}

fn ser_sanitized<S: Serializer>(m: &str, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&sanitize(m))
}

/// A message made safe to print: every quoted span (`` `…` `` or `"…"`) longer than
/// [`EXCERPT_CHARS`] is cut, hidden characters (controls, bidi, zero-width …) are shown as
/// `\u{…}`, and the whole message is at most [`MAX_MESSAGE_CHARS`] characters.
/// Idempotent: sanitising twice changes nothing.
pub fn sanitize(msg: &str) -> String {
    // A pass either leaves its input unchanged or makes it strictly shorter (nothing hidden is
    // left to escape after the first), so repeating it reaches a fixpoint quickly; the fixpoint
    // is what makes sanitising idempotent even when the length cap cuts inside a quoted span.
    let mut s = sanitize_pass(msg);
    loop {
        let t = sanitize_pass(&s);
        if t == s {
            return s;
        }
        s = t;
    }
}

fn sanitize_pass(msg: &str) -> String {
    let escape = |c: char, out: &mut String| {
        if crate::text::is_hidden(c) {
            out.push_str(&c.escape_unicode().to_string());
        } else {
            out.push(c);
        }
    };
    let mut out = String::with_capacity(msg.len().min(4 * MAX_MESSAGE_CHARS));
    let mut chars = msg.chars();
    while let Some(c) = chars.next() {
        if c != '`' && c != '"' {
            escape(c, &mut out);
            continue;
        }
        // A quoted span: escape its content, keep at most EXCERPT_CHARS characters of it.
        let close = c;
        let mut span = String::new();
        let mut closed = false;
        let mut escaped = false;
        for d in chars.by_ref() {
            if d == close && !escaped {
                closed = true;
                break;
            }
            escaped = close == '"' && d == '\\' && !escaped;
            escape(d, &mut span);
        }
        out.push(close);
        if span.chars().count() > EXCERPT_CHARS {
            let mut cut: String = span.chars().take(EXCERPT_CHARS - 1).collect();
            // Never leave a dangling escape before the ellipsis.
            while close == '"' && cut.ends_with('\\') {
                cut.pop();
            }
            out.push_str(&cut);
            out.push('…');
        } else {
            out.push_str(&span);
        }
        if closed {
            out.push(close);
        }
    }
    if out.chars().count() > MAX_MESSAGE_CHARS {
        let mut cut: String = out.chars().take(MAX_MESSAGE_CHARS - 1).collect();
        cut.push('…');
        return cut;
    }
    out
}

impl Diagnostic {
    pub fn error(file: &str, line: usize, col: usize, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            file: file.into(),
            line,
            col,
            message: message.into(),
        }
    }
    pub fn warning(file: &str, line: usize, col: usize, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            file: file.into(),
            line,
            col,
            message: message.into(),
        }
    }
    pub fn info(file: &str, line: usize, col: usize, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Info,
            file: file.into(),
            line,
            col,
            message: message.into(),
        }
    }

    /// A YAML syntax or schema error, positioned where the parser stopped.
    pub fn from_yaml(file: &str, e: &serde_yaml::Error) -> Self {
        let (line, col) = e
            .location()
            .map(|l| (l.line(), l.column()))
            .unwrap_or((0, 0));
        // serde_norway appends " at line X column Y" to the message; we print the position up front.
        let msg = e.to_string();
        let msg = match msg.rfind(" at line ") {
            Some(i) if line > 0 => msg[..i].to_string(),
            _ => msg,
        };
        Diagnostic::error(file, line, col, msg)
    }

    /// `file:line:col` (or `file:line`, or `file`).
    pub fn location(&self) -> String {
        match (self.line, self.col) {
            (0, _) => sanitize(&self.file),
            (l, 0) => format!("{}:{l}", sanitize(&self.file)),
            (l, c) => format!("{}:{l}:{c}", sanitize(&self.file)),
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sev = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "note",
        };
        write!(f, "{}: {sev}: {}", self.location(), sanitize(&self.message))
    }
}

/// A list of problems; an `Error` when it holds at least one error.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    pub fn push(&mut self, d: Diagnostic) {
        self.0.push(d);
    }
    pub fn extend(&mut self, other: Diagnostics) {
        self.0.extend(other.0);
    }
    pub fn has_errors(&self) -> bool {
        self.0.iter().any(|d| d.severity == Severity::Error)
    }
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter().filter(|d| d.severity == Severity::Error)
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    /// Sort by file, position, then message, for deterministic output.
    pub fn sort(&mut self) {
        self.0.sort_by(|a, b| {
            (&a.file, a.line, a.col, a.severity, &a.message)
                .cmp(&(&b.file, b.line, b.col, b.severity, &b.message))
        });
    }
}

impl From<Diagnostic> for Diagnostics {
    fn from(d: Diagnostic) -> Self {
        Diagnostics(vec![d])
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for d in self.0.iter().filter(|d| d.severity == Severity::Error) {
            if !first {
                f.write_str("\n")?;
            }
            first = false;
            write!(f, "{d}")?;
        }
        if first {
            f.write_str("no errors")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_never_show_more_than_a_short_excerpt_of_a_value() {
        let long = "x".repeat(500);
        let m = sanitize(&format!("invalid type: string \"{long}\", expected u8"));
        assert!(
            m.contains(&format!("\"{}…\"", "x".repeat(EXCERPT_CHARS - 1))),
            "{m}"
        );
        assert!(m.len() < 100, "{m}");
        let m = sanitize(&format!("value `{long}` is bad"));
        assert!(m.ends_with("…` is bad"), "{m}");
        let m = sanitize(&"word ".repeat(200));
        assert_eq!(m.chars().count(), MAX_MESSAGE_CHARS);
    }

    #[test]
    fn hidden_characters_are_shown_escaped() {
        let m = sanitize("a\u{1b}[31mred `b\u{202E}c` \"d\\\"\u{7}\"");
        assert!(
            !m.contains('\u{1b}') && !m.contains('\u{202E}') && !m.contains('\u{7}'),
            "{m}"
        );
        assert!(m.contains("\\u{1b}") && m.contains("\\u{202e}"), "{m}");
    }

    #[test]
    fn sanitising_is_idempotent_and_applies_to_display_and_json() {
        for s in [
            format!("`{}` and \"{}\"", "a".repeat(90), "b\\".repeat(60)),
            format!("\"{}", "c".repeat(1000)),
            "plain message".to_string(),
            format!("{}\u{2028}", "d ".repeat(300)),
        ] {
            let once = sanitize(&s);
            assert_eq!(sanitize(&once), once, "{s:?}");
        }
        let d = Diagnostic::error("f.yaml", 1, 2, format!("bad `{}`", "z".repeat(300)));
        assert!(!d.to_string().contains(&"z".repeat(EXCERPT_CHARS)));
        let json = serde_json::to_string(&d).unwrap();
        assert!(!json.contains(&"z".repeat(EXCERPT_CHARS)), "{json}");
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config::with_cases(256))]
        #[test]
        fn sanitised_messages_are_bounded_visible_and_stable(s in "(?s).{0,600}") {
            let once = sanitize(&s);
            proptest::prop_assert!(once.chars().count() <= MAX_MESSAGE_CHARS);
            proptest::prop_assert!(!once.chars().any(crate::text::is_hidden));
            proptest::prop_assert_eq!(sanitize(&once), once);
        }
    }
}
