//! The allow-list of what blockops sends (SPEC guarantee 2): only
//! `config firewall address|address6|addrgrp|addrgrp6` blocks with
//! `edit/set/unset/append/unselect/next/delete/end/abort` on names that fit blockops' naming,
//! fields of the allow-list in `fortios::fields` (built in, plus `render.template_fields`), plus
//! the target's VDOM wrapper and the transaction commands when the target uses them.
//!
//! The same check runs on a rendered full script (`check`, and `plan` before it trusts a
//! customised template) and on a plan's delta script (`apply`), so templates cannot smuggle
//! other commands and what `check` accepts is what `apply` accepts.
use crate::fortios::fields::{FieldRules, Table};
use crate::fortios::model::Owner;
use crate::fortios::parse::words;
use crate::fortios::writer::{self, ABORT, END, NEXT, TX_COMMIT, TX_START};

/// What a script may contain for one target.
pub struct Rules<'a> {
    pub vdom: Option<&'a str>,
    pub transaction: bool,
    pub owner: &'a Owner,
    pub fields: &'a FieldRules,
}

/// One line that is not allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// 1-based line number (0: the script as a whole).
    pub line: usize,
    /// The line, trimmed.
    pub text: String,
    pub why: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.line == 0 {
            write!(f, "{}", self.why)
        } else {
            write!(f, "line {}: {}: `{}`", self.line, self.why, self.text)
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Ctx {
    Top,
    Vdom,
    InVdom,
    Table(Table),
    Entry(Table),
}

/// Every line that is not allowed.
pub fn check(script: &str, r: &Rules<'_>) -> Vec<Problem> {
    let mut bad = Vec::new();
    let mut ctx = Ctx::Top;
    let mut started = false;
    let mut committed = false;
    let member_ok = |m: &str| r.owner.fits_any(m) && writer::addressable(m);
    for (i, raw) in script.lines().enumerate() {
        let n = i + 1;
        let mut fail = |why: &str| {
            bad.push(Problem {
                line: n,
                text: raw.trim().to_string(),
                why: why.to_string(),
            })
        };
        if let Some(c) = raw.chars().find(|c| c.is_control() && *c != '\t') {
            fail(&format!("control character U+{:04X}", c as u32));
            continue;
        }
        if raw.contains('?') {
            fail("`?` is not allowed");
            continue;
        }
        let line = raw.trim();
        if line.is_empty() {
            continue;
        }
        if line.contains('\t') {
            fail("a tab is not allowed");
            continue;
        }
        if !quotes_balanced(line) {
            fail("unbalanced quotes");
            continue;
        }
        let w = words(line);
        let v: Vec<&str> = w.iter().map(String::as_str).collect();
        let top_level_tables = r.vdom.is_none();
        let name_ok = |t: Table, name: &str| r.owner.fits(t, name) && writer::addressable(name);
        match (ctx, v.as_slice()) {
            (Ctx::Top, [..]) if line == TX_START && r.transaction && !started && n == 1 => {
                started = true
            }
            (Ctx::Top, [..]) if line == TX_COMMIT && r.transaction && started && !committed => {
                committed = true
            }
            (Ctx::Top, ["config", "vdom"]) if r.vdom.is_some() && !committed => ctx = Ctx::Vdom,
            (Ctx::Vdom, ["edit", name]) if Some(*name) == r.vdom => ctx = Ctx::InVdom,
            (Ctx::InVdom, [END]) => ctx = Ctx::Top,
            (Ctx::Top | Ctx::InVdom, ["config", "firewall", t])
                if (ctx == Ctx::InVdom || top_level_tables) && !committed =>
            {
                match Table::from_name(t) {
                    Some(t) => ctx = Ctx::Table(t),
                    None => fail("command not allowed here"),
                }
            }
            (Ctx::Table(_), [END]) => {
                ctx = if r.vdom.is_some() {
                    Ctx::InVdom
                } else {
                    Ctx::Top
                }
            }
            (Ctx::Table(t), ["edit", name]) => {
                if name_ok(t, name) {
                    ctx = Ctx::Entry(t)
                } else {
                    fail(&not_managed(t))
                }
            }
            (Ctx::Table(t), ["delete", name]) => {
                if !name_ok(t, name) {
                    fail(&not_managed(t))
                }
            }
            (Ctx::Entry(t), [NEXT | ABORT]) => ctx = Ctx::Table(t),
            (Ctx::Entry(t), ["unset", field]) => {
                if let Err(why) = r.fields.check_unset(t, field) {
                    fail(&why)
                }
            }
            (Ctx::Entry(t), [verb @ ("set" | "append" | "unselect"), field, rest @ ..]) => {
                if let Err(why) = r.fields.check_set(t, verb, field, rest, &member_ok) {
                    fail(&why)
                }
            }
            _ => fail("command not allowed here"),
        }
    }
    if ctx != Ctx::Top {
        bad.push(Problem {
            line: 0,
            text: String::new(),
            why: "script ends inside a configuration block".into(),
        });
    }
    if started && !committed {
        bad.push(Problem {
            line: 0,
            text: String::new(),
            why: "transaction started but never committed".into(),
        });
    }
    bad
}

fn not_managed(t: Table) -> String {
    format!("not a name blockops manages in firewall {t}")
}

fn quotes_balanced(line: &str) -> bool {
    let mut in_q = false;
    let mut esc = false;
    for c in line.chars() {
        match (in_q, esc, c) {
            (true, true, _) => esc = false,
            (true, false, '\\') => esc = true,
            (_, false, '"') => in_q = !in_q,
            (false, _, '\'') => return false,
            _ => {}
        }
    }
    !in_q
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner() -> Owner {
        Owner {
            prefix: "bo-".into(),
            groups: ["blockops-v4".into(), "blockops-v6".into()],
        }
    }

    fn run(s: &str, vdom: Option<&str>, fields: &FieldRules) -> Vec<Problem> {
        let o = owner();
        check(
            s,
            &Rules {
                vdom,
                transaction: false,
                owner: &o,
                fields,
            },
        )
    }

    #[test]
    fn accepts_a_delta_script() {
        let s = "config firewall address\n    edit \"bo-1.2.3.4\"\n        set subnet 1.2.3.4 255.255.255.255\n        set comment \"x \\\"y\\\"\"\n        set color 13\n        unset color\n    next\nend\nconfig firewall addrgrp\n    edit \"blockops-v4\"\n        append member \"bo-1.2.3.4\"\n        set color 3\n    next\n    delete \"blockops-v4-0a1\"\nend\n";
        assert_eq!(run(s, None, &FieldRules::builtin()), Vec::<Problem>::new());
    }

    #[test]
    fn refuses_anything_else() {
        let cases = [
            "config system admin\nend\n",
            "config firewall policy\nend\n",
            "config firewall address\n    edit \"office\"\n    next\nend\n",
            "config firewall addrgrp\n    edit \"bo-team\"\n    next\nend\n",
            "config firewall address\n    purge\nend\n",
            "config firewall address\n    edit \"bo-x\"\n        set subnet 0.0.0.0 0.0.0.0\n    next\nend\n",
            "config firewall address\n    edit \"bo-x\"\n        unset subnet\n    next\nend\n",
            "config firewall address\n    edit \"bo-x\"\n        set allow-routing enable\n    next\nend\n",
            "config firewall addrgrp\n    edit \"blockops-v4\"\n        append member \"office\"\n    next\nend\n",
            "config firewall address\n    edit \"bo-x\"\n        set comment \"a\" \"b\nnext\nend\n",
            "execute factoryreset\n",
            "config firewall address\n    edit \"bo-x\"\n    next\n",
            "config firewall address\n    edit \"bo-x\"\n        set comment \"why?\"\n    next\nend\n",
            "config firewall address\n    edit \"bo-x\"\n        set comment \"a\tb\"\n    next\nend\n",
        ];
        for c in cases {
            assert!(
                !run(c, None, &FieldRules::builtin()).is_empty(),
                "accepted: {c}"
            );
        }
    }

    #[test]
    fn template_fields_extend_the_allow_list() {
        let s = "config firewall address\n    edit \"bo-x\"\n        set allow-routing enable\n    next\nend\n";
        let mut extra = std::collections::BTreeMap::new();
        extra.insert("address".to_string(), vec!["allow-routing".to_string()]);
        assert!(run(s, None, &FieldRules::new(&extra)).is_empty());
        let p = run(s, None, &FieldRules::builtin());
        assert_eq!(p.len(), 1);
        assert!(p[0].why.contains("template_fields"), "{}", p[0]);
    }

    #[test]
    fn vdom_wrapper_only_for_the_targets_vdom() {
        let ok = "config vdom\nedit root\nconfig firewall address\n    delete \"bo-x\"\nend\nend\n";
        let f = FieldRules::builtin();
        assert!(run(ok, Some("root"), &f).is_empty());
        assert!(!run(ok, Some("other"), &f).is_empty());
        assert!(!run(ok, None, &f).is_empty());
        assert!(!run("config firewall address\nend\n", Some("root"), &f).is_empty());
    }
}
