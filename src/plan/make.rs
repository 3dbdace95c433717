//! Making plans: the desired state at a commit, the current state from each device (or the
//! desired state at an offline base), the delta between them, the removal guardrail, and the
//! plan file written atomically.
use std::path::{Path, PathBuf};

use anyhow::anyhow;
use git2::{Oid, Repository};
use time::Date;

use crate::config::{Config, Target};
use crate::fortios::capacity::{self, Holdings};
use crate::fortios::model::State;
use crate::fortios::probe::{Facts, Scope};
use crate::fortios::ssh::ConnectOptions;
use crate::progress::Bars;
use crate::workspace::Workspace;

use super::desired::{self, Shape};
use super::device::Device;
use super::{Base, FORMAT_VERSION, PlanFile, delta};

/// What to plan.
#[derive(Debug, Clone)]
pub struct Request {
    /// Targets (work-tree configuration: connection settings, VDOM, transaction).
    pub targets: Vec<Target>,
    /// Commit the desired state is rendered from.
    pub commit: Oid,
    /// Plan against the desired state at this commit instead of the device.
    pub offline_base: Option<Oid>,
    /// Date for entry expiry.
    pub today: Date,
    /// Plan file (`*.json`, one target) or directory.
    pub out: PathBuf,
    pub allow_large_change: bool,
    pub accept_new_host_key: bool,
    /// Devices read at the same time.
    pub jobs: usize,
    /// Repository root (relative key and known_hosts paths).
    pub root: PathBuf,
    /// The configuration file inside the repository.
    pub config_path: String,
}

/// The plan of one target, or why there is none.
pub struct Planned {
    pub target: String,
    pub result: anyhow::Result<(PlanFile, PathBuf)>,
    /// A host-key notice from the session (e.g. a key recorded with `--accept-new-host-key`).
    pub notice: Option<String>,
}

/// Where the plan file of `target` goes.
fn out_path(out: &Path, target: &str, several: bool) -> anyhow::Result<PathBuf> {
    let is_file = out.extension().is_some_and(|e| e == "json");
    if is_file && several {
        anyhow::bail!(
            "--out {} names one file but several targets are planned; give a directory",
            out.display()
        );
    }
    Ok(if is_file {
        out.to_path_buf()
    } else {
        out.join(format!("{target}.plan.json"))
    })
}

/// Plan every requested target; results in request order.
pub fn make(repo: &Repository, cfg: &Config, req: &Request, bars: &Bars) -> Vec<Planned> {
    let several = req.targets.len() > 1;
    // Desired states first (git2 is not thread-safe), then the devices concurrently. Each
    // revision is loaded and evaluated once, however many targets there are.
    let head_ws = desired::load_at(repo, req.commit, &req.config_path);
    let head = head_ws.as_ref().map(|ws| (ws, ws.effective(req.today)));
    let base_ws = req
        .offline_base
        .map(|b| desired::load_at(repo, b, &req.config_path));
    let base = base_ws
        .as_ref()
        .map(|r| r.as_ref().map(|ws| (ws, ws.effective(req.today))));

    struct Prepared {
        target: Target,
        shape: Shape,
        desired: State,
        base: Option<State>,
        connect: Option<ConnectOptions>,
    }
    let mut out: Vec<Planned> = Vec::new();
    let mut prepared = Vec::new();
    for t in &req.targets {
        let r = (|| {
            let (ws, eff) = head.as_ref().map_err(|e| anyhow!("{e:#}"))?;
            let shape = Shape::of(ws, &t.name, &req.config_path)?;
            let desired = desired::state(ws, eff, &shape)?;
            let base = match &base {
                Some(Ok((ws, eff))) => {
                    let s = Shape::of(ws, &t.name, &req.config_path)?;
                    Some(desired::state(ws, eff, &s)?)
                }
                Some(Err(e)) => return Err(anyhow!("{e:#}")),
                None => None,
            };
            // Offline plans never touch the device, so they need no credentials.
            let connect = match base {
                Some(_) => None,
                None => Some(ConnectOptions::for_target(
                    t,
                    &req.root,
                    req.accept_new_host_key,
                )?),
            };
            anyhow::Ok(Prepared {
                target: t.clone(),
                shape,
                desired,
                base,
                connect,
            })
        })();
        match r {
            Ok(p) => prepared.push(p),
            Err(e) => out.push(Planned {
                target: t.name.clone(),
                result: Err(e),
                notice: None,
            }),
        }
    }
    let futs: Vec<_> = prepared
        .into_iter()
        .map(|p| {
            let bars = bars.clone();
            async move {
                let current = match (&p.base, &p.connect) {
                    (Some(b), _) => Ok(Current {
                        state: b.clone(),
                        notice: None,
                        device: None,
                    }),
                    (None, Some(o)) => read_device(o, &p.target, &p.shape, &bars).await,
                    (None, None) => Err(anyhow!("no connection settings")),
                };
                (p, current)
            }
        })
        .collect();
    let results = match super::run_bounded(req.jobs, futs) {
        Ok(r) => r,
        Err(e) => {
            let msg = format!("{e:#}");
            for t in &req.targets {
                if !out.iter().any(|p| p.target == t.name) {
                    out.push(Planned {
                        target: t.name.clone(),
                        result: Err(anyhow!("{msg}")),
                        notice: None,
                    });
                }
            }
            return out;
        }
    };
    for (p, current) in results {
        let current = match current {
            Ok(c) => c,
            Err(e) => {
                out.push(Planned {
                    target: p.target.name.clone(),
                    result: Err(e),
                    notice: None,
                });
                continue;
            }
        };
        let result = (|| {
            let (ws, eff) = head.as_ref().map_err(|e| anyhow!("{e:#}"))?;
            let path = out_path(&req.out, &p.target.name, several)?;
            let pf = plan_file(cfg, req, ws, eff, &p.target, &p.shape, &p.desired, &current)?;
            crate::atomic::write(&path, pf.to_json().as_bytes())?;
            anyhow::Ok((pf, path))
        })();
        out.push(Planned {
            target: p.target.name.clone(),
            result,
            notice: current.notice,
        });
    }
    out.sort_by_key(|p| req.targets.iter().position(|t| t.name == p.target));
    out
}

