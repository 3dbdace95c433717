//! The reviewer's diff between two snapshots of the repository: which indicators were
//! added, removed or changed in each file, what that means per target, and the unified diff
//! of the rendered scripts. Text, markdown (pull-request comment) and JSON forms.
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;
use similar::{Algorithm, ChangeTag, TextDiff};
use time::Date;

use crate::blocklist::Entry;
use crate::config::{RenderConfig, Target};
use crate::fortios::render;
use crate::workspace::{DroppedEntry, Workspace};

/// JSON schema version of [`DiffReport`].
pub const SCHEMA_VERSION: u32 = 1;

/// Everything that differs between `base` and `head`.
#[derive(Debug, Clone, Serialize)]
pub struct DiffReport {
    pub schema_version: u32,
    pub base: String,
    pub head: String,
    pub summary: Summary,
    pub files: Vec<FileDiff>,
    pub targets: Vec<TargetDiff>,
}

/// Totals over all files and targets.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    pub added: usize,
    pub removed: usize,
    pub changed: usize,
    pub script_lines_added: usize,
    pub script_lines_removed: usize,
    pub has_changes: bool,
}

/// Entry-level changes of one blocklist file.
#[derive(Debug, Clone, Serialize)]
pub struct FileDiff {
    pub path: String,
    pub added: Vec<Entry>,
    pub removed: Vec<Entry>,
    pub changed: Vec<ChangedEntry>,
}

