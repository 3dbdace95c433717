//! The FortiOS command interpreter behind each simulated SSH shell: the scope stack
//! (`config`/`edit`/`next`/`end`/`abort`), table editing with FortiOS's checks, and the
//! `show`/`get` renderings. It knows nothing about SSH; the terminal layer feeds it lines.
use std::sync::{Arc, Mutex, MutexGuard};

use super::errors::{CliError, ErrorKind};
use super::lexer::{self, Token};
use super::schema::{self, Field, Kind, TableSchema};
use super::state::{Console, DeviceState, Object, Value, new_uuid};

/// Capacity limits of the simulated device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest accepted entry name (FortiOS 7.x: 79; 6.0: 63).
    pub name_length: usize,
    /// Most members one group may hold.
    pub max_members: usize,
    /// Most entries one table may hold per VDOM.
    pub max_entries: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            name_length: 79,
            max_members: 600,
            max_entries: 100_000,
        }
    }
}

/// Identity and behaviour of the simulated device (fixed for its lifetime).
#[derive(Debug, Clone)]
pub struct Profile {
    pub hostname: String,
    /// Multi-VDOM mode (`Virtual domain configuration: multiple`).
    pub vdom_mode: bool,
    pub limits: Limits,
    /// The `Version:` value of `get system status`.
    pub version: String,
    pub serial: String,
}

impl Default for Profile {
    fn default() -> Self {
        Profile {
            hostname: "FGT".into(),
            vdom_mode: false,
            limits: Limits::default(),
            version: "FortiGate-VM64 v7.4.8,build2795,250523 (GA.M)".into(),
            serial: "FGVMEVSIM0000001".into(),
        }
    }
}

/// What the interpreter shares between sessions: the device profile and its configuration.
#[derive(Debug)]
pub struct Device {
    pub profile: Profile,
    pub state: Mutex<DeviceState>,
    /// Bumped after every committed change (the state-file writer watches it).
    pub changed: tokio::sync::watch::Sender<u64>,
}

impl Device {
    /// A device with the given profile and configuration.
    pub fn new(profile: Profile, state: DeviceState) -> Arc<Device> {
        let (changed, _) = tokio::sync::watch::channel(0);
        Arc::new(Device {
            profile,
            state: Mutex::new(state),
            changed,
        })
    }

    /// Lock the committed configuration (a poisoned lock is still usable: state is plain data).
    pub fn lock(&self) -> MutexGuard<'_, DeviceState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Signal that the committed configuration changed.
    pub fn touch(&self) {
        self.changed.send_modify(|n| *n += 1);
    }
}

/// The result of one command line.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Reply {
    /// Output lines (without line endings).
    pub lines: Vec<String>,
    /// `show`/`get` output, subject to the `--More--` pager.
    pub pageable: bool,
    /// The session should end (`exit`).
    pub exit: bool,
    /// The command failed (output ends with `Command fail. Return code N`).
    pub failed: bool,
    /// FortiOS return code: 0 on success.
    pub code: i32,
}

impl Reply {
    fn lines(lines: Vec<String>) -> Reply {
        Reply {
            lines,
            ..Reply::default()
        }
    }
    fn page(lines: Vec<String>) -> Reply {
        Reply {
            lines,
            pageable: true,
            ..Reply::default()
        }
    }
}

impl From<CliError> for Reply {
    fn from(e: CliError) -> Reply {
        Reply {
            lines: e.lines(),
            failed: true,
            code: e.code(),
            ..Reply::default()
        }
    }
}

#[derive(Debug, Clone)]
enum Scope {
    VdomList,
    Vdom(String),
    Global,
    Console(Console),
    Table {
        vdom: String,
        table: &'static TableSchema,
    },
    Entry {
        vdom: String,
        table: &'static TableSchema,
        name: String,
        obj: Object,
        is_new: bool,
    },
}

type Res = Result<Reply, CliError>;

/// One CLI session.
pub struct Shell {
    device: Arc<Device>,
    stack: Vec<Scope>,
    /// Staged configuration of an open `execute config-transaction`.
    tx: Option<DeviceState>,
    /// `diagnose debug cli <level>`; at 8 every command is followed by `<code>: <command>`.
    debug_cli: u32,
}

const GET_WIDTH: usize = 20;

impl Shell {
    /// A new session at the top-level prompt.
    pub fn new(device: Arc<Device>) -> Shell {
        Shell {
            device,
            stack: Vec::new(),
            tx: None,
            debug_cli: 0,
        }
    }

    /// The prompt for the current scope, e.g. `FGT (address) # `.
    pub fn prompt(&self) -> String {
        let host = &self.device.profile.hostname;
        let scope = match self.stack.last() {
            None => return format!("{host} # "),
            Some(Scope::VdomList) => "vdom".to_string(),
            Some(Scope::Vdom(v)) => v.clone(),
            Some(Scope::Global) => "global".to_string(),
            Some(Scope::Console(_)) => "console".to_string(),
            Some(Scope::Table { table, .. }) => table.scope_name().to_string(),
            Some(Scope::Entry { name, .. }) => name.clone(),
        };
        format!("{host} ({scope}) # ")
    }

    /// Whether `show`/`get` output is paged (`config system console` / `set output more`).
    pub fn console_more(&self) -> bool {
        self.read(|st| st.console.output == "more")
    }

    /// True while an `execute config-transaction` is open.
    pub fn in_transaction(&self) -> bool {
        self.tx.is_some()
    }

    /// Run one command line.
    pub fn execute(&mut self, line: &str) -> Reply {
        let mut reply = self.execute_inner(line);
        self.annotate(line, &mut reply);
        reply
    }

    /// Append the `<code>: <command>` line that `diagnose debug cli 8` asks for.
    pub fn annotate(&self, line: &str, reply: &mut Reply) {
        if self.debug_cli >= 8 && !line.trim().is_empty() {
            reply.lines.push(format!("{}: {}", reply.code, line.trim()));
        }
    }

    fn execute_inner(&mut self, line: &str) -> Reply {
        let tokens = match lexer::tokenize(line) {
            Ok(t) => t,
            Err(e) => return CliError::new(ErrorKind::CommandParse, e.0).into(),
        };
        if tokens.is_empty() {
            return Reply::default();
        }
        let (cmd, pipe) = match tokens.iter().position(|t| t.pipe) {
            Some(i) => (&tokens[..i], Some(&tokens[i + 1..])),
            None => (&tokens[..], None),
        };
        if cmd.is_empty() {
            return CliError::new(ErrorKind::CommandParse, "|").into();
        }
        let mut reply = match self.dispatch(cmd) {
            Ok(r) => r,
            Err(e) => e.into(),
        };
        // Errors are not filtered by a pipe, so a `| grep` never hides a failure.
        if let Some(pipe) = pipe.filter(|_| !reply.failed) {
            match grep(pipe, &reply.lines) {
                Ok(lines) => reply.lines = lines,
                Err(e) => return e.into(),
            }
        }
        reply
    }

    // ---- state access -------------------------------------------------------------------

    fn read<R>(&self, f: impl FnOnce(&DeviceState) -> R) -> R {
        match &self.tx {
            Some(tx) => f(tx),
            None => f(&self.device.lock()),
        }
    }

    fn write<R>(&mut self, f: impl FnOnce(&mut DeviceState) -> R) -> R {
        match &mut self.tx {
            Some(tx) => f(tx),
            None => {
                let r = f(&mut self.device.lock());
                self.device.touch();
                r
            }
        }
    }

