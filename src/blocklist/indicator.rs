//! Typed indicators. Every value that reaches a template or a device went through
//! [`Indicator::parse`]: IP hosts and networks, or IDNA-normalised FQDNs. Anything else is
//! rejected with a reason an operator can act on.
use std::cmp::Ordering;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::str::FromStr;

use ipnet::{Ipv4Net, Ipv6Net};
use serde::{Deserialize, Serialize};

/// The `type` field of a blocklist entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum IndicatorType {
    #[serde(rename = "ipv4")]
    Ipv4,
    #[serde(rename = "ipv4-net")]
    Ipv4Net,
    #[serde(rename = "ipv6")]
    Ipv6,
    #[serde(rename = "ipv6-net")]
    Ipv6Net,
    #[serde(rename = "fqdn")]
    Fqdn,
}

impl IndicatorType {
    pub fn as_str(self) -> &'static str {
        match self {
            IndicatorType::Ipv4 => "ipv4",
            IndicatorType::Ipv4Net => "ipv4-net",
            IndicatorType::Ipv6 => "ipv6",
            IndicatorType::Ipv6Net => "ipv6-net",
            IndicatorType::Fqdn => "fqdn",
        }
    }
}

impl fmt::Display for IndicatorType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A validated, normalised indicator.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Indicator {
    /// IPv4 host (`/32`) or network.
    V4(Ipv4Net),
    /// IPv6 host (`/128`) or network.
    V6(Ipv6Net),
    /// Lower-case ASCII (punycode) domain name without trailing dot.
    Fqdn(String),
}

/// Why a value is not an indicator.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{shown}` is not a valid indicator: {reason}")]
pub struct InvalidIndicator {
    /// The offending input, with control and invisible characters made visible.
    pub shown: String,
    /// What is wrong (and, where we can tell, what was meant).
    pub reason: String,
}

fn invalid(raw: &str, reason: impl Into<String>) -> InvalidIndicator {
    InvalidIndicator {
        shown: visible(raw),
        reason: reason.into(),
    }
}

/// Escape control, format (bidi) and non-ASCII whitespace characters so a message shows them.
pub fn visible(s: &str) -> String {
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i >= 80 {
            out.push('…');
            break;
        }
        if c.is_control() || is_invisible(c) {
            out.push_str(&c.escape_unicode().to_string());
        } else {
            out.push(c);
        }
    }
    out
}

/// Bidi controls, zero-width and other format characters that make text lie about itself:
/// the one policy of [`crate::text::is_hidden`], plus whitespace other than a space.
fn is_invisible(c: char) -> bool {
    crate::text::is_hidden(c) || (c.is_whitespace() && c != ' ')
}

