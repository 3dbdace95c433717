//! Committing the file `pull` wrote, safely when several `pull --commit` run at once.
//!
//! Three rules (issue #8 item 12): a repository lock is held across reading, writing and
//! committing the file ([`RepoLock`]); a commit is made only when the new tree differs from
//! the current HEAD's tree (never an empty commit); and the branch is moved compare-and-swap
//! from the parent the commit was built on, so a concurrent writer outside blockops is never
//! overwritten (the commit is rebuilt on the new tip instead).
//!
//! The commit identity follows git's own order (see [`identity`]).
use std::fs::File;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, anyhow, bail};
use git2::{Oid, Repository, Signature};

use crate::config::GitConfig;

/// Name of the lock file inside the repository's common git directory.
pub const LOCK_FILE: &str = "blockops.lock";

/// An exclusive lock on the repository, held by one blockops process at a time. Released
/// when dropped (or when the process dies: the OS drops the file lock).
#[derive(Debug)]
pub struct RepoLock {
    path: PathBuf,
    _file: File,
}

impl RepoLock {
    /// Wait for and take the lock of the repository containing `root`.
    ///
    /// The lock file lives in the common git directory (shared by linked work trees, like the
    /// refs it protects) and is never deleted: deleting a lock file races with the next taker.
    pub fn acquire(root: &Path) -> anyhow::Result<RepoLock> {
        let repo = super::open(root)?;
        let path = repo.commondir().join(LOCK_FILE);
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .with_context(|| format!("opening the repository lock {}", path.display()))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                tracing::info!(
                    "waiting for another blockops process to release {}",
                    path.display()
                );
                file.lock()
                    .with_context(|| format!("locking {}", path.display()))?;
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(e).with_context(|| format!("locking {}", path.display()));
            }
        }
        Ok(RepoLock { path, _file: file })
    }

    /// Where the lock file is.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// What [`commit_file`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Committed {
    /// A new commit on the current branch.
    New(Oid),
    /// HEAD's tree already has exactly this content: no commit.
    Unchanged,
}

/// Who a commit is by, and where each part came from (for `-v` logs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub author: (String, String),
    pub committer: (String, String),
}

const DEFAULT_NAME: &str = "blockops";
const DEFAULT_EMAIL: &str = "blockops@localhost";

/// Resolve the commit identity, field by field, in git's own order:
/// author: `git.author_*` in blockops.yaml > `GIT_AUTHOR_*` > git config `user.*` (the
/// repository's, then the global and system files) > `blockops <blockops@localhost>`;
/// committer: `GIT_COMMITTER_*` > git config `user.*` > the author.
///
/// `env` and `config` are passed in so the order can be tested without touching the process.
pub fn identity(
    git: &GitConfig,
    env: &dyn Fn(&str) -> Option<String>,
    config: &dyn Fn(&str) -> Option<String>,
) -> Identity {
    let nonempty = |v: Option<String>| v.filter(|s| !s.trim().is_empty());
    let env = |k: &str| nonempty(env(k));
    let config = |k: &str| nonempty(config(k));
    let author_name = nonempty(git.author_name.clone())
        .or_else(|| env("GIT_AUTHOR_NAME"))
        .or_else(|| config("user.name"))
        .unwrap_or_else(|| DEFAULT_NAME.into());
    let author_email = nonempty(git.author_email.clone())
        .or_else(|| env("GIT_AUTHOR_EMAIL"))
        .or_else(|| config("user.email"))
        .unwrap_or_else(|| DEFAULT_EMAIL.into());
    let committer_name = env("GIT_COMMITTER_NAME")
        .or_else(|| config("user.name"))
        .unwrap_or_else(|| author_name.clone());
    let committer_email = env("GIT_COMMITTER_EMAIL")
        .or_else(|| config("user.email"))
        .unwrap_or_else(|| author_email.clone());
    Identity {
        author: (author_name, author_email),
        committer: (committer_name, committer_email),
    }
}

/// The identity for commits in `repo`, reading the process environment and git config.
pub fn repo_identity(repo: &Repository, git: &GitConfig) -> Identity {
    let cfg = repo.config().ok().and_then(|mut c| c.snapshot().ok());
    identity(git, &|k| std::env::var(k).ok(), &|k| {
        cfg.as_ref().and_then(|c| c.get_string(k).ok())
    })
}

/// How often the branch may move under us before giving up.
const CAS_ATTEMPTS: usize = 5;

