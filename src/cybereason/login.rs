//! Form login the way public clients do it (issue #9 point 10).
//!
//! `POST /login.html` with `username`/`password`, then follow the redirects to the end
//! (forensic-security/cybereason src/cybereason/client.py `login`: `follow_redirects=True`):
//! a final URL containing `error` means rejected credentials, one containing `reset` an expired
//! password, and a page saying `Two factor authentication` (after any redirect) a TFA user,
//! which an unattended job cannot serve (its second step needs a TOTP code). Ending back on
//! the login page, or an answer without any redirect (some versions answer the login page with
//! 200 directly), is a rejection too. Redirects are followed only on the same origin, at most
//! [`MAX_HOPS`] times; 429 honours `Retry-After`, 5xx and transport errors are retried.
//!
//! A session cookie alone never proves a login: the server hands out anonymous `JSESSIONID`s
//! with every redirect to the login page (creativice/graph-cybereason recordings).
use std::sync::atomic::Ordering;
use std::time::Duration;

use reqwest::cookie::CookieStore;
use reqwest::{StatusCode, Url};

use super::body;
use super::client::{Client, location, retry_after, transport_reason};
use super::error::{ClientError, redact_url};

/// Most redirects followed after the login form.
pub const MAX_HOPS: usize = 10;

/// The marker of the two-factor page (forensic-security/cybereason client.py,
/// Cybereason-Fan/Get-CybereasonCookie Get-CybereasonCookie.ps1).
const TFA_MARKER: &str = "two factor authentication";

enum Step {
    Retry(String, Option<Duration>),
    Fail(ClientError),
}

impl Client {
    /// Log in; retried for transient failures, never for a refusal.
    pub async fn login(&self) -> Result<(), ClientError> {
        let url = self.url("/login.html");
        let mut attempt = 0;
        loop {
            tracing::debug!(%url, user = %self.settings.username, "logging in");
            match self.login_once(&url).await {
                Ok(()) => {
                    self.logins.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(%url, "logged in");
                    return Ok(());
                }
                Err(Step::Fail(e)) => return Err(e),
                Err(Step::Retry(reason, asked)) => {
                    if attempt >= self.settings.retries {
                        return Err(ClientError::GaveUp {
                            url,
                            attempts: attempt + 1,
                            last: reason,
                        });
                    }
                    let wait = self.wait_before_retry(&url, attempt, asked)?;
                    tracing::info!(%url, "login: {reason}; retrying in {wait:?}");
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
            }
        }
    }

    async fn login_once(&self, url: &str) -> Result<(), Step> {
        let fail = |e| Err(Step::Fail(e));
        let rejected = || ClientError::LoginRejected { url: url.into() };
        let sent = self
            .http
            .post(url)
            .form(&[
                ("username", self.settings.username.as_str()),
                ("password", self.settings.password.expose()),
            ])
            .send()
            .await;
        let mut resp = sent.map_err(|e| Step::Retry(transport_reason(e), None))?;
        let mut at =
            Url::parse(url).map_err(|_| Step::Fail(ClientError::BadUrl(redact_url(url))))?;
        let mut hops = 0;
        loop {
            let status = resp.status();
            if status == StatusCode::TOO_MANY_REQUESTS {
                return Err(Step::Retry("HTTP 429".into(), retry_after(&resp)));
            }
            if status.is_server_error() {
                return Err(Step::Retry(format!("HTTP {}", status.as_u16()), None));
            }
            if status.is_redirection() {
                let loc = location(&resp);
                let next = match at.join(&loc) {
                    Ok(n) if !loc.is_empty() => n,
                    _ => {
                        return fail(ClientError::LoginFailed {
                            url: url.into(),
                            reason: format!("HTTP {} without a usable Location", status.as_u16()),
                        });
                    }
                };
                // Judge the target as written (the fragment of `/#/current?` included).
                let target = loc.to_ascii_lowercase();
                if target.contains("error") {
                    return fail(rejected());
                }
                if target.contains("reset") {
                    return fail(ClientError::PasswordExpired { url: url.into() });
                }
                if next.origin() != self.base.origin() {
                    return fail(ClientError::LoginFailed {
                        url: url.into(),
                        reason: format!(
                            "redirected to another site ({}); single sign-on is not supported, use an API user",
                            redact_url(next.origin().ascii_serialization().as_str())
                        ),
                    });
                }
                hops += 1;
                if hops > MAX_HOPS {
                    return fail(ClientError::LoginFailed {
                        url: url.into(),
                        reason: format!("more than {MAX_HOPS} redirects"),
                    });
                }
                tracing::debug!(hop = hops, location = %redact_url(&loc), "login redirect");
                let mut fetch = next.clone();
                fetch.set_fragment(None);
                resp = self
                    .http
                    .get(fetch)
                    .send()
                    .await
                    .map_err(|e| Step::Retry(transport_reason(e), None))?;
                at = next;
                continue;
            }
            if !status.is_success() {
                return fail(ClientError::LoginUnexpected {
                    url: url.into(),
                    status: status.as_u16(),
                });
            }
            let page = body::read(resp).await.map_err(|r| Step::Retry(r, None))?;
            let text = String::from_utf8_lossy(&page).to_ascii_lowercase();
            if text.contains(TFA_MARKER) {
                return fail(ClientError::TwoFactor { url: url.into() });
            }
            if hops == 0 {
                // The form was answered with a page instead of a redirect: the login page again.
                return fail(rejected());
            }
            let final_path = at.path().to_ascii_lowercase();
            if final_path.ends_with("/login.html") {
                // Sent back to the login form without an error marker.
                return fail(rejected());
            }
            if !self.has_session_cookie() {
                return fail(ClientError::LoginFailed {
                    url: url.into(),
                    reason: "the server set no session cookie".into(),
                });
            }
            return Ok(());
        }
    }

    fn has_session_cookie(&self) -> bool {
        let Ok(u) = Url::parse(&self.url("/rest/")) else {
            return false;
        };
        self.jar
            .cookies(&u)
            .and_then(|v| v.to_str().ok().map(|s| s.contains("JSESSIONID=")))
            .unwrap_or(false)
    }
}
