//! What is on the device: `show firewall address|address6|addrgrp|addrgrp6` output parsed into
//! the model types, filtered to the objects blockops owns. Everything else on the device is
//! invisible to planning, so it can never be modified or deleted.
use std::collections::BTreeMap;

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::fortios::model::{Address, AddressKind, Desired, Group};
use crate::fortios::quote::unescape;
use crate::fortios::ssh::Session;

/// The four tables blockops writes to.
pub const TABLES: [&str; 4] = ["address", "address6", "addrgrp", "addrgrp6"];

/// Managed objects of one target, keyed by name (the same shape for desired and device state).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    pub addresses: BTreeMap<String, Address>,
    pub addresses6: BTreeMap<String, Address>,
    pub groups: BTreeMap<String, Group>,
    pub groups6: BTreeMap<String, Group>,
}

impl State {
    /// The desired state in keyed form.
    pub fn from_desired(d: &Desired) -> State {
        let a = |v: &[Address]| v.iter().map(|a| (a.name.clone(), a.clone())).collect();
        let g = |v: &[Group]| v.iter().map(|g| (g.name.clone(), g.clone())).collect();
        State {
            addresses: a(&d.addresses),
            addresses6: a(&d.addresses6),
            groups: g(&d.groups),
            groups6: g(&d.groups6),
        }
    }

    /// sha256 of the canonical JSON form: what a plan records as "the device state it was
    /// computed from".
    pub fn sha256(&self) -> String {
        // Serialising BTreeMaps of plain structs cannot fail.
        let json = serde_json::to_vec(self).unwrap_or_default();
        hex::encode(Sha256::digest(&json))
    }

    /// Number of managed objects.
    pub fn len(&self) -> usize {
        self.addresses.len() + self.addresses6.len() + self.groups.len() + self.groups6.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Differences from `other`, one human line each (empty: identical).
    pub fn drift(&self, expected: &State) -> Vec<String> {
        let mut out = Vec::new();
        fn cmp<T: PartialEq + std::fmt::Debug>(
            out: &mut Vec<String>,
            table: &str,
            have: &BTreeMap<String, T>,
            want: &BTreeMap<String, T>,
        ) {
            for (k, w) in want {
                match have.get(k) {
                    None => out.push(format!("{table} \"{k}\" is missing on the device")),
                    Some(h) if h != w => out.push(format!(
                        "{table} \"{k}\" differs: device {h:?}, expected {w:?}"
                    )),
                    _ => {}
                }
            }
            for k in have.keys().filter(|k| !want.contains_key(*k)) {
                out.push(format!("{table} \"{k}\" should not exist"));
            }
        }
        cmp(&mut out, "address", &self.addresses, &expected.addresses);
        cmp(&mut out, "address6", &self.addresses6, &expected.addresses6);
        cmp(&mut out, "addrgrp", &self.groups, &expected.groups);
        cmp(&mut out, "addrgrp6", &self.groups6, &expected.groups6);
        out
    }
}

/// One `edit` block of `show` output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    /// `set` lines: field name → values (quotes removed, escapes resolved).
    pub fields: BTreeMap<String, Vec<String>>,
    /// The block as shown (for backups).
    pub text: String,
}

/// Split a CLI line into words, honouring `"…"` (with `\` escapes) and `'…'`.
pub fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = line.trim().chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        let mut w = String::new();
        match c {
            '"' => {
                chars.next();
                let mut body = String::new();
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => {
                            body.push('\\');
                            if let Some(n) = chars.next() {
                                body.push(n);
                            }
                        }
                        '"' => break,
                        c => body.push(c),
                    }
                }
                w.push_str(&unescape(&body));
            }
            '\'' => {
                chars.next();
                for c in chars.by_ref() {
                    if c == '\'' {
                        break;
                    }
                    w.push(c);
                }
            }
            _ => {
                while let Some(&c) = chars.peek() {
                    if c.is_whitespace() {
                        break;
                    }
                    chars.next();
                    if c == '\\' {
                        if let Some(n) = chars.next() {
                            w.push(n);
                        }
                    } else {
                        w.push(c);
                    }
                }
            }
        }
        out.push(w);
    }
    out
}

