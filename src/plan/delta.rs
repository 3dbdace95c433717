//! The minimal FortiOS CLI script that turns the current managed state into the desired one.
//!
//! Both states are [`State`]s of the same model: the desired one parsed from the rendered full
//! script, the current one from the device's `show` output. So every field a template sets is
//! created, changed and removed here like the built-in ones, and the lines are written with the
//! same building blocks as the full script (`fortios::writer`): creating a target from nothing
//! gives exactly the rendered full script (a test keeps it so).
//!
//! Order matters for safety: new and changed addresses first, then groups (members before the
//! groups that contain them; within a group, leaving members before new ones, so no group is
//! ever empty nor ever holds more than before or after — see `member_changes`), then retired
//! groups, and only then the retired addresses, which by then no managed group references. The
//! text is a pure function of (current state, desired state, options), so `apply` can recompute
//! and compare it.
use std::collections::{BTreeMap, BTreeSet};

use crate::fortios::fields::{self, FieldRules, Table};
use crate::fortios::model::{Object, State};
use crate::fortios::writer::{self, Script};

/// Settings that shape the script.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeltaOptions {
    /// Longest `set`/`append`/`unselect member` line, indentation included.
    pub max_line_length: usize,
    /// Wrap in `config vdom` / `edit <vdom>` / `end`.
    pub vdom: Option<String>,
    /// Wrap in `execute config-transaction start` / `commit`.
    pub transaction: bool,
    /// The field allow-list (order and quoting of fields).
    pub fields: FieldRules,
}

/// Counts of the objects a delta touches.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Counts {
    pub adds: usize,
    pub removes: usize,
    pub modifies: usize,
}

impl Counts {
    pub fn total(&self) -> usize {
        self.adds + self.removes + self.modifies
    }
}

/// A computed delta.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Delta {
    /// The script (empty when nothing changes), lines end with `\n`.
    pub script: String,
    pub counts: Counts,
}

/// Compute the delta from `current` to `desired` (managed objects only; `others` of either
/// state are never touched).
pub fn compute(current: &State, desired: &State, o: &DeltaOptions) -> Delta {
    let mut counts = Counts::default();
    let mut body = Script::default();

    // 1. Create / modify addresses.
    for t in [Table::Address, Table::Address6] {
        let cur = current.table(t);
        let mut block = Script::default();
        for (name, want) in desired.table(t) {
            match cur.get(name) {
                None => {
                    counts.adds += 1;
                    entry(&mut block, t, name, None, want, o);
                }
                Some(have) if have != want => {
                    counts.modifies += 1;
                    entry(&mut block, t, name, Some(have), want, o);
                }
                _ => {}
            }
        }
        table_block(&mut body, t, block);
    }

    // 2. Groups: members before the groups that hold them, then retired managed groups.
    for t in [Table::Addrgrp, Table::Addrgrp6] {
        let cur = current.table(t);
        let want_map = desired.table(t);
        let mut block = Script::default();
        for name in group_order(want_map) {
            let want = &want_map[name];
            match cur.get(name) {
                None => {
                    counts.adds += 1;
                    entry(&mut block, t, name, None, want, o);
                }
                Some(have) if have != want => {
                    counts.modifies += 1;
                    entry(&mut block, t, name, Some(have), want, o);
                }
                _ => {}
            }
        }
        for name in cur.keys().filter(|n| !want_map.contains_key(*n)) {
            counts.removes += 1;
            block.delete(name);
        }
        table_block(&mut body, t, block);
    }

    // 3. Retired addresses, now unreferenced by managed groups.
    for t in [Table::Address, Table::Address6] {
        let want_map = desired.table(t);
        let mut block = Script::default();
        for name in current
            .table(t)
            .keys()
            .filter(|n| !want_map.contains_key(*n))
        {
            counts.removes += 1;
            block.delete(name);
        }
        table_block(&mut body, t, block);
    }

    Delta {
        script: writer::wrap(body, o.vdom.as_deref(), o.transaction),
        counts,
    }
}

fn table_block(body: &mut Script, t: Table, block: Script) {
    if block.is_empty() {
        return;
    }
    body.open_table(t);
    body.extend(block);
    body.end();
}

