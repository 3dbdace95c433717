//! `blockops diff`: what a pull request changes, per file and per target.
use clap::ValueEnum;

use super::Ctx;
use crate::error::Outcome;
use crate::gitops::{self, diff};
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
    /// Exit 2 when there are changes, 0 when there are none.
    #[arg(long)]
    pub exit_code: bool,
}

pub fn run(ctx: &Ctx, args: Args) -> anyhow::Result<Outcome> {
    let repo = ctx.repo();
    let head = ctx.load(repo.as_ref(), &args.head)?;
    let base = match &args.base {
        Some(rev) => ctx.load(repo.as_ref(), rev)?,
        None => default_base(ctx, repo.as_ref(), &args.head, &head)?,
    };
    let report = diff::compute(&base, &head, crate::blocklist::today())?;
    let text = match args.format {
        DiffFormat::Json => serde_json::to_string_pretty(&report)? + "\n",
        DiffFormat::Markdown => diff::to_markdown(&report),
        DiffFormat::Text => colorize(&diff::to_text(&report), ctx.color()),
    };
    super::print(&text)?;
    Ok(if args.exit_code && report.has_changes() {
        Outcome::Changes
    } else {
        Outcome::Ok
    })
}

/// HEAD~1 (or HEAD for the work tree); the empty repository when there is no such commit.
fn default_base(
    ctx: &Ctx,
    repo: Option<&git2::Repository>,
    head_rev: &str,
    head: &Workspace,
) -> anyhow::Result<Workspace> {
    let Some(repo) = repo else {
        return Ok(Workspace::empty(&head.config));
    };
    let base_rev = if head_rev == "WORKTREE" {
        "HEAD".to_string()
    } else {
        let oid = gitops::resolve(repo, head_rev)?;
        let commit = repo.find_commit(oid)?;
        if commit.parent_count() == 0 {
            return Ok(Workspace::empty(&head.config));
        }
        commit.parent_id(0)?.to_string()
    };
    if head_rev == "WORKTREE" && repo.head().is_err() {
        return Ok(Workspace::empty(&head.config));
    }
    ctx.load(Some(repo), &base_rev)
}

fn colorize(text: &str, on: bool) -> String {
    if !on {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len() + 64);
    for line in text.lines() {
        let style = if line.starts_with("+++") || line.starts_with("---") {
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
