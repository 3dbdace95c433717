//! `blockops plan`: desired state at a revision vs. the device (or another revision) → the
//! minimal delta script, written to a plan file for review and `apply`.
use std::path::{Path, PathBuf};

use anyhow::anyhow;
use serde::Serialize;

use crate::cli::{Format, Global};
use crate::config::{Config, Target};
use crate::error::{Outcome, Refused, is_refusal, render_chain};
use crate::fortios::device::State;
use crate::fortios::ssh::ConnectOptions;
use crate::gitops;
use crate::plan::{self, Base, Device, PlanFile, Shard, delta};

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

/// Load the work-tree configuration.
pub fn load_config(g: &Global) -> anyhow::Result<Config> {
    let src = gitops::WorktreeSource {
        root: g.repo.clone(),
    };
    crate::workspace::load_config(&src, &config_rel(g)).map_err(|d| anyhow!("{d}"))
}

/// The configuration path as used inside the repository.
pub fn config_rel(g: &Global) -> String {
    g.config.to_string_lossy().replace('\\', "/")
}

/// One row of a per-target result table (also an element of `targets` in the JSON output).
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub target: String,
    /// `changes`, `no changes`, `refused`, `error` (plan); `applied`, `dry run`, `no changes`,
    /// `refused`, `failed`, `error` (apply).
    pub result: String,
    pub counts: Option<delta::Counts>,
    /// Non-empty script lines of the plan.
    pub lines: usize,
    /// The plan file written (plan) or read (apply).
    pub plan_file: Option<String>,
    pub detail: String,
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

/// Version of the `--format json` documents of `plan` and `apply`.
pub const JSON_SCHEMA_VERSION: u32 = 1;