impl Indicator {
    /// Parse and normalise one value.
    pub fn parse(raw: &str) -> Result<Indicator, InvalidIndicator> {
        if raw.is_empty() {
            return Err(invalid(raw, "empty value"));
        }
        if raw.len() > 512 {
            return Err(invalid(raw, "longer than 512 bytes"));
        }
        // Nearly every value is plain: letters, digits and `. : / - _`. Only a value with
        // another character can hit the checks below, which name what is wrong with it.
        let plain = raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b':' | b'/' | b'-' | b'_'));
        if !plain {
            Self::explain_characters(raw)?;
        }
        if raw.as_bytes().windows(3).any(|w| w == b"://") {
            return Err(invalid(raw, "is a URL; give only the host name or address"));
        }
        let head = raw.split('/').next().unwrap_or(raw);
        let looks_ip = head.contains(':') || head.chars().all(|c| c.is_ascii_digit() || c == '.');
        if looks_ip {
            parse_ip(raw)
        } else {
            parse_fqdn(raw)
        }
    }

    /// Why a value with characters outside the plain set is not an indicator, in the order
    /// an operator is best told (`Ok` when its characters are all acceptable, e.g. an
    /// internationalised domain name).
    fn explain_characters(raw: &str) -> Result<(), InvalidIndicator> {
        if let Some(c) = raw.chars().find(|c| c.is_control()) {
            return Err(invalid(
                raw,
                format!("contains the control character {}", c.escape_unicode()),
            ));
        }
        if let Some(c) = raw.chars().find(|&c| is_invisible(c)) {
            return Err(invalid(
                raw,
                format!(
                    "contains the invisible or bidi character {}",
                    c.escape_unicode()
                ),
            ));
        }
        if raw.trim() != raw {
            return Err(invalid(raw, "leading or trailing whitespace"));
        }
        if raw.contains(char::is_whitespace) {
            return Err(invalid(raw, "contains whitespace"));
        }
        if let Some(c) = raw.chars().find(|c| matches!(c, '"' | '\'' | '`' | '\\')) {
            return Err(invalid(raw, format!("contains a quote or backslash ({c})")));
        }
        if raw.contains("://") {
            return Err(invalid(raw, "is a URL; give only the host name or address"));
        }
        if let Some(c) = raw.chars().find(|c| {
            matches!(
                c,
                '?' | ';'
                    | '#'
                    | '&'
                    | '|'
                    | '$'
                    | '<'
                    | '>'
                    | '('
                    | ')'
                    | '{'
                    | '}'
                    | '!'
                    | '='
                    | ','
                    | '@'
                    | '%'
                    | '+'
                    | '~'
                    | '^'
            )
        }) {
            return Err(invalid(
                raw,
                format!("contains `{c}`, which is never part of an address or domain"),
            ));
        }
        if raw.contains('*') {
            return Err(invalid(
                raw,
                "wildcards are not supported; list the domain itself (subdomains are not blocked implicitly)",
            ));
        }
        if raw.contains('[') || raw.contains(']') {
            return Err(invalid(
                raw,
                "brackets: give a bare IPv6 address without [ ] or port",
            ));
        }
        Ok(())
    }

    /// The entry type this indicator is written as.
    pub fn kind(&self) -> IndicatorType {
        match self {
            Indicator::V4(n) if n.prefix_len() == 32 => IndicatorType::Ipv4,
            Indicator::V4(_) => IndicatorType::Ipv4Net,
            Indicator::V6(n) if n.prefix_len() == 128 => IndicatorType::Ipv6,
            Indicator::V6(_) => IndicatorType::Ipv6Net,
            Indicator::Fqdn(_) => IndicatorType::Fqdn,
        }
    }

    /// True for IP hosts and networks.
    pub fn is_ip(&self) -> bool {
        !matches!(self, Indicator::Fqdn(_))
    }
}

fn parse_ip(raw: &str) -> Result<Indicator, InvalidIndicator> {
    let (addr, len) = match raw.split_once('/') {
        Some((a, l)) => {
            if l.is_empty()
                || l.len() > 3
                || !l.chars().all(|c| c.is_ascii_digit())
                || (l.len() > 1 && l.starts_with('0'))
            {
                return Err(invalid(raw, format!("`/{l}` is not a prefix length")));
            }
            (
                a,
                Some(
                    l.parse::<u8>()
                        .map_err(|_| invalid(raw, "prefix length out of range"))?,
                ),
            )
        }
        None => (raw, None),
    };
    if addr.contains(':')
        && addr.rsplit_once(':').is_some_and(|(_, p)| {
            !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()) && addr.matches(':').count() == 1
        })
    {
        return Err(invalid(
            raw,
            "looks like address:port; ports are not supported",
        ));
    }
    let ip = IpAddr::from_str(addr).map_err(|_| {
        if addr.chars().all(|c| c.is_ascii_digit() || c == '.') {
            if addr.split('.').any(|o| o.len() > 1 && o.starts_with('0')) {
                invalid(
                    raw,
                    "octets with leading zeros are ambiguous (octal?); write them without zeros",
                )
            } else {
                invalid(raw, "not a dotted-quad IPv4 address")
            }
        } else {
            invalid(raw, "not an IPv6 address")
        }
    })?;
    match ip {
        IpAddr::V4(a) => {
            let len = len.unwrap_or(32);
            if len > 32 {
                return Err(invalid(raw, format!("/{len} is longer than 32 bits")));
            }
            let net = Ipv4Net::new(a, len).map_err(|_| invalid(raw, "bad prefix length"))?;
            if net.network() != a {
                return Err(invalid(
                    raw,
                    format!("host bits are set; did you mean {}/{}?", net.network(), len),
                ));
            }
            Ok(Indicator::V4(net))
        }
        IpAddr::V6(a) => {
            if let Some(v4) = a.to_ipv4_mapped() {
                return Err(invalid(
                    raw,
                    format!("IPv4-mapped IPv6 address; write {v4} instead"),
                ));
            }
            let len = len.unwrap_or(128);
            if len > 128 {
                return Err(invalid(raw, format!("/{len} is longer than 128 bits")));
            }
            let net = Ipv6Net::new(a, len).map_err(|_| invalid(raw, "bad prefix length"))?;
            if net.network() != a {
                return Err(invalid(
                    raw,
                    format!("host bits are set; did you mean {}/{}?", net.network(), len),
                ));
            }
            Ok(Indicator::V6(net))
        }
    }
}

