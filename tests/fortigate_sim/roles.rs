//! Administrators: `super_admin`, the least-privilege firewall-objects profile, a read-only
//! profile and a VDOM-scoped administrator — what each may run, what each is refused (exact
//! texts), and that no restricted administrator can change a global setting.
use blockops::sim::fortigate::{AccessProfile, AdminOptions, Denial};

use super::*;

fn admin(profile: AccessProfile) -> AdminOptions {
    AdminOptions::with_profile(profile)
}

async fn start_as(admin: AdminOptions, vdom_mode: bool) -> SimHandle {
    start(SimOptions {
        profile: Profile {
            vdom_mode,
            ..Profile::default()
        },
        admin,
        ..SimOptions::default()
    })
    .await
}

const DENIED_NONE: &str =
    "Permission denied. Insufficient privileges\r\nCommand fail. Return code -14\r\n";
const DENIED_READ: &str = "Permission denied\r\nCommand fail. Return code -37\r\n";

fn parse_error(tok: &str) -> String {
    format!("command parse error before '{tok}'\r\nCommand fail. Return code -61\r\n")
}

#[tokio::test]
async fn firewall_objects_admin_writes_addresses_and_nothing_else() {
    let sim = start_as(admin(AccessProfile::FirewallObjects), false).await;
    let mut t = Term::open(sim.addr, None, 1000).await;
    // A restricted profile's prompt ends in `$` (KB 406752).
    assert_eq!(t.until("FGT $ ").await, "FGT $ ");
    t.cmd("config firewall address", "FGT (address) $ ").await;
    t.cmd("edit \"bo-192.0.2.1_32\"", "FGT (bo-192.0.2.1_32) $ ")
        .await;
    assert_eq!(
        t.cmd("set subnet 192.0.2.1/32", "FGT (bo-192.0.2.1_32) $ ")
            .await,
        ""
    );
    t.cmd("next", "FGT (address) $ ").await;
    t.cmd("end", "FGT $ ").await;
    t.cmd("config firewall addrgrp", "FGT (addrgrp) $ ").await;
    t.cmd("edit \"blockops-v4\"", "FGT (blockops-v4) $ ").await;
    t.cmd("set member \"bo-192.0.2.1_32\"", "FGT (blockops-v4) $ ")
        .await;
    t.cmd("end", "FGT $ ").await;
    // Policies, system settings, execute and diagnose are out of reach.
    assert_eq!(t.cmd("config firewall policy", "FGT $ ").await, DENIED_NONE);
    assert_eq!(t.cmd("show firewall policy", "FGT $ ").await, DENIED_NONE);
    assert_eq!(t.cmd("config system console", "FGT $ ").await, DENIED_NONE);
    assert_eq!(
        t.cmd("get system central-management", "FGT $ ").await,
        DENIED_NONE
    );
    assert_eq!(
        t.cmd("execute config-transaction start", "FGT $ ").await,
        DENIED_NONE
    );
    assert_eq!(t.cmd("diagnose debug cli 8", "FGT $ ").await, DENIED_NONE);
    // What the switch lets it read by default: status and console.
    assert!(
        t.cmd("get system status | grep Version", "FGT $ ")
            .await
            .starts_with("Version: FortiGate-VM64 v7.4.8")
    );
    assert_eq!(
        t.cmd("get system console | grep output", "FGT $ ").await,
        "output              : more\r\n"
    );
    let st = sim.state();
    assert!(
        st.object("root", "firewall addrgrp", "blockops-v4")
            .is_some()
    );
    assert!(sim.global_changes().is_empty());
}

#[tokio::test]
async fn what_a_restricted_profile_may_read_and_run_is_a_switch() {
    let strict = AdminOptions {
        system_reads: Default::default(),
        cli_exec: Some(true),
        denial: Denial::ParseError,
        ..admin(AccessProfile::FirewallObjects)
    };
    let sim = start_as(strict, false).await;
    let mut t = Term::open(sim.addr, None, 1000).await;
    t.until("FGT $ ").await;
    assert_eq!(
        t.cmd("get system console", "FGT $ ").await,
        parse_error("console")
    );
    assert_eq!(
        t.cmd("get system status", "FGT $ ").await,
        parse_error("status")
    );
    assert_eq!(
        t.cmd("config firewall policy", "FGT $ ").await,
        parse_error("policy")
    );
    // `cli-exec enable`: workspace transactions work for this administrator.
    assert_eq!(
        t.cmd("execute config-transaction start", "FGT $ ").await,
        "config transaction id=1 started\r\n"
    );
    t.cmd("execute config-transaction abort", "FGT $ ").await;
}

