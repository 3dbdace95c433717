//! The allow-list of what blockops writes on a FortiGate: four tables, and per table the fields
//! a template may set. One definition serves every reader and writer — the model built from a
//! rendered script or from `show` output ([`normalise`]), the delta writer ([`FieldRules::order`],
//! [`Style`]), `check` and `apply`'s script validator ([`FieldRules::check_set`]) — so what
//! `check` accepts is exactly what `apply` sends (issue #10).
//!
//! Built-in fields per table (Fortinet's FortiOS CLI reference, `config firewall address`,
//! `address6`, `addrgrp`, `addrgrp6`: field sizes, `color` 0–32, `subnet` shown in mask form):
//!
//! | table | fields |
//! |---|---|
//! | `address` | `type` (`ipmask`, `fqdn`), `subnet`, `fqdn`, `comment`, `color` |
//! | `address6` | `type` (`ipprefix`), `ip6`, `comment`, `color` |
//! | `addrgrp`, `addrgrp6` | `member`, `comment`, `color` |
//!
//! `render.template_fields` adds per-table fields (e.g. `address: [allow-routing]`); their values
//! are only checked for being safe CLI words, the device judges them.
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The four tables blockops writes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Table {
    Address,
    Address6,
    Addrgrp,
    Addrgrp6,
}

impl Table {
    /// In the order scripts create them (addresses before the groups that reference them).
    pub const ALL: [Table; 4] = [
        Table::Address,
        Table::Address6,
        Table::Addrgrp,
        Table::Addrgrp6,
    ];

    /// `address`, `address6`, `addrgrp`, `addrgrp6`.
    pub fn name(self) -> &'static str {
        match self {
            Table::Address => "address",
            Table::Address6 => "address6",
            Table::Addrgrp => "addrgrp",
            Table::Addrgrp6 => "addrgrp6",
        }
    }

    /// Position in [`Table::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    pub fn from_name(s: &str) -> Option<Table> {
        Table::ALL.into_iter().find(|t| t.name() == s)
    }

    pub fn is_group(self) -> bool {
        matches!(self, Table::Addrgrp | Table::Addrgrp6)
    }

    /// The IPv6 tables.
    pub fn is_v6(self) -> bool {
        matches!(self, Table::Address6 | Table::Addrgrp6)
    }

    /// The group table of this table's address family.
    pub fn group_table(self) -> Table {
        if self.is_v6() {
            Table::Addrgrp6
        } else {
            Table::Addrgrp
        }
    }

    /// Tables a group of this table takes members from (FortiOS datasources: `addrgrp` members
    /// are `address` or `addrgrp` entries, `addrgrp6` members `address6` or `addrgrp6`).
    pub fn member_tables(self) -> [Table; 2] {
        if self.is_v6() {
            [Table::Address6, Table::Addrgrp6]
        } else {
            [Table::Address, Table::Addrgrp]
        }
    }
}

impl std::fmt::Display for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// How a field's value is checked and written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// One of the listed words (written bare).
    Type(&'static [&'static str]),
    /// `A.B.C.D M.M.M.M` (or `A.B.C.D/len`), contiguous and never the whole address space.
    Subnet,
    /// A domain name (written quoted).
    Fqdn,
    /// An IPv6 prefix, never `::/0`.
    Ip6,
    /// Free text of at most 255 bytes (written quoted).
    Comment,
    /// 0–32.
    Color,
    /// Names of managed objects (written quoted, several per line).
    Member,
    /// A field added by `render.template_fields`.
    Extra,
}

/// How a field's values are written on a CLI line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// As they are (`set subnet 192.0.2.1 255.255.255.255`, `set color 3`).
    Bare,
    /// Each value through the quoting filter (`set comment "…"`).
    Quoted,
    /// Bare when a plain word (`enable`, `port1`), quoted otherwise.
    Word,
}

struct Builtin {
    name: &'static str,
    kind: Kind,
    /// The value `show` leaves out (FortiOS prints non-default values only).
    default: Option<&'static str>,
    /// Only meaningful for entries of these types.
    types: Option<&'static [&'static str]>,
}

