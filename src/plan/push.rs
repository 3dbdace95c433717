//! Pushing a verified script (SPEC guarantee 6, issue #12): every reply is checked against the
//! error patterns and every echo against the line sent; after a failure the session sends
//! `abort` — never `next`, which would save a half-configured object such as a `0.0.0.0
//! 0.0.0.0` address — then `end` until the top level, and aborts the transaction.
//!
//! **Outside a transaction every line waits for its reply.** A line sent before the previous
//! one was confirmed would run even if that one failed: a `next` behind a failed `set subnet`
//! saves the entry with the match-all default subnet.
//!
//! **Inside a transaction** (`execute config-transaction start` … `commit`, FortiOS 6.2+
//! "Workspace mode") nothing is applied until the commit, so lines need not wait for each
//! prompt: after the device confirmed that the transaction started, up to `window_lines`
//! lines / `window_bytes` bytes are in flight, and each reply is taken from the stream in order
//! (`fortios::stream`), its echo compared with the line sent and its output checked exactly
//! as in the line-by-line path. The window drains before each `config firewall` block (so lines
//! in flight never reach from the address tables into the groups) and before the commit, which
//! is sent only when every earlier line was confirmed. On the first error nothing more is sent,
//! the lines already in flight are read, and the transaction is aborted.
//!
//! Whether FortiOS keeps a transaction open after a failed line is not documented [U]. If the
//! device ends it itself (its reply says the transaction was aborted or expired, or our abort
//! finds none), the lines already in flight behind the failure ran outside it: the report
//! names them, and a new plan converges.
use std::collections::VecDeque;

use crate::fortios::device::find_error;
use crate::fortios::ssh::{Session, SshError};
use crate::fortios::writer::{ABORT, END, TX_ABORT, TX_COMMIT, TX_START};

/// How to push.
#[derive(Debug, Clone)]
pub struct PushOptions {
    /// Text in a reply that marks a line as failed.
    pub patterns: Vec<String>,
    /// Lines in flight inside a transaction (1: wait for every reply).
    pub window_lines: usize,
    /// Bytes (lines with their line ends) in flight inside a transaction.
    pub window_bytes: usize,
}

impl PushOptions {
    /// The options of a configured target.
    pub fn for_target(t: &crate::config::Target) -> PushOptions {
        PushOptions {
            patterns: t.error_patterns.clone(),
            window_lines: t.window_lines,
            window_bytes: t.window_bytes,
        }
    }
}

/// How a transaction ended when the push did not get to commit it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxEnd {
    /// blockops aborted it: nothing was applied.
    Aborted,
    /// The device ended it before blockops could (its reply is quoted): nothing before the
    /// failure was applied, but the lines in `outside` ran outside any transaction.
    EndedByDevice {
        why: String,
        outside: Vec<(usize, String)>,
    },
    /// The connection was lost: FortiOS discards an uncommitted transaction (its object
    /// locks last until the idle timeout).
    Lost,
    /// The connection was lost while the commit was in flight: committed or not is unknown.
    CommitUnknown,
    /// blockops' `abort` of the transaction was not confirmed (after an echo mismatch the CLI
    /// may be in a state blockops cannot see, e.g. inside an unterminated quote). The
    /// transaction was never committed: FortiOS discards it when the session ends, which
    /// blockops does right after.
    NotConfirmed { reply: String },
}

/// What happened to a script.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PushReport {
    /// Non-empty script lines.
    pub total: usize,
    /// Lines the device confirmed, in order (1-based numbers `1..=confirmed`).
    pub confirmed: usize,
    /// The failing line: (1-based number, text, device error or echo mismatch).
    pub failed: Option<(usize, String, String)>,
    /// The connection broke after `confirmed` lines.
    pub disconnected: Option<String>,
    /// Lines sent to clean up after a failure (`abort`, `end`, transaction abort).
    pub cleanup: Vec<String>,
    /// The script runs inside a transaction.
    pub transaction: bool,
    /// The transaction was committed.
    pub committed: bool,
    /// How the transaction ended without a commit.
    pub tx_end: Option<TxEnd>,
    /// Most lines that were in flight at once.
    pub max_in_flight: usize,
}

impl PushReport {
    pub fn ok(&self) -> bool {
        self.failed.is_none() && self.disconnected.is_none()
    }

    /// Script lines whose effect is on the device: every confirmed line without a
    /// transaction, all or nothing with one.
    pub fn applied(&self) -> usize {
        if !self.transaction {
            self.confirmed
        } else if self.committed {
            self.total
        } else {
            0
        }
    }

