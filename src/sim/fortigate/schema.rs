//! Table and field definitions for the simulated configuration tree.
//!
//! Everything the CLI does with a field (parse `set`, check a datasource, print `show`/`get`)
//! is driven by these tables, so adding a field or a table is one row, not new code paths.
use std::net::{Ipv4Addr, Ipv6Addr};

use super::errors::{CliError, ErrorKind};

/// How a field's value is parsed and printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Free text up to `max` characters; printed double-quoted.
    Str { max: usize },
    /// One of the given words; printed bare.
    Enum(&'static [&'static str]),
    /// An integer in `min..=max`.
    Int { min: i64, max: i64 },
    /// `A.B.C.D M.M.M.M` or `A.B.C.D/len`; stored and printed in mask form.
    Ip4Mask { contiguous: bool },
    /// One IPv4 address.
    Ip4,
    /// `addr/len` IPv6 prefix (a bare address means /128).
    Ip6Prefix,
    /// One IPv6 address.
    Ip6,
    /// A list of names that must exist in one of `sources` (tables in the same VDOM).
    Members { sources: &'static [&'static str] },
    /// A list of free words, each up to `max` characters (interfaces, services).
    Words { max: usize },
    /// Two integers in `min..=max` (`<max> <guaranteed>` of `system vdom-property`).
    IntPair { min: i64, max: i64 },
    /// An object UUID (assigned automatically).
    Uuid,
}

/// One configurable attribute of a table entry.
#[derive(Debug, Clone, Copy)]
pub struct Field {
    pub name: &'static str,
    pub kind: Kind,
    /// Value after `unset`, printed by `show full-configuration` and `get`.
    pub default: &'static str,
    /// Only present when the entry's `type` is one of these.
    pub types: Option<&'static [&'static str]>,
    /// `next`/`end` refuse an entry whose value is empty.
    pub required: bool,
}

/// Which kind of object a table holds (for datasource checks, limits and permissions).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Address,
    Group,
    Policy,
    /// Global system settings (`sysgrp`).
    System,
}

/// A `config <path>` table.
#[derive(Debug)]
pub struct TableSchema {
    /// Path after `config`, e.g. `firewall address`.
    pub path: &'static str,
    /// Fields in `show` order.
    pub fields: &'static [Field],
    pub family: Family,
    /// Tables with the same namespace may not reuse each other's names.
    pub namespace: &'static str,
    /// The table's name in `print tablesize` (`firewall.address`).
    pub tablesize: &'static str,
    /// The `system resource-limits` / `vdom-property` quota the table counts against:
    /// `firewall-address` counts IPv4 and IPv6 addresses, `firewall-addrgrp` both group
    /// tables (FortiProxy 7.2.4 CLI reference `system resource-limits`, same engine).
    pub quota: Option<&'static str>,
}

impl TableSchema {
    /// The word shown in the prompt, e.g. `address`.
    pub fn scope_name(&self) -> &'static str {
        self.path.rsplit(' ').next().unwrap_or(self.path)
    }

    /// The field called `name`, resolving abbreviations among fields visible for `ty`.
    pub fn field(&self, word: &str, ty: Option<&str>) -> Option<&'static Field> {
        let visible: Vec<&'static str> = self
            .fields
            .iter()
            .filter(|f| f.visible(ty))
            .map(|f| f.name)
            .collect();
        let name = super::lexer::keyword(word, &visible)?;
        self.fields.iter().find(|f| f.name == name)
    }
}

impl Field {
    /// Whether the field exists for an entry of type `ty`.
    pub fn visible(&self, ty: Option<&str>) -> bool {
        match (self.types, ty) {
            (None, _) => true,
            (Some(types), Some(ty)) => types.contains(&ty),
            (Some(_), None) => false,
        }
    }

    /// True for list-valued fields.
    pub fn is_list(&self) -> bool {
        matches!(self.kind, Kind::Members { .. } | Kind::Words { .. })
    }
}