/// Parse `show firewall <table>` output into its entries (nested `config` blocks inside an
/// entry are skipped; lines outside `edit`…`next` are ignored).
pub fn parse_show(text: &str) -> Vec<Entry> {
    let mut out = Vec::new();
    let mut cur: Option<Entry> = None;
    let mut nested = 0usize;
    for line in text.lines() {
        let w = words(line);
        let Some(verb) = w.first().map(String::as_str) else {
            continue;
        };
        match (&mut cur, verb) {
            (None, "edit") if w.len() >= 2 => {
                cur = Some(Entry {
                    name: w[1].clone(),
                    fields: BTreeMap::new(),
                    text: format!("{line}\n"),
                });
                nested = 0;
            }
            (Some(e), _) => {
                e.text.push_str(line);
                e.text.push('\n');
                match verb {
                    "config" => nested += 1,
                    "end" if nested > 0 => nested -= 1,
                    "next" if nested == 0 => {
                        if let Some(e) = cur.take() {
                            out.push(e);
                        }
                    }
                    "set" if nested == 0 && w.len() >= 2 => {
                        e.fields.insert(w[1].clone(), w[2..].to_vec());
                    }
                    _ => {}
                }
            }
            _ => {}
        }
    }
    out
}

fn field<'a>(e: &'a Entry, k: &str) -> Option<&'a [String]> {
    e.fields.get(k).map(Vec::as_slice)
}

fn one(e: &Entry, k: &str) -> String {
    field(e, k).map(|v| v.join(" ")).unwrap_or_default()
}

/// An IPv4 `address` entry as a model object. Types blockops does not write come back with a
/// value that can never equal a desired one, so they show up as modifications.
pub fn address_from(e: &Entry) -> Address {
    let ty = one(e, "type");
    let kind = match ty.as_str() {
        "" | "ipmask" => AddressKind::Subnet {
            subnet: field(e, "subnet").map_or_else(|| "0.0.0.0 0.0.0.0".into(), |v| v.join(" ")),
        },
        "fqdn" => AddressKind::Fqdn {
            fqdn: one(e, "fqdn"),
        },
        other => AddressKind::Subnet {
            subnet: format!("(type {other})"),
        },
    };
    Address {
        name: e.name.clone(),
        kind,
        comment: one(e, "comment"),
        color: one(e, "color").parse().unwrap_or(0),
    }
}

/// An `address6` entry as a model object.
pub fn address6_from(e: &Entry) -> Address {
    let ty = one(e, "type");
    let kind = match ty.as_str() {
        "" | "ipprefix" => AddressKind::Ip6 {
            ip6: field(e, "ip6").map_or_else(|| "::/0".into(), |v| v.join(" ")),
        },
        other => AddressKind::Ip6 {
            ip6: format!("(type {other})"),
        },
    };
    Address {
        name: e.name.clone(),
        kind,
        comment: one(e, "comment"),
        color: one(e, "color").parse().unwrap_or(0),
    }
}

/// An `addrgrp`/`addrgrp6` entry as a model object (members sorted).
pub fn group_from(e: &Entry) -> Group {
    let mut members = field(e, "member")
        .map(<[String]>::to_vec)
        .unwrap_or_default();
    members.sort();
    members.dedup();
    Group {
        name: e.name.clone(),
        members,
        comment: one(e, "comment"),
    }
}

fn managed_members(mut g: Group, managed: &dyn Fn(&str) -> bool) -> Group {
    g.members.retain(|m| managed(m));
    g
}

