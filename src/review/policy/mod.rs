//! The policy side of the review: everything besides the indicators that decides what gets
//! blocked, where and how — every key of `blockops.yaml`, the allowlist entries, the
//! templates, and the files in the blocklist directories — compared between two revisions and
//! classified as weakening protection or not ([`rules`]). For a guardrail or allowlist change
//! it also lists what the change does to today's indicators ([`effects`]).
pub mod effects;
pub mod rules;
pub mod tree;

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Context as _;
use serde::Serialize;

use crate::blocklist::allowlist::AllowRule;
use crate::blocklist::guard::Guard;
use crate::config::{Config, Guardrails, RenderConfig};
use crate::fortios::render::{TEMPLATE_DIR, Templates};
use crate::gitops::{Source, read_text};
use crate::workspace::Workspace;

pub use effects::{Consequence, PolicyEffect};
pub use rules::Effect;

/// What kind of policy a change touches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A key of `blockops.yaml`.
    Config,
    /// An allowlist entry.
    Allowlist,
    /// A FortiOS template.
    Template,
    /// A file added to or removed from a blocklist directory.
    File,
}

/// Added, removed or changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Op {
    Added,
    Removed,
    Changed,
}

/// One policy change.
#[derive(Debug, Clone, Serialize)]
pub struct PolicyChange {
    pub kind: Kind,
    /// `guardrails.allow_private`, `targets[fw1].host`, an allowlist value, a template path.
    pub key: String,
    /// The classification rule that applied (a row of docs/review.md).
    pub rule: &'static str,
    pub op: Op,
    /// The value before / after, as shown to reviewers (`null` when unset or absent).
    pub before: Option<String>,
    pub after: Option<String>,
    pub effect: Effect,
    /// Why the rule classifies it so.
    pub why: &'static str,
    /// Where the change is written (`line` 0: not written there, e.g. a default or a
    /// whole file).
    pub file: String,
    pub line: usize,
    /// The revision `file:line` refers to (head, or base for something removed).
    pub rev: String,
    /// Unified diff of a changed template.
    pub diff: Option<String>,
}

/// Every policy change, weakening first.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PolicyReport {
    pub changes: Vec<PolicyChange>,
    /// How many changes weaken protection.
    pub weakening: usize,
    /// What the guardrail and allowlist changes do to the indicators listed at head, per
    /// target (empty when neither changed).
    pub effects: Vec<PolicyEffect>,
}

/// What the policy diff needs besides a [`Workspace`]: the configuration text (for line
/// numbers) and the file names in the blocklist directories.
#[derive(Debug, Clone, Default)]
pub struct PolicyFiles {
    pub config_path: String,
    /// `None` when the revision has no configuration (the empty base of a first commit):
    /// the built-in defaults are compared instead.
    pub config_text: Option<String>,
    /// Directory → file names.
    pub listings: BTreeMap<String, Vec<String>>,
}

impl PolicyFiles {
    /// The side of a revision without any files.
    pub fn empty(config_path: &str) -> PolicyFiles {
        PolicyFiles {
            config_path: config_path.into(),
            ..PolicyFiles::default()
        }
    }

    /// Read the configuration text and list `dirs` in `src`.
    pub fn read(
        src: &dyn Source,
        config_path: &str,
        dirs: &BTreeSet<String>,
    ) -> anyhow::Result<PolicyFiles> {
        let mut listings = BTreeMap::new();
        for d in dirs {
            listings.insert(d.clone(), src.list(d)?);
        }
        Ok(PolicyFiles {
            config_path: config_path.into(),
            config_text: read_text(src, config_path)?,
            listings,
        })
    }
}

/// The directories whose files are compared: `blocklists/` and the directories of the
/// configured blocklist and allowlist files on either side.
pub fn watched_dirs(base: &Workspace, head: &Workspace) -> BTreeSet<String> {
    let mut dirs = BTreeSet::from(["blocklists".to_string()]);
    for ws in [base, head] {
        let f = &ws.config.files;
        for p in [&f.pulled, &f.manual, &f.allowlist] {
            if let Some((dir, _)) = p.rsplit_once('/') {
                dirs.insert(dir.to_string());
            }
        }
    }
    dirs
}

/// One side of the comparison.
#[derive(Clone, Copy)]
pub struct Side<'a> {
    pub ws: &'a Workspace,
    pub files: &'a PolicyFiles,
}

/// Every policy change between `base` and `head` (without effects: see [`effects`]).
pub fn compare(base: Side<'_>, head: Side<'_>) -> anyhow::Result<Vec<PolicyChange>> {
    let tree = |s: Side<'_>| -> anyhow::Result<serde_json::Value> {
        let cfg = if s.files.config_text.is_some() {
            serde_json::to_value(&s.ws.config)
        } else {
            serde_json::to_value(Config::default())
        };
        cfg.context("reading the configuration as a tree")
    };
    let texts = tree::Texts {
        file: &head.files.config_path,
        base: base.files.config_text.as_deref(),
        head: head.files.config_text.as_deref(),
        base_label: &base.ws.label,
        head_label: &head.ws.label,
    };
    let mut out = tree::compare(&tree(base)?, &tree(head)?, &texts);
    out.extend(allowlist(base.ws, head.ws));
    out.extend(templates(base.ws, head.ws)?);
    out.extend(files(base, head));
    // Weakening first; otherwise the order above (config keys, allowlist, templates, files).
    out.sort_by_key(|c| c.effect != Effect::Weakens);
    Ok(out)
}

