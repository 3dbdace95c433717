//! `blockops doctor`: arguments, then `doctor::run`, then the report (table or JSON) and the
//! exit code (0 when nothing failed — warnings pass unless `--strict` — else 1).
use std::path::PathBuf;

use super::{Ctx, Format};
use crate::doctor::{self, Options};
use crate::error::Outcome;

/// Arguments of `blockops doctor`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Target to examine (repeatable); default: every configured target.
    #[arg(long = "target", value_name = "NAME")]
    pub targets: Vec<String>,
    /// Output: a table (`text`) or one JSON document on stdout (`json`, docs/json.md).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Warnings fail too (exit 1).
    #[arg(long)]
    pub strict: bool,
    /// Write each target's SSH session transcript (secrets redacted) into this directory.
    #[arg(long, value_name = "DIR")]
    pub transcripts: Option<PathBuf>,
}

/// Run `blockops doctor`.
pub fn run(ctx: &Ctx, a: Args) -> anyhow::Result<Outcome> {
    let report = doctor::run(&Options {
        root: ctx.root().to_path_buf(),
        config_rel: ctx.config_rel(),
        targets: a.targets,
        transcripts: a.transcripts,
        strict: a.strict,
    });
    match a.format {
        Format::Json => super::print(&report.to_json())?,
        Format::Text => super::print(&doctor::render_text(&report, ctx.color()))?,
    }
    if report.passed() {
        return Ok(Outcome::Ok);
    }
    let n = report.counts();
    anyhow::bail!(
        "doctor: {} check(s) failed{}",
        n.fail,
        if n.fail == 0 || report.strict {
            format!(", {} warning(s) (--strict)", n.warn)
        } else {
            String::new()
        }
    )
}
