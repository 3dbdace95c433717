//! `blockops apply`: verify an approved plan (hash, approved branch, allowed commands, device
//! unchanged since planning), back up the managed objects, push line by line, read back.
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow, bail};
use serde::Serialize;

use crate::cli::plan::{
    DeviceProgress, JSON_SCHEMA_VERSION, Row, combine, config_rel, load_config, print_table,
};
use crate::cli::{Format, Global};
use crate::config::Target;
use crate::error::{Outcome, Refused, is_refusal, render_chain};
use crate::fortios::device::State;
use crate::fortios::model::Desired;
use crate::fortios::ssh::ConnectOptions;
use crate::gitops;
use crate::plan::{self, Device, PlanFile, Shard, delta, push, validate};

/// Arguments of `blockops apply`.
#[derive(Debug, clap::Args)]
pub struct ApplyArgs {
    /// Plan files (or directories holding `*.plan.json`).
    #[arg(required = true, value_name = "PLAN")]
    pub plans: Vec<PathBuf>,
    /// Do not ask for confirmation (required when stdin is not a terminal).
    #[arg(long)]
    pub yes: bool,
    /// Verify everything against the device, but change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Record an unknown host key in the known_hosts file (explicit trust on first use).
    #[arg(long)]
    pub accept_new_host_key: bool,
    /// Only plans whose target falls in the I-th of N deterministic shares.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<Shard>,
    /// Where backups and transcripts go (default: next to each plan file).
    #[arg(long, value_name = "DIR")]
    pub log_dir: Option<PathBuf>,
    /// Devices changed at the same time.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub jobs: u16,
    /// Output: per-target lines and table (`text`) or one JSON document on stdout (`json`).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// What happened on one device, as far as it got (filled in while applying).
#[derive(Debug, Clone, Default, Serialize)]
struct Info {
    /// Script lines the device accepted.
    lines_applied: usize,
    /// Differences between the device read back and the desired state (`null`: not read back).
    drift: Option<usize>,
    /// Backup of the managed objects, written before any change.
    backup: Option<String>,
    /// Session transcript.
    transcript: Option<String>,
}

/// One element of `targets` in `apply --format json`.
#[derive(Debug, Serialize)]
struct ApplyRow {
    #[serde(flatten)]
    row: Row,
    #[serde(flatten)]
    info: Info,
}

/// `apply --format json` output.
#[derive(Debug, Serialize)]
struct ApplyReport<'a> {
    schema_version: u32,
    command: &'static str,
    dry_run: bool,
    ok: bool,
    targets: &'a [ApplyRow],
}

/// A plan that passed the offline checks.
struct Checked {
    plan: PlanFile,
    target: Target,
    desired: Desired,
    opts: ConnectOptions,
    dopts: delta::DeltaOptions,
    log_dir: PathBuf,
    path: PathBuf,
}

fn expand(paths: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut v: Vec<PathBuf> = std::fs::read_dir(p)
                .with_context(|| format!("listing {}", p.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.to_string_lossy().ends_with(".plan.json"))
                .collect();
            v.sort();
            out.extend(v);
        } else {
            out.push(p.clone());
        }
    }
    Ok(out)
}

