//! HTTP client for the Cybereason REST API: form login with a `JSESSIONID` cookie (see
//! [`super::login`]), session expiry detection (302 to `/login.html`, or the HTML login page
//! where JSON was expected) answered by one re-login, and bounded retries for timeouts,
//! dropped connections, bodies cut short or corrupted in transit, 5xx and 429 (honouring
//! `Retry-After` up to `cybereason.retry_after_max`).
//!
//! The password is only ever handed to the login form; errors and logs name URLs without
//! credentials, and reqwest errors are formatted without their URL.
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use reqwest::{Method, StatusCode, Url, header};
use serde::Serialize;
use serde_json::Value;

pub use super::error::ClientError;
use super::error::{redact_url, snippet};
use super::{body, shape};
use crate::config::CybereasonConfig;
use crate::secret::Secret;

/// Everything the client needs, with the password already resolved. `Debug` shows the URL
/// without credentials and the password as `***`.
#[derive(Clone)]
pub struct ClientSettings {
    /// Base URL, e.g. `https://tenant.cybereason.net:8443`.
    pub url: String,
    pub username: String,
    pub password: Secret,
    pub timeout: Duration,
    pub retries: u32,
    pub retry_backoff: Duration,
    /// Longest `Retry-After` honoured on 429; a longer one is an error.
    pub retry_after_max: Duration,
    /// Extra trusted CA certificate (PEM file).
    pub ca_cert: Option<std::path::PathBuf>,
    pub insecure_skip_verify: bool,
}

impl std::fmt::Debug for ClientSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientSettings")
            .field("url", &self.shown_url())
            .field("username", &self.username)
            .field("password", &self.password)
            .field("timeout", &self.timeout)
            .field("retries", &self.retries)
            .finish_non_exhaustive()
    }
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
            retry_after_max: cfg.retry_after_max.0,
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

    /// The URL as it may be shown (credentials, if any, replaced by `***`).
    pub fn shown_url(&self) -> String {
        redact_url(self.url.trim_end_matches('/'))
    }
}

/// What an answer turned out to be.
pub(super) enum Attempt<T> {
    Done(T),
    /// Try again; `Some(wait)` when the server said how long to wait.
    Retry(String, Option<Duration>),
    /// Not logged in (any more); the text says what was seen.
    Expired(String),
}

/// What kind of body an endpoint returns.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Expect {
    Json,
    Csv,
}

/// A logged-in (or about to be) Cybereason session.
pub struct Client {
    pub(super) http: reqwest::Client,
    pub(super) jar: Arc<reqwest::cookie::Jar>,
    /// Base URL without a trailing slash (never carries credentials: [`Client::new`] refuses them).
    pub(super) base: Url,
    pub(super) base_text: String,
    pub(super) settings: ClientSettings,
    pub(super) logins: AtomicU64,
    requests: AtomicU64,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.base_text)
            .field("user", &self.settings.username)
            .finish()
    }
}

