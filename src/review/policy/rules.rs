//! The classification table: for every key of `blockops.yaml` (and for allowlist entries,
//! templates and blocklist files), whether a change to it weakens protection, and why.
//!
//! "Protection" is what reviewers rely on: the guardrails that stop blockops blocking your own
//! networks (allowlist, never-block, private ranges, minimum prefixes), the brake on large
//! changes (`max_removals`), and where credentials and changes go (hosts, host keys, the
//! approved branch, error patterns, the Cybereason URL). A key missing from this table is
//! treated as weakening ([`UNCLASSIFIED`]) and fails the `every_config_key_is_classified` test,
//! so a key added later cannot be silently "no change". docs/review.md shows this table; a
//! test keeps the two identical.
use std::cmp::Ordering;

use serde::Serialize;
use serde_json::Value;

use crate::config::Threshold;

/// How a change affects protection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Effect {
    /// Weakens protection: listed first, with a marker.
    Weakens,
    /// Strengthens protection.
    Strengthens,
    /// Neither (but still shown: every change is reviewed).
    Neutral,
}

impl Effect {
    pub fn as_str(self) -> &'static str {
        match self {
            Effect::Weakens => "weakens",
            Effect::Strengthens => "strengthens",
            Effect::Neutral => "neutral",
        }
    }
}

/// How the values of a key are compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// One value (scalars, secret references): compared as a whole.
    Leaf,
    /// A list of strings compared as a set: each element added or removed is one change.
    Set,
    /// A list of mappings keyed by `name` (targets): items added or removed, then their keys.
    Keyed,
}

/// Which direction of change weakens protection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Judge {
    /// Every change weakens.
    Weakens,
    /// No change weakens.
    Neutral,
    /// Turning it on weakens; turning it off strengthens.
    WeakensWhenOn,
    /// A lower number weakens (unset counts as the lowest); higher strengthens.
    WeakensWhenLower,
    /// A higher threshold weakens (unset counts as no limit); lower strengthens. A count and
    /// a percentage cannot be compared: weakens.
    WeakensWhenHigher,
    /// A floor flag: weakens when it stops being `false`, strengthens when it becomes `false`.
    WeakensUnlessFalse,
    /// Set elements: a removed element weakens, an added one strengthens.
    WeakensOnRemoval,
    /// Keyed items: an added item weakens, a removed one is neutral.
    WeakensOnAddition,
}

