//! `blockops demo`: the whole pipeline against the built-in simulators, nothing external
//! needed. Every step runs the real `blockops` binary as a user would, and is checked.
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context as _, bail, ensure};

use super::Ctx;
use crate::error::Outcome;
use crate::secret::Secret;
use crate::sim::cybereason::{CybereasonSim, SimConfig};
use crate::sim::fortigate::{FortiSim, SimOptions};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Create the demo repository here (kept afterwards) instead of a temporary directory.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

const CR_PASSWORD_ENV: &str = "BLOCKOPS_DEMO_CYBEREASON_PASSWORD";
const FGT_PASSWORD_ENV: &str = "BLOCKOPS_DEMO_FGT_PASSWORD";
const FGT_PASSWORD: &str = "demo-fgt-password";
const TARGET: &str = "demo-fw";

/// What an administrator sets up once by hand (README quick start, step 2): the managed
/// groups with their placeholder members and a deny policy referencing them — plus objects of
/// their own. blockops must keep the policy working and leave everything else alone.
const HAND_MADE: &[&str] = &[
    "config firewall address",
    "edit \"bo-placeholder\"",
    "set subnet 0.0.0.0 255.255.255.255",
    "next",
    "edit \"corp-lan\"",
    "set subnet 192.0.2.0 255.255.255.0",
    "next",
    "end",
    "config firewall address6",
    "edit \"bo-placeholder6\"",
    "set ip6 ::/128",
    "next",
    "end",
    "config firewall addrgrp",
    "edit \"blockops-v4\"",
    "set member \"bo-placeholder\"",
    "next",
    "end",
    "config firewall addrgrp6",
    "edit \"blockops-v6\"",
    "set member \"bo-placeholder6\"",
    "next",
    "end",
    "config firewall policy",
    "edit 1",
    "set name \"blockops-deny\"",
    "set srcintf \"internal\"",
    "set dstintf \"wan1\"",
    "set srcaddr \"corp-lan\"",
    "set dstaddr \"blockops-v4\"",
    "set dstaddr6 \"blockops-v6\"",
    "set action deny",
    "set schedule \"always\"",
    "set service \"ALL\"",
    "set logtraffic all",
    "next",
    "end",
    "config firewall address",
    "edit \"corp-dns\"",
    "set subnet 192.0.2.53 255.255.255.255",
    "set comment \"hand-made: internal resolver\"",
    "next",
    "edit \"jump-host\"",
    "set subnet 192.0.2.22 255.255.255.255",
    "next",
    "end",
    "config firewall addrgrp",
    "edit \"ops-servers\"",
    "set member \"corp-dns\" \"jump-host\"",
    "next",
    "end",
];

struct Demo {
    bin: PathBuf,
    repo: PathBuf,
    env: Vec<(String, String)>,
    step: usize,
}

/// Result of one step.
struct Ran {
    stdout: String,
}

impl Demo {
    /// Run `blockops ARGS` in the demo repository, print it like a terminal session, and
    /// require one of the `expect`ed exit codes.
    fn run(&mut self, what: &str, args: &[&str], expect: &[i32]) -> anyhow::Result<Ran> {
        self.step += 1;
        println!("\n── step {}: {what}", self.step);
        println!("$ blockops {}", args.join(" "));
        let out = Command::new(&self.bin)
            .args(args)
            .current_dir(&self.repo)
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("NO_COLOR", "1")
            .output()
            .with_context(|| format!("running {}", self.bin.display()))?;
        let code = out.status.code().unwrap_or(-1);
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        for line in stdout.lines().chain(stderr.lines()) {
            println!("  {line}");
        }
        println!("  [exit {code}]");
        if !expect.contains(&code) {
            bail!(
                "step {} (`blockops {}`) exited {code}, expected {expect:?}",
                self.step,
                args.join(" ")
            );
        }
        Ok(Ran { stdout })
    }

    fn git_head(&self) -> anyhow::Result<String> {
        let repo = git2::Repository::open(&self.repo)?;
        Ok(repo.head()?.peel_to_commit()?.id().to_string())
    }
}

fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    crate::atomic::write(path, text.as_bytes())
}

