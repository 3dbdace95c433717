use std::collections::BTreeMap;

use super::rules::CONFIG_RULES;
use super::*;
use crate::gitops::Source;

/// Files in memory.
pub(crate) struct Mem(pub BTreeMap<String, String>);

impl Source for Mem {
    fn read(&self, path: &str) -> anyhow::Result<Option<Vec<u8>>> {
        Ok(self.0.get(path).map(|s| s.as_bytes().to_vec()))
    }
    fn list(&self, dir: &str) -> anyhow::Result<Vec<String>> {
        let prefix = format!("{dir}/");
        Ok(self
            .0
            .keys()
            .filter_map(|k| k.strip_prefix(&prefix))
            .filter(|k| !k.contains('/'))
            .map(String::from)
            .collect())
    }
    fn label(&self) -> String {
        "MEM".into()
    }
}

pub(crate) const CONFIG: &str = "\
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

pub(crate) const ALLOW: &str =
    "entries:\n- value: 192.0.2.0/28\n  comment: partner\n- value: corp.example\n";

pub(crate) fn files(config: &str, allow: &str) -> Mem {
    let mut m = BTreeMap::new();
    m.insert("blockops.yaml".to_string(), config.to_string());
    m.insert("blocklists/allowlist.yaml".to_string(), allow.to_string());
    m.insert(
        "blocklists/manual.yaml".to_string(),
        "entries: []\n".to_string(),
    );
    m.insert(
        "blocklists/cybereason.yaml".to_string(),
        "entries:\n- value: 10.1.2.3\n  type: ipv4\n  sources: [connection]\n- value: 192.0.2.5\n  type: ipv4\n  sources: [connection]\n- value: 203.0.113.7\n  type: ipv4\n  sources: [connection]\n"
            .to_string(),
    );
    Mem(m)
}

pub(crate) fn load(src: &Mem) -> (Workspace, PolicyFiles) {
    let ws = Workspace::load(src, "blockops.yaml").unwrap_or_else(|d| panic!("{d}"));
    let pf = PolicyFiles::read(
        src,
        "blockops.yaml",
        &BTreeSet::from(["blocklists".to_string()]),
    )
    .unwrap();
    (ws, pf)
}

fn changes(base: &Mem, head: &Mem) -> Vec<PolicyChange> {
    let (a, fa) = load(base);
    let (b, fb) = load(head);
    compare(Side { ws: &a, files: &fa }, Side { ws: &b, files: &fb }).unwrap()
}

/// (key, effect) pairs.
fn keys(c: &[PolicyChange]) -> Vec<(String, Effect)> {
    c.iter().map(|c| (c.key.clone(), c.effect)).collect()
}

/// A configuration with every optional key set, so that every key appears in its tree.
const EVERY_KEY: &str = "\
cybereason:
  url: https://tenant.example:8443
  username: api@example.com
  password: {env: CR_PASSWORD, file: secrets/cr}
  timeout: 30s
  retries: 3
  retry_backoff: 1s
  ca_cert: ca.pem
  insecure_skip_verify: false
  result_limit: 1000
  connection_facet: facet
  malicious_classes: [malware]
  retry_after_max: 2m
  malop_skip_statuses: [CLOSED]
  epp_malops: details
sources: {reputation: true, connections: true, domains: true, malops: true}
window: 30d
guardrails:
  allow_private: false
  min_prefix_v4: 24
  min_prefix_v6: 48
  max_removals: 25%
  expiry_warning_days: 14
  nat64_prefixes: [64:ff9b::/96]
  floor:
    allow_private: false
    min_prefix_v4: 24
    min_prefix_v6: 48
    max_removals: 25%
    allowlist: [10.0.0.0/8]
