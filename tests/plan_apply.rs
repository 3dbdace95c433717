//! `blockops plan` / `apply` against the FortiGate simulator over real SSH on 127.0.0.1.
mod fgt;

use fgt::*;

#[test]
fn first_apply_on_empty_device_then_plan_is_empty() {
    let h = Harness::new();
    let mut list = ips(0..5);
    list.push("evil-cdn.example.net".into());
    list.push("2001:db8:feed::/48".into());
    h.commit_list(&list, "first");

    let p = h.run(&["plan", "--target", "fw1", "--detailed-exitcode"]);
    assert_eq!(p.status.code(), Some(2), "{}", text(&p));
    let plan = h.plan_json("fw1");
    assert_eq!(plan["has_changes"], true);
    assert_eq!(plan["counts"]["adds"], 7 + 2, "{plan}");
    assert_eq!(plan["counts"]["removes"], 0);
    let raw = std::fs::read_to_string(h.plan_file("fw1")).unwrap();
    assert!(!raw.contains(PASSWORD), "plan leaks the password");

    let a = h.run(&["apply", "--yes", h.plan_file("fw1").to_str().unwrap()]);
    assert_eq!(a.status.code(), Some(0), "{}", text(&a));
    let st = h.state(0);
    let addrs = names(&st, "address");
    assert!(addrs.contains(&"bo-192.0.2.16".to_string()), "{addrs:?}");
    assert!(
        addrs.contains(&"bo-evil-cdn.example.net".to_string()),
        "{addrs:?}"
    );
    assert_eq!(
        names(&st, "address6"),
        vec!["bo-2001:db8:feed::/48".to_string()]
    );
    let g = st
        .object("root", "firewall addrgrp", "blockops-v4")
        .expect("v4 group");
    assert_eq!(g.list("member").len(), 6);
    assert_eq!(
        st.object("root", "firewall address", "bo-192.0.2.16")
            .and_then(|o| o.get("subnet")),
        Some("192.0.2.16 255.255.255.255")
    );
    // The console pager was `more` (the default) and is restored.
    assert_eq!(st.console.output, "more");
    // Backup and transcript next to the plan, without the password.
    let files: Vec<String> = std::fs::read_dir(h.path().join("plans"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    let transcript = files
        .iter()
        .find(|f| f.ends_with(".transcript.log"))
        .expect("transcript written");
    assert!(
        files.iter().any(|f| f.ends_with(".backup.conf")),
        "{files:?}"
    );
    let t = std::fs::read_to_string(h.path().join("plans").join(transcript)).unwrap();
    assert!(
        t.contains("append member") || t.contains("set member"),
        "{t}"
    );
    assert!(!t.contains(PASSWORD));

    // Idempotence: the same desired state again is an empty plan.
    let p = h.run(&["plan", "--target", "fw1", "--detailed-exitcode"]);
    assert_eq!(p.status.code(), Some(0), "{}", text(&p));
    let plan = h.plan_json("fw1");
    assert_eq!(plan["has_changes"], false);
    assert_eq!(plan["script"], "");
    let a = h.run(&["apply", "--yes", h.plan_file("fw1").to_str().unwrap()]);
    assert_eq!(a.status.code(), Some(0), "{}", text(&a));
}

#[test]
fn incremental_change_is_a_few_lines() {
    let h = Harness::new();
    h.commit_list(&ips(0..40), "forty");
    let a = h.plan_and_apply("fw1");
    assert_eq!(a.status.code(), Some(0), "{}", text(&a));

    let mut list = ips(0..40);
    list.remove(7);
    list.push("198.51.100.77".into());
    h.commit_list(&list, "one in, one out");
    let p = h.run(&["plan", "--target", "fw1", "--detailed-exitcode"]);
    assert_eq!(p.status.code(), Some(2), "{}", text(&p));
    let plan = h.plan_json("fw1");
    let script = plan["script"].as_str().unwrap();
    let lines = script.lines().count();
    assert!(
        lines <= 16,
        "too many lines for one add + one remove:\n{script}"
    );
    assert_eq!(plan["counts"]["adds"], 1, "{script}");
    assert_eq!(plan["counts"]["removes"], 1, "{script}");
    assert!(script.contains("delete \"bo-192.0.2.23\""), "{script}");
    let a = h.run(&["apply", "--yes", h.plan_file("fw1").to_str().unwrap()]);
    assert_eq!(a.status.code(), Some(0), "{}", text(&a));
    let st = h.state(0);
    assert!(
        st.object("root", "firewall address", "bo-198.51.100.77")
            .is_some()
    );
    assert!(
        st.object("root", "firewall address", "bo-192.0.2.23")
            .is_none()
    );
    let p = h.run(&["plan", "--target", "fw1", "--detailed-exitcode"]);
    assert_eq!(p.status.code(), Some(0), "{}", text(&p));
}

#[test]
fn offline_base_plans_between_revisions_without_the_device() {
    let h = Harness::new();
    h.commit_list(&ips(0..3), "base");
    let mut list = ips(0..3);
    list.push("198.51.100.9".into());
    h.commit_list(&list, "head");
    // The device is unreachable: the offline plan must not need it.
    h.rt.block_on(async {});
    let out = h.path().join("preview.json");
    let p = h.run(&[
        "plan",
        "--target",
        "fw1",
        "--offline-base",
        "HEAD~1",
        "--out",
        out.to_str().unwrap(),
        "--detailed-exitcode",
    ]);
    assert_eq!(p.status.code(), Some(2), "{}", text(&p));
    assert_eq!(
        h.sim(0).lines_received(),
        0,
        "the offline plan talked to the device"
    );
    let plan: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out).unwrap()).unwrap();
    assert_eq!(plan["base"]["kind"], "offline");
    assert_eq!(plan["counts"]["adds"], 1);
    assert!(
        plan["script"]
            .as_str()
            .unwrap()
            .contains("append member \"bo-198.51.100.9\"")
    );
}