impl Client {
    /// Build the client (no network traffic yet).
    pub fn new(settings: ClientSettings) -> Result<Client, ClientError> {
        let raw = settings.url.trim_end_matches('/').to_string();
        let shown = redact_url(&raw);
        let parsed = Url::parse(&raw).map_err(|_| ClientError::BadUrl(shown.clone()))?;
        if !parsed.username().is_empty() || parsed.password().is_some() {
            // Credentials in the URL would end up in logs and errors: refuse, without echoing.
            return Err(ClientError::CredentialsInUrl);
        }
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
            return Err(ClientError::BadUrl(shown));
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
                    reason: transport_reason(e),
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
                "cybereason.url {raw} is plain http: the password and session cookie cross the network unencrypted"
            );
        }
        if settings.insecure_skip_verify {
            tracing::warn!(
                "!!! cybereason.insecure_skip_verify is set: TLS certificates of {raw} are NOT verified; \
                 anyone on the network path can impersonate the server and read the password !!!"
            );
            b = b.tls_danger_accept_invalid_certs(true);
        }
        let http = b
            .build()
            .map_err(|e| ClientError::Build(transport_reason(e)))?;
        Ok(Client {
            http,
            jar,
            base: parsed,
            base_text: raw,
            settings,
            logins: AtomicU64::new(0),
            requests: AtomicU64::new(0),
        })
    }

    /// The base URL.
    pub fn base_url(&self) -> &str {
        &self.base_text
    }

    /// Successful logins so far (1 + re-logins).
    pub fn logins(&self) -> u64 {
        self.logins.load(Ordering::Relaxed)
    }

    /// API requests sent so far (not counting logins).
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    pub(super) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_text)
    }

    fn backoff(&self, attempt: u32) -> Duration {
        self.settings
            .retry_backoff
            .saturating_mul(1u32.checked_shl(attempt.min(16)).unwrap_or(u32::MAX))
    }

    /// How long to wait before attempt `attempt + 1`: the server's `Retry-After` when it sent
    /// one (bounded by `retry_after_max`), else exponential backoff.
    pub(super) fn wait_before_retry(
        &self,
        url: &str,
        attempt: u32,
        asked: Option<Duration>,
    ) -> Result<Duration, ClientError> {
        match asked {
            Some(wait) if wait > self.settings.retry_after_max => Err(ClientError::Throttled {
                url: url.into(),
                wait,
                max: self.settings.retry_after_max,
            }),
            Some(wait) => {
                tracing::info!(%url, "the server asks to retry after {wait:?} (Retry-After)");
                Ok(wait)
            }
            None => Ok(self.backoff(attempt)),
        }
    }

    /// One request with expiry handling and retries; `parse` turns a complete body into `T`
    /// (an `Err` from it means the body was cut or corrupted: retried, then reported).
    pub(super) async fn call<T>(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        expect: Expect,
        parse: impl Fn(&[u8]) -> Result<T, String>,
    ) -> Result<T, ClientError> {
        let url = self.url(path);
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
                Err(e) => Attempt::Retry(transport_reason(e), None),
                Ok(resp) => self.classify(&url, resp, expect, &parse).await?,
            };
            match outcome {
                Attempt::Done(v) => return Ok(v),
                Attempt::Expired(seen) if !relogged => {
                    tracing::info!(%url, "session expired or not accepted ({seen}); logging in again");
                    relogged = true;
                    self.login().await?;
                }
                Attempt::Expired(seen) => return Err(ClientError::SessionRejected { url, seen }),
                Attempt::Retry(reason, asked) => {
                    if attempt >= self.settings.retries {
                        return Err(ClientError::GaveUp {
                            url,
                            attempts: attempt + 1,
                            last: reason,
                        });
                    }
                    let wait = self.wait_before_retry(&url, attempt, asked)?;
                    tracing::info!(%url, "{reason}; retry {} of {} in {wait:?}", attempt + 1, self.settings.retries);
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
            }
        }
    }

    async fn classify<T>(
        &self,
        url: &str,
        resp: reqwest::Response,
        expect: Expect,
        parse: &impl Fn(&[u8]) -> Result<T, String>,
    ) -> Result<Attempt<T>, ClientError> {
        let status = resp.status();
        if status.is_redirection() {
            let loc = location(&resp);
            if loc.contains("login") || loc.is_empty() {
                return Ok(Attempt::Expired(format!(
                    "HTTP {} redirect to {}",
                    status.as_u16(),
                    if loc.is_empty() {
                        "(no Location)".into()
                    } else {
                        redact_url(&loc)
                    }
                )));
            }
            return Err(ClientError::Http {
                url: url.into(),
                status: status.as_u16(),
                body: format!("redirect to {}", snippet(&redact_url(&loc))),
            });
        }
        if status == StatusCode::TOO_MANY_REQUESTS {
            return Ok(Attempt::Retry("HTTP 429".into(), retry_after(&resp)));
        }
        if status.is_server_error() {
            return Ok(Attempt::Retry(format!("HTTP {}", status.as_u16()), None));
        }
        if status == StatusCode::FORBIDDEN {
            return Err(ClientError::Forbidden { url: url.into() });
        }
        let content_type = resp
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let bytes = match body::read(resp).await {
            Ok(b) => b,
            Err(reason) => return Ok(Attempt::Retry(reason, None)),
        };
        if !status.is_success() {
            return Err(ClientError::Http {
                url: url.into(),
                status: status.as_u16(),
                body: snippet(&String::from_utf8_lossy(&bytes)),
            });
        }
        if body::looks_html(content_type.as_deref(), &bytes) {
            let title = body::html_title(&bytes)
                .map(|t| format!(" titled `{t}`"))
                .unwrap_or_default();
            return Ok(Attempt::Expired(format!(
                "HTTP {} with an HTML page{title} instead of {}",
                status.as_u16(),
                if expect == Expect::Json {
                    "JSON"
                } else {
                    "CSV"
                }
            )));
        }
        match parse(&bytes) {
            Ok(v) => Ok(Attempt::Done(v)),
            Err(reason) => Ok(Attempt::Retry(reason, None)),
        }
    }

    /// POST a JSON body and get a JSON document back.
    pub(super) async fn post_json<B: Serialize>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<Value, ClientError> {
        let v = serde_json::to_value(body).map_err(|e| ClientError::BadResponse {
            url: self.url(path),
            reason: format!("request body: {e}"),
        })?;
        self.call(Method::POST, path, Some(&v), Expect::Json, body::json)
            .await
    }

    /// The top-level `status` of a query-style answer must be `SUCCESS`.
    pub(super) fn check_status(&self, path: &str, doc: &Value) -> Result<(), ClientError> {
        let root = shape::JPath::root("");
        let bad = |e: shape::ShapeError| ClientError::BadResponse {
            url: self.url(path),
            reason: e.to_string(),
        };
        let m = shape::obj(Some(doc), &root).map_err(bad)?;
        let status = shape::text(m.get("status"), &root.key("status")).map_err(bad)?;
        if status.as_deref() != Some("SUCCESS") {
            return Err(ClientError::QueryStatus {
                url: self.url(path),
                status: status.unwrap_or_else(|| "(missing)".into()),
                message: shape::text(m.get("message"), &root.key("message"))
                    .ok()
                    .flatten()
                    .map(|s| snippet(&s))
                    .unwrap_or_default(),
            });
        }
        Ok(())
    }

    /// `GET /rest/classification/download`: the reputation list, read strictly.
    pub async fn reputation_csv(&self) -> Result<Vec<super::api::ReputationRow>, ClientError> {
        let path = "/rest/classification/download";
        self.call(Method::GET, path, None, Expect::Csv, |b| {
            super::reputation::parse(b).map_err(|e| e.to_string())
        })
        .await
    }

    /// `GET /logout` (best effort).
    pub async fn logout(&self) {
        let _ = self.http.get(self.url("/logout")).send().await;
    }
}

