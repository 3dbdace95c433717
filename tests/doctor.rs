//! `blockops doctor` against both simulators playing the real behaviour: every FortiGate
//! administrator role, a FortiManager-managed unit, a unit without the groups or without a
//! deny policy, an unknown host key, a wrong password, each Cybereason login failure mode and
//! a source that finds nothing; the JSON document and the exit codes. In every case doctor
//! changes nothing: the FortiGate's state and global settings stay as they were, every line
//! it sent is a read, and the Cybereason simulator saw no write endpoint.
mod support;

use blockops::sim::cybereason::{
    CybereasonSim, Endpoint, Fault, FaultKind, Fixture, Quirks, SimConfig, SimHandle,
};
use blockops::sim::fortigate::{AccessProfile, AdminOptions, Fortimanager, Profile, SimOptions};
use serde_json::Value;
use support::fgt::*;

const CR_PASSWORD: &str = "Doctor-CR-pw-91x";
const CR_ENV: &str = "BO_TEST_CR_PASSWORD";

const FIXTURE: &str = r#"
reputations:
  - {key: 203.0.113.9, comment: "c2"}
  - {key: 44d88612fea8a8f36de82e1278abb02f}
malops:
  - {guid: "11.-4319097116418812958", created: -3d, updated: -1d, management_status: OPEN}
  - {guid: CLOSEDMALOP, created: -2d, management_status: CLOSED}
  - {guid: FPMALOP, created: -2d, management_status: FP}
connections:
  - {remote: 203.0.113.9, domain: c2.evil.example, time: -1d, classification: blacklist, malops: ["11.-4319097116418812958"]}
domains:
  - {name: dropper.malware.example, classification: malware}
"#;

/// Lines doctor may send to a FortiGate: reads, and entering/leaving existing scopes. `prev` is
/// the line sent before: `edit` is only allowed right after `config vdom` (entering an
/// existing VDOM), and a `config firewall …` table must be left with `end` at once (no `edit`,
/// `set` or `delete` inside it).
fn is_read(prev: Option<&str>, line: &str) -> bool {
    let l = line.trim();
    if prev.is_some_and(|p| p.starts_with("config firewall ")) {
        return l == "end";
    }
    if l.starts_with("edit ") {
        return prev == Some("config vdom");
    }
    l.starts_with("get ")
        || l.starts_with("show ")
        || l == "get"
        || l == "print tablesize"
        || l == "execute config-transaction status"
        || l == "end"
        || l == "exit"
        || l == "config vdom"
        || l == "config global"
        || l.starts_with("config firewall ")
}

#[test]
fn the_read_only_rule_of_these_tests_rejects_writes() {
    // Positive control for `is_read`: it must be able to fail.
    assert!(!is_read(Some("config firewall address"), "edit \"bo-x\""));
    assert!(!is_read(Some("config firewall address"), "delete \"bo-x\""));
    assert!(!is_read(None, "set output standard"));
    assert!(!is_read(Some("end"), "edit root"));
    assert!(!is_read(None, "config system console"));
    assert!(!is_read(None, "execute config-transaction start"));
    assert!(is_read(Some("config vdom"), "edit root"));
    assert!(is_read(Some("config firewall address"), "end"));
}

/// The lines doctor sent (`>>> line` in the transcript).
fn sent(transcript: &str) -> Vec<String> {
    transcript
        .lines()
        .filter_map(|l| l.strip_prefix(">>> "))
        .map(str::to_string)
        .collect()
}

struct Setup {
    h: Harness,
    cr: Option<SimHandle>,
    /// Extra lines under `cybereason:`.
    cr_extra: String,
    logs: tempfile::TempDir,
}

fn cr_sim(fixture: &str, f: impl FnOnce(&mut SimConfig)) -> SimHandle {
    let mut cfg = SimConfig {
        fixture: Fixture::parse(fixture).expect("fixture"),
        password: CR_PASSWORD.into(),
        ..SimConfig::default()
    };
    f(&mut cfg);
    CybereasonSim::spawn(cfg).expect("simulator")
}

impl Setup {
    fn new(fw: Vec<(&str, SimOptions)>, cr: Option<SimHandle>) -> Setup {
        let h = Harness::with(fw);
        let s = Setup {
            h,
            cr,
            cr_extra: String::new(),
            logs: tempfile::tempdir().unwrap(),
        };
        s.write_config();
        s
    }

