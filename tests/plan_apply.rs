//! `blockops plan` / `apply` against the FortiGate simulator over real SSH on 127.0.0.1.
mod support;

use support::fgt::*;

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
    assert_eq!(a.status.code(), Some(0), "{}", text(&a));
    assert_eq!(p2.status.code(), Some(0), "{}", text(&p2));
    // The simulator saves its state in the background: poll for the applied objects.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let saved = std::fs::read_to_string(&state).unwrap_or_default();
        if saved.contains("bo-192.0.2.19") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "state file lacks the applied objects: {saved}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    drop(child);
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

const OBJECTS_J2: &str = include_str!("../templates/fortios/objects.j2");

/// The repository's `objects.j2`: the built-in one with `set color 13` on every IPv4 address
/// and a site tag after every address comment.
fn site_template() -> String {
    let tagged = OBJECTS_J2.replace(
        "        set comment {{ a.comment | fq }}",
        "        set comment {{ (a.comment ~ \" site=fra1\") | fq }}",
    );
    let colored = tagged.replacen(
        "{%- if a.color %}\n        set color {{ a.color }}\n{%- endif %}",
        "\n        set color 13",
        1,
    );
    assert_ne!(colored, tagged, "the built-in template changed shape");
    colored
}

/// Issue #10: what the templates say is what reaches the device — in `render`, in the `plan`
/// delta, on the device after `apply`, and as drift when someone changes it by hand.
#[test]
fn template_override_reaches_render_plan_device_and_drift() {
    let h = Harness::new();
    let mut list = ips(0..3);
    list.push("2001:db8:feed::/48".into());
    h.commit_list(&list, "three");
    assert_eq!(h.plan_and_apply("fw1").status.code(), Some(0));

    std::fs::create_dir_all(h.path().join("templates/fortios")).unwrap();
    std::fs::write(
        h.path().join("templates/fortios/objects.j2"),
        site_template(),
    )
    .unwrap();
    h.commit("site template");
    let c = h.run(&["check"]);
    assert_eq!(c.status.code(), Some(0), "{}", text(&c));
    let r = h.run(&["render", "--target", "fw1"]);
    let rendered = String::from_utf8_lossy(&r.stdout).to_string();
    assert!(
        rendered.contains("        set color 13\n") && rendered.contains(" site=fra1\""),
        "{rendered}"
    );

    let p = h.run(&["plan", "--target", "fw1", "--detailed-exitcode"]);
    assert_eq!(p.status.code(), Some(2), "{}", text(&p));
    let plan = h.plan_json("fw1");
    let script = plan["script"].as_str().unwrap();
    assert_eq!(plan["counts"]["adds"], 0, "{script}");
    // Three addresses get the colour and the tag, the IPv6 one only the tag.
    assert_eq!(plan["counts"]["modifies"], 4, "{script}");
    assert_eq!(script.matches("set color 13").count(), 3, "{script}");
    assert_eq!(script.matches(" site=fra1\"").count(), 4, "{script}");
    let a = h.run(&["apply", "--yes", h.plan_file("fw1").to_str().unwrap()]);
    assert_eq!(a.status.code(), Some(0), "{}", text(&a));
    let st = h.state(0);
    let o = st
        .object("root", "firewall address", "bo-192.0.2.16")
        .unwrap();
    assert_eq!(o.get("color"), Some("13"));
    assert!(
        o.get("comment").is_some_and(|c| c.ends_with(" site=fra1")),
        "{o:?}"
    );
    let p = h.run(&["plan", "--target", "fw1", "--detailed-exitcode"]);
    assert_eq!(p.status.code(), Some(0), "{}", text(&p));

    // Someone recolours one object by hand: the next plan puts the template's colour back.
    let out = h.sim(0).run(&[
        "config firewall address",
        "edit \"bo-192.0.2.17\"",
        "set color 3",
        "next",
        "end",
    ]);
    assert!(!out.iter().any(|l| l.contains("fail")), "{out:?}");
    let p = h.run(&["plan", "--target", "fw1", "--detailed-exitcode"]);
    assert_eq!(p.status.code(), Some(2), "{}", text(&p));
    assert_eq!(
        h.plan_json("fw1")["script"],
        "config firewall address\n    edit \"bo-192.0.2.17\"\n        set color 13\n    next\nend\n"
    );
    let a = h.run(&["apply", "--yes", h.plan_file("fw1").to_str().unwrap()]);
    assert_eq!(a.status.code(), Some(0), "{}", text(&a));
    assert_eq!(
        h.state(0)
            .object("root", "firewall address", "bo-192.0.2.17")
            .and_then(|o| o.get("color")),
        Some("13")
    );
}

