//! A Cybereason API simulator that is an independent witness of the real server, not a mirror
//! of our client: it reads requests with its own lenient parser and writes answers as JSON in
//! the shapes public recordings and test data show (research `cybereason-api.md` §4–§9,
//! `real-systems.md` §8–§12), with a switch ([`Quirks`]) for every oddity real tenants show.
//! It never imports the client's types (a test greps for it). Used by tests (in process,
//! over real sockets), by `blockops sim cybereason` and by the demo.
//!
//! Over plain HTTP the session cookie carries no `Secure` flag (clients would not send it back
//! over `http://`); with `tls` the simulator serves HTTPS with a freshly generated self-signed
//! certificate for `127.0.0.1`/`localhost` and sets `Secure`, like the real server.
pub mod elements;
pub mod fixture;
pub mod query;
pub mod quirks;
pub mod wire;

mod faults;
mod login;
mod malops;
mod reputation;
mod server;
mod tls;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use faults::{Endpoint, Fault, FaultKind};
pub use fixture::{DEFAULT_FIXTURE, Fixture, SimData};
pub use quirks::{DomainForm, FailedLogin, NullForm, Quirks};
use server::{Shared, lock};

/// Default user name of the simulator.
pub const DEFAULT_USER: &str = "api@blockops.example";
/// Default password of the simulator (a test credential, not a secret).
pub const DEFAULT_PASSWORD: &str = "blockops-sim";
/// Default two-factor code accepted when [`Quirks::two_factor`] is on (a test value).
pub const DEFAULT_TOTP_CODE: &str = "123456";

/// How the simulator behaves.
#[derive(Debug, Clone)]
pub struct SimConfig {
    pub fixture: Fixture,
    pub username: String,
    pub password: String,
    /// The code `POST /` accepts when [`Quirks::two_factor`] is on.
    pub totp_code: String,
    /// Idle lifetime of a session (refreshed on every use).
    pub session_ttl: Duration,
    /// Return one row more than `totalResultLimit` when more exist (the real server does).
    pub plus_one_quirk: bool,
    /// Where to listen; port 0 picks a free port.
    pub listen: SocketAddr,
    /// Serve HTTPS with a self-signed certificate (see [`SimHandle::cert_pem`]).
    pub tls: bool,
    /// Real-server oddities to play (default: the most common real tenant).
    pub quirks: Quirks,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            fixture: Fixture::default_fixture(),
            username: DEFAULT_USER.into(),
            password: DEFAULT_PASSWORD.into(),
            totp_code: DEFAULT_TOTP_CODE.into(),
            session_ttl: Duration::from_secs(server::COOKIE_MAX_AGE),
            plus_one_quirk: true,
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            tls: false,
            quirks: Quirks::default(),
        }
    }
}

/// One request the simulator saw.
#[derive(Debug, Clone)]
pub struct RequestRecord {
    pub method: String,
    pub path: String,
    pub endpoint: Endpoint,
    /// Request body for JSON endpoints (never for the login forms).
    pub body: Option<String>,
}

/// Errors starting the simulator.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("simulator runtime: {0}")]
    Runtime(std::io::Error),
    #[error(transparent)]
    Fixture(#[from] fixture::FixtureError),
    #[error("simulator TLS setup: {0}")]
    Tls(String),
    #[error("simulator: {0}")]
    Invalid(String),
}

/// Entry point of the simulator.
pub struct CybereasonSim;

impl CybereasonSim {
    /// Same as [`CybereasonSim::spawn`].
    pub fn start(cfg: SimConfig) -> Result<SimHandle, SimError> {
        Self::spawn(cfg)
    }

    /// Start on a background thread with its own runtime; returns once the socket listens.
    pub fn spawn(cfg: SimConfig) -> Result<SimHandle, SimError> {
        let data = cfg.fixture.build(now_ms())?;
        let listener =
            std::net::TcpListener::bind(cfg.listen).map_err(|source| SimError::Bind {
                addr: cfg.listen,
                source,
            })?;
        listener.set_nonblocking(true).map_err(SimError::Runtime)?;
        let addr = listener.local_addr().map_err(SimError::Runtime)?;
        let shared = Arc::new(Shared {
            username: cfg.username,
            password: cfg.password,
            totp_code: cfg.totp_code,
            ttl: cfg.session_ttl,
            plus_one: cfg.plus_one_quirk,
            quirks: cfg.quirks,
            secure: cfg.tls,
            data: Mutex::new(data),
            sessions: Mutex::new(HashMap::new()),
            faults: Mutex::new(Vec::new()),
            log: Mutex::new(Vec::new()),
            logins: AtomicU64::new(0),
            failed_logins: AtomicU64::new(0),
            clock_offset: Mutex::new(Duration::ZERO),
            health: Mutex::new((true, true)),
        });
        let tls = if cfg.tls {
            Some(tls::self_signed().map_err(SimError::Tls)?)
        } else {
            None
        };
        let cert_pem = tls.as_ref().map(|t| t.cert_pem.clone());
        let acceptor = tls.map(|t| t.acceptor);
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("cybereason-sim")
            .enable_all()
            .build()
            .map_err(SimError::Runtime)?;
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let app = server::router(shared.clone());
        let thread = std::thread::Builder::new()
            .name("cybereason-sim".into())
            .spawn(move || {
                rt.block_on(async move {
                    let listener = match tokio::net::TcpListener::from_std(listener) {
                        Ok(l) => l,
                        Err(e) => {
                            tracing::error!("simulator: {e}");
                            return;
                        }
                    };
                    match acceptor {
                        None => tokio::select! {
                            r = axum::serve(listener, app) => {
                                if let Err(e) = r { tracing::error!("simulator: {e}"); }
                            }
                            _ = rx => {}
                        },
                        Some(acceptor) => tokio::select! {
                            _ = tls::serve(listener, acceptor, app) => {}
                            _ = rx => {}
                        },
                    }
                });
                rt.shutdown_timeout(Duration::from_millis(200));
            })
            .map_err(SimError::Runtime)?;
        Ok(SimHandle {
            addr,
            cert_pem,
            shared,
            server: super::Background::new(tx, thread),
        })
    }
}