/// Groups in an order where every group comes after the groups it contains (child groups
/// before their parent), by name within a level.
fn group_order(groups: &BTreeMap<String, Object>) -> Vec<&String> {
    fn depth<'a>(
        name: &'a str,
        groups: &'a BTreeMap<String, Object>,
        memo: &mut BTreeMap<&'a str, usize>,
        seen: &mut BTreeSet<&'a str>,
    ) -> usize {
        if let Some(d) = memo.get(name) {
            return *d;
        }
        // A cycle cannot exist on a device (FortiOS refuses it); guard anyway.
        if !seen.insert(name) {
            return 0;
        }
        let d = groups.get(name).map_or(0, |g| {
            g.members()
                .iter()
                .filter_map(|m| groups.get_key_value(m.as_str()).map(|(k, _)| k.as_str()))
                .map(|m| 1 + depth(m, groups, memo, seen))
                .max()
                .unwrap_or(0)
        });
        memo.insert(name, d);
        d
    }
    let mut memo = BTreeMap::new();
    let mut v: Vec<(usize, &String)> = groups
        .keys()
        .map(|n| (depth(n, groups, &mut memo, &mut BTreeSet::new()), n))
        .collect();
    v.sort();
    v.into_iter().map(|(_, n)| n).collect()
}

/// One `edit` block: every field of a new object, or what changed on an existing one.
fn entry(
    out: &mut Script,
    t: Table,
    name: &str,
    cur: Option<&Object>,
    want: &Object,
    o: &DeltaOptions,
) {
    let rules = &o.fields;
    out.edit(name);
    let ty = fields::object_type(t, &want.fields).to_string();
    // The type decides which value fields exist, so it comes first; it is always written
    // explicitly (never `unset`, which on an FQDN object would leave the match-all default
    // subnet behind).
    if let Some(c) = cur
        && fields::object_type(t, &c.fields) != ty
    {
        out.set("type", rules.style(t, "type"), std::slice::from_ref(&ty));
    }
    let mut names: Vec<&str> = want.fields.keys().map(String::as_str).collect();
    if let Some(c) = cur {
        names.extend(c.fields.keys().map(String::as_str));
    }
    names.sort_by_key(|f| (rules.order(t, f), *f));
    names.dedup();
    for f in names {
        if f == "type" && cur.is_some() {
            continue;
        }
        let have = cur.and_then(|c| c.fields.get(f));
        match (want.fields.get(f), have) {
            (Some(w), Some(h)) if w == h => {}
            (Some(w), Some(h)) if f == "member" => member_changes(out, h, w, o.max_line_length),
            (Some(w), _) if f == "member" => out.members("set", w, o.max_line_length),
            (Some(w), _) => out.set(f, rules.style(t, f), w),
            // Only fields of the object's (new) type can be unset; the others vanished with
            // the type change.
            (None, Some(_)) if fields::applies(t, f, &ty) && rules.can_unset(t, f) => out.unset(f),
            (None, _) => {}
        }
    }
    out.next();
}

