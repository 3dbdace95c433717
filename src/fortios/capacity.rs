//! Capacity before pushing (issue #9 item 4): a table or a group that fills up half-way
//! through an apply leaves a partial change (`Maximum number of entries has been reached`,
//! return code -4, at the line that overflows). So `plan` walks the delta script line by line
//! over what the device holds — creations come before deletions, so the peak, not the end
//! state, is what must fit — and compares every peak with every limit it knows:
//!
//! - `print tablesize` (per-VDOM and global entries per table, members per group entry; the
//!   FortiProxy 7.2.0 "Maximum Values Table" describes these columns, the FortiGate layout is
//!   [U]),
//! - `config system vdom-property` (`firewall-address`, `firewall-addrgrp`: the VDOM's quota,
//!   counting IPv4 and IPv6 tables together) and `config system resource-limits` (the same,
//!   device-wide; FortiProxy 7.2.4 CLI reference),
//! - and what the configuration says when the device does not tell: `targets[].max_addresses`
//!   and `render.max_group_members`.
//!
//! Device-wide limits are only checked on a unit without VDOMs, where the VDOM's count is the
//! device's; on a multi-VDOM unit the other VDOMs' tables are not read.
use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::fields::Table;
use super::parse::words;
use super::probe::{Limits, Scope};

/// What the device holds before the script runs (all entries of the four tables in the
/// target's VDOM, not only blockops' own).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Holdings {
    /// Entry names per table ([`Table::ALL`] order).
    pub names: [BTreeSet<String>; 4],
    /// Member count of every group whose name fits blockops' naming.
    pub members: BTreeMap<String, usize>,
}

impl Holdings {
    pub fn entries(&self, t: Table) -> usize {
        self.names[t.index()].len()
    }
}

/// Counts before, at the peak and after the script, for one thing that has a limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Span {
    pub before: usize,
    pub peak: usize,
    pub after: usize,
}

impl Span {
    fn start(n: usize) -> Span {
        Span {
            before: n,
            peak: n,
            after: n,
        }
    }
    fn set(&mut self, n: usize) {
        self.after = n;
        self.peak = self.peak.max(n);
    }
}

/// Entries per table, per quota (IPv4 + IPv6 tables) and members per touched group while
/// the script runs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Usage {
    pub tables: [Span; 4],
    /// `firewall-address` (address + address6) and `firewall-addrgrp` (addrgrp + addrgrp6).
    pub quotas: BTreeMap<&'static str, Span>,
    /// Groups the script edits: (table, name) → members.
    pub groups: BTreeMap<(Table, String), Span>,
}

fn quota_of(t: Table) -> &'static str {
    match t {
        Table::Address | Table::Address6 => "firewall-address",
        Table::Addrgrp | Table::Addrgrp6 => "firewall-addrgrp",
    }
}

/// Walk `script` (a delta: `config firewall <table>` blocks, optionally inside VDOM and
/// transaction wrappers) over `have`.
pub fn usage(script: &str, have: &Holdings) -> Usage {
    let mut names = have.names.clone();
    let mut u = Usage::default();
    for t in Table::ALL {
        u.tables[t.index()] = Span::start(have.entries(t));
    }
    for t in [Table::Address, Table::Addrgrp] {
        let other = if t == Table::Address {
            Table::Address6
        } else {
            Table::Addrgrp6
        };
        u.quotas.insert(
            quota_of(t),
            Span::start(have.entries(t) + have.entries(other)),
        );
    }
    // Where the walk is: the table of the open `config firewall` block, the open entry.
    let mut table: Option<Table> = None;
    let mut entry: Option<String> = None;
    let mut vdom_list = false;
    for line in script.lines() {
        let w = words(line);
        let v: Vec<&str> = w.iter().map(String::as_str).collect();
        match (table, entry.is_some(), v.as_slice()) {
            (None, _, ["config", "vdom"]) => vdom_list = true,
            (None, _, ["edit", _]) if vdom_list => vdom_list = false,
            (None, _, ["config", "firewall", t]) => table = Table::from_name(t),
            (Some(_), false, ["end"]) => table = None,
            (Some(t), false, ["edit", name]) => {
                let name = (*name).to_string();
                if names[t.index()].insert(name.clone()) {
                    let n = names[t.index()].len();
                    u.tables[t.index()].set(n);
                    if let Some(q) = u.quotas.get_mut(quota_of(t)) {
                        let total = q.after + 1;
                        q.set(total);
                    }
                }
                if matches!(t, Table::Addrgrp | Table::Addrgrp6) {
                    let before = have.members.get(&name).copied().unwrap_or(0);
                    u.groups
                        .entry((t, name.clone()))
                        .or_insert_with(|| Span::start(before));
                }
                entry = Some(name);
            }
            (Some(t), false, ["delete", name]) if names[t.index()].remove(*name) => {
                let n = names[t.index()].len();
                u.tables[t.index()].set(n);
                if let Some(q) = u.quotas.get_mut(quota_of(t)) {
                    let total = q.after.saturating_sub(1);
                    q.set(total);
                }
            }
            (Some(_), true, ["next" | "abort"]) => entry = None,
            (Some(_), true, ["end"]) => {
                entry = None;
                table = None;
            }
            (Some(t), true, [verb @ ("set" | "append" | "unselect"), "member", rest @ ..]) => {
                if let Some(g) = entry
                    .as_ref()
                    .and_then(|e| u.groups.get_mut(&(t, e.clone())))
                {
                    let n = rest.len();
                    let now = match *verb {
                        "set" => n,
                        "append" => g.after + n,
                        _ => g.after.saturating_sub(n),
                    };
                    g.set(now);
                }
            }
            _ => {}
        }
    }
    u
}

