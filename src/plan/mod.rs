//! Plan files: what was approved is what is applied.
//!
//! A plan records the target, the commit it was rendered from, the hash of the device state
//! it was computed against and the delta script with its sha256 (SPEC guarantee 5). `apply`
//! recomputes the same delta from those inputs before pushing, so a plan cannot be edited
//! into something else.
pub mod delta;
pub mod push;
pub mod validate;

use std::path::Path;

use anyhow::{Context, anyhow, bail};
use git2::{Oid, Repository};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::Date;

use crate::config::{Config, Target};
use crate::error::Refused;
use crate::fortios::device::{self, Console, State};
use crate::fortios::model::{Desired, is_managed_name};
use crate::fortios::ssh::{ConnectOptions, Session};
use crate::gitops::{self, RevSource};
use crate::workspace::Workspace;
use delta::{Counts, DeltaOptions};

/// Version of the plan file format; `apply` refuses other versions.
pub const FORMAT_VERSION: u32 = 1;

/// Where the "current" state of a plan came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Base {
    /// Read from the device.
    Device,
    /// The desired state at another commit (`--offline-base`).
    Offline { commit: String },
}

/// The plan file (JSON). Documented in `docs/plan-file.md`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanFile {
    pub format_version: u32,
    pub target: String,
    pub vdom: Option<String>,
    /// Full commit id the desired state was rendered from.
    pub commit: String,
    /// Branch the commit must be reachable from when applied.
    pub approved_branch: String,
    /// Date used for entry expiry when rendering (`YYYY-MM-DD`).
    pub as_of: String,
    pub base: Base,
    /// sha256 of the canonical managed state the delta was computed from.
    pub device_state_sha256: String,
    /// Number of managed objects in that state.
    pub device_objects: usize,
    pub counts: Counts,
    pub has_changes: bool,
    /// The delta script (empty when nothing changes).
    pub script: String,
    pub script_sha256: String,
    /// RFC 3339 UTC time the plan was made (informational).
    pub created_at: String,
    pub blockops_version: String,
}

impl PlanFile {
    /// Read and parse a plan file (no verification).
    pub fn load(path: &Path) -> anyhow::Result<PlanFile> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let p: PlanFile = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a blockops plan file", path.display()))?;
        if p.format_version != FORMAT_VERSION {
            return Err(Refused::new(format!(
                "{}: plan format version {} is not supported (expected {FORMAT_VERSION})",
                path.display(),
                p.format_version
            ))
            .into());
        }
        Ok(p)
    }

    /// The pretty JSON text written to disk.
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).unwrap_or_default();
        s.push('\n');
        s
    }

    /// Number of script lines.
    pub fn line_count(&self) -> usize {
        self.script.lines().filter(|l| !l.trim().is_empty()).count()
    }

    pub fn as_of_date(&self) -> anyhow::Result<Date> {
        let fmt = time::macros::format_description!("[year]-[month]-[day]");
        Date::parse(&self.as_of, &fmt)
            .map_err(|_| anyhow!("plan has an invalid as_of date `{}`", self.as_of))
    }
}

/// Lower-case hex sha256 of a text.
pub fn sha256_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