/// Commit `rel` (already written under `root`, `/`-separated) on the current branch, with only
/// that path changed relative to HEAD. The caller holds the [`RepoLock`].
pub fn commit_file(
    _lock: &RepoLock,
    root: &Path,
    rel: &str,
    message: &str,
    git: &GitConfig,
) -> anyhow::Result<Committed> {
    let repo = super::open(root)?;
    let workdir = repo
        .workdir()
        .ok_or_else(|| anyhow!("the git repository is bare"))?;
    let abs = root.join(rel);
    let abs = abs
        .canonicalize()
        .with_context(|| abs.display().to_string())?;
    let wd = workdir
        .canonicalize()
        .with_context(|| workdir.display().to_string())?;
    let in_repo = abs
        .strip_prefix(&wd)
        .with_context(|| format!("{} is outside the repository", abs.display()))?;
    let path_str = in_repo.to_string_lossy().replace('\\', "/");
    let bytes = std::fs::read(&abs).with_context(|| abs.display().to_string())?;
    let blob = repo.blob(&bytes)?;
    let who = repo_identity(&repo, git);
    tracing::debug!(
        author = %format!("{} <{}>", who.author.0, who.author.1),
        committer = %format!("{} <{}>", who.committer.0, who.committer.1),
        "commit identity"
    );
    let author = Signature::now(&who.author.0, &who.author.1)
        .context("the commit author name or e-mail is not usable")?;
    let committer = Signature::now(&who.committer.0, &who.committer.1)
        .context("the committer name or e-mail is not usable")?;

    for _ in 0..CAS_ATTEMPTS {
        let head = Head::read(&repo)?;
        let parent = head
            .commit
            .map(|oid| repo.find_commit(oid))
            .transpose()
            .context("reading the HEAD commit")?;
        let mut idx = git2::Index::new()?;
        if let Some(p) = &parent {
            idx.read_tree(&p.tree()?)?;
        }
        idx.add(&git2::IndexEntry {
            ctime: git2::IndexTime::new(0, 0),
            mtime: git2::IndexTime::new(0, 0),
            dev: 0,
            ino: 0,
            mode: 0o100644,
            uid: 0,
            gid: 0,
            file_size: u32::try_from(bytes.len()).unwrap_or(u32::MAX),
            id: blob,
            flags: 0,
            flags_extended: 0,
            path: path_str.clone().into_bytes(),
        })?;
        let tree_id = idx.write_tree_to(&repo)?;
        if parent.as_ref().is_some_and(|p| p.tree_id() == tree_id) {
            sync_index(&repo, &path_str)?;
            return Ok(Committed::Unchanged);
        }
        let tree = repo.find_tree(tree_id)?;
        let parents: Vec<&git2::Commit> = parent.iter().collect();
        // Build the commit without moving any ref, then move the branch only if it still
        // points where we started.
        let oid = repo.commit(None, &author, &committer, message, &tree, &parents)?;
        if head.swap(&repo, oid)? {
            sync_index(&repo, &path_str)?;
            return Ok(Committed::New(oid));
        }
        tracing::info!("the branch moved while committing; rebuilding the commit on the new tip");
    }
    bail!(
        "the branch kept moving while committing {rel} ({CAS_ATTEMPTS} attempts); nothing was committed"
    )
}

/// Keep the real index in step so `git status` shows a clean file.
fn sync_index(repo: &Repository, path: &str) -> anyhow::Result<()> {
    let mut real = repo.index()?;
    real.add_path(Path::new(path))?;
    real.write()?;
    Ok(())
}

/// Where HEAD points: a branch (possibly without commits yet) or a detached commit.
struct Head {
    /// The ref to move (`refs/heads/main`, or `HEAD` when detached).
    reference: String,
    /// Its current commit (`None` on an unborn branch).
    commit: Option<Oid>,
}

impl Head {
    fn read(repo: &Repository) -> anyhow::Result<Head> {
        let head = repo.find_reference("HEAD").context("reading HEAD")?;
        match head.symbolic_target().context("reading HEAD")? {
            Some(target) => {
                let commit = match repo.find_reference(target) {
                    Ok(r) => Some(
                        r.peel_to_commit()
                            .with_context(|| format!("{target} is not a commit"))?
                            .id(),
                    ),
                    Err(e) if e.code() == git2::ErrorCode::NotFound => None,
                    Err(e) => return Err(e).with_context(|| format!("reading {target}")),
                };
                Ok(Head {
                    reference: target.to_string(),
                    commit,
                })
            }
            None => Ok(Head {
                reference: "HEAD".into(),
                commit: Some(head.peel_to_commit().context("HEAD is not a commit")?.id()),
            }),
        }
    }