    /// The VDOM whose tables the current scope addresses.
    fn vdom(&self) -> Option<String> {
        if !self.device.profile.vdom_mode {
            return if self.stack.iter().any(|s| matches!(s, Scope::Global)) {
                None
            } else {
                Some("root".into())
            };
        }
        self.stack.iter().rev().find_map(|s| match s {
            Scope::Vdom(v) => Some(v.clone()),
            _ => None,
        })
    }

    /// Whether global settings (console) are addressable here.
    fn global_ctx(&self) -> bool {
        if self.device.profile.vdom_mode {
            matches!(self.stack.last(), Some(Scope::Global))
        } else {
            self.stack.is_empty()
        }
    }

    // ---- dispatch -----------------------------------------------------------------------

    fn dispatch(&mut self, cmd: &[Token]) -> Res {
        let words: Vec<&str> = cmd.iter().map(|t| t.text.as_str()).collect();
        let verb_tok = &cmd[0];
        match self.stack.last() {
            Some(Scope::Entry { .. }) => {
                let verbs = [
                    "set", "unset", "append", "unselect", "select", "show", "get", "next", "end",
                    "abort",
                ];
                let verb = lexer::keyword(words[0], &verbs)
                    .ok_or_else(|| CliError::new(ErrorKind::CommandParse, &verb_tok.raw))?;
                match verb {
                    "set" | "select" => self.entry_set(cmd, Op::Set),
                    "append" => self.entry_set(cmd, Op::Append),
                    "unselect" => self.entry_set(cmd, Op::Unselect),
                    "unset" => self.entry_unset(cmd),
                    "show" => self.show_here(cmd),
                    "get" => self.get_here(),
                    "next" => self.entry_commit(false),
                    "end" => self.entry_commit(true),
                    _ => {
                        self.stack.pop();
                        Ok(Reply::default())
                    }
                }
            }
            Some(Scope::Table { .. }) => {
                let verbs = [
                    "edit", "delete", "rename", "purge", "show", "get", "end", "abort", "next",
                ];
                let verb = lexer::keyword(words[0], &verbs)
                    .ok_or_else(|| CliError::new(ErrorKind::CommandParse, &verb_tok.raw))?;
                match verb {
                    "edit" => self.table_edit(cmd),
                    "delete" => self.table_delete(cmd),
                    "rename" => self.table_rename(cmd),
                    "purge" => self.table_purge(),
                    "show" => self.show_here(cmd),
                    "get" => self.get_here(),
                    "end" | "abort" => {
                        self.stack.pop();
                        Ok(Reply::default())
                    }
                    _ => Err(CliError::new(ErrorKind::CommandParse, &verb_tok.raw)),
                }
            }
            Some(Scope::Console(_)) => {
                let verbs = ["set", "unset", "show", "get", "end", "abort", "next"];
                let verb = lexer::keyword(words[0], &verbs)
                    .ok_or_else(|| CliError::new(ErrorKind::CommandParse, &verb_tok.raw))?;
                self.console_cmd(verb, cmd)
            }
            Some(Scope::VdomList) => {
                let verbs = ["edit", "end", "abort", "show", "get"];
                let verb = lexer::keyword(words[0], &verbs)
                    .ok_or_else(|| CliError::new(ErrorKind::CommandParse, &verb_tok.raw))?;
                match verb {
                    "edit" => {
                        let name = cmd
                            .get(1)
                            .ok_or_else(|| CliError::new(ErrorKind::Incomplete, "edit"))?;
                        let valid = !name.text.is_empty()
                            && name.text.len() <= 31
                            && name
                                .text
                                .chars()
                                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
                        if !valid {
                            return Err(CliError::new(ErrorKind::InvalidValue, &name.raw));
                        }
                        let v = name.text.clone();
                        if !self.read(|st| st.vdoms.contains_key(&v)) {
                            self.write(|st| {
                                st.vdoms.entry(v.clone()).or_default();
                            });
                        }
                        self.stack.push(Scope::Vdom(v));
                        Ok(Reply::default())
                    }
                    "end" | "abort" => {
                        self.stack.pop();
                        Ok(Reply::default())
                    }
                    _ => {
                        let names: Vec<String> = self.read(|st| st.vdoms.keys().cloned().collect());
                        Ok(Reply::page(
                            names.iter().map(|n| format!("== [ {n} ]")).collect(),
                        ))
                    }
                }
            }
            None | Some(Scope::Vdom(_)) | Some(Scope::Global) => {
                let mut verbs = vec!["config", "show", "get", "execute", "diagnose", "exit"];
                if !self.stack.is_empty() {
                    verbs.extend(["end", "abort", "next"]);
                }
                let verb = lexer::keyword(words[0], &verbs)
                    .ok_or_else(|| CliError::new(ErrorKind::CommandParse, &verb_tok.raw))?;
                match verb {
                    "config" => self.config(cmd),
                    "show" => self.show_path(cmd),
                    "get" => self.get_path(cmd),
                    "execute" => self.execute_cmd(cmd),
                    "diagnose" => self.diagnose(cmd),
                    "exit" => Ok(Reply {
                        exit: true,
                        ..Reply::default()
                    }),
                    "next" => match self.stack.last() {
                        Some(Scope::Vdom(_)) => {
                            self.stack.pop();
                            Ok(Reply::default())
                        }
                        _ => Err(CliError::new(ErrorKind::CommandParse, &verb_tok.raw)),
                    },
                    _ => {
                        // end/abort: leave `config global` or the whole `config vdom` block.
                        if let Some(Scope::Vdom(_)) = self.stack.last() {
                            self.stack.pop();
                        }
                        self.stack.pop();
                        Ok(Reply::default())
                    }
                }
            }
        }
    }

    fn config(&mut self, cmd: &[Token]) -> Res {
        let Some(first) = cmd.get(1) else {
            return Err(CliError::new(ErrorKind::Incomplete, &cmd[0].raw));
        };
        let top = self.stack.is_empty();
        let multi = self.device.profile.vdom_mode;
        let a = lexer::keyword(&first.text, &["vdom", "global", "system", "firewall"])
            .ok_or_else(|| CliError::new(ErrorKind::CommandParse, &first.raw))?;
        match a {
            "vdom" | "global" => {
                if !(multi && top) {
                    return Err(CliError::new(ErrorKind::NotAllowed, &first.raw));
                }
                if let Some(extra) = cmd.get(2) {
                    return Err(CliError::new(ErrorKind::CommandParse, &extra.raw));
                }
                self.stack.push(if a == "vdom" {
                    Scope::VdomList
                } else {
                    Scope::Global
                });
                Ok(Reply::default())
            }
            "system" => {
                let Some(second) = cmd.get(2) else {
                    return Err(CliError::new(ErrorKind::Incomplete, &first.raw));
                };
                if lexer::keyword(&second.text, &["console"]).is_none() || !self.global_ctx() {
                    return Err(CliError::new(ErrorKind::CommandParse, &second.raw));
                }
                if self.tx.is_some() {
                    // FortiOS refuses console settings inside a workspace transaction.
                    return Err(CliError::new(ErrorKind::NotInTransaction, &second.raw));
                }
                let console = self.read(|st| st.console.clone());
                self.stack.push(Scope::Console(console));
                Ok(Reply::default())
            }
            _ => {
                let Some(second) = cmd.get(2) else {
                    return Err(CliError::new(ErrorKind::Incomplete, &first.raw));
                };
                let (table, used) = self.firewall_table(&cmd[2..])?;
                let Some(vdom) = self.vdom() else {
                    return Err(CliError::new(ErrorKind::CommandParse, &second.raw));
                };
                if let Some(extra) = cmd.get(2 + used) {
                    return Err(CliError::new(ErrorKind::CommandParse, &extra.raw));
                }
                self.stack.push(Scope::Table { vdom, table });
                Ok(Reply::default())
            }
        }
    }

