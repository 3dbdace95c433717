//! The object model blockops plans with.
//!
//! [`Desired`] is what the templates are rendered from (one entry per indicator, the group
//! layout). [`State`] is what a script or a device *says*: objects of the four tables with the
//! allow-listed fields (`fortios::fields`), normalised the way `show` prints them. The desired
//! state of a target is the [`State`] its rendered full script describes; the current state is
//! the [`State`] read from the device; the delta, the stale check and the read-back all compare
//! [`State`]s (issue #10).
//!
//! [`Owner`] decides which objects on a device are provably blockops' own (issue #8 item 8).
use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::fields::{self, FieldRules, Table};
use super::parse::{Block, Parsed};
use super::writer::addressable;

/// The template context of one target: everything blockops manages on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Desired {
    pub target: String,
    pub vdom: Option<String>,
    pub prefix: String,
    /// `config firewall address` (IPv4 subnets and FQDNs), sorted by name.
    pub addresses: Vec<Address>,
    /// `config firewall address6`, sorted by name.
    pub addresses6: Vec<Address>,
    /// `config firewall addrgrp`: child groups `<grp>-NNN` first, then the parent.
    pub groups: Vec<Group>,
    /// `config firewall addrgrp6`: child groups first, then the parent.
    pub groups6: Vec<Group>,
    /// Names of the two top-level managed groups (IPv4, IPv6).
    pub group_names: [String; 2],
}

/// One address object of the template context.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Address {
    pub name: String,
    #[serde(flatten)]
    pub kind: AddressKind,
    pub comment: String,
    pub color: u8,
}

/// What an address object matches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum AddressKind {
    /// IPv4 subnet in mask form, `203.0.113.7 255.255.255.255`.
    #[serde(rename = "ipmask")]
    Subnet { subnet: String },
    /// Domain name (`set type fqdn`).
    #[serde(rename = "fqdn")]
    Fqdn { fqdn: String },
    /// IPv6 prefix, `2001:db8::/48`.
    #[serde(rename = "ipprefix")]
    Ip6 { ip6: String },
}

/// One address group of the template context.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Group {
    pub name: String,
    /// Sorted member names.
    pub members: Vec<String>,
    pub comment: String,
}

/// One object: allow-listed fields and their normalised values (`fields::normalise`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Object {
    pub fields: BTreeMap<String, Vec<String>>,
}

impl Object {
    /// The first value of a field.
    pub fn one(&self, field: &str) -> Option<&str> {
        self.fields
            .get(field)
            .and_then(|v| v.first())
            .map(String::as_str)
    }

    /// The comment (empty when unset).
    pub fn comment(&self) -> &str {
        self.one("comment").unwrap_or("")
    }

    /// Group members (empty for addresses).
    pub fn members(&self) -> &[String] {
        self.fields.get("member").map_or(&[], Vec::as_slice)
    }

    /// An object from raw field values (normalised; fields of other types dropped).
    pub fn from_fields(t: Table, fields: BTreeMap<String, Vec<String>>) -> Object {
        let mut o = Object::default();
        for (f, v) in fields {
            o.set(t, &f, v);
        }
        o.retain_applicable(t);
        o
    }

    fn set(&mut self, t: Table, field: &str, values: Vec<String>) {
        match fields::normalise(t, field, values) {
            Some(v) => {
                self.fields.insert(field.to_string(), v);
            }
            None => {
                self.fields.remove(field);
            }
        }
    }

    /// Drop the fields that do not exist for the object's type (a `subnet` on an FQDN object).
    fn retain_applicable(&mut self, t: Table) {
        let ty = fields::object_type(t, &self.fields).to_string();
        self.fields.retain(|f, _| fields::applies(t, f, &ty));
    }
}

/// Why an object that looks like blockops' is left alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OtherReason {
    /// The name fits blockops' naming, but the object carries no blockops comment marker and
    /// is not a member of a managed group: someone else made it.
    NotProvablyOurs,
    /// The name cannot be written on a CLI line without changing it (tab, line break, `?` …).
    Unaddressable,
}

impl std::fmt::Display for OtherReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            OtherReason::NotProvablyOurs => {
                "not provably blockops' (no blockops comment, not in a managed group)"
            }
            OtherReason::Unaddressable => "its name cannot be written on a CLI line",
        })
    }
}

/// An object left alone: reported, never modified or deleted.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Other {
    pub table: Table,
    pub name: String,
    pub reason: OtherReason,
}

/// The managed objects of a target, keyed by name, plus the look-alikes left alone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct State {
    /// One map per [`Table`], in [`Table::ALL`] order.
    pub tables: [BTreeMap<String, Object>; 4],
    /// Objects whose names fit blockops' naming but that are not provably its own, or cannot be
    /// addressed; sorted.
    pub others: Vec<Other>,
}