/// `blockops apply`.
pub fn run(g: &Global, a: ApplyArgs) -> anyhow::Result<Outcome> {
    let cfg = load_config(g)?;
    let cfg_rel = config_rel(g);
    let repo = gitops::open(&g.repo)?;
    let mut errors: Vec<(String, anyhow::Error)> = Vec::new();
    let json = a.format == Format::Json;
    let quiet = g.quiet || json;
    let mut rows: Vec<ApplyRow> = Vec::new();
    let mut checked = Vec::new();
    for path in expand(&a.plans)? {
        let name = path.display().to_string();
        let r = (|| {
            let plan = PlanFile::load(&path)?;
            if a.shard.is_some_and(|s| !s.contains(&plan.target)) {
                return Ok(None);
            }
            if plan::sha256_hex(&plan.script) != plan.script_sha256 {
                return Err(Refused::new(format!(
                    "{}: the script does not match its sha256 — the plan was modified after it was made",
                    path.display()
                ))
                .into());
            }
            let target = cfg
                .target(&plan.target)
                .ok_or_else(|| {
                    anyhow!(
                        "the plan is for target `{}`, which is not configured",
                        plan.target
                    )
                })?
                .clone();
            if plan.approved_branch != target.approved_branch {
                return Err(Refused::new(format!(
                    "the plan names approved branch `{}` but target `{}` requires `{}`",
                    plan.approved_branch, target.name, target.approved_branch
                ))
                .into());
            }
            let oid = git2::Oid::from_str(&plan.commit)
                .map_err(|_| anyhow!("the plan's commit `{}` is not a commit id", plan.commit))?;
            if repo.find_commit(oid).is_err() {
                return Err(Refused::new(format!(
                    "the plan's commit {} is not in this repository",
                    plan.commit
                ))
                .into());
            }
            if !plan::approved(&repo, oid, &target.approved_branch)? {
                return Err(Refused::new(format!(
                    "commit {} is not reachable from the approved branch `{}`: only merged changes may be applied",
                    gitops::short(oid),
                    target.approved_branch
                ))
                .into());
            }
            if plan.vdom != target.vdom {
                return Err(Refused::new(
                    "the plan's VDOM differs from the target's configuration",
                )
                .into());
            }
            let (desired, max_line) =
                plan::desired_at(&repo, oid, &cfg_rel, &target.name, plan.as_of_date()?)?;
            let managed = plan::managed_from(&desired);
            let rules = validate::Rules {
                vdom: target.vdom.as_deref(),
                transaction: target.transaction,
                managed: &managed,
            };
            let bad = validate::check(&plan.script, &rules);
            if !bad.is_empty() {
                return Err(Refused::new(format!(
                    "the script contains commands blockops never sends:\n  {}",
                    bad.join("\n  ")
                ))
                .into());
            }
            let opts = ConnectOptions::for_target(&target, &g.repo, a.accept_new_host_key)?;
            let log_dir = a.log_dir.clone().unwrap_or_else(|| {
                path.parent()
                    .map(Path::to_path_buf)
                    .unwrap_or_else(|| PathBuf::from("."))
            });
            let dopts = plan::delta_options(max_line, &target);
            anyhow::Ok(Some(Checked {
                plan,
                target,
                desired,
                opts,
                dopts,
                log_dir,
                path: path.clone(),
            }))
        })();
        match r {
            Ok(Some(c)) => checked.push(c),
            Ok(None) => {}
            Err(e) => {
                rows.push(ApplyRow {
                    row: Row {
                        target: name.clone(),
                        result: if is_refusal(&e) { "refused" } else { "error" }.into(),
                        counts: None,
                        lines: 0,
                        plan_file: Some(path.display().to_string()),
                        detail: render_chain(&e),
                    },
                    info: Info::default(),
                });
                errors.push((name, e));
            }
        }
    }
    let several = checked.len() + errors.len() > 1;
    let (todo, nothing): (Vec<Checked>, Vec<Checked>) =
        checked.into_iter().partition(|c| c.plan.has_changes);
    for c in nothing {
        if !quiet {
            println!(
                "{}: the plan has no changes; nothing to apply",
                c.plan.target
            );
        }
        rows.push(ApplyRow {
            row: Row {
                target: c.plan.target,
                result: "no changes".into(),
                counts: Some(c.plan.counts),
                lines: 0,
                plan_file: Some(c.path.display().to_string()),
                detail: String::new(),
            },
            info: Info {
                drift: None,
                ..Info::default()
            },
        });
    }
    if !todo.is_empty() && !a.dry_run && !a.yes {
        confirm(&todo)?;
    }
    let dry = a.dry_run;
    // Progress bars only for a person watching: never in CI logs, never on stdout.
    let bars = (!g.quiet && std::io::stderr().is_terminal()).then(|| {
        indicatif::MultiProgress::with_draw_target(indicatif::ProgressDrawTarget::stderr())
    });
    let futs: Vec<_> = todo
        .into_iter()
        .map(|c| {
            let bars = bars.clone();
            async move {
                let mut info = Info::default();
                let r = apply_one(&c, dry, &mut info, bars.as_ref()).await;
                (r, info, c)
            }
        })
        .collect();
    for (r, info, c) in plan::run_bounded(a.jobs as usize, futs)? {
        let name = c.plan.target.clone();
        let plan_file = Some(c.path.display().to_string());
        match r {
            Ok(msg) => {
                if !quiet {
                    println!("{name}: {msg}");
                }
                rows.push(ApplyRow {
                    row: Row {
                        target: name,
                        result: if dry { "dry run" } else { "applied" }.into(),
                        counts: Some(c.plan.counts),
                        lines: c.plan.line_count(),
                        plan_file,
                        detail: msg,
                    },
                    info,
                });
            }
            Err(e) => {
                rows.push(ApplyRow {
                    row: Row {
                        target: name.clone(),
                        result: if is_refusal(&e) { "refused" } else { "failed" }.into(),
                        counts: Some(c.plan.counts),
                        lines: c.plan.line_count(),
                        plan_file,
                        detail: render_chain(&e),
                    },
                    info,
                });
                errors.push((name, e));
            }
        }
    }
    if json {
        let r = ApplyReport {
            schema_version: JSON_SCHEMA_VERSION,
            command: "apply",
            dry_run: dry,
            ok: errors.is_empty(),
            targets: &rows,
        };
        crate::cli::print(&(serde_json::to_string_pretty(&r)? + "\n"))?;
    } else if several && !g.quiet {
        let plain: Vec<Row> = rows.iter().map(|r| r.row.clone()).collect();
        print_table(&plain);
    }
    combine(errors, "apply")?;
    Ok(Outcome::Ok)
}

