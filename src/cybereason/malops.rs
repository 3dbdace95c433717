//! MalOps: which ones are in the window, which of them still count, and how their
//! connections are reached (issue #9 point 9).
//!
//! Listing: `POST /rest/mmng/v2/malops`, paged by item offset (demisto/content
//! Packs/Cybereason/Integrations/Cybereason/Cybereason.py `get_malop_management_data`;
//! forensic-security/cybereason src/cybereason/malops.py), falling back to the older
//! `POST /rest/detection/inbox` when the server has no v2 API (404).
//!
//! Status: the status lives in different fields per endpoint — mmng/v2 `status` and
//! `investigationStatus`, detection/inbox `status` plus a `closed` flag (a sample has `status:
//! Active` with `closed: true`: demisto/content …/test_data/malop_detection_data.json), and the
//! analyst's management status in crimes/unified `simpleValues.managementStatus`
//! (UNREAD/TODO/OPEN/CLOSED/FP — the console's Unread, To Review, Open, Remediated, Not
//! Relevant: `STATUS_MAP` in Cybereason.py). A MalOp is skipped when any of them is listed in
//! `cybereason.malop_skip_statuses` (default CLOSED, FP, REMEDIATED, RESOLVED, EXCLUDED).
//!
//! EDR or not: `edr` (inbox) / `isEdr` (mmng/v2), never the detection engines (a sample lists
//! engine `EDR` with `edr: false`: demisto/content …/test_data/non_edr.json). EDR MalOps are
//! read through their process chain (MalopProcess → suspects → Process → connections);
//! non-EDR (EPP) MalOps have none: `cybereason.epp_malops: skip` (default) leaves them out with
//! a note, `details` reads `POST /rest/detection/details` `{"malopGuid"}` (as the XSOAR
//! integration does with `enable_epp_poll`), whose `connections[]` fields no public source
//! shows — an item blockops cannot read is an error naming it.
use serde_json::{Value, json};

use super::api::{InboxRequest, QueryElement, QueryRequest};
use super::client::Client;
use super::error::ClientError;
use super::shape::{JPath, ShapeError, count, flag, obj, opt_array, text};

/// One MalOp as a listing endpoint describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MalopSummary {
    pub guid: String,
    /// `(field, value)` of every status field present.
    pub statuses: Vec<(&'static str, String)>,
    /// The inbox `closed` flag.
    pub closed: bool,
    /// `edr` / `isEdr`; `None` when the listing does not say.
    pub edr: Option<bool>,
}

impl MalopSummary {
    /// Why this MalOp does not count, if it does not (`status=Closed`, `closed=true`).
    pub fn skip_reason(&self, skip: &[String]) -> Option<String> {
        for (field, value) in &self.statuses {
            if skip.iter().any(|s| s.eq_ignore_ascii_case(value.trim())) {
                return Some(format!("{field}={value}"));
            }
        }
        if self.closed && skip.iter().any(|s| s.eq_ignore_ascii_case("closed")) {
            return Some("closed=true".into());
        }
        None
    }

    /// EDR unless the listing says otherwise (an EDR query on a non-EDR MalOp finds nothing).
    pub fn is_edr(&self) -> bool {
        self.edr != Some(false)
    }
}

/// Read one listing item.
fn summary(item: &Value, p: &JPath) -> Result<MalopSummary, ShapeError> {
    let m = obj(Some(item), p)?;
    let guid =
        text(m.get("guid"), &p.key("guid"))?.ok_or_else(|| p.key("guid").error("missing"))?;
    let mut statuses = Vec::new();
    for field in [
        "status",
        "malopStatus",
        "investigationStatus",
        "managementStatus",
    ] {
        if let Some(v) = text(m.get(field), &p.key(field))? {
            statuses.push((field, v));
        }
    }
    let closed = flag(m.get("closed"), &p.key("closed"))?.unwrap_or(false);
    let edr = match flag(m.get("isEdr"), &p.key("isEdr"))? {
        Some(b) => Some(b),
        None => flag(m.get("edr"), &p.key("edr"))?,
    };
    Ok(MalopSummary {
        guid,
        statuses,
        closed,
        edr,
    })
}

