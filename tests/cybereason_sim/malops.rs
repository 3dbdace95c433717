//! MalOps as the real endpoints show them (status fields per endpoint, EDR vs EPP, detection
//! details, paging) and the reputation list API.
use serde_json::{Value, json};

use super::{Session, sim_with};

const STATUSES: &str = "malops:\n\
- {guid: \"11.-1\", management_status: UNREAD, created: -1d}\n\
- {guid: \"11.-2\", management_status: TODO, created: -1d}\n\
- {guid: \"11.-3\", management_status: OPEN, created: -1d}\n\
- {guid: \"11.-4\", management_status: CLOSED, created: -1d}\n\
- {guid: \"11.-5\", management_status: FP, created: -1d}\n\
- {guid: \"11.-6\", management_status: REOPEN, created: -1d}\n\
- {guid: \"11.-7\", management_status: RESOLVED, created: -1d}\n\
- {guid: AAAA0yUlnvXGQODT, status: Active, closed: true, created: -1d}\n\
- {guid: AAAA1mBHnEF4lvoq, edr: false, engines: [AntiVirus], created: -1d, machines: [WS-7], users: [\"corp\\\\eve\"]}\n\
connections:\n\
- {remote: 203.0.113.30, classification: malware, time: -1d, malops: [\"11.-3\"]}\n\
- {remote: 203.0.113.31, domain: drop.evil.example, classification: malware, time: -1d, malops: [AAAA1mBHnEF4lvoq]}\n";

fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

fn by_guid(items: &Value) -> std::collections::BTreeMap<String, Value> {
    items
        .as_array()
        .expect("a list")
        .iter()
        .map(|m| {
            (
                m["guid"].as_str().unwrap_or_default().to_string(),
                m.clone(),
            )
        })
        .collect()
}

