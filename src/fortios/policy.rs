//! Which firewall policies use blockops' managed groups (read-only, for `blockops doctor`).
//!
//! A blocklist only blocks when a `deny` policy references its group: in `dstaddr`/`srcaddr`
//! for the IPv4 group (`firewall addrgrp`) and `dstaddr6`/`srcaddr6` for the IPv6 group
//! (`firewall addrgrp6`) — since FortiOS 6.4 one policy carries both families (FortiOS 6.4.0
//! New Features, "Consolidated IPv4 and IPv6 policy configuration"). `show` omits fields at
//! their default value, and the default `action` of a policy is `deny` and its `status`
//! `enable` (FortiOS CLI reference, `config firewall policy`), so a policy without
//! `set action` is a deny policy.
//!
//! Reading policies needs the `fwgrp` policy permission; the least-privilege profile
//! blockops recommends does not have it, and the refusal is returned as information.
use serde::Serialize;

use super::fields::Table;
use super::parse;
use super::probe::{Refusal, Scope, ask};
use super::ssh::Session;

/// One `config firewall policy` entry, as far as blockops cares.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Policy {
    pub id: String,
    pub name: Option<String>,
    /// `deny` unless set.
    pub action: String,
    /// `status disable` switches a policy off.
    pub enabled: bool,
    pub srcaddr: Vec<String>,
    pub dstaddr: Vec<String>,
    pub srcaddr6: Vec<String>,
    pub dstaddr6: Vec<String>,
}

impl Policy {
    /// The address fields that may hold entries of `table` (a group table).
    fn fields_for(&self, table: Table) -> [(&'static str, &[String]); 2] {
        if table.is_v6() {
            [("srcaddr6", &self.srcaddr6), ("dstaddr6", &self.dstaddr6)]
        } else {
            [("srcaddr", &self.srcaddr), ("dstaddr", &self.dstaddr)]
        }
    }
}

/// Read `show firewall policy` output.
pub fn parse_policies(text: &str) -> anyhow::Result<Vec<Policy>> {
    let parsed = parse::parse(text, false);
    if let Some((line, what)) = parsed.unclosed {
        anyhow::bail!(
            "`show firewall policy` output ends inside `{what}` (line {line}): the reply was cut short"
        );
    }
    let mut out = Vec::new();
    for block in parsed.blocks {
        if block.path != "firewall policy" {
            continue;
        }
        for e in block.entries {
            let one = |f: &str| e.fields.get(f).and_then(|v| v.first()).cloned();
            let list = |f: &str| e.fields.get(f).cloned().unwrap_or_default();
            out.push(Policy {
                id: e.name.clone(),
                name: one("name"),
                action: one("action").unwrap_or_else(|| "deny".into()),
                enabled: one("status").as_deref() != Some("disable"),
                srcaddr: list("srcaddr"),
                dstaddr: list("dstaddr"),
                srcaddr6: list("srcaddr6"),
                dstaddr6: list("dstaddr6"),
            });
        }
    }
    Ok(out)
}

/// A policy that names a group, and in which field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GroupUse {
    pub policy: String,
    pub name: Option<String>,
    pub field: String,
    pub action: String,
    pub enabled: bool,
}

impl std::fmt::Display for GroupUse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "policy {}", self.policy)?;
        if let Some(n) = &self.name {
            write!(f, " \"{n}\"")?;
        }
        write!(f, " ({} in {}", self.action, self.field)?;
        if !self.enabled {
            write!(f, ", disabled")?;
        }
        write!(f, ")")
    }
}

/// Every use of group `group` of group table `table` by `policies`.
pub fn uses(policies: &[Policy], table: Table, group: &str) -> Vec<GroupUse> {
    let mut out = Vec::new();
    for p in policies {
        for (field, values) in p.fields_for(table) {
            if values.iter().any(|v| v == group) {
                out.push(GroupUse {
                    policy: p.id.clone(),
                    name: p.name.clone(),
                    field: field.to_string(),
                    action: p.action.clone(),
                    enabled: p.enabled,
                });
            }
        }
    }
    out
}

/// `show firewall policy` in the session's scope (a global administrator enters the VDOM and
/// leaves it again); `Ok(Err(refusal))` when the profile may not read policies.
pub async fn read_policies(
    s: &mut Session,
    scope: &Scope,
    patterns: &[String],
) -> anyhow::Result<Result<Vec<Policy>, Refusal>> {
    if let Some(v) = scope.wrapper_vdom() {
        if let Err(r) = ask(s, "config vdom", patterns).await? {
            return Ok(Err(r));
        }
        // The VDOM was checked to exist when the scope was resolved (`edit` would create it).
        if let Err(r) = ask(s, &format!("edit {v}"), patterns).await? {
            ask(s, "end", patterns).await?.ok();
            return Ok(Err(r));
        }
    }
    let shown = ask(s, "show firewall policy", patterns).await?;
    if scope.wrapper_vdom().is_some() {
        ask(s, "end", patterns)
            .await?
            .map_err(|e| anyhow::anyhow!("leaving the VDOM after reading policies: {e}"))?;
    }
    match shown {
        Ok(text) => Ok(Ok(parse_policies(&text)?)),
        Err(r) => Ok(Err(r)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHOW: &str = r#"config firewall policy
    edit 1
        set name "block-out"
        set uuid 1
        set srcintf "port1"
        set dstintf "wan1"
        set srcaddr "all"
        set dstaddr "blockops-v4" "other"
        set dstaddr6 "blockops-v6"
        set schedule "always"
        set service "ALL"
    next
    edit 2
        set srcaddr "blockops-v4"
        set dstaddr "all"
        set action accept
        set status disable
    next
end
"#;

    #[test]
    fn default_action_is_deny_and_fields_follow_the_family() {
        let p = parse_policies(SHOW).unwrap();
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].action, "deny");
        assert!(p[0].enabled);
        assert_eq!(p[1].action, "accept");
        assert!(!p[1].enabled);
        let v4 = uses(&p, Table::Addrgrp, "blockops-v4");
        assert_eq!(v4.len(), 2);
        assert_eq!(v4[0].field, "dstaddr");
        assert_eq!(v4[1].to_string(), "policy 2 (accept in srcaddr, disabled)");
        let v6 = uses(&p, Table::Addrgrp6, "blockops-v6");
        assert_eq!(v6.len(), 1);
        assert_eq!(
            v6[0].to_string(),
            "policy 1 \"block-out\" (deny in dstaddr6)"
        );
        // An IPv4 group name in an IPv6 field is not a use of the IPv4 group.
        assert!(uses(&p, Table::Addrgrp6, "blockops-v4").is_empty());
    }

    #[test]
    fn a_cut_reply_is_an_error() {
        let cut = "config firewall policy\n    edit 1\n        set action deny\n";
        assert!(parse_policies(cut).is_err());
    }
}
