//! A FortiGate (FortiOS 7.x CLI over SSH) simulator for tests, the demo and users' CI: an
//! independent witness of what a real unit does to a pushing client.
//!
//! It plays prompts and the scope stack, the firewall address/group/policy tables with
//! FortiOS's checks and error texts, factory objects, administrators with restricted and
//! VDOM-scoped profiles, console paging, single and multi-VDOM, workspace transactions,
//! capacity limits, FortiManager management, per-command latency and typeahead, and the key
//! exchanges paramiko-based tools need. Sources and the switches for unsettled facts are in
//! docs/fortigate-sim.md. Start it in-process with [`FortiSim::start`] or as `blockops sim
//! fortigate`.
pub mod admin;
pub mod defaults;
pub mod device;
mod edit;
pub mod errors;
pub mod lexer;
mod output;
pub mod schema;
pub mod shell;
pub mod ssh;
pub mod state;
mod system;
pub mod txn;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use russh::keys::{HashAlg, PrivateKey, PublicKey};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use admin::{AccessProfile, AdminOptions, Denial};
pub use device::{Behaviour, Device, Limits, Profile, TxnOnError, TxnOptions};
pub use errors::{CliError, ErrorKind};
pub use shell::{Reply, Shell};
pub use state::{DeviceState, Object, Value};

use crate::secret::Secret;

/// Default login name.
pub const DEFAULT_USER: &str = "admin";
/// Default password (only for the simulator; documented in `--help`).
pub const DEFAULT_PASSWORD: &str = "admin";

/// How to start a simulator.
#[derive(Debug)]
pub struct SimOptions {
    /// Address to listen on (`127.0.0.1:0` picks a free port).
    pub listen: SocketAddr,
    /// Hostname, VDOM mode, limits, version string.
    pub profile: Profile,
    /// State file: loaded at start when it exists, rewritten (atomically) after changes.
    pub state_file: Option<PathBuf>,
    /// Initial configuration (takes precedence over the state file's content).
    pub initial_state: Option<DeviceState>,
    pub user: String,
    /// Password for `user`; `None` disables password authentication.
    pub password: Option<Secret>,
    /// Public keys accepted for `user`.
    pub authorized_keys: Vec<PublicKey>,
    /// Host key; an ephemeral ed25519 key is generated when `None`.
    pub host_key: Option<PrivateKey>,
    /// Post-login banner; when set the shell waits for `a` after `(Press 'a' to accept):`.
    pub banner: Option<String>,
    /// Page length for `--More--` (default: the PTY height, or 24).
    pub page_lines: Option<usize>,
    /// The profile and scope of `user` (default: `super_admin`, global).
    pub admin: AdminOptions,
    /// Start every VDOM with FortiOS' factory objects (`all`, `none`, …) when the simulator
    /// starts from an empty configuration (not from `initial_state` or a state file). Default
    /// on, as on a real unit.
    pub default_objects: bool,
    /// Added before the reply to every command line, like a device's processing time plus the
    /// link's round trip; apply times measured against the simulator then mean something.
    pub latency: Duration,
    /// Input bytes the terminal buffers while busy; bytes beyond are dropped (`None`: no limit).
    pub typeahead_limit: Option<usize>,
    /// `execute config-transaction` behaviour.
    pub transactions: TxnOptions,
    /// Play a FortiManager-managed unit: `config system central-management` with `type
    /// fortimanager` and this `fmg` (applied at start, over any state).
    pub fortimanager: Option<Fortimanager>,
}

/// How a simulated unit is managed by FortiManager.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fortimanager {
    /// The FortiManager's address (`set fmg`).
    pub address: String,
    /// `set mode backup`: FortiManager only stores configurations; local changes are the norm
    /// (Fortinet KB 379625). Otherwise `mode normal`.
    pub backup_mode: bool,
}

impl Default for SimOptions {
    fn default() -> Self {
        SimOptions {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            profile: Profile::default(),
            state_file: None,
            initial_state: None,
            user: DEFAULT_USER.into(),
            password: Some(Secret::new(DEFAULT_PASSWORD)),
            authorized_keys: Vec::new(),
            host_key: None,
            banner: None,
            page_lines: None,
            admin: AdminOptions::default(),
            default_objects: true,
            latency: Duration::ZERO,
            typeahead_limit: None,
            transactions: TxnOptions::default(),
            fortimanager: None,
        }
    }
}

/// An injected per-line failure: a received line containing `pattern` is not executed and
/// answers `message` + `Command fail. Return code <code>` instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailRule {
    pub pattern: String,
    pub code: i32,
    pub message: String,
    /// How many times the rule fires (`None` = always).
    pub times: Option<u32>,
}

