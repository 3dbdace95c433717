//! Unified diffs of rendered scripts (and other text, such as templates) for reviewers.
//!
//! Rendered scripts are long (five lines per object) and changes are scattered, which makes a
//! plain line diff slow; see [`unified`].
use std::time::Duration;

use similar::{Algorithm, DiffTag};

/// Unified diff plus counts of added and removed lines.
///
/// Rendered scripts are long (five lines per object) and changes are scattered, which makes a
/// plain line diff slow. The scripts are first diffed as sequences of blocks (`edit … next` is
/// one token), then replaced block ranges are diffed line by line: the same unified output,
/// in milliseconds.
pub fn unified(a: &str, b: &str, name_a: &str, name_b: &str) -> (String, usize, usize) {
    if a == b {
        return (String::new(), 0, 0);
    }
    let la: Vec<&str> = a.lines().collect();
    let lb: Vec<&str> = b.lines().collect();
    let ba = blocks(&la);
    let bb = blocks(&lb);
    let ta: Vec<&[&str]> = ba.iter().map(|r| &la[r.clone()]).collect();
    let tb: Vec<&[&str]> = bb.iter().map(|r| &lb[r.clone()]).collect();
    let deadline = Some(std::time::Instant::now() + Duration::from_secs(10));
    let mut changes: Vec<(DiffTag, usize, usize)> = Vec::new(); // (tag, old line, new line)
    for op in similar::capture_diff_slices_deadline(Algorithm::Myers, &ta, &tb, deadline) {
        let (tag, or, nr) = op.as_tag_tuple();
        let old_lines = if or.is_empty() {
            ba.get(or.start).map_or(la.len(), |r| r.start)
                ..ba.get(or.start).map_or(la.len(), |r| r.start)
        } else {
            ba[or.start].start..ba[or.end - 1].end
        };
        let new_lines = if nr.is_empty() {
            bb.get(nr.start).map_or(lb.len(), |r| r.start)
                ..bb.get(nr.start).map_or(lb.len(), |r| r.start)
        } else {
            bb[nr.start].start..bb[nr.end - 1].end
        };
        match tag {
            DiffTag::Equal => {
                for (i, j) in old_lines.zip(new_lines) {
                    changes.push((DiffTag::Equal, i, j));
                }
            }
            DiffTag::Delete => changes.extend(old_lines.map(|i| (DiffTag::Delete, i, 0))),
            DiffTag::Insert => changes.extend(new_lines.map(|j| (DiffTag::Insert, 0, j))),
            DiffTag::Replace => {
                let (o0, n0) = (old_lines.start, new_lines.start);
                let sub = similar::capture_diff_slices_deadline(
                    Algorithm::Myers,
                    &la[old_lines],
                    &lb[new_lines],
                    deadline,
                );
                for op in sub {
                    let (t, r1, r2) = op.as_tag_tuple();
                    match t {
                        DiffTag::Equal => changes
                            .extend(r1.zip(r2).map(|(i, j)| (DiffTag::Equal, o0 + i, n0 + j))),
                        DiffTag::Delete => changes.extend(r1.map(|i| (DiffTag::Delete, o0 + i, 0))),
                        DiffTag::Insert => changes.extend(r2.map(|j| (DiffTag::Insert, 0, n0 + j))),
                        DiffTag::Replace => {
                            changes.extend(r1.map(|i| (DiffTag::Delete, o0 + i, 0)));
                            changes.extend(r2.map(|j| (DiffTag::Insert, 0, n0 + j)));
                        }
                    }
                }
            }
        }
    }
    let plus = changes.iter().filter(|c| c.0 == DiffTag::Insert).count();
    let minus = changes.iter().filter(|c| c.0 == DiffTag::Delete).count();
    (
        format_unified(&changes, &la, &lb, name_a, name_b, 3),
        plus,
        minus,
    )
}

/// Token boundaries: each `    edit …` up to its `    next` is one block, every other line
/// is a block of its own.
fn blocks(lines: &[&str]) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::with_capacity(lines.len() / 4 + 8);
    let mut i = 0;
    while i < lines.len() {
        if lines[i].starts_with("    edit ") {
            let mut j = i + 1;
            while j < lines.len()
                && lines[j] != "    next"
                && !lines[j].starts_with("    edit ")
                && lines[j] != "end"
            {
                j += 1;
            }
            let end = if j < lines.len() && lines[j] == "    next" {
                j + 1
            } else {
                j
            };
            out.push(i..end);
            i = end;
        } else {
            out.push(i..i + 1);
            i += 1;
        }
    }
    out
}

