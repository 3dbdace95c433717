//! The HTTP side of the simulator: shared state, sessions with a controllable clock, the
//! router, and the gate every request passes (request log, session check, injected faults,
//! latency, the real server's security headers).
use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use super::faults::{self, Endpoint, Fault, FaultKind};
use super::fixture::SimData;
use super::quirks::{Family, Quirks};
use super::{RequestRecord, login, malops, query, reputation, wire};

/// `Max-Age` of the session cookie, as the real server sends it (8 h).
pub(super) const COOKIE_MAX_AGE: u64 = 28_800;

/// Who holds a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Holder {
    /// Handed out with the 302-to-login answer; grants nothing.
    Anonymous,
    /// Password accepted, two-factor code still due.
    PendingTwoFactor,
    /// Logged in.
    User,
}

#[derive(Debug)]
pub(super) struct Session {
    pub holder: Holder,
    pub expires: Instant,
}

pub(super) struct Shared {
    pub username: String,
    pub password: String,
    pub totp_code: String,
    pub ttl: Duration,
    pub plus_one: bool,
    pub quirks: Quirks,
    /// HTTPS: cookies get the `Secure` flag.
    pub secure: bool,
    pub data: Mutex<SimData>,
    pub sessions: Mutex<HashMap<String, Session>>,
    pub faults: Mutex<Vec<Fault>>,
    pub log: Mutex<Vec<RequestRecord>>,
    pub logins: AtomicU64,
    pub failed_logins: AtomicU64,
    /// Added to the real clock: tests move time forward instead of sleeping.
    pub clock_offset: Mutex<Duration>,
    /// `online`, `readyToServe` of the health endpoint.
    pub health: Mutex<(bool, bool)>,
}

pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding a lock must not take the whole simulator down.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

pub(super) fn new_session_id() -> String {
    format!("{:032X}", rand::random::<u128>())
}

/// Lenient cookie parsing: split on `;`, take the `JSESSIONID=` pair (stix-shifter sends whole
/// Set-Cookie strings as the Cookie header).
pub(super) fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| {
            v.split(';').find_map(|p| {
                p.trim()
                    .strip_prefix("JSESSIONID=")
                    .map(|s| s.trim().to_string())
            })
        })
}

pub(super) fn session_set_cookie(id: &str, secure: bool) -> String {
    let flag = if secure { "; Secure" } else { "" };
    format!("JSESSIONID={id}; Path=/{flag}; HttpOnly; Max-Age={COOKIE_MAX_AGE}")
}

impl Shared {
    pub fn now(&self) -> Instant {
        Instant::now() + *lock(&self.clock_offset)
    }

    /// The holder of a live session (refreshing its idle timer), or `None`.
    pub fn holder(&self, id: Option<&str>) -> Option<Holder> {
        let id = id?;
        let now = self.now();
        let mut sessions = lock(&self.sessions);
        match sessions.get_mut(id) {
            Some(s) if s.expires > now => {
                s.expires = now + self.ttl;
                Some(s.holder.clone())
            }
            Some(_) => {
                sessions.remove(id);
                None
            }
            None => None,
        }
    }

    pub fn new_session(&self, holder: Holder) -> String {
        let id = new_session_id();
        let now = self.now();
        let mut sessions = lock(&self.sessions);
        sessions.retain(|_, s| s.expires > now);
        sessions.insert(
            id.clone(),
            Session {
                holder,
                expires: now + self.ttl,
            },
        );
        id
    }

    pub fn drop_session(&self, id: &str) {
        lock(&self.sessions).remove(id);
    }

    /// A JSON answer of `family` with the whole-answer quirks applied.
    pub fn answer(&self, family: Family, v: Value) -> Response {
        json_response(self.quirks.finish(family, v))
    }
}

pub(super) fn json_response(v: Value) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], v.to_string()).into_response()
}

pub(super) fn bad_request(msg: impl Into<String>) -> Response {
    (
        StatusCode::BAD_REQUEST,
        [(header::CONTENT_TYPE, "text/plain")],
        msg.into(),
    )
        .into_response()
}

pub(super) fn redirect(location: &str, cookie: Option<String>) -> Response {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = StatusCode::FOUND;
    let h = r.headers_mut();
    if let Ok(v) = HeaderValue::from_str(location) {
        h.insert(header::LOCATION, v);
    }
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
    if let Some(c) = cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
        h.append(header::SET_COOKIE, c);
    }
    r
}

pub(super) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/", get(login::root_page).post(login::two_factor))
        .route("/login.html", get(login::login_page).post(login::login))
        .route("/login-redirect/{n}", get(login::hop))
        .route("/resetPassword.html", get(login::reset_page))
        .route("/logout", get(login::logout).post(login::logout))
        .route("/rest/visualsearch/query/simple", post(visual_search))
        .route("/rest/crimes/unified", post(crimes_unified))
        .route("/rest/crimes/status", post(malops::crimes_status))
        .route("/rest/classification/download", get(reputation::download))
        .route("/rest/classification/update", post(reputation::update))
        .route(
            "/rest/classification/reputations/list",
            post(reputation::list),
        )
        .route("/rest/detection/inbox", post(malops::inbox))
        .route("/rest/detection/details", post(malops::details))
        .route("/rest/mmng/v2/malops", post(malops::mmng))
        .route(
            "/rest/mmng/v2/malops/metadata/{guid}",
            get(malops::metadata),
        )
        .route("/rest/monitor/global/reg-server/status", get(health))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(shared.clone(), gate))
        .with_state(shared)
}

async fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "Not Found").into_response()
}

/// Session check, fault injection, latency, request log and the server's security headers.
async fn gate(State(s): State<Arc<Shared>>, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    let method = req.method().clone();
    let ep = Endpoint::of(&method, &path);
    let sid = session_cookie(req.headers());
    let fault = faults::take(&mut lock(&s.faults), ep);
    // Record JSON bodies for assertions (never the login or two-factor forms).
    let (req, body_text) = if path.starts_with("/rest/") && method == Method::POST {
        let (parts, body) = req.into_parts();
        let bytes = axum::body::to_bytes(body, 64 * 1024 * 1024)
            .await
            .unwrap_or_default();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        (Request::from_parts(parts, Body::from(bytes)), Some(text))
    } else {
        (req, None)
    };
    lock(&s.log).push(RequestRecord {
        method: method.to_string(),
        path: path.clone(),
        endpoint: ep,
        body: body_text,
    });
    if fault == Some(FaultKind::ExpireSession)
        && let Some(id) = &sid
    {
        s.drop_session(id);
    }
    if let Some(FaultKind::Slow(d)) = &fault {
        tokio::time::sleep(*d).await;
    }
    if !s.quirks.latency.is_zero() {
        tokio::time::sleep(s.quirks.latency).await;
    }
    let mut resp = if path.starts_with("/rest/") && s.holder(sid.as_deref()) != Some(Holder::User) {
        let anon = s.new_session(Holder::Anonymous);
        redirect("/login.html", Some(session_set_cookie(&anon, s.secure)))
    } else {
        match fault {
            Some(FaultKind::Status(code)) => faults::status_response(code, s.quirks.retry_after),
            Some(FaultKind::HtmlOk) => login::html_page(login::LOGIN_HTML),
            Some(FaultKind::Drop) => faults::dropped(),
            Some(FaultKind::QueryStatus(st)) => with_status(next.run(req).await, &st).await,
            Some(FaultKind::Truncate { percent, close }) => {
                let (parts, body) = next.run(req).await.into_parts();
                let full = axum::body::to_bytes(body, usize::MAX)
                    .await
                    .unwrap_or_default();
                faults::truncate(parts, full, percent, close)
            }
            Some(FaultKind::CorruptJson) => {
                let (parts, body) = next.run(req).await.into_parts();
                let full = axum::body::to_bytes(body, usize::MAX)
                    .await
                    .unwrap_or_default();
                faults::corrupt(parts, &full)
            }
            _ => next.run(req).await,
        }
    };
    let h = resp.headers_mut();
    h.insert(
        "strict-transport-security",
        HeaderValue::from_static("max-age=0"),
    );
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        "x-xss-protection",
        HeaderValue::from_static("1; mode=block"),
    );
    resp
}

/// Rewrite a JSON answer to carry a non-success `status`/`outcome`.
async fn with_status(resp: Response, status: &str) -> Response {
    let (parts, body) = resp.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let mut v: Value = serde_json::from_slice(&bytes).unwrap_or_else(|_| json!({}));
    if let Value::Object(m) = &mut v {
        if m.contains_key("outcome") {
            m.insert("outcome".into(), json!("failed"));
        } else {
            m.insert("status".into(), json!(status));
            m.insert("failures".into(), json!(1));
            m.insert("message".into(), json!(format!("simulated {status}")));
            if status == "FAILURE" {
                m.insert("data".into(), Value::Null);
            }
        }
    } else {
        v = json!({"outcome": "failed", "data": format!("simulated {status}")});
    }
    let mut r = Response::from_parts(parts, Body::from(v.to_string()));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r.headers_mut().remove(header::CONTENT_LENGTH);
    r
}

fn search(s: &Shared, body: &[u8], family: Family) -> Response {
    let q = match wire::Query::parse(body) {
        Ok(q) => q,
        Err(e) => return bad_request(e.to_string()),
    };
    let result = {
        let data = lock(&s.data);
        query::run(&data, &q, s.plus_one, &s.quirks)
    };
    match result {
        Ok(v) => s.answer(family, v),
        Err(e) => s.answer(family, query::failure(&e.to_string())),
    }
}

async fn visual_search(State(s): State<Arc<Shared>>, body: axum::body::Bytes) -> Response {
    search(&s, &body, Family::VisualSearch)
}

async fn crimes_unified(State(s): State<Arc<Shared>>, body: axum::body::Bytes) -> Response {
    search(&s, &body, Family::Crimes)
}

/// stix-shifter's ping: `online` and `readyToServe` (both must be true).
async fn health(State(s): State<Arc<Shared>>) -> Response {
    let (online, ready) = *lock(&s.health);
    json_response(json!({"online": online, "readyToServe": ready}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookie_parsing_is_lenient() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("JSESSIONID=ABC; HttpOnly; Path=/; Secure"),
        );
        assert_eq!(session_cookie(&h).as_deref(), Some("ABC"));
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; JSESSIONID=XYZ"),
        );
        assert_eq!(session_cookie(&h).as_deref(), Some("XYZ"));
    }

    #[test]
    fn session_ids_look_real() {
        let id = new_session_id();
        assert_eq!(id.len(), 32);
        assert!(
            id.chars()
                .all(|c| c.is_ascii_digit() || ('A'..='F').contains(&c))
        );
    }
}