fn init_repo(dir: &Path, cr_url: &str, fgt_port: u16, fingerprint: &str) -> anyhow::Result<()> {
    let config = format!(
        "# Demo configuration written by `blockops demo`.\n\
cybereason:\n  url: {cr_url}\n  username: {user}\n  password: {{env: {CR_PASSWORD_ENV}}}\n  retry_backoff: 100ms\n\
window: 30d\n\
git:\n  author_name: blockops demo\n  author_email: demo@blockops.example\n\
targets:\n  - name: {TARGET}\n    host: 127.0.0.1\n    port: {fgt_port}\n    username: admin\n    password: {{env: {FGT_PASSWORD_ENV}}}\n    host_key_fingerprint: \"{fingerprint}\"\n    approved_branch: main\n",
        user = crate::sim::cybereason::DEFAULT_USER,
    );
    write(&dir.join("blockops.yaml"), &config)?;
    write(&dir.join("blocklists/cybereason.yaml"), "entries: []\n")?;
    write(
        &dir.join("blocklists/manual.yaml"),
        "# blockops blocklist. Canonical form: `blockops fmt`. One entry per indicator.\nentries:\n- value: 198.51.100.66\n  type: ipv4\n  sources: []\n  comment: \"INC-1001: scanner hitting the OT jump host\"\n",
    )?;
    write(
        &dir.join("blocklists/allowlist.yaml"),
        "# Never block these.\nentries:\n- value: 192.0.2.0/24\n  comment: \"our own servers\"\n- value: good.example\n  comment: \"our own domain\"\n",
    )?;
    let repo =
        git2::Repository::init_opts(dir, git2::RepositoryInitOptions::new().initial_head("main"))
            .with_context(|| format!("creating a git repository in {}", dir.display()))?;
    let mut index = repo.index()?;
    index.add_all(["*"].iter(), git2::IndexAddOption::DEFAULT, None)?;
    index.write()?;
    let tree = repo.find_tree(index.write_tree()?)?;
    let sig = git2::Signature::now("blockops demo", "demo@blockops.example")?;
    repo.commit(Some("HEAD"), &sig, &sig, "Set up blockops", &tree, &[])?;
    Ok(())
}

