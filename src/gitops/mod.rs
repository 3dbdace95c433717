//! Git history access (git2).
//!
//! Commands read the repository's files either from the work tree or from a commit; both
//! look the same to them through [`Source`]. The reviewer-facing diff is [`crate::review`].

use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow};
use git2::{ObjectType, Oid, Repository};

/// Read-only access to the repository files at one point in time.
pub trait Source {
    /// Contents of `path` (relative, `/`-separated), or `None` when absent.
    fn read(&self, path: &str) -> anyhow::Result<Option<Vec<u8>>>;
    /// File names (not paths) directly inside `dir`, sorted.
    fn list(&self, dir: &str) -> anyhow::Result<Vec<String>>;
    /// How to name this source to a user: a short commit id or `WORKTREE`.
    fn label(&self) -> String;
}

/// The files on disk.
pub struct WorktreeSource {
    pub root: PathBuf,
}

impl Source for WorktreeSource {
    fn read(&self, path: &str) -> anyhow::Result<Option<Vec<u8>>> {
        match std::fs::read(self.root.join(path)) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("reading {path}")),
        }
    }

    fn list(&self, dir: &str) -> anyhow::Result<Vec<String>> {
        let mut out = Vec::new();
        match std::fs::read_dir(self.root.join(dir)) {
            Ok(rd) => {
                for e in rd {
                    let e = e.with_context(|| format!("listing {dir}"))?;
                    if e.file_type().map(|t| t.is_file()).unwrap_or(false)
                        && let Some(n) = e.file_name().to_str()
                    {
                        out.push(n.to_string());
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("listing {dir}")),
        }
        out.sort();
        Ok(out)
    }

    fn label(&self) -> String {
        "WORKTREE".into()
    }
}

/// The files of one commit.
pub struct RevSource<'r> {
    pub repo: &'r Repository,
    pub commit: Oid,
    tree: git2::Tree<'r>,
}

impl<'r> RevSource<'r> {
    pub fn new(repo: &'r Repository, commit: Oid) -> anyhow::Result<Self> {
        let tree = repo
            .find_commit(commit)
            .and_then(|c| c.tree())
            .with_context(|| format!("reading commit {commit}"))?;
        Ok(RevSource { repo, commit, tree })
    }
}

impl Source for RevSource<'_> {
    fn read(&self, path: &str) -> anyhow::Result<Option<Vec<u8>>> {
        let entry = match self.tree.get_path(Path::new(path)) {
            Ok(e) => e,
            Err(e) if e.code() == git2::ErrorCode::NotFound => return Ok(None),
            Err(e) => return Err(e).with_context(|| format!("{path} at {}", short(self.commit))),
        };
        if entry.kind() != Some(ObjectType::Blob) {
            return Ok(None);
        }
        let blob = self
            .repo
            .find_blob(entry.id())
            .with_context(|| format!("{path} at {}", short(self.commit)))?;
        Ok(Some(blob.content().to_vec()))
    }

    fn list(&self, dir: &str) -> anyhow::Result<Vec<String>> {
        let sub = match self.tree.get_path(Path::new(dir)) {
            Ok(e) => e,
            Err(e) if e.code() == git2::ErrorCode::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e).with_context(|| format!("{dir} at {}", short(self.commit))),
        };
        let tree = match sub
            .to_object(self.repo)
            .ok()
            .and_then(|o| o.into_tree().ok())
        {
            Some(t) => t,
            None => return Ok(Vec::new()),
        };
        let mut out: Vec<String> = tree
            .iter()
            .filter(|e| e.kind() == Some(ObjectType::Blob))
            .filter_map(|e| e.name().ok().map(String::from))
            .collect();
        out.sort();
        Ok(out)
    }

    fn label(&self) -> String {
        short(self.commit)
    }
}

/// No files at all: the base of the very first commit.
pub struct EmptySource;

impl Source for EmptySource {
    fn read(&self, _: &str) -> anyhow::Result<Option<Vec<u8>>> {
        Ok(None)
    }
    fn list(&self, _: &str) -> anyhow::Result<Vec<String>> {
        Ok(Vec::new())
    }
    fn label(&self) -> String {
        "(empty)".into()
    }
}

