//! The simulated device's configuration: VDOMs and their firewall tables, and the global
//! settings (console, central management, resource limits, VDOM properties). Serialisable to
//! JSON (the `--state` file) and cloneable for test snapshots.
use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;
use serde::{Deserialize, Serialize};

use super::schema::{self, TableSchema};

/// A stored field value: a scalar in canonical text form, or a list of names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Value {
    Text(String),
    List(Vec<String>),
}

/// One table entry (`edit "name"` ... `next`). Fields at their default are not stored.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Object {
    /// Creation order; `show` prints entries in this order.
    pub seq: u64,
    #[serde(flatten)]
    pub fields: BTreeMap<String, Value>,
}

impl Object {
    /// A scalar field's stored value (None when at its default).
    pub fn get(&self, field: &str) -> Option<&str> {
        match self.fields.get(field) {
            Some(Value::Text(s)) => Some(s),
            _ => None,
        }
    }

    /// A scalar field's value, falling back to the schema default.
    pub fn get_or_default(&self, table: &TableSchema, field: &str) -> String {
        self.get(field)
            .map(str::to_string)
            .or_else(|| {
                table
                    .fields
                    .iter()
                    .find(|f| f.name == field)
                    .map(|f| f.default.to_string())
            })
            .unwrap_or_default()
    }

    /// A list field's items (empty when unset).
    pub fn list(&self, field: &str) -> &[String] {
        match self.fields.get(field) {
            Some(Value::List(v)) => v,
            _ => &[],
        }
    }

    /// The entry's `type` (or the table default).
    pub fn ty<'a>(&'a self, table: &TableSchema) -> Option<&'a str> {
        self.get("type").or_else(|| {
            table
                .fields
                .iter()
                .find(|f| f.name == "type")
                .map(|f| f.default)
        })
    }
}

/// One `config firewall ...` table: entries by name.
pub type Table = BTreeMap<String, Object>;

/// One VDOM's tables, keyed by table path (`firewall address`, ...).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Vdom {
    #[serde(flatten)]
    pub tables: BTreeMap<String, Table>,
}

/// `config system console` (global).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Console {
    /// `more` (paged, the FortiOS default) or `standard`.
    pub output: String,
}

impl Default for Console {
    fn default() -> Self {
        Console {
            output: "more".into(),
        }
    }
}

/// Where a table lives: inside a VDOM, or global (`config global` on multi-VDOM devices).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Loc {
    Vdom(String),
    Global,
}

impl Loc {
    /// The VDOM name, `""` for global (the first part of a lock key).
    pub fn key(&self) -> &str {
        match self {
            Loc::Vdom(v) => v,
            Loc::Global => "",
        }
    }
}

/// The whole simulated configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceState {
    #[serde(default)]
    pub console: Console,
    /// Global single-object settings by path (`system central-management`,
    /// `system resource-limits`); fields at their default are not stored.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub settings: BTreeMap<String, Object>,
    /// Global tables by path (`system vdom-property`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub global_tables: BTreeMap<String, Table>,
    /// VDOMs by name; single-VDOM devices use only `root`.
    #[serde(default)]
    pub vdoms: BTreeMap<String, Vdom>,
    /// Next creation sequence number.
    #[serde(default)]
    pub next_seq: u64,
}

impl Default for DeviceState {
    fn default() -> Self {
        let mut vdoms = BTreeMap::new();
        vdoms.insert("root".to_string(), Vdom::default());
        DeviceState {
            console: Console::default(),
            settings: BTreeMap::new(),
            global_tables: BTreeMap::new(),
            vdoms,
            next_seq: 1,
        }
    }
}