    /// `diagnose debug cli <0-8>` and `diagnose debug enable|disable` (accepted, no effect).
    fn diagnose(&mut self, cmd: &[Token]) -> Res {
        let word = |i: usize| cmd.get(i).map(|t| t.text.as_str()).unwrap_or("");
        let raw = |i: usize| cmd.get(i).map_or(cmd[0].raw.as_str(), |t| t.raw.as_str());
        if lexer::keyword(word(1), &["debug"]).is_none() {
            return Err(CliError::new(ErrorKind::CommandParse, raw(1)));
        }
        match lexer::keyword(word(2), &["cli", "enable", "disable"]) {
            Some("cli") => {
                let level = word(3)
                    .parse::<u32>()
                    .ok()
                    .filter(|l| *l <= 8)
                    .ok_or_else(|| CliError::new(ErrorKind::InvalidValue, raw(3)))?;
                self.debug_cli = level;
                Ok(Reply::default())
            }
            Some(_) => Ok(Reply::default()),
            None if cmd.len() < 3 => Err(CliError::new(ErrorKind::Incomplete, raw(1))),
            None => Err(CliError::new(ErrorKind::CommandParse, raw(2))),
        }
    }

    fn execute_cmd(&mut self, cmd: &[Token]) -> Res {
        let sub = cmd
            .get(1)
            .ok_or_else(|| CliError::new(ErrorKind::Incomplete, &cmd[0].raw))?;
        if lexer::keyword(&sub.text, &["config-transaction"]).is_none() {
            return Err(CliError::new(ErrorKind::CommandParse, &sub.raw));
        }
        let action = cmd
            .get(2)
            .ok_or_else(|| CliError::new(ErrorKind::Incomplete, &sub.raw))?;
        let act = lexer::keyword(&action.text, &["start", "commit", "abort", "status"])
            .ok_or_else(|| CliError::new(ErrorKind::CommandParse, &action.raw))?;
        match (act, self.tx.is_some()) {
            ("start", false) => {
                let snapshot = self.device.lock().clone();
                self.tx = Some(snapshot);
                Ok(Reply::lines(vec!["config transaction started".into()]))
            }
            ("commit", true) => {
                if let Some(staged) = self.tx.take() {
                    *self.device.lock() = staged;
                    self.device.touch();
                }
                Ok(Reply::lines(vec!["config transaction committed".into()]))
            }
            ("abort", true) => {
                self.tx = None;
                Ok(Reply::lines(vec!["config transaction aborted".into()]))
            }
            ("status", open) => Ok(Reply::lines(vec![format!(
                "config transaction: {}",
                if open { "started" } else { "none" }
            )])),
            ("start", true) => Err(CliError::custom("config transaction already started", -1)),
            _ => Err(CliError::custom("no config transaction started", -1)),
        }
    }

    // ---- table scope --------------------------------------------------------------------

    fn table_ctx(&self) -> Option<(String, &'static TableSchema)> {
        match self.stack.last() {
            Some(Scope::Table { vdom, table }) => Some((vdom.clone(), table)),
            Some(Scope::Entry { vdom, table, .. }) => Some((vdom.clone(), table)),
            _ => None,
        }
    }

    fn check_name(&self, tok: &Token) -> Result<(), CliError> {
        let len = tok.text.chars().count();
        if len == 0
            || len > self.device.profile.limits.name_length
            || tok.text.contains(['"', '\'', '<', '>'])
        {
            return Err(CliError::new(ErrorKind::InvalidValue, &tok.raw));
        }
        Ok(())
    }

    fn table_edit(&mut self, cmd: &[Token]) -> Res {
        let (vdom, table) = self
            .table_ctx()
            .ok_or_else(|| CliError::new(ErrorKind::CommandParse, &cmd[0].raw))?;
        let name_tok = cmd
            .get(1)
            .ok_or_else(|| CliError::new(ErrorKind::Incomplete, &cmd[0].raw))?;
        if let Some(extra) = cmd.get(2) {
            return Err(CliError::new(ErrorKind::CommandParse, &extra.raw));
        }
        self.check_name(name_tok)?;
        let name = name_tok.text.clone();
        let limits = self.device.profile.limits;
        let found = self.read(|st| {
            if let Some(o) = st.object(&vdom, table.path, &name) {
                return Ok(Some(o.clone()));
            }
            if st.namespace_owner(&vdom, table, &name).is_some() {
                return Err(CliError::new(ErrorKind::Duplicate, &name_tok.raw));
            }
            if st.count(&vdom, table.path) >= limits.max_entries {
                return Err(CliError::new(ErrorKind::MaxEntries, &name_tok.raw));
            }
            Ok(None)
        })?;
        let (obj, is_new) = match found {
            Some(o) => (o, false),
            None => {
                let mut o = Object::default();
                o.fields.insert("uuid".into(), Value::Text(new_uuid()));
                (o, true)
            }
        };
        self.stack.push(Scope::Entry {
            vdom,
            table,
            name,
            obj,
            is_new,
        });
        Ok(Reply::default())
    }

    fn table_delete(&mut self, cmd: &[Token]) -> Res {
        let (vdom, table) = self
            .table_ctx()
            .ok_or_else(|| CliError::new(ErrorKind::CommandParse, &cmd[0].raw))?;
        let tok = cmd
            .get(1)
            .ok_or_else(|| CliError::new(ErrorKind::Incomplete, &cmd[0].raw))?;
        let name = tok.text.clone();
        let (exists, refs) = self.read(|st| {
            (
                st.object(&vdom, table.path, &name).is_some(),
                st.referrers(&vdom, table.path, &name).len(),
            )
        });
        if !exists {
            return Err(CliError::new(ErrorKind::EntryNotFound, &tok.raw));
        }
        if refs > 0 {
            return Err(CliError::new(ErrorKind::InUse, &tok.raw).with_n(refs));
        }
        self.write(|st| {
            if let Some(t) = st
                .vdoms
                .get_mut(&vdom)
                .and_then(|v| v.tables.get_mut(table.path))
            {
                t.remove(&name);
            }
        });
        Ok(Reply::default())
    }