impl Judge {
    /// "weakens when" column of the documentation table.
    pub fn describe(self) -> &'static str {
        match self {
            Judge::Weakens => "any change",
            Judge::Neutral => "never",
            Judge::WeakensWhenOn => "turned on (off strengthens)",
            Judge::WeakensWhenLower => "lowered or unset (raised strengthens)",
            Judge::WeakensWhenHigher => "raised or unset (lowered strengthens)",
            Judge::WeakensUnlessFalse => "no longer `false` (set to `false` strengthens)",
            Judge::WeakensOnRemoval => "an element removed (added strengthens)",
            Judge::WeakensOnAddition => "an item added (removed: neutral)",
        }
    }

    /// Effect of a leaf change `before` → `after` (`None` = unset).
    pub fn leaf(self, before: Option<&Value>, after: Option<&Value>) -> Effect {
        match self {
            Judge::Weakens => Effect::Weakens,
            Judge::Neutral | Judge::WeakensOnAddition => Effect::Neutral,
            Judge::WeakensOnRemoval => Effect::Weakens,
            Judge::WeakensWhenOn => {
                let on = |v: Option<&Value>| v.and_then(Value::as_bool) == Some(true);
                direction(on(before), on(after))
            }
            Judge::WeakensUnlessFalse => {
                let forbids = |v: Option<&Value>| v.and_then(Value::as_bool) == Some(false);
                direction(forbids(after), forbids(before))
            }
            Judge::WeakensWhenLower => {
                let n = |v: Option<&Value>| v.and_then(Value::as_f64);
                match (n(before), n(after)) {
                    (_, None) => Effect::Weakens,
                    (None, Some(_)) => Effect::Strengthens,
                    (Some(a), Some(b)) if b < a => Effect::Weakens,
                    (Some(a), Some(b)) if b > a => Effect::Strengthens,
                    _ => Effect::Neutral,
                }
            }
            Judge::WeakensWhenHigher => {
                let t = |v: Option<&Value>| {
                    v.filter(|v| !v.is_null())
                        .map(|v| serde_json::from_value::<Threshold>(v.clone()).ok())
                };
                match (t(before), t(after)) {
                    (_, None) => Effect::Weakens,
                    (None, Some(_)) => Effect::Strengthens,
                    (Some(Some(a)), Some(Some(b))) => match threshold_cmp(&b, &a) {
                        Some(Ordering::Greater) | None => Effect::Weakens,
                        Some(Ordering::Less) => Effect::Strengthens,
                        Some(Ordering::Equal) => Effect::Neutral,
                    },
                    _ => Effect::Weakens,
                }
            }
        }
    }

    /// Effect of one set element or keyed item being added (`true`) or removed.
    pub fn membership(self, added: bool) -> Effect {
        match (self, added) {
            (Judge::WeakensOnRemoval, false) | (Judge::WeakensOnAddition, true) => Effect::Weakens,
            (Judge::WeakensOnRemoval, true) => Effect::Strengthens,
            (Judge::Weakens, _) => Effect::Weakens,
            _ => Effect::Neutral,
        }
    }
}

/// `was` → `is`, where `true` is the weaker state.
fn direction(was_weak: bool, is_weak: bool) -> Effect {
    match (was_weak, is_weak) {
        (false, true) => Effect::Weakens,
        (true, false) => Effect::Strengthens,
        _ => Effect::Neutral,
    }
}

