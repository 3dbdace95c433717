//! What is on the unit: FortiOS' factory objects, policies with IPv4/IPv6 fields, names that
//! must round-trip exactly through `show`, capacity limits and how the unit reports them, and
//! FortiManager management.
use blockops::sim::fortigate::Fortimanager;
use blockops::sim::fortigate::lexer::tokenize;

use super::*;

#[tokio::test]
async fn factory_objects_are_in_every_vdom_and_fabric_device_is_read_only() {
    let sim = start(SimOptions {
        profile: Profile {
            vdom_mode: true,
            ..Profile::default()
        },
        ..SimOptions::default()
    })
    .await;
    let mut t = shell(&sim).await;
    t.cmd("config vdom", "FGT (vdom) # ").await;
    t.cmd("edit root", "FGT (root) # ").await;
    let v4 = t.cmd("show firewall address all", "FGT (root) # ").await;
    let lines: Vec<&str> = v4.split("\r\n").collect();
    assert_eq!(lines[1], "    edit \"all\"");
    assert!(lines[2].starts_with("        set uuid "), "{v4}");
    assert_eq!(lines[3], "    next");
    let v6 = t
        .cmd(
            "show full-configuration firewall address6 none",
            "FGT (root) # ",
        )
        .await;
    assert!(v6.contains("        set ip6 ::/128\r\n"), "{v6}");
    let none = t.cmd("show firewall address none", "FGT (root) # ").await;
    assert!(
        none.contains("        set subnet 0.0.0.0 255.255.255.255\r\n"),
        "{none}"
    );
    let names = t
        .cmd("show firewall address | grep edit", "FGT (root) # ")
        .await;
    for n in [
        "gmail.com",
        "wildcard.google.com",
        "FIREWALL_AUTH_PORTAL_ADDRESS",
        "FABRIC_DEVICE",
        "SSLVPN_TUNNEL_ADDR1",
    ] {
        assert!(names.contains(&format!("edit \"{n}\"")), "{n}: {names}");
    }
    // FABRIC_DEVICE cannot be changed or deleted; gmail.com is used by "G Suite".
    t.cmd("config firewall address", "FGT (address) # ").await;
    t.cmd("edit FABRIC_DEVICE", "FGT (FABRIC_DEVICE) # ").await;
    assert_eq!(
        t.cmd("set comment mine", "FGT (FABRIC_DEVICE) # ").await,
        "'FABRIC_DEVICE' is a read-only entry\r\nCommand fail. Return code -37\r\n"
    );
    t.cmd("abort", "FGT (address) # ").await;
    assert_eq!(
        t.cmd("delete FABRIC_DEVICE", "FGT (address) # ").await,
        "'FABRIC_DEVICE' is a read-only entry\r\nCommand fail. Return code -37\r\n"
    );
    assert_eq!(
        t.cmd("delete gmail.com", "FGT (address) # ").await,
        "The entry is used by other 1 entries\r\nCommand fail. Return code -23\r\n"
    );
    // Names are shared with groups: `all` cannot become a group.
    t.cmd("end", "FGT (root) # ").await;
    t.cmd("config firewall addrgrp", "FGT (addrgrp) # ").await;
    assert!(
        t.cmd("edit all", "FGT (addrgrp) # ")
            .await
            .ends_with("Return code -5\r\n")
    );
    t.cmd("end", "FGT (root) # ").await;
    t.cmd("end", "FGT # ").await;
    // A VDOM created later gets them too.
    t.cmd("config vdom", "FGT (vdom) # ").await;
    t.cmd("edit edge", "FGT (edge) # ").await;
    t.cmd("end", "FGT # ").await;
    let st = sim.state();
    for v in ["root", "edge"] {
        assert!(st.object(v, "firewall address", "all").is_some(), "{v}");
        assert!(st.object(v, "firewall address6", "all").is_some(), "{v}");
        assert_eq!(
            st.object(v, "firewall addrgrp", "G Suite")
                .map(|o| o.list("member").to_vec()),
            Some(vec!["gmail.com".to_string(), "wildcard.google.com".into()])
        );
    }
    // Switched off, the unit starts empty.
    let bare = start(SimOptions {
        default_objects: false,
        ..SimOptions::default()
    })
    .await;
    assert!(bare.state().names("root", "firewall address").is_empty());
}

