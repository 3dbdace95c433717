//! The `pull` use case: collect from Cybereason, then — holding the repository lock — read
//! the pulled file as it is now, merge, write it atomically and commit it.
//!
//! Collection happens before the lock (it is the slow part and touches nothing local). The
//! file is re-read under the lock, so a second `pull` that waited for the first merges into
//! what the first wrote: with the same data it finds nothing to change and makes no commit
//! (issue #8 item 12). A failed collection returns before anything local is touched.
use std::path::Path;

use anyhow::Context as _;
use time::Date;

use super::client::{Client, ClientError, ClientSettings};
use super::collect::{CollectOptions, Collected, collect};
use crate::blocklist::BlocklistFile;
use crate::blocklist::guard::Guard;
use crate::blocklist::merge::{Decision, Merged, Policy, merge};
use crate::config::GitConfig;
use crate::gitops::commit::{Committed, RepoLock, commit_file};
use crate::gitops::{Source as _, WorktreeSource};

/// Log in, collect every enabled source, log out. Runs its own single-threaded runtime.
pub fn fetch(
    settings: ClientSettings,
    opts: &CollectOptions,
    progress: super::collect::Progress<'_>,
) -> Result<Collected, ClientError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| ClientError::Build(format!("async runtime: {e}")))?;
    rt.block_on(async {
        let client = Client::new(settings)?;
        client.login().await?;
        let r = collect(&client, opts, progress).await;
        client.logout().await;
        r
    })
}

/// Where the pulled file goes and how the result is judged.
pub struct Target<'a> {
    /// Repository root.
    pub root: &'a Path,
    /// `files.pulled`, relative to the root.
    pub rel: &'a str,
    pub guard: &'a Guard,
    pub today: Date,
    pub policy: Policy,
    /// Commit the written file (`--commit`).
    pub commit: bool,
    pub git: &'a GitConfig,
}

/// What happened to the file.
#[derive(Debug)]
pub struct Applied {
    pub merged: Merged,
    pub decision: Decision,
    pub written: bool,
    /// `Some` when `--commit` was asked and the file was written.
    pub committed: Option<Committed>,
}

/// Merge `collected` into the pulled file and write (and commit) it when the policy allows.
/// `loaded` is the pulled file as the workspace read it earlier: it is used when the file on
/// disk (re-read under the lock) still has exactly its canonical content, which saves parsing
/// a large file twice; otherwise the file on disk is parsed.
pub fn apply(
    t: &Target,
    collected: &Collected,
    loaded: Option<&BlocklistFile>,
) -> anyhow::Result<Applied> {
    // Dry runs and plain writes outside a git repository need no lock; commits do.
    let lock = if t.policy.dry_run {
        None
    } else {
        match RepoLock::acquire(t.root) {
            Ok(l) => Some(l),
            Err(e) if !t.commit => {
                tracing::debug!("no repository lock ({e:#}); writing without one");
                None
            }
            Err(e) => return Err(e.context("--commit needs a git repository")),
        }
    };
    let src = WorktreeSource {
        root: t.root.to_path_buf(),
    };
    let on_disk = src.read(t.rel)?;
    let parsed;
    let existing = match (&on_disk, loaded) {
        (None, _) => {
            parsed = BlocklistFile::empty(t.rel);
            &parsed
        }
        // Same content as what was loaded (compared by its canonical text, so a file that
        // changed and changed back is still judged by what it holds now).
        (Some(bytes), Some(l)) if l.to_canonical_string().as_bytes() == bytes.as_slice() => l,
        (Some(bytes), _) => {
            let text = std::str::from_utf8(bytes)
                .map_err(|_| anyhow::anyhow!("{} is not UTF-8 text", t.rel))?;
            parsed = BlocklistFile::parse(text, t.rel)
                .map_err(|d| anyhow::anyhow!("the pulled file {} is invalid:\n{d}", t.rel))?;
            &parsed
        }
    };
    let merged = merge(existing, &collected.findings, t.guard, t.today);
    let text = merged.text();
    let decision = merged.decide(&text, on_disk.as_deref(), t.policy);
    let mut written = false;
    let mut committed = None;
    if decision == Decision::Write {
        crate::atomic::write(&t.root.join(t.rel), text.as_bytes())
            .with_context(|| format!("writing {}", t.rel))?;
        written = true;
        if t.commit
            && let Some(lock) = &lock
        {
            let c = commit_file(lock, t.root, t.rel, &merged.commit_message(t.rel), t.git)
                .context("committing the pulled file")?;
            committed = Some(c);
        }
    }
    drop(lock);
    Ok(Applied {
        merged,
        decision,
        written,
        committed,
    })
}
