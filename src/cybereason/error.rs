//! What can go wrong talking to Cybereason, and URL redaction.
//!
//! Every message names the endpoint (a URL without credentials) and says what really happened:
//! the HTTP status, the byte where a body stopped being valid JSON, the JSON path of a value in
//! an unknown shape. No message ever contains the password or the userinfo part of a URL.
use std::time::Duration;

/// What can go wrong talking to Cybereason. Messages name the URL, never credentials.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("invalid Cybereason URL `{0}`")]
    BadUrl(String),
    #[error(
        "cybereason.url must not carry credentials (`user:password@host`); set cybereason.username and cybereason.password instead"
    )]
    CredentialsInUrl,
    #[error("CA certificate {path}: {reason}")]
    CaCert { path: String, reason: String },
    #[error("building the HTTP client: {0}")]
    Build(String),
    #[error("login to {url} failed: user name or password rejected")]
    LoginRejected { url: String },
    #[error("login to {url} failed: the password has expired and must be reset in the console")]
    PasswordExpired { url: String },
    #[error(
        "login to {url} failed: two-factor authentication is not supported: use an API user without TFA"
    )]
    TwoFactor { url: String },
    #[error("login to {url} failed: unexpected answer HTTP {status}")]
    LoginUnexpected { url: String, status: u16 },
    #[error("login to {url} failed: {reason}")]
    LoginFailed { url: String, reason: String },
    #[error(
        "{url}: {seen} again right after a fresh login — the API user probably lacks the role for this API (Cybereason answers a missing role with its login page)"
    )]
    SessionRejected { url: String, seen: String },
    #[error("{url}: HTTP 403 Forbidden (does the API user have the required role?)")]
    Forbidden { url: String },
    #[error("{url}: HTTP {status}: {body}")]
    Http {
        url: String,
        status: u16,
        body: String,
    },
    #[error("{url}: giving up after {attempts} attempts: {last}")]
    GaveUp {
        url: String,
        attempts: u32,
        last: String,
    },
    #[error(
        "{url}: HTTP 429: the server asks to retry after {}, more than cybereason.retry_after_max ({})",
        secs(*.wait), secs(*.max)
    )]
    Throttled {
        url: String,
        wait: Duration,
        max: Duration,
    },
    #[error("{url}: query status {status}{}", if .message.is_empty() { String::new() } else { format!(": {}", .message) })]
    QueryStatus {
        url: String,
        status: String,
        message: String,
    },
    #[error("{url}: unexpected response: {reason}")]
    BadResponse { url: String, reason: String },
    #[error(
        "{what}: more than {limit} results even in a 1 ms window; raise cybereason.result_limit"
    )]
    Overflow { what: String, limit: u64 },
}

fn secs(d: Duration) -> String {
    format!("{} s", d.as_secs_f64())
}

/// `url` with any `user:password@` part replaced by `***@`. Works on text that does not parse
/// as a URL too (an invalid URL is still echoed in errors).
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        // No scheme: treat everything up to the first `/` as the authority.
        return redact_authority(url, 0);
    };
    redact_authority(url, scheme_end + 3)
}

fn redact_authority(url: &str, start: usize) -> String {
    let rest = &url[start..];
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    match authority.rfind('@') {
        Some(at) => format!("{}***@{}", &url[..start], &url[start + at + 1..]),
        None => url.to_string(),
    }
}

/// A short, single-line, printable excerpt of a server answer (never more than 200 characters).
pub fn snippet(text: &str) -> String {
    let mut out: String = text
        .chars()
        .take(200)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if text.chars().nth(200).is_some() {
        out.push('…');
    }
    out.trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn userinfo_is_redacted_even_in_invalid_urls() {
        assert_eq!(
            redact_url("https://api:S3cret@tenant.example:8443/rest/x?a=b@c"),
            "https://***@tenant.example:8443/rest/x?a=b@c"
        );
        assert_eq!(
            redact_url("http://u:p@w@host:notaport"),
            "http://***@host:notaport"
        );
        assert_eq!(redact_url("user:pw@host/path"), "***@host/path");
        assert_eq!(
            redact_url("https://tenant.example/x@y"),
            "https://tenant.example/x@y"
        );
        assert_eq!(redact_url("not a url"), "not a url");
    }

    #[test]
    fn snippets_are_short_and_printable() {
        let s = snippet(&format!("a\nb\u{1b}[31m{}", "x".repeat(500)));
        assert!(s.starts_with("a b [31m"), "{s}");
        assert!(s.chars().count() <= 201);
        assert!(s.ends_with('…'));
    }
}