const fn b(name: &'static str, kind: Kind, default: Option<&'static str>) -> Builtin {
    Builtin {
        name,
        kind,
        default,
        types: None,
    }
}

const fn bt(name: &'static str, kind: Kind, types: &'static [&'static str]) -> Builtin {
    Builtin {
        name,
        kind,
        default: None,
        types: Some(types),
    }
}

// Order = the order scripts write them: `type` first (it decides which value fields exist).
const ADDRESS: &[Builtin] = &[
    b("type", Kind::Type(&["ipmask", "fqdn"]), Some("ipmask")),
    bt("subnet", Kind::Subnet, &["ipmask"]),
    bt("fqdn", Kind::Fqdn, &["fqdn"]),
    b("comment", Kind::Comment, Some("")),
    b("color", Kind::Color, Some("0")),
];
const ADDRESS6: &[Builtin] = &[
    b("type", Kind::Type(&["ipprefix"]), Some("ipprefix")),
    bt("ip6", Kind::Ip6, &["ipprefix"]),
    b("comment", Kind::Comment, Some("")),
    b("color", Kind::Color, Some("0")),
];
const GROUP: &[Builtin] = &[
    b("member", Kind::Member, None),
    b("comment", Kind::Comment, Some("")),
    b("color", Kind::Color, Some("0")),
];

fn builtins(t: Table) -> &'static [Builtin] {
    match t {
        Table::Address => ADDRESS,
        Table::Address6 => ADDRESS6,
        Table::Addrgrp | Table::Addrgrp6 => GROUP,
    }
}

fn builtin(t: Table, field: &str) -> Option<&'static Builtin> {
    builtins(t).iter().find(|f| f.name == field)
}

/// Names a template may never add: object identity and FortiOS-assigned values.
const NEVER_EXTRA: &[&str] = &["name", "uuid", "type", "member", "exclude-member"];

/// The type of an entry (its `type` field, else the table's default).
pub fn object_type(t: Table, fields: &BTreeMap<String, Vec<String>>) -> &str {
    fields
        .get("type")
        .and_then(|v| v.first())
        .map(String::as_str)
        .unwrap_or(match t {
            Table::Address => "ipmask",
            Table::Address6 => "ipprefix",
            _ => "",
        })
}

/// Whether `field` exists for an entry of type `ty` (`subnet` only for `ipmask`, …).
pub fn applies(t: Table, field: &str, ty: &str) -> bool {
    match builtin(t, field).and_then(|b| b.types) {
        Some(types) => types.contains(&ty),
        None => true,
    }
}

/// The canonical form of a field's values as the model keeps them; `None` when the value is
/// the FortiOS default, which `show` does not print. Applied to both the rendered script and
/// the device's `show` output, so the two compare equal exactly when the device holds what
/// the script says.
pub fn normalise(t: Table, field: &str, mut values: Vec<String>) -> Option<Vec<String>> {
    let Some(def) = builtin(t, field) else {
        return (!values.is_empty()).then_some(values);
    };
    match def.kind {
        Kind::Subnet => {
            if let Some(v) = subnet_mask_form(&values) {
                values = v;
            }
        }
        Kind::Ip6 => {
            if let [one] = values.as_slice() {
                let net = one
                    .parse::<ipnet::Ipv6Net>()
                    .ok()
                    .or_else(|| one.parse::<std::net::Ipv6Addr>().ok().map(Into::into));
                if let Some(n) = net {
                    values = vec![n.to_string()];
                }
            }
        }
        Kind::Color => {
            if let [one] = values.as_slice()
                && let Ok(n) = one.parse::<u8>()
            {
                values = vec![n.to_string()];
            }
        }
        Kind::Member => {
            values.sort();
            values.dedup();
        }
        _ => {}
    }
    if values.is_empty() {
        return None;
    }
    match (def.default, values.as_slice()) {
        (Some(d), [one]) if one == d => None,
        (Some(""), []) => None,
        _ => Some(values),
    }
}

