//! What `pull` asks Cybereason for (research §5–§7): the reputation list, malicious
//! connections in the time window (split recursively when a query hits the result limit),
//! malicious domains, and the connections of the MalOps in the window that still count.
//!
//! Output is raw findings (text + source + MalOp GUIDs); validation and guardrails happen in
//! [`crate::blocklist::merge`]. Any error aborts the whole collection: nothing partial is
//! returned.
use std::collections::{BTreeMap, BTreeSet};

use serde_json::json;

use super::api::{FeatureDescriptor, Filter, KeyShape, QueryElement, QueryRequest, key_shape};
use super::client::{Client, ClientError};
use super::malops::MalopSummary;
use super::query::{ConnectionFacts, QueryPage, connection_facts, domain_facts};
use crate::blocklist::Source;
use crate::blocklist::merge::Finding;
use crate::config::EppMalops;

/// Now in epoch milliseconds.
pub fn millis_now() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

/// What to collect.
#[derive(Debug, Clone)]
pub struct CollectOptions {
    pub reputation: bool,
    pub connections: bool,
    pub domains: bool,
    pub malops: bool,
    /// Window start and end, epoch ms (inclusive).
    pub from_ms: i64,
    pub to_ms: i64,
    pub result_limit: u64,
    pub connection_facet: String,
    pub malicious_classes: Vec<String>,
    /// MalOp statuses that do not count (case-insensitive).
    pub malop_skip_statuses: Vec<String>,
    /// Non-EDR MalOps: skip, or read their detection details.
    pub epp_malops: EppMalops,
}

impl CollectOptions {
    /// What `pull` collects with this configuration over `[from_ms, to_ms]`.
    pub fn from_config(
        cfg: &crate::config::CybereasonConfig,
        src: &crate::config::Sources,
        from_ms: i64,
        to_ms: i64,
    ) -> CollectOptions {
        CollectOptions {
            reputation: src.reputation,
            connections: src.connections,
            domains: src.domains,
            malops: src.malops,
            from_ms,
            to_ms,
            result_limit: u64::from(cfg.result_limit.max(1)),
            connection_facet: cfg.connection_facet.clone(),
            malicious_classes: cfg.malicious_classes.clone(),
            malop_skip_statuses: cfg.malop_skip_statuses.clone(),
            epp_malops: cfg.epp_malops,
        }
    }
}

/// Counters for the summary.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct CollectStats {
    pub reputation_rows: usize,
    pub reputation_blacklisted: usize,
    pub file_hashes_ignored: usize,
    pub connections: usize,
    /// Domains read from the connections in the window (all forms).
    pub connection_domains: usize,
    pub domains: usize,
    /// MalOps in the window that count.
    pub malops: usize,
    /// MalOps in the window left out because of their status.
    pub malops_skipped: usize,
    /// Non-EDR MalOps left out (`cybereason.epp_malops: skip`).
    pub malops_epp_skipped: usize,
    pub malop_connections: usize,
    pub queries: usize,
    pub window_splits: usize,
}

/// A MalOp that was left out, and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SkippedMalop {
    pub guid: String,
    /// `status=Closed`, `managementStatus=FP`, `closed=true` or `not EDR`.
    pub reason: String,
}

/// Everything one pull found.
#[derive(Debug, Clone, Default)]
pub struct Collected {
    pub findings: Vec<Finding>,
    pub stats: CollectStats,
    pub skipped_malops: Vec<SkippedMalop>,
    /// Things the operator should look at (also logged as warnings).
    pub warnings: Vec<String>,
}

/// Progress callback: a short description of the step being started.
pub type Progress<'a> = &'a (dyn Fn(&str) + Send + Sync);

/// Fields requested from Connection elements: what becomes an indicator (remote address and
/// the domain in each of its forms), plus the display name for messages.
const CONNECTION_FIELDS: [&str; 5] = [
    "elementDisplayName",
    "remoteAddress",
    "domainName",
    "urlDomains",
    "dnsQuery",
];

