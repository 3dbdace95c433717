//! `blockops sim …`: run a simulator standalone (for trying things and for users' own CI).
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;

use crate::config::Dur;
use crate::error::Outcome;
use crate::sim::cybereason::{self, CybereasonSim, Fixture, SimConfig};

/// Which simulator to run.
#[derive(Debug, clap::Subcommand)]
pub enum SimCommand {
    /// Cybereason REST API simulator (plain HTTP).
    Cybereason(CybereasonArgs),
}

/// Options of `blockops sim cybereason`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Default credentials: user `api@blockops.example`, password `blockops-sim` \
(test credentials, not secrets). The listening URL is printed on stdout; stop with Ctrl-C. \
Fixture format: docs/cybereason-sim.md. Plain HTTP only (no TLS)."
)]
pub struct CybereasonArgs {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,
    /// Fixture YAML (default: the shipped fixture).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Accepted user name.
    #[arg(long, default_value = cybereason::DEFAULT_USER)]
    pub user: String,
    /// Accepted password.
    #[arg(long, default_value = cybereason::DEFAULT_PASSWORD, env = "BLOCKOPS_SIM_PASSWORD", hide_env_values = true)]
    pub password: String,
    /// Idle session lifetime (e.g. 30s, 8h).
    #[arg(long, default_value = "8h")]
    pub session_ttl: Dur,
    /// Do not return the extra row beyond `totalResultLimit` (the real server does).
    #[arg(long)]
    pub no_extra_row: bool,
}

/// Run a simulator until interrupted.
pub fn run(_ctx: &super::Ctx, cmd: SimCommand) -> anyhow::Result<Outcome> {
    match cmd {
        SimCommand::Cybereason(a) => run_cybereason(a),
    }
}

fn run_cybereason(a: CybereasonArgs) -> anyhow::Result<Outcome> {
    let fixture = match &a.data {
        Some(p) => {
            let text =
                std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
            Fixture::parse(&text).with_context(|| p.display().to_string())?
        }
        None => Fixture::parse(cybereason::DEFAULT_FIXTURE).context("shipped default fixture")?,
    };
    let cfg = SimConfig {
        fixture,
        username: a.user,
        password: a.password,
        session_ttl: a.session_ttl.0,
        plus_one_quirk: !a.no_extra_row,
        listen: a.listen,
    };
    let handle = CybereasonSim::spawn(cfg)?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", handle.url())?;
    out.flush()?;
    drop(out);
    tracing::info!("Cybereason simulator listening on {}", handle.url());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(wait_for_signal());
    handle.shutdown();
    Ok(Outcome::Ok)
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        let term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate());
        match term {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