#[tokio::test]
async fn policies_take_ipv6_objects_only_in_the_ipv6_fields() {
    let sim = start(SimOptions::default()).await;
    sim.run(&[
        "config firewall address6",
        "edit \"bo-placeholder6\"",
        "set ip6 ::/128",
        "end",
        "config firewall addrgrp6",
        "edit \"blockops-v6\"",
        "set member \"bo-placeholder6\"",
        "end",
    ]);
    let mut t = shell(&sim).await;
    t.cmd("config firewall policy", "FGT (policy) # ").await;
    // `edit 0` takes the next free policy id.
    t.cmd("edit 0", "FGT (1) # ").await;
    assert_eq!(
        t.cmd("set dstaddr \"blockops-v6\"", "FGT (1) # ").await,
        "entry not found in datasource\r\n\r\nvalue parse error before '\"blockops-v6\"'\r\nCommand fail. Return code -3\r\n"
    );
    assert_eq!(t.cmd("set srcaddr6 all", "FGT (1) # ").await, "");
    assert_eq!(
        t.cmd("set dstaddr6 \"blockops-v6\"", "FGT (1) # ").await,
        ""
    );
    t.cmd("set srcaddr all", "FGT (1) # ").await;
    t.cmd("set dstaddr none", "FGT (1) # ").await;
    t.cmd("set service HTTPS SSH", "FGT (1) # ").await;
    t.cmd("next", "FGT (policy) # ").await;
    t.cmd("edit 0", "FGT (2) # ").await;
    t.cmd("abort", "FGT (policy) # ").await;
    assert!(
        t.cmd("edit web", "FGT (policy) # ")
            .await
            .ends_with("Return code -651\r\n")
    );
    t.cmd("end", "FGT # ").await;
    let shown = t.cmd("show firewall policy 1", "FGT # ").await;
    let lines: Vec<&str> = shown.split("\r\n").collect();
    assert_eq!(lines[1], "    edit \"1\"");
    assert!(lines[2].starts_with("        set uuid "), "{shown}");
    assert_eq!(
        &lines[3..],
        [
            "        set srcaddr \"all\"",
            "        set dstaddr \"none\"",
            "        set srcaddr6 \"all\"",
            "        set dstaddr6 \"blockops-v6\"",
            "        set service \"HTTPS\" \"SSH\"",
            "    next",
            "end",
            ""
        ]
    );
    // The group is now in use by the policy.
    let out = sim.run(&["config firewall addrgrp6", "delete \"blockops-v6\"", "end"]);
    assert_eq!(out[1], "Command fail. Return code -23");
}

/// Regression for #8 item 9: a hand-made `bo-tab<TAB>x` came back as `bo-tab x`, so every
/// later delete failed. Names keep tab, quotes, backslash and non-ASCII characters through
/// `show`, with `\"` and `\\` escaped inside the double quotes and everything else raw.
#[tokio::test]
async fn odd_names_round_trip_exactly_through_show() {
    let sim = start(SimOptions {
        default_objects: false,
        ..SimOptions::default()
    })
    .await;
    let mut t = shell(&sim).await;
    t.cmd("config firewall address", "FGT (address) # ").await;
    let typed = [
        ("edit \"bo-tab\tx\"", "bo-tab\tx"),
        ("edit \"bo-back\\\\slash\"", "bo-back\\slash"),
        ("edit \"bo-é中\"", "bo-é中"),
        ("edit bo-un\\ quoted", "bo-un quoted"),
    ];
    for (line, name) in typed {
        t.cmd(line, &format!("FGT ({name}) # ")).await;
        t.cmd("next", "FGT (address) # ").await;
    }
    // Quotes cannot be typed into a name (FortiOS refuses `"` `'` `<` `>`), but units carry
    // such names from older firmware or other tools: seed one directly.
    t.cmd("end", "FGT # ").await;
    let mut st = sim.state();
    st.insert("root", "firewall address", "bo-say \"hi\"", &[]);
    sim.set_state(st);
    let names: Vec<String> = typed
        .iter()
        .map(|(_, n)| n.to_string())
        .chain(["bo-say \"hi\"".to_string()])
        .collect();
    // The state holds the exact names.
    assert_eq!(sim.state().names("root", "firewall address"), names);
    let shown = t.cmd("show firewall address", "FGT # ").await;
    let edits: Vec<&str> = shown
        .split("\r\n")
        .filter(|l| l.starts_with("    edit "))
        .collect();
    assert_eq!(
        edits,
        [
            "    edit \"bo-tab\tx\"",
            "    edit \"bo-back\\\\slash\"",
            "    edit \"bo-é中\"",
            "    edit \"bo-un quoted\"",
            "    edit \"bo-say \\\"hi\\\"\"",
        ]
    );
    // Reading `show` the FortiOS way gives every name back, and each can be deleted by it.
    let read_back: Vec<String> = edits
        .iter()
        .map(|l| tokenize(l).expect("tokenize")[1].text.clone())
        .collect();
    assert_eq!(read_back, names);
    t.cmd("config firewall address", "FGT (address) # ").await;
    for l in &edits {
        let delete = l.trim().replacen("edit", "delete", 1);
        assert_eq!(t.cmd(&delete, "FGT (address) # ").await, "", "{delete}");
    }
    t.cmd("end", "FGT # ").await;
    assert!(sim.state().names("root", "firewall address").is_empty());
}

