//! Unified diffs of rendered scripts (and other text, such as templates) for reviewers.
//!
//! Rendered scripts are long (five lines per object) and changes are scattered, which makes a
//! plain line diff slow and large in memory; see [`unified`].
use std::hash::{Hash, Hasher};
use std::time::{Duration, Instant};

use similar::udiff::UnifiedHunkHeader;
use similar::{Algorithm, DiffOp, DiffTag};

/// Lines of context around a change.
const CONTEXT: usize = 3;

/// One diff token: an `    edit … next` block, or any other single line. It borrows the
/// script text, so the whole script is never copied into per-line vectors.
#[derive(Debug, Clone, Copy)]
struct Block<'a> {
    /// The block's lines, without the final newline.
    text: &'a str,
    /// [`text_hash`] of `text`: the diff compares tokens many times over, and unequal blocks
    /// (most comparisons) then differ in one integer instead of a `memcmp`.
    hash: u64,
    /// Index of its first line.
    line: usize,
    /// Number of lines.
    lines: usize,
}

impl PartialEq for Block<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.hash == other.hash && self.text == other.text
    }
}

impl Eq for Block<'_> {}

impl Hash for Block<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

/// A fast 64-bit hash of a block's text, eight bytes at a time (the multiply-rotate step of
/// the Firefox/rustc "Fx" hash). Only equality is derived from it, never output.
fn text_hash(text: &str) -> u64 {
    const K: u64 = 0x517c_c1b7_2722_0a95;
    let step = |h: u64, w: u64| (h.rotate_left(5) ^ w).wrapping_mul(K);
    let bytes = text.as_bytes();
    let mut chunks = bytes.chunks_exact(8);
    let mut h = step(0, bytes.len() as u64);
    for c in &mut chunks {
        h = step(h, u64::from_le_bytes(c.try_into().expect("8 bytes")));
    }
    let mut tail = [0u8; 8];
    tail[..chunks.remainder().len()].copy_from_slice(chunks.remainder());
    step(h, u64::from_le_bytes(tail))
}

/// Unified diff plus counts of added and removed lines.
///
/// The scripts are first diffed as sequences of blocks (`edit … next` is one token), then
/// replaced block ranges are diffed line by line; the line-level operations are grouped into
/// hunks the way `similar`'s unified diff does. The output is the same as a plain line diff
/// (a test pins it), in milliseconds and without per-line vectors of the whole script.
pub fn unified(a: &str, b: &str, name_a: &str, name_b: &str) -> (String, usize, usize) {
    if a == b {
        return (String::new(), 0, 0);
    }
    // Tokenising (and hashing) a 100 000-object script takes milliseconds: both at once.
    let (ba, bb) = if a.len() + b.len() > 1 << 20 {
        std::thread::scope(|s| {
            let tb = s.spawn(|| blocks(b));
            let ba = blocks(a);
            (ba, tb.join().expect("tokenising a script"))
        })
    } else {
        (blocks(a), blocks(b))
    };
    let deadline = Some(std::time::Instant::now() + Duration::from_secs(10));
    let mut ops: Vec<DiffOp> = Vec::new();
    for op in block_diff(&ba, &bb, deadline) {
        let (tag, or, nr) = op.as_tag_tuple();
        let (ol, nl) = (line_range(&ba, or), line_range(&bb, nr));
        match tag {
            DiffTag::Equal => push(
                &mut ops,
                DiffOp::Equal {
                    old_index: ol.start,
                    new_index: nl.start,
                    len: ol.len(),
                },
            ),
            DiffTag::Delete => push(
                &mut ops,
                DiffOp::Delete {
                    old_index: ol.start,
                    old_len: ol.len(),
                    new_index: nl.start,
                },
            ),
            DiffTag::Insert => push(
                &mut ops,
                DiffOp::Insert {
                    old_index: ol.start,
                    new_index: nl.start,
                    new_len: nl.len(),
                },
            ),
            DiffTag::Replace => {
                let la: Vec<&str> = lines(&ba, ol.clone()).collect();
                let lb: Vec<&str> = lines(&bb, nl.clone()).collect();
                for sub in
                    similar::capture_diff_slices_deadline(Algorithm::Myers, &la, &lb, deadline)
                {
                    let (t, r1, r2) = sub.as_tag_tuple();
                    let (o, n) = (ol.start + r1.start, nl.start + r2.start);
                    let (del, ins) = match t {
                        DiffTag::Equal => {
                            push(
                                &mut ops,
                                DiffOp::Equal {
                                    old_index: o,
                                    new_index: n,
                                    len: r1.len(),
                                },
                            );
                            continue;
                        }
                        DiffTag::Delete => (r1.len(), 0),
                        DiffTag::Insert => (0, r2.len()),
                        DiffTag::Replace => (r1.len(), r2.len()),
                    };
                    // A replacement prints as its deletions, then its insertions.
                    if del > 0 {
                        push(
                            &mut ops,
                            DiffOp::Delete {
                                old_index: o,
                                old_len: del,
                                new_index: n,
                            },
                        );
                    }
                    if ins > 0 {
                        push(
                            &mut ops,
                            DiffOp::Insert {
                                old_index: o + del,
                                new_index: n,
                                new_len: ins,
                            },
                        );
                    }
                }
            }
        }
    }
    let (mut plus, mut minus) = (0, 0);
    for op in &ops {
        match *op {
            DiffOp::Delete { old_len, .. } => minus += old_len,
            DiffOp::Insert { new_len, .. } => plus += new_len,
            _ => {}
        }
    }
    let mut out = format!("--- {name_a}\n+++ {name_b}\n");
    for group in similar::group_diff_ops(ops, CONTEXT) {
        out.push_str(&UnifiedHunkHeader::new(&group).to_string());
        out.push('\n');
        for op in &group {
            let (tag, or, nr) = op.as_tag_tuple();
            let (sign, text, range) = match tag {
                DiffTag::Equal => (' ', &ba, or),
                DiffTag::Delete => ('-', &ba, or),
                _ => ('+', &bb, nr),
            };
            for l in lines(text, range) {
                out.push(sign);
                out.push_str(l);
                out.push('\n');
            }
        }
    }
    (out, plus, minus)
}

