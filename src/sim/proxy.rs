//! A TCP proxy that plays a bad network between a client and a simulator: it can cut a
//! response short, drop a connection, delay, corrupt a byte or stall at any chosen request or
//! connection (issue #8, "fault tests for pull"), or add a fixed one-way delay in each
//! direction to emulate a 5–50 ms round trip (`blockops sim proxy --delay 2.5ms`).
//!
//! Simulator-side code: it knows HTTP/1.1 framing (`Content-Length`, chunked, read-until-close)
//! and nothing of any client. With faults configured it reads each request and each response
//! completely before forwarding it, so it can count requests across connections (request `n`
//! is the `n`-th request the proxy saw, 0-based) and damage exactly the response it was asked
//! to. Without faults it forwards bytes as they come (any protocol, e.g. SSH).
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Which requests (or connections) a fault applies to; indices are 0-based, in the order the
/// proxy saw them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum At {
    /// Only the response to request `n`.
    Request(u64),
    /// The responses to request `n` and every later one.
    FromRequest(u64),
    /// Every response on connection `n` (with [`ProxyFaultKind::Drop`]: the connection is
    /// closed as soon as it is accepted).
    Connection(u64),
}

/// What happens to a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyFaultKind {
    /// Forward the head and the first `percent` % of the body, then close. With
    /// `close_delimited` the head loses its framing headers and says `Connection: close`
    /// (the body then ends where the connection does, as in HTTP/1.0).
    Truncate { percent: u8, close_delimited: bool },
    /// Close the connection instead of answering.
    Drop,
    /// Hold the response back this long.
    Delay(Duration),
    /// Replace the body byte at `percent` % of its length by a NUL byte.
    Corrupt { percent: u8 },
    /// Send the head and half the body, then nothing more, keeping the connection open until
    /// the client gives up.
    Stall,
}

/// One fault rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProxyFault {
    pub at: At,
    pub kind: ProxyFaultKind,
}

/// How the proxy behaves.
#[derive(Debug, Clone)]
pub struct ProxyConfig {
    /// Where to listen; port 0 picks a free port.
    pub listen: SocketAddr,
    /// Where to connect for each accepted connection.
    pub upstream: SocketAddr,
    /// Fixed delay added to every byte, in each direction (a round trip gains twice this).
    pub delay: Duration,
    /// Fault rules; the first that matches a response applies.
    pub faults: Vec<ProxyFault>,
    /// Read HTTP messages (to count and log requests) even without faults.
    pub http: bool,
}

impl ProxyConfig {
    /// A transparent proxy to `upstream` on a free port of 127.0.0.1.
    pub fn new(upstream: SocketAddr) -> ProxyConfig {
        ProxyConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            upstream,
            delay: Duration::ZERO,
            faults: Vec::new(),
            http: false,
        }
    }
}

#[derive(Default)]
struct Counters {
    connections: AtomicU64,
    requests: AtomicU64,
    fired: AtomicU64,
    /// Request lines in the order seen (`GET /path HTTP/1.1`).
    log: std::sync::Mutex<Vec<String>>,
}

/// A running proxy. Dropping it stops accepting and closes open connections.
pub struct ProxyHandle {
    pub addr: SocketAddr,
    counters: Arc<Counters>,
    server: super::Background,
}

impl ProxyHandle {
    /// Connections accepted so far.
    pub fn connections(&self) -> u64 {
        self.counters.connections.load(Ordering::SeqCst)
    }
    /// HTTP requests seen so far (fault mode only).
    pub fn requests(&self) -> u64 {
        self.counters.requests.load(Ordering::SeqCst)
    }
    /// Responses (or connections) a fault was applied to.
    pub fn faults_fired(&self) -> u64 {
        self.counters.fired.load(Ordering::SeqCst)
    }
    /// Request lines seen so far, in order (`POST /login.html HTTP/1.1`); index = request number.
    pub fn request_log(&self) -> Vec<String> {
        self.counters
            .log
            .lock()
            .map(|l| l.clone())
            .unwrap_or_else(|e| e.into_inner().clone())
    }
    /// `http://ADDR`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
    /// Stop and wait for the proxy thread.
    pub fn shutdown(mut self) {
        self.server.stop();
    }
}

