//! The refusals and failure handling of `apply` (SPEC guarantees 5–8) against the simulator.
mod support;

use blockops::sim::fortigate::{FailRule, Profile, Value};
use support::fgt::*;

fn plan_ok(h: &Harness) {
    let p = h.run(&["plan", "--target", "fw1"]);
    assert_eq!(p.status.code(), Some(0), "{}", text(&p));
}

fn apply(h: &Harness) -> std::process::Output {
    h.run(&["apply", "--yes", h.plan_file("fw1").to_str().unwrap()])
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

#[test]
fn stale_plan_is_refused() {
    let h = Harness::new();
    h.commit_list(&ips(0..3), "three");
    assert_eq!(h.plan_and_apply("fw1").status.code(), Some(0));
    h.commit_list(&ips(0..4), "four");
    plan_ok(&h);
    // Someone edits one of our objects on the device after the plan was made.
    let out = h.sim(0).run(&[
        "config firewall address",
        "edit \"bo-192.0.2.16\"",
        "set comment \"hand edit\"",
        "next",
        "end",
    ]);
    assert!(!out.iter().any(|l| l.contains("fail")), "{out:?}");
    let before = h.state(0);
    let a = apply(&h);
    assert_eq!(a.status.code(), Some(3), "{}", text(&a));
    assert!(
        stderr(&a).contains("stale plan: device changed since plan"),
        "{}",
        text(&a)
    );
    assert_eq!(
        names(&h.state(0), "address"),
        names(&before, "address"),
        "a stale plan changed the device"
    );
}

#[test]
fn tampered_plan_is_refused() {
    let h = Harness::new();
    h.commit_list(&ips(0..3), "three");
    plan_ok(&h);
    let path = h.plan_file("fw1");
    let orig: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();

    // 1. Script edited, hash left alone.
    let mut p = orig.clone();
    let script = p["script"]
        .as_str()
        .unwrap()
        .replace("end\n", "end\nconfig system admin\nend\n");
    p["script"] = script.clone().into();
    std::fs::write(&path, serde_json::to_string_pretty(&p).unwrap()).unwrap();
    let a = apply(&h);
    assert_eq!(a.status.code(), Some(3), "{}", text(&a));
    assert!(stderr(&a).contains("sha256"), "{}", text(&a));

    // 2. Script and hash edited together: the allow-list catches the foreign command.
    p["script_sha256"] = sha256(&script).into();
    std::fs::write(&path, serde_json::to_string_pretty(&p).unwrap()).unwrap();
    let a = apply(&h);
    assert_eq!(a.status.code(), Some(3), "{}", text(&a));
    assert!(stderr(&a).contains("never sends"), "{}", text(&a));

    // 3. An allowed-looking but different script with a matching hash: recomputation catches it.
    let mut p = orig.clone();
    let script = p["script"]
        .as_str()
        .unwrap()
        .replace("192.0.2.18 255.255.255.255", "192.0.2.0 255.255.255.0");
    p["script"] = script.clone().into();
    p["script_sha256"] = sha256(&script).into();
    std::fs::write(&path, serde_json::to_string_pretty(&p).unwrap()).unwrap();
    let a = apply(&h);
    assert_eq!(a.status.code(), Some(3), "{}", text(&a));
    assert!(stderr(&a).contains("not what commit"), "{}", text(&a));
    assert!(
        names(&h.state(0), "address").is_empty(),
        "a tampered plan reached the device"
    );
}

fn sha256(s: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(s.as_bytes()))
}

#[test]
fn unapproved_commit_is_refused() {
    let h = Harness::new();
    h.commit_list(&ips(0..2), "main");
    git(h.path(), &["checkout", "-q", "-b", "feature"]);
    h.commit_list(&ips(0..3), "not reviewed");
    plan_ok(&h);
    let a = apply(&h);
    assert_eq!(a.status.code(), Some(3), "{}", text(&a));
    assert!(
        stderr(&a).contains("not reachable from the approved branch `main`"),
        "{}",
        text(&a)
    );
    assert!(names(&h.state(0), "address").is_empty());
    // Once merged, the same plan is fine.
    git(h.path(), &["checkout", "-q", "main"]);
    git(h.path(), &["merge", "-q", "--ff-only", "feature"]);
    let a = apply(&h);
    assert_eq!(a.status.code(), Some(0), "{}", text(&a));
}

