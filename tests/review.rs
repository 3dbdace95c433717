//! Issue #13: the review shows every change that matters. `diff` compares the policy
//! (configuration, allowlist, templates, blocklist files) as well as the indicators, classifies
//! each policy change, lists what a guardrail change does now, and `check` enforces the policy
//! floor — all through the real binary on temporary git repositories.
mod support;

use serde_json::Value;
use support::repo::{TempRepo, blocklist, entry};

const CONFIG: &str = "\
cybereason:
  url: https://tenant.example:8443
  username: api@example.com
  password: {env: CR_PASSWORD}
guardrails:
  max_removals: 25%
targets:
  - name: fw1
    host: 192.0.2.1
    password: {env: FW1_PASSWORD}
    host_key_fingerprint: \"SHA256:aaaa\"
";

const ALLOW: &str =
    "entries:\n- value: 192.0.2.0/28\n  comment: partner VPN\n- value: corp.example\n";

fn indicators() -> String {
    blocklist(&[
        entry("10.1.2.3", "ipv4", "connection"),
        entry("192.0.2.5", "ipv4", "connection"),
        entry("203.0.113.7", "ipv4", "connection"),
        entry("c2.evil.example", "fqdn", "domain"),
    ])
}

/// A committed repository: config, allowlist, one blocklist.
fn repo() -> TempRepo {
    let r = TempRepo::new();
    r.write("blockops.yaml", CONFIG);
    r.write("blocklists/allowlist.yaml", ALLOW);
    r.write("blocklists/cybereason.yaml", &indicators());
    r.commit("base");
    r
}

fn json(out: &str) -> Value {
    serde_json::from_str(out).unwrap_or_else(|e| panic!("not JSON ({e}):\n{out}"))
}

