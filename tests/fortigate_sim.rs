//! The FortiGate simulator over real SSH sockets on 127.0.0.1: an in-process russh client,
//! OpenSSH's `ssh -tt`, netmiko, and the `blockops sim fortigate` binary. This file holds the
//! harness and the CLI basics; `fortigate_sim/` holds the other clients, the administrator
//! roles, the objects and limits, and pipelining, latency and transactions.
#[path = "fortigate_sim/clients.rs"]
mod clients;
#[path = "fortigate_sim/objects.rs"]
mod objects;
#[path = "fortigate_sim/pipelining.rs"]
mod pipelining;
#[path = "fortigate_sim/roles.rs"]
mod roles;

use std::borrow::Cow;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use blockops::secret::Secret;
use blockops::sim::fortigate::{
    DeviceState, FailRule, FortiSim, Limits, Profile, SimHandle, SimOptions,
};
use russh::ChannelMsg;
use russh::client;
use russh::keys::PublicKeyOrCertificate;

const TIMEOUT: Duration = Duration::from_secs(10);

struct AcceptAll;

impl client::Handler for AcceptAll {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        _key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        Ok(true)
    }
}

/// An interactive shell session over a russh client.
struct Term {
    _session: client::Handle<AcceptAll>,
    channel: russh::Channel<client::Msg>,
    buf: String,
}

impl Term {
    async fn open(
        addr: std::net::SocketAddr,
        kex: Option<Vec<russh::kex::Name>>,
        rows: u32,
    ) -> Term {
        let mut config = client::Config::default();
        if let Some(kex) = kex {
            config.preferred.kex = Cow::Owned(kex);
        }
        let mut session = client::connect(Arc::new(config), addr, AcceptAll)
            .await
            .expect("connect");
        let auth = session
            .authenticate_password("admin", "admin")
            .await
            .expect("auth");
        assert!(auth.success(), "password auth refused");
        let channel = session.channel_open_session().await.expect("channel");
        channel
            .request_pty(true, "vt100", 511, rows, 0, 0, &[])
            .await
            .expect("pty");
        channel.request_shell(true).await.expect("shell");
        Term {
            _session: session,
            channel,
            buf: String::new(),
        }
    }

    /// Read until the accumulated output ends with `suffix`; return and clear it.
    async fn until(&mut self, suffix: &str) -> String {
        let deadline = tokio::time::Instant::now() + TIMEOUT;
        while !self.buf.ends_with(suffix) {
            let msg = tokio::time::timeout_at(deadline, self.channel.wait())
                .await
                .unwrap_or_else(|_| panic!("timed out waiting for {suffix:?}; got {:?}", self.buf));
            match msg {
                Some(ChannelMsg::Data { data }) => {
                    self.buf.push_str(&String::from_utf8_lossy(&data))
                }
                Some(_) => {}
                None => panic!(
                    "channel closed while waiting for {suffix:?}; got {:?}",
                    self.buf
                ),
            }
        }
        std::mem::take(&mut self.buf)
    }

    /// Read until `done` holds for the accumulated output; return and clear it.
    async fn until_with(&mut self, what: &str, done: impl Fn(&str) -> bool) -> String {
        let deadline = tokio::time::Instant::now() + TIMEOUT;
        while !done(&self.buf) {
            let msg = tokio::time::timeout_at(deadline, self.channel.wait())
                .await
                .unwrap_or_else(|_| panic!("timed out waiting for {what}; got {:?}", self.buf));
            match msg {
                Some(ChannelMsg::Data { data }) => {
                    self.buf.push_str(&String::from_utf8_lossy(&data))
                }
                Some(_) => {}
                None => panic!(
                    "channel closed while waiting for {what}; got {:?}",
                    self.buf
                ),
            }
        }
        std::mem::take(&mut self.buf)
    }

