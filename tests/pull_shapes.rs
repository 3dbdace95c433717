//! `pull` against the simulator playing what real Cybereason tenants do (issue #9 points
//! 7–10): answers in every real shape, domains in every form, MalOp statuses and EPP MalOps,
//! and the login variants and throttling of real servers. The simulator writes its answers
//! independently of the client (`src/sim/cybereason/`), so these tests prove something the
//! client did not assume.
mod support;

use blockops::sim::cybereason::{
    DomainForm, Endpoint, FailedLogin, Fault, FaultKind, NullForm, Quirks,
};
use serde_json::Value;
use support::cyber::*;

fn quirky(q: Quirks) -> Env {
    setup_with(sim(FIXTURE, |c| c.quirks = q), "", None)
}

fn pull_ok(env: &Env, args: &[&str]) -> std::process::Output {
    let out = env.run(args);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    out
}

/// Issue #9 point 7: each real-shape quirk, and all of them at once, give the same file as
/// the plain answers — nothing discarded, nothing misread.
#[test]
fn every_real_shape_gives_the_same_file() {
    let plain = setup(FIXTURE);
    pull_ok(&plain, &["pull"]);
    let expected = plain.pulled();
    assert!(entry(&expected, "203.0.113.9").is_some(), "{expected}");
    let all = Quirks {
        string_booleans: true,
        element_values_null: NullForm::NullString,
        none_strings: true,
        numbers_as_strings: true,
        empty_values: true,
        nul_padding: true,
        ..Quirks::default()
    };
    let variants: Vec<(&str, Quirks)> = vec![
        (
            "string booleans",
            Quirks {
                string_booleans: true,
                ..Quirks::default()
            },
        ),
        (
            "elementValues null",
            Quirks {
                element_values_null: NullForm::Null,
                ..Quirks::default()
            },
        ),
        (
            "elementValues \"null\"",
            Quirks {
                element_values_null: NullForm::NullString,
                ..Quirks::default()
            },
        ),
        (
            "None strings",
            Quirks {
                none_strings: true,
                ..Quirks::default()
            },
        ),
        (
            "numbers as strings",
            Quirks {
                numbers_as_strings: true,
                ..Quirks::default()
            },
        ),
        (
            "empty values",
            Quirks {
                empty_values: true,
                ..Quirks::default()
            },
        ),
        (
            "NUL padding",
            Quirks {
                nul_padding: true,
                ..Quirks::default()
            },
        ),
        ("all at once", all),
    ];
    for (label, q) in variants {
        let env = quirky(q);
        let out = env.run(&["pull"]);
        assert_eq!(out.status.code(), Some(0), "{label}: {}", text(&out));
        assert_eq!(env.pulled(), expected, "{label}");
    }
}

/// Connections whose domains only the connection itself names (no reputation or DomainName
/// source lists them).
const CONNECTION_DOMAINS: &str = r#"
connections:
  - {remote: 203.0.113.31, domain: beacon.evil.example, time: -1d, classification: malware}
  - {remote: 203.0.113.32, domain: exfil.evil.example, time: -2d, classification: blacklist}
"#;

const CONNECTIONS_ONLY: &str = "sources:\n  reputation: false\n  domains: false\n  malops: false\n";

/// Issue #9 point 8: the domain of a malicious connection is read in every form.
#[test]
fn connection_domains_in_every_form() {
    for form in [
        DomainForm::SimpleValue,
        DomainForm::DomainNameElement,
        DomainForm::DnsQueryElement,
        DomainForm::UrlDomainsElement,
        DomainForm::All,
    ] {
        let s = sim(CONNECTION_DOMAINS, |c| c.quirks.domain_form = form);
        let env = setup_with(s, CONNECTIONS_ONLY, None);
        let out = pull_ok(&env, &["pull", "--format", "json"]);
        let f = env.pulled();
        for d in ["beacon.evil.example", "exfil.evil.example"] {
            assert!(
                entry(&f, d).is_some_and(|e| e.contains("sources: [connection]")),
                "{form:?}: {d} missing\n{f}"
            );
        }
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["warnings"], serde_json::json!([]), "{form:?}");
        assert_eq!(v["stats"]["connection_domains"], 2, "{form:?}: {v}");
    }
}

