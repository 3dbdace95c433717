//! The offline core through the real binary: check, fmt, render, diff on temporary git repos.
mod support;

use support::repo::{TempRepo, blocklist, entry};

fn sample_repo() -> TempRepo {
    let r = TempRepo::new();
    r.write(
        "blocklists/cybereason.yaml",
        &blocklist(&[
            entry("203.0.113.7", "ipv4", "connection"),
            entry("198.51.100.0/24", "ipv4-net", "reputation"),
            entry("2001:db8::1", "ipv6", "reputation"),
            entry("c2.evil.example", "fqdn", "domain"),
        ]),
    );
    r.write(
        "blocklists/manual.yaml",
        &blocklist(&[
            "- value: 192.0.2.66\n  type: ipv4\n  sources: []\n  comment: \"INC-1: scanner\"\n"
                .into(),
        ]),
    );
    r.write(
        "blocklists/allowlist.yaml",
        "entries:\n- value: good.example\n",
    );
    r
}

#[test]
fn render_matches_golden_script() {
    let r = sample_repo();
    let out = r.run(&["render"]).ok();
    insta::assert_snapshot!("render_fw1", out.stdout);
}

#[test]
fn render_feed_writes_threat_feed_files() {
    let r = sample_repo();
    r.run(&["render", "--format", "feed", "--out", "feeds"])
        .ok();
    assert_eq!(
        r.read("feeds/ip.txt"),
        "192.0.2.66\n203.0.113.7\n198.51.100.0/24\n2001:db8::1\n"
    );
    assert_eq!(r.read("feeds/domains.txt"), "c2.evil.example\n");
}

#[test]
fn render_unknown_target_is_an_error() {
    let r = sample_repo();
    let out = r.run(&["render", "--target", "nope"]).code(1);
    assert!(
        out.stderr.contains("unknown target `nope`"),
        "{}",
        out.stderr
    );
}