render: {prefix: bo-, addrgrp: g4, addrgrp6: g6, max_group_members: 600, max_name_length: 79, max_line_length: 400, color: 0, template_fields: {address: [allow-routing]}}
files: {pulled: blocklists/cybereason.yaml, manual: blocklists/manual.yaml, allowlist: blocklists/allowlist.yaml}
git: {author_name: bot, author_email: bot@example.com}
targets:
  - name: fw1
    host: 192.0.2.1
    port: 22
    username: admin
    password: {env: FW1_PASSWORD, file: secrets/fw1}
    private_key: id_ed25519
    known_hosts: known_hosts
    host_key_fingerprint: \"SHA256:aaaa\"
    vdom: root
    approved_branch: main
    transaction: true
    connect_timeout: 10s
    command_timeout: 30s
    max_addresses: 1000
    render: {prefix: bo-, addrgrp: g4, addrgrp6: g6, max_group_members: 600, max_name_length: 79, max_line_length: 400, color: 1, template_fields: {address: [allow-routing]}}
    error_patterns: [Command fail]
    central_management: allow-backup-mode
    window_lines: 32
    window_bytes: 4096
";

/// A key added to the configuration later must get a rule: without one, this fails (and
/// the review reports changes to it as weakening).
#[test]
fn every_config_key_is_classified() {
    let cfg = Config::parse(
        EVERY_KEY,
        "blockops.yaml",
        crate::fortios::naming::render_rules,
    )
    .unwrap_or_else(|d| panic!("{d}"));
    let tree = serde_json::to_value(&cfg).unwrap();
    let (seen, missing) = tree::patterns(&tree);
    assert!(
        missing.is_empty(),
        "configuration keys without a classification rule in src/review/policy/rules.rs: {missing:?}"
    );
    // Every optional key is set in EVERY_KEY: a null in the tree means the fixture lacks it.
    fn nulls(v: &serde_json::Value, path: String, out: &mut Vec<String>) {
        match v {
            serde_json::Value::Null => out.push(path),
            serde_json::Value::Object(m) => {
                for (k, x) in m {
                    nulls(x, format!("{path}.{k}"), out);
                }
            }
            serde_json::Value::Array(a) => {
                for x in a {
                    nulls(x, format!("{path}[]"), out);
                }
            }
            _ => {}
        }
    }
    let mut unset = Vec::new();
    nulls(&tree, String::new(), &mut unset);
    assert!(unset.is_empty(), "set these keys in EVERY_KEY: {unset:?}");
    let stale: Vec<&str> = CONFIG_RULES
        .iter()
        .map(|r| r.pattern)
        .filter(|p| !seen.contains(*p))
        .collect();
    assert!(
        stale.is_empty(),
        "rules for keys that do not exist: {stale:?}"
    );
}

#[test]
fn an_unknown_key_is_reported_as_weakening() {
    let a = serde_json::json!({"guardrails": {"allow_private": false}, "new_section": {"knob": 1}});
    let b = serde_json::json!({"guardrails": {"allow_private": false, "new_knob": true}, "new_section": {"knob": 2}});
    let t = tree::Texts {
        file: "blockops.yaml",
        base: None,
        head: None,
        base_label: "a",
        head_label: "b",
    };
    let c = tree::compare(&a, &b, &t);
    assert_eq!(
        keys(&c),
        [
            ("guardrails.new_knob".to_string(), Effect::Weakens),
            ("new_section.knob".to_string(), Effect::Weakens)
        ]
    );
    assert!(c.iter().all(|c| c.rule == rules::UNCLASSIFIED.pattern));
}

#[test]
fn identical_policies_have_no_changes() {
    let a = files(CONFIG, ALLOW);
    assert!(changes(&a, &files(CONFIG, ALLOW)).is_empty());
    // Writing a default explicitly is no change.
    let explicit = CONFIG.replace("guardrails:\n", "guardrails:\n  allow_private: false\n");
    assert!(changes(&a, &files(&explicit, ALLOW)).is_empty());
}

#[test]
fn guardrail_changes_are_classified_by_direction() {
    let base = files(CONFIG, ALLOW);
    let weaker = CONFIG.replace(
        "  max_removals: 25%\n",
        "  max_removals: 100%\n  allow_private: true\n  min_prefix_v4: 16\n  min_prefix_v6: 64\n",
    );
    let c = changes(&base, &files(&weaker, ALLOW));
    assert_eq!(
        keys(&c),
        [
            ("guardrails.allow_private".to_string(), Effect::Weakens),
            ("guardrails.max_removals".to_string(), Effect::Weakens),
            ("guardrails.min_prefix_v4".to_string(), Effect::Weakens),
            ("guardrails.min_prefix_v6".to_string(), Effect::Strengthens),
        ]
    );
    let ap = &c[0];
    assert_eq!(
        (ap.before.as_deref(), ap.after.as_deref()),
        (Some("false"), Some("true"))
    );
    assert_eq!((ap.file.as_str(), ap.line), ("blockops.yaml", 7), "{ap:?}");
    assert_eq!(c[1].line, 6);
    // A count cannot be compared with a percentage: weakening, to be safe.
    let count = CONFIG.replace("25%", "10");
    assert_eq!(
        keys(&changes(&base, &files(&count, ALLOW))),
        [("guardrails.max_removals".to_string(), Effect::Weakens)]
    );
}

