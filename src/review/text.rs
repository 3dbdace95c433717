//! Plain-text rendering of a [`DiffReport`] for terminals and CI logs, and the wording of
//! policy changes shared with the markdown form.
use std::fmt::Write as _;

use crate::blocklist::Entry;

use super::DiffReport;
use super::policy::rules::{self, Shape};
use super::policy::{Consequence, Effect, Kind, Op, PolicyChange, PolicyEffect};

/// One entry on one line: value, type and provenance.
pub(super) fn entry_line(e: &Entry) -> String {
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

/// "3 policy changes, 2 weaken protection" / "1 policy change, none weakens protection".
pub(super) fn policy_summary(r: &DiffReport<'_>) -> String {
    let (n, w) = (r.summary.policy_changes, r.summary.policy_weakening);
    let changes = if n == 1 { "change" } else { "changes" };
    match w {
        0 => format!("{n} policy {changes}, none weakens protection"),
        1 => format!("{n} policy {changes}, 1 weakens protection"),
        _ => format!("{n} policy {changes}, {w} weaken protection"),
    }
}

/// What changed, in words; `code` wraps keys and values (backticks in markdown).
pub(super) fn describe(c: &PolicyChange, code: fn(&str) -> String) -> String {
    let v = |s: &Option<String>| code(s.as_deref().unwrap_or("(unset)"));
    let key = code(&c.key);
    match c.kind {
        Kind::Config => match (shape(c), c.op) {
            (_, Op::Changed) => format!("{key}: {} → {}", v(&c.before), v(&c.after)),
            (Shape::Keyed, Op::Added) => format!("{key} added: {}", v(&c.after)),
            (Shape::Keyed, Op::Removed) => format!("{key} removed (was {})", v(&c.before)),
            (Shape::Set, Op::Added) => format!("{key}: {} added", v(&c.after)),
            (Shape::Set, Op::Removed) => format!("{key}: {} removed", v(&c.before)),
            (Shape::Leaf, Op::Added) => format!("{key}: (unset) → {}", v(&c.after)),
            (Shape::Leaf, Op::Removed) => format!("{key}: {} → (unset)", v(&c.before)),
        },
        Kind::Allowlist => {
            // `before`/`after` read "value (comment)": show the value as the key.
            let comment = |s: &Option<String>| {
                s.as_deref()
                    .and_then(|s| s.strip_prefix(c.key.as_str()))
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(|s| format!(" {s}"))
                    .unwrap_or_default()
            };
            match c.op {
                Op::Added => format!("allowlist entry {key}{} added", comment(&c.after)),
                Op::Removed => format!("allowlist entry {key}{} removed", comment(&c.before)),
                Op::Changed => format!(
                    "allowlist entry {key}: comment{} →{}",
                    comment(&c.before),
                    comment(&c.after)
                ),
            }
        }
        Kind::Template => match c.op {
            Op::Changed => format!(
                "template {key} changed ({} → {})",
                c.before.as_deref().unwrap_or(""),
                c.after.as_deref().unwrap_or("")
            ),
            Op::Added => format!("template {key} added"),
            Op::Removed => format!("template {key} removed"),
        },
        Kind::File => match c.op {
            Op::Added => format!("file {key} added"),
            Op::Removed => format!("file {key} removed"),
            Op::Changed => format!("file {key} changed"),
        },
    }
}

/// The shape of the rule that classified a configuration change.
fn shape(c: &PolicyChange) -> Shape {
    rules::lookup(c.rule).map_or(Shape::Leaf, |r| r.shape)
}

/// ` (blockops.yaml:7)`, ` (blocklists/allowlist.yaml:2 at abc123)` for something removed.
pub(super) fn location(c: &PolicyChange, head: &str) -> String {
    let at = if c.rev != head {
        format!(" at {}", c.rev)
    } else {
        String::new()
    };
    match (c.kind, c.line) {
        (Kind::File | Kind::Template, _) => String::new(),
        (_, 0) => format!(" ({}{at})", c.file),
        (_, l) => format!(" ({}:{l}{at})", c.file),
    }
}

/// Effects that are the same on several targets, grouped: (target names, effect).
pub(super) fn grouped_effects(effects: &[PolicyEffect]) -> Vec<(Vec<&str>, &PolicyEffect)> {
    let key = |e: &PolicyEffect| {
        let v = |c: &[Consequence]| c.iter().map(|x| x.value.clone()).collect::<Vec<_>>();
        (v(&e.newly_blocked), v(&e.newly_unblocked))
    };
    let mut out: Vec<(Vec<&str>, &PolicyEffect)> = Vec::new();
    for e in effects {
        match out.iter_mut().find(|(_, g)| key(g) == key(e)) {
            Some((names, _)) => names.push(&e.target),
            None => out.push((vec![&e.target], e)),
        }
    }
    out
}

fn plain(s: &str) -> String {
    s.to_string()
}

/// Plain-text rendering for terminals and CI logs.
pub fn to_text(r: &DiffReport<'_>) -> String {
    let mut out = String::new();
    let _ = render(r, &mut out);
    out
}

/// [`to_text`] written straight to `w`: the report's script diffs are not copied into one
/// more string first.
pub fn write_text(r: &DiffReport<'_>, w: &mut dyn std::io::Write) -> std::io::Result<()> {
    struct Adapter<'a> {
        w: &'a mut dyn std::io::Write,
        err: Option<std::io::Error>,
    }
    impl std::fmt::Write for Adapter<'_> {
        fn write_str(&mut self, s: &str) -> std::fmt::Result {
            self.w.write_all(s.as_bytes()).map_err(|e| {
                self.err = Some(e);
                std::fmt::Error
            })
        }
    }
    let mut a = Adapter { w, err: None };
    match render(r, &mut a) {
        Ok(()) => Ok(()),
        Err(_) => Err(a
            .err
            .unwrap_or_else(|| std::io::Error::other("formatting the diff failed"))),
    }
}