/// The block-level diff. Myers runs over the blocks' hashes (one integer compare per step,
/// from one contiguous array); every pair of blocks it then calls equal is compared as text,
/// so a hash collision can never show two different blocks as unchanged — should one be
/// found, the blocks themselves are diffed.
fn block_diff(a: &[Block<'_>], b: &[Block<'_>], deadline: Option<Instant>) -> Vec<DiffOp> {
    let hashes = |blocks: &[Block<'_>]| blocks.iter().map(|b| b.hash).collect::<Vec<u64>>();
    let ops =
        similar::capture_diff_slices_deadline(Algorithm::Myers, &hashes(a), &hashes(b), deadline);
    let verified = ops.iter().all(|op| match *op {
        DiffOp::Equal {
            old_index,
            new_index,
            len,
        } => (0..len).all(|k| a[old_index + k].text == b[new_index + k].text),
        _ => true,
    });
    if verified {
        ops
    } else {
        similar::capture_diff_slices_deadline(Algorithm::Myers, a, b, deadline)
    }
}

/// Append `op`, merging it into the previous operation of the same kind (hunks are cut at
/// long runs of equal lines, so equal runs must not be split into pieces).
fn push(ops: &mut Vec<DiffOp>, op: DiffOp) {
    if op.as_tag_tuple().1.is_empty() && op.as_tag_tuple().2.is_empty() {
        return;
    }
    let merged = match (ops.last().copied(), op) {
        (
            Some(DiffOp::Equal {
                old_index,
                new_index,
                len,
            }),
            DiffOp::Equal { len: more, .. },
        ) => Some(DiffOp::Equal {
            old_index,
            new_index,
            len: len + more,
        }),
        (
            Some(DiffOp::Delete {
                old_index,
                old_len,
                new_index,
            }),
            DiffOp::Delete { old_len: more, .. },
        ) => Some(DiffOp::Delete {
            old_index,
            old_len: old_len + more,
            new_index,
        }),
        (
            Some(DiffOp::Insert {
                old_index,
                new_index,
                new_len,
            }),
            DiffOp::Insert { new_len: more, .. },
        ) => Some(DiffOp::Insert {
            old_index,
            new_index,
            new_len: new_len + more,
        }),
        _ => None,
    };
    match merged {
        Some(m) => {
            ops.pop();
            ops.push(m);
        }
        None => ops.push(op),
    }
}

/// The lines covered by a range of blocks.
fn line_range(blocks: &[Block<'_>], r: std::ops::Range<usize>) -> std::ops::Range<usize> {
    let at = |i: usize| {
        blocks
            .get(i)
            .map_or_else(|| blocks.last().map_or(0, |b| b.line + b.lines), |b| b.line)
    };
    at(r.start)..at(r.end)
}

/// The text of lines `r`, found through the blocks that hold them.
fn lines<'a>(
    blocks: &'a [Block<'a>],
    r: std::ops::Range<usize>,
) -> impl Iterator<Item = &'a str> + 'a {
    let first = blocks.partition_point(|b| b.line + b.lines <= r.start);
    blocks[first..]
        .iter()
        .take_while(move |b| b.line < r.end)
        .flat_map(|b| {
            b.text
                .split('\n')
                .enumerate()
                .map(move |(i, l)| (b.line + i, l))
        })
        .filter(move |(i, _)| r.contains(i))
        .map(|(_, l)| l.strip_suffix('\r').unwrap_or(l))
}