fn query(elements: Vec<QueryElement>, limit: u64, context: &str, fields: &[&str]) -> QueryRequest {
    QueryRequest {
        query_path: elements,
        total_result_limit: limit,
        per_group_limit: limit.min(1000),
        per_feature_limit: 100,
        template_context: Some(context.into()),
        query_timeout: Some(120_000),
        custom_fields: fields.iter().map(|s| s.to_string()).collect(),
    }
}

/// The malicious-connections query of `pull` over `[from, to]` (epoch ms), at most `limit`
/// rows: `cybereason.connection_facet` Equals one of the classes, `creationTime` Between.
pub fn connections_query(o: &CollectOptions, from: i64, to: i64, limit: u64) -> QueryRequest {
    let filters = vec![
        Filter::new(
            &o.connection_facet,
            "Equals",
            o.malicious_classes.iter().map(|c| json!(c)).collect(),
        ),
        Filter::new("creationTime", "Between", vec![json!(from), json!(to)]),
    ];
    query(
        vec![QueryElement {
            requested_type: "Connection".into(),
            filters: Some(filters),
            is_result: true,
            ..Default::default()
        }],
        limit,
        "SPECIFIC",
        &CONNECTION_FIELDS,
    )
}

/// The malicious-domains query of `pull`, at most `limit` rows.
pub fn domains_query(o: &CollectOptions, limit: u64) -> QueryRequest {
    let filters = vec![Filter::new(
        "maliciousClassificationType",
        "Equals",
        o.malicious_classes.iter().map(|c| json!(c)).collect(),
    )];
    query(
        vec![QueryElement {
            requested_type: "DomainName".into(),
            filters: Some(filters),
            is_result: true,
            ..Default::default()
        }],
        limit,
        "SPECIFIC",
        &["elementDisplayName", "maliciousClassificationType"],
    )
}

/// True when a response may have been cut at the limit.
fn overflowed(rows: u64, total: u64, limit: u64) -> bool {
    rows > limit || (rows == limit && total > rows)
}

fn bad(client: &Client, path: &str, e: super::shape::ShapeError) -> ClientError {
    ClientError::BadResponse {
        url: client.url(path),
        reason: e.to_string(),
    }
}

const SEARCH: &str = "/rest/visualsearch/query/simple";

/// Run every enabled source.
pub async fn collect(
    client: &Client,
    o: &CollectOptions,
    progress: Progress<'_>,
) -> Result<Collected, ClientError> {
    let mut out = Collected::default();
    let t = std::time::Instant::now();
    let ms = |t: &std::time::Instant| t.elapsed().as_millis() as u64;
    if o.reputation {
        progress("reputation list");
        let rows = client.reputation_csv().await?;
        out.stats.queries += 1;
        out.stats.reputation_rows = rows.len();
        for r in rows {
            if r.reputation != "blacklist" || r.remove {
                continue;
            }
            out.stats.reputation_blacklisted += 1;
            if key_shape(&r.key) == KeyShape::FileHash {
                out.stats.file_hashes_ignored += 1;
                continue;
            }
            out.findings.push(Finding {
                raw: r.key,
                source: Source::Reputation,
                malops: BTreeSet::new(),
                note: r.comment,
            });
        }
        tracing::info!(
            rows = out.stats.reputation_rows,
            elapsed_ms = ms(&t),
            "reputation list downloaded"
        );
    }
    if o.connections {
        progress("malicious connections");
        let conns = connections(client, o, &mut out.stats, progress).await?;
        out.stats.connections = conns.len();
        for c in conns.values() {
            out.stats.connection_domains += c.domains.len();
            push_connection(c, Source::Connection, &BTreeSet::new(), &mut out.findings);
        }
        if out.stats.connections > 0 && out.stats.connection_domains == 0 {
            let msg = format!(
                "{} malicious connections in the window, but none named a domain (domainName, urlDomains, dnsQuery): \
                 check that the API user may read DNS data, or that the tenant records it",
                out.stats.connections
            );
            warn(&mut out, msg);
        }
        tracing::info!(
            connections = out.stats.connections,
            domains = out.stats.connection_domains,
            elapsed_ms = ms(&t),
            "malicious connections fetched"
        );
    }
    if o.domains {
        progress("malicious domains");
        domains(client, o, &mut out).await?;
        tracing::info!(domains = out.stats.domains, "malicious domains fetched");
    }
    if o.malops {
        progress("MalOps");
        malops(client, o, &mut out, progress).await?;
        tracing::info!(
            malops = out.stats.malops,
            skipped = out.stats.malops_skipped,
            epp_skipped = out.stats.malops_epp_skipped,
            connections = out.stats.malop_connections,
            "MalOps fetched"
        );
    }
    Ok(out)
}