/// Start the proxy on a background thread; returns once it listens.
pub fn spawn(cfg: ProxyConfig) -> std::io::Result<ProxyHandle> {
    let listener = std::net::TcpListener::bind(cfg.listen)?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let counters = Arc::new(Counters::default());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("fault-proxy")
        .enable_all()
        .build()?;
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let c = counters.clone();
    let thread = std::thread::Builder::new()
        .name("fault-proxy".into())
        .spawn(move || {
            rt.block_on(async move {
                let listener = match TcpListener::from_std(listener) {
                    Ok(l) => l,
                    Err(e) => {
                        tracing::error!("proxy: {e}");
                        return;
                    }
                };
                tokio::select! {
                    _ = serve(listener, Arc::new(cfg), c) => {}
                    _ = rx => {}
                }
            });
            rt.shutdown_timeout(Duration::from_millis(200));
        })?;
    Ok(ProxyHandle {
        addr,
        counters,
        server: super::Background::new(tx, thread),
    })
}

/// Accept connections until cancelled.
async fn serve(listener: TcpListener, cfg: Arc<ProxyConfig>, counters: Arc<Counters>) {
    loop {
        let Ok((client, _)) = listener.accept().await else {
            continue;
        };
        let conn = counters.connections.fetch_add(1, Ordering::SeqCst);
        let cfg = cfg.clone();
        let counters = counters.clone();
        tokio::spawn(async move {
            if let Err(e) = connection(client, conn, &cfg, &counters).await {
                tracing::debug!("proxy connection {conn}: {e}");
            }
        });
    }
}

/// Run one proxy until interrupted (for `blockops sim proxy`).
pub async fn run(cfg: ProxyConfig) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = TcpListener::bind(cfg.listen).await?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(serve(
        listener,
        Arc::new(cfg),
        Arc::new(Counters::default()),
    ));
    Ok((addr, task))
}

