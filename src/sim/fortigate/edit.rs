//! Table editing: `edit`/`delete`/`rename`/`purge` in a table, `set`/`append`/`unselect`/
//! `unset`/`next`/`end` in an entry — with FortiOS' checks: the shared name namespace,
//! datasources (a group member or policy address must exist in the field's tables), in-use
//! refusals, required attributes, read-only factory objects, object locks of open
//! transactions, and capacity (table sizes, `system resource-limits`, `vdom-property`).
use super::admin::Access;
use super::errors::{CliError, ErrorKind};
use super::lexer::Token;
use super::schema::{self, Kind, TableSchema};
use super::shell::{Reply, Res, Scope, Shell};
use super::state::{DeviceState, Loc, Object, Value, new_uuid};

/// How `set`-like verbs combine with a list field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Op {
    Set,
    Append,
    Unselect,
}

impl Shell {
    pub(super) fn table_ctx(&self) -> Option<(Loc, &'static TableSchema)> {
        match self.stack.last() {
            Some(Scope::Table { loc, table }) | Some(Scope::Entry { loc, table, .. }) => {
                Some((loc.clone(), table))
            }
            _ => None,
        }
    }

    fn check_name(&self, tok: &Token) -> Result<(), CliError> {
        let len = tok.text.chars().count();
        // `"` `'` `<` `>` are refused in names (FortiOS 6.0.5 Handbook "Text strings").
        if len == 0
            || len > self.device.profile.limits.name_length
            || tok.text.contains(['"', '\'', '<', '>'])
        {
            return Err(CliError::new(ErrorKind::InvalidValue, &tok.raw));
        }
        Ok(())
    }

    /// Refuse to touch a read-only factory object.
    fn check_writable(table: &TableSchema, name: &str, raw: &str) -> Result<(), CliError> {
        if super::defaults::is_read_only(table.path, name) {
            return Err(CliError::new(ErrorKind::ReadOnlyEntry, raw));
        }
        Ok(())
    }

    pub(super) fn table_edit(&mut self, cmd: &[Token]) -> Res {
        let (loc, table) = self
            .table_ctx()
            .ok_or_else(|| CliError::new(ErrorKind::CommandParse, &cmd[0].raw))?;
        let name_tok = cmd
            .get(1)
            .ok_or_else(|| CliError::new(ErrorKind::Incomplete, &cmd[0].raw))?;
        if let Some(extra) = cmd.get(2) {
            return Err(CliError::new(ErrorKind::CommandParse, &extra.raw));
        }
        self.check_name(name_tok)?;
        let mut name = name_tok.text.clone();
        if table.path == schema::POLICY.path {
            name = self.policy_id(&loc, name_tok)?;
        }
        if loc == Loc::Global {
            // `system vdom-property` has one entry per existing VDOM; `edit` cannot create.
            let exists = self.read(|st| st.vdoms.contains_key(&name));
            if !exists {
                return Err(CliError::new(ErrorKind::EntryNotFound, &name_tok.raw));
            }
        }
        let found = self.read(|st| {
            if let Some(o) = st.object_at(&loc, table.path, &name) {
                return Ok(Some(o.clone()));
            }
            if let Loc::Vdom(v) = &loc
                && st.namespace_owner(v, table, &name).is_some()
            {
                return Err(CliError::new(ErrorKind::Duplicate, &name_tok.raw));
            }
            Ok(None)
        })?;
        if found.is_none() && loc != Loc::Global {
            self.require_write(table, &name_tok.raw)?;
            self.read(|st| self.capacity(st, &loc, table, &name_tok.raw))?;
        }
        self.lock(&loc, table, &name, &name_tok.raw)?;
        let (obj, is_new) = match found {
            Some(o) => (o, false),
            None if loc == Loc::Global => (Object::default(), true),
            None => {
                let mut o = Object::default();
                o.fields.insert("uuid".into(), Value::Text(new_uuid()));
                (o, true)
            }
        };
        self.stack.push(Scope::Entry {
            loc,
            table,
            name,
            obj,
            is_new,
        });
        Ok(Reply::default())
    }

