//! The SSH side of the simulator: authentication, channels, and a FortiOS-like terminal
//! (echo, line endings, prompt, `--More--` pager, post-login banner) around [`Shell`].
//!
//! Each interactive shell runs in its own task fed through an unbounded queue, so input that
//! arrives faster than the device processes it waits as typeahead: bytes are echoed as the
//! CLI reads them and lines run strictly one at a time, each answered after the configured
//! latency. The output of line N (echo, reply, prompt) is always complete before the echo of
//! line N+1 — what a pipelining client relies on. An optional typeahead limit drops bytes
//! beyond it, playing the "large pastes lose characters" failure a client must detect from
//! the echo.
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use russh::keys::PublicKey;
use russh::server::{
    Auth, ChannelOpenHandle, Handle, Msg, PublicKeyOffer, Session, VerifiedPublicKey,
};
use russh::{Channel, ChannelId};
use tokio::sync::mpsc;

use super::Inner;
use super::shell::{Reply, Shell};

/// Default page length when the client gave no usable PTY height.
const DEFAULT_ROWS: usize = 24;
const MORE: &str = "--More-- ";
const ERASE_MORE: &str = "\r         \r";

enum Mode {
    /// Waiting for `a` after the post-login banner.
    Banner,
    Ready,
    /// Lines still to print behind a `--More--` prompt.
    Paging(VecDeque<String>),
}

struct Term {
    shell: Shell,
    line: Vec<u8>,
    last_cr: bool,
    mode: Mode,
    rows: usize,
}

/// What the connection handler passes to a shell's task, in arrival order.
enum Input {
    /// Bytes, with the moment they arrived.
    Data(Vec<u8>, std::time::Instant),
    Rows(usize),
    Eof,
}

/// A running interactive shell: its input queue and how many bytes wait in it.
struct Running {
    tx: mpsc::UnboundedSender<Input>,
    queued: Arc<AtomicUsize>,
    /// Set when the channel or connection goes away: typeahead still queued is lost, as when
    /// a real CLI process ends with its session.
    closed: Arc<AtomicBool>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.closed.store(true, Ordering::SeqCst);
    }
}

/// One SSH connection.
pub struct Conn {
    inner: Arc<Inner>,
    /// Channels opened but not yet running a shell (PTY settings, exec requests).
    idle: HashMap<ChannelId, Term>,
    running: HashMap<ChannelId, Running>,
}

impl Conn {
    pub fn new(inner: Arc<Inner>) -> Conn {
        Conn {
            inner,
            idle: HashMap::new(),
            running: HashMap::new(),
        }
    }

    fn key_allowed(&self, user: &str, key: &PublicKey) -> bool {
        user == self.inner.opts.user
            && self
                .inner
                .opts
                .authorized_keys
                .iter()
                .any(|k| k.key_data() == key.key_data())
    }

    fn page_rows(&self, term_rows: usize) -> usize {
        match self.inner.opts.page_lines {
            Some(n) if n > 1 => n,
            _ if term_rows > 1 => term_rows,
            _ => DEFAULT_ROWS,
        }
    }

    fn set_rows(&mut self, channel: ChannelId, rows: usize) {
        if let Some(t) = self.idle.get_mut(&channel) {
            t.rows = rows;
        } else if let Some(r) = self.running.get(&channel) {
            let _ = r.tx.send(Input::Rows(rows));
        }
    }
}

/// What processing input produced.
enum Step {
    /// All input consumed.
    Continue,
    /// A complete command line; input after `usize` bytes is still to be processed.
    Line(String, usize),
}

/// What running a line produced.
enum Outcome {
    Continue,
    Exit,
    Drop,
}