/// Order of two removal thresholds, when they are comparable (same unit).
pub fn threshold_cmp(a: &Threshold, b: &Threshold) -> Option<Ordering> {
    match (a, b) {
        (Threshold::Count(x), Threshold::Count(y)) => Some(x.cmp(y)),
        (Threshold::Percent(x), Threshold::Percent(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

/// One row of the classification table.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    /// Dotted key; `[]` marks the items of a keyed list (`targets[].host`).
    pub pattern: &'static str,
    pub shape: Shape,
    pub judge: Judge,
    /// Why, in one sentence, for reviewers.
    pub why: &'static str,
}

const fn rule(pattern: &'static str, judge: Judge, why: &'static str) -> Rule {
    Rule {
        pattern,
        shape: Shape::Leaf,
        judge,
        why,
    }
}

const fn set(pattern: &'static str, judge: Judge, why: &'static str) -> Rule {
    Rule {
        pattern,
        shape: Shape::Set,
        judge,
        why,
    }
}

use Judge::*;

const PULL_ONLY: &str = "Decides what `pull` collects; what it collects still passes the guardrails and arrives as a blocklist change reviewed like this one.";
const TIMING: &str = "Timing only: a request that times out fails the command; nothing is skipped.";
const WINDOW: &str =
    "How many lines are in flight inside a transaction; every reply and echo is still checked.";
const OWNED: &str = "Objects with this prefix are treated as blockops' own: `plan` may change or delete them on the device.";
const GROUP: &str = "blockops replaces this group's members; pointing it at another group rewrites that group on the device.";
const LIMIT: &str =
    "A device limit that `check` validates; the new layout shows in the script diff.";
const HOST_KEY: &str =
    "Decides which host key is trusted with the device credentials; check the new key out of band.";
const ENDPOINT: &str = "Where changes and the device credentials go.";

/// Every key of `blockops.yaml`.
pub const CONFIG_RULES: &[Rule] = &[
    rule(
        "cybereason.url",
        Weakens,
        "The Cybereason password is sent to this server.",
    ),
    rule(
        "cybereason.username",
        Neutral,
        "The account `pull` logs in as; the password still goes only to `cybereason.url`.",
    ),
    rule(
        "cybereason.password",
        Neutral,
        "Where the password is read from (shown by name only); it still goes only to `cybereason.url`.",
    ),
    rule("cybereason.timeout", Neutral, TIMING),
    rule("cybereason.retries", Neutral, TIMING),
    rule("cybereason.retry_backoff", Neutral, TIMING),
    rule("cybereason.retry_after_max", Neutral, TIMING),
    rule(
        "cybereason.ca_cert",
        Weakens,
        "The CA that decides which server is trusted with the Cybereason password.",
    ),
    rule(
        "cybereason.insecure_skip_verify",
        WeakensWhenOn,
        "On: any server answering at the URL receives the Cybereason password.",
    ),
    rule(
        "cybereason.result_limit",
        Neutral,
        "Query size; `pull` splits a query until every part is complete.",
    ),
    rule("cybereason.connection_facet", Neutral, PULL_ONLY),
    set("cybereason.malicious_classes", Neutral, PULL_ONLY),
    set("cybereason.malop_skip_statuses", Neutral, PULL_ONLY),
    rule("cybereason.epp_malops", Neutral, PULL_ONLY),
    rule("sources.reputation", Neutral, PULL_ONLY),
    rule("sources.connections", Neutral, PULL_ONLY),
    rule("sources.domains", Neutral, PULL_ONLY),
    rule("sources.malops", Neutral, PULL_ONLY),
    rule(
        "window",
        Neutral,
        "How long collected indicators stay; their removal is braked by `max_removals` and reviewed.",
    ),
    rule(
        "guardrails.allow_private",
        WeakensWhenOn,
        "On: private ranges (RFC 1918, CGNAT, ULA) — usually your own networks — become blockable.",
    ),
    rule(
        "guardrails.min_prefix_v4",
        WeakensWhenLower,
        "Lower: wider IPv4 networks become blockable.",
    ),
    rule(
        "guardrails.min_prefix_v6",
        WeakensWhenLower,
        "Lower: wider IPv6 networks become blockable.",
    ),
    rule(
        "guardrails.max_removals",
        WeakensWhenHigher,
        "Higher: `pull` and `plan` remove more objects without `--allow-large-change`.",
    ),
    set(
        "guardrails.nat64_prefixes",
        WeakensOnRemoval,
        "Removed: addresses behind that NAT64 prefix are no longer judged as the IPv4 address they embed.",
    ),
    rule(
        "guardrails.expiry_warning_days",
        Neutral,
        "Only how early `check` warns about expiring entries.",
    ),
    rule(
        "guardrails.floor.allow_private",
        WeakensUnlessFalse,
        "The floor stops forbidding `allow_private: true`.",
    ),
    rule(
        "guardrails.floor.min_prefix_v4",
        WeakensWhenLower,
        "The config may allow wider IPv4 networks without `--allow-weaker-policy`.",
    ),
    rule(
        "guardrails.floor.min_prefix_v6",
        WeakensWhenLower,
        "The config may allow wider IPv6 networks without `--allow-weaker-policy`.",
    ),
    rule(
        "guardrails.floor.max_removals",
        WeakensWhenHigher,
        "The config may raise `max_removals` further without `--allow-weaker-policy`.",
    ),
    set(
        "guardrails.floor.allowlist",
        WeakensOnRemoval,
        "The allowlist may lose this entry without `--allow-weaker-policy`.",
    ),
    rule("render.prefix", Weakens, OWNED),
    rule("render.addrgrp", Weakens, GROUP),
    rule("render.addrgrp6", Weakens, GROUP),
    rule("render.max_group_members", Neutral, LIMIT),
    rule("render.max_name_length", Neutral, LIMIT),
    rule("render.max_line_length", Neutral, LIMIT),
    rule("render.color", Neutral, "Cosmetic."),
    rule(
        "render.template_fields",
        Weakens,
        "Which extra fields templates may write to the device.",
    ),
    rule(
        "files.pulled",
        Neutral,
        "Which file lists pulled indicators; its entries are compared as indicator changes.",
    ),
    rule(
        "files.manual",
        Neutral,
        "Which file lists manual indicators; its entries are compared as indicator changes.",
    ),
    rule(
        "files.allowlist",
        Weakens,
        "Which file decides what is never blocked.",
    ),
    rule(
        "git.author_name",
        Neutral,
        "Author of `pull --commit` commits.",
    ),
    rule(
        "git.author_email",
        Neutral,
        "Author of `pull --commit` commits.",
    ),
    Rule {
        pattern: "targets",
        shape: Shape::Keyed,
        judge: WeakensOnAddition,
        why: "A new target receives changes and the credentials it names are sent to its host; a removed target keeps its last state.",
    },
    rule(
        "targets[].name",
        Neutral,
        "Identity: a renamed target shows as one target removed and one added.",
    ),
    rule("targets[].host", Weakens, ENDPOINT),
    rule("targets[].port", Weakens, ENDPOINT),
    rule(
        "targets[].username",
        Neutral,
        "The administrator account; its profile on the device limits what it may change.",
    ),
    rule(
        "targets[].password",
        Neutral,
        "Where the password is read from (shown by name only); it still goes only to this target's host.",
    ),
    rule(
        "targets[].private_key",
        Neutral,
        "Which key file authenticates (its path only); it still goes only to this target's host.",
    ),
    rule("targets[].known_hosts", Weakens, HOST_KEY),
    rule("targets[].host_key_fingerprint", Weakens, HOST_KEY),
    rule("targets[].vdom", Weakens, "Changes go to another VDOM."),
    rule(
        "targets[].approved_branch",
        Weakens,
        "Plans are applied only from commits on this branch: it decides whose review counts.",
    ),
    rule(
        "targets[].transaction",
        Neutral,
        "How a push is wrapped; a failing line is aborted either way.",
    ),
    rule("targets[].connect_timeout", Neutral, TIMING),
    rule("targets[].command_timeout", Neutral, TIMING),
    rule(
        "targets[].max_addresses",
        Neutral,
        "Capacity check in `check` and `plan`.",
    ),
    rule(
        "targets[].central_management",
        Weakens,
        "Whether blockops changes a unit that FortiManager manages (its installs delete unknown objects).",
    ),
    rule("targets[].window_lines", Neutral, WINDOW),
    rule("targets[].window_bytes", Neutral, WINDOW),
    rule("targets[].render.prefix", Weakens, OWNED),
    rule("targets[].render.addrgrp", Weakens, GROUP),
    rule("targets[].render.addrgrp6", Weakens, GROUP),
    rule("targets[].render.max_group_members", Neutral, LIMIT),
    rule("targets[].render.max_name_length", Neutral, LIMIT),
    rule("targets[].render.max_line_length", Neutral, LIMIT),
    rule("targets[].render.color", Neutral, "Cosmetic."),
    rule(
        "targets[].render.template_fields",
        Weakens,
        "Which extra fields templates may write to this device.",
    ),
    set(
        "targets[].error_patterns",
        WeakensOnRemoval,
        "Removed: a device reply with this text no longer stops the push.",
    ),
];

/// An entry of the allowlist file.
pub const ALLOWLIST: Rule = Rule {
    pattern: "allowlist entry",
    shape: Shape::Set,
    judge: WeakensOnRemoval,
    why: "What it protects (often your own networks or a partner's) becomes blockable once it is removed; a changed comment is neutral.",
};

/// A template file (built in or `templates/fortios/*.j2`).
pub const TEMPLATE: Rule = Rule {
    pattern: "templates/fortios/*.j2",
    shape: Shape::Leaf,
    judge: Weakens,
    why: "Code that decides what is written to the device for every indicator, now and later; its effect on today's list is in the script diff, its effect on future indicators only in its text.",
};

/// A file added to or removed from a blocklist directory.
pub const BLOCKLIST_FILE: Rule = Rule {
    pattern: "files under blocklists/",
    shape: Shape::Leaf,
    judge: Neutral,
    why: "The configured files are compared entry by entry; other files are not read by blockops.",
};

/// A key this table does not know.
pub const UNCLASSIFIED: Rule = Rule {
    pattern: "any other key",
    shape: Shape::Leaf,
    judge: Weakens,
    why: "Not classified yet: treated as weakening until someone writes its rule.",
};

/// The rule for a dotted pattern, if any.
pub fn lookup(pattern: &str) -> Option<&'static Rule> {
    CONFIG_RULES.iter().find(|r| r.pattern == pattern)
}

/// The table as markdown (what docs/review.md shows).
pub fn markdown_table() -> String {
    let mut out = String::from("| key | weakens protection when | why |\n|---|---|---|\n");
    let extra = [&ALLOWLIST, &TEMPLATE, &BLOCKLIST_FILE, &UNCLASSIFIED];
    for r in CONFIG_RULES.iter().chain(extra) {
        out.push_str(&format!(
            "| `{}` | {} | {} |\n",
            r.pattern,
            r.judge.describe(),
            r.why
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn directions() {
        let e = |j: Judge, a: Option<Value>, b: Option<Value>| j.leaf(a.as_ref(), b.as_ref());
        let n = || Some(Value::Null);
        use Effect::{Neutral as N, Strengthens as S, Weakens as W};
        let cases = [
            (WeakensWhenOn, Some(json!(false)), Some(json!(true)), W),
            (WeakensWhenOn, Some(json!(true)), Some(json!(false)), S),
            (WeakensWhenLower, Some(json!(24)), Some(json!(16)), W),
            (WeakensWhenLower, Some(json!(24)), Some(json!(28)), S),
            (WeakensWhenLower, Some(json!(24)), None, W),
            (WeakensWhenLower, None, Some(json!(24)), S),
            (
                WeakensWhenHigher,
                Some(json!("25%")),
                Some(json!("100%")),
                W,
            ),
            (WeakensWhenHigher, Some(json!(500)), Some(json!(50)), S),
            (WeakensWhenHigher, Some(json!(50)), Some(json!(50)), N),
            (WeakensWhenHigher, Some(json!("10%")), Some(json!(50)), W),
            (WeakensWhenHigher, Some(json!("10%")), n(), W),
            (WeakensWhenHigher, n(), Some(json!("10%")), S),
            (WeakensUnlessFalse, Some(json!(false)), None, W),
            (WeakensUnlessFalse, Some(json!(false)), Some(json!(true)), W),
            (WeakensUnlessFalse, None, Some(json!(false)), S),
            (WeakensUnlessFalse, None, Some(json!(true)), N),
        ];
        for (i, (j, a, b, want)) in cases.into_iter().enumerate() {
            assert_eq!(e(j, a, b), want, "case {i}");
        }
        assert_eq!(WeakensOnRemoval.membership(false), W);
        assert_eq!(WeakensOnRemoval.membership(true), S);
        assert_eq!(WeakensOnAddition.membership(true), W);
        assert_eq!(WeakensOnAddition.membership(false), N);
        assert_eq!(Neutral.membership(false), N);
    }

    #[test]
    fn patterns_are_unique() {
        let mut seen = std::collections::BTreeSet::new();
        for r in CONFIG_RULES {
            assert!(seen.insert(r.pattern), "{} twice", r.pattern);
        }
    }

    /// docs/review.md shows exactly this table.
    #[test]
    fn docs_show_the_classification_table() {
        let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/review.md"))
            .expect("docs/review.md");
        let table = markdown_table();
        assert!(
            doc.contains(&table),
            "docs/review.md does not contain the current classification table; replace it with:\n\n{table}"
        );
    }
}