const fn f(name: &'static str, kind: Kind, default: &'static str) -> Field {
    Field {
        name,
        kind,
        default,
        types: None,
        required: false,
    }
}

const fn ft(
    name: &'static str,
    kind: Kind,
    default: &'static str,
    types: &'static [&'static str],
) -> Field {
    Field {
        name,
        kind,
        default,
        types: Some(types),
        required: false,
    }
}

const ENABLE: Kind = Kind::Enum(&["enable", "disable"]);
const COLOR: Kind = Kind::Int { min: 0, max: 32 };

/// `config firewall address`.
/// Field order follows `show` output of FortiOS 7.x units (public config dumps): `uuid`,
/// `type`, `comment`, `associated-interface`, then the type's own fields, `subnet` last.
pub const ADDRESS: TableSchema = TableSchema {
    path: "firewall address",
    family: Family::Address,
    namespace: ADDR_NS,
    tablesize: "firewall.address",
    quota: Some("firewall-address"),
    fields: &[
        f("uuid", Kind::Uuid, "00000000-0000-0000-0000-000000000000"),
        f(
            "type",
            Kind::Enum(&["ipmask", "iprange", "fqdn", "geography", "wildcard"]),
            "ipmask",
        ),
        f("comment", Kind::Str { max: 255 }, ""),
        f("associated-interface", Kind::Str { max: 35 }, ""),
        ft("start-ip", Kind::Ip4, "0.0.0.0", &["iprange"]),
        ft("end-ip", Kind::Ip4, "0.0.0.0", &["iprange"]),
        ft("fqdn", Kind::Str { max: 255 }, "", &["fqdn"]),
        ft("country", Kind::Str { max: 2 }, "", &["geography"]),
        ft(
            "wildcard",
            Kind::Ip4Mask { contiguous: false },
            "0.0.0.0 0.0.0.0",
            &["wildcard"],
        ),
        f("color", COLOR, "0"),
        f("allow-routing", ENABLE, "disable"),
        ft(
            "subnet",
            Kind::Ip4Mask { contiguous: true },
            "0.0.0.0 0.0.0.0",
            &["ipmask"],
        ),
    ],
};

/// `config firewall address6`.
pub const ADDRESS6: TableSchema = TableSchema {
    path: "firewall address6",
    family: Family::Address,
    namespace: ADDR_NS,
    tablesize: "firewall.address6",
    quota: Some("firewall-address"),
    fields: &[
        f("uuid", Kind::Uuid, "00000000-0000-0000-0000-000000000000"),
        f(
            "type",
            Kind::Enum(&["ipprefix", "iprange", "fqdn"]),
            "ipprefix",
        ),
        ft("start-ip", Kind::Ip6, "::", &["iprange"]),
        ft("end-ip", Kind::Ip6, "::", &["iprange"]),
        ft("fqdn", Kind::Str { max: 255 }, "", &["fqdn"]),
        f("comment", Kind::Str { max: 255 }, ""),
        f("color", COLOR, "0"),
        ft("ip6", Kind::Ip6Prefix, "::/0", &["ipprefix"]),
    ],
};

const GROUP_FIELDS_V4: &[Field] = &[
    f("uuid", Kind::Uuid, "00000000-0000-0000-0000-000000000000"),
    Field {
        name: "member",
        kind: Kind::Members {
            sources: &["firewall address", "firewall addrgrp"],
        },
        default: "",
        types: None,
        required: true,
    },
    f("comment", Kind::Str { max: 255 }, ""),
    f("exclude", ENABLE, "disable"),
    f("color", COLOR, "0"),
    f("allow-routing", ENABLE, "disable"),
];

const GROUP_FIELDS_V6: &[Field] = &[
    f("uuid", Kind::Uuid, "00000000-0000-0000-0000-000000000000"),
    Field {
        name: "member",
        kind: Kind::Members {
            sources: &["firewall address6", "firewall addrgrp6"],
        },
        default: "",
        types: None,
        required: true,
    },
    f("comment", Kind::Str { max: 255 }, ""),
    f("exclude", ENABLE, "disable"),
    f("color", COLOR, "0"),
];

