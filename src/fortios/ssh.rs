//! SSH session to a FortiGate (russh client): host-key verification (known_hosts or a pinned
//! fingerprint), password or key authentication, a PTY shell that waits for the FortiOS prompt,
//! answers the `--More--` pager itself (the console's output mode is a global setting, so
//! blockops never switches it), strips the echo, and keeps a transcript with secrets redacted.
//!
//! Two ways to talk: [`Session::cmd`] sends one line and waits for its reply (reads, with the
//! pager); [`Session::send_lines`] + [`Session::next_reply`] keep several lines in flight and
//! take the replies from the stream in order, each echo checked byte for byte
//! (`fortios::stream`).
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use russh::client;
use russh::keys::{HashAlg, PrivateKeyWithHashAlg, PublicKey, PublicKeyOrCertificate};
use russh::{ChannelMsg, Disconnect};

use crate::config::Target;
use crate::error::Refused;
use crate::secret::Secret;

/// Errors of the SSH layer (the command layer adds context).
#[derive(Debug, thiserror::Error)]
pub enum SshError {
    #[error("connecting to {addr} timed out after {secs}s")]
    ConnectTimeout { addr: String, secs: u64 },
    #[error("connecting to {addr}: {source}")]
    Connect { addr: String, source: russh::Error },
    #[error("authentication as `{user}` was rejected")]
    AuthRejected { user: String },
    #[error("authentication timed out")]
    AuthTimeout,
    #[error("no prompt from the device within {secs}s after `{cmd}` (last output: {tail:?})")]
    Timeout {
        cmd: String,
        secs: u64,
        tail: String,
    },
    #[error("the device closed the connection during `{cmd}`")]
    Closed { cmd: String },
    #[error(
        "the device echoed `{got}` where `{expected}` was sent: input was lost or changed on the way"
    )]
    EchoMismatch { expected: String, got: String },
    #[error("ssh: {0}")]
    Protocol(#[from] russh::Error),
}

/// How the server's host key is checked.
#[derive(Debug, Clone, Default)]
pub struct HostKeyPolicy {
    /// known_hosts file (`None`: `~/.ssh/known_hosts`).
    pub known_hosts: Option<PathBuf>,
    /// Pinned `SHA256:…` fingerprint; when set, known_hosts is not consulted.
    pub fingerprint: Option<String>,
    /// Record an unknown key in the known_hosts file instead of refusing.
    pub accept_new: bool,
}

/// Outcome of the host-key check, kept so the caller can explain a refusal.
#[derive(Debug, Clone, PartialEq, Eq)]
enum KeyVerdict {
    Trusted,
    Learned(PathBuf),
    Unknown(String),
    Changed(String),
    Error(String),
}

struct Handler {
    host: String,
    port: u16,
    policy: HostKeyPolicy,
    verdict: Arc<Mutex<Option<(KeyVerdict, String)>>>,
}

impl Handler {
    fn verify(&self, key: &PublicKey) -> KeyVerdict {
        let fp = key.fingerprint(HashAlg::Sha256).to_string();
        if let Some(pin) = &self.policy.fingerprint {
            return if pin.trim() == fp {
                KeyVerdict::Trusted
            } else {
                KeyVerdict::Changed(format!("pinned host_key_fingerprint is {}", pin.trim()))
            };
        }
        let path = match &self.policy.known_hosts {
            Some(p) => p.clone(),
            None => match std::env::home_dir() {
                Some(h) => h.join(".ssh").join("known_hosts"),
                None => {
                    return KeyVerdict::Error(
                        "no known_hosts file configured and no home directory".into(),
                    );
                }
            },
        };
        let known =
            match russh::keys::known_hosts::known_host_keys_path(&self.host, self.port, &path) {
                Ok(k) => k,
                Err(e) => return KeyVerdict::Error(format!("reading {}: {e}", path.display())),
            };
        if known.iter().any(|(_, k)| k.key_data() == key.key_data()) {
            return KeyVerdict::Trusted;
        }
        if let Some((line, _)) = known.first() {
            return KeyVerdict::Changed(format!(
                "{}:{line} records a different key",
                path.display()
            ));
        }
        if self.policy.accept_new {
            return match russh::keys::known_hosts::learn_known_hosts_path(
                &self.host, self.port, key, &path,
            ) {
                Ok(()) => KeyVerdict::Learned(path),
                Err(e) => {
                    KeyVerdict::Error(format!("recording the key in {}: {e}", path.display()))
                }
            };
        }
        KeyVerdict::Unknown(format!("not in {}", path.display()))
    }
}