/// Managed state from the four `show` outputs; also returns the shown text of every managed
/// object (the backup).
pub fn state_from_show(outputs: &[String; 4], managed: &dyn Fn(&str) -> bool) -> (State, String) {
    let mut st = State::default();
    let mut backup = String::new();
    for (i, out) in outputs.iter().enumerate() {
        let entries: Vec<Entry> = parse_show(out)
            .into_iter()
            .filter(|e| managed(&e.name))
            .collect();
        if !entries.is_empty() {
            backup.push_str(&format!("config firewall {}\n", TABLES[i]));
            for e in &entries {
                backup.push_str(&e.text);
            }
            backup.push_str("end\n");
        }
        for e in entries {
            match i {
                0 => {
                    st.addresses.insert(e.name.clone(), address_from(&e));
                }
                1 => {
                    st.addresses6.insert(e.name.clone(), address6_from(&e));
                }
                // Members someone added by hand to a managed group are not ours: they are
                // neither counted nor ever unselected.
                2 => {
                    st.groups
                        .insert(e.name.clone(), managed_members(group_from(&e), managed));
                }
                _ => {
                    st.groups6
                        .insert(e.name.clone(), managed_members(group_from(&e), managed));
                }
            }
        }
    }
    (st, backup)
}

/// Default patterns that mark a device reply as a failure (research §5).
pub fn default_error_patterns() -> Vec<String> {
    [
        "Command fail",
        "parse error",
        "not found in datasource",
        "Maximum number of entries",
    ]
    .into_iter()
    .map(String::from)
    .collect()
}

/// The first output line matching one of `patterns`.
pub fn find_error<'a>(output: &'a str, patterns: &[String]) -> Option<&'a str> {
    output
        .lines()
        .find(|l| patterns.iter().any(|p| l.contains(p.as_str())))
}

/// What the session learned while preparing the console.
#[derive(Debug, Clone, Default)]
pub struct Console {
    pub multi_vdom: bool,
    pub was_more: bool,
}

async fn checked(s: &mut Session, line: &str, patterns: &[String]) -> anyhow::Result<String> {
    let out = s.cmd(line).await?;
    if let Some(err) = find_error(&out, patterns) {
        bail!("the device rejected `{line}`: {err}");
    }
    Ok(out)
}

/// Like netmiko: find out whether VDOMs are on and switch the console pager to `standard`.
pub async fn prepare(s: &mut Session, patterns: &[String]) -> anyhow::Result<Console> {
    let status = checked(s, "get system status", patterns).await?;
    let multi_vdom = status.lines().any(|l| {
        let l = l.trim();
        l.starts_with("Virtual domain configuration")
            && ["multiple", "enable", "split-task"]
                .iter()
                .any(|m| l.ends_with(m))
    });
    if multi_vdom {
        checked(s, "config global", patterns).await?;
    }
    let console = checked(s, "get system console", patterns).await?;
    let mode = console
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k.trim() == "output").then(|| v.trim().to_string())
        })
        .unwrap_or_default();
    let was_more = mode == "more";
    if was_more {
        for l in ["config system console", "set output standard", "end"] {
            checked(s, l, patterns).await?;
        }
    }
    if multi_vdom {
        checked(s, "end", patterns).await?;
    }
    Ok(Console {
        multi_vdom,
        was_more,
    })
}

/// Put the pager back to `more` if that is how it was.
pub async fn restore(s: &mut Session, c: &Console, patterns: &[String]) -> anyhow::Result<()> {
    if !c.was_more {
        return Ok(());
    }
    if c.multi_vdom {
        checked(s, "config global", patterns).await?;
    }
    for l in ["config system console", "set output more", "end"] {
        checked(s, l, patterns).await?;
    }
    if c.multi_vdom {
        checked(s, "end", patterns).await?;
    }
    Ok(())
}

/// Check that the target's VDOM setting fits the device.
pub fn check_vdom(c: &Console, vdom: Option<&str>, target: &str) -> anyhow::Result<()> {
    match (c.multi_vdom, vdom) {
        (true, None) => {
            bail!("target `{target}`: the device has multiple VDOMs; set `vdom:` for this target")
        }
        (false, Some(v)) => {
            bail!("target `{target}`: `vdom: {v}` is set but the device does not use VDOMs")
        }
        _ => Ok(()),
    }
}