/// `config firewall addrgrp`.
pub const ADDRGRP: TableSchema = TableSchema {
    path: "firewall addrgrp",
    family: Family::Group,
    fields: GROUP_FIELDS_V4,
    namespace: ADDR_NS,
    tablesize: "firewall.addrgrp",
    quota: Some("firewall-addrgrp"),
};

/// `config firewall addrgrp6`.
pub const ADDRGRP6: TableSchema = TableSchema {
    path: "firewall addrgrp6",
    family: Family::Group,
    fields: GROUP_FIELDS_V6,
    namespace: ADDR_NS,
    tablesize: "firewall.addrgrp6",
    quota: Some("firewall-addrgrp"),
};

const ADDR_NS: &str = "address";

/// `config firewall wildcard-fqdn custom` (its own namespace; not usable in `addrgrp`).
pub const WILDCARD_CUSTOM: TableSchema = TableSchema {
    path: "firewall wildcard-fqdn custom",
    family: Family::Address,
    namespace: "wildcard-fqdn",
    tablesize: "firewall.wildcard-fqdn.custom",
    quota: None,
    fields: &[
        f("uuid", Kind::Uuid, "00000000-0000-0000-0000-000000000000"),
        f("wildcard-fqdn", Kind::Str { max: 255 }, ""),
        f("comment", Kind::Str { max: 255 }, ""),
        f("color", COLOR, "0"),
    ],
};

/// `config firewall wildcard-fqdn group`.
pub const WILDCARD_GROUP: TableSchema = TableSchema {
    path: "firewall wildcard-fqdn group",
    family: Family::Group,
    namespace: "wildcard-fqdn",
    tablesize: "firewall.wildcard-fqdn.group",
    quota: None,
    fields: &[
        f("uuid", Kind::Uuid, "00000000-0000-0000-0000-000000000000"),
        Field {
            name: "member",
            kind: Kind::Members {
                sources: &[
                    "firewall wildcard-fqdn custom",
                    "firewall wildcard-fqdn group",
                ],
            },
            default: "",
            types: None,
            required: true,
        },
        f("comment", Kind::Str { max: 255 }, ""),
        f("color", COLOR, "0"),
    ],
};

/// `config firewall policy` — the fields a block policy needs, in the order 7.x units print
/// them (`name` before `uuid`). Its address fields are datasources like group members, so
/// objects a policy references cannot be deleted, and since 6.4 (consolidated IPv4/IPv6 policy,
/// FortiOS 6.4.0 New Features) IPv6 objects go in `srcaddr6`/`dstaddr6`: an IPv6 group in
/// `dstaddr` is refused like any name missing from the field's datasource. Keys are policy
/// ids; `edit 0` takes the next free one.
pub const POLICY: TableSchema = TableSchema {
    path: "firewall policy",
    family: Family::Policy,
    namespace: "policy",
    tablesize: "firewall.policy",
    quota: None,
    fields: &[
        f("name", Kind::Str { max: 35 }, ""),
        f("uuid", Kind::Uuid, "00000000-0000-0000-0000-000000000000"),
        f("srcintf", Kind::Words { max: 35 }, ""),
        f("dstintf", Kind::Words { max: 35 }, ""),
        f(
            "srcaddr",
            Kind::Members {
                sources: &["firewall address", "firewall addrgrp"],
            },
            "",
        ),
        f(
            "dstaddr",
            Kind::Members {
                sources: &["firewall address", "firewall addrgrp"],
            },
            "",
        ),
        f(
            "srcaddr6",
            Kind::Members {
                sources: &["firewall address6", "firewall addrgrp6"],
            },
            "",
        ),
        f(
            "dstaddr6",
            Kind::Members {
                sources: &["firewall address6", "firewall addrgrp6"],
            },
            "",
        ),
        f("action", Kind::Enum(&["deny", "accept", "ipsec"]), "deny"),
        f("status", ENABLE, "enable"),
        f("schedule", Kind::Str { max: 35 }, ""),
        f("service", Kind::Words { max: 79 }, ""),
        f("logtraffic", Kind::Enum(&["utm", "all", "disable"]), "utm"),
        f("comments", Kind::Str { max: 1023 }, ""),
    ],
};

