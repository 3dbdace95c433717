//! Lenient reading of request bodies, written from what public clients send (research
//! `cybereason-api.md` §4.1, §9): `isResult`/`result` as a boolean or `"true"`, `filters`
//! null or absent, a filter without `filterType` (= `Equals`), float times, numbers as text.
//! The simulator keeps its own request types so that it never agrees with a client by
//! sharing a definition with it.
use serde_json::Value;

/// A visual-search request as the simulator understands it.
#[derive(Debug, Clone)]
pub struct Query {
    pub path: Vec<PathElement>,
    pub total_result_limit: u64,
    pub per_group_limit: u64,
    pub per_feature_limit: u64,
    /// Requested features; empty = all.
    pub custom_fields: Vec<String>,
    pub template_context: Option<String>,
}

/// One `queryPath` element.
#[derive(Debug, Clone)]
pub struct PathElement {
    pub requested_type: String,
    pub filters: Vec<Filter>,
    pub guid_list: Option<Vec<String>>,
    pub is_result: bool,
}

/// One filter.
#[derive(Debug, Clone)]
pub struct Filter {
    pub facet_name: String,
    /// `Equals` when the client left it out (XSOAR, Siemplify).
    pub filter_type: String,
    pub values: Vec<Value>,
}

/// A request the simulator cannot read (answered with 400).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct WireError(pub String);

/// `true`, `"true"` (any case) → true; `false`, `"false"`, null, absent → false.
pub fn flag(v: &Value) -> Result<bool, String> {
    match v {
        Value::Null => Ok(false),
        Value::Bool(b) => Ok(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Ok(false),
        other => Err(format!("expected a boolean, got {other}")),
    }
}

/// An integer given as a number (also a float) or as text.
pub fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A count: absent/null gives `default`; anything else must be a non-negative number.
fn count(v: &Value, what: &str, default: u64) -> Result<u64, WireError> {
    if v.is_null() {
        return Ok(default);
    }
    match number(v) {
        Some(n) if n >= 0.0 && n.is_finite() => Ok(n as u64),
        _ => Err(WireError(format!("{what} must be a non-negative number"))),
    }
}

fn strings(v: &Value, what: &str) -> Result<Vec<String>, WireError> {
    match v {
        Value::Null => Ok(Vec::new()),
        Value::Array(a) => a
            .iter()
            .map(|x| match x {
                Value::String(s) => Ok(s.clone()),
                Value::Number(n) => Ok(n.to_string()),
                _ => Err(WireError(format!("{what} must be a list of strings"))),
            })
            .collect(),
        _ => Err(WireError(format!("{what} must be a list"))),
    }
}

impl Query {
    /// Read a visual-search / crimes body.
    pub fn parse(body: &[u8]) -> Result<Query, WireError> {
        let v: Value =
            serde_json::from_slice(body).map_err(|e| WireError(format!("Bad request: {e}")))?;
        let Value::Array(path) = &v["queryPath"] else {
            return Err(WireError("Bad request: queryPath must be a list".into()));
        };
        let mut elements = Vec::with_capacity(path.len());
        for (i, el) in path.iter().enumerate() {
            let Some(requested_type) = el["requestedType"].as_str() else {
                return Err(WireError(format!(
                    "Bad request: queryPath[{i}].requestedType is missing"
                )));
            };
            let is_result = flag(&el["isResult"])
                .and_then(|a| flag(&el["result"]).map(|b| a || b))
                .map_err(|e| WireError(format!("Bad request: queryPath[{i}]: {e}")))?;
            let filters = match &el["filters"] {
                Value::Null => Vec::new(),
                Value::Array(fs) => fs
                    .iter()
                    .enumerate()
                    .map(|(j, f)| {
                        filter(f).map_err(|e| {
                            WireError(format!("Bad request: queryPath[{i}].filters[{j}]: {e}"))
                        })
                    })
                    .collect::<Result<_, _>>()?,
                _ => {
                    return Err(WireError(format!(
                        "Bad request: queryPath[{i}].filters must be a list"
                    )));
                }
            };
            let guid_list = match &el["guidList"] {
                Value::Null => None,
                g => Some(strings(g, "guidList")?),
            };
            elements.push(PathElement {
                requested_type: requested_type.to_string(),
                filters,
                guid_list,
                is_result,
            });
        }
        Ok(Query {
            path: elements,
            // XSOAR's default when the caller gives no limit.
            total_result_limit: count(&v["totalResultLimit"], "totalResultLimit", 10_000)?,
            per_group_limit: count(&v["perGroupLimit"], "perGroupLimit", 100)?,
            per_feature_limit: count(&v["perFeatureLimit"], "perFeatureLimit", 100)?,
            custom_fields: strings(&v["customFields"], "customFields")?,
            template_context: v["templateContext"].as_str().map(String::from),
        })
    }

    /// Index of the element whose rows are returned: the one flagged as result, else the last.
    pub fn result_index(&self) -> usize {
        self.path
            .iter()
            .position(|e| e.is_result)
            .unwrap_or(self.path.len().saturating_sub(1))
    }
}

fn filter(f: &Value) -> Result<Filter, String> {
    let facet_name = f["facetName"]
        .as_str()
        .ok_or("facetName is missing")?
        .to_string();
    let filter_type = match &f["filterType"] {
        Value::Null => "Equals".to_string(),
        Value::String(s) => s.clone(),
        other => return Err(format!("filterType must be text, got {other}")),
    };
    let values = match &f["values"] {
        Value::Null => Vec::new(),
        Value::Array(a) => a.clone(),
        other => vec![other.clone()],
    };
    Ok(Filter {
        facet_name,
        filter_type,
        values,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_real_clients_send_is_read() {
        let q = Query::parse(
            br#"{"queryPath":[{"requestedType":"Connection","filters":null,"isResult":"true"},
                 {"requestedType":"X","result":true,"guidList":["a"]},
                 {"requestedType":"Y","filters":[{"facetName":"hasMalops","values":[true]}]}],
                 "totalResultLimit":5.0,"perGroupLimit":"7"}"#,
        )
        .unwrap();
        assert!(q.path[0].is_result && q.path[1].is_result && !q.path[2].is_result);
        assert!(q.path[0].filters.is_empty());
        assert_eq!(q.path[1].guid_list.as_deref(), Some(&["a".to_string()][..]));
        assert_eq!(q.path[2].filters[0].filter_type, "Equals");
        assert_eq!((q.total_result_limit, q.per_group_limit), (5, 7));
        assert_eq!(q.per_feature_limit, 100);
        assert_eq!(q.result_index(), 0);
    }

    #[test]
    fn unreadable_bodies_name_the_problem() {
        for (body, want) in [
            (&b"{not json"[..], "Bad request"),
            (br#"{"queryPath": {}}"#, "queryPath must be a list"),
            (br#"{"queryPath": [{}]}"#, "queryPath[0].requestedType"),
            (
                br#"{"queryPath": [{"requestedType": "A", "isResult": 3}]}"#,
                "expected a boolean",
            ),
            (
                br#"{"queryPath": [{"requestedType": "A", "filters": [{"values": []}]}]}"#,
                "filters[0]: facetName",
            ),
            (
                br#"{"queryPath": [], "totalResultLimit": -1}"#,
                "totalResultLimit",
            ),
        ] {
            let e = Query::parse(body).unwrap_err().to_string();
            assert!(e.contains(want), "{e}");
        }
    }
}
