//! The Cybereason simulator driven by clients we did not write — reqwest as a plain HTTP
//! client, `curl`, raw TCP — over real sockets on 127.0.0.1, asserting on the raw JSON text.
//! Nothing here uses blockops' Cybereason client: the simulator is a witness of the real
//! server and is tested on its own (one test per quirk switch; login, faults and MalOps in
//! the modules below).
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use blockops::sim::cybereason::{
    CybereasonSim, DEFAULT_PASSWORD, DEFAULT_USER, DomainForm, Fixture, NullForm, Quirks,
    SimConfig, SimHandle,
};
use serde_json::{Value, json};

#[path = "cybereason_sim/login.rs"]
mod login;
#[path = "cybereason_sim/malops.rs"]
mod malops;
#[path = "cybereason_sim/transport.rs"]
mod transport;

pub fn sim_with(fixture: Option<&str>, f: impl FnOnce(&mut SimConfig)) -> SimHandle {
    let mut cfg = SimConfig::default();
    if let Some(text) = fixture {
        cfg.fixture = Fixture::parse(text).expect("fixture");
    }
    f(&mut cfg);
    CybereasonSim::spawn(cfg).expect("simulator starts")
}

/// The shipped fixture with these quirks.
pub fn quirky(q: Quirks) -> SimHandle {
    sim_with(None, |c| c.quirks = q)
}

pub fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

pub fn following() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .expect("client")
}

/// A logged-in plain HTTP client.
pub struct Session {
    pub http: reqwest::Client,
    pub base: String,
}

impl Session {
    pub async fn login(sim: &SimHandle) -> Session {
        let http = no_redirects();
        let r = http
            .post(format!("{}/login.html", sim.url()))
            .form(&[("username", DEFAULT_USER), ("password", DEFAULT_PASSWORD)])
            .send()
            .await
            .expect("login");
        assert_eq!(r.status(), 302, "login");
        Session {
            http,
            base: sim.url(),
        }
    }

    pub async fn post(&self, path: &str, body: &Value) -> (u16, String) {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .json(body)
            .send()
            .await
            .expect("request");
        let st = r.status().as_u16();
        (st, r.text().await.expect("body"))
    }

    pub async fn get(&self, path: &str) -> (u16, String) {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .expect("request");
        let st = r.status().as_u16();
        (st, r.text().await.expect("body"))
    }

    /// A visual search; the raw answer text.
    pub async fn search(&self, q: &Value) -> String {
        let (st, text) = self.post("/rest/visualsearch/query/simple", q).await;
        assert_eq!(st, 200, "{text}");
        text
    }
}

/// Connections to `remote`, asking for `fields`.
pub fn conn_query(remote: &str, fields: &[&str]) -> Value {
    json!({
        "queryPath": [{"requestedType": "Connection", "isResult": true,
            "filters": [{"facetName": "remoteAddress", "filterType": "Equals", "values": [remote]}]}],
        "totalResultLimit": 100, "perGroupLimit": 100, "perFeatureLimit": 100,
        "templateContext": "SPECIFIC", "customFields": fields
    })
}

/// The only row of an answer.
pub fn only_row(text: &str) -> Value {
    let v: Value = serde_json::from_str(text).expect("JSON answer");
    let map = v["data"]["resultIdToElementDataMap"]
        .as_object()
        .expect("rows");
    assert_eq!(map.len(), 1, "{text}");
    map.values().next().cloned().unwrap_or_default()
}

