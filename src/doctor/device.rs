//! Doctor's checks of one FortiGate target, through the session `plan`/`apply` open: TCP, the
//! host key (judged, never recorded), login, the session's scope, FortiManager management,
//! transactions, the tables against the current blocklist's delta and the device's limits,
//! the managed groups and the deny policies that use them, and what the administrator may
//! read and write.
//!
//! Only reads are sent (`fortios::probe`, `fortios::device::read_state`,
//! `fortios::policy::read_policies`); what the administrator may *write* is never tried, so
//! for a restricted profile (`$` prompt) it is reported as not verifiable.
use std::collections::BTreeMap;

use serde_json::json;

use super::{Options, Status, Subject};
use crate::config::Target;
use crate::fortios::capacity::{self, Holdings};
use crate::fortios::fields::Table;
use crate::fortios::policy::{self, GroupUse};
use crate::fortios::probe::{
    self, Central, Detected, Globals, Scope, Status as SysStatus, Transactions,
};
use crate::fortios::ssh::{ConnectOptions, HostKeyCheck, Session, SshError, check_host_key};
use crate::plan::desired::{self, Shape};
use crate::plan::{delta, make::capacity_conf};
use crate::secret::Secret;
use crate::workspace::Workspace;

/// The checks of a target, in order.
const CHECKS: [&str; 10] = [
    "tcp",
    "host-key",
    "login",
    "scope",
    "fortimanager",
    "transactions",
    "tables",
    "groups",
    "deny-policy",
    "access",
];

/// SKIP every check from `from` to the end.
fn skip_from(s: &mut Subject<'_>, from: &str, why: &str) {
    skip_between(s, from, "", why);
}

/// SKIP the checks from `from` up to (not including) `until` (`""`: to the end).
fn skip_between(s: &mut Subject<'_>, from: &str, until: &str, why: &str) {
    let start = CHECKS
        .iter()
        .position(|c| *c == from)
        .unwrap_or(CHECKS.len());
    let end = CHECKS
        .iter()
        .position(|c| *c == until)
        .unwrap_or(CHECKS.len());
    s.skip_all(&CHECKS[start..end.max(start)], why);
}

pub(super) async fn run(
    cfg: &crate::config::Config,
    t: &Target,
    o: &Options,
    ws: Option<&Workspace>,
    s: &mut Subject<'_>,
    secrets: &mut Vec<Secret>,
) {
    // Doctor never records a host key: `accept_new` is off.
    let co = match ConnectOptions::for_target(t, &o.root, false) {
        Ok(c) => c,
        Err(e) => {
            s.add("settings", Status::Fail, format!("{e:#}"))
                .fix("make the target's password resolvable (environment variable or file)");
            skip_from(s, "tcp", "the settings are incomplete");
            return;
        }
    };
    if let Some(p) = &co.password {
        secrets.push(p.clone());
    }
    let addr = format!("{}:{}", t.host, t.port);
    match tokio::time::timeout(
        co.connect_timeout,
        tokio::net::TcpStream::connect((t.host.as_str(), t.port)),
    )
    .await
    {
        Ok(Ok(_)) => {
            s.add("tcp", Status::Pass, format!("{addr} accepts connections"));
        }
        Ok(Err(e)) => {
            s.add("tcp", Status::Fail, format!("{addr}: {e}"))
                .fix("check targets[].host/port, that SSH admin access is enabled on the interface, and trusted hosts");
            skip_from(s, "host-key", "no TCP connection");
            return;
        }
        Err(_) => {
            s.add(
                "tcp",
                Status::Fail,
                format!("{addr}: no answer within {:?}", co.connect_timeout),
            )
            .fix("check firewalls on the way and the admin's trusted hosts");
            skip_from(s, "host-key", "no TCP connection");
            return;
        }
    }
    if !host_key(&co, s).await {
        skip_from(s, "login", "the host key is not trusted");
        return;
    }
    let mut session = match Session::connect(&co).await {
        Ok(x) => x,
        Err(e) => {
            let rejected = e
                .downcast_ref::<SshError>()
                .is_some_and(|x| matches!(x, SshError::AuthRejected { .. }));
            let c = s.add("login", Status::Fail, format!("{e:#}"));
            if rejected {
                c.fix("check targets[].username and its password or private_key");
            } else {
                c.fix("see the message");
            }
            skip_from(s, "scope", "not logged in");
            return;
        }
    };
    s.add(
        "login",
        Status::Pass,
        format!(
            "logged in as {}; prompt `{}`",
            t.username,
            session.prompt().trim_end()
        ),
    );
    let rest = examine(&mut session, cfg, t, ws, s).await;
    let transcript = session.close().await;
    if let Err(e) = rest {
        s.add("session", Status::Fail, format!("{e:#}"))
            .fix("see the message; the transcript (--transcripts DIR) shows the exchange");
    }
    if let Some(dir) = &o.transcripts {
        let path = dir.join(format!("{}.doctor.log", t.name));
        if let Err(e) = std::fs::create_dir_all(dir)
            .map_err(anyhow::Error::from)
            .and_then(|_| crate::atomic::write(&path, transcript.as_bytes()))
        {
            s.add(
                "transcript",
                Status::Fail,
                format!("writing {}: {e:#}", path.display()),
            );
        }
    }
}

