//! `blockops pull`: Cybereason → the pulled blocklist file, with provenance, guardrails,
//! stateless retention, no churn, a large-removal refusal and an optional git commit.
//!
//! Retention is stateless: the new file is exactly what the enabled sources report now
//! (connections and MalOps within the window, domains and reputation rows while listed);
//! `first_seen`, `expires` and `comment` of entries that stay are kept. A failed or partial
//! pull writes nothing.
use std::collections::{BTreeMap, BTreeSet};
use std::io::IsTerminal;
use std::path::Path;

use anyhow::{Context as _, anyhow};
use serde::Serialize;
use time::Date;

use super::{Ctx, Format};
use crate::blocklist::guard::Guard;
use crate::blocklist::indicator::{Indicator, visible};
use crate::blocklist::{BlocklistFile, Entry, MAX_MALOPS, Source};
use crate::config::{Dur, GitConfig};
use crate::cybereason::{
    Client, ClientSettings, CollectOptions, Finding, Origin, collect::CollectStats,
};
use crate::error::{Outcome, Refused};

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

/// A finding that did not make it into the file.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct DroppedFinding {
    pub value: String,
    /// `invalid` or a guardrail rule id.
    pub rule: String,
    pub detail: String,
    pub source: Origin,
}

/// The result of merging a pull into the existing file.
#[derive(Debug, Clone)]
pub struct Merged {
    pub file: BlocklistFile,
    pub added: Vec<Indicator>,
    pub removed: Vec<Indicator>,
    pub changed: Vec<Indicator>,
    pub dropped: Vec<DroppedFinding>,
}

fn source_of(o: Origin) -> Source {
    match o {
        Origin::Reputation => Source::Reputation,
        Origin::Connection => Source::Connection,
        Origin::Domain => Source::Domain,
        Origin::Malop => Source::Malop,
    }
}

fn valid_malop(g: &str) -> bool {
    !g.is_empty() && g.len() <= 64 && crate::config::is_word(g, ".-_")
}

/// Merge findings into `existing`: validate, guardrail, keep provenance dates, retire the rest.
pub fn merge(existing: &BlocklistFile, findings: &[Finding], guard: &Guard, today: Date) -> Merged {
    let mut acc: BTreeMap<Indicator, (BTreeSet<Source>, BTreeSet<String>)> = BTreeMap::new();
    let mut dropped = BTreeSet::new();
    let mut checked: BTreeMap<String, Option<Indicator>> = BTreeMap::new();
    for f in findings {
        let ind = match checked.get(&f.raw) {
            Some(v) => v.clone(),
            None => {
                let v = match Indicator::parse(&f.raw) {
                    Err(e) => {
                        dropped.insert(DroppedFinding {
                            value: visible(&f.raw),
                            rule: "invalid".into(),
                            detail: e.reason,
                            source: f.origin,
                        });
                        None
                    }
                    Ok(ind) => match guard.check(&ind) {
                        Err(d) => {
                            dropped.insert(DroppedFinding {
                                value: ind.to_string(),
                                rule: d.rule.into(),
                                detail: d.detail,
                                source: f.origin,
                            });
                            None
                        }
                        Ok(()) => Some(ind),
                    },
                };
                checked.insert(f.raw.clone(), v.clone());
                v
            }
        };
        let Some(ind) = ind else { continue };
        let slot = acc.entry(ind).or_default();
        slot.0.insert(source_of(f.origin));
        slot.1
            .extend(f.malops.iter().filter(|g| valid_malop(g)).cloned());
    }
    let mut out = BlocklistFile::empty(&existing.path);
    let mut added = Vec::new();
    let mut changed = Vec::new();
    for (value, (sources, malops)) in acc {
        let old = existing.get(&value);
        let entry = Entry {
            sources,
            malops: malops.into_iter().take(MAX_MALOPS).collect(),
            first_seen: old.and_then(|o| o.first_seen).or(Some(today)),
            expires: old.and_then(|o| o.expires),
            comment: old.and_then(|o| o.comment.clone()),
            line: 0,
            value: value.clone(),
        };
        match old {
            None => added.push(value),
            Some(o) if !o.same_content(&entry) => changed.push(value),
            Some(_) => {}
        }
        out.entries.push(entry);
    }
    out.sort();
    let removed: Vec<Indicator> = existing
        .entries
        .iter()
        .filter(|e| out.get(&e.value).is_none())
        .map(|e| e.value.clone())
        .collect();
    Merged {
        file: out,
        added,
        removed,
        changed,
        dropped: dropped.into_iter().collect(),
    }
}