pub fn curl(args: &[&str]) -> String {
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

/// One HTTP/1.1 exchange over a raw socket, read until the server closes: (head, body).
pub fn raw(addr: SocketAddr, request: &str) -> (String, Vec<u8>) {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    s.write_all(request.as_bytes()).expect("write");
    let mut buf = Vec::new();
    s.read_to_end(&mut buf)
        .expect("the server closes the connection");
    let split = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a header block");
    (
        String::from_utf8_lossy(&buf[..split]).to_lowercase(),
        buf[split + 4..].to_vec(),
    )
}

/// Log in over a raw socket; the session id.
pub fn raw_login(addr: SocketAddr) -> String {
    let form = format!("username=api%40blockops.example&password={DEFAULT_PASSWORD}");
    let (head, _) = raw(
        addr,
        &format!(
            "POST /login.html HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{form}",
            form.len()
        ),
    );
    head.lines()
        .find_map(|l| l.strip_prefix("set-cookie: jsessionid="))
        .and_then(|v| v.split(';').next())
        .map(|v| v.to_uppercase())
        .expect("a session cookie")
}

// ---------------------------------------------------------------------------------------
// The simulator is a witness: it shares no types with the client.

/// Lines of `text` that name a module the simulator must not use.
fn forbidden_uses(text: &str, forbidden: &[String]) -> Vec<String> {
    text.lines()
        .filter(|l| {
            let code = l.split("//").next().unwrap_or("");
            forbidden.iter().any(|f| code.contains(f.as_str()))
        })
        .map(|l| l.trim().to_string())
        .collect()
}

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).expect("readable directory") {
        let p = e.expect("entry").path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn simulator_sources_never_import_client_types() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    // Built from pieces so that this file does not match itself.
    let client = |m: &str| vec![format!("crate{}{m}", "::"), format!("blockops{}{m}", "::")];
    let everywhere: Vec<String> = client("cybereason");
    let mut in_cybereason_sim = everywhere.clone();
    for m in ["fortios", "plan", "blocklist", "gitops"] {
        in_cybereason_sim.extend(client(m));
    }
    // Positive control: the check finds a violation when there is one.
    assert_eq!(
        forbidden_uses(
            &format!(
                "use {}::api::QueryRequest;\n// {} in a comment\n",
                everywhere[0], everywhere[0]
            ),
            &everywhere
        )
        .len(),
        1
    );
    let mut files = Vec::new();
    rust_files(&root.join("src/sim"), &mut files);
    files.push(root.join("tests/cybereason_sim.rs"));
    rust_files(&root.join("tests/cybereason_sim"), &mut files);
    assert!(files.len() >= 10, "{files:?}");
    let mut bad = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).expect("readable source");
        let forbidden = if f.starts_with(root.join("src/sim/fortigate")) {
            &everywhere
        } else {
            &in_cybereason_sim
        };
        for l in forbidden_uses(&text, forbidden) {
            bad.push(format!("{}: {l}", f.display()));
        }
    }
    assert!(
        bad.is_empty(),
        "simulator code uses client modules:\n{}",
        bad.join("\n")
    );
}

// ---------------------------------------------------------------------------------------
// Answer shapes and the quirk switches.

