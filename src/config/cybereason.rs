//! The `cybereason:` section: where `pull` logs in and how it reads the answers.
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::Dur;
use super::checks::de_secret;
use crate::secret::SecretSource;

/// Cybereason connection settings.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CybereasonConfig {
    /// Base URL, e.g. `https://tenant.cybereason.net:8443`.
    pub url: String,
    /// API user name (an e-mail address).
    pub username: String,
    /// Where the password comes from.
    #[serde(deserialize_with = "de_secret")]
    pub password: SecretSource,
    /// Per-request timeout.
    #[serde(default = "default_http_timeout")]
    pub timeout: Dur,
    /// Retries for timeouts, 5xx and 429.
    #[serde(default = "default_retries")]
    pub retries: u32,
    /// First retry delay; doubles per attempt.
    #[serde(default = "default_backoff")]
    pub retry_backoff: Dur,
    /// Extra CA certificate (PEM) for on-prem servers.
    #[serde(default)]
    pub ca_cert: Option<PathBuf>,
    /// Skip TLS verification. Dangerous; warned about loudly.
    #[serde(default)]
    pub insecure_skip_verify: bool,
    /// `totalResultLimit` for visual-search queries.
    #[serde(default = "default_result_limit")]
    pub result_limit: u32,
    /// Connection facet that marks the remote address as malicious [U].
    #[serde(default = "default_connection_facet")]
    pub connection_facet: String,
    /// Classification values that count as malicious.
    #[serde(default = "default_malicious_classes")]
    pub malicious_classes: Vec<String>,
    /// Longest `Retry-After` honoured on HTTP 429; a longer one fails the pull.
    #[serde(default = "default_retry_after_max")]
    pub retry_after_max: Dur,
    /// MalOp statuses that do not count (case-insensitive; compared with `managementStatus`,
    /// `status` and `investigationStatus`; `closed: true` counts as `CLOSED`).
    #[serde(default = "default_malop_skip_statuses")]
    pub malop_skip_statuses: Vec<String>,
    /// What to do with non-EDR (EPP) MalOps, which have no process chain.
    #[serde(default)]
    pub epp_malops: EppMalops,
}

/// Non-EDR (EPP / anti-malware) MalOps: skipped with a note, or read through
/// `POST /rest/detection/details` (whose `connections[]` shape is unverified).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EppMalops {
    #[default]
    Skip,
    Details,
}

fn default_retry_after_max() -> Dur {
    Dur(Duration::from_secs(120))
}
fn default_malop_skip_statuses() -> Vec<String> {
    ["CLOSED", "FP", "REMEDIATED", "RESOLVED", "EXCLUDED"]
        .into_iter()
        .map(String::from)
        .collect()
}

fn default_http_timeout() -> Dur {
    Dur(Duration::from_secs(30))
}
fn default_retries() -> u32 {
    3
}
fn default_backoff() -> Dur {
    Dur(Duration::from_secs(1))
}
fn default_result_limit() -> u32 {
    1000
}
fn default_connection_facet() -> String {
    "remoteAddressMaliciousClassificationType".into()
}
fn default_malicious_classes() -> Vec<String> {
    [
        "blacklist",
        "malware",
        "ransomware",
        "maltool",
        "hacktool",
        "suspicious",
    ]
    .into_iter()
    .map(String::from)
    .collect()
}
