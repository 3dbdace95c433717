//! `blockops plan`: arguments, then `plan::make`, then the report (text or JSON).
use std::path::PathBuf;

use anyhow::anyhow;
use serde::Serialize;

use super::{Ctx, Format};
use crate::error::{Outcome, Refused, is_refusal, render_chain};
use crate::gitops;
use crate::plan::{self, PlanFile, Shard, make};
use crate::progress::Bars;
use crate::report::{JSON_SCHEMA_VERSION, Row, TargetResult};

/// Arguments of `blockops plan`.
#[derive(Debug, clap::Args)]
pub struct PlanArgs {
    /// Target to plan for (repeatable); default: the only configured target.
    #[arg(long = "target", value_name = "NAME")]
    pub targets: Vec<String>,
    /// Plan for every configured target.
    #[arg(long, conflicts_with = "targets")]
    pub all: bool,
    /// Only the I-th of N deterministic shares of the selected targets (CI matrix jobs).
    #[arg(long, value_name = "I/N")]
    pub shard: Option<Shard>,
    /// Revision to render the desired state from.
    #[arg(long, default_value = "HEAD")]
    pub rev: String,
    /// Plan file (`*.json`, one target) or directory for `<target>.plan.json` files.
    #[arg(long, value_name = "PATH", default_value = "plans")]
    pub out: PathBuf,
    /// Compute the delta from the desired state at this revision instead of reading the device.
    #[arg(long, value_name = "REV")]
    pub offline_base: Option<String>,
    /// Exit 2 when any plan has changes, 0 when none has.
    #[arg(long)]
    pub detailed_exitcode: bool,
    /// Allow plans that remove more objects than guardrails.max_removals.
    #[arg(long)]
    pub allow_large_change: bool,
    /// Record an unknown host key in the known_hosts file (explicit trust on first use).
    #[arg(long)]
    pub accept_new_host_key: bool,
    /// Devices contacted at the same time.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub jobs: u16,
    /// Output: per-target lines and table (`text`) or one JSON document on stdout (`json`).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// `plan --format json` output.
#[derive(Debug, Serialize)]
struct PlanReport<'a> {
    schema_version: u32,
    command: &'static str,
    /// Commit the desired state was rendered from.
    commit: String,
    /// `--offline-base` commit, if any.
    offline_base: Option<String>,
    /// Whether any plan has changes.
    changes: bool,
    ok: bool,
    targets: &'a [Row],
}

/// Turn per-target errors into the command result: refusals only → exit 3, else exit 1.
pub fn combine(errors: Vec<(String, anyhow::Error)>, what: &str) -> anyhow::Result<()> {
    match errors.len() {
        0 => Ok(()),
        1 => {
            let (t, e) = errors
                .into_iter()
                .next()
                .ok_or_else(|| anyhow!("unreachable"))?;
            Err(e.context(format!("target `{t}`")))
        }
        n => {
            let all_refused = errors.iter().all(|(_, e)| is_refusal(e));
            let list: Vec<String> = errors
                .iter()
                .map(|(t, e)| format!("{t}: {}", render_chain(e)))
                .collect();
            let msg = format!("{what} failed for {n} targets:\n  {}", list.join("\n  "));
            if all_refused {
                Err(Refused::new(msg).into())
            } else {
                Err(anyhow!(msg))
            }
        }
    }
}