#[test]
fn host_key_mismatch_and_unknown_keys_are_refused() {
    let h = Harness::with(vec![
        ("fw1", sim_options(Profile::default())),
        ("other", sim_options(Profile::default())),
    ]);
    h.commit_list(&ips(0..2), "two");
    // known_hosts records the other simulator's key for fw1's address.
    let other_key = h.sim(1).known_hosts_line();
    let other_key = other_key.split_once(' ').unwrap().1;
    let kh = format!("[127.0.0.1]:{} {other_key}\n", h.sim(0).addr.port());
    std::fs::write(h.path().join("known_hosts"), &kh).unwrap();
    let p = h.run(&["plan", "--target", "fw1"]);
    assert_eq!(p.status.code(), Some(3), "{}", text(&p));
    let fp = h.sim(0).host_key_fingerprint();
    assert!(stderr(&p).contains("HOST KEY MISMATCH"), "{}", text(&p));
    assert!(
        stderr(&p).contains(&fp),
        "the offered fingerprint is not shown: {}",
        text(&p)
    );
    assert_eq!(h.sim(0).lines_received(), 0);

    // Unknown key: refused, then recorded explicitly with --accept-new-host-key.
    std::fs::write(h.path().join("known_hosts"), "").unwrap();
    let p = h.run(&["plan", "--target", "fw1"]);
    assert_eq!(p.status.code(), Some(3), "{}", text(&p));
    assert!(
        stderr(&p).contains("unknown host key") && stderr(&p).contains(&fp),
        "{}",
        text(&p)
    );
    let p = h.run(&["plan", "--target", "fw1", "--accept-new-host-key"]);
    assert_eq!(p.status.code(), Some(0), "{}", text(&p));
    let kh = std::fs::read_to_string(h.path().join("known_hosts")).unwrap();
    assert!(
        kh.contains(&format!("[127.0.0.1]:{}", h.sim(0).addr.port())),
        "{kh}"
    );
    let p = h.run(&["plan", "--target", "fw1"]);
    assert_eq!(p.status.code(), Some(0), "{}", text(&p));

    // A pinned fingerprint that does not match is refused too.
    std::fs::write(h.path().join("known_hosts"), "").unwrap();
    let mut h = h;
    h.target_extra = format!(
        "    host_key_fingerprint: \"{}\"\n",
        h.sim(1).host_key_fingerprint()
    );
    h.write_config();
    let p = h.run(&["plan", "--target", "fw1"]);
    assert_eq!(p.status.code(), Some(3), "{}", text(&p));
    h.target_extra = format!("    host_key_fingerprint: \"{fp}\"\n");
    h.write_config();
    let p = h.run(&["plan", "--target", "fw1"]);
    assert_eq!(p.status.code(), Some(0), "{}", text(&p));
}

#[test]
fn table_full_mid_script_aborts_and_touches_nothing_else() {
    // The table fills up between plan and apply (someone else's objects, which do not make
    // the plan stale), and the device does not state its limit: the fourth address is refused
    // at its `edit`. (A limit the device states is refused by `plan` before anything is sent:
    // tests/capacity.rs.)
    let h = Harness::new();
    h.hand_made();
    let before = h.state(0);
    h.commit_list(&ips(0..6), "six");
    plan_ok(&h);
    h.sim(0).fail_lines(FailRule {
        pattern: "edit \"bo-192.0.2.19\"".into(),
        code: -4,
        message: "Maximum number of entries has been reached".into(),
        times: None,
    });
    let a = apply(&h);
    assert_eq!(a.status.code(), Some(1), "{}", text(&a));
    let err = stderr(&a);
    assert!(err.contains("Maximum number of entries"), "{err}");
    assert!(err.contains("lines 1-13 were applied"), "{err}");
    let st = h.state(0);
    assert_no_match_all(&st);
    assert_eq!(
        st.object("root", "firewall address", "office-lan"),
        before.object("root", "firewall address", "office-lan")
    );
    assert_eq!(
        st.object("root", "firewall addrgrp", "office"),
        before.object("root", "firewall addrgrp", "office")
    );
    // The transcript shows `abort`, never `next`, after the failing line.
    let t = transcript(&h);
    let fail_at = t
        .find("Maximum number of entries")
        .expect("error in transcript");
    let after = &t[fail_at..];
    assert!(
        after.contains(">>> abort") || !after.contains(">>> next"),
        "{after}"
    );
    assert!(
        !after.contains(">>> next"),
        "next sent after a failure:\n{after}"
    );
}