    /// A policy key: a number; `edit 0` takes the next free id.
    fn policy_id(&self, loc: &Loc, tok: &Token) -> Result<String, CliError> {
        let id: u32 = tok
            .text
            .parse()
            .map_err(|_| CliError::new(ErrorKind::InvalidValue, &tok.raw))?;
        if id != 0 {
            return Ok(id.to_string());
        }
        let max = self.read(|st| {
            st.table_at(loc, schema::POLICY.path)
                .map(|t| t.keys().filter_map(|k| k.parse::<u32>().ok()).max())
                .unwrap_or_default()
                .unwrap_or(0)
        });
        Ok((max + 1).to_string())
    }

    /// Entries `table` may still gain at `loc`, or `Maximum number of entries` (-4).
    pub(super) fn capacity(
        &self,
        st: &DeviceState,
        loc: &Loc,
        table: &TableSchema,
        tok: &str,
    ) -> Result<(), CliError> {
        let full = || CliError::new(ErrorKind::MaxEntries, tok);
        let Loc::Vdom(vdom) = loc else {
            return Ok(());
        };
        let limits = self.device.profile.limits;
        if st.count(vdom, table.path) >= limits.max_entries {
            return Err(full());
        }
        let everywhere = |path: &str| st.vdoms.keys().map(|v| st.count(v, path)).sum::<usize>();
        if limits.max_entries_global > 0 && everywhere(table.path) >= limits.max_entries_global {
            return Err(full());
        }
        let Some(quota) = table.quota else {
            return Ok(());
        };
        let tables: Vec<&str> = schema::TABLES
            .iter()
            .filter(|t| t.quota == Some(quota))
            .map(|t| t.path)
            .collect();
        let in_vdom: usize = tables.iter().map(|t| st.count(vdom, t)).sum();
        let vdom_max = st
            .object_at(&Loc::Global, schema::VDOM_PROPERTY.path, vdom)
            .and_then(|o| o.get(quota))
            .and_then(|v| v.split(' ').next()?.parse::<usize>().ok())
            .unwrap_or(0);
        if vdom_max > 0 && in_vdom >= vdom_max {
            return Err(full());
        }
        let device_max = st
            .setting(schema::RESOURCE_LIMITS.path)
            .get(quota)
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(0);
        let total: usize = tables.iter().map(|t| everywhere(t)).sum();
        if device_max > 0 && total >= device_max {
            return Err(full());
        }
        Ok(())
    }

    pub(super) fn table_delete(&mut self, cmd: &[Token]) -> Res {
        let (loc, table) = self
            .table_ctx()
            .ok_or_else(|| CliError::new(ErrorKind::CommandParse, &cmd[0].raw))?;
        let tok = cmd
            .get(1)
            .ok_or_else(|| CliError::new(ErrorKind::Incomplete, &cmd[0].raw))?;
        self.require_write(table, &cmd[0].raw)?;
        let name = tok.text.clone();
        let Loc::Vdom(vdom) = &loc else {
            return Err(CliError::new(ErrorKind::CommandParse, &cmd[0].raw));
        };
        let (exists, refs) = self.read(|st| {
            (
                st.object(vdom, table.path, &name).is_some(),
                st.referrers(vdom, table.path, &name).len(),
            )
        });
        if !exists {
            return Err(CliError::new(ErrorKind::EntryNotFound, &tok.raw));
        }
        Self::check_writable(table, &name, &tok.raw)?;
        if refs > 0 {
            return Err(CliError::new(ErrorKind::InUse, &tok.raw).with_n(refs));
        }
        self.lock(&loc, table, &name, &tok.raw)?;
        self.write(|st| {
            st.table_at_mut(&loc, table.path).remove(&name);
        });
        Ok(Reply::default())
    }

