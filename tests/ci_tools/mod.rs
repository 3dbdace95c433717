//! Finding the external tools the CI-example tests drive (linters, gitlab-ci-local, git, jq …).
//! `.ci/run` installs them pinned under `target/ci-tools` and sets `BLOCKOPS_REQUIRE_CI_TOOLS`,
//! so in CI a missing tool fails the test; on a developer machine without them the test says
//! SKIPPED loudly instead (run `.ci/run` once, or install them, to get the real check).
#![allow(dead_code)]

use std::path::{Path, PathBuf};

pub fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn examples_dir() -> PathBuf {
    manifest_dir().join("examples/ci")
}

/// Where `.ci/run` installs the tools.
fn tools_dir() -> PathBuf {
    std::env::var_os("BLOCKOPS_CI_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| manifest_dir().join("target/ci-tools"))
}

fn executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The tool's path: the pinned install under the tools directory first, then `PATH`.
pub fn find(name: &str) -> Option<PathBuf> {
    let tools = tools_dir();
    let pinned = [
        tools.join("venv/bin").join(name),
        tools.join("npm/node_modules/.bin").join(name),
    ];
    if let Some(p) = pinned.into_iter().find(|p| executable(p)) {
        return Some(p);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| executable(p))
}

/// All the named tools, or `None` after printing SKIPPED (a panic when CI requires them).
pub fn require(test: &str, names: &[&str]) -> Option<Vec<PathBuf>> {
    let found: Vec<Option<PathBuf>> = names.iter().map(|n| find(n)).collect();
    let missing: Vec<&str> = names
        .iter()
        .zip(&found)
        .filter(|(_, f)| f.is_none())
        .map(|(n, _)| *n)
        .collect();
    if missing.is_empty() {
        return Some(found.into_iter().flatten().collect());
    }
    let msg = format!(
        "{test}: SKIPPED — missing {} (`.ci/run` installs them under target/ci-tools)",
        missing.join(", ")
    );
    if std::env::var_os("BLOCKOPS_REQUIRE_CI_TOOLS").is_some() {
        panic!("{msg}, and BLOCKOPS_REQUIRE_CI_TOOLS is set");
    }
    eprintln!("\n!!!!!!!! {msg}\n");
    println!("{msg}");
    None
}

/// `PATH` with the directories of `tools` in front (so a linter finds the pinned shellcheck).
pub fn path_with(tools: &[PathBuf]) -> std::ffi::OsString {
    let mut dirs: Vec<PathBuf> = tools
        .iter()
        .filter_map(|t| t.parent().map(Path::to_path_buf))
        .collect();
    if let Some(p) = std::env::var_os("PATH") {
        dirs.extend(std::env::split_paths(&p));
    }
    std::env::join_paths(dirs).expect("PATH entries without separators")
}

/// Sorted files under `dir` whose names end with one of `suffixes`.
pub fn files(dir: &Path, suffixes: &[&str]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display()));
        for e in entries {
            let p = e.expect("directory entry").path();
            if p.is_dir() {
                stack.push(p);
            } else if p
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| suffixes.iter().any(|s| n.ends_with(s)))
            {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// A GitLab job's key, following `extends:` (the job's own value wins, as in GitLab).
pub fn inherited<'a>(
    doc: &'a serde_yaml::Value,
    job: &'a serde_yaml::Value,
    key: &str,
) -> Option<&'a serde_yaml::Value> {
    use serde_yaml::Value;
    if let Some(v) = job.get(key) {
        return Some(v);
    }
    let parents: Vec<&str> = match job.get("extends") {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Sequence(s)) => s.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    parents
        .iter()
        .rev()
        .find_map(|p| inherited(doc, doc.get(*p)?, key))
}