impl client::Handler for Handler {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        server_public_key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        let key = match server_public_key {
            PublicKeyOrCertificate::PublicKey { key, .. } => key.clone(),
            PublicKeyOrCertificate::Certificate(c) => PublicKey::from(c.public_key().clone()),
        };
        let fp = key.fingerprint(HashAlg::Sha256).to_string();
        let v = self.verify(&key);
        let ok = matches!(v, KeyVerdict::Trusted | KeyVerdict::Learned(_));
        if let Ok(mut slot) = self.verdict.lock() {
            *slot = Some((v, fp));
        }
        Ok(ok)
    }
}

/// The client's SSH settings: russh's defaults plus the Diffie-Hellman group exchanges older
/// FortiOS builds offer.
fn client_config() -> client::Config {
    let mut cfg = client::Config {
        nodelay: true,
        ..Default::default()
    };
    let mut kex = cfg.preferred.kex.to_vec();
    for k in [russh::kex::DH_GEX_SHA256, russh::kex::DH_G14_SHA1] {
        if !kex.contains(&k) {
            kex.push(k);
        }
    }
    cfg.preferred.kex = kex.into();
    cfg
}

/// What the host-key check of a session would conclude (for `blockops doctor`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum HostKeyCheck {
    /// The offered key matches `host_key_fingerprint`.
    Pinned { fingerprint: String },
    /// The offered key is recorded in the known_hosts file.
    Known { fingerprint: String, file: String },
    /// No key is recorded for the host (and none is pinned).
    Unknown { fingerprint: String, why: String },
    /// A different key is recorded or pinned.
    Changed { fingerprint: String, why: String },
    /// The check itself failed (unreadable known_hosts file …).
    Unverifiable { fingerprint: String, why: String },
}

/// Run only the key exchange with the target and judge the offered host key by the target's
/// policy, exactly as [`Session::connect`] does — but never record it (`accept_new` is
/// ignored) and never authenticate. The connection is closed right after the exchange.
pub async fn check_host_key(o: &ConnectOptions) -> anyhow::Result<HostKeyCheck> {
    let mut policy = o.host_keys.clone();
    policy.accept_new = false;
    let verdict = Arc::new(Mutex::new(None));
    let handler = Handler {
        host: o.host.clone(),
        port: o.port,
        policy: policy.clone(),
        verdict: verdict.clone(),
    };
    let addr = format!("{}:{}", o.host, o.port);
    let connected = tokio::time::timeout(
        o.connect_timeout,
        client::connect(
            Arc::new(client_config()),
            (o.host.as_str(), o.port),
            handler,
        ),
    )
    .await;
    let seen = verdict.lock().ok().and_then(|v| v.clone());
    match connected {
        Err(_) => {
            return Err(SshError::ConnectTimeout {
                addr,
                secs: o.connect_timeout.as_secs(),
            }
            .into());
        }
        Ok(Ok(handle)) => {
            let _ = handle.disconnect(Disconnect::ByApplication, "", "en").await;
        }
        Ok(Err(e)) if seen.is_none() => return Err(SshError::Connect { addr, source: e }.into()),
        Ok(Err(_)) => {}
    }
    let Some((v, fingerprint)) = seen else {
        anyhow::bail!("{addr}: the server offered no host key");
    };
    Ok(match v {
        KeyVerdict::Trusted | KeyVerdict::Learned(_) if policy.fingerprint.is_some() => {
            HostKeyCheck::Pinned { fingerprint }
        }
        KeyVerdict::Trusted | KeyVerdict::Learned(_) => HostKeyCheck::Known {
            fingerprint,
            file: match &policy.known_hosts {
                Some(p) => p.display().to_string(),
                None => "~/.ssh/known_hosts".into(),
            },
        },
        KeyVerdict::Unknown(why) => HostKeyCheck::Unknown { fingerprint, why },
        KeyVerdict::Changed(why) => HostKeyCheck::Changed { fingerprint, why },
        KeyVerdict::Error(why) => HostKeyCheck::Unverifiable { fingerprint, why },
    })
}

/// Everything needed to open a session.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    pub host: String,
    pub port: u16,
    pub username: String,
    pub password: Option<Secret>,
    pub private_key: Option<PathBuf>,
    pub host_keys: HostKeyPolicy,
    pub connect_timeout: Duration,
    pub command_timeout: Duration,
}