#[test]
fn check_lists_every_problem_with_positions() {
    let r = sample_repo();
    r.write(
        "blocklists/manual.yaml",
        "entries:\n- value: 10.0.0.0/33\n- value: \"evil.example; purge\"\n- value: 127.0.0.1\n- value: fine.example\n  colour: red\n",
    );
    // A schema problem (unknown key) no longer hides the value problems: all are listed.
    let out = r.run(&["check"]).code(1);
    assert!(
        out.stdout
            .contains("blocklists/manual.yaml:6:3: error: unknown key `colour`"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("blocklists/manual.yaml:2:10: error: `10.0.0.0/33`"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("blocklists/manual.yaml:3:10: error: `evil.example; purge`"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("blocklists/manual.yaml:4: warning: `127.0.0.1` will not be blocked: never-block: loopback"), "{}", out.stdout);
    assert!(
        out.stdout.contains("3 error(s), 1 warning(s)"),
        "{}",
        out.stdout
    );
}

#[test]
fn check_json_is_structured_and_warns_on_expiry() {
    let r = sample_repo();
    r.write(
        "blocklists/manual.yaml",
        &blocklist(&[
            "- value: 192.0.2.66\n  type: ipv4\n  sources: []\n  expires: 2026-12-01\n".into(),
            "- value: 192.0.2.77\n  type: ipv4\n  sources: []\n  expires: 2026-11-01\n".into(),
        ]),
    );
    let out = r.run(&["check", "--format", "json"]).ok();
    let v: serde_json::Value = serde_json::from_str(&out.stdout).expect("json");
    assert_eq!(v["ok"], true);
    let msgs: Vec<String> = v["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["message"].as_str().unwrap().to_string())
        .collect();
    assert!(
        msgs.iter()
            .any(|m| m == "`192.0.2.66` expires on 2026-12-01"),
        "{msgs:?}"
    );
    assert!(
        msgs.iter()
            .any(|m| m.contains("`192.0.2.77` will not be blocked: expired")),
        "{msgs:?}"
    );
    // The expired entry is not rendered.
    let script = r.run(&["render"]).ok().stdout;
    assert!(script.contains("bo-192.0.2.66") && !script.contains("bo-192.0.2.77"));
}

#[test]
fn check_reports_a_template_that_fails_to_render() {
    let r = sample_repo();
    r.write(
        "templates/fortios/full.j2",
        "{{ no_such_variable.field }}\n",
    );
    let out = r.run(&["check"]).code(1);
    assert!(out.stdout.contains("templates/fortios"), "{}", out.stdout);
    assert!(
        out.stdout.contains("template does not render"),
        "{}",
        out.stdout
    );
}

#[test]
fn repository_templates_override_the_builtin_ones() {
    let r = sample_repo();
    r.write(
        "templates/fortios/full.j2",
        "{% for a in addresses %}{{ a.name | fq }}\n{% endfor %}",
    );
    let out = r.run(&["render"]).ok();
    assert_eq!(
        out.stdout,
        "\"bo-192.0.2.66\"\n\"bo-198.51.100.0/24\"\n\"bo-203.0.113.7\"\n\"bo-c2.evil.example\"\n"
    );
}

#[test]
fn fmt_canonicalises_and_check_mode_fails_on_drift() {
    let r = sample_repo();
    r.write(
        "blocklists/manual.yaml",
        "entries:\n  - {value: Z.example., comment: later}\n  - value: 192.0.2.66\n",
    );
    r.run(&["fmt", "--check"]).code(1);
    r.run(&["fmt"]).ok();
    let text = r.read("blocklists/manual.yaml");
    assert_eq!(
        text,
        blocklist(&[
            "- value: 192.0.2.66\n  type: ipv4\n  sources: []\n".into(),
            "- value: z.example\n  type: fqdn\n  sources: []\n  comment: \"later\"\n".into()
        ])
    );
    r.run(&["fmt", "--check"]).ok();
    r.run(&["fmt"]).ok();
    assert_eq!(r.read("blocklists/manual.yaml"), text, "fmt is idempotent");
}

#[test]
fn fmt_writes_nothing_when_a_file_has_errors() {
    let r = sample_repo();
    let bad = "entries:\n  - value: 192.0.2.66\n  - value: \"bad value\"\n";
    r.write("blocklists/manual.yaml", bad);
    let before = r.read("blocklists/cybereason.yaml");
    let out = r.run(&["fmt"]).code(1);
    assert!(
        out.stderr.contains("blocklists/manual.yaml:3:12"),
        "{}",
        out.stderr
    );
    assert_eq!(r.read("blocklists/manual.yaml"), bad);
    assert_eq!(r.read("blocklists/cybereason.yaml"), before);
}

#[test]
fn diff_shows_indicator_and_script_changes() {
    let r = sample_repo();
    r.commit("first");
    // First commit: base is empty, everything is added.
    let first = r.run(&["diff", "--format", "json", "--exit-code"]).code(2);
    let v: serde_json::Value = serde_json::from_str(&first.stdout).unwrap();
    assert_eq!(v["base"], "(empty)");
    assert_eq!(v["summary"]["added"], 5);

    r.write(
        "blocklists/cybereason.yaml",
        &blocklist(&[
            entry("203.0.113.7", "ipv4", "connection, domain"),
            entry("203.0.113.8", "ipv4", "connection"),
            entry("2001:db8::1", "ipv6", "reputation"),
            entry("c2.evil.example", "fqdn", "domain"),
        ]),
    );
    r.commit("second");
    let out = r.run(&["diff", "--exit-code"]).code(2);
    assert!(
        out.stdout
            .contains("+ 203.0.113.8 (ipv4) sources=connection"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("- 198.51.100.0/24 (ipv4-net) sources=reputation"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("~ 203.0.113.7 (sources changed)"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("target fw1: 1 newly blocked, 1 unblocked"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("+    edit \"bo-203.0.113.8\""),
        "{}",
        out.stdout
    );

    let md = r.run(&["diff", "--format", "markdown"]).ok();
    let head = r.git(&["rev-parse", "--short=12", "HEAD"]);
    let base = r.git(&["rev-parse", "--short=12", "HEAD~1"]);
    let md = md
        .stdout
        .replace(head.trim(), "HEAD")
        .replace(base.trim(), "BASE");
    insta::assert_snapshot!("diff_markdown", md);

    // Nothing changed between a commit and itself.
    r.run(&["diff", "--base", "HEAD", "--exit-code"]).ok();
}

#[test]
fn diff_worktree_and_bad_revisions() {
    let r = sample_repo();
    r.commit("first");
    r.run(&["diff", "--head", "WORKTREE", "--exit-code"]).ok();
    r.write("blocklists/manual.yaml", &blocklist(&[]));
    let out = r
        .run(&["diff", "--head", "WORKTREE", "--exit-code"])
        .code(2);
    assert!(out.stdout.contains("- 192.0.2.66"), "{}", out.stdout);
    let out = r.run(&["diff", "--base", "no-such-branch"]).code(1);
    assert!(
        out.stderr.contains("unknown revision `no-such-branch`"),
        "{}",
        out.stderr
    );
}

#[test]
fn markdown_is_cut_below_the_comment_limit() {
    let r = TempRepo::new();
    r.commit("empty");
    let entries: Vec<String> = (0..3000)
        .map(|i| {
            entry(
                &format!("203.0.{}.{}", 113 + i / 250, i % 250 + 1),
                "ipv4",
                "connection",
            )
        })
        .collect();
    r.write("blocklists/cybereason.yaml", &blocklist(&entries));
    r.commit("many");
    let md = r.run(&["diff", "--format", "markdown"]).ok().stdout;
    assert!(md.len() <= 62_000, "{}", md.len());
    assert!(md.contains("cut"), "a note says the output was cut");
    assert!(md.contains("<details>") && md.contains("```diff"));
}
