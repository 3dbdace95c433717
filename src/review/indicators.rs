//! The indicator side of the review: which entries each blocklist file gained, lost or
//! changed, and what that means per target (newly blocked, unblocked, newly dropped by a
//! guardrail) together with the unified diff of the rendered scripts.
use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::blocklist::Entry;
use crate::blocklist::indicator::Indicator;
use crate::config::{RenderConfig, Target};
use crate::fortios::model::Desired;
use crate::fortios::render;
use crate::workspace::{DroppedEntry, Effective, Workspace};

use super::script::unified;

/// Entry-level changes of one blocklist file. Entries are borrowed from the two
/// workspaces: a pull that touches every entry does not copy the blocklist twice more.
#[derive(Debug, Clone, Serialize)]
pub struct FileDiff<'w> {
    pub path: String,
    pub added: Vec<&'w Entry>,
    pub removed: Vec<&'w Entry>,
    pub changed: Vec<ChangedEntry<'w>>,
}

/// One entry whose fields changed.
#[derive(Debug, Clone, Serialize)]
pub struct ChangedEntry<'w> {
    pub value: &'w Indicator,
    /// Names of the fields that differ.
    pub fields: Vec<&'static str>,
    pub before: &'w Entry,
    pub after: &'w Entry,
}

/// What changes on one target.
#[derive(Debug, Clone, Serialize)]
pub struct TargetDiff {
    pub name: String,
    /// Indicators newly blocked on this target.
    pub blocked_added: Vec<String>,
    /// Indicators no longer blocked.
    pub blocked_removed: Vec<String>,
    /// Listed indicators that guardrails now drop (and did not before).
    pub newly_dropped: Vec<DroppedEntry>,
    pub script_lines_added: usize,
    pub script_lines_removed: usize,
    /// Unified diff of the full rendered scripts (empty when equal).
    pub script_diff: String,
}

fn changed_fields(a: &Entry, b: &Entry) -> Vec<&'static str> {
    let mut f = Vec::new();
    if a.sources != b.sources {
        f.push("sources");
    }
    if a.malops != b.malops {
        f.push("malops");
    }
    if a.first_seen != b.first_seen {
        f.push("first_seen");
    }
    if a.expires != b.expires {
        f.push("expires");
    }
    if a.comment != b.comment {
        f.push("comment");
    }
    f
}

/// Entry-level diff of every blocklist file present on either side (head's order first).
pub fn file_diffs<'w>(base: &'w Workspace, head: &'w Workspace) -> Vec<FileDiff<'w>> {
    let mut paths: Vec<&str> = head.files.iter().map(|f| f.path.as_str()).collect();
    for f in &base.files {
        if !paths.contains(&f.path.as_str()) {
            paths.push(&f.path);
        }
    }
    paths
        .into_iter()
        .map(|path| {
            let entries = |ws: &'w Workspace| -> &'w [Entry] {
                ws.files
                    .iter()
                    .find(|f| f.path == path)
                    .map_or(&[], |f| f.entries.as_slice())
            };
            file_diff(path, entries(base), entries(head))
        })
        .collect()
}

/// Both entry lists are sorted by value: a merge walk finds the differences.
fn file_diff<'w>(path: &str, a: &'w [Entry], b: &'w [Entry]) -> FileDiff<'w> {
    let mut fd = FileDiff {
        path: path.into(),
        added: Vec::new(),
        removed: Vec::new(),
        changed: Vec::new(),
    };
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        let ord = match (a.get(i), b.get(j)) {
            (Some(x), Some(y)) => x.value.cmp(&y.value),
            (Some(_), None) => Ordering::Less,
            _ => Ordering::Greater,
        };
        match ord {
            Ordering::Less => {
                fd.removed.push(&a[i]);
                i += 1;
            }
            Ordering::Greater => {
                fd.added.push(&b[j]);
                j += 1;
            }
            Ordering::Equal => {
                let fields = changed_fields(&a[i], &b[j]);
                if !fields.is_empty() {
                    fd.changed.push(ChangedEntry {
                        value: &a[i].value,
                        fields,
                        before: &a[i],
                        after: &b[j],
                    });
                }
                i += 1;
                j += 1;
            }
        }
    }
    fd
}