fn warn(out: &mut Collected, msg: String) {
    tracing::warn!("{msg}");
    out.warnings.push(msg);
}

fn push_connection(
    c: &ConnectionFacts,
    source: Source,
    malops: &BTreeSet<String>,
    out: &mut Vec<Finding>,
) {
    let note = c.display.clone().unwrap_or_default();
    for raw in c.ips.iter().chain(&c.domains) {
        out.push(Finding {
            raw: raw.clone(),
            source,
            malops: malops.clone(),
            note: note.clone(),
        });
    }
}

async fn domains(
    client: &Client,
    o: &CollectOptions,
    out: &mut Collected,
) -> Result<(), ClientError> {
    let q = domains_query(o, o.result_limit);
    let page = client.visual_search(&q).await?;
    out.stats.queries += 1;
    if overflowed(page.rows.len() as u64, page.total_possible, o.result_limit) {
        return Err(ClientError::Overflow {
            what: "malicious DomainName query".into(),
            limit: o.result_limit,
        });
    }
    for (key, row) in &page.rows {
        let (name, class) = domain_facts(key, row).map_err(|e| bad(client, SEARCH, e))?;
        out.findings.push(Finding {
            raw: name,
            source: Source::Domain,
            malops: BTreeSet::new(),
            note: class,
        });
        out.stats.domains += 1;
    }
    Ok(())
}

