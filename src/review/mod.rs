//! The reviewer's view of a change: what a pull request does to the indicators (per file and
//! per target, with the rendered script diff) **and** to the policy that decides what gets
//! blocked, where and how (configuration, allowlist, templates, blocklist files), each policy
//! change classified as weakening protection or not. Text, markdown (the pull-request
//! comment) and JSON forms; the policy floor that `check` enforces; the policy keys that
//! `explain` cites. Git access stays in [`crate::gitops`]; this module only reads
//! [`crate::workspace::Workspace`]s and the files a [`crate::gitops::Source`] lists.
pub mod decide;
pub mod floor;
pub mod indicators;
pub mod locate;
mod markdown;
pub mod policy;
pub mod script;
mod text;

use serde::Serialize;
use time::Date;

pub use indicators::{ChangedEntry, FileDiff, TargetDiff};
pub use markdown::{MARKDOWN_LIMIT, to_markdown};
pub use policy::{Effect, PolicyChange, PolicyFiles, PolicyReport, Side};
pub use script::unified;
pub use text::{to_text, write_text};

/// Everything that differs between `base` and `head`.
#[derive(Debug, Clone, Serialize)]
pub struct DiffReport<'w> {
    pub schema_version: u32,
    pub base: String,
    pub head: String,
    pub summary: Summary,
    pub files: Vec<FileDiff<'w>>,
    pub targets: Vec<TargetDiff>,
    pub policy: PolicyReport,
}

/// Totals over all files, targets and policy changes.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    pub added: usize,
    pub removed: usize,
    pub changed: usize,
    pub script_lines_added: usize,
    pub script_lines_removed: usize,
    /// Any indicator, script or policy change.
    pub has_changes: bool,
    pub policy_changes: usize,
    /// Policy changes that weaken protection.
    pub policy_weakening: usize,
}

impl DiffReport<'_> {
    /// Any change at all (indicators, scripts or policy)?
    pub fn has_changes(&self) -> bool {
        self.summary.has_changes
    }

    /// Any indicator or script change (as opposed to policy only)?
    pub fn has_indicator_changes(&self) -> bool {
        let s = &self.summary;
        s.added + s.removed + s.changed + s.script_lines_added + s.script_lines_removed > 0
    }
}

/// Compute the review of `base` → `head` as of `today`.
pub fn compute<'w>(base: Side<'w>, head: Side<'w>, today: Date) -> anyhow::Result<DiffReport<'w>> {
    let files = indicators::file_diffs(base.ws, head.ws);
    let (eff_a, eff_b) = std::thread::scope(|s| {
        let a = s.spawn(|| base.ws.effective(today));
        let b = head.ws.effective(today);
        (a.join(), b)
    });
    let eff_a = eff_a.map_err(|_| anyhow::anyhow!("computing the base state panicked"))?;
    let policy = policy::report(base, head, &eff_b)?;
    let targets = indicators::target_diffs(base.ws, head.ws, &eff_a, &eff_b)?;
    let mut summary = Summary {
        added: files.iter().map(|f| f.added.len()).sum(),
        removed: files.iter().map(|f| f.removed.len()).sum(),
        changed: files.iter().map(|f| f.changed.len()).sum(),
        script_lines_added: targets.iter().map(|t| t.script_lines_added).sum(),
        script_lines_removed: targets.iter().map(|t| t.script_lines_removed).sum(),
        has_changes: false,
        policy_changes: policy.changes.len(),
        policy_weakening: policy.weakening,
    };
    summary.has_changes = summary.policy_changes > 0
        || summary.added
            + summary.removed
            + summary.changed
            + summary.script_lines_added
            + summary.script_lines_removed
            > 0;
    Ok(DiffReport {
        schema_version: crate::report::JSON_SCHEMA_VERSION,
        base: base.ws.label.clone(),
        head: head.ws.label.clone(),
        summary,
        files,
        targets,
        policy,
    })
}