impl Client {
    /// `POST /rest/mmng/v2/malops` paged by item offset; every MalOp created or updated in the range.
    pub async fn malops(
        &self,
        from_ms: i64,
        to_ms: i64,
        page_size: u64,
    ) -> Result<Vec<MalopSummary>, ClientError> {
        let path = "/rest/mmng/v2/malops";
        let bad = |e: ShapeError| ClientError::BadResponse {
            url: self.url(path),
            reason: e.to_string(),
        };
        let mut out = Vec::new();
        let mut offset = 0u64;
        loop {
            let body = json!({
                "search": {}, "range": {"from": from_ms, "to": to_ms},
                "pagination": {"pageSize": page_size, "offset": offset},
                "filter": {}, "federation": {"groups": []},
                "sort": [{"field": "LastUpdateTime", "order": "desc"}]
            });
            let doc = self.post_json(path, &body).await?;
            self.check_status(path, &doc)?;
            let root = JPath::root("");
            let dp = root.key("data");
            let data = obj(doc.get("data"), &dp).map_err(bad)?;
            let total = count(data.get("totalHits"), &dp.key("totalHits"))
                .map_err(bad)?
                .ok_or_else(|| bad(dp.key("totalHits").error("missing")))?;
            let ip = dp.key("data");
            let items = opt_array(data.get("data"), &ip).map_err(bad)?;
            for (i, item) in items.iter().enumerate() {
                out.push(summary(item, &ip.index(i)).map_err(bad)?);
            }
            offset += page_size;
            if items.is_empty() || offset >= total {
                break;
            }
        }
        Ok(out)
    }