/// Commit `rel` (already written under `root`) with only that path changed relative to HEAD.
pub fn commit_file(
    root: &Path,
    rel: &str,
    message: &str,
    git: &GitConfig,
) -> anyhow::Result<git2::Oid> {
    let repo = git2::Repository::discover(root)
        .with_context(|| format!("{} is not in a git repository", root.display()))?;
    let workdir = repo
        .workdir()
        .ok_or_else(|| anyhow!("the git repository is bare"))?;
    let abs = root.join(rel);
    let abs = abs
        .canonicalize()
        .with_context(|| abs.display().to_string())?;
    let wd = workdir
        .canonicalize()
        .with_context(|| workdir.display().to_string())?;
    let in_repo = abs
        .strip_prefix(&wd)
        .with_context(|| format!("{} is outside the repository", abs.display()))?;
    let path_str = in_repo.to_string_lossy().replace('\\', "/");
    let bytes = std::fs::read(&abs).with_context(|| abs.display().to_string())?;
    let blob = repo.blob(&bytes)?;
    let parent = match repo.head() {
        Ok(h) => Some(h.peel_to_commit().context("HEAD is not a commit")?),
        Err(_) => None,
    };
    let mut idx = git2::Index::new()?;
    if let Some(p) = &parent {
        idx.read_tree(&p.tree()?)?;
    }
    idx.add(&git2::IndexEntry {
        ctime: git2::IndexTime::new(0, 0),
        mtime: git2::IndexTime::new(0, 0),
        dev: 0,
        ino: 0,
        mode: 0o100644,
        uid: 0,
        gid: 0,
        file_size: u32::try_from(bytes.len()).unwrap_or(u32::MAX),
        id: blob,
        flags: 0,
        flags_extended: 0,
        path: path_str.clone().into_bytes(),
    })?;
    let tree = repo.find_tree(idx.write_tree_to(&repo)?)?;
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
    let name = git
        .author_name
        .clone()
        .or_else(|| env("GIT_AUTHOR_NAME"))
        .unwrap_or_else(|| "blockops".into());
    let email = git
        .author_email
        .clone()
        .or_else(|| env("GIT_AUTHOR_EMAIL"))
        .unwrap_or_else(|| "blockops@localhost".into());
    let author = git2::Signature::now(&name, &email)?;
    let committer = match (env("GIT_COMMITTER_NAME"), env("GIT_COMMITTER_EMAIL")) {
        (Some(n), Some(e)) => git2::Signature::now(&n, &e)?,
        _ => author.clone(),
    };
    let parents: Vec<&git2::Commit> = parent.iter().collect();
    let oid = repo.commit(Some("HEAD"), &author, &committer, message, &tree, &parents)?;
    // Keep the real index in step so `git status` shows a clean file.
    let mut real = repo.index()?;
    real.add_path(Path::new(&path_str))?;
    real.write()?;
    Ok(oid)
}

fn commit_message(m: &Merged, rel: &str) -> String {
    let mut s = format!(
        "pull: {} added, {} removed, {} changed in {rel}\n\nFrom Cybereason by `blockops pull`.\n",
        m.added.len(),
        m.removed.len(),
        m.changed.len()
    );
    for (title, sign, list) in [
        ("Added", '+', &m.added),
        ("Removed", '-', &m.removed),
        ("Changed", '~', &m.changed),
    ] {
        if list.is_empty() {
            continue;
        }
        s.push_str(&format!("\n{title}:\n"));
        for v in list.iter().take(50) {
            s.push_str(&format!("{sign} {v}\n"));
        }
        if list.len() > 50 {
            s.push_str(&format!("… and {} more\n", list.len() - 50));
        }
    }
    s
}

/// `pull --format json` output.
#[derive(Serialize)]
struct JsonSummary<'a> {
    schema_version: u32,
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
    stats: &'a CollectStats,
}

/// Now in epoch milliseconds.
pub(crate) fn millis_now() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

/// Progress: a spinner on a terminal; otherwise nothing in the log unless `-v` (CI logs).
struct Progress {
    bar: Option<indicatif::ProgressBar>,
}