    /// Read until the channel closes; return everything.
    async fn until_closed(&mut self) -> String {
        loop {
            match tokio::time::timeout(TIMEOUT, self.channel.wait()).await {
                Ok(Some(ChannelMsg::Data { data })) => {
                    self.buf.push_str(&String::from_utf8_lossy(&data))
                }
                Ok(Some(_)) => {}
                Ok(None) => return std::mem::take(&mut self.buf),
                Err(_) => panic!("channel did not close; got {:?}", self.buf),
            }
        }
    }

    async fn send(&mut self, bytes: &str) {
        self.channel
            .data_bytes(bytes.as_bytes().to_vec())
            .await
            .expect("send");
    }

    /// Send several lines in one write (typeahead), without waiting for any prompt.
    async fn send_lines(&mut self, lines: &[&str]) {
        let mut text = lines.join("\n");
        text.push('\n');
        self.send(&text).await;
    }

    /// Send a command line; return the output between the echo and the next prompt `prompt`.
    async fn cmd(&mut self, line: &str, prompt: &str) -> String {
        self.send(&format!("{line}\n")).await;
        let out = self.until(prompt).await;
        let echo = format!("{line}\r\n");
        assert!(out.starts_with(&echo), "no echo of {line:?}: {out:?}");
        out[echo.len()..out.len() - prompt.len()].to_string()
    }
}

/// Poll `cond` until it holds (panics naming `what` after [`TIMEOUT`]); for conditions that
/// become true in the background, instead of sleeping "long enough".
fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + TIMEOUT;
    while !cond() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Poll `cond` without blocking the runtime the simulator runs on.
async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    while !cond() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn start(opts: SimOptions) -> SimHandle {
    FortiSim::start(opts).await.expect("start simulator")
}

async fn shell(sim: &SimHandle) -> Term {
    let mut t = Term::open(sim.addr, None, 1000).await;
    t.until("FGT # ").await;
    t
}

#[tokio::test]
async fn prompt_is_printed_unprompted_and_follows_the_scope_stack() {
    let sim = start(SimOptions::default()).await;
    let mut t = Term::open(sim.addr, None, 1000).await;
    assert_eq!(t.until("FGT # ").await, "FGT # ");
    assert_eq!(
        t.cmd("config firewall address", "FGT (address) # ").await,
        ""
    );
    assert_eq!(
        t.cmd("edit \"bl-203.0.113.7_32\"", "FGT (bl-203.0.113.7_32) # ")
            .await,
        ""
    );
    t.cmd("set subnet 203.0.113.7/32", "FGT (bl-203.0.113.7_32) # ")
        .await;
    t.cmd(
        "set comment \"feed \\\"A\\\"\"",
        "FGT (bl-203.0.113.7_32) # ",
    )
    .await;
    t.cmd("next", "FGT (address) # ").await;
    t.cmd("end", "FGT # ").await;
    let out = t
        .cmd("show firewall address bl-203.0.113.7_32", "FGT # ")
        .await;
    let lines: Vec<&str> = out.split("\r\n").collect();
    assert_eq!(lines[0], "config firewall address");
    assert_eq!(lines[1], "    edit \"bl-203.0.113.7_32\"");
    assert!(lines[2].starts_with("        set uuid "), "{out}");
    assert_eq!(lines[3], "        set comment \"feed \\\"A\\\"\"");
    assert_eq!(lines[4], "        set subnet 203.0.113.7 255.255.255.255");
    assert_eq!(&lines[5..], ["    next", "end", ""]);
    // `end` inside an edit saves the entry and closes the table.
    t.cmd("config firewall address", "FGT (address) # ").await;
    t.cmd("edit x", "FGT (x) # ").await;
    t.cmd("set type fqdn", "FGT (x) # ").await;
    t.cmd("set fqdn evil.example", "FGT (x) # ").await;
    t.cmd("end", "FGT # ").await;
    let st = sim.state();
    assert_eq!(
        st.object("root", "firewall address", "x")
            .and_then(|o| o.get("fqdn")),
        Some("evil.example")
    );
    let status = t.cmd("get system status | grep Version", "FGT # ").await;
    assert!(
        status.starts_with("Version: FortiGate-VM64 v7.4.8,build2795,250523 (GA.M)\r\n"),
        "{status}"
    );
    let console = t.cmd("get system console", "FGT # ").await;
    assert!(
        console.starts_with("output              : more\r\n"),
        "{console}"
    );
    let unknown = t.cmd("frobnicate now", "FGT # ").await;
    assert_eq!(
        unknown,
        "command parse error before 'frobnicate'\r\nCommand fail. Return code -61\r\n"
    );
}

