//! `execute config-transaction start [minutes]|commit|abort|status` (FortiOS "workspace
//! mode", 6.2+): changes are staged in the session and invisible to other sessions until
//! `commit`; objects the transaction edits are locked for everyone else; `abort`, a
//! disconnect or the idle timeout discard the staged changes. The timeout messages follow the
//! FortiOS administration guide ("config transaction id=1 will expire in 30 seconds" … "has
//! expired"); the replies to `start`/`commit`/`abort` and the prompt (unchanged) are [U].
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use super::device::{ObjKey, TxnOnError};
use super::errors::{CliError, ErrorKind};
use super::lexer::{self, Token};
use super::schema::TableSchema;
use super::shell::{Reply, Res, Shell};
use super::state::{DeviceState, Loc, Object, Table};

/// The open transaction of one session.
#[derive(Debug)]
pub struct Txn {
    pub id: u64,
    /// The committed configuration when the transaction started.
    base: DeviceState,
    /// What this session sees and changes.
    pub staged: DeviceState,
    idle: Duration,
    last: Instant,
    /// Expiry warnings already printed (30, 20, 10 "seconds" before).
    warned: BTreeSet<u32>,
}

/// Warnings before the idle timeout, in scaled seconds.
const WARN_AT: [u32; 3] = [30, 20, 10];

impl Shell {
    /// `execute config-transaction <action> [minutes]`.
    pub(super) fn transaction_cmd(&mut self, args: &[Token]) -> Res {
        let action = args
            .get(1)
            .ok_or_else(|| CliError::new(ErrorKind::Incomplete, &args[0].raw))?;
        let act = lexer::keyword(&action.text, &["start", "commit", "abort", "status"])
            .ok_or_else(|| CliError::new(ErrorKind::CommandParse, &action.raw))?;
        if act != "start"
            && let Some(extra) = args.get(2)
        {
            return Err(CliError::new(ErrorKind::CommandParse, &extra.raw));
        }
        match (act, self.tx.as_ref().map(|t| t.id)) {
            ("start", None) => {
                // `start [1-60]` minutes of idle time, default 5 (FortiOS 7.6.6 CLI reference).
                let minutes = match args.get(2) {
                    None => 5,
                    Some(t) => t
                        .text
                        .parse::<u32>()
                        .ok()
                        .filter(|m| (1..=60).contains(m))
                        .ok_or_else(|| CliError::new(ErrorKind::InvalidValue, &t.raw))?,
                };
                if let Some(extra) = args.get(3) {
                    return Err(CliError::new(ErrorKind::CommandParse, &extra.raw));
                }
                let idle = self.device.behaviour.transactions.minute * minutes;
                let now = Instant::now();
                let id = self.device.txns().open(idle, now);
                let base = self.device.lock().clone();
                self.tx = Some(Txn {
                    id,
                    staged: base.clone(),
                    base,
                    idle,
                    last: now,
                    warned: BTreeSet::new(),
                });
                Ok(Reply::lines(vec![format!(
                    "config transaction id={id} started"
                )]))
            }
            ("commit", Some(id)) => {
                if let Some(tx) = self.tx.take() {
                    self.device.txns().close(id);
                    let mut st = self.device.lock();
                    apply_changes(&tx.base, &tx.staged, &mut st);
                    drop(st);
                    self.device.touch();
                    self.log_setting_changes(&tx.base, &tx.staged);
                }
                Ok(Reply::lines(vec![format!(
                    "config transaction id={id} committed"
                )]))
            }
            ("abort", Some(id)) => {
                self.tx = None;
                self.device.txns().close(id);
                Ok(Reply::lines(vec![format!(
                    "config transaction id={id} aborted"
                )]))
            }
            ("status", open) => Ok(Reply::lines(vec![match open {
                Some(id) => format!("config transaction id={id}: started"),
                None => "config transaction: none".to_string(),
            }])),
            ("start", Some(_)) => Err(CliError::custom("config transaction already started", -1)),
            _ => Err(CliError::custom("no config transaction started", -1)),
        }
    }

    /// Lock `name` of `table` at `loc` for this session's transaction, or refuse when another
    /// session's transaction holds it. Outside a transaction only the refusal applies.
    pub(super) fn lock(
        &mut self,
        loc: &Loc,
        table: &TableSchema,
        name: &str,
        tok: &str,
    ) -> Result<(), CliError> {
        let key: ObjKey = (
            loc.key().to_string(),
            table.path.to_string(),
            name.to_string(),
        );
        let me = self.tx.as_ref().map(|t| t.id);
        let mut reg = self.device.txns();
        if reg.locked_by_other(&key, me, Instant::now()) {
            return Err(CliError::new(ErrorKind::Locked, tok));
        }
        if let Some(id) = me {
            reg.locks.insert(key, id);
        }
        Ok(())
    }

    /// The next moment the transaction needs attention (a warning or its expiry), if any.
    pub fn next_timer(&self) -> Option<Instant> {
        let tx = self.tx.as_ref()?;
        let deadline = tx.last + tx.idle;
        let second = self.device.behaviour.transactions.minute / 60;
        WARN_AT
            .iter()
            .filter(|s| !tx.warned.contains(s))
            .filter_map(|s| deadline.checked_sub(second * *s))
            .chain([deadline])
            .min()
    }

