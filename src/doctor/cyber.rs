//! Doctor's Cybereason checks: settings, DNS, TCP, TLS, login (each real failure mode named),
//! the health endpoint, and every enabled source with the query `pull` sends (one row where
//! the API allows it). Only reads: the login form, `GET` endpoints and queries — never
//! `classification/update` or `crimes/status`.
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use reqwest::Url;
use serde_json::json;

use super::{Status, Subject};
use crate::config::{Config, CybereasonConfig};
use crate::cybereason::api::{KeyShape, key_shape};
use crate::cybereason::collect::{CollectOptions, connections_query, domains_query};
use crate::cybereason::health::Reach;
use crate::cybereason::query::{connection_facts, domain_facts};
use crate::cybereason::{Client, ClientError, ClientSettings};
use crate::secret::Secret;

const AFTER_LOGIN: [&str; 5] = ["health", "reputation", "connections", "domains", "malops"];

pub(super) async fn run(
    cc: &CybereasonConfig,
    cfg: &Config,
    root: &Path,
    s: &mut Subject<'_>,
    secrets: &mut Vec<Secret>,
) {
    let settings = match ClientSettings::from_config(cc, root) {
        Ok(x) => x,
        Err(e) => {
            s.add("settings", Status::Fail, format!("{e:#}"))
                .fix("make cybereason.password resolvable (environment variable or file)");
            s.skip_all(
                &["dns", "tcp", "tls", "login"],
                "the settings are incomplete",
            );
            s.skip_all(&AFTER_LOGIN, "the settings are incomplete");
            return;
        }
    };
    secrets.push(settings.password.clone());
    let shown = settings.shown_url();
    let timeout = settings.timeout;
    let insecure = settings.insecure_skip_verify;
    let ca = settings.ca_cert.clone();
    let client = match Client::new(settings) {
        Ok(c) => c,
        Err(e) => {
            s.add("settings", Status::Fail, e.to_string())
                .fix("fix cybereason.url / cybereason.ca_cert");
            s.skip_all(&["dns", "tcp", "tls", "login"], "the settings are invalid");
            s.skip_all(&AFTER_LOGIN, "the settings are invalid");
            return;
        }
    };
    s.add(
        "settings",
        Status::Pass,
        format!("{shown} as {}", cc.username),
    );
    if !reachable(&client, &shown, timeout, insecure, ca.as_deref(), s).await {
        s.skip_all(&["login"], "the server cannot be reached");
        s.skip_all(&AFTER_LOGIN, "the server cannot be reached");
        return;
    }
    if let Err(e) = client.login().await {
        let (what, fix) = login_failure(&e);
        s.add("login", Status::Fail, format!("{what}: {e}"))
            .fix(fix)
            .facts(json!({ "failure": what }));
        s.skip_all(&AFTER_LOGIN, "not logged in");
        return;
    }
    s.add(
        "login",
        Status::Pass,
        format!("logged in as {}", cc.username),
    );
    match client.health().await {
        Ok(h) if h.online != Some(false) && h.ready_to_serve != Some(false) => {
            s.add(
                "health",
                Status::Pass,
                "the server reports online, ready to serve",
            )
            .facts(json!(h));
        }
        Ok(h) => {
            s.add(
                "health",
                Status::Warn,
                format!(
                    "the server reports online: {}, readyToServe: {}",
                    shown_flag(h.online),
                    shown_flag(h.ready_to_serve)
                ),
            )
            .fix("a pull may fail or be incomplete now; check the server's status in the console")
            .facts(json!(h));
        }
        Err(e) => {
            s.add("health", Status::Warn, format!("health endpoint: {e}"))
                .fix("pull does not need it; if the sources below pass, ignore this");
        }
    }
    let to_ms = crate::cybereason::collect::millis_now();
    let from_ms = to_ms - i64::try_from(cfg.window.0.as_millis()).unwrap_or(i64::MAX / 2);
    let o = CollectOptions::from_config(cc, &cfg.sources, from_ms, to_ms);
    let window = window_text(cfg.window.0);
    sources(&client, &o, &window, s).await;
    client.logout().await;
}

fn shown_flag(b: Option<bool>) -> &'static str {
    match b {
        Some(true) => "true",
        Some(false) => "false",
        None => "(absent)",
    }
}

fn window_text(d: Duration) -> String {
    let secs = d.as_secs();
    if secs.is_multiple_of(86_400) {
        format!("{}d", secs / 86_400)
    } else if secs.is_multiple_of(3600) {
        format!("{}h", secs / 3600)
    } else {
        format!("{secs}s")
    }
}

