//! The policy floor (`guardrails.floor`): the weakest guardrails a repository accepts.
//! `check` holds the configuration to it — and, with `--floor-from REV`, to the floor of
//! that revision too, and refuses a floor lowered since then — so that weakening a guardrail
//! in a pull request is a deliberate, visible act: the review job fails unless the request
//! carries the override (`--allow-weaker-policy`, docs/review.md).
use crate::blocklist::allowlist::is_same_or_sub;
use crate::blocklist::indicator::Indicator;
use crate::config::{Floor, Guardrails, Threshold};
use crate::diag::{Diagnostic, Diagnostics, Severity};
use crate::workspace::Workspace;

use super::locate::{Seg, line_of};
use super::policy::rules::{self, Effect, threshold_cmp};

/// One way the configuration is below a floor.
struct Violation {
    /// The configuration key to point at.
    keys: Vec<&'static str>,
    /// What is violated (one message per subject: the binding floor's).
    subject: String,
    message: String,
}

fn violation(keys: Vec<&'static str>, subject: impl Into<String>, message: String) -> Violation {
    Violation {
        keys,
        subject: subject.into(),
        message,
    }
}

/// What the floor check found.
#[derive(Debug, Default)]
pub struct FloorCheck {
    /// Floor violations (errors, or warnings when overridden) and invalid floor values.
    pub diagnostics: Diagnostics,
    /// Violations that are errors: a refusal (exit 3) when they are the only errors.
    pub refusals: usize,
}

/// The configuration file of one revision, for positions in messages.
pub struct ConfigText<'a> {
    pub path: &'a str,
    pub text: Option<&'a str>,
}

impl ConfigText<'_> {
    fn at(&self, keys: &[&str]) -> (usize, usize) {
        let segs: Vec<Seg<'_>> = keys.iter().map(|k| Seg::Key(k)).collect();
        let line = self.text.and_then(|t| line_of(t, &segs)).unwrap_or(0);
        let col = match (self.text, line) {
            (Some(t), l) if l > 0 => t
                .lines()
                .nth(l - 1)
                .map_or(0, |s| s.len() - s.trim_start().len() + 1),
            _ => 0,
        };
        (line, col)
    }
}

/// Check `head` against its own floor and, when given, the floor of `base` (labelled
/// `base_rev`); a floor lowered since `base` is a violation too. With `allow_weaker`,
/// violations are reported as warnings.
pub fn check(
    head: &Workspace,
    text: &ConfigText<'_>,
    base: Option<(&Workspace, &str)>,
    allow_weaker: bool,
) -> FloorCheck {
    let mut out = FloorCheck::default();
    let g = &head.config.guardrails;
    validate(&g.floor, text, &mut out.diagnostics);
    let mut violations: Vec<Violation> = Vec::new();
    let mut floors = vec![(&g.floor, String::from("guardrails.floor"))];
    if let Some((b, rev)) = base {
        floors.insert(
            0,
            (
                &b.config.guardrails.floor,
                format!("guardrails.floor at {rev}"),
            ),
        );
        lowered(&b.config.guardrails.floor, &g.floor, rev, &mut violations);
    }
    for (floor, whose) in floors {
        below(g, floor, &whose, head, &mut violations);
    }
    // One message per key: the first (the base floor when given) is the one that binds.
    let mut seen = std::collections::BTreeSet::new();
    for Violation {
        keys,
        subject,
        message: msg,
    } in violations
    {
        if !seen.insert(subject) {
            continue;
        }
        let (line, col) = text.at(&keys);
        let (severity, msg) = if allow_weaker {
            (
                Severity::Warning,
                format!("{msg} (allowed by --allow-weaker-policy)"),
            )
        } else {
            out.refusals += 1;
            (
                Severity::Error,
                format!("{msg}; pass --allow-weaker-policy if this is deliberate"),
            )
        };
        out.diagnostics.push(Diagnostic {
            severity,
            file: text.path.to_string(),
            line,
            col,
            message: format!("policy floor: {msg}"),
        });
    }
    out
}

/// [`check`] for the configuration at `config_path` in `src` (its text gives the lines).
pub fn check_source(
    head: &Workspace,
    src: &dyn crate::gitops::Source,
    config_path: &str,
    base: Option<(&Workspace, &str)>,
    allow_weaker: bool,
) -> anyhow::Result<FloorCheck> {
    let text = crate::gitops::read_text(src, config_path)?;
    let text = ConfigText {
        path: config_path,
        text: text.as_deref(),
    };
    Ok(check(head, &text, base, allow_weaker))
}

