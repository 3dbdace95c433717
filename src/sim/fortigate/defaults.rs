//! FortiOS' factory objects: what every VDOM of a fresh FortiGate already holds, so a client
//! meets `all`, `none` and friends exactly as on a real unit (it must neither trip over them
//! nor claim them).
//!
//! The set and its order follow `show firewall address|address6|addrgrp` of FortiOS 7.x units
//! as published in public configuration dumps (e.g. FortiGate 7.0–7.4 backups on GitHub):
//! `none` (0.0.0.0/32, on some builds), the FQDN objects for Microsoft and Google services,
//! `all` (0.0.0.0/0), `FIREWALL_AUTH_PORTAL_ADDRESS`, `FABRIC_DEVICE` and
//! `SSLVPN_TUNNEL_ADDR1` (10.212.134.200–210); address6 `SSLVPN_TUNNEL_IPv6_ADDR1`, `all` (::/0),
//! `none` (::/128); the groups `G Suite` and `Microsoft Office 365`. `FABRIC_DEVICE` is a
//! read-only dynamic address (FortiOS 7.6.1 Administration Guide "Dynamic policy — Fabric
//! devices"): the simulator refuses to change or delete it.
use super::state::{DeviceState, Value};

type Fields = &'static [(&'static str, &'static str)];

/// (name, fields) of `firewall address`, in `show` order.
const ADDRESSES: &[(&str, Fields)] = &[
    ("none", &[("subnet", "0.0.0.0 255.255.255.255")]),
    (
        "login.microsoftonline.com",
        &[("type", "fqdn"), ("fqdn", "login.microsoftonline.com")],
    ),
    (
        "login.microsoft.com",
        &[("type", "fqdn"), ("fqdn", "login.microsoft.com")],
    ),
    (
        "login.windows.net",
        &[("type", "fqdn"), ("fqdn", "login.windows.net")],
    ),
    ("gmail.com", &[("type", "fqdn"), ("fqdn", "gmail.com")]),
    (
        "wildcard.google.com",
        &[("type", "fqdn"), ("fqdn", "*.google.com")],
    ),
    (
        "wildcard.dropbox.com",
        &[("type", "fqdn"), ("fqdn", "*.dropbox.com")],
    ),
    ("all", &[]),
    ("FIREWALL_AUTH_PORTAL_ADDRESS", &[]),
    (
        "FABRIC_DEVICE",
        &[("comment", "IPv4 addresses of Fabric Devices.")],
    ),
    (
        "SSLVPN_TUNNEL_ADDR1",
        &[
            ("type", "iprange"),
            ("associated-interface", "ssl.root"),
            ("start-ip", "10.212.134.200"),
            ("end-ip", "10.212.134.210"),
        ],
    ),
];

const ADDRESSES6: &[(&str, Fields)] = &[
    ("SSLVPN_TUNNEL_IPv6_ADDR1", &[("ip6", "fdff:ffff::/120")]),
    ("all", &[]),
    ("none", &[("ip6", "::/128")]),
];

const GROUPS: &[(&str, &[&str])] = &[
    ("G Suite", &["gmail.com", "wildcard.google.com"]),
    (
        "Microsoft Office 365",
        &[
            "login.microsoftonline.com",
            "login.microsoft.com",
            "login.windows.net",
        ],
    ),
];

/// Entries FortiOS does not let anyone change or delete: (table path, name).
pub const READ_ONLY: &[(&str, &str)] = &[("firewall address", "FABRIC_DEVICE")];

/// Whether entry `name` of `table` is a read-only factory object.
pub fn is_read_only(table: &str, name: &str) -> bool {
    READ_ONLY.iter().any(|(t, n)| *t == table && *n == name)
}

/// Add the factory objects to `vdom` (existing entries with those names are kept).
pub fn install(st: &mut DeviceState, vdom: &str) {
    let mut add = |table: &str, name: &str, fields: Vec<(&str, Value)>| {
        if st.object(vdom, table, name).is_none() {
            st.insert(vdom, table, name, &fields);
        }
    };
    for (name, fields) in ADDRESSES {
        let f = fields
            .iter()
            .map(|(k, v)| (*k, Value::Text((*v).to_string())))
            .collect();
        add("firewall address", name, f);
    }
    for (name, fields) in ADDRESSES6 {
        let f = fields
            .iter()
            .map(|(k, v)| (*k, Value::Text((*v).to_string())))
            .collect();
        add("firewall address6", name, f);
    }
    for (name, members) in GROUPS {
        let list = members.iter().map(|m| (*m).to_string()).collect();
        add(
            "firewall addrgrp",
            name,
            vec![("member", Value::List(list))],
        );
    }
}

/// Whether `name` of `table` is one of the factory objects (tests and docs).
pub fn is_factory(table: &str, name: &str) -> bool {
    match table {
        "firewall address" => ADDRESSES.iter().any(|(n, _)| *n == name),
        "firewall address6" => ADDRESSES6.iter().any(|(n, _)| *n == name),
        "firewall addrgrp" => GROUPS.iter().any(|(n, _)| *n == name),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_vdom_gets_the_factory_objects_once() {
        let mut st = DeviceState::default();
        install(&mut st, "root");
        install(&mut st, "root");
        assert_eq!(st.names("root", "firewall address").len(), ADDRESSES.len());
        assert_eq!(st.names("root", "firewall address")[7], "all");
        assert_eq!(
            st.object("root", "firewall address6", "none")
                .and_then(|o| o.get("ip6")),
            Some("::/128")
        );
        assert_eq!(
            st.referrers("root", "firewall address", "gmail.com"),
            [("firewall addrgrp".to_string(), "G Suite".to_string())]
        );
        assert!(is_factory("firewall addrgrp", "G Suite"));
        assert!(is_read_only("firewall address", "FABRIC_DEVICE"));
    }
}
