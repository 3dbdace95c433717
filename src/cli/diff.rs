//! `blockops diff`: what a pull request changes — indicators per file and per target, and
//! the policy (configuration, allowlist, templates, blocklist files) — for reviewers.
use anyhow::Context as _;
use clap::ValueEnum;

use super::Ctx;
use crate::error::Outcome;
use crate::gitops;
use crate::review::{self, PolicyFiles, Side};
use crate::workspace::Workspace;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DiffFormat {
    Text,
    Markdown,
    Json,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Base revision (default: HEAD~1, or HEAD with --head WORKTREE; empty before the first commit).
    #[arg(long)]
    pub base: Option<String>,
    /// Head revision; WORKTREE compares the files on disk.
    #[arg(long, default_value = "HEAD")]
    pub head: String,
    #[arg(long, value_enum, default_value_t = DiffFormat::Text)]
    pub format: DiffFormat,
    /// Exit 2 when there are changes (indicators, scripts or policy), 0 when there are none.
    #[arg(long)]
    pub exit_code: bool,
}

pub fn run(ctx: &Ctx, args: Args) -> anyhow::Result<Outcome> {
    let repo = ctx.repo();
    let base_rev = match &args.base {
        Some(rev) => Some(rev.clone()),
        None => default_base_rev(repo.as_ref(), &args.head)?,
    };
    drop(repo);
    // Base and head are independent: load them on two threads (each opens its own
    // repository handle; git2 handles are not shared between threads).
    let (head, base) = std::thread::scope(|s| {
        let base_job = base_rev.as_ref().map(|rev| {
            s.spawn(move || {
                let repo = ctx.repo();
                ctx.load(repo.as_ref(), rev)
            })
        });
        let repo = ctx.repo();
        let head = ctx.load(repo.as_ref(), &args.head);
        let base = base_job.map(|j| {
            j.join()
                .unwrap_or_else(|_| Err(anyhow::anyhow!("loading the base revision panicked")))
        });
        (head, base)
    });
    let head = head?;
    let base = match base {
        Some(b) => b?,
        None => Workspace::empty(&head.config),
    };
    // The policy comparison also needs the configuration text (line numbers) and the file
    // names in the blocklist directories of each side.
    let repo = ctx.repo();
    let config = ctx.config_rel();
    let dirs = review::policy::watched_dirs(&base, &head);
    let head_files = {
        let src = gitops::source_for(repo.as_ref(), ctx.root(), &args.head)?;
        PolicyFiles::read(src.as_dyn(), &config, &dirs)?
    };
    let base_files = match &base_rev {
        Some(rev) => {
            let src = gitops::source_for(repo.as_ref(), ctx.root(), rev)?;
            PolicyFiles::read(src.as_dyn(), &config, &dirs)?
        }
        None => PolicyFiles::empty(&config),
    };
    drop(repo);
    let report = review::compute(
        Side {
            ws: &base,
            files: &base_files,
        },
        Side {
            ws: &head,
            files: &head_files,
        },
        crate::blocklist::today(),
    )?;
    match args.format {
        DiffFormat::Json => stream(|w| {
            serde_json::to_writer_pretty(&mut *w, &report)?;
            w.write_all(b"\n")
        })?,
        DiffFormat::Markdown => super::print(&review::to_markdown(&report))?,
        DiffFormat::Text if ctx.color() => super::print(&colorize(&review::to_text(&report)))?,
        DiffFormat::Text => stream(|w| review::write_text(&report, w))?,
    }
    let outcome = if args.exit_code && report.has_changes() {
        Outcome::Changes
    } else {
        Outcome::Ok
    };
    // The process ends here: freeing two 100 000-entry workspaces entry by entry would only
    // delay the exit (tens of milliseconds); the operating system takes the memory back whole.
    std::mem::forget(report);
    std::mem::forget((head, base, head_files, base_files));
    Ok(outcome)
}

/// HEAD~1 (or HEAD for the work tree); `None` (the empty repository) when there is no such commit.
fn default_base_rev(
    repo: Option<&git2::Repository>,
    head_rev: &str,
) -> anyhow::Result<Option<String>> {
    let Some(repo) = repo else {
        return Ok(None);
    };
    if head_rev == "WORKTREE" {
        return Ok(repo
            .head()
            .ok()
            .and_then(|h| h.target())
            .map(|oid| oid.to_string()));
    }
    let oid = gitops::resolve(repo, head_rev)?;
    let commit = repo.find_commit(oid)?;
    if commit.parent_count() == 0 {
        return Ok(None);
    }
    Ok(Some(commit.parent_id(0)?.to_string()))
}

/// Write to stdout as the output is produced (a 100 000-indicator diff is tens of
/// megabytes: it is not held in memory twice); a closed pipe is not an error.
fn stream(f: impl FnOnce(&mut dyn std::io::Write) -> std::io::Result<()>) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut out = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    match f(&mut out).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        r => r.context("writing to stdout"),
    }
}

fn colorize(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 64);
    for line in text.lines() {
        let style = if line.starts_with("  WEAKENS ") {
            "\x1b[1;31m"
        } else if line.starts_with("+++") || line.starts_with("---") {
            "\x1b[1m"
        } else if line.starts_with('+') || line.starts_with("  + ") {
            "\x1b[32m"
        } else if line.starts_with('-') || line.starts_with("  - ") {
            "\x1b[31m"
        } else if line.starts_with("@@") {
            "\x1b[36m"
        } else {
            ""
        };
        if style.is_empty() {
            out.push_str(line);
        } else {
            out.push_str(style);
            out.push_str(line);
            out.push_str("\x1b[0m");
        }
        out.push('\n');
    }
    out
}