/// Injected faults.
#[derive(Debug, Default, Clone)]
struct Faults {
    /// Drop the connection on this global received-line number; `true` = after executing it.
    drop_at: Option<(u64, bool)>,
    rules: Vec<FailRule>,
    /// Wait this long before answering each line.
    reply_delay: Option<std::time::Duration>,
}

/// State shared by every connection of one simulator.
pub struct Inner {
    pub(crate) device: Arc<Device>,
    pub(crate) opts: SimOptions,
    pub(crate) lines_received: AtomicU64,
    faults: Mutex<Faults>,
}

impl Inner {
    /// A new session of the configured administrator.
    pub(crate) fn new_shell(&self) -> Shell {
        Shell::with_admin(
            self.device.clone(),
            self.opts.admin.clone(),
            &self.opts.user,
        )
    }

    /// Injected latency before each reply.
    pub(crate) fn reply_delay(&self) -> Option<std::time::Duration> {
        self.faults
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .reply_delay
    }

    /// The failure to answer for received line number `n`, and whether to drop the connection
    /// (`Some(false)` before executing it, `Some(true)` after).
    pub(crate) fn faults_for(&self, line: &str, n: u64) -> (Option<CliError>, Option<bool>) {
        let mut f = self.faults.lock().unwrap_or_else(|e| e.into_inner());
        let drop = match f.drop_at {
            Some((at, after)) if n >= at => {
                f.drop_at = None;
                Some(after)
            }
            _ => None,
        };
        let mut fail = None;
        if let Some(rule) = f
            .rules
            .iter_mut()
            .find(|r| r.times != Some(0) && line.contains(&r.pattern))
        {
            if let Some(t) = rule.times.as_mut() {
                *t -= 1;
            }
            fail = Some(CliError::custom(&rule.message, rule.code));
        }
        (fail, drop)
    }
}

/// Starts simulators.
pub struct FortiSim;

impl FortiSim {
    /// Bind, load the state, and serve connections in the background.
    pub async fn start(mut opts: SimOptions) -> anyhow::Result<SimHandle> {
        let (mut state, fresh) = match (opts.initial_state.take(), &opts.state_file) {
            (Some(s), _) => (s, false),
            (None, Some(p)) if p.exists() => (DeviceState::load(p)?, false),
            _ => (DeviceState::default(), true),
        };
        state.normalise();
        prepare_state(&opts, &mut state, fresh)?;
        let host_key = match opts.host_key.take() {
            Some(k) => k,
            None => generate_host_key(),
        };
        let public = host_key.public_key().clone();
        let listener = TcpListener::bind(opts.listen)
            .await
            .with_context(|| format!("binding {}", opts.listen))?;
        let addr = listener.local_addr().context("reading the bound address")?;
        let state_file = opts.state_file.clone();
        if let Some(p) = &state_file {
            state.save(p)?;
        }
        let behaviour = Behaviour {
            default_objects: opts.default_objects,
            transactions: opts.transactions,
        };
        let device = Device::with(opts.profile.clone(), behaviour, state);
        let inner = Arc::new(Inner {
            device: device.clone(),
            opts,
            lines_received: AtomicU64::new(0),
            faults: Mutex::new(Faults::default()),
        });
        let config = Arc::new(server_config(host_key));
        let (stop_tx, stop_rx) = watch::channel(false);
        let accept = tokio::spawn(accept_loop(
            listener,
            config,
            inner.clone(),
            stop_rx.clone(),
        ));
        let saver = state_file.map(|p| tokio::spawn(save_loop(device.clone(), p, stop_rx)));
        Ok(SimHandle {
            addr,
            public,
            inner,
            stop: stop_tx,
            accept: Some(accept),
            saver,
        })
    }
}

