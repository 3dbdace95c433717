//! Visual-search evaluation over the fixture elements and the answer written as JSON in the
//! real shape: the filter operators, MalOp chains, the `totalResultLimit`+1 quirk, string
//! `simpleValues`, `elementValues` lists, the wrapper fields and the extra fields real answers
//! carry (research `cybereason-api.md` §4.2, XSOAR `test_data/query_malop_raw_response.json`,
//! Elastic's mock `packages/cybereason/_dev/deploy/docker/files/config.yml`).
use std::borrow::Cow;
use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

use super::fixture::{SimData, SimElement, SimRef};
use super::malops;
use super::quirks::{DomainForm, Quirks};
use super::wire::{Filter, PathElement, Query, number};

/// Why a query cannot be answered (the server reports `status: FAILURE`).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct QueryError(pub String);

/// Features a real answer carries even when not requested (the template's own features), per
/// element type: Elastic's mock and XSOAR's samples show rows with more than was asked for.
fn template_extras(element_type: &str) -> &'static [&'static str] {
    match element_type {
        "Connection" => &[
            "calculatedCreationTime",
            "endTime",
            "group",
            "ownerMachine",
            "ownerProcess",
        ],
        _ => &[],
    }
}

/// Element features the server may leave unmaterialised (`Quirks::element_values_null`).
fn secondary_elements(element_type: &str) -> &'static [&'static str] {
    match element_type {
        "Connection" => &["localAddress", "ownerMachine", "ownerProcess"],
        "MalopProcess" => &["affectedUsers", "filesToRemediate", "rootCauseElements"],
        _ => &[],
    }
}

/// Simple features sent as `values: []` with `totalValues: 1` (`Quirks::empty_values`).
fn secondary_simple(element_type: &str) -> &'static [&'static str] {
    match element_type {
        "Connection" => &["calculatedCreationTime", "endTime", "portType"],
        "MalopProcess" => &["malopStartTime", "iconBase64", "rootCauseElementHashes"],
        _ => &[],
    }
}

/// The rows of one element type (MalopProcess rows are made from the EDR MalOps).
fn candidates<'a>(data: &'a SimData, ty: &str, quirks: &Quirks) -> Cow<'a, [SimElement]> {
    match ty {
        "MalopProcess" => Cow::Owned(
            data.malops
                .values()
                .filter(|m| m.edr)
                .map(|m| malops::process_element(m, quirks.none_features()))
                .collect(),
        ),
        _ => data
            .elements
            .get(ty)
            .map(|v| Cow::Borrowed(v.as_slice()))
            .unwrap_or(Cow::Owned(Vec::new())),
    }
}

/// Rows of `el` that pass its `guidList` and filters.
fn select<'a>(rows: &'a [SimElement], el: &PathElement) -> Result<Vec<&'a SimElement>, QueryError> {
    for f in &el.filters {
        op_of(f)?;
    }
    let guids: Option<BTreeSet<&str>> = el
        .guid_list
        .as_ref()
        .map(|g| g.iter().map(String::as_str).collect());
    let mut out = Vec::new();
    for e in by_time(rows, el) {
        if guids.as_ref().is_some_and(|g| !g.contains(e.guid.as_str())) {
            continue;
        }
        let mut ok = true;
        for f in &el.filters {
            if !matches(e, f)? {
                ok = false;
                break;
            }
        }
        if ok {
            out.push(e);
        }
    }
    Ok(out)
}

