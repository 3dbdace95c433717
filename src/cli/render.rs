//! `blockops render`: the full desired-state script per target, or threat-feed files.
use std::path::PathBuf;

use anyhow::bail;
use clap::ValueEnum;

use super::Ctx;
use crate::error::Outcome;
use crate::fortios::render;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RenderFormat {
    /// FortiOS CLI script.
    Fortios,
    /// FortiGate external threat-feed text files (IP list and domain list).
    Feed,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only these targets (repeatable; default: all).
    #[arg(long = "target", value_name = "T")]
    pub targets: Vec<String>,
    /// Render the files of this revision instead of the work tree.
    #[arg(long, default_value = "WORKTREE")]
    pub rev: String,
    /// Write one file per target into DIR instead of printing.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = RenderFormat::Fortios)]
    pub format: RenderFormat,
}

pub fn run(ctx: &Ctx, args: Args) -> anyhow::Result<Outcome> {
    let repo = ctx.repo();
    let ws = ctx.load(repo.as_ref(), &args.rev)?;
    let eff = ws.effective(crate::blocklist::today());
    for d in &eff.dropped {
        tracing::info!("dropped {} ({}:{}): {}", d.value, d.file, d.line, d.why);
    }
    if !eff.dropped.is_empty() {
        ctx.note(format!("note: {} listed indicator(s) not rendered (guardrails or expiry; see `blockops check`)", eff.dropped.len()));
    }
    for t in &args.targets {
        if ws.config.target(t).is_none() {
            bail!("unknown target `{t}` (configured: {})", target_names(&ws));
        }
    }
    let mut outputs: Vec<(String, String)> = Vec::new();
    let selected: Vec<_> = ws
        .config
        .targets
        .iter()
        .filter(|t| args.targets.is_empty() || args.targets.contains(&t.name))
        .collect();
    match args.format {
        RenderFormat::Feed => {
            let (ips, domains) = render::feed(&eff);
            outputs.push(("ip.txt".into(), ips));
            outputs.push(("domains.txt".into(), domains));
        }
        RenderFormat::Fortios if selected.is_empty() => {
            let rc = ws.config.render.clone();
            let d = render::desired_with(&rc, &eff, "default", None)?;
            outputs.push((
                "default.conf".into(),
                ws.templates
                    .render("full.j2", &d, &rc, minijinja::Value::UNDEFINED)?,
            ));
        }
        RenderFormat::Fortios => {
            for t in selected {
                let d = ws.desired(&eff, t)?;
                outputs.push((format!("{}.conf", t.name), ws.script(&d, t)?));
            }
        }
    }
    match &args.out {
        Some(dir) => {
            for (name, text) in &outputs {
                let path = dir.join(name);
                crate::atomic::write(&path, text.as_bytes())?;
                ctx.note(format!("wrote {}", path.display()));
            }
        }
        None if outputs.len() == 1 => super::print(&outputs[0].1)?,
        None => {
            let mut all = String::new();
            for (name, text) in &outputs {
                all.push_str(&format!("# ==> {name} <==\n"));
                all.push_str(text);
            }
            super::print(&all)?;
        }
    }
    Ok(Outcome::Ok)
}

fn target_names(ws: &crate::workspace::Workspace) -> String {
    let v: Vec<&str> = ws.config.targets.iter().map(|t| t.name.as_str()).collect();
    if v.is_empty() {
        "none".into()
    } else {
        v.join(", ")
    }
}
