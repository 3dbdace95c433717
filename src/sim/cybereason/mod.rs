//! A Cybereason API simulator faithful to research §9: form login with a `JSESSIONID`
//! session, 302-to-login for missing/expired sessions, visual search, the reputation CSV,
//! MalOp inbox and mmng/v2 paging, and per-endpoint fault injection. Used by tests (in
//! process, over real sockets), by `blockops sim cybereason` and by the demo.
//!
//! Over plain HTTP the session cookie carries no `Secure` flag (clients would not send it back
//! over `http://`); with `tls` the simulator serves HTTPS with a freshly generated self-signed
//! certificate for `127.0.0.1`/`localhost` and sets `Secure`, like the real server.
pub mod fixture;
pub mod query;
mod tls;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use crate::cybereason::api::{
    InboxRequest, MalopsRequest, QueryRequest, ReputationRow, ReputationUpdate, reputation_csv,
};
pub use fixture::{DEFAULT_FIXTURE, Fixture, SimData};

/// Default user name of the simulator.
pub const DEFAULT_USER: &str = "api@blockops.example";
/// Default password of the simulator (a test credential, not a secret).
pub const DEFAULT_PASSWORD: &str = "blockops-sim";
/// `Max-Age` of the session cookie, as the real server sends it (8 h).
const COOKIE_MAX_AGE: u64 = 28_800;

/// How the simulator behaves.
#[derive(Debug, Clone)]
pub struct SimConfig {
    pub fixture: Fixture,
    pub username: String,
    pub password: String,
    /// Idle lifetime of a session (refreshed on every use).
    pub session_ttl: Duration,
    /// Return one row more than `totalResultLimit` when more exist (the real server does).
    pub plus_one_quirk: bool,
    /// Where to listen; port 0 picks a free port.
    pub listen: SocketAddr,
    /// Serve HTTPS with a self-signed certificate (see [`SimHandle::cert_pem`]).
    pub tls: bool,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            fixture: Fixture::default_fixture(),
            username: DEFAULT_USER.into(),
            password: DEFAULT_PASSWORD.into(),
            session_ttl: Duration::from_secs(COOKIE_MAX_AGE),
            plus_one_quirk: true,
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            tls: false,
        }
    }
}

/// An API endpoint, for fault injection and request counting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// Matches every request.
    Any,
    Login,
    Logout,
    VisualSearch,
    CrimesUnified,
    ClassificationDownload,
    ClassificationUpdate,
    ReputationsList,
    DetectionInbox,
    Malops,
    /// Any other path (login page, unknown `/rest` paths).
    Other,
}

impl Endpoint {
    /// The endpoint a request path belongs to.
    pub fn of(method: &Method, path: &str) -> Endpoint {
        match path {
            "/login.html" if method == Method::POST => Endpoint::Login,
            "/logout" => Endpoint::Logout,
            "/rest/visualsearch/query/simple" => Endpoint::VisualSearch,
            "/rest/crimes/unified" => Endpoint::CrimesUnified,
            "/rest/classification/download" => Endpoint::ClassificationDownload,
            "/rest/classification/update" => Endpoint::ClassificationUpdate,
            "/rest/classification/reputations/list" => Endpoint::ReputationsList,
            "/rest/detection/inbox" => Endpoint::DetectionInbox,
            "/rest/mmng/v2/malops" => Endpoint::Malops,
            _ => Endpoint::Other,
        }
    }
}

/// What an injected fault does to a matching request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FaultKind {
    /// Answer with this HTTP status (403, 429 without `Retry-After`, 500, …).
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

/// One request the simulator saw.
#[derive(Debug, Clone)]
pub struct RequestRecord {
    pub method: String,
    pub path: String,
    pub endpoint: Endpoint,
    /// Request body for JSON endpoints (never for login).
    pub body: Option<String>,
}

#[derive(Debug)]
struct Session {
    user: Option<String>,
    expires: Instant,
}

