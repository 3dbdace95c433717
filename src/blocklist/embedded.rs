//! IPv4 addresses hidden inside other indicators, so the IPv4 guardrails and allowlist judge
//! them too (a firewall, a NAT64 gateway or a tunnel end-point turns them back into IPv4).
//!
//! IPv6 forms (bit layouts from the RFCs; a network yields the IPv4 range its fixed bits
//! select — a network too short to fix any IPv4 bit embeds all of `0.0.0.0/0`):
//! - IPv4-mapped `::ffff:0:0/96` and IPv4-compatible `::/96` (RFC 4291 §2.5.5),
//!   IPv4-translated `::ffff:0:0:0/96` (RFC 2765 §2.1);
//! - NAT64 (RFC 6052 §2.2): the well-known prefix `64:ff9b::/96`, the local-use
//!   `64:ff9b:1::/48` (RFC 8215) and any operator prefix (`guardrails.nat64_prefixes`). A
//!   configured prefix of length L may carry the IPv4 address at every RFC 6052 prefix
//!   length ≥ L (/32, /40, /48, /56, /64, /96), the u-octet (bits 64–71) skipped; all of them
//!   are judged, since the operator's exact layout is not known here and a gateway may not
//!   insist on the zero u-octet and suffix that RFC 6052 asks for (fail closed: in the
//!   local-use `64:ff9b:1::/48` nearly every address embeds some never-block range under one
//!   of the layouts, which matches its IANA status "not globally reachable");
//! - 6to4 `2002::/16` (RFC 3056 §2): bits 16–47;
//! - Teredo `2001::/32` (RFC 4380 §4): the server address (bits 32–63) and the client address
//!   (bits 96–127, XOR-obfuscated);
//! - ISATAP interface identifiers `::0:5efe:a.b.c.d` / `::200:5efe:a.b.c.d` under any /64
//!   (RFC 5214 §6.1), judged once a network fixes the `5efe` marker (/96 or longer) — every
//!   /64 contains ISATAP-form addresses, so shorter networks are not treated as embedding.
//!
//! Domain names: wildcard-DNS services resolve a name that spells an address to that
//! address — dotted or dashed, anywhere in the name (`192.0.2.1.nip.io`,
//! `app-192-0-2-1.sslip.io`, `app.10.0.0.1.nip.io`) or as 8 hex digits (`app-c0000201.nip.io`,
//! the hex form of nip.io's `nipio/backend.py` `_split_subdomain` in
//! github.com/exentriquesolutions/nip.io; the dot/dash forms are documented on sslip.io).
//! [`in_domain`] finds every such spelling, whatever the service.
use std::net::Ipv4Addr;

use ipnet::{Ipv4Net, Ipv6Net};

/// An IPv4 range found inside an IPv6 value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Embedded {
    /// The embedded range (`/32` for a host).
    pub v4: Ipv4Net,
    /// Which form carries it, for messages: `6to4 2002::/16`, `Teredo client` …
    pub form: String,
}

/// The default `guardrails.nat64_prefixes` (defined with the other defaults in [`crate::config`]).
pub use crate::config::DEFAULT_NAT64;

/// RFC 6052 §2.2: where the 32 IPv4 bits sit for each prefix length (start bit, bit count),
/// skipping the u-octet (bits 64–71).
fn rfc6052_layout(len: u8) -> &'static [(u8, u8)] {
    match len {
        32 => &[(32, 32)],
        40 => &[(40, 24), (72, 8)],
        48 => &[(48, 16), (72, 16)],
        56 => &[(56, 8), (72, 24)],
        64 => &[(72, 32)],
        _ => &[(96, 32)],
    }
}

/// The prefix lengths RFC 6052 allows.
pub const RFC6052_LENGTHS: &[u8] = &[32, 40, 48, 56, 64, 96];

fn mask128(len: u8) -> u128 {
    if len == 0 {
        0
    } else {
        u128::MAX << (128 - u32::from(len))
    }
}

/// True when `net` shares at least one address with `prefix/len`.
fn overlaps(net: &Ipv6Net, prefix: u128, len: u8) -> bool {
    let common = net.prefix_len().min(len);
    (u128::from(net.network()) ^ prefix) & mask128(common) == 0
}