fn parse_fqdn(raw: &str) -> Result<Indicator, InvalidIndicator> {
    if raw.contains('/') {
        return Err(invalid(
            raw,
            "contains `/`; give only the host name, not a path",
        ));
    }
    if raw.contains(':') {
        return Err(invalid(raw, "contains `:`; ports are not supported"));
    }
    let trimmed = raw.strip_suffix('.').unwrap_or(raw);
    if trimmed.is_empty() || trimmed.starts_with('.') || trimmed.contains("..") {
        return Err(invalid(raw, "empty label"));
    }
    let ascii = idna::domain_to_ascii_cow(trimmed.as_bytes(), idna::AsciiDenyList::STD3)
        .map_err(|_| invalid(raw, "not a valid internationalised domain name (IDNA)"))?;
    let name = ascii.to_ascii_lowercase();
    if name.len() > 253 {
        return Err(invalid(
            raw,
            format!("{} characters; a domain name has at most 253", name.len()),
        ));
    }
    let labels: Vec<&str> = name.split('.').collect();
    if labels.len() < 2 {
        return Err(invalid(
            raw,
            "a single label is not a fully qualified domain name",
        ));
    }
    for l in &labels {
        if l.is_empty() {
            return Err(invalid(raw, "empty label"));
        }
        if l.len() > 63 {
            return Err(invalid(
                raw,
                format!("label `{}` is longer than 63 characters", visible(l)),
            ));
        }
        if !l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(invalid(
                raw,
                format!(
                    "label `{}` may only use letters, digits and `-`",
                    visible(l)
                ),
            ));
        }
        if l.starts_with('-') || l.ends_with('-') {
            return Err(invalid(raw, format!("label `{l}` starts or ends with `-`")));
        }
    }
    let tld = labels[labels.len() - 1];
    if tld.chars().all(|c| c.is_ascii_digit()) {
        return Err(invalid(
            raw,
            "all-numeric top-level label; is this a malformed IP address?",
        ));
    }
    Ok(Indicator::Fqdn(name))
}

impl fmt::Display for Indicator {
    /// Canonical text: hosts without `/len`, networks with it, domains as punycode.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Indicator::V4(n) => f.write_str(V4Text::new(n).as_str()),
            Indicator::V6(n) if n.prefix_len() == 128 => write!(f, "{}", n.addr()),
            Indicator::V6(n) => write!(f, "{n}"),
            Indicator::Fqdn(d) => f.write_str(d),
        }
    }
}

impl Indicator {
    /// The canonical text ([`fmt::Display`]) appended to `out`. Object names, subnets and
    /// feeds write 100 000 of these per render; IPv4 (most of them) skips the formatter.
    pub fn push_text(&self, out: &mut String) {
        match self {
            Indicator::V4(n) => out.push_str(V4Text::new(n).as_str()),
            Indicator::Fqdn(d) => out.push_str(d),
            v6 => {
                use std::fmt::Write as _;
                let _ = write!(out, "{v6}");
            }
        }
    }
}