/// One limit the script would break.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Exceeded {
    /// What is counted, e.g. `firewall address entries in VDOM root`.
    pub what: String,
    #[serde(flatten)]
    pub span: Span,
    pub limit: usize,
    /// Where the limit comes from (`print tablesize`, `targets[].max_addresses` …).
    pub source: String,
}

impl std::fmt::Display for Exceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: {} now, {} at the peak of the script ({} after it), limit {} ({})",
            self.what, self.span.before, self.span.peak, self.span.after, self.limit, self.source
        )
    }
}

/// Limits from the configuration, used in addition to what the device states.
#[derive(Debug, Clone, Copy, Default)]
pub struct Configured {
    /// `targets[].max_addresses`: entries per address table.
    pub max_addresses: Option<usize>,
    /// `render.max_group_members`: members per group, when the device does not state it.
    pub max_group_members: usize,
}

/// Every limit `u` breaks. A count that does not grow past what the device already holds is
/// never a problem (the device holds it), even above a configured limit.
pub fn check(u: &Usage, limits: &Limits, conf: Configured, scope: &Scope) -> Vec<Exceeded> {
    let mut out = Vec::new();
    let whereabouts = match scope {
        Scope::SingleVdom => String::new(),
        Scope::Global { vdom } | Scope::VdomAdmin { vdom } => format!(" in VDOM {vdom}"),
    };
    let single = matches!(scope, Scope::SingleVdom);
    let mut test = |what: String, span: Span, limit: usize, source: &str| {
        if limit > 0 && span.peak > limit && span.peak > span.before {
            out.push(Exceeded {
                what,
                span,
                limit,
                source: source.to_string(),
            });
        }
    };
    for t in Table::ALL {
        let span = u.tables[t.index()];
        let what = format!("firewall {} entries{whereabouts}", t.name());
        if let Some(ts) = limits.tablesize.get(&format!("firewall.{}", t.name())) {
            test(what.clone(), span, ts.per_vdom, "print tablesize, per VDOM");
            if single {
                test(what.clone(), span, ts.global, "print tablesize, global");
            }
        }
        if matches!(t, Table::Address | Table::Address6)
            && let Some(max) = conf.max_addresses
        {
            test(what, span, max, "targets[].max_addresses");
        }
    }
    for (quota, span) in &u.quotas {
        let tables = if *quota == "firewall-address" {
            "firewall address + address6 entries"
        } else {
            "firewall addrgrp + addrgrp6 entries"
        };
        if let Some(max) = limits.vdom_property.get(*quota) {
            test(
                format!("{tables}{whereabouts}"),
                *span,
                *max,
                &format!("system vdom-property {quota}"),
            );
        }
        if single && let Some(max) = limits.resource_limits.get(*quota) {
            test(
                format!("{tables} on the device"),
                *span,
                *max,
                &format!("system resource-limits {quota}"),
            );
        }
    }
    for ((t, name), span) in &u.groups {
        let what = format!("members of firewall {} \"{name}\"", t.name());
        match limits
            .tablesize
            .get(&format!("firewall.{}:member", t.name()))
        {
            Some(ts) if ts.per_entry > 0 => {
                test(what, *span, ts.per_entry, "print tablesize, per entry")
            }
            _ => test(
                what,
                *span,
                conf.max_group_members,
                "render.max_group_members",
            ),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fortios::probe::TableSize;

    fn have(addrs: &[&str], groups: &[(&str, usize)]) -> Holdings {
        let mut h = Holdings::default();
        for a in addrs {
            h.names[0].insert(a.to_string());
        }
        for (g, n) in groups {
            h.names[2].insert(g.to_string());
            h.members.insert(g.to_string(), *n);
        }
        h
    }

    const SWAP: &str = "config firewall address\n    edit \"bo-3\"\n        set subnet 192.0.2.3 255.255.255.255\n    next\nend\nconfig firewall addrgrp\n    edit \"g\"\n        unselect member \"bo-2\"\n        append member \"bo-3\"\n    next\nend\nconfig firewall address\n    delete \"bo-2\"\nend\n";

    #[test]
    fn the_peak_counts_creations_before_deletions() {
        let u = usage(SWAP, &have(&["bo-1", "bo-2", "other"], &[("g", 2)]));
        assert_eq!(
            u.tables[0],
            Span {
                before: 3,
                peak: 4,
                after: 3
            }
        );
        assert_eq!(
            u.groups[&(Table::Addrgrp, "g".to_string())],
            Span {
                before: 2,
                peak: 2,
                after: 2
            }
        );
        assert_eq!(u.quotas["firewall-address"].peak, 4);
    }

    #[test]
    fn limits_from_the_device_and_the_configuration() {
        let u = usage(SWAP, &have(&["bo-1", "bo-2", "other"], &[("g", 2)]));
        let mut l = Limits::default();
        l.tablesize.insert(
            "firewall.address".into(),
            TableSize {
                per_entry: 0,
                per_vdom: 3,
                global: 0,
            },
        );
        let conf = Configured {
            max_addresses: None,
            max_group_members: 600,
        };
        let e = check(&u, &l, conf, &Scope::SingleVdom);
        assert_eq!(e.len(), 1, "{e:?}");
        assert_eq!(
            e[0].to_string(),
            "firewall address entries: 3 now, 4 at the peak of the script (3 after it), limit 3 (print tablesize, per VDOM)"
        );
        // Room for one more: nothing exceeded.
        l.tablesize.get_mut("firewall.address").unwrap().per_vdom = 4;
        assert!(check(&u, &l, conf, &Scope::SingleVdom).is_empty());
        // The configured limit applies too; a VDOM quota counts both address tables.
        let conf = Configured {
            max_addresses: Some(3),
            ..conf
        };
        l.vdom_property.insert("firewall-address".into(), 2);
        let e = check(
            &u,
            &l,
            conf,
            &Scope::Global {
                vdom: "edge".into(),
            },
        );
        let what: Vec<&str> = e.iter().map(|x| x.source.as_str()).collect();
        assert_eq!(
            what,
            [
                "targets[].max_addresses",
                "system vdom-property firewall-address"
            ]
        );
        assert!(e[1].what.ends_with("in VDOM edge"), "{}", e[1].what);
    }

    #[test]
    fn a_group_over_its_member_limit() {
        let script = "config firewall addrgrp\n    edit \"g\"\n        append member \"a\" \"b\"\n        unselect member \"c\"\n    next\nend\n";
        let u = usage(script, &have(&[], &[("g", 600)]));
        let e = check(
            &u,
            &Limits::default(),
            Configured {
                max_addresses: None,
                max_group_members: 600,
            },
            &Scope::SingleVdom,
        );
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].span.peak, 602);
        assert_eq!(e[0].source, "render.max_group_members");
        // A new group, set at once.
        let u = usage(
            "config firewall addrgrp\n    edit \"n\"\n        set member \"a\"\n        append member \"b\"\n    next\nend\n",
            &Holdings::default(),
        );
        assert_eq!(u.groups[&(Table::Addrgrp, "n".into())].after, 2);
        assert_eq!(u.tables[2].after, 1);
    }
}