/// The canonical JSON form hashed into plans (`docs/plan-file.md`).
#[derive(Serialize)]
struct Canonical<'a> {
    address: &'a BTreeMap<String, Object>,
    address6: &'a BTreeMap<String, Object>,
    addrgrp: &'a BTreeMap<String, Object>,
    addrgrp6: &'a BTreeMap<String, Object>,
    others: &'a [Other],
}

impl State {
    pub fn table(&self, t: Table) -> &BTreeMap<String, Object> {
        &self.tables[t.index()]
    }

    pub fn table_mut(&mut self, t: Table) -> &mut BTreeMap<String, Object> {
        &mut self.tables[t.index()]
    }

    /// The object called `name` in any table.
    pub fn find(&self, name: &str) -> Option<(Table, &Object)> {
        Table::ALL
            .into_iter()
            .find_map(|t| self.table(t).get(name).map(|o| (t, o)))
    }

    /// Number of managed objects.
    pub fn len(&self) -> usize {
        self.tables.iter().map(BTreeMap::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// sha256 of the canonical JSON form: what a plan records as "the device state it was
    /// computed from".
    pub fn sha256(&self) -> String {
        use sha2::Digest;
        let c = Canonical {
            address: self.table(Table::Address),
            address6: self.table(Table::Address6),
            addrgrp: self.table(Table::Addrgrp),
            addrgrp6: self.table(Table::Addrgrp6),
            others: &self.others,
        };
        // Serialising maps of strings cannot fail.
        let json = serde_json::to_vec(&c).unwrap_or_default();
        hex::encode(sha2::Sha256::digest(&json))
    }

    /// The desired state described by a template context, without rendering it: the native
    /// fast path of [`State::from_script`] for the built-in templates (a test keeps the two
    /// equal).
    pub fn from_desired(d: &Desired) -> State {
        let mut st = State::default();
        for (t, list) in [
            (Table::Address, &d.addresses),
            (Table::Address6, &d.addresses6),
        ] {
            let map = st.table_mut(t);
            for a in list {
                let mut o = Object::default();
                match &a.kind {
                    AddressKind::Subnet { subnet } => o.set(t, "subnet", split(subnet)),
                    AddressKind::Fqdn { fqdn } => {
                        o.set(t, "type", vec!["fqdn".into()]);
                        o.set(t, "fqdn", vec![requote(fqdn)]);
                    }
                    AddressKind::Ip6 { ip6 } => o.set(t, "ip6", vec![ip6.clone()]),
                }
                o.set(t, "comment", vec![requote(&a.comment)]);
                o.set(t, "color", vec![a.color.to_string()]);
                map.insert(a.name.clone(), o);
            }
        }
        for (t, list) in [(Table::Addrgrp, &d.groups), (Table::Addrgrp6, &d.groups6)] {
            let map = st.table_mut(t);
            for g in list {
                let mut o = Object::default();
                o.set(t, "member", g.members.clone());
                o.set(t, "comment", vec![requote(&g.comment)]);
                map.insert(g.name.clone(), o);
            }
        }
        st
    }

    /// The state a parsed script describes (its entries applied to empty tables). The caller
    /// has validated the script (`plan::validate`); blocks of other tables and fields outside
    /// `rules` are skipped here.
    pub fn from_script(p: &Parsed, rules: &FieldRules) -> State {
        let mut st = State::default();
        for b in &p.blocks {
            let Some(t) = table_of(b) else { continue };
            let map = st.table_mut(t);
            for e in &b.entries {
                let o = map.entry(e.name.clone()).or_default();
                for (f, v) in &e.fields {
                    if rules.allowed(t, f) {
                        o.set(t, f, v.clone());
                    }
                }
            }
            for (name, _) in &b.deletes {
                map.remove(name);
            }
        }
        for t in Table::ALL {
            for o in st.table_mut(t).values_mut() {
                o.retain_applicable(t);
            }
        }
        st
    }

    /// Differences from `expected`, one human line each (empty: identical).
    pub fn drift(&self, expected: &State) -> Vec<String> {
        let mut out = Vec::new();
        for t in Table::ALL {
            let (have, want) = (self.table(t), expected.table(t));
            for (k, w) in want {
                match have.get(k) {
                    None => out.push(format!("{t} {k:?} is missing on the device")),
                    Some(h) if h != w => out.push(format!(
                        "{t} {k:?} differs: device {:?}, expected {:?}",
                        h.fields, w.fields
                    )),
                    _ => {}
                }
            }
            for k in have.keys().filter(|k| !want.contains_key(*k)) {
                out.push(format!("{t} {k:?} should not exist"));
            }
        }
        out
    }
}

/// A text as the device keeps it after it went through the quoting filter (what parsing
/// `fq(s)` gives back).
fn requote(s: &str) -> String {
    let q = super::quote::fq(s);
    let body = q
        .strip_prefix('"')
        .and_then(|b| b.strip_suffix('"'))
        .unwrap_or(&q);
    super::quote::unescape(body)
}

fn split(s: &str) -> Vec<String> {
    s.split_whitespace().map(String::from).collect()
}

/// The table a `config firewall <x>` block writes to.
pub fn table_of(b: &Block) -> Option<Table> {
    b.path.strip_prefix("firewall ").and_then(Table::from_name)
}

/// The comment marker: every object blockops creates has a comment that starts with it
/// (`blockops: …`, `blockops placeholder: …`; groups `managed by blockops …`, as every version
/// so far wrote them).
pub const MARKER: &str = "blockops";

/// True when a comment carries the blockops marker.
pub fn carries_marker(comment: &str) -> bool {
    comment.starts_with(MARKER) || comment.starts_with("managed by blockops")
}

/// Which objects on a device are blockops' own.
///
/// A name fits blockops' naming when it starts with the prefix (addresses), or is a managed
/// group or one of its `<group>-NNN` children (groups). Such an object is provably blockops'
/// when it is a configured managed group (the configuration names it), or when its comment
/// carries the [`MARKER`], or when it is a member of a managed group that is itself provably
/// blockops'. Anything else with a fitting name is reported and left alone, as is any object
/// whose name cannot be written on a CLI line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    pub prefix: String,
    /// Top-level managed groups: IPv4 (`addrgrp`), IPv6 (`addrgrp6`).
    pub groups: [String; 2],
}

impl Owner {
    pub fn new(rc: &crate::config::RenderConfig) -> Owner {
        Owner {
            prefix: rc.prefix.clone(),
            groups: [rc.addrgrp.clone(), rc.addrgrp6.clone()],
        }
    }