async fn connection(
    client: TcpStream,
    conn: u64,
    cfg: &ProxyConfig,
    counters: &Counters,
) -> std::io::Result<()> {
    let conn_fault = cfg
        .faults
        .iter()
        .find(|f| f.at == At::Connection(conn))
        .copied();
    if let Some(f) = conn_fault {
        match f.kind {
            ProxyFaultKind::Drop => {
                counters.fired.fetch_add(1, Ordering::SeqCst);
                return Ok(()); // dropping `client` closes it
            }
            ProxyFaultKind::Delay(d) => tokio::time::sleep(d).await,
            _ => {}
        }
    }
    let upstream = TcpStream::connect(cfg.upstream).await?;
    let _ = client.set_nodelay(true);
    let _ = upstream.set_nodelay(true);
    let (client_r, client_w) = client.into_split();
    let (up_r, up_w) = upstream.into_split();
    let to_client = DelayLine::start(client_w, cfg.delay);
    let to_up = DelayLine::start(up_w, cfg.delay);
    if cfg.faults.is_empty() && !cfg.http {
        tokio::join!(pump(client_r, &to_up), pump(up_r, &to_client));
        return Ok(());
    }
    let (tx, rx) = mpsc::unbounded_channel::<(u64, bool)>();
    let requests = async {
        let mut r = Reader::new(client_r);
        while let Some(msg) = r.message(None).await? {
            let idx = {
                // Number and log under one lock so the log index is the request number.
                let mut log = counters.log.lock().unwrap_or_else(|e| e.into_inner());
                log.push(msg.head.start.clone());
                counters.requests.fetch_add(1, Ordering::SeqCst)
            };
            let head_request = msg.head.start.starts_with("HEAD ");
            if tx.send((idx, head_request)).is_err() {
                break;
            }
            to_up.send(msg.raw());
        }
        Ok::<(), std::io::Error>(())
    };
    let responses = async {
        let mut rx = rx;
        let mut r = Reader::new(up_r);
        while let Some((idx, head_request)) = rx.recv().await {
            let Some(msg) = r.message(Some(head_request)).await? else {
                break;
            };
            let fault = conn_fault.or_else(|| {
                cfg.faults
                    .iter()
                    .find(|f| match f.at {
                        At::Request(n) => n == idx,
                        At::FromRequest(n) => idx >= n,
                        At::Connection(_) => false,
                    })
                    .copied()
            });
            let Some(f) = fault else {
                to_client.send(msg.raw());
                continue;
            };
            counters.fired.fetch_add(1, Ordering::SeqCst);
            match f.kind {
                ProxyFaultKind::Delay(d) => {
                    tokio::time::sleep(d).await;
                    to_client.send(msg.raw());
                }
                ProxyFaultKind::Drop => return Ok(()),
                ProxyFaultKind::Truncate {
                    percent,
                    close_delimited,
                } => {
                    let cut = msg.body.len() * usize::from(percent.min(100)) / 100;
                    let head = if close_delimited {
                        msg.head.render(None, true)
                    } else {
                        msg.head.render(Some(msg.body.len()), false)
                    };
                    let mut out = head;
                    out.extend_from_slice(&msg.body[..cut]);
                    to_client.send(out);
                    return Ok(());
                }
                ProxyFaultKind::Corrupt { percent } => {
                    let mut body = msg.body.clone();
                    if !body.is_empty() {
                        let at =
                            (body.len() * usize::from(percent.min(100)) / 100).min(body.len() - 1);
                        body[at] = 0;
                    }
                    let mut out = msg.head.render(Some(body.len()), false);
                    out.extend_from_slice(&body);
                    to_client.send(out);
                }
                ProxyFaultKind::Stall => {
                    let mut out = msg.head.render(Some(msg.body.len()), false);
                    out.extend_from_slice(&msg.body[..msg.body.len() / 2]);
                    to_client.send(out);
                    std::future::pending::<()>().await;
                }
            }
        }
        Ok::<(), std::io::Error>(())
    };
    // Whichever side ends first (client gone, upstream gone, a fault closed) ends the connection.
    tokio::select! {
        r = requests => r?,
        r = responses => r?,
    }
    Ok(())
}

/// Forward bytes as they come; half-close the other side at EOF.
async fn pump(mut from: OwnedReadHalf, to: &DelayLine) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => to.send(buf[..n].to_vec()),
        }
    }
    to.close();
}

/// A writer that delivers every chunk `delay` after it was handed over, in order (a fixed
/// one-way latency that does not limit throughput).
struct DelayLine {
    tx: mpsc::UnboundedSender<(Instant, Option<Vec<u8>>)>,
    delay: Duration,
}

impl DelayLine {
    fn start(mut w: OwnedWriteHalf, delay: Duration) -> DelayLine {
        let (tx, mut rx) = mpsc::unbounded_channel::<(Instant, Option<Vec<u8>>)>();
        tokio::spawn(async move {
            while let Some((due, chunk)) = rx.recv().await {
                tokio::time::sleep_until(due).await;
                match chunk {
                    Some(bytes) => {
                        if w.write_all(&bytes).await.is_err() {
                            return;
                        }
                    }
                    None => break,
                }
            }
            // Every sender is gone or the stream ended: close our side.
            let _ = w.shutdown().await;
        });
        DelayLine { tx, delay }
    }
    fn send(&self, bytes: Vec<u8>) {
        let _ = self.tx.send((Instant::now() + self.delay, Some(bytes)));
    }
    fn close(&self) {
        let _ = self.tx.send((Instant::now() + self.delay, None));
    }
}

/// A parsed message head.
#[derive(Debug, Clone)]
struct Head {
    /// Request or status line.
    start: String,
    headers: Vec<(String, String)>,
}

