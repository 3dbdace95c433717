//! A client that does not wait for each prompt: per-command latency, typeahead processed
//! strictly in order, errors and rollback under pipelining, input the unit drops, and
//! workspace transactions (isolation, locks, idle expiry, disconnects) — driven by a raw SSH
//! client writing many lines at once.
use std::time::Instant;

use blockops::sim::fortigate::{Device, Shell, TxnOnError, TxnOptions};

use super::*;

/// What an interactive terminal shows for `lines` typed one after another on a unit in
/// `state`: each line's echo, its reply and the next prompt — computed with an independent
/// in-process interpreter, so the SSH transcript can be compared byte for byte.
fn expected_transcript(profile: Profile, state: DeviceState, lines: &[&str]) -> String {
    let mut sh = Shell::new(Device::new(profile, state));
    let mut out = String::new();
    for l in lines {
        let reply = sh.execute(l);
        out.push_str(l);
        out.push_str("\r\n");
        for r in &reply.lines {
            out.push_str(r);
            out.push_str("\r\n");
        }
        out.push_str(&sh.prompt());
    }
    out
}

fn creations(n: usize) -> Vec<String> {
    let mut lines = vec!["config firewall address".to_string()];
    for i in 0..n {
        lines.push(format!("edit \"bo-198.51.100.{i}_32\""));
        // Line 3 of the 5th entry carries a bad address: its error must come right after its
        // own echo, and the next line's echo only after its prompt.
        if i == 4 {
            lines.push("set subnet 198.51.100.300/32".into());
            lines.push("abort".into());
            continue;
        }
        lines.push(format!("set subnet 198.51.100.{i}/32"));
        lines.push("set comment \"blockops\"".into());
        lines.push("next".into());
    }
    lines.push("end".into());
    lines
}