impl Term {
    /// Feed received bytes up to the next complete command line; append what to send back
    /// (echo, pager output) to `out`. The caller resets `last_cr` per packet.
    fn feed(&mut self, data: &[u8], out: &mut Vec<u8>) -> Step {
        for (i, &b) in data.iter().enumerate() {
            match &mut self.mode {
                Mode::Banner => {
                    if b == b'a' || b == b'A' {
                        out.extend_from_slice(b"a\r\n");
                        out.extend_from_slice(self.shell.prompt().as_bytes());
                        self.mode = Mode::Ready;
                        self.last_cr = false;
                    }
                }
                Mode::Paging(rest) => {
                    let take = match b {
                        b' ' => self.rows.saturating_sub(1).max(1),
                        b'\r' | b'\n' => 1,
                        b'q' | b'Q' => 0,
                        _ => continue,
                    };
                    out.extend_from_slice(ERASE_MORE.as_bytes());
                    if take == 0 {
                        rest.clear();
                    }
                    for _ in 0..take {
                        match rest.pop_front() {
                            Some(l) => {
                                out.extend_from_slice(l.as_bytes());
                                out.extend_from_slice(b"\r\n");
                            }
                            None => break,
                        }
                    }
                    if rest.is_empty() {
                        out.extend_from_slice(self.shell.prompt().as_bytes());
                        self.mode = Mode::Ready;
                        self.last_cr = b == b'\r';
                    } else {
                        out.extend_from_slice(MORE.as_bytes());
                    }
                }
                Mode::Ready => match b {
                    b'\r' | b'\n' => {
                        if b == b'\n' && self.last_cr {
                            self.last_cr = false;
                            continue;
                        }
                        self.last_cr = b == b'\r';
                        let line =
                            String::from_utf8_lossy(&std::mem::take(&mut self.line)).into_owned();
                        return Step::Line(line, i + 1);
                    }
                    0x7f | 0x08 => {
                        self.last_cr = false;
                        if self.line.pop().is_some() {
                            // Drop any partial UTF-8 sequence too.
                            while self.line.last().is_some_and(|c| (c & 0xC0) == 0x80) {
                                self.line.pop();
                            }
                            out.extend_from_slice(b"\x08 \x08");
                        }
                    }
                    0x03 => {
                        self.last_cr = false;
                        self.line.clear();
                        out.extend_from_slice(b"^C\r\n");
                        out.extend_from_slice(self.shell.prompt().as_bytes());
                    }
                    b if b >= 0x20 || b == b'\t' => {
                        self.last_cr = false;
                        self.line.push(b);
                        out.push(b);
                    }
                    _ => self.last_cr = false,
                },
            }
        }
        Step::Continue
    }

    /// Run one received line and append its reply and the next prompt (or pager) to `out`.
    fn run_line(&mut self, inner: &Inner, line: &str, out: &mut Vec<u8>) -> Outcome {
        let n = inner.lines_received.fetch_add(1, Ordering::SeqCst) + 1;
        let (fail, drop) = inner.faults_for(line, n);
        if drop == Some(false) {
            return Outcome::Drop;
        }
        let reply = match fail {
            Some(e) => {
                let mut r = Reply::from(e);
                self.shell.annotate(line, &mut r);
                r
            }
            None => self.shell.execute(line),
        };
        if drop == Some(true) {
            return Outcome::Drop;
        }
        out.extend_from_slice(b"\r\n");
        if reply.exit {
            return Outcome::Exit;
        }
        let paged = reply.pageable && self.shell.console_more() && reply.lines.len() >= self.rows;
        let mut lines: VecDeque<String> = reply.lines.into();
        let first = if paged {
            self.rows.saturating_sub(1).max(1)
        } else {
            lines.len()
        };
        for _ in 0..first {
            if let Some(l) = lines.pop_front() {
                out.extend_from_slice(l.as_bytes());
                out.extend_from_slice(b"\r\n");
            }
        }
        if lines.is_empty() {
            out.extend_from_slice(self.shell.prompt().as_bytes());
        } else {
            out.extend_from_slice(MORE.as_bytes());
            self.mode = Mode::Paging(lines);
        }
        Outcome::Continue
    }
}

/// Send bytes on the channel; false when the session is gone.
async fn send(handle: &Handle, channel: ChannelId, out: &mut Vec<u8>) -> bool {
    if out.is_empty() {
        return true;
    }
    handle.data(channel, std::mem::take(out)).await.is_ok()
}

/// Close the channel the way FortiOS does when the CLI ends.
async fn finish(handle: &Handle, channel: ChannelId) {
    let _ = handle.exit_status_request(channel, 0).await;
    let _ = handle.eof(channel).await;
    let _ = handle.close(channel).await;
}