    fn write_config(&self) {
        self.h.write_config();
        if let Some(cr) = &self.cr {
            let p = self.h.path().join("blockops.yaml");
            let mut y = std::fs::read_to_string(&p).unwrap();
            y.push_str(&format!(
                "cybereason:\n  url: {}\n  username: api@blockops.example\n  password: {{env: {CR_ENV}}}\n  timeout: 5s\n  retries: 1\n  retry_backoff: 5ms\n",
                cr.url()
            ));
            y.push_str(&self.cr_extra);
            std::fs::write(p, y).unwrap();
        }
    }

    fn doctor(&self, args: &[&str]) -> std::process::Output {
        let mut all = vec!["doctor", "--transcripts"];
        let logs = self.logs.path().to_str().unwrap().to_string();
        all.push(&logs);
        all.extend_from_slice(args);
        self.h
            .cmd()
            .env(CR_ENV, CR_PASSWORD)
            .args(&all)
            .output()
            .unwrap()
    }

    fn json(&self, args: &[&str]) -> (Value, std::process::Output) {
        let mut a = vec!["--format", "json"];
        a.extend_from_slice(args);
        let out = self.doctor(&a);
        let v: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", text(&out)));
        (v, out)
    }

    fn transcript(&self, target: &str) -> String {
        std::fs::read_to_string(self.logs.path().join(format!("{target}.doctor.log")))
            .unwrap_or_default()
    }

    /// Nothing changed on the device; every line sent was a read; no secret leaked.
    fn assert_read_only(
        &self,
        i: usize,
        before: &blockops::sim::fortigate::DeviceState,
        target: &str,
        out: &std::process::Output,
    ) {
        assert_eq!(&self.h.state(i), before, "the device's state changed");
        assert_eq!(self.h.sim(i).global_changes(), Vec::<String>::new());
        let t = self.transcript(target);
        let lines = sent(&t);
        let mut prev: Option<&str> = None;
        for l in &lines {
            assert!(
                is_read(prev, l),
                "doctor sent `{l}` (after {prev:?}), which is not a read"
            );
            assert!(!l.contains("console"), "doctor sent `{l}`");
            prev = Some(l.as_str());
        }
        let all = format!(
            "{}{}{t}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!all.contains(PASSWORD), "the device password leaked");
        assert!(!all.contains(CR_PASSWORD), "the Cybereason password leaked");
        if let Some(cr) = &self.cr {
            for r in cr.requests() {
                assert!(
                    !matches!(
                        r.endpoint,
                        Endpoint::ClassificationUpdate | Endpoint::CrimesStatus
                    ),
                    "doctor called the write endpoint {} {}",
                    r.method,
                    r.path
                );
            }
        }
    }
}

/// The check `subject`/`check` of a JSON report.
fn check<'a>(v: &'a Value, subject: &str, check: &str) -> &'a Value {
    v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["subject"] == subject && c["check"] == check)
        .unwrap_or_else(|| panic!("no check {subject}/{check} in {v:#}"))
}

fn status<'a>(v: &'a Value, subject: &str, c: &str) -> &'a str {
    check(v, subject, c)["status"].as_str().unwrap()
}

fn summary(v: &Value, subject: &str, c: &str) -> String {
    check(v, subject, c)["summary"]
        .as_str()
        .unwrap()
        .to_string()
}

fn with_admin(admin: AdminOptions, vdom_mode: bool) -> SimOptions {
    let mut o = sim_options(Profile {
        vdom_mode,
        ..Profile::default()
    });
    o.admin = admin;
    o
}

/// Seed a deny policy using the managed groups (as a super_admin on the console).
fn seed_deny_policy(h: &Harness, i: usize, vdom: Option<&str>) {
    let mut lines = Vec::new();
    if let Some(v) = vdom {
        lines.extend(["config vdom".to_string(), format!("edit {v}")]);
    }
    // The harness starts without FortiOS' factory objects: add sources for the policy.
    for l in [
        "config firewall address",
        "edit \"any4\"",
        "next",
        "end",
        "config firewall address6",
        "edit \"any6\"",
        "next",
        "end",
    ] {
        lines.push(l.to_string());
    }
    for l in [
        "config firewall policy",
        "edit 1",
        "set name \"block-blockops\"",
        "set srcintf \"port1\"",
        "set dstintf \"port2\"",
        "set srcaddr \"any4\"",
        "set dstaddr \"blockops-v4\"",
        "set srcaddr6 \"any6\"",
        "set dstaddr6 \"blockops-v6\"",
        "set schedule \"always\"",
        "set service \"ALL\"",
        "set action deny",
        "next",
        "end",
    ] {
        lines.push(l.to_string());
    }
    if vdom.is_some() {
        lines.push("end".into());
    }
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    let out = h.sim(i).run(&refs);
    assert!(
        !out.join("\n").contains("Command fail"),
        "seeding the policy failed: {out:?}"
    );
}

