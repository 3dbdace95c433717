//! MalOps as the real endpoints show them (research `cybereason-api.md` §6, `real-systems.md`
//! §8–§9): crimes/unified rows with `managementStatus`, the detection inbox with
//! `status`/`malopStatus`, `closed` and `edr`, mmng/v2 items with `status`,
//! `investigationStatus` and `isEdr`, the metadata endpoint, EPP detection details with their
//! connections, and status updates. Item shapes follow XSOAR's `test_data`
//! (`malop_detection_data.json`, `non_edr.json`, `query_malop_management_raw_response.json`).
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::Response;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::fixture::{Management, SimData, SimElement, SimMalop, SimRef};
use super::quirks::Family;
use super::server::{Shared, bad_request, json_response, lock};
use super::wire::number;

const CLOSER: &str = "analyst@blockops.example";
const NO_GROUP: &str = "00000000-0000-0000-0000-000000000000";

/// A stable SHA-1-looking hash for the MalOp's root cause (40 hex digits).
fn root_hash(m: &SimMalop) -> String {
    let h = Sha256::digest(format!("{}/{}", m.guid, m.root_cause).as_bytes());
    hex::encode(h)[..40].to_string()
}

fn closed_by_analyst(m: &SimMalop) -> bool {
    m.management_status.is_closed()
}

/// The `Process.<feature>(Malop decision)` value for a detection type (SPLUNK's table).
fn decision(m: &SimMalop) -> String {
    let f = match m.detection_type.as_str() {
        "BLACKLIST" => "connectionToBlackListAddressByAddressRootCause",
        "CNC" => "connectionToMaliciousAddressByAddressRootCause",
        "KNOWN_MALWARE" => "maliciousByHashReputation",
        _ => "maliciousByDualExtensionByFileRootCause",
    };
    format!("Process.{f}(Malop decision)")
}

/// The crimes/unified `MalopProcess` row of an EDR MalOp (XSOAR
/// `test_data/query_malop_raw_response.json`, HAR). `none_features`: an open MalOp carries
/// `closeTime`/`closerName`/`customClassification` as `["None"]` instead of leaving them out.
pub(super) fn process_element(m: &SimMalop, none_features: bool) -> SimElement {
    let mut simple = BTreeMap::new();
    let mut put = |k: &str, v: Vec<String>| {
        simple.insert(k.to_string(), v);
    };
    put("elementDisplayName", vec![m.name.clone()]);
    put(
        "managementStatus",
        vec![m.management_status.as_str().to_string()],
    );
    put("detectionType", vec![m.detection_type.clone()]);
    put("decisionFeature", vec![decision(m)]);
    put("decisionFeatureSet", vec![decision(m)]);
    put("creationTime", vec![m.created.to_string()]);
    put("malopStartTime", vec![m.created.to_string()]);
    put("malopLastUpdateTime", vec![m.updated.to_string()]);
    put("malopActivityTypes", vec!["MALICIOUS_INFECTION".into()]);
    put("rootCauseElementNames", vec![m.root_cause.clone()]);
    put("rootCauseElementTypes", vec!["Process".into()]);
    put("rootCauseElementHashes", vec![root_hash(m)]);
    put("iconBase64", vec![String::new()]);
    put("isBlocked", vec!["false".into()]);
    put("hasRansomwareSuspendedProcesses", vec!["false".into()]);
    put("allRansomwareProcessesSuspended", vec!["false".into()]);
    if closed_by_analyst(m) {
        put("closeTime", vec![m.updated.to_string()]);
        put("closerName", vec![CLOSER.into()]);
    } else if none_features {
        for k in ["closeTime", "closerName", "customClassification"] {
            put(k, vec!["None".into()]);
        }
    }
    let r = |ty: &str, guid: String, name: &str, bad: bool| SimRef {
        element_type: ty.into(),
        guid,
        name: name.to_string(),
        has_suspicions: bad,
        has_malops: bad,
    };
    let process = |machine: &str| {
        r(
            "Process",
            format!("process-{machine}-{}", m.root_cause),
            &m.root_cause,
            true,
        )
    };
    let mut links = BTreeMap::new();
    links.insert(
        "affectedMachines".to_string(),
        m.machines
            .iter()
            .map(|n| r("Machine", format!("machine-{n}"), n, false))
            .collect(),
    );
    links.insert(
        "affectedUsers".to_string(),
        m.users
            .iter()
            .map(|n| r("User", format!("user-{n}"), n, false))
            .collect(),
    );
    let first = m.machines.first().map(String::as_str).unwrap_or("unknown");
    links.insert("primaryRootCauseElements".to_string(), vec![process(first)]);
    links.insert("rootCauseElements".to_string(), vec![process(first)]);
    links.insert(
        "suspects".to_string(),
        m.machines.iter().map(|n| process(n)).collect(),
    );
    links.insert(
        "filesToRemediate".to_string(),
        vec![r(
            "File",
            format!("file-{}", root_hash(m)),
            &m.root_cause,
            true,
        )],
    );
    SimElement {
        element_type: "MalopProcess".into(),
        guid: m.guid.clone(),
        simple,
        links,
        time: m.created,
        malops: vec![m.guid.clone()],
        ..SimElement::default()
    }
}

