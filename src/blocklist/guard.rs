//! Guardrails: never block yourself. A built-in never-block set (reserved, loopback,
//! link-local, multicast, broadcast …; private ranges unless `allow_private`), minimum prefix
//! lengths, public suffixes, and the repository allowlist. Every drop names its rule.
//!
//! IPv4 hidden in other values is judged as IPv4 too ([`super::embedded`]): an IPv6 value
//! that embeds an IPv4 address or range (NAT64, 6to4, Teredo, ISATAP, mapped/compatible/
//! translated) and a domain whose labels spell an IPv4 address (`10.0.0.1.nip.io`) are dropped
//! when that IPv4 address or range would be — the detail names the embedded address.
use std::sync::LazyLock;

use ipnet::{Ipv4Net, Ipv6Net};

use crate::config::Guardrails;

use super::allowlist::Allowlist;
use super::embedded;
use super::indicator::{Indicator, overlaps_v4, overlaps_v6};

/// Why an indicator is not blocked.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Dropped {
    /// Short rule id: `never-block`, `private`, `min-prefix`, `public-suffix`, `special-domain`,
    /// `allowlist`, `expired`.
    pub rule: &'static str,
    /// Human explanation, e.g. "loopback 127.0.0.0/8".
    pub detail: String,
}

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.rule, self.detail)
    }
}

static NEVER_V4: LazyLock<Vec<(Ipv4Net, &'static str)>> = LazyLock::new(|| {
    [
        ("0.0.0.0/8", "\"this network\" / unspecified"),
        ("127.0.0.0/8", "loopback"),
        ("169.254.0.0/16", "link-local"),
        ("192.0.0.0/24", "IETF protocol assignments"),
        ("198.18.0.0/15", "benchmarking"),
        ("224.0.0.0/4", "multicast"),
        ("240.0.0.0/4", "reserved (incl. broadcast 255.255.255.255)"),
    ]
    .into_iter()
    .filter_map(|(n, why)| n.parse().ok().map(|n| (n, why)))
    .collect()
});

static PRIVATE_V4: LazyLock<Vec<(Ipv4Net, &'static str)>> = LazyLock::new(|| {
    [
        ("10.0.0.0/8", "private (RFC 1918)"),
        ("172.16.0.0/12", "private (RFC 1918)"),
        ("192.168.0.0/16", "private (RFC 1918)"),
        ("100.64.0.0/10", "shared address space (CGNAT)"),
    ]
    .into_iter()
    .filter_map(|(n, why)| n.parse().ok().map(|n| (n, why)))
    .collect()
});

static NEVER_V6: LazyLock<Vec<(Ipv6Net, &'static str)>> = LazyLock::new(|| {
    [
        ("::/128", "unspecified"),
        ("::1/128", "loopback"),
        ("::ffff:0:0/96", "IPv4-mapped"),
        ("64:ff9b::/96", "NAT64 well-known prefix"),
        ("100::/64", "discard-only"),
        ("2001::/23", "IETF protocol assignments"),
        ("fe80::/10", "link-local"),
        ("fec0::/10", "site-local (deprecated)"),
        ("ff00::/8", "multicast"),
    ]
    .into_iter()
    .filter_map(|(n, why)| n.parse().ok().map(|n| (n, why)))
    .collect()
});

static PRIVATE_V6: LazyLock<Vec<(Ipv6Net, &'static str)>> = LazyLock::new(|| {
    [("fc00::/7", "unique local (private)")]
        .into_iter()
        .filter_map(|(n, why)| n.parse().ok().map(|n| (n, why)))
        .collect()
});

/// Special-use domain suffixes that are never blocked (RFC 6761 and friends).
const SPECIAL_DOMAINS: &[&str] = &[
    "localhost",
    "local",
    "arpa",
    "internal",
    "home.arpa",
    "invalid",
    "onion",
    "alt",
    "lan",
    "localdomain",
];

/// Applies the guardrails.
#[derive(Debug, Clone)]
pub struct Guard {
    cfg: Guardrails,
    allow: Allowlist,
    nat64: Vec<Ipv6Net>,
}