#[tokio::test]
async fn every_reply_waits_for_the_configured_latency() {
    let latency = Duration::from_millis(40);
    let sim = start(SimOptions {
        latency,
        ..SimOptions::default()
    })
    .await;
    let mut t = shell(&sim).await;
    let lines = ["get system status | grep Hostname"; 5];
    let started = Instant::now();
    t.send_lines(&lines).await;
    let out = t
        .until_with("five replies", |b| {
            b.matches("Hostname: FGT\r\n").count() == 5
        })
        .await;
    assert!(out.ends_with("FGT # "), "{out:?}");
    assert!(
        started.elapsed() >= latency * 5,
        "five commands answered in {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn typeahead_runs_one_line_at_a_time_in_order() {
    let opts = || SimOptions {
        latency: Duration::from_millis(1),
        default_objects: false,
        ..SimOptions::default()
    };
    let sim = start(opts()).await;
    let script = creations(12);
    let lines: Vec<&str> = script.iter().map(String::as_str).collect();
    let expected = expected_transcript(Profile::default(), DeviceState::default(), &lines);
    let mut t = shell(&sim).await;
    t.send_lines(&lines).await;
    let got = t
        .until_with("the whole script", |b| b.len() >= expected.len())
        .await;
    assert_eq!(got, expected);
    assert!(
        got.contains(
            "set subnet 198.51.100.300/32\r\nvalue parse error before '198.51.100.300/32'\r\nCommand fail. Return code -8\r\nFGT (bo-198.51.100.4_32) # abort\r\n"
        ),
        "{got}"
    );
    let st = sim.state();
    assert_eq!(st.names("root", "firewall address").len(), 11);
    assert!(
        st.object("root", "firewall address", "bo-198.51.100.4_32")
            .is_none()
    );
}

#[tokio::test]
async fn a_pipelined_transaction_with_a_failing_line_rolls_back_everything() {
    let sim = start(SimOptions {
        latency: Duration::from_millis(1),
        default_objects: false,
        ..SimOptions::default()
    })
    .await;
    let before = sim.state();
    let mut script = vec!["execute config-transaction start".to_string()];
    script.extend(creations(8));
    let lines: Vec<&str> = script.iter().map(String::as_str).collect();
    let mut t = shell(&sim).await;
    let mut other = shell(&sim).await;
    t.send_lines(&lines).await;
    let out = t
        .until_with("the pipelined window", |b| {
            b.ends_with("end\r\nFGT # ") && b.contains("Return code -8")
        })
        .await;
    assert!(
        out.starts_with(
            "execute config-transaction start\r\nconfig transaction id=1 started\r\nFGT # "
        ),
        "{out}"
    );
    // Staged only: another session and the committed state see nothing yet.
    assert_eq!(
        other.cmd("show firewall address", "FGT # ").await,
        "config firewall address\r\nend\r\n"
    );
    assert_eq!(sim.state(), before);
    t.cmd("execute config-transaction abort", "FGT # ").await;
    assert_eq!(sim.state(), before, "the transaction was not rolled back");
    assert_eq!(sim.open_transactions(), 0);
}

#[tokio::test]
async fn a_failing_line_can_abort_the_whole_transaction() {
    // The switch for the other plausible FortiOS behaviour ([U]): the error discards the
    // transaction, and lines that follow apply directly.
    let sim = start(SimOptions {
        default_objects: false,
        transactions: TxnOptions {
            on_error: TxnOnError::Abort,
            ..TxnOptions::default()
        },
        ..SimOptions::default()
    })
    .await;
    let mut t = shell(&sim).await;
    t.cmd("execute config-transaction start", "FGT # ").await;
    t.cmd("config firewall address", "FGT (address) # ").await;
    t.cmd("edit staged", "FGT (staged) # ").await;
    t.cmd("next", "FGT (address) # ").await;
    t.cmd("edit direct", "FGT (direct) # ").await;
    assert_eq!(
        t.cmd("set subnet 10.0.0.300/32", "FGT (direct) # ").await,
        "value parse error before '10.0.0.300/32'\r\nCommand fail. Return code -8\r\n\
         config transaction id=1 aborted\r\n"
    );
    // The hazard a pipelining client must avoid: the `next` that was already in flight now
    // saves the half-built entry directly (with the default subnet 0.0.0.0/0).
    t.cmd("next", "FGT (address) # ").await;
    t.cmd("end", "FGT # ").await;
    assert_eq!(
        t.cmd("execute config-transaction commit", "FGT # ").await,
        "no config transaction started\r\nCommand fail. Return code -1\r\n"
    );
    let st = sim.state();
    assert_eq!(
        st.names("root", "firewall address"),
        ["direct"],
        "the staged entry is gone, the later one applied directly"
    );
    assert_eq!(
        st.object("root", "firewall address", "direct")
            .and_then(|o| o.get("subnet")),
        None,
        "saved with the default (match-all) subnet"
    );
}

#[tokio::test]
async fn input_beyond_the_typeahead_buffer_is_lost_and_the_echo_shows_it() {
    let sim = start(SimOptions {
        typeahead_limit: Some(40),
        default_objects: false,
        ..SimOptions::default()
    })
    .await;
    let mut t = shell(&sim).await;
    // 71 bytes in one write: the unit keeps 40 of them.
    t.send("config firewall address\nedit bo-1\nset subnet 192.0.2.1/32\nnext\nend\n")
        .await;
    let out = t
        .until_with("the kept bytes", |b| b.ends_with("FGT (bo-1) # set su"))
        .await;
    assert!(
        out.starts_with("config firewall address\r\nFGT (address) # edit bo-1\r\n"),
        "{out:?}"
    );
    t.send("\n").await;
    assert_eq!(
        t.until("FGT (bo-1) # ").await,
        "\r\nincomplete command\r\nCommand fail. Return code -160\r\nFGT (bo-1) # "
    );
}

#[tokio::test]
async fn a_dropped_connection_loses_the_typeahead_still_queued() {
    let sim = start(SimOptions {
        latency: Duration::from_millis(5),
        default_objects: false,
        ..SimOptions::default()
    })
    .await;
    let script = creations(6);
    let lines: Vec<&str> = script.iter().map(String::as_str).collect();
    let mut t = shell(&sim).await;
    // Line 5 (`next` of the first entry) runs, then the connection drops.
    sim.drop_after_lines(5, true);
    t.send_lines(&lines).await;
    t.until_closed().await;
    // The session task stops at the drop: nothing queued behind line 5 ever runs.
    assert_eq!(sim.lines_received(), 5, "queued lines ran after the drop");
    assert_eq!(
        sim.state().names("root", "firewall address"),
        ["bo-198.51.100.0_32"]
    );
}

#[tokio::test]
async fn transactions_stay_private_until_commit_and_keep_what_others_committed() {
    let sim = start(SimOptions {
        default_objects: false,
        ..SimOptions::default()
    })
    .await;
    let mut a = shell(&sim).await;
    let mut b = shell(&sim).await;
    a.cmd("execute config-transaction start", "FGT # ").await;
    a.cmd("config firewall address", "FGT (address) # ").await;
    a.cmd("edit mine", "FGT (mine) # ").await;
    a.cmd("end", "FGT # ").await;
    assert_eq!(
        b.cmd("show firewall address mine", "FGT # ").await,
        "config firewall address\r\nend\r\n"
    );
    b.cmd("config firewall address", "FGT (address) # ").await;
    b.cmd("edit theirs", "FGT (theirs) # ").await;
    b.cmd("end", "FGT # ").await;
    assert_eq!(
        a.cmd("execute config-transaction commit", "FGT # ").await,
        "config transaction id=1 committed\r\n"
    );
    assert_eq!(
        sim.state().names("root", "firewall address"),
        ["theirs", "mine"]
    );
}

#[tokio::test]
async fn objects_a_transaction_edits_are_locked_for_everyone_else() {
    let sim = start(SimOptions {
        default_objects: false,
        transactions: TxnOptions {
            locks_survive_disconnect: false,
            ..TxnOptions::default()
        },
        ..SimOptions::default()
    })
    .await;
    sim.run(&["config firewall address", "edit x", "next", "edit y", "end"]);
    let mut a = shell(&sim).await;
    let mut b = shell(&sim).await;
    a.cmd("execute config-transaction start", "FGT # ").await;
    a.cmd("config firewall address", "FGT (address) # ").await;
    a.cmd("edit x", "FGT (x) # ").await;
    a.cmd("abort", "FGT (address) # ").await;
    a.cmd("end", "FGT # ").await;
    b.cmd("config firewall address", "FGT (address) # ").await;
    let locked = "'x' is being configured in another config transaction\r\nCommand fail. Return code -160\r\n";
    assert_eq!(b.cmd("edit x", "FGT (address) # ").await, locked);
    assert_eq!(b.cmd("delete x", "FGT (address) # ").await, locked);
    // Objects the transaction did not touch stay free.
    b.cmd("edit y", "FGT (y) # ").await;
    b.cmd("next", "FGT (address) # ").await;
    // Without the lock-survives switch, a disconnect frees the objects at once.
    a.send("exit\n").await;
    a.until_closed().await;
    eventually("the lock to go with the session", || {
        sim.open_transactions() == 0
    })
    .await;
    b.cmd("edit x", "FGT (x) # ").await;
}

#[tokio::test]
async fn an_idle_transaction_warns_then_expires_and_is_discarded() {
    // One "minute" of 600 ms: `start 1` idles out after 600 ms, warnings 30/20/10 "seconds"
    // (300/200/100 ms) before.
    let sim = start(SimOptions {
        default_objects: false,
        transactions: TxnOptions {
            minute: Duration::from_millis(600),
            ..TxnOptions::default()
        },
        ..SimOptions::default()
    })
    .await;
    let mut t = shell(&sim).await;
    t.cmd("execute config-transaction start 1", "FGT # ").await;
    t.cmd("config firewall address", "FGT (address) # ").await;
    t.cmd("edit lost", "FGT (lost) # ").await;
    t.cmd("next", "FGT (address) # ").await;
    let out = t
        .until_with("the expiry", |b| {
            b.ends_with("has expired\r\nFGT (address) # ")
        })
        .await;
    assert_eq!(
        out,
        "\r\nconfig transaction id=1 will expire in 30 seconds\r\nFGT (address) # \
         \r\nconfig transaction id=1 will expire in 20 seconds\r\nFGT (address) # \
         \r\nconfig transaction id=1 will expire in 10 seconds\r\nFGT (address) # \
         \r\nconfig transaction id=1 has expired\r\nFGT (address) # "
    );
    t.cmd("end", "FGT # ").await;
    assert_eq!(
        t.cmd("execute config-transaction commit", "FGT # ").await,
        "no config transaction started\r\nCommand fail. Return code -1\r\n"
    );
    assert!(sim.state().names("root", "firewall address").is_empty());
}

#[tokio::test]
async fn after_a_disconnect_the_locks_last_until_the_idle_timeout() {
    // yurisk.info (2022-04-04): a lost session's changes are discarded when it times out.
    let sim = start(SimOptions {
        default_objects: false,
        transactions: TxnOptions {
            minute: Duration::from_millis(300),
            ..TxnOptions::default()
        },
        ..SimOptions::default()
    })
    .await;
    sim.run(&["config firewall address", "edit x", "end"]);
    let mut a = shell(&sim).await;
    a.cmd("execute config-transaction start 1", "FGT # ").await;
    a.cmd("config firewall address", "FGT (address) # ").await;
    a.cmd("delete x", "FGT (address) # ").await;
    a.cmd("end", "FGT # ").await;
    a.send("exit\n").await;
    a.until_closed().await;
    // The staged delete is gone with the session, but `x` stays locked for now.
    assert!(
        sim.state()
            .object("root", "firewall address", "x")
            .is_some()
    );
    let out = sim.run(&["config firewall address", "delete x"]);
    assert_eq!(
        out,
        [
            "'x' is being configured in another config transaction",
            "Command fail. Return code -160"
        ]
    );
    eventually("the orphaned transaction to time out", || {
        sim.open_transactions() == 0
    })
    .await;
    assert!(
        sim.run(&["config firewall address", "delete x", "end"])
            .is_empty()
    );
}
