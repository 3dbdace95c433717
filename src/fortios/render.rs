//! Rendering: the effective blocklist becomes a [`Desired`] device state per target, and
//! that state becomes a FortiOS CLI script through minijinja templates
//! (`templates/fortios/*.j2`; defaults are built in, repository files override them).
//!
//! Large families are split over child groups `<group>-NNN` with a stable assignment: each
//! member's place is chosen by a hash of its name in a binary trie whose leaves hold at most
//! `max_group_members`. Adding a member changes only its own leaf unless that leaf overflows,
//! in which case only that leaf is split — other members never move.
use std::collections::BTreeSet;

use anyhow::bail;

use crate::blocklist::effective::{Blocked, Effective};
use crate::blocklist::indicator::{Indicator, push_v4, v4_mask};
use crate::config::RenderConfig;

use super::fields::Table;
use super::model::{Address, AddressKind, Desired, Group};
use super::naming::{object_name, placeholder_name};
use super::quote;
use super::writer::Script;

pub use super::templates::{TEMPLATE_DIR, Templates, template_diag};

/// Bits of the child-group slot space: at most 4096 child groups per family.
const SLOT_BITS: u32 = 12;

/// The comment on an address object: where it came from, deterministic.
fn address_comment(b: &Blocked<'_>) -> String {
    // One listing (the common case): its sets are already sorted and distinct.
    if let [(_, e)] = b.entries.as_slice() {
        let note = e.comment.as_deref().filter(|c| !c.is_empty());
        let malops = e.malops.iter().map(String::as_str);
        return comment_text(e.sources.iter().map(|s| s.as_str()), malops, note);
    }
    let malops = b.malops();
    let sources = b.sources();
    comment_text(
        sources.iter().map(|s| s.as_str()),
        malops.iter().copied(),
        b.comment(),
    )
}

/// `blockops: <sources or manual>[ malop=<first>[ (+n)]][ - <note>]`, made safe to send.
fn comment_text<'a>(
    sources: impl Iterator<Item = &'a str>,
    malops: impl ExactSizeIterator<Item = &'a str>,
    note: Option<&str>,
) -> String {
    let mut c = String::with_capacity(96);
    c.push_str("blockops: ");
    let mut any = false;
    for s in sources {
        if any {
            c.push(',');
        }
        c.push_str(s);
        any = true;
    }
    if !any {
        c.push_str("manual");
    }
    let more = malops.len().saturating_sub(1);
    if let Some(first) = malops.into_iter().next() {
        c.push_str(" malop=");
        c.push_str(first);
        if more > 0 {
            c.push_str(" (+");
            c.push_str(&more.to_string());
            c.push(')');
        }
    }
    if let Some(note) = note {
        c.push_str(" - ");
        c.push_str(note);
    }
    quote::into_safe_comment(c)
}

/// The desired state of a target with render settings `rc` from the effective blocklist
/// ([`crate::workspace::Workspace::desired`] picks a configured target's settings; previews
/// without targets call this directly).
pub fn desired_with(
    rc: &RenderConfig,
    eff: &Effective<'_>,
    target: &str,
    vdom: Option<String>,
) -> anyhow::Result<Desired> {
    desired_except(rc, eff, target, vdom, &BTreeSet::new())
}

