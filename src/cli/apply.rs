//! `blockops apply`: arguments, `plan::verify` for every plan file, confirmation on a
//! terminal, `plan::apply` per device, then the report (text or JSON).
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;

use anyhow::{Context, bail};
use serde::Serialize;

use super::plan::{combine, left_alone_lines};
use super::{Ctx, Format};
use crate::config::Dur;
use crate::error::{Outcome, Refused};
use crate::gitops;
use crate::plan::apply::{ApplyOptions, Info};
use crate::plan::verify::{Verified, VerifyOptions, verify};
use crate::plan::{self, PlanFile, Shard, lock};
use crate::progress::Bars;
use crate::report::{JSON_SCHEMA_VERSION, Row, TargetResult};

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
    /// Apply a plan whose commit is no longer the tip of the approved branch even though the
    /// tip renders a different desired state.
    #[arg(long)]
    pub allow_superseded: bool,
    /// How long to wait for another blockops apply on the same device (`0s`: refuse at once).
    #[arg(long, value_name = "DUR", default_value = "5m")]
    pub lock_wait: Dur,
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

fn row(v: &Verified, result: TargetResult, lines: usize, detail: String, info: &Info) -> Row {
    Row {
        target: v.plan.target.clone(),
        result,
        counts: Some(v.plan.counts),
        lines,
        plan_file: Some(v.path.display().to_string()),
        detail,
        left_alone: info.left_alone.clone(),
        skipped: info.skipped.clone(),
    }
}

/// `blockops apply`.
pub fn run(ctx: &Ctx, a: ApplyArgs) -> anyhow::Result<Outcome> {
    let cfg = ctx.config()?;
    let repo = gitops::open(ctx.root())?;
    let json = a.format == Format::Json;
    let quiet = ctx.global.quiet || json;
    let mut errors: Vec<(String, anyhow::Error)> = Vec::new();
    let mut rows: Vec<ApplyRow> = Vec::new();
    let mut verified = Vec::new();
    let vo = VerifyOptions {
        allow_superseded: a.allow_superseded,
        accept_new_host_key: a.accept_new_host_key,
    };
    for path in expand(&a.plans)? {
        let name = path.display().to_string();
        let r = PlanFile::load(&path).and_then(|p| {
            if a.shard.is_some_and(|s| !s.contains(&p.target)) {
                return Ok(None);
            }
            verify(&repo, cfg, &ctx.config_rel(), ctx.root(), &path, p, vo).map(Some)
        });
        match r {
            Ok(Some(v)) => verified.push(v),
            Ok(None) => {}
            Err(e) => {
                let mut r = Row::failed(&name, &e, TargetResult::Error);
                r.plan_file = Some(name.clone());
                rows.push(ApplyRow {
                    row: r,
                    info: Info::default(),
                });
                errors.push((name, e));
            }
        }
    }
    drop(repo);
    for v in &verified {
        for n in &v.notes {
            if !ctx.global.quiet {
                eprintln!("{}: note: {n}", v.plan.target);
            }
        }
    }
    let several = verified.len() + errors.len() > 1;
    let (todo, nothing): (Vec<Verified>, Vec<Verified>) =
        verified.into_iter().partition(|v| v.plan.has_changes);
    for v in nothing {
        if !quiet {
            println!(
                "{}: the plan has no changes; nothing to apply",
                v.plan.target
            );
        }
        let info = Info::default();
        rows.push(ApplyRow {
            row: row(&v, TargetResult::NoChanges, 0, String::new(), &info),
            info,
        });
    }
    if !todo.is_empty() && !a.dry_run && !a.yes {
        confirm(&todo)?;
    }
    let opts = ApplyOptions {
        dry_run: a.dry_run,
        log_dir: a.log_dir.clone(),
        lock_dir: lock::lock_dir(),
        lock_wait: a.lock_wait.0,
    };
    let bars = Bars::new(ctx.global.quiet);
    let loud = !ctx.global.quiet;
    let futs: Vec<_> = todo
        .into_iter()
        .map(|v| {
            let bars = bars.clone();
            let opts = opts.clone();
            async move {
                let mut info = Info::default();
                let progress = bars.device(&v.target.name);
                let notify = move |msg: String| {
                    if loud {
                        eprintln!("{msg}");
                    }
                };
                let r = plan::apply::run(&v, &opts, &mut info, &progress, &notify).await;
                drop(progress);
                (r, info, v)
            }
        })
        .collect();
    for (r, info, v) in plan::run_bounded(a.jobs as usize, futs)? {
        let name = v.plan.target.clone();
        if !quiet {
            print!(
                "{}",
                left_alone_lines(&name, &info.left_alone, &info.skipped)
            );
        }
        match r {
            Ok(msg) => {
                if !quiet {
                    println!("{name}: {msg}");
                }
                let result = if a.dry_run {
                    TargetResult::DryRun
                } else {
                    TargetResult::Applied
                };
                rows.push(ApplyRow {
                    row: row(&v, result, v.plan.line_count(), msg, &info),
                    info,
                });
            }
            Err(e) => {
                let result = TargetResult::of_error(&e, TargetResult::Failed);
                rows.push(ApplyRow {
                    row: row(
                        &v,
                        result,
                        v.plan.line_count(),
                        crate::error::render_chain(&e),
                        &info,
                    ),
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
            dry_run: a.dry_run,
            ok: errors.is_empty(),
            targets: &rows,
        };
        super::print(&(serde_json::to_string_pretty(&r)? + "\n"))?;
    } else if several && !ctx.global.quiet {
        let plain: Vec<Row> = rows.iter().map(|r| r.row.clone()).collect();
        print!("{}", crate::report::table(&plain));
    }
    combine(errors, "apply")?;
    Ok(Outcome::Ok)
}

fn confirm(todo: &[Verified]) -> anyhow::Result<()> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return Err(Refused::new(
            "stdin is not a terminal, so nobody can confirm: pass --yes to apply without asking (or --dry-run)",
        )
        .into());
    }
    for v in todo {
        let k = v.plan.counts;
        eprintln!(
            "{} ({}:{}): {} to add, {} to remove, {} to modify, {} lines from commit {}",
            v.target.name,
            v.target.host,
            v.target.port,
            k.adds,
            k.removes,
            k.modifies,
            v.plan.line_count(),
            &v.plan.commit[..12.min(v.plan.commit.len())]
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
