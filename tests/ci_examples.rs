//! The CI pipeline examples under `examples/ci/` are meant to be copied as they are, so every
//! `blockops …` they run must exist: this parses each YAML file, extracts the invocations from
//! `run:` / `script:` steps (multi-line shell included) and checks subcommand, flags and
//! `--format` values against the real binary's `--help`. It also checks the safety structure of
//! the apply jobs (environment approval, no two applies at once).
mod ci_tools;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use ci_tools::inherited;
use serde_yaml::Value;

fn ci_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/ci")
}

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            yaml_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "yml" || e == "yaml") {
            out.push(p);
        }
    }
}

fn load(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap();
    serde_yaml::from_str(&text)
        .unwrap_or_else(|e| panic!("{}: not valid YAML: {e}", path.display()))
}

/// Every shell text under a `run`, `script`, `before_script` or `after_script` key.
fn scripts(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Mapping(m) => {
            for (k, val) in m {
                let is_script = matches!(
                    k.as_str(),
                    Some("run" | "script" | "before_script" | "after_script")
                );
                match (is_script, val) {
                    (true, Value::String(s)) => out.push(s.clone()),
                    (true, Value::Sequence(items)) => {
                        for i in items {
                            if let Value::String(s) = i {
                                out.push(s.clone());
                            }
                        }
                    }
                    _ => scripts(val, out),
                }
            }
        }
        Value::Sequence(items) => items.iter().for_each(|i| scripts(i, out)),
        _ => {}
    }
}

/// Split one shell line into words and operators (quotes removed, `$VAR` kept verbatim).
/// Command substitutions inside double quotes are returned in `nested`.
fn shell_words(line: &str, nested: &mut Vec<String>) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut has = false;
    let mut chars = line.chars().peekable();
    let flush = |cur: &mut String, has: &mut bool, out: &mut Vec<String>| {
        if *has {
            out.push(std::mem::take(cur));
            *has = false;
        }
    };
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                has = true;
                for d in chars.by_ref() {
                    if d == '\'' {
                        break;
                    }
                    cur.push(d);
                }
            }
            '"' => {
                has = true;
                let mut quoted = String::new();
                while let Some(d) = chars.next() {
                    match d {
                        '"' => break,
                        '\\' => {
                            if let Some(e) = chars.next() {
                                quoted.push(e);
                            }
                        }
                        _ => quoted.push(d),
                    }
                }
                if let Some((_, inner)) = quoted.split_once("$(") {
                    nested.push(inner.to_string());
                }
                cur.push_str(&quoted);
            }
            '#' if !has => break,
            c if c.is_whitespace() => flush(&mut cur, &mut has, &mut out),
            ';' | '|' | '&' | '(' | ')' | '`' => {
                flush(&mut cur, &mut has, &mut out);
                let mut op = c.to_string();
                if let Some(&n) = chars.peek()
                    && (n == c && (c == '|' || c == '&'))
                {
                    op.push(n);
                    chars.next();
                }
                out.push(op);
            }
            '$' if chars.peek() == Some(&'(') => {
                flush(&mut cur, &mut has, &mut out);
                chars.next();
                out.push("$(".into());
            }
            _ => {
                has = true;
                cur.push(c);
            }
        }
    }
    flush(&mut cur, &mut has, &mut out);
    out
}

/// The argument lists (after `blockops`) of every invocation in a script.
fn invocations(script: &str) -> Vec<Vec<String>> {
    let joined = script.replace("\\\n", " ");
    let mut found = Vec::new();
    for line in joined.lines() {
        let mut nested = Vec::new();
        let words = shell_words(line, &mut nested);
        for n in nested {
            found.extend(invocations(&n));
        }
        let mut segments: Vec<Vec<String>> = vec![Vec::new()];
        for w in words {
            if matches!(
                w.as_str(),
                ";" | "|" | "||" | "&&" | "&" | "(" | ")" | "$(" | "`"
            ) {
                segments.push(Vec::new());
            } else if let Some(s) = segments.last_mut() {
                s.push(w);
            }
        }
        for seg in segments {
            let mut it = seg.into_iter().skip_while(|w| {
                matches!(
                    w.as_str(),
                    "if" | "then"
                        | "else"
                        | "elif"
                        | "do"
                        | "while"
                        | "until"
                        | "!"
                        | "time"
                        | "{"
                        | "exec"
                ) || is_assignment(w)
            });
            // `blockops`, or the binary handed over as an artifact (`bin/blockops`).
            if it
                .next()
                .is_some_and(|w| w == "blockops" || w.ends_with("/blockops"))
            {
                let args: Vec<String> = it.take_while(|w| !is_redirect(w)).collect();
                found.push(args);
            }
        }
    }
    found
}

