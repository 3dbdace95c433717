//! The reputation ("classification") API (research `cybereason-api.md` §7): the CSV download
//! `key,reputation,prevent execution,comment,remove`, the JSON-array update that changes what
//! the download and the list show, and the paged JSON list.
use std::net::IpAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::fixture::SimReputation;
use super::server::{Shared, bad_request, json_response, lock};
use super::wire::{flag, number};

const CSV_HEADER: &str = "key,reputation,prevent execution,comment,remove";

/// A CSV field, quoted when it holds a comma, quote, line break or edge spaces.
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) || s.trim() != s {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// The download body: header row, then one row per item (booleans as `true`/`false`).
pub(super) fn csv(rows: &[&SimReputation]) -> String {
    let mut s = String::with_capacity(64 + rows.len() * 48);
    s.push_str(CSV_HEADER);
    s.push('\n');
    for r in rows {
        s.push_str(&format!(
            "{},{},{},{},false\n",
            csv_field(&r.key),
            csv_field(&r.reputation),
            r.prevent,
            csv_field(&r.comment),
        ));
    }
    s
}

/// `GET /rest/classification/download`.
pub(super) async fn download(State(s): State<Arc<Shared>>) -> Response {
    let body = {
        let data = lock(&s.data);
        let rows: Vec<&SimReputation> = data.reputations.values().collect();
        csv(&rows)
    };
    (
        [
            (header::CONTENT_TYPE, "text/csv;charset=UTF-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=reputations.csv",
            ),
        ],
        body,
    )
        .into_response()
}

/// One item of an update request, read leniently (tobor88 sends booleans as strings, SPLUNK
/// sends `maliciousType: null` with `remove: true`).
struct Update {
    keys: Vec<String>,
    malicious_type: Option<String>,
    prevent: bool,
    remove: bool,
    comment: String,
}

fn update_item(i: usize, v: &Value) -> Result<Update, String> {
    let keys = match &v["keys"] {
        Value::Array(a) => a
            .iter()
            .map(|k| k.as_str().map(String::from))
            .collect::<Option<Vec<_>>>()
            .ok_or(format!("[{i}].keys must be strings"))?,
        _ => return Err(format!("[{i}].keys must be a list")),
    };
    let malicious_type = match &v["maliciousType"] {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        _ => return Err(format!("[{i}].maliciousType must be text")),
    };
    let prevent = flag(&v["prevent"]).map_err(|e| format!("[{i}].prevent: {e}"))?;
    let remove = flag(&v["remove"]).map_err(|e| format!("[{i}].remove: {e}"))?;
    let comment = v["comment"].as_str().unwrap_or_default().to_string();
    if !v["expiration"].is_null() && number(&v["expiration"]).is_none() {
        return Err(format!("[{i}].expiration must be epoch milliseconds"));
    }
    Ok(Update {
        keys,
        malicious_type,
        prevent,
        remove,
        comment,
    })
}

/// `POST /rest/classification/update`: a JSON array of changes.
pub(super) async fn update(State(s): State<Arc<Shared>>, body: Bytes) -> Response {
    let items = match serde_json::from_slice::<Value>(&body) {
        Ok(Value::Array(a)) => a,
        Ok(_) => return bad_request("Bad request: expected a JSON array"),
        Err(e) => return bad_request(format!("Bad request: {e}")),
    };
    let mut updates = Vec::with_capacity(items.len());
    for (i, v) in items.iter().enumerate() {
        match update_item(i, v) {
            Ok(u) => updates.push(u),
            Err(e) => return bad_request(format!("Bad request: {e}")),
        }
    }
    if updates.iter().any(|u| {
        !u.remove && !matches!(u.malicious_type.as_deref(), Some("blacklist" | "whitelist"))
    }) {
        return json_response(
            json!({"outcome": "failed", "data": "maliciousType must be blacklist or whitelist"}),
        );
    }
    let mut data = lock(&s.data);
    for u in updates {
        for k in u.keys {
            if u.remove {
                data.reputations.remove(&k);
            } else {
                data.reputations.insert(
                    k.clone(),
                    SimReputation {
                        key: k,
                        reputation: u.malicious_type.clone().unwrap_or_default(),
                        prevent: u.prevent,
                        comment: u.comment.clone(),
                    },
                );
            }
        }
    }
    json_response(json!({"outcome": "success", "data": "true"}))
}

/// `reputationType` and `lookupKeyType` of a key (the list API reports both).
fn key_types(key: &str) -> (&'static str, &'static str) {
    let addr = key.split_once('/').map(|(a, _)| a).unwrap_or(key);
    match addr.parse::<IpAddr>() {
        Ok(IpAddr::V4(_)) => ("IP", "IPV4"),
        Ok(IpAddr::V6(_)) => ("IP", "IPV6"),
        Err(_) if key.chars().all(|c| c.is_ascii_hexdigit()) => match key.len() {
            32 => ("FILE", "FILE_HASH_MD5"),
            40 => ("FILE", "FILE_HASH_SHA1"),
            64 => ("FILE", "FILE_HASH_SHA256"),
            _ => ("DOMAIN", "DOMAIN"),
        },
        Err(_) => ("DOMAIN", "DOMAIN"),
    }
}

/// `POST /rest/classification/reputations/list`: `filter.key`/`filter.maliciousType`,
/// `page` (0-based) and `size`.
pub(super) async fn list(State(s): State<Arc<Shared>>, body: Bytes) -> Response {
    let req: Value = match serde_json::from_slice(&body) {
        Ok(v @ Value::Object(_)) => v,
        Ok(_) => return bad_request("Bad request: expected a JSON object"),
        Err(e) => return bad_request(format!("Bad request: {e}")),
    };
    let f = &req["filter"];
    let page = number(&req["page"]).unwrap_or(0.0).max(0.0) as usize;
    let size = (number(&req["size"]).unwrap_or(20.0) as usize).max(1);
    let data = lock(&s.data);
    let all: Vec<&SimReputation> = data
        .reputations
        .values()
        .filter(|r| f["key"].as_str().is_none_or(|k| k == r.key))
        .filter(|r| {
            f["maliciousType"]
                .as_str()
                .is_none_or(|m| m.eq_ignore_ascii_case(&r.reputation))
        })
        .collect();
    let items: Vec<Value> = all
        .iter()
        .skip(page.saturating_mul(size))
        .take(size)
        .map(|r| {
            let (rt, lk) = key_types(&r.key);
            json!({"key": r.key, "reputationType": rt, "lookupKeyType": lk, "maliciousType": r.reputation,
                   "isBlocking": r.prevent, "comment": r.comment, "expiration": -1, "owningUser": s.username,
                   "firstSeen": 0, "lastUpdated": 0, "additionalKeys": []})
        })
        .collect();
    json_response(json!({"outcome": "success", "data": {"reputations": items, "total": all.len()}}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_what_needs_quoting() {
        let r = |key: &str, comment: &str| SimReputation {
            key: key.into(),
            reputation: "blacklist".into(),
            prevent: false,
            comment: comment.into(),
        };
        let a = r("203.0.113.9", "c2, \"beacon\"");
        let b = r("bad.example", " padded");
        assert_eq!(
            csv(&[&a, &b]),
            "key,reputation,prevent execution,comment,remove\n\
             203.0.113.9,blacklist,false,\"c2, \"\"beacon\"\"\",false\n\
             bad.example,blacklist,false,\" padded\",false\n"
        );
    }

    #[test]
    fn key_types_by_shape() {
        assert_eq!(key_types("203.0.113.9"), ("IP", "IPV4"));
        assert_eq!(key_types("198.51.100.0/24"), ("IP", "IPV4"));
        assert_eq!(key_types("2001:db8::1"), ("IP", "IPV6"));
        assert_eq!(
            key_types("44d88612fea8a8f36de82e1278abb02f"),
            ("FILE", "FILE_HASH_MD5")
        );
        assert_eq!(key_types("c2.evil.example"), ("DOMAIN", "DOMAIN"));
        assert_eq!(key_types("cafe"), ("DOMAIN", "DOMAIN"));
    }
}
