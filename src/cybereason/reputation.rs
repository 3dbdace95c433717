//! The reputation list, `GET /rest/classification/download`: a CSV read strictly, so that a
//! download cut short or corrupted in transit is an error and never a shorter list.
//!
//! Format (header row, then one row per key): `key,reputation,prevent execution,comment,remove`
//! — HadrielTzuk/tip-marketplace Integrations/Cybereason/Managers/CybereasonParser.py reads the
//! first five columns, netskopeoss/ta_cloud_exchange_plugins cybereason/main.py uploads the
//! same header; newer servers may add columns, which are allowed (and ignored) by name.
//!
//! A body cut at an arbitrary byte is always caught: every row must have exactly the header's
//! number of fields, `reputation` must be a known value, `prevent execution`/`remove` must be
//! `true`/`false`, and when the body does not end with a line break its last row must end in a
//! checked column. Invalid UTF-8, control characters and an unterminated quote are errors with
//! their line. (A cut exactly at a line break of a body sent without `Content-Length` or
//! chunked framing is indistinguishable from a shorter list at this layer: HTTPS, chunked
//! framing and `Content-Length` — which the body reader checks — close that gap.)
use super::api::ReputationRow;

/// A malformed reputation CSV.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("reputation CSV line {line}: {reason}")]
pub struct CsvError {
    pub line: usize,
    pub reason: String,
}

fn err(line: usize, reason: impl Into<String>) -> CsvError {
    CsvError {
        line,
        reason: reason.into(),
    }
}

/// One record with the line it starts on.
struct Record {
    line: usize,
    fields: Vec<String>,
}

/// Split CSV text into records (RFC 4180 quoting, CRLF or LF); refuses control characters.
fn records(text: &str) -> Result<(Vec<Record>, bool), CsvError> {
    let mut out = Vec::new();
    let mut fields: Vec<String> = Vec::new();
    let mut field = String::new();
    let mut in_quotes = false;
    let mut after_quote = false;
    let mut line = 1;
    let mut start_line = 1;
    let mut started = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_control() && !matches!(c, '\n' | '\r' | '\t') {
            return Err(err(
                line,
                format!("control character U+{:04X} (corrupt body?)", c as u32),
            ));
        }
        if !started {
            started = true;
            start_line = line;
        }
        if in_quotes {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => {
                    in_quotes = false;
                    after_quote = true;
                }
                '\n' => {
                    line += 1;
                    field.push(c);
                }
                _ => field.push(c),
            }
            continue;
        }
        match c {
            '"' if field.is_empty() && !after_quote => in_quotes = true,
            ',' => {
                fields.push(std::mem::take(&mut field));
                after_quote = false;
            }
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' => {
                fields.push(std::mem::take(&mut field));
                out.push(Record {
                    line: start_line,
                    fields: std::mem::take(&mut fields),
                });
                line += 1;
                started = false;
                after_quote = false;
            }
            _ if after_quote => {
                return Err(err(line, "text after a closing quote (corrupt body?)"));
            }
            _ => field.push(c),
        }
    }
    if in_quotes {
        return Err(err(
            start_line,
            "unterminated quoted field (truncated body?)",
        ));
    }
    let terminated = !started;
    if started {
        fields.push(field);
        out.push(Record {
            line: start_line,
            fields,
        });
    }
    Ok((out, terminated))
}

fn strict_bool(v: &str) -> Option<bool> {
    if v.eq_ignore_ascii_case("true") {
        Some(true)
    } else if v.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

/// The known `reputation` values, normalised (`blocklist`/`allowlist` are the newer names).
fn reputation_value(v: &str) -> Option<&'static str> {
    match v.to_ascii_lowercase().as_str() {
        "blacklist" | "blocklist" => Some("blacklist"),
        "whitelist" | "allowlist" => Some("whitelist"),
        _ => None,
    }
}

