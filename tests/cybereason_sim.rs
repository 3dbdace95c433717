//! The Cybereason simulator and client over real sockets on 127.0.0.1, plus the simulator
//! driven by `curl` (a client we did not write).
use std::process::Command;
use std::time::Duration;

use blockops::cybereason::api::{Filter, QueryElement, QueryRequest};
use blockops::cybereason::{Client, ClientError, ClientSettings};
use blockops::secret::Secret;
use blockops::sim::cybereason::{
    CybereasonSim, Endpoint, Fault, FaultKind, Fixture, SimConfig, SimHandle,
};
use serde_json::{Value, json};

fn sim_with(fixture: &str, f: impl FnOnce(&mut SimConfig)) -> SimHandle {
    let mut cfg = SimConfig {
        fixture: Fixture::parse(fixture).expect("fixture"),
        ..SimConfig::default()
    };
    f(&mut cfg);
    CybereasonSim::spawn(cfg).expect("simulator starts")
}

fn default_sim() -> SimHandle {
    CybereasonSim::spawn(SimConfig::default()).expect("simulator starts")
}

fn settings(sim: &SimHandle, password: &str, retries: u32) -> ClientSettings {
    ClientSettings {
        url: sim.url(),
        username: blockops::sim::cybereason::DEFAULT_USER.into(),
        password: Secret::new(password),
        timeout: Duration::from_secs(2),
        retries,
        retry_backoff: Duration::from_millis(5),
        retry_after_max: Duration::from_secs(5),
        ca_cert: None,
        insecure_skip_verify: false,
    }
}

fn client(sim: &SimHandle) -> Client {
    Client::new(settings(
        sim,
        blockops::sim::cybereason::DEFAULT_PASSWORD,
        3,
    ))
    .expect("client")
}

fn curl(args: &[&str]) -> String {
    let out = Command::new("curl")
        .args(["-s", "-S", "--max-time", "10"])
        .args(args)
        .output()
        .expect("curl runs");
    assert!(
        out.status.success(),
        "curl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn curl_login_cookie_jar_csv_download_and_update() {
    let sim = default_sim();
    let dir = tempfile::tempdir().unwrap();
    let jar = dir.path().join("jar.txt");
    let jar = jar.to_str().unwrap();
    let u = sim.url();

    // The login page.
    let page = curl(&[&format!("{u}/login.html")]);
    assert!(page.contains("<title>Cybereason | Login</title>"), "{page}");

    // Without a session: 302 to the login page with a fresh anonymous JSESSIONID.
    let head = curl(&["-i", &format!("{u}/rest/classification/download")]);
    assert!(head.starts_with("HTTP/1.1 302"), "{head}");
    assert!(
        head.to_lowercase().contains("location: /login.html\r\n"),
        "{head}"
    );
    assert!(
        head.contains("Set-Cookie: JSESSIONID=") || head.contains("set-cookie: JSESSIONID="),
        "{head}"
    );

    // Bad password: 302 to /login.html?error.
    let bad = curl(&[
        "-i",
        "-d",
        "username=api@blockops.example&password=nope",
        &format!("{u}/login.html"),
    ]);
    assert!(
        bad.to_lowercase().contains("location: /login.html?error"),
        "{bad}"
    );

    // Good login: 32 upper-hex JSESSIONID, HttpOnly, no Secure over plain HTTP.
    let ok = curl(&[
        "-i",
        "-c",
        jar,
        "--data-urlencode",
        "username=api@blockops.example",
        "--data-urlencode",
        "password=blockops-sim",
        &format!("{u}/login.html"),
    ]);
    let cookie_line = ok
        .lines()
        .find(|l| l.to_lowercase().starts_with("set-cookie: jsessionid="))
        .expect("cookie");
    let id = cookie_line.split(['=', ';']).nth(1).unwrap();
    assert_eq!(id.len(), 32, "{cookie_line}");
    assert!(
        id.chars()
            .all(|c| c.is_ascii_digit() || ('A'..='F').contains(&c)),
        "{cookie_line}"
    );
    assert!(
        cookie_line.contains("HttpOnly") && !cookie_line.contains("Secure"),
        "{cookie_line}"
    );
    assert!(ok.to_lowercase().contains("location: /#/current?"), "{ok}");

    // CSV with the cookie jar.
    let csv = curl(&["-b", jar, &format!("{u}/rest/classification/download")]);
    assert!(
        csv.starts_with("key,reputation,prevent execution,comment,remove\n"),
        "{csv}"
    );
    assert!(
        csv.contains("203.0.113.9,blacklist,false,c2 from threat feed,false"),
        "{csv}"
    );

    // classification/update mutates what download returns (booleans as strings, like TOB).
    let upd = curl(&[
        "-b",
        jar,
        "-H",
        "Content-Type: application/json",
        "-d",
        r#"[{"keys":["198.51.100.66","new.bad.example"],"maliciousType":"blacklist","prevent":"false","remove":"false","comment":"added by curl"},
            {"keys":["203.0.113.9"],"maliciousType":null,"remove":true,"prevent":false}]"#,
        &format!("{u}/rest/classification/update"),
    ]);
    let v: Value = serde_json::from_str(&upd).unwrap();
    assert_eq!(v["outcome"], "success");
    let csv = curl(&["-b", jar, &format!("{u}/rest/classification/download")]);
    assert!(
        csv.contains("198.51.100.66,blacklist,false,added by curl,false"),
        "{csv}"
    );
    assert!(csv.contains("new.bad.example,blacklist"), "{csv}");
    assert!(!csv.contains("203.0.113.9,"), "{csv}");

    // Logout invalidates the session.
    curl(&["-b", jar, &format!("{u}/logout")]);
    let after = curl(&[
        "-i",
        "-b",
        jar,
        &format!("{u}/rest/classification/download"),
    ]);
    assert!(after.starts_with("HTTP/1.1 302"), "{after}");
}

