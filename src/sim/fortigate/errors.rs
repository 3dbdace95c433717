//! The simulated FortiOS error catalogue: one table of message texts and return codes.
//!
//! FortiOS reports failures as text followed by `Command fail. Return code N`
//! (ansible-galaxy-fortios-collection issue #381 shows `Command fail. Return code -672`;
//! ansible/ansible issue #68497 the `<code>: <command>` lines of `diagnose debug cli 8`).
//! Texts nobody has published are plausible inventions (marked [U] here and in
//! docs/fortigate-sim.md); keeping them in one table makes them easy to correct when a real
//! device says otherwise.

/// Kinds of failure the simulator reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Unknown command or keyword.
    CommandParse,
    /// Malformed IPv4/IPv6 address.
    InvalidIp,
    /// Malformed or non-contiguous netmask / prefix length.
    InvalidNetmask,
    /// Any other bad value (enum, number, string too long).
    InvalidValue,
    /// `set member` names an object that does not exist in the allowed tables.
    NotInDatasource,
    /// Table or group member limit reached.
    MaxEntries,
    /// `delete` of an object still referenced by a group or a policy.
    InUse,
    /// Command stops before a required word.
    Incomplete,
    /// `next`/`end` on an object missing a required attribute (a group without members).
    MustBeSet,
    /// `edit` of a new name already used by another table sharing the namespace.
    Duplicate,
    /// The entry to delete/rename does not exist.
    EntryNotFound,
    /// Command not allowed in this context (e.g. `config vdom` with VDOMs disabled).
    NotAllowed,
    /// Setting that cannot change inside `execute config-transaction` (console).
    NotInTransaction,
    /// The administrator may read but not write this (access profile `read`).
    PermissionDenied,
    /// The administrator's profile has no access to this permission group.
    NoAccess,
    /// The object is locked by another session's `execute config-transaction`.
    Locked,
    /// A factory object FortiOS keeps read-only (`FABRIC_DEVICE`).
    ReadOnlyEntry,
}

/// One row of the catalogue: message lines (`{tok}` and `{n}` are substituted) and the code.
pub struct Row {
    pub kind: ErrorKind,
    pub lines: &'static [&'static str],
    pub code: i32,
}

/// The catalogue. -61 for mistyped commands is documented by scrapli_community's FortiOS
/// driver (`sync_driver.py`) and netmiko issue #3353; -3/-4/-160 by third-party lab notes; the
/// texts and the other codes are [U].
pub const CATALOGUE: &[Row] = &[
    Row {
        kind: ErrorKind::CommandParse,
        lines: &["command parse error before '{tok}'"],
        code: -61,
    },
    Row {
        kind: ErrorKind::InvalidIp,
        lines: &["value parse error before '{tok}'"],
        code: -8,
    },
    Row {
        kind: ErrorKind::InvalidNetmask,
        lines: &["value parse error before '{tok}'"],
        code: -9,
    },
    Row {
        kind: ErrorKind::InvalidValue,
        lines: &["value parse error before '{tok}'"],
        code: -651,
    },
    Row {
        kind: ErrorKind::NotInDatasource,
        lines: &[
            "entry not found in datasource",
            "",
            "value parse error before '{tok}'",
        ],
        code: -3,
    },
    Row {
        kind: ErrorKind::MaxEntries,
        lines: &["Maximum number of entries has been reached"],
        code: -4,
    },
    Row {
        kind: ErrorKind::InUse,
        lines: &["The entry is used by other {n} entries"],
        code: -23,
    },
    Row {
        kind: ErrorKind::Incomplete,
        lines: &["incomplete command"],
        code: -160,
    },
    Row {
        kind: ErrorKind::MustBeSet,
        lines: &["Attribute '{tok}' MUST be set."],
        code: -56,
    },
    Row {
        kind: ErrorKind::Duplicate,
        lines: &["A duplicate entry already exists."],
        code: -5,
    },
    Row {
        kind: ErrorKind::EntryNotFound,
        lines: &["entry not found"],
        code: -3,
    },
    Row {
        kind: ErrorKind::NotAllowed,
        lines: &["command parse error before '{tok}'"],
        code: -61,
    },
    Row {
        kind: ErrorKind::NotInTransaction,
        lines: &["'{tok}' cannot be configured in a config transaction"],
        code: -1,
    },
    // -37 / -14: the two permission codes of the hfortix-fortios error table
    // (hfortix_core/exceptions.py); that the CLI prints their descriptions is [U].
    Row {
        kind: ErrorKind::PermissionDenied,
        lines: &["Permission denied"],
        code: -37,
    },
    Row {
        kind: ErrorKind::NoAccess,
        lines: &["Permission denied. Insufficient privileges"],
        code: -14,
    },
    // Workspace mode shows "a warning message" for an object locked by another transaction
    // (FortiOS admin guide "Workspace mode"); its text and code are [U].
    Row {
        kind: ErrorKind::Locked,
        lines: &["'{tok}' is being configured in another config transaction"],
        code: -160,
    },
    Row {
        kind: ErrorKind::ReadOnlyEntry,
        lines: &["'{tok}' is a read-only entry"],
        code: -37,
    },
];