    /// `POST /rest/detection/inbox`: MalOps created or updated in `[from, to]` (no paging).
    pub async fn malop_inbox(
        &self,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<MalopSummary>, ClientError> {
        let path = "/rest/detection/inbox";
        let bad = |e: ShapeError| ClientError::BadResponse {
            url: self.url(path),
            reason: e.to_string(),
        };
        let body = InboxRequest {
            start_time: Some(from_ms),
            end_time: Some(to_ms),
            group_ids: None,
        };
        let doc = self.post_json(path, &body).await?;
        let root = JPath::root("");
        let mp = root.key("malops");
        let items = match doc.get("malops") {
            Some(Value::Array(a)) => a,
            _ => return Err(bad(mp.error("missing (expected an array)"))),
        };
        items
            .iter()
            .enumerate()
            .map(|(i, item)| summary(item, &mp.index(i)).map_err(bad))
            .collect()
    }

    /// MalOps in the window: `mmng/v2/malops`, or `detection/inbox` when v2 is missing (404).
    pub async fn malops_in_window(
        &self,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<MalopSummary>, ClientError> {
        match self.malops(from_ms, to_ms, 100).await {
            Err(ClientError::Http {
                status: 404, url, ..
            }) => {
                tracing::info!(%url, "MalOp management v2 API not available; using detection/inbox");
                self.malop_inbox(from_ms, to_ms).await
            }
            r => r,
        }
    }

    /// `managementStatus` of EDR MalOps from `POST /rest/crimes/unified` (MalopProcess by
    /// GUID, research: api-doc.cybereason.com MalopAPI/getMalops). MalOps it does not return
    /// (e.g. logon-session MalOps) have no entry.
    pub async fn management_statuses(
        &self,
        guids: &[String],
    ) -> Result<Vec<(String, String)>, ClientError> {
        let path = "/rest/crimes/unified";
        let mut out = Vec::new();
        for chunk in guids.chunks(1000) {
            let q = QueryRequest {
                query_path: vec![QueryElement {
                    requested_type: "MalopProcess".into(),
                    filters: None,
                    guid_list: Some(chunk.to_vec()),
                    result: true,
                    ..Default::default()
                }],
                total_result_limit: chunk.len() as u64,
                per_group_limit: chunk.len() as u64,
                per_feature_limit: 100,
                template_context: Some("OVERVIEW".into()),
                query_timeout: Some(120_000),
                custom_fields: vec!["managementStatus".into(), "elementDisplayName".into()],
            };
            let page = self.crimes_unified(&q).await?;
            for (key, row) in &page.rows {
                let st = super::query::management_status(key, row).map_err(|e| {
                    ClientError::BadResponse {
                        url: self.url(path),
                        reason: e.to_string(),
                    }
                })?;
                if let Some(st) = st {
                    out.push((key.clone(), st));
                }
            }
        }
        Ok(out)
    }

    /// The analyst status of one MalOp from `GET /rest/mmng/v2/malops/metadata/{guid}`
    /// (forensic-security/cybereason tests/schemas/malops.yaml: `data.status` is one of
    /// CLOSED, FP, OPEN, REOPEN, RESOLVED, TODO, UNREAD; `data.investigationStatus`).
    pub async fn malop_metadata(
        &self,
        guid: &str,
    ) -> Result<Vec<(&'static str, String)>, ClientError> {
        let path = format!("/rest/mmng/v2/malops/metadata/{}", path_segment(guid));
        let doc = self
            .call(
                reqwest::Method::GET,
                &path,
                None,
                super::client::Expect::Json,
                super::body::json,
            )
            .await?;
        self.check_status(&path, &doc)?;
        let bad = |e: ShapeError| ClientError::BadResponse {
            url: self.url(&path),
            reason: e.to_string(),
        };
        let root = JPath::root("");
        let dp = root.key("data");
        let data = obj(doc.get("data"), &dp).map_err(bad)?;
        let mut out = Vec::new();
        for (field, shown) in [
            ("status", "metadata status"),
            ("investigationStatus", "metadata investigationStatus"),
        ] {
            if let Some(v) = text(data.get(field), &dp.key(field)).map_err(bad)? {
                out.push((shown, v));
            }
        }
        Ok(out)
    }

    /// Remote addresses and domains of a non-EDR MalOp from `POST /rest/detection/details`.
    pub async fn epp_connections(&self, guid: &str) -> Result<Vec<String>, ClientError> {
        let path = "/rest/detection/details";
        let doc = self.post_json(path, &json!({ "malopGuid": guid })).await?;
        detail_connections(&doc).map_err(|e| ClientError::BadResponse {
            url: self.url(path),
            reason: e.to_string(),
        })
    }
}

/// A MalOp GUID as one URL path segment (GUIDs are `[A-Za-z0-9._-]`; anything else is
/// percent-encoded).
fn path_segment(guid: &str) -> String {
    guid.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Keys of a `detection/details` connection item that name its remote end. No public sample
/// shows `connections[]`; these are the Connection feature names (an incoming connection's
/// `serverAddress` is our own host, so only remote-end names are read).
const DETAIL_REMOTE_KEYS: [&str; 2] = ["remoteAddress", "domainName"];

/// Every remote address or domain of `connections[]` in a detection/details answer.
pub fn detail_connections(doc: &Value) -> Result<Vec<String>, ShapeError> {
    let root = JPath::root("");
    let m = obj(Some(doc), &root)?;
    let cp = root.key("connections");
    let mut out = Vec::new();
    for (i, item) in opt_array(m.get("connections"), &cp)?.iter().enumerate() {
        let ip = cp.index(i);
        let c = obj(Some(item), &ip)?;
        let before = out.len();
        for key in DETAIL_REMOTE_KEYS {
            if let Some(v) = text(c.get(key), &ip.key(key))? {
                out.push(v);
            }
        }
        if out.len() == before {
            let keys: Vec<&str> = c.keys().map(String::as_str).take(12).collect();
            return Err(ip.error(format!(
                "no remote address ({} expected; has {}); set cybereason.epp_malops: skip",
                DETAIL_REMOTE_KEYS.join(" or "),
                if keys.is_empty() {
                    "no fields".into()
                } else {
                    keys.join(", ")
                }
            )));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn skip() -> Vec<String> {
        ["CLOSED", "FP", "REMEDIATED", "RESOLVED", "EXCLUDED"]
            .map(String::from)
            .to_vec()
    }

    #[test]
    fn statuses_from_every_listing_shape() {
        let p = JPath::root("data.data");
        // mmng/v2 (demisto/content …/test_data/query_malop_management_raw_response.json shape).
        let v2 = json!({"guid": "11.-431", "status": "Active", "investigationStatus": "Pending",
                        "isEdr": true, "detectionEngines": ["EDR"], "labels": [{"id": 1}]});
        let s = summary(&v2, &p.index(0)).unwrap();
        assert_eq!(s.skip_reason(&skip()), None);
        assert!(s.is_edr());
        let closed = json!({"guid": "g", "status": "Active", "investigationStatus": "Closed", "isEdr": "true"});
        assert_eq!(
            summary(&closed, &p.index(0))
                .unwrap()
                .skip_reason(&skip())
                .as_deref(),
            Some("investigationStatus=Closed")
        );
        // Inbox: `Active` with `closed: true` is closed.
        let inbox = json!({"@class": ".MalopInboxModel", "guid": "g", "status": "Active", "closed": true, "edr": false,
                           "detectionEngines": ["EDR"]});
        let s = summary(&inbox, &p.index(0)).unwrap();
        assert_eq!(s.skip_reason(&skip()).as_deref(), Some("closed=true"));
        assert!(!s.is_edr(), "edr: false wins over the engines");
        for st in ["Remediated", "Excluded", "FP", "closed"] {
            let v = json!({"guid": "g", "status": st});
            assert!(
                summary(&v, &p.index(0))
                    .unwrap()
                    .skip_reason(&skip())
                    .is_some(),
                "{st}"
            );
        }
        let v = json!({"guid": "g", "status": "UNREAD"});
        assert_eq!(summary(&v, &p.index(0)).unwrap().skip_reason(&skip()), None);
        // Statuses configured away are counted again.
        let v = json!({"guid": "g", "status": "FP"});
        assert_eq!(
            summary(&v, &p.index(0))
                .unwrap()
                .skip_reason(&["CLOSED".into()]),
            None
        );
        let e = summary(&json!({"guid": {"x": 1}}), &p.index(3)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "data.data[3].guid: expected text, found an object"
        );
        let e = summary(&json!({"guid": "g", "closed": "maybe"}), &p.index(0)).unwrap_err();
        assert!(
            e.to_string().contains("closed: expected true or false"),
            "{e}"
        );
    }

    #[test]
    fn detail_connections_in_known_forms_or_an_error() {
        let doc = json!({"displayName": "x", "connections": [
            {"remoteAddress": "203.0.113.9", "remotePort": 443, "localAddress": "10.0.0.5", "domainName": null},
            {"remoteAddress": "198.51.100.7", "domainName": "c2.evil.example"}
        ]});
        assert_eq!(
            detail_connections(&doc).unwrap(),
            ["203.0.113.9", "198.51.100.7", "c2.evil.example"]
        );
        assert!(
            detail_connections(&json!({"connections": null}))
                .unwrap()
                .is_empty()
        );
        let e =
            detail_connections(&json!({"connections": [{"port": 1, "weird": true}]})).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("connections[0]: no remote address"),
            "{e}"
        );
        assert!(e.to_string().contains("has port, weird"), "{e}");
        let e = detail_connections(&json!({"connections": ["10.0.0.5:1 > 203.0.113.9:443"]}))
            .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("connections[0]: expected an object"),
            "{e}"
        );
    }
}
