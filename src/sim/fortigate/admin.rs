//! Who is logged in: the administrator's access profile and scope, and what FortiOS lets such
//! an administrator do.
//!
//! Facts (public sources): access profiles grant `none|read|read-write` per permission group,
//! `fwgrp custom` splits firewall rights into `address`, `policy`, … (FortiOS CLI reference
//! 6.2.6/7.4.6 `system accprofile`); from 7.4.2 a profile also gates whole CLI verbs with
//! `cli-get|cli-show|cli-exec|cli-config|cli-diagnose`, disabled on new profiles (FortiOS 7.4.0
//! New Features "CLI system permissions"). A restricted profile's prompt ends in `$`, a
//! full-rights one in `#` (Fortinet KB 406752). A VDOM-scoped administrator lands in its VDOM
//! (prompt `HOST $ `) and gets `command parse error before 'console'` / `Command fail. Return
//! code -61` for a global command (netmiko issue #3353 transcript). Denial texts for commands a
//! profile may not run are not public: they come from `errors.rs` rows chosen by [`Denial`].
use std::collections::BTreeSet;

use super::errors::{CliError, ErrorKind};

/// The access profile of the logged-in administrator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AccessProfile {
    /// `super_admin`: everything, prompt `#`.
    #[default]
    SuperAdmin,
    /// The least-privilege profile the README recommends: `fwgrp custom` with `address
    /// read-write`, every other group `none`; 7.4.2+ `cli-get/cli-show/cli-config enable`.
    FirewallObjects,
    /// Every permission group `read`.
    ReadOnly,
}

impl AccessProfile {
    /// The name used by `--admin-profile` and in `get system status`-like output.
    pub fn name(self) -> &'static str {
        match self {
            AccessProfile::SuperAdmin => "super_admin",
            AccessProfile::FirewallObjects => "firewall-objects",
            AccessProfile::ReadOnly => "read-only",
        }
    }

    /// Parse a `--admin-profile` value.
    pub fn parse(s: &str) -> Option<AccessProfile> {
        [
            AccessProfile::SuperAdmin,
            AccessProfile::FirewallObjects,
            AccessProfile::ReadOnly,
        ]
        .into_iter()
        .find(|p| p.name() == s)
    }
}

/// Which `errors.rs` rows a refused command prints ([U]: the real texts are screenshots only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Denial {
    /// Writing with read access: `Permission denied` (-37); a group the profile has no access
    /// to: `Permission denied. Insufficient privileges` (-14) — the two permission codes in the
    /// hfortix-fortios error table (hfortix_core/exceptions.py).
    #[default]
    Permission,
    /// The command does not exist for this administrator: `command parse error before
    /// '<token>'` (-61), as for a VDOM administrator's global commands.
    ParseError,
}

/// Read or write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Access {
    None,
    Read,
    Write,
}

/// The permission group a command belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Area {
    /// `sysgrp`: console, central management, resource limits, VDOM properties.
    System,
    /// `fwgrp` → `address`: addresses and their groups (and wildcard FQDNs) [U for groups].
    Address,
    /// `fwgrp` → `policy`.
    Policy,
}

/// The logged-in administrator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminOptions {
    pub profile: AccessProfile,
    /// The VDOM of a VDOM-scoped administrator (multi-VDOM devices only): the session starts
    /// inside it and may not leave it, `config global` and `config vdom` do not exist.
    pub vdom: Option<String>,
    /// 7.4.2+ `cli-exec` (`execute …`, including `execute config-transaction`): `None` = the
    /// profile's default (enabled for super_admin, disabled on new restricted profiles).
    pub cli_exec: Option<bool>,
    /// 7.4.2+ `cli-diagnose` (`diagnose …`): `None` = the profile's default.
    pub cli_diagnose: Option<bool>,
    /// `get/show system <x>` a profile without system read access may still run. Public
    /// sources only show a VDOM administrator running `get system status` (netmiko #3353);
    /// whether `console`, `central-management` … are readable is unknown, hence a switch.
    pub system_reads: BTreeSet<String>,
    pub denial: Denial,
}

