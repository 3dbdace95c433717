//! Secrets (passwords, private keys) that must never reach output, logs, plans or transcripts.
use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

/// A secret value; `Debug` and `Display` print `***`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    /// The secret itself; call only where it is handed to a protocol.
    pub fn expose(&self) -> &str {
        &self.0
    }
    /// Replace every occurrence of the secret in `text` by `***`.
    pub fn redact(&self, text: &str) -> String {
        if self.0.is_empty() {
            text.to_string()
        } else {
            text.replace(&self.0, "***")
        }
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Where a secret comes from: an environment variable or a file (names only in config).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct SecretSource {
    /// Name of the environment variable holding the secret.
    pub env: Option<String>,
    /// Path of a file holding the secret (relative paths are relative to the repository).
    pub file: Option<PathBuf>,
}

impl SecretSource {
    pub fn is_set(&self) -> bool {
        self.env.is_some() || self.file.is_some()
    }

    /// Resolve the secret; `what` names it in errors ("Cybereason password").
    pub fn resolve(&self, what: &str, base: &Path) -> anyhow::Result<Secret> {
        if let Some(var) = &self.env {
            match std::env::var(var) {
                Ok(v) if !v.is_empty() => return Ok(Secret(v)),
                _ if self.file.is_none() => {
                    bail!("{what}: environment variable {var} is not set or empty")
                }
                _ => {}
            }
        }
        if let Some(file) = &self.file {
            let path = if file.is_absolute() {
                file.clone()
            } else {
                base.join(file)
            };
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("{what}: reading {}", path.display()))?;
            let v = text.trim_end_matches(['\r', '\n']).to_string();
            if v.is_empty() {
                bail!("{what}: {} is empty", path.display());
            }
            return Ok(Secret(v));
        }
        bail!("{what}: no source configured (set `env` or `file`)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_hide_the_value() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s} {s:?}"), "*** ***");
        assert_eq!(s.redact("pw=hunter2;"), "pw=***;");
    }
}
