//! FortiOS command-line tokenizer and the quoting rules used when printing values back.
//!
//! Rules (batfish's `FortiosLexer.g4`, built from real configurations): whitespace separates words; inside `"..."` the escapes `\"`, `\'` and
//! `\\` apply; `'...'` takes no escapes; outside quotes a backslash escapes the next character.
//! A bare `|` word separates a command from a pipe (`| grep ...`).

/// One word of a command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// The word with quotes and escapes removed.
    pub text: String,
    /// The word as typed (used in `... parse error before '<raw>'` messages).
    pub raw: String,
    /// True when the word was an unquoted `|`.
    pub pipe: bool,
}

/// Why a line could not be split into words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unterminated quote starting at `{0}`")]
pub struct Unterminated(pub String);

/// Split a command line into words.
pub fn tokenize(line: &str) -> Result<Vec<Token>, Unterminated> {
    let mut out = Vec::new();
    let mut chars = line.char_indices().peekable();
    while let Some(&(start, c)) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        let mut text = String::new();
        let mut quoted = false;
        let mut end = line.len();
        while let Some(&(i, c)) = chars.peek() {
            if c.is_whitespace() {
                end = i;
                break;
            }
            chars.next();
            match c {
                '"' => {
                    quoted = true;
                    let mut closed = false;
                    while let Some((_, c)) = chars.next() {
                        match c {
                            '\\' => {
                                if let Some((_, n)) = chars.next() {
                                    text.push(n);
                                }
                            }
                            '"' => {
                                closed = true;
                                break;
                            }
                            other => text.push(other),
                        }
                    }
                    if !closed {
                        return Err(Unterminated(line[start..].to_string()));
                    }
                }
                '\'' => {
                    quoted = true;
                    let mut closed = false;
                    for (_, c) in chars.by_ref() {
                        if c == '\'' {
                            closed = true;
                            break;
                        }
                        text.push(c);
                    }
                    if !closed {
                        return Err(Unterminated(line[start..].to_string()));
                    }
                }
                '\\' => {
                    if let Some((_, n)) = chars.next() {
                        text.push(n);
                    }
                }
                other => text.push(other),
            }
        }
        let raw = line[start..end].to_string();
        let pipe = !quoted && raw == "|";
        out.push(Token { text, raw, pipe });
    }
    Ok(out)
}

/// Double-quote a string the way `show` prints it: `"` → `\"`, `\` → `\\`.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// Resolve a possibly abbreviated keyword: an exact match wins, else a unique prefix.
pub fn keyword<'a>(word: &str, options: &[&'a str]) -> Option<&'a str> {
    if let Some(exact) = options.iter().find(|o| o.eq_ignore_ascii_case(word)) {
        return Some(exact);
    }
    let lower = word.to_ascii_lowercase();
    let mut found = options.iter().filter(|o| o.starts_with(&lower));
    match (found.next(), found.next()) {
        (Some(one), None) if !word.is_empty() => Some(one),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<String> {
        tokenize(line)
            .unwrap()
            .into_iter()
            .map(|t| t.text)
            .collect()
    }

    #[test]
    fn splits_quotes_and_escapes() {
        assert_eq!(
            words(r#"set comment "a \"b\" \\c""#),
            ["set", "comment", r#"a "b" \c"#]
        );
        assert_eq!(words(r"set comment 'x\y z'"), ["set", "comment", r"x\y z"]);
        assert_eq!(words(r"edit a\ b"), ["edit", "a b"]);
        assert_eq!(words("  show   |  grep x "), ["show", "|", "grep", "x"]);
        assert!(tokenize(r#"set comment "open"#).is_err());
        let t = tokenize(r#"edit "a""#).unwrap();
        assert_eq!(t[1].raw, r#""a""#);
        assert!(tokenize("show | grep").unwrap()[1].pipe);
        assert!(!tokenize("show \"|\"").unwrap()[1].pipe);
    }

    #[test]
    fn quote_round_trips() {
        let s = r#"we "quote" \ this"#;
        assert_eq!(words(&format!("x {}", quote(s)))[1], s);
    }

    #[test]
    fn keywords_resolve_abbreviations() {
        let opts = ["address", "address6", "addrgrp", "addrgrp6"];
        assert_eq!(keyword("address", &opts), Some("address"));
        assert_eq!(keyword("addrg", &opts), None);
        assert_eq!(keyword("addrgrp6", &opts), Some("addrgrp6"));
        assert_eq!(keyword("sh", &["show", "set"]), Some("show"));
        assert_eq!(keyword("s", &["show", "set"]), None);
    }
}
