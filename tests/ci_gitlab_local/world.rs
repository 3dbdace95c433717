//! The scratch world of the GitLab pipeline test: simulators, the bare "GitLab" repository,
//! runner checkouts, and running gitlab-ci-local with the project's CI/CD variables.
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sha2::Digest;

use crate::api::{Api, Call};
use crate::ci_tools;

pub const BOT_TOKEN: &str = "glpat-bot-7f3a";
pub const REVIEW_TOKEN: &str = "glpat-review-91c2";
pub const EDGE_PASSWORD: &str = "Edge-S3cret-1";
pub const MARKER: &str = "<!-- blockops-review -->";

/// What Cybereason reports: three indicators.
pub const F1: &str = "reputations:\n  - {key: 203.0.113.9, reputation: blacklist, comment: c2}\n  - {key: c2.evil.example, reputation: blacklist}\n  - {key: \"2001:db8:bad::1\", reputation: blacklist}\n";
/// What it reports once those detections are gone.
pub const F0: &str = "reputations: []\n";
/// `blocklists/cybereason.yaml` before the first pull, in canonical form.
pub const EMPTY_LIST: &str =
    "# blockops blocklist. Canonical form: `blockops fmt`. One entry per indicator.\nentries: []\n";

// ---------------------------------------------------------------- processes

/// A child process killed (and reaped) when dropped.
pub struct Proc(pub Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn blockops() -> &'static str {
    env!("CARGO_BIN_EXE_blockops")
}

/// Start `blockops sim …` and return it with the first stdout lines it printed.
pub fn start_sim(args: &[&str], lines: usize) -> (Proc, Vec<String>) {
    let mut child = Command::new(blockops())
        .arg("sim")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start simulator");
    let stdout = child.stdout.take().expect("stdout");
    let proc = Proc(child);
    let got: Vec<String> = BufReader::new(stdout)
        .lines()
        .take(lines)
        .map(|l| l.expect("simulator output"))
        .collect();
    assert_eq!(got.len(), lines, "simulator {args:?} printed {got:?}");
    (proc, got)
}

/// What one gitlab-ci-local run showed.
pub struct Ran {
    pub log: String,
    pub passed: Vec<String>,
    pub failed: Vec<String>,
    pub dir: PathBuf,
}

impl Ran {
    pub fn jobs(&self) -> (Vec<&str>, Vec<&str>) {
        (
            self.passed.iter().map(String::as_str).collect(),
            self.failed.iter().map(String::as_str).collect(),
        )
    }
    pub fn artifact(&self, job: &str, rel: &str) -> String {
        let p = self
            .dir
            .join(".gitlab-ci-local/artifacts")
            .join(job)
            .join(rel);
        std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}\n{}", p.display(), self.log))
    }
}

pub struct World {
    pub tmp: tempfile::TempDir,
    pub gcl: PathBuf,
    pub api: Api,
    pub remote: PathBuf,
    pub origin_url: String,
    pub job_gitconfig: PathBuf,
    pub otkey: PathBuf,
    pub bin_sha256: String,
    pub cybereason: Option<Proc>,
    pub cybereason_port: u16,
    pub _firewalls: Vec<Proc>,
    pub pipelines: usize,
}

impl World {
    pub fn path(&self) -> &Path {
        self.tmp.path()
    }