/// Judge the host key the way `Session::connect` does; true when it is trusted.
async fn host_key(co: &ConnectOptions, s: &mut Subject<'_>) -> bool {
    match check_host_key(co).await {
        Ok(HostKeyCheck::Pinned { fingerprint }) => {
            s.add(
                "host-key",
                Status::Pass,
                format!("{fingerprint} matches host_key_fingerprint"),
            )
            .facts(json!({"state": "pinned", "fingerprint": fingerprint}));
            true
        }
        Ok(HostKeyCheck::Known { fingerprint, file }) => {
            s.add(
                "host-key",
                Status::Pass,
                format!("{fingerprint} is recorded in {file}"),
            )
            .facts(json!({"state": "known", "fingerprint": fingerprint, "file": file}));
            true
        }
        Ok(HostKeyCheck::Unknown { fingerprint, why }) => {
            s.add(
                "host-key",
                Status::Fail,
                format!("unknown host key: the device offers {fingerprint} ({why}); doctor never records it"),
            )
            .fix(format!(
                "compare it with the device's key out of band, then set `host_key_fingerprint: \"{fingerprint}\"`"
            ))
            .facts(json!({"state": "unknown", "fingerprint": fingerprint}));
            false
        }
        Ok(HostKeyCheck::Changed { fingerprint, why }) => {
            s.add(
                "host-key",
                Status::Fail,
                format!("HOST KEY MISMATCH: the device offers {fingerprint}, but {why}"),
            )
            .fix("find out why the key changed (replaced unit? man in the middle?) before trusting it")
            .facts(json!({"state": "changed", "fingerprint": fingerprint}));
            false
        }
        Ok(HostKeyCheck::Unverifiable { fingerprint, why }) => {
            s.add(
                "host-key",
                Status::Fail,
                format!("cannot verify {fingerprint}: {why}"),
            )
            .fix("set targets[].known_hosts to a readable file, or pin host_key_fingerprint")
            .facts(json!({"state": "unverifiable", "fingerprint": fingerprint}));
            false
        }
        Err(e) => {
            s.add("host-key", Status::Fail, format!("{e:#}"))
                .fix("the SSH handshake failed; see the message");
            false
        }
    }
}

/// What the administrator was seen to read (for the access check).
#[derive(Default)]
struct Reads {
    status: Option<bool>,
    tables: Option<bool>,
    policies: Option<bool>,
    system: Option<bool>,
    execute: Option<bool>,
}