    fn table_rename(&mut self, cmd: &[Token]) -> Res {
        let (vdom, table) = self
            .table_ctx()
            .ok_or_else(|| CliError::new(ErrorKind::CommandParse, &cmd[0].raw))?;
        let from = cmd
            .get(1)
            .ok_or_else(|| CliError::new(ErrorKind::Incomplete, &cmd[0].raw))?;
        let to_kw = cmd
            .get(2)
            .ok_or_else(|| CliError::new(ErrorKind::Incomplete, &from.raw))?;
        if to_kw.text != "to" {
            return Err(CliError::new(ErrorKind::CommandParse, &to_kw.raw));
        }
        let to = cmd
            .get(3)
            .ok_or_else(|| CliError::new(ErrorKind::Incomplete, &to_kw.raw))?;
        self.check_name(to)?;
        let (old, new) = (from.text.clone(), to.text.clone());
        let (exists, taken) = self.read(|st| {
            (
                st.object(&vdom, table.path, &old).is_some(),
                st.namespace_owner(&vdom, table, &new).is_some(),
            )
        });
        if !exists {
            return Err(CliError::new(ErrorKind::EntryNotFound, &from.raw));
        }
        if taken {
            return Err(CliError::new(ErrorKind::Duplicate, &to.raw));
        }
        self.write(|st| {
            let Some(v) = st.vdoms.get_mut(&vdom) else {
                return;
            };
            if let Some(t) = v.tables.get_mut(table.path)
                && let Some(o) = t.remove(&old)
            {
                t.insert(new.clone(), o);
            }
            // References (group members, policy addresses) follow the rename, as FortiOS's
            // cmdb does.
            for (g, fields) in schema::referencing_fields(table.path) {
                let Some(t) = v.tables.get_mut(g.path) else {
                    continue;
                };
                for o in t.values_mut() {
                    for f in &fields {
                        if let Some(Value::List(members)) = o.fields.get_mut(*f) {
                            for m in members.iter_mut().filter(|m| **m == old) {
                                *m = new.clone();
                            }
                        }
                    }
                }
            }
        });
        Ok(Reply::default())
    }

    fn table_purge(&mut self) -> Res {
        let (vdom, table) = self
            .table_ctx()
            .ok_or_else(|| CliError::new(ErrorKind::CommandParse, "purge"))?;
        let used = self.read(|st| {
            st.names(&vdom, table.path)
                .into_iter()
                .map(|n| st.referrers(&vdom, table.path, &n).len())
                .sum::<usize>()
        });
        if used > 0 {
            return Err(CliError::new(ErrorKind::InUse, "purge").with_n(used));
        }
        self.write(|st| {
            if let Some(t) = st
                .vdoms
                .get_mut(&vdom)
                .and_then(|v| v.tables.get_mut(table.path))
            {
                t.clear();
            }
        });
        Ok(Reply::default())
    }

    // ---- entry scope --------------------------------------------------------------------

    fn entry_set(&mut self, cmd: &[Token], op: Op) -> Res {
        let Some(Scope::Entry {
            vdom,
            table,
            name,
            obj,
            ..
        }) = self.stack.last()
        else {
            return Err(CliError::new(ErrorKind::CommandParse, &cmd[0].raw));
        };
        let (vdom, table, self_name) = (vdom.clone(), *table, name.clone());
        let field_tok = cmd
            .get(1)
            .ok_or_else(|| CliError::new(ErrorKind::Incomplete, &cmd[0].raw))?;
        let field = table
            .field(&field_tok.text, obj.ty(table))
            .ok_or_else(|| CliError::new(ErrorKind::CommandParse, &field_tok.raw))?;
        let values: Vec<&str> = cmd[2..].iter().map(|t| t.text.as_str()).collect();
        let raws: Vec<&str> = cmd[2..].iter().map(|t| t.raw.as_str()).collect();
        if values.is_empty() {
            return Err(CliError::new(ErrorKind::Incomplete, &field_tok.raw));
        }
        let new_value = match field.kind {
            Kind::Members { sources } => {
                let current: Vec<String> = obj.list(field.name).to_vec();
                if op != Op::Unselect {
                    self.check_members(&vdom, &self_name, sources, &cmd[2..])?;
                }
                let mut list = match op {
                    Op::Set => Vec::new(),
                    _ => current,
                };
                match op {
                    Op::Unselect => list.retain(|m| !values.contains(&m.as_str())),
                    _ => {
                        for v in &values {
                            if !list.iter().any(|m| m == v) {
                                list.push((*v).to_string());
                            }
                        }
                    }
                }
                if list.len() > self.device.profile.limits.max_members {
                    return Err(CliError::new(
                        ErrorKind::MaxEntries,
                        raws.last().copied().unwrap_or(""),
                    ));
                }
                Some(Value::List(list))
            }
            _ if op != Op::Set => {
                return Err(CliError::new(ErrorKind::CommandParse, &field_tok.raw));
            }
            _ => {
                let v = schema::parse_scalar(field, &values, &raws)?;
                if v == field.default && field.kind != Kind::Uuid {
                    None
                } else {
                    Some(Value::Text(v))
                }
            }
        };
        if let Some(Scope::Entry { obj, .. }) = self.stack.last_mut() {
            match new_value {
                Some(Value::List(l)) if l.is_empty() => {
                    obj.fields.remove(field.name);
                }
                Some(v) => {
                    obj.fields.insert(field.name.to_string(), v);
                }
                None => {
                    obj.fields.remove(field.name);
                }
            }
        }
        Ok(Reply::default())
    }

    fn check_members(
        &self,
        vdom: &str,
        self_name: &str,
        sources: &[&str],
        toks: &[Token],
    ) -> Result<(), CliError> {
        self.read(|st| {
            for t in toks {
                let found = t.text != self_name
                    && sources
                        .iter()
                        .any(|s| st.object(vdom, s, &t.text).is_some());
                if !found {
                    return Err(CliError::new(ErrorKind::NotInDatasource, &t.raw));
                }
            }
            Ok(())
        })
    }

    fn entry_unset(&mut self, cmd: &[Token]) -> Res {
        let Some(Scope::Entry { table, obj, .. }) = self.stack.last_mut() else {
            return Err(CliError::new(ErrorKind::CommandParse, &cmd[0].raw));
        };
        let field_tok = cmd
            .get(1)
            .ok_or_else(|| CliError::new(ErrorKind::Incomplete, &cmd[0].raw))?;
        let field = table
            .field(&field_tok.text, obj.ty(table))
            .ok_or_else(|| CliError::new(ErrorKind::CommandParse, &field_tok.raw))?;
        if let Some(extra) = cmd.get(2) {
            return Err(CliError::new(ErrorKind::CommandParse, &extra.raw));
        }
        if field.kind == Kind::Uuid {
            obj.fields.insert("uuid".into(), Value::Text(new_uuid()));
        } else {
            obj.fields.remove(field.name);
        }
        Ok(Reply::default())
    }

    fn entry_commit(&mut self, close_table: bool) -> Res {
        let Some(Scope::Entry {
            vdom,
            table,
            name,
            obj,
            is_new,
        }) = self.stack.last()
        else {
            return Err(CliError::new(ErrorKind::CommandParse, "next"));
        };
        let ty = obj.ty(table);
        for f in table.fields.iter().filter(|f| f.required && f.visible(ty)) {
            let empty = match obj.fields.get(f.name) {
                None => true,
                Some(Value::List(l)) => l.is_empty(),
                Some(Value::Text(s)) => s.is_empty(),
            };
            if empty {
                return Err(CliError::new(ErrorKind::MustBeSet, f.name));
            }
        }
        let (vdom, table, name, mut obj, is_new) =
            (vdom.clone(), *table, name.clone(), obj.clone(), *is_new);
        // Drop attributes that do not belong to the final type (FortiOS hides them).
        let ty = obj.ty(table).map(str::to_string);
        obj.fields.retain(|k, _| {
            table
                .fields
                .iter()
                .any(|f| f.name == k && f.visible(ty.as_deref()))
        });
        let limits = self.device.profile.limits;
        self.write(|st| {
            let count = st.count(&vdom, table.path);
            let t = st
                .vdoms
                .entry(vdom.clone())
                .or_default()
                .tables
                .entry(table.path.to_string())
                .or_default();
            if let Some(old) = t.get(&name) {
                obj.seq = old.seq;
            } else {
                if is_new && count >= limits.max_entries {
                    return Err(CliError::new(ErrorKind::MaxEntries, &name));
                }
                obj.seq = st.next_seq;
                st.next_seq += 1;
            }
            st.vdoms
                .entry(vdom.clone())
                .or_default()
                .tables
                .entry(table.path.to_string())
                .or_default()
                .insert(name, obj);
            Ok(())
        })?;
        self.stack.pop();
        if close_table {
            self.stack.pop();
        }
        Ok(Reply::default())
    }

