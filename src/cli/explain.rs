//! `blockops explain VALUE`: why a value is (or is not) blocked — which file and entry list
//! it, which guardrail or allowlist rule drops it, which policy keys and allowlist entries
//! decide its fate (with file and line), and where it lands on each target.
use serde::Serialize;

use super::{Ctx, Format};
use crate::blocklist::indicator::Indicator;
use crate::blocklist::{Entry, format_date, today};
use crate::error::Outcome;

use crate::gitops;
use crate::review::decide::{self, Decision, Verdict};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// An IP address, network or domain name.
    pub value: String,
    /// Explain the files of this revision instead of the work tree.
    #[arg(long, default_value = "WORKTREE")]
    pub rev: String,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// `explain --format json` output.
#[derive(Debug, Serialize)]
pub struct Explanation {
    pub schema_version: u32,
    /// The normalised value.
    pub value: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub blocked: bool,
    /// Entries listing exactly this value.
    pub listed: Vec<Listing>,
    /// Listed networks that contain this value.
    pub covered_by: Vec<Listing>,
    /// Why it is not blocked (guardrail, allowlist or expiry), if so.
    pub dropped: Option<String>,
    /// The policy keys and allowlist entries that decide its fate, with file and line.
    pub decided_by: Vec<Decision>,
    pub targets: Vec<TargetPlacement>,
    pub notes: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct Listing {
    pub file: String,
    pub line: usize,
    pub value: String,
    pub sources: Vec<&'static str>,
    pub malops: Vec<String>,
    pub first_seen: Option<String>,
    pub expires: Option<String>,
    pub comment: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct TargetPlacement {
    pub target: String,
    /// Object name on the device.
    pub object: String,
    /// Group chain, outermost first (`blockops-v4`, `blockops-v4-a00`).
    pub groups: Vec<String>,
}

fn listing(file: &str, e: &Entry) -> Listing {
    Listing {
        file: file.into(),
        line: e.line,
        value: e.value.to_string(),
        sources: e.sources.iter().map(|s| s.as_str()).collect(),
        malops: e.malops.iter().cloned().collect(),
        first_seen: e.first_seen.map(format_date),
        expires: e.expires.map(format_date),
        comment: e.comment.clone(),
    }
}

fn contains(outer: &Indicator, inner: &Indicator) -> bool {
    match (outer, inner) {
        (Indicator::V4(a), Indicator::V4(b)) => a != b && a.contains(b),
        (Indicator::V6(a), Indicator::V6(b)) => a != b && a.contains(b),
        _ => false,
    }
}

pub fn run(ctx: &Ctx, args: Args) -> anyhow::Result<Outcome> {
    let value = Indicator::parse(&args.value)?;
    let repo = ctx.repo();
    let ws = ctx.load(repo.as_ref(), &args.rev)?;
    let config_path = ctx.config_rel();
    let src = gitops::source_for(repo.as_ref(), ctx.root(), &args.rev)?;
    let config_text = gitops::read_text(src.as_dyn(), &config_path)?;
    let today = today();
    let mut ex = Explanation {
        schema_version: crate::report::JSON_SCHEMA_VERSION,
        value: value.to_string(),
        kind: value.kind().to_string(),
        blocked: false,
        listed: Vec::new(),
        covered_by: Vec::new(),
        dropped: None,
        decided_by: decide::decisions(&ws, &config_path, config_text.as_deref(), &value),
        targets: Vec::new(),
        notes: Vec::new(),
    };
    for f in &ws.files {
        if let Some(e) = f.get(&value) {
            ex.listed.push(listing(&f.path, e));
        }
        for e in f.entries.iter().filter(|e| contains(&e.value, &value)) {
            ex.covered_by.push(listing(&f.path, e));
        }
    }
    let eff = ws.effective(today);
    if let Some(d) = eff.dropped.iter().find(|d| d.value == ex.value) {
        ex.dropped = Some(format!("{} ({}:{})", d.why, d.file, d.line));
    } else if ex.listed.is_empty()
        && let Err(why) = ws.guard().check(&value)
    {
        ex.notes
            .push(format!("would not be blocked if listed: {why}"));
    }
    if let Indicator::Fqdn(d) = &value {
        let parents: Vec<String> = ws
            .files
            .iter()
            .flat_map(|f| f.entries.iter())
            .filter_map(|e| match &e.value {
                Indicator::Fqdn(p) if d.len() > p.len() && d.ends_with(&format!(".{p}")) => {
                    Some(p.clone())
                }
                _ => None,
            })
            .collect();
        for p in parents {
            ex.notes.push(format!(
                "parent domain {p} is listed, but FortiGate FQDN objects do not match subdomains"
            ));
        }
    }
    // Blocked as itself, or through a blocked network that contains it.
    let via: Option<&Indicator> = eff
        .blocked
        .iter()
        .map(|b| b.value)
        .find(|v| **v == value)
        .or_else(|| {
            eff.blocked
                .iter()
                .map(|b| b.value)
                .find(|v| contains(v, &value))
        });
    ex.blocked = via.is_some();
    if let Some(via) = via {
        if *via != value {
            ex.notes
                .push(format!("blocked through the network object for {via}"));
        }
        for t in &ws.config.targets {
            let d = ws.desired(&eff, t)?;
            let rc = ws.config.render_for(t);
            let object = crate::fortios::naming::object_name(&rc.prefix, via, rc.max_name_length);
            let groups = if matches!(via, Indicator::V6(_)) {
                &d.groups6
            } else {
                &d.groups
            };
            let mut chain = Vec::new();
            if let Some(g) = groups.iter().find(|g| g.members.contains(&object)) {
                if let Some(parent) = groups.iter().find(|p| p.members.contains(&g.name)) {
                    chain.push(parent.name.clone());
                }
                chain.push(g.name.clone());
            }
            ex.targets.push(TargetPlacement {
                target: t.name.clone(),
                object,
                groups: chain,
            });
        }
    }
    match args.format {
        Format::Json => super::print(&(serde_json::to_string_pretty(&ex)? + "\n"))?,
        Format::Text => super::print(&to_text(&ex))?,
    }
    Ok(Outcome::Ok)
}

fn to_text(ex: &Explanation) -> String {
    let mut o = String::new();
    let verdict = if ex.blocked { "BLOCKED" } else { "not blocked" };
    o.push_str(&format!("{} ({}): {verdict}\n", ex.value, ex.kind));
    for l in &ex.listed {
        o.push_str(&format!("  listed in {}:{}", l.file, l.line));
        describe(&mut o, l);
    }
    for l in &ex.covered_by {
        o.push_str(&format!(
            "  inside network {} listed in {}:{}",
            l.value, l.file, l.line
        ));
        describe(&mut o, l);
    }
    if let Some(d) = &ex.dropped {
        o.push_str(&format!("  dropped: {d}\n"));
    }
    for d in &ex.decided_by {
        let at = match d.line {
            0 => format!("{}, not set: default", d.file),
            l => format!("{}:{l}", d.file),
        };
        let verdict = match d.verdict {
            Verdict::Drops => "drops it",
            Verdict::Permits => "permits it",
        };
        o.push_str(&format!(
            "  decided by {} = {} ({at}): {verdict}; {}\n",
            d.key, d.value, d.detail
        ));
    }
    for t in &ex.targets {
        o.push_str(&format!(
            "  target {}: object \"{}\" in {}\n",
            t.target,
            t.object,
            t.groups.join(" > ")
        ));
    }
    for n in &ex.notes {
        o.push_str(&format!("  note: {n}\n"));
    }
    if ex.listed.is_empty() && ex.covered_by.is_empty() {
        o.push_str("  no blocklist file mentions it\n");
    }
    o
}

fn describe(o: &mut String, l: &Listing) {
    let mut parts = Vec::new();
    if !l.sources.is_empty() {
        parts.push(format!("sources={}", l.sources.join(",")));
    }
    if !l.malops.is_empty() {
        parts.push(format!("malops={}", l.malops.join(",")));
    }
    if let Some(d) = &l.first_seen {
        parts.push(format!("first_seen={d}"));
    }
    if let Some(d) = &l.expires {
        parts.push(format!("expires={d}"));
    }
    if let Some(c) = &l.comment {
        parts.push(format!("comment={c:?}"));
    }
    if parts.is_empty() {
        o.push('\n');
    } else {
        o.push_str(&format!(" ({})\n", parts.join(" ")));
    }
}
