//! What commands report to machines: the version of every `--format json` document and the
//! typed per-target result rows of `plan` and `apply` (documented in `docs/json.md`).
use serde::Serialize;

use crate::fortios::model::Other;
use crate::plan::delta::Counts;

/// Version of every `--format json` document (`check`, `diff`, `pull`, `plan`, `apply`,
/// `explain`). Fields are only ever added within a version.
pub const JSON_SCHEMA_VERSION: u32 = 1;

/// The outcome of one target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum TargetResult {
    /// `plan`: the plan has changes.
    #[serde(rename = "changes")]
    Changes,
    /// `plan`/`apply`: nothing to do.
    #[serde(rename = "no changes")]
    NoChanges,
    /// `apply`: pushed and read back without drift.
    #[serde(rename = "applied")]
    Applied,
    /// `apply --dry-run`: verified against the device, nothing sent.
    #[serde(rename = "dry run")]
    DryRun,
    /// A safety check refused (exit 3).
    #[serde(rename = "refused")]
    Refused,
    /// `apply`: the device failed a line, the connection dropped or the read-back drifted.
    #[serde(rename = "failed")]
    Failed,
    /// Anything else that went wrong (exit 1).
    #[serde(rename = "error")]
    Error,
}

impl TargetResult {
    /// The word used in tables and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            TargetResult::Changes => "changes",
            TargetResult::NoChanges => "no changes",
            TargetResult::Applied => "applied",
            TargetResult::DryRun => "dry run",
            TargetResult::Refused => "refused",
            TargetResult::Failed => "failed",
            TargetResult::Error => "error",
        }
    }

    /// True for results that are not failures.
    pub fn is_ok(self) -> bool {
        matches!(
            self,
            TargetResult::Changes
                | TargetResult::NoChanges
                | TargetResult::Applied
                | TargetResult::DryRun
        )
    }

    /// `refused` or `error`/`failed`, from an error chain.
    pub fn of_error(e: &anyhow::Error, failed: TargetResult) -> TargetResult {
        if crate::error::is_refusal(e) {
            TargetResult::Refused
        } else {
            failed
        }
    }
}

impl std::fmt::Display for TargetResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One row of a per-target result table (also an element of `targets` in the JSON output).
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub target: String,
    pub result: TargetResult,
    pub counts: Option<Counts>,
    /// Non-empty script lines of the plan.
    pub lines: usize,
    /// The plan file written (plan) or read (apply).
    pub plan_file: Option<String>,
    pub detail: String,
    /// Objects on the device that look like blockops' but are left alone.
    pub left_alone: Vec<Other>,
    /// Desired objects not created because the device holds the name for someone else.
    pub skipped: Vec<crate::plan::desired::Skipped>,
}

impl Row {
    /// A row for a target that failed before anything was planned or applied.
    pub fn failed(target: &str, e: &anyhow::Error, failed: TargetResult) -> Row {
        Row {
            target: target.to_string(),
            result: TargetResult::of_error(e, failed),
            counts: None,
            lines: 0,
            plan_file: None,
            detail: crate::error::render_chain(e),
            left_alone: Vec::new(),
            skipped: Vec::new(),
        }
    }
}

/// The result table (printed when several targets were involved).
pub fn table(rows: &[Row]) -> String {
    let w = rows
        .iter()
        .map(|r| r.target.len())
        .max()
        .unwrap_or(6)
        .max(6);
    let mut out = format!(
        "{:w$}  {:10}  {:>6}  {:>6}  {:>6}  {:>6}  DETAIL\n",
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
        out.push_str(&format!(
            "{:w$}  {:10}  {a:>6}  {d:>6}  {m:>6}  {:>6}  {}\n",
            r.target,
            r.result.as_str(),
            r.lines,
            r.detail
        ));
    }
    out
}
