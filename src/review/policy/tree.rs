//! `blockops.yaml` at two revisions compared as generic trees: the typed configuration
//! (defaults filled in) is serialised to JSON values and walked key by key, so every key —
//! including one added to the configuration later — is compared; the classification table
//! ([`super::rules`]) says how. A key without a rule is reported as weakening. (So every
//! configuration field must be serialised: a field marked `skip_serializing` would escape the
//! comparison.)
use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::rules::{self, Effect, Rule, Shape};
use super::{Kind, Op, PolicyChange};
use crate::review::locate::{Seg, line_of};

/// One step of a path through the configuration.
#[derive(Debug, Clone)]
enum Step {
    Key(String),
    /// An item of a keyed list (targets) with its index on each side.
    Item {
        name: String,
        base: Option<usize>,
        head: Option<usize>,
    },
}

/// Where the configuration text of each side is, for line numbers.
pub struct Texts<'a> {
    pub file: &'a str,
    pub base: Option<&'a str>,
    pub head: Option<&'a str>,
    pub base_label: &'a str,
    pub head_label: &'a str,
}

/// Every change between two configuration trees, classified.
pub fn compare(base: &Value, head: &Value, texts: &Texts<'_>) -> Vec<PolicyChange> {
    let mut w = Walker {
        texts,
        out: Vec::new(),
    };
    w.walk(&mut Vec::new(), Some(base), Some(head));
    w.out
}

/// The classification pattern of a path: keys joined by `.`, keyed items as `[]`.
fn pattern(path: &[Step]) -> String {
    let mut s = String::new();
    for step in path {
        match step {
            Step::Key(k) => {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(k);
            }
            Step::Item { .. } => s.push_str("[]"),
        }
    }
    s
}

/// How a path is shown: `targets[fw1].host`.
fn display(path: &[Step]) -> String {
    let mut s = String::new();
    for step in path {
        match step {
            Step::Key(k) => {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(k);
            }
            Step::Item { name, .. } => {
                s.push('[');
                s.push_str(name);
                s.push(']');
            }
        }
    }
    s
}

/// The text path of `path` on one side (`None` when an item does not exist there).
fn segs(path: &[Step], head: bool) -> Option<Vec<Seg<'_>>> {
    path.iter()
        .map(|s| match s {
            Step::Key(k) => Some(Seg::Key(k)),
            Step::Item { base, head: h, .. } => if head { *h } else { *base }.map(Seg::Index),
        })
        .collect()
}

/// A value as reviewers read it: scalars as they are, mappings as `{key: value}` without
/// unset keys (a secret reference shows as `{env: NAME}` — its name, never a secret),
/// lists as `[a, b]`. `None` for unset.
pub fn show(v: Option<&Value>) -> Option<String> {
    fn inner(v: &Value) -> String {
        match v {
            Value::Null => "(unset)".into(),
            Value::String(s) => redact_userinfo(s),
            Value::Array(a) => format!("[{}]", a.iter().map(inner).collect::<Vec<_>>().join(", ")),
            Value::Object(m) => format!(
                "{{{}}}",
                m.iter()
                    .filter(|(_, v)| !v.is_null())
                    .map(|(k, v)| format!("{k}: {}", inner(v)))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            other => other.to_string(),
        }
    }
    v.filter(|v| !v.is_null()).map(inner)
}

/// A URL with credentials in it (`https://user:pass@host/`) shows them as `***`: the
/// configuration should only name secrets, but a review must not print one if it does.
fn redact_userinfo(s: &str) -> String {
    let Some(scheme_end) = s.find("://").map(|i| i + 3) else {
        return s.to_string();
    };
    let authority_end = s[scheme_end..]
        .find(['/', '?', '#'])
        .map_or(s.len(), |i| scheme_end + i);
    match s[scheme_end..authority_end].rfind('@') {
        Some(at) => format!("{}***{}", &s[..scheme_end], &s[scheme_end + at..]),
        None => s.to_string(),
    }
}

/// The keys of a target worth showing when it is added or removed as a whole.
const TARGET_SUMMARY: &[&str] = &[
    "host",
    "port",
    "username",
    "password",
    "private_key",
    "known_hosts",
    "host_key_fingerprint",
    "vdom",
    "approved_branch",
];

fn summary(item: &Value) -> String {
    let parts: Vec<String> = TARGET_SUMMARY
        .iter()
        .filter_map(|k| show(item.get(*k)).map(|v| format!("{k}: {v}")))
        .collect();
    format!("{{{}}}", parts.join(", "))
}

/// The items of a keyed list by name, with their index.
fn by_name(v: Option<&Value>) -> BTreeMap<String, (usize, &Value)> {
    v.and_then(Value::as_array)
        .map(|xs| {
            xs.iter()
                .enumerate()
                .map(|(i, x)| (show(x.get("name")).unwrap_or_default(), (i, x)))
                .collect()
        })
        .unwrap_or_default()
}

struct Walker<'a> {
    texts: &'a Texts<'a>,
    out: Vec<PolicyChange>,
}

