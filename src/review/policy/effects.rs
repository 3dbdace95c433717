//! What a guardrail or allowlist change does now: the indicators listed at head whose fate
//! differs between the base policy and the head policy. Evaluating head's own indicators
//! under both policies separates the consequence of the policy change from the indicator
//! changes of the same pull request.
use anyhow::Context as _;
use serde::Serialize;

use crate::blocklist::guard::Guard;
use crate::blocklist::indicator::Indicator;
use crate::workspace::{Effective, Workspace};

/// One indicator whose fate the policy change decides.
#[derive(Debug, Clone, Serialize)]
pub struct Consequence {
    pub value: String,
    /// Where it is listed (at head).
    pub file: String,
    pub line: usize,
    /// For a newly blocked value: the base rule that dropped it and no longer does; for a
    /// newly unblocked value: the head rule that drops it now.
    pub rule: &'static str,
    pub detail: String,
}

/// The consequences on one target.
#[derive(Debug, Clone, Serialize)]
pub struct PolicyEffect {
    pub target: String,
    /// Blocked under the head policy, dropped under the base policy.
    pub newly_blocked: Vec<Consequence>,
    /// Dropped under the head policy, blockable under the base policy.
    pub newly_unblocked: Vec<Consequence>,
}

/// Compare the fate of head's listed indicators under the base guard `old` and the head guard.
///
/// Guardrails and the allowlist are global today, so every target gets the same lists; they
/// are reported per target so that per-target policy can be added without a schema change.
pub fn compute(
    old: &Guard,
    head: &Workspace,
    eff_head: &Effective<'_>,
) -> anyhow::Result<Vec<PolicyEffect>> {
    let mut newly_blocked = Vec::new();
    for b in &eff_head.blocked {
        if let Err(why) = old.check(b.value) {
            let (file, entry) = b.entries[0];
            newly_blocked.push(Consequence {
                value: b.value.to_string(),
                file: file.to_string(),
                line: entry.line,
                rule: why.rule,
                detail: why.detail,
            });
        }
    }
    let mut newly_unblocked = Vec::new();
    let new = head.guard();
    for d in &eff_head.dropped {
        // Expiry does not depend on the policy.
        if d.why.rule == "expired" {
            continue;
        }
        let value = Indicator::parse(&d.value)
            .with_context(|| format!("{}:{}: re-reading a dropped value", d.file, d.line))?;
        // Only what the guard decides is the policy's doing (not, say, a drop for a reason
        // outside the guardrails).
        if new.check(&value).is_err() && old.check(&value).is_ok() {
            newly_unblocked.push(Consequence {
                value: d.value.clone(),
                file: d.file.clone(),
                line: d.line,
                rule: d.why.rule,
                detail: d.why.detail.clone(),
            });
        }
    }
    newly_unblocked.sort_by(|a, b| a.value.cmp(&b.value));
    // A value listed in two files is reported once.
    newly_unblocked.dedup_by(|a, b| a.value == b.value);
    let names: Vec<String> = if head.config.targets.is_empty() {
        vec!["default".into()]
    } else {
        head.config.targets.iter().map(|t| t.name.clone()).collect()
    };
    if newly_blocked.is_empty() && newly_unblocked.is_empty() {
        return Ok(Vec::new());
    }
    Ok(names
        .into_iter()
        .map(|target| PolicyEffect {
            target,
            newly_blocked: newly_blocked.clone(),
            newly_unblocked: newly_unblocked.clone(),
        })
        .collect())
}
