//! The simulator's data: a YAML fixture (documented in `docs/cybereason-sim.md`) turned into
//! generic visual-search elements, the reputation list and MalOps with their analyst status.
//! Its types are the simulator's own; nothing here is shared with the client.
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

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

impl FixtureTime {
    /// Resolve to epoch milliseconds given "now".
    pub fn resolve(&self, now_ms: i64) -> Result<i64, String> {
        match self {
            FixtureTime::Millis(ms) => Ok(*ms),
            FixtureTime::Text(t) => {
                let t = t.trim();
                if let Some(rel) = t.strip_prefix('-') {
                    let d: crate::config::Dur = rel.parse()?;
                    let ms =
                        i64::try_from(d.0.as_millis()).map_err(|_| format!("`{t}` is too long"))?;
                    Ok(now_ms - ms)
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
    fn derived(self) -> (&'static str, bool, &'static str) {
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

/// A link from one element to another (an `elementValues` entry).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SimRef {
    pub element_type: String,
    pub guid: String,
    pub name: String,
    pub has_suspicions: bool,
    pub has_malops: bool,
}

/// A visual-search element as the simulator stores it.
#[derive(Debug, Clone, Default)]
pub struct SimElement {
    pub element_type: String,
    pub guid: String,
    /// Simple features; values are strings, as on the wire.
    pub simple: BTreeMap<String, Vec<String>>,
    /// Element features.
    pub links: BTreeMap<String, Vec<SimRef>>,
    pub malicious: bool,
    /// Classification behind `malicious` (names the suspicion).
    pub classification: Option<String>,
    /// Sort key (creation time in ms, 0 when the element has none).
    pub time: i64,
    pub malops: Vec<String>,
    /// Connection: the domain it went to (rendered per `Quirks::domain_form`).
    pub domain: Option<String>,
    /// Connection: the remote address (names `dnsQuery` elements).
    pub remote: Option<String>,
}

/// A reputation row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimReputation {
    pub key: String,
    pub reputation: String,
    pub prevent: bool,
    pub comment: String,
}

/// A MalOp with resolved times and statuses.
#[derive(Debug, Clone)]
pub struct SimMalop {
    pub guid: String,
    pub name: String,
    pub created: i64,
    pub updated: i64,
    pub management_status: Management,
    pub status: String,
    pub closed: bool,
    pub investigation_status: String,
    pub severity: String,
    pub detection_type: String,
    pub machines: Vec<String>,
    pub users: Vec<String>,
    pub edr: bool,
    pub engines: Vec<String>,
    pub root_cause: String,
}

impl SimMalop {
    /// Set the analyst status and everything that follows from it (as a console action does).
    pub fn set_management_status(&mut self, management: &str) -> Result<(), String> {
        let m = Management::parse(management)?;
        let (status, closed, investigation) = m.derived();
        self.management_status = m;
        self.status = status.into();
        self.closed = closed;
        self.investigation_status = investigation.into();
        Ok(())
    }
}

/// The analyst status an inbox status implies when only that is given.
fn management_of(status: &str) -> Management {
    match status {
        "Remediated" | "Closed" => Management::Closed,
        "Excluded" => Management::Fp,
        _ => Management::Unread,
    }
}

fn canonical<'a>(v: &str, allowed: &[&'a str], what: &str) -> Result<&'a str, String> {
    allowed
        .iter()
        .find(|a| a.eq_ignore_ascii_case(v.trim()))
        .copied()
        .ok_or_else(|| format!("{what} `{v}` is not one of {}", allowed.join(", ")))
}

/// Everything the server answers from.
#[derive(Debug, Clone, Default)]
pub struct SimData {
    /// Elements by type, sorted by time then GUID (MalopProcess rows are made from `malops`).
    pub elements: BTreeMap<String, Vec<SimElement>>,
    /// Reputation rows by key.
    pub reputations: BTreeMap<String, SimReputation>,
    /// MalOps by GUID.
    pub malops: BTreeMap<String, SimMalop>,
}

/// A fixture that does not make sense.
#[derive(Debug, thiserror::Error)]
pub enum FixtureError {
    #[error("fixture: {0}")]
    Yaml(#[from] serde_yaml::Error),
    #[error("fixture: {0}")]
    Invalid(String),
}

impl Fixture {
    /// Parse fixture YAML.
    pub fn parse(text: &str) -> Result<Fixture, FixtureError> {
        Ok(serde_yaml::from_str(text)?)
    }