    /// The configured top-level group of a group table.
    pub fn top_group(&self, t: Table) -> &str {
        &self.groups[usize::from(t.is_v6())]
    }

    /// True when `name` fits blockops' naming in table `t`.
    pub fn fits(&self, t: Table, name: &str) -> bool {
        if t.is_group() {
            let g = self.top_group(t);
            name == g || is_child_of(g, name)
        } else {
            name.starts_with(&self.prefix)
        }
    }

    /// True when `name` fits blockops' naming in any table (group members may be addresses
    /// or child groups).
    pub fn fits_any(&self, name: &str) -> bool {
        Table::ALL.into_iter().any(|t| self.fits(t, name))
    }

    /// Split the objects read from a device (per table, every entry whose name fits in any
    /// table, fields normalised, members unfiltered) into blockops' own and the others.
    /// Members of owned groups are reduced to owned objects: someone else's object added to a
    /// managed group is never unselected.
    pub fn classify(&self, raw: [BTreeMap<String, Object>; 4]) -> State {
        let mut st = State::default();
        let mut owned: [BTreeSet<String>; 4] = Default::default();
        let mut others = Vec::new();
        // Groups first: a configured group is ours; a child by marker or membership of the
        // (owned) top group.
        for t in [Table::Addrgrp, Table::Addrgrp6] {
            let top = self.top_group(t);
            let top_members: BTreeSet<&str> = raw[t.index()]
                .get(top)
                .map(|o| o.members().iter().map(String::as_str).collect())
                .unwrap_or_default();
            for (name, o) in &raw[t.index()] {
                if !self.fits(t, name) {
                    continue;
                }
                let ours = name == top
                    || carries_marker(o.comment())
                    || top_members.contains(name.as_str());
                if ours {
                    owned[t.index()].insert(name.clone());
                }
            }
        }
        let mut in_owned_group: BTreeSet<&str> = BTreeSet::new();
        for t in [Table::Addrgrp, Table::Addrgrp6] {
            for n in &owned[t.index()] {
                if let Some(o) = raw[t.index()].get(n) {
                    in_owned_group.extend(o.members().iter().map(String::as_str));
                }
            }
        }
        for t in [Table::Address, Table::Address6] {
            for (name, o) in &raw[t.index()] {
                if self.fits(t, name)
                    && (carries_marker(o.comment()) || in_owned_group.contains(name.as_str()))
                {
                    owned[t.index()].insert(name.clone());
                }
            }
        }
        drop(in_owned_group);
        for (t, map) in Table::ALL.into_iter().zip(raw) {
            for (name, o) in map {
                let fits = self.fits_any(&name);
                if !addressable(&name) {
                    if fits {
                        others.push(Other {
                            table: t,
                            name,
                            reason: OtherReason::Unaddressable,
                        });
                    }
                    continue;
                }
                if owned[t.index()].contains(&name) {
                    st.table_mut(t).insert(name, o);
                } else if fits {
                    others.push(Other {
                        table: t,
                        name,
                        reason: OtherReason::NotProvablyOurs,
                    });
                }
            }
        }
        let owned_names: BTreeSet<String> = Table::ALL
            .iter()
            .flat_map(|t| st.table(*t).keys().cloned())
            .collect();
        for t in [Table::Addrgrp, Table::Addrgrp6] {
            for o in st.table_mut(t).values_mut() {
                if let Some(m) = o.fields.get_mut("member") {
                    m.retain(|x| owned_names.contains(x));
                    if m.is_empty() {
                        o.fields.remove("member");
                    }
                }
            }
        }
        others.sort();
        st.others = others;
        st
    }
}

/// `<group>-NNN` with three lower-case hex digits.
fn is_child_of(group: &str, name: &str) -> bool {
    name.strip_prefix(group)
        .and_then(|rest| rest.strip_prefix('-'))
        .is_some_and(|n| {
            n.len() == 3
                && n.chars()
                    .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner() -> Owner {
        Owner {
            prefix: "bo-".into(),
            groups: ["blockops-v4".into(), "blockops-v6".into()],
        }
    }

    fn obj(fields: &[(&str, &[&str])]) -> Object {
        Object {
            fields: fields
                .iter()
                .map(|(k, v)| (k.to_string(), v.iter().map(|s| s.to_string()).collect()))
                .collect(),
        }
    }

    #[test]
    fn naming() {
        let o = owner();
        assert!(o.fits(Table::Address, "bo-203.0.113.7"));
        assert!(o.fits(Table::Addrgrp, "blockops-v4"));
        assert!(o.fits(Table::Addrgrp, "blockops-v4-0a3"));
        assert!(o.fits(Table::Addrgrp6, "blockops-v6-0a3"));
        for (t, n) in [
            (Table::Address, "office-lan"),
            (Table::Address, "Bo-1.2.3.4"),
            (Table::Addrgrp, "blockops-v4-x"),
            (Table::Addrgrp, "blockops-v4-0A3"),
            (Table::Addrgrp, "blockops-v44"),
            (Table::Addrgrp, "blockops-v6"),
            (Table::Addrgrp, "bo-team"),
        ] {
            assert!(!o.fits(t, n), "{t} {n}");
        }
    }

    #[test]
    fn only_provably_own_objects_are_managed() {
        let mut raw: [BTreeMap<String, Object>; 4] = Default::default();
        raw[0].insert(
            "bo-1.2.3.4".into(),
            obj(&[("comment", &["blockops: reputation"])]),
        );
        raw[0].insert("bo-placeholder".into(), obj(&[]));
        raw[0].insert("bo-printer".into(), obj(&[("comment", &["printer"])]));
        raw[0].insert("bo-tab\tx".into(), obj(&[("comment", &["blockops: x"])]));
        raw[0].insert("office-lan".into(), obj(&[]));
        raw[2].insert(
            "blockops-v4".into(),
            obj(&[(
                "member",
                &[
                    "blockops-v4-001",
                    "bo-1.2.3.4",
                    "bo-placeholder",
                    "office-lan",
                ],
            )]),
        );
        raw[2].insert("blockops-v4-001".into(), obj(&[]));
        raw[2].insert("blockops-v4-002".into(), obj(&[("comment", &["mine"])]));
        raw[2].insert("bo-team".into(), obj(&[]));
        let st = owner().classify(raw);
        let names = |t: Table| st.table(t).keys().cloned().collect::<Vec<_>>();
        assert_eq!(names(Table::Address), ["bo-1.2.3.4", "bo-placeholder"]);
        assert_eq!(names(Table::Addrgrp), ["blockops-v4", "blockops-v4-001"]);
        assert_eq!(
            st.table(Table::Addrgrp)["blockops-v4"].members(),
            ["blockops-v4-001", "bo-1.2.3.4", "bo-placeholder"]
        );
        let others: Vec<(&str, OtherReason)> = st
            .others
            .iter()
            .map(|o| (o.name.as_str(), o.reason))
            .collect();
        assert_eq!(
            others,
            [
                ("bo-printer", OtherReason::NotProvablyOurs),
                ("bo-tab\tx", OtherReason::Unaddressable),
                ("blockops-v4-002", OtherReason::NotProvablyOurs),
                ("bo-team", OtherReason::NotProvablyOurs),
            ]
        );
    }
}
