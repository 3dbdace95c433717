//! The FortiGate part of the harness (plan, apply, doctor): a temporary git repository with `blockops.yaml`
//! and a blocklist, one or more in-process FortiGate simulators on 127.0.0.1, and the real
//! `blockops` binary.

use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::Command;
use blockops::sim::fortigate::{DeviceState, FortiSim, Profile, SimHandle, SimOptions};

pub use super::{TODAY, git, text};

pub const PASSWORD_ENV: &str = "BO_TEST_FW_PASSWORD";
pub const PASSWORD: &str = "s3cret-Pa55";

pub struct Sim {
    pub handle: SimHandle,
}

pub struct Harness {
    pub dir: tempfile::TempDir,
    /// Device locks of `apply` (outside the repository, one set per test).
    pub locks: tempfile::TempDir,
    pub rt: tokio::runtime::Runtime,
    pub sims: Vec<(String, SimHandle)>,
    /// Extra YAML lines added to every target.
    pub target_extra: String,
    pub render_extra: String,
    pub guardrails: String,
}

/// Simulator options with the test password.
pub fn sim_options(profile: Profile) -> SimOptions {
    SimOptions {
        profile,
        password: Some(blockops::secret::Secret::new(PASSWORD)),
        ..Default::default()
    }
}

impl Harness {
    /// A repository with one target `fw1` on a fresh single-VDOM simulator.
    pub fn new() -> Harness {
        Self::with(vec![("fw1", sim_options(Profile::default()))])
    }

