//! The device session of `apply`, in the order that keeps a device safe (`docs/plan-file.md`):
//! take the device lock, connect (host key verified), probe the session (scope, FortiManager,
//! limits) and refuse a plan written for another scope, read the managed state, refuse a
//! stale plan, recompute the delta and refuse a script that differs from it, check capacity,
//! write the backup, push (`plan::push`: line by line, or pipelined inside a transaction),
//! read back and compare with the desired state.
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use serde::Serialize;

use crate::error::Refused;
use crate::fortios::model::Other;
use crate::progress::DeviceProgress;

use super::desired::{self, Skipped};
use super::device::Device;
use super::verify::Verified;
use super::{delta, lock, push};

/// Where files go and how long to wait for another apply on the same device.
#[derive(Debug, Clone)]
pub struct ApplyOptions {
    /// Verify everything against the device, change nothing.
    pub dry_run: bool,
    /// Backups and transcripts (default: next to the plan file).
    pub log_dir: Option<PathBuf>,
    /// Device locks (`plan::lock::lock_dir`).
    pub lock_dir: PathBuf,
    /// Longest wait for another apply on the same device (zero: refuse at once).
    pub lock_wait: Duration,
}

/// What happened on one device, as far as it got (filled in while applying).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Info {
    /// Script lines the device accepted.
    pub lines_applied: usize,
    /// Differences between the device read back and the desired state (`null`: not read back).
    pub drift: Option<usize>,
    /// Backup of the managed objects, written before any change.
    pub backup: Option<String>,
    /// Session transcript.
    pub transcript: Option<String>,
    /// Look-alike objects on the device, left alone.
    #[serde(skip)]
    pub left_alone: Vec<Other>,
    /// Desired objects not created because the device holds the name for someone else.
    #[serde(skip)]
    pub skipped: Vec<Skipped>,
}

fn stamp() -> String {
    let fmt = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    time::OffsetDateTime::now_utc()
        .format(&fmt)
        .unwrap_or_default()
}

/// Apply a verified plan to its device. `notify` receives lines for the operator (waiting for
/// the lock, host-key notices). Returns what was done, one sentence.
pub async fn run(
    v: &Verified,
    o: &ApplyOptions,
    info: &mut Info,
    progress: &DeviceProgress,
    notify: &(dyn Fn(String) + Sync),
) -> anyhow::Result<String> {
    let t = &v.target;
    let log_dir = o.log_dir.clone().unwrap_or_else(|| {
        v.path
            .parent()
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("."))
    });
    let lock_path = lock::lock_path(&o.lock_dir, t);
    let note = format!(
        "apply {} (target {}, commit {})",
        v.path.display(),
        t.name,
        &v.plan.commit[..12.min(v.plan.commit.len())]
    );
    progress.phase("waiting for the device lock");
    let device = lock::device_key(t);
    let _lock = lock::acquire(&lock_path, o.lock_wait, &note, |holder| {
        notify(format!(
            "{}: waiting for another blockops apply on {device} to finish ({holder})",
            t.name
        ))
    })
    .await
    .with_context(|| format!("device {device}"))?;
    progress.phase("connecting");
    let mut dev = Device::open(&v.connect, t).await?;
    if dev.facts.scope != v.plan.scope {
        let why = format!(
            "the plan's script was written for {}, but this session is {}; make a new plan",
            v.plan.scope.describe(),
            dev.facts.scope.describe()
        );
        dev.close().await;
        return Err(Refused::new(why).into());
    }
    if let Some(n) = dev.session.notice.take() {
        notify(format!("note: {n}"));
    }
    let ts = stamp();
    let transcript_path = log_dir.join(format!("{}-{ts}.transcript.log", t.name));
    let result = session(v, o, &mut dev, &log_dir, &ts, info, progress).await;
    let transcript = dev.close().await;
    let written = crate::atomic::write(&transcript_path, transcript.as_bytes());
    if written.is_ok() {
        info.transcript = Some(transcript_path.display().to_string());
    }
    let msg = result?;
    written.with_context(|| format!("writing the transcript {}", transcript_path.display()))?;
    Ok(format!("{msg} (transcript {})", transcript_path.display()))
}

async fn session(
    v: &Verified,
    o: &ApplyOptions,
    dev: &mut Device,
    log_dir: &std::path::Path,
    ts: &str,
    info: &mut Info,
    progress: &DeviceProgress,
) -> anyhow::Result<String> {
    let t = &v.target;
    let shape = &v.shape;
    progress.phase("reading the managed objects");
    let (current, backup, holdings) = dev.read(&shape.owner, &shape.fields).await?;
    info.left_alone = current.others.clone();
    let now = current.sha256();
    let planned = &v.plan.device_state_sha256;
    if now != *planned {
        return Err(Refused::new(format!(
            "stale plan: device changed since plan (managed state sha256 {} now, {} when planned); make a new plan",
            &now[..12],
            &planned[..12.min(planned.len())]
        ))
        .into());
    }
    let eff = v.ws.effective(v.plan.as_of_date()?);
    let (want, skipped) = desired::for_device(&v.ws, &eff, shape, &v.desired, &current)?;
    info.skipped = skipped;
    let again = delta::compute(&current, &want, &v.delta);
    if again.script != v.plan.script {
        return Err(Refused::new(format!(
            "the plan's script is not what commit {} produces for the device's current state; make a new plan",
            &v.plan.commit[..12.min(v.plan.commit.len())]
        ))
        .into());
    }
    super::check_capacity(
        &t.name,
        &v.plan.script,
        &holdings,
        &dev.facts.globals.limits,
        super::make::capacity_conf(t, shape),
        &dev.facts.scope,
    )?;
    let backup_path = log_dir.join(format!("{}-{ts}.backup.conf", t.name));
    crate::atomic::write(&backup_path, backup.as_bytes()).with_context(|| {
        format!(
            "writing the backup {}; nothing was changed",
            backup_path.display()
        )
    })?;
    info.backup = Some(backup_path.display().to_string());
    if o.dry_run {
        return Ok(format!(
            "dry run: plan verified against the device, {} lines would be sent (backup {})",
            v.plan.line_count(),
            backup_path.display()
        ));
    }
    progress.lines(v.plan.line_count());
    let on_line = |done: usize, _total: usize| progress.set(done);
    let report = push::push_with_progress(
        &mut dev.session,
        &v.plan.script,
        &push::PushOptions::for_target(t),
        &on_line,
    )
    .await;
    progress.phase("reading back");
    info.lines_applied = report.applied();
    if !report.ok() {
        bail!("{} (backup {})", report.describe(), backup_path.display());
    }
    let (after, _, _) = dev
        .read(&shape.owner, &shape.fields)
        .await
        .context("reading the device back")?;
    let drift = after.drift(&want);
    info.drift = Some(drift.len());
    if !drift.is_empty() {
        bail!(
            "the script was applied but the device does not match the desired state ({} differences):\n  {}",
            drift.len(),
            drift
                .iter()
                .take(20)
                .cloned()
                .collect::<Vec<_>>()
                .join("\n  ")
        );
    }
    Ok(format!(
        "{}; device matches commit {}",
        report.describe(),
        &v.plan.commit[..12.min(v.plan.commit.len())]
    ))
}
