//! Plans: what was approved is what is applied (SPEC guarantee 5).
//!
//! A plan file records the target, the commit it was rendered from, the hash of the device
//! state it was computed against and the delta script with its sha256. The safety chain lives
//! here, not in the command line: [`make`] computes plans, [`verify`] checks a plan file
//! offline (hash, approved and current commit, allowed commands), [`apply`] runs the session
//! (lock, stale check, recomputation, backup, push, read-back).
pub mod apply;
pub mod delta;
pub mod desired;
pub mod device;
pub mod lock;
pub mod make;
pub mod push;
pub mod targets;
pub mod validate;
pub mod verify;

use std::path::Path;

use anyhow::{Context, anyhow};
use git2::{Oid, Repository};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::Date;

use crate::config::Config;
use crate::error::Refused;
use crate::fortios::capacity::{self, Holdings};
use crate::fortios::fields::Table;
use crate::fortios::model::{Other, State};
use crate::fortios::probe::{Limits, Scope};
use delta::Counts;
use desired::Skipped;

pub use targets::{Shard, run_bounded, select_targets};

/// Version of the plan file format; `apply` refuses other versions. 2: the device state hash
/// covers every allow-listed field and the look-alikes left alone; `left_alone`, `skipped`.
/// 3: `scope` — the session scope the script is written for (a VDOM-scoped administrator's
/// script has no `config vdom` wrapper).
pub const FORMAT_VERSION: u32 = 3;

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
    /// The session scope the script was written for; `apply` refuses a session of another.
    pub scope: Scope,
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
    /// Objects on the device whose names fit blockops' naming but that it leaves alone
    /// (informational; `apply` reads the device again).
    #[serde(default)]
    pub left_alone: Vec<Other>,
    /// Desired objects not created because the device holds the name for someone else.
    #[serde(default)]
    pub skipped: Vec<Skipped>,
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

/// Refuse a delta that removes more blocked indicators than the guardrail allows.
///
/// Counted are the address objects of indicators that the device has and the desired state
/// no longer has, out of the indicator objects on the device. Placeholder members (created by
/// hand before the first apply, or by blockops for an empty list) and groups are not
/// indicators: replacing a placeholder is never a "large change".
pub fn check_removals(
    cfg: &Config,
    prefix: &str,
    current: &State,
    desired: &State,
    allow_large: bool,
) -> anyhow::Result<()> {
    let placeholders = [
        crate::fortios::naming::placeholder_name(prefix, false),
        crate::fortios::naming::placeholder_name(prefix, true),
    ];
    let mut total = 0;
    let mut removes = 0;
    for t in [Table::Address, Table::Address6] {
        for name in current.table(t).keys() {
            if placeholders.contains(name) {
                continue;
            }
            total += 1;
            if !desired.table(t).contains_key(name) {
                removes += 1;
            }
        }
    }
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

/// Refuse a script that would overflow a table or a group of the device half-way (issue #9
/// item 4): every limit the device states, plus `targets[].max_addresses` and
/// `render.max_group_members` (see `fortios::capacity`).
pub fn check_capacity(
    target: &str,
    script: &str,
    have: &Holdings,
    limits: &Limits,
    conf: capacity::Configured,
    scope: &Scope,
) -> anyhow::Result<()> {
    let over = capacity::check(&capacity::usage(script, have), limits, conf, scope);
    if over.is_empty() {
        return Ok(());
    }
    let list: Vec<String> = over.iter().map(ToString::to_string).collect();
    Err(Refused::new(format!(
        "target `{target}`: the change does not fit the device, and a table that fills up half-way \
         leaves a partial change; nothing was sent:\n  {}\nRemove indicators, raise the limit, or publish \
         large lists as an external threat feed (`blockops render --format feed`, README \"Lists larger \
         than the device\")",
        list.join("\n  ")
    ))
    .into())
}

/// The tip of the approved branch (local, else `origin/<branch>`).
pub fn branch_tip(repo: &Repository, branch: &str) -> anyhow::Result<Oid> {
    [
        format!("refs/heads/{branch}"),
        format!("refs/remotes/origin/{branch}"),
    ]
    .iter()
    .find_map(|r| repo.refname_to_id(r).ok())
    .ok_or_else(|| anyhow!("the approved branch `{branch}` does not exist in this repository"))
}

/// True when `commit` is reachable from the approved branch.
pub fn approved(repo: &Repository, commit: Oid, branch: &str) -> anyhow::Result<bool> {
    let tip = branch_tip(repo, branch)?;
    Ok(tip == commit || repo.graph_descendant_of(tip, commit).unwrap_or(false))
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
