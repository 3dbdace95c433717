//! Git history access (git2).
//!
//! Commands read the repository's files either from the work tree or from a commit; both
//! look the same to them through [`Source`]. The reviewer-facing diff is [`crate::review`].
//!
//! Repository content is untrusted (review jobs run on pull requests), so every read goes
//! through the same path rules in both sources: a path is relative, `/`-separated, without
//! `.`/`..`/empty components and never inside `.git` ([`check_rel_path`]); **symbolic links are
//! refused outright** — in the work tree any path component that is a link, at a revision any
//! tree entry of mode `120000` — because a committed link can point anywhere (`/etc/passwd`,
//! `~/.ssh/id_*`, `.git/config` where CI keeps its token). Refusing links rather than resolving
//! and checking containment keeps the work tree and every revision in agreement (git stores the
//! link, not its target). Only regular files (blobs) are read, at most
//! [`crate::yaml::MAX_FILE_BYTES`] bytes.
pub mod commit;

use std::io::Read as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow, bail};
use git2::{ObjectType, Oid, Repository};

use crate::diag::Diagnostic;
use crate::yaml::MAX_FILE_BYTES;

/// Read-only access to the repository files at one point in time.
pub trait Source {
    /// Contents of `path` (relative, `/`-separated), or `None` when absent. A path that breaks
    /// the rules of [`check_rel_path`], a symbolic link, anything but a regular file and a
    /// file over [`MAX_FILE_BYTES`] are errors, never `None`.
    fn read(&self, path: &str) -> anyhow::Result<Option<Vec<u8>>>;
    /// Names directly inside `dir` that are not directories (files, and links so that reading
    /// them is refused loudly rather than skipped), sorted.
    fn list(&self, dir: &str) -> anyhow::Result<Vec<String>>;
    /// How to name this source to a user: a short commit id or `WORKTREE`.
    fn label(&self) -> String;
}

pub use crate::text::check_rel_path;

fn path_error(path: &str, why: String) -> anyhow::Error {
    anyhow!("`{path}`: {why}")
}

/// The files on disk.
pub struct WorktreeSource {
    pub root: PathBuf,
}

/// What a work-tree path is, without following links.
enum Found {
    Missing,
    File(std::fs::Metadata),
    Dir,
}

impl WorktreeSource {
    /// Walk `path` below the root with `lstat`, refusing links at every component.
    fn find(&self, path: &str) -> anyhow::Result<(PathBuf, Found)> {
        check_rel_path(path).map_err(|why| path_error(path, why))?;
        let parts: Vec<&str> = path.split('/').collect();
        let mut p = self.root.clone();
        for (i, part) in parts.iter().enumerate() {
            p.push(part);
            let meta = match std::fs::symlink_metadata(&p) {
                Ok(m) => m,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Ok((p, Found::Missing));
                }
                Err(e) => return Err(e).with_context(|| format!("reading {path}")),
            };
            let shown = parts[..=i].join("/");
            if meta.file_type().is_symlink() {
                bail!(
                    "`{shown}` is a symbolic link; blockops does not follow links in the repository (they can point outside it)"
                );
            }
            if i + 1 < parts.len() {
                if !meta.is_dir() {
                    bail!("`{shown}` is not a directory (reading {path})");
                }
            } else if meta.is_dir() {
                return Ok((p, Found::Dir));
            } else if meta.is_file() {
                return Ok((p, Found::File(meta)));
            } else {
                bail!("`{shown}` is not a regular file");
            }
        }
        Ok((p, Found::Dir))
    }
}

impl Source for WorktreeSource {
    fn read(&self, path: &str) -> anyhow::Result<Option<Vec<u8>>> {
        let (abs, meta) = match self.find(path)? {
            (_, Found::Missing) => return Ok(None),
            (_, Found::Dir) => bail!("`{path}` is a directory, not a file"),
            (abs, Found::File(m)) => (abs, m),
        };
        if meta.len() > MAX_FILE_BYTES {
            bail!(
                "`{path}` is {} bytes, more than the limit of {MAX_FILE_BYTES}",
                meta.len()
            );
        }
        let file = std::fs::File::open(&abs).with_context(|| format!("reading {path}"))?;
        // The file opened must be the one inspected (no link swapped in between).
        let opened = file.metadata().with_context(|| format!("reading {path}"))?;
        if !same_file(&meta, &opened) {
            bail!("`{path}` changed while it was being read");
        }
        let mut out = Vec::with_capacity(meta.len() as usize);
        file.take(MAX_FILE_BYTES + 1)
            .read_to_end(&mut out)
            .with_context(|| format!("reading {path}"))?;
        if out.len() as u64 > MAX_FILE_BYTES {
            bail!("`{path}` is larger than the limit of {MAX_FILE_BYTES} bytes");
        }
        Ok(Some(out))
    }

