//! Login like the real server: the success chain, rejected passwords per switch, two-factor,
//! expired passwords, the 302-to-login of `/rest` without a session, idle expiry on the
//! simulator's clock, and a TLS session cookie.
use std::time::Duration;

use blockops::sim::cybereason::{DEFAULT_PASSWORD, DEFAULT_USER, FailedLogin, Quirks};

use super::{Session, curl, following, no_redirects, quirky, sim_with};

const CSV: &str = "/rest/classification/download";

fn location(r: &reqwest::Response) -> String {
    r.headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

async fn post_login(http: &reqwest::Client, base: &str, password: &str) -> reqwest::Response {
    http.post(format!("{base}/login.html"))
        .form(&[("username", DEFAULT_USER), ("password", password)])
        .send()
        .await
        .expect("login request")
}

#[test]
fn curl_login_cookie_jar_csv_download_update_and_logout() {
    let sim = sim_with(None, |_| {});
    let dir = tempfile::tempdir().unwrap();
    let jar = dir.path().join("jar.txt");
    let jar = jar.to_str().unwrap();
    let u = sim.url();

    let page = curl(&[&format!("{u}/login.html")]);
    assert!(page.contains("<title>Cybereason | Login</title>"), "{page}");

    // Without a session: 302 to the login page with a fresh anonymous JSESSIONID.
    let head = curl(&["-i", &format!("{u}{CSV}")]);
    assert!(head.starts_with("HTTP/1.1 302"), "{head}");
    let lower = head.to_lowercase();
    assert!(lower.contains("location: /login.html\r\n"), "{head}");
    assert!(lower.contains("set-cookie: jsessionid="), "{head}");
    assert!(lower.contains("content-type: text/plain"), "{head}");

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

    // Good login: 32 upper-hex JSESSIONID, HttpOnly, no Secure over plain HTTP, 8 h.
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
        cookie_line.contains("HttpOnly")
            && cookie_line.contains("Max-Age=28800")
            && !cookie_line.contains("Secure"),
        "{cookie_line}"
    );
    assert!(ok.to_lowercase().contains("location: /#/current?"), "{ok}");
    assert!(ok.contains("rememberMe=deleteMe"), "{ok}");

    let csv = curl(&["-b", jar, &format!("{u}{CSV}")]);
    assert!(
        csv.starts_with("key,reputation,prevent execution,comment,remove\n"),
        "{csv}"
    );
    assert!(
        csv.contains("203.0.113.9,blacklist,false,c2 from threat feed,false"),
        "{csv}"
    );

    // classification/update mutates what download returns (booleans as strings, like tobor88).
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
    assert_eq!(upd, r#"{"data":"true","outcome":"success"}"#);
    let csv = curl(&["-b", jar, &format!("{u}{CSV}")]);
    assert!(
        csv.contains("198.51.100.66,blacklist,false,added by curl,false"),
        "{csv}"
    );
    assert!(csv.contains("new.bad.example,blacklist"), "{csv}");
    assert!(!csv.contains("203.0.113.9,"), "{csv}");

    // Logout invalidates the session.
    curl(&["-b", jar, &format!("{u}/logout")]);
    let after = curl(&["-i", "-b", jar, &format!("{u}{CSV}")]);
    assert!(after.starts_with("HTTP/1.1 302"), "{after}");
}

#[tokio::test]
async fn login_success_chain_with_extra_hops_ends_at_the_console() {
    let sim = quirky(Quirks {
        login_redirect_hops: 2,
        ..Quirks::default()
    });
    let http = no_redirects();
    let base = sim.url();
    let r = post_login(&http, &base, DEFAULT_PASSWORD).await;
    assert_eq!(
        (r.status().as_u16(), location(&r).as_str()),
        (302, "/login-redirect/2")
    );
    assert!(
        r.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .starts_with("JSESSIONID=")
    );
    let mut hops = vec![location(&r)];
    loop {
        let r = http
            .get(format!("{base}{}", hops.last().unwrap()))
            .send()
            .await
            .unwrap();
        if r.status() != 302 {
            break;
        }
        hops.push(location(&r));
    }
    assert_eq!(
        hops,
        ["/login-redirect/2", "/login-redirect/1", "/#/current?"]
    );
    // A client that follows redirects ends at the console (no login form), logged in.
    let f = following();
    let r = post_login(&f, &base, DEFAULT_PASSWORD).await;
    assert_eq!(r.url().path(), "/");
    let page = r.text().await.unwrap();
    assert!(
        page.contains("<title>Cybereason</title>") && !page.contains("Login"),
        "{page}"
    );
    let csv = f.get(format!("{base}{CSV}")).send().await.unwrap();
    assert!(csv.text().await.unwrap().starts_with("key,reputation"));
    assert_eq!(sim.logins(), 2);
}

#[tokio::test]
async fn rejected_password_per_failed_login_switch() {
    for form in [FailedLogin::RedirectError, FailedLogin::Html200] {
        let sim = quirky(Quirks {
            failed_login: form,
            ..Quirks::default()
        });
        let base = sim.url();
        let raw = post_login(&no_redirects(), &base, "Wr0ng").await;
        let f = following();
        let r = post_login(&f, &base, "Wr0ng").await;
        let url = r.url().to_string();
        let status = r.status().as_u16();
        let page = r.text().await.unwrap();
        match form {
            FailedLogin::RedirectError => {
                assert_eq!(
                    (raw.status().as_u16(), location(&raw).as_str()),
                    (302, "/login.html?error")
                );
                assert!(url.contains("error"), "{url}");
            }
            FailedLogin::Html200 => {
                assert_eq!((raw.status().as_u16(), location(&raw).as_str()), (200, ""));
                assert!(!url.contains("error"), "{url}");
            }
        }
        assert_eq!(status, 200);
        assert!(page.contains("Cybereason | Login"), "{form:?}: {page}");
        // No session came of it.
        let rest = no_redirects()
            .get(format!("{base}{CSV}"))
            .send()
            .await
            .unwrap();
        assert_eq!(rest.status(), 302);
        let rest = f.get(format!("{base}{CSV}")).send().await.unwrap();
        assert!(rest.text().await.unwrap().contains("Cybereason | Login"));
        assert_eq!((sim.logins(), sim.failed_logins()), (0, 2), "{form:?}");
    }
}

#[tokio::test]
async fn two_factor_login_needs_the_code_posted_to_the_root() {
    let sim = quirky(Quirks {
        two_factor: true,
        ..Quirks::default()
    });
    let base = sim.url();
    let f = following();
    let r = post_login(&f, &base, DEFAULT_PASSWORD).await;
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("Two factor authentication")
    );
    // The half-done session grants nothing.
    let rest = no_redirects()
        .get(format!("{base}{CSV}"))
        .send()
        .await
        .unwrap();
    assert_eq!(rest.status(), 302);
    let pending = f.get(format!("{base}{CSV}")).send().await.unwrap();
    assert!(!pending.text().await.unwrap().starts_with("key,"));
    // A wrong code ends at an error URL and costs the pending session.
    let r = f
        .post(format!("{base}/"))
        .form(&[("totpCode", "000000"), ("submit", "Login")])
        .send()
        .await
        .unwrap();
    assert!(r.url().as_str().contains("error"), "{}", r.url());
    assert_eq!(sim.failed_logins(), 1);
    let r = f
        .post(format!("{base}/"))
        .form(&[("totpCode", "123456"), ("submit", "Login")])
        .send()
        .await
        .unwrap();
    assert!(
        r.url().as_str().contains("error"),
        "the code needs a fresh password step"
    );
    // Password, then the right code: logged in.
    post_login(&f, &base, DEFAULT_PASSWORD).await;
    let r = f
        .post(format!("{base}/"))
        .form(&[("totpCode", "123456"), ("submit", "Login")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.url().path(), "/");
    let csv = f.get(format!("{base}{CSV}")).send().await.unwrap();
    assert!(csv.text().await.unwrap().starts_with("key,reputation"));
    assert_eq!((sim.logins(), sim.failed_logins()), (1, 2));
}

#[tokio::test]
async fn expired_password_redirects_to_reset_and_grants_nothing() {
    let sim = quirky(Quirks {
        expired_password: true,
        ..Quirks::default()
    });
    let base = sim.url();
    let f = following();
    let r = post_login(&f, &base, DEFAULT_PASSWORD).await;
    assert!(r.url().as_str().contains("reset"), "{}", r.url());
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("Your password has expired")
    );
    let rest = no_redirects()
        .get(format!("{base}{CSV}"))
        .send()
        .await
        .unwrap();
    assert_eq!(rest.status(), 302);
    // A wrong password is still "error", not "reset".
    let r = post_login(&f, &base, "Wr0ng").await;
    assert!(r.url().as_str().contains("error"), "{}", r.url());
}

