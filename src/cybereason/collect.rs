//! What `pull` asks Cybereason for (research §5–§7): the reputation list, malicious
//! connections in the time window (split recursively when a query hits the result limit),
//! malicious domains, and the connections of MalOps in the window (for MalOp GUIDs).
//!
//! Output is raw findings (text + origin + MalOp GUIDs); validation and guardrails happen in
//! the blocklist core.
use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use super::api::{ElementData, Filter, KeyShape, QueryElement, QueryRequest, key_shape};
use super::client::{Client, ClientError};

/// Where a finding came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    /// Reputation list (`blacklist` rows).
    Reputation,
    /// A malicious connection in the window.
    Connection,
    /// A malicious/suspicious `DomainName` element.
    Domain,
    /// A connection belonging to a MalOp in the window.
    Malop,
}

/// One raw indicator as Cybereason reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub raw: String,
    pub origin: Origin,
    pub malops: BTreeSet<String>,
    /// Free text for reports (reputation comment, connection display name).
    pub note: String,
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
}

/// Counters for the summary.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct CollectStats {
    pub reputation_rows: usize,
    pub reputation_blacklisted: usize,
    pub file_hashes_ignored: usize,
    pub connections: usize,
    pub domains: usize,
    pub malops: usize,
    pub malop_connections: usize,
    pub queries: usize,
    pub window_splits: usize,
}

/// Everything one pull found.
#[derive(Debug, Clone, Default)]
pub struct Collected {
    pub findings: Vec<Finding>,
    pub stats: CollectStats,
}

/// Progress callback: a short description of the step being started.
pub type Progress<'a> = &'a (dyn Fn(&str) + Send + Sync);

/// Fields requested from Connection elements: only what becomes an indicator (plus the
/// display name for messages), which keeps responses small.
const CONNECTION_FIELDS: [&str; 3] = ["elementDisplayName", "remoteAddress", "domainName"];

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

/// True when a response may have been cut at the limit.
fn overflowed(rows: u64, total: u64, limit: u64) -> bool {
    rows > limit || (rows == limit && total > rows)
}