#[test]
fn rejected_set_inside_edit_sends_abort_not_next() {
    let h = Harness::new();
    h.hand_made();
    h.commit_list(&ips(0..5), "five");
    plan_ok(&h);
    h.sim(0).fail_lines(FailRule {
        pattern: "set subnet 192.0.2.18".into(),
        code: -9,
        message: "value parse error before '192.0.2.18'".into(),
        times: None,
    });
    let a = apply(&h);
    assert_eq!(a.status.code(), Some(1), "{}", text(&a));
    let st = h.state(0);
    assert_no_match_all(&st);
    assert!(
        st.object("root", "firewall address", "bo-192.0.2.18")
            .is_none(),
        "half-made object was saved"
    );
    assert!(
        st.object("root", "firewall address", "office-lan")
            .is_some()
    );
    let t = transcript(&h);
    let after = &t[t.find("value parse error").unwrap()..];
    assert!(after.contains(">>> abort"), "{after}");
    assert!(!after.contains(">>> next"), "{after}");
    // Without the fault, a new plan converges.
    h.sim(0).clear_faults();
    let a = h.plan_and_apply("fw1");
    assert_eq!(a.status.code(), Some(0), "{}", text(&a));
    let p = h.run(&["plan", "--target", "fw1", "--detailed-exitcode"]);
    assert_eq!(p.status.code(), Some(0), "{}", text(&p));
}

fn transcript(h: &Harness) -> String {
    let mut files: Vec<_> = std::fs::read_dir(h.path().join("plans"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".transcript.log"))
        .collect();
    files.sort();
    std::fs::read_to_string(files.last().expect("a transcript")).unwrap()
}

#[test]
fn dropped_connection_then_replan_converges() {
    let h = Harness::new();
    h.hand_made();
    let initial = h.state(0);
    // 45 addresses at 4 lines each plus the group: a script of about 200 lines.
    h.commit_list(&ips(0..45), "many");
    for (at, execute) in [
        (1u64, false),
        (2, true),
        (37, true),
        (120, false),
        (185, true),
        (199, true),
    ] {
        h.sim(0).set_state(initial.clone());
        plan_ok(&h);
        let n = h.plan_json("fw1")["script"]
            .as_str()
            .unwrap()
            .lines()
            .count();
        assert!(n >= 195, "script has only {n} lines");
        // Setup traffic comes first: `get system status`, `get system central-management`,
        // `print tablesize`, `get system resource-limits`, four `show`s.
        let setup = 8;
        h.sim(0).drop_after_lines(setup + at, execute);
        let a = apply(&h);
        assert_eq!(a.status.code(), Some(1), "drop at {at}: {}", text(&a));
        let expect = format!("connection lost after {} of {n} lines", at - 1);
        assert!(
            stderr(&a).contains(&expect),
            "drop at {at}: expected `{expect}`: {}",
            text(&a)
        );
        h.sim(0).clear_faults();
        assert_no_match_all(&h.state(0));
        // A new plan from whatever state the device is in now converges.
        let a = h.plan_and_apply("fw1");
        assert_eq!(a.status.code(), Some(0), "drop at {at}: {}", text(&a));
        let p = h.run(&["plan", "--target", "fw1", "--detailed-exitcode"]);
        assert_eq!(p.status.code(), Some(0), "drop at {at}: {}", text(&p));
        let st = h.state(0);
        assert_eq!(
            names(&st, "address")
                .iter()
                .filter(|n| n.starts_with("bo-"))
                .count(),
            45
        );
        assert_eq!(
            st.object("root", "firewall address", "office-lan"),
            initial.object("root", "firewall address", "office-lan")
        );
    }
}