async fn malops(
    client: &Client,
    o: &CollectOptions,
    out: &mut Collected,
    progress: Progress<'_>,
) -> Result<(), ClientError> {
    let listed = client.malops_in_window(o.from_ms, o.to_ms).await?;
    out.stats.queries += listed.len().div_ceil(100).max(1);
    // One entry per GUID (paging may repeat an item that moved between pages).
    let mut by_guid: BTreeMap<String, MalopSummary> = BTreeMap::new();
    for m in listed {
        by_guid.entry(m.guid.clone()).or_insert(m);
    }
    let mut edr = Vec::new();
    let mut epp = Vec::new();
    for (guid, m) in &by_guid {
        if let Some(reason) = m.skip_reason(&o.malop_skip_statuses) {
            skip(out, guid, reason, true);
        } else if m.is_edr() {
            edr.push(guid.clone());
        } else {
            epp.push(guid.clone());
        }
    }
    // The analyst's management status (Not Relevant, Remediated…) lives on the MalOp element.
    if !edr.is_empty() {
        let statuses = client.management_statuses(&edr).await?;
        out.stats.queries += edr.len().div_ceil(1000);
        let skipped: BTreeMap<String, String> = statuses
            .into_iter()
            .filter(|(_, st)| {
                o.malop_skip_statuses
                    .iter()
                    .any(|s| s.eq_ignore_ascii_case(st.trim()))
            })
            .collect();
        edr.retain(|g| match skipped.get(g) {
            Some(st) => {
                skip(out, g, format!("managementStatus={st}"), true);
                false
            }
            None => true,
        });
    }
    for g in &edr {
        progress(&format!("MalOp {g}"));
        let page = malop_connections(client, g, o.result_limit).await?;
        out.stats.queries += 1;
        let one: BTreeSet<String> = [g.clone()].into();
        for (key, row) in &page.rows {
            let c = connection_facts(key, row).map_err(|e| bad(client, SEARCH, e))?;
            out.stats.malop_connections += 1;
            push_connection(&c, Source::Malop, &one, &mut out.findings);
        }
    }
    match o.epp_malops {
        EppMalops::Skip => {
            out.stats.malops = edr.len();
            out.stats.malops_epp_skipped = epp.len();
            for g in &epp {
                skip(
                    out,
                    g,
                    "not EDR (cybereason.epp_malops: skip)".into(),
                    false,
                );
            }
            if !epp.is_empty() {
                tracing::info!(
                    count = epp.len(),
                    "non-EDR MalOps left out; set cybereason.epp_malops: details to read their detection details"
                );
            }
        }
        EppMalops::Details => {
            // Not in crimes/unified: their analyst status comes from the metadata endpoint.
            let mut open = Vec::new();
            for g in &epp {
                let statuses = client.malop_metadata(g).await?;
                out.stats.queries += 1;
                match statuses.iter().find(|(_, v)| {
                    o.malop_skip_statuses
                        .iter()
                        .any(|s| s.eq_ignore_ascii_case(v.trim()))
                }) {
                    Some((field, v)) => skip(out, g, format!("{field}={v}"), true),
                    None => open.push(g.clone()),
                }
            }
            let epp = open;
            out.stats.malops = edr.len() + epp.len();
            for g in &epp {
                progress(&format!("MalOp {g} (detection details)"));
                let remotes = client.epp_connections(g).await?;
                out.stats.queries += 1;
                out.stats.malop_connections += remotes.len();
                let one: BTreeSet<String> = [g.clone()].into();
                for raw in remotes {
                    out.findings.push(Finding {
                        raw,
                        source: Source::Malop,
                        malops: one.clone(),
                        note: "detection details".into(),
                    });
                }
            }
        }
    }
    Ok(())
}

fn skip(out: &mut Collected, guid: &str, reason: String, by_status: bool) {
    tracing::info!(malop = guid, %reason, "MalOp left out");
    out.stats.malops_skipped += usize::from(by_status);
    out.skipped_malops.push(SkippedMalop {
        guid: guid.into(),
        reason,
    });
}

/// The connections of one EDR MalOp: MalopProcess → suspects → Process → connections
/// (splunk-soar-connectors/cybereason cybereason_connector.py; same chain style in the XSOAR
/// and Siemplify integrations).
async fn malop_connections(
    client: &Client,
    guid: &str,
    limit: u64,
) -> Result<QueryPage, ClientError> {
    let q = query(
        vec![
            QueryElement {
                requested_type: "MalopProcess".into(),
                filters: Some(vec![]),
                guid_list: Some(vec![guid.to_string()]),
                connection_feature: Some(FeatureDescriptor {
                    element_instance_type: "MalopProcess".into(),
                    feature_name: Some("suspects".into()),
                }),
                ..Default::default()
            },
            QueryElement {
                requested_type: "Process".into(),
                filters: Some(vec![]),
                connection_feature: Some(FeatureDescriptor {
                    element_instance_type: "Process".into(),
                    feature_name: Some("connections".into()),
                }),
                ..Default::default()
            },
            QueryElement {
                requested_type: "Connection".into(),
                filters: Some(vec![]),
                is_result: true,
                ..Default::default()
            },
        ],
        limit,
        "MALOP",
        &CONNECTION_FIELDS,
    );
    let page = client.visual_search(&q).await?;
    if overflowed(page.rows.len() as u64, page.total_possible, limit) {
        return Err(ClientError::Overflow {
            what: format!("connections of MalOp {guid}"),
            limit,
        });
    }
    Ok(page)
}

