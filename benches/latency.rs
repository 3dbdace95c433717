//! Benchmark (not a test): `plan` and `apply` over a slow link (issue #12, issue #9 item 6).
//!
//! `cargo bench --bench latency` with, in the environment:
//!
//! - `BENCH_RTT` — round trip to emulate (default `5ms`);
//! - `BENCH_PROXY` — a `blockops` binary that has `sim proxy` (the TCP delay proxy,
//!   `src/sim/proxy.rs`): the link then gets `BENCH_RTT / 2` of delay in each direction and
//!   the simulator answers at once. Without it the simulator's `--latency` is set to
//!   `BENCH_RTT` instead: *device time per line*, which no client can hide (N lines take at
//!   least N × latency, pipelined or not — docs/fortigate-sim.md), so pipelining shows no gain;
//! - `BENCH_NEW` — addresses to create (default 1000); `BENCH_MANAGED` — blockops addresses
//!   already on the device (default 0);
//! - `BENCH_MODES` — comma list of `tx` (apply with `transaction: true`, pipelined), `line`
//!   (apply without a transaction, line by line), `netmiko` (the same script pushed by netmiko
//!   4.8.0's `send_config_set`, needs `BENCH_PYTHON` = a python with netmiko), `plan` (only
//!   plan); default `tx,line`.
//!
//! Every mode starts from the same device state; every apply is followed by a check that a
//! new plan is empty. Prints one line per mode with the wall-clock times.
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::{env_usize, git};

mod support;

use blockops::sim::fortigate::{FortiSim, Limits, Profile, SimOptions};

/// `5ms`, `2.5ms`, `500us`.
fn parse_rtt(s: &str) -> Duration {
    let (num, unit) = s
        .find(|c: char| c.is_ascii_alphabetic())
        .map(|i| s.split_at(i))
        .unwrap_or((s, "ms"));
    let v: f64 = num.parse().expect("BENCH_RTT like 5ms");
    match unit {
        "ms" => Duration::from_secs_f64(v / 1e3),
        "us" => Duration::from_secs_f64(v / 1e6),
        "s" => Duration::from_secs_f64(v),
        _ => panic!("BENCH_RTT unit: ms, us or s"),
    }
}

const PW: &str = "bench-pw";

