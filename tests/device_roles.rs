//! plan/apply under every administrator the simulator plays (issue #9 items 1, 2, 5): a
//! super_admin, the least-privilege `firewall-objects` profile, a read-only profile (which
//! must fail clearly at apply) and a VDOM-scoped administrator — and in every case blockops
//! never changes a global setting nor sends `config system console`.
mod support;

use blockops::sim::fortigate::{AccessProfile, AdminOptions, Fortimanager, Profile, SimOptions};
use support::fgt::*;

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

/// The newest transcript `apply` wrote.
fn transcript(h: &Harness) -> String {
    let mut files: Vec<_> = std::fs::read_dir(h.path().join("plans"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".transcript.log"))
        .collect();
    files.sort();
    std::fs::read_to_string(files.last().expect("a transcript")).unwrap()
}

/// Lines blockops sent in a transcript (`>>> line`).
fn sent(t: &str) -> Vec<String> {
    t.lines()
        .filter_map(|l| l.strip_prefix(">>> "))
        .map(str::to_string)
        .collect()
}

/// Nothing global was changed and no global command was sent.
fn assert_nothing_global(h: &Harness, t: &str, scoped: bool) {
    assert_eq!(h.sim(0).global_changes(), Vec::<String>::new());
    for l in sent(t) {
        assert!(!l.contains("console"), "sent `{l}`");
        assert!(!l.starts_with("set output"), "sent `{l}`");
        if scoped {
            assert!(
                !l.starts_with("config global") && !l.starts_with("config vdom"),
                "sent `{l}` to a VDOM-scoped administrator"
            );
        }
    }
}

fn with_admin(admin: AdminOptions, vdom_mode: bool) -> SimOptions {
    let mut o = sim_options(Profile {
        vdom_mode,
        ..Profile::default()
    });
    o.admin = admin;
    o
}

fn bo_count(h: &Harness, vdom: &str) -> usize {
    h.state(0)
        .names(vdom, "firewall address")
        .iter()
        .filter(|n| n.starts_with("bo-"))
        .count()
}

#[test]
fn super_admin_plans_and_applies_without_touching_the_console() {
    let mut o = sim_options(Profile::default());
    o.page_lines = Some(5);
    let h = Harness::with(vec![("fw1", o)]);
    h.commit_list(&ips(0..10), "ten");
    let a = h.plan_and_apply("fw1");
    assert_eq!(a.status.code(), Some(0), "{}", text(&a));
    assert_nothing_global(&h, &transcript(&h), false);
    assert_eq!(h.state(0).console.output, "more");
    assert_eq!(bo_count(&h, "root"), 10);
}

#[test]
fn firewall_objects_profile_needs_an_explicit_central_management_choice() {
    let mut h = Harness::with(vec![(
        "fw1",
        with_admin(
            AdminOptions::with_profile(AccessProfile::FirewallObjects),
            false,
        ),
    )]);
    h.commit_list(&ips(0..10), "ten");
    // The profile cannot read `system central-management`: refused by default, and the
    // message says what to do.
    let p = h.run(&["plan", "--target", "fw1"]);
    assert_eq!(p.status.code(), Some(3), "{}", text(&p));
    let err = stderr(&p);
    assert!(
        err.contains("cannot tell whether FortiManager manages this unit")
            && err.contains("central_management: allow"),
        "{}",
        text(&p)
    );
    h.target_extra = "    central_management: allow\n".into();
    h.commit_list(&ips(0..10), "allow");
    let a = h.plan_and_apply("fw1");
    assert_eq!(a.status.code(), Some(0), "{}", text(&a));
    assert_nothing_global(&h, &transcript(&h), false);
    assert_eq!(bo_count(&h, "root"), 10);
    let p = h.run(&["plan", "--target", "fw1", "--detailed-exitcode"]);
    assert_eq!(p.status.code(), Some(0), "{}", text(&p));
}

