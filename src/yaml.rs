//! Hardened YAML input for every file blockops reads from a repository (`blockops.yaml`, the
//! blocklists, the allowlist).
//!
//! Repository content is untrusted: a pull request can carry a hostile file into a review
//! job. Before the YAML parser sees a byte, this module
//! - bounds the size ([`MAX_FILE_BYTES`]; the reader enforces it while reading, see
//!   `gitops::Source`),
//! - decodes UTF-8 and names the first invalid byte as `line:col`,
//! - accepts one leading byte-order mark and refuses any other U+FEFF with its position,
//! - bounds what reaches the general YAML parser ([`MAX_YAML_BYTES`]),
//! - bounds nesting depth ([`MAX_NESTING`]): libyaml keeps one "simple key" slot per open flow
//!   collection and rescans all of them for every token, so `[[[[…]]]]` 200 000 deep costs
//!   minutes; the pre-scan below is linear and refuses such a file in milliseconds.
//!
//! After parsing, a multi-document error is given the position of the second document.
use serde::de::DeserializeOwned;

use crate::diag::Diagnostic;

/// Largest file read from a repository (64 MiB ≈ 600 000 canonical blocklist entries).
pub const MAX_FILE_BYTES: u64 = 64 << 20;

/// Largest text handed to the general YAML parser (config, allowlist, blocklists not in
/// canonical form). The parser holds every event and then a value tree in memory (about 30×
/// the text), so this bound keeps a hostile file under about half a gigabyte; canonical
/// blocklists — what `pull` and `fmt` write — take the linear fast reader up to
/// [`MAX_FILE_BYTES`].
pub const MAX_YAML_BYTES: usize = 16 << 20;

/// Deepest nesting of mappings and sequences (block and flow together). blockops' own
/// files need at most 5 (`targets[].render.…`); anything deeper is refused before parsing.
pub const MAX_NESTING: usize = 32;

/// Decode a file's bytes: UTF-8 (first invalid byte named as `line:col`), one leading BOM
/// accepted and removed, any other U+FEFF refused with its position.
pub fn decode(bytes: Vec<u8>, path: &str) -> Result<String, Diagnostic> {
    let text = match String::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            let good = e.utf8_error().valid_up_to();
            let bytes = e.as_bytes();
            // `good` bytes are valid UTF-8 by definition.
            let prefix = std::str::from_utf8(&bytes[..good]).unwrap_or_default();
            let (line, col) = position(prefix, prefix.len());
            return Err(Diagnostic::error(
                path,
                line,
                col,
                format!(
                    "not UTF-8 text: invalid byte 0x{:02X} (save the file as UTF-8)",
                    bytes.get(good).copied().unwrap_or_default()
                ),
            ));
        }
    };
    let text = match text.strip_prefix('\u{FEFF}') {
        Some(rest) => rest.to_string(),
        None => text,
    };
    if let Some(at) = text.find('\u{FEFF}') {
        let (line, col) = position(&text, at);
        return Err(Diagnostic::error(
            path,
            line,
            col,
            "byte-order mark (U+FEFF) inside the file; only one at the very start is accepted",
        ));
    }
    Ok(text)
}

/// Parse one YAML document into `T`, after the nesting pre-scan; errors carry `line:col`.
pub fn from_str<T: DeserializeOwned>(text: &str, path: &str) -> Result<T, Diagnostic> {
    let text = text.strip_prefix('\u{FEFF}').unwrap_or(text);
    if text.len() > MAX_YAML_BYTES {
        return Err(Diagnostic::error(
            path,
            0,
            0,
            format!(
                "{} bytes of YAML not in the canonical form `blockops fmt` writes; such files are limited to {MAX_YAML_BYTES} bytes (canonical blocklists to {MAX_FILE_BYTES})",
                text.len()
            ),
        ));
    }
    check_nesting(text, path)?;
    serde_yaml::from_str(text).map_err(|e| {
        let mut d = Diagnostic::from_yaml(path, &e);
        if d.line == 0 && d.message.contains("more than one document") {
            if let Some((line, col)) = second_document(text) {
                d.line = line;
                d.col = col;
            }
            d.message = "a second YAML document starts here; a blockops file holds exactly one \
                         document (remove the `---` / `...` separator)"
                .into();
        }
        d
    })
}