    fn list(&self, dir: &str) -> anyhow::Result<Vec<String>> {
        let abs = match self.find(dir)? {
            (_, Found::Missing) => return Ok(Vec::new()),
            (_, Found::File(_)) => bail!("`{dir}` is not a directory"),
            (abs, Found::Dir) => abs,
        };
        let mut out = Vec::new();
        for e in std::fs::read_dir(&abs).with_context(|| format!("listing {dir}"))? {
            let e = e.with_context(|| format!("listing {dir}"))?;
            let is_dir = e.file_type().map(|t| t.is_dir()).unwrap_or(false);
            if !is_dir && let Some(n) = e.file_name().to_str() {
                out.push(n.to_string());
            }
        }
        out.sort();
        Ok(out)
    }

    fn label(&self) -> String {
        "WORKTREE".into()
    }
}

#[cfg(unix)]
fn same_file(a: &std::fs::Metadata, b: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    a.dev() == b.dev() && a.ino() == b.ino()
}

#[cfg(not(unix))]
fn same_file(a: &std::fs::Metadata, b: &std::fs::Metadata) -> bool {
    a.len() == b.len() && b.is_file()
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

    /// The tree entry at `path`, refusing links at every component (`None` when absent).
    fn entry(&self, path: &str) -> anyhow::Result<Option<git2::TreeEntry<'static>>> {
        check_rel_path(path).map_err(|why| path_error(path, why))?;
        let at = short(self.commit);
        let parts: Vec<&str> = path.split('/').collect();
        for i in 0..parts.len() {
            let shown = parts[..=i].join("/");
            let e = match self.tree.get_path(Path::new(&shown)) {
                Ok(e) => e,
                Err(e) if e.code() == git2::ErrorCode::NotFound => return Ok(None),
                Err(e) => return Err(e).with_context(|| format!("{path} at {at}")),
            };
            if e.filemode() == 0o120000 {
                bail!(
                    "`{shown}` is a symbolic link at {at}; blockops does not follow links in the repository (they can point outside it)"
                );
            }
            if i + 1 < parts.len() && e.kind() != Some(ObjectType::Tree) {
                bail!("`{shown}` is not a directory at {at} (reading {path})");
            }
            if i + 1 == parts.len() {
                return Ok(Some(e));
            }
        }
        Ok(None)
    }
}