fn confirm(todo: &[Checked]) -> anyhow::Result<()> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return Err(Refused::new(
            "stdin is not a terminal, so nobody can confirm: pass --yes to apply without asking (or --dry-run)",
        )
        .into());
    }
    for c in todo {
        let k = c.plan.counts;
        eprintln!(
            "{} ({}:{}): {} to add, {} to remove, {} to modify, {} lines from commit {}",
            c.target.name,
            c.target.host,
            c.target.port,
            k.adds,
            k.removes,
            k.modifies,
            c.plan.line_count(),
            &c.plan.commit[..12.min(c.plan.commit.len())]
        );
    }
    eprint!("Apply these changes? Type 'yes' to continue: ");
    std::io::stderr().flush().ok();
    let mut answer = String::new();
    stdin
        .lock()
        .read_line(&mut answer)
        .context("reading the confirmation")?;
    if answer.trim() != "yes" {
        bail!("not confirmed; nothing was changed");
    }
    Ok(())
}

fn stamp() -> String {
    let fmt = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    time::OffsetDateTime::now_utc()
        .format(&fmt)
        .unwrap_or_default()
}

async fn apply_one(
    c: &Checked,
    dry_run: bool,
    info: &mut Info,
    bars: Option<&indicatif::MultiProgress>,
) -> anyhow::Result<String> {
    let t = &c.target;
    let mut dev = Device::open(&c.opts, t).await?;
    if let Some(n) = dev.session.notice.take() {
        eprintln!("note: {n}");
    }
    let ts = stamp();
    let transcript_path = c.log_dir.join(format!("{}-{ts}.transcript.log", t.name));
    let result = apply_session(c, &mut dev, dry_run, &ts, info, bars).await;
    let transcript = dev.close().await;
    let written = crate::atomic::write(&transcript_path, transcript.as_bytes());
    if written.is_ok() {
        info.transcript = Some(transcript_path.display().to_string());
    }
    let msg = result?;
    written.with_context(|| format!("writing the transcript {}", transcript_path.display()))?;
    Ok(format!("{msg} (transcript {})", transcript_path.display()))
}

async fn apply_session(
    c: &Checked,
    dev: &mut Device,
    dry_run: bool,
    ts: &str,
    info: &mut Info,
    bars: Option<&indicatif::MultiProgress>,
) -> anyhow::Result<String> {
    let t = &c.target;
    let managed = plan::managed_from(&c.desired);
    let progress = DeviceProgress::new(bars, &t.name);
    progress.phase("reading the managed objects");
    let (current, backup) = dev.read(t.vdom.as_deref(), &managed).await?;
    if current.sha256() != c.plan.device_state_sha256 {
        return Err(Refused::new(format!(
            "stale plan: device changed since plan (managed state sha256 {} now, {} when planned); make a new plan",
            &current.sha256()[..12],
            &c.plan.device_state_sha256[..12.min(c.plan.device_state_sha256.len())]
        ))
        .into());
    }
    let again = delta::compute(&current, &c.desired, &c.dopts);
    if again.script != c.plan.script {
        return Err(Refused::new(format!(
            "the plan's script is not what commit {} produces for the device's current state; make a new plan",
            &c.plan.commit[..12.min(c.plan.commit.len())]
        ))
        .into());
    }
    let backup_path = c.log_dir.join(format!("{}-{ts}.backup.conf", t.name));
    crate::atomic::write(&backup_path, backup.as_bytes()).with_context(|| {
        format!(
            "writing the backup {}; nothing was changed",
            backup_path.display()
        )
    })?;
    info.backup = Some(backup_path.display().to_string());
    if dry_run {
        return Ok(format!(
            "dry run: plan verified against the device, {} lines would be sent (backup {})",
            c.plan.line_count(),
            backup_path.display()
        ));
    }
    progress.lines(c.plan.line_count());
    let on_line = |done: usize, _total: usize| progress.set(done);
    let report =
        push::push_with_progress(&mut dev.session, &c.plan.script, &dev.patterns, &on_line).await;
    progress.phase("reading back");
    info.lines_applied = report.applied;
    if !report.ok() {
        bail!("{} (backup {})", report.describe(), backup_path.display());
    }
    let (after, _) = dev
        .read(t.vdom.as_deref(), &managed)
        .await
        .context("reading the device back")?;
    let drift = after.drift(&State::from_desired(&c.desired));
    info.drift = Some(drift.len());
    if !drift.is_empty() {
        bail!(
            "the script was applied but the device does not match the desired state ({} differences):\n  {}",
            drift.len(),
            drift
                .iter()
                .take(20)
                .cloned()
                .collect::<Vec<_>>()
                .join("\n  ")
        );
    }
    Ok(format!(
        "{}; device matches commit {}",
        report.describe(),
        &c.plan.commit[..12.min(c.plan.commit.len())]
    ))
}