#[tokio::test]
async fn groups_check_datasources_references_and_emptiness() {
    let sim = start(SimOptions::default()).await;
    let mut t = shell(&sim).await;
    for l in [
        "config firewall address",
        "edit a",
        "set subnet 192.0.2.1 255.255.255.255",
        "next",
        "end",
    ] {
        t.send(&format!("{l}\n")).await;
    }
    t.until("FGT # ").await;
    let mut t = shell(&sim).await;
    t.cmd("config firewall addrgrp", "FGT (addrgrp) # ").await;
    t.cmd("edit g", "FGT (g) # ").await;
    let out = t.cmd("set member a missing", "FGT (g) # ").await;
    assert_eq!(
        out,
        "entry not found in datasource\r\n\r\nvalue parse error before 'missing'\r\nCommand fail. Return code -3\r\n"
    );
    let out = t.cmd("next", "FGT (g) # ").await;
    assert!(out.contains("Attribute 'member' MUST be set."), "{out}");
    t.cmd("set member a", "FGT (g) # ").await;
    t.cmd("next", "FGT (addrgrp) # ").await;
    // A v6 group may not reference a v4 address.
    t.cmd("end", "FGT # ").await;
    t.cmd("config firewall addrgrp6", "FGT (addrgrp6) # ").await;
    t.cmd("edit g6", "FGT (g6) # ").await;
    assert!(
        t.cmd("set member a", "FGT (g6) # ")
            .await
            .contains("Return code -3")
    );
    t.cmd("abort", "FGT (addrgrp6) # ").await;
    t.cmd("end", "FGT # ").await;
    // In-use delete is refused; the namespace is shared.
    t.cmd("config firewall address", "FGT (address) # ").await;
    let out = t.cmd("delete a", "FGT (address) # ").await;
    assert_eq!(
        out,
        "The entry is used by other 1 entries\r\nCommand fail. Return code -23\r\n"
    );
    assert!(
        t.cmd("edit g", "FGT (address) # ")
            .await
            .contains("Return code -5")
    );
    t.cmd("end", "FGT # ").await;
    // Removing the last member is refused at `next`.
    t.cmd("config firewall addrgrp", "FGT (addrgrp) # ").await;
    t.cmd("edit g", "FGT (g) # ").await;
    t.cmd("unselect member a", "FGT (g) # ").await;
    assert!(t.cmd("next", "FGT (g) # ").await.contains("MUST be set"));
    t.cmd("abort", "FGT (addrgrp) # ").await;
    t.cmd("end", "FGT # ").await;
    assert_eq!(
        sim.state()
            .object("root", "firewall addrgrp", "g")
            .map(|o| o.list("member").to_vec()),
        Some(vec!["a".to_string()])
    );
}

