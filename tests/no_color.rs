//! Colours only on a terminal: every command run with stdout and stderr piped (as in CI logs)
//! prints no ANSI escape sequence — and `--color always` does, so the check can fail.
mod support;

use support::fgt::*;

const ESC: &[u8] = b"\x1b[";

fn has_escape(bytes: &[u8]) -> bool {
    bytes.windows(ESC.len()).any(|w| w == ESC)
}

#[test]
fn no_ansi_escapes_when_not_a_terminal() {
    let h = Harness::new();
    h.commit_list(&ips(0..3), "base");
    let mut list = ips(1..5);
    list.push("c2.evil.example".into());
    h.commit_list(&list, "head");
    let plan = h.plan_file("fw1");
    let plan = plan.to_str().unwrap();
    let cases: Vec<Vec<&str>> = vec![
        vec!["--help"],
        vec!["plan", "--help"],
        vec!["check"],
        vec!["check", "--format", "json"],
        vec!["fmt", "--check"],
        vec!["render"],
        vec!["diff"],
        vec!["diff", "--format", "markdown"],
        vec!["diff", "--format", "json"],
        vec!["explain", "192.0.2.17"],
        vec!["explain", "10.0.0.1"],
        vec!["plan", "--target", "fw1", "-v"],
        vec!["apply", plan, "--dry-run", "-v"],
        vec!["apply", plan, "--yes"],
        vec!["apply", plan, "--yes", "--format", "json"],
        vec!["plan", "--all", "--format", "json"],
        // Errors, including clap's own usage errors.
        vec!["diff", "--format", "yaml"],
        vec!["plan", "--target", "nope"],
        vec!["apply", "missing.plan.json", "--yes"],
        vec!["pull", "--dry-run"],
    ];
    for args in &cases {
        let o = h.cmd().args(args).env_remove("NO_COLOR").output().unwrap();
        // No progress bar either (its line counter would show up as "lines (").
        assert!(
            !String::from_utf8_lossy(&o.stderr).contains("lines ("),
            "`blockops {}` drew a progress bar without a terminal:\n{}",
            args.join(" "),
            text(&o)
        );
        assert!(
            !has_escape(&o.stdout) && !has_escape(&o.stderr),
            "`blockops {}` printed ANSI escapes without a terminal:\n{}",
            args.join(" "),
            text(&o)
        );
    }
    // The same diff with colours forced does contain them.
    let o = h.run(&["diff", "--color", "always"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(has_escape(&o.stdout), "{}", text(&o));
}

/// `pull` against the Cybereason simulator with stdout/stderr piped: no escapes, no progress
/// lines in the log (only with `-v`), and the JSON summary is one document with a schema version.
#[test]
fn pull_is_quiet_and_plain_without_a_terminal() {
    use blockops::sim::cybereason::{CybereasonSim, Fixture, SimConfig};
    let password = "NoColour-Pw-1!";
    let sim = CybereasonSim::spawn(SimConfig {
        fixture: Fixture::parse(
            "reputations:\n  - {key: 203.0.113.9}\nconnections:\n  - {remote: 203.0.113.77, time: -1d, classification: malware}\n",
        )
        .expect("fixture"),
        password: password.into(),
        ..SimConfig::default()
    })
    .expect("simulator");
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("blocklists")).unwrap();
    for f in ["cybereason.yaml", "manual.yaml", "allowlist.yaml"] {
        std::fs::write(dir.path().join("blocklists").join(f), "entries: []\n").unwrap();
    }
    std::fs::write(
        dir.path().join("blockops.yaml"),
        format!(
            "cybereason:\n  url: {}\n  username: api@blockops.example\n  password: {{env: NC_TEST_PW}}\n",
            sim.url()
        ),
    )
    .unwrap();
    git(dir.path(), &["init", "-q", "-b", "main"]);
    let run = |args: &[&str]| {
        assert_cmd::Command::cargo_bin("blockops")
            .unwrap()
            .current_dir(dir.path())
            .args(args)
            .env("NC_TEST_PW", password)
            .env("BLOCKOPS_TODAY", TODAY)
            .env_remove("NO_COLOR")
            .env_remove("BLOCKOPS_LOG")
            .timeout(std::time::Duration::from_secs(60))
            .output()
            .unwrap()
    };
    let o = run(&["pull", "--dry-run"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        !has_escape(&o.stdout) && !has_escape(&o.stderr),
        "{}",
        text(&o)
    );
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("203.0.113.77"),
        "{}",
        text(&o)
    );
    assert!(
        !String::from_utf8_lossy(&o.stderr).contains("pull: "),
        "progress steps in a non-terminal log:\n{}",
        text(&o)
    );
    // With -v the steps are logged (so the assertion above can fail).
    let o = run(&["pull", "--dry-run", "-v"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(!has_escape(&o.stderr), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("pull: "),
        "{}",
        text(&o)
    );

    let o = run(&["pull", "--format", "json"]);
    assert!(o.status.success(), "{}", text(&o));
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("one JSON document ({e}):\n{}", text(&o)));
    assert_eq!(doc["schema_version"], 1);
    assert_eq!(doc["written"], true);
    assert!(!String::from_utf8_lossy(&o.stdout).contains(password));
}