impl ConnectOptions {
    /// Options for a configured target; relative paths are resolved against `base`.
    pub fn for_target(t: &Target, base: &Path, accept_new: bool) -> anyhow::Result<Self> {
        let abs = |p: &PathBuf| {
            if p.is_absolute() {
                p.clone()
            } else {
                base.join(p)
            }
        };
        let password = match &t.password {
            Some(src) if src.is_set() => {
                Some(src.resolve(&format!("password of target `{}`", t.name), base)?)
            }
            _ => None,
        };
        Ok(ConnectOptions {
            host: t.host.clone(),
            port: t.port,
            username: t.username.clone(),
            password,
            private_key: t.private_key.as_ref().map(abs),
            host_keys: HostKeyPolicy {
                known_hosts: t.known_hosts.as_ref().map(abs),
                fingerprint: t.host_key_fingerprint.clone(),
                accept_new,
            },
            connect_timeout: t.connect_timeout.0,
            command_timeout: t.command_timeout.0,
        })
    }
}

/// An interactive FortiOS CLI session.
pub struct Session {
    handle: client::Handle<Handler>,
    channel: russh::Channel<client::Msg>,
    buf: Vec<u8>,
    /// Received but not yet parsed: replies to lines in flight ([`Session::next_reply`]).
    pending: Vec<u8>,
    hostname: Option<String>,
    prompt: String,
    timeout: Duration,
    transcript: String,
    secrets: Vec<Secret>,
    /// A note for the operator, e.g. that a new host key was recorded.
    pub notice: Option<String>,
}

impl Session {
    /// Connect, verify the host key, authenticate, open a PTY shell and wait for the prompt.
    pub async fn connect(o: &ConnectOptions) -> anyhow::Result<Session> {
        let cfg = client_config();
        let verdict = Arc::new(Mutex::new(None));
        let handler = Handler {
            host: o.host.clone(),
            port: o.port,
            policy: o.host_keys.clone(),
            verdict: verdict.clone(),
        };
        let addr = format!("{}:{}", o.host, o.port);
        let connected = tokio::time::timeout(
            o.connect_timeout,
            client::connect(Arc::new(cfg), (o.host.as_str(), o.port), handler),
        )
        .await;
        let seen = verdict.lock().ok().and_then(|v| v.clone());
        let mut handle = match connected {
            Err(_) => {
                return Err(SshError::ConnectTimeout {
                    addr,
                    secs: o.connect_timeout.as_secs(),
                }
                .into());
            }
            Ok(Err(e)) => {
                if let Some((v, fp)) = seen {
                    match v {
                        KeyVerdict::Unknown(why) => {
                            return Err(Refused::new(format!(
                                "unknown host key for {addr} ({why}); the server offered {fp}. Verify it out of band, then \
                                 pin it with `host_key_fingerprint: \"{fp}\"` or rerun with --accept-new-host-key"
                            ))
                            .into());
                        }
                        KeyVerdict::Changed(why) => {
                            return Err(Refused::new(format!(
                                "HOST KEY MISMATCH for {addr}: the server offered {fp} but {why}. \
                                 This may be a man-in-the-middle attack; nothing was sent"
                            ))
                            .into());
                        }
                        KeyVerdict::Error(why) => {
                            return Err(Refused::new(format!(
                                "cannot verify the host key of {addr} ({fp}): {why}"
                            ))
                            .into());
                        }
                        _ => {}
                    }
                }
                return Err(SshError::Connect { addr, source: e }.into());
            }
            Ok(Ok(h)) => h,
        };
        let notice = match seen {
            Some((KeyVerdict::Learned(p), fp)) => Some(format!(
                "recorded new host key {fp} for {addr} in {}",
                p.display()
            )),
            _ => None,
        };
        let auth = async {
            if let Some(key_path) = &o.private_key {
                let key = russh::keys::load_secret_key(key_path, None).map_err(|e| {
                    anyhow::anyhow!("loading private key {}: {e}", key_path.display())
                })?;
                let hash = handle
                    .best_supported_rsa_hash()
                    .await
                    .ok()
                    .flatten()
                    .flatten();
                let res = handle
                    .authenticate_publickey(
                        o.username.clone(),
                        PrivateKeyWithHashAlg::new(Arc::new(key), hash),
                    )
                    .await
                    .map_err(SshError::from)?;
                if res.success() {
                    return Ok(());
                }
            }
            if let Some(pw) = &o.password {
                let res = handle
                    .authenticate_password(o.username.clone(), pw.expose())
                    .await
                    .map_err(SshError::from)?;
                if res.success() {
                    return Ok(());
                }
            }
            Err(anyhow::Error::from(SshError::AuthRejected {
                user: o.username.clone(),
            }))
        };
        match tokio::time::timeout(o.connect_timeout.max(o.command_timeout), auth).await {
            Err(_) => return Err(SshError::AuthTimeout.into()),
            Ok(r) => r?,
        }
        let channel = handle
            .channel_open_session()
            .await
            .map_err(SshError::from)?;
        channel
            .request_pty(false, "vt100", 511, 1000, 0, 0, &[])
            .await
            .map_err(SshError::from)?;
        channel.request_shell(false).await.map_err(SshError::from)?;
        let mut s = Session {
            handle,
            channel,
            buf: Vec::new(),
            pending: Vec::new(),
            hostname: None,
            prompt: String::new(),
            timeout: o.command_timeout,
            transcript: String::new(),
            secrets: o.password.iter().cloned().collect(),
            notice,
        };
        s.read_until_prompt("<login>", None).await?;
        Ok(s)
    }

