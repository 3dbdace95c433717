//! Reading Cybereason JSON in the shapes real servers send, naming the JSON path of anything
//! in an unknown shape.
//!
//! Real responses differ from the documented templates (issue #9 point 7):
//! - booleans as strings, `"true"`/`"false"` (simpleValues `isInternalDomain`, `isSigned`:
//!   demisto/content Packs/Cybereason/Integrations/Cybereason/test_data; `isExternalConnection`,
//!   `isLiveProcess`: splunk-soar-connectors/cybereason cybereason_poller.py);
//! - numbers as strings (`"1633093769591"`), `values: []` with `totalValues: 1` (demisto/content
//!   Packs/Cybereason/Integrations/Cybereason/test_files/responses_raw_data.py);
//! - `elementValues` as `null` (demisto/content Cybereason.py guards `elementValues is None`)
//!   or the string `"null"`, and `"None"`/`"null"` strings for absent values;
//! - NUL padding inside strings (opencybersecurityalliance/stix-shifter strips `\u0000`,
//!   microsoft/msticpy msticpy/data/drivers/cybereason_driver.py strips trailing `\x00`);
//! - many fields we never read.
//!
//! Every known variant is read; anything else in a field we need is a [`ShapeError`] that
//! names the path, e.g. `data.resultIdToElementDataMap["7vCm"].elementValues.remoteAddress.
//! elementValues[0].name: expected text, found an object`. Fields we do not read are ignored.
use serde_json::{Map, Value};

/// A value in a shape we do not know, at a JSON path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {problem}")]
pub struct ShapeError {
    pub path: String,
    pub problem: String,
}

/// One step of a JSON path.
#[derive(Debug, Clone, Copy)]
enum Seg<'a> {
    Root(&'a str),
    Key(&'a str),
    Index(usize),
}

/// A JSON path built on the stack; rendered only when an error names it.
#[derive(Debug, Clone, Copy)]
pub struct JPath<'a> {
    parent: Option<&'a JPath<'a>>,
    seg: Seg<'a>,
}

impl<'a> JPath<'a> {
    /// The top of a document (`""` for the document itself).
    pub fn root(name: &'a str) -> JPath<'a> {
        JPath {
            parent: None,
            seg: Seg::Root(name),
        }
    }
    /// A member of this object.
    pub fn key(&'a self, k: &'a str) -> JPath<'a> {
        JPath {
            parent: Some(self),
            seg: Seg::Key(k),
        }
    }
    /// An element of this array.
    pub fn index(&'a self, i: usize) -> JPath<'a> {
        JPath {
            parent: Some(self),
            seg: Seg::Index(i),
        }
    }

    /// `a.b["odd key"][3]`.
    pub fn render(&self) -> String {
        let mut segs = Vec::new();
        let mut at = Some(self);
        while let Some(p) = at {
            segs.push(p.seg);
            at = p.parent;
        }
        let mut s = String::new();
        for seg in segs.into_iter().rev() {
            match seg {
                Seg::Root(r) => s.push_str(r),
                Seg::Key(k) if is_ident(k) => {
                    if !s.is_empty() {
                        s.push('.');
                    }
                    s.push_str(k);
                }
                Seg::Key(k) => {
                    s.push('[');
                    s.push_str(&Value::String(k.into()).to_string());
                    s.push(']');
                }
                Seg::Index(i) => s.push_str(&format!("[{i}]")),
            }
        }
        if s.is_empty() { "(document)".into() } else { s }
    }

    /// An error at this path.
    pub fn error(&self, problem: impl Into<String>) -> ShapeError {
        ShapeError {
            path: self.render(),
            problem: problem.into(),
        }
    }
}

fn is_ident(k: &str) -> bool {
    !k.is_empty()
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '@')
        && !k.starts_with(|c: char| c.is_ascii_digit())
}

/// How a value looks, for error messages.
pub fn kind(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("the boolean {b}"),
        Value::Number(n) => format!("the number {n}"),
        Value::String(s) => {
            let short: String = s.chars().take(40).collect();
            format!(
                "the text {}",
                Value::String(crate::cybereason::error::snippet(&short))
            )
        }
        Value::Array(_) => "an array".into(),
        Value::Object(_) => "an object".into(),
    }
}

/// Text that real servers use to say "no value".
fn is_absent_text(s: &str) -> bool {
    matches!(s, "" | "None" | "null" | "NULL" | "Null")
}

/// Remove NUL padding.
fn clean(s: &str) -> &str {
    s.trim_matches('\0')
}

/// An object, or nothing for absent / `null` / `"null"` / `"None"`.
pub fn opt_obj<'v>(
    v: Option<&'v Value>,
    p: &JPath,
) -> Result<Option<&'v Map<String, Value>>, ShapeError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(m)) => Ok(Some(m)),
        Some(Value::String(s)) if is_absent_text(clean(s).trim()) => Ok(None),
        Some(other) => Err(p.error(format!("expected an object, found {}", kind(other)))),
    }
}