/// Print the result table (only when several targets were involved).
pub fn print_table(rows: &[Row]) {
    let w = rows
        .iter()
        .map(|r| r.target.len())
        .max()
        .unwrap_or(6)
        .max(6);
    println!(
        "{:w$}  {:10}  {:>6}  {:>6}  {:>6}  {:>6}  DETAIL",
        "TARGET", "RESULT", "ADD", "REMOVE", "MODIFY", "LINES"
    );
    for r in rows {
        let (a, d, m) = r
            .counts
            .map_or((String::new(), String::new(), String::new()), |c| {
                (
                    c.adds.to_string(),
                    c.removes.to_string(),
                    c.modifies.to_string(),
                )
            });
        println!(
            "{:w$}  {:10}  {a:>6}  {d:>6}  {m:>6}  {:>6}  {}",
            r.target, r.result, r.lines, r.detail
        );
    }
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

fn out_path(out: &Path, target: &str, several: bool) -> anyhow::Result<PathBuf> {
    let is_file = out.extension().is_some_and(|e| e == "json");
    if is_file && several {
        anyhow::bail!(
            "--out {} names one file but several targets are planned; give a directory",
            out.display()
        );
    }
    Ok(if is_file {
        out.to_path_buf()
    } else {
        out.join(format!("{target}.plan.json"))
    })
}

/// `blockops plan`.
pub fn run(g: &Global, a: PlanArgs) -> anyhow::Result<Outcome> {
    let cfg = load_config(g)?;
    let cfg_rel = config_rel(g);
    let repo = gitops::open(&g.repo)?;
    let oid = gitops::resolve(&repo, &a.rev)?;
    let base_oid = a
        .offline_base
        .as_deref()
        .map(|r| gitops::resolve(&repo, r))
        .transpose()?;
    let today = crate::blocklist::today();
    let targets: Vec<Target> = plan::select_targets(&cfg, &a.targets, a.all, a.shard)?
        .into_iter()
        .cloned()
        .collect();
    let json = a.format == Format::Json;
    let quiet = g.quiet || json;
    if targets.is_empty() {
        if json {
            print_plan_json(oid.to_string(), base_oid, false, &[])?;
        } else {
            println!("no targets in this shard");
        }
        return Ok(Outcome::Ok);
    }
    let several = targets.len() > 1;

    // Desired states first (git2 is not thread-safe), then the devices concurrently.
    // Each revision is loaded and evaluated once, however many targets there are.
    let head_ws = plan::load_at(&repo, oid, &cfg_rel);
    let head = head_ws.as_ref().map(|ws| (ws, ws.effective(today)));
    let base_ws = base_oid.map(|b| plan::load_at(&repo, b, &cfg_rel));
    let base = base_ws
        .as_ref()
        .map(|r| r.as_ref().map(|ws| (ws, ws.effective(today))));
    let mut prepared = Vec::new();
    let mut errors: Vec<(String, anyhow::Error)> = Vec::new();
    for t in &targets {
        let r = (|| {
            let (desired, max_line) = match &head {
                Ok((ws, eff)) => plan::desired_in(ws, eff, &t.name, &cfg_rel)?,
                Err(e) => return Err(anyhow!("{e:#}")),
            };
            let base = match &base {
                Some(Ok((ws, eff))) => Some(State::from_desired(
                    &plan::desired_in(ws, eff, &t.name, &cfg_rel)?.0,
                )),
                Some(Err(e)) => return Err(anyhow!("{e:#}")),
                None => None,
            };
            // Offline plans never touch the device, so they need no credentials.
            let opts = match base {
                Some(_) => None,
                None => Some(ConnectOptions::for_target(
                    t,
                    &g.repo,
                    a.accept_new_host_key,
                )?),
            };
            anyhow::Ok((desired, max_line, base, opts))
        })();
        match r {
            Ok(p) => prepared.push((t.clone(), p)),
            Err(e) => errors.push((t.name.clone(), e)),
        }
    }
    let bars = progress_bars(g);
    let futs: Vec<_> = prepared
        .into_iter()
        .map(|(t, (desired, max_line, base, opts))| {
            let bars = bars.clone();
            async move {
                let current = match (base, opts) {
                    (Some(b), _) => Ok((b, None)),
                    (None, Some(opts)) => read_device(&opts, &t, &desired, bars.as_ref()).await,
                    (None, None) => Err(anyhow!("no connection settings")),
                };
                (t, desired, max_line, current)
            }
        })
        .collect();
    let results = plan::run_bounded(a.jobs as usize, futs)?;

    let mut rows = Vec::new();
    let mut any_changes = false;
    for (t, desired, max_line, current) in results {
        let r = (|| {
            let (current, notice) = current?;
            if let Some(n) = notice
                && !g.quiet
            {
                eprintln!("note: {n}");
            }
            let d = delta::compute(&current, &desired, &plan::delta_options(max_line, &t));
            plan::check_removals(&cfg, &current, &desired, a.allow_large_change)?;
            let pf = PlanFile {
                format_version: plan::FORMAT_VERSION,
                target: t.name.clone(),
                vdom: t.vdom.clone(),
                commit: oid.to_string(),
                approved_branch: t.approved_branch.clone(),
                as_of: plan::date_string(today),
                base: match base_oid {
                    Some(b) => Base::Offline {
                        commit: b.to_string(),
                    },
                    None => Base::Device,
                },
                device_state_sha256: current.sha256(),
                device_objects: current.len(),
                counts: d.counts,
                has_changes: !d.script.is_empty(),
                script_sha256: plan::sha256_hex(&d.script),
                script: d.script,
                created_at: now_rfc3339(),
                blockops_version: env!("CARGO_PKG_VERSION").to_string(),
            };
            let path = out_path(&a.out, &t.name, several)?;
            crate::atomic::write(&path, pf.to_json().as_bytes())?;
            anyhow::Ok((pf, path))
        })();
        match r {
            Ok((pf, path)) => {
                any_changes |= pf.has_changes;
                if !quiet {
                    report(&pf, &path, g.verbose > 0, several);
                }
                rows.push(Row {
                    target: pf.target.clone(),
                    result: if pf.has_changes {
                        "changes"
                    } else {
                        "no changes"
                    }
                    .into(),
                    counts: Some(pf.counts),
                    lines: pf.line_count(),
                    plan_file: Some(path.display().to_string()),
                    detail: path.display().to_string(),
                });
            }
            Err(e) => {
                rows.push(Row {
                    target: t.name.clone(),
                    result: if is_refusal(&e) { "refused" } else { "error" }.into(),
                    counts: None,
                    lines: 0,
                    plan_file: None,
                    detail: render_chain(&e),
                });
                errors.push((t.name.clone(), e));
            }
        }
    }
    // Errors of targets that failed before contacting the device come first in `errors` but
    // have no row yet.
    for (name, e) in &errors {
        if !rows.iter().any(|r| &r.target == name) {
            rows.push(Row {
                target: name.clone(),
                result: if is_refusal(e) { "refused" } else { "error" }.into(),
                counts: None,
                lines: 0,
                plan_file: None,
                detail: render_chain(e),
            });
        }
    }
    rows.sort_by_key(|r| targets.iter().position(|t| t.name == r.target));
    if json {
        print_plan_json(oid.to_string(), base_oid, any_changes, &rows)?;
    } else if several && !g.quiet {
        print_table(&rows);
    }
    combine(errors, "plan")?;
    Ok(if any_changes && a.detailed_exitcode {
        Outcome::Changes
    } else {
        Outcome::Ok
    })
}

fn print_plan_json(
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
        ok: rows
            .iter()
            .all(|r| r.result == "changes" || r.result == "no changes"),
        targets: rows,
    };
    crate::cli::print(&(serde_json::to_string_pretty(&r)? + "\n"))
}

