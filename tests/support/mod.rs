//! The one test harness: temporary GitOps repositories, the real `blockops` binary, and the
//! simulators on 127.0.0.1.
//!
//! - [`repo`]: a repository with the three configured files and no simulator (check, render,
//!   diff, explain, review, hostile input);
//! - [`fgt`]: a repository wired to in-process FortiGate simulators (plan, apply, doctor);
//! - [`cyber`]: a repository wired to the Cybereason simulator (pull).
//!
//! All three run git and the binary the same way ([`git`], [`blockops`]) and print failures
//! the same way ([`text`]). Test files include it with `mod support;`.
#![allow(dead_code, unused_imports)]

pub mod cyber;
pub mod fgt;
pub mod repo;

use std::path::Path;
use std::process::Output;

/// The date every run is pinned to (`BLOCKOPS_TODAY`), so expiry and retention are fixed.
pub const TODAY: &str = "2026-11-27";

/// Run the git CLI in `dir` with a fixed identity and no system or signing configuration;
/// panics on failure. Returns stdout without its final line break.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = std::process::Command::new("git")
        .args([
            "-c",
            "user.name=Test",
            "-c",
            "user.email=test@example.invalid",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "Test")
        .env("GIT_AUTHOR_EMAIL", "test@example.invalid")
        .env("GIT_COMMITTER_NAME", "Test")
        .env("GIT_COMMITTER_EMAIL", "test@example.invalid")
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = String::from_utf8_lossy(&out.stdout);
    s.strip_suffix('\n').unwrap_or(&s).to_string()
}

/// The real binary, run in `dir` on the pinned date, with no configuration from the
/// environment of the test run.
pub fn blockops(dir: &Path) -> std::process::Command {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_blockops"));
    c.current_dir(dir)
        .env("BLOCKOPS_TODAY", TODAY)
        .env("NO_COLOR", "1")
        .env_remove("BLOCKOPS_CONFIG")
        .env_remove("BLOCKOPS_REPO")
        .env_remove("BLOCKOPS_LOG");
    c
}

/// Exit status, stdout and stderr, for assertion messages.
pub fn text(o: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A port on 127.0.0.1 that refuses connections for as long as the returned socket lives.
///
/// The socket is bound but never listens, so a connection attempt gets a reset
/// (`ECONNREFUSED`) and no other test can bind the port meanwhile. Binding a listener and
/// closing it again, as these tests once did, frees the port for a parallel test's simulator:
/// the "unreachable" server then answered (seen in CI).
pub fn refusing_port() -> (tokio::net::TcpSocket, u16) {
    let socket = tokio::net::TcpSocket::new_v4().expect("a TCP socket");
    socket
        .bind("127.0.0.1:0".parse().unwrap())
        .expect("bind a port on 127.0.0.1");
    let port = socket.local_addr().expect("the bound port").port();
    (socket, port)
}