/// 1-based line and column (in characters) of byte offset `at` in `text`.
pub fn position(text: &str, at: usize) -> (usize, usize) {
    let before = &text[..at.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
    (line, before[start..].chars().count() + 1)
}

/// Where the second document of a stream starts: the second `---` (or the first when the
/// stream did not start with one), or content after a `...` end marker.
fn second_document(text: &str) -> Option<(usize, usize)> {
    let mut seen_content = false;
    let mut ended = false;
    for (i, line) in text.lines().enumerate() {
        let marker = |m: &str| {
            line.strip_prefix(m)
                .is_some_and(|r| r.is_empty() || r.starts_with([' ', '\t']))
        };
        let blank = line.trim().is_empty() || line.trim_start().starts_with('#');
        if marker("---") {
            if seen_content || ended {
                return Some((i + 1, 1));
            }
            seen_content = true;
        } else if marker("...") {
            ended = true;
        } else if !blank {
            if ended {
                return Some((i + 1, 1));
            }
            seen_content = true;
        }
    }
    None
}

/// Refuse text nested deeper than [`MAX_NESTING`], naming where the limit is crossed.
///
/// A linear scan that follows YAML's lexical structure far enough to count open flow
/// collections (`[`, `{`) and block levels (indentation, compact `- - x`). It errs towards
/// counting: a bracket is skipped only inside a quoted scalar that starts where the YAML
/// grammar starts one (after `[`, `{`, `,`, `: `, a leading `- `/`? `, or at the start of a
/// line in block context), inside a comment, or inside a block scalar (`|`, `>`).
pub fn check_nesting(text: &str, path: &str) -> Result<(), Diagnostic> {
    let mut flow = 0usize;
    let mut quote: Option<char> = None;
    // Last significant character outside quotes, and whether whitespace followed it.
    let mut last: Option<char> = None;
    let mut space_after = false;
    let mut indents: Vec<usize> = Vec::new();
    // Block scalar: (indent of the line that opened it, content indent once known).
    let mut block: Option<(usize, Option<usize>)> = None;
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        let indent = line.len() - line.trim_start_matches(' ').len();
        let content = line.trim();
        if let Some((open, ref mut body)) = block {
            if content.is_empty() {
                continue;
            }
            match *body {
                None if indent > open => {
                    *body = Some(indent);
                    continue;
                }
                Some(m) if indent >= m => continue,
                _ => block = None,
            }
        }
        let mut at_line_start = true;
        let mut compact = 0usize;
        if quote.is_none() && flow == 0 && !content.is_empty() && !content.starts_with('#') {
            while indents.last().is_some_and(|&top| top > indent) {
                indents.pop();
            }
            if indents.last().is_none_or(|&top| top < indent) {
                indents.push(indent);
                if indents.len() > MAX_NESTING {
                    return Err(too_deep(path, n, indent + 1));
                }
            }
        }
        let mut prev: Option<char> = None;
        // The previous token was a node property (`&anchor`, `!tag`): a node starts next.
        let mut after_prop = false;
        let mut chars = line.char_indices().skip(indent).peekable();
        while let Some((pos, c)) = chars.next() {
            if let Some(q) = quote {
                match c {
                    '\\' if q == '"' => {
                        chars.next();
                    }
                    '\'' if q == '\'' && chars.peek().is_some_and(|&(_, d)| d == '\'') => {
                        chars.next();
                    }
                    c if c == q => {
                        quote = None;
                        last = Some(c);
                        space_after = false;
                    }
                    _ => {}
                }
                prev = Some(c);
                continue;
            }
            let ws = c == ' ' || c == '\t';
            if ws {
                if last.is_some() {
                    space_after = true;
                }
                prev = Some(c);
                continue;
            }
            if c == '#' && (prev.is_none() || prev.is_some_and(|p| p == ' ' || p == '\t')) {
                break; // comment to the end of the line
            }
            let token_start = after_prop
                || if flow > 0 {
                    matches!(last, Some('[' | '{' | ','))
                        || (last == Some(':') && space_after)
                        || last.is_none()
                } else {
                    at_line_start || (last == Some(':') && space_after)
                };
            after_prop = false;
            if token_start && matches!(c, '&' | '!') {
                // Skip the property; what follows it starts the node.
                while chars.peek().is_some_and(|&(_, d)| {
                    d != ' ' && d != '\t' && !(flow > 0 && ",[]{}".contains(d))
                }) {
                    chars.next();
                }
                after_prop = true;
                at_line_start = false;
                prev = Some(c);
                continue;
            }
            // Compact block indicators at the start of a line: `- - x`, `? x`.
            if flow == 0
                && at_line_start
                && matches!(c, '-' | '?')
                && chars.peek().is_none_or(|&(_, d)| d == ' ' || d == '\t')
            {
                compact += 1;
                let depth = indents.len() + compact;
                if depth > MAX_NESTING {
                    return Err(too_deep(path, n, line[..pos].chars().count() + 1));
                }
                last = Some(c);
                space_after = false;
                prev = Some(c);
                continue;
            }
            at_line_start = false;
            match c {
                '"' | '\'' if token_start => quote = Some(c),
                '[' | '{' if token_start || flow > 0 => {
                    flow += 1;
                    if flow + indents.len() + compact > MAX_NESTING {
                        return Err(too_deep(path, n, line[..pos].chars().count() + 1));
                    }
                }
                ']' | '}' if flow > 0 => flow -= 1,
                '|' | '>' if flow == 0 && token_start => {
                    block = Some((indent, None));
                    last = Some(c);
                    break;
                }
                _ => {}
            }
            last = Some(c);
            space_after = false;
            prev = Some(c);
        }
        // A line break is whitespace for the next line's tokens.
        if last.is_some() {
            space_after = true;
        }
    }
    Ok(())
}

