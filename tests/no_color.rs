//! Colours only on a terminal: every command run with stdout and stderr piped (as in CI logs)
//! prints no ANSI escape sequence — and `--color always` does, so the check can fail.
mod fgt;

use fgt::*;

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
        vec!["plan", "--all", "--format", "json"],
        // Errors, including clap's own usage errors.
        vec!["diff", "--format", "yaml"],
        vec!["plan", "--target", "nope"],
        vec!["apply", "missing.plan.json", "--yes"],
        vec!["pull", "--dry-run"],
    ];
    for args in &cases {
        let o = h.cmd().args(args).env_remove("NO_COLOR").output().unwrap();
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
