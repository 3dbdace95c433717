//! Request bodies of the Cybereason REST API (research §4–§7) and the reputation-list row.
//!
//! The client reads answers with [`super::shape`] (every real variant, JSON paths in errors),
//! not with the typed response structs below: those remain only while the simulator still
//! builds its answers from them. Deserialisation is lenient where real clients are (`isResult`
//! as bool or `"true"`, `filters` null or absent, missing `filterType`).
use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

/// `POST /rest/visualsearch/query/simple` request body.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct QueryRequest {
    pub query_path: Vec<QueryElement>,
    #[serde(default = "default_limit")]
    pub total_result_limit: u64,
    #[serde(default = "default_group_limit")]
    pub per_group_limit: u64,
    #[serde(default = "default_group_limit")]
    pub per_feature_limit: u64,
    #[serde(default)]
    pub template_context: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query_timeout: Option<u64>,
    #[serde(default)]
    pub custom_fields: Vec<String>,
}

fn default_limit() -> u64 {
    1000
}
fn default_group_limit() -> u64 {
    100
}

/// One element of a `queryPath` chain.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct QueryElement {
    pub requested_type: String,
    /// `[]`, `null` or absent all mean "no filter".
    #[serde(default)]
    pub filters: Option<Vec<Filter>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guid_list: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_feature: Option<FeatureDescriptor>,
    #[serde(
        default,
        skip_serializing_if = "is_false",
        deserialize_with = "lenient_bool"
    )]
    pub is_reversed: bool,
    /// `isResult: true` or `"true"`.
    #[serde(
        default,
        skip_serializing_if = "is_false",
        deserialize_with = "lenient_bool"
    )]
    pub is_result: bool,
    /// The `result: true` spelling used by `crimes/unified` clients.
    #[serde(
        default,
        skip_serializing_if = "is_false",
        deserialize_with = "lenient_bool"
    )]
    pub result: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// `{elementInstanceType, featureName}`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct FeatureDescriptor {
    pub element_instance_type: String,
    #[serde(default)]
    pub feature_name: Option<String>,
}

/// One filter; several values are OR-ed, several filters AND-ed.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Filter {
    pub facet_name: String,
    /// Absent means `Equals` (clients send booleans that way).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter_type: Option<String>,
    #[serde(default)]
    pub values: Vec<Value>,
}

impl Filter {
    pub fn new(facet: &str, op: &str, values: Vec<Value>) -> Filter {
        Filter {
            facet_name: facet.into(),
            filter_type: Some(op.into()),
            values,
        }
    }
}

/// Accept `true`, `"true"` (any case), `1`; anything else is false.
pub fn lenient_bool<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    let v = Option::<Value>::deserialize(d)?;
    Ok(match v {
        Some(Value::Bool(b)) => b,
        Some(Value::String(s)) => s.eq_ignore_ascii_case("true"),
        Some(Value::Number(n)) => n.as_i64() == Some(1),
        _ => false,
    })
}

/// Visual-search response (research §4.2).
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct QueryResponse {
    #[serde(default)]
    pub data: Option<QueryData>,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub hide_partial_success: bool,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub expected_results: Option<i64>,
    #[serde(default)]
    pub failures: Option<i64>,
}

/// The `data` object of a visual-search response.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct QueryData {
    #[serde(default)]
    pub result_id_to_element_data_map: BTreeMap<String, ElementData>,
    #[serde(default)]
    pub suspicions_map: Value,
    #[serde(default)]
    pub evidence_map: Value,
    #[serde(default)]
    pub total_possible_results: u64,
    #[serde(default)]
    pub guessed_possible_results: u64,
    #[serde(default)]
    pub query_limits: Value,
    #[serde(default)]
    pub query_terminated: bool,
    #[serde(default)]
    pub path_result_counts: Value,
    #[serde(default)]
    pub guids: Value,
}

/// One returned element.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ElementData {
    #[serde(default)]
    pub simple_values: BTreeMap<String, SimpleValues>,
    #[serde(default)]
    pub element_values: BTreeMap<String, ElementValues>,
    #[serde(default)]
    pub suspicions: Option<Value>,
    #[serde(default)]
    pub filter_data: Option<Value>,
    #[serde(default)]
    pub is_malicious: bool,
    #[serde(default)]
    pub suspicion_count: u64,
    #[serde(default)]
    pub guid_string: String,
    #[serde(default)]
    pub labels_ids: Option<Value>,
    #[serde(default)]
    pub malop_priority: Option<Value>,
    #[serde(default)]
    pub suspect: bool,
    #[serde(default)]
    pub malicious: bool,
}

impl ElementData {
    /// The string values of a simple feature (empty when absent).
    pub fn simple(&self, feature: &str) -> &[String] {
        self.simple_values
            .get(feature)
            .map(|v| v.values.as_slice())
            .unwrap_or(&[])
    }
    /// The linked elements of an element feature (empty when absent).
    pub fn elements(&self, feature: &str) -> &[ElementRef] {
        self.element_values
            .get(feature)
            .map(|v| v.element_values.as_slice())
            .unwrap_or(&[])
    }
}

/// `{"totalValues": n, "values": ["…"]}` — values are always strings on the wire.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SimpleValues {
    #[serde(default)]
    pub total_values: u64,
    #[serde(default, deserialize_with = "string_list")]
    pub values: Vec<String>,
}