fn is_assignment(w: &str) -> bool {
    match w.split_once('=') {
        Some((name, _)) => {
            !name.is_empty()
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !name.starts_with(|c: char| c.is_ascii_digit())
        }
        None => false,
    }
}

fn is_redirect(w: &str) -> bool {
    let w = w.trim_start_matches(|c: char| c.is_ascii_digit());
    w.starts_with('>') || w.starts_with('<')
}

/// Options documented in a `--help` text: flag → (takes a value, possible values).
fn help_options(help: &str) -> BTreeMap<String, (bool, Option<Vec<String>>)> {
    let mut out = BTreeMap::new();
    let lines: Vec<&str> = help.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        let t = line.trim_start();
        if !t.starts_with('-') {
            continue;
        }
        // The option's whole description: this line and its indented continuation lines.
        let mut desc = t.to_string();
        for next in &lines[i + 1..] {
            if next.trim_start().starts_with('-') || next.trim().is_empty() {
                break;
            }
            desc.push(' ');
            desc.push_str(next.trim());
        }
        let possible = desc.split_once("[possible values: ").map(|(_, rest)| {
            rest.split(']')
                .next()
                .unwrap_or("")
                .split(',')
                .map(|v| v.trim().to_string())
                .collect::<Vec<_>>()
        });
        let head: Vec<&str> = t.split("  ").next().unwrap_or("").split(", ").collect();
        let takes_value = t.split("  ").next().unwrap_or("").contains('<');
        for h in head {
            let flag = h.split([' ', '=', '[', '<']).next().unwrap_or("");
            let flag = flag.trim_end_matches("...");
            if flag.starts_with('-') {
                out.insert(flag.to_string(), (takes_value, possible.clone()));
            }
        }
    }
    out
}

struct Cli {
    cache: BTreeMap<Vec<String>, Option<String>>,
}

impl Cli {
    /// `blockops <path…> --help`, or None when that command does not exist.
    fn help(&mut self, path: &[String]) -> Option<String> {
        self.cache
            .entry(path.to_vec())
            .or_insert_with(|| {
                let out = Command::cargo_bin("blockops")
                    .unwrap()
                    .args(path)
                    .arg("--help")
                    .env("NO_COLOR", "1")
                    .output()
                    .unwrap();
                out.status
                    .success()
                    .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
            })
            .clone()
    }

    fn subcommands(&mut self, path: &[String]) -> BTreeSet<String> {
        let help = self.help(path).unwrap_or_default();
        help.lines()
            .skip_while(|l| !l.starts_with("Commands:"))
            .skip(1)
            .take_while(|l| l.starts_with("  "))
            .filter_map(|l| l.split_whitespace().next().map(str::to_string))
            .collect()
    }