/// The plan of one target from its desired and current state.
#[allow(clippy::too_many_arguments)]
fn plan_file(
    cfg: &Config,
    req: &Request,
    ws: &Workspace,
    eff: &crate::workspace::Effective<'_>,
    t: &Target,
    shape: &Shape,
    desired: &State,
    cur: &Current,
) -> anyhow::Result<PlanFile> {
    let current = &cur.state;
    let scope = match &cur.device {
        Some(d) => d.facts.scope.clone(),
        None => Scope::assumed(t.vdom.as_deref()),
    };
    let (want, skipped) = desired::for_device(ws, eff, shape, desired, current)?;
    let d = delta::compute(current, &want, &desired::delta_options(shape, t, &scope));
    super::check_removals(
        cfg,
        &shape.render.prefix,
        current,
        &want,
        req.allow_large_change,
    )?;
    if let Some(dev) = &cur.device {
        super::check_capacity(
            &t.name,
            &d.script,
            &dev.holdings,
            &dev.facts.globals.limits,
            capacity_conf(t, shape),
            &scope,
        )?;
    }
    Ok(PlanFile {
        format_version: FORMAT_VERSION,
        target: t.name.clone(),
        vdom: t.vdom.clone(),
        scope,
        commit: req.commit.to_string(),
        approved_branch: t.approved_branch.clone(),
        as_of: super::date_string(req.today),
        base: match req.offline_base {
            Some(b) => Base::Offline {
                commit: b.to_string(),
            },
            None => Base::Device,
        },
        device_state_sha256: current.sha256(),
        device_objects: current.len(),
        counts: d.counts,
        has_changes: !d.script.is_empty(),
        script_sha256: super::sha256_hex(&d.script),
        script: d.script,
        left_alone: current.others.clone(),
        skipped,
        created_at: super::now_rfc3339(),
        blockops_version: env!("CARGO_PKG_VERSION").to_string(),
    })
}

/// The limits `plan` and `apply` check a script against, besides what the device states.
pub fn capacity_conf(t: &Target, shape: &Shape) -> capacity::Configured {
    capacity::Configured {
        max_addresses: t.max_addresses,
        max_group_members: shape.render.max_group_members,
    }
}

/// The state a plan starts from, and what the device session learned.
struct Current {
    state: State,
    notice: Option<String>,
    /// `None` for offline plans.
    device: Option<Seen>,
}

struct Seen {
    facts: Facts,
    holdings: Holdings,
}

async fn read_device(
    o: &ConnectOptions,
    t: &Target,
    shape: &Shape,
    bars: &Bars,
) -> anyhow::Result<Current> {
    let progress = bars.device(&t.name);
    progress.phase("connecting");
    let mut dev = Device::open(o, t).await?;
    progress.phase("reading the managed objects");
    let r = dev.read(&shape.owner, &shape.fields).await;
    let notice = dev.session.notice.take();
    let facts = dev.facts.clone();
    dev.close().await;
    let (state, _backup, holdings) = r?;
    Ok(Current {
        state,
        notice,
        device: Some(Seen { facts, holdings }),
    })
}