struct Shared {
    username: String,
    password: String,
    ttl: Duration,
    plus_one: bool,
    data: Mutex<SimData>,
    sessions: Mutex<HashMap<String, Session>>,
    faults: Mutex<Vec<Fault>>,
    log: Mutex<Vec<RequestRecord>>,
    logins: AtomicU64,
    failed_logins: AtomicU64,
    /// HTTPS: cookies get the `Secure` flag.
    secure: bool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding a lock must not take the whole simulator down.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Errors starting the simulator.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("simulator runtime: {0}")]
    Runtime(std::io::Error),
    #[error(transparent)]
    Fixture(#[from] fixture::FixtureError),
    #[error("simulator TLS setup: {0}")]
    Tls(String),
}

/// Entry point of the simulator.
pub struct CybereasonSim;

impl CybereasonSim {
    /// Start on a background thread with its own runtime; returns once the socket listens.
    pub fn spawn(cfg: SimConfig) -> Result<SimHandle, SimError> {
        let now_ms = now_ms();
        let data = cfg.fixture.build(now_ms)?;
        let listener =
            std::net::TcpListener::bind(cfg.listen).map_err(|source| SimError::Bind {
                addr: cfg.listen,
                source,
            })?;
        listener.set_nonblocking(true).map_err(SimError::Runtime)?;
        let addr = listener.local_addr().map_err(SimError::Runtime)?;
        let shared = Arc::new(Shared {
            username: cfg.username,
            password: cfg.password,
            ttl: cfg.session_ttl,
            plus_one: cfg.plus_one_quirk,
            data: Mutex::new(data),
            sessions: Mutex::new(HashMap::new()),
            faults: Mutex::new(Vec::new()),
            log: Mutex::new(Vec::new()),
            logins: AtomicU64::new(0),
            failed_logins: AtomicU64::new(0),
            secure: cfg.tls,
        });
        let tls = if cfg.tls {
            Some(tls::self_signed().map_err(SimError::Tls)?)
        } else {
            None
        };
        let cert_pem = tls.as_ref().map(|t| t.cert_pem.clone());
        let acceptor = tls.map(|t| t.acceptor);
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("cybereason-sim")
            .enable_all()
            .build()
            .map_err(SimError::Runtime)?;
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let app = router(shared.clone());
        let thread = std::thread::Builder::new()
            .name("cybereason-sim".into())
            .spawn(move || {
                rt.block_on(async move {
                    let listener = match tokio::net::TcpListener::from_std(listener) {
                        Ok(l) => l,
                        Err(e) => {
                            tracing::error!("simulator: {e}");
                            return;
                        }
                    };
                    match acceptor {
                        None => tokio::select! {
                            r = axum::serve(listener, app) => {
                                if let Err(e) = r { tracing::error!("simulator: {e}"); }
                            }
                            _ = rx => {}
                        },
                        Some(acceptor) => tokio::select! {
                            _ = tls::serve(listener, acceptor, app) => {}
                            _ = rx => {}
                        },
                    }
                });
                rt.shutdown_timeout(Duration::from_millis(200));
            })
            .map_err(SimError::Runtime)?;
        Ok(SimHandle {
            addr,
            cert_pem,
            shared,
            stop: Some(tx),
            thread: Some(thread),
        })
    }
}