    // ---- console ------------------------------------------------------------------------

    fn console_cmd(&mut self, verb: &str, cmd: &[Token]) -> Res {
        let Some(Scope::Console(console)) = self.stack.last_mut() else {
            return Err(CliError::new(ErrorKind::CommandParse, &cmd[0].raw));
        };
        match verb {
            "set" | "unset" => {
                let f = cmd
                    .get(1)
                    .ok_or_else(|| CliError::new(ErrorKind::Incomplete, &cmd[0].raw))?;
                if lexer::keyword(&f.text, &["output"]).is_none() {
                    return Err(CliError::new(ErrorKind::CommandParse, &f.raw));
                }
                if verb == "unset" {
                    console.output = "more".into();
                } else {
                    let v = cmd
                        .get(2)
                        .ok_or_else(|| CliError::new(ErrorKind::Incomplete, &f.raw))?;
                    let value = lexer::keyword(&v.text, &["standard", "more"])
                        .ok_or_else(|| CliError::new(ErrorKind::InvalidValue, &v.raw))?;
                    console.output = value.to_string();
                }
                Ok(Reply::default())
            }
            "show" => {
                let full = cmd
                    .get(1)
                    .is_some_and(|t| lexer::keyword(&t.text, &["full-configuration"]).is_some());
                Ok(Reply::page(render_console(console, full)))
            }
            "get" => Ok(Reply::page(get_console(console))),
            "end" => {
                let c = console.clone();
                self.write(|st| st.console = c);
                self.stack.pop();
                Ok(Reply::default())
            }
            "abort" => {
                self.stack.pop();
                Ok(Reply::default())
            }
            _ => Err(CliError::new(ErrorKind::CommandParse, &cmd[0].raw)),
        }
    }

    // ---- show / get ---------------------------------------------------------------------

    /// `show` inside a table or entry scope.
    fn show_here(&self, cmd: &[Token]) -> Res {
        let full = cmd
            .get(1)
            .is_some_and(|t| lexer::keyword(&t.text, &["full-configuration"]).is_some());
        match self.stack.last() {
            Some(Scope::Entry {
                table, name, obj, ..
            }) => Ok(Reply::page(render_table(
                table,
                &[(name.as_str(), obj)],
                full,
            ))),
            Some(Scope::Table { vdom, table }) => {
                let rest = &cmd[if full { 2 } else { 1 }..];
                if let Some(extra) = rest.get(1) {
                    return Err(CliError::new(ErrorKind::CommandParse, &extra.raw));
                }
                Ok(Reply::page(self.read(|st| match rest.first() {
                    Some(n) => match st.object(vdom, table.path, &n.text) {
                        Some(o) => render_table(table, &[(n.text.as_str(), o)], full),
                        None => render_table(table, &[], full),
                    },
                    None => render_all(st, vdom, table, full),
                })))
            }
            _ => Err(CliError::new(ErrorKind::CommandParse, &cmd[0].raw)),
        }
    }

    /// `get` inside a table or entry scope.
    fn get_here(&self) -> Res {
        match self.stack.last() {
            Some(Scope::Entry {
                table, name, obj, ..
            }) => Ok(Reply::page(get_object(table, name, obj))),
            Some(Scope::Table { vdom, table }) => Ok(Reply::page(self.read(|st| {
                st.names(vdom, table.path)
                    .iter()
                    .flat_map(|n| [format!("== [ {n} ]"), format!("name: {n}")])
                    .collect()
            }))),
            _ => Err(CliError::new(ErrorKind::CommandParse, "get")),
        }
    }

    /// `show [full-configuration] [path [name]]` at the top, VDOM or global scope.
    fn show_path(&self, cmd: &[Token]) -> Res {
        let mut rest = &cmd[1..];
        let full = rest
            .first()
            .is_some_and(|t| lexer::keyword(&t.text, &["full-configuration"]).is_some());
        if full {
            rest = &rest[1..];
        }
        if rest.is_empty() {
            return Ok(Reply::page(self.read(|st| self.render_scope(st, full))));
        }
        match self.resolve_path(rest)? {
            Path::Console => {
                let c = self.read(|st| st.console.clone());
                Ok(Reply::page(render_console(&c, full)))
            }
            Path::Table(table, vdom, name) => Ok(Reply::page(self.read(|st| match &name {
                Some(n) => match st.object(&vdom, table.path, n) {
                    Some(o) => render_table(table, &[(n.as_str(), o)], full),
                    None => render_table(table, &[], full),
                },
                None => render_all(st, &vdom, table, full),
            }))),
            Path::Status => Err(CliError::new(ErrorKind::CommandParse, &rest[1].raw)),
        }
    }

    /// `get <path> [name]` at the top, VDOM or global scope.
    fn get_path(&self, cmd: &[Token]) -> Res {
        let rest = &cmd[1..];
        if rest.is_empty() {
            return Err(CliError::new(ErrorKind::Incomplete, &cmd[0].raw));
        }
        match self.resolve_path(rest)? {
            Path::Status => Ok(Reply::page(self.system_status())),
            Path::Console => Ok(Reply::page(get_console(
                &self.read(|st| st.console.clone()),
            ))),
            Path::Table(table, vdom, name) => Ok(Reply::page(self.read(|st| {
                match &name {
                    Some(n) => st
                        .object(&vdom, table.path, n)
                        .map(|o| get_object(table, n, o))
                        .unwrap_or_default(),
                    None => st
                        .names(&vdom, table.path)
                        .iter()
                        .flat_map(|n| [format!("== [ {n} ]"), format!("name: {n}")])
                        .collect(),
                }
            }))),
        }
    }

    fn resolve_path(&self, rest: &[Token]) -> Result<Path, CliError> {
        let a = lexer::keyword(&rest[0].text, &["system", "firewall"])
            .ok_or_else(|| CliError::new(ErrorKind::CommandParse, &rest[0].raw))?;
        let Some(b) = rest.get(1) else {
            return Err(CliError::new(ErrorKind::Incomplete, &rest[0].raw));
        };
        if a == "system" {
            let sub = lexer::keyword(&b.text, &["status", "console"])
                .ok_or_else(|| CliError::new(ErrorKind::CommandParse, &b.raw))?;
            if let Some(extra) = rest.get(2) {
                return Err(CliError::new(ErrorKind::CommandParse, &extra.raw));
            }
            return match sub {
                "status" => {
                    let in_table_ctx = self.device.profile.vdom_mode
                        && !self.stack.is_empty()
                        && !matches!(self.stack.last(), Some(Scope::Global | Scope::Vdom(_)));
                    if in_table_ctx {
                        Err(CliError::new(ErrorKind::CommandParse, &b.raw))
                    } else {
                        Ok(Path::Status)
                    }
                }
                _ if self.global_ctx() => Ok(Path::Console),
                _ => Err(CliError::new(ErrorKind::CommandParse, &b.raw)),
            };
        }
        let (table, used) = self.firewall_table(&rest[1..])?;
        let Some(vdom) = self.vdom() else {
            return Err(CliError::new(ErrorKind::CommandParse, &b.raw));
        };
        if let Some(extra) = rest.get(2 + used) {
            return Err(CliError::new(ErrorKind::CommandParse, &extra.raw));
        }
        Ok(Path::Table(
            table,
            vdom,
            rest.get(1 + used).map(|t| t.text.clone()),
        ))
    }

