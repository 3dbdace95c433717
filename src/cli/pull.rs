//! `blockops pull`: parse the arguments, call [`crate::cybereason::pull`], print the summary.

use anyhow::anyhow;
use serde::Serialize;

use super::{Ctx, Format};
use crate::blocklist::indicator::Indicator;
use crate::blocklist::merge::{Decision, DroppedFinding, Policy};
use crate::config::Dur;
use crate::cybereason::collect::{CollectStats, SkippedMalop};
use crate::cybereason::pull::{Applied, Target, apply, fetch};
use crate::cybereason::{ClientSettings, CollectOptions};
use crate::error::{Outcome, Refused};
use crate::gitops::commit::Committed;

/// Options of `blockops pull`.
#[derive(Debug, clap::Args)]
pub struct PullArgs {
    /// Query window for connections and MalOps (default: `window` in blockops.yaml). Entries
    /// from those sources that are not seen within it are retired.
    #[arg(long)]
    pub since: Option<Dur>,
    /// Print what would change; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Commit the changed file (only when something changed).
    #[arg(long, conflicts_with = "dry_run")]
    pub commit: bool,
    /// Accept removing more than `guardrails.max_removals` entries.
    #[arg(long)]
    pub allow_large_change: bool,
    /// Output format of the summary.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// `pull --format json` output.
#[derive(Serialize)]
struct JsonSummary<'a> {
    schema_version: u32,
    config: &'a str,
    file: &'a str,
    url: &'a str,
    window: String,
    dry_run: bool,
    written: bool,
    commit: Option<String>,
    entries: usize,
    added: Vec<String>,
    removed: Vec<String>,
    changed: Vec<String>,
    dropped: &'a [DroppedFinding],
    skipped_malops: &'a [SkippedMalop],
    warnings: &'a [String],
    stats: &'a CollectStats,
}

/// Run `blockops pull`.
pub fn run(ctx: &Ctx, a: PullArgs) -> anyhow::Result<Outcome> {
    let started = std::time::Instant::now();
    let config = ctx.config_rel();
    let repo = ctx.repo();
    let ws = ctx.load(repo.as_ref(), "WORKTREE")?;
    drop(repo);
    tracing::info!(
        elapsed_ms = started.elapsed().as_millis() as u64,
        "repository loaded"
    );
    let cfg = ws
        .config
        .cybereason
        .clone()
        .ok_or_else(|| anyhow!("{config} has no `cybereason:` section"))?;
    let settings = ClientSettings::from_config(&cfg, ctx.root())
        .map_err(|e| e.context(format!("{config}: cybereason")))?;
    let url = settings.shown_url();
    let password = settings.password.clone();
    let window = a.since.unwrap_or(ws.config.window);
    let to_ms = crate::cybereason::collect::millis_now();
    let from_ms = to_ms - i64::try_from(window.0.as_millis()).unwrap_or(i64::MAX / 2);
    let opts = CollectOptions::from_config(&cfg, &ws.config.sources, from_ms, to_ms);
    let progress =
        crate::progress::Bars::new(ctx.global.quiet || a.format == Format::Json).steps("pull");
    progress.step(&format!("logging in to {url}"));
    let step = |s: &str| progress.step(s);
    let result = fetch(settings, &opts, &step);
    drop(progress);
    tracing::info!(
        elapsed_ms = started.elapsed().as_millis() as u64,
        "collection finished"
    );
    let collected = result.map_err(|e| {
        // The client never formats the password; redact anyway, in depth.
        anyhow!(
            "{}",
            password.redact(&format!("pull from {url} failed, nothing was written: {e}"))
        )
    })?;

    let rel = ws.config.files.pulled.clone();
    let guard = ws.guard();
    let target = Target {
        root: ctx.root(),
        rel: &rel,
        guard: &guard,
        today: crate::blocklist::today(),
        policy: Policy {
            max_removals: ws.config.guardrails.max_removals,
            allow_large_change: a.allow_large_change,
            dry_run: a.dry_run,
        },
        commit: a.commit,
        git: &ws.config.git,
    };
    let loaded = ws.files.iter().find(|f| f.path == rel);
    let applied = apply(&target, &collected, loaded)?;
    tracing::info!(elapsed_ms = started.elapsed().as_millis() as u64, "written");
    let commit = match applied.committed {
        Some(Committed::New(oid)) => Some(oid.to_string()),
        _ => None,
    };
    match a.format {
        Format::Json => print_json(
            &config, &rel, &url, window, &a, &applied, &collected, commit,
        )?,
        Format::Text => print_text(&rel, &url, window, &applied, &collected, commit.as_deref())?,
    }
    if let Decision::TooManyRemovals {
        removed,
        before,
        limit,
    } = applied.decision
    {
        return Err(Refused::new(format!(
            "pull would remove {removed} of {before} entries from {rel}, more than guardrails.max_removals ({limit}); \
             re-run with --allow-large-change if this is intended"
        ))
        .into());
    }
    Ok(Outcome::Ok)
}

