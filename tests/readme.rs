//! Every `blockops` command shown in README.md's shell blocks runs, in order, against the
//! built-in simulators, and succeeds; every FortiOS CLI snippet of the README runs on the
//! FortiGate simulator (with FortiOS' factory objects, as on a real unit) without an error.
//! (The README's first two commands are `cargo run --release -- demo`, exercised by
//! tests/demo.rs, and `cargo test`, which is this suite.)
use std::io::{BufRead, BufReader};
use std::process::Stdio;

use assert_cmd::Command;
use blockops::secret::Secret;
use blockops::sim::cybereason::{CybereasonSim, DEFAULT_PASSWORD, DEFAULT_USER, SimConfig};
use blockops::sim::fortigate::{FortiSim, SimOptions};

/// `blockops …` lines of the ```sh blocks, in order.
fn readme_commands() -> Vec<String> {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let mut out = Vec::new();
    let mut in_sh = false;
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with("```") {
            in_sh = t == "```sh";
            continue;
        }
        if in_sh && t.starts_with("blockops ") {
            out.push(t.to_string());
        }
    }
    out
}

/// The README's FortiOS CLI snippets: fenced blocks whose first line is a `config` command,
/// each as its trimmed, non-empty lines.
fn fortios_snippets() -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let mut out = Vec::new();
    let mut block: Option<Vec<String>> = None;
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with("```") {
            match block.take() {
                Some(b) => {
                    if b.first().is_some_and(|l| l.starts_with("config ")) {
                        out.push(b);
                    }
                }
                None => block = Some(Vec::new()),
            }
            continue;
        }
        if let Some(b) = block.as_mut()
            && !t.is_empty()
        {
            b.push(t.to_string());
        }
    }
    out
}

/// Run lines on the simulator as a `super_admin` would type them; panics on any failure.
fn run_snippet(fgt: &blockops::sim::fortigate::SimHandle, lines: &[String]) {
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    let out = fgt.run(&refs);
    assert!(
        !out.iter().any(|l| l.starts_with("Command fail")),
        "README snippet fails on the simulator:\n{}\n---\n{}",
        lines.join("\n"),
        out.join("\n")
    );
}

