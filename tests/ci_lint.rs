//! The CI examples under `examples/ci/` pass the linters a platform team would run before
//! adopting them, with zero findings: actionlint with shellcheck and jactionlint (GitHub
//! workflows), the published JSON schemas of both platforms (SchemaStore's, vendored by
//! check-jsonschema), and shellcheck over the helper scripts and every GitLab job's shell.
//! Each test first shows that its tool really reports a planted defect, so a tool that silently
//! checks nothing (shellcheck not found, schema not loaded) cannot make it pass.
mod ci_tools;
mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use ci_tools::{examples_dir, files, inherited, path_with, require};
use serde_yaml::Value;
use support::text;

fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"))
}

fn workflows() -> Vec<PathBuf> {
    let w = files(&examples_dir().join("github"), &[".yml", ".yaml"]);
    assert!(
        w.len() >= 3,
        "expected the three GitHub workflows, found {w:?}"
    );
    w
}

fn gitlab_file() -> PathBuf {
    examples_dir().join("gitlab/.gitlab-ci.yml")
}

/// A workflow with one shellcheck finding (SC2086) and nothing else wrong.
const BAD_WORKFLOW: &str = "name: planted\non: push\npermissions: {}\nconcurrency:\n  group: planted\n  cancel-in-progress: true\njobs:\n  x:\n    name: x\n    runs-on: ubuntu-24.04\n    timeout-minutes: 5\n    steps:\n      - run: echo $HOME\n";

fn planted(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write planted file");
    p
}

#[test]
fn github_workflows_have_no_actionlint_findings() {
    let Some(t) = require(
        "github_workflows_have_no_actionlint_findings",
        &["actionlint", "shellcheck"],
    ) else {
        return;
    };
    let (actionlint, shellcheck) = (&t[0], &t[1]);
    let lint = |files: &[PathBuf]| {
        run(Command::new(actionlint)
            .arg("-no-color")
            .arg("-shellcheck")
            .arg(shellcheck)
            .args(files))
    };
    let tmp = tempfile::tempdir().unwrap();
    let bad = lint(&[planted(tmp.path(), "planted.yml", BAD_WORKFLOW)]);
    assert!(
        String::from_utf8_lossy(&bad.stdout).contains("SC2086"),
        "actionlint did not run shellcheck on a planted SC2086:\n{}",
        text(&bad)
    );
    let out = lint(&workflows());
    assert!(
        out.status.success() && out.stdout.is_empty(),
        "actionlint findings:\n{}",
        text(&out)
    );
}

#[test]
fn github_workflows_have_no_jactionlint_findings() {
    let Some(t) = require(
        "github_workflows_have_no_jactionlint_findings",
        &["jactionlint", "shellcheck"],
    ) else {
        return;
    };
    let lint = |files: &[PathBuf]| {
        run(Command::new(&t[0])
            .args(["--no-color", "--strict-exit", "--no-online"])
            .env("PATH", path_with(&t[1..]))
            .args(files))
    };
    let tmp = tempfile::tempdir().unwrap();
    let bad = lint(&[planted(
        tmp.path(),
        "planted.yml",
        &BAD_WORKFLOW.replace(
            "      - run: echo $HOME\n",
            "      - uses: actions/checkout@v4\n      - run: echo $HOME\n",
        ),
    )]);
    let bad_out = String::from_utf8_lossy(&bad.stdout);
    assert!(
        bad_out.contains("SC2086") && bad_out.contains("unpinned-uses"),
        "jactionlint missed a planted SC2086 / unpinned action:\n{}",
        text(&bad)
    );
    let out = lint(&workflows());
    assert!(
        out.status.success() && out.stdout.is_empty(),
        "jactionlint findings:\n{}",
        text(&out)
    );
}

#[test]
fn ci_examples_match_the_published_schemas() {
    let Some(t) = require(
        "ci_examples_match_the_published_schemas",
        &["check-jsonschema"],
    ) else {
        return;
    };
    let check = |schema: &str, files: &[PathBuf]| {
        let mut c = Command::new(&t[0]);
        c.args(["--builtin-schema", schema]);
        if schema == "vendor.gitlab-ci" {
            // `!reference [job, key]` tags, as GitLab reads them.
            c.args(["--data-transform", "gitlab-ci"]);
        }
        run(c.args(files))
    };
    let tmp = tempfile::tempdir().unwrap();
    let bad_gh = check(
        "vendor.github-workflows",
        &[planted(
            tmp.path(),
            "planted.yml",
            &BAD_WORKFLOW.replace("timeout-minutes: 5", "timeout-minutes: soon"),
        )],
    );
    assert!(
        !bad_gh.status.success(),
        "the workflow schema accepted `timeout-minutes: soon`:\n{}",
        text(&bad_gh)
    );
    let bad_gl = check(
        "vendor.gitlab-ci",
        &[planted(
            tmp.path(),
            "planted-gitlab-ci.yml",
            "job:\n  script: [true]\n  when: sometimes\n",
        )],
    );
    assert!(
        !bad_gl.status.success(),
        "the GitLab schema accepted `when: sometimes`:\n{}",
        text(&bad_gl)
    );

    let gh = check("vendor.github-workflows", &workflows());
    assert!(
        gh.status.success(),
        "GitHub workflow schema:\n{}",
        text(&gh)
    );
    let gl = check("vendor.gitlab-ci", &[gitlab_file()]);
    assert!(gl.status.success(), "GitLab CI schema:\n{}", text(&gl));
}