/// A running simulator. Dropping it stops the server.
pub struct SimHandle {
    /// The bound address.
    pub addr: SocketAddr,
    /// PEM of the self-signed certificate when serving HTTPS (give it to clients as CA).
    pub cert_pem: Option<String>,
    shared: Arc<Shared>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl SimHandle {
    /// `http://127.0.0.1:PORT`, or `https://…` when serving TLS.
    pub fn url(&self) -> String {
        let scheme = if self.cert_pem.is_some() {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{}", self.addr)
    }
    /// Add a fault rule (rules are checked in order; the first active match wins).
    pub fn inject(&self, fault: Fault) {
        lock(&self.shared.faults).push(fault);
    }
    /// Remove all fault rules.
    pub fn clear_faults(&self) {
        lock(&self.shared.faults).clear();
    }
    /// Invalidate every session (as if they all expired).
    pub fn expire_sessions(&self) {
        lock(&self.shared.sessions).clear();
    }
    /// Add or replace a reputation row.
    pub fn set_reputation(&self, key: &str, reputation: &str, comment: &str) {
        lock(&self.shared.data).reputations.insert(
            key.to_string(),
            ReputationRow {
                key: key.into(),
                reputation: reputation.into(),
                prevent: false,
                comment: comment.into(),
                remove: false,
            },
        );
    }
    /// Remove a reputation row; true when it existed.
    pub fn remove_reputation(&self, key: &str) -> bool {
        lock(&self.shared.data).reputations.remove(key).is_some()
    }
    /// Replace all data (e.g. to simulate a later day).
    pub fn replace_data(&self, fixture: &Fixture) -> Result<(), SimError> {
        let data = fixture.build(now_ms())?;
        *lock(&self.shared.data) = data;
        Ok(())
    }
    /// Every request seen so far.
    pub fn requests(&self) -> Vec<RequestRecord> {
        lock(&self.shared.log).clone()
    }
    /// Number of requests to one endpoint.
    pub fn count(&self, endpoint: Endpoint) -> usize {
        lock(&self.shared.log)
            .iter()
            .filter(|r| endpoint == Endpoint::Any || r.endpoint == endpoint)
            .count()
    }
    /// Successful logins so far.
    pub fn logins(&self) -> u64 {
        self.shared.logins.load(Ordering::SeqCst)
    }
    /// Failed logins so far.
    pub fn failed_logins(&self) -> u64 {
        self.shared.failed_logins.load(Ordering::SeqCst)
    }
    /// Stop the server and wait for its thread.
    pub fn shutdown(mut self) {
        self.stop_now();
    }
    fn stop_now(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        self.stop_now();
    }
}

fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/", get(login_page))
        .route("/login.html", get(login_page).post(login))
        .route("/logout", get(logout).post(logout))
        .route("/rest/visualsearch/query/simple", post(visual_search))
        .route("/rest/crimes/unified", post(visual_search))
        .route("/rest/classification/download", get(download))
        .route("/rest/classification/update", post(update))
        .route(
            "/rest/classification/reputations/list",
            post(reputations_list),
        )
        .route("/rest/detection/inbox", post(inbox))
        .route("/rest/mmng/v2/malops", post(malops))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(shared.clone(), gate))
        .with_state(shared)
}

fn new_session_id() -> String {
    format!("{:032X}", rand::random::<u128>())
}

/// Lenient cookie parsing: split on `;`, take the `JSESSIONID=` pair (SS sends whole Set-Cookie strings).
fn session_cookie(headers: &HeaderMap) -> Option<String> {
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

fn session_set_cookie(id: &str, secure: bool) -> String {
    let flag = if secure { "; Secure" } else { "" };
    format!("JSESSIONID={id}; Path=/{flag}; HttpOnly; Max-Age={COOKIE_MAX_AGE}")
}

impl Shared {
    fn take_fault(&self, ep: Endpoint) -> Option<FaultKind> {
        let mut faults = lock(&self.faults);
        for f in faults.iter_mut() {
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

    fn session_valid(&self, id: Option<&str>) -> bool {
        let Some(id) = id else { return false };
        let mut sessions = lock(&self.sessions);
        let now = Instant::now();
        match sessions.get_mut(id) {
            Some(s) if s.user.is_some() && s.expires > now => {
                s.expires = now + self.ttl;
                true
            }
            Some(s) if s.user.is_some() => {
                sessions.remove(id);
                false
            }
            _ => false,
        }
    }

    fn new_session(&self, user: Option<String>) -> String {
        let id = new_session_id();
        let mut sessions = lock(&self.sessions);
        let now = Instant::now();
        sessions.retain(|_, s| s.expires > now);
        sessions.insert(
            id.clone(),
            Session {
                user,
                expires: now + self.ttl,
            },
        );
        id
    }
}

const LOGIN_HTML: &str = "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Cybereason | Login</title></head>\n<body><form method=\"post\" action=\"/login.html\">\n<input type=\"text\" name=\"username\" placeholder=\"Username\">\n<input type=\"password\" name=\"password\" placeholder=\"Password\">\n<input type=\"submit\" name=\"submit\" value=\"Login\">\n</form></body></html>\n";

fn html_page() -> Response {
    (
        [(header::CONTENT_TYPE, "text/html;charset=UTF-8")],
        LOGIN_HTML,
    )
        .into_response()
}

async fn login_page() -> Response {
    html_page()
}

fn redirect(location: &str, cookie: Option<String>) -> Response {
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

/// Decode `application/x-www-form-urlencoded` pairs.
fn form_pairs(text: &str) -> Vec<(String, String)> {
    fn dec(s: &str) -> String {
        let bytes = s.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'+' => out.push(b' '),
                b'%' if i + 2 < bytes.len() => {
                    let hex = |c: u8| (c as char).to_digit(16);
                    match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                        (Some(h), Some(l)) => {
                            out.push((h * 16 + l) as u8);
                            i += 2;
                        }
                        _ => out.push(b'%'),
                    }
                }
                b => out.push(b),
            }
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    }
    text.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (dec(k), dec(v)),
            None => (dec(p), String::new()),
        })
        .collect()
}

