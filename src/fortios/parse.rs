//! Reading FortiOS configuration text — the device's `show` output and blockops' own rendered
//! scripts — with one parser, so that "what the script says" and "what the device holds" land
//! in the same model (`fortios::model`) and compare field by field (issue #10).
//!
//! The parser interprets the structure (`config vdom` / `edit <vdom>`, `config <table>`,
//! `edit` … `next`/`abort`/`end`, `delete`) and applies each entry's
//! `set`/`append`/`unselect`/`unset` lines in order, as the device would on an empty table.
//! Everything it does not understand is kept as a stray line with its number, for the caller
//! to ignore (device output) or report (a rendered script).
use std::collections::BTreeMap;

use super::quote::unescape;

/// Split a CLI line into words, honouring `"…"` (with `\` escapes) and `'…'`.
pub fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = line.trim().chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        let mut w = String::new();
        match c {
            '"' => {
                chars.next();
                let mut body = String::new();
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => {
                            body.push('\\');
                            if let Some(n) = chars.next() {
                                body.push(n);
                            }
                        }
                        '"' => break,
                        c => body.push(c),
                    }
                }
                w.push_str(&unescape(&body));
            }
            '\'' => {
                chars.next();
                for c in chars.by_ref() {
                    if c == '\'' {
                        break;
                    }
                    w.push(c);
                }
            }
            _ => {
                while let Some(&c) = chars.peek() {
                    if c.is_whitespace() {
                        break;
                    }
                    chars.next();
                    if c == '\\' {
                        if let Some(n) = chars.next() {
                            w.push(n);
                        }
                    } else {
                        w.push(c);
                    }
                }
            }
        }
        out.push(w);
    }
    out
}

/// One `edit` block after its lines were applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    /// 1-based line of the `edit`.
    pub line: usize,
    /// Field → values (quotes removed, escapes resolved).
    pub fields: BTreeMap<String, Vec<String>>,
    /// The block as shown (only with `keep_text`, for backups).
    pub text: String,
}

/// One `config <path>` block.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Block {
    /// The words after `config`, e.g. `firewall address`.
    pub path: String,
    pub line: usize,
    /// Entries in the order they were closed; an entry edited twice appears twice.
    pub entries: Vec<Entry>,
    /// `delete <name>` lines: (name, line).
    pub deletes: Vec<(String, usize)>,
}

/// A parsed text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Parsed {
    /// VDOM of a `config vdom` / `edit <vdom>` wrapper, if any.
    pub vdom: Option<String>,
    pub blocks: Vec<Block>,
    /// Lines the parser did not understand: (1-based line, text).
    pub stray: Vec<(usize, String)>,
    /// An `edit` or `config` still open at the end of the text: (line, what) — a reply cut
    /// short, or a script missing its `next`/`end`.
    pub unclosed: Option<(usize, String)>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Ctx {
    Top,
    Vdom,
    InVdom,
    Table,
    Entry,
}