    fn sent_cleanup(&self) -> String {
        if self.cleanup.is_empty() {
            String::new()
        } else {
            format!(" (sent: {})", self.cleanup.join(", "))
        }
    }

    /// One paragraph for the operator.
    pub fn describe(&self) -> String {
        let replan = "run `blockops plan` again and apply the new plan to converge";
        if let Some((n, line, err)) = &self.failed {
            let head = format!("line {n} of {} failed: `{line}`: {err}", self.total);
            let hint = permission_hint(err);
            return match &self.tx_end {
                Some(TxEnd::Aborted) => format!(
                    "{head}; the transaction was aborted, nothing was applied{}{hint}",
                    self.sent_cleanup()
                ),
                Some(TxEnd::EndedByDevice { why, outside }) => {
                    let list: Vec<String> =
                        outside.iter().map(|(i, l)| format!("{i}: `{l}`")).collect();
                    format!(
                        "{head}; the device ended the transaction itself ({why}), so nothing before line {n} \
                         was applied{}{}{hint}; {replan}",
                        if list.is_empty() {
                            String::from(" and no line ran outside it")
                        } else {
                            format!(
                                ", but {} line(s) already sent ran outside it: {}",
                                list.len(),
                                list.join(", ")
                            )
                        },
                        self.sent_cleanup()
                    )
                }
                Some(TxEnd::NotConfirmed { reply }) => format!(
                    "{head}; blockops could not confirm that it aborted the transaction ({reply}), but it never \
                     committed it: FortiOS discards an uncommitted transaction when the session ends (its \
                     object locks may last until the idle timeout), so nothing was applied{}{hint}; {replan}",
                    self.sent_cleanup()
                ),
                Some(TxEnd::CommitUnknown) => format!(
                    "{head}; it was the commit, so whether the change was committed is unknown{}; {replan} \
                     (it reads what the device holds)",
                    self.sent_cleanup()
                ),
                _ => format!(
                    "{head}; {} applied, line {n} and the {} after it were not{}{hint}",
                    match self.confirmed {
                        0 => "no line was".to_string(),
                        1 => "line 1 was".to_string(),
                        c => format!("lines 1-{c} were"),
                    },
                    self.total - n,
                    self.sent_cleanup()
                ),
            };
        }
        if let Some(e) = &self.disconnected {
            return match &self.tx_end {
                Some(TxEnd::CommitUnknown) => format!(
                    "connection lost while committing the transaction ({e}): whether the change was committed \
                     is unknown; {replan} (it reads what the device holds)"
                ),
                Some(_) => format!(
                    "connection lost after {} of {} lines ({e}), inside a transaction that was not committed: \
                     FortiOS discards it, nothing was applied (its object locks may last until the \
                     transaction's idle timeout); {replan}",
                    self.confirmed, self.total
                ),
                None => format!(
                    "connection lost after {} of {} lines ({e}); the lines after that were not applied — {replan}",
                    self.confirmed, self.total
                ),
            };
        }
        if self.transaction {
            format!(
                "all {} lines applied in one transaction (up to {} in flight)",
                self.total, self.max_in_flight
            )
        } else {
            format!("all {} lines applied", self.total)
        }
    }
}

/// The device's whole reply to a failed line on one line (`Permission denied / Command fail.
/// Return code -37`): the line that matched an error pattern alone often lacks the reason.
fn reply_text(out: &str) -> String {
    out.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" / ")
}

/// A pointer for permission refusals (`-14`, `-37`): the administrator cannot write.
fn permission_hint(err: &str) -> &'static str {
    if err.contains("Permission denied") || err.contains("-37") || err.contains("-14") {
        " — the administrator's access profile may not change firewall addresses (a read-only \
         profile?); see README \"Least-privilege administrator\""
    } else {
        ""
    }
}

/// The device's reply to `start` confirms a transaction: `config transaction (id=1) started`
/// (a FortiOS 7.x session shown on sadrithmina.de, 2025-06) or `config transaction id=1
/// started` [U: both forms accepted].
fn confirms_start(out: &str) -> bool {
    out.lines()
        .any(|l| l.contains("config transaction") && l.trim_end().ends_with("started"))
}

/// The device says it ended the transaction: `… aborted` [U] or `config transaction id=1 has
/// expired` (Fortinet KB 199281).
fn ends_transaction(out: &str) -> Option<String> {
    out.lines()
        .find(|l| {
            l.contains("config transaction")
                && (l.trim_end().ends_with("aborted") || l.contains("expired"))
        })
        .map(|l| l.trim().to_string())
}

