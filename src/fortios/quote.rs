//! FortiOS CLI quoting, and the one definition of what text may reach a device line.
//!
//! Every string that reaches a script goes through [`fq`]: wrapped in double quotes, `\` and
//! `"` escaped, hidden characters ([`is_hidden`]) dropped, line breaks and tabs turned into
//! spaces, `?` (which triggers context help in the interactive CLI) replaced — and cut to at
//! most [`MAX_VALUE_BYTES`] bytes on a character boundary. The renderer, the `fq` template
//! filter and `apply`'s validator all use [`safe_comment`] / [`is_safe_comment`], so a script
//! that `check` and `render` accept is never refused by `apply`.
use crate::text::clean_char;
pub use crate::text::{clean, is_hidden};

/// Longest string value FortiOS accepts in a `comment` field: 255 bytes (the CLI counts the
/// bytes of the value, so 119 × `é` = 238 bytes is fine, 128 × `é` = 256 bytes is not).
pub const MAX_VALUE_BYTES: usize = 255;

/// Quote a value for the FortiOS CLI, at most `max_bytes` bytes of (unescaped) content.
pub fn fq_max(s: &str, max_bytes: usize) -> String {
    let mut out = String::with_capacity(s.len().min(max_bytes) + 2);
    push_fq_max(&mut out, s, max_bytes);
    out
}

/// [`fq_max`] appended to `out` (scripts are written without a string per value).
pub fn push_fq_max(out: &mut String, s: &str, max_bytes: usize) {
    // The common case in one pass: short printable ASCII with nothing to clean or escape.
    if s.len() <= max_bytes
        && s.bytes()
            .all(|b| crate::text::kept_as_is(b) && !matches!(b, b'\\' | b'"'))
    {
        out.push('"');
        out.push_str(s);
        out.push('"');
        return;
    }
    let cleaned = crate::text::clean_cow(s);
    let body = cut_bytes(&cleaned, max_bytes);
    out.push('"');
    if !body.contains(['\\', '"']) {
        out.push_str(body);
    } else {
        for c in body.chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '"' => out.push_str("\\\""),
                _ => out.push(c),
            }
        }
    }
    out.push('"');
}

/// [`fq`] appended to `out`.
pub fn push_fq(out: &mut String, s: &str) {
    push_fq_max(out, s, MAX_VALUE_BYTES)
}

/// Quote a value for the FortiOS CLI (at most [`MAX_VALUE_BYTES`] bytes of content).
pub fn fq(s: &str) -> String {
    fq_max(s, MAX_VALUE_BYTES)
}

/// A comment that may be sent: cleaned and cut to [`MAX_VALUE_BYTES`] bytes on a character
/// boundary. `is_safe_comment(&safe_comment(s))` holds for every `s`.
pub fn safe_comment(s: &str) -> String {
    cut_bytes(&crate::text::clean_cow(s), MAX_VALUE_BYTES).to_string()
}

/// [`safe_comment`] of a string that is no longer needed: kept without a copy when it is
/// already safe (the common case).
pub fn into_safe_comment(s: String) -> String {
    if is_safe_comment(&s) {
        s
    } else {
        safe_comment(&s)
    }
}

/// True when `s` (an unquoted, unescaped value) is what [`safe_comment`] would send: no
/// character that cleaning changes, and at most [`MAX_VALUE_BYTES`] bytes.
pub fn is_safe_comment(s: &str) -> bool {
    s.len() <= MAX_VALUE_BYTES
        && (s.bytes().all(crate::text::kept_as_is) || s.chars().all(|c| clean_char(c) == Some(c)))
}

/// The longest prefix of `s` of at most `max` bytes that ends on a character boundary.
pub fn cut_bytes(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
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

    #[test]
    fn invisible_characters_of_every_hidden_category_are_dropped() {
        // One witness per category / range of the policy.
        let hidden = [
            '\u{0}',
            '\u{1b}',
            '\u{7f}',
            '\u{85}', // Cc
            '\u{AD}',
            '\u{61C}',
            '\u{200B}',
            '\u{200E}',
            '\u{202E}',
            '\u{2066}',
            '\u{FEFF}', // Cf
            '\u{E0001}',
            '\u{E0041}', // tag characters (Cf)
            '\u{2028}',  // Zl
            '\u{2029}',  // Zp
            '\u{E000}',
            '\u{F8FF}',
            '\u{F0000}', // Co
            '\u{0378}',
            '\u{FFFF}',
            '\u{10FFFF}', // Cn
            '\u{FE0F}',
            '\u{FE00}',
            '\u{E0100}',
            '\u{E01EF}', // variation selectors
            '\u{3164}',
            '\u{115F}', // Hangul fillers
        ];
        for c in hidden {
            assert!(is_hidden(c), "U+{:04X} must be hidden", c as u32);
            let s = format!("a{c}b");
            assert_eq!(fq(&s), "\"ab\"", "U+{:04X}", c as u32);
        }
        for c in ['a', 'é', 'ß', '中', ' ', '\u{A0}', '😀', '-', '"'] {
            assert!(!is_hidden(c), "U+{:04X} is visible", c as u32);
        }
    }

    #[test]
    fn comment_of_multibyte_characters_is_cut_in_bytes_on_a_char_boundary() {
        // The bug: 255 *characters* of `é` (510 bytes) rendered, apply refused > 255 bytes.
        let s = "é".repeat(200);
        let c = safe_comment(&s);
        assert!(c.len() <= MAX_VALUE_BYTES, "{}", c.len());
        assert_eq!(c.len(), 254);
        assert!(is_safe_comment(&c));
        assert!(!is_safe_comment(&s));
        let q = fq(&s);
        assert_eq!(q.len(), 254 + 2);
        // 4-byte characters: the cut never splits one.
        let e = "😀".repeat(100);
        assert_eq!(safe_comment(&e).len(), 252);
        assert!(!is_safe_comment("a?b"));
        assert!(!is_safe_comment("a\nb"));
        assert!(is_safe_comment("blockops: manual - note"));
    }
}