    /// Problems with one invocation (empty = fine).
    fn check(&mut self, args: &[String]) -> Vec<String> {
        let mut problems = Vec::new();
        let mut path: Vec<String> = Vec::new();
        let mut i = 0;
        // Global options may come before the subcommand.
        let top = help_options(&self.help(&[]).unwrap_or_default());
        while i < args.len() && args[i].starts_with('-') {
            let flag = args[i].split('=').next().unwrap_or("").to_string();
            match top.get(&flag) {
                Some((true, _)) if !args[i].contains('=') => i += 2,
                Some(_) => i += 1,
                None => {
                    problems.push(format!("`{flag}` is not a global option"));
                    i += 1;
                }
            }
        }
        // The subcommand chain (`sim fortigate`).
        while i < args.len() && !args[i].starts_with('-') {
            let subs = self.subcommands(&path);
            if subs.is_empty() {
                break;
            }
            if !subs.contains(&args[i]) {
                problems.push(format!(
                    "`{}` is not a subcommand of `blockops {}`",
                    args[i],
                    path.join(" ")
                ));
                return problems;
            }
            path.push(args[i].clone());
            i += 1;
        }
        let Some(help) = self.help(&path) else {
            problems.push(format!("`blockops {} --help` fails", path.join(" ")));
            return problems;
        };
        let opts = help_options(&help);
        while i < args.len() {
            let a = &args[i];
            i += 1;
            if !a.starts_with('-') || a == "-" {
                continue;
            }
            let (flag, inline) = match a.split_once('=') {
                Some((f, v)) => (f.to_string(), Some(v.to_string())),
                None => (a.clone(), None),
            };
            let Some((takes_value, possible)) = opts.get(&flag) else {
                problems.push(format!(
                    "`blockops {}` has no option `{flag}`",
                    path.join(" ")
                ));
                continue;
            };
            if *takes_value {
                let value = match inline {
                    Some(v) => Some(v),
                    None => {
                        i += 1;
                        args.get(i - 1).cloned()
                    }
                };
                match (value, possible) {
                    (None, _) => problems.push(format!("`{flag}` needs a value")),
                    (Some(v), Some(pv)) if !v.contains('$') && !pv.contains(&v) => problems.push(
                        format!("`{flag} {v}`: possible values are {}", pv.join(", ")),
                    ),
                    _ => {}
                }
            }
        }
        problems
    }
}

fn all_files() -> Vec<(PathBuf, Value)> {
    let mut files = Vec::new();
    yaml_files(&ci_dir(), &mut files);
    files
        .into_iter()
        .map(|p| {
            let v = load(&p);
            (p, v)
        })
        .collect()
}