/// A line that starts a table block: the window drains before it.
fn barrier(line: &str) -> bool {
    line.starts_with("config firewall ") || line == TX_COMMIT
}

/// Push `script` with the target's options; stops at the first failing line.
pub async fn push(s: &mut Session, script: &str, o: &PushOptions) -> PushReport {
    push_with_progress(s, script, o, &|_, _| {}).await
}

/// [`push`], calling `progress(confirmed, total)` after every confirmed line.
pub async fn push_with_progress(
    s: &mut Session,
    script: &str,
    o: &PushOptions,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> PushReport {
    let lines: Vec<&str> = script
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let tx = lines.first() == Some(&TX_START);
    let mut r = PushReport {
        total: lines.len(),
        transaction: tx,
        ..Default::default()
    };
    // One line at a time until the device confirmed the transaction.
    let (mut win_lines, mut win_bytes) = (1usize, usize::MAX);
    let mut next = 0usize;
    let mut in_flight: VecDeque<usize> = VecDeque::new();
    let mut bytes = 0usize;
    loop {
        let mut batch: Vec<&str> = Vec::new();
        while next < lines.len() {
            let len = lines[next].len() + 1;
            let fits = in_flight.is_empty()
                || (!barrier(lines[next])
                    && in_flight.len() < win_lines
                    && bytes + len <= win_bytes);
            if !fits {
                break;
            }
            batch.push(lines[next]);
            in_flight.push_back(next);
            bytes += len;
            next += 1;
        }
        r.max_in_flight = r.max_in_flight.max(in_flight.len());
        if !batch.is_empty()
            && let Err(e) = s.send_lines(&batch).await
        {
            lost(s, &mut r, &lines, &in_flight, &e.to_string());
            return r;
        }
        let Some(&i) = in_flight.front() else {
            return r;
        };
        match s.next_reply(lines[i]).await {
            Ok(out) => {
                in_flight.pop_front();
                bytes -= lines[i].len() + 1;
                if find_error(&out, &o.patterns).is_some() {
                    r.failed = Some((i + 1, lines[i].to_string(), reply_text(&out)));
                    let ended = ends_transaction(&out);
                    fail(s, &mut r, &lines, in_flight, ended, o).await;
                    return r;
                }
                if tx && i == 0 {
                    if !confirms_start(&out) {
                        r.failed = Some((
                            1,
                            lines[0].to_string(),
                            format!(
                                "the device did not confirm that a transaction started (reply: {:?}); nothing was sent after it",
                                out.trim()
                            ),
                        ));
                        fail(s, &mut r, &lines, in_flight, None, o).await;
                        return r;
                    }
                    (win_lines, win_bytes) = (o.window_lines.max(1), o.window_bytes);
                }
                if tx && lines[i] == TX_COMMIT {
                    r.committed = true;
                }
                r.confirmed = i + 1;
                progress(r.confirmed, r.total);
            }
            Err(SshError::EchoMismatch { expected: _, got }) => {
                r.failed = Some((
                    i + 1,
                    lines[i].to_string(),
                    format!(
                        "the device echoed `{got}` instead: input was lost or changed on the way, so what it ran is unknown"
                    ),
                ));
                if tx && lines[i] == TX_COMMIT {
                    // What the device ran instead of the commit is unknown.
                    r.tx_end = Some(TxEnd::CommitUnknown);
                    return r;
                }
                // The stream is out of step: skip reading the rest, resynchronise in cleanup.
                cleanup(s, &mut r, o, None, true).await;
                return r;
            }
            Err(e) => {
                lost(s, &mut r, &lines, &in_flight, &e.to_string());
                return r;
            }
        }
    }
}

/// The connection broke with `in_flight` lines unanswered.
fn lost(s: &mut Session, r: &mut PushReport, lines: &[&str], in_flight: &VecDeque<usize>, e: &str) {
    if let (Some(a), Some(b)) = (in_flight.front(), in_flight.back()) {
        s.note(&format!("sent, never answered: lines {}-{}", a + 1, b + 1));
    }
    r.disconnected = Some(e.to_string());
    if r.transaction && !r.committed {
        let commit_sent = in_flight.iter().any(|&i| lines[i] == TX_COMMIT);
        r.tx_end = Some(if commit_sent {
            TxEnd::CommitUnknown
        } else {
            TxEnd::Lost
        });
    }
}

/// After a failing line: read the replies still in flight (in order), then clean up.
async fn fail(
    s: &mut Session,
    r: &mut PushReport,
    lines: &[&str],
    mut in_flight: VecDeque<usize>,
    mut ended: Option<String>,
    o: &PushOptions,
) {
    let mut outside = Vec::new();
    let mut resync = false;
    while let Some(j) = in_flight.pop_front() {
        match s.next_reply(lines[j]).await {
            Ok(out) => {
                let failed = find_error(&out, &o.patterns).is_some();
                if ended.is_some() && !failed {
                    outside.push((j + 1, lines[j].to_string()));
                }
                if ended.is_none() {
                    ended = ends_transaction(&out);
                }
            }
            Err(SshError::EchoMismatch { .. }) => {
                resync = true;
                break;
            }
            Err(e) => {
                in_flight.push_front(j);
                lost(s, r, lines, &in_flight, &e.to_string());
                return;
            }
        }
    }
    let ended = ended.map(|why| (why, outside));
    cleanup(s, r, o, ended, resync).await;
}

/// Leave every open block (`abort` first, which discards an open entry and never saves it;
/// then `end` until the top level) and abort the transaction. Each cleanup line waits for its
/// own echo (`Session::cmd`), behind whatever the device still prints for lines sent before,
/// so this also brings a stream that is out of step (an echo mismatch, `resync`) back in
/// step; then the last prompt seen says nothing, and `abort` is sent anyway (at the top level
/// it is a harmless parse error).
async fn cleanup(
    s: &mut Session,
    r: &mut PushReport,
    o: &PushOptions,
    ended: Option<(String, Vec<(usize, String)>)>,
    resync: bool,
) {
    if resync || !s.at_top() {
        r.cleanup.push(ABORT.into());
        if s.cmd(ABORT).await.is_err() {
            return;
        }
        for _ in 0..6 {
            if s.at_top() {
                break;
            }
            r.cleanup.push(END.into());
            if s.cmd(END).await.is_err() {
                return;
            }
        }
    }
    if !r.transaction || r.committed {
        return;
    }
    if let Some((why, outside)) = ended {
        r.tx_end = Some(TxEnd::EndedByDevice { why, outside });
        return;
    }
    r.cleanup.push(TX_ABORT.into());
    r.tx_end = Some(match s.cmd(TX_ABORT).await {
        Ok(out) if find_error(&out, &o.patterns).is_none() => TxEnd::Aborted,
        // The device has no transaction open any more: it ended it itself.
        Ok(out) if out.contains("no config transaction") => TxEnd::EndedByDevice {
            why: format!("`{TX_ABORT}` answered {:?}", out.trim()),
            outside: Vec::new(),
        },
        Ok(out) => TxEnd::NotConfirmed {
            reply: format!("`{TX_ABORT}` answered {:?}", out.trim()),
        },
        Err(_) => TxEnd::Lost,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transaction_replies() {
        assert!(confirms_start("config transaction (id=1) started"));
        assert!(confirms_start("config transaction id=7 started\n"));
        assert!(!confirms_start(""));
        assert_eq!(
            ends_transaction("x\nconfig transaction id=1 has expired"),
            Some("config transaction id=1 has expired".into())
        );
        assert!(ends_transaction("config transaction id=2 aborted").is_some());
        assert!(ends_transaction("config transaction id=2 started").is_none());
    }

    #[test]
    fn reports_say_what_was_applied() {
        let mut r = PushReport {
            total: 10,
            confirmed: 4,
            failed: Some((5, "set subnet x".into(), "value parse error".into())),
            transaction: true,
            tx_end: Some(TxEnd::Aborted),
            cleanup: vec!["abort".into(), "end".into(), TX_ABORT.into()],
            ..Default::default()
        };
        assert_eq!(r.applied(), 0);
        let d = r.describe();
        assert!(
            d.contains("line 5 of 10 failed") && d.contains("nothing was applied"),
            "{d}"
        );
        r.tx_end = Some(TxEnd::EndedByDevice {
            why: "config transaction id=1 aborted".into(),
            outside: vec![(6, "next".into())],
        });
        let d = r.describe();
        assert!(d.contains("ran outside it: 6: `next`"), "{d}");
        r.transaction = false;
        r.tx_end = None;
        assert_eq!(r.applied(), 4);
        assert!(r.describe().contains("lines 1-4 were applied"));
        r.failed = Some((5, "edit \"bo-1\"".into(), "Permission denied".into()));
        assert!(r.describe().contains("Least-privilege administrator"));
    }
}