fn machine_json(n: &str, m: &SimMalop, inbox: bool) -> Value {
    let mut v = json!({"guid": format!("machine-{n}"), "displayName": n, "osType": "WINDOWS",
                       "connected": true, "isolated": false, "lastConnected": m.updated});
    if inbox {
        v["@class"] = json!(".MachineInboxModel");
        v["empty"] = json!(true);
    } else {
        v["pylumId"] = json!(format!("PYLUM{n}"));
    }
    v
}

fn user_json(n: &str) -> Value {
    json!({"guid": format!("user-{n}"), "displayName": n, "admin": false,
           "domainUser": true, "localSystem": false})
}

fn priority(m: &SimMalop) -> String {
    m.severity.to_uppercase()
}

/// A `.MalopInboxModel` item.
fn inbox_json(m: &SimMalop) -> Value {
    let closed = closed_by_analyst(m);
    json!({
        "@class": ".MalopInboxModel", "guid": m.guid, "displayName": m.name,
        "rootCauseElementType": "Process", "primaryRootCauseName": m.root_cause,
        "rootCauseElementNamesCount": 1, "detectionEngines": m.engines, "detectionTypes": [m.name],
        "malopDetectionType": m.detection_type, "malopType": m.detection_type,
        "creationTime": m.created, "lastUpdateTime": m.updated, "iconBase64": "",
        "priority": priority(m), "malopPriority": priority(m), "group": NO_GROUP,
        "rootCauseElementHashes": root_hash(m), "status": m.status, "malopStatus": m.status,
        "severity": m.severity, "malopSeverity": m.severity,
        "machines": m.machines.iter().map(|n| machine_json(n, m, true)).collect::<Vec<_>>(),
        "users": m.users.iter().map(|n| user_json(n)).collect::<Vec<_>>(),
        "containers": [], "labels": [],
        "decisionStatuses": if m.edr { json!([]) } else { json!(["Detected"]) },
        "malopCloseTime": if closed { json!(m.updated) } else { Value::Null },
        "closerName": if closed { json!(CLOSER) } else { Value::Null },
        "escalated": false, "edr": m.edr, "closed": m.closed, "empty": true
    })
}

/// An mmng/v2 item.
fn mmng_json(m: &SimMalop) -> Value {
    json!({
        "guid": m.guid, "displayName": m.name, "creationTime": m.created, "lastUpdateTime": m.updated,
        "metadataUpdateTime": m.updated, "decisionStatuses": [], "detectionEngines": m.engines,
        "mitreTactics": [], "mitreTechniques": [], "mitreSubTechniques": [],
        "rootCauseElementHashes": [root_hash(m)], "iocs": ["File"], "detectionTypes": [m.name],
        "labels": [], "investigationStatus": m.investigation_status,
        "closerName": if closed_by_analyst(m) { json!(CLOSER) } else { Value::Null },
        "priority": priority(m), "status": m.status, "severity": m.severity,
        "detectionType": m.detection_type, "escalated": false, "iconBase64": "", "isEdr": m.edr,
        "groups": [NO_GROUP], "rootCauseElementType": "Process",
        "machines": m.machines.iter().map(|n| machine_json(n, m, false)).collect::<Vec<_>>(),
        "users": m.users.iter().map(|n| user_json(n)).collect::<Vec<_>>()
    })
}

fn newest_first(mut ms: Vec<&SimMalop>) -> Vec<&SimMalop> {
    ms.sort_by(|a, b| b.updated.cmp(&a.updated).then_with(|| a.guid.cmp(&b.guid)));
    ms
}

fn in_range(m: &SimMalop, from: i64, to: i64) -> bool {
    (from..=to).contains(&m.created) || (from..=to).contains(&m.updated)
}