/// A failure with the values substituted into its message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CliError {
    pub kind: ErrorKind,
    /// The offending word, as typed.
    pub tok: String,
    /// A count (number of referencing entries).
    pub n: usize,
    /// Overrides (used by injected faults).
    pub custom: Option<(Vec<String>, i32)>,
}

impl CliError {
    /// A failure of `kind` about word `tok`.
    pub fn new(kind: ErrorKind, tok: impl Into<String>) -> Self {
        CliError {
            kind,
            tok: tok.into(),
            n: 0,
            custom: None,
        }
    }

    /// A failure with explicit text and code (fault injection).
    pub fn custom(message: &str, code: i32) -> Self {
        CliError {
            kind: ErrorKind::CommandParse,
            tok: String::new(),
            n: 0,
            custom: Some((message.lines().map(str::to_string).collect(), code)),
        }
    }

    /// Same failure with a count.
    pub fn with_n(mut self, n: usize) -> Self {
        self.n = n;
        self
    }

    /// The return code.
    pub fn code(&self) -> i32 {
        if let Some((_, code)) = &self.custom {
            return *code;
        }
        row(self.kind).map_or(-1, |r| r.code)
    }

    /// Lines printed for this failure, ending with the `Command fail` trailer.
    pub fn lines(&self) -> Vec<String> {
        let mut out: Vec<String> = match &self.custom {
            Some((lines, _)) => lines.clone(),
            None => row(self.kind)
                .map(|r| {
                    r.lines
                        .iter()
                        .map(|l| {
                            l.replace("{tok}", &self.tok)
                                .replace("{n}", &self.n.to_string())
                        })
                        .collect()
                })
                .unwrap_or_default(),
        };
        out.push(format!("Command fail. Return code {}", self.code()));
        out
    }
}

fn row(kind: ErrorKind) -> Option<&'static Row> {
    CATALOGUE.iter().find(|r| r.kind == kind)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_a_row_and_a_trailer() {
        let e = CliError::new(ErrorKind::NotInDatasource, "x");
        assert_eq!(
            e.lines(),
            [
                "entry not found in datasource",
                "",
                "value parse error before 'x'",
                "Command fail. Return code -3"
            ]
        );
        assert_eq!(
            CliError::new(ErrorKind::InUse, "a").with_n(2).lines()[0],
            "The entry is used by other 2 entries"
        );
        assert_eq!(
            CliError::custom("boom", -7).lines(),
            ["boom", "Command fail. Return code -7"]
        );
    }

    #[test]
    fn catalogue_covers_every_kind() {
        use ErrorKind::*;
        for k in [
            CommandParse,
            InvalidIp,
            InvalidNetmask,
            InvalidValue,
            NotInDatasource,
            MaxEntries,
            InUse,
            Incomplete,
            MustBeSet,
            Duplicate,
            EntryNotFound,
            NotAllowed,
            NotInTransaction,
            PermissionDenied,
            NoAccess,
            Locked,
            ReadOnlyEntry,
        ] {
            assert!(row(k).is_some(), "{k:?} has no catalogue row");
        }
    }
}
