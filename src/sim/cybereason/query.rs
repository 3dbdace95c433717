//! Visual-search evaluation over the fixture elements: the real filter operators, the
//! response shape (string `simpleValues`, `elementValues` arrays, wrapper fields) and the
//! `totalResultLimit`+1 quirk.
use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use super::fixture::{SimData, SimElement};
use crate::cybereason::api::{
    ElementData, ElementValues, Filter, QueryData, QueryRequest, QueryResponse, SimpleValues,
};

/// Why a query cannot be answered (the server reports `status: FAILURE`).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct QueryError(pub String);

/// Run a query. `plus_one` enables the quirk of returning one row beyond the limit.
pub fn run(data: &SimData, q: &QueryRequest, plus_one: bool) -> Result<QueryResponse, QueryError> {
    if q.query_path.is_empty() {
        return Err(QueryError("queryPath is empty".into()));
    }
    let result_idx = q
        .query_path
        .iter()
        .position(|e| e.is_result || e.result)
        .unwrap_or(q.query_path.len() - 1);
    let result_el = &q.query_path[result_idx];
    // Chains are reduced to what the fixture models: MalOp GUIDs (and element GUIDs) of the
    // other path elements restrict the result to elements linked to those MalOps/GUIDs.
    let mut malop_restrict: Option<BTreeSet<&str>> = None;
    for (i, el) in q.query_path.iter().enumerate() {
        if i == result_idx {
            continue;
        }
        if el.requested_type.starts_with("Malop")
            && let Some(g) = &el.guid_list
        {
            malop_restrict
                .get_or_insert_with(BTreeSet::new)
                .extend(g.iter().map(String::as_str));
        }
    }
    let empty = Vec::new();
    let candidates = data
        .elements
        .get(&result_el.requested_type)
        .unwrap_or(&empty);
    let filters: &[Filter] = result_el.filters.as_deref().unwrap_or(&[]);
    for f in filters {
        op_of(f)?;
    }
    let guid_set: Option<BTreeSet<&str>> = result_el
        .guid_list
        .as_ref()
        .map(|g| g.iter().map(String::as_str).collect());
    let mut matched: Vec<&SimElement> = Vec::new();
    for e in candidates {
        if let Some(gs) = &guid_set
            && !gs.contains(e.guid.as_str())
        {
            continue;
        }
        if let Some(ms) = &malop_restrict
            && !e.malops.iter().any(|m| ms.contains(m.as_str()))
        {
            continue;
        }
        let mut ok = true;
        for f in filters {
            if !matches(e, f)? {
                ok = false;
                break;
            }
        }
        if ok {
            matched.push(e);
        }
    }
    let total = matched.len() as u64;
    let limit = q.total_result_limit;
    let take = if plus_one {
        limit.saturating_add(1)
    } else {
        limit
    };
    let fields: BTreeSet<&str> = q.custom_fields.iter().map(String::as_str).collect();
    let mut map = BTreeMap::new();
    let mut suspicions_map = serde_json::Map::new();
    for e in matched
        .iter()
        .take(usize::try_from(take).unwrap_or(usize::MAX))
    {
        let el = render(e, &fields, q.per_feature_limit);
        if e.malicious {
            suspicions_map.insert(
                "connectingToBlackListAddressSuspicion".into(),
                json!({"potentialEvidence": ["hasBlackListConnectionEvidence"], "firstTimestamp": e.time, "totalSuspicions": 1}),
            );
        }
        map.insert(e.guid.clone(), el);
    }
    let returned = map.len() as i64;
    Ok(QueryResponse {
        data: Some(QueryData {
            result_id_to_element_data_map: map,
            suspicions_map: Value::Object(suspicions_map),
            evidence_map: json!({}),
            total_possible_results: total,
            guessed_possible_results: 0,
            query_limits: json!({
                "totalResultLimit": q.total_result_limit,
                "perGroupLimit": q.per_group_limit,
                "perFeatureLimit": q.per_feature_limit,
                "groupingFeature": {"elementInstanceType": result_el.requested_type, "featureName": "elementDisplayName"},
                "sortInGroupFeature": null
            }),
            query_terminated: false,
            path_result_counts: json!([{"featureDescriptor": {"elementInstanceType": result_el.requested_type, "featureName": null}, "count": total}]),
            guids: json!([]),
        }),
        status: "SUCCESS".into(),
        hide_partial_success: false,
        message: Some(String::new()),
        expected_results: Some(returned),
        failures: Some(0),
    })
}

