//! `blocklists/allowlist.yaml`: values that must never be blocked — IPs, networks, and
//! domains (with all their subdomains).
use crate::diag::{Diagnostic, Diagnostics};

use super::indicator::{Indicator, overlaps_v4, overlaps_v6};

/// One allowlist rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowRule {
    pub value: Indicator,
    pub comment: Option<String>,
    pub line: usize,
}

/// The parsed allowlist.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Allowlist {
    pub path: String,
    pub rules: Vec<AllowRule>,
}

impl Allowlist {
    /// Parse; every problem is reported. An empty file, or one without `entries:`, is an
    /// error: an allowlist that protects nothing is written `entries: []` on purpose.
    pub fn parse(text: &str, path: &str) -> Result<Allowlist, Diagnostics> {
        let mut list = Allowlist {
            path: path.into(),
            rules: Vec::new(),
        };
        let (raw, mut diags) = super::parse::slow::read(text, path, super::parse::ALLOW_KEYS);
        let index = super::LineIndex::new(text);
        for r in raw {
            let problems_before = diags.0.len();
            if let Some(c) = &r.comment
                && (c.len() > super::MAX_COMMENT
                    || c.chars().any(|ch| ch.is_control() && ch != '\t'))
            {
                let (l, col) = index.locate(r.line, "comment");
                diags.push(Diagnostic::error(
                    path,
                    l,
                    col,
                    format!(
                        "comment has control characters or is over {} bytes",
                        super::MAX_COMMENT
                    ),
                ));
            }
            match Indicator::parse(&r.value) {
                Ok(value) if diags.0.len() == problems_before => list.rules.push(AllowRule {
                    value,
                    comment: r.comment,
                    line: r.line,
                }),
                Ok(_) => {}
                Err(e) => {
                    let (l, c) = index.locate(r.line, "value");
                    diags.push(Diagnostic::error(path, l, c, e.to_string()));
                }
            }
        }
        if diags.has_errors() {
            Err(diags)
        } else {
            Ok(list)
        }
    }

    /// The first rule that protects `value`: an IP inside an allowlisted network, a network
    /// overlapping one, a domain equal to or under an allowlisted domain.
    pub fn protects(&self, value: &Indicator) -> Option<&AllowRule> {
        self.rules.iter().find(|r| match (&r.value, value) {
            (Indicator::V4(a), Indicator::V4(b)) => overlaps_v4(a, b),
            (Indicator::V6(a), Indicator::V6(b)) => overlaps_v6(a, b),
            (Indicator::Fqdn(a), Indicator::Fqdn(b)) => is_same_or_sub(b, a),
            _ => false,
        })
    }
}

/// `name` equals `domain` or is a subdomain of it.
pub fn is_same_or_sub(name: &str, domain: &str) -> bool {
    name == domain
        || (name.len() > domain.len()
            && name.ends_with(domain)
            && name.as_bytes()[name.len() - domain.len() - 1] == b'.')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_match_networks_and_subdomains() {
        let a = Allowlist::parse(
            "entries:\n- value: 192.0.2.0/28\n  comment: vpn\n- value: 2001:db8:1::/48\n- value: corp.example\n",
            "a.yaml",
        )
        .unwrap();
        let p = |s: &str| a.protects(&Indicator::parse(s).unwrap()).map(|r| r.line);
        assert_eq!(p("192.0.2.5"), Some(2));
        assert_eq!(p("192.0.2.0/24"), Some(2), "overlapping network");
        assert_eq!(p("192.0.2.16"), None);
        assert_eq!(p("2001:db8:1::7"), Some(4));
        assert_eq!(p("mail.corp.example"), Some(5));
        assert_eq!(p("corp.example"), Some(5));
        assert_eq!(p("evilcorp.example"), None);
    }

    #[test]
    fn bad_rules_are_errors_with_lines() {
        let e = Allowlist::parse(
            "entries:\n- value: ok.example\n- value: \"bad value\"\n",
            "a.yaml",
        )
        .unwrap_err();
        assert!(e.to_string().starts_with("a.yaml:3:10: error:"), "{e}");
    }
}
