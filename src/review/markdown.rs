//! The pull-request comment: heading with the indicator and policy summary, policy changes
//! (weakening first, marked), indicator changes, what a policy change does now, and the
//! script diffs — cut below [`MARKDOWN_LIMIT`] with a note.
use std::fmt::Write as _;

use super::DiffReport;
use super::policy::Effect;
use super::text::{describe, entry_line, grouped_effects, location, policy_summary};
use crate::workspace::DroppedEntry;

/// Longest markdown comment we produce (GitHub's limit is 65 536).
pub const MARKDOWN_LIMIT: usize = 60_000;

/// Room kept free after each capped section for the sections that must follow.
const TAIL_RESERVE: usize = 400;

fn code(s: &str) -> String {
    // A value containing a backtick is wrapped in double backticks (CommonMark).
    if s.contains('`') {
        format!("`` {s} ``")
    } else {
        format!("`{s}`")
    }
}

/// The heading line: what changed, in one line.
fn heading(r: &DiffReport<'_>) -> String {
    let s = &r.summary;
    let mut parts = Vec::new();
    if s.added + s.removed + s.changed > 0 {
        parts.push(format!(
            "+{} / −{} / ~{} indicators",
            s.added, s.removed, s.changed
        ));
    } else {
        parts.push("no indicator changes".to_string());
    }
    if s.policy_changes > 0 {
        parts.push(policy_summary(r));
    } else if s.added + s.removed + s.changed == 0 {
        parts.push("rendered scripts differ".to_string());
    }
    let mark = if s.policy_weakening > 0 {
        "⚠️ "
    } else {
        ""
    };
    format!("### {mark}blockops: {}", parts.join("; "))
}

/// A pull-request comment.
pub fn to_markdown(r: &DiffReport<'_>) -> String {
    let s = &r.summary;
    let mut out = String::new();
    if !s.has_changes {
        let _ = writeln!(
            out,
            "### blockops: no changes\n\n`{}` → `{}`: the blocklists render to identical scripts and the policy (configuration, allowlist, templates) is unchanged.",
            r.base, r.head
        );
        return out;
    }
    if s.policy_changes == 0 && s.added + s.removed + s.changed > 0 {
        // The indicator-only comment keeps its established form.
        let _ = writeln!(
            out,
            "### blockops: +{} / −{} / ~{} indicators\n\n`{}` → `{}`\n",
            s.added, s.removed, s.changed, r.base, r.head
        );
    } else {
        let _ = writeln!(out, "{}\n\n`{}` → `{}`\n", heading(r), r.base, r.head);
    }
    if s.policy_weakening > 0 {
        let _ = writeln!(
            out,
            "> ⚠️ **This change weakens protection** ({} of {} policy changes, marked below). What reviewers rely on — the guardrails, the allowlist, the brake on large removals, where credentials and changes go — is looser after it.\n",
            s.policy_weakening, s.policy_changes
        );
    }
    policy_section(r, &mut out);
    indicator_table(r, &mut out);
    push_capped(&mut out, &indicator_lists(r));
    push_capped(&mut out, &effects_section(r));
    script_diffs(r, &mut out);
    out
}

/// Longest template diff shown inline; the rest is cut with a note (the fence stays closed).
const TEMPLATE_DIFF_LIMIT: usize = 8_000;

/// Policy changes, weakening first, each a whole item (never cut inside its diff fence).
fn policy_section(r: &DiffReport<'_>, out: &mut String) {
    if r.policy.changes.is_empty() {
        return;
    }
    let _ = writeln!(out, "**Policy changes** (weakening first)\n");
    for (i, c) in r.policy.changes.iter().enumerate() {
        let mut item = String::new();
        let mark = match c.effect {
            Effect::Weakens => "⚠️ **weakens protection**: ",
            Effect::Strengthens => "strengthens: ",
            Effect::Neutral => "",
        };
        let _ = writeln!(
            item,
            "- {mark}{}{}",
            describe(c, code),
            location(c, &r.head)
        );
        if c.effect == Effect::Weakens {
            let _ = writeln!(item, "  <br>_{}_", c.why);
        }
        if let Some(d) = &c.diff {
            let cut = floor_line(d, TEMPLATE_DIFF_LIMIT);
            let more = if cut < d.len() {
                format!(
                    "  ... ({} more characters cut; run `blockops diff` locally)\n",
                    d.len() - cut
                )
            } else {
                String::new()
            };
            let _ = writeln!(
                item,
                "\n  <details><summary>diff of <code>{}</code></summary>\n\n  ```diff\n{}{more}  ```\n\n  </details>\n",
                c.key,
                indent(&d[..cut])
            );
        }
        if out.len() + item.len() + TAIL_RESERVE > MARKDOWN_LIMIT {
            let _ = writeln!(
                out,
                "\n_… {} more policy changes cut at {MARKDOWN_LIMIT} characters; run `blockops diff` for all of them._",
                r.policy.changes.len() - i
            );
            break;
        }
        out.push_str(&item);
    }
    out.push('\n');
}

fn indent(text: &str) -> String {
    let mut o = String::with_capacity(text.len() + text.len() / 20);
    for l in text.lines() {
        o.push_str("  ");
        o.push_str(l);
        o.push('\n');
    }
    o
}

fn indicator_table(r: &DiffReport<'_>, out: &mut String) {
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
}

fn indicator_lists(r: &DiffReport<'_>) -> String {
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
    lists
}

fn effects_section(r: &DiffReport<'_>) -> String {
    let mut o = String::new();
    for (names, e) in grouped_effects(&r.policy.effects) {
        let names: Vec<String> = names.iter().map(|n| code(n)).collect();
        let _ = writeln!(
            o,
            "\n**What the policy change does now** — indicators listed at `{}`, on {} {}\n",
            r.head,
            if names.len() == 1 {
                "target"
            } else {
                "targets"
            },
            names.join(", ")
        );
        if !e.newly_blocked.is_empty() {
            let _ = writeln!(o, "Newly blocked ({}):\n", e.newly_blocked.len());
            for c in &e.newly_blocked {
                let _ = writeln!(
                    o,
                    "- `{}` ({}:{}) — was dropped by {}: {}",
                    c.value, c.file, c.line, c.rule, c.detail
                );
            }
        }
        if !e.newly_unblocked.is_empty() {
            if !e.newly_blocked.is_empty() {
                o.push('\n');
            }
            let _ = writeln!(o, "No longer blocked ({}):\n", e.newly_unblocked.len());
            for c in &e.newly_unblocked {
                let _ = writeln!(
                    o,
                    "- `{}` ({}:{}) — now dropped by {}: {}",
                    c.value, c.file, c.line, c.rule, c.detail
                );
            }
        }
    }
    o
}

fn script_diffs(r: &DiffReport<'_>, out: &mut String) {
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
}

fn push_capped(out: &mut String, text: &str) {
    let room = MARKDOWN_LIMIT.saturating_sub(out.len() + TAIL_RESERVE);
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