    /// The last prompt seen, e.g. `FGT (address) # `.
    pub fn prompt(&self) -> &str {
        &self.prompt
    }

    /// Host name learned from the first prompt.
    pub fn hostname(&self) -> &str {
        self.hostname.as_deref().unwrap_or("")
    }

    /// True when the prompt shows the top level (no scope in parentheses).
    pub fn at_top(&self) -> bool {
        !self.prompt.contains('(')
    }

    /// The scope shown in the prompt (`address`, an entry name, `vdom`), if any.
    pub fn scope(&self) -> Option<&str> {
        let open = self.prompt.find(" (")?;
        let close = self.prompt.rfind(')')?;
        (close > open + 2).then(|| &self.prompt[open + 2..close])
    }

    /// Send one line and return its output (echo and prompt removed, pager followed,
    /// line endings normalised to `\n`).
    pub async fn cmd(&mut self, line: &str) -> anyhow::Result<String> {
        let line = line.trim_end_matches(['\r', '\n']);
        self.transcript.push_str(&format!(">>> {line}\n"));
        let mut data = line.as_bytes().to_vec();
        data.push(b'\n');
        self.channel.data(&data[..]).await.map_err(SshError::from)?;
        self.read_until_prompt(line, Some(line)).await
    }

    /// Send lines without waiting for their replies (one write). The caller reads each reply
    /// with [`Session::next_reply`], in order.
    pub async fn send_lines(&mut self, lines: &[&str]) -> Result<(), SshError> {
        let mut data = Vec::with_capacity(lines.iter().map(|l| l.len() + 1).sum());
        for l in lines {
            data.extend_from_slice(l.as_bytes());
            data.push(b'\n');
        }
        self.channel.data(&data[..]).await?;
        Ok(())
    }

    /// The reply to the oldest line in flight, which must be `line`: its echo is checked byte
    /// for byte, its output returned (line ends normalised to `\n`), the prompt remembered.
    pub async fn next_reply(&mut self, line: &str) -> Result<String, SshError> {
        let host = self.hostname.clone();
        let is_prompt = |p: &str| is_prompt(p, host.as_deref());
        loop {
            match super::stream::parse_reply(&self.pending, line, &is_prompt) {
                super::stream::Parsed::Reply {
                    output,
                    prompt,
                    consumed,
                } => {
                    self.pending.drain(..consumed);
                    self.transcript.push_str(&format!(">>> {line}\n"));
                    if !output.is_empty() {
                        self.transcript.push_str(&output);
                        self.transcript.push('\n');
                    }
                    self.transcript.push_str(&prompt);
                    self.transcript.push('\n');
                    self.prompt = prompt;
                    return Ok(output);
                }
                super::stream::Parsed::Mismatch { expected, got } => {
                    self.transcript
                        .push_str(&format!(">>> {line}\n<<< echo mismatch: {got:?}\n"));
                    return Err(SshError::EchoMismatch { expected, got });
                }
                super::stream::Parsed::Need => {}
            }
            match tokio::time::timeout(self.timeout, self.channel.wait()).await {
                Err(_) => {
                    let t = String::from_utf8_lossy(
                        &self.pending[self.pending.len().saturating_sub(200)..],
                    )
                    .to_string();
                    return Err(SshError::Timeout {
                        cmd: line.into(),
                        secs: self.timeout.as_secs(),
                        tail: t,
                    });
                }
                Ok(None) | Ok(Some(ChannelMsg::Eof | ChannelMsg::Close)) => {
                    self.transcript
                        .push_str(&format!(">>> {line}\n<<< connection closed\n"));
                    return Err(SshError::Closed { cmd: line.into() });
                }
                Ok(Some(ChannelMsg::Data { data })) => self.pending.extend_from_slice(&data),
                Ok(Some(ChannelMsg::ExtendedData { data, .. })) => {
                    self.pending.extend_from_slice(&data)
                }
                Ok(Some(_)) => {}
            }
        }
    }