/// A unit with blockops' groups applied and a deny policy using them.
fn prepared(fw: Vec<(&str, SimOptions)>, cr: Option<SimHandle>, vdom: Option<&str>) -> Setup {
    let s = Setup::new(fw, cr);
    s.h.commit_list(&ips(0..5), "five");
    s.write_config();
    let a = s.h.plan_and_apply("fw1");
    assert_eq!(a.status.code(), Some(0), "{}", text(&a));
    seed_deny_policy(&s.h, 0, vdom);
    s
}

#[test]
fn every_check_passes_against_both_simulators_and_nothing_changes() {
    let cr = cr_sim(FIXTURE, |_| {});
    let s = prepared(
        vec![("fw1", sim_options(Profile::default()))],
        Some(cr),
        None,
    );
    let before = s.h.state(0);
    let (v, out) = s.json(&[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(v["schema_version"], 1);
    assert_eq!(v["command"], "doctor");
    assert_eq!(v["passed"], true);
    assert_eq!(v["counts"]["fail"], 0, "{v:#}");
    assert_eq!(v["counts"]["warn"], 0, "{v:#}");
    for c in v["checks"].as_array().unwrap() {
        assert_eq!(c["status"], "pass", "{c:#}");
        for k in ["subject", "check", "status", "summary", "fix", "facts"] {
            assert!(c.get(k).is_some(), "key {k} missing in {c:#}");
        }
    }
    for c in [
        "tcp",
        "host-key",
        "login",
        "scope",
        "fortimanager",
        "transactions",
        "tables",
        "groups",
        "deny-policy",
        "access",
    ] {
        status(&v, "target fw1", c);
    }
    assert!(
        summary(&v, "target fw1", "deny-policy")
            .contains("policy 1 \"block-blockops\" (deny in dstaddr)")
    );
    assert!(
        summary(&v, "target fw1", "tables").contains("adds 0"),
        "{}",
        summary(&v, "target fw1", "tables")
    );
    assert_eq!(
        check(&v, "target fw1", "host-key")["facts"]["fingerprint"],
        s.h.sim(0).host_key_fingerprint()
    );
    // Cybereason: every source with its counts; the MalOp statuses and which of them count.
    for c in [
        "settings",
        "dns",
        "tcp",
        "tls",
        "login",
        "health",
        "reputation",
        "connections",
        "domains",
        "malops",
    ] {
        assert_eq!(status(&v, "cybereason", c), "pass", "{c}");
    }
    let cn = check(&v, "cybereason", "connections");
    assert_eq!(
        cn["facts"]["facet"],
        "remoteAddressMaliciousClassificationType"
    );
    assert_eq!(cn["facts"]["matched"], 1);
    let m = summary(&v, "cybereason", "malops");
    assert!(m.contains("3 MalOp(s)") && m.contains("1 count"), "{m}");
    assert!(m.contains("(left out)") && m.contains("(counts)"), "{m}");
    let rep = check(&v, "cybereason", "reputation");
    assert_eq!(rep["facts"]["file_hashes_ignored"], 1);
    s.assert_read_only(0, &before, "fw1", &out);
    // Positive control: the transcript holds the reads, the simulator saw the queries.
    let t = s.transcript("fw1");
    assert!(sent(&t).iter().any(|l| l == "show firewall policy"), "{t}");
    let cr = s.cr.as_ref().unwrap();
    assert!(cr.count(Endpoint::VisualSearch) >= 2);
    assert!(cr.count(Endpoint::ClassificationDownload) >= 1);
    // The terminal table says the same.
    let out = s.doctor(&[]);
    assert_eq!(out.status.code(), Some(0));
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.starts_with("SUBJECT"), "{table}");
    assert!(
        table.contains("target fw1") && table.contains("deny-policy") && table.contains("PASS")
    );
    assert!(
        table.contains("0 failed") && table.contains(": ready"),
        "{table}"
    );
}

#[test]
fn firewall_objects_profile_is_told_what_it_cannot_read_and_fortimanager_is_unknown() {
    let s = Setup::new(
        vec![(
            "fw1",
            with_admin(
                AdminOptions::with_profile(AccessProfile::FirewallObjects),
                false,
            ),
        )],
        None,
    );
    let before = s.h.state(0);
    let (v, out) = s.json(&[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert_eq!(v["passed"], false);
    assert_eq!(status(&v, "target fw1", "scope"), "pass");
    // `get system central-management` is refused: plan refuses too (central_management: refuse).
    assert_eq!(status(&v, "target fw1", "fortimanager"), "fail");
    assert!(summary(&v, "target fw1", "fortimanager").contains("cannot tell"));
    assert_eq!(status(&v, "target fw1", "deny-policy"), "warn");
    assert!(summary(&v, "target fw1", "deny-policy").contains("cannot read firewall policies"));
    let a = summary(&v, "target fw1", "access");
    assert_eq!(status(&v, "target fw1", "access"), "warn");
    assert!(
        a.contains("restricted profile")
            && a.contains("policies refused")
            && a.contains("firewall tables yes"),
        "{a}"
    );
    assert_eq!(status(&v, "cybereason", "config"), "skip");
    s.assert_read_only(0, &before, "fw1", &out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("doctor: 1 check(s) failed"), "{stderr}");
}

#[test]
fn least_privilege_setup_with_an_explicit_fortimanager_choice_passes_with_warnings() {
    let mut s = Setup::new(
        vec![(
            "fw1",
            with_admin(
                AdminOptions::with_profile(AccessProfile::FirewallObjects),
                false,
            ),
        )],
        None,
    );
    s.h.target_extra = "    central_management: allow\n".into();
    s.write_config();
    let (v, out) = s.json(&[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(v["counts"]["fail"], 0, "{v:#}");
    assert!(v["counts"]["warn"].as_u64().unwrap() >= 2);
    // --strict: warnings fail.
    let (v, out) = s.json(&["--strict"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert_eq!(v["passed"], false);
    assert_eq!(v["strict"], true);
}

#[test]
fn read_only_profile_reads_everything_but_writes_are_not_proven() {
    let s = prepared(vec![("fw1", sim_options(Profile::default()))], None, None);
    // Switch the administrator to a read-only profile on the same configuration.
    let st = s.h.state(0);
    let mut o = with_admin(AdminOptions::with_profile(AccessProfile::ReadOnly), false);
    o.initial_state = Some(st.clone());
    let ro = Setup::new(vec![("fw1", o)], None);
    let before = ro.h.state(0);
    let (v, out) = ro.json(&[]);
    let a = summary(&v, "target fw1", "access");
    assert_eq!(status(&v, "target fw1", "access"), "warn", "{a}");
    assert!(
        a.contains("policies yes") && a.contains("cannot be seen without writing"),
        "{a}"
    );
    assert_eq!(status(&v, "target fw1", "deny-policy"), "pass", "{v:#}");
    ro.assert_read_only(0, &before, "fw1", &out);
}

#[test]
fn vdom_scoped_administrator_is_never_sent_global_commands() {
    let mut admin = AdminOptions::with_profile(AccessProfile::FirewallObjects);
    admin.vdom = Some("root".into());
    let mut s = Setup::new(vec![("fw1", with_admin(admin, true))], None);
    s.h.target_extra = "    vdom: root\n    central_management: allow\n".into();
    s.write_config();
    let before = s.h.state(0);
    let (v, out) = s.json(&[]);
    let sc = summary(&v, "target fw1", "scope");
    assert!(
        sc.contains("VDOM-scoped administrator already inside VDOM `root`"),
        "{sc}"
    );
    assert_eq!(status(&v, "target fw1", "fortimanager"), "warn");
    assert!(summary(&v, "target fw1", "access").contains("system settings not tried"));
    s.assert_read_only(0, &before, "fw1", &out);
    for l in sent(&s.transcript("fw1")) {
        assert!(
            !l.starts_with("config global") && !l.starts_with("config vdom"),
            "sent `{l}` to a VDOM-scoped administrator"
        );
    }
    // Without `vdom:` the scope check says what to configure.
    s.h.target_extra = "    central_management: allow\n".into();
    s.write_config();
    let (v, out) = s.json(&[]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(status(&v, "target fw1", "scope"), "fail");
    assert!(summary(&v, "target fw1", "scope").contains("set `vdom: root`"));
}

#[test]
fn global_administrator_on_a_multi_vdom_unit_enters_the_vdom_for_reads() {
    let mut o = sim_options(Profile {
        vdom_mode: true,
        ..Profile::default()
    });
    o.page_lines = Some(6);
    let mut s = Setup::new(vec![("fw1", o)], None);
    s.h.target_extra = "    vdom: root\n".into();
    s.write_config();
    let before = s.h.state(0);
    let (v, out) = s.json(&[]);
    assert!(
        summary(&v, "target fw1", "scope").contains("global administrator entering VDOM `root`")
    );
    assert_eq!(status(&v, "target fw1", "fortimanager"), "pass", "{v:#}");
    assert_eq!(status(&v, "target fw1", "groups"), "warn");
    s.assert_read_only(0, &before, "fw1", &out);
}

#[test]
fn fortimanager_managed_unit_fails_as_plan_would_refuse() {
    let mut o = sim_options(Profile::default());
    o.fortimanager = Some(Fortimanager {
        address: "192.0.2.10".into(),
        backup_mode: false,
    });
    let s = Setup::new(vec![("fw1", o)], None);
    let before = s.h.state(0);
    let (v, out) = s.json(&[]);
    assert_eq!(out.status.code(), Some(1));
    let f = summary(&v, "target fw1", "fortimanager");
    assert_eq!(status(&v, "target fw1", "fortimanager"), "fail");
    assert!(
        f.contains("managed by FortiManager 192.0.2.10") && f.contains("KB 412972"),
        "{f}"
    );
    s.assert_read_only(0, &before, "fw1", &out);
}

#[test]
fn unit_without_the_groups_then_without_a_deny_policy() {
    let s = Setup::new(vec![("fw1", sim_options(Profile::default()))], None);
    s.h.commit_list(&ips(0..3), "three");
    s.write_config();
    let (v, out) = s.json(&[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(status(&v, "target fw1", "groups"), "warn");
    assert!(summary(&v, "target fw1", "groups").contains("not on the device yet"));
    assert_eq!(status(&v, "target fw1", "deny-policy"), "warn");
    let t = summary(&v, "target fw1", "tables");
    assert!(t.contains("address 0→3/100000"), "{t}");
    // After the first apply the groups exist, but no policy uses them: nothing is blocked.
    let a = s.h.plan_and_apply("fw1");
    assert_eq!(a.status.code(), Some(0), "{}", text(&a));
    let before = s.h.state(0);
    let (v, out) = s.json(&[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert_eq!(status(&v, "target fw1", "groups"), "pass");
    assert_eq!(status(&v, "target fw1", "deny-policy"), "fail");
    assert!(summary(&v, "target fw1", "deny-policy").contains("not blocked"));
    s.assert_read_only(0, &before, "fw1", &out);
}

#[test]
fn capacity_beyond_the_configured_limit_fails_like_plan() {
    let mut s = Setup::new(vec![("fw1", sim_options(Profile::default()))], None);
    s.h.target_extra = "    max_addresses: 4\n".into();
    s.h.commit_list(&ips(0..10), "ten");
    s.write_config();
    let (v, out) = s.json(&[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let t = summary(&v, "target fw1", "tables");
    assert_eq!(status(&v, "target fw1", "tables"), "fail", "{t}");
    assert!(
        t.contains("targets[].max_addresses") && t.contains("plan would refuse"),
        "{t}"
    );
}

#[test]
fn unknown_host_key_is_reported_with_its_fingerprint_and_never_recorded() {
    let s = Setup::new(vec![("fw1", sim_options(Profile::default()))], None);
    let kh = s.h.path().join("known_hosts");
    std::fs::write(&kh, "").unwrap();
    let (v, out) = s.json(&[]);
    assert_eq!(out.status.code(), Some(1));
    let fp = s.h.sim(0).host_key_fingerprint();
    let k = check(&v, "target fw1", "host-key");
    assert_eq!(k["status"], "fail");
    assert_eq!(k["facts"]["state"], "unknown");
    assert_eq!(k["facts"]["fingerprint"], fp.as_str());
    assert!(
        k["fix"]
            .as_str()
            .unwrap()
            .contains(&format!("host_key_fingerprint: \"{fp}\""))
    );
    assert_eq!(status(&v, "target fw1", "login"), "skip");
    assert_eq!(
        std::fs::read_to_string(&kh).unwrap(),
        "",
        "doctor recorded the key"
    );
    // A pinned fingerprint is enough.
    let mut s2 = s;
    s2.h.target_extra = format!("    host_key_fingerprint: \"{fp}\"\n");
    s2.write_config();
    let (v, _) = s2.json(&[]);
    assert_eq!(
        check(&v, "target fw1", "host-key")["facts"]["state"],
        "pinned"
    );
    assert_eq!(status(&v, "target fw1", "login"), "pass");
}

#[test]
fn wrong_device_password_fails_the_login_check() {
    let mut o = sim_options(Profile::default());
    o.password = Some(blockops::secret::Secret::new("another-password"));
    let s = Setup::new(vec![("fw1", o)], None);
    let (v, out) = s.json(&[]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(status(&v, "target fw1", "host-key"), "pass");
    assert_eq!(status(&v, "target fw1", "login"), "fail");
    assert!(summary(&v, "target fw1", "login").contains("rejected"));
    assert!(
        check(&v, "target fw1", "login")["fix"]
            .as_str()
            .unwrap()
            .contains("password")
    );
    assert_eq!(status(&v, "target fw1", "scope"), "skip");
    assert!(!String::from_utf8_lossy(&out.stdout).contains(PASSWORD));
}

fn cr_only(cr: SimHandle) -> Setup {
    Setup::new(vec![("fw1", sim_options(Profile::default()))], Some(cr))
}

/// Adjusts the Cybereason simulator's configuration.
type Tweak = Box<dyn FnOnce(&mut SimConfig)>;

#[test]
fn each_cybereason_login_failure_mode_is_named() {
    let cases: Vec<(&str, Tweak)> = vec![
        (
            "rejected credentials",
            Box::new(|c: &mut SimConfig| c.password = "not-the-one".into()),
        ),
        (
            "two-factor authentication",
            Box::new(|c: &mut SimConfig| {
                c.quirks = Quirks {
                    two_factor: true,
                    ..Quirks::default()
                }
            }),
        ),
        (
            "expired password",
            Box::new(|c: &mut SimConfig| {
                c.quirks = Quirks {
                    expired_password: true,
                    ..Quirks::default()
                }
            }),
        ),
    ];
    for (what, f) in cases {
        let s = cr_only(cr_sim(FIXTURE, f));
        let before = s.h.state(0);
        let (v, out) = s.json(&["--target", "fw1"]);
        assert_eq!(out.status.code(), Some(1), "{what}: {}", text(&out));
        let l = check(&v, "cybereason", "login");
        assert_eq!(l["status"], "fail", "{what}");
        assert_eq!(l["facts"]["failure"], what);
        assert!(l["summary"].as_str().unwrap().starts_with(what), "{l:#}");
        assert_eq!(status(&v, "cybereason", "reputation"), "skip");
        s.assert_read_only(0, &before, "fw1", &out);
    }
}

#[test]
fn a_missing_role_is_named_at_the_source_that_needs_it() {
    let cr = cr_sim(FIXTURE, |_| {});
    cr.inject(Fault::new(
        Endpoint::ClassificationDownload,
        FaultKind::Status(403),
    ));
    cr.inject(Fault::new(Endpoint::VisualSearch, FaultKind::HtmlOk));
    let s = cr_only(cr);
    let (v, out) = s.json(&[]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(status(&v, "cybereason", "login"), "pass");
    for c in ["reputation", "connections"] {
        let k = check(&v, "cybereason", c);
        assert_eq!(k["status"], "fail", "{c}");
        assert_eq!(k["facts"]["failure"], "missing role", "{k:#}");
    }
}

#[test]
fn a_source_that_finds_nothing_warns_and_names_the_facet() {
    let empty = "reputations: []\nmalops: []\nconnections: []\ndomains: []\n";
    let s = cr_only(cr_sim(empty, |_| {}));
    let (v, out) = s.json(&[]);
    // The unit has no groups yet (warn) but nothing fails.
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let c = check(&v, "cybereason", "connections");
    assert_eq!(c["status"], "warn");
    assert!(
        c["summary"]
            .as_str()
            .unwrap()
            .contains("`remoteAddressMaliciousClassificationType`")
    );
    assert!(c["summary"].as_str().unwrap().contains("matched nothing"));
    assert!(c["fix"].as_str().unwrap().contains("connection_facet"));
    for k in ["reputation", "domains", "malops"] {
        assert_eq!(status(&v, "cybereason", k), "warn", "{k}");
    }
    // An unhealthy server is a warning too.
    s.cr.as_ref().unwrap().set_health(true, false);
    let (v, _) = s.json(&[]);
    assert_eq!(status(&v, "cybereason", "health"), "warn");
}

#[test]
fn broken_files_and_unknown_targets_fail_without_touching_anything() {
    let s = Setup::new(vec![("fw1", sim_options(Profile::default()))], None);
    std::fs::write(
        s.h.path().join("blocklists/manual.yaml"),
        "entries:\n- value: 10.0.0.1/33\n  type: ipv4-net\n",
    )
    .unwrap();
    let (v, out) = s.json(&["--target", "nosuch"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(status(&v, "config", "files"), "fail");
    assert!(summary(&v, "config", "files").contains("blocklists/manual.yaml"));
    assert_eq!(status(&v, "targets", "targets"), "fail");
    // A configuration that does not load: everything else is skipped.
    std::fs::write(s.h.path().join("blockops.yaml"), "nonsense_key: 1\n").unwrap();
    let (v, out) = s.json(&[]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(status(&v, "config", "config"), "fail");
    assert_eq!(status(&v, "cybereason", "all"), "skip");
}

#[test]
fn tls_is_checked_with_the_clients_own_settings() {
    let s = cr_only(cr_sim(FIXTURE, |c| c.tls = true));
    // A self-signed certificate without ca_cert: the handshake fails, nothing is sent.
    let (v, out) = s.json(&[]);
    assert_eq!(out.status.code(), Some(1));
    let t = check(&v, "cybereason", "tls");
    assert_eq!(t["status"], "fail");
    assert!(
        t["summary"]
            .as_str()
            .unwrap()
            .starts_with("TLS handshake failed"),
        "{t:#}"
    );
    assert!(t["fix"].as_str().unwrap().contains("ca_cert"));
    assert_eq!(status(&v, "cybereason", "login"), "skip");
    assert_eq!(s.cr.as_ref().unwrap().logins(), 0);
    // Trusted through ca_cert.
    let pem = s.cr.as_ref().unwrap().cert_pem.clone().unwrap();
    std::fs::write(s.h.path().join("sim-ca.pem"), pem).unwrap();
    let mut s = s;
    s.cr_extra = "  ca_cert: sim-ca.pem\n".into();
    s.write_config();
    let (v, _) = s.json(&[]);
    assert_eq!(status(&v, "cybereason", "tls"), "pass");
    assert!(summary(&v, "cybereason", "tls").contains("sim-ca.pem"));
    assert_eq!(status(&v, "cybereason", "login"), "pass");
    // insecure_skip_verify works but is a warning.
    s.cr_extra = "  insecure_skip_verify: true\n".into();
    s.write_config();
    let (v, _) = s.json(&[]);
    assert_eq!(status(&v, "cybereason", "tls"), "warn");
    assert!(summary(&v, "cybereason", "tls").contains("NOT verified"));
}

#[test]
fn an_unreachable_cybereason_and_an_unreachable_device_fail_early() {
    // A port nothing listens on, held for the whole test.
    let (_held, port) = support::refusing_port();
    let mut s = Setup::new(vec![("fw1", sim_options(Profile::default()))], None);
    s.h.target_extra = String::new();
    s.write_config();
    let p = s.h.path().join("blockops.yaml");
    let y = std::fs::read_to_string(&p).unwrap().replace(
        &format!("port: {}", s.h.sim(0).addr.port()),
        &format!("port: {port}"),
    );
    std::fs::write(
        &p,
        format!(
            "{y}cybereason:\n  url: http://127.0.0.1:{port}\n  username: u\n  password: {{env: {CR_ENV}}}\n  timeout: 2s\n"
        ),
    )
    .unwrap();
    let (v, out) = s.json(&[]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(status(&v, "cybereason", "dns"), "pass");
    assert_eq!(status(&v, "cybereason", "tcp"), "fail");
    assert_eq!(status(&v, "cybereason", "login"), "skip");
    assert_eq!(status(&v, "target fw1", "tcp"), "fail");
    assert_eq!(status(&v, "target fw1", "host-key"), "skip");
    let table = String::from_utf8_lossy(&s.doctor(&[]).stdout).to_string();
    assert!(table.contains("FAIL") && table.contains("fix: "), "{table}");
}
