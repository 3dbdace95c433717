//! Hostile repository content through the real binary (issue #8): missing files, links and
//! escaping paths, secrets in the configuration, pathological YAML, misleading or partial
//! error reports. Each test is named after the break it pins.
mod support;

use std::time::Duration;

use support::repo::{TempRepo, blocklist, entry};

/// Every command that reads the repository, with the arguments it needs offline.
const READERS: &[&[&str]] = &[
    &["check"],
    &["render"],
    &["render", "--format", "feed"],
    &["explain", "203.0.113.9"],
    &["diff", "--head", "WORKTREE"],
];

fn repo_with_allowlisted_value() -> TempRepo {
    let r = TempRepo::new();
    r.write(
        "blocklists/manual.yaml",
        &blocklist(&[
            entry("192.0.2.5", "ipv4", ""),
            entry("203.0.113.9", "ipv4", ""),
        ]),
    );
    r.write(
        "blocklists/allowlist.yaml",
        "entries:\n- value: 192.0.2.0/28\n  comment: partner\n",
    );
    r.commit("base");
    r
}

#[test]
fn missing_allowlist_fails_closed_in_every_command() {
    let r = repo_with_allowlisted_value();
    std::fs::remove_file(r.path().join("blocklists/allowlist.yaml")).unwrap();
    for args in READERS {
        let out = r.run(args);
        assert_eq!(
            out.code, 1,
            "{args:?} accepted a missing allowlist:\n{}",
            out.stdout
        );
        assert!(
            out.stderr.contains("blocklists/allowlist.yaml")
                || out.stdout.contains("blocklists/allowlist.yaml"),
            "{args:?}: {}{}",
            out.stdout,
            out.stderr
        );
        assert!(
            !out.stdout.contains("192.0.2.5 255"),
            "{args:?} rendered it"
        );
    }
    // `pull` stops at the same place, before talking to any server.
    r.write(
        "blockops.yaml",
        &format!(
            "{}cybereason:\n  url: http://127.0.0.1:9\n  username: u\n  password: {{env: CR_PW}}\n",
            support::repo::CONFIG
        ),
    );
    let out = r.cmd().env("CR_PW", "x").args(["pull"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("blocklists/allowlist.yaml") && err.contains("missing"),
        "{err}"
    );
    // At a revision as well: commit the deletion.
    r.write("blockops.yaml", support::repo::CONFIG);
    r.commit("allowlist removed");
    for args in [
        &["check", "--rev", "HEAD"][..],
        &["render", "--rev", "HEAD"],
        &["explain", "203.0.113.9", "--rev", "HEAD"],
        &["diff"],
        &[
            "plan",
            "--target",
            "fw1",
            "--rev",
            "HEAD",
            "--offline-base",
            "HEAD~1",
            "--out",
            "p.json",
        ],
    ] {
        let out = r.run(args);
        assert_eq!(out.code, 1, "{args:?}: {}", out.stdout);
        assert!(
            format!("{}{}", out.stdout, out.stderr).contains("missing in"),
            "{args:?}: {}{}",
            out.stdout,
            out.stderr
        );
    }
}

#[test]
fn a_typo_in_a_configured_path_is_an_error_not_an_empty_list() {
    let r = repo_with_allowlisted_value();
    r.write(
        "blockops.yaml",
        &format!(
            "{}files:\n  allowlist: blocklists/alowlist.yaml\n",
            support::repo::CONFIG
        ),
    );
    let out = r.run(&["check"]).code(1);
    assert!(
        out.stdout
            .contains("blocklists/alowlist.yaml: error: missing in WORKTREE"),
        "{}",
        out.stdout
    );
    // An empty file is not an empty allowlist either; `entries: []` is.
    r.write("blockops.yaml", support::repo::CONFIG);
    r.write("blocklists/allowlist.yaml", "");
    let out = r.run(&["check"]).code(1);
    assert!(out.stdout.contains("entries: []"), "{}", out.stdout);
    r.write("blocklists/allowlist.yaml", "entries: []\n");
    r.run(&["check"]).ok();
    // `fmt` reads the blocklists the same way.
    std::fs::remove_file(r.path().join("blocklists/manual.yaml")).unwrap();
    let out = r.run(&["fmt"]).code(1);
    assert!(
        out.stderr
            .contains("blocklists/manual.yaml: error: missing"),
        "{}",
        out.stderr
    );
}

#[cfg(unix)]
#[test]
fn files_committed_as_links_are_never_read() {
    let outside = tempfile::tempdir().unwrap();
    let secret = outside.path().join("id_ed25519");
    std::fs::write(&secret, "SECRET-KEY-MATERIAL root:x:0:0\n").unwrap();
    for (link, target_is_dir) in [
        ("blocklists/allowlist.yaml", false),
        ("blocklists/manual.yaml", false),
        ("blockops.yaml", false),
        ("templates/fortios/full.j2", false),
        ("blocklists", true),
    ] {
        let r = TempRepo::new();
        let p = r.path().join(link);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        if target_is_dir {
            std::fs::remove_dir_all(&p).unwrap();
            std::fs::write(
                outside.path().join("allowlist.yaml"),
                "SECRET-KEY-MATERIAL\n",
            )
            .unwrap();
            std::os::unix::fs::symlink(outside.path(), &p).unwrap();
        } else {
            let _ = std::fs::remove_file(&p);
            std::os::unix::fs::symlink(&secret, &p).unwrap();
        }
        r.commit("link");
        let fmt_reads_it = link != "blocklists/allowlist.yaml" && !link.starts_with("templates");
        for args in [
            &["check"][..],
            &["check", "--rev", "HEAD"],
            &["render"],
            &["fmt"],
        ] {
            if args == ["fmt"] && !fmt_reads_it {
                continue;
            }
            let out = r.run(args);
            let all = format!("{}{}", out.stdout, out.stderr);
            assert_eq!(out.code, 1, "{link} {args:?}: {all}");
            assert!(all.contains("symbolic link"), "{link} {args:?}: {all}");
            assert!(
                !all.contains("SECRET"),
                "{link} {args:?} printed the target: {all}"
            );
        }
        assert_eq!(
            std::fs::read_to_string(&secret).unwrap(),
            "SECRET-KEY-MATERIAL root:x:0:0\n",
            "fmt wrote through the link"
        );
    }
}

#[test]
fn configured_paths_outside_the_repository_are_refused() {
    let r = TempRepo::new();
    for (path, why) in [
        ("/etc/passwd", "relative"),
        ("../../../../etc/passwd", "`..`"),
        (".git/config", "`.git`"),
    ] {
        r.write(
            "blockops.yaml",
            &format!("{}files:\n  allowlist: \"{path}\"\n", support::repo::CONFIG),
        );
        let out = r.run(&["check"]).code(1);
        assert!(out.stdout.contains("blockops.yaml:"), "{}", out.stdout);
        assert!(out.stdout.contains(why), "{path}: {}", out.stdout);
        assert!(!out.stdout.contains("root:"), "{}", out.stdout);
    }
}

#[test]
fn secrets_in_the_configuration_are_refused_without_echo() {
    let r = TempRepo::new();
    for cfg in [
        "targets:\n  - name: fw1\n    host: 127.0.0.1\n    password: \"Sup3r-Secret-pw\"\n".to_string(),
        format!(
            "{}cybereason:\n  url: \"http://api:Sup3r-Secret-pw@cr.example:8443\"\n  username: api\n  password: {{env: CR_PW}}\n",
            support::repo::CONFIG
        ),
        "targets:\n  - name: fw1\n    host: \"admin:Sup3r-Secret-pw@fw.example\"\n    password: {env: X}\n".to_string(),
    ] {
        r.write("blockops.yaml", &cfg);
        for args in READERS.iter().chain([&["pull", "--dry-run"][..]].iter()) {
            let out = r.run(args);
            let all = format!("{}{}", out.stdout, out.stderr);
            assert_eq!(out.code, 1, "{args:?} accepted:\n{cfg}");
            assert!(!all.contains("Sup3r"), "{args:?} echoed the secret: {all}");
            assert!(all.contains("blockops.yaml:"), "{args:?}: {all}");
        }
    }
}

#[test]
fn deeply_nested_yaml_is_refused_with_a_position() {
    let r = TempRepo::new();
    // 200 000 levels took 68 s in `check` (quadratic in libyaml); the timeout only turns a
    // regression into a failure instead of a hang — the figures are in BENCHMARKS.md.
    let deep = format!("entries: {}{}\n", "[".repeat(200_000), "]".repeat(200_000));
    for file in ["blocklists/manual.yaml", "blockops.yaml"] {
        let r2 = TempRepo::new();
        r2.write(file, &deep);
        let out = r2
            .cmd()
            .arg("check")
            .timeout(Duration::from_secs(30))
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
        assert!(
            format!("{stdout}{stderr}").contains(&format!("{file}:1:")),
            "{stdout}{stderr}"
        );
        assert!(
            format!("{stdout}{stderr}").contains("nested deeper than 32"),
            "{stdout}{stderr}"
        );
    }
    drop(r);
}

#[test]
fn utf8_bom_is_accepted_and_a_second_document_is_positioned() {
    let r = TempRepo::new();
    r.write(
        "blocklists/manual.yaml",
        &format!("\u{FEFF}{}", blocklist(&[entry("203.0.113.9", "ipv4", "")])),
    );
    r.write(
        "blockops.yaml",
        &format!("\u{FEFF}{}", support::repo::CONFIG),
    );
    r.write("blocklists/allowlist.yaml", "\u{FEFF}entries: []\n");
    let out = r.run(&["render"]).ok();
    assert!(
        out.stdout.contains("203.0.113.9 255.255.255.255"),
        "{}",
        out.stdout
    );
    r.write(
        "blocklists/manual.yaml",
        "entries:\n- value: 203.0.113.9\n---\nentries: []\n",
    );
    let out = r.run(&["check"]).code(1);
    assert!(
        out.stdout
            .contains("blocklists/manual.yaml:3:1: error: a second YAML document"),
        "{}",
        out.stdout
    );
}

#[test]
fn check_reports_invalid_utf8_with_line_and_column_and_every_duplicate_key() {
    let r = TempRepo::new();
    std::fs::write(
        r.path().join("blocklists/manual.yaml"),
        b"entries:\n- value: 203.0.113.9\n  comment: \"caf\xe9\"\n",
    )
    .unwrap();
    r.write(
        "blocklists/cybereason.yaml",
        &format!(
            "{}  sources: [reputation]\n",
            blocklist(&[entry("203.0.113.7", "ipv4", "connection")])
        ),
    );
    let out = r.run(&["check"]).code(1);
    assert!(
        out.stdout
            .contains("blocklists/manual.yaml:3:16: error: not UTF-8"),
        "{}",
        out.stdout
    );
    // The fast reader used to keep the second `sources:` silently.
    assert!(
        out.stdout.contains("blocklists/cybereason.yaml:") && out.stdout.contains("duplicate"),
        "{}",
        out.stdout
    );
}

#[test]
fn check_refuses_a_prefix_shorter_than_three_characters() {
    let r = TempRepo::new();
    r.write(
        "blockops.yaml",
        "render:\n  prefix: h\ntargets:\n  - name: fw1\n    host: 127.0.0.1\n    password: {env: X}\n    render:\n      prefix: bo\n",
    );
    let out = r.run(&["check"]).code(1);
    assert!(
        out.stdout.contains("render: prefix `h` must be 3–24"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("target `fw1`: prefix `bo` must be 3–24"),
        "{}",
        out.stdout
    );
}