/// `A.B.C.D/len` or `A.B.C.D M.M.M.M` → mask form (`show` prints mask form).
fn subnet_mask_form(values: &[String]) -> Option<Vec<String>> {
    match values {
        [one] => {
            let (ip, len) = one.split_once('/')?;
            let ip: std::net::Ipv4Addr = ip.parse().ok()?;
            let len: u8 = len.parse().ok()?;
            (len <= 32).then(|| {
                vec![
                    ip.to_string(),
                    crate::blocklist::indicator::v4_mask(len).to_string(),
                ]
            })
        }
        [ip, mask] => {
            let ip: std::net::Ipv4Addr = ip.parse().ok()?;
            let mask: std::net::Ipv4Addr = mask.parse().ok()?;
            Some(vec![ip.to_string(), mask.to_string()])
        }
        _ => None,
    }
}

/// Per-table allow-list: the built-in fields plus `render.template_fields`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldRules {
    extra: [Vec<String>; 4],
}

impl FieldRules {
    /// Built-in fields only.
    pub fn builtin() -> FieldRules {
        FieldRules::default()
    }

    /// Built-ins plus the configured extra fields (`render.template_fields`, already checked
    /// by [`config_problems`]; unknown tables and forbidden names are ignored here).
    pub fn new(extra: &BTreeMap<String, Vec<String>>) -> FieldRules {
        let mut r = FieldRules::default();
        for (table, fields) in extra {
            if let Some(t) = Table::from_name(table) {
                let list = &mut r.extra[t.index()];
                for f in fields {
                    if valid_extra_name(t, f) && !list.contains(f) {
                        list.push(f.clone());
                    }
                }
                list.sort();
            }
        }
        r
    }

    /// True when a template may set `field` in table `t`.
    pub fn allowed(&self, t: Table, field: &str) -> bool {
        builtin(t, field).is_some() || self.extra[t.index()].iter().any(|f| f == field)
    }

    /// Position of `field` when an entry is written: `type` first, the built-ins in their
    /// order, then the extra fields by name.
    pub fn order(&self, t: Table, field: &str) -> usize {
        match builtins(t).iter().position(|f| f.name == field) {
            Some(i) => i,
            None => {
                builtins(t).len()
                    + self.extra[t.index()]
                        .iter()
                        .position(|f| f == field)
                        .unwrap_or(usize::MAX / 2)
            }
        }
    }

    /// How `field`'s values are written.
    pub fn style(&self, t: Table, field: &str) -> Style {
        match builtin(t, field).map(|b| b.kind) {
            Some(Kind::Fqdn | Kind::Comment | Kind::Member) => Style::Quoted,
            Some(Kind::Extra) | None => Style::Word,
            Some(_) => Style::Bare,
        }
    }

    /// The allowed fields of `t`, for messages.
    pub fn describe(&self, t: Table) -> String {
        let mut v: Vec<&str> = builtins(t).iter().map(|b| b.name).collect();
        v.extend(self.extra[t.index()].iter().map(String::as_str));
        v.join(", ")
    }