#[tokio::test]
async fn malop_status_fields_on_every_endpoint() {
    let sim = sim_with(Some(STATUSES), |_| {});
    let s = Session::login(&sim).await;

    // crimes/unified: EDR MalOps only, `managementStatus` as the analyst set it.
    let (_, text) = s
        .post("/rest/crimes/unified", &json!({"queryPath": [{"requestedType": "MalopProcess", "result": true, "filters": null}],
            "totalResultLimit": 10000, "perGroupLimit": 10000, "perFeatureLimit": 100, "templateContext": "MALOP"}))
        .await;
    let v: Value = serde_json::from_str(&text).unwrap();
    let rows = v["data"]["resultIdToElementDataMap"].as_object().unwrap();
    let management: Vec<(&str, &str)> = rows
        .iter()
        .map(|(g, r)| {
            (
                g.as_str(),
                r["simpleValues"]["managementStatus"]["values"][0]
                    .as_str()
                    .unwrap(),
            )
        })
        .collect();
    assert_eq!(
        management,
        [
            ("11.-1", "UNREAD"),
            ("11.-2", "TODO"),
            ("11.-3", "OPEN"),
            ("11.-4", "CLOSED"),
            ("11.-5", "FP"),
            ("11.-6", "REOPEN"),
            ("11.-7", "RESOLVED"),
            ("AAAA0yUlnvXGQODT", "UNREAD")
        ]
    );
    assert_eq!(
        rows["11.-4"]["simpleValues"]["closerName"]["values"][0],
        "analyst@blockops.example"
    );
    assert_eq!(
        v["data"]["queryLimits"]["groupingFeature"]["featureName"],
        "self"
    );

    // detection/inbox: `status` = `malopStatus`, the `closed` flag and `edr`.
    let (_, text) = s
        .post(
            "/rest/detection/inbox",
            &json!({"startTime": now_ms() - 172_800_000, "endTime": now_ms()}),
        )
        .await;
    let inbox = by_guid(&serde_json::from_str::<Value>(&text).unwrap()["malops"]);
    let row = |g: &str| {
        let m = &inbox[g];
        assert_eq!(m["status"], m["malopStatus"], "{m}");
        (
            m["status"].as_str().unwrap().to_string(),
            m["closed"].as_bool().unwrap(),
            m["edr"].as_bool().unwrap(),
        )
    };
    for (g, want) in [
        ("11.-1", ("Active", false, true)),
        ("11.-3", ("Active", false, true)),
        ("11.-4", ("Remediated", true, true)),
        ("11.-5", ("Closed", true, true)),
        ("11.-6", ("Active", false, true)),
        ("11.-7", ("Remediated", true, true)),
        // XSOAR's real sample: Active, yet closed.
        ("AAAA0yUlnvXGQODT", ("Active", true, true)),
        ("AAAA1mBHnEF4lvoq", ("Active", false, false)),
    ] {
        assert_eq!(row(g), (want.0.to_string(), want.1, want.2), "{g}");
    }
    assert_eq!(inbox["11.-4"]["@class"], ".MalopInboxModel");
    assert_eq!(inbox["11.-4"]["closerName"], "analyst@blockops.example");
    assert!(inbox["11.-3"]["malopCloseTime"].is_null());
    assert_eq!(
        inbox["AAAA1mBHnEF4lvoq"]["detectionEngines"],
        json!(["AntiVirus"])
    );

    // mmng/v2: `status`, `investigationStatus`, `isEdr`; XSOAR's filter on Active.
    let (_, text) = s
        .post(
            "/rest/mmng/v2/malops",
            &json!({"search": {}, "pagination": {"pageSize": 50, "offset": 0},
            "filter": {"malop": {"status": ["Active"]}}}),
        )
        .await;
    let v: Value = serde_json::from_str(&text).unwrap();
    let items = by_guid(&v["data"]["data"]);
    let mut active: Vec<&String> = items.keys().collect();
    active.sort();
    assert_eq!(
        active,
        [
            "11.-1",
            "11.-2",
            "11.-3",
            "11.-6",
            "AAAA0yUlnvXGQODT",
            "AAAA1mBHnEF4lvoq"
        ]
    );
    let inv: Vec<&str> = ["11.-1", "11.-3", "11.-6"]
        .iter()
        .map(|g| items[*g]["investigationStatus"].as_str().unwrap())
        .collect();
    assert_eq!(inv, ["Pending", "UnderInvestigation", "Reopened"]);
    assert_eq!(
        (
            items["11.-1"]["isEdr"].as_bool(),
            items["AAAA1mBHnEF4lvoq"]["isEdr"].as_bool()
        ),
        (Some(true), Some(false))
    );

    // metadata: the analyst status.
    let (_, text) = s.get("/rest/mmng/v2/malops/metadata/11.-5").await;
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        (
            v["status"].as_str(),
            v["data"]["status"].as_str(),
            v["data"]["investigationStatus"].as_str()
        ),
        (Some("SUCCESS"), Some("FP"), Some("Closed"))
    );

    // An analyst closes a MalOp (API and handle): every endpoint follows.
    let (_, text) = s
        .post("/rest/crimes/status", &json!({"11.-3": "CLOSED"}))
        .await;
    assert_eq!(text, r#"{"message":"","status":"SUCCESS"}"#);
    let (_, text) = s
        .post("/rest/crimes/status", &json!({"11.-3": "DONE"}))
        .await;
    assert!(text.contains("FAILURE"), "{text}");
    sim.set_malop_status("11.-6", "fp").unwrap();
    assert!(sim.set_malop_status("nope", "FP").is_err());
    let (_, text) = s
        .post(
            "/rest/mmng/v2/malops",
            &json!({"search": {}, "filter": {"malop": {"status": ["Active"]}}}),
        )
        .await;
    let items = by_guid(&serde_json::from_str::<Value>(&text).unwrap()["data"]["data"]);
    assert!(
        !items.contains_key("11.-3") && !items.contains_key("11.-6"),
        "{text}"
    );
}