/// `YYYY-MM-DD`.
pub fn date_string(d: Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

/// The desired state of `target` at commit `oid`, rendered with the configuration of that
/// commit, and that configuration's `max_line_length` (so the delta text depends only on the
/// commit, the date and the device state).
pub fn desired_at(
    repo: &Repository,
    oid: Oid,
    config_path: &str,
    target: &str,
    today: Date,
) -> anyhow::Result<(Desired, usize)> {
    let ws = load_at(repo, oid, config_path)?;
    desired_in(&ws, &ws.effective(today), target, config_path)
}

/// The repository snapshot at `oid`; load it once and call [`desired_in`] per target.
pub fn load_at(repo: &Repository, oid: Oid, config_path: &str) -> anyhow::Result<Workspace> {
    let src = RevSource::new(repo, oid)?;
    Workspace::load(&src, config_path)
        .map_err(|d| anyhow!("{d}"))
        .with_context(|| format!("loading the repository at {}", gitops::short(oid)))
}

/// Desired state and `max_line_length` of `target` in a loaded snapshot.
pub fn desired_in(
    ws: &Workspace,
    eff: &crate::workspace::Effective<'_>,
    target: &str,
    config_path: &str,
) -> anyhow::Result<(Desired, usize)> {
    let t = ws.config.target(target).ok_or_else(|| {
        anyhow!(
            "target `{target}` is not defined in {config_path} at {}",
            ws.label
        )
    })?;
    let max_line = ws.config.render_for(t).max_line_length;
    Ok((crate::fortios::render::desired(ws, eff, t)?, max_line))
}

/// Script shape for a target (`max_line_length` from the commit's configuration).
pub fn delta_options(max_line_length: usize, t: &Target) -> DeltaOptions {
    DeltaOptions {
        max_line_length,
        vdom: t.vdom.clone(),
        transaction: t.transaction,
    }
}

/// Refuse a delta that removes more blocked indicators than the guardrail allows.
///
/// Counted are the address objects of indicators that the device has and the desired state
/// no longer has, out of the indicator objects on the device. Placeholder members (created by
/// hand before the first apply, or by blockops for an empty list) and groups are not
/// indicators: replacing a placeholder is never a "large change".
pub fn check_removals(
    cfg: &Config,
    current: &crate::fortios::device::State,
    desired: &crate::fortios::model::Desired,
    allow_large: bool,
) -> anyhow::Result<()> {
    let placeholders = [
        crate::fortios::naming::placeholder_name(&desired.prefix, false),
        crate::fortios::naming::placeholder_name(&desired.prefix, true),
    ];
    let want: std::collections::BTreeSet<&str> = desired
        .addresses
        .iter()
        .chain(&desired.addresses6)
        .map(|a| a.name.as_str())
        .collect();
    let on_device: Vec<&String> = current
        .addresses
        .keys()
        .chain(current.addresses6.keys())
        .filter(|n| !placeholders.contains(n))
        .collect();
    let removes = on_device
        .iter()
        .filter(|n| !want.contains(n.as_str()))
        .count();
    let total = on_device.len();
    let limit = cfg.guardrails.max_removals.limit(total);
    if removes > limit && !allow_large {
        return Err(Refused::new(format!(
            "the plan removes {removes} of the {total} blocked indicators on the device, more than \
             guardrails.max_removals allows ({limit}); rerun with --allow-large-change if this is intended"
        ))
        .into());
    }
    Ok(())
}

/// True when `commit` is reachable from the approved branch (local, else `origin/<branch>`).
pub fn approved(repo: &Repository, commit: Oid, branch: &str) -> anyhow::Result<bool> {
    let tip = [
        format!("refs/heads/{branch}"),
        format!("refs/remotes/origin/{branch}"),
    ]
    .iter()
    .find_map(|r| repo.refname_to_id(r).ok())
    .ok_or_else(|| anyhow!("the approved branch `{branch}` does not exist in this repository"))?;
    Ok(tip == commit || repo.graph_descendant_of(tip, commit).unwrap_or(false))
}

/// An open, prepared device session.
pub struct Device {
    pub session: Session,
    pub console: Console,
    pub patterns: Vec<String>,
}

impl Device {
    /// Connect, prepare the console (pager off) and check the VDOM setting.
    pub async fn open(o: &ConnectOptions, t: &Target) -> anyhow::Result<Device> {
        let mut session = Session::connect(o)
            .await
            .with_context(|| format!("target `{}` ({}:{})", t.name, t.host, t.port))?;
        let patterns = t.error_patterns.clone();
        let console = device::prepare(&mut session, &patterns).await?;
        device::check_vdom(&console, t.vdom.as_deref(), &t.name)?;
        Ok(Device {
            session,
            console,
            patterns,
        })
    }

    /// Read the managed state and the backup text.
    pub async fn read(
        &mut self,
        vdom: Option<&str>,
        managed: &(dyn Fn(&str) -> bool + Sync),
    ) -> anyhow::Result<(State, String)> {
        device::read_state(&mut self.session, vdom, managed, &self.patterns).await
    }

    /// Restore the pager, log out; returns the transcript (secrets redacted).
    pub async fn close(mut self) -> String {
        let _ = device::restore(&mut self.session, &self.console, &self.patterns).await;
        self.session.close().await
    }
}

/// Managed-object predicate from a desired state (the configuration it was rendered with).
pub fn managed_from(d: &Desired) -> impl Fn(&str) -> bool + Send + Sync + Clone + 'static {
    let prefix = d.prefix.clone();
    let groups = d.group_names.clone();
    move |n: &str| is_managed_name(&prefix, &groups, n)
}

