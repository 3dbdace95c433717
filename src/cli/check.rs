//! `blockops check`: every problem in config, blocklists, allowlist, templates, guardrails
//! and per-target limits, each with `file:line:col`.
use serde::Serialize;

use super::{Ctx, Format};
use crate::blocklist::{format_date, today};
use crate::diag::{Diagnostic, Diagnostics, Severity};
use crate::error::{Outcome, Refused};
use crate::fortios::model::Desired;
use crate::fortios::render;
use crate::gitops;
use crate::plan::desired::{self, Shape};
use crate::review;
use crate::workspace::Workspace;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Check the files of this revision instead of the work tree.
    #[arg(long, default_value = "WORKTREE")]
    pub rev: String,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Also hold the configuration to the policy floor of REV (e.g. the target branch), and
    /// refuse a floor lowered since REV.
    #[arg(long, value_name = "REV")]
    pub floor_from: Option<String>,
    /// Report a configuration below the policy floor (guardrails.floor) as a warning, not a refusal.
    #[arg(long)]
    pub allow_weaker_policy: bool,
}

/// `check --format json` output.
#[derive(Debug, Serialize)]
struct Report<'a> {
    schema_version: u32,
    ok: bool,
    errors: usize,
    warnings: usize,
    problems: &'a Diagnostics,
}

pub fn run(ctx: &Ctx, args: Args) -> anyhow::Result<Outcome> {
    let repo = ctx.repo();
    let src = gitops::source_for(repo.as_ref(), ctx.root(), &args.rev)?;
    let (ws, mut diags) = Workspace::load_lenient(src.as_dyn(), &ctx.config_rel());
    let mut refusals = 0;
    if let Some(ws) = &ws {
        let more = check_workspace(ws, src.as_dyn(), &diags, &ctx.config_rel());
        diags.extend(more);
        let base = match &args.floor_from {
            Some(rev) => Some((ctx.load(repo.as_ref(), rev)?, rev.as_str())),
            None => None,
        };
        let base = base.as_ref().map(|(b, r)| (b, *r));
        let floor = review::floor::check_source(
            ws,
            src.as_dyn(),
            &ctx.config_rel(),
            base,
            args.allow_weaker_policy,
        )?;
        refusals = floor.refusals;
        diags.extend(floor.diagnostics);
    }
    diags.sort();
    let errors = diags
        .0
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .count();
    let warnings = diags
        .0
        .iter()
        .filter(|d| d.severity == Severity::Warning)
        .count();
    match args.format {
        Format::Json => {
            let r = Report {
                schema_version: crate::report::JSON_SCHEMA_VERSION,
                ok: errors == 0,
                errors,
                warnings,
                problems: &diags,
            };
            super::print(&(serde_json::to_string_pretty(&r)? + "\n"))?;
        }
        Format::Text => {
            let mut out = String::new();
            for d in &diags.0 {
                out.push_str(&d.to_string());
                out.push('\n');
            }
            out.push_str(&format!("{errors} error(s), {warnings} warning(s)\n"));
            super::print(&out)?;
        }
    }
    if errors > 0 && errors == refusals {
        let msg = format!("{errors} change(s) below the policy floor (guardrails.floor)");
        return Err(Refused::new(msg + "; --allow-weaker-policy overrides").into());
    }
    if errors > 0 {
        anyhow::bail!("check found {errors} error(s)");
    }
    Ok(Outcome::Ok)
}

/// Problems beyond parsing: drops, expiry, canonical form, templates, per-target limits.
pub fn check_workspace(
    ws: &Workspace,
    src: &dyn gitops::Source,
    load: &Diagnostics,
    cfg_path: &str,
) -> Diagnostics {
    let mut d = Diagnostics::default();
    let today = today();
    let horizon = today + time::Duration::days(i64::from(ws.config.guardrails.expiry_warning_days));
    for f in &ws.files {
        let has_errors = load.errors().any(|d| d.file == f.path);
        if !has_errors
            && let Ok(Some(text)) = gitops::read_text(src, &f.path)
            && f.to_canonical_string() != text
        {
            d.push(Diagnostic::warning(
                &f.path,
                0,
                0,
                "not in canonical form; run `blockops fmt`",
            ));
        }
        for e in &f.entries {
            if let Some(exp) = e.expires
                && exp >= today
                && exp <= horizon
            {
                d.push(Diagnostic::warning(
                    &f.path,
                    e.line,
                    0,
                    format!("`{}` expires on {}", e.value, format_date(exp)),
                ));
            }
        }
    }
    d.extend(ws.cross_file_duplicates());
    let eff = ws.effective(today);
    for x in &eff.dropped {
        let sev = if x.why.rule == "expired" {
            Severity::Info
        } else {
            Severity::Warning
        };
        d.push(Diagnostic {
            severity: sev,
            file: x.file.clone(),
            line: x.line,
            col: 0,
            message: format!("`{}` will not be blocked: {}", x.value, x.why),
        });
    }
    let mut targets: Vec<(
        String,
        crate::config::RenderConfig,
        Option<&crate::config::Target>,
    )> = ws
        .config
        .targets
        .iter()
        .map(|t| (t.name.clone(), ws.config.render_for(t), Some(t)))
        .collect();
    if targets.is_empty() {
        targets.push(("default".into(), ws.config.render.clone(), None));
    }
    for (name, rc, t) in targets {
        let desired = match render::desired_with(&rc, &eff, &name, t.and_then(|t| t.vdom.clone())) {
            Ok(x) => x,
            Err(e) => {
                d.push(Diagnostic::error(
                    cfg_path,
                    0,
                    0,
                    format!("target `{name}`: {e:#}"),
                ));
                continue;
            }
        };
        // The built-in templates render every desired state (tests pin them byte for byte to
        // the native renderer, which `render` and `plan` use for them); a repository's own
        // templates are rendered here, and what they render is checked.
        if ws.templates.is_customised() {
            for x in template_check(ws, &desired, &name, t, &rc) {
                d.push(x);
            }
        }
        if let Some(max) = t.and_then(|t| t.max_addresses) {
            let n = desired.addresses.len().max(desired.addresses6.len());
            if n > max {
                d.push(Diagnostic::error(
                    cfg_path,
                    0,
                    0,
                    format!("target `{name}`: {n} address objects exceed max_addresses {max}"),
                ));
            }
        }
    }
    d
}

/// Render a repository's own templates for one target: a template that does not render, or
/// renders lines outside the allow-list or objects blockops could not recognise later
/// (`plan::desired`), is an error traced to the template line.
fn template_check(
    ws: &Workspace,
    desired: &Desired,
    name: &str,
    t: Option<&crate::config::Target>,
    rc: &crate::config::RenderConfig,
) -> Vec<Diagnostic> {
    let shape = Shape::new(name, t.and_then(|t| t.vdom.clone()), rc.clone());
    match desired::template_problems(ws, desired, &shape) {
        Ok(problems) => problems
            .into_iter()
            .map(|p| Diagnostic::error(&p.file, p.line, 0, p.message))
            .collect(),
        Err(e) => vec![Diagnostic::error(
            render::TEMPLATE_DIR,
            0,
            0,
            format!("target `{name}`: template does not render: {e:#}"),
        )],
    }
}
