use super::*;
use crate::sim::fortigate::admin::AccessProfile;
use crate::sim::fortigate::device::Behaviour;

fn shell(vdom_mode: bool) -> Shell {
    let profile = Profile {
        vdom_mode,
        ..Profile::default()
    };
    Shell::new(Device::new(profile, DeviceState::default()))
}

fn run(sh: &mut Shell, lines: &[&str]) -> Vec<String> {
    lines.iter().flat_map(|l| sh.execute(l).lines).collect()
}

#[test]
fn scope_stack_and_prompts() {
    let mut sh = shell(false);
    assert_eq!(sh.prompt(), "FGT # ");
    sh.execute("config firewall address");
    assert_eq!(sh.prompt(), "FGT (address) # ");
    sh.execute("edit \"bl-1\"");
    assert_eq!(sh.prompt(), "FGT (bl-1) # ");
    sh.execute("set subnet 203.0.113.7/32");
    sh.execute("next");
    assert_eq!(sh.prompt(), "FGT (address) # ");
    sh.execute("end");
    assert_eq!(sh.prompt(), "FGT # ");
    let out = run(&mut sh, &["show firewall address bl-1"]);
    assert_eq!(out[0], "config firewall address");
    assert_eq!(out[1], "    edit \"bl-1\"");
    assert!(out[2].starts_with("        set uuid "), "{out:?}");
    assert_eq!(out[3], "        set subnet 203.0.113.7 255.255.255.255");
}

#[test]
fn bad_subnet_keeps_edit_open_and_next_saves_default() {
    let mut sh = shell(false);
    let out = run(
        &mut sh,
        &[
            "config firewall address",
            "edit x",
            "set subnet 10.0.0.300/32",
        ],
    );
    assert_eq!(
        out.last().map(String::as_str),
        Some("Command fail. Return code -8")
    );
    assert_eq!(sh.prompt(), "FGT (x) # ");
    run(&mut sh, &["next", "end"]);
    let out = run(&mut sh, &["show full-configuration firewall address x"]);
    assert!(
        out.iter()
            .any(|l| l == "        set subnet 0.0.0.0 0.0.0.0"),
        "{out:?}"
    );
}

#[test]
fn groups_check_datasource_use_and_emptiness() {
    let mut sh = shell(false);
    run(
        &mut sh,
        &[
            "config firewall address",
            "edit a",
            "set subnet 1.1.1.1/32",
            "next",
            "end",
        ],
    );
    let out = run(
        &mut sh,
        &["config firewall addrgrp", "edit g", "set member nope"],
    );
    assert_eq!(
        out.last().map(String::as_str),
        Some("Command fail. Return code -3")
    );
    let out = run(&mut sh, &["next"]);
    assert_eq!(
        out,
        [
            "Attribute 'member' MUST be set.",
            "Command fail. Return code -56"
        ]
    );
    run(&mut sh, &["set member a", "next", "end"]);
    let out = run(&mut sh, &["config firewall address", "delete a"]);
    assert_eq!(
        out,
        [
            "The entry is used by other 1 entries",
            "Command fail. Return code -23"
        ]
    );
    run(&mut sh, &["end"]);
    let out = run(&mut sh, &["config firewall addrgrp", "edit a"]);
    assert_eq!(
        out.last().map(String::as_str),
        Some("Command fail. Return code -5")
    );
}

#[test]
fn multi_vdom_requires_vdom_context() {
    let mut sh = shell(true);
    let out = run(&mut sh, &["config firewall address"]);
    assert_eq!(
        out.last().map(String::as_str),
        Some("Command fail. Return code -61")
    );
    run(&mut sh, &["config vdom"]);
    assert_eq!(sh.prompt(), "FGT (vdom) # ");
    run(&mut sh, &["edit root"]);
    assert_eq!(sh.prompt(), "FGT (root) # ");
    run(&mut sh, &["config firewall address"]);
    assert_eq!(sh.prompt(), "FGT (address) # ");
    run(&mut sh, &["end", "end"]);
    assert_eq!(sh.prompt(), "FGT # ");
    let mut single = shell(false);
    let out = run(&mut single, &["config vdom"]);
    assert_eq!(
        out,
        [
            "command parse error before 'vdom'",
            "Command fail. Return code -61"
        ]
    );
}

