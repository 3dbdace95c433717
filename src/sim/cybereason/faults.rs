//! Fault injection: which endpoint a request belongs to, what an injected fault does, and the
//! bodies that play broken transfers (a dropped connection, a body cut short behind
//! `Connection: close` or behind a `Content-Length` that promises more, invalid JSON).
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, Method, StatusCode, Version, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// An API endpoint, for fault injection and request counting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// Matches every request.
    Any,
    /// `POST /login.html` (the password form).
    Login,
    /// `POST /` (the two-factor code form).
    TwoFactor,
    Logout,
    VisualSearch,
    CrimesUnified,
    CrimesStatus,
    ClassificationDownload,
    ClassificationUpdate,
    ReputationsList,
    DetectionInbox,
    DetectionDetails,
    Malops,
    MalopMetadata,
    /// `GET /rest/monitor/global/reg-server/status`.
    Health,
    /// Any other path (login page, redirect hops, unknown `/rest` paths).
    Other,
}

impl Endpoint {
    /// The endpoint a request path belongs to.
    pub fn of(method: &Method, path: &str) -> Endpoint {
        match path {
            "/login.html" if method == Method::POST => Endpoint::Login,
            "/" if method == Method::POST => Endpoint::TwoFactor,
            "/logout" => Endpoint::Logout,
            "/rest/visualsearch/query/simple" => Endpoint::VisualSearch,
            "/rest/crimes/unified" => Endpoint::CrimesUnified,
            "/rest/crimes/status" => Endpoint::CrimesStatus,
            "/rest/classification/download" => Endpoint::ClassificationDownload,
            "/rest/classification/update" => Endpoint::ClassificationUpdate,
            "/rest/classification/reputations/list" => Endpoint::ReputationsList,
            "/rest/detection/inbox" => Endpoint::DetectionInbox,
            "/rest/detection/details" => Endpoint::DetectionDetails,
            "/rest/mmng/v2/malops" => Endpoint::Malops,
            "/rest/monitor/global/reg-server/status" => Endpoint::Health,
            p if p.starts_with("/rest/mmng/v2/malops/metadata/") => Endpoint::MalopMetadata,
            _ => Endpoint::Other,
        }
    }
}

/// What an injected fault does to a matching request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FaultKind {
    /// Answer with this HTTP status (403, 429, 500, …). A 429 carries `Retry-After` only when
    /// [`super::Quirks::retry_after`] is set.
    Status(u16),
    /// Answer 200 with the HTML login page instead of the API response.
    HtmlOk,
    /// Answer 200 with this query `status` (`FAILURE`, `PARTIAL_SUCCESS`, …); reputation
    /// endpoints get `"outcome": "failed"`.
    QueryStatus(String),
    /// Wait this long, then answer normally.
    Slow(Duration),
    /// Close the connection without a complete response.
    Drop,
    /// Invalidate the caller's session first (it then gets the 302-to-login answer).
    ExpireSession,
    /// Send only the first `percent` % of the real body. `close`: no `Content-Length`, the
    /// body ends when the server closes the connection (`Connection: close`) — the client sees
    /// a clean end of a shorter body. Otherwise a `Content-Length` of the full body announces
    /// more than is sent before the connection closes.
    Truncate { percent: u8, close: bool },
    /// Answer 200 `application/json` with a body that is not valid JSON (the start of the
    /// real answer followed by garbage).
    CorruptJson,
}

/// A fault rule: which endpoint, what happens, and for how many requests.
#[derive(Debug, Clone)]
pub struct Fault {
    pub endpoint: Endpoint,
    pub kind: FaultKind,
    /// Let this many matching requests through first.
    pub skip: u32,
    /// Affect this many matching requests (after `skip`); `None` = all.
    pub times: Option<u32>,
}

impl Fault {
    /// A fault on every matching request.
    pub fn new(endpoint: Endpoint, kind: FaultKind) -> Fault {
        Fault {
            endpoint,
            kind,
            skip: 0,
            times: None,
        }
    }
    /// Only the next `n` matching requests.
    pub fn times(mut self, n: u32) -> Fault {
        self.times = Some(n);
        self
    }
    /// Let `n` matching requests through before the fault starts.
    pub fn after(mut self, n: u32) -> Fault {
        self.skip = n;
        self
    }
}

/// The first active rule matching `ep`, consuming one use of it.
pub(super) fn take(rules: &mut [Fault], ep: Endpoint) -> Option<FaultKind> {
    for f in rules.iter_mut() {
        if f.endpoint != Endpoint::Any && f.endpoint != ep {
            continue;
        }
        if f.times == Some(0) {
            continue;
        }
        if f.skip > 0 {
            f.skip -= 1;
            continue;
        }
        if let Some(n) = f.times.as_mut() {
            *n -= 1;
        }
        return Some(f.kind.clone());
    }
    None
}