#[test]
fn refused_preparatory_reads_are_information() {
    // Not even `get system status` is allowed: blockops carries on with what it can read.
    let mut admin = AdminOptions::with_profile(AccessProfile::FirewallObjects);
    admin.system_reads.clear();
    let mut h = Harness::with(vec![("fw1", with_admin(admin, false))]);
    h.target_extra = "    central_management: allow\n".into();
    h.commit_list(&ips(0..4), "four");
    let a = h.plan_and_apply("fw1");
    assert_eq!(a.status.code(), Some(0), "{}", text(&a));
    let t = transcript(&h);
    assert!(t.contains("get system status"), "{t}");
    assert_nothing_global(&h, &t, false);
    assert_eq!(bo_count(&h, "root"), 4);
}

#[test]
fn read_only_profile_plans_but_fails_clearly_at_apply() {
    let mut h = Harness::with(vec![(
        "fw1",
        with_admin(AdminOptions::with_profile(AccessProfile::ReadOnly), false),
    )]);
    h.target_extra = "    central_management: allow\n".into();
    h.commit_list(&ips(0..5), "five");
    let before = h.state(0);
    let p = h.run(&["plan", "--target", "fw1"]);
    assert_eq!(p.status.code(), Some(0), "{}", text(&p));
    let a = h.run(&["apply", "--yes", h.plan_file("fw1").to_str().unwrap()]);
    assert_eq!(a.status.code(), Some(1), "{}", text(&a));
    let err = stderr(&a);
    assert!(
        err.contains("line 2 of") && err.contains("Permission denied"),
        "{}",
        text(&a)
    );
    assert!(
        err.contains("may not change firewall addresses"),
        "{}",
        text(&a)
    );
    assert_eq!(h.state(0), before);
    assert_nothing_global(&h, &transcript(&h), false);
}

fn vdom_scoped() -> Harness {
    let mut admin = AdminOptions::with_profile(AccessProfile::FirewallObjects);
    admin.vdom = Some("edge".into());
    let mut h = Harness::with(vec![("fw1", with_admin(admin, true))]);
    h.sim(0).run(&["config vdom", "edit edge", "end"]);
    h.target_extra = "    vdom: edge\n    central_management: allow\n".into();
    h.write_config();
    h
}

#[test]
fn vdom_scoped_administrator_gets_no_vdom_wrapper() {
    let h = vdom_scoped();
    h.commit_list(&ips(0..10), "ten");
    let p = h.run(&["plan", "--target", "fw1"]);
    assert_eq!(p.status.code(), Some(0), "{}", text(&p));
    let plan = h.plan_json("fw1");
    assert_eq!(
        plan["scope"],
        serde_json::json!({"kind": "vdom-admin", "vdom": "edge"})
    );
    assert_eq!(plan["format_version"], 3);
    let script = plan["script"].as_str().unwrap();
    assert!(script.starts_with("config firewall address\n"), "{script}");
    assert!(!script.contains("config vdom"), "{script}");
    let a = h.run(&["apply", "--yes", h.plan_file("fw1").to_str().unwrap()]);
    assert_eq!(a.status.code(), Some(0), "{}", text(&a));
    assert_nothing_global(&h, &transcript(&h), true);
    assert_eq!(bo_count(&h, "edge"), 10);
    assert_eq!(bo_count(&h, "root"), 0);
    let p = h.run(&["plan", "--target", "fw1", "--detailed-exitcode"]);
    assert_eq!(p.status.code(), Some(0), "{}", text(&p));
}

#[test]
fn vdom_scoped_administrator_with_the_wrong_vdom_is_told_which() {
    let mut h = vdom_scoped();
    h.target_extra = "    vdom: root\n    central_management: allow\n".into();
    h.commit_list(&ips(0..2), "two");
    let p = h.run(&["plan", "--target", "fw1"]);
    assert_eq!(p.status.code(), Some(1), "{}", text(&p));
    assert!(stderr(&p).contains("scoped to VDOM `edge`"), "{}", text(&p));
}