#[tokio::test]
async fn credentials_in_query_string_and_lenient_cookie_and_query_shapes() {
    let sim = default_sim();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    // POL-style: form content type, credentials in the query string, empty body.
    let r = http
        .post(format!(
            "{}/login.html?username=api%40blockops.example&password=blockops-sim",
            sim.url()
        ))
        .header("content-type", "application/x-www-form-urlencoded")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    let set = r
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    // SS-style: the whole Set-Cookie string sent back as the Cookie header.
    let body = json!({"queryPath": [{"requestedType": "Connection", "isResult": "true",
                      "filters": [{"facetName": "remoteAddressMaliciousClassificationType", "values": ["BLACKLIST"]},
                                  {"facetName": "creationTime", "filterType": "GreaterThan", "values": [0.0]}]}],
                      "totalResultLimit": 100});
    let r = http
        .post(format!("{}/rest/visualsearch/query/simple", sim.url()))
        .header("cookie", set)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["status"], "SUCCESS");
    assert_eq!(v["hidePartialSuccess"], false);
    let map = v["data"]["resultIdToElementDataMap"].as_object().unwrap();
    // Three blacklist connections in the default fixture (one of them 45 days old).
    assert_eq!(map.len(), 3, "{v}");
    for (k, el) in map {
        assert_eq!(el["guidString"], k.as_str());
        assert!(el["simpleValues"]["creationTime"]["values"][0].is_string());
        assert_eq!(
            el["elementValues"]["remoteAddress"]["elementValues"][0]["elementType"],
            "IpAddress"
        );
        assert_eq!(el["isMalicious"], true);
    }
}

#[tokio::test]
async fn client_reads_reputation_csv_and_relogins_after_ttl_expiry() {
    let sim = sim_with(
        "reputations:\n- {key: 203.0.113.5}\n- {key: bad.example, comment: \"x, y\"}\n",
        |c| c.session_ttl = Duration::from_millis(300),
    );
    let c = client(&sim);
    c.login().await.unwrap();
    let rows = c.reputation_csv().await.unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(
        rows.iter()
            .find(|r| r.key == "bad.example")
            .map(|r| r.comment.as_str()),
        Some("x, y")
    );
    tokio::time::sleep(Duration::from_millis(450)).await;
    let rows = c.reputation_csv().await.unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(sim.logins(), 2, "one re-login after the session expired");
}