/// The part of `rows` a creation-time `Between` can match, found by binary search — the
/// server's time index. Connections are kept sorted by time (`SimData`), and a connection's
/// `creationTime`/`calculatedCreationTime` is its `time`; every filter is still applied to each
/// row of the range, so this only saves scanning rows that cannot match (a pull of 20 000
/// connections asks about 60 windowed queries).
fn by_time<'a>(rows: &'a [SimElement], el: &PathElement) -> &'a [SimElement] {
    if el.requested_type != "Connection" || !rows.is_sorted_by_key(|e| e.time) {
        return rows;
    }
    let mut rows = rows;
    for f in &el.filters {
        if !matches!(
            f.facet_name.as_str(),
            "creationTime" | "calculatedCreationTime"
        ) || f.filter_type != "Between"
        {
            continue;
        }
        if let [lo, hi] = f.values.as_slice()
            && let (Some(lo), Some(hi)) = (number(lo), number(hi))
        {
            let start = rows.partition_point(|e| (e.time as f64) < lo);
            let end = rows.partition_point(|e| (e.time as f64) <= hi).max(start);
            rows = &rows[start..end];
        }
    }
    rows
}

/// Run a query. `plus_one` enables the quirk of returning one row beyond the limit. The
/// answer is the canonical JSON with the row-level quirks applied; the caller applies the
/// whole-answer rewrites (`Quirks::finish`).
pub fn run(
    data: &SimData,
    q: &Query,
    plus_one: bool,
    quirks: &Quirks,
) -> Result<Value, QueryError> {
    if q.path.is_empty() {
        return Err(QueryError("queryPath is empty".into()));
    }
    let result_idx = q.result_index();
    let result_el = &q.path[result_idx];
    // Chains are reduced to what the fixture models: the MalOps picked by a `Malop*` element
    // (its guidList and filters) restrict the result to elements linked to them. EPP MalOps
    // have no MalopProcess row, so a chain from one finds nothing — as on a real server.
    let mut malop_restrict: Option<BTreeSet<String>> = None;
    for (i, el) in q.path.iter().enumerate() {
        if i == result_idx || !el.requested_type.starts_with("Malop") {
            continue;
        }
        let rows = candidates(data, &el.requested_type, quirks);
        let picked: BTreeSet<String> = select(&rows, el)?.iter().map(|e| e.guid.clone()).collect();
        malop_restrict = Some(match malop_restrict {
            Some(prev) => prev.intersection(&picked).cloned().collect(),
            None => picked,
        });
    }
    let rows = candidates(data, &result_el.requested_type, quirks);
    let matched: Vec<&SimElement> = select(&rows, result_el)?
        .into_iter()
        .filter(|e| {
            malop_restrict
                .as_ref()
                .is_none_or(|ms| e.malops.iter().any(|m| ms.contains(m)))
        })
        .collect();
    let total = matched.len() as u64;
    let take = if plus_one {
        q.total_result_limit.saturating_add(1)
    } else {
        q.total_result_limit
    };
    let fields: BTreeSet<&str> = q.custom_fields.iter().map(String::as_str).collect();
    let crimes = result_el.requested_type.starts_with("Malop");
    let mut map = Map::new();
    let mut suspicions_map = Map::new();
    let mut evidence_map = Map::new();
    for e in matched
        .iter()
        .take(usize::try_from(take).unwrap_or(usize::MAX))
    {
        if let Some((name, evidence)) = suspicion(e) {
            let entry = suspicions_map.entry(name).or_insert_with(
                || json!({"potentialEvidence": [evidence], "firstTimestamp": e.time, "totalSuspicions": 0}),
            );
            if let Some(first) = entry["firstTimestamp"].as_i64() {
                entry["firstTimestamp"] = json!(first.min(e.time));
            }
            if let Some(n) = entry["totalSuspicions"].as_u64() {
                entry["totalSuspicions"] = json!(n + 1);
            }
            let c = evidence_map.entry(evidence).or_insert(json!(0));
            *c = json!(c.as_u64().unwrap_or(0) + 1);
        }
        map.insert(
            e.guid.clone(),
            row(e, &fields, q.per_feature_limit, quirks, crimes),
        );
    }
    let returned = map.len();
    let grouping = if crimes { "self" } else { "elementDisplayName" };
    Ok(json!({
        "data": {
            "resultIdToElementDataMap": map,
            "suspicionsMap": suspicions_map,
            "evidenceMap": evidence_map,
            "totalPossibleResults": total,
            "guessedPossibleResults": 0,
            "queryLimits": {
                "totalResultLimit": q.total_result_limit,
                "perGroupLimit": q.per_group_limit,
                "perFeatureLimit": q.per_feature_limit,
                "groupingFeature": {"elementInstanceType": result_el.requested_type, "featureName": grouping},
                "sortInGroupFeature": null
            },
            "queryTerminated": false,
            "pathResultCounts": [{
                "featureDescriptor": {"elementInstanceType": result_el.requested_type, "featureName": null},
                "count": total
            }],
            "guids": [],
            "paginationToken": null,
            "executionUUID": null
        },
        "status": "SUCCESS",
        "hidePartialSuccess": false,
        "message": "",
        "expectedResults": returned,
        "failures": 0,
        "failedServersInfo": {
            "onlineFailedServers": [], "offlineServers": [],
            "onlineFailedServersPercentage": 0.0, "totalFailedServersPercentage": 0.0
        }
    }))
}

