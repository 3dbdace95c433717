//! Where a key of `blockops.yaml` is written: reviewers and `explain` point at `file:line`.
//!
//! The YAML parser keeps no positions for values, so this follows the block structure of the
//! text (indentation, `- ` sequence items) and finds the line of a path such as
//! `targets[1].host`. It is best effort and only used for display: a path written in flow
//! style (`password: {env: X}`) resolves to the line of its outermost block key, and a path
//! that is not written at all (a default) resolves to nothing.

/// One step of a path: a mapping key or a sequence index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seg<'a> {
    Key(&'a str),
    Index(usize),
}

#[derive(Debug)]
struct Frame {
    indent: usize,
    seg: Owned,
    /// Sequence items seen directly under this key.
    items: usize,
}

#[derive(Debug, PartialEq, Eq)]
enum Owned {
    Key(String),
    Index(usize),
}

impl Owned {
    fn matches(&self, s: &Seg<'_>) -> bool {
        match (self, s) {
            (Owned::Key(a), Seg::Key(b)) => a == b,
            (Owned::Index(a), Seg::Index(b)) => a == b,
            _ => false,
        }
    }
}

/// 1-based line of `path` in `text`: the exact line when the path is written in block style,
/// else the line of the deepest written ancestor whose value is a flow collection (`{…}` /
/// `[…]`) on that line, else `None`.
pub fn line_of(text: &str, path: &[Seg<'_>]) -> Option<usize> {
    let mut stack: Vec<Frame> = Vec::new();
    let mut flow_fallback: Option<(usize, usize)> = None; // (depth, line)
    for (no, raw) in text.lines().enumerate() {
        let line = raw.trim_end();
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed == "---" || trimmed == "..." {
            continue;
        }
        let mut col = line.len() - trimmed.len();
        let mut rest = trimmed;
        while rest == "-" || rest.starts_with("- ") {
            // A sequence item at `col`: its parent is the nearest key left of it, or a key at
            // the same column (YAML's compact `key:\n- item` form).
            while stack.last().is_some_and(|f| {
                f.indent > col || (f.indent == col && matches!(f.seg, Owned::Index(_)))
            }) {
                stack.pop();
            }
            let index = match stack.last_mut() {
                Some(parent) => {
                    parent.items += 1;
                    parent.items - 1
                }
                None => 0,
            };
            stack.push(Frame {
                indent: col,
                seg: Owned::Index(index),
                items: 0,
            });
            if stack.len() == path.len() && common_prefix(&stack, path) == path.len() {
                return Some(no + 1);
            }
            let after = rest[1..].trim_start();
            col += rest.len() - after.len();
            rest = after;
        }
        if let Some((key, value)) = split_key(rest) {
            while stack.last().is_some_and(|f| f.indent >= col) {
                stack.pop();
            }
            stack.push(Frame {
                indent: col,
                seg: Owned::Key(key.to_string()),
                items: 0,
            });
            if value.starts_with('{') || value.starts_with('[') {
                let depth = common_prefix(&stack, path);
                if depth == stack.len() && flow_fallback.is_none_or(|(d, _)| depth > d) {
                    flow_fallback = Some((depth, no + 1));
                }
            }
        }
        if stack.len() == path.len() && common_prefix(&stack, path) == path.len() {
            return Some(no + 1);
        }
    }
    flow_fallback.map(|(_, line)| line)
}

fn common_prefix(stack: &[Frame], path: &[Seg<'_>]) -> usize {
    stack
        .iter()
        .zip(path)
        .take_while(|(f, s)| f.seg.matches(s))
        .count()
}

/// `key: value` (or `key:`) → (key, value). Quoted keys are unquoted.
fn split_key(s: &str) -> Option<(&str, &str)> {
    let (key, value) = if let Some(q) = s.strip_prefix('"') {
        let end = q.find('"')?;
        let after = q[end + 1..].trim_start().strip_prefix(':')?;
        (&q[..end], after)
    } else if let Some(q) = s.strip_prefix('\'') {
        let end = q.find('\'')?;
        let after = q[end + 1..].trim_start().strip_prefix(':')?;
        (&q[..end], after)
    } else {
        let mut found = None;
        for (i, c) in s.char_indices() {
            if c == ':'
                && s[i + 1..]
                    .chars()
                    .next()
                    .is_none_or(|n| n == ' ' || n == '\t')
            {
                found = Some(i);
                break;
            }
            if c == '{' || c == '[' || c == '"' || c == '\'' || c == '#' {
                return None;
            }
        }
        let i = found?;
        (s[..i].trim_end(), &s[i + 1..])
    };
    if key.is_empty() {
        return None;
    }
    Some((key, value.trim_start()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use Seg::{Index as I, Key as K};

    const TEXT: &str = "\
# blockops configuration
cybereason:
  url: https://tenant.example:8443
  password: {env: CR_PASSWORD}
guardrails:
  allow_private: false   # never our own ranges
  floor:
    allowlist:
      - 10.0.0.0/8
targets:
- name: fw1
  host: 192.0.2.1
  error_patterns: [Command fail]
- name: fw2
  host: 192.0.2.2
  render:
    prefix: x-
window: 30d
";

    #[test]
    fn block_keys_and_compact_sequences_are_found() {
        assert_eq!(line_of(TEXT, &[K("cybereason"), K("url")]), Some(3));
        assert_eq!(
            line_of(TEXT, &[K("guardrails"), K("allow_private")]),
            Some(6)
        );
        assert_eq!(
            line_of(TEXT, &[K("guardrails"), K("floor"), K("allowlist"), I(0)]),
            Some(9)
        );
        assert_eq!(line_of(TEXT, &[K("targets"), I(0), K("host")]), Some(12));
        assert_eq!(line_of(TEXT, &[K("targets"), I(1)]), Some(14));
        assert_eq!(line_of(TEXT, &[K("targets"), I(1), K("host")]), Some(15));
        assert_eq!(
            line_of(TEXT, &[K("targets"), I(1), K("render"), K("prefix")]),
            Some(17)
        );
        assert_eq!(line_of(TEXT, &[K("window")]), Some(18));
    }

    #[test]
    fn flow_values_resolve_to_their_key_and_absent_keys_to_none() {
        assert_eq!(
            line_of(TEXT, &[K("cybereason"), K("password"), K("env")]),
            Some(4)
        );
        assert_eq!(
            line_of(TEXT, &[K("targets"), I(0), K("error_patterns"), I(0)]),
            Some(13)
        );
        assert_eq!(line_of(TEXT, &[K("guardrails"), K("min_prefix_v4")]), None);
        assert_eq!(line_of(TEXT, &[K("targets"), I(2), K("host")]), None);
        assert_eq!(line_of(TEXT, &[K("targets"), I(1), K("port")]), None);
    }

    #[test]
    fn indented_sequences_under_their_key() {
        let text = "targets:\n  - name: a\n    host: h1\n  - name: b\n    vdom: root\nrender:\n  prefix: p-\n";
        assert_eq!(line_of(text, &[K("targets"), I(1), K("vdom")]), Some(5));
        assert_eq!(line_of(text, &[K("targets"), I(0), K("host")]), Some(3));
        assert_eq!(line_of(text, &[K("render"), K("prefix")]), Some(7));
    }
}