/// A JSON object body, or the 400 message.
fn object(body: &[u8]) -> Result<Value, String> {
    match serde_json::from_slice::<Value>(body) {
        Ok(v @ Value::Object(_)) => Ok(v),
        Ok(_) => Err("Bad request: expected a JSON object".into()),
        Err(e) => Err(format!("Bad request: {e}")),
    }
}

/// `POST /rest/detection/inbox` `{startTime, endTime}`: MalOps created or updated in range.
pub(super) async fn inbox(State(s): State<Arc<Shared>>, body: Bytes) -> Response {
    let req = match object(&body) {
        Ok(v) => v,
        Err(e) => return bad_request(e),
    };
    let (Some(from), Some(to)) = (number(&req["startTime"]), number(&req["endTime"])) else {
        return bad_request("Time range is not valid");
    };
    if from > to {
        return bad_request("Time range is not valid");
    }
    let data = lock(&s.data);
    let ms = newest_first(
        data.malops
            .values()
            .filter(|m| in_range(m, from as i64, to as i64))
            .collect(),
    );
    let machines: BTreeSet<&str> = ms
        .iter()
        .flat_map(|m| m.machines.iter().map(String::as_str))
        .collect();
    s.answer(
        Family::Malops,
        json!({
            "malops": ms.into_iter().map(inbox_json).collect::<Vec<_>>(),
            "machineCounterModel": {"totalMachines": machines.len(), "onlineInfectedCount": machines.len(),
                "onlineCleanCount": 0, "offlineInfectedCount": 0, "offlineCleanCount": 0}
        }),
    )
}

/// `POST /rest/mmng/v2/malops`: `range`, `pagination{pageSize, offset}` (item offset),
/// `search.malop.guid`, `filter.malop.status`; newest update first.
pub(super) async fn mmng(State(s): State<Arc<Shared>>, body: Bytes) -> Response {
    let req = match object(&body) {
        Ok(v) => v,
        Err(e) => return bad_request(e),
    };
    let page_size = number(&req["pagination"]["pageSize"]).unwrap_or(50.0);
    let offset = number(&req["pagination"]["offset"]).unwrap_or(0.0).max(0.0) as usize;
    if page_size < 1.0 {
        return bad_request("pageSize must be positive");
    }
    let page_size = page_size as usize;
    let range = match (number(&req["range"]["from"]), number(&req["range"]["to"])) {
        (Some(a), Some(b)) => Some((a as i64, b as i64)),
        _ => None,
    };
    let guid = req["search"]["malop"]["guid"].as_str().map(String::from);
    let statuses: Option<Vec<String>> = req["filter"]["malop"]["status"].as_array().map(|a| {
        a.iter()
            .filter_map(|v| v.as_str().map(str::to_lowercase))
            .collect()
    });
    let data = lock(&s.data);
    let ms = newest_first(
        data.malops
            .values()
            .filter(|m| range.is_none_or(|(a, b)| in_range(m, a, b)))
            .filter(|m| guid.as_deref().is_none_or(|g| g == m.guid))
            .filter(|m| {
                statuses
                    .as_ref()
                    .is_none_or(|st| st.contains(&m.status.to_lowercase()))
            })
            .collect(),
    );
    let total = ms.len();
    let items: Vec<Value> = ms
        .into_iter()
        .skip(offset)
        .take(page_size)
        .map(mmng_json)
        .collect();
    s.answer(
        Family::Malops,
        json!({
            "status": "SUCCESS",
            "data": {"pageSize": page_size, "pages": total.div_ceil(page_size), "offset": offset,
                     "totalHits": total, "token": "", "data": items}
        }),
    )
}

/// `GET /rest/mmng/v2/malops/metadata/{guid}` (PyPI `cybereason` schema).
pub(super) async fn metadata(State(s): State<Arc<Shared>>, Path(guid): Path<String>) -> Response {
    let data = lock(&s.data);
    let Some(m) = data.malops.get(&guid) else {
        return json_response(
            json!({"status": "FAILURE", "message": format!("Malop {guid} not found"), "data": null}),
        );
    };
    let closed = closed_by_analyst(m);
    s.answer(
        Family::Malops,
        json!({"status": "SUCCESS", "data": {
            "guid": m.guid, "status": m.management_status.as_str(), "investigationStatus": m.investigation_status,
            "malopLabels": [], "severity": m.severity, "priority": priority(m), "escalated": false,
            "lastUpdateTime": m.updated,
            "closeTime": if closed { json!(m.updated) } else { Value::Null },
            "closerName": if closed { json!(CLOSER) } else { Value::Null }
        }}),
    )
}

