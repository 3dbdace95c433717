//! Per-target settings about the device session: what to do on a FortiManager-managed unit,
//! and how many lines may be in flight inside a configuration transaction. Kept apart from
//! `config.rs` so the device rules read in one place.
use serde::{Deserialize, Serialize};

use super::Target;

/// What `plan` and `apply` do on a FortiGate under central management.
///
/// A FortiManager policy-package install deletes FortiGate objects the package does not
/// reference (Fortinet KB 412972), and a local CLI change puts the package "out of sync"
/// until it is imported (KB 225438). In backup mode FortiManager only stores the
/// configuration, and changes are made on the FortiGate (KB 379625). How a unit shows its
/// management in `get system central-management` (`type fortimanager` plus `fmg`) is not
/// settled by a public source [U]; blockops reads both fields.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CentralManagement {
    /// Refuse a managed unit, and a unit whose management cannot be read.
    #[default]
    Refuse,
    /// Allow a unit in backup mode; refuse one in normal mode or one that cannot be read.
    AllowBackupMode,
    /// Do not refuse (the objects are imported into FortiManager, or the operator checked
    /// the unit by hand because the administrator cannot read global settings).
    Allow,
}

impl CentralManagement {
    /// The value as written in `blockops.yaml`.
    pub fn as_str(self) -> &'static str {
        match self {
            CentralManagement::Refuse => "refuse",
            CentralManagement::AllowBackupMode => "allow-backup-mode",
            CentralManagement::Allow => "allow",
        }
    }
}

/// Default lines in flight inside a transaction.
pub fn default_window_lines() -> usize {
    64
}

/// Default bytes in flight inside a transaction: half of the 4 KiB that a Linux terminal's
/// line discipline buffers per input line (`N_TTY_BUF_SIZE`), so a burst never fills the
/// device's input buffer even if its CLI reads late. FortiOS' own buffer size is not
/// published [U]; a device that drops input shows as an echo mismatch, which aborts.
pub fn default_window_bytes() -> usize {
    2048
}

/// Problems with a target's device settings: (key, message).
pub fn problems(t: &Target) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    if !(1..=1024).contains(&t.window_lines) {
        out.push((
            "window_lines",
            format!(
                "target `{}`: window_lines {} must be 1–1024",
                t.name, t.window_lines
            ),
        ));
    }
    if !(256..=65_536).contains(&t.window_bytes) {
        out.push((
            "window_bytes",
            format!(
                "target `{}`: window_bytes {} must be 256–65536",
                t.name, t.window_bytes
            ),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    fn target(extra: &str) -> String {
        format!("targets:\n- name: fw1\n  host: 127.0.0.1\n  password: {{env: X}}\n{extra}")
    }

    #[test]
    fn device_keys_have_defaults_and_are_checked() {
        let c = Config::parse(&target(""), "b.yaml", crate::fortios::naming::render_rules).unwrap();
        let t = &c.targets[0];
        assert_eq!(t.central_management, super::CentralManagement::Refuse);
        assert_eq!((t.window_lines, t.window_bytes), (64, 2048));
        let c = Config::parse(
            &target("  central_management: allow-backup-mode\n  window_lines: 8\n"),
            "b.yaml",
            crate::fortios::naming::render_rules,
        )
        .unwrap();
        assert_eq!(
            c.targets[0].central_management,
            super::CentralManagement::AllowBackupMode
        );
        assert_eq!(c.targets[0].window_lines, 8);
        let e = Config::parse(
            &target("  window_bytes: 10\n"),
            "b.yaml",
            crate::fortios::naming::render_rules,
        )
        .unwrap_err();
        assert!(e.to_string().contains("window_bytes 10"), "{e}");
        let e = Config::parse(
            &target("  central_management: maybe\n"),
            "b.yaml",
            crate::fortios::naming::render_rules,
        )
        .unwrap_err();
        assert!(e.to_string().contains("central_management"), "{e}");
    }
}