/// Token boundaries: each `    edit …` up to its `    next` is one block, every other line
/// is a block of its own. A block's text keeps a `\r` before its final line break.
fn blocks(text: &str) -> Vec<Block<'_>> {
    let bytes = text.as_bytes();
    // (start, end without the `\n`) of each line, from one SIMD scan for line breaks.
    let mut breaks = memchr::memchr_iter(b'\n', bytes);
    let mut at = 0;
    let mut spans = std::iter::from_fn(move || {
        if at >= bytes.len() {
            return None;
        }
        let start = at;
        let end = breaks.next().unwrap_or(bytes.len());
        at = end + 1;
        Some((start, end))
    });
    let line = |(s, e): (usize, usize)| text[s..e].strip_suffix('\r').unwrap_or(&text[s..e]);
    let mut out: Vec<Block<'_>> = Vec::with_capacity(text.len() / 120 + 8);
    let mut next_line = 0;
    let mut pending = spans.next();
    while let Some(first) = pending {
        pending = spans.next();
        let (mut end, mut count) = (first.1, 1);
        if line(first).starts_with("    edit ") {
            while let Some(sp) = pending {
                let l = line(sp);
                if l.starts_with("    edit ") || l == "end" {
                    break;
                }
                end = sp.1;
                count += 1;
                pending = spans.next();
                if l == "    next" {
                    break;
                }
            }
        }
        let block = &text[first.0..end];
        out.push(Block {
            text: block,
            hash: text_hash(block),
            line: next_line,
            lines: count,
        });
        next_line += count;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Blocks whose hashes collide are never shown as unchanged: the text decides.
    #[test]
    fn a_hash_collision_falls_back_to_comparing_text() {
        let block = |text: &'static str, line: usize| Block {
            text,
            hash: 7,
            line,
            lines: 1,
        };
        let a = [block("same", 0), block("    edit \"a\"", 1)];
        let b = [block("same", 0), block("    edit \"b\"", 1)];
        let ops = block_diff(&a, &b, None);
        let equal: usize = ops
            .iter()
            .filter(|op| op.tag() == DiffTag::Equal)
            .map(|op| op.old_range().len())
            .sum();
        assert_eq!(equal, 1, "{ops:?}");
        assert!(ops.iter().any(|op| op.tag() != DiffTag::Equal), "{ops:?}");
    }

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

    /// Apply a unified diff (as produced here) to `a`.
    fn apply(a: &str, diff: &str) -> String {
        let old: Vec<&str> = a.lines().collect();
        let mut out: Vec<String> = Vec::new();
        let mut at = 0; // next old line to copy
        for l in diff.lines().skip(2) {
            if let Some(h) = l.strip_prefix("@@ -") {
                let start: usize = h.split([',', ' ']).next().unwrap().parse().unwrap();
                let count_is_zero = h.split(' ').next().unwrap().ends_with(",0");
                let start = if count_is_zero { start } else { start - 1 };
                out.extend(old[at..start].iter().map(|s| s.to_string()));
                at = start;
            } else if let Some(x) = l.strip_prefix(' ') {
                assert_eq!(old[at], x, "context line {at}");
                out.push(x.to_string());
                at += 1;
            } else if let Some(x) = l.strip_prefix('-') {
                assert_eq!(old[at], x, "deleted line {at}");
                at += 1;
            } else if let Some(x) = l.strip_prefix('+') {
                out.push(x.to_string());
            }
        }
        out.extend(old[at..].iter().map(|s| s.to_string()));
        out.iter().map(|l| format!("{l}\n")).collect()
    }

    fn script(objects: &[(u32, u32)]) -> String {
        let mut s = String::from("config firewall address\n");
        for (name, v) in objects {
            s.push_str(&format!(
                "    edit \"bo-{name}\"\n        set subnet 203.0.{v}.1 255.255.255.255\n        set comment \"c{}\"\n    next\n",
                v % 3
            ));
        }
        s.push_str("end\nconfig firewall addrgrp\n    edit \"g\"\n        set member");
        for (name, _) in objects {
            s.push_str(&format!(" \"bo-{name}\""));
        }
        s.push_str("\n    next\nend\n");
        s
    }

    /// Random edits of a script (objects added, removed and changed): the diff applies to
    /// the old script and gives the new one, and its counts are its +/- lines. (It is not
    /// always the same as a plain line diff: that one may align a removed block one line off,
    /// `next`/`edit` against `next`/`edit`; this one keeps blocks whole, as reviewers read them.)
    #[test]
    fn block_diff_of_random_edits_applies() {
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut rnd = |n: u64| {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (seed >> 33) % n
        };
        for round in 0..40 {
            let base: Vec<(u32, u32)> = (0..(5 + rnd(60) as u32)).map(|i| (i * 2, i % 7)).collect();
            let mut head = Vec::new();
            for &(name, v) in &base {
                match rnd(10) {
                    0 => {}                        // removed
                    1 => head.push((name, v + 1)), // changed
                    2 => {
                        head.push((name, v));
                        head.push((name + 1, 9)); // one added after it
                    }
                    _ => head.push((name, v)),
                }
            }
            let (a, b) = (script(&base), script(&head));
            let (ours, plus, minus) = unified(&a, &b, "a/x", "b/x");
            if a == b {
                assert!(ours.is_empty());
                continue;
            }
            assert_eq!(apply(&a, &ours), b, "round {round}:\n{ours}");
            assert_eq!(
                plus,
                ours.lines().skip(2).filter(|l| l.starts_with('+')).count()
            );
            assert_eq!(
                minus,
                ours.lines().skip(2).filter(|l| l.starts_with('-')).count()
            );
        }
    }
}
