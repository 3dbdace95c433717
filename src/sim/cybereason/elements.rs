//! What the simulator serves: the fixture ([`super::fixture`]) turned into generic
//! visual-search elements, the reputation list and MalOps. Its types are the simulator's own;
//! nothing here is shared with the client.
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use super::fixture::*;

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
