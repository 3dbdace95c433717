//! Pipelined pushes inside a FortiOS transaction (issue #12) and the line-by-line path outside
//! one, against the simulator. The simulator counts every line it receives, so a test can tell
//! how far ahead blockops sent without measuring time.
mod support;

use std::time::Duration;

use blockops::sim::fortigate::{FailRule, Profile, SimOptions, TxnOptions};
use support::fgt::*;

/// Lines `apply` sends before the script inside a transaction: `get system status`,
/// `print tablesize`, `get system central-management`, `get system resource-limits`,
/// `execute config-transaction status`, four `show`s.
const SETUP_TX: u64 = 9;
/// The same without a transaction (no `execute config-transaction status`).
const SETUP: u64 = 8;

fn tx_sim() -> SimOptions {
    let mut o = sim_options(Profile::default());
    // A transaction left by a lost session holds its locks until the idle timeout (5 of these
    // "minutes"); short, so a re-plan after a drop does not wait long (polled, never slept).
    o.transactions = TxnOptions {
        minute: Duration::from_millis(40),
        ..TxnOptions::default()
    };
    o
}

fn tx_harness() -> Harness {
    let mut h = Harness::with(vec![("fw1", tx_sim())]);
    h.target_extra = "    transaction: true\n".into();
    h.write_config();
    h
}

fn plan_ok(h: &Harness) -> Vec<String> {
    let p = h.run(&["plan", "--target", "fw1"]);
    assert_eq!(p.status.code(), Some(0), "{}", text(&p));
    h.plan_json("fw1")["script"]
        .as_str()
        .unwrap()
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

fn apply(h: &Harness) -> std::process::Output {
    h.run(&["apply", "--yes", h.plan_file("fw1").to_str().unwrap()])
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

/// A few objects of someone else's that must survive every failure.
fn seed(h: &Harness) {
    h.sim(0).run(&[
        "config firewall address",
        "edit office-lan",
        "set subnet 10.1.0.0 255.255.0.0",
        "next",
        "end",
    ]);
}

fn wait_for_no_transaction(h: &Harness) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while h.sim(0).open_transactions() > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the simulator's transaction never expired"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn pipelined_push_succeeds_and_reads_back_clean() {
    let h = tx_harness();
    seed(&h);
    h.commit_list(&ips(0..40), "forty");
    let script = plan_ok(&h);
    assert_eq!(script[0], "execute config-transaction start");
    let a = apply(&h);
    assert_eq!(a.status.code(), Some(0), "{}", text(&a));
    let out = String::from_utf8_lossy(&a.stdout).to_string() + &stderr(&a);
    // More than one line was in flight at once (the window is 64 lines / 2048 bytes).
    let k: usize = out
        .split("up to ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no in-flight count: {out}"));
    assert!(k > 1, "nothing was pipelined: {out}");
    let st = h.state(0);
    assert_eq!(
        names(&st, "address")
            .iter()
            .filter(|n| n.starts_with("bo-"))
            .count(),
        40
    );
    assert!(
        st.object("root", "firewall address", "office-lan")
            .is_some()
    );
    assert_eq!(h.sim(0).open_transactions(), 0);
    let p = h.run(&["plan", "--target", "fw1", "--detailed-exitcode"]);
    assert_eq!(
        p.status.code(),
        Some(0),
        "read-back not clean: {}",
        text(&p)
    );
}

/// Make the device refuse, once, the script's `set subnet` line of `ip`; its index.
fn fail_subnet_once(h: &Harness, script: &[String], ip: &str) -> usize {
    let i = script
        .iter()
        .position(|l| l.starts_with(&format!("set subnet {ip}")))
        .unwrap();
    h.sim(0).fail_lines(FailRule {
        pattern: script[i].clone(),
        code: -9,
        message: format!("value parse error before '{ip}'"),
        times: Some(1),
    });
    i
}

/// Fail one script line on the device; the transaction must be aborted, the device unchanged
/// and the exact line reported.
fn error_at(pick: fn(&[String]) -> usize) {
    let h = tx_harness();
    seed(&h);
    h.commit_list(&ips(0..12), "twelve");
    let before = h.state(0);
    let script = plan_ok(&h);
    let i = pick(&script);
    let line = script[i].clone();
    h.sim(0).fail_lines(FailRule {
        pattern: line.clone(),
        code: -8,
        message: "value parse error before 'x'".into(),
        times: Some(1),
    });
    let a = apply(&h);
    assert_eq!(a.status.code(), Some(1), "{line}: {}", text(&a));
    let err = stderr(&a);
    let head = format!("line {} of {} failed: `{line}`", i + 1, script.len());
    assert!(err.contains(&head), "expected `{head}`: {}", text(&a));
    assert!(
        err.contains("the transaction was aborted, nothing was applied"),
        "{}",
        text(&a)
    );
    let st = h.state(0);
    assert_eq!(names(&st, "address"), names(&before, "address"), "{line}");
    assert_eq!(names(&st, "addrgrp"), names(&before, "addrgrp"), "{line}");
    assert_eq!(h.sim(0).open_transactions(), 0, "{line}");
    assert_no_match_all(&st);
    // The failure is reproducible from the plan: nothing was committed, a new plan is the same.
    h.sim(0).clear_faults();
    assert_eq!(plan_ok(&h), script);
}

#[test]
fn error_at_the_first_line_inside_the_transaction() {
    error_at(|s| {
        assert_eq!(s[1], "config firewall address");
        1
    });
}