    pub fn with(sims: Vec<(&str, SimOptions)>) -> Harness {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let mut started = Vec::new();
        for (name, mut o) in sims {
            // These tests count every address and assert none matches everything, so they
            // start without FortiOS' factory objects (`all`, `none`, …).
            o.default_objects = false;
            let h = rt.block_on(FortiSim::start(o)).unwrap();
            started.push((name.to_string(), h));
        }
        let mut known = String::new();
        for (_, h) in &started {
            known.push_str(&h.known_hosts_line());
            known.push('\n');
        }
        std::fs::write(dir.path().join("known_hosts"), known).unwrap();
        std::fs::write(
            dir.path().join(".gitignore"),
            "plans/\nknown_hosts\n*.log\n*.conf\n",
        )
        .unwrap();
        // Every configured file must exist (an empty list is `entries: []`).
        std::fs::create_dir_all(dir.path().join("blocklists")).unwrap();
        for f in ["cybereason.yaml", "manual.yaml", "allowlist.yaml"] {
            std::fs::write(dir.path().join("blocklists").join(f), "entries: []\n").unwrap();
        }
        git(dir.path(), &["init", "-q", "-b", "main"]);
        let h = Harness {
            dir,
            locks: tempfile::tempdir().unwrap(),
            rt,
            sims: started,
            target_extra: String::new(),
            render_extra: String::new(),
            guardrails: "  max_removals: 100%\n".into(),
        };
        h.write_config();
        h
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn sim(&self, i: usize) -> &SimHandle {
        &self.sims[i].1
    }

    pub fn write_config(&self) {
        let mut y = format!(
            "guardrails:\n{}render:\n  max_group_members: 50\n{}targets:\n",
            self.guardrails, self.render_extra
        );
        for (name, h) in &self.sims {
            y.push_str(&format!(
                "  - name: {name}\n    host: 127.0.0.1\n    port: {}\n    username: admin\n    password: {{env: {PASSWORD_ENV}}}\n    known_hosts: known_hosts\n    connect_timeout: 5s\n    command_timeout: 10s\n{}",
                h.addr.port(),
                self.target_extra
            ));
        }
        std::fs::write(self.path().join("blockops.yaml"), y).unwrap();
    }

    /// Write `blocklists/manual.yaml` with these values.
    pub fn set_blocklist(&self, values: &[String]) {
        let mut v: Vec<&String> = values.iter().collect();
        v.sort();
        // An empty list is `entries: []` (`entries:` alone is an error).
        let mut y = String::from(if v.is_empty() {
            "entries: []\n"
        } else {
            "entries:\n"
        });
        for value in v {
            let ty = if value.contains(':') {
                if value.contains('/') {
                    "ipv6-net"
                } else {
                    "ipv6"
                }
            } else if value.chars().any(|c| c.is_ascii_alphabetic()) {
                "fqdn"
            } else if value.contains('/') {
                "ipv4-net"
            } else {
                "ipv4"
            };
            let value = if value.contains(':') {
                format!("\"{value}\"")
            } else {
                value.clone()
            };
            y.push_str(&format!(
                "- value: {value}\n  type: {ty}\n  sources: []\n  first_seen: 2026-11-01\n"
            ));
        }
        std::fs::create_dir_all(self.path().join("blocklists")).unwrap();
        std::fs::write(self.path().join("blocklists/manual.yaml"), y).unwrap();
    }

    pub fn commit(&self, msg: &str) -> String {
        git(self.path(), &["add", "-A"]);
        git(self.path(), &["commit", "-q", "--allow-empty", "-m", msg]);
        git(self.path(), &["rev-parse", "HEAD"])
    }

    /// Set the blocklist and commit on the current branch.
    pub fn commit_list(&self, values: &[String], msg: &str) -> String {
        self.write_config();
        self.set_blocklist(values);
        self.commit(msg)
    }

    pub fn cmd(&self) -> Command {
        let mut c = Command::from_std(super::blockops(self.path()));
        c.env(PASSWORD_ENV, PASSWORD)
            .env("BLOCKOPS_LOCK_DIR", self.locks.path())
            .timeout(std::time::Duration::from_secs(120));
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().unwrap()
    }

    /// Give the first device a hand-made object and group that blockops must never touch.
    pub fn hand_made(&self) {
        let out = self.sim(0).run(&[
            "config firewall address",
            "edit \"office-lan\"",
            "set subnet 10.1.0.0 255.255.0.0",
            "set comment \"made by hand\"",
            "next",
            "end",
            "config firewall addrgrp",
            "edit \"office\"",
            "set member \"office-lan\"",
            "next",
            "end",
        ]);
        assert!(!out.iter().any(|l| l.contains("fail")), "{out:?}");
    }

    pub fn plan_file(&self, target: &str) -> PathBuf {
        self.path()
            .join("plans")
            .join(format!("{target}.plan.json"))
    }

    pub fn plan_json(&self, target: &str) -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(self.plan_file(target)).unwrap()).unwrap()
    }

    /// `plan` then `apply --yes` for target `fw1`; returns the apply output.
    pub fn plan_and_apply(&self, target: &str) -> Output {
        let p = self.run(&["plan", "--target", target]);
        assert_eq!(p.status.code(), Some(0), "plan failed: {}", text(&p));
        self.run(&["apply", "--yes", self.plan_file(target).to_str().unwrap()])
    }

    pub fn state(&self, i: usize) -> DeviceState {
        self.sim(i).state()
    }

    /// The `blockops` binary as a plain process with the harness environment (for runs that
    /// must overlap).
    pub fn spawn(&self, args: &[&str]) -> std::process::Child {
        super::blockops(self.path())
            .args(args)
            .env(PASSWORD_ENV, PASSWORD)
            .env("BLOCKOPS_LOCK_DIR", self.locks.path())
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("blockops starts")
    }

    /// Hold the device lock of simulator `i`'s target the way `apply` takes it.
    pub fn hold_lock(&self, i: usize) -> blockops::plan::lock::DeviceLock {
        let t: blockops::config::Target = serde_yaml::from_str(&format!(
            "name: x\nhost: 127.0.0.1\nport: {}\npassword: {{env: X}}\n",
            self.sim(i).addr.port()
        ))
        .unwrap();
        let path = blockops::plan::lock::lock_path(self.locks.path(), &t);
        self.rt
            .block_on(blockops::plan::lock::acquire(
                &path,
                std::time::Duration::ZERO,
                "held by the test",
                |_| {},
            ))
            .unwrap()
    }
}

pub fn ips(range: std::ops::Range<u32>) -> Vec<String> {
    range.map(|i| format!("192.0.2.{}", i + 16)).collect()
}

/// Names in a table of the simulator (vdom `root`).
pub fn names(st: &DeviceState, table: &str) -> Vec<String> {
    st.names("root", &format!("firewall {table}"))
}

/// No address on the device matches everything.
pub fn assert_no_match_all(st: &DeviceState) {
    for (vname, v) in &st.vdoms {
        for (name, o) in v.tables.get("firewall address").into_iter().flatten() {
            let subnet = o.get("subnet").unwrap_or("0.0.0.0 0.0.0.0");
            let ty = o.get("type").unwrap_or("ipmask");
            assert!(
                !(ty == "ipmask" && (subnet == "0.0.0.0 0.0.0.0" || subnet == "0.0.0.0/0")),
                "match-all address {name} in vdom {vname}"
            );
        }
    }
}
