//! Command-line definitions (clap) and one function per command.
mod check;
mod demo;
mod diff;
mod doctor;
mod explain;
mod fmt;
mod render;
mod sim;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::{Parser, Subcommand, ValueEnum};

use crate::diag::Diagnostics;
use crate::error::Outcome;
use crate::gitops;
use crate::workspace::Workspace;

pub mod apply;
pub mod plan;
pub mod pull;

/// blockops: Cybereason EDR indicators → YAML blocklist in git → FortiOS, reviewed and pushed safely.
#[derive(Debug, Parser)]
#[command(name = "blockops", version, about, long_about = None, max_term_width = 100)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes.
#[derive(Debug, Clone, clap::Args)]
pub struct Global {
    /// Configuration file, relative to --repo.
    #[arg(long, global = true, default_value = crate::config::DEFAULT_PATH, env = "BLOCKOPS_CONFIG")]
    pub config: PathBuf,
    /// Repository root.
    #[arg(long, global = true, default_value = ".", env = "BLOCKOPS_REPO")]
    pub repo: PathBuf,
    /// More log output on stderr (-v info, -vv debug).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Print errors only.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Colour output.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
}

/// When to colour output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

/// Output formats shared by several commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Pull indicators from Cybereason into the blocklist file.
    #[command(
        after_help = "Examples:\n  blockops pull --dry-run\n  blockops pull --commit\n  blockops pull --since 7d --format json"
    )]
    Pull(pull::PullArgs),
    /// Validate config, blocklists, allowlist, templates and device limits; list every problem.
    #[command(
        after_help = "Examples:\n  blockops check\n  blockops check --format json\n  blockops check --rev HEAD~1"
    )]
    Check(check::Args),
    /// Rewrite blocklist files in canonical form (or, with --check, fail if they are not).
    #[command(after_help = "Examples:\n  blockops fmt\n  blockops fmt --check")]
    Fmt(fmt::Args),
    /// Render the full desired-state FortiOS script per target (or threat-feed files).
    #[command(
        after_help = "Examples:\n  blockops render\n  blockops render --target fw-edge-1 --out build/\n  blockops render --rev HEAD~1 --format feed --out feeds/"
    )]
    Render(render::Args),
    /// Indicator-level and script-level diff between two revisions.
    #[command(
        after_help = "Examples:\n  blockops diff                       # HEAD~1 -> HEAD\n  blockops diff --head WORKTREE       # uncommitted changes vs HEAD\n  blockops diff --base origin/main --format markdown --exit-code"
    )]
    Diff(diff::Args),
    /// Read-only preflight: config and files, Cybereason (reachability, TLS, login, sources) and
    /// every target (host key, login, scope, FortiManager, limits, groups, deny policies).
    #[command(
        after_help = "Examples:\n  blockops doctor\n  blockops doctor --target fw1 --format json\n  blockops doctor --strict --transcripts doctor-logs/\n\nExit status: 0 when no check failed (warnings pass unless --strict), 1 otherwise."
    )]
    Doctor(doctor::Args),
    /// Read the device's managed objects and write a plan with the minimal delta script.
    #[command(
        after_help = "Examples:\n  blockops plan --target fw1\n  blockops plan --all --out plans/ --detailed-exitcode\n  blockops plan --target fw1 --offline-base origin/main --out preview.json\n  blockops plan --all --format json > plan-report.json"
    )]
    Plan(plan::PlanArgs),
    /// Verify an approved plan and push it to the device.
    #[command(
        after_help = "Examples:\n  blockops apply plans/fw1.plan.json\n  blockops apply plans/ --yes --jobs 4\n  blockops apply plans/ --yes --format json > apply-report.json"
    )]
    Apply(apply::ApplyArgs),
    /// Why is VALUE blocked or not: file and entry, guardrail or allowlist rule, targets and groups.
    #[command(
        after_help = "Examples:\n  blockops explain 203.0.113.7\n  blockops explain c2.evil.example --format json"
    )]
    Explain(explain::Args),
    /// Run the whole pipeline against built-in simulators (nothing external needed).
    #[command(
        after_help = "Examples:\n  blockops demo\n  blockops demo --dir /tmp/blockops-demo   # keep the repository to look around"
    )]
    Demo(demo::Args),
    /// Run a simulator (Cybereason REST API, FortiGate over SSH) for tests, demos and CI.
    #[command(subcommand)]
    Sim(sim::SimCommand),
    /// Print shell completions.
    #[command(
        after_help = "Examples:\n  blockops completions bash > /etc/bash_completion.d/blockops\n  blockops completions zsh > \"${fpath[1]}/_blockops\""
    )]
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

