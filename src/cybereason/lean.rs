//! A fast path for visual-search answers: deserialise only what blockops reads.
//!
//! A Connection row carries dozens of features blockops never looks at (owner machine and
//! process, times, byte counts, suspicions…); building a full `serde_json::Value` of 20 000
//! rows costs more than the rest of a pull. This reader keeps, per row, only the features in
//! [`WANTED`] under `simpleValues`/`elementValues`, and skips everything else without
//! allocating. It accepts only the ordinary shape of a successful answer; anything else
//! (another status, `null` or text where objects belong, a syntax error) returns `None` and
//! the caller falls back to the full, path-aware reader ([`super::query::parse_page`]), which
//! gives the same result or the precise error. A unit test pins both paths to the same output.
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::{Map, Value};

use super::query::QueryPage;
use super::shape::{JPath, count, flag};

/// Every feature blockops reads from a visual-search or crimes/unified row.
pub const WANTED: [&str; 7] = [
    "elementDisplayName",
    "remoteAddress",
    "domainName",
    "urlDomains",
    "dnsQuery",
    "maliciousClassificationType",
    "managementStatus",
];

/// A `simpleValues`/`elementValues` object reduced to the [`WANTED`] features.
struct Kept(Map<String, Value>);

impl<'de> Deserialize<'de> for Kept {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Kept;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object of features")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Kept, A::Error> {
                let mut out = Map::new();
                while let Some(k) = m.next_key::<std::borrow::Cow<'de, str>>()? {
                    if WANTED.contains(&k.as_ref()) {
                        out.insert(k.into_owned(), m.next_value::<Value>()?);
                    } else {
                        m.next_value::<IgnoredAny>()?;
                    }
                }
                Ok(Kept(out))
            }
        }
        d.deserialize_map(V)
    }
}

/// One row: its two feature objects, reduced.
struct Row(Map<String, Value>);

impl<'de> Deserialize<'de> for Row {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Row;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a row object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Row, A::Error> {
                let mut out = Map::new();
                while let Some(k) = m.next_key::<std::borrow::Cow<'de, str>>()? {
                    match k.as_ref() {
                        "simpleValues" | "elementValues" => {
                            let kept = m.next_value::<Kept>()?;
                            out.insert(k.into_owned(), Value::Object(kept.0));
                        }
                        _ => {
                            m.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(Row(out))
            }
        }
        d.deserialize_map(V)
    }
}

/// `data`: the rows and the two fields that judge them.
struct Data {
    rows: Vec<(String, Value)>,
    total: Option<Value>,
    terminated: Option<Value>,
}

impl<'de> Deserialize<'de> for Data {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Rows(Vec<(String, Value)>);
        impl<'de> Deserialize<'de> for Rows {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl<'de> Visitor<'de> for V {
                    type Value = Rows;
                    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                        f.write_str("an object of rows")
                    }
                    fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Rows, A::Error> {
                        let mut out = Vec::new();
                        while let Some(k) = m.next_key::<String>()? {
                            let row = m.next_value::<Row>()?;
                            out.push((k, Value::Object(row.0)));
                        }
                        Ok(Rows(out))
                    }
                }
                d.deserialize_map(V)
            }
        }
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Data;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a data object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Data, A::Error> {
                let mut rows = None;
                let mut total = None;
                let mut terminated = None;
                while let Some(k) = m.next_key::<std::borrow::Cow<'de, str>>()? {
                    match k.as_ref() {
                        "resultIdToElementDataMap" => rows = Some(m.next_value::<Rows>()?.0),
                        "totalPossibleResults" => total = Some(m.next_value::<Value>()?),
                        "queryTerminated" => terminated = Some(m.next_value::<Value>()?),
                        _ => {
                            m.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                let rows =
                    rows.ok_or_else(|| de::Error::missing_field("resultIdToElementDataMap"))?;
                Ok(Data {
                    rows,
                    total,
                    terminated,
                })
            }
        }
        d.deserialize_map(V)
    }
}

/// The answer: `status` and `data`.
struct Envelope {
    status: Option<Value>,
    data: Option<Data>,
}

impl<'de> Deserialize<'de> for Envelope {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Envelope;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an answer object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Envelope, A::Error> {
                let mut status = None;
                let mut data = None;
                while let Some(k) = m.next_key::<std::borrow::Cow<'de, str>>()? {
                    match k.as_ref() {
                        "status" => status = Some(m.next_value::<Value>()?),
                        "data" => data = Some(m.next_value::<Data>()?),
                        _ => {
                            m.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(Envelope { status, data })
            }
        }
        d.deserialize_map(V)
    }
}