#[test]
fn every_fortios_snippet_of_the_readme_runs_on_a_unit_with_factory_objects() {
    let snippets = fortios_snippets();
    assert!(
        !snippets.is_empty(),
        "no FortiOS snippet found in README.md"
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    for snippet in &snippets {
        let fgt = rt.block_on(FortiSim::start(SimOptions::default())).unwrap();
        run_snippet(&fgt, snippet);
        // The pre-create snippet: the deny policy references both managed groups, each in the
        // field of its family (regression: README issue #8 item 15 put the IPv6 group in
        // `dstaddr`, which FortiOS refuses).
        if snippet.iter().any(|l| l == "config firewall policy") {
            let st = fgt.state();
            let policy = st
                .object("root", "firewall policy", "1")
                .expect("`edit 0` created policy 1");
            assert_eq!(policy.list("dstaddr"), ["blockops-v4"]);
            assert_eq!(policy.list("dstaddr6"), ["blockops-v6"]);
            assert_eq!(policy.list("srcaddr"), ["all"]);
        }
        rt.block_on(fgt.shutdown()).unwrap();
    }
}

#[test]
fn the_old_pre_create_snippet_is_refused_like_fortios_refuses_it() {
    // Positive control for the test above: the snippet as it stood before the fix fails.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let fgt = rt.block_on(FortiSim::start(SimOptions::default())).unwrap();
    let out = fgt.run(&[
        "config firewall addrgrp",
        "edit \"blockops-v4\"",
        "set member \"none\"",
        "next",
        "end",
        "config firewall address6",
        "edit \"bo-placeholder6\"",
        "set ip6 ::/128",
        "next",
        "end",
        "config firewall addrgrp6",
        "edit \"blockops-v6\"",
        "set member \"bo-placeholder6\"",
        "next",
        "end",
        "config firewall policy",
        "edit 0",
        "set dstaddr \"blockops-v4\" \"blockops-v6\"",
    ]);
    assert_eq!(
        out,
        [
            "entry not found in datasource",
            "",
            "value parse error before '\"blockops-v6\"'",
            "Command fail. Return code -3"
        ]
    );
}

fn split(cmd: &str) -> Vec<String> {
    cmd.split_whitespace().skip(1).map(String::from).collect()
}

#[test]
fn every_readme_command_runs() {
    let cmds = readme_commands();
    assert!(cmds.len() >= 8, "{cmds:?}");
    let cr = CybereasonSim::spawn(SimConfig::default()).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let fgt = rt
        .block_on(FortiSim::start(SimOptions {
            password: Some(Secret::new("readme-pw")),
            ..SimOptions::default()
        }))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path();
    let config = format!(
        "cybereason:\n  url: {}\n  username: {DEFAULT_USER}\n  password: {{env: CYBEREASON_PASSWORD}}\n  retry_backoff: 10ms\n\
targets:\n  - name: fw-edge-1\n    host: 127.0.0.1\n    port: {}\n    username: admin\n    password: {{env: FGT_EDGE_1_PASSWORD}}\n    host_key_fingerprint: \"{}\"\n",
        cr.url(),
        fgt.addr.port(),
        fgt.host_key_fingerprint()
    );
    std::fs::write(repo.join("blockops.yaml"), config).unwrap();
    std::fs::create_dir_all(repo.join("blocklists")).unwrap();
    for f in ["cybereason.yaml", "manual.yaml", "allowlist.yaml"] {
        std::fs::write(repo.join("blocklists").join(f), "entries: []\n").unwrap();
    }
    // Quick start step 2: the groups and the deny policy are created by hand first.
    for snippet in fortios_snippets() {
        run_snippet(&fgt, &snippet);
    }
    let git = |args: &[&str]| {
        let ok = std::process::Command::new("git")
            .args(args)
            .current_dir(repo)
            .env("HOME", repo)
            .status()
            .unwrap();
        assert!(ok.success(), "git {args:?}");
    };
    git(&["init", "-q", "-b", "main"]);
    git(&[
        "-c",
        "user.name=t",
        "-c",
        "user.email=t@example.com",
        "add",
        "-A",
    ]);
    git(&[
        "-c",
        "user.name=t",
        "-c",
        "user.email=t@example.com",
        "commit",
        "-qm",
        "config",
    ]);

    for cmd in &cmds {
        let args = split(cmd);
        if args[0] == "sim" {
            // Long-running: start it on a free port, wait for its address, stop it.
            let args: Vec<String> = args
                .iter()
                .map(|a| {
                    if a.starts_with("127.0.0.1:") {
                        "127.0.0.1:0".into()
                    } else {
                        a.clone()
                    }
                })
                .collect();
            let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("blockops"))
                .args(&args)
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            let mut first = String::new();
            BufReader::new(child.stdout.take().unwrap())
                .read_line(&mut first)
                .unwrap();
            let _ = child.kill();
            let _ = child.wait();
            assert!(first.contains("127.0.0.1:"), "{cmd}: {first}");
            continue;
        }
        let out = Command::cargo_bin("blockops")
            .unwrap()
            .args(&args)
            .current_dir(repo)
            .env("CYBEREASON_PASSWORD", DEFAULT_PASSWORD)
            .env("FGT_EDGE_1_PASSWORD", "readme-pw")
            .env("GIT_AUTHOR_NAME", "readme")
            .env("GIT_AUTHOR_EMAIL", "readme@example.com")
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        let code = out.status.code().unwrap_or(-1);
        let allowed: &[i32] = if cmd.contains("--exit-code") || cmd.contains("--detailed-exitcode")
        {
            &[0, 2]
        } else {
            &[0]
        };
        assert!(
            allowed.contains(&code),
            "README command `{cmd}` exited {code}\nstdout:\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        if cmd.ends_with("--detailed-exitcode") {
            assert_eq!(code, 0, "`{cmd}`: after apply the device matches");
        }
    }
    rt.block_on(fgt.shutdown()).unwrap();
    cr.shutdown();
}