/// (key, effect) of every policy change in a JSON report.
fn policy(doc: &Value) -> Vec<(String, String)> {
    doc["policy"]["changes"]
        .as_array()
        .expect("policy.changes[]")
        .iter()
        .map(|c| {
            (
                c["key"].as_str().unwrap().to_string(),
                c["effect"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// The issue's reviewer scenario: nothing about today's indicators changes, yet the policy is
/// much weaker. It must not say "no changes", and `--exit-code` must exit 2.
#[test]
fn weakened_policy_with_identical_scripts_is_never_no_changes() {
    let r = repo();
    r.write(
        "blockops.yaml",
        &CONFIG
            .replace(
                "  max_removals: 25%\n",
                "  max_removals: 100%\n  allow_private: true\n",
            )
            .replace("192.0.2.1", "198.51.100.66")
            .replace("SHA256:aaaa", "SHA256:bbbb")
            .replace(
                "    password: {env: FW1_PASSWORD}\n",
                "    password: {env: FW1_PASSWORD}\n    approved_branch: hotfix\n",
            ),
    );
    r.write("blocklists/allowlist.yaml", "entries: []\n");
    r.write(
        "templates/fortios/full.j2",
        &format!(
            "{{#- site tag -#}}\n{}",
            std::fs::read_to_string(support::repo::fixture_path("templates/fortios/full.j2"))
                .unwrap()
        ),
    );
    r.commit("weaken");

    let md = r.run(&["diff", "--format", "markdown"]).ok().stdout;
    assert!(
        md.starts_with(
            "### ⚠️ blockops: no indicator changes; 8 policy changes, 8 weaken protection\n"
        ),
        "{md}"
    );
    assert!(!md.contains("no changes"), "{md}");
    // Weakening first, each with the marker, key, values and line.
    for want in [
        "- ⚠️ **weakens protection**: `guardrails.allow_private`: `false` → `true` (blockops.yaml:7)",
        "- ⚠️ **weakens protection**: `guardrails.max_removals`: `25%` → `100%` (blockops.yaml:6)",
        "- ⚠️ **weakens protection**: `targets[fw1].host`: `192.0.2.1` → `198.51.100.66` (blockops.yaml:10)",
        "- ⚠️ **weakens protection**: `targets[fw1].host_key_fingerprint`: `SHA256:aaaa` → `SHA256:bbbb` (blockops.yaml:13)",
        "- ⚠️ **weakens protection**: `targets[fw1].approved_branch`: `main` → `hotfix` (blockops.yaml:12)",
        "- ⚠️ **weakens protection**: allowlist entry `192.0.2.0/28` (partner VPN) removed (blocklists/allowlist.yaml:2 at ",
        "- ⚠️ **weakens protection**: allowlist entry `corp.example` removed",
        "- ⚠️ **weakens protection**: template `templates/fortios/full.j2` changed (built in → repository)",
    ] {
        assert!(md.contains(want), "missing {want:?} in\n{md}");
    }
    assert!(
        md.contains("+{#- site tag -#}"),
        "template diff shown:\n{md}"
    );
    // What it does now: the allowlisted partner address becomes blocked; private stays
    // blocked because allow_private is on.
    assert!(
        md.contains("Newly blocked (2):")
            && md.contains("- `192.0.2.5` (blocklists/cybereason.yaml:"),
        "{md}"
    );
    assert!(md.contains("— was dropped by private:"), "{md}");

    r.run(&["diff", "--exit-code"]).code(2);
    let text = r.run(&["diff"]).ok().stdout;
    assert!(
        text.lines()
            .next()
            .unwrap()
            .ends_with(": +0 -0 ~0 entries; 8 policy changes, 8 weaken protection"),
        "{text}"
    );
    assert!(
        text.contains("  WEAKENS     guardrails.allow_private: false → true (blockops.yaml:7)"),
        "{text}"
    );
    let doc = json(&r.run(&["diff", "--format", "json"]).ok().stdout);
    assert_eq!(doc["schema_version"], 1);
    assert_eq!(doc["summary"]["has_changes"], true);
    assert_eq!(doc["summary"]["added"], 0);
    assert_eq!(doc["summary"]["policy_changes"], 8);
    assert_eq!(doc["summary"]["policy_weakening"], 8);
    assert_eq!(doc["policy"]["weakening"], 8);
    let c = &doc["policy"]["changes"][0];
    // Exactly the fields docs/json.md documents.
    let fields: Vec<&str> = c.as_object().unwrap().keys().map(String::as_str).collect();
    let mut want = [
        "kind", "key", "rule", "op", "before", "after", "effect", "why", "file", "line", "rev",
        "diff",
    ];
    want.sort();
    assert_eq!(fields, want);
    assert_eq!(c["kind"], "config");
    assert_eq!(c["key"], "guardrails.allow_private");
    assert_eq!(c["rule"], "guardrails.allow_private");
    assert_eq!(c["op"], "changed");
    assert_eq!(
        (c["before"].as_str(), c["after"].as_str()),
        (Some("false"), Some("true"))
    );
    assert_eq!(c["effect"], "weakens");
    assert!(c["why"].as_str().unwrap().contains("private ranges"));
    assert_eq!(
        (c["file"].as_str(), c["line"].as_u64()),
        (Some("blockops.yaml"), Some(7))
    );
    let e = &doc["policy"]["effects"][0];
    assert_eq!(e["target"], "fw1");
    let blocked: Vec<&str> = e["newly_blocked"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["value"].as_str().unwrap())
        .collect();
    assert_eq!(blocked, ["10.1.2.3", "192.0.2.5"]);
}

/// One policy change at a time: the change is found, classified as the issue says, shown in
/// all three formats, and `--exit-code` exits 2.
#[test]
fn each_kind_of_policy_change_alone() {
    let r = repo();
    type Edit = Box<dyn Fn(&TempRepo)>;
    let cfg = |from: &'static str, to: &'static str| -> Edit {
        Box::new(move |r: &TempRepo| {
            assert!(CONFIG.contains(from), "{from}");
            r.write("blockops.yaml", &CONFIG.replacen(from, to, 1));
        })
    };
    let target = |extra: &'static str| -> Edit {
        Box::new(move |r: &TempRepo| r.write("blockops.yaml", &format!("{CONFIG}{extra}")))
    };
    let cases: Vec<(&str, Edit, &str, &str)> = vec![
        (
            "allow_private on",
            cfg("guardrails:\n", "guardrails:\n  allow_private: true\n"),
            "guardrails.allow_private",
            "weakens",
        ),
        (
            "allow_private off",
            cfg("guardrails:\n", "guardrails:\n  allow_private: false\n"),
            "",
            "",
        ),
        (
            "shorter minimum prefix",
            cfg("guardrails:\n", "guardrails:\n  min_prefix_v4: 16\n"),
            "guardrails.min_prefix_v4",
            "weakens",
        ),
        (
            "longer minimum prefix",
            cfg("guardrails:\n", "guardrails:\n  min_prefix_v6: 56\n"),
            "guardrails.min_prefix_v6",
            "strengthens",
        ),
        (
            "larger max_removals",
            cfg("25%", "50%"),
            "guardrails.max_removals",
            "weakens",
        ),
        (
            "smaller max_removals",
            cfg("25%", "10%"),
            "guardrails.max_removals",
            "strengthens",
        ),
        (
            "expiry warning",
            cfg("guardrails:\n", "guardrails:\n  expiry_warning_days: 7\n"),
            "guardrails.expiry_warning_days",
            "neutral",
        ),
        (
            "cybereason url",
            cfg("https://tenant.example:8443", "https://cr.attacker.example"),
            "cybereason.url",
            "weakens",
        ),
        (
            "cybereason user",
            cfg("api@example.com", "other@example.com"),
            "cybereason.username",
            "neutral",
        ),
        (
            "tls verification off",
            cfg("  username:", "  insecure_skip_verify: true\n  username:"),
            "cybereason.insecure_skip_verify",
            "weakens",
        ),
        (
            "target host",
            cfg("192.0.2.1", "192.0.2.99"),
            "targets[fw1].host",
            "weakens",
        ),
        (
            "target port",
            cfg(
                "    host: 192.0.2.1\n",
                "    host: 192.0.2.1\n    port: 2222\n",
            ),
            "targets[fw1].port",
            "weakens",
        ),
        (
            "target user",
            cfg(
                "    host: 192.0.2.1\n",
                "    host: 192.0.2.1\n    username: blockops\n",
            ),
            "targets[fw1].username",
            "neutral",
        ),
        (
            "target vdom",
            cfg(
                "    host: 192.0.2.1\n",
                "    host: 192.0.2.1\n    vdom: dmz\n",
            ),
            "targets[fw1].vdom",
            "weakens",
        ),
        (
            "host key",
            cfg("SHA256:aaaa", "SHA256:cccc"),
            "targets[fw1].host_key_fingerprint",
            "weakens",
        ),
        (
            "known_hosts",
            cfg(
                "    host: 192.0.2.1\n",
                "    host: 192.0.2.1\n    known_hosts: other_known_hosts\n",
            ),
            "targets[fw1].known_hosts",
            "weakens",
        ),
        (
            "approved branch",
            cfg(
                "    host: 192.0.2.1\n",
                "    host: 192.0.2.1\n    approved_branch: dev\n",
            ),
            "targets[fw1].approved_branch",
            "weakens",
        ),
        (
            "error pattern removed",
            cfg(
                "    host: 192.0.2.1\n",
                "    host: 192.0.2.1\n    error_patterns: [Command fail, parse error, not found in datasource]\n",
            ),
            "targets[fw1].error_patterns",
            "weakens",
        ),
        (
            "error pattern added",
            cfg(
                "    host: 192.0.2.1\n",
                "    host: 192.0.2.1\n    error_patterns: [Command fail, parse error, not found in datasource, Maximum number of entries, Unknown action]\n",
            ),
            "targets[fw1].error_patterns",
            "strengthens",
        ),
        (
            "transaction",
            cfg(
                "    host: 192.0.2.1\n",
                "    host: 192.0.2.1\n    transaction: true\n",
            ),
            "targets[fw1].transaction",
            "neutral",
        ),
        (
            "render color",
            cfg("guardrails:\n", "render:\n  color: 13\nguardrails:\n"),
            "render.color",
            "neutral",
        ),
        (
            "render prefix",
            cfg("guardrails:\n", "render:\n  prefix: FW-\nguardrails:\n"),
            "render.prefix",
            "weakens",
        ),
        (
            "per-target group",
            cfg(
                "    host: 192.0.2.1\n",
                "    host: 192.0.2.1\n    render:\n      addrgrp: Internal-Servers\n",
            ),
            "targets[fw1].render.addrgrp",
            "weakens",
        ),
        (
            "sources",
            cfg("guardrails:\n", "sources:\n  malops: false\nguardrails:\n"),
            "sources.malops",
            "neutral",
        ),
        (
            "window",
            cfg("guardrails:\n", "window: 7d\nguardrails:\n"),
            "window",
            "neutral",
        ),
        (
            "new target",
            target("  - name: fw2\n    host: 203.0.113.50\n    password: {env: FW1_PASSWORD}\n"),
            "targets[fw2]",
            "weakens",
        ),
        (
            "secret reference",
            cfg("{env: FW1_PASSWORD}", "{file: secrets/fw1}"),
            "targets[fw1].password",
            "neutral",
        ),
        (
            "floor added",
            cfg(
                "guardrails:\n",
                "guardrails:\n  floor:\n    min_prefix_v4: 24\n",
            ),
            "guardrails.floor.min_prefix_v4",
            "strengthens",
        ),
        (
            "allowlist entry removed",
            Box::new(|r: &TempRepo| {
                r.write(
                    "blocklists/allowlist.yaml",
                    "entries:\n- value: corp.example\n",
                )
            }),
            "192.0.2.0/28",
            "weakens",
        ),
        (
            "allowlist entry added",
            Box::new(|r: &TempRepo| {
                r.write(
                    "blocklists/allowlist.yaml",
                    &format!("{ALLOW}- value: 198.51.100.0/24\n"),
                )
            }),
            "198.51.100.0/24",
            "strengthens",
        ),
        (
            "allowlist comment",
            Box::new(|r: &TempRepo| {
                r.write(
                    "blocklists/allowlist.yaml",
                    &ALLOW.replace("partner VPN", "partner"),
                )
            }),
            "192.0.2.0/28",
            "neutral",
        ),
        (
            "template",
            Box::new(|r: &TempRepo| {
                r.write("templates/fortios/objects.j2", "{% macro address(a) %}{% endmacro %}{% macro address6(a) %}{% endmacro %}{% macro group(g) %}{% endmacro %}\n")
            }),
            "templates/fortios/objects.j2",
            "weakens",
        ),
        (
            "file under blocklists",
            Box::new(|r: &TempRepo| r.write("blocklists/extra.yaml", "entries: []\n")),
            "blocklists/extra.yaml",
            "neutral",
        ),
    ];
    for (what, edit, key, effect) in cases {
        edit(&r);
        let doc = json(
            &r.run(&[
                "diff",
                "--head",
                "WORKTREE",
                "--format",
                "json",
                "--exit-code",
            ])
            .stdout,
        );
        let got = policy(&doc);
        if key.is_empty() {
            assert!(got.is_empty(), "{what}: {got:?}");
        } else {
            assert!(
                got.contains(&(key.to_string(), effect.to_string())),
                "{what}: want ({key}, {effect}) in {got:?}"
            );
            let out = r
                .run(&["diff", "--head", "WORKTREE", "--exit-code"])
                .code(2);
            assert!(out.stdout.contains(key), "{what}: text\n{}", out.stdout);
            let md = r
                .run(&["diff", "--head", "WORKTREE", "--format", "markdown"])
                .ok();
            assert!(
                md.stdout.contains(&format!("`{key}`")),
                "{what}: markdown\n{}",
                md.stdout
            );
            assert_eq!(
                md.stdout.contains("⚠️ **weakens protection**"),
                effect == "weakens",
                "{what}:\n{}",
                md.stdout
            );
        }
        r.git(&["checkout", "-q", "--", "."]);
        r.git(&["clean", "-qfd"]);
    }
}

/// Secrets are only ever named in the configuration; a changed reference shows the names.
#[test]
fn a_changed_secret_reference_shows_names_never_secrets() {
    let r = repo();
    r.write(
        "blockops.yaml",
        &CONFIG.replace("{env: CR_PASSWORD}", "{env: CR_PASSWORD_2}"),
    );
    r.write("secret.txt", "hunter2-not-shown");
    let out = r
        .cmd()
        .args(["diff", "--head", "WORKTREE", "--format", "markdown"])
        .env("CR_PASSWORD", "hunter2-not-shown")
        .env("CR_PASSWORD_2", "hunter2-not-shown")
        .output()
        .unwrap();
    let md = String::from_utf8_lossy(&out.stdout);
    assert!(
        md.contains("`cybereason.password`: `{env: CR_PASSWORD}` → `{env: CR_PASSWORD_2}`"),
        "{md}"
    );
    assert!(!md.contains("hunter2"), "{md}");
}

/// Indicator changes and policy changes in one pull request: both are shown, the heading
/// summarises both, and the effect section separates the policy's consequence.
#[test]
fn policy_changes_mixed_with_indicator_changes() {
    let r = repo();
    r.write(
        "blocklists/cybereason.yaml",
        &blocklist(&[
            entry("10.1.2.3", "ipv4", "connection"),
            entry("10.9.9.9", "ipv4", "connection"),
            entry("192.0.2.5", "ipv4", "connection"),
            entry("203.0.113.7", "ipv4", "connection"),
            entry("c2.evil.example", "fqdn", "domain"),
        ]),
    );
    r.write(
        "blockops.yaml",
        &CONFIG.replace(
            "guardrails:\n",
            "render:\n  color: 3\nguardrails:\n  allow_private: true\n",
        ),
    );
    r.commit("private ranges and a new indicator");
    let md = r.run(&["diff", "--format", "markdown"]).ok().stdout;
    assert!(
        md.starts_with(
            "### ⚠️ blockops: +1 / −0 / ~0 indicators; 2 policy changes, 1 weakens protection\n"
        ),
        "{md}"
    );
    let weak = md.find("`guardrails.allow_private`").unwrap();
    let neutral = md.find("`render.color`").unwrap();
    assert!(weak < neutral, "weakening first:\n{md}");
    assert!(
        md.contains("**Added in `blocklists/cybereason.yaml`**"),
        "{md}"
    );
    // Both private addresses become blocked; the effect section attributes that to the policy.
    assert!(md.contains("Newly blocked (2):"), "{md}");
    assert!(
        md.contains("- `10.9.9.9` (blocklists/cybereason.yaml:"),
        "{md}"
    );
    let doc = json(&r.run(&["diff", "--format", "json"]).ok().stdout);
    assert_eq!(doc["summary"]["added"], 1);
    assert_eq!(doc["summary"]["policy_changes"], 2);
    assert_eq!(doc["summary"]["policy_weakening"], 1);
    assert_eq!(
        doc["targets"][0]["blocked_added"].as_array().unwrap().len(),
        2
    );
    let text = r.run(&["diff"]).ok().stdout;
    assert!(
        text.contains("policy effect on target fw1: 2 newly blocked, 0 no longer blocked"),
        "{text}"
    );
    assert!(
        text.contains("+ 10.9.9.9 (ipv4) sources=connection"),
        "{text}"
    );
}

/// Without policy changes, the comment keeps its form and the JSON an empty policy section.
#[test]
fn indicator_only_changes_keep_their_comment() {
    let r = repo();
    r.write(
        "blocklists/cybereason.yaml",
        &blocklist(&[entry("203.0.113.7", "ipv4", "connection")]),
    );
    r.commit("fewer");
    let md = r.run(&["diff", "--format", "markdown"]).ok().stdout;
    assert!(
        md.starts_with("### blockops: +0 / −3 / ~0 indicators\n"),
        "{md}"
    );
    assert!(!md.contains("olicy"), "{md}");
    let doc = json(&r.run(&["diff", "--format", "json"]).ok().stdout);
    assert_eq!(doc["policy"]["changes"], Value::Array(vec![]));
    assert_eq!(doc["summary"]["policy_changes"], 0);
    // And nothing at all: "no changes", exit 0.
    let same = r
        .run(&[
            "diff",
            "--base",
            "HEAD",
            "--format",
            "markdown",
            "--exit-code",
        ])
        .ok();
    assert!(
        same.stdout.starts_with("### blockops: no changes\n"),
        "{}",
        same.stdout
    );
}

/// A pull request that empties a large allowlist: the comment stays under the cap, keeps the
/// weakening heading, and says it was cut.
#[test]
fn a_huge_policy_change_is_cut_below_the_comment_limit() {
    let r = TempRepo::new();
    let mut allow = String::from("entries:\n");
    for i in 0..3000 {
        allow.push_str(&format!(
            "- value: 198.51.{}.{}\n  comment: partner host number {i}\n",
            100 + i / 250,
            i % 250 + 1
        ));
    }
    r.write("blocklists/allowlist.yaml", &allow);
    r.write("blocklists/cybereason.yaml", &indicators());
    r.commit("big allowlist");
    r.write("blocklists/allowlist.yaml", "entries: []\n");
    r.commit("emptied");
    let md = r.run(&["diff", "--format", "markdown"]).ok().stdout;
    assert!(md.len() <= 60_000, "{}", md.len());
    assert!(
        md.starts_with(
            "### ⚠️ blockops: no indicator changes; 3000 policy changes, 3000 weaken protection\n"
        ),
        "{}",
        &md[..200]
    );
    assert!(
        md.contains("more policy changes cut at 60000 characters"),
        "a note says it was cut"
    );
}

/// The first commit has no base: the policy is compared with the built-in defaults.
#[test]
fn first_commit_compares_the_policy_with_the_defaults() {
    let r = TempRepo::new();
    r.write(
        "blockops.yaml",
        &CONFIG.replace("guardrails:\n", "guardrails:\n  allow_private: true\n"),
    );
    r.write("blocklists/cybereason.yaml", &indicators());
    r.commit("first");
    let doc = json(&r.run(&["diff", "--format", "json"]).ok().stdout);
    assert_eq!(doc["base"], "(empty)");
    let keys = policy(&doc);
    for k in ["cybereason.url", "targets[fw1]", "guardrails.allow_private"] {
        assert!(
            keys.contains(&(k.into(), "weakens".into())),
            "{k}: {keys:?}"
        );
    }
    // Against the built-in policy, the private address is blocked because of this change.
    let e = &doc["policy"]["effects"][0]["newly_blocked"];
    assert_eq!(e[0]["value"], "10.1.2.3", "{e:#}");
    assert_eq!(e[0]["rule"], "private");
}

fn with_floor(guardrails: &str) -> String {
    CONFIG.replace(
        "guardrails:\n  max_removals: 25%\n",
        &format!("guardrails:\n  max_removals: 25%\n{guardrails}  floor:\n    allow_private: false\n    min_prefix_v4: 24\n    allowlist: [192.0.2.0/28]\n"),
    )
}

#[test]
fn check_refuses_a_config_below_the_floor_unless_overridden() {
    let r = repo();
    r.write("blockops.yaml", &with_floor(""));
    r.commit("floor");
    r.run(&["check"]).ok();
    r.write("blockops.yaml", &with_floor("  allow_private: true\n"));
    let out = r.run(&["check"]).code(3);
    assert!(
        out.stdout.contains("blockops.yaml:7:3: error: policy floor: guardrails.allow_private: true is below the floor"),
        "{}",
        out.stdout
    );
    assert!(out.stderr.contains("refused:"), "{}", out.stderr);
    let doc = json(&r.run(&["check", "--format", "json"]).code(3).stdout);
    assert_eq!(doc["ok"], false);
    assert_eq!(doc["errors"], 1);
    let ok = r.run(&["check", "--allow-weaker-policy"]).ok();
    assert!(
        ok.stdout.contains("(allowed by --allow-weaker-policy)"),
        "{}",
        ok.stdout
    );
    // Another error besides the floor: a broken repository is exit 1, not a refusal.
    r.write(
        "blocklists/manual.yaml",
        "entries:\n- value: \"bad value\"\n",
    );
    r.run(&["check"]).code(1);
}

#[test]
fn lowering_the_floor_in_the_same_change_is_caught_with_floor_from() {
    let r = repo();
    r.write("blockops.yaml", &with_floor(""));
    r.commit("floor");
    // Lower the floor and the guardrail together: the head's own floor is satisfied …
    r.write(
        "blockops.yaml",
        &CONFIG.replace("guardrails:\n", "guardrails:\n  allow_private: true\n"),
    );
    r.write(
        "blocklists/allowlist.yaml",
        "entries:\n- value: corp.example\n",
    );
    r.commit("lower both");
    r.run(&["check"]).ok();
    // … but not the floor already approved on the base branch.
    let out = r.run(&["check", "--floor-from", "HEAD~1"]).code(3);
    for want in [
        "guardrails.allow_private: true is below the floor (guardrails.floor at HEAD~1.allow_private: false)",
        "guardrails.floor.allow_private lowered from false at HEAD~1 to (unset)",
        "guardrails.floor.min_prefix_v4 lowered from 24 at HEAD~1 to (unset)",
        "no longer protects 192.0.2.0/28",
    ] {
        assert!(out.stdout.contains(want), "{want}\n{}", out.stdout);
    }
    r.run(&["check", "--floor-from", "HEAD~1", "--allow-weaker-policy"])
        .ok();
    // diff reports the lowered floor as weakening too.
    let doc = json(&r.run(&["diff", "--format", "json"]).ok().stdout);
    let keys = policy(&doc);
    for k in [
        "guardrails.floor.allow_private",
        "guardrails.floor.min_prefix_v4",
        "guardrails.floor.allowlist",
    ] {
        assert!(
            keys.contains(&(k.into(), "weakens".into())),
            "{k}: {keys:?}"
        );
    }
}

/// README.md's review section shows the comment this change produces (up to the script diff),
/// byte for byte with commit ids aside, so the example cannot drift from the tool.
#[test]
fn readme_example_comment_is_what_diff_prints() {
    let readme = std::fs::read_to_string(support::repo::fixture_path("README.md")).unwrap();
    let start = readme
        .find("<!-- review-example -->")
        .expect("README review example marker");
    let block = &readme[start..];
    let open = block.find("```markdown\n").unwrap() + "```markdown\n".len();
    let close = open + block[open..].find("\n```\n").unwrap() + 1;
    let example = &block[open..close];

    let r = repo();
    r.write(
        "blockops.yaml",
        &CONFIG
            .replace(
                "  max_removals: 25%\n",
                "  max_removals: 25%\n  allow_private: true\n",
            )
            .replace("192.0.2.1", "198.51.100.66"),
    );
    r.write(
        "blocklists/cybereason.yaml",
        &blocklist(&[
            entry("10.1.2.3", "ipv4", "connection"),
            entry("192.0.2.5", "ipv4", "connection"),
            entry("198.51.100.23", "ipv4", "reputation"),
            entry("203.0.113.7", "ipv4", "connection"),
            entry("c2.evil.example", "fqdn", "domain"),
        ]),
    );
    r.commit("allow private ranges, move fw1");
    let head = r.git(&["rev-parse", "--short=12", "HEAD"]);
    let base = r.git(&["rev-parse", "--short=12", "HEAD~1"]);
    let md = r
        .run(&["diff", "--format", "markdown"])
        .ok()
        .stdout
        .replace(base.trim(), "3f6c1d0c8e0b")
        .replace(head.trim(), "9a1e5b7d2c44");
    assert!(
        md.starts_with(example),
        "README.md's example comment differs from the output:\n{md}"
    );
    assert!(md[example.len()..].starts_with("<details><summary>Script diff for <code>fw1</code>"));
}