/// The answer of a query that cannot run (HTTP 200, `status: FAILURE`).
pub fn failure(message: &str) -> Value {
    json!({
        "data": null, "status": "FAILURE", "hidePartialSuccess": false,
        "message": message, "expectedResults": 0, "failures": 1
    })
}

/// The suspicion and evidence a malicious element carries (names from SPLUNK/stix-shifter).
fn suspicion(e: &SimElement) -> Option<(String, String)> {
    if !e.malicious || e.element_type != "Connection" {
        return None;
    }
    Some(match e.classification.as_deref() {
        Some("blacklist") => (
            "connectingToBlackListAddressSuspicion".into(),
            "hasBlackListConnectionEvidence".into(),
        ),
        _ => (
            "connectingToBadReputationAddressSuspicion".into(),
            "hasMaliciousConnectionEvidence".into(),
        ),
    })
}

fn ref_json(r: &SimRef) -> Value {
    json!({"elementType": r.element_type, "guid": r.guid, "name": r.name,
           "hasSuspicions": r.has_suspicions, "hasMalops": r.has_malops})
}

fn element_feature(refs: &[SimRef], per_feature: u64, secondary: bool, quirks: &Quirks) -> Value {
    let shown: Vec<Value> = refs
        .iter()
        .take(usize::try_from(per_feature).unwrap_or(usize::MAX))
        .map(ref_json)
        .collect();
    let list = if secondary {
        quirks.secondary_list(shown)
    } else {
        Value::Array(shown)
    };
    json!({
        "totalValues": refs.len(),
        "elementValues": list,
        "totalSuspicious": refs.iter().filter(|r| r.has_suspicions).count(),
        "totalMalicious": refs.iter().filter(|r| r.has_suspicions && r.has_malops).count(),
        "guessedTotal": 0
    })
}

/// The links a Connection's domain becomes, per `domain_form`: (feature, links).
fn domain_links(e: &SimElement, form: DomainForm) -> Vec<(&'static str, Vec<SimRef>)> {
    let Some(d) = &e.domain else {
        return Vec::new();
    };
    let domain_ref = || SimRef {
        element_type: "DomainName".into(),
        guid: format!("domain-{d}"),
        name: d.clone(),
        has_suspicions: e.malicious,
        has_malops: !e.malops.is_empty(),
    };
    let mut out = Vec::new();
    if matches!(form, DomainForm::DomainNameElement | DomainForm::All) {
        out.push(("domainName", vec![domain_ref()]));
    }
    if matches!(form, DomainForm::UrlDomainsElement | DomainForm::All) {
        out.push(("urlDomains", vec![domain_ref()]));
    }
    if matches!(form, DomainForm::DnsQueryElement | DomainForm::All) {
        let ip = e.remote.as_deref().unwrap_or_default();
        out.push((
            "dnsQuery",
            vec![SimRef {
                element_type: "DnsQueryResolvedDomainToIp".into(),
                guid: format!("dns-{d}-{ip}"),
                name: format!("{d} > {ip}"),
                ..SimRef::default()
            }],
        ));
    }
    out
}