/// Everything after the login; `Err` when the session itself broke.
async fn examine(
    session: &mut Session,
    cfg: &crate::config::Config,
    t: &Target,
    ws: Option<&Workspace>,
    s: &mut Subject<'_>,
) -> anyhow::Result<()> {
    let patterns = t.error_patterns.clone();
    let mut reads = Reads::default();
    let status = match probe::ask(session, "get system status", &patterns).await? {
        Ok(text) => {
            reads.status = Some(true);
            Some(SysStatus::parse(&text))
        }
        Err(_) => {
            reads.status = Some(false);
            None
        }
    };
    let detected = match probe::detect_scope(session, status.as_ref(), &patterns).await {
        Ok(d) => d,
        Err(e) => {
            reads.tables = Some(false);
            s.add("scope", Status::Fail, format!("{e:#}"))
                .fix("give the profile read access to firewall addresses (README \"Least-privilege administrator\")");
            skip_between(s, "fortimanager", "access", "the scope is unknown");
            access(session, &reads, s);
            return Ok(());
        }
    };
    let scope = match detected.resolve(t.vdom.as_deref(), &t.name) {
        Ok(sc) => sc,
        Err(e) => {
            s.add("scope", Status::Fail, format!("{e:#}"))
                .fix("set targets[].vdom as the message says")
                .facts(json!({"detected": detected, "status": status}));
            skip_between(
                s,
                "fortimanager",
                "access",
                "the scope does not match the configuration",
            );
            access(session, &reads, s);
            return Ok(());
        }
    };
    let vdoms = match &detected {
        Detected::Global { vdoms } => format!(" (VDOMs: {})", vdoms.join(", ")),
        _ => String::new(),
    };
    s.add(
        "scope",
        Status::Pass,
        format!(
            "{}{vdoms}; {}",
            scope.describe(),
            status
                .as_ref()
                .and_then(|st| st.version.clone())
                .unwrap_or_else(|| "`get system status` was refused".into())
        ),
    )
    .facts(json!({"scope": scope, "detected": detected, "status": status}));

    let globals = probe::globals(session, &scope, &patterns).await?;
    // A VDOM-scoped administrator is never asked for global settings (it has none).
    reads.system = (!matches!(scope, Scope::VdomAdmin { .. }))
        .then_some(!matches!(globals.central, Central::Unknown { .. }));
    fortimanager(t, &globals, s);

    let tx = probe::transactions(session, &patterns).await?;
    reads.execute = Some(matches!(tx, Transactions::Available { .. }));
    transactions(t, &tx, s);

    // The shape plan uses: the target's render settings from the loaded configuration (also
    // when the blocklist files did not load).
    let shape = Shape::new(&t.name, t.vdom.clone(), cfg.render_for(t));
    let read =
        crate::fortios::device::read_state(session, &scope, &shape.owner, &shape.fields, &patterns)
            .await;
    let (state, holdings) = match read {
        Ok((st, _backup, h)) => {
            reads.tables = Some(true);
            (st, h)
        }
        Err(e) => {
            reads.tables = Some(false);
            s.add(
                "tables",
                Status::Fail,
                format!("reading the firewall tables: {e:#}"),
            )
            .fix("give the profile read access to firewall addresses and groups");
            skip_between(s, "groups", "access", "the tables could not be read");
            access(session, &reads, s);
            return Ok(());
        }
    };
    match ws {
        Some(w) => tables(w, t, &shape, &scope, &globals, &state, &holdings, s),
        None => {
            s.add(
                "tables",
                Status::Skip,
                "the repository did not load, so the blocklist's needs are unknown",
            );
        }
    }
    let groups = shape.owner.groups.clone();
    let present: [bool; 2] = [
        holdings.names[Table::Addrgrp.index()].contains(&groups[0]),
        holdings.names[Table::Addrgrp6.index()].contains(&groups[1]),
    ];
    let list = |want: bool| -> Vec<String> {
        [(Table::Addrgrp, 0), (Table::Addrgrp6, 1)]
            .iter()
            .filter(|(_, i)| present[*i] == want)
            .map(|(tb, i)| format!("firewall {} \"{}\"", tb.name(), groups[*i]))
            .collect()
    };
    if present.iter().all(|p| *p) {
        s.add(
            "groups",
            Status::Pass,
            format!("{} exist", list(true).join(" and ")),
        );
    } else {
        s.add(
            "groups",
            Status::Warn,
            format!("{} not on the device yet", list(false).join(" and ")),
        )
        .fix("the first `blockops apply` creates them; then reference them in a deny policy");
    }
    let pol = policy::read_policies(session, &scope, &patterns).await?;
    reads.policies = Some(pol.is_ok());
    deny_policy(&groups, present, pol, s);
    access(session, &reads, s);
    Ok(())
}

