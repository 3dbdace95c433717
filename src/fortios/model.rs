//! The desired device state of one target: the managed address objects and groups,
//! computed from the blocklists. Rendering, planning and the drift check all work on this.
use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

/// Everything blockops manages on one target.
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

/// One address object.
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

/// One address group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Group {
    pub name: String,
    /// Sorted member names.
    pub members: Vec<String>,
    pub comment: String,
}

impl Desired {
    /// True when `name` is an object blockops owns on this target: it carries the prefix,
    /// or it is one of the managed groups or their `-NNN` children.
    pub fn is_managed_name(&self, name: &str) -> bool {
        is_managed_name(&self.prefix, &self.group_names, name)
    }

    /// Every object name in the desired state.
    pub fn names(&self) -> BTreeSet<&str> {
        self.addresses
            .iter()
            .chain(&self.addresses6)
            .map(|a| a.name.as_str())
            .chain(
                self.groups
                    .iter()
                    .chain(&self.groups6)
                    .map(|g| g.name.as_str()),
            )
            .collect()
    }
}

/// See [`Desired::is_managed_name`].
pub fn is_managed_name(prefix: &str, groups: &[String; 2], name: &str) -> bool {
    if name.starts_with(prefix) {
        return true;
    }
    groups.iter().any(|g| {
        name == g
            || name
                .strip_prefix(g.as_str())
                .and_then(|rest| rest.strip_prefix('-'))
                .is_some_and(|n| {
                    n.len() == 3
                        && n.chars()
                            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
                })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn managed_names() {
        let g = ["blockops-v4".to_string(), "blockops-v6".to_string()];
        for n in ["bo-203.0.113.7", "blockops-v4", "blockops-v6-0a3"] {
            assert!(is_managed_name("bo-", &g, n), "{n}");
        }
        for n in [
            "office-lan",
            "blockops-v4-x",
            "blockops-v4-0A3",
            "blockops-v44",
            "Bo-1.2.3.4",
        ] {
            assert!(!is_managed_name("bo-", &g, n), "{n}");
        }
    }

    #[test]
    fn address_serialises_flat_for_templates() {
        let a = Address {
            name: "bo-203.0.113.7".into(),
            kind: AddressKind::Subnet {
                subnet: "203.0.113.7 255.255.255.255".into(),
            },
            comment: "c".into(),
            color: 0,
        };
        let v = serde_json::to_value(&a).unwrap();
        assert_eq!(v["type"], "ipmask");
        assert_eq!(v["subnet"], "203.0.113.7 255.255.255.255");
    }
}
