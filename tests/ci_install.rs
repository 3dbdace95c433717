//! `examples/ci/scripts/blockops-install.sh`, which both pipelines use to get blockops: a pin
//! by tag (annotated or not), branch or commit resolves to the commit it names, so the cache
//! key changes exactly when the pinned code does; a downloaded binary runs only when its
//! sha256 matches, and a tampered cache entry is refused.
mod ci_tools;
mod support;

use support::git;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn script() -> PathBuf {
    ci_tools::examples_dir().join("scripts/blockops-install.sh")
}

fn install(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut c = Command::new("bash");
    c.arg(script()).args(args).current_dir(dir);
    for k in [
        "BLOCKOPS_GIT_URL",
        "BLOCKOPS_GIT_REF",
        "BLOCKOPS_RELEASE_URL",
        "BLOCKOPS_RELEASE_SHA256",
    ] {
        c.env_remove(k);
    }
    c.envs(env.iter().copied())
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", dir);
    c.output().expect("bash")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn a_pinned_tag_branch_or_commit_resolves_to_the_commit_it_names() {
    if ci_tools::require(
        "a_pinned_tag_branch_or_commit_resolves_to_the_commit_it_names",
        &["bash", "git"],
    )
    .is_none()
    {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("blockops-src");
    std::fs::create_dir(&repo).unwrap();
    git(&repo, &["init", "-q", "-b", "main"]);
    git(&repo, &["commit", "-q", "--allow-empty", "-m", "v1"]);
    let c1 = git(&repo, &["rev-parse", "HEAD"]);
    git(&repo, &["tag", "-a", "v1.0.0", "-m", "release 1"]);
    git(&repo, &["tag", "light", "HEAD"]);
    git(&repo, &["branch", "stable"]);
    git(&repo, &["commit", "-q", "--allow-empty", "-m", "v2"]);
    let c2 = git(&repo, &["rev-parse", "HEAD"]);
    let url = repo.to_str().unwrap();
    let key = |r: &str| {
        let o = install(
            tmp.path(),
            &[("BLOCKOPS_GIT_URL", url), ("BLOCKOPS_GIT_REF", r)],
            &["key"],
        );
        (o.status.code(), stdout(&o), stderr(&o))
    };
    // The annotated tag's own object id is not the commit: the peeled id must be used.
    assert_eq!(key("v1.0.0").1, format!("git-{c1}"));
    assert_eq!(key("light").1, format!("git-{c1}"));
    assert_eq!(key("stable").1, format!("git-{c1}"));
    assert_eq!(key(&c1).1, format!("git-{c1}"));
    assert_eq!(key("").1, format!("git-{c2}"), "no ref: the default branch");
    // A branch that moves gets a new key: a pin is never served a stale cached build.
    git(&repo, &["branch", "-f", "stable", "main"]);
    assert_eq!(key("stable").1, format!("git-{c2}"));
    let (code, out, err) = key("v9.9.9");
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.is_empty() && err.contains("neither a tag nor a branch"),
        "{err}"
    );
    let (code, _, err) = key(&c1[..12]);
    assert_eq!(code, Some(1));
    assert!(err.contains("full 40-character SHA"), "{err}");
}

#[test]
fn a_release_binary_runs_only_when_its_checksum_matches() {
    if ci_tools::require(
        "a_release_binary_runs_only_when_its_checksum_matches",
        &["bash", "curl", "sha256sum"],
    )
    .is_none()
    {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    // A stand-in for the prebuilt binary: the installer runs it (`--version`) after copying.
    let release = dir.join("release-blockops");
    std::fs::write(&release, "#!/bin/sh\necho \"blockops 9.9.9\"\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&release, std::fs::Permissions::from_mode(0o755)).unwrap();
    let sha = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(std::fs::read(&release).unwrap()))
    };
    let url = format!("file://{}", release.display());
    let env = |sha: &str| {
        vec![
            ("BLOCKOPS_RELEASE_URL", url.clone()),
            ("BLOCKOPS_RELEASE_SHA256", sha.to_string()),
        ]
    };
    let run = |env: &[(&str, String)], args: &[&str]| {
        let e: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        install(dir, &e, args)
    };

    let no_sum = run(&env("")[..1], &["install", "bin"]);
    assert_eq!(no_sum.status.code(), Some(1));
    assert!(
        stderr(&no_sum).contains("never run unverified"),
        "{}",
        stderr(&no_sum)
    );

    let wrong = "0".repeat(64);
    let bad = run(&env(&wrong), &["install", "bin", "cache"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(
        stderr(&bad).contains("checksum mismatch"),
        "{}",
        stderr(&bad)
    );
    assert!(
        !dir.join("bin/blockops").exists() && !dir.join(format!("cache/release-{wrong}")).exists()
    );

    let ok = run(&env(&sha), &["install", "bin", "cache"]);
    assert!(ok.status.success(), "{}", stderr(&ok));
    assert!(stdout(&ok).contains("not cached") && stdout(&ok).ends_with("blockops 9.9.9"));
    let key = format!("release-{sha}");
    assert_eq!(
        std::fs::read_to_string(dir.join("bin/blockops.version"))
            .unwrap()
            .trim(),
        key
    );

    let again = run(&env(&sha), &["install", "bin2", "cache"]);
    assert!(again.status.success(), "{}", stderr(&again));
    assert!(
        stdout(&again).contains("from the cache"),
        "{}",
        stdout(&again)
    );

    // Someone swaps the cached file: the copy is checked again and refused.
    std::fs::write(
        dir.join(format!("cache/{key}/blockops")),
        "#!/bin/sh\necho evil\n",
    )
    .unwrap();
    let tampered = run(&env(&sha), &["install", "bin3", "cache"]);
    assert_eq!(tampered.status.code(), Some(1));
    assert!(
        stderr(&tampered).contains("does not match"),
        "{}",
        stderr(&tampered)
    );

    // Plain http is refused: only https:// (or file:// for a local mirror).
    let http = install(
        dir,
        &[
            ("BLOCKOPS_RELEASE_URL", "http://127.0.0.1:9/blockops"),
            ("BLOCKOPS_RELEASE_SHA256", &sha),
        ],
        &["install", "bin4"],
    );
    assert_eq!(http.status.code(), Some(1), "{}", stderr(&http));
}
