//! `blockops pull` (placeholder until the merge lands).
use super::Global;
use crate::error::Outcome;

/// Options of `blockops pull`.
#[derive(Debug, clap::Args)]
pub struct PullArgs {}

pub fn run(_g: &Global, _a: PullArgs) -> anyhow::Result<Outcome> {
    anyhow::bail!("not yet")
}

pub(crate) fn init_tracing(_g: &Global) {}