#[tokio::test]
async fn default_answer_has_the_real_shape_and_extra_fields() {
    let sim = sim_with(None, |_| {});
    let s = Session::login(&sim).await;
    // Only two fields asked for: the row still carries the template's own features.
    let text = s
        .search(&conn_query(
            "203.0.113.9",
            &["elementDisplayName", "remoteAddress"],
        ))
        .await;
    for want in [
        r#""isMalicious":true"#,
        r#""malicious":true"#,
        r#""suspect":true"#,
        r#""queryTerminated":false"#,
        r#""hidePartialSuccess":false"#,
        r#""labelsIds":null"#,
        r#""paginationToken":null"#,
        r#""failedServersInfo":{"#,
        r#""status":"SUCCESS""#,
        r#""connectingToBlackListAddressSuspicion""#,
        r#""ownerProcess":{"elementValues":[{"#,
        r#""ownerMachine":{"elementValues":[{"#,
        r#""endTime":{"totalValues":1,"values":[""#,
        r#""remoteAddress":{"elementValues":[{"elementType":"IpAddress","guid":"ip-203.0.113.9","hasMalops":true,"hasSuspicions":true,"name":"203.0.113.9"}]"#,
    ] {
        assert!(text.contains(want), "missing {want} in {text}");
    }
    let row = only_row(&text);
    assert_eq!(
        row["simpleValues"]["elementDisplayName"]["values"][0],
        "10.0.0.5:50394 > 203.0.113.9:443"
    );
    for (k, v) in row["simpleValues"].as_object().unwrap() {
        assert!(
            v["values"].as_array().unwrap().iter().all(Value::is_string),
            "{k}: {v}"
        );
    }
    assert!(
        !text.contains(r#""elementValues":null"#) && !text.contains(r#""elementValues":"null""#)
    );
    // Not requested and not a template feature: not sent.
    assert!(
        row["simpleValues"].get("transportProtocol").is_none(),
        "{row}"
    );
}

#[tokio::test]
async fn string_booleans_switch_writes_flags_as_text() {
    let sim = quirky(Quirks {
        string_booleans: true,
        ..Quirks::default()
    });
    let s = Session::login(&sim).await;
    let text = s
        .search(&conn_query("203.0.113.9", &["remoteAddress"]))
        .await;
    for want in [
        r#""isMalicious":"true""#,
        r#""suspect":"true""#,
        r#""malicious":"true""#,
        r#""hasSuspicions":"true""#,
        r#""hasMalops":"true""#,
        r#""queryTerminated":"false""#,
        r#""hidePartialSuccess":"false""#,
    ] {
        assert!(text.contains(want), "missing {want} in {text}");
    }
    assert!(
        !text.contains(":true") && !text.contains(":false"),
        "{text}"
    );
    // MalOp inbox items keep JSON booleans (XSOAR test data).
    let (_, inbox) = s
        .post(
            "/rest/detection/inbox",
            &json!({"startTime": 0, "endTime": 4_102_444_800_000_i64}),
        )
        .await;
    assert!(inbox.contains(r#""edr":true"#), "{inbox}");
}

#[tokio::test]
async fn element_values_null_switch_per_form() {
    for (form, want) in [
        (NullForm::List, r#""ownerMachine":{"elementValues":[{"#),
        (NullForm::Null, r#""ownerMachine":{"elementValues":null,"#),
        (
            NullForm::NullString,
            r#""ownerMachine":{"elementValues":"null","#,
        ),
    ] {
        let sim = quirky(Quirks {
            element_values_null: form,
            ..Quirks::default()
        });
        let s = Session::login(&sim).await;
        let text = s
            .search(&conn_query(
                "203.0.113.9",
                &["remoteAddress", "localAddress"],
            ))
            .await;
        assert!(text.contains(want), "{form:?}: {text}");
        let row = only_row(&text);
        assert_eq!(row["elementValues"]["ownerMachine"]["totalValues"], 1);
        // The feature that carries the indicator stays a list.
        assert_eq!(
            row["elementValues"]["remoteAddress"]["elementValues"][0]["name"], "203.0.113.9",
            "{form:?}"
        );
    }
}

#[tokio::test]
async fn none_strings_switch_writes_absent_values_as_text() {
    let crimes = json!({"queryPath": [{"requestedType": "MalopProcess", "result": true, "filters": null,
        "guidList": ["11.-4319097116418812958"]}], "totalResultLimit": 10000, "perGroupLimit": 10000,
        "perFeatureLimit": 100, "templateContext": "OVERVIEW"});
    let plain = sim_with(None, |_| {});
    let s = Session::login(&plain).await;
    let text = s.search(&conn_query("203.0.113.9", &[])).await;
    assert!(text.contains(r#""labelsIds":null"#), "{text}");
    let (_, c) = s.post("/rest/crimes/unified", &crimes).await;
    assert!(
        !c.contains("closeTime") && c.contains(r#""malopPriority":null"#),
        "{c}"
    );

    let sim = quirky(Quirks {
        none_strings: true,
        ..Quirks::default()
    });
    let s = Session::login(&sim).await;
    let text = s.search(&conn_query("203.0.113.9", &[])).await;
    for want in [
        r#""labelsIds":"null""#,
        r#""malopPriority":"null""#,
        r#""sortInGroupFeature":"null""#,
        r#""paginationToken":"null""#,
    ] {
        assert!(text.contains(want), "missing {want} in {text}");
    }
    let (_, c) = s.post("/rest/crimes/unified", &crimes).await;
    for want in [
        r#""closeTime":{"totalValues":1,"values":["None"]}"#,
        r#""closerName":{"totalValues":1,"values":["None"]}"#,
        r#""malopPriority":"None""#,
        r#""managementStatus":{"totalValues":1,"values":["OPEN"]}"#,
    ] {
        assert!(c.contains(want), "missing {want} in {c}");
    }
}

#[tokio::test]
async fn numbers_as_strings_switch_writes_counts_and_times_as_text() {
    let sim = quirky(Quirks {
        numbers_as_strings: true,
        ..Quirks::default()
    });
    let s = Session::login(&sim).await;
    let text = s
        .search(&conn_query("203.0.113.9", &["remoteAddress"]))
        .await;
    for want in [
        r#""totalValues":"1""#,
        r#""totalPossibleResults":"1""#,
        r#""expectedResults":"1""#,
        r#""totalResultLimit":"100""#,
        r#""suspicionCount":"1""#,
    ] {
        assert!(text.contains(want), "missing {want} in {text}");
    }
    let (_, m) = s
        .post(
            "/rest/mmng/v2/malops",
            &json!({"search": {}, "pagination": {"pageSize": 50, "offset": 0}}),
        )
        .await;
    let v: Value = serde_json::from_str(&m).unwrap();
    assert_eq!(v["data"]["totalHits"], "4", "{m}");
    assert!(v["data"]["data"][0]["creationTime"].is_string(), "{m}");
    // Without the switch they are numbers.
    let plain = sim_with(None, |_| {});
    let text = Session::login(&plain)
        .await
        .search(&conn_query("203.0.113.9", &["remoteAddress"]))
        .await;
    assert!(text.contains(r#""totalPossibleResults":1}"#), "{text}");
}

#[tokio::test]
async fn empty_values_switch_sends_empty_lists_that_claim_a_value() {
    let sim = quirky(Quirks {
        empty_values: true,
        ..Quirks::default()
    });
    let s = Session::login(&sim).await;
    let text = s
        .search(&conn_query("203.0.113.9", &["elementDisplayName"]))
        .await;
    for want in [
        r#""endTime":{"totalValues":1,"values":[]}"#,
        r#""calculatedCreationTime":{"totalValues":1,"values":[]}"#,
        r#""elementDisplayName":{"totalValues":1,"values":["10.0.0.5:50394 > 203.0.113.9:443"]}"#,
    ] {
        assert!(text.contains(want), "missing {want} in {text}");
    }
}

#[tokio::test]
async fn nul_padding_switch_ends_simple_values_with_nul() {
    let sim = quirky(Quirks {
        nul_padding: true,
        ..Quirks::default()
    });
    let s = Session::login(&sim).await;
    let text = s
        .search(&conn_query(
            "203.0.113.9",
            &["elementDisplayName", "remoteAddress"],
        ))
        .await;
    assert!(
        text.contains(r#""values":["10.0.0.5:50394 > 203.0.113.9:443\u0000"]"#),
        "{text}"
    );
    let row = only_row(&text);
    assert_eq!(
        row["simpleValues"]["elementDisplayName"]["values"][0],
        "10.0.0.5:50394 > 203.0.113.9:443\u{0}"
    );
    // Element names are not padded.
    assert!(text.contains(r#""name":"203.0.113.9""#), "{text}");
}

#[tokio::test]
async fn domain_form_switch_places_the_connection_domain() {
    let fields = ["remoteAddress", "domainName", "urlDomains", "dnsQuery"];
    for form in [
        DomainForm::SimpleValue,
        DomainForm::DomainNameElement,
        DomainForm::DnsQueryElement,
        DomainForm::UrlDomainsElement,
        DomainForm::All,
    ] {
        let sim = quirky(Quirks {
            domain_form: form,
            ..Quirks::default()
        });
        let s = Session::login(&sim).await;
        let row = only_row(&s.search(&conn_query("203.0.113.9", &fields)).await);
        let simple = row["simpleValues"]["domainName"]["values"][0].as_str();
        let element = |k: &str| row["elementValues"][k]["elementValues"][0].clone();
        let all = form == DomainForm::All;
        assert_eq!(
            simple.is_some(),
            all || form == DomainForm::SimpleValue,
            "{form:?}: {row}"
        );
        if let Some(d) = simple {
            assert_eq!(d, "c2.evil.example");
        }
        for (k, f, ty, name) in [
            (
                "domainName",
                DomainForm::DomainNameElement,
                "DomainName",
                "c2.evil.example",
            ),
            (
                "urlDomains",
                DomainForm::UrlDomainsElement,
                "DomainName",
                "c2.evil.example",
            ),
            (
                "dnsQuery",
                DomainForm::DnsQueryElement,
                "DnsQueryResolvedDomainToIp",
                "c2.evil.example > 203.0.113.9",
            ),
        ] {
            let e = element(k);
            if all || form == f {
                assert_eq!(
                    (e["elementType"].as_str(), e["name"].as_str()),
                    (Some(ty), Some(name)),
                    "{form:?} {k}: {row}"
                );
            } else {
                assert!(e.is_null(), "{form:?} {k}: {row}");
            }
        }
        // Filtering on the domain works whatever the form.
        let by_domain = json!({"queryPath": [{"requestedType": "Connection", "isResult": true,
            "filters": [{"facetName": "domainName", "values": ["C2.EVIL.EXAMPLE"]}]}], "customFields": ["remoteAddress"]});
        only_row(&s.search(&by_domain).await);
    }
}

#[tokio::test]
async fn lenient_requests_credentials_in_query_string_and_whole_set_cookie_headers() {
    let sim = sim_with(None, |_| {});
    let http = no_redirects();
    // Polarity-style: form content type, credentials in the query string, empty body.
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
    let set = r.headers()["set-cookie"].to_str().unwrap().to_string();
    // stix-shifter-style: the whole Set-Cookie string sent back as the Cookie header; the
    // result flag as text, filters absent on one element, no filterType, float times.
    let body = json!({"queryPath": [
        {"requestedType": "Machine"},
        {"requestedType": "Connection", "result": "TRUE",
         "filters": [{"facetName": "remoteAddressMaliciousClassificationType", "values": ["BLACKLIST"]},
                     {"facetName": "creationTime", "filterType": "GreaterThan", "values": [0.0]}]}],
        "totalResultLimit": 100.0});
    let plain = reqwest::Client::new();
    let r = plain
        .post(format!("{}/rest/visualsearch/query/simple", sim.url()))
        .header("cookie", set)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    let map = v["data"]["resultIdToElementDataMap"].as_object().unwrap();
    // Three blacklist connections in the default fixture (one of them 45 days old).
    assert_eq!(map.len(), 3, "{v}");
    for (k, el) in map {
        assert_eq!(el["guidString"], k.as_str());
    }
    // An unreadable body is a 400 naming the problem.
    let (st, text) = Session::login(&sim)
        .await
        .post(
            "/rest/visualsearch/query/simple",
            &json!({"queryPath": [{"requestedType": "Connection", "isResult": 2}]}),
        )
        .await;
    assert_eq!((st, text.contains("queryPath[0]")), (400, true), "{text}");
}

#[tokio::test]
async fn health_endpoint_reports_online_and_ready() {
    let sim = sim_with(None, |_| {});
    let path = "/rest/monitor/global/reg-server/status";
    let anon = no_redirects()
        .get(format!("{}{path}", sim.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(anon.status(), 302, "needs a session like every /rest path");
    let s = Session::login(&sim).await;
    let (st, text) = s.get(path).await;
    assert_eq!(
        (st, text.as_str()),
        (200, r#"{"online":true,"readyToServe":true}"#)
    );
    sim.set_health(true, false);
    assert_eq!(
        s.get(path).await.1,
        r#"{"online":true,"readyToServe":false}"#
    );
}

#[test]
fn sim_cli_prints_its_url_serves_the_fixture_and_plays_quirk_flags() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let fx = dir.path().join("fx.yaml");
    std::fs::write(
        &fx,
        "reputations:\n- {key: 198.51.100.99, comment: from file}\nconnections:\n\
         - {remote: 203.0.113.5, domain: cli.evil.example, classification: malware}\n",
    )
    .unwrap();
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("blockops"))
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
        .args(["--string-booleans", "--domain-form", "dns-query-element"])
        .args([
            "--failed-login",
            "html200",
            "--element-values-null",
            "null-string",
        ])
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
        // A wrong password is answered with the login page itself (--failed-login html200).
        let bad = curl(&[
            "-i",
            "-d",
            "username=u%40example.invalid&password=nope",
            &format!("{url}/login.html"),
        ]);
        assert!(
            bad.starts_with("HTTP/1.1 200") && bad.contains("Cybereason | Login"),
            "{bad}"
        );
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
        let q = conn_query("203.0.113.5", &["dnsQuery", "domainName"]).to_string();
        let text = curl(&[
            "-b",
            jar,
            "-H",
            "Content-Type: application/json",
            "-d",
            &q,
            &format!("{url}/rest/visualsearch/query/simple"),
        ]);
        assert!(text.contains(r#""isMalicious":"true""#), "{text}");
        assert!(
            text.contains(r#""name":"cli.evil.example > 203.0.113.5""#),
            "{text}"
        );
        assert!(!text.contains(r#""domainName""#), "{text}");
        assert!(
            text.contains(r#""ownerMachine":{"elementValues":"null""#),
            "{text}"
        );
    });
    let _ = child.kill();
    let _ = child.wait();
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
}