#[test]
fn every_blockops_invocation_in_the_ci_examples_exists() {
    let files = all_files();
    let names: Vec<String> = files
        .iter()
        .map(|(p, _)| p.strip_prefix(ci_dir()).unwrap().display().to_string())
        .collect();
    assert!(
        names.iter().any(|n| n.starts_with("github/"))
            && names.iter().any(|n| n.ends_with(".gitlab-ci.yml")),
        "expected GitHub and GitLab examples, found {names:?}"
    );
    let mut cli = Cli {
        cache: BTreeMap::new(),
    };
    let mut problems = Vec::new();
    let mut used: BTreeSet<String> = BTreeSet::new();
    for (path, doc) in &files {
        let mut texts = Vec::new();
        scripts(doc, &mut texts);
        for t in &texts {
            for inv in invocations(t) {
                used.insert(inv.join(" "));
                for p in cli.check(&inv) {
                    problems.push(format!(
                        "{}: `blockops {}`: {p}",
                        path.display(),
                        inv.join(" ")
                    ));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    // The GitOps flow is all there.
    for needed in [
        "pull --commit",
        "check",
        "fmt --check",
        "--format markdown",
        "--offline-base",
        "plan -v --all --rev",
        "apply plans/ --yes",
    ] {
        assert!(
            used.iter().any(|u| u.contains(needed)),
            "no example runs `blockops …{needed}…`; invocations: {used:#?}"
        );
    }
}

fn runs_apply(v: &Value) -> bool {
    let mut texts = Vec::new();
    scripts(v, &mut texts);
    texts.iter().any(|t| {
        invocations(t).iter().any(|a| {
            a.first().map(String::as_str) == Some("apply") && !a.iter().any(|x| x == "--dry-run")
        })
    })
}

#[test]
fn github_apply_jobs_need_approval_and_never_overlap() {
    let mut apply_jobs = 0;
    for (path, doc) in all_files() {
        let Some(jobs) = doc.get("jobs").and_then(Value::as_mapping) else {
            continue;
        };
        for (name, job) in jobs {
            if !runs_apply(job) {
                continue;
            }
            apply_jobs += 1;
            let at = format!("{}: job {:?}", path.display(), name.as_str());
            let env = job.get("environment");
            let env_name =
                env.and_then(|e| e.as_str().or_else(|| e.get("name").and_then(Value::as_str)));
            assert!(
                env_name.is_some_and(|n| !n.is_empty()),
                "{at}: no `environment:` (approval)"
            );
            let conc = job.get("concurrency").or_else(|| doc.get("concurrency"));
            let Some(conc) = conc else {
                panic!("{at}: no `concurrency:`");
            };
            let group = conc
                .as_str()
                .or_else(|| conc.get("group").and_then(Value::as_str));
            assert!(
                group.is_some_and(|g| !g.is_empty() && !g.contains("github.run")),
                "{at}: concurrency group must be fixed, got {group:?}"
            );
            assert_eq!(
                conc.get("cancel-in-progress").and_then(Value::as_bool),
                Some(false),
                "{at}: an apply in progress must never be cancelled"
            );
            let uses_plan = job
                .get("steps")
                .and_then(Value::as_sequence)
                .is_some_and(|s| {
                    s.iter().any(|st| {
                        st.get("uses")
                            .and_then(Value::as_str)
                            .is_some_and(|u| u.contains("download-artifact"))
                    })
                });
            assert!(
                uses_plan,
                "{at}: must apply the plan files of the plan job (download-artifact)"
            );
            assert!(
                job.get("needs").is_some(),
                "{at}: must depend on the plan job"
            );
        }
    }
    assert!(apply_jobs > 0, "no GitHub job runs `blockops apply`");
}

#[test]
fn gitlab_apply_jobs_are_manual_protected_and_serialised() {
    let path = ci_dir().join("gitlab/.gitlab-ci.yml");
    let doc = load(&path);
    let jobs = doc.as_mapping().expect("a mapping of jobs");
    let mut apply_jobs = 0;
    for (name, job) in jobs {
        if !runs_apply(job) {
            continue;
        }
        apply_jobs += 1;
        let at = format!("job {:?}", name.as_str());
        assert!(
            inherited(&doc, job, "resource_group")
                .and_then(Value::as_str)
                .is_some_and(|g| !g.is_empty()),
            "{at}: no `resource_group:`"
        );
        let env = job.get("environment");
        let env_name =
            env.and_then(|e| e.as_str().or_else(|| e.get("name").and_then(Value::as_str)));
        assert!(
            env_name.is_some_and(|n| !n.is_empty()),
            "{at}: no protected `environment:`"
        );
        let manual = job.get("when").and_then(Value::as_str) == Some("manual")
            || job
                .get("rules")
                .and_then(Value::as_sequence)
                .is_some_and(|rules| {
                    !rules.is_empty()
                        && rules.iter().all(|r| {
                            matches!(
                                r.get("when").and_then(Value::as_str),
                                Some("manual" | "never")
                            )
                        })
                });
        assert!(manual, "{at}: must be `when: manual` in every rule");
        assert!(
            job.get("needs").is_some(),
            "{at}: must use the plan job's artifacts (`needs:`)"
        );
    }
    assert!(apply_jobs > 0, "no GitLab job runs `blockops apply`");
}

#[test]
fn the_extractor_sees_multi_line_and_chained_invocations() {
    let script = "set +e\nFOO=1 blockops plan --all \\\n  --out plans/ > x.json || [ $? -eq 2 ]\n\
                  if git diff --quiet; then echo; fi && blockops diff --format markdown | tee d.md\n\
                  cargo install --git \"$U\" blockops\n# blockops not-a-command\necho \"$(blockops --version)\"\n";
    let inv = invocations(script);
    assert_eq!(
        inv,
        vec![
            vec!["plan", "--all", "--out", "plans/"],
            vec!["diff", "--format", "markdown"],
            vec!["--version"],
        ]
    );
    let mut cli = Cli {
        cache: BTreeMap::new(),
    };
    let bad = |a: &str| a.split(' ').map(str::to_string).collect::<Vec<_>>();
    assert!(cli.check(&bad("plan --all --out plans/")).is_empty());
    assert!(!cli.check(&bad("plan --no-such-flag")).is_empty());
    assert!(!cli.check(&bad("diff --format yaml")).is_empty());
    assert!(!cli.check(&bad("deploy --now")).is_empty());
    assert!(!cli.check(&bad("sim nothing")).is_empty());
    assert!(cli.check(&bad("sim fortigate --help")).is_empty());
}

fn github_files() -> Vec<(PathBuf, Value)> {
    all_files()
        .into_iter()
        .filter(|(p, _)| p.starts_with(ci_dir().join("github")))
        .collect()
}

/// The current major of each action the workflows use (node24 runtimes; the node20 majors are
/// deprecated). The SHAs in the workflows are the commits of these releases' tags in the
/// actions' own repositories (actions/checkout v7.0.1, actions/upload-artifact v7.0.0,
/// actions/download-artifact v8.0.1, actions/cache v5.0.5, actions/create-github-app-token
/// v3.1.1), whose action.yml says `using: node24`.
const ACTION_MAJORS: &[(&str, u32)] = &[
    ("actions/checkout", 7),
    ("actions/upload-artifact", 7),
    ("actions/download-artifact", 8),
    ("actions/cache", 5),
    ("actions/create-github-app-token", 3),
];

#[test]
fn actions_are_pinned_by_commit_sha_at_their_current_major() {
    let mut seen = 0;
    for (path, _) in github_files() {
        let text = std::fs::read_to_string(&path).unwrap();
        for (n, line) in text.lines().enumerate() {
            let Some((_, rest)) = line.split_once("uses: ") else {
                continue;
            };
            let at = format!("{}:{}", path.display(), n + 1);
            if rest.starts_with("./") {
                continue;
            }
            seen += 1;
            let (spec, comment) = rest.split_once(" # ").unwrap_or((rest, ""));
            let (action, sha) = spec
                .split_once('@')
                .unwrap_or_else(|| panic!("{at}: `{rest}` has no @ref"));
            assert!(
                sha.len() == 40 && sha.chars().all(|c| c.is_ascii_hexdigit()),
                "{at}: {action} must be pinned by a full commit SHA, not `{sha}`"
            );
            let version = comment.trim();
            let major: u32 = version
                .strip_prefix('v')
                .and_then(|v| v.split('.').next())
                .and_then(|m| m.parse().ok())
                .unwrap_or_else(|| panic!("{at}: `# vX.Y.Z` comment naming the release missing"));
            let want = ACTION_MAJORS
                .iter()
                .find(|(a, _)| *a == action)
                .unwrap_or_else(|| panic!("{at}: {action} is not a reviewed action"))
                .1;
            assert_eq!(major, want, "{at}: {action} {version}: use major v{want}");
        }
    }
    assert!(seen >= 10, "only {seen} `uses:` lines found");
}

#[test]
fn github_workflows_grant_least_privilege() {
    for (path, doc) in github_files() {
        let at = path.display().to_string();
        let on = doc.get("on").expect("on:");
        assert!(
            on.get("pull_request_target").is_none() && on.get("workflow_run").is_none(),
            "{at}: never run fork code with a write token"
        );
        assert_eq!(
            doc.get("permissions")
                .and_then(Value::as_mapping)
                .map(|m| m.len()),
            Some(0),
            "{at}: the workflow grants nothing (`permissions: {{}}`); each job asks for its own"
        );
        for (name, job) in doc.get("jobs").and_then(Value::as_mapping).expect("jobs") {
            let at = format!("{at}: job {:?}", name.as_str());
            let perms = job
                .get("permissions")
                .and_then(Value::as_mapping)
                .unwrap_or_else(|| panic!("{at}: explicit `permissions:`"));
            for (scope, level) in perms {
                let (scope, level) = (scope.as_str().unwrap(), level.as_str().unwrap());
                assert!(
                    level == "read"
                        || (scope == "pull-requests" && name.as_str() == Some("review")),
                    "{at}: `{scope}: {level}` — writes go through the app token"
                );
            }
            for step in job
                .get("steps")
                .and_then(Value::as_sequence)
                .expect("steps")
            {
                if step
                    .get("uses")
                    .and_then(Value::as_str)
                    .is_some_and(|u| u.starts_with("actions/checkout@"))
                {
                    assert_eq!(
                        step.get("with")
                            .and_then(|w| w.get("persist-credentials"))
                            .and_then(Value::as_bool),
                        Some(false),
                        "{at}: checkout must not leave a token in .git/config"
                    );
                }
            }
        }
    }
}

#[test]
fn review_jobs_diff_from_the_merge_base_and_update_one_comment() {
    let mut reviews = 0;
    for (path, doc) in all_files() {
        let mut texts = Vec::new();
        scripts(&doc, &mut texts);
        let all = texts.join("\n");
        assert!(
            !all.contains("--edit-last"),
            "{}: --edit-last edits whatever comment came last",
            path.display()
        );
        if !all.contains("--offline-base") {
            continue;
        }
        reviews += 1;
        assert!(
            all.contains("git merge-base") && all.contains("<!-- blockops-review -->"),
            "{}: the review must diff from the merge base and keep one marked comment",
            path.display()
        );
    }
    assert_eq!(reviews, 2, "one review job per platform");
}

#[test]
fn gitlab_plan_and_apply_run_only_on_pushes_and_by_hand() {
    let doc = load(&ci_dir().join("gitlab/.gitlab-ci.yml"));
    let ifs = |job: &str| -> Vec<String> {
        doc.get(job)
            .and_then(|j| j.get("rules"))
            .and_then(Value::as_sequence)
            .unwrap_or_else(|| panic!("job {job}: rules"))
            .iter()
            .map(|r| {
                r.get("if")
                    .and_then(Value::as_str)
                    .unwrap_or_else(|| panic!("job {job}: every rule has an `if:`"))
                    .to_string()
            })
            .collect()
    };
    for job in ["plan", "apply"] {
        for cond in ifs(job) {
            assert!(
                (cond.contains(r#"$CI_PIPELINE_SOURCE == "push""#)
                    || cond.contains(r#"$CI_PIPELINE_SOURCE == "web""#))
                    && cond.contains("$CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH"),
                "job {job}: `{cond}` may match a schedule (rules: changes is always true there)"
            );
        }
    }
    for cond in ifs("pull") {
        assert!(
            !cond.contains(r#""push""#),
            "pull must not run on pushes: {cond}"
        );
    }
    // Planning reads the devices; it must not need the deploy rights of `firewalls`.
    let env = |job: &str| {
        let e = doc
            .get(job)
            .and_then(|j| j.get("environment"))
            .expect("environment");
        (
            e.get("name").and_then(Value::as_str).unwrap().to_string(),
            e.get("action")
                .and_then(Value::as_str)
                .unwrap_or("start")
                .to_string(),
        )
    };
    let (plan_env, plan_action) = env("plan");
    let (apply_env, apply_action) = env("apply");
    assert_ne!(plan_env, apply_env, "plan must use a read-only environment");
    assert_eq!(
        (plan_action.as_str(), apply_action.as_str()),
        ("prepare", "start")
    );
}

#[test]
fn apply_jobs_make_the_approved_branch_current_before_applying() {
    // Otherwise the superseded check compares with the runner's stale copy of the branch.
    for (path, doc) in all_files() {
        let mut texts = Vec::new();
        scripts(&doc, &mut texts);
        for t in texts.iter().filter(|t| {
            invocations(t)
                .iter()
                .any(|a| a.first().map(String::as_str) == Some("apply"))
        }) {
            let fetch = t.find("git fetch").unwrap_or(usize::MAX);
            let apply = t.find(" apply plans/").unwrap_or(0);
            assert!(
                fetch < apply && t.contains(":refs/heads/"),
                "{}: fetch the approved branch into refs/heads before `blockops apply`",
                path.display()
            );
        }
    }
}