impl Head {
    fn get(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The head again, framed by `Content-Length: len`, or (with `close`) by the end of the
    /// connection.
    fn render(&self, len: Option<usize>, close: bool) -> Vec<u8> {
        let mut s = format!("{}\r\n", self.start);
        for (n, v) in &self.headers {
            let framing = n.eq_ignore_ascii_case("content-length")
                || n.eq_ignore_ascii_case("transfer-encoding")
                || (close && n.eq_ignore_ascii_case("connection"));
            if !framing {
                s.push_str(&format!("{n}: {v}\r\n"));
            }
        }
        if let Some(len) = len {
            s.push_str(&format!("content-length: {len}\r\n"));
        }
        if close {
            s.push_str("connection: close\r\n");
        }
        s.push_str("\r\n");
        s.into_bytes()
    }
}

/// One complete message: its head as received and its body (de-chunked).
struct Message {
    head: Head,
    head_raw: Vec<u8>,
    /// The body bytes as received (chunked framing included).
    body_raw: Vec<u8>,
    /// The body itself.
    body: Vec<u8>,
}

impl Message {
    /// Exactly the bytes that were received.
    fn raw(&self) -> Vec<u8> {
        let mut v = self.head_raw.clone();
        v.extend_from_slice(&self.body_raw);
        v
    }
}

/// How a message body ends.
enum Framing {
    None,
    Length(usize),
    Chunked,
    UntilClose,
}

/// Reads whole HTTP/1.1 messages from a stream.
struct Reader {
    r: OwnedReadHalf,
    buf: Vec<u8>,
    eof: bool,
}

impl Reader {
    fn new(r: OwnedReadHalf) -> Reader {
        Reader {
            r,
            buf: Vec::new(),
            eof: false,
        }
    }

    async fn fill(&mut self) -> std::io::Result<bool> {
        if self.eof {
            return Ok(false);
        }
        let mut chunk = vec![0u8; 64 * 1024];
        let n = self.r.read(&mut chunk).await?;
        if n == 0 {
            self.eof = true;
            return Ok(false);
        }
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(true)
    }

    fn bad(what: &str) -> std::io::Error {
        std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_string())
    }