async fn login(State(s): State<Arc<Shared>>, RawQuery(q): RawQuery, body: Bytes) -> Response {
    let mut pairs = form_pairs(q.as_deref().unwrap_or(""));
    pairs.extend(form_pairs(&String::from_utf8_lossy(&body)));
    let get = |k: &str| {
        pairs
            .iter()
            .rev()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
    };
    let ok = get("username") == Some(s.username.as_str())
        && get("password") == Some(s.password.as_str());
    if !ok {
        s.failed_logins.fetch_add(1, Ordering::SeqCst);
        return redirect("/login.html?error", None);
    }
    s.logins.fetch_add(1, Ordering::SeqCst);
    let id = s.new_session(Some(s.username.clone()));
    let mut r = redirect("/#/current?", Some(session_set_cookie(&id, s.secure)));
    r.headers_mut().append(
        header::SET_COOKIE,
        HeaderValue::from_static("rememberMe=deleteMe; Path=/; Max-Age=0"),
    );
    r
}

async fn logout(State(s): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    if let Some(id) = session_cookie(&headers) {
        lock(&s.sessions).remove(&id);
    }
    redirect("/login.html", None)
}

async fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "Not Found").into_response()
}

/// A body that fails immediately: hyper then closes the connection mid-response.
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

/// Session check, fault injection, request log and the server's security headers.
async fn gate(State(s): State<Arc<Shared>>, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    let method = req.method().clone();
    let ep = Endpoint::of(&method, &path);
    let sid = session_cookie(req.headers());
    let fault = s.take_fault(ep);
    // Record JSON bodies for assertions (never the login form).
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
        lock(&s.sessions).remove(id);
    }
    if let Some(FaultKind::Slow(d)) = &fault {
        tokio::time::sleep(*d).await;
    }
    let mut resp = if path.starts_with("/rest/") && !s.session_valid(sid.as_deref()) {
        let anon = s.new_session(None);
        redirect("/login.html", Some(session_set_cookie(&anon, s.secure)))
    } else {
        match fault {
            Some(FaultKind::Status(code)) => {
                let st = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                (
                    st,
                    [(header::CONTENT_TYPE, "application/json")],
                    json!({"message": "simulated fault", "status": code}).to_string(),
                )
                    .into_response()
            }
            Some(FaultKind::HtmlOk) => html_page(),
            Some(FaultKind::Drop) => Response::new(Body::new(BrokenBody)),
            Some(FaultKind::QueryStatus(st)) => with_status(next.run(req).await, &st).await,
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

fn json_response(v: Value) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], v.to_string()).into_response()
}

fn bad_request(msg: String) -> Response {
    (
        StatusCode::BAD_REQUEST,
        [(header::CONTENT_TYPE, "text/plain")],
        msg,
    )
        .into_response()
}

async fn visual_search(State(s): State<Arc<Shared>>, body: Bytes) -> Response {
    let q: QueryRequest = match serde_json::from_slice(&body) {
        Ok(q) => q,
        Err(e) => return bad_request(format!("Bad request: {e}")),
    };
    let result = {
        let data = lock(&s.data);
        query::run(&data, &q, s.plus_one)
    };
    match result {
        Ok(r) => match serde_json::to_string(&r) {
            Ok(v) => ([(header::CONTENT_TYPE, "application/json")], v).into_response(),
            Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
        },
        Err(e) => json_response(json!({
            "data": null, "status": "FAILURE", "hidePartialSuccess": false,
            "message": e.to_string(), "expectedResults": 0, "failures": 1
        })),
    }
}