/// Member lines that turn `have` into `want` with the group never empty and never larger than
/// the larger of the two: members leave before new ones arrive, except that when no member
/// stays, one old member waits until a new one is in. A group at its member limit (a full
/// child group, `firewall.addrgrp:member`) can therefore swap members without the device
/// refusing an `append` half-way (`Maximum number of entries has been reached`).
fn member_changes(out: &mut Script, have: &[String], want: &[String], max_line: usize) {
    let h: BTreeSet<&String> = have.iter().collect();
    let ws: BTreeSet<&String> = want.iter().collect();
    let add: Vec<&String> = ws.difference(&h).copied().collect();
    let rem: Vec<&String> = h.difference(&ws).copied().collect();
    let keeps_one = ws.intersection(&h).next().is_some();
    match (rem.split_first(), add.split_first()) {
        (Some((r0, rest)), Some((a0, more))) if !keeps_one => {
            out.members("unselect", rest, max_line);
            if more.is_empty() {
                out.members("append", &[a0], max_line);
                out.members("unselect", &[r0], max_line);
            } else {
                out.members("append", more, max_line);
                out.members("unselect", &[r0], max_line);
                out.members("append", &[a0], max_line);
            }
        }
        _ => {
            out.members("unselect", &rem, max_line);
            out.members("append", &add, max_line);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fortios::model::{Address, AddressKind, Desired, Group};

    fn addr(n: &str) -> Address {
        Address {
            name: format!("bo-{n}"),
            kind: AddressKind::Subnet {
                subnet: format!("{n} 255.255.255.255"),
            },
            comment: "blockops".into(),
            color: 0,
        }
    }

    fn desired(ips: &[&str]) -> State {
        let addresses: Vec<Address> = ips.iter().map(|i| addr(i)).collect();
        let mut members: Vec<String> = addresses.iter().map(|a| a.name.clone()).collect();
        if members.is_empty() {
            members.push("bo-placeholder".into());
        }
        State::from_desired(&Desired {
            target: "fw".into(),
            vdom: None,
            prefix: "bo-".into(),
            addresses,
            addresses6: vec![],
            groups: vec![Group {
                name: "blockops-v4".into(),
                members,
                comment: "managed".into(),
            }],
            groups6: vec![],
            group_names: ["blockops-v4".into(), "blockops-v6".into()],
        })
    }

    fn opts() -> DeltaOptions {
        DeltaOptions {
            max_line_length: 120,
            ..DeltaOptions::default()
        }
    }

    fn set(st: &mut State, t: Table, name: &str, field: &str, v: &[&str]) {
        st.table_mut(t)
            .get_mut(name)
            .unwrap()
            .fields
            .insert(field.into(), v.iter().map(|s| s.to_string()).collect());
    }

    #[test]
    fn same_state_gives_empty_script() {
        let d = desired(&["192.0.2.1", "192.0.2.2"]);
        let delta = compute(&d.clone(), &d, &opts());
        assert_eq!(delta.script, "");
        assert_eq!(delta.counts, Counts::default());
    }

    #[test]
    fn first_apply_creates_addresses_then_group() {
        let d = desired(&["192.0.2.1"]);
        let delta = compute(&State::default(), &d, &opts());
        insta::assert_snapshot!("delta_first_apply", delta.script);
        assert_eq!(
            delta.counts,
            Counts {
                adds: 2,
                removes: 0,
                modifies: 0
            }
        );
    }

    #[test]
    fn one_swap_unselects_before_append_and_deletes_last() {
        let old = desired(&["192.0.2.1", "192.0.2.2"]);
        let new = desired(&["192.0.2.1", "192.0.2.3"]);
        let delta = compute(&old, &new, &opts());
        insta::assert_snapshot!("delta_one_swap", delta.script);
        let lines: Vec<&str> = delta.script.lines().map(str::trim).collect();
        let pos = |s: &str| lines.iter().position(|l| *l == s).unwrap();
        // `bo-192.0.2.1` stays, so the group is never empty and never grows past two members.
        assert!(pos("unselect member \"bo-192.0.2.2\"") < pos("append member \"bo-192.0.2.3\""));
        assert!(pos("unselect member \"bo-192.0.2.2\"") < pos("delete \"bo-192.0.2.2\""));
        assert!(pos("edit \"bo-192.0.2.3\"") < pos("append member \"bo-192.0.2.3\""));
        assert_eq!(
            delta.counts,
            Counts {
                adds: 1,
                removes: 1,
                modifies: 1
            }
        );
    }

    /// Replays member lines the way FortiOS applies them: (members after each line).
    fn replay(have: &[String], script: &str) -> Vec<usize> {
        let mut cur: BTreeSet<String> = have.iter().cloned().collect();
        let mut sizes = Vec::new();
        for l in script.lines() {
            let w = crate::fortios::parse::words(l);
            if w.get(1).map(String::as_str) != Some("member") {
                continue;
            }
            for m in &w[2..] {
                match w[0].as_str() {
                    "append" => {
                        cur.insert(m.clone());
                    }
                    "unselect" => {
                        cur.remove(m);
                    }
                    other => panic!("unexpected {other}"),
                }
            }
            sizes.push(cur.len());
        }
        sizes
    }

    #[test]
    fn member_changes_never_empty_a_group_nor_overfill_it() {
        let names =
            |r: std::ops::Range<u32>| -> Vec<String> { r.map(|i| format!("bo-{i}")).collect() };
        for (have, want) in [
            (names(0..600), names(1..601)),    // full group, one swap
            (names(0..600), names(600..1200)), // full group, every member replaced
            (names(0..1), names(1..2)),        // placeholder replaced by one member
            (names(0..1), names(1..40)),       // placeholder replaced by many
            (names(0..40), names(40..41)),     // many replaced by one
            (names(0..5), names(0..3)),        // shrink only
            (names(0..3), names(0..5)),        // grow only
        ] {
            let mut s = Script::default();
            member_changes(&mut s, &have, &want, 120);
            let sizes = replay(&have, &s.into_string());
            let limit = have.len().max(want.len()).max(2);
            assert!(
                sizes.iter().all(|&n| n >= 1 && n <= limit),
                "{} -> {}: {sizes:?}",
                have.len(),
                want.len()
            );
            assert_eq!(sizes.last().copied().unwrap_or(have.len()), want.len());
        }
    }

    #[test]
    fn changed_fields_only_and_unset_of_removed_ones() {
        let want = desired(&["192.0.2.1"]);
        let mut have = want.clone();
        // By hand on the device: another colour and an FQDN where a subnet belongs.
        set(&mut have, Table::Address, "bo-192.0.2.1", "color", &["6"]);
        set(
            &mut have,
            Table::Addrgrp,
            "blockops-v4",
            "comment",
            &["hand"],
        );
        let mut want2 = want.clone();
        set(&mut want2, Table::Address, "bo-192.0.2.1", "color", &["13"]);
        let delta = compute(&have, &want2, &opts());
        insta::assert_snapshot!("delta_changed_fields", delta.script);
        let delta = compute(&have, &want, &opts());
        assert!(
            delta.script.contains("        unset color\n"),
            "{}",
            delta.script
        );
    }

    #[test]
    fn a_type_change_is_written_first_and_never_unset() {
        let want = desired(&["192.0.2.1"]);
        let mut have = want.clone();
        let o = have
            .table_mut(Table::Address)
            .get_mut("bo-192.0.2.1")
            .unwrap();
        o.fields.remove("subnet");
        o.fields.insert("type".into(), vec!["fqdn".into()]);
        o.fields.insert("fqdn".into(), vec!["x.example".into()]);
        let delta = compute(&have, &want, &opts());
        insta::assert_snapshot!("delta_type_change", delta.script);
        assert!(!delta.script.contains("unset"), "{}", delta.script);
    }

    #[test]
    fn child_groups_before_the_parent() {
        let mut d = desired(&["192.0.2.1", "192.0.2.2"]);
        let grp = d.table_mut(Table::Addrgrp);
        let mut parent = grp.remove("blockops-v4").unwrap();
        let child = parent.clone();
        parent
            .fields
            .insert("member".into(), vec!["blockops-v4-000".into()]);
        grp.insert("blockops-v4".into(), parent);
        grp.insert("blockops-v4-000".into(), child);
        let s = compute(&State::default(), &d, &opts()).script;
        let child_at = s.find("edit \"blockops-v4-000\"").unwrap();
        let parent_at = s.find("edit \"blockops-v4\"\n").unwrap();
        assert!(child_at < parent_at, "{s}");
    }

    #[test]
    fn member_lines_are_bounded_indentation_included() {
        let ips: Vec<String> = (0..100).map(|i| format!("198.51.100.{i}")).collect();
        let refs: Vec<&str> = ips.iter().map(String::as_str).collect();
        let old = desired(&refs[..50]);
        let new = desired(&refs[50..]);
        for (from, to) in [(&State::default(), &new), (&old, &new)] {
            let s = compute(from, to, &opts()).script;
            assert!(s.lines().all(|l| l.len() <= 120), "{s}");
            assert!(s.lines().filter(|l| l.contains(" member ")).count() > 5);
        }
    }

    #[test]
    fn wrappers_for_vdom_and_transaction() {
        let d = desired(&["192.0.2.1"]);
        let o = DeltaOptions {
            vdom: Some("root".into()),
            transaction: true,
            ..opts()
        };
        let s = compute(&State::default(), &d, &o).script;
        insta::assert_snapshot!("delta_vdom_transaction", s);
        assert!(s.starts_with(
            "execute config-transaction start\nconfig vdom\nedit root\nconfig firewall address\n"
        ));
        assert!(s.ends_with("end\nend\nexecute config-transaction commit\n"));
    }
}