/// The login failure in words and its fix.
fn login_failure(e: &ClientError) -> (&'static str, &'static str) {
    match e {
        ClientError::LoginRejected { .. } => (
            "rejected credentials",
            "check cybereason.username and the password it resolves to",
        ),
        ClientError::TwoFactor { .. } => (
            "two-factor authentication",
            "use an API user without two-factor authentication",
        ),
        ClientError::PasswordExpired { .. } => (
            "expired password",
            "log in to the console as this user, set a new password, update the secret",
        ),
        ClientError::Throttled { .. } | ClientError::GaveUp { .. } => (
            "server unavailable",
            "retry later; raise cybereason.retries or retry_after_max if this persists",
        ),
        _ => (
            "login failed",
            "see the message; README \"Troubleshooting\"",
        ),
    }
}

/// DNS, TCP and TLS; false when the server cannot be reached.
async fn reachable(
    client: &Client,
    shown: &str,
    timeout: Duration,
    insecure: bool,
    ca: Option<&Path>,
    s: &mut Subject<'_>,
) -> bool {
    let Ok(url) = Url::parse(client.base_url()) else {
        s.add("dns", Status::Fail, format!("cannot parse {shown}"));
        s.skip_all(&["tcp", "tls"], "the URL is invalid");
        return false;
    };
    let host = url
        .host_str()
        .unwrap_or("")
        .trim_matches(['[', ']'])
        .to_string();
    let port = url.port_or_known_default().unwrap_or(443);
    let addrs =
        match tokio::time::timeout(timeout, tokio::net::lookup_host((host.as_str(), port))).await {
            Ok(Ok(a)) => a.collect::<Vec<_>>(),
            Ok(Err(e)) => {
                s.add(
                    "dns",
                    Status::Fail,
                    format!("`{host}` does not resolve: {e}"),
                )
                .fix("check cybereason.url and this machine's DNS");
                s.skip_all(&["tcp", "tls"], "the name does not resolve");
                return false;
            }
            Err(_) => {
                s.add("dns", Status::Fail, format!("resolving `{host}` timed out"))
                    .fix("check this machine's DNS");
                s.skip_all(&["tcp", "tls"], "the name does not resolve");
                return false;
            }
        };
    let Some(first) = addrs.first().copied() else {
        s.add(
            "dns",
            Status::Fail,
            format!("`{host}` resolves to no address"),
        );
        s.skip_all(&["tcp", "tls"], "the name does not resolve");
        return false;
    };
    let list: Vec<String> = addrs.iter().map(|a| a.ip().to_string()).collect();
    s.add(
        "dns",
        Status::Pass,
        if host.parse::<std::net::IpAddr>().is_ok() {
            format!("{host} is an address (nothing to resolve)")
        } else {
            format!("{host} resolves to {}", list.join(", "))
        },
    )
    .facts(json!({ "addresses": list }));
    match tokio::time::timeout(timeout, tokio::net::TcpStream::connect(first)).await {
        Ok(Ok(_)) => {
            s.add("tcp", Status::Pass, format!("{first} accepts connections"));
        }
        Ok(Err(e)) => {
            s.add("tcp", Status::Fail, format!("{first}: {e}"))
                .fix("check the port in cybereason.url, firewalls and proxies on the way");
            s.skip_all(&["tls"], "no TCP connection");
            return false;
        }
        Err(_) => {
            s.add(
                "tcp",
                Status::Fail,
                format!("{first}: no answer within {timeout:?}"),
            )
            .fix("check firewalls on the way (the connection is silently dropped)");
            s.skip_all(&["tls"], "no TCP connection");
            return false;
        }
    }
    let https = url.scheme() == "https";
    let loopback = addrs.iter().all(|a| a.ip().is_loopback());
    match client.reach().await {
        Reach::Answered { status } => {
            let c = if !https {
                let (st, why) = if loopback {
                    (
                        Status::Pass,
                        "plain http to a loopback address (a local simulator or proxy)",
                    )
                } else {
                    (
                        Status::Warn,
                        "plain http: the password and session cookie cross the network unencrypted",
                    )
                };
                let c = s.add(
                    "tls",
                    st,
                    format!("{why}; the login page answers HTTP {status}"),
                );
                if st == Status::Warn {
                    c.fix("use the https:// URL of the tenant");
                }
                c
            } else if insecure {
                s.add(
                    "tls",
                    Status::Warn,
                    format!("certificate NOT verified (cybereason.insecure_skip_verify); the login page answers HTTP {status}"),
                )
                .fix("set cybereason.ca_cert to the server's CA certificate and remove insecure_skip_verify")
            } else {
                s.add(
                    "tls",
                    Status::Pass,
                    format!(
                        "certificate verified against {}; the login page answers HTTP {status}",
                        match ca {
                            Some(p) => format!("the system roots and {}", p.display()),
                            None => "the system roots".into(),
                        }
                    ),
                )
            };
            c.facts(json!({ "https": https, "insecure_skip_verify": insecure, "ca_cert": ca.map(|p| p.display().to_string()) }));
            true
        }
        Reach::Failed { reason, tls } => {
            let c = s.add(
                "tls",
                Status::Fail,
                if tls {
                    format!("TLS handshake failed: {reason}")
                } else {
                    format!("no HTTP answer: {reason}")
                },
            );
            if tls {
                c.fix(
                    "set cybereason.ca_cert to the CA (PEM) that signed the server's certificate",
                );
            } else {
                c.fix("check that cybereason.url is the console's address (scheme and port)");
            }
            false
        }
    }
}