impl Walker<'_> {
    fn walk(&mut self, path: &mut Vec<Step>, a: Option<&Value>, b: Option<&Value>) {
        let a = a.filter(|v| !v.is_null());
        let b = b.filter(|v| !v.is_null());
        if a.is_none() && b.is_none() {
            return;
        }
        match rules::lookup(&pattern(path)) {
            Some(r) => match r.shape {
                Shape::Leaf => {
                    if a != b {
                        let effect = r.judge.leaf(a, b);
                        self.push(path, r, a, b, effect);
                    }
                }
                Shape::Set => self.set(path, r, a, b),
                Shape::Keyed => self.keyed(path, r, a, b),
            },
            None => {
                let mapping = |v: Option<&Value>| v.is_none_or(Value::is_object);
                if mapping(a) && mapping(b) {
                    let keys: BTreeSet<&String> = a
                        .and_then(Value::as_object)
                        .into_iter()
                        .chain(b.and_then(Value::as_object))
                        .flat_map(|m| m.keys())
                        .collect();
                    for k in keys {
                        path.push(Step::Key(k.clone()));
                        self.walk(path, a.and_then(|v| v.get(k)), b.and_then(|v| v.get(k)));
                        path.pop();
                    }
                } else if a != b {
                    let r = &rules::UNCLASSIFIED;
                    self.push(path, r, a, b, r.judge.leaf(a, b));
                }
            }
        }
    }

    /// A list compared as a set of shown values.
    fn set(&mut self, path: &[Step], r: &'static Rule, a: Option<&Value>, b: Option<&Value>) {
        let items = |v: Option<&Value>| -> Vec<String> {
            match v {
                Some(Value::Array(xs)) => xs.iter().filter_map(|x| show(Some(x))).collect(),
                other => show(other).into_iter().collect(),
            }
        };
        let (xa, xb) = (items(a), items(b));
        for x in xa.iter().filter(|x| !xb.contains(x)) {
            let line = self.line(path, false);
            self.record(
                path,
                r,
                Op::Removed,
                Some(x.clone()),
                None,
                r.judge.membership(false),
                line,
            );
        }
        for x in xb.iter().filter(|x| !xa.contains(x)) {
            let line = self.line(path, true);
            self.record(
                path,
                r,
                Op::Added,
                None,
                Some(x.clone()),
                r.judge.membership(true),
                line,
            );
        }
    }

    /// A list of mappings keyed by `name`.
    fn keyed(
        &mut self,
        path: &mut Vec<Step>,
        r: &'static Rule,
        a: Option<&Value>,
        b: Option<&Value>,
    ) {
        let (ia, ib) = (by_name(a), by_name(b));
        let names: BTreeSet<&String> = ia.keys().chain(ib.keys()).collect();
        for name in names {
            let (pa, pb) = (ia.get(name), ib.get(name));
            path.push(Step::Item {
                name: name.clone(),
                base: pa.map(|p| p.0),
                head: pb.map(|p| p.0),
            });
            match (pa, pb) {
                (Some((_, x)), Some((_, y))) => {
                    let keys: BTreeSet<&String> = x
                        .as_object()
                        .into_iter()
                        .chain(y.as_object())
                        .flat_map(|m| m.keys())
                        .collect();
                    for k in keys {
                        path.push(Step::Key(k.clone()));
                        self.walk(path, x.get(k), y.get(k));
                        path.pop();
                    }
                }
                (Some((_, x)), None) => {
                    let line = self.line(path, false);
                    let e = r.judge.membership(false);
                    self.record(path, r, Op::Removed, Some(summary(x)), None, e, line);
                }
                (None, Some((_, y))) => {
                    let line = self.line(path, true);
                    let e = r.judge.membership(true);
                    self.record(path, r, Op::Added, None, Some(summary(y)), e, line);
                }
                (None, None) => {}
            }
            path.pop();
        }
    }

    fn push(
        &mut self,
        path: &[Step],
        r: &'static Rule,
        a: Option<&Value>,
        b: Option<&Value>,
        effect: Effect,
    ) {
        let op = match (a, b) {
            (None, _) => Op::Added,
            (_, None) => Op::Removed,
            _ => Op::Changed,
        };
        let line = self.line(path, b.is_some());
        self.record(path, r, op, show(a), show(b), effect, line);
    }

    /// (line, revision label) of a path: at head when it is written there, else at base.
    fn line(&self, path: &[Step], prefer_head: bool) -> (usize, String) {
        let t = self.texts;
        let at = |head: bool| -> Option<usize> {
            let text = if head { t.head } else { t.base }?;
            line_of(text, &segs(path, head)?)
        };
        let order = if prefer_head {
            [true, false]
        } else {
            [false, true]
        };
        for head in order {
            if let Some(l) = at(head) {
                return (
                    l,
                    if head { t.head_label } else { t.base_label }.to_string(),
                );
            }
        }
        (0, t.head_label.to_string())
    }

    #[allow(clippy::too_many_arguments)]
    fn record(
        &mut self,
        path: &[Step],
        r: &'static Rule,
        op: Op,
        before: Option<String>,
        after: Option<String>,
        effect: Effect,
        (line, rev): (usize, String),
    ) {
        self.out.push(PolicyChange {
            kind: Kind::Config,
            key: display(path),
            rule: r.pattern,
            op,
            before,
            after,
            effect,
            why: r.why,
            file: self.texts.file.to_string(),
            line,
            rev,
            diff: None,
        });
    }
}