/// The IPv4 range selected by the fixed bits of `net` at the given bit positions.
fn take(net: &Ipv6Net, layout: &[(u8, u8)], xor: u32) -> Ipv4Net {
    let a = u128::from(net.network());
    let plen = net.prefix_len();
    let mut v4: u32 = 0;
    let mut fixed: u8 = 0;
    let mut i = 0u32;
    for &(start, count) in layout {
        for b in 0..count {
            let pos = start + b;
            let bit = ((a >> (127 - u32::from(pos))) & 1) as u32;
            v4 |= bit << (31 - i);
            if pos < plen {
                fixed += 1;
            }
            i += 1;
        }
    }
    let addr = Ipv4Addr::from(v4 ^ xor);
    Ipv4Net::new(addr, fixed)
        .map(|n| n.trunc())
        .unwrap_or_else(|_| Ipv4Net::default())
}

/// Every IPv4 range embedded in `net` by any of the forms in the module docs.
pub fn in_ipv6(net: &Ipv6Net, nat64: &[Ipv6Net]) -> Vec<Embedded> {
    let mut out = Vec::new();
    let mut push = |v4: Ipv4Net, form: String| {
        if !out.iter().any(|e: &Embedded| e.v4 == v4) {
            out.push(Embedded { v4, form });
        }
    };
    let whole = [(96u8, 32u8)];
    for (prefix, form) in [
        (0xffffu128 << 32, "IPv4-mapped ::ffff:0:0/96"),
        (0xffffu128 << 48, "IPv4-translated ::ffff:0:0:0/96"),
        (0u128, "IPv4-compatible ::/96"),
    ] {
        if overlaps(net, prefix, 96) {
            push(take(net, &whole, 0), form.into());
        }
    }
    if overlaps(net, 0x2002u128 << 112, 16) {
        push(take(net, &[(16, 32)], 0), "6to4 2002::/16".into());
    }
    if overlaps(net, 0x2001u128 << 112, 32) {
        push(take(net, &[(32, 32)], 0), "Teredo server 2001::/32".into());
        push(
            take(net, &whole, u32::MAX),
            "Teredo client 2001::/32".into(),
        );
    }
    for p in nat64 {
        if !overlaps(net, u128::from(p.network()), p.prefix_len()) {
            continue;
        }
        // Longest layout first: the usual /96 decoding is the one a drop detail names.
        for &len in RFC6052_LENGTHS
            .iter()
            .rev()
            .filter(|&&l| l >= p.prefix_len())
        {
            push(
                take(net, rfc6052_layout(len), 0),
                format!("NAT64 {p} (RFC 6052 /{len} layout)"),
            );
        }
    }
    if net.prefix_len() >= 96 {
        let iid_high = (u128::from(net.network()) >> 32) as u32;
        if iid_high & 0xfcff_ffff == 0x0000_5efe {
            push(take(net, &whole, 0), "ISATAP interface identifier".into());
        }
    }
    out
}

