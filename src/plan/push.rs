//! Pushing a verified script line by line (SPEC guarantee 6): every reply is checked against
//! the error patterns; a failure inside an `edit` sends `abort` — never `next`, which would
//! save a half-configured object such as a `0.0.0.0 0.0.0.0` address — then leaves every open
//! block with `end` (and aborts the transaction), and reports exactly what was applied.
use crate::fortios::device::find_error;
use crate::fortios::parse::words;
use crate::fortios::ssh::Session;
use crate::fortios::writer::{ABORT, END, TX_ABORT};

/// What happened to a script.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PushReport {
    /// Non-empty script lines.
    pub total: usize,
    /// Lines sent and accepted (1-based line numbers `1..=applied` of the non-empty lines).
    pub applied: usize,
    /// The failing line: (1-based number, text, device error).
    pub failed: Option<(usize, String, String)>,
    /// The connection broke after `applied` lines.
    pub disconnected: Option<String>,
    /// Lines sent to clean up after a failure (`abort`, `end`, transaction abort).
    pub cleanup: Vec<String>,
}

impl PushReport {
    pub fn ok(&self) -> bool {
        self.failed.is_none() && self.disconnected.is_none()
    }

    /// One paragraph for the operator.
    pub fn describe(&self) -> String {
        if let Some((n, line, err)) = &self.failed {
            format!(
                "line {n} of {} failed: `{line}`: {err}; lines 1-{} were applied, line {n} and the {} after it were not{}",
                self.total,
                self.applied,
                self.total - n,
                if self.cleanup.is_empty() {
                    String::new()
                } else {
                    format!(" (sent: {})", self.cleanup.join(", "))
                }
            )
        } else if let Some(e) = &self.disconnected {
            format!(
                "connection lost after {} of {} lines ({e}); the lines after that were not applied — \
                 run `blockops plan` again and apply the new plan to converge",
                self.applied, self.total
            )
        } else {
            format!("all {} lines applied", self.total)
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ctx {
    Top,
    Vdom,
    InVdom,
    Table,
    Entry,
}

/// Push `script`; stops at the first failing line.
pub async fn push(s: &mut Session, script: &str, patterns: &[String]) -> PushReport {
    push_with_progress(s, script, patterns, &|_, _| {}).await
}

/// [`push`], calling `progress(accepted, total)` after every accepted line (for a progress bar).
pub async fn push_with_progress(
    s: &mut Session,
    script: &str,
    patterns: &[String],
    progress: &(dyn Fn(usize, usize) + Sync),
) -> PushReport {
    let lines: Vec<&str> = script
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let mut r = PushReport {
        total: lines.len(),
        ..Default::default()
    };
    let mut ctx = Ctx::Top;
    let mut stack: Vec<Ctx> = Vec::new();
    let mut in_transaction = false;
    for (i, line) in lines.iter().enumerate() {
        let out = match s.cmd(line).await {
            Ok(o) => o,
            Err(e) => {
                r.disconnected = Some(format!("{e:#}"));
                return r;
            }
        };
        let w = words(line);
        let verb = w.first().map(String::as_str).unwrap_or("");
        if let Some(err) = find_error(&out, patterns) {
            let entry_name = (verb == "edit" && ctx == Ctx::Table)
                .then(|| w.get(1).cloned())
                .flatten();
            let inside_entry =
                ctx == Ctx::Entry || entry_name.is_some_and(|n| s.scope() == Some(n.as_str()));
            r.failed = Some((i + 1, line.to_string(), err.trim().to_string()));
            cleanup(s, &mut r, inside_entry, in_transaction).await;
            return r;
        }
        r.applied = i + 1;
        progress(r.applied, r.total);
        match (ctx, verb) {
            (Ctx::Top, "execute") if w.get(2).map(String::as_str) == Some("start") => {
                in_transaction = true
            }
            (Ctx::Top, "execute") if w.get(2).map(String::as_str) == Some("commit") => {
                in_transaction = false
            }
            (Ctx::Top, "config") if w.get(1).map(String::as_str) == Some("vdom") => {
                stack.push(ctx);
                ctx = Ctx::Vdom
            }
            (Ctx::Vdom, "edit") => ctx = Ctx::InVdom,
            (Ctx::Top | Ctx::InVdom, "config") => {
                stack.push(ctx);
                ctx = Ctx::Table
            }
            (Ctx::Table, "edit") => ctx = Ctx::Entry,
            (Ctx::Entry, "next" | "abort") => ctx = Ctx::Table,
            (Ctx::Table | Ctx::InVdom | Ctx::Vdom, "end") => ctx = stack.pop().unwrap_or(Ctx::Top),
            _ => {}
        }
    }
    r
}

async fn cleanup(s: &mut Session, r: &mut PushReport, inside_entry: bool, in_transaction: bool) {
    if inside_entry {
        r.cleanup.push(ABORT.into());
        if s.cmd(ABORT).await.is_err() {
            return;
        }
    }
    // Leave every open block; `end` after `abort` saves nothing of the aborted entry.
    for _ in 0..6 {
        if s.at_top() {
            break;
        }
        r.cleanup.push(END.into());
        if s.cmd(END).await.is_err() {
            return;
        }
    }
    if in_transaction {
        r.cleanup.push(TX_ABORT.into());
        let _ = s.cmd(TX_ABORT).await;
    }
}