    /// The shipped default fixture.
    pub fn default_fixture() -> Fixture {
        // The shipped file is checked by a unit test; fall back to empty rather than panic.
        Fixture::parse(DEFAULT_FIXTURE).unwrap_or_default()
    }

    /// Turn into the server's data model; relative times are resolved against `now_ms`.
    pub fn build(&self, now_ms: i64) -> Result<SimData, FixtureError> {
        let mut data = SimData::default();
        let bad = FixtureError::Invalid;
        for r in &self.reputations {
            data.reputations.insert(
                r.key.clone(),
                SimReputation {
                    key: r.key.clone(),
                    reputation: r.reputation.clone(),
                    prevent: r.prevent,
                    comment: r.comment.clone(),
                },
            );
        }
        for m in &self.malops {
            let sm = malop(m, now_ms).map_err(|e| bad(format!("malop {}: {e}", m.guid)))?;
            if data.malops.insert(m.guid.clone(), sm).is_some() {
                return Err(bad(format!("malop guid `{}` is used twice", m.guid)));
            }
        }
        let check_malops = |what: &str, ms: &[String]| -> Result<(), FixtureError> {
            match ms.iter().find(|g| !data.malops.contains_key(g.as_str())) {
                Some(g) => Err(bad(format!("{what} refers to unknown malop `{g}`"))),
                None => Ok(()),
            }
        };
        let mut conns = Vec::with_capacity(self.connections.len());
        for (i, c) in self.connections.iter().enumerate() {
            let what = format!("connection {} ({})", i + 1, c.remote);
            check_malops(&what, &c.malops)?;
            conns.push(connection(c, i, now_ms).map_err(|e| bad(format!("{what}: {e}")))?);
        }
        let mut domains = Vec::new();
        for (i, d) in self.domains.iter().enumerate() {
            check_malops(&format!("domain {}", d.name), &d.malops)?;
            domains.push(domain(d, i));
        }
        let mut ips = Vec::new();
        for (i, a) in self.ip_addresses.iter().enumerate() {
            check_malops(&format!("ip address {}", a.address), &a.malops)?;
            ips.push(ip_address(a, i));
        }
        for (ty, mut v) in [
            ("Connection", conns),
            ("DomainName", domains),
            ("IpAddress", ips),
        ] {
            let mut seen = BTreeSet::new();
            for e in &v {
                if !seen.insert(e.guid.clone()) {
                    return Err(bad(format!("{ty} guid `{}` is used twice", e.guid)));
                }
            }
            v.sort_by(|a, b| a.time.cmp(&b.time).then_with(|| a.guid.cmp(&b.guid)));
            data.elements.insert(ty.to_string(), v);
        }
        Ok(data)
    }
}

fn malop(m: &FixtureMalop, now_ms: i64) -> Result<SimMalop, String> {
    let created = m.created.resolve(now_ms)?;
    let updated = match &m.updated {
        Some(t) => t.resolve(now_ms)?,
        None => created,
    };
    let status = m
        .status
        .as_deref()
        .map(|s| canonical(s, &INBOX_STATUSES, "status"))
        .transpose()?;
    let management = match (&m.management_status, status) {
        (Some(ms), _) => Management::parse(ms)?,
        (None, Some(s)) => management_of(s),
        (None, None) => Management::Unread,
    };
    let (d_status, d_closed, d_investigation) = management.derived();
    let investigation = match &m.investigation_status {
        Some(s) => canonical(s, &INVESTIGATION_STATUSES, "investigation_status")?,
        None => d_investigation,
    };
    let engines = m
        .engines
        .clone()
        .unwrap_or_else(|| vec![if m.edr { "EDR" } else { "AntiVirus" }.to_string()]);
    Ok(SimMalop {
        guid: m.guid.clone(),
        name: m.name.clone(),
        created,
        updated,
        management_status: management,
        status: status.unwrap_or(d_status).into(),
        closed: m.closed.unwrap_or(d_closed),
        investigation_status: investigation.into(),
        severity: m.severity.clone(),
        detection_type: m.detection_type.clone(),
        machines: m.machines.clone(),
        users: m.users.clone(),
        edr: m.edr,
        engines,
        root_cause: m.root_cause.clone().unwrap_or_else(|| m.name.clone()),
    })
}

/// True for addresses a sensor reports as not external (private, loopback, link-local, ULA).
pub fn is_internal(addr: &str) -> bool {
    match addr.parse::<IpAddr>() {
        Ok(IpAddr::V4(a)) => a.is_private() || a.is_loopback() || a.is_link_local(),
        Ok(IpAddr::V6(a)) => {
            a.is_loopback()
                || (a.segments()[0] & 0xfe00) == 0xfc00
                || (a.segments()[0] & 0xffc0) == 0xfe80
        }
        Err(_) => false,
    }
}

fn connection(c: &FixtureConnection, i: usize, now_ms: i64) -> Result<SimElement, String> {
    let time = c.time.resolve(now_ms)?;
    let guid = c
        .guid
        .clone()
        .unwrap_or_else(|| format!("conn-{:06}", i + 1));
    let remote_fmt = if c.remote.contains(':') {
        format!("[{}]:{}", c.remote, c.remote_port)
    } else {
        format!("{}:{}", c.remote, c.remote_port)
    };
    let local_ip = c.local.rsplit_once(':').map(|(a, _)| a).unwrap_or(&c.local);
    let external = !is_internal(&c.remote);
    let malicious = c.classification.is_some();
    let mut simple = BTreeMap::new();
    let mut put = |k: &str, v: String| {
        simple.insert(k.to_string(), vec![v]);
    };
    put(
        "elementDisplayName",
        format!("{} > {}", c.local, remote_fmt),
    );
    put("remotePort", c.remote_port.to_string());
    if let Some((_, p)) = c.local.rsplit_once(':') {
        put("localPort", p.to_string());
    }
    put("creationTime", time.to_string());
    put("calculatedCreationTime", time.to_string());
    put("endTime", (time + 61_000).to_string());
    put("direction", "OUTGOING".into());
    put("transportProtocol", "TCP".into());
    put("state", "CONNECTION_CLOSED".into());
    let port_type = match c.remote_port {
        80 | 443 | 8080 | 8443 => "SERVICE_HTTP",
        53 => "SERVICE_DNS",
        _ => "SERVICE",
    };
    put("portType", port_type.into());
    put("serverAddress", c.remote.clone());
    put("serverPort", c.remote_port.to_string());
    put("aggregatedReceivedBytesCount", "6811".into());
    put("aggregatedTransmittedBytesCount", "4098".into());
    put("isExternalConnection", external.to_string());
    put(
        "remoteAddressInternalExternalLocal",
        if external { "EXTERNAL" } else { "INTERNAL" }.into(),
    );
    put("hasMalops", (!c.malops.is_empty()).to_string());
    put("hasSuspicions", malicious.to_string());
    put("relatedToMalop", (!c.malops.is_empty()).to_string());
    put(
        "accessedByMalwareEvidence",
        (c.classification.as_deref() == Some("malware")).to_string(),
    );
    put("group", "00000000-0000-0000-0000-000000000000".into());
    if let Some(cl) = &c.classification {
        put("remoteAddressMaliciousClassificationType", cl.clone());
    }
    let mut owner_process = "svchost.exe".to_string();
    for (k, v) in &c.features {
        if k == "ownerProcess" {
            owner_process = yaml_text(v);
        } else {
            put(k, yaml_text(v));
        }
    }
    let mut links = BTreeMap::new();
    let link = |ty: &str, guid: String, name: &str| SimRef {
        element_type: ty.into(),
        guid,
        name: name.to_string(),
        ..SimRef::default()
    };
    links.insert(
        "remoteAddress".to_string(),
        vec![SimRef {
            has_suspicions: malicious,
            has_malops: !c.malops.is_empty(),
            ..link("IpAddress", format!("ip-{}", c.remote), &c.remote)
        }],
    );
    links.insert(
        "localAddress".to_string(),
        vec![link("IpAddress", format!("ip-{local_ip}"), local_ip)],
    );
    links.insert(
        "ownerMachine".to_string(),
        vec![link(
            "Machine",
            format!("machine-{}", c.machine),
            &c.machine,
        )],
    );
    links.insert(
        "ownerProcess".to_string(),
        vec![SimRef {
            has_suspicions: malicious,
            has_malops: !c.malops.is_empty(),
            ..link(
                "Process",
                format!("process-{}-{}", c.machine, owner_process),
                &owner_process,
            )
        }],
    );
    Ok(SimElement {
        element_type: "Connection".into(),
        guid,
        simple,
        links,
        malicious,
        classification: c.classification.clone(),
        time,
        malops: c.malops.clone(),
        domain: c.domain.clone(),
        remote: Some(c.remote.clone()),
    })
}

fn domain(d: &FixtureDomain, i: usize) -> SimElement {
    let mut simple = BTreeMap::new();
    simple.insert("elementDisplayName".into(), vec![d.name.clone()]);
    simple.insert("isInternalDomain".into(), vec!["false".into()]);
    simple.insert("everResolvedDomain".into(), vec!["true".into()]);
    simple.insert("everResolvedSecondLevelDomain".into(), vec!["true".into()]);
    simple.insert(
        "isMaliciousDomainEvidence".into(),
        vec![d.classification.is_some().to_string()],
    );
    if let Some(cl) = &d.classification {
        simple.insert("maliciousClassificationType".into(), vec![cl.clone()]);
    }
    for (k, v) in &d.features {
        simple.insert(k.clone(), vec![yaml_text(v)]);
    }
    SimElement {
        element_type: "DomainName".into(),
        guid: d
            .guid
            .clone()
            .unwrap_or_else(|| format!("domain-{:06}", i + 1)),
        simple,
        malicious: d.classification.is_some(),
        classification: d.classification.clone(),
        malops: d.malops.clone(),
        ..SimElement::default()
    }
}

fn ip_address(a: &FixtureIp, i: usize) -> SimElement {
    let mut simple = BTreeMap::new();
    simple.insert("elementDisplayName".into(), vec![a.address.clone()]);
    simple.insert(
        "isInternal".into(),
        vec![is_internal(&a.address).to_string()],
    );
    if let Some(cl) = &a.classification {
        simple.insert("maliciousClassificationType".into(), vec![cl.clone()]);
    }
    SimElement {
        element_type: "IpAddress".into(),
        guid: a
            .guid
            .clone()
            .unwrap_or_else(|| format!("ipaddr-{:06}", i + 1)),
        simple,
        malicious: a.classification.is_some(),
        classification: a.classification.clone(),
        malops: a.malops.clone(),
        ..SimElement::default()
    }
}

fn yaml_text(v: &serde_yaml::Value) -> String {
    match v {
        serde_yaml::Value::String(s) => s.clone(),
        serde_yaml::Value::Bool(b) => b.to_string(),
        serde_yaml::Value::Number(n) => n.to_string(),
        serde_yaml::Value::Null => String::new(),
        other => serde_yaml::to_string(other)
            .unwrap_or_default()
            .trim()
            .to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
