//! An open device session for `plan` and `apply`: connected with the target's host-key
//! policy, probed (scope, FortiManager management, limits, transactions — all reads, see
//! `fortios::probe`), and refused before anything is read or written when the device is
//! managed by FortiManager against the target's `central_management` setting, or when the
//! target wants transactions the administrator cannot run. Nothing global is ever changed:
//! the console pager is answered by the session, not switched off.
use anyhow::Context;

use crate::config::{CentralManagement, Target};
use crate::error::Refused;
use crate::fortios::capacity::Holdings;
use crate::fortios::fields::FieldRules;
use crate::fortios::model::{Owner, State};
use crate::fortios::probe::{self, Central, Facts, Transactions};
use crate::fortios::ssh::{ConnectOptions, Session};

/// A connected, probed device.
pub struct Device {
    pub session: Session,
    pub facts: Facts,
    pub patterns: Vec<String>,
}

impl Device {
    /// Connect, probe the session and apply the target's refusals.
    pub async fn open(o: &ConnectOptions, t: &Target) -> anyhow::Result<Device> {
        let mut session = Session::connect(o)
            .await
            .with_context(|| format!("target `{}` ({}:{})", t.name, t.host, t.port))?;
        let patterns = t.error_patterns.clone();
        let facts = match probe::probe(
            &mut session,
            t.vdom.as_deref(),
            &t.name,
            t.transaction,
            &patterns,
        )
        .await
        {
            Ok(f) => f,
            Err(e) => {
                session.close().await;
                return Err(e);
            }
        };
        let refusal = check_central(t, &facts.globals.central).err().or_else(|| {
            match &facts.transactions {
                Some(Transactions::Unavailable { why }) => Some(anyhow::anyhow!(
                    "target `{}` has `transaction: true`, but `execute config-transaction` is not available: {why}; \
                     nothing was changed",
                    t.name
                )),
                _ => None,
            }
        });
        if let Some(e) = refusal {
            session.close().await;
            return Err(e);
        }
        Ok(Device {
            session,
            facts,
            patterns,
        })
    }

    /// Read the managed state, the backup text and what the tables hold.
    pub async fn read(
        &mut self,
        owner: &Owner,
        fields: &FieldRules,
    ) -> anyhow::Result<(State, String, Holdings)> {
        crate::fortios::device::read_state(
            &mut self.session,
            &self.facts.scope,
            owner,
            fields,
            &self.patterns,
        )
        .await
    }

    /// Log out; returns the transcript (secrets redacted).
    pub async fn close(self) -> String {
        self.session.close().await
    }
}

/// Refuse a FortiManager-managed unit according to the target's `central_management`.
/// FortiManager deletes FortiGate objects its policy package does not reference when it
/// installs the package (Fortinet KB 412972), and a local CLI change puts the package out of
/// sync (KB 225438); in backup mode FortiManager only keeps copies (KB 379625).
pub fn check_central(t: &Target, c: &Central) -> anyhow::Result<()> {
    let policy = t.central_management;
    let fix = "set `central_management: allow` for this target only if FortiManager imports these objects \
               (or you checked by hand that the unit is not managed)";
    match (c, policy) {
        (_, CentralManagement::Allow) | (Central::Unmanaged { .. }, _) => Ok(()),
        (Central::Managed { backup: true, .. }, CentralManagement::AllowBackupMode) => Ok(()),
        (Central::Managed { fmg, backup }, _) => Err(Refused::new(format!(
            "target `{}` is managed by FortiManager{} (system central-management: type fortimanager, mode {}): \
             a policy-package install from FortiManager deletes FortiGate objects the package does not \
             reference (Fortinet KB 412972), and local CLI changes put the package out of sync (KB 225438). \
             Nothing was changed. Manage the blocklist in FortiManager, or {}{fix}",
            t.name,
            fmg.as_deref().map(|f| format!(" {f}")).unwrap_or_default(),
            if *backup { "backup" } else { "normal" },
            if *backup {
                "as the unit is in backup mode, set `central_management: allow-backup-mode`; or "
            } else {
                "switch the unit to backup mode and set `central_management: allow-backup-mode`; or "
            },
        ))
        .into()),
        (Central::Unknown { why }, _) => Err(Refused::new(format!(
            "target `{}`: blockops cannot tell whether FortiManager manages this unit ({why}), and \
             `central_management: {}` refuses what it cannot check. Nothing was changed. Give the \
             administrator read access to system settings (README, \"Least-privilege administrator\"), or {fix}",
            t.name,
            policy.as_str()
        ))
        .into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(extra: &str) -> Target {
        serde_yaml::from_str(&format!(
            "name: fw\nhost: 127.0.0.1\npassword: {{env: X}}\n{extra}"
        ))
        .unwrap()
    }

    #[test]
    fn central_management_policy() {
        let managed = |backup| Central::Managed {
            fmg: Some("192.0.2.10".into()),
            backup,
        };
        let unknown = Central::Unknown {
            why: "`get system central-management` was refused".into(),
        };
        let refuse = target("");
        let backup_ok = target("central_management: allow-backup-mode\n");
        let allow = target("central_management: allow\n");
        let refused = |t: &Target, c: &Central| {
            check_central(t, c)
                .err()
                .map(|e| e.downcast_ref::<Refused>().is_some())
        };
        let unmanaged = Central::Unmanaged {
            kind: "fortiguard".into(),
        };
        assert_eq!(refused(&refuse, &unmanaged), None);
        assert_eq!(refused(&refuse, &managed(false)), Some(true));
        assert_eq!(refused(&refuse, &managed(true)), Some(true));
        assert_eq!(refused(&refuse, &unknown), Some(true));
        assert_eq!(refused(&backup_ok, &managed(true)), None);
        assert_eq!(refused(&backup_ok, &managed(false)), Some(true));
        assert_eq!(refused(&backup_ok, &unknown), Some(true));
        assert_eq!(refused(&allow, &managed(false)), None);
        assert_eq!(refused(&allow, &unknown), None);
        let msg = check_central(&refuse, &managed(false))
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("192.0.2.10") && msg.contains("KB 412972"),
            "{msg}"
        );
    }
}
