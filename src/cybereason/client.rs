//! HTTP client for the Cybereason REST API: form login with a `JSESSIONID` cookie, session
//! expiry detection (302 to `/login.html`, or an HTML/non-JSON body) answered by one re-login,
//! and bounded retries with exponential backoff for timeouts, dropped connections, 5xx and 429.
//!
//! The password is only ever handed to the login form; errors name URLs, never credentials.
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use reqwest::cookie::CookieStore;
use reqwest::{Method, StatusCode, Url, header};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::config::CybereasonConfig;
use crate::secret::Secret;

/// Everything the client needs, with the password already resolved.
#[derive(Debug, Clone)]
pub struct ClientSettings {
    /// Base URL, e.g. `https://tenant.cybereason.net:8443`.
    pub url: String,
    pub username: String,
    pub password: Secret,
    pub timeout: Duration,
    pub retries: u32,
    pub retry_backoff: Duration,
    /// Extra trusted CA certificate (PEM file).
    pub ca_cert: Option<std::path::PathBuf>,
    pub insecure_skip_verify: bool,
}

impl ClientSettings {
    /// Settings from `blockops.yaml`; the password and relative paths are resolved against `base`.
    pub fn from_config(cfg: &CybereasonConfig, base: &Path) -> anyhow::Result<ClientSettings> {
        let password = cfg.password.resolve("Cybereason password", base)?;
        Ok(ClientSettings {
            url: cfg.url.clone(),
            username: cfg.username.clone(),
            password,
            timeout: cfg.timeout.0,
            retries: cfg.retries,
            retry_backoff: cfg.retry_backoff.0,
            ca_cert: cfg.ca_cert.as_ref().map(|p| {
                if p.is_absolute() {
                    p.clone()
                } else {
                    base.join(p)
                }
            }),
            insecure_skip_verify: cfg.insecure_skip_verify,
        })
    }
}

/// What can go wrong talking to Cybereason. Messages name the URL, never the password.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("invalid Cybereason URL `{0}`")]
    BadUrl(String),
    #[error("CA certificate {path}: {reason}")]
    CaCert { path: String, reason: String },
    #[error("building the HTTP client: {0}")]
    Build(String),
    #[error("login to {url} failed: user name or password rejected")]
    LoginRejected { url: String },
    #[error("login to {url} failed: the password has expired and must be reset in the console")]
    PasswordExpired { url: String },
    #[error(
        "login to {url} failed: two-factor authentication is not supported; use an API user without TFA"
    )]
    TwoFactor { url: String },
    #[error("login to {url} failed: unexpected answer HTTP {status}")]
    LoginUnexpected { url: String, status: u16 },
    #[error("{url}: the session was rejected again right after a fresh login")]
    SessionRejected { url: String },
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

/// One attempt's classification.
enum Attempt {
    Done(String),
    Retry(String),
    Expired,
}

/// What kind of body an endpoint returns.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Expect {
    Json,
    Csv,
}

/// A logged-in (or about to be) Cybereason session.
pub struct Client {
    http: reqwest::Client,
    jar: Arc<reqwest::cookie::Jar>,
    base: String,
    settings: ClientSettings,
    logins: AtomicU64,
    requests: AtomicU64,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.base)
            .field("user", &self.settings.username)
            .finish()
    }
}