/// Targets to compare: the union of both configs' targets, or one preview target named
/// `default` (global render settings) when neither config has any.
pub fn targets(
    base: &Workspace,
    head: &Workspace,
) -> Vec<(String, Option<Target>, Option<Target>)> {
    let mut names: BTreeMap<String, (Option<Target>, Option<Target>)> = BTreeMap::new();
    for t in &base.config.targets {
        names.entry(t.name.clone()).or_default().0 = Some(t.clone());
    }
    for t in &head.config.targets {
        names.entry(t.name.clone()).or_default().1 = Some(t.clone());
    }
    if names.is_empty() {
        return vec![("default".into(), None, None)];
    }
    names.into_iter().map(|(n, (a, b))| (n, a, b)).collect()
}

/// Render one side for one target (empty string when the target does not exist there),
/// with the desired model it was rendered from.
fn side_script(
    ws: &Workspace,
    eff: &Effective<'_>,
    t: Option<&Target>,
    preview: bool,
) -> anyhow::Result<(String, Option<Desired>)> {
    match t {
        Some(t) => {
            let d = ws.desired(eff, t)?;
            Ok((ws.script(&d, t)?, Some(d)))
        }
        None if preview => {
            let rc: RenderConfig = ws.config.render.clone();
            let d = render::desired_with(&rc, eff, "default", None)?;
            let script = ws
                .templates
                .render("full.j2", &d, &rc, minijinja::Value::UNDEFINED)?;
            Ok((script, Some(d)))
        }
        None => Ok((String::new(), None)),
    }
}

/// Free a large value on a thread of its own once the diff no longer waits for a core: a
/// 100 000-object model is 400 000 allocations.
/// Should no thread be available, the value is freed right here (with the refused closure).
fn drop_aside<T: Send + 'static>(value: T) {
    let _ = std::thread::Builder::new()
        .name("blockops-free".into())
        .spawn(move || drop(value));
}

/// Per-target consequences of `base` → `head`: blocked set changes (the same on every
/// target: guardrails and allowlist are global), newly dropped entries, and the script diff.
pub fn target_diffs(
    base: &Workspace,
    head: &Workspace,
    eff_a: &Effective<'_>,
    eff_b: &Effective<'_>,
) -> anyhow::Result<Vec<TargetDiff>> {
    let (blocked_added, blocked_removed) = sorted_difference(eff_a, eff_b);
    let dropped_a: BTreeSet<(&str, &str)> = eff_a
        .dropped
        .iter()
        .map(|d| (d.value.as_str(), d.why.rule))
        .collect();
    let newly_dropped: Vec<DroppedEntry> = eff_b
        .dropped
        .iter()
        .filter(|d| !dropped_a.contains(&(d.value.as_str(), d.why.rule)))
        .cloned()
        .collect();
    let mut out = Vec::new();
    for (name, ta, tb) in targets(base, head) {
        let preview = ta.is_none() && tb.is_none();
        // Render one side while the other side's script is diffed would need both in memory
        // anyway; rendering them on two threads halves the wall time.
        let (sa, sb) = std::thread::scope(|s| {
            let a = s.spawn(|| side_script(base, eff_a, ta.as_ref(), preview));
            let b = side_script(head, eff_b, tb.as_ref(), preview);
            (a.join(), b)
        });
        let (sa, da) = sa.map_err(|_| anyhow::anyhow!("rendering the base panicked"))??;
        let (sb, db) = sb?;
        let (script_diff, plus, minus) = unified(
            &sa,
            &sb,
            &format!("a/{name}.conf"),
            &format!("b/{name}.conf"),
        );
        drop((sa, sb));
        drop_aside((da, db));
        out.push(TargetDiff {
            name,
            blocked_added: blocked_added.clone(),
            blocked_removed: blocked_removed.clone(),
            newly_dropped: newly_dropped.clone(),
            script_lines_added: plus,
            script_lines_removed: minus,
            script_diff,
        });
    }
    Ok(out)
}

/// (newly blocked, no longer blocked) by a merge walk over the sorted effective lists.
fn sorted_difference(a: &Effective<'_>, b: &Effective<'_>) -> (Vec<String>, Vec<String>) {
    let (mut added, mut removed) = (Vec::new(), Vec::new());
    let (mut i, mut j) = (0, 0);
    while i < a.blocked.len() || j < b.blocked.len() {
        match (a.blocked.get(i), b.blocked.get(j)) {
            (Some(x), Some(y)) if x.value == y.value => {
                i += 1;
                j += 1;
            }
            (Some(x), Some(y)) if x.value < y.value => {
                removed.push(x.value.to_string());
                i += 1;
            }
            (Some(x), None) => {
                removed.push(x.value.to_string());
                i += 1;
            }
            (_, Some(y)) => {
                added.push(y.value.to_string());
                j += 1;
            }
            (None, None) => break,
        }
    }
    (added, removed)
}