/// Canonical text of an IPv4 host (`a.b.c.d`) or network (`a.b.c.d/len`) on the stack: the
/// same text as `Ipv4Addr`'s and `Ipv4Net`'s `Display`, which a test compares on every
/// octet value.
struct V4Text {
    buf: [u8; 18],
    len: usize,
}

impl V4Text {
    fn empty() -> V4Text {
        V4Text {
            buf: [0; 18],
            len: 0,
        }
    }

    fn new(n: &Ipv4Net) -> V4Text {
        let mut t = V4Text::empty();
        t.addr(n.addr());
        if n.prefix_len() != 32 {
            t.buf[t.len] = b'/';
            t.len += 1;
            t.num(n.prefix_len());
        }
        t
    }

    fn addr(&mut self, a: Ipv4Addr) {
        for (i, o) in a.octets().into_iter().enumerate() {
            if i > 0 {
                self.buf[self.len] = b'.';
                self.len += 1;
            }
            self.num(o);
        }
    }

    fn num(&mut self, n: u8) {
        if n >= 100 {
            self.buf[self.len] = b'0' + n / 100;
            self.len += 1;
        }
        if n >= 10 {
            self.buf[self.len] = b'0' + n / 10 % 10;
            self.len += 1;
        }
        self.buf[self.len] = b'0' + n % 10;
        self.len += 1;
    }

    fn as_str(&self) -> &str {
        // Only ASCII digits, dots and a slash were written.
        std::str::from_utf8(&self.buf[..self.len]).expect("ASCII")
    }
}

/// `a` in dotted-quad form appended to `out` (as `Ipv4Addr`'s `Display` writes it).
pub fn push_v4(out: &mut String, a: Ipv4Addr) {
    let mut t = V4Text::empty();
    t.addr(a);
    out.push_str(t.as_str());
}

impl Serialize for Indicator {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl FromStr for Indicator {
    type Err = InvalidIndicator;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Indicator::parse(s)
    }
}

impl Ord for Indicator {
    /// Sorted by type (`ipv4`, `ipv4-net`, `ipv6`, `ipv6-net`, `fqdn`), then numerically / by name.
    fn cmp(&self, other: &Self) -> Ordering {
        self.kind()
            .cmp(&other.kind())
            .then_with(|| match (self, other) {
                (Indicator::V4(a), Indicator::V4(b)) => {
                    (a.addr(), a.prefix_len()).cmp(&(b.addr(), b.prefix_len()))
                }
                (Indicator::V6(a), Indicator::V6(b)) => {
                    (a.addr(), a.prefix_len()).cmp(&(b.addr(), b.prefix_len()))
                }
                (Indicator::Fqdn(a), Indicator::Fqdn(b)) => a.cmp(b),
                _ => Ordering::Equal,
            })
    }
}