#[test]
fn paging_multi_vdom_and_transactions() {
    let mut o = sim_options(Profile {
        vdom_mode: true,
        ..Profile::default()
    });
    o.page_lines = Some(7);
    o.banner = Some("Authorised access only".into());
    let mut h = Harness::with(vec![("fw1", o)]);
    h.target_extra = "    vdom: root\n    transaction: true\n".into();
    h.commit_list(&ips(0..20), "twenty");
    let p = h.run(&["plan", "--target", "fw1"]);
    assert_eq!(p.status.code(), Some(0), "{}", text(&p));
    let script = h.plan_json("fw1")["script"].as_str().unwrap().to_string();
    assert!(
        script.starts_with("execute config-transaction start\nconfig vdom\nedit root\n"),
        "{script}"
    );
    let a = h.run(&["apply", "--yes", h.plan_file("fw1").to_str().unwrap()]);
    assert_eq!(a.status.code(), Some(0), "{}", text(&a));
    // Paged reads (7 lines per page) of 20+ objects parse completely: the next plan is empty.
    let p = h.run(&["plan", "--target", "fw1", "--detailed-exitcode"]);
    assert_eq!(p.status.code(), Some(0), "{}", text(&p));
    let st = h.state(0);
    assert_eq!(names(&st, "address").len(), 20);
    assert_eq!(st.console.output, "more");
    // A VDOM that does not exist is reported, never created by `edit`.
    h.target_extra = "    vdom: nosuch\n".into();
    h.write_config();
    let p = h.run(&["plan", "--target", "fw1"]);
    assert_eq!(p.status.code(), Some(1), "{}", text(&p));
    assert!(
        stderr(&p).contains("VDOM `nosuch` does not exist"),
        "{}",
        text(&p)
    );
    assert!(
        !h.state(0).vdoms.contains_key("nosuch"),
        "plan created a VDOM"
    );
    // Without `vdom:` the multi-VDOM device is refused with a clear message.
    h.target_extra = String::new();
    h.write_config();
    let p = h.run(&["plan", "--target", "fw1"]);
    assert_eq!(p.status.code(), Some(1), "{}", text(&p));
    assert!(stderr(&p).contains("multiple VDOMs"), "{}", text(&p));
}

#[test]
fn large_removal_needs_allow_large_change() {
    let mut h = Harness::new();
    h.guardrails = "  max_removals: 25%\n".into();
    h.commit_list(&ips(0..8), "eight");
    assert_eq!(h.plan_and_apply("fw1").status.code(), Some(0));
    h.commit_list(&ips(0..2), "two");
    let p = h.run(&["plan", "--target", "fw1"]);
    assert_eq!(p.status.code(), Some(3), "{}", text(&p));
    assert!(stderr(&p).contains("--allow-large-change"), "{}", text(&p));
    let p = h.run(&["plan", "--target", "fw1", "--allow-large-change"]);
    assert_eq!(p.status.code(), Some(0), "{}", text(&p));
}

#[test]
fn apply_without_a_terminal_needs_yes() {
    let h = Harness::new();
    h.commit_list(&ips(0..2), "two");
    plan_ok(&h);
    let a = h.run(&["apply", h.plan_file("fw1").to_str().unwrap()]);
    assert_eq!(a.status.code(), Some(3), "{}", text(&a));
    assert!(stderr(&a).contains("--yes"), "{}", text(&a));
    assert!(names(&h.state(0), "address").is_empty());
    let a = h.run(&["apply", "--dry-run", h.plan_file("fw1").to_str().unwrap()]);
    assert_eq!(a.status.code(), Some(0), "{}", text(&a));
    assert!(
        names(&h.state(0), "address").is_empty(),
        "dry run changed the device"
    );
}

