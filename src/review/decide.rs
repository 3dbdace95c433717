//! Which policy keys and allowlist entries decide a value's fate, with their file and line —
//! what `explain` cites. A key counts when the value's outcome depends on it: the guard is
//! asked again with the key changed (allow_private toggled), or the key's rule applies to the
//! value (minimum prefix of a network, allowlist entries that protect it).
use serde::Serialize;

use crate::blocklist::allowlist::Allowlist;
use crate::blocklist::guard::Guard;
use crate::blocklist::indicator::Indicator;
use crate::config::Guardrails;
use crate::workspace::Workspace;

use super::locate::{Seg, line_of};

/// One policy key or allowlist entry that decides the value's fate.
#[derive(Debug, Clone, Serialize)]
pub struct Decision {
    /// `guardrails.allow_private`, `guardrails.min_prefix_v4`, or `allowlist`.
    pub key: String,
    /// Its value (an allowlist entry with its comment).
    pub value: String,
    /// `drops` (keeps the value off the device) or `permits` (lets it be blocked).
    pub verdict: Verdict,
    pub detail: String,
    pub file: String,
    /// 0: not written in the file (the built-in default applies).
    pub line: usize,
}

/// What a key does to the value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Drops,
    Permits,
}

/// The policy decisions for `value` in `ws` (`config_text` for line numbers).
pub fn decisions(
    ws: &Workspace,
    config_path: &str,
    config_text: Option<&str>,
    value: &Indicator,
) -> Vec<Decision> {
    let g = &ws.config.guardrails;
    let line = |keys: &[&str]| {
        let segs: Vec<Seg<'_>> = keys.iter().map(|k| Seg::Key(k)).collect();
        config_text.and_then(|t| line_of(t, &segs)).unwrap_or(0)
    };
    let key = |k: &str, value: String, verdict, detail: String| Decision {
        key: format!("guardrails.{k}"),
        value,
        verdict,
        detail,
        file: config_path.to_string(),
        line: line(&["guardrails", k]),
    };
    let mut out = Vec::new();
    let now = ws.guard().check(value);
    let rule = now.as_ref().err().map(|d| d.rule);
    if matches!(value, Indicator::V4(_) | Indicator::V6(_)) {
        let flipped = Guardrails {
            allow_private: !g.allow_private,
            ..g.clone()
        };
        let other = Guard::new(&flipped, &ws.allowlist).check(value);
        let private_then = other.as_ref().err().map(|d| d.rule) == Some("private");
        if rule == Some("private") {
            out.push(key(
                "allow_private",
                "false".into(),
                Verdict::Drops,
                "the value is in a private range".into(),
            ));
        } else if g.allow_private && private_then {
            out.push(key(
                "allow_private",
                "true".into(),
                Verdict::Permits,
                "the value is in a private range that may be blocked".into(),
            ));
        }
    }
    let prefix = match value {
        Indicator::V4(n) if n.prefix_len() < 32 => {
            Some(("min_prefix_v4", n.prefix_len(), g.min_prefix_v4))
        }
        Indicator::V6(n) if n.prefix_len() < 128 => {
            Some(("min_prefix_v6", n.prefix_len(), g.min_prefix_v6))
        }
        _ => None,
    };
    if let Some((k, len, min)) = prefix {
        let (verdict, detail) = if rule == Some("min-prefix") {
            (
                Verdict::Drops,
                format!("/{len} is shorter than the minimum /{min}"),
            )
        } else {
            (
                Verdict::Permits,
                format!("/{len} is not shorter than the minimum /{min}"),
            )
        };
        out.push(key(k, min.to_string(), verdict, detail));
    }
    for r in &ws.allowlist.rules {
        let single = Allowlist {
            path: ws.allowlist.path.clone(),
            rules: vec![r.clone()],
        };
        if single.protects(value).is_some() {
            out.push(Decision {
                key: "allowlist".into(),
                value: match &r.comment {
                    Some(c) => format!("{} ({c})", r.value),
                    None => r.value.to_string(),
                },
                verdict: Verdict::Drops,
                detail: "the allowlist entry protects the value".into(),
                file: ws.allowlist.path.clone(),
                line: r.line,
            });
        }
    }
    out
}