/// Be lenient: numbers and booleans become their text.
fn string_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let v = Option::<Vec<Value>>::deserialize(d)?.unwrap_or_default();
    Ok(v.into_iter()
        .filter_map(|x| match x {
            Value::String(s) => Some(s),
            Value::Null => None,
            other => Some(other.to_string()),
        })
        .collect())
}

/// Linked elements of one feature.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ElementValues {
    #[serde(default)]
    pub total_values: u64,
    #[serde(default)]
    pub total_suspicious: u64,
    #[serde(default)]
    pub total_malicious: u64,
    #[serde(default)]
    pub guessed_total: u64,
    #[serde(default)]
    pub element_values: Vec<ElementRef>,
}

/// `{elementType, guid, name, hasSuspicions, hasMalops}`.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ElementRef {
    #[serde(default)]
    pub element_type: String,
    #[serde(default)]
    pub guid: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub has_suspicions: bool,
    #[serde(default)]
    pub has_malops: bool,
}

/// `POST /rest/mmng/v2/malops` request.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct MalopsRequest {
    #[serde(default)]
    pub search: Value,
    #[serde(default)]
    pub range: Option<TimeRange>,
    #[serde(default)]
    pub pagination: Option<Pagination>,
    #[serde(default)]
    pub filter: Value,
    #[serde(default)]
    pub federation: Value,
    #[serde(default)]
    pub sort: Value,
}

/// `{"from": ms, "to": ms}`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct TimeRange {
    pub from: i64,
    pub to: i64,
}

/// `{"pageSize": n, "offset": items}`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Pagination {
    pub page_size: u64,
    pub offset: u64,
}

/// `POST /rest/mmng/v2/malops` response.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct MalopsResponse {
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub data: Option<MalopsPage>,
}

/// One page of MalOps.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct MalopsPage {
    #[serde(default)]
    pub page_size: u64,
    #[serde(default)]
    pub pages: u64,
    #[serde(default)]
    pub offset: u64,
    #[serde(default)]
    pub total_hits: u64,
    #[serde(default)]
    pub token: Option<String>,
    /// The MalOps; items are kept as JSON, only a few fields matter to us.
    #[serde(default)]
    pub data: Vec<Value>,
}

/// `POST /rest/detection/inbox` request.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InboxRequest {
    #[serde(default)]
    pub start_time: Option<i64>,
    #[serde(default)]
    pub end_time: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_ids: Option<Vec<String>>,
}

/// One `classification/update` item (booleans may arrive as strings).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReputationUpdate {
    pub keys: Vec<String>,
    #[serde(default)]
    pub malicious_type: Option<String>,
    #[serde(default, deserialize_with = "lenient_bool")]
    pub prevent: bool,
    #[serde(default, deserialize_with = "lenient_bool")]
    pub remove: bool,
    #[serde(default)]
    pub comment: Option<String>,
    #[serde(default)]
    pub expiration: Option<i64>,
    #[serde(default)]
    pub reputation_type: Option<String>,
}

/// One row of the reputation CSV.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReputationRow {
    pub key: String,
    pub reputation: String,
    pub prevent: bool,
    pub comment: String,
    pub remove: bool,
}

/// What a reputation key looks like (the CSV has no type column).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyShape {
    /// IPv4/IPv6 address or network.
    Ip,
    /// MD5, SHA-1 or SHA-256 hex digest: not a network indicator.
    FileHash,
    /// Anything else: treated as a domain name.
    Domain,
}

/// Classify a reputation key by its shape.
pub fn key_shape(key: &str) -> KeyShape {
    let k = key.trim();
    if matches!(k.len(), 32 | 40 | 64) && k.bytes().all(|b| b.is_ascii_hexdigit()) {
        return KeyShape::FileHash;
    }
    let addr = k.split('/').next().unwrap_or(k);
    if addr.parse::<std::net::IpAddr>().is_ok() {
        KeyShape::Ip
    } else {
        KeyShape::Domain
    }
}

/// The CSV header the server sends.
pub const CSV_HEADER: [&str; 5] = [
    "key",
    "reputation",
    "prevent execution",
    "comment",
    "remove",
];

/// Quote a CSV field when needed (RFC 4180).
pub fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// Render reputation rows as the server's CSV.
pub fn reputation_csv(rows: &[ReputationRow]) -> String {
    let mut s = CSV_HEADER.join(",");
    s.push('\n');
    for r in rows {
        s.push_str(&format!(
            "{},{},{},{},{}\n",
            csv_field(&r.key),
            csv_field(&r.reputation),
            r.prevent,
            csv_field(&r.comment),
            r.remove
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lenient_query_parsing() {
        let q: QueryRequest = serde_json::from_str(
            r#"{"queryPath":[{"requestedType":"Connection","filters":null,"isResult":"true"},
                 {"requestedType":"X","result":true}],"totalResultLimit":5}"#,
        )
        .unwrap();
        assert!(q.query_path[0].is_result);
        assert!(q.query_path[1].result);
        assert!(q.query_path[0].filters.is_none());
        let q: QueryRequest =
            serde_json::from_str(r#"{"queryPath":[{"requestedType":"A"}]}"#).unwrap();
        assert!(!q.query_path[0].is_result);
    }

    #[test]
    fn key_shapes() {
        assert_eq!(key_shape("203.0.113.9"), KeyShape::Ip);
        assert_eq!(key_shape("2001:db8::/32"), KeyShape::Ip);
        assert_eq!(
            key_shape("d41d8cd98f00b204e9800998ecf8427e"),
            KeyShape::FileHash
        );
        assert_eq!(key_shape("evil.example"), KeyShape::Domain);
    }
}