#[tokio::test]
async fn limits_report_code_minus_4() {
    let profile = Profile {
        limits: Limits {
            name_length: 10,
            max_members: 2,
            max_entries: 3,
            ..Limits::default()
        },
        ..Profile::default()
    };
    let sim = start(SimOptions {
        profile,
        default_objects: false,
        ..SimOptions::default()
    })
    .await;
    let mut t = shell(&sim).await;
    t.cmd("config firewall address", "FGT (address) # ").await;
    for n in ["a1", "a2", "a3"] {
        t.cmd(&format!("edit {n}"), &format!("FGT ({n}) # ")).await;
        t.cmd("set subnet 10.0.0.1/32", &format!("FGT ({n}) # "))
            .await;
        t.cmd("next", "FGT (address) # ").await;
    }
    let out = t.cmd("edit a4", "FGT (address) # ").await;
    assert_eq!(
        out,
        "Maximum number of entries has been reached\r\nCommand fail. Return code -4\r\n"
    );
    assert!(
        t.cmd("edit abcdefghijk", "FGT (address) # ")
            .await
            .contains("Command fail"),
        "name length"
    );
    t.cmd("end", "FGT # ").await;
    t.cmd("config firewall addrgrp", "FGT (addrgrp) # ").await;
    t.cmd("edit g", "FGT (g) # ").await;
    t.cmd("set member a1 a2", "FGT (g) # ").await;
    let out = t.cmd("append member a3", "FGT (g) # ").await;
    assert!(out.ends_with("Command fail. Return code -4\r\n"), "{out}");
    t.cmd("next", "FGT (addrgrp) # ").await;
    assert_eq!(
        sim.state()
            .object("root", "firewall addrgrp", "g")
            .map(|o| o.list("member").len()),
        Some(2)
    );
}

#[tokio::test]
async fn bad_subnet_does_not_abort_the_edit_so_next_saves_everything() {
    // Faithful to research §5: this is the trap a pushing client must avoid.
    let sim = start(SimOptions::default()).await;
    let mut t = shell(&sim).await;
    t.cmd("config firewall address", "FGT (address) # ").await;
    t.cmd("edit bl-bad", "FGT (bl-bad) # ").await;
    let out = t
        .cmd("set subnet 203.0.113.300/32", "FGT (bl-bad) # ")
        .await;
    assert_eq!(
        out,
        "value parse error before '203.0.113.300/32'\r\nCommand fail. Return code -8\r\n"
    );
    let out = t
        .cmd("set subnet 203.0.113.0 255.0.255.0", "FGT (bl-bad) # ")
        .await;
    assert!(out.ends_with("Return code -9\r\n"), "{out}");
    t.cmd("next", "FGT (address) # ").await;
    t.cmd("end", "FGT # ").await;
    let out = t
        .cmd("show full-configuration firewall address bl-bad", "FGT # ")
        .await;
    assert!(
        out.contains("        set subnet 0.0.0.0 0.0.0.0\r\n"),
        "{out}"
    );
    assert!(
        sim.state()
            .object("root", "firewall address", "bl-bad")
            .is_some()
    );
}

#[tokio::test]
async fn abort_discards_the_edit() {
    let sim = start(SimOptions::default()).await;
    let mut t = shell(&sim).await;
    t.cmd("config firewall address", "FGT (address) # ").await;
    t.cmd("edit keep", "FGT (keep) # ").await;
    t.cmd("set subnet 10.1.1.1/32", "FGT (keep) # ").await;
    t.cmd("next", "FGT (address) # ").await;
    t.cmd("edit keep", "FGT (keep) # ").await;
    t.cmd("set subnet 10.9.9.9/32", "FGT (keep) # ").await;
    t.cmd("abort", "FGT (address) # ").await;
    t.cmd("edit gone", "FGT (gone) # ").await;
    t.cmd("abort", "FGT (address) # ").await;
    t.cmd("end", "FGT # ").await;
    let st = sim.state();
    assert_eq!(
        st.object("root", "firewall address", "keep")
            .and_then(|o| o.get("subnet")),
        Some("10.1.1.1 255.255.255.255")
    );
    assert!(st.object("root", "firewall address", "gone").is_none());
}