#[tokio::test]
async fn read_only_admin_reads_everything_and_writes_nothing() {
    let sim = start_as(admin(AccessProfile::ReadOnly), false).await;
    sim.run(&[
        "config firewall address",
        "edit \"seen\"",
        "set subnet 198.51.100.1/32",
        "end",
    ]);
    let mut t = Term::open(sim.addr, None, 1000).await;
    t.until("FGT $ ").await;
    assert!(
        t.cmd("show firewall address seen", "FGT $ ")
            .await
            .contains("        set subnet 198.51.100.1 255.255.255.255\r\n")
    );
    assert!(
        t.cmd("get system central-management", "FGT $ ")
            .await
            .starts_with("mode                : normal\r\n")
    );
    t.cmd("config firewall address", "FGT (address) $ ").await;
    assert_eq!(t.cmd("edit \"new\"", "FGT (address) $ ").await, DENIED_READ);
    assert_eq!(
        t.cmd("delete \"seen\"", "FGT (address) $ ").await,
        DENIED_READ
    );
    t.cmd("edit \"seen\"", "FGT (seen) $ ").await;
    assert_eq!(
        t.cmd("set subnet 198.51.100.2/32", "FGT (seen) $ ").await,
        DENIED_READ
    );
    t.cmd("end", "FGT $ ").await;
    t.cmd("config system console", "FGT (console) $ ").await;
    assert_eq!(
        t.cmd("set output standard", "FGT (console) $ ").await,
        DENIED_READ
    );
    t.cmd("end", "FGT $ ").await;
    assert_eq!(sim.state().console.output, "more");
    assert_eq!(
        sim.state()
            .object("root", "firewall address", "seen")
            .and_then(|o| o.get("subnet")),
        Some("198.51.100.1 255.255.255.255")
    );
    assert!(sim.global_changes().is_empty());
}

#[tokio::test]
async fn vdom_admin_lands_in_its_vdom_and_has_no_global_commands() {
    let vdom_admin = AdminOptions {
        vdom: Some("edge".into()),
        ..admin(AccessProfile::FirewallObjects)
    };
    let sim = start_as(vdom_admin, true).await;
    let mut t = Term::open(sim.addr, None, 1000).await;
    // netmiko #3353: the VDOM administrator's prompt carries no scope.
    assert_eq!(t.until("FGT $ ").await, "FGT $ ");
    let status = t.cmd("get system status | grep -i virtual", "FGT $ ").await;
    assert!(
        status.contains("Virtual domain configuration: multiple\r\n"),
        "{status}"
    );
    assert!(
        t.cmd("get system status | grep Current", "FGT $ ")
            .await
            .contains("Current virtual domain: edge")
    );
    // Global commands do not exist for it (netmiko #3353: exact text and code).
    assert_eq!(
        t.cmd("get system console", "FGT $ ").await,
        parse_error("console")
    );
    assert_eq!(
        t.cmd("config system console", "FGT $ ").await,
        parse_error("console")
    );
    assert_eq!(
        t.cmd("config global", "FGT $ ").await,
        parse_error("global")
    );
    assert_eq!(t.cmd("config vdom", "FGT $ ").await, parse_error("vdom"));
    // Its tables are its VDOM's, directly, without `config vdom` / `edit`.
    t.cmd("config firewall address", "FGT (address) $ ").await;
    t.cmd("edit \"bo-edge\"", "FGT (bo-edge) $ ").await;
    t.cmd("set subnet 203.0.113.5/32", "FGT (bo-edge) $ ").await;
    t.cmd("end", "FGT $ ").await;
    let shown = t.cmd("show firewall address", "FGT $ ").await;
    assert!(shown.contains("    edit \"bo-edge\"\r\n"), "{shown}");
    let st = sim.state();
    assert!(st.object("edge", "firewall address", "bo-edge").is_some());
    assert!(st.object("root", "firewall address", "bo-edge").is_none());
    // Objects of other VDOMs are invisible to it.
    sim.run(&[
        "config vdom",
        "edit root",
        "config firewall address",
        "edit \"root-only\"",
        "end",
        "end",
    ]);
    assert!(
        !t.cmd("show firewall address", "FGT $ ")
            .await
            .contains("root-only")
    );
    assert!(sim.global_changes().is_empty());
}

#[tokio::test]
async fn only_super_admin_changes_the_console_and_every_change_is_recorded() {
    let sim = start(SimOptions::default()).await;
    let mut t = shell(&sim).await;
    t.cmd("config system console", "FGT (console) # ").await;
    t.cmd("set output standard", "FGT (console) # ").await;
    t.cmd("end", "FGT # ").await;
    assert_eq!(
        sim.global_changes(),
        ["admin: system console: output more -> standard"]
    );
    // `end` without a change records nothing.
    t.cmd("config system console", "FGT (console) # ").await;
    t.cmd("end", "FGT # ").await;
    assert_eq!(sim.global_changes().len(), 1);
}

#[tokio::test]
async fn impossible_administrators_are_refused_at_start() {
    let err = FortiSim::start(SimOptions {
        admin: AdminOptions {
            vdom: Some("edge".into()),
            ..admin(AccessProfile::FirewallObjects)
        },
        ..SimOptions::default()
    })
    .await
    .err()
    .map(|e| e.to_string())
    .unwrap_or_default();
    assert!(err.contains("needs a multi-VDOM device"), "{err}");
    let err = FortiSim::start(SimOptions {
        profile: Profile {
            vdom_mode: true,
            ..Profile::default()
        },
        admin: AdminOptions {
            vdom: Some("edge".into()),
            ..AdminOptions::default()
        },
        ..SimOptions::default()
    })
    .await
    .err()
    .map(|e| e.to_string())
    .unwrap_or_default();
    assert!(err.contains("super_admin"), "{err}");
}