#[test]
fn grep_filters_status() {
    let mut sh = shell(false);
    let out = run(&mut sh, &["get system status | grep Virtual"]);
    assert_eq!(
        out,
        [
            "Virtual domains status: 1 in NAT mode, 0 in TP mode",
            "Virtual domain configuration: disable"
        ]
    );
    let out = run(&mut sh, &["get system status | grep -i VERSION"]);
    assert_eq!(
        out,
        [
            "Version: FortiGate-VM64 v7.4.8,build2795,250523 (GA.M)",
            "Release Version Information: GA"
        ]
    );
}

#[test]
fn escaping_in_show() {
    let mut sh = shell(false);
    run(
        &mut sh,
        &[
            "config firewall address",
            r#"edit "q""#,
            r#"set comment "say \"hi\" \\o/""#,
            "end",
        ],
    );
    let out = run(&mut sh, &["show firewall address q"]);
    assert!(
        out.contains(&r#"        set comment "say \"hi\" \\o/""#.to_string()),
        "{out:?}"
    );
}

#[test]
fn grep_never_hides_a_failure() {
    let mut sh = shell(false);
    let out = run(&mut sh, &["show firewall nonsense | grep zzz"]);
    assert_eq!(
        out,
        [
            "command parse error before 'nonsense'",
            "Command fail. Return code -61"
        ]
    );
}

#[test]
fn console_cannot_change_inside_a_transaction() {
    let mut sh = shell(false);
    run(&mut sh, &["execute config-transaction start"]);
    let out = run(&mut sh, &["config system console"]);
    assert_eq!(
        out.last().map(String::as_str),
        Some("Command fail. Return code -1")
    );
    run(&mut sh, &["execute config-transaction abort"]);
    assert!(run(&mut sh, &["config system console"]).is_empty());
    assert_eq!(sh.prompt(), "FGT (console) # ");
}

#[test]
fn rename_moves_references_and_purge_respects_them() {
    let mut sh = shell(false);
    run(
        &mut sh,
        &[
            "config firewall address",
            "edit a",
            "next",
            "end",
            "config firewall addrgrp",
            "edit g",
            "set member a",
            "end",
        ],
    );
    run(&mut sh, &["config firewall address", "rename a to b"]);
    let out = run(&mut sh, &["purge"]);
    assert_eq!(out[0], "The entry is used by other 1 entries");
    run(&mut sh, &["end"]);
    let out = run(&mut sh, &["show firewall addrgrp g | grep member"]);
    assert_eq!(out, ["        set member \"b\""]);
    let out = run(&mut sh, &["show firewall addrgrp | grep -f member"]);
    assert_eq!(
        out,
        [
            "config firewall addrgrp",
            "    edit \"g\"",
            "        set member \"b\" <---",
            "    next",
            "end"
        ]
    );
}

#[test]
fn debug_cli_8_prints_codes_per_line() {
    let mut sh = shell(false);
    run(&mut sh, &["diagnose debug cli 8"]);
    let out = run(
        &mut sh,
        &[
            "config firewall address",
            "edit x",
            "set subnet 1.2.3.999/32",
            "abort",
            "end",
        ],
    );
    assert_eq!(
        out,
        [
            "0: config firewall address",
            "0: edit x",
            "value parse error before '1.2.3.999/32'",
            "Command fail. Return code -8",
            "-8: set subnet 1.2.3.999/32",
            "0: abort",
            "0: end",
        ]
    );
}

#[test]
fn wildcard_fqdn_tables_have_their_own_namespace() {
    let mut sh = shell(false);
    run(&mut sh, &["config firewall address", "edit w", "end"]);
    run(&mut sh, &["conf fire wildcard-fqdn cust"]);
    assert_eq!(sh.prompt(), "FGT (custom) # ");
    run(
        &mut sh,
        &["edit w", "set wildcard-fqdn \"*.example.com\"", "end"],
    );
    run(&mut sh, &["config firewall wildcard-fqdn group", "edit wg"]);
    assert!(
        run(&mut sh, &["set member nope"]).contains(&"Command fail. Return code -3".to_string())
    );
    assert!(run(&mut sh, &["set member w", "end"]).is_empty());
    let out = run(&mut sh, &["show firewall wildcard-fqdn custom w"]);
    assert_eq!(out[0], "config firewall wildcard-fqdn custom");
    assert_eq!(out[3], "        set wildcard-fqdn \"*.example.com\"");
    // The address `w` is not used by the wildcard group, so it can go.
    assert!(run(&mut sh, &["config firewall address", "delete w", "end"]).is_empty());
    let out = run(&mut sh, &["config firewall wildcard-fqdn"]);
    assert_eq!(
        out.last().map(String::as_str),
        Some("Command fail. Return code -160")
    );
}

#[test]
fn random_input_never_panics_and_keeps_a_prompt() {
    let words = [
        "config",
        "firewall",
        "address",
        "address6",
        "addrgrp",
        "addrgrp6",
        "wildcard-fqdn",
        "custom",
        "group",
        "edit",
        "set",
        "unset",
        "append",
        "unselect",
        "member",
        "subnet",
        "ip6",
        "type",
        "fqdn",
        "comment",
        "next",
        "end",
        "abort",
        "show",
        "get",
        "full-configuration",
        "delete",
        "rename",
        "to",
        "purge",
        "a",
        "b",
        "g",
        "1.2.3.4/32",
        "::1",
        "|",
        "grep",
        "-f",
        "-A",
        "3",
        "system",
        "status",
        "console",
        "output",
        "more",
        "vdom",
        "global",
        "root",
        "execute",
        "config-transaction",
        "start",
        "commit",
        "diagnose",
        "debug",
        "cli",
        "8",
        "\"q\"",
        "'x'",
        "\\",
        "\"",
        "print",
        "tablesize",
        "central-management",
        "resource-limits",
        "vdom-property",
        "firewall-address",
        "policy",
        "srcaddr6",
        "0",
        "abort",
        "FABRIC_DEVICE",
    ];
    let restricted = [
        AdminOptions::default(),
        AdminOptions::with_profile(AccessProfile::FirewallObjects),
        AdminOptions {
            vdom: Some("root".into()),
            ..AdminOptions::with_profile(AccessProfile::ReadOnly)
        },
    ];
    for (vdom_mode, admin) in [
        (false, &restricted[0]),
        (true, &restricted[0]),
        (false, &restricted[1]),
        (true, &restricted[2]),
    ] {
        let profile = Profile {
            vdom_mode,
            ..Profile::default()
        };
        let behaviour = Behaviour {
            default_objects: true,
            ..Behaviour::default()
        };
        let mut st = DeviceState::default();
        super::super::defaults::install(&mut st, "root");
        let mut sh = Shell::with_admin(Device::with(profile, behaviour, st), admin.clone(), "t");
        let sign = admin.prompt_sign();
        for _ in 0..3000 {
            let n = rand::random_range(0..6);
            let line: Vec<&str> = (0..n)
                .map(|_| words[rand::random_range(0..words.len())])
                .collect();
            let reply = sh.execute(&line.join(" "));
            assert_eq!(
                reply.failed,
                reply
                    .lines
                    .iter()
                    .any(|l| l.starts_with("Command fail. Return code"))
            );
            let p = sh.prompt();
            assert!(
                p.starts_with("FGT ") && p.ends_with(&format!("{sign} ")),
                "{p}"
            );
        }
    }
}