/// An object that must be there.
pub fn obj<'v>(v: Option<&'v Value>, p: &JPath) -> Result<&'v Map<String, Value>, ShapeError> {
    match v {
        Some(Value::Object(m)) => Ok(m),
        None => Err(p.error("missing (expected an object)")),
        Some(other) => Err(p.error(format!("expected an object, found {}", kind(other)))),
    }
}

/// An array, or nothing for absent / `null` / `"null"` / `"None"`.
pub fn opt_array<'v>(v: Option<&'v Value>, p: &JPath) -> Result<&'v [Value], ShapeError> {
    match v {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Array(a)) => Ok(a),
        Some(Value::String(s)) if is_absent_text(clean(s).trim()) => Ok(&[]),
        Some(other) => Err(p.error(format!("expected an array, found {}", kind(other)))),
    }
}

/// A text value: strings (NUL padding removed), numbers and booleans as their text; nothing
/// for absent / `null` / `""` / `"None"` / `"null"`.
pub fn text(v: Option<&Value>, p: &JPath) -> Result<Option<String>, ShapeError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => {
            let c = clean(s);
            if is_absent_text(c.trim()) {
                Ok(None)
            } else {
                Ok(Some(c.to_string()))
            }
        }
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(Value::Bool(b)) => Ok(Some(b.to_string())),
        Some(other) => Err(p.error(format!("expected text, found {}", kind(other)))),
    }
}

/// A boolean: `true`, `"true"` (any case, NUL padded), `1`; nothing for absent values.
pub fn flag(v: Option<&Value>, p: &JPath) -> Result<Option<bool>, ShapeError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(Value::Number(n)) if n.as_u64() == Some(0) => Ok(Some(false)),
        Some(Value::Number(n)) if n.as_u64() == Some(1) => Ok(Some(true)),
        Some(Value::String(s)) => {
            let c = clean(s).trim();
            if c.eq_ignore_ascii_case("true") {
                Ok(Some(true))
            } else if c.eq_ignore_ascii_case("false") {
                Ok(Some(false))
            } else if is_absent_text(c) {
                Ok(None)
            } else {
                Err(p.error(format!(
                    "expected true or false, found {}",
                    kind(&Value::String(s.clone()))
                )))
            }
        }
        Some(other) => Err(p.error(format!("expected true or false, found {}", kind(other)))),
    }
}

/// A non-negative whole number, also written as text (`"42"`); nothing for absent values.
pub fn count(v: Option<&Value>, p: &JPath) -> Result<Option<u64>, ShapeError> {
    let bad = |v: &Value| p.error(format!("expected a whole number, found {}", kind(v)));
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(n @ Value::Number(num)) => match (num.as_u64(), num.as_f64()) {
            (Some(u), _) => Ok(Some(u)),
            (None, Some(f)) if f >= 0.0 && f.fract() == 0.0 && f < 9.0e15 => Ok(Some(f as u64)),
            _ => Err(bad(n)),
        },
        Some(s @ Value::String(t)) => {
            let c = clean(t).trim();
            if is_absent_text(c) {
                Ok(None)
            } else {
                c.parse::<u64>().map(Some).map_err(|_| bad(s))
            }
        }
        Some(other) => Err(bad(other)),
    }
}

/// The text values of a simple feature, `el.simpleValues.<feature>.values` (empty when the
/// feature is absent, `null`, or lists no values).
pub fn simple_values(
    el: &Map<String, Value>,
    feature: &str,
    p: &JPath,
) -> Result<Vec<String>, ShapeError> {
    let sp = p.key("simpleValues");
    let Some(sv) = opt_obj(el.get("simpleValues"), &sp)? else {
        return Ok(Vec::new());
    };
    let fp = sp.key(feature);
    let Some(f) = opt_obj(sv.get(feature), &fp)? else {
        return Ok(Vec::new());
    };
    let vp = fp.key("values");
    let mut out = Vec::new();
    for (i, v) in opt_array(f.get("values"), &vp)?.iter().enumerate() {
        if let Some(t) = text(Some(v), &vp.index(i))? {
            out.push(t);
        }
    }
    Ok(out)
}

/// One linked element (`elementValues.<feature>.elementValues[i]`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Linked {
    pub element_type: Option<String>,
    pub name: Option<String>,
    pub guid: Option<String>,
}

