//! Global settings: `config system console` (the pager; global, so changing it changes every
//! administrator's console), `config system central-management` (FortiManager), `config system
//! resource-limits` and `config system vdom-property` (capacity quotas), and `print tablesize`.
//! Every committed change to one of them is recorded in the device's global log, so tests can
//! assert that a client never changed a global setting.
use super::admin::{Access, Area};
use super::errors::{CliError, ErrorKind};
use super::lexer::{self, Token};
use super::output::{get_console, render_console};
use super::schema::{self, TableSchema};
use super::shell::{Reply, Res, Scope, Shell};
use super::state::{Loc, Value};

/// `config system <x>` targets.
const SYSTEM: &[&str] = &[
    "console",
    "central-management",
    "resource-limits",
    "vdom-property",
];

/// Settings FortiOS refuses to change inside a workspace transaction (FortiOS admin guide
/// 6.2.11–7.6.5 "Workspace mode").
const NOT_IN_TRANSACTION: &[&str] = &["console", "resource-limits", "vdom-property"];

impl Shell {
    /// `config system <x>`.
    pub(super) fn config_system(&mut self, cmd: &[Token]) -> Res {
        let Some(second) = cmd.get(2) else {
            return Err(CliError::new(ErrorKind::Incomplete, &cmd[1].raw));
        };
        let sub = lexer::keyword(&second.text, SYSTEM)
            .ok_or_else(|| CliError::new(ErrorKind::CommandParse, &second.raw))?;
        // Global settings only exist where global commands do: a VDOM administrator gets
        // `command parse error before 'console'` (-61, netmiko #3353).
        if !self.global_ctx() {
            return Err(CliError::new(ErrorKind::CommandParse, &second.raw));
        }
        if let Some(extra) = cmd.get(3) {
            return Err(CliError::new(ErrorKind::CommandParse, &extra.raw));
        }
        self.admin
            .require(Area::System, Access::Read, &second.raw)?;
        if self.tx.is_some() && NOT_IN_TRANSACTION.contains(&sub) {
            return Err(CliError::new(ErrorKind::NotInTransaction, &second.raw));
        }
        let scope = match sub {
            "console" => Scope::Console(self.read(|st| st.console.clone())),
            "vdom-property" => Scope::Table {
                loc: Loc::Global,
                table: &schema::VDOM_PROPERTY,
            },
            _ => {
                let table = if sub == "central-management" {
                    &schema::CENTRAL_MANAGEMENT
                } else {
                    &schema::RESOURCE_LIMITS
                };
                let obj = self.read(|st| st.setting(table.path));
                Scope::Setting { table, obj }
            }
        };
        self.stack.push(scope);
        Ok(Reply::default())
    }

    /// Commands inside `config system console`.
    pub(super) fn console_cmd(&mut self, verb: &str, cmd: &[Token]) -> Res {
        let writable = self.admin.access(Area::System) >= Access::Write;
        let deny = self.admin.deny(true, &cmd[0].raw);
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
                if !writable {
                    return Err(deny);
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
                let old = self.read(|st| st.console.clone());
                if c != old {
                    self.write(|st| st.console = c.clone());
                    self.device.log_global(format!(
                        "{}: system console: output {} -> {}",
                        self.user, old.output, c.output
                    ));
                }
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

    /// Commands inside a single-object setting (`central-management`, `resource-limits`).
    pub(super) fn setting_cmd(&mut self, verb: &str, cmd: &[Token]) -> Res {
        let Some(Scope::Setting { table, .. }) = self.stack.last() else {
            return Err(CliError::new(ErrorKind::CommandParse, &cmd[0].raw));
        };
        let table: &'static TableSchema = table;
        match verb {
            "set" | "unset" => {
                let f = cmd
                    .get(1)
                    .ok_or_else(|| CliError::new(ErrorKind::Incomplete, &cmd[0].raw))?;
                let field = table
                    .field(&f.text, None)
                    .ok_or_else(|| CliError::new(ErrorKind::CommandParse, &f.raw))?;
                self.admin
                    .require(Area::System, Access::Write, &cmd[0].raw)?;
                let value = if verb == "unset" {
                    if let Some(extra) = cmd.get(2) {
                        return Err(CliError::new(ErrorKind::CommandParse, &extra.raw));
                    }
                    None
                } else {
                    let words: Vec<&str> = cmd[2..].iter().map(|t| t.text.as_str()).collect();
                    let raws: Vec<&str> = cmd[2..].iter().map(|t| t.raw.as_str()).collect();
                    let v = schema::parse_scalar(field, &words, &raws)?;
                    (v != field.default).then_some(v)
                };
                if let Some(Scope::Setting { obj, .. }) = self.stack.last_mut() {
                    match value {
                        Some(v) => {
                            obj.fields.insert(field.name.to_string(), Value::Text(v));
                        }
                        None => {
                            obj.fields.remove(field.name);
                        }
                    }
                }
                Ok(Reply::default())
            }
            "show" | "get" => self.show_or_get_setting(verb, cmd),
            "end" => {
                let Some(Scope::Setting { obj, .. }) = self.stack.pop() else {
                    return Err(CliError::new(ErrorKind::CommandParse, &cmd[0].raw));
                };
                let before = self.read(|st| st.setting(table.path));
                if before.fields != obj.fields {
                    let committed = self.tx.is_none();
                    let stored = obj.clone();
                    self.write(|st| {
                        if stored.fields.is_empty() {
                            st.settings.remove(table.path);
                        } else {
                            st.settings.insert(table.path.to_string(), stored);
                        }
                    });
                    if committed {
                        self.log_object_change(table, "", Some(&before), &obj);
                    }
                }
                Ok(Reply::default())
            }
            "abort" => {
                self.stack.pop();
                Ok(Reply::default())
            }
            _ => Err(CliError::new(ErrorKind::CommandParse, &cmd[0].raw)),
        }
    }

    fn show_or_get_setting(&self, verb: &str, cmd: &[Token]) -> Res {
        if verb == "show" {
            return self.show_here(cmd);
        }
        self.get_here()
    }

    /// `print tablesize`: one line per table, `<table>: <per-entry> <per-VDOM> <global>`
    /// (0 = not limited at that level). FortiOS lists its hard table limits this way
    /// (FortiProxy 7.2.0 "Maximum Values Table"); the exact FortiGate layout is [U].
    pub(super) fn print_cmd(&mut self, cmd: &[Token]) -> Res {
        let Some(what) = cmd.get(1) else {
            return Err(CliError::new(ErrorKind::Incomplete, &cmd[0].raw));
        };
        if lexer::keyword(&what.text, &["tablesize"]).is_none() {
            return Err(CliError::new(ErrorKind::CommandParse, &what.raw));
        }
        if let Some(extra) = cmd.get(2) {
            return Err(CliError::new(ErrorKind::CommandParse, &extra.raw));
        }
        let l = self.device.profile.limits;
        let mut out = Vec::new();
        for t in schema::TABLES {
            out.push(format!(
                "{}: 0 {} {}",
                t.tablesize, l.max_entries, l.max_entries_global
            ));
            if t.family == schema::Family::Group && t.quota.is_some() {
                out.push(format!("{}:member: {} 0 0", t.tablesize, l.max_members));
            }
        }
        Ok(Reply::page(out))
    }
}