#[test]
fn several_targets_all_and_shards() {
    let h = Harness::with(vec![
        ("fw1", sim_options(Profile::default())),
        (
            "fw2",
            sim_options(Profile {
                hostname: "FGT-2".into(),
                ..Profile::default()
            }),
        ),
        ("fw3", sim_options(Profile::default())),
    ]);
    h.commit_list(&ips(0..3), "three");
    let p = h.run(&["plan", "--all", "--detailed-exitcode", "--jobs", "2"]);
    assert_eq!(p.status.code(), Some(2), "{}", text(&p));
    let out = String::from_utf8_lossy(&p.stdout);
    assert!(out.contains("TARGET") && out.contains("fw2"), "{out}");
    let a = h.run(&["apply", "--yes", "plans"]);
    assert_eq!(a.status.code(), Some(0), "{}", text(&a));
    for i in 0..3 {
        assert_eq!(names(&h.state(i), "address").len(), 3, "target {i}");
    }
    // Shards 1/2 and 2/2 split the targets between them, together covering all.
    let mut seen = Vec::new();
    for s in ["1/2", "2/2"] {
        let dir = h.path().join(format!("shard{}", &s[..1]));
        let p = h.run(&[
            "plan",
            "--all",
            "--shard",
            s,
            "--out",
            dir.to_str().unwrap(),
        ]);
        assert_eq!(p.status.code(), Some(0), "{}", text(&p));
        for e in std::fs::read_dir(&dir).into_iter().flatten() {
            seen.push(e.unwrap().file_name().to_string_lossy().to_string());
        }
    }
    seen.sort();
    assert_eq!(seen, ["fw1.plan.json", "fw2.plan.json", "fw3.plan.json"]);
}

#[test]
fn the_sim_state_is_not_rewritten_by_hand_made_values() {
    // Sanity check of the harness itself: `Value` and `run` behave as the tests assume.
    let h = Harness::new();
    h.hand_made();
    let st = h.state(0);
    let o = st.object("root", "firewall addrgrp", "office").unwrap();
    assert_eq!(
        o.fields.get("member"),
        Some(&Value::List(vec!["office-lan".into()]))
    );
}

