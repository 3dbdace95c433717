//! A hostile value in any blocklist file never reaches any rendered output: the render
//! fails closed (exit 1, nothing written) and names the file and line.
mod support;

use support::repo::{TempRepo, blocklist, entry};

const HOSTILE: &[&str] = &[
    "evil.example\"\nend\nconfig system admin\nedit \"backdoor",
    "203.0.113.7\nnext\nend",
    "evil.example; execute factoryreset",
    "0.0.0.0/0",
    "$(reboot).example",
    "evil.example?",
    "ev\u{202E}lipma.example",
    "http://evil.example/payload",
    "*.evil.example",
    "evil.example:22",
    "",
];

const FILES: &[&str] = &[
    "blocklists/cybereason.yaml",
    "blocklists/manual.yaml",
    "blocklists/allowlist.yaml",
];

fn yaml_quote(s: &str) -> String {
    serde_json::to_string(s).unwrap()
}

#[test]
fn hostile_values_never_reach_rendered_output() {
    for file in FILES {
        for bad in HOSTILE {
            let r = TempRepo::new();
            for f in FILES {
                r.write(f, &blocklist(&[entry("203.0.113.9", "ipv4", "")]));
            }
            r.write(
                "blocklists/allowlist.yaml",
                "entries:\n- value: good.example\n",
            );
            let text = if file.ends_with("allowlist.yaml") {
                format!(
                    "entries:\n- value: good.example\n- value: {}\n",
                    yaml_quote(bad)
                )
            } else {
                format!(
                    "entries:\n- value: 203.0.113.9\n- value: {}\n",
                    yaml_quote(bad)
                )
            };
            r.write(file, &text);
            for args in [
                vec!["render"],
                vec!["render", "--format", "feed"],
                vec!["render", "--out", "out"],
            ] {
                let out = r.run(&args);
                if *bad == "0.0.0.0/0" && !file.ends_with("allowlist.yaml") {
                    // A valid network, dropped by guardrails: rendered without it.
                    assert_eq!(out.code, 0, "{args:?}: {}", out.stderr);
                    assert!(!out.stdout.contains("0.0.0.0 0.0.0.0"), "{}", out.stdout);
                    assert!(!out.stdout.contains("bo-0.0.0.0"), "{}", out.stdout);
                    continue;
                }
                if *bad == "0.0.0.0/0" {
                    // Allowlisting everything is allowed; nothing is blocked.
                    assert_eq!(out.code, 0);
                    assert!(!out.stdout.contains("203.0.113.9 255"), "{}", out.stdout);
                    continue;
                }
                assert_eq!(
                    out.code, 1,
                    "{file} {bad:?} {args:?} rendered:\n{}",
                    out.stdout
                );
                assert!(
                    out.stdout.is_empty(),
                    "{file} {bad:?}: output on failure: {}",
                    out.stdout
                );
                assert!(
                    out.stderr.contains(&format!("{file}:3:10")),
                    "{file} {bad:?}: {}",
                    out.stderr
                );
                assert!(!r.path().join("out").exists(), "nothing written");
            }
            // The diff and check refuse it as well.
            r.commit("hostile");
            if *bad != "0.0.0.0/0" {
                assert_eq!(r.run(&["diff"]).code, 1, "{file} {bad:?}");
                assert_eq!(r.run(&["check"]).code, 1, "{file} {bad:?}");
            }
        }
    }
}

#[test]
fn hostile_comments_are_quoted_and_stripped() {
    let r = TempRepo::new();
    let comment = "x\"\nend\nconfig system admin\n    edit \"evil\\\" ? \u{202E}";
    r.write(
        "blocklists/manual.yaml",
        &format!(
            "entries:\n- value: 203.0.113.9\n  comment: {}\n",
            yaml_quote(comment)
        ),
    );
    let out = r.run(&["check"]);
    // Control characters (newlines) in comments are refused outright…
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(
        out.stdout.contains("blocklists/manual.yaml:3:12: error:"),
        "{}",
        out.stdout
    );
    // …and quotes, backslashes, `?` and bidi characters are neutralised by the quoting filter.
    let comment = "say \"hi\" \\ or ? \u{202E}now";
    r.write(
        "blocklists/manual.yaml",
        &format!(
            "entries:\n- value: 203.0.113.9\n  comment: {}\n",
            yaml_quote(comment)
        ),
    );
    let out = r.run(&["render"]).ok();
    assert!(
        out.stdout
            .contains("set comment \"blockops: manual - say \\\"hi\\\" \\\\ or . now\"\n"),
        "{}",
        out.stdout
    );
    for line in out.stdout.lines() {
        let t = line.trim_start();
        let verb = t.split(' ').next().unwrap_or("");
        assert!(
            ["config", "edit", "set", "append", "next", "end"].contains(&verb),
            "unexpected line {line:?}"
        );
    }
}