/// Read a file as UTF-8 text (`None` when absent).
pub fn read_text(src: &dyn Source, path: &str) -> anyhow::Result<Option<String>> {
    match src.read(path)? {
        None => Ok(None),
        Some(b) => String::from_utf8(b)
            .map(Some)
            .map_err(|_| anyhow!("{path} ({}) is not UTF-8 text", src.label())),
    }
}

/// Open the repository containing `dir`.
pub fn open(dir: &Path) -> anyhow::Result<Repository> {
    Repository::discover(dir)
        .with_context(|| format!("{} is not inside a git repository", dir.display()))
}

/// Resolve a revision (`HEAD`, `HEAD~1`, a branch, a tag, a commit id) to a commit.
pub fn resolve(repo: &Repository, rev: &str) -> anyhow::Result<Oid> {
    let obj = repo
        .revparse_single(rev)
        .map_err(|e| anyhow!("unknown revision `{rev}`: {}", e.message()))?;
    let commit = obj
        .peel_to_commit()
        .map_err(|_| anyhow!("revision `{rev}` does not name a commit"))?;
    Ok(commit.id())
}

/// The 12-hex-digit short form of a commit id.
pub fn short(oid: Oid) -> String {
    oid.to_string()[..12].to_string()
}

/// A source for `rev`: `WORKTREE` means the files on disk.
pub enum AnySource<'r> {
    Worktree(WorktreeSource),
    Rev(RevSource<'r>),
    Empty(EmptySource),
}

impl AnySource<'_> {
    pub fn as_dyn(&self) -> &dyn Source {
        match self {
            AnySource::Worktree(s) => s,
            AnySource::Rev(s) => s,
            AnySource::Empty(s) => s,
        }
    }
}

/// Source for a revision name; `WORKTREE` reads the work tree at `root`.
pub fn source_for<'r>(
    repo: Option<&'r Repository>,
    root: &Path,
    rev: &str,
) -> anyhow::Result<AnySource<'r>> {
    if rev == "WORKTREE" {
        return Ok(AnySource::Worktree(WorktreeSource {
            root: root.to_path_buf(),
        }));
    }
    let repo =
        repo.ok_or_else(|| anyhow!("`{rev}` needs a git repository at {}", root.display()))?;
    let oid = resolve(repo, rev)?;
    Ok(AnySource::Rev(RevSource::new(repo, oid)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_files_at_a_commit_and_in_the_worktree() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::init(dir.path()).unwrap();
        std::fs::create_dir_all(dir.path().join("blocklists")).unwrap();
        std::fs::write(dir.path().join("blocklists/a.yaml"), "one").unwrap();
        let mut idx = repo.index().unwrap();
        idx.add_path(Path::new("blocklists/a.yaml")).unwrap();
        idx.write().unwrap();
        let tree = repo.find_tree(idx.write_tree().unwrap()).unwrap();
        let sig = git2::Signature::now("t", "t@example.com").unwrap();
        repo.commit(Some("HEAD"), &sig, &sig, "c1", &tree, &[])
            .unwrap();
        std::fs::write(dir.path().join("blocklists/a.yaml"), "two").unwrap();

        let head = source_for(Some(&repo), dir.path(), "HEAD").unwrap();
        assert_eq!(
            read_text(head.as_dyn(), "blocklists/a.yaml")
                .unwrap()
                .as_deref(),
            Some("one")
        );
        assert_eq!(head.as_dyn().list("blocklists").unwrap(), ["a.yaml"]);
        assert_eq!(head.as_dyn().read("nope.yaml").unwrap(), None);
        let wt = source_for(Some(&repo), dir.path(), "WORKTREE").unwrap();
        assert_eq!(
            read_text(wt.as_dyn(), "blocklists/a.yaml")
                .unwrap()
                .as_deref(),
            Some("two")
        );
        let err = source_for(Some(&repo), dir.path(), "nosuchrev")
            .err()
            .unwrap();
        assert!(
            err.to_string().contains("unknown revision `nosuchrev`"),
            "{err}"
        );
    }
}
