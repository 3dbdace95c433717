//! `blockops doctor`: a read-only preflight of a setup — the configuration and files, the
//! Cybereason tenant and every FortiGate target — that a new user runs before the first `pull`
//! or `plan`, and CI can run on a schedule.
//!
//! Every check goes through the code `pull`, `plan` and `apply` use (the strict workspace
//! loader, the Cybereason client and its queries, the device session and its probes, the
//! delta and the capacity check), so a passing doctor means they will work — as far as
//! read-only means can tell. Doctor never changes anything: it sends no write endpoint to
//! Cybereason, no configuration command to a FortiGate (only `get`, `show`, `print
//! tablesize`, `execute config-transaction status`, and `config`/`edit`/`end` to enter and
//! leave existing scopes), never records a host key and writes no local file unless asked
//! for transcripts.
//!
//! Outcome: one line per check, PASS / WARN / FAIL / SKIP. WARN passes (exit 0) unless
//! `--strict`; any FAIL exits 1. SKIP marks a check that could not run because an earlier one
//! failed or the thing is not configured.
mod cyber;
mod device;
mod text;

use std::path::PathBuf;

use serde::Serialize;
use serde_json::{Value, json};

use crate::config::Config;
use crate::gitops::WorktreeSource;
use crate::secret::Secret;
use crate::workspace::{self, Workspace};

pub use text::render_text;

/// The verdict of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Warn,
    Fail,
    Skip,
}

impl Status {
    pub fn label(self) -> &'static str {
        match self {
            Status::Pass => "PASS",
            Status::Warn => "WARN",
            Status::Fail => "FAIL",
            Status::Skip => "SKIP",
        }
    }
}

/// One check and what it found.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// `config`, `cybereason`, or `target <name>`.
    pub subject: String,
    /// Short id, stable across versions (`dns`, `login`, `host-key`, `deny-policy` …).
    pub check: String,
    pub status: Status,
    /// What was found, in one line.
    pub summary: String,
    /// What to do about it, in a few words (`None` when nothing needs doing).
    pub fix: Option<String>,
    /// Details for machines (counts, fingerprints, statuses); an object.
    pub facts: Value,
}

/// Checks of one subject, appended in order.
pub(crate) struct Subject<'a> {
    name: String,
    out: &'a mut Vec<Check>,
}

impl<'a> Subject<'a> {
    pub(crate) fn new(name: impl Into<String>, out: &'a mut Vec<Check>) -> Subject<'a> {
        Subject {
            name: name.into(),
            out,
        }
    }

    /// Add a check; returns it so the caller can add a fix and facts.
    pub(crate) fn add(
        &mut self,
        check: &str,
        status: Status,
        summary: impl Into<String>,
    ) -> &mut Check {
        self.out.push(Check {
            subject: self.name.clone(),
            check: check.to_string(),
            status,
            summary: summary.into(),
            fix: None,
            facts: json!({}),
        });
        let n = self.out.len() - 1;
        &mut self.out[n]
    }

    /// SKIP every check in `checks` because of `why`.
    pub(crate) fn skip_all(&mut self, checks: &[&str], why: &str) {
        for c in checks {
            self.add(c, Status::Skip, why);
        }
    }
}

impl Check {
    pub(crate) fn fix(&mut self, fix: impl Into<String>) -> &mut Check {
        self.fix = Some(fix.into());
        self
    }
    pub(crate) fn facts(&mut self, facts: Value) -> &mut Check {
        self.facts = facts;
        self
    }
}

/// What to examine.
#[derive(Debug, Clone)]
pub struct Options {
    /// Repository root.
    pub root: PathBuf,
    /// Configuration file, relative to the root.
    pub config_rel: String,
    /// Targets to examine (empty: all configured targets).
    pub targets: Vec<String>,
    /// Write each target's session transcript (secrets redacted) into this directory.
    pub transcripts: Option<PathBuf>,
    /// WARN fails too.
    pub strict: bool,
}

/// Counts per status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub pass: usize,
    pub warn: usize,
    pub fail: usize,
    pub skip: usize,
}

/// Everything doctor found.
#[derive(Debug, Clone)]
pub struct Report {
    pub checks: Vec<Check>,
    pub strict: bool,
    /// Secrets that must never appear in output (redacted from every text, in depth).
    secrets: Vec<Secret>,
}

impl Report {
    pub fn counts(&self) -> Counts {
        let mut c = Counts::default();
        for k in &self.checks {
            match k.status {
                Status::Pass => c.pass += 1,
                Status::Warn => c.warn += 1,
                Status::Fail => c.fail += 1,
                Status::Skip => c.skip += 1,
            }
        }
        c
    }

    /// Exit 0: no FAIL (and, with `--strict`, no WARN).
    pub fn passed(&self) -> bool {
        let c = self.counts();
        c.fail == 0 && (!self.strict || c.warn == 0)
    }

    /// Remove every known secret from `text`.
    pub fn redact(&self, text: &str) -> String {
        let mut t = text.to_string();
        for s in &self.secrets {
            t = s.redact(&t);
        }
        t
    }

    /// `--format json` (docs/json.md, "doctor").
    pub fn to_json(&self) -> String {
        let v = json!({
            "schema_version": crate::report::JSON_SCHEMA_VERSION,
            "command": "doctor",
            "passed": self.passed(),
            "strict": self.strict,
            "counts": self.counts(),
            "checks": self.checks,
        });
        let text = serde_json::to_string_pretty(&v).unwrap_or_else(|_| "{}".into());
        self.redact(&text) + "\n"
    }
}

