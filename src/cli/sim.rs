//! `blockops sim ...`: run the simulators (for tests, the demo and users' CI).
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::Subcommand;

use super::Ctx;
use crate::config::Dur;
use crate::error::Outcome;
use crate::secret::Secret;
use crate::sim::cybereason::{
    self, CybereasonSim, DomainForm, FailedLogin, Fixture, NullForm, Quirks, SimConfig,
};
use crate::sim::fortigate::{
    self, AccessProfile, AdminOptions, Denial, FortiSim, Fortimanager, Limits, Profile, SimOptions,
    TxnOnError, TxnOptions,
};

/// Which simulator to run.
#[derive(Debug, Subcommand)]
pub enum SimCommand {
    /// Cybereason REST API simulator (plain HTTP, or HTTPS with --tls).
    #[command(
        after_help = "Default credentials: user `api@blockops.example`, password `blockops-sim` \
(test credentials, not secrets; change with --user/--password or BLOCKOPS_SIM_PASSWORD). Prints the \
base URL on stdout, then serves until interrupted. Without --data the shipped fixture \
(fixtures/cybereason/default.yaml) is served; fixture format and the public source of every quirk \
switch: docs/cybereason-sim.md.\n\nExamples:\n  \
blockops sim cybereason --listen 127.0.0.1:8443\n  \
blockops sim cybereason --listen 127.0.0.1:0 --data fixture.yaml --session-ttl 30s\n  \
blockops sim cybereason --string-booleans --element-values-null null-string --domain-form dns-query-element"
    )]
    Cybereason(Box<CybereasonArgs>),
    /// FortiGate (FortiOS 7.x CLI over SSH) simulator.
    #[command(
        after_help = "Default login: user `admin`, password `admin` (change with --user/--password or \
BLOCKOPS_SIM_PASSWORD). Prints `listening on ADDR` and `host key SHA256:...` on stdout, then serves \
until interrupted.\n\nExamples:\n  blockops sim fortigate --listen 127.0.0.1:2222\n  \
blockops sim fortigate --listen 127.0.0.1:0 --vdom-mode --state fgt.json --authorized-key ~/.ssh/id_ed25519.pub\n  \
blockops sim fortigate --vdom-mode --admin-profile firewall-objects --admin-vdom edge --latency 5ms\n  \
ssh -p 2222 admin@127.0.0.1\n\nBehaviour, sources and every switch: docs/fortigate-sim.md."
    )]
    Fortigate(Box<FortigateArgs>),
    /// TCP proxy adding a fixed one-way delay in each direction (emulates a slow link).
    #[command(
        after_help = "Prints `listening on ADDR` on stdout, then forwards every connection to --upstream until \
interrupted. A round trip through the proxy gains twice --delay.\n\nExamples:\n  \
blockops sim proxy --listen 127.0.0.1:2223 --upstream 127.0.0.1:2222 --delay 2.5ms\n  \
ssh -p 2223 admin@127.0.0.1"
    )]
    Proxy(ProxyArgs),
}

/// Flags of `blockops sim proxy`.
#[derive(Debug, clap::Args)]
pub struct ProxyArgs {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,
    /// Where to forward each connection.
    #[arg(long)]
    pub upstream: SocketAddr,
    /// One-way delay added in each direction (e.g. 2.5ms, 500us, 0).
    #[arg(long, default_value = "0", value_parser = crate::sim::proxy::parse_delay)]
    pub delay: std::time::Duration,
}