pub fn run(_ctx: &Ctx, args: Args) -> anyhow::Result<Outcome> {
    let started = Instant::now();
    let tmp;
    let dir = match &args.dir {
        Some(d) => {
            std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
            if std::fs::read_dir(d)?.next().is_some() {
                bail!(
                    "{} is not empty; give an empty or new directory",
                    d.display()
                );
            }
            d.canonicalize()?
        }
        None => {
            tmp = tempfile::Builder::new()
                .prefix("blockops-demo-")
                .tempdir()?;
            tmp.path().to_path_buf()
        }
    };

    println!(
        "blockops demo: Cybereason simulator → git blocklist → review → plan → FortiGate simulator"
    );
    let cr =
        CybereasonSim::spawn(SimConfig::default()).context("starting the Cybereason simulator")?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let fgt = rt
        .block_on(FortiSim::start(SimOptions {
            password: Some(Secret::new(FGT_PASSWORD)),
            ..SimOptions::default()
        }))
        .context("starting the FortiGate simulator")?;
    let out = fgt.run(HAND_MADE);
    ensure!(
        !out.iter().any(|l| l.contains("Command fail")),
        "seeding the FortiGate simulator failed: {out:?}"
    );
    println!("Cybereason simulator: {} (shipped fixture)", cr.url());
    println!(
        "FortiGate simulator:  ssh admin@{} (host key {})",
        fgt.addr,
        fgt.host_key_fingerprint()
    );
    println!("  set up by hand: groups blockops-v4/-v6 with placeholder members, deny policy 1");
    println!("  \"blockops-deny\" referencing them, objects corp-dns, jump-host, ops-servers");
    init_repo(
        &dir,
        &cr.url(),
        fgt.addr.port(),
        &fgt.host_key_fingerprint(),
    )?;
    println!("Repository: {}", dir.display());

    let mut d = Demo {
        bin: std::env::current_exe().context("locating the blockops binary")?,
        repo: dir.clone(),
        env: vec![
            (
                CR_PASSWORD_ENV.into(),
                crate::sim::cybereason::DEFAULT_PASSWORD.into(),
            ),
            (FGT_PASSWORD_ENV.into(), FGT_PASSWORD.into()),
        ],
        step: 0,
    };

    // Round 0: the read-only preflight a new user runs first; it must pass and change nothing.
    let device_before = fgt.state();
    let doc = d.run(
        "preflight: is the setup ready? (read-only)",
        &["doctor"],
        &[0],
    )?;
    ensure!(
        doc.stdout.contains(" 0 failed") && !doc.stdout.contains("FAIL "),
        "doctor reported a failure"
    );
    ensure!(
        fgt.state() == device_before && fgt.global_changes().is_empty(),
        "doctor changed the FortiGate simulator"
    );

    // Round 1: first pull, review, first apply.
    let before = d.git_head()?;
    d.run(
        "pull indicators and commit them",
        &["pull", "--commit"],
        &[0],
    )?;
    ensure!(d.git_head()? != before, "the first pull made no commit");
    let pulled = std::fs::read_to_string(dir.join("blocklists/cybereason.yaml"))?;
    ensure!(
        pulled.contains("c2.evil.example"),
        "the pulled blocklist lacks c2.evil.example"
    );
    d.run(
        "what a reviewer sees on the pull request",
        &["diff", "--format", "markdown"],
        &[0],
    )?;
    d.run("validate everything", &["check"], &[0])?;
    d.run(
        "plan against the live device",
        &[
            "plan",
            "--target",
            TARGET,
            "--out",
            "plans/first.json",
            "--detailed-exitcode",
        ],
        &[2],
    )?;
    d.run(
        "apply the approved plan",
        &["apply", "plans/first.json", "--yes"],
        &[0],
    )?;
    d.run(
        "read back: nothing left to do (zero drift)",
        &[
            "plan",
            "--target",
            TARGET,
            "--out",
            "plans/verify-1.json",
            "--detailed-exitcode",
        ],
        &[0],
    )?;
    check_device(&fgt)?;

    // Round 2: new detections appear, one is retired.
    println!(
        "\n── Cybereason: two new blocklisted indicators; phish.bad.example is removed from the list"
    );
    cr.set_reputation("203.0.113.150", "blacklist", "new c2 from threat feed");
    cr.set_reputation("exfil.evil.example", "blacklist", "exfiltration endpoint");
    ensure!(
        cr.remove_reputation("phish.bad.example"),
        "the fixture lacks phish.bad.example"
    );
    d.run("pull again", &["pull", "--commit"], &[0])?;
    let diff = d.run("incremental review diff", &["diff", "--exit-code"], &[2])?;
    ensure!(
        diff.stdout.contains("203.0.113.150")
            && diff.stdout.contains("exfil.evil.example")
            && diff.stdout.contains("phish.bad.example"),
        "the diff does not show the two additions and the retirement"
    );
    d.run(
        "plan only the delta",
        &[
            "plan",
            "--target",
            TARGET,
            "--out",
            "plans/second.json",
            "--detailed-exitcode",
        ],
        &[2],
    )?;
    let second = std::fs::read_to_string(dir.join("plans/second.json"))?;
    let v: serde_json::Value = serde_json::from_str(&second)?;
    let script = v["script"].as_str().unwrap_or_default().to_string();
    ensure!(
        script.contains("bo-203.0.113.150")
            && script.contains("delete \"bo-phish.bad.example\"")
            && script.lines().count() <= 40,
        "the second plan is not the expected small delta:\n{script}"
    );
    d.run(
        "apply the delta",
        &["apply", "plans/second.json", "--yes"],
        &[0],
    )?;
    d.run(
        "read back: zero drift",
        &[
            "plan",
            "--target",
            TARGET,
            "--out",
            "plans/verify-2.json",
            "--detailed-exitcode",
        ],
        &[0],
    )?;
    check_device(&fgt)?;
    d.run(
        "why is this address blocked?",
        &["explain", "203.0.113.150"],
        &[0],
    )?;

    rt.block_on(fgt.shutdown())?;
    cr.shutdown();
    println!(
        "\nblockops demo: every step did what it should ({:.1} s). Repository: {}",
        started.elapsed().as_secs_f64(),
        if args.dir.is_some() {
            dir.display().to_string()
        } else {
            "(temporary, removed)".into()
        }
    );
    Ok(Outcome::Ok)
}

/// The hand-made objects are untouched and the managed group exists.
fn check_device(fgt: &crate::sim::fortigate::SimHandle) -> anyhow::Result<()> {
    let state = fgt.state();
    for name in ["corp-dns", "jump-host"] {
        ensure!(
            state.object("root", "firewall address", name).is_some(),
            "hand-made address {name} is gone"
        );
    }
    ensure!(
        state
            .object("root", "firewall addrgrp", "ops-servers")
            .is_some(),
        "hand-made group ops-servers is gone"
    );
    ensure!(
        state
            .object("root", "firewall addrgrp", "blockops-v4")
            .is_some(),
        "the managed group blockops-v4 is missing"
    );
    let policy = state
        .object("root", "firewall policy", "1")
        .context("the deny policy is gone")?;
    ensure!(
        policy.list("dstaddr").iter().any(|m| m == "blockops-v4")
            && policy.list("dstaddr6").iter().any(|m| m == "blockops-v6"),
        "the deny policy no longer references the managed groups"
    );
    for placeholder in ["bo-placeholder", "bo-placeholder6"] {
        ensure!(
            state
                .object("root", "firewall address", placeholder)
                .is_none()
                && state
                    .object("root", "firewall address6", placeholder)
                    .is_none(),
            "{placeholder} is still there although the groups have real members"
        );
    }
    println!("  device check: deny policy and hand-made objects intact, placeholders replaced");
    Ok(())
}