#[test]
fn where_credentials_and_changes_go_weakens() {
    let base = files(CONFIG, ALLOW);
    let moved = CONFIG
        .replace("https://tenant.example:8443", "https://elsewhere.example")
        .replace("host: 192.0.2.1", "host: 198.51.100.1\n    approved_branch: dev\n    error_patterns: [Command fail]\n    vdom: other")
        .replace("SHA256:aaaa", "SHA256:bbbb");
    let c = changes(&base, &files(&moved, ALLOW));
    let w: Vec<(String, Effect)> = keys(&c);
    for k in [
        "cybereason.url",
        "targets[fw1].host",
        "targets[fw1].host_key_fingerprint",
        "targets[fw1].approved_branch",
        "targets[fw1].vdom",
    ] {
        assert!(w.contains(&(k.to_string(), Effect::Weakens)), "{k}: {w:?}");
    }
    // Three default error patterns removed, one kept.
    let removed: Vec<&str> = c
        .iter()
        .filter(|c| c.key == "targets[fw1].error_patterns")
        .map(|c| {
            assert_eq!((c.op, c.effect), (Op::Removed, Effect::Weakens));
            c.before.as_deref().unwrap()
        })
        .collect();
    assert_eq!(removed.len(), 3, "{removed:?}");
    assert!(!removed.contains(&"Command fail"));
    let fp = c
        .iter()
        .find(|c| c.key.ends_with("host_key_fingerprint"))
        .unwrap();
    assert_eq!(fp.line, 14, "{fp:?}");
}

#[test]
fn secret_references_show_names_only_and_targets_added_weaken() {
    let base = files(CONFIG, ALLOW);
    let head = CONFIG.replace("{env: CR_PASSWORD}", "{file: secrets/cr.txt}")
        + "  - name: fw2\n    host: 203.0.113.50\n    password: {env: FW1_PASSWORD}\n";
    let c = changes(&base, &files(&head, ALLOW));
    let pw = c.iter().find(|c| c.key == "cybereason.password").unwrap();
    assert_eq!(pw.effect, Effect::Neutral);
    assert_eq!(pw.before.as_deref(), Some("{env: CR_PASSWORD}"));
    assert_eq!(pw.after.as_deref(), Some("{file: secrets/cr.txt}"));
    let fw2 = c.iter().find(|c| c.key == "targets[fw2]").unwrap();
    assert_eq!((fw2.op, fw2.effect), (Op::Added, Effect::Weakens));
    let shown = fw2.after.as_deref().unwrap();
    assert!(
        shown.contains("host: 203.0.113.50") && shown.contains("password: {env: FW1_PASSWORD}"),
        "{shown}"
    );
    assert_eq!(fw2.line, 12);
    // Removing it again is neutral (the device keeps its last state).
    let back = changes(&files(&head, ALLOW), &base);
    let fw2 = back.iter().find(|c| c.key == "targets[fw2]").unwrap();
    assert_eq!((fw2.op, fw2.effect), (Op::Removed, Effect::Neutral));
    assert_eq!(fw2.rev, "MEM");
}

#[test]
fn allowlist_entries_removed_weaken_added_strengthen() {
    let base = files(CONFIG, ALLOW);
    let head = "entries:\n- value: corp.example\n  comment: HQ\n- value: 198.51.100.0/24\n";
    let c = changes(&base, &files(CONFIG, head));
    assert_eq!(
        keys(&c),
        [
            ("192.0.2.0/28".to_string(), Effect::Weakens),
            ("corp.example".to_string(), Effect::Neutral),
            ("198.51.100.0/24".to_string(), Effect::Strengthens),
        ]
    );
    assert_eq!((c[0].op, c[0].line), (Op::Removed, 2));
    assert_eq!(c[0].before.as_deref(), Some("192.0.2.0/28 (partner)"));
    assert_eq!(c[1].after.as_deref(), Some("corp.example (HQ)"));
    assert_eq!(
        (c[2].file.as_str(), c[2].line),
        ("blocklists/allowlist.yaml", 4)
    );
}