/// The delay proxy's process, stopped however the bench ends.
struct Proxy(std::process::Child);

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn main() {
    let rtt = parse_rtt(&std::env::var("BENCH_RTT").unwrap_or_else(|_| "5ms".into()));
    let proxy_bin = std::env::var("BENCH_PROXY").ok();
    let new = env_usize("BENCH_NEW", 1_000);
    let managed = env_usize("BENCH_MANAGED", 0);
    let modes = std::env::var("BENCH_MODES").unwrap_or_else(|_| "tx,line".into());
    let bin = env!("CARGO_BIN_EXE_blockops");
    let rt = support::runtime();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let total = new + managed;

    let sim = rt
        .block_on(FortiSim::start(SimOptions {
            profile: Profile {
                limits: Limits {
                    max_entries: total + 10_000,
                    ..Limits::default()
                },
                ..Profile::default()
            },
            password: Some(blockops::secret::Secret::new(PW)),
            default_objects: false,
            latency: if proxy_bin.is_some() {
                Duration::ZERO
            } else {
                rtt
            },
            ..Default::default()
        }))
        .unwrap();
    // The link: through the delay proxy, or straight to the simulator.
    let mut proxy = None;
    let port = match &proxy_bin {
        Some(p) => {
            let half = format!("{}us", rtt.as_micros() / 2);
            let mut child = Command::new(p)
                .args(["sim", "proxy", "--listen", "127.0.0.1:0", "--upstream"])
                .arg(sim.addr.to_string())
                .args(["--delay", &half])
                .stdout(Stdio::piped())
                .spawn()
                .expect("BENCH_PROXY starts");
            let mut line = String::new();
            BufReader::new(child.stdout.take().unwrap())
                .read_line(&mut line)
                .unwrap();
            let addr = line.trim().strip_prefix("listening on ").expect(&line);
            let port: u16 = addr.rsplit(':').next().unwrap().parse().unwrap();
            proxy = Some(Proxy(child));
            port
        }
        None => sim.addr.port(),
    };
    std::fs::write(root.join(".gitignore"), "plans/\n").unwrap();
    let config = |tx: bool| {
        format!(
            "guardrails:\n  max_removals: 100%\ntargets:\n  - name: fw1\n    host: 127.0.0.1\n    port: {port}\n    password: {{env: BENCH_PW}}\n    host_key_fingerprint: \"{}\"\n    command_timeout: 120s\n    transaction: {tx}\n",
            sim.host_key_fingerprint()
        )
    };
    std::fs::write(root.join("blockops.yaml"), config(false)).unwrap();
    support::commit_blocklist(root, total);

    // The device holds the desired state minus `new` addresses (seeded in-process).
    let today = blockops::blocklist::today();
    let desired = support::desired_minus(root, new);
    if managed > 0 {
        let seed = support::seed_script(&desired);
        let lines: Vec<&str> = seed.lines().map(str::trim).collect();
        let out = sim.run(&lines);
        assert!(
            !out.iter().any(|l| l.contains("Command fail")),
            "seeding failed"
        );
    }
    let start_state = sim.state();

    let run = |args: &[&str], ok: &[i32]| {
        let t = Instant::now();
        let out = Command::new(bin)
            .args(args)
            .current_dir(root)
            .env("BENCH_PW", PW)
            .env("BLOCKOPS_TODAY", blockops::plan::date_string(today))
            .output()
            .unwrap();
        let el = t.elapsed();
        assert!(
            out.status.code().is_some_and(|c| ok.contains(&c)),
            "{args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        (el, String::from_utf8_lossy(&out.stdout).to_string())
    };
    let link = match &proxy_bin {
        Some(_) => format!("{rtt:?} RTT (delay proxy)"),
        None => format!("{rtt:?} device time per line (simulator --latency, no proxy)"),
    };
    println!("link: {link}; {managed} managed addresses on the device, {new} to create");
    let plan_path = root.join("plans/fw1.plan.json");
    for mode in modes.split(',').map(str::trim) {
        sim.set_state(start_state.clone());
        let tx = mode == "tx";
        std::fs::write(root.join("blockops.yaml"), config(tx)).unwrap();
        git(root, &["commit", "-q", "-am", mode, "--allow-empty"]);
        let (t_plan, _) = run(&["plan", "--target", "fw1"], &[0]);
        let plan: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&plan_path).unwrap()).unwrap();
        let script = plan["script"].as_str().unwrap().to_string();
        let lines = script.lines().filter(|l| !l.trim().is_empty()).count();
        let t_apply = match mode {
            "plan" => {
                println!("plan: {t_plan:.2?} ({lines} script lines)");
                continue;
            }
            "tx" | "line" => {
                let (t, out) = run(&["apply", "--yes", plan_path.to_str().unwrap()], &[0]);
                if let Some(s) = out.lines().find(|l| l.contains("applied")) {
                    eprintln!("  {s}");
                }
                t
            }
            "netmiko" => {
                let py = std::env::var("BENCH_PYTHON").expect("BENCH_PYTHON for netmiko");
                let file = root.join("plans/netmiko.script");
                std::fs::write(&file, &script).unwrap();
                let out = Command::new(py)
                    .arg(concat!(
                        env!("CARGO_MANIFEST_DIR"),
                        "/benches/netmiko_push.py"
                    ))
                    .args([&port.to_string(), "admin", PW])
                    .arg(&file)
                    .output()
                    .unwrap();
                assert!(
                    out.status.success(),
                    "netmiko: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
                Duration::from_secs_f64(v["seconds"].as_f64().unwrap())
            }
            other => panic!("unknown mode {other}"),
        };
        let (t_replan, _) = run(&["plan", "--target", "fw1", "--detailed-exitcode"], &[0]);
        println!(
            "{mode}: plan {t_plan:.2?}, apply {t_apply:.2?} ({lines} lines, {:.2} ms/line), plan again {t_replan:.2?} (empty)",
            t_apply.as_secs_f64() * 1e3 / lines as f64
        );
    }
    drop(proxy);
    rt.block_on(sim.shutdown()).unwrap();
}