/// `config system central-management` (global). Fields and values from the FortiOS 6.0.6 CLI
/// reference; the defaults (`type fortiguard`) are [U].
pub const CENTRAL_MANAGEMENT: TableSchema = TableSchema {
    path: "system central-management",
    family: Family::System,
    namespace: "central-management",
    tablesize: "system.central-management",
    quota: None,
    fields: &[
        f("mode", Kind::Enum(&["normal", "backup"]), "normal"),
        f(
            "type",
            Kind::Enum(&["fortimanager", "fortiguard", "none"]),
            "fortiguard",
        ),
        f("allow-push-configuration", ENABLE, "enable"),
        f("allow-monitor", ENABLE, "enable"),
        f("fmg", Kind::Str { max: 255 }, ""),
    ],
};

/// `config system resource-limits` (global): device-wide quotas; 0 = no quota beyond the
/// table sizes (FortiOS 6.0 CLI reference). Unset fields show the model's table size.
pub const RESOURCE_LIMITS: TableSchema = TableSchema {
    path: "system resource-limits",
    family: Family::System,
    namespace: "resource-limits",
    tablesize: "system.resource-limits",
    quota: None,
    fields: &[
        f(
            "firewall-address",
            Kind::Int {
                min: 0,
                max: 4_294_967_295,
            },
            "",
        ),
        f(
            "firewall-addrgrp",
            Kind::Int {
                min: 0,
                max: 4_294_967_295,
            },
            "",
        ),
    ],
};

/// `config system vdom-property` (global table keyed by VDOM): per-VDOM `<max> <guaranteed>`
/// quotas, 0 = none (FortiOS 6.2.2/7.0.2 CLI reference).
pub const VDOM_PROPERTY: TableSchema = TableSchema {
    path: "system vdom-property",
    family: Family::System,
    namespace: "vdom-property",
    tablesize: "system.vdom-property",
    quota: None,
    fields: &[
        f("description", Kind::Str { max: 127 }, ""),
        f(
            "firewall-address",
            Kind::IntPair {
                min: 0,
                max: 4_294_967_295,
            },
            "0 0",
        ),
        f(
            "firewall-addrgrp",
            Kind::IntPair {
                min: 0,
                max: 4_294_967_295,
            },
            "0 0",
        ),
    ],
};

/// Global single-object settings under `config system` (besides `console`).
pub const SETTINGS: &[&TableSchema] = &[&CENTRAL_MANAGEMENT, &RESOURCE_LIMITS];

/// Tables with datasource fields (group `member`, policy `srcaddr`/`dstaddr`, …) that may
/// reference entries of table `target`, with the names of those fields.
pub fn referencing_fields(target: &str) -> Vec<(&'static TableSchema, Vec<&'static str>)> {
    TABLES
        .iter()
        .map(|t| {
            let fields = t
                .fields
                .iter()
                .filter(
                    |f| matches!(f.kind, Kind::Members { sources } if sources.contains(&target)),
                )
                .map(|f| f.name)
                .collect::<Vec<_>>();
            (*t, fields)
        })
        .filter(|(_, fields)| !fields.is_empty())
        .collect()
}

/// Every VDOM table, in the order `show` prints them.
pub const TABLES: &[&TableSchema] = &[
    &ADDRESS,
    &ADDRESS6,
    &ADDRGRP,
    &ADDRGRP6,
    &WILDCARD_CUSTOM,
    &WILDCARD_GROUP,
    &POLICY,
];

