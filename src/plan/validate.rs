//! The allow-list of what `apply` may send (SPEC guarantee 2): only
//! `config firewall address|address6|addrgrp|addrgrp6` blocks with
//! `edit/set/unset/append/unselect/next/delete/end/abort`, on managed names only, plus the
//! target's VDOM wrapper and the transaction commands when the target uses them.
use crate::fortios::device::{TABLES, words};

/// What a script may contain for one target.
pub struct Rules<'a> {
    pub vdom: Option<&'a str>,
    pub transaction: bool,
    pub managed: &'a dyn Fn(&str) -> bool,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Ctx {
    Top,
    Vdom,
    InVdom,
    Table(usize),
    Entry(usize),
}

/// Every line that is not allowed, as `line N: reason`.
pub fn check(script: &str, r: &Rules<'_>) -> Vec<String> {
    let mut bad = Vec::new();
    let mut ctx = Ctx::Top;
    let mut started = false;
    let mut committed = false;
    for (i, raw) in script.lines().enumerate() {
        let n = i + 1;
        let mut fail = |why: &str| bad.push(format!("line {n}: {why}: `{}`", raw.trim()));
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
        if !quotes_balanced(line) {
            fail("unbalanced quotes");
            continue;
        }
        let w = words(line);
        let v: Vec<&str> = w.iter().map(String::as_str).collect();
        let top_level_tables = r.vdom.is_none();
        match (ctx, v.as_slice()) {
            (Ctx::Top, ["execute", "config-transaction", "start"])
                if r.transaction && !started && n == 1 =>
            {
                started = true
            }
            (Ctx::Top, ["execute", "config-transaction", "commit"])
                if r.transaction && started && !committed =>
            {
                committed = true
            }
            (Ctx::Top, ["config", "vdom"]) if r.vdom.is_some() && !committed => ctx = Ctx::Vdom,
            (Ctx::Vdom, ["edit", name]) if Some(*name) == r.vdom => ctx = Ctx::InVdom,
            (Ctx::InVdom, ["end"]) => ctx = Ctx::Top,
            (Ctx::Top | Ctx::InVdom, ["config", "firewall", t])
                if (ctx == Ctx::InVdom || top_level_tables) && !committed && TABLES.contains(t) =>
            {
                ctx = Ctx::Table(TABLES.iter().position(|x| x == t).unwrap_or(0))
            }
            (Ctx::Table(_), ["end"]) => {
                ctx = if r.vdom.is_some() {
                    Ctx::InVdom
                } else {
                    Ctx::Top
                }
            }
            (Ctx::Table(t), ["edit", name]) => {
                if (r.managed)(name) {
                    ctx = Ctx::Entry(t)
                } else {
                    fail("not a managed object name")
                }
            }
            (Ctx::Table(_), ["delete", name]) => {
                if !(r.managed)(name) {
                    fail("not a managed object name")
                }
            }
            (Ctx::Entry(t), ["next" | "abort"]) => ctx = Ctx::Table(t),
            (Ctx::Entry(t), [verb, field, rest @ ..]) => {
                if let Err(why) = check_field(TABLES[t], verb, field, rest, r) {
                    fail(&why)
                }
            }
            _ => fail("command not allowed here"),
        }
    }
    if ctx != Ctx::Top {
        bad.push("script ends inside a configuration block".into());
    }
    if started && !committed {
        bad.push("transaction started but never committed".into());
    }
    bad
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

fn check_field(
    table: &str,
    verb: &str,
    field: &str,
    rest: &[&str],
    r: &Rules<'_>,
) -> Result<(), String> {
    let group = table.starts_with("addrgrp");
    match (verb, field) {
        ("set", "comment")
            if rest.len() == 1 && crate::fortios::quote::is_safe_comment(rest[0]) =>
        {
            Ok(())
        }
        ("unset", "comment" | "color") if rest.is_empty() => Ok(()),
        ("set", "color")
            if !group && rest.len() == 1 && rest[0].parse::<u8>().is_ok_and(|c| c <= 32) =>
        {
            Ok(())
        }
        ("set", "type") if table == "address" && matches!(rest, ["ipmask"] | ["fqdn"]) => Ok(()),
        ("set", "type") if table == "address6" && rest == ["ipprefix"] => Ok(()),
        ("set", "subnet") if table == "address" && valid_subnet(rest) => Ok(()),
        ("set", "fqdn") if table == "address" && rest.len() == 1 && valid_fqdn(rest[0]) => Ok(()),
        ("set", "ip6")
            if table == "address6"
                && rest.len() == 1
                && rest[0].parse::<ipnet::Ipv6Net>().is_ok() =>
        {
            Ok(())
        }
        ("set" | "append" | "unselect", "member") if group && !rest.is_empty() => {
            match rest.iter().find(|m| !(r.managed)(m)) {
                Some(m) => Err(format!("member `{m}` is not a managed object")),
                None => Ok(()),
            }
        }
        _ => Err(format!(
            "`{verb} {field}` is not allowed in firewall {table}"
        )),
    }
}

fn valid_subnet(v: &[&str]) -> bool {
    match v {
        [ip, mask] => {
            let (Ok(_), Ok(m)) = (
                ip.parse::<std::net::Ipv4Addr>(),
                mask.parse::<std::net::Ipv4Addr>(),
            ) else {
                return false;
            };
            let m = u32::from(m);
            // A contiguous mask, and never the whole address space.
            m.leading_ones() + m.trailing_zeros() == 32 && m != 0
        }
        _ => false,
    }
}

fn valid_fqdn(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 255
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || ".-_*".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn managed(n: &str) -> bool {
        n.starts_with("bo-") || n == "blockops-v4"
    }

    fn rules(vdom: Option<&'static str>) -> Rules<'static> {
        Rules {
            vdom,
            transaction: false,
            managed: &managed,
        }
    }

    #[test]
    fn accepts_a_delta_script() {
        let s = "config firewall address\n    edit \"bo-1.2.3.4\"\n        set subnet 1.2.3.4 255.255.255.255\n        set comment \"x \\\"y\\\"\"\n    next\nend\nconfig firewall addrgrp\n    edit \"blockops-v4\"\n        append member \"bo-1.2.3.4\"\n    next\n    delete \"bo-old\"\nend\n";
        assert_eq!(check(s, &rules(None)), Vec::<String>::new());
    }

    #[test]
    fn refuses_anything_else() {
        let cases = [
            "config system admin\nend\n",
            "config firewall address\n    edit \"office\"\n    next\nend\n",
            "config firewall address\n    purge\nend\n",
            "config firewall address\n    edit \"bo-x\"\n        set subnet 0.0.0.0 0.0.0.0\n    next\nend\n",
            "config firewall addrgrp\n    edit \"blockops-v4\"\n        append member \"office\"\n    next\nend\n",
            "config firewall address\n    edit \"bo-x\"\n        set comment \"a\" \"b\nnext\nend\n",
            "execute factoryreset\n",
            "config firewall address\n    edit \"bo-x\"\n    next\n",
            "config firewall address\n    edit \"bo-x\"\n        set comment \"why?\"\n    next\nend\n",
        ];
        for c in cases {
            assert!(!check(c, &rules(None)).is_empty(), "accepted: {c}");
        }
    }

    #[test]
    fn vdom_wrapper_only_for_the_targets_vdom() {
        let ok = "config vdom\nedit root\nconfig firewall address\n    delete \"bo-x\"\nend\nend\n";
        assert!(check(ok, &rules(Some("root"))).is_empty());
        assert!(!check(ok, &rules(Some("other"))).is_empty());
        assert!(!check(ok, &rules(None)).is_empty());
        assert!(!check("config firewall address\nend\n", &rules(Some("root"))).is_empty());
    }
}
