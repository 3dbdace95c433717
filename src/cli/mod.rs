//! Command-line definitions (clap) and one function per command.
use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

use crate::error::Outcome;

pub mod apply;
pub mod plan;

/// blockops: Cybereason EDR indicators → YAML blocklist in git → FortiOS, reviewed and pushed safely.
#[derive(Debug, Parser)]
#[command(name = "blockops", version, about, long_about = None)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes.
#[derive(Debug, Clone, clap::Args)]
pub struct Global {
    /// Configuration file (relative to --repo).
    #[arg(long, global = true, default_value = crate::config::DEFAULT_PATH, env = "BLOCKOPS_CONFIG")]
    pub config: PathBuf,
    /// Repository root.
    #[arg(long, global = true, default_value = ".", env = "BLOCKOPS_REPO")]
    pub repo: PathBuf,
    /// More output (-v, -vv).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Only errors.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// Colour output.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Read the device's managed objects and write a plan with the minimal delta script.
    Plan(plan::PlanArgs),
    /// Verify an approved plan and push it to the device.
    Apply(apply::ApplyArgs),
}

/// Run a parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<Outcome> {
    match cli.command {
        Command::Plan(a) => plan::run(&cli.global, a),
        Command::Apply(a) => apply::run(&cli.global, a),
    }
}
