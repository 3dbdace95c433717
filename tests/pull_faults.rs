//! The standing fault suite for `pull` (issue #8): a TCP proxy between blockops and the
//! Cybereason simulator cuts, drops, delays, corrupts or stalls the answer to each request of a
//! pull in turn; the simulator expires the session at each request. After every run the
//! blocklist file is either byte-identical to before (the pull failed with exit ≠ 0 and a
//! clear error) or exactly the file a clean pull writes (a retry succeeded).
//!
//! Also here: truncated and corrupt bodies are named precisely and write nothing (#8 item 10,
//! item 13), and no failure mode prints the password or URL credentials (#8 item 2).
mod support;

use std::net::SocketAddr;
use std::process::Output;
use std::time::Duration;

use blockops::sim::cybereason::{Endpoint, Fault, FaultKind};
use blockops::sim::proxy::{self, At, ProxyConfig, ProxyFault, ProxyFaultKind, ProxyHandle};
use support::cyber::*;

/// The pulled file before every run: one entry the pull keeps (with its date and comment).
const BEFORE: &str = "# hand-formatted, must stay byte-identical on failure\nentries:\n- value: 203.0.113.9\n  sources: [reputation]\n  first_seen: 2026-01-05\n  comment: seen in INC-1\n";

/// Short timeouts so stalls cost little; two retries.
const FAST: &str = "  timeout: 1s\n";

fn proxy_to(sim_addr: SocketAddr, faults: Vec<ProxyFault>) -> ProxyHandle {
    proxy::spawn(ProxyConfig {
        faults,
        http: true,
        ..ProxyConfig::new(sim_addr)
    })
    .expect("proxy starts")
}

/// A repository whose client goes through a fresh proxy with `faults`.
fn env_through_proxy(fixture: &str, faults: Vec<ProxyFault>) -> (Env, ProxyHandle) {
    let s = sim(fixture, |_| {});
    let p = proxy_to(s.addr, faults);
    let url = p.url();
    let cfg = config(&url, FAST).replace("  timeout: 2s\n", "");
    let env = setup_url(s, &url, "", Some(BEFORE));
    std::fs::write(env.path().join("blockops.yaml"), cfg).unwrap();
    git(env.path(), &["commit", "-qam", "through the proxy"]);
    (env, p)
}