    /// Add a note to the transcript (e.g. which lines were still in flight).
    pub fn note(&mut self, text: &str) {
        self.transcript.push_str(&format!("--- {text}\n"));
    }

    async fn read_until_prompt(&mut self, cmd: &str, echo: Option<&str>) -> anyhow::Result<String> {
        // Bytes already received for earlier pipelined lines stay in front: the echo search
        // below skips them.
        self.buf = std::mem::take(&mut self.pending);
        let mut echo_at: Option<usize> = if echo.map(str::trim).is_none_or(str::is_empty) {
            Some(0)
        } else {
            None
        };
        loop {
            // Look for the echo first so that a stray prompt before it is not taken as the answer.
            if echo_at.is_none()
                && let Some(e) = echo
                && let Some(pos) = find_line_end_after(&self.buf, e.trim().as_bytes())
            {
                echo_at = Some(pos);
            }
            if let Some(start) = echo_at {
                let tail_start = last_line_start(&self.buf);
                let tail = String::from_utf8_lossy(&self.buf[tail_start.max(start)..]).to_string();
                let tail_visible = tail.rsplit('\r').next().unwrap_or("");
                // The pager's marker stands alone on the last line (`--More-- `); output that
                // merely contains the word (a comment) is not the pager, even when a packet
                // ends right after it.
                if tail_visible.trim() == "--More--" {
                    // Pager: drop the marker and ask for the next page.
                    let cut = tail_start.max(start) + tail.rfind("--More--").unwrap_or(0);
                    self.buf.truncate(cut);
                    self.channel.data(&b" "[..]).await.map_err(SshError::from)?;
                } else if tail_start >= start && tail.contains("(Press 'a' to accept):") {
                    self.transcript
                        .push_str(&String::from_utf8_lossy(&self.buf));
                    self.buf.clear();
                    echo_at = Some(0);
                    self.channel.data(&b"a"[..]).await.map_err(SshError::from)?;
                } else if tail_start >= start && self.is_prompt(tail_visible) {
                    let prompt = tail_visible.to_string();
                    if self.hostname.is_none() {
                        self.hostname = prompt.split(' ').next().map(str::to_string);
                    }
                    self.prompt = prompt;
                    let body = String::from_utf8_lossy(&self.buf[start..tail_start]).to_string();
                    let seen = normalise(&String::from_utf8_lossy(&self.buf[..tail_start]));
                    self.transcript.push_str(&abridge(cmd, &seen));
                    self.transcript.push_str(&self.prompt);
                    self.transcript.push('\n');
                    return Ok(normalise(&body));
                }
            }
            match tokio::time::timeout(self.timeout, self.channel.wait()).await {
                Err(_) => {
                    let t =
                        String::from_utf8_lossy(&self.buf[self.buf.len().saturating_sub(200)..])
                            .to_string();
                    self.transcript
                        .push_str(&String::from_utf8_lossy(&self.buf));
                    return Err(SshError::Timeout {
                        cmd: cmd.into(),
                        secs: self.timeout.as_secs(),
                        tail: t,
                    }
                    .into());
                }
                Ok(None) | Ok(Some(ChannelMsg::Eof | ChannelMsg::Close)) => {
                    self.transcript
                        .push_str(&String::from_utf8_lossy(&self.buf));
                    self.transcript.push_str("\n<<< connection closed\n");
                    return Err(SshError::Closed { cmd: cmd.into() }.into());
                }
                Ok(Some(ChannelMsg::Data { data })) => self.buf.extend_from_slice(&data),
                Ok(Some(ChannelMsg::ExtendedData { data, .. })) => {
                    self.buf.extend_from_slice(&data)
                }
                Ok(Some(_)) => {}
            }
        }
    }