/// Flags of `blockops sim cybereason`.
#[derive(Debug, clap::Args)]
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
    #[arg(long, env = "BLOCKOPS_SIM_PASSWORD", default_value = cybereason::DEFAULT_PASSWORD, hide_env_values = true)]
    pub password: String,
    /// Idle session lifetime (e.g. 30s, 8h).
    #[arg(long, default_value = "8h")]
    pub session_ttl: Dur,
    /// Do not return the extra row beyond `totalResultLimit` (the real server does).
    #[arg(long)]
    pub no_extra_row: bool,
    /// Serve HTTPS with a self-signed certificate generated at start (the real server is HTTPS).
    #[arg(long)]
    pub tls: bool,
    /// With --tls: write the certificate (PEM) here, for `cybereason.ca_cert` or `curl --cacert`.
    #[arg(long, value_name = "FILE", requires = "tls")]
    pub cert_out: Option<PathBuf>,
    /// Element-level flags, `queryTerminated` and `hidePartialSuccess` as "true"/"false" strings.
    #[arg(long, help_heading = "Real-server quirks")]
    pub string_booleans: bool,
    /// Nested `elementValues` of secondary features: a list, JSON null or the string "null".
    #[arg(
        long,
        value_enum,
        default_value = "list",
        help_heading = "Real-server quirks"
    )]
    pub element_values_null: NullForm,
    /// Absent values as "None"/"null" strings.
    #[arg(long, help_heading = "Real-server quirks")]
    pub none_strings: bool,
    /// Numbers (totalValues, counts, times) as strings.
    #[arg(long, help_heading = "Real-server quirks")]
    pub numbers_as_strings: bool,
    /// `values: []` with `totalValues: 1` on secondary simple features.
    #[arg(long, help_heading = "Real-server quirks")]
    pub empty_values: bool,
    /// A trailing NUL (\u0000) on every simpleValues string.
    #[arg(long, help_heading = "Real-server quirks")]
    pub nul_padding: bool,
    /// Where a Connection carries its domain.
    #[arg(
        long,
        value_enum,
        default_value = "all",
        help_heading = "Real-server quirks"
    )]
    pub domain_form: DomainForm,
    /// How a rejected password is answered.
    #[arg(
        long,
        value_enum,
        default_value = "redirect-error",
        help_heading = "Real-server quirks"
    )]
    pub failed_login: FailedLogin,
    /// Extra 302 hops in the successful login chain.
    #[arg(long, default_value_t = 0, help_heading = "Real-server quirks")]
    pub login_redirect_hops: u8,
    /// Ask for a two-factor code after the password (`POST /` with totpCode, submit=Login).
    #[arg(long, help_heading = "Real-server quirks")]
    pub two_factor: bool,
    /// The two-factor code accepted with --two-factor (a test value).
    #[arg(long, default_value = cybereason::DEFAULT_TOTP_CODE, help_heading = "Real-server quirks")]
    pub totp_code: String,
    /// Redirect every login to the password-reset page (an expired password).
    #[arg(long, help_heading = "Real-server quirks")]
    pub expired_password: bool,
    /// Seconds in a `Retry-After` header on 429 answers.
    #[arg(long, value_name = "SECS", help_heading = "Real-server quirks")]
    pub retry_after: Option<u64>,
    /// Added to every response (e.g. 50ms).
    #[arg(long, default_value = "0s", help_heading = "Real-server quirks")]
    pub latency: Dur,
}