/// A running simulator. Dropping it stops the server.
pub struct SimHandle {
    /// The bound address.
    pub addr: SocketAddr,
    /// PEM of the self-signed certificate when serving HTTPS (give it to clients as CA).
    pub cert_pem: Option<String>,
    shared: Arc<Shared>,
    server: super::Background,
}

impl SimHandle {
    /// `http://127.0.0.1:PORT`, or `https://…` when serving TLS.
    pub fn url(&self) -> String {
        let scheme = if self.cert_pem.is_some() {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{}", self.addr)
    }
    /// The quirks this simulator plays.
    pub fn quirks(&self) -> &Quirks {
        &self.shared.quirks
    }
    /// Add a fault rule (rules are checked in order; the first active match wins).
    pub fn inject(&self, fault: Fault) {
        lock(&self.shared.faults).push(fault);
    }
    /// Remove all fault rules.
    pub fn clear_faults(&self) {
        lock(&self.shared.faults).clear();
    }
    /// Invalidate every session (as if they all expired).
    pub fn expire_sessions(&self) {
        lock(&self.shared.sessions).clear();
    }
    /// Move the simulator's clock forward: sessions idle for longer than the TTL expire
    /// without a test having to sleep.
    pub fn advance_clock(&self, by: Duration) {
        *lock(&self.shared.clock_offset) += by;
    }
    /// Set what the health endpoint reports (`online`, `readyToServe`).
    pub fn set_health(&self, online: bool, ready_to_serve: bool) {
        *lock(&self.shared.health) = (online, ready_to_serve);
    }
    /// Add or replace a reputation row.
    pub fn set_reputation(&self, key: &str, reputation: &str, comment: &str) {
        lock(&self.shared.data).reputations.insert(
            key.to_string(),
            fixture::SimReputation {
                key: key.into(),
                reputation: reputation.into(),
                prevent: false,
                comment: comment.into(),
            },
        );
    }
    /// Remove a reputation row; true when it existed.
    pub fn remove_reputation(&self, key: &str) -> bool {
        lock(&self.shared.data).reputations.remove(key).is_some()
    }
    /// Set a MalOp's analyst status (UNREAD, TODO, OPEN, CLOSED, FP, REOPEN, RESOLVED) as a
    /// console action would; its inbox/mmng statuses follow.
    pub fn set_malop_status(&self, guid: &str, management_status: &str) -> Result<(), SimError> {
        let mut data = lock(&self.shared.data);
        let m = data
            .malops
            .get_mut(guid)
            .ok_or_else(|| SimError::Invalid(format!("no malop `{guid}`")))?;
        m.set_management_status(management_status)
            .map_err(SimError::Invalid)
    }
    /// Replace all data (e.g. to simulate a later day).
    pub fn replace_data(&self, fixture: &Fixture) -> Result<(), SimError> {
        let data = fixture.build(now_ms())?;
        *lock(&self.shared.data) = data;
        Ok(())
    }
    /// Every request seen so far.
    pub fn requests(&self) -> Vec<RequestRecord> {
        lock(&self.shared.log).clone()
    }
    /// Number of requests to one endpoint.
    pub fn count(&self, endpoint: Endpoint) -> usize {
        lock(&self.shared.log)
            .iter()
            .filter(|r| endpoint == Endpoint::Any || r.endpoint == endpoint)
            .count()
    }
    /// Successful logins so far.
    pub fn logins(&self) -> u64 {
        self.shared.logins.load(Ordering::SeqCst)
    }
    /// Failed logins so far (bad password or bad two-factor code).
    pub fn failed_logins(&self) -> u64 {
        self.shared.failed_logins.load(Ordering::SeqCst)
    }
    /// Stop the server and wait for its thread.
    pub fn shutdown(mut self) {
        self.server.stop();
    }
}

fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}