/// Classic unified-diff hunks from a line-level change list.
fn format_unified(
    changes: &[(DiffTag, usize, usize)],
    la: &[&str],
    lb: &[&str],
    name_a: &str,
    name_b: &str,
    ctx: usize,
) -> String {
    let mut out = format!("--- {name_a}\n+++ {name_b}\n");
    let n = changes.len();
    let mut i = 0;
    while i < n {
        // Find the next change.
        while i < n && changes[i].0 == DiffTag::Equal {
            i += 1;
        }
        if i == n {
            break;
        }
        let start = i.saturating_sub(ctx);
        // Extend while changes are within 2*ctx of each other.
        let mut end = i;
        let mut last_change = i;
        while end < n {
            if changes[end].0 != DiffTag::Equal {
                last_change = end;
            } else if end - last_change > 2 * ctx {
                break;
            }
            end += 1;
        }
        let end = (last_change + ctx + 1).min(n);
        let hunk = &changes[start..end];
        let old_count = hunk.iter().filter(|c| c.0 != DiffTag::Insert).count();
        let new_count = hunk.iter().filter(|c| c.0 != DiffTag::Delete).count();
        let old_start = hunk
            .iter()
            .find(|c| c.0 != DiffTag::Insert)
            .map(|c| c.1 + 1)
            .unwrap_or_else(|| first_old_before(changes, start));
        let new_start = hunk
            .iter()
            .find(|c| c.0 != DiffTag::Delete)
            .map(|c| c.2 + 1)
            .unwrap_or_else(|| first_new_before(changes, start));
        out.push_str(&format!(
            "@@ -{} +{} @@\n",
            range_str(old_start, old_count),
            range_str(new_start, new_count)
        ));
        for c in hunk {
            match c.0 {
                DiffTag::Equal => {
                    out.push(' ');
                    out.push_str(la[c.1]);
                }
                DiffTag::Delete => {
                    out.push('-');
                    out.push_str(la[c.1]);
                }
                _ => {
                    out.push('+');
                    out.push_str(lb[c.2]);
                }
            }
            out.push('\n');
        }
        i = end;
    }
    out
}

fn range_str(start: usize, count: usize) -> String {
    if count == 1 {
        format!("{start}")
    } else {
        format!("{start},{count}")
    }
}

/// For a hunk without old lines: the old line number it follows (0 at the top).
fn first_old_before(changes: &[(DiffTag, usize, usize)], at: usize) -> usize {
    changes[..at]
        .iter()
        .rev()
        .find(|c| c.0 != DiffTag::Insert)
        .map(|c| c.1 + 1)
        .unwrap_or(0)
}

fn first_new_before(changes: &[(DiffTag, usize, usize)], at: usize) -> usize {
    changes[..at]
        .iter()
        .rev()
        .find(|c| c.0 != DiffTag::Delete)
        .map(|c| c.2 + 1)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The block-wise diff gives the same hunks as a plain line diff.
    #[test]
    fn block_diff_matches_a_plain_unified_diff() {
        let a = "config firewall address\n    edit \"a\"\n        set subnet 1\n    next\n    edit \"b\"\n        set subnet 2\n    next\n    edit \"c\"\n        set subnet 3\n    next\nend\nconfig firewall addrgrp\n    edit \"g\"\n        set member \"a\" \"b\" \"c\"\n        set comment \"x\"\n    next\nend\n";
        let b = a
            .replace("    edit \"b\"\n        set subnet 2\n    next\n", "")
            .replace("\"a\" \"b\" \"c\"", "\"a\" \"c\" \"d\"")
            .replace(
                "end\nconfig firewall addrgrp",
                "    edit \"d\"\n        set subnet 4\n    next\nend\nconfig firewall addrgrp",
            );
        let (ours, plus, minus) = unified(a, &b, "a/x", "b/x");
        let reference = similar::TextDiff::from_lines(a, b.as_str())
            .unified_diff()
            .context_radius(3)
            .header("a/x", "b/x")
            .to_string();
        assert_eq!(ours, reference);
        assert_eq!((plus, minus), (4, 4));
        assert_eq!(unified(a, a, "a", "b"), (String::new(), 0, 0));
        // Insertion at the very top and deletion at the very end.
        let c = format!("config vdom\n{a}");
        assert_eq!(
            unified(a, &c, "a", "b").0,
            similar::TextDiff::from_lines(a, c.as_str())
                .unified_diff()
                .context_radius(3)
                .header("a", "b")
                .to_string()
        );
        let d = a.trim_end_matches("end\n");
        assert_eq!(
            unified(a, d, "a", "b").0,
            similar::TextDiff::from_lines(a, d)
                .unified_diff()
                .context_radius(3)
                .header("a", "b")
                .to_string()
        );
    }
}
