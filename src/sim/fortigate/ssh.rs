//! The SSH side of the simulator: authentication, channels, and a FortiOS-like terminal
//! (echo, line endings, prompt, `--More--` pager, post-login banner) around [`Shell`].
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use russh::keys::PublicKey;
use russh::server::{Auth, ChannelOpenHandle, Msg, PublicKeyOffer, Session, VerifiedPublicKey};
use russh::{Channel, ChannelId};

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

/// One SSH connection.
pub struct Conn {
    inner: Arc<Inner>,
    terms: HashMap<ChannelId, Term>,
}

impl Conn {
    pub fn new(inner: Arc<Inner>) -> Conn {
        Conn {
            inner,
            terms: HashMap::new(),
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
}

/// What processing input produced.
enum Step {
    Continue,
    Exit,
    Drop,
}

impl Term {
    /// Feed received bytes; append what to send back to `out`.
    fn feed(&mut self, inner: &Inner, data: &[u8], out: &mut Vec<u8>) -> Step {
        // `\r\n` counts as one line end only within one packet: netmiko sends `a\r` to accept
        // the banner and later a lone `\n` that must produce a fresh prompt.
        self.last_cr = false;
        for &b in data {
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
                        match self.run_line(inner, &line, out) {
                            Step::Continue => {}
                            other => return other,
                        }
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

    fn run_line(&mut self, inner: &Inner, line: &str, out: &mut Vec<u8>) -> Step {
        let n = inner.lines_received.fetch_add(1, Ordering::SeqCst) + 1;
        let (fail, drop) = inner.faults_for(line, n);
        if drop == Some(false) {
            return Step::Drop;
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
            return Step::Drop;
        }
        out.extend_from_slice(b"\r\n");
        if reply.exit {
            return Step::Exit;
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
        Step::Continue
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
            shell: Shell::new(self.inner.device.clone()),
            line: Vec::new(),
            last_cr: false,
            mode: Mode::Ready,
            rows: self.page_rows(0),
        };
        self.terms.insert(channel.id(), term);
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
        if let Some(t) = self.terms.get_mut(&channel) {
            t.rows = rows;
        }
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
        if let Some(t) = self.terms.get_mut(&channel) {
            t.rows = rows;
        }
        Ok(())
    }

    async fn shell_request(
        &mut self,
        channel: ChannelId,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_success(channel)?;
        let banner = self.inner.opts.banner.clone();
        let Some(t) = self.terms.get_mut(&channel) else {
            return Ok(());
        };
        let text = match banner {
            Some(b) => {
                t.mode = Mode::Banner;
                let mut s = b.replace('\n', "\r\n");
                if !s.ends_with("\r\n") {
                    s.push_str("\r\n");
                }
                s.push_str("(Press 'a' to accept):");
                s
            }
            None => t.shell.prompt(),
        };
        session.data(channel, text.into_bytes())?;
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
        if let Some(t) = self.terms.get_mut(&channel) {
            for line in command.lines() {
                let n = self.inner.lines_received.fetch_add(1, Ordering::SeqCst) + 1;
                let (fail, drop) = self.inner.faults_for(line, n);
                if drop.is_some() {
                    return Err(russh::Error::Disconnect);
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
        self.terms.remove(&channel);
        Ok(())
    }

    async fn data(
        &mut self,
        channel: ChannelId,
        data: &[u8],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        let inner = self.inner.clone();
        let Some(t) = self.terms.get_mut(&channel) else {
            return Ok(());
        };
        let mut out = Vec::new();
        let step = t.feed(&inner, data, &mut out);
        if let Some(delay) = inner.reply_delay()
            && out.windows(2).any(|w| w == b"\r\n")
        {
            tokio::time::sleep(delay).await;
        }
        match step {
            Step::Drop => return Err(russh::Error::Disconnect),
            Step::Exit => {
                session.data(channel, out)?;
                session.exit_status_request(channel, 0)?;
                session.eof(channel)?;
                session.close(channel)?;
                self.terms.remove(&channel);
            }
            Step::Continue => {
                if !out.is_empty() {
                    session.data(channel, out)?;
                }
            }
        }
        Ok(())
    }

    async fn channel_eof(
        &mut self,
        channel: ChannelId,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        // The client has no more input (e.g. `ssh -tt` fed from a file): finish like FortiOS
        // does when the terminal goes away.
        if self.terms.remove(&channel).is_some() {
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
        self.terms.remove(&channel);
        Ok(())
    }
}