/// Run futures on a small runtime, at most `jobs` at a time; results in input order.
pub fn run_bounded<T, F>(jobs: usize, futs: Vec<F>) -> anyhow::Result<Vec<T>>
where
    T: Send + 'static,
    F: std::future::Future<Output = T> + Send + 'static,
{
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(async move {
        let sem = std::sync::Arc::new(tokio::sync::Semaphore::new(jobs.max(1)));
        let mut handles = Vec::new();
        for f in futs {
            let sem = sem.clone();
            handles.push(tokio::spawn(async move {
                let _permit = sem.acquire_owned().await;
                f.await
            }));
        }
        let mut out = Vec::new();
        for h in handles {
            out.push(h.await.map_err(|e| anyhow!("a worker task failed: {e}"))?);
        }
        Ok(out)
    })
}

/// Pick targets: `names` (in the given order), or all with `all`; then the `--shard` share.
pub fn select_targets<'c>(
    cfg: &'c Config,
    names: &[String],
    all: bool,
    shard: Option<Shard>,
) -> anyhow::Result<Vec<&'c Target>> {
    let mut out: Vec<&Target> = if all {
        cfg.targets.iter().collect()
    } else if names.is_empty() {
        match cfg.targets.as_slice() {
            [one] => vec![one],
            [] => bail!("no targets are configured"),
            _ => bail!("several targets are configured: name one with --target, or use --all"),
        }
    } else {
        names
            .iter()
            .map(|n| {
                cfg.target(n)
                    .ok_or_else(|| anyhow!("no target named `{n}` in the configuration"))
            })
            .collect::<anyhow::Result<_>>()?
    };
    if let Some(s) = shard {
        out.retain(|t| s.contains(&t.name));
    }
    Ok(out)
}

/// `--shard I/N`: the I-th of N deterministic shares of the targets (by a hash of the name,
/// so adding a target does not move the others).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl Shard {
    pub fn contains(&self, name: &str) -> bool {
        let d = Sha256::digest(name.as_bytes());
        let h = u32::from_be_bytes([d[0], d[1], d[2], d[3]]);
        h % self.count == self.index - 1
    }
}

impl std::str::FromStr for Shard {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (i, n) = s
            .split_once('/')
            .ok_or_else(|| format!("`{s}` is not I/N like 1/4"))?;
        let index: u32 = i
            .trim()
            .parse()
            .map_err(|_| format!("`{s}`: bad shard index"))?;
        let count: u32 = n
            .trim()
            .parse()
            .map_err(|_| format!("`{s}`: bad shard count"))?;
        if count == 0 || index == 0 || index > count {
            return Err(format!("`{s}`: need 1 <= I <= N"));
        }
        Ok(Shard { index, count })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_partition_targets() {
        let names: Vec<String> = (0..50).map(|i| format!("fw{i}")).collect();
        let shards: Vec<Shard> = (1..=3).map(|i| format!("{i}/3").parse().unwrap()).collect();
        for n in &names {
            assert_eq!(shards.iter().filter(|s| s.contains(n)).count(), 1);
        }
        assert!(shards.iter().all(|s| names.iter().any(|n| s.contains(n))));
        assert!("0/3".parse::<Shard>().is_err());
        assert!("4/3".parse::<Shard>().is_err());
    }
}