#[tokio::test]
async fn long_output_is_paged_with_more() {
    let sim = start(SimOptions {
        page_lines: Some(10),
        default_objects: false,
        ..SimOptions::default()
    })
    .await;
    let mut script = vec!["config firewall address".to_string()];
    for i in 0..20 {
        script.push(format!("edit h{i}"));
        script.push(format!("set subnet 10.0.0.{i}/32"));
        script.push("next".into());
    }
    script.push("end".into());
    let refs: Vec<&str> = script.iter().map(String::as_str).collect();
    sim.run(&refs);
    let mut t = Term::open(sim.addr, None, 10).await;
    t.until("FGT # ").await;
    t.send("show firewall address\n").await;
    let first = t.until("--More-- ").await;
    assert_eq!(
        first.matches("\r\n").count(),
        1 + 9,
        "echo line + 9 lines: {first:?}"
    );
    t.send(" ").await;
    let second = t.until("--More-- ").await;
    assert!(second.starts_with("\r         \r"), "{second:?}");
    assert_eq!(second.matches("\r\n").count(), 9);
    t.send("q").await;
    assert!(t.until("FGT # ").await.ends_with("\rFGT # "));
    // With `set output standard` nothing is paged.
    t.cmd("config system console", "FGT (console) # ").await;
    t.cmd("set output standard", "FGT (console) # ").await;
    t.cmd("end", "FGT # ").await;
    let all = t.cmd("show firewall address", "FGT # ").await;
    assert!(!all.contains("--More--"));
    assert_eq!(all.matches("    edit ").count(), 20);
    assert!(
        t.cmd("show full-configuration system console", "FGT # ")
            .await
            .contains("    set output standard\r\n")
    );
}

#[tokio::test]
async fn multi_vdom_mode_needs_vdom_and_global_contexts() {
    let profile = Profile {
        vdom_mode: true,
        ..Profile::default()
    };
    let sim = start(SimOptions {
        profile,
        ..SimOptions::default()
    })
    .await;
    let mut t = shell(&sim).await;
    assert!(
        t.cmd("get system status | grep Virtual", "FGT # ")
            .await
            .contains("Virtual domain configuration: multiple")
    );
    assert!(
        t.cmd("config firewall address", "FGT # ")
            .await
            .contains("Return code -61")
    );
    assert!(
        t.cmd("get system console", "FGT # ")
            .await
            .contains("Return code -61")
    );
    t.cmd("config global", "FGT (global) # ").await;
    assert!(
        t.cmd("get system console", "FGT (global) # ")
            .await
            .contains("output")
    );
    t.cmd("end", "FGT # ").await;
    t.cmd("config vdom", "FGT (vdom) # ").await;
    t.cmd("edit root", "FGT (root) # ").await;
    t.cmd("config firewall address", "FGT (address) # ").await;
    t.cmd("edit v", "FGT (v) # ").await;
    t.cmd("set subnet 198.51.100.0/24", "FGT (v) # ").await;
    t.cmd("next", "FGT (address) # ").await;
    t.cmd("end", "FGT (root) # ").await;
    t.cmd("end", "FGT # ").await;
    assert!(
        sim.state()
            .object("root", "firewall address", "v")
            .is_some()
    );
    let single = start(SimOptions::default()).await;
    let mut s = shell(&single).await;
    assert_eq!(
        s.cmd("config vdom", "FGT # ").await,
        "command parse error before 'vdom'\r\nCommand fail. Return code -61\r\n"
    );
}