/// Resolve the words after `config firewall` / `show firewall` (abbreviations allowed) to a
/// table; returns it and how many words it took (1, or 2 for `wildcard-fqdn custom|group`).
pub fn resolve_firewall_table(words: &[&str]) -> Result<(&'static TableSchema, usize), usize> {
    let word = |i: usize| words.get(i).copied().unwrap_or("");
    let mut seconds: Vec<&str> = TABLES
        .iter()
        .filter_map(|t| t.path.split(' ').nth(1))
        .collect();
    seconds.dedup();
    let second = super::lexer::keyword(word(0), &seconds).ok_or(0usize)?;
    let candidates: Vec<&'static TableSchema> = TABLES
        .iter()
        .copied()
        .filter(|t| t.path.split(' ').nth(1) == Some(second))
        .collect();
    if let [only] = candidates[..]
        && only.path.split(' ').count() == 2
    {
        return Ok((only, 1));
    }
    let thirds: Vec<&str> = candidates
        .iter()
        .filter_map(|t| t.path.split(' ').nth(2))
        .collect();
    let third = super::lexer::keyword(word(1), &thirds).ok_or(1usize)?;
    candidates
        .into_iter()
        .find(|t| t.path.split(' ').nth(2) == Some(third))
        .map(|t| (t, 2))
        .ok_or(1)
}

/// The table or setting with this exact path.
pub fn table(path: &str) -> Option<&'static TableSchema> {
    TABLES
        .iter()
        .chain(SETTINGS)
        .chain([&&VDOM_PROPERTY])
        .copied()
        .find(|t| t.path == path)
}

/// Parse `set <field> <words...>` into the stored canonical text.
pub fn parse_scalar(field: &Field, words: &[&str], raw: &[&str]) -> Result<String, CliError> {
    let first = *words
        .first()
        .ok_or_else(|| CliError::new(ErrorKind::Incomplete, field.name))?;
    let raw0 = raw.first().copied().unwrap_or(first);
    let bad = |kind| CliError::new(kind, raw0);
    match field.kind {
        Kind::Str { max } => {
            let s = words.join(" ");
            if s.chars().count() > max {
                return Err(bad(ErrorKind::InvalidValue));
            }
            Ok(s)
        }
        Kind::Enum(options) => super::lexer::keyword(first, options)
            .map(str::to_string)
            .ok_or_else(|| bad(ErrorKind::InvalidValue)),
        Kind::Int { min, max } => match first.parse::<i64>() {
            Ok(n) if (min..=max).contains(&n) => Ok(n.to_string()),
            _ => Err(bad(ErrorKind::InvalidValue)),
        },
        Kind::Ip4 => first
            .parse::<Ipv4Addr>()
            .map(|a| a.to_string())
            .map_err(|_| bad(ErrorKind::InvalidIp)),
        Kind::Ip6 => first
            .parse::<Ipv6Addr>()
            .map(|a| a.to_string())
            .map_err(|_| bad(ErrorKind::InvalidIp)),
        Kind::Ip4Mask { contiguous } => parse_ip4mask(words, raw, contiguous),
        Kind::Ip6Prefix => {
            let (addr, len) = match first.split_once('/') {
                Some((a, l)) => (a, Some(l)),
                None => (first, None),
            };
            let addr: Ipv6Addr = addr.parse().map_err(|_| bad(ErrorKind::InvalidIp))?;
            let len: u8 = match len {
                None => 128,
                Some(l) => match l.parse::<u8>() {
                    Ok(n) if n <= 128 => n,
                    _ => return Err(bad(ErrorKind::InvalidNetmask)),
                },
            };
            Ok(format!("{addr}/{len}"))
        }
        Kind::Uuid => {
            let ok = first.len() == 36
                && first.char_indices().all(|(i, c)| {
                    if [8, 13, 18, 23].contains(&i) {
                        c == '-'
                    } else {
                        c.is_ascii_hexdigit()
                    }
                });
            if ok {
                Ok(first.to_ascii_lowercase())
            } else {
                Err(bad(ErrorKind::InvalidValue))
            }
        }
        Kind::IntPair { min, max } => {
            let num = |i: usize| -> Result<i64, CliError> {
                let w = words.get(i).copied().unwrap_or("0");
                match w.parse::<i64>() {
                    Ok(n) if (min..=max).contains(&n) => Ok(n),
                    _ => Err(CliError::new(
                        ErrorKind::InvalidValue,
                        raw.get(i).copied().unwrap_or(w),
                    )),
                }
            };
            if let Some(extra) = raw.get(2) {
                return Err(CliError::new(ErrorKind::CommandParse, *extra));
            }
            Ok(format!("{} {}", num(0)?, num(1)?))
        }
        Kind::Members { .. } | Kind::Words { .. } => Err(bad(ErrorKind::InvalidValue)),
    }
}