/// Check the administrator's scope against the device, and apply the factory objects and
/// FortiManager switches to the starting configuration.
fn prepare_state(opts: &SimOptions, state: &mut DeviceState, fresh: bool) -> anyhow::Result<()> {
    if let Some(v) = &opts.admin.vdom {
        anyhow::ensure!(
            opts.profile.vdom_mode,
            "a VDOM-scoped administrator (VDOM `{v}`) needs a multi-VDOM device (--vdom-mode)"
        );
        anyhow::ensure!(
            opts.admin.profile != AccessProfile::SuperAdmin,
            "FortiOS gives the super_admin profile to global administrators only; choose a \
             restricted profile for a VDOM-scoped administrator"
        );
        if !state.vdoms.contains_key(v) {
            state.vdoms.entry(v.clone()).or_default();
            if opts.default_objects {
                defaults::install(state, v);
            }
        }
    }
    if fresh && opts.default_objects {
        let vdoms: Vec<String> = state.vdoms.keys().cloned().collect();
        for v in vdoms {
            defaults::install(state, &v);
        }
    }
    if let Some(fmg) = &opts.fortimanager {
        let mut o = state.setting(schema::CENTRAL_MANAGEMENT.path);
        o.fields
            .insert("type".into(), Value::Text("fortimanager".into()));
        o.fields
            .insert("fmg".into(), Value::Text(fmg.address.clone()));
        if fmg.backup_mode {
            o.fields.insert("mode".into(), Value::Text("backup".into()));
        } else {
            o.fields.remove("mode");
        }
        state
            .settings
            .insert(schema::CENTRAL_MANAGEMENT.path.to_string(), o);
    }
    Ok(())
}

/// russh server settings: the default algorithms plus the SHA-1 and group-exchange key
/// exchanges that netmiko's Fortinet driver restricts paramiko to.
fn server_config(host_key: PrivateKey) -> russh::server::Config {
    let mut kex: Vec<russh::kex::Name> = russh::Preferred::DEFAULT.kex.to_vec();
    let at = kex
        .iter()
        .position(|k| k.as_ref().starts_with("ext-info") || k.as_ref().starts_with("kex-strict"))
        .unwrap_or(kex.len());
    for extra in [russh::kex::DH_G14_SHA1, russh::kex::DH_GEX_SHA1] {
        kex.insert(at, extra);
    }
    if !kex.contains(&russh::kex::DH_GEX_SHA256) {
        kex.insert(at, russh::kex::DH_GEX_SHA256);
    }
    russh::server::Config {
        server_id: russh::SshId::Standard("SSH-2.0-FortiSSH_sim".into()),
        methods: russh::MethodSet::from(
            &[russh::MethodKind::Password, russh::MethodKind::PublicKey][..],
        ),
        auth_rejection_time: std::time::Duration::from_millis(100),
        auth_rejection_time_initial: Some(std::time::Duration::from_millis(0)),
        keys: vec![host_key],
        inactivity_timeout: Some(std::time::Duration::from_secs(3600)),
        nodelay: true,
        preferred: russh::Preferred {
            kex: kex.into(),
            ..russh::Preferred::DEFAULT
        },
        ..Default::default()
    }
}

/// A fresh random ed25519 host key (e.g. to start two simulators with different keys).
pub fn generate_host_key() -> PrivateKey {
    let seed: [u8; 32] = rand::random();
    let pair = russh::keys::ssh_key::private::Ed25519Keypair::from_seed(&seed);
    PrivateKey::from(pair)
}

async fn accept_loop(
    listener: TcpListener,
    config: Arc<russh::server::Config>,
    inner: Arc<Inner>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let (socket, _peer) = tokio::select! {
            _ = stop.changed() => return,
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!("fortigate sim: accept failed: {e}");
                    continue;
                }
            },
        };
        // `russh::server::Config::nodelay` is applied only by russh's own accept loop, not by
        // `run_stream`: without this, Nagle held each reply behind the unacknowledged echo
        // until the client's delayed ACK (about 40 ms per line under `--latency`).
        let _ = socket.set_nodelay(true);
        let config = config.clone();
        let handler = ssh::Conn::new(inner.clone());
        let mut stop = stop.clone();
        tokio::spawn(async move {
            let session = match russh::server::run_stream(config, socket, handler).await {
                Ok(s) => s,
                Err(e) => {
                    tracing::debug!("fortigate sim: connection setup failed: {e}");
                    return;
                }
            };
            let handle = session.handle();
            tokio::select! {
                _ = stop.changed() => {
                    let _ = handle.disconnect(russh::Disconnect::ByApplication, "simulator stopping".into(), "".into()).await;
                }
                r = session => {
                    if let Err(e) = r {
                        tracing::debug!("fortigate sim: session ended: {e}");
                    }
                }
            }
        });
    }
}

/// Rewrites the state file shortly after changes (coalescing bursts of commits).
async fn save_loop(device: Arc<Device>, path: PathBuf, mut stop: watch::Receiver<bool>) {
    let mut changed = device.changed.subscribe();
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            r = changed.changed() => if r.is_err() { return },
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        changed.mark_unchanged();
        // Serialising 50 000 objects takes a while: keep it off the async workers.
        let (device, path) = (device.clone(), path.clone());
        let saved = tokio::task::spawn_blocking(move || {
            let snapshot = device.lock().clone();
            snapshot.save(&path)
        })
        .await;
        match saved {
            Ok(Err(e)) => tracing::warn!("fortigate sim: {e:#}"),
            Err(e) => tracing::warn!("fortigate sim: state writer failed: {e}"),
            Ok(Ok(())) => {}
        }
    }
}