async fn download(State(s): State<Arc<Shared>>) -> Response {
    let rows: Vec<ReputationRow> = lock(&s.data).reputations.values().cloned().collect();
    (
        [
            (header::CONTENT_TYPE, "text/csv;charset=UTF-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=reputations.csv",
            ),
        ],
        reputation_csv(&rows),
    )
        .into_response()
}

async fn update(State(s): State<Arc<Shared>>, body: Bytes) -> Response {
    let items: Vec<ReputationUpdate> = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return bad_request(format!("Bad request: {e}")),
    };
    let mut data = lock(&s.data);
    for it in &items {
        if !it.remove
            && !matches!(
                it.malicious_type.as_deref(),
                Some("blacklist" | "whitelist")
            )
        {
            return json_response(
                json!({"outcome": "failed", "data": "maliciousType must be blacklist or whitelist"}),
            );
        }
    }
    for it in items {
        for k in &it.keys {
            if it.remove {
                data.reputations.remove(k);
            } else {
                data.reputations.insert(
                    k.clone(),
                    ReputationRow {
                        key: k.clone(),
                        reputation: it.malicious_type.clone().unwrap_or_default(),
                        prevent: it.prevent,
                        comment: it.comment.clone().unwrap_or_default(),
                        remove: false,
                    },
                );
            }
        }
    }
    json_response(json!({"outcome": "success", "data": "true"}))
}

async fn reputations_list(State(s): State<Arc<Shared>>, body: Bytes) -> Response {
    let req: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return bad_request(format!("Bad request: {e}")),
    };
    let f = &req["filter"];
    let page = req["page"].as_u64().unwrap_or(0);
    let size = req["size"].as_u64().unwrap_or(20).max(1);
    let data = lock(&s.data);
    let all: Vec<&ReputationRow> = data
        .reputations
        .values()
        .filter(|r| f["key"].as_str().is_none_or(|k| k == r.key))
        .filter(|r| {
            f["maliciousType"]
                .as_str()
                .is_none_or(|m| m.eq_ignore_ascii_case(&r.reputation))
        })
        .collect();
    let items: Vec<Value> = all
        .iter()
        .skip(usize::try_from(page * size).unwrap_or(usize::MAX))
        .take(usize::try_from(size).unwrap_or(usize::MAX))
        .map(|r| {
            let (rt, lk) = match crate::cybereason::api::key_shape(&r.key) {
                crate::cybereason::api::KeyShape::Ip if r.key.contains(':') => ("IP", "IPV6"),
                crate::cybereason::api::KeyShape::Ip => ("IP", "IPV4"),
                crate::cybereason::api::KeyShape::Domain => ("DOMAIN", "DOMAIN"),
                crate::cybereason::api::KeyShape::FileHash => ("FILE", "FILE_HASH_MD5"),
            };
            json!({"key": r.key, "reputationType": rt, "lookupKeyType": lk, "maliciousType": r.reputation,
                   "isBlocking": r.prevent, "comment": r.comment, "expiration": -1, "owningUser": s.username,
                   "firstSeen": 0, "lastUpdated": 0, "additionalKeys": []})
        })
        .collect();
    json_response(json!({"outcome": "success", "data": {"reputations": items, "total": all.len()}}))
}

fn malop_inbox_json(m: &fixture::SimMalop) -> Value {
    json!({
        "@class": ".MalopInboxModel", "guid": m.guid, "displayName": m.name,
        "rootCauseElementType": "Process", "primaryRootCauseName": m.name, "rootCauseElementNamesCount": 1,
        "detectionEngines": ["EDR"], "detectionTypes": [m.name], "malopDetectionType": m.detection_type,
        "creationTime": m.created, "lastUpdateTime": m.updated, "status": m.status,
        "severity": m.severity, "priority": m.severity.to_uppercase(),
        "machines": m.machines.iter().map(|n| json!({"@class": ".MachineInboxModel", "guid": format!("machine-{n}"),
            "displayName": n, "osType": "WINDOWS", "connected": true, "isolated": false, "lastConnected": m.updated}))
            .collect::<Vec<_>>(),
        "users": [], "labels": [], "decisionStatuses": [], "malopCloseTime": null, "closerName": null,
        "edr": true, "escalated": false, "closed": false, "empty": false, "group": "00000000-0000-0000-0000-000000000000",
        "iconBase64": "", "rootCauseElementHashes": ""
    })
}

