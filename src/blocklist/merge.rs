//! What `pull` does to the pulled blocklist file: merge raw findings into the existing file
//! (validate, guardrail, keep provenance dates) and decide whether the result may be written.
//!
//! Retention is stateless: the new file is exactly what the enabled sources report now
//! (connections and MalOps within the window, domains and reputation rows while listed);
//! `first_seen`, `expires` and `comment` of entries that stay are kept. Removing more than
//! `guardrails.max_removals` entries is refused unless explicitly allowed.
use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use time::Date;

use super::guard::Guard;
use super::indicator::{Indicator, visible};
use super::{BlocklistFile, Entry, MAX_MALOPS, Source};
use crate::config::Threshold;

/// One raw indicator as a source reported it (not yet validated).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The text as received (an IP, a network or a domain name — or garbage).
    pub raw: String,
    pub source: Source,
    /// MalOp GUIDs linked to this finding.
    pub malops: BTreeSet<String>,
    /// Free text for reports (reputation comment, connection display name).
    pub note: String,
}

impl Finding {
    /// A finding without MalOps or note.
    pub fn new(raw: impl Into<String>, source: Source) -> Finding {
        Finding {
            raw: raw.into(),
            source,
            malops: BTreeSet::new(),
            note: String::new(),
        }
    }
}

/// A finding that did not make it into the file.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct DroppedFinding {
    pub value: String,
    /// `invalid` or a guardrail rule id.
    pub rule: String,
    pub detail: String,
    pub source: Source,
}

/// The result of merging a pull into the existing file.
#[derive(Debug, Clone)]
pub struct Merged {
    pub file: BlocklistFile,
    pub added: Vec<Indicator>,
    pub removed: Vec<Indicator>,
    pub changed: Vec<Indicator>,
    pub dropped: Vec<DroppedFinding>,
    /// Entries in the file before the merge (the base of the removal limit).
    pub before: usize,
}

fn valid_malop(g: &str) -> bool {
    !g.is_empty() && g.len() <= 64 && crate::text::is_word(g, ".-_")
}

/// Merge findings into `existing`: validate, guardrail, keep provenance dates, retire the rest.
pub fn merge(existing: &BlocklistFile, findings: &[Finding], guard: &Guard, today: Date) -> Merged {
    let mut acc: BTreeMap<Indicator, (BTreeSet<Source>, BTreeSet<String>)> = BTreeMap::new();
    let mut dropped = BTreeSet::new();
    // The same raw text often arrives from several sources: judge it once.
    let mut checked: BTreeMap<&str, Option<Indicator>> = BTreeMap::new();
    for f in findings {
        let ind = match checked.get(f.raw.as_str()) {
            Some(v) => v.clone(),
            None => {
                let v = match Indicator::parse(&f.raw) {
                    Err(e) => {
                        dropped.insert(DroppedFinding {
                            value: visible(&f.raw),
                            rule: "invalid".into(),
                            detail: e.reason,
                            source: f.source,
                        });
                        None
                    }
                    Ok(ind) => match guard.check(&ind) {
                        Err(d) => {
                            dropped.insert(DroppedFinding {
                                value: ind.to_string(),
                                rule: d.rule.into(),
                                detail: d.detail,
                                source: f.source,
                            });
                            None
                        }
                        Ok(()) => Some(ind),
                    },
                };
                checked.insert(&f.raw, v.clone());
                v
            }
        };
        let Some(ind) = ind else { continue };
        let slot = acc.entry(ind).or_default();
        slot.0.insert(f.source);
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
        before: existing.entries.len(),
    }
}

/// What `pull` may do with a merge result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// The file on disk already holds exactly this content.
    Unchanged,
    /// `--dry-run`: show, write nothing.
    DryRun,
    /// More removals than `guardrails.max_removals` allows (exit 3), nothing written.
    TooManyRemovals {
        removed: usize,
        before: usize,
        limit: usize,
    },
    /// Write the new text.
    Write,
}

/// How a merge result is judged.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    pub max_removals: Threshold,
    pub allow_large_change: bool,
    pub dry_run: bool,
}

impl Merged {
    /// The canonical text of the merged file.
    pub fn text(&self) -> String {
        self.file.to_canonical_string()
    }

    /// Judge the result against the bytes currently on disk (`None`: no file).
    pub fn decide(&self, new_text: &str, on_disk: Option<&[u8]>, p: Policy) -> Decision {
        let unchanged = on_disk == Some(new_text.as_bytes())
            || (on_disk.is_none() && self.file.entries.is_empty());
        if unchanged {
            return Decision::Unchanged;
        }
        let limit = p.max_removals.limit(self.before);
        if self.removed.len() > limit && !p.allow_large_change {
            return Decision::TooManyRemovals {
                removed: self.removed.len(),
                before: self.before,
                limit,
            };
        }
        if p.dry_run {
            return Decision::DryRun;
        }
        Decision::Write
    }

