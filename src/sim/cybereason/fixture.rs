//! The simulator's data as a user writes it: a YAML fixture (documented in
//! `docs/cybereason-sim.md`) with connections, domains, addresses, reputations and MalOps with
//! their analyst status. [`super::elements`] turns it into what the simulator serves. Its types
//! are the simulator's own; nothing here is shared with the client.
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The fixture shipped with blockops, served when `--data` is not given.
pub const DEFAULT_FIXTURE: &str = include_str!("../../../fixtures/cybereason/default.yaml");

/// A fixture file.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fixture {
    /// Reputation list rows (`classification/download`).
    #[serde(default)]
    pub reputations: Vec<FixtureReputation>,
    /// `Connection` elements.
    #[serde(default)]
    pub connections: Vec<FixtureConnection>,
    /// `DomainName` elements.
    #[serde(default)]
    pub domains: Vec<FixtureDomain>,
    /// `IpAddress` elements.
    #[serde(default)]
    pub ip_addresses: Vec<FixtureIp>,
    /// MalOps (`detection/inbox`, `mmng/v2/malops`, `crimes/unified`, `detection/details`).
    #[serde(default)]
    pub malops: Vec<FixtureMalop>,
}

/// One reputation row.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixtureReputation {
    pub key: String,
    #[serde(default = "blacklist")]
    pub reputation: String,
    #[serde(default)]
    pub prevent: bool,
    #[serde(default)]
    pub comment: String,
}

fn blacklist() -> String {
    "blacklist".into()
}

/// A time: epoch milliseconds, RFC 3339 text, or relative to simulator start (`-2d`, `-90m`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum FixtureTime {
    Millis(i64),
    Text(String),
}

impl Default for FixtureTime {
    fn default() -> Self {
        FixtureTime::Text("-1h".into())
    }
}

/// Milliseconds in `N` + unit (`s`, `m`, `h`, `d`, `w`; `ms` too): how fixtures say "ago".
/// The simulator's own reading, independent of the client's configuration durations.
fn ago_ms(rel: &str) -> Result<i64, String> {
    let split = rel.find(|c: char| !c.is_ascii_digit()).unwrap_or(rel.len());
    let (num, unit) = rel.split_at(split);
    let n: i64 = num
        .parse()
        .map_err(|_| format!("`{rel}` is not a number followed by ms, s, m, h, d or w"))?;
    let unit_ms: i64 = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        "w" => 7 * 86_400_000,
        _ => return Err(format!("`{rel}`: the unit must be ms, s, m, h, d or w")),
    };
    n.checked_mul(unit_ms)
        .ok_or_else(|| format!("`{rel}` is too long"))
}

impl FixtureTime {
    /// Resolve to epoch milliseconds given "now".
    pub fn resolve(&self, now_ms: i64) -> Result<i64, String> {
        match self {
            FixtureTime::Millis(ms) => Ok(*ms),
            FixtureTime::Text(t) => {
                let t = t.trim();
                if let Some(rel) = t.strip_prefix('-') {
                    Ok(now_ms - ago_ms(rel).map_err(|e| format!("`{t}`: {e}"))?)
                } else {
                    let dt = time::OffsetDateTime::parse(
                        t,
                        &time::format_description::well_known::Rfc3339,
                    )
                    .map_err(|e| {
                        format!("`{t}` is not an RFC 3339 time, epoch ms or `-DUR`: {e}")
                    })?;
                    Ok((dt.unix_timestamp_nanos() / 1_000_000) as i64)
                }
            }
        }
    }
}

/// One connection.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixtureConnection {
    /// Element GUID (generated when absent).
    #[serde(default)]
    pub guid: Option<String>,
    /// Local `ip:port`.
    #[serde(default = "default_local")]
    pub local: String,
    /// Remote address (the `remoteAddress` IpAddress element name).
    pub remote: String,
    #[serde(default = "default_port")]
    pub remote_port: u16,
    /// The domain the connection went to (served per `Quirks::domain_form`).
    #[serde(default)]
    pub domain: Option<String>,
    /// `creationTime`.
    #[serde(default)]
    pub time: FixtureTime,
    /// `remoteAddressMaliciousClassificationType` (absent = not classified).
    #[serde(default)]
    pub classification: Option<String>,
    /// `ownerMachine` name.
    #[serde(default = "default_machine")]
    pub machine: String,
    /// MalOps this connection belongs to (an EDR MalOp's process chain, or an EPP MalOp's
    /// `detection/details` connections).
    #[serde(default)]
    pub malops: Vec<String>,
    /// Extra simple features, served as strings (`ownerProcess` names the owner process).
    #[serde(default)]
    pub features: BTreeMap<String, serde_yaml::Value>,
}

