//! Hostile indicators and comments through the real binary (issue #8): embedded IPv4 that
//! escaped the guardrails, a crafted domain pair that stopped every target, comments that
//! `check` accepted and `apply` refused, invisible characters that reached the device.
mod support;

use sha2::{Digest, Sha256};
use support::repo::{TempRepo, blocklist, entry};

fn yaml_quote(s: &str) -> String {
    serde_json::to_string(s).unwrap()
}

#[test]
fn embedded_ipv4_of_an_allowlisted_address_is_not_rendered() {
    let r = TempRepo::new();
    r.write(
        "blocklists/allowlist.yaml",
        "entries:\n- value: 192.0.2.0/28\n  comment: partner VPN\n",
    );
    let hidden = [
        ("64:ff9b:1::c000:201", "ipv6"),
        ("2002:c000:201::/48", "ipv6-net"),
        ("::c000:201", "ipv6"),
        ("::ffff:0:c000:201", "ipv6"),
        ("2001:db8::5efe:c000:201", "ipv6"),
        ("192.0.2.1.nip.io", "fqdn"),
        ("192-0-2-1.sslip.io", "fqdn"),
        ("app-c0000201.nip.io", "fqdn"),
    ];
    let mut entries: Vec<String> = hidden.iter().map(|(v, t)| entry(v, t, "")).collect();
    entries.push(entry("203.0.113.7.nip.io", "fqdn", ""));
    entries.push(entry("app.10.0.0.1.nip.io", "fqdn", ""));
    r.write("blocklists/manual.yaml", &blocklist(&entries));
    let out = r.run(&["render"]).ok();
    for (v, _) in hidden {
        assert!(
            !out.stdout.contains(&format!("\"bo-{v}\"")),
            "{v} rendered:\n{}",
            out.stdout
        );
    }
    assert!(
        !out.stdout.contains("bo-app.10.0.0.1.nip.io"),
        "{}",
        out.stdout
    );
    // Not protected: stays.
    assert!(
        out.stdout.contains("\"bo-203.0.113.7.nip.io\""),
        "{}",
        out.stdout
    );
    // The drops are reported with the rule and the embedded address.
    let out = r.run(&["check"]).ok();
    for (v, _) in hidden {
        let line = out
            .stdout
            .lines()
            .find(|l| l.contains(&format!("`{v}` will not be blocked")))
            .unwrap_or_else(|| panic!("{v} not reported:\n{}", out.stdout));
        assert!(
            line.contains("allowlist") && line.contains("192.0.2.1"),
            "{line}"
        );
    }
    assert!(
        out.stdout.contains(
            "`app.10.0.0.1.nip.io` will not be blocked: private: spells the IPv4 address 10.0.0.1"
        ),
        "{}",
        out.stdout
    );
    let out = r.run(&["explain", "2002:c000:201::/48"]).ok();
    assert!(out.stdout.contains("192.0.2.1"), "{}", out.stdout);
}

/// The name the old scheme (`-` + 8 hex digits) gave a long domain, minus the prefix: itself
/// a valid domain, so listing it made two indicators share one object name.
fn old_cut_name(prefix: &str, domain: &str, max: usize) -> String {
    let full = format!("{prefix}{domain}");
    let hash = hex::encode(&Sha256::digest(full.as_bytes())[..4]);
    format!("{}-{hash}", &full[prefix.len()..max - 9])
}