fn render(r: &DiffReport<'_>, out: &mut impl std::fmt::Write) -> std::fmt::Result {
    let s = &r.summary;
    write!(
        out,
        "blockops diff {} -> {}: +{} -{} ~{} entries",
        r.base, r.head, s.added, s.removed, s.changed
    )?;
    if s.policy_changes > 0 {
        write!(out, "; {}", policy_summary(r))?;
    }
    out.write_char('\n')?;
    if !r.policy.changes.is_empty() {
        out.write_str("\npolicy:\n")?;
        for c in &r.policy.changes {
            let mark = match c.effect {
                Effect::Weakens => "WEAKENS     ",
                Effect::Strengthens => "strengthens ",
                Effect::Neutral => "neutral     ",
            };
            writeln!(
                out,
                "  {mark}{}{}",
                describe(c, plain),
                location(c, &r.head)
            )?;
            if c.effect == Effect::Weakens {
                writeln!(out, "              {}", c.why)?;
            }
            if let Some(d) = &c.diff {
                out.write_str(d)?;
            }
        }
    }
    for (names, e) in grouped_effects(&r.policy.effects) {
        writeln!(
            out,
            "\npolicy effect on {} {}: {} newly blocked, {} no longer blocked",
            if names.len() == 1 {
                "target"
            } else {
                "targets"
            },
            names.join(", "),
            e.newly_blocked.len(),
            e.newly_unblocked.len()
        )?;
        for c in &e.newly_blocked {
            writeln!(
                out,
                "  + {} ({}:{}) was dropped by {}: {}",
                c.value, c.file, c.line, c.rule, c.detail
            )?;
        }
        for c in &e.newly_unblocked {
            writeln!(
                out,
                "  - {} ({}:{}) now dropped by {}: {}",
                c.value, c.file, c.line, c.rule, c.detail
            )?;
        }
    }
    for f in &r.files {
        if f.added.is_empty() && f.removed.is_empty() && f.changed.is_empty() {
            continue;
        }
        writeln!(out, "\n{}:", f.path)?;
        for e in &f.added {
            writeln!(out, "  + {}", entry_line(e))?;
        }
        for e in &f.removed {
            writeln!(out, "  - {}", entry_line(e))?;
        }
        for c in &f.changed {
            writeln!(out, "  ~ {} ({} changed)", c.value, c.fields.join(", "))?;
        }
    }
    for t in &r.targets {
        writeln!(
            out,
            "\ntarget {}: {} newly blocked, {} unblocked, script +{} -{} lines",
            t.name,
            t.blocked_added.len(),
            t.blocked_removed.len(),
            t.script_lines_added,
            t.script_lines_removed
        )?;
        for d in &t.newly_dropped {
            writeln!(
                out,
                "  dropped {} ({}:{}): {}",
                d.value, d.file, d.line, d.why
            )?;
        }
        if !t.script_diff.is_empty() {
            out.write_str(&t.script_diff)?;
        }
    }
    Ok(())
}