fn default_local() -> String {
    "10.0.0.5:50394".into()
}
fn default_port() -> u16 {
    443
}
fn default_machine() -> String {
    "WS-0001".into()
}

/// One domain name.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixtureDomain {
    #[serde(default)]
    pub guid: Option<String>,
    pub name: String,
    /// `maliciousClassificationType`.
    #[serde(default)]
    pub classification: Option<String>,
    #[serde(default)]
    pub malops: Vec<String>,
    #[serde(default)]
    pub features: BTreeMap<String, serde_yaml::Value>,
}

/// One IP address element.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixtureIp {
    #[serde(default)]
    pub guid: Option<String>,
    pub address: String,
    #[serde(default)]
    pub classification: Option<String>,
    #[serde(default)]
    pub malops: Vec<String>,
}

/// One MalOp. Its analyst status is `management_status` (the crimes/unified and metadata
/// value); the inbox/mmng `status`, the `closed` flag and `investigation_status` follow from
/// it unless given (see `docs/cybereason-sim.md` for the mapping).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixtureMalop {
    pub guid: String,
    #[serde(default = "default_malop_name")]
    pub name: String,
    #[serde(default)]
    pub created: FixtureTime,
    #[serde(default)]
    pub updated: Option<FixtureTime>,
    /// UNREAD | TODO | OPEN | CLOSED | FP | REOPEN | RESOLVED.
    #[serde(default)]
    pub management_status: Option<String>,
    /// Inbox / mmng `status`: Active | Remediated | Closed | Excluded.
    #[serde(default)]
    pub status: Option<String>,
    /// Inbox `closed` flag (XSOAR's sample has `status: Active` with `closed: true`).
    #[serde(default)]
    pub closed: Option<bool>,
    /// mmng `investigationStatus`: Pending | UnderInvestigation | OnHold | Reopened | Closed.
    #[serde(default)]
    pub investigation_status: Option<String>,
    #[serde(default = "default_severity")]
    pub severity: String,
    /// `detectionType` / `malopDetectionType`.
    #[serde(default = "default_detection")]
    pub detection_type: String,
    #[serde(default)]
    pub machines: Vec<String>,
    #[serde(default)]
    pub users: Vec<String>,
    /// AI-Hunt (EDR) MalOp: has a process chain and a crimes/unified row. `false` = an EPP
    /// (anti-malware) MalOp, visible in the inbox, mmng and `detection/details` only.
    #[serde(default = "yes")]
    pub edr: bool,
    /// `detectionEngines` (default `[EDR]` for EDR MalOps, `[AntiVirus]` otherwise; XSOAR has
    /// a sample with `[EDR]` and `edr: false`).
    #[serde(default)]
    pub engines: Option<Vec<String>>,
    /// Root cause element name (default: the MalOp name).
    #[serde(default)]
    pub root_cause: Option<String>,
}

fn default_malop_name() -> String {
    "Connection to malicious address".into()
}
fn default_severity() -> String {
    "High".into()
}
fn default_detection() -> String {
    "BLACKLIST".into()
}
fn yes() -> bool {
    true
}

/// A MalOp's analyst status: crimes/unified `managementStatus`, the mmng metadata `status`
/// and what `crimes/status` sets (console Unread, To Review, Open, Remediated, Not Relevant;
/// XSOAR `STATUS_MAP`, PyPI `cybereason` schema).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Management {
    Unread,
    Todo,
    Open,
    Closed,
    Fp,
    Reopen,
    Resolved,
}

impl Management {
    pub const ALL: [Management; 7] = [
        Management::Unread,
        Management::Todo,
        Management::Open,
        Management::Closed,
        Management::Fp,
        Management::Reopen,
        Management::Resolved,
    ];

    /// The wire value.
    pub fn as_str(self) -> &'static str {
        match self {
            Management::Unread => "UNREAD",
            Management::Todo => "TODO",
            Management::Open => "OPEN",
            Management::Closed => "CLOSED",
            Management::Fp => "FP",
            Management::Reopen => "REOPEN",
            Management::Resolved => "RESOLVED",
        }
    }

    /// Read a wire value (any case).
    pub fn parse(v: &str) -> Result<Management, String> {
        Management::ALL
            .into_iter()
            .find(|m| m.as_str().eq_ignore_ascii_case(v.trim()))
            .ok_or_else(|| {
                let all: Vec<&str> = Management::ALL.iter().map(|m| m.as_str()).collect();
                format!("management_status `{v}` is not one of {}", all.join(", "))
            })
    }

    /// An analyst ended it (remediated, resolved or not relevant).
    pub fn is_closed(self) -> bool {
        matches!(
            self,
            Management::Closed | Management::Fp | Management::Resolved
        )
    }

    /// Inbox status, `closed` flag and investigation status that go with it [U: no public
    /// source maps them].
    pub(super) fn derived(self) -> (&'static str, bool, &'static str) {
        match self {
            Management::Unread | Management::Todo => ("Active", false, "Pending"),
            Management::Open => ("Active", false, "UnderInvestigation"),
            Management::Reopen => ("Active", false, "Reopened"),
            Management::Fp => ("Closed", true, "Closed"),
            Management::Closed | Management::Resolved => ("Remediated", true, "Closed"),
        }
    }
}