/// Resolve `!reference [job, key]` items of a script list (one level, as the examples use).
fn script_items(doc: &Value, v: Option<&Value>, out: &mut Vec<String>) {
    let Some(v) = v else { return };
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Sequence(items) => {
            for i in items {
                script_items(doc, Some(i), out);
            }
        }
        Value::Tagged(t) if t.tag == "reference" => {
            let path: Vec<&str> = t
                .value
                .as_sequence()
                .expect("!reference takes a list")
                .iter()
                .map(|p| p.as_str().expect("!reference path of strings"))
                .collect();
            let mut target = doc;
            for p in &path {
                target = target
                    .get(*p)
                    .unwrap_or_else(|| panic!("!reference {path:?} does not exist"));
            }
            script_items(doc, Some(target), out);
        }
        other => panic!("unexpected script item {other:?}"),
    }
}

/// Each runnable GitLab job's shell, as the runner executes it: before_script then script in
/// one bash session started with `set -eo pipefail`.
fn gitlab_job_scripts() -> Vec<(String, String)> {
    let path = gitlab_file();
    let doc: Value = serde_yaml::from_str(&std::fs::read_to_string(&path).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut jobs = Vec::new();
    for (name, job) in doc.as_mapping().expect("jobs") {
        let name = name.as_str().unwrap_or_default();
        if name.starts_with('.') || job.get("script").is_none() {
            continue;
        }
        let mut items = Vec::new();
        script_items(&doc, inherited(&doc, job, "before_script"), &mut items);
        script_items(&doc, inherited(&doc, job, "script"), &mut items);
        let shell = format!(
            "#!/usr/bin/env bash\nset -eo pipefail\n{}\n",
            items.join("\n")
        );
        jobs.push((name.to_string(), shell));
    }
    assert!(
        ["blockops", "pull", "review", "plan", "apply"]
            .iter()
            .all(|j| jobs.iter().any(|(n, _)| n == j)),
        "GitLab jobs found: {:?}",
        jobs.iter().map(|(n, _)| n).collect::<Vec<_>>()
    );
    jobs
}

#[test]
fn ci_shell_scripts_have_no_shellcheck_findings() {
    let Some(t) = require(
        "ci_shell_scripts_have_no_shellcheck_findings",
        &["shellcheck"],
    ) else {
        return;
    };
    let shellcheck = |file: &Path| {
        run(Command::new(&t[0])
            .args([
                "--norc",
                "--shell=bash",
                "--external-sources",
                "--color=never",
            ])
            .arg(file))
    };
    let tmp = tempfile::tempdir().unwrap();
    let bad = shellcheck(&planted(tmp.path(), "planted.sh", "#!/bin/bash\necho $1\n"));
    assert!(
        String::from_utf8_lossy(&bad.stdout).contains("SC2086"),
        "shellcheck missed a planted SC2086:\n{}",
        text(&bad)
    );

    let mut checked = Vec::new();
    let mut problems = Vec::new();
    let scripts = files(&examples_dir().join("scripts"), &[".sh"]);
    assert!(scripts.len() >= 2, "helper scripts: {scripts:?}");
    for s in scripts {
        let out = shellcheck(&s);
        if !out.status.success() || !out.stdout.is_empty() {
            problems.push(format!("{}:\n{}", s.display(), text(&out)));
        }
        checked.push(s.display().to_string());
    }
    for (job, shell) in gitlab_job_scripts() {
        let f = planted(tmp.path(), &format!("gitlab-job-{job}.sh"), &shell);
        let out = shellcheck(&f);
        if !out.status.success() || !out.stdout.is_empty() {
            problems.push(format!("GitLab job `{job}`:\n{}\n{shell}", text(&out)));
        }
        checked.push(format!("GitLab job {job}"));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
    println!("shellcheck clean: {}", checked.join(", "));
}
