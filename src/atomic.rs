//! Atomic file writes: a temp file in the same directory, fsync, then rename over the target.
//! A crash or error never leaves a half-written blocklist, plan or script behind.
use std::io::Write;
use std::path::Path;

use anyhow::Context;

/// Write `data` to `rel` (a repository path) under `root` atomically. The same path rules as
/// reading apply ([`crate::text::check_rel_path`]), and no existing component below `root`
/// may be a symbolic link — otherwise a committed link (`blocklists -> /etc`) would redirect
/// the write outside the repository.
pub fn write_under(root: &Path, rel: &str, data: &[u8]) -> anyhow::Result<()> {
    crate::text::check_rel_path(rel).map_err(|why| anyhow::anyhow!("`{rel}`: {why}"))?;
    let mut p = root.to_path_buf();
    for part in rel.split('/') {
        p.push(part);
        match std::fs::symlink_metadata(&p) {
            Ok(m) if m.file_type().is_symlink() => anyhow::bail!(
                "`{rel}`: `{}` is a symbolic link; blockops does not write through links in the repository",
                p.strip_prefix(root).unwrap_or(&p).display()
            ),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => break,
            Err(e) => return Err(e).with_context(|| format!("writing {rel}")),
        }
    }
    write(&root.join(rel), data)
}

/// Write `data` to `path` atomically, creating parent directories as needed.
pub fn write(path: &Path, data: &[u8]) -> anyhow::Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".blockops-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .with_context(|| format!("creating a temporary file in {}", dir.display()))?;
    tmp.write_all(data)
        .and_then(|_| tmp.as_file().sync_all())
        .with_context(|| format!("writing {}", path.display()))?;
    tmp.persist(path)
        .map_err(|e| e.error)
        .with_context(|| format!("replacing {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_content_and_leaves_no_temp_files() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub/x.yaml");
        write(&p, b"one").unwrap();
        write(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        let names: Vec<_> = std::fs::read_dir(p.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
    }

    #[cfg(unix)]
    #[test]
    fn write_under_refuses_links_and_escaping_paths() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("blocklists")).unwrap();
        let e = write_under(dir.path(), "blocklists/cybereason.yaml", b"x").unwrap_err();
        assert!(e.to_string().contains("symbolic link"), "{e}");
        assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0);
        for bad in ["../x.yaml", "/tmp/x.yaml", "a/../../x.yaml"] {
            assert!(write_under(dir.path(), bad, b"x").is_err(), "{bad}");
        }
        write_under(dir.path(), "ok/x.yaml", b"y").unwrap();
        assert_eq!(std::fs::read(dir.path().join("ok/x.yaml")).unwrap(), b"y");
    }
}