/// Issue #10: a template cannot smuggle other commands or fields; `check` names the template
/// line, `plan` refuses, and `render.template_fields` allows a field explicitly.
#[test]
fn template_fields_outside_the_allow_list_are_check_errors() {
    let mut h = Harness::new();
    h.commit_list(&ips(0..2), "two");
    let objects = OBJECTS_J2.replacen(
        "        set comment {{ a.comment | fq }}",
        "        set comment {{ a.comment | fq }}\n        set allow-routing enable",
        1,
    );
    let line = objects
        .lines()
        .position(|l| l.contains("allow-routing"))
        .unwrap()
        + 1;
    std::fs::create_dir_all(h.path().join("templates/fortios")).unwrap();
    std::fs::write(h.path().join("templates/fortios/objects.j2"), &objects).unwrap();
    let full = include_str!("../templates/fortios/full.j2").replace(
        "{% if vdom %}end",
        "config system admin\n    edit \"intruder\"\n    next\nend\n{% if vdom %}end",
    );
    std::fs::write(h.path().join("templates/fortios/full.j2"), &full).unwrap();
    h.commit("smuggling templates");
    let c = h.run(&["check"]);
    assert_eq!(c.status.code(), Some(1), "{}", text(&c));
    let out = String::from_utf8_lossy(&c.stdout).to_string();
    assert!(
        out.contains(&format!("templates/fortios/objects.j2:{line}:"))
            && out.contains("set allow-routing"),
        "{out}"
    );
    assert!(out.contains("config system admin"), "{out}");
    let p = h.run(&["plan", "--target", "fw1"]);
    assert_eq!(p.status.code(), Some(1), "{}", text(&p));
    assert!(
        String::from_utf8_lossy(&p.stderr).contains("blockops check"),
        "{}",
        text(&p)
    );
    assert_eq!(h.sim(0).lines_received(), 0, "plan talked to the device");

    // Allowed explicitly (and the foreign block removed), the field reaches the device.
    std::fs::remove_file(h.path().join("templates/fortios/full.j2")).unwrap();
    h.render_extra = "  template_fields:\n    address: [allow-routing]\n".into();
    h.write_config();
    h.commit("allow allow-routing");
    let c = h.run(&["check"]);
    assert_eq!(c.status.code(), Some(0), "{}", text(&c));
    let a = h.plan_and_apply("fw1");
    assert_eq!(a.status.code(), Some(0), "{}", text(&a));
    assert_eq!(
        h.state(0)
            .object("root", "firewall address", "bo-192.0.2.16")
            .and_then(|o| o.get("allow-routing")),
        Some("enable")
    );
    let p = h.run(&["plan", "--target", "fw1", "--detailed-exitcode"]);
    assert_eq!(p.status.code(), Some(0), "{}", text(&p));
}

mod pushed_is_read {
    use super::*;
    use proptest::prelude::*;

    /// One generated indicator with an optional hostile comment.
    fn indicator() -> impl Strategy<Value = (String, Option<String>)> {
        let value = prop_oneof![
            (1u8..=254).prop_map(|i| format!("198.51.100.{i}")),
            (0u8..=15).prop_map(|i| format!("203.0.113.{}/28", i * 16)),
            (1u16..=0xffff).prop_map(|i| format!("2001:db8::{i:x}")),
            "[a-z]{1,12}".prop_map(|l| format!("{l}.evil.example")),
        ];
        let comment = proptest::option::of(
            proptest::string::string_regex("[a-zA-Z0-9 \"\\\\;#'é?-]{0,40}").unwrap(),
        );
        (value, comment)
    }