/// Flags of `blockops sim fortigate`.
#[derive(Debug, clap::Args)]
pub struct FortigateArgs {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:2222")]
    pub listen: SocketAddr,
    /// Hostname shown in prompts and `get system status`.
    #[arg(long, default_value = "FGT")]
    pub hostname: String,
    /// Multi-VDOM mode (`config vdom` / `config global`).
    #[arg(long)]
    pub vdom_mode: bool,
    /// JSON state file: loaded when present, rewritten after every change.
    #[arg(long)]
    pub state: Option<PathBuf>,
    /// Login name.
    #[arg(long, default_value = fortigate::DEFAULT_USER)]
    pub user: String,
    /// Password for --user.
    #[arg(long, env = "BLOCKOPS_SIM_PASSWORD", default_value = fortigate::DEFAULT_PASSWORD, hide_default_value = true, hide_env_values = true)]
    pub password: String,
    /// Disable password authentication (public keys only).
    #[arg(long)]
    pub no_password: bool,
    /// OpenSSH public key file(s) accepted for --user (repeatable; one key per line).
    #[arg(long = "authorized-key")]
    pub authorized_keys: Vec<PathBuf>,
    /// OpenSSH private host key (default: an ephemeral ed25519 key).
    #[arg(long)]
    pub host_key: Option<PathBuf>,
    /// Post-login banner; the shell then waits for `a` after `(Press 'a' to accept):`.
    #[arg(long)]
    pub banner: Option<String>,
    /// Longest entry name.
    #[arg(long, default_value_t = Limits::default().name_length)]
    pub name_length: usize,
    /// Most members per address group.
    #[arg(long, default_value_t = Limits::default().max_members)]
    pub max_members: usize,
    /// Most entries per table and VDOM (`print tablesize`, per-VDOM column).
    #[arg(long, default_value_t = Limits::default().max_entries)]
    pub max_entries: usize,
    /// Most entries per table over all VDOMs (`print tablesize`, global column; 0 = none).
    #[arg(long, default_value_t = Limits::default().max_entries_global)]
    pub max_entries_global: usize,
    /// Page length of the `--More--` pager (default: the client's terminal height, or 24).
    #[arg(long)]
    pub page_lines: Option<usize>,
    /// `Version:` line of `get system status`.
    #[arg(long, default_value = "FortiGate-VM64 v7.4.8,build2795,250523 (GA.M)")]
    pub version_string: String,
    /// Access profile of --user: `super_admin`, `firewall-objects` (address read-write only)
    /// or `read-only`.
    #[arg(long, value_parser = parse_profile, default_value = "super_admin")]
    pub admin_profile: AccessProfile,
    /// Make --user a VDOM-scoped administrator of this VDOM (needs --vdom-mode and a
    /// restricted profile): it lands in the VDOM, `config global`/`config vdom` do not exist.
    #[arg(long, value_name = "VDOM")]
    pub admin_vdom: Option<String>,
    /// Let a restricted profile run `execute …` (7.4.2+ `cli-exec enable`; off on new profiles).
    #[arg(long)]
    pub admin_cli_exec: bool,
    /// Let a restricted profile run `diagnose …` (7.4.2+ `cli-diagnose enable`).
    #[arg(long)]
    pub admin_cli_diagnose: bool,
    /// `get/show system <x>` a profile without system access may still run (comma-separated:
    /// status, console, central-management, resource-limits, vdom-property).
    #[arg(long, value_delimiter = ',', default_value = "status,console")]
    pub admin_may_read: Vec<String>,
    /// How refused commands read: `permission` (`Permission denied` -37 / `… Insufficient
    /// privileges` -14) or `parse-error` (`command parse error before '<word>'` -61).
    #[arg(long, value_parser = ["permission", "parse-error"], default_value = "permission")]
    pub denial: String,
    /// Start without FortiOS' factory objects (`all`, `none`, `FABRIC_DEVICE`, …).
    #[arg(long)]
    pub no_default_objects: bool,
    /// Delay before each command's reply (e.g. 5ms), to measure apply times realistically.
    #[arg(long, default_value = "0s")]
    pub latency: Dur,
    /// Input bytes buffered while the CLI is busy; more are dropped, like large pastes on a
    /// real unit (default: no limit).
    #[arg(long, value_name = "BYTES")]
    pub typeahead_limit: Option<usize>,
    /// Length of one minute of the `execute config-transaction` idle timeout (shorten for tests).
    #[arg(long, default_value = "1m")]
    pub transaction_minute: Dur,
    /// What a failing line inside a transaction does: `continue` (reported, transaction stays
    /// open) or `abort` (the transaction is discarded).
    #[arg(long, value_parser = ["continue", "abort"], default_value = "continue")]
    pub transaction_on_error: String,
    /// Release a transaction's object locks at disconnect instead of at its idle timeout.
    #[arg(long)]
    pub transaction_locks_end_with_session: bool,
    /// Play a FortiManager-managed unit (`central-management` type fortimanager, this `fmg`).
    #[arg(long, value_name = "ADDRESS")]
    pub fortimanager: Option<String>,
    /// With --fortimanager: `mode backup` instead of `normal`.
    #[arg(long, requires = "fortimanager")]
    pub fmg_backup_mode: bool,
}

fn parse_profile(s: &str) -> Result<AccessProfile, String> {
    AccessProfile::parse(s)
        .ok_or_else(|| format!("`{s}`: expected super_admin, firewall-objects or read-only"))
}

/// Run a simulator until interrupted.
pub fn run(_ctx: &Ctx, cmd: SimCommand) -> anyhow::Result<Outcome> {
    match cmd {
        SimCommand::Cybereason(a) => run_cybereason(*a),
        SimCommand::Fortigate(a) => run_fortigate(*a),
        SimCommand::Proxy(a) => run_proxy(a),
    }
}

