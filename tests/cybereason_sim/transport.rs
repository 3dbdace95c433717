//! Broken transfers and injected faults as a client sees them on the wire: bodies cut short
//! behind `Connection: close` or a `Content-Length` that promises more, invalid JSON,
//! `Retry-After`, latency, and the request records tests assert on.
use std::time::{Duration, Instant};

use blockops::sim::cybereason::{Endpoint, Fault, FaultKind, Quirks};
use serde_json::{Value, json};

use super::{Session, conn_query, quirky, raw, raw_login, sim_with};

fn get_csv(cookie: &str) -> String {
    format!(
        "GET /rest/classification/download HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: JSESSIONID={cookie}\r\n\r\n"
    )
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}: ")))
}

#[test]
fn truncated_download_with_connection_close_looks_complete_on_the_wire() {
    let sim = sim_with(None, |_| {});
    let cookie = raw_login(sim.addr);
    let (head, full) = raw(
        sim.addr,
        &format!(
            "GET /rest/classification/download HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nCookie: JSESSIONID={cookie}\r\n\r\n"
        ),
    );
    assert!(head.starts_with("http/1.1 200"), "{head}");
    let full = String::from_utf8(full).unwrap();
    assert!(
        full.starts_with("key,reputation") && full.ends_with("false\n"),
        "{full}"
    );

    sim.inject(
        Fault::new(
            Endpoint::ClassificationDownload,
            FaultKind::Truncate {
                percent: 88,
                close: true,
            },
        )
        .times(1),
    );
    // No `Connection: close` from the client: the server ends the body by closing.
    let (head, body) = raw(sim.addr, &get_csv(&cookie));
    assert!(head.starts_with("http/1.0 200 ok"), "{head}");
    assert_eq!(header(&head, "connection"), Some("close"), "{head}");
    assert_eq!(header(&head, "content-length"), None, "{head}");
    assert_eq!(header(&head, "transfer-encoding"), None, "{head}");
    assert_eq!(body.len(), full.len() * 88 / 100);
    assert!(full.as_bytes().starts_with(&body));
    assert!(!body.ends_with(b"\n"), "the cut falls inside a row");
}

#[test]
fn truncated_download_with_a_lying_content_length_is_short() {
    let sim = sim_with(None, |_| {});
    let cookie = raw_login(sim.addr);
    sim.inject(Fault::new(
        Endpoint::ClassificationDownload,
        FaultKind::Truncate {
            percent: 50,
            close: false,
        },
    ));
    let (head, body) = raw(sim.addr, &get_csv(&cookie));
    assert!(head.starts_with("http/1.1 200"), "{head}");
    let announced: usize = header(&head, "content-length")
        .expect("a Content-Length")
        .parse()
        .unwrap();
    assert_eq!(body.len(), announced / 2, "{head}");
    assert!(body.starts_with(b"key,reputation,prevent execution,comment,remove\n"));
}

