//! Git history access (git2) and the reviewer-facing diff.