/// [`desired_with`] without the indicators whose object names are in `skip` (names a device
/// holds for someone else: blockops cannot create its object there).
pub fn desired_except(
    rc: &RenderConfig,
    eff: &Effective<'_>,
    target: &str,
    vdom: Option<String>,
    skip: &BTreeSet<String>,
) -> anyhow::Result<Desired> {
    let mut addresses = Vec::new();
    let mut addresses6 = Vec::new();
    for b in &eff.blocked {
        let name = object_name(&rc.prefix, b.value, rc.max_name_length);
        if skip.contains(&name) {
            continue;
        }
        let comment = address_comment(b);
        let kind = match b.value {
            Indicator::V4(n) => {
                let mut subnet = String::with_capacity(31);
                push_v4(&mut subnet, n.network());
                subnet.push(' ');
                push_v4(&mut subnet, v4_mask(n.prefix_len()));
                AddressKind::Subnet { subnet }
            }
            Indicator::V6(n) => AddressKind::Ip6 { ip6: n.to_string() },
            Indicator::Fqdn(d) => AddressKind::Fqdn { fqdn: d.clone() },
        };
        let a = Address {
            name,
            kind,
            comment,
            color: rc.color,
        };
        if matches!(b.value, Indicator::V6(_)) {
            addresses6.push(a)
        } else {
            addresses.push(a)
        }
    }
    for list in [&mut addresses, &mut addresses6] {
        sort_by_name(list, &rc.prefix);
        if let Some(w) = list.windows(2).find(|w| w[0].name == w[1].name) {
            bail!(
                "two indicators map to the object name `{}`; shorten the prefix or raise max_name_length",
                w[0].name
            );
        }
    }
    let groups = family(rc, &mut addresses, &rc.addrgrp, false)?;
    let groups6 = family(rc, &mut addresses6, &rc.addrgrp6, true)?;
    Ok(Desired {
        target: target.into(),
        vdom,
        prefix: rc.prefix.clone(),
        addresses,
        addresses6,
        groups,
        groups6,
        group_names: [rc.addrgrp.clone(), rc.addrgrp6.clone()],
    })
}

/// Sort addresses by name (byte order), as `sort_by(|a, b| a.name.cmp(&b.name))` would.
/// Every generated name starts with the prefix, so comparing the next eight bytes as one
/// integer settles almost every comparison of a 100 000-object sort without a string compare.
fn sort_by_name(list: &mut Vec<Address>, prefix: &str) {
    if !list.iter().all(|a| a.name.starts_with(prefix)) {
        list.sort_unstable_by(|a, b| a.name.cmp(&b.name));
        return;
    }
    let key = |name: &str| {
        let rest = &name.as_bytes()[prefix.len()..];
        let mut k = [0u8; 8];
        let n = rest.len().min(8);
        k[..n].copy_from_slice(&rest[..n]);
        // Zero padding sorts a shorter name first, as byte order does (names hold no NUL).
        u64::from_be_bytes(k)
    };
    let mut order: Vec<(u64, u32)> = list
        .iter()
        .enumerate()
        .map(|(i, a)| (key(&a.name), i as u32))
        .collect();
    order.sort_unstable_by(|x, y| {
        x.0.cmp(&y.0)
            .then_with(|| list[x.1 as usize].name.cmp(&list[y.1 as usize].name))
    });
    let mut slots: Vec<Option<Address>> = std::mem::take(list).into_iter().map(Some).collect();
    *list = order
        .iter()
        .map(|&(_, i)| slots[i as usize].take().expect("each index once"))
        .collect();
}