    /// Move the ref to `new` if it still points at `self.commit`; false when it moved.
    fn swap(&self, repo: &Repository, new: Oid) -> anyhow::Result<bool> {
        let msg = "commit: blockops pull";
        let r = match self.commit {
            Some(old) => repo.reference_matching(&self.reference, new, true, old, msg),
            // Unborn branch: create it, failing if someone created it meanwhile.
            None => repo.reference(&self.reference, new, false, msg),
        };
        match r {
            Ok(_) => Ok(true),
            Err(e)
                if matches!(
                    e.code(),
                    git2::ErrorCode::Modified | git2::ErrorCode::Exists | git2::ErrorCode::Locked
                ) =>
            {
                Ok(false)
            }
            Err(e) => Err(e).with_context(|| format!("updating {}", self.reference)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let v: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| v.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
    }

    #[test]
    fn identity_order_config_env_gitconfig_default() {
        let yaml = GitConfig {
            author_name: Some("Yaml Bot".into()),
            author_email: Some("yaml@example.invalid".into()),
        };
        let none = GitConfig {
            author_name: None,
            author_email: None,
        };
        let env = map(&[
            ("GIT_AUTHOR_NAME", "Env Author"),
            ("GIT_AUTHOR_EMAIL", "env-author@example.invalid"),
        ]);
        let gitcfg = map(&[
            ("user.name", "Git User"),
            ("user.email", "git-user@example.invalid"),
        ]);
        let nothing = map(&[]);

        let i = identity(&yaml, &env, &gitcfg);
        assert_eq!(i.author, ("Yaml Bot".into(), "yaml@example.invalid".into()));
        assert_eq!(
            i.committer,
            ("Git User".into(), "git-user@example.invalid".into())
        );
        let i = identity(&none, &env, &gitcfg);
        assert_eq!(i.author.0, "Env Author");
        let i = identity(&none, &nothing, &gitcfg);
        assert_eq!(
            i.author,
            ("Git User".into(), "git-user@example.invalid".into())
        );
        let i = identity(&none, &nothing, &nothing);
        assert_eq!(i.author, ("blockops".into(), "blockops@localhost".into()));
        assert_eq!(i.committer, i.author);
        // The committer follows GIT_COMMITTER_* first, and falls back to the author.
        let env_c = map(&[("GIT_COMMITTER_NAME", "CI"), ("GIT_COMMITTER_EMAIL", "")]);
        let i = identity(&yaml, &env_c, &nothing);
        assert_eq!(i.committer, ("CI".into(), "yaml@example.invalid".into()));
    }

    fn repo_with_file() -> (tempfile::TempDir, Repository) {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::init(dir.path()).unwrap();
        std::fs::write(dir.path().join("a.yaml"), "one\n").unwrap();
        let mut idx = repo.index().unwrap();
        idx.add_path(Path::new("a.yaml")).unwrap();
        idx.write().unwrap();
        let tree = repo.find_tree(idx.write_tree().unwrap()).unwrap();
        let sig = Signature::now("t", "t@example.invalid").unwrap();
        repo.commit(Some("HEAD"), &sig, &sig, "c1", &tree, &[])
            .unwrap();
        drop(tree);
        (dir, repo)
    }

    #[test]
    fn no_commit_when_the_tree_equals_head() {
        let (dir, repo) = repo_with_file();
        let cfg = GitConfig {
            author_name: Some("B".into()),
            author_email: Some("b@example.invalid".into()),
        };
        let lock = RepoLock::acquire(dir.path()).unwrap();
        let head = repo.head().unwrap().target().unwrap();
        assert_eq!(
            commit_file(&lock, dir.path(), "a.yaml", "m", &cfg).unwrap(),
            Committed::Unchanged
        );
        assert_eq!(repo.head().unwrap().target().unwrap(), head);
        std::fs::write(dir.path().join("a.yaml"), "two\n").unwrap();
        let Committed::New(oid) = commit_file(&lock, dir.path(), "a.yaml", "m", &cfg).unwrap()
        else {
            panic!("expected a commit")
        };
        assert_eq!(repo.head().unwrap().target().unwrap(), oid);
        assert_eq!(repo.find_commit(oid).unwrap().parent_id(0).unwrap(), head);
    }

    #[test]
    fn a_moved_branch_is_not_overwritten() {
        let (_dir, repo) = repo_with_file();
        let head = Head::read(&repo).unwrap();
        let start = head.commit.unwrap();
        // Someone else commits after we read HEAD.
        let sig = Signature::now("o", "o@example.invalid").unwrap();
        let tree = repo.find_commit(start).unwrap().tree().unwrap();
        let parent = repo.find_commit(start).unwrap();
        let theirs = repo
            .commit(Some("HEAD"), &sig, &sig, "theirs", &tree, &[&parent])
            .unwrap();
        let ours = repo
            .commit(None, &sig, &sig, "ours", &tree, &[&parent])
            .unwrap();
        assert!(!head.swap(&repo, ours).unwrap(), "the swap must fail");
        assert_eq!(repo.head().unwrap().target().unwrap(), theirs);
    }

    #[test]
    fn the_lock_is_exclusive() {
        let (dir, _repo) = repo_with_file();
        let lock = RepoLock::acquire(dir.path()).unwrap();
        let again = File::options().write(true).open(lock.path()).unwrap();
        assert!(matches!(
            again.try_lock(),
            Err(std::fs::TryLockError::WouldBlock)
        ));
        drop(lock);
        assert!(again.try_lock().is_ok());
    }
}
