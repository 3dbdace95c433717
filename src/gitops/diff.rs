//! The reviewer's diff between two snapshots of the repository: which indicators were
//! added, removed or changed in each file, what that means per target, and the unified diff
//! of the rendered scripts. Text, markdown (pull-request comment) and JSON forms.
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;
use similar::{Algorithm, DiffTag};
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

    let (eff_a, eff_b) = std::thread::scope(|s| {
        let a = s.spawn(|| base.effective(today));
        let b = head.effective(today);
        (a.join(), b)
    });
    let eff_a = eff_a.map_err(|_| anyhow::anyhow!("computing the base state panicked"))?;
    let (blocked_added, blocked_removed) = sorted_difference(&eff_a, &eff_b);
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
        let (sa, sb) = std::thread::scope(|s| {
            let a = s.spawn(|| side_script(base, &eff_a, ta.as_ref(), preview));
            let b = side_script(head, &eff_b, tb.as_ref(), preview);
            (a.join(), b)
        });
        let sa = sa.map_err(|_| anyhow::anyhow!("rendering the base panicked"))??;
        let sb = sb?;
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
            blocked_added: blocked_added.clone(),
            blocked_removed: blocked_removed.clone(),
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

/// (newly blocked, no longer blocked) by a merge walk over the sorted effective lists.
fn sorted_difference(
    a: &crate::workspace::Effective<'_>,
    b: &crate::workspace::Effective<'_>,
) -> (Vec<String>, Vec<String>) {
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

/// Unified diff plus counts of added and removed lines.
///
/// Rendered scripts are long (five lines per object) and changes are scattered, which makes a
/// plain line diff slow. The scripts are first diffed as sequences of blocks (`edit … next` is
/// one token), then replaced block ranges are diffed line by line: the same unified output,
/// in milliseconds.
pub fn unified(a: &str, b: &str, name_a: &str, name_b: &str) -> (String, usize, usize) {
    if a == b {
        return (String::new(), 0, 0);
    }
    let la: Vec<&str> = a.lines().collect();
    let lb: Vec<&str> = b.lines().collect();
    let ba = blocks(&la);
    let bb = blocks(&lb);
    let ta: Vec<&[&str]> = ba.iter().map(|r| &la[r.clone()]).collect();
    let tb: Vec<&[&str]> = bb.iter().map(|r| &lb[r.clone()]).collect();
    let deadline = Some(std::time::Instant::now() + Duration::from_secs(10));
    let mut changes: Vec<(DiffTag, usize, usize)> = Vec::new(); // (tag, old line, new line)
    for op in similar::capture_diff_slices_deadline(Algorithm::Myers, &ta, &tb, deadline) {
        let (tag, or, nr) = op.as_tag_tuple();
        let old_lines = if or.is_empty() {
            ba.get(or.start).map_or(la.len(), |r| r.start)
                ..ba.get(or.start).map_or(la.len(), |r| r.start)
        } else {
            ba[or.start].start..ba[or.end - 1].end
        };
        let new_lines = if nr.is_empty() {
            bb.get(nr.start).map_or(lb.len(), |r| r.start)
                ..bb.get(nr.start).map_or(lb.len(), |r| r.start)
        } else {
            bb[nr.start].start..bb[nr.end - 1].end
        };
        match tag {
            DiffTag::Equal => {
                for (i, j) in old_lines.zip(new_lines) {
                    changes.push((DiffTag::Equal, i, j));
                }
            }
            DiffTag::Delete => changes.extend(old_lines.map(|i| (DiffTag::Delete, i, 0))),
            DiffTag::Insert => changes.extend(new_lines.map(|j| (DiffTag::Insert, 0, j))),
            DiffTag::Replace => {
                let (o0, n0) = (old_lines.start, new_lines.start);
                let sub = similar::capture_diff_slices_deadline(
                    Algorithm::Myers,
                    &la[old_lines],
                    &lb[new_lines],
                    deadline,
                );
                for op in sub {
                    let (t, r1, r2) = op.as_tag_tuple();
                    match t {
                        DiffTag::Equal => changes
                            .extend(r1.zip(r2).map(|(i, j)| (DiffTag::Equal, o0 + i, n0 + j))),
                        DiffTag::Delete => changes.extend(r1.map(|i| (DiffTag::Delete, o0 + i, 0))),
                        DiffTag::Insert => changes.extend(r2.map(|j| (DiffTag::Insert, 0, n0 + j))),
                        DiffTag::Replace => {
                            changes.extend(r1.map(|i| (DiffTag::Delete, o0 + i, 0)));
                            changes.extend(r2.map(|j| (DiffTag::Insert, 0, n0 + j)));
                        }
                    }
                }
            }
        }
    }
    let plus = changes.iter().filter(|c| c.0 == DiffTag::Insert).count();
    let minus = changes.iter().filter(|c| c.0 == DiffTag::Delete).count();
    (
        format_unified(&changes, &la, &lb, name_a, name_b, 3),
        plus,
        minus,
    )
}

/// Token boundaries: each `    edit …` up to its `    next` is one block, every other line
/// is a block of its own.
fn blocks(lines: &[&str]) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::with_capacity(lines.len() / 4 + 8);
    let mut i = 0;
    while i < lines.len() {
        if lines[i].starts_with("    edit ") {
            let mut j = i + 1;
            while j < lines.len()
                && lines[j] != "    next"
                && !lines[j].starts_with("    edit ")
                && lines[j] != "end"
            {
                j += 1;
            }
            let end = if j < lines.len() && lines[j] == "    next" {
                j + 1
            } else {
                j
            };
            out.push(i..end);
            i = end;
        } else {
            out.push(i..i + 1);
            i += 1;
        }
    }
    out
}