impl DeviceState {
    /// Load a state file written by [`DeviceState::save`].
    pub fn load(path: &Path) -> anyhow::Result<DeviceState> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let mut st: DeviceState = serde_json::from_str(&text)
            .with_context(|| format!("{}: not a FortiGate simulator state file", path.display()))?;
        st.normalise();
        Ok(st)
    }

    /// Write the state as pretty JSON, atomically.
    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        let mut text = serde_json::to_string_pretty(self).context("serialising simulator state")?;
        text.push('\n');
        crate::atomic::write(path, text.as_bytes())
    }

    /// Ensure `root` exists and the sequence counter is past every stored entry.
    pub fn normalise(&mut self) {
        self.vdoms.entry("root".into()).or_default();
        let max = self
            .vdoms
            .values()
            .flat_map(|v| v.tables.values())
            .chain(self.global_tables.values())
            .flat_map(|t| t.values())
            .map(|o| o.seq)
            .max()
            .unwrap_or(0);
        if self.next_seq <= max {
            self.next_seq = max + 1;
        }
    }

    /// Entry `name` of table `table` (e.g. `firewall address`) in `vdom`.
    pub fn object(&self, vdom: &str, table: &str, name: &str) -> Option<&Object> {
        self.vdoms.get(vdom)?.tables.get(table)?.get(name)
    }

    /// A table at `loc`, if it has entries.
    pub fn table_at(&self, loc: &Loc, table: &str) -> Option<&Table> {
        match loc {
            Loc::Vdom(v) => self.vdoms.get(v)?.tables.get(table),
            Loc::Global => self.global_tables.get(table),
        }
    }

    /// A table at `loc`, created when missing.
    pub fn table_at_mut(&mut self, loc: &Loc, table: &str) -> &mut Table {
        match loc {
            Loc::Vdom(v) => self
                .vdoms
                .entry(v.clone())
                .or_default()
                .tables
                .entry(table.to_string())
                .or_default(),
            Loc::Global => self.global_tables.entry(table.to_string()).or_default(),
        }
    }

    /// Entry `name` of `table` at `loc`.
    pub fn object_at(&self, loc: &Loc, table: &str, name: &str) -> Option<&Object> {
        self.table_at(loc, table)?.get(name)
    }

    /// Names of a table at `loc`, in creation order.
    pub fn names_at(&self, loc: &Loc, table: &str) -> Vec<String> {
        let Some(t) = self.table_at(loc, table) else {
            return Vec::new();
        };
        let mut v: Vec<(&u64, &String)> = t.iter().map(|(n, o)| (&o.seq, n)).collect();
        v.sort();
        v.into_iter().map(|(_, n)| n.clone()).collect()
    }

    /// A global setting's stored fields (empty when everything is at its default).
    pub fn setting(&self, path: &str) -> Object {
        self.settings.get(path).cloned().unwrap_or_default()
    }

    /// `config system central-management` as (`mode`, `type`, `fmg`), defaults filled in.
    pub fn central_management(&self) -> (String, String, String) {
        let o = self.setting(schema::CENTRAL_MANAGEMENT.path);
        (
            o.get_or_default(&schema::CENTRAL_MANAGEMENT, "mode"),
            o.get_or_default(&schema::CENTRAL_MANAGEMENT, "type"),
            o.get_or_default(&schema::CENTRAL_MANAGEMENT, "fmg"),
        )
    }

    /// Names in a table, in creation order.
    pub fn names(&self, vdom: &str, table: &str) -> Vec<String> {
        self.names_at(&Loc::Vdom(vdom.to_string()), table)
    }

    /// Insert or replace an entry directly (test seeding); assigns a uuid and sequence number.
    pub fn insert(&mut self, vdom: &str, table: &str, name: &str, fields: &[(&str, Value)]) {
        let seq = self.next_seq;
        self.next_seq += 1;
        let t = self
            .vdoms
            .entry(vdom.to_string())
            .or_default()
            .tables
            .entry(table.to_string())
            .or_default();
        let mut obj = Object {
            seq,
            fields: BTreeMap::new(),
        };
        obj.fields.insert("uuid".into(), Value::Text(new_uuid()));
        for (k, v) in fields {
            obj.fields.insert((*k).to_string(), v.clone());
        }
        t.insert(name.to_string(), obj);
    }

    /// The table sharing `table`'s name namespace that holds `name` in `vdom`.
    pub fn namespace_owner(
        &self,
        vdom: &str,
        table: &TableSchema,
        name: &str,
    ) -> Option<&'static TableSchema> {
        let v = self.vdoms.get(vdom)?;
        schema::TABLES
            .iter()
            .copied()
            .filter(|t| t.namespace == table.namespace)
            .find(|t| v.tables.get(t.path).is_some_and(|t| t.contains_key(name)))
    }

    /// Entries (`table`, name) in `vdom` — groups and policies — with a datasource field
    /// (`member`, `srcaddr`, `dstaddr`, …) that holds entry `name` of `table`.
    pub fn referrers(&self, vdom: &str, table: &str, name: &str) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let Some(v) = self.vdoms.get(vdom) else {
            return out;
        };
        for (t, fields) in schema::referencing_fields(table) {
            if let Some(entries) = v.tables.get(t.path) {
                for (gname, obj) in entries {
                    if fields.iter().any(|f| obj.list(f).iter().any(|m| m == name)) {
                        out.push((t.path.to_string(), gname.clone()));
                    }
                }
            }
        }
        out
    }

    /// Number of entries in a table.
    pub fn count(&self, vdom: &str, table: &str) -> usize {
        self.vdoms
            .get(vdom)
            .and_then(|v| v.tables.get(table))
            .map_or(0, |t| t.len())
    }
}

/// A fresh random object UUID in FortiOS's 8-4-4-4-12 form.
pub fn new_uuid() -> String {
    let b: [u8; 16] = rand::random();
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_round_trips_through_json() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let mut st = DeviceState::default();
        st.insert(
            "root",
            "firewall address",
            "a",
            &[("subnet", Value::Text("1.2.3.4 255.255.255.255".into()))],
        );
        st.insert(
            "root",
            "firewall addrgrp",
            "g",
            &[("member", Value::List(vec!["a".into()]))],
        );
        st.save(&path).unwrap();
        let back = DeviceState::load(&path).unwrap();
        assert_eq!(back, st);
        assert_eq!(
            back.referrers("root", "firewall address", "a"),
            [("firewall addrgrp".to_string(), "g".to_string())]
        );
        assert_eq!(back.names("root", "firewall address"), ["a"]);
        assert_eq!(
            back.namespace_owner("root", &schema::ADDRESS, "g")
                .map(|t| t.path),
            Some("firewall addrgrp")
        );
    }
}
