//! What untrusted text may contain — the rules every layer shares, so none of them depends on
//! another for them: characters that must never reach a device line or a terminal
//! ([`is_hidden`], [`clean`]), plain names ([`is_word`]) and repository-relative paths
//! ([`check_rel_path`]). Blocklists, configuration, git access, diagnostics and the FortiOS
//! writer all use these; this module uses none of them.
use icu_properties::CodePointMapData;
use icu_properties::props::GeneralCategory;

/// True for characters that must never reach a device or a terminal unescaped: the Unicode
/// general categories Cc (controls), Cf (format: bidi controls, zero-width characters, soft
/// hyphen, tag characters), Zl/Zp (U+2028/U+2029), Co (private use), Cs (surrogates) and Cn
/// (unassigned), plus the variation selectors (U+FE00–FE0F, U+E0100–E01EF) and a few
/// letters/marks that render as nothing (Hangul fillers, combining grapheme joiner, Khmer
/// inherent vowels, Mongolian free variation selectors).
///
/// The general category comes from ICU4X's `icu_properties` (compiled Unicode data; the same
/// crate the `idna` crate uses for domain names), so the set follows the Unicode version of
/// that crate rather than a hand-kept list.
pub fn is_hidden(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_control();
    }
    if matches!(c,
        '\u{FE00}'..='\u{FE0F}' | '\u{E0100}'..='\u{E01EF}'
        | '\u{034F}' | '\u{115F}' | '\u{1160}' | '\u{17B4}' | '\u{17B5}'
        | '\u{180B}'..='\u{180F}' | '\u{3164}' | '\u{FFA0}')
    {
        return true;
    }
    matches!(
        CodePointMapData::<GeneralCategory>::new().get(c),
        GeneralCategory::Control
            | GeneralCategory::Format
            | GeneralCategory::LineSeparator
            | GeneralCategory::ParagraphSeparator
            | GeneralCategory::PrivateUse
            | GeneralCategory::Surrogate
            | GeneralCategory::Unassigned
    )
}

/// Drop characters that must never reach a device line (hidden characters) or that the FortiOS CLI reads specially: `?` (context help) becomes `.`, line breaks and tabs become spaces.
pub fn clean(s: &str) -> String {
    clean_cow(s).into_owned()
}

/// [`clean`] without a copy when nothing changes (printable ASCII without `?`: the common
/// case for names, addresses and comments).
pub fn clean_cow(s: &str) -> std::borrow::Cow<'_, str> {
    if s.bytes().all(kept_as_is) {
        std::borrow::Cow::Borrowed(s)
    } else {
        std::borrow::Cow::Owned(s.chars().filter_map(clean_char).collect())
    }
}

/// A byte that [`clean`] keeps unchanged whatever surrounds it: printable ASCII other than `?`.
/// A string made only of these needs no cleaning (the fast path of every cleaning check).
pub fn kept_as_is(b: u8) -> bool {
    (0x20..0x7f).contains(&b) && b != b'?'
}

/// One character of [`clean`]: dropped, replaced or kept.
pub fn clean_char(c: char) -> Option<char> {
    match c {
        '?' => Some('.'),
        '\n' | '\r' | '\t' => Some(' '),
        c if is_hidden(c) => None,
        c => Some(c),
    }
}

/// ASCII letters, digits and the given extra characters only.
pub fn is_word(s: &str, extra: &str) -> bool {
    s.chars()
        .all(|c| c.is_ascii_alphanumeric() || extra.contains(c))
}

/// Why `path` may not name a file in the repository (`Ok` when it may).
pub fn check_rel_path(path: &str) -> Result<(), String> {
    if path.is_empty() {
        return Err("the path is empty".into());
    }
    if path.len() > 1024 {
        return Err("the path is longer than 1024 bytes".into());
    }
    if path.chars().any(|c| c.is_control() || is_hidden(c)) {
        return Err("the path contains control or invisible characters".into());
    }
    if path.starts_with('/') || path.contains('\\') || path.as_bytes().get(1) == Some(&b':') {
        return Err("the path must be relative to the repository root, with `/` separators".into());
    }
    for part in path.split('/') {
        match part {
            "" => return Err("the path has an empty component (`//` or a trailing `/`)".into()),
            "." | ".." => {
                return Err("the path must not contain `.` or `..` components".into());
            }
            p if p.eq_ignore_ascii_case(".git") => {
                return Err("the path must not point into `.git`".into());
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The no-copy path of `clean_cow` gives what the character-by-character path gives.
    #[test]
    fn clean_cow_fast_path_equals_the_slow_path() {
        for s in [
            "blockops: cybereason malop=11.-42 - c2",
            "what?",
            "tab\there",
            "nul\0byte",
            "del\u{7f}",
            "é accent",
            "bidi\u{202e}txt",
            "",
            "~ !\"#$%&'()*+,-./:;<=>@[\\]^_`{|}",
        ] {
            let slow: String = s.chars().filter_map(clean_char).collect();
            assert_eq!(clean_cow(s), slow, "{s:?}");
        }
        assert!(matches!(
            clean_cow("plain ascii"),
            std::borrow::Cow::Borrowed(_)
        ));
    }
}