    pub fn git(&self, dir: &Path, args: &[&str]) -> String {
        let out = Command::new("git")
            .args(args)
            .current_dir(dir)
            .env("HOME", self.path().join("home"))
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env_remove("GIT_CONFIG_GLOBAL")
            .output()
            .expect("git");
        assert!(
            out.status.success(),
            "git {args:?} in {}: {}",
            dir.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// The commit a branch of the "GitLab" repository points to.
    pub fn remote_branch(&self, branch: &str) -> Option<String> {
        let out = Command::new("git")
            .args(["rev-parse", "--verify", "--quiet"])
            .arg(format!("refs/heads/{branch}"))
            .current_dir(&self.remote)
            .output()
            .expect("git");
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    /// A runner's checkout of the project: a fresh clone, origin = the server's URL.
    pub fn checkout(&mut self, what: &str, rev: &str, detach: bool) -> PathBuf {
        self.pipelines += 1;
        let dir = self
            .path()
            .join(format!("pipelines/{:02}-{what}", self.pipelines));
        std::fs::create_dir_all(dir.parent().unwrap()).unwrap();
        let root = self.path().to_path_buf();
        self.git(
            &root,
            &[
                "clone",
                "-q",
                self.remote.to_str().unwrap(),
                dir.to_str().unwrap(),
            ],
        );
        self.git(&dir, &["remote", "set-url", "origin", &self.origin_url]);
        if detach {
            self.git(&dir, &["checkout", "-q", "--detach", rev]);
        } else {
            self.git(&dir, &["checkout", "-q", rev]);
        }
        dir
    }

    /// A developer's change pushed to main (`f` edits the work tree of a fresh clone).
    pub fn commit_to_main(&mut self, msg: &str, f: impl FnOnce(&Path)) -> String {
        let dir = self.checkout("dev", "main", false);
        f(&dir);
        self.git(&dir, &["commit", "-qam", msg]);
        self.git(&dir, &["push", "-q", self.remote.to_str().unwrap(), "main"]);
        self.git(&dir, &["rev-parse", "HEAD"])
    }

    /// Run gitlab-ci-local in `dir` (a whole pipeline, or the jobs named in `args`).
    pub fn gcl(&self, dir: &Path, vars: &[(&str, &str)], args: &[&str]) -> Ran {
        let mut cmd = Command::new(&self.gcl);
        cmd.current_dir(dir)
            .args([
                "--force-shell-executor",
                "--shell-isolation",
                "--no-json-schema-validation",
                "--no-artifacts-to-source",
                // A push pipeline's `changes:` compares with the commits pushed; locally they
                // would be compared with origin/main (= HEAD), so they are taken as true.
                "--no-evaluate-rule-changes",
                "--no-color",
                "--ignore-predefined-vars",
                "CI_PIPELINE_SOURCE,CI_COMMIT_BRANCH,CI_MERGE_REQUEST_IID",
            ])
            .env("HOME", self.path().join("home"))
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env_remove("GIT_CONFIG_GLOBAL")
            .env("NO_COLOR", "1");
        let url = format!("file://{}", blockops());
        let key = self.otkey.to_str().unwrap().to_string();
        let gitconfig = self.job_gitconfig.to_str().unwrap().to_string();
        let common = [
            ("BLOCKOPS_RELEASE_URL", url.as_str()),
            ("BLOCKOPS_RELEASE_SHA256", self.bin_sha256.as_str()),
            ("GIT_CONFIG_GLOBAL", gitconfig.as_str()),
            ("CYBEREASON_PASSWORD", "blockops-sim"),
            ("FGT_EDGE_1_PASSWORD", EDGE_PASSWORD),
            ("BLOCKOPS_OT_KEY", key.as_str()),
            ("BLOCKOPS_BOT_TOKEN", BOT_TOKEN),
            ("BLOCKOPS_REVIEW_TOKEN", REVIEW_TOKEN),
        ];
        for (k, v) in common.iter().chain(vars) {
            if let Some(unset) = k.strip_prefix('!') {
                cmd.arg("--unset-variable").arg(unset);
            } else {
                cmd.arg("--variable").arg(format!("{k}={v}"));
            }
        }
        cmd.args(args);
        let log_path = dir.join("gitlab-ci-local.log");
        let log_file = std::fs::File::create(&log_path).unwrap();
        let mut child = Proc(
            cmd.stdout(log_file.try_clone().unwrap())
                .stderr(log_file)
                .stdin(Stdio::null())
                .spawn()
                .expect("start gitlab-ci-local"),
        );
        let started = Instant::now();
        // A pipeline here takes seconds; a hung one must not hang the test suite.
        let deadline = Instant::now() + Duration::from_secs(150);
        while child.0.try_wait().expect("wait").is_none() {
            assert!(
                Instant::now() < deadline,
                "gitlab-ci-local hung:\n{}",
                std::fs::read_to_string(&log_path).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        drop(child);
        println!(
            "gitlab-ci-local {} {args:?}: {:.1}s",
            dir.file_name().unwrap_or_default().to_string_lossy(),
            started.elapsed().as_secs_f64()
        );
        let log = std::fs::read_to_string(&log_path).unwrap();
        let status = |word: &str| -> Vec<String> {
            log.lines()
                .filter_map(|l| l.trim().strip_prefix(word))
                .map(|j| j.trim().to_string())
                .collect()
        };
        Ran {
            passed: status("PASS "),
            failed: status("FAIL "),
            log,
            dir: dir.to_path_buf(),
        }
    }

    pub fn schedule(&mut self) -> Ran {
        let dir = self.checkout("schedule", "main", false);
        let r = self.gcl(&dir, &[("CI_PIPELINE_SOURCE", "schedule")], &[]);
        assert_eq!(r.jobs(), (vec!["blockops", "pull"], vec![]), "{}", r.log);
        r
    }

    pub fn review(&mut self, iid: u64) -> Ran {
        let dir = self.checkout("review", "origin/blockops/pull", true);
        let iid = iid.to_string();
        let r = self.gcl(
            &dir,
            &[
                ("CI_PIPELINE_SOURCE", "merge_request_event"),
                ("CI_MERGE_REQUEST_IID", &iid),
                ("CI_MERGE_REQUEST_SOURCE_BRANCH_NAME", "blockops/pull"),
                ("CI_MERGE_REQUEST_TARGET_BRANCH_NAME", "main"),
                ("!CI_COMMIT_BRANCH", ""),
            ],
            &[],
        );
        assert_eq!(r.jobs(), (vec!["blockops", "review"], vec![]), "{}", r.log);
        r
    }

    /// The pipeline of a push to main at `commit`: blockops and plan run, apply waits (manual).
    pub fn push_pipeline(&mut self, commit: &str) -> Ran {
        let dir = self.checkout("push", "main", false);
        self.git(&dir, &["reset", "-q", "--hard", commit]);
        let r = self.gcl(&dir, &[], &[]);
        assert_eq!(r.jobs(), (vec!["blockops", "plan"], vec![]), "{}", r.log);
        r
    }

    /// Press "run" on the manual apply job of an earlier pipeline.
    pub fn apply(&self, pipeline: &Ran) -> Ran {
        self.gcl(&pipeline.dir, &[], &["apply"])
    }

    /// Replace the Cybereason simulator's data (same address, as blockops.yaml names it).
    pub fn cybereason_serves(&mut self, fixture: &str) {
        self.cybereason = None;
        let f = self.path().join("fixture.yaml");
        std::fs::write(&f, fixture).unwrap();
        let listen = format!("127.0.0.1:{}", self.cybereason_port);
        // The port was just released; binding it again may take a few tries.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let mut child = Command::new(blockops())
                .args(["sim", "cybereason", "--listen", &listen, "--data"])
                .arg(&f)
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .expect("start Cybereason simulator");
            let mut first = String::new();
            let _ = BufReader::new(child.stdout.take().unwrap()).read_line(&mut first);
            if first.starts_with("http://") {
                self.cybereason = Some(Proc(child));
                return;
            }
            let _ = child.wait();
            assert!(
                Instant::now() < deadline,
                "cannot restart the simulator on {listen}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `blockops plan --detailed-exitcode` at `rev` against both firewalls: 0 = they match it.
    pub fn devices_match(&self, rev: &str) -> i32 {
        let dir = self.path().join("pipelines/check");
        if !dir.exists() {
            let root = self.path().to_path_buf();
            self.git(
                &root,
                &[
                    "clone",
                    "-q",
                    self.remote.to_str().unwrap(),
                    dir.to_str().unwrap(),
                ],
            );
            std::fs::create_dir_all(dir.join("keys")).unwrap();
            std::fs::copy(&self.otkey, dir.join("keys/blockops-ot")).unwrap();
        }
        self.git(
            &dir,
            &[
                "fetch",
                "-q",
                "origin",
                "+refs/heads/*:refs/remotes/origin/*",
            ],
        );
        let out = Command::new(blockops())
            .args(["plan", "--all", "--detailed-exitcode", "--out"])
            .arg(self.path().join("check-plans"))
            .arg("--rev")
            .arg(rev)
            .current_dir(&dir)
            .env("FGT_EDGE_1_PASSWORD", EDGE_PASSWORD)
            .output()
            .expect("blockops plan");
        let code = out.status.code().unwrap_or(-1);
        assert!(
            code == 0 || code == 2,
            "plan failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        code
    }
}

pub fn setup(gcl: PathBuf) -> World {
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().to_path_buf();
    let api = Api::start();

    // Two firewalls: one with a password, one with a key (the File variable BLOCKOPS_OT_KEY).
    let otkey = p.join("otkey");
    let k = Command::new("ssh-keygen")
        .args([
            "-q",
            "-t",
            "ed25519",
            "-N",
            "",
            "-C",
            "blockops-ci-test",
            "-f",
        ])
        .arg(&otkey)
        .status()
        .expect("ssh-keygen");
    assert!(k.success());
    let (edge, edge_out) = start_sim(
        &[
            "fortigate",
            "--listen",
            "127.0.0.1:0",
            "--password",
            EDGE_PASSWORD,
        ],
        2,
    );
    let pubkey = format!("{}.pub", otkey.display());
    let (ot, ot_out) = start_sim(
        &[
            "fortigate",
            "--listen",
            "127.0.0.1:0",
            "--no-password",
            "--authorized-key",
            &pubkey,
        ],
        2,
    );
    let port_fp = |out: &[String]| {
        let port = out[0].rsplit(':').next().unwrap().to_string();
        let fp = out[1].strip_prefix("host key ").unwrap().to_string();
        (port, fp)
    };
    let ((edge_port, edge_fp), (ot_port, ot_fp)) = (port_fp(&edge_out), port_fp(&ot_out));
    let cr_port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();

    // The project as a team would set it up: config, blocklists, the pipeline and its scripts.
    let seed = p.join("seed");
    let write = |rel: &str, text: &str| {
        let f = seed.join(rel);
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
        std::fs::write(f, text).unwrap();
    };
    write(
        "blockops.yaml",
        &format!(
            "cybereason:\n  url: http://127.0.0.1:{cr_port}\n  username: api@blockops.example\n  \
             password: {{env: CYBEREASON_PASSWORD}}\n  retry_backoff: 100ms\n\
             targets:\n  - name: fw-edge-1\n    host: 127.0.0.1\n    port: {edge_port}\n    username: admin\n    \
             password: {{env: FGT_EDGE_1_PASSWORD}}\n    host_key_fingerprint: \"{edge_fp}\"\n  \
             - name: fw-ot-1\n    host: 127.0.0.1\n    port: {ot_port}\n    username: admin\n    \
             private_key: keys/blockops-ot\n    host_key_fingerprint: \"{ot_fp}\"\n"
        ),
    );
    write("blocklists/cybereason.yaml", EMPTY_LIST);
    write(
        "blocklists/manual.yaml",
        "# blockops blocklist. Canonical form: `blockops fmt`. One entry per indicator.\nentries:\n- value: 198.51.100.66\n  type: ipv4\n  sources: []\n",
    );
    write(
        "blocklists/allowlist.yaml",
        "entries:\n- value: 192.0.2.0/24\n",
    );
    write(".gitignore", "keys/\n");
    let examples = ci_tools::examples_dir();
    std::fs::copy(
        examples.join("gitlab/.gitlab-ci.yml"),
        seed.join(".gitlab-ci.yml"),
    )
    .unwrap();
    std::fs::create_dir_all(seed.join("ci")).unwrap();
    for s in ci_tools::files(&examples.join("scripts"), &[".sh"]) {
        std::fs::copy(&s, seed.join("ci").join(s.file_name().unwrap())).unwrap();
    }
    std::fs::create_dir_all(p.join("home")).unwrap();
    std::fs::write(
        p.join("home/.gitconfig"),
        "[user]\n  name = Dev\n  email = dev@example.invalid\n[commit]\n  gpgsign = false\n[init]\n  defaultBranch = main\n",
    )
    .unwrap();

    // "GitLab": a bare repository, reached by the jobs under the server's URL.
    let remote = p.join("remotes/group/project.git");
    let origin_url = format!("http://127.0.0.1:{}/group/project.git", api.port);
    let job_gitconfig = p.join("job.gitconfig");
    std::fs::write(
        &job_gitconfig,
        format!(
            "[url \"{}/\"]\n  insteadOf = http://127.0.0.1:{}/\n",
            p.join("remotes").display(),
            api.port
        ),
    )
    .unwrap();
    let bin = std::fs::read(blockops()).expect("read the blockops binary");
    let mut w = World {
        gcl,
        api,
        remote: remote.clone(),
        origin_url,
        job_gitconfig,
        otkey,
        bin_sha256: hex::encode(sha2::Sha256::digest(&bin)),
        cybereason: None,
        cybereason_port: cr_port,
        _firewalls: vec![edge, ot],
        pipelines: 0,
        tmp,
    };
    w.git(&p, &["init", "-q", "-b", "main", seed.to_str().unwrap()]);
    w.git(&seed, &["add", "-A"]);
    w.git(&seed, &["commit", "-qm", "Set up blockops"]);
    w.git(
        &p,
        &[
            "clone",
            "-q",
            "--bare",
            seed.to_str().unwrap(),
            remote.to_str().unwrap(),
        ],
    );
    w.cybereason_serves(F1);
    w
}

pub fn add_manual(dir: &Path, value: &str) {
    let f = dir.join("blocklists/manual.yaml");
    let mut text = std::fs::read_to_string(&f).unwrap();
    text.push_str(&format!("- value: {value}\n  type: ipv4\n  sources: []\n"));
    std::fs::write(f, text).unwrap();
}

pub fn calls_by(api: &Api, method: &str, path_part: &str) -> Vec<Call> {
    api.calls()
        .into_iter()
        .filter(|c| c.method == method && c.path.contains(path_part))
        .collect()
}