    /// Messages that are due at `now`: expiry warnings, or the expiry itself (which discards
    /// the transaction). The terminal prints them unprompted; `execute` prepends them.
    pub fn tick(&mut self, now: Instant) -> Vec<String> {
        let second = self.device.behaviour.transactions.minute / 60;
        let Some(tx) = self.tx.as_mut() else {
            return Vec::new();
        };
        let id = tx.id;
        let deadline = tx.last + tx.idle;
        let reaped = self.device.txns().live.get(&id).is_none_or(|m| m.expired);
        if now >= deadline || reaped {
            self.tx = None;
            self.device.txns().close(id);
            return vec![format!("config transaction id={id} has expired")];
        }
        let mut out = Vec::new();
        for s in WARN_AT {
            let due = deadline.checked_sub(second * s).is_some_and(|at| now >= at);
            // Only the latest due warning is worth printing after a long quiet spell.
            if due && !tx.warned.contains(&s) {
                tx.warned.extend(WARN_AT.iter().filter(|w| **w >= s));
                out = vec![format!(
                    "config transaction id={id} will expire in {s} seconds"
                )];
            }
        }
        out
    }

    /// After each command: keep the transaction alive, and apply the per-line error switch.
    pub(super) fn after_command(&mut self, now: Instant, reply: &mut Reply) {
        let Some(tx) = self.tx.as_mut() else {
            return;
        };
        tx.last = now;
        tx.warned.clear();
        let (id, deadline, idle) = (tx.id, now + tx.idle, tx.idle);
        if let Some(m) = self.device.txns().live.get_mut(&id) {
            m.deadline = deadline;
            m.idle = idle;
        }
        if reply.failed && self.device.behaviour.transactions.on_error == TxnOnError::Abort {
            self.tx = None;
            self.device.txns().close(id);
            reply
                .lines
                .push(format!("config transaction id={id} aborted"));
        }
    }

    /// The session ends: staged changes are gone; locks stay until the idle timeout if the
    /// device keeps them after a disconnect.
    pub(super) fn end_session(&mut self) {
        if let Some(tx) = self.tx.take() {
            let mut reg = self.device.txns();
            if self.device.behaviour.transactions.locks_survive_disconnect {
                if let Some(m) = reg.live.get_mut(&tx.id) {
                    m.orphan = true;
                }
            } else {
                reg.close(tx.id);
            }
        }
    }

    /// Log committed changes to global settings made inside the transaction.
    fn log_setting_changes(&self, base: &DeviceState, staged: &DeviceState) {
        for t in super::schema::SETTINGS {
            let (before, after) = (base.setting(t.path), staged.setting(t.path));
            if before.fields != after.fields {
                self.log_object_change(t, "", Some(&before), &after);
            }
        }
    }
}

/// Apply what changed between `base` and `staged` to the committed configuration `st`:
/// objects the transaction added, changed or deleted; everything else in `st` (changes other
/// sessions committed meanwhile) stays. New objects keep their staged creation order.
pub fn apply_changes(base: &DeviceState, staged: &DeviceState, st: &mut DeviceState) {
    let empty = Table::new();
    let mut locs: Vec<(Loc, String)> = Vec::new();
    for s in [base, staged] {
        for (v, vd) in &s.vdoms {
            for t in vd.tables.keys() {
                locs.push((Loc::Vdom(v.clone()), t.clone()));
            }
        }
        for t in s.global_tables.keys() {
            locs.push((Loc::Global, t.clone()));
        }
    }
    locs.sort();
    locs.dedup();
    for v in staged.vdoms.keys() {
        st.vdoms.entry(v.clone()).or_default();
    }
    for (loc, table) in locs {
        let before = base.table_at(&loc, &table).unwrap_or(&empty);
        let after = staged.table_at(&loc, &table).unwrap_or(&empty);
        let mut changed: Vec<(&String, &Object)> = after
            .iter()
            .filter(|(n, o)| before.get(*n) != Some(*o))
            .collect();
        changed.sort_by_key(|(_, o)| o.seq);
        for (name, obj) in changed {
            let seq = match st.object_at(&loc, &table, name) {
                Some(o) => o.seq,
                None => {
                    st.next_seq += 1;
                    st.next_seq - 1
                }
            };
            let mut obj = obj.clone();
            obj.seq = seq;
            st.table_at_mut(&loc, &table).insert(name.clone(), obj);
        }
        for name in before.keys().filter(|n| !after.contains_key(*n)) {
            st.table_at_mut(&loc, &table).remove(name);
        }
    }
    for (path, obj) in &staged.settings {
        if base.settings.get(path) != Some(obj) {
            st.settings.insert(path.clone(), obj.clone());
        }
    }
    for path in base.settings.keys() {
        if !staged.settings.contains_key(path) {
            st.settings.remove(path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::fortigate::state::Value;

    #[test]
    fn commit_applies_only_the_transactions_changes() {
        let mut base = DeviceState::default();
        base.insert("root", "firewall address", "keep", &[]);
        base.insert("root", "firewall address", "gone", &[]);
        let mut staged = base.clone();
        staged
            .vdoms
            .get_mut("root")
            .and_then(|v| v.tables.get_mut("firewall address"))
            .map(|t| t.remove("gone"));
        staged.insert(
            "root",
            "firewall address",
            "new",
            &[("comment", Value::Text("x".into()))],
        );
        // Meanwhile another session committed `other`.
        let mut st = base.clone();
        st.insert("root", "firewall address", "other", &[]);
        apply_changes(&base, &staged, &mut st);
        assert_eq!(
            st.names("root", "firewall address"),
            ["keep", "other", "new"]
        );
    }
}