fn fortimanager(t: &Target, g: &Globals, s: &mut Subject<'_>) {
    let seen = match &g.central {
        Central::Unmanaged { kind } => {
            format!("not managed by FortiManager (central-management type {kind})")
        }
        Central::Managed { fmg, backup } => format!(
            "managed by FortiManager{} in {} mode",
            fmg.as_deref().map(|f| format!(" {f}")).unwrap_or_default(),
            if *backup { "backup" } else { "normal" }
        ),
        Central::Unknown { why } => format!("unknown: {why}"),
    };
    let facts = json!({"central": g.central, "setting": t.central_management.as_str()});
    match crate::plan::device::check_central(t, &g.central) {
        Ok(()) => {
            let st = if matches!(g.central, Central::Unmanaged { .. }) {
                Status::Pass
            } else {
                // Allowed by the configuration, but blockops cannot see what FortiManager does.
                Status::Warn
            };
            let c = s.add(
                "fortimanager",
                st,
                format!(
                    "{seen}; central_management: {}",
                    t.central_management.as_str()
                ),
            );
            if st == Status::Warn {
                c.fix("make sure FortiManager imports or keeps these objects (Fortinet KB 412972)");
            }
            c.facts(facts);
        }
        Err(e) => {
            s.add(
                "fortimanager",
                Status::Fail,
                format!("{seen}: plan and apply refuse: {e}"),
            )
            .fix("see the message (targets[].central_management)")
            .facts(facts);
        }
    }
}

fn transactions(t: &Target, tx: &Transactions, s: &mut Subject<'_>) {
    let facts = json!({"transactions": tx, "transaction": t.transaction});
    match (tx, t.transaction) {
        (Transactions::Available { status }, true) => {
            s.add(
                "transactions",
                Status::Pass,
                format!("available and used ({status})"),
            )
            .facts(facts);
        }
        (Transactions::Available { .. }, false) => {
            s.add(
                "transactions",
                Status::Pass,
                "available, not used (transaction: false): an interrupted apply leaves what it sent",
            )
            .facts(facts);
        }
        (Transactions::Unavailable { why }, true) => {
            s.add(
                "transactions",
                Status::Fail,
                format!("the target has transaction: true, but {why}: plan and apply refuse"),
            )
            .fix("enable `cli-exec` in the access profile, or set transaction: false")
            .facts(facts);
        }
        (Transactions::Unavailable { why }, false) => {
            s.add(
                "transactions",
                Status::Pass,
                format!("not used (transaction: false); not available either: {why}"),
            )
            .facts(facts);
        }
    }
}

/// The current blocklist's delta for this device against every limit `plan` checks.
#[allow(clippy::too_many_arguments)]
fn tables(
    ws: &Workspace,
    t: &Target,
    shape: &Shape,
    scope: &Scope,
    g: &Globals,
    current: &crate::fortios::model::State,
    holdings: &Holdings,
    s: &mut Subject<'_>,
) {
    let eff = ws.effective(crate::blocklist::today());
    let r = (|| {
        let want = desired::state(ws, &eff, shape)?;
        let (want, skipped) = desired::for_device(ws, &eff, shape, &want, current)?;
        let d = delta::compute(current, &want, &desired::delta_options(shape, t, scope));
        anyhow::Ok((d, skipped.len()))
    })();
    let (d, skipped) = match r {
        Ok(x) => x,
        Err(e) => {
            s.add(
                "tables",
                Status::Fail,
                format!("computing the desired state: {e:#}"),
            )
            .fix("run `blockops check`");
            return;
        }
    };
    let usage = capacity::usage(&d.script, holdings);
    let over = capacity::check(&usage, &g.limits, capacity_conf(t, shape), scope);
    let mut sizes = BTreeMap::new();
    let mut shown = Vec::new();
    for tb in Table::ALL {
        let span = usage.tables[tb.index()];
        let limit = g
            .limits
            .tablesize
            .get(&format!("firewall.{}", tb.name()))
            .map(|ts| ts.per_vdom)
            .filter(|n| *n > 0);
        sizes.insert(
            tb.name(),
            json!({"now": span.before, "peak": span.peak, "after": span.after, "limit": limit}),
        );
        shown.push(format!(
            "{} {}→{}{}",
            tb.name(),
            span.before,
            span.after,
            limit.map(|l| format!("/{l}")).unwrap_or_default()
        ));
    }
    let facts = json!({
        "tables": sizes,
        "delta": d.counts,
        "skipped": skipped,
        "exceeded": over,
        "unread": g.limits.unread,
    });
    let counts = format!(
        "the current blocklist adds {}, changes {}, removes {}",
        d.counts.adds, d.counts.modifies, d.counts.removes
    );
    if !over.is_empty() {
        let list: Vec<String> = over.iter().map(ToString::to_string).collect();
        s.add(
            "tables",
            Status::Fail,
            format!("{counts}, which does not fit: {}; plan would refuse", list.join("; ")),
        )
        .fix("remove indicators, raise the limit, or publish a threat feed (README \"Lists larger than the device\")")
        .facts(facts);
        return;
    }
    let limits_note = if g.limits.tablesize.is_empty() && t.max_addresses.is_none() {
        "; the device states no table size and targets[].max_addresses is unset"
    } else {
        ""
    };
    let summary = format!(
        "{counts}; entries now→after (limit): {}{limits_note}",
        shown.join(", ")
    );
    if skipped > 0 {
        s.add(
            "tables",
            Status::Warn,
            format!("{summary}; {skipped} indicator(s) skipped: the device holds their names for objects blockops does not own"),
        )
        .fix("`blockops plan` lists them; rename or remove those objects")
        .facts(facts);
    } else if !limits_note.is_empty() {
        s.add("tables", Status::Warn, summary)
            .fix("set targets[].max_addresses to the model's limit (Fortinet \"Maximum Values Table\")")
            .facts(facts);
    } else {
        s.add("tables", Status::Pass, summary).facts(facts);
    }
}

