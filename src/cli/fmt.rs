//! `blockops fmt [--check]`: canonical blocklist files.
use anyhow::bail;

use super::Ctx;
use crate::blocklist::BlocklistFile;
use crate::error::Outcome;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Do not write; fail (exit 1) when a file is not in canonical form.
    #[arg(long)]
    pub check: bool,
}

pub fn run(ctx: &Ctx, args: Args) -> anyhow::Result<Outcome> {
    let root = ctx.root();
    let cfg = ctx.config()?;
    // The same reader as every command: path rules, no links, size and nesting bounds.
    let src = crate::gitops::WorktreeSource {
        root: root.to_path_buf(),
    };
    let mut problems = crate::diag::Diagnostics::default();
    let mut todo = Vec::new();
    for rel in cfg.files.blocklists() {
        let text = match crate::gitops::read_required(&src, rel) {
            Ok(t) => t,
            Err(d) => {
                problems.push(d);
                continue;
            }
        };
        match BlocklistFile::parse(&text, rel) {
            Ok(f) => {
                let canon = f.to_canonical_string();
                if canon != text {
                    todo.push((f, canon));
                }
            }
            Err(d) => problems.extend(d),
        }
    }
    if problems.has_errors() {
        // Nothing is written while any file has errors.
        return Err(super::diag_error(problems, "WORKTREE"));
    }
    if args.check {
        if todo.is_empty() {
            return Ok(Outcome::Ok);
        }
        for (f, _) in &todo {
            eprintln!("{}: not in canonical form", f.path);
        }
        bail!(
            "{} file(s) not in canonical form; run `blockops fmt`",
            todo.len()
        );
    }
    for (f, canon) in &todo {
        crate::atomic::write_under(root, &f.path, canon.as_bytes())?;
        ctx.note(format!("formatted {}", f.path));
    }
    Ok(Outcome::Ok)
}