/// Inbox `status` / `malopStatus` and mmng/v2 item `status` values.
pub const INBOX_STATUSES: [&str; 4] = ["Active", "Remediated", "Closed", "Excluded"];
/// mmng `investigationStatus` values (PyPI `cybereason` schema).
pub const INVESTIGATION_STATUSES: [&str; 5] = [
    "Pending",
    "UnderInvestigation",
    "OnHold",
    "Reopened",
    "Closed",
];

pub use super::elements::{
    FixtureError, SimData, SimElement, SimMalop, SimRef, SimReputation, is_internal,
};

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn default_fixture_parses_and_builds() {
        let f = Fixture::parse(DEFAULT_FIXTURE).unwrap();
        let d = f.build(1_800_000_000_000).unwrap();
        assert!(!d.reputations.is_empty());
        assert!(!d.elements["Connection"].is_empty());
        assert!(!d.elements["DomainName"].is_empty());
        // The demo shows every kind of MalOp: open, closed, false positive and EPP.
        let statuses: BTreeSet<&str> = d
            .malops
            .values()
            .map(|m| m.management_status.as_str())
            .collect();
        for s in ["OPEN", "CLOSED", "FP"] {
            assert!(statuses.contains(s), "{statuses:?}");
        }
        assert!(d.malops.values().any(|m| !m.edr));
    }

    #[test]
    fn relative_and_absolute_times() {
        let now = 1_000_000_000_000;
        assert_eq!(
            FixtureTime::Text("-1d".into()).resolve(now).unwrap(),
            now - 86_400_000
        );
        assert_eq!(FixtureTime::Millis(5).resolve(now).unwrap(), 5);
        assert_eq!(
            FixtureTime::Text("2024-06-01T00:00:00Z".into())
                .resolve(now)
                .unwrap(),
            1_717_200_000_000
        );
        assert!(FixtureTime::Text("yesterday".into()).resolve(now).is_err());
    }

    #[test]
    fn unknown_malop_reference_is_an_error() {
        let f = Fixture::parse("connections:\n- remote: 203.0.113.1\n  malops: [nope]\n").unwrap();
        assert!(f.build(0).unwrap_err().to_string().contains("nope"));
    }

    #[test]
    fn malop_statuses_follow_the_analyst_status_unless_given() {
        let f = Fixture::parse(
            "malops:\n\
             - {guid: a}\n\
             - {guid: b, management_status: fp}\n\
             - {guid: c, status: Remediated}\n\
             - {guid: d, status: Active, closed: true}\n\
             - {guid: e, management_status: OPEN, investigation_status: onhold, edr: false}\n",
        )
        .unwrap();
        let d = f.build(0).unwrap();
        let m = |g: &str| {
            let m = &d.malops[g];
            (
                m.management_status.as_str(),
                m.status.as_str(),
                m.closed,
                m.investigation_status.as_str(),
            )
        };
        assert_eq!(m("a"), ("UNREAD", "Active", false, "Pending"));
        assert_eq!(m("b"), ("FP", "Closed", true, "Closed"));
        assert_eq!(m("c"), ("CLOSED", "Remediated", true, "Closed"));
        assert_eq!(m("d"), ("UNREAD", "Active", true, "Pending"));
        assert_eq!(m("e"), ("OPEN", "Active", false, "OnHold"));
        assert_eq!(d.malops["e"].engines, ["AntiVirus"]);
        for bad in [
            "malops:\n- {guid: x, management_status: DONE}\n",
            "malops:\n- {guid: x, status: Open}\n",
            "malops:\n- {guid: x}\n- {guid: x}\n",
        ] {
            assert!(Fixture::parse(bad).unwrap().build(0).is_err(), "{bad}");
        }
    }

    #[test]
    fn internal_addresses() {
        for a in ["10.1.2.3", "192.168.0.1", "127.0.0.1", "fd00::1", "fe80::1"] {
            assert!(is_internal(a), "{a}");
        }
        for a in ["203.0.113.9", "2001:db8::1", "not-an-ip"] {
            assert!(!is_internal(a), "{a}");
        }
    }
}