    /// Check a `set`/`append`/`unselect` of `field` with `values` in table `t`. `member_ok`
    /// decides whether a name may be a group member.
    pub fn check_set(
        &self,
        t: Table,
        verb: &str,
        field: &str,
        values: &[&str],
        member_ok: &dyn Fn(&str) -> bool,
    ) -> Result<(), String> {
        let kind = match builtin(t, field) {
            Some(b) => b.kind,
            None if self.allowed(t, field) => Kind::Extra,
            None => {
                return Err(format!(
                    "`{verb} {field}` is not allowed in firewall {t} (allowed fields: {}; more can be \
                     allowed with render.template_fields)",
                    self.describe(t)
                ));
            }
        };
        let list_verb = matches!(verb, "append" | "unselect");
        if list_verb && kind != Kind::Member {
            return Err(format!("`{verb} {field}`: only `member` is a list"));
        }
        if verb != "set" && !list_verb {
            return Err(format!("`{verb}` is not allowed here"));
        }
        let one = |ok: bool, what: &str| -> Result<(), String> {
            if values.len() == 1 && ok {
                Ok(())
            } else {
                Err(format!("`set {field}` needs {what}"))
            }
        };
        let first = values.first().copied().unwrap_or("");
        match kind {
            Kind::Type(allowed) => one(
                allowed.contains(&first),
                &format!("one of: {}", allowed.join(", ")),
            ),
            Kind::Subnet => {
                if valid_subnet(values) {
                    Ok(())
                } else {
                    Err(format!(
                        "`set subnet {}` is not an address with a contiguous, non-zero netmask",
                        values.join(" ")
                    ))
                }
            }
            Kind::Fqdn => one(valid_fqdn(first), "one domain name"),
            Kind::Ip6 => one(
                first
                    .parse::<ipnet::Ipv6Net>()
                    .is_ok_and(|n| n.prefix_len() > 0),
                "one IPv6 prefix other than ::/0",
            ),
            Kind::Comment => one(
                crate::fortios::quote::is_safe_comment(first),
                "one text of at most 255 bytes without control or invisible characters",
            ),
            Kind::Color => one(first.parse::<u8>().is_ok_and(|c| c <= 32), "a colour 0–32"),
            Kind::Member => {
                if values.is_empty() {
                    return Err(format!("`{verb} member` needs at least one name"));
                }
                match values.iter().find(|m| !member_ok(m)) {
                    Some(m) => Err(format!("member `{m}` is not a managed object")),
                    None => Ok(()),
                }
            }
            Kind::Extra => {
                if values.is_empty() || values.iter().any(|v| v.is_empty()) {
                    Err(format!("`set {field}` needs a value"))
                } else {
                    Ok(())
                }
            }
        }
    }

    /// Check an `unset` of `field` in table `t`. Never for values whose default is dangerous:
    /// an unset `subnet` is `0.0.0.0 0.0.0.0` (everything), an unset `type` turns an FQDN object
    /// into such a subnet, an unset `member` empties a group.
    pub fn check_unset(&self, t: Table, field: &str) -> Result<(), String> {
        match builtin(t, field).map(|b| b.kind) {
            Some(Kind::Comment | Kind::Color) => Ok(()),
            None if self.allowed(t, field) => Ok(()),
            None => Err(format!(
                "`unset {field}` is not allowed in firewall {t} (allowed fields: {})",
                self.describe(t)
            )),
            Some(_) => Err(format!(
                "`unset {field}` is never sent: its default is unsafe or empties the object"
            )),
        }
    }

    /// True when `unset field` may be written (see [`FieldRules::check_unset`]).
    pub fn can_unset(&self, t: Table, field: &str) -> bool {
        self.check_unset(t, field).is_ok()
    }
}

fn valid_extra_name(t: Table, f: &str) -> bool {
    !f.is_empty()
        && f.len() <= 40
        && f.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !NEVER_EXTRA.contains(&f)
        && builtin(t, f).is_none()
}

/// Problems with a `render.template_fields` setting, as sentences.
pub fn config_problems(extra: &BTreeMap<String, Vec<String>>) -> Vec<String> {
    let mut out = Vec::new();
    for (table, fields) in extra {
        let Some(t) = Table::from_name(table) else {
            out.push(format!(
                "template_fields: `{table}` is not one of the tables blockops writes (address, address6, addrgrp, addrgrp6)"
            ));
            continue;
        };
        for f in fields {
            if builtin(t, f).is_some() {
                out.push(format!(
                    "template_fields.{table}: `{f}` is allowed already (built in)"
                ));
            } else if !valid_extra_name(t, f) {
                out.push(format!(
                    "template_fields.{table}: `{f}` is not a field a template may set (lower-case \
                     letters, digits and `-`; never {})",
                    NEVER_EXTRA.join(", ")
                ));
            }
        }
    }
    out
}