fn render(e: &SimElement, fields: &BTreeSet<&str>, per_feature: u64) -> ElementData {
    let want = |k: &str| fields.is_empty() || fields.contains(k);
    let mut simple_values = BTreeMap::new();
    for (k, v) in &e.simple {
        if want(k) {
            simple_values.insert(
                k.clone(),
                SimpleValues {
                    total_values: v.len() as u64,
                    values: v.clone(),
                },
            );
        }
    }
    let mut element_values = BTreeMap::new();
    for (k, v) in &e.links {
        if want(k) {
            let shown: Vec<_> = v
                .iter()
                .take(usize::try_from(per_feature).unwrap_or(usize::MAX))
                .cloned()
                .collect();
            element_values.insert(
                k.clone(),
                ElementValues {
                    total_values: v.len() as u64,
                    total_suspicious: v.iter().filter(|r| r.has_suspicions).count() as u64,
                    total_malicious: v.iter().filter(|r| r.has_suspicions).count() as u64,
                    guessed_total: 0,
                    element_values: shown,
                },
            );
        }
    }
    let display = e
        .simple
        .get("elementDisplayName")
        .and_then(|v| v.first())
        .cloned()
        .unwrap_or_default();
    ElementData {
        simple_values,
        element_values,
        suspicions: Some(if e.malicious {
            json!({"connectingToBlackListAddressSuspicion": e.time})
        } else {
            json!({})
        }),
        filter_data: Some(json!({"sortInGroupValue": e.guid, "groupByValue": display})),
        is_malicious: e.malicious,
        suspicion_count: u64::from(e.malicious),
        guid_string: e.guid.clone(),
        labels_ids: Some(Value::Null),
        malop_priority: Some(Value::Null),
        suspect: e.malicious,
        malicious: e.malicious,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Equals,
    NotEquals,
    Contains,
    NotContains,
    Gt,
    Lt,
    Ge,
    Le,
    Between,
}

fn op_of(f: &Filter) -> Result<Op, QueryError> {
    Ok(match f.filter_type.as_deref().unwrap_or("Equals") {
        "Equals" => Op::Equals,
        "NotEquals" => Op::NotEquals,
        "ContainsIgnoreCase" => Op::Contains,
        "NotContainsIgnoreCase" => Op::NotContains,
        "GreaterThan" => Op::Gt,
        "LessThan" => Op::Lt,
        "GreaterOrEqualsTo" => Op::Ge,
        "LessOrEqualsTo" => Op::Le,
        "Between" => Op::Between,
        other => return Err(QueryError(format!("Unsupported filter type {other}"))),
    })
}

/// The values of a facet on an element: simple values, or linked element names.
fn facet_values<'a>(e: &'a SimElement, facet: &str) -> Vec<&'a str> {
    if facet == "isMalicious" || facet == "malicious" {
        return vec![if e.malicious { "true" } else { "false" }];
    }
    if let Some(v) = e.simple.get(facet) {
        return v.iter().map(String::as_str).collect();
    }
    if let Some(v) = e.links.get(facet) {
        return v.iter().map(|r| r.name.as_str()).collect();
    }
    Vec::new()
}