/// The linked elements of an element feature (empty when the feature is absent, `null`, or its
/// `elementValues` is `null`/`"null"`/`[]`).
pub fn element_values(
    el: &Map<String, Value>,
    feature: &str,
    p: &JPath,
) -> Result<Vec<Linked>, ShapeError> {
    let ep = p.key("elementValues");
    let Some(ev) = opt_obj(el.get("elementValues"), &ep)? else {
        return Ok(Vec::new());
    };
    let fp = ep.key(feature);
    let Some(f) = opt_obj(ev.get(feature), &fp)? else {
        return Ok(Vec::new());
    };
    let lp = fp.key("elementValues");
    let mut out = Vec::new();
    for (i, item) in opt_array(f.get("elementValues"), &lp)?.iter().enumerate() {
        let ip = lp.index(i);
        let m = obj(Some(item), &ip)?;
        out.push(Linked {
            element_type: text(m.get("elementType"), &ip.key("elementType"))?,
            name: text(m.get("name"), &ip.key("name"))?,
            guid: text(m.get("guid"), &ip.key("guid"))?,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_render_like_javascript() {
        let root = JPath::root("data");
        let m = root.key("resultIdToElementDataMap");
        let g = m.key("7vCm-bw G");
        let e = g.key("elementValues");
        let i = e.index(3);
        assert_eq!(
            i.render(),
            "data.resultIdToElementDataMap[\"7vCm-bw G\"].elementValues[3]"
        );
        assert_eq!(JPath::root("").key("status").render(), "status");
    }

    #[test]
    fn every_known_variant_is_read() {
        let p = JPath::root("x");
        for (v, want) in [
            (json!(true), Some(true)),
            (json!("true"), Some(true)),
            (json!("False"), Some(false)),
            (json!("true\u{0}\u{0}"), Some(true)),
            (json!(1), Some(true)),
            (json!("None"), None),
            (json!("null"), None),
            (json!(null), None),
        ] {
            assert_eq!(flag(Some(&v), &p).unwrap(), want, "{v}");
        }
        assert!(flag(Some(&json!("maybe")), &p).is_err());
        assert!(flag(Some(&json!([true])), &p).is_err());
        assert_eq!(
            count(Some(&json!("1633093769591")), &p).unwrap(),
            Some(1_633_093_769_591)
        );
        assert_eq!(count(Some(&json!(12.0)), &p).unwrap(), Some(12));
        assert_eq!(count(Some(&json!("None")), &p).unwrap(), None);
        assert!(count(Some(&json!(-1)), &p).is_err());
        assert!(count(Some(&json!("12x")), &p).is_err());
        assert_eq!(
            text(Some(&json!("a.example\u{0}")), &p).unwrap().as_deref(),
            Some("a.example")
        );
        assert_eq!(text(Some(&json!(443)), &p).unwrap().as_deref(), Some("443"));
        assert_eq!(text(Some(&json!("None")), &p).unwrap(), None);
        let e = text(Some(&json!({"a": 1})), &p.key("name")).unwrap_err();
        assert_eq!(e.to_string(), "x.name: expected text, found an object");
    }

    #[test]
    fn simple_and_element_values_in_every_known_shape() {
        let p = JPath::root("row");
        let el = json!({
            "simpleValues": {
                "a": {"totalValues": 1, "values": ["203.0.113.9\u{0}"]},
                "b": {"totalValues": 1, "values": []},
                "c": {"totalValues": 1, "values": null},
                "d": null,
                "n": {"totalValues": 2, "values": [443, true, "None"]}
            },
            "elementValues": {
                "x": {"totalValues": 1, "elementValues": [{"elementType": "IpAddress", "name": "198.51.100.7", "guid": "g", "hasSuspicions": "true"}]},
                "y": {"totalValues": 2, "elementValues": null},
                "z": {"totalValues": 2, "elementValues": "null"},
                "bad": {"elementValues": [{"name": {"deep": 1}}]}
            }
        });
        let m = el.as_object().unwrap();
        assert_eq!(simple_values(m, "a", &p).unwrap(), ["203.0.113.9"]);
        assert!(simple_values(m, "b", &p).unwrap().is_empty());
        assert!(simple_values(m, "c", &p).unwrap().is_empty());
        assert!(simple_values(m, "d", &p).unwrap().is_empty());
        assert!(simple_values(m, "absent", &p).unwrap().is_empty());
        assert_eq!(simple_values(m, "n", &p).unwrap(), ["443", "true"]);
        let x = element_values(m, "x", &p).unwrap();
        assert_eq!(x[0].name.as_deref(), Some("198.51.100.7"));
        assert_eq!(x[0].element_type.as_deref(), Some("IpAddress"));
        assert!(element_values(m, "y", &p).unwrap().is_empty());
        assert!(element_values(m, "z", &p).unwrap().is_empty());
        let e = element_values(m, "bad", &p).unwrap_err();
        assert_eq!(
            e.to_string(),
            "row.elementValues.bad.elementValues[0].name: expected text, found an object"
        );
        let odd = json!({"simpleValues": {"a": {"values": "203.0.113.9"}}});
        let e = simple_values(odd.as_object().unwrap(), "a", &p).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("row.simpleValues.a.values: expected an array"),
            "{e}"
        );
        let no_sv = json!({"simpleValues": "null", "elementValues": null});
        assert!(
            simple_values(no_sv.as_object().unwrap(), "a", &p)
                .unwrap()
                .is_empty()
        );
        assert!(
            element_values(no_sv.as_object().unwrap(), "a", &p)
                .unwrap()
                .is_empty()
        );
    }
}