#[tokio::test]
async fn session_expires_after_idle_ttl_on_the_simulator_clock() {
    let sim = sim_with(None, |c| c.session_ttl = Duration::from_secs(3600));
    let s = Session::login(&sim).await;
    assert_eq!(s.get(CSV).await.0, 200);
    // Each use refreshes the idle timer: two 59-minute pauses are fine.
    for _ in 0..2 {
        sim.advance_clock(Duration::from_secs(59 * 60));
        assert_eq!(s.get(CSV).await.0, 200);
    }
    sim.advance_clock(Duration::from_secs(3601));
    let r = s.http.get(format!("{}{CSV}", s.base)).send().await.unwrap();
    assert_eq!(
        (r.status().as_u16(), location(&r).as_str()),
        (302, "/login.html")
    );
    assert!(
        r.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .starts_with("JSESSIONID=")
    );
    // The anonymous cookie the 302 handed out grants nothing either.
    assert_eq!(s.get(CSV).await.0, 302);
}

#[test]
fn tls_serves_https_with_a_secure_session_cookie() {
    let sim = sim_with(None, |c| c.tls = true);
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, sim.cert_pem.as_deref().expect("a certificate")).unwrap();
    let u = sim.url();
    assert!(u.starts_with("https://127.0.0.1:"), "{u}");
    let ok = curl(&[
        "-i",
        "--cacert",
        ca.to_str().unwrap(),
        "-d",
        "username=api%40blockops.example&password=blockops-sim",
        &format!("{u}/login.html"),
    ]);
    let cookie = ok
        .lines()
        .find(|l| l.to_lowercase().starts_with("set-cookie: jsessionid="))
        .unwrap_or_default();
    assert!(cookie.contains("; Secure"), "{ok}");
    // Without the CA the handshake fails.
    let out = std::process::Command::new("curl")
        .args(["-s", "--max-time", "10", &format!("{u}/login.html")])
        .output()
        .unwrap();
    assert!(!out.status.success());
}
