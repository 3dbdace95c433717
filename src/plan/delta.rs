//! The minimal FortiOS CLI script that turns the current managed state into the desired one.
//!
//! Order matters for safety: new and changed addresses first, then groups (children before the
//! parent, `append` before `unselect` so no group is ever empty), then retired groups, and only
//! then the retired addresses, which by then no managed group references. The text is a pure
//! function of (current state, desired state, options), so `apply` can recompute and compare it.
use std::collections::BTreeSet;

use crate::fortios::device::State;
use crate::fortios::model::{Address, AddressKind, Desired, Group};
use crate::fortios::quote::fq;

/// Settings that shape the script.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeltaOptions {
    /// Longest `append`/`unselect`/`set member` line, indentation included.
    pub max_line_length: usize,
    /// Wrap in `config vdom` / `edit <vdom>` / `end`.
    pub vdom: Option<String>,
    /// Wrap in `execute config-transaction start` / `commit`.
    pub transaction: bool,
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

#[derive(Default)]
struct Out {
    lines: Vec<String>,
}

impl Out {
    fn push(&mut self, depth: usize, s: impl AsRef<str>) {
        self.lines
            .push(format!("{}{}", "    ".repeat(depth), s.as_ref()));
    }
}

/// Compute the delta from `current` to `desired`.
pub fn compute(current: &State, desired: &Desired, o: &DeltaOptions) -> Delta {
    let want = State::from_desired(desired);
    let mut counts = Counts::default();
    let mut body = Out::default();

    // 1. Create / modify addresses.
    for (table, cur, des) in [
        ("address", &current.addresses, &desired.addresses),
        ("address6", &current.addresses6, &desired.addresses6),
    ] {
        let mut block = Out::default();
        for a in des.iter() {
            match cur.get(&a.name) {
                None => {
                    counts.adds += 1;
                    address_lines(&mut block, None, a);
                }
                Some(c) if c != a => {
                    counts.modifies += 1;
                    address_lines(&mut block, Some(c), a);
                }
                _ => {}
            }
        }
        wrap(&mut body, table, block);
    }

    // 2. Groups: edits in desired order (children first), then retired managed groups.
    for (table, cur, des, want_map) in [
        ("addrgrp", &current.groups, &desired.groups, &want.groups),
        (
            "addrgrp6",
            &current.groups6,
            &desired.groups6,
            &want.groups6,
        ),
    ] {
        let mut block = Out::default();
        for g in des.iter() {
            match cur.get(&g.name) {
                None => {
                    counts.adds += 1;
                    group_lines(&mut block, None, g, o.max_line_length);
                }
                Some(c) if c != g => {
                    counts.modifies += 1;
                    group_lines(&mut block, Some(c), g, o.max_line_length);
                }
                _ => {}
            }
        }
        for name in cur.keys().filter(|n| !want_map.contains_key(*n)) {
            counts.removes += 1;
            block.push(1, format!("delete {}", fq(name)));
        }
        wrap(&mut body, table, block);
    }

    // 3. Retired addresses, now unreferenced by managed groups.
    for (table, cur, want_map) in [
        ("address", &current.addresses, &want.addresses),
        ("address6", &current.addresses6, &want.addresses6),
    ] {
        let mut block = Out::default();
        for name in cur.keys().filter(|n| !want_map.contains_key(*n)) {
            counts.removes += 1;
            block.push(1, format!("delete {}", fq(name)));
        }
        wrap(&mut body, table, block);
    }

    if body.lines.is_empty() {
        return Delta {
            script: String::new(),
            counts,
        };
    }
    let mut lines = Vec::new();
    if o.transaction {
        lines.push("execute config-transaction start".to_string());
    }
    if let Some(v) = &o.vdom {
        lines.push("config vdom".to_string());
        lines.push(format!("edit {v}"));
    }
    lines.extend(body.lines);
    if o.vdom.is_some() {
        lines.push("end".to_string());
    }
    if o.transaction {
        lines.push("execute config-transaction commit".to_string());
    }
    let mut script = lines.join("\n");
    script.push('\n');
    Delta { script, counts }
}

fn wrap(body: &mut Out, table: &str, block: Out) {
    if block.lines.is_empty() {
        return;
    }
    body.push(0, format!("config firewall {table}"));
    body.lines.extend(block.lines);
    body.push(0, "end");
}

fn kind_name(k: &AddressKind) -> &'static str {
    match k {
        AddressKind::Subnet { .. } => "ipmask",
        AddressKind::Fqdn { .. } => "fqdn",
        AddressKind::Ip6 { .. } => "ipprefix",
    }
}

fn value_line(k: &AddressKind) -> String {
    match k {
        AddressKind::Subnet { subnet } => format!("set subnet {subnet}"),
        AddressKind::Fqdn { fqdn: f } => format!("set fqdn {}", fq(f)),
        AddressKind::Ip6 { ip6 } => format!("set ip6 {ip6}"),
    }
}

/// Value of a kind that cannot be a real value (parsed from an unsupported `type`).
fn is_foreign(k: &AddressKind) -> bool {
    match k {
        AddressKind::Subnet { subnet: v } | AddressKind::Ip6 { ip6: v } => v.starts_with('('),
        AddressKind::Fqdn { .. } => false,
    }
}