#[test]
fn private_key_authentication_without_a_password() {
    use blockops::sim::fortigate::SimOptions;
    use russh::keys::ssh_key::{LineEnding, private::Ed25519Keypair};
    let seed: [u8; 32] = rand::random();
    let key = russh::keys::PrivateKey::from(Ed25519Keypair::from_seed(&seed));
    let o = SimOptions {
        password: None,
        authorized_keys: vec![key.public_key().clone()],
        ..SimOptions::default()
    };
    let mut h = Harness::with(vec![("fw1", o)]);
    let key_path = h.path().join("id_test");
    std::fs::write(
        &key_path,
        key.to_openssh(LineEnding::LF).unwrap().as_bytes(),
    )
    .unwrap();
    h.target_extra = format!("    private_key: {}\n", key_path.display());
    h.write_config();
    // No password at all: the config's `password` env var is unset for this run.
    let cfg = std::fs::read_to_string(h.path().join("blockops.yaml")).unwrap();
    std::fs::write(
        h.path().join("blockops.yaml"),
        cfg.replace(&format!("    password: {{env: {PASSWORD_ENV}}}\n"), ""),
    )
    .unwrap();
    h.set_blocklist(&ips(0..2));
    h.commit("keys");
    let p = h
        .cmd()
        .env_remove(PASSWORD_ENV)
        .args(["plan", "--target", "fw1"])
        .output()
        .unwrap();
    assert_eq!(p.status.code(), Some(0), "{}", text(&p));
    let a = h
        .cmd()
        .env_remove(PASSWORD_ENV)
        .args(["apply", "--yes", h.plan_file("fw1").to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(a.status.code(), Some(0), "{}", text(&a));
    assert_eq!(names(&h.state(0), "address").len(), 2);
    // A wrong key is rejected (exit 1, not a hang).
    let other = russh::keys::PrivateKey::from(Ed25519Keypair::from_seed(&[7u8; 32]));
    std::fs::write(
        &key_path,
        other.to_openssh(LineEnding::LF).unwrap().as_bytes(),
    )
    .unwrap();
    let p = h
        .cmd()
        .env_remove(PASSWORD_ENV)
        .args(["plan", "--target", "fw1"])
        .output()
        .unwrap();
    assert_eq!(p.status.code(), Some(1), "{}", text(&p));
    assert!(stderr(&p).contains("rejected"), "{}", text(&p));
}

#[test]
fn failure_inside_a_transaction_discards_everything() {
    let mut h = Harness::new();
    h.target_extra = "    transaction: true\n".into();
    h.hand_made();
    let before = h.state(0);
    h.commit_list(&ips(0..6), "six");
    plan_ok(&h);
    h.sim(0).fail_lines(FailRule {
        pattern: "set subnet 192.0.2.20".into(),
        code: -9,
        message: "value parse error before '192.0.2.20'".into(),
        times: None,
    });
    let a = apply(&h);
    assert_eq!(a.status.code(), Some(1), "{}", text(&a));
    assert!(
        stderr(&a).contains("execute config-transaction abort"),
        "{}",
        text(&a)
    );
    let st = h.state(0);
    // The addresses created before the failing line were staged only, then discarded.
    assert_eq!(
        names(&st, "address"),
        names(&before, "address"),
        "transaction was not rolled back"
    );
    assert_no_match_all(&st);
}

#[test]
fn confirmation_on_a_terminal() {
    // `script` gives the binary a pseudo-terminal on stdin.
    let h = Harness::new();
    h.commit_list(&ips(0..2), "two");
    plan_ok(&h);
    let bin = assert_cmd::cargo::cargo_bin("blockops");
    let cmdline = format!("{} apply {}", bin.display(), h.plan_file("fw1").display());
    let run = |answer: &str| {
        let mut child = std::process::Command::new("script")
            .args(["-qec", &cmdline, "/dev/null"])
            .current_dir(h.path())
            .env(PASSWORD_ENV, PASSWORD)
            .env("BLOCKOPS_TODAY", TODAY)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(answer.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        drop(stdin);
        out
    };
    let o = run("no\n");
    assert_ne!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("Apply these changes?"),
        "{}",
        text(&o)
    );
    assert!(
        names(&h.state(0), "address").is_empty(),
        "applied without a yes"
    );
    let o = run("yes\n");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(names(&h.state(0), "address").len(), 2);
}

#[test]
fn silent_server_times_out_instead_of_hanging() {
    let h = Harness::new();
    // A TCP server that accepts and never says a word.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let _keep = std::thread::spawn(move || {
        let mut conns = Vec::new();
        for c in silent.incoming().take(2) {
            conns.push(c);
        }
        std::thread::sleep(std::time::Duration::from_secs(30));
    });
    h.commit_list(&ips(0..1), "one");
    let cfg = std::fs::read_to_string(h.path().join("blockops.yaml")).unwrap();
    let cfg = cfg
        .replace(
            &format!("port: {}", h.sim(0).addr.port()),
            &format!("port: {port}"),
        )
        .replace("connect_timeout: 5s", "connect_timeout: 1s");
    std::fs::write(h.path().join("blockops.yaml"), cfg).unwrap();
    let t = std::time::Instant::now();
    let p = h.run(&["plan", "--target", "fw1"]);
    assert_eq!(p.status.code(), Some(1), "{}", text(&p));
    assert!(stderr(&p).contains("timed out"), "{}", text(&p));
    assert!(
        t.elapsed() < std::time::Duration::from_secs(10),
        "took {:?}",
        t.elapsed()
    );
}

/// Issue #11 point 1: commit A adds an indicator, commit B reverts it; B's plan is empty, and
/// A's plan, still waiting for its manual apply, must not roll the device forward to A.
#[test]
fn superseded_plan_is_refused() {
    let h = Harness::new();
    h.commit_list(&ips(0..3), "base");
    assert_eq!(h.plan_and_apply("fw1").status.code(), Some(0));
    h.commit_list(&ips(0..4), "A: add one");
    let plan_a = h.path().join("plans/a.plan.json");
    let p = h.run(&["plan", "--target", "fw1", "--out", plan_a.to_str().unwrap()]);
    assert_eq!(p.status.code(), Some(0), "{}", text(&p));
    h.commit_list(&ips(0..3), "B: revert A");
    let plan_b = h.path().join("plans/b.plan.json");
    let p = h.run(&["plan", "--target", "fw1", "--out", plan_b.to_str().unwrap()]);
    assert_eq!(p.status.code(), Some(0), "{}", text(&p));
    let a = h.run(&["apply", "--yes", plan_b.to_str().unwrap()]);
    assert_eq!(a.status.code(), Some(0), "{}", text(&a));

    let a = h.run(&["apply", "--yes", plan_a.to_str().unwrap()]);
    assert_eq!(a.status.code(), Some(3), "{}", text(&a));
    assert!(stderr(&a).contains("superseded"), "{}", text(&a));
    assert!(
        h.state(0)
            .object("root", "firewall address", "bo-192.0.2.19")
            .is_none(),
        "the superseded plan reached the device"
    );
    // Explicitly allowed, it applies (the device did not change since it was made).
    let a = h.run(&[
        "apply",
        "--yes",
        "--allow-superseded",
        plan_a.to_str().unwrap(),
    ]);
    assert_eq!(a.status.code(), Some(0), "{}", text(&a));
    assert!(
        h.state(0)
            .object("root", "firewall address", "bo-192.0.2.19")
            .is_some()
    );
}

