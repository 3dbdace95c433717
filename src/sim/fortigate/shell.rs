//! The FortiOS command interpreter behind each simulated SSH shell: the scope stack
//! (`config`/`edit`/`next`/`end`/`abort`), routing each command to table editing (`edit.rs`),
//! `show`/`get` output (`output.rs`), global settings (`system.rs`) or transactions
//! (`txn.rs`), and the administrator's permissions (`admin.rs`). It knows nothing about SSH;
//! the terminal layer feeds it lines.
use std::sync::Arc;
use std::time::Instant;

use super::admin::{Access, AdminOptions, Area};
use super::errors::{CliError, ErrorKind};
use super::lexer::{self, Token};
use super::schema::{Family, TableSchema};
use super::state::{Console, DeviceState, Loc, Object};
use super::txn::Txn;

pub use super::device::{Device, Limits, Profile};

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
    pub(super) fn lines(lines: Vec<String>) -> Reply {
        Reply {
            lines,
            ..Reply::default()
        }
    }
    pub(super) fn page(lines: Vec<String>) -> Reply {
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

/// One level of the scope stack.
#[derive(Debug, Clone)]
pub(super) enum Scope {
    VdomList,
    Vdom(String),
    Global,
    Console(Console),
    /// A global single-object setting (`config system central-management`).
    Setting {
        table: &'static TableSchema,
        obj: Object,
    },
    Table {
        loc: Loc,
        table: &'static TableSchema,
    },
    Entry {
        loc: Loc,
        table: &'static TableSchema,
        name: String,
        obj: Object,
        is_new: bool,
    },
}

pub(super) type Res = Result<Reply, CliError>;

/// One CLI session.
pub struct Shell {
    pub(super) device: Arc<Device>,
    pub(super) admin: AdminOptions,
    pub(super) user: String,
    pub(super) stack: Vec<Scope>,
    /// The open `execute config-transaction`, if any.
    pub(super) tx: Option<Txn>,
    /// `diagnose debug cli <level>`; at 8 every command is followed by `<code>: <command>`.
    pub(super) debug_cli: u32,
}

impl Shell {
    /// A `super_admin` session (user `admin`) at the top-level prompt.
    pub fn new(device: Arc<Device>) -> Shell {
        Self::with_admin(device, AdminOptions::default(), "admin")
    }

    /// A session of administrator `user` with `admin`'s profile and scope.
    pub fn with_admin(device: Arc<Device>, admin: AdminOptions, user: &str) -> Shell {
        Shell {
            device,
            admin,
            user: user.to_string(),
            stack: Vec::new(),
            tx: None,
            debug_cli: 0,
        }
    }

    /// The prompt for the current scope, e.g. `FGT (address) # `; `$` for restricted profiles.
    /// A VDOM administrator's home prompt carries no scope (`FGT $ `, netmiko issue #3353).
    pub fn prompt(&self) -> String {
        let host = &self.device.profile.hostname;
        let sign = self.admin.prompt_sign();
        let scope = match self.stack.last() {
            None => return format!("{host} {sign} "),
            Some(Scope::VdomList) => "vdom".to_string(),
            Some(Scope::Vdom(v)) => v.clone(),
            Some(Scope::Global) => "global".to_string(),
            Some(Scope::Console(_)) => "console".to_string(),
            Some(Scope::Setting { table, .. }) | Some(Scope::Table { table, .. }) => {
                table.scope_name().to_string()
            }
            Some(Scope::Entry { name, .. }) => name.clone(),
        };
        format!("{host} ({scope}) {sign} ")
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
        let now = Instant::now();
        let notices = self.tick(now);
        let mut reply = self.execute_inner(line);
        self.after_command(now, &mut reply);
        self.annotate(line, &mut reply);
        if !notices.is_empty() {
            let mut lines = notices;
            lines.append(&mut reply.lines);
            reply.lines = lines;
        }
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
            match super::output::grep(pipe, &reply.lines) {
                Ok(lines) => reply.lines = lines,
                Err(e) => return e.into(),
            }
        }
        reply
    }

    // ---- state access -------------------------------------------------------------------

    /// Read the configuration this session sees (its transaction's staged copy, if any).
    pub(super) fn read<R>(&self, f: impl FnOnce(&DeviceState) -> R) -> R {
        match &self.tx {
            Some(tx) => f(&tx.staged),
            None => f(&self.device.lock()),
        }
    }

    /// Change the configuration (staged inside a transaction, else committed at once).
    pub(super) fn write<R>(&mut self, f: impl FnOnce(&mut DeviceState) -> R) -> R {
        match &mut self.tx {
            Some(tx) => f(&mut tx.staged),
            None => {
                let r = f(&mut self.device.lock());
                self.device.touch();
                r
            }
        }
    }

    /// The VDOM whose tables the current scope addresses.
    pub(super) fn vdom(&self) -> Option<String> {
        if !self.device.profile.vdom_mode {
            return if self.stack.iter().any(|s| matches!(s, Scope::Global)) {
                None
            } else {
                Some("root".into())
            };
        }
        self.stack
            .iter()
            .rev()
            .find_map(|s| match s {
                Scope::Vdom(v) => Some(v.clone()),
                _ => None,
            })
            .or_else(|| self.admin.vdom.clone())
    }

    /// Whether global settings (console, central management, …) are addressable here.
    pub(super) fn global_ctx(&self) -> bool {
        if self.admin.vdom.is_some() {
            return false;
        }
        if self.device.profile.vdom_mode {
            matches!(self.stack.last(), Some(Scope::Global))
        } else {
            self.stack.is_empty()
        }
    }

    /// The permission group of a table.
    pub(super) fn area(table: &TableSchema) -> Area {
        match table.family {
            Family::Address | Family::Group => Area::Address,
            Family::Policy => Area::Policy,
            Family::System => Area::System,
        }
    }

    /// Refuse a change to `table` unless the profile may write it.
    pub(super) fn require_write(&self, table: &TableSchema, tok: &str) -> Result<(), CliError> {
        self.admin.require(Self::area(table), Access::Write, tok)
    }

    // ---- dispatch -----------------------------------------------------------------------

    fn verb<'a>(cmd: &[Token], verbs: &[&'a str]) -> Result<&'a str, CliError> {
        lexer::keyword(&cmd[0].text, verbs)
            .ok_or_else(|| CliError::new(ErrorKind::CommandParse, &cmd[0].raw))
    }

    fn dispatch(&mut self, cmd: &[Token]) -> Res {
        match self.stack.last() {
            Some(Scope::Entry { .. }) => {
                let verbs = [
                    "set", "unset", "append", "unselect", "select", "show", "get", "next", "end",
                    "abort",
                ];
                match Self::verb(cmd, &verbs)? {
                    "set" | "select" => self.entry_set(cmd, super::edit::Op::Set),
                    "append" => self.entry_set(cmd, super::edit::Op::Append),
                    "unselect" => self.entry_set(cmd, super::edit::Op::Unselect),
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
            Some(Scope::Table { loc, .. }) => {
                let global = *loc == Loc::Global;
                let verbs: &[&str] = if global {
                    &["edit", "show", "get", "end", "abort", "next"]
                } else {
                    &[
                        "edit", "delete", "rename", "purge", "show", "get", "end", "abort", "next",
                    ]
                };
                match Self::verb(cmd, verbs)? {
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
                    _ => Err(CliError::new(ErrorKind::CommandParse, &cmd[0].raw)),
                }
            }
            Some(Scope::Console(_)) => {
                let verbs = ["set", "unset", "show", "get", "end", "abort", "next"];
                let verb = Self::verb(cmd, &verbs)?;
                self.console_cmd(verb, cmd)
            }
            Some(Scope::Setting { .. }) => {
                let verbs = ["set", "unset", "show", "get", "end", "abort", "next"];
                let verb = Self::verb(cmd, &verbs)?;
                self.setting_cmd(verb, cmd)
            }
            Some(Scope::VdomList) => {
                let verb = Self::verb(cmd, &["edit", "end", "abort", "show", "get"])?;
                self.vdom_list_cmd(verb, cmd)
            }
            None | Some(Scope::Vdom(_)) | Some(Scope::Global) => {
                let mut verbs = vec![
                    "config", "show", "get", "execute", "diagnose", "print", "exit",
                ];
                if !self.stack.is_empty() {
                    verbs.extend(["end", "abort", "next"]);
                }
                match Self::verb(cmd, &verbs)? {
                    "config" => self.config(cmd),
                    "show" => self.show_path(cmd),
                    "get" => self.get_path(cmd),
                    "execute" => self.execute_cmd(cmd),
                    "diagnose" => self.diagnose(cmd),
                    "print" => self.print_cmd(cmd),
                    "exit" => Ok(Reply {
                        exit: true,
                        ..Reply::default()
                    }),
                    "next" => match self.stack.last() {
                        Some(Scope::Vdom(_)) => {
                            self.stack.pop();
                            Ok(Reply::default())
                        }
                        _ => Err(CliError::new(ErrorKind::CommandParse, &cmd[0].raw)),
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

    /// `(vdom)` scope: `edit <vdom>` enters (creates) a VDOM.
    fn vdom_list_cmd(&mut self, verb: &str, cmd: &[Token]) -> Res {
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
                    self.admin.require(Area::System, Access::Write, &name.raw)?;
                    let factory = self.device.behaviour.default_objects;
                    self.write(|st| {
                        st.vdoms.entry(v.clone()).or_default();
                        if factory {
                            super::defaults::install(st, &v);
                        }
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
                // A VDOM administrator's CLI has no `config global` / `config vdom`.
                if !(multi && top) || self.admin.vdom.is_some() {
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
            "system" => self.config_system(cmd),
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
                let last = &cmd[1 + used];
                self.admin
                    .require(Self::area(table), Access::Read, &last.raw)?;
                self.stack.push(Scope::Table {
                    loc: Loc::Vdom(vdom),
                    table,
                });
                Ok(Reply::default())
            }
        }
    }

    /// The table named by the words after `firewall`, and how many words it took.
    pub(super) fn firewall_table(
        &self,
        toks: &[Token],
    ) -> Result<(&'static TableSchema, usize), CliError> {
        let words: Vec<&str> = toks.iter().map(|t| t.text.as_str()).collect();
        super::schema::resolve_firewall_table(&words).map_err(|i| match toks.get(i) {
            Some(t) => CliError::new(ErrorKind::CommandParse, &t.raw),
            None => CliError::new(
                ErrorKind::Incomplete,
                toks.last().map_or("firewall", |t| t.raw.as_str()),
            ),
        })
    }

    /// `diagnose debug cli <0-8>` and `diagnose debug enable|disable` (accepted, no effect).
    fn diagnose(&mut self, cmd: &[Token]) -> Res {
        if !self.admin.may_diagnose() {
            return Err(self.admin.deny(false, &cmd[0].raw));
        }
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

    /// `execute config-transaction …` (the only `execute` the simulator knows).
    fn execute_cmd(&mut self, cmd: &[Token]) -> Res {
        if !self.admin.may_exec() {
            return Err(self.admin.deny(false, &cmd[0].raw));
        }
        let sub = cmd
            .get(1)
            .ok_or_else(|| CliError::new(ErrorKind::Incomplete, &cmd[0].raw))?;
        if lexer::keyword(&sub.text, &["config-transaction"]).is_none() {
            return Err(CliError::new(ErrorKind::CommandParse, &sub.raw));
        }
        self.transaction_cmd(&cmd[1..])
    }
}

impl Drop for Shell {
    fn drop(&mut self) {
        self.end_session();
    }
}

#[cfg(test)]
#[path = "shell_tests.rs"]
mod tests;
