//! Reading a response body completely, or saying exactly how it was incomplete or malformed.
//!
//! Issue #8 item 10: a body shorter than its `Content-Length`, a connection that breaks in the
//! middle of a body, and a document cut or corrupted in transit must never be taken for a
//! complete answer. Transport-level truncation is caught here; what only the format can tell
//! (a JSON document that ends early, a CSV row cut in half) is caught by [`json`] and by the
//! strict reputation CSV reader ([`super::reputation`]).
use serde_json::Value;

/// Largest body accepted (a 100 000-row reputation list is about 6 MB).
pub const MAX_BODY: usize = 512 * 1024 * 1024;

/// Read the whole body. `Err` describes how it was cut short (a retryable condition).
pub async fn read(mut resp: reqwest::Response) -> Result<Vec<u8>, String> {
    // Without transparent decompression this is the announced length; with it reqwest reports
    // none, and the gzip decoder itself refuses a stream that ends early.
    let announced = resp.content_length();
    let mut body: Vec<u8> = Vec::with_capacity(
        announced
            .and_then(|n| usize::try_from(n).ok())
            .unwrap_or(0)
            .min(64 * 1024 * 1024),
    );
    loop {
        match resp.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > MAX_BODY {
                    return Err(format!("the body is larger than {MAX_BODY} bytes"));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => break,
            Err(e) => {
                let of = announced.map(|n| format!(" of {n}")).unwrap_or_default();
                return Err(format!(
                    "the connection broke after {}{of} bytes of the body ({})",
                    body.len(),
                    super::client::transport_reason(e)
                ));
            }
        }
    }
    if let Some(n) = announced
        && body.len() as u64 != n
    {
        return Err(format!(
            "the body is shorter than its Content-Length ({} of {n} bytes)",
            body.len()
        ));
    }
    Ok(body)
}

/// Parse a JSON document; the error says where and how it is broken.
pub fn json(body: &[u8]) -> Result<Value, String> {
    if body.iter().all(|b| b.is_ascii_whitespace()) {
        return Err("empty body where JSON was expected".into());
    }
    serde_json::from_slice(body).map_err(|e| describe_json_error(body, &e))
}

/// "truncated JSON: …" / "invalid JSON at byte N (line L, column C): …".
pub fn describe_json_error(body: &[u8], e: &serde_json::Error) -> String {
    let (line, column) = (e.line(), e.column());
    let offset = byte_offset(body, line, column);
    // serde_json appends " at line L column C"; we say it our way.
    let msg = e.to_string();
    let what = msg
        .rsplit_once(" at line ")
        .map(|(m, _)| m.to_string())
        .unwrap_or(msg);
    if e.classify() == serde_json::error::Category::Eof {
        format!(
            "truncated JSON: the body ends at byte {} in the middle of the document ({what})",
            body.len()
        )
    } else {
        format!("invalid JSON at byte {offset} (line {line}, column {column}): {what}")
    }
}

/// 0-based byte offset of serde_json's 1-based (line, column); columns count bytes.
fn byte_offset(body: &[u8], line: usize, column: usize) -> usize {
    let mut start = 0;
    if line > 1 {
        let mut seen = 1;
        for (i, b) in body.iter().enumerate() {
            if *b == b'\n' {
                seen += 1;
                if seen == line {
                    start = i + 1;
                    break;
                }
            }
        }
    }
    (start + column.saturating_sub(1)).min(body.len())
}

/// True when a body is an HTML page (Cybereason's login page in place of an API answer).
pub fn looks_html(content_type: Option<&str>, body: &[u8]) -> bool {
    content_type.is_some_and(|v| v.to_ascii_lowercase().contains("text/html"))
        || body
            .iter()
            .find(|b| !b.is_ascii_whitespace())
            .is_some_and(|b| *b == b'<')
}

/// The `<title>` of an HTML page, for messages.
pub fn html_title(body: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(&body[..body.len().min(8192)]);
    let lower = text.to_ascii_lowercase();
    let start = lower.find("<title>")? + "<title>".len();
    let end = start + lower[start..].find("</title>")?;
    Some(super::error::snippet(text[start..end].trim()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_errors_name_the_byte() {
        let body = br#"{"status": "SUCCESS", "data": {"a": [1, 2"#;
        let e = json(body).unwrap_err();
        assert!(
            e.starts_with(&format!(
                "truncated JSON: the body ends at byte {}",
                body.len()
            )),
            "{e}"
        );
        let body = b"{\"a\": 1,\n \"b\": tru\x01}";
        let e = json(body).unwrap_err();
        assert!(e.starts_with("invalid JSON at byte "), "{e}");
        assert!(e.contains("(line 2, column"), "{e}");
        let off: usize = e["invalid JSON at byte ".len()..]
            .split(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert!((15..=19).contains(&off), "{e}");
        assert_eq!(
            json(b"  \n").unwrap_err(),
            "empty body where JSON was expected"
        );
        assert!(json(b"{\"a\": 1}").is_ok());
    }

    #[test]
    fn html_is_recognised_with_its_title() {
        let page = b"\n<!DOCTYPE html><html><head><title>Cybereason | Login</title></head></html>";
        assert!(looks_html(None, page));
        assert!(looks_html(Some("text/html;charset=UTF-8"), b"x"));
        assert!(!looks_html(Some("application/json"), b"{}"));
        assert_eq!(html_title(page).as_deref(), Some("Cybereason | Login"));
    }
}