#[tokio::test]
async fn epp_malop_has_no_process_chain_but_detection_details_list_its_connections() {
    let sim = sim_with(Some(STATUSES), |_| {});
    let s = Session::login(&sim).await;
    let chain = |guid: &str| {
        json!({"queryPath": [
            {"requestedType": "MalopProcess", "guidList": [guid], "filters": [],
             "connectionFeature": {"elementInstanceType": "MalopProcess", "featureName": "suspects"}},
            {"requestedType": "Process", "filters": [],
             "connectionFeature": {"elementInstanceType": "Process", "featureName": "connections"}},
            {"requestedType": "Connection", "filters": [], "isResult": true}],
            "totalResultLimit": 1000, "perGroupLimit": 1200, "perFeatureLimit": 1200, "templateContext": "MALOP",
            "customFields": ["elementDisplayName", "remoteAddress"]})
    };
    let names = |text: &str| -> Vec<String> {
        let v: Value = serde_json::from_str(text).unwrap();
        v["data"]["resultIdToElementDataMap"]
            .as_object()
            .unwrap()
            .values()
            .map(|r| {
                r["elementValues"]["remoteAddress"]["elementValues"][0]["name"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect()
    };
    assert_eq!(names(&s.search(&chain("11.-3")).await), ["203.0.113.30"]);
    assert!(names(&s.search(&chain("AAAA1mBHnEF4lvoq")).await).is_empty());

    let (st, text) = s
        .post(
            "/rest/detection/details",
            &json!({"malopGuid": "AAAA1mBHnEF4lvoq"}),
        )
        .await;
    assert_eq!(st, 200, "{text}");
    let d: Value = serde_json::from_str(&text).unwrap();
    for k in [
        "displayName",
        "malopDetectionType",
        "machines",
        "users",
        "fileSuspects",
        "processSuspects",
        "connections",
        "timelineEvents",
        "lastUpdateTime",
    ] {
        assert!(d.get(k).is_some(), "missing {k} in {d}");
    }
    assert!(d["processSuspects"].is_null(), "{d}");
    assert_eq!(d["machines"][0]["displayName"], "WS-7");
    let c = &d["connections"][0];
    assert_eq!(
        (c["remoteAddress"].as_str(), c["domainName"].as_str()),
        (Some("203.0.113.31"), Some("drop.evil.example")),
        "{d}"
    );
    assert_eq!(d["connections"].as_array().unwrap().len(), 1);
    // An AI-Hunt MalOp or an unknown GUID is refused.
    for g in ["11.-3", "nope"] {
        let (st, _) = s
            .post("/rest/detection/details", &json!({"malopGuid": g}))
            .await;
        assert_eq!(st, 400, "{g}");
    }
}

#[tokio::test]
async fn malops_paging_and_inbox_windows() {
    let mut fx = String::from("malops:\n");
    for i in 0..4 {
        fx.push_str(&format!("- {{guid: \"11.-{i}\", created: -{}d}}\n", i + 1));
    }
    fx.push_str("- {guid: OLD, created: -90d}\n");
    let sim = sim_with(Some(&fx), |_| {});
    let s = Session::login(&sim).await;
    let now = now_ms();
    let page = |offset: u64| {
        json!({"search": {}, "range": {"from": now - 30 * 86_400_000_i64, "to": now},
               "pagination": {"pageSize": 2, "offset": offset}, "federation": {"groups": []},
               "sort": [{"field": "LastUpdateTime", "order": "desc"}]})
    };
    let mut guids = Vec::new();
    for offset in [0, 2] {
        let v: Value =
            serde_json::from_str(&s.post("/rest/mmng/v2/malops", &page(offset)).await.1).unwrap();
        assert_eq!(
            (v["data"]["totalHits"].as_u64(), v["data"]["pages"].as_u64()),
            (Some(4), Some(2)),
            "{v}"
        );
        guids.extend(by_guid(&v["data"]["data"]).into_keys());
    }
    assert_eq!(guids, ["11.-0", "11.-1", "11.-2", "11.-3"]);
    // PyPI `cybereason` asks for one more page when exactly divisible: empty, not an error.
    let v: Value = serde_json::from_str(&s.post("/rest/mmng/v2/malops", &page(4)).await.1).unwrap();
    assert_eq!(
        (v["status"].as_str(), &v["data"]["data"]),
        (Some("SUCCESS"), &json!([]))
    );
    let (st, _) = s
        .post(
            "/rest/mmng/v2/malops",
            &json!({"pagination": {"pageSize": 0}}),
        )
        .await;
    assert_eq!(st, 400);

    // detection/inbox: created or updated in the window; newest first; invalid range 400.
    let (_, text) = s
        .post(
            "/rest/detection/inbox",
            &json!({"startTime": now - 2 * 86_400_000 - 60_000, "endTime": now as f64}),
        )
        .await;
    let v: Value = serde_json::from_str(&text).unwrap();
    let inbox: Vec<&str> = v["malops"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["guid"].as_str().unwrap())
        .collect();
    assert_eq!(inbox, ["11.-0", "11.-1"]);
    assert!(v["machineCounterModel"].is_object(), "{v}");
    for body in [
        json!({"startTime": now, "endTime": now - 1}),
        json!({"startTime": now}),
    ] {
        let (st, text) = s.post("/rest/detection/inbox", &body).await;
        assert_eq!((st, text.as_str()), (400, "Time range is not valid"));
    }
}

#[tokio::test]
async fn reputations_list_pages_and_bad_bodies_are_400() {
    let sim = sim_with(None, |_| {});
    let s = Session::login(&sim).await;
    sim.set_reputation("198.51.100.250", "blacklist", "set in test");
    let list = |page: u64| json!({"filter": {"maliciousType": "blacklist", "includeExpired": false}, "page": page, "size": 4});
    let p0: Value = serde_json::from_str(
        &s.post("/rest/classification/reputations/list", &list(0))
            .await
            .1,
    )
    .unwrap();
    assert_eq!(p0["outcome"], "success");
    assert_eq!(p0["data"]["total"], 7, "{p0}");
    assert_eq!(p0["data"]["reputations"].as_array().unwrap().len(), 4);
    let p1: Value = serde_json::from_str(
        &s.post("/rest/classification/reputations/list", &list(1))
            .await
            .1,
    )
    .unwrap();
    let items = by_guid_key(&p1["data"]["reputations"]);
    assert_eq!(items.len(), 3);
    assert_eq!(items["c2.evil.example"]["reputationType"], "DOMAIN");
    assert_eq!(items["c2.evil.example"]["lookupKeyType"], "DOMAIN");
    let p2: Value = serde_json::from_str(
        &s.post("/rest/classification/reputations/list", &list(2))
            .await
            .1,
    )
    .unwrap();
    assert_eq!(p2["data"]["reputations"], json!([]));
    assert!(sim.remove_reputation("198.51.100.250"));
    assert!(!sim.remove_reputation("198.51.100.250"));

    for (path, body) in [
        ("/rest/visualsearch/query/simple", "{not json"),
        ("/rest/classification/update", r#"{"keys": []}"#),
        ("/rest/classification/update", r#"[{"keys": "x"}]"#),
        ("/rest/classification/reputations/list", "[]"),
        ("/rest/detection/details", "{}"),
    ] {
        let r = s
            .http
            .post(format!("{}{path}", s.base))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{path} {body}");
    }
}

fn by_guid_key(items: &Value) -> std::collections::BTreeMap<String, Value> {
    items
        .as_array()
        .expect("a list")
        .iter()
        .map(|m| (m["key"].as_str().unwrap_or_default().to_string(), m.clone()))
        .collect()
}
