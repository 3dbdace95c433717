//! blockops' Cybereason client against the simulator over real sockets on 127.0.0.1: login,
//! re-login after expiry, retries and their bounds, timeouts, query failures and window
//! splitting. (The simulator itself is tested with clients we did not write in
//! `tests/cybereason_sim.rs`; these tests moved here from there so that file stays free of
//! blockops' client.)
use std::time::Duration;

use blockops::cybereason::api::{Filter, QueryElement, QueryRequest};
use blockops::cybereason::{Client, ClientError, ClientSettings};
use blockops::secret::Secret;
use blockops::sim::cybereason::{
    CybereasonSim, Endpoint, Fault, FaultKind, Fixture, SimConfig, SimHandle,
};
use serde_json::json;

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

#[tokio::test]
async fn client_relogins_after_the_session_expired() {
    let sim = sim_with(
        "reputations:\n- {key: 203.0.113.5}\n- {key: bad.example, comment: \"x, y\"}\n",
        |c| c.session_ttl = Duration::from_secs(3600),
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
    // Past the idle TTL on the simulator's clock: no sleep that must be long enough.
    sim.advance_clock(Duration::from_secs(3601));
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
async fn client_pages_malops_newest_first() {
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