impl Client {
    /// Build the client (no network traffic yet).
    pub fn new(settings: ClientSettings) -> Result<Client, ClientError> {
        let base = settings.url.trim_end_matches('/').to_string();
        let parsed = Url::parse(&base).map_err(|_| ClientError::BadUrl(base.clone()))?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
            return Err(ClientError::BadUrl(base));
        }
        if !parsed.username().is_empty() || parsed.password().is_some() {
            // Never accept credentials in the URL: they would end up in logs and errors.
            return Err(ClientError::BadUrl(
                "(URL with embedded credentials; use username/password settings)".into(),
            ));
        }
        let jar = Arc::new(reqwest::cookie::Jar::default());
        let mut b = reqwest::Client::builder()
            .cookie_provider(jar.clone())
            .redirect(reqwest::redirect::Policy::none())
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout)
            .user_agent(concat!("blockops/", env!("CARGO_PKG_VERSION")));
        if let Some(path) = &settings.ca_cert {
            let shown = path.display().to_string();
            let pem = std::fs::read(path).map_err(|e| ClientError::CaCert {
                path: shown.clone(),
                reason: e.to_string(),
            })?;
            let certs =
                reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| ClientError::CaCert {
                    path: shown.clone(),
                    reason: e.to_string(),
                })?;
            if certs.is_empty() {
                return Err(ClientError::CaCert {
                    path: shown,
                    reason: "no PEM certificate found".into(),
                });
            }
            for c in certs {
                b = b.add_root_certificate(c);
            }
        }
        let loopback = matches!(parsed.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
        if parsed.scheme() == "http" && !loopback {
            tracing::warn!(
                "cybereason.url {base} is plain http: the password and session cookie cross the network unencrypted"
            );
        }
        if settings.insecure_skip_verify {
            tracing::warn!(
                "!!! cybereason.insecure_skip_verify is set: TLS certificates of {base} are NOT verified; \
                 anyone on the network path can impersonate the server and read the password !!!"
            );
            b = b.tls_danger_accept_invalid_certs(true);
        }
        let http = b.build().map_err(|e| ClientError::Build(e.to_string()))?;
        Ok(Client {
            http,
            jar,
            base,
            settings,
            logins: AtomicU64::new(0),
            requests: AtomicU64::new(0),
        })
    }

    /// The base URL.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// Successful logins so far (1 + re-logins).
    pub fn logins(&self) -> u64 {
        self.logins.load(Ordering::Relaxed)
    }

    /// API requests sent so far (not counting logins).
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    fn backoff(&self, attempt: u32) -> Duration {
        self.settings
            .retry_backoff
            .saturating_mul(1u32.checked_shl(attempt.min(16)).unwrap_or(u32::MAX))
    }

    /// `POST /login.html` with the form fields `username` and `password`.
    pub async fn login(&self) -> Result<(), ClientError> {
        let url = format!("{}/login.html", self.base);
        let mut attempt = 0;
        loop {
            tracing::debug!(%url, user = %self.settings.username, "logging in");
            let sent = self
                .http
                .post(&url)
                .form(&[
                    ("username", self.settings.username.as_str()),
                    ("password", self.settings.password.expose()),
                ])
                .send()
                .await;
            let retry_reason = match sent {
                Err(e) => transport_reason(&e),
                Ok(resp) => {
                    let status = resp.status();
                    if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
                        format!("HTTP {}", status.as_u16())
                    } else if status.is_redirection() {
                        let loc = resp
                            .headers()
                            .get(header::LOCATION)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("")
                            .to_ascii_lowercase();
                        if loc.contains("error") {
                            return Err(ClientError::LoginRejected { url });
                        }
                        if loc.contains("reset") {
                            return Err(ClientError::PasswordExpired { url });
                        }
                        if !self.has_session_cookie() {
                            return Err(ClientError::LoginUnexpected {
                                url,
                                status: status.as_u16(),
                            });
                        }
                        self.logins.fetch_add(1, Ordering::Relaxed);
                        tracing::debug!(%url, "logged in");
                        return Ok(());
                    } else if status == StatusCode::OK {
                        let body = resp.text().await.unwrap_or_default();
                        if body.contains("Two factor authentication") {
                            return Err(ClientError::TwoFactor { url });
                        }
                        // Some versions answer the login page directly instead of redirecting.
                        return Err(ClientError::LoginRejected { url });
                    } else {
                        return Err(ClientError::LoginUnexpected {
                            url,
                            status: status.as_u16(),
                        });
                    }
                }
            };
            if attempt >= self.settings.retries {
                return Err(ClientError::GaveUp {
                    url,
                    attempts: attempt + 1,
                    last: retry_reason,
                });
            }
            let wait = self.backoff(attempt);
            tracing::info!(%url, "login: {retry_reason}; retrying in {wait:?}");
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }

    fn has_session_cookie(&self) -> bool {
        let Ok(u) = Url::parse(&format!("{}/rest/", self.base)) else {
            return false;
        };
        self.jar
            .cookies(&u)
            .and_then(|v| v.to_str().ok().map(|s| s.contains("JSESSIONID=")))
            .unwrap_or(false)
    }

    /// One request with expiry handling and retries; returns the body text.
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        expect: Expect,
    ) -> Result<String, ClientError> {
        let url = format!("{}{}", self.base, path);
        let mut attempt = 0;
        let mut relogged = false;
        loop {
            self.requests.fetch_add(1, Ordering::Relaxed);
            let mut rb = self.http.request(method.clone(), &url);
            if let Some(b) = body {
                rb = rb.json(b);
            }
            tracing::debug!(%url, "request");
            let outcome = match rb.send().await {
                Err(e) => Attempt::Retry(transport_reason(&e)),
                Ok(resp) => self.classify(&url, resp, expect).await?,
            };
            match outcome {
                Attempt::Done(text) => return Ok(text),
                Attempt::Expired if !relogged => {
                    tracing::info!(%url, "session expired or not accepted; logging in again");
                    relogged = true;
                    self.login().await?;
                }
                Attempt::Expired => return Err(ClientError::SessionRejected { url }),
                Attempt::Retry(reason) => {
                    if attempt >= self.settings.retries {
                        return Err(ClientError::GaveUp {
                            url,
                            attempts: attempt + 1,
                            last: reason,
                        });
                    }
                    let wait = self.backoff(attempt);
                    tracing::info!(%url, "{reason}; retry {} of {} in {wait:?}", attempt + 1, self.settings.retries);
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
            }
        }
    }

    async fn classify(
        &self,
        url: &str,
        resp: reqwest::Response,
        expect: Expect,
    ) -> Result<Attempt, ClientError> {
        let status = resp.status();
        if status.is_redirection() {
            let loc = resp
                .headers()
                .get(header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string();
            if loc.contains("login") || loc.is_empty() {
                return Ok(Attempt::Expired);
            }
            return Err(ClientError::Http {
                url: url.into(),
                status: status.as_u16(),
                body: format!("redirect to {loc}"),
            });
        }
        if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
            return Ok(Attempt::Retry(format!("HTTP {}", status.as_u16())));
        }
        if status == StatusCode::FORBIDDEN {
            return Err(ClientError::Forbidden { url: url.into() });
        }
        let is_html = resp
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.to_ascii_lowercase().contains("text/html"));
        let text = match resp.text().await {
            Ok(t) => t,
            Err(e) => return Ok(Attempt::Retry(transport_reason(&e))),
        };
        if !status.is_success() {
            return Err(ClientError::Http {
                url: url.into(),
                status: status.as_u16(),
                body: snippet(&text),
            });
        }
        let looks_html = is_html || text.trim_start().starts_with('<');
        if looks_html {
            return Ok(Attempt::Expired);
        }
        if expect == Expect::Json && serde_json::from_str::<serde::de::IgnoredAny>(&text).is_err() {
            return Ok(Attempt::Expired);
        }
        Ok(Attempt::Done(text))
    }

    async fn post_json<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, ClientError> {
        let url = format!("{}{}", self.base, path);
        let v = serde_json::to_value(body).map_err(|e| ClientError::BadResponse {
            url: url.clone(),
            reason: e.to_string(),
        })?;
        let text = self
            .call(Method::POST, path, Some(&v), Expect::Json)
            .await?;
        serde_json::from_str(&text).map_err(|e| ClientError::BadResponse {
            url,
            reason: e.to_string(),
        })
    }

    /// `GET /rest/classification/download`: the reputation list as CSV rows.
    pub async fn reputation_csv(&self) -> Result<Vec<super::api::ReputationRow>, ClientError> {
        let path = "/rest/classification/download";
        let text = self.call(Method::GET, path, None, Expect::Csv).await?;
        super::api::parse_reputation_csv(&text).map_err(|e| ClientError::BadResponse {
            url: format!("{}{path}", self.base),
            reason: e.to_string(),
        })
    }

    /// `POST /rest/visualsearch/query/simple`; any `status` other than `SUCCESS` is an error.
    pub async fn visual_search(
        &self,
        q: &super::api::QueryRequest,
    ) -> Result<super::api::QueryResponse, ClientError> {
        let path = "/rest/visualsearch/query/simple";
        let r: super::api::QueryResponse = self.post_json(path, q).await?;
        if r.status != "SUCCESS" {
            return Err(ClientError::QueryStatus {
                url: format!("{}{path}", self.base),
                status: if r.status.is_empty() {
                    "(missing)".into()
                } else {
                    r.status
                },
                message: r.message.unwrap_or_default(),
            });
        }
        if r.data.is_none() {
            return Err(ClientError::BadResponse {
                url: format!("{}{path}", self.base),
                reason: "no `data`".into(),
            });
        }
        Ok(r)
    }

    /// `POST /rest/mmng/v2/malops` paged by item offset; returns every MalOp in the range.
    pub async fn malops(
        &self,
        from_ms: i64,
        to_ms: i64,
        page_size: u64,
    ) -> Result<Vec<Value>, ClientError> {
        let path = "/rest/mmng/v2/malops";
        let mut out = Vec::new();
        let mut offset = 0u64;
        loop {
            let body = serde_json::json!({
                "search": {}, "range": {"from": from_ms, "to": to_ms},
                "pagination": {"pageSize": page_size, "offset": offset},
                "filter": {}, "federation": {"groups": []},
                "sort": [{"field": "LastUpdateTime", "order": "desc"}]
            });
            let r: super::api::MalopsResponse = self.post_json(path, &body).await?;
            if r.status != "SUCCESS" {
                return Err(ClientError::QueryStatus {
                    url: format!("{}{path}", self.base),
                    status: r.status,
                    message: r.message.unwrap_or_default(),
                });
            }
            let Some(page) = r.data else {
                return Err(ClientError::BadResponse {
                    url: format!("{}{path}", self.base),
                    reason: "no `data`".into(),
                });
            };
            let n = page.data.len() as u64;
            out.extend(page.data);
            offset += page_size;
            if n == 0 || offset >= page.total_hits {
                break;
            }
        }
        Ok(out)
    }

    /// `POST /rest/detection/inbox`: MalOps created or updated in `[from, to]` (no paging).
    pub async fn malop_inbox(&self, from_ms: i64, to_ms: i64) -> Result<Vec<Value>, ClientError> {
        let path = "/rest/detection/inbox";
        let body = super::api::InboxRequest {
            start_time: Some(from_ms),
            end_time: Some(to_ms),
            group_ids: None,
        };
        let v: Value = self.post_json(path, &body).await?;
        match v.get("malops") {
            Some(Value::Array(a)) => Ok(a.clone()),
            _ => Err(ClientError::BadResponse {
                url: format!("{}{path}", self.base),
                reason: "no `malops` array".into(),
            }),
        }
    }

    /// MalOps in the window: `mmng/v2/malops`, falling back to the older `detection/inbox`
    /// when the server does not have the v2 API (404).
    pub async fn malops_in_window(
        &self,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<Value>, ClientError> {
        match self.malops(from_ms, to_ms, 100).await {
            Err(ClientError::Http {
                status: 404, url, ..
            }) => {
                tracing::info!(%url, "MalOp management v2 API not available; using detection/inbox");
                self.malop_inbox(from_ms, to_ms).await
            }
            r => r,
        }
    }

    /// `GET /logout` (best effort).
    pub async fn logout(&self) {
        let _ = self.http.get(format!("{}/logout", self.base)).send().await;
    }
}

fn transport_reason(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        "connection failed".into()
    } else {
        // reqwest's message names the URL only; bodies (the login form) are never included.
        let mut s = e.to_string();
        let mut src = std::error::Error::source(e);
        while let Some(inner) = src {
            s.push_str(": ");
            s.push_str(&inner.to_string());
            src = inner.source();
        }
        s
    }
}

fn snippet(text: &str) -> String {
    let t: String = text.chars().take(200).collect();
    t.replace(['\n', '\r'], " ")
}