/// The task behind one interactive shell.
async fn run_shell(
    mut term: Term,
    mut rx: mpsc::UnboundedReceiver<Input>,
    queued: Arc<AtomicUsize>,
    closed: Arc<AtomicBool>,
    handle: Handle,
    channel: ChannelId,
    inner: Arc<Inner>,
) {
    let mut out = match &inner.opts.banner {
        Some(b) => {
            term.mode = Mode::Banner;
            let mut s = b.replace('\n', "\r\n");
            if !s.ends_with("\r\n") {
                s.push_str("\r\n");
            }
            s.push_str("(Press 'a' to accept):");
            s.into_bytes()
        }
        None => term.shell.prompt().into_bytes(),
    };
    if !send(&handle, channel, &mut out).await {
        return;
    }
    // When the simulated CLI is next free: a line is answered `latency` after it arrived or
    // after the previous reply was due, whichever is later. Scheduling from the due time, not
    // from when the timer actually fired, keeps timer granularity from adding up over a
    // pipelined window: N queued lines take N × latency.
    let mut free_at = tokio::time::Instant::now();
    loop {
        let timer = term.shell.next_timer();
        let input = tokio::select! {
            i = rx.recv() => i,
            _ = sleep_until(timer) => {
                let notices = term.shell.tick(std::time::Instant::now());
                if !notices.is_empty() && matches!(term.mode, Mode::Ready) {
                    out.extend_from_slice(b"\r\n");
                    for n in notices {
                        out.extend_from_slice(n.as_bytes());
                        out.extend_from_slice(b"\r\n");
                    }
                    out.extend_from_slice(term.shell.prompt().as_bytes());
                    out.extend_from_slice(&term.line);
                    if !send(&handle, channel, &mut out).await {
                        return;
                    }
                }
                continue;
            }
        };
        let (data, arrived) = match input {
            None => return,
            Some(Input::Rows(n)) => {
                term.rows = n;
                continue;
            }
            Some(Input::Eof) => {
                // The client has no more input (e.g. `ssh -tt` fed from a file): everything
                // it sent has been processed; finish like FortiOS when the terminal goes away.
                let _ = handle.eof(channel).await;
                let _ = handle.close(channel).await;
                return;
            }
            Some(Input::Data(d, at)) => (d, tokio::time::Instant::from_std(at)),
        };
        // `\r\n` counts as one line end only within one packet: netmiko sends `a\r` to accept
        // the banner and later a lone `\n` that must produce a fresh prompt.
        term.last_cr = false;
        let mut rest = &data[..];
        loop {
            match term.feed(rest, &mut out) {
                Step::Continue => break,
                Step::Line(line, used) => {
                    rest = &rest[used..];
                    if closed.load(Ordering::SeqCst) {
                        return;
                    }
                    let delay = inner.opts.latency + inner.reply_delay().unwrap_or_default();
                    if !delay.is_zero() {
                        // The echo goes out as the CLI reads it; the reply after the latency.
                        if !send(&handle, channel, &mut out).await {
                            return;
                        }
                        free_at = arrived.max(free_at) + delay;
                        tokio::time::sleep_until(free_at).await;
                        if closed.load(Ordering::SeqCst) {
                            return;
                        }
                    }
                    match term.run_line(&inner, &line, &mut out) {
                        Outcome::Continue => {}
                        Outcome::Exit => {
                            let _ = send(&handle, channel, &mut out).await;
                            finish(&handle, channel).await;
                            return;
                        }
                        Outcome::Drop => {
                            let _ = handle
                                .disconnect(
                                    russh::Disconnect::ByApplication,
                                    String::new(),
                                    String::new(),
                                )
                                .await;
                            return;
                        }
                    }
                }
            }
        }
        queued.fetch_sub(data.len(), Ordering::SeqCst);
        if !send(&handle, channel, &mut out).await {
            return;
        }
    }
}

/// Sleep until `at`, or forever when there is nothing to wait for.
async fn sleep_until(at: Option<std::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await,
        None => std::future::pending().await,
    }
}

impl russh::server::Handler for Conn {
    type Error = russh::Error;

    async fn auth_password(&mut self, user: &str, password: &str) -> Result<Auth, Self::Error> {
        let ok = user == self.inner.opts.user
            && self
                .inner
                .opts
                .password
                .as_ref()
                .is_some_and(|p| p.expose() == password);
        Ok(if ok { Auth::Accept } else { Auth::reject() })
    }

    async fn auth_publickey_offered(
        &mut self,
        user: &str,
        offer: PublicKeyOffer<'_>,
    ) -> Result<Auth, Self::Error> {
        Ok(if self.key_allowed(user, offer.public_key) {
            Auth::Accept
        } else {
            Auth::reject()
        })
    }