#[tokio::test]
async fn state_file_survives_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("fgt.json");
    let sim = start(SimOptions {
        state_file: Some(path.clone()),
        ..SimOptions::default()
    })
    .await;
    let mut t = shell(&sim).await;
    t.cmd("config firewall address6", "FGT (address6) # ").await;
    t.cmd("edit v6", "FGT (v6) # ").await;
    t.cmd("set ip6 2001:db8::1", "FGT (v6) # ").await;
    t.cmd("next", "FGT (address6) # ").await;
    t.cmd("end", "FGT # ").await;
    sim.shutdown().await.expect("shutdown");
    let on_disk = DeviceState::load(&path).expect("load");
    assert_eq!(
        on_disk
            .object("root", "firewall address6", "v6")
            .and_then(|o| o.get("ip6")),
        Some("2001:db8::1/128")
    );
    let again = start(SimOptions {
        state_file: Some(path.clone()),
        ..SimOptions::default()
    })
    .await;
    let mut t = shell(&again).await;
    let out = t.cmd("show firewall address6", "FGT # ").await;
    assert!(out.contains("        set ip6 2001:db8::1/128\r\n"), "{out}");
}

#[tokio::test]
async fn banner_waits_for_a() {
    let sim = start(SimOptions {
        banner: Some("Authorized use only".into()),
        ..SimOptions::default()
    })
    .await;
    let mut t = Term::open(sim.addr, None, 1000).await;
    let banner = t.until("(Press 'a' to accept):").await;
    assert!(banner.starts_with("Authorized use only\r\n"), "{banner}");
    t.send("x").await;
    // netmiko accepts with `a\r`, then probes the prompt with a lone `\n` in a later packet:
    // both must answer with a prompt (regression: the `\n` was swallowed as half of `\r\n`).
    t.send("a\r").await;
    assert_eq!(t.until("FGT # \r\nFGT # ").await, "a\r\nFGT # \r\nFGT # ");
    t.send("\n").await;
    assert_eq!(t.until("FGT # ").await, "\r\nFGT # ");
    t.send("\r\n").await;
    assert_eq!(t.until("FGT # ").await, "\r\nFGT # ");
    t.cmd("get system status | grep Hostname", "FGT # ").await;
}

#[tokio::test]
async fn faults_drop_the_connection_and_fail_matching_lines() {
    let sim = start(SimOptions::default()).await;
    let mut t = shell(&sim).await;
    sim.fail_lines(FailRule {
        pattern: "bl-9".into(),
        code: -4,
        message: "Maximum number of entries has been reached".into(),
        times: Some(1),
    });
    t.cmd("config firewall address", "FGT (address) # ").await;
    let out = t.cmd("edit bl-9", "FGT (address) # ").await;
    assert_eq!(
        out,
        "Maximum number of entries has been reached\r\nCommand fail. Return code -4\r\n"
    );
    t.cmd("edit bl-9", "FGT (bl-9) # ").await;
    t.cmd("set subnet 10.0.0.9/32", "FGT (bl-9) # ").await;
    sim.drop_after_lines(1, true);
    t.send("next\n").await;
    let rest = t.until_closed().await;
    assert!(
        !rest.contains("FGT (address) # "),
        "no reply after the drop: {rest:?}"
    );
    // The line ran before the drop: the entry is committed.
    assert!(
        sim.state()
            .object("root", "firewall address", "bl-9")
            .is_some()
    );
    // Reconnecting works (the fault fired once).
    let mut t = shell(&sim).await;
    sim.drop_after_lines(2, false);
    t.cmd("config firewall address", "FGT (address) # ").await;
    t.send("delete bl-9\n").await;
    t.until_closed().await;
    assert!(
        sim.state()
            .object("root", "firewall address", "bl-9")
            .is_some(),
        "dropped before executing"
    );
}

#[tokio::test]
async fn reply_delay_and_debug_cli_codes() {
    let sim = start(SimOptions::default()).await;
    let mut t = shell(&sim).await;
    sim.set_reply_delay(Some(Duration::from_millis(300)));
    let started = std::time::Instant::now();
    t.cmd("get system status | grep Hostname", "FGT # ").await;
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "reply was not delayed"
    );
    sim.clear_faults();
    t.cmd("diagnose debug cli 8", "FGT # ").await;
    let out = t.cmd("config firewall addrgrp", "FGT (addrgrp) # ").await;
    assert_eq!(out, "0: config firewall addrgrp\r\n");
    sim.fail_lines(FailRule {
        pattern: "edit".into(),
        code: -4,
        message: "Maximum number of entries has been reached".into(),
        times: None,
    });
    let out = t.cmd("edit g", "FGT (addrgrp) # ").await;
    assert_eq!(
        out,
        "Maximum number of entries has been reached\r\nCommand fail. Return code -4\r\n-4: edit g\r\n"
    );
}