/// The user lacks a role: the server answers with its login page again, or 403.
fn missing_role(e: &ClientError) -> bool {
    matches!(
        e,
        ClientError::SessionRejected { .. } | ClientError::Forbidden { .. }
    )
}

fn source_error(s: &mut Subject<'_>, check: &str, e: &ClientError) {
    if missing_role(e) {
        s.add(check, Status::Fail, format!("missing role: {e}"))
            .fix("grant the API user a role that may use this API (Analyst L1 or higher; reputation read)")
            .facts(json!({ "failure": "missing role" }));
    } else {
        s.add(check, Status::Fail, e.to_string())
            .fix("see the message; `blockops pull -v` shows every request");
    }
}

async fn sources(client: &Client, o: &CollectOptions, window: &str, s: &mut Subject<'_>) {
    if o.reputation {
        match client.reputation_csv().await {
            Ok(rows) => {
                let listed: Vec<_> = rows
                    .iter()
                    .filter(|r| r.reputation == "blacklist" && !r.remove)
                    .collect();
                let hashes = listed
                    .iter()
                    .filter(|r| key_shape(&r.key) == KeyShape::FileHash)
                    .count();
                let usable = listed.len() - hashes;
                let facts = json!({"rows": rows.len(), "blacklisted": listed.len(), "file_hashes_ignored": hashes});
                let summary = format!(
                    "{} row(s), {} blocklisted, {hashes} of them file hashes (ignored): {usable} indicator(s)",
                    rows.len(),
                    listed.len()
                );
                if usable == 0 {
                    s.add("reputation", Status::Warn, format!("found nothing: {summary}"))
                        .fix("expected if nobody blocklists IPs/domains in the console; else check the user's reputation role")
                        .facts(facts);
                } else {
                    s.add("reputation", Status::Pass, summary).facts(facts);
                }
            }
            Err(e) => source_error(s, "reputation", &e),
        }
    } else {
        s.add("reputation", Status::Skip, "sources.reputation is off");
    }
    if o.connections {
        let q = connections_query(o, o.from_ms, o.to_ms, 1);
        match client.visual_search(&q).await {
            Ok(page) => {
                let mut sample = None;
                let mut bad = None;
                if let Some((key, row)) = page.rows.first() {
                    match connection_facts(key, row) {
                        Ok(f) => sample = Some(f),
                        Err(e) => bad = Some(e.to_string()),
                    }
                }
                let facts = json!({
                    "facet": o.connection_facet,
                    "classes": o.malicious_classes,
                    "window": window,
                    "matched": page.total_possible,
                    "sample_ips": sample.as_ref().map(|f| f.ips.clone()),
                    "sample_domains": sample.as_ref().map(|f| f.domains.clone()),
                });
                let what = format!(
                    "`{}` Equals [{}] in the last {window}",
                    o.connection_facet,
                    o.malicious_classes.join(", ")
                );
                if let Some(b) = bad {
                    s.add(
                        "connections",
                        Status::Fail,
                        format!("{what}: a row blockops cannot read: {b}"),
                    )
                    .fix("report this answer shape (pull would fail the same way)")
                    .facts(facts);
                } else if page.total_possible == 0 {
                    s.add("connections", Status::Warn, format!("{what} matched nothing"))
                        .fix("if the console shows malicious connections in that time, set cybereason.connection_facet to the facet the tenant uses")
                        .facts(facts);
                } else {
                    let dom = match &sample {
                        Some(f) if !f.domains.is_empty() => "the sample row names a domain",
                        Some(_) => "the sample row names no domain",
                        None => "no sample row",
                    };
                    s.add(
                        "connections",
                        Status::Pass,
                        format!(
                            "{what} matched {} connection(s); {dom}",
                            page.total_possible
                        ),
                    )
                    .facts(facts);
                }
            }
            Err(e) => source_error(s, "connections", &e),
        }
    } else {
        s.add("connections", Status::Skip, "sources.connections is off");
    }
    if o.domains {
        let q = domains_query(o, 1);
        match client.visual_search(&q).await {
            Ok(page) => {
                let bad = page
                    .rows
                    .first()
                    .and_then(|(k, r)| domain_facts(k, r).err())
                    .map(|e| e.to_string());
                let facts = json!({"classes": o.malicious_classes, "matched": page.total_possible});
                if let Some(b) = bad {
                    s.add(
                        "domains",
                        Status::Fail,
                        format!("a row blockops cannot read: {b}"),
                    )
                    .fix("report this answer shape (pull would fail the same way)")
                    .facts(facts);
                } else if page.total_possible == 0 {
                    s.add("domains", Status::Warn, "no domain is classified malicious")
                        .fix("expected on a quiet tenant; else check malicious_classes")
                        .facts(facts);
                } else {
                    s.add(
                        "domains",
                        Status::Pass,
                        format!("{} malicious domain(s)", page.total_possible),
                    )
                    .facts(facts);
                }
            }
            Err(e) => source_error(s, "domains", &e),
        }
    } else {
        s.add("domains", Status::Skip, "sources.domains is off");
    }
    if o.malops {
        malops(client, o, window, s).await;
    } else {
        s.add("malops", Status::Skip, "sources.malops is off");
    }
}