impl Default for AdminOptions {
    fn default() -> Self {
        AdminOptions {
            profile: AccessProfile::SuperAdmin,
            vdom: None,
            cli_exec: None,
            cli_diagnose: None,
            system_reads: ["status", "console"]
                .into_iter()
                .map(String::from)
                .collect(),
            denial: Denial::Permission,
        }
    }
}

impl AdminOptions {
    /// An administrator with `profile` and the defaults for everything else.
    pub fn with_profile(profile: AccessProfile) -> AdminOptions {
        AdminOptions {
            profile,
            ..AdminOptions::default()
        }
    }

    /// True for any profile short of `super_admin` (prompt `$`).
    pub fn restricted(&self) -> bool {
        self.profile != AccessProfile::SuperAdmin
    }

    /// The prompt terminator: `#` for full rights, `$` otherwise (KB 406752).
    pub fn prompt_sign(&self) -> char {
        if self.restricted() { '$' } else { '#' }
    }

    /// What the profile grants in `area`.
    pub fn access(&self, area: Area) -> Access {
        match (self.profile, area) {
            (AccessProfile::SuperAdmin, _) => Access::Write,
            (AccessProfile::FirewallObjects, Area::Address) => Access::Write,
            (AccessProfile::FirewallObjects, _) => Access::None,
            (AccessProfile::ReadOnly, _) => Access::Read,
        }
    }

    /// Whether `execute …` is allowed.
    pub fn may_exec(&self) -> bool {
        self.cli_exec.unwrap_or(!self.restricted())
    }

    /// Whether `diagnose …` is allowed.
    pub fn may_diagnose(&self) -> bool {
        self.cli_diagnose.unwrap_or(!self.restricted())
    }

    /// Refuse unless the profile grants at least `need` in `area`; `tok` is the word the
    /// refusal names.
    pub fn require(&self, area: Area, need: Access, tok: &str) -> Result<(), CliError> {
        let have = self.access(area);
        if have >= need {
            return Ok(());
        }
        Err(self.deny(have > Access::None, tok))
    }

    /// The refusal for a command this administrator may not run (`had_read`: it may read but
    /// not write).
    pub fn deny(&self, had_read: bool, tok: &str) -> CliError {
        match (self.denial, had_read) {
            (Denial::ParseError, _) => CliError::new(ErrorKind::CommandParse, tok),
            (Denial::Permission, true) => CliError::new(ErrorKind::PermissionDenied, tok),
            (Denial::Permission, false) => CliError::new(ErrorKind::NoAccess, tok),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_grant_what_they_say() {
        let fw = AdminOptions::with_profile(AccessProfile::FirewallObjects);
        assert!(fw.require(Area::Address, Access::Write, "x").is_ok());
        assert_eq!(
            fw.require(Area::System, Access::Read, "console")
                .map_err(|e| e.code()),
            Err(-14)
        );
        assert!(!fw.may_exec());
        assert_eq!(fw.prompt_sign(), '$');
        let ro = AdminOptions::with_profile(AccessProfile::ReadOnly);
        assert_eq!(
            ro.require(Area::Address, Access::Write, "set")
                .map_err(|e| e.code()),
            Err(-37)
        );
        let su = AdminOptions::default();
        assert!(su.may_exec() && su.prompt_sign() == '#');
        assert_eq!(
            AccessProfile::parse("read-only"),
            Some(AccessProfile::ReadOnly)
        );
        let hidden = AdminOptions {
            denial: Denial::ParseError,
            ..fw
        };
        assert_eq!(
            hidden
                .require(Area::Policy, Access::Read, "policy")
                .map_err(|e| e.lines()),
            Err(vec![
                "command parse error before 'policy'".to_string(),
                "Command fail. Return code -61".to_string()
            ])
        );
    }
}