impl Progress {
    fn new(quiet: bool) -> Progress {
        let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
            let b = indicatif::ProgressBar::new_spinner();
            b.enable_steady_tick(std::time::Duration::from_millis(120));
            b
        });
        Progress { bar }
    }
    fn step(&self, msg: &str) {
        match &self.bar {
            Some(b) => b.set_message(format!("pull: {msg}")),
            None => tracing::info!("pull: {msg}"),
        }
    }
    fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

/// Run `blockops pull`.
pub fn run(ctx: &Ctx, a: PullArgs) -> anyhow::Result<Outcome> {
    let started = std::time::Instant::now();
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
        .ok_or_else(|| anyhow!("blockops.yaml has no `cybereason:` section"))?;
    let settings = ClientSettings::from_config(&cfg, ctx.root())?;
    let password = settings.password.clone();
    let url = settings.url.clone();
    let window = a.since.unwrap_or(ws.config.window);
    let to_ms = millis_now();
    let from_ms = to_ms - i64::try_from(window.0.as_millis()).unwrap_or(i64::MAX / 2);
    let src = &ws.config.sources;
    let opts = CollectOptions {
        reputation: src.reputation,
        connections: src.connections,
        domains: src.domains,
        malops: src.malops,
        from_ms,
        to_ms,
        result_limit: u64::from(cfg.result_limit.max(1)),
        connection_facet: cfg.connection_facet.clone(),
        malicious_classes: cfg.malicious_classes.clone(),
    };
    let progress = Progress::new(ctx.global.quiet || a.format == Format::Json);
    progress.step(&format!("logging in to {url}"));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let result = rt.block_on(async {
        let client = Client::new(settings)?;
        client.login().await?;
        let step = |s: &str| progress.step(s);
        let r = crate::cybereason::collect(&client, &opts, &step).await;
        client.logout().await;
        r
    });
    progress.finish();
    tracing::info!(
        elapsed_ms = started.elapsed().as_millis() as u64,
        "collection finished"
    );
    let collected = result.map_err(|e| {
        anyhow!(
            "{}",
            password.redact(&format!("pull from {url} failed, nothing was written: {e}"))
        )
    })?;

    let rel = ws.config.files.pulled.clone();
    let existing = ws
        .files
        .iter()
        .find(|f| f.path == rel)
        .cloned()
        .unwrap_or_else(|| BlocklistFile::empty(&rel));
    let today = crate::blocklist::today();
    let merged = merge(&existing, &collected.findings, &ws.guard(), today);
    let new_text = merged.file.to_canonical_string();
    tracing::info!(elapsed_ms = started.elapsed().as_millis() as u64, "merged");
    let on_disk = std::fs::read(ctx.root().join(&rel)).ok();
    let unchanged = on_disk.as_deref() == Some(new_text.as_bytes())
        || (on_disk.is_none() && merged.file.entries.is_empty());
    let limit = ws
        .config
        .guardrails
        .max_removals
        .limit(existing.entries.len());
    let too_many = merged.removed.len() > limit && !a.allow_large_change;

    let mut written = false;
    let mut commit = None;
    if !unchanged && !a.dry_run && !too_many {
        crate::atomic::write(&ctx.root().join(&rel), new_text.as_bytes())
            .with_context(|| format!("writing {rel}"))?;
        written = true;
        if a.commit {
            let oid = commit_file(
                ctx.root(),
                &rel,
                &commit_message(&merged, &rel),
                &ws.config.git,
            )
            .context("committing the pulled file")?;
            commit = Some(oid.to_string());
        }
    }

    tracing::info!(elapsed_ms = started.elapsed().as_millis() as u64, "written");
    let list = |v: &[Indicator]| v.iter().map(|i| i.to_string()).collect::<Vec<_>>();
    match a.format {
        Format::Json => {
            let s = JsonSummary {
                schema_version: 1,
                file: &rel,
                url: &url,
                window: window.to_string(),
                dry_run: a.dry_run,
                written,
                commit: commit.clone(),
                entries: merged.file.entries.len(),
                added: list(&merged.added),
                removed: list(&merged.removed),
                changed: list(&merged.changed),
                dropped: &merged.dropped,
                stats: &collected.stats,
            };
            super::print(&format!("{}\n", serde_json::to_string_pretty(&s)?))?;
        }
        Format::Text => {
            let st = &collected.stats;
            let mut t = format!(
                "pulled from {url} (window {window}): {} reputation rows ({} file hashes ignored), {} connections, {} domains, {} MalOps\n",
                st.reputation_rows, st.file_hashes_ignored, st.connections, st.domains, st.malops
            );
            for v in &merged.added {
                let e = merged.file.get(v);
                let srcs = e
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
            for v in &merged.removed {
                t.push_str(&format!("- {v}\n"));
            }
            for v in &merged.changed {
                t.push_str(&format!("~ {v}\n"));
            }
            for d in &merged.dropped {
                t.push_str(&format!(
                    "dropped {} ({}): {}: {}\n",
                    d.value,
                    d.source_str(),
                    d.rule,
                    d.detail
                ));
            }
            let what = if unchanged {
                "unchanged".to_string()
            } else if a.dry_run {
                "dry run, nothing written".to_string()
            } else if too_many {
                "refused, nothing written".to_string()
            } else {
                match &commit {
                    Some(c) => format!("written and committed {}", &c[..c.len().min(12)]),
                    None => "written".to_string(),
                }
            };
            t.push_str(&format!(
                "{rel}: {} entries; {} added, {} removed, {} changed, {} dropped; {what}\n",
                merged.file.entries.len(),
                merged.added.len(),
                merged.removed.len(),
                merged.changed.len(),
                merged.dropped.len()
            ));
            super::print(&t)?;
        }
    }
    if too_many {
        return Err(Refused::new(format!(
            "pull would remove {} of {} entries from {rel}, more than guardrails.max_removals ({}); \
             re-run with --allow-large-change if this is intended",
            merged.removed.len(),
            existing.entries.len(),
            limit
        ))
        .into());
    }
    Ok(Outcome::Ok)
}

impl DroppedFinding {
    fn source_str(&self) -> &'static str {
        source_of(self.source).as_str()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blocklist::allowlist::Allowlist;
    use crate::config::Guardrails;

    fn finding(raw: &str, origin: Origin, malops: &[&str]) -> Finding {
        Finding {
            raw: raw.into(),
            origin,
            malops: malops.iter().map(|s| s.to_string()).collect(),
            note: String::new(),
        }
    }

    #[test]
    fn merge_keeps_first_seen_and_retires_the_rest() {
        let existing = BlocklistFile::parse(
            "entries:\n- value: 203.0.113.9\n  sources: [connection]\n  first_seen: 2026-01-01\n  comment: keep me\n\
             - value: 203.0.113.10\n  sources: [reputation]\n  first_seen: 2026-01-02\n",
            "p.yaml",
        )
        .unwrap();
        let guard = Guard::new(
            &Guardrails::default(),
            &Allowlist {
                path: "a".into(),
                rules: vec![],
            },
        );
        let today = crate::blocklist::parse_date("2026-11-27").unwrap();
        let m = merge(
            &existing,
            &[
                finding("203.0.113.9", Origin::Connection, &["M1"]),
                finding("203.0.113.9", Origin::Malop, &["M1", "bad guid!"]),
                finding("Evil.Example", Origin::Domain, &[]),
                finding("10.1.2.3", Origin::Connection, &[]),
                finding("not an indicator", Origin::Reputation, &[]),
            ],
            &guard,
            today,
        );
        assert_eq!(m.file.entries.len(), 2);
        let e = m
            .file
            .get(&Indicator::parse("203.0.113.9").unwrap())
            .unwrap();
        assert_eq!(
            e.first_seen,
            crate::blocklist::parse_date("2026-01-01").ok()
        );
        assert_eq!(e.comment.as_deref(), Some("keep me"));
        assert_eq!(e.malops.iter().collect::<Vec<_>>(), ["M1"]);
        assert_eq!(e.sources.len(), 2);
        let d = m
            .file
            .get(&Indicator::parse("evil.example").unwrap())
            .unwrap();
        assert_eq!(d.first_seen, Some(today));
        assert_eq!(m.removed, vec![Indicator::parse("203.0.113.10").unwrap()]);
        assert_eq!(m.added.len(), 1);
        assert_eq!(m.changed.len(), 1);
        let rules: Vec<&str> = m.dropped.iter().map(|d| d.rule.as_str()).collect();
        assert!(
            rules.contains(&"private") && rules.contains(&"invalid"),
            "{rules:?}"
        );
    }
}