/// Every classification pattern reachable in `v` (a configuration with every optional key
/// set), and the paths no rule covers.
pub fn patterns(v: &Value) -> (BTreeSet<String>, Vec<String>) {
    fn go(path: &mut Vec<Step>, v: &Value, seen: &mut BTreeSet<String>, missing: &mut Vec<String>) {
        let pat = pattern(path);
        match rules::lookup(&pat) {
            Some(r) => {
                seen.insert(pat);
                if r.shape == Shape::Keyed
                    && let Some(Value::Object(item)) = v.as_array().and_then(|a| a.first())
                {
                    path.push(Step::Item {
                        name: String::new(),
                        base: None,
                        head: None,
                    });
                    for (k, x) in item {
                        path.push(Step::Key(k.clone()));
                        go(path, x, seen, missing);
                        path.pop();
                    }
                    path.pop();
                }
            }
            None => match v {
                Value::Object(m) => {
                    for (k, x) in m {
                        path.push(Step::Key(k.clone()));
                        go(path, x, seen, missing);
                        path.pop();
                    }
                }
                _ => missing.push(pat),
            },
        }
    }
    let (mut seen, mut missing) = (BTreeSet::new(), Vec::new());
    go(&mut Vec::new(), v, &mut seen, &mut missing);
    (seen, missing)
}