/// Every IPv4 address a domain name spells: four decimal octets in a row separated by `.` or
/// `-` (`10.0.0.1.nip.io`, `app-10-0-0-1.nip.io`, `a.10-0.0-1.example`), or a `.`/`-`
/// delimited token of exactly eight hex digits (`app-0a000001.nip.io`).
pub fn in_domain(name: &str) -> Vec<Ipv4Addr> {
    let tokens: Vec<&str> = name.split(['.', '-']).collect();
    let octet = |t: &str| -> Option<u8> {
        if t.is_empty() || t.len() > 3 || !t.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        t.parse().ok()
    };
    let mut out = Vec::new();
    for w in tokens.windows(4) {
        if let (Some(a), Some(b), Some(c), Some(d)) =
            (octet(w[0]), octet(w[1]), octet(w[2]), octet(w[3]))
        {
            let ip = Ipv4Addr::new(a, b, c, d);
            if !out.contains(&ip) {
                out.push(ip);
            }
        }
    }
    for t in &tokens {
        if t.len() == 8
            && t.bytes().all(|b| b.is_ascii_hexdigit())
            && let Ok(v) = u32::from_str_radix(t, 16)
        {
            let ip = Ipv4Addr::from(v);
            if !out.contains(&ip) {
                out.push(ip);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v6(s: &str) -> Ipv6Net {
        s.parse::<Ipv6Net>()
            .or_else(|_| s.parse::<std::net::Ipv6Addr>().map(Ipv6Net::from))
            .unwrap()
    }

    fn nat64() -> Vec<Ipv6Net> {
        DEFAULT_NAT64.iter().map(|s| s.parse().unwrap()).collect()
    }

    fn found(s: &str) -> Vec<String> {
        in_ipv6(&v6(s), &nat64())
            .into_iter()
            .map(|e| e.v4.to_string())
            .collect()
    }

    #[test]
    fn every_ipv6_form_yields_its_ipv4_address() {
        let cases = [
            ("::ffff:c000:201", "192.0.2.1/32"),             // mapped
            ("::ffff:0:c000:201", "192.0.2.1/32"),           // translated
            ("::c000:201", "192.0.2.1/32"),                  // compatible
            ("64:ff9b::c000:201", "192.0.2.1/32"),           // NAT64 well-known
            ("2002:c000:201::1", "192.0.2.1/32"),            // 6to4 host
            ("2002:c000:201::/48", "192.0.2.1/32"),          // 6to4 network
            ("2002:c000:200::/40", "192.0.2.0/24"),          // 6to4 shorter network
            ("2001:0:c000:201::1", "192.0.2.1/32"),          // Teredo server
            ("fe80::5efe:c000:201", "192.0.2.1/32"),         // ISATAP (private)
            ("2001:db8::200:5efe:c000:201", "192.0.2.1/32"), // ISATAP (global)
        ];
        for (addr, want) in cases {
            assert!(
                found(addr).contains(&want.to_string()),
                "{addr}: {:?}",
                found(addr)
            );
        }
        // Teredo client: 192.0.2.1 XOR 0xffffffff = 3fff:fdfe.
        assert!(found("2001:0:4136:e378:8000:63bf:3fff:fdfe").contains(&"192.0.2.1/32".into()));
        // Plain global addresses embed nothing.
        assert!(found("2001:db8::1").is_empty());
        assert!(found("2001:db8:1::/48").is_empty());
    }

    #[test]
    fn local_use_nat64_is_judged_at_every_rfc6052_length() {
        // 192.0.2.1 = c0.00.02.01 under 64:ff9b:1::/48 at each layout.
        let cases = [
            ("64:ff9b:1::c000:201", 96),
            ("64:ff9b:1:0:c0:2:100:0", 64), // /64: bits 72..104
            ("64:ff9b:1:c0:0:201::", 56),   // /56: 56..64 = c0, 72..96 = 00 02 01
            ("64:ff9b:1:c000:2:100::", 48), // /48: 48..64 = c000, 72..88 = 0201
        ];
        for (addr, len) in cases {
            assert!(
                found(addr).contains(&"192.0.2.1/32".to_string()),
                "/{len} {addr}: {:?}",
                found(addr)
            );
        }
        // An operator prefix of length 40 (not in the defaults).
        let p: Vec<Ipv6Net> = vec!["2001:db8:100::/40".parse().unwrap()];
        let e = in_ipv6(&v6("2001:db8:1c0:2:1::"), &p);
        assert!(
            e.iter().any(|e| e.v4.to_string() == "192.0.2.1/32"),
            "{e:?}"
        );
    }

    #[test]
    fn short_networks_embed_whole_ranges() {
        assert!(found("64:ff9b::/64").contains(&"0.0.0.0/0".to_string()));
        assert!(found("64:ff9b::c000:0/112").contains(&"192.0.0.0/16".to_string()));
        // A /64 under any prefix is not an ISATAP claim on every IPv4 address.
        assert!(found("2001:db8:0:1::/64").is_empty());
    }

    #[test]
    fn domains_spelling_an_address() {
        let ip = |s: &str| s.parse::<Ipv4Addr>().unwrap();
        let cases: [(&str, &[&str]); 8] = [
            ("192.0.2.1.nip.io", &["192.0.2.1"]),
            ("192-0-2-1.sslip.io", &["192.0.2.1"]),
            ("app.10.0.0.1.nip.io", &["10.0.0.1"]),
            ("app-10-0-0-1.nip.io", &["10.0.0.1"]),
            ("a.10-0.0-1.example", &["10.0.0.1"]),
            ("app-0a000001.nip.io", &["10.0.0.1"]),
            ("magic.c0a80101.example", &["192.168.1.1"]),
            ("evil.example", &[]),
        ];
        for (name, want) in cases {
            let want: Vec<Ipv4Addr> = want.iter().map(|s| ip(s)).collect();
            assert_eq!(in_domain(name), want, "{name}");
        }
        assert!(in_domain("a.1.2.3.example").is_empty());
        assert!(in_domain("300.1.2.3.example").is_empty());
    }
}