    /// The commit message for `pull --commit`: counts, then the first 50 values per kind.
    pub fn commit_message(&self, rel: &str) -> String {
        let mut s = format!(
            "pull: {} added, {} removed, {} changed in {rel}\n\nFrom Cybereason by `blockops pull`.\n",
            self.added.len(),
            self.removed.len(),
            self.changed.len()
        );
        for (title, sign, list) in [
            ("Added", '+', &self.added),
            ("Removed", '-', &self.removed),
            ("Changed", '~', &self.changed),
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blocklist::allowlist::Allowlist;
    use crate::config::Guardrails;

    fn finding(raw: &str, source: Source, malops: &[&str]) -> Finding {
        Finding {
            raw: raw.into(),
            source,
            malops: malops.iter().map(|s| s.to_string()).collect(),
            note: String::new(),
        }
    }

    fn guard() -> Guard {
        Guard::new(
            &Guardrails::default(),
            &Allowlist {
                path: "a".into(),
                rules: vec![],
            },
        )
    }

    #[test]
    fn merge_keeps_first_seen_and_retires_the_rest() {
        let existing = BlocklistFile::parse(
            "entries:\n- value: 203.0.113.9\n  sources: [connection]\n  first_seen: 2026-01-01\n  comment: keep me\n\
             - value: 203.0.113.10\n  sources: [reputation]\n  first_seen: 2026-01-02\n",
            "p.yaml",
        )
        .unwrap();
        let today = crate::blocklist::parse_date("2026-11-27").unwrap();
        let m = merge(
            &existing,
            &[
                finding("203.0.113.9", Source::Connection, &["M1"]),
                finding("203.0.113.9", Source::Malop, &["M1", "bad guid!"]),
                finding("Evil.Example", Source::Domain, &[]),
                finding("10.1.2.3", Source::Connection, &[]),
                finding("not an indicator", Source::Reputation, &[]),
            ],
            &guard(),
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
        assert_eq!(m.before, 2);
        let rules: Vec<&str> = m.dropped.iter().map(|d| d.rule.as_str()).collect();
        assert!(
            rules.contains(&"private") && rules.contains(&"invalid"),
            "{rules:?}"
        );
    }

    #[test]
    fn decisions_follow_the_policy() {
        let existing = BlocklistFile::parse(
            "entries:\n- value: 203.0.113.1\n- value: 203.0.113.2\n- value: 203.0.113.3\n- value: 203.0.113.4\n",
            "p.yaml",
        )
        .unwrap();
        let today = crate::blocklist::parse_date("2026-11-27").unwrap();
        let p = Policy {
            max_removals: Threshold::Percent(25),
            allow_large_change: false,
            dry_run: false,
        };
        // One of four removed: within 25 %.
        let findings: Vec<Finding> = ["203.0.113.1", "203.0.113.2", "203.0.113.3"]
            .iter()
            .map(|r| Finding::new(*r, Source::Reputation))
            .collect();
        let m = merge(&existing, &findings, &guard(), today);
        let text = m.text();
        assert_eq!(m.decide(&text, Some(b"old"), p), Decision::Write);
        assert_eq!(
            m.decide(&text, Some(text.as_bytes()), p),
            Decision::Unchanged
        );
        assert_eq!(
            m.decide(&text, Some(b"old"), Policy { dry_run: true, ..p }),
            Decision::DryRun
        );
        // Two of four: refused unless allowed.
        let m = merge(&existing, &findings[..2], &guard(), today);
        assert_eq!(
            m.decide(&m.text(), Some(b"old"), p),
            Decision::TooManyRemovals {
                removed: 2,
                before: 4,
                limit: 1
            }
        );
        let allowed = Policy {
            allow_large_change: true,
            ..p
        };
        assert_eq!(m.decide(&m.text(), Some(b"old"), allowed), Decision::Write);
        // Nothing found and no file: nothing to write.
        let empty = merge(&BlocklistFile::empty("p.yaml"), &[], &guard(), today);
        assert_eq!(empty.decide(&empty.text(), None, p), Decision::Unchanged);
    }

    #[test]
    fn commit_message_lists_changes() {
        let existing = BlocklistFile::parse("entries:\n- value: 203.0.113.1\n", "p.yaml").unwrap();
        let today = crate::blocklist::parse_date("2026-11-27").unwrap();
        let m = merge(
            &existing,
            &[Finding::new("203.0.113.2", Source::Reputation)],
            &guard(),
            today,
        );
        let msg = m.commit_message("p.yaml");
        assert!(
            msg.starts_with("pull: 1 added, 1 removed, 0 changed in p.yaml\n"),
            "{msg}"
        );
        assert!(
            msg.contains("Added:\n+ 203.0.113.2\n") && msg.contains("Removed:\n- 203.0.113.1\n"),
            "{msg}"
        );
    }
}