/// One entry whose fields changed.
#[derive(Debug, Clone, Serialize)]
pub struct ChangedEntry {
    pub value: String,
    /// Names of the fields that differ.
    pub fields: Vec<&'static str>,
    pub before: Entry,
    pub after: Entry,
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

impl DiffReport {
    /// Any change at all?
    pub fn has_changes(&self) -> bool {
        self.summary.has_changes
    }
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

/// Targets to compare: the union of both configs' targets, or one preview target named
/// `default` (global render settings) when neither config has any.
fn targets(base: &Workspace, head: &Workspace) -> Vec<(String, Option<Target>, Option<Target>)> {
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

/// Render one side for one target (empty string when the target does not exist there).
fn side_script(
    ws: &Workspace,
    eff: &crate::workspace::Effective<'_>,
    t: Option<&Target>,
    preview: bool,
) -> anyhow::Result<String> {
    match t {
        Some(t) => {
            let d = render::desired(ws, eff, t)?;
            render::script(ws, &d, t)
        }
        None if preview => {
            let rc: RenderConfig = ws.config.render.clone();
            let d = render::desired_with(&rc, eff, "default", None)?;
            ws.templates
                .render("full.j2", &d, &rc, minijinja::Value::UNDEFINED)
        }
        None => Ok(String::new()),
    }
}

/// Compute the diff of `base` → `head` as of `today`.
pub fn compute(base: &Workspace, head: &Workspace, today: Date) -> anyhow::Result<DiffReport> {
    let mut summary = Summary::default();
    let mut files = Vec::new();
    let mut paths: Vec<&str> = head.files.iter().map(|f| f.path.as_str()).collect();
    for f in &base.files {
        if !paths.contains(&f.path.as_str()) {
            paths.push(&f.path);
        }
    }
    for path in paths {
        let empty = crate::blocklist::BlocklistFile::empty(path);
        let a = base.files.iter().find(|f| f.path == path).unwrap_or(&empty);
        let b = head.files.iter().find(|f| f.path == path).unwrap_or(&empty);
        let mut fd = FileDiff {
            path: path.into(),
            added: Vec::new(),
            removed: Vec::new(),
            changed: Vec::new(),
        };
        // Both lists are sorted by value: merge-walk them.
        let (mut i, mut j) = (0, 0);
        while i < a.entries.len() || j < b.entries.len() {
            let ord = match (a.entries.get(i), b.entries.get(j)) {
                (Some(x), Some(y)) => x.value.cmp(&y.value),
                (Some(_), None) => std::cmp::Ordering::Less,
                _ => std::cmp::Ordering::Greater,
            };
            match ord {
                std::cmp::Ordering::Less => {
                    fd.removed.push(a.entries[i].clone());
                    i += 1;
                }
                std::cmp::Ordering::Greater => {
                    fd.added.push(b.entries[j].clone());
                    j += 1;
                }
                std::cmp::Ordering::Equal => {
                    let fields = changed_fields(&a.entries[i], &b.entries[j]);
                    if !fields.is_empty() {
                        fd.changed.push(ChangedEntry {
                            value: a.entries[i].value.to_string(),
                            fields,
                            before: a.entries[i].clone(),
                            after: b.entries[j].clone(),
                        });
                    }
                    i += 1;
                    j += 1;
                }
            }
        }
        summary.added += fd.added.len();
        summary.removed += fd.removed.len();
        summary.changed += fd.changed.len();
        files.push(fd);
    }

    let eff_a = base.effective(today);
    let eff_b = head.effective(today);
    let set_a: BTreeSet<String> = eff_a.blocked.iter().map(|b| b.value.to_string()).collect();
    let set_b: BTreeSet<String> = eff_b.blocked.iter().map(|b| b.value.to_string()).collect();
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
    let mut out_targets = Vec::new();
    for (name, ta, tb) in targets(base, head) {
        let preview = ta.is_none() && tb.is_none();
        let sa = side_script(base, &eff_a, ta.as_ref(), preview)?;
        let sb = side_script(head, &eff_b, tb.as_ref(), preview)?;
        let (script_diff, plus, minus) = unified(
            &sa,
            &sb,
            &format!("a/{name}.conf"),
            &format!("b/{name}.conf"),
        );
        summary.script_lines_added += plus;
        summary.script_lines_removed += minus;
        out_targets.push(TargetDiff {
            name,
            blocked_added: set_b.difference(&set_a).cloned().collect(),
            blocked_removed: set_a.difference(&set_b).cloned().collect(),
            newly_dropped: newly_dropped.clone(),
            script_lines_added: plus,
            script_lines_removed: minus,
            script_diff,
        });
    }
    summary.has_changes = summary.added
        + summary.removed
        + summary.changed
        + summary.script_lines_added
        + summary.script_lines_removed
        > 0;
    Ok(DiffReport {
        schema_version: SCHEMA_VERSION,
        base: base.label.clone(),
        head: head.label.clone(),
        summary,
        files,
        targets: out_targets,
    })
}

/// Unified diff plus counts of added and removed lines.
pub fn unified(a: &str, b: &str, name_a: &str, name_b: &str) -> (String, usize, usize) {
    if a == b {
        return (String::new(), 0, 0);
    }
    let diff = TextDiff::configure()
        .algorithm(Algorithm::Myers)
        .timeout(Duration::from_secs(10))
        .diff_lines(a, b);
    let (mut plus, mut minus) = (0, 0);
    for op in diff.ops() {
        for change in diff.iter_changes(op) {
            match change.tag() {
                ChangeTag::Insert => plus += 1,
                ChangeTag::Delete => minus += 1,
                ChangeTag::Equal => {}
            }
        }
    }
    let text = diff
        .unified_diff()
        .context_radius(3)
        .header(name_a, name_b)
        .to_string();
    (text, plus, minus)
}

fn entry_line(e: &Entry) -> String {
    let mut s = format!("{} ({})", e.value, e.value.kind());
    let src: Vec<&str> = e.sources.iter().map(|s| s.as_str()).collect();
    if !src.is_empty() {
        let _ = write!(s, " sources={}", src.join(","));
    }
    if !e.malops.is_empty() {
        let _ = write!(
            s,
            " malops={}",
            e.malops.iter().cloned().collect::<Vec<_>>().join(",")
        );
    }
    if let Some(d) = e.first_seen {
        let _ = write!(s, " first_seen={}", crate::blocklist::format_date(d));
    }
    if let Some(d) = e.expires {
        let _ = write!(s, " expires={}", crate::blocklist::format_date(d));
    }
    s
}

/// Plain-text rendering for terminals and CI logs.
pub fn to_text(r: &DiffReport) -> String {
    let mut out = String::new();
    let s = &r.summary;
    let _ = writeln!(
        out,
        "blockops diff {} -> {}: +{} -{} ~{} entries",
        r.base, r.head, s.added, s.removed, s.changed
    );
    for f in &r.files {
        if f.added.is_empty() && f.removed.is_empty() && f.changed.is_empty() {
            continue;
        }
        let _ = writeln!(out, "\n{}:", f.path);
        for e in &f.added {
            let _ = writeln!(out, "  + {}", entry_line(e));
        }
        for e in &f.removed {
            let _ = writeln!(out, "  - {}", entry_line(e));
        }
        for c in &f.changed {
            let _ = writeln!(out, "  ~ {} ({} changed)", c.value, c.fields.join(", "));
        }
    }
    for t in &r.targets {
        let _ = writeln!(
            out,
            "\ntarget {}: {} newly blocked, {} unblocked, script +{} -{} lines",
            t.name,
            t.blocked_added.len(),
            t.blocked_removed.len(),
            t.script_lines_added,
            t.script_lines_removed
        );
        for d in &t.newly_dropped {
            let _ = writeln!(
                out,
                "  dropped {} ({}:{}): {}",
                d.value, d.file, d.line, d.why
            );
        }
        if !t.script_diff.is_empty() {
            out.push_str(&t.script_diff);
        }
    }
    out
}

/// Longest markdown comment we produce (GitHub's limit is 65 536).
pub const MARKDOWN_LIMIT: usize = 60_000;

/// A pull-request comment.
pub fn to_markdown(r: &DiffReport) -> String {
    let s = &r.summary;
    let mut out = String::new();
    if !s.has_changes {
        let _ = writeln!(
            out,
            "### blockops: no changes\n\n`{}` → `{}`: the blocklists render to identical scripts.",
            r.base, r.head
        );
        return out;
    }
    let _ = writeln!(
        out,
        "### blockops: +{} / −{} / ~{} indicators\n\n`{}` → `{}`\n",
        s.added, s.removed, s.changed, r.base, r.head
    );
    out.push_str("| | added | removed | changed |\n|---|---:|---:|---:|\n");
    for f in &r.files {
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {} |",
            f.path,
            f.added.len(),
            f.removed.len(),
            f.changed.len()
        );
    }
    for t in &r.targets {
        let _ = writeln!(
            out,
            "| target `{}` (blocked / script lines) | {} / {} | {} / {} | |",
            t.name,
            t.blocked_added.len(),
            t.script_lines_added,
            t.blocked_removed.len(),
            t.script_lines_removed
        );
    }
    let mut lists = String::new();
    for f in &r.files {
        if !f.added.is_empty() {
            let _ = writeln!(lists, "\n**Added in `{}`**\n", f.path);
            for e in &f.added {
                let _ = writeln!(lists, "- `{}`", entry_line(e));
            }
        }
        if !f.removed.is_empty() {
            let _ = writeln!(lists, "\n**Removed from `{}`**\n", f.path);
            for e in &f.removed {
                let _ = writeln!(lists, "- `{}`", entry_line(e));
            }
        }
        if !f.changed.is_empty() {
            let _ = writeln!(lists, "\n**Changed in `{}`**\n", f.path);
            for c in &f.changed {
                let _ = writeln!(lists, "- `{}`: {}", c.value, c.fields.join(", "));
            }
        }
    }
    let mut dropped: Vec<&DroppedEntry> = r
        .targets
        .first()
        .map(|t| t.newly_dropped.iter().collect())
        .unwrap_or_default();
    dropped.dedup_by(|a, b| a.value == b.value && a.file == b.file);
    if !dropped.is_empty() {
        let _ = writeln!(lists, "\n**Dropped by guardrails**\n");
        for d in dropped {
            let _ = writeln!(lists, "- `{}` ({}:{}): {}", d.value, d.file, d.line, d.why);
        }
    }
    push_capped(&mut out, &lists);
    for t in &r.targets {
        if t.script_diff.is_empty() {
            continue;
        }
        let head = format!(
            "\n<details><summary>Script diff for <code>{}</code> (+{} −{})</summary>\n\n```diff\n",
            t.name, t.script_lines_added, t.script_lines_removed
        );
        let tail = "```\n\n</details>\n";
        let room = MARKDOWN_LIMIT.saturating_sub(out.len() + head.len() + tail.len() + 200);
        out.push_str(&head);
        if t.script_diff.len() <= room {
            out.push_str(&t.script_diff);
        } else {
            let cut = floor_line(&t.script_diff, room);
            out.push_str(&t.script_diff[..cut]);
            let _ = writeln!(
                out,
                "... ({} more characters cut; run `blockops diff` locally for the rest)",
                t.script_diff.len() - cut
            );
        }
        out.push_str(tail);
    }
    out
}

fn push_capped(out: &mut String, text: &str) {
    let room = MARKDOWN_LIMIT.saturating_sub(out.len() + 400);
    if text.len() <= room {
        out.push_str(text);
    } else {
        let cut = floor_line(text, room);
        out.push_str(&text[..cut]);
        let _ = writeln!(
            out,
            "\n_… list cut at {MARKDOWN_LIMIT} characters; run `blockops diff` for the full list._"
        );
    }
}

/// Largest index ≤ `max` that ends a line (and is a char boundary).
fn floor_line(s: &str, max: usize) -> usize {
    let mut i = max.min(s.len());
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    match s[..i].rfind('\n') {
        Some(p) => p + 1,
        None => i,
    }
}
