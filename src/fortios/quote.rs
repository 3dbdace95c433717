//! FortiOS CLI quoting. Every string that reaches a script goes through [`fq`]: wrapped in
//! double quotes, `\` and `"` escaped, control and invisible characters dropped, `?` (which
//! triggers context help in the interactive CLI) replaced.
/// Quote a value for the FortiOS CLI, at most `max` characters of content.
pub fn fq_max(s: &str, max: usize) -> String {
    let mut out = String::with_capacity(s.len().min(max) + 2);
    out.push('"');
    for c in s.chars().filter_map(clean_char).take(max) {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            _ => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Quote a value for the FortiOS CLI (comment length limit: 255).
pub fn fq(s: &str) -> String {
    fq_max(s, 255)
}

/// Drop characters that must never reach a device line.
pub fn clean(s: &str) -> String {
    s.chars().filter_map(clean_char).collect()
}

/// One character of [`clean`]: dropped, replaced or kept.
fn clean_char(c: char) -> Option<char> {
    match c {
        '?' => Some('.'),
        '\n' | '\r' | '\t' => Some(' '),
        c if c.is_control() => None,
        '\u{200B}'..='\u{200F}'
        | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{206F}'
        | '\u{FEFF}' => None,
        c => Some(c),
    }
}

/// Undo FortiOS escaping inside a double-quoted string body (for `show` output).
pub fn unescape(body: &str) -> String {
    let mut out = String::with_capacity(body.len());
    let mut it = body.chars();
    while let Some(c) = it.next() {
        if c == '\\' {
            if let Some(n) = it.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_neutralises_hostile_text() {
        assert_eq!(fq(r#"a"b\c"#), r#""a\"b\\c""#);
        assert_eq!(
            fq("x\nend\nconfig system admin"),
            "\"x end config system admin\""
        );
        assert_eq!(fq("why?"), "\"why.\"");
        assert_eq!(fq("a\u{202E}b\u{7}"), "\"ab\"");
        assert_eq!(fq_max("abcdef", 3), "\"abc\"");
        assert_eq!(unescape(r#"a\"b\\c"#), r#"a"b\c"#);
    }
}
