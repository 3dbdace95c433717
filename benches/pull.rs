//! Performance check for `blockops pull` (issue #3 item 6; a benchmark, not a test):
//! 100 000 reputation entries plus 20 000 malicious connections served by the simulator,
//! merged into an existing 100 000-entry file. Target: under 3 s wall and 400 MB peak RSS
//! for the `blockops pull` process. Run with `cargo bench --bench pull`; figures go to
//! BENCHMARKS.md.
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use blockops::blocklist::indicator::Indicator;
use blockops::blocklist::{BlocklistFile, Entry, Source};
use blockops::sim::cybereason::fixture::{FixtureConnection, FixtureReputation, FixtureTime};
use blockops::sim::cybereason::{CybereasonSim, Fixture, SimConfig};

const REPUTATIONS: usize = 100_000;
const CONNECTIONS: usize = 20_000;
const EXISTING: usize = 100_000;
const RUNS: usize = 3;

fn rep_key(i: usize) -> String {
    if i % 10 == 9 {
        format!("d{i}.bad-{}.example", i % 97)
    } else {
        format!("51.{}.{}.{}", (i >> 16) & 0xff, (i >> 8) & 0xff, i & 0xff)
    }
}

fn fixture() -> Fixture {
    let mut f = Fixture::default();
    for i in 0..REPUTATIONS {
        f.reputations.push(FixtureReputation {
            key: rep_key(i),
            reputation: "blacklist".into(),
            prevent: false,
            comment: format!("feed item {i}"),
        });
    }
    for i in 0..CONNECTIONS {
        f.connections.push(FixtureConnection {
            guid: None,
            local: "10.0.0.5:50394".into(),
            remote: format!("45.{}.{}.{}", (i >> 16) & 0xff, (i >> 8) & 0xff, i & 0xff),
            remote_port: 443,
            domain: (i % 2 == 0).then(|| format!("c{i}.conn.example")),
            // Spread over ~14 days so the window split has real work to do.
            time: FixtureTime::Text(format!("-{}s", 60 + i * 60)),
            classification: Some("malware".into()),
            machine: "WS-0001".into(),
            malops: Vec::new(),
            features: Default::default(),
        });
    }
    f
}

/// The existing file: 95 000 entries that are still reported plus 5 000 stale ones.
fn existing_file() -> String {
    let mut file = BlocklistFile::empty("blocklists/cybereason.yaml");
    let date = blockops::blocklist::parse_date("2026-01-01").ok();
    for i in 0..EXISTING {
        let raw = if i < EXISTING - 5_000 {
            rep_key(i)
        } else {
            format!("62.0.{}.{}", (i >> 8) & 0xff, i & 0xff)
        };
        let Ok(v) = Indicator::parse(&raw) else {
            continue;
        };
        let mut e = Entry::new(v);
        e.sources.insert(Source::Reputation);
        e.first_seen = date;
        file.entries.push(e);
    }
    file.sort();
    file.to_canonical_string()
}

fn git(dir: &Path, args: &[&str]) {
    let ok = Command::new("git")
        .args([
            "-c",
            "user.name=Bench",
            "-c",
            "user.email=bench@example.invalid",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .current_dir(dir)
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(ok, "git {args:?}");
}

fn main() {
    let t = Instant::now();
    let sim = CybereasonSim::spawn(SimConfig {
        fixture: fixture(),
        password: "bench-pw".into(),
        ..SimConfig::default()
    })
    .expect("simulator starts");
    eprintln!(
        "simulator with {REPUTATIONS} reputations + {CONNECTIONS} connections up in {:?}",
        t.elapsed()
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path();
    std::fs::create_dir_all(p.join("blocklists")).expect("mkdir");
    std::fs::write(
        p.join("blockops.yaml"),
        format!(
            "cybereason:\n  url: {}\n  username: api@blockops.example\n  password: {{env: BENCH_PW}}\n\
             sources:\n  domains: false\n  malops: false\nguardrails:\n  allow_private: false\n",
            sim.url()
        ),
    )
    .expect("config");
    let existing = existing_file();
    std::fs::write(p.join("blocklists/cybereason.yaml"), &existing).expect("existing");
    // Every configured file must exist (an empty list is `entries: []`).
    for f in ["manual.yaml", "allowlist.yaml"] {
        std::fs::write(p.join("blocklists").join(f), "entries: []\n").expect("empty list");
    }
    git(p, &["init", "-q", "-b", "main"]);
    git(p, &["add", "-A"]);
    git(p, &["commit", "-q", "-m", "initial"]);

    let bin = env!("CARGO_BIN_EXE_blockops");
    let mut walls = Vec::new();
    let mut rss = Vec::new();
    for run in 1..=RUNS {
        std::fs::write(p.join("blocklists/cybereason.yaml"), &existing).expect("reset");
        let start = Instant::now();
        let out = Command::new("/usr/bin/time")
            .args(["-f", "maxrss_kb=%M\ncpu_s=%U+%S"])
            .arg(bin)
            .arg("--repo")
            .arg(p)
            .args(["-v", "pull", "--format", "json"])
            .env("BENCH_PW", "bench-pw")
            .output()
            .expect("run blockops pull under /usr/bin/time");
        let wall = start.elapsed();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "pull failed: {stderr}");
        let kb: u64 = stderr
            .lines()
            .find_map(|l| l.strip_prefix("maxrss_kb="))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        // CPU of the pull process: with the simulator in this process, wall minus this is
        // mostly time spent waiting for the simulator.
        let cpu = stderr
            .lines()
            .find_map(|l| l.strip_prefix("cpu_s="))
            .unwrap_or("?")
            .to_string();
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json summary");
        println!(
            "run {run}: wall {:.2} s, pull CPU {cpu} s, peak RSS {:.0} MB, entries {}, added {}, removed {}, queries {}, window splits {}",
            wall.as_secs_f64(),
            kb as f64 / 1024.0,
            v["entries"],
            v["added"].as_array().map_or(0, Vec::len),
            v["removed"].as_array().map_or(0, Vec::len),
            v["stats"]["queries"],
            v["stats"]["window_splits"],
        );
        for l in stderr.lines().filter(|l| {
            l.contains("elapsed_ms") || l.contains("fetched") || l.contains("downloaded")
        }) {
            println!("    {l}");
        }
        walls.push(wall.as_secs_f64());
        rss.push(kb);
    }
    walls.sort_by(f64::total_cmp);
    rss.sort();
    println!(
        "median: wall {:.2} s (target < 3 s), peak RSS {:.0} MB (target < 400 MB)",
        walls[walls.len() / 2],
        rss[rss.len() / 2] as f64 / 1024.0
    );
}