impl Source for RevSource<'_> {
    fn read(&self, path: &str) -> anyhow::Result<Option<Vec<u8>>> {
        let at = short(self.commit);
        let Some(entry) = self.entry(path)? else {
            return Ok(None);
        };
        match entry.kind() {
            Some(ObjectType::Blob) => {}
            Some(ObjectType::Tree) => bail!("`{path}` is a directory at {at}, not a file"),
            Some(ObjectType::Commit) => bail!("`{path}` is a submodule at {at}, not a file"),
            _ => bail!("`{path}` is not a file at {at}"),
        }
        let odb = self.repo.odb().with_context(|| format!("{path} at {at}"))?;
        let (size, _) = odb
            .read_header(entry.id())
            .with_context(|| format!("{path} at {at}"))?;
        if size as u64 > MAX_FILE_BYTES {
            bail!("`{path}` is {size} bytes at {at}, more than the limit of {MAX_FILE_BYTES}");
        }
        let blob = self
            .repo
            .find_blob(entry.id())
            .with_context(|| format!("{path} at {at}"))?;
        Ok(Some(blob.content().to_vec()))
    }

    fn list(&self, dir: &str) -> anyhow::Result<Vec<String>> {
        let Some(sub) = self.entry(dir)? else {
            return Ok(Vec::new());
        };
        let tree = match sub
            .to_object(self.repo)
            .ok()
            .and_then(|o| o.into_tree().ok())
        {
            Some(t) => t,
            None => bail!("`{dir}` is not a directory at {}", short(self.commit)),
        };
        let mut out: Vec<String> = tree
            .iter()
            .filter(|e| e.kind() != Some(ObjectType::Tree))
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

/// Read a file as UTF-8 text (`None` when absent). A leading byte-order mark is removed;
/// invalid UTF-8 is an error naming `line:col`.
pub fn read_text(src: &dyn Source, path: &str) -> anyhow::Result<Option<String>> {
    match src.read(path)? {
        None => Ok(None),
        Some(b) => crate::yaml::decode(b, path)
            .map(Some)
            .map_err(|d| anyhow!("{d} ({})", src.label())),
    }
}

/// Read a file that must exist, as UTF-8 text, with every failure as a positioned problem:
/// a configured file that is missing is an error, never an empty default (fail closed).
pub fn read_required(src: &dyn Source, path: &str) -> Result<String, Diagnostic> {
    match src.read(path) {
        Ok(Some(b)) => crate::yaml::decode(b, path),
        Ok(None) => Err(Diagnostic::error(
            path,
            0,
            0,
            format!(
                "missing in {}: every file named in the configuration must exist (an empty list is `entries: []`)",
                src.label()
            ),
        )),
        Err(e) => Err(Diagnostic::error(path, 0, 0, format!("{e:#}"))),
    }
}

/// Open the repository containing `dir`.
pub fn open(dir: &Path) -> anyhow::Result<Repository> {
    // libgit2 re-computes the SHA-1 of every object it reads (about a tenth of `diff`'s work
    // on a 100 000-entry list: a 10 MB blob per revision). Corruption is still caught — every
    // stored object, loose or packed, is a zlib stream whose checksum inflating verifies —
    // and the objects of a CI checkout were hashed by `git fetch` (index-pack) as they
    // arrived; what the re-check adds is detecting a repository that was written wrong.
    static RELAX: std::sync::Once = std::sync::Once::new();
    RELAX.call_once(|| git2::opts::strict_hash_verification(false));
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

    fn commit_all(repo: &Repository, dir: &Path) -> Oid {
        let mut idx = repo.index().unwrap();
        idx.add_all(["*"], git2::IndexAddOption::DEFAULT, None)
            .unwrap();
        idx.write().unwrap();
        let tree = repo.find_tree(idx.write_tree().unwrap()).unwrap();
        let sig = git2::Signature::now("t", "t@example.com").unwrap();
        let _ = dir;
        repo.commit(Some("HEAD"), &sig, &sig, "c", &tree, &[])
            .unwrap()
    }

    #[cfg(unix)]
    #[test]
    fn symbolic_links_are_refused_in_the_worktree_and_at_a_revision() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::init(dir.path()).unwrap();
        let secret = dir.path().join("outside-secret");
        std::fs::write(&secret, "root:x:0:0").unwrap();
        std::fs::create_dir_all(dir.path().join("blocklists")).unwrap();
        std::fs::create_dir_all(dir.path().join("real")).unwrap();
        std::fs::write(dir.path().join("real/a.yaml"), "entries: []\n").unwrap();
        std::os::unix::fs::symlink(&secret, dir.path().join("blocklists/allowlist.yaml")).unwrap();
        std::os::unix::fs::symlink("real", dir.path().join("linked")).unwrap();
        let oid = commit_all(&repo, dir.path());
        let wt = WorktreeSource {
            root: dir.path().to_path_buf(),
        };
        let rev = RevSource::new(&repo, oid).unwrap();
        for src in [&wt as &dyn Source, &rev] {
            for path in ["blocklists/allowlist.yaml", "linked/a.yaml"] {
                let e = src.read(path).unwrap_err().to_string();
                assert!(e.contains("symbolic link"), "{}: {path}: {e}", src.label());
                assert!(!e.contains("root:x"), "{e}");
            }
            assert_eq!(
                src.read("real/a.yaml").unwrap().as_deref(),
                Some(&b"entries: []\n"[..])
            );
            assert!(src.list("linked").is_err(), "{}", src.label());
            assert_eq!(src.list("blocklists").unwrap(), ["allowlist.yaml"]);
        }
    }

    #[test]
    fn escaping_paths_are_refused_by_every_source() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::init(dir.path()).unwrap();
        std::fs::write(dir.path().join("a.yaml"), "x").unwrap();
        let oid = commit_all(&repo, dir.path());
        let wt = WorktreeSource {
            root: dir.path().join("a-subdir-that-is-the-root"),
        };
        let rev = RevSource::new(&repo, oid).unwrap();
        for src in [&wt as &dyn Source, &rev] {
            for bad in [
                "../a.yaml",
                "/etc/passwd",
                "x/../../a.yaml",
                ".git/config",
                "a//b",
                "C:/x",
                "",
            ] {
                assert!(src.read(bad).is_err(), "{}: {bad:?}", src.label());
            }
        }
    }

    #[test]
    fn a_missing_required_file_is_an_error_not_an_empty_text() {
        let dir = tempfile::tempdir().unwrap();
        let wt = WorktreeSource {
            root: dir.path().to_path_buf(),
        };
        let d = read_required(&wt, "blocklists/allowlist.yaml").unwrap_err();
        assert!(d.to_string().contains("missing in WORKTREE"), "{d}");
        assert!(read_required(&EmptySource, "x.yaml").is_err());
    }
}