fn text_of(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn num_of(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn eq(actual: &str, wanted: &Value) -> bool {
    if let (Ok(a), Some(w)) = (actual.trim().parse::<f64>(), num_of(wanted))
        && matches!(wanted, Value::Number(_))
    {
        return a == w;
    }
    text_of(wanted).is_some_and(|w| actual.eq_ignore_ascii_case(&w))
}

fn matches(e: &SimElement, f: &Filter) -> Result<bool, QueryError> {
    let op = op_of(f)?;
    let actual = facet_values(e, &f.facet_name);
    let nums = || actual.iter().filter_map(|a| a.trim().parse::<f64>().ok());
    Ok(match op {
        Op::Equals => actual.iter().any(|a| f.values.iter().any(|w| eq(a, w))),
        Op::NotEquals => !actual.iter().any(|a| f.values.iter().any(|w| eq(a, w))),
        Op::Contains | Op::NotContains => {
            let hit = actual.iter().any(|a| {
                let a = a.to_lowercase();
                f.values
                    .iter()
                    .filter_map(text_of)
                    .any(|w| a.contains(&w.to_lowercase()))
            });
            if op == Op::Contains { hit } else { !hit }
        }
        Op::Between => {
            let [lo, hi] = f.values.as_slice() else {
                return Err(QueryError(format!(
                    "Between on {} needs two values",
                    f.facet_name
                )));
            };
            let (Some(lo), Some(hi)) = (num_of(lo), num_of(hi)) else {
                return Err(QueryError(format!(
                    "Between on {} needs numbers",
                    f.facet_name
                )));
            };
            nums().any(|a| a >= lo && a <= hi)
        }
        Op::Gt | Op::Lt | Op::Ge | Op::Le => {
            let ws: Vec<f64> = f.values.iter().filter_map(num_of).collect();
            if ws.is_empty() {
                return Err(QueryError(format!(
                    "{:?} on {} needs a number",
                    op, f.facet_name
                )));
            }
            nums().any(|a| {
                ws.iter().any(|&w| match op {
                    Op::Gt => a > w,
                    Op::Lt => a < w,
                    Op::Ge => a >= w,
                    _ => a <= w,
                })
            })
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::cybereason::fixture::Fixture;

    fn data() -> SimData {
        let f = Fixture::parse(
            "connections:\n\
             - {remote: 203.0.113.1, time: 1000, classification: blacklist, domain: A.example}\n\
             - {remote: 203.0.113.2, time: 2000, classification: malware}\n\
             - {remote: 203.0.113.3, time: 3000}\n",
        )
        .unwrap();
        f.build(0).unwrap()
    }

    fn q(filters: Value, limit: u64) -> QueryRequest {
        serde_json::from_value(json!({
            "queryPath": [{"requestedType": "Connection", "filters": filters, "isResult": true}],
            "totalResultLimit": limit
        }))
        .unwrap()
    }

    fn n(r: &QueryResponse) -> usize {
        r.data.as_ref().unwrap().result_id_to_element_data_map.len()
    }

    #[test]
    fn operators() {
        let d = data();
        let cases = [
            (
                json!([{"facetName": "remoteAddressMaliciousClassificationType", "filterType": "Equals", "values": ["BLACKLIST", "malware"]}]),
                2,
            ),
            (
                json!([{"facetName": "remoteAddressMaliciousClassificationType", "values": ["blacklist"]}]),
                1,
            ),
            (
                json!([{"facetName": "creationTime", "filterType": "Between", "values": [1500, 3000.0]}]),
                2,
            ),
            (
                json!([{"facetName": "creationTime", "filterType": "GreaterThan", "values": [1000]}]),
                2,
            ),
            (
                json!([{"facetName": "creationTime", "filterType": "LessOrEqualsTo", "values": ["2000"]}]),
                2,
            ),
            (
                json!([{"facetName": "creationTime", "filterType": "LessThan", "values": [1000]}]),
                0,
            ),
            (
                json!([{"facetName": "creationTime", "filterType": "GreaterOrEqualsTo", "values": [3000]}]),
                1,
            ),
            (
                json!([{"facetName": "domainName", "filterType": "ContainsIgnoreCase", "values": ["a.ex"]}]),
                1,
            ),
            (
                json!([{"facetName": "domainName", "filterType": "NotContainsIgnoreCase", "values": ["a.ex"]}]),
                2,
            ),
            (
                json!([{"facetName": "remoteAddress", "filterType": "NotEquals", "values": ["203.0.113.1"]}]),
                2,
            ),
            (json!([{"facetName": "hasMalops", "values": [false]}]), 3),
            (Value::Null, 3),
        ];
        for (f, want) in cases {
            let r = run(&d, &q(f.clone(), 100), true).unwrap();
            assert_eq!(n(&r), want, "{f}");
            assert_eq!(r.status, "SUCCESS");
        }
    }

    #[test]
    fn plus_one_quirk() {
        let d = data();
        assert_eq!(n(&run(&d, &q(Value::Null, 1), true).unwrap()), 2);
        let r = run(&d, &q(Value::Null, 1), false).unwrap();
        assert_eq!(n(&r), 1);
        assert_eq!(r.data.unwrap().total_possible_results, 3);
    }

    #[test]
    fn unknown_operator_fails() {
        let d = data();
        let f = json!([{"facetName": "x", "filterType": "Sounds", "values": ["y"]}]);
        assert!(run(&d, &q(f, 10), true).is_err());
    }
}