    /// The table named by the words after `firewall`, and how many words it took.
    fn firewall_table(&self, toks: &[Token]) -> Result<(&'static TableSchema, usize), CliError> {
        let words: Vec<&str> = toks.iter().map(|t| t.text.as_str()).collect();
        schema::resolve_firewall_table(&words).map_err(|i| match toks.get(i) {
            Some(t) => CliError::new(ErrorKind::CommandParse, &t.raw),
            None => CliError::new(
                ErrorKind::Incomplete,
                toks.last().map_or("firewall", |t| t.raw.as_str()),
            ),
        })
    }

    /// The whole configuration visible from the current scope.
    fn render_scope(&self, st: &DeviceState, full: bool) -> Vec<String> {
        let vdom_tables = |v: &str| -> Vec<String> {
            schema::TABLES
                .iter()
                .flat_map(|t| render_all(st, v, t, full))
                .collect()
        };
        if !self.device.profile.vdom_mode {
            if self.stack.is_empty() {
                let mut out = vec![self.config_version_header()];
                out.extend(render_console(&st.console, full));
                out.extend(vdom_tables("root"));
                return out;
            }
            return Vec::new();
        }
        match self.stack.last() {
            Some(Scope::Vdom(v)) => vdom_tables(v),
            Some(Scope::Global) => render_console(&st.console, full),
            _ => {
                let mut out = vec![self.config_version_header(), "config global".to_string()];
                out.extend(render_console(&st.console, full));
                out.push("end".into());
                out.push("config vdom".into());
                for v in st.vdoms.keys() {
                    out.push(format!("edit {v}"));
                    out.extend(vdom_tables(v));
                    out.push("next".into());
                }
                out.push("end".into());
                out
            }
        }
    }

    /// First line of a whole-configuration `show`, as on a real unit.
    fn config_version_header(&self) -> String {
        let vdom = u8::from(self.device.profile.vdom_mode);
        format!("#config-version=FGVM64-7.4.8-FW-build2795-250523:opmode=0:vdom={vdom}:user=admin")
    }

