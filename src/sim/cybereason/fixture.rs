//! The simulator's data: a YAML fixture (documented in `docs/cybereason-sim.md`) turned into
//! generic visual-search elements, the reputation list and MalOps.
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::cybereason::api::{ElementRef, ReputationRow};

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
    /// MalOps (`detection/inbox`, `mmng/v2/malops`).
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
    /// `domainName` simple value.
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
    /// MalOps this connection belongs to.
    #[serde(default)]
    pub malops: Vec<String>,
    /// Extra simple features, served as strings.
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

/// One MalOp.
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
    #[serde(default = "default_status")]
    pub status: String,
    #[serde(default = "default_severity")]
    pub severity: String,
    /// `detectionType` / `malopDetectionType`.
    #[serde(default = "default_detection")]
    pub detection_type: String,
    #[serde(default)]
    pub machines: Vec<String>,
}

fn default_malop_name() -> String {
    "Connection to malicious address".into()
}
fn default_status() -> String {
    "Active".into()
}
fn default_severity() -> String {
    "High".into()
}
fn default_detection() -> String {
    "BLACKLIST".into()
}

/// A visual-search element as the simulator stores it.
#[derive(Debug, Clone)]
pub struct SimElement {
    pub element_type: String,
    pub guid: String,
    /// Simple features; values are strings, as on the wire.
    pub simple: BTreeMap<String, Vec<String>>,
    /// Element features.
    pub links: BTreeMap<String, Vec<ElementRef>>,
    pub malicious: bool,
    /// Sort key (creation time in ms, 0 when the element has none).
    pub time: i64,
    pub malops: Vec<String>,
}

/// A MalOp with resolved times.
#[derive(Debug, Clone)]
pub struct SimMalop {
    pub guid: String,
    pub name: String,
    pub created: i64,
    pub updated: i64,
    pub status: String,
    pub severity: String,
    pub detection_type: String,
    pub machines: Vec<String>,
}