/// Floor values that cannot be a floor.
fn validate(f: &Floor, text: &ConfigText<'_>, d: &mut Diagnostics) {
    let mut err = |key: &str, msg: String| {
        let (line, col) = text.at(&["guardrails", "floor", key]);
        d.push(Diagnostic::error(text.path, line, col, msg));
    };
    if let Some(p) = f.min_prefix_v4.filter(|p| *p > 32) {
        err(
            "min_prefix_v4",
            format!("guardrails.floor.min_prefix_v4 {p} is above 32"),
        );
    }
    if let Some(p) = f.min_prefix_v6.filter(|p| *p > 128) {
        err(
            "min_prefix_v6",
            format!("guardrails.floor.min_prefix_v6 {p} is above 128"),
        );
    }
    for v in &f.allowlist {
        if let Err(e) = Indicator::parse(v) {
            err("allowlist", format!("guardrails.floor.allowlist: {e}"));
        }
    }
}

fn show_threshold(t: &Threshold) -> String {
    match t {
        Threshold::Count(n) => n.to_string(),
        Threshold::Percent(p) => format!("{p}%"),
    }
}

/// Where the configuration `g` is below `floor`.
fn below(g: &Guardrails, floor: &Floor, whose: &str, ws: &Workspace, out: &mut Vec<Violation>) {
    if floor.allow_private == Some(false) && g.allow_private {
        out.push(violation(
            vec!["guardrails", "allow_private"],
            "allow_private",
            format!(
                "guardrails.allow_private: true is below the floor ({whose}.allow_private: false)"
            ),
        ));
    }
    for (key, have, min, bits) in [
        ("min_prefix_v4", g.min_prefix_v4, floor.min_prefix_v4, 32),
        ("min_prefix_v6", g.min_prefix_v6, floor.min_prefix_v6, 128),
    ] {
        // A floor above the address length is reported by `validate`, not compared.
        if let Some(min) = min.filter(|m| have < *m && *m <= bits) {
            out.push(violation(
                vec!["guardrails", key],
                key,
                format!("guardrails.{key}: {have} is below the floor ({whose}.{key}: {min})"),
            ));
        }
    }
    if let Some(max) = &floor.max_removals {
        let have = &g.max_removals;
        match threshold_cmp(have, max) {
            Some(std::cmp::Ordering::Greater) => out.push(violation(
                vec!["guardrails", "max_removals"],
                "max_removals",
                format!(
                    "guardrails.max_removals: {} is above the floor ({whose}.max_removals: {})",
                    show_threshold(have),
                    show_threshold(max)
                ),
            )),
            None => out.push(violation(
                vec!["guardrails", "max_removals"],
                "max_removals",
                format!(
                    "guardrails.max_removals: {} cannot be compared with the floor ({whose}.max_removals: {}); write both as counts or both as percentages",
                    show_threshold(have),
                    show_threshold(max)
                ),
            )),
            _ => {}
        }
    }
    for required in &floor.allowlist {
        let Ok(v) = Indicator::parse(required) else {
            continue; // reported by `validate`
        };
        if !ws.allowlist.rules.iter().any(|r| covers(&r.value, &v)) {
            out.push(violation(
                vec!["guardrails", "floor", "allowlist"],
                format!("allowlist {v}"),
                format!(
                    "{} no longer protects {v}, which the floor requires ({whose}.allowlist)",
                    ws.allowlist.path
                ),
            ));
        }
    }
}

/// `outer` protects all of `inner`: the same or a wider network, the same or a parent domain.
fn covers(outer: &Indicator, inner: &Indicator) -> bool {
    match (outer, inner) {
        (Indicator::V4(a), Indicator::V4(b)) => a.contains(b),
        (Indicator::V6(a), Indicator::V6(b)) => a.contains(b),
        (Indicator::Fqdn(a), Indicator::Fqdn(b)) => is_same_or_sub(b, a),
        _ => false,
    }
}

/// Floor keys lowered from `base` to `head`, judged by the classification table.
fn lowered(base: &Floor, head: &Floor, rev: &str, out: &mut Vec<Violation>) {
    let (a, b) = match (serde_json::to_value(base), serde_json::to_value(head)) {
        (Ok(a), Ok(b)) => (a, b),
        _ => return,
    };
    for key in [
        "allow_private",
        "min_prefix_v4",
        "min_prefix_v6",
        "max_removals",
    ] {
        let pattern = format!("guardrails.floor.{key}");
        let Some(rule) = rules::lookup(&pattern) else {
            continue;
        };
        let (x, y) = (
            a.get(key).filter(|v| !v.is_null()),
            b.get(key).filter(|v| !v.is_null()),
        );
        if x != y && rule.judge.leaf(x, y) == Effect::Weakens {
            let show = |v: Option<&serde_json::Value>| {
                super::policy::tree::show(v).unwrap_or_else(|| "(unset)".into())
            };
            out.push(violation(
                vec!["guardrails", "floor", key],
                format!("lowered {key}"),
                format!("{pattern} lowered from {} at {rev} to {}", show(x), show(y)),
            ));
        }
    }
    for v in base
        .allowlist
        .iter()
        .filter(|v| !head.allowlist.contains(v))
    {
        out.push(violation(
            vec!["guardrails", "floor", "allowlist"],
            format!("lowered allowlist {v}"),
            format!("guardrails.floor.allowlist lost {v} (required at {rev})"),
        ));
    }
}

#[cfg(test)]
mod tests;