/// Malicious connections in `[from, to]`, halving the window while a query hits the limit.
async fn connections(
    client: &Client,
    o: &CollectOptions,
    stats: &mut CollectStats,
    progress: Progress<'_>,
) -> Result<BTreeMap<String, ConnectionFacts>, ClientError> {
    let mut found = BTreeMap::new();
    let mut stack = vec![(o.from_ms, o.to_ms)];
    while let Some((a, b)) = stack.pop() {
        let q = connections_query(o, a, b, o.result_limit);
        let page = client.visual_search(&q).await?;
        stats.queries += 1;
        let rows = page.rows.len() as u64;
        if overflowed(rows, page.total_possible, o.result_limit) {
            if b <= a {
                return Err(ClientError::Overflow {
                    what: format!("malicious connections at {a} ms"),
                    limit: o.result_limit,
                });
            }
            let parts = split_parts(rows, page.total_possible, o.result_limit, b - a + 1);
            stats.window_splits += 1;
            tracing::debug!(
                from = a,
                to = b,
                rows,
                parts,
                "result limit reached; splitting the window"
            );
            progress(&format!(
                "malicious connections (window split {})",
                stats.window_splits
            ));
            // Push in reverse so the earliest part is queried first.
            let bounds = split_window(a, b, parts);
            stack.extend(bounds.into_iter().rev());
            continue;
        }
        for (key, row) in page.rows {
            let facts = connection_facts(&key, &row).map_err(|e| bad(client, SEARCH, e))?;
            found.insert(key, facts);
        }
    }
    Ok(found)
}

/// Into how many equal parts a full window is cut: halves, or — when the server reports
/// `totalPossibleResults` — enough parts for each to fit the limit on an even spread
/// (with 25% headroom, at most 64). Parts that still overflow are split again.
fn split_parts(rows: u64, total: u64, limit: u64, width: i64) -> u64 {
    let by_total = if total > rows && limit > 0 {
        (total.saturating_mul(5) / 4).div_ceil(limit)
    } else {
        2
    };
    by_total
        .clamp(2, 64)
        .min(u64::try_from(width).unwrap_or(2).max(2))
}

/// `[a, b]` cut into `parts` contiguous inclusive ranges.
fn split_window(a: i64, b: i64, parts: u64) -> Vec<(i64, i64)> {
    let width = (b - a + 1) as i128;
    let parts = i128::from(parts.max(1)).min(width.max(1));
    (0..parts)
        .map(|i| {
            let lo = a as i128 + width * i / parts;
            let hi = a as i128 + width * (i + 1) / parts - 1;
            (lo as i64, hi as i64)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_splits_cover_the_window_exactly() {
        for (a, b, n) in [
            (0_i64, 99_i64, 2_u64),
            (5, 6, 2),
            (0, 1_000_000, 7),
            (-10, 10, 64),
            (3, 3, 2),
        ] {
            let parts = split_window(a, b, n);
            assert_eq!(parts.first().unwrap().0, a);
            assert_eq!(parts.last().unwrap().1, b);
            for w in parts.windows(2) {
                assert_eq!(w[0].1 + 1, w[1].0, "{parts:?}");
            }
            assert!(parts.iter().all(|(lo, hi)| lo <= hi), "{parts:?}");
        }
        assert_eq!(split_parts(1001, 1001, 1000, 1_000_000), 2);
        assert_eq!(split_parts(1001, 20_000, 1000, 1_000_000), 25);
        assert_eq!(split_parts(1001, 20_000, 1000, 3), 3);
    }

    #[test]
    fn overflow_rule() {
        assert!(overflowed(11, 11, 10));
        assert!(overflowed(10, 50, 10));
        assert!(!overflowed(10, 10, 10));
        assert!(!overflowed(3, 3, 10));
    }
}