/// Run a parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<Outcome> {
    init_logging(&cli.global);
    let ctx = Ctx::new(cli.global);
    match cli.command {
        Command::Check(a) => check::run(&ctx, a),
        Command::Fmt(a) => fmt::run(&ctx, a),
        Command::Render(a) => render::run(&ctx, a),
        Command::Diff(a) => diff::run(&ctx, a),
        Command::Doctor(a) => doctor::run(&ctx, a),
        Command::Plan(a) => plan::run(&ctx, a),
        Command::Apply(a) => apply::run(&ctx, a),
        Command::Explain(a) => explain::run(&ctx, a),
        Command::Demo(a) => demo::run(&ctx, a),
        Command::Completions { shell } => {
            use clap::CommandFactory;
            let mut cmd = Cli::command();
            clap_complete::generate(shell, &mut cmd, "blockops", &mut std::io::stdout());
            Ok(Outcome::Ok)
        }
        Command::Pull(a) => pull::run(&ctx, a),
        Command::Sim(c) => sim::run(&ctx, c),
    }
}

fn init_logging(g: &Global) {
    let level = match (g.quiet, g.verbose) {
        (true, _) => "error",
        (_, 0) => "warn",
        (_, 1) => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("BLOCKOPS_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("blockops={level}")));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal() && g.color != ColorChoice::Never)
        .without_time()
        .with_target(false)
        .try_init();
}

/// What every command needs: where the repository is, its configuration and how to talk to
/// the user.
pub struct Ctx {
    pub global: Global,
    config: std::sync::OnceLock<crate::config::Config>,
}

impl Ctx {
    pub fn new(global: Global) -> Ctx {
        Ctx {
            global,
            config: std::sync::OnceLock::new(),
        }
    }

    /// The work tree's configuration (`--config`), loaded once with the loader every command
    /// and every revision uses (`workspace::load_config`).
    pub fn config(&self) -> anyhow::Result<&crate::config::Config> {
        if let Some(c) = self.config.get() {
            return Ok(c);
        }
        let src = gitops::WorktreeSource {
            root: self.root().to_path_buf(),
        };
        let c = crate::workspace::load_config(&src, &self.config_rel())
            .map_err(|d| diag_error(d, "WORKTREE"))?;
        Ok(self.config.get_or_init(|| c))
    }

    /// Repository root.
    pub fn root(&self) -> &Path {
        &self.global.repo
    }

    /// Config path relative to the root, `/`-separated (as stored in git).
    pub fn config_rel(&self) -> String {
        self.global.config.to_string_lossy().replace('\\', "/")
    }

    /// Colour stdout?
    pub fn color(&self) -> bool {
        match self.global.color {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
            }
        }
    }

    /// Print a line on stderr unless --quiet.
    pub fn note(&self, msg: impl AsRef<str>) {
        if !self.global.quiet {
            eprintln!("{}", msg.as_ref());
        }
    }

    /// The git repository, when there is one.
    pub fn repo(&self) -> Option<git2::Repository> {
        gitops::open(self.root()).ok()
    }

    /// Load the workspace at `rev` (`WORKTREE` = files on disk), strictly.
    pub fn load(&self, repo: Option<&git2::Repository>, rev: &str) -> anyhow::Result<Workspace> {
        let src = gitops::source_for(repo, self.root(), rev)?;
        Workspace::load(src.as_dyn(), &self.config_rel()).map_err(|d| diag_error(d, rev))
    }
}

/// Turn load problems into one error listing them all.
pub fn diag_error(d: Diagnostics, rev: &str) -> anyhow::Error {
    let at = if rev == "WORKTREE" {
        String::new()
    } else {
        format!(" at {rev}")
    };
    let n = d.errors().count();
    anyhow::anyhow!("{n} problem(s) in the repository{at}:\n{d}")
}

/// Write `text` to stdout (a closed pipe is not an error).
pub fn print(text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        r => r.context("writing to stdout"),
    }
}