fn parse_ip4mask(words: &[&str], raw: &[&str], contiguous: bool) -> Result<String, CliError> {
    let tok = |i: usize| {
        raw.get(i)
            .or(words.get(i))
            .copied()
            .unwrap_or("")
            .to_string()
    };
    let first = words.first().copied().unwrap_or("");
    let (addr, mask) = if let Some((a, len)) = first.split_once('/') {
        let addr: Ipv4Addr = a
            .parse()
            .map_err(|_| CliError::new(ErrorKind::InvalidIp, tok(0)))?;
        let len: u32 = match len.parse::<u32>() {
            Ok(n) if n <= 32 => n,
            _ => return Err(CliError::new(ErrorKind::InvalidNetmask, tok(0))),
        };
        let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
        (addr, Ipv4Addr::from(mask))
    } else {
        let addr: Ipv4Addr = first
            .parse()
            .map_err(|_| CliError::new(ErrorKind::InvalidIp, tok(0)))?;
        let mask = match words.get(1) {
            None => Ipv4Addr::BROADCAST,
            Some(m) => {
                let mask: Ipv4Addr = m
                    .parse()
                    .map_err(|_| CliError::new(ErrorKind::InvalidNetmask, tok(1)))?;
                let bits = u32::from(mask);
                if contiguous && bits.leading_ones() + bits.trailing_zeros() != 32 {
                    return Err(CliError::new(ErrorKind::InvalidNetmask, tok(1)));
                }
                mask
            }
        };
        (addr, mask)
    };
    if words.len() > if first.contains('/') { 1 } else { 2 } {
        let extra = if first.contains('/') { 1 } else { 2 };
        return Err(CliError::new(ErrorKind::CommandParse, tok(extra)));
    }
    Ok(format!("{addr} {mask}"))
}

/// How a stored value is printed after `set <field> ` in `show`.
pub fn show_value(field: &Field, value: &str) -> String {
    match field.kind {
        Kind::Str { .. } => super::lexer::quote(value),
        _ => value.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subnet(words: &[&str]) -> Result<String, i32> {
        let field = ADDRESS.field("subnet", Some("ipmask")).unwrap();
        parse_scalar(field, words, words).map_err(|e| e.code())
    }

    #[test]
    fn subnet_accepts_mask_and_prefix_forms() {
        assert_eq!(
            subnet(&["203.0.113.7/32"]),
            Ok("203.0.113.7 255.255.255.255".into())
        );
        assert_eq!(
            subnet(&["10.0.0.0", "255.0.0.0"]),
            Ok("10.0.0.0 255.0.0.0".into())
        );
        assert_eq!(subnet(&["10.0.0.0/0"]), Ok("10.0.0.0 0.0.0.0".into()));
        assert_eq!(subnet(&["10.0.0.300/32"]), Err(-8));
        assert_eq!(subnet(&["10.0.0.0/33"]), Err(-9));
        assert_eq!(subnet(&["10.0.0.0", "255.0.255.0"]), Err(-9));
        assert_eq!(subnet(&[]), Err(-160));
    }

    #[test]
    fn fields_depend_on_type() {
        assert!(ADDRESS.field("subnet", Some("fqdn")).is_none());
        assert!(ADDRESS.field("fqdn", Some("fqdn")).is_some());
        assert_eq!(
            ADDRESS.field("sub", Some("ipmask")).map(|f| f.name),
            Some("subnet")
        );
        assert_eq!(ADDRGRP.scope_name(), "addrgrp");
    }
}