fn too_deep(path: &str, line: usize, col: usize) -> Diagnostic {
    Diagnostic::error(
        path,
        line,
        col,
        format!(
            "nested deeper than {MAX_NESTING} levels; blockops files are at most a few levels deep"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn depth_ok(text: &str) -> bool {
        check_nesting(text, "t.yaml").is_ok()
    }

    #[test]
    fn deep_flow_nesting_is_refused_quickly_with_a_position() {
        let deep = format!("entries: {}{}\n", "[".repeat(200_000), "]".repeat(200_000));
        let t = std::time::Instant::now();
        let e = check_nesting(&deep, "b.yaml").unwrap_err();
        assert!(t.elapsed().as_millis() < 1000);
        assert_eq!((e.line, e.file.as_str()), (1, "b.yaml"));
        assert!(e.message.contains("nested deeper than 32"), "{}", e.message);
        let block = format!("entries:\n{}x\n", "- ".repeat(100_000));
        assert!(!depth_ok(&block));
        let mut indented = String::from("a:\n");
        for i in 1..40 {
            indented.push_str(&format!("{}k{i}:\n", " ".repeat(i)));
        }
        assert!(!depth_ok(&indented));
    }

    #[test]
    fn ordinary_files_pass_the_nesting_scan() {
        for text in [
            "entries:\n- value: a.example\n  sources: [reputation, connection]\n  comment: \"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\"\n",
            "entries:\n- {value: a.example, malops: ['[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[']}\n",
            "targets:\n  - name: fw\n    password: {env: X}\n    render:\n      prefix: bo-\n",
            "a: |\n  [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\n  more\nb: 1\n",
            "a: x # [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\n",
            "a: \"multi\n  line [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[ \\\" still\"\n",
        ] {
            assert!(depth_ok(text), "refused: {text}");
        }
    }

    #[test]
    fn brackets_hidden_behind_a_fake_quote_are_still_counted() {
        // `'` inside a plain scalar does not start a quoted scalar for YAML either.
        let deep = "[".repeat(100);
        for text in [
            format!("[a '{deep}'\n"),
            format!("[a\n'{deep}'\n"),
            format!("[a:'{deep}'\n"),
            format!("key: &anchor {deep}\n"),
            format!("key: !!seq {deep}\n"),
            format!("- &a {deep}\n"),
        ] {
            assert!(!depth_ok(&text), "accepted: {text}");
        }
    }

    #[test]
    fn bom_is_accepted_at_the_start_and_named_elsewhere() {
        let t = decode(b"\xEF\xBB\xBFentries: []\n".to_vec(), "a.yaml").unwrap();
        assert_eq!(t, "entries: []\n");
        let e = decode(
            "entries:\n- value: \u{FEFF}x\n".as_bytes().to_vec(),
            "a.yaml",
        )
        .unwrap_err();
        assert_eq!((e.line, e.col), (2, 10));
    }

    #[test]
    fn invalid_utf8_names_line_and_column() {
        let e = decode(b"entries:\n- value: ab\xFFc\n".to_vec(), "a.yaml").unwrap_err();
        assert_eq!((e.line, e.col), (2, 12));
        assert!(e.message.contains("0xFF"), "{}", e.message);
    }

    #[test]
    fn oversized_non_canonical_yaml_is_refused_before_parsing() {
        let big = format!(
            "entries:\n- value: a.example\n  comment: \"{}\"\n",
            "x".repeat(MAX_YAML_BYTES)
        );
        let e = from_str::<serde_yaml::Value>(&big, "m.yaml").unwrap_err();
        assert!(e.message.contains("limited to"), "{}", e.message);
    }

    #[test]
    fn second_document_has_a_position() {
        #[derive(serde::Deserialize, Debug)]
        struct Doc {
            #[allow(dead_code)]
            entries: Vec<String>,
        }
        let e = from_str::<Doc>("entries: []\n---\nentries: []\n", "a.yaml").unwrap_err();
        assert_eq!((e.line, e.col), (2, 1), "{e}");
        let e = from_str::<Doc>("---\nentries: []\n...\nentries: []\n", "a.yaml").unwrap_err();
        assert_eq!((e.line, e.col), (4, 1), "{e}");
    }

    fn value(depth: u32) -> impl proptest::strategy::Strategy<Value = serde_yaml::Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            "(?s).{0,20}".prop_map(serde_yaml::Value::String),
            any::<i64>().prop_map(|n| serde_yaml::Value::Number(n.into())),
            any::<bool>().prop_map(serde_yaml::Value::Bool),
        ];
        leaf.prop_recursive(depth, 64, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4)
                    .prop_map(serde_yaml::Value::Sequence),
                proptest::collection::vec(("[a-z\\[{'\" ]{1,8}", inner), 0..4).prop_map(|kv| {
                    serde_yaml::Value::Mapping(
                        kv.into_iter()
                            .map(|(k, v)| (serde_yaml::Value::String(k), v))
                            .collect(),
                    )
                }),
            ]
        })
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config::with_cases(256))]
        /// The pre-scan never refuses a document nested within the limit, whatever its
        /// strings hold (brackets, quotes, newlines), in the block style serde_yaml writes.
        #[test]
        fn the_nesting_scan_accepts_every_shallow_document(v in value(8)) {
            let text = serde_yaml::to_string(&v).unwrap();
            proptest::prop_assert!(check_nesting(&text, "t.yaml").is_ok(), "{}", text);
        }

        /// ... and in flow style (JSON is YAML).
        #[test]
        fn the_nesting_scan_accepts_shallow_flow_documents(v in value(8)) {
            let text = serde_json::to_string(&v).unwrap();
            proptest::prop_assert!(check_nesting(&text, "t.yaml").is_ok(), "{}", text);
        }
    }
}
