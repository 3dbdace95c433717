//! What the device benchmarks share (`plan_apply`, `latency`): a committed repository with N
//! IPv4 indicators, and the desired state of its target with some addresses missing — the
//! device is seeded with that, so the measured `apply` has a known delta.
#![allow(dead_code)]

use std::path::Path;
use std::process::Command;

use blockops::fortios::model::{Desired, State};
use blockops::gitops::WorktreeSource;
use blockops::plan::delta::{self, DeltaOptions};
use blockops::workspace::Workspace;

/// Run git in `dir` with a fixed identity; panics on failure.
pub fn git(dir: &Path, args: &[&str]) {
    let ok = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "b")
        .env("GIT_AUTHOR_EMAIL", "b@example.com")
        .env("GIT_COMMITTER_NAME", "b")
        .env("GIT_COMMITTER_EMAIL", "b@example.com")
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(ok, "git {args:?} failed");
}

/// An environment variable as a number, or `d`.
/// The runtime the in-process FortiGate simulator runs on (two workers, like the machine).
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

pub fn env_usize(k: &str, d: usize) -> usize {
    std::env::var(k)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(d)
}

/// Write `n` IPv4 indicators (45.0.0.1 upwards) as the pulled file, the other configured files
/// empty, and commit everything in `root` (whose `blockops.yaml` the caller wrote).
pub fn commit_blocklist(root: &Path, n: usize) {
    let mut y = String::from("entries:\n");
    for i in 0..n as u32 {
        let ip = std::net::Ipv4Addr::from(u32::from(std::net::Ipv4Addr::new(45, 0, 0, 1)) + i);
        y.push_str(&format!(
            "- value: {ip}\n  type: ipv4\n  sources: [reputation]\n  first_seen: 2026-11-01\n"
        ));
    }
    std::fs::create_dir_all(root.join("blocklists")).unwrap();
    std::fs::write(root.join("blocklists/cybereason.yaml"), y).unwrap();
    // Every configured file must exist.
    for f in ["manual.yaml", "allowlist.yaml"] {
        std::fs::write(root.join("blocklists").join(f), "entries: []\n").unwrap();
    }
    git(root, &["init", "-q", "-b", "main"]);
    git(root, &["add", "-A"]);
    git(root, &["commit", "-q", "-m", "bench"]);
}

/// The desired state of the first target in `root` without its first `missing` addresses.
pub fn desired_minus(root: &Path, missing: usize) -> Desired {
    let ws = Workspace::load(
        &WorktreeSource {
            root: root.to_path_buf(),
        },
        "blockops.yaml",
    )
    .unwrap();
    let eff = ws.effective(blockops::blocklist::today());
    let mut desired = ws.desired(&eff, &ws.config.targets[0]).unwrap();
    let dropped: std::collections::BTreeSet<String> = desired
        .addresses
        .iter()
        .take(missing)
        .map(|a| a.name.clone())
        .collect();
    desired.addresses.retain(|a| !dropped.contains(&a.name));
    for g in &mut desired.groups {
        g.members.retain(|m| !dropped.contains(m));
    }
    desired
}

/// The CLI lines that create `desired` on an empty device.
pub fn seed_script(desired: &Desired) -> String {
    let opts = DeltaOptions {
        max_line_length: 400,
        ..DeltaOptions::default()
    };
    delta::compute(&State::default(), &State::from_desired(desired), &opts).script
}
