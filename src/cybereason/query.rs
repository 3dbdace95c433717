//! Visual search (`POST /rest/visualsearch/query/simple`, and `/rest/crimes/unified` which
//! answers in the same shape) and what blockops reads from its rows.
//!
//! The envelope must say `status: SUCCESS`, carry a `data` object with a
//! `resultIdToElementDataMap`, and must not say `queryTerminated: true` (a query the server
//! stopped early has partial results). Rows are read with [`super::shape`], so every known
//! variant of a field is accepted and anything else names its JSON path.
use serde_json::Value;

use super::api::QueryRequest;
use reqwest::Method;

use super::client::{Client, Expect};
use super::error::ClientError;
use super::shape::{JPath, ShapeError, count, element_values, flag, obj, simple_values};

/// The rows of one visual-search answer, keyed by element GUID.
#[derive(Debug, Clone, Default)]
pub struct QueryPage {
    pub rows: Vec<(String, Value)>,
    /// `data.totalPossibleResults` (the row count when absent).
    pub total_possible: u64,
}

impl Client {
    /// `POST /rest/visualsearch/query/simple`; any `status` other than `SUCCESS` is an error.
    pub async fn visual_search(&self, q: &QueryRequest) -> Result<QueryPage, ClientError> {
        self.search("/rest/visualsearch/query/simple", q).await
    }

    /// `POST /rest/crimes/unified` (MalOp elements by GUID), same answer shape.
    pub async fn crimes_unified(&self, q: &QueryRequest) -> Result<QueryPage, ClientError> {
        self.search("/rest/crimes/unified", q).await
    }

    async fn search(&self, path: &str, q: &QueryRequest) -> Result<QueryPage, ClientError> {
        enum Parsed {
            Fast(QueryPage),
            Full(Value),
        }
        let body = serde_json::to_value(q).map_err(|e| ClientError::BadResponse {
            url: self.url(path),
            reason: format!("request body: {e}"),
        })?;
        // The lean reader takes ordinary answers; everything else gets the full reader.
        let parsed = self
            .call(
                Method::POST,
                path,
                Some(&body),
                Expect::Json,
                |b| match super::lean::page(b) {
                    Some(p) => Ok(Parsed::Fast(p)),
                    None => super::body::json(b).map(Parsed::Full),
                },
            )
            .await?;
        let doc = match parsed {
            Parsed::Fast(page) => return Ok(page),
            Parsed::Full(doc) => doc,
        };
        self.check_status(path, &doc)?;
        parse_page(doc).map_err(|e| ClientError::BadResponse {
            url: self.url(path),
            reason: e.to_string(),
        })
    }
}

/// Take the rows out of a `SUCCESS` answer.
pub fn parse_page(doc: Value) -> Result<QueryPage, ShapeError> {
    let root = JPath::root("");
    let dp = root.key("data");
    let Value::Object(mut top) = doc else {
        return Err(root.error("expected an object"));
    };
    let mut data = match top.remove("data") {
        Some(Value::Object(d)) => d,
        Some(other) => {
            return Err(dp.error(format!(
                "expected an object, found {}",
                super::shape::kind(&other)
            )));
        }
        None => return Err(dp.error("missing (expected an object)")),
    };
    let tp = dp.key("queryTerminated");
    if flag(data.get("queryTerminated"), &tp)? == Some(true) {
        return Err(tp.error(
            "true: the server stopped the query before it completed, so its results are partial",
        ));
    }
    let total = count(
        data.get("totalPossibleResults"),
        &dp.key("totalPossibleResults"),
    )?;
    let mp = dp.key("resultIdToElementDataMap");
    let rows: Vec<(String, Value)> = match data.remove("resultIdToElementDataMap") {
        Some(Value::Object(m)) => m.into_iter().collect(),
        None | Some(Value::Null) if total.unwrap_or(0) == 0 => Vec::new(),
        Some(other) => {
            return Err(mp.error(format!(
                "expected an object, found {}",
                super::shape::kind(&other)
            )));
        }
        None => return Err(mp.error("missing although totalPossibleResults is not 0")),
    };
    Ok(QueryPage {
        total_possible: total.unwrap_or(rows.len() as u64),
        rows,
    })
}

/// What a `Connection` row says about its remote end.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConnectionFacts {
    /// `elementDisplayName` (`10.0.0.5:50394 > 203.0.113.9:443`).
    pub display: Option<String>,
    pub ips: Vec<String>,
    pub domains: Vec<String>,
}

/// The path of a row in the answer.
fn row_path<'a>(map: &'a JPath<'a>, key: &'a str) -> JPath<'a> {
    map.key(key)
}

