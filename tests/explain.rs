//! `blockops explain` and `blockops completions` through the real binary.
mod support;

use support::repo::{TempRepo, blocklist, entry};

fn repo() -> TempRepo {
    let r = TempRepo::new();
    r.write(
        "blocklists/cybereason.yaml",
        &blocklist(&[
            "- value: 203.0.113.7\n  type: ipv4\n  sources: [connection]\n  malops: [\"11.-42\"]\n  first_seen: 2026-11-20\n".into(),
            entry("198.51.100.0/24", "ipv4-net", "reputation"),
            entry("c2.evil.example", "fqdn", "domain"),
            entry("10.9.9.9", "ipv4", "connection"),
        ]),
    );
    r.write(
        "blocklists/allowlist.yaml",
        "entries:\n- value: 192.0.2.0/28\n  comment: partner\n",
    );
    r
}

#[test]
fn explains_a_listed_value_with_provenance_and_placement() {
    let r = repo();
    let out = r.run(&["explain", "203.0.113.7"]).ok().stdout;
    assert!(out.starts_with("203.0.113.7 (ipv4): BLOCKED\n"), "{out}");
    assert!(out.contains("listed in blocklists/cybereason.yaml:3 (sources=connection malops=11.-42 first_seen=2026-11-20)"), "{out}");
    assert!(
        out.contains("target fw1: object \"bo-203.0.113.7\" in blockops-v4"),
        "{out}"
    );
}

#[test]
fn explains_network_coverage_drops_and_absence() {
    let r = repo();
    let out = r.run(&["explain", "198.51.100.77"]).ok().stdout;
    assert!(
        out.contains("BLOCKED") && out.contains("inside network 198.51.100.0/24"),
        "{out}"
    );
    let out = r.run(&["explain", "10.9.9.9"]).ok().stdout;
    assert!(
        out.contains("not blocked") && out.contains("dropped: private"),
        "{out}"
    );
    let out = r.run(&["explain", "192.0.2.3"]).ok().stdout;
    assert!(
        out.contains("allowlist: blocklists/allowlist.yaml:2: 192.0.2.0/28 (partner)"),
        "{out}"
    );
    assert!(out.contains("no blocklist file mentions it"), "{out}");
    let out = r.run(&["explain", "www.c2.evil.example"]).ok().stdout;
    assert!(out.contains("do not match subdomains"), "{out}");
    let json = r
        .run(&["explain", "c2.evil.example", "--format", "json"])
        .ok()
        .stdout;
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["blocked"], true);
    assert_eq!(v["targets"][0]["object"], "bo-c2.evil.example");
    let bad = r.run(&["explain", "evil.example; purge"]).code(1);
    assert!(
        bad.stderr.contains("not a valid indicator"),
        "{}",
        bad.stderr
    );
}

#[test]
fn completions_are_generated_for_each_shell() {
    let r = repo();
    for shell in ["bash", "zsh", "fish"] {
        let out = r.run(&["completions", shell]).ok().stdout;
        assert!(out.contains("explain") && out.contains("render"), "{shell}");
    }
}

#[test]
fn explain_cites_the_policy_keys_and_allowlist_entries_that_decide() {
    let r = repo();
    let out = r.run(&["explain", "10.9.9.9"]).ok().stdout;
    assert!(
        out.contains("  decided by guardrails.allow_private = false (blockops.yaml, not set: default): drops it; the value is in a private range\n"),
        "{out}"
    );
    let out = r.run(&["explain", "192.0.2.3"]).ok().stdout;
    assert!(
        out.contains("  decided by allowlist = 192.0.2.0/28 (partner) (blocklists/allowlist.yaml:2): drops it;"),
        "{out}"
    );
    // Keys written in the configuration are cited with their line.
    r.write(
        "blockops.yaml",
        &format!(
            "guardrails:\n  allow_private: true\n  min_prefix_v4: 20\n{}",
            support::repo::CONFIG
        ),
    );
    let out = r.run(&["explain", "10.9.9.9"]).ok().stdout;
    assert!(out.starts_with("10.9.9.9 (ipv4): BLOCKED\n"), "{out}");
    assert!(
        out.contains("  decided by guardrails.allow_private = true (blockops.yaml:2): permits it;"),
        "{out}"
    );
    let v: serde_json::Value = serde_json::from_str(
        &r.run(&["explain", "198.51.100.0/22", "--format", "json"])
            .ok()
            .stdout,
    )
    .unwrap();
    let d = &v["decided_by"][0];
    assert_eq!(d["key"], "guardrails.min_prefix_v4", "{v:#}");
    assert_eq!(d["value"], "20");
    assert_eq!(d["verdict"], "permits");
    assert_eq!(
        (d["file"].as_str(), d["line"].as_u64()),
        (Some("blockops.yaml"), Some(3))
    );
    let v: serde_json::Value = serde_json::from_str(
        &r.run(&["explain", "198.51.96.0/19", "--format", "json"])
            .ok()
            .stdout,
    )
    .unwrap();
    assert_eq!(v["decided_by"][0]["verdict"], "drops", "{v:#}");
    assert_eq!(
        v["decided_by"][0]["detail"],
        "/19 is shorter than the minimum /20"
    );
}