#[tokio::test]
async fn failed_login_names_the_url_but_never_the_password() {
    let sim = default_sim();
    let c = Client::new(settings(&sim, "Wr0ng-Pa55word!", 3)).unwrap();
    let e = c.login().await.unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, ClientError::LoginRejected { .. }), "{e:?}");
    assert!(msg.contains(&format!("{}/login.html", sim.url())), "{msg}");
    assert!(
        !msg.contains("Wr0ng-Pa55word!") && !format!("{e:?}").contains("Wr0ng-Pa55word!"),
        "{msg}"
    );
    assert_eq!(sim.failed_logins(), 1, "a rejected login is not retried");
}

#[tokio::test]
async fn transient_faults_are_retried_with_backoff_and_bounded() {
    let sim = default_sim();
    let c = client(&sim);
    c.login().await.unwrap();
    for kind in [
        FaultKind::Status(500),
        FaultKind::Status(429),
        FaultKind::Drop,
        FaultKind::Status(503),
    ] {
        sim.clear_faults();
        sim.inject(Fault::new(Endpoint::ClassificationDownload, kind.clone()).times(2));
        let rows = c
            .reputation_csv()
            .await
            .unwrap_or_else(|e| panic!("{kind:?}: {e}"));
        assert!(!rows.is_empty());
    }
    // More failures than retries: a clear error.
    sim.clear_faults();
    sim.inject(Fault::new(
        Endpoint::ClassificationDownload,
        FaultKind::Status(500),
    ));
    let before = sim.count(Endpoint::ClassificationDownload);
    let e = c.reputation_csv().await.unwrap_err();
    assert!(
        matches!(e, ClientError::GaveUp { attempts: 4, .. }),
        "{e:?}"
    );
    assert_eq!(sim.count(Endpoint::ClassificationDownload) - before, 4);
    // 403 is not retried.
    sim.clear_faults();
    sim.inject(Fault::new(Endpoint::ClassificationDownload, FaultKind::Status(403)).times(1));
    let e = c.reputation_csv().await.unwrap_err();
    assert!(matches!(e, ClientError::Forbidden { .. }), "{e:?}");
}

#[tokio::test]
async fn slow_replies_time_out_and_html_bodies_count_as_expiry() {
    let sim = default_sim();
    let mut s = settings(&sim, blockops::sim::cybereason::DEFAULT_PASSWORD, 1);
    s.timeout = Duration::from_millis(300);
    let c = Client::new(s).unwrap();
    c.login().await.unwrap();
    sim.inject(Fault::new(
        Endpoint::ClassificationDownload,
        FaultKind::Slow(Duration::from_secs(2)),
    ));
    let e = c.reputation_csv().await.unwrap_err();
    assert!(e.to_string().contains("timed out"), "{e}");
    sim.clear_faults();
    // One 200-with-HTML answer: the client logs in again and retries.
    sim.inject(Fault::new(Endpoint::ClassificationDownload, FaultKind::HtmlOk).times(1));
    assert!(!c.reputation_csv().await.unwrap().is_empty());
    assert_eq!(sim.logins(), 2);
    // HTML every time: an error after exactly one re-login.
    sim.inject(Fault::new(
        Endpoint::ClassificationDownload,
        FaultKind::HtmlOk,
    ));
    let e = c.reputation_csv().await.unwrap_err();
    assert!(matches!(e, ClientError::SessionRejected { .. }), "{e:?}");
    assert_eq!(sim.logins(), 3);
}

#[tokio::test]
async fn visual_search_status_failure_and_partial_success_are_errors() {
    let sim = default_sim();
    let c = client(&sim);
    c.login().await.unwrap();
    let q = QueryRequest {
        query_path: vec![QueryElement {
            requested_type: "DomainName".into(),
            filters: Some(vec![Filter::new(
                "maliciousClassificationType",
                "Equals",
                vec![json!("malware")],
            )]),
            is_result: true,
            ..Default::default()
        }],
        total_result_limit: 10,
        per_group_limit: 10,
        per_feature_limit: 10,
        template_context: Some("SPECIFIC".into()),
        query_timeout: None,
        custom_fields: vec!["elementDisplayName".into()],
    };
    let r = c.visual_search(&q).await.unwrap();
    let names: Vec<String> = r
        .rows
        .iter()
        .map(|(k, e)| blockops::cybereason::query::domain_facts(k, e).unwrap().0)
        .collect();
    assert_eq!(names, ["dropper.malware.example"]);
    for st in ["FAILURE", "PARTIAL_SUCCESS"] {
        sim.clear_faults();
        sim.inject(Fault::new(Endpoint::VisualSearch, FaultKind::QueryStatus(st.into())).times(1));
        let e = c.visual_search(&q).await.unwrap_err();
        assert!(e.to_string().contains(st), "{e}");
    }
}

