//! What is on the device: the four `show firewall address|address6|addrgrp|addrgrp6` outputs
//! read into the model (`fortios::model::State`) with the same parser that reads blockops' own
//! scripts (`fortios::parse`). Only objects blockops can prove are its own become part of the
//! state (`fortios::model::Owner`); look-alikes are listed as others and never touched. Every
//! entry is counted, blockops' or not, for the capacity check (`fortios::capacity`).
use std::collections::BTreeMap;

use anyhow::{Context, bail};

use crate::fortios::capacity::Holdings;
use crate::fortios::fields::{FieldRules, Table};
use crate::fortios::model::{Object, Owner, State, table_of};
use crate::fortios::parse;
use crate::fortios::probe::Scope;
use crate::fortios::ssh::Session;

/// Managed state from the four `show` outputs (in [`Table::ALL`] order); also returns the
/// shown text of every managed object (the backup) and what the tables hold. A reply that
/// ends inside an entry is an error, never a shorter state.
pub fn state_from_show(
    outputs: &[String; 4],
    owner: &Owner,
    rules: &FieldRules,
) -> anyhow::Result<(State, String, Holdings)> {
    let mut raw: [BTreeMap<String, Object>; 4] = Default::default();
    let mut texts: [BTreeMap<String, String>; 4] = Default::default();
    let mut holdings = Holdings::default();
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
                holdings.names[i].insert(e.name.clone());
                if !owner.fits_any(&e.name) {
                    continue;
                }
                if matches!(t, Table::Addrgrp | Table::Addrgrp6) {
                    let n = e.fields.get("member").map_or(0, Vec::len);
                    holdings.members.insert(e.name.clone(), n);
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
    Ok((st, backup, holdings))
}

pub use crate::config::default_error_patterns;

/// The first output line matching one of `patterns`.
pub fn find_error<'a>(output: &'a str, patterns: &[String]) -> Option<&'a str> {
    output
        .lines()
        .find(|l| patterns.iter().any(|p| l.contains(p.as_str())))
}

async fn checked(s: &mut Session, line: &str, patterns: &[String]) -> anyhow::Result<String> {
    let out = s.cmd(line).await?;
    if let Some(err) = find_error(&out, patterns) {
        bail!("the device rejected `{line}`: {err}");
    }
    Ok(out)
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

/// The managed state, the backup text and what the four tables hold, read with one `show`
/// per table (the pager answered by the session, never switched off: the console's output
/// mode is a global setting). A global administrator enters the VDOM for the reads; a
/// VDOM-scoped one is already in it; the session is back at its top level afterwards.
pub async fn read_state(
    s: &mut Session,
    scope: &Scope,
    owner: &Owner,
    rules: &FieldRules,
    patterns: &[String],
) -> anyhow::Result<(State, String, Holdings)> {
    if let Some(v) = scope.wrapper_vdom() {
        checked(s, "config vdom", patterns).await?;
        // The VDOM was checked to exist when the scope was resolved (`edit` would create it).
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
    if scope.wrapper_vdom().is_some() {
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
        let (st, backup, held) = state_from_show(&outs, &owner(), &FieldRules::builtin()).unwrap();
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
        // Every entry counts for capacity, blockops' or not.
        assert_eq!(held.entries(Table::Address), 4);
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
        let (st, _, _) = state_from_show(&outs, &owner(), &FieldRules::builtin()).unwrap();
        assert_eq!(
            st.table(Table::Addrgrp)["grp"].members(),
            ["bo-a".to_string(), "bo-b".to_string()]
        );
        assert!(st.table(Table::Address)["bo-b"].fields.is_empty());
    }
}