/// VDOM names from `get` inside `config vdom` (`== [ root ]` lines).
pub fn vdom_names(get_output: &str) -> Vec<String> {
    get_output
        .lines()
        .filter_map(|l| {
            l.trim()
                .strip_prefix("== [")?
                .strip_suffix(']')
                .map(|n| n.trim().to_string())
        })
        .collect()
}

/// Read the managed objects (the console must be prepared).
pub async fn read_state(
    s: &mut Session,
    vdom: Option<&str>,
    managed: &(dyn Fn(&str) -> bool + Sync),
    patterns: &[String],
) -> anyhow::Result<(State, String)> {
    if let Some(v) = vdom {
        checked(s, "config vdom", patterns).await?;
        // `edit <name>` under `config vdom` creates a VDOM: check that it exists first.
        let list = checked(s, "get", patterns).await?;
        if !vdom_names(&list).iter().any(|n| n == v) {
            checked(s, "end", patterns).await?;
            bail!(
                "VDOM `{v}` does not exist on the device (it has: {})",
                vdom_names(&list).join(", ")
            );
        }
        checked(s, &format!("edit {v}"), patterns)
            .await
            .with_context(|| format!("entering VDOM {v}"))?;
    }
    let mut outputs: [String; 4] = Default::default();
    for (i, t) in TABLES.iter().enumerate() {
        outputs[i] = checked(s, &format!("show firewall {t}"), patterns)
            .await
            .with_context(|| format!("reading firewall {t}"))?;
    }
    if vdom.is_some() {
        checked(s, "end", patterns).await?;
    }
    Ok(state_from_show(&outputs, managed))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHOW: &str = r#"config firewall address
    edit "none"
        set uuid 1
        set subnet 0.0.0.0 255.255.255.255
    next
    edit "bo-203.0.113.7"
        set uuid 8d6c3c4e-0000-51ef-0000-000000000000
        set comment "say \"hi\" \\ back"
        set subnet 203.0.113.7 255.255.255.255
        set color 6
    next
    edit "bo-evil.example"
        set type fqdn
        set fqdn "evil.example"
    next
    edit "bo-range"
        set type iprange
        set start-ip 1.1.1.1
    next
end
"#;

    #[test]
    fn parses_show_output_and_keeps_only_managed_objects() {
        let outs = [
            SHOW.to_string(),
            String::new(),
            String::new(),
            String::new(),
        ];
        let (st, backup) = state_from_show(&outs, &|n: &str| n.starts_with("bo-"));
        assert_eq!(st.addresses.len(), 3);
        let a = &st.addresses["bo-203.0.113.7"];
        assert_eq!(a.comment, r#"say "hi" \ back"#);
        assert_eq!(a.color, 6);
        assert_eq!(
            a.kind,
            AddressKind::Subnet {
                subnet: "203.0.113.7 255.255.255.255".into()
            }
        );
        assert_eq!(
            st.addresses["bo-evil.example"].kind,
            AddressKind::Fqdn {
                fqdn: "evil.example".into()
            }
        );
        assert!(
            matches!(&st.addresses["bo-range"].kind, AddressKind::Subnet { subnet } if subnet.starts_with("(type"))
        );
        assert!(!backup.contains("\"none\""));
        assert!(backup.contains("edit \"bo-203.0.113.7\""));
    }

    #[test]
    fn groups_sorted_and_defaults() {
        let g = "config firewall addrgrp\n    edit \"grp\"\n        set member \"b\" \"a\"\n    next\nend\n";
        let a6 = "config firewall address6\n    edit \"bo-x\"\n    next\nend\n";
        let outs = [String::new(), a6.into(), g.into(), String::new()];
        let (st, _) = state_from_show(&outs, &|_: &str| true);
        assert_eq!(st.groups["grp"].members, vec!["a", "b"]);
        assert_eq!(
            st.addresses6["bo-x"].kind,
            AddressKind::Ip6 { ip6: "::/0".into() }
        );
    }

    #[test]
    fn words_handle_quotes_and_escapes() {
        assert_eq!(
            words(r#"set member "a b" 'c\d' e\ f "g\"h""#),
            vec!["set", "member", "a b", "c\\d", "e f", "g\"h"]
        );
    }
}
