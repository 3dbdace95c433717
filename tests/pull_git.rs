//! `pull` and git: concurrent `pull --commit` (issue #8 item 12), the commit identity
//! (issue #11 point 8) and the configuration path in messages (issue #10).
mod support;

use std::process::Output;

use support::cyber::*;

/// Issue #8 item 12: several `pull --commit` at once make exactly one commit, never an empty
/// one, never a failed ref update, and the file is exactly what one pull writes.
#[test]
fn concurrent_pull_commits_make_exactly_one_commit() {
    // What a single pull writes.
    let single = setup(FIXTURE);
    let out = single.run(&["pull", "--commit"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let expected = single.pulled();

    for round in 0..3 {
        let env = setup(FIXTURE);
        let children: Vec<_> = (0..5)
            .map(|_| {
                env.std_cmd()
                    .args(["pull", "--commit"])
                    .env("GIT_AUTHOR_NAME", "Pull Bot")
                    .env("GIT_AUTHOR_EMAIL", "pull-bot@example.invalid")
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .expect("spawn")
            })
            .collect();
        let outs: Vec<Output> = children
            .into_iter()
            .map(|c| c.wait_with_output().expect("wait"))
            .collect();
        for o in &outs {
            assert_eq!(o.status.code(), Some(0), "round {round}: {}", text(o));
        }
        let written = outs
            .iter()
            .filter(|o| String::from_utf8_lossy(&o.stdout).contains("written and committed"))
            .count();
        assert_eq!(written, 1, "round {round}: exactly one process commits");
        assert_eq!(env.commits(), 2, "round {round}: exactly one new commit");
        // No empty commit: the new commit changes exactly the pulled file.
        let files = git(env.path(), &["show", "--name-only", "--format=", "HEAD"]);
        assert_eq!(files.trim(), "blocklists/cybereason.yaml", "round {round}");
        assert_eq!(env.pulled(), expected, "round {round}");
        assert_eq!(
            git(env.path(), &["status", "--porcelain"]),
            "",
            "round {round}"
        );
    }
}

fn author(env: &Env) -> String {
    git(env.path(), &["log", "-1", "--format=%an <%ae>|%cn <%ce>"])
        .trim()
        .to_string()
}

/// Issue #11 point 8: `git config user.*` is used when nothing more specific is set — the
/// repository's configuration first, then the global one — and `git.author_*` in
/// blockops.yaml, then `GIT_AUTHOR_*`, win over it.
#[test]
fn commit_identity_follows_git_configuration() {
    // Global git configuration only.
    let env = setup(FIXTURE);
    std::fs::write(
        env.home.path().join(".gitconfig"),
        "[user]\n\tname = Global CI\n\temail = global-ci@example.invalid\n",
    )
    .unwrap();
    let out = env.cmd().args(["pull", "--commit"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(
        author(&env),
        "Global CI <global-ci@example.invalid>|Global CI <global-ci@example.invalid>"
    );

    // The repository's configuration wins over the global one.
    let env = setup(FIXTURE);
    std::fs::write(
        env.home.path().join(".gitconfig"),
        "[user]\n\tname = Global CI\n\temail = global-ci@example.invalid\n",
    )
    .unwrap();
    git(env.path(), &["config", "user.name", "GitLab Runner"]);
    git(
        env.path(),
        &["config", "user.email", "runner@example.invalid"],
    );
    let out = env.cmd().args(["pull", "--commit"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(
        author(&env),
        "GitLab Runner <runner@example.invalid>|GitLab Runner <runner@example.invalid>"
    );

    // GIT_AUTHOR_* / GIT_COMMITTER_* win over git config.
    let env = setup(FIXTURE);
    git(env.path(), &["config", "user.name", "GitLab Runner"]);
    git(
        env.path(),
        &["config", "user.email", "runner@example.invalid"],
    );
    let out = env
        .cmd()
        .args(["pull", "--commit"])
        .env("GIT_AUTHOR_NAME", "Env Author")
        .env("GIT_AUTHOR_EMAIL", "env-author@example.invalid")
        .env("GIT_COMMITTER_NAME", "Env Committer")
        .env("GIT_COMMITTER_EMAIL", "env-committer@example.invalid")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(
        author(&env),
        "Env Author <env-author@example.invalid>|Env Committer <env-committer@example.invalid>"
    );

    // git.author_* in blockops.yaml wins over everything for the author.
    let env = setup_with(
        sim(FIXTURE, |_| {}),
        "git:\n  author_name: Yaml Bot\n  author_email: yaml-bot@example.invalid\n",
        None,
    );
    git(env.path(), &["config", "user.name", "GitLab Runner"]);
    git(
        env.path(),
        &["config", "user.email", "runner@example.invalid"],
    );
    let out = env
        .cmd()
        .args(["pull", "--commit"])
        .env("GIT_AUTHOR_NAME", "Env Author")
        .env("GIT_AUTHOR_EMAIL", "env-author@example.invalid")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(
        author(&env),
        "Yaml Bot <yaml-bot@example.invalid>|GitLab Runner <runner@example.invalid>"
    );

    // Nothing configured: the documented default.
    let env = setup(FIXTURE);
    let out = env.cmd().args(["pull", "--commit"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(
        author(&env),
        "blockops <blockops@localhost>|blockops <blockops@localhost>"
    );
}

/// Issue #10: `pull` names the configuration file it was given, not a hard-coded one.
#[test]
fn pull_names_the_configured_config_path() {
    let env = setup(FIXTURE);
    std::fs::create_dir_all(env.path().join("ci")).unwrap();
    std::fs::write(env.path().join("ci/blockops-ci.yaml"), "window: 30d\n").unwrap();
    let out = env
        .cmd()
        .args(["--config", "ci/blockops-ci.yaml", "pull"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("ci/blockops-ci.yaml has no `cybereason:` section"),
        "{err}"
    );
    assert!(!err.contains("blockops.yaml has"), "{err}");

    // The JSON summary records which configuration was used.
    let cfg = std::fs::read_to_string(env.path().join("blockops.yaml")).unwrap();
    std::fs::write(env.path().join("ci/blockops-ci.yaml"), cfg).unwrap();
    let out = env
        .cmd()
        .args([
            "--config",
            "ci/blockops-ci.yaml",
            "pull",
            "--dry-run",
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["config"], "ci/blockops-ci.yaml");
}