#[test]
fn a_crafted_domain_equal_to_a_cut_name_does_not_stop_any_target() {
    let long = format!("{}.{}.evil.example", "a".repeat(50), "b".repeat(40));
    let crafted = old_cut_name("bo-", &long, 79);
    let r = TempRepo::new();
    r.write(
        "blockops.yaml",
        &format!(
            "{}  - name: fw2\n    host: 127.0.0.2\n    password: {{env: FW2_PASSWORD}}\n",
            support::repo::CONFIG
        ),
    );
    r.commit("base");
    r.write(
        "blocklists/manual.yaml",
        &blocklist(&[
            entry("203.0.113.9", "ipv4", ""),
            entry(&long, "fqdn", ""),
            entry(&crafted, "fqdn", ""),
        ]),
    );
    for args in [
        &["check"][..],
        &["render", "--target", "fw1"],
        &["render", "--target", "fw2"],
    ] {
        r.run(args).ok();
    }
    let out = r.run(&["render", "--target", "fw2"]).ok();
    assert!(
        out.stdout.contains(&format!("set fqdn \"{long}\"")),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("203.0.113.9 255.255.255.255"));
    // The crafted name is its own object (unless a guardrail drops it), never a clash.
    let check = r.run(&["check"]).ok();
    assert!(!check.stdout.contains("name-collision"), "{}", check.stdout);
    r.commit("pair");
    for t in ["fw1", "fw2"] {
        r.run(&[
            "plan",
            "--target",
            t,
            "--rev",
            "HEAD",
            "--offline-base",
            "HEAD~1",
            "--out",
            "p.json",
        ])
        .ok();
    }
}

#[test]
fn a_multibyte_comment_renders_within_the_byte_limit_the_validator_checks() {
    // 119 × `é` rendered (cut at 255 characters) but apply's validator refused it (> 255 bytes).
    let r = TempRepo::new();
    r.write(
        "blockops.yaml",
        "targets:\n  - name: fw1\n    host: 127.0.0.1\n    port: 9\n    password: {env: FW1_PASSWORD}\n    host_key_fingerprint: \"SHA256:AAAA\"\n    connect_timeout: 2s\n",
    );
    r.commit("base");
    let comment = "é".repeat(119);
    r.write(
        "blocklists/manual.yaml",
        &format!("entries:\n- value: 203.0.113.9\n  comment: \"{comment}\"\n"),
    );
    let out = r.run(&["render"]).ok();
    let line = out
        .stdout
        .lines()
        .find(|l| l.contains("set comment \"blockops: manual"))
        .expect("comment line");
    let value = line
        .trim()
        .strip_prefix("set comment \"")
        .unwrap()
        .strip_suffix('"')
        .unwrap();
    assert!(value.len() <= 255, "{} bytes", value.len());
    assert!(value.starts_with("blockops: manual - éé"));
    // Apply's validator accepts what render produced: it checks a plan before connecting.
    r.commit("comment");
    r.run(&[
        "plan",
        "--target",
        "fw1",
        "--rev",
        "HEAD",
        "--offline-base",
        "HEAD~1",
        "--out",
        "plans/p.json",
    ])
    .ok();
    let out = r.run(&["apply", "plans/p.json", "--yes"]);
    assert_ne!(out.code, 3, "refused: {}", out.stderr);
    assert!(!out.stderr.contains("never sends"), "{}", out.stderr);
}

#[test]
fn invisible_characters_never_reach_the_script() {
    let r = TempRepo::new();
    let hidden = [
        '\u{2028}',
        '\u{2029}',
        '\u{061C}',
        '\u{FE0F}',
        '\u{E0041}',
        '\u{00AD}',
        '\u{200D}',
        '\u{E01EF}',
        '\u{F8FF}',
        '\u{0378}',
    ];
    let comment: String = hidden.iter().map(|c| format!("a{c}")).collect();
    r.write(
        "blocklists/manual.yaml",
        &format!(
            "entries:\n- value: 203.0.113.9\n  comment: {}\n",
            yaml_quote(&comment)
        ),
    );
    let out = r.run(&["render"]).ok();
    for c in hidden {
        assert!(
            !out.stdout.contains(c),
            "U+{:04X} reached the script",
            c as u32
        );
    }
    assert!(
        out.stdout
            .contains("set comment \"blockops: manual - aaaaaaaaaa\""),
        "{}",
        out.stdout
    );
}