/// Allowlist entries added or removed (by value), and changed comments.
fn allowlist(base: &Workspace, head: &Workspace) -> Vec<PolicyChange> {
    let r = &rules::ALLOWLIST;
    let by_value = |ws: &'_ Workspace| -> BTreeMap<String, AllowRule> {
        ws.allowlist
            .rules
            .iter()
            .map(|x| (x.value.to_string(), x.clone()))
            .collect()
    };
    let (a, b) = (by_value(base), by_value(head));
    let show = |x: &AllowRule| match &x.comment {
        Some(c) => format!("{} ({c})", x.value),
        None => x.value.to_string(),
    };
    let mut out = Vec::new();
    let change = |key: &str, op, before, after, effect, ws: &Workspace, line| PolicyChange {
        kind: Kind::Allowlist,
        key: key.to_string(),
        rule: r.pattern,
        op,
        before,
        after,
        effect,
        why: r.why,
        file: ws.allowlist.path.clone(),
        line,
        rev: ws.label.clone(),
        diff: None,
    };
    for (v, x) in &a {
        match b.get(v) {
            None => out.push(change(
                v,
                Op::Removed,
                Some(show(x)),
                None,
                r.judge.membership(false),
                base,
                x.line,
            )),
            Some(y) if y.comment != x.comment => out.push(change(
                v,
                Op::Changed,
                Some(show(x)),
                Some(show(y)),
                Effect::Neutral,
                head,
                y.line,
            )),
            Some(_) => {}
        }
    }
    for (v, y) in b.iter().filter(|(v, _)| !a.contains_key(*v)) {
        out.push(change(
            v,
            Op::Added,
            None,
            Some(show(y)),
            r.judge.membership(true),
            head,
            y.line,
        ));
    }
    out
}

/// The effective text of every template (repository file, else built in).
fn template_texts(t: &Templates) -> anyhow::Result<BTreeMap<String, String>> {
    let env = t
        .environment(&RenderConfig::default())
        .context("loading the templates")?;
    Ok(env
        .templates()
        .map(|(n, tpl)| (n.to_string(), tpl.source().to_string()))
        .collect())
}

/// Templates whose effective text differs, with their unified diff.
fn templates(base: &Workspace, head: &Workspace) -> anyhow::Result<Vec<PolicyChange>> {
    if base.templates == head.templates {
        return Ok(Vec::new());
    }
    let (a, b) = (
        template_texts(&base.templates)?,
        template_texts(&head.templates)?,
    );
    let names: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    let r = &rules::TEMPLATE;
    let mut out = Vec::new();
    for name in names {
        let (ta, tb) = (a.get(name), b.get(name));
        if ta == tb {
            continue;
        }
        let origin = |ws: &Workspace| {
            if ws.templates.overridden.contains(name) {
                "repository"
            } else {
                "built in"
            }
        };
        let path = format!("{TEMPLATE_DIR}/{name}");
        let (diff, _, _) = super::script::unified(
            ta.map_or("", String::as_str),
            tb.map_or("", String::as_str),
            &format!("a/{path}"),
            &format!("b/{path}"),
        );
        out.push(PolicyChange {
            kind: Kind::Template,
            key: path.clone(),
            rule: r.pattern,
            op: match (ta, tb) {
                (None, _) => Op::Added,
                (_, None) => Op::Removed,
                _ => Op::Changed,
            },
            before: ta.map(|_| origin(base).to_string()),
            after: tb.map(|_| origin(head).to_string()),
            effect: r.judge.leaf(None, None),
            why: r.why,
            file: path,
            line: 0,
            rev: head.label.clone(),
            diff: Some(diff),
        });
    }
    Ok(out)
}

/// Files added to or removed from the watched directories.
fn files(base: Side<'_>, head: Side<'_>) -> Vec<PolicyChange> {
    let r = &rules::BLOCKLIST_FILE;
    let mut out = Vec::new();
    let dirs: BTreeSet<&String> = base
        .files
        .listings
        .keys()
        .chain(head.files.listings.keys())
        .collect();
    for dir in dirs {
        let list = |s: Side<'_>| -> BTreeSet<String> {
            s.files
                .listings
                .get(dir)
                .map(|v| v.iter().cloned().collect())
                .unwrap_or_default()
        };
        let (a, b) = (list(base), list(head));
        for (name, op, side) in a
            .difference(&b)
            .map(|n| (n, Op::Removed, base))
            .chain(b.difference(&a).map(|n| (n, Op::Added, head)))
        {
            let path = format!("{dir}/{name}");
            out.push(PolicyChange {
                kind: Kind::File,
                key: path.clone(),
                rule: r.pattern,
                op,
                before: None,
                after: None,
                effect: r.judge.leaf(None, None),
                why: r.why,
                file: path,
                line: 0,
                rev: side.ws.label.clone(),
                diff: None,
            });
        }
    }
    out
}

/// The whole policy report: changes, and their effect on today's indicators.
pub fn report(
    base: Side<'_>,
    head: Side<'_>,
    eff_head: &crate::workspace::Effective<'_>,
) -> anyhow::Result<PolicyReport> {
    let changes = compare(base, head)?;
    let weakening = changes
        .iter()
        .filter(|c| c.effect == Effect::Weakens)
        .count();
    let guard_changed = changes.iter().any(|c| {
        c.kind == Kind::Allowlist || (c.kind == Kind::Config && c.key.starts_with("guardrails."))
    });
    let effects = if guard_changed {
        // Without a base configuration (first commit) the base policy is the built-in one.
        let old = if base.files.config_text.is_some() {
            base.ws.guard()
        } else {
            Guard::new(&Guardrails::default(), &base.ws.allowlist)
        };
        effects::compute(&old, head.ws, eff_head)?
    } else {
        Vec::new()
    };
    Ok(PolicyReport {
        changes,
        weakening,
        effects,
    })
}

#[cfg(test)]
pub(crate) mod tests;