#[test]
fn error_at_a_middle_line() {
    error_at(|s| {
        s.iter()
            .position(|l| l.starts_with("set subnet 192.0.2.22"))
            .unwrap()
    });
}

#[test]
fn error_at_the_last_line() {
    error_at(|s| {
        assert_eq!(s.last().unwrap(), "execute config-transaction commit");
        s.len() - 1
    });
}

#[test]
fn a_middle_error_stops_the_window_but_lines_were_in_flight() {
    // With a window, lines behind the failing one were already sent (and discarded with the
    // transaction); blockops sends nothing new after it but the cleanup.
    let h = tx_harness();
    h.commit_list(&ips(0..12), "twelve");
    let script = plan_ok(&h);
    let i = fail_subnet_once(&h, &script, "192.0.2.18");
    let start = h.sim(0).lines_received();
    let a = apply(&h);
    assert_eq!(a.status.code(), Some(1), "{}", text(&a));
    let received = h.sim(0).lines_received() - start;
    // setup + the script up to and including the failing line + cleanup (`abort`, `end`,
    // transaction abort) + `exit`: anything beyond was in flight.
    let cleanup = 3;
    assert!(
        received > SETUP_TX + (i as u64 + 1) + cleanup + 1,
        "received {received}: nothing was pipelined past line {}",
        i + 1
    );
    // ... but never past the end of the address block (the window drains at each table).
    let block_end = script[i..].iter().position(|l| l == "end").unwrap() + i;
    assert!(
        received <= SETUP_TX + (block_end as u64 + 1) + cleanup + 1,
        "received {received}: lines beyond the address block were sent"
    );
    assert!(names(&h.state(0), "address").is_empty());
}

#[test]
fn echo_mismatch_aborts_the_transaction() {
    // The device's input buffer holds 600 bytes (more than the longest script line): a
    // 2048-byte window loses input, the device runs a line that is not what blockops sent,
    // and the echo shows it.
    let mut o = tx_sim();
    o.typeahead_limit = Some(600);
    let mut h = Harness::with(vec![("fw1", o)]);
    h.target_extra = "    transaction: true\n".into();
    seed(&h);
    h.commit_list(&ips(0..12), "twelve");
    let before = h.state(0);
    plan_ok(&h);
    let a = apply(&h);
    assert_eq!(a.status.code(), Some(1), "{}", text(&a));
    let err = stderr(&a);
    assert!(err.contains("the device echoed"), "{}", text(&a));
    assert!(err.contains("nothing was applied"), "{}", text(&a));
    let st = h.state(0);
    assert_eq!(names(&st, "address"), names(&before, "address"));
    assert_no_match_all(&st);
    // A window that fits the buffer works on the same device.
    h.target_extra = "    transaction: true\n    window_bytes: 512\n".into();
    h.write_config();
    h.commit("window of one line");
    wait_for_no_transaction(&h);
    let a = h.plan_and_apply("fw1");
    assert_eq!(a.status.code(), Some(0), "{}", text(&a));
}

#[test]
fn connection_drop_mid_window_commits_nothing_and_replan_converges() {
    let h = tx_harness();
    seed(&h);
    h.commit_list(&ips(0..12), "twelve");
    let before = h.state(0);
    let script = plan_ok(&h);
    // Somewhere inside the address block, with lines queued behind it.
    let at = script
        .iter()
        .position(|l| l.starts_with("set subnet 192.0.2.20"))
        .unwrap() as u64
        + 1;
    h.sim(0).drop_after_lines(SETUP_TX + at, true);
    let a = apply(&h);
    assert_eq!(a.status.code(), Some(1), "{}", text(&a));
    assert!(
        stderr(&a).contains("inside a transaction that was not committed"),
        "{}",
        text(&a)
    );
    h.sim(0).clear_faults();
    assert_eq!(names(&h.state(0), "address"), names(&before, "address"));
    // The lost session's locks last until its idle timeout; then a new plan converges.
    wait_for_no_transaction(&h);
    let a = h.plan_and_apply("fw1");
    assert_eq!(a.status.code(), Some(0), "{}", text(&a));
    let p = h.run(&["plan", "--target", "fw1", "--detailed-exitcode"]);
    assert_eq!(p.status.code(), Some(0), "{}", text(&p));
}

#[test]
fn without_a_transaction_every_line_waits_for_its_reply() {
    // A failing `set subnet`: blockops must not have sent the `next` behind it (which would
    // save the entry with the match-all default subnet).
    let mut h = Harness::new();
    h.target_extra = "    window_lines: 64\n".into();
    h.write_config();
    h.commit_list(&ips(0..12), "twelve");
    let script = plan_ok(&h);
    assert_ne!(script[0], "execute config-transaction start");
    let i = fail_subnet_once(&h, &script, "192.0.2.18");
    let start = h.sim(0).lines_received();
    let a = apply(&h);
    assert_eq!(a.status.code(), Some(1), "{}", text(&a));
    let err = stderr(&a);
    assert!(err.contains("(sent: abort, end)"), "{}", text(&a));
    let received = h.sim(0).lines_received() - start;
    // setup + lines 1..=i+1 + `abort`, `end` (+ the closing `exit`, which the simulator may
    // not read before the disconnect): not one script line more.
    let expected = SETUP + (i as u64 + 1) + 2;
    assert!(
        received == expected || received == expected + 1,
        "received {received}, expected {expected}: a line was sent before the previous reply arrived"
    );
    let st = h.state(0);
    assert_no_match_all(&st);
    assert!(!names(&st, "address").contains(&"bo-192.0.2.18".to_string()));
}