/// MalOps in the window: the statuses seen (per field) and whether each counts.
async fn malops(client: &Client, o: &CollectOptions, window: &str, s: &mut Subject<'_>) {
    let listed = match client.malops_in_window(o.from_ms, o.to_ms).await {
        Ok(l) => l,
        Err(e) => return source_error(s, "malops", &e),
    };
    let skip = &o.malop_skip_statuses;
    let counts_as = |v: &str| !skip.iter().any(|x| x.eq_ignore_ascii_case(v.trim()));
    // field=value → number of MalOps.
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut left_out = 0;
    let mut edr_open = Vec::new();
    let mut epp = 0;
    for m in &listed {
        for (field, v) in &m.statuses {
            *seen.entry(format!("{field}={v}")).or_default() += 1;
        }
        if m.closed {
            *seen.entry("closed=true".into()).or_default() += 1;
        }
        if m.skip_reason(skip).is_some() {
            left_out += 1;
        } else if m.is_edr() {
            edr_open.push(m.guid.clone());
        } else {
            epp += 1;
        }
    }
    if !edr_open.is_empty() {
        match client.management_statuses(&edr_open).await {
            Ok(st) => {
                for (_, v) in st {
                    if !counts_as(&v) {
                        left_out += 1;
                    }
                    *seen.entry(format!("managementStatus={v}")).or_default() += 1;
                }
            }
            Err(e) => return source_error(s, "malops", &e),
        }
    }
    let shown: Vec<String> = seen
        .iter()
        .map(|(k, n)| {
            let v = k.split_once('=').map_or(k.as_str(), |(_, v)| v);
            let verdict = if k == "closed=true" {
                if counts_as("closed") {
                    "counts"
                } else {
                    "left out"
                }
            } else if counts_as(v) {
                "counts"
            } else {
                "left out"
            };
            format!("{k} ×{n} ({verdict})")
        })
        .collect();
    let epp_skipped = if o.epp_malops == crate::config::EppMalops::Skip {
        epp
    } else {
        0
    };
    let counting = listed.len().saturating_sub(left_out + epp_skipped);
    let facts = json!({
        "window": window,
        "listed": listed.len(),
        "count": counting,
        "left_out": left_out,
        "non_edr": epp,
        "statuses": seen,
        "skip_statuses": skip,
    });
    if listed.is_empty() {
        s.add(
            "malops",
            Status::Warn,
            format!("no MalOp in the last {window}"),
        )
        .fix("expected on a quiet tenant; MalOps only add GUIDs and their connections")
        .facts(facts);
    } else {
        s.add(
            "malops",
            Status::Pass,
            format!(
                "{} MalOp(s) in the last {window}: {counting} count, {left_out} left out by status, {epp_skipped} non-EDR left out (epp_malops: skip); seen: {}",
                listed.len(),
                shown.join(", ")
            ),
        )
        .facts(facts);
    }
}
