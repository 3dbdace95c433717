//! The repository part of the harness: a temporary GitOps repository and runs of the real
//! binary in it, without simulators.

use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::Command;

/// A temporary git repository with blockops files.
pub struct TempRepo {
    pub dir: tempfile::TempDir,
}

/// The files every repository must have (an empty list is `entries: []`).
pub const EMPTY_FILES: &[&str] = &[
    "blocklists/cybereason.yaml",
    "blocklists/manual.yaml",
    "blocklists/allowlist.yaml",
];

pub const CONFIG: &str = "render:\n  prefix: bo-\ntargets:\n  - name: fw1\n    host: 127.0.0.1\n    password: {env: FW1_PASSWORD}\n";

impl TempRepo {
    /// An initialised repository (branch `main`) with a config, the three configured files
    /// as empty lists (`entries: []`; a missing one is an error) and no commits.
    pub fn new() -> TempRepo {
        let dir = tempfile::tempdir().expect("tempdir");
        let r = TempRepo { dir };
        r.git(&["init", "-q", "-b", "main"]);
        r.git(&["config", "user.name", "Test"]);
        r.git(&["config", "user.email", "test@example.com"]);
        r.git(&["config", "commit.gpgsign", "false"]);
        r.write("blockops.yaml", CONFIG);
        for f in EMPTY_FILES {
            r.write(f, "entries: []\n");
        }
        r
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn write(&self, rel: &str, text: &str) {
        let p = self.path().join(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, text).expect("write");
    }

    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path().join(rel)).expect("read")
    }

    /// Run the git CLI in the repository; panics on failure.
    pub fn git(&self, args: &[&str]) -> String {
        super::git(self.path(), args)
    }

    /// Commit everything.
    pub fn commit(&self, msg: &str) -> String {
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "--allow-empty", "-m", msg]);
        self.git(&["rev-parse", "HEAD"]).trim().to_string()
    }

    /// The blockops binary, run in the repository.
    pub fn cmd(&self) -> Command {
        Command::from_std(super::blockops(self.path()))
    }

    pub fn run(&self, args: &[&str]) -> Run {
        let out = self.cmd().args(args).output().expect("run blockops");
        Run::from(out)
    }
}

/// A finished run.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(o: Output) -> Run {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

impl Run {
    pub fn ok(self) -> Run {
        assert_eq!(
            self.code, 0,
            "stdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }
    pub fn code(self, want: i32) -> Run {
        assert_eq!(
            self.code, want,
            "stdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }
}

/// One canonical entry block.
pub fn entry(value: &str, kind: &str, sources: &str) -> String {
    let v = if value.contains(':') {
        format!("\"{value}\"")
    } else {
        value.to_string()
    };
    format!("- value: {v}\n  type: {kind}\n  sources: [{sources}]\n")
}

/// A canonical blocklist file from entry blocks.
pub fn blocklist(entries: &[String]) -> String {
    let mut s = String::from(
        "# blockops blocklist. Canonical form: `blockops fmt`. One entry per indicator.\n",
    );
    if entries.is_empty() {
        s.push_str("entries: []\n");
    } else {
        s.push_str("entries:\n");
        for e in entries {
            s.push_str(e);
        }
    }
    s
}

pub fn fixture_path(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}