    /// The next message; `None` at a clean end of stream. `response_to_head` is `None` for
    /// requests, `Some(is_head_request)` for responses.
    async fn message(
        &mut self,
        response_to_head: Option<bool>,
    ) -> std::io::Result<Option<Message>> {
        let head_end = loop {
            if let Some(i) = find(&self.buf, b"\r\n\r\n") {
                break i + 4;
            }
            if !self.fill().await? {
                return if self.buf.is_empty() {
                    Ok(None)
                } else {
                    Err(Self::bad("stream ended inside a message head"))
                };
            }
        };
        let head_raw: Vec<u8> = self.buf.drain(..head_end).collect();
        let text = String::from_utf8_lossy(&head_raw).into_owned();
        let mut lines = text.split("\r\n");
        let start = lines.next().unwrap_or_default().to_string();
        let headers = lines
            .filter(|l| !l.is_empty())
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
            .collect();
        let head = Head { start, headers };
        let chunked = head
            .get("transfer-encoding")
            .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
        let length = head
            .get("content-length")
            .and_then(|v| v.parse::<usize>().ok());
        let framing = match response_to_head {
            None if chunked => Framing::Chunked,
            None => length.map_or(Framing::None, Framing::Length),
            Some(head_request) => {
                let status: u16 = head
                    .start
                    .split(' ')
                    .nth(1)
                    .and_then(|c| c.parse().ok())
                    .unwrap_or(0);
                if head_request || (100..200).contains(&status) || status == 204 || status == 304 {
                    Framing::None
                } else if chunked {
                    Framing::Chunked
                } else if let Some(n) = length {
                    Framing::Length(n)
                } else {
                    Framing::UntilClose
                }
            }
        };
        let (body_raw, body) = match framing {
            Framing::None => (Vec::new(), Vec::new()),
            Framing::Length(n) => {
                while self.buf.len() < n {
                    if !self.fill().await? {
                        return Err(Self::bad("stream ended inside a body"));
                    }
                }
                let b: Vec<u8> = self.buf.drain(..n).collect();
                (b.clone(), b)
            }
            Framing::UntilClose => {
                while self.fill().await? {}
                let b = std::mem::take(&mut self.buf);
                (b.clone(), b)
            }
            Framing::Chunked => loop {
                if let Some((used, body)) = dechunk(&self.buf) {
                    let raw: Vec<u8> = self.buf.drain(..used).collect();
                    break (raw, body);
                }
                if !self.fill().await? {
                    return Err(Self::bad("stream ended inside a chunked body"));
                }
            },
        };
        Ok(Some(Message {
            head,
            head_raw,
            body_raw,
            body,
        }))
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// A complete chunked body at the start of `buf`: (bytes used, decoded body).
fn dechunk(buf: &[u8]) -> Option<(usize, Vec<u8>)> {
    let mut at = 0;
    let mut body = Vec::new();
    loop {
        let line_end = at + find(&buf[at..], b"\r\n")?;
        let size_text = std::str::from_utf8(&buf[at..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        at = line_end + 2;
        if size == 0 {
            // Trailers end with an empty line.
            loop {
                let end = at + find(&buf[at..], b"\r\n")?;
                let empty = end == at;
                at = end + 2;
                if empty {
                    return Some((at, body));
                }
            }
        }
        if buf.len() < at + size + 2 {
            return None;
        }
        body.extend_from_slice(&buf[at..at + size]);
        at += size + 2;
    }
}

/// Parse a delay such as `2.5ms`, `500us`, `0.02s` or `0`.
pub fn parse_delay(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let bad = || format!("`{s}` is not a delay like 2.5ms, 500us or 0.02s");
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num.parse().map_err(|_| bad())?;
    let secs = match unit.trim() {
        "" if n == 0.0 => 0.0,
        "s" => n,
        "ms" => n / 1e3,
        "us" | "µs" => n / 1e6,
        _ => return Err(bad()),
    };
    if !secs.is_finite() || !(0.0..=60.0).contains(&secs) {
        return Err(format!("`{s}`: a delay must be between 0 and 60 s"));
    }
    Ok(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_bodies_are_framed() {
        let raw = b"4\r\nWiki\r\n5;x=y\r\npedia\r\n0\r\nTrailer: v\r\n\r\nNEXT";
        let (used, body) = dechunk(raw).unwrap();
        assert_eq!(body, b"Wikipedia");
        assert_eq!(&raw[used..], b"NEXT");
        assert!(dechunk(&raw[..10]).is_none());
    }

    #[test]
    fn delays_parse() {
        assert_eq!(parse_delay("2.5ms").unwrap(), Duration::from_micros(2500));
        assert_eq!(parse_delay("500us").unwrap(), Duration::from_micros(500));
        assert_eq!(parse_delay("0.02s").unwrap(), Duration::from_millis(20));
        assert_eq!(parse_delay("0").unwrap(), Duration::ZERO);
        assert!(parse_delay("5").is_err());
        assert!(parse_delay("fast").is_err());
        assert!(parse_delay("2h").is_err());
    }

    #[test]
    fn heads_are_reframed() {
        let h = Head {
            start: "HTTP/1.1 200 OK".into(),
            headers: vec![
                ("Content-Length".into(), "10".into()),
                ("Content-Type".into(), "text/csv".into()),
                ("Connection".into(), "keep-alive".into()),
            ],
        };
        let closed = String::from_utf8(h.render(None, true)).unwrap();
        assert_eq!(
            closed,
            "HTTP/1.1 200 OK\r\nContent-Type: text/csv\r\nconnection: close\r\n\r\n"
        );
        let framed = String::from_utf8(h.render(Some(4), false)).unwrap();
        assert!(
            framed.contains("content-length: 4\r\n") && framed.contains("Connection: keep-alive")
        );
    }
}
