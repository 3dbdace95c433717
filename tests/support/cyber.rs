//! The Cybereason part of the harness (pull): the simulator on 127.0.0.1, a temporary git
//! repository with blockops files, and the real binary run against them.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use assert_cmd::Command;
use blockops::sim::cybereason::{CybereasonSim, Fixture, SimConfig, SimHandle};

pub use super::{TODAY, git, text};

pub const PASSWORD: &str = "Pull-S3cret-7f3a!";
pub const MANUAL: &str = "# blockops blocklist. Canonical form: `blockops fmt`. One entry per indicator.\nentries:\n- value: 192.0.2.66\n  type: ipv4\n  sources: []\n";

/// A fixture covering every source, plus things that must not end up in the file.
pub const FIXTURE: &str = r#"
reputations:
  - {key: 203.0.113.9, comment: "c2"}
  - {key: 198.51.100.0/24}
  - {key: "2001:db8:bad::1"}
  - {key: c2.evil.example}
  - {key: 44d88612fea8a8f36de82e1278abb02f, prevent: true}
  - {key: 192.0.2.200, reputation: whitelist}
  - {key: "evil domain with spaces"}
malops:
  - {guid: "11.-4319097116418812958", created: -3d, updated: -1d}
  - {guid: OLDMALOP, created: -60d}
connections:
  - {remote: 203.0.113.9, domain: c2.evil.example, time: -1d, classification: blacklist, malops: ["11.-4319097116418812958"]}
  - {remote: 203.0.113.77, time: -2d, classification: malware}
  - {remote: 198.51.100.23, domain: tunnel.dns.example, time: -5d, classification: suspicious}
  - {remote: 10.20.30.40, time: -1d, classification: malware}
  - {remote: 192.0.2.10, domain: cdn.good.example, time: -1d}
  - {remote: 203.0.113.200, time: -45d, classification: blacklist}
  - {remote: 203.0.113.201, time: -50d, classification: blacklist, malops: [OLDMALOP]}
domains:
  - {name: dropper.malware.example, classification: malware}
  - {name: allowed.example.com, classification: malware}
  - {name: cdn.good.example, classification: whitelist}
"#;

/// A repository wired to a simulator.
pub struct Env {
    pub dir: tempfile::TempDir,
    /// `$HOME` of the runs: no global git configuration unless a test writes one.
    pub home: tempfile::TempDir,
    pub sim: SimHandle,
}

/// Start the simulator with `fixture`, adjusted by `f`.
pub fn sim(fixture: &str, f: impl FnOnce(&mut SimConfig)) -> SimHandle {
    let mut cfg = SimConfig {
        fixture: Fixture::parse(fixture).expect("fixture"),
        password: PASSWORD.into(),
        ..SimConfig::default()
    };
    f(&mut cfg);
    CybereasonSim::spawn(cfg).expect("simulator")
}

/// The config for `url`, plus `extra` YAML appended under `cybereason:` or at the top level.
pub fn config(url: &str, extra: &str) -> String {
    format!(
        "cybereason:\n  url: {url}\n  username: api@blockops.example\n  password: {{env: CR_TEST_PW}}\n  \
         timeout: 2s\n  retries: 2\n  retry_backoff: 5ms\n{extra}"
    )
}

/// The pulled file before the first pull (every configured file must exist).
pub const EMPTY_PULLED: &str = "entries: []\n";

/// A committed repository using `sim`; `pulled` is the initial pulled file (else empty).
pub fn setup_with(sim: SimHandle, extra: &str, pulled: Option<&str>) -> Env {
    let url = sim.url();
    setup_url(sim, &url, extra, pulled)
}

/// Like [`setup_with`], with the client pointed at `url` (e.g. a proxy in front of `sim`).
pub fn setup_url(sim: SimHandle, url: &str, extra: &str, pulled: Option<&str>) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let p = dir.path();
    std::fs::create_dir_all(p.join("blocklists")).unwrap();
    std::fs::write(p.join("blockops.yaml"), config(url, extra)).unwrap();
    std::fs::write(p.join("blocklists/manual.yaml"), MANUAL).unwrap();
    std::fs::write(
        p.join("blocklists/allowlist.yaml"),
        "entries:\n- value: example.com\n",
    )
    .unwrap();
    // Every configured file must exist: a first pull starts from `entries: []`.
    std::fs::write(
        p.join("blocklists/cybereason.yaml"),
        pulled.unwrap_or(EMPTY_PULLED),
    )
    .unwrap();
    git(p, &["init", "-q", "-b", "main"]);
    git(p, &["add", "-A"]);
    git(p, &["commit", "-q", "-m", "initial"]);
    Env { dir, home, sim }
}

/// [`setup_with`] the default adjustments and an empty pulled file.
pub fn setup(fixture: &str) -> Env {
    setup_with(sim(fixture, |_| {}), "", None)
}

impl Env {
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
    pub fn pulled_path(&self) -> PathBuf {
        self.path().join("blocklists/cybereason.yaml")
    }
    pub fn pulled(&self) -> String {
        std::fs::read_to_string(self.pulled_path()).unwrap_or_default()
    }
    /// The binary with the repository, password, date and a clean `$HOME` set.
    pub fn std_cmd(&self) -> std::process::Command {
        let mut c = super::blockops(self.path());
        c.arg("--repo")
            .arg(self.path())
            .env("CR_TEST_PW", PASSWORD)
            .env("HOME", self.home.path())
            .env("XDG_CONFIG_HOME", self.home.path())
            .env_remove("GIT_AUTHOR_NAME")
            .env_remove("GIT_AUTHOR_EMAIL")
            .env_remove("GIT_COMMITTER_NAME")
            .env_remove("GIT_COMMITTER_EMAIL");
        c
    }
    /// [`Env::std_cmd`] with a 60 s timeout.
    pub fn cmd(&self) -> Command {
        let mut c = Command::from_std(self.std_cmd());
        c.timeout(Duration::from_secs(60));
        c
    }
    /// Run with a fixed commit author (`Pull Bot`).
    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd()
            .args(args)
            .env("GIT_AUTHOR_NAME", "Pull Bot")
            .env("GIT_AUTHOR_EMAIL", "pull-bot@example.invalid")
            .output()
            .unwrap()
    }
    pub fn commits(&self) -> usize {
        git(self.path(), &["rev-list", "--count", "HEAD"])
            .trim()
            .parse()
            .unwrap()
    }
}

/// The YAML block of one entry of a blocklist file.
pub fn entry<'a>(file: &'a str, value: &str) -> Option<&'a str> {
    let quoted = format!("- value: \"{value}\"\n");
    let plain = format!("- value: {value}\n");
    let start = file.find(&plain).or_else(|| file.find(&quoted))?;
    let rest = &file[start + 2..];
    let end = rest.find("\n- value:").map(|i| i + 1).unwrap_or(rest.len());
    Some(&rest[..end])
}