fn list(v: &[Indicator]) -> Vec<String> {
    v.iter().map(|i| i.to_string()).collect()
}

#[allow(clippy::too_many_arguments)]
fn print_json(
    config: &str,
    rel: &str,
    url: &str,
    window: Dur,
    a: &PullArgs,
    applied: &Applied,
    collected: &crate::cybereason::Collected,
    commit: Option<String>,
) -> anyhow::Result<()> {
    let m = &applied.merged;
    let s = JsonSummary {
        schema_version: crate::report::JSON_SCHEMA_VERSION,
        config,
        file: rel,
        url,
        window: window.to_string(),
        dry_run: a.dry_run,
        written: applied.written,
        commit,
        entries: m.file.entries.len(),
        added: list(&m.added),
        removed: list(&m.removed),
        changed: list(&m.changed),
        dropped: &m.dropped,
        skipped_malops: &collected.skipped_malops,
        warnings: &collected.warnings,
        stats: &collected.stats,
    };
    super::print(&format!("{}\n", serde_json::to_string_pretty(&s)?))
}

fn print_text(
    rel: &str,
    url: &str,
    window: Dur,
    applied: &Applied,
    collected: &crate::cybereason::Collected,
    commit: Option<&str>,
) -> anyhow::Result<()> {
    let m = &applied.merged;
    let st = &collected.stats;
    let skipped = if st.malops_skipped + st.malops_epp_skipped > 0 {
        format!(
            " ({} closed or not relevant, {} non-EDR left out)",
            st.malops_skipped, st.malops_epp_skipped
        )
    } else {
        String::new()
    };
    let mut t = format!(
        "pulled from {url} (window {window}): {} reputation rows ({} file hashes ignored), {} connections, {} domains, {} MalOps{skipped}\n",
        st.reputation_rows, st.file_hashes_ignored, st.connections, st.domains, st.malops
    );
    for v in &m.added {
        let srcs = m
            .file
            .get(v)
            .map(|e| {
                e.sources
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default();
        t.push_str(&format!("+ {v} ({srcs})\n"));
    }
    for v in &m.removed {
        t.push_str(&format!("- {v}\n"));
    }
    for v in &m.changed {
        t.push_str(&format!("~ {v}\n"));
    }
    for d in &m.dropped {
        t.push_str(&format!(
            "dropped {} ({}): {}: {}\n",
            d.value,
            d.source.as_str(),
            d.rule,
            d.detail
        ));
    }
    let what = match (&applied.decision, commit) {
        (Decision::Unchanged, _) => "unchanged".to_string(),
        (Decision::DryRun, _) => "dry run, nothing written".to_string(),
        (Decision::TooManyRemovals { .. }, _) => "refused, nothing written".to_string(),
        (Decision::Write, Some(c)) => format!("written and committed {}", &c[..c.len().min(12)]),
        (Decision::Write, None) => "written".to_string(),
    };
    t.push_str(&format!(
        "{rel}: {} entries; {} added, {} removed, {} changed, {} dropped; {what}\n",
        m.file.entries.len(),
        m.added.len(),
        m.removed.len(),
        m.changed.len(),
        m.dropped.len()
    ));
    super::print(&t)
}