/// Parse configuration text. `keep_text` keeps each entry's lines (for backups).
pub fn parse(text: &str, keep_text: bool) -> Parsed {
    let mut p = Parsed::default();
    let mut ctx = Ctx::Top;
    let mut block: Option<Block> = None;
    let mut entry: Option<Entry> = None;
    // Depth of `config` blocks nested inside an entry (skipped: blockops writes none).
    let mut nested = 0usize;
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        let w = words(raw);
        let Some(verb) = w.first().map(String::as_str) else {
            continue;
        };
        if let Some(e) = entry.as_mut()
            && keep_text
        {
            e.text.push_str(raw);
            e.text.push('\n');
        }
        if nested > 0 {
            match verb {
                "config" => nested += 1,
                "end" => nested -= 1,
                _ => {}
            }
            continue;
        }
        match (ctx, verb, w.len()) {
            (Ctx::Top, "config", 2) if w[1] == "vdom" => ctx = Ctx::Vdom,
            (Ctx::Vdom, "edit", 2) => {
                p.vdom = Some(w[1].clone());
                ctx = Ctx::InVdom;
            }
            (Ctx::InVdom, "end", 1) => ctx = Ctx::Top,
            (Ctx::Top | Ctx::InVdom, "config", 2..) => {
                block = Some(Block {
                    path: w[1..].join(" "),
                    line: n,
                    ..Block::default()
                });
                ctx = Ctx::Table;
            }
            (Ctx::Table, "edit", 2) => {
                entry = Some(Entry {
                    name: w[1].clone(),
                    line: n,
                    fields: BTreeMap::new(),
                    text: if keep_text {
                        format!("{raw}\n")
                    } else {
                        String::new()
                    },
                });
                ctx = Ctx::Entry;
            }
            (Ctx::Table, "delete", 2) => {
                if let Some(b) = block.as_mut() {
                    b.deletes.push((w[1].clone(), n));
                }
            }
            (Ctx::Table, "end", 1) => {
                p.blocks.extend(block.take());
                ctx = if p.vdom.is_some() {
                    Ctx::InVdom
                } else {
                    Ctx::Top
                };
            }
            (Ctx::Entry, "next", 1) => {
                if let (Some(b), Some(e)) = (block.as_mut(), entry.take()) {
                    b.entries.push(e);
                }
                ctx = Ctx::Table;
            }
            (Ctx::Entry, "abort", 1) => {
                entry = None;
                ctx = Ctx::Table;
            }
            // `end` inside an entry saves it and closes the table, as on the device.
            (Ctx::Entry, "end", 1) => {
                if let (Some(mut b), Some(e)) = (block.take(), entry.take()) {
                    b.entries.push(e);
                    p.blocks.push(b);
                }
                ctx = if p.vdom.is_some() {
                    Ctx::InVdom
                } else {
                    Ctx::Top
                };
            }
            (Ctx::Entry, "config", _) => nested = 1,
            (Ctx::Entry, "set" | "append" | "unselect", 2..) => {
                if let Some(e) = entry.as_mut() {
                    apply_field(&mut e.fields, verb, &w[1], &w[2..]);
                }
            }
            (Ctx::Entry, "unset", 2) => {
                if let Some(e) = entry.as_mut() {
                    e.fields.remove(&w[1]);
                }
            }
            _ => p.stray.push((n, raw.trim().to_string())),
        }
    }
    // An unterminated entry or block (a cut-off reply) is not silently completed.
    p.unclosed = match (entry, block) {
        (Some(e), _) => Some((e.line, format!("edit {:?}", e.name))),
        (None, Some(b)) => Some((b.line, format!("config {}", b.path))),
        (None, None) if matches!(ctx, Ctx::Vdom | Ctx::InVdom) => {
            Some((0, "config vdom".to_string()))
        }
        _ => None,
    };
    p
}

fn apply_field(fields: &mut BTreeMap<String, Vec<String>>, verb: &str, f: &str, v: &[String]) {
    match verb {
        "set" => {
            fields.insert(f.to_string(), v.to_vec());
        }
        "append" => fields
            .entry(f.to_string())
            .or_default()
            .extend_from_slice(v),
        _ => {
            if let Some(cur) = fields.get_mut(f) {
                cur.retain(|x| !v.contains(x));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_handle_quotes_and_escapes() {
        assert_eq!(
            words(r#"set member "a b" 'c\d' e\ f "g\"h""#),
            vec!["set", "member", "a b", "c\\d", "e f", "g\"h"]
        );
        assert_eq!(words("edit \"bo-tab\tx\""), vec!["edit", "bo-tab\tx"]);
    }

    #[test]
    fn entries_apply_their_lines_in_order() {
        let text = "config vdom\nedit root\nconfig firewall addrgrp\n    edit \"g\"\n        set member \"a\" \"b\"\n        append member \"c\"\n        unselect member \"a\"\n        set comment \"x\"\n        unset comment\n    next\n    edit \"h\"\n        set member \"z\"\n    abort\n    delete \"old\"\nend\nend\n";
        let p = parse(text, false);
        assert_eq!(p.vdom.as_deref(), Some("root"));
        assert!(p.stray.is_empty(), "{:?}", p.stray);
        let b = &p.blocks[0];
        assert_eq!(b.path, "firewall addrgrp");
        assert_eq!(b.entries.len(), 1);
        assert_eq!(b.entries[0].fields["member"], vec!["b", "c"]);
        assert!(!b.entries[0].fields.contains_key("comment"));
        assert_eq!(b.deletes, vec![("old".to_string(), 14)]);
    }

    #[test]
    fn nested_blocks_are_skipped_and_unknown_lines_reported() {
        let text = "config firewall address\n    edit \"a\"\n        config tagging\n            edit \"t\"\n                set category \"x\"\n            next\n        end\n        set comment \"c\"\n    next\nend\nconfig system admin\n    edit \"x\"\n";
        let p = parse(text, true);
        assert_eq!(p.blocks[0].entries[0].fields["comment"], vec!["c"]);
        assert!(p.blocks[0].entries[0].text.contains("config tagging"));
        assert!(p.stray.is_empty(), "{:?}", p.stray);
        assert_eq!(p.unclosed, Some((12, "edit \"x\"".to_string())));
        assert_eq!(p.blocks.len(), 1);
    }
}