/// The answer of a `Status(code)` fault.
pub(super) fn status_response(code: u16, retry_after: Option<u64>) -> Response {
    let st = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut r = (
        st,
        [(header::CONTENT_TYPE, "application/json")],
        json!({"message": "simulated fault", "status": code}).to_string(),
    )
        .into_response();
    if code == 429
        && let Some(secs) = retry_after
    {
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    r
}

/// A response whose body fails at once: hyper then closes the connection mid-response.
pub(super) fn dropped() -> Response {
    Response::new(Body::new(BrokenBody))
}

/// Cut a finished response's body per a `Truncate` fault.
pub(super) fn truncate(
    parts: axum::http::response::Parts,
    full: Bytes,
    percent: u8,
    close: bool,
) -> Response {
    let keep = full.len() * usize::from(percent.min(100)) / 100;
    let cut = full.slice(..keep);
    let mut r = Response::from_parts(
        parts,
        Body::new(OneShot {
            data: Some(cut),
            paused: false,
        }),
    );
    let h = r.headers_mut();
    h.remove(header::CONTENT_LENGTH);
    h.remove(header::TRANSFER_ENCODING);
    if close {
        // hyper frames a body of unknown length as chunked on HTTP/1.1; an HTTP/1.0 answer
        // makes it end the body by closing the connection, which is the framing real servers
        // (and proxies) use when they send `Connection: close` without a length.
        *r.version_mut() = Version::HTTP_10;
        r.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    } else {
        // The announced length is the full body; hyper closes the connection when the body
        // ends early, so the client sees fewer bytes than promised.
        r.headers_mut()
            .insert(header::CONTENT_LENGTH, HeaderValue::from(full.len()));
    }
    r
}

/// Replace a finished response's body with invalid JSON (status 200).
pub(super) fn corrupt(mut parts: axum::http::response::Parts, full: &[u8]) -> Response {
    let mut body = full[..full.len() / 2].to_vec();
    body.extend_from_slice(b"\x00}]<!-- corrupt -->");
    parts.status = StatusCode::OK;
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Response::from_parts(parts, Body::from(body))
}

/// A body that fails immediately.
struct BrokenBody;

impl http_body::Body for BrokenBody {
    type Data = Bytes;
    type Error = std::io::Error;
    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, std::io::Error>>> {
        Poll::Ready(Some(Err(std::io::Error::other(
            "simulated dropped connection",
        ))))
    }
}

/// One chunk of data and no size hint, so hyper frames it by the headers we set. After the
/// chunk the body is pending once, which makes hyper flush what it has written (head and
/// data) before it sees the end — it otherwise drops its unflushed buffer when a body ends
/// short of its `Content-Length`.
struct OneShot {
    data: Option<Bytes>,
    paused: bool,
}

impl http_body::Body for OneShot {
    type Data = Bytes;
    type Error = std::io::Error;
    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, std::io::Error>>> {
        if let Some(b) = self.data.take() {
            return Poll::Ready(Some(Ok(http_body::Frame::data(b))));
        }
        if !self.paused {
            self.paused = true;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        Poll::Ready(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_apply_in_order_with_skip_and_times() {
        let mut rules = vec![
            Fault::new(Endpoint::VisualSearch, FaultKind::Status(500))
                .after(1)
                .times(1),
            Fault::new(Endpoint::Any, FaultKind::Drop).times(1),
        ];
        // First matching request is let through by the skip of rule 1, then caught by rule 2.
        assert_eq!(
            take(&mut rules, Endpoint::VisualSearch),
            Some(FaultKind::Drop)
        );
        assert_eq!(
            take(&mut rules, Endpoint::VisualSearch),
            Some(FaultKind::Status(500))
        );
        assert_eq!(take(&mut rules, Endpoint::VisualSearch), None);
    }

    #[test]
    fn endpoints_by_path() {
        assert_eq!(
            Endpoint::of(&Method::GET, "/rest/mmng/v2/malops/metadata/AAAA"),
            Endpoint::MalopMetadata
        );
        assert_eq!(Endpoint::of(&Method::POST, "/"), Endpoint::TwoFactor);
        assert_eq!(Endpoint::of(&Method::GET, "/"), Endpoint::Other);
        assert_eq!(Endpoint::of(&Method::GET, "/login.html"), Endpoint::Other);
    }
}