/// Stable 64-bit hash of a name: FNV-1a, then the splitmix64 finaliser so the high bits
/// (which pick the child group) are well mixed. Part of the on-device layout: never change it.
fn slot_hash(name: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

/// Groups for one address family (children first, then the parent); adds the placeholder
/// address when the family is empty. Sorts `addrs` by name.
fn family(
    rc: &RenderConfig,
    addrs: &mut Vec<Address>,
    group: &str,
    v6: bool,
) -> anyhow::Result<Vec<Group>> {
    let comment = "managed by blockops - do not edit".to_string();
    if addrs.is_empty() {
        let name = placeholder_name(&rc.prefix, v6);
        let kind = if v6 {
            AddressKind::Ip6 {
                ip6: "::/128".into(),
            }
        } else {
            AddressKind::Subnet {
                subnet: "0.0.0.0 255.255.255.255".into(),
            }
        };
        addrs.push(Address {
            name: name.clone(),
            kind,
            comment: "blockops placeholder: keeps the group non-empty, matches no traffic".into(),
            color: rc.color,
        });
        return Ok(vec![Group {
            name: group.into(),
            members: vec![name],
            comment,
        }]);
    }
    addrs.sort_by(|a, b| a.name.cmp(&b.name));
    if addrs.len() <= rc.max_group_members {
        let members = addrs.iter().map(|a| a.name.clone()).collect();
        return Ok(vec![Group {
            name: group.into(),
            members,
            comment,
        }]);
    }
    // (hash, index into `addrs`): the leaf of a name depends on its hash alone.
    let mut hashed: Vec<(u64, usize)> = addrs
        .iter()
        .enumerate()
        .map(|(i, a)| (slot_hash(&a.name), i))
        .collect();
    hashed.sort_unstable();
    let mut leaves = Vec::new();
    split(&hashed, 0, 0, rc.max_group_members, &mut leaves)?;
    if leaves.len() > rc.max_group_members {
        bail!(
            "group {group} would need {} child groups, more than max_group_members ({})",
            leaves.len(),
            rc.max_group_members
        );
    }
    // Members in name order: `addrs` is sorted by name, so walking it once and dealing each
    // name to its leaf gives every leaf its members sorted (names are distinct).
    let mut leaf_of = vec![0usize; addrs.len()];
    for (leaf, (_, items)) in leaves.iter().enumerate() {
        for &(_, i) in *items {
            leaf_of[i] = leaf;
        }
    }
    let mut members: Vec<Vec<String>> = leaves
        .iter()
        .map(|(_, items)| Vec::with_capacity(items.len()))
        .collect();
    for (a, &leaf) in addrs.iter().zip(&leaf_of) {
        members[leaf].push(a.name.clone());
    }
    let mut groups: Vec<Group> = leaves
        .iter()
        .zip(members)
        .map(|((slot, _), members)| Group {
            name: format!("{group}-{slot:03x}"),
            members,
            comment: format!("{comment} (child of {group})"),
        })
        .collect();
    groups.sort_by(|a, b| a.name.cmp(&b.name));
    let parent = Group {
        name: group.into(),
        members: groups.iter().map(|g| g.name.clone()).collect(),
        comment,
    };
    groups.push(parent);
    Ok(groups)
}

/// Split hash-sorted items into trie leaves of at most `max` items.
fn split<'a, T>(
    items: &'a [(u64, T)],
    depth: u32,
    slot: u64,
    max: usize,
    out: &mut Vec<(u64, &'a [(u64, T)])>,
) -> anyhow::Result<()> {
    if items.is_empty() {
        return Ok(());
    }
    if items.len() <= max {
        out.push((slot << (SLOT_BITS - depth), items));
        return Ok(());
    }
    if depth == SLOT_BITS {
        bail!("more than {max} members hash to one child-group slot; raise max_group_members");
    }
    let bit = 1u64 << (63 - depth);
    let cut = items.partition_point(|(h, _)| h & bit == 0);
    split(&items[..cut], depth + 1, slot << 1, max, out)?;
    split(&items[cut..], depth + 1, (slot << 1) | 1, max, out)
}

/// The full script through `full.j2`. While the repository does not override the built-in
/// templates, a native renderer produces the same bytes much faster (100 000 objects in a few
/// milliseconds instead of most of a second); a test keeps the two identical.
pub fn full_script(t: &Templates, desired: &Desired, rc: &RenderConfig) -> anyhow::Result<String> {
    if t.is_customised() {
        t.render("full.j2", desired, rc, minijinja::Value::UNDEFINED)
    } else {
        Ok(native_full(desired, rc))
    }
}

/// Native equivalent of the built-in `full.j2` + `objects.j2`, written with the same
/// building blocks as the delta (`fortios::writer`).
fn native_full(d: &Desired, rc: &RenderConfig) -> String {
    let n = d.addresses.len() + d.addresses6.len();
    let mut s = Script::with_capacity(256 + n * 170);
    let vdom = d.vdom.as_deref();
    s.open_wrappers(vdom, false);
    s.open_table(Table::Address);
    for a in &d.addresses {
        s.edit(&a.name);
        match &a.kind {
            AddressKind::Fqdn { fqdn } => {
                s.set_raw("type", "fqdn");
                s.set_quoted("fqdn", fqdn);
            }
            AddressKind::Subnet { subnet } => s.set_raw("subnet", subnet),
            // Not produced for `addresses`; rendered as the template would (`subnet` undefined).
            AddressKind::Ip6 { ip6 } => s.set_raw("subnet", ip6),
        }
        address_tail(&mut s, a);
    }
    s.end();
    s.open_table(Table::Address6);
    for a in &d.addresses6 {
        s.edit(&a.name);
        let ip6 = match &a.kind {
            AddressKind::Ip6 { ip6 } => ip6.as_str(),
            AddressKind::Subnet { subnet } => subnet.as_str(),
            AddressKind::Fqdn { fqdn } => fqdn.as_str(),
        };
        s.set_raw("ip6", ip6);
        address_tail(&mut s, a);
    }
    s.end();
    for (t, groups) in [(Table::Addrgrp, &d.groups), (Table::Addrgrp6, &d.groups6)] {
        s.open_table(t);
        for g in groups {
            s.edit(&g.name);
            s.members("set", &g.members, rc.max_line_length);
            s.set_raw("comment", &quote::fq(&g.comment));
            s.next();
        }
        s.end();
    }
    s.close_wrappers(vdom, false);
    s.into_string()
}

fn address_tail(s: &mut Script, a: &Address) {
    s.set_quoted("comment", &a.comment);
    if a.color != 0 {
        s.set_raw("color", &a.color.to_string());
    }
    s.next();
}

/// External threat-feed files: (IP/network list, domain list), one per line.
pub fn feed(eff: &Effective<'_>) -> (String, String) {
    let mut ips = String::new();
    let mut domains = String::new();
    for b in &eff.blocked {
        let line = match b.value {
            Indicator::Fqdn(d) => {
                domains.push_str(d);
                domains.push('\n');
                continue;
            }
            Indicator::V4(n) if n.prefix_len() == 32 => n.addr().to_string(),
            Indicator::V6(n) if n.prefix_len() == 128 => n.addr().to_string(),
            other => other.to_string(),
        };
        ips.push_str(&line);
        ips.push('\n');
    }
    (ips, domains)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blocklist::{BlocklistFile, Entry};
    use crate::config::Config;
    use crate::workspace::Workspace;
    use std::collections::BTreeMap;

    fn ws_with(values: &[String], cfg: Config) -> Workspace {
        let mut f = BlocklistFile::empty("blocklists/cybereason.yaml");
        for v in values {
            f.entries.push(Entry::new(Indicator::parse(v).unwrap()));
        }
        f.sort();
        let mut ws = Workspace::empty(&cfg);
        ws.files[0] = f;
        ws
    }

    fn desired_for(values: &[String], max: usize) -> Desired {
        let mut cfg = Config::default();
        cfg.render.max_group_members = max;
        let ws = ws_with(values, cfg);
        let eff = ws.effective(crate::blocklist::today());
        desired_with(&ws.config.render, &eff, "fw", None).unwrap()
    }

    fn ips(n: usize) -> Vec<String> {
        (0..n)
            .map(|i| format!("203.0.{}.{}", 113 + i / 250, i % 250 + 1))
            .collect()
    }

    fn placement(d: &Desired) -> BTreeMap<String, String> {
        let mut m = BTreeMap::new();
        for g in &d.groups[..d.groups.len() - 1] {
            for mem in &g.members {
                m.insert(mem.clone(), g.name.clone());
            }
        }
        m
    }

    #[test]
    fn empty_families_get_a_harmless_placeholder() {
        let d = desired_for(&[], 600);
        assert_eq!(d.groups[0].members, ["bo-placeholder"]);
        assert_eq!(
            d.addresses[0].kind,
            AddressKind::Subnet {
                subnet: "0.0.0.0 255.255.255.255".into()
            }
        );
        assert_eq!(d.groups6[0].members, ["bo-placeholder6"]);
    }

    #[test]
    fn large_families_use_child_groups_within_the_limit() {
        let d = desired_for(&ips(1000), 100);
        let parent = d.groups.last().unwrap();
        assert_eq!(parent.name, "blockops-v4");
        assert!(parent.members.iter().all(|m| m.starts_with("blockops-v4-")));
        let children = &d.groups[..d.groups.len() - 1];
        assert!(
            children
                .iter()
                .all(|g| !g.members.is_empty() && g.members.len() <= 100)
        );
        assert_eq!(
            children.iter().map(|g| g.members.len()).sum::<usize>(),
            1000
        );
    }

    #[test]
    fn adding_one_indicator_never_moves_others_unless_its_leaf_splits() {
        let base = ips(1000);
        let before = placement(&desired_for(&base, 100));
        let mut moved_total = 0;
        for extra in [
            "198.51.100.7",
            "198.51.100.8",
            "198.51.100.9",
            "evil.example",
        ] {
            let mut v = base.clone();
            v.push(extra.to_string());
            let d = desired_for(&v, 100);
            let after = placement(&d);
            let moved: Vec<_> = before
                .iter()
                .filter(|(k, g)| after.get(*k) != Some(*g))
                .collect();
            let new_leaf = &after[&format!("bo-{extra}")];
            // Whatever moved came out of the new member's own (split) leaf.
            for (k, _) in &moved {
                assert!(
                    after[*k].starts_with(&new_leaf[..new_leaf.len() - 2])
                        || before[*k] == *new_leaf
                        || after[*k] == *new_leaf,
                    "{k} moved"
                );
            }
            moved_total += moved.len();
        }
        assert!(moved_total <= 100, "{moved_total} members moved");
    }

    #[test]
    fn native_renderer_matches_the_builtin_templates_byte_for_byte() {
        let mut values = ips(1500);
        values.extend([
            "evil.example".to_string(),
            "2001:db8::1".into(),
            "2001:db8:1::/48".into(),
            "198.51.100.0/24".into(),
        ]);
        let t = Templates::builtin();
        for (vals, max, vdom, color) in [
            (values.clone(), 600, None, 0),
            (values.clone(), 100, Some("root".to_string()), 7),
            (Vec::new(), 600, None, 0),
            (vec!["2001:db8::5".to_string()], 600, Some("ot".into()), 0),
        ] {
            let mut cfg = Config::default();
            cfg.render.max_group_members = max;
            cfg.render.color = color;
            let mut ws = ws_with(&vals, cfg);
            if let Some(e) = ws.files[0].entries.first_mut() {
                e.comment = Some("q\"uote\\ back? \u{202E}".into());
            }
            let eff = ws.effective(crate::blocklist::today());
            let d = desired_with(&ws.config.render, &eff, "fw", vdom).unwrap();
            let via_template = t
                .render(
                    "full.j2",
                    &d,
                    &ws.config.render,
                    minijinja::Value::UNDEFINED,
                )
                .unwrap();
            assert_eq!(native_full(&d, &ws.config.render), via_template);
        }
    }

    #[test]
    fn script_quotes_comments_and_wraps_vdom() {
        let mut cfg = Config::default();
        cfg.targets.push(
            serde_yaml::from_str("name: fw\nhost: 127.0.0.1\npassword: {env: X}\nvdom: root\n")
                .unwrap(),
        );
        let mut ws = ws_with(
            &[
                "203.0.113.7".into(),
                "evil.example".into(),
                "2001:db8::1".into(),
            ],
            cfg,
        );
        ws.files[0].entries[0].comment = Some("say \"hi\"\nend\nconfig system admin?".into());
        let t = ws.config.targets[0].clone();
        let eff = ws.effective(crate::blocklist::today());
        let d = ws.desired(&eff, &t).unwrap();
        let s = ws.script(&d, &t).unwrap();
        assert!(
            s.starts_with("config vdom\nedit root\nconfig firewall address\n"),
            "{s}"
        );
        assert!(
            s.contains(
                "set comment \"blockops: manual - say \\\"hi\\\" end config system admin.\""
            ),
            "{s}"
        );
        assert!(s.contains("    edit \"bo-evil.example\"\n        set type fqdn\n        set fqdn \"evil.example\"\n"), "{s}");
        assert!(s.contains("set subnet 203.0.113.7 255.255.255.255"), "{s}");
        assert!(
            s.contains("    edit \"bo-2001:db8::1\"\n        set ip6 2001:db8::1/128\n"),
            "{s}"
        );
        assert!(s.ends_with("end\nend\n"), "{s}");
        assert!(!s.contains('?'));
    }
}