#[tokio::test]
async fn capacity_is_reported_and_enforced_like_fortios() {
    let sim = start(SimOptions {
        profile: Profile {
            vdom_mode: true,
            limits: Limits {
                max_members: 3,
                max_entries: 50,
                max_entries_global: 80,
                ..Limits::default()
            },
            ..Profile::default()
        },
        default_objects: false,
        ..SimOptions::default()
    })
    .await;
    let mut t = shell(&sim).await;
    let sizes = t
        .cmd("print tablesize | grep firewall.addr", "FGT # ")
        .await;
    assert_eq!(
        sizes,
        "firewall.address: 0 50 80\r\nfirewall.address6: 0 50 80\r\nfirewall.addrgrp: 0 50 80\r\n\
         firewall.addrgrp:member: 3 0 0\r\nfirewall.addrgrp6: 0 50 80\r\nfirewall.addrgrp6:member: 3 0 0\r\n"
    );
    t.cmd("config global", "FGT (global) # ").await;
    assert_eq!(
        t.cmd("get system resource-limits", "FGT (global) # ").await,
        "firewall-address    : 80\r\nfirewall-addrgrp    : 80\r\n"
    );
    // Device-wide: at most 4 addresses (IPv4 and IPv6 together); per VDOM root: 3.
    t.cmd("config system resource-limits", "FGT (resource-limits) # ")
        .await;
    t.cmd("set firewall-address 4", "FGT (resource-limits) # ")
        .await;
    t.cmd("end", "FGT (global) # ").await;
    t.cmd("config system vdom-property", "FGT (vdom-property) # ")
        .await;
    t.cmd("edit root", "FGT (root) # ").await;
    t.cmd("set firewall-address 3 0", "FGT (root) # ").await;
    t.cmd("end", "FGT (global) # ").await;
    assert_eq!(
        t.cmd("get system vdom-property root", "FGT (global) # ")
            .await,
        "name                : root\r\ndescription         : \r\nfirewall-address    : 3 0\r\nfirewall-addrgrp    : 0 0\r\n"
    );
    t.cmd("end", "FGT # ").await;
    let full = "Maximum number of entries has been reached\r\nCommand fail. Return code -4\r\n";
    let root = sim.run(&[
        "config vdom",
        "edit root",
        "config firewall address",
        "edit a1",
        "next",
        "edit a2",
        "next",
        "end",
        "config firewall address6",
        "edit a3",
        "next",
        "edit a4",
    ]);
    assert_eq!(root.join("\r\n") + "\r\n", full, "root holds at most 3");
    let edge = sim.run(&[
        "config vdom",
        "edit edge",
        "config firewall address",
        "edit e1",
        "next",
        "edit e2",
    ]);
    assert_eq!(edge.join("\r\n") + "\r\n", full, "the device at most 4");
    assert_eq!(
        sim.global_changes(),
        [
            "admin: system resource-limits: firewall-address (default) -> 4",
            "admin: system vdom-property root: firewall-address (default 0 0) -> 3 0",
        ]
    );
    // Quotas cannot change inside a transaction (FortiOS workspace mode).
    let out = sim.run(&[
        "execute config-transaction start",
        "config global",
        "config system vdom-property",
    ]);
    assert_eq!(
        out[1],
        "'vdom-property' cannot be configured in a config transaction"
    );
}

#[tokio::test]
async fn a_fortimanager_managed_unit_says_so_in_central_management() {
    let sim = start(SimOptions {
        fortimanager: Some(Fortimanager {
            address: "192.0.2.10".into(),
            backup_mode: false,
        }),
        ..SimOptions::default()
    })
    .await;
    let mut t = shell(&sim).await;
    assert_eq!(
        t.cmd("show system central-management", "FGT # ").await,
        "config system central-management\r\n    set type fortimanager\r\n    set fmg \"192.0.2.10\"\r\nend\r\n"
    );
    assert_eq!(
        t.cmd("get system central-management | grep -v allow", "FGT # ")
            .await,
        "mode                : normal\r\ntype                : fortimanager\r\nfmg                 : 192.0.2.10\r\n"
    );
    assert_eq!(sim.state().central_management().1, "fortimanager");
    // Switching it off is a global change, recorded.
    t.cmd(
        "config system central-management",
        "FGT (central-management) # ",
    )
    .await;
    t.cmd("set type none", "FGT (central-management) # ").await;
    t.cmd("unset fmg", "FGT (central-management) # ").await;
    t.cmd("end", "FGT # ").await;
    assert_eq!(
        sim.global_changes(),
        [
            "admin: system central-management: type fortimanager -> none",
            "admin: system central-management: fmg 192.0.2.10 -> (default)",
        ]
    );
    let backup = start(SimOptions {
        fortimanager: Some(Fortimanager {
            address: "fmg.example.net".into(),
            backup_mode: true,
        }),
        ..SimOptions::default()
    })
    .await;
    let (mode, ty, fmg) = backup.state().central_management();
    assert_eq!(
        (mode.as_str(), ty.as_str(), fmg.as_str()),
        ("backup", "fortimanager", "fmg.example.net")
    );
    // An unmanaged unit: the FortiOS defaults.
    let plain = start(SimOptions::default()).await;
    let o = plain.run(&["show full-configuration system central-management"]);
    assert_eq!(o[1], "    set mode normal");
    assert_eq!(o[2], "    set type fortiguard");
}