fn deny_policy(
    groups: &[String; 2],
    present: [bool; 2],
    pol: Result<Vec<policy::Policy>, probe::Refusal>,
    s: &mut Subject<'_>,
) {
    let policies = match pol {
        Ok(p) => p,
        Err(r) => {
            s.add(
                "deny-policy",
                Status::Warn,
                format!("cannot read firewall policies: {r}"),
            )
            .fix(format!(
                "check by hand that an enabled deny policy uses \"{}\" / \"{}\", or give the profile read access to policies",
                groups[0], groups[1]
            ));
            return;
        }
    };
    let mut lines = Vec::new();
    let mut worst = Status::Pass;
    let mut facts = serde_json::Map::new();
    for (i, tb) in [Table::Addrgrp, Table::Addrgrp6].into_iter().enumerate() {
        let g = &groups[i];
        let uses = policy::uses(&policies, tb, g);
        facts.insert(g.clone(), json!(uses));
        let deny: Vec<&GroupUse> = uses
            .iter()
            .filter(|u| u.action == "deny" && u.enabled)
            .collect();
        let accept: Vec<&GroupUse> = uses
            .iter()
            .filter(|u| u.action != "deny" && u.enabled)
            .collect();
        let show = |v: &[&GroupUse]| {
            v.iter()
                .map(|u| u.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let (st, line) = if !accept.is_empty() {
            (
                Status::Fail,
                format!(
                    "\"{g}\" is used by a policy that does not deny: {}",
                    show(&accept)
                ),
            )
        } else if !deny.is_empty() {
            (
                Status::Pass,
                format!("\"{g}\" is denied by {}", show(&deny)),
            )
        } else if present[i] {
            (
                Status::Fail,
                format!("no enabled deny policy uses \"{g}\": its addresses are not blocked"),
            )
        } else {
            (
                Status::Warn,
                format!("no deny policy uses \"{g}\" (the group does not exist yet)"),
            )
        };
        worst = worst.max(st);
        lines.push(line);
    }
    let c = s.add("deny-policy", worst, lines.join("; "));
    c.facts(serde_json::Value::Object(facts));
    if worst != Status::Pass {
        c.fix(
            "reference the groups in an enabled deny policy (dstaddr/srcaddr, dstaddr6/srcaddr6)",
        );
    }
}

fn access(session: &Session, r: &Reads, s: &mut Subject<'_>) {
    let word = |b: Option<bool>| match b {
        Some(true) => "yes",
        Some(false) => "refused",
        None => "not tried",
    };
    let reads = format!(
        "reads: system status {}, firewall tables {}, policies {}, system settings {}, execute {}",
        word(r.status),
        word(r.tables),
        word(r.policies),
        word(r.system),
        word(r.execute)
    );
    let facts = json!({
        "restricted": probe::restricted(session),
        "status": r.status, "tables": r.tables, "policies": r.policies,
        "system": r.system, "execute": r.execute,
    });
    if probe::restricted(session) {
        s.add(
            "access",
            Status::Warn,
            format!("restricted profile (prompt `$`); {reads}; write access to addresses and groups cannot be seen without writing, and doctor never writes"),
        )
        .fix("make sure the profile has `address read-write` (README \"Least-privilege administrator\"); a first small apply proves it")
        .facts(facts);
    } else {
        s.add(
            "access",
            Status::Pass,
            format!("full rights (prompt `#`, Fortinet KB 406752); {reads}"),
        )
        .facts(facts);
    }
}
