//! The effective blocklist: every indicator that will be blocked (with each entry that lists
//! it) and every listed one that will not (with the rule that dropped it). Computed by
//! [`crate::workspace::Workspace::effective`]; read by the renderer, `explain` and the review.
use super::guard::Dropped;
use super::indicator::Indicator;
use super::{Entry, Source as Origin};

/// One indicator that will be blocked, with every entry that lists it.
#[derive(Debug, Clone)]
pub struct Blocked<'w> {
    pub value: &'w Indicator,
    /// (file path, entry) for each file that lists the value.
    pub entries: Vec<(&'w str, &'w Entry)>,
}

/// One indicator that is listed but not blocked.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DroppedEntry {
    pub value: String,
    pub file: String,
    pub line: usize,
    #[serde(flatten)]
    pub why: Dropped,
}

/// The effective blocklist.
#[derive(Debug, Clone, Default)]
pub struct Effective<'w> {
    /// Sorted by indicator order.
    pub blocked: Vec<Blocked<'w>>,
    pub dropped: Vec<DroppedEntry>,
}

impl<'w> Blocked<'w> {
    /// Union of the sources of every listing entry.
    pub fn sources(&self) -> Vec<Origin> {
        let mut v: Vec<Origin> = self
            .entries
            .iter()
            .flat_map(|(_, e)| e.sources.iter().copied())
            .collect();
        v.sort();
        v.dedup();
        v
    }
    /// Union of MalOp GUIDs.
    pub fn malops(&self) -> Vec<&'w str> {
        let mut v: Vec<&str> = self
            .entries
            .iter()
            .flat_map(|(_, e)| e.malops.iter().map(String::as_str))
            .collect();
        v.sort();
        v.dedup();
        v
    }
    /// First non-empty entry comment (manual comments win over pulled ones).
    pub fn comment(&self) -> Option<&'w str> {
        self.entries
            .iter()
            .rev()
            .find_map(|(_, e)| e.comment.as_deref().filter(|c| !c.is_empty()))
    }
}
