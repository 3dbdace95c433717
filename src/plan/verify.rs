//! Everything `apply` checks about a plan file before it contacts the device (SPEC guarantee 5,
//! `docs/plan-file.md` "What apply checks"): the script matches its hash; the target is
//! configured; the commit exists, is reachable from the target's approved branch and is not
//! superseded by a newer tip that renders something else; the VDOM and the session scope the
//! script was written for fit the target; every script line is allowed. The result carries what the device session needs.
use std::path::{Path, PathBuf};

use anyhow::anyhow;
use git2::{Oid, Repository};

use crate::config::{Config, Target};
use crate::error::Refused;
use crate::fortios::model::State;
use crate::fortios::probe::Scope;
use crate::fortios::ssh::ConnectOptions;
use crate::gitops;
use crate::workspace::Workspace;

use super::delta::DeltaOptions;
use super::desired::{self, Shape};
use super::{PlanFile, validate};

/// How strictly to verify.
#[derive(Debug, Clone, Copy, Default)]
pub struct VerifyOptions {
    /// Apply a plan even when the approved branch has moved on to a commit that renders a
    /// different desired state for the target (`--allow-superseded`).
    pub allow_superseded: bool,
    /// Record an unknown host key (`--accept-new-host-key`).
    pub accept_new_host_key: bool,
}

/// A plan that passed every offline check.
pub struct Verified {
    pub plan: PlanFile,
    pub path: PathBuf,
    /// The target as configured in the work tree (connection settings).
    pub target: Target,
    /// The repository at the plan's commit.
    pub ws: Workspace,
    /// Render settings, ownership and allow-list at the plan's commit.
    pub shape: Shape,
    /// The desired state at the plan's commit, as of the plan's date.
    pub desired: State,
    pub delta: DeltaOptions,
    pub connect: ConnectOptions,
    /// Things the operator should know (e.g. the plan is behind the branch tip, harmlessly).
    pub notes: Vec<String>,
}

/// Verify `plan` (read from `path`) against the repository and the work-tree configuration.
pub fn verify(
    repo: &Repository,
    cfg: &Config,
    config_path: &str,
    repo_root: &Path,
    path: &Path,
    plan: PlanFile,
    o: VerifyOptions,
) -> anyhow::Result<Verified> {
    if super::sha256_hex(&plan.script) != plan.script_sha256 {
        return Err(Refused::new(format!(
            "{}: the script does not match its sha256 — the plan was modified after it was made",
            path.display()
        ))
        .into());
    }
    let target = cfg
        .target(&plan.target)
        .ok_or_else(|| {
            anyhow!(
                "the plan is for target `{}`, which is not configured",
                plan.target
            )
        })?
        .clone();
    if plan.approved_branch != target.approved_branch {
        return Err(Refused::new(format!(
            "the plan names approved branch `{}` but target `{}` requires `{}`",
            plan.approved_branch, target.name, target.approved_branch
        ))
        .into());
    }
    let oid = Oid::from_str(&plan.commit)
        .map_err(|_| anyhow!("the plan's commit `{}` is not a commit id", plan.commit))?;
    if repo.find_commit(oid).is_err() {
        return Err(Refused::new(format!(
            "the plan's commit {} is not in this repository",
            plan.commit
        ))
        .into());
    }
    if !super::approved(repo, oid, &target.approved_branch)? {
        return Err(Refused::new(format!(
            "commit {} is not reachable from the approved branch `{}`: only merged changes may be applied",
            gitops::short(oid),
            target.approved_branch
        ))
        .into());
    }
    if plan.vdom != target.vdom {
        return Err(Refused::new("the plan's VDOM differs from the target's configuration").into());
    }
    let scope_vdom = match &plan.scope {
        Scope::SingleVdom => None,
        Scope::Global { vdom } | Scope::VdomAdmin { vdom } => Some(vdom),
    };
    if scope_vdom != target.vdom.as_ref() {
        return Err(Refused::new(format!(
            "the plan's scope ({}) does not fit the target's `vdom` setting",
            plan.scope.describe()
        ))
        .into());
    }
    let as_of = plan.as_of_date()?;
    let ws = desired::load_at(repo, oid, config_path)?;
    let shape = Shape::of(&ws, &target.name, config_path)?;
    let desired_state = desired::state(&ws, &ws.effective(as_of), &shape)?;
    let mut notes = Vec::new();
    let tip = super::branch_tip(repo, &target.approved_branch)?;
    if tip != oid {
        match superseded(repo, tip, config_path, &target.name, as_of, &desired_state) {
            Ok(None) => notes.push(format!(
                "commit {} is behind the tip {} of `{}`, which renders the same desired state for `{}`",
                gitops::short(oid),
                gitops::short(tip),
                target.approved_branch,
                target.name
            )),
            Ok(Some(why)) | Err(why) if !o.allow_superseded => {
                return Err(Refused::new(format!(
                    "superseded plan: commit {} is no longer the tip of `{}` (now {}), and {why}; \
                     apply the plan of the tip instead (or pass --allow-superseded)",
                    gitops::short(oid),
                    target.approved_branch,
                    gitops::short(tip),
                ))
                .into());
            }
            Ok(Some(why)) | Err(why) => notes.push(format!(
                "applying a superseded plan (--allow-superseded): {} is behind {}, and {why}",
                gitops::short(oid),
                gitops::short(tip)
            )),
        }
    }
    let bad = validate::check(
        &plan.script,
        &shape.delta_rules(&plan.scope, target.transaction),
    );
    if !bad.is_empty() {
        let list: Vec<String> = bad.iter().map(ToString::to_string).collect();
        return Err(Refused::new(format!(
            "the script contains commands blockops never sends:\n  {}",
            list.join("\n  ")
        ))
        .into());
    }
    let connect = ConnectOptions::for_target(&target, repo_root, o.accept_new_host_key)?;
    let delta = desired::delta_options(&shape, &target, &plan.scope);
    Ok(Verified {
        plan,
        path: path.to_path_buf(),
        target,
        ws,
        shape,
        desired: desired_state,
        delta,
        connect,
        notes,
    })
}

/// Why the tip supersedes the plan's commit for `target` (`None`: it renders the same
/// desired state, so applying the plan brings the device to the tip's state anyway).
fn superseded(
    repo: &Repository,
    tip: Oid,
    config_path: &str,
    target: &str,
    as_of: time::Date,
    planned: &State,
) -> Result<Option<String>, String> {
    let ws = desired::load_at(repo, tip, config_path).map_err(|e| {
        format!(
            "the tip cannot be rendered ({})",
            crate::error::render_chain(&e)
        )
    })?;
    let Ok(shape) = Shape::of(&ws, target, config_path) else {
        return Ok(Some(format!(
            "the tip no longer configures target `{target}`"
        )));
    };
    let at_tip = desired::state(&ws, &ws.effective(as_of), &shape).map_err(|e| {
        format!(
            "the tip cannot be rendered ({})",
            crate::error::render_chain(&e)
        )
    })?;
    Ok((at_tip != *planned).then(|| {
        let d = at_tip.drift(planned);
        format!(
            "the tip renders a different desired state for `{target}` ({} object(s) differ)",
            d.len()
        )
    }))
}