/// What a clean pull through the proxy writes, and the requests it makes.
fn reference() -> (String, Vec<String>) {
    let (env, p) = env_through_proxy(FIXTURE, vec![]);
    let out = env.run(&["pull", "--allow-large-change"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let log = p.request_log();
    assert!(
        log.len() >= 8,
        "a pull makes every kind of request: {log:?}"
    );
    (env.pulled(), log)
}

/// The invariant: failed and untouched, or succeeded with exactly the clean result.
fn assert_untouched_or_correct(label: &str, env: &Env, out: &Output, expected: &str) {
    match out.status.code() {
        Some(0) => assert_eq!(
            env.pulled(),
            expected,
            "{label}: succeeded with a different file\n{}",
            text(out)
        ),
        Some(1) => {
            assert_eq!(
                env.pulled(),
                BEFORE,
                "{label}: failed but touched the file\n{}",
                text(out)
            );
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(
                err.contains("nothing was written"),
                "{label}: the error must say nothing was written\n{}",
                text(out)
            );
        }
        other => panic!("{label}: exit {other:?}\n{}", text(out)),
    }
    assert_eq!(env.commits(), 2, "{label}: no commit without --commit");
}

/// Run `kind` once at each request, then from each request on.
fn matrix(kind: ProxyFaultKind) {
    let (expected, log) = reference();
    let mut failures = 0;
    for i in 0..log.len() as u64 {
        for at in [At::Request(i), At::FromRequest(i)] {
            let (env, p) = env_through_proxy(FIXTURE, vec![ProxyFault { at, kind }]);
            let out = env.run(&["pull", "--allow-large-change"]);
            let label = format!("{kind:?} at {at:?} ({})", log[i as usize]);
            assert!(p.faults_fired() >= 1, "{label}: the fault never fired");
            assert_untouched_or_correct(&label, &env, &out, &expected);
            failures += usize::from(out.status.code() == Some(1));
        }
    }
    // Positive control: a persistent fault must fail some pulls, or the suite proves nothing.
    assert!(failures > 0, "{kind:?}: no run failed");
}

#[test]
fn every_request_truncated_with_content_length() {
    matrix(ProxyFaultKind::Truncate {
        percent: 50,
        close_delimited: false,
    });
}

#[test]
fn every_request_truncated_at_88_percent_with_connection_close() {
    matrix(ProxyFaultKind::Truncate {
        percent: 88,
        close_delimited: true,
    });
}

#[test]
fn every_request_dropped() {
    matrix(ProxyFaultKind::Drop);
}

#[test]
fn every_request_corrupted() {
    matrix(ProxyFaultKind::Corrupt { percent: 60 });
}

#[test]
fn every_request_stalled() {
    matrix(ProxyFaultKind::Stall);
}

#[test]
fn every_request_delayed_within_the_timeout_succeeds() {
    let (expected, log) = reference();
    for i in 0..log.len() as u64 {
        let (env, p) = env_through_proxy(
            FIXTURE,
            vec![ProxyFault {
                at: At::Request(i),
                kind: ProxyFaultKind::Delay(Duration::from_millis(200)),
            }],
        );
        let out = env.run(&["pull", "--allow-large-change"]);
        assert_eq!(out.status.code(), Some(0), "delay at {i}: {}", text(&out));
        assert_eq!(p.faults_fired(), 1);
        assert_eq!(env.pulled(), expected);
    }
}

/// The session expires (simulator-side) at each request in turn: one re-login, same result.
#[test]
fn session_expiring_at_every_request_relogs_in_once() {
    let (expected, log) = reference();
    for i in 0..log.len() as u32 {
        let (env, _p) = env_through_proxy(FIXTURE, vec![]);
        env.sim.inject(
            Fault::new(Endpoint::Any, FaultKind::ExpireSession)
                .after(i)
                .times(1),
        );
        let out = env.run(&["pull", "--allow-large-change"]);
        assert_untouched_or_correct(&format!("expiry at {i}"), &env, &out, &expected);
        assert_eq!(out.status.code(), Some(0), "expiry at {i}: {}", text(&out));
        assert!(
            env.sim.logins() <= 2,
            "expiry at {i}: {} logins",
            env.sim.logins()
        );
    }
}

fn request_index(log: &[String], path: &str) -> u64 {
    log.iter()
        .position(|l| l.contains(path))
        .unwrap_or_else(|| panic!("{path} not requested: {log:?}")) as u64
}

fn failing_run(path_part: &str, kind: ProxyFaultKind) -> Output {
    let (_, log) = reference();
    let i = request_index(&log, path_part);
    let (env, p) = env_through_proxy(
        FIXTURE,
        vec![ProxyFault {
            at: At::FromRequest(i),
            kind,
        }],
    );
    let out = env.run(&["pull", "--commit", "--allow-large-change"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(p.faults_fired() >= 3, "every attempt was damaged");
    assert_eq!(env.pulled(), BEFORE, "nothing written");
    assert_eq!(env.commits(), 2, "nothing committed");
    out
}

/// Issue #8 item 10: a reputation CSV cut at 88 % with `Connection: close` is not a list.
#[test]
fn truncated_reputation_download_with_connection_close_is_refused() {
    let out = failing_run(
        "/rest/classification/download",
        ProxyFaultKind::Truncate {
            percent: 88,
            close_delimited: true,
        },
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(
            "/rest/classification/download: giving up after 3 attempts: reputation CSV line"
        ),
        "{err}"
    );
    assert!(err.contains("truncated or corrupt row"), "{err}");
}

#[test]
fn body_shorter_than_its_content_length_is_named() {
    let out = failing_run(
        "/rest/classification/download",
        ProxyFaultKind::Truncate {
            percent: 40,
            close_delimited: false,
        },
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("the connection broke after")
            || err.contains("shorter than its Content-Length"),
        "{err}"
    );
}

/// Issue #8 item 13: a truncated JSON body is named as such, not as a session problem.
#[test]
fn truncated_json_is_named_with_its_byte_not_as_a_rejected_session() {
    let out = failing_run(
        "/rest/mmng/v2/malops",
        ProxyFaultKind::Truncate {
            percent: 70,
            close_delimited: true,
        },
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("/rest/mmng/v2/malops: giving up after 3 attempts: truncated JSON: the body ends at byte"),
        "{err}"
    );
    assert!(!err.contains("login"), "{err}");
}

#[test]
fn corrupt_json_names_the_byte() {
    let out = failing_run(
        "/rest/visualsearch/query/simple",
        ProxyFaultKind::Corrupt { percent: 50 },
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(
            "/rest/visualsearch/query/simple: giving up after 3 attempts: invalid JSON at byte"
        ),
        "{err}"
    );
}

/// The fixed-delay mode of `blockops sim proxy`: a pull through it works, and a round trip
/// takes at least twice the one-way delay.
#[test]
fn sim_proxy_subcommand_adds_a_fixed_delay_each_way() {
    let s = sim(FIXTURE, |_| {});
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_blockops"))
        .args(["sim", "proxy", "--listen", "127.0.0.1:0", "--upstream"])
        .arg(s.addr.to_string())
        .args(["--delay", "25ms"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("proxy starts");
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().expect("stdout")),
        &mut line,
    )
    .expect("first line");
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("{line}"))
        .to_string();
    let url = format!("http://{addr}");
    // One request/response round trip crosses the proxy twice.
    let start = std::time::Instant::now();
    let mut conn = std::net::TcpStream::connect(&addr).expect("connect");
    std::io::Write::write_all(
        &mut conn,
        b"GET /login.html HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    let mut reply = String::new();
    std::io::Read::read_to_string(&mut conn, &mut reply).unwrap();
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    assert!(
        start.elapsed() >= Duration::from_millis(50),
        "{:?}",
        start.elapsed()
    );
    let env = setup_url(s, &url, "", None);
    let out = env.run(&["pull"]);
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(entry(&env.pulled(), "203.0.113.77").is_some());
}

// ---- #8 item 2: no failure mode prints the password or URL credentials ----

fn assert_no_secret(label: &str, out: &Output) {
    let all = text(out);
    assert!(!all.contains(PASSWORD), "{label}: password printed\n{all}");
    assert!(
        !all.contains("Url-Pw-91"),
        "{label}: URL password printed\n{all}"
    );
    assert!(!all.contains("urluser"), "{label}: URL user printed\n{all}");
}

/// Each failure mode, first with a plain URL (positive control: the failure is reached and
/// named), then with `user:password@` in the URL (refused up front, without echo).
#[test]
fn no_failure_mode_prints_the_password_or_url_credentials() {
    let (_held, refused_port) = support::refusing_port();
    type Case = (&'static str, Box<dyn Fn(&Env)>, &'static str, &'static str);
    let cases: Vec<Case> = vec![
        (
            "login rejected",
            Box::new(|_| {}),
            "wrong",
            "user name or password rejected",
        ),
        (
            "5xx",
            Box::new(|e: &Env| {
                e.sim
                    .inject(Fault::new(Endpoint::VisualSearch, FaultKind::Status(503)))
            }),
            "",
            "HTTP 503",
        ),
        (
            "timeout",
            Box::new(|e: &Env| {
                e.sim.inject(Fault::new(
                    Endpoint::ClassificationDownload,
                    FaultKind::Slow(Duration::from_secs(3)),
                ))
            }),
            "",
            "timed out",
        ),
        ("tls", Box::new(|_| {}), "tls", "certificate"),
        (
            "connection refused",
            Box::new(|_| {}),
            "refused",
            "connection failed",
        ),
    ];
    for (label, prepare, variant, want) in cases {
        let s = sim(FIXTURE, |c| {
            if variant == "wrong" {
                c.password = "not-the-password".into();
            }
            c.tls = variant == "tls";
        });
        let base = match variant {
            "refused" => format!("http://127.0.0.1:{refused_port}"),
            _ => s.url(),
        };
        let env = setup_url(s, &base, "", None);
        prepare(&env);
        for args in [&["-vv", "pull"][..], &["pull", "--format", "json"][..]] {
            let out = env.run(args);
            assert_eq!(out.status.code(), Some(1), "{label}: {}", text(&out));
            assert!(
                text(&out).to_lowercase().contains(&want.to_lowercase()),
                "{label}: expected `{want}`\n{}",
                text(&out)
            );
            assert_no_secret(label, &out);
        }
        // The same with credentials in the URL.
        let with_creds = base.replacen("://", "://urluser:Url-Pw-91@", 1);
        std::fs::write(env.path().join("blockops.yaml"), config(&with_creds, "")).unwrap();
        for args in [&["-vv", "pull"][..], &["pull", "--format", "json"][..]] {
            let out = env.run(args);
            assert_ne!(
                out.status.code(),
                Some(0),
                "{label} with credentials: {}",
                text(&out)
            );
            assert!(
                text(&out).contains("credentials"),
                "{label}: {}",
                text(&out)
            );
            assert_no_secret(&format!("{label} with credentials"), &out);
        }
        assert_eq!(env.pulled(), EMPTY_PULLED, "nothing written");
    }
}