#[test]
fn templates_and_blocklist_files_are_compared() {
    let base = files(CONFIG, ALLOW);
    let mut head = files(CONFIG, ALLOW);
    let builtin = Templates::builtin();
    let objects = template_texts(&builtin).unwrap()["objects.j2"].clone();
    // An override identical to the built-in template changes nothing.
    head.0
        .insert("templates/fortios/objects.j2".into(), objects.clone());
    assert!(changes(&base, &head).is_empty());
    head.0.insert(
        "templates/fortios/objects.j2".into(),
        objects.replacen("next", "set color 13\n    next", 1),
    );
    head.0
        .insert("blocklists/README.txt".into(), "notes".into());
    let c = changes(&base, &head);
    assert_eq!(
        keys(&c),
        [
            ("templates/fortios/objects.j2".to_string(), Effect::Weakens),
            ("blocklists/README.txt".to_string(), Effect::Neutral),
        ]
    );
    assert_eq!(c[0].before.as_deref(), Some("built in"));
    assert_eq!(c[0].after.as_deref(), Some("repository"));
    let diff = c[0].diff.as_deref().unwrap();
    assert!(
        diff.lines()
            .any(|l| l.starts_with('+') && l.contains("set color 13")),
        "{diff}"
    );
    assert_eq!((c[1].kind, c[1].op), (Kind::File, Op::Added));
}

#[test]
fn weakening_changes_come_first() {
    let base = files(CONFIG, ALLOW);
    let head = CONFIG.replace(
        "guardrails:\n",
        "render:\n  color: 3\nguardrails:\n  allow_private: true\n",
    );
    let c = changes(&base, &files(&head, ALLOW));
    assert_eq!(
        keys(&c),
        [
            ("guardrails.allow_private".to_string(), Effect::Weakens),
            ("render.color".to_string(), Effect::Neutral),
        ]
    );
}

#[test]
fn effects_list_what_a_guardrail_change_blocks_and_unblocks_now() {
    let base = files(CONFIG, ALLOW);
    let head = files(
        &CONFIG.replace("guardrails:\n", "guardrails:\n  allow_private: true\n"),
        "entries:\n- value: corp.example\n- value: 203.0.113.7\n  comment: our VPN\n",
    );
    let (a, fa) = load(&base);
    let (b, fb) = load(&head);
    let eff = b.effective(crate::blocklist::today());
    let r = report(
        Side { ws: &a, files: &fa },
        Side { ws: &b, files: &fb },
        &eff,
    )
    .unwrap();
    assert_eq!(r.weakening, 2, "{:?}", keys(&r.changes));
    assert_eq!(r.effects.len(), 1);
    let e = &r.effects[0];
    assert_eq!(e.target, "fw1");
    let blocked: Vec<(&str, &str)> = e
        .newly_blocked
        .iter()
        .map(|c| (c.value.as_str(), c.rule))
        .collect();
    assert_eq!(
        blocked,
        [("10.1.2.3", "private"), ("192.0.2.5", "allowlist")]
    );
    assert_eq!(e.newly_unblocked.len(), 1);
    let u = &e.newly_unblocked[0];
    assert_eq!(
        (u.value.as_str(), u.rule, u.line),
        ("203.0.113.7", "allowlist", 8)
    );
    assert!(u.detail.contains("our VPN"), "{}", u.detail);
}

#[test]
fn credentials_in_a_url_are_never_shown() {
    // Config validation refuses credentials in URLs before a diff is made (the loader's own
    // test covers that); the policy tree still redacts them, as defence in depth.
    assert_eq!(
        tree::show(Some(&serde_json::json!(
            "https://api:s3cret@tenant.example:8443/x?y=1"
        )))
        .as_deref(),
        Some("https://***@tenant.example:8443/x?y=1")
    );
    assert_eq!(
        tree::show(Some(&serde_json::json!("https://tenant.example/a@b"))).as_deref(),
        Some("https://tenant.example/a@b")
    );
}