/// Read a `Connection` row: the remote IP from `remoteAddress` (an `IpAddress` element, or a
/// simple value), and the domain in every form real responses use (issue #9 point 8):
/// - `domainName` as a simple value or as linked `DomainName` elements, and `urlDomains`
///   (opencybersecurityalliance/stix-shifter stix_shifter_modules/cybereason/stix_transmission
///   merges both; which bucket a tenant fills is unsettled, so both are read);
/// - `dnsQuery`, linked elements named `<domain> > <ip>` (stix-shifter
///   stix_shifter_modules/cybereason/test/stix_translation/test_cybereason_json_to_stix.py;
///   elastic/integrations packages/cybereason/data_stream/malop_connection reads `dnsQuery`).
pub fn connection_facts(key: &str, row: &Value) -> Result<ConnectionFacts, ShapeError> {
    let root = JPath::root("data");
    let map = root.key("resultIdToElementDataMap");
    let p = row_path(&map, key);
    let el = obj(Some(row), &p)?;
    let mut f = ConnectionFacts {
        display: simple_values(el, "elementDisplayName", &p)?
            .into_iter()
            .next(),
        ..Default::default()
    };
    let ev = p.key("elementValues");
    let rp = ev.key("remoteAddress");
    let lp = rp.key("elementValues");
    for (i, l) in element_values(el, "remoteAddress", &p)?
        .into_iter()
        .enumerate()
    {
        let ip = lp.index(i);
        match l.element_type.as_deref() {
            None | Some("IpAddress") => {}
            Some(other) => {
                return Err(ip.key("elementType").error(format!(
                    "expected IpAddress, found `{}`",
                    super::error::snippet(other)
                )));
            }
        }
        match l.name {
            Some(n) => f.ips.push(n),
            None => return Err(ip.key("name").error("missing (the remote address)")),
        }
    }
    f.ips.extend(simple_values(el, "remoteAddress", &p)?);
    for feature in ["domainName", "urlDomains"] {
        f.domains.extend(simple_values(el, feature, &p)?);
        f.domains.extend(linked_names(el, feature, &p)?);
    }
    for q in simple_values(el, "dnsQuery", &p)?
        .into_iter()
        .chain(linked_names(el, "dnsQuery", &p)?)
    {
        f.domains.push(dns_query_domain(&q).to_string());
    }
    f.domains.retain(|d| !d.trim().is_empty());
    // The same domain often appears in several forms of one row.
    f.domains.sort();
    f.domains.dedup();
    Ok(f)
}

/// Names of the linked elements of a feature; an element without a name is an error.
fn linked_names(
    el: &serde_json::Map<String, Value>,
    feature: &str,
    p: &JPath,
) -> Result<Vec<String>, ShapeError> {
    let ev = p.key("elementValues");
    let fp = ev.key(feature);
    let lp = fp.key("elementValues");
    element_values(el, feature, p)?
        .into_iter()
        .enumerate()
        .map(|(i, l)| {
            let ip = lp.index(i);
            l.name.ok_or_else(|| ip.key("name").error("missing"))
        })
        .collect()
}

/// `evil.example > 203.0.113.9` → `evil.example` (a name without ` > ` is the domain itself).
pub fn dns_query_domain(name: &str) -> &str {
    name.split_once(" > ").map_or(name, |(d, _)| d).trim()
}

/// A malicious `DomainName` row: its name and classification.
pub fn domain_facts(key: &str, row: &Value) -> Result<(String, String), ShapeError> {
    let root = JPath::root("data");
    let map = root.key("resultIdToElementDataMap");
    let p = row_path(&map, key);
    let el = obj(Some(row), &p)?;
    let name = simple_values(el, "elementDisplayName", &p)?
        .into_iter()
        .next()
        .ok_or_else(|| {
            p.key("simpleValues")
                .key("elementDisplayName")
                .error("missing (the domain name)")
        })?;
    let class = simple_values(el, "maliciousClassificationType", &p)?.join(",");
    Ok((name, class))
}

