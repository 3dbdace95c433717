//! Read-only probes of a Cybereason server for `blockops doctor`: can the server be reached
//! over HTTP(S) with the configured TLS settings (before any credentials are sent), and what
//! does its health endpoint say.
//!
//! The health endpoint is `GET /rest/monitor/global/reg-server/status`, answering
//! `{"online": …, "readyToServe": …}` — the ping of opencybersecurityalliance/stix-shifter
//! (`stix_shifter_modules/cybereason/stix_transmission/api_client.py` and `connector.py`,
//! which treat the server as up only when both are true).
use reqwest::Method;

use super::body;
use super::client::{Client, Expect, transport_reason};
use super::error::ClientError;
use super::shape::{JPath, flag, obj};

/// How the login page answered (no credentials sent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reach {
    /// An HTTP answer came back over a verified (or deliberately unverified) connection.
    Answered { status: u16 },
    /// No HTTP answer; `tls` when the failure is in the TLS handshake or the certificate.
    Failed { reason: String, tls: bool },
}

/// What the health endpoint says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Health {
    pub online: Option<bool>,
    pub ready_to_serve: Option<bool>,
}

impl Client {
    /// `GET /login.html` once, without credentials and without retries: proves DNS, TCP, TLS
    /// (with `ca_cert` / `insecure_skip_verify` as configured) and that an HTTP server answers.
    pub async fn reach(&self) -> Reach {
        match self.http.get(self.url("/login.html")).send().await {
            Ok(resp) => Reach::Answered {
                status: resp.status().as_u16(),
            },
            Err(e) => {
                let reason = transport_reason(e);
                let low = reason.to_ascii_lowercase();
                let tls = ["certificate", "tls", "handshake", "ssl"]
                    .iter()
                    .any(|w| low.contains(w));
                Reach::Failed { reason, tls }
            }
        }
    }

    /// `GET /rest/monitor/global/reg-server/status` (logged in; expiry and retries as for
    /// every call). An answer without either field is an error naming the path.
    pub async fn health(&self) -> Result<Health, ClientError> {
        let path = "/rest/monitor/global/reg-server/status";
        let doc = self
            .call(Method::GET, path, None, Expect::Json, body::json)
            .await?;
        let bad = |e: super::shape::ShapeError| ClientError::BadResponse {
            url: self.url(path),
            reason: e.to_string(),
        };
        let root = JPath::root("");
        let m = obj(Some(&doc), &root).map_err(bad)?;
        let h = Health {
            online: flag(m.get("online"), &root.key("online")).map_err(bad)?,
            ready_to_serve: flag(m.get("readyToServe"), &root.key("readyToServe")).map_err(bad)?,
        };
        if h.online.is_none() && h.ready_to_serve.is_none() {
            return Err(bad(
                root.error("neither `online` nor `readyToServe` in the answer")
            ));
        }
        Ok(h)
    }
}