/// Parse the reputation CSV strictly (see the module documentation).
pub fn parse(body: &[u8]) -> Result<Vec<ReputationRow>, CsvError> {
    let text = match std::str::from_utf8(body) {
        Ok(t) => t,
        Err(e) => {
            let at = e.valid_up_to();
            let line = 1 + body[..at].iter().filter(|b| **b == b'\n').count();
            return Err(err(
                line,
                format!("invalid UTF-8 at byte {at} (corrupt body?)"),
            ));
        }
    };
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let (rows, terminated) = records(text)?;
    let mut it = rows.into_iter();
    let Some(header) = it.next() else {
        return Err(err(1, "empty body: not even a header row"));
    };
    let col = |name: &str| {
        header
            .fields
            .iter()
            .position(|h| h.trim().eq_ignore_ascii_case(name))
    };
    let key = col("key").ok_or_else(|| err(1, "no `key` column in the header"))?;
    let rep = col("reputation").ok_or_else(|| err(1, "no `reputation` column in the header"))?;
    let prevent = col("prevent execution");
    let comment = col("comment");
    let remove = col("remove");
    let width = header.fields.len();
    let mut rows = it.peekable();
    if rows.peek().is_none() && !terminated {
        return Err(err(
            1,
            "the header row has no line break: the body may be truncated",
        ));
    }
    let checked = |i: usize| [Some(rep), prevent, remove].contains(&Some(i));
    let mut out = Vec::new();
    while let Some(r) = rows.next() {
        let last = rows.peek().is_none();
        if r.fields.len() == 1 && r.fields[0].is_empty() {
            continue; // an empty line
        }
        if r.fields.len() != width {
            return Err(err(
                r.line,
                format!(
                    "{} fields where the header has {width} (truncated or corrupt row)",
                    r.fields.len()
                ),
            ));
        }
        if last && !terminated && !checked(width - 1) {
            return Err(err(
                r.line,
                "the last row has no line break and its last column cannot be checked: the body may be truncated",
            ));
        }
        let f = |i: usize| r.fields[i].trim();
        let k = f(key);
        if k.is_empty() {
            return Err(err(r.line, "empty key"));
        }
        let reputation = reputation_value(f(rep)).ok_or_else(|| {
            err(
                r.line,
                format!(
                    "unknown reputation `{}` (expected blacklist or whitelist)",
                    super::error::snippet(f(rep))
                ),
            )
        })?;
        let flag = |i: Option<usize>, name: &str| -> Result<bool, CsvError> {
            match i {
                None => Ok(false),
                Some(i) => strict_bool(f(i)).ok_or_else(|| {
                    err(
                        r.line,
                        format!(
                            "`{name}` is `{}`, expected true or false (truncated or corrupt row)",
                            super::error::snippet(f(i))
                        ),
                    )
                }),
            }
        };
        out.push(ReputationRow {
            key: k.to_string(),
            reputation: reputation.to_string(),
            prevent: flag(prevent, "prevent execution")?,
            comment: comment.map(|i| f(i).to_string()).unwrap_or_default(),
            remove: flag(remove, "remove")?,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cybereason::api::reputation_csv;

    fn rows() -> Vec<ReputationRow> {
        (0..40)
            .map(|i| ReputationRow {
                key: format!("203.0.113.{i}"),
                reputation: "blacklist".into(),
                prevent: false,
                comment: format!("c2, \"feed\" {i}"),
                remove: false,
            })
            .collect()
    }

    #[test]
    fn round_trip_with_quotes_crlf_and_bom() {
        let text = reputation_csv(&rows());
        assert_eq!(parse(text.as_bytes()).unwrap(), rows());
        let crlf = format!("\u{feff}{}", text.replace('\n', "\r\n"));
        assert_eq!(parse(crlf.as_bytes()).unwrap(), rows());
        // Without a final line break the last row is still checked by its `remove` column.
        assert_eq!(parse(text.trim_end().as_bytes()).unwrap(), rows());
    }

    /// Issue #8 item 10: the body cut at every byte is either an error or, when the cut falls
    /// exactly on a row boundary, the rows before it — never a silently damaged row.
    #[test]
    fn truncated_download_is_never_a_damaged_row() {
        let full = rows();
        let text = reputation_csv(&full);
        let bytes = text.as_bytes();
        let boundaries: Vec<usize> = bytes
            .iter()
            .enumerate()
            .filter(|(_, b)| **b == b'\n')
            .map(|(i, _)| i + 1)
            .collect();
        for cut in 0..bytes.len() {
            match parse(&bytes[..cut]) {
                Err(_) => {}
                Ok(got) => {
                    assert!(
                        got.iter().zip(&full).all(|(a, b)| a == b) && got.len() <= full.len(),
                        "cut at {cut}: a damaged row was accepted: {got:?}"
                    );
                    // Accepted only at a row boundary, or exactly after a row's `remove` value.
                    let after_row = boundaries.contains(&cut) || bytes.get(cut) == Some(&b'\n');
                    assert!(after_row, "cut at {cut} accepted mid-row");
                }
            }
        }
    }

    #[test]
    fn malformed_rows_are_errors_with_their_line() {
        let e = parse(
            b"key,reputation,prevent execution,comment,remove\n203.0.113.9,blacklist,false\n",
        )
        .unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.reason.contains("3 fields where the header has 5"), "{e}");
        let e =
            parse(b"key,reputation,prevent execution,comment,remove\n203.0.113.9,blacklist,fal")
                .unwrap_err();
        assert!(e.reason.contains("fields"), "{e}");
        let e = parse(
            b"key,reputation,prevent execution,comment,remove\n203.0.113.9,blacklist,false,x,fa",
        )
        .unwrap_err();
        assert!(e.reason.contains("`remove` is `fa`"), "{e}");
        let e = parse(b"key,reputation,prevent execution,comment,remove\n203.0.113.9,greylist,false,x,false\n").unwrap_err();
        assert!(e.reason.contains("unknown reputation `greylist`"), "{e}");
        let e = parse(b"key,reputation,prevent execution,comment,remove\n203.0\x00.113.9,blacklist,false,x,false\n").unwrap_err();
        assert!(e.reason.contains("control character U+0000"), "{e}");
        let e = parse(b"key,reputation,prevent execution,comment,remove\n\"203.0.113.9,blacklist,false,x,false\n").unwrap_err();
        assert!(e.reason.contains("unterminated"), "{e}");
        let e = parse(b"key,reputation\n\xff\n").unwrap_err();
        assert!(e.reason.contains("invalid UTF-8 at byte 15"), "{e}");
        assert!(parse(b"").is_err());
        // Extra columns are allowed; a last row without a line break then cannot be verified.
        let extra = b"key,reputation,prevent execution,comment,remove,owner\n203.0.113.9,blacklist,false,x,false,ann\n";
        assert_eq!(parse(extra).unwrap().len(), 1);
        let e = parse(&extra[..extra.len() - 1]).unwrap_err();
        assert!(e.reason.contains("may be truncated"), "{e}");
        // The header alone is an empty list.
        assert!(
            parse(b"key,reputation,prevent execution,comment,remove\n")
                .unwrap()
                .is_empty()
        );
    }
}