#[test]
fn comments_with_quotes_and_backslashes_round_trip() {
    let h = Harness::new();
    std::fs::create_dir_all(h.path().join("blocklists")).unwrap();
    std::fs::write(
        h.path().join("blocklists/manual.yaml"),
        "entries:\n- value: 192.0.2.77\n  type: ipv4\n  sources: []\n  first_seen: 2026-11-01\n  comment: \"say \\\"hi\\\" \\\\ then; end # next? 'x'\"\n",
    )
    .unwrap();
    h.commit("hostile comment");
    let a = h.plan_and_apply("fw1");
    assert_eq!(a.status.code(), Some(0), "{}", text(&a));
    let st = h.state(0);
    let c = st
        .object("root", "firewall address", "bo-192.0.2.77")
        .and_then(|o| o.get("comment"))
        .unwrap()
        .to_string();
    assert!(c.contains("say \"hi\" \\ then; end # next"), "{c}");
    // Read back through `show` escaping, the state equals the desired one: nothing to do.
    let p = h.run(&["plan", "--target", "fw1", "--detailed-exitcode"]);
    assert_eq!(p.status.code(), Some(0), "{}", text(&p));
}

#[test]
fn offline_plan_applies_when_the_device_holds_the_base_state() {
    let h = Harness::new();
    h.commit_list(&ips(0..3), "base");
    assert_eq!(h.plan_and_apply("fw1").status.code(), Some(0));
    let mut list = ips(0..3);
    list.push("198.51.100.9".into());
    h.commit_list(&list, "head");
    let out = h.path().join("plans/offline.plan.json");
    let p = h.run(&[
        "plan",
        "--target",
        "fw1",
        "--offline-base",
        "HEAD~1",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(p.status.code(), Some(0), "{}", text(&p));
    let a = h.run(&["apply", "--yes", out.to_str().unwrap()]);
    assert_eq!(a.status.code(), Some(0), "{}", text(&a));
    assert!(
        h.state(0)
            .object("root", "firewall address", "bo-198.51.100.9")
            .is_some()
    );
}

/// The flow a user's CI would run: `blockops sim fortigate` as a separate process, a pinned
/// host key fingerprint, plan + apply, and the simulator's state file as the evidence.
#[test]
fn against_the_standalone_simulator_process() {
    use std::io::BufRead;
    let h = Harness::new();
    let state = h.path().join("fgt-state.json");
    let bin = assert_cmd::cargo::cargo_bin("blockops");
    struct KillOnDrop(std::process::Child);
    impl Drop for KillOnDrop {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let child = std::process::Command::new(bin)
        .args(["sim", "fortigate", "--listen", "127.0.0.1:0", "--state"])
        .arg(&state)
        .env("BLOCKOPS_SIM_PASSWORD", PASSWORD)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut child = KillOnDrop(child);
    let mut lines = std::io::BufReader::new(child.0.stdout.take().unwrap()).lines();
    let mut port = None;
    let mut fp = None;
    for l in lines.by_ref().take(10) {
        let l = l.unwrap();
        if let Some(a) = l.strip_prefix("listening on ") {
            port = a.rsplit(':').next().map(str::to_string);
        }
        if let Some(f) = l.strip_prefix("host key ") {
            fp = Some(f.trim().to_string());
        }
        if port.is_some() && fp.is_some() {
            break;
        }
    }
    let (port, fp) = (
        port.expect("port printed"),
        fp.expect("fingerprint printed"),
    );
    let cfg = format!(
        "guardrails:\n  max_removals: 100%\ntargets:\n  - name: ci\n    host: 127.0.0.1\n    port: {port}\n    password: {{env: {PASSWORD_ENV}}}\n    host_key_fingerprint: \"{fp}\"\n"
    );
    std::fs::write(h.path().join("blockops.yaml"), cfg).unwrap();
    h.set_blocklist(&ips(0..4));
    h.commit("ci");
    let p = h.run(&["plan", "--target", "ci"]);
    assert_eq!(p.status.code(), Some(0), "{}", text(&p));
    let a = h.run(&["apply", "--yes", h.plan_file("ci").to_str().unwrap()]);
    let p2 = h.run(&["plan", "--target", "ci", "--detailed-exitcode"]);
    std::thread::sleep(std::time::Duration::from_millis(500));
    drop(child);
    assert_eq!(a.status.code(), Some(0), "{}", text(&a));
    assert_eq!(p2.status.code(), Some(0), "{}", text(&p2));
    let saved = std::fs::read_to_string(&state).unwrap();
    assert!(
        saved.contains("bo-192.0.2.19"),
        "state file lacks the applied objects"
    );
}

#[test]
fn growing_into_child_groups_and_back() {
    // max_group_members is 50 in the harness: 120 addresses need child groups, 30 do not.
    let h = Harness::new();
    h.commit_list(&ips(0..30), "small");
    assert_eq!(h.plan_and_apply("fw1").status.code(), Some(0));
    let big: Vec<String> = (0..120)
        .map(|i| format!("198.51.100.{i}"))
        .chain(ips(0..30))
        .collect();
    h.commit_list(&big, "big");
    let a = h.plan_and_apply("fw1");
    assert_eq!(a.status.code(), Some(0), "{}", text(&a));
    let st = h.state(0);
    let groups = names(&st, "addrgrp");
    assert!(
        groups
            .iter()
            .filter(|g| g.starts_with("blockops-v4-"))
            .count()
            >= 3,
        "{groups:?}"
    );
    let p = h.run(&["plan", "--target", "fw1", "--detailed-exitcode"]);
    assert_eq!(p.status.code(), Some(0), "{}", text(&p));

    h.commit_list(&ips(0..30), "small again");
    let a = h.plan_and_apply("fw1");
    assert_eq!(a.status.code(), Some(0), "{}", text(&a));
    let st = h.state(0);
    assert_eq!(names(&st, "address").len(), 30);
    let p = h.run(&["plan", "--target", "fw1", "--detailed-exitcode"]);
    assert_eq!(p.status.code(), Some(0), "{}", text(&p));
    assert_no_match_all(&st);
}