#[tokio::test]
async fn malops_paging_and_inbox() {
    let mut fx = String::from("malops:\n");
    for i in 0..4 {
        fx.push_str(&format!("- {{guid: \"11.-{i}\", created: -{}d}}\n", i + 1));
    }
    fx.push_str("- {guid: OLD, created: -90d}\n");
    let sim = sim_with(&fx, |_| {});
    let c = client(&sim);
    c.login().await.unwrap();
    let now = (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64;
    let ms = c.malops(now - 30 * 86_400_000, now, 2).await.unwrap();
    let guids: Vec<&str> = ms.iter().map(|m| m.guid.as_str()).collect();
    assert_eq!(guids, ["11.-0", "11.-1", "11.-2", "11.-3"], "newest first");
    assert_eq!(sim.count(Endpoint::Malops), 2);

    // FS-style paging asks for one more page when exactly divisible: it is empty, not an error.
    let http = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap();
    http.post(format!("{}/login.html", sim.url()))
        .form(&[
            ("username", "api@blockops.example"),
            ("password", "blockops-sim"),
        ])
        .send()
        .await
        .unwrap();
    let v: Value = http
        .post(format!("{}/rest/mmng/v2/malops", sim.url()))
        .json(
            &json!({"search": {}, "range": {"from": now - 30 * 86_400_000_i64, "to": now},
                      "pagination": {"pageSize": 2, "offset": 4}}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["status"], "SUCCESS");
    assert_eq!(v["data"]["totalHits"], 4);
    assert_eq!(v["data"]["pages"], 2);
    assert_eq!(v["data"]["data"], json!([]));

    // detection/inbox: start/end window; invalid range is 400.
    let r = http
        .post(format!("{}/rest/detection/inbox", sim.url()))
        .json(&json!({"startTime": now - 2 * 86_400_000 - 60_000, "endTime": now}))
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    let inbox: Vec<&str> = v["malops"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["guid"].as_str().unwrap())
        .collect();
    assert_eq!(inbox, ["11.-0", "11.-1"]);
    assert_eq!(v["malops"][0]["@class"], ".MalopInboxModel");
    let r = http
        .post(format!("{}/rest/detection/inbox", sim.url()))
        .json(&json!({"startTime": now, "endTime": now - 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.text().await.unwrap(), "Time range is not valid");
}

async fn split_all(plus_one: bool) {
    let mut fx = String::from("connections:\n");
    for i in 0..37 {
        fx.push_str(&format!(
            "- {{remote: 203.0.113.{}, time: -{}m, classification: malware}}\n",
            i + 1,
            i * 7 + 1
        ));
    }
    let sim = sim_with(&fx, |c| c.plus_one_quirk = plus_one);
    let c = client(&sim);
    c.login().await.unwrap();
    let now = (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64;
    let opts = blockops::cybereason::CollectOptions {
        reputation: false,
        connections: true,
        domains: false,
        malops: false,
        from_ms: now - 86_400_000,
        to_ms: now + 1000,
        result_limit: 5,
        connection_facet: "remoteAddressMaliciousClassificationType".into(),
        malicious_classes: vec!["malware".into()],
        malop_skip_statuses: vec![],
        epp_malops: Default::default(),
    };
    let got = blockops::cybereason::collect(&c, &opts, &|_| {})
        .await
        .unwrap();
    let mut ips: Vec<String> = got.findings.iter().map(|f| f.raw.clone()).collect();
    ips.sort();
    ips.dedup();
    assert_eq!(ips.len(), 37);
    assert!(got.stats.window_splits >= 1, "{:?}", got.stats);
    assert!(
        sim.count(Endpoint::VisualSearch) as u64 > 37 / 6,
        "{:?}",
        got.stats
    );
    assert_eq!(got.stats.connections, 37);
}

#[tokio::test]
async fn window_splitting_returns_every_connection() {
    split_all(true).await;
}

#[tokio::test]
async fn window_splitting_without_the_extra_row_uses_total_possible_results() {
    split_all(false).await;
}

#[test]
fn sim_cli_prints_its_url_and_serves_the_given_fixture() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let fx = dir.path().join("fx.yaml");
    std::fs::write(
        &fx,
        "reputations:\n- {key: 198.51.100.99, comment: from file}\n",
    )
    .unwrap();
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("blockops"))
        .args([
            "sim",
            "cybereason",
            "--listen",
            "127.0.0.1:0",
            "--user",
            "u@example.invalid",
        ])
        .args(["--password", "pw-for-cli-test", "--data"])
        .arg(&fx)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    let stdout = child.stdout.take().unwrap();
    std::io::BufReader::new(stdout)
        .read_line(&mut line)
        .unwrap();
    let url = line.trim().to_string();
    let result = std::panic::catch_unwind(|| {
        assert!(url.starts_with("http://127.0.0.1:"), "{url}");
        let jar = dir.path().join("jar");
        let jar = jar.to_str().unwrap();
        curl(&[
            "-c",
            jar,
            "-d",
            "username=u%40example.invalid&password=pw-for-cli-test",
            &format!("{url}/login.html"),
        ]);
        let csv = curl(&["-b", jar, &format!("{url}/rest/classification/download")]);
        assert!(
            csv.contains("198.51.100.99,blacklist,false,from file,false"),
            "{csv}"
        );
    });
    let _ = child.kill();
    let _ = child.wait();
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
}

#[test]
fn bad_ca_certificate_and_credentials_in_url_are_rejected_up_front() {
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, "not a certificate").unwrap();
    let s = ClientSettings {
        url: "https://cybereason.example:8443".into(),
        username: "u".into(),
        password: Secret::new("pw"),
        timeout: Duration::from_secs(1),
        retries: 0,
        retry_backoff: Duration::from_millis(1),
        retry_after_max: Duration::from_secs(1),
        ca_cert: Some(ca.clone()),
        insecure_skip_verify: false,
    };
    let e = Client::new(s.clone()).unwrap_err();
    assert!(matches!(e, ClientError::CaCert { .. }), "{e:?}");
    assert!(e.to_string().contains(&ca.display().to_string()), "{e}");
    let e = Client::new(ClientSettings {
        url: "https://u:secret@cybereason.example".into(),
        ca_cert: None,
        ..s.clone()
    })
    .unwrap_err();
    assert!(!e.to_string().contains("secret"), "{e}");
    let insecure = ClientSettings {
        ca_cert: None,
        insecure_skip_verify: true,
        ..s
    };
    assert!(Client::new(insecure).is_ok());
}

#[tokio::test]
async fn reputations_list_pages_and_bad_bodies_are_400() {
    let sim = default_sim();
    let http = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap();
    http.post(format!("{}/login.html", sim.url()))
        .form(&[
            ("username", "api@blockops.example"),
            ("password", "blockops-sim"),
        ])
        .send()
        .await
        .unwrap();
    sim.set_reputation("198.51.100.250", "blacklist", "set in test");
    let list = |page: u64| {
        let http = http.clone();
        let url = format!("{}/rest/classification/reputations/list", sim.url());
        async move {
            let v: Value = http
                .post(url)
                .json(&json!({"filter": {"maliciousType": "blacklist", "includeExpired": false}, "page": page, "size": 4}))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            v
        }
    };
    let p0 = list(0).await;
    assert_eq!(p0["outcome"], "success");
    assert_eq!(p0["data"]["total"], 7, "{p0}");
    assert_eq!(p0["data"]["reputations"].as_array().unwrap().len(), 4);
    let p1 = list(1).await;
    let keys: Vec<&str> = p1["data"]["reputations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys.len(), 3);
    assert!(keys.contains(&"c2.evil.example"), "{keys:?}");
    let item = p1["data"]["reputations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["key"] == "c2.evil.example")
        .unwrap();
    assert_eq!(item["reputationType"], "DOMAIN");
    assert_eq!(list(2).await["data"]["reputations"], json!([]));

    let r = http
        .post(format!("{}/rest/visualsearch/query/simple", sim.url()))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}