    fn manual_yaml(list: &[(String, Option<String>)]) -> String {
        let mut seen = std::collections::BTreeSet::new();
        let mut y = String::from("entries:\n");
        for (v, c) in list {
            if !seen.insert(v.clone()) {
                continue;
            }
            y.push_str(&format!("- value: \"{v}\"\n  sources: []\n"));
            if let Some(c) = c {
                y.push_str(&format!(
                    "  comment: {}\n",
                    serde_json::to_string(c).unwrap()
                ));
            }
        }
        if seen.is_empty() {
            // An intentionally empty list must say so (an empty `entries:` is an error).
            y = String::from("entries: []\n");
        }
        y
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: 6,
            max_shrink_iters: 16,
            failure_persistence: None,
            ..ProptestConfig::default()
        })]

        /// Render → simulator → read-back: after `apply`, every object the rendered script
        /// describes is on the device with the same comment, nothing else of ours is, and a new
        /// plan is empty.
        #[test]
        fn what_is_pushed_is_what_is_read(
            first in proptest::collection::vec(indicator(), 0..12),
            second in proptest::collection::vec(indicator(), 0..12),
        ) {
            let h = Harness::new();
            for (round, list) in [first, second].iter().enumerate() {
                std::fs::create_dir_all(h.path().join("blocklists")).unwrap();
                std::fs::write(h.path().join("blocklists/manual.yaml"), manual_yaml(list)).unwrap();
                h.commit(&format!("round {round}"));
                let a = h.plan_and_apply("fw1");
                prop_assert_eq!(a.status.code(), Some(0), "{}", text(&a));
                let r = h.run(&["render", "--target", "fw1"]);
                let parsed = blockops::fortios::parse::parse(&String::from_utf8_lossy(&r.stdout), false);
                let st = h.state(0);
                for block in &parsed.blocks {
                    let table = block.path.clone();
                    let on_device = st.names("root", &table);
                    let rendered: Vec<&String> = block.entries.iter().map(|e| &e.name).collect();
                    for e in &block.entries {
                        let o = st.object("root", &table, &e.name);
                        prop_assert!(o.is_some(), "{} {} missing", table, e.name);
                        let want = e.fields.get("comment").map(|c| c[0].as_str());
                        prop_assert_eq!(o.and_then(|o| o.get("comment")), want, "{} {}", table, e.name);
                    }
                    for n in on_device.iter().filter(|n| n.starts_with("bo-") || n.starts_with("blockops-")) {
                        prop_assert!(rendered.contains(&n), "{} {} should be gone", table, n);
                    }
                }
                let p = h.run(&["plan", "--target", "fw1", "--detailed-exitcode"]);
                prop_assert_eq!(p.status.code(), Some(0), "{}", text(&p));
            }
        }
    }
}

/// Issue #10: every command loads the configuration the same way, and `check` names the file
/// given with `--config` (it used to print a hard-coded `blockops.yaml`).
#[test]
fn check_and_fmt_use_the_config_given_with_config() {
    let h = Harness::new();
    h.set_blocklist(&ips(0..3));
    std::fs::remove_file(h.path().join("blockops.yaml")).unwrap();
    std::fs::create_dir_all(h.path().join("conf")).unwrap();
    std::fs::write(
        h.path().join("conf/fw.yaml"),
        format!(
            "targets:\n  - name: fw1\n    host: 127.0.0.1\n    password: {{env: {PASSWORD_ENV}}}\n    max_addresses: 1\n"
        ),
    )
    .unwrap();
    let c = h.run(&["check", "--config", "conf/fw.yaml"]);
    assert_eq!(c.status.code(), Some(1), "{}", text(&c));
    let out = String::from_utf8_lossy(&c.stdout).to_string();
    assert!(
        out.contains("conf/fw.yaml:") && out.contains("exceed max_addresses 1"),
        "{out}"
    );
    assert!(!out.contains("blockops.yaml"), "{out}");
    // `fmt` reads the same file, and a missing configuration is an error, not defaults.
    let f = h.run(&["fmt", "--config", "conf/fw.yaml"]);
    assert_eq!(f.status.code(), Some(0), "{}", text(&f));
    let f = h.run(&["fmt", "--check", "--config", "conf/fw.yaml"]);
    assert_eq!(f.status.code(), Some(0), "{}", text(&f));
    let f = h.run(&["fmt", "--check"]);
    assert_eq!(f.status.code(), Some(1), "{}", text(&f));
    assert!(
        String::from_utf8_lossy(&f.stderr).contains("no configuration file"),
        "{}",
        text(&f)
    );
}