/// Run every enabled source. Any error aborts the whole pull (nothing partial is returned).
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
                origin: Origin::Reputation,
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
            connection_findings(c, Origin::Connection, &BTreeSet::new(), &mut out.findings);
        }
        tracing::info!(
            connections = out.stats.connections,
            elapsed_ms = ms(&t),
            "malicious connections fetched"
        );
    }
    if o.domains {
        progress("malicious domains");
        let filters = vec![Filter::new(
            "maliciousClassificationType",
            "Equals",
            o.malicious_classes.iter().map(|c| json!(c)).collect(),
        )];
        let q = query(
            vec![QueryElement {
                requested_type: "DomainName".into(),
                filters: Some(filters),
                is_result: true,
                ..Default::default()
            }],
            o.result_limit,
            "SPECIFIC",
            &["elementDisplayName", "maliciousClassificationType"],
        );
        let r = client.visual_search(&q).await?;
        out.stats.queries += 1;
        let data = r.data.unwrap_or_default();
        let rows = data.result_id_to_element_data_map.len() as u64;
        if overflowed(rows, data.total_possible_results, o.result_limit) {
            return Err(ClientError::Overflow {
                what: "malicious DomainName query".into(),
                limit: o.result_limit,
            });
        }
        for (guid, el) in &data.result_id_to_element_data_map {
            let name = el
                .simple("elementDisplayName")
                .first()
                .cloned()
                .unwrap_or_else(|| guid.clone());
            let class = el.simple("maliciousClassificationType").join(",");
            out.findings.push(Finding {
                raw: name,
                origin: Origin::Domain,
                malops: BTreeSet::new(),
                note: class,
            });
            out.stats.domains += 1;
        }
        tracing::info!(domains = out.stats.domains, "malicious domains fetched");
    }
    if o.malops {
        progress("MalOps");
        let malops = client.malops_in_window(o.from_ms, o.to_ms).await?;
        out.stats.queries += malops.len().div_ceil(100).max(1);
        let guids: BTreeSet<String> = malops
            .iter()
            .filter_map(|m| m.get("guid").and_then(Value::as_str).map(String::from))
            .collect();
        out.stats.malops = guids.len();
        for g in &guids {
            progress(&format!("MalOp {g}"));
            let q = query(
                vec![
                    QueryElement {
                        requested_type: "MalopProcess".into(),
                        filters: Some(vec![]),
                        guid_list: Some(vec![g.clone()]),
                        connection_feature: Some(super::api::FeatureDescriptor {
                            element_instance_type: "MalopProcess".into(),
                            feature_name: Some("suspects".into()),
                        }),
                        ..Default::default()
                    },
                    QueryElement {
                        requested_type: "Process".into(),
                        filters: Some(vec![]),
                        connection_feature: Some(super::api::FeatureDescriptor {
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
                o.result_limit,
                "MALOP",
                &CONNECTION_FIELDS,
            );
            let r = client.visual_search(&q).await?;
            out.stats.queries += 1;
            let data = r.data.unwrap_or_default();
            let rows = data.result_id_to_element_data_map.len() as u64;
            if overflowed(rows, data.total_possible_results, o.result_limit) {
                return Err(ClientError::Overflow {
                    what: format!("connections of MalOp {g}"),
                    limit: o.result_limit,
                });
            }
            let one: BTreeSet<String> = [g.clone()].into();
            for el in data.result_id_to_element_data_map.values() {
                out.stats.malop_connections += 1;
                connection_findings(el, Origin::Malop, &one, &mut out.findings);
            }
        }
        tracing::info!(
            malops = out.stats.malops,
            connections = out.stats.malop_connections,
            "MalOps fetched"
        );
    }
    Ok(out)
}

/// Remote IP (`remoteAddress` IpAddress element names) and `domainName` of a connection.
fn connection_findings(
    el: &ElementData,
    origin: Origin,
    malops: &BTreeSet<String>,
    out: &mut Vec<Finding>,
) {
    let note = el
        .simple("elementDisplayName")
        .first()
        .cloned()
        .unwrap_or_default();
    for r in el.elements("remoteAddress") {
        if r.element_type.is_empty() || r.element_type == "IpAddress" {
            out.push(Finding {
                raw: r.name.clone(),
                origin,
                malops: malops.clone(),
                note: note.clone(),
            });
        }
    }
    for d in el.simple("domainName") {
        if !d.trim().is_empty() {
            out.push(Finding {
                raw: d.clone(),
                origin,
                malops: malops.clone(),
                note: note.clone(),
            });
        }
    }
}

/// Malicious connections in `[from, to]`, halving the window while a query hits the limit.
async fn connections(
    client: &Client,
    o: &CollectOptions,
    stats: &mut CollectStats,
    progress: Progress<'_>,
) -> Result<BTreeMap<String, ElementData>, ClientError> {
    let mut found = BTreeMap::new();
    let mut stack = vec![(o.from_ms, o.to_ms)];
    while let Some((a, b)) = stack.pop() {
        let filters = vec![
            Filter::new(
                &o.connection_facet,
                "Equals",
                o.malicious_classes.iter().map(|c| json!(c)).collect(),
            ),
            Filter::new("creationTime", "Between", vec![json!(a), json!(b)]),
        ];
        let q = query(
            vec![QueryElement {
                requested_type: "Connection".into(),
                filters: Some(filters),
                is_result: true,
                ..Default::default()
            }],
            o.result_limit,
            "SPECIFIC",
            &CONNECTION_FIELDS,
        );
        let r = client.visual_search(&q).await?;
        stats.queries += 1;
        let data = r.data.unwrap_or_default();
        let rows = data.result_id_to_element_data_map.len() as u64;
        if overflowed(rows, data.total_possible_results, o.result_limit) {
            if b <= a {
                return Err(ClientError::Overflow {
                    what: format!("malicious connections at {a} ms"),
                    limit: o.result_limit,
                });
            }
            let parts = split_parts(rows, data.total_possible_results, o.result_limit, b - a + 1);
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
        found.extend(data.result_id_to_element_data_map);
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
