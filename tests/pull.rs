//! `blockops pull` end to end: the real binary against the Cybereason simulator on
//! 127.0.0.1, in a temporary git repository.
mod support;

use std::time::Duration;

use assert_cmd::Command;
use blockops::sim::cybereason::{Endpoint, Fault, FaultKind};
use serde_json::Value;
use support::cyber::*;
#[test]
fn happy_path_every_source_with_provenance() {
    let env = setup(FIXTURE);
    let out = env.run(&["pull"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let f = env.pulled();
    // Reputation list: IPs, networks, IPv6 and domains; hashes and whitelist rows ignored.
    let e = entry(&f, "203.0.113.9").expect("203.0.113.9");
    assert!(
        e.contains("sources: [reputation, connection, malop]"),
        "{e}"
    );
    assert!(e.contains("malops: [\"11.-4319097116418812958\"]"), "{e}");
    assert!(e.contains(&format!("first_seen: {TODAY}")), "{e}");
    assert!(
        entry(&f, "198.51.100.0/24")
            .unwrap()
            .contains("type: ipv4-net")
    );
    assert!(
        entry(&f, "2001:db8:bad::1")
            .unwrap()
            .contains("sources: [reputation]")
    );
    assert!(
        entry(&f, "c2.evil.example")
            .unwrap()
            .contains("sources: [reputation, connection, malop]")
    );
    assert!(!f.contains("44d88612"), "file hashes are ignored");
    assert!(
        entry(&f, "192.0.2.200").is_none(),
        "whitelist rows are not blocked"
    );
    // Connections in the window: remote IP and domain.
    assert!(
        entry(&f, "203.0.113.77")
            .unwrap()
            .contains("sources: [connection]")
    );
    assert!(entry(&f, "198.51.100.23").is_some());
    assert!(
        entry(&f, "tunnel.dns.example")
            .unwrap()
            .contains("sources: [connection]")
    );
    assert!(entry(&f, "192.0.2.10").is_none(), "unclassified connection");
    assert!(
        entry(&f, "203.0.113.200").is_none(),
        "connection outside the 30d window"
    );
    assert!(
        entry(&f, "203.0.113.201").is_none(),
        "MalOp outside the window"
    );
    // Domains.
    assert!(
        entry(&f, "dropper.malware.example")
            .unwrap()
            .contains("sources: [domain]")
    );
    assert!(entry(&f, "cdn.good.example").is_none());
    // Guardrail drops are reported with the reason.
    let so = String::from_utf8_lossy(&out.stdout);
    assert!(entry(&f, "10.20.30.40").is_none());
    assert!(
        so.contains("dropped 10.20.30.40 (connection): private"),
        "{so}"
    );
    assert!(
        so.contains("dropped allowed.example.com (domain): allowlist"),
        "{so}"
    );
    assert!(so.contains("(reputation): invalid"), "{so}");
    // The manual file is never touched.
    assert_eq!(
        std::fs::read_to_string(env.path().join("blocklists/manual.yaml")).unwrap(),
        MANUAL
    );
    // The file is canonical (fmt --check agrees).
    let fmt = env.run(&["fmt", "--check"]);
    assert_eq!(fmt.status.code(), Some(0), "{}", text(&fmt));
}

#[test]
fn sources_can_be_switched_off() {
    let env = setup_with(
        sim(FIXTURE, |_| {}),
        "sources:\n  reputation: false\n  connections: false\n  domains: true\n  malops: false\n",
        None,
    );
    let out = env.run(&["pull"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let f = env.pulled();
    assert!(entry(&f, "dropper.malware.example").is_some());
    assert_eq!(f.matches("- value:").count(), 1, "{f}");
    assert_eq!(env.sim.count(Endpoint::ClassificationDownload), 0);
    assert_eq!(env.sim.count(Endpoint::Malops), 0);
}

#[test]
fn no_churn_identical_data_gives_identical_file_and_no_commit() {
    let env = setup(FIXTURE);
    let out = env.run(&["pull", "--commit"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let first = std::fs::read(env.pulled_path()).unwrap();
    let commits = git(env.path(), &["rev-list", "--count", "HEAD"]);
    assert_eq!(commits.trim(), "2");
    let out = env.run(&["pull", "--commit"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("unchanged"),
        "{}",
        text(&out)
    );
    assert_eq!(std::fs::read(env.pulled_path()).unwrap(), first);
    assert_eq!(
        git(env.path(), &["rev-list", "--count", "HEAD"]).trim(),
        "2",
        "no empty commit"
    );
    assert_eq!(
        git(env.path(), &["status", "--porcelain"]),
        "",
        "work tree clean"
    );
}

#[test]
fn retention_keeps_first_seen_and_retires_what_is_no_longer_reported() {
    let existing = "entries:\n\
        - value: 203.0.113.9\n  sources: [connection]\n  first_seen: 2026-01-05\n  comment: \"seen in INC-1\"\n\
        - value: 203.0.113.50\n  sources: [connection]\n  first_seen: 2026-02-01\n";
    let env = setup_with(
        sim(
            "reputations:\n- {key: 203.0.113.9}\n- {key: 203.0.113.51}\n- {key: 203.0.113.52}\n- {key: 203.0.113.53}\n",
            |_| {},
        ),
        "",
        Some(existing),
    );
    let out = env.run(&["pull", "--allow-large-change"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let f = env.pulled();
    let e = entry(&f, "203.0.113.9").unwrap();
    assert!(
        e.contains("first_seen: 2026-01-05")
            && e.contains("seen in INC-1")
            && e.contains("sources: [reputation]"),
        "{e}"
    );
    assert!(
        entry(&f, "203.0.113.50").is_none(),
        "retired: no source reports it any more"
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("- 203.0.113.50"),
        "{}",
        text(&out)
    );
    // The reputation entry stays while listed and goes when it is removed from the list.
    env.sim.remove_reputation("203.0.113.51");
    let out = env.run(&["pull"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(entry(&env.pulled(), "203.0.113.51").is_none());
    assert!(entry(&env.pulled(), "203.0.113.52").is_some());
}

#[test]
fn session_expiry_mid_pull_relogs_in_once() {
    let env = setup(FIXTURE);
    env.sim.inject(
        Fault::new(Endpoint::VisualSearch, FaultKind::ExpireSession)
            .after(1)
            .times(1),
    );
    let out = env.run(&["pull"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(env.sim.logins(), 2);
    assert!(entry(&env.pulled(), "dropper.malware.example").is_some());
}

#[test]
fn every_fault_fails_the_pull_and_leaves_the_file_untouched() {
    let existing = "# hand-formatted, must stay byte-identical\nentries:\n- value: 203.0.113.1\n  sources: [reputation]\n";
    let faults = [
        (
            Endpoint::ClassificationDownload,
            FaultKind::Status(403),
            "403",
        ),
        (
            Endpoint::VisualSearch,
            FaultKind::Status(500),
            "giving up after 3 attempts",
        ),
        (Endpoint::VisualSearch, FaultKind::Status(429), "HTTP 429"),
        (Endpoint::Malops, FaultKind::Status(502), "HTTP 502"),
        (
            Endpoint::VisualSearch,
            FaultKind::HtmlOk,
            "HTML page titled `Cybereason | Login` instead of JSON again right after a fresh login",
        ),
        (
            Endpoint::VisualSearch,
            FaultKind::QueryStatus("FAILURE".into()),
            "FAILURE",
        ),
        (
            Endpoint::VisualSearch,
            FaultKind::QueryStatus("PARTIAL_SUCCESS".into()),
            "PARTIAL_SUCCESS",
        ),
        (
            Endpoint::ClassificationDownload,
            FaultKind::Drop,
            "giving up",
        ),
        (
            Endpoint::Malops,
            FaultKind::Slow(Duration::from_secs(3)),
            "timed out",
        ),
        (Endpoint::Login, FaultKind::Status(500), "login.html"),
    ];
    for (ep, kind, want) in faults {
        let env = setup_with(sim(FIXTURE, |_| {}), "", Some(existing));
        env.sim.inject(Fault::new(ep, kind.clone()));
        let out = env.run(&["pull", "--commit"]);
        assert_eq!(out.status.code(), Some(1), "{kind:?}: {}", text(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(want) && err.contains("nothing was written"),
            "{kind:?}: {}",
            text(&out)
        );
        assert_eq!(env.pulled(), existing, "{kind:?}");
        assert_eq!(
            git(env.path(), &["rev-list", "--count", "HEAD"]).trim(),
            "1"
        );
    }
}

#[test]
fn transient_faults_within_the_retry_budget_succeed() {
    let env = setup(FIXTURE);
    env.sim
        .inject(Fault::new(Endpoint::VisualSearch, FaultKind::Status(500)).times(2));
    env.sim
        .inject(Fault::new(Endpoint::ClassificationDownload, FaultKind::Drop).times(1));
    let out = env.run(&["pull"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(entry(&env.pulled(), "203.0.113.77").is_some());
}

#[test]
fn window_splitting_returns_more_rows_than_the_limit() {
    let mut fx = String::from("connections:\n");
    for i in 0..60 {
        fx.push_str(&format!(
            "- {{remote: 203.0.113.{}, time: -{}m, classification: malware}}\n",
            i + 1,
            i * 13 + 1
        ));
    }
    let env = setup_with(
        sim(&fx, |_| {}),
        "  result_limit: 8\nsources:\n  reputation: false\n  domains: false\n  malops: false\n",
        None,
    );
    let out = env.run(&["pull", "--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["entries"], 60, "{v}");
    assert!(v["stats"]["window_splits"].as_u64().unwrap() >= 1, "{v}");
    assert!(
        env.sim.count(Endpoint::VisualSearch) >= 60 / 9,
        "one query cannot hold 60 rows"
    );
    assert_eq!(env.pulled().matches("- value:").count(), 60);
}

#[test]
fn domain_query_overflow_is_an_error_not_a_truncation() {
    let mut fx = String::from("domains:\n");
    for i in 0..12 {
        fx.push_str(&format!(
            "- {{name: d{i}.bad.example, classification: malware}}\n"
        ));
    }
    let env = setup_with(sim(&fx, |_| {}), "  result_limit: 10\n", None);
    let out = env.run(&["pull"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("raise cybereason.result_limit"),
        "{}",
        text(&out)
    );
    assert_eq!(env.pulled(), EMPTY_PULLED, "nothing written");
}

#[test]
fn large_removal_is_refused_unless_allowed() {
    let mut existing = String::from("entries:\n");
    for i in 1..=8 {
        existing.push_str(&format!(
            "- value: 198.51.100.{i}\n  sources: [reputation]\n  first_seen: 2026-01-01\n"
        ));
    }
    let env = setup_with(
        sim(
            "reputations:\n- {key: 198.51.100.1}\n- {key: 198.51.100.2}\n",
            |_| {},
        ),
        "",
        Some(&existing),
    );
    let out = env.run(&["pull", "--commit"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--allow-large-change"),
        "{}",
        text(&out)
    );
    assert_eq!(env.pulled(), existing);
    let out = env.run(&["pull", "--allow-large-change"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(env.pulled().matches("- value:").count(), 2);
}

#[test]
fn dry_run_prints_the_change_and_writes_nothing() {
    let env = setup(FIXTURE);
    let out = env.run(&["pull", "--dry-run"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let so = String::from_utf8_lossy(&out.stdout);
    assert!(
        so.contains("+ 203.0.113.77 (connection)") && so.contains("dry run, nothing written"),
        "{so}"
    );
    assert_eq!(env.pulled(), EMPTY_PULLED, "nothing written");
}

#[test]
fn commit_is_visible_to_git_log() {
    let env = setup(FIXTURE);
    let out = env.run(&["pull", "--commit"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let log = git(env.path(), &["log", "-1", "--format=%an <%ae>%n%B"]);
    assert!(
        log.starts_with("Pull Bot <pull-bot@example.invalid>\n"),
        "{log}"
    );
    assert!(
        log.contains("pull: 8 added, 0 removed, 0 changed in blocklists/cybereason.yaml"),
        "{log}"
    );
    assert!(log.contains("+ 203.0.113.77"), "{log}");
    let files = git(env.path(), &["show", "--name-only", "--format=", "HEAD"]);
    assert_eq!(files.trim(), "blocklists/cybereason.yaml");
}

#[test]
fn password_never_appears_in_any_output() {
    // Success with -vv.
    let env = setup(FIXTURE);
    env.sim.inject(
        Fault::new(Endpoint::VisualSearch, FaultKind::ExpireSession)
            .after(1)
            .times(1),
    );
    let out = env.run(&["-vv", "pull", "--dry-run"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(!text(&out).contains(PASSWORD), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("logging in again"),
        "{}",
        text(&out)
    );
    // Wrong password with -vv: the error names the URL, not the password.
    let env = setup_with(
        sim(FIXTURE, |c| c.password = "something-else".into()),
        "",
        None,
    );
    let out = env.run(&["-vv", "pull", "--format", "json"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let all = text(&out);
    assert!(!all.contains(PASSWORD), "{all}");
    assert!(
        all.contains(&format!("login to {}/login.html failed", env.sim.url())),
        "{all}"
    );
}

#[test]
fn malops_fall_back_to_detection_inbox_when_v2_is_missing() {
    let env = setup(FIXTURE);
    env.sim
        .inject(Fault::new(Endpoint::Malops, FaultKind::Status(404)));
    let out = env.run(&["pull"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(env.sim.count(Endpoint::DetectionInbox), 1);
    let e = entry(&env.pulled(), "203.0.113.9").unwrap().to_string();
    assert!(e.contains("malops: [\"11.-4319097116418812958\"]"), "{e}");
}

#[test]
fn password_from_a_file_and_clear_errors_for_missing_settings() {
    let env = setup(FIXTURE);
    let cfg_path = env.path().join("blockops.yaml");
    let cfg = std::fs::read_to_string(&cfg_path).unwrap();
    std::fs::write(env.path().join("cr-password.txt"), format!("{PASSWORD}\n")).unwrap();
    std::fs::write(
        &cfg_path,
        cfg.replace("{env: CR_TEST_PW}", "{file: cr-password.txt}"),
    )
    .unwrap();
    let out = Command::cargo_bin("blockops")
        .unwrap()
        .arg("--repo")
        .arg(env.path())
        .arg("pull")
        .env_remove("CR_TEST_PW")
        .env("BLOCKOPS_TODAY", TODAY)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(entry(&env.pulled(), "203.0.113.77").is_some());

    // Missing environment variable: named in the error, nothing written.
    std::fs::write(&cfg_path, &cfg).unwrap();
    std::fs::write(env.pulled_path(), EMPTY_PULLED).unwrap();
    let out = Command::cargo_bin("blockops")
        .unwrap()
        .arg("--repo")
        .arg(env.path())
        .arg("pull")
        .env_remove("CR_TEST_PW")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("CR_TEST_PW"),
        "{}",
        text(&out)
    );
    assert_eq!(env.pulled(), EMPTY_PULLED, "nothing written");

    // No `cybereason:` section.
    std::fs::write(&cfg_path, "window: 30d\n").unwrap();
    let out = env.run(&["pull"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no `cybereason:` section"),
        "{}",
        text(&out)
    );
}

/// The simulator over HTTPS with a self-signed certificate: trusted through `ca_cert`,
/// refused without it (nothing written), accepted with the loudly warned
/// `insecure_skip_verify`, and the session cookie carries `Secure` like the real server's.
#[test]
fn pull_over_tls_with_custom_ca_and_insecure_skip_verify() {
    let tls_sim = || sim(FIXTURE, |c| c.tls = true);

    // Custom CA: works.
    let s = tls_sim();
    assert!(s.url().starts_with("https://127.0.0.1:"), "{}", s.url());
    let pem = s.cert_pem.clone().expect("certificate");
    let env = setup_with(s, "  ca_cert: sim-ca.pem\n", None);
    std::fs::write(env.path().join("sim-ca.pem"), &pem).unwrap();
    let out = env.run(&["pull"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(env.pulled().contains("203.0.113.9"), "{}", env.pulled());

    // No CA: the certificate is not trusted; exit 1 and no file.
    let env = setup_with(tls_sim(), "", None);
    let out = env.run(&["pull"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert_eq!(env.pulled(), EMPTY_PULLED, "a failed pull writes nothing");
    let err = text(&out).to_lowercase();
    assert!(
        err.contains("certificate") || err.contains("tls") || err.contains("https"),
        "{err}"
    );

    // insecure_skip_verify: works, with a warning.
    let env = setup_with(tls_sim(), "  insecure_skip_verify: true\n", None);
    let out = env.run(&["pull"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).to_lowercase().contains("insecure"),
        "{}",
        text(&out)
    );

    // A client we did not write: curl trusts the PEM and sees a Secure session cookie.
    let s = tls_sim();
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, s.cert_pem.as_deref().unwrap()).unwrap();
    let out = std::process::Command::new("curl")
        .args(["-s", "-D", "-", "-o", "/dev/null", "--cacert"])
        .arg(&ca)
        .args([
            "--data",
            &format!("username=api@blockops.example&password={PASSWORD}"),
        ])
        .arg(format!("{}/login.html", s.url()))
        .output()
        .expect("curl runs");
    let headers = String::from_utf8_lossy(&out.stdout);
    assert!(headers.starts_with("HTTP/1.1 302"), "{headers}");
    let cookie = headers
        .lines()
        .find(|l| {
            l.to_ascii_lowercase()
                .starts_with("set-cookie: jsessionid=")
        })
        .expect("cookie");
    assert!(cookie.contains("; Secure"), "{cookie}");
}