/// Progress bars on stderr, only for a person watching: never in CI logs, never on stdout.
pub fn progress_bars(g: &Global) -> Option<indicatif::MultiProgress> {
    use std::io::IsTerminal;
    (!g.quiet && std::io::stderr().is_terminal()).then(|| {
        indicatif::MultiProgress::with_draw_target(indicatif::ProgressDrawTarget::stderr())
    })
}

/// Progress of one device on a terminal: a spinner while reading, a line-count bar while
/// pushing. Does nothing without `bars` (not a terminal, `--quiet`).
pub struct DeviceProgress(Option<indicatif::ProgressBar>);

impl DeviceProgress {
    pub fn new(bars: Option<&indicatif::MultiProgress>, target: &str) -> DeviceProgress {
        DeviceProgress(bars.map(|m| {
            let b = m.add(indicatif::ProgressBar::new_spinner());
            b.set_prefix(target.to_string());
            b
        }))
    }

    pub fn phase(&self, msg: &str) {
        if let Some(b) = &self.0 {
            if let Ok(st) = indicatif::ProgressStyle::with_template("{prefix} {spinner} {msg}") {
                b.set_style(st);
            }
            b.set_message(msg.to_string());
            b.enable_steady_tick(std::time::Duration::from_millis(120));
        }
    }

    pub fn lines(&self, total: usize) {
        if let Some(b) = &self.0 {
            b.disable_steady_tick();
            if let Ok(st) = indicatif::ProgressStyle::with_template(
                "{prefix} [{bar:30}] {pos}/{len} lines ({eta} left)",
            ) {
                b.set_style(st.progress_chars("=> "));
            }
            b.set_length(total as u64);
            b.set_position(0);
        }
    }

    pub fn set(&self, done: usize) {
        if let Some(b) = &self.0 {
            b.set_position(done as u64);
        }
    }
}

impl Drop for DeviceProgress {
    fn drop(&mut self) {
        if let Some(b) = &self.0 {
            b.finish_and_clear();
        }
    }
}

async fn read_device(
    o: &ConnectOptions,
    t: &Target,
    desired: &crate::fortios::model::Desired,
    bars: Option<&indicatif::MultiProgress>,
) -> anyhow::Result<(State, Option<String>)> {
    let progress = DeviceProgress::new(bars, &t.name);
    progress.phase("connecting");
    let mut dev = Device::open(o, t).await?;
    progress.phase("reading the managed objects");
    let managed = plan::managed_from(desired);
    let r = dev.read(t.vdom.as_deref(), &managed).await;
    let notice = dev.session.notice.take();
    dev.close().await;
    let (state, _backup) = r?;
    Ok((state, notice))
}

fn report(pf: &PlanFile, path: &Path, verbose: bool, several: bool) {
    let c = pf.counts;
    if !pf.has_changes {
        println!(
            "{}: no changes ({} managed objects up to date)",
            pf.target, pf.device_objects
        );
    } else {
        println!(
            "{}: {} to add, {} to remove, {} to modify — {} lines",
            pf.target,
            c.adds,
            c.removes,
            c.modifies,
            pf.line_count()
        );
        if verbose || (!several && pf.line_count() <= 200) {
            print!("{}", pf.script);
        }
    }
    println!("plan written to {}", path.display());
}

/// Current UTC time, RFC 3339.
pub fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}