/// `managementStatus` of a `MalopProcess` row from `crimes/unified` (none when absent).
pub fn management_status(key: &str, row: &Value) -> Result<Option<String>, ShapeError> {
    let root = JPath::root("data");
    let map = root.key("resultIdToElementDataMap");
    let p = row_path(&map, key);
    let el = obj(Some(row), &p)?;
    Ok(simple_values(el, "managementStatus", &p)?
        .into_iter()
        .next())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A Connection row in the shape of a real answer (creativice/graph-cybereason recordings)
    /// with the quirks real servers add.
    fn real_connection() -> Value {
        json!({
            "simpleValues": {
                "elementDisplayName": {"totalValues": 1, "values": ["10.0.0.5:50394 > 203.0.113.9:443\u{0}"]},
                "remotePort": {"totalValues": 1, "values": ["443"]},
                "isExternalConnection": {"totalValues": 1, "values": ["true"]},
                "domainName": {"totalValues": 1, "values": []},
                "calculatedCreationTime": {"totalValues": 1, "values": ["1710330879973"]}
            },
            "elementValues": {
                "remoteAddress": {"totalValues": 1, "totalSuspicious": "1", "totalMalicious": 1, "guessedTotal": 0,
                    "elementValues": [{"elementType": "IpAddress", "guid": "ip-1", "name": "203.0.113.9",
                                       "hasSuspicions": "true", "hasMalops": "false", "simpleValues": null}]},
                "ownerMachine": {"totalValues": 2, "elementValues": null},
                "ownerProcess": {"totalValues": 1, "elementValues": "null"},
                "domainName": {"totalValues": 1, "elementValues": [{"elementType": "DomainName", "guid": "d-1", "name": "c2.evil.example"}]},
                "urlDomains": {"totalValues": 0, "elementValues": []},
                "dnsQuery": {"totalValues": 1, "elementValues": [{"elementType": "DnsQueryResolvedDomainToIp", "guid": "q-1", "name": "cdn.evil.example > 203.0.113.9"}]}
            },
            "suspicions": null, "filterData": {"sortInGroupValue": "x", "groupByValue": "y"},
            "isMalicious": "true", "suspicionCount": "1", "guidString": "7vCm", "labelsIds": null,
            "malopPriority": "None", "suspect": true, "malicious": false, "newField": {"nested": [1, 2]}
        })
    }

    #[test]
    fn real_connection_shapes_are_read() {
        let f = connection_facts("7vCm", &real_connection()).unwrap();
        assert_eq!(
            f.display.as_deref(),
            Some("10.0.0.5:50394 > 203.0.113.9:443")
        );
        assert_eq!(f.ips, ["203.0.113.9"]);
        assert_eq!(f.domains, ["c2.evil.example", "cdn.evil.example"]);
    }

    #[test]
    fn an_unknown_shape_of_a_needed_field_names_its_path() {
        let mut row = real_connection();
        row["elementValues"]["remoteAddress"]["elementValues"][0]["name"] = json!(["203.0.113.9"]);
        let e = connection_facts("7vCm", &row).unwrap_err();
        assert_eq!(
            e.to_string(),
            "data.resultIdToElementDataMap[\"7vCm\"].elementValues.remoteAddress.elementValues[0].name: expected text, found an array"
        );
        let mut row = real_connection();
        row["elementValues"]["remoteAddress"]["elementValues"][0]["elementType"] = json!("Machine");
        assert!(
            connection_facts("7vCm", &row)
                .unwrap_err()
                .to_string()
                .contains("expected IpAddress")
        );
        let mut row = real_connection();
        row["simpleValues"]["domainName"] = json!({"values": {"a": 1}});
        let e = connection_facts("7vCm", &row).unwrap_err();
        assert!(
            e.to_string()
                .contains("simpleValues.domainName.values: expected an array"),
            "{e}"
        );
        // A field we do not read may have any shape.
        let mut row = real_connection();
        row["elementValues"]["ownerMachine"] = json!("whatever");
        row["simpleValues"]["remotePort"] = json!(42);
        assert!(connection_facts("7vCm", &row).is_ok());
    }

    #[test]
    fn the_envelope_is_checked() {
        let ok = json!({"data": {"resultIdToElementDataMap": {"a": {}, "b": {}}, "totalPossibleResults": "5",
                        "queryTerminated": "false"}, "status": "SUCCESS"});
        let page = parse_page(ok).unwrap();
        assert_eq!(page.rows.len(), 2);
        assert_eq!(page.total_possible, 5);
        let empty = json!({"data": {"resultIdToElementDataMap": null, "totalPossibleResults": 0}, "status": "SUCCESS"});
        assert!(parse_page(empty).unwrap().rows.is_empty());
        let cut = json!({"data": {"totalPossibleResults": 3}, "status": "SUCCESS"});
        assert!(
            parse_page(cut)
                .unwrap_err()
                .to_string()
                .starts_with("data.resultIdToElementDataMap: missing")
        );
        let terminated = json!({"data": {"resultIdToElementDataMap": {}, "queryTerminated": true}, "status": "SUCCESS"});
        assert!(
            parse_page(terminated)
                .unwrap_err()
                .to_string()
                .contains("partial")
        );
        assert!(parse_page(json!({"data": null, "status": "SUCCESS"})).is_err());
    }

    #[test]
    fn dns_queries_name_the_domain_first() {
        assert_eq!(dns_query_domain("a.example > 203.0.113.9"), "a.example");
        assert_eq!(dns_query_domain("a.example"), "a.example");
    }
}
