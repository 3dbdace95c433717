//! What is on the device: the console prepared the way netmiko does it, and the four
//! `show firewall address|address6|addrgrp|addrgrp6` outputs read into the model
//! (`fortios::model::State`) with the same parser that reads blockops' own scripts
//! (`fortios::parse`). Only objects blockops can prove are its own become part of the state
//! (`fortios::model::Owner`); look-alikes are listed as others and never touched.
use std::collections::BTreeMap;

use anyhow::{Context, bail};

use crate::fortios::fields::{FieldRules, Table};
use crate::fortios::model::{Object, Owner, State, table_of};
use crate::fortios::parse;
use crate::fortios::ssh::Session;

/// Managed state from the four `show` outputs (in [`Table::ALL`] order); also returns the
/// shown text of every managed object (the backup). A reply that ends inside an entry is an
/// error, never a shorter state.
pub fn state_from_show(
    outputs: &[String; 4],
    owner: &Owner,
    rules: &FieldRules,
) -> anyhow::Result<(State, String)> {
    let mut raw: [BTreeMap<String, Object>; 4] = Default::default();
    let mut texts: [BTreeMap<String, String>; 4] = Default::default();
    for (i, out) in outputs.iter().enumerate() {
        let t = Table::ALL[i];
        let parsed = parse::parse(out, true);
        if let Some((line, what)) = parsed.unclosed {
            bail!(
                "`show firewall {t}` output ends inside `{what}` (line {line}): the reply was cut short"
            );
        }
        for block in parsed.blocks {
            // `show firewall address` prints exactly that table.
            if table_of(&block) != Some(t) {
                continue;
            }
            for e in block.entries {
                if !owner.fits_any(&e.name) {
                    continue;
                }
                let mut fields = BTreeMap::new();
                for (f, v) in e.fields {
                    if rules.allowed(t, &f) {
                        fields.insert(f, v);
                    }
                }
                let o = Object::from_fields(t, fields);
                texts[i].insert(e.name.clone(), e.text);
                raw[i].insert(e.name, o);
            }
        }
    }
    let st = owner.classify(raw);
    let mut backup = String::new();
    for t in Table::ALL {
        let owned = st.table(t);
        if owned.is_empty() {
            continue;
        }
        backup.push_str(&format!("config firewall {t}\n"));
        for name in owned.keys() {
            if let Some(text) = texts[t.index()].get(name) {
                backup.push_str(text);
            }
        }
        backup.push_str("end\n");
    }
    Ok((st, backup))
}

pub use crate::config::default_error_patterns;

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
    owner: &Owner,
    rules: &FieldRules,
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
    for (i, t) in Table::ALL.iter().enumerate() {
        outputs[i] = checked(s, &format!("show firewall {t}"), patterns)
            .await
            .with_context(|| format!("reading firewall {t}"))?;
    }
    if vdom.is_some() {
        checked(s, "end", patterns).await?;
    }
    state_from_show(&outputs, owner, rules)
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
        set comment "blockops: say \"hi\" \\ back"
        set subnet 203.0.113.7 255.255.255.255
        set color 6
    next
    edit "bo-evil.example"
        set type fqdn
        set fqdn "evil.example"
        set comment "blockops: domain"
    next
    edit "bo-range"
        set type iprange
        set start-ip 1.1.1.1
        set comment "blockops: old"
    next
end
"#;

    fn owner() -> Owner {
        Owner {
            prefix: "bo-".into(),
            groups: ["grp".into(), "grp6".into()],
        }
    }

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn parses_show_output_and_keeps_only_managed_objects() {
        let outs = [
            SHOW.to_string(),
            String::new(),
            String::new(),
            String::new(),
        ];
        let (st, backup) = state_from_show(&outs, &owner(), &FieldRules::builtin()).unwrap();
        let a = st.table(Table::Address);
        assert_eq!(a.len(), 3);
        let o = &a["bo-203.0.113.7"];
        assert_eq!(o.comment(), r#"blockops: say "hi" \ back"#);
        assert_eq!(o.fields["color"], v(&["6"]));
        assert_eq!(o.fields["subnet"], v(&["203.0.113.7", "255.255.255.255"]));
        assert!(!o.fields.contains_key("uuid"));
        assert_eq!(a["bo-evil.example"].fields["fqdn"], v(&["evil.example"]));
        // A type blockops does not write keeps its type (so the delta rewrites it) and loses
        // the value fields of other types.
        assert_eq!(a["bo-range"].fields["type"], v(&["iprange"]));
        assert!(!a["bo-range"].fields.contains_key("subnet"));
        assert!(!backup.contains("\"none\""));
        assert!(backup.contains("edit \"bo-203.0.113.7\""));
    }

    #[test]
    fn a_reply_cut_inside_an_entry_is_an_error() {
        let cut = "config firewall address\n    edit \"bo-1\"\n        set comment \"blockops\"\n";
        let outs = [cut.into(), String::new(), String::new(), String::new()];
        let e = state_from_show(&outs, &owner(), &FieldRules::builtin()).unwrap_err();
        assert!(e.to_string().contains("cut short"), "{e}");
    }

    #[test]
    fn groups_sorted_and_defaults() {
        let g = "config firewall addrgrp\n    edit \"grp\"\n        set member \"bo-b\" \"bo-a\"\n    next\nend\n";
        let a = "config firewall address\n    edit \"bo-a\"\n    next\n    edit \"bo-b\"\n        set color 0\n    next\nend\n";
        let outs = [a.into(), String::new(), g.into(), String::new()];
        let (st, _) = state_from_show(&outs, &owner(), &FieldRules::builtin()).unwrap();
        assert_eq!(
            st.table(Table::Addrgrp)["grp"].members(),
            ["bo-a".to_string(), "bo-b".to_string()]
        );
        assert!(st.table(Table::Address)["bo-b"].fields.is_empty());
    }
}