#[tokio::test]
async fn config_transaction_commits_or_discards() {
    let sim = start(SimOptions::default()).await;
    let mut t = shell(&sim).await;
    t.cmd("execute config-transaction start", "FGT # ").await;
    t.cmd("config firewall address", "FGT (address) # ").await;
    t.cmd("edit t1", "FGT (t1) # ").await;
    t.cmd("set subnet 10.2.2.2/32", "FGT (t1) # ").await;
    t.cmd("next", "FGT (address) # ").await;
    t.cmd("end", "FGT # ").await;
    assert!(
        sim.state()
            .object("root", "firewall address", "t1")
            .is_none(),
        "staged only"
    );
    t.cmd("execute config-transaction abort", "FGT # ").await;
    assert!(
        t.cmd("show firewall address t1", "FGT # ")
            .await
            .contains("config firewall address\r\nend\r\n")
    );
    t.cmd("execute config-transaction start", "FGT # ").await;
    t.cmd("config firewall address", "FGT (address) # ").await;
    t.cmd("edit t2", "FGT (t2) # ").await;
    t.cmd("set subnet 10.2.2.3/32", "FGT (t2) # ").await;
    t.cmd("end", "FGT # ").await;
    t.cmd("execute config-transaction commit", "FGT # ").await;
    assert!(
        sim.state()
            .object("root", "firewall address", "t2")
            .is_some()
    );
    // A transaction left open at disconnect is discarded.
    t.cmd("execute config-transaction start", "FGT # ").await;
    t.cmd("config firewall address", "FGT (address) # ").await;
    t.cmd("delete t2", "FGT (address) # ").await;
    t.cmd("end", "FGT # ").await;
    t.send("exit\n").await;
    t.until_closed().await;
    assert!(
        sim.state()
            .object("root", "firewall address", "t2")
            .is_some()
    );
}

/// A deny policy referencing a group keeps the group (and its members' datasource) alive:
/// the kind of reference blockops must never break.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policy_references_block_deleting_the_group() {
    let sim = start(SimOptions::default()).await;
    let out = sim.run(&[
        "config firewall address",
        "edit \"lan\"",
        "set subnet 192.0.2.0 255.255.255.0",
        "next",
        "edit \"bad\"",
        "set subnet 203.0.113.9 255.255.255.255",
        "next",
        "end",
        "config firewall addrgrp",
        "edit \"blockops-v4\"",
        "set member \"bad\"",
        "next",
        "end",
        "config firewall policy",
        "edit 1",
        "set srcaddr \"lan\"",
        "set dstaddr \"blockops-v4\"",
        "set action deny",
        "next",
        "end",
    ]);
    assert!(!out.iter().any(|l| l.contains("Command fail")), "{out:?}");
    let out = sim.run(&["config firewall addrgrp", "delete \"blockops-v4\"", "end"]);
    assert!(
        out.iter().any(|l| l.contains("Command fail")),
        "deleting a group a policy uses must fail: {out:?}"
    );
    let out = sim.run(&[
        "config firewall policy",
        "edit 2",
        "set dstaddr \"nonexistent\"",
        "next",
        "end",
    ]);
    assert!(
        out.iter()
            .any(|l| l.contains("entry not found in datasource")),
        "{out:?}"
    );
    assert!(
        sim.state()
            .object("root", "firewall addrgrp", "blockops-v4")
            .is_some()
    );
    sim.shutdown().await.unwrap();
}