fn valid_subnet(v: &[&str]) -> bool {
    let owned: Vec<String> = v.iter().map(|s| s.to_string()).collect();
    let Some(mf) = subnet_mask_form(&owned) else {
        return false;
    };
    let (Ok(_), Ok(m)) = (
        mf[0].parse::<std::net::Ipv4Addr>(),
        mf[1].parse::<std::net::Ipv4Addr>(),
    ) else {
        return false;
    };
    let m = u32::from(m);
    // A contiguous mask, and never the whole address space.
    m.leading_ones() + m.trailing_zeros() == 32 && m != 0
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

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn defaults_and_forms_normalise_like_show_prints_them() {
        assert_eq!(normalise(Table::Address, "type", v(&["ipmask"])), None);
        assert_eq!(normalise(Table::Address, "color", v(&["0"])), None);
        assert_eq!(normalise(Table::Address, "comment", v(&[""])), None);
        assert_eq!(
            normalise(Table::Address, "subnet", v(&["192.0.2.0/24"])),
            Some(v(&["192.0.2.0", "255.255.255.0"]))
        );
        assert_eq!(
            normalise(Table::Address6, "ip6", v(&["2001:DB8::1"])),
            Some(v(&["2001:db8::1/128"]))
        );
        assert_eq!(
            normalise(Table::Addrgrp, "member", v(&["b", "a", "b"])),
            Some(v(&["a", "b"]))
        );
        assert_eq!(normalise(Table::Addrgrp, "member", v(&[])), None);
        assert_eq!(
            normalise(Table::Address, "allow-routing", v(&["enable"])),
            Some(v(&["enable"]))
        );
    }

    #[test]
    fn values_are_checked_per_kind() {
        let r = FieldRules::builtin();
        let ok = |t, f, vals: &[&str]| r.check_set(t, "set", f, vals, &|_| true).is_ok();
        assert!(ok(
            Table::Address,
            "subnet",
            &["192.0.2.1", "255.255.255.255"]
        ));
        assert!(ok(Table::Address, "subnet", &["192.0.2.0/24"]));
        assert!(!ok(Table::Address, "subnet", &["0.0.0.0", "0.0.0.0"]));
        assert!(!ok(Table::Address, "subnet", &["1.2.3.4", "255.0.255.0"]));
        assert!(!ok(Table::Address6, "ip6", &["::/0"]));
        assert!(ok(Table::Address, "color", &["13"]));
        assert!(!ok(Table::Address, "color", &["33"]));
        assert!(ok(Table::Addrgrp, "color", &["3"]));
        assert!(!ok(Table::Address, "type", &["iprange"]));
        assert!(!ok(Table::Address, "allow-routing", &["enable"]));
        assert!(ok(Table::Address, "comment", &[&"é".repeat(127)]));
        assert!(!ok(Table::Address, "comment", &[&"é".repeat(128)]));
        let mut extra = BTreeMap::new();
        extra.insert("address".to_string(), v(&["allow-routing"]));
        let r = FieldRules::new(&extra);
        assert!(
            r.check_set(Table::Address, "set", "allow-routing", &["enable"], &|_| {
                true
            })
            .is_ok()
        );
        assert!(
            r.check_set(Table::Addrgrp, "set", "allow-routing", &["enable"], &|_| {
                true
            })
            .is_err()
        );
        assert!(r.check_unset(Table::Address, "allow-routing").is_ok());
        assert!(r.check_unset(Table::Address, "subnet").is_err());
        assert!(r.check_unset(Table::Address, "type").is_err());
        assert!(r.check_unset(Table::Addrgrp, "member").is_err());
    }

    #[test]
    fn template_fields_config_is_checked() {
        let mut extra = BTreeMap::new();
        extra.insert("address".to_string(), v(&["allow-routing", "uuid", "Bad"]));
        extra.insert("policy".to_string(), v(&["action"]));
        let p = config_problems(&extra);
        assert_eq!(p.len(), 3, "{p:?}");
    }
}