/// Everything the server answers from.
#[derive(Debug, Clone, Default)]
pub struct SimData {
    /// Elements by type, sorted by time then GUID.
    pub elements: BTreeMap<String, Vec<SimElement>>,
    /// Reputation rows by key.
    pub reputations: BTreeMap<String, ReputationRow>,
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
                ReputationRow {
                    key: r.key.clone(),
                    reputation: r.reputation.clone(),
                    prevent: r.prevent,
                    comment: r.comment.clone(),
                    remove: false,
                },
            );
        }
        let malop_guids: std::collections::BTreeSet<&str> =
            self.malops.iter().map(|m| m.guid.as_str()).collect();
        for m in &self.malops {
            let created = m
                .created
                .resolve(now_ms)
                .map_err(|e| bad(format!("malop {}: {e}", m.guid)))?;
            let updated = match &m.updated {
                Some(t) => t
                    .resolve(now_ms)
                    .map_err(|e| bad(format!("malop {}: {e}", m.guid)))?,
                None => created,
            };
            data.malops.insert(
                m.guid.clone(),
                SimMalop {
                    guid: m.guid.clone(),
                    name: m.name.clone(),
                    created,
                    updated,
                    status: m.status.clone(),
                    severity: m.severity.clone(),
                    detection_type: m.detection_type.clone(),
                    machines: m.machines.clone(),
                },
            );
        }
        let check_malops = |what: &str, ms: &[String]| -> Result<(), FixtureError> {
            for g in ms {
                if !malop_guids.contains(g.as_str()) {
                    return Err(bad(format!("{what} refers to unknown malop `{g}`")));
                }
            }
            Ok(())
        };
        let mut conns = Vec::with_capacity(self.connections.len());
        for (i, c) in self.connections.iter().enumerate() {
            let what = format!("connection {} ({})", i + 1, c.remote);
            check_malops(&what, &c.malops)?;
            let time = c
                .time
                .resolve(now_ms)
                .map_err(|e| bad(format!("{what}: {e}")))?;
            let guid = c
                .guid
                .clone()
                .unwrap_or_else(|| format!("conn-{:06}", i + 1));
            let remote_fmt = if c.remote.contains(':') {
                format!("[{}]:{}", c.remote, c.remote_port)
            } else {
                format!("{}:{}", c.remote, c.remote_port)
            };
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
            put("direction", "OUTGOING".into());
            put("transportProtocol", "TCP".into());
            put("hasMalops", (!c.malops.is_empty()).to_string());
            put("hasSuspicions", c.classification.is_some().to_string());
            if let Some(d) = &c.domain {
                put("domainName", d.clone());
            }
            if let Some(cl) = &c.classification {
                put("remoteAddressMaliciousClassificationType", cl.clone());
            }
            for (k, v) in &c.features {
                put(k, yaml_text(v));
            }
            let mut links = BTreeMap::new();
            links.insert(
                "remoteAddress".to_string(),
                vec![ElementRef {
                    element_type: "IpAddress".into(),
                    guid: format!("ip-{}", c.remote),
                    name: c.remote.clone(),
                    has_suspicions: c.classification.is_some(),
                    has_malops: !c.malops.is_empty(),
                }],
            );
            let local_ip = c.local.rsplit_once(':').map(|(a, _)| a).unwrap_or(&c.local);
            links.insert(
                "localAddress".to_string(),
                vec![ElementRef {
                    element_type: "IpAddress".into(),
                    guid: format!("ip-{local_ip}"),
                    name: local_ip.to_string(),
                    ..ElementRef::default()
                }],
            );
            links.insert(
                "ownerMachine".to_string(),
                vec![ElementRef {
                    element_type: "Machine".into(),
                    guid: format!("machine-{}", c.machine),
                    name: c.machine.clone(),
                    ..ElementRef::default()
                }],
            );
            conns.push(SimElement {
                element_type: "Connection".into(),
                guid,
                simple,
                links,
                malicious: c.classification.is_some(),
                time,
                malops: c.malops.clone(),
            });
        }
        let mut domains = Vec::new();
        for (i, d) in self.domains.iter().enumerate() {
            check_malops(&format!("domain {}", d.name), &d.malops)?;
            let mut simple = BTreeMap::new();
            simple.insert("elementDisplayName".into(), vec![d.name.clone()]);
            simple.insert("isInternalDomain".into(), vec!["false".into()]);
            simple.insert("everResolvedDomain".into(), vec!["true".into()]);
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
            domains.push(SimElement {
                element_type: "DomainName".into(),
                guid: d
                    .guid
                    .clone()
                    .unwrap_or_else(|| format!("domain-{:06}", i + 1)),
                simple,
                links: BTreeMap::new(),
                malicious: d.classification.is_some(),
                time: 0,
                malops: d.malops.clone(),
            });
        }
        let mut ips = Vec::new();
        for (i, a) in self.ip_addresses.iter().enumerate() {
            check_malops(&format!("ip address {}", a.address), &a.malops)?;
            let mut simple = BTreeMap::new();
            simple.insert("elementDisplayName".into(), vec![a.address.clone()]);
            if let Some(cl) = &a.classification {
                simple.insert("maliciousClassificationType".into(), vec![cl.clone()]);
            }
            ips.push(SimElement {
                element_type: "IpAddress".into(),
                guid: a
                    .guid
                    .clone()
                    .unwrap_or_else(|| format!("ipaddr-{:06}", i + 1)),
                simple,
                links: BTreeMap::new(),
                malicious: a.classification.is_some(),
                time: 0,
                malops: a.malops.clone(),
            });
        }
        for (ty, mut v) in [
            ("Connection", conns),
            ("DomainName", domains),
            ("IpAddress", ips),
        ] {
            let mut seen = std::collections::BTreeSet::new();
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
        assert!(!d.malops.is_empty());
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
}