/// Where a judged IPv4 range came from, for the drop detail.
enum Via<'a> {
    Itself,
    Ipv6(&'a embedded::Embedded),
    Domain(std::net::Ipv4Addr),
}

impl Via<'_> {
    fn wrap(&self, detail: String) -> String {
        match self {
            Via::Itself => detail,
            Via::Ipv6(e) => format!("embeds the IPv4 {} ({}): {detail}", show_v4(&e.v4), e.form),
            Via::Domain(a) => format!("spells the IPv4 address {a}: {detail}"),
        }
    }
}

fn show_v4(n: &Ipv4Net) -> String {
    if n.prefix_len() == 32 {
        n.addr().to_string()
    } else {
        n.to_string()
    }
}

impl Guard {
    pub fn new(cfg: &Guardrails, allow: &Allowlist) -> Guard {
        Guard {
            cfg: cfg.clone(),
            allow: allow.clone(),
            // Validated by `Config::validate`; an unparsable entry never gets this far.
            nat64: cfg
                .nat64_prefixes
                .iter()
                .filter_map(|p| p.parse().ok())
                .collect(),
        }
    }

    /// `Ok` when `value` may be blocked; otherwise the rule that drops it.
    pub fn check(&self, value: &Indicator) -> Result<(), Dropped> {
        match value {
            Indicator::V4(n) => return self.check_v4(n, &Via::Itself, true),
            Indicator::V6(n) => {
                self.check_v6(n)?;
                for e in embedded::in_ipv6(n, &self.nat64) {
                    self.check_v4(&e.v4, &Via::Ipv6(&e), true)?;
                }
            }
            Indicator::Fqdn(d) => {
                if let Some(s) = SPECIAL_DOMAINS
                    .iter()
                    .find(|s| super::allowlist::is_same_or_sub(d, s))
                {
                    return drop("special-domain", format!("special-use domain .{s}"));
                }
                if is_public_suffix(d) {
                    return drop(
                        "public-suffix",
                        format!(
                            "`{d}` is a public suffix; blocking it would block every domain under it"
                        ),
                    );
                }
                for a in embedded::in_domain(d) {
                    let host = Ipv4Net::from(a);
                    self.check_v4(&host, &Via::Domain(a), false)?;
                }
            }
        }
        self.check_allowlist(value, &Via::Itself)
    }

    /// The IPv4 rules (never-block, private, minimum prefix when `prefix_rule`, allowlist).
    fn check_v4(&self, n: &Ipv4Net, via: &Via<'_>, prefix_rule: bool) -> Result<(), Dropped> {
        if let Some((net, why)) = NEVER_V4.iter().find(|(r, _)| overlaps_v4(r, n)) {
            return drop("never-block", via.wrap(format!("{why} {net}")));
        }
        if !self.cfg.allow_private
            && let Some((net, why)) = PRIVATE_V4.iter().find(|(r, _)| overlaps_v4(r, n))
        {
            return drop(
                "private",
                via.wrap(format!(
                    "{why} {net} (set guardrails.allow_private to block it)"
                )),
            );
        }
        if prefix_rule && n.prefix_len() < self.cfg.min_prefix_v4 {
            return drop(
                "min-prefix",
                via.wrap(format!(
                    "/{} is shorter than the minimum /{}",
                    n.prefix_len(),
                    self.cfg.min_prefix_v4
                )),
            );
        }
        self.check_allowlist(&Indicator::V4(*n), via)
    }

    /// The IPv6 rules of the value itself.
    fn check_v6(&self, n: &Ipv6Net) -> Result<(), Dropped> {
        if let Some((net, why)) = NEVER_V6.iter().find(|(r, _)| overlaps_v6(r, n)) {
            return drop("never-block", format!("{why} {net}"));
        }
        if !self.cfg.allow_private
            && let Some((net, why)) = PRIVATE_V6.iter().find(|(r, _)| overlaps_v6(r, n))
        {
            return drop(
                "private",
                format!("{why} {net} (set guardrails.allow_private to block it)"),
            );
        }
        if n.prefix_len() < self.cfg.min_prefix_v6 {
            return drop(
                "min-prefix",
                format!(
                    "/{} is shorter than the minimum /{}",
                    n.prefix_len(),
                    self.cfg.min_prefix_v6
                ),
            );
        }
        Ok(())
    }