#[test]
fn apply_refuses_a_plan_made_for_another_scope() {
    // fw1: a global administrator on a multi-VDOM unit (the script enters `config vdom`);
    // fw2: the same unit seen by a VDOM-scoped administrator. A plan made through fw1 must not
    // run in fw2's session.
    let mut scoped = AdminOptions::with_profile(AccessProfile::FirewallObjects);
    scoped.vdom = Some("edge".into());
    let h = Harness::with(vec![
        ("fw1", with_admin(AdminOptions::default(), true)),
        ("fw2", with_admin(scoped, true)),
    ]);
    for i in 0..2 {
        h.sim(i).run(&["config vdom", "edit edge", "end"]);
    }
    let mut h = h;
    h.target_extra = "    vdom: edge\n    central_management: allow\n".into();
    h.commit_list(&ips(0..3), "three");
    let p = h.run(&["plan", "--target", "fw1"]);
    assert_eq!(p.status.code(), Some(0), "{}", text(&p));
    assert_eq!(h.plan_json("fw1")["scope"]["kind"], "global");
    // Point fw1 at the VDOM-scoped session (same device state, so the plan is not stale).
    let cfg = std::fs::read_to_string(h.path().join("blockops.yaml")).unwrap();
    let (p1, p2) = (h.sim(0).addr.port(), h.sim(1).addr.port());
    let swapped = cfg
        .replace(&format!("port: {p1}\n"), "port: PORT1\n")
        .replace(&format!("port: {p2}\n"), &format!("port: {p1}\n"))
        .replace("port: PORT1\n", &format!("port: {p2}\n"));
    std::fs::write(h.path().join("blockops.yaml"), swapped).unwrap();
    h.commit("swap the two sessions");
    let before = h.state(1);
    let a = h.run(&["apply", "--yes", h.plan_file("fw1").to_str().unwrap()]);
    assert_eq!(a.status.code(), Some(3), "{}", text(&a));
    assert!(
        stderr(&a).contains("written for a global administrator entering VDOM `edge`")
            && stderr(&a).contains("VDOM-scoped administrator already inside VDOM `edge`"),
        "{}",
        text(&a)
    );
    assert_eq!(h.state(1), before);
}

#[test]
fn fortimanager_managed_units_are_refused_unless_configured() {
    let mut o = sim_options(Profile::default());
    o.fortimanager = Some(Fortimanager {
        address: "192.0.2.10".into(),
        backup_mode: false,
    });
    let mut h = Harness::with(vec![("fw1", o)]);
    h.commit_list(&ips(0..3), "three");
    let before = h.state(0);
    let p = h.run(&["plan", "--target", "fw1"]);
    assert_eq!(p.status.code(), Some(3), "{}", text(&p));
    let err = stderr(&p);
    assert!(
        err.contains("managed by FortiManager 192.0.2.10") && err.contains("KB 412972"),
        "{}",
        text(&p)
    );
    // Backup mode is not enough for a unit in normal mode.
    h.target_extra = "    central_management: allow-backup-mode\n".into();
    h.commit_list(&ips(0..3), "backup mode allowed");
    let p = h.run(&["plan", "--target", "fw1"]);
    assert_eq!(p.status.code(), Some(3), "{}", text(&p));
    h.target_extra = "    central_management: allow\n".into();
    h.commit_list(&ips(0..3), "allowed");
    assert_eq!(h.state(0), before);
    let a = h.plan_and_apply("fw1");
    assert_eq!(a.status.code(), Some(0), "{}", text(&a));
    assert_eq!(h.sim(0).global_changes(), Vec::<String>::new());
}

#[test]
fn fortimanager_backup_mode_with_allow_backup_mode() {
    let mut o = sim_options(Profile::default());
    o.fortimanager = Some(Fortimanager {
        address: "192.0.2.10".into(),
        backup_mode: true,
    });
    let mut h = Harness::with(vec![("fw1", o)]);
    h.commit_list(&ips(0..3), "three");
    let p = h.run(&["plan", "--target", "fw1"]);
    assert_eq!(p.status.code(), Some(3), "{}", text(&p));
    assert!(
        stderr(&p).contains("as the unit is in backup mode"),
        "{}",
        text(&p)
    );
    h.target_extra = "    central_management: allow-backup-mode\n".into();
    h.commit_list(&ips(0..3), "backup mode allowed");
    let a = h.plan_and_apply("fw1");
    assert_eq!(a.status.code(), Some(0), "{}", text(&a));
    assert_eq!(bo_count(&h, "root"), 3);
}