    fn system_status(&self) -> Vec<String> {
        let p = &self.device.profile;
        let (vdom_cfg, max_vdoms, current) = if p.vdom_mode {
            ("multiple", 10, self.vdom().unwrap_or_else(|| "root".into()))
        } else {
            ("disable", 1, "root".to_string())
        };
        let vdoms = self.read(|st| st.vdoms.len());
        vec![
            format!("Version: {}", p.version),
            "First GA patch build date: 230509".into(),
            "Security Level: 2".into(),
            "Firmware Signature: certified".into(),
            "Virus-DB: 1.00000(2018-04-09 18:07)".into(),
            "Extended DB: 1.00000(2018-04-09 18:07)".into(),
            "AV AI/ML Model: 0.00000(2001-01-01 00:00)".into(),
            "IPS-DB: 6.00741(2015-12-01 02:30)".into(),
            "IPS-ETDB: 6.00741(2015-12-01 02:30)".into(),
            "APP-DB: 6.00741(2015-12-01 02:30)".into(),
            "Proxy-IPS-DB: 6.00741(2015-12-01 02:30)".into(),
            "Proxy-IPS-ETDB: 6.00741(2015-12-01 02:30)".into(),
            "Proxy-APP-DB: 6.00741(2015-12-01 02:30)".into(),
            "FMWP-DB: 0.00000(2001-01-01 00:00)".into(),
            "IPS Malicious URL Database: 1.00001(2015-01-01 01:01)".into(),
            "IoT-Detect: 0.00000(2022-08-17 17:31)".into(),
            "OT-Threat-DB: 6.00741(2015-12-01 02:30)".into(),
            "IPS-Engine: 7.01014(2025-04-29 01:49)".into(),
            format!("Serial-Number: {}", p.serial),
            "License Status: Valid".into(),
            "VM Resources: 1 CPU/1 allowed, 2007 MB RAM".into(),
            "Log hard disk: Not available".into(),
            format!("Hostname: {}", p.hostname),
            "Private Encryption: Disable".into(),
            "Operation Mode: NAT".into(),
            format!("Current virtual domain: {current}"),
            format!("Max number of virtual domains: {max_vdoms}"),
            format!("Virtual domains status: {vdoms} in NAT mode, 0 in TP mode"),
            format!("Virtual domain configuration: {vdom_cfg}"),
            "FIPS-CC mode: disable".into(),
            "Current HA mode: standalone".into(),
            "Branch point: 2795".into(),
            "Release Version Information: GA".into(),
            "FortiOS x86-64: Yes".into(),
            "System time: Fri Nov 27 12:00:00 2026".into(),
            "Last reboot reason: warm reboot".into(),
        ]
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Set,
    Append,
    Unselect,
}

enum Path {
    Status,
    Console,
    Table(&'static TableSchema, String, Option<String>),
}

/// All entries of a table as a `config ... end` block, in creation order.
fn render_all(st: &DeviceState, vdom: &str, table: &TableSchema, full: bool) -> Vec<String> {
    let names = st.names(vdom, table.path);
    let entries: Vec<(&str, &Object)> = names
        .iter()
        .filter_map(|n| st.object(vdom, table.path, n).map(|o| (n.as_str(), o)))
        .collect();
    render_table(table, &entries, full)
}

/// A `config <table>` block with the given entries.
pub fn render_table(table: &TableSchema, entries: &[(&str, &Object)], full: bool) -> Vec<String> {
    let mut out = Vec::with_capacity(2 + entries.len() * 4);
    out.push(format!("config {}", table.path));
    for (name, obj) in entries {
        out.push(format!("    edit {}", lexer::quote(name)));
        let ty = obj.ty(table);
        for field in table.fields.iter().filter(|f| f.visible(ty)) {
            if let Some(line) = field_line(field, obj, full) {
                out.push(format!("        set {} {}", field.name, line));
            }
        }
        out.push("    next".into());
    }
    out.push("end".into());
    out
}

fn field_line(field: &Field, obj: &Object, full: bool) -> Option<String> {
    match obj.fields.get(field.name) {
        Some(Value::List(items)) if !items.is_empty() => Some(
            items
                .iter()
                .map(|i| lexer::quote(i))
                .collect::<Vec<_>>()
                .join(" "),
        ),
        Some(Value::Text(v)) => Some(schema::show_value(field, v)),
        _ if full && !field.is_list() => Some(if field.default.is_empty() {
            "''".to_string()
        } else {
            schema::show_value(field, field.default)
        }),
        _ => None,
    }
}

/// `get` of one entry: `name<pad>: value` lines.
fn get_object(table: &TableSchema, name: &str, obj: &Object) -> Vec<String> {
    let mut out = vec![format!("{:<GET_WIDTH$}: {name}", "name")];
    let ty = obj.ty(table);
    for field in table.fields.iter().filter(|f| f.visible(ty)) {
        let value = match obj.fields.get(field.name) {
            Some(Value::List(items)) => items
                .iter()
                .map(|i| lexer::quote(i))
                .collect::<Vec<_>>()
                .join(" "),
            Some(Value::Text(v)) => v.clone(),
            None => field.default.to_string(),
        };
        out.push(format!("{:<GET_WIDTH$}: {value}", field.name));
    }
    out
}

fn render_console(c: &Console, full: bool) -> Vec<String> {
    let mut out = vec!["config system console".to_string()];
    if full {
        out.push(format!("    set output {}", c.output));
        out.push("    set login enable".into());
        out.push("    set fortiexplorer enable".into());
    } else if c.output != "more" {
        out.push(format!("    set output {}", c.output));
    }
    out.push("end".into());
    out
}

fn get_console(c: &Console) -> Vec<String> {
    vec![
        format!("{:<GET_WIDTH$}: {}", "output", c.output),
        format!("{:<GET_WIDTH$}: enable", "login"),
        format!("{:<GET_WIDTH$}: enable", "fortiexplorer"),
    ]
}

/// `| grep [-i] [-v] [-f] [-A N] [-B N] PATTERN` (substring match, not regex).
fn grep(args: &[Token], lines: &[String]) -> Result<Vec<String>, CliError> {
    let Some(first) = args.first() else {
        return Err(CliError::new(ErrorKind::Incomplete, "|"));
    };
    if first.text != "grep" {
        return Err(CliError::new(ErrorKind::CommandParse, &first.raw));
    }
    let (mut icase, mut invert, mut context, mut after, mut before) =
        (false, false, false, 0usize, 0usize);
    let mut pattern: Option<String> = None;
    let mut i = 1;
    while i < args.len() {
        let t = &args[i];
        let num = |j: usize| -> Result<usize, CliError> {
            args.get(j)
                .and_then(|t| t.text.parse().ok())
                .ok_or_else(|| {
                    CliError::new(
                        ErrorKind::InvalidValue,
                        args.get(j).map_or(&t.raw, |a| &a.raw),
                    )
                })
        };
        match t.text.as_str() {
            "-i" => icase = true,
            "-v" => invert = true,
            "-f" => context = true,
            "-A" => {
                after = num(i + 1)?;
                i += 1;
            }
            "-B" => {
                before = num(i + 1)?;
                i += 1;
            }
            s if s.starts_with("-A") && s[2..].parse::<usize>().is_ok() => {
                after = s[2..].parse().unwrap_or(0)
            }
            s if s.starts_with("-B") && s[2..].parse::<usize>().is_ok() => {
                before = s[2..].parse().unwrap_or(0)
            }
            _ if pattern.is_none() => pattern = Some(t.text.clone()),
            _ => return Err(CliError::new(ErrorKind::CommandParse, &t.raw)),
        }
        i += 1;
    }
    let pattern = pattern.ok_or_else(|| CliError::new(ErrorKind::Incomplete, "grep"))?;
    let needle = if icase {
        pattern.to_lowercase()
    } else {
        pattern
    };
    let hit = |l: &str| {
        let m = if icase {
            l.to_lowercase().contains(&needle)
        } else {
            l.contains(&needle)
        };
        m != invert
    };
    let mut keep = vec![false; lines.len()];
    let mut marked = vec![false; lines.len()];
    for (idx, line) in lines.iter().enumerate() {
        if !hit(line) {
            continue;
        }
        marked[idx] = true;
        let lo = idx.saturating_sub(before);
        let hi = (idx + after).min(lines.len().saturating_sub(1));
        for k in keep.iter_mut().take(hi + 1).skip(lo) {
            *k = true;
        }
        if context {
            // Include the enclosing `config`/`edit` lines and their closing `next`/`end`.
            let mut indent = indent_of(line);
            for j in (0..idx).rev() {
                let ind = indent_of(&lines[j]);
                if ind < indent {
                    keep[j] = true;
                    indent = ind;
                    if let Some(close) = (idx + 1..lines.len()).find(|&k| {
                        indent_of(&lines[k]) == ind && matches!(lines[k].trim(), "next" | "end")
                    }) {
                        keep[close] = true;
                    }
                }
            }
        }
    }
    Ok(lines
        .iter()
        .enumerate()
        .filter(|(i, _)| keep[*i])
        .map(|(i, l)| {
            if context && marked[i] {
                format!("{l} <---")
            } else {
                l.clone()
            }
        })
        .collect())
}

fn indent_of(l: &str) -> usize {
    l.len() - l.trim_start().len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shell(vdom_mode: bool) -> Shell {
        let profile = Profile {
            vdom_mode,
            ..Profile::default()
        };
        Shell::new(Device::new(profile, DeviceState::default()))
    }

    fn run(sh: &mut Shell, lines: &[&str]) -> Vec<String> {
        lines.iter().flat_map(|l| sh.execute(l).lines).collect()
    }

    #[test]
    fn scope_stack_and_prompts() {
        let mut sh = shell(false);
        assert_eq!(sh.prompt(), "FGT # ");
        sh.execute("config firewall address");
        assert_eq!(sh.prompt(), "FGT (address) # ");
        sh.execute("edit \"bl-1\"");
        assert_eq!(sh.prompt(), "FGT (bl-1) # ");
        sh.execute("set subnet 203.0.113.7/32");
        sh.execute("next");
        assert_eq!(sh.prompt(), "FGT (address) # ");
        sh.execute("end");
        assert_eq!(sh.prompt(), "FGT # ");
        let out = run(&mut sh, &["show firewall address bl-1"]);
        assert_eq!(out[0], "config firewall address");
        assert_eq!(out[1], "    edit \"bl-1\"");
        assert!(out[2].starts_with("        set uuid "), "{out:?}");
        assert_eq!(out[3], "        set subnet 203.0.113.7 255.255.255.255");
    }

    #[test]
    fn bad_subnet_keeps_edit_open_and_next_saves_default() {
        let mut sh = shell(false);
        let out = run(
            &mut sh,
            &[
                "config firewall address",
                "edit x",
                "set subnet 10.0.0.300/32",
            ],
        );
        assert_eq!(
            out.last().map(String::as_str),
            Some("Command fail. Return code -8")
        );
        assert_eq!(sh.prompt(), "FGT (x) # ");
        run(&mut sh, &["next", "end"]);
        let out = run(&mut sh, &["show full-configuration firewall address x"]);
        assert!(
            out.iter()
                .any(|l| l == "        set subnet 0.0.0.0 0.0.0.0"),
            "{out:?}"
        );
    }

    #[test]
    fn groups_check_datasource_use_and_emptiness() {
        let mut sh = shell(false);
        run(
            &mut sh,
            &[
                "config firewall address",
                "edit a",
                "set subnet 1.1.1.1/32",
                "next",
                "end",
            ],
        );
        let out = run(
            &mut sh,
            &["config firewall addrgrp", "edit g", "set member nope"],
        );
        assert_eq!(
            out.last().map(String::as_str),
            Some("Command fail. Return code -3")
        );
        let out = run(&mut sh, &["next"]);
        assert_eq!(
            out,
            [
                "Attribute 'member' MUST be set.",
                "Command fail. Return code -56"
            ]
        );
        run(&mut sh, &["set member a", "next", "end"]);
        let out = run(&mut sh, &["config firewall address", "delete a"]);
        assert_eq!(
            out,
            [
                "The entry is used by other 1 entries",
                "Command fail. Return code -23"
            ]
        );
        run(&mut sh, &["end"]);
        let out = run(&mut sh, &["config firewall addrgrp", "edit a"]);
        assert_eq!(
            out.last().map(String::as_str),
            Some("Command fail. Return code -5")
        );
    }

    #[test]
    fn multi_vdom_requires_vdom_context() {
        let mut sh = shell(true);
        let out = run(&mut sh, &["config firewall address"]);
        assert_eq!(
            out.last().map(String::as_str),
            Some("Command fail. Return code -61")
        );
        run(&mut sh, &["config vdom"]);
        assert_eq!(sh.prompt(), "FGT (vdom) # ");
        run(&mut sh, &["edit root"]);
        assert_eq!(sh.prompt(), "FGT (root) # ");
        run(&mut sh, &["config firewall address"]);
        assert_eq!(sh.prompt(), "FGT (address) # ");
        run(&mut sh, &["end", "end"]);
        assert_eq!(sh.prompt(), "FGT # ");
        let mut single = shell(false);
        let out = run(&mut single, &["config vdom"]);
        assert_eq!(
            out,
            [
                "command parse error before 'vdom'",
                "Command fail. Return code -61"
            ]
        );
    }

    #[test]
    fn grep_filters_status() {
        let mut sh = shell(false);
        let out = run(&mut sh, &["get system status | grep Virtual"]);
        assert_eq!(
            out,
            [
                "Virtual domains status: 1 in NAT mode, 0 in TP mode",
                "Virtual domain configuration: disable"
            ]
        );
        let out = run(&mut sh, &["get system status | grep -i VERSION"]);
        assert_eq!(
            out,
            [
                "Version: FortiGate-VM64 v7.4.8,build2795,250523 (GA.M)",
                "Release Version Information: GA"
            ]
        );
    }

    #[test]
    fn escaping_in_show() {
        let mut sh = shell(false);
        run(
            &mut sh,
            &[
                "config firewall address",
                r#"edit "q""#,
                r#"set comment "say \"hi\" \\o/""#,
                "end",
            ],
        );
        let out = run(&mut sh, &["show firewall address q"]);
        assert!(
            out.contains(&r#"        set comment "say \"hi\" \\o/""#.to_string()),
            "{out:?}"
        );
    }

    #[test]
    fn grep_never_hides_a_failure() {
        let mut sh = shell(false);
        let out = run(&mut sh, &["show firewall nonsense | grep zzz"]);
        assert_eq!(
            out,
            [
                "command parse error before 'nonsense'",
                "Command fail. Return code -61"
            ]
        );
    }

    #[test]
    fn console_cannot_change_inside_a_transaction() {
        let mut sh = shell(false);
        run(&mut sh, &["execute config-transaction start"]);
        let out = run(&mut sh, &["config system console"]);
        assert_eq!(
            out.last().map(String::as_str),
            Some("Command fail. Return code -1")
        );
        run(&mut sh, &["execute config-transaction abort"]);
        assert!(run(&mut sh, &["config system console"]).is_empty());
        assert_eq!(sh.prompt(), "FGT (console) # ");
    }

    #[test]
    fn rename_moves_references_and_purge_respects_them() {
        let mut sh = shell(false);
        run(
            &mut sh,
            &[
                "config firewall address",
                "edit a",
                "next",
                "end",
                "config firewall addrgrp",
                "edit g",
                "set member a",
                "end",
            ],
        );
        run(&mut sh, &["config firewall address", "rename a to b"]);
        let out = run(&mut sh, &["purge"]);
        assert_eq!(out[0], "The entry is used by other 1 entries");
        run(&mut sh, &["end"]);
        let out = run(&mut sh, &["show firewall addrgrp g | grep member"]);
        assert_eq!(out, ["        set member \"b\""]);
        let out = run(&mut sh, &["show firewall addrgrp | grep -f member"]);
        assert_eq!(
            out,
            [
                "config firewall addrgrp",
                "    edit \"g\"",
                "        set member \"b\" <---",
                "    next",
                "end"
            ]
        );
    }

    #[test]
    fn debug_cli_8_prints_codes_per_line() {
        let mut sh = shell(false);
        run(&mut sh, &["diagnose debug cli 8"]);
        let out = run(
            &mut sh,
            &[
                "config firewall address",
                "edit x",
                "set subnet 1.2.3.999/32",
                "abort",
                "end",
            ],
        );
        assert_eq!(
            out,
            [
                "0: config firewall address",
                "0: edit x",
                "value parse error before '1.2.3.999/32'",
                "Command fail. Return code -8",
                "-8: set subnet 1.2.3.999/32",
                "0: abort",
                "0: end",
            ]
        );
    }

    #[test]
    fn wildcard_fqdn_tables_have_their_own_namespace() {
        let mut sh = shell(false);
        run(&mut sh, &["config firewall address", "edit w", "end"]);
        run(&mut sh, &["conf fire wildcard-fqdn cust"]);
        assert_eq!(sh.prompt(), "FGT (custom) # ");
        run(
            &mut sh,
            &["edit w", "set wildcard-fqdn \"*.example.com\"", "end"],
        );
        run(&mut sh, &["config firewall wildcard-fqdn group", "edit wg"]);
        assert!(
            run(&mut sh, &["set member nope"])
                .contains(&"Command fail. Return code -3".to_string())
        );
        assert!(run(&mut sh, &["set member w", "end"]).is_empty());
        let out = run(&mut sh, &["show firewall wildcard-fqdn custom w"]);
        assert_eq!(out[0], "config firewall wildcard-fqdn custom");
        assert_eq!(out[3], "        set wildcard-fqdn \"*.example.com\"");
        // The address `w` is not used by the wildcard group, so it can go.
        assert!(run(&mut sh, &["config firewall address", "delete w", "end"]).is_empty());
        let out = run(&mut sh, &["config firewall wildcard-fqdn"]);
        assert_eq!(
            out.last().map(String::as_str),
            Some("Command fail. Return code -160")
        );
    }

    #[test]
    fn random_input_never_panics_and_keeps_a_prompt() {
        let words = [
            "config",
            "firewall",
            "address",
            "address6",
            "addrgrp",
            "addrgrp6",
            "wildcard-fqdn",
            "custom",
            "group",
            "edit",
            "set",
            "unset",
            "append",
            "unselect",
            "member",
            "subnet",
            "ip6",
            "type",
            "fqdn",
            "comment",
            "next",
            "end",
            "abort",
            "show",
            "get",
            "full-configuration",
            "delete",
            "rename",
            "to",
            "purge",
            "a",
            "b",
            "g",
            "1.2.3.4/32",
            "::1",
            "|",
            "grep",
            "-f",
            "-A",
            "3",
            "system",
            "status",
            "console",
            "output",
            "more",
            "vdom",
            "global",
            "root",
            "execute",
            "config-transaction",
            "start",
            "commit",
            "diagnose",
            "debug",
            "cli",
            "8",
            "\"q\"",
            "'x'",
            "\\",
            "\"",
        ];
        for vdom_mode in [false, true] {
            let mut sh = shell(vdom_mode);
            for _ in 0..5000 {
                let n = rand::random_range(0..6);
                let line: Vec<&str> = (0..n)
                    .map(|_| words[rand::random_range(0..words.len())])
                    .collect();
                let reply = sh.execute(&line.join(" "));
                assert_eq!(
                    reply.failed,
                    reply
                        .lines
                        .iter()
                        .any(|l| l.starts_with("Command fail. Return code"))
                );
                let p = sh.prompt();
                assert!(p.starts_with("FGT ") && p.ends_with("# "), "{p}");
            }
        }
    }
}