fn address_lines(out: &mut Out, cur: Option<&Address>, a: &Address) {
    out.push(1, format!("edit {}", fq(&a.name)));
    let type_differs = match cur {
        None => !matches!(a.kind, AddressKind::Subnet { .. } | AddressKind::Ip6 { .. }),
        Some(c) => kind_name(&c.kind) != kind_name(&a.kind) || is_foreign(&c.kind),
    };
    if type_differs {
        out.push(2, format!("set type {}", kind_name(&a.kind)));
    }
    if cur.is_none_or(|c| c.kind != a.kind) {
        out.push(2, value_line(&a.kind));
    }
    let cur_comment = cur.map_or("", |c| c.comment.as_str());
    if cur_comment != a.comment {
        if a.comment.is_empty() {
            out.push(2, "unset comment");
        } else {
            out.push(2, format!("set comment {}", fq(&a.comment)));
        }
    }
    let cur_color = cur.map_or(0, |c| c.color);
    if cur_color != a.color {
        if a.color == 0 {
            out.push(2, "unset color");
        } else {
            out.push(2, format!("set color {}", a.color));
        }
    }
    out.push(1, "next");
}

/// `<verb> member "a" "b" …` lines of at most `max` characters (at least one name per line).
pub fn member_lines(depth: usize, verb: &str, names: &[&str], max: usize) -> Vec<String> {
    let head = format!("{}{verb} member", "    ".repeat(depth));
    let mut out = Vec::new();
    let mut line = head.clone();
    for n in names {
        let q = fq(n);
        if line.len() > head.len() && line.len() + 1 + q.len() > max {
            out.push(std::mem::replace(&mut line, head.clone()));
        }
        line.push(' ');
        line.push_str(&q);
    }
    if line.len() > head.len() {
        out.push(line);
    }
    out
}

fn group_lines(out: &mut Out, cur: Option<&Group>, g: &Group, max: usize) {
    out.push(1, format!("edit {}", fq(&g.name)));
    match cur {
        None => {
            let names: Vec<&str> = g.members.iter().map(String::as_str).collect();
            let mut lines = member_lines(2, "append", &names, max).into_iter();
            // The first line sets the list (a new group has none), the rest append to it.
            if let Some(first) = lines.next() {
                out.lines
                    .push(first.replacen("append member", "set member", 1));
            }
            out.lines.extend(lines);
        }
        Some(c) => {
            let have: BTreeSet<&str> = c.members.iter().map(String::as_str).collect();
            let want: BTreeSet<&str> = g.members.iter().map(String::as_str).collect();
            let add: Vec<&str> = want.difference(&have).copied().collect();
            let rem: Vec<&str> = have.difference(&want).copied().collect();
            out.lines.extend(member_lines(2, "append", &add, max));
            out.lines.extend(member_lines(2, "unselect", &rem, max));
        }
    }
    let cur_comment = cur.map_or("", |c| c.comment.as_str());
    if cur_comment != g.comment {
        if g.comment.is_empty() {
            out.push(2, "unset comment");
        } else {
            out.push(2, format!("set comment {}", fq(&g.comment)));
        }
    }
    out.push(1, "next");
}

#[cfg(test)]
mod tests {
    use super::*;

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

    fn desired(ips: &[&str]) -> Desired {
        let addresses: Vec<Address> = ips.iter().map(|i| addr(i)).collect();
        let mut members: Vec<String> = addresses.iter().map(|a| a.name.clone()).collect();
        if members.is_empty() {
            members.push("bo-placeholder".into());
        }
        Desired {
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
        }
    }

    fn opts() -> DeltaOptions {
        DeltaOptions {
            max_line_length: 120,
            vdom: None,
            transaction: false,
        }
    }

    #[test]
    fn same_state_gives_empty_script() {
        let d = desired(&["192.0.2.1", "192.0.2.2"]);
        let cur = State::from_desired(&d);
        let delta = compute(&cur, &d, &opts());
        assert_eq!(delta.script, "");
        assert_eq!(delta.counts, Counts::default());
    }

    #[test]
    fn first_apply_creates_addresses_then_group() {
        let d = desired(&["192.0.2.1"]);
        let delta = compute(&State::default(), &d, &opts());
        assert_eq!(
            delta.script,
            "config firewall address\n    edit \"bo-192.0.2.1\"\n        set subnet 192.0.2.1 255.255.255.255\n        set comment \"blockops\"\n    next\nend\nconfig firewall addrgrp\n    edit \"blockops-v4\"\n        set member \"bo-192.0.2.1\"\n        set comment \"managed\"\n    next\nend\n"
        );
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
    fn one_swap_appends_before_unselect_and_deletes_last() {
        let old = desired(&["192.0.2.1", "192.0.2.2"]);
        let new = desired(&["192.0.2.1", "192.0.2.3"]);
        let delta = compute(&State::from_desired(&old), &new, &opts());
        let lines: Vec<&str> = delta.script.lines().map(str::trim).collect();
        let pos = |s: &str| lines.iter().position(|l| *l == s).unwrap();
        assert!(pos("append member \"bo-192.0.2.3\"") < pos("unselect member \"bo-192.0.2.2\""));
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
        assert!(lines.len() < 16, "{}", delta.script);
    }

    #[test]
    fn member_lines_are_bounded() {
        let names: Vec<String> = (0..100).map(|i| format!("bo-198.51.100.{i}")).collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let lines = member_lines(2, "append", &refs, 120);
        assert!(lines.len() > 5);
        assert!(lines.iter().all(|l| l.len() <= 120), "{lines:?}");
        let back: usize = lines.iter().map(|l| l.matches('"').count() / 2).sum();
        assert_eq!(back, 100);
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
        assert!(s.starts_with(
            "execute config-transaction start\nconfig vdom\nedit root\nconfig firewall address\n"
        ));
        assert!(s.ends_with("end\nend\nexecute config-transaction commit\n"));
    }
}