/// Run every check. Never fails: what goes wrong is a FAIL line.
pub fn run(o: &Options) -> Report {
    let mut checks = Vec::new();
    let mut secrets = Vec::new();
    let src = WorktreeSource {
        root: o.root.clone(),
    };
    let mut subject = Subject::new("config", &mut checks);
    let cfg = match workspace::load_config(&src, &o.config_rel) {
        Ok(c) => {
            subject.add(
                "config",
                Status::Pass,
                format!(
                    "{} loaded: {} target(s), Cybereason {}",
                    o.config_rel,
                    c.targets.len(),
                    if c.cybereason.is_some() {
                        "configured"
                    } else {
                        "not configured"
                    }
                ),
            );
            c
        }
        Err(d) => {
            let n = d.errors().count();
            let first: Vec<String> = d.errors().take(3).map(|e| e.to_string()).collect();
            subject
                .add(
                    "config",
                    Status::Fail,
                    format!("{n} problem(s) in {}: {}", o.config_rel, first.join("; ")),
                )
                .fix("fix the configuration (`blockops check` lists every problem)")
                .facts(json!({ "problems": d }));
            subject.add("files", Status::Skip, "the configuration did not load");
            Subject::new("cybereason", &mut checks).add(
                "all",
                Status::Skip,
                "the configuration did not load",
            );
            Subject::new("targets", &mut checks).add(
                "all",
                Status::Skip,
                "the configuration did not load",
            );
            return Report {
                checks,
                strict: o.strict,
                secrets,
            };
        }
    };
    let ws = files_check(&mut subject, &src, &o.config_rel);
    let targets = select(&cfg, &o.targets, &mut checks);
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            Subject::new("doctor", &mut checks).add(
                "runtime",
                Status::Fail,
                format!("cannot start the async runtime: {e}"),
            );
            return Report {
                checks,
                strict: o.strict,
                secrets,
            };
        }
    };
    match &cfg.cybereason {
        Some(cc) => {
            rt.block_on(cyber::run(
                cc,
                &cfg,
                &o.root,
                &mut Subject::new("cybereason", &mut checks),
                &mut secrets,
            ));
        }
        None => {
            Subject::new("cybereason", &mut checks).add(
                "config",
                Status::Skip,
                format!(
                    "{} has no `cybereason:` section (pull is not set up)",
                    o.config_rel
                ),
            );
        }
    }
    for t in targets {
        let mut s = Subject::new(format!("target {}", t.name), &mut checks);
        rt.block_on(device::run(&cfg, t, o, ws.as_ref(), &mut s, &mut secrets));
    }
    Report {
        checks,
        strict: o.strict,
        secrets,
    }
}

/// The strict workspace load every command uses, summarised.
fn files_check(s: &mut Subject, src: &WorktreeSource, config_rel: &str) -> Option<Workspace> {
    let (ws, mut diags) = Workspace::load_lenient(src, config_rel);
    diags.sort();
    let errors: Vec<String> = diags.errors().map(|d| d.to_string()).collect();
    let warnings: Vec<String> = diags
        .0
        .iter()
        .filter(|d| d.severity == crate::diag::Severity::Warning)
        .map(|d| d.to_string())
        .collect();
    let ws = match ws {
        Some(ws) if errors.is_empty() => ws,
        _ => {
            s.add(
                "files",
                Status::Fail,
                format!(
                    "{} problem(s) in the repository, first: {}",
                    errors.len(),
                    errors.first().map(String::as_str).unwrap_or("(none)")
                ),
            )
            .fix("run `blockops check` for the full list and fix them")
            .facts(json!({ "problems": diags }));
            return None;
        }
    };
    let eff = ws.effective(crate::blocklist::today());
    let entries: usize = ws.files.iter().map(|f| f.entries.len()).sum();
    let summary = format!(
        "{} blocklist file(s) with {entries} entries, allowlist {}, {} templates; {} indicator(s) to block, {} dropped (guardrails, allowlist, expiry)",
        ws.files.len(),
        ws.allowlist.path,
        if ws.templates.is_customised() {
            "customised"
        } else {
            "built-in"
        },
        eff.blocked.len(),
        eff.dropped.len()
    );
    let facts = json!({
        "files": ws.files.iter().map(|f| json!({"path": f.path, "entries": f.entries.len()})).collect::<Vec<_>>(),
        "blocked": eff.blocked.len(),
        "dropped": eff.dropped.len(),
        "warnings": warnings,
    });
    drop(eff);
    if warnings.is_empty() {
        s.add("files", Status::Pass, summary).facts(facts);
    } else {
        s.add(
            "files",
            Status::Warn,
            format!(
                "{summary}; {} warning(s), first: {}",
                warnings.len(),
                warnings[0]
            ),
        )
        .fix("run `blockops check` and look at the warnings")
        .facts(facts);
    }
    Some(ws)
}

/// The targets to examine; unknown names are FAIL lines.
fn select<'c>(
    cfg: &'c Config,
    names: &[String],
    checks: &mut Vec<Check>,
) -> Vec<&'c crate::config::Target> {
    let mut s = Subject::new("targets", checks);
    if names.is_empty() {
        if cfg.targets.is_empty() {
            s.add(
                "targets",
                Status::Skip,
                "no targets are configured (plan/apply are not set up)",
            );
        }
        return cfg.targets.iter().collect();
    }
    let mut out = Vec::new();
    for n in names {
        match cfg.target(n) {
            Some(t) => out.push(t),
            None => {
                s.add(
                    "targets",
                    Status::Fail,
                    format!("no target named `{n}` in the configuration"),
                )
                .fix("use a name from `targets[].name`");
            }
        }
    }
    out
}