/// The `Location` header (empty when absent).
pub(super) fn location(resp: &reqwest::Response) -> String {
    resp.headers()
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

/// `Retry-After` in seconds or as an HTTP date.
pub(super) fn retry_after(resp: &reqwest::Response) -> Option<Duration> {
    let v = resp.headers().get(header::RETRY_AFTER)?.to_str().ok()?;
    parse_retry_after(v, time::OffsetDateTime::now_utc())
}

fn parse_retry_after(v: &str, now: time::OffsetDateTime) -> Option<Duration> {
    let v = v.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = time::OffsetDateTime::parse(v, &time::format_description::well_known::Rfc2822).ok()?;
    Some(Duration::try_from(at - now).unwrap_or(Duration::ZERO))
}

/// A transport error in words, without the URL reqwest would include (it is named separately).
pub(super) fn transport_reason(e: reqwest::Error) -> String {
    if e.is_timeout() {
        return "timed out".into();
    }
    let connect = e.is_connect();
    let e = e.without_url();
    let mut s = e.to_string();
    let mut src = std::error::Error::source(&e);
    while let Some(inner) = src {
        let t = inner.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        src = inner.source();
    }
    if connect {
        format!("connection failed ({s})")
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_in_seconds_or_as_a_date() {
        let now = time::macros::datetime!(2026-11-27 10:00:00 UTC);
        assert_eq!(parse_retry_after("7", now), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after("Fri, 27 Nov 2026 10:01:00 GMT", now),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            parse_retry_after("Fri, 27 Nov 2026 09:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn credentials_in_the_url_are_refused_without_echo() {
        let s = ClientSettings {
            url: "https://api:Hunter2-pw@tenant.example:8443".into(),
            username: "u".into(),
            password: Secret::new("pw"),
            timeout: Duration::from_secs(1),
            retries: 0,
            retry_backoff: Duration::from_millis(1),
            retry_after_max: Duration::from_secs(1),
            ca_cert: None,
            insecure_skip_verify: false,
        };
        assert_eq!(s.shown_url(), "https://***@tenant.example:8443");
        assert!(!format!("{s:?}").contains("Hunter2"), "{s:?}");
        let e = Client::new(s.clone()).unwrap_err();
        assert!(matches!(e, ClientError::CredentialsInUrl));
        assert!(!e.to_string().contains("Hunter2"), "{e}");
        let e = Client::new(ClientSettings {
            url: "http://api:Hunter2-pw@host:notaport".into(),
            ..s
        })
        .unwrap_err();
        assert!(!e.to_string().contains("Hunter2"), "{e}");
    }
}