#[tokio::test]
async fn truncated_and_corrupt_json_answers() {
    let sim = sim_with(None, |_| {});
    let s = Session::login(&sim).await;
    let q = conn_query("203.0.113.9", &["remoteAddress"]);
    let whole = s.search(&q).await;
    sim.inject(
        Fault::new(
            Endpoint::VisualSearch,
            FaultKind::Truncate {
                percent: 60,
                close: true,
            },
        )
        .times(1),
    );
    let cut = s.search(&q).await;
    assert_eq!(cut.len(), whole.len() * 60 / 100);
    assert!(whole.starts_with(&cut));
    assert!(serde_json::from_str::<Value>(&cut).is_err());

    sim.inject(Fault::new(Endpoint::VisualSearch, FaultKind::CorruptJson).times(1));
    let r = s
        .http
        .post(format!("{}/rest/visualsearch/query/simple", s.base))
        .json(&q)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/json");
    let text = r.text().await.unwrap();
    assert!(text.starts_with(r#"{"data":{"#), "{text}");
    assert!(serde_json::from_str::<Value>(&text).is_err(), "{text}");
    // The next answer is whole again.
    assert_eq!(s.search(&q).await, whole);
}

#[tokio::test]
async fn retry_after_only_on_429_and_only_when_configured() {
    for (retry_after, code, want) in [
        (None, 429, None),
        (Some(7), 429, Some("7")),
        (Some(7), 503, None),
    ] {
        let sim = quirky(Quirks {
            retry_after,
            ..Quirks::default()
        });
        let s = Session::login(&sim).await;
        sim.inject(Fault::new(Endpoint::ClassificationDownload, FaultKind::Status(code)).times(1));
        let r = s
            .http
            .get(format!("{}/rest/classification/download", s.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), code);
        let got = r
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_string());
        assert_eq!(got.as_deref(), want, "{retry_after:?} {code}");
    }
}

#[tokio::test]
async fn latency_delays_every_answer() {
    let sim = quirky(Quirks {
        latency: Duration::from_millis(150),
        ..Quirks::default()
    });
    let http = reqwest::Client::new();
    for path in ["/login.html", "/rest/classification/download"] {
        let t = Instant::now();
        http.get(format!("{}{path}", sim.url()))
            .send()
            .await
            .unwrap();
        // A lower bound only: the answer cannot come before the added latency.
        assert!(
            t.elapsed() >= Duration::from_millis(150),
            "{path}: {:?}",
            t.elapsed()
        );
    }
}

#[tokio::test]
async fn query_status_html_and_status_faults_with_request_records() {
    let sim = sim_with(None, |_| {});
    let s = Session::login(&sim).await;
    let q = conn_query("203.0.113.9", &["remoteAddress"]);
    for st in ["FAILURE", "PARTIAL_SUCCESS"] {
        sim.inject(Fault::new(Endpoint::VisualSearch, FaultKind::QueryStatus(st.into())).times(1));
        let v: Value = serde_json::from_str(&s.search(&q).await).unwrap();
        assert_eq!(
            (v["status"].as_str(), v["failures"].as_u64()),
            (Some(st), Some(1)),
            "{v}"
        );
    }
    sim.inject(
        Fault::new(
            Endpoint::ClassificationUpdate,
            FaultKind::QueryStatus("FAILURE".into()),
        )
        .times(1),
    );
    let (_, upd) = s
        .post(
            "/rest/classification/update",
            &json!([{"keys": ["203.0.113.1"], "maliciousType": "blacklist"}]),
        )
        .await;
    assert_eq!(upd, r#"{"data":"true","outcome":"failed"}"#);
    sim.inject(Fault::new(Endpoint::VisualSearch, FaultKind::HtmlOk).times(1));
    let (st, text) = s.post("/rest/visualsearch/query/simple", &q).await;
    assert_eq!((st, text.contains("Cybereason | Login")), (200, true));
    sim.inject(Fault::new(Endpoint::VisualSearch, FaultKind::Drop).times(1));
    let dropped = match s
        .http
        .post(format!("{}/rest/visualsearch/query/simple", s.base))
        .json(&q)
        .send()
        .await
    {
        Err(_) => true,
        Ok(r) => r.text().await.is_err(),
    };
    assert!(dropped, "a dropped connection is an error for the client");
    // Every request is recorded with its JSON body (never the login form).
    let recs = sim.requests();
    assert_eq!(recs[0].endpoint, Endpoint::Login);
    assert!(recs[0].body.is_none());
    let searches: Vec<_> = recs
        .iter()
        .filter(|r| r.endpoint == Endpoint::VisualSearch)
        .collect();
    assert_eq!(searches.len(), sim.count(Endpoint::VisualSearch));
    assert_eq!(searches.len(), 4);
    let body: Value = serde_json::from_str(searches[0].body.as_deref().unwrap()).unwrap();
    assert_eq!(body, q);
}
