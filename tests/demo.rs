//! `blockops demo` runs the whole pipeline against the built-in simulators (README's first command).
use assert_cmd::Command;

#[test]
fn demo_runs_every_step_and_keeps_the_repository_with_dir() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("demo");
    let out = Command::cargo_bin("blockops")
        .unwrap()
        .args(["demo", "--dir"])
        .arg(&repo)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for step in [
        "$ blockops doctor",
        "passed, 0 warning(s), 0 failed, 0 skipped: ready",
        "$ blockops pull --commit",
        "$ blockops diff --format markdown",
        "$ blockops apply plans/first.json --yes",
        "$ blockops apply plans/second.json --yes",
        "every step did what it should",
    ] {
        assert!(stdout.contains(step), "missing {step:?} in:\n{stdout}");
    }
    assert!(
        !stdout.contains("demo-fgt-password") && !stdout.contains("blockops-sim"),
        "a password leaked:\n{stdout}"
    );
    // The kept repository has the two pull commits, visible to the real git CLI.
    let log = std::process::Command::new("git")
        .args(["log", "--format=%s"])
        .current_dir(&repo)
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&log.stdout);
    assert_eq!(log.lines().count(), 3, "{log}");
    assert!(
        log.lines().last().unwrap().contains("Set up blockops"),
        "{log}"
    );
    // A non-empty directory is refused rather than overwritten.
    let again = Command::cargo_bin("blockops")
        .unwrap()
        .args(["demo", "--dir"])
        .arg(&repo)
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(1));
}