    pub(super) fn table_rename(&mut self, cmd: &[Token]) -> Res {
        let (loc, table) = self
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
        self.require_write(table, &cmd[0].raw)?;
        self.check_name(to)?;
        let Loc::Vdom(vdom) = loc.clone() else {
            return Err(CliError::new(ErrorKind::CommandParse, &cmd[0].raw));
        };
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
        Self::check_writable(table, &old, &from.raw)?;
        if taken {
            return Err(CliError::new(ErrorKind::Duplicate, &to.raw));
        }
        self.lock(&loc, table, &old, &from.raw)?;
        self.lock(&loc, table, &new, &to.raw)?;
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

    pub(super) fn table_purge(&mut self) -> Res {
        let (loc, table) = self
            .table_ctx()
            .ok_or_else(|| CliError::new(ErrorKind::CommandParse, "purge"))?;
        self.require_write(table, "purge")?;
        let Loc::Vdom(vdom) = loc.clone() else {
            return Err(CliError::new(ErrorKind::CommandParse, "purge"));
        };
        let (names, used) = self.read(|st| {
            let names = st.names(&vdom, table.path);
            let used = names
                .iter()
                .map(|n| st.referrers(&vdom, table.path, n).len())
                .sum::<usize>();
            (names, used)
        });
        if used > 0 {
            return Err(CliError::new(ErrorKind::InUse, "purge").with_n(used));
        }
        if let Some(ro) = names
            .iter()
            .find(|n| super::defaults::is_read_only(table.path, n))
        {
            return Err(CliError::new(ErrorKind::ReadOnlyEntry, ro));
        }
        for n in &names {
            self.lock(&loc, table, n, n)?;
        }
        self.write(|st| st.table_at_mut(&loc, table.path).clear());
        Ok(Reply::default())
    }

    // ---- entry scope --------------------------------------------------------------------

    pub(super) fn entry_set(&mut self, cmd: &[Token], op: Op) -> Res {
        let Some(Scope::Entry {
            loc,
            table,
            name,
            obj,
            ..
        }) = self.stack.last()
        else {
            return Err(CliError::new(ErrorKind::CommandParse, &cmd[0].raw));
        };
        let (loc, table, self_name) = (loc.clone(), *table, name.clone());
        let field_tok = cmd
            .get(1)
            .ok_or_else(|| CliError::new(ErrorKind::Incomplete, &cmd[0].raw))?;
        let field = table
            .field(&field_tok.text, obj.ty(table))
            .ok_or_else(|| CliError::new(ErrorKind::CommandParse, &field_tok.raw))?;
        let current: Vec<String> = obj.list(field.name).to_vec();
        self.admin
            .require(Self::area(table), Access::Write, &cmd[0].raw)?;
        Self::check_writable(table, &self_name, &self_name)?;
        let values: Vec<&str> = cmd[2..].iter().map(|t| t.text.as_str()).collect();
        let raws: Vec<&str> = cmd[2..].iter().map(|t| t.raw.as_str()).collect();
        if values.is_empty() {
            return Err(CliError::new(ErrorKind::Incomplete, &field_tok.raw));
        }
        let new_value = match field.kind {
            Kind::Members { .. } | Kind::Words { .. } => {
                match field.kind {
                    Kind::Members { sources } if op != Op::Unselect => {
                        let Loc::Vdom(vdom) = &loc else {
                            return Err(CliError::new(ErrorKind::CommandParse, &field_tok.raw));
                        };
                        self.check_members(vdom, &self_name, sources, &cmd[2..])?;
                    }
                    Kind::Words { max } => {
                        if let Some(t) = cmd[2..].iter().find(|t| t.text.chars().count() > max) {
                            return Err(CliError::new(ErrorKind::InvalidValue, &t.raw));
                        }
                    }
                    _ => {}
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
                let is_member = field.name == "member";
                if is_member && list.len() > self.device.profile.limits.max_members {
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

    pub(super) fn entry_unset(&mut self, cmd: &[Token]) -> Res {
        let Some(Scope::Entry {
            table, obj, name, ..
        }) = self.stack.last()
        else {
            return Err(CliError::new(ErrorKind::CommandParse, &cmd[0].raw));
        };
        let (table, name) = (*table, name.clone());
        let field_tok = cmd
            .get(1)
            .ok_or_else(|| CliError::new(ErrorKind::Incomplete, &cmd[0].raw))?;
        let field = table
            .field(&field_tok.text, obj.ty(table))
            .ok_or_else(|| CliError::new(ErrorKind::CommandParse, &field_tok.raw))?;
        if let Some(extra) = cmd.get(2) {
            return Err(CliError::new(ErrorKind::CommandParse, &extra.raw));
        }
        self.require_write(table, &cmd[0].raw)?;
        Self::check_writable(table, &name, &name)?;
        if let Some(Scope::Entry { obj, .. }) = self.stack.last_mut() {
            if field.kind == Kind::Uuid {
                obj.fields.insert("uuid".into(), Value::Text(new_uuid()));
            } else {
                obj.fields.remove(field.name);
            }
        }
        Ok(Reply::default())
    }

    pub(super) fn entry_commit(&mut self, close_table: bool) -> Res {
        let Some(Scope::Entry {
            loc,
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
        let (loc, table, name, mut obj, is_new) =
            (loc.clone(), *table, name.clone(), obj.clone(), *is_new);
        // Drop attributes that do not belong to the final type (FortiOS hides them).
        let ty = obj.ty(table).map(str::to_string);
        obj.fields.retain(|k, _| {
            table
                .fields
                .iter()
                .any(|f| f.name == k && f.visible(ty.as_deref()))
        });
        let unchanged = self.read(|st| {
            st.object_at(&loc, table.path, &name)
                .is_some_and(|o| o.fields == obj.fields)
        });
        if !unchanged {
            self.lock(&loc, table, &name, &name)?;
            if is_new && loc != Loc::Global {
                self.read(|st| {
                    if st.object_at(&loc, table.path, &name).is_none() {
                        self.capacity(st, &loc, table, &name)
                    } else {
                        Ok(())
                    }
                })?;
            }
            let before = self.read(|st| st.object_at(&loc, table.path, &name).cloned());
            let committed = self.tx.is_none();
            self.write(|st| {
                let seq = match st.object_at(&loc, table.path, &name) {
                    Some(old) => old.seq,
                    None => {
                        st.next_seq += 1;
                        st.next_seq - 1
                    }
                };
                obj.seq = seq;
                st.table_at_mut(&loc, table.path)
                    .insert(name.clone(), obj.clone());
            });
            if committed && loc == Loc::Global {
                self.log_object_change(table, &name, before.as_ref(), &obj);
            }
        }
        self.stack.pop();
        if close_table {
            self.stack.pop();
        }
        Ok(Reply::default())
    }

    /// Record the changed fields of a global entry or setting in the device's global log.
    pub(super) fn log_object_change(
        &self,
        table: &TableSchema,
        name: &str,
        before: Option<&Object>,
        after: &Object,
    ) {
        for f in table.fields {
            let old = before.and_then(|o| o.fields.get(f.name));
            let new = after.fields.get(f.name);
            if old != new {
                let show = |v: Option<&Value>| match v {
                    Some(Value::Text(t)) => t.clone(),
                    Some(Value::List(l)) => l.join(" "),
                    None if f.default.is_empty() => "(default)".to_string(),
                    None => format!("(default {})", f.default),
                };
                let at = if name.is_empty() {
                    table.path.to_string()
                } else {
                    format!("{} {name}", table.path)
                };
                self.device.log_global(format!(
                    "{}: {at}: {} {} -> {}",
                    self.user,
                    f.name,
                    show(old),
                    show(new)
                ));
            }
        }
    }
}