fn run_proxy(a: ProxyArgs) -> anyhow::Result<Outcome> {
    let cfg = crate::sim::proxy::ProxyConfig {
        listen: a.listen,
        delay: a.delay,
        ..crate::sim::proxy::ProxyConfig::new(a.upstream)
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(async move {
        let (addr, task) = crate::sim::proxy::run(cfg)
            .await
            .with_context(|| format!("listening on {}", a.listen))?;
        println!("listening on {addr}");
        use std::io::Write as _;
        let _ = std::io::stdout().flush();
        wait_for_signal().await;
        task.abort();
        anyhow::Ok(())
    })?;
    Ok(Outcome::Ok)
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
        totp_code: a.totp_code,
        session_ttl: a.session_ttl.0,
        plus_one_quirk: !a.no_extra_row,
        listen: a.listen,
        tls: a.tls,
        quirks: Quirks {
            string_booleans: a.string_booleans,
            element_values_null: a.element_values_null,
            none_strings: a.none_strings,
            numbers_as_strings: a.numbers_as_strings,
            empty_values: a.empty_values,
            nul_padding: a.nul_padding,
            domain_form: a.domain_form,
            failed_login: a.failed_login,
            login_redirect_hops: a.login_redirect_hops,
            two_factor: a.two_factor,
            expired_password: a.expired_password,
            retry_after: a.retry_after,
            latency: a.latency.0,
        },
    };
    let handle = CybereasonSim::spawn(cfg)?;
    if let (Some(path), Some(pem)) = (&a.cert_out, &handle.cert_pem) {
        crate::atomic::write(path, pem.as_bytes())?;
        tracing::info!("certificate written to {}", path.display());
    }
    println!("{}", handle.url());
    use std::io::Write as _;
    let _ = std::io::stdout().flush();
    tracing::info!("Cybereason simulator listening on {}", handle.url());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(wait_for_signal());
    handle.shutdown();
    Ok(Outcome::Ok)
}

fn run_fortigate(a: FortigateArgs) -> anyhow::Result<Outcome> {
    let mut authorized_keys = Vec::new();
    for path in &a.authorized_keys {
        authorized_keys.extend(read_authorized_keys(path)?);
    }
    let host_key = match &a.host_key {
        Some(p) => Some(
            russh::keys::load_secret_key(p, None)
                .with_context(|| format!("loading host key {}", p.display()))?,
        ),
        None => None,
    };
    let opts = SimOptions {
        listen: a.listen,
        profile: Profile {
            hostname: a.hostname,
            vdom_mode: a.vdom_mode,
            limits: Limits {
                name_length: a.name_length,
                max_members: a.max_members,
                max_entries: a.max_entries,
                max_entries_global: a.max_entries_global,
            },
            version: a.version_string,
            ..Profile::default()
        },
        state_file: a.state,
        initial_state: None,
        user: a.user,
        password: if a.no_password {
            None
        } else {
            Some(Secret::new(a.password))
        },
        authorized_keys,
        host_key,
        banner: a.banner,
        page_lines: a.page_lines,
        admin: AdminOptions {
            profile: a.admin_profile,
            vdom: a.admin_vdom,
            cli_exec: a.admin_cli_exec.then_some(true),
            cli_diagnose: a.admin_cli_diagnose.then_some(true),
            system_reads: a.admin_may_read.into_iter().collect(),
            denial: if a.denial == "parse-error" {
                Denial::ParseError
            } else {
                Denial::Permission
            },
        },
        default_objects: !a.no_default_objects,
        latency: a.latency.0,
        typeahead_limit: a.typeahead_limit,
        transactions: TxnOptions {
            minute: a.transaction_minute.0,
            on_error: if a.transaction_on_error == "abort" {
                TxnOnError::Abort
            } else {
                TxnOnError::Continue
            },
            locks_survive_disconnect: !a.transaction_locks_end_with_session,
        },
        fortimanager: a.fortimanager.map(|address| Fortimanager {
            address,
            backup_mode: a.fmg_backup_mode,
        }),
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(async move {
        let sim = FortiSim::start(opts).await?;
        println!("listening on {}", sim.addr);
        println!("host key {}", sim.host_key_fingerprint());
        use std::io::Write as _;
        let _ = std::io::stdout().flush();
        wait_for_signal().await;
        sim.shutdown().await
    })?;
    Ok(Outcome::Ok)
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

/// Parse an OpenSSH `authorized_keys`-style file (options prefixes are not supported).
fn read_authorized_keys(path: &Path) -> anyhow::Result<Vec<russh::keys::PublicKey>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .map(|(i, l)| {
            russh::keys::PublicKey::from_openssh(l.trim())
                .with_context(|| format!("{}:{}: not an OpenSSH public key", path.display(), i + 1))
        })
        .collect()
}