    async fn auth_publickey(
        &mut self,
        user: &str,
        key: VerifiedPublicKey<'_>,
    ) -> Result<Auth, Self::Error> {
        Ok(if self.key_allowed(user, key.public_key) {
            Auth::Accept
        } else {
            Auth::reject()
        })
    }

    async fn channel_open_session(
        &mut self,
        channel: Channel<Msg>,
        reply: ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        let term = Term {
            shell: self.inner.new_shell(),
            line: Vec::new(),
            last_cr: false,
            mode: Mode::Ready,
            rows: self.page_rows(0),
        };
        self.idle.insert(channel.id(), term);
        reply.accept().await;
        Ok(())
    }

    async fn pty_request(
        &mut self,
        channel: ChannelId,
        _term: &str,
        _col_width: u32,
        row_height: u32,
        _pix_width: u32,
        _pix_height: u32,
        _modes: &[(russh::Pty, u32)],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        let rows = self.page_rows(row_height as usize);
        self.set_rows(channel, rows);
        session.channel_success(channel)?;
        Ok(())
    }

    async fn window_change_request(
        &mut self,
        channel: ChannelId,
        _col_width: u32,
        row_height: u32,
        _pix_width: u32,
        _pix_height: u32,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        let rows = self.page_rows(row_height as usize);
        self.set_rows(channel, rows);
        Ok(())
    }

    async fn shell_request(
        &mut self,
        channel: ChannelId,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_success(channel)?;
        let Some(term) = self.idle.remove(&channel) else {
            return Ok(());
        };
        let (tx, rx) = mpsc::unbounded_channel();
        let queued = Arc::new(AtomicUsize::new(0));
        let closed = Arc::new(AtomicBool::new(false));
        tokio::spawn(run_shell(
            term,
            rx,
            queued.clone(),
            closed.clone(),
            session.handle(),
            channel,
            self.inner.clone(),
        ));
        self.running.insert(channel, Running { tx, queued, closed });
        Ok(())
    }

    async fn exec_request(
        &mut self,
        channel: ChannelId,
        data: &[u8],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_success(channel)?;
        let command = String::from_utf8_lossy(data).into_owned();
        let mut out = Vec::new();
        let mut failed = false;
        if let Some(t) = self.idle.get_mut(&channel) {
            for line in command.lines() {
                let n = self.inner.lines_received.fetch_add(1, Ordering::SeqCst) + 1;
                let (fail, drop) = self.inner.faults_for(line, n);
                if drop.is_some() {
                    return Err(russh::Error::Disconnect);
                }
                let delay = self.inner.opts.latency + self.inner.reply_delay().unwrap_or_default();
                if !delay.is_zero() {
                    tokio::time::sleep(delay).await;
                }
                let reply = match fail {
                    Some(e) => Reply::from(e),
                    None => t.shell.execute(line),
                };
                failed |= reply.failed;
                for l in reply.lines {
                    out.extend_from_slice(l.as_bytes());
                    out.push(b'\n');
                }
            }
        }
        session.data(channel, out)?;
        session.exit_status_request(channel, u32::from(failed))?;
        session.eof(channel)?;
        session.close(channel)?;
        self.idle.remove(&channel);
        Ok(())
    }

    async fn data(
        &mut self,
        channel: ChannelId,
        data: &[u8],
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        let Some(r) = self.running.get(&channel) else {
            return Ok(());
        };
        let mut data = data.to_vec();
        if let Some(limit) = self.inner.opts.typeahead_limit {
            // Bytes beyond the device's input buffer are lost, as with large pastes.
            let room = limit.saturating_sub(r.queued.load(Ordering::SeqCst));
            data.truncate(room);
        }
        if data.is_empty() {
            return Ok(());
        }
        r.queued.fetch_add(data.len(), Ordering::SeqCst);
        if r.tx
            .send(Input::Data(data, std::time::Instant::now()))
            .is_err()
        {
            self.running.remove(&channel);
        }
        Ok(())
    }

    async fn channel_eof(
        &mut self,
        channel: ChannelId,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        if let Some(r) = self.running.get(&channel) {
            let _ = r.tx.send(Input::Eof);
        } else if self.idle.remove(&channel).is_some() {
            session.eof(channel)?;
            session.close(channel)?;
        }
        Ok(())
    }

    async fn channel_close(
        &mut self,
        channel: ChannelId,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        self.idle.remove(&channel);
        self.running.remove(&channel);
        Ok(())
    }
}