    fn check_allowlist(&self, value: &Indicator, via: &Via<'_>) -> Result<(), Dropped> {
        if let Some(rule) = self.allow.protects(value) {
            let why = rule
                .comment
                .as_deref()
                // Repository text: shown without invisible characters.
                .map(|c| format!(" ({})", crate::text::clean(c)))
                .unwrap_or_default();
            return drop(
                "allowlist",
                via.wrap(format!(
                    "{}:{}: {}{why}",
                    self.allow.path, rule.line, rule.value
                )),
            );
        }
        Ok(())
    }

    /// The allowlist in use.
    pub fn allowlist(&self) -> &Allowlist {
        &self.allow
    }
}

fn drop(rule: &'static str, detail: String) -> Result<(), Dropped> {
    Err(Dropped { rule, detail })
}

/// True when `domain` is itself a public suffix (`com`, `co.uk`, `github.io` …).
pub fn is_public_suffix(domain: &str) -> bool {
    match psl::suffix(domain.as_bytes()) {
        Some(s) => s.as_bytes() == domain.as_bytes() && s.is_known(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard(allow_private: bool) -> Guard {
        let cfg = Guardrails {
            allow_private,
            ..Guardrails::default()
        };
        let allow = Allowlist::parse(
            "entries:\n- value: 203.0.113.128/25\n  comment: partner\n- value: good.example\n",
            "blocklists/allowlist.yaml",
        )
        .unwrap();
        Guard::new(&cfg, &allow)
    }

    #[test]
    fn built_in_rules_and_allowlist() {
        let g = guard(false);
        let rule = |s: &str| g.check(&Indicator::parse(s).unwrap()).err().map(|d| d.rule);
        let cases = [
            ("127.0.0.1", Some("never-block")),
            ("0.0.0.0", Some("never-block")),
            ("255.255.255.255", Some("never-block")),
            ("224.0.0.251", Some("never-block")),
            ("169.254.169.254", Some("never-block")),
            ("10.1.2.3", Some("private")),
            ("192.168.1.0/24", Some("private")),
            ("100.64.0.1", Some("private")),
            ("198.51.100.0/23", Some("min-prefix")),
            ("::1", Some("never-block")),
            ("fe80::1", Some("never-block")),
            ("ff02::1", Some("never-block")),
            ("fd00::1", Some("private")),
            ("2001:db8::/32", Some("min-prefix")),
            ("com", None), // single label: rejected by the parser already, see below
            ("co.uk", Some("public-suffix")),
            ("github.io", Some("public-suffix")),
            ("printer.local", Some("special-domain")),
            ("203.0.113.200", Some("allowlist")),
            ("203.0.113.0/24", Some("allowlist")),
            ("www.good.example", Some("allowlist")),
            ("203.0.113.7", None),
            ("198.51.100.0/24", None),
            ("192.0.2.1", None),
            ("2001:db8::1", None),
            ("evil.example", None),
            ("evil.co.uk", None),
        ];
        for (v, want) in cases {
            if v == "com" {
                assert!(Indicator::parse(v).is_err());
                continue;
            }
            assert_eq!(rule(v), want, "{v}");
        }
    }

    #[test]
    fn allow_private_unlocks_rfc1918_only() {
        let g = guard(true);
        assert!(g.check(&Indicator::parse("10.1.2.3").unwrap()).is_ok());
        assert!(g.check(&Indicator::parse("127.0.0.1").unwrap()).is_err());
    }

    #[test]
    fn drop_detail_names_the_allowlist_line() {
        let d = guard(false)
            .check(&Indicator::parse("203.0.113.130").unwrap())
            .unwrap_err();
        assert_eq!(
            d.to_string(),
            "allowlist: blocklists/allowlist.yaml:2: 203.0.113.128/25 (partner)"
        );
    }

    fn guard_allowing(allow: &str) -> Guard {
        let allow = Allowlist::parse(allow, "blocklists/allowlist.yaml").unwrap();
        Guard::new(&Guardrails::default(), &allow)
    }

    #[test]
    fn embedded_ipv4_escaping_the_allowlist_is_dropped_naming_the_address() {
        // The bug: with 192.0.2.0/28 allowlisted these IPv6 forms were rendered.
        let g = guard_allowing("entries:\n- value: 192.0.2.0/28\n");
        for v in [
            "64:ff9b:1::c000:201",     // local-use NAT64
            "2002:c000:201::/48",      // 6to4
            "::192.0.2.1",             // IPv4-compatible
            "::ffff:0:c000:201",       // IPv4-translated
            "2001:db8::5efe:c000:201", // ISATAP
        ] {
            let d = g.check(&Indicator::parse(v).unwrap()).unwrap_err();
            assert_eq!(d.rule, "allowlist", "{v}: {d}");
            assert!(d.detail.contains("192.0.2.1"), "{v}: {d}");
        }
        // A network whose embedded range overlaps the allowlisted one.
        let d = g
            .check(&Indicator::parse("2001:db8::5efe:c000:200/120").unwrap())
            .unwrap_err();
        assert_eq!(d.rule, "allowlist", "{d}");
        assert!(d.detail.contains("192.0.2.0/24"), "{d}");
        // Embedded addresses that are fine stay blockable.
        for v in [
            "2002:cb00:7107::/48",
            "2001:db8::5efe:cb00:7107",
            "2001:db8::1",
        ] {
            assert!(g.check(&Indicator::parse(v).unwrap()).is_ok(), "{v}");
        }
    }

    #[test]
    fn embedded_private_and_never_block_ranges_are_dropped() {
        let g = guard_allowing("entries: []\n");
        let rule = |s: &str| {
            g.check(&Indicator::parse(s).unwrap())
                .map_err(|d| (d.rule, d.detail))
        };
        let (r, d) = rule("2002:a00:1::/48").unwrap_err();
        assert_eq!(r, "private", "{d}");
        assert!(d.contains("10.0.0.1") && d.contains("6to4"), "{d}");
        assert_eq!(rule("::7f00:1").unwrap_err().0, "never-block");
        assert_eq!(
            rule("2001:db8::5efe:a9fe:a9fe").unwrap_err().0,
            "never-block"
        );
        // A NAT64 network covering a /16 of IPv4 is too short for the IPv4 minimum.
        let (r, d) = rule("64:ff9b:1::cb00:0/112").unwrap_err();
        assert_eq!(r, "min-prefix", "{d}");
    }

    #[test]
    fn domains_spelling_a_protected_address_are_dropped() {
        let g = guard_allowing("entries:\n- value: 192.0.2.0/28\n");
        let rule = |s: &str| {
            g.check(&Indicator::parse(s).unwrap())
                .map_err(|d| (d.rule, d.detail))
        };
        for (v, want) in [
            ("192.0.2.1.nip.io", "allowlist"),
            ("192-0-2-1.sslip.io", "allowlist"),
            ("app.10.0.0.1.nip.io", "private"),
            ("app-10-0-0-1.nip.io", "private"),
            ("app-7f000001.nip.io", "never-block"),
            ("127-0-0-1.sslip.io", "never-block"),
        ] {
            let (r, d) = rule(v).unwrap_err();
            assert_eq!(r, want, "{v}: {d}");
            assert!(d.starts_with("spells the IPv4 address"), "{v}: {d}");
        }
        for v in [
            "203.0.113.7.nip.io",
            "app-198-51-100-7.sslip.io",
            "evil.example",
        ] {
            assert!(rule(v).is_ok(), "{v}");
        }
    }
}