/// The `connections[]` items of detection details [U: no public sample lists their fields;
/// named after the visual-search Connection features].
fn detail_connections(data: &SimData, guid: &str) -> Vec<Value> {
    let first = |e: &SimElement, k: &str| e.simple.get(k).and_then(|v| v.first()).cloned();
    let name = |e: &SimElement, k: &str| {
        e.links
            .get(k)
            .and_then(|v| v.first())
            .map(|r| r.name.clone())
    };
    data.elements
        .get("Connection")
        .into_iter()
        .flatten()
        .filter(|e| e.malops.iter().any(|m| m == guid))
        .map(|e| {
            json!({
                "guid": e.guid, "elementDisplayName": first(e, "elementDisplayName"),
                "localAddress": name(e, "localAddress"), "localPort": first(e, "localPort"),
                "remoteAddress": name(e, "remoteAddress"), "remotePort": first(e, "remotePort"),
                "domainName": e.domain, "direction": first(e, "direction"),
                "transportProtocol": first(e, "transportProtocol"),
                "creationTime": e.time, "ownerMachine": name(e, "ownerMachine"),
                "ownerProcess": name(e, "ownerProcess")
            })
        })
        .collect()
}

/// `POST /rest/detection/details {"malopGuid"}`: details of an EPP (non-EDR) MalOp — the keys
/// Siemplify's parser reads. An EDR MalOp or an unknown GUID is refused with 400 [U].
pub(super) async fn details(State(s): State<Arc<Shared>>, body: Bytes) -> Response {
    let req = match object(&body) {
        Ok(v) => v,
        Err(e) => return bad_request(e),
    };
    let Some(guid) = req["malopGuid"].as_str() else {
        return bad_request("Bad request: malopGuid is missing");
    };
    let data = lock(&s.data);
    let Some(m) = data.malops.get(guid) else {
        return bad_request(format!("Malop {guid} not found"));
    };
    if m.edr {
        return bad_request(format!("Malop {guid} is not a detection malop"));
    }
    let machine = m.machines.first().cloned().unwrap_or_default();
    s.answer(
        Family::Malops,
        json!({
            "guid": m.guid, "displayName": m.name, "malopDetectionType": m.detection_type,
            "rootCauseElementType": "File", "rootCauseElementNamesCount": 1,
            "detectionEngines": m.engines, "detectionTypes": [m.name],
            "creationTime": m.created, "lastUpdateTime": m.updated,
            "status": m.status, "severity": m.severity, "edr": m.edr,
            "machines": m.machines.iter().map(|n| machine_json(n, m, true)).collect::<Vec<_>>(),
            "users": m.users.iter().map(|n| user_json(n)).collect::<Vec<_>>(),
            "fileSuspects": [{"guid": format!("file-{}", root_hash(m)), "name": m.root_cause,
                "sha1String": root_hash(m), "correctedPath": format!("c:\\users\\public\\{}", m.root_cause),
                "maliciousClassificationType": "malware", "ownerMachine": machine}],
            "processSuspects": null,
            "connections": detail_connections(&data, guid),
            "timelineEvents": [{"eventType": "DETECTION", "timestamp": m.created, "description": m.name}]
        }),
    )
}

/// `POST /rest/crimes/status {"<guid>": "<STATUS>", …}`: set analyst statuses.
pub(super) async fn crimes_status(State(s): State<Arc<Shared>>, body: Bytes) -> Response {
    let req = match object(&body) {
        Ok(v) => v,
        Err(e) => return bad_request(e),
    };
    let Value::Object(changes) = req else {
        return bad_request("Bad request: expected a JSON object");
    };
    let mut data = lock(&s.data);
    for (guid, st) in &changes {
        let (Some(_), Some(st)) = (data.malops.get(guid), st.as_str()) else {
            return json_response(
                json!({"status": "FAILURE", "message": format!("Malop {guid} not found")}),
            );
        };
        if Management::parse(st).is_err() {
            return json_response(
                json!({"status": "FAILURE", "message": format!("Cannot set {guid} to {st}")}),
            );
        }
    }
    for (guid, st) in changes {
        if let (Some(m), Some(st)) = (data.malops.get_mut(&guid), st.as_str()) {
            // Checked above; an error here cannot happen, but never panic on it.
            let _ = m.set_management_status(st);
        }
    }
    json_response(json!({"status": "SUCCESS", "message": ""}))
}