    fn is_prompt(&self, line: &str) -> bool {
        is_prompt(line, self.hostname.as_deref())
    }

    /// Everything sent and received so far, secrets replaced by `***`.
    pub fn transcript(&self) -> String {
        let mut t = self.transcript.clone();
        for s in &self.secrets {
            t = s.redact(&t);
        }
        t
    }

    /// Send `exit` and close the connection (errors ignored: the device may already be gone).
    pub async fn close(mut self) -> String {
        self.transcript.push_str(">>> exit\n");
        let _ = self.channel.data(&b"exit\n"[..]).await;
        let _ = self.channel.eof().await;
        let _ = self
            .handle
            .disconnect(Disconnect::ByApplication, "", "en")
            .await;
        self.transcript()
    }
}

/// Long `show` output is cut in the transcript (the backup file holds the managed objects);
/// everything else is kept verbatim.
fn abridge(cmd: &str, text: &str) -> String {
    const KEEP: usize = 30;
    let n = text.lines().count();
    if !cmd.starts_with("show") || n <= KEEP + 10 {
        return text.to_string();
    }
    let mut out: String = text.lines().take(KEEP).flat_map(|l| [l, "\n"]).collect();
    out.push_str(&format!(
        "[... {} more lines of `{cmd}` output not kept in the transcript ...]\n",
        n - KEEP
    ));
    out
}

/// Position just after the line (ending in `\n`) that ends with `needle`, if any.
fn find_line_end_after(buf: &[u8], needle: &[u8]) -> Option<usize> {
    let mut from = 0;
    while from < buf.len() {
        let nl = buf[from..].iter().position(|&b| b == b'\n')? + from;
        let line = trim_bytes(&buf[from..nl]);
        if line.ends_with(needle) {
            return Some(nl + 1);
        }
        from = nl + 1;
    }
    None
}

fn trim_bytes(b: &[u8]) -> &[u8] {
    let mut end = b.len();
    while end > 0 && (b[end - 1] == b'\r' || b[end - 1] == b' ') {
        end -= 1;
    }
    &b[..end]
}

fn last_line_start(buf: &[u8]) -> usize {
    buf.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1)
}

/// True for `HOST # `, `HOST (scope) # ` (also `$`); `host` pins the name once known.
pub fn is_prompt(line: &str, host: Option<&str>) -> bool {
    let Some(rest) = line
        .strip_suffix(" # ")
        .or_else(|| line.strip_suffix(" $ "))
    else {
        return false;
    };
    let (name, scope) = match rest.split_once(' ') {
        Some((n, s)) => (n, Some(s)),
        None => (rest, None),
    };
    let name_ok = match host {
        Some(h) => name == h,
        None => {
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
        }
    };
    let scope_ok = match scope {
        None => rest.len() == name.len(),
        Some(s) => {
            s.len() > 2
                && s.starts_with('(')
                && s.ends_with(')')
                && !s[1..s.len() - 1].contains(['(', ')'])
        }
    };
    name_ok && scope_ok
}

/// Terminal output to plain text: `\r\n` → `\n`, carriage-return overwrites and backspaces
/// resolved (the pager erases its marker that way).
pub fn normalise(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for (i, line) in raw.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let line = line.trim_end_matches('\r');
        let visible = line
            .rsplit('\r')
            .find(|seg| !seg.trim().is_empty())
            .unwrap_or("");
        if visible.contains('\u{8}') {
            let mut s = String::new();
            for c in visible.chars() {
                if c == '\u{8}' {
                    s.pop();
                } else {
                    s.push(c);
                }
            }
            out.push_str(&s);
        } else {
            out.push_str(visible);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompts() {
        assert!(is_prompt("FGT # ", None));
        assert!(is_prompt("FGT-1.x (address) # ", None));
        assert!(is_prompt("FGT (bo-198.51.100.0/24) # ", Some("FGT")));
        assert!(is_prompt("FGT $ ", None));
        assert!(!is_prompt("FGT (address) # ", Some("OTHER")));
        assert!(!is_prompt("    set comment \"a # \"", None));
        assert!(!is_prompt("FGT #", None));
        assert!(!is_prompt("a b # ", None));
    }

    #[test]
    fn normalise_resolves_pager_erase() {
        assert_eq!(
            normalise("a\r\n\r        \r    next\r\nend"),
            "a\n    next\nend"
        );
        assert_eq!(normalise("ab\u{8}c"), "ac");
    }
}