/// A running simulator.
pub struct SimHandle {
    /// The bound address.
    pub addr: SocketAddr,
    public: PublicKey,
    inner: Arc<Inner>,
    stop: watch::Sender<bool>,
    accept: Option<JoinHandle<()>>,
    saver: Option<JoinHandle<()>>,
}

impl SimHandle {
    /// `SHA256:...` fingerprint of the host key (as OpenSSH prints it).
    pub fn host_key_fingerprint(&self) -> String {
        self.public.fingerprint(HashAlg::Sha256).to_string()
    }

    /// The host public key.
    pub fn host_public_key(&self) -> &PublicKey {
        &self.public
    }

    /// A `known_hosts` line for this simulator (`[127.0.0.1]:PORT ssh-ed25519 AAAA...`).
    pub fn known_hosts_line(&self) -> String {
        let key = self.public.to_openssh().unwrap_or_default();
        format!("[{}]:{} {}", self.addr.ip(), self.addr.port(), key)
    }

    /// A copy of the committed configuration.
    pub fn state(&self) -> DeviceState {
        self.inner.device.lock().clone()
    }

    /// Replace the committed configuration.
    pub fn set_state(&self, mut state: DeviceState) {
        state.normalise();
        *self.inner.device.lock() = state;
        self.inner.device.touch();
    }

    /// Run CLI lines in-process (no SSH) in a fresh `super_admin` session — seeding the
    /// device "by hand"; returns the output, one line each.
    pub fn run(&self, lines: &[&str]) -> Vec<String> {
        self.run_as(&AdminOptions::default(), lines)
    }

    /// Run CLI lines in-process in a fresh session of an administrator with `admin`'s
    /// profile and scope.
    pub fn run_as(&self, admin: &AdminOptions, lines: &[&str]) -> Vec<String> {
        let mut sh = Shell::with_admin(self.inner.device.clone(), admin.clone(), "admin");
        lines.iter().flat_map(|l| sh.execute(l).lines).collect()
    }

    /// Every committed change to a global setting so far (console output mode, central
    /// management, resource limits, VDOM properties), oldest first, as
    /// `<user>: <path>: <field> <old> -> <new>`. Empty when no client touched one.
    pub fn global_changes(&self) -> Vec<String> {
        self.inner.device.global_changes()
    }

    /// Transactions currently holding object locks or staging changes.
    pub fn open_transactions(&self) -> usize {
        let mut reg = self.inner.device.txns();
        reg.reap(std::time::Instant::now());
        reg.live.values().filter(|m| !m.expired).count()
    }

    /// Lines received over SSH so far (all connections).
    pub fn lines_received(&self) -> u64 {
        self.inner.lines_received.load(Ordering::SeqCst)
    }

    /// Drop the connection when it receives its `n`-th line from now on (counted over all
    /// connections). `execute_first`: run that line before dropping (its effect persists, its
    /// output is lost) — the nastiest case for a pushing client. Fires once.
    pub fn drop_after_lines(&self, n: u64, execute_first: bool) {
        let at = self.lines_received() + n.max(1);
        self.faults().drop_at = Some((at, execute_first));
    }

    /// Fail lines containing `pattern` with `message` and return code `code`.
    pub fn fail_lines(&self, rule: FailRule) {
        self.faults().rules.push(rule);
    }

    /// Delay every reply to a command line by `delay` on top of the configured latency
    /// (`None` = no extra delay); for read-timeout tests.
    pub fn set_reply_delay(&self, delay: Option<std::time::Duration>) {
        self.faults().reply_delay = delay;
    }

    /// Remove every injected fault.
    pub fn clear_faults(&self) {
        *self.faults() = Faults::default();
    }

    fn faults(&self) -> std::sync::MutexGuard<'_, Faults> {
        self.inner.faults.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Stop accepting, disconnect every session and write the state file a last time.
    pub async fn shutdown(mut self) -> anyhow::Result<()> {
        let _ = self.stop.send(true);
        if let Some(a) = self.accept.take() {
            let _ = a.await;
        }
        if let Some(s) = self.saver.take() {
            let _ = s.await;
        }
        if let Some(p) = &self.inner.opts.state_file {
            self.state().save(p)?;
        }
        Ok(())
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}