async fn inbox(State(s): State<Arc<Shared>>, body: Bytes) -> Response {
    let req: InboxRequest = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return bad_request(format!("Bad request: {e}")),
    };
    let (Some(from), Some(to)) = (req.start_time, req.end_time) else {
        return bad_request("Time range is not valid".into());
    };
    if from > to {
        return bad_request("Time range is not valid".into());
    }
    let data = lock(&s.data);
    let mut ms: Vec<&fixture::SimMalop> = data
        .malops
        .values()
        .filter(|m| (from..=to).contains(&m.created) || (from..=to).contains(&m.updated))
        .collect();
    ms.sort_by(|a, b| b.updated.cmp(&a.updated).then_with(|| a.guid.cmp(&b.guid)));
    json_response(json!({"malops": ms.into_iter().map(malop_inbox_json).collect::<Vec<_>>()}))
}

async fn malops(State(s): State<Arc<Shared>>, body: Bytes) -> Response {
    let req: MalopsRequest = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return bad_request(format!("Bad request: {e}")),
    };
    let page = req
        .pagination
        .map(|p| (p.page_size, p.offset))
        .unwrap_or((50, 0));
    if page.0 == 0 {
        return bad_request("pageSize must be positive".into());
    }
    let guid = req.search["malop"]["guid"].as_str().map(String::from);
    let statuses: Option<Vec<String>> = req.filter["malop"]["status"].as_array().map(|a| {
        a.iter()
            .filter_map(|v| v.as_str().map(str::to_lowercase))
            .collect()
    });
    let data = lock(&s.data);
    let mut ms: Vec<&fixture::SimMalop> = data
        .malops
        .values()
        .filter(|m| {
            req.range.is_none_or(|r| {
                (r.from..=r.to).contains(&m.created) || (r.from..=r.to).contains(&m.updated)
            })
        })
        .filter(|m| guid.as_deref().is_none_or(|g| g == m.guid))
        .filter(|m| {
            statuses
                .as_ref()
                .is_none_or(|st| st.contains(&m.status.to_lowercase()))
        })
        .collect();
    ms.sort_by(|a, b| b.updated.cmp(&a.updated).then_with(|| a.guid.cmp(&b.guid)));
    let total = ms.len() as u64;
    let items: Vec<Value> = ms
        .into_iter()
        .skip(usize::try_from(page.1).unwrap_or(usize::MAX))
        .take(usize::try_from(page.0).unwrap_or(usize::MAX))
        .map(|m| {
            json!({
                "guid": m.guid, "displayName": m.name, "creationTime": m.created, "lastUpdateTime": m.updated,
                "metadataUpdateTime": m.updated, "status": m.status, "investigationStatus": "Pending",
                "severity": m.severity, "priority": m.severity.to_uppercase(), "detectionType": m.detection_type,
                "detectionTypes": [m.name], "detectionEngines": ["EDR"], "rootCauseElementType": "Process",
                "rootCauseElementHashes": [], "iocs": [], "mitreTactics": [], "mitreTechniques": [],
                "mitreSubTechniques": [], "labels": [],
                "machines": m.machines.iter().map(|n| json!({"guid": format!("machine-{n}"), "displayName": n,
                    "connected": true, "isolated": false, "osType": "WINDOWS", "lastConnected": m.updated,
                    "pylumId": format!("PYLUM{n}")})).collect::<Vec<_>>(),
                "users": [], "groups": [], "isEdr": true, "escalated": false, "closerName": null, "iconBase64": ""
            })
        })
        .collect();
    json_response(json!({
        "status": "SUCCESS",
        "data": {"pageSize": page.0, "pages": total.div_ceil(page.0), "offset": page.1,
                 "totalHits": total, "token": "sim-token", "data": items}
    }))
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

    #[test]
    fn form_decoding() {
        let p = form_pairs("username=a%40b.example&password=p+w%26x&bad=%zz");
        assert_eq!(p[0], ("username".into(), "a@b.example".into()));
        assert_eq!(p[1], ("password".into(), "p w&x".into()));
        assert_eq!(p[2].1, "%zz");
    }
}