/// Issue #9 point 8: connections found but none named a domain is a warning, in the log and
/// in the JSON summary.
#[test]
fn connections_without_any_domain_are_warned_about() {
    let s = sim(
        "connections:\n  - {remote: 203.0.113.31, time: -1d, classification: malware}\n",
        |_| {},
    );
    let env = setup_with(s, CONNECTIONS_ONLY, None);
    let out = pull_ok(&env, &["pull", "--format", "json"]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let w = v["warnings"][0].as_str().unwrap_or_default();
    assert!(
        w.contains("1 malicious connections in the window, but none named a domain"),
        "{v}"
    );
    let out = pull_ok(&env, &["-v", "pull"]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("none named a domain"),
        "{}",
        text(&out)
    );
}

/// MalOps in every status, each with a connection only it reaches (no classification, so the
/// connections source does not list them).
const MALOPS: &str = r#"
malops:
  - {guid: "11.-100", created: -3d, management_status: OPEN}
  - {guid: "11.-101", created: -3d, management_status: UNREAD}
  - {guid: "11.-102", created: -3d, management_status: CLOSED}
  - {guid: "11.-103", created: -3d, management_status: FP}
  - {guid: "11.-104", created: -3d, management_status: RESOLVED}
  - {guid: "11.-105", created: -3d, status: Active, closed: true}
  - {guid: "11.-106", created: -3d, status: Excluded}
  - {guid: EPP0001, created: -2d, edr: false, engines: [EDR], management_status: TODO}
  - {guid: EPP0002, created: -2d, edr: false, management_status: FP}
connections:
  - {remote: 203.0.113.100, time: -1d, malops: ["11.-100"]}
  - {remote: 203.0.113.101, time: -1d, malops: ["11.-101"]}
  - {remote: 203.0.113.102, time: -1d, malops: ["11.-102"]}
  - {remote: 203.0.113.103, time: -1d, malops: ["11.-103"]}
  - {remote: 203.0.113.104, time: -1d, malops: ["11.-104"]}
  - {remote: 203.0.113.105, time: -1d, malops: ["11.-105"]}
  - {remote: 203.0.113.106, time: -1d, malops: ["11.-106"]}
  - {remote: 203.0.113.107, domain: epp.evil.example, time: -1d, malops: [EPP0001]}
  - {remote: 203.0.113.108, time: -1d, malops: [EPP0002]}
"#;

fn malop_values(f: &str) -> Vec<String> {
    (100..=108)
        .map(|i| format!("203.0.113.{i}"))
        .filter(|v| entry(f, v).is_some())
        .collect()
}

/// Issue #9 point 9: only MalOps still open count; closed, remediated, excluded and
/// "Not Relevant" ones are left out with their reason, and so (by default) are EPP MalOps.
/// (`status: Active` with `closed: true` — a real inbox sample — is closed by its inbox flag;
/// mmng/v2 has no such flag and the simulator derives `Active`/`Pending` for it.)
#[test]
fn only_open_malops_count() {
    for (label, fault) in [("mmng/v2", None), ("detection/inbox", Some(404))] {
        let inbox = fault.is_some();
        let env = setup_with(sim(MALOPS, |_| {}), "", None);
        if let Some(code) = fault {
            env.sim
                .inject(Fault::new(Endpoint::Malops, FaultKind::Status(code)));
        }
        let out = pull_ok(&env, &["pull", "--format", "json"]);
        let f = env.pulled();
        let mut want = vec!["203.0.113.100", "203.0.113.101"];
        if !inbox {
            want.push("203.0.113.105");
        }
        assert_eq!(malop_values(&f), want, "{label}\n{f}");
        assert!(
            entry(&f, "203.0.113.100")
                .unwrap()
                .contains("malops: [\"11.-100\"]"),
            "{f}"
        );
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        let skipped: Vec<(String, String)> = v["skipped_malops"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s["guid"].as_str().unwrap().to_string(),
                    s["reason"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        let guids: Vec<&str> = skipped.iter().map(|(g, _)| g.as_str()).collect();
        let mut gone = vec![
            "11.-102", "11.-103", "11.-104", "11.-106", "EPP0001", "EPP0002",
        ];
        if inbox {
            gone.push("11.-105");
        }
        for g in &gone {
            assert!(guids.contains(g), "{label}: {g} not listed: {skipped:?}");
        }
        assert_eq!(guids.len(), gone.len(), "{label}: {skipped:?}");
        let reason = |g: &str| skipped.iter().find(|(x, _)| x == g).unwrap().1.clone();
        assert!(reason("EPP0001").starts_with("not EDR"), "{skipped:?}");
        if inbox {
            assert_eq!(reason("11.-105"), "closed=true", "{skipped:?}");
        }
        assert_eq!(v["stats"]["malops"], want.len(), "{label}: {v}");
        assert_eq!(v["stats"]["malops_skipped"], gone.len() - 1, "{label}: {v}");
        assert_eq!(v["stats"]["malops_epp_skipped"], 1, "{label}: {v}");
    }
}

/// The skip list is configuration; the analyst's status from crimes/unified (EDR) and from
/// the MalOp metadata (EPP) is honoured; EPP MalOps can be read through their detection
/// details.
#[test]
fn malop_statuses_and_epp_details_are_configurable() {
    let env = setup_with(
        sim(MALOPS, |_| {}),
        "  malop_skip_statuses: [FP]\n  epp_malops: details\n",
        None,
    );
    let out = pull_ok(&env, &["pull", "--format", "json"]);
    let f = env.pulled();
    // Closed, resolved and remediated ones count again; "Not Relevant" (FP) ones do not,
    // although their mmng/v2 `status` says only `Closed`: the analyst status says FP.
    assert_eq!(
        malop_values(&f),
        [
            "203.0.113.100",
            "203.0.113.101",
            "203.0.113.102",
            "203.0.113.104",
            "203.0.113.105",
            "203.0.113.107"
        ],
        "{f}"
    );
    let epp = entry(&f, "203.0.113.107").unwrap();
    assert!(epp.contains("malops: [\"EPP0001\"]"), "{epp}");
    assert!(entry(&f, "epp.evil.example").is_some(), "{f}");
    assert_eq!(env.sim.count(Endpoint::DetectionDetails), 1);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let reasons: Vec<String> = v["skipped_malops"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            format!(
                "{} {}",
                s["guid"].as_str().unwrap(),
                s["reason"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        reasons,
        [
            "11.-103 managementStatus=FP",
            "11.-106 managementStatus=FP",
            "EPP0002 metadata status=FP"
        ],
        "{v}"
    );
}

/// An analyst clears a MalOp ("Not Relevant"): the next pull retires what only it reported.
#[test]
fn a_malop_marked_not_relevant_is_retired_on_the_next_pull() {
    let env = setup_with(sim(MALOPS, |_| {}), "", None);
    pull_ok(&env, &["pull"]);
    assert!(entry(&env.pulled(), "203.0.113.100").is_some());
    env.sim.set_malop_status("11.-100", "FP").unwrap();
    let out = pull_ok(&env, &["pull", "--allow-large-change"]);
    assert!(
        entry(&env.pulled(), "203.0.113.100").is_none(),
        "{}",
        env.pulled()
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("- 203.0.113.100"),
        "{}",
        text(&out)
    );
}

fn failing(env: &Env, want: &str) {
    let out = env.run(&["pull", "--commit"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(want) && err.contains("nothing was written"),
        "want `{want}`\n{}",
        text(&out)
    );
    assert!(!text(&out).contains(PASSWORD), "{}", text(&out));
    assert_eq!(env.pulled(), EMPTY_PULLED, "nothing written");
    assert_eq!(env.commits(), 1);
}

/// Issue #9 point 10: login like the public clients.
#[test]
fn login_variants_of_real_servers() {
    // Redirect chains are followed to the end.
    let env = quirky(Quirks {
        login_redirect_hops: 3,
        ..Quirks::default()
    });
    pull_ok(&env, &["pull"]);
    assert!(entry(&env.pulled(), "203.0.113.9").is_some());

    // A rejected password, answered either way.
    for how in [FailedLogin::RedirectError, FailedLogin::Html200] {
        let s = sim(FIXTURE, |c| {
            c.password = "something-else".into();
            c.quirks.failed_login = how;
        });
        let env = setup_with(s, "", None);
        failing(&env, "failed: user name or password rejected");
        assert!(env.sim.failed_logins() >= 1, "{how:?}");
    }
    failing(
        &quirky(Quirks {
            two_factor: true,
            ..Quirks::default()
        }),
        "two-factor authentication is not supported: use an API user without TFA",
    );
    failing(
        &quirky(Quirks {
            expired_password: true,
            ..Quirks::default()
        }),
        "the password has expired",
    );
}

/// Issue #9 point 10: 429 with `Retry-After` is honoured up to `retry_after_max`.
#[test]
fn retry_after_is_honoured_within_its_bound() {
    let env = quirky(Quirks {
        retry_after: Some(1),
        ..Quirks::default()
    });
    env.sim
        .inject(Fault::new(Endpoint::VisualSearch, FaultKind::Status(429)).times(1));
    let out = pull_ok(&env, &["-v", "pull"]);
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("the server asks to retry after 1s (Retry-After)"),
        "{}",
        text(&out)
    );
    assert!(entry(&env.pulled(), "203.0.113.77").is_some());

    let env = setup_with(
        sim(FIXTURE, |c| c.quirks.retry_after = Some(600)),
        "  retry_after_max: 30s\n",
        None,
    );
    env.sim
        .inject(Fault::new(Endpoint::VisualSearch, FaultKind::Status(429)).times(1));
    failing(
        &env,
        "HTTP 429: the server asks to retry after 600 s, more than cybereason.retry_after_max (30 s)",
    );
}

/// Issue #8 items 10 and 13 with the simulator's own faults: a reputation CSV cut at 88 % with
/// `Connection: close`, a body shorter than its `Content-Length`, and corrupt JSON.
#[test]
fn simulator_truncation_and_corruption_are_named() {
    let cases = [
        (
            Endpoint::ClassificationDownload,
            FaultKind::Truncate {
                percent: 88,
                close: true,
            },
            "reputation CSV line",
        ),
        (
            Endpoint::ClassificationDownload,
            FaultKind::Truncate {
                percent: 50,
                close: false,
            },
            "bytes of the body",
        ),
        (
            Endpoint::VisualSearch,
            FaultKind::CorruptJson,
            "invalid JSON at byte",
        ),
        (
            Endpoint::Malops,
            FaultKind::Truncate {
                percent: 60,
                close: true,
            },
            "truncated JSON: the body ends at byte",
        ),
    ];
    for (ep, kind, want) in cases {
        let env = setup(FIXTURE);
        env.sim.inject(Fault::new(ep, kind.clone()));
        failing(&env, want);
        // Within the retry budget the same fault is survived with the complete answer.
        let env = setup(FIXTURE);
        env.sim.inject(Fault::new(ep, kind.clone()).times(1));
        pull_ok(&env, &["pull"]);
        assert!(entry(&env.pulled(), "203.0.113.9").is_some(), "{kind:?}");
    }
}