/// A plan behind the tip is not superseded when the newer commits render the same desired
/// state (a README edit): applying it reaches the tip's state anyway.
#[test]
fn plan_behind_a_tip_with_the_same_desired_state_applies() {
    let h = Harness::new();
    h.commit_list(&ips(0..3), "three");
    plan_ok(&h);
    std::fs::write(h.path().join("NOTES.md"), "unrelated\n").unwrap();
    h.commit("docs only");
    let a = apply(&h);
    assert_eq!(a.status.code(), Some(0), "{}", text(&a));
    assert!(
        stderr(&a).contains("renders the same desired state"),
        "{}",
        text(&a)
    );
}

/// Issue #8 item 11: a second `apply` on the same device waits for the first (bounded) or
/// refuses at once; it never pushes beside it. The lock is held by the test itself, so
/// nothing depends on timing.
#[test]
fn apply_waits_for_the_device_lock_or_refuses() {
    let h = Harness::new();
    h.commit_list(&ips(0..3), "three");
    plan_ok(&h);
    let held = h.hold_lock(0);
    let plan = h.plan_file("fw1");
    let lines_before = h.sim(0).lines_received();
    let a = h.run(&[
        "apply",
        "--yes",
        "--lock-wait",
        "0s",
        plan.to_str().unwrap(),
    ]);
    assert_eq!(a.status.code(), Some(3), "{}", text(&a));
    assert!(
        stderr(&a).contains("another blockops apply is changing this device")
            && stderr(&a).contains("held by the test"),
        "{}",
        text(&a)
    );
    assert_eq!(
        h.sim(0).lines_received(),
        lines_before,
        "a locked-out apply talked to the device"
    );

    let mut child = h.spawn(&[
        "apply",
        "--yes",
        "--lock-wait",
        "60s",
        plan.to_str().unwrap(),
    ]);
    let mut err = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    let mut line = String::new();
    while std::io::BufRead::read_line(&mut err, &mut line).unwrap() > 0 {
        seen.push_str(&line);
        if line.contains("waiting for another blockops apply") {
            break;
        }
        line.clear();
    }
    assert!(
        seen.contains("waiting for another blockops apply"),
        "{seen}"
    );
    assert_eq!(
        h.sim(0).lines_received(),
        lines_before,
        "the waiting apply talked to the device"
    );
    drop(held);
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{seen}{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(names(&h.state(0), "address").len(), 3);
    // The same plan once more: the device moved on, so it is stale.
    let a = apply(&h);
    assert_eq!(a.status.code(), Some(3), "{}", text(&a));
    assert!(stderr(&a).contains("stale plan"), "{}", text(&a));
}

/// Issue #8 item 11, the race itself: two `apply` runs of one plan at the same time push once;
/// the other finds the device changed (whichever order the lock gives them).
#[test]
fn two_concurrent_applies_of_one_plan_push_once() {
    let h = Harness::new();
    h.commit_list(&ips(0..5), "five");
    plan_ok(&h);
    let plan = h.plan_file("fw1");
    let args = ["apply", "--yes", plan.to_str().unwrap()];
    let (a, b) = (h.spawn(&args), h.spawn(&args));
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    let mut codes = [a.status.code(), b.status.code()];
    codes.sort();
    assert_eq!(codes, [Some(0), Some(3)], "{}\n{}", text(&a), text(&b));
    let refused = if a.status.code() == Some(3) { &a } else { &b };
    assert!(stderr(refused).contains("stale plan"), "{}", text(refused));
    assert_eq!(names(&h.state(0), "address").len(), 5);
}