impl PartialOrd for Indicator {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Helpers for address-family checks used by guardrails and rendering.
pub fn v4_mask(len: u8) -> Ipv4Addr {
    Ipv4Net::new(Ipv4Addr::UNSPECIFIED, len)
        .map(|n| n.netmask())
        .unwrap_or(Ipv4Addr::BROADCAST)
}

/// `true` when `a` and `b` share at least one address.
pub fn overlaps_v6(a: &Ipv6Net, b: &Ipv6Net) -> bool {
    a.contains(b) || b.contains(a)
}

/// `true` when `a` and `b` share at least one address. Two CIDR blocks overlap exactly when
/// one contains the other; as address ranges that is two comparisons (the guardrails run
/// this for every IPv4 indicator).
pub fn overlaps_v4(a: &Ipv4Net, b: &Ipv4Net) -> bool {
    let range = |n: &Ipv4Net| (u32::from(n.network()), u32::from(n.broadcast()));
    let ((a_first, a_last), (b_first, b_last)) = (range(a), range(b));
    a_first <= b_last && b_first <= a_last
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_overlap_by_ranges_is_containment_either_way() {
        let nets: Vec<Ipv4Net> = [
            "0.0.0.0/0",
            "10.0.0.0/8",
            "10.1.0.0/16",
            "10.1.2.3/32",
            "11.0.0.0/8",
            "192.168.0.0/16",
            "192.168.255.255/32",
            "255.255.255.255/32",
            "0.0.0.0/32",
            "9.255.255.255/32",
        ]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
        for a in &nets {
            for b in &nets {
                assert_eq!(overlaps_v4(a, b), a.contains(b) || b.contains(a), "{a} {b}");
            }
        }
    }

    #[test]
    fn ipv4_text_is_the_standard_display_for_every_octet_and_prefix() {
        for o in 0..=255u8 {
            for a in [
                Ipv4Addr::new(o, 0, 0, 0),
                Ipv4Addr::new(1, o, 9, o),
                Ipv4Addr::new(o, o, o, o),
                Ipv4Addr::new(255, 10, 100, o),
            ] {
                let host = Indicator::V4(Ipv4Net::new(a, 32).unwrap());
                assert_eq!(host.to_string(), a.to_string());
                let mut pushed = String::from("x");
                host.push_text(&mut pushed);
                push_v4(&mut pushed, a);
                assert_eq!(pushed, format!("x{a}{a}"));
            }
        }
        for len in 0..32u8 {
            let n = Ipv4Net::new(Ipv4Addr::new(10, 200, 30, 4), len)
                .unwrap()
                .trunc();
            let ind = Indicator::V4(n);
            assert_eq!(ind.to_string(), n.to_string());
            let mut pushed = String::new();
            ind.push_text(&mut pushed);
            assert_eq!(pushed, n.to_string());
        }
        for v in ["2001:db8::1", "2001:db8::/32", "example.com"] {
            let ind = Indicator::parse(v).unwrap();
            let mut pushed = String::new();
            ind.push_text(&mut pushed);
            assert_eq!(pushed, v);
        }
    }

    fn ok(s: &str) -> (String, IndicatorType) {
        let i = Indicator::parse(s).unwrap_or_else(|e| panic!("{s:?}: {e}"));
        (i.to_string(), i.kind())
    }

    #[test]
    fn valid_values_normalise() {
        use IndicatorType::*;
        let cases = [
            ("203.0.113.7", "203.0.113.7", Ipv4),
            ("203.0.113.7/32", "203.0.113.7", Ipv4),
            ("198.51.100.0/24", "198.51.100.0/24", Ipv4Net),
            ("2001:DB8::1", "2001:db8::1", Ipv6),
            ("2001:db8:0:0::1/128", "2001:db8::1", Ipv6),
            ("2001:db8:abcd::/48", "2001:db8:abcd::/48", Ipv6Net),
            ("Evil.Example.COM.", "evil.example.com", Fqdn),
            ("bücher.example", "xn--bcher-kva.example", Fqdn),
            ("xn--bcher-kva.example", "xn--bcher-kva.example", Fqdn),
            ("a-b.c-d.example.net", "a-b.c-d.example.net", Fqdn),
            ("1.example", "1.example", Fqdn),
        ];
        for (input, want, kind) in cases {
            assert_eq!(ok(input), (want.to_string(), kind), "{input}");
        }
    }

    #[test]
    fn hostile_and_malformed_values_are_rejected() {
        let long_label = format!("{}.example", "a".repeat(64));
        let long_name = format!("{}example", "abcdefghi.".repeat(26));
        let cases: Vec<(&str, &str)> = vec![
            ("", "empty"),
            (" 203.0.113.7", "whitespace"),
            ("203.0.113.7 ", "whitespace"),
            ("203.0.113.7\n", "control"),
            ("evil.example\nend", "control"),
            ("evil.example\r", "control"),
            ("evil\texample.com", "control"),
            ("evil.example\u{0}", "control"),
            ("evil.example\u{1b}[31m", "control"),
            ("ev\u{202E}moc.example", "bidi"),
            ("evil\u{200B}.example", "invisible"),
            ("evil.exa\u{2066}mple", "bidi"),
            ("\u{FEFF}evil.example", "invisible"),
            ("evil example.com", "whitespace"),
            ("\"evil.example\"", "quote"),
            ("evil.example\" ; purge", "whitespace"),
            ("'evil.example'", "quote"),
            ("evil.example\\", "quote"),
            ("evil.example;", "never part"),
            ("evil.example?", "never part"),
            ("evil.example#x", "never part"),
            ("a&b.example", "never part"),
            ("$(reboot).example", "never part"),
            ("evil.example|grep", "never part"),
            ("*.evil.example", "wildcard"),
            ("evil.*", "wildcard"),
            ("http://evil.example/x", "URL"),
            ("https://203.0.113.7", "URL"),
            ("evil.example/path", "path"),
            ("evil.example:443", "port"),
            ("203.0.113.7:443", "port"),
            ("[2001:db8::1]:443", "brackets"),
            ("[2001:db8::1]", "brackets"),
            ("user@evil.example", "never part"),
            ("evil.example%00", "never part"),
            ("203.0.113.256", "dotted-quad"),
            ("203.0.113", "dotted-quad"),
            ("203.0.113.7.9", "dotted-quad"),
            ("010.0.0.1", "leading zeros"),
            ("203.0.113.7/33", "longer than 32"),
            ("203.0.113.7/24", "did you mean 203.0.113.0/24"),
            ("198.51.100.0/", "prefix length"),
            ("198.51.100.0/024", "prefix length"),
            ("198.51.100.0/-1", "prefix length"),
            ("2001:db8::1/64", "did you mean 2001:db8::/64"),
            ("2001:db8::/129", "longer than 128"),
            ("2001:db8:::1", "IPv6"),
            ("2001:db8::g", "IPv6"),
            ("::ffff:203.0.113.7", "IPv4-mapped"),
            ("localhost", "single label"),
            ("example.", "single label"),
            ("evil..example", "empty label"),
            (".evil.example", "empty label"),
            ("-evil.example", "`-`"),
            ("evil-.example", "`-`"),
            ("evil_host.example", "IDNA"),
            (long_label.as_str(), "63"),
            (long_name.as_str(), "253"),
            ("1.2.3.4.5", "dotted-quad"),
            ("evil.123", "all-numeric"),
            ("evil.example,bad.example", "never part"),
            ("evil.example<script>", "never part"),
            ("evil.example{{x}}", "never part"),
            ("evil.example=1", "never part"),
        ];
        assert!(cases.len() >= 40);
        for (input, why) in cases {
            match Indicator::parse(input) {
                Ok(v) => panic!("{input:?} was accepted as {v}"),
                Err(e) => assert!(
                    e.to_string().contains(why),
                    "{input:?}: expected reason containing {why:?}, got: {e}"
                ),
            }
        }
    }

    #[test]
    fn ordering_is_by_type_then_numeric() {
        let mut v: Vec<Indicator> = [
            "evil.example",
            "2001:db8::1",
            "10.0.0.0/24",
            "9.0.0.1",
            "10.0.0.2",
        ]
        .iter()
        .map(|s| Indicator::parse(s).unwrap())
        .collect();
        v.sort();
        let s: Vec<String> = v.iter().map(|i| i.to_string()).collect();
        assert_eq!(
            s,
            [
                "9.0.0.1",
                "10.0.0.2",
                "10.0.0.0/24",
                "2001:db8::1",
                "evil.example"
            ]
        );
    }

    #[test]
    fn rejected_values_are_shown_visibly() {
        let e = Indicator::parse("a\u{202E}b.example").unwrap_err();
        assert!(!e.to_string().contains('\u{202E}'));
    }
}
