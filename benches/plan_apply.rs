//! Benchmark (not a test): `blockops plan` against a simulated FortiGate holding N managed
//! objects, and `blockops apply` of a D-object delta with per-line error checking.
//!
//! `cargo bench --bench plan_apply` (env `BENCH_OBJECTS` indicators, default 51000 so that the device holds over 50 000 managed objects before the delta; `BENCH_DELTA`,
//! default 1000). Prints wall-clock times of the real binary over SSH on 127.0.0.1.
use std::process::Command;
use std::time::Instant;
use support::env_usize;

mod support;

use blockops::sim::fortigate::{FortiSim, Limits, Profile, SimOptions};

fn main() {
    let n = env_usize("BENCH_OBJECTS", 51_000);
    let d = env_usize("BENCH_DELTA", 1_000).min(n);
    let bin = env!("CARGO_BIN_EXE_blockops");
    let rt = support::runtime();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();

    let profile = Profile {
        limits: Limits {
            max_entries: n + 10_000,
            ..Limits::default()
        },
        ..Profile::default()
    };
    let sim = rt
        .block_on(FortiSim::start(SimOptions {
            profile,
            password: Some(blockops::secret::Secret::new("bench-pw")),
            ..Default::default()
        }))
        .unwrap();
    std::fs::write(
        root.join("known_hosts"),
        format!("{}\n", sim.known_hosts_line()),
    )
    .unwrap();
    std::fs::write(root.join(".gitignore"), "plans/\nknown_hosts\n").unwrap();
    std::fs::write(
        root.join("blockops.yaml"),
        format!(
            "guardrails:\n  max_removals: 100%\ntargets:\n  - name: fw1\n    host: 127.0.0.1\n    port: {}\n    password: {{env: BENCH_PW}}\n    known_hosts: known_hosts\n    command_timeout: 60s\n",
            sim.addr.port()
        ),
    )
    .unwrap();
    support::commit_blocklist(root, n);

    // Seed the device with the desired state minus `d` addresses, through its own CLI.
    let today = blockops::blocklist::today();
    let desired = support::desired_minus(root, d);
    let seed = support::seed_script(&desired);
    let t = Instant::now();
    let lines: Vec<&str> = seed.lines().map(str::trim).collect();
    // One session: `sim.run` starts a fresh CLI session per call.
    let out = sim.run(&lines);
    assert!(
        !out.iter().any(|l| l.contains("Command fail")),
        "seeding failed: {:?}",
        out.iter().find(|l| l.contains("fail"))
    );
    let objects = desired.addresses.len()
        + desired.groups.len()
        + desired.addresses6.len()
        + desired.groups6.len();
    eprintln!(
        "seeded {objects} managed objects ({} CLI lines) in {:.2?}",
        lines.len(),
        t.elapsed()
    );

    let run = |args: &[&str]| {
        let t = Instant::now();
        let out = Command::new(bin)
            .args(args)
            .current_dir(root)
            .env("BENCH_PW", "bench-pw")
            .env("BLOCKOPS_TODAY", blockops::plan::date_string(today))
            .output()
            .unwrap();
        let el = t.elapsed();
        assert!(
            out.status.code().is_some_and(|c| c == 0 || c == 2),
            "{args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        el
    };
    let plan_t = run(&["plan", "--target", "fw1", "-q"]);
    let plan: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("plans/fw1.plan.json")).unwrap())
            .unwrap();
    let lines_n = plan["script"].as_str().unwrap().lines().count();
    println!(
        "plan: device with {objects} managed objects, delta of {} adds ({lines_n} lines): {:.2?} (target < 5s)",
        plan["counts"]["adds"], plan_t
    );
    let apply_t = run(&["apply", "--yes", "-q", "plans/fw1.plan.json"]);
    println!(
        "apply: {d}-object delta, {lines_n} lines checked one by one, incl. state read before and read-back after: {:.2?} (target < 10s)",
        apply_t
    );
    let replan_t = run(&["plan", "--target", "fw1", "-q", "--detailed-exitcode"]);
    let plan: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("plans/fw1.plan.json")).unwrap())
            .unwrap();
    assert_eq!(
        plan["has_changes"], false,
        "not converged: {}",
        plan["script"]
    );
    println!(
        "plan after apply (no changes, {} objects): {:.2?}",
        plan["device_objects"], replan_t
    );
    rt.block_on(sim.shutdown()).ok();
}
