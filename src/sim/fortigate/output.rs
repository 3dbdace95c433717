//! What `show` and `get` print: `config …`/`edit "name"`/`set …` blocks (non-default fields,
//! or every field with `full-configuration`), `name<pad>: value` listings, `get system status`,
//! and the `| grep` filter. Names and string values are printed double-quoted with `\"` and
//! `\\` escaped and every other character raw (tab, non-ASCII), so a client reading `show`
//! gets the exact name back.
use super::admin::{Access, Area};
use super::errors::{CliError, ErrorKind};
use super::lexer::{self, Token};
use super::schema::{self, Field, TableSchema};
use super::shell::{Reply, Res, Scope, Shell};
use super::state::{Console, DeviceState, Loc, Object, Value};

const GET_WIDTH: usize = 20;

/// A `show`/`get` target resolved from its words.
pub(super) enum Path {
    Status,
    Console,
    /// A global single-object setting.
    Setting(&'static TableSchema),
    /// A table at a location, optionally one entry of it.
    Table(&'static TableSchema, Loc, Option<String>),
}

impl Shell {
    /// `show` inside a table, entry or setting scope.
    pub(super) fn show_here(&self, cmd: &[Token]) -> Res {
        let full = cmd
            .get(1)
            .is_some_and(|t| lexer::keyword(&t.text, &["full-configuration"]).is_some());
        match self.stack.last() {
            Some(Scope::Entry {
                table, name, obj, ..
            }) => Ok(Reply::page(self.render_table(
                table,
                &[(name.as_str(), obj)],
                full,
            ))),
            Some(Scope::Table { loc, table }) => {
                let rest = &cmd[if full { 2 } else { 1 }..];
                if let Some(extra) = rest.get(1) {
                    return Err(CliError::new(ErrorKind::CommandParse, &extra.raw));
                }
                let name = rest.first().map(|t| t.text.clone());
                Ok(Reply::page(self.read(|st| {
                    self.render_at(st, loc, table, name.as_deref(), full)
                })))
            }
            Some(Scope::Setting { table, obj }) => {
                Ok(Reply::page(self.render_setting(table, obj, full)))
            }
            _ => Err(CliError::new(ErrorKind::CommandParse, &cmd[0].raw)),
        }
    }

    /// `get` inside a table, entry or setting scope.
    pub(super) fn get_here(&self) -> Res {
        match self.stack.last() {
            Some(Scope::Entry {
                table, name, obj, ..
            }) => Ok(Reply::page(self.get_object(table, name, obj))),
            Some(Scope::Table { loc, table }) => Ok(Reply::page(
                self.read(|st| list_names(&st.names_at(loc, table.path))),
            )),
            Some(Scope::Setting { table, obj }) => Ok(Reply::page(self.get_object(table, "", obj))),
            _ => Err(CliError::new(ErrorKind::CommandParse, "get")),
        }
    }

    /// `show [full-configuration] [path [name]]` at the top, VDOM or global scope.
    pub(super) fn show_path(&self, cmd: &[Token]) -> Res {
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
            Path::Setting(table) => {
                let obj = self.read(|st| st.setting(table.path));
                Ok(Reply::page(self.render_setting(table, &obj, full)))
            }
            Path::Table(table, loc, name) => {
                Ok(Reply::page(self.read(|st| {
                    self.render_at(st, &loc, table, name.as_deref(), full)
                })))
            }
            Path::Status => Err(CliError::new(ErrorKind::CommandParse, &rest[1].raw)),
        }
    }

    /// `get <path> [name]` at the top, VDOM or global scope.
    pub(super) fn get_path(&self, cmd: &[Token]) -> Res {
        let rest = &cmd[1..];
        if rest.is_empty() {
            return Err(CliError::new(ErrorKind::Incomplete, &cmd[0].raw));
        }
        match self.resolve_path(rest)? {
            Path::Status => Ok(Reply::page(self.system_status())),
            Path::Console => Ok(Reply::page(get_console(
                &self.read(|st| st.console.clone()),
            ))),
            Path::Setting(table) => {
                let obj = self.read(|st| st.setting(table.path));
                Ok(Reply::page(self.get_object(table, "", &obj)))
            }
            Path::Table(table, loc, name) => Ok(Reply::page(self.read(|st| {
                match &name {
                    Some(n) => self
                        .entries_at(st, &loc, table, Some(n))
                        .first()
                        .map(|(n, o)| self.get_object(table, n, o))
                        .unwrap_or_default(),
                    None => list_names(
                        &self
                            .entries_at(st, &loc, table, None)
                            .into_iter()
                            .map(|(n, _)| n)
                            .collect::<Vec<_>>(),
                    ),
                }
            }))),
        }
    }

    /// Resolve `system …` / `firewall …` and check the administrator may read it.
    pub(super) fn resolve_path(&self, rest: &[Token]) -> Result<Path, CliError> {
        let a = lexer::keyword(&rest[0].text, &["system", "firewall"])
            .ok_or_else(|| CliError::new(ErrorKind::CommandParse, &rest[0].raw))?;
        let Some(b) = rest.get(1) else {
            return Err(CliError::new(ErrorKind::Incomplete, &rest[0].raw));
        };
        if a == "system" {
            let sub = lexer::keyword(
                &b.text,
                &[
                    "status",
                    "console",
                    "central-management",
                    "resource-limits",
                    "vdom-property",
                ],
            )
            .ok_or_else(|| CliError::new(ErrorKind::CommandParse, &b.raw))?;
            let max_words = if sub == "vdom-property" { 3 } else { 2 };
            if let Some(extra) = rest.get(max_words) {
                return Err(CliError::new(ErrorKind::CommandParse, &extra.raw));
            }
            if sub == "status" {
                let in_table_ctx = self.device.profile.vdom_mode
                    && !self.stack.is_empty()
                    && !matches!(self.stack.last(), Some(Scope::Global | Scope::Vdom(_)));
                if in_table_ctx {
                    return Err(CliError::new(ErrorKind::CommandParse, &b.raw));
                }
            } else if !self.global_ctx() {
                // Global settings do not exist in a VDOM context (netmiko #3353: a VDOM
                // administrator's `get system console` is a parse error, -61).
                return Err(CliError::new(ErrorKind::CommandParse, &b.raw));
            }
            self.require_system_read(sub, &b.raw)?;
            return Ok(match sub {
                "status" => Path::Status,
                "console" => Path::Console,
                "central-management" => Path::Setting(&schema::CENTRAL_MANAGEMENT),
                "resource-limits" => Path::Setting(&schema::RESOURCE_LIMITS),
                _ => Path::Table(
                    &schema::VDOM_PROPERTY,
                    Loc::Global,
                    rest.get(2).map(|t| t.text.clone()),
                ),
            });
        }
        let (table, used) = self.firewall_table(&rest[1..])?;
        let Some(vdom) = self.vdom() else {
            return Err(CliError::new(ErrorKind::CommandParse, &b.raw));
        };
        if let Some(extra) = rest.get(2 + used) {
            return Err(CliError::new(ErrorKind::CommandParse, &extra.raw));
        }
        self.admin
            .require(Self::area(table), Access::Read, &rest[used].raw)?;
        Ok(Path::Table(
            table,
            Loc::Vdom(vdom),
            rest.get(1 + used).map(|t| t.text.clone()),
        ))
    }

    /// `get/show system <sub>`: needs system read access, or the switch that lets restricted
    /// profiles read it anyway.
    fn require_system_read(&self, sub: &str, tok: &str) -> Result<(), CliError> {
        if self.admin.access(Area::System) >= Access::Read || self.admin.system_reads.contains(sub)
        {
            return Ok(());
        }
        Err(self.admin.deny(false, tok))
    }

    /// Entries of a table at `loc` (all, or the one called `name`) in `show` order. The
    /// `vdom-property` table lists one entry per VDOM, stored or not.
    fn entries_at(
        &self,
        st: &DeviceState,
        loc: &Loc,
        table: &TableSchema,
        name: Option<&str>,
    ) -> Vec<(String, Object)> {
        let mut out: Vec<(String, Object)> = if *loc == Loc::Global {
            st.vdoms
                .keys()
                .map(|v| {
                    let o = st
                        .object_at(loc, table.path, v)
                        .cloned()
                        .unwrap_or_default();
                    (v.clone(), o)
                })
                .collect()
        } else {
            st.names_at(loc, table.path)
                .into_iter()
                .filter_map(|n| st.object_at(loc, table.path, &n).map(|o| (n, o.clone())))
                .collect()
        };
        if let Some(name) = name {
            out.retain(|(n, _)| n == name);
        }
        out
    }

    /// A `config <table>` block for a table at `loc` (one entry, or all).
    fn render_at(
        &self,
        st: &DeviceState,
        loc: &Loc,
        table: &TableSchema,
        name: Option<&str>,
        full: bool,
    ) -> Vec<String> {
        let entries = self.entries_at(st, loc, table, name);
        let refs: Vec<(&str, &Object)> = entries.iter().map(|(n, o)| (n.as_str(), o)).collect();
        self.render_table(table, &refs, full)
    }

    /// The whole configuration visible from the current scope (and readable by this
    /// administrator).
    fn render_scope(&self, st: &DeviceState, full: bool) -> Vec<String> {
        let readable = |t: &TableSchema| self.admin.access(Self::area(t)) >= Access::Read;
        let vdom_tables = |v: &str| -> Vec<String> {
            let loc = Loc::Vdom(v.to_string());
            schema::TABLES
                .iter()
                .filter(|t| readable(t))
                .flat_map(|t| self.render_at(st, &loc, t, None, full))
                .collect()
        };
        let global = |out: &mut Vec<String>| {
            if self.admin.access(Area::System) >= Access::Read {
                out.extend(render_console(&st.console, full));
                for t in schema::SETTINGS {
                    out.extend(self.render_setting(t, &st.setting(t.path), full));
                }
                out.extend(self.render_at(st, &Loc::Global, &schema::VDOM_PROPERTY, None, full));
            }
        };
        if let Some(home) = &self.admin.vdom {
            return if self.stack.is_empty() {
                vdom_tables(home)
            } else {
                Vec::new()
            };
        }
        if !self.device.profile.vdom_mode {
            if self.stack.is_empty() {
                let mut out = vec![self.config_version_header()];
                global(&mut out);
                out.extend(vdom_tables("root"));
                return out;
            }
            return Vec::new();
        }
        match self.stack.last() {
            Some(Scope::Vdom(v)) => vdom_tables(v),
            Some(Scope::Global) => {
                let mut out = Vec::new();
                global(&mut out);
                out
            }
            _ => {
                let mut out = vec![self.config_version_header(), "config global".to_string()];
                global(&mut out);
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
        format!(
            "#config-version=FGVM64-7.4.8-FW-build2795-250523:opmode=0:vdom={vdom}:user={}",
            self.user
        )
    }

    /// A field's default as `get`/`show full-configuration` print it. `system
    /// resource-limits` fields default to the model's table size.
    fn default_of(&self, table: &TableSchema, field: &Field) -> String {
        if table.path == schema::RESOURCE_LIMITS.path {
            let l = self.device.profile.limits;
            let n = if l.max_entries_global > 0 {
                l.max_entries_global
            } else {
                l.max_entries
            };
            return n.to_string();
        }
        field.default.to_string()
    }

    /// A `config <table>` block with the given entries.
    pub fn render_table(
        &self,
        table: &TableSchema,
        entries: &[(&str, &Object)],
        full: bool,
    ) -> Vec<String> {
        let mut out = Vec::with_capacity(2 + entries.len() * 4);
        out.push(format!("config {}", table.path));
        for (name, obj) in entries {
            out.push(format!("    edit {}", lexer::quote(name)));
            let ty = obj.ty(table);
            for field in table.fields.iter().filter(|f| f.visible(ty)) {
                if let Some(line) = self.field_line(table, field, obj, full) {
                    out.push(format!("        set {} {}", field.name, line));
                }
            }
            out.push("    next".into());
        }
        out.push("end".into());
        out
    }

    /// A `config system <setting>` block (no `edit`).
    fn render_setting(&self, table: &TableSchema, obj: &Object, full: bool) -> Vec<String> {
        let mut out = vec![format!("config {}", table.path)];
        for field in table.fields {
            if let Some(line) = self.field_line(table, field, obj, full) {
                out.push(format!("    set {} {}", field.name, line));
            }
        }
        out.push("end".into());
        out
    }

    fn field_line(
        &self,
        table: &TableSchema,
        field: &Field,
        obj: &Object,
        full: bool,
    ) -> Option<String> {
        match obj.fields.get(field.name) {
            Some(Value::List(items)) if !items.is_empty() => Some(quote_list(items)),
            Some(Value::Text(v)) => Some(schema::show_value(field, v)),
            _ if full && !field.is_list() => {
                let d = self.default_of(table, field);
                Some(if d.is_empty() {
                    "''".to_string()
                } else {
                    schema::show_value(field, &d)
                })
            }
            _ => None,
        }
    }

    /// `get` of one entry (`name` empty for a setting): `field<pad>: value` lines.
    fn get_object(&self, table: &TableSchema, name: &str, obj: &Object) -> Vec<String> {
        let mut out = Vec::new();
        if !name.is_empty() {
            out.push(format!("{:<GET_WIDTH$}: {name}", "name"));
        }
        let ty = obj.ty(table);
        for field in table.fields.iter().filter(|f| f.visible(ty)) {
            let value = match obj.fields.get(field.name) {
                Some(Value::List(items)) => quote_list(items),
                Some(Value::Text(v)) => v.clone(),
                None => self.default_of(table, field),
            };
            out.push(format!("{:<GET_WIDTH$}: {value}", field.name));
        }
        out
    }

    pub(super) fn system_status(&self) -> Vec<String> {
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

fn quote_list(items: &[String]) -> String {
    items
        .iter()
        .map(|i| lexer::quote(i))
        .collect::<Vec<_>>()
        .join(" ")
}

/// `get <table>`: `== [ name ]` / `name: name` pairs.
fn list_names(names: &[String]) -> Vec<String> {
    names
        .iter()
        .flat_map(|n| [format!("== [ {n} ]"), format!("name: {n}")])
        .collect()
}

pub(super) fn render_console(c: &Console, full: bool) -> Vec<String> {
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

pub(super) fn get_console(c: &Console) -> Vec<String> {
    vec![
        format!("{:<GET_WIDTH$}: {}", "output", c.output),
        format!("{:<GET_WIDTH$}: enable", "login"),
        format!("{:<GET_WIDTH$}: enable", "fortiexplorer"),
    ]
}

/// `| grep [-i] [-v] [-f] [-A N] [-B N] PATTERN` (substring match, not regex).
pub(super) fn grep(args: &[Token], lines: &[String]) -> Result<Vec<String>, CliError> {
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