fn row(
    e: &SimElement,
    fields: &BTreeSet<&str>,
    per_feature: u64,
    quirks: &Quirks,
    crimes: bool,
) -> Value {
    let ty = e.element_type.as_str();
    let extras = template_extras(ty);
    let want = |k: &str| fields.is_empty() || fields.contains(k) || extras.contains(&k);
    let mut simple_values = Map::new();
    let mut simple = |k: &str, vals: &[String]| {
        let v = if quirks.empty_values && secondary_simple(ty).contains(&k) {
            json!({"totalValues": 1, "values": []})
        } else {
            let texts: Vec<String> = vals.iter().map(|s| quirks.simple_text(s)).collect();
            json!({"totalValues": vals.len(), "values": texts})
        };
        simple_values.insert(k.to_string(), v);
    };
    for (k, v) in &e.simple {
        if want(k) {
            simple(k, v);
        }
    }
    let form = quirks.domain_form;
    if let Some(d) = &e.domain
        && matches!(form, DomainForm::SimpleValue | DomainForm::All)
        && want("domainName")
    {
        simple("domainName", std::slice::from_ref(d));
    }
    let mut element_values = Map::new();
    let secondary = secondary_elements(ty);
    for (k, refs) in &e.links {
        if want(k) {
            element_values.insert(
                k.clone(),
                element_feature(refs, per_feature, secondary.contains(&k.as_str()), quirks),
            );
        }
    }
    for (k, refs) in domain_links(e, form) {
        if want(k) {
            element_values.insert(
                k.to_string(),
                element_feature(&refs, per_feature, false, quirks),
            );
        }
    }
    let display = e
        .simple
        .get("elementDisplayName")
        .and_then(|v| v.first())
        .cloned()
        .unwrap_or_default();
    let suspicions = match suspicion(e) {
        Some((name, _)) => json!({ name: e.time }),
        None => json!({}),
    };
    let (group_by, labels) = if crimes {
        (format!("MalopProcessRuntime:{} ", e.guid), json!([]))
    } else {
        (display, Value::Null)
    };
    json!({
        "simpleValues": simple_values,
        "elementValues": element_values,
        "suspicions": suspicions,
        "filterData": {"sortInGroupValue": e.guid, "groupByValue": group_by},
        "isMalicious": e.malicious,
        "suspicionCount": u64::from(suspicion(e).is_some()),
        "guidString": e.guid,
        "labelsIds": labels,
        "malopPriority": null,
        "suspect": e.malicious,
        "malicious": e.malicious
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Equals,
    NotEquals,
    Contains,
    NotContains,
    Wildcard,
    Gt,
    Lt,
    Ge,
    Le,
    Between,
}

fn op_of(f: &Filter) -> Result<Op, QueryError> {
    Ok(match f.filter_type.as_str() {
        // `Includes`/`NotIncludes` (stix-shifter) test element features like Equals.
        "Equals" | "Includes" => Op::Equals,
        "NotEquals" | "NotIncludes" => Op::NotEquals,
        "ContainsIgnoreCase" => Op::Contains,
        "NotContainsIgnoreCase" => Op::NotContains,
        "MatchesWildcard" => Op::Wildcard,
        "GreaterThan" => Op::Gt,
        "LessThan" => Op::Lt,
        "GreaterOrEqualsTo" => Op::Ge,
        "LessOrEqualsTo" => Op::Le,
        "Between" => Op::Between,
        other => return Err(QueryError(format!("Unsupported filter type {other}"))),
    })
}

/// The values of a facet on an element: simple values, or linked element names.
fn facet_values<'a>(e: &'a SimElement, facet: &str) -> Vec<Cow<'a, str>> {
    match facet {
        "isMalicious" | "malicious" | "suspect" => {
            return vec![Cow::Borrowed(if e.malicious { "true" } else { "false" })];
        }
        "domainName" | "urlDomains" if e.domain.is_some() => {
            return e.domain.iter().map(|d| Cow::Borrowed(d.as_str())).collect();
        }
        "dnsQuery" if e.domain.is_some() => {
            return vec![Cow::Owned(format!(
                "{} > {}",
                e.domain.as_deref().unwrap_or_default(),
                e.remote.as_deref().unwrap_or_default()
            ))];
        }
        _ => {}
    }
    if let Some(v) = e.simple.get(facet) {
        return v.iter().map(|s| Cow::Borrowed(s.as_str())).collect();
    }
    if let Some(v) = e.links.get(facet) {
        return v.iter().map(|r| Cow::Borrowed(r.name.as_str())).collect();
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

fn eq(actual: &str, wanted: &Value) -> bool {
    if let (Ok(a), Value::Number(w)) = (actual.trim().parse::<f64>(), wanted) {
        return w.as_f64() == Some(a);
    }
    text_of(wanted).is_some_and(|w| actual.eq_ignore_ascii_case(&w))
}

/// `*` matches any run of characters, `?` one; case-insensitive.
fn wildcard(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.to_lowercase().chars().collect();
    let t: Vec<char> = text.to_lowercase().chars().collect();
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

fn matches(e: &SimElement, f: &Filter) -> Result<bool, QueryError> {
    let op = op_of(f)?;
    let actual = facet_values(e, &f.facet_name);
    let nums = || actual.iter().filter_map(|a| a.trim().parse::<f64>().ok());
    let hit = |test: &dyn Fn(&str, &str) -> bool| {
        actual
            .iter()
            .any(|a| f.values.iter().filter_map(text_of).any(|w| test(a, &w)))
    };
    Ok(match op {
        Op::Equals => actual.iter().any(|a| f.values.iter().any(|w| eq(a, w))),
        Op::NotEquals => !actual.iter().any(|a| f.values.iter().any(|w| eq(a, w))),
        Op::Contains => hit(&|a, w| a.to_lowercase().contains(&w.to_lowercase())),
        Op::NotContains => !hit(&|a, w| a.to_lowercase().contains(&w.to_lowercase())),
        Op::Wildcard => hit(&|a, w| wildcard(w, a)),
        Op::Between => {
            let [lo, hi] = f.values.as_slice() else {
                return Err(QueryError(format!(
                    "Between on {} needs two values",
                    f.facet_name
                )));
            };
            let (Some(lo), Some(hi)) = (number(lo), number(hi)) else {
                return Err(QueryError(format!(
                    "Between on {} needs numbers",
                    f.facet_name
                )));
            };
            nums().any(|a| a >= lo && a <= hi)
        }
        Op::Gt | Op::Lt | Op::Ge | Op::Le => {
            let ws: Vec<f64> = f.values.iter().filter_map(number).collect();
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
    use std::collections::BTreeMap;

    use super::*;
    use crate::sim::cybereason::fixture::Fixture;

    fn rows(v: &Value) -> BTreeMap<String, Value> {
        v["data"]["resultIdToElementDataMap"]
            .as_object()
            .map(|m| m.clone().into_iter().collect())
            .unwrap_or_default()
    }

    fn data() -> SimData {
        let f = Fixture::parse(
            "malops:\n\
             - {guid: M1}\n\
             - {guid: M2, management_status: CLOSED}\n\
             - {guid: E1, edr: false}\n\
             connections:\n\
             - {remote: 203.0.113.1, time: 1000, classification: blacklist, domain: A.example, malops: [M1]}\n\
             - {remote: 203.0.113.2, time: 2000, classification: malware, malops: [M2, E1]}\n\
             - {remote: 203.0.113.3, time: 3000, malops: [E1]}\n",
        )
        .unwrap();
        f.build(0).unwrap()
    }

    fn q(ty: &str, filters: Value, limit: u64) -> Query {
        Query::parse(
            json!({
                "queryPath": [{"requestedType": ty, "filters": filters, "isResult": true}],
                "totalResultLimit": limit
            })
            .to_string()
            .as_bytes(),
        )
        .unwrap()
    }

    fn n(v: &Value) -> usize {
        rows(v).len()
    }

    #[test]
    fn operators() {
        let d = data();
        let qk = Quirks::default();
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
                json!([{"facetName": "dnsQuery", "filterType": "MatchesWildcard", "values": ["*.example > 203.*"]}]),
                1,
            ),
            (
                json!([{"facetName": "remoteAddress", "filterType": "NotEquals", "values": ["203.0.113.1"]}]),
                2,
            ),
            (json!([{"facetName": "hasMalops", "values": [true]}]), 3),
            (Value::Null, 3),
        ];
        for (f, want) in cases {
            let r = run(&d, &q("Connection", f.clone(), 100), true, &qk).unwrap();
            assert_eq!(n(&r), want, "{f}");
            assert_eq!(r["status"], "SUCCESS");
        }
    }

    #[test]
    fn plus_one_quirk() {
        let d = data();
        let qk = Quirks::default();
        assert_eq!(
            n(&run(&d, &q("Connection", Value::Null, 1), true, &qk).unwrap()),
            2
        );
        let r = run(&d, &q("Connection", Value::Null, 1), false, &qk).unwrap();
        assert_eq!(n(&r), 1);
        assert_eq!(r["data"]["totalPossibleResults"], 3);
    }

    #[test]
    fn unknown_operator_fails() {
        let d = data();
        let f = json!([{"facetName": "x", "filterType": "Sounds", "values": ["y"]}]);
        assert!(run(&d, &q("Connection", f, 10), true, &Quirks::default()).is_err());
    }

    #[test]
    fn malop_chains_reach_only_edr_malops_and_honour_their_filters() {
        let d = data();
        let chain = |malop: Value| {
            Query::parse(
                json!({"queryPath": [
                    malop,
                    {"requestedType": "Process", "filters": []},
                    {"requestedType": "Connection", "filters": [], "isResult": true}
                ], "totalResultLimit": 100})
                .to_string()
                .as_bytes(),
            )
            .unwrap()
        };
        let ips = |v: &Value| -> Vec<String> {
            rows(v)
                .values()
                .map(|r| {
                    r["elementValues"]["remoteAddress"]["elementValues"][0]["name"]
                        .as_str()
                        .unwrap()
                        .to_string()
                })
                .collect()
        };
        let qk = Quirks::default();
        let r = run(
            &d,
            &chain(json!({"requestedType": "MalopProcess", "guidList": ["M1"]})),
            true,
            &qk,
        )
        .unwrap();
        assert_eq!(ips(&r), ["203.0.113.1"]);
        // An EPP MalOp has no process chain.
        let r = run(
            &d,
            &chain(json!({"requestedType": "MalopProcess", "guidList": ["E1"]})),
            true,
            &qk,
        )
        .unwrap();
        assert_eq!(n(&r), 0);
        // Filters on the MalOp element pick MalOps by status.
        let r = run(&d, &chain(json!({"requestedType": "MalopProcess",
            "filters": [{"facetName": "managementStatus", "filterType": "NotEquals", "values": ["CLOSED"]}]})), true, &qk).unwrap();
        assert_eq!(ips(&r), ["203.0.113.1"]);
        // crimes/unified rows: EDR MalOps only, keyed by GUID.
        let r = run(&d, &q("MalopProcess", Value::Null, 100), true, &qk).unwrap();
        assert_eq!(rows(&r).keys().collect::<Vec<_>>(), ["M1", "M2"]);
        assert_eq!(
            r["data"]["resultIdToElementDataMap"]["M2"]["simpleValues"]["managementStatus"]["values"]
                [0],
            "CLOSED"
        );
    }

    #[test]
    fn wildcards() {
        assert!(wildcard("*.EVIL.example", "c2.evil.example"));
        assert!(wildcard("c?.evil.*", "c2.evil.example"));
        assert!(!wildcard("*.good.example", "c2.evil.example"));
        assert!(wildcard("*", ""));
    }
}
