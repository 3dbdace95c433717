//! One `apply` per device at a time on this machine (issue #8 item 11).
//!
//! Two `apply` runs of one plan used to race: both read the unchanged device, both passed the
//! stale check, both pushed. An exclusive lock per device (host, port and VDOM — two targets
//! naming the same device share it) is held from before the stale check until after the
//! read-back, so the second run waits (bounded) and then finds the device changed, or refuses
//! at once. The lock is an advisory `flock` on a file in `BLOCKOPS_LOCK_DIR` (default
//! `<temp dir>/blockops-locks`); the kernel drops it when the process ends, however it ends,
//! so a killed run never leaves a stale lock behind. Across machines this does not help:
//! serialise applies per target in CI and use `transaction: true`, which makes FortiOS lock
//! the edited objects for other sessions (README, docs/plan-file.md).
use std::fs::{File, OpenOptions, TryLockError};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use sha2::{Digest, Sha256};

use crate::config::Target;
use crate::error::Refused;

/// How often a waiting run tries the lock again.
const POLL: Duration = Duration::from_millis(100);

/// Where lock files live.
pub fn lock_dir() -> PathBuf {
    std::env::var_os("BLOCKOPS_LOCK_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("blockops-locks"))
}

/// What a device lock is keyed on: `host:port` and the VDOM.
pub fn device_key(t: &Target) -> String {
    match &t.vdom {
        Some(v) => format!("{}:{}/{v}", t.host, t.port),
        None => format!("{}:{}", t.host, t.port),
    }
}

/// The lock file of a device in `dir`: a readable name plus a hash of the exact key.
pub fn lock_path(dir: &Path, t: &Target) -> PathBuf {
    let key = device_key(t);
    let readable: String = key
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(80)
        .collect();
    let hash = hex::encode(&Sha256::digest(key.as_bytes())[..6]);
    dir.join(format!("{readable}-{hash}.lock"))
}

/// A held device lock; released when dropped (or when the process ends).
#[derive(Debug)]
pub struct DeviceLock {
    _file: File,
    pub path: PathBuf,
}

/// Take the lock at `path`, waiting at most `wait` for another holder to finish.
/// `on_wait(holder)` is called once when the lock is busy and the run starts waiting.
/// A lock still busy after `wait` (at once for a zero wait) is a refusal (exit 3).
pub async fn acquire(
    path: &Path,
    wait: Duration,
    note: &str,
    on_wait: impl FnOnce(&str),
) -> anyhow::Result<DeviceLock> {
    if let Some(dir) = path.parent() {
        create_dir(dir)?;
    }
    let (mut file, writable) = open(path)?;
    let started = Instant::now();
    let mut on_wait = Some(on_wait);
    loop {
        match file.try_lock() {
            Ok(()) => break,
            Err(TryLockError::WouldBlock) => {
                let holder = holder(path);
                if started.elapsed() >= wait {
                    return Err(Refused::new(format!(
                        "another blockops apply is changing this device ({holder}); {}",
                        if wait.is_zero() {
                            "not waiting (--lock-wait 0s)".to_string()
                        } else {
                            format!("gave up after waiting {}s (--lock-wait)", wait.as_secs())
                        }
                    ))
                    .into());
                }
                if let Some(f) = on_wait.take() {
                    f(&holder);
                }
                tokio::time::sleep(POLL).await;
            }
            Err(TryLockError::Error(e)) => {
                return Err(e).with_context(|| format!("locking {}", path.display()));
            }
        }
    }
    if writable {
        // Who holds it, for the message of a run that has to wait. Best effort: the lock is
        // what counts, not this text.
        let _ = file.set_len(0);
        let _ = writeln!(
            file,
            "pid {} since {}: {note}",
            std::process::id(),
            super::now_rfc3339()
        );
    }
    Ok(DeviceLock {
        _file: file,
        path: path.to_path_buf(),
    })
}

fn create_dir(dir: &Path) -> anyhow::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    // Shared by every user of the machine, like /tmp itself.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o1777));
    }
    Ok(())
}

/// Open (or create) the lock file; read-only when another user created it (`flock` works on
/// any open file).
fn open(path: &Path) -> anyhow::Result<(File, bool)> {
    let mut o = OpenOptions::new();
    o.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o644);
    }
    match o.open(path) {
        Ok(f) => Ok((f, true)),
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => File::open(path)
            .map(|f| (f, false))
            .with_context(|| format!("opening the lock file {}", path.display())),
        Err(e) => Err(e).with_context(|| format!("opening the lock file {}", path.display())),
    }
}

fn holder(path: &Path) -> String {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "holder unknown".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(host: &str, vdom: Option<&str>) -> Target {
        let mut t: Target =
            serde_yaml::from_str(&format!("name: fw\nhost: {host}\npassword: {{env: X}}\n"))
                .unwrap();
        t.vdom = vdom.map(String::from);
        t
    }

    #[test]
    fn one_lock_per_device_and_vdom() {
        let d = Path::new("/locks");
        let a = lock_path(d, &target("fw.example", None));
        assert_eq!(a, lock_path(d, &target("fw.example", None)));
        assert_ne!(a, lock_path(d, &target("fw.example", Some("root"))));
        assert_ne!(a, lock_path(d, &target("fw2.example", None)));
        let odd = lock_path(d, &target("../../etc/x", None));
        assert_eq!(odd.parent(), Some(d));
    }

    #[test]
    fn a_held_lock_refuses_or_waits() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.lock");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let held = acquire(&path, Duration::ZERO, "first", |_| {})
                .await
                .unwrap();
            let e = acquire(&path, Duration::ZERO, "second", |_| {})
                .await
                .unwrap_err();
            assert!(crate::error::is_refusal(&e));
            assert!(e.to_string().contains("first"), "{e}");
            let mut waited = false;
            let e = acquire(&path, Duration::from_millis(250), "second", |_| {
                waited = true
            })
            .await
            .unwrap_err();
            assert!(waited && e.to_string().contains("gave up"), "{e}");
            drop(held);
            acquire(&path, Duration::ZERO, "third", |_| {})
                .await
                .unwrap();
        });
    }
}