/// Classic unified-diff hunks from a line-level change list.
fn format_unified(
    changes: &[(DiffTag, usize, usize)],
    la: &[&str],
    lb: &[&str],
    name_a: &str,
    name_b: &str,
    ctx: usize,
) -> String {
    let mut out = format!("--- {name_a}\n+++ {name_b}\n");
    let n = changes.len();
    let mut i = 0;
    while i < n {
        // Find the next change.
        while i < n && changes[i].0 == DiffTag::Equal {
            i += 1;
        }
        if i == n {
            break;
        }
        let start = i.saturating_sub(ctx);
        // Extend while changes are within 2*ctx of each other.
        let mut end = i;
        let mut last_change = i;
        while end < n {
            if changes[end].0 != DiffTag::Equal {
                last_change = end;
            } else if end - last_change > 2 * ctx {
                break;
            }
            end += 1;
        }
        let end = (last_change + ctx + 1).min(n);
        let hunk = &changes[start..end];
        let old_count = hunk.iter().filter(|c| c.0 != DiffTag::Insert).count();
        let new_count = hunk.iter().filter(|c| c.0 != DiffTag::Delete).count();
        let old_start = hunk
            .iter()
            .find(|c| c.0 != DiffTag::Insert)
            .map(|c| c.1 + 1)
            .unwrap_or_else(|| first_old_before(changes, start));
        let new_start = hunk
            .iter()
            .find(|c| c.0 != DiffTag::Delete)
            .map(|c| c.2 + 1)
            .unwrap_or_else(|| first_new_before(changes, start));
        out.push_str(&format!(
            "@@ -{} +{} @@\n",
            range_str(old_start, old_count),
            range_str(new_start, new_count)
        ));
        for c in hunk {
            match c.0 {
                DiffTag::Equal => {
                    out.push(' ');
                    out.push_str(la[c.1]);
                }
                DiffTag::Delete => {
                    out.push('-');
                    out.push_str(la[c.1]);
                }
                _ => {
                    out.push('+');
                    out.push_str(lb[c.2]);
                }
            }
            out.push('\n');
        }
        i = end;
    }
    out
}

fn range_str(start: usize, count: usize) -> String {
    if count == 1 {
        format!("{start}")
    } else {
        format!("{start},{count}")
    }
}

/// For a hunk without old lines: the old line number it follows (0 at the top).
fn first_old_before(changes: &[(DiffTag, usize, usize)], at: usize) -> usize {
    changes[..at]
        .iter()
        .rev()
        .find(|c| c.0 != DiffTag::Insert)
        .map(|c| c.1 + 1)
        .unwrap_or(0)
}

fn first_new_before(changes: &[(DiffTag, usize, usize)], at: usize) -> usize {
    changes[..at]
        .iter()
        .rev()
        .find(|c| c.0 != DiffTag::Delete)
        .map(|c| c.2 + 1)
        .unwrap_or(0)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The block-wise diff gives the same hunks as a plain line diff.
    #[test]
    fn block_diff_matches_a_plain_unified_diff() {
        let a = "config firewall address\n    edit \"a\"\n        set subnet 1\n    next\n    edit \"b\"\n        set subnet 2\n    next\n    edit \"c\"\n        set subnet 3\n    next\nend\nconfig firewall addrgrp\n    edit \"g\"\n        set member \"a\" \"b\" \"c\"\n        set comment \"x\"\n    next\nend\n";
        let b = a
            .replace("    edit \"b\"\n        set subnet 2\n    next\n", "")
            .replace("\"a\" \"b\" \"c\"", "\"a\" \"c\" \"d\"")
            .replace(
                "end\nconfig firewall addrgrp",
                "    edit \"d\"\n        set subnet 4\n    next\nend\nconfig firewall addrgrp",
            );
        let (ours, plus, minus) = unified(a, &b, "a/x", "b/x");
        let reference = similar::TextDiff::from_lines(a, b.as_str())
            .unified_diff()
            .context_radius(3)
            .header("a/x", "b/x")
            .to_string();
        assert_eq!(ours, reference);
        assert_eq!((plus, minus), (4, 4));
        assert_eq!(unified(a, a, "a", "b"), (String::new(), 0, 0));
        // Insertion at the very top and deletion at the very end.
        let c = format!("config vdom\n{a}");
        assert_eq!(
            unified(a, &c, "a", "b").0,
            similar::TextDiff::from_lines(a, c.as_str())
                .unified_diff()
                .context_radius(3)
                .header("a", "b")
                .to_string()
        );
        let d = a.trim_end_matches("end\n");
        assert_eq!(
            unified(a, d, "a", "b").0,
            similar::TextDiff::from_lines(a, d)
                .unified_diff()
                .context_radius(3)
                .header("a", "b")
                .to_string()
        );
    }
}