/// `blockops plan`.
pub fn run(ctx: &Ctx, a: PlanArgs) -> anyhow::Result<Outcome> {
    let cfg = ctx.config()?;
    let repo = gitops::open(ctx.root())?;
    let commit = gitops::resolve(&repo, &a.rev)?;
    let offline_base = a
        .offline_base
        .as_deref()
        .map(|r| gitops::resolve(&repo, r))
        .transpose()?;
    let targets: Vec<_> = plan::select_targets(cfg, &a.targets, a.all, a.shard)?
        .into_iter()
        .cloned()
        .collect();
    let json = a.format == Format::Json;
    let quiet = ctx.global.quiet || json;
    if targets.is_empty() {
        if json {
            print_json(commit.to_string(), offline_base, false, &[])?;
        } else {
            println!("no targets in this shard");
        }
        return Ok(Outcome::Ok);
    }
    let several = targets.len() > 1;
    let req = make::Request {
        targets,
        commit,
        offline_base,
        today: crate::blocklist::today(),
        out: a.out.clone(),
        allow_large_change: a.allow_large_change,
        accept_new_host_key: a.accept_new_host_key,
        jobs: a.jobs as usize,
        root: ctx.root().to_path_buf(),
        config_path: ctx.config_rel(),
    };
    let planned = make::make(&repo, cfg, &req, &Bars::new(ctx.global.quiet));
    let mut rows = Vec::new();
    let mut errors = Vec::new();
    let mut any_changes = false;
    for p in planned {
        if let Some(n) = &p.notice
            && !ctx.global.quiet
        {
            eprintln!("note: {n}");
        }
        match p.result {
            Ok((pf, path)) => {
                any_changes |= pf.has_changes;
                if !quiet {
                    print!("{}", describe(&pf, &path, ctx.global.verbose > 0, several));
                }
                rows.push(Row {
                    target: pf.target.clone(),
                    result: if pf.has_changes {
                        TargetResult::Changes
                    } else {
                        TargetResult::NoChanges
                    },
                    counts: Some(pf.counts),
                    lines: pf.line_count(),
                    plan_file: Some(path.display().to_string()),
                    detail: path.display().to_string(),
                    left_alone: pf.left_alone.clone(),
                    skipped: pf.skipped.clone(),
                });
            }
            Err(e) => {
                rows.push(Row::failed(&p.target, &e, TargetResult::Error));
                errors.push((p.target, e));
            }
        }
    }
    if json {
        print_json(commit.to_string(), offline_base, any_changes, &rows)?;
    } else if several && !ctx.global.quiet {
        print!("{}", crate::report::table(&rows));
    }
    combine(errors, "plan")?;
    Ok(if any_changes && a.detailed_exitcode {
        Outcome::Changes
    } else {
        Outcome::Ok
    })
}

fn print_json(
    commit: String,
    base: Option<git2::Oid>,
    changes: bool,
    rows: &[Row],
) -> anyhow::Result<()> {
    let r = PlanReport {
        schema_version: JSON_SCHEMA_VERSION,
        command: "plan",
        commit,
        offline_base: base.map(|b| b.to_string()),
        changes,
        ok: rows.iter().all(|r| r.result.is_ok()),
        targets: rows,
    };
    super::print(&(serde_json::to_string_pretty(&r)? + "\n"))
}

/// The text report of one plan.
fn describe(pf: &PlanFile, path: &std::path::Path, verbose: bool, several: bool) -> String {
    let c = pf.counts;
    let mut o = String::new();
    if !pf.has_changes {
        o.push_str(&format!(
            "{}: no changes ({} managed objects up to date)\n",
            pf.target, pf.device_objects
        ));
    } else {
        o.push_str(&format!(
            "{}: {} to add, {} to remove, {} to modify — {} lines\n",
            pf.target,
            c.adds,
            c.removes,
            c.modifies,
            pf.line_count()
        ));
        if verbose || (!several && pf.line_count() <= 200) {
            o.push_str(&pf.script);
        }
    }
    o.push_str(&left_alone_lines(&pf.target, &pf.left_alone, &pf.skipped));
    o.push_str(&format!("plan written to {}\n", path.display()));
    o
}

/// What blockops leaves alone on a device, one line each (also used by `apply`).
pub fn left_alone_lines(
    target: &str,
    others: &[crate::fortios::model::Other],
    skipped: &[plan::desired::Skipped],
) -> String {
    let mut o = String::new();
    for x in others {
        o.push_str(&format!(
            "{target}: left alone: {} {:?}: {}\n",
            x.table, x.name, x.reason
        ));
    }
    for s in skipped {
        o.push_str(&format!(
            "{target}: not blocked here: {} {:?} is taken on the device by an object blockops cannot prove is its own\n",
            s.table, s.name
        ));
    }
    o
}
