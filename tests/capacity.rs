//! Capacity before pushing (issue #9 item 4): a change that would overflow a table or a group
//! half-way is refused by `plan` (exit 3, with the counts) before anything is sent, and again
//! by `apply` when the device filled up since the plan.
mod support;

use blockops::sim::fortigate::{Limits, Profile};
use support::fgt::*;

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

fn limited(limits: Limits) -> Harness {
    Harness::with(vec![(
        "fw1",
        sim_options(Profile {
            limits,
            ..Profile::default()
        }),
    )])
}

fn others(h: &Harness, n: usize) {
    for i in 0..n {
        h.sim(0).run(&[
            "config firewall address",
            &format!("edit other-{i}"),
            &format!("set subnet 10.9.{i}.0 255.255.255.0"),
            "next",
            "end",
        ]);
    }
}

#[test]
fn plan_refuses_a_table_the_device_says_is_too_small() {
    let h = limited(Limits {
        max_entries: 8,
        ..Limits::default()
    });
    others(&h, 3);
    h.commit_list(&ips(0..6), "six");
    let before = h.state(0);
    let p = h.run(&["plan", "--target", "fw1"]);
    assert_eq!(p.status.code(), Some(3), "{}", text(&p));
    let err = stderr(&p);
    // 3 others + 6 new = 9 > 8 (print tablesize: firewall.address per VDOM).
    assert!(
        err.contains(
            "firewall address entries: 3 now, 9 at the peak of the script (9 after it), limit 8 (print tablesize, per VDOM)"
        ),
        "{}",
        text(&p)
    );
    assert!(err.contains("nothing was sent"), "{}", text(&p));
    assert!(err.contains("render --format feed"), "{}", text(&p));
    assert!(!h.plan_file("fw1").exists(), "a plan file was written");
    assert_eq!(h.state(0), before);
    // Five fit.
    h.commit_list(&ips(0..5), "five");
    let a = h.plan_and_apply("fw1");
    assert_eq!(a.status.code(), Some(0), "{}", text(&a));
}

#[test]
fn plan_refuses_a_group_beyond_the_devices_member_limit() {
    // The configuration allows 50 members per group, the device 4.
    let h = limited(Limits {
        max_members: 4,
        ..Limits::default()
    });
    h.commit_list(&ips(0..6), "six");
    let p = h.run(&["plan", "--target", "fw1"]);
    assert_eq!(p.status.code(), Some(3), "{}", text(&p));
    let err = stderr(&p);
    assert!(
        err.contains("members of firewall addrgrp")
            && err.contains("limit 4 (print tablesize, per entry)"),
        "{}",
        text(&p)
    );
    // With `render.max_group_members` at the device's limit, the render splits the group.
    let mut h = h;
    h.render_extra = String::new();
    let cfg = std::fs::read_to_string(h.path().join("blockops.yaml"))
        .unwrap()
        .replace("max_group_members: 50", "max_group_members: 4");
    std::fs::write(h.path().join("blockops.yaml"), cfg).unwrap();
    h.set_blocklist(&ips(0..6));
    h.commit("four per group");
    let p = h.run(&["plan", "--target", "fw1"]);
    assert_eq!(p.status.code(), Some(0), "{}", text(&p));
    let a = h.run(&["apply", "--yes", h.plan_file("fw1").to_str().unwrap()]);
    assert_eq!(a.status.code(), Some(0), "{}", text(&a));
}

#[test]
fn the_configured_max_addresses_applies_when_the_device_says_nothing() {
    let mut h = Harness::new();
    h.target_extra = "    max_addresses: 4\n".into();
    h.commit_list(&ips(0..6), "six");
    let p = h.run(&["plan", "--target", "fw1"]);
    assert_eq!(p.status.code(), Some(3), "{}", text(&p));
    assert!(
        stderr(&p).contains("limit 4 (targets[].max_addresses)"),
        "{}",
        text(&p)
    );
}

#[test]
fn apply_refuses_when_the_table_filled_up_since_the_plan() {
    let h = limited(Limits {
        max_entries: 6,
        ..Limits::default()
    });
    h.commit_list(&ips(0..6), "six");
    let p = h.run(&["plan", "--target", "fw1"]);
    assert_eq!(p.status.code(), Some(0), "{}", text(&p));
    // Someone else's object (not blockops', so the plan is not stale) takes the last slot.
    others(&h, 1);
    let before = h.state(0);
    let start = h.sim(0).lines_received();
    let a = h.run(&["apply", "--yes", h.plan_file("fw1").to_str().unwrap()]);
    assert_eq!(a.status.code(), Some(3), "{}", text(&a));
    assert!(
        stderr(&a).contains("firewall address entries: 1 now, 7 at the peak"),
        "{}",
        text(&a)
    );
    assert_eq!(h.state(0), before);
    // Only reads were sent: the probe and the four `show`s (and the closing `exit`).
    assert!(h.sim(0).lines_received() - start <= 9);
}