/// The rows of an ordinary `SUCCESS` answer, or `None` when anything is unusual (then the
/// full reader decides, with its precise errors).
pub fn page(body: &[u8]) -> Option<QueryPage> {
    // Skipped values are still checked for syntax; UTF-8 is checked here for all of them.
    let text = std::str::from_utf8(body).ok()?;
    let env: Envelope = serde_json::from_str(text).ok()?;
    if env.status.as_ref().and_then(Value::as_str) != Some("SUCCESS") {
        return None;
    }
    let data = env.data?;
    let root = JPath::root("data");
    if flag(data.terminated.as_ref(), &root).ok()? == Some(true) {
        return None;
    }
    let total = count(data.total.as_ref(), &root).ok()?;
    Some(QueryPage {
        total_possible: total.unwrap_or(data.rows.len() as u64),
        rows: data.rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cybereason::query::{connection_facts, domain_facts, parse_page};
    use serde_json::json;

    fn row(i: usize) -> Value {
        json!({
            "simpleValues": {
                "elementDisplayName": {"totalValues": 1, "values": [format!("10.0.0.5:5{i} > 203.0.113.{i}:443\u{0}")]},
                "calculatedCreationTime": {"totalValues": 1, "values": ["1710330879973"]},
                "domainName": {"totalValues": 1, "values": [format!("d{i}.evil.example")]},
                "maliciousClassificationType": {"totalValues": 1, "values": ["malware"]}
            },
            "elementValues": {
                "remoteAddress": {"totalValues": "1", "elementValues": [{"elementType": "IpAddress", "guid": "g", "name": format!("203.0.113.{i}"), "hasSuspicions": "true"}]},
                "ownerMachine": {"totalValues": 2, "elementValues": "null"},
                "dnsQuery": {"totalValues": 1, "elementValues": [{"elementType": "DnsQueryResolvedDomainToIp", "guid": "q", "name": format!("q{i}.evil.example > 203.0.113.{i}")}]},
                "urlDomains": {"totalValues": 0, "elementValues": null}
            },
            "suspicions": {"x": 1}, "filterData": {"a": [1, 2, {"b": null}]}, "isMalicious": "true",
            "guidString": format!("g{i}"), "labelsIds": null, "malopPriority": "None"
        })
    }

    fn answer(rows: Value, extra: Value) -> Value {
        let mut data = json!({"resultIdToElementDataMap": rows, "suspicionsMap": {}, "evidenceMap": {},
            "totalPossibleResults": "3", "guessedPossibleResults": 0, "queryLimits": {"a": 1},
            "queryTerminated": "false", "pathResultCounts": [], "guids": []});
        if let (Value::Object(d), Value::Object(e)) = (&mut data, extra) {
            d.extend(e);
        }
        json!({"data": data, "status": "SUCCESS", "hidePartialSuccess": false, "message": "", "failures": 0})
    }

    /// The fast path gives exactly what the full reader gives, row by row.
    #[test]
    fn fast_path_equals_the_full_reader() {
        let doc = answer(json!({"g1": row(1), "g2": row(2), "g3": row(3)}), json!({}));
        let bytes = serde_json::to_vec(&doc).unwrap();
        let fast = page(&bytes).expect("ordinary answer");
        let slow = parse_page(doc).unwrap();
        assert_eq!(fast.total_possible, slow.total_possible);
        assert_eq!(fast.rows.len(), slow.rows.len());
        for ((fk, fv), (sk, sv)) in fast.rows.iter().zip(&slow.rows) {
            assert_eq!(fk, sk);
            assert_eq!(
                connection_facts(fk, fv).unwrap(),
                connection_facts(sk, sv).unwrap()
            );
            assert_eq!(domain_facts(fk, fv).unwrap(), domain_facts(sk, sv).unwrap());
        }
    }

    /// Anything unusual goes to the full reader (which then succeeds or names the problem).
    #[test]
    fn unusual_answers_are_left_to_the_full_reader() {
        let cases = [
            json!({"status": "FAILURE", "data": null}),
            answer(json!({"g1": row(1)}), json!({"queryTerminated": true})),
            answer(json!(null), json!({"totalPossibleResults": 0})),
            answer(json!({"g1": "oops"}), json!({})),
            answer(json!({"g1": {"simpleValues": "null"}}), json!({})),
            answer(
                json!({"g1": row(1)}),
                json!({"totalPossibleResults": "many"}),
            ),
            json!([1, 2]),
        ];
        for doc in cases {
            assert!(page(&serde_json::to_vec(&doc).unwrap()).is_none(), "{doc}");
        }
        assert!(page(b"{\"status\": \"SUCCESS\", \"data\": {").is_none());
        let mut bad = serde_json::to_vec(&answer(json!({"g1": row(1)}), json!({}))).unwrap();
        let at = bad.windows(5).position(|w| w == b"evide").unwrap();
        bad[at] = 0xff;
        assert!(page(&bad).is_none(), "invalid UTF-8 in a skipped field");
    }
}
